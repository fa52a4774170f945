/**
 * Reading a `jit.conv2d` call: ONNX Conv attributes checked and resolved
 * (auto padding into explicit pads), every operand's length against the
 * shape, the key written without allocating.
 *
 * @module
 */
import { describe, isFloat32Array, viewLength } from "../../typed.ts";
import { type AutoPad, readInt, readInts, readPads } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { type Activation, decodeActivation, readActivation } from "../unary/read.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { kHalvesServe } from "./k_halves.ts";
import { type ConvSpec, outHeight, outWidth } from "./spec.ts";

/** Options of `jit.conv2d`: the shapes and ONNX Conv's attributes. */
export interface Conv2dOptions {
  /** Images (x is n×c×h×w, NCHW). */
  n: number;
  /** Input channels. */
  c: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Output channels (w is outChannels × c/group × kh × kw). */
  outChannels: number;
  /** Kernel [kh, kw]. */
  kernel: readonly [number, number] | readonly number[];
  /** Strides [sh, sw]. Default [1, 1]. */
  strides?: readonly number[];
  /** Pads [top, left, bottom, right] (ONNX order). Default zeros; not with autoPad. */
  pads?: readonly number[];
  /** ONNX auto_pad. Default "NOTSET" (use pads). */
  autoPad?: AutoPad;
  /** Dilations [dh, dw]. Default [1, 1]. */
  dilations?: readonly number[];
  /** Groups: c and outChannels divisible by it (c = group = outChannels: depthwise). Default 1. */
  group?: number;
  /** Per output channel bias, outChannels elements. */
  bias?: Float32Array;
  /** A tensor of y's shape added before the activation (a ResNet shortcut). */
  residual?: Float32Array;
  /** Applied last: a unary op name, or `{ op, ...params }`. */
  activation?: Activation;
  /**
   * Layout of x, y and residual: "nchw" (ONNX's, the default) or "nhwc".
   * NHWC runs as it is where a kernel reads it (depthwise; at AVX-512 one
   * group on packed weights), else transposed to NCHW and back around the
   * NCHW kernels (see `Jit.conv2d`).
   */
  layout?: TensorLayout;
}

/** Key slots 1..15 of the convolutions: the shape, window and pads (see readConvShape). */
export const CONV_SHAPE_KEY_FIELDS = [
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
] as const;

/** Names of the conv2d key slots after the family slot. */
export const CONV_KEY_FIELDS = [
  ...CONV_SHAPE_KEY_FIELDS,
  "group",
  "bias",
  "residual",
  "activation",
  "activationP0",
  "activationP1",
  "wLanes",
  "nhwc",
  "wFinite",
  "xLine",
] as const;

/** The key slot of the packed weights' channel-vector lanes (0: none), written by jit.conv2d. */
export const CONV_W_LANES_SLOT = 22;

/**
 * The key slot of an NHWC call computed as such (1; jit.conv2d writes it
 * where the channel-vector kernel serves), else 0.
 */
export const CONV_NHWC_SLOT = 23;

/**
 * The key slot of packed weights that are all finite (1, written by
 * jit.conv2d): the channel-vector kernel then skips the taps in the
 * padding (a finite weight times the padding's zero adds nothing).
 */
export const CONV_W_FINITE_SLOT = 24;

/**
 * The key slot of where x starts in its 64-byte line, in floats (0-15),
 * written by jit.conv2d (NCHW; see xLineOf): the tiles that read x in
 * place start that many positions early, so their loads take whole lines
 * (alignedStart in generate.ts).
 */
export const CONV_X_LINE_SLOT = 25;

/**
 * x's start in its 64-byte line in floats for the key (see
 * CONV_X_LINE_SLOT), from `lineOffset` (its address mod 64): all of it where
 * every plane of `planeFloats` starts where the first does in its line,
 * its place in a 32-byte half where planes start alike only there (AVX2's
 * vectors), else 0.
 */
export function xLineOf(planeFloats: number, lineOffset: number): number {
  if (planeFloats % 16 === 0) return lineOffset >> 2;
  return planeFloats % 8 === 0 ? (lineOffset >> 2) & 7 : 0;
}

