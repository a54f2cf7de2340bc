#!/usr/bin/env python3
"""A name server on a loopback address for the resolver tests, UDP only.

  fake-dns.py ADDRESS PORT hang              reads every query and never answers (a name server
                                             behind a dead uplink)
  fake-dns.py ADDRESS PORT answer NAME=IPV4...  answers A queries for the names given, NODATA
                                             for other types of those names, NXDOMAIN otherwise

Prints "listening" once bound, then "query NAME TYPE" for each query, flushed, so a test can
see that the agent asked.
"""
import socket
import struct
import sys


def parse_question(data):
    names, i = [], 12
    while i < len(data) and data[i] != 0:
        n = data[i]
        names.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype = struct.unpack("!H", data[i + 1:i + 3])[0] if i + 3 <= len(data) else 0
    return ".".join(names).lower(), qtype, data[12:i + 5]


def main():
    address, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    table = {}
    for item in sys.argv[4:]:
        name, ip = item.split("=", 1)
        table[name.lower()] = socket.inet_aton(ip)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    print("listening", flush=True)
    while True:
        data, peer = s.recvfrom(4096)
        if len(data) < 17:
            continue
        name, qtype, question = parse_question(data)
        print(f"query {name} {qtype}", flush=True)
        if mode == "hang":
            continue
        qid = data[:2]
        if name in table:
            answers = b""
            count = 0
            if qtype == 1:
                answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + table[name]
                count = 1
            header = qid + struct.pack("!HHHHH", 0x8580, 1, count, 0, 0)
            s.sendto(header + question + answers, peer)
        else:
            header = qid + struct.pack("!HHHHH", 0x8583, 1, 0, 0, 0)
            s.sendto(header + question, peer)


if __name__ == "__main__":
    main()
