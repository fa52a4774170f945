/**
 * The activations built from the functions of this folder, with ONNX
 * definitions. Where a formula would give −Inf·0 = NaN at −Inf (GELU, SiLU,
 * mish), the input is first raised to a finite value whose result already
 * rounds to −0; where 1 + tanh or 1 + erf would cancel for negative inputs,
 * the form without cancellation is used (GELU-tanh is x·sigmoid(2u), GELU's
 * negative side uses erfc).
 *
 * @module
 */
import { bits, f32, type Mask } from "../vec.ts";
import { emitExp, emitExpm1Negative, emitExpUpTo, EXP_LO } from "./exp.ts";
import { type Lanes, SIGN } from "./lanes.ts";
import { emitLog1pUnit } from "./log.ts";
import {
  PHI8_CENTRES,
  PHI8_COEFFS,
  PHI8_END,
  PHI8_STEP,
  PHI_COEFFS,
  PHI_END,
  PHI_STEP,
} from "./phi_table.ts";
import { GELU_TANH_TAIL8_COEFFS, GELU_TANH_TAIL_COEFFS } from "./gelu_tanh_table.ts";
import { emitPieceIndexByAdd, emitPiecePolynomial, emitPiecesOfAbs } from "./pieces.ts";
import { SOFTPLUS_TAIL_PIECES } from "./softplus_table.ts";
import { emitSigmoid } from "./tanh.ts";

const SQRT_HALF = Math.SQRT1_2;
/** 2·√(2/π): GELU-tanh's u doubled for the sigmoid form. */
const GELU_TANH_2C = 2 * Math.sqrt(2 / Math.PI);

/** y = max(0, x), NaN kept. */
export function emitRelu(m: Lanes, y: number, x: number): void {
  m.atLeast(y, x, 0);
}

/** y = x ≥ 0 ? x : alpha·x. */
export function emitLeakyRelu(m: Lanes, y: number, x: number, alpha: number): void {
  const v = m.v;
  const t = m.take(), mk = m.mask();
  v.op("mul", t, x, f32(alpha));
  v.compare(mk, x, "lt", f32(0));
  m.select(y, mk, t, x);
  m.giveMask(mk);
  m.give(t);
}

/** y = min(hi, max(lo, x)), NaN kept. */
export function emitClip(m: Lanes, y: number, x: number, lo: number, hi: number): void {
  const t = m.take();
  m.atLeast(t, x, lo);
  m.atMost(y, t, hi);
  m.give(t);
}

/** y = max(0, min(1, alpha·x + beta)), NaN kept. */
export function emitHardSigmoid(m: Lanes, y: number, x: number, alpha: number, beta: number): void {
  const t = m.take();
  m.v.fmadd(y, x, f32(alpha), f32(beta));
  m.atMost(t, y, 1);
  m.atLeast(y, t, 0);
  m.give(t);
}

/** y = x·max(0, min(1, x/6 + 1/2)); from −3 down it is 0, so −Inf gives −0, not NaN. */
export function emitHardSwish(m: Lanes, y: number, x: number): void {
  const t = m.take(), xl = m.take();
  m.atLeast(xl, x, -3);
  emitHardSigmoid(m, t, xl, 1 / 6, 0.5);
  m.v.op("mul", y, t, xl);
  m.give(t, xl);
}

/** y = x > 0 ? x : alpha·(e^x − 1), NaN kept; gamma scales both sides (SELU). */
export function emitElu(m: Lanes, y: number, x: number, alpha: number, gamma = 1): void {
  const v = m.v;
  const t = m.take(), mk = m.mask();
  emitExpm1Negative(m, t, x);
  v.op("mul", t, t, f32(alpha * gamma));
  v.compare(mk, x, "nle", f32(0)); // x > 0, or NaN
  if (gamma === 1) m.select(y, mk, x, t);
  else {
    v.op("mul", y, x, f32(gamma));
    m.select(y, mk, y, t);
  }
  m.giveMask(mk);
  m.give(t);
}

/**
 * Φ(−a)·2 = erfc(a/√2) in one piece over a ≥ 0: e^(−z²)·Q(t), t = 1/(1 + z/2),
 * Q of degree 9 (relative error 3.4e-9 on z ∈ [0, 4], tools/fit_math.py),
 * here with GELU's ½ folded in: the coefficients give Φ(−a) directly.
 */
