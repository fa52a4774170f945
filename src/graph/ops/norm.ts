/**
 * Row-wise ops: Softmax and LogSoftmax (opset < 13 coerces to 2-D at axis;
 * from 13 one axis), LayerNormalization (fused form: with a residual added
 * first), and the Reduce ops (axes as attribute or input by opset). The last
 * axes run on the Jit's families; other axes by a TS loop.
 */
import { integerRange } from "../../onnx/dtype.ts";
import type { NormOptions } from "../../kernels/norm/mod.ts";
import type { ReduceOp } from "../../kernels/reduce/mod.ts";
import type { Node } from "../ir.ts";
import {
  askedOutput,
  axisOf,
  broadcast,
  type Buf,
  expectType,
  fail,
  knownInts,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";

/** Softmax over an inner axis: rows × axis × inner, by a TS loop (f32 results). */
function softmaxInner(
  x: Float32Array,
  y: Float32Array,
  outer: number,
  d: number,
  inner: number,
  log: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * d * inner + i;
      let max = -Infinity;
      for (let k = 0; k < d; k++) max = Math.max(max, x[base + k * inner]);
      let sum = 0;
      for (let k = 0; k < d; k++) sum += Math.exp(x[base + k * inner] - max);
      for (let k = 0; k < d; k++) {
        const v = x[base + k * inner] - max;
        y[base + k * inner] = log ? v - Math.log(sum) : Math.exp(v) / sum;
      }
    }
  }
}

function softmaxDef(log: boolean): OpDef {
  return {
    attributes: ["axis"],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32");
      axisOf(n, n.attrs.int("axis", n.opset < 13 ? 1 : -1), Math.max(x.dims.length, 1));
      return [meta("float32", x.dims)];
    },
    inPlace: () => true,
    build(n, ins, outs, env) {
      const x = ins[0]!, y = outs[0], r = Math.max(x.dims.length, 1);
      const axis = axisOf(n, n.attrs.int("axis", n.opset < 13 ? 1 : -1), r);
      const xd = x.data as Float32Array, yd = y.data as Float32Array, jit = env.jit;
      const outer = sizeOf(x.dims.slice(0, axis));
      if (n.opset < 13 || axis === r - 1) {
        const o = { rows: outer, cols: sizeOf(x.dims.slice(axis)), log };
        return { native: true, run: () => jit.softmax(xd, yd, o) };
      }
      const d = x.dims[axis], inner = sizeOf(x.dims.slice(axis + 1));
      return { native: false, run: () => softmaxInner(xd, yd, outer, d, inner, log) };
    },
  };
}

/** LayerNormalization; the fused form (domain njit) takes a residual as input 3. */
export const LAYER_NORM: OpDef = {
  attributes: ["axis", "epsilon", "stash_type"],
  infer(n, ins) {
    const xs = need(n, ins, 2, n.domain === "njit" ? 4 : 3);
    xs.forEach((m, i) => m && expectType(n, m, i, "float32"));
    const x = xs[0], axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const cols = sizeOf(x.dims.slice(axis));
    if (sizeOf(xs[1].dims) !== cols) {
      fail(n, `Scale must have ${cols} elements (X's dims from axis ${axis})`);
    }
    if (xs[2] && sizeOf(xs[2].dims) !== cols) fail(n, `B must have ${cols} elements`);
    if (xs[3] && broadcast(n, x.dims, xs[3].dims).join() !== x.dims.join()) {
      fail(n, "the residual would change X's shape");
    }
    // Mean and InvStdDev (training's outputs): a row's statistics, X's dims up to axis.
    const stats = x.dims.map((d, i) => (i < axis ? d : 1));
    return [meta("float32", x.dims), meta("float32", stats), meta("float32", stats)];
  },
  // The kernel reads a row (and its residual) before it writes it; a broadcast residual is
  // added into y first, which is x then.
  inPlace: () => true,
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const mean = askedOutput(outs, 1), invStd = askedOutput(outs, 2);
    const o: NormOptions = {
      rows: sizeOf(x.dims.slice(0, axis)),
      cols: sizeOf(x.dims.slice(axis)),
      scale: ins[1]!.data as Float32Array,
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    if (ins[2]) o.bias = ins[2].data as Float32Array;
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    const r = ins[3];
    // Mean and InvStdDev asked for: from the rows before the kernel writes y (x's storage,
    // in place), on the calling thread.
    const eps = o.epsilon!, asked = mean !== undefined || invStd !== undefined;
    const statistics = (rows: Float32Array, plus?: Float32Array) =>
      rowStatistics(rows, plus, o.rows, o.cols, eps, mean, invStd);
    if (!r || r.dims.join() === x.dims.join()) {
      const rd = r?.data as Float32Array | undefined;
      if (rd) o.residual = rd;
      if (asked) {
        return {
          native: false,
          run: () => {
            statistics(xd, rd);
            jit.layerNorm(xd, yd, o);
          },
        };
      }
      return { native: true, run: () => jit.layerNorm(xd, yd, o) };
    }
    // A broadcast residual (the fusion could not see shapes): add first, then normalize in place.
    const rd = r.data as Float32Array;
    return {
      native: !asked,
      run: () => {
        jit.binary("add", xd, x.dims, rd, r.dims, yd);
        if (asked) statistics(yd);
        jit.layerNorm(yd, yd, o);
      },
    };
  },
};

