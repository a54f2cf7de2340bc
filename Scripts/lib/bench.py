#!/usr/bin/env python3
"""Vigil's benchmarks (Scripts/bench runs this): each row measured against a baseline in the same
run, on the same machine, and written to BENCHMARKS.md with the machine and the command.

Rows now: binary size, cold start to the retained online status, idle memory and CPU with 8
cameras, and a fleet's reconnect storm after a broker restart. Rows that need the camera, spool
and GPIO features (edge latency, spool replay, memory during an outage) are listed as pending.
Host-only tool: ordinary Python. Every process it starts is ended by its own pid.
"""
import argparse
import os
import platform
import re
import resource
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
started = []  # every Popen this run made, ended at exit


def say(s):
    print(s, file=sys.stderr, flush=True)


def spawn(args, **kw):
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(args, **kw)
    started.append(p)
    return p


def end(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def end_all():
    for p in started:
        if p.poll() is None:
            p.kill()
    for p in started:
        p.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Broker:
    """A mosquitto on a loopback port, logging connections with Unix-second timestamps."""

    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.dir = workdir
        self.runs = 0
        self.proc = None
        self.log = None
        self.start()

    def start(self):
        self.runs += 1
        self.log = os.path.join(self.dir, f"mosquitto-{self.port}-{self.runs}.log")
        conf = os.path.join(self.dir, f"mosquitto-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_connections -1\nlog_dest stdout\nlog_type notice\n"
                    "log_timestamp true\nlog_timestamp_format %s\nconnection_messages true\n")
        # stdout, not a log file: mosquitto started as root drops to its own user, which could
        # not write here.
        with open(self.log, "w") as out:
            self.proc = spawn(["stdbuf", "-oL", "/usr/sbin/mosquitto", "-c", conf], stdout=out,
                              stderr=subprocess.STDOUT, preexec_fn=raise_fd_limit)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def kill(self):
        end(self.proc)

    def connects(self):
        """(unix second, client id) of every connection in the current log."""
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    m = re.match(r"(\d+): New client connected from \S+ as (\S+)", line)
                    if m:
                        out.append((int(m.group(1)), m.group(2)))
        except FileNotFoundError:
            pass
        return out


class StatusWatch:
    """mosquitto_sub on vigil/+/status; each message with its receive time (%U)."""

    def __init__(self, port, topic="vigil/+/status"):
        self.lines = []
        self.lock = threading.Lock()
        self.proc = spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                           "-t", topic, "-F", "%U %t %p"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3:
                with self.lock:
                    self.lines.append((float(parts[0]), parts[1], parts[2]))

    def first(self, topic, needle, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for ts, t, p in self.lines:
                    if t == topic and needle in p:
                        return ts
            time.sleep(0.005)
        return None


class FakeCameras:
    """Cameras on loopback: a TCP port each that accepts probes and serves a tiny JPEG."""
    JPEG = b"\xff\xd8\xff\xfe\x00\x0eVigil bench!\xff\xd9"

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(2)
            try:
                data = self.request.recv(4096)
            except OSError:
                return
            if data.startswith(b"GET"):
                body = FakeCameras.JPEG
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                                     + body)

    def __init__(self, n):
        self.servers = []
        for _ in range(n):
            socketserver.ThreadingTCPServer.allow_reuse_address = True
            s = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeCameras.Handler)
            s.daemon_threads = True
            threading.Thread(target=s.serve_forever, daemon=True).start()
            self.servers.append(s)
        self.ports = [s.server_address[1] for s in self.servers]

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def agent_config(dirpath, site, port, heartbeat=30, keepalive=30, cameras=(), probe=10):
    cams = ",".join(
        f'{{"id": "cam{i + 1}", "host": "127.0.0.1", "probe_port": {p}, '
        f'"snapshot_url": "http://127.0.0.1:{p}/snapshot.jpg", "snapshot_s": 300}}'
        for i, p in enumerate(cameras))
    os.makedirs(dirpath, exist_ok=True)
    path = os.path.join(dirpath, "config.json")
    with open(path, "w") as f:
        f.write(f'{{"version": 1, "site_id": "{site}", "heartbeat_s": {heartbeat}, '
                f'"keepalive_s": {keepalive}, "probe_s": {probe}, '
                f'"brokers": [{{"host": "127.0.0.1", "port": {port}}}], '
                f'"cameras": [{cams}], "spool": {{"dir": "spool"}}}}')
    return path


