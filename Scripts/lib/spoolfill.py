"""A spool backlog written straight into a queue folder, in the format the README documents
("The spool"), for the benchmarks: 100,000 events of an outage are written in seconds, where
making the agent store them one by one would time the disk instead of the replay. Also the
baseline publisher the replay is measured against.

  spoolfill.py QUEUE COUNT SITE [--kind e|s] [--payload BYTES] [--first SEQ]
"""
import argparse
import json
import os
import struct
import sys
import time

MAGIC = b"VGSP"
FORMAT_VERSION = 1


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def _crc32c_python(data):
    c = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _crc32c_fast():
    """crcmod's C extension (Debian's python3-crcmod, which Scripts/bench installs): 100 MB in
    0.3 s, where the loop above takes minutes. Looked for in Debian's own folder too, when this
    runs under another CPython 3 of the same version."""
    try:
        import crcmod.predefined
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import crcmod.predefined
        except ImportError:
            return None
        finally:
            sys.path.remove("/usr/lib/python3/dist-packages")
    f = crcmod.predefined.mkCrcFun("crc-32c")
    return f if f(b"123456789") == 0xE3069283 else None


crc32c = _crc32c_fast() or _crc32c_python


def record(kind, seq, capture_ms, topic, payload):
    """One spool file's bytes: header, topic, payload, CRC-32C of all before it."""
    t = topic.encode()
    body = (MAGIC + bytes([FORMAT_VERSION, ord(kind)]) + struct.pack("<HIqQ", len(t), len(payload),
                                                                     capture_ms, seq)
            + t + payload)
    return body + struct.pack("<I", crc32c(body))


def file_name(seq, kind):
    return f"{seq:016x}.{kind}"


def fill(queue, count, site, kind="e", payload_bytes=0, first=1, prefix="vigil"):
    """Writes `count` messages with sequences from `first`; returns the bytes written. Events
    are JSON of kind `bench_backlog` with their index (padded to `payload_bytes`); snapshots
    are that many bytes. One sync at the end, not one per file: this is set-up, not the test."""
    os.makedirs(queue, exist_ok=True)
    now = int(time.time() * 1000) - count
    total = 0
    pad = b"x" * max(0, payload_bytes)
    for i in range(count):
        seq = first + i
        ms = now + i
        if kind == "e":
            doc = {"id": f"bench-{seq}", "ts": ms, "kind": "bench_backlog", "n": i}
            payload = json.dumps(doc, separators=(",", ":")).encode()
            if len(payload) < payload_bytes:
                doc["pad"] = "x" * (payload_bytes - len(payload) - 9)
                payload = json.dumps(doc, separators=(",", ":")).encode()
            topic = f"{prefix}/{site}/event"
        else:
            payload = b"\xff\xd8" + pad[4:] + b"\xff\xd9" if payload_bytes >= 4 else b"\xff\xd8\xff\xd9"
            topic = f"{prefix}/{site}/snapshot/cam1/{ms}"
        data = record(kind, seq, ms, topic, payload)
        with open(os.path.join(queue, file_name(seq, kind)), "wb") as f:
            f.write(data)
        total += len(data)
    os.sync()
    return total


# The baseline for the replay: a plain libmosquitto publisher doing the least a spool replay
# must, with Vigil's in-flight window: the folder's names read once and sorted, each file read,
# its topic and payload published at QoS 1, the file removed at its PUBACK.
PUBLISHER_C = r"""
#include <dirent.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char **names; static int count, next_i, acked, inflight, window;
static const char *dir;
/* The messages in flight: at most `window`, searched by message id. */
static struct { int mid; int index; } *slots;
static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void on_publish(struct mosquitto *m, void *u, int mid) {
  (void)m; (void)u;
  for (int s = 0; s < window; s++) if (slots[s].mid == mid) {
    char p[4096]; snprintf(p, sizeof p, "%s/%s", dir, names[slots[s].index]); unlink(p);
    slots[s].mid = 0; acked++; inflight--; return; }
}

static void send_next(struct mosquitto *m) {
  while (inflight < window && next_i < count) {
    char p[4096]; snprintf(p, sizeof p, "%s/%s", dir, names[next_i]);
    int fd = open(p, O_RDONLY); if (fd < 0) { perror(p); exit(1); }
    static unsigned char buf[8 << 20]; ssize_t n = read(fd, buf, sizeof buf); close(fd);
    if (n < 32) { fprintf(stderr, "%s: short\n", p); exit(1); }
    uint16_t tl; uint32_t pl; memcpy(&tl, buf + 6, 2); memcpy(&pl, buf + 8, 4);
    char topic[65536]; memcpy(topic, buf + 28, tl); topic[tl] = 0;
    int mid; if (mosquitto_publish(m, &mid, topic, (int)pl, buf + 28 + tl, 1, false)) exit(1);
    for (int s = 0; s < window; s++) if (slots[s].mid == 0) {
      slots[s].mid = mid; slots[s].index = next_i; break; }
    next_i++; inflight++;
  }
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: pub HOST PORT DIR WINDOW\n"); return 2; }
  dir = argv[3]; window = atoi(argv[4]);
  DIR *d = opendir(dir); struct dirent *e; int cap = 1024; names = malloc(cap * sizeof *names);
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l != 18 || e->d_name[16] != '.') continue;
    if (count == cap) { cap *= 2; names = realloc(names, cap * sizeof *names); }
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, count, sizeof *names, cmp);
  slots = calloc(window, sizeof *slots);
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new("bench-baseline-publisher", true, NULL);
  mosquitto_publish_callback_set(m, on_publish);
  /* Nagle off, as the agent has it: a fair baseline for a window of small messages. */
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  if (mosquitto_connect(m, argv[1], atoi(argv[2]), 30)) { fprintf(stderr, "connect\n"); return 1; }
  while (acked < count) {
    send_next(m);
    if (mosquitto_loop(m, 100, 1)) { fprintf(stderr, "loop\n"); return 1; }
  }
  mosquitto_disconnect(m);
  printf("%d\n", acked);
  return 0;
}
"""


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("queue")
    ap.add_argument("count", type=int)
    ap.add_argument("site")
    ap.add_argument("--kind", choices=["e", "s"], default="e")
    ap.add_argument("--payload", type=int, default=0)
    ap.add_argument("--first", type=int, default=1)
    a = ap.parse_args()
    n = fill(a.queue, a.count, a.site, a.kind, a.payload, a.first)
    print(f"{a.count} messages, {n} bytes in {a.queue}")
