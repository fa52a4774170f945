/**
 * ONNX Resize (nearest, linear, cubic on the last two axes of NCHW) as an
 * op family.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rangeParts, splitRange } from "../partition.ts";
import { generateResize, planResize, type ResizePlan } from "./generate.ts";
import { decodeResizeKey, RESIZE_KEY_FIELDS } from "./read.ts";
import { axisTable, describeResize, type ResizeSpec } from "./spec.ts";

/** y = resize(x) per plane; operands x, y. */
export const RESIZE: OpFamily<ResizeSpec, ResizePlan> = {
  name: "resize",
  keyFields: RESIZE_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  decode: decodeResizeKey,
  describe: describeResize,
  cost: (s) => ({
    flops: 2 * s.planes * (s.h * s.ow + s.oh * s.ow) * (s.mode === "cubic" ? 4 : 2),
    bytes: 4 * s.planes * (s.h * s.w + s.oh * s.ow),
  }),
  plan: (s, t) => planResize(s, t.isa),
  // Tier 2: the scalar horizontal pass against the permutes (same bits).
  candidates: (s, p) => (p.permutes ? [planResize(s, p.isa, false)] : []),
  fallbackPlan: (s) => planResize(s, "scalar"),
  generate: generateResize,
  // Planes are independent.
  partition: (s, p, parts) =>
    rangeParts(
      p,
      splitRange(s.planes, parts),
      (r) => ({ ...s, planes: r.count }),
      (i) => [4 * i * s.h * s.w, 4 * i * s.oh * s.ow],
    ),
  reference: (s, [x, y]) => resizeReference(s, x, y),
};

/** The separable computation in f32 steps: each row through the column taps, then the row taps. */
export function resizeReference(s: ResizeSpec, x: Float32Array, y: Float32Array): void {
  const f = Math.fround, cols = axisTable(s, "w"), rows = axisTable(s, "h");
  const tmp = new Float32Array(s.h * s.ow);
  for (let p = 0; p < s.planes; p++) {
    for (let r = 0; r < s.h; r++) {
      for (let j = 0; j < s.ow; j++) {
        let acc = 0;
        for (let t = 0; t < cols.taps; t++) {
          const k = j * cols.taps + t;
          acc = f(acc + f(x[(p * s.h + r) * s.w + cols.index[k]] * cols.weight[k]));
        }
        tmp[r * s.ow + j] = acc;
      }
    }
    for (let i = 0; i < s.oh; i++) {
      for (let j = 0; j < s.ow; j++) {
        let acc = 0;
        for (let t = 0; t < rows.taps; t++) {
          const k = i * rows.taps + t;
          acc = f(acc + f(tmp[rows.index[k] * s.ow + j] * rows.weight[k]));
        }
        // tf_crop_and_resize: a row or column outside the input takes the extrapolation value.
        const outside = rows.outside !== null && (rows.outside[i] === 1 || cols.outside![j] === 1);
        y[(p * s.oh + i) * s.ow + j] = outside ? s.extrapolation : acc;
      }
    }
  }
}
