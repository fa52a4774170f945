/**
 * What one dynamic quantization call is (ONNX DynamicQuantizeLinear): n
 * floats to uint8 with the scale and zero point their range gives.
 *
 * @module
 */

/** A decoded dynamic quantization key. */
export interface QuantizeSpec {
  /** Elements of x and y. */
  n: number;
  /** First element this call (or part) quantizes (the range is always all of x). */
  from: number;
  /** Elements it quantizes. */
  count: number;
}

/** Argument block slots: x (float32), then the outputs y (bytes), scale (float32), zero point (a byte). */
export const QUANTIZE_ARG = { X: 0, Y: 1, SCALE: 2, ZERO: 3 } as const;

/** The spec as text. */
export function describeQuantize(s: QuantizeSpec): string {
  return `quantizeDynamic n=${s.n}${s.count === s.n ? "" : ` [${s.from}, +${s.count})`}`;
}
