/**
 * Reading a `jit.gemm` call: options and operand lengths are checked before
 * any native code runs (lengths through the intrinsic getters), bad input
 * throws a TypeError or RangeError naming the argument, the value and what
 * was expected, and the call's key is written into the runtime's scratch
 * key. No allocation.
 *
 * @module
 */
import { describe, holds, isFloat32Array, viewLength } from "../../typed.ts";
import { type Activation, decodeActivation, readActivation } from "../unary/read.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { aExtent, bExtent, cExtent, type GemmSpec, panelsExtent, storedExtent } from "./spec.ts";

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
  /** Scale of the product, used as an f32 (sgemm). Default 1. */
  alpha?: number;
  /** Scale of C's previous value, used as an f32. Default 0 (C is overwritten, whatever it held). */
  beta?: number;
  /** Row stride of A as stored; default its row length (dense). */
  lda?: number;
  /** Row stride of B as stored; default its row length. */
  ldb?: number;
  /** Row stride of C; default n. */
  ldc?: number;
  /** Added to every row of C (n elements): C = alpha·AB + beta·C + bias. */
  bias?: Float32Array;
  /**
   * Applied to every element of C last: a unary op's name (`"gelu"`) or an
   * object with its parameters (`{ op: "clip", min: 0, max: 6 }`).
   */
  activation?: Activation;
  /**
   * Matrices (default 1): the product `batch` times, A, B and C advanced
   * by `strideA`, `strideB` and `strideC` elements each time (the same bias
   * and activation for all). Threads split a batch by matrices.
   */
  batch?: number;
  /** Elements between consecutive A matrices (default 0: one A for all). */
  strideA?: number;
  /** Elements between consecutive B matrices (default 0: one B for all). */
  strideB?: number;
  /** Elements between consecutive C matrices (at least one C's extent). */
  strideC?: number;
}

/** Largest m, n, k or leading dimension the kernels take. */
export const MAX_DIMENSION = 1 << 20;

/** Names of the GEMM key slots after the family slot, in order. */
export const GEMM_KEY_FIELDS = [
  "m",
  "n",
  "k",
  "transA",
  "transB",
  "lda",
  "ldb",
  "ldc",
  "alpha",
  "beta",
  "bias",
  "activation",
  "activationP0",
  "activationP1",
  "bPeel",
  "batch",
  "strideA",
  "strideB",
  "strideC",
  "bPanel",
] as const;

// Cold paths: each throws the error that names the argument, the value and what was expected.

function badDimension(name: string, v: unknown): never {
  if (typeof v === "number" && Number.isInteger(v) && v > MAX_DIMENSION) {
    throw new RangeError(`gemm: ${name} = ${v} exceeds the supported maximum of ${MAX_DIMENSION}`);
  }
  if (typeof v !== "number") {
    throw new TypeError(`gemm: ${name} must be a non-negative integer, got ${describe(v)}`);
  }
  throw new RangeError(`gemm: ${name} must be a non-negative integer, got ${v}`);
}

function badLeading(name: string, v: unknown, min: number, what: string): never {
  if (typeof v !== "number" || v >>> 0 !== v || v > MAX_DIMENSION) badDimension(name, v);
  throw new RangeError(`gemm: ${name} must be at least ${min} (${what}), got ${v}`);
}

function badFlag(name: string, v: unknown): never {
  throw new TypeError(`gemm: ${name} must be a boolean, got ${describe(v)}`);
}

function badScalar(name: string, v: unknown): never {
  throw new TypeError(`gemm: ${name} must be a number, got ${describe(v)}`);
}

function badPacked(k: number, n: number, p: { k: number; n: number }): never {
  throw new RangeError(`gemm: b is packed for k=${p.k}, n=${p.n}; the call has k=${k}, n=${n}`);
}

function badOptions(o: unknown): never {
  throw new TypeError(`gemm: options must be an object with m, n and k, got ${describe(o)}`);
}

