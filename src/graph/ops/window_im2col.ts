/**
 * Convolutions and pools whose window exceeds what the conv and pool
 * families generate (a kernel side, stride or dilation above 16: CLIP
 * ViT-B/32's 32×32/32 patch embedding, wav2vec2's 128-wide positional
 * convolution, pools over long 1-D signals), as the window's columns and a
 * product or a reduction over them — every step a Jit call:
 *
 * - the input copied into a padded buffer (zeros; −∞ for a max pool) large
 *   enough for every window, ceil mode's last ones included;
 * - im2col as one strided copy per image: a conv's columns [c·kh·kw, oh·ow],
 *   a pool's windows [c, oh·ow, kh·kw];
 * - a conv: one batched GEMM over the groups (weights [oc/g, c/g·kh·kw] ×
 *   columns), then bias, residual and activation in place; a pool: a max
 *   or sum along the window, an average divided by each output's count of
 *   input (or padded-input) elements, counted once when the plan is made.
 */
import type { Activation } from "../../kernels/unary/read.ts";
import type { Node } from "../ir.ts";
import type { Window } from "./conv.ts";
import { type Buf, type Env, fail, type Step } from "./op.ts";

/** Largest kernel side, stride or dilation the conv and pool families take. */
export const FAMILY_WINDOW = 16;

/** Whether a window needs this path. */
export function windowTooWide(w: Window): boolean {
  return [...w.kernel, ...w.strides, ...w.dilations].some((v) => v > FAMILY_WINDOW);
}

/**
 * The buffer every window reads: padded coordinates are x's plus (top, left); it spans
 * the windows' extent, x's rows and columns inside it copied, the rest padding.
 */
interface Padded {
  hp: number;
  wp: number;
  /** The pads, as declared or as auto_pad makes them. */
  top: number;
  left: number;
  bottom: number;
  right: number;
  oh: number;
  ow: number;
}

/**
 * Pads as given, or as auto_pad makes them — the total (out − 1)·s + (k − 1)·d + 1 − in,
 * at least 0 (as ONNX's shape inference and the conv family take it), the odd one at the
 * end (SAME_UPPER) or the start (SAME_LOWER).
 */
function windowPads(w: Window, oh: number, ow: number): number[] {
  if (w.autoPad === "VALID") return [0, 0, 0, 0];
  if (w.autoPad === "NOTSET") return w.pads.slice();
  const total = (out: number, i: number) =>
    Math.max(0, (out - 1) * w.strides[i] + (w.kernel[i] - 1) * w.dilations[i] + 1 - w.hw[i]);
  const th = total(oh, 0), tw = total(ow, 1), lower = w.autoPad === "SAME_LOWER";
  const head = (t: number) => (lower ? Math.ceil(t / 2) : Math.floor(t / 2));
  return [head(th), head(tw), th - head(th), tw - head(tw)];
}

function paddedOf(w: Window, oh: number, ow: number): Padded {
  const [kh, kw] = w.kernel, [sh, sw] = w.strides, [dh, dw] = w.dilations;
  const [top, left, bottom, right] = windowPads(w, oh, ow);
  const hp = (oh - 1) * sh + (kh - 1) * dh + 1, wp = (ow - 1) * sw + (kw - 1) * dw + 1;
  return { hp, wp, top, left, bottom, right, oh, ow };
}

/** Copies each image's channels (the part of x the windows reach) into the padded buffer. */
function padStep(
  env: Env,
  x: Float32Array,
  xp: Float32Array,
  planes: number,
  w: Window,
  p: Padded,
): () => void {
  const [h, wd] = w.hw;
  const r0 = Math.max(0, -p.top), c0 = Math.max(0, -p.left);
  const rows = Math.min(h, p.hp - p.top) - r0, cols = Math.min(wd, p.wp - p.left) - c0;
  if (rows <= 0 || cols <= 0) return () => {};
  const o = {
    dims: [planes, rows, cols],
    xStrides: [h * wd, wd, 1],
    yStrides: [p.hp * p.wp, p.wp, 1],
  };
  const from = x.subarray(r0 * wd + c0), into = xp.subarray((r0 + p.top) * p.wp + c0 + p.left);
  return () => env.jit.copy(from, into, o);
}

/** A strided copy (`jit.copy`'s options) applied at element offsets of its x and y. */
interface Copy {
  at: [number, number];
  o: { dims: number[]; xStrides: number[]; yStrides: number[] };
}

/**
 * A rank-5 strided copy as copies the copy family takes: one, or one per index of the
 * outermost dim when five dims of more than one element remain (the family merges
 * dims to at most 4 where the innermost is strided).
 */
function copies(dims: number[], xStrides: number[], yStrides: number[]): Copy[] {
  if (dims.filter((d) => d > 1).length <= 4) {
    return [{ at: [0, 0], o: { dims, xStrides, yStrides } }];
  }
  const o = { dims: dims.slice(1), xStrides: xStrides.slice(1), yStrides: yStrides.slice(1) };
  return Array.from({ length: dims[0] }, (_, i) => ({
    at: [i * xStrides[0], i * yStrides[0]] as [number, number],
    o,
  }));
}

