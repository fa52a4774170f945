/**
 * tanh x and the logistic sigmoid.
 *
 * tanh: −m/(m + 2) with m = e^(−2|x|) − 1 (one formula for every |x|: expm1
 * keeps small |x| accurate), the sign of x put back, so tanh(−0) = −0.
 *
 * sigmoid: with e = e^−|x|, 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0: one
 * division, and no 1 − tiny cancellation, so tiny results (x down to −103)
 * keep their relative accuracy.
 *
 * @module
 */
import { f32 } from "../vec.ts";
import { emitExpm1Negative, emitExpUpTo } from "./exp.ts";
import { type Lanes, SIGN } from "./lanes.ts";

/**
 * y = tanh x = −m/(m + 2) with m = e^(−2|x|) − 1 ∈ (−1, 0] (expm1 keeps
 * small |x| accurate; large |x| give m = −1, so 1), the sign of x put back.
 */
export function emitTanh(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const t = m.take(), e = m.take();
  v.op("or", t, x, SIGN);
  v.op("add", t, t, t); // −2|x|
  emitExpm1Negative(m, e, t);
  v.op("add", t, e, f32(2));
  m.divide(y, e, t);
  m.abs(y, y); // −m/(m + 2) ≥ 0: its magnitude, +0 at 0
  m.withSign(y, y, x); // NaN carries through expm1
  m.give(t, e);
}

/** y = 1/(1 + e^−x). y ≠ x; x is kept. */
export function emitSigmoid(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const t = m.take();
  v.op("or", t, x, SIGN); // −|x|
  emitExpUpTo(m, y, t); // e = e^−|x|
  const mk = m.mask();
  v.compare(mk, x, "nlt", f32(0)); // x ≥ 0, or NaN (which the sum keeps)
  m.select(t, mk, f32(1), y);
  v.op("add", y, y, f32(1));
  m.divide(y, t, y);
  m.giveMask(mk);
  m.give(t);
}
