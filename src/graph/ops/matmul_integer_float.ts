/**
 * ONNX Runtime's com.microsoft MatMulIntegerToFloat and DynamicQuantizeMatMul
 * (what its graph optimizer makes of quantize_dynamic's Linear layers) on
 * the fused MatMulInteger of domain njit: the int32 sums times
 * a_scale·b_scale (per tensor, or per column with b's scale) and the float
 * bias, in the 8-bit GEMM's store. DynamicQuantizeMatMul first quantizes its
 * float A as DynamicQuantizeLinear does (one native call).
 */
import type { Node } from "../ir.ts";
import {
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  need,
  type OpDef,
  sizeOf,
  type Step,
} from "./op.ts";
import { MATMUL_INTEGER } from "./quantize.ts";

const f = Math.fround;

/** The fused MatMulInteger node standing for `n`. */
function fused(n: Node): Node {
  return { ...n, op: "MatMulInteger", domain: "njit", attrs: n.attrs };
}

/** The output metas, b's scale (1 or N values) and the bias (N values) checked by the fused op. */
function checkScales(n: Node, ins: (Meta | null)[], bScale: Meta, bias: Meta | null): Meta[] {
  return MATMUL_INTEGER.infer(fused(n), [...ins, bScale, bias]);
}

/** A step that fills `scale` with a_scale·b_scale[i], then runs the fused op. */
function scaledStep(
  n: Node,
  parts: { a: Buf; b: Buf; za: Buf | null; zb: Buf | null; bias: Buf | null },
  aScale: () => number,
  bScale: Float32Array,
  y: Buf,
  env: Env,
  before?: () => void,
): Step {
  const scale = new Float32Array(bScale.length);
  const scaleBuf: Buf = { type: "float32", dims: [scale.length], data: scale, constant: false };
  const { a, b, za, zb, bias } = parts;
  const inner = MATMUL_INTEGER.build(fused(n), [a, b, za, zb, scaleBuf, bias], [y], env)!;
  return {
    native: false,
    run: () => {
      before?.();
      const s = aScale();
      for (let i = 0; i < scale.length; i++) scale[i] = f(s * bScale[i]);
      inner.run();
    },
  };
}

/** MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?. */
const MATMUL_INTEGER_TO_FLOAT: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [a, b, as, bs, za, zb, bias] = need(n, ins, 4, 7);
    expectType(n, as, 2, "float32");
    if (sizeOf(as.dims) !== 1) fail(n, "a_scale must be a scalar");
    return checkScales(n, [a, b, za ?? null, zb ?? null], bs, bias ?? null);
  },
  build(n, ins, outs, env) {
    const [a, b, as, bs] = ins as Buf[], za = ins[4] ?? null, zb = ins[5] ?? null;
    const bias = ins[6] ?? null, ad = as.data as Float32Array;
    return scaledStep(
      n,
      { a, b, za, zb, bias },
      () => ad[0],
      bs.data as Float32Array,
      outs[0],
      env,
    );
  },
};

/** DynamicQuantizeMatMul: A (float), B, b_scale, b_zero_point?, bias?. */
const DYNAMIC_QUANTIZE_MATMUL: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [a, b, bs, zb, bias] = need(n, ins, 3, 5);
    expectType(n, a, 0, "float32");
    const qa: Meta = { ...a, type: "uint8" };
    return checkScales(n, [qa, b, null, zb ?? null], bs, bias ?? null);
  },
  build(n, ins, outs, env) {
    const [a, b, bs] = ins as Buf[], zb = ins[3] ?? null, bias = ins[4] ?? null;
    const ad = a.data as Float32Array, q = new Uint8Array(ad.length);
    const sOut = new Float32Array(1), zOut = new Uint8Array(1), jit = env.jit;
    const qa: Buf = { type: "uint8", dims: a.dims, data: q, constant: false };
    const za: Buf = { type: "uint8", dims: [], data: zOut, constant: false };
    return scaledStep(
      n,
      { a: qa, b, za, zb, bias },
      () => sOut[0],
      bs.data as Float32Array,
      outs[0],
      env,
      () => jit.quantizeDynamic(ad, q, sOut, zOut),
    );
  },
};

/** The com.microsoft dynamic-quantization ops. */
export const MATMUL_INTEGER_FLOAT_OPS: Record<string, OpDef> = {
  MatMulIntegerToFloat: MATMUL_INTEGER_TO_FLOAT,
  DynamicQuantizeMatMul: DYNAMIC_QUANTIZE_MATMUL,
};
