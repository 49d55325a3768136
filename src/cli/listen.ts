/**
 * `tcptun listen`: accept connections and bridge them with stdio (one at a time), echo them or
 * discard them (many at once).
 * @module
 */

import type { ListenCommand } from "./args.ts";
import {
  checkIpv6,
  type CliConn,
  type CliEnv,
  type CliListener,
  describeConnError,
  formatAddr,
  formatHostPortText,
  logStats,
  raceShutdown,
  settleWithin,
  SHUTDOWN,
  stackOptions,
} from "./common.ts";
import { formatBytes, formatRate } from "./log.ts";
import { bridgeUntilPeerCloses, discard, echo, InputSource } from "./stdio.ts";

/** How long to wait for CLOSED after our FIN before logging and moving on. */
export const CLOSE_SETTLE_MS = 2000;

/**
 * Runs `tcptun listen` until `--once` is satisfied or a shutdown is requested.
 * @returns the exit status (0); errors opening the stack are thrown to the caller
 */
export async function runListen(cmd: ListenCommand, env: CliEnv): Promise<number> {
  const stack = await env.openStack(stackOptions(cmd, env));
  let input: InputSource | undefined;
  let out: WritableStreamDefaultWriter<Uint8Array> | undefined;
  try {
    const ipv6 = checkIpv6(stack, cmd.family, env.logger);
    const listener = stack.listen(
      cmd.family === 0 ? { port: cmd.port } : { port: cmd.port, family: cmd.family },
    );
    // Scripts wait for the IPv4 line: it keeps its form and comes first.
    if (cmd.family !== 6) env.announce(`listening on ${stack.tunIp}:${cmd.port}`);
    if (ipv6) env.announce(`listening on ${formatHostPortText(stack.tunIp6!, cmd.port)}`);
    let serving: Promise<void>;
    if (cmd.mode === "stdio") {
      input = new InputSource(env.stdin);
      out = env.stdout.getWriter();
      serving = serveStdio(listener, input, out, cmd, env);
    } else {
      serving = serveMany(listener, cmd, env);
    }
    // After a shutdown the accept loop fails on the closed listener: nobody waits for it then.
    serving.catch(() => {});
    const result = await raceShutdown(serving, env.shutdown);
    listener.close();
    if (result === SHUTDOWN) env.logger.info("shutting down");
    return 0;
  } finally {
    // Never wait for a blocked stdin read on the way out.
    input?.cancel();
    await stack.close();
    out?.releaseLock();
  }
}

function prepare(conn: CliConn, env: CliEnv): string {
  // `closed` rejects on reset/timeout; the pumps report those, so this copy must not go unhandled.
  conn.closed.catch(() => {});
  const peer = formatAddr(conn.remoteAddr);
  env.logger.info(`connection from ${peer}`);
  return peer;
}

/** stdio mode: one connection at a time, stdin to the peer and the peer to stdout. */
async function serveStdio(
  listener: CliListener,
  input: InputSource,
  out: WritableStreamDefaultWriter<Uint8Array>,
  cmd: ListenCommand,
  env: CliEnv,
): Promise<void> {
  for (;;) {
    const conn = await listener.accept();
    const peer = prepare(conn, env);
    try {
      await bridgeUntilPeerCloses(conn, input, out);
      // The peer sent FIN: close our side at once, CLOSE-WAIT → LAST-ACK (RFC 9293 §3.6).
      conn.close();
      await settleWithin(conn.closed, CLOSE_SETTLE_MS);
    } catch (err) {
      const why = describeConnError(err);
      if (why === undefined) throw err;
      env.logger.warn(`${peer}: ${why}`);
      conn.close();
    }
    logStats(env.logger, conn);
    if (cmd.once) return;
  }
}

/** echo and discard modes: every connection served concurrently. */
async function serveMany(listener: CliListener, cmd: ListenCommand, env: CliEnv): Promise<void> {
  for (;;) {
    const conn = await listener.accept();
    const task = serveOne(conn, cmd, env);
    if (cmd.once) return await task;
  }
}

async function serveOne(conn: CliConn, cmd: ListenCommand, env: CliEnv): Promise<void> {
  const peer = prepare(conn, env);
  const now = env.now ?? (() => performance.now());
  const start = now();
  try {
    if (cmd.mode === "echo") {
      const bytes = await echo(conn);
      env.logger.debug(`${peer}: echoed ${formatBytes(bytes)}`);
    } else {
      const bytes = await discard(conn);
      const ms = now() - start;
      env.logger.info(
        `${peer}: discarded ${bytes} bytes in ${(ms / 1000).toFixed(3)} s ` +
          `(${formatRate(bytes, ms)})`,
      );
    }
    await settleWithin(conn.closed, CLOSE_SETTLE_MS);
  } catch (err) {
    // One failing connection never stops the server.
    const why = describeConnError(err) ?? (err instanceof Error ? err.message : String(err));
    env.logger.warn(`${peer}: ${why}`);
    conn.close();
  }
  logStats(env.logger, conn);
}
