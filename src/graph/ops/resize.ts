/**
 * Resize (opsets 10-19+) and Upsample (7-9) on the resize family: the
 * axes that change must be the last two (any rank; the leading axes are
 * the kernel's planes), the scales or sizes given for every axis or, from
 * opset 18, for `axes`; sizes may keep the aspect ratio
 * (`keep_aspect_ratio_policy`); `antialias` widens linear and cubic
 * filters on a shrinking axis; tf_crop_and_resize reads `roi` and gives
 * `extrapolation_value` outside the input. Output sizes and the scales the
 * transform divides by are ONNX Runtime 1.30's, in float32 where it
 * computes them so.
 */
import {
  COORDINATE_MODES,
  type CoordinateMode,
  type NearestMode,
  RESIZE_MODES,
  type ResizeMode,
  type ResizeOptions,
} from "../../kernels/resize/mod.ts";
import type { Node } from "../ir.ts";
import {
  expectType,
  fail,
  knownInts,
  knownNumbers,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
} from "./op.ts";

/** A resize as its kernel call sees it: output dims, and the scales of every axis. */
interface ResizePlan {
  dims: number[];
  /** Per axis, what the coordinate transform divides by. */
  scales: number[];
  /** tf_crop_and_resize: per axis, the region's normalized start and end. */
  starts: number[];
  ends: number[];
}

/** The axes the scales or sizes are for: `axes` (opset 18+, negatives counted from the end), else all. */
function resizeAxes(n: Node, rank: number): number[] {
  const given = n.opset >= 18 ? n.attrs.ints("axes") : null;
  if (given === null) return Array.from({ length: rank }, (_, i) => i);
  const axes = given.map((a) => (a < 0 ? a + rank : a));
  for (const [i, a] of axes.entries()) {
    if (!(a >= 0 && a < rank)) fail(n, `axes[${i}] = ${given[i]} is outside rank ${rank}`);
    if (axes.indexOf(a) !== i) fail(n, `axes repeats axis ${given[i]}`);
  }
  return axes;
}

function resizePlan(n: Node, ins: readonly (Meta | null)[]): ResizePlan {
  const x = ins[0]!, rank = x.dims.length, f = Math.fround;
  if (rank < 1) fail(n, "X must have rank ≥ 1");
  const axes = resizeAxes(n, rank);
  const scaleIn = n.opset < 11 ? ins[1] : ins[2], sizeIn = n.opset < 11 ? null : ins[3];
  const dims = x.dims.slice(), scales = x.dims.map(() => 1);
  const givenFor = (values: number[], what: string) => {
    if (values.length !== axes.length) {
      fail(n, `${what} has ${values.length} values, expected ${axes.length}`);
    }
  };
  if (sizeIn && sizeIn.dims[0] !== 0) {
    if (scaleIn && sizeOf(scaleIn.dims) !== 0) fail(n, "scales and sizes are both given");
    const sizes = knownInts(n, sizeIn, "sizes");
    givenFor(sizes, "sizes");
    axes.forEach((a, i) => {
      dims[a] = sizes[i];
      // float(out) / float(in), as ONNX Runtime divides (exact in f64, then rounded once).
      scales[a] = f(sizes[i] / x.dims[a]);
    });
    const policy = n.opset >= 18
      ? n.attrs.string("keep_aspect_ratio_policy", "stretch")
      : "stretch";
    if (policy === "not_larger" || policy === "not_smaller") {
      // One scale for every axis given, the smallest (largest) of theirs; sizes round half up.
      const pickScale = policy === "not_larger" ? Math.min : Math.max;
      const scale = axes.map((a) => scales[a]).reduce((s, v) => pickScale(s, v));
      for (const a of axes) {
        scales[a] = scale;
        dims[a] = Math.round(f(scale * x.dims[a]));
      }
    } else if (policy !== "stretch") {
      fail(n, `keep_aspect_ratio_policy '${policy}' is not supported`);
    }
  } else if (scaleIn && sizeOf(scaleIn.dims) !== 0) {
    const given = knownNumbers(n, scaleIn, "scales");
    givenFor(given, "scales");
    axes.forEach((a, i) => {
      if (!(given[i] > 0) || !Number.isFinite(given[i])) {
        fail(n, `scales[${i}] = ${given[i]} must be a positive finite number`);
      }
      scales[a] = f(given[i]);
      // ONNX Runtime: the float product, truncated.
      dims[a] = Math.trunc(f(scales[a] * x.dims[a]));
    });
  } else return fail(n, "needs scales or sizes");
  for (let a = 0; a < rank - 2; a++) {
    if (dims[a] !== x.dims[a] || scales[a] !== 1) {
      fail(n, `axis ${a} is resized (scale ${scales[a]}): only the last two axes may be`);
    }
  }
  if (dims.some((d) => d <= 0)) fail(n, `output size [${dims.join(", ")}] is empty`);
  const starts = x.dims.map(() => 0), ends = x.dims.map(() => 1);
  const crop = n.opset >= 11 &&
    n.attrs.string("coordinate_transformation_mode", "half_pixel") === "tf_crop_and_resize";
  if (crop) {
    // roi: the starts, then the ends, of every axis (from opset 18, of `axes`).
    const roi = ins[1] ? knownNumbers(n, ins[1], "roi") : [];
    if (roi.length !== 2 * axes.length) {
      fail(n, `roi has ${roi.length} values, expected ${2 * axes.length} (tf_crop_and_resize)`);
    }
    const bad = roi.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(n, `roi[${bad}] = ${roi[bad]} is not a finite number`);
    axes.forEach((a, i) => {
      starts[a] = f(roi[i]);
      ends[a] = f(roi[axes.length + i]);
    });
    for (let a = 0; a < rank - 2; a++) {
      if (starts[a] !== 0 || ends[a] !== 1) {
        fail(n, `axis ${a} is cropped by roi: only the last two axes may be`);
      }
    }
  }
  return { dims, scales, starts, ends };
}

