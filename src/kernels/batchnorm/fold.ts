/**
 * Folding an inference BatchNormalization into the convolution before it:
 * with a = γ/√(var + ε), w'[oc] = w[oc]·a[oc] and b'[oc] = (b[oc] − mean)·a
 * + β. Computed once (a model's load), in f64 and rounded once.
 *
 * @module
 */
import { describe, isFloat32Array, viewLength } from "../../typed.ts";
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
 * w and bias (absent: zeros) of a Conv or ConvTranspose with the
 * BatchNormalization that follows it folded in.
 */
export function foldBatchNorm(
  w: Float32Array,
  bias: Float32Array | undefined,
  o: FoldOptions,
): FoldedConv {
  const oc = readInt(W, "outChannels", o.outChannels, 1, 1 << 24);
  const group = readInt(W, "group", o.group ?? 1, 1, oc);
  if (!isFloat32Array(w)) fail(W, `w must be a Float32Array, got ${describe(w)}`, "type");
  const arrays = {
    scale: o.scale,
    bias: o.bias,
    mean: o.mean,
    variance: o.variance,
    "conv bias": bias,
  };
  for (const [name, p] of Object.entries(arrays)) {
    if (p === undefined && name === "conv bias") continue;
    if (!isFloat32Array(p)) fail(W, `${name} must be a Float32Array, got ${describe(p)}`, "type");
    if (viewLength(p) !== oc) {
      fail(W, `${name} has ${viewLength(p)} elements; outChannels needs ${oc}`, "range");
    }
  }
  const eps = o.epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps)) {
    fail(W, `epsilon must be a finite number ≥ 0, got ${describe(eps)}`, "range");
  }
  const lw = viewLength(w);
  if (lw % oc !== 0) fail(W, `w has ${lw} elements, not a multiple of outChannels=${oc}`, "range");
  const a = new Float64Array(oc);
  const out: FoldedConv = {
    w: o.inPlace === true ? w : new Float32Array(lw),
    bias: new Float32Array(oc),
  };
  for (let c = 0; c < oc; c++) {
    a[c] = o.scale[c] / Math.sqrt(o.variance[c] + eps);
    out.bias[c] = ((bias?.[c] ?? 0) - o.mean[c]) * a[c] + o.bias[c];
  }
  const per = lw / oc; // weights per output channel
  if (!o.transposed) {
    for (let c = 0, i = 0; c < oc; c++) {
      const f = a[c];
      for (const end = i + per; i < end; i++) out.w[i] = w[i] * f;
    }
    return out;
  }
  // [c][outChannels/group][kh][kw]: element (ic, m, t) feeds output channel g·ocg + m.
  const c = readInt(W, "inChannels", o.inChannels, 1, 1 << 24);
  const ocg = oc / group;
  if (c % group !== 0 || oc % group !== 0 || lw % (c * ocg) !== 0) {
    fail(W, `w has ${lw} elements: not c=${c} × outChannels/group=${ocg} × taps`, "range");
  }
  const taps = lw / (c * ocg), cg = c / group;
  for (let i = 0; i < lw; i++) {
    const ic = Math.floor(i / (ocg * taps)), m = Math.floor(i / taps) % ocg;
    out.w[i] = w[i] * a[Math.floor(ic / cg) * ocg + m];
  }
  return out;
}
