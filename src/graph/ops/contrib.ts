/**
 * The com.microsoft ops ONNX Runtime's transformer optimizer and 4-bit
 * exports write, on our kernels: SkipLayerNormalization and
 * SkipSimplifiedLayerNormalization (the residual LayerNorm/RMSNorm, a bias
 * added first), FastGelu (tanh form) and BiasGelu/Gelu (erf form), QuickGelu
 * (x·sigmoid(alpha·x)), and MatMulNBits (weights of 2-8 bits in blocks along
 * K with a scale and zero point each, dequantized once at create, then the
 * float GEMM: as ONNX Runtime's accuracy level 0 computes it). Plus
 * SimplifiedLayerNormalization, which ONNX Runtime registers in the
 * default domain.
 */
import { ChainSteps } from "../../kernels/chain/mod.ts";
import type { GemmOptions, PackedB } from "../../kernels/gemm/mod.ts";
import { type PackedNBits, packNBits } from "../../kernels/nbits/mod.ts";
import type { Node } from "../ir.ts";
import { GQA_OPS } from "./gqa.ts";
import { MHA_OPS } from "./mha.ts";
import { FUSED_MATMUL } from "./matmul.ts";
import { QLINEAR_MS_OPS } from "./qlinear_ms.ts";
import { MATMUL_INTEGER_FLOAT_OPS } from "./matmul_integer_float.ts";
import { QUANTIZE_OPS } from "./quantize.ts";
import { BERT_CONTRIB_OPS } from "./bert_contrib.ts";
import {
  askedOutput,
  type Buf,
  type Env,
  expectType,
  fail,
  meta,
  need,
  type OpDef,
  sizeOf,
  type Step,
} from "./op.ts";

/** x (+ b broadcast along rows) into `t`, then `f(t)`: a bias added before an op. */
function withBias(
  jit: Env["jit"],
  x: Buf,
  b: Buf | null,
  y: Float32Array,
  f: (t: Float32Array) => void,
): Step {
  const xd = x.data as Float32Array;
  if (!b) return { native: true, run: () => f(xd) };
  const bd = b.data as Float32Array, t = y;
  return {
    native: true,
    run: () => {
      jit.binary("add", xd, x.dims, bd, b.dims, t);
      f(t);
    },
  };
}

/** A unary op of x (+ bias), as its own step; `make` reads the node's attributes once. */
function activationOp(
  inputs: number,
  make: (n: Node) => (jit: Env["jit"], t: Float32Array, y: Float32Array) => void,
  attributes: string[] = [],
): OpDef {
  return {
    attributes,
    infer(n, ins) {
      const xs = need(n, ins, 1, inputs);
      xs.forEach((m, i) => m && expectType(n, m, i, "float32"));
      const [x, b] = xs;
      if (b && (b.dims.length !== 1 || b.dims[0] !== x.dims[x.dims.length - 1])) {
        fail(n, `the bias must be 1-D of ${x.dims[x.dims.length - 1]} (X's last dimension)`);
      }
      return [meta("float32", x.dims)];
    },
    build(n, ins, outs, env) {
      const y = outs[0].data as Float32Array, jit = env.jit, run = make(n);
      return withBias(jit, ins[0]!, ins[1] ?? null, y, (t) => run(jit, t, y));
    },
  };
}

