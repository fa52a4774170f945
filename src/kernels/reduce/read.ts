/**
 * Reading a `jit.reduce` call: the op by name, rows × cols matching x
 * exactly, y holding rows results. No allocation.
 *
 * @module
 */
import { viewLength } from "../../typed.ts";
import { badDimension, badOpName, badOptions, badRowsLength, dimension, fail } from "../checks.ts";
import { REDUCE_OPS, type ReduceSpec } from "./spec.ts";

/** Options of `jit.reduce`. */
export interface ReduceOptions {
  /** Rows: one result each. */
  rows: number;
  /** Elements reduced per row (the last axis). */
  cols: number;
}

/** Names of the reduction key slots after the family slot. */
export const REDUCE_KEY_FIELDS = ["op", "rows", "cols"] as const;

const IDS: ReadonlyMap<string, number> = new Map(REDUCE_OPS.map((o, i) => [o, i]));

/** Checks a reduction call (x and y known Float32Arrays), writes key slots 1..3 and extents. */
export function readReduce(
  op: string,
  x: Float32Array,
  y: Float32Array,
  o: ReduceOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  const id = IDS.get(op);
  if (id === undefined) badOpName("reduce", op, REDUCE_OPS);
  if (o === null || typeof o !== "object") badOptions("reduce", o, "rows and cols");
  const rows = o.rows, cols = o.cols;
  if (!dimension(rows)) badDimension("reduce", "rows", rows);
  if (!dimension(cols)) badDimension("reduce", "cols", cols);
  const n = rows * cols;
  const nx = viewLength(x), ny = viewLength(y);
  if (nx !== n) badRowsLength("reduce", "x", nx, rows, cols);
  if (ny !== rows) {
    fail(
      "reduce",
      `y has ${ny} elements but needs exactly rows=${rows} (one result per row)`,
      "range",
    );
  }
  key[1] = id;
  key[2] = rows;
  key[3] = cols;
  extents[0] = 4 * n;
  extents[1] = 4 * rows;
}

/** The spec a key describes. */
export function decodeReduceKey(key: Int32Array): ReduceSpec {
  return { op: key[1], rows: key[2], cols: key[3] };
}
