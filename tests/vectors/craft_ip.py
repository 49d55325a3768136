#!/usr/bin/env python3
"""Sends the hand-made packets of tests/vectors/capture_ip.sh (run inside its namespace A).

  craft_ip.py syn ADDR PORT        one TCP SYN (a non-blocking connect, closed after 0.3 s)
  craft_ip.py syn-hop1 ADDR PORT   the same with hop limit / TTL 1
  craft_ip.py param SRC6 DST6 SRC4 DST4
      raw IPv6 packets with extension headers (each carrying an ICMPv6 echo request whose
      identifier names the case, so B's answers can be matched) and one IPv4 packet with a
      malformed option. Only the standard library; the IPv6 packets are built byte by byte.
"""
import socket
import struct
import sys
import time


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def echo6(src: bytes, dst: bytes, ident: int) -> bytes:
    body = struct.pack("!BBHHH", 128, 0, 0, ident, 1) + b"tcptun"
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    c = csum(pseudo + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def ip6(src: bytes, dst: bytes, nxt: int, payload: bytes, hlim: int = 64) -> bytes:
    return struct.pack("!IHBB", 6 << 28, len(payload), nxt, hlim) + src + dst + payload


def opts_header(nxt: int, options: bytes) -> bytes:
    """A Hop-by-Hop or Destination Options header holding `options` (padded with PadN)."""
    body = bytes([nxt, 0]) + options
    pad = (-len(body)) % 8
    if pad == 1:
        body += b"\0"  # Pad1
    elif pad > 1:
        body += bytes([1, pad - 2]) + b"\0" * (pad - 2)  # PadN
    return bytes([nxt, len(body) // 8 - 1]) + body[2:]


def send6(pkt: bytes, dst: str) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(pkt, (dst, 0))
    s.close()
    time.sleep(0.15)


def param(src6: str, dst6: str, src4: str, dst4: str) -> None:
    s = socket.inet_pton(socket.AF_INET6, src6)
    d = socket.inet_pton(socket.AF_INET6, dst6)

    def echo(ident: int) -> bytes:
        return echo6(s, d, ident)

    # Destination Options with an unknown option of each action (RFC 8200 §4.2).
    # 0x1e: action 00 (skip) -> B answers the echo.
    send6(ip6(s, d, 60, opts_header(58, bytes([0x1E, 2, 0, 0])) + echo(0x6100)), dst6)
    # 0x5e: action 01 (discard silently).
    send6(ip6(s, d, 60, opts_header(58, bytes([0x5E, 2, 0, 0])) + echo(0x6101)), dst6)
    # 0x9e: action 10 (discard, Parameter Problem code 2).
    send6(ip6(s, d, 60, opts_header(58, bytes([0x9E, 2, 0, 0])) + echo(0x6102)), dst6)
    # 0xde: action 11 (discard, Parameter Problem code 2 unless multicast).
    send6(ip6(s, d, 60, opts_header(58, bytes([0xDE, 2, 0, 0])) + echo(0x6103)), dst6)
    # Pad1 and PadN only: B answers.
    send6(ip6(s, d, 60, opts_header(58, bytes([0, 0, 1, 1, 0])) + echo(0x6104)), dst6)
    # Hop-by-Hop with an unknown action-10 option: the router R answers.
    send6(ip6(s, d, 0, opts_header(58, bytes([0x9E, 2, 0, 0])) + echo(0x6105)), dst6)
    # An unknown Next Header (253, experimental) right after the fixed header: code 1, pointer 6.
    send6(ip6(s, d, 253, b"\0" * 8), dst6)
    # Routing header type 0 (deprecated, RFC 5095) with Segments Left 1: code 0 at the type.
    rh0 = bytes([58, 2, 0, 1, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, "fd00:b::99")
    send6(ip6(s, d, 43, rh0 + echo(0x6106)), dst6)
    # The same with Segments Left 0: ignored, B answers.
    rh0done = bytes([58, 2, 0, 0, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, "fd00:b::99")
    send6(ip6(s, d, 43, rh0done + echo(0x6107)), dst6)
    # Hop-by-Hop after a Destination Options header: code 1 at the Next Header naming it.
    hbh = opts_header(58, b"")
    send6(ip6(s, d, 60, opts_header(0, b"") + hbh + echo(0x6108)), dst6)
    # An atomic fragment (offset 0, M 0; RFC 6946): B answers.
    frag = struct.pack("!BBHI", 58, 0, 0, 0x6109)
    send6(ip6(s, d, 44, frag + echo(0x6109)), dst6)
    # A first fragment (M 1) whose length is not a multiple of 8: code 0, pointer 4.
    frag = struct.pack("!BBHI", 58, 0, 1, 0x610A)
    send6(ip6(s, d, 44, frag + echo(0x610A)[:10]), dst6)
    # A first fragment that ends inside the header chain (RFC 7112): code 3, pointer 0.
    frag = struct.pack("!BBHI", 60, 0, 1, 0x610B)
    send6(ip6(s, d, 44, frag + opts_header(58, b"")), dst6)

    # IPv4 with a Timestamp option whose length (3) is below its minimum: the router R
    # answers Parameter Problem with a pointer at the option's length byte.
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"tcptun"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    opt = bytes([0x44, 3, 5, 0])
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x46, 0, 24 + len(icmp), 0x4242, 0, 64, 1, 0,
        socket.inet_aton(src4), socket.inet_aton(dst4),
    ) + opt
    r.sendto(hdr + icmp, (dst4, 0))
    r.close()
    time.sleep(0.15)


def syn(addr: str, port: int, hop1: bool) -> None:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if hop1:
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
    s.setblocking(False)
    s.connect_ex((addr, port))
    time.sleep(0.3)
    s.close()


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "syn":
        syn(sys.argv[2], int(sys.argv[3]), False)
    elif cmd == "syn-hop1":
        syn(sys.argv[2], int(sys.argv[3]), True)
    elif cmd == "param":
        param(*sys.argv[2:6])
    else:
        raise SystemExit("unknown command " + cmd)


main()
