/**
 * The select family: y = mask ? a : b over 32-bit elements, a byte mask.
 *
 * @module
 */
export { SELECT, selectReference } from "./family.ts";
export { readSelect, type SelectSpec } from "./read.ts";
