/**
 * The environment knobs, read in one place: NJIT_MAX_ISA, NJIT_VERBOSE,
 * NJIT_DUMP, NJIT_THRESHOLD, NJIT_CACHE_CAPACITY, NJIT_NUM_THREADS,
 * NJIT_TUNE_BUDGET, NJIT_TUNE_CACHE, NJIT_CODE_CACHE, NJIT_MALLOC. Reading never prompts: when
 * env access is not granted the knob counts as unset.
 *
 * @module
 */

/** The value of `name`, or undefined when unset or not readable. */
export function env(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    const v = Deno.env.get(name);
    return v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

/** A number knob, or `fallback`; a value that is not a non-negative number throws a RangeError. */
export function envNumber(name: string, fallback: number): number {
  const v = env(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new RangeError(`${name} must be a non-negative number, got "${v}"`);
  }
  return n;
}

/** An integer knob, or `fallback`; a value that is not a non-negative integer throws a RangeError. */
export function envInt(name: string, fallback: number): number {
  const v = env(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got "${v}"`);
  }
  return n;
}
