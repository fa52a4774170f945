/**
 * What one conv2d call is: ONNX Conv on NCHW tensors with its attributes
 * resolved (auto padding turned into explicit pads), the fused epilogue
 * (bias, residual, activation) and, for a thread's part, the band of output
 * rows it computes.
 *
 * @module
 */

/** A decoded conv2d key. */
export interface ConvSpec {
  /** Images, input channels, input height and width. */
  n: number;
  c: number;
  h: number;
  w: number;
  /** Output channels. */
  oc: number;
  /** Kernel height and width. */
  kh: number;
  kw: number;
  /** Strides, dilations. */
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Pads: top, left, bottom, right. */
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  /** Groups: c and oc are multiples of it. */
  group: number;
  /** Per output channel bias. */
  bias: boolean;
  /** A tensor of y's shape added before the activation. */
  residual: boolean;
  /** Activation applied last: a unary op id and its parameters, or null. */
  activation: { op: number; params: number[] } | null;
  /** Output rows [rowStart, rowEnd) computed (a part's band; the whole call: 0, oh). */
  rowStart: number;
  rowEnd: number;
  /**
   * A transposed convolution computed as this convolution: x is read as if
   * uh − 1 zero rows and uw − 1 zero columns stood between its own (1 for a
   * plain convolution), and w is stored [c][oc/group][kh][kw] with the
   * kernel flipped (ONNX ConvTranspose's layout).
   */
  uh: number;
  uw: number;
  flip: boolean;
  /**
   * Channels of an image of x and of y (their strides between images): c
   * and oc, unless a thread's part computes some groups or output channels
   * of each image.
   */
  cTotal: number;
  ocTotal: number;
  /**
   * Lanes of the channel-vector copy of w (packed weights, see weights.ts),
   * the operand wVectors, or 0 when w is only ONNX's layout.
   */
  wLanes: number;
  /**
   * x, y and the residual are NHWC (channels innermost): only the
   * channel-vector kernel (its vectors of output channels are NHWC's rows)
   * and the NHWC depthwise kernel (a vector is 16 channels of a position)
   * compute it; others plan NCHW.
   */
  nhwc: boolean;
  /**
   * Every weight of the packed copy is finite: a tap in the padding may be
   * skipped, its product (±0) adding nothing to a sum that starts at +0
   * (the sum is then never −0), so the bits are those of the kernels that
   * multiply the padding's zeros. Not so for ±Inf or NaN weights (their
   * product with a zero is NaN, as ONNX's definition of the padding says).
   */
  wFinite: boolean;
  /**
   * Where x starts in its 64-byte line, in floats (0-15), where its planes
   * are whole lines (else 0): tiles that read x in place along a run start
   * that many positions before it, the first vector's lanes before x masked
   * off, so every later load takes one line instead of two.
   */
  xLine: number;
  /**
   * The call sums its input channels in two halves, added at the store (a
   * narrowing 1×1 layer on a small image: k_halves.ts); absent: one sum.
   */
  kHalves?: boolean;
  /** A split call's part of a call in halves: the half whose sums it makes (k_halves.ts). */
  kPart?: 0 | 1;
  /** Input channels of a row of w where the kernel sums fewer (its row stride); absent: c / group. */
  wInputs?: number;
  /** The store adds y's value (the other half's sums) to the sums before the bias. */
  partialIn?: boolean;
}

/**
 * Argument block slots (operand order): w in ONNX's layout, and its
 * channel-vector copy (WV) where the spec has wLanes.
 */
export const CONV_ARG = { X: 0, W: 1, BIAS: 2, RESIDUAL: 3, WV: 4, Y: 5 } as const;

/** Height of the input as read: x's, with uh − 1 zero rows between its rows. */
export function readHeight(s: ConvSpec): number {
  return (s.h - 1) * s.uh + 1;
}

/** Width of the input as read. */
export function readWidth(s: ConvSpec): number {
  return (s.w - 1) * s.uw + 1;
}

/** Output height: ONNX's floor((h + pads − dilated kernel) / stride) + 1. */
export function outHeight(s: ConvSpec): number {
  return Math.floor((readHeight(s) + s.pt + s.pb - s.dh * (s.kh - 1) - 1) / s.sh) + 1;
}

/** Output width. */
export function outWidth(s: ConvSpec): number {
  return Math.floor((readWidth(s) + s.pl + s.pr - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
}

/** Multiply-adds of the call (its band of rows). */
export function convMacs(s: ConvSpec): number {
  return s.n * s.oc * (s.rowEnd - s.rowStart) * outWidth(s) * (s.c / s.group) * s.kh * s.kw;
}
