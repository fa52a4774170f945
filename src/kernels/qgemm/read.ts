/**
 * Reading a `jit.gemmInt8` call: the shape, strides and lengths checked
 * against the operands (views of their bytes) and the packed B. No
 * allocation.
 *
 * @module
 */
import { viewLength } from "../../typed.ts";
import { badDimension, badOptions, dimension, fail } from "../checks.ts";
import type { PackedInt8B } from "./pack.ts";
import { type Activation, decodeActivation, readActivation } from "../unary/read.ts";
import { kGroups, type QGemmSpec } from "./spec.ts";

/** Options of `jit.gemmInt8`. */
export interface Int8GemmOptions {
  /** Rows of A and C. */
  m: number;
  /** Columns of B and C. */
  n: number;
  /** Columns of A, rows of B. */
  k: number;
  /** Bytes between rows of A: a multiple of 4, at least k rounded up to 4 (the default). */
  lda?: number;
  /** Elements between rows of C (default n). */
  ldc?: number;
  /** An int32 per column added to every row of C (n of them). */
  bias?: Int32Array;
  /**
   * With a Float32Array C: each int32 sum as a float times this scale (one
   * value, or one per column).
   */
  scale?: Float32Array;
  /**
   * A's zero point (its first byte), read when the call runs: C = Σ(a − za)·b
   * (+ bias), B's column sums taken za times. A Uint8Array starting at a
   * multiple of 4 bytes, its 4-byte word inside its buffer.
   */
  aZeroPoint?: Uint8Array;
  /**
   * With a Float32Array C: a float32 per column (n of them) added to each
   * scaled sum (a Linear layer's bias), rounded as an Add would.
   */
  floatBias?: Float32Array;
  /**
   * With a Float32Array C: a unary op applied to each element last (a name
   * or `{ op, ...params }`, as `jit.unary` takes it; the same code and bits).
   */
  activation?: Activation;
}

/** Names of the key slots after the family slot. */
export const QGEMM_KEY_FIELDS = [
  "m",
  "n",
  "k",
  "lda",
  "ldc",
  "bStride",
  "bias",
  "scale",
  "aZero",
  "floatBias",
  "activation",
  "activationP0",
  "activationP1",
  "narrowB",
] as const;

const W = "gemmInt8";

/**
 * Checks a call: `a` and `c` are the Float32Array views of A's and C's
 * bytes (`aBytes`: A's own length in bytes), `b` a packed B. Writes key
 * slots 1..6 and the extents.
 */
export function readQGemm(
  aBytes: number,
  b: PackedInt8B,
  c: Float32Array,
  bias: Float32Array | null,
  scale: Float32Array | null,
  aZero: boolean,
  floatBias: Float32Array | null,
  o: Int8GemmOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions(W, o, "m, n and k");
  const { m, n, k } = o;
  if (!dimension(m)) badDimension(W, "m", m);
  if (!dimension(n)) badDimension(W, "n", n);
  if (!dimension(k)) badDimension(W, "k", k);
  if (n !== b.n || k !== b.k) {
    fail(W, `b was packed as ${b.k}×${b.n}, the call needs k×n = ${k}×${n}`, "range");
  }
  const k4 = kGroups(k) * 4;
  const lda = o.lda ?? k4, ldc = o.ldc ?? n;
  if (!dimension(lda) || lda % 4 !== 0 || lda < k4) {
    fail(
      W,
      `lda must be a multiple of 4 of at least ${k4} (k rounded up to 4), got ${lda}`,
      "range",
    );
  }
  if (!dimension(ldc) || ldc < n) fail(W, `ldc must be an integer ≥ n = ${n}, got ${ldc}`, "range");
  const needA = m > 0 ? (m - 1) * lda + k4 : 0, needC = m > 0 && n > 0 ? (m - 1) * ldc + n : 0;
  if (aBytes < needA) {
    fail(
      W,
      `a has ${aBytes} bytes but m=${m} rows of lda=${lda} (the last ${k4}) need ${needA}`,
      "range",
    );
  }
  const lc = viewLength(c);
  if (lc < needC) fail(W, `c has ${lc} elements but m×n with ldc=${ldc} needs ${needC}`, "range");
  key[1] = m;
  key[2] = n;
  key[3] = k;
  key[4] = lda;
  key[5] = ldc;
  if (bias !== null && viewLength(bias) < n) {
    fail(W, `bias has ${viewLength(bias)} elements, n = ${n} needed`, "range");
  }
  let mode = 0;
  if (scale !== null) {
    const ls = viewLength(scale);
    if (ls !== 1 && ls !== n) {
      fail(W, `scale has ${ls} elements: 1, or one per column (n = ${n})`, "range");
    }
    mode = ls === 1 && n !== 1 ? 1 : 2;
    if (n === 1) mode = 1;
  }
  key[6] = b.stride;
  key[7] = bias !== null ? 1 : 0;
  key[8] = mode;
  key[9] = aZero ? 1 : 0;
  if (floatBias !== null && viewLength(floatBias) < n) {
    fail(W, `floatBias has ${viewLength(floatBias)} elements, n = ${n} needed`, "range");
  }
  key[10] = floatBias !== null ? 1 : 0;
  readActivation(W, o.activation, key, 11);
  key[14] = b.narrow === true ? 1 : 0;
  extents[0] = needA;
  extents[1] = kGroups(k) * b.stride * 4 + (aZero ? 4 * n : 0);
  extents[2] = bias !== null ? 4 * n : 0;
  extents[3] = mode === 0 ? 0 : mode === 1 ? 4 : 4 * n;
  extents[4] = aZero ? 1 : 0;
  extents[5] = floatBias !== null ? 4 * n : 0;
  extents[6] = 4 * needC;
}

/** The spec a key describes. */
export function decodeQGemmKey(key: Int32Array): QGemmSpec {
  return {
    m: key[1],
    n: key[2],
    k: key[3],
    lda: key[4],
    ldc: key[5],
    bStride: key[6],
    bias: key[7] === 1,
    scale: key[8] as 0 | 1 | 2,
    aZero: key[9] === 1,
    floatBias: key[10] === 1,
    activation: decodeActivation(key, 11),
    narrowB: key[14] === 1,
  };
}
