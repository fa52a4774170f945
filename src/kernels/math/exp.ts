/**
 * e^x and e^x − 1 (for x ≤ 0), the core of sigmoid, tanh, softmax, erf's
 * tail and the ELU family.
 *
 * x = n·ln2 + r with n = round(x·log2e) and |r| ≤ ln2/2 (Cody-Waite: ln2 in
 * two parts, the first with 9 significant bits so n·LN2_HI is exact without
 * FMA); e^r = 1 + r + r²·q(r) with q of degree 4 (fitted by
 * tools/fit_math.py, relative error 3e-9; AVX2's of degree 3, 1e-7: see
 * EXP_POLY_AVX2); then 2^n as two exponent-field
 * factors, since n ∈ [−151, 128] does not fit one. AVX-512's e^x reduces
 * by sixteenths of ln 2 with a table instead (emitExpByTable); e^x − 1
 * takes the polynomial there too, with vscalefps for 2^n. AVX2's adds n to
 * the exponent field where |x| ≤ 86.9 (one factor fits), and mends a
 * vector holding any other lane out of line, by 2^±64 more in the add and
 * 2^∓64 in a product (emitExpNormal, emitExpRescaled): every lane gets the
 * bits it gets among ordinary neighbours.
 *
 * Where n < −150, e^x is below half the least subnormal and rounds to +0:
 * those lanes are set to +0, not computed. An Intel core takes a microcode
 * assist of ~200 cycles for every vector whose result underflows: measured
 * on a Xeon (`deno run -A bench/underflow.ts`), e^−110 cost 119 ns per
 * vector against e^−1's 7 ns; it hit softmax's masked entries and the −Inf
 * filling its row tails, sigmoid, tanh and every function below e^x.
 * Results that are subnormal (x from −104 to −87.3) still take it: they
 * need the gradual underflow.
 *
 * @module
 */
import { bits, f32 } from "../vec.ts";
import { type Lanes, SIGNLESS } from "./lanes.ts";

/** ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits. */
export const LN2_HI = 0.693359375;
/** The rest of ln 2. */
export const LN2_LO = -2.12194440e-4;
const LOG2E = 1.44269504088896341;
/**
 * Below this e^x rounds to 0 in f32 (e^-104 < 2^-150), and n = round(x·log2e)
 * < −150: clamped here, the result is +0 without an underflow.
 */
export const EXP_LO = -105;
/** The least n whose 2^n·e^r is computed; below, e^x rounds to +0. */
const LEAST_SCALE = -150;
/** Above this e^x is +Inf in f32. */
export const EXP_HI = 89;

/** e^r on [−ln2/2, ln2/2]: 1 + r + r²(q0 + q1 r + ...), Horner coefficients from r⁰. */
export const EXP_POLY: readonly number[] = [
  1,
  1,
  0.4999999403953552,
  0.1666652113199234,
  0.04166838899254799,
  0.008368710055947304,
  0.001381461275741458,
];

/**
 * AVX2's e^r on [−ln2/2, ln2/2] where e^x feeds a function of it (sigmoid,
 * SiLU, tanh, softmax, ...): q of degree 3 (tools/fit_math.py exp_fit(5),
 * relative error 1.05e-7). Those are bound by the vector operations a lane
 * takes, whatever the pipe (Zen 3: two FMAs fewer in the polynomial saved
 * about a cycle a vector), and one FMA fewer is worth the accuracy: e^x
 * itself would be 2 ulp (`deno task ulp --isa avx2 --step 7`), sigmoid 3
 * (was 2), within the 4 allowed. The exp op and pow, whose result is e^x,
 * keep EXP_POLY (1 ulp: emitExp's `oneUlp`). Zen 3, `deno run -A
 * bench/ab.ts --a c4e29d6 --b f4b5e7a --unary OP --n 1048576`: sigmoid
 * ×0.940, silu ×0.938, mish ×0.949, softplus ×0.901, tanh ×1.001 (its
 * e^x is its rare path's); `--softmax 1536x128` ×0.907, 1024x1024 ×0.827,
 * 128x30522 ×0.885. With softmax's r by one FMA too (shortReduction, `--a
 * f4b5e7a --b ac1b435`): 1536×128 ×0.860-0.866, logSoftmax ×0.893,
 * 1024×1024 ×0.837, 128×30522 ×0.865, 3072×64 ×0.884.
 */
