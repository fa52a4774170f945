/**
 * Convolutions and pools the conv and pool families do not generate — a
 * window side, stride or dilation above 16 (CLIP ViT-B/32's 32×32/32 patch
 * embedding, wav2vec2's 128-wide positional convolution, long 1-D pools), or
 * three spatial dimensions (video and volume models) — as the window's
 * columns and a product or a reduction over them, every step a Jit call:
 *
 * - the input copied into a padded buffer (zeros; −∞ for a max pool) that
 *   spans every window, ceil mode's last ones included;
 * - im2col as strided copies per image: a conv's columns [c·k…, o…], a
 *   pool's windows [c, o…, k…] (split into copies of at most the four
 *   strided dimensions the copy family merges to);
 * - a conv: one batched GEMM over the groups (weights [oc/g, c/g·k…] ×
 *   columns), then bias, residual and activation in place; a pool: a max,
 *   sum or p-norm (LpPool) along the window, an average divided by each
 *   output's count of input (or padded-input) elements, counted once when
 *   the plan is made.
 */
import type { Activation } from "../../kernels/unary/read.ts";
import type { Node } from "../ir.ts";
import type { Window } from "./conv.ts";
import { type Buf, type Env, fail, type Meta, type Step } from "./op.ts";
import { outputShapePads } from "./transpose_pads.ts";

/** Largest kernel side, stride or dilation the conv and pool families take. */
export const FAMILY_WINDOW = 16;

/** Whether a 2-D window needs this path. */
export function windowTooWide(w: Window): boolean {
  return [...w.kernel, ...w.strides, ...w.dilations].some((v) => v > FAMILY_WINDOW);
}

/** A window over r spatial dimensions, its pads resolved. */
export interface WindowNd {
  sizes: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Pads before and after, per dimension. */
  begin: number[];
  end: number[];
  out: number[];
}

/**
 * The window of an N-C-spatial input from the node's attributes (kernel from W's dims for
 * a conv): pads as given, or as auto_pad makes them — the total (out − 1)·s + (k − 1)·d +
 * 1 − in, at least 0 (as ONNX's shape inference and the conv family take it), the odd one
 * at the end (SAME_UPPER) or the start (SAME_LOWER).
 */
export function windowNd(n: Node, x: Meta, kernel: number[] | null, ceil: boolean): WindowNd {
  const r = x.dims.length - 2, sizes = x.dims.slice(2);
  const k = n.attrs.ints("kernel_shape") ?? kernel ?? fail(n, "kernel_shape is required");
  const strides = n.attrs.ints("strides") ?? new Array(r).fill(1);
  const dilations = n.attrs.ints("dilations") ?? new Array(r).fill(1);
  const pads = n.attrs.ints("pads") ?? new Array(2 * r).fill(0);
  const auto = n.attrs.string("auto_pad", "NOTSET");
  if (k.length !== r || strides.length !== r || dilations.length !== r || pads.length !== 2 * r) {
    fail(n, `kernel_shape, strides, dilations or pads do not match ${r} spatial dims`);
  }
  if ([...k, ...strides, ...dilations].some((v) => !(v >= 1)) || pads.some((p) => p < 0)) {
    fail(n, "kernel_shape, strides and dilations must be ≥ 1, pads ≥ 0");
  }
  const out: number[] = [], begin: number[] = [], end: number[] = [];
  for (let i = 0; i < r; i++) {
    const span = (k[i] - 1) * dilations[i] + 1;
    if (auto === "SAME_UPPER" || auto === "SAME_LOWER") {
      out.push(Math.ceil(sizes[i] / strides[i]));
      const total = Math.max(0, (out[i] - 1) * strides[i] + span - sizes[i]);
      const head = auto === "SAME_LOWER" ? Math.ceil(total / 2) : Math.floor(total / 2);
      begin.push(head), end.push(total - head);
      continue;
    }
    const [b, e] = auto === "VALID" ? [0, 0] : [pads[i], pads[r + i]];
    const room = sizes[i] + b + e - span;
    let o = room < 0
      ? 0
      : (ceil ? Math.ceil(room / strides[i]) : Math.floor(room / strides[i])) + 1;
    if (ceil && o > 0 && (o - 1) * strides[i] >= sizes[i] + b) o--;
    out.push(o), begin.push(b), end.push(e);
  }
  return { sizes, kernel: k, strides, dilations, begin, end, out };
}

