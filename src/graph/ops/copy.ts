/**
 * The one strided copy the data-movement ops share (Transpose, Slice,
 * Expand, Gather's blocks, Pad's interior, Concat/Split): out walks its dims
 * row-major, reading src at base + Σ idx·stride (a stride of 0 broadcasts).
 * Works on every element type (same type in and out). Plain loops: the
 * innermost dimension is a tight loop, so V8 keeps it fast.
 */
import { copyFits } from "../../kernels/copy/mod.ts";
import type { Jit } from "../../runtime/jit.ts";
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
    if (dims.includes(0)) {
      // Nothing to copy: one empty dim.
      d.length = s.length = t.length = 0;
      d.push(0);
      s.push(0);
      t.push(0);
    } else if (d.length === 0) {
      d.push(1);
      s.push(0);
      t.push(0);
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

/**
 * The copy as a `jit.copy` call when its elements are 4 or 8 bytes (8-byte
 * ones as pairs), its innermost dim is contiguous in both, and every stride
 * is non-negative with y written in order; else null (the TypeScript loop
 * serves).
 */
export function nativeCopy(
  c: StridedCopy,
  src: TensorData,
  dst: TensorData,
  jit: Jit,
): (() => void) | null {
  const bytes = src.BYTES_PER_ELEMENT;
  if ((bytes !== 4 && bytes !== 8) || dst.BYTES_PER_ELEMENT !== bytes) return null;
  // A strided innermost dim copies element by element: measured slower than the TypeScript loop
  // (a 1024×784 transpose: 16 ms against 8), so only row-contiguous copies go native.
  const last = c.dims.length - 1;
  if (c.srcStrides[last] !== 1 || c.dstStrides[last] !== 1) return null;
  const pair = bytes / 4;
  const dims = Array.from(c.dims), xs = Array.from(c.srcStrides).map((v) => v * pair);
  const ys = Array.from(c.dstStrides).map((v) => v * pair);
  if (pair === 2) {
    dims.push(2);
    xs.push(1);
    ys.push(1);
  }
  // The family's own canonical form decides (merging, dim limit, y written once).
  if (dims.includes(0) || xs.some((v) => v < 0) || !copyFits(dims, xs, ys)) return null;
  const x = new Float32Array(
    src.buffer,
    src.byteOffset + 4 * pair * c.srcBase,
    (src.length - c.srcBase) * pair,
  );
  const y = new Float32Array(
    dst.buffer,
    dst.byteOffset + 4 * pair * c.dstBase,
    (dst.length - c.dstBase) * pair,
  );
  const o = { dims, xStrides: xs, yStrides: ys };
  return () => jit.copy(x, y, o);
}

/** One step running strided copies: `jit.copy` calls when every one can be, else TypeScript. */
export function copyStep(copies: readonly [StridedCopy, TensorData, TensorData][], jit: Jit): {
  run: () => void;
  native: boolean;
} {
  const calls = copies.map(([c, x, y]) => nativeCopy(c, x, y, jit));
  if (calls.every((f) => f !== null)) {
    const fs = calls as (() => void)[];
    if (fs.length === 1) return { native: true, run: fs[0] };
    return {
      native: true,
      run: () => {
        for (const f of fs) f();
      },
    };
  }
  return {
    native: false,
    run: () => {
      for (const [c, x, y] of copies) c.run(x, y);
    },
  };
}
