/**
 * What the com.microsoft QOperator ops share: their one-value scales and zero points read
 * and checked, and ONNX Runtime's conversions (x86's float → int32, the saturating packs,
 * MlasQuantizeLinear) and 256-entry dequantize-map-quantize tables.
 */
import type { Node } from "../ir.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import { roundEven } from "./quantize.ts";
import { type Buf, expectType, fail, type Meta, sizeOf } from "./op.ts";

export const f = Math.fround;

/** x86's float → int32 conversion (cvtps2dq): half to even, out of range or NaN → −2³¹. */
export function toInt32(v: number): number {
  return v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
}

/** Saturated to 16 bits (packssdw), then to the 8-bit type (packuswb / packsswb). */
export function saturate(v: number, signed: boolean): number {
  const w = v < -32768 ? -32768 : v > 32767 ? 32767 : v;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  return w < lo ? lo : w > hi ? hi : w;
}

/**
 * f32 fma(a, b, c): a·b of two f32 is exact in f64, and the sum is exact too where the
 * magnitudes are as here (8-bit values times scale ratios), so one rounding.
 */
export function fma(a: number, b: number, c: number): number {
  return f(a * b + c);
}

export function scalarOf(b: Buf | null, fallback = 0): number {
  return b ? Number((b.data as TensorData)[0]) : fallback;
}

/** Checks that the inputs at `at` are one-element scales (float32) or zero points (type t). */
export function checkParams(
  n: Node,
  ins: readonly (Meta | null)[],
  scales: number[],
  zps: number[],
  t: string,
) {
  for (const i of scales) {
    expectType(n, ins[i]!, i, "float32");
    if (sizeOf(ins[i]!.dims) !== 1) fail(n, `input ${i} (a scale) must have one element`);
  }
  for (const i of zps) {
    const z = ins[i];
    if (!z) continue;
    if (z.type !== t) fail(n, `input ${i} (a zero point) is ${z.type}, the data ${t}`);
    if (sizeOf(z.dims) !== 1) fail(n, `input ${i} (a zero point) must have one element`);
  }
}

export type Bytes = Int8Array | Uint8Array;

/** Fails unless the inputs at `at` are given (the others may be left out). */
export function required(n: Node, ins: readonly (Meta | null)[], at: number[]): void {
  for (const i of at) if (!ins[i]) fail(n, `input ${i} is required`);
}

/** MlasQuantizeLinear of one value: ÷ scale, half to even, zero point, saturated. */
export function quantize(v: number, scale: number, zero: number, signed: boolean): number {
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  const q = f(v / scale);
  if (Number.isNaN(q)) return zero;
  const c = q < lo - zero ? lo - zero : q > hi - zero ? hi - zero : q;
  return roundEven(c) + zero;
}

/**
 * The 256-entry table of an 8-bit map: entry i is the output for input value lo + i,
 * `fn` mapping every dequantized value at once (in place).
 */
export function buildTable(
  table: Int16Array,
  signed: boolean,
  xs: number,
  xz: number,
  ys: number,
  yz: number,
  values: Float32Array,
  fn: (v: Float32Array) => void,
): void {
  const lo = signed ? -128 : 0;
  for (let i = 0; i < 256; i++) values[i] = f(xs * (lo + i - xz));
  fn(values);
  for (let i = 0; i < 256; i++) table[i] = quantize(values[i], ys, yz, signed);
}
