/**
 * Congestion control: NewReno (RFC 5681) and CUBIC (RFC 9438) behind one interface.
 * @module
 */

import { Cubic } from "./cubic.ts";
import { NewReno } from "./newreno.ts";
import type { CongestionControl, CongestionControlName } from "./types.ts";

export { Cubic, CUBIC_BETA, CUBIC_C, cubicK, wCubic } from "./cubic.ts";
export { NewReno } from "./newreno.ts";
export {
  type CongestionControl,
  type CongestionControlName,
  INITIAL_SSTHRESH,
  initialWindow,
  slowStart,
  slowStartCwnd,
} from "./types.ts";

/**
 * Creates the named congestion controller for sender MSS `mss`.
 *
 * @example
 * ```ts
 * import { createCongestionControl } from "./mod.ts";
 * const cc = createCongestionControl("cubic", 1460);
 * console.log(cc.name, cc.cwnd); // "cubic" 14600
 * ```
 */
export function createCongestionControl(
  name: CongestionControlName,
  mss: number,
): CongestionControl {
  return name === "cubic" ? new Cubic(mss) : new NewReno(mss);
}
