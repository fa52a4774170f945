/**
 * Elementwise unary ops as an op family: y = op(x), in place allowed.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { fetchCandidates, storeCandidates, storedParts, streamCandidates } from "../elementwise.ts";
import { generateUnary, planUnary, type UnaryPlan } from "./generate.ts";
import { UNARY_OPS } from "./ops.ts";
import { decodeUnaryKey, UNARY_KEY_FIELDS } from "./read.ts";
import { describeUnary, type UnarySpec } from "./spec.ts";

/** y = op(x) elementwise; operands x, y. */
export const UNARY: OpFamily<UnarySpec, UnaryPlan> = {
  name: "unary",
  keyFields: UNARY_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeUnaryKey,
  describe: describeUnary,
  cost: (s) => ({ flops: s.n * UNARY_OPS[s.op].flops, bytes: 8 * s.n }),
  plan: (s, t) => planUnary(s, t.isa, t),
  fallbackPlan: (s) => planUnary(s, "scalar"),
  generate: generateUnary,
  candidates: (s, p) => [
    ...streamCandidates(p),
    ...storeCandidates(p, 4 * s.n),
    ...fetchCandidates(p, 4 * s.n),
  ],
  partition: storedParts,
  reference: (s, [x, y]) => unaryReference(s, x, y),
};

/** y[i] = op(x[i]) in f64, rounded to f32. */
export function unaryReference(s: UnarySpec, x: Float32Array, y: Float32Array): void {
  const f = UNARY_OPS[s.op].reference, p = s.params;
  for (let i = 0; i < s.n; i++) y[i] = f(x[i], p);
}
