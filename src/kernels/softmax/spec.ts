/**
 * What one softmax call is: rows × cols, along the last axis, and whether
 * it is logSoftmax.
 *
 * @module
 */

/** A decoded softmax key. */
export interface SoftmaxSpec {
  /** Rows (every axis before the last, flattened). */
  rows: number;
  /** Elements per row (the softmax axis). */
  cols: number;
  /** logSoftmax instead of softmax. */
  log: boolean;
}

/** Argument block slots. */
export const SOFTMAX_ARG = { X: 0, Y: 1 } as const;

/** The spec as text. */
export function describeSoftmax(s: SoftmaxSpec): string {
  return `${s.log ? "logSoftmax" : "softmax"} ${s.rows}×${s.cols}`;
}
