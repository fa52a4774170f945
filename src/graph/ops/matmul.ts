/**
 * MatMul (numpy semantics: 1-D promotion, broadcast batch dims) and Gemm on
 * `jit.gemm`, constant B packed once; their fused forms (bias and
 * activation in the GEMM epilogue) are the same ops with `node.fused` set.
 * A batch that B does not vary over is one GEMM with m = batch·M.
 */
import type { GemmOptions } from "../../kernels/gemm/mod.ts";
import type { Node } from "../ir.ts";
import { StridedCopy } from "./copy.ts";
import { broadcastStrides } from "./binary.ts";
import {
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  type Step,
  stridesOf,
} from "./op.ts";

interface MatMulShape {
  /** Output dims. */
  dims: number[];
  batch: number[];
  m: number;
  k: number;
  n: number;
  /** A's and B's dims promoted to rank ≥ 2. */
  a: number[];
  b: number[];
}

function matmulShape(n: Node, a: readonly number[], b: readonly number[]): MatMulShape {
  if (a.length === 0 || b.length === 0) fail(n, "MatMul of a scalar");
  const pa = a.length === 1 ? [1, a[0]] : a.slice();
  const pb = b.length === 1 ? [b[0], 1] : b.slice();
  const m = pa[pa.length - 2],
    k = pa[pa.length - 1],
    kb = pb[pb.length - 2],
    nn = pb[pb.length - 1];
  if (k !== kb) fail(n, `inner dimensions differ: A [${a.join(", ")}], B [${b.join(", ")}]`);
  const ba = pa.slice(0, -2), bb = pb.slice(0, -2), r = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = ba[ba.length - r + i] ?? 1, y = bb[bb.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      fail(n, `batch dims of A [${a.join(", ")}] and B [${b.join(", ")}] do not broadcast`);
    }
    batch.push(x === 1 ? y : x);
  }
  const dims = [...batch];
  if (a.length > 1) dims.push(m);
  if (b.length > 1) dims.push(nn);
  return { dims, batch, m, k, n: nn, a: pa, b: pb };
}

const MATMUL_INPUTS = 2;

function inferMatMul(n: Node, ins: readonly (Meta | null)[]): Meta[] {
  const fused = n.domain === "njit";
  const xs = need(n, ins, MATMUL_INPUTS, fused ? 3 : 2);
  expectType(n, xs[0], 0, "float32");
  expectType(n, xs[1], 1, "float32");
  const s = matmulShape(n, xs[0].dims, xs[1].dims);
  if (xs[2] && (xs[2].dims.length !== 1 || xs[2].dims[0] !== s.n)) fail(n, "bias must be [N]");
  return [meta("float32", s.dims)];
}

function buildMatMul(n: Node, ins: readonly (Buf | null)[], outs: readonly Buf[], env: Env): Step {
  const a = ins[0]!, b = ins[1]!, y = outs[0];
  const s = matmulShape(n, a.dims, b.dims);
  const options: GemmOptions = { m: s.m, n: s.n, k: s.k };
  if (ins[2]) options.bias = ins[2].data as Float32Array;
  if (n.fused?.activation) options.activation = n.fused.activation;
  const jit = env.jit, yd = y.data as Float32Array;
  const batches = s.batch.reduce((p, q) => p * q, 1);
  const bBatch = s.b.slice(0, -2).reduce((p, q) => p * q, 1);
  const aBatch = s.a.slice(0, -2).reduce((p, q) => p * q, 1);
  if (bBatch === 1 && aBatch === batches) {
    // B the same for every batch: one GEMM over all rows of A.
    options.m = s.m * batches;
    const ad = a.data as Float32Array;
    const bv = b.constant
      ? env.weights.packB(b.data as Float32Array, { k: s.k, n: s.n })
      : b.data as Float32Array;
    return { native: true, run: () => jit.gemm(ad, bv, yd, options) };
  }
  // Batched: one GEMM per batch on views (made once here).
  const as = broadcastStrides(s.a.slice(0, -2), s.batch),
    bs = broadcastStrides(s.b.slice(0, -2), s.batch);
  const views: [Float32Array, Float32Array, Float32Array][] = [];
  const idx = new Array(s.batch.length).fill(0);
  for (let i = 0; i < batches; i++) {
    let ao = 0, bo = 0;
    for (let d = 0; d < idx.length; d++) {
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
    }
    const mk = s.m * s.k, kn = s.k * s.n, mn = s.m * s.n;
    views.push([
      (a.data as Float32Array).subarray(ao * mk, ao * mk + mk),
      (b.data as Float32Array).subarray(bo * kn, bo * kn + kn),
      yd.subarray(i * mn, i * mn + mn),
    ]);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < s.batch[d]) break;
      idx[d] = 0;
    }
  }
  return {
    native: true,
    run: () => {
      for (const [av, bv, cv] of views) jit.gemm(av, bv, cv, options);
    },
  };
}

