"""Loopback ports for test listeners that nothing else can take before the listener binds.

A port found by binding port 0 and closing it lies in the kernel's ephemeral range, so any
process's next outgoing connection may be given it before the fixture binds (seen in CI: a TLS
broker's second listener lost its port to a client, mosquitto exited, the test timed out).
These ports come from outside that range (/proc/sys/net/ipv4/ip_local_port_range), where the
kernel never picks a source port, and each is reserved for the life of the process that asked
by an flock on /tmp/vigil-test-ports/PORT, the same scheme as the Swift tests' Harness.freePort,
so no two fixtures of any test process get the same one.

  python3 testports.py        prints one port (its reservation ends with this process: for
                              shell scripts that run alone, as Scripts/run does)
"""
import fcntl
import os
import random
import socket

LOCK_DIR = "/tmp/vigil-test-ports"
_held = {}  # port -> open lock file, kept for the life of this process


def ephemeral_range(path="/proc/sys/net/ipv4/ip_local_port_range"):
    try:
        with open(path) as f:
            lo, hi = (int(x) for x in f.read().split()[:2])
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999  # the kernel's default


def candidate_ranges():
    """Port ranges outside the ephemeral one, above the well-known and registered lows."""
    lo, hi = ephemeral_range()
    ranges = []
    if lo - 1 >= 20000:
        ranges.append((20000, lo - 1))
    if hi + 1 <= 65535:
        ranges.append((hi + 1, 65535))
    if not ranges:
        ranges.append((10000, max(10000, lo - 1)))
    return ranges


def _bindable(port):
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError as e:
            if family == socket.AF_INET6 and e.errno in (97, 99):  # no IPv6 on this host
                continue
            return False
        finally:
            s.close()
    return True


def reserve():
    """A port no other test fixture holds and nothing listens on, reserved until exit."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    ranges = candidate_ranges()
    total = sum(b - a + 1 for a, b in ranges)
    start = random.randrange(total)
    for i in range(total):
        k = (start + i) % total
        for a, b in ranges:
            if k <= b - a:
                port = a + k
                break
            k -= b - a + 1
        if port in _held:
            continue
        f = open(os.path.join(LOCK_DIR, str(port)), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        if not _bindable(port):
            f.close()
            continue
        _held[port] = f
        return port
    raise RuntimeError("no free test port outside the ephemeral range")


if __name__ == "__main__":
    print(reserve())
