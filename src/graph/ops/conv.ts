/**
 * The CNN ops on the convolution families: Conv and ConvTranspose (1-D as
 * 2-D with height 1; constant weights packed once; bias, residual and
 * activation fused when the graph's fusions set them), BatchNormalization,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (Resize: resize.ts).
 */
import type {
  AutoPad,
  Conv2dOptions,
  ConvTranspose2dOptions,
  ConvWeights,
} from "../../kernels/conv/mod.ts";
import type { PoolOptions } from "../../kernels/pool/mod.ts";
import type { BatchNormOptions } from "../../kernels/batchnorm/mod.ts";
import type { Node } from "../ir.ts";
import {
  FAMILY_WINDOW,
  fromWindow,
  transposedConv,
  transposedNd,
  wideConv,
  widePool,
  windowNd,
  windowTooWide,
} from "./window_im2col.ts";
import { outputShapePads } from "./transpose_pads.ts";
import {
  askedOutput,
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  type Step,
} from "./op.ts";

/** The spatial attributes of a Conv/ConvTranspose/pool node, as 2-D. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: AutoPad;
  /** Spatial input dims as 2-D [h, w]. */
  hw: number[];
}

const AUTO_PADS = ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"];

/** Reads the window attributes of an N-C-spatial input (1 or 2 spatial dims). */
export function windowOf(n: Node, x: Meta, kernel: number[] | null): Window {
  const r = x.dims.length - 2;
  if (r !== 1 && r !== 2) {
    fail(n, `input has rank ${x.dims.length}: only 1-D and 2-D (rank 3 and 4) are supported`);
  }
  const k = n.attrs.ints("kernel_shape") ?? kernel ?? fail(n, "kernel_shape is required");
  const strides = n.attrs.ints("strides") ?? new Array(r).fill(1);
  const dil = n.attrs.ints("dilations") ?? new Array(r).fill(1);
  const pads = n.attrs.ints("pads") ?? new Array(2 * r).fill(0);
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  if (!AUTO_PADS.includes(autoPad)) {
    fail(n, `auto_pad '${autoPad}' is not one of ${AUTO_PADS.join(", ")}`);
  }
  if (k.length !== r || strides.length !== r || dil.length !== r || pads.length !== 2 * r) {
    fail(n, `kernel_shape, strides, dilations or pads do not match ${r} spatial dims`);
  }
  if (r === 1) {
    return {
      kernel: [1, k[0]],
      strides: [1, strides[0]],
      dilations: [1, dil[0]],
      pads: [0, pads[0], 0, pads[1]],
      autoPad: autoPad as AutoPad,
      hw: [1, x.dims[2]],
    };
  }
  return {
    kernel: k,
    strides,
    dilations: dil,
    pads,
    autoPad: autoPad as AutoPad,
    hw: x.dims.slice(2),
  };
}

/** Output size of one axis of a convolution or pool (ONNX). */
function windowOut(
  size: number,
  k: number,
  s: number,
  d: number,
  lead: number,
  trail: number,
  auto: AutoPad,
  ceil: boolean,
): number {
  if (auto === "SAME_UPPER" || auto === "SAME_LOWER") return Math.ceil(size / s);
  if (auto === "VALID") lead = trail = 0;
  const span = size + lead + trail - ((k - 1) * d + 1);
  if (span < 0) return 0;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + lead) out--;
  return out;
}

/** Output dims of a window op in the input's rank. */
export function outDims(x: Meta, channels: number, w: Window, ceil: boolean): number[] {
  const oh = windowOut(
    w.hw[0],
    w.kernel[0],
    w.strides[0],
    w.dilations[0],
    w.pads[0],
    w.pads[2],
    w.autoPad,
    ceil,
  );
  const ow = windowOut(
    w.hw[1],
    w.kernel[1],
    w.strides[1],
    w.dilations[1],
    w.pads[1],
    w.pads[3],
    w.autoPad,
    ceil,
  );
  return x.dims.length === 3 ? [x.dims[0], channels, ow] : [x.dims[0], channels, oh, ow];
}

function convOptions(x: Buf, outChannels: number, w: Window, group: number): Conv2dOptions {
  const o: Conv2dOptions = {
    n: x.dims[0],
    c: x.dims[1],
    h: w.hw[0],
    w: w.hw[1],
    outChannels,
    kernel: w.kernel,
    strides: w.strides,
    dilations: w.dilations,
    group,
  };
  if (w.autoPad === "NOTSET") o.pads = w.pads;
  else o.autoPad = w.autoPad;
  return o;
}

