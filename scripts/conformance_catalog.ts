/**
 * Every labelled requirement of RFC 9293 (Appendix B, "TCP Requirement Summary"): all
 * MUST-n and SHLD-n, plus the MAY-n and REC-n labels, numbered as in the RFC, each with
 * its section, a one-line summary, and where tcptun stands on it.
 *
 * `status` says what the code does today:
 * - "implemented": the behaviour is in the code; a test that checks it carries the ID in
 *   its name. Without such a test the table lists it as "implemented, untested".
 * - "n/a": the requirement cannot apply to a single-address user-space stack over a TUN
 *   device; `reason` says why. A test naming an n/a ID is an error.
 * - "not implemented": `reason` says what is missing. A test naming it is an error too.
 *
 * `pending` marks work in progress elsewhere (status "implemented", tests not landed yet);
 * `note` adds how or a caveat; `gap` records a known deviation that the table shows.
 * `scripts/conformance.ts` joins this catalog with the test names.
 * @module
 */

/** Requirement levels as RFC 9293 labels them. */
export type Level = "MUST" | "SHLD" | "MAY" | "REC";

/** Where tcptun stands on a requirement. */
export type Status = "implemented" | "n/a" | "not implemented";

/** One labelled requirement of RFC 9293. */
export interface Requirement {
  /** The RFC's label, e.g. "MUST-13". */
  id: string;
  /** The RFC 9293 section whose text carries the label. */
  section: string;
  /** What it asks, in one line. */
  summary: string;
  /** See the module documentation. */
  status: Status;
  /** Why it is n/a or not implemented (required for those). */
  reason?: string;
  /** Being implemented in parallel; what is still to land. */
  pending?: string;
  /** How it is met, or a caveat. */
  note?: string;
  /** A known deviation from the requirement. */
  gap?: string;
}

const ONE_ADDRESS = "a stack owns exactly one IPv4 address, its end of the TUN link: " +
  "there is no other local address to choose";
const NO_SOURCE_ROUTE = "tcptun sends no IP options and does not act on received ones; " +
  "source-routed IPv4 is deprecated and dropped by routers (RFC 7126 §4.3, §4.4)";

