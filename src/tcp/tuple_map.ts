/**
 * A map keyed by a connection's 4-tuple as seen from one local address: remote address,
 * remote port and local port (48 + 16 bits, more than a JavaScript number holds exactly), as
 * a map of remote addresses to maps of port pairs. A stack usually talks to few addresses
 * (over a TUN link, often one), so its connections share a handful of inner maps instead of
 * costing one each. Connections, half-open records and TIME-WAIT records each live in one.
 * @module
 */

/**
 * Values by (remote address, remote port, local port).
 *
 * @example
 * ```ts
 * import { TupleMap } from "./tuple_map.ts";
 * const m = new TupleMap<string>();
 * m.set(0x0a000002, 40000, 80, "a");
 * console.log(m.get(0x0a000002, 40000, 80), m.size); // a 1
 * ```
 */
export class TupleMap<V> {
  readonly #byAddr = new Map<number, Map<number, V>>();
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value for the tuple, or undefined. */
  get(remoteAddr: number, remotePort: number, localPort: number): V | undefined {
    return this.#byAddr.get(remoteAddr)?.get(portsKey(remotePort, localPort));
  }

  /** Sets the value for the tuple. */
  set(remoteAddr: number, remotePort: number, localPort: number, value: V): void {
    let m = this.#byAddr.get(remoteAddr);
    if (!m) {
      m = new Map();
      this.#byAddr.set(remoteAddr, m);
    }
    const before = m.size;
    m.set(portsKey(remotePort, localPort), value);
    this.#size += m.size - before;
  }

  /** Removes the tuple's entry if it is `value` (or any entry, without `value`). */
  delete(remoteAddr: number, remotePort: number, localPort: number, value?: V): boolean {
    const m = this.#byAddr.get(remoteAddr);
    if (!m) return false;
    const key = portsKey(remotePort, localPort);
    if (value !== undefined && m.get(key) !== value) return false;
    if (!m.delete(key)) return false;
    this.#size--;
    if (m.size === 0) this.#byAddr.delete(remoteAddr);
    return true;
  }

  /** Every value. */
  *values(): IterableIterator<V> {
    for (const m of this.#byAddr.values()) yield* m.values();
  }
}

/**
 * The two ports as one signed 32-bit number: always a small integer to the engine, where
 * `remotePort * 65536 + localPort` passes 2^31 for every ephemeral remote port and each lookup
 * would box it (a heap number per packet).
 */
function portsKey(remotePort: number, localPort: number): number {
  return (remotePort << 16) | localPort;
}
