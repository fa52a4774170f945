/**
 * RoundHalf (domain njit, made by half.ts): a float32 value rounded to the
 * nearest float16 (ties to even, overflow to ±Infinity, NaN kept), where
 * ONNX Runtime casts a value to half; other types pass through.
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
  build(_n, ins, outs) {
    const x = ins[0] as Buf, y = outs[0];
    if (x.type !== "float32") return { native: false, run: () => TYPED_SET.call(y.data, x.data) };
    // Through a Float16Array: both conversions are the engine's own (round to nearest even).
    const halves = new Float16Array(x.data.length);
    return {
      native: false,
      run: () => {
        TYPED_SET.call(halves, x.data);
        TYPED_SET.call(y.data, halves);
      },
    };
  },
};
