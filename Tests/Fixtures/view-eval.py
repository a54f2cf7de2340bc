#!/usr/bin/python3
"""The view watch's evaluation set (issue 14, item 6): sequences of 1920 x 1080 JPEGs made from
real scenes that a Debian package ships, with the damage a roadside camera meets drawn on top.

  /usr/bin/python3 view-eval.py OUT_DIR     writes OUT_DIR/*.jpg and OUT_DIR/manifest.json

A set already in OUT_DIR made by this same source (the manifest's `generator`, a CRC-32 of this
file) is kept as it is; any other is replaced. VigilViewEvalTests and Scripts/bench's `view` row
share ~/.cache/vigil-view-eval (VIGIL_VIEW_EVAL_DIR to choose another); nothing made goes in git.

Sources (package opencv-doc, /usr/share/doc/opencv-doc/examples/data): `vtest.avi`, a fixed
street camera (768 x 576, people walking), and two stills of outdoor views, `building.jpg`
(868 x 600) and `leuvenA.jpg` (751 x 563, a cobbled street). Each is cropped to 16:9 and scaled
up to 1080p with Lanczos and a light unsharp mask (a 1080p camera is sharper than a 768-wide
source scaled up: without it every edge is already 2.5 px soft). Needs python3-opencv and
python3-numpy (Debian's; the pyenv python on PATH has no cv2, hence /usr/bin/python3).

Every sequence starts with 6 clean frames (the reference is learnt from 5 consistent ones),
then frames that vary as a working camera's do: the street's people walking (vtest frames in
time order) or a passing car on the stills, gain and exposure, gamma, JPEG quality 30-95,
sensor noise, headlight-like bright blobs. A damage sequence then has 4 such frames and 8
damaged ones, on top of the same variation: foliage grown in from an edge (leaves, not a
rectangle), a bag over the camera, a board hung in front, spray paint, a Gaussian blur (the
lens out of focus or misted), a shift by warpAffine (a knocked camera; the edge the scene left
is filled by replication). Night is a grey (IR, chroma 0), darker and noisier variant with its
own reference. manifest.json lists each sequence: name, scene, mode, kind (normal, obstructed,
blurred, moved), severity (coverage fraction, measured from the drawn mask; blur sigma in
1080p px; shift as a fraction of the width), frames in order, `damage_from` (the first damaged
frame's index), `due_from` (the first frame whose damage is as large as the severity: later
than damage_from only for the growing foliage) and `required` (whether issue 14's Done-when
asks for a detection: cover >= 0.40, sigma >= 3, shift >= 0.05). Frames are shared: damage
sequences reuse their scene's learning frames and first normal frames (the files are listed
again, not copied). Deterministic: every random draw is seeded from the sequence's name and
the frame's index. About 330 frames; one process, OpenCV on one thread (it runs beside the
timing-sensitive tests of Scripts/test).
"""
import json
import os
import sys
import zlib

import cv2
import numpy as np

DATA = "/usr/share/doc/opencv-doc/examples/data"
W, H = 1920, 1080
LEARN, NORMAL, LEAD, DAMAGED = 6, 24, 4, 8
VERSION = 1

cv2.setNumThreads(1)


def rng_for(*key):
    return np.random.default_rng(zlib.crc32("/".join(str(k) for k in key).encode()))


