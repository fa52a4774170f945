/**
 * What the recurrent ops (RNN, LSTM, GRU) share: their shapes read and
 * checked from X, W and R and the attributes (direction, hidden_size, layout,
 * activations — Sigmoid, Tanh, Relu, LeakyRelu, HardSigmoid, Elu, Softplus
 * with their alpha and beta —),
 * and each step's rows: an item shorter than the sequence (sequence_lens,
 * read on every run) stops there — its state kept, its later outputs zero,
 * its reverse direction starting from its own last element.
 */
import type { PackedB } from "../../kernels/gemm/mod.ts";
import type { Jit } from "../../runtime/jit.ts";
import type { Node } from "../ir.ts";
import { type Buf, type Env, expectType, fail, type Meta, meta, need } from "./op.ts";

/** One direction's W or R as a GEMM's Bᵀ: packed once per session when constant. */
export interface RecurrentWeights {
  b: Float32Array | PackedB;
  /** transB for a plain (unpacked) view; nothing for a packed one. */
  options: { transB?: boolean };
}

/** Each weight tensor's direction views, made once (the weight cache keys by array). */
const VIEWS = new WeakMap<Float32Array, Map<number, Float32Array>>();

/** Rows [at, at + rows) of a [*, cols] weight tensor, as Bᵀ of a GEMM with k = cols. */
export function recurrentWeights(
  env: Env,
  w: Buf,
  at: number,
  rows: number,
  cols: number,
): RecurrentWeights {
  const data = w.data as Float32Array;
  let views = VIEWS.get(data);
  if (!views) VIEWS.set(data, views = new Map());
  let view = views.get(at);
  if (!view || view.length !== rows * cols) {
    views.set(at, view = data.subarray(at, at + rows * cols));
  }
  if (!w.constant) return { b: view, options: { transB: true } };
  return { b: env.weights.packB(view, { k: cols, n: rows, transB: true }), options: {} };
}

/** A recurrent node's shape. */
export interface RecurrentShape {
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  /** 1, or 2 (bidirectional). */
  dirs: number;
  /** layout 1 (opset 14): X and Y batch-first. */
  batchFirst: boolean;
}

/** One activation of a recurrent node, as the unary family computes it. */
export interface RecurrentActivation {
  op: "sigmoid" | "tanh" | "relu" | "leakyRelu" | "hardSigmoid" | "elu" | "softplus";
  params?: { alpha?: number; beta?: number };
}

/**
 * ONNX's activation names (any case) → the unary op, and which of activation_alpha and
 * activation_beta each takes with its default — ONNX Runtime hands the lists out in order
 * to the functions that take them.
 */
const ACTIVATION_NAMES: Record<
  string,
  [RecurrentActivation["op"], alpha: number | null, beta: number | null]
> = {
  sigmoid: ["sigmoid", null, null],
  tanh: ["tanh", null, null],
  relu: ["relu", null, null],
  leakyrelu: ["leakyRelu", 0.01, null],
  hardsigmoid: ["hardSigmoid", 0.2, 0.5],
  elu: ["elu", 1, null],
  softplus: ["softplus", null, null],
};

/**
 * A node's activations per direction (as many a direction as `defaults`, the defaults when
 * absent), with their alpha and beta. Affine, ThresholdedRelu, ScaledTanh and Softsign are
 * refused.
 */
function recurrentActivations(
  n: Node,
  defaults: readonly string[],
  dirs: number,
): RecurrentActivation[][] {
  const given = n.attrs.strings("activations");
  const names = given && given.length ? given : Array.from({ length: dirs }, () => defaults).flat();
  if (names.length !== defaults.length * dirs) {
    fail(n, `activations has ${names.length} names, expected ${defaults.length * dirs}`);
  }
  const alphas = n.attrs.floats("activation_alpha") ?? [],
    betas = n.attrs.floats("activation_beta") ?? [];
  let ai = 0, bi = 0;
  const all = names.map((name): RecurrentActivation => {
    const entry = Object.hasOwn(ACTIVATION_NAMES, name.toLowerCase())
      ? ACTIVATION_NAMES[name.toLowerCase()]
      : null;
    if (!entry) {
      fail(n, `activation ${name} is not supported (${Object.keys(ACTIVATION_NAMES).join(", ")})`);
    }
    const [op, a, b] = entry;
    if (a === null) return { op };
    const params: { alpha?: number; beta?: number } = {};
    params.alpha = ai < alphas.length ? alphas[ai++] : a;
    if (b !== null) params.beta = bi < betas.length ? betas[bi++] : b;
    return { op, params };
  });
  return Array.from(
    { length: dirs },
    (_, d) => all.slice(d * defaults.length, (d + 1) * defaults.length),
  );
}