const HALF_ERFC_Q = [
  -0.00024195047444663942,
  0.2862205505371094,
  0.25156107544898987,
  0.37445276975631714,
  -0.14986635744571686,
  0.590970516204834,
  -0.4279097616672516,
  0.0206769872456789,
  0.07583636045455933,
  -0.021700222045183182,
].map((c) => c / 2);

/**
 * y = x·Φ(x) = x/2·(1 + erf(x/√2)), from Φ(−|x|) = ½·erfc(|x|/√2) alone:
 * Φ(x) = 1 − Φ(−x) for x ≥ 0 (no cancellation, Φ(−x) ≤ ½), Φ(−|x|) itself
 * for x < 0 (full relative accuracy on the negative side).
 */
export function emitGelu(m: Lanes, y: number, x: number): void {
  if (m.v.isa.level === "avx512") return emitGeluRounded(m, y, x);
  if (m.v.isa.level === "avx2") return emitGeluPieces(m, y, x);
  const v = m.v;
  const xl = m.take(), a = m.take(), e = m.take(), t = m.take(), mk = m.mask();
  m.atLeast(xl, x, -15); // GELU(−15) rounds to −0: −Inf gives −0, not NaN
  v.op("mul", a, xl, f32(SQRT_HALF));
  m.abs(a, a);
  m.atMost(t, a, 11); // e^(−121) is 0 in f32
  v.op("mul", t, t, t);
  v.op("xor", t, t, f32(-0));
  emitExp(m, e, t);
  m.atMost(t, a, 4); // Q is fitted up to 4: beyond, e^(−z²) is already below any ulp that matters
  m.fma(t, t, f32(0.5), f32(1));
  v.move(a, f32(1));
  m.divide(a, a, t);
  m.horner(t, a, HALF_ERFC_Q);
  v.op("mul", e, e, t); // Φ(−|x|)
  emitGeluFromTail(m, y, xl, e, t, mk);
  m.giveMask(mk);
  m.give(xl, a, e, t);
}

/**
 * y = x·Φ(x) from `tail` = Φ(−|x|): Φ(x) = 1 − Φ(−x) for x ≥ 0 (no
 * cancellation: Φ(−x) ≤ ½), Φ(−|x|) itself for x < 0. `t` and `mk` are
 * scratch.
 */
function emitGeluFromTail(m: Lanes, y: number, x: number, tail: number, t: number, mk: Mask): void {
  const v = m.v;
  v.move(t, f32(1));
  v.op("sub", t, t, tail);
  v.compare(mk, x, "lt", f32(0));
  m.select(t, mk, tail, t);
  v.op("mul", y, x, t);
}

/** The float below 5.6, as bits: |x| is above it where it is at least 5.6. */
const PHI8_BELOW_END = new Int32Array(new Float32Array([PHI8_END]).buffer)[0] - 1;

/** |x| is capped here: +Inf·Φ(−Inf) would be Inf·0; 1e30·0 is 0. */
const GELU_CAP = 1e30;

/**
 * AVX-512's GELU: Φ(−a) from one polynomial piece per lane at a = min(|x|,
 * 1e30) (phi_table.ts: 13 pieces centred on k·0.5, k read from the low
 * bits of one add's sum, tables read by zero-masked vpermps, so lanes
 * beyond the pieces get 0 without a select; a lane past 2^21 indexes
 * garbage, masked off the same way); then y = max(−0, x) − a·Φ(−a) in one
 * FMA, AVX2's form: x − x·Φ(−x) = x·Φ(x) for x > 0 (no cancellation: Φ(−x)
 * < ½, and rounded once), x·Φ(−|x|) for x ≤ 0 (−0 kept; −Inf gives −0 −
 * 1e30·0 = −0). |x| and its cap are one vrangeps, which gives a NaN x the
 * cap: the max keeps x's NaN. 18 instructions (20 with the product, the
 * compare and the masked subtraction this FMA replaced: `deno run -A
 * bench/ab.ts --a 6e5544d --b 74698be --unary gelu --n 65536`, Intel Xeon,
 * ×0.875 of the time, geluTanh ×0.868), 6 of them on the FMA units:
 * 0.375-wide pieces took two FMAs more for k and t (`deno task compare
 * --ops` at that stop's start and after, Zen 5: gelu at 1 Mi floats 149 →
 * 143 µs, geluTanh 151 → 143). GELU-tanh is the same with its own tail on
 * the same pieces (`coeffs`).
 */
