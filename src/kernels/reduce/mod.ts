/**
 * The reduction family: reading, generator, family object.
 *
 * @module
 */
export { REDUCE, reduceReference } from "./family.ts";
export { readReduce, type ReduceOptions } from "./read.ts";
export { REDUCE_OPS, type ReduceOp, type ReduceSpec } from "./spec.ts";
export { generateReduce, planReduce, type ReducePlan } from "./generate.ts";
