/**
 * ONNX Runtime's com.microsoft QOperator ops around QLinearConv and
 * QLinearMatMul (what its static quantizer writes for the rest of a CNN):
 * QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearConcat,
 * QLinearSigmoid and QLinearLeakyRelu, 8-bit, each computed the way its CPU
 * kernels compute it so the bytes are its bytes:
 * - Add: the ratios a_scale/c_scale and b_scale/c_scale and a fixed part
 *   c_zp − (ratio_a·a_zp + ratio_b·b_zp) in float32, then per element two
 *   fused multiply-adds (a scalar side folded into the fixed part first, as
 *   its broadcast loop hands a scalar over), rounded half to even, saturated
 *   through 16 bits to 8.
 * - Mul: (a − a_zp)·(b − b_zp) exact, times a_scale·b_scale/c_scale, plus
 *   c_zp, rounded and saturated the same way.
 * - GlobalAveragePool: the exact sum less x_zp·N, times x_scale/(y_scale·N),
 *   clamped, rounded, y_zp added.
 * - Gemm (QGemm): MatMulInteger's exact int32 sums plus the int32 C, times
 *   alpha·a_scale·b_scale (÷ y_scale when y is quantized), requantized as
 *   QLinearMatMul is, or left in float.
 * - AveragePool: each value dequantized (x_scale·(x − x_zp)), each window
 *   summed in float32 row by row and divided by its count, then
 *   y/y_scale + y_zp rounded half to even and saturated (the global pool's
 *   integer path where the window is the whole image, unpadded).
 * - Concat, Sigmoid, LeakyRelu: a 256-entry table per input, each value
 *   dequantized (x_scale·(x − x_zp)), mapped, quantized (÷ y_scale, half to
 *   even, y_zp added, saturated); Concat copies an input whose scale and zero
 *   point are the output's.
 */
import type { Node } from "../ir.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import { BroadcastWalk } from "./binary.ts";
import { requantize } from "./qlinear.ts";
import { type WindowNd, windowNd } from "./window_im2col.ts";
import { MATMUL_INTEGER, roundEven } from "./quantize.ts";
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
  stridesOf,
} from "./op.ts";

const f = Math.fround;

/** x86's float → int32 conversion (cvtps2dq): half to even, out of range or NaN → −2³¹. */
function toInt32(v: number): number {
  return v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
}

/** Saturated to 16 bits (packssdw), then to the 8-bit type (packuswb / packsswb). */
function saturate(v: number, signed: boolean): number {
  const w = v < -32768 ? -32768 : v > 32767 ? 32767 : v;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  return w < lo ? lo : w > hi ? hi : w;
}

/**
 * f32 fma(a, b, c): a·b of two f32 is exact in f64, and the sum is exact too where the
 * magnitudes are as here (8-bit values times scale ratios), so one rounding.
 */
function fma(a: number, b: number, c: number): number {
  return f(a * b + c);
}

function scalarOf(b: Buf | null, fallback = 0): number {
  return b ? Number((b.data as TensorData)[0]) : fallback;
}

/** Checks that the inputs at `at` are one-element scales (float32) or zero points (type t). */
function checkParams(
  n: Node,
  ins: readonly (Meta | null)[],
  scales: number[],
  zps: number[],
  t: string,
) {
  for (const i of scales) {
    expectType(n, ins[i]!, i, "float32");
    if (sizeOf(ins[i]!.dims) !== 1) fail(n, `input ${i} (a scale) must have one element`);
  }
  for (const i of zps) {
    const z = ins[i];
    if (!z) continue;
    if (z.type !== t) fail(n, `input ${i} (a zero point) is ${z.type}, the data ${t}`);
    if (sizeOf(z.dims) !== 1) fail(n, `input ${i} (a zero point) must have one element`);
  }
}

type Bytes = Int8Array | Uint8Array;

