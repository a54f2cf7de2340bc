/// The district page, served by `vigil-centre exporter` at `/`: plain HTML, CSS and a little
/// JavaScript kept here as text and served from the binary (no build step, nothing fetched
/// from elsewhere). The script polls `/api/state` every 3 s and draws the work lists and every
/// ward, site and camera, coloured by state; a camera clicked shows its last snapshot. Text
/// from the wire is set with `textContent` only, never as HTML.
enum DistrictPage {
  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Vigil: the district</title>
    <link rel="stylesheet" href="/page.css">
    </head>
    <body>
    <header>
      <h1>Vigil: the district</h1>
      <p id="totals">loading…</p>
    </header>
    <section id="work">
      <div class="list" id="work-power"><h2>Power company</h2>
        <p class="hint">cameras without power, sites whose mains are lost</p><ul></ul></div>
      <div class="list" id="work-network"><h2>Network</h2>
        <p class="hint">sites not up, cameras that do not answer</p><ul></ul></div>
      <div class="list" id="work-tree"><h2>Tree crews</h2>
        <p class="hint">views obstructed, with the snapshot that showed it</p><ul></ul></div>
      <div class="list" id="work-installers"><h2>Installers</h2>
        <p class="hint">logins refused, no picture at the URL</p><ul></ul></div>
    </section>
    <aside id="viewer" hidden>
      <button id="viewer-close" type="button" aria-label="close">×</button>
      <h2 id="viewer-title"></h2>
      <p id="viewer-detail"></p>
      <img id="viewer-img" alt="last snapshot">
      <p id="viewer-none" hidden>No snapshot of this camera has reached the centre.</p>
    </aside>
    <main id="wards"></main>
    <footer>Colours: <span class="key ok">healthy</span> <span class="key dark">fault</span>
      <span class="key power">no power</span> <span class="key unknown">unknown</span>
      <span class="key down">site not up</span>. Refreshed every 3 s from
      <a href="/api/state">/api/state</a>; metrics at <a href="/metrics">/metrics</a>.</footer>
    <script src="/page.js"></script>
    </body>
    </html>
    """#

  static let css = #"""
    body { font: 14px/1.35 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #f4f4f1; }
    header, footer { padding: 8px 16px; background: #20303c; color: #fff; }
    footer { background: #e4e4de; color: #333; margin-top: 16px; }
    h1 { font-size: 20px; margin: 0; }
    h2 { font-size: 16px; margin: 4px 0; }
    #totals { margin: 2px 0 0; }
    #work { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; padding: 8px 16px; }
    .list { background: #fff; border: 1px solid #ccc; border-radius: 4px; padding: 6px 8px; }
    .list ul { margin: 0; padding-left: 18px; max-height: 220px; overflow: auto; }
    .list li { cursor: pointer; margin: 2px 0; }
    .list li.none { color: #777; cursor: default; list-style: none; margin-left: -18px; }
    .hint { margin: 0 0 4px; color: #666; font-size: 12px; }
    #wards { padding: 0 16px; }
    .ward { margin: 12px 0; border-left: 8px solid #3a8d3a; padding-left: 8px; }
    .ward.bad { border-color: #c0392b; }
    .ward.down { border-color: #444; }
    .sites { display: flex; flex-wrap: wrap; gap: 8px; }
    .site { background: #fff; border: 2px solid #3a8d3a; border-radius: 4px; padding: 4px 6px;
            min-width: 160px; }
    .site.bad { border-color: #c0392b; }
    .site.down { border-color: #444; background: #d6d6d6; }
    .site h3 { font-size: 14px; margin: 0; }
    .site .meta { font-size: 12px; color: #555; }
    .cams { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 4px; }
    .cam { border: 0; border-radius: 3px; padding: 3px 6px; font: inherit; font-size: 12px;
           cursor: pointer; color: #fff; text-align: left; }
    .cam small { display: block; font-size: 11px; opacity: .9; }
    .ok { background: #3a8d3a; color: #fff; }
    .dark { background: #c0392b; color: #fff; }
    .power { background: #d35400; color: #fff; }
    .unknown { background: #888; color: #fff; }
    .down { background: #444; color: #fff; }
    .key { padding: 0 4px; border-radius: 3px; }
    #viewer { position: fixed; right: 16px; top: 16px; width: 380px; background: #fff;
              border: 2px solid #20303c; border-radius: 6px; padding: 8px; z-index: 2;
              box-shadow: 0 4px 16px rgba(0,0,0,.3); }
    #viewer-img { width: 100%; min-height: 120px; image-rendering: pixelated; background: #222; }
    #viewer-close { float: right; font-size: 18px; border: 0; background: none; cursor: pointer; }
    """#

  static let js = #"""
    "use strict";
    const $ = (id) => document.getElementById(id);
    let shown = null;  // the camera in the viewer: {site, camera}
    let captured = {};  // "site/camera" -> the capture time of its last snapshot (Unix ms)
    const faultWords = {power: "no power", unreachable: "unreachable", auth: "login refused",
      stream_down: "stream down", timeout: "timed out", no_media: "no media", frozen: "frozen",
      bad_image: "no picture at its URL"};

    function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

    function duration(s) {
      if (s === null || s === undefined) return "";
      s = Math.round(s);
      if (s < 120) return s + " s";
      if (s < 7200) return Math.round(s / 60) + " min";
      if (s < 172800) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
      return Math.round(s / 86400) + " d";
    }

    function el(tag, cls, text) {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }

    function snapshotURL(site, camera) {
      return "/snapshot/" + encodeURIComponent(site) + "/" + encodeURIComponent(camera);
    }

    function cameraClass(site, c) {
      if (!site.up) return "down";
      if (c.fault === "power") return "power";
      if (c.fault) return "dark";
      if (c.state === "healthy") return "ok";
      return "unknown";
    }

    function show(site, camera, detail) {
      shown = {site: site, camera: camera};
      $("viewer").hidden = false;
      $("viewer-title").textContent = site + " / " + camera;
      const ms = captured[site + "/" + camera];
      $("viewer-detail").textContent = (detail || "")
        + (ms ? "; snapshot taken " + new Date(ms).toLocaleString() : "");
      const img = $("viewer-img");
      img.hidden = false;
      $("viewer-none").hidden = true;
      img.onerror = () => { img.hidden = true; $("viewer-none").hidden = false; };
      img.src = snapshotURL(site, camera) + "?t=" + Date.now();
    }

    function drawList(name, jobs) {
      const ul = document.querySelector("#work-" + name + " ul");
      ul.replaceChildren();
      if (jobs.length === 0) ul.append(el("li", "none", "nothing to do"));
      for (const j of jobs) {
        const li = el("li", "job");
        li.dataset.site = j.site;
        if (j.camera) li.dataset.camera = j.camera;
        let text = j.site + (j.camera ? " / " + j.camera : "") + ": " + j.problem;
        if (j.for_s !== null) text += " for " + duration(j.for_s);
        if (j.ward) text += " (" + j.ward + ")";
        li.append(el("span", "", text));
        if (j.camera && j.snapshot) {
          li.append(" ");
          const a = el("a", "snap", "snapshot");
          a.href = snapshotURL(j.site, j.camera);
          a.addEventListener("click", (ev) => {
            ev.preventDefault();
            ev.stopPropagation();
            show(j.site, j.camera, text);
          });
          li.append(a);
        }
        if (j.camera) li.addEventListener("click", () => show(j.site, j.camera, text));
        ul.append(li);
      }
    }

    function draw(state) {
      const t = state.totals;
      captured = {};
      for (const w of state.wards) for (const s of w.sites) for (const c of s.cameras) {
        if (c.snapshot_ms !== null) captured[s.id + "/" + c.id] = c.snapshot_ms;
      }
      $("totals").textContent = t.sites + " sites, " + t.up + " up; " + t.cameras + " cameras, "
        + t.dark + " dark; updated " + new Date().toLocaleTimeString();
      for (const name of ["power", "network", "tree", "installers"]) {
        drawList(name, state.work[name]);
      }
      const main = $("wards");
      main.replaceChildren();
      for (const w of state.wards) {
        const sec = el("section", "ward");
        const downSites = w.sites.filter((s) => !s.up).length;
        const darkCams = w.sites.reduce((n, s) => n + s.cameras.filter((c) => c.dark).length, 0);
        if (downSites > 0) sec.classList.add("down");
        else if (darkCams > 0) sec.classList.add("bad");
        sec.dataset.ward = w.ward;
        sec.append(el("h2", "", (w.ward || "(no ward in the inventory)") + ": "
          + plural(w.sites.length, "site") + ", " + downSites + " not up, "
          + plural(darkCams, "camera") + " dark"));
        const sites = el("div", "sites");
        for (const s of w.sites) {
          const card = el("div", "site");
          card.dataset.site = s.id;
          if (!s.up) card.classList.add("down");
          else if (s.cameras.some((c) => c.dark) || s.mains === "lost") card.classList.add("bad");
          card.append(el("h3", "", s.id));
          let meta = s.address ? s.address + ". " : "";
          meta += s.up ? "up" : (s.status === "offline" ? "offline" : "not up");
          if (s.heartbeat_age_s !== null && !s.up) {
            meta += ", silent for " + duration(s.heartbeat_age_s);
          }
          if (s.heartbeat_age_s === null) meta += ", no heartbeat yet";
          if (s.mains === "lost") meta += "; mains lost";
          if (s.door === "open") meta += "; door open";
          if (s.console) meta += "; technician at the console";
          card.append(el("div", "meta", meta));
          const cams = el("div", "cams");
          for (const c of s.cameras) {
            const b = el("button", "cam " + cameraClass(s, c));
            b.type = "button";
            b.dataset.site = s.id;
            b.dataset.camera = c.id;
            b.append(c.id);
            let detail = c.fault ? (faultWords[c.fault] || c.fault) : c.state.replace("_", " ");
            if (c.since_s !== null) detail += " for " + duration(c.since_s);
            if (c.view !== "unscored" && c.view !== "clear") detail += "; view " + c.view;
            b.append(el("small", "", detail));
            b.title = (c.owner ? c.owner + " camera; " : "") + detail;
            b.addEventListener("click", () => show(s.id, c.id, detail));
            cams.append(b);
          }
          card.append(cams);
          sites.append(card);
        }
        sec.append(sites);
        main.append(sec);
      }
    }

    async function refresh() {
      try {
        const r = await fetch("/api/state", {cache: "no-store"});
        if (r.ok) draw(await r.json());
        else $("totals").textContent = "the exporter answered " + r.status;
      } catch (e) {
        $("totals").textContent = "cannot reach the exporter: " + e;
      }
    }

    $("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; shown = null; });
    refresh();
    setInterval(refresh, 3000);
    """#
}
