/**
 * Folding an inference BatchNormalization into the convolution before it:
 * with a = γ/√(var + ε), w'[oc] = w[oc]·a[oc] and b'[oc] = (b[oc] − mean)·a
 * + β. Computed once (a model's load), in f64 and rounded once.
 *
 * @module
 */
import { describe, isFloat32Array, viewLength } from "../../typed.ts";
import { perChannel } from "./read.ts";
import { readInt } from "../attributes.ts";
import { fail } from "../checks.ts";

/** The BatchNormalization to fold and the convolution it follows. */
export interface FoldOptions {
  /** γ, outChannels elements. */
  scale: Float32Array;
  /** β, outChannels elements. */
  bias: Float32Array;
  /** Running mean, outChannels elements. */
  mean: Float32Array;
  /** Running variance, outChannels elements. */
  variance: Float32Array;
  /** Default 1e-5 (ONNX). */
  epsilon?: number;
  /** The convolution's output channels. */
  outChannels: number;
  /** w is a ConvTranspose's (c × outChannels/group × kh × kw). Default false. */
  transposed?: boolean;
  /** The convolution's groups. Default 1. */
  group?: number;
  /** A ConvTranspose's input channels (its w is inChannels × outChannels/group × kh × kw). */
  inChannels?: number;
  /**
   * Write the folded weights over w (returned as `w`) instead of into a new
   * array: a model's load, whose weights are its own copy read by this conv
   * alone, saves a copy of them (and, fresh, its page faults). Default false.
   */
  inPlace?: boolean;
}

/** New weights and bias (fresh arrays). */
export interface FoldedConv {
  /** The weights, in w's layout. */
  w: Float32Array;
  /** The bias, outChannels elements. */
  bias: Float32Array;
}

const W = "foldBatchNorm";

/**
 * A fold read and checked, its bias computed: what is left is the weights'
 * product, y[r][j] = f32(w[r][j] · factors[r]) over `runs` runs of
 * `length` weights (`out.w` may be w itself: in place), which
 * {@link foldBatchNorm} computes here and a Jit's `foldBatchNorm` by native
 * code (the scaleRows family), the same bits.
 */
export interface FoldProduct {
  /** The result: `w` still to be written. */
  out: FoldedConv;
  /** One factor per run of weights sharing an output channel. */
  factors: Float64Array;
  /** Runs of weights. */
  runs: number;
  /** Weights per run. */
  length: number;
}

/**
 * Checks a fold's arguments and computes the folded bias; returns the
 * weight product still to do.
 */
export function prepareFold(
  w: Float32Array,
  bias: Float32Array | undefined,
  o: FoldOptions,
): FoldProduct {
  if (o === null || typeof o !== "object") {
    fail(W, `options must be an object, got ${describe(o)}`, "type");
  }
  // Each option read once: what is checked is what is computed with.
  const oc = readInt(W, "outChannels", o.outChannels, 1, 1 << 24);
  const group = readInt(W, "group", o.group ?? 1, 1, oc);
  if (!isFloat32Array(w)) fail(W, `w must be a Float32Array, got ${describe(w)}`, "type");
  const scale = perChannel("scale", o.scale, oc, W, "outChannels");
  const beta = perChannel("bias", o.bias, oc, W, "outChannels");
  const mean = perChannel("mean", o.mean, oc, W, "outChannels");
  const variance = perChannel("variance", o.variance, oc, W, "outChannels");
  const convBias = bias === undefined
    ? undefined
    : perChannel("conv bias", bias, oc, W, "outChannels");
  const eps = o.epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps)) {
    fail(W, `epsilon must be a finite number ≥ 0, got ${describe(eps)}`, "range");
  }
  const transposed = readFlag("transposed", o.transposed), inPlace = readFlag("inPlace", o.inPlace);
  const inChannels = transposed ? readInt(W, "inChannels", o.inChannels, 1, 1 << 24) : 0;
  const lw = viewLength(w);
  if (lw % oc !== 0) fail(W, `w has ${lw} elements, not a multiple of outChannels=${oc}`, "range");
  const a = new Float64Array(oc);
  const out: FoldedConv = { w: inPlace ? w : new Float32Array(lw), bias: new Float32Array(oc) };
  for (let c = 0; c < oc; c++) {
    a[c] = scale[c] / Math.sqrt(variance[c] + eps);
    out.bias[c] = ((convBias?.[c] ?? 0) - mean[c]) * a[c] + beta[c];
  }
  if (!transposed) return { out, factors: a, runs: oc, length: lw / oc };
  // [c][outChannels/group][kh][kw]: run (ic, m) of taps feeds output channel g·ocg + m.
  const c = inChannels;
  const ocg = oc / group;
  if (c % group !== 0 || oc % group !== 0 || lw % (c * ocg) !== 0) {
    fail(W, `w has ${lw} elements: not c=${c} × outChannels/group=${ocg} × taps`, "range");
  }
  const cg = c / group, factors = new Float64Array(c * ocg);
  for (let ic = 0; ic < c; ic++) {
    for (let m = 0; m < ocg; m++) factors[ic * ocg + m] = a[Math.floor(ic / cg) * ocg + m];
  }
  return { out, factors, runs: c * ocg, length: lw / (c * ocg) };
}

/** An optional boolean option (absent: false). */
function readFlag(name: string, b: unknown): boolean {
  if (b !== undefined && b !== true && b !== false) {
    fail(W, `${name} must be a boolean, got ${describe(b)}`, "type");
  }
  return b === true;
}

/**
 * w and bias (absent: zeros) of a Conv or ConvTranspose with the
 * BatchNormalization that follows it folded in. (A Jit's `foldBatchNorm`
 * computes the same bits by native code.)
 */
export function foldBatchNorm(
  w: Float32Array,
  bias: Float32Array | undefined,
  o: FoldOptions,
): FoldedConv {
  const p = prepareFold(w, bias, o);
  foldProduct(w, p);
  return p.out;
}

/** A prepared fold's weight product in TypeScript: out.w[r][j] = w[r][j] · factors[r], rounded once. */
export function foldProduct(w: Float32Array, p: FoldProduct): void {
  const f = p.factors, y = p.out.w;
  for (let r = 0, i = 0; r < p.runs; r++) {
    const k = f[r];
    for (const end = i + p.length; i < end; i++) y[i] = w[i] * k;
  }
}