/** Fails unless the inputs at `at` are given (the others may be left out). */
function required(n: Node, ins: readonly (Meta | null)[], at: number[]): void {
  for (const i of at) if (!ins[i]) fail(n, `input ${i} is required`);
}

/**
 * How ONNX Runtime's broadcast loop hands elements to its kernel: spans along the
 * innermost axis that is not 1 in the output; an input that is 1 there is a scalar per
 * span. A single-element output is one span of one.
 */
function spanKind(a: readonly number[], b: readonly number[], out: readonly number[]) {
  if (sizeOf(out) === 1) return "single";
  let k = out.length - 1;
  while (out[k] === 1) k--;
  const at = (d: readonly number[]) => d[d.length - (out.length - k)] ?? 1;
  return at(a) === 1 ? "scalarA" : at(b) === 1 ? "scalarB" : "general";
}

/** QLinearAdd and QLinearMul: A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?. */
function binaryOp(kind: "add" | "mul"): OpDef {
  return {
    attributes: [],
    infer(n, ins) {
      const [a, , , b] = need(n, ins, 2, 8);
      required(n, ins, [0, 1, 3, 4, 6]);
      expectType(n, a, 0, "uint8", "int8");
      expectType(n, b, 3, a.type);
      checkParams(n, ins, [1, 4, 6], [2, 5, 7], a.type);
      return [meta(a.type, broadcast(n, a.dims, b.dims))];
    },
    build(_n, ins, outs) {
      const [a, as, az, b, bs, bz, cs] = ins as (Buf | null)[], cz = ins[7] ?? null;
      const y = outs[0], yd = y.data as Bytes, signed = y.type === "int8";
      const ad = a!.data as Bytes, bd = b!.data as Bytes;
      const walk = new BroadcastWalk(y.dims, [a!.dims, b!.dims]);
      const span = spanKind(a!.dims, b!.dims, y.dims);
      const same = span === "general" && ad.length === yd.length && bd.length === yd.length;
      return {
        native: false,
        run: () => {
          const sA = scalarOf(as), sB = scalarOf(bs), sC = scalarOf(cs);
          const zA = scalarOf(az), zB = scalarOf(bz), zC = scalarOf(cz);
          const off = walk.off;
          if (kind === "mul") {
            const ratio = f(f(sA * sB) / sC);
            walk.run((i) => {
              const p = (ad[off[0]] - zA) * (bd[off[1]] - zB);
              yd[i] = saturate(toInt32(f(f(p * ratio) + zC)), signed);
            });
            return;
          }
          // The kernel is called with (span, scalar) when one side is a scalar: that
          // side's ratio and zero point come second.
          const swap = span === "scalarA";
          const r1 = f((swap ? sB : sA) / sC), r2 = f((swap ? sA : sB) / sC);
          const z1 = swap ? zB : zA, z2 = swap ? zA : zB;
          const fixed = f(zC - f(f(r1 * z1) + f(r2 * z2)));
          if (same) {
            // Same shapes (a residual Add): one pass, no index walk.
            for (let i = 0; i < yd.length; i++) {
              yd[i] = saturate(toInt32(f(ad[i] * r1 + f(bd[i] * r2 + fixed))), signed);
            }
            return;
          }
          walk.run((i) => {
            const x1 = swap ? bd[off[1]] : ad[off[0]], x2 = swap ? ad[off[0]] : bd[off[1]];
            let v: number;
            if (span === "general") v = fma(x1, r1, fma(x2, r2, fixed));
            else if (span === "single") v = fma(x2, r2, f(fixed + f(x1 * r1)));
            else v = fma(x1, r1, f(fixed + f(x2 * r2)));
            yd[i] = saturate(toInt32(v), signed);
          });
        },
      };
    },
  };
}

/** MlasQuantizeLinear of one value: ÷ scale, half to even, zero point, saturated. */
function quantize(v: number, scale: number, zero: number, signed: boolean): number {
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  const q = f(v / scale);
  if (Number.isNaN(q)) return zero;
  const c = q < lo - zero ? lo - zero : q > hi - zero ? hi - zero : q;
  return roundEven(c) + zero;
}