/** The catalog, in RFC order of the labels. */
export const REQUIREMENTS: readonly Requirement[] = [
  // ---- MUST ----------------------------------------------------------------------------
  {
    id: "MUST-1",
    section: "3.1",
    summary: "Treat the window field as an unsigned number.",
    status: "implemented",
  },
  {
    id: "MUST-2",
    section: "3.1",
    summary: "The sender computes the checksum over pseudo-header, header and data.",
    status: "implemented",
  },
  {
    id: "MUST-3",
    section: "3.1",
    summary: "The receiver verifies the checksum.",
    status: "implemented",
    note: "a segment that fails is counted (badTcpChecksum) and dropped",
  },
  {
    id: "MUST-4",
    section: "3.1",
    summary: "Support the mandatory options: End of Option List, No-Operation and MSS.",
    status: "implemented",
  },
  {
    id: "MUST-5",
    section: "3.1",
    summary: "Accept a TCP option in any segment, not only in a SYN.",
    status: "implemented",
  },
  {
    id: "MUST-6",
    section: "3.1",
    summary: "Ignore without error an option it does not implement (skipped by its length).",
    status: "implemented",
  },
  {
    id: "MUST-7",
    section: "3.1",
    summary: "Cope with an illegal option length, such as zero.",
    status: "implemented",
    note: "the segment is rejected (BadOption), counted and dropped; parsing never throws",
  },
  {
    id: "MUST-8",
    section: "3.4.1",
    summary: "Select initial sequence numbers with a clock-driven component.",
    status: "implemented",
    note: "M ticks every 4 µs (RFC 6528)",
  },
  {
    id: "MUST-9",
    section: "3.4.1",
    summary: "The ISN's pseudorandom function cannot be computed from outside the host.",
    status: "implemented",
    note: "SipHash-2-4 keyed with 16 bytes from crypto.getRandomValues at stack start",
  },
  {
    id: "MUST-10",
    section: "3.5",
    summary: "Support simultaneous open.",
    status: "implemented",
  },
  {
    id: "MUST-11",
    section: "3.5",
    summary: "Remember whether SYN-RECEIVED came from a passive or an active OPEN.",
    status: "implemented",
    note: "a passive connection reset in SYN-RECEIVED returns quietly to LISTEN; " +
      "an active one reports the connection refused",
  },
  {
    id: "MUST-12",
    section: "3.6",
    summary: "Tell the application whether the peer closed normally (FIN) or aborted (RST).",
    status: "implemented",
    note: "FIN ends the readable stream; RST fails it with Deno.errors.ConnectionReset",
  },
  {
    id: "MUST-13",
    section: "3.6.1",
    summary: "After an active close, linger in TIME-WAIT for 2·MSL.",
    status: "implemented",
    note: "MSL defaults to 30 s (TIME-WAIT 60 s, as Linux); the mslMs option sets it",
  },
  {
    id: "MUST-14",
    section: "3.7.1",
    summary: "Implement both sending and receiving the MSS option.",
    status: "implemented",
  },
  {
    id: "MUST-15",
    section: "3.7.1",
    summary: "Without an MSS option from the peer, assume a send MSS of 536 (IPv4).",
    status: "implemented",
    note: "IPv4 only (the 1220 default for IPv6 awaits IPv6)",
  },
  {
    id: "MUST-16",
    section: "3.7.1",
    summary: "Send at most the effective MSS: the smaller of the peer's MSS and what IP " +
      "allows, less TCP and IP option sizes.",
    status: "implemented",
  },
  {
    id: "MUST-17",
    section: "3.7.4",
    summary: "The application can disable Nagle's algorithm on a connection.",
    status: "implemented",
    note: "noDelay (connect option, stack option, CLI --no-delay)",
  },
  {
    id: "MUST-18",
    section: "3.8.1",
    summary: "Compute the RTO as RFC 6298 says, with Karn's algorithm for RTT samples.",
    status: "implemented",
    note: "a retransmitted segment never gives an RTT sample unless timestamps date it",
  },
  {
    id: "MUST-19",
    section: "3.8.2",
    summary: "Implement slow start, congestion avoidance and exponential RTO backoff.",
    status: "implemented",
  },
  {
    id: "MUST-20",
    section: "3.8.3",
    summary: "On excessive retransmission, give notice at threshold R1 and close the " +
      "connection at R2.",
    status: "implemented",
  },
  {
    id: "MUST-21",
    section: "3.8.3",
    summary: "The application can set R2 (the user timeout) for a connection.",
    status: "implemented",
  },
  {
    id: "MUST-22",
    section: "3.8.3",
    summary: "Handle SYN retransmissions like data retransmissions, telling the application.",
    status: "implemented",
    note: "synRetries; the open fails with Deno.errors.TimedOut",
  },
  {
    id: "MUST-23",
    section: "3.8.3",
    summary: "R2 for a SYN lets its retransmissions go on for at least 3 minutes.",
    status: "implemented",
  },
  {
    id: "MUST-24",
    section: "3.8.4",
    summary: "The application can turn keep-alives on or off for each connection.",
    status: "implemented",
  },
  {
    id: "MUST-25",
    section: "3.8.4",
    summary: "Keep-alives default to off.",
    status: "implemented",
  },
  {
    id: "MUST-26",
    section: "3.8.4",
    summary: "Send a keep-alive only when nothing is outstanding and nothing arrived for " +
      "the interval.",
    status: "implemented",
  },
  {
    id: "MUST-27",
    section: "3.8.4",
    summary: "The keep-alive interval is configurable.",
    status: "implemented",
    note: "keepAlive.idleMs",
  },
  {
    id: "MUST-28",
    section: "3.8.4",
    summary: "The keep-alive interval defaults to at least two hours.",
    status: "implemented",
  },
  {
    id: "MUST-29",
    section: "3.8.4",
    summary: "Do not take one unanswered keep-alive as a dead connection.",
    status: "implemented",
    note: "9 unanswered probes by default",
  },
  {
    id: "MUST-30",
    section: "3.8.5",
    summary: "Support the urgent mechanism.",
    status: "implemented",
  },
  {
    id: "MUST-31",
    section: "3.8.5",
    summary: "Support urgent data of any length.",
    status: "implemented",
  },
  {
    id: "MUST-32",
    section: "3.8.5",
    summary: "Tell the application asynchronously when urgent data begins or the urgent " +
      "pointer advances.",
    status: "implemented",
  },
  {
    id: "MUST-33",
    section: "3.8.5",
    summary: "Let the application learn whether (or how much) urgent data remains to read.",
    status: "implemented",
  },
  {
    id: "MUST-34",
    section: "3.8.6",
    summary: "The sender is robust against a shrinking window (a negative usable window).",
    status: "implemented",
  },
  {
    id: "MUST-35",
    section: "3.8.6",
    summary: "If the window shrinks to zero, probe it in the standard way.",
    status: "implemented",
  },
  {
    id: "MUST-36",
    section: "3.8.6.1",
    summary: "Support probing of zero windows.",
    status: "implemented",
  },
  {
    id: "MUST-37",
    section: "3.8.6.1",
    summary: "Keep the connection open as long as zero-window probes are answered.",
    status: "implemented",
  },
  {
    id: "MUST-38",
    section: "3.8.6.2.1",
    summary: "Avoid the silly window syndrome in the sender.",
    status: "implemented",
  },
  {
    id: "MUST-39",
    section: "3.8.6.2.2",
    summary: "Avoid the silly window syndrome in the receiver.",
    status: "implemented",
  },
  {
    id: "MUST-40",
    section: "3.8.6.3",
    summary: "Delay an ACK by less than 0.5 s.",
    status: "implemented",
    note: "40 ms by default; the delayedAckMs option is not checked against the bound",
  },
  {
    id: "MUST-41",
    section: "3.9.1.1",
    summary: "A passive OPEN creates a new LISTEN or fails, and never disturbs an existing " +
      "connection.",
    status: "implemented",
    note: "listening on a port in use throws Deno.errors.AddrInUse",
  },
  {
    id: "MUST-42",
    section: "3.9.1.1",
    summary: "Allow LISTEN on a port while a connection with that local port is in " +
      "SYN-SENT or SYN-RECEIVED.",
    status: "implemented",
    note: "listeners and connections are looked up apart",
  },
  {
    id: "MUST-43",
    section: "3.9.1.1",
    summary: "OPEN accepts an optional local IP address.",
    status: "n/a",
    reason: ONE_ADDRESS,
  },
  {
    id: "MUST-44",
    section: "3.9.1.1",
    summary: "A multihomed host asks IP for a source address before the first SYN when " +
      "the application named none.",
    status: "n/a",
    reason: ONE_ADDRESS,
  },
  {
    id: "MUST-45",
    section: "3.9.1.1",
    summary: "Keep using the local address of the segments already sent or received.",
    status: "implemented",
    note: "every segment leaves from the stack's one address",
  },
  {
    id: "MUST-46",
    section: "3.9.1.1",
    summary: "Reject an active OPEN to an invalid remote address (broadcast, multicast).",
    status: "implemented",
  },
  {
    id: "MUST-47",
    section: "3.9.1.8",
    summary: "Report soft errors to the application asynchronously (ERROR_REPORT).",
    status: "implemented",
    note: 'TcpConn events: "softerror" for a believed ICMP soft error (TcpConn.softError names ' +
      'it; it is also named in a later timeout error), "stalled" for the R1 notice',
  },
  {
    id: "MUST-48",
    section: "3.9.1.9",
    summary: "The application can set the Diffserv field (TOS) of the segments it sends.",
    status: "implemented",
  },
  {
    id: "MUST-49",
    section: "3.9.2",
    summary: "The TTL of sent segments is configurable.",
    status: "implemented",
  },
  {
    id: "MUST-50",
    section: "3.9.2",
    summary: "Ignore IP options that TCP does not understand.",
    status: "implemented",
    note: "IPv4 options are skipped by the header length",
  },
  {
    id: "MUST-51",
    section: "3.9.2.1",
    summary: "The application can give a source route on an active OPEN.",
    status: "n/a",
    reason: NO_SOURCE_ROUTE,
  },
  {
    id: "MUST-52",
    section: "3.9.2.1",
    summary: "A source route from the application overrides one received in a datagram.",
    status: "n/a",
    reason: NO_SOURCE_ROUTE,
  },
  {
    id: "MUST-53",
    section: "3.9.2.1",
    summary: "On a passive OPEN, save a received return route and use it for the connection.",
    status: "n/a",
    reason: NO_SOURCE_ROUTE,
  },
  {
    id: "MUST-54",
    section: "3.9.2.2",
    summary: "Act on an ICMP error, directing it to the connection that caused it.",
    status: "implemented",
    note: "the quoted 4-tuple finds the connection; it believes the error only when the " +
      "quoted sequence number is in flight (RFC 5927 §4.1)",
  },
  {
    id: "MUST-55",
    section: "3.9.2.2",
    summary: "Silently discard ICMP Source Quench.",
    status: "implemented",
    note: "a believed source quench changes nothing (RFC 6633)",
  },
  {
    id: "MUST-56",
    section: "3.9.2.2",
    summary: "Do not abort on ICMP soft errors (unreachable 0, 1, 5; time exceeded; " +
      "parameter problem).",
    status: "implemented",
    note: "soft errors are kept and named if the connection times out",
    gap: "in SYN-SENT, network and host unreachable fail the open at once, as most stacks " +
      "do (RFC 5461 §4)",
  },
  {
    id: "MUST-57",
    section: "3.9.2.3",
    summary: "Silently discard a SYN addressed to a broadcast or multicast address.",
    status: "implemented",
    note: "only packets to the stack's own unicast address reach TCP (counted notForUs)",
  },
  {
    id: "MUST-58",
    section: "3.10.7.4",
    summary: "Aggregate ACKs whenever possible.",
    status: "implemented",
    note: "stretch ACKs: one per read batch (at most 16 segments or 64 KiB); a lone segment " +
      "waits for the 40 ms delayed ACK",
  },
  {
    id: "MUST-59",
    section: "3.10.7.4",
    summary: "Process all queued segments before sending any ACK.",
    status: "implemented",
    note: "the device loop reads up to 256 packets per wake-up and flushes the ACKs owed " +
      "once the batch is processed (StackCore.flushAcks)",
  },
  {
    id: "MUST-60",
    section: "3.9.1.2",
    summary: "SEND has no PUSH flag: never buffer data indefinitely.",
    status: "implemented",
    note: "Nagle and sender SWS avoidance hold data only until an ACK or the override timer",
  },
  {
    id: "MUST-61",
    section: "3.9.1.2",
    summary: "SEND has no PUSH flag: set PSH on the segment that empties the send queue.",
    status: "implemented",
  },
  {
    id: "MUST-62",
    section: "3.8.5",
    summary: "The urgent pointer points at the octet after the urgent data.",
    status: "implemented",
  },
  {
    id: "MUST-63",
    section: "3.9.2.3",
    summary: "Ignore a SYN from an invalid source address (broadcast, multicast, ...).",
    status: "implemented",
  },
  {
    id: "MUST-64",
    section: "3.2",
    summary: "Parse options that do not start on a word boundary.",
    status: "implemented",
  },
  {
    id: "MUST-65",
    section: "3.2",
    summary: "Send the MSS option only in SYN segments.",
    status: "implemented",
  },
  {
    id: "MUST-66",
    section: "3.4",
    summary: "Process the RST and URG fields even when the receive window is zero.",
    status: "implemented",
    note: "RST validity (RFC 5961 §3.2) is checked before the window test; URG is read on " +
      "the zero-window ACK path",
  },
  {
    id: "MUST-67",
    section: "3.7.1",
    summary: "Advertise an MSS of at most MMS_R − 20.",
    status: "implemented",
    note: "MSS = MTU − 40; fragments are not reassembled, so MMS_R = MTU − 20",
  },
  {
    id: "MUST-68",
    section: "3.1",
    summary: "Every option but End of Option List and No-Operation has a length field.",
    status: "implemented",
  },
  {
    id: "MUST-69",
    section: "3.1",
    summary: "Header bytes after the End of Option List are zero padding.",
    status: "implemented",
    note: "options are padded with zero bytes (EOL) to a 32-bit boundary",
  },

  // ---- SHOULD --------------------------------------------------------------------------
  {
    id: "SHLD-1",
    section: "3.4.1",
    summary: "Generate ISNs as M + F(4-tuple, secret key), F a pseudorandom function.",
    status: "implemented",
  },
  {
    id: "SHLD-2",
    section: "3.5.3",
    summary: "Accept an RST segment that carries data.",
    status: "implemented",
    note: "the RST is validated and acted on as any other, whatever the window; its data " +
      "is ignored",
  },
  {
    id: "SHLD-3",
    section: "3.6.1",
    summary: "Send RST when CLOSE leaves data unread or data arrives after CLOSE.",
    status: "implemented",
  },
  {
    id: "SHLD-4",
    section: "3.6.1",
    summary: "Use timestamps to shorten TIME-WAIT for a new SYN (RFC 6191).",
    status: "not implemented",
    reason: "a SYN reopens a TIME-WAIT connection only by the sequence-number rule of MAY-2",
  },
  {
    id: "SHLD-5",
    section: "3.7.1",
    summary: "Send the MSS option in every SYN when the receive MSS is not the default.",
    status: "implemented",
    note: "sent in every SYN (MAY-3)",
  },
  {
    id: "SHLD-6",
    section: "3.7.3",
    summary: "When an interface's MTU varies per packet, advertise the MSS of its smallest MTU.",
    status: "n/a",
    reason: "a TUN device has one fixed MTU for its life",
  },
  {
    id: "SHLD-7",
    section: "3.7.4",
    summary: "Implement Nagle's algorithm.",
    status: "implemented",
  },
  {
    id: "SHLD-8",
    section: "3.8.2",
    summary: "Implement Explicit Congestion Notification (RFC 3168).",
    status: "not implemented",
    reason: "packets are sent Not-ECT and ECE/CWR are ignored",
  },
  {
    id: "SHLD-9",
    section: "3.8.3",
    summary: "Tell the application of the delivery problem between R1 and R2.",
    status: "implemented",
    note: 'the "stalled" event (TcpConn dispatches it) at R1, once per episode',
  },
  {
    id: "SHLD-10",
    section: "3.8.3",
    summary: "R1 is at least 3 retransmissions at the current RTO.",
    status: "implemented",
    note: "R1 = 3 retransmissions of one segment",
  },
  {
    id: "SHLD-11",
    section: "3.8.3",
    summary: "R2 is at least 100 seconds.",
    status: "implemented",
    note: "15 retransmissions with backoff (as Linux tcp_retries2): about 15 minutes from " +
      "a 200 ms RTO",
  },
  {
    id: "SHLD-12",
    section: "3.8.4",
    summary: "Send keep-alives without data.",
    status: "implemented",
  },
  {
    id: "SHLD-13",
    section: "3.8.5",
    summary: "New applications should not use the urgent mechanism.",
    status: "n/a",
    reason: "advice to applications (tcptun's own CLI sends no urgent data)",
  },
  {
    id: "SHLD-14",
    section: "3.8.6",
    summary: "Do not shrink the receive window (move its right edge left).",
    status: "implemented",
    note: "never: a scaled window is rounded up to a whole unit, and the receive ring " +
      "keeps slack for that rounding",
  },
  {
    id: "SHLD-15",
    section: "3.8.6",
    summary: "After the peer's window shrank, send no new data beyond it.",
    status: "implemented",
  },
  {
    id: "SHLD-16",
    section: "3.8.6",
    summary: "After the peer's window shrank, retransmit old data within it as usual.",
    status: "implemented",
  },
  {
    id: "SHLD-17",
    section: "3.8.6",
    summary: "Do not time out the connection because data beyond the right window edge " +
      "goes unacknowledged.",
    status: "implemented",
    note: "with a zero send window and a peer heard from within 2·max RTO, RTO " +
      "retransmissions are window probes and do not count toward R2 (as Linux)",
    gap: "a window shrunk to a non-zero size still counts retransmissions beyond it",
  },
  {
    id: "SHLD-18",
    section: "3.8.6.3",
    summary: "Implement delayed ACKs.",
    status: "implemented",
  },
  {
    id: "SHLD-19",
    section: "3.8.6.3",
    summary: "ACK at least every second full-sized segment (or 2·RMSS of new data).",
    status: "implemented",
    note: "without batches (a driver that does not flush), every second segment; with the " +
      "device loop's batches, one ACK per batch of up to 16 segments or 64 KiB",
    gap: "stretch ACKs acknowledge up to 16 segments at once, as Linux does behind GRO",
  },
  {
    id: "SHLD-20",
    section: "3.9.1.8",
    summary: "The application can turn off asynchronous error reports.",
    status: "implemented",
    note: "reports are events of TcpConn: without a listener (or after removeEventListener) " +
      "they are off",
  },
  {
    id: "SHLD-21",
    section: "3.9.1.9",
    summary: "The application can change the Diffserv field during the connection.",
    status: "implemented",
    note: "TcpConn.setTos: the connection's later segments carry the new value",
  },
  {
    id: "SHLD-22",
    section: "3.9.1.9",
    summary: "Pass the current Diffserv value unchanged to IP in every segment.",
    status: "implemented",
  },
  {
    id: "SHLD-23",
    section: "3.9.2",
    summary: "Applications should generally not change the Diffserv field mid-connection.",
    status: "n/a",
    reason: "advice to applications",
  },
  {
    id: "SHLD-24",
    section: "3.9.2.1",
    summary: "A source route received later overrides an earlier one.",
    status: "n/a",
    reason: NO_SOURCE_ROUTE,
  },
  {
    id: "SHLD-25",
    section: "3.9.2.2",
    summary: "Make ICMP soft errors available to the application.",
    status: "implemented",
    note: "during the handshake, connect() rejects with NetworkUnreachable; later the soft " +
      "error is named in the timeout error",
  },
  {
    id: "SHLD-26",
    section: "3.9.2.2",
    summary: "Abort the connection on an ICMP hard error (unreachable 2–4).",
    status: "implemented",
    note: "during the handshake (connection refused); code 4 lowers the path MTU (RFC 1191)",
    gap: "after the handshake, protocol and port unreachable are kept as soft errors, as " +
      "Linux does",
  },
  {
    id: "SHLD-27",
    section: "3.9.1.2",
    summary: "Collapse successive PSH bits; send the largest segments possible.",
    status: "implemented",
    note: "PSH only on the segment that empties the queue; full segments before it",
  },
  {
    id: "SHLD-28",
    section: "3.9.1.2",
    summary: "Send maximum-sized segments whenever possible.",
    status: "implemented",
  },
  {
    id: "SHLD-29",
    section: "3.8.6.1",
    summary: "Send the first zero-window probe once the window has been zero for one RTO.",
    status: "implemented",
  },
  {
    id: "SHLD-30",
    section: "3.8.6.1",
    summary: "Back off exponentially between zero-window probes.",
    status: "implemented",
  },
  {
    id: "SHLD-31",
    section: "3.10.7.4",
    summary: "Hold segments that arrive beyond RCV.NXT for later processing.",
    status: "implemented",
  },

  // ---- MAY -----------------------------------------------------------------------------
  {
    id: "MAY-1",
    section: "3.6.1",
    summary: "Half-duplex close: after CLOSE the application reads no more data.",
    status: "implemented",
    note: "close() reads nothing more; data arriving afterwards draws an RST (SHLD-3)",
  },
  {
    id: "MAY-2",
    section: "3.6.1",
    summary: "Accept a new SYN for a connection in TIME-WAIT.",
    status: "implemented",
    note: "when its sequence number is above RCV.NXT and a listener holds the port",
  },
  {
    id: "MAY-3",
    section: "3.7.1",
    summary: "Always send the MSS option.",
    status: "implemented",
  },
  {
    id: "MAY-4",
    section: "3.8.1",
    summary: "Retransmit with the same IP identification.",
    status: "not implemented",
    reason: "every packet gets the next IP identification",
  },
  {
    id: "MAY-5",
    section: "3.8.4",
    summary: "Implement keep-alives.",
    status: "implemented",
  },
  {
    id: "MAY-6",
    section: "3.8.4",
    summary: "Optionally send a keep-alive with one garbage octet.",
    status: "not implemented",
    reason: "keep-alives carry no data",
  },
  {
    id: "MAY-7",
    section: "3.8.6",
    summary: "Retransmit old data beyond SND.UNA + SND.WND.",
    status: "implemented",
    note: "the RTO resends the first unacknowledged segment whatever the window",
  },
  {
    id: "MAY-8",
    section: "3.8.6.1",
    summary: "Keep the offered receive window closed indefinitely.",
    status: "implemented",
  },
  {
    id: "MAY-9",
    section: "3.9.1.9",
    summary: "Pass the received Diffserv field up to the application.",
    status: "not implemented",
    reason: "not exposed",
  },
  {
    id: "MAY-10",
    section: "3.9.2",
    summary: "Support the IP Timestamp option.",
    status: "not implemented",
    reason: "IP options are ignored",
  },
  {
    id: "MAY-11",
    section: "3.9.2",
    summary: "Support the IP Record Route option.",
    status: "not implemented",
    reason: "IP options are ignored",
  },
  {
    id: "MAY-12",
    section: "3.10.7.4",
    summary: "Protect against blind injection as RFC 5961 describes.",
    status: "implemented",
    note: "challenge ACKs for an in-window RST or SYN; the ACK check of RFC 5961 §5.2",
  },
  {
    id: "MAY-13",
    section: "3.10.7.4",
    summary: "Acknowledge an out-of-order segment at once.",
    status: "implemented",
  },
  {
    id: "MAY-14",
    section: "3.9.1.7",
    summary: "Offer a FLUSH call.",
    status: "not implemented",
    reason: "no such call",
  },
  {
    id: "MAY-15",
    section: "3.9.1.2",
    summary: "Offer a PUSH flag on SEND.",
    status: "not implemented",
    reason: "writes have no PUSH flag; MUST-60 and MUST-61 apply instead",
  },
  {
    id: "MAY-16",
    section: "3.9.1.2",
    summary: "Aggregate data from SENDs without PUSH.",
    status: "implemented",
    note: "Nagle and sender SWS avoidance",
  },
  {
    id: "MAY-17",
    section: "3.9.1.3",
    summary: "Tell the receiving application that PSH was seen.",
    status: "not implemented",
    reason: "the readable stream has no record marks",
  },
  {
    id: "MAY-18",
    section: "3.8.2",
    summary: "Implement alternative conformant congestion control.",
    status: "implemented",
    note: "CUBIC (RFC 9438) by default; NewReno (RFC 5681, RFC 6582) on request",
  },
  {
    id: "REC-1",
    section: "3.1",
    summary: "Keep window sizes in 32-bit fields and compute windows with 32 bits.",
    status: "implemented",
  },
];
