/**
 * Rows scaled by f64 factors and rounded once, as an op family: what
 * folding a BatchNormalization into a convolution's weights computes
 * (batchnorm/fold.ts), at memory speed instead of a TypeScript loop (a
 * model's create folds every weight of its convolutions). The counts are
 * the call's operand, not its key (read.ts): one kernel a level, one thread.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { generateScaleRows, planScaleRows, type ScaleRowsPlan } from "./generate.ts";
import {
  decodeScaleRowsKey,
  SCALE_KEY_FIELDS,
  scaleRowsCounts,
  type ScaleRowsSpec,
} from "./read.ts";

/** y[r][j] = f32(x[r][j] · f[r]) with f in f64; operands x, factors (with the counts), y. */
export const SCALE_ROWS: OpFamily<ScaleRowsSpec, ScaleRowsPlan> = {
  name: "scaleRows",
  keyFields: SCALE_KEY_FIELDS,
  operands: ["x", "factors", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeScaleRowsKey,
  describe: () => "scaleRows (counts in the factors' header)",
  cost: () => ({ flops: 0, bytes: 0 }),
  plan: (s, t) => planScaleRows(s, t.isa),
  fallbackPlan: (s) => planScaleRows(s, "scalar"),
  oneThread:
    "its counts are an operand, not its spec (one kernel serves every shape), so no spec says how to split it; it prepares weights once, at create",
  generate: generateScaleRows,
  reference: (_s, [x, f, y]) => scaleRowsReference(x, f, y),
};

/** The computation: f64 products stored into a Float32Array (one rounding). */
export function scaleRowsReference(x: Float32Array, factors: Float32Array, y: Float32Array): void {
  const { rows, length } = scaleRowsCounts(factors);
  const f = new Float64Array(factors.buffer, factors.byteOffset + 8, rows);
  for (let r = 0, i = 0; r < rows; r++) {
    const k = f[r];
    for (const end = i + length; i < end; i++) y[i] = x[i] * k;
  }
}