const EXP_POLY_AVX2 = [
  1,
  1,
  0.499992311000824,
  0.16667114198207855,
  0.041890114545822144,
  0.008312525227665901,
];

/**
 * n = round(t·log2e) into `n` (as a float) and, below AVX-512, into the
 * returned int register; t becomes r = t − n·ln2.
 */
function reduce(m: Lanes, n: number, t: number): number {
  const v = m.v;
  v.op("mul", n, t, f32(LOG2E));
  let ni = -1;
  if (v.isa.level === "avx512") v.roundNearest(n, n);
  else {
    ni = m.take();
    v.convert("toInt", ni, n);
    v.convert("toFloat", n, ni);
  }
  m.fma(t, n, f32(-LN2_HI), t);
  m.fma(t, n, f32(-LN2_LO), t);
  return ni;
}

/** How an e^x is taken (see emitExp's `oneUlp`, emitExpUpTo's `shortReduction`). */
export interface ExpOptions {
  /** AVX2: the degree-6 polynomial, 1 ulp, for a result that is e^x itself. */
  oneUlp?: boolean;
  /** AVX-512 and AVX2: r by one FMA with ln 2 rounded to f32, for t = x − max rounded already. */
  shortReduction?: boolean;
}

/** ln 2 rounded to f32 (off by 1.9e-9: see emitExpUpTo's `shortReduction`). */
const LN2_F32 = Math.fround(Math.LN2);

/**
 * y = e^t for t ≤ EXP_HI (−Inf and anything below EXP_LO give +0) or NaN;
 * t is overwritten. y ≠ t.
 *
 * `shortReduction` (AVX-512 and AVX2; softmax): r = t − (n/16)·ln 2 (at
 * AVX2 t − n·ln 2) by one FMA with ln 2 rounded to f32 instead of two. r
 * is then off by up to |t·log2e|·1.9e-9,
 * so e^t by a relative |t|·2.7e-9 (|t|·0.05 ulp) more: for a caller whose
 * t = x − max was itself rounded, which already costs e^t a relative
 * |t|·6e-8, it is lost in that error; the FMA pipes then do 6 operations a
 * vector instead of 7 (the AVX-512 softmax's exponential pass, bound by
 * them, ran faster by about that in a scratch timing of its code in cache;
 * whole calls by `deno run -A bench/tune_candidates.ts --softmax 1024x1024`,
 * the commit before and after alternating, stayed within this host's noise).
 */
export function emitExpUpTo(
  m: Lanes,
  y: number,
  t: number,
  options: ExpOptions = {},
): void {
  const v = m.v;
  if (v.isa.level === "avx512") return emitExpByTable(m, y, t, options.shortReduction ?? false);
  if (v.isa.level === "avx2") return emitExpNormal(m, y, t, options);
  m.atLeast(y, t, EXP_LO);
  v.move(t, y);
  const ni = reduce(m, y, t);
  const p = m.take();
  m.horner(p, t, EXP_POLY);
  // Lanes with n < −150 get n = 0 (no underflow), then a factor of 0:
  // +0, or NaN from a NaN input (whose n, converted, is −2^31). The
  // mask takes t's register, free after the polynomial.
  const keep = t;
  v.compare({ v: keep }, y, "nlt", f32(LEAST_SCALE));
  v.op("and", ni, ni, keep);
  scaleByTwoFactors(m, p, ni, y);
  v.move(y, p);
  v.op("and", keep, keep, f32(1));
  v.op("mul", y, y, keep);
  m.give(ni, p);
}

