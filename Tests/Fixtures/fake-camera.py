#!/usr/bin/env python3
"""A fake IP camera for the tests: serves snapshots over HTTP on a free loopback port.

  fake-camera.py --port-file F [--auth none|basic|digest] [--user U --password P]
                 [--save DIR] [--pad N] [--lockout-after N] [--lockout-s S] [--date-offset-s S]

Paths:
  /snapshot.jpg   a real (8x8 grey, baseline) JPEG, different at every request: a COM segment
                  carries the frame number and N bytes of padding; with --save each body served
                  is also written to DIR/<frame>.jpg, with its serve time in DIR/served.log
  /hang.jpg       accepts the request and never answers (a hung camera)
  /html           a 200 answer that is not a JPEG (an error page)
  /big.jpg        a 5 MiB JPEG, over Vigil's size limit
  /xml-error      200 with Hikvision's XML error body (`<ResponseStatus>`, statusCode 4,
                  "Invalid Operation"): what its firmware sends for a failed request
  /frozen.jpg     the same JPEG at every request (a hung encoder)
Digest is RFC 2617/7616 with MD5 and qop=auth, what IP cameras speak. As Hikvision and Dahua
firmware do, it counts failed logins (a request whose credentials do not verify; the first,
credential-less request of a digest exchange is no login) per client address, writes each to
DIR/failed-logins.log (with --save), and after --lockout-after failures (5) locks that address
out for --lockout-s seconds (1800): 401 to everything, good credentials too.
--date-offset-s shifts every answer's `Date:` header (a camera whose clock is off). With --save,
every request's path and Authorization scheme go to DIR/requests.log (`/snapshot.jpg auth=basic`).
"""
import argparse
import hashlib
import http.server
import os
import secrets
import threading
import time


def jpeg(comment: bytes) -> bytes:
    """An 8x8 grey baseline JPEG: one DC-only block, Huffman tables of one code each."""
    out = b"\xff\xd8"
    # COM segments hold at most 65533 bytes each.
    for i in range(0, len(comment), 65533):
        part = comment[i:i + 65533]
        out += b"\xff\xfe" + (len(part) + 2).to_bytes(2, "big") + part
    out += b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    out += b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    out += b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\x00" * 15 + b"\x00"
    out += b"\xff\xc4\x00\x14\x10" + b"\x01" + b"\x00" * 15 + b"\x00"
    out += b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    out += b"\x3f"
    out += b"\xff\xd9"
    return out


XML_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<ResponseStatus version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">\n'
             b'<requestURL>/ISAPI/Streaming/channels/101/picture</requestURL>\n'
             b'<statusCode>4</statusCode>\n<statusString>Invalid Operation</statusString>\n'
             b'<subStatusCode>invalidOperation</subStatusCode>\n</ResponseStatus>\n')


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


