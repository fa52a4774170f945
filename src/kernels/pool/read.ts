/**
 * Reading a `jit.pool` call: ONNX MaxPool / AveragePool attributes checked
 * and resolved (auto padding into pads), lengths against the shape, the key
 * written without allocating. Global pooling is read here too and runs as
 * a reduction over each plane.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { type AutoPad, readBool, readInt, readInts, readPads } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import {
  MAX_CONV_DIMENSION,
  MAX_CONV_PAD,
  MAX_CONV_PLANE,
  MAX_CONV_TENSOR,
  MAX_CONV_WINDOW,
  readLayout,
  type TensorLayout,
} from "../conv/read.ts";
import { poolOut, type PoolSpec, type PoolType } from "./spec.ts";

/** The pooling `jit.pool` computes. */
export type PoolKind = "max" | "average" | "globalMax" | "globalAverage";

/** Options of `jit.pool`: the shape and ONNX's attributes. */
export interface PoolOptions {
  /** Images (x is n×c×h×w, NCHW). */
  n: number;
  /** Channels. */
  c: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Window [kh, kw]: max and average only. */
  kernel?: readonly number[];
  /** Strides [sh, sw]. Default [1, 1]. */
  strides?: readonly number[];
  /** Pads [top, left, bottom, right]. Default zeros; not with autoPad. */
  pads?: readonly number[];
  /** ONNX auto_pad. Default "NOTSET". */
  autoPad?: AutoPad;
  /** Dilations [dh, dw]. Default [1, 1]. */
  dilations?: readonly number[];
  /** ONNX ceil_mode: output sizes round up. Default false. */
  ceilMode?: boolean;
  /** AveragePool: padded positions count in the divisor. Default false. */
  countIncludePad?: boolean;
  /** Layout of x and y: "nchw" (ONNX's, the default) or "nhwc" (see conv2d's). */
  layout?: TensorLayout;
}

/** Names of the pool key slots after the family slot. */
export const POOL_KEY_FIELDS = [
  "kind",
  "planes",
  "h",
  "w",
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
  "ceil",
  "countIncludePad",
  "type",
] as const;

const W = "pool";

/** The options only windowed pooling takes. */
const WINDOW_OPTIONS = [
  "kernel",
  "strides",
  "pads",
  "autoPad",
  "dilations",
  "ceilMode",
  "countIncludePad",
] as const;

/**
 * A global kind's options have no window: throws naming the first given.
 * Named reads, not o[name] over the list: that keyed load is megamorphic,
 * and it was most of a global pool's cost per call before its kernel.
 */
function refuseWindowOptions(kind: string, o: PoolOptions): void {
  if (
    o.kernel === undefined && o.strides === undefined && o.pads === undefined &&
    o.autoPad === undefined && o.dilations === undefined && o.ceilMode === undefined &&
    o.countIncludePad === undefined
  ) return;
  for (const name of WINDOW_OPTIONS) {
    if (o[name] !== undefined) fail(W, `${kind} takes no ${name}`, "range");
  }
}

/** Key codes of the element types (slot 17). */
const TYPE_CODES: readonly PoolType[] = ["float32", "uint8", "int8"];

/**
 * Checks a pool call (x and y known typed arrays of the element type
 * `type`: 0 float32, 1 uint8, 2 int8). Windowed kinds write key slots
 * 1..17 and return true; global kinds, and windows of the whole unpadded
 * float plane, write only the planes and their size (slots 2..4) and
 * return false: the caller reduces each of the n·c planes. 8-bit x pools
 * by max windows only.
 */
