/**
 * tanh x and the logistic sigmoid.
 *
 * tanh: |x| < 0.625 → |x| + |x|³·P(x²) (P of degree 4, tools/fit_math.py,
 * relative error 4e-9); otherwise (e − 1)/(e + 1) with e = e^(2·min(|x|, 9))
 * (tanh 9 rounds to 1); the sign of x put back, so tanh(−0) = −0.
 *
 * sigmoid: with e = e^−|x|, 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0: one
 * division, and no 1 − tiny cancellation, so tiny results (x down to −103)
 * keep their relative accuracy.
 *
 * @module
 */
import { f32 } from "../vec.ts";
import { emitExpInRange, EXP_LO } from "./exp.ts";
import { type Lanes, SIGN } from "./lanes.ts";

const TANH_POLY = [
  -0.3333328068256378,
  0.13331441581249237,
  -0.05373971536755562,
  0.0206390842795372,
  -0.005704984534531832,
];

/** y = tanh x. y ≠ x; x is kept. */
export function emitTanh(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const a = m.take(), t = m.take(), s = m.take(), q = m.take();
  m.abs(a, x);
  m.atMost(t, a, 9);
  v.op("add", t, t, t);
  emitExpInRange(m, y, t);
  v.op("sub", t, y, f32(1));
  v.op("add", y, y, f32(1));
  m.divide(t, t, y); // large |x|
  v.op("mul", s, a, a);
  m.horner(q, s, TANH_POLY);
  v.op("mul", q, q, s);
  m.fma(q, q, a, a); // small |x|
  const mk = m.mask();
  v.compare(mk, a, "lt", f32(0.625));
  m.select(y, mk, q, t);
  m.giveMask(mk);
  m.withSign(y, y, x);
  m.give(a, t, s, q);
}

/** y = 1/(1 + e^−x). y ≠ x; x is kept. */
export function emitSigmoid(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const t = m.take(), u = m.take();
  v.op("or", t, x, SIGN); // −|x|
  m.atLeast(u, t, EXP_LO);
  emitExpInRange(m, y, u); // e = e^−|x|
  const mk = m.mask();
  v.compare(mk, x, "nlt", f32(0)); // x ≥ 0, or NaN (which the sum keeps)
  m.select(t, mk, f32(1), y);
  v.op("add", y, y, f32(1));
  m.divide(y, t, y);
  m.giveMask(mk);
  m.give(t, u);
}
