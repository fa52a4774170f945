/**
 * RoundHalf (domain njit, made by half.ts): a float32 value rounded to the
 * nearest float16 (ties to even, overflow to ±Infinity, NaN kept), where
 * ONNX Runtime casts a value to half — `jit.unary("roundHalf")`, a native
 * step; other types pass through.
 */
import { type Buf, meta, need, type OpDef } from "./op.ts";

/** TypedArray.prototype.set, read once. */
const TYPED_SET = Object.getPrototypeOf(Uint8Array.prototype).set as (
  this: ArrayBufferView,
  src: ArrayBufferView,
) => void;

export const ROUND_HALF: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    return [meta(x.type, x.dims)];
  },
  inPlace: () => true,
  build(_n, ins, outs, env) {
    const x = ins[0] as Buf, y = outs[0];
    if (x.type !== "float32") return { native: false, run: () => TYPED_SET.call(y.data, x.data) };
    const xd = x.data as Float32Array, yd = y.data as Float32Array, jit = env.jit;
    return { native: true, run: () => jit.unary("roundHalf", xd, yd) };
  },
};
