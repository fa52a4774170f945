/**
 * The process's malloc policy, set once by the first session: large blocks
 * from the heap and freed memory kept (glibc's `mallopt`), so that a run's
 * output arrays reuse pages already faulted in. Why and the figures:
 * `MALLOC_KEEP` in runtime/policy.ts. `NJIT_MALLOC=system` leaves glibc's
 * policy as it is.
 *
 * @module
 */
import { env } from "../env.ts";
import { libc } from "./libc.ts";

/** mallopt parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** What the first call did: null before it. */
let applied: MallocPolicy | null = null;

/** The malloc policy in force, as `keepFreedMemory` left it. */
export interface MallocPolicy {
  /** Whether the thresholds were set (false: NJIT_MALLOC=system, or mallopt refused them). */
  set: boolean;
  /** Blocks up to this many bytes come from the heap (0: glibc's own policy). */
  mmapBytes: number;
  /** Freed memory at the heap's top kept up to this many bytes (0: glibc's own policy). */
  trimBytes: number;
}

/** The policy in force now, without setting it (glibc's own until `keepFreedMemory` ran). */
export function mallocPolicy(): MallocPolicy {
  return applied ?? { set: false, mmapBytes: 0, trimBytes: 0 };
}

/**
 * Sets glibc's mmap and trim thresholds (once per process; later calls
 * return the first's outcome). Native memory of ours is mapped by us
 * (large_memory.ts) and unaffected; this is for what V8 allocates, the
 * outputs' ArrayBuffers above all.
 */
export function keepFreedMemory(mmapBytes: number, trimBytes: number): MallocPolicy {
  if (applied !== null) return applied;
  applied = { set: false, mmapBytes: 0, trimBytes: 0 };
  const knob = env("NJIT_MALLOC");
  if (knob !== undefined && knob !== "system" && knob !== "keep") {
    applied = null;
    throw new RangeError(`NJIT_MALLOC must be "keep" (the default) or "system", got "${knob}"`);
  }
  if (knob === "system") return applied;
  const c = libc();
  // mallopt returns 1 on success; a refused threshold leaves glibc's adaptive policy in force.
  if (c.mallopt(M_MMAP_THRESHOLD, mmapBytes) !== 1) return applied;
  if (c.mallopt(M_TRIM_THRESHOLD, trimBytes) !== 1) return applied;
  applied = { set: true, mmapBytes, trimBytes };
  return applied;
}