/**
 * The fused residual and activation of a conv: in its epilogue when the
 * residual has the output's shape, else (a broadcast Add the fusion could
 * not see) the conv, then the add and the activation in place.
 */
function epilogue(
  n: Node,
  residual: Buf | null | undefined,
  y: Buf,
  o: Conv2dOptions | ConvTranspose2dOptions,
  conv: () => void,
  env: Env,
): Step {
  const act = n.fused?.activation;
  if (!residual || residual.dims.join() === y.dims.join()) {
    if (residual) o.residual = residual.data as Float32Array;
    if (act) o.activation = act;
    return { native: true, run: conv };
  }
  const jit = env.jit, yd = y.data as Float32Array, rd = residual.data as Float32Array;
  const op = act === undefined ? null : typeof act === "string" ? act : act.op;
  const params = typeof act === "object" ? act : undefined;
  return {
    native: true,
    run: () => {
      conv();
      jit.binary("add", yd, y.dims, rd, residual.dims, yd);
      if (op) jit.unary(op, yd, yd, params);
    },
  };
}

/** The weights a conv call takes: packed once when constant, else the buffer as is. */
function weightsOf(
  wt: Buf,
  o: { outChannels: number; c: number; kernel: readonly number[] },
  group: number,
  transposed: boolean,
  env: Env,
) {
  if (!wt.constant) return wt.data as Float32Array;
  return env.weights.conv(wt.data as Float32Array, {
    outChannels: o.outChannels,
    c: o.c,
    kernel: o.kernel,
    group,
    transposed,
  });
}

/** Packs constant conv weights as build will ask for them (2-D kernel; 1-D as 1×k). */
function prepackConv(
  n: Node,
  consts: readonly (Meta | null)[],
  env: Env,
  transposed: boolean,
): void {
  const w = consts[1];
  if (!w || (w.dims.length !== 3 && w.dims.length !== 4)) return;
  const group = n.attrs.int("group", 1);
  const kernel = w.dims.length === 3 ? [1, w.dims[2]] : w.dims.slice(2);
  if (group < 1 || kernel.some((k) => k > FAMILY_WINDOW)) return; // wide: window_im2col.ts
  env.weights.conv(w.data as Float32Array, {
    outChannels: transposed ? w.dims[1] * group : w.dims[0],
    c: transposed ? w.dims[0] : w.dims[1] * group,
    kernel,
    group,
    transposed,
  });
}

/** Conv; with `fused`: residual (input 3) and activation. */
export const CONV: OpDef = {
  attributes: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
  prepack(n, consts, env, shapes) {
    prepackConv(n, consts, env, false);
    // A 1×1 Conv's depthwise (fusions/expand_depthwise.ts): its weights, input 4, packed too;
    // a pair that runs by groups (their size is the plane's) packs each group's here where x's
    // shape is known at create, else when its plan is made.
    const pair = n.fused?.depthwise;
    if (!pair) return;
    prepackConv(pair, [null, consts[4] ?? null], env, false);
    const x = shapes[0], we = consts[1], wd = consts[4];
    if (!x || x.dims.length !== 4 || !we || !wd || wd.dims.length !== 4) return;
    const g = groupedPair(we.dims[0], x.dims[2] * x.dims[3]);
    for (let k = 0; g > 0 && k < we.dims[0]; k += g) {
      groupWeights(
        we.data as Float32Array,
        wd.data as Float32Array,
        x.dims[1],
        wd.dims.slice(2),
        k,
        g,
        env,
      );
    }
  },
  infer(n, ins) {
    const pair = n.fused?.depthwise;
    const xs = need(n, ins, 2, pair ? 6 : n.domain === "njit" ? 4 : 3);
    const [x, wt] = xs;
    xs.forEach((m, i) => m && expectType(n, m, i, "float32"));
    const group = n.attrs.int("group", 1);
    if (wt.dims.length !== x.dims.length) {
      fail(n, `W has rank ${wt.dims.length}, X ${x.dims.length}`);
    }
    if (group < 1 || x.dims[1] % group !== 0 || wt.dims[0] % group !== 0) {
      fail(
        n,
        `group ${group} does not divide the ${x.dims[1]} input and ${wt.dims[0]} output channels`,
      );
    }
    if (wt.dims[1] * group !== x.dims[1]) {
      fail(
        n,
        `W [${wt.dims.join(", ")}] expects ${wt.dims[1] * group} input channels, X has ${
          x.dims[1]
        }`,
      );
    }
    if (xs[2] && sizeOf(xs[2].dims) !== wt.dims[0]) fail(n, `B must have ${wt.dims[0]} elements`);
    if (x.dims.length === 5) {
      // 3-D (video, volumes): im2col and a GEMM (window_im2col.ts).
      const w = windowNd(n, x, wt.dims.slice(2), false);
      return [meta("float32", [x.dims[0], wt.dims[0], ...w.out])];
    }
    const w = windowOf(n, x, wt.dims.slice(2));
    const y = meta("float32", outDims(x, wt.dims[0], w, false));
    return pair ? [...CONV.infer(pair, [y, xs[4], xs[5] ?? null]), y] : [y];
  },
  build(n, ins, outs, env) {
    if (n.fused?.depthwise) return expandDepthwise(n, n.fused.depthwise, ins, outs, env);
    const x = ins[0]!, wt = ins[1]!, y = outs[0];
    const group = n.attrs.int("group", 1);
    if (x.dims.length === 5) {
      const nd = windowNd(n, x, wt.dims.slice(2), false);
      return wideConv(n, x, wt, ins[2] ?? null, ins[3] ?? null, y, nd, group, env);
    }
    const w = windowOf(n, x, wt.dims.slice(2));
    if (windowTooWide(w)) {
      const out = y.dims.length === 4 ? y.dims.slice(2) : [1, y.dims[2]];
      const nd = fromWindow(w, out);
      return wideConv(n, x, wt, ins[2] ?? null, ins[3] ?? null, y, nd, group, env);
    }
    const o = convOptions(x, wt.dims[0], w, group);
    if (ins[2]) o.bias = ins[2].data as Float32Array;
    const weights = weightsOf(wt, o, group, false, env);
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    return epilogue(n, ins[3], y, o, () => jit.conv2d(xd, weights, yd, o), env);
  },
};

