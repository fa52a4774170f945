/**
 * Squared Euclidean distances between the rows of a and the columns of b,
 * as an op family: the RBF kernel of ONNX-ML's support vector machines
 * (e^(−γ‖x − v‖²), which onnxruntime sums term by term), and the core of
 * nearest-neighbour search. Rows are independent, so a call splits over
 * them; every output is the same chain of roundings whatever the split or
 * the level.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rangeParts, splitRange } from "../partition.ts";
import { type DistancesPlan, generateDistances, planDistances } from "./generate.ts";
import { decodeDistancesKey, DISTANCES_KEY_FIELDS, type DistancesSpec } from "./read.ts";

const f = Math.fround;

/** y[i][j] = Σₜ (a[i][t] − b[t][j])², float32 in order; operands a, b, y. */
export const DISTANCES: OpFamily<DistancesSpec, DistancesPlan> = {
  name: "squaredDistances",
  keyFields: DISTANCES_KEY_FIELDS,
  operands: ["a", "b", "y"],
  outputs: 1,
  decode: decodeDistancesKey,
  describe: (s) => `squaredDistances ${s.m}×${s.n} over ${s.k}`,
  // A term is three operations (no FMA): as many as 1.5 multiply-adds.
  cost: (s) => ({ flops: 3 * s.m * s.n * s.k, bytes: 4 * (s.m * s.k + s.k * s.n + s.m * s.n) }),
  plan: (s, t) => planDistances(s, t.isa),
  fallbackPlan: (s) => planDistances(s, "scalar"),
  generate: generateDistances,
  partition: (s, plan, parts) =>
    rangeParts(
      plan,
      splitRange(s.m, parts),
      (r) => ({ ...s, m: r.count }),
      (i) => [4 * i * s.k, 0, 4 * i * s.n],
    ),
  reference: (s, [a, b, y]) => distancesReference(s, a, b, y),
};

/** The sums in TypeScript, in the same order: the oracle of the tests. */
export function distancesReference(
  s: DistancesSpec,
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
): void {
  for (let i = 0; i < s.m; i++) {
    for (let j = 0; j < s.n; j++) {
      let sum = 0;
      for (let t = 0; t < s.k; t++) {
        const d = f(a[i * s.k + t] - b[t * s.n + j]);
        sum = f(sum + f(d * d));
      }
      y[i * s.n + j] = sum;
    }
  }
}
