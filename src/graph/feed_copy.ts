/**
 * The copies a run makes of the caller's arrays (feeds in, outputs into
 * the caller's tensors): glibc's memmove, unless source and destination
 * would alias 4K apart, where the Jit's copy kernel moves the same bits
 * (see policy.ts, `ALIASED_COPY`).
 *
 * @module
 */
import type { CopyOptions } from "../kernels/copy/mod.ts";
import { viewAddress } from "../native/memory.ts";
import type { TensorData } from "../onnx/dtype.ts";
import type { Jit } from "../runtime/jit.ts";
import { ALIASED_COPY } from "../runtime/policy.ts";
import { typedArrayTag, viewLength } from "../typed.ts";

/** TypedArray.prototype.set, read once: a subclass cannot replace it. */
const TYPED_SET = Object.getPrototypeOf(Uint8Array.prototype).set as (
  this: TensorData,
  src: TensorData,
) => void;

const PAGE = 4096;

/** A dense copy's options per length (made once a length: runs allocate nothing); at most 64 kept. */
const denseCopies = new Map<number, CopyOptions>();
const DENSE_COPIES_KEPT = 64;

/**
 * Whether memmove from `src` to `dst` (both Float32Arrays of `n` floats)
 * would run 4K-aliased: dst a few bytes past src modulo a page.
 */
export function aliasedCopy(dst: Float32Array, src: Float32Array, n: number): boolean {
  if (n * 4 < ALIASED_COPY.minBytes) return false;
  const to = viewAddress(dst), from = viewAddress(src);
  if (to === 0 || from === 0) return false;
  const d = (((to - from) % PAGE) + PAGE) % PAGE;
  return d > 0 && d < ALIASED_COPY.window;
}

/**
 * dst.set(src) for two typed arrays of one kind and length: by the Jit's
 * copy kernel where they are Float32Arrays that memmove would copy
 * 4K-aliased (then true), else by TypedArray.prototype.set.
 */
export function copyData(jit: Jit, dst: TensorData, src: TensorData): boolean {
  if (typedArrayTag(dst) === "Float32Array" && typedArrayTag(src) === "Float32Array") {
    const d = dst as Float32Array, s = src as Float32Array, n = viewLength(s);
    if (aliasedCopy(d, s, n)) {
      let o = denseCopies.get(n);
      if (o === undefined) {
        if (denseCopies.size >= DENSE_COPIES_KEPT) denseCopies.clear();
        denseCopies.set(n, o = { dims: [n], xStrides: [1], yStrides: [1] });
      }
      jit.copy(s, d, o);
      return true;
    }
  }
  TYPED_SET.call(dst, src);
  return false;
}