/**
 * Bytes of one image's expanded tensor from which a 1×1 Conv and its
 * depthwise (fusions/expand_depthwise.ts) run by groups of channels. Intel
 * Xeon (SPR-class), one thread, `deno run -A bench/channel_chain.ts` (the
 * pair whole against groups of 16 channels, same bits; 2026-12-06, five
 * runs): 16→96 on 112² (4.8 MB) ×0.876-0.940 of the time; 24→144 on 56²
 * (1.8 MB) ×0.978, and ×1.000 on two threads (where 112² came out
 * ×0.924-1.072: neutral).
 */
const GROUPED_PAIR_BYTES = 3 << 20;

/** Most bytes of one group's expanded planes: half of a 2 MiB L2, beside the 1×1's input. */
const PAIR_GROUP_BYTES = 1 << 20;

/**
 * Channels per group of a 1×1 Conv and its depthwise, `channels` expanded planes of `plane`
 * elements: grouped where one image's expansion passes GROUPED_PAIR_BYTES, else 0.
 */
function groupedPair(channels: number, plane: number): number {
  return channels * plane * 4 >= GROUPED_PAIR_BYTES ? pairGroup(channels, plane * 4) : 0;
}

/**
 * Channels per group of an expanded tensor of `channels` planes of
 * `planeBytes`: the most, a multiple of 8 dividing `channels`, whose planes
 * fit PAIR_GROUP_BYTES; 0 when none does.
 */
function pairGroup(channels: number, planeBytes: number): number {
  for (let g = Math.floor(PAIR_GROUP_BYTES / planeBytes / 8) * 8; g >= 8; g -= 8) {
    if (channels % g === 0) return g;
  }
  return 0;
}

/** Views of constant weights by their range, made once: packs are cached by the array viewed. */
const weightViews = new WeakMap<Float32Array, Map<string, Float32Array>>();

/** `w`'s elements [from, to) as one view, the same one each time asked. */
function weightView(w: Float32Array, from: number, to: number): Float32Array {
  let m = weightViews.get(w);
  if (!m) weightViews.set(w, m = new Map());
  const key = `${from}:${to}`;
  let v = m.get(key);
  if (!v) m.set(key, v = w.subarray(from, to));
  return v;
}

/**
 * The packed weights of group `k` (its first channel) of `g` channels of a 1×1 Conv of `c`
 * inputs (`we`) and of its depthwise (`wd`, `kernel`), through weightView.
 */
