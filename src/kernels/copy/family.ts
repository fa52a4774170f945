/**
 * Strided copies as an op family (Transpose, Concat, Split, Slice, Tile,
 * Expand and the like in the graph layer): y = x walked by strides.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { type CopyPlan, generateCopy, planCopy } from "./generate.ts";
import { COPY_KEY_FIELDS, decodeCopyKey } from "./read.ts";
import { type CopySpec, describeCopy, spanOf } from "./spec.ts";

/** y[Σ idx·yStride] = x[Σ idx·xStride]; operands x, y. */
export const COPY: OpFamily<CopySpec, CopyPlan> = {
  name: "copy",
  keyFields: COPY_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  decode: decodeCopyKey,
  describe: describeCopy,
  cost: (s) => ({ flops: 0, bytes: 8 * s.dims.reduce((p, d) => p * d, 1) }),
  plan: (s, t) => planCopy(s, t.isa),
  fallbackPlan: (s) => planCopy(s, "scalar"),
  generate: generateCopy,
  partition: copyParts,
  reference: (s, [x, y]) => copyReference(s, x, y),
};

/** Parts over the outermost dim (its slices are disjoint in y: y's strides never repeat). */
function copyParts(s: CopySpec, plan: CopyPlan, parts: number): Part<CopySpec, CopyPlan>[] | null {
  const ranges = splitRange(s.dims[0], parts, s.dims.length === 1 ? 16 : 1);
  if (ranges.length < 2) return null;
  return ranges.map((r) => {
    const spec = { ...s, dims: [r.count, ...s.dims.slice(1)] };
    return { spec, plan, offsets: [4 * r.start * s.xStrides[0], 4 * r.start * s.yStrides[0]] };
  });
}

/** The copy by a TypeScript odometer, on the bits (a float read in JS quiets a signaling NaN). */
export function copyReference(s: CopySpec, xf: Float32Array, yf: Float32Array): void {
  const x = new Uint32Array(xf.buffer, xf.byteOffset, xf.length);
  const y = new Uint32Array(yf.buffer, yf.byteOffset, yf.length);
  const n = s.dims.length, idx = new Array(n).fill(0), total = s.dims.reduce((p, d) => p * d, 1);
  if (spanOf(s.dims, s.xStrides) === 0) return;
  for (let i = 0; i < total; i++) {
    let xo = 0, yo = 0;
    for (let k = 0; k < n; k++) {
      xo += idx[k] * s.xStrides[k];
      yo += idx[k] * s.yStrides[k];
    }
    y[yo] = x[xo];
    for (let k = n - 1; k >= 0; k--) {
      if (++idx[k] < s.dims[k]) break;
      idx[k] = 0;
    }
  }
}