/**
 * The 256-entry table of an 8-bit map: entry i is the output for input value lo + i,
 * `fn` mapping every dequantized value at once (in place).
 */
function buildTable(
  table: Int16Array,
  signed: boolean,
  xs: number,
  xz: number,
  ys: number,
  yz: number,
  values: Float32Array,
  fn: (v: Float32Array) => void,
): void {
  const lo = signed ? -128 : 0;
  for (let i = 0; i < 256; i++) values[i] = f(xs * (lo + i - xz));
  fn(values);
  for (let i = 0; i < 256; i++) table[i] = quantize(values[i], ys, yz, signed);
}

/** QLinearSigmoid and QLinearLeakyRelu: X, X_scale, X_zp?, Y_scale, Y_zp?. */
function lookupOp(
  map: (n: Node, env: Env) => (v: Float32Array) => void,
  attributes: string[],
): OpDef {
  return {
    attributes,
    infer(n, ins) {
      const [x] = need(n, ins, 2, 5);
      required(n, ins, [0, 1, 3]);
      expectType(n, x, 0, "uint8", "int8");
      checkParams(n, ins, [1, 3], [2, 4], x.type);
      return [meta(x.type, x.dims)];
    },
    build(n, ins, outs, env) {
      const [x, xs, xz, ys] = ins as (Buf | null)[], yz = ins[4] ?? null;
      const xd = x!.data as Bytes, yd = outs[0].data as Bytes, signed = x!.type === "int8";
      const table = new Int16Array(256), values = new Float32Array(256), fn = map(n, env);
      const lo = signed ? -128 : 0;
      return {
        native: false,
        run: () => {
          buildTable(
            table,
            signed,
            scalarOf(xs),
            scalarOf(xz),
            scalarOf(ys),
            scalarOf(yz),
            values,
            fn,
          );
          for (let i = 0; i < xd.length; i++) yd[i] = table[xd[i] - lo];
        },
      };
    },
  };
}

const QLINEAR_SIGMOID = lookupOp((_n, env) => (v) => env.jit.unary("sigmoid", v, v), []);

const QLINEAR_LEAKY_RELU = lookupOp((n) => {
  const alpha = f(n.attrs.float("alpha", 0.01));
  return (v) => {
    for (let i = 0; i < v.length; i++) if (!(v[i] >= 0)) v[i] = f(alpha * v[i]);
  };
}, ["alpha"]);

/** QLinearGlobalAveragePool: X, x_scale, x_zp, y_scale, y_zp; channels_last. */
const QLINEAR_GLOBAL_AVERAGE_POOL: OpDef = {
  attributes: ["channels_last"],
  infer(n, ins) {
    const [x] = need(n, ins, 5);
    expectType(n, x, 0, "uint8", "int8");
    checkParams(n, ins, [1, 3], [2, 4], x.type);
    if (x.dims.length < 3) fail(n, "X must have a batch, a channel and a spatial axis");
    const last = n.attrs.int("channels_last", 0) !== 0, r = x.dims.length;
    const dims = x.dims.map((d, i) => (last ? i > 0 && i < r - 1 : i > 1) ? 1 : d);
    const image = sizeOf(x.dims) / (x.dims[0] * x.dims[last ? r - 1 : 1] || 1);
    if (image >= 0x1000000) fail(n, `an image of ${image} elements is beyond 2^24`);
    return [meta(x.type, dims)];
  },
  build(n, ins, outs) {
    const [x, xs, xz, ys, yz] = ins as Buf[], y = outs[0];
    const last = n.attrs.int("channels_last", 0) !== 0, r = x.dims.length;
    const N = x.dims[0], C = x.dims[last ? r - 1 : 1], image = sizeOf(x.dims) / (N * C || 1);
    const xd = x.data as Bytes, yd = y.data as Bytes, signed = y.type === "int8";
    const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
    return {
      native: false,
      run: () => {
        const scale = f(scalarOf(xs) / f(scalarOf(ys) * image));
        if (!(scale >= 2 ** -32 && scale < 256)) {
          fail(n, `x_scale / (y_scale·${image}) = ${scale} is outside [2^-32, 256)`);
        }
        const zx = scalarOf(xz), zy = scalarOf(yz);
        for (let b = 0; b < N; b++) {
          for (let c = 0; c < C; c++) {
            let acc = -zx * image;
            for (let p = 0; p < image; p++) {
              acc += xd[last ? (b * image + p) * C + c : (b * C + c) * image + p];
            }
            let v = f(acc * scale);
            v = v < lo - zy ? lo - zy : v > hi - zy ? hi - zy : v;
            yd[b * C + c] = roundEven(v) + zy;
          }
        }
      },
    };
  },
};

