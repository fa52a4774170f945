/**
 * What one GEMM call is: BLAS sgemm, row-major.
 * C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C.
 *
 * @module
 */

import { WORKSPACE_SLOT } from "../abi.ts";

/** Argument block slots of a GEMM kernel (f64 each). */
export const ARG = {
  /** Address of A's first element. */
  A: 0,
  /** Address of B's first element. */
  B: 1,
  /** Address of the bias (n elements), when the call has one. */
  BIAS: 2,
  /** Address of C's first element. */
  C: 3,
  /** Address of the workspace (packing buffers). */
  WORK: WORKSPACE_SLOT,
} as const;

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
  /** What is applied to C after the product, if anything. */
  epilogue?: GemmEpilogue;
  /**
   * Columns before B's first 64-byte line boundary (0-15; 0 when unknown or
   * when rows do not share it): the direct driver runs them as a narrow
   * strip of their own, so every other strip of B loads whole lines. A
   * large `new Float32Array(n)` sits 16 bytes past a line here: in place,
   * every zmm load of B split over two lines (`bench/gemm_placement.ts`:
   * 128×3072×768 at 82-84% of one core against 89-90% aligned). The same FMAs
   * per element: same bits.
   */
  bPeel?: number;
  /**
   * Matrices in the call (absent: 1): the same product `batch` times, A, B
   * and C advanced by their strides (elements) each time — a model's
   * per-head products in one call, which threads split by matrices.
   */
  batch?: number;
  /** Elements between consecutive A matrices (0: one A for all). */
  strideA?: number;
  /** Elements between consecutive B matrices (0: one B for all). */
  strideB?: number;
  /** Elements between consecutive C matrices. */
  strideC?: number;
  /**
   * B is a packed copy in column panels of this many columns (`packB`'s
   * "panels" layout, {@link PANEL_COLUMNS}); absent: B is rows at ldb.
   */
  bPanel?: number;
}

/** Columns per panel of a packed B's "panels" layout (4 AVX-512 vectors: 4 lines per k step). */
export const PANEL_COLUMNS = 64;

/** Elements a panels copy of a k×n op(B) holds (the last panel's width rounded up to 16). */
export function panelsExtent(k: number, n: number): number {
  const full = Math.floor(n / PANEL_COLUMNS), rest = n % PANEL_COLUMNS;
  return k * (full * PANEL_COLUMNS + Math.ceil(rest / 16) * 16);
}

/** C = act(C + bias) after alpha·AB + beta·C. */
export interface GemmEpilogue {
  /** A bias per column of C is added (n elements). */
  bias: boolean;
  /** A unary op applied to every element last (UNARY_OPS id and f32 parameters), or null. */
  activation: { op: number; params: number[] } | null;
}

/** Element index of op(A)[i][p] in A. */
export function aIndex(s: GemmSpec, i: number, p: number): number {
  return s.transA ? p * s.lda + i : i * s.lda + p;
}

/** Element index of op(B)[p][j] in B. */
export function bIndex(s: GemmSpec, p: number, j: number): number {
  return s.transB ? j * s.ldb + p : p * s.ldb + j;
}

/**
 * Elements a matrix stored as `rows` rows of `cols` at row stride `ld`
 * spans: one past its last element (0 when empty). The one extent formula:
 * validation, plans and tests all come here.
 */
export function storedExtent(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/** An extent over the call's matrices: one matrix's, plus the last one's offset. */
function batched(one: number, s: GemmSpec, stride: number | undefined): number {
  const b = s.batch ?? 1;
  return one === 0 || b <= 1 ? one : one + (b - 1) * (stride ?? 0);
}

/** Elements of A a call reads (0 when it reads none). */
export function aExtent(s: GemmSpec): number {
  if (s.alpha === 0 || s.n === 0) return 0;
  const one = s.transA ? storedExtent(s.k, s.m, s.lda) : storedExtent(s.m, s.k, s.lda);
  return batched(one, s, s.strideA);
}

/** Elements of B a call reads. */
export function bExtent(s: GemmSpec): number {
  if (s.alpha === 0 || s.m === 0) return 0;
  if (s.bPanel) return batched(panelsExtent(s.k, s.n), s, s.strideB);
  const one = s.transB ? storedExtent(s.n, s.k, s.ldb) : storedExtent(s.k, s.n, s.ldb);
  return batched(one, s, s.strideB);
}

/** Elements of C a call reads or writes. */
export function cExtent(s: GemmSpec): number {
  return batched(storedExtent(s.m, s.n, s.ldc), s, s.strideC);
}

/** Floating-point operations of the call (2·m·n·k per matrix). */
export function gemmFlops(s: Pick<GemmSpec, "m" | "n" | "k" | "batch">): number {
  return 2 * s.m * s.n * s.k * (s.batch ?? 1);
}