function groupWeights(
  we: Float32Array,
  wd: Float32Array,
  c: number,
  kernel: readonly number[],
  k: number,
  g: number,
  env: Env,
): [ConvWeights, ConvWeights] {
  const taps = kernel[0] * kernel[1];
  return [
    env.weights.conv(weightView(we, k * c, (k + g) * c), { outChannels: g, c, kernel: [1, 1] }),
    env.weights.conv(weightView(wd, k * taps, (k + g) * taps), {
      outChannels: g,
      c: g,
      kernel,
      group: g,
    }),
  ];
}

/**
 * A 1×1 Conv with the depthwise Conv that read its output (`pair`; inputs
 * 4 and 5 its weights and bias; output 0 the depthwise's, output 1 the
 * expansion): whole, through output 1, or where one image's expansion
 * passes GROUPED_PAIR_BYTES image by image and group by group (pairGroup),
 * each group's expansion written to the start of output 1 and its
 * depthwise read from there. Each channel is the same sums either way, so
 * the same bits.
 */
function expandDepthwise(
  n: Node,
  pair: Node,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const x = ins[0]!, wt = ins[1]!, dwt = ins[4]!, y = outs[0], mid = outs[1];
  const e = wt.dims[0], c = x.dims[1];
  const oe = convOptions(x, e, windowOf(n, x, wt.dims.slice(2)), 1);
  const od = convOptions(mid, e, windowOf(pair, mid, dwt.dims.slice(2)), e);
  if (n.fused?.activation) oe.activation = n.fused.activation;
  if (pair.fused?.activation) od.activation = pair.fused.activation;
  const be = ins[2]?.data as Float32Array | undefined,
    bd = ins[5]?.data as Float32Array | undefined;
  const jit = env.jit, xd = x.data as Float32Array, md = mid.data as Float32Array;
  const yd = y.data as Float32Array;
  // 2-D: the fusion takes 4-D weights, and infer checked x's rank against them.
  const plane = mid.dims[2] * mid.dims[3], outPlane = y.dims[2] * y.dims[3];
  const g = wt.constant && dwt.constant ? groupedPair(e, plane) : 0;
  if (g === 0) {
    if (be) oe.bias = be;
    if (bd) od.bias = bd;
    const we = weightsOf(wt, oe, 1, false, env), wd = weightsOf(dwt, od, e, false, env);
    return {
      native: true,
      run: () => {
        jit.conv2d(xd, we, md, oe);
        jit.conv2d(md, wd, yd, od);
      },
    };
  }
  // Each group's weights (packed once: at create where x's shape was known) and options, and
  // each image's x and each of its groups' y, made here: a run allocates nothing.
  const wed = wt.data as Float32Array, wdd = dwt.data as Float32Array;
  const groups: [ConvWeights, Conv2dOptions, ConvWeights, Conv2dOptions][] = [];
  for (let k = 0; k < e; k += g) {
    const ok: Conv2dOptions = { ...oe, n: 1, outChannels: g };
    const dk: Conv2dOptions = { ...od, n: 1, c: g, outChannels: g, group: g };
    if (be) ok.bias = be.subarray(k, k + g);
    if (bd) dk.bias = bd.subarray(k, k + g);
    const [we, wd] = groupWeights(wed, wdd, c, dwt.dims.slice(2), k, g, env);
    groups.push([we, ok, wd, dk]);
  }
  const scratch = md.subarray(0, g * plane), images: [Float32Array, Float32Array[]][] = [];
  for (let i = 0; i < x.dims[0]; i++) {
    const ys: Float32Array[] = [];
    for (let k = 0; k < e; k += g) {
      ys.push(yd.subarray((i * e + k) * outPlane, (i * e + k + g) * outPlane));
    }
    images.push([xd.subarray(i * c * plane, (i + 1) * c * plane), ys]);
  }
  return {
    native: true,
    run: () => {
      for (const [xi, ys] of images) {
        for (let j = 0; j < groups.length; j++) {
          const [we, ok, wd, dk] = groups[j];
          jit.conv2d(xi, we, scratch, ok);
          jit.conv2d(scratch, wd, ys[j], dk);
        }
      }
    },
  };
}