/**
 * LayerNormalization's Mean and InvStdDev of each row (of `x`, or of x + `plus` as float32
 * sums, as the fused residual adds them): the mean, and 1/√(variance + ε), the variance the
 * mean square of the row less its mean, in float64 rounded to float32 (ONNX's stash_type 1).
 */
function rowStatistics(
  x: Float32Array,
  plus: Float32Array | undefined,
  rows: number,
  cols: number,
  epsilon: number,
  mean: Float32Array | undefined,
  invStd: Float32Array | undefined,
): void {
  const at = (i: number) => (plus ? Math.fround(x[i] + plus[i]) : x[i]);
  for (let r = 0; r < rows; r++) {
    const from = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += at(from + c);
    const m = sum / cols;
    let squares = 0;
    for (let c = 0; c < cols; c++) {
      const d = at(from + c) - m;
      squares += d * d;
    }
    if (mean) mean[r] = m;
    if (invStd) invStd[r] = 1 / Math.sqrt(squares / cols + epsilon);
  }
}

/** RMSNormalization (opset 23): x/√(mean(x²) + ε)·scale over the axes from `axis`. */
export const RMS_NORM: OpDef = {
  attributes: ["axis", "epsilon", "stash_type"],
  infer(n, ins) {
    const [x, scale] = need(n, ins, 2);
    expectType(n, x, 0, "float32");
    expectType(n, scale, 1, "float32");
    const axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const cols = sizeOf(x.dims.slice(axis));
    if (sizeOf(scale.dims) !== cols) {
      fail(n, `scale must have ${cols} elements (X's dims from axis ${axis})`);
    }
    return [meta("float32", x.dims)];
  },
  inPlace: () => true,
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const o = {
      rows: sizeOf(x.dims.slice(0, axis)),
      cols: sizeOf(x.dims.slice(axis)),
      scale: ins[1]!.data as Float32Array,
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    return { native: true, run: () => jit.rmsNorm(xd, yd, o) };
  },
};

const REDUCE_OPS: Record<string, GraphReduceOp> = {
  ReduceProd: "prod",
  ReduceL1: "l1",
  ReduceLogSum: "logSum",
  ReduceMean: "mean",
  ReduceSum: "sum",
  ReduceMax: "max",
  ReduceMin: "min",
  ReduceSumSquare: "sumSquare",
  ReduceL2: "l2",
  ReduceLogSumExp: "logSumExp",
};

interface ReducePlan {
  dims: number[];
  /** Reduced axes, sorted. */
  axes: number[];
}

function reducePlan(n: Node, ins: readonly (Meta | null)[]): ReducePlan {
  const x = ins[0]!, r = x.dims.length;
  // Axes became an input in opset 13 for ReduceSum, 18 for the others.
  const fromInput = n.opset >= (n.op === "ReduceSum" ? 13 : 18);
  let axes: number[] | null;
  if (fromInput) {
    if (n.attrs.has("axes")) {
      fail(n, `axes is an input from opset ${n.op === "ReduceSum" ? 13 : 18}`);
    }
    axes = ins[1] && sizeOf(ins[1].dims) > 0 ? knownInts(n, ins[1], "axes") : null;
  } else axes = n.attrs.ints("axes");
  const keep = n.attrs.int("keepdims", 1) !== 0;
  if (axes === null || axes.length === 0) {
    if (fromInput && n.attrs.int("noop_with_empty_axes", 0) !== 0) {
      return { dims: x.dims.slice(), axes: [] };
    }
    axes = Array.from({ length: r }, (_, i) => i);
  }
  const set = [...new Set(axes.map((a) => axisOf(n, a, r, "axes")))].sort((a, b) => a - b);
  const dims: number[] = [];
  for (let i = 0; i < r; i++) {
    if (!set.includes(i)) dims.push(x.dims[i]);
    else if (keep) dims.push(1);
  }
  return { dims, axes: set };
}

