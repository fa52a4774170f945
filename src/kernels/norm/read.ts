/**
 * Reading `jit.layerNorm` and `jit.rmsNorm` calls: rows × cols must match x
 * and y exactly (y may be x), scale and bias hold cols elements, a residual
 * rows × cols; ε a positive finite number (ONNX default 1e-5). The key is
 * written without allocating.
 *
 * @module
 */
import { describe, isFloat32Array, viewLength } from "../../typed.ts";
import { badDimension, badOptions, badRowsLength, dimension, fail } from "../checks.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import type { NormSpec } from "./spec.ts";

/** Options of `jit.layerNorm` (and `jit.rmsNorm`, which takes no bias). */
export interface NormOptions {
  /** Rows: the product of every axis before the last. */
  rows: number;
  /** Elements per row: the normalized (last) axis. */
  cols: number;
  /** Per-column scale (γ), cols elements. Default: none (1). */
  scale?: Float32Array;
  /** Per-column bias (β), cols elements; layerNorm only. Default: none (0). */
  bias?: Float32Array;
  /** Added to x before normalizing: y = norm(x + residual). rows × cols elements. */
  residual?: Float32Array;
  /** Added to the variance (or mean square) before the square root. Default 1e-5. */
  epsilon?: number;
}

/** Names of the normalization key slots after the family slot. */
export const NORM_KEY_FIELDS = [
  "kind",
  "rows",
  "cols",
  "scale",
  "bias",
  "residual",
  "epsilon",
] as const;

const EPSILON_BITS = f32Bits(1e-5);

function checkVector(op: string, name: string, v: unknown, need: number): void {
  if (!isFloat32Array(v)) fail(op, `${name} must be a Float32Array, got ${describe(v)}`, "type");
  const n = viewLength(v);
  if (n !== need) {
    fail(
      op,
      `${name} has ${n} elements but ${name === "residual" ? "rows × cols" : "cols"} is ${need}`,
      "range",
    );
  }
}

/**
 * Checks a normalization call (x and y known Float32Arrays), writes key
 * slots 1..7, the extents of x, residual, scale, bias, y, and the optional
 * operands into `operands` (residual, scale, bias; undefined where absent).
 * Each option is read once: a getter cannot hand validation one array and
 * the kernel another.
 */
export function readNorm(
  kind: "layer" | "rms",
  x: Float32Array,
  y: Float32Array,
  o: NormOptions,
  key: Int32Array,
  extents: Float64Array,
  operands: (Float32Array | undefined)[],
): void {
  const op = kind === "layer" ? "layerNorm" : "rmsNorm";
  if (o === null || typeof o !== "object") badOptions(op, o, "rows and cols");
  const rows = o.rows, cols = o.cols;
  if (!dimension(rows)) badDimension(op, "rows", rows);
  if (!dimension(cols)) badDimension(op, "cols", cols);
  const n = rows * cols;
  const nx = viewLength(x), ny = viewLength(y);
  if (nx !== n) badRowsLength(op, "x", nx, rows, cols);
  if (ny !== n) badRowsLength(op, "y", ny, rows, cols);
  const scale = o.scale, bias = o.bias, residual = o.residual;
  if (scale !== undefined) checkVector(op, "scale", scale, cols);
  if (bias !== undefined) {
    if (kind === "rms") {
      fail(op, `takes no bias (RMSNormalization has none), got ${describe(bias)}`, "type");
    }
    checkVector(op, "bias", bias, cols);
  }
  if (residual !== undefined) checkVector(op, "residual", residual, n);
  const eps = o.epsilon;
  if (eps === undefined) key[7] = EPSILON_BITS;
  else if (typeof eps !== "number" || !(eps > 0) || eps === Infinity) {
    fail(
      op,
      `epsilon must be a positive finite number, got ${describe(eps)}`,
      typeof eps === "number" ? "range" : "type",
    );
  } else key[7] = f32Bits(eps);
  key[1] = kind === "layer" ? 0 : 1;
  key[2] = rows;
  key[3] = cols;
  key[4] = scale !== undefined ? 1 : 0;
  key[5] = bias !== undefined ? 1 : 0;
  key[6] = residual !== undefined ? 1 : 0;
  extents[0] = 4 * n;
  extents[1] = residual !== undefined ? 4 * n : 0;
  extents[2] = scale !== undefined ? 4 * cols : 0;
  extents[3] = bias !== undefined ? 4 * cols : 0;
  extents[4] = 4 * n;
  operands[0] = residual;
  operands[1] = scale;
  operands[2] = bias;
}

/** The spec a key describes. */
export function decodeNormKey(key: Int32Array): NormSpec {
  return {
    kind: key[1] === 0 ? "layer" : "rms",
    rows: key[2],
    cols: key[3],
    scale: key[4] === 1,
    bias: key[5] === 1,
    residual: key[6] === 1,
    epsilon: fromF32Bits(key[7]),
  };
}
