/**
 * The dynamic quantization family: reading, generator, family object.
 *
 * @module
 */
export { QUANTIZE, quantizeReference } from "./family.ts";
export { readQuantize } from "./read.ts";
export { type QuantizeSpec } from "./spec.ts";
export { generateQuantize, planQuantize, type QuantizePlan } from "./generate.ts";