export function readPool(
  kind: unknown,
  x: ArrayBufferView,
  y: ArrayBufferView,
  o: PoolOptions,
  key: Int32Array,
  extents: Float64Array,
  type = 0,
): boolean {
  if (kind !== "max" && kind !== "average" && kind !== "globalMax" && kind !== "globalAverage") {
    fail(
      W,
      `kind must be "max", "average", "globalMax" or "globalAverage", got ${describe(kind)}`,
      typeof kind === "string" ? "range" : "type",
    );
  }
  if (type !== 0 && kind !== "max") {
    fail(
      W,
      `8-bit x and y pool by "max" windows only (a quantized model's MaxPool), got ${kind}`,
      "range",
    );
  }
  if (o === null || typeof o !== "object") badOptions(W, o, "n, c, h and w");
  const n = readInt(W, "n", o.n, 1, MAX_CONV_DIMENSION);
  const c = readInt(W, "c", o.c, 1, MAX_CONV_DIMENSION);
  const h = readInt(W, "h", o.h, 1, MAX_CONV_DIMENSION);
  const w = readInt(W, "w", o.w, 1, MAX_CONV_DIMENSION);
  readLayout(W, o.layout);
  const planes = n * c;
  if (h * w > MAX_CONV_PLANE || planes * h * w > MAX_CONV_TENSOR) {
    fail(W, `x of ${n}×${c}×${h}×${w} is beyond the supported size`, "range");
  }
  const lx = viewLength(x), ly = viewLength(y);
  if (lx !== planes * h * w) {
    fail(
      W,
      `x has ${lx} elements but n×c×h×w = ${n}×${c}×${h}×${w} needs ${planes * h * w}`,
      "range",
    );
  }
  key[2] = planes;
  key[3] = h;
  key[4] = w;
  if (kind === "globalMax" || kind === "globalAverage") {
    refuseWindowOptions(kind, o);
    if (ly !== planes) {
      fail(W, `y has ${ly} elements but ${kind} of n×c = ${n}×${c} needs ${planes}`, "range");
    }
    return false;
  }
  if (o.kernel === undefined) fail(W, `${kind} needs kernel [kh, kw]`, "type");
  readInts(W, "kernel", o.kernel, 2, 1, MAX_CONV_WINDOW, 1, key, 5);
  readInts(W, "strides", o.strides, 2, 1, MAX_CONV_WINDOW, 1, key, 7);
  readInts(W, "dilations", o.dilations, 2, 1, MAX_CONV_WINDOW, 1, key, 9);
  const ceil = readBool(W, "ceilMode", o.ceilMode);
  const includePad = readBool(W, "countIncludePad", o.countIncludePad);
  if (kind === "max" && o.countIncludePad !== undefined) {
    fail(W, "countIncludePad is for average pooling", "range");
  }
  readPads(W, o.pads, o.autoPad, MAX_CONV_PAD, key, 11, h, w, 5);
  // As ONNX Runtime: each pad smaller than the window (a window of padding alone has no value).
  if (key[11] >= key[5] || key[13] >= key[5] || key[12] >= key[6] || key[14] >= key[6]) {
    fail(
      W,
      `pads [${key[11]}, ${key[12]}, ${key[13]}, ${key[14]}] must be smaller than the ${key[5]}×${
        key[6]
      } window`,
      "range",
    );
  }
  const oh = poolOut(h, key[5], key[7], key[9], key[11], key[13], ceil);
  const ow = poolOut(w, key[6], key[8], key[10], key[12], key[14], ceil);
  if (oh < 1 || ow < 1) {
    fail(
      W,
      `the ${key[5]}×${key[6]} window is larger than the padded input: the output would be empty`,
      "range",
    );
  }
  if (ly !== planes * oh * ow) {
    fail(
      W,
      `y has ${ly} elements but n×c×oh×ow = ${n}×${c}×${oh}×${ow} needs ${planes * oh * ow}`,
      "range",
    );
  }
  key[1] = kind === "max" ? 0 : 1;
  key[15] = ceil ? 1 : 0;
  key[16] = includePad ? 1 : 0;
  key[17] = type;
  const bytes = type === 0 ? 4 : 1;
  extents[0] = bytes * lx;
  extents[1] = bytes * ly;
  // A window of the whole plane, unpadded (a 7×7 average after Inception's last 7² stage):
  // one output per plane, the global kind's reduction (20 → 3 µs at 1024×7²).
  return type !== 0 ||
    !(key[5] === h && key[6] === w && key[11] === 0 && key[12] === 0 && key[13] === 0 &&
      key[14] === 0);
}

/** The spec a key describes. */
export function decodePoolKey(key: Int32Array): PoolSpec {
  return {
    kind: key[1] === 0 ? "max" : "average",
    planes: key[2],
    h: key[3],
    w: key[4],
    kh: key[5],
    kw: key[6],
    sh: key[7],
    sw: key[8],
    dh: key[9],
    dw: key[10],
    pt: key[11],
    pl: key[12],
    pb: key[13],
    pr: key[14],
    ceil: key[15] === 1,
    countIncludePad: key[16] === 1,
    type: TYPE_CODES[key[17]],
  };
}
