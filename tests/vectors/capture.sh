#!/usr/bin/env bash
# Captures real Linux kernel packets for the src/wire test vectors.
#
# Two network namespaces created here (and deleted on exit) joined by a veth pair with
# checksum offload turned off, so captured packets carry finished checksums. Inside them:
# a kernel TCP handshake, a little data both ways, a close, a loss-induced SACK, an RST
# for a closed port, and a ping. Writes the pcap to $1 (default /tmp/tcptun_vectors.pcap).
# Then: deno run -A tests/vectors/extract_pcap.ts <pcap> > tests/vectors/linux_packets.ts
set -euo pipefail
OUT=${1:-/tmp/tcptun_vectors.pcap}
A=tcptun_vec_a_$$
B=tcptun_vec_b_$$
cleanup() {
  [[ -n "${TCPDUMP_PID:-}" ]] && kill "$TCPDUMP_PID" 2>/dev/null || true
  [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add veth_a type veth peer name veth_b netns "$B"
ip -n "$A" addr add 10.99.0.1/24 dev veth_a
ip -n "$B" addr add 10.99.0.2/24 dev veth_b
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set veth_a up
ip -n "$B" link set veth_b up
# Finished checksums on the wire: no TX checksum offload, no segmentation offload.
ip netns exec "$A" ethtool -K veth_a tx off tso off gso off gro off >/dev/null
ip netns exec "$B" ethtool -K veth_b tx off tso off gso off gro off >/dev/null

ip netns exec "$A" tcpdump -i veth_a -s 0 -U -w "$OUT" 'tcp or icmp' 2>/dev/null &
TCPDUMP_PID=$!
sleep 1

# 1. Handshake, "hello\n" echoed back, orderly close (server in B echoes).
ip netns exec "$B" timeout 10 socat TCP-LISTEN:5000,reuseaddr PIPE &
SERVER_PID=$!
sleep 0.5
printf 'hello\n' | ip netns exec "$A" timeout 5 socat -t 1 - TCP:10.99.0.2:5000 >/dev/null
wait "$SERVER_PID" || true
SERVER_PID=

# 2. RST for a closed port.
ip netns exec "$A" timeout 5 socat -u /dev/null TCP:10.99.0.2:5001 2>/dev/null || true

# 3. Pings: 7 data bytes (odd length, no timestamp), then 16 (ping puts a timeval first).
ip netns exec "$A" timeout 5 ping -c 1 -s 7 10.99.0.2 >/dev/null
ip netns exec "$A" timeout 5 ping -c 1 -s 16 10.99.0.2 >/dev/null

# 4. Bulk data with one early segment dropped by the receiver, so it sends SACK blocks.
ip netns exec "$B" iptables -A INPUT -p tcp --dport 5002 -m length --length 1000:2000 \
  -m statistic --mode nth --every 1000 --packet 1 -j DROP
ip netns exec "$B" timeout 10 socat -u TCP-LISTEN:5002,reuseaddr /dev/null &
SERVER_PID=$!
sleep 0.5
head -c 20000 /dev/zero | ip netns exec "$A" timeout 5 socat -u - TCP:10.99.0.2:5002
wait "$SERVER_PID" || true
SERVER_PID=

sleep 1
kill "$TCPDUMP_PID"
wait "$TCPDUMP_PID" || true
TCPDUMP_PID=
echo "wrote $OUT" >&2
