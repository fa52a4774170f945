/**
 * 4-bit weight products (ONNX Runtime's MatMulNBits at 4 bits) as an op
 * family: y = a × W (+ bias), W read at 4 bits a weight from the tiles
 * {@link packNBits} makes. Threads split the tiles.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { generateNBits, type NBitsPlan, planNBits } from "./generate.ts";
import { decodeNBitsKey, NBITS_KEY_FIELDS } from "./read.ts";
import {
  blocksOf,
  describeNBits,
  type NBitsSpec,
  TILE,
  tileBytes,
  tileScaleFloats,
} from "./spec.ts";

/** y = a × W (+ bias); operands a, weights (bytes as floats), scales, bias, y. */
export const NBITS: OpFamily<NBitsSpec, NBitsPlan> = {
  name: "matmulNBits",
  keyFields: NBITS_KEY_FIELDS,
  operands: ["a", "weights", "scales", "bias", "y"],
  outputs: 1,
  decode: decodeNBitsKey,
  describe: describeNBits,
  cost: (s) => ({ flops: 2 * s.m * s.k * s.n, bytes: s.k * s.n / 2 + 4 * s.m * (s.k + s.n) }),
  plan: (s, t) => planNBits(s, t.isa),
  fallbackPlan: (s) => planNBits(s, "scalar"),
  generate: generateNBits,
  // Tiles to parts: each column computed by the same instructions whatever the split.
  partition: (s, p, parts) => {
    const ranges = splitRange(s.tiles, parts, p.group);
    if (ranges.length < 2) return null;
    return ranges.map((r): Part<NBitsSpec, NBitsPlan> => {
      const tile = s.tileStart + r.start;
      return {
        spec: { ...s, tileStart: tile, tiles: r.count },
        plan: p,
        offsets: [
          0,
          r.start * tileBytes(s.k),
          4 * r.start * tileScaleFloats(s.k, s.block),
          4 * TILE * r.start,
          4 * TILE * r.start,
        ],
      };
    });
  },
  reference: (s, [a, w, sz, bias, y]) => nbitsReference(s, a, w, sz, s.bias ? bias : null, y),
};

const f = Math.fround;

/**
 * The TypeScript computation (where no machine code runs): per column the
 * even-k and odd-k sums of a[k]·w[k], w = (q − z)·s in float32, each product
 * and sum rounded to float32 (the scalar kernel's order), then their sum and
 * the bias.
 */
export function nbitsReference(
  s: NBitsSpec,
  a: Float32Array,
  weights: Float32Array,
  sz: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
): void {
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  const tb = tileBytes(s.k), tsf = tileScaleFloats(s.k, s.block), blocks = blocksOf(s.k, s.block);
  const columns = Math.min(s.tiles * TILE, s.n - s.tileStart * TILE);
  for (let i = 0; i < s.m; i++) {
    for (let c = 0; c < columns; c++) {
      const tile = Math.floor(c / TILE), lane = c % TILE;
      let even = 0, odd = 0;
      for (let b = 0; b < blocks; b++) {
        const sc = sz[tile * tsf + b * 2 * TILE + lane],
          z = sz[tile * tsf + b * 2 * TILE + TILE + lane];
        const end = Math.min(s.k, (b + 1) * s.block);
        for (let k = b * s.block; k < end; k += 2) {
          const q = bytes[tile * tb + (k / 2) * TILE + lane];
          const we = f(f((q & 15) - z) * sc), wo = f(f((q >> 4) - z) * sc);
          even = f(even + f(a[i * s.k + k] * we));
          odd = f(odd + f(a[i * s.k + k + 1] * wo));
        }
      }
      y[i * s.n + c] = f(f(even + odd) + (bias ? bias[c] : 0));
    }
  }
}