function emitGeluRounded(
  m: Lanes,
  y: number,
  x: number,
  coeffs: readonly (readonly number[])[] = PHI_COEFFS,
): void {
  const v = m.v;
  const a = m.take(), s = m.take(), t = m.take(), c = m.take(), p = m.take();
  const near = m.mask();
  v.magnitudeAtMost(a, x, f32(GELU_CAP));
  v.compare(near, a, "lt", f32(PHI_END)); // false for the cap, so for NaN too
  emitPieceIndexByAdd(m, s, t, a, PHI_STEP); // t exact: the step is 0.5
  emitPiecePolynomial(m, p, c, s, t, coeffs, near);
  // max(−0, x): NaN kept, −0 for x < 0; into y unless y is x (then t, free now).
  const out = y === x ? t : y;
  m.atLeast(out, x, -0);
  v.fnmaddInto(out, a, p);
  if (out !== y) v.move(y, out);
  m.giveMask(near);
  m.give(a, s, t, c, p);
}

/**
 * AVX2's GELU: Φ(−a) from one polynomial piece per lane of an 8-entry
 * table register (phi_table.ts: 8 pieces of width 0.7, degree 6), read at
 * a = min(|x|, 5.6) (NaN and ±Inf too: every lane's pieces finite), then
 * y = max(−0, x) − w·Φ(−a) in one FMA, w = |x| where |x| < 5.6, else 0:
 * x·Φ(x) = x − x·Φ(−x) for x ≥ 0 (no cancellation: Φ(−x) ≤ ½), x·Φ(−|x|)
 * for x < 0, x beyond 5.6 and −0 beyond −5.6 (GELU there below 1e-7 in
 * magnitude), NaN kept by the max. The polynomial's product is the last
 * step (two selects, 1 − Φ and a product ran after it before), and the
 * clamp and the weight's compare are integer ops on the bits, which Zen 3
 * runs on any FP pipe where vminps and vcmpps take the FMA pipes the
 * lookups (vpermps) and the polynomial already fill. Zen 3, one thread,
 * `deno run -A bench/ab.ts --a 502b65c --b b171941 --unary gelu --n 8192` (in
 * L1): ×0.92 of the time (×0.89 at 393 Ki floats; geluTanh ×0.91 / ×0.90);
 * in scratch builds the float min and compare ran ×1.04 of this, and y as
 * the lookups' scratch (three streams, fewer constants pinned) ×1.04 too.
 * GELU-tanh is the same with its own tail on the same pieces (`coeffs`).
 */
function emitGeluPieces(
  m: Lanes,
  y: number,
  x: number,
  coeffs: readonly (readonly number[])[] = PHI8_COEFFS,
): void {
  const v = m.v;
  const idx = m.take(), t = m.take(), p = m.take(), c = m.take();
  m.abs(t, x);
  v.op("mini", t, t, f32(PHI8_END)); // on the bits: NaN and +Inf above 5.6
  v.op("mul", idx, t, f32(1 / PHI8_STEP));
  v.truncate(idx, idx); // 8 at 5.6 reads piece 0 (the low 3 bits): finite, weighted by 0
  v.lookup(c, idx, { table: PHI8_CENTRES });
  v.op("sub", t, t, c); // t
  const top = coeffs.length - 1;
  v.lookup(p, idx, { table: coeffs[top] });
  for (let k = top - 1; k >= 0; k--) {
    v.lookup(c, idx, { table: coeffs[k] });
    v.fmadd(p, p, t, c);
  }
  // The weight and max(−0, x) from x alone: off the polynomial's chain.
  m.abs(t, x);
  v.op("gti", idx, t, bits(PHI8_BELOW_END)); // |x| ≥ 5.6, or NaN
  v.op("andn", t, idx, t); // the weight
  m.atLeast(y, x, -0); // NaN kept; −0 for x < 0. x's last use: y may be x
  v.fnmaddInto(y, t, p);
  m.give(idx, t, p, c);
}

