/**
 * What one resize call is (ONNX Resize on the last two axes of NCHW), and
 * its interpolation as two separable tables: for each output row (column),
 * the input rows (columns) it reads and their weights, computed here once
 * per key from ONNX's coordinate transforms.
 *
 * @module
 */

/** Interpolation: ONNX Resize's mode. */
export type ResizeMode = "nearest" | "linear" | "cubic";
/** ONNX coordinate_transformation_mode values supported. */
export type CoordinateMode = "half_pixel" | "asymmetric" | "align_corners" | "pytorch_half_pixel";
/** ONNX nearest_mode values. */
export type NearestMode = "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil";

/** Interpolation modes, by key value. */
export const RESIZE_MODES: readonly ResizeMode[] = ["nearest", "linear", "cubic"];
/** Coordinate transforms, by key value. */
export const COORDINATE_MODES: readonly CoordinateMode[] = [
  "half_pixel",
  "asymmetric",
  "align_corners",
  "pytorch_half_pixel",
];
/** Nearest modes, by key value. */
export const NEAREST_MODES: readonly NearestMode[] = [
  "round_prefer_floor",
  "round_prefer_ceil",
  "floor",
  "ceil",
];

/** A decoded resize key. */
export interface ResizeSpec {
  mode: ResizeMode;
  coordinates: CoordinateMode;
  nearest: NearestMode;
  /** Planes (n·c), input and output sizes. */
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  /** The scales the coordinate transform divides by (out/in unless given). */
  scaleH: number;
  scaleW: number;
  /** Cubic's coefficient A (ONNX default −0.75). */
  cubicA: number;
}

/** Argument block slots. */
export const RESIZE_ARG = { X: 0, Y: 1 } as const;

/** One axis's taps: for each output index, `taps` input indices and weights. */
export interface AxisTable {
  taps: number;
  index: Int32Array;
  weight: Float32Array;
}

/**
 * The input coordinate of output index `o` along an axis (ONNX's transforms),
 * in float32 arithmetic as ONNX Runtime computes it: a coordinate that is an
 * integer in exact arithmetic may round either way, and nearest's floor and
 * ceil follow that (10 → 2 rows asymmetric: 1 / 0.2f is 5 in float32,
 * 4.99999992 in float64, a row apart).
 */
function source(s: ResizeSpec, o: number, inLen: number, outLen: number, scale: number): number {
  const f = Math.fround;
  switch (s.coordinates) {
    case "half_pixel":
      return f(f(f(o + 0.5) / scale) - 0.5);
    case "pytorch_half_pixel":
      return outLen > 1 ? f(f(f(o + 0.5) / scale) - 0.5) : 0;
    case "align_corners":
      return outLen === 1 ? 0 : f(f(o * (inLen - 1)) / (outLen - 1));
    case "asymmetric":
      return f(o / scale);
  }
}

/**
 * A coordinate this close to halfway between two indices (|fraction − ½| ≤
 * 1e-6, in float32) is a tie for the round_prefer modes: ONNX Runtime 1.30's
 * rule. Its float32 coordinates land an ulp or two off a tie that exact
 * arithmetic makes (13 → 28 asymmetric, output 14: 14 / (28/13) is
 * 6.4999995 in float32, exactly 6.5), and it rounds those as the tie
 * (`tools/resize_sweep.ts --in 40 --out 64`: 176 of 1,331,200 output
 * indices apart before, none with it). A seeded graph of the fuzzer (seed
 * 961305 of `tools/fuzz/main.ts graph`) found it.
 */
const TIE = Math.fround(1e-6);

function nearestIndex(s: ResizeSpec, x: number): number {
  const below = Math.floor(x);
  const tie = Math.abs(Math.fround(Math.fround(x - below) - 0.5)) <= TIE;
  switch (s.nearest) {
    case "round_prefer_floor":
      return tie ? below : Math.round(x);
    case "round_prefer_ceil":
      return tie ? below + 1 : Math.round(x);
    case "floor":
      return Math.floor(x);
    case "ceil":
      return Math.ceil(x);
  }
}

/** Cubic convolution weight (Keys) of distance d with coefficient A. */
function cubic(d: number, A: number): number {
  const t = Math.abs(d);
  if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  return 0;
}

/** The table of one axis; indices clamped to the input (edges repeat, as ONNX Runtime). */
export function axisTable(s: ResizeSpec, axis: "h" | "w"): AxisTable {
  const inLen = axis === "h" ? s.h : s.w, outLen = axis === "h" ? s.oh : s.ow;
  const scale = axis === "h" ? s.scaleH : s.scaleW;
  const taps = s.mode === "nearest" ? 1 : s.mode === "linear" ? 2 : 4;
  const index = new Int32Array(outLen * taps), weight = new Float32Array(outLen * taps);
  const clamp = (i: number) => Math.min(inLen - 1, Math.max(0, i));
  for (let o = 0; o < outLen; o++) {
    const x = source(s, o, inLen, outLen, scale);
    if (s.mode === "nearest") {
      index[o] = clamp(nearestIndex(s, x));
      weight[o] = 1;
      continue;
    }
    if (s.mode === "linear") {
      const c = Math.min(Math.max(x, 0), inLen - 1), x0 = Math.floor(c), f = c - x0;
      index[2 * o] = x0;
      index[2 * o + 1] = clamp(x0 + 1);
      weight[2 * o] = 1 - f;
      weight[2 * o + 1] = f;
      continue;
    }
    const x0 = Math.floor(x), f = x - x0;
    for (let k = 0; k < 4; k++) {
      index[4 * o + k] = clamp(x0 - 1 + k);
      weight[4 * o + k] = cubic(f - (k - 1), s.cubicA);
    }
  }
  return { taps, index, weight };
}

/** The spec as text. */
export function describeResize(s: ResizeSpec): string {
  const extra = s.mode === "nearest" ? ` ${s.nearest}` : s.mode === "cubic" ? ` A=${s.cubicA}` : "";
  return `resize ${s.mode} ${s.planes}×${s.h}×${s.w} → ${s.oh}×${s.ow} ${s.coordinates}${extra}`;
}
