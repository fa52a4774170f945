/**
 * The teaching levels of the demo: how far each classic step takes a GEMM,
 * each emitted as machine code. They are kept apart from the production
 * planner (`plan.ts`), which serves every call at level 3.
 *
 * - L0 naive i-j-k, scalar: one dot product per element of C.
 * - L1 i-k-j, scalar: unit stride along B and C rows.
 * - L2 register-blocked and unrolled, scalar: a 3×3 tile of C in registers.
 * - L3 the production kernel for the ISA (`planGemm`).
 *
 * @module
 */
import type { VecLevel } from "../vec.ts";
import type { DirectPlan } from "./direct.ts";
import { type CacheSizes, type GemmPlan, planGemm, planIkj, trivialPlan } from "./plan.ts";
import type { GemmSpec } from "./spec.ts";

/** Optimization level of a GEMM kernel. */
export type GemmLevel = 0 | 1 | 2 | 3;

/** All levels, slowest first. */
export const GEMM_LEVELS: readonly GemmLevel[] = [0, 1, 2, 3];

/** The plan for a spec at a level: L0-L2 are scalar whatever `isa` says; L3 is `planGemm`. */
export function planAtLevel(
  s: GemmSpec,
  isa: VecLevel,
  level: GemmLevel,
  caches?: CacheSizes,
): GemmPlan {
  if (level === 3) return planGemm(s, isa, caches);
  const trivial = trivialPlan(s, "scalar", level);
  if (trivial) return trivial;
  if (level === 1) return planIkj(s);
  const direct: DirectPlan = level === 0
    ? { mr: 1, nr: 1, unroll: 1, kSplit: 1, rowsOuter: true }
    : { mr: 3, nr: 3, unroll: 4, kSplit: 1 };
  const description = level === 0
    ? "L0 naive i-j-k, scalar"
    : "L2 register-blocked 3×3, unrolled ×4, scalar";
  return { level, isa: "scalar", path: "direct", direct, workspaceBytes: 0, description };
}
