/**
 * Rounding to float16 precision in float32 lanes (ONNX Runtime's cast to
 * half and back), for every level by float arithmetic alone (no F16C):
 * adding and taking away c = 1.5·2^(e+13), e the exponent of |x| (at least
 * −14, half subnormals' own), leaves x rounded to the nearest multiple of
 * c's ulp, 2^(e−10) — the half's step there — ties to even; x's sign is
 * or-ed back (−0 and values rounded to zero keep it); |x| ≥ 65520 (and
 * ±Infinity) go to x·∞: ±Infinity, NaN kept.
 *
 * @module
 */
import { bits, f32 } from "../vec.ts";
import type { Lanes } from "./lanes.ts";

/** y = x rounded to the nearest float16 (as a float32). y ≠ x. */
export function emitRoundHalf(m: Lanes, y: number, x: number): void {
  const v = m.v, c = m.take(), mk = m.mask();
  v.op("and", c, x, bits(0x7f800000)); // 2^e of |x| (∞ for ∞ and NaN)
  v.op("max", c, c, f32(2 ** -14));
  v.op("mul", c, c, f32(1.5 * 2 ** 13));
  v.op("add", y, x, c);
  v.op("sub", y, y, c);
  v.op("and", c, x, bits(0x80000000));
  v.op("or", y, y, c);
  // Beyond the largest half (or NaN): x·∞ (±∞, NaN kept).
  m.abs(c, x);
  v.compare(mk, c, "lt", f32(65520));
  v.op("mul", c, x, f32(Infinity));
  m.select(y, mk, y, c);
  m.giveMask(mk);
  m.give(c);
}
