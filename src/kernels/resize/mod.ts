/**
 * The resize family: reading, tables, generator, family object.
 *
 * @module
 */
export { RESIZE, resizeReference } from "./family.ts";
export { readResize, type ResizeOptions } from "./read.ts";
export {
  axisTable,
  axisTaps,
  COORDINATE_MODES,
  type CoordinateMode,
  NEAREST_MODES,
  type NearestMode,
  RESIZE_MODES,
  type ResizeMode,
  type ResizeSpec,
  verticalFirst,
} from "./spec.ts";
export { generateResize, planResize, type ResizePlan } from "./generate.ts";
