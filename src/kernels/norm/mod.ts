/**
 * The normalization family: LayerNorm and RMSNorm, reading, generator, family object.
 *
 * @module
 */
export { NORM, normReference } from "./family.ts";
export { type NormOptions, readNorm } from "./read.ts";
export type { NormSpec } from "./spec.ts";
export { generateNorm, type NormPlan, planNorm } from "./generate.ts";
