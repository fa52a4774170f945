/**
 * Reading an allFinite call: whether every float of x is finite (no ±Inf,
 * no NaN). The flag operand is two floats: the kernel writes flag[0] (+0
 * when every x is finite, NaN otherwise) and reads x's count from flag[1]'s
 * bits (an int32). The count is not in the key: one kernel per vector
 * level serves every tensor (a model's create checks each conv's weights
 * once, so a kernel per size would cost its generation for one call).
 *
 * @module
 */
import { viewBuffer, viewByteOffset, viewLength } from "../../typed.ts";
import { fail } from "../checks.ts";

/** What one call is: nothing the kernel is specialized for. */
export type AllFiniteSpec = Record<string, never>;

/** Argument block slots. */
export const FINITE_ARG = { X: 0, FLAG: 1 } as const;

/** Most floats a call checks: the count is an int32. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** Names of the key slots after the family slot: none. */
export const FINITE_KEY_FIELDS: readonly string[] = [];

/**
 * Checks a call (x and flag known Float32Arrays), writes x's count into
 * flag[1]'s bits and the extents.
 */
export function readAllFinite(x: Float32Array, flag: Float32Array, extents: Float64Array): void {
  const n = viewLength(x);
  if (n === 0) fail("allFinite", "x is empty", "range");
  // The count travels as an int32 (flag[1]'s bits).
  if (n > MAX_ELEMENTS) {
    fail("allFinite", `x has ${n} elements, more than ${MAX_ELEMENTS}`, "range");
  }
  if (viewLength(flag) !== 2) {
    fail("allFinite", `flag has ${viewLength(flag)} elements, not 2`, "range");
  }
  new Int32Array(viewBuffer(flag), viewByteOffset(flag) + 4, 1)[0] = n;
  extents[0] = 4 * n;
  extents[1] = 8;
}

/** The spec a key describes. */
export function decodeAllFiniteKey(_key: Int32Array): AllFiniteSpec {
  return {};
}
