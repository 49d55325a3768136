/**
 * `tcptun connect`: one connection bridged with stdin/stdout.
 * @module
 */

import type { ConnectCommand } from "./args.ts";
import {
  checkIpv6,
  type CliEnv,
  describeConnError,
  formatHostPortText,
  logStats,
  raceShutdown,
  SHUTDOWN,
  stackOptions,
} from "./common.ts";
import { bridgeBothWays, InputSource } from "./stdio.ts";

/**
 * Runs `tcptun connect`: stdin → peer, peer → stdout, stdin EOF → FIN; returns once both
 * directions are closed.
 * @returns 0 on success or shutdown request; 1 when the connection was refused, reset or timed
 * out (after logging `error: connection refused` and the like). Other errors are thrown.
 */
export async function runConnect(cmd: ConnectCommand, env: CliEnv): Promise<number> {
  const stack = await env.openStack(stackOptions(cmd, env));
  let input: InputSource | undefined;
  let out: WritableStreamDefaultWriter<Uint8Array> | undefined;
  try {
    const ipv6 = checkIpv6(stack, cmd.family, env.logger);
    const hostname = cmd.host ?? (cmd.family === 6 ? stack.peerIp6! : stack.peerIp);
    if (hostname.includes(":") && !ipv6) {
      env.logger.error(
        `cannot connect to ${formatHostPortText(hostname, cmd.port)}: IPv6 is not available` +
          (stack.ipv6Problem === undefined ? "" : ` (${stack.ipv6Problem})`),
      );
      return 1;
    }
    const connecting = stack.connect({ hostname, port: cmd.port, noDelay: cmd.noDelay });
    connecting.catch(() => {});
    const conn = await raceShutdown(connecting, env.shutdown);
    if (conn === SHUTDOWN) return 0;
    conn.closed.catch(() => {});
    env.announce(`connected to ${formatHostPortText(hostname, cmd.port)}`);
    input = new InputSource(env.stdin);
    out = env.stdout.getWriter();
    const session = bridgeBothWays(conn, input, out);
    session.catch(() => {});
    const result = await raceShutdown(session, env.shutdown);
    if (result === SHUTDOWN) env.logger.info("shutting down");
    logStats(env.logger, conn);
    return 0;
  } catch (err) {
    const why = describeConnError(err);
    if (why === undefined) throw err;
    env.logger.error(why);
    return 1;
  } finally {
    // A blocked stdin read must not delay the exit: cancel it without waiting.
    input?.cancel();
    await stack.close();
    out?.releaseLock();
  }
}