/** emitExpUpTo with t kept (AVX2's keeps it; below and above, on a copy). y ≠ t. */
export function emitExpUpToKeeping(
  m: Lanes,
  y: number,
  t: number,
  options: ExpOptions = {},
): void {
  if (m.v.isa.level === "avx2") return emitExpNormal(m, y, t, options);
  const u = m.take();
  m.v.move(u, t);
  emitExpUpTo(m, y, u, options);
  m.give(u);
}

/** 1.5·2^19: t·log2e plus this rounds to a multiple of 1/16. */
const SIXTEENTHS = 1.5 * 2 ** 19;
/** 2^(j/16), j = 0..15: the table of emitExpByTable. */
const EXP2_SIXTEENTHS = Array.from({ length: 16 }, (_, j) => 2 ** (j / 16));
/** e^r on [−ln2/32, ln2/32]: 1 + r·(1 + r·(c0 + c1·r)) (tools/fit_math.py exp_fit(3, ln2/32), relative error 1.6e-9). */
const EXP_SHORT = [0.5000161528587341, 0.16666720807552338];

/**
 * AVX-512's e^t: x = (n/16)·ln2 + r, |r| ≤ ln2/32, e^x = 2^⌊n/16⌋ ·
 * 2^(j/16) · e^r with j = n mod 16 from a 16-entry table (vpermps indexes
 * by the low 4 bits of t·log2e + 1.5·2^19, whose last bit is worth 1/16:
 * one rounding gives n/16 and j), e^r by a cubic, the scale by vscalefps
 * (which takes ⌊n/16⌋ itself, and gives overflow and gradual underflow in
 * one rounding). The table and the short polynomial take 8 FMA-pipe
 * operations where the degree-6 polynomial took 10: on Zen 5 (the FMA
 * pipes bound these kernels; A/B in one process at 1 Mi floats) sigmoid
 * 129 → 107 µs, silu 154 → 148, geluTanh 213 → 195, mish 176 → 166.
 * Lanes whose n/16 < −150 (below EXP_LO, −Inf) are set to +0 by the
 * scale's mask, not computed (see the module's note on underflow): no clamp
 * from below. Above EXP_HI (up to 2^18, where the sum still keeps its
 * sixteenths) the scale gives +Inf, but +Inf itself would give NaN (Inf −
 * Inf in r): callers cap t at EXP_HI.
 */
function emitExpByTable(m: Lanes, y: number, t: number, shortReduction: boolean): void {
  const v = m.v;
  const s = m.take(), T = m.take(), q = m.take(), mk = m.mask();
  m.fma(s, t, f32(LOG2E), f32(SIXTEENTHS));
  v.op("sub", y, s, f32(SIXTEENTHS)); // n/16
  if (shortReduction) m.fma(t, y, f32(-LN2_F32), t); // r, one rounding (see emitExpUpTo)
  else {
    m.fma(t, y, f32(-LN2_HI), t); // exact: n/16 has 12 bits, LN2_HI 9
    m.fma(t, y, f32(-LN2_LO), t); // r
  }
  v.lookup(T, s, { table: EXP2_SIXTEENTHS });
  v.op("mul", s, T, t);
  m.fma(q, t, f32(EXP_SHORT[1]), f32(EXP_SHORT[0]));
  m.fma(q, q, t, f32(1));
  m.fma(T, s, q, T); // 2^(j/16)·e^r
  v.compare(mk, y, "nlt", f32(LEAST_SCALE)); // n/16 ≥ −150, or NaN (kept)
  v.scale2(y, T, y, mk);
  m.giveMask(mk);
  m.give(s, T, q);
}

/** 1.5·2^23: x·log2e plus this rounds to an integer n, held in the sum's low bits. */
export const INTEGERS = 1.5 * 2 ** 23;
/**
 * |x| up to this takes AVX2's exponent add: n ∈ [−125, 125], so p·2^n
 * (p ∈ [0.7, 1.42]) is a normal number whose exponent field is p's plus n.
 */
