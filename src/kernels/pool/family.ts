/**
 * MaxPool and AveragePool (ONNX, NCHW) as an op family.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rangeParts, splitRange } from "../partition.ts";
import { generatePool, planPool, type PoolPlan } from "./generate.ts";
import { decodePoolKey, POOL_KEY_FIELDS } from "./read.ts";
import { counted, describePool, poolElementBytes, poolShape, type PoolSpec } from "./spec.ts";

/** y = pool(x) over each of the n·c planes; operands x, y. */
export const POOL: OpFamily<PoolSpec, PoolPlan> = {
  name: "pool",
  keyFields: POOL_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  decode: decodePoolKey,
  describe: describePool,
  cost: (s) => {
    const { oh, ow } = poolShape(s), e = poolElementBytes(s);
    return { flops: s.planes * oh * ow * s.kh * s.kw, bytes: e * s.planes * (s.h * s.w + oh * ow) };
  },
  plan: (s, t) => planPool(s, t.isa),
  fallbackPlan: (s) => planPool(s, "scalar"),
  generate: generatePool,
  // Planes are independent.
  partition: (s, p, parts) => {
    const { oh, ow } = poolShape(s), e = poolElementBytes(s);
    return rangeParts(
      p,
      splitRange(s.planes, parts),
      (r) => ({ ...s, planes: r.count }),
      (i) => [e * i * s.h * s.w, e * i * oh * ow],
    );
  },
  reference: (s, [x, y]) => {
    if (s.type === "float32") return poolReference(s, x, y);
    // 8-bit operands arrive as float views of their bytes: the bytes themselves, by count.
    const { oh, ow } = poolShape(s), u8 = s.type === "uint8";
    const bytes = (v: Float32Array, n: number) =>
      u8 ? new Uint8Array(v.buffer, v.byteOffset, n) : new Int8Array(v.buffer, v.byteOffset, n);
    const xf = Float32Array.from(bytes(x, s.planes * s.h * s.w));
    const yf = new Float32Array(s.planes * oh * ow), yb = bytes(y, yf.length);
    poolReference(s, xf, yf);
    // A window of padding alone (−∞) is the type's least value, as the kernel's padding gives.
    for (let i = 0; i < yf.length; i++) yb[i] = Math.max(yf[i], s.type === "uint8" ? 0 : -128);
  },
};

/** The f64 computation: max (NaN propagating) or mean over each window. */
export function poolReference(s: PoolSpec, x: Float32Array, y: Float32Array): void {
  const { oh, ow } = poolShape(s);
  for (let p = 0; p < s.planes; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let acc = s.kind === "max" ? -Infinity : 0, nan = false;
        for (let a = 0; a < s.kh; a++) {
          const ih = i * s.sh - s.pt + a * s.dh;
          if (ih < 0 || ih >= s.h) continue;
          for (let b = 0; b < s.kw; b++) {
            const iw = j * s.sw - s.pl + b * s.dw;
            if (iw < 0 || iw >= s.w) continue;
            const v = x[(p * s.h + ih) * s.w + iw];
            if (Number.isNaN(v)) nan = true;
            acc = s.kind === "max" ? Math.max(acc, v) : acc + v;
          }
        }
        const count = counted(i, s.h, s.kh, s.sh, s.dh, s.pt, s.pb, s.countIncludePad) *
          counted(j, s.w, s.kw, s.sw, s.dw, s.pl, s.pr, s.countIncludePad);
        y[(p * oh + i) * ow + j] = nan ? NaN : s.kind === "max" ? acc : acc / count;
      }
    }
  }
}