/** A 2-D (or 1-D as 1×k) Window of the families' form as a WindowNd, given its output. */
export function fromWindow(w: Window, out: number[]): WindowNd {
  const [top, left, bottom, right] = w.autoPad === "NOTSET" ? w.pads : [0, 0, 0, 0];
  const nd: WindowNd = {
    sizes: w.hw.slice(),
    kernel: w.kernel.slice(),
    strides: w.strides.slice(),
    dilations: w.dilations.slice(),
    begin: [top, left],
    end: [bottom, right],
    out,
  };
  if (w.autoPad === "SAME_UPPER" || w.autoPad === "SAME_LOWER") {
    for (let i = 0; i < 2; i++) {
      const span = (nd.kernel[i] - 1) * nd.dilations[i] + 1;
      const total = Math.max(0, (out[i] - 1) * nd.strides[i] + span - nd.sizes[i]);
      nd.begin[i] = w.autoPad === "SAME_LOWER" ? Math.ceil(total / 2) : Math.floor(total / 2);
      nd.end[i] = total - nd.begin[i];
    }
  }
  return nd;
}

/** The padded buffer's extent per dimension: every window's reach. */
function extentOf(w: WindowNd): number[] {
  return w.out.map((o, i) =>
    Math.max(1, (o - 1) * w.strides[i] + (w.kernel[i] - 1) * w.dilations[i] + 1)
  );
}

/** Row-major strides of dims. */
function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  for (let i = dims.length - 1, acc = 1; i >= 0; i--) s[i] = acc, acc *= dims[i];
  return s;
}

/** A strided copy (`jit.copy`'s options) applied at element offsets of its x and y. */
interface Copy {
  at: [number, number];
  o: { dims: number[]; xStrides: number[]; yStrides: number[] };
}

/**
 * A strided copy as copies the copy family takes: one, or one per index of the leading
 * dims while more than four dims of more than one element remain (the family merges dims
 * to at most 4 where the innermost is strided).
 */
function copies(
  dims: number[],
  xStrides: number[],
  yStrides: number[],
  at: [number, number] = [0, 0],
): Copy[] {
  if (dims.filter((d) => d > 1).length <= 4) return [{ at, o: { dims, xStrides, yStrides } }];
  const out: Copy[] = [];
  for (let i = 0; i < dims[0]; i++) {
    out.push(
      ...copies(dims.slice(1), xStrides.slice(1), yStrides.slice(1), [
        at[0] + i * xStrides[0],
        at[1] + i * yStrides[0],
      ]),
    );
  }
  return out;
}

/** Copies each image's planes (the part the windows reach) into the padded buffer. */
function padStep(
  env: Env,
  x: Float32Array,
  xp: Float32Array,
  planes: number,
  w: WindowNd,
): () => void {
  const ext = extentOf(w), r = w.sizes.length;
  const xs = stridesOf([planes, ...w.sizes]), ps = stridesOf([planes, ...ext]);
  const dims = [planes];
  let to = 0;
  for (let i = 0; i < r; i++) {
    const count = Math.min(w.sizes[i], ext[i] - w.begin[i]);
    if (count <= 0) return () => {};
    dims.push(count);
    to += w.begin[i] * ps[i + 1];
  }
  const list = copies(dims, xs, ps).map((c) => ({
    x: x.subarray(c.at[0]),
    y: xp.subarray(to + c.at[1]),
    o: c.o,
  }));
  return () => {
    for (const c of list) env.jit.copy(c.x, c.y, c.o);
  };
}