export const NORMAL_LIMIT = 86.9;
/** NORMAL_LIMIT's bits: |x|'s bits compared as integers (NaN's and Inf's are above). */
const NORMAL_LIMIT_BITS = new Int32Array(new Float32Array([NORMAL_LIMIT]).buffer)[0];

/**
 * AVX2's e^x, y ≠ x, x kept: n = round(x·log2e) by one FMA (x·log2e +
 * 1.5·2^23, whose low bits are then n), r = x − n·ln2 as emitExpUpTo's,
 * e^r by a polynomial of one degree less (EXP_POLY_AVX2), and 2^n by adding n to the exponent field
 * (a shift and an integer add) where |x| ≤ NORMAL_LIMIT. Lanes beyond it
 * (overflow, subnormal results or underflow to 0, ±Inf, NaN) are rare: a
 * vector holding one goes out of line (emitExpRare) to mend them, its
 * normal lanes keeping their bits (so a lane's result does not depend on
 * its neighbours). 8 operations on the FMA pipes (9 with `oneUlp`) and 8
 * others where the two-factor scale on every lane took 15 and 11.
 */
function emitExpNormal(m: Lanes, y: number, x: number, options: ExpOptions = {}): void {
  emitExpNormalOnly(m, y, x, options);
  const beyond = m.take();
  rarelyBeyondNormal(m, beyond, x, (f) => emitExpRare(f, y, x));
  m.give(beyond);
}

/**
 * emitExpNormal without its rare path: y = e^x right where |x| ≤
 * NORMAL_LIMIT; elsewhere what emitExpRescaled mends (a caller with its
 * own rare path). y ≠ x; x is kept. Options: as emitExp's and emitExpUpTo's.
 */
export function emitExpNormalOnly(
  m: Lanes,
  y: number,
  x: number,
  options: ExpOptions = {},
): void {
  const v = m.v;
  const s = m.take(), r = m.take();
  m.fma(s, x, f32(LOG2E), f32(INTEGERS));
  v.op("sub", y, s, f32(INTEGERS)); // n
  if (options.shortReduction) m.fma(r, y, f32(-LN2_F32), x); // one rounding (see emitExpUpTo)
  else {
    m.fma(r, y, f32(-LN2_HI), x);
    m.fma(r, y, f32(-LN2_LO), r);
  }
  m.horner(y, r, options.oneUlp ? EXP_POLY : EXP_POLY_AVX2);
  v.shift("sll", s, s, 23); // n in the exponent field
  v.op("addi", y, y, s);
  m.give(s, r);
}

/** mask = |x| > NORMAL_LIMIT, or NaN (AVX2: two integer ops on the bits). mask ≠ x. */
function emitBeyondNormal(m: Lanes, mask: number, x: number): void {
  m.v.op("and", mask, x, SIGNLESS);
  m.v.op("gti", mask, mask, bits(NORMAL_LIMIT_BITS));
}

/**
 * `fix` out of line where any lane has |x| > NORMAL_LIMIT, or NaN
 * (Lanes.rarelyAbove on |x|'s bits, made in `t`, which the caller gives
 * back after). t ≠ x.
 */
export function rarelyBeyondNormal(m: Lanes, t: number, x: number, fix: (f: Lanes) => void): void {
  m.v.op("and", t, x, SIGNLESS);
  m.rarelyAbove(t, bits(NORMAL_LIMIT_BITS), fix);
}

/**
 * emitExpNormal's rare path: lanes below EXP_LO (masked scores: −1e4, −Inf)
 * round to +0; where no other lane is rare, y's lanes are kept but those,
 * zeroed by one `and` (a masked softmax's vectors pay 4 operations). Any
 * other rare lane (overflow, a subnormal result, NaN) takes
 * emitExpRescaled, then the same `and`.
 */
