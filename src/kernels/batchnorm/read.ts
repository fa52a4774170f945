/**
 * Reading a `jit.batchNorm` call (ONNX BatchNormalization, inference, NCHW):
 * the shape, the four per-channel arrays and ε; the key written without
 * allocating.
 *
 * @module
 */
import { describe, isFloat32Array, viewLength } from "../../typed.ts";
import { readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { MAX_CONV_DIMENSION, MAX_CONV_TENSOR } from "../conv/read.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { type Activation, decodeActivation, readActivation } from "../unary/read.ts";

/** Options of `jit.batchNorm`. */
export interface BatchNormOptions {
  /** Images (x is n×c×h×w, NCHW). */
  n: number;
  /** Channels. */
  c: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
  /** γ, c elements. */
  scale: Float32Array;
  /** β, c elements. */
  bias: Float32Array;
  /** Running mean, c elements. */
  mean: Float32Array;
  /** Running variance, c elements. */
  variance: Float32Array;
  /** Added to the variance. Default 1e-5 (ONNX). */
  epsilon?: number;
  /** Applied last, in registers: a unary op name, or `{ op, ...params }`. */
  activation?: Activation;
}

/** What one batchNorm call is (a thread's part: `c` of the image's `channels`). */
export interface BatchNormSpec {
  n: number;
  /** Channels computed. */
  c: number;
  /** Channels of an image (its stride in planes). */
  channels: number;
  /** Elements per plane (h·w). */
  plane: number;
  epsilon: number;
  /** Applied last: a unary op id and its parameters, or null. */
  activation: { op: number; params: number[] } | null;
}

/** Argument block slots. */
export const BATCHNORM_ARG = { X: 0, SCALE: 1, BIAS: 2, MEAN: 3, VAR: 4, Y: 5 } as const;

/** Names of the key slots after the family slot. */
export const BATCHNORM_KEY_FIELDS = [
  "n",
  "c",
  "plane",
  "epsilon",
  "activation",
  "activationP0",
  "activationP1",
] as const;

const W = "batchNorm";

/**
 * Checks a call (x, y known Float32Arrays), writes key slots 1..4 and the
 * extents; `ops` receives scale, bias, mean and variance.
 */
export function readBatchNorm(
  x: Float32Array,
  y: Float32Array,
  o: BatchNormOptions,
  key: Int32Array,
  extents: Float64Array,
  ops: (Float32Array | undefined)[],
): void {
  if (o === null || typeof o !== "object") {
    badOptions(W, o, "n, c, h, w, scale, bias, mean and variance");
  }
  const n = readInt(W, "n", o.n, 1, MAX_CONV_DIMENSION);
  const c = readInt(W, "c", o.c, 1, MAX_CONV_DIMENSION);
  const h = readInt(W, "h", o.h, 1, MAX_CONV_DIMENSION);
  const w = readInt(W, "w", o.w, 1, MAX_CONV_DIMENSION);
  const total = n * c * h * w;
  if (total > MAX_CONV_TENSOR) {
    fail(W, `x of ${n}×${c}×${h}×${w} is beyond the supported size`, "range");
  }
  const lx = viewLength(x), ly = viewLength(y);
  if (lx !== total) {
    fail(W, `x has ${lx} elements but n×c×h×w = ${n}×${c}×${h}×${w} needs ${total}`, "range");
  }
  if (ly !== total) fail(W, `y has ${ly} elements but x's shape needs ${total}`, "range");
  ops[0] = perChannel("scale", o.scale, c);
  ops[1] = perChannel("bias", o.bias, c);
  ops[2] = perChannel("mean", o.mean, c);
  ops[3] = perChannel("variance", o.variance, c);
  const eps = o.epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps)) {
    fail(
      W,
      `epsilon must be a finite number ≥ 0, got ${describe(eps)}`,
      typeof eps === "number" ? "range" : "type",
    );
  }
  key[1] = n;
  key[2] = c;
  key[3] = h * w;
  key[4] = f32Bits(eps);
  readActivation(W, o.activation, key, 5);
  extents[0] = extents[5] = 4 * total;
  extents[1] =
    extents[2] =
    extents[3] =
    extents[4] =
      4 * c;
}

/**
 * A per-channel array of `who`'s call: a Float32Array of `c` elements (`what`
 * names the count in the message).
 */
export function perChannel(
  name: string,
  p: unknown,
  c: number,
  who: string = W,
  what = "c",
): Float32Array {
  if (!isFloat32Array(p)) fail(who, `${name} must be a Float32Array, got ${describe(p)}`, "type");
  const lp = viewLength(p);
  if (lp !== c) fail(who, `${name} has ${lp} elements; ${what} needs ${c}`, "range");
  return p;
}

/** The spec a key describes. */
export function decodeBatchNormKey(key: Int32Array): BatchNormSpec {
  return {
    n: key[1],
    c: key[2],
    channels: key[2],
    plane: key[3],
    epsilon: fromF32Bits(key[4]),
    activation: decodeActivation(key, 5),
  };
}
