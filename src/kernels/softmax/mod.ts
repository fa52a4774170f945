/**
 * The softmax family: reading, generator, family object.
 *
 * @module
 */
export { SOFTMAX, softmaxReference } from "./family.ts";
export { readSoftmax, type SoftmaxOptions } from "./read.ts";
export type { SoftmaxSpec } from "./spec.ts";
export { generateSoftmax, planSoftmax, softmaxCandidates, type SoftmaxPlan } from "./generate.ts";
