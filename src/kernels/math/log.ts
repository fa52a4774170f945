/**
 * ln x (log, logSoftmax, logSumExp, pow) and ln(1 + u) on [0, 1] (softplus).
 *
 * x = z·2^e with z ∈ [√½, √2) by integer arithmetic on the bits (subnormals
 * scaled by 2^23 first); ln z = f − f²/2 + f³·P(f), f = z − 1, P of degree 6
 * (tools/fit_math.py, relative error 3e-8); e·ln2 added in two parts.
 * Special inputs are selected at the end: ln(±0) = −Inf, ln(x < 0) = NaN,
 * ln(+Inf) = +Inf, NaN kept.
 *
 * @module
 */
import { bits, f32 } from "../vec.ts";
import { LN2_HI, LN2_LO } from "./exp.ts";
import type { Lanes } from "./lanes.ts";

const LOG_POLY = [
  0.3333390951156616,
  -0.2500133812427521,
  0.19963063299655914,
  -0.1657758355140686,
  0.14914770424365997,
  -0.14267493784427643,
  0.08700434863567352,
];
/** Bits of √½: x − this, shifted right 23, is the exponent that puts z in [√½, √2). */
const SQRT_HALF_BITS = 0x3f3504f3;
const SMALLEST_NORMAL = 2 ** -126;
const FLT_MAX = 3.4028234663852886e38;

/** y = ln x for every f32 x. y ≠ x; x is kept. */
export function emitLog(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const mk = m.mask();
  const t = m.take(), e = m.take(), u = m.take(), q = m.take();
  v.compare(mk, x, "lt", f32(SMALLEST_NORMAL));
  v.op("mul", t, x, f32(2 ** 23));
  m.select(t, mk, t, x);
  v.op("subi", e, t, bits(SQRT_HALF_BITS));
  v.shift("sra", e, e, 23);
  v.shift("sll", u, e, 23);
  v.op("subi", t, t, u); // z
  v.convert("toFloat", e, e);
  v.op("sub", u, e, f32(23));
  m.select(e, mk, u, e);
  v.op("sub", t, t, f32(1)); // f
  v.op("mul", u, t, t); // f²
  m.horner(q, t, LOG_POLY);
  v.op("mul", q, q, t);
  v.op("mul", q, q, u); // f³·P
  m.fma(q, e, f32(LN2_LO), q);
  m.fma(q, u, f32(-0.5), q);
  v.op("add", y, q, t);
  m.fma(y, e, f32(LN2_HI), y);
  v.compare(mk, x, "le", f32(0));
  m.select(y, mk, f32(NaN), y);
  v.compare(mk, x, "eq", f32(0));
  m.select(y, mk, f32(-Infinity), y);
  v.compare(mk, x, "nle", f32(FLT_MAX)); // +Inf or NaN: the input itself
  m.select(y, mk, x, y);
  m.giveMask(mk);
  m.give(t, e, u, q);
}

/** ln(1 + u) = u·P(u) on [0, 1], P of degree 9 (relative error 4.7e-9, tools/fit_math.py). */
const LOG1P_UNIT = [
  1.0,
  -0.4999990165233612,
  0.3332996368408203,
  -0.24954132735729218,
  0.19675935804843903,
  -0.1530558317899704,
  0.10603640973567963,
  -0.056959398090839386,
  0.01985139027237892,
  -0.003244009567424655,
];

/** y = ln(1 + u) for u in [0, 1] (or NaN): one polynomial, full relative accuracy at small u. y ≠ u. */
export function emitLog1pUnit(m: Lanes, y: number, u: number): void {
  m.horner(y, u, LOG1P_UNIT);
  m.v.op("mul", y, y, u);
}