/** The kernel's view: leading axes as planes, the last two as h × w (a 1-D input is one row). */
function resizeCall(
  x: Meta,
  p: ResizePlan,
): Pick<ResizeOptions, "n" | "c" | "h" | "w" | "outH" | "outW" | "scales" | "roi"> {
  const r = x.dims.length, planes = sizeOf(x.dims.slice(0, Math.max(0, r - 2)));
  const two = r >= 2;
  return {
    n: 1,
    c: planes,
    h: two ? x.dims[r - 2] : 1,
    w: x.dims[r - 1],
    outH: two ? p.dims[r - 2] : 1,
    outW: p.dims[r - 1],
    scales: [two ? p.scales[r - 2] : 1, p.scales[r - 1]],
    roi: [two ? p.starts[r - 2] : 0, p.starts[r - 1], two ? p.ends[r - 2] : 1, p.ends[r - 1]],
  };
}

const RESIZE: OpDef = {
  attributes: [
    "coordinate_transformation_mode",
    "cubic_coeff_a",
    "exclude_outside",
    "extrapolation_value",
    "mode",
    "nearest_mode",
    "antialias",
    "axes",
    "keep_aspect_ratio_policy",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1, 4);
    expectType(n, x, 0, "float32");
    const mode = n.attrs.string("mode", "nearest");
    if (!RESIZE_MODES.includes(mode as ResizeMode)) fail(n, `mode '${mode}' is not supported`);
    const ct = n.attrs.string("coordinate_transformation_mode", "half_pixel");
    if (!COORDINATE_MODES.includes(ct as CoordinateMode)) {
      fail(n, `coordinate_transformation_mode '${ct}' is not supported`);
    }
    return [meta("float32", resizePlan(n, ins).dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], p = resizePlan(n, ins);
    if (p.dims.every((d, i) => d === x.dims[i])) {
      // An output of x's shape is x, whatever the scales, roi and mode: ONNX Runtime 1.30
      // copies it (upsample.cc BaseCompute), so a scale of 1.125 on 7 rows (7.875 → 7) with
      // tf_crop_and_resize's roi gives x, not the rows the roi maps to.
      const all = { dims: [sizeOf(x.dims)], xStrides: [1], yStrides: [1] };
      const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
      return { native: true, run: () => jit.copy(xd, yd, all) };
    }
    // Before opset 11: asymmetric coordinates, and nearest by Resize-10's rule ("simple").
    const old = n.opset < 11;
    const o: ResizeOptions = {
      ...resizeCall(x, p),
      mode: n.attrs.string("mode", "nearest") as ResizeMode,
      coordinateTransformationMode:
        (old
          ? "asymmetric"
          : n.attrs.string("coordinate_transformation_mode", "half_pixel")) as CoordinateMode,
      nearestMode:
        (old ? "simple" : n.attrs.string("nearest_mode", "round_prefer_floor")) as NearestMode,
      cubicCoeffA: n.attrs.float("cubic_coeff_a", -0.75),
      excludeOutside: n.attrs.int("exclude_outside", 0) !== 0,
      antialias: n.opset >= 18 && n.attrs.int("antialias", 0) !== 0,
      extrapolationValue: n.attrs.float("extrapolation_value", 0),
    };
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    return { native: true, run: () => jit.resize(xd, yd, o) };
  },
};

/** Upsample (opsets 7-9; Resize's ancestor): asymmetric coordinates, nearest rounds down. */
const UPSAMPLE: OpDef = {
  attributes: ["mode", "scales"],
  infer(n, ins) {
    const [x] = need(n, ins, 1, 2);
    expectType(n, x, 0, "float32");
    return [meta("float32", upsampleDims(n, ins))];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, dims = upsampleDims(n, ins), scales = upsampleScales(n, ins);
    const mode = n.attrs.string("mode", "nearest");
    const o: ResizeOptions = {
      n: x.dims[0],
      c: x.dims[1],
      h: x.dims[2],
      w: x.dims[3],
      outH: dims[2],
      outW: dims[3],
      mode: mode === "linear" || mode === "bilinear" ? "linear" : "nearest",
      coordinateTransformationMode: "asymmetric",
      nearestMode: "floor",
      scales: [scales[2], scales[3]],
    };
    const jit = env.jit, xd = x.data as Float32Array, yd = outs[0].data as Float32Array;
    return { native: true, run: () => jit.resize(xd, yd, o) };
  },
};

function upsampleScales(n: Node, ins: readonly (Meta | null)[]): number[] {
  const s = ins[1] ? knownNumbers(n, ins[1], "scales") : n.attrs.floats("scales");
  if (!s || s.length !== 4) fail(n, "scales must have 4 values (NCHW)");
  if (s[0] !== 1 || s[1] !== 1) fail(n, "only the last two axes may be scaled");
  return s;
}

function upsampleDims(n: Node, ins: readonly (Meta | null)[]): number[] {
  const x = ins[0]!;
  if (x.dims.length !== 4) fail(n, "X must be 4-D (NCHW)");
  const mode = n.attrs.string("mode", "nearest");
  if (!["nearest", "linear", "bilinear"].includes(mode)) fail(n, `mode '${mode}' is not supported`);
  const s = upsampleScales(n, ins);
  return x.dims.map((d, i) => Math.floor(d * s[i]));
}

/** The resize op definitions by ONNX name. */
export const RESIZE_OPS: Record<string, OpDef> = { Resize: RESIZE, Upsample: UPSAMPLE };
