/**
 * Inference BatchNormalization (ONNX, NCHW) as an op family: for when it
 * cannot be folded into a preceding convolution (see fold.ts).
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { type BatchNormPlan, generateBatchNorm, planBatchNorm } from "./generate.ts";
import { BATCHNORM_KEY_FIELDS, type BatchNormSpec, decodeBatchNormKey } from "./read.ts";

/** y = (x − mean)/√(var + ε)·γ + β per channel; operands x, scale, bias, mean, var, y. */
export const BATCHNORM: OpFamily<BatchNormSpec, BatchNormPlan> = {
  name: "batchNorm",
  keyFields: BATCHNORM_KEY_FIELDS,
  operands: ["x", "scale", "bias", "mean", "variance", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeBatchNormKey,
  describe: (s) =>
    `batchNorm ${s.n}×${s.c}×${s.plane} ε=${s.epsilon}${
      s.activation ? ` ${UNARY_OPS[s.activation.op].name}` : ""
    }`,
  cost: (s) => ({ flops: 2 * s.n * s.c * s.plane, bytes: 8 * s.n * s.c * s.plane }),
  plan: (s, t) => planBatchNorm(s, t.isa),
  fallbackPlan: (s) => planBatchNorm(s, "scalar"),
  generate: generateBatchNorm,
  partition: batchNormParts,
  reference: (s, [x, g, b, m, v, y]) => batchNormReference(s, x, g, b, m, v, y),
};

/** Parts over images, or over channels of every image (planes are independent). */
function batchNormParts(
  s: BatchNormSpec,
  plan: BatchNormPlan,
  parts: number,
): Part<BatchNormSpec, BatchNormPlan>[] | null {
  const byImage = s.n >= parts;
  const ranges = splitRange(byImage ? s.n : s.c, parts);
  if (ranges.length < 2) return null;
  return ranges.map((r) => {
    if (byImage) {
      const o = 4 * r.start * s.channels * s.plane;
      return { spec: { ...s, n: r.count }, plan, offsets: [o, 0, 0, 0, 0, o] };
    }
    const o = 4 * r.start * s.plane, p = 4 * r.start;
    return { spec: { ...s, c: r.count }, plan, offsets: [o, p, p, p, p, o] };
  });
}

/** The computation in f32 steps, as the kernel and ONNX Runtime order them (FMA for x·a + b). */
export function batchNormReference(
  s: BatchNormSpec,
  x: Float32Array,
  scale: Float32Array,
  bias: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  y: Float32Array,
): void {
  const f = Math.fround;
  for (let n = 0; n < s.n; n++) {
    for (let c = 0; c < s.c; c++) {
      const a = f(f(1 / f(Math.sqrt(f(variance[c] + s.epsilon)))) * scale[c]);
      const b = f(bias[c] - f(mean[c] * a));
      const o = (n * s.channels + c) * s.plane;
      const act = s.activation ? UNARY_OPS[s.activation.op] : null;
      for (let i = 0; i < s.plane; i++) {
        const t = f(x[o + i] * a + b);
        y[o + i] = act ? act.reference(t, s.activation!.params) : t;
      }
    }
  }
}
