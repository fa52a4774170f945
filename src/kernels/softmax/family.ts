/**
 * Softmax and logSoftmax along the last axis as an op family (in place allowed).
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rowParts } from "../partition.ts";
import { generateSoftmax, planSoftmax, softmaxCandidates, type SoftmaxPlan } from "./generate.ts";
import { decodeSoftmaxKey, SOFTMAX_KEY_FIELDS } from "./read.ts";
import { describeSoftmax, type SoftmaxSpec } from "./spec.ts";

/** y = softmax(x) or logSoftmax(x) along rows; operands x, y. */
export const SOFTMAX: OpFamily<SoftmaxSpec, SoftmaxPlan> = {
  name: "softmax",
  keyFields: SOFTMAX_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeSoftmaxKey,
  describe: describeSoftmax,
  cost: (s) => ({ flops: 20 * s.rows * s.cols, bytes: 12 * s.rows * s.cols }),
  plan: (s, t) =>
    planSoftmax(
      s,
      t.isa,
      t.l2,
      t.claimRowsAhead ?? true,
      t.prefetchWithinL2 ?? true,
      t.l1d,
      { lagLongRows: t.lagLongRows ?? true, blockShortRows: t.blockShortRows ?? true },
    ),
  fallbackPlan: (s) => planSoftmax(s, "scalar"),
  generate: generateSoftmax,
  candidates: (s, p) => softmaxCandidates(s, p),
  // Rows are independent; the plan (fixed by cols) is the whole call's.
  partition: (s, p, parts) => rowParts(s, p, parts, (i) => [4 * i * s.cols, 4 * i * s.cols]),
  reference: (s, [x, y]) => softmaxReference(s, x, y),
};

/** The f64 computation, rounded to f32 (max-subtracted, as ONNX defines it). */
export function softmaxReference(s: SoftmaxSpec, x: Float32Array, y: Float32Array): void {
  for (let r = 0; r < s.rows; r++) {
    const o = r * s.cols;
    let mx = -Infinity;
    for (let j = 0; j < s.cols; j++) mx = Math.max(mx, x[o + j]);
    let sum = 0;
    for (let j = 0; j < s.cols; j++) sum += Math.exp(x[o + j] - mx);
    const lse = Math.log(sum);
    for (let j = 0; j < s.cols; j++) {
      const d = x[o + j] - mx;
      y[o + j] = s.log ? d - lse : Math.exp(d) / sum;
    }
  }
}
