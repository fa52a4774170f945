/**
 * The elementwise unary ops: ONNX name and definition, parameters with their
 * ONNX defaults, the emitter (shared with GEMM epilogues) and the f64
 * reference. An op's index here is its key slot value.
 *
 * @module
 */
import {
  emitClip,
  emitElu,
  emitGelu,
  emitGeluTanh,
  emitHardSigmoid,
  emitHardSwish,
  emitLeakyRelu,
  emitMish,
  emitRelu,
  emitSilu,
  emitSoftplus,
} from "../math/activations.ts";
import { emitErf } from "../math/erf.ts";
import { emitRoundHalf } from "../math/half.ts";
import { emitRoundEven } from "../math/round.ts";
import { emitExp } from "../math/exp.ts";
import { type Lanes, SIGN } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import { erf64, erfc64 } from "../math/reference.ts";
import { emitSigmoid, emitTanh } from "../math/tanh.ts";
import { f32 } from "../vec.ts";

/** Parameters of a unary op (each op reads the ones it names). */
export interface UnaryParams {
  /** leakyRelu slope (0.01), elu (1), selu (1.6733), hardSigmoid slope (0.2). */
  alpha?: number;
  /** hardSigmoid offset (0.5). */
  beta?: number;
  /** selu scale (1.0507). */
  gamma?: number;
  /** clip lower bound (lowest f32). */
  min?: number;
  /** clip upper bound (largest f32). */
  max?: number;
}

/** A parameter name. */
export type UnaryParam = keyof UnaryParams;

/** One unary op. */
export interface UnaryOpDef {
  /** The name `jit.unary` takes. */
  readonly name: string;
  /** The parameters it reads (at most two), and their defaults. */
  readonly params: readonly UnaryParam[];
  readonly defaults: readonly number[];
  /** Approximate FLOPs per element (for stats). */
  readonly flops: number;
  /** y = op(x) on vector registers (y ≠ x, x kept), parameters already f32. */
  emit(m: Lanes, y: number, x: number, p: readonly number[]): void;
  /** op(x) in f64. */
  reference(x: number, p: readonly number[]): number;
}

const FLT_MAX = 3.4028234663852886e38;
const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

const sigmoid64 = (x: number) => x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
const elu64 = (x: number, alpha: number) => x > 0 ? x : alpha * Math.expm1(x);
const nanKept = (x: number, f: (x: number) => number) => Number.isNaN(x) ? x : f(x);

const op = (
  name: string,
  flops: number,
  emit: UnaryOpDef["emit"],
  reference: UnaryOpDef["reference"],
  params: readonly UnaryParam[] = [],
  defaults: readonly number[] = [],
): UnaryOpDef => ({
  name,
  params,
  defaults,
  flops,
  // The contract, checked when code is generated: an emitter may write y before it reads x.
  emit: (m, y, x, p) => {
    if (y === x) throw new Error(`unary ${name}: the result register must not be x's (${x})`);
    emit(m, y, x, p);
  },
  reference,
});

