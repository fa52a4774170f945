/**
 * Validation of `jit.gemm` arguments: types, sizes, strides and buffer
 * extents are checked in TypeScript before any native code runs, and bad
 * input throws a TypeError or RangeError naming the argument, the value and
 * what was expected. Writes into a caller-owned spec (no allocation).
 *
 * @module
 */
import type { GemmSpec } from "../kernels/gemm/spec.ts";

/** Options of `jit.gemm`: BLAS sgemm, row-major. */
export interface GemmOptions {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Use Aᵀ (A stored k×m). Default false. */
  transA?: boolean;
  /** Use Bᵀ (B stored n×k). Default false. */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0 (C is overwritten, whatever it held). */
  beta?: number;
  /** Row stride of A as stored; default its row length (dense). */
  lda?: number;
  /** Row stride of B as stored; default its row length. */
  ldb?: number;
  /** Row stride of C; default n. */
  ldc?: number;
}

/** Largest m, n, k or leading dimension the kernels take (32-bit displacements). */
export const MAX_DIMENSION = 1 << 20;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an Array";
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === "object"
    ? `an object (${(v as object).constructor?.name ?? "Object"})`
    : `${typeof v} ${String(v)}`;
}

// Cold paths: each throws the error that names the argument, the value and what was expected.

function badDimension(name: string, v: unknown): never {
  if (typeof v === "number" && Number.isInteger(v) && v > MAX_DIMENSION) {
    throw new RangeError(`gemm: ${name} = ${v} exceeds the supported maximum of ${MAX_DIMENSION}`);
  }
  throw new RangeError(
    `gemm: ${name} must be a non-negative integer, got ${typeof v === "number" ? v : describe(v)}`,
  );
}

function badLeading(name: string, v: unknown, min: number, what: string): never {
  if ((v as number) >>> 0 !== v || (v as number) > MAX_DIMENSION) badDimension(name, v);
  throw new RangeError(`gemm: ${name} must be at least ${min} (${what}), got ${v}`);
}

function badFlag(name: string, v: unknown): never {
  throw new TypeError(`gemm: ${name} must be a boolean, got ${describe(v)}`);
}

function badScalar(name: string, v: unknown): never {
  throw new TypeError(`gemm: ${name} must be a number, got ${describe(v)}`);
}

function badArray(name: string, v: unknown): never {
  throw new TypeError(`gemm: ${name} must be a Float32Array, got ${describe(v)}`);
}

function badExtent(name: string, arr: Float32Array, need: number, s: GemmSpec): never {
  const what = name === "c"
    ? `m=${s.m} rows of n=${s.n} at ldc=${s.ldc}`
    : name === "a"
    ? (s.transA
      ? `k=${s.k} rows of m=${s.m} at lda=${s.lda}`
      : `m=${s.m} rows of k=${s.k} at lda=${s.lda}`)
    : (s.transB
      ? `n=${s.n} rows of k=${s.k} at ldb=${s.ldb}`
      : `k=${s.k} rows of n=${s.n} at ldb=${s.ldb}`);
  throw new RangeError(
    `gemm: ${name} has ${arr.length} elements but ${what} needs at least ${need}`,
  );
}

/** Checks the options of a gemm call and writes the resolved shape into `out`. */
export function readGemmShape(o: GemmOptions, out: GemmSpec): void {
  if (o === null || typeof o !== "object") {
    throw new TypeError(`gemm: options must be an object with m, n and k, got ${describe(o)}`);
  }
  // (v >>> 0) === v holds exactly for integers in [0, 2^32): one test for type, sign and fraction.
  const m = o.m, n = o.n, k = o.k;
  if (m >>> 0 !== m || m > MAX_DIMENSION) badDimension("m", m);
  if (n >>> 0 !== n || n > MAX_DIMENSION) badDimension("n", n);
  if (k >>> 0 !== k || k > MAX_DIMENSION) badDimension("k", k);
  let transA = o.transA, transB = o.transB;
  if (transA === undefined) transA = false;
  else if (transA !== true && transA !== false) badFlag("transA", transA);
  if (transB === undefined) transB = false;
  else if (transB !== true && transB !== false) badFlag("transB", transB);
  let alpha = o.alpha, beta = o.beta;
  if (alpha === undefined) alpha = 1;
  else if (typeof alpha !== "number") badScalar("alpha", alpha);
  if (beta === undefined) beta = 0;
  else if (typeof beta !== "number") badScalar("beta", beta);
  const aRow = transA ? m : k, bRow = transB ? k : n;
  let lda = o.lda, ldb = o.ldb, ldc = o.ldc;
  if (lda === undefined) lda = aRow;
  else if (lda >>> 0 !== lda || lda > MAX_DIMENSION || lda < aRow) {
    badLeading(
      "lda",
      lda,
      aRow,
      transA ? "A is stored k×m: its rows hold m" : "the rows of A hold k",
    );
  }
  if (ldb === undefined) ldb = bRow;
  else if (ldb >>> 0 !== ldb || ldb > MAX_DIMENSION || ldb < bRow) {
    badLeading(
      "ldb",
      ldb,
      bRow,
      transB ? "B is stored n×k: its rows hold k" : "the rows of B hold n",
    );
  }
  if (ldc === undefined) ldc = n;
  else if (ldc >>> 0 !== ldc || ldc > MAX_DIMENSION || ldc < n) {
    badLeading("ldc", ldc, n, "the rows of C hold n");
  }
  out.m = m;
  out.n = n;
  out.k = k;
  out.transA = transA;
  out.transB = transB;
  out.alpha = alpha;
  out.beta = beta;
  out.lda = lda;
  out.ldb = ldb;
  out.ldc = ldc;
}

