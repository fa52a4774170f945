/**
 * The argument checks the row-wise families share (softmax, norm, reduce,
 * binary): the dimension rule and the errors that name the call, the
 * argument, the value and what was expected. Cold paths, except `dimension`.
 *
 * @module
 */
import { describe } from "../typed.ts";

/** Largest rows, cols or broadcast dimension of the elementwise and row-wise ops. */
export const MAX_ROW_DIMENSION = 2 ** 30;

/** Whether v is an integer in [0, MAX_ROW_DIMENSION] (one test for type, sign, fraction, size). */
export function dimension(v: unknown): v is number {
  // typeof first: `>>>` on a BigInt would throw its own TypeError.
  return typeof v === "number" && v >>> 0 === v && v <= MAX_ROW_DIMENSION;
}

/** Throws a TypeError or RangeError prefixed with the call's name. */
export function fail(who: string, message: string, kind: "type" | "range"): never {
  throw kind === "type"
    ? new TypeError(`${who}: ${message}`)
    : new RangeError(`${who}: ${message}`);
}

/** The error for a dimension that is not an integer in range. */
export function badDimension(who: string, name: string, v: unknown): never {
  if (typeof v !== "number") {
    fail(who, `${name} must be a non-negative integer, got ${describe(v)}`, "type");
  }
  fail(who, `${name} must be an integer in [0, ${MAX_ROW_DIMENSION}], got ${v}`, "range");
}

/** The error for an options argument that is not an object. */
export function badOptions(who: string, o: unknown, needs: string): never {
  fail(who, `options must be an object with ${needs}, got ${describe(o)}`, "type");
}

/** The error for an array whose length is not rows × cols. */
export function badRowsLength(
  who: string,
  name: string,
  length: number,
  rows: number,
  cols: number,
): never {
  fail(
    who,
    `${name} has ${length} elements but rows=${rows} × cols=${cols} needs exactly ${rows * cols}`,
    "range",
  );
}

/** The error for an op name that is not one of `names`. */
export function badOpName(who: string, op: unknown, names: readonly string[]): never {
  if (typeof op !== "string") {
    fail(who, `op must be a string naming the op, got ${describe(op)}`, "type");
  }
  fail(who, `unknown op "${op}"; expected one of ${names.join(", ")}`, "range");
}
