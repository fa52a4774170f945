/**
 * A resize's interpolation as two separable tables: for each output row
 * (column), the input rows (columns) it reads and their weights, from
 * ONNX's coordinate transforms as ONNX Runtime computes them (in float32),
 * antialiased windows included; and which pass goes first.
 *
 * @module
 */
import type { ResizeSpec } from "./spec.ts";

/** One axis's taps: for each output index, `taps` input indices and weights. */
export interface AxisTable {
  taps: number;
  index: Int32Array;
  weight: Float32Array;
  /** tf_crop_and_resize: the outputs whose coordinate is outside the input (they take the extrapolation value), else null. */
  outside: Uint8Array | null;
}

/**
 * The input coordinate of output index `o` along an axis (ONNX's transforms),
 * in float32 arithmetic as ONNX Runtime computes it: a coordinate that is an
 * integer in exact arithmetic may round either way, and nearest's floor and
 * ceil follow that (10 → 2 rows asymmetric: 1 / 0.2f is 5 in float32,
 * 4.99999992 in float64, a row apart). half_pixel_symmetric's last steps
 * are in float64 there (its literals are doubles), and so here.
 */
function source(
  s: ResizeSpec,
  axis: "h" | "w",
  o: number,
  inLen: number,
  outLen: number,
  scale: number,
): number {
  const f = Math.fround;
  // An axis of scale 1 maps each output to the same input index, whatever the transform (ONNX
  // Runtime's shortcut: tf_crop_and_resize's roi and tf_half_pixel_for_nn's half do not apply).
  if (scale === 1) return o;
  switch (s.coordinates) {
    case "half_pixel":
      return f(f(f(o + 0.5) / scale) - 0.5);
    case "pytorch_half_pixel":
      return outLen > 1 ? f(f(f(o + 0.5) / scale) - 0.5) : 0;
    case "align_corners":
      return outLen === 1 ? 0 : f(f(o * (inLen - 1)) / (outLen - 1));
    case "asymmetric":
      return f(o / scale);
    case "tf_half_pixel_for_nn":
      return f(f(o + 0.5) / scale);
    case "half_pixel_symmetric": {
      const adjustment = f(outLen / f(scale * inLen));
      const offset = f(f(inLen / 2) * f(1 - adjustment));
      return f(offset + (o + 0.5) / scale - 0.5);
    }
    case "tf_crop_and_resize": {
      const start = s.roi[axis === "h" ? 0 : 1], end = s.roi[axis === "h" ? 2 : 3];
      if (outLen === 1) return f(0.5 * f(start + end) * (inLen - 1));
      return f(f(start * (inLen - 1)) + f(f(f(o * f(end - start)) * (inLen - 1)) / (outLen - 1)));
    }
  }
}

/** tf_crop_and_resize: which outputs of an axis fall outside the input (null for other transforms). */
function outsideOf(s: ResizeSpec, axis: "h" | "w"): Uint8Array | null {
  if (s.coordinates !== "tf_crop_and_resize") return null;
  const inLen = axis === "h" ? s.h : s.w, outLen = axis === "h" ? s.oh : s.ow;
  const scale = axis === "h" ? s.scaleH : s.scaleW, out = new Uint8Array(outLen);
  for (let o = 0; o < outLen; o++) {
    const x = source(s, axis, o, inLen, outLen, scale);
    out[o] = x < 0 || x > inLen - 1 ? 1 : 0;
  }
  return out;
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

function nearestIndex(s: ResizeSpec, x: number, scale: number): number {
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
    case "simple":
      return scale < 1 ? Math.ceil(x) : Math.trunc(x);
  }
}

/** Cubic convolution weight (Keys) of distance d with coefficient A. */
function cubic(d: number, A: number): number {
  const t = Math.abs(d);
  if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  return 0;
}