/** Runs copies from x to y. */
function runCopies(env: Env, list: { x: Float32Array; y: Float32Array; c: Copy }[]): void {
  for (const { x, y, c } of list) env.jit.copy(x, y, c.o);
}

/** A Conv whose window is too wide for the conv family (see the module comment). */
export function wideConv(
  n: Node,
  x: Buf,
  wt: Buf,
  bias: Buf | null,
  residual: Buf | null,
  y: Buf,
  w: Window,
  group: number,
  env: Env,
): Step {
  const [N, C] = x.dims, OC = wt.dims[0];
  const oh = y.dims.length === 4 ? y.dims[2] : 1, ow = y.dims[y.dims.length - 1];
  const p = paddedOf(w, oh, ow);
  const [kh, kw] = w.kernel, [sh, sw] = w.strides, [dh, dw] = w.dilations;
  const cg = C / group, ocg = OC / group, K = cg * kh * kw, P = oh * ow;
  const plane = p.hp * p.wp;
  if (C * kh * kw * P > 2 ** 30) fail(n, "the window's columns exceed 2^30 elements");
  const xp = new Float32Array(C * plane), cols = new Float32Array(C * kh * kw * P);
  const xd = x.data as Float32Array, yd = y.data as Float32Array, wd = wt.data as Float32Array;
  const jit = env.jit;
  const im2col = copies(
    [C, kh, kw, oh, ow],
    [plane, dh * p.wp, dw, sh * p.wp, sw],
    [kh * kw * P, kw * P, P, ow, 1],
  ).map((c) => ({ x: xp.subarray(c.at[0]), y: cols.subarray(c.at[1]), c }));
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
    pad: padStep(env, xd.subarray(i * C * w.hw[0] * w.hw[1]), xp, C, w, p),
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
        runCopies(env, im2col);
        jit.gemm(wd, cols, im.y, gemm);
      }
      if (bd) jit.binary("add", yd, dims, bd, biasDims, yd);
      if (rd) jit.binary("add", yd, dims, rd, residual!.dims, yd);
      if (op) jit.unary(op, yd, yd, params);
    },
  };
}

/** A MaxPool or AveragePool whose window is too wide for the pool family. */
export function widePool(
  n: Node,
  kind: "max" | "average",
  x: Buf,
  y: Buf,
  w: Window,
  countIncludePad: boolean,
  env: Env,
): Step {
  const [N, C] = x.dims;
  const oh = y.dims.length === 4 ? y.dims[2] : 1, ow = y.dims[y.dims.length - 1];
  const p = paddedOf(w, oh, ow);
  const [kh, kw] = w.kernel, [sh, sw] = w.strides, [dh, dw] = w.dilations;
  const P = oh * ow, win = kh * kw, plane = p.hp * p.wp;
  if (C * P * win > 2 ** 30) fail(n, "the pool's windows exceed 2^30 elements");
  // Outside x: −∞ for max (never chosen), 0 for a sum.
  const xp = new Float32Array(C * plane).fill(kind === "max" ? -Infinity : 0);
  const cols = new Float32Array(C * P * win);
  const xd = x.data as Float32Array, yd = y.data as Float32Array, jit = env.jit;
  const im2col = copies(
    [C, oh, ow, kh, kw],
    [plane, sh * p.wp, sw, dh * p.wp, dw],
    [P * win, ow * win, win, kw, 1],
  ).map((c) => ({ x: xp.subarray(c.at[0]), y: cols.subarray(c.at[1]), c }));
  const images = Array.from({ length: N }, (_, i) => ({
    pad: padStep(env, xd.subarray(i * C * w.hw[0] * w.hw[1]), xp, C, w, p),
    y: yd.subarray(i * C * P, (i + 1) * C * P),
  }));
  const reduce = { rows: C * P, cols: win };
  let counts: Float32Array | null = null;
  if (kind === "average") {
    // Each output's divisor: the window's elements of x, or of x and its declared pads.
    const [h, wd] = w.hw;
    const ones = new Float32Array(plane);
    const [r0, r1] = countIncludePad ? [0, p.top + h + p.bottom] : [p.top, p.top + h];
    const [c0, c1] = countIncludePad ? [0, p.left + wd + p.right] : [p.left, p.left + wd];
    for (let r = Math.max(0, r0); r < Math.min(p.hp, r1); r++) {
      ones.fill(1, r * p.wp + Math.max(0, c0), r * p.wp + Math.min(p.wp, c1));
    }
    counts = new Float32Array(P);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let c = 0;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) c += ones[(i * sh + a * dh) * p.wp + j * sw + b * dw];
        }
        counts[i * ow + j] = c;
      }
    }
  }
  const dims = [N * C, P];
  return {
    native: true,
    run: () => {
      for (const im of images) {
        im.pad();
        runCopies(env, im2col);
        jit.reduce(kind === "max" ? "max" : "sum", cols, im.y, reduce);
      }
      if (counts) jit.binary("div", yd, dims, counts, [1, P], yd);
    },
  };
}
