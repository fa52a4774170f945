/**
 * Reading a `jit.matmulNBits` call: a holding m rows of k floats, the
 * packed weights their tiles' bytes and scales, the bias n floats, y m rows
 * of n. No allocation.
 *
 * @module
 */
import { viewLength } from "../../typed.ts";
import { dimension, fail } from "../checks.ts";
import type { NBitsSpec } from "./spec.ts";
import { tileBytes, tileScaleFloats, tilesOf } from "./spec.ts";

/** Names of the key slots after the family slot. */
export const NBITS_KEY_FIELDS = ["m", "k", "n", "block", "bias"] as const;

const W = "matmulNBits";

/** Most elements of k and n (a tile's bytes stay within 2^31). */
export const MAX_NBITS_DIMENSION = 2 ** 24;

/**
 * Checks a call — `weights` and `scales` the packed arrays as views, `k`,
 * `n`, `block` the packing's — and writes the key and the extents.
 */
export function readNBits(
  a: Float32Array,
  weights: Float32Array,
  scales: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
  m: unknown,
  k: number,
  n: number,
  block: number,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (!dimension(m) || m < 1) {
    fail(
      W,
      `m must be an integer in [1, 2^30], got ${String(m)}`,
      typeof m === "number" ? "range" : "type",
    );
  }
  // The packing's own fields, checked too (a handle is a plain object).
  if (!Number.isInteger(k) || k < 2 || k % 2 !== 0 || k > MAX_NBITS_DIMENSION) {
    fail(W, `the packing's k must be an even integer in [2, 2^24], got ${k}`, "range");
  }
  if (!Number.isInteger(n) || n < 1 || n > MAX_NBITS_DIMENSION) {
    fail(W, `the packing's n must be an integer in [1, 2^24], got ${n}`, "range");
  }
  if (!Number.isInteger(block) || block < 16 || block > 65536 || (block & (block - 1)) !== 0) {
    fail(W, `the packing's block must be a power of 2 in [16, 65536], got ${block}`, "range");
  }
  const tiles = tilesOf(n);
  if (viewLength(weights) * 4 !== tiles * tileBytes(k)) {
    fail(W, "the packed weights were changed: their length does not match k and n", "range");
  }
  if (viewLength(scales) !== tiles * tileScaleFloats(k, block)) {
    fail(W, "the packed scales were changed: their length does not match k and n", "range");
  }
  if (viewLength(a) < m * k) {
    fail(W, `a has ${viewLength(a)} elements, needs m·k = ${m * k}`, "range");
  }
  if (viewLength(y) < m * n) {
    fail(W, `y has ${viewLength(y)} elements, needs m·n = ${m * n}`, "range");
  }
  if (bias !== null && viewLength(bias) < n) {
    fail(W, `bias has ${viewLength(bias)} elements, needs n = ${n}`, "range");
  }
  key[1] = m;
  key[2] = k;
  key[3] = n;
  key[4] = block;
  key[5] = bias === null ? 0 : 1;
  extents[0] = 4 * m * k;
  extents[1] = tiles * tileBytes(k);
  extents[2] = 4 * viewLength(scales);
  extents[3] = bias === null ? 0 : 4 * n;
  extents[4] = 4 * m * n;
}

/** The spec a key describes. */
export function decodeNBitsKey(key: Int32Array): NBitsSpec {
  return {
    m: key[1],
    k: key[2],
    n: key[3],
    block: key[4],
    bias: key[5] === 1,
    tileStart: 0,
    tiles: tilesOf(key[3]),
  };
}
