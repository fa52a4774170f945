/**
 * Reading the 8-bit elementwise calls (quantizeLinear, dequantizeLinear,
 * requantize, qlinearAdd, qlinearMul): lengths and
 * parameters checked, the float parameters' bits into the key, no
 * allocation.
 *
 * @module
 */
import { fail } from "../checks.ts";
import { QLINEAR_MODES, type QLinearSpec } from "./spec.ts";

/** Options of `jit.quantizeLinear`: one scale and zero point for the tensor. */
export interface QuantizeLinearOptions {
  /** The scale (a positive finite float32, or any finite float; 0 gives NaN → 0). */
  scale: number;
  /** The zero point, a value of y's type. Default 0. */
  zeroPoint?: number;
}

/** Options of `jit.dequantizeLinear`: one scale and zero point for the tensor. */
export interface DequantizeLinearOptions {
  /** The scale (a finite float32). */
  scale: number;
  /** The zero point, a value of x's type. Default 0. */
  zeroPoint?: number;
}

/** Options of `jit.requantize`: rows of `cols` sums, a multiplier per row (cyclically). */
export interface RequantizeOptions {
  /** Sums a row (x and y are rows × cols). */
  cols: number;
  /** Row r's multiplier is multipliers[r mod multipliers.length] (a channel's, NCHW). */
  multipliers: Float32Array;
  /** y's zero point, a value of y's type. Default 0. */
  zeroPoint?: number;
}

/** Options of `jit.qlinearAdd` and `jit.qlinearMul`: scales, zero points, b's broadcast. */
export interface QLinearAddOptions {
  /** a's scale. */
  aScale: number;
  /** a's zero point (default 0). */
  aZeroPoint?: number;
  /** b's scale. */
  bScale: number;
  /** b's zero point (default 0). */
  bZeroPoint?: number;
  /** y's scale (not 0). */
  yScale: number;
  /** y's zero point (default 0). */
  yZeroPoint?: number;
  /**
   * How b meets a (default "same": the same length). "row": a (and y) are
   * rows of `cols`, b one row of `cols` (b broadcast over the leading axes);
   * "span": a is rows of `cols`, row r takes b[r mod b.length] (b 1 along
   * the trailing axes — a channel's value over its plane).
   */
  broadcast?: "same" | "row" | "span";
  /** Elements of a row (with broadcast "row" or "span"). */
  cols?: number;
}

/** Names of the key slots after the family slot. */
export const QLINEAR_KEY_FIELDS = [
  "mode",
  "n",
  "signedIn",
  "signedOut",
  "p0",
  "p1",
  "p2",
  "p3",
  "layout",
  "cols",
  "bCount",
] as const;

/** The layouts' key codes. */
const LAYOUTS = ["same", "row", "span"] as const;

/** Most elements of a call. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * Float32 values travel to key slots through this scratch (`bits[0] = v`,
 * then `bitsInt[0]`): written in place, never passed to or returned from a
 * function, a double is never boxed on the call path.
 */
const bits = new Float32Array(1), bitsInt = new Int32Array(bits.buffer);

/** The error for a scale that is not a finite number (cold: the check is inline). */
function badFloat(who: string, name: string, v: unknown): never {
  fail(
    who,
    `${name} must be a finite number, got ${String(v)}`,
    typeof v === "number" ? "range" : "type",
  );
}

function readZero(who: string, name: string, v: unknown, signed: boolean): number {
  if (v === undefined) return 0;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    fail(
      who,
      `${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`,
      typeof v === "number" ? "range" : "type",
    );
  }
  return v;
}

