/**
 * What one GEMM call is: BLAS sgemm, row-major.
 * C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C.
 *
 * @module
 */

/** A fully specified GEMM (leading dimensions resolved). */
export interface GemmSpec {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** op(A) = Aᵀ: A is stored k×m. */
  transA: boolean;
  /** op(B) = Bᵀ: B is stored n×k. */
  transB: boolean;
  /** Elements between rows of A as stored. */
  lda: number;
  /** Elements between rows of B as stored. */
  ldb: number;
  /** Elements between rows of C. */
  ldc: number;
  /** Scale of the product. */
  alpha: number;
  /** Scale of C's previous value (0: C is overwritten). */
  beta: number;
}

/** Element index of op(A)[i][p] in A. */
export function aIndex(s: GemmSpec, i: number, p: number): number {
  return s.transA ? p * s.lda + i : i * s.lda + p;
}

/** Element index of op(B)[p][j] in B. */
export function bIndex(s: GemmSpec, p: number, j: number): number {
  return s.transB ? j * s.ldb + p : p * s.ldb + j;
}

/** Elements of A a call reads: one past the last element touched (0 when none). */
export function aExtent(s: GemmSpec): number {
  if (s.m === 0 || s.k === 0 || s.alpha === 0) return 0;
  return s.transA ? (s.k - 1) * s.lda + s.m : (s.m - 1) * s.lda + s.k;
}

/** Elements of B a call reads. */
export function bExtent(s: GemmSpec): number {
  if (s.n === 0 || s.k === 0 || s.alpha === 0) return 0;
  return s.transB ? (s.n - 1) * s.ldb + s.k : (s.k - 1) * s.ldb + s.n;
}

/** Elements of C a call reads or writes. */
export function cExtent(s: GemmSpec): number {
  return s.m === 0 || s.n === 0 ? 0 : (s.m - 1) * s.ldc + s.n;
}

/** Floating-point operations of the call (2·m·n·k). */
export function gemmFlops(s: Pick<GemmSpec, "m" | "n" | "k">): number {
  return 2 * s.m * s.n * s.k;
}
