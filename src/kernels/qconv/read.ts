/**
 * Reading a `jit.convInt8` call: the shape and ONNX Conv attributes (as
 * `jit.conv2d` reads them, group 1), zero points, the packed weights and
 * every operand's length checked, the key written without allocating.
 *
 * @module
 */
import { viewLength } from "../../typed.ts";
import { readInt, readPads } from "../attributes.ts";
import { fail } from "../checks.ts";
import {
  checkConvOut,
  type Conv2dOptions,
  CONV_SHAPE_KEY_FIELDS,
  convOut,
  MAX_CONV_PAD,
  MAX_CONV_PLANE,
  MAX_CONV_TENSOR,
  readConvShape,
} from "../conv/read.ts";
import type { PackedConvInt8 } from "./pack.ts";
import { channelGroups, PIXEL_SLACK, type QConvSpec } from "./spec.ts";

/**
 * Options of `jit.convInt8`: the shape and ONNX Conv's attributes as
 * `jit.conv2d` takes them (group 1), the zero points, bias and scale.
 */
export interface ConvInt8Options extends
  Pick<
    Conv2dOptions,
    "n" | "c" | "h" | "w" | "outChannels" | "kernel" | "strides" | "pads" | "autoPad" | "dilations"
  > {
  /** x's zero point, a value of x's type (padding holds it: it adds nothing). Default 0. */
  xZeroPoint?: number;
  /** An int32 per output channel added to the sums (QLinearConv's B). */
  bias?: Int32Array;
  /**
   * With a byte y: each sum (+ bias) as a float32 times this multiplier
   * (one, or one per output channel: x's scale · w's / y's), then clamped,
   * rounded half to even and offset by `yZeroPoint`.
   */
  scale?: Float32Array;
  /** y's zero point, a value of y's type (byte y). Default 0. */
  yZeroPoint?: number;
}

/** Names of the key slots after the family slot. */
export const QCONV_KEY_FIELDS = [
  ...CONV_SHAPE_KEY_FIELDS,
  "xZero",
  "xSigned",
  "out",
  "yZero",
  "scale",
  "bias",
  "rowStart",
  "rowEnd",
  "narrowW",
] as const;

const W = "convInt8";
/** Most bytes of a part's pixel words (addresses in the kernel are 32-bit displacements). */
const MAX_PIXEL_BYTES = 2 ** 30;

/**
 * Checks a call and writes key slots 1..24 and the extents: `x`, `y` are
 * the byte views of x and y, `xSigned` whether x is an Int8Array, `out`
 * y's kind (0 Int32Array, 1 Uint8Array, 2 Int8Array), `xLength`/`yLength`
 * their element counts.
 */