/** The attributes every recurrent op takes (each adds its own). */
export const RECURRENT_ATTRIBUTES: readonly string[] = [
  "hidden_size",
  "direction",
  "activations",
  "activation_alpha",
  "activation_beta",
  "clip",
  "layout",
];

/** A recurrent node as its op reads it: shape, activations, clip, direction. */
export interface RecurrentNode extends RecurrentShape {
  /** Per direction, the activations in ONNX's order (f, g, h for LSTM). */
  acts: RecurrentActivation[][];
  /** clip's bounds as the unary family's clip takes them, or null. */
  clip: { min: number; max: number } | null;
  /** direction "reverse": its one direction runs backward. */
  reverseOnly: boolean;
}

/** A node with `gates` gates a direction and the default activations `defaults`, checked. */
export function recurrentNode(
  n: Node,
  ins: readonly (Meta | null)[],
  gates: number,
  defaults: readonly string[],
): RecurrentNode {
  const s = recurrentShape(n, ins, gates);
  const clip = n.attrs.has("clip") ? n.attrs.float("clip", 0) : Infinity;
  return {
    ...s,
    acts: recurrentActivations(n, defaults, s.dirs),
    clip: clip < Infinity ? { min: -clip, max: clip } : null,
    reverseOnly: n.attrs.string("direction", "forward") === "reverse",
  };
}

/** Y's meta, then `states` state metas (Y_h; LSTM's Y_c too), in the node's layout. */
export function recurrentOutputs(s: RecurrentShape, states: number): Meta[] {
  const y = s.batchFirst ? [s.batch, s.seq, s.dirs, s.hidden] : [s.seq, s.dirs, s.batch, s.hidden];
  const state = s.batchFirst ? [s.batch, s.dirs, s.hidden] : [s.dirs, s.batch, s.hidden];
  return [meta("float32", y), ...Array.from({ length: states }, () => meta("float32", state))];
}

/** Reads the shape of a node with `gates` gates a direction. */
function recurrentShape(
  n: Node,
  ins: readonly (Meta | null)[],
  gates: number,
): RecurrentShape {
  const [x, w, r] = need(n, ins, 3, gates === 4 ? 8 : 6);
  for (const [m, i] of [[x, 0], [w, 1], [r, 2]] as const) expectType(n, m, i, "float32");
  const batchFirst = n.opset >= 14 && n.attrs.int("layout", 0) === 1;
  if (x.dims.length !== 3) fail(n, "X must be 3-D");
  const [seq, batch] = batchFirst ? [x.dims[1], x.dims[0]] : [x.dims[0], x.dims[1]];
  const hidden = n.attrs.int("hidden_size", 0), dirs = w.dims[0], input = x.dims[2];
  const direction = n.attrs.string("direction", "forward");
  if (!["forward", "reverse", "bidirectional"].includes(direction)) {
    fail(n, `direction '${direction}' is not supported`);
  }
  if (dirs !== (direction === "bidirectional" ? 2 : 1)) fail(n, `W has ${dirs} directions`);
  const G = gates * hidden;
  if (w.dims.join() !== [dirs, G, input].join()) fail(n, `W must be [${dirs}, ${G}, ${input}]`);
  if (r.dims.join() !== [dirs, G, hidden].join()) fail(n, `R must be [${dirs}, ${G}, ${hidden}]`);
  const lens = ins[4];
  if (lens) {
    expectType(n, lens, 4, "int32");
    if (lens.dims.join() !== `${batch}`) fail(n, `sequence_lens must be [${batch}]`);
  }
  return { seq, batch, input, hidden, dirs, batchFirst };
}

