/**
 * QLinearConv where the 8-bit convolution kernel does not serve it (groups —
 * depthwise above all —, weights with nonzero zero points) computed exactly
 * on the float convolution: x − x_zp widened natively (integers, exact in
 * float32), the float kernels of Conv over w − w_zp (integers too) and the
 * bias, then `jit.requantize` with each channel's multiplier. Every partial
 * sum is an integer below 2^24 — checked when the plan is made from the
 * weights' and bias's largest magnitudes; deep layers split the weights in
 * two (below) — so the float sums are the exact int32 sums in any order,
 * and the bytes are ONNX Runtime's.
 */
import type { Node } from "../ir.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import { CONV } from "./conv.ts";
import { type Buf, type Env, settledStep, sizeOf, type Step } from "./op.ts";

/** Largest integer every partial sum must stay below (float32's exact integers). */
const EXACT = 2 ** 24;

/**
 * The float weights of the exact path: w − w_zp whole where every partial
 * sum stays below 2^24; else split as 16·h + l (h = ⌊(w − w_zp)/16⌋, l in
 * 0..15) — two convolutions, 16·h's sums exact as multiples of 16 below
 * 2^28, l's (with the bias) below 2^24, added once in the second's store
 * (its residual): one rounding of the exact int32 sum, as MLAS's conversion
 * makes it. Null where even the split's bounds fail.
 */
function boundOf(
  x: Buf,
  xz: Buf,
  w: Buf,
  wz: Buf,
  bias: Buf | null,
): Float32Array[] | null {
  if (!w.constant || !wz.constant || (bias && !bias.constant)) return null;
  if (x.dims.length !== 3 && x.dims.length !== 4) return null;
  const oc = w.dims[0], per = sizeOf(w.dims) / oc;
  const wd = w.data as Uint8Array | Int8Array, zw = wz.data as TensorData;
  const wf = new Float32Array(wd.length);
  let maxW = 0;
  for (let o = 0; o < oc; o++) {
    const z = Number(zw[sizeOf(wz.dims) === 1 ? 0 : o]);
    for (let i = o * per; i < (o + 1) * per; i++) {
      wf[i] = wd[i] - z;
      maxW = Math.max(maxW, Math.abs(wf[i]));
    }
  }
  // |x − x_zp| at most 255 (any zero point), or less where the zero point is a constant.
  const za = xz.constant ? Number((xz.data as TensorData)[0]) : null;
  const maxX = za === null
    ? 255
    : x.type === "int8"
    ? Math.max(za + 128, 127 - za)
    : Math.max(za, 255 - za);
  const bd = bias ? (bias.data as Int32Array) : null;
  let maxB = 0;
  for (let o = 0; bd && o < oc; o++) maxB = Math.max(maxB, Math.abs(bd[o]));
  if (per * maxX * maxW + maxB < EXACT) return [wf];
  if (per * maxX * 16 >= EXACT || per * maxX * 15 + maxB >= EXACT) return null;
  const high = new Float32Array(wf.length), low = new Float32Array(wf.length);
  for (let i = 0; i < wf.length; i++) {
    const h = Math.floor(wf[i] / 16);
    high[i] = 16 * h;
    low[i] = wf[i] - 16 * h;
  }
  return [high, low];
}

/** Whether the node's float sums can be made exact (the bounds above). */
export function floatExact(x: Buf, xz: Buf, w: Buf, wz: Buf, bias: Buf | null): boolean {
  return boundOf(x, xz, w, wz, bias) !== null;
}

/**
 * The node's exact float path, or null where the bound or the layout does
 * not allow it. `settle` fills the multipliers before a run; `params`: the
 * scales and zero points it reads (once where all are constants).
 */
export function exactFloatConv(
  n: Node,
  ins: { x: Buf; xz: Buf; w: Buf; wz: Buf; bias: Buf | null; yz: Buf },
  y: Buf,
  multipliers: Float32Array,
  settle: () => void,
  params: readonly Buf[],
  env: Env,
): Step | null {
  const { x, xz, w, wz, bias, yz } = ins;
  const yd = y.data as Uint8Array | Int8Array, xd = x.data as Uint8Array | Int8Array;
  if (yd.byteOffset % 4 !== 0 || xd.byteOffset % 4 !== 0) return null;
  const weights = boundOf(x, xz, w, wz, bias);
  if (weights === null) return null;
  const oc = w.dims[0], bd = bias ? (bias.data as Int32Array) : null;
  const xf = new Float32Array(xd.length), yf = new Float32Array(yd.length);
  const f32 = (dims: number[], data: Float32Array, isConst: boolean): Buf => ({
    type: "float32",
    dims,
    data,
    constant: isConst,
  });
  const b = bd ? f32([oc], Float32Array.from(bd), true) : null, input = f32(x.dims, xf, false);
  // Split weights: 16·h's sums first, l's with the bias and those as its residual.
  const high = weights.length === 2 ? new Float32Array(yf.length) : null;
  const steps = [
    ...(high
      ? [
        CONV.build(
          n,
          [input, f32(w.dims, weights[0], true), null],
          [f32(y.dims, high, false)],
          env,
        )!,
      ]
      : []),
    CONV.build(
      n,
      [
        input,
        f32(w.dims, weights[weights.length - 1], true),
        b,
        high ? f32(y.dims, high, false) : null,
      ],
      [f32(y.dims, yf, false)],
      env,
    )!,
  ];
  const jit = env.jit, widen = { scale: 1, zeroPoint: 0 };
  const narrow = { cols: sizeOf(y.dims.slice(2)), multipliers, zeroPoint: 0 };
  const zero = (b: Buf) => Number((b.data as TensorData)[0]);
  return settledStep(params, () => {
    settle();
    widen.zeroPoint = zero(xz);
    narrow.zeroPoint = zero(yz);
  }, () => {
    jit.dequantizeLinear(xd, xf, widen);
    for (const c of steps) c.run();
    jit.requantize(yf, yd, narrow);
  }, steps.every((c) => c.native));
}
