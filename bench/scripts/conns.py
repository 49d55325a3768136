#!/usr/bin/env python3
"""Idle-connection scale for tcptun's benchmark (bench/bench.ts), run inside its namespace.

usage: conns.py client HOST PORT N PID [WARMUP]
       conns.py serve HOST PORT

client: opens and closes WARMUP connections (default 0), then opens N connections one after another
with blocking connect() calls, each sending one byte, and keeps them open. 1.5 s after the last
one it reads the resident set size of server process PID and prints

    RESULT conns n=N open_per_s=R rss_before_kib=A rss_after_kib=B per_conn_kib=C

then closes them. A thin client (one syscall per step) so that the open rate measures the
server.

serve: the kernel baseline. Listens on HOST:PORT (backlog 4096) and accepts in a loop, holding
every connection (the kernel keeps the byte each one sent); prints "ready". Exits after five
minutes at most.

Both raise RLIMIT_NOFILE's soft limit (up to the hard one) when they need more descriptors.
"""
import resource
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_nofile(need):
    """Raises the soft RLIMIT_NOFILE to at least `need`; False when the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return True
    if hard != resource.RLIM_INFINITY and hard < need:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return True


def serve(host, port):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    raise_nofile(hard if hard != resource.RLIM_INFINITY else 1 << 20)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(4096)
    listener.settimeout(1.0)
    print("ready", flush=True)
    held = []
    end = time.monotonic() + 300
    while time.monotonic() < end:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        held.append(conn)
    return 0


def client(host, port, n, pid, warmup):
    if not raise_nofile(n + 64):
        print(f"RESULT conns failed: needs RLIMIT_NOFILE {n + 64}")
        return 1
    for _ in range(warmup):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(b"x")
    time.sleep(0.5)
    before = rss_kib(pid)
    socks = []
    t0 = time.monotonic()
    try:
        for _ in range(n):
            s = socket.create_connection((host, port), timeout=10)
            socks.append(s)
            s.sendall(b"x")
    except OSError as e:
        print(f"RESULT conns failed after {len(socks)}: {e}")
        return 1
    secs = time.monotonic() - t0
    time.sleep(1.5)
    after = rss_kib(pid)
    print(f"RESULT conns n={n} open_per_s={n / secs:.0f} rss_before_kib={before} "
          f"rss_after_kib={after} per_conn_kib={(after - before) / n:.2f}", flush=True)
    for s in socks:
        s.close()
    return 0


def main(argv):
    if len(argv) >= 6 and argv[1] == "client":
        warmup = int(argv[6]) if len(argv) > 6 else 0
        return client(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), warmup)
    if len(argv) == 4 and argv[1] == "serve":
        return serve(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
