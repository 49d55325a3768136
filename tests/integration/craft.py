#!/usr/bin/env python3
"""Packet crafter and sniffer for tcptun's black-box (hostile) integration tests.

Runs on the kernel side of the stack's TUN link, inside the test's own network namespace
(it refuses to run without TCPTUN_IN_NETNS=1). Python 3 standard library only.

* Sending: one raw socket (AF_INET, SOCK_RAW, IPPROTO_RAW, so IP_HDRINCL): every IP and TCP
  header field is ours, source address included. Each crafted packet carries the fwmark
  CRAFT_MARK, so a namespace rule that drops the kernel's own RSTs on crafting ports
  (``-m mark ! --mark CRAFT_MARK``) spares the RSTs we craft on purpose.
* Sniffing: one AF_PACKET socket bound to the TUN interface. It sees the stack's packets
  (read by the kernel from the device) and, unless --no-outgoing, the packets the kernel and
  this crafter write to it. Direction is told by the IP addresses, not by the packet type.

Modes:

``craft.py session --ifname IF [--stack-ip A] [--kernel-ip B] [--no-outgoing]``
    A JSON-lines session: one request per line on stdin (``{"id": 1, "op": "...", ...}``),
    one reply per line on stdout (``{"id": 1, "ok": true, ...}``). The first line printed is
    ``{"ready": true, ...}``. Operations (see the ``op_*`` methods for their fields):
    ``watch``/``flow`` (per-connection sequence tracking), ``counters`` (packets the stack
    sent, by kind), ``send`` (crafted segments), ``burst`` (N paced copies of one segment
    with a sequence step), ``handshake`` (a crafted three-way handshake), ``stream``
    (in-order, self-clocked data segments), ``synflood`` (spoofed SYNs at an exact rate),
    ``sleep`` (sniff for a while) and ``quit``. The session ends at EOF on stdin.

``craft.py connect-rst --dst A --port P --count N --seconds S``
    N cycles of a kernel connect() followed by close() with SO_LINGER (1, 0), which makes
    the kernel send RST; prints one JSON line with the outcome.

Every loop is bounded in count and time, and the process asks the kernel to kill it when
its parent (the Deno scenario) dies.
"""

import ctypes
import errno
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_MARK = 36
IP_RECVERR = 11
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
PR_SET_PDEATHSIG = 1
CRAFT_MARK = 0x7C0DE

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
FLAG_BITS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, "A": ACK}
MOD = 1 << 32
HALF = 1 << 31

# Bounds of any one operation, whatever the request asks.
MAX_OP_SECONDS = 40.0
MAX_PACKETS_PER_OP = 1_000_000


def seq_add(a, b):
    return (a + b) % MOD


def seq_gt(a, b):
    """RFC 9293 §3.4 modular comparison: a > b."""
    return 0 < ((a - b) % MOD) < HALF


def seq_diff(a, b):
    """a - b as a signed 32-bit distance."""
    d = (a - b) % MOD
    return d - MOD if d >= HALF else d


def ip_int(text):
    return struct.unpack("!I", socket.inet_aton(text))[0]


