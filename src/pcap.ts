/**
 * A writer for classic pcap capture files (the libpcap format read by tcpdump, tshark and
 * Wireshark) holding raw IP packets, IPv4 and IPv6 alike (LINKTYPE_RAW: the version nibble
 * tells them apart).
 *
 * Records are batched in one reused buffer and written with synchronous writes when the buffer
 * fills and at `close()`, so a capture costs one copy per packet and no allocation.
 * @module
 */

/** pcap magic number for microsecond timestamps, written in little-endian byte order. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** Largest number of bytes kept per packet. */
export const PCAP_SNAPLEN = 65535;
/** Link type for raw IP packets without a link-layer header. */
export const LINKTYPE_RAW = 101;

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const DEFAULT_BUFFER_SIZE = 256 * 1024;

/** A synchronous byte sink, such as a `Deno.FsFile`. */
export interface SyncSink {
  /** Writes some of `p`, returning how many bytes were written. */
  writeSync(p: Uint8Array): number;
  /** Releases the sink. */
  close(): void;
}

/** Options for `PcapWriter`. */
export interface PcapWriterOptions {
  /** Bytes buffered before a write to the sink. Default 256 KiB. */
  bufferSize?: number;
}

/**
 * Writes packets to a pcap file.
 * @example
 * ```ts
 * import { PcapWriter } from "./pcap.ts";
 * const path = Deno.makeTempFileSync({ suffix: ".pcap" });
 * const pcap = PcapWriter.create(path);
 * pcap.write(new Uint8Array(20), Date.now());
 * pcap.close();
 * Deno.removeSync(path);
 * ```
 */
export class PcapWriter {
  #sink: SyncSink;
  #buf: Uint8Array;
  #view: DataView;
  #used = 0;
  #closed = false;
  /** Packets written so far. */
  packets = 0;

  /**
   * Starts a capture on `sink`, writing the global header at once into the buffer.
   * @param sink where the file bytes go; closed by `close()`
   */
  constructor(sink: SyncSink, opts: PcapWriterOptions = {}) {
    const size = Math.max(opts.bufferSize ?? DEFAULT_BUFFER_SIZE, GLOBAL_HEADER_LENGTH);
    this.#sink = sink;
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
    const v = this.#view;
    v.setUint32(0, PCAP_MAGIC, true);
    v.setUint16(4, 2, true); // version major
    v.setUint16(6, 4, true); // version minor
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, PCAP_SNAPLEN, true);
    v.setUint32(20, LINKTYPE_RAW, true);
    this.#used = GLOBAL_HEADER_LENGTH;
  }

  /**
   * Creates (or truncates) the file at `path` and starts a capture in it.
   * @throws the `Deno.errors.*` error from opening the file
   */
  static create(path: string, opts?: PcapWriterOptions): PcapWriter {
    const file = Deno.openSync(path, { write: true, create: true, truncate: true });
    return new PcapWriter(file, opts);
  }

  /**
   * Appends one packet.
   * @param packet a whole IP packet; bytes beyond the snap length are not kept
   * @param timeMs wall-clock time in milliseconds since the Unix epoch (fractions kept to 1 µs)
   */
  write(packet: Uint8Array, timeMs: number): void {
    if (this.#closed) return;
    const caplen = Math.min(packet.length, PCAP_SNAPLEN);
    if (this.#used + RECORD_HEADER_LENGTH + caplen > this.#buf.length) this.flush();
    let sec = Math.floor(timeMs / 1000);
    let usec = Math.round((timeMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    if (RECORD_HEADER_LENGTH + caplen > this.#buf.length) {
      // Larger than the whole buffer: write header and packet straight through.
      this.#record(0, sec, usec, caplen, packet.length);
      this.#writeAll(this.#buf.subarray(0, RECORD_HEADER_LENGTH));
      this.#writeAll(packet.subarray(0, caplen));
    } else {
      this.#record(this.#used, sec, usec, caplen, packet.length);
      this.#buf.set(packet.subarray(0, caplen), this.#used + RECORD_HEADER_LENGTH);
      this.#used += RECORD_HEADER_LENGTH + caplen;
    }
    this.packets++;
  }

  #record(at: number, sec: number, usec: number, caplen: number, origLen: number): void {
    const v = this.#view;
    v.setUint32(at, sec >>> 0, true);
    v.setUint32(at + 4, usec, true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, origLen, true);
  }

  #writeAll(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += this.#sink.writeSync(bytes.subarray(off));
  }

  /** Writes buffered records to the sink. */
  flush(): void {
    if (this.#used === 0) return;
    this.#writeAll(this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }

  /** Flushes and closes the sink. Further writes are ignored; a second close does nothing. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      this.#sink.close();
    }
  }
}