function badExtent(name: string, length: number, need: number, s: GemmSpec): never {
  const what = name === "c"
    ? `m=${s.m} rows of n=${s.n} at ldc=${s.ldc}`
    : name === "a"
    ? (s.transA
      ? `k=${s.k} rows of m=${s.m} at lda=${s.lda}`
      : `m=${s.m} rows of k=${s.k} at lda=${s.lda}`)
    : (s.transB
      ? `n=${s.n} rows of k=${s.k} at ldb=${s.ldb}`
      : `k=${s.k} rows of n=${s.n} at ldb=${s.ldb}`);
  throw new RangeError(`gemm: ${name} has ${length} elements but ${what} needs at least ${need}`);
}

/** Whether `v` is an integer in [0, MAX_DIMENSION] (one test for type, sign, fraction and size). */
function dimension(v: unknown): v is number {
  // typeof first: `>>>` on a BigInt would throw its own TypeError.
  return typeof v === "number" && v >>> 0 === v && v <= MAX_DIMENSION;
}

/**
 * Checks the options of a gemm call and writes the resolved shape into
 * `out` (alpha and beta rounded to f32, as sgemm takes them).
 */
export function readGemmShape(o: GemmOptions, out: GemmSpec): void {
  if (o === null || typeof o !== "object") badOptions(o);
  const m = o.m, n = o.n, k = o.k;
  if (!dimension(m)) badDimension("m", m);
  if (!dimension(n)) badDimension("n", n);
  if (!dimension(k)) badDimension("k", k);
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
  else if (!dimension(lda) || lda < aRow) {
    badLeading(
      "lda",
      lda,
      aRow,
      transA ? "A is stored k×m: its rows hold m" : "the rows of A hold k",
    );
  }
  if (ldb === undefined) ldb = bRow;
  else if (!dimension(ldb) || ldb < bRow) {
    badLeading(
      "ldb",
      ldb,
      bRow,
      transB ? "B is stored n×k: its rows hold k" : "the rows of B hold n",
    );
  }
  if (ldc === undefined) ldc = n;
  else if (!dimension(ldc) || ldc < n) badLeading("ldc", ldc, n, "the rows of C hold n");
  out.m = m;
  out.n = n;
  out.k = k;
  out.transA = transA;
  out.transB = transB;
  out.alpha = Math.fround(alpha);
  out.beta = Math.fround(beta);
  out.lda = lda;
  out.ldb = ldb;
  out.ldc = ldc;
  readActivation("gemm", o.activation, ACT_KEY, 0);
  const activation = decodeActivation(ACT_KEY, 0);
  out.epilogue = o.bias !== undefined || activation
    ? { bias: o.bias !== undefined, activation }
    : undefined;
}

const ACT_KEY = new Int32Array(3);

/** Checks a bias operand: a Float32Array of exactly n elements. */
function checkBias(bias: unknown, n: number): void {
  if (!isFloat32Array(bias)) {
    throw new TypeError(`gemm: bias must be a Float32Array of n elements, got ${describe(bias)}`);
  }
  const len = viewLength(bias);
  if (len !== n) throw new RangeError(`gemm: bias has ${len} elements but n is ${n}`);
}

/**
 * Checks that a, b and c hold every element the call `s` touches (a, b and
 * c are known to be Float32Arrays) and writes the bytes each touches.
 */
export function checkGemmLengths(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  s: GemmSpec,
  extents: Float64Array,
): void {
  const needA = aExtent(s), needB = bExtent(s), needC = cExtent(s);
  const la = viewLength(a), lb = viewLength(b), lc = viewLength(c);
  if (lc < needC) badExtent("c", lc, needC, s);
  if (la < needA) badExtent("a", la, needA, s);
  if (lb < needB) badExtent("b", lb, needB, s);
  extents[0] = 4 * needA;
  extents[1] = 4 * needB;
  extents[3] = 4 * needC;
}

/** f32 bits of 1: the common alpha skips the conversion. */
const ONE_BITS = 0x3f800000;

