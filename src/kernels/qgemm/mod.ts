/**
 * The 8-bit GEMM family: reading, packing, generator, family object.
 *
 * @module
 */
export { QGEMM, qgemmReference } from "./family.ts";
export { type Int8GemmOptions, readQGemm } from "./read.ts";
export { type PackedInt8B, packInt8B } from "./pack.ts";
export { generateQGemm, planQGemm, type QGemmPlan } from "./generate.ts";
export { describeQGemm, kGroups, type QGemmSpec } from "./spec.ts";
