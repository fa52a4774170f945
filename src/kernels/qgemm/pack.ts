/**
 * Packing B (int8, k × n row-major) for the 8-bit GEMM: for each group of
 * 4 rows, every column's 4 bytes together (the operand `vpdpbusd` takes),
 * columns padded to a multiple of 16 and rows to a multiple of 4 with
 * zeros; and B's column sums (for zero-point corrections).
 *
 * @module
 */
import { kGroups } from "./spec.ts";

/** B packed once for `jit.gemmInt8`: its bytes, shape and column sums. */
export interface PackedInt8B {
  /** The packed bytes and the column sums, as the Float32Array view the kernel's operand is. */
  readonly view: Float32Array;
  /** Rows of B (the GEMM's k). */
  readonly k: number;
  /** Columns of B (the GEMM's n). */
  readonly n: number;
  /** Packed columns per group of 4 rows (n rounded up to 16). */
  readonly stride: number;
  /** Σ over k of each column (int32; in the packing's buffer, after the bytes). */
  readonly columnSums: Int32Array;
  /**
   * Every value within ±64 (7-bit weights, ONNX Runtime's `reduce_range`):
   * a pair of u8·s8 products then fits int16, and the AVX2 kernel takes the
   * bytes as they are (`vpmaddubsw`) instead of widening them.
   */
  readonly narrow: boolean;
}

/**
 * Packs B (k × n, row stride ldb) and sums its columns: the sums (int32,
 * `stride` of them) follow the packed bytes in the same buffer, so a kernel
 * (or a part of one, its columns offset alike) finds them from B's address.
 */
export function packInt8B(b: Int8Array, k: number, n: number, ldb: number): PackedInt8B {
  const stride = Math.ceil(n / 16) * 16, groups = kGroups(k);
  const packedBytes = groups * stride * 4;
  const bytes = new Int8Array(packedBytes + stride * 4);
  const sums = new Int32Array(bytes.buffer, packedBytes, n);
  let narrow = true;
  for (let r = 0; r < k; r++) {
    const g = r >> 2, lane = r & 3;
    for (let c = 0; c < n; c++) {
      const v = b[r * ldb + c];
      bytes[(g * stride + c) * 4 + lane] = v;
      sums[c] += v;
      if (v < -64 || v > 64) narrow = false;
    }
  }
  return {
    view: new Float32Array(bytes.buffer, 0, bytes.length / 4),
    k,
    n,
    stride,
    columnSums: sums,
    narrow,
  };
}
