#!/usr/bin/env python3
"""A TCP link between the agent and its broker that a test can break, as field uplinks break.

  link.py --port-file F [--port P] --to PORT --mode-file M

Listens on loopback port P (written to F once it listens) and forwards each connection to 127.0.0.1:PORT.
M holds the link's state, read every 20 ms:
  up      bytes flow both ways
  stall   the link dies silently: connections stay open, nothing passes either way (what
          was sent into it is lost), new connections are accepted and hang
  down    every connection is closed and new ones are closed at once
  hold-acks  bytes flow both ways except the broker's PUBACKs, which are held (a broker that
          has not yet taken what it was sent) and passed on, in order, when the link is up
"""
import argparse
import os
import selectors
import socket
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0,
                   help="the port to listen on (the tests hand one out; 0: the kernel picks)")
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--mode-file", required=True)
    a = p.parse_args()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.port))
    lsock.listen(16)
    lsock.setblocking(False)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    pairs = {}  # socket -> peer socket
    brokerside = {}  # the broker's end of each connection -> [unparsed bytes, held PUBACKs]

    def send(peer, data):
        peer.setblocking(True)
        peer.sendall(data)
        peer.setblocking(False)

    def packets(buf):
        """Whole MQTT packets at the front of buf (removed from it)."""
        out = []
        while len(buf) >= 2:
            size, mult, i = 0, 1, 1
            while i < len(buf) and i <= 4:
                size += (buf[i] & 0x7F) * mult
                mult *= 128
                i += 1
                if buf[i - 1] & 0x80 == 0:
                    break
            else:
                break  # the length is not all here yet
            if len(buf) < i + size:
                break
            out.append(bytes(buf[:i + size]))
            del buf[:i + size]
        return out

    def close(s):
        peer = pairs.pop(s, None)
        for x in (s, peer):
            if x is None:
                continue
            pairs.pop(x, None)
            brokerside.pop(x, None)
            try:
                sel.unregister(x)
            except Exception:
                pass
            x.close()

    mode = "up"
    while True:
        try:
            with open(a.mode_file) as f:
                new = f.read().strip() or "up"
        except OSError:
            new = "up"
        if new != mode:
            mode = new
            if mode == "up":
                for b, (_, held) in list(brokerside.items()):
                    try:
                        for pkt in held:
                            send(pairs[b], pkt)
                    except (OSError, KeyError):
                        close(b)
                    held.clear()
            if mode == "down":
                for s in list(pairs):
                    close(s)
        for key, _ in sel.select(timeout=0.02):
            s = key.fileobj
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                except OSError:
                    continue
                if mode == "down":
                    c.close()
                    continue
                try:
                    b = socket.create_connection(("127.0.0.1", a.to), timeout=2)
                except OSError:
                    c.close()  # the broker is down: so is the link
                    continue
                c.setblocking(False)
                b.setblocking(False)
                pairs[c] = b
                pairs[b] = c
                brokerside[b] = [bytearray(), []]
                sel.register(c, selectors.EVENT_READ, None)
                sel.register(b, selectors.EVENT_READ, None)
                continue
            if s not in pairs:
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                close(s)
                continue
            if mode == "stall":
                continue  # swallowed: the link is dead but nobody has noticed yet
            peer = pairs[s]
            try:
                state = brokerside.get(s)
                if state is not None and (mode == "hold-acks" or state[0]):
                    state[0] += data
                    for pkt in packets(state[0]):
                        if mode == "hold-acks" and pkt[0] & 0xF0 == 0x40:
                            state[1].append(pkt)
                        else:
                            send(peer, pkt)
                else:
                    send(peer, data)
            except OSError:
                close(s)


if __name__ == "__main__":
    main()