/**
 * Fewest k steps (input channels × taps) of a tile for which its run starts
 * before x: under it the split loads cost less than the masked start does.
 * Intel Xeon (SPR-class), one thread, the head against none on one
 * checkout (`deno run -A bench/ab.ts --a 2d0cff7 --b a990321 --conv
 * 1,C,H,H,OC,1,1 --activation relu --offset 32`): 16→96 on 112² ×1.080,
 * 32→192 on 28² ×1.076 (×1.065 at 16 bytes in, where the head had always
 * run); 64→256 on 56² ×0.840, 64→64 ×0.985, 64→256 on 28² ×0.981, 128→128
 * on 28² ×0.932, 256→64 on 56² ×0.913.
 */
export const HEAD_MIN_STEPS = 64;

/**
 * Whether a conv key's xLine can change its kernel: only the tile kernel reading x in place
 * (stride 1, no padding: no planes) along runs of a plane, with a k loop of HEAD_MIN_STEPS or
 * more, starts its tiles before x (generate.ts, alignedStart). Elsewhere jit.conv2d leaves the
 * slot 0, so calls on x at any offset in a line share one key (its profile, tuning and code).
 * Reads the key's kh, kw, strides, pads, c and group; allocates nothing.
 */
export function xLineMatters(key: Int32Array): boolean {
  return key[8] === 1 && key[9] === 1 && key[12] === 0 && key[13] === 0 && key[14] === 0 &&
    key[15] === 0 && key[2] * key[6] * key[7] >= HEAD_MIN_STEPS * key[16];
}

/** Largest n, c, h, w or outChannels. */
export const MAX_CONV_DIMENSION = 1 << 24;
/** Largest kernel side, stride or dilation. */
export const MAX_CONV_WINDOW = 16;
/** Largest pad. */
export const MAX_CONV_PAD = 4096;
/** Most elements of a plane (h·w, or the output's). */
export const MAX_CONV_PLANE = 1 << 24;
/** Most elements of a tensor. */
export const MAX_CONV_TENSOR = 2 ** 31 - 1;

const W = "conv2d";

/**
 * The shape both convolutions read alike into key slots 1..11: n, c, h, w,
 * outChannels, then kernel, strides and dilations (two slots each).
 */
export function readConvShape(
  who: string,
  o: {
    n: unknown;
    c: unknown;
    h: unknown;
    w: unknown;
    outChannels: unknown;
    kernel?: unknown;
    strides?: unknown;
    dilations?: unknown;
  },
  key: Int32Array,
): void {
  if (o === null || typeof o !== "object") {
    badOptions(who, o, "n, c, h, w, outChannels and kernel");
  }
  key[1] = readInt(who, "n", o.n, 1, MAX_CONV_DIMENSION);
  key[2] = readInt(who, "c", o.c, 1, MAX_CONV_DIMENSION);
  key[3] = readInt(who, "h", o.h, 1, MAX_CONV_DIMENSION);
  key[4] = readInt(who, "w", o.w, 1, MAX_CONV_DIMENSION);
  key[5] = readInt(who, "outChannels", o.outChannels, 1, MAX_CONV_DIMENSION);
  if (o.kernel === undefined) fail(who, "kernel [kh, kw] is required", "type");
  readInts(who, "kernel", o.kernel, 2, 1, MAX_CONV_WINDOW, 1, key, 6);
  readInts(who, "strides", o.strides, 2, 1, MAX_CONV_WINDOW, 1, key, 8);
  readInts(who, "dilations", o.dilations, 2, 1, MAX_CONV_WINDOW, 1, key, 10);
}

/**
 * Checks a conv2d call (x, w, y known Float32Arrays), writes key slots
 * 1..21 and the bytes each operand touches; `ops` receives the optional
 * bias and residual arrays.
 */
export function readConv(
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  o: Conv2dOptions,
  key: Int32Array,
  extents: Float64Array,
  ops: (Float32Array | undefined)[],
): void {
  readConvShape(W, o, key);
  const n = key[1], c = key[2], h = key[3], ww = key[4], oc = key[5];
  // ONNX order [top, left, bottom, right] into slots 12..15.
  readPads(W, o.pads, o.autoPad, MAX_CONV_PAD, key, 12, h, ww, 6);
  const group = readGroup(W, o.group, c, oc);
  key[16] = group;
  const oh = convOut(key, h, 0), ow = convOut(key, ww, 1);
  checkConvOut(W, key, h, ww, oh, ow);
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
    h * ww,
    oc,
    c / group,
    "outChannels×c/group",
    key,
    extents,
  );
  readEpilogue(W, o, oc, ny, key, 17, ops);
  readLayout(W, o.layout);
  key[CONV_NHWC_SLOT] = 0; // jit.conv2d sets it where the NHWC call runs as such
  key[CONV_W_FINITE_SLOT] = 0; // and this one for packed weights
  key[CONV_X_LINE_SLOT] = 0; // and this one from x's address
  extents[2] = key[17] ? 4 * oc : 0;
  extents[3] = key[18] ? 4 * ny : 0;
}

