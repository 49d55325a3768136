/**
 * Helpers over `linux_ip_packets.ts` for the wire tests: a captured packet's bytes and facts by
 * name, and tshark's textual numbers as numbers.
 * @module
 */

import { LINUX_IP_PACKETS, type LinuxIpPacket } from "./linux_ip_packets.ts";
import { fromHex } from "./util.ts";

/** The captured packet called `name` (throws when there is none: a test-data mistake). */
export function captured(name: string): LinuxIpPacket & { bytes: Uint8Array } {
  const p = LINUX_IP_PACKETS.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no captured packet ${name}`);
  return { ...p, bytes: fromHex(p.hex) };
}

/** tshark's value of `field` at occurrence `index` (0: the outer packet) as a number. */
export function fact(p: LinuxIpPacket, field: string, index = 0): number {
  const v = p.f[field]?.[index];
  if (v === undefined) throw new Error(`${p.name}: no ${field}[${index}]`);
  if (v === "True") return 1;
  if (v === "False") return 0;
  return v.startsWith("0x") ? parseInt(v, 16) : Number(v);
}

/** tshark's textual value of `field` at occurrence `index`. */
export function factText(p: LinuxIpPacket, field: string, index = 0): string {
  const v = p.f[field]?.[index];
  if (v === undefined) throw new Error(`${p.name}: no ${field}[${index}]`);
  return v;
}

export { LINUX_IP_PACKETS };
