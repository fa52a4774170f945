/**
 * The pooling family: reading, plan, generator, family object.
 *
 * @module
 */
export { POOL, poolReference } from "./family.ts";
export { type PoolKind, type PoolOptions, readPool } from "./read.ts";
export { poolShape, type PoolSpec } from "./spec.ts";
export { generatePool, planPool, type PoolPlan } from "./generate.ts";
