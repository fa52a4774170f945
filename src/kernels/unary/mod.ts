/**
 * The elementwise unary family: op table, reading, generator, family object.
 *
 * @module
 */
export { UNARY, unaryReference } from "./family.ts";
export {
  UNARY_OP_NAMES,
  UNARY_OPS,
  type UnaryOp,
  type UnaryOpDef,
  type UnaryParams,
} from "./ops.ts";
export { readUnary } from "./read.ts";
export { type UnarySpec } from "./spec.ts";
export { generateUnary, planUnary, type UnaryPlan } from "./generate.ts";