/** A Conv the families do not serve (see the module comment). */
export function wideConv(
  n: Node,
  x: Buf,
  wt: Buf,
  bias: Buf | null,
  residual: Buf | null,
  y: Buf,
  w: WindowNd,
  group: number,
  env: Env,
): Step {
  const [N, C] = x.dims, OC = wt.dims[0];
  const ext = extentOf(w), kAll = w.kernel.reduce((a, b) => a * b, 1);
  const P = w.out.reduce((a, b) => a * b, 1), plane = ext.reduce((a, b) => a * b, 1);
  const cg = C / group,
    ocg = OC / group,
    K = cg * kAll,
    inPlane = w.sizes.reduce((a, b) => a * b, 1);
  if (C * kAll * P > 2 ** 30) fail(n, "the window's columns exceed 2^30 elements");
  const xp = new Float32Array(C * plane), cols = new Float32Array(C * kAll * P);
  const xd = x.data as Float32Array, yd = y.data as Float32Array, wd = wt.data as Float32Array;
  const jit = env.jit, es = stridesOf(ext);
  // Columns [C, k…, o…]: tap (c, k) at output o reads padded c, o·s + k·d.
  const colDims = [C, ...w.kernel, ...w.out];
  const xStr = [
    plane,
    ...w.dilations.map((d, i) => d * es[i]),
    ...w.strides.map((s, i) => s * es[i]),
  ];
  const yStr = stridesOf(colDims);
  const im2col = copies(colDims, xStr, yStr).map((c) => ({
    x: xp.subarray(c.at[0]),
    y: cols.subarray(c.at[1]),
    o: c.o,
  }));
  const gemm = {
    m: ocg,
    n: P,
    k: K,
    batch: group,
    strideA: ocg * K,
    strideB: K * P,
    strideC: ocg * P,
  };
  const images = Array.from({ length: N }, (_, i) => ({
    pad: padStep(env, xd.subarray(i * C * inPlane), xp, C, w),
    y: yd.subarray(i * OC * P, (i + 1) * OC * P),
  }));
  const dims = y.dims, bd = bias?.data as Float32Array | undefined;
  const biasDims = y.dims.map((d, i) => (i === 1 ? d : 1));
  const rd = residual?.data as Float32Array | undefined;
  const act: Activation | undefined = n.fused?.activation;
  const op = act === undefined ? null : typeof act === "string" ? act : act.op;
  const params = typeof act === "object" ? act : undefined;
  return {
    native: true,
    run: () => {
      for (const im of images) {
        im.pad();
        for (const c of im2col) jit.copy(c.x, c.y, c.o);
        jit.gemm(wd, cols, im.y, gemm);
      }
      if (bd) jit.binary("add", yd, dims, bd, biasDims, yd);
      if (rd) jit.binary("add", yd, dims, rd, residual!.dims, yd);
      if (op) jit.unary(op, yd, yd, params);
    },
  };
}

/**
 * A MaxPool or AveragePool the pool family does not serve, or an LpPool
 * (every one: the p-norm of each window, pads counting as zeros).
 */
