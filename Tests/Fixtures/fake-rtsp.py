#!/usr/bin/python3
"""A camera's RTSP service for the tests: GStreamer's RTSP server on a free loopback port.

  fake-rtsp.py --port P --port-file F --mode-file M [--user U --password W] [--auth digest|basic]
               [--fps N]

The stream is `/stream` (videotestsrc ! jpegenc ! rtpjpegpay: RTP/JPEG, 90 kHz timestamps),
behind digest authentication (MD5, as camera firmware speaks it; basic is not offered) when
--user is given; with --auth basic, behind basic only (as some cheap firmware, or a spoofed
camera, asks for). Every RTSP request is logged to stdout as it arrives, refused ones
too, as `REQUEST <method> <url> auth=<scheme>`, the Authorization scheme it carried (`digest`,
`basic`, `none`).

The mode file is read every 100 ms:
  live             the stream flows
  stall            the server answers every request, PLAY too, but sends no RTP: the
                   encoder has hung while the camera's RTSP service runs on (frigate#7473).
                   GStreamer's server needs frames to answer DESCRIBE and PLAY, so the clients
                   reach it through a relay in this process, which drops the interleaved RTP
                   and RTCP (`$` frames) while stalled and passes every RTSP message.
  refuse-describe  DESCRIBE is answered 503 Service Unavailable
Needs Debian's gir1.2-gst-rtsp-server-1.0, python3-gst-1.0 and gstreamer1.0-plugins-good,
and Debian's own python3 (the GObject bindings are built for it).
"""
import argparse
import os
import socket
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--mode-file", required=True)
ap.add_argument("--user")
ap.add_argument("--password", default="")
ap.add_argument("--fps", type=int, default=10)
ap.add_argument("--auth", choices=["digest", "basic"], default="digest")
args = ap.parse_args()

Gst.init(None)
mode = "live"


def read_mode():
    global mode
    try:
        with open(args.mode_file) as f:
            m = f.read().strip()
    except OSError:
        return True
    if m and m != mode:
        print(f"MODE {m}", flush=True)
        mode = m
    return True


def log_request(head: bytes):
    """One request as it came over the wire, refused ones too: method, URL, auth scheme."""
    lines = head.split(b"\r\n")
    words = lines[0].decode(errors="replace").split(" ")
    scheme = "none"
    for line in lines[1:]:
        if line.lower().startswith(b"authorization:"):
            scheme = line.split(b":", 1)[1].strip().split(b" ", 1)[0].decode(errors="replace").lower()
    url = words[1] if len(words) > 1 else ""
    print(f"REQUEST {words[0]} {url} auth={scheme}", flush=True)


def pre_describe(_client, _ctx):
    if mode == "refuse-describe":
        return GstRtsp.RTSPStatusCode.SERVICE_UNAVAILABLE
    return GstRtsp.RTSPStatusCode.OK


def client_connected(_server, client):
    client.connect("pre-describe-request", pre_describe)


def frames(buf: bytes):
    """The whole messages at the start of an RTSP connection's bytes: each `$` frame
    (interleaved RTP or RTCP) and each RTSP message with its body, as (is_frame, bytes, head);
    then what is left, an incomplete message."""
    out = []
    while buf:
        if buf[0:1] == b"$":
            if len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[2:4], "big"):
                break
            n = 4 + int.from_bytes(buf[2:4], "big")
            out.append((True, buf[:n], b""))
            buf = buf[n:]
            continue
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            break
        head = buf[:end + 4]
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(buf) < end + 4 + length:
            break
        out.append((False, buf[:end + 4 + length], head))
        buf = buf[end + 4 + length:]
    return out, buf


def relay_to_client(up, down):
    """Server to client: RTSP messages pass, `$` frames are dropped while stalled."""
    buf = b""
    try:
        while True:
            data = up.recv(65536)
            if not data:
                break
            done, buf = frames(buf + data)
            for is_frame, message, _head in done:
                if not (is_frame and mode == "stall"):
                    down.sendall(message)
    except OSError:
        pass
    for s in (up, down):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay_to_server(down, up):
    """Client to server: everything passes; each request is logged as it arrives."""
    buf = b""
    try:
        while True:
            data = down.recv(65536)
            if not data:
                break
            up.sendall(data)
            done, buf = frames(buf + data)
            for is_frame, _message, head in done:
                if not is_frame:
                    log_request(head)
    except OSError:
        pass
    try:
        up.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay(listener, inner_port):
    while True:
        down, _ = listener.accept()
        up = socket.create_connection(("127.0.0.1", inner_port))
        for target, a, b in ((relay_to_client, up, down), (relay_to_server, down, up)):
            threading.Thread(target=target, args=(a, b), daemon=True).start()



server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service("0")  # the relay below listens on --port
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
    f"framerate={args.fps}/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )")
factory.set_shared(True)
factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
if args.user:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    if args.auth == "basic":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password, token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
                                        True)
    permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
                                        True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/stream", factory)
server.connect("client-connected", client_connected)
if server.attach(None) == 0:
    print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    sys.exit(1)
inner_port = server.get_bound_port()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    listener.bind(("127.0.0.1", args.port))
except OSError as e:
    print(f"cannot listen on 127.0.0.1:{args.port}: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
listener.listen(16)
threading.Thread(target=relay, args=(listener, inner_port), daemon=True).start()
read_mode()
GLib.timeout_add(100, read_mode)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(args.port))
os.rename(tmp, args.port_file)
print(f"RTSP on 127.0.0.1:{args.port}/stream", flush=True)
GLib.MainLoop().run()
