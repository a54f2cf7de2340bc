"""Street scenes for the fake camera's view-watch tests, encoded as real JPEGs by GStreamer's
jpegenc (libjpeg), as a camera's encoder would: a sky, buildings with windows, poles, a road
with lane marks and texture, in colour by day (chroma) and grey by night (IR). Variants are
what a view watch must tell apart: noise and gain changes and a passing car (still clear), a
branch over part of the lens, a cover, a blur (a lens misted or knocked out of focus), and the
view shifted (a knocked camera).

  python3 scenes.py NAME OUT.jpg     writes one (for a look by hand)
"""
import random
import sys

import os  # noqa: E402

# 640 x 360 by default (a substream's size, quick to make in Python); VIGIL_SCENE_SIZE=1920x1080
# for a main stream's, as the memory measurement uses.
W, H = (int(v) for v in os.environ.get("VIGIL_SCENE_SIZE", "640x360").split("x"))

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)


def base_luma(seed=7):
    rnd = random.Random(seed)
    y = bytearray(W * H)
    for j in range(H):
        row = j * W
        for i in range(W):
            if j < H // 3:
                v = 170 + j // 6  # sky, brighter downwards
            elif j < 2 * H // 3:
                v = 90
            else:
                v = 60 + ((i * 7 + j * 3) % 23)  # asphalt texture
            y[row + i] = v
    # Buildings: blocks of different tones with window grids.
    x = 0
    while x < W:
        bw = rnd.randint(50, 110)
        top = rnd.randint(H // 6, H // 2 - 20)
        tone = rnd.randint(70, 150)
        for j in range(top, 2 * H // 3):
            row = j * W
            for i in range(x, min(W, x + bw)):
                y[row + i] = tone
        for wy in range(top + 8, 2 * H // 3 - 10, 18):
            for wx in range(x + 6, min(W, x + bw) - 10, 16):
                lit = 220 if rnd.random() < 0.3 else 40
                for j in range(wy, wy + 9):
                    row = j * W
                    for i in range(wx, wx + 8):
                        y[row + i] = lit
        x += bw + rnd.randint(4, 20)
    # Poles and a wire.
    for px in (120, 333, 560):
        for j in range(H // 5, H - 20):
            for i in range(px, px + 5):
                y[j * W + i] = 30
    # Lane marks.
    for lx in range(0, W, 80):
        for j in range(5 * H // 6, 5 * H // 6 + 6):
            for i in range(lx, lx + 40):
                y[j * W + i] = 235
    return y


def box_blur(y, r):
    out = bytearray(len(y))
    tmp = bytearray(len(y))
    n = 2 * r + 1
    for j in range(H):
        row = j * W
        s = sum(y[row + min(max(k, 0), W - 1)] for k in range(-r, r + 1))
        for i in range(W):
            tmp[row + i] = s // n
            s += y[row + min(i + r + 1, W - 1)] - y[row + max(i - r, 0)]
    for i in range(W):
        s = sum(tmp[min(max(k, 0), H - 1) * W + i] for k in range(-r, r + 1))
        for j in range(H):
            out[j * W + i] = s // n
            s += tmp[min(j + r + 1, H - 1) * W + i] - tmp[max(j - r, 0) * W + i]
    return out


def branch_mask():
    """Where the leaves hang: the left half of the picture, down to the road, about 45 % of the
    frame (most of it over buildings); the same shape every frame."""
    rnd = random.Random(11)
    m = bytearray(BASE)
    for (cx, cy, r) in [(rnd.randint(0, 3 * W // 5), rnd.randint(0, 3 * H // 4), rnd.randint(45, 95))
                        for _ in range(16)]:
        for j in range(max(0, cy - r), min(H, cy + r)):
            row = j * W
            for i in range(max(0, cx - r), min(W, cx + r)):
                if (i - cx) ** 2 + (j - cy) ** 2 < r * r:
                    m[row + i] = 25 + ((i * 13 + j * 7) % 17)  # dark, textured leaves
    return bytes(m)


def variant(name, frame):
    """Luma and whether it is a colour picture, for scene NAME and frame number FRAME. Only
    C-speed byte operations per frame (translate, slicing, a big-integer XOR): the tests run
    beside timing-sensitive ones, and a pure-Python loop over every pixel of every frame took
    a second of CPU each."""
    rnd = random.Random(frame * 7919 + sum(name.encode()))
    colour = name != "night"
    if name == "shift":
        s = 48
        rows = []
        for j in range(H):
            row = BASE[j * W:(j + 1) * W]
            rows.append(bytes([row[0]]) * s + row[:W - s])
        y = b"".join(rows)
    elif name == "blur":
        y = BLURRED
    elif name == "branch":
        y = BRANCH
    elif name == "cover":
        y = bytes([35]) * (W * H)
    elif name == "car":
        x0 = 200 + frame % 5 * 10
        rows = []
        for j in range(H):
            row = BASE[j * W:(j + 1) * W]
            if 2 * H // 3 + 10 <= j < 2 * H // 3 + 70:
                row = row[:x0] + bytes([200]) * 150 + row[x0 + 150:]
            rows.append(row)
        y = b"".join(rows)
    else:
        y = BASE
    # Every frame: the exposure wandering a little (a lookup table), and sensor noise (the low
    # two bits flipped at random).
    gain = 0.92 + 0.16 * rnd.random()
    off = rnd.randint(-8, 8)
    if name == "night":
        gain, off = 0.7, 20
    table = bytes(min(255, max(0, int(v * gain) + off)) for v in range(256))
    y = bytes(y).translate(table)
    noise = int.from_bytes(rnd.randbytes(len(y)), "little") & int.from_bytes(bytes([3]) * len(y), "little")
    y = (int.from_bytes(y, "little") ^ noise).to_bytes(len(y), "little")
    return y, colour


def encode(y, colour):
    """I420 frame to JPEG with jpegenc (quality 80)."""
    cw, ch = W // 2, H // 2
    if colour:
        u = bytearray(cw * ch)
        v = bytearray(cw * ch)
        for j in range(ch):
            for i in range(cw):
                sky = j < ch // 3
                u[j * cw + i] = 150 if sky else 120
                v[j * cw + i] = 110 if sky else 140
    else:
        u = bytes([128]) * (cw * ch)
        v = u
    data = bytes(y) + bytes(u) + bytes(v)
    pipe = Gst.parse_launch(
        f"appsrc name=src caps=video/x-raw,format=I420,width={W},height={H},framerate=1/1 "
        "! jpegenc quality=80 ! appsink name=sink sync=false")
    src = pipe.get_by_name("src")
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
    src.emit("end-of-stream")
    sample = sink.emit("pull-sample")
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    out = bytes(info.data)
    buf.unmap(info)
    pipe.set_state(Gst.State.NULL)
    return out


BASE = bytes(base_luma())
BLURRED = bytes(box_blur(BASE, 16))
BRANCH = branch_mask()
_cache = {}


def jpeg_for(name, frame):
    """A JPEG of scene NAME; frames differ (noise, gain), 8 kept per scene."""
    key = (name, frame % 8)
    if key not in _cache:
        _cache[key] = encode(*variant(name, frame % 8))
    return _cache[key]


if __name__ == "__main__":
    open(sys.argv[2], "wb").write(jpeg_for(sys.argv[1], 0))
