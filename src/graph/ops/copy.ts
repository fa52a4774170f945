/**
 * The one strided copy the data-movement ops share (Transpose, Slice,
 * Expand, Gather's blocks, Pad's interior, Concat/Split): out walks its dims
 * row-major, reading src at base + Σ idx·stride (a stride of 0 broadcasts).
 * Works on every element type (same type in and out). Plain loops: the
 * innermost dimension is a tight loop, so V8 keeps it fast.
 */
import type { TensorData } from "../../onnx/dtype.ts";

/** A precomputed strided copy; `run` allocates nothing. */
export class StridedCopy {
  readonly dims: Int32Array;
  readonly srcStrides: Int32Array;
  readonly dstStrides: Int32Array;
  readonly idx: Int32Array;
  srcBase: number;
  dstBase: number;

  /**
   * dims: the shape walked; srcStrides/dstStrides per dim (elements);
   * bases: the first element's offsets.
   */
  constructor(
    dims: readonly number[],
    srcStrides: readonly number[],
    dstStrides: readonly number[],
    srcBase = 0,
    dstBase = 0,
  ) {
    // Merge dims that are contiguous in both (fewer, longer inner loops).
    const d: number[] = [], s: number[] = [], t: number[] = [];
    for (let i = 0; i < dims.length; i++) {
      if (dims[i] === 1) continue;
      const k = d.length - 1;
      if (k >= 0 && s[k] === srcStrides[i] * dims[i] && t[k] === dstStrides[i] * dims[i]) {
        d[k] *= dims[i];
        s[k] = srcStrides[i];
        t[k] = dstStrides[i];
      } else {
        d.push(dims[i]);
        s.push(srcStrides[i]);
        t.push(dstStrides[i]);
      }
    }
    if (d.length === 0 && !dims.includes(0)) {
      d.push(1);
      s.push(0);
      t.push(0);
    }
    if (dims.includes(0)) {
      d.splice(0, d.length, 0), s.splice(0, s.length, 0), t.splice(0, t.length, 0);
    }
    this.dims = Int32Array.from(d);
    this.srcStrides = Int32Array.from(s);
    this.dstStrides = Int32Array.from(t);
    this.idx = new Int32Array(d.length);
    this.srcBase = srcBase;
    this.dstBase = dstBase;
  }

  /** Copies from src into dst. */
  run(src: TensorData, dst: TensorData): void {
    const dims = this.dims, ss = this.srcStrides, ds = this.dstStrides, idx = this.idx;
    const r = dims.length, last = r - 1;
    const n = dims[last], si = ss[last], di = ds[last];
    if (n === 0) return;
    idx.fill(0);
    let sp = this.srcBase, dp = this.dstBase;
    const s = src as Float32Array, d = dst as Float32Array; // same element type: plain moves
    for (;;) {
      if (si === 1 && di === 1) {
        for (let i = 0; i < n; i++) d[dp + i] = s[sp + i];
      } else {
        for (let i = 0, a = sp, b = dp; i < n; i++, a += si, b += di) d[b] = s[a];
      }
      // Advance the outer indices (odometer).
      let k = last - 1;
      for (; k >= 0; k--) {
        idx[k]++;
        sp += ss[k];
        dp += ds[k];
        if (idx[k] < dims[k]) break;
        sp -= ss[k] * dims[k];
        dp -= ds[k] * dims[k];
        idx[k] = 0;
      }
      if (k < 0) return;
    }
  }
}
