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
  broadcast,
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  type Step,
  stridesOf,
} from "./op.ts";

export interface MatMulShape {
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

export function matmulShape(n: Node, a: readonly number[], b: readonly number[]): MatMulShape {
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

/** Dims of a Transpose(x, perm) (perm null: x's). */
function permuted(dims: readonly number[], perm: readonly number[] | null | undefined): number[] {
  return perm ? perm.map((p) => dims[p]) : dims.slice();
}

/** The inverse permutation (output perms: logical dims from the buffer's). */
function inverse(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function inferMatMul(n: Node, ins: readonly (Meta | null)[]): Meta[] {
  const fused = n.domain === "njit";
  const xs = need(n, ins, 2, fused ? 4 : 2);
  expectType(n, xs[0], 0, "float32");
  expectType(n, xs[1], 1, "float32");
  const perms = n.fused?.perms ?? [];
  for (let i = 0; i < 3; i++) {
    const p = perms[i], r = i < 2 ? xs[i].dims.length : null;
    if (p && r !== null && p.length !== r) {
      fail(n, `folded Transpose of input ${i} has rank ${p.length}, input ${r}`);
    }
  }
  const s = matmulShape(n, permuted(xs[0].dims, perms[0]), permuted(xs[1].dims, perms[1]));
  if (xs[2] && (xs[2].dims.length !== 1 || xs[2].dims[0] !== s.n)) fail(n, "bias must be [N]");
  const yPerm = perms[2];
  if (yPerm && yPerm.length !== s.dims.length) {
    fail(n, `folded output Transpose has rank ${yPerm.length}`);
  }
  const addend = xs[3];
  if (addend) {
    // What MatMul + Add of a computed tensor makes (fusions/matmul_addend.ts), and only that.
    expectType(n, addend, 3, "float32");
    if (yPerm || n.fused?.activation) {
      fail(n, "an addend with a folded output Transpose or an activation");
    }
    return [meta("float32", broadcast(n, s.dims, addend.dims))];
  }
  return [meta("float32", permuted(s.dims, yPerm))];
}

/** Whether an addend of the product is one row over its last axis, the GEMM's bias. */
function addendIsRow(addend: readonly number[], s: MatMulShape, bRank: number): boolean {
  const r = addend.length;
  return bRank > 1 && r > 0 && r <= s.dims.length && addend[r - 1] === s.n &&
    addend.slice(0, -1).every((d) => d === 1);
}

/** An operand seen through a perm: its logical dims and the strides to walk its buffer by them. */
interface View {
  dims: number[];
  strides: number[];
}

function viewOf(bufDims: readonly number[], perm: readonly number[] | null | undefined): View {
  const st = stridesOf(bufDims);
  return perm
    ? { dims: perm.map((p) => bufDims[p]), strides: perm.map((p) => st[p]) }
    : { dims: bufDims.slice(), strides: st };
}

/**
 * The product's view [...batch, m, n] of y, seen as its own dims [...batch, m]
 * (1-D B: no n axis) or [...batch, n] (1-D A: no m axis) through a folded
 * output Transpose: the missing axis, of length 1, put back (a found bug:
 * the output's last axis was taken for n, so Transpose(MatMul(x, v)) wrote
 * the wrong elements or none).
 */
function promoteOutput(v: View, aVector: boolean, bVector: boolean): View {
  const r = v.dims.length;
  if (bVector) return { dims: [...v.dims, 1], strides: [...v.strides, 1] };
  if (aVector) {
    const last = r - 1;
    return {
      dims: [...v.dims.slice(0, last), 1, v.dims[last]],
      strides: [...v.strides.slice(0, last), v.strides[last] * v.dims[last], v.strides[last]],
    };
  }
  return v;
}

/** Matrix part of a view: [transposed, leading dimension], or null when neither axis is contiguous. */
function matrixLayout(v: View): [boolean, number] | null {
  const r = v.dims.length, rows = v.strides[r - 2], cols = v.strides[r - 1];
  if (cols === 1 || v.dims[r - 1] === 1) return [false, Math.max(rows, v.dims[r - 1], 1)];
  if (rows === 1 || v.dims[r - 2] === 1) return [true, Math.max(cols, v.dims[r - 2], 1)];
  return null;
}

function buildMatMul(
  n: Node,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
  alpha = 1,
): Step {
  const addend = ins[3];
  if (!addend) return buildProduct(n, ins, outs[0], env, alpha);
  const a = ins[0]!, b = ins[1]!, perms = n.fused?.perms ?? [];
  const s = matmulShape(n, permuted(a.dims, perms[0]), permuted(b.dims, perms[1]));
  if (!ins[2] && addendIsRow(addend.dims, s, b.dims.length)) {
    return buildProduct(n, [a, b, addend], outs[0], env, alpha);
  }
  // Any other addend: the product, then the Add as its node would (in place where the
  // addend does not widen the product's shape).
  const y = outs[0], jit = env.jit;
  const product: Buf = y.dims.join() === s.dims.join() ? y : {
    type: "float32",
    dims: s.dims,
    data: new Float32Array(sizeOf(s.dims)),
    constant: false,
  };
  const mm = buildProduct(n, ins.slice(0, 3), product, env, alpha);
  const pd = product.data as Float32Array, ad = addend.data as Float32Array;
  const yd = y.data as Float32Array;
  return {
    native: true,
    run: () => {
      mm.run();
      jit.binary("add", pd, s.dims, ad, addend.dims, yd);
    },
  };
}

/** y = act(alpha·A·B + bias): the product of A and B (ins[2] the bias) into y. */
function buildProduct(
  n: Node,
  ins: readonly (Buf | null)[],
  y: Buf,
  env: Env,
  alpha: number,
): Step {
  const a = ins[0]!, b = ins[1]!;
  const perms = n.fused?.perms ?? [];
  const va = viewOf(a.dims, perms[0]), vb = viewOf(b.dims, perms[1]);
  const s = matmulShape(n, va.dims, vb.dims);
  const options: GemmOptions = { m: s.m, n: s.n, k: s.k };
  // A scale folded in by the MatMul + scale fusion multiplies FusedMatMul's alpha.
  const scaled = n.fused?.scale === undefined ? alpha : Math.fround(alpha * n.fused.scale);
  if (scaled !== 1) options.alpha = scaled;
  if (ins[2]) options.bias = ins[2].data as Float32Array;
  if (n.fused?.activation) options.activation = n.fused.activation;
  const jit = env.jit, yd = y.data as Float32Array;
  const batches = s.batch.reduce((p, q) => p * q, 1);
  const bBatch = s.b.slice(0, -2).reduce((p, q) => p * q, 1);
  const aBatch = s.a.slice(0, -2).reduce((p, q) => p * q, 1);
  // A 2-D B read transposed (FusedMatMul's transB, a folded Transpose of weights) is still B.
  const bT = b.dims.length === 2 && perms[1]?.[0] === 1;
  if (!perms[0] && !perms[2] && (!perms[1] || bT) && bBatch === 1 && aBatch === batches) {
    // B the same for every batch: one GEMM over all rows of A.
    options.m = s.m * batches;
    const ad = a.data as Float32Array;
    const bv = b.constant
      ? env.weights.packB(b.data as Float32Array, { k: s.k, n: s.n, transB: bT })
      : b.data as Float32Array;
    if (!b.constant && bT) options.transB = true;
    return { native: true, run: () => jit.gemm(ad, bv, yd, options) };
  }
  // Batched: one GEMM per batch on strided views (made once here). 1-D operands are
  // promoted as matmulShape does; a folded Transpose changes the strides only.
  const promote = (v: View, first: boolean): View =>
    v.dims.length > 1
      ? v
      : first
      ? { dims: [1, v.dims[0]], strides: [v.dims[0], 1] }
      : { dims: [v.dims[0], 1], strides: [1, 1] };
  const pa = promote(va, true), pb = promote(vb, false);
  const outDims = [...s.batch, s.m, s.n];
  const yInv = perms[2] ? inverse(perms[2]) : null;
  // y through a folded output Transpose, its dropped axis (a 1-D operand's) put back.
  const py = yInv
    ? promoteOutput(viewOf(y.dims, yInv), va.dims.length === 1, vb.dims.length === 1)
    : { dims: outDims, strides: stridesOf(outDims) };
  const la = matrixLayout(pa), lb = matrixLayout(pb), ly = matrixLayout(py);
  if (!la || !lb || !ly || ly[0]) fail(n, "a folded Transpose leaves no contiguous matrix axis");
  options.transA = la[0];
  options.lda = la[1];
  options.transB = lb[0];
  options.ldb = lb[1];
  options.ldc = ly[1];
  const batchStrides = (v: View) => {
    const bd = v.dims.slice(0, -2), bs = v.strides.slice(0, -2), off = s.batch.length - bd.length;
    return s.batch.map((_, i) => (i < off || bd[i - off] === 1 ? 0 : bs[i - off]));
  };
  const as = batchStrides(pa), bs = batchStrides(pb), ys = batchStrides(py);
  // Elements a strided matrix spans from its first element.
  const extent = (rows: number, cols: number, trans: boolean, ld: number) =>
    trans ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
  const ea = extent(s.m, s.k, la[0], la[1]),
    eb = extent(s.k, s.n, lb[0], lb[1]),
    ey = extent(s.m, s.n, false, ly[1]);
  const views: [Float32Array, Float32Array, Float32Array][] = [];
  const offsets: [number, number, number][] = [];
  const idx = new Array(s.batch.length).fill(0);
  const ad = a.data as Float32Array, bd = b.data as Float32Array;
  for (let i = 0; i < batches; i++) {
    let ao = 0, bo = 0, yo = 0;
    for (let d = 0; d < idx.length; d++) {
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
      yo += idx[d] * ys[d];
    }
    offsets.push([ao, bo, yo]);
    views.push([ad.subarray(ao, ao + ea), bd.subarray(bo, bo + eb), yd.subarray(yo, yo + ey)]);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < s.batch[d]) break;
      idx[d] = 0;
    }
  }
  // Matrices evenly spaced in all three (a model's heads): one batched call, which threads
  // split by matrices (the same bits as a call per matrix).
  if (batches > 1) {
    const step = offsets[1];
    const even = offsets.every(([ao, bo, yo], i) =>
      ao === i * step[0] && bo === i * step[1] && yo === i * step[2]
    );
    const sideBySide = step[2] >= s.n && (batches - 1) * step[2] + s.n <= options.ldc!;
    if (even && (step[2] >= ey || sideBySide)) {
      const batched: GemmOptions = {
        ...options,
        batch: batches,
        strideA: step[0],
        strideB: step[1],
        strideC: step[2],
      };
      return { native: true, run: () => jit.gemm(ad, bd, yd, batched) };
    }
  }
  return {
    native: true,
    run: () => {
      for (const [av, bv, cv] of views) jit.gemm(av, bv, cv, options);
    },
  };
}

/**
 * com.microsoft FusedMatMul as a MatMul whose inputs are read through a swap of their last
 * two axes (transA, transB), scaled by alpha in the GEMM. transBatchA and transBatchB
 * (batch axes moved too) are refused.
 */
function fusedMatMul(n: Node, ranks: readonly number[]): Node {
  if (n.attrs.int("transBatchA", 0) !== 0 || n.attrs.int("transBatchB", 0) !== 0) {
    fail(n, "transBatchA and transBatchB are not supported");
  }
  const swap = (r: number) =>
    r < 2 ? null : [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
  const perms = ["transA", "transB"].map((t, i) => n.attrs.int(t, 0) !== 0 ? swap(ranks[i]) : null);
  return { ...n, fused: { ...n.fused, perms } };
}

/** com.microsoft FusedMatMul: Y = alpha·op(A)·op(B), numpy batch broadcasting. */
export const FUSED_MATMUL: OpDef = {
  attributes: ["alpha", "transA", "transB", "transBatchA", "transBatchB"],
  infer: (n, ins) => {
    const xs = need(n, ins, 2, 2);
    return inferMatMul(fusedMatMul(n, xs.map((x) => x.dims.length)), xs);
  },
  build: (n, ins, outs, env) =>
    buildMatMul(
      fusedMatMul(n, ins.map((x) => x?.dims.length ?? 0)),
      ins,
      outs,
      env,
      n.attrs.float("alpha", 1),
    ),
  prepack(n, consts, env) {
    const b = consts[1];
    if (!b || b.dims.length !== 2 || n.attrs.int("transBatchB", 0) !== 0) return;
    const tb = n.attrs.int("transB", 0) !== 0;
    const [k, nn] = tb ? [b.dims[1], b.dims[0]] : b.dims;
    env.weights.packB(b.data as Float32Array, { k, n: nn, transB: tb });
  },
};

/** ONNX MatMul (and the fused MatMul + bias + activation of domain njit). */
export const MATMUL: OpDef = {
  attributes: [],
  infer: inferMatMul,
  build: buildMatMul,
  prepack(n, consts, env, shapes) {
    const b = consts[1], a = shapes[0];
    if (b && b.dims.length === 2 && !n.fused?.perms?.some((p) => p)) {
      // One GEMM over every row of A (buildMatMul): their count, where known.
      const rows = a ? a.dims.slice(0, -1).reduce((p, q) => p * q, 1) : undefined;
      env.weights.packB(b.data as Float32Array, { k: b.dims[0], n: b.dims[1] }, rows);
    }
  },
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
  prepack(n, consts, env, shapes) {
    const b = consts[1], a = shapes[0];
    if (!b || b.dims.length !== 2) return;
    const tb = n.attrs.int("transB", 0) !== 0;
    const [k, nn] = tb ? [b.dims[1], b.dims[0]] : b.dims;
    // The rows of A where known (A read transposed goes as unknown).
    const rows = a && a.dims.length === 2 && n.attrs.int("transA", 0) === 0 ? a.dims[0] : undefined;
    env.weights.packB(b.data as Float32Array, { k, n: nn, transB: tb }, rows);
  },
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
