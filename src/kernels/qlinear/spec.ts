/**
 * What one 8-bit elementwise call is, as ONNX Runtime computes it:
 * - quantize: float32 x → bytes, y = saturate(round(x / scale) + zeroPoint)
 *   (QuantizeLinear per tensor; a NaN gives 0);
 * - add: bytes a, b of one shape → bytes, y = saturate(round(a·r1 + (b·r2 +
 *   fixed))) with two fused multiply-adds (com.microsoft QLinearAdd, the
 *   ratios r = scale/y_scale and fixed = y_zp − (r1·a_zp + r2·b_zp) formed
 *   by the caller).
 * - dequantize: bytes → float32, y = (x − zeroPoint)·scale (DequantizeLinear
 *   per tensor; with scale 1 the bytes' exact values).
 * - requantize: float32 rows of exact integer sums → bytes, each row's
 *   multiplier m (row r: multipliers[r mod channels]), y = saturate(
 *   round(f32(x·m)) + zeroPoint) clamped first to the range less the zero
 *   point — QLinearConv's requantizing after a float convolution of exact
 *   integers.
 * The float parameters travel in the key as their bits: a kernel per node.
 *
 * @module
 */

/** The modes. */
export const QLINEAR_MODES = ["quantize", "add", "dequantize", "requantize", "mul"] as const;

/**
 * How b meets a (add, mul): "same" element by element; "row": a is rows of
 * `cols`, b one row of them (b broadcast over the leading axes: ONNX
 * Runtime's general span); "span": a is rows of `cols`, b one value a row,
 * row r taking b[r mod bCount] (b 1 along the trailing axes: its scalar
 * span, the scalar folded into the fixed part first).
 */
export type BLayout = "same" | "row" | "span";
/** A mode's name. */
export type QLinearMode = typeof QLINEAR_MODES[number];

/** A decoded key. */
export interface QLinearSpec {
  mode: QLinearMode;
  /** Elements. */
  n: number;
  /** Inputs are int8 (add; else uint8). */
  signedIn: boolean;
  /** y is int8 (else uint8). */
  signedOut: boolean;
  /**
   * quantize, dequantize: scale, zero point; add: r1, r2, fixed (float32 values);
   * requantize: columns a row, zero point, channels (multipliers).
   */
  params: number[];
  /** add, mul: how b meets a; its row length and element count. */
  layout: BLayout;
  cols: number;
  bCount: number;
  /** The part's first element and count (the whole call: 0, n). */
  from: number;
  count: number;
}

/** Argument block slots. */
export const QLINEAR_ARG = { A: 0, B: 1, Y: 2 } as const;

/** The spec as text. */
export function describeQLinear(s: QLinearSpec): string {
  const t = (signed: boolean) => (signed ? "int8" : "uint8");
  const p = s.params.map((v) => String(v)).join(", ");
  // A part's elements are in its text: parts whose texts match share one kernel.
  const part = s.from !== 0 || s.count !== s.n ? ` elements ${s.from}-${s.from + s.count}` : "";
  const spread = s.layout === "same" ? "" : ` b by ${s.layout} (${s.cols} a row, ${s.bCount})`;
  if (s.mode === "mul") {
    return `qlinear mul n=${s.n} ${t(s.signedIn)} (ratio, zps = ${p})${spread}${part}`;
  }
  if (s.mode === "requantize") {
    const [cols, zero, channels] = s.params;
    return `qlinear requantize ${s.n / cols}×${cols} float32 → ${
      t(s.signedOut)
    } (${channels} multipliers, zp = ${zero})${part}`;
  }
  if (s.mode === "dequantize") {
    return `qlinear dequantize n=${s.n} ${t(s.signedIn)} → float32 (scale, zp = ${p})${part}`;
  }
  return s.mode === "quantize"
    ? `qlinear quantize n=${s.n} float32 → ${t(s.signedOut)} (scale, zp = ${p})${part}`
    : `qlinear add n=${s.n} ${t(s.signedIn)} → ${
      t(s.signedOut)
    } (r1, r2, fixed = ${p})${spread}${part}`;
}
