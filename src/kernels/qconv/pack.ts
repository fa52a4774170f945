/**
 * Packing the weights (int8, ONNX's [oc][c][kh][kw]) of the 8-bit
 * convolution: per output channel, per group of 4 input channels, per tap,
 * the 4 channels' bytes together (the dword a `vpdpbusd` broadcast reads;
 * zeros past c), then each channel's sum of weights (int32), which the
 * kernel takes za times from its sums.
 *
 * @module
 */
import { channelGroups } from "./spec.ts";

/** Weights packed once for `jit.convInt8`. */
export interface PackedConvInt8 {
  /** The packed bytes and the sums, as the Float32Array view the kernel's operand is. */
  readonly view: Float32Array;
  /** Output channels. */
  readonly oc: number;
  /** Input channels. */
  readonly c: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Σ of each output channel's weights (in the packing's buffer, after the bytes). */
  readonly sums: Int32Array;
  /**
   * Every weight within ±64 (7-bit, a quantizer's `reduce_range`): a pair of
   * u8·s8 products fits int16, and the AVX2 kernel takes the bytes as they
   * are (`vpmaddubsw`) instead of widening them.
   */
  readonly narrow: boolean;
}

/** Bytes of the packed weights before the sums. */
export function packedWeightBytes(oc: number, c: number, kh: number, kw: number): number {
  return oc * channelGroups(c) * kh * kw * 4;
}

/** Packs w (oc × c × kh × kw, int8) and sums each output channel's weights. */
export function packConvInt8(
  w: Int8Array,
  oc: number,
  c: number,
  kh: number,
  kw: number,
): PackedConvInt8 {
  const taps = kh * kw, groups = channelGroups(c);
  const bytes = packedWeightBytes(oc, c, kh, kw);
  const out = new Int8Array(bytes + 4 * oc);
  const sums = new Int32Array(out.buffer, bytes, oc);
  let narrow = true;
  for (let o = 0; o < oc; o++) {
    let s = 0;
    for (let ci = 0; ci < c; ci++) {
      const g = ci >> 2, q = ci & 3;
      for (let t = 0; t < taps; t++) {
        const v = w[(o * c + ci) * taps + t];
        out[((o * groups + g) * taps + t) * 4 + q] = v;
        s += v;
        if (v < -64 || v > 64) narrow = false;
      }
    }
    sums[o] = s;
  }
  return { view: new Float32Array(out.buffer, 0, out.length / 4), oc, c, kh, kw, sums, narrow };
}
