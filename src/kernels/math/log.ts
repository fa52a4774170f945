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
import { bits, f32, type Mask } from "../vec.ts";
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
  if (m.v.isa.level === "avx2") return emitLogNormal(m, y, x);
  emitLogEverywhere(m, y, x);
}

/** x's bits less FLT_MIN's: from 0 to this for every positive normal x (below: ±0, subnormals, x < 0). */
const NORMAL_SPAN = 0x7f7fffff - 0x00800000;

/**
 * AVX2's ln x: emitLogEverywhere's instructions without its selects (the
 * subnormal scaling, the special values) where x is a positive normal
 * number; a vector holding any other (±0, a subnormal, x < 0, +Inf, NaN)
 * takes emitLogRare out of line, which gives the normal lanes the same
 * bits (its selects keep them): 11 operations out, 4 in for the test
 * (interleaved bodies compare once: Lanes.rarelyAbove).
 */
function emitLogNormal(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const t = m.take(), e = m.take(), u = m.take(), q = m.take();
  emitLogCore(m, y, x, t, e, u, q);
  // d = x's bits − FLT_MIN's: x is not a positive normal where d > NORMAL_SPAN unsigned, i.e.
  // where d + 2^31 > NORMAL_SPAN − 2^31 signed: d + 2^31 is x's bits + (2^31 − FLT_MIN's).
  v.op("addi", t, x, bits(0x80000000 - 0x00800000));
  m.give(e, u, q);
  m.rarelyAbove(t, bits(NORMAL_SPAN - 0x80000000), (f) => emitLogRare(f, y, x));
  m.give(t);
}

/**
 * y = ln z + e·ln 2 from t = x's bits (z·2^e, z ∈ [√½, √2)), or x scaled
 * by 2^23 where x is subnormal (e then less 23, by the caller's select in
 * `fixE`, which runs between e's conversion to a float and its first use).
 * t is only read; tt (t itself allowed), e, u and q are scratch.
 */
function emitLogCore(
  m: Lanes,
  y: number,
  t: number,
  tt: number,
  e: number,
  u: number,
  q: number,
  fixE?: () => void,
): void {
  const v = m.v;
  v.op("subi", e, t, bits(SQRT_HALF_BITS));
  v.shift("sra", e, e, 23);
  v.shift("sll", u, e, 23);
  v.op("subi", tt, t, u); // z
  v.convert("toFloat", e, e);
  fixE?.();
  v.op("sub", tt, tt, f32(1)); // f
  v.op("mul", u, tt, tt); // f²
  m.horner(q, tt, LOG_POLY);
  v.op("mul", q, q, tt);
  v.op("mul", q, q, u); // f³·P
  m.fma(q, e, f32(LN2_LO), q);
  m.fma(q, u, f32(-0.5), q);
  v.op("add", y, q, tt);
  m.fma(y, e, f32(LN2_HI), y);
}

/** ln x for every f32 x by selects: subnormals scaled by 2^23 first, the special values last. */
function emitLogEverywhere(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const mk = m.mask();
  const t = m.take(), e = m.take(), u = m.take(), q = m.take();
  v.compare(mk, x, "lt", f32(SMALLEST_NORMAL));
  v.op("mul", t, x, f32(2 ** 23));
  m.select(t, mk, t, x);
  emitLogCore(m, y, t, t, e, u, q, () => {
    v.op("sub", u, e, f32(23));
    m.select(e, mk, u, e);
  });
  emitLogSpecials(m, y, x, mk);
  m.giveMask(mk);
  m.give(t, e, u, q);
}

/** y = ln x's special values where x is ±0, negative, +Inf or NaN (y kept elsewhere); mk is scratch. */
function emitLogSpecials(m: Lanes, y: number, x: number, mk: Mask): void {
  const v = m.v;
  v.compare(mk, x, "le", f32(0));
  m.select(y, mk, f32(NaN), y);
  v.compare(mk, x, "eq", f32(0));
  m.select(y, mk, f32(-Infinity), y);
  v.compare(mk, x, "nle", f32(FLT_MAX)); // +Inf or NaN: the input itself
  m.select(y, mk, x, y);
}

/**
 * emitLogNormal's rare path: where no lane is a positive subnormal, y's
 * normal lanes are right already and the special values' selects finish
 * it (±0, x < 0, +Inf, NaN: as common as zeros in the data, at about the
 * old selects' cost); a positive subnormal takes emitLogEverywhere.
 */
function emitLogRare(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const d = m.take(), g = m.take();
  // d = x's bits − 1: a positive subnormal is where d is in [0, 0x7ffffe].
  v.op("subi", d, x, bits(1));
  v.op("gti", g, d, bits(0x7ffffe));
  v.op("gti", d, d, bits(-1));
  v.op("andn", d, g, d);
  m.give(g);
  m.branch({ v: d }, () => {
    m.give(d);
    const mk = m.mask();
    emitLogSpecials(m, y, x, mk);
    m.giveMask(mk);
  }, () => {
    m.give(d);
    emitLogEverywhere(m, y, x);
  });
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