function transposeOut(n: Node, x: Meta, wt: Meta): { dims: number[]; w: Window; op: number[] } {
  const group = n.attrs.int("group", 1);
  if (wt.dims.length !== x.dims.length) fail(n, `W has rank ${wt.dims.length}, X ${x.dims.length}`);
  if (wt.dims[0] !== x.dims[1]) {
    fail(n, `W [${wt.dims.join(", ")}] expects ${wt.dims[0]} input channels, X has ${x.dims[1]}`);
  }
  if (group < 1 || x.dims[1] % group !== 0) {
    fail(n, `group ${group} does not divide ${x.dims[1]} channels`);
  }
  let w = windowOf(n, x, wt.dims.slice(2));
  const r = x.dims.length - 2;
  const opad = n.attrs.ints("output_padding") ?? new Array(r).fill(0);
  if (opad.length !== r) fail(n, "output_padding does not match the spatial dims");
  const op = r === 1 ? [0, opad[0]] : opad.slice();
  // 1-D: the window's second axis (its first a unit one).
  const a = r === 1 ? 1 : 0;
  const given = outputShapePads(
    n,
    w.hw.slice(a),
    w.kernel.slice(a),
    w.strides.slice(a),
    w.dilations.slice(a),
    op.slice(a),
  );
  if (given) {
    const pads = r === 1 ? [0, given.pads[0], 0, given.pads[1]] : given.pads;
    w = { ...w, pads, autoPad: "NOTSET" };
    // An output_shape past the full output: more output padding (transpose_pads.ts).
    if (r === 1) op[1] = given.extra[0];
    else op.splice(0, 2, ...given.extra);
  }
  const size = (i: number) => {
    const full = w.strides[i] * (w.hw[i] - 1) + op[i] + (w.kernel[i] - 1) * w.dilations[i] + 1;
    return w.autoPad === "SAME_UPPER" || w.autoPad === "SAME_LOWER"
      ? w.hw[i] * w.strides[i]
      : w.autoPad === "VALID"
      ? full
      : full - w.pads[i] - w.pads[i + 2];
  };
  const oc = wt.dims[1] * group, oh = size(0), ow = size(1);
  if (oh <= 0 || ow <= 0) fail(n, "the output would be empty");
  return { dims: r === 1 ? [x.dims[0], oc, ow] : [x.dims[0], oc, oh, ow], w, op };
}