/** The reductions of the graph: the kernel family's, and three computed here only. */
type GraphReduceOp = ReduceOp | "prod" | "l1" | "logSum";

function reduceValue(op: GraphReduceOp, v: Float64Array | number[], count: number): number {
  let acc: number;
  switch (op) {
    case "prod":
      acc = 1;
      for (let i = 0; i < count; i++) acc *= v[i];
      return acc;
    case "l1":
      acc = 0;
      for (let i = 0; i < count; i++) acc += Math.abs(v[i]);
      return acc;
    case "logSum":
      acc = 0;
      for (let i = 0; i < count; i++) acc += v[i];
      return Math.log(acc);
    case "max":
    case "min": {
      acc = op === "max" ? -Infinity : Infinity;
      for (let i = 0; i < count; i++) {
        if (Number.isNaN(v[i])) return NaN;
        acc = op === "max" ? Math.max(acc, v[i]) : Math.min(acc, v[i]);
      }
      return acc;
    }
    case "logSumExp": {
      let m = -Infinity;
      for (let i = 0; i < count; i++) m = Math.max(m, v[i]);
      acc = 0;
      for (let i = 0; i < count; i++) acc += Math.exp(v[i] - m);
      return m + Math.log(acc);
    }
    default:
      acc = 0;
      for (let i = 0; i < count; i++) acc += op === "sumSquare" || op === "l2" ? v[i] * v[i] : v[i];
      return op === "mean" ? acc / count : op === "l2" ? Math.sqrt(acc) : acc;
  }
}

/** Reduction over any axes by a TS loop (f64 accumulation). */
function reduceAny(op: GraphReduceOp, x: Buf, y: Buf, axes: readonly number[]): () => void {
  const r = x.dims.length, xs = stridesOf(x.dims);
  const kept = Array.from({ length: r }, (_, i) => i).filter((i) => !axes.includes(i));
  const keptDims = kept.map((i) => x.dims[i]), redDims = axes.map((i) => x.dims[i]);
  const count = sizeOf(redDims), total = sizeOf(keptDims), buf = new Float64Array(count);
  const offsets = (dims: readonly number[], ids: readonly number[]) => {
    const out = new Int32Array(sizeOf(dims)), idx = new Array(dims.length).fill(0);
    for (let i = 0; i < out.length; i++) {
      let o = 0;
      for (let k = 0; k < dims.length; k++) o += idx[k] * xs[ids[k]];
      out[i] = o;
      for (let k = dims.length - 1; k >= 0; k--) {
        if (++idx[k] < dims[k]) break;
        idx[k] = 0;
      }
    }
    return out;
  };
  const outer = offsets(keptDims, kept), inner = offsets(redDims, axes);
  if (x.type === "int64") {
    // int64 in BigInt (sums, products and extremes: the ops infer lets through), exact and
    // wrapping as stored; the extremes of an empty set the type's least and greatest values.
    const xi = x.data as BigInt64Array, yi = y.data as BigInt64Array;
    const [least, greatest] = integerRange("int64") as [bigint, bigint];
    return () => {
      for (let i = 0; i < total; i++) {
        let v = op === "max" ? least : op === "min" ? greatest : op === "prod" ? 1n : 0n;
        for (let j = 0; j < count; j++) {
          const e = xi[outer[i] + inner[j]];
          v = op === "max"
            ? (e > v ? e : v)
            : op === "min"
            ? (e < v ? e : v)
            : op === "prod"
            ? BigInt.asIntN(64, v * e)
            : BigInt.asIntN(64, v + e);
        }
        yi[i] = v;
      }
    };
  }
  if (x.type === "int32") {
    // int32 (an attention mask's sum): exact as long as the sums stay within 2^53. The
    // extremes of an empty set: the type's least (max) or greatest (min) value, as ONNX's.
    const xi = x.data as Int32Array, yi = y.data as Int32Array;
    const [least, greatest] = integerRange(x.type)!, empty = op === "max" ? least : greatest;
    return () => {
      for (let i = 0; i < total; i++) {
        if (count === 0 && (op === "max" || op === "min")) {
          yi[i] = empty as number;
          continue;
        }
        for (let j = 0; j < count; j++) buf[j] = xi[outer[i] + inner[j]];
        yi[i] = Math.trunc(reduceValue(op, buf, count));
      }
    };
  }
  if (x.type === "bool") {
    // Any (max) and all (min); of an empty set false and true.
    const xb = x.data as Uint8Array, yb = y.data as Uint8Array;
    return () => {
      for (let i = 0; i < total; i++) {
        let v = op === "max" ? 0 : 1;
        for (let j = 0; j < count; j++) {
          const b = xb[outer[i] + inner[j]] !== 0 ? 1 : 0;
          v = op === "max" ? v | b : v & b;
        }
        yb[i] = v;
      }
    };
  }
  // float32 rounded once from the f64 result; float64 as it is.
  const xd = x.data as Float32Array | Float64Array, yd = y.data as Float32Array | Float64Array;
  return () => {
    for (let i = 0; i < total; i++) {
      for (let j = 0; j < count; j++) buf[j] = xd[outer[i] + inner[j]];
      yd[i] = reduceValue(op, buf, count);
    }
  };
}

