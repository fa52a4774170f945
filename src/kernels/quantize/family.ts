/**
 * Dynamic quantization (ONNX DynamicQuantizeLinear) as an op family: the
 * range of x (with 0), the scale and zero point it gives, x quantized to
 * uint8 with them, in one call.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { generateQuantize, planQuantize, type QuantizePlan } from "./generate.ts";
import { decodeQuantizeKey, QUANTIZE_KEY_FIELDS } from "./read.ts";
import { describeQuantize, type QuantizeSpec } from "./spec.ts";

/** x → y (bytes), scale, zero point; operands x, y, scale, zeroPoint (byte operands as Float32Array views of their bytes). */
export const QUANTIZE: OpFamily<QuantizeSpec, QuantizePlan> = {
  name: "quantizeDynamic",
  keyFields: QUANTIZE_KEY_FIELDS,
  operands: ["x", "y", "scale", "zeroPoint"],
  outputs: 3,
  decode: decodeQuantizeKey,
  describe: describeQuantize,
  cost: (s) => ({ flops: 4 * s.n, bytes: 9 * s.n }),
  plan: (s, t) => planQuantize(s, t.isa),
  fallbackPlan: (s) => planQuantize(s, "scalar"),
  generate: generateQuantize,
  // Each part finds the range of all of x (the same code over the same x: the same scale and
  // zero point, which every part writes alike) and quantizes its own elements.
  partition: (s, p, parts) => {
    const ranges = splitRange(s.n, parts, 256);
    if (ranges.length < 2) return null;
    return ranges.map((r): Part<QuantizeSpec, QuantizePlan> => ({
      spec: { ...s, from: r.start, count: r.count },
      plan: p,
      offsets: [0, 0, 0, 0],
    }));
  },
  reference: (s, [x, y, scale, zero]) =>
    quantizeReference(
      s.n,
      x,
      new Uint8Array(y.buffer, y.byteOffset, s.n),
      scale,
      new Uint8Array(zero.buffer, zero.byteOffset, 1),
    ),
};

const f = Math.fround;

/** Rounded half to even (the conversions' rounding; the 8-bit families' references share it). */
export function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The TypeScript computation, as ONNX Runtime computes it: the range of the
 * numbers in x and 0 (NaNs ignored), scale = (max − min)/255 (1 when the
 * range is empty), zero point = round(clamp(−min/scale, 0, 255)), each
 * y = clamp(round(x/scale) + zero point, 0, 255) (NaN → 0), every step in
 * float32 and rounding half to even.
 */
export function quantizeReference(
  n: number,
  x: Float32Array,
  y: Uint8Array,
  scale: Float32Array,
  zero: Uint8Array,
): void {
  let min = 0, max = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const s = max === min ? 1 : f(f(max - min) / 255);
  const initial = f(0 - f(min / s));
  const zp = roundEven(initial > 0 ? (initial < 255 ? initial : 255) : 0);
  scale[0] = s;
  zero[0] = zp;
  for (let i = 0; i < n; i++) {
    let t = f(x[i] / s);
    t = t > -256 ? (t < 256 ? t : 256) : -256; // NaN → −256
    const q = roundEven(t) + zp;
    y[i] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
}
