/**
 * Reading a `jit.softmax` call: rows and cols as non-negative integers whose
 * product x and y hold exactly (y may be x); the key written without
 * allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { badDimension, badOptions, badRowsLength, dimension } from "../checks.ts";
import type { SoftmaxSpec } from "./spec.ts";

/** Options of `jit.softmax`. */
export interface SoftmaxOptions {
  /** Rows: the product of every axis before the last. */
  rows: number;
  /** Elements per row: the softmax axis, which is the last. */
  cols: number;
  /** logSoftmax: x − max − ln Σ e^(x − max). Default false. */
  log?: boolean;
}

/** Names of the softmax key slots after the family slot. */
export const SOFTMAX_KEY_FIELDS = ["rows", "cols", "log"] as const;

/** Checks a softmax call (x and y known Float32Arrays), writes key slots 1..3 and extents. */
export function readSoftmax(
  x: Float32Array,
  y: Float32Array,
  o: SoftmaxOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions("softmax", o, "rows and cols");
  const rows = o.rows, cols = o.cols, log = o.log;
  if (!dimension(rows)) badDimension("softmax", "rows", rows);
  if (!dimension(cols)) badDimension("softmax", "cols", cols);
  if (log !== undefined && log !== true && log !== false) {
    throw new TypeError(`softmax: log must be a boolean, got ${describe(log)}`);
  }
  const n = rows * cols;
  const nx = viewLength(x), ny = viewLength(y);
  if (nx !== n) badRowsLength("softmax", "x", nx, rows, cols);
  if (ny !== n) badRowsLength("softmax", "y", ny, rows, cols);
  key[1] = rows;
  key[2] = cols;
  key[3] = log === true ? 1 : 0;
  extents[0] = 4 * n;
  extents[1] = 4 * n;
}

/** The spec a key describes. */
export function decodeSoftmaxKey(key: Int32Array): SoftmaxSpec {
  return { rows: key[1], cols: key[2], log: key[3] === 1 };
}