/**
 * y = x/2·(1 + tanh(√(2/π)(x + 0.044715x³))): on AVX-512 and AVX2 from its
 * tail σ(−2u(|x|)) in pieces, as GELU from Φ(−|x|) (gelu_tanh_table.ts: no
 * exponential, no division); on SSE2 as x·sigmoid(2u).
 */
export function emitGeluTanh(m: Lanes, y: number, x: number): void {
  const v = m.v;
  if (v.isa.level === "avx512") return emitGeluRounded(m, y, x, GELU_TANH_TAIL_COEFFS);
  if (v.isa.level === "avx2") return emitGeluPieces(m, y, x, GELU_TANH_TAIL8_COEFFS);
  const xl = m.take(), u = m.take();
  m.atLeast(xl, x, -20);
  v.op("mul", u, xl, xl);
  m.fma(u, u, f32(0.044715 * GELU_TANH_2C), f32(GELU_TANH_2C));
  v.op("mul", u, u, xl);
  emitSigmoid(m, y, u);
  v.op("mul", y, y, xl);
  m.give(xl, u);
}

/**
 * y = x·sigmoid(x): at AVX-512 as x/(1 + e^−x) for every lane, x from
 * EXP_LO up (−Inf gives −105/+Inf = −0, not −Inf·0); elsewhere as
 * x·sigmoid(x).
 */
export function emitSilu(m: Lanes, y: number, x: number): void {
  const xl = m.take();
  m.atLeast(xl, x, EXP_LO);
  if (m.v.isa.level === "avx512") emitSiluByDivision(m, y, xl);
  else {
    emitSigmoid(m, y, xl);
    m.v.op("mul", y, y, xl);
  }
  m.give(xl);
}

/**
 * AVX-512's SiLU, x ≥ EXP_LO (or NaN): x/(1 + e^−x), no select. For x < 0,
 * e^−x = e^|x| keeps its relative accuracy (the table's exponential is
 * good to 105, its scale giving +Inf past 88.7), so the quotient is within
 * a few ulp; where e^|x| overflows the result is −0 against a true value
 * below 1e-36 in magnitude (SiLU's bound is 8 ulp or 1e-7 absolute). The
 * sigmoid's select, its compare and the product after the division gone:
 * 3 vector operations of the ~24 a vector took, on the two 512-bit pipes
 * that bound it: Intel Xeon, `deno run -A bench/ab.ts --a 02764df --b
 * c74478a --unary silu --n 65536` (in L2) ×0.883 of the time, ×0.961 at
 * 1 Mi floats.
 */
function emitSiluByDivision(m: Lanes, y: number, x: number): void {
  const t = m.take();
  m.v.op("xor", t, x, SIGN); // −x ≤ 105
  emitExpUpTo(m, y, t);
  m.v.op("add", y, y, f32(1));
  m.divide(y, x, y);
  m.give(t);
}

/**
 * y = ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|); at AVX-512 the tail
 * ln(1 + e^−|x|) in pieces (softplus_table.ts).
 */
export function emitSoftplus(m: Lanes, y: number, x: number): void {
  const v = m.v;
  if (v.isa.level === "avx512") {
    const t = m.take();
    emitPiecesOfAbs(m, t, x, SOFTPLUS_TAIL_PIECES);
    m.atLeast(y, x, 0); // x's last use: y may be x
    v.op("add", y, y, t);
    m.give(t);
    return;
  }
  const t = m.take(), e = m.take();
  v.op("or", t, x, f32(-0));
  emitExp(m, e, t); // e^−|x| ∈ [0, 1]
  emitLog1pUnit(m, t, e);
  m.atLeast(y, x, 0);
  v.op("add", y, y, t);
  m.give(t, e);
}

/** y = x·tanh(ln(1 + e^x)) = x·n/(n + 2), n = e^x(e^x + 2). */
export function emitMish(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const xl = m.take(), t = m.take(), e = m.take();
  m.atLeast(xl, x, EXP_LO);
  m.atMost(t, xl, 12); // the ratio is 1 in f32 from here on
  emitExp(m, e, t);
  v.op("add", t, e, f32(2));
  v.op("mul", t, t, e); // n
  v.op("add", e, t, f32(2));
  m.divide(t, t, e);
  v.op("mul", y, t, xl);
  m.give(xl, t, e);
}
