/**
 * com.microsoft QGemm: MatMulInteger's exact int32 sums plus the int32 C,
 * times alpha·a_scale·b_scale (÷ y_scale when Y is quantized), requantized
 * as QLinearMatMul is, or left in float — as ONNX Runtime computes it.
 */
import type { Node } from "../ir.ts";
import { requantize } from "./qlinear.ts";
import { MATMUL_INTEGER } from "./quantize.ts";
import { type Buf, expectType, fail, meta, need, type OpDef, sizeOf } from "./op.ts";
import { type Bytes, checkParams, f, scalarOf } from "./qlinear_common.ts";

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

/** QGemm. */
export const QGEMM_OPS: Record<string, OpDef> = { QGemm: QGEMM };
