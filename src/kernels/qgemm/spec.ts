/**
 * What one 8-bit GEMM call is: C (int32, m × n, row stride ldc) = A (uint8,
 * m × k, row stride lda bytes) · B (int8 k × n, packed: for each group of 4
 * rows of B, `bStride` columns of 4 bytes, zeros past k and n), exactly,
 * in int32 (wrapping as int32 does). The operands travel as Float32Array
 * views of their bytes (the runtime's operand kind): A as m·lda/4 floats,
 * packed B as ⌈k/4⌉·bStride, C as m·ldc.
 *
 * @module
 */
import { UNARY_OPS } from "../unary/ops.ts";

/** A decoded 8-bit GEMM key. */
export interface QGemmSpec {
  m: number;
  /** Columns of C this call computes. */
  n: number;
  k: number;
  /** Bytes between rows of A (a multiple of 4, at least k rounded up to 4). */
  lda: number;
  /** int32 elements between rows of C. */
  ldc: number;
  /** Packed B's columns per group of 4 rows (a multiple of 16, at least n). */
  bStride: number;
  /** An int32 per column added to every row (zero points' terms). */
  bias: boolean;
  /**
   * A's zero point read when the kernel runs (a byte): za times B's column
   * sums (int32, after packed B's bytes: `bStride` of them) taken from every
   * row, so C = Σ(a − za)·b.
   */
  aZero: boolean;
  /**
   * C as float32: each sum converted (nearest even) and multiplied by the
   * scale — 0: no (int32 C), 1: one scale, 2: one per column.
   */
  scale: 0 | 1 | 2;
  /** Float C only: a float32 per column added after the scale (a Linear layer's bias). */
  floatBias: boolean;
  /** Float C only: a unary op applied last, with the unary family's code (null: none). */
  activation: { op: number; params: number[] } | null;
  /** Packed B's values are within ±64 (see `PackedInt8B.narrow`). */
  narrowB: boolean;
}

/** Argument block slots. */
export const QGEMM_ARG = { A: 0, B: 1, BIAS: 2, SCALE: 3, AZERO: 4, FBIAS: 5, C: 6 } as const;

/** Groups of 4 rows of B (k rounded up to 4, over 4). */
export function kGroups(k: number): number {
  return Math.ceil(k / 4);
}

/** The spec as text. */
export function describeQGemm(s: QGemmSpec): string {
  return `gemmInt8 ${s.m}x${s.n}x${s.k} lda=${s.lda} ldc=${s.ldc} bStride=${s.bStride}${
    s.bias ? " +column bias" : ""
  }${s.aZero ? " −za·Σb" : ""}${
    s.scale === 1 ? " → float ×scale" : s.scale === 2 ? " → float ×column scales" : ""
  }${s.floatBias ? " +bias" : ""}${s.activation ? ` ${UNARY_OPS[s.activation.op].name}` : ""}${
    s.narrowB ? " B within ±64" : ""
  }`;
}
