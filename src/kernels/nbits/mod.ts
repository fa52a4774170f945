/**
 * The 4-bit weight product family: packing, reading, generator, family object.
 *
 * @module
 */
export { NBITS, nbitsReference } from "./family.ts";
export { type NBitsWeights, type PackedNBits, packNBits } from "./pack.ts";
export { readNBits } from "./read.ts";
export { type NBitsSpec, TILE } from "./spec.ts";
export { generateNBits, type NBitsPlan, planNBits } from "./generate.ts";