/** SkipLayerNormalization / SkipSimplifiedLayerNormalization: norm(input + skip + bias). */
function skipNorm(kind: "layer" | "rms"): OpDef {
  // Inputs: input, skip, gamma, then beta (layer only), bias.
  const biasAt = kind === "layer" ? 4 : 3;
  return {
    attributes: ["epsilon"],
    infer(n, ins) {
      const xs = need(n, ins, 3, biasAt + 1);
      xs.forEach((m, i) => m && expectType(n, m, i, "float32"));
      const [x, skip, gamma] = xs, h = x.dims[x.dims.length - 1];
      if (skip.dims.join() !== x.dims.join()) fail(n, "skip must have the input's shape");
      if (sizeOf(gamma.dims) !== h) fail(n, `gamma must have ${h} elements`);
      for (const i of [3, 4]) {
        if (xs[i] && sizeOf(xs[i]!.dims) !== h) fail(n, `input ${i} must have ${h} elements`);
      }
      if (n.outputs[1] || n.outputs[2]) {
        fail(n, "the mean and inverse deviation outputs are not supported");
      }
      return [
        meta("float32", x.dims),
        meta("float32", [1]),
        meta("float32", [1]),
        meta("float32", x.dims),
      ];
    },
    // Each step reads a row of the input before it writes that row of y.
    inPlace: () => true,
    build(n, ins, outs, env) {
      const x = ins[0]!, skip = ins[1]!, jit = env.jit, h = x.dims[x.dims.length - 1];
      const y = outs[0].data as Float32Array, sum = askedOutput(outs, 3);
      const o = {
        rows: sizeOf(x.dims) / h,
        cols: h,
        scale: ins[2]!.data as Float32Array,
        epsilon: n.attrs.float("epsilon", 1e-12),
        residual: skip.data as Float32Array,
      };
      const beta = kind === "layer" ? ins[3] : null, bias = ins[biasAt] ?? null;
      const layerO = beta ? { ...o, bias: beta.data as Float32Array } : o;
      const norm = (t: Float32Array) =>
        kind === "layer" ? jit.layerNorm(t, y, layerO) : jit.rmsNorm(t, y, o);
      const xd = x.data as Float32Array, sd = skip.data as Float32Array;
      if (!bias && !sum) return { native: true, run: () => norm(xd) };
      // input + bias into y, normalized there in place (the norm adds the skip); with the sum
      // output, input (+ bias) + skip into it, normalized into y.
      const bd = bias?.data as Float32Array | undefined, t = bd ? y : xd;
      const dims = x.dims, bdims = bias?.dims ?? [];
      // The sum output given: it is the normalized input (no residual left to add).
      const plain = { rows: o.rows, cols: o.cols, scale: o.scale, epsilon: o.epsilon };
      const plainLayer = beta ? { ...plain, bias: beta.data as Float32Array } : plain;
      return {
        native: true,
        run: () => {
          if (bd) jit.binary("add", xd, dims, bd, bdims, y);
          if (sum) {
            jit.binary("add", t, dims, sd, dims, sum);
            if (kind === "layer") jit.layerNorm(sum, y, plainLayer);
            else jit.rmsNorm(sum, y, plain);
          } else norm(t);
        },
      };
    },
  };
}

/** SimplifiedLayerNormalization (default domain in ONNX Runtime): RMSNorm from `axis`. */
const SIMPLIFIED_LAYER_NORM: OpDef = {
  attributes: ["axis", "epsilon", "stash_type"],
  infer(n, ins) {
    const [x, scale] = need(n, ins, 2);
    expectType(n, x, 0, "float32");
    expectType(n, scale, 1, "float32");
    if (n.outputs[1]) fail(n, "the inverse deviation output is not supported");
    return [meta("float32", x.dims), meta("float32", [1])];
  },
  inPlace: () => true,
  build(n, ins, outs, env) {
    const x = ins[0]!, r = x.dims.length;
    let axis = n.attrs.int("axis", -1);
    if (axis < 0) axis += r;
    const cols = sizeOf(x.dims.slice(axis));
    if (sizeOf(ins[1]!.dims) !== cols) fail(n, `scale must have ${cols} elements`);
    const o = {
      rows: sizeOf(x.dims.slice(0, axis)),
      cols,
      scale: ins[1]!.data as Float32Array,
      epsilon: n.attrs.float("epsilon", 1e-5),
    };
    const xd = x.data as Float32Array, yd = outs[0].data as Float32Array, jit = env.jit;
    return { native: true, run: () => jit.rmsNorm(xd, yd, o) };
  },
};

