/**
 * The tiering policy, in one place.
 *
 * A key runs on tier 0 (the TypeScript reference) until it is hot: after
 * `threshold` calls its specialized kernel is compiled and used from then on.
 * One exception keeps tier 0 from ever being the bottleneck: a call whose
 * FLOPs would take tier 0 longer than compiling takes (about a millisecond
 * at tier 0's ~1 GFLOPS, against 0.1-0.5 ms of compiling) compiles at once —
 * waiting 100 such calls would cost seconds for nothing.
 *
 * @module
 */

/** Calls before a key's kernel is compiled (the seed's choice). */
export const DEFAULT_THRESHOLD = 100;

/** FLOPs above which a single tier-0 call costs more than compiling. */
export const EAGER_COMPILE_FLOPS = 1 << 20;

/** Why a key is (or is not yet) compiled. */
export type TierReason = "threshold" | "expensive-call" | "cold";

/** Decides whether the key's kernel should exist now. */
export function tierDecision(calls: number, threshold: number, flops: number): TierReason {
  if (calls >= threshold) return "threshold";
  if (flops >= EAGER_COMPILE_FLOPS) return "expensive-call";
  return "cold";
}
