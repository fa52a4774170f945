/**
 * The GEMM family: planner, generators (direct, packed, skinny, dot, the
 * teaching levels), reference, and the family object the runtime holds.
 *
 * @module
 */
export { GEMM } from "./family.ts";
export { generateGemm } from "./generate.ts";
export { type GemmPath, type GemmPlan, narrowB, planGemm } from "./plan.ts";
export { GEMM_LEVELS, type GemmLevel, planAtLevel } from "./levels.ts";
export { aExtent, bExtent, cExtent, type GemmEpilogue, gemmFlops, type GemmSpec } from "./spec.ts";
export { gemmF64, gemmReference } from "./reference.ts";
export { type GemmOptions, MAX_DIMENSION, readGemm, readGemmShape } from "./read.ts";
export { packB, type PackBLayout, type PackBOptions, PackedB, type StridedCopy } from "./packb.ts";