/**
 * Per weights — their q, scales and zero points (nodes may share q with other scales or zero
 * points) —: the 4-bit packing, and per session the dequantized float weights, each made
 * once, on the first plan that needs it (decoder steps make a plan per length).
 */
const NBITS_PACKED = new WeakMap<object, { of: unknown[]; packed: PackedNBits }[]>();
const NBITS_FLOAT = new WeakMap<object, WeakMap<object, { of: unknown[]; packed: PackedB }[]>>();

/** The entry of `list` made from exactly these arrays (by identity), or undefined. */
function madeFrom<T extends { of: unknown[] }>(
  list: T[] | undefined,
  of: unknown[],
): T | undefined {
  return list?.find((e) => e.of.every((x, i) => x === of[i]));
}

/** Rows of A up to which the 4-bit kernel runs (each weight dequantized once per 4 rows; above, the float GEMM). */
const NBITS_MAX_ROWS = 8;

/**
 * MatMulNBits: A [..., K] × W [K, N] (+ bias). Up to 8 rows of A at 4 bits with K even:
 * `jit.matmulNBits`, reading W at 4 bits a weight (a decoder's step: measured 3.5× the float
 * GEMM at 4096×4096, one thread; 1.14× at 8 rows, 0.86× at 16); else the GEMM on W
 * dequantized once.
 */
const MATMUL_NBITS: OpDef = {
  attributes: ["K", "N", "bits", "block_size", "accuracy_level"],
  infer(n, ins) {
    const [a, b, scales] = need(n, ins, 3, 6);
    expectType(n, a, 0, "float32");
    expectType(n, b, 1, "uint8");
    expectType(n, scales, 2, "float32");
    if (ins[4]) fail(n, "g_idx is not supported");
    const K = n.attrs.int("K", 0), N = n.attrs.int("N", 0);
    if (a.dims[a.dims.length - 1] !== K) fail(n, `A's last dimension must be K = ${K}`);
    if (b.data === null || scales.data === null) fail(n, "B and its scales must be constants");
    return [meta("float32", [...a.dims.slice(0, -1), N])];
  },
  build(n, ins, outs, env) {
    const a = ins[0]!, K = n.attrs.int("K", 0), N = n.attrs.int("N", 0);
    const bits = n.attrs.int("bits", 4), block = n.attrs.int("block_size", 0);
    if (bits < 2 || bits > 8 || block < 16 || (block & (block - 1))) {
      fail(n, `bits ${bits} and block_size ${block}: bits 2-8, a block size a power of 2 ≥ 16`);
    }
    const blocks = Math.ceil(K / block), blob = (block * bits) / 8;
    const q = ins[1]!.data as Uint8Array, sc = ins[2]!.data as Float32Array;
    if (q.length !== N * blocks * blob || sc.length !== N * blocks) {
      fail(n, `B must be [${N}, ${blocks}, ${blob}] bytes and scales ${N * blocks} values`);
    }
    const zp = ins[3] ?? null, bias = ins[5] ?? null;
    const ad = a.data as Float32Array, yd = outs[0].data as Float32Array, jit = env.jit;
    const rows = sizeOf(a.dims) / K;
    const of = [sc, zp?.data ?? null];
    if (bits === 4 && K % 2 === 0 && rows <= NBITS_MAX_ROWS) {
      let packed = madeFrom(NBITS_PACKED.get(q), of)?.packed;
      if (!packed) {
        const z = zp?.data as Uint8Array | Float32Array | undefined;
        packed = packNBits({ k: K, n: N, block, q, scales: sc, ...(z ? { zeroPoints: z } : {}) });
        const list = NBITS_PACKED.get(q) ?? NBITS_PACKED.set(q, []).get(q)!;
        list.push({ of, packed });
      }
      const w = packed, o = { m: rows, ...(bias ? { bias: bias.data as Float32Array } : {}) };
      return { native: true, run: () => jit.matmulNBits(ad, w, yd, o) };
    }
    // The float weights belong to a session's Jit: cached per weight cache.
    const floats = NBITS_FLOAT.get(env.weights) ??
      NBITS_FLOAT.set(env.weights, new WeakMap()).get(env.weights)!;
    const cached = madeFrom(floats.get(q), of)?.packed;
    if (cached) {
      const o: GemmOptions = { m: rows, n: N, k: K };
      if (bias) o.bias = bias.data as Float32Array;
      return { native: true, run: () => jit.gemm(ad, cached, yd, o) };
    }
    const mask = (1 << bits) - 1, mid = 1 << (bits - 1);
    // Zero points: packed like B (one per block), or floats; default 2^(bits-1).
    const zeroOf = (col: number, blk: number): number => {
      if (!zp) return mid;
      if (zp.type === "float32") return (zp.data as Float32Array)[col * blocks + blk];
      const perCol = Math.ceil((blocks * bits) / 8), bit = blk * bits;
      const byte = (zp.data as Uint8Array)[col * perCol + (bit >> 3)];
      return (byte >> (bit & 7)) & mask;
    };
    // Dequantized as ONNX Runtime's float path does: (q − zero point)·scale, in float32.
    const w = new Float32Array(K * N);
    for (let col = 0; col < N; col++) {
      for (let blk = 0; blk < blocks; blk++) {
        const s = sc[col * blocks + blk], z = zeroOf(col, blk), base = (col * blocks + blk) * blob;
        for (let j = 0; j < block; j++) {
          const k = blk * block + j;
          if (k >= K) break;
          const bit = j * bits, v = (q[base + (bit >> 3)] >> (bit & 7)) & mask;
          w[k * N + col] = Math.fround((v - z) * s);
        }
      }
    }
    const packed = env.weights.packB(w, { k: K, n: N });
    (floats.get(q) ?? floats.set(q, []).get(q)!).push({ of, packed });
    const o: GemmOptions = { m: rows, n: N, k: K };
    if (bias) o.bias = bias.data as Float32Array;
    return { native: true, run: () => jit.gemm(ad, packed, yd, o) };
  },
};

