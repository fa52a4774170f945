/**
 * What one reduction call is: the op, over the last axis of rows × cols,
 * one result per row.
 *
 * @module
 */

/** The reductions, by key id. ONNX ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2, ReduceLogSumExp. */
export const REDUCE_OPS = ["sum", "mean", "max", "min", "sumSquare", "l2", "logSumExp"] as const;

/** A reduction's name. */
export type ReduceOp = typeof REDUCE_OPS[number];

/** A decoded reduction key. */
export interface ReduceSpec {
  /** Index into REDUCE_OPS. */
  op: number;
  /** Rows: results. */
  rows: number;
  /** Elements reduced per row. */
  cols: number;
}

/** Argument block slots. */
export const REDUCE_ARG = { X: 0, Y: 1 } as const;

/** The spec as text. */
export function describeReduce(s: ReduceSpec): string {
  return `reduce ${REDUCE_OPS[s.op]} ${s.rows}×${s.cols}`;
}