/** QLinearConcat: Y_scale, Y_zp, then (X, X_scale, X_zp) per input; axis. */
const QLINEAR_CONCAT: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    if (ins.length < 5 || (ins.length - 2) % 3 !== 0) {
      fail(n, "inputs must be Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) triples");
    }
    const ys = need(n, ins, ins.length);
    const t = ys[1].type;
    if (t !== "uint8" && t !== "int8") fail(n, `Y_zero_point is ${t}, expected uint8 or int8`);
    const xs = ys.filter((_, i) => i >= 2 && (i - 2) % 3 === 0);
    checkParams(
      n,
      ins,
      [0, ...xs.map((_, k) => 3 + 3 * k)],
      [1, ...xs.map((_, k) => 4 + 3 * k)],
      t,
    );
    const r = xs[0].dims.length,
      axis0 = n.attrs.int("axis", 0),
      axis = axis0 < 0 ? axis0 + r : axis0;
    if (axis < 0 || axis >= r) fail(n, `axis ${axis0} is outside a rank-${r} input`);
    const dims = xs[0].dims.slice();
    dims[axis] = 0;
    for (const [k, x] of xs.entries()) {
      expectType(n, x, 2 + 3 * k, t);
      if (x.dims.length !== r || x.dims.some((d, i) => i !== axis && d !== xs[0].dims[i])) {
        fail(n, `input ${2 + 3 * k} [${x.dims.join(", ")}] does not concatenate with the first`);
      }
      dims[axis] += x.dims[axis];
    }
    return [meta(t, dims)];
  },
  build(n, ins, outs) {
    const y = outs[0], yd = y.data as Bytes, signed = y.type === "int8", r = y.dims.length;
    const axis0 = n.attrs.int("axis", 0), axis = axis0 < 0 ? axis0 + r : axis0;
    const outer = sizeOf(y.dims.slice(0, axis)), inner = stridesOf(y.dims)[axis];
    const rowY = y.dims[axis] * inner;
    const parts = [] as { x: Bytes; scale: Buf; zero: Buf; row: number; at: number }[];
    let at = 0;
    for (let i = 2; i < ins.length; i += 3) {
      const x = ins[i]!, row = x.dims[axis] * inner;
      parts.push({ x: x.data as Bytes, scale: ins[i + 1]!, zero: ins[i + 2]!, row, at });
      at += row;
    }
    const table = new Int16Array(256), values = new Float32Array(256), lo = signed ? -128 : 0;
    const identity = () => {};
    return {
      native: false,
      run: () => {
        const ys = scalarOf(ins[0]), yz = scalarOf(ins[1]);
        for (const p of parts) {
          const xs = scalarOf(p.scale), xz = scalarOf(p.zero), copy = xs === ys && xz === yz;
          if (!copy) buildTable(table, signed, xs, xz, ys, yz, values, identity);
          for (let o = 0; o < outer; o++) {
            const src = o * p.row, dst = o * rowY + p.at;
            if (copy) { for (let j = 0; j < p.row; j++) yd[dst + j] = p.x[src + j]; }
            else for (let j = 0; j < p.row; j++) yd[dst + j] = table[p.x[src + j] - lo];
          }
        }
      },
    };
  },
};

