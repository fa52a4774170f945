/**
 * Reading a `jit.convTranspose2d` call (ONNX ConvTranspose, NCHW). The call
 * is decoded into the convolution that computes it: x read upsampled by the
 * strides (zeros between its elements), padded by (k − 1)·d − pad (plus the
 * output padding at the end), stride 1, with w's taps flipped and its
 * [c][oc/group] layout read as is.
 *
 * @module
 */
import { type AutoPad, readAutoPad, readInts, splitSame } from "../attributes.ts";
import { fail } from "../checks.ts";
import { type Activation, decodeActivation } from "../unary/read.ts";
import {
  HEAD_MIN_STEPS,
  MAX_CONV_PAD,
  MAX_CONV_WINDOW,
  readConvShape,
  readEpilogue,
  readGroup,
  readSizes,
} from "./read.ts";
import { type ConvSpec, outHeight } from "./spec.ts";
import type { VecLevel } from "../vec.ts";

/** Options of `jit.convTranspose2d`: the shapes and ONNX ConvTranspose's attributes. */
export interface ConvTranspose2dOptions {
  /** Images (x is n×c×h×w, NCHW). */
  n: number;
  /** Input channels (w is c × outChannels/group × kh × kw). */
  c: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Output channels. */
  outChannels: number;
  /** Kernel [kh, kw]. */
  kernel: readonly number[];
  /** Strides [sh, sw]. Default [1, 1]. */
  strides?: readonly number[];
  /** Pads [top, left, bottom, right], cropped from the full output. Default zeros. */
  pads?: readonly number[];
  /** ONNX auto_pad: SAME gives h·stride outputs. Default "NOTSET". */
  autoPad?: AutoPad;
  /** Added to the output size at the end of each axis, [ph, pw]. Default [0, 0]. */
  outputPadding?: readonly number[];
  /** Dilations [dh, dw]. Default [1, 1]. */
  dilations?: readonly number[];
  /** Groups: c and outChannels divisible by it. Default 1. */
  group?: number;
  /** Per output channel bias, outChannels elements. */
  bias?: Float32Array;
  /** A tensor of y's shape added before the activation. */
  residual?: Float32Array;
  /** Applied last: a unary op name, or `{ op, ...params }`. */
  activation?: Activation;
}

/** Names of the convTranspose2d key slots after the family slot. */
export const CONV_TRANSPOSE_KEY_FIELDS = [
  "n",
  "c",
  "h",
  "w",
  "outChannels",
  "kh",
  "kw",
  "sh",
  "sw",
  "dh",
  "dw",
  "padTop",
  "padLeft",
  "padBottom",
  "padRight",
  "outputPaddingH",
  "outputPaddingW",
  "group",
  "bias",
  "residual",
  "activation",
  "activationP0",
  "activationP1",
  "wLanes",
  "xLine",
] as const;

/** The key slot of the packed weights' channel-vector lanes (0: none), written by jit.convTranspose2d. */
export const CONV_TRANSPOSE_W_LANES_SLOT = 24;

/** The key slot of x's start in its line, in floats (read.ts CONV_X_LINE_SLOT), written by jit.convTranspose2d. */
export const CONV_TRANSPOSE_X_LINE_SLOT = 25;

/**
 * Whether a convTranspose2d key's xLine can change its kernel (see read.ts xLineMatters): only
 * where the convolution it computes reads x in place: strides 1 and the pads it implies 0 (pads
 * of (k − 1)·dilation, none at 1×1, no output padding), with a k loop of HEAD_MIN_STEPS or
 * more; the kernels by output phases never read it. Elsewhere jit.convTranspose2d leaves the
 * slot 0.
 */
export function xLineMattersTransposed(key: Int32Array): boolean {
  const rowsIn = (key[6] - 1) * key[10], colsIn = (key[7] - 1) * key[11];
  return key[8] === 1 && key[9] === 1 && rowsIn === key[12] && colsIn === key[13] &&
    rowsIn - key[14] + key[16] === 0 && colsIn - key[15] + key[17] === 0 &&
    key[2] * key[6] * key[7] >= HEAD_MIN_STEPS * key[18];
}

/**
 * Whether a read convTranspose2d key is one the kernel by output phases
 * may serve once its weights are in the channel-vector layout: stride 2
 * across, one group (transpose_phases.ts); at AVX2, whose columns tile is
 * its only one, also undilated across with y's rows twice x's, one less or
 * one more (the tile's `columnsServe` decides: within these, its rounds'
 * reads stay in x's doubled rows). Plain weights of such a call are repacked
 * on every call (jit.convTranspose2d): at AVX2 another layer's would be
 * copied for the upsampled kernel, which reads w as it is.
 */
export function phasesServeRepacked(key: Int32Array, level: VecLevel): boolean {
  if (key[9] !== 2 || key[18] !== 1) return false;
  if (level !== "avx2") return true;
  const w = key[4], ow = fullSize(key, w, 1) - key[13] - key[15];
  return key[11] === 1 && ow >= 2 * w - 1 && ow <= 2 * w + 1;
}

