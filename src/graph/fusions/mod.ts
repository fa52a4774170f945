/**
 * The fusions, in the order they run (each one module with its pattern and
 * rewrite).
 *
 * @module
 */
export { FUSIONS, FUSIONS_BEFORE_FOLDING } from "./registry.ts";
export type { Fusion } from "./fusion.ts";
