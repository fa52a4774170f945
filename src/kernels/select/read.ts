/**
 * Reading a `jit.select` call: y[i] = mask[i] ≠ 0 ? a[i] : b[i] over n
 * elements of 32 bits (moved as bits: float32, int32, uint32 alike), the
 * mask one byte an element, a or b one element for all (a scalar) or n.
 * ONNX Where's core. The key is the count and the scalars, written without
 * allocating.
 *
 * @module
 */
import { fail } from "../checks.ts";

/** What one call is. */
export interface SelectSpec {
  /** Elements of y (and of the mask). */
  n: number;
  /** a is one element for all. */
  aScalar: boolean;
  /** b is one element for all. */
  bScalar: boolean;
  /** Bytes from the mask operand's address (a 4-byte boundary) to its first byte (0-3). */
  maskShift: number;
}

/** Argument block slots: the mask's bytes through a float view. */
export const SELECT_ARG = { MASK: 0, A: 1, B: 2, Y: 3 } as const;

/** Names of the key slots after the family slot. */
export const SELECT_KEY_FIELDS = ["n", "scalars", "maskShift"] as const;

const W = "select";
/** Most elements of a call (byte offsets below 2^31). */
export const MAX_SELECT_ELEMENTS = 2 ** 29;

/**
 * Checks a call's lengths (y's n, the mask's n bytes, a's and b's n or 1)
 * and writes key slots 1..3 and the extents. The mask operand is a float
 * view from the 4-byte boundary at or before the mask's first byte,
 * `maskShift` bytes before it (a Uint8Array may start anywhere).
 */
export function readSelect(
  maskShift: number,
  maskLength: number,
  aLength: number,
  bLength: number,
  yLength: number,
  key: Int32Array,
  extents: Float64Array,
): void {
  const n = yLength;
  if (n < 1 || n > MAX_SELECT_ELEMENTS) {
    fail(W, `y has ${n} elements, not 1 to ${MAX_SELECT_ELEMENTS}`, "range");
  }
  if (maskLength !== n) fail(W, `mask has ${maskLength} elements, y ${n}`, "range");
  // (No array literal here: a call allocates nothing.)
  if (aLength !== n && aLength !== 1) {
    fail(W, `a has ${aLength} elements, not y's ${n} or 1`, "range");
  }
  if (bLength !== n && bLength !== 1) {
    fail(W, `b has ${bLength} elements, not y's ${n} or 1`, "range");
  }
  const aScalar = aLength === 1 && n > 1, bScalar = bLength === 1 && n > 1;
  key[1] = n;
  key[2] = (aScalar ? 1 : 0) | (bScalar ? 2 : 0);
  key[3] = maskShift;
  extents[0] = maskShift + n;
  extents[1] = aScalar ? 4 : 4 * n;
  extents[2] = bScalar ? 4 : 4 * n;
  extents[3] = 4 * n;
}

/** The spec a key describes. */
export function decodeSelectKey(key: Int32Array): SelectSpec {
  return {
    n: key[1],
    aScalar: (key[2] & 1) !== 0,
    bScalar: (key[2] & 2) !== 0,
    maskShift: key[3],
  };
}
