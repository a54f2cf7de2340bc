#!/usr/bin/python3
"""A technician at a real terminal program: picocom on a serial device, driven with pexpect.

    technician.py DEVICE [SEED] < steps.json

Steps, a JSON list, run in order:
  ["send", TEXT]              type TEXT into picocom (control characters as JSON escapes)
  ["expect", REGEX, SECONDS]  wait until picocom shows output matching REGEX (default 10 s)
  ["absent", REGEX, SECONDS]  watch for SECONDS; fail if output matching REGEX appears
  ["noise", BYTES]            put BYTES random bytes straight onto the line, as a cable being
                              plugged in does (not through picocom's keyboard)
  ["sleep", SECONDS]
Prints one JSON object: {"ok", "failed_step", "error", "seed", "at" (seconds from the start at
which each step finished), "transcript" (what picocom showed, after "Terminal ready")}. Exit
status 0 when every step passed.
"""
import io
import json
import os
import random
import re
import sys
import termios
import time

import pexpect


def main():
    device = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(1 << 32)
    steps = json.load(sys.stdin)
    rng = random.Random(seed)
    # Whatever the agent said while nobody was connected is not this session's.
    line = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    termios.tcflush(line, termios.TCIFLUSH)
    transcript = io.BytesIO()
    child = pexpect.spawn("picocom", ["-b", "115200", "-f", "n", "-p", "n", "-d", "8", device],
                          timeout=10)
    result = {"ok": False, "failed_step": None, "error": "", "seed": seed, "at": []}
    start = time.monotonic()
    try:
        child.expect(b"Terminal ready")
        child.logfile_read = transcript
        for i, step in enumerate(steps):
            op = step[0]
            try:
                run_step(child, line, rng, op, step[1:])
            except (pexpect.TIMEOUT, pexpect.EOF, AssertionError) as e:
                result["failed_step"] = i
                result["error"] = f"step {i} {json.dumps(step)}: {type(e).__name__} {e}"[:600]
                break
            result["at"].append(round(time.monotonic() - start, 3))
        else:
            result["ok"] = True
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        result["error"] = f"picocom did not start: {e}"[:600]
    finally:
        child.logfile_read = None
        try:
            child.send(b"\x01\x18")  # C-a C-x: picocom's exit
            child.expect(pexpect.EOF, timeout=3)
        except (pexpect.TIMEOUT, pexpect.EOF, OSError):
            pass
        child.close(force=True)
        os.close(line)
    result["transcript"] = transcript.getvalue().decode("utf-8", "replace")
    json.dump(result, sys.stdout)
    sys.exit(0 if result["ok"] else 1)


def run_step(child, line, rng, op, args):
    if op == "send":
        child.send(args[0].encode("latin-1"))
    elif op == "expect":
        child.expect(re.compile(args[0].encode()), timeout=args[1] if len(args) > 1 else 10)
    elif op == "absent":
        pattern = re.compile(args[0].encode())
        deadline = time.monotonic() + args[1]
        seen = b""
        while time.monotonic() < deadline:
            try:
                seen += child.read_nonblocking(65536, timeout=0.1)
            except pexpect.TIMEOUT:
                pass
            m = pattern.search(seen)
            assert m is None, f"saw {m.group(0)!r} within {args[1]} s"
    elif op == "noise":
        noise = rng.randbytes(args[0])
        sent = 0
        while sent < len(noise):
            try:
                sent += os.write(line, noise[sent:sent + 4096])
            except BlockingIOError:
                pass
            drain(child)
        drain(child)
    elif op == "sleep":
        time.sleep(args[0])
    else:
        raise AssertionError(f"unknown step {op}")


def drain(child):
    """Reads what picocom shows now, so it never stalls on a full terminal."""
    try:
        while True:
            child.read_nonblocking(65536, timeout=0.01)
    except pexpect.TIMEOUT:
        pass


if __name__ == "__main__":
    main()
