/**
 * The strided copy family: spec, reader, generator, family object.
 *
 * @module
 */
export { COPY, copyReference } from "./family.ts";
export { copyFits, type CopyOptions, readCopy } from "./read.ts";
export { type CopySpec, MAX_COPY_DIMS } from "./spec.ts";