/** A [rows, cols] matrix of bytes transposed into `out`. */
function transpose(x: Bytes, rows: number, cols: number, out: Bytes): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
}

/**
 * QGemm: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?, y_zero_point?;
 * alpha, transA, transB. Y is float without y_scale, else quantized like y_zero_point.
 */
const QGEMM: OpDef = {
  attributes: ["alpha", "transA", "transB"],
  infer(n, ins) {
    const [a, , , b, bs, bz, c, ys, yz] = need(n, ins, 6, 9);
    expectType(n, a, 0, "uint8", "int8");
    expectType(n, b, 3, "uint8", "int8");
    if (a.dims.length !== 2 || b.dims.length !== 2) fail(n, "A and B must be 2-D");
    const ta = n.attrs.int("transA", 0) !== 0, tb = n.attrs.int("transB", 0) !== 0;
    const [m, k] = ta ? [a.dims[1], a.dims[0]] : a.dims,
      [kb, nn] = tb ? [b.dims[1], b.dims[0]] : b.dims;
    if (k !== kb) fail(n, `inner dimensions differ: A [${a.dims}], B [${b.dims}]`);
    checkParams(n, ins, [1], [2], a.type);
    expectType(n, bs, 4, "float32");
    for (const [p, i] of [[bs, 4], [bz, 5]] as const) {
      const size = sizeOf(p.dims);
      if (size !== 1 && size !== nn) fail(n, `input ${i} must have 1 or N = ${nn} values`);
    }
    if (c) {
      expectType(n, c, 6, "int32");
      const d = c.dims,
        ok = sizeOf(d) === 1 || (d.length <= 2 && d[d.length - 1] === nn &&
          (d.length === 1 || d[0] === 1 || d[0] === m)) ||
          (d.length === 2 && d[0] === m && d[1] === 1);
      if (!ok) fail(n, `C [${d}] does not broadcast to [${m}, ${nn}]`);
    }
    if (!ys !== !yz) fail(n, "y_scale and y_zero_point come together");
    if (ys && yz) {
      checkParams(n, ins, [7], [8], yz.type);
      return [meta(yz.type, [m, nn])];
    }
    return [meta("float32", [m, nn])];
  },
  build(n, ins, outs, env) {
    const [a, as, az, b, bs, bz] = ins as Buf[], c = ins[6] ?? null;
    const ys = ins[7] ?? null, yz = ins[8] ?? null, y = outs[0];
    const ta = n.attrs.int("transA", 0) !== 0, tb = n.attrs.int("transB", 0) !== 0;
    const alpha = f(n.attrs.float("alpha", 1));
    const [m, nn] = y.dims, k = ta ? a.dims[0] : a.dims[1];
    // Operands as MatMulInteger takes them: transposed copies where asked (B once when constant).
    const view = (x: Buf, trans: boolean, rows: number, cols: number) => {
      if (!trans) return { buf: x, fill: () => {} };
      const data = x.type === "int8" ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
      const buf: Buf = { type: x.type, dims: [cols, rows], data, constant: x.constant };
      const fill = () => transpose(x.data as Bytes, rows, cols, data);
      if (x.constant) fill();
      return { buf, fill: x.constant ? () => {} : fill };
    };
    const av = view(a, ta, k, m), bv = view(b, tb, nn, k);
    const sums = new Int32Array(m * nn);
    const sumsBuf: Buf = { type: "int32", dims: [m, nn], data: sums, constant: false };
    const inner: Node = { ...n, op: "MatMulInteger", domain: "", attrs: n.attrs };
    const step = MATMUL_INTEGER.build(inner, [av.buf, bv.buf, az, bz], [sumsBuf], env)!;
    const scales = new Float32Array(sizeOf(bs.dims));
    const cd = c?.data as Int32Array | undefined, cdims = c?.dims ?? [];
    const cAt = (r: number, col: number) =>
      sizeOf(cdims) === 1
        ? 0
        : cdims.length === 2 && cdims[1] === 1 && nn !== 1
        ? r
        : cdims.length === 2 && cdims[0] === m && m !== 1
        ? r * nn + col
        : col;
    return {
      native: false,
      run: () => {
        av.fill();
        bv.fill();
        step.run();
        if (cd) {
          for (let r = 0, i = 0; r < m; r++) {
            for (let col = 0; col < nn; col++, i++) sums[i] = (sums[i] + cd[cAt(r, col)]) | 0;
          }
        }
        const sa = f(alpha * scalarOf(as)), bsd = bs.data as Float32Array;
        for (let i = 0; i < scales.length; i++) {
          scales[i] = f(sa * bsd[i]);
          if (ys) scales[i] = f(scales[i] / scalarOf(ys));
        }
        if (ys) {
          requantize(
            sums,
            y.data as Bytes,
            scales,
            scales.length === 1 ? sums.length : 1,
            scalarOf(yz),
            y.type === "int8",
          );
          return;
        }
        const yd = y.data as Float32Array, per = scales.length !== 1;
        for (let i = 0; i < sums.length; i++) yd[i] = f(f(sums[i]) * scales[per ? i % nn : 0]);
      },
    };
  },
};