/** Checks a quantizeLinear call (x n floats, y `yLength` bytes) into the key. */
export function readQuantizeLinear(
  n: number,
  yLength: number,
  signedOut: boolean,
  o: QuantizeLinearOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  const W = "quantizeLinear";
  if (o === null || typeof o !== "object") fail(W, "options must be an object with scale", "type");
  if (n > MAX_ELEMENTS) fail(W, `x has ${n} elements, at most ${MAX_ELEMENTS}`, "range");
  if (yLength !== n) fail(W, `y has ${yLength} elements, x has ${n}: they must match`, "range");
  const scale = o.scale;
  if (typeof scale !== "number" || !Number.isFinite(scale)) badFloat(W, "scale", scale);
  key[1] = 0;
  key[2] = n;
  key[3] = 0;
  key[4] = signedOut ? 1 : 0;
  bits[0] = scale;
  key[5] = bitsInt[0];
  key[6] = readZero(W, "zeroPoint", o.zeroPoint, signedOut);
  key[7] = 0;
  key[8] = 0;
  key[9] = 0;
  key[10] = 0;
  key[11] = 0;
  extents[0] = 4 * n;
  extents[1] = 0;
  extents[2] = n;
}

/** Checks a dequantizeLinear call (x `n` bytes, y `yLength` floats) into the key. */
export function readDequantizeLinear(
  n: number,
  yLength: number,
  signedIn: boolean,
  o: DequantizeLinearOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  const W = "dequantizeLinear";
  if (o === null || typeof o !== "object") fail(W, "options must be an object with scale", "type");
  if (n > MAX_ELEMENTS) fail(W, `x has ${n} elements, at most ${MAX_ELEMENTS}`, "range");
  if (yLength !== n) fail(W, `y has ${yLength} elements, x has ${n}: they must match`, "range");
  const scale = o.scale;
  if (typeof scale !== "number" || !Number.isFinite(scale)) badFloat(W, "scale", scale);
  key[1] = 2;
  key[2] = n;
  key[3] = signedIn ? 1 : 0;
  key[4] = 0;
  bits[0] = scale;
  key[5] = bitsInt[0];
  key[6] = readZero(W, "zeroPoint", o.zeroPoint, signedIn);
  key[7] = 0;
  key[8] = 0;
  key[9] = 0;
  key[10] = 0;
  key[11] = 0;
  extents[0] = n;
  extents[1] = 0;
  extents[2] = 4 * n;
}

/**
 * Checks a requantize call (x `n` floats, y `yLength` bytes, `channels`
 * multipliers) into the key.
 */
export function readRequantize(
  n: number,
  yLength: number,
  signedOut: boolean,
  channels: number,
  o: RequantizeOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  const W = "requantize";
  if (o === null || typeof o !== "object") {
    fail(W, "options must be an object with cols and multipliers", "type");
  }
  if (n > MAX_ELEMENTS) fail(W, `x has ${n} elements, at most ${MAX_ELEMENTS}`, "range");
  if (yLength !== n) fail(W, `y has ${yLength} elements, x has ${n}: they must match`, "range");
  const cols = o.cols;
  if (typeof cols !== "number" || !Number.isInteger(cols) || cols < 1 || n % cols !== 0) {
    fail(
      W,
      `cols must be a positive integer dividing x's ${n} elements, got ${String(cols)}`,
      typeof cols === "number" ? "range" : "type",
    );
  }
  if (channels < 1) fail(W, "multipliers must hold at least 1 element", "range");
  key[1] = 3;
  key[2] = n;
  key[3] = 0;
  key[4] = signedOut ? 1 : 0;
  key[5] = cols;
  key[6] = readZero(W, "zeroPoint", o.zeroPoint, signedOut);
  key[7] = channels;
  key[8] = 0;
  key[9] = 0;
  key[10] = 0;
  key[11] = 0;
  extents[0] = 4 * n;
  extents[1] = 4 * channels;
  extents[2] = n;
}

/**
 * Checks a qlinearAdd (`mul` false) or qlinearMul call (a, b, y of their
 * lengths) into the key: ONNX Runtime's constants in float32 — add: r1, r2
 * and the fixed part; mul: the ratio, then the zero points.
 */
