/**
 * Reading a `jit.quantizeDynamic` call: y holding n bytes, scale and the
 * zero point one element each. No allocation.
 *
 * @module
 */
import { viewLength } from "../../typed.ts";
import { fail } from "../checks.ts";
import type { QuantizeSpec } from "./spec.ts";

/** Names of the key slots after the family slot. */
export const QUANTIZE_KEY_FIELDS = ["n"] as const;

const W = "quantizeDynamic";

/**
 * Checks a call (the operands known to be of their types: `y` and `zero`
 * Uint8Arrays by their own lengths), writes key slot 1 and the extents.
 */
export function readQuantize(
  x: Float32Array,
  yLength: number,
  scale: Float32Array,
  zeroLength: number,
  key: Int32Array,
  extents: Float64Array,
): void {
  const n = viewLength(x);
  if (n > 2 ** 31 - 1) fail(W, `x has ${n} elements, at most 2^31 - 1`, "range");
  if (yLength !== n) fail(W, `y has ${yLength} elements, x has ${n}: they must match`, "range");
  if (viewLength(scale) < 1) fail(W, "scale must hold 1 element, has 0", "range");
  if (zeroLength < 1) fail(W, "zeroPoint must hold 1 element, has 0", "range");
  key[1] = n;
  extents[0] = 4 * n;
  extents[1] = n;
  extents[2] = 4;
  extents[3] = 1;
}

/** The spec a key describes. */
export function decodeQuantizeKey(key: Int32Array): QuantizeSpec {
  return { n: key[1], from: 0, count: key[1] };
}