/** A read convTranspose2d key's weights: output channels, input channels, taps. */
export function transposedWeightShape(key: Int32Array): { oc: number; c: number; taps: number } {
  return { oc: key[5], c: key[2], taps: key[6] * key[7] };
}

const W = "convTranspose2d";

/**
 * The full output of axis i (0: h, 1: w) before pads crop it: the input
 * upsampled by the stride through the dilated kernel, plus the output padding.
 */
function fullSize(key: Int32Array, size: number, i: number): number {
  return key[8 + i] * (size - 1) + key[16 + i] + (key[6 + i] - 1) * key[10 + i] + 1;
}

/**
 * Checks a convTranspose2d call (x, w, y known Float32Arrays), writes key
 * slots 1..23 and the bytes each operand touches; `ops` receives the
 * optional bias and residual.
 */
export function readConvTranspose(
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  o: ConvTranspose2dOptions,
  key: Int32Array,
  extents: Float64Array,
  ops: (Float32Array | undefined)[],
): void {
  readConvShape(W, o, key);
  const n = key[1], c = key[2], h = key[3], ww = key[4], oc = key[5];
  readInts(W, "outputPadding", o.outputPadding, 2, 0, MAX_CONV_WINDOW - 1, 0, key, 16);
  for (let i = 0; i < 2; i++) {
    if (key[16 + i] >= Math.max(key[8 + i], key[10 + i])) {
      fail(
        W,
        `outputPadding[${i}]=${key[16 + i]} must be smaller than the stride or the dilation`,
        "range",
      );
    }
  }
  const mode = readAutoPad(W, o.autoPad, o.pads);
  if (mode === "explicit") readInts(W, "pads", o.pads, 4, 0, MAX_CONV_PAD, 0, key, 12);
  else {
    key[12] =
      key[13] =
      key[14] =
      key[15] =
        0;
    // ONNX: SAME gives output = input·stride; the total padding is what the full output has
    // beyond it. A full output shorter than that (a kernel narrower than the stride) is
    // padded at its end, as ONNX Runtime does (its total padding clamped at 0): the outputs
    // past it are the bias alone, as output_padding's are.
    for (let i = 0; mode !== "valid" && i < 2; i++) {
      const size = i === 0 ? h : ww, full = fullSize(key, size, i), want = size * key[8 + i];
      if (full < want) key[16 + i] += want - full;
      splitSame(W, Math.max(0, full - want), mode, MAX_CONV_PAD, key, 12 + i);
    }
  }
  const group = readGroup(W, o.group, c, oc);
  key[18] = group;
  const oh = fullSize(key, h, 0) - key[12] - key[14], ow = fullSize(key, ww, 1) - key[13] - key[15];
  if (oh < 1 || ow < 1) {
    fail(W, `pads [${key[12]}, ${key[13]}, ${key[14]}, ${key[15]}] leave an empty output`, "range");
  }
  // The kernel reads x upsampled by the strides.
  const upsampled = ((h - 1) * key[8] + 1) * ((ww - 1) * key[9] + 1);
  const ny = n * oc * oh * ow;
  readSizes(
    W,
    x,
    w,
    y,
    n,
    c,
    h,
    ww,
    oc,
    oh,
    ow,
    Math.max(h * ww, upsampled),
    c,
    oc / group,
    "c×outChannels/group",
    key,
    extents,
  );
  readEpilogue(W, o, oc, ny, key, 19, ops);
  key[CONV_TRANSPOSE_X_LINE_SLOT] = 0; // jit.convTranspose2d sets it from x's address
  extents[2] = key[19] ? 4 * oc : 0;
  extents[3] = key[20] ? 4 * ny : 0;
}

/** The convolution that computes the call a key describes (see the module). */
export function decodeConvTransposeKey(key: Int32Array): ConvSpec {
  const [kh, kw, sh, sw, dh, dw] = [key[6], key[7], key[8], key[9], key[10], key[11]];
  const s: ConvSpec = {
    n: key[1],
    c: key[2],
    h: key[3],
    w: key[4],
    oc: key[5],
    kh,
    kw,
    sh: 1,
    sw: 1,
    dh,
    dw,
    pt: (kh - 1) * dh - key[12],
    pl: (kw - 1) * dw - key[13],
    pb: (kh - 1) * dh - key[14] + key[16],
    pr: (kw - 1) * dw - key[15] + key[17],
    group: key[18],
    bias: key[19] === 1,
    residual: key[20] === 1,
    activation: decodeActivation(key, 21),
    rowStart: 0,
    rowEnd: 0,
    uh: sh,
    uw: sw,
    flip: true,
    cTotal: key[2],
    ocTotal: key[5],
    nhwc: false,
    wFinite: false,
    wLanes: key[CONV_TRANSPOSE_W_LANES_SLOT] | 0,
    xLine: key[CONV_TRANSPOSE_X_LINE_SLOT] | 0,
  };
  s.rowEnd = outHeight(s);
  return s;
}
