/**
 * Rounding to an integer, halves to even (ONNX Round; a quantizer's
 * rounding), for every level by float arithmetic alone (no roundps below
 * SSE4.1): adding and taking away 2^23 leaves |x| < 2^23 rounded to the
 * nearest integer, ties to even; x's sign is or-ed back (−0.4 gives −0);
 * |x| ≥ 2^23 is an integer already (and ±Infinity, NaN are kept): x itself.
 *
 * @module
 */
import { bits, f32 } from "../vec.ts";
import type { Lanes } from "./lanes.ts";

/** y = x rounded to the nearest integer, halves to even. y ≠ x. */
export function emitRoundEven(m: Lanes, y: number, x: number): void {
  const v = m.v, c = m.take(), mk = m.mask();
  m.abs(c, x);
  v.op("add", y, c, f32(2 ** 23));
  v.op("sub", y, y, f32(2 ** 23));
  v.compare(mk, c, "lt", f32(2 ** 23)); // false for NaN: x kept
  v.op("and", c, x, bits(0x80000000));
  v.op("or", y, y, c);
  m.select(y, mk, y, x);
  m.giveMask(mk);
  m.give(c);
}
