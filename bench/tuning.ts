/**
 * Tier 2 in the benches: a Jit's keys tuned in a warm-up before timing, so
 * `--tune` can set the tuned figure beside tier 1's in the same run.
 *
 * @module
 */
import type { Jit } from "../mod.ts";

/**
 * Calls `call` with the Jit in warm-up mode until every key it touched has
 * finished tuning (or `maxCalls`); returns the calls made.
 */
export function tuneWarmup(jit: Jit, call: () => void, maxCalls = 1000): number {
  jit.warmup(true);
  let i = 0;
  try {
    for (; i < maxCalls; i++) {
      call();
      if (i % 8 === 7 && settled(jit)) break;
    }
  } finally {
    jit.warmup(false);
  }
  return i + 1;
}

/** Whether no key of the Jit is still tuning. */
export function settled(jit: Jit): boolean {
  return jit.stats().keys.every((k) =>
    k.tuning === null || k.tuning.state === "done" || k.tuning.state === "cached" ||
    k.tuning.state === "abandoned"
  );
}

/** The tuned plan of the key whose text starts with `prefix`, and its gain, for a table. */
export function tunedPlan(jit: Jit, prefix: string): { plan: string; gain: number | null } {
  const k = jit.stats().keys.find((s) => s.key.startsWith(prefix));
  return { plan: k?.plan ?? "?", gain: k?.tuning?.gain ?? null };
}
