/**
 * Piecewise polynomials read by permutes: AVX-512's GELU (phi_table.ts),
 * tanh (tanh_table.ts), erf (erf_table.ts) and softplus's tail
 * (softplus_table.ts). The piece is k = round(a/step), from one FMA with
 * 1.5·2^23 whose sum holds k in its low mantissa bits (they index the
 * tables: no conversion); t = a − k·step, which one FMA forms exactly when
 * step has few significant bits (for a power-of-two step, an add and two
 * subtractions do both: `emitPieceIndexByAdd`). Then p(t) by Horner, each coefficient read
 * per lane from a table of 16 entries (`vpermps`) or 32 (`vpermt2ps`).
 *
 * @module
 */
import { f32, type Mask } from "../vec.ts";
import type { Lanes } from "./lanes.ts";

/** 1.5·2^23: a·(1/step) plus this rounds to the nearest integer, held in its low mantissa bits. */
const ROUNDER = 1.5 * 2 ** 23;

/** s = the piece k = round(a/step) in its low bits, t = a − k·step. s, t ≠ a. */
export function emitPieceIndex(m: Lanes, s: number, t: number, a: number, step: number): void {
  m.fma(s, a, f32(1 / step), f32(ROUNDER)); // k in the low bits
  m.v.op("sub", t, s, f32(ROUNDER)); // k
  m.fma(t, t, f32(-step), a); // t = a − k·step
}

/**
 * The same for a power-of-two `step`, without a multiply: s = a + 1.5·2^23·step
 * holds k = round(a/step) in its low bits (its ulp is `step`), and t = a −
 * (s − 1.5·2^23·step) is exact (k·step is, and a lies within step/2 of it).
 * Adds run beside a kernel's FMAs; the FMA form above takes two of their
 * slots. For a ≥ 0 below 2^22·step. s, t ≠ a.
 */
export function emitPieceIndexByAdd(
  m: Lanes,
  s: number,
  t: number,
  a: number,
  step: number,
): void {
  if (!(step > 0 && 2 ** Math.round(Math.log2(step)) === step)) {
    throw new Error(`pieces: step ${step} is not a power of two`);
  }
  const rounder = ROUNDER * step;
  m.v.op("add", s, a, f32(rounder)); // k in the low bits
  m.v.op("sub", t, s, f32(rounder)); // k·step
  m.v.op("sub", t, a, t); // t = a − k·step
}

/**
 * y = Σ coeffs[j][k]·t^j for each lane's piece k (its bits in `s`): one
 * table of 16 or 32 entries per power, from t⁰. With `keep` (an opmask)
 * every coefficient, and so y, is 0 in the lanes outside it. `c` is scratch.
 */
export function emitPiecePolynomial(
  m: Lanes,
  y: number,
  c: number,
  s: number,
  t: number,
  coeffs: readonly (readonly number[])[],
  keep?: Mask,
): void {
  const v = m.v;
  const read = (dst: number, table: readonly number[]) =>
    table.length === 32
      ? v.lookupWide(dst, s, { table: table.slice(0, 16) }, { table: table.slice(16) }, keep)
      : v.lookup(dst, s, { table }, keep);
  const top = coeffs.length - 1;
  read(y, coeffs[top]);
  for (let j = top - 1; j >= 0; j--) {
    read(c, coeffs[j]);
    v.fmadd(y, y, t, c);
  }
}

/**
 * A function of |x| in pieces (emitPiecesOfAbs): their width, |x|'s cap (the
 * centre of the last piece, a constant), the coefficients' tables.
 */
export interface CappedPieces {
  step: number;
  cap: number;
  coeffs: readonly (readonly number[])[];
}

/**
 * y = f(|x|) from pieces of |x| whose last is the constant f reaches
 * (tanh_table.ts, erf_table.ts, softplus_table.ts): |x| capped at that
 * piece's centre (+Inf takes it), the piece by one FMA, its polynomial
 * from 32-entry tables. NaN: the cap keeps it (a is the second source),
 * and t carries it. y ≠ x; x is kept.
 */
export function emitPiecesOfAbs(m: Lanes, y: number, x: number, pieces: CappedPieces): void {
  const a = m.take(), s = m.take(), t = m.take();
  m.abs(t, x);
  m.atMost(a, t, pieces.cap);
  emitPieceIndex(m, s, t, a, pieces.step); // t exact: the step has few significant bits
  emitPiecePolynomial(m, y, a, s, t, pieces.coeffs);
  m.give(a, s, t);
}

/** y = f(|x|) with x's sign put back, for an odd f in pieces (emitPiecesOfAbs). */
export function emitOddPieces(m: Lanes, y: number, x: number, pieces: CappedPieces): void {
  emitPiecesOfAbs(m, y, x, pieces);
  m.withSign(y, y, x);
}
