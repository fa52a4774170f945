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
  ldb?: number;
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

function dimension(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new RangeError(
      `gemm: ${name} must be a non-negative integer, got ${
        typeof v === "number" ? v : describe(v)
      }`,
    );
  }
  if (v > MAX_DIMENSION) {
    throw new RangeError(`gemm: ${name} = ${v} exceeds the supported maximum of ${MAX_DIMENSION}`);
  }
  return v;
}

function leading(name: string, v: unknown, fallback: number, min: number, what: string): number {
  if (v === undefined) return fallback;
  const ld = dimension(name, v);
  if (ld < min) {
    throw new RangeError(`gemm: ${name} must be at least ${min} (${what}), got ${ld}`);
  }
  return ld;
}

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") {
    throw new TypeError(`gemm: ${name} must be a boolean, got ${describe(v)}`);
  }
  return v;
}

function scalar(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number") {
    throw new TypeError(`gemm: ${name} must be a number, got ${describe(v)}`);
  }
  return v;
}

function extent(name: string, arr: Float32Array, need: number, what: string): void {
  if (arr.length < need) {
    throw new RangeError(
      `gemm: ${name} has ${arr.length} elements but ${what} needs at least ${need}`,
    );
  }
}

/** Checks the options of a gemm call and writes the resolved shape into `out`. */
export function readGemmShape(o: GemmOptions, out: GemmSpec): void {
  if (o === null || typeof o !== "object") {
    throw new TypeError(`gemm: options must be an object with m, n and k, got ${describe(o)}`);
  }
  const m = dimension("m", o.m), n = dimension("n", o.n), k = dimension("k", o.k);
  const transA = flag("transA", o.transA), transB = flag("transB", o.transB);
  const alpha = scalar("alpha", o.alpha, 1), beta = scalar("beta", o.beta, 0);
  const aRow = transA ? m : k, bRow = transB ? k : n;
  out.lda = leading(
    "lda",
    o.lda,
    aRow,
    aRow,
    transA ? "A is stored k×m: its rows hold m" : "the rows of A hold k",
  );
  out.ldb = leading(
    "ldb",
    o.ldb,
    bRow,
    bRow,
    transB ? "B is stored n×k: its rows hold k" : "the rows of B hold n",
  );
  out.ldc = leading("ldc", o.ldc, n, n, "the rows of C hold n");
  out.m = m;
  out.n = n;
  out.k = k;
  out.transA = transA;
  out.transB = transB;
  out.alpha = alpha;
  out.beta = beta;
}

/** Checks that a, b and c are Float32Arrays holding every element the call `s` touches. */
export function checkGemmArrays(a: unknown, b: unknown, c: unknown, s: GemmSpec): void {
  if (!(a instanceof Float32Array)) {
    throw new TypeError(`gemm: a must be a Float32Array, got ${describe(a)}`);
  }
  if (!(b instanceof Float32Array)) {
    throw new TypeError(`gemm: b must be a Float32Array, got ${describe(b)}`);
  }
  if (!(c instanceof Float32Array)) {
    throw new TypeError(`gemm: c must be a Float32Array, got ${describe(c)}`);
  }
  const { m, n, k, lda, ldb, ldc, transA, transB } = s;
  // Extents: one past the last element the call touches.
  if (m > 0 && n > 0) extent("c", c, (m - 1) * ldc + n, `m=${m} rows of n=${n} at ldc=${ldc}`);
  if (m > 0 && n > 0 && k > 0 && s.alpha !== 0) {
    extent(
      "a",
      a,
      transA ? (k - 1) * lda + m : (m - 1) * lda + k,
      transA ? `k=${k} rows of m=${m} at lda=${lda}` : `m=${m} rows of k=${k} at lda=${lda}`,
    );
    extent(
      "b",
      b,
      transB ? (n - 1) * ldb + k : (k - 1) * ldb + n,
      transB ? `n=${n} rows of k=${k} at ldb=${ldb}` : `k=${k} rows of n=${n} at ldb=${ldb}`,
    );
  }
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