export function readQConv(
  xLength: number,
  xSigned: boolean,
  w: PackedConvInt8,
  yLength: number,
  out: 0 | 1 | 2,
  bias: Int32Array | null,
  scale: Float32Array | null,
  o: ConvInt8Options,
  key: Int32Array,
  extents: Float64Array,
): void {
  readConvShape(W, o, key);
  const n = key[1], c = key[2], h = key[3], ww = key[4], oc = key[5];
  readPads(W, o.pads, o.autoPad, MAX_CONV_PAD, key, 12, h, ww, 6);
  if (w.oc !== oc || w.c !== c || w.kh !== key[6] || w.kw !== key[7]) {
    fail(
      W,
      `w was packed for ${w.oc} outputs × ${w.c} channels × ${w.kh}×${w.kw}, the call is ${oc} × ${c} × ${
        key[6]
      }×${key[7]}`,
      "range",
    );
  }
  const oh = convOut(key, h, 0), ow = convOut(key, ww, 1);
  checkConvOut(W, key, h, ww, oh, ow);
  if (h * ww > MAX_CONV_PLANE || oh * ow > MAX_CONV_PLANE) {
    fail(
      W,
      `planes of ${h}×${ww} in or ${oh}×${ow} out exceed ${MAX_CONV_PLANE} elements`,
      "range",
    );
  }
  const nx = n * c * h * ww, ny = n * oc * oh * ow;
  if (nx > MAX_CONV_TENSOR || ny > MAX_CONV_TENSOR) {
    fail(W, `tensors beyond ${MAX_CONV_TENSOR} elements are not supported`, "range");
  }
  if (xLength !== nx) {
    fail(W, `x has ${xLength} elements but n×c×h×w = ${n}×${c}×${h}×${ww} needs ${nx}`, "range");
  }
  if (yLength !== ny) {
    fail(W, `y has ${yLength} elements but n×outChannels×oh×ow needs ${ny}`, "range");
  }
  key[16] = o.xZeroPoint === undefined
    ? 0
    : readInt(W, "xZeroPoint", o.xZeroPoint, xSigned ? -128 : 0, xSigned ? 127 : 255);
  key[17] = xSigned ? 1 : 0;
  key[18] = out;
  if (out === 0) {
    if (scale !== null || o.yZeroPoint !== undefined) {
      fail(
        W,
        "an Int32Array y takes no scale or yZeroPoint (they requantize byte outputs)",
        "type",
      );
    }
    key[19] = 0;
    key[20] = 0;
  } else {
    if (scale === null) fail(W, "a byte y needs a scale (a Float32Array)", "type");
    const ls = viewLength(scale);
    if (ls !== 1 && ls !== oc) {
      fail(W, `scale has ${ls} elements: 1, or one per output channel (${oc})`, "range");
    }
    key[19] = o.yZeroPoint === undefined
      ? 0
      : readInt(W, "yZeroPoint", o.yZeroPoint, out === 2 ? -128 : 0, out === 2 ? 127 : 255);
    key[20] = ls === 1 ? 1 : 2;
  }
  if (bias !== null && viewLength(bias) !== oc) {
    fail(
      W,
      `bias has ${viewLength(bias)} elements, one per output channel (${oc}) needed`,
      "range",
    );
  }
  key[21] = bias !== null ? 1 : 0;
  key[22] = 0;
  key[23] = oh;
  key[24] = w.narrow === true ? 1 : 0;
  // The kernel's displacements are 32-bit: a part's pixel words and a channel's weights bounded.
  const taps = key[6] * key[7], groups = channelGroups(c);
  if (groups * taps * 4 * 8 > MAX_PIXEL_BYTES) {
    fail(W, `c×kh×kw = ${c}×${key[6]}×${key[7]} weights per output channel are too many`, "range");
  }
  // pixelLayout's bytes for the whole call, without building its spec.
  const phaseWords = Math.ceil(((ow - 1) * key[9] + (key[7] - 1) * key[11] + 1) / key[9]);
  const rows = (oh - 1) * key[8] + (key[6] - 1) * key[10] + 1;
  const pixels = groups * rows * key[9] * phaseWords * 4 + PIXEL_SLACK;
  if (pixels > MAX_PIXEL_BYTES) {
    fail(W, `the padded input's ${pixels} bytes exceed ${MAX_PIXEL_BYTES}`, "range");
  }
  extents[0] = nx;
  extents[1] = viewLength(w.view) * 4;
  extents[2] = bias !== null ? 4 * oc : 0;
  extents[3] = out === 0 ? 0 : 4 * viewLength(scale!);
  extents[4] = ny * (out === 0 ? 4 : 1);
}

/** The spec a key describes. */
export function decodeQConvKey(key: Int32Array): QConvSpec {
  return {
    n: key[1],
    c: key[2],
    h: key[3],
    w: key[4],
    oc: key[5],
    kh: key[6],
    kw: key[7],
    sh: key[8],
    sw: key[9],
    dh: key[10],
    dw: key[11],
    pt: key[12],
    pl: key[13],
    pb: key[14],
    pr: key[15],
    xZero: key[16],
    xSigned: key[17] === 1,
    out: key[18] as 0 | 1 | 2,
    yZero: key[19],
    scale: key[20] as 0 | 1 | 2,
    bias: key[21] === 1,
    rowStart: key[22],
    rowEnd: key[23],
    ocStart: 0,
    ocTotal: key[5],
    narrowW: key[24] === 1,
  };
}