/**
 * Each item's length this run: sequence_lens (each in 0..seq, else a RangeError naming the
 * node) or the whole sequence. Returns whether any item is shorter.
 */
export function readLengths(
  n: Node,
  lens: Buf | null | undefined,
  seq: number,
  out: Int32Array,
): boolean {
  if (!lens) {
    out.fill(seq);
    return false;
  }
  const v = lens.data as Int32Array;
  let short = false;
  for (let b = 0; b < out.length; b++) {
    if (!(v[b] >= 0 && v[b] <= seq)) {
      throw new RangeError(
        `${n.op} node '${n.name}': sequence_lens[${b}] is ${v[b]}, not in 0..${seq}`,
      );
    }
    out[b] = v[b];
    short ||= v[b] < seq;
  }
  return short;
}

/**
 * Step `step`'s time index per item (−1: the item has ended): forward t = step, reverse
 * t = length − 1 − step. Returns whether every item is active.
 */
export function stepRows(
  lengths: Int32Array,
  step: number,
  reverse: boolean,
  rows: Int32Array,
): boolean {
  let all = true;
  for (let b = 0; b < rows.length; b++) {
    const len = lengths[b];
    rows[b] = step < len ? (reverse ? len - 1 - step : step) : -1;
    all &&= rows[b] >= 0;
  }
  return all;
}

/** Where a recurrent node's values live, and the moves every recurrent op makes each run. */
export interface RecurrentLayout {
  /** X as [seq·batch, input] rows in time order: X itself, or a copy `timeMajor` fills. */
  xs: Float32Array;
  /** Copies a batch-first X into `xs` (nothing for time-major X). */
  timeMajor(): void;
  /** Where item b's output at time t of direction d starts in Y. */
  yAt(t: number, d: number, b: number): number;
  /** The [batch, H] state of direction d from an initial-state input, or zeros. */
  loadState(state: Float32Array, init: Float32Array | undefined, d: number): void;
  /** The [batch, H] state of direction d into a state output (when asked for). */
  storeState(out: Float32Array | undefined, state: Float32Array, d: number): void;
  /** Each active item's projection row (`width` wide) of this step into its row of `rec`. */
  stepInputs(proj: Float32Array, rows: Int32Array, width: number, rec: Float32Array): void;
}

/** The layout of a node's X (data `x`), Y and states. */
export function recurrentLayout(s: RecurrentShape, x: Float32Array): RecurrentLayout {
  const { seq, batch, input, hidden: H, dirs, batchFirst } = s;
  const xs = batchFirst ? new Float32Array(seq * batch * input) : x;
  const stateAt = (d: number, b: number) => batchFirst ? (b * dirs + d) * H : (d * batch + b) * H;
  return {
    xs,
    timeMajor() {
      if (!batchFirst) return;
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seq; t++) {
          xs.set(
            x.subarray((b * seq + t) * input, (b * seq + t + 1) * input),
            (t * batch + b) * input,
          );
        }
      }
    },
    yAt: (t, d, b) =>
      batchFirst ? ((b * seq + t) * dirs + d) * H : ((t * dirs + d) * batch + b) * H,
    loadState(state, init, d) {
      for (let b = 0; b < batch; b++) {
        if (init) state.set(init.subarray(stateAt(d, b), stateAt(d, b) + H), b * H);
        else state.fill(0, b * H, (b + 1) * H);
      }
    },
    storeState(out, state, d) {
      if (!out) return;
      for (let b = 0; b < batch; b++) out.set(state.subarray(b * H, (b + 1) * H), stateAt(d, b));
    },
    stepInputs(proj, rows, width, rec) {
      // Each item's own row: in reverse, items of different lengths are at different times.
      for (let b = 0; b < batch; b++) {
        const row = (rows[b] * batch + b) * width;
        if (rows[b] >= 0) rec.set(proj.subarray(row, row + width), b * width);
      }
    },
  };
}

/**
 * Blocks of a step at or above this many elements go through Jit calls; smaller ones
 * through TypeScript loops: a call's fixed cost (~0.18 µs for `jit.binary`, measured on
 * Zen 5) is more than a loop over 256 floats (~0.10 µs), and less than one over 1024.
 */
