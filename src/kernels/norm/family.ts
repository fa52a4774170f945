/**
 * LayerNormalization and RMSNormalization (with an optional residual) as an
 * op family; y may be x.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rowParts } from "../partition.ts";
import { generateNorm, normCandidates, type NormPlan, planNorm } from "./generate.ts";
import { decodeNormKey, NORM_KEY_FIELDS } from "./read.ts";
import { describeNorm, type NormSpec } from "./spec.ts";

/** y = norm(x [+ residual])·scale + bias along rows; operands x, residual, scale, bias, y. */
export const NORM: OpFamily<NormSpec, NormPlan> = {
  name: "norm",
  keyFields: NORM_KEY_FIELDS,
  operands: ["x", "residual", "scale", "bias", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeNormKey,
  describe: describeNorm,
  cost: (s) => ({
    flops: 8 * s.rows * s.cols,
    bytes: 4 * s.rows * s.cols * (s.residual ? 4 : 2) + 4 * s.cols * (+s.scale + +s.bias),
  }),
  plan: (s, t) => planNorm(s, t.isa, t.l1d, t.l2, t.prefetchWithinL2 ?? true),
  fallbackPlan: (s) => planNorm(s, "scalar"),
  generate: generateNorm,
  candidates: (s, p) => normCandidates(s, p),
  // Rows are independent; scale and bias are per column, shared by every part.
  partition: (s, p, parts) =>
    rowParts(s, p, parts, (i) => {
      const o = 4 * i * s.cols;
      return [o, s.residual ? o : 0, 0, 0, o];
    }),
  reference: (s, [x, r, g, b, y]) => normReference(s, x, r, g, b, y),
};

/** The f64 computation, rounded to f32. */
export function normReference(
  s: NormSpec,
  x: Float32Array,
  r: Float32Array,
  scale: Float32Array,
  bias: Float32Array,
  y: Float32Array,
): void {
  const t = new Float64Array(s.cols);
  for (let i = 0; i < s.rows; i++) {
    const o = i * s.cols;
    let sum = 0, sq = 0;
    for (let j = 0; j < s.cols; j++) {
      t[j] = s.residual ? Math.fround(x[o + j] + r[o + j]) : x[o + j];
      sum += t[j];
      sq += t[j] * t[j];
    }
    const mean = s.kind === "layer" ? sum / s.cols : 0;
    let v = 0;
    for (let j = 0; j < s.cols; j++) v += (t[j] - mean) ** 2;
    const inv = 1 / Math.sqrt((s.kind === "layer" ? v : sq) / s.cols + s.epsilon);
    for (let j = 0; j < s.cols; j++) {
      y[o + j] = (t[j] - mean) * inv * (s.scale ? scale[j] : 1) + (s.bias ? bias[j] : 0);
    }
  }
}