def upscale(img):
    """Crop to 16:9 (keeping the lower part, where the street is), Lanczos to 1080p, sharpen."""
    h, w = img.shape[:2]
    ch = w * 9 // 16
    y0 = max(0, min(h - ch, (h - ch) * 2 // 3))
    img = cv2.resize(img[y0:y0 + ch], (W, H), interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
    soft = cv2.GaussianBlur(img, (0, 0), 2.0)
    return np.clip(img + 0.6 * (img - soft), 0, 255)


class Scene:
    """A fixed camera's view at time t (one snapshot a turn)."""

    def __init__(self, name):
        self.name = name
        if name == "street":
            cap = cv2.VideoCapture(os.path.join(DATA, "vtest.avi"))
            self.video = []
            while len(self.video) < 200:  # the set uses the first 20 s (a frame is 1.3 MB)
                ok, f = cap.read()
                if not ok:
                    break
                self.video.append(f)
            if len(self.video) < 100:
                sys.exit(f"view-eval.py: {DATA}/vtest.avi gave {len(self.video)} frames "
                         "(is opencv-doc installed?)")
            self.still = None
        else:
            path = os.path.join(DATA, {"building": "building.jpg", "leuven": "leuvenA.jpg"}[name])
            img = cv2.imread(path)
            if img is None:
                sys.exit(f"view-eval.py: cannot read {path} (is opencv-doc installed?)")
            self.still = upscale(img)
        self.cache = {}

    def at(self, t):
        """The scene at turn t: vtest every 7th frame (0.7 s apart), learning ones 2 apart."""
        if self.still is not None:
            img = self.still.copy()
            if t >= LEARN:  # traffic: a car across the lower part, somewhere along the road
                car(img, rng_for(self.name, "car", t))
            return img
        i = 2 * t if t < LEARN else 2 * LEARN + 7 * (t - LEARN)
        i %= len(self.video)
        if i not in self.cache:
            self.cache[i] = upscale(self.video[i])
        return self.cache[i].copy()


def car(img, rng):
    if rng.random() < 0.3:
        return
    w = int(W * rng.uniform(0.10, 0.16))
    h = int(w * 0.42)
    x = int(rng.uniform(-0.2 * w, W - 0.8 * w))
    y = int(H * rng.uniform(0.72, 0.80))
    body = tuple(float(v) for v in rng.uniform(30, 200, 3))
    cv2.rectangle(img, (x, y), (x + w, y + h), body, -1)
    cv2.rectangle(img, (x + w // 6, y - h // 2), (x + 5 * w // 6, y), body, -1)
    cv2.rectangle(img, (x + w // 5, y - h // 2 + 6), (x + 4 * w // 5, y - 4), (40, 40, 45), -1)
    for cx in (x + w // 5, x + 4 * w // 5):
        cv2.circle(img, (cx, y + h), h // 3, (20, 20, 20), -1)


def headlights(img, rng, night):
    """Bright blobs with a halo, as headlights or a low sun's glint give."""
    if rng.random() > (0.5 if night else 0.25):
        return
    for _ in range(int(rng.integers(1, 3))):
        r = rng.uniform(20, 70)
        cx, cy = rng.uniform(0, W), rng.uniform(0.45 * H, H)
        x0, x1 = int(max(0, cx - 4 * r)), int(min(W, cx + 4 * r))
        y0, y1 = int(max(0, cy - 4 * r)), int(min(H, cy + 4 * r))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r)
        glow = 255 * (np.exp(-d2 * 2) + 0.35 * np.exp(-d2 / 4)) * rng.uniform(0.7, 1.0)
        img[y0:y1, x0:x1] += glow[..., None]


NOISE = None


def noise_field():
    global NOISE
    if NOISE is None:
        NOISE = np.random.default_rng(11).standard_normal((H + 64, W + 64)).astype(np.float32)
    return NOISE


def expose(img, rng, night, gentle):
    """Gain, offset, gamma and sensor noise, then the camera's JPEG at some quality."""
    if gentle:
        gain, offset, gamma, sigma, quality = rng.uniform(0.96, 1.04), 0, 1.0, 2.0, 85
    elif night:
        gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-6, 6)
        gamma, sigma, quality = rng.uniform(0.8, 1.25), rng.uniform(4, 9), int(rng.integers(30, 96))
    else:
        gain, offset = rng.uniform(0.65, 1.35), rng.uniform(-12, 12)
        gamma, sigma, quality = rng.uniform(0.75, 1.3), rng.uniform(0, 6), int(rng.integers(30, 96))
    out = 255 * np.power(np.clip(img, 0, 255) / 255, gamma) * gain + offset
    n = noise_field()
    ox, oy = int(rng.integers(0, 64)), int(rng.integers(0, 64))
    out += sigma * n[oy:oy + H, ox:ox + W][..., None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        sys.exit("view-eval.py: JPEG encoding failed")
    return jpg.tobytes()


def to_night(img):
    """The IR picture: grey, darker, a flatter tone curve; three equal channels (chroma 0)."""
    g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
    g = 255 * np.power(g / 255, 1.3) * 0.55 + 6
    return np.repeat(g[..., None], 3, axis=2)


# ---- damage -----------------------------------------------------------------------------------

class Foliage:
    """A branch grown in from an edge: a region bounded by a wavy line, filled with leaves."""

    def __init__(self, rng, edge, night, most):
        yy, xx = np.mgrid[0:H // 4, 0:W // 4].astype(np.float32)
        d = {"left": xx / (W / 4), "right": 1 - xx / (W / 4), "top": yy / (H / 4),
             "bottom": 1 - yy / (H / 4)}[edge]
        wave = cv2.resize(rng.standard_normal((5, 8)).astype(np.float32), (W // 4, H // 4),
                          interpolation=cv2.INTER_CUBIC)
        self.field = d + 0.12 * wave
        self.night = night
        thr = np.quantile(self.field, most)
        ys, xs = np.nonzero(self.field < thr + 0.03)
        n = int(len(ys) * 16 / 900 * 2.2)  # leaves of ~900 px² cover the region about twice
        pick = rng.integers(0, len(ys), n)
        self.leaves = []
        for k in pick:
            a = rng.uniform(16, 40)
            self.leaves.append((xs[k] * 4 + rng.uniform(0, 4), ys[k] * 4 + rng.uniform(0, 4),
                                a, a * rng.uniform(0.35, 0.5), rng.uniform(0, 180),
                                self.field[ys[k], xs[k]],
                                rng.uniform(120, 230) if night else rng.uniform(0.4, 1.0)))

    def draw(self, img, rng, cover):
        thr = np.quantile(self.field, cover)
        region = cv2.resize((self.field < thr).astype(np.float32), (W, H),
                            interpolation=cv2.INTER_LINEAR)
        layer = np.zeros((H, W, 3), np.float32)
        layer[:] = (60, 60, 60) if self.night else (12, 35, 18)  # the shade between leaves
        mask = (region > 0.5).astype(np.uint8)
        for x, y, a, b, ang, f, tone in self.leaves:
            if f >= thr:
                continue
            x += rng.uniform(-5, 5)  # the branch sways
            y += rng.uniform(-5, 5)
            c = (tone, tone, tone) if self.night else (30 * tone, 150 * tone, 60 * tone)
            centre, axes = (int(x), int(y)), (int(a), int(b))
            cv2.ellipse(layer, centre, axes, ang, 0, 360, c, -1)
            cv2.ellipse(mask, centre, axes, ang, 0, 360, 1, -1)
            rib = tuple(min(255.0, v * 1.3 + 15) for v in c)
            r = np.deg2rad(ang)
            dx, dy = a * np.cos(r), a * np.sin(r)
            cv2.line(layer, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), rib, 2)
        m = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)[..., None]
        layer = cv2.GaussianBlur(layer, (0, 0), 1.5)  # near the lens: a little out of focus
        img[:] = img * (1 - m) + layer * m
        return float(mask.mean())


def bag(img, rng):
    """A plastic bag over the camera: the light through it, wrinkled, no picture left."""
    small = cv2.resize(img, (W // 8, H // 8), interpolation=cv2.INTER_AREA)
    glow = cv2.resize(cv2.GaussianBlur(small, (0, 0), 12), (W, H), interpolation=cv2.INTER_CUBIC)
    wr = cv2.resize(rng.standard_normal((9, 16)).astype(np.float32), (W, H),
                    interpolation=cv2.INTER_CUBIC)
    img[:] = 0.3 * glow + 70 + 25 * wr[..., None]
    return 1.0


def board(img, rng):
    """A board hung in front of the lower part of the lens: flat, a shading gradient, a crisp
    top edge (the lens sees it out of focus, so its grain is gone)."""
    top = int(H * rng.uniform(0.38, 0.42))
    yy = np.linspace(0, 1, H - top, dtype=np.float32)[:, None, None]
    colour = np.array(rng.uniform(60, 160, 3), np.float32)
    img[top:] = colour * (0.8 + 0.3 * yy)
    return (H - top) / H


def spray(img, rng, night):
    """Spray paint on the dome: soft-edged blotches and their speckle."""
    mask = np.zeros((H // 4, W // 4), np.float32)
    while mask.mean() < 0.55:
        c = (int(rng.uniform(0.15, 0.85) * W / 4), int(rng.uniform(0.15, 0.85) * H / 4))
        cv2.ellipse(mask, c, (int(rng.uniform(40, 110)), int(rng.uniform(30, 80))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
    speck = (rng.random((H // 4, W // 4)) < 0.04).astype(np.float32)
    mask = np.maximum(mask, cv2.dilate(mask, np.ones((15, 15), np.uint8)) * speck)
    mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), 3), (W, H), interpolation=cv2.INTER_LINEAR)
    paint = np.array((90, 90, 90) if night else (30, 20, 160), np.float32)
    m = np.clip(mask * 1.1, 0, 1)[..., None]
    img[:] = img * (1 - 0.95 * m) + paint * 0.95 * m
    return float((mask > 0.5).mean())


def shifted(img, fraction, vertical):
    dx, dy = fraction * W, (0.5 * fraction * W if vertical else 0)
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# ---- the set ----------------------------------------------------------------------------------

DAMAGES = [
    # scene, mode, kind, what, severity (target), extra
    ("street", "day", "obstructed", "foliage", 0.20, "left"),
    ("street", "day", "obstructed", "foliage", 0.40, "top"),
    ("street", "day", "obstructed", "foliage", 0.60, "right"),
    ("street", "day", "obstructed", "foliage", 0.80, "bottom"),
    ("street", "day", "obstructed", "foliage-growing", 0.40, "left"),
    ("street", "day", "obstructed", "bag", 1.0, None),
    ("street", "day", "obstructed", "board", 0.60, None),
    ("street", "day", "obstructed", "spray", 0.55, None),
    ("street", "day", "blurred", "blur", 1.5, None),
    ("street", "day", "blurred", "blur", 3.0, None),
    ("street", "day", "blurred", "blur", 5.0, None),
    ("street", "day", "moved", "shift", 0.02, False),
    ("street", "day", "moved", "shift", 0.05, False),
    ("street", "day", "moved", "shift", 0.07, True),
    ("building", "day", "obstructed", "foliage", 0.50, "right"),
    ("building", "day", "obstructed", "spray", 0.55, None),
    ("building", "day", "blurred", "blur", 3.0, None),
    ("building", "day", "moved", "shift", 0.05, False),
    ("leuven", "day", "obstructed", "foliage", 0.40, "left"),
    ("leuven", "day", "obstructed", "bag", 1.0, None),
    ("leuven", "day", "blurred", "blur", 3.0, None),
    ("leuven", "day", "moved", "shift", 0.05, True),
    ("street", "night", "obstructed", "foliage", 0.60, "top"),
    ("street", "night", "blurred", "blur", 3.0, None),
    ("street", "night", "moved", "shift", 0.05, False),
]
NORMALS = [("street", "day"), ("building", "day"), ("leuven", "day"), ("street", "night"),
           ("building", "night")]


def required(kind, severity):
    return {"obstructed": severity >= 0.40, "blurred": severity >= 3.0,
            "moved": severity >= 0.05}[kind]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: view-eval.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.abspath(__file__), "rb") as f:
        generator = f"{zlib.crc32(f.read()):08x}"
    mpath = os.path.join(out, "manifest.json")
    if os.path.exists(mpath):  # made before: kept if by this very generator, else replaced
        try:
            with open(mpath) as f:
                old = json.load(f)
            files = {fr for s in old.get("sequences", []) for fr in s.get("frames", [])}
        except (OSError, ValueError, AttributeError):
            old, files = {}, set()
        if old.get("generator") == generator and all(
                os.path.exists(os.path.join(out, fr)) for fr in files):
            print(f"view-eval.py: {out} is up to date ({len(files)} frames)", file=sys.stderr)
            return
        os.remove(mpath)
        for fr in files:
            if fr.endswith(".jpg") and "/" not in fr and os.path.exists(os.path.join(out, fr)):
                os.remove(os.path.join(out, fr))
    scenes = {}
    sequences = []

    def scene(name):
        if name not in scenes:
            scenes[name] = Scene(name)
        return scenes[name]

    def frame(sc, mode, t, seq, k, damage=None):
        """Frame file `seq`-k: the scene at turn t, damaged by `damage(img, rng)`, exposed."""
        rng = rng_for(seq, k)
        img = sc.at(t)
        night = mode == "night"
        if night:
            img = to_night(img)
        gentle = t < LEARN
        if not gentle:
            headlights(img, rng, night)
        sev = damage(img, rng) if damage else None
        if isinstance(sev, np.ndarray):
            img, sev = sev, None
        name = f"{seq}-{k:03d}.jpg"
        with open(os.path.join(out, name), "wb") as f:
            f.write(expose(img, rng, night, gentle))
        return name, sev

    prefix = {}
    for sc_name, mode in NORMALS:
        seq = f"{sc_name}-{mode}-normal"
        sc = scene(sc_name)
        files = [frame(sc, mode, t, seq, t)[0] for t in range(LEARN + NORMAL)]
        prefix[(sc_name, mode)] = files[:LEARN + LEAD]
        sequences.append({"name": seq, "scene": sc_name, "mode": mode, "kind": "normal",
                          "severity": None, "frames": files, "learn": LEARN,
                          "damage_from": None, "due_from": None, "required": False})
    for sc_name, mode, kind, what, target, extra in DAMAGES:
        night = mode == "night"
        tag = f"{target:g}".replace(".", "")
        side = f"-{extra}" if isinstance(extra, str) else ("-diagonal" if extra else "")
        seq = f"{sc_name}-{mode}-{what}{side}-{tag}"
        sc = scene(sc_name)
        if (sc_name, mode) not in prefix:
            files = [frame(sc, mode, t, seq, t)[0] for t in range(LEARN + LEAD)]
            prefix[(sc_name, mode)] = files
        files = list(prefix[(sc_name, mode)])
        start = len(files)
        rng0 = rng_for(seq, "damage")
        leaves = None
        if what.startswith("foliage"):
            leaves = Foliage(rng0, extra, night, 0.8 if what == "foliage-growing" else target)
        severities = []
        for j in range(DAMAGED):
            t = LEARN + LEAD + j
            if what == "foliage":
                dmg = lambda img, rng: leaves.draw(img, rng, target)  # noqa: E731
            elif what == "foliage-growing":
                cover = min(0.8, 0.1 * (j + 1))
                dmg = lambda img, rng, c=cover: leaves.draw(img, rng, c)  # noqa: E731
            elif what == "bag":
                dmg = bag
            elif what == "board":
                dmg = board
            elif what == "spray":
                dmg = lambda img, rng: spray(img, rng, night)  # noqa: E731
            elif what == "blur":
                dmg = lambda img, rng: cv2.GaussianBlur(img, (0, 0), target)  # noqa: E731
            else:
                dmg = lambda img, rng: shifted(img, target, extra)  # noqa: E731
            name, sev = frame(sc, mode, t, seq, t, dmg)
            files.append(name)
            severities.append(target if sev is None else sev)
        due = start
        if what == "foliage-growing":
            due = start + next(j for j, s in enumerate(severities) if s >= target)
            severity = severities[due - start]
        elif kind == "obstructed":
            severity = min(severities)  # measured from the drawn mask, the least of the frames
        else:
            severity = target
        severity = round(severity, 3)
        sequences.append({"name": seq, "scene": sc_name, "mode": mode, "kind": kind,
                          "damage": what, "severity": severity, "frames": files,
                          "learn": LEARN, "damage_from": start, "due_from": due,
                          "required": required(kind, severity)})
    manifest = {"version": VERSION, "generator": generator, "width": W, "height": H,
                "source": "opencv-doc examples/data: vtest.avi, building.jpg, leuvenA.jpg",
                "severity_units": {"obstructed": "fraction of the frame covered",
                                   "blurred": "Gaussian sigma, 1080p px",
                                   "moved": "fraction of the width"},
                "sequences": sequences}
    with open(os.path.join(out, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))
    n = len({f for s in sequences for f in s["frames"]})
    print(f"view-eval.py: {len(sequences)} sequences, {n} frames in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