/** The antialiasing filters in float32, as ONNX Runtime evaluates them (Pillow's). */
function filter(s: ResizeSpec, x: number): number {
  const f = Math.fround, t = Math.abs(x), A = s.cubicA;
  if (s.mode === "linear") return t < 1 ? f(1 - t) : 0;
  if (t < 1) return f(f(f(f(f(f(A + 2) * t) - f(A + 3)) * t) * t) + 1);
  if (t < 2) return f(f(f(f(f(f(t - 5) * t) + 8) * t) - 4) * A);
  return 0;
}

/**
 * Taps per output of an axis: nearest 1, linear 2, cubic 4; antialiased,
 * ONNX Runtime's window: the filter's support (linear 1, cubic 2) stretched
 * by in/out where the axis shrinks, both sides, and one more.
 */
export function axisTaps(s: ResizeSpec, axis: "h" | "w"): number {
  if (s.mode === "nearest") return 1;
  if (!s.antialias) return s.mode === "linear" ? 2 : 4;
  const f = Math.fround, inverse = f(1 / (axis === "h" ? s.scaleH : s.scaleW));
  const half = s.mode === "linear" ? 1 : 2;
  const support = inverse >= 1 ? f(half * inverse) : half;
  return Math.ceil(support) * 2 + 1;
}

/**
 * The antialiased table of one axis, as ONNX Runtime builds it: each
 * output's window around its centre, the filter's weights over it, those
 * of taps outside the input added to the edge's (or, exclude_outside,
 * dropped), all divided by their sum; the window's unused taps weigh 0.
 */
function antialiasTable(s: ResizeSpec, axis: "h" | "w", taps: number): AxisTable {
  const f = Math.fround;
  const inLen = axis === "h" ? s.h : s.w, outLen = axis === "h" ? s.oh : s.ow;
  const scale = axis === "h" ? s.scaleH : s.scaleW, inverse = f(1 / scale);
  const half = s.mode === "linear" ? 1 : 2;
  const support = inverse >= 1 ? f(half * inverse) : half;
  const stretch = inverse >= 1 ? f(1 / inverse) : 1;
  const index = new Int32Array(outLen * taps), weight = new Float32Array(outLen * taps);
  const w = new Float32Array(taps);
  // An axis of unchanged length is copied (ONNX Runtime's passes skip it, whatever its scale).
  if (inLen === outLen) {
    for (let o = 0; o < outLen; o++) {
      index.fill(o, o * taps, (o + 1) * taps);
      weight[o * taps] = 1;
    }
    return { taps, index, weight, outside: outsideOf(s, axis) };
  }
  for (let o = 0; o < outLen; o++) {
    const centre = f(0.5 + (inverse === 1 ? o : source(s, axis, o, inLen, outLen, scale)));
    const lo = Math.floor(f(f(centre - support) + 0.5));
    const hi = lo + Math.min(Math.max(Math.floor(f(f(centre + support) + 0.5)) - lo, 0), taps);
    const loCut = Math.min(Math.max(lo, 0), inLen), hiCut = Math.min(Math.max(hi, 0), inLen);
    const first = s.excludeOutside ? loCut : lo, n = (s.excludeOutside ? hiCut : hi) - first;
    w.fill(0);
    let total = 0;
    for (let x = 0; x < n; x++) {
      w[x] = filter(s, f(f(f(f(x + first) - centre) + 0.5) * stretch));
      total = f(total + w[x]);
    }
    if (!s.excludeOutside && loCut < hiCut) {
      // Taps before the input go to its first column, those past it to its last.
      const before = Math.min(Math.max(-first, 0), n - 1);
      for (let x = 0; x < before; x++) w[before] = f(w[before] + w[x]);
      const after = Math.min(Math.max(n + first - inLen, 0), n - 1);
      for (let x = n - after; x < n; x++) w[n - after - 1] = f(w[n - after - 1] + w[x]);
      if (before > 0 || after > 0) { for (let x = 0; x < hiCut - loCut; x++) w[x] = w[x + before]; }
    }
    const scaleBy = total === 0 ? 1 : f(1 / total);
    for (let x = 0; x < taps; x++) {
      const inside = x < hiCut - loCut;
      index[o * taps + x] = inside ? loCut + x : Math.min(Math.max(loCut, 0), inLen - 1);
      weight[o * taps + x] = inside ? f(w[x] * scaleBy) : 0;
    }
  }
  return { taps, index, weight, outside: outsideOf(s, axis) };
}

