/**
 * MatMulNBits weights (4 bits) repacked for the kernel: tiles of 16
 * columns; in a tile, per pair of rows (k, k + 1), one byte per column
 * holding q[k] in its low nibble and q[k + 1] in its high one — so one
 * 16-byte load gives the 16 columns' two weights, zero-extended to 16 lanes
 * by one instruction; per tile and block, the 16 scales then the 16 zero
 * points as floats. Columns past n are zero (q, s and z: their w is 0).
 *
 * @module
 */
import { describe, isFloat32Array, typedArrayTag, viewLength } from "../../typed.ts";
import { fail } from "../checks.ts";
import { MAX_NBITS_DIMENSION } from "./read.ts";
import { blocksOf, TILE, tileBytes, tileScaleFloats, tilesOf } from "./spec.ts";

/** 4-bit weights packed by {@link packNBits}. */
export interface PackedNBits {
  /** Rows of W (the product's inner dimension). */
  readonly k: number;
  /** Columns of W. */
  readonly n: number;
  /** Weights per block along k. */
  readonly block: number;
  /** The tiles' weight bytes. */
  readonly weights: Uint8Array;
  /** The tiles' scales and zero points. */
  readonly scales: Float32Array;
}

/** W as MatMulNBits gives it (bits 4). */
export interface NBitsWeights {
  /** Rows of W (MatMulNBits' K; even). */
  k: number;
  /** Columns of W (MatMulNBits' N). */
  n: number;
  /** Weights per block along k (block_size: a power of 2, ≥ 16). */
  block: number;
  /** [n, blocks, block / 2] bytes: q[k] of a column in byte k/2, low nibble first. */
  q: Uint8Array;
  /** [n, blocks] scales. */
  scales: Float32Array;
  /**
   * Zero points: [n, ⌈blocks / 2⌉] bytes, two per byte (low nibble first),
   * or [n, blocks] floats; absent: 8.
   */
  zeroPoints?: Uint8Array | Float32Array;
}

const W = "packNBits";

/**
 * Repacks W for `jit.matmulNBits`: k even, block a power of 2 in [16, 65536],
 * q, scales and zero points of the sizes MatMulNBits gives them (TypeError or
 * RangeError naming the field otherwise).
 */
export function packNBits(w: NBitsWeights): PackedNBits {
  if (w === null || typeof w !== "object") {
    fail(W, `weights must be an object with k, n, block, q and scales, got ${describe(w)}`, "type");
  }
  const { k, n, block, q, scales } = w;
  if (!Number.isInteger(k) || k < 2 || k % 2 !== 0 || k > MAX_NBITS_DIMENSION) {
    fail(W, `k must be an even integer in [2, 2^24], got ${String(k)}`, "range");
  }
  if (!Number.isInteger(n) || n < 1 || n > MAX_NBITS_DIMENSION) {
    fail(W, `n must be an integer in [1, 2^24], got ${String(n)}`, "range");
  }
  if (!Number.isInteger(block) || block < 16 || block > 65536 || (block & (block - 1)) !== 0) {
    fail(W, `block must be a power of 2 in [16, 65536], got ${String(block)}`, "range");
  }
  const blocks = blocksOf(k, block), blob = block / 2, tiles = tilesOf(n);
  if (typedArrayTag(q) !== "Uint8Array" || viewLength(q) !== n * blocks * blob) {
    fail(
      W,
      `q must be a Uint8Array of n·blocks·block/2 = ${n * blocks * blob} bytes, got ${describe(q)}`,
      "range",
    );
  }
  if (!isFloat32Array(scales) || viewLength(scales) !== n * blocks) {
    fail(
      W,
      `scales must be a Float32Array of n·blocks = ${n * blocks}, got ${describe(scales)}`,
      "range",
    );
  }
  const zp = w.zeroPoints;
  if (zp !== undefined) {
    const bytes = typedArrayTag(zp) === "Uint8Array" &&
      viewLength(zp) === n * Math.ceil(blocks / 2);
    const floats = isFloat32Array(zp) && viewLength(zp) === n * blocks;
    if (!bytes && !floats) {
      fail(
        W,
        `zeroPoints must be ${n * Math.ceil(blocks / 2)} bytes or ${n * blocks} floats, got ${
          describe(zp)
        }`,
        "range",
      );
    }
  }
  const weights = new Uint8Array(tiles * tileBytes(k));
  const sz = new Float32Array(tiles * tileScaleFloats(k, block));
  const perCol = Math.ceil(blocks / 2);
  const zeroOf = (col: number, b: number): number => {
    const z = w.zeroPoints;
    if (!z) return 8;
    if (isFloat32Array(z)) return z[col * blocks + b];
    return (z[col * perCol + (b >> 1)] >> ((b & 1) * 4)) & 15;
  };
  const nibble = (col: number, kk: number): number => {
    const b = Math.floor(kk / block), j = kk - b * block;
    return (q[(col * blocks + b) * blob + (j >> 1)] >> ((j & 1) * 4)) & 15;
  };
  for (let col = 0; col < n; col++) {
    const t = Math.floor(col / TILE), c = col - t * TILE;
    const wt = t * tileBytes(k), st = t * tileScaleFloats(k, block);
    for (let p = 0; p < k / 2; p++) {
      weights[wt + p * TILE + c] = nibble(col, 2 * p) | (nibble(col, 2 * p + 1) << 4);
    }
    for (let b = 0; b < blocks; b++) {
      sz[st + b * 2 * TILE + c] = scales[col * blocks + b];
      sz[st + b * 2 * TILE + TILE + c] = zeroOf(col, b);
    }
  }
  return { k, n, block, weights, scales: sz };
}
