/**
 * Random ops: RandomNormal, RandomUniform (and their -Like forms), Bernoulli,
 * Multinomial — TypeScript steps that draw new values on every run (never
 * folded). A `seed` seeds the session's generator for the node once, so a
 * seeded node's sequence of runs repeats from session to session (its values
 * are ours, not ONNX Runtime's: neither the spec nor ORT fixes a generator);
 * without one the generator is seeded from crypto.getRandomValues.
 * The generator: xoshiro128** (32-bit state words); normals by Box–Muller.
 */
import type { Node } from "../ir.ts";
import { dtypeOf, NUMERIC_TYPES, onnxTypeName } from "../../onnx/dtype.ts";
import type { DType, TensorData } from "../../onnx/dtype.ts";
import { expectType, fail, meta, need, type OpDef } from "./op.ts";

/** A xoshiro128** generator: uniform floats in [0, 1) with 32 random bits each. */
class Generator {
  #s = new Uint32Array(4);
  constructor(seed: number | null) {
    if (seed === null) crypto.getRandomValues(this.#s);
    else {
      // splitmix32 of the seed's float32 bits fills the state (never all zero).
      let z = new Uint32Array(new Float32Array([seed]).buffer)[0];
      for (let i = 0; i < 4; i++) {
        z = (z + 0x9e3779b9) >>> 0;
        let t = z;
        t = Math.imul(t ^ (t >>> 16), 0x21f0aaad);
        t = Math.imul(t ^ (t >>> 15), 0x735a2d97);
        this.#s[i] = (t ^ (t >>> 15)) >>> 0;
      }
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }
  /** A uniform float in [0, 1). */
  next(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r / 4294967296;
  }
  /** A standard normal (Box–Muller; 1 − u keeps the log finite). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

const seedOf = (n: Node): number | null => (n.attrs.has("seed") ? n.attrs.float("seed", 0) : null);

/** The output dtype from `dtype` (ONNX type number), or `fallback`, checked against `allowed`. */
function dtypeAttr(n: Node, fallback: DType, allowed: readonly DType[]): DType {
  if (!n.attrs.has("dtype")) return fallback;
  const code = n.attrs.int("dtype", 1), t = dtypeOf(code);
  if (t === null || !allowed.includes(t)) {
    fail(n, `dtype ${onnxTypeName(code)} is not supported (${allowed.join(", ")})`);
  }
  return t;
}

/** Writes v at i of a tensor of any type. */
function put(data: TensorData, i: number, v: number): void {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(v);
  else (data as Float32Array)[i] = v;
}

const FLOATS: readonly DType[] = ["float32", "float64"];

/** RandomNormal/RandomUniform (shape attribute) or their -Like forms (an input's shape). */
function randomDef(kind: "normal" | "uniform", like: boolean): OpDef {
  const attributes = kind === "normal" ? ["mean", "scale"] : ["low", "high"];
  attributes.push("dtype", "seed");
  if (!like) attributes.push("shape");
  return {
    attributes,
    random: true,
    infer(n, ins) {
      let dims: number[];
      let fallback: DType = "float32";
      if (like) {
        const [x] = need(n, ins, 1);
        dims = x.dims;
        if (FLOATS.includes(x.type)) fallback = x.type;
      } else {
        need(n, ins, 0);
        dims = n.attrs.ints("shape") ?? fail(n, "shape is required");
        if (dims.some((d) => !(d >= 0))) fail(n, `shape [${dims}] must be ≥ 0`);
      }
      return [{ ...meta(dtypeAttr(n, fallback, FLOATS), dims), data: null }];
    },
    build(n, _ins, outs) {
      const g = new Generator(seedOf(n)), y = outs[0].data;
      const [a, b] = kind === "normal"
        ? [n.attrs.float("mean", 0), n.attrs.float("scale", 1)]
        : [n.attrs.float("low", 0), n.attrs.float("high", 1)];
      return {
        native: false,
        run: () => {
          for (let i = 0; i < y.length; i++) {
            put(y, i, kind === "normal" ? a + b * g.normal() : a + (b - a) * g.next());
          }
        },
      };
    },
  };
}

const NUMBERS: readonly DType[] = [...NUMERIC_TYPES, "bool"];

/** Bernoulli: 1 with each input's probability, else 0. */
const BERNOULLI: OpDef = {
  attributes: ["dtype", "seed"],
  random: true,
  infer(n, ins) {
    const [p] = need(n, ins, 1);
    expectType(n, p, 0, "float32", "float64");
    return [{ ...meta(dtypeAttr(n, p.type, NUMBERS), p.dims), data: null }];
  },
  build(n, ins, outs) {
    const g = new Generator(seedOf(n)), p = ins[0]!.data as Float32Array, y = outs[0].data;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < p.length; i++) put(y, i, g.next() < p[i] ? 1 : 0);
      },
    };
  },
};

/** Multinomial: sample_size class indices per row of unnormalized log-probabilities. */
const MULTINOMIAL: OpDef = {
  attributes: ["dtype", "sample_size", "seed"],
  random: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32", "float64");
    if (x.dims.length !== 2) fail(n, `input [${x.dims}] must be [batch, classes]`);
    const k = n.attrs.int("sample_size", 1);
    if (!(k >= 1)) fail(n, `sample_size must be ≥ 1, got ${k}`);
    const t = dtypeAttr(n, "int32", ["int32", "int64"]);
    return [{ ...meta(t, [x.dims[0], k]), data: null }];
  },
  build(n, ins, outs) {
    const g = new Generator(seedOf(n)), x = ins[0]!.data as Float32Array, y = outs[0].data;
    const [rows, classes] = ins[0]!.dims, k = n.attrs.int("sample_size", 1);
    const cdf = new Float64Array(classes);
    return {
      native: false,
      run: () => {
        for (let r = 0; r < rows; r++) {
          // Cumulative exp(x − max): a draw's class is the first whose sum exceeds u·total.
          let max = -Infinity, total = 0;
          for (let c = 0; c < classes; c++) max = Math.max(max, x[r * classes + c]);
          for (let c = 0; c < classes; c++) cdf[c] = total += Math.exp(x[r * classes + c] - max);
          for (let s = 0; s < k; s++) {
            const u = g.next() * total;
            let c = 0;
            while (c < classes - 1 && !(cdf[c] > u)) c++;
            put(y, r * k + s, c);
          }
        }
      },
    };
  },
};

/** The random ops. */
export const RANDOM_OPS: Record<string, OpDef> = {
  RandomNormal: randomDef("normal", false),
  RandomNormalLike: randomDef("normal", true),
  RandomUniform: randomDef("uniform", false),
  RandomUniformLike: randomDef("uniform", true),
  Bernoulli: BERNOULLI,
  Multinomial: MULTINOMIAL,
};
