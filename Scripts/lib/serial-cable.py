#!/usr/bin/python3
"""A serial cable between two pseudo-terminals, for the console tests and the demo.

    Scripts/lib/serial-cable.py DIR

Creates DIR/agent and DIR/technician, links to the slave sides of two pseudo-terminals, and
copies bytes between their masters: what a program writes to one end arrives at the other, as
over a null-modem cable. The agent opens DIR/agent as its console.device; a terminal program
(picocom) opens DIR/technician. The cable holds both slave sides open itself, so a terminal
program that quits does not hang up the line (it would: a master reads EIO once no slave is
open). Toward the agent up to 1 MiB in flight is held, so a test's burst of line noise arrives
whole; toward the technician what the kernel cannot take is lost, as on a real line with no
flow control (nobody watching, nothing kept). Prints "ready" once both links exist. SIGTERM or SIGINT
unplugs it: the links are removed and both masters closed, so the agent's side sees a hangup
(EIO/POLLHUP), as when a USB adapter is pulled out.
"""
import os
import pty
import select
import signal
import sys
import tty

def main():
    folder = sys.argv[1]
    # Children of the Swift test runner inherit a blocked SIGTERM: take it back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    ends = {}
    for name in ("agent", "technician"):
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        link = os.path.join(folder, name)
        tmp = link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, link)
        ends[name] = (master, slave, link)

    def unplug(*_):
        for master, slave, link in ends.values():
            try:
                if os.readlink(link) == os.ttyname(slave):
                    os.unlink(link)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, unplug)
    signal.signal(signal.SIGINT, unplug)
    print("ready", flush=True)

    a, t = ends["agent"][0], ends["technician"][0]
    other = {a: t, t: a}
    waiting = {a: bytearray()}  # bytes on their way to the agent's side
    while True:
        writers = [a] if waiting[a] else []
        try:
            readable, writable, _ = select.select([a, t], writers, [])
        except InterruptedError:
            continue
        for fd in readable:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            if other[fd] == a:
                # Toward the agent a backlog is kept, so a burst of line noise arrives whole.
                waiting[a] += data[: max(0, LIMIT - len(waiting[a]))]
            else:
                # Toward the technician what the kernel cannot take now is lost, as on a real
                # line with no flow control and nobody watching.
                try:
                    os.write(t, data)
                except (BlockingIOError, InterruptedError):
                    pass
        for fd in writable:
            try:
                n = os.write(fd, waiting[fd])
            except (BlockingIOError, InterruptedError):
                continue
            del waiting[fd][:n]


LIMIT = 1 << 20

if __name__ == "__main__":
    main()
