/**
 * What one 4-bit weight product is: y [m, n] = a [m, k] × W [k, n] (+ bias),
 * W stored as ONNX Runtime's MatMulNBits stores it — 4-bit integers q in
 * blocks of `block` along k, each block with a float scale s and an integer
 * zero point z, w = (q − z)·s — repacked by {@link packNBits} into tiles of
 * 16 columns.
 *
 * @module
 */

/** Columns per tile of the packed weights (every level: the layout does not depend on it). */
export const TILE = 16;

/** A decoded 4-bit product key. */
export interface NBitsSpec {
  /** Rows of a and y. */
  m: number;
  /** Inner dimension (even). */
  k: number;
  /** Columns of y. */
  n: number;
  /** Weights per block along k (a power of 2, ≥ 16). */
  block: number;
  /** A bias per column is added. */
  bias: boolean;
  /** First tile this call (or part) computes, and how many. */
  tileStart: number;
  tiles: number;
}

/** Argument block slots: a, packed weights (bytes), scales and zero points, bias, then y. */
export const NBITS_ARG = { A: 0, W: 1, SZ: 2, BIAS: 3, Y: 4 } as const;

/** Tiles of n columns. */
export function tilesOf(n: number): number {
  return Math.ceil(n / TILE);
}

/** Blocks along k. */
export function blocksOf(k: number, block: number): number {
  return Math.ceil(k / block);
}

/** Bytes of a tile's weights: two 4-bit values (k, k + 1) per column and k pair. */
export function tileBytes(k: number): number {
  return (k / 2) * TILE;
}

/** Floats of a tile's scales and zero points: per block, 16 scales then 16 zero points. */
export function tileScaleFloats(k: number, block: number): number {
  return blocksOf(k, block) * 2 * TILE;
}

/** The spec as text. */
export function describeNBits(s: NBitsSpec): string {
  const all = tilesOf(s.n);
  return `matmulNBits ${s.m}x${s.n}x${s.k} 4-bit block=${s.block}${s.bias ? " +bias" : ""}${
    s.tiles === all ? "" : ` tiles [${s.tileStart}, +${s.tiles})`
  }`;
}