def ip_text(n):
    return socket.inet_ntoa(struct.pack("!I", n))


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def words_sum(data):
    if len(data) % 2:
        data = bytes(data) + b"\0"
    return sum(struct.unpack("!%dH" % (len(data) // 2), data))


def parse_flags(text):
    f = 0
    for ch in text:
        f |= FLAG_BITS[ch]
    return f


def flags_text(f):
    return "".join(ch for ch, bit in FLAG_BITS.items() if f & bit)


def tcp_options(mss=None, wscale=None, sack_ok=False, ts=None):
    """RFC 9293 §3.2 option encoding, each option NOP-aligned to 4 bytes as Linux sends."""
    o = b""
    if mss is not None:
        o += struct.pack("!BBH", 2, 4, mss)
    if sack_ok:
        o += b"\x01\x01\x04\x02"
    if ts is not None:
        o += b"\x01\x01" + struct.pack("!BBII", 8, 10, ts[0] % MOD, ts[1] % MOD)
    if wscale is not None:
        o += b"\x01" + struct.pack("!BBB", 3, 3, wscale)
    return o


def build_segment(src, dst, sport, dport, seq, ack, flags, win, options=b"", payload=b""):
    """An IPv4 packet carrying one TCP segment, TCP checksum filled (the kernel fills the IP
    checksum and total length of IP_HDRINCL packets)."""
    doff = (20 + len(options)) // 4
    tcp = struct.pack(
        "!HHIIBBHHH", sport, dport, seq % MOD, ack % MOD, doff << 4, flags, win, 0, 0
    ) + options + payload
    pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(tcp))
    c = (~fold(words_sum(pseudo) + words_sum(tcp))) & 0xFFFF
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp


class SeqTemplate:
    """One segment whose sequence number changes per copy: the checksum is patched from a
    precomputed sum instead of being recomputed (the byte flood sends 300,000 of them)."""

    def __init__(self, packet):
        self.buf = bytearray(packet)
        ihl = (self.buf[0] & 15) * 4
        self.seq_off = ihl + 4
        self.sum_off = ihl + 16
        tcp = bytes(self.buf[ihl:])
        src, dst = struct.unpack_from("!II", self.buf, 12)
        pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(tcp))
        blank = bytearray(tcp)
        blank[4:8] = b"\0\0\0\0"
        blank[16:18] = b"\0\0"
        self.base = words_sum(pseudo) + words_sum(bytes(blank))

    def packet(self, seq):
        seq %= MOD
        struct.pack_into("!I", self.buf, self.seq_off, seq)
        c = (~fold(self.base + (seq >> 16) + (seq & 0xFFFF))) & 0xFFFF
        struct.pack_into("!H", self.buf, self.sum_off, c)
        return self.buf


def parse_options(b, start, end):
    """Options of interest: mss, wscale, sackOk, ts (tsval, tsecr)."""
    out = {}
    i = start
    while i < end:
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end:
            break
        ln = b[i + 1]
        if ln < 2 or i + ln > end:
            break
        if kind == 2 and ln == 4:
            out["mss"] = struct.unpack_from("!H", b, i + 2)[0]
        elif kind == 3 and ln == 3:
            out["wscale"] = b[i + 2]
        elif kind == 4 and ln == 2:
            out["sackOk"] = True
        elif kind == 8 and ln == 10:
            out["ts"] = list(struct.unpack_from("!II", b, i + 2))
        i += ln
    return out


def kind_of(flags, plen):
    if flags & RST:
        return "rst"
    if flags & SYN:
        return "synack" if flags & ACK else "syn"
    if flags & FIN:
        return "fin"
    return "data" if plen > 0 else "ack"


class Direction:
    """What the sniffer saw of one direction of one connection."""

    __slots__ = ("packets", "seq", "end", "ack", "win", "win_unscaled", "ts", "kinds", "syn")

    def __init__(self):
        self.packets = 0
        self.seq = None  # SEG.SEQ of the latest segment
        self.end = None  # highest SEG.SEQ + SEG.LEN seen (SYN and FIN count)
        self.ack = None  # latest SEG.ACK (of segments with ACK set)
        self.win = None  # latest raw window field
        self.win_unscaled = False  # it came from a SYN (RFC 7323 §2.2: never scaled)
        self.ts = None  # latest [TSval, TSecr]
        self.kinds = {}
        self.syn = None  # options of the SYN or SYN-ACK, with its sequence number

    def as_dict(self):
        return {
            "packets": self.packets,
            "seq": self.seq,
            "end": self.end,
            "ack": self.ack,
            "win": self.win,
            "winUnscaled": self.win_unscaled,
            "ts": self.ts,
            "kinds": dict(self.kinds),
            "syn": self.syn,
        }


class Flow:
    """A connection between a peer (kernel-side address, possibly spoofed) and the stack."""

    __slots__ = ("to_stack", "from_stack")

    def __init__(self):
        self.to_stack = Direction()
        self.from_stack = Direction()


class Session:
    def __init__(self, ifname, stack_ip, kernel_ip, outgoing):
        self.ifname = ifname
        self.stack_ip = ip_int(stack_ip)
        self.kernel_ip = ip_int(kernel_ip)
        self.t0 = time.monotonic()
        self.flows = {}
        self.counters = {}
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.raw.setsockopt(socket.SOL_SOCKET, SO_MARK, CRAFT_MARK)
        self.raw.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
        # Without IP_RECVERR a full device queue drops raw packets silently (raw_send_hdrinc).
        self.raw.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        self.send_errors = 0
        # ETH_P_ALL: a protocol-specific packet socket is not shown outgoing packets.
        self.sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        self.sniff.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        if not outgoing:
            self.sniff.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sniff.bind((ifname, ETH_P_ALL))
        self.sniff.setblocking(False)
        self.rbuf = bytearray(65536)
        self.sniffed = 0
        self.kernel_drops = 0
        self.ts_base = random.getrandbits(32)

    # -- sniffing ------------------------------------------------------------------------

    def drain(self, limit=20000):
        """Reads what the sniffer has queued (at most `limit` packets)."""
        buf = self.rbuf
        mv = memoryview(buf)
        recv = self.sniff.recv_into
        for _ in range(limit):
            try:
                n = recv(mv)
            except BlockingIOError:
                return
            self.on_packet(buf, n)

    def wait(self, seconds):
        """Sniffs for `seconds` (at most MAX_OP_SECONDS)."""
        end = time.monotonic() + min(seconds, MAX_OP_SECONDS)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.drain()
                return
            select.select([self.sniff], [], [], left)
            self.drain()

    def on_packet(self, b, n):
        if n < 40 or (b[0] >> 4) != 4 or b[9] != 6:
            return
        self.sniffed += 1
        ihl = (b[0] & 15) * 4
        total = (b[2] << 8) | b[3]
        src, dst = struct.unpack_from("!II", b, 12)
        if n < ihl + 20:
            return
        sport, dport, seq, ack, offflags, win = struct.unpack_from("!HHIIHH", b, ihl)
        doff = (offflags >> 12) * 4
        flags = offflags & 0x3F
        plen = min(total, n) - ihl - doff
        kind = kind_of(flags, plen)
        if src == self.stack_ip:
            key = ("kernel:" if dst == self.kernel_ip else "other:") + kind
            fkey = (dst, dport, sport)
            outbound = True
        elif dst == self.stack_ip:
            key = "toStack:" + kind
            fkey = (src, sport, dport)
            outbound = False
        else:
            return
        self.counters[key] = self.counters.get(key, 0) + 1
        flow = self.flows.get(fkey) if self.flows else None
        if flow is None:
            return
        d = flow.from_stack if outbound else flow.to_stack
        d.packets += 1
        d.kinds[kind] = d.kinds.get(kind, 0) + 1
        d.seq = seq
        end = seq_add(seq, plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0))
        if d.end is None or seq_gt(end, d.end):
            d.end = end
        if flags & ACK:
            d.ack = ack
        d.win = win
        d.win_unscaled = bool(flags & SYN)
        if doff > 20:
            o = parse_options(b, ihl + 20, ihl + doff)
            if "ts" in o:
                d.ts = o["ts"]
            if flags & SYN:
                o["seq"] = seq
                o["win"] = win
                d.syn = o

    def packet_stats(self):
        """Adds the kernel's PACKET_STATISTICS drops (reset by each read) to the total."""
        raw = self.sniff.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        _packets, drops = struct.unpack("II", raw)
        self.kernel_drops += drops

    # -- sending -------------------------------------------------------------------------

    def transmit(self, packet):
        dst = struct.unpack_from("!I", packet, 16)[0]
        for _ in range(200):
            try:
                self.raw.sendto(packet, (ip_text(dst), 0))
                return
            except OSError as e:
                # ENOBUFS (reported thanks to IP_RECVERR): the device queue is full; let the
                # stack catch up.
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    raise
                self.send_errors += 1
                self.wait(0.001)
        raise RuntimeError("raw send: device queue stayed full")

    def tsval(self):
        return seq_add(self.ts_base, int((time.monotonic() - self.t0) * 1000))

    def segment(self, spec):
        """A packet from a segment spec: src, dst, sport, dport, seq, ack, flags ("SA"...),
        win, and optionally mss, wscale, sackOk, ts ([tsval, tsecr]), payload (hex) or
        payloadLen (that many 'x' bytes)."""
        src = ip_int(spec.get("src", ip_text(self.kernel_ip)))
        dst = ip_int(spec.get("dst", ip_text(self.stack_ip)))
        payload = bytes.fromhex(spec["payload"]) if "payload" in spec else b"x" * int(
            spec.get("payloadLen", 0)
        )
        opts = tcp_options(
            spec.get("mss"), spec.get("wscale"), bool(spec.get("sackOk")), spec.get("ts")
        )
        return build_segment(
            src,
            dst,
            int(spec["sport"]),
            int(spec["dport"]),
            int(spec.get("seq", 0)),
            int(spec.get("ack", 0)),
            parse_flags(spec.get("flags", "A")),
            int(spec.get("win", 65535)),
            opts,
            payload,
        )

    # -- operations ----------------------------------------------------------------------

    def flow_of(self, req):
        peer = ip_int(req.get("peer", ip_text(self.kernel_ip)))
        return (peer, int(req["peerPort"]), int(req["stackPort"]))

    def op_watch(self, req):
        """Starts tracking the connection {peer, peerPort, stackPort}; forgets earlier state."""
        self.drain()
        self.flows[self.flow_of(req)] = Flow()
        return {}

    def op_flow(self, req):
        """What was seen of a watched connection: {toStack, fromStack} directions."""
        self.drain()
        f = self.flows.get(self.flow_of(req))
        if f is None:
            raise ValueError("flow is not watched")
        return {"toStack": f.to_stack.as_dict(), "fromStack": f.from_stack.as_dict()}

    def op_counters(self, req):
        """Packets seen on the device by kind: `kernel:K`/`other:K` from the stack to the
        kernel's address or to any other, `toStack:K` the other way."""
        self.drain()
        self.packet_stats()
        return {
            "counters": dict(self.counters),
            "sniffed": self.sniffed,
            "sniffDrops": self.kernel_drops,
            "sendRetries": self.send_errors,
        }

    def op_send(self, req):
        """Sends the segments of `segments` (specs, see `segment`) in order, back to back."""
        for spec in req["segments"][:MAX_PACKETS_PER_OP]:
            self.transmit(self.segment(spec))
        self.drain()
        return {"sent": len(req["segments"]), "atMs": self.now_ms()}

    def op_burst(self, req):
        """`count` copies of `segment`, the k-th with seq + k·seqStep (mod `seqModulo` when
        given), spread evenly over `durationMs` (0: as fast as possible)."""
        count = min(int(req["count"]), MAX_PACKETS_PER_OP)
        step = int(req.get("seqStep", 0))
        modulo = int(req.get("seqModulo", 0))
        duration = min(float(req.get("durationMs", 0)) / 1000, MAX_OP_SECONDS)
        spec = dict(req["segment"])
        seq0 = int(spec.get("seq", 0))
        spec["seq"] = 0
        tpl = SeqTemplate(self.segment(spec))
        t0 = time.monotonic()
        for k in range(count):
            if duration > 0:
                due = t0 + duration * k / count
                while time.monotonic() < due:
                    select.select([self.sniff], [], [], max(0, due - time.monotonic()))
                    self.drain()
            off = k * step
            if modulo:
                off %= modulo
            self.transmit(tpl.packet(seq0 + off))
            if (k & 63) == 63:
                self.drain()
        elapsed = time.monotonic() - t0
        self.drain()
        return {"sent": count, "startMs": self.ms(t0), "elapsedMs": round(elapsed * 1000, 1)}

    def op_handshake(self, req):
        """A crafted active open from {peer, peerPort} to {stackPort}: SYN with `isn`, `mss`,
        `wscale`, `sackOk`, `timestamps`; waits up to `timeoutMs` for the SYN-ACK; sends the
        ACK. Returns both initial sequence numbers and the stack's SYN-ACK options."""
        key = self.flow_of(req)
        self.flows[key] = flow = Flow()
        peer, pport, sport = key
        isn = int(req.get("isn", random.getrandbits(32)))
        ts = [self.tsval(), 0] if req.get("timestamps") else None
        win = int(req.get("win", 65535))
        syn = build_segment(
            peer,
            self.stack_ip,
            pport,
            sport,
            isn,
            0,
            SYN,
            win,
            tcp_options(req.get("mss", 1460), req.get("wscale"), bool(req.get("sackOk")), ts),
        )
        self.transmit(syn)
        deadline = time.monotonic() + min(float(req.get("timeoutMs", 3000)) / 1000, 10)
        while flow.from_stack.syn is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no SYN-ACK from the stack")
            select.select([self.sniff], [], [], left)
            self.drain()
        sa = flow.from_stack.syn
        if flow.from_stack.ack != seq_add(isn, 1):
            raise RuntimeError("SYN-ACK acknowledges %s, not ISN+1" % flow.from_stack.ack)
        tsok = ts is not None and "ts" in sa
        ack_opts = tcp_options(ts=[self.tsval(), sa["ts"][0]]) if tsok else b""
        self.transmit(
            build_segment(
                peer,
                self.stack_ip,
                pport,
                sport,
                seq_add(isn, 1),
                seq_add(sa["seq"], 1),
                ACK,
                win,
                ack_opts,
            )
        )
        self.drain()
        return {
            "isn": isn,
            "stackIsn": sa["seq"],
            "sndNxt": seq_add(isn, 1),
            "rcvNxt": seq_add(sa["seq"], 1),
            "synAck": sa,
            "timestamps": tsok,
        }

    def op_stream(self, req):
        """In-order data from {peer, peerPort} to {stackPort}: `count` segments of `size`
        bytes from `seq`, acknowledging `ack`, as fast as the stack's ACKs allow with at most
        `maxInFlight` segments unacknowledged and never past the stack's advertised window
        (scaled by `wscale`, the stack's shift). A segment lost on the way is sent again
        (go-back-N after `rtoMs` without progress). Stops after `seconds`, or when the window
        stays shut for `stallMs`."""
        key = self.flow_of(req)
        flow = self.flows.get(key)
        if flow is None:
            raise ValueError("flow is not watched")
        peer, pport, sport = key
        size = int(req.get("size", 1))
        count = min(int(req["count"]), MAX_PACKETS_PER_OP)
        seq0 = int(req["seq"])
        in_flight = int(req.get("maxInFlight", 256))
        shift = int(req.get("wscale", 0))
        rto = float(req.get("rtoMs", 300)) / 1000
        stall_limit = float(req.get("stallMs", 2000)) / 1000
        t_end = time.monotonic() + min(float(req.get("seconds", 25)), MAX_OP_SECONDS)
        tpl = SeqTemplate(
            build_segment(
                peer,
                self.stack_ip,
                pport,
                sport,
                0,
                int(req["ack"]),
                ACK | PSH,
                int(req.get("win", 65535)),
                b"",
                b"x" * size,
            )
        )
        total = count * size
        nxt = 0  # bytes sent (offset of the next byte to send)
        una = 0  # bytes the stack acknowledged
        sent = 0
        resent = 0
        stalls = 0
        last_progress = time.monotonic()
        shut_since = None
        outcome = "done"
        d = flow.from_stack
        t0 = time.monotonic()
        while una < total:
            now = time.monotonic()
            if now >= t_end:
                outcome = "time"
                break
            self.drain(4096)
            if d.ack is not None:
                acked = seq_diff(d.ack, seq0)
                if acked > una:
                    una = min(acked, total)
                    last_progress = now
            wnd = (d.win or 0) if d.win_unscaled else (d.win or 0) << shift
            right = una + wnd if d.ack is not None else size
            limit = min(total, una + in_flight * size, right)
            if nxt < una:
                nxt = una
            if nxt >= right and una < total:
                if shut_since is None:
                    shut_since = now
                    stalls += 1
                elif now - shut_since > stall_limit:
                    outcome = "window-closed"
                    break
            else:
                shut_since = None
            if now - last_progress > rto and nxt > una:
                resent += (nxt - una) // size
                nxt = una  # go back N
                last_progress = now
            burst = 0
            while nxt + size <= limit and burst < 64:
                self.transmit(tpl.packet(seq0 + nxt))
                nxt += size
                sent += 1
                burst += 1
            if burst == 0:
                select.select([self.sniff], [], [], 0.002)
        self.wait(0.05)
        if d.ack is not None:
            una = max(una, min(seq_diff(d.ack, seq0), total))
        return {
            "outcome": outcome,
            "segmentsSent": sent,
            "segmentsResent": resent,
            "bytesAcked": una,
            "bytesSentHighest": nxt,
            "windowStalls": stalls,
            "lastWindow": d.win,
            "elapsedMs": round((time.monotonic() - t0) * 1000, 1),
        }

    def op_synflood(self, req):
        """Exactly rate × seconds spoofed SYNs to {dst, dport}, the i-th due at i/rate s after
        the start, each from a random 10.0.X.Y (X in 1..255, Y in 1..254) and random port,
        with Linux-like options. `seed` makes the addresses reproducible."""
        rate = int(req["rate"])
        seconds = min(float(req["seconds"]), MAX_OP_SECONDS)
        total = min(int(rate * seconds), MAX_PACKETS_PER_OP)
        rng = random.Random(int(req.get("seed", 1)))
        dst = ip_int(req.get("dst", ip_text(self.stack_ip)))
        dport = int(req["dport"])
        sent = 0
        max_lag = 0.0
        t0 = time.monotonic()
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - t0) * rate) + 1)
            if due <= sent:
                wake = t0 + sent / rate
                select.select([self.sniff], [], [], max(0, wake - now))
                self.drain()
                continue
            max_lag = max(max_lag, now - (t0 + (due - 1) / rate))
            while sent < due:
                src = (10 << 24) | (rng.randint(1, 255) << 8) | rng.randint(1, 254)
                pkt = build_segment(
                    src,
                    dst,
                    rng.randint(1024, 65535),
                    dport,
                    rng.getrandbits(32),
                    0,
                    SYN,
                    64240,
                    tcp_options(1460, 7, True, [rng.getrandbits(32), 0]),
                )
                self.transmit(pkt)
                sent += 1
            self.drain()
        elapsed = time.monotonic() - t0
        self.drain()
        return {
            "sent": sent,
            "startMs": self.ms(t0),
            "elapsedMs": round(elapsed * 1000, 1),
            "maxLagMs": round(max_lag * 1000, 1),
        }

    def op_sleep(self, req):
        """Sniffs for `ms` milliseconds."""
        self.wait(float(req["ms"]) / 1000)
        return {}

    def now_ms(self):
        return self.ms(time.monotonic())

    def ms(self, t):
        return round((t - self.t0) * 1000, 1)

    def serve(self):
        out = sys.stdout
        out.write(json.dumps({"ready": True, "ifname": self.ifname}) + "\n")
        out.flush()
        pending = b""
        while True:
            r, _, _ = select.select([0, self.sniff], [], [], 1.0)
            if self.sniff in r:
                self.drain()
            if 0 not in r:
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return  # EOF: the scenario is done (or gone)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                req = json.loads(line)
                op = req.get("op")
                if op == "quit":
                    out.write(json.dumps({"id": req.get("id"), "ok": True}) + "\n")
                    out.flush()
                    return
                try:
                    fn = getattr(self, "op_" + str(op))
                    reply = {"id": req.get("id"), "ok": True}
                    reply.update(fn(req))
                except Exception as e:  # reported to the scenario, which fails the run
                    why = "%s: %s" % (type(e).__name__, e)
                    reply = {"id": req.get("id"), "ok": False, "error": why}
                out.write(json.dumps(reply) + "\n")
                out.flush()