def smaps(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def cpu_seconds(pid, children=False):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (waited-for children)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid):
    """Time on the CPU, in nanoseconds (schedstat: finer than the clock ticks of stat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "n/a"


# ---- rows -----------------------------------------------------------------------------------

def row_size(args, rows, work):
    say("size: the stripped aarch64 binary against mosquitto_pub (arm64)")
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                         "vigil-bench")
    os.makedirs(cache, exist_ok=True)
    pub = os.path.join(cache, "mosquitto-clients-arm64", "usr", "bin", "mosquitto_pub")
    if not os.path.exists(pub):
        subprocess.run(["apt-get", "download", "mosquitto-clients:arm64"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
        deb = [f for f in os.listdir(cache) if f.startswith("mosquitto-clients_")
               and f.endswith("_arm64.deb")][0]
        subprocess.run(["dpkg-deb", "-x", os.path.join(cache, deb),
                        os.path.join(cache, "mosquitto-clients-arm64")], check=True)
    vigil = os.path.getsize(args.aarch64)
    base = os.path.getsize(pub)
    rows.append(("Stripped size, aarch64", f"{vigil:,} B", "`mosquitto_pub` (Debian 12 arm64)",
                 f"{base:,} B", ratio(vigil, base),
                 "a whole agent vs one publish tool; both use the shared libmosquitto"))
    vigil64 = os.path.getsize(args.x86_64)
    base64 = os.path.getsize("/usr/bin/mosquitto_pub")
    rows.append(("Stripped size, x86_64", f"{vigil64:,} B", "`mosquitto_pub` (Debian 12 amd64)",
                 f"{base64:,} B", ratio(vigil64, base64), ""))


def row_cold_start(args, rows, work):
    n = args.cold_runs
    say(f"cold start: process start to the online status at a subscriber, {n} runs each")
    broker = Broker(work)
    watch = StatusWatch(broker.port)
    vigil_ms, pub_ms = [], []
    for i in range(n):
        site = f"cold-{i}"
        cfg = agent_config(os.path.join(work, site), site, broker.port)
        t0 = time.time()
        p = spawn([args.x86_64, "run", "--config", cfg])
        ts = watch.first(f"vigil/{site}/status", '"online"', 10)
        end(p)
        if ts is None:
            raise RuntimeError("no online status from the agent")
        vigil_ms.append((ts - t0) * 1000)
        t0 = time.time()
        q = spawn(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-r",
                   "-t", f"vigil/pub-{i}/status", "-m", '{"state":"online"}'])
        ts = watch.first(f"vigil/pub-{i}/status", '"online"', 10)
        q.wait()
        if ts is None:
            raise RuntimeError("no status from mosquitto_pub")
        pub_ms.append((ts - t0) * 1000)
    end(watch.proc)
    broker.kill()
    v, b = statistics.median(vigil_ms), statistics.median(pub_ms)
    rows.append(("Cold start to retained online status (median of %d)" % n, f"{v:.1f} ms",
                 "`mosquitto_pub -q 1 -r` of the same status", f"{b:.1f} ms", ratio(v, b),
                 "Embedded x86_64 build; includes the boot counter's fsync"))


FLOOR_C = r"""
#include <mosquitto.h>
#include <gpiod.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>
/* The floor: a program that only initialises the C libraries Vigil uses, then sleeps. */
int main(void) {
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new("floor", true, NULL);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  if (sodium_init() < 0) return 1;
  cJSON *doc = cJSON_Parse("{\"version\":1}");
  printf("%p %p %p %s\n", (void *)m, (void *)multi, (void *)doc, gpiod_version_string());
  fflush(stdout);
  for (;;) pause();
}
"""

SHELL_LOOP = r"""
# The ad-hoc watcher: probe each camera's port every 10 s, publish a heartbeat every 30 s.
n=0
while :; do
  up=0
  for p in $CAMERA_PORTS; do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && up=$((up + 1)); done
  if [ $((n % 3)) -eq 0 ]; then
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 0 -t vigil/shell/heartbeat \
      -m "{\"site\":\"shell\",\"seq\":$n,\"ts\":$(date +%s%3N),\"cameras_up\":$up}"
  fi
  n=$((n + 1))
  sleep 10