export function widePool(
  n: Node,
  kind: "max" | "average" | "lp",
  x: Buf,
  y: Buf,
  w: WindowNd,
  countIncludePad: boolean,
  env: Env,
  p = 2,
): Step {
  const [N, C] = x.dims, r = w.sizes.length;
  const ext = extentOf(w), win = w.kernel.reduce((a, b) => a * b, 1);
  const P = w.out.reduce((a, b) => a * b, 1), plane = ext.reduce((a, b) => a * b, 1);
  const inPlane = w.sizes.reduce((a, b) => a * b, 1);
  if (C * P * win > 2 ** 30) fail(n, "the pool's windows exceed 2^30 elements");
  // Outside x: −∞ for max (never chosen), 0 for a sum.
  const xp = new Float32Array(C * plane).fill(kind === "max" ? -Infinity : 0);
  const cols = new Float32Array(C * P * win);
  const xd = x.data as Float32Array, yd = y.data as Float32Array, jit = env.jit;
  const es = stridesOf(ext);
  // Windows [C, o…, k…].
  const colDims = [C, ...w.out, ...w.kernel];
  const xStr = [
    plane,
    ...w.strides.map((s, i) => s * es[i]),
    ...w.dilations.map((d, i) => d * es[i]),
  ];
  const im2col = copies(colDims, xStr, stridesOf(colDims)).map((c) => ({
    x: xp.subarray(c.at[0]),
    y: cols.subarray(c.at[1]),
    o: c.o,
  }));
  const images = Array.from({ length: N }, (_, i) => ({
    pad: padStep(env, xd.subarray(i * C * inPlane), xp, C, w),
    y: yd.subarray(i * C * P, (i + 1) * C * P),
  }));
  const reduce = { rows: C * P, cols: win };
  let counts: Float32Array | null = null;
  if (kind === "average") {
    // Each output's divisor: its window's elements of x, or of x and its declared pads.
    counts = new Float32Array(P);
    const lo = w.sizes.map((_, i) => (countIncludePad ? 0 : w.begin[i]));
    const hi = w.sizes.map((
      s,
      i,
    ) => (countIncludePad ? w.begin[i] + s + w.end[i] : w.begin[i] + s));
    const os = stridesOf(w.out), ks = stridesOf(w.kernel);
    for (let p = 0; p < P; p++) {
      let c = 0;
      for (let t = 0; t < win; t++) {
        let inside = true;
        for (let i = 0; i < r && inside; i++) {
          const o = Math.floor(p / os[i]) % w.out[i], k = Math.floor(t / ks[i]) % w.kernel[i];
          const at = o * w.strides[i] + k * w.dilations[i];
          inside = at >= lo[i] && at < hi[i];
        }
        if (inside) c++;
      }
      counts[p] = c;
    }
  }
  const dims = [N * C, P], countDims = [1, P];
  // The window's reduction: native for max, sums and p = 1 or 2; else (Σ|v|^p)^(1/p) here.
  const lpRows = (out: Float32Array) => {
    for (let i = 0; i < C * P; i++) {
      let sum = 0;
      for (let j = i * win; j < (i + 1) * win; j++) sum += Math.abs(cols[j]) ** p;
      out[i] = sum ** (1 / p);
    }
  };
  const reduceWindows = kind === "max"
    ? (out: Float32Array) => jit.reduce("max", cols, out, reduce)
    : kind === "average"
    ? (out: Float32Array) => jit.reduce("sum", cols, out, reduce)
    : p === 2
    ? (out: Float32Array) => jit.reduce("l2", cols, out, reduce)
    : p === 1
    ? (out: Float32Array) => (jit.unary("abs", cols, cols), jit.reduce("sum", cols, out, reduce))
    : lpRows;
  return {
    // Native steps are recorded as their Jit calls: the p-norm computed here is not one.
    native: reduceWindows !== lpRows,
    run: () => {
      for (const im of images) {
        im.pad();
        for (const c of im2col) jit.copy(c.x, c.y, c.o);
        reduceWindows(im.y);
      }
      if (counts) jit.binary("div", yd, dims, counts, countDims, yd);
    },
  };
}

/** A ConvTranspose's window over r spatial dims: output sizes and the equivalent conv's pads. */
export interface TransposedNd {
  out: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Pads before and after (as the node gives them) and output_padding. */
  begin: number[];
  end: number[];
  extra: number[];
}

/** A ConvTranspose's window from its attributes (pads and output_padding; no auto_pad). */
export function transposedNd(n: Node, x: Meta, kernel: number[]): TransposedNd {
  const r = x.dims.length - 2, sizes = x.dims.slice(2);
  const k = n.attrs.ints("kernel_shape") ?? kernel;
  const strides = n.attrs.ints("strides") ?? new Array(r).fill(1);
  const dilations = n.attrs.ints("dilations") ?? new Array(r).fill(1);
  const given = outputShapePads(
    n,
    sizes,
    k,
    strides,
    dilations,
    n.attrs.ints("output_padding") ?? new Array(r).fill(0),
  );
  const extra = given?.extra ?? n.attrs.ints("output_padding") ?? new Array(r).fill(0);
  const pads = given?.pads ?? n.attrs.ints("pads") ?? new Array(2 * r).fill(0);
  if (n.attrs.string("auto_pad", "NOTSET") !== "NOTSET") {
    fail(n, "auto_pad is not supported for 3-D or windows above 16 (give pads)");
  }
  if (
    k.length !== r || strides.length !== r || dilations.length !== r || pads.length !== 2 * r ||
    extra.length !== r
  ) {
    fail(
      n,
      `kernel_shape, strides, dilations, pads or output_padding do not match ${r} spatial dims`,
    );
  }
  const begin = pads.slice(0, r), end = pads.slice(r);
  const out = sizes.map((s, i) =>
    strides[i] * (s - 1) + extra[i] + (k[i] - 1) * dilations[i] + 1 - begin[i] - end[i]
  );
  if (out.some((o) => o <= 0)) fail(n, "the output would be empty");
  for (let i = 0; i < r; i++) {
    if (begin[i] > (k[i] - 1) * dilations[i] || end[i] > (k[i] - 1) * dilations[i] + extra[i]) {
      fail(n, "pads above the kernel's extent are not supported for 3-D or windows above 16");
    }
  }
  return { out, kernel: k, strides, dilations, begin, end, extra };
}

