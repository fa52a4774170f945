/**
 * The 8-bit convolution family: reading, packing, generator, family object.
 *
 * @module
 */
export { QCONV, qconvReference } from "./family.ts";
export { type ConvInt8Options, decodeQConvKey, readQConv } from "./read.ts";
export { packConvInt8, type PackedConvInt8, packedWeightBytes } from "./pack.ts";
export { generateQConv, planQConv, type QConvPlan } from "./generate.ts";
export { describeQConv, type QConvSpec } from "./spec.ts";