export function readQLinearBinary(
  mul: boolean,
  aLength: number,
  bLength: number,
  yLength: number,
  signed: boolean,
  o: QLinearAddOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  const W = mul ? "qlinearMul" : "qlinearAdd";
  if (o === null || typeof o !== "object") {
    fail(W, "options must be an object with aScale, bScale and yScale", "type");
  }
  if (aLength > MAX_ELEMENTS) {
    fail(W, `a has ${aLength} elements, at most ${MAX_ELEMENTS}`, "range");
  }
  if (yLength !== aLength) {
    fail(W, `a and y have ${aLength} and ${yLength} elements: they must match`, "range");
  }
  const layout = o.broadcast ?? "same", code = LAYOUTS.indexOf(layout as never);
  if (code < 0) {
    fail(W, `broadcast must be "same", "row" or "span", got ${String(layout)}`, "range");
  }
  let cols = 0;
  if (layout === "same") {
    if (bLength !== aLength) {
      fail(
        W,
        `a, b and y have ${aLength}, ${bLength} and ${yLength} elements: they must match`,
        "range",
      );
    }
  } else {
    cols = o.cols as number;
    if (typeof cols !== "number" || !Number.isInteger(cols) || cols < 1 || aLength % cols !== 0) {
      fail(
        W,
        `cols must be a positive integer dividing a's ${aLength} elements, got ${String(cols)}`,
        "range",
      );
    }
    if (layout === "row" && bLength !== cols) {
      fail(W, `b has ${bLength} elements, a row of ${cols} needed`, "range");
    }
    if (layout === "span" && (bLength < 1 || bLength > aLength / cols)) {
      fail(W, `b has ${bLength} elements: 1 to the ${aLength / cols} rows needed`, "range");
    }
  }
  const f = Math.fround;
  const sA = o.aScale, sB = o.bScale, sY = o.yScale;
  if (typeof sA !== "number" || !Number.isFinite(sA)) badFloat(W, "aScale", sA);
  if (typeof sB !== "number" || !Number.isFinite(sB)) badFloat(W, "bScale", sB);
  if (typeof sY !== "number" || !Number.isFinite(sY)) badFloat(W, "yScale", sY);
  if (sY === 0) fail(W, "yScale must not be 0", "range");
  const zA = readZero(W, "aZeroPoint", o.aZeroPoint, signed);
  const zB = readZero(W, "bZeroPoint", o.bZeroPoint, signed);
  const zY = readZero(W, "yZeroPoint", o.yZeroPoint, signed);
  key[1] = mul ? 4 : 1;
  key[2] = aLength;
  key[3] = signed ? 1 : 0;
  key[4] = signed ? 1 : 0;
  if (mul) {
    bits[0] = f(f(f(sA) * f(sB)) / f(sY));
    key[5] = bitsInt[0];
    key[6] = zA;
    key[7] = zB;
    key[8] = zY;
  } else {
    // ONNX Runtime's constants: the ratios and the fixed part, each step in float32.
    const r1 = f(f(sA) / f(sY)), r2 = f(f(sB) / f(sY));
    bits[0] = r1;
    key[5] = bitsInt[0];
    bits[0] = r2;
    key[6] = bitsInt[0];
    bits[0] = f(zY - f(f(r1 * zA) + f(r2 * zB)));
    key[7] = bitsInt[0];
    key[8] = 0;
  }
  key[9] = code;
  key[10] = cols;
  key[11] = layout === "same" ? 0 : bLength;
  extents[0] = aLength;
  extents[1] = bLength;
  extents[2] = aLength;
}

/** The spec a key describes. */
export function decodeQLinearKey(key: Int32Array): QLinearSpec {
  const mode = QLINEAR_MODES[key[1]];
  const asFloat = (v: number) => new Float32Array(new Int32Array([v]).buffer)[0];
  return {
    mode,
    n: key[2],
    signedIn: key[3] === 1,
    signedOut: key[4] === 1,
    params: mode === "add"
      ? [key[5], key[6], key[7]].map(asFloat)
      : mode === "mul"
      ? [asFloat(key[5]), key[6], key[7], key[8]]
      : mode === "requantize"
      ? [key[5], key[6], key[7]]
      : [asFloat(key[5]), key[6]],
    layout: LAYOUTS[key[9]],
    cols: key[10],
    bCount: key[11],
    from: 0,
    count: key[2],
  };
}
