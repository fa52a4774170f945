/**
 * What one pooling call is: ONNX MaxPool or AveragePool over the planes of
 * an NCHW tensor (n·c planes, each pooled alone), pads resolved.
 *
 * @module
 */
import type { ConvSpec } from "../conv/spec.ts";

/** A decoded pool key. */
export interface PoolSpec {
  /** "max" or "average". */
  kind: "max" | "average";
  /** Planes: n·c. */
  planes: number;
  /** Input height and width. */
  h: number;
  w: number;
  /** Window, strides, dilations. */
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
  /** ONNX ceil_mode: the output size rounds up. */
  ceil: boolean;
  /** AveragePool: padded positions count in the divisor. */
  countIncludePad: boolean;
  /** Element type of x and y: 8-bit pools are max pools (exact, a quantized model's). */
  type: PoolType;
}

/** Element types a pool reads and writes. */
export type PoolType = "float32" | "uint8" | "int8";

/** Bytes of one element of a pool's x and y. */
export function poolElementBytes(s: PoolSpec): number {
  return s.type === "float32" ? 4 : 1;
}

/** Argument block slots. */
export const POOL_ARG = { X: 0, Y: 1 } as const;

/** Output size of one axis (ONNX; a ceil-mode window must start inside the input or its leading pad). */
export function poolOut(
  size: number,
  k: number,
  stride: number,
  dilation: number,
  lead: number,
  trail: number,
  ceil: boolean,
): number {
  const span = size + lead + trail - ((k - 1) * dilation + 1);
  if (span < 0) return 0;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceil && (out - 1) * stride >= size + lead) out--;
  return out;
}

/** Output height and width. */
export function poolShape(s: PoolSpec): { oh: number; ow: number } {
  return {
    oh: poolOut(s.h, s.kh, s.sh, s.dh, s.pt, s.pb, s.ceil),
    ow: poolOut(s.w, s.kw, s.sw, s.dw, s.pl, s.pr, s.ceil),
  };
}

/**
 * The call as a one-channel convolution of one plane: its geometry (phase
 * planes, taps, store table) is the convolution's. Ceil mode extends the
 * trailing pads so the last window fits.
 */
export function windowSpec(s: PoolSpec): ConvSpec {
  const { oh, ow } = poolShape(s);
  return {
    n: 1,
    c: 1,
    h: s.h,
    w: s.w,
    oc: 1,
    kh: s.kh,
    kw: s.kw,
    sh: s.sh,
    sw: s.sw,
    dh: s.dh,
    dw: s.dw,
    pt: s.pt,
    pl: s.pl,
    pb: Math.max(s.pb, (oh - 1) * s.sh + (s.kh - 1) * s.dh + 1 - s.h - s.pt),
    pr: Math.max(s.pr, (ow - 1) * s.sw + (s.kw - 1) * s.dw + 1 - s.w - s.pl),
    group: 1,
    bias: false,
    residual: false,
    activation: null,
    rowStart: 0,
    rowEnd: oh,
    uh: 1,
    uw: 1,
    flip: false,
    cTotal: 1,
    ocTotal: 1,
    nhwc: false,
    wFinite: false,
    wLanes: 0,
    xLine: 0,
  };
}

/**
 * Window positions that count in one axis's divisor at output index o:
 * within the padded extent when padding counts, else within the input.
 */
export function counted(
  o: number,
  size: number,
  k: number,
  stride: number,
  dilation: number,
  lead: number,
  trail: number,
  includePad: boolean,
): number {
  const lo = includePad ? -lead : 0, hi = includePad ? size + trail : size;
  let n = 0;
  for (let i = 0; i < k; i++) {
    const at = o * stride - lead + i * dilation;
    if (at >= lo && at < hi) n++;
  }
  return n;
}

/** The spec as text. */
export function describePool(s: PoolSpec): string {
  const { oh, ow } = poolShape(s);
  const pads = s.pt || s.pl || s.pb || s.pr ? ` pads=${s.pt},${s.pl},${s.pb},${s.pr}` : "";
  return `${s.kind}Pool ${s.planes}×${s.h}×${s.w} → ${oh}×${ow} k${s.kh}×${s.kw} s${s.sh}×${s.sw}${
    s.dh > 1 || s.dw > 1 ? ` d${s.dh}×${s.dw}` : ""
  }${pads}${s.ceil ? " ceil" : ""}${s.kind === "average" && s.countIncludePad ? " countPad" : ""}${
    s.type === "float32" ? "" : ` ${s.type}`
  }`;
}