/** Checks that a, b and c are Float32Arrays holding every element the call `s` touches. */
export function checkGemmArrays(a: unknown, b: unknown, c: unknown, s: GemmSpec): void {
  if (!(a instanceof Float32Array)) badArray("a", a);
  if (!(b instanceof Float32Array)) badArray("b", b);
  if (!(c instanceof Float32Array)) badArray("c", c);
  const m = s.m, n = s.n, k = s.k;
  if (m === 0 || n === 0) return;
  // Extents: one past the last element the call touches.
  const needC = (m - 1) * s.ldc + n;
  if (c.length < needC) badExtent("c", c, needC, s);
  if (k === 0 || s.alpha === 0) return;
  const needA = s.transA ? (k - 1) * s.lda + m : (m - 1) * s.lda + k;
  if (a.length < needA) badExtent("a", a, needA, s);
  const needB = s.transB ? (n - 1) * s.ldb + k : (k - 1) * s.ldb + n;
  if (b.length < needB) badExtent("b", b, needB, s);
}

/**
 * Checks the arguments of one gemm call and writes the resolved spec into
 * `out`. Throws before anything native runs.
 */
export function readGemmArgs(
  a: unknown,
  b: unknown,
  c: unknown,
  o: GemmOptions,
  out: GemmSpec,
): void {
  readGemmShape(o, out);
  checkGemmArrays(a, b, c, out);
}

/** A new spec object to read into. */
export function emptySpec(): GemmSpec {
  return {
    m: 0,
    n: 0,
    k: 0,
    transA: false,
    transB: false,
    lda: 0,
    ldb: 0,
    ldc: 0,
    alpha: 1,
    beta: 0,
  };
}

const f64 = new Float64Array(2);
const i32 = new Int32Array(f64.buffer);

/** A 32-bit hash of every field of the spec (alpha and beta by their bits). */
export function hashSpec(s: GemmSpec): number {
  f64[0] = s.alpha;
  f64[1] = s.beta;
  let h = Math.imul(s.m ^ 0x5bd1e995, 0x9e3779b1);
  h = Math.imul(h ^ s.n, 0x85ebca6b);
  h = Math.imul(h ^ s.k, 0xc2b2ae35);
  h = Math.imul(h ^ s.lda, 0x27d4eb2f);
  h = Math.imul(h ^ s.ldb, 0x165667b1);
  h = Math.imul(h ^ s.ldc, 0x9e3779b1);
  h = Math.imul(h ^ (s.transA ? 1 : 0) ^ (s.transB ? 2 : 0), 0x85ebca6b);
  h = Math.imul(h ^ i32[0] ^ i32[1], 0xc2b2ae35);
  h = Math.imul(h ^ i32[2] ^ i32[3], 0x27d4eb2f);
  return h ^ (h >>> 15);
}

/** Whether two specs are the same call shape (alpha/beta compared with Object.is, so NaN keys work). */
export function sameSpec(x: GemmSpec, y: GemmSpec): boolean {
  return x.m === y.m && x.n === y.n && x.k === y.k && x.lda === y.lda && x.ldb === y.ldb &&
    x.ldc === y.ldc && x.transA === y.transA && x.transB === y.transB &&
    Object.is(x.alpha, y.alpha) && Object.is(x.beta, y.beta);
}

/** The key as text, for stats and verbose lines. */
export function specKey(s: GemmSpec): string {
  const t = `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}`;
  const ld = `lda=${s.lda} ldb=${s.ldb} ldc=${s.ldc}`;
  return `gemm ${s.m}x${s.n}x${s.k} ${t} ${ld} alpha=${s.alpha} beta=${s.beta}`;
}
