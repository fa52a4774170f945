/**
 * QLinearMatMul and QLinearConv (QOperator-format 8-bit models): the exact
 * int32 sums of MatMulInteger and ConvInteger (+ QLinearConv's int32 bias),
 * then requantized as ONNX Runtime's MLAS does it: each sum times the
 * float32 multiplier a_scale·b_scale/y_scale (per output column or
 * channel when b's scale is), clamped to the output type's range less the
 * zero point, rounded half to even, the zero point added.
 */
import type { Attrs, Node } from "../ir.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import { CONV_INTEGER } from "./conv_integer.ts";
import { int8ConvOf } from "./conv_int8.ts";
import { exactFloatConv, floatExact } from "./qconv_float.ts";
import { int8Tiles } from "../../cpu.ts";
import { type Buf, expectType, fail, meta, need, type OpDef, settledStep, sizeOf } from "./op.ts";
import { MATMUL_INTEGER } from "./quantize.ts";

const f = Math.fround;

/** A node of another op on the same inputs' subset (the integer product). */
function inner(n: Node, op: string, attrs: Attrs): Node {
  return {
    op,
    domain: "",
    name: n.name,
    inputs: [],
    outputs: [n.outputs[0]],
    attrs,
    opset: n.opset,
  };
}

/**
 * Requantizes int32 sums into y. Element i's multiplier is
 * `multipliers[floor(i / run) % multipliers.length]`: one for all, one per
 * matrix column (run 1) or one per channel (run = a channel's plane).
 */
export function requantize(
  sums: Int32Array,
  y: Int8Array | Uint8Array,
  multipliers: Float32Array,
  run: number,
  zero: number,
  signed: boolean,
): void {
  const lo = (signed ? -128 : 0) - zero, hi = (signed ? 127 : 255) - zero;
  const count = multipliers.length;
  for (let i = 0, c = 0, left = run; i < sums.length; i++) {
    let v = f(f(sums[i]) * multipliers[c]);
    v = v < lo ? lo : v > hi ? hi : v;
    const r = Math.round(v);
    y[i] = (r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r) + zero;
    if (--left === 0) {
      left = run;
      if (++c === count) c = 0;
    }
  }
}

/** Fills m with the float32 multipliers a_scale·w_scale[c]/y_scale, as MLAS forms them. */
function multipliersOf(m: Float32Array, aScale: number, wScale: Float32Array, yScale: number) {
  for (let c = 0; c < m.length; c++) m[c] = f(f(aScale * wScale[c]) / yScale);
}

function scalarOf(b: Buf | null, fallback = 0): number {
  return b ? Number((b.data as TensorData)[0]) : fallback;
}

const QLINEAR_MATMUL: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [a, as, az, b, bs, bz, ys, yz] = need(n, ins, 8);
    expectType(n, as, 1, "float32");
    expectType(n, bs, 4, "float32");
    expectType(n, ys, 6, "float32");
    expectType(n, yz, 7, "uint8", "int8");
    if (
      sizeOf(as.dims) !== 1 || sizeOf(ys.dims) !== 1 || sizeOf(az.dims) !== 1 ||
      sizeOf(yz.dims) !== 1
    ) {
      fail(n, "a's and y's scales and zero points must be scalars");
    }
    const [out] = MATMUL_INTEGER.infer(inner(n, "MatMulInteger", n.attrs), [a, b, az, bz]);
    const cols = out.dims[out.dims.length - 1];
    if (sizeOf(bs.dims) !== 1 && sizeOf(bs.dims) !== cols) {
      fail(n, `b's scale must have 1 or ${cols} values`);
    }
    return [meta(yz.type, out.dims)];
  },
  build(n, ins, outs, env) {
    const [a, as, az, b, bs, bz, ys, yz] = ins as Buf[];
    const y = outs[0], yd8 = y.data as Int8Array | Uint8Array;
    if (yd8.byteOffset % 4 === 0) {
      // MatMulInteger's scaled form (the kernel's store converts and scales: f32(sum)·m, as
      // MLAS requantizes) into floats, then those rounded, offset and saturated natively.
      const m = new Float32Array(sizeOf(bs.dims)), scaled = new Float32Array(yd8.length);
      const mBuf: Buf = { type: "float32", dims: bs.dims, data: m, constant: false };
      const step = MATMUL_INTEGER.build(
        { ...inner(n, "MatMulInteger", n.attrs), domain: "njit" },
        [a, b, az, bz, mBuf],
        [{ type: "float32", dims: y.dims, data: scaled, constant: false }],
        env,
      )!;
      const round = { scale: 1, zeroPoint: 0 };
      return settledStep([as, bs, ys, yz], () => {
        multipliersOf(m, scalarOf(as), bs.data as Float32Array, scalarOf(ys));
        round.zeroPoint = scalarOf(yz);
      }, () => {
        step.run();
        env.jit.quantizeLinear(scaled, yd8, round);
      }, step.native);
    }
    const sums = new Int32Array(sizeOf(y.dims));
    const sumsBuf: Buf = { type: "int32", dims: y.dims, data: sums, constant: false };
    const step = MATMUL_INTEGER.build(
      inner(n, "MatMulInteger", n.attrs),
      [a, b, az, bz],
      [sumsBuf],
      env,
    )!;
    const m = new Float32Array(sizeOf(bs.dims)), run = m.length === 1 ? sums.length : 1;
    const yd = y.data as Int8Array | Uint8Array, signed = y.type === "int8";
    return {
      native: false,
      run: () => {
        step.run();
        multipliersOf(m, scalarOf(as), bs.data as Float32Array, scalarOf(ys));
        requantize(sums, yd, m, run, scalarOf(yz), signed);
      },
    };
  },
};