const NATIVE_ELEMENTS = 512;

const fround = Math.fround;

/**
 * The elementwise formulas of a recurrent step over [batch, H] blocks: one Jit call per
 * operation over the whole block when it is large (threaded, vectorized), one TypeScript
 * loop per formula when small — the same bits either way: every operation rounds to f32
 * (`Math.fround` of the f64 result, which for a product, sum or difference of two f32
 * values is the correctly rounded f32 one, as the native op gives).
 */
export class StepMath {
  readonly #jit: Jit;
  readonly #native: boolean;
  readonly #dims: number[];
  readonly #rowDims: number[];
  readonly #row: number[];
  readonly #hidden: number;

  /** For blocks of `batch` rows of `hidden`; Jit calls from `nativeFrom` elements. */
  constructor(jit: Jit, batch: number, hidden: number, nativeFrom = NATIVE_ELEMENTS) {
    this.#jit = jit;
    this.#native = batch * hidden >= nativeFrom;
    this.#dims = [batch * hidden];
    this.#rowDims = [batch, hidden];
    this.#row = [hidden];
    this.#hidden = hidden;
  }

  /** y = a ⊙ b (y may be a or b). */
  mul(a: Float32Array, b: Float32Array, y: Float32Array): void {
    if (this.#native) return this.#jit.binary("mul", a, this.#dims, b, this.#dims, y);
    for (let j = 0; j < y.length; j++) y[j] = a[j] * b[j];
  }

  /** y = 1 − a. */
  oneMinus(a: Float32Array, y: Float32Array): void {
    if (this.#native) return this.#jit.binary("sub", ONE, ONE_DIMS, a, this.#dims, y);
    for (let j = 0; j < y.length; j++) y[j] = 1 - a[j];
  }

  /** y += a ⊙ b; `t` is scratch. */
  mulAdd(a: Float32Array, b: Float32Array, y: Float32Array, t: Float32Array): void {
    if (this.#native) {
      this.#jit.binary("mul", a, this.#dims, b, this.#dims, t);
      return this.#jit.binary("add", y, this.#dims, t, this.#dims, y);
    }
    for (let j = 0; j < y.length; j++) y[j] = y[j] + fround(a[j] * b[j]);
  }

  /** y += w ⊙ b with w one row of `hidden`, the same for every row (a peephole); `t` is scratch. */
  rowMulAdd(w: Float32Array, b: Float32Array, y: Float32Array, t: Float32Array): void {
    if (this.#native) {
      this.#jit.binary("mul", w, this.#row, b, this.#rowDims, t);
      return this.#jit.binary("add", y, this.#dims, t, this.#dims, y);
    }
    const H = this.#hidden;
    for (let j = 0; j < y.length; j++) y[j] = y[j] + fround(w[j % H] * b[j]);
  }

  /** The LSTM cell: c = f ⊙ c + i ⊙ g (g is overwritten). */
  cell(f: Float32Array, c: Float32Array, i: Float32Array, g: Float32Array): void {
    if (this.#native) {
      this.#jit.binary("mul", f, this.#dims, c, this.#dims, c);
      this.#jit.binary("mul", i, this.#dims, g, this.#dims, g);
      return this.#jit.binary("add", c, this.#dims, g, this.#dims, c);
    }
    for (let j = 0; j < c.length; j++) c[j] = fround(f[j] * c[j]) + fround(i[j] * g[j]);
  }

  /** The GRU update: h = (1 − z) ⊙ h̃ + z ⊙ h, as h̃ + z ⊙ (h − h̃); `t` is scratch. */
  blend(z: Float32Array, h: Float32Array, cand: Float32Array, t: Float32Array): void {
    if (this.#native) {
      this.#jit.binary("sub", h, this.#dims, cand, this.#dims, t);
      this.#jit.binary("mul", z, this.#dims, t, this.#dims, t);
      return this.#jit.binary("add", cand, this.#dims, t, this.#dims, h);
    }
    for (let j = 0; j < h.length; j++) h[j] = cand[j] + fround(z[j] * fround(h[j] - cand[j]));
  }
}

const ONE = new Float32Array([1]), ONE_DIMS = [1];
