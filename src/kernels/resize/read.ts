/**
 * Reading a `jit.resize` call: the shapes, the modes by their ONNX names,
 * optional explicit scales; the key written without allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { readBool, readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { MAX_CONV_DIMENSION, MAX_CONV_PLANE, MAX_CONV_TENSOR } from "../conv/read.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import {
  COORDINATE_MODES,
  type CoordinateMode,
  NEAREST_MODES,
  type NearestMode,
  RESIZE_MODES,
  type ResizeMode,
  type ResizeSpec,
} from "./spec.ts";

/** Options of `jit.resize` (ONNX Resize on the last two axes of NCHW). */
export interface ResizeOptions {
  /** Images, channels, input height and width (x is n×c×h×w). */
  n: number;
  /** Channels. */
  c: number;
  /** Input height. */
  h: number;
  /** Input width. */
  w: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
  /** "nearest" (ONNX default), "linear" or "cubic". */
  mode?: ResizeMode;
  /** Default "half_pixel". */
  coordinateTransformationMode?: CoordinateMode;
  /** Default "round_prefer_floor". */
  nearestMode?: NearestMode;
  /** Default −0.75. */
  cubicCoeffA?: number;
  /** ONNX exclude_outside: cubic taps outside the input weigh 0, the rest renormalized. Default false. */
  excludeOutside?: boolean;
  /**
   * ONNX antialias: where an axis shrinks, linear and cubic filters widen by
   * in/out (ONNX Runtime's and Pillow's filters; nearest ignores it).
   * Default false.
   */
  antialias?: boolean;
  /**
   * tf_crop_and_resize's region of the input, normalized (0 the first row or
   * column, 1 the last): [startH, startW, endH, endW]. Default [0, 0, 1, 1].
   */
  roi?: readonly number[];
  /** tf_crop_and_resize: the value of outputs whose coordinate falls outside the input. Default 0. */
  extrapolationValue?: number;
  /**
   * [scaleH, scaleW] as the model gave them (the coordinate transform divides
   * by these, not by out/in). Default outH/h, outW/w.
   */
  scales?: readonly number[];
}

/** Names of the key slots after the family slot. */
export const RESIZE_KEY_FIELDS = [
  "mode",
  "coordinates",
  "nearest",
  "planes",
  "h",
  "w",
  "outH",
  "outW",
  "scaleH",
  "scaleW",
  "cubicA",
  "excludeOutside",
  "antialias",
  "roiStartH",
  "roiStartW",
  "roiEndH",
  "roiEndW",
  "extrapolation",
] as const;

const W = "resize";
const DEFAULT_ROI: readonly number[] = [0, 0, 1, 1];

function choice<T extends string>(
  name: string,
  v: unknown,
  names: readonly T[],
  fallback: T,
): number {
  if (v === undefined) return names.indexOf(fallback);
  const i = names.indexOf(v as T);
  if (i < 0) {
    fail(
      W,
      `${name} must be one of ${names.map((n) => `"${n}"`).join(", ")}, got ${describe(v)}`,
      typeof v === "string" ? "range" : "type",
    );
  }
  return i;
}

function positive(name: string, v: unknown): number {
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    fail(
      W,
      `${name} must be a positive finite number, got ${describe(v)}`,
      typeof v === "number" ? "range" : "type",
    );
  }
  return v;
}

function finite(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    fail(
      W,
      `${name} must be a finite number, got ${describe(v)}`,
      typeof v === "number" ? "range" : "type",
    );
  }
  return v;
}

