/**
 * The allFinite family: whether a tensor holds only finite floats.
 *
 * @module
 */
export { ALL_FINITE } from "./family.ts";
export { type AllFiniteSpec, readAllFinite } from "./read.ts";
