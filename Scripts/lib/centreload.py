#!/usr/bin/env python3
"""The exporter's benchmark (Scripts/bench-centre): a district's traffic on a real broker,
`vigil-centre exporter` reading it, and its scrape time and memory measured over a run.

  centreload.py --exporter BIN --sites 1600 --cameras 8 --heartbeat-s 60 --minutes 10
                [--sample-s 30] [--out FILE]

Publishes, with paho-mqtt (Debian's python3-paho-mqtt) on a few connections: every site's
retained online status and its config state once, one heartbeat per site at once (so the model
is full from the first scrape), then each site's heartbeat every --heartbeat-s seconds, spread
evenly (1,600 sites every 60 s: 26.7 a second), in the agent's schema with 8 cameras, some of
them with faults. Every --sample-s seconds it times one GET /metrics (curl's time_total, as a
Prometheus scrape would) and reads the exporter's RSS and private dirty memory
(/proc/PID/smaps_rollup). Prints a Markdown table and a summary line; writes them to --out.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testports  # noqa: E402

STATES = [("healthy", None)] * 12 + [("no_power", "power"), ("no_link", "unreachable"),
                                     ("no_video", "auth"), ("no_video", "frozen")]
OWNERS = ["police", "district", "resident"]


def heartbeat(site: str, seq: int, cameras: int, rnd: random.Random, ts_ms: int = 0) -> bytes:
    cams = []
    for c in range(cameras):
        state, fault = rnd.choice(STATES)
        cams.append({"id": "cam%d" % (c + 1), "owner": OWNERS[c % 3], "state": state,
                     "power": "off" if fault == "power" else "on",
                     "link": "down" if fault in ("power", "unreachable") else "up",
                     "relay": "on", "since_s": rnd.randint(0, 86400), "cycles": rnd.randint(0, 3),
                     "snapshot_age_s": None if fault else rnd.randint(0, 300), "fault": fault,
                     "clock_skew_s": 0})
    return json.dumps({
        "site": site, "seq": seq, "boot_id": 7, "uptime_s": seq * 60, "ts": ts_ms or int(time.time() * 1000),
        "clock_synced": True, "version": "0.1.0", "config_version": 3, "cameras": cams,
        "uplink": {"broker": "127.0.0.1:1883", "connects": 1, "last_outage_s": 0},
        "spool": {"count": 0, "bytes": 0, "oldest_ms": None, "dropped": 0},
        "board": {"door": "closed", "mains": "ok" if rnd.random() > 0.02 else "lost"},
        "trust": "signed"}, separators=(",", ":")).encode()


def memory(pid: int) -> tuple:
    rss = dirty = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Private_Dirty:"):
                dirty = int(line.split()[1])
    return rss, dirty


def scrape(port: int) -> tuple:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}",
                          "http://127.0.0.1:%d/metrics" % port], capture_output=True, text=True,
                         timeout=30).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def wait_port(port: int, proc, what: str, seconds: float = 15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s did not listen on %d within %d s" % (what, port, seconds))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--sites", type=int, default=1600)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--heartbeat-s", type=float, default=60)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample-s", type=float, default=30)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vigil-bench-centre-")
    bport, hport = testports.reserve(), testports.reserve()
    with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 100000\n" % bport)
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(bport, broker, "mosquitto")
    exp_log = open(os.path.join(tmp, "exporter.log"), "w")
    exporter = subprocess.Popen([a.exporter, "exporter", "--broker", "127.0.0.1:%d" % bport,
                                 "--listen", "127.0.0.1:%d" % hport], stdout=exp_log,
                                stderr=subprocess.STDOUT)
    try:
        wait_port(hport, exporter, "the exporter")
        time.sleep(1)  # its subscriptions (a retained status sent before them still arrives)
        clients = []
        for i in range(a.connections):
            c = mqtt.Client(client_id="bench-centre-%d" % i, protocol=mqtt.MQTTv311)
            c.max_queued_messages_set(0)
            c.connect("127.0.0.1", bport, keepalive=60)
            c.loop_start()
            clients.append(c)
        rnd = random.Random(17)
        sites = ["tp-%04d" % i for i in range(a.sites)]
        seqs = {s: 1 for s in sites}
        for i, s in enumerate(sites):
            c = clients[i % len(clients)]
            c.publish("vigil/%s/status" % s, json.dumps({"state": "online", "boot_id": 7,
                      "version": "0.1.0", "ts": int(time.time() * 1000)}), qos=1, retain=True)
            c.publish("vigil/%s/config/state" % s, '{"version":3,"status":"applied","error":null}',
                      qos=1, retain=True)
            # Stamped one interval before this site's next one, as if it had come at its time:
            # the exporter learns the interval from the two.
            ts = int((time.time() + 1 + i / (a.sites / a.heartbeat_s) - a.heartbeat_s) * 1000)
            c.publish("vigil/%s/heartbeat" % s, heartbeat(s, 1, a.cameras, rnd, ts), qos=0)
        # Wait until the exporter has every site's first heartbeat.
        deadline = time.time() + 60
        while time.time() < deadline:
            body = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % hport],
                                  capture_output=True, text=True).stdout
            if 'vigil_exporter_messages_total{kind="heartbeat"} %d' % a.sites in body or \
               any(l.startswith('vigil_exporter_messages_total{kind="heartbeat"}') and
                   int(l.split()[-1]) >= a.sites for l in body.splitlines()):
                break
            time.sleep(1)
        else:
            sys.exit("the exporter did not take %d heartbeats within 60 s" % a.sites)
        rate = a.sites / a.heartbeat_s
        rows = []
        start = time.time()
        next_sample = start
        sent = 0
        end = start + a.minutes * 60
        while True:
            now = time.time()
            if now >= next_sample:
                code, secs, size = scrape(hport)
                rss, dirty = memory(exporter.pid)
                rows.append((now - start, code, secs, size, rss, dirty, sent))
                print("t=%5.0f s  scrape %d %.3f s %.1f MB  rss %d KiB  private dirty %d KiB  "
                      "heartbeats sent %d" % (now - start, code, secs, size / 1e6, rss, dirty, sent),
                      flush=True)
                next_sample += a.sample_s
                if now >= end:
                    break
            due = int((time.time() - start) * rate)
            while sent < due:
                s = sites[sent % len(sites)]
                seqs[s] += 1
                clients[sent % len(clients)].publish("vigil/%s/heartbeat" % s,
                                                     heartbeat(s, seqs[s], a.cameras, rnd), qos=0)
                sent += 1
            time.sleep(0.02)
        body = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % hport],
                              capture_output=True, text=True).stdout
        counts = [l for l in body.splitlines() if l.startswith("vigil_exporter_")]
        up = sum(1 for l in body.splitlines() if l.startswith("vigil_site_up{") and l.endswith(" 1"))
        for c in clients:
            c.loop_stop()
            c.disconnect()
    finally:
        exporter.send_signal(signal.SIGTERM)
        try:
            exporter.wait(5)
        except subprocess.TimeoutExpired:
            exporter.kill()
        broker.kill()
        broker.wait()

    scrapes = [r[2] for r in rows]
    first, last = rows[1], rows[-1]  # rows[0] is taken before the steady heartbeats
    lines = [
        "| t (s) | /metrics | scrape (s) | size (MB) | RSS (KiB) | private dirty (KiB) | heartbeats sent |",
        "| ---: | :-: | ---: | ---: | ---: | ---: | ---: |",
    ] + ["| %.0f | %d | %.3f | %.1f | %d | %d | %d |" % (t, c, s, z / 1e6, r, d, n)
         for (t, c, s, z, r, d, n) in rows]
    summary = ("%d sites x %d cameras, a heartbeat each %g s (%.1f/s), %.0f min: scrape max %.3f s "
               "(median %.3f), private dirty %d -> %d KiB (%+d), RSS %d -> %d KiB; %d sites up at "
               "the end; %s" % (a.sites, a.cameras, a.heartbeat_s, rate, a.minutes, max(scrapes),
                                sorted(scrapes)[len(scrapes) // 2], first[5], last[5],
                                last[5] - first[5], first[4], last[4], up, "; ".join(counts)))
    text = "\n".join(lines) + "\n\n" + summary + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if max(scrapes) >= 1.0:
        sys.exit("a scrape took %.3f s, over 1 s" % max(scrapes))


if __name__ == "__main__":
    main()