/** The com.microsoft ops we run. */
export const MICROSOFT_OPS: Record<string, OpDef> = {
  SkipLayerNormalization: skipNorm("layer"),
  SkipSimplifiedLayerNormalization: skipNorm("rms"),
  FastGelu: activationOp(2, () => (jit, t, y) => jit.unary("geluTanh", t, y)),
  BiasGelu: activationOp(2, () => (jit, t, y) => jit.unary("gelu", t, y)),
  Gelu: activationOp(1, () => (jit, t, y) => jit.unary("gelu", t, y)),
  QuickGelu: activationOp(1, (n) => {
    const steps = new ChainSteps([
      { op: "mul", value: n.attrs.float("alpha", 1.702) },
      "sigmoid",
      { op: "mul", x: true },
    ]);
    return (jit, t, y) => jit.chain(t, y, steps);
  }, ["alpha"]),
  MatMulNBits: MATMUL_NBITS,
  FusedMatMul: FUSED_MATMUL,
  ...QLINEAR_MS_OPS,
  ...MATMUL_INTEGER_FLOAT_OPS,
  // Its QDQ pair in its own domain (the quantizer's use_qdq_contrib_ops), 8-bit as ONNX's.
  QuantizeLinear: QUANTIZE_OPS.QuantizeLinear,
  DequantizeLinear: QUANTIZE_OPS.DequantizeLinear,
  ...GQA_OPS,
  ...MHA_OPS,
  ...BERT_CONTRIB_OPS,
};

/** ONNX Runtime's default-domain contrib op. */
export const DEFAULT_DOMAIN_CONTRIB_OPS: Record<string, OpDef> = {
  SimplifiedLayerNormalization: SIMPLIFIED_LAYER_NORM,
};