/** What a reduction leaves of one element when noop_with_empty_axes keeps every axis. */
const NOOP_MAPS: Partial<Record<GraphReduceOp, (v: number) => number>> = {
  l1: Math.abs,
  l2: Math.abs,
  sumSquare: (v) => Math.fround(v * v),
  logSum: (v) => Math.fround(Math.log(v)),
};

function reduceDef(op: GraphReduceOp): OpDef {
  return {
    attributes: ["axes", "keepdims", "noop_with_empty_axes"],
    infer(n, ins) {
      const [x] = need(n, ins, 1, 2);
      // Integers for the sums, products and extremes (masks and shapes), by the float64 loop.
      const ints = op === "sum" || op === "prod" || op === "max" || op === "min";
      // bool for the extremes (opset 20: any and all).
      // float64 by the same loop, its values as they are.
      if (op === "max" || op === "min") {
        expectType(n, x, 0, "float32", "float64", "int64", "int32", "bool");
      } else if (ints) expectType(n, x, 0, "float32", "float64", "int64", "int32");
      else expectType(n, x, 0, "float32", "float64");
      const p = reducePlan(n, ins);
      return [meta(x.type, p.dims)];
    },
    build(n, ins, outs, env) {
      const x = ins[0]!, y = outs[0], p = reducePlan(n, ins), r = x.dims.length;
      if (x.type !== "float32") return { native: false, run: reduceAny(op, x, y, p.axes) };
      const xd = x.data as Float32Array, yd = y.data as Float32Array;
      if (p.axes.length === 0) {
        // noop_with_empty_axes: no reduction, each element through the op's own map, as
        // ONNX's reference and ONNX Runtime give it (|x| for L1 and L2, x² for SumSquare,
        // ln x for LogSum; x itself for the rest, LogSumExp's ln eˣ included).
        const f = NOOP_MAPS[op];
        if (!f) return { native: false, run: () => yd.set(xd) };
        return {
          native: false,
          run: () => {
            for (let i = 0; i < xd.length; i++) yd[i] = f(xd[i]);
          },
        };
      }
      const trailing = p.axes.every((a, i) => a === r - p.axes.length + i);
      // Any axes, or a reduction the family has no kernel for: the float64 loop.
      // (The extremes of an empty set, −∞ and +∞, by the loop too.)
      const emptyExtreme = (op === "max" || op === "min") && p.axes.some((a) => x.dims[a] === 0);
      if (!trailing || op === "prod" || op === "l1" || op === "logSum" || emptyExtreme) {
        return { native: false, run: reduceAny(op, x, y, p.axes) };
      }
      const o = {
        rows: sizeOf(x.dims.slice(0, r - p.axes.length)),
        cols: sizeOf(p.axes.map((a) => x.dims[a])),
      };
      const jit = env.jit;
      const kernelOp = op as ReduceOp;
      return { native: true, run: () => jit.reduce(kernelOp, xd, yd, o) };
    },
  };
}