/**
 * Whether the vertical pass goes first (x's rows to oh rows of w, then each
 * through the column table) rather than the horizontal one (each of x's h
 * rows through the column table, then oh rows of ow): the cheaper, by the
 * taps each does, a horizontal tap costing a vector's worth (its pass runs
 * element by element where permutes do not reach: an antialiased or steep
 * downscale). Decided by the shape alone, so the order of the sums, and the
 * bits, are the shape's. Antialiased 512² → 224² (windows of 7 taps): the
 * horizontal pass on 224 rows instead of 512.
 */
export function verticalFirst(s: ResizeSpec): boolean {
  const tw = axisTaps(s, "w"), th = axisTaps(s, "h"), HORIZONTAL = 8;
  const rowsFirst = s.oh * (s.w * th + s.ow * tw * HORIZONTAL);
  const columnsFirst = s.h * s.ow * tw * HORIZONTAL + s.oh * s.ow * th;
  return rowsFirst < columnsFirst;
}

/** The table of one axis; indices clamped to the input (edges repeat, as ONNX Runtime). */
export function axisTable(s: ResizeSpec, axis: "h" | "w"): AxisTable {
  const taps = axisTaps(s, axis);
  if (s.antialias && s.mode !== "nearest") return antialiasTable(s, axis, taps);
  const inLen = axis === "h" ? s.h : s.w, outLen = axis === "h" ? s.oh : s.ow;
  const scale = axis === "h" ? s.scaleH : s.scaleW;
  const index = new Int32Array(outLen * taps), weight = new Float32Array(outLen * taps);
  const clamp = (i: number) => Math.min(inLen - 1, Math.max(0, i));
  for (let o = 0; o < outLen; o++) {
    const x = source(s, axis, o, inLen, outLen, scale);
    if (s.mode === "nearest") {
      index[o] = clamp(nearestIndex(s, x, scale));
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
    // exclude_outside: the taps outside the input weigh 0, the others scaled to sum to 1.
    let inside = 0;
    for (let k = 0; k < 4; k++) {
      const at = x0 - 1 + k, wk = cubic(f - (k - 1), s.cubicA);
      const out = s.excludeOutside && (at < 0 || at >= inLen);
      index[4 * o + k] = clamp(at);
      weight[4 * o + k] = out ? 0 : wk;
      if (!out) inside += wk;
    }
    if (s.excludeOutside && inside !== 0) {
      for (let k = 0; k < 4; k++) weight[4 * o + k] /= inside;
    }
  }
  return { taps, index, weight, outside: outsideOf(s, axis) };
}

/** Output rows a call (or its band) computes. */
export function bandRows(s: ResizeSpec): number {
  return s.band?.rows ?? s.oh;
}

/** The row table of a call's band: its output rows' taps, weights and extrapolation marks. */
export function bandTable(s: ResizeSpec): AxisTable {
  const t = axisTable(s, "h");
  if (s.band === null) return t;
  const from = s.band.start, to = from + s.band.rows;
  return {
    taps: t.taps,
    index: t.index.subarray(from * t.taps, to * t.taps),
    weight: t.weight.subarray(from * t.taps, to * t.taps),
    outside: t.outside?.subarray(from, to) ?? null,
  };
}

/** The table as bytes: per output index, `taps` × (byte offset i32 = index·stride, weight f32). */
export function tableBytes(t: AxisTable, stride: number): Uint8Array {
  const out = new Uint8Array(t.index.length * 8), view = new DataView(out.buffer);
  for (let i = 0; i < t.index.length; i++) {
    view.setInt32(8 * i, t.index[i] * stride, true);
    view.setFloat32(8 * i + 4, t.weight[i], true);
  }
  return out;
}