def connect_rst(dst, port, count, seconds, timeout):
    """`count` cycles of connect() then an abortive close (SO_LINGER on, 0 s: RST)."""
    ok = failed = 0
    errors = {}
    consecutive = 0
    t0 = time.monotonic()
    for _ in range(count):
        if time.monotonic() - t0 > seconds or consecutive >= 20:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.settimeout(timeout)
        try:
            s.connect((dst, port))
            ok += 1
            consecutive = 0
        except OSError as e:
            failed += 1
            consecutive += 1
            name = type(e).__name__
            errors[name] = errors.get(name, 0) + 1
        finally:
            s.close()
    return {
        "cycles": ok + failed,
        "connected": ok,
        "failed": failed,
        "errors": errors,
        "elapsedMs": round((time.monotonic() - t0) * 1000, 1),
    }


def die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the stdin EOF and the time bounds still end the process


def arg(argv, name, default=None):
    if name in argv:
        return argv[argv.index(name) + 1]
    if default is None:
        raise SystemExit("missing " + name)
    return default


def main(argv):
    if os.environ.get("TCPTUN_IN_NETNS") != "1":
        print(json.dumps({"error": "refusing to run outside a throw-away network namespace"}))
        return 1
    die_with_parent()
    if not argv:
        raise SystemExit(__doc__)
    mode = argv[0]
    if mode == "session":
        s = Session(
            arg(argv, "--ifname"),
            arg(argv, "--stack-ip", "10.0.0.1"),
            arg(argv, "--kernel-ip", "10.0.0.2"),
            "--no-outgoing" not in argv,
        )
        s.serve()
        return 0
    if mode == "connect-rst":
        res = connect_rst(
            arg(argv, "--dst", "10.0.0.1"),
            int(arg(argv, "--port")),
            min(int(arg(argv, "--count", "3000")), 100000),
            min(float(arg(argv, "--seconds", "25")), MAX_OP_SECONDS),
            float(arg(argv, "--timeout", "0.5")),
        )
        print(json.dumps(res))
        return 0
    raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
