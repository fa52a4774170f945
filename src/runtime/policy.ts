/**
 * The runtime's policy, in one place.
 *
 * Tiers. The numerics of a call are decided by its shape: a key's plan (tile,
 * K blocking, accumulator split, driver) fixes its summation order, and the
 * plan depends on the key and the CPU only. So every call of a key runs the
 * key's own machine code, from the first call on: no call runs on a
 * TypeScript tier whose sums would differ (the old tier 0 summed in f64 and
 * changed 51 of 64 results of a random 8×8×64 GEMM at tier-up). Measured
 * (`deno task profile`): compiling costs 50-200 µs once, where the old tier
 * 0 spent 1-2 µs per call on an 8×8×8 GEMM and milliseconds on anything
 * larger; a key called more than a few dozen times comes out ahead, and the
 * first call of a large shape is far faster than TypeScript was.
 *
 * Hot keys. After `threshold` calls a key is hot: stats mark it, and it is
 * what tuning (tier 2) will work on.
 *
 * Admission. A key whose kernel was evicted and recompiled `CHURN_RECOMPILES`
 * times is churning the cache (a working set one kernel larger than the
 * cache recompiles on every call under plain LRU). Its kernel is then pinned:
 * kept outside the LRU, never evicted, so it runs without recompiling. At
 * most `cacheCapacity` kernels (and `cacheBytes` of code) are pinned; past
 * that a churning key keeps recompiling, and stats say so.
 *
 * @module
 */

/** Calls of a key before it counts as hot (the seed's choice). */
export const DEFAULT_THRESHOLD = 100;

/** Recompiles of a key (after evictions) that make it a churning key. */
export const CHURN_RECOMPILES = 2;

/** Kernels kept compiled by default. */
export const DEFAULT_CACHE_CAPACITY = 256;

/** Code bytes kept compiled by default. */
export const DEFAULT_CACHE_BYTES = 16 << 20;

/** Keys profiled at once by default. */
export const DEFAULT_KEY_CAPACITY = 4096;

/** How a key got its current kernel. */
export type TierReason = "first-call" | "recompile" | "pinned" | "fallback";

/** Why a key's kernel is being compiled now: its first compile, a recompile, or a pin. */
export function compileReason(compiles: number): TierReason {
  if (compiles === 0) return "first-call";
  return compiles >= CHURN_RECOMPILES ? "pinned" : "recompile";
}