/** ConvTranspose (output_shape: the pads it implies, outputPadding kept). */
export const CONV_TRANSPOSE: OpDef = {
  attributes: [
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "output_padding",
    "output_shape",
    "pads",
    "strides",
  ],
  prepack: (n, consts, env) => prepackConv(n, consts, env, true),
  infer(n, ins) {
    const xs = need(n, ins, 2, n.domain === "njit" ? 4 : 3);
    xs.forEach((m, i) => m && expectType(n, m, i, "float32"));
    if (xs[0].dims.length === 5) {
      const [x, wt] = xs, group = n.attrs.int("group", 1);
      if (wt.dims.length !== 5 || wt.dims[0] !== x.dims[1] || x.dims[1] % group !== 0) {
        fail(
          n,
          `W [${wt.dims.join(", ")}] does not fit X [${x.dims.join(", ")}] in ${group} groups`,
        );
      }
      const t = transposedNd(n, x, wt.dims.slice(2));
      return [meta("float32", [x.dims[0], wt.dims[1] * group, ...t.out])];
    }
    const t = transposeOut(n, xs[0], xs[1]);
    if (xs[2] && sizeOf(xs[2].dims) !== t.dims[1]) fail(n, `B must have ${t.dims[1]} elements`);
    return [meta("float32", t.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, wt = ins[1]!, y = outs[0];
    const group = n.attrs.int("group", 1);
    if (x.dims.length === 5) {
      const t = transposedNd(n, x, wt.dims.slice(2));
      return transposedConv(n, x, wt, ins[2] ?? null, ins[3] ?? null, y, t, group, env);
    }
    const { w, op } = transposeOut(n, x, wt);
    if (windowTooWide(w)) {
      // 1-D as 1×k (the window's first dim a unit one).
      const t = transposedNd(n, x, wt.dims.slice(2));
      if (x.dims.length === 3) {
        const unit = (v: number[], one: number) => [one, ...v];
        const t2 = {
          out: unit(t.out, 1),
          kernel: unit(t.kernel, 1),
          strides: unit(t.strides, 1),
          dilations: unit(t.dilations, 1),
          begin: unit(t.begin, 0),
          end: unit(t.end, 0),
          extra: unit(t.extra, 0),
        };
        const as4 = (b: Buf): Buf => ({ ...b, dims: [b.dims[0], b.dims[1], 1, b.dims[2]] });
        return transposedConv(
          n,
          as4(x),
          as4(wt),
          ins[2] ?? null,
          ins[3] ? as4(ins[3]) : null,
          as4(y),
          t2,
          group,
          env,
        );
      }
      return transposedConv(n, x, wt, ins[2] ?? null, ins[3] ?? null, y, t, group, env);
    }
    const o: ConvTranspose2dOptions = { ...convOptions(x, y.dims[1], w, group), outputPadding: op };
    if (ins[2]) o.bias = ins[2].data as Float32Array;
    const weights = weightsOf(wt, o, group, true, env);
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    return epilogue(n, ins[3], y, o, () => jit.convTranspose2d(xd, weights, yd, o), env);
  },
};

/**
 * BatchNormalization; with training_mode (opset 14 on: a model exported in training mode) the
 * batch's own statistics per channel — the mean and the biased variance, summed in doubles and
 * rounded to float32 — normalize it, and the running mean and variance come out as
 * input·momentum + batch·(1 − momentum), as onnxruntime computes them.
 */
const BATCH_NORM: OpDef = {
  attributes: ["epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"],
  infer(n, ins) {
    const xs = need(n, ins, 5);
    xs.forEach((m, i) => expectType(n, m, i, "float32"));
    const training = n.opset >= 14 && n.attrs.int("training_mode", 0) !== 0;
    if (n.attrs.int("spatial", 1) !== 1) fail(n, "spatial=0 is not supported");
    if (!training && n.outputs.filter((o) => o !== "").length > 1) {
      fail(n, "the running mean and variance are outputs in training_mode only");
    }
    const x = xs[0];
    if (x.dims.length < 2) fail(n, "X must have rank ≥ 2");
    for (let i = 1; i < 5; i++) {
      if (sizeOf(xs[i].dims) !== x.dims[1]) fail(n, `input ${i} must have ${x.dims[1]} elements`);
    }
    const y = meta("float32", x.dims);
    return training ? [y, meta("float32", xs[3].dims), meta("float32", xs[4].dims)] : [y];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0];
    const training = n.opset >= 14 && n.attrs.int("training_mode", 0) !== 0;
    const o: BatchNormOptions = {
      n: x.dims[0],
      c: x.dims[1],
      h: sizeOf(x.dims.slice(2)),
      w: 1,
      scale: ins[1]!.data as Float32Array,
      bias: ins[2]!.data as Float32Array,
      mean: ins[3]!.data as Float32Array,
      variance: ins[4]!.data as Float32Array,
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    // An activation the fusions put here (domain "njit"): in the kernel's registers.
    if (n.fused?.activation) o.activation = n.fused.activation;
    const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
    if (!training) return { native: true, run: () => jit.batchNorm(xd, yd, o) };
    const c = o.c, plane = o.h, count = o.n * plane, momentum = n.attrs.float("momentum", 0.9);
    const inMean = o.mean, inVar = o.variance;
    const mean = new Float32Array(c), variance = new Float32Array(c);
    const outMean = askedOutput(outs, 1) ? outs[1].data as Float32Array : null;
    const outVar = askedOutput(outs, 2) ? outs[2].data as Float32Array : null;
    const batch: BatchNormOptions = { ...o, mean, variance };
    return {
      native: false,
      run: () => {
        for (let ch = 0; ch < c; ch++) {
          let sum = 0;
          for (let b = 0; b < o.n; b++) {
            const at = (b * c + ch) * plane;
            for (let i = 0; i < plane; i++) sum += xd[at + i];
          }
          const m = sum / count;
          let sq = 0;
          for (let b = 0; b < o.n; b++) {
            const at = (b * c + ch) * plane;
            for (let i = 0; i < plane; i++) sq += (xd[at + i] - m) ** 2;
          }
          mean[ch] = m;
          variance[ch] = sq / count;
        }
        // The running statistics before y: y may take the input's storage, never theirs.
        for (let ch = 0; ch < c; ch++) {
          if (outMean) outMean[ch] = inMean[ch] * momentum + mean[ch] * (1 - momentum);
          if (outVar) outVar[ch] = inVar[ch] * momentum + variance[ch] * (1 - momentum);
        }
        jit.batchNorm(xd, yd, batch);
      },
    };
  },
};

function poolDef(kind: "max" | "average"): OpDef {
  const attributes = ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides"];
  attributes.push(kind === "max" ? "storage_order" : "count_include_pad");
  const def: OpDef = {
    attributes,
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      // MaxPool of 8-bit values (opset 12; a quantized model's pools): the float pool's
      // maximum of exact small integers.
      if (kind === "max") expectType(n, x, 0, "float32", "uint8", "int8");
      else expectType(n, x, 0, "float32");
      const indices = n.outputs.length > 1 && n.outputs[1] !== "";
      if (indices && (x.type !== "float32" || x.dims.length === 5)) {
        fail(n, "the Indices output is for float 1-D and 2-D pooling only");
      }
      const ceil = n.attrs.int("ceil_mode", 0) !== 0;
      if (x.dims.length === 5) {
        return [meta(x.type, [x.dims[0], x.dims[1], ...windowNd(n, x, null, ceil).out])];
      }
      const w = windowOf(n, x, null);
      const dims = outDims(x, x.dims[1], w, ceil);
      return indices ? [meta(x.type, dims), meta("int64", dims)] : [meta(x.type, dims)];
    },
    build(n, ins, outs, env) {
      if (askedOutput(outs, 1)) return maxPoolWithIndices(n, ins[0]!, outs[0], outs[1]);
      if (ins[0]!.type !== "float32") {
        return nativeBytePool(n, ins[0]!, outs[0], env) ??
          bytePool(n, ins[0]!, outs[0], env, def.build);
      }
      const x = ins[0]!, y = outs[0];
      const includePad = n.attrs.int("count_include_pad", 0) !== 0;
      const ceil = n.attrs.int("ceil_mode", 0) !== 0;
      if (x.dims.length === 5) {
        return widePool(n, kind, x, y, windowNd(n, x, null, ceil), includePad, env);
      }
      const w = windowOf(n, x, null);
      if (windowTooWide(w)) {
        const out = y.dims.length === 4 ? y.dims.slice(2) : [1, y.dims[2]];
        return widePool(n, kind, x, y, fromWindow(w, out), includePad, env);
      }
      const o = poolOptions(n, x, w);
      if (kind === "average") o.countIncludePad = includePad;
      const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
      return { native: true, run: () => jit.pool(kind, xd, yd, o) };
    },
  };
  return def;
}

/**
 * MaxPool with its Indices output (a TypeScript step: SegNet-style models
 * hand them to MaxUnpool): each window's first largest input in row-major
 * order (NaNs skipped, as ONNX Runtime compares; y is NaN then, as the
 * pool kernels give it), its index in x flattened (storage_order 1: each
 * plane column-major), padding never an index; an all-padding window gives
 * −∞ and index −1.
 */
function maxPoolWithIndices(n: Node, x: Buf, y: Buf, ind: Buf): Step {
  const w = windowOf(n, x, null),
    [H, W] = w.hw,
    [oh, ow] = y.dims.length === 4 ? [y.dims[2], y.dims[3]] : [1, y.dims[2]];
  const [kh, kw] = w.kernel, [sh, sw] = w.strides, [dh, dw] = w.dilations;
  const colMajor = n.attrs.int("storage_order", 0) === 1;
  // The begin pads: explicit, or auto_pad's split of the total (the wide pools' own).
  const begin = fromWindow(w, [oh, ow]).begin;
  const xd = x.data as Float32Array, yd = y.data as Float32Array;
  const id = ind.data as BigInt64Array, planes = x.dims[0] * x.dims[1];
  return {
    native: false,
    run: () => {
      for (let p = 0; p < planes; p++) {
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < ow; j++) {
            let best = -Infinity, at = -1, first = -1, nan = false;
            for (let a = 0; a < kh; a++) {
              const r = i * sh - begin[0] + a * dh;
              if (r < 0 || r >= H) continue;
              for (let b = 0; b < kw; b++) {
                const c = j * sw - begin[1] + b * dw;
                if (c < 0 || c >= W) continue;
                const v = xd[(p * H + r) * W + c];
                const k = colMajor ? p * H * W + c * H + r : (p * H + r) * W + c;
                if (first < 0) first = k;
                if (v !== v) nan = true;
                else if (at < 0 || v > best) [best, at] = [v, k];
              }
            }
            const o = (p * oh + i) * ow + j;
            // y as the pool kernels give it (a NaN in the window is NaN); the index of the
            // first largest number, else of the window's first input.
            yd[o] = nan ? NaN : best;
            id[o] = BigInt(at >= 0 ? at : first);
          }
        }
      }
    },
  };
}