const QLINEAR_CONV: OpDef = {
  attributes: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
  infer(n, ins) {
    const [x, xs, xz, w, ws, wz, ys, yz, bias] = need(n, ins, 8, 9);
    for (const [m, i] of [[xs, 1], [ws, 4], [ys, 6]] as const) expectType(n, m, i, "float32");
    expectType(n, yz, 7, "uint8", "int8");
    if (
      sizeOf(xs.dims) !== 1 || sizeOf(ys.dims) !== 1 || sizeOf(xz.dims) !== 1 ||
      sizeOf(yz.dims) !== 1
    ) {
      fail(n, "x's and y's scales and zero points must be scalars");
    }
    const [out] = CONV_INTEGER.infer(inner(n, "ConvInteger", n.attrs), [x, w, xz, wz]);
    const channels = w.dims[0];
    if (sizeOf(ws.dims) !== 1 && sizeOf(ws.dims) !== channels) {
      fail(n, `w's scale must have 1 or ${channels} values`);
    }
    if (bias) {
      expectType(n, bias, 8, "int32");
      if (sizeOf(bias.dims) !== channels) fail(n, `B must have ${channels} values`);
    }
    return [meta(yz.type, out.dims)];
  },
  build(n, ins, outs, env) {
    const [x, xs, xz, w, ws, wz, ys, yz] = ins as Buf[], bias = ins[8] ?? null;
    const y = outs[0];
    const yd8 = y.data as Int8Array | Uint8Array;
    // The 8-bit kernel where it runs tiles; below them (its scalar loop) the exact float path
    // is faster wherever its bound holds.
    const tiled = int8Tiles(env.jit.isa);
    const native = yd8.byteOffset % 4 === 0 && (tiled || !floatExact(x, xz, w, wz, bias))
      ? int8ConvOf(n, x, w, wz, env)
      : null;
    if (native) {
      // Zero points and multipliers set once where they are constants, else before each run.
      const o = native.options, m = new Float32Array(sizeOf(ws.dims));
      if (bias) o.bias = bias.data as Int32Array;
      o.scale = m;
      return settledStep(
        [xs, xz, ws, ys, yz, bias],
        () => {
          o.xZeroPoint = scalarOf(xz);
          o.yZeroPoint = scalarOf(yz);
          multipliersOf(m, scalarOf(xs), ws.data as Float32Array, scalarOf(ys));
        },
        () => native.run(yd8),
        native.native,
      );
    }
    // Groups and zero-point weights: exactly on the float convolution where the sums allow.
    const mf = new Float32Array(sizeOf(ws.dims));
    const exact = exactFloatConv(
      n,
      { x, xz, w, wz, bias, yz },
      y,
      mf,
      () => multipliersOf(mf, scalarOf(xs), ws.data as Float32Array, scalarOf(ys)),
      [xs, xz, ws, ys, yz],
      env,
    );
    if (exact) return exact;
    const sums = new Int32Array(sizeOf(y.dims));
    const sumsBuf: Buf = { type: "int32", dims: y.dims, data: sums, constant: false };
    const step = CONV_INTEGER.build(
      inner(n, "ConvInteger", n.attrs),
      [x, w, xz, wz],
      [sumsBuf],
      env,
    )!;
    const channels = y.dims[1], plane = sizeOf(y.dims.slice(2));
    const m = new Float32Array(sizeOf(ws.dims)), run = m.length === 1 ? sums.length : plane;
    const bd = bias?.data as Int32Array | undefined;
    const yd = y.data as Int8Array | Uint8Array, signed = y.type === "int8";
    return {
      native: false,
      run: () => {
        step.run();
        if (bd) {
          for (let i = 0; i < sums.length; i += plane) {
            const b = bd[(i / plane) % channels];
            for (let j = i; j < i + plane; j++) sums[j] = (sums[j] + b) | 0;
          }
        }
        multipliersOf(m, scalarOf(xs), ws.data as Float32Array, scalarOf(ys));
        requantize(sums, yd, m, run, scalarOf(yz), signed);
      },
    };
  },
};

/** The QOperator ops. */
export const QLINEAR_OPS: Record<string, OpDef> = {
  QLinearMatMul: QLINEAR_MATMUL,
  QLinearConv: QLINEAR_CONV,
};