/** Output rows (axis 0) or columns (1) of the window in key slots 6..15: ONNX's floor. */
export function convOut(key: Int32Array, size: number, axis: 0 | 1): number {
  const pads = key[12 + axis] + key[14 + axis];
  return Math.floor((size + pads - key[10 + axis] * (key[6 + axis] - 1) - 1) / key[8 + axis]) + 1;
}

/** The error for a window larger than the padded input (an empty output). */
export function checkConvOut(
  who: string,
  key: Int32Array,
  h: number,
  w: number,
  oh: number,
  ow: number,
): void {
  if (oh >= 1 && ow >= 1) return;
  fail(
    who,
    `the ${key[6]}×${key[7]} kernel (dilations ${key[10]}×${key[11]}) is larger than the padded ${
      h + key[12] + key[14]
    }×${w + key[13] + key[15]} input: the output would be empty`,
    "range",
  );
}

/** The layout of a convolution's or pooling's x, y and residual. */
export type TensorLayout = "nchw" | "nhwc";

/**
 * Whether the layout is NHWC (else NCHW, the default); anything else is an
 * error. Our kernels compute in NCHW, where they run at 92-98% of the FMA
 * peak with any tile of positions; an NHWC call is transposed to NCHW and
 * back around them (exact copies: the NCHW call's bits).
 */
export function readLayout(who: string, v: unknown): boolean {
  if (v === undefined || v === "nchw") return false;
  if (v === "nhwc") return true;
  return fail(
    who,
    `layout must be "nchw" or "nhwc", got ${describe(v)}`,
    typeof v === "string" ? "range" : "type",
  );
}

/** Groups: an integer dividing c and oc (default 1). */
export function readGroup(who: string, v: unknown, c: number, oc: number): number {
  const group = readInt(who, "group", v ?? 1, 1, MAX_CONV_DIMENSION);
  if (c % group !== 0 || oc % group !== 0) {
    fail(who, `group=${group} must divide c=${c} and outChannels=${oc}`, "range");
  }
  return group;
}

/**
 * A convolution's sizes against its operands: planes and tensors within
 * the limits (`plane`: the largest input plane the kernel reads), x, w
 * (w0 × w1 × kh × kw, named `wNames` in the error) and y of exactly their
 * lengths; extents 0 (x), 1 (w) and 5 (y) written, 4 (wVectors) zeroed
 * (the caller sets it where it passes a channel-vector copy).
 */
export function readSizes(
  who: string,
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  n: number,
  c: number,
  h: number,
  ww: number,
  oc: number,
  oh: number,
  ow: number,
  plane: number,
  w0: number,
  w1: number,
  wNames: string,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (plane > MAX_CONV_PLANE || oh * ow > MAX_CONV_PLANE) {
    fail(
      who,
      `planes of ${h}×${ww} in or ${oh}×${ow} out exceed ${MAX_CONV_PLANE} elements`,
      "range",
    );
  }
  const nx = n * c * h * ww, ny = n * oc * oh * ow, nw = w0 * w1 * key[6] * key[7];
  if (nx > MAX_CONV_TENSOR || ny > MAX_CONV_TENSOR || nw > MAX_CONV_TENSOR) {
    fail(who, `tensors beyond ${MAX_CONV_TENSOR} elements are not supported`, "range");
  }
  const lx = viewLength(x), lw = viewLength(w), ly = viewLength(y);
  if (lx !== nx) {
    fail(who, `x has ${lx} elements but n×c×h×w = ${n}×${c}×${h}×${ww} needs ${nx}`, "range");
  }
  if (lw !== nw) {
    fail(
      who,
      `w has ${lw} elements but ${wNames}×kh×kw = ${w0}×${w1}×${key[6]}×${key[7]} needs ${nw}`,
      "range",
    );
  }
  if (ly !== ny) {
    fail(
      who,
      `y has ${ly} elements but n×outChannels×oh×ow = ${n}×${oc}×${oh}×${ow} needs ${ny}`,
      "range",
    );
  }
  extents[0] = 4 * nx;
  extents[1] = 4 * nw;
  extents[4] = 0;
  extents[5] = 4 * ny;
}

