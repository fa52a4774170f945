/**
 * erf x.
 *
 * |x| < 1: x·P(x²), P of degree 6 (relative error 1.2e-9). |x| ≥ 1:
 * erf = 1 − erfc with erfc(a) = e^(−a²)·Q(t), t = 1/(1 + a/2), Q of degree 9
 * (relative error 1.4e-10 on [0.5, 4]); a is clamped (erf 4 rounds to 1).
 * AVX-512 takes erf |x| in pieces instead (erf_table.ts).
 * (GELU has its own forms: activations.ts.)
 * Coefficients from tools/fit_math.py.
 *
 * @module
 */
import { f32 } from "../vec.ts";
import { emitExp } from "./exp.ts";
import type { Lanes } from "./lanes.ts";
import { ERF_PIECES } from "./erf_table.ts";
import { emitOddPieces } from "./pieces.ts";

const ERF_SMALL = [
  1.1283791065216064,
  -0.3761262595653534,
  0.1128358542919159,
  -0.026853812858462334,
  0.005188329145312309,
  -0.000801020534709096,
  7.853897113818675e-05,
];
const ERFC_Q = [
  -3.8679510907968506e-05,
  0.2827433943748474,
  0.27762532234191895,
  0.26208123564720154,
  0.15725865960121155,
  0.03899179399013519,
  0.22465726733207703,
  -0.46889084577560425,
  0.2874293923377991,
  -0.06186336278915405,
];

/**
 * For a = |x| (or NaN): `small` = erf(a), valid for a < 1, and `tail` =
 * erfc(a) = e^(−c²)·Q(t) with c = min(a, 4), valid for a ≥ 0.5. All
 * distinct registers; a is kept.
 */
function emitErfParts(m: Lanes, small: number, tail: number, a: number): void {
  const v = m.v;
  const s = m.take(), c = m.take();
  v.op("mul", s, a, a);
  m.horner(small, s, ERF_SMALL);
  v.op("mul", small, small, a);
  m.atMost(c, a, 4);
  v.op("mul", s, c, c);
  v.op("xor", s, s, f32(-0)); // −c²
  emitExp(m, tail, s);
  v.fmadd(s, c, f32(0.5), f32(1));
  v.move(c, f32(1));
  m.divide(c, c, s); // t
  m.horner(s, c, ERFC_Q);
  v.op("mul", tail, tail, s);
  m.give(s, c);
}

/** y = erf x. y ≠ x; x is kept. */
export function emitErf(m: Lanes, y: number, x: number): void {
  if (m.v.isa.level === "avx512") return emitErfPieces(m, y, x);
  const v = m.v;
  const a = m.take(), small = m.take(), tail = m.take();
  m.abs(a, x);
  emitErfParts(m, small, tail, a);
  v.move(y, f32(1));
  v.op("sub", y, y, tail);
  const mk = m.mask();
  v.compare(mk, a, "lt", f32(1));
  m.select(y, mk, small, y);
  m.giveMask(mk);
  m.withSign(y, y, x);
  m.give(a, small, tail);
}

/**
 * AVX-512's erf: erf |x| from one polynomial piece per lane (erf_table.ts,
 * indexed as tanh's pieces), the sign of x put back: 6 permutes and 7 FMAs
 * where the two branches took an exponential, a division and two
 * polynomials for every vector; ±Inf take the last piece, ±1.
 */
function emitErfPieces(m: Lanes, y: number, x: number): void {
  emitOddPieces(m, y, x, ERF_PIECES);
}
