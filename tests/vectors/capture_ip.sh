#!/usr/bin/env bash
# Captures real Linux kernel IPv6, ICMPv6 and ICMPv4-error packets for the src/wire tests.
#
# Three network namespaces created here (and deleted on exit): a host A, a router R and a host
# B, joined by two veth pairs with checksum and segmentation offload turned off, so captured
# packets carry finished checksums:
#
#   A a0 fd00:a::1 10.98.1.1 ── r0 fd00:a::2 10.98.1.2 [R] r1 fd00:b::2 10.98.2.2 ── b0 fd00:b::1 10.98.2.1
#
# R forwards, but towards B it sends at most 1280 bytes (IPv6 MTU of r1, IPv4 route MTU), so
# big packets from A draw a Packet Too Big / fragmentation needed; it holds an "unreachable"
# and a "prohibit" route. ICMP rate limits are off in R and B so every error is sent. tcpdump
# records A's side (a0). Scenarios: pings, a TCP exchange over IPv6, an RST, UDP to a closed
# port, PMTU errors from bulk TCP, no route / prohibited, hop limit / TTL exceeded, a fragmented
# ping, and hand-made packets (python3 raw sockets, built in tests/vectors/craft_ip.py) that
# make B (or R) answer with Parameter Problem messages: unknown options, an unknown Next
# Header, a type 0 Routing header, a Hop-by-Hop header that is not first, fragments with a bad
# length or an incomplete header chain, a bad IPv4 option. Plus Neighbor Discovery and MLD
# from an address added with DAD.
#
# Writes the pcap to $1 (default /tmp/tcptun_ip_vectors.pcap). Then:
#   deno run -A tests/vectors/extract_ip_pcap.ts <pcap> > tests/vectors/linux_ip_packets.ts
set -euo pipefail
OUT=${1:-/tmp/tcptun_ip_vectors.pcap}
HERE=$(cd "$(dirname "$0")" && pwd)
A=tcptun_ip_a_$$
R=tcptun_ip_r_$$
B=tcptun_ip_b_$$
cleanup() {
  [[ -n "${TCPDUMP_PID:-}" ]] && kill "$TCPDUMP_PID" 2>/dev/null || true
  [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$R" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$R"
ip netns add "$B"
ip -n "$A" link add a0 type veth peer name r0 netns "$R"
ip -n "$B" link add b0 type veth peer name r1 netns "$R"
for ns in "$A" "$R" "$B"; do
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_ratelimit=0
done
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
ip -n "$A" addr add fd00:a::1/64 dev a0 nodad
ip -n "$A" addr add 10.98.1.1/24 dev a0
ip -n "$R" addr add fd00:a::2/64 dev r0 nodad
ip -n "$R" addr add 10.98.1.2/24 dev r0
ip -n "$R" addr add fd00:b::2/64 dev r1 nodad
ip -n "$R" addr add 10.98.2.2/24 dev r1
ip -n "$B" addr add fd00:b::1/64 dev b0 nodad
ip -n "$B" addr add 10.98.2.1/24 dev b0
ip -n "$A" link set a0 up
ip -n "$R" link set r0 up
ip -n "$R" link set r1 up
ip -n "$B" link set b0 up
for pair in "$A a0" "$R r0" "$R r1" "$B b0"; do
  set -- $pair
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null
done
ip -n "$A" -6 route add default via fd00:a::2
ip -n "$A" route add default via 10.98.1.2
ip -n "$B" -6 route add default via fd00:b::2
ip -n "$B" route add default via 10.98.2.2
# The path R -> B is narrower than A's link: 1280 bytes (the IPv6 minimum MTU). For IPv6 a
# forwarding router uses the interface's mtu6 (a route MTU counts only when locked).
ip netns exec "$R" sysctl -qw net.ipv6.conf.r1.mtu=1280
ip -n "$R" route replace 10.98.2.0/24 dev r1 mtu 1280
ip -n "$R" -6 route add unreachable fd00:dead::/64
ip -n "$R" -6 route add prohibit fd00:beef::/64
ip -n "$R" route add unreachable 10.98.66.0/24
ip -n "$R" route add prohibit 10.98.77.0/24

ip netns exec "$A" tcpdump -i a0 -s 0 -U -w "$OUT" 'ip6 or icmp or tcp' 2>/dev/null &
TCPDUMP_PID=$!
sleep 1
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

# 1. Pings over IPv6: 7 data bytes (odd), then 16.
inA timeout 5 ping -6 -c 1 -s 7 fd00:b::1 >/dev/null
inA timeout 5 ping -6 -c 1 -s 16 fd00:b::1 >/dev/null

# 2. A TCP exchange over IPv6: handshake, "hello\n" echoed, close.
inB timeout 10 socat TCP6-LISTEN:5000,reuseaddr PIPE &
SERVER_PID=$!
sleep 0.5
printf 'hello\n' | inA timeout 5 socat -t 1 - 'TCP6:[fd00:b::1]:5000' >/dev/null
wait "$SERVER_PID" || true
SERVER_PID=

# 3. RST for a closed port over IPv6.
inA timeout 5 socat -u /dev/null 'TCP6:[fd00:b::1]:5001' 2>/dev/null || true

# 4. UDP to closed ports: ICMPv6 and ICMPv4 port unreachable quoting the datagram.
printf 'ping' | inA timeout 2 socat -u - 'UDP6:[fd00:b::1]:5003' || true
printf 'ping' | inA timeout 2 socat -u - UDP4:10.98.2.1:5003 || true
sleep 0.3

# 5. Bulk TCP A -> B over each family: R answers the first full-sized segment with Packet Too
#    Big (MTU 1280) / fragmentation needed (next-hop MTU 1280), quoting it.
inB timeout 10 socat -u TCP6-LISTEN:5002,reuseaddr /dev/null &
SERVER_PID=$!
sleep 0.5
head -c 6000 /dev/zero | inA timeout 5 socat -u - 'TCP6:[fd00:b::1]:5002'
wait "$SERVER_PID" || true
inB timeout 10 socat -u TCP4-LISTEN:5002,reuseaddr /dev/null &
SERVER_PID=$!
sleep 0.5
head -c 6000 /dev/zero | inA timeout 5 socat -u - TCP4:10.98.2.1:5002
wait "$SERVER_PID" || true
SERVER_PID=

# 6. No route and administratively prohibited, for a SYN of each family.
inA python3 "$HERE/craft_ip.py" syn fd00:dead::1 5006
inA python3 "$HERE/craft_ip.py" syn fd00:beef::1 5007
inA python3 "$HERE/craft_ip.py" syn 10.98.66.1 5006
inA python3 "$HERE/craft_ip.py" syn 10.98.77.1 5007

# 7. Hop limit / TTL 1: R answers Time Exceeded quoting the SYN.
inA python3 "$HERE/craft_ip.py" syn-hop1 fd00:b::1 5004
inA python3 "$HERE/craft_ip.py" syn-hop1 10.98.2.1 5004

# 8. A ping too big for the path: sent (and answered) in fragments.
inA timeout 5 ping -6 -c 1 -s 1600 fd00:b::1 >/dev/null || true

# 9. Hand-made packets that draw Parameter Problem messages, and ones that must not.
inA python3 "$HERE/craft_ip.py" param fd00:a::1 fd00:b::1 10.98.1.1 10.98.2.1
sleep 0.5

# 10. Neighbor Discovery and MLD: a new address with DAD joins its solicited-node group.
ip -n "$A" addr add fd00:a::77/64 dev a0
sleep 2.5

kill "$TCPDUMP_PID"
wait "$TCPDUMP_PID" || true
TCPDUMP_PID=
echo "wrote $OUT" >&2