/**
 * An 8-bit MaxPool on the bytes themselves (`jit.pool` of uint8/int8: exact)
 * where the Jit runs AVX2 or AVX-512 and the window is 2-D within the pool
 * family's limits; null elsewhere (the float round trip below: below AVX2
 * the byte kernel runs byte by byte).
 */
function nativeBytePool(n: Node, x: Buf, y: Buf, env: Env): Step | null {
  const jit = env.jit;
  if (x.dims.length === 5 || !["avx2", "avx512", "amx"].includes(jit.isa)) return null;
  const xb = x.data as Uint8Array | Int8Array, yb = y.data as Uint8Array | Int8Array;
  if (xb.byteOffset % 4 !== 0 || yb.byteOffset % 4 !== 0) return null;
  const w = windowOf(n, x, null);
  if (windowTooWide(w)) return null;
  const o = poolOptions(n, x, w);
  return { native: true, run: () => jit.pool("max", xb, yb, o) };
}

/** `jit.pool`'s options for a MaxPool/AveragePool node's 1-D or 2-D window over x. */
function poolOptions(n: Node, x: Buf, w: Window): PoolOptions {
  const o: PoolOptions = {
    n: x.dims[0],
    c: x.dims[1],
    h: w.hw[0],
    w: w.hw[1],
    kernel: w.kernel,
    strides: w.strides,
    dilations: w.dilations,
    ceilMode: n.attrs.int("ceil_mode", 0) !== 0,
  };
  if (w.autoPad === "NOTSET") o.pads = w.pads;
  else o.autoPad = w.autoPad;
  return o;
}

