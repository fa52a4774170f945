/**
 * The 8-bit elementwise family (QuantizeLinear, QLinearAdd): reading,
 * generator, family object.
 *
 * @module
 */
export { QLINEAR, qlinearReference } from "./family.ts";
export {
  decodeQLinearKey,
  type DequantizeLinearOptions,
  type QLinearAddOptions,
  type QuantizeLinearOptions,
  readDequantizeLinear,
  readQLinearBinary,
  readQuantizeLinear,
  readRequantize,
  type RequantizeOptions,
} from "./read.ts";
export { generateQLinear, planQLinear, type QLinearPlan } from "./generate.ts";
export { describeQLinear, type QLinearSpec } from "./spec.ts";
