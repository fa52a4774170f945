/**
 * Reading a `jit.softmax` call: rows and cols as non-negative integers whose
 * product x and y hold exactly (y may be x); the key written without
 * allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
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

/** Largest rows or cols. */
export const MAX_SOFTMAX_DIMENSION = 2 ** 30;

function badOptions(o: unknown): never {
  throw new TypeError(`softmax: options must be an object with rows and cols, got ${describe(o)}`);
}

function badDimension(name: string, v: unknown): never {
  if (typeof v !== "number") {
    throw new TypeError(`softmax: ${name} must be a non-negative integer, got ${describe(v)}`);
  }
  throw new RangeError(
    `softmax: ${name} must be an integer in [0, ${MAX_SOFTMAX_DIMENSION}], got ${v}`,
  );
}

function badLength(name: string, len: number, s: { rows: number; cols: number }): never {
  throw new RangeError(
    `softmax: ${name} has ${len} elements but rows=${s.rows} × cols=${s.cols} needs exactly ${
      s.rows * s.cols
    }`,
  );
}

const dimension = (v: unknown): v is number =>
  typeof v === "number" && v >>> 0 === v && v <= MAX_SOFTMAX_DIMENSION;

/** Checks a softmax call (x and y known Float32Arrays), writes key slots 1..3 and extents. */
export function readSoftmax(
  x: Float32Array,
  y: Float32Array,
  o: SoftmaxOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions(o);
  const rows = o.rows, cols = o.cols, log = o.log;
  if (!dimension(rows)) badDimension("rows", rows);
  if (!dimension(cols)) badDimension("cols", cols);
  if (log !== undefined && log !== true && log !== false) {
    throw new TypeError(`softmax: log must be a boolean, got ${describe(log)}`);
  }
  const n = rows * cols;
  const nx = viewLength(x), ny = viewLength(y);
  if (nx !== n) badLength("x", nx, o);
  if (ny !== n) badLength("y", ny, o);
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
