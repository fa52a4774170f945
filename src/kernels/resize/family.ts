/**
 * ONNX Resize (nearest, linear, cubic on the last two axes of NCHW) as an
 * op family.
 *
 * @module
 */
import type { Cost, OpFamily, Part } from "../family.ts";
import { rangeParts, splitRange } from "../partition.ts";
import { generateResize, planResize, type ResizePlan } from "./generate.ts";
import { decodeResizeKey, RESIZE_KEY_FIELDS } from "./read.ts";
import { describeResize, type ResizeSpec } from "./spec.ts";
import { type AxisTable, axisTable, axisTaps, verticalFirst } from "./tables.ts";

/** y = resize(x) per plane; operands x, y. */
export const RESIZE: OpFamily<ResizeSpec, ResizePlan> = {
  name: "resize",
  keyFields: RESIZE_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  decode: decodeResizeKey,
  describe: describeResize,
  cost: resizeCost,
  plan: (s, t) => planResize(s, t.isa),
  // Tier 2: the scalar horizontal pass against the permutes or the transposed rows (same bits).
  candidates: (s, p) => (p.permutes || p.transposed ? [planResize(s, p.isa, false)] : []),
  fallbackPlan: (s) => planResize(s, "scalar"),
  generate: generateResize,
  partition: resizeParts,
  reference: (s, [x, y]) => resizeReference(s, x, y),
};

/** A multiply-add per tap of each pass, in the order the kernel runs them (verticalFirst). */
function resizeCost(s: ResizeSpec): Cost {
  const tw = axisTaps(s, "w"), th = axisTaps(s, "h");
  const taps = verticalFirst(s)
    ? s.oh * s.w * th + s.oh * s.ow * tw
    : s.h * s.ow * tw + s.oh * s.ow * th;
  return { flops: 2 * s.planes * taps, bytes: 4 * s.planes * (s.h * s.w + s.oh * s.ow) };
}

/**
 * Parts of a resize: ranges of planes, each output the same sums wherever it
 * is computed. With fewer planes than parts (an image's 3) and the vertical
 * pass first, each plane in bands of output rows (each band's vertical pass
 * reads the input rows its taps name; horizontal first, each band would
 * repeat the whole plane's horizontal pass).
 */
function resizeParts(
  s: ResizeSpec,
  p: ResizePlan,
  parts: number,
): Part<ResizeSpec, ResizePlan>[] | null {
  const offsets = (plane: number, row = 0) => [
    4 * plane * s.h * s.w,
    4 * (plane * s.oh + row) * s.ow,
  ];
  if (s.planes >= parts || !verticalFirst(s) || s.band !== null) {
    return rangeParts(p, splitRange(s.planes, parts), (r) => ({ ...s, planes: r.count }), offsets);
  }
  const bands = splitRange(s.oh, Math.ceil(parts / s.planes));
  if (s.planes * bands.length < 2) return null;
  const out: Part<ResizeSpec, ResizePlan>[] = [];
  for (let plane = 0; plane < s.planes; plane++) {
    for (const b of bands) {
      out.push({
        spec: { ...s, planes: 1, band: { start: b.start, rows: b.count } },
        plan: p,
        offsets: offsets(plane, b.start),
      });
    }
  }
  return out;
}

/**
 * The separable computation in f32 steps, in the kernel's order
 * (verticalFirst): each row through the column taps, then the row taps, or
 * the rows first.
 */
export function resizeReference(s: ResizeSpec, x: Float32Array, y: Float32Array): void {
  const f = Math.fround, cols = axisTable(s, "w"), rows = axisTable(s, "h");
  // One axis's taps over `src` (rows of `width`): out index o, element j of its lines.
  const sum = (t: AxisTable, o: number, at: (index: number) => number) => {
    let acc = 0;
    for (let k = o * t.taps; k < (o + 1) * t.taps; k++) {
      acc = f(acc + f(at(t.index[k]) * t.weight[k]));
    }
    return acc;
  };
  const first = verticalFirst(s);
  const tmp = new Float32Array(first ? s.oh * s.w : s.h * s.ow);
  for (let p = 0; p < s.planes; p++) {
    const plane = p * s.h * s.w;
    if (first) {
      for (let i = 0; i < s.oh; i++) {
        for (let c = 0; c < s.w; c++) {
          tmp[i * s.w + c] = sum(rows, i, (r) => x[plane + r * s.w + c]);
        }
      }
    } else {
      for (let r = 0; r < s.h; r++) {
        for (let j = 0; j < s.ow; j++) {
          tmp[r * s.ow + j] = sum(cols, j, (c) => x[plane + r * s.w + c]);
        }
      }
    }
    for (let i = 0; i < s.oh; i++) {
      for (let j = 0; j < s.ow; j++) {
        const acc = first
          ? sum(cols, j, (c) => tmp[i * s.w + c])
          : sum(rows, i, (r) => tmp[r * s.ow + j]);
        // tf_crop_and_resize: a row or column outside the input takes the extrapolation value.
        const outside = rows.outside !== null && (rows.outside[i] === 1 || cols.outside![j] === 1);
        y[(p * s.oh + i) * s.ow + j] = outside ? s.extrapolation : acc;
      }
    }
  }
}