/** ONNX MatMul (and the fused MatMul + bias + activation of domain njit). */
export const MATMUL: OpDef = {
  attributes: [],
  infer: inferMatMul,
  build: buildMatMul,
};

function gemmDims(n: Node, a: Meta, b: Meta): [number, number, number] {
  if (a.dims.length !== 2 || b.dims.length !== 2) fail(n, "A and B must be 2-D");
  const ta = n.attrs.int("transA", 0) !== 0, tb = n.attrs.int("transB", 0) !== 0;
  const [m, k] = ta ? [a.dims[1], a.dims[0]] : a.dims;
  const [kb, nn] = tb ? [b.dims[1], b.dims[0]] : b.dims;
  if (k !== kb) {
    fail(n, `inner dimensions differ: A [${a.dims.join(", ")}], B [${b.dims.join(", ")}]`);
  }
  return [m, k, nn];
}

/** ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C (C broadcast to M×N), activation when fused. */
export const GEMM_OP: OpDef = {
  attributes: ["alpha", "beta", "transA", "transB"],
  infer(n, ins) {
    const xs = need(n, ins, 2, 3);
    expectType(n, xs[0], 0, "float32");
    expectType(n, xs[1], 1, "float32");
    const [m, , nn] = gemmDims(n, xs[0], xs[1]);
    const c = xs[2];
    if (c) {
      const d = c.dims;
      if (
        d.length > 2 || (d.length >= 1 && d[d.length - 1] !== 1 && d[d.length - 1] !== nn) ||
        (d.length === 2 && d[0] !== 1 && d[0] !== m)
      ) {
        fail(n, `C [${d.join(", ")}] does not broadcast to [${m}, ${nn}]`);
      }
    }
    return [meta("float32", [m, nn])];
  },
  build(n, ins, outs, env) {
    const a = ins[0]!, b = ins[1]!, c = ins[2], y = outs[0];
    const [m, k, nn] = gemmDims(n, a, b);
    const ta = n.attrs.int("transA", 0) !== 0, tb = n.attrs.int("transB", 0) !== 0;
    const alpha = n.attrs.float("alpha", 1), beta = n.attrs.float("beta", 1);
    const options: GemmOptions = { m, n: nn, k, transA: ta, alpha };
    if (n.fused?.activation) options.activation = n.fused.activation;
    const jit = env.jit, ad = a.data as Float32Array, yd = y.data as Float32Array;
    let bv: Float32Array | ReturnType<Env["weights"]["packB"]> = b.data as Float32Array;
    if (b.constant) bv = env.weights.packB(b.data as Float32Array, { k, n: nn, transB: tb });
    else options.transB = tb;
    if (!c || beta === 0) return { native: true, run: () => jit.gemm(ad, bv, yd, options) };
    const cd = c.dims;
    const isRow = cd.length === 0
      ? nn === 1
      : cd[cd.length - 1] === nn && (cd.length === 1 || cd[0] === 1);
    if (isRow && (beta === 1 || c.constant)) {
      // C is a row: the epilogue's bias (scaled once when constant).
      let bias = c.data as Float32Array;
      if (beta !== 1) bias = bias.map((v) => Math.fround(beta * v));
      options.bias = bias;
      return { native: true, run: () => jit.gemm(ad, bv, yd, options) };
    }
    // C broadcast into Y, then Y = alpha·AB + beta·Y.
    options.beta = beta;
    const copy = new StridedCopy([m, nn], broadcastStrides(cd, [m, nn]), stridesOf([m, nn]));
    const cdata = c.data;
    return {
      native: false,
      run: () => {
        copy.run(cdata, yd);
        jit.gemm(ad, bv, yd, options);
      },
    };
  },
};