/**
 * A ConvTranspose the family does not serve (3-D, windows above 16) as the conv it equals:
 * x spread s apart into zeros, padded by d·(k − 1) − pad (+ output_padding at the end),
 * convolved at stride 1 with the weights flipped and their channel axes swapped per group.
 */
export function transposedConv(
  n: Node,
  x: Buf,
  wt: Buf,
  bias: Buf | null,
  residual: Buf | null,
  y: Buf,
  t: TransposedNd,
  group: number,
  env: Env,
): Step {
  const [N, C] = x.dims, sizes = x.dims.slice(2), r = sizes.length;
  const ocg = wt.dims[1],
    OC = ocg * group,
    cg = C / group,
    kAll = t.kernel.reduce((a, b) => a * b, 1);
  // x spread: [N, C, (size − 1)·s + 1 …], zeros between (written once, never touched).
  const spread = sizes.map((s, i) => (s - 1) * t.strides[i] + 1);
  const u = new Float32Array(N * C * spread.reduce((a, b) => a * b, 1));
  const us = stridesOf([N * C, ...spread]), xs = stridesOf([N * C, ...sizes]);
  const spreadCopies = copies([N * C, ...sizes], xs, [
    us[0],
    ...t.strides.map((s, i) => s * us[i + 1]),
  ]);
  // The conv's weights: W'[g·ocg + o, c, k] = W[g·cg + c, o, K − 1 − k].
  const flipped = new Float32Array(OC * cg * kAll);
  const wd = wt.data as Float32Array;
  const flip = () => {
    for (let g = 0; g < group; g++) {
      for (let o = 0; o < ocg; o++) {
        for (let c = 0; c < cg; c++) {
          const to = ((g * ocg + o) * cg + c) * kAll, from = ((g * cg + c) * ocg + o) * kAll;
          for (let k = 0; k < kAll; k++) flipped[to + k] = wd[from + kAll - 1 - k];
        }
      }
    }
  };
  flip();
  const w: WindowNd = {
    sizes: spread,
    kernel: t.kernel,
    strides: new Array(r).fill(1),
    dilations: t.dilations,
    begin: t.kernel.map((k, i) => (k - 1) * t.dilations[i] - t.begin[i]),
    end: t.kernel.map((k, i) => (k - 1) * t.dilations[i] - t.end[i] + t.extra[i]),
    out: t.out,
  };
  const ub: Buf = { type: "float32", dims: [N, C, ...spread], data: u, constant: false };
  const wb: Buf = { type: "float32", dims: [OC, cg, ...t.kernel], data: flipped, constant: true };
  const conv = wideConv(n, ub, wb, bias, residual, y, w, group, env);
  const xd = x.data as Float32Array, jit = env.jit;
  const list = spreadCopies.map((c) => ({
    x: xd.subarray(c.at[0]),
    y: u.subarray(c.at[1]),
    o: c.o,
  }));
  return {
    native: wt.constant,
    run: () => {
      if (!wt.constant) flip();
      for (const c of list) jit.copy(c.x, c.y, c.o);
      conv.run();
    },
  };
}
