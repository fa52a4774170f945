/**
 * The attention family: reading, generator, family object.
 *
 * @module
 */
export { ATTENTION, attentionReference } from "./family.ts";
export {
  ATTENTION_MIN_QUERIES,
  attentionFits,
  type AttentionOptions,
  readAttention,
} from "./read.ts";
export type { AttentionSpec } from "./spec.ts";
export { type AttentionPlan, generateAttention, planAttention } from "./generate.ts";