/**
 * InstanceNormalization: each (image, channel) plane normalized (the
 * LayerNorm kernel with unit scale over rows of H·W), then the per-channel
 * scale and bias as broadcast multiply and add.
 */
const INSTANCE_NORM: OpDef = {
  attributes: ["epsilon"],
  infer(n, ins) {
    const [x, scale, bias] = need(n, ins, 3);
    [x, scale, bias].forEach((m, i) => expectType(n, m, i, "float32"));
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
    if (sizeOf(scale.dims) !== x.dims[1] || sizeOf(bias.dims) !== x.dims[1]) {
      fail(n, `scale and B must have ${x.dims[1]} elements`);
    }
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], c = x.dims[1], cols = sizeOf(x.dims.slice(2));
    const o: NormOptions = {
      rows: x.dims[0] * c,
      cols,
      scale: new Float32Array(cols).fill(1),
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    const perChannel = [1, c, 1];
    const xd = x.data as Float32Array, yd = y.data as Float32Array, yDims = [x.dims[0], c, cols];
    const sd = ins[1]!.data as Float32Array, bd = ins[2]!.data as Float32Array, jit = env.jit;
    return {
      native: true,
      run: () => {
        jit.layerNorm(xd, yd, o);
        jit.binary("mul", yd, yDims, sd, perChannel, yd);
        jit.binary("add", yd, yDims, bd, perChannel, yd);
      },
    };
  },
};

/**
 * GroupNormalization (opsets 18 and 21): the channels of each image in
 * `num_groups` groups, each group's (C/G)·H·W values normalized as one row
 * (the norm family, stable two-pass), then scaled and shifted per channel
 * (opset 21: scale and bias of C; opset 18: of G, each group's pair
 * spread over its channels).
 */
const GROUP_NORM: OpDef = {
  attributes: ["epsilon", "num_groups", "stash_type"],
  infer(n, ins) {
    const [x, scale, bias] = need(n, ins, 3);
    [x, scale, bias].forEach((m, i) => expectType(n, m, i, "float32"));
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
    const c = x.dims[1], g = n.attrs.int("num_groups", 0);
    if (!(g >= 1 && c % g === 0)) fail(n, `num_groups ${g} must divide the ${c} channels`);
    const per = n.opset < 21 ? g : c;
    if (sizeOf(scale.dims) !== per || sizeOf(bias.dims) !== per) {
      fail(n, `scale and bias must have ${per} elements (opset ${n.opset})`);
    }
    if (n.attrs.int("stash_type", 1) !== 1) fail(n, "stash_type must be 1 (float32)");
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], c = x.dims[1], g = n.attrs.int("num_groups", 0);
    const plane = sizeOf(x.dims.slice(2)), cols = (c / g) * plane;
    const o: NormOptions = {
      rows: x.dims[0] * g,
      cols,
      scale: new Float32Array(cols).fill(1),
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    // Per channel: opset 18's per-group pairs spread over their channels (each run when they
    // are computed: then the step runs here, not recorded).
    const spread = n.opset < 21;
    const perGroup = [ins[1]!, ins[2]!], fixed = perGroup.every((b) => b.constant);
    const perChannel = perGroup.map((b) => spread ? new Float32Array(c) : b.data as Float32Array);
    const fill = () => {
      for (let i = 0; i < 2; i++) {
        const t = perGroup[i].data as Float32Array;
        for (let ch = 0; ch < c; ch++) perChannel[i][ch] = t[Math.floor(ch / (c / g))];
      }
    };
    if (spread && fixed) fill();
    const [sd, bd] = perChannel;
    const xd = x.data as Float32Array, yd = y.data as Float32Array, yDims = [x.dims[0], c, plane];
    const jit = env.jit, channel = [1, c, 1];
    return {
      native: !spread || fixed,
      run: () => {
        if (spread && !fixed) fill();
        jit.layerNorm(xd, yd, o);
        jit.binary("mul", yd, yDims, sd, channel, yd);
        jit.binary("add", yd, yDims, bd, channel, yd);
      },
    };
  },
};

