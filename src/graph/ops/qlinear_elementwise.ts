/**
 * com.microsoft QLinearAdd, QLinearMul, QLinearConcat, QLinearSigmoid and
 * QLinearLeakyRelu (uint8, int8), each computed the way ONNX Runtime's CPU
 * kernels compute it so the bytes are its bytes:
 * - Add: the ratios a_scale/c_scale and b_scale/c_scale and a fixed part
 *   c_zp − (ratio_a·a_zp + ratio_b·b_zp) in float32, then per element two
 *   fused multiply-adds (a scalar side folded into the fixed part first, as
 *   its broadcast loop hands a scalar over), rounded half to even, saturated
 *   through 16 bits to 8.
 * - Mul: (a − a_zp)·(b − b_zp) exact, times a_scale·b_scale/c_scale, plus
 *   c_zp, rounded and saturated the same way.
 * - Concat, Sigmoid, LeakyRelu: a 256-entry table per input, each value
 *   dequantized (x_scale·(x − x_zp)), mapped, quantized (÷ y_scale, half to
 *   even, y_zp added, saturated); Concat copies an input whose scale and zero
 *   point are the output's.
 */
import type { Node } from "../ir.ts";
import { BroadcastWalk } from "./binary.ts";
import {
  broadcast,
  type Buf,
  type Env,
  expectType,
  fail,
  meta,
  need,
  type OpDef,
  settledStep,
  sizeOf,
  stridesOf,
} from "./op.ts";
import {
  buildTable,
  type Bytes,
  checkParams,
  f,
  fma,
  required,
  saturate,
  scalarOf,
  toInt32,
} from "./qlinear_common.ts";

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

/**
 * The native kernel's layout for a binary op's shapes, or null: the full
 * operand (y's shape) first — b, or a with `swap` — and the other one of y's
 * shape ("same"), its trailing axes ("row": b[i mod cols]) or a block of axes
 * followed by 1s ("span": one value per `cols` elements). Add keeps ONNX
 * Runtime's formula only where its broadcast loop has the full operand
 * first: not for a "row" a.
 */
function nativeLayout(
  kind: "add" | "mul",
  aDims: readonly number[],
  bDims: readonly number[],
  y: readonly number[],
  span: "single" | "scalarA" | "scalarB" | "general",
): { swap: boolean; layout: "same" | "row" | "span"; cols: number } | null {
  if (span === "single") return null;
  const r = y.length, pad = (d: readonly number[]) => [...new Array(r - d.length).fill(1), ...d];
  const [pa, pb] = [pad(aDims), pad(bDims)];
  const isFull = (d: number[]) => d.every((v, i) => v === y[i]);
  const swap = !isFull(pa);
  if (swap && !isFull(pb)) return null;
  const other = swap ? pa : pb, n = sizeOf(y);
  if (isFull(other)) return swap ? null : { swap, layout: "same", cols: n };
  let first = -1, last = -1;
  for (let k = 0; k < r; k++) {
    if (other[k] !== 1) {
      if (first < 0) first = k;
      last = k;
    }
  }
  if (first < 0) {
    return kind === "add" && span !== "scalarB" && span !== "scalarA" ? null : {
      swap,
      layout: "span",
      cols: n,
    };
  }
  for (let k = first; k <= last; k++) if (other[k] !== y[k]) return null;
  const inner = sizeOf(y.slice(last + 1)), block = sizeOf(y.slice(first, last + 1));
  if (inner === 1) {
    // b reaches the innermost axis that is not 1: ONNX Runtime's general span.
    return kind === "add" && swap ? null : { swap, layout: "row", cols: block };
  }
  // One value per run of `inner`: the scalar span (ORT's own swap when a is the scalar).
  if (kind === "add" && span !== (swap ? "scalarA" : "scalarB")) return null;
  return { swap, layout: "span", cols: inner };
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
    build(_n, ins, outs, env) {
      const [a, as, az, b, bs, bz, cs] = ins as (Buf | null)[], cz = ins[7] ?? null;
      const y = outs[0], yd = y.data as Bytes, signed = y.type === "int8";
      const ad = a!.data as Bytes, bd = b!.data as Bytes;
      const walk = new BroadcastWalk(y.dims, [a!.dims, b!.dims]);
      const span = spanKind(a!.dims, b!.dims, y.dims);
      const same = span === "general" && ad.length === yd.length && bd.length === yd.length;
      // Natively where ONNX Runtime's formula for the shapes is one of the kernel's: one shape,
      // b a trailing row, or b a value per span (a the full one; with a broadcast, Mul, and
      // Add in the scalar span ORT swaps itself, take the roles swapped).
      const plan = nativeLayout(kind, a!.dims, b!.dims, y.dims, span);
      if (plan && [ad, bd, yd].every((d) => d.byteOffset % 4 === 0)) {
        const [full, other] = plan.swap ? [bd, ad] : [ad, bd];
        const options = {
          aScale: 0,
          bScale: 0,
          yScale: 1,
          aZeroPoint: 0,
          bZeroPoint: 0,
          yZeroPoint: 0,
          broadcast: plan.layout,
          cols: plan.cols,
        };
        const call = kind === "add" ? env.jit.qlinearAdd : env.jit.qlinearMul;
        return settledStep([as, az, bs, bz, cs, cz], () => {
          options.aScale = scalarOf(plan.swap ? bs : as);
          options.bScale = scalarOf(plan.swap ? as : bs);
          options.aZeroPoint = scalarOf(plan.swap ? bz : az);
          options.bZeroPoint = scalarOf(plan.swap ? az : bz);
          options.yScale = scalarOf(cs);
          options.yZeroPoint = scalarOf(cz);
        }, () => call.call(env.jit, full, other, yd, options));
      }
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

/** The elementwise QOperator ops. */
export const QLINEAR_ELEMENTWISE_OPS: Record<string, OpDef> = {
  QLinearAdd: binaryOp("add"),
  QLinearMul: binaryOp("mul"),
  QLinearConcat: QLINEAR_CONCAT,
  QLinearSigmoid: QLINEAR_SIGMOID,
  QLinearLeakyRelu: QLINEAR_LEAKY_RELU,
};