/** The spec a key describes. */
export function decodeGemmKey(key: Int32Array): GemmSpec {
  return {
    m: key[1],
    n: key[2],
    k: key[3],
    transA: key[4] === 1,
    transB: key[5] === 1,
    lda: key[6],
    ldb: key[7],
    ldc: key[8],
    alpha: fromF32Bits(key[9]),
    beta: fromF32Bits(key[10]),
    epilogue: key[11] === 1 || key[12] !== 0
      ? { bias: key[11] === 1, activation: decodeActivation(key, 12) }
      : undefined,
    bPeel: key[15],
    ...(key[20] > 0 ? { bPanel: key[20] } : {}),
    ...(key[16] > 1
      ? { batch: key[16], strideA: key[17], strideB: key[18], strideC: key[19] }
      : {}),
  };
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

/** The key as text, for stats and verbose lines. */
export function describeGemm(s: GemmSpec): string {
  const t = `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}`;
  const ld = `lda=${s.lda} ldb=${s.ldb} ldc=${s.ldc}`;
  const e = s.epilogue;
  const epilogue = (e?.bias ? " +bias" : "") +
    (e?.activation ? ` ${activationText(e.activation)}` : "");
  const peel = (s.bPeel ? ` bpeel=${s.bPeel}` : "") + (s.bPanel ? ` bpanels=${s.bPanel}` : "");
  const batch = (s.batch ?? 1) > 1
    ? ` ×${s.batch} (strides ${s.strideA ?? 0},${s.strideB ?? 0},${s.strideC ?? 0})`
    : "";
  return `gemm ${s.m}x${s.n}x${s.k} ${t} ${ld} alpha=${s.alpha} beta=${s.beta}${epilogue}${peel}${batch}`;
}

/** An activation as text: its name and parameters. */
export function activationText(act: { op: number; params: number[] }): string {
  const def = UNARY_OPS[act.op];
  const p = def.params.map((name, i) => `${name}=${act.params[i]}`).join(",");
  return p ? `${def.name}(${p})` : def.name;
}

const scratch: GemmSpec = emptySpec();

/**
 * Reads one gemm call: validates the options and the lengths of a, b and c
 * (known to be Float32Arrays), writes the key into slots 1.. of `key` and
 * the bytes each operand touches into `extents`. Throws before anything
 * native runs. One pass over locals: this runs on every call.
 */
export function readGemm(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  o: GemmOptions,
  key: Int32Array,
  extents: Float64Array,
  operands: (Float32Array | undefined)[],
  packed: { k: number; n: number; ld: number; panel: number; transposed: boolean } | null = null,
  bLineOffset = 0,
): void {
  if (o === null || typeof o !== "object") badOptions(o);
  const m = o.m, n = o.n, k = o.k;
  if (typeof m !== "number" || m >>> 0 !== m || m > MAX_DIMENSION) badDimension("m", m);
  if (typeof n !== "number" || n >>> 0 !== n || n > MAX_DIMENSION) badDimension("n", n);
  if (typeof k !== "number" || k >>> 0 !== k || k > MAX_DIMENSION) badDimension("k", k);
  let transB = o.transB;
  const transA = o.transA;
  let ldb = o.ldb;
  if (packed !== null) {
    if (k !== packed.k || n !== packed.n) badPacked(k, n, packed);
    if (transB === true || ldb !== undefined) {
      throw new TypeError("gemm: b is packed (op(B), k×n): transB and ldb do not apply");
    }
    // Columns: op(B) stored as Bᵀ, n rows of k.
    transB = packed.transposed;
    ldb = packed.ld;
  }
  if (transA !== undefined && transA !== true && transA !== false) badFlag("transA", transA);
  if (transB !== undefined && transB !== true && transB !== false) badFlag("transB", transB);
  let alpha = o.alpha, beta = o.beta;
  if (alpha === undefined) alpha = 1;
  else if (typeof alpha !== "number") badScalar("alpha", alpha);
  else alpha = Math.fround(alpha);
  if (beta === undefined) beta = 0;
  else if (typeof beta !== "number") badScalar("beta", beta);
  else beta = Math.fround(beta);
  // A is stored aRows×aCols, B bRows×bCols.
  const aRows = transA ? k : m, aCols = transA ? m : k;
  const bRows = transB ? n : k, bCols = transB ? k : n;
  let lda = o.lda, ldc = o.ldc;
  if (lda === undefined) lda = aCols;
  else if (typeof lda !== "number" || lda >>> 0 !== lda || lda > MAX_DIMENSION || lda < aCols) {
    readGemmShape(o, scratch); // throws the message that names lda
  }
  if (ldb === undefined) ldb = bCols;
  else if (
    packed === null &&
    (typeof ldb !== "number" || ldb >>> 0 !== ldb || ldb > MAX_DIMENSION || ldb < bCols)
  ) {
    readGemmShape(o, scratch);
  }
  if (ldc === undefined) ldc = n;
  else if (typeof ldc !== "number" || ldc >>> 0 !== ldc || ldc > MAX_DIMENSION || ldc < n) {
    readGemmShape(o, scratch);
  }
  const reads = alpha !== 0 && m !== 0 && n !== 0;
  let needA = reads ? storedExtent(aRows, aCols, lda) : 0;
  const panel = packed !== null ? packed.panel : 0;
  let needB = !reads ? 0 : panel ? panelsExtent(k, n) : storedExtent(bRows, bCols, ldb);
  let needC = storedExtent(m, n, ldc);
  const batch = o.batch;
  let strideA = 0, strideB = 0, strideC = 0, count = 1;
  if (batch !== undefined && batch !== 1) {
    if (typeof batch !== "number" || batch >>> 0 !== batch || batch < 1 || batch > MAX_DIMENSION) {
      badBatch("batch", batch, `an integer in [1, ${MAX_DIMENSION}]`);
    }
    count = batch;
    strideA = stride("strideA", o.strideA, 0);
    strideB = stride("strideB", o.strideB, 0);
    strideC = stride("strideC", o.strideC, needC);
    // The matrices of C may not share an element: one after another, or side by side within
    // C's rows (a model's heads interleaved in a row: stride ≥ n, all within ldc).
    if (strideC < needC && !(strideC >= n && (count - 1) * strideC + n <= ldc)) {
      badBatch(
        "strideC",
        strideC,
        `at least one C's ${needC} elements, or at least n = ${n} with the matrices side by side within ldc = ${ldc}`,
      );
    }
    if (needA) needA += (count - 1) * strideA;
    if (needB) needB += (count - 1) * strideB;
    if (needC) needC += (count - 1) * strideC;
  }
  if (!holds(c, needC) || !holds(a, needA) || !holds(b, needB)) {
    if (count > 1) {
      for (const [name, x, need] of [["c", c, needC], ["a", a, needA], ["b", b, needB]] as const) {
        if (!holds(x, need)) {
          throw new RangeError(
            `gemm: ${name} has ${
              viewLength(x)
            } elements but ${count} matrices at stride${name.toUpperCase()} need at least ${need}`,
          );
        }
      }
    }
    readGemmShape(o, scratch);
    if (panel) scratch.bPanel = panel;
    else delete scratch.bPanel;
    checkGemmLengths(a, b, c, scratch, extents); // throws the message that names the operand
  }
  // Each option is read once: a getter cannot hand validation one array and the kernel another.
  const bias = o.bias, activation = o.activation;
  if (bias !== undefined) checkBias(bias, n);
  if (activation === undefined) key[12] = key[13] = key[14] = 0;
  else readActivation("gemm", activation, key, 12);
  extents[0] = 4 * needA;
  extents[1] = 4 * needB;
  extents[2] = bias !== undefined ? 4 * n : 0;
  extents[3] = 4 * needC;
  operands[0] = bias;
  key[11] = bias !== undefined ? 1 : 0;
  key[1] = m;
  key[2] = n;
  key[3] = k;
  key[4] = transA ? 1 : 0;
  key[5] = transB ? 1 : 0;
  key[6] = lda;
  key[7] = ldb;
  key[8] = ldc;
  // The common scalars skip the bit conversion (-0 and +0 share a key: the same kernel).
  key[9] = alpha === 1 ? ONE_BITS : f32Bits(alpha);
  key[10] = beta === 0 ? 0 : f32Bits(beta);
  // Untransposed B whose rows all start at the same place in a 64-byte line (in every matrix).
  key[15] = !transB && !panel && (ldb & 15) === 0 && (strideB & 15) === 0 && n > 16
    ? ((64 - bLineOffset) & 63) >> 2
    : 0;
  key[16] = count;
  key[17] = strideA;
  key[18] = strideB;
  key[19] = strideC;
  key[20] = panel;
}

/** A stride option: an integer in [0, 2^31), `fallback` when absent. */
function stride(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= 2 ** 31) {
    badBatch(name, v, "an integer in [0, 2^31)");
  }
  return v;
}

function badBatch(name: string, v: unknown, what: string): never {
  throw new RangeError(`gemm: ${name} must be ${what}, got ${describe(v)}`);
}
