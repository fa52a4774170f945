/**
 * tanh x and the logistic sigmoid.
 *
 * tanh: at AVX-512, one polynomial piece per lane (tanh_table.ts); below,
 * −m/(m + 2) with m = e^(−2|x|) − 1 (one formula for every |x|: expm1
 * keeps small |x| accurate). The sign of x put back, so tanh(−0) = −0.
 *
 * sigmoid: with e = e^−|x|, 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0: one
 * division, and no 1 − tiny cancellation, so tiny results (x down to −103)
 * keep their relative accuracy.
 *
 * @module
 */
import { f32 } from "../vec.ts";
import {
  emitExpm1Negative,
  emitExpNormalOnly,
  emitExpRescaled,
  emitExpUpTo,
  EXP_LO,
  NORMAL_LIMIT,
  rarelyBeyondNormal,
} from "./exp.ts";
import { type Lanes, SIGN } from "./lanes.ts";
import { emitOddPieces } from "./pieces.ts";
import { TANH_PIECES } from "./tanh_table.ts";

/**
 * y = tanh x = −m/(m + 2) with m = e^(−2|x|) − 1 ∈ (−1, 0] (expm1 keeps
 * small |x| accurate; large |x| give m = −1, so 1), the sign of x put back.
 */
export function emitTanh(m: Lanes, y: number, x: number): void {
  if (m.v.isa.level === "avx512") return emitTanhPieces(m, y, x);
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
  if (v.isa.level === "avx2") return emitSigmoidNormal(m, y, x);
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

/**
 * AVX2's sigmoid: 1/(1 + e^−x) for every lane (no select: for x < 0,
 * e^−x = e^|x| ≤ e^86.9 keeps its relative accuracy through the sum and
 * the division), by emitExpNormalOnly, where |x| ≤ NORMAL_LIMIT. A vector
 * with a lane beyond (or NaN) runs out of line (emitSigmoidRare), its
 * other lanes kept.
 */
function emitSigmoidNormal(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const t = m.take();
  v.op("xor", t, x, SIGN); // −x
  emitExpNormalOnly(m, y, t);
  reciprocalOfOnePlus(m, y, t);
  rarelyBeyondNormal(m, t, x, (f) => emitSigmoidRare(f, y, x));
  m.give(t);
}

/**
 * emitSigmoidNormal's rare lanes, the others kept: 1 above 86.9 (1/(1 +
 * e^−x) rounds to 1 there), +0 below −105 (e^x is +0), and between, or NaN,
 * e^x by emitExpNormalOnly and emitExpRescaled (a subnormal result rounded
 * once; 1 + e^x is 1 there, so e^x is e^x/(1 + e^x)). No branch between
 * saturated lanes and the others: over ±100 it went either way at random
 * (`deno run -A bench/ab.ts --unary sigmoid --span 100`, ×0.83 without
 * it), where saturated inputs alone saved the 23 operations of e^x.
 */
function emitSigmoidRare(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const e = m.take(), d = m.take();
  emitExpNormalOnly(m, e, x);
  emitExpRescaled(m, e, x);
  v.op("xor", d, x, SIGN);
  v.compare({ v: d }, d, "nle", f32(NORMAL_LIMIT)); // −x > 86.9, or NaN
  m.select(y, { v: d }, e, y);
  v.compare({ v: d }, x, "lt", f32(EXP_LO));
  v.op("andn", y, d, y);
  aboveLimit(m, d, x);
  m.select(y, { v: d }, f32(1), y);
  m.give(e, d);
}

/** mask = x > NORMAL_LIMIT, false for NaN (−x < −86.9: the predicates have no ordered "greater"). */
function aboveLimit(m: Lanes, mask: number, x: number): void {
  m.v.op("xor", mask, x, SIGN);
  m.v.compare({ v: mask }, mask, "lt", f32(-NORMAL_LIMIT));
}

/** y = 1/(1 + y); t is scratch. */
function reciprocalOfOnePlus(m: Lanes, y: number, t: number): void {
  m.v.op("add", y, y, f32(1));
  m.v.move(t, f32(1));
  m.divide(y, t, y);
}

/**
 * AVX-512's tanh: tanh |x| from one polynomial piece per lane
 * (tanh_table.ts: k = round(a/0.3125) in the low bits of one FMA's sum
 * indexes the 32-entry tables, t = a − k·0.3125 exact), the sign of x put
 * back: 6 permutes and 7 FMAs where the exponential form took 10 FMAs, a
 * division and a rounding. On Zen 5 (`deno bench -P bench/unary_bench.ts
 * --filter tanh`, the commit before and after in turn, two rounds) 10.5-10.8
 * → 7.6-7.7 µs per 64 Ki floats in L2. (vrangeps, one operation for the
 * abs and the cap, would return the cap for a NaN: emitOddPieces keeps
 * both.)
 */
function emitTanhPieces(m: Lanes, y: number, x: number): void {
  emitOddPieces(m, y, x, TANH_PIECES);
}
