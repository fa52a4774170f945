/**
 * The rotary family: rotary position embedding.
 *
 * @module
 */
export { ROTARY, rotaryReference } from "./family.ts";
export { readRotary, type RotaryOptions, type RotarySpec } from "./read.ts";