/** x's metas as NCHW (channels_last moves the last axis to the second). */
function asNchw(x: Meta, last: boolean): Meta {
  if (!last) return x;
  const d = x.dims;
  return { ...x, dims: [d[0], d[d.length - 1], ...d.slice(1, -1)] };
}

/** The pool's window (1-3 spatial axes, no dilations) over x as NCHW. */
function averageWindow(n: Node, x: Meta): WindowNd {
  const r = x.dims.length - 2;
  if (r < 1 || r > 3) fail(n, `${r} spatial axes: 1 to 3 are supported`);
  if ((n.attrs.ints("dilations") ?? []).some((d) => d !== 1)) {
    fail(n, "dilations are not supported");
  }
  return windowNd(n, x, null, n.attrs.int("ceil_mode", 0) !== 0);
}

/** QLinearAveragePool: X, x_scale, x_zero_point?, y_scale, y_zero_point?; ONNX AveragePool's attributes, channels_last. */
const QLINEAR_AVERAGE_POOL: OpDef = {
  attributes: [
    "auto_pad",
    "ceil_mode",
    "channels_last",
    "count_include_pad",
    "kernel_shape",
    "pads",
    "strides",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 2, 5);
    required(n, ins, [0, 1, 3]);
    expectType(n, x, 0, "uint8", "int8");
    checkParams(n, ins, [1, 3], [2, 4], x.type);
    if (x.dims.length < 3) fail(n, "X must have a batch, a channel and a spatial axis");
    const last = n.attrs.int("channels_last", 0) !== 0, nchw = asNchw(x, last);
    const w = averageWindow(n, nchw);
    const dims = [nchw.dims[0], nchw.dims[1], ...w.out];
    return [meta(x.type, last ? [dims[0], ...w.out, dims[1]] : dims)];
  },
  build(n, ins, outs) {
    const [x, xs, xz, ys] = ins as (Buf | null)[], yz = ins[4] ?? null, y = outs[0];
    const last = n.attrs.int("channels_last", 0) !== 0, nchw = asNchw(x!, last);
    const w = averageWindow(n, nchw), r = w.sizes.length;
    const [N, C] = nchw.dims, sizes = w.sizes, out = w.out;
    const image = sizeOf(sizes), outImage = sizeOf(out);
    const includePad = n.attrs.int("count_include_pad", 0) !== 0;
    const kernelSize = sizeOf(w.kernel);
    const xd = x!.data as Bytes, yd = y.data as Bytes, signed = y.type === "int8";
    const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
    const xf = new Float32Array(xd.length);
    // Each output position's window as [start, end) per axis, made once.
    const starts = new Int32Array(outImage * r), ends = new Int32Array(outImage * r);
    const at = new Int32Array(r);
    for (let o = 0; o < outImage; o++) {
      let rest = o;
      for (let i = r - 1; i >= 0; i--) {
        at[i] = rest % out[i];
        rest = Math.floor(rest / out[i]);
      }
      for (let i = 0; i < r; i++) {
        const start = at[i] * w.strides[i] - w.begin[i];
        starts[o * r + i] = Math.max(start, 0);
        ends[o * r + i] = Math.min(start + w.kernel[i], sizes[i]);
      }
    }
    const unpadded = w.begin.every((b) => b === 0) && w.end.every((e) => e === 0);
    const global = unpadded && w.kernel.every((k, i) => k === sizes[i]);
    const pos = new Int32Array(r), inStrides = stridesOf(sizes);
    // Element of X at (batch b, channel c, spatial offset p) in x's layout.
    const xAt = (b: number, c: number, p: number) =>
      last ? (b * image + p) * C + c : (b * C + c) * image + p;
    const yAt = (b: number, c: number, o: number) =>
      last ? (b * outImage + o) * C + c : (b * C + c) * outImage + o;
    return {
      native: false,
      run: () => {
        const sx = scalarOf(xs), zx = scalarOf(xz), sy = scalarOf(ys), zy = scalarOf(yz);
        if (global) {
          // ONNX Runtime's global pool: the exact sum, one float32 multiplier.
          const scale = f(sx / f(sy * image));
          for (let b = 0; b < N; b++) {
            for (let c = 0; c < C; c++) {
              let acc = -zx * image;
              for (let p = 0; p < image; p++) acc += xd[xAt(b, c, p)];
              let v = f(acc * scale);
              v = v < lo - zy ? lo - zy : v > hi - zy ? hi - zy : v;
              yd[yAt(b, c, 0)] = roundEven(v) + zy;
            }
          }
          return;
        }
        for (let i = 0; i < xd.length; i++) xf[i] = f(sx * (xd[i] - zx));
        for (let b = 0; b < N; b++) {
          for (let c = 0; c < C; c++) {
            for (let o = 0; o < outImage; o++) {
              // Sum the window in row-major order.
              let sum = 0, count = 1;
              for (let i = 0; i < r; i++) {
                pos[i] = starts[o * r + i];
                count *= ends[o * r + i] - starts[o * r + i];
              }
              if (count > 0) {
                for (;;) {
                  let p = 0;
                  for (let i = 0; i < r; i++) p += pos[i] * inStrides[i];
                  sum = f(sum + xf[xAt(b, c, p)]);
                  let i = r - 1;
                  for (; i >= 0; i--) {
                    if (++pos[i] < ends[o * r + i]) break;
                    pos[i] = starts[o * r + i];
                  }
                  if (i < 0) break;
                }
              }
              const avg = f(sum / (includePad ? kernelSize : count));
              const q = toInt32(f(f(avg / sy) + zy));
              yd[yAt(b, c, o)] = q < lo ? lo : q > hi ? hi : q;
            }
          }
        }
      },
    };
  },
};

/** The com.microsoft QOperator ops. */
export const QLINEAR_MS_OPS: Record<string, OpDef> = {
  QLinearAdd: binaryOp("add"),
  QLinearMul: binaryOp("mul"),
  QLinearGlobalAveragePool: QLINEAR_GLOBAL_AVERAGE_POOL,
  QLinearConcat: QLINEAR_CONCAT,
  QLinearSigmoid: QLINEAR_SIGMOID,
  QLinearLeakyRelu: QLINEAR_LEAKY_RELU,
  QGemm: QGEMM,
  QLinearAveragePool: QLINEAR_AVERAGE_POOL,
};