/**
 * The fused epilogue of a convolution call: bias (outChannels elements)
 * and residual (y's `ny`) into ops[0..1] and key[slot], key[slot + 1], the
 * activation from key[slot + 2].
 */
export function readEpilogue(
  who: string,
  o: { bias?: unknown; residual?: unknown; activation?: unknown },
  oc: number,
  ny: number,
  key: Int32Array,
  slot: number,
  ops: (Float32Array | undefined)[],
): void {
  const bias = o.bias, residual = o.residual;
  ops[0] = ops[1] = undefined;
  if (bias !== undefined) {
    if (!isFloat32Array(bias)) {
      fail(who, `bias must be a Float32Array, got ${describe(bias)}`, "type");
    }
    const lb = viewLength(bias);
    if (lb !== oc) fail(who, `bias has ${lb} elements; outChannels needs ${oc}`, "range");
    ops[0] = bias;
  }
  if (residual !== undefined) {
    if (!isFloat32Array(residual)) {
      fail(who, `residual must be a Float32Array, got ${describe(residual)}`, "type");
    }
    const lr = viewLength(residual);
    if (lr !== ny) fail(who, `residual has ${lr} elements; y's shape needs ${ny}`, "range");
    ops[1] = residual;
  }
  key[slot] = bias !== undefined ? 1 : 0;
  key[slot + 1] = residual !== undefined ? 1 : 0;
  readActivation(who, o.activation, key, slot + 2);
}

/** The spec a key describes (the whole call: every output row). */
export function decodeConvKey(key: Int32Array): ConvSpec {
  const s: ConvSpec = {
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
    group: key[16],
    bias: key[17] === 1,
    residual: key[18] === 1,
    activation: decodeActivation(key, 19),
    rowStart: 0,
    rowEnd: 0,
    uh: 1,
    uw: 1,
    flip: false,
    cTotal: key[2],
    ocTotal: key[5],
    // Written by jit.conv2d after the read (packed weights' layouts); absent in shorter keys.
    wLanes: key[CONV_W_LANES_SLOT] | 0,
    nhwc: key[CONV_NHWC_SLOT] === 1,
    wFinite: key[CONV_W_FINITE_SLOT] === 1,
    xLine: key[CONV_X_LINE_SLOT] | 0,
  };
  s.rowEnd = outHeight(s);
  if (kHalvesServe(s)) s.kHalves = true;
  return s;
}

/** The spec as text. */
export function describeConv(s: ConvSpec): string {
  const oh = outHeight(s), ow = outWidth(s);
  const pads = s.pt || s.pl || s.pb || s.pr
    ? ` ${s.flip ? "as conv " : ""}pads=${s.pt},${s.pl},${s.pb},${s.pr}`
    : "";
  const stride = s.sh > 1 || s.sw > 1 ? ` s${s.sh}×${s.sw}` : "";
  const dil = s.dh > 1 || s.dw > 1 ? ` d${s.dh}×${s.dw}` : "";
  const grp = s.group > 1 ? ` group=${s.group}` : "";
  const act = s.activation
    ? ` ${UNARY_OPS[s.activation.op].name}${
      s.activation.params.length ? `(${s.activation.params.join(",")})` : ""
    }`
    : "";
  const band = s.rowStart !== 0 || s.rowEnd !== oh ? ` rows ${s.rowStart}..${s.rowEnd}` : "";
  const op = s.flip ? "convTranspose2d" : "conv2d";
  const up = s.uh > 1 || s.uw > 1 ? ` up${s.uh}×${s.uw}` : "";
  return `${op} ${s.n}×${s.c}×${s.h}×${s.w} → ${s.oc}×${oh}×${ow} k${s.kh}×${s.kw}${up}${stride}${dil}${pads}${grp}${
    s.bias ? " +bias" : ""
  }${s.residual ? " +residual" : ""}${act}${band}${s.nhwc ? " nhwc" : ""}${
    s.xLine ? ` xline=${s.xLine}` : ""
  }`;
}
