/**
 * A map keyed by a connection's 4-tuple as seen from one local address: remote address,
 * remote port and local port (48 + 16 bits, more than a JavaScript number holds exactly), as
 * a map of port pairs to maps of remote addresses. Connections, half-open records and
 * TIME-WAIT records each live in one.
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
  readonly #byPorts = new Map<number, Map<number, V>>();
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value for the tuple, or undefined. */
  get(remoteAddr: number, remotePort: number, localPort: number): V | undefined {
    return this.#byPorts.get(portsKey(remotePort, localPort))?.get(remoteAddr);
  }

  /** Sets the value for the tuple. */
  set(remoteAddr: number, remotePort: number, localPort: number, value: V): void {
    const key = portsKey(remotePort, localPort);
    let m = this.#byPorts.get(key);
    if (!m) {
      m = new Map();
      this.#byPorts.set(key, m);
    }
    const before = m.size;
    m.set(remoteAddr, value);
    this.#size += m.size - before;
  }

  /** Removes the tuple's entry if it is `value` (or any entry, without `value`). */
  delete(remoteAddr: number, remotePort: number, localPort: number, value?: V): boolean {
    const key = portsKey(remotePort, localPort);
    const m = this.#byPorts.get(key);
    if (!m) return false;
    if (value !== undefined && m.get(remoteAddr) !== value) return false;
    if (!m.delete(remoteAddr)) return false;
    this.#size--;
    if (m.size === 0) this.#byPorts.delete(key);
    return true;
  }

  /** Every value. */
  *values(): IterableIterator<V> {
    for (const m of this.#byPorts.values()) yield* m.values();
  }
}

function portsKey(remotePort: number, localPort: number): number {
  return ((remotePort << 16) | localPort) >>> 0;
}