/** An 8-bit pool as the float one: x widened into a float copy, the result narrowed back. */
function bytePool(n: Node, x: Buf, y: Buf, env: Env, build: OpDef["build"]): Step {
  const xb = x.data as Uint8Array | Int8Array, yb = y.data as Uint8Array | Int8Array;
  const xf = new Float32Array(xb.length), yf = new Float32Array(yb.length);
  const step = build(
    n,
    [{ ...x, type: "float32", data: xf, constant: false }],
    [{ ...y, type: "float32", data: yf }],
    env,
  )!;
  if (xb.byteOffset % 4 === 0 && yb.byteOffset % 4 === 0) {
    // The widening and narrowing natively: scale 1, zero point 0 (exact both ways).
    const jit = env.jit, exact = { scale: 1 };
    return {
      native: step.native,
      run: () => {
        jit.dequantizeLinear(xb, xf, exact);
        step.run();
        jit.quantizeLinear(yf, yb, exact);
      },
    };
  }
  return {
    native: false,
    run: () => {
      for (let i = 0; i < xb.length; i++) xf[i] = xb[i];
      step.run();
      for (let i = 0; i < yb.length; i++) yb[i] = yf[i];
    },
  };
}

/** LpPool (opsets 2-22, any spatial rank): the p-norm of each window, on the wide-window path. */
const LP_POOL: OpDef = {
  attributes: ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
    const ceil = n.attrs.int("ceil_mode", 0) !== 0;
    return [meta("float32", [x.dims[0], x.dims[1], ...windowNd(n, x, null, ceil).out])];
  },
  build(n, ins, outs, env) {
    const ceil = n.attrs.int("ceil_mode", 0) !== 0, x = ins[0]!;
    const p = n.attrs.int("p", 2);
    if (!(p >= 1)) fail(n, `p must be ≥ 1, got ${p}`);
    return widePool(n, "lp", x, outs[0], windowNd(n, x, null, ceil), false, env, p);
  },
};

function globalPoolDef(kind: "globalMax" | "globalAverage"): OpDef {
  return {
    attributes: [],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32");
      if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
      return [meta("float32", x.dims.map((d, i) => (i < 2 ? d : 1)))];
    },
    build(_n, ins, outs, env) {
      const x = ins[0]!, y = outs[0];
      const o: PoolOptions = { n: x.dims[0], c: x.dims[1], h: sizeOf(x.dims.slice(2)), w: 1 };
      const jit = env.jit, xd = x.data as Float32Array, yd = y.data as Float32Array;
      return { native: true, run: () => jit.pool(kind, xd, yd, o) };
    },
  };
}

/** The convolution-family op definitions by ONNX name. */
export const CONV_OPS: Record<string, OpDef> = {
  Conv: CONV,
  ConvTranspose: CONV_TRANSPOSE,
  BatchNormalization: BATCH_NORM,
  MaxPool: poolDef("max"),
  AveragePool: poolDef("average"),
  LpPool: LP_POOL,
  GlobalMaxPool: globalPoolDef("globalMax"),
  GlobalAveragePool: globalPoolDef("globalAverage"),
};
