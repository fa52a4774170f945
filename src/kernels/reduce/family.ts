/**
 * Reductions along the last axis as an op family.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rowParts } from "../partition.ts";
import { generateReduce, planReduce, reduceCandidates, type ReducePlan } from "./generate.ts";
import { decodeReduceKey, REDUCE_KEY_FIELDS } from "./read.ts";
import { describeReduce, REDUCE_OPS, type ReduceSpec } from "./spec.ts";

/** y[r] = op over row r of x; operands x, y. */
export const REDUCE: OpFamily<ReduceSpec, ReducePlan> = {
  name: "reduce",
  keyFields: REDUCE_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  decode: decodeReduceKey,
  describe: describeReduce,
  cost: (s) => ({ flops: 2 * s.rows * s.cols, bytes: 4 * s.rows * (s.cols + 1) }),
  plan: (s, t) => planReduce(s, t.isa, t.l2, t.prefetchWithinL2 ?? true),
  candidates: (_s, p) => reduceCandidates(p),
  fallbackPlan: (s) => planReduce(s, "scalar"),
  generate: generateReduce,
  // Rows are independent: a part reduces whole rows, in the same order.
  partition: (s, p, parts) => rowParts(s, p, parts, (i) => [4 * i * s.cols, 4 * i]),
  reference: (s, [x, y]) => reduceReference(s, x, y),
};

/** The f64 computation, rounded to f32. */
export function reduceReference(s: ReduceSpec, x: Float32Array, y: Float32Array): void {
  const op = REDUCE_OPS[s.op];
  for (let r = 0; r < s.rows; r++) {
    const row = x.subarray(r * s.cols, (r + 1) * s.cols);
    let out: number;
    if (op === "max" || op === "min") {
      out = op === "max" ? -Infinity : Infinity;
      for (const v of row) out = Number.isNaN(v) || Number.isNaN(out) ? NaN : Math[op](out, v);
    } else if (op === "logSumExp") {
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      if (!Number.isFinite(mx)) mx = Number.isNaN(mx) ? mx : 0;
      let sum = 0;
      for (const v of row) sum += Math.exp(v - mx);
      out = Math.log(sum) + mx;
    } else {
      let sum = 0;
      for (const v of row) sum += op === "sumSquare" || op === "l2" ? v * v : v;
      out = op === "mean" ? sum / s.cols : op === "l2" ? Math.sqrt(sum) : sum;
    }
    y[r] = out;
  }
}
