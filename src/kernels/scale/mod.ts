/**
 * The scaleRows family: rows times f64 factors, rounded once (BatchNorm
 * folding's product).
 *
 * @module
 */
export { SCALE_ROWS, scaleRowsReference } from "./family.ts";
export { readScaleRows, scaleRowsFactors, type ScaleRowsSpec } from "./read.ts";