class Camera(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    realm = "fake-camera"
    frame = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def date_time_string(self, timestamp=None):
        return super().date_time_string((timestamp or time.time()) + self.server.args.date_offset_s)

    def authorised(self) -> bool:
        a = self.server.args
        if a.auth == "none":
            return True
        header = self.headers.get("Authorization", "")
        client = self.client_address[0]
        with Camera.lock:
            until = self.server.locked.get(client, 0)
        if time.time() < until:
            # Locked out: refused whatever the credentials.
            self.challenge(f'Digest realm="{self.realm}", qop="auth", '
                           f'nonce="{secrets.token_hex(16)}", algorithm=MD5')
            return False
        if header and self.verify(header):
            return True
        if header:
            self.failed_login(client)
        if a.auth == "basic":
            self.challenge(f'Basic realm="{self.realm}"')
            return False
        nonce = secrets.token_hex(16)
        self.server.nonces.add(nonce)
        self.challenge(f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
                       f'algorithm=MD5')
        return False

    def failed_login(self, client: str):
        a = self.server.args
        with Camera.lock:
            n = self.server.failures.get(client, 0) + 1
            self.server.failures[client] = n
            if n >= a.lockout_after:
                self.server.locked[client] = time.time() + a.lockout_s
                self.server.failures[client] = 0
            if a.save:
                with open(os.path.join(a.save, "failed-logins.log"), "a") as f:
                    locked = " locked" if n >= a.lockout_after else ""
                    f.write(f"{time.time():.3f} {client}{locked}\n")

    def verify(self, header: str) -> bool:
        a = self.server.args
        if a.auth == "basic":
            import base64
            want = base64.b64encode(f"{a.user}:{a.password}".encode()).decode()
            return header == f"Basic {want}"
        if not header.startswith("Digest "):
            return False
        fields = {}
        for part in header[7:].split(","):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                fields[k] = v.strip('"')
        ha1 = md5(f"{a.user}:{self.realm}:{a.password}")
        ha2 = md5(f"GET:{fields.get('uri', '')}")
        want = md5(f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
                   f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}")
        return (fields.get("username") == a.user and fields.get("nonce") in self.server.nonces
                and fields.get("response") == want)

    def challenge(self, value: str):
        self.server.challenges += 1
        body = b"<html>401 Unauthorized</html>"
        self.send_response(401)
        self.send_header("WWW-Authenticate", value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, body: bytes, ctype: str = "image/jpeg"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        a = self.server.args
        if self.path == "/hang.jpg":
            # Accepts, reads the request, never answers.
            while True:
                time.sleep(3600)
        if a.save:
            # Each request's Authorization scheme: a password sent in clear shows as `basic`.
            scheme = self.headers.get("Authorization", "none").split(" ", 1)[0].lower()
            with Camera.lock, open(os.path.join(a.save, "requests.log"), "a") as f:
                f.write(f"{self.path} auth={scheme}\n")
        if not self.authorised():
            return
        if self.path == "/snapshot.jpg":
            with Camera.lock:
                Camera.frame += 1
                n = Camera.frame
                if a.scene_file:
                    # A real picture of a street (scenes.py), the scene named in the file:
                    # the view watch's tests change it while the agent runs.
                    import scenes  # noqa: E402 (GStreamer only when asked for)
                    try:
                        name = open(a.scene_file).read().strip() or "clear"
                    except OSError:
                        name = "clear"
                    body = scenes.jpeg_for(name, n)
                else:
                    pad = os.urandom(a.pad // 2).hex().encode()[:a.pad]
                    body = jpeg(b"vigil fake camera frame %d " % n + pad)
                if a.save:
                    with open(os.path.join(a.save, f"{n}.jpg.tmp"), "wb") as f:
                        f.write(body)
                    os.rename(os.path.join(a.save, f"{n}.jpg.tmp"),
                              os.path.join(a.save, f"{n}.jpg"))
                    with open(os.path.join(a.save, "served.log"), "a") as f:
                        f.write(f"{n} {time.time():.3f} {len(body)}\n")
            self.answer(body)
        elif self.path == "/xml-error":
            self.answer(XML_ERROR, "application/xml")
        elif self.path == "/frozen.jpg":
            self.answer(jpeg(b"vigil fake camera, the one frozen frame"))
        elif self.path == "/html":
            self.answer(b"<html><body>camera error</body></html>", "text/html")
        elif self.path == "/big.jpg":
            self.answer(jpeg(b"x" * (5 << 20)))
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0,
                   help="the port to listen on (the tests hand one out; 0: the kernel picks)")
    p.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    p.add_argument("--user", default="viewer")
    p.add_argument("--password", default="secret")
    p.add_argument("--save")
    p.add_argument("--pad", type=int, default=2000)
    p.add_argument("--scene-file", help="serve scenes.py's street scene named in this file")
    p.add_argument("--lockout-after", type=int, default=5)
    p.add_argument("--lockout-s", type=float, default=1800)
    p.add_argument("--date-offset-s", type=float, default=0)
    a = p.parse_args()
    if a.save:
        os.makedirs(a.save, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Camera)
    server.daemon_threads = True
    server.args = a
    server.nonces = set()
    server.challenges = 0
    server.failures = {}
    server.locked = {}
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
