/**
 * What one normalization call is: LayerNormalization or RMSNormalization
 * over the last axis of rows × cols, with optional scale, bias (LayerNorm
 * only) and residual (y = norm(x + residual)), and epsilon (f32).
 *
 * @module
 */

/** A decoded normalization key. */
export interface NormSpec {
  /** "layer": (x − mean)/√(var + ε); "rms": x/√(mean(x²) + ε). */
  kind: "layer" | "rms";
  /** Rows (every axis before the last). */
  rows: number;
  /** Elements per row (the normalized axis). */
  cols: number;
  /** A per-column scale is given. */
  scale: boolean;
  /** A per-column bias is given. */
  bias: boolean;
  /** A residual is added to x first (ONNX Runtime's SkipLayerNormalization). */
  residual: boolean;
  /** ε, as an f32. */
  epsilon: number;
}

/** Argument block slots (absent operands get a zero-length placeholder). */
export const NORM_ARG = { X: 0, R: 1, SCALE: 2, BIAS: 3, Y: 4 } as const;

/** The spec as text. */
export function describeNorm(s: NormSpec): string {
  const parts = [`${s.kind === "layer" ? "layerNorm" : "rmsNorm"} ${s.rows}×${s.cols}`];
  if (s.residual) parts.push("+residual");
  if (s.scale) parts.push("scale");
  if (s.bias) parts.push("bias");
  parts.push(`ε=${+s.epsilon.toPrecision(7)}`);
  return parts.join(" ");
}
