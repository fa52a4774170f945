/**
 * The resize family: reading, tables, generator, family object.
 *
 * @module
 */
export { RESIZE, resizeReference } from "./family.ts";
export { readResize, type ResizeOptions } from "./read.ts";
export {
  COORDINATE_MODES,
  type CoordinateMode,
  NEAREST_MODES,
  type NearestMode,
  RESIZE_MODES,
  type ResizeMode,
  type ResizeSpec,
} from "./spec.ts";
export { axisTable, axisTaps, verticalFirst } from "./tables.ts";
export { generateResize, planResize, type ResizePlan } from "./generate.ts";