function emitExpRare(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const kept = m.take(), rare = m.take();
  v.compare({ v: kept }, x, "nlt", f32(EXP_LO)); // x ≥ −105, or NaN
  emitBeyondNormal(m, rare, x);
  v.op("and", rare, rare, kept); // the rare lanes that are not +0
  m.give(rare);
  // Two temporaries at most, as the fast form's (a third cost the loop a pinned constant).
  m.branch({ v: rare }, () => (v.op("and", y, y, kept), m.give(kept)), () => {
    m.give(kept);
    emitExpRescaled(m, y, x);
    const k = m.take();
    v.compare({ v: k }, x, "nlt", f32(EXP_LO));
    v.op("and", y, y, k);
    m.give(k);
  });
}

/** The exponent step emitExpRescaled takes out of the exponent add and puts back by a product. */
const RESCALE = 64;

/**
 * y = e^x where x ∈ [EXP_LO, EXP_HI] from emitExpNormalOnly's y (x kept):
 * there y's bits are p's plus n·2^23, which wrapped beyond the exponent
 * field where n ∉ [−126, 127]; adding ±64·2^23 more (+ where x < 0) gives
 * p·2^(n ± 64), a normal number, exactly, and the product by 2^∓64 rounds
 * it once: to a subnormal, +0 or +Inf, as IEEE's p·2^n would; normal
 * results exactly, so every lane gets the bits it gets among ordinary
 * neighbours. Lanes above EXP_HI (+Inf), or NaN, get x·+Inf: +Inf, or
 * x's NaN. Lanes below EXP_LO are left for the caller to zero. 8
 * operations where computing every lane again with two factors for 2^n
 * (the form before it) took 22: a vector holding a rare lane paid both
 * (`deno run -A bench/ab.ts --unary exp --span 100`).
 */
export function emitExpRescaled(m: Lanes, y: number, x: number): void {
  const v = m.v;
  const c = m.take(), f = m.take();
  v.move(c, bits(-RESCALE << 23));
  m.select(c, { v: x }, bits(RESCALE << 23), c); // x's sign: n + 64, else n − 64
  v.op("addi", y, y, c);
  v.move(f, bits(127 << 23));
  v.op("subi", f, f, c); // 2^∓64
  v.op("mul", y, y, f);
  v.compare({ v: c }, x, "nle", f32(EXP_HI)); // x > EXP_HI, or NaN
  v.op("mul", f, x, f32(Infinity));
  m.select(y, { v: c }, f, y);
  m.give(c, f);
}

/**
 * p = p·2^n for n ∈ [−151, 128] (an integer in `n`) as 2^n1 · 2^n2, n1 = n >> 1 and n2 = n − n1,
 * each a normal exponent: a subnormal result is rounded once, an overflow gives +Inf. n and t
 * are clobbered.
 */
function scaleByTwoFactors(m: Lanes, p: number, n: number, t: number): void {
  const v = m.v;
  v.shift("sra", t, n, 1);
  v.op("subi", n, n, t);
  v.shift("sll", t, t, 23);
  v.op("addi", t, t, bits(127 << 23));
  v.op("mul", p, p, t);
  v.shift("sll", n, n, 23);
  v.op("addi", n, n, bits(127 << 23));
  v.op("mul", p, p, n);
}

/**
 * AVX2's e^x − 1 (emitExpm1Negative's contract): emitExpm1Core on x where
 * |x| ≤ NORMAL_LIMIT, and out of line (as emitExpNormal) on x clamped to
 * [−87, NORMAL_LIMIT] (e^−87 − 1 = −1 in f32, 2^n still normal; lanes above
 * 0 are the caller's to discard), NaN kept. Where every rare lane lies
 * below −87 (tanh's and ELU's saturated inputs), those lanes take −1, which
 * the clamped form gives them too, and the others keep their bits.
 */
