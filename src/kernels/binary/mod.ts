/**
 * The elementwise binary family with numpy broadcasting.
 *
 * @module
 */
export { BINARY } from "./family.ts";
export { readBinary } from "./read.ts";
export { BINARY_OPS, type BinaryOp, type BinarySpec, MAX_RANK } from "./spec.ts";
export { type BinaryPlan, binaryReferenceLoop, generateBinary, planBinary } from "./generate.ts";