/** Checks a resize call (x, y known Float32Arrays); writes key slots 1..18 and the extents. */
export function readResize(
  x: Float32Array,
  y: Float32Array,
  o: ResizeOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions(W, o, "n, c, h, w, outH and outW");
  const n = readInt(W, "n", o.n, 1, MAX_CONV_DIMENSION);
  const c = readInt(W, "c", o.c, 1, MAX_CONV_DIMENSION);
  const h = readInt(W, "h", o.h, 1, MAX_CONV_DIMENSION);
  const w = readInt(W, "w", o.w, 1, MAX_CONV_DIMENSION);
  const oh = readInt(W, "outH", o.outH, 1, MAX_CONV_DIMENSION);
  const ow = readInt(W, "outW", o.outW, 1, MAX_CONV_DIMENSION);
  key[1] = choice("mode", o.mode, RESIZE_MODES, "nearest");
  key[2] = choice(
    "coordinateTransformationMode",
    o.coordinateTransformationMode,
    COORDINATE_MODES,
    "half_pixel",
  );
  key[3] = choice("nearestMode", o.nearestMode, NEAREST_MODES, "round_prefer_floor");
  const planes = n * c;
  if (h * w > MAX_CONV_PLANE || oh * ow > MAX_CONV_PLANE || h * ow > MAX_CONV_PLANE) {
    fail(W, `planes of ${h}×${w} in or ${oh}×${ow} out exceed ${MAX_CONV_PLANE} elements`, "range");
  }
  if (planes * h * w > MAX_CONV_TENSOR || planes * oh * ow > MAX_CONV_TENSOR) {
    fail(W, "tensors beyond 2^31 − 1 elements are not supported", "range");
  }
  const lx = viewLength(x), ly = viewLength(y);
  if (lx !== planes * h * w) {
    fail(
      W,
      `x has ${lx} elements but n×c×h×w = ${n}×${c}×${h}×${w} needs ${planes * h * w}`,
      "range",
    );
  }
  if (ly !== planes * oh * ow) {
    fail(
      W,
      `y has ${ly} elements but n×c×outH×outW = ${n}×${c}×${oh}×${ow} needs ${planes * oh * ow}`,
      "range",
    );
  }
  let sh = oh / h, sw = ow / w;
  const scales = o.scales;
  if (scales !== undefined) {
    if (!Array.isArray(scales) || scales.length !== 2) {
      fail(W, `scales must be an array [scaleH, scaleW], got ${describe(scales)}`, "type");
    }
    sh = positive("scales[0]", scales[0]);
    sw = positive("scales[1]", scales[1]);
  }
  const a = finite("cubicCoeffA", o.cubicCoeffA ?? -0.75);
  const excludeOutside = readBool(W, "excludeOutside", o.excludeOutside);
  const antialias = readBool(W, "antialias", o.antialias);
  const roi = o.roi ?? DEFAULT_ROI;
  if (!Array.isArray(roi) || roi.length !== 4) {
    fail(W, `roi must be an array [startH, startW, endH, endW], got ${describe(roi)}`, "type");
  }
  for (let i = 0; i < 4; i++) key[14 + i] = f32Bits(finite(`roi[${i}]`, roi[i]));
  key[18] = f32Bits(finite("extrapolationValue", o.extrapolationValue ?? 0));
  // Options a call's mode leaves unused take their defaults in the key (every option is still
  // checked): one kernel for the calls that compute alike.
  const mode = RESIZE_MODES[key[1]], cubic = mode === "cubic";
  if (COORDINATE_MODES[key[2]] !== "tf_crop_and_resize") {
    for (let i = 0; i < 4; i++) key[14 + i] = f32Bits(DEFAULT_ROI[i]);
    key[18] = 0;
  }
  if (mode !== "nearest") key[3] = 0;
  key[4] = planes;
  key[5] = h;
  key[6] = w;
  key[7] = oh;
  key[8] = ow;
  key[9] = f32Bits(sh);
  key[10] = f32Bits(sw);
  // cubicCoeffA shapes cubic's weights only; exclude_outside cubic's and antialiased windows'.
  key[11] = f32Bits(cubic ? a : -0.75);
  key[12] = excludeOutside && (cubic || (antialias && mode === "linear")) ? 1 : 0;
  key[13] = antialias && mode !== "nearest" ? 1 : 0;
  extents[0] = 4 * lx;
  extents[1] = 4 * ly;
}

/** The spec a key describes. */
export function decodeResizeKey(key: Int32Array): ResizeSpec {
  return {
    mode: RESIZE_MODES[key[1]],
    coordinates: COORDINATE_MODES[key[2]],
    nearest: NEAREST_MODES[key[3]],
    planes: key[4],
    h: key[5],
    w: key[6],
    oh: key[7],
    ow: key[8],
    scaleH: fromF32Bits(key[9]),
    scaleW: fromF32Bits(key[10]),
    cubicA: fromF32Bits(key[11]),
    excludeOutside: key[12] === 1,
    antialias: key[13] === 1,
    roi: [fromF32Bits(key[14]), fromF32Bits(key[15]), fromF32Bits(key[16]), fromF32Bits(key[17])],
    extrapolation: fromF32Bits(key[18]),
    band: null,
  };
}
