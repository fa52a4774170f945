/**
 * What one 8-bit convolution call is: ONNX ConvInteger / QLinearConv on
 * NCHW bytes (group 1), its pads resolved, y = Σ (x − za)·w + bias as int32
 * or requantized to bytes (each sum times a float32 multiplier, clamped,
 * rounded half to even, the zero point added), and for a thread's part the
 * band of output rows it computes.
 *
 * The kernel first copies the band's input rows into its workspace as
 * "pixel words": for each group of 4 input channels, each padded row holds
 * every column's 4 channel bytes as one dword (padding: za in every byte),
 * the columns of each stride phase together, so 16 output positions at any
 * stride read 16 consecutive dwords — the operand `vpdpbusd` multiplies with
 * 4 weight bytes broadcast.
 *
 * @module
 */

/** A decoded convInt8 key. */
export interface QConvSpec {
  /** Images, input channels, input height and width. */
  n: number;
  c: number;
  h: number;
  w: number;
  /** Output channels. */
  oc: number;
  /** Kernel, strides, dilations. */
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Pads: top, left, bottom, right. */
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  /** x's zero point as a byte of x's type (int8 x: −128..127). */
  xZero: number;
  /** x is int8 (its bytes read with the sign bit flipped: x + 128 as uint8). */
  xSigned: boolean;
  /** y: 0 int32 sums, 1 uint8, 2 int8 (requantized). */
  out: 0 | 1 | 2;
  /** y's zero point (byte outputs). */
  yZero: number;
  /** Multipliers of byte outputs: 1 one for all, 2 one per output channel (0: int32 y). */
  scale: 0 | 1 | 2;
  /** An int32 per output channel added to the sums. */
  bias: boolean;
  /** Output rows [rowStart, rowEnd) computed (the whole call: 0, oh). */
  rowStart: number;
  rowEnd: number;
  /**
   * A part's first output channel (its operands offset there: `oc` of
   * them computed) and the call's output channels (0 and oc when whole).
   */
  ocStart: number;
  ocTotal: number;
  /** The packed weights are within ±64 (see `PackedConvInt8.narrow`). */
  narrowW: boolean;
}

/** Argument block slots (operand order). */
export const QCONV_ARG = { X: 0, W: 1, BIAS: 2, SCALE: 3, Y: 4 } as const;

/** Output height. */
export function qconvOutHeight(s: QConvSpec): number {
  return Math.floor((s.h + s.pt + s.pb - s.dh * (s.kh - 1) - 1) / s.sh) + 1;
}

/** Output width. */
export function qconvOutWidth(s: QConvSpec): number {
  return Math.floor((s.w + s.pl + s.pr - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
}

/** Groups of 4 input channels (the last one padded with zero weights). */
export function channelGroups(c: number): number {
  return Math.ceil(c / 4);
}

/** Bytes of y's elements. */
export function outBytes(s: QConvSpec): number {
  return s.out === 0 ? 4 : 1;
}

/** x's zero point as the uint8 the kernel reads (int8 x: flipped sign bit). */
export function unsignedZero(s: QConvSpec): number {
  return s.xSigned ? s.xZero + 128 : s.xZero;
}

/** Bytes the kernel reads past the pixel words (its last vectors' unused lanes). */
export const PIXEL_SLACK = 4 * 64;

/** The layout of a band's pixel words in the workspace. */
export interface PixelLayout {
  /** Dwords of one stride phase of a padded row. */
  phaseWords: number;
  /** Bytes of a padded row (all its phases). */
  rowBytes: number;
  /** Padded rows of the band. */
  rows: number;
  /** Bytes of one group of 4 channels (all its rows). */
  groupBytes: number;
  /** Bytes of the workspace: every group, then the slack. */
  bytes: number;
}

/** The pixel words of the spec's band (its output rows). */
export function pixelLayout(s: QConvSpec): PixelLayout {
  const ow = qconvOutWidth(s);
  const columns = (ow - 1) * s.sw + (s.kw - 1) * s.dw + 1;
  const phaseWords = Math.ceil(columns / s.sw);
  const rowBytes = s.sw * phaseWords * 4;
  const bandRows = s.rowEnd - s.rowStart;
  const rows = bandRows > 0 ? (bandRows - 1) * s.sh + (s.kh - 1) * s.dh + 1 : 0;
  const groupBytes = rows * rowBytes;
  return {
    phaseWords,
    rowBytes,
    rows,
    groupBytes,
    bytes: channelGroups(s.c) * groupBytes + PIXEL_SLACK,
  };
}

/** The spec as text. */
export function describeQConv(s: QConvSpec): string {
  const out = s.out === 0 ? "int32" : s.out === 1 ? "uint8" : "int8";
  return `convInt8 ${s.n}x${s.c}x${s.h}x${s.w} → ${s.oc} ${s.kh}x${s.kw} s${s.sh}x${s.sw} d${s.dh}x${s.dw} p${s.pt},${s.pl},${s.pb},${s.pr} x ${
    s.xSigned ? "int8" : "uint8"
  } za=${s.xZero} → ${out}${s.bias ? " +bias" : ""}${
    s.out ? ` ×${s.scale === 2 ? "channel scales" : "scale"} zp=${s.yZero}` : ""
  }${s.rowStart !== 0 || s.rowEnd !== qconvOutHeight(s) ? ` rows ${s.rowStart}-${s.rowEnd}` : ""}${
    s.oc !== s.ocTotal ? ` channels ${s.ocStart}-${s.ocStart + s.oc} of ${s.ocTotal}` : ""
  }${s.narrowW ? " w within ±64" : ""}`;
}