/** LpNormalization (p 1 or 2, along one axis): x over its norm, a TypeScript loop in float64. */
const LP_NORM: OpDef = {
  attributes: ["axis", "p"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    const p = n.attrs.int("p", 2);
    if (p !== 1 && p !== 2) fail(n, `p must be 1 or 2, got ${p}`);
    axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, xd = x.data as Float32Array, yd = outs[0].data as Float32Array;
    const axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length), p = n.attrs.int("p", 2);
    const outer = sizeOf(x.dims.slice(0, axis)), d = x.dims[axis];
    const inner = sizeOf(x.dims.slice(axis + 1));
    return {
      native: false,
      run: () => {
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let norm = 0;
            for (let k = 0; k < d; k++) {
              const v = xd[(o * d + k) * inner + i];
              norm += p === 1 ? Math.abs(v) : v * v;
            }
            if (p === 2) norm = Math.sqrt(norm);
            for (let k = 0; k < d; k++) {
              const at = (o * d + k) * inner + i;
              yd[at] = norm === 0 ? 0 : xd[at] / norm;
            }
          }
        }
      },
    };
  },
};

/**
 * LRN (local response normalization across channels, AlexNet and
 * GoogLeNet): y = x / (bias + alpha/size · Σ x²)^beta, the sum over the
 * `size` channels around each one. On the Jit: the squares, the window's
 * sum as the channel's own square then adds of channel-shifted slices (in
 * channel order), then the scale, shift, power and division, every view
 * made once at build.
 */
const LRN: OpDef = {
  attributes: ["alpha", "beta", "bias", "size"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3 (N, C, spatial...)");
    const size = n.attrs.int("size", 0);
    if (!(size >= 1)) fail(n, `size must be a positive integer, got ${size}`);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], jit = env.jit;
    const N = x.dims[0], C = x.dims[1], hw = sizeOf(x.dims.slice(2)), total = N * C * hw;
    const size = n.attrs.int("size", 1), alpha = n.attrs.float("alpha", 1e-4);
    const beta = n.attrs.float("beta", 0.75), bias = n.attrs.float("bias", 1);
    const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
    const xd = x.data as Float32Array, yd = y.data as Float32Array;
    const sq = new Float32Array(total), sum = new Float32Array(total), flat = [total];
    // Channel c takes channel c + d for d = −lo..hi: the slice [c0, c1) of every image.
    const adds: { into: Float32Array; from: Float32Array; dims: number[] }[] = [];
    for (let img = 0; img < N; img++) {
      for (let d = -lo; d <= hi; d++) {
        if (d === 0) continue; // the channel itself: copied in first
        const c0 = Math.max(0, -d), c1 = Math.min(C, C - d);
        if (c1 <= c0) continue;
        const at = (img * C + c0) * hw, len = (c1 - c0) * hw;
        adds.push({
          into: sum.subarray(at, at + len),
          from: sq.subarray(at + d * hw, at + d * hw + len),
          dims: [len],
        });
      }
    }
    const k = Float32Array.of(alpha / size), b = Float32Array.of(bias), e = Float32Array.of(beta);
    const one = [1], whole = { dims: flat, xStrides: [1], yStrides: [1] };
    // Only Jit calls here: a native step's calls are replayed without its JavaScript (a
    // sum.fill(0) here was skipped from the second run on, and the sums grew run by run).
    return {
      native: true,
      run: () => {
        jit.binary("mul", xd, flat, xd, flat, sq);
        jit.copy(sq, sum, whole);
        for (const a of adds) jit.binary("add", a.into, a.dims, a.from, a.dims, a.into);
        jit.binary("mul", sum, flat, k, one, sum);
        jit.binary("add", sum, flat, b, one, sum);
        jit.binary("pow", sum, flat, e, one, sum);
        jit.binary("div", xd, flat, sum, flat, yd);
      },
    };
  },
};

/** The row-wise op definitions by ONNX name. */
export const NORM_OPS: Record<string, OpDef> = {
  Softmax: softmaxDef(false),
  LogSoftmax: softmaxDef(true),
  LayerNormalization: LAYER_NORM,
  RMSNormalization: RMS_NORM,
  InstanceNormalization: INSTANCE_NORM,
  GroupNormalization: GROUP_NORM,
  LpNormalization: LP_NORM,
  LRN,
  ...Object.fromEntries(Object.entries(REDUCE_OPS).map(([k, op]) => [k, reduceDef(op)])),
};
