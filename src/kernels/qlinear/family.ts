/**
 * 8-bit elementwise ops as an op family: QuantizeLinear (float32 → bytes)
 * and DequantizeLinear (bytes → float32) per tensor, requantizing rows of
 * exact sums, com.microsoft QLinearAdd and QLinearMul (b of a's shape, a
 * row, or a value a row), bit for bit as ONNX Runtime computes them.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { roundEven } from "../quantize/family.ts";
import { generateQLinear, planQLinear, type QLinearPlan } from "./generate.ts";
import { decodeQLinearKey, QLINEAR_KEY_FIELDS } from "./read.ts";
import { describeQLinear, type QLinearSpec } from "./spec.ts";

/** Operands a (x), b, y: Float32Array views of their bytes. */
export const QLINEAR: OpFamily<QLinearSpec, QLinearPlan> = {
  name: "qlinear",
  keyFields: QLINEAR_KEY_FIELDS,
  operands: ["a", "b", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeQLinearKey,
  describe: describeQLinear,
  cost: (s) => ({ flops: 4 * s.count, bytes: (s.mode === "add" ? 3 : 5) * s.count }),
  plan: (s, t) => planQLinear(s, t.isa),
  fallbackPlan: (s) => planQLinear(s, "scalar"),
  generate: generateQLinear,
  partition: (s, p, parts) => {
    const byRows = s.mode === "requantize" || s.layout !== "same";
    if (byRows) {
      // Whole rows: each part starts at its row's multiplier or b.
      const cols = s.mode === "requantize" ? s.params[0] : s.cols;
      const rows = splitRange(s.count / cols, parts, Math.ceil(256 / cols));
      if (rows.length < 2) return null;
      return rows.map((r): Part<QLinearSpec, QLinearPlan> => ({
        spec: { ...s, from: s.from + r.start * cols, count: r.count * cols },
        plan: p,
        offsets: [0, 0, 0],
      }));
    }
    const ranges = splitRange(s.count, parts, 256);
    if (ranges.length < 2) return null;
    return ranges.map((r): Part<QLinearSpec, QLinearPlan> => ({
      spec: { ...s, from: s.from + r.start, count: r.count },
      plan: p,
      offsets: [0, 0, 0],
    }));
  },
  reference: (s, [a, b, y]) => qlinearReference(s, a, b, y),
};

const f = Math.fround;

/** The TypeScript computation (the tests' oracle), over the spec's elements. */
export function qlinearReference(
  s: QLinearSpec,
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
): void {
  const lo = s.signedOut ? -128 : 0, hi = s.signedOut ? 127 : 255;
  const end = s.from + s.count;
  const view = (v: Float32Array) =>
    s.signedIn
      ? new Int8Array(v.buffer, v.byteOffset, end)
      : new Uint8Array(v.buffer, v.byteOffset, end);
  if (s.mode === "dequantize") {
    const [scale, zero] = s.params, X = view(a);
    for (let i = s.from; i < end; i++) y[i] = f((X[i] - zero) * scale);
    return;
  }
  const Y = s.signedOut
    ? new Int8Array(y.buffer, y.byteOffset, end)
    : new Uint8Array(y.buffer, y.byteOffset, end);
  if (s.mode === "requantize") {
    const [cols, zero, channels] = s.params, flo = lo - zero, fhi = hi - zero;
    for (let i = s.from; i < end; i++) {
      let v = f(a[i] * b[Math.floor(i / cols) % channels]);
      if (Number.isNaN(v)) {
        Y[i] = 0;
        continue;
      }
      v = v < flo ? flo : v > fhi ? fhi : v;
      Y[i] = roundEven(v) + zero;
    }
    return;
  }
  if (s.mode === "quantize") {
    const [scale, zero] = s.params;
    for (let i = s.from; i < end; i++) {
      const q = roundEven(f(a[i] / scale)) + zero;
      Y[i] = Number.isNaN(q) ? lo : q < lo ? lo : q > hi ? hi : q; // NaN: the least (quantizeNaN)
    }
    return;
  }
  const A = view(a), B = view(b);
  /** b's element for a's element i. */
  const bAt = (i: number) =>
    s.layout === "same"
      ? B[i]
      : s.layout === "row"
      ? B[i % s.cols]
      : B[Math.floor(i / s.cols) % s.bCount];
  if (s.mode === "mul") {
    const [ratio, za, zb, zy] = s.params;
    for (let i = s.from; i < end; i++) {
      const v = f(f((A[i] - za) * (bAt(i) - zb) * ratio) + zy);
      const q = v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
      Y[i] = q < lo ? lo : q > hi ? hi : q;
    }
    return;
  }
  const [r1, r2, fixed] = s.params;
  for (let i = s.from; i < end; i++) {
    const v = s.layout === "span"
      ? f(A[i] * r1 + f(fixed + f(bAt(i) * r2)))
      : f(A[i] * r1 + f(bAt(i) * r2 + fixed));
    const q = v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
    Y[i] = q < lo ? lo : q > hi ? hi : q;
  }
}