done
"""


def row_idle(args, rows, work):
    secs = args.idle_s
    say(f"idle: 8 cameras (probe 10 s, heartbeat 30 s) for {secs} s; the floor and the shell "
        "loop alongside")
    floor_bin = os.path.join(work, "floor")
    with open(floor_bin + ".c", "w") as f:
        f.write(FLOOR_C)
    subprocess.run(["gcc", "-O2", floor_bin + ".c", "-o", floor_bin, "-lmosquitto", "-lgpiod",
                    "-lcjson", "-lcurl", "-lsodium"], check=True)
    subprocess.run(["strip", floor_bin], check=True)
    broker = Broker(work)
    cams = FakeCameras(8)
    cfg = agent_config(os.path.join(work, "idle"), "idle", broker.port, heartbeat=30,
                       cameras=cams.ports, probe=10)
    agent = spawn([args.x86_64, "run", "--config", cfg])
    floor = spawn([floor_bin], stdout=subprocess.PIPE)
    floor.stdout.readline()
    shell = spawn(["bash", "-c", SHELL_LOOP],
                  env=dict(os.environ, CAMERA_PORTS=" ".join(map(str, cams.ports)),
                           BROKER_PORT=str(broker.port)))
    time.sleep(5)  # past start-up: connect, first timers
    c0 = cpu_ns(agent.pid)
    s0 = cpu_seconds(shell.pid, children=True)
    samples = []
    t0 = time.time()
    while time.time() - t0 < secs:
        time.sleep(min(10, secs))
        samples.append(smaps(agent.pid))
    elapsed = time.time() - t0
    agent_cpu = (cpu_ns(agent.pid) - c0) / 1e9 / elapsed * 100
    shell_cpu = (cpu_seconds(shell.pid, children=True) - s0) / elapsed * 100
    mem = smaps(agent.pid)
    fl = smaps(floor.pid)
    for p in (agent, floor, shell):
        end(p)
    cams.stop()
    broker.kill()
    rss_max = max(s["Rss"] for s in samples)
    pd_max = max(s["Private_Dirty"] for s in samples)
    pd_min = min(s["Private_Dirty"] for s in samples)
    needed = subprocess.run(["readelf", "-d", args.x86_64], capture_output=True,
                            text=True).stdout
    unlinked = [lib for lib in ("libcurl", "libsodium", "libgpiod") if lib + ".so" not in needed]
    note = f"max over the run {rss_max:,} KiB"
    if unlinked:
        note += ("; Vigil does not link " + ", ".join(unlinked)
                 + " yet (nothing uses them), the floor initialises them (curl loads OpenSSL)")
    rows.append((f"Resident memory, idle, 8 cameras ({secs} s)", f"{mem['Rss']:,} KiB",
                 "C program that only initialises the same libraries", f"{fl['Rss']:,} KiB",
                 ratio(mem["Rss"], fl["Rss"]), note))
    ok = "within" if pd_max <= 2048 else "OVER"
    rows.append((f"Private dirty memory, idle ({secs} s)", f"{mem['Private_Dirty']:,} KiB",
                 "the same C program", f"{fl['Private_Dirty']:,} KiB",
                 ratio(mem["Private_Dirty"], fl["Private_Dirty"]),
                 f"{pd_min:,}-{pd_max:,} KiB over the run: {ok} the 2 MiB target"))
    ok = "within" if agent_cpu <= 0.05 else "OVER"
    rows.append((f"CPU, idle, 8 cameras ({secs} s)", f"{agent_cpu:.4f} % of a core",
                 "shell loop: `/dev/tcp` probes + `mosquitto_pub` heartbeats",
                 f"{shell_cpu:.4f} % of a core", ratio(agent_cpu, shell_cpu),
                 f"{ok} the 0.05 % target"))


def fleet_phase(kind, n, work, downtime, timeout):
    """Starts n clients of `kind` on a fresh broker, restarts the broker, and returns
    (seconds until all are back, peak connections in one second, seconds to start)."""
    broker = Broker(work)
    procs = []
    t_start = time.time()
    for i in range(n):
        if kind == "vigil":
            site = f"fleet-{i:04d}"
            cfg = agent_config(os.path.join(work, "fleet", site), site, broker.port,
                               heartbeat=30, keepalive=30)
            procs.append(spawn([FLEET_BIN, "run", "--config", cfg]))
        else:
            procs.append(spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                "-i", f"base-{i:04d}", "-k", "30", "-q", "1",
                                "-t", f"vigil/base-{i:04d}/cmd"]))
    deadline = time.time() + timeout
    while len({c for _, c in broker.connects()}) < n and time.time() < deadline:
        time.sleep(0.5)
    up = len({c for _, c in broker.connects()})
    if up < n:
        raise RuntimeError(f"{kind} fleet: only {up} of {n} connected")
    t_up = time.time() - t_start
    time.sleep(5)
    broker.kill()
    time.sleep(downtime)
    restart = int(time.time())
    broker.start()
    t_restart = time.time()
    deadline = time.time() + timeout
    while len({c for _, c in broker.connects()}) < n and time.time() < deadline:
        time.sleep(0.5)
    conns = broker.connects()
    back = len({c for _, c in conns})
    for p in procs:
        end(p)
    broker.kill()
    if back < n:
        raise RuntimeError(f"{kind} fleet: only {back} of {n} back within {timeout} s")
    per_second = {}
    first = {}
    for ts, c in conns:
        first.setdefault(c, ts)
    for ts in first.values():
        per_second[ts] = per_second.get(ts, 0) + 1
    all_back = max(first.values()) - restart
    return all_back, max(per_second.values()), t_up, t_restart


FLEET_BIN = None


def row_fleet(args, rows, work):
    global FLEET_BIN
    FLEET_BIN = args.x86_64
    n = args.fleet
    say(f"fleet: {n} agents, broker down {args.downtime} s; then {n} mosquitto_sub clients "
        "(libmosquitto's fixed 1 s reconnect, no jitter) the same way")
    raise_fd_limit()
    v_all, v_peak, v_up, _ = fleet_phase("vigil", n, work, args.downtime, args.fleet_timeout)
    b_all, b_peak, b_up, _ = fleet_phase("sub", n, work, args.downtime, args.fleet_timeout)
    rows.append((f"Fleet of {n}: peak reconnections in one second after a broker restart",
                 f"{v_peak}/s", f"{n} `mosquitto_sub` clients", f"{b_peak}/s",
                 ratio(v_peak, b_peak),
                 f"broker down {args.downtime} s; full-jitter backoff spreads the storm"))
    rows.append((f"Fleet of {n}: broker restart to all reconnected", f"{v_all} s",
                 f"{n} `mosquitto_sub` clients", f"{b_all} s",
                 ratio(v_all, b_all) if b_all else "n/a",
                 f"1 s resolution (broker log); the fleet started in {v_up:.0f} s"))


PENDING = [
    "Memory during a long outage with thousands of spooled messages (needs the spool)",
    "GPIO edge (sim line) to event at the broker, median and p99, also with a hung camera "
    "HTTP (needs the GPIO and camera parts)",
    "Spool replay throughput after an outage against `mosquitto_pub -q 1` (needs the spool)",
]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    osname = "unknown"
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    mosq = subprocess.run(["/usr/sbin/mosquitto", "-h"], capture_output=True, text=True).stdout
    mosq = mosq.splitlines()[0] if mosq else "mosquitto"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem_kb // 1024} MiB; {osname}, Linux "
            f"{platform.release()}; {mosq}; commit {commit}; load average at start "
            f"{os.getloadavg()[0]:.2f} (a shared machine: CPU rows vary with it)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aarch64", required=True)
    ap.add_argument("--x86_64", required=True)
    ap.add_argument("--rows", default="size,start,idle,fleet")
    ap.add_argument("--idle-s", type=int, default=300)
    ap.add_argument("--cold-runs", type=int, default=10)
    ap.add_argument("--fleet", type=int, default=1600)
    ap.add_argument("--downtime", type=int, default=5)
    ap.add_argument("--fleet-timeout", type=int, default=300)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--command", default="Scripts/bench")
    args = ap.parse_args()
    rows = []
    funcs = {"size": row_size, "start": row_cold_start, "idle": row_idle, "fleet": row_fleet}
    info = machine()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as work:
        try:
            for name in args.rows.split(","):
                funcs[name](args, rows, work)
        finally:
            end_all()
    took = time.time() - t0
    lines = [
        "# Benchmarks",
        "",
        "Each row against a baseline measured in the same run. Written by `Scripts/bench`; do not "
        "edit by hand.",
        "",
        f"- Command: `{args.command}` ({took / 60:.1f} min)",
        f"- Date: {when}",
        f"- Machine: {info}",
        "",
        "| measure | Vigil | baseline | baseline value | ratio | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines += ["", "Not measured yet (rows come with the features they measure):", ""]
    lines += [f"- {p}" for p in PENDING]
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