function emitExpm1Normal(m: Lanes, y: number, x: number): void {
  const r = m.take();
  emitExpm1Core(m, y, x, r);
  rarelyBeyondNormal(m, r, x, (f) => {
    const v = f.v;
    const low = f.take(), mk = f.take();
    v.compare({ v: low }, x, "lt", f32(-87)); // false for NaN
    emitBeyondNormal(f, mk, x);
    v.op("andn", mk, low, mk); // the rare lanes that are not −1
    const done = () => f.give(low, mk);
    f.branch({ v: mk }, () => (f.select(y, { v: low }, f32(-1), y), done()), () => {
      done();
      const c = f.take(), t = f.take();
      f.atLeast(t, x, -87);
      f.atMost(c, t, NORMAL_LIMIT);
      f.give(t);
      emitExpm1Core(f, y, c, c);
      f.give(c);
    });
  });
  m.give(r);
}

/**
 * y = e^x − 1 = 2^n·(e^r − 1) + (2^n − 1) for |x| ≤ NORMAL_LIMIT (e^r − 1
 * = r·(1 + r·q(r)), so small x keep their relative accuracy), n and r as
 * emitExpNormal's. r is where r goes: x itself (x is then overwritten) or a
 * temporary. y ≠ x, y ≠ r.
 */
function emitExpm1Core(m: Lanes, y: number, x: number, r: number): void {
  const v = m.v;
  const s = m.take();
  m.fma(s, x, f32(LOG2E), f32(INTEGERS));
  v.op("sub", y, s, f32(INTEGERS)); // n
  m.fma(r, y, f32(-LN2_HI), x);
  m.fma(r, y, f32(-LN2_LO), r);
  m.horner(y, r, EXP_POLY.slice(1));
  v.op("mul", y, y, r); // e^r − 1
  v.shift("sll", s, s, 23);
  v.op("addi", s, s, bits(127 << 23)); // 2^n
  v.op("sub", r, s, f32(1));
  m.fma(y, y, s, r);
  m.give(s);
}

/**
 * y = e^x for every f32 x (NaN kept, e^-Inf = 0, e^+Inf = +Inf). y ≠ x; x is kept.
 * `oneUlp`: AVX2's degree-6 polynomial (1 ulp) for callers whose result is
 * e^x itself, not its cheaper one (EXP_POLY_AVX2).
 */
export function emitExp(m: Lanes, y: number, x: number, options: ExpOptions = {}): void {
  if (m.v.isa.level === "avx2") return emitExpNormal(m, y, x, options);
  const t = m.take();
  m.atMost(t, x, EXP_HI);
  emitExpUpTo(m, y, t, options);
  m.give(t);
}

/**
 * y = e^x − 1 where x ≤ 0 (other lanes get a finite value the caller
 * discards): 2^n·(e^r − 1) + (2^n − 1), with e^r − 1 = r·(1 + r·q(r)) so
 * small x keep their relative accuracy. NaN is kept. y ≠ x; x is kept.
 */
export function emitExpm1Negative(m: Lanes, y: number, x: number): void {
  const v = m.v;
  if (v.isa.level === "avx2") return emitExpm1Normal(m, y, x);
  // Clamped to [−87, 0] (e^-87 − 1 = −1 in f32; 2^n ≥ 2^-126 stays a normal
  // number, so no underflow assist), NaN kept: it carries through.
  const u = m.take();
  m.atLeast(u, x, -87);
  const t = m.take();
  m.atMost(t, u, 0);
  m.give(u);
  const ni = reduce(m, y, t);
  const s = m.take();
  m.horner(s, t, EXP_POLY.slice(1));
  v.op("mul", s, s, t); // e^r − 1
  const p2 = m.take();
  if (v.isa.level === "avx512") {
    v.move(p2, f32(1));
    v.scale2(p2, p2, y);
  } else {
    v.shift("sll", p2, ni, 23);
    v.op("addi", p2, p2, bits(127 << 23));
    m.give(ni);
  }
  v.op("sub", y, p2, f32(1));
  m.fma(y, s, p2, y);
  m.give(t, s, p2);
}
