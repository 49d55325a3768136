/**
 * Test helper: a `TunDevice` over one end of an `AF_UNIX` datagram socketpair, which behaves
 * like a TUN fd (one packet per read, non-blocking). The test plays the kernel on the other
 * end, `peer`. No root needed. Linux only (the socketpair constants are Linux's).
 * @module
 */

import { TunDevice, type TunDeviceInit } from "./tun.ts";
import { socketpair } from "./libc.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK } from "./linux.ts";

/** A device named `pair0` (MTU 1500, 10.0.0.1 ↔ 10.0.0.2) with `init` on top, and its peer fd. */
export function socketpairTun(
  init: Partial<Omit<TunDeviceInit, "fd">> = {},
): { dev: TunDevice; peer: number } {
  const [a, b] = socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const dev = new TunDevice({
    fd: a,
    name: "pair0",
    mtu: 1500,
    tunIp: "10.0.0.1",
    localIp: "10.0.0.2",
    ...init,
  });
  return { dev, peer: b };
}