/** Every unary op, by key id. */
export const UNARY_OPS: readonly UnaryOpDef[] = [
  // max(x, 0) as the kernel computes it: x for x ≥ 0, so −0 stays −0 (Math.max(0, −0) is +0).
  op("relu", 1, (m, y, x) => emitRelu(m, y, x), (x) => nanKept(x, (v) => (v < 0 ? 0 : v))),
  op(
    "leakyRelu",
    2,
    (m, y, x, p) => emitLeakyRelu(m, y, x, p[0]),
    (x, p) => x < 0 ? p[0] * x : x,
    ["alpha"],
    [0.01],
  ),
  op(
    "elu",
    15,
    (m, y, x, p) => emitElu(m, y, x, p[0]),
    (x, p) => elu64(x, p[0]),
    ["alpha"],
    [1],
  ),
  op(
    "selu",
    15,
    (m, y, x, p) => emitElu(m, y, x, p[0], p[1]),
    (x, p) => p[1] * elu64(x, p[0]),
    ["alpha", "gamma"],
    [SELU_ALPHA, SELU_GAMMA],
  ),
  op(
    "gelu",
    45,
    (m, y, x) => emitGelu(m, y, x),
    (x) =>
      x >= 0
        ? 0.5 * x * (1 + erf64(x * Math.SQRT1_2))
        : x === -Infinity
        ? -0
        : 0.5 * x * erfc64(-x * Math.SQRT1_2),
  ),
  op("geluTanh", 25, (m, y, x) => emitGeluTanh(m, y, x), (x) => {
    if (x === -Infinity) return -0;
    return x * sigmoid64(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x));
  }),
  op("sigmoid", 20, (m, y, x) => emitSigmoid(m, y, x), sigmoid64),
  op(
    "hardSigmoid",
    3,
    (m, y, x, p) => emitHardSigmoid(m, y, x, p[0], p[1]),
    (x, p) => nanKept(x, (v) => Math.max(0, Math.min(1, p[0] * v + p[1]))),
    ["alpha", "beta"],
    [0.2, 0.5],
  ),
  op("silu", 22, (m, y, x) => emitSilu(m, y, x), (x) => x === -Infinity ? -0 : x * sigmoid64(x)),
  op(
    "hardSwish",
    4,
    (m, y, x) => emitHardSwish(m, y, x),
    (x) => nanKept(x, (v) => v <= -3 ? -0 : v * Math.max(0, Math.min(1, v / 6 + 0.5))),
  ),
  op("mish", 30, (m, y, x) => emitMish(m, y, x), (x) => {
    if (x === -Infinity) return -0;
    return x * Math.tanh(x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
  }),
  op(
    "softplus",
    40,
    (m, y, x) => emitSoftplus(m, y, x),
    (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
  ),
  op("tanh", 25, (m, y, x) => emitTanh(m, y, x), Math.tanh),
  op("exp", 12, (m, y, x) => emitExp(m, y, x, { oneUlp: true }), Math.exp),
  op("log", 20, (m, y, x) => emitLog(m, y, x), Math.log),
  op("sqrt", 1, (m, y, x) => m.v.sqrt(y, x), Math.sqrt),
  op("reciprocal", 1, (m, y, x) => {
    m.v.move(y, f32(1));
    m.v.op("div", y, y, x);
  }, (x) => 1 / x),
  op("abs", 1, (m, y, x) => m.abs(y, x), Math.abs),
  op("neg", 1, (m, y, x) => m.v.op("xor", y, x, SIGN), (x) => -x),
  op("erf", 25, (m, y, x) => emitErf(m, y, x), erf64),
  op(
    "clip",
    2,
    (m, y, x, p) => emitClip(m, y, x, p[0], p[1]),
    (x, p) => nanKept(x, (v) => Math.min(p[1], Math.max(p[0], v))),
    ["min", "max"],
    [-FLT_MAX, FLT_MAX],
  ),
  // To the nearest float16 and back (a float16 model's casts): the engine's own rounding.
  op("roundHalf", 11, (m, y, x) => emitRoundHalf(m, y, x), (x) => Math.f16round(x)),
  // Halves to even; Math.round takes them up (and keeps −0 for −0.5 < x ≤ −0).
  op("round", 7, (m, y, x) => emitRoundEven(m, y, x), (x) => {
    const r = Math.round(x);
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }),
];

/** The names `jit.unary` takes (and GEMM activations), in key id order. */
export const UNARY_OP_NAMES: readonly UnaryOp[] = UNARY_OPS.map((o) => o.name as UnaryOp);

/** Op name → key id. */
export const UNARY_IDS: ReadonlyMap<string, number> = new Map(UNARY_OPS.map((o, i) => [o.name, i]));

/** The names `jit.unary` accepts. */
export type UnaryOp =
  | "relu"
  | "leakyRelu"
  | "elu"
  | "selu"
  | "gelu"
  | "geluTanh"
  | "sigmoid"
  | "hardSigmoid"
  | "silu"
  | "hardSwish"
  | "mish"
  | "softplus"
  | "tanh"
  | "exp"
  | "log"
  | "sqrt"
  | "reciprocal"
  | "abs"
  | "neg"
  | "erf"
  | "clip"
  | "roundHalf"
  | "round";
