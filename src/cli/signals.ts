/**
 * SIGINT/SIGTERM handling: the first signal asks for a graceful shutdown (FIN on every
 * connection, bounded wait); a second one exits at once.
 * @module
 */

/** Signals that request a shutdown. */
export const SHUTDOWN_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** Exit status after a second signal forced the exit (128 + SIGINT). */
export const FORCED_EXIT_CODE = 130;

/** A pending shutdown request. */
export interface ShutdownRequest {
  /** Resolves with the signal's name when the first shutdown signal arrives. */
  readonly requested: Promise<Deno.Signal>;
  /** Removes the signal handlers (the default actions apply again). */
  dispose(): void;
}

/** Hooks for tests; default to Deno's signal API and `Deno.exit`. */
export interface SignalHooks {
  /** Install a handler. */
  add?: (signal: Deno.Signal, handler: () => void) => void;
  /** Remove a handler. */
  remove?: (signal: Deno.Signal, handler: () => void) => void;
  /** Called on the second signal. Default: `Deno.exit(FORCED_EXIT_CODE)`. */
  force?: () => void;
}

/**
 * Listens for SIGINT and SIGTERM. The first resolves `requested`; the second calls `force`
 * (by default exits at once, in case the graceful path is stuck).
 * @example
 * ```ts
 * import { onShutdownSignal } from "./signals.ts";
 * const shutdown = onShutdownSignal();
 * // await Promise.race([work, shutdown.requested]);
 * shutdown.dispose();
 * ```
 */
export function onShutdownSignal(hooks: SignalHooks = {}): ShutdownRequest {
  const add = hooks.add ?? ((s, h) => Deno.addSignalListener(s, h));
  const remove = hooks.remove ?? ((s, h) => Deno.removeSignalListener(s, h));
  const force = hooks.force ?? (() => Deno.exit(FORCED_EXIT_CODE));
  let resolve!: (s: Deno.Signal) => void;
  const requested = new Promise<Deno.Signal>((r) => resolve = r);
  let count = 0;
  const handlers = SHUTDOWN_SIGNALS.map((signal) => {
    const handler = () => {
      count++;
      if (count === 1) resolve(signal);
      else force();
    };
    add(signal, handler);
    return [signal, handler] as const;
  });
  let disposed = false;
  return {
    requested,
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const [signal, handler] of handlers) remove(signal, handler);
    },
  };
}
