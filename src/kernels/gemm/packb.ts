/**
 * Prepacked GEMM weights: op(B) stored once (transposed here if B is given
 * as Bᵀ), so every later call reads B aligned and without transposing. A
 * model's constant weights are held this way. Two layouts:
 *
 * - panels (the default): op(B) cut into column panels of
 *   {@link PANEL_COLUMNS}, each stored whole (k rows of the panel, one
 *   after another), the last panel as wide as its columns rounded up to 16
 *   (zero-filled). A GEMM of a few rows (a model at batch 1) is bound by
 *   reading B once; in panels B is one sequential stream per thread, which
 *   the hardware prefetchers follow to the read bound and threads split
 *   panel by panel, where rows of B are 4 KiB-apart pieces and a few rows'
 *   product runs whole.
 * - rows: a dense row-major k×n copy, its rows padded to whole cache lines
 *   and never a multiple of 4 KiB apart (no cache-set conflicts between
 *   rows): what a plain B's GEMM paths read, so its products have the bits
 *   of the same call on a plain B with that stride.
 * - columns: Bᵀ, n rows of k (padded as rows' rows), what the dot-product
 *   kernel reads (gemm/dot.ts): for a B of fewer columns than a vector's
 *   lanes (a classifier's or a regression's head), whose columns would
 *   fill a fraction of each vector of a row layout. Its products have the
 *   bits of the same call on a plain Bᵀ (transB) with that stride.
 *
 * Panels against rows on Zen 5, 2 vCPUs (`deno run -A bench/gemv_layouts.ts
 * --shapes ...`, one run, 1 thread / 2 threads): 1×1024×1024 36.8 / 20.3
 * µs against 39.8 / 39.8 (B from L3, 100% and 91% of the read bound
 * measured beside them), 2×1000×1280 ×1.24 / ×2.14, 1×4096×4096 (B from
 * memory) ×1.27 / ×1.65, 64 and 128 rows ×1.02-1.15, 256³ to 1024³
 * ×0.99-1.06.
 *
 * @module
 */
import {
  describe,
  holds,
  isFloat32Array,
  lineAligned,
  viewBuffer,
  viewByteOffset,
} from "../../typed.ts";
import { MAX_DIMENSION } from "./read.ts";
import { PANEL_COLUMNS, panelsExtent, storedExtent } from "./spec.ts";

/** Options of `jit.packB`: B as it is stored. */
export interface PackBOptions {
  /** Rows of op(B) (the inner dimension of the product). */
  k: number;
  /** Columns of op(B) (columns of C). */
  n: number;
  /** B is given as Bᵀ, stored n×k (a Linear layer's weights). Default false. */
  transB?: boolean;
  /** Row stride of B as stored; default its row length. */
  ldb?: number;
  /**
   * How the copy is laid out: "panels" (default: as fast as rows for many
   * rows of A, faster for a few), "rows" (the bits of the same call on a
   * plain B) or "columns" (Bᵀ: for a B narrower than a vector); see the
   * module doc. Any works for any call.
   */
  layout?: PackBLayout;
}

/** A packed B's layout (see the module doc). */
export type PackBLayout = "rows" | "panels" | "columns";

/**
 * A strided copy of x into y (`jit.copy`'s options), given to packers by a
 * Jit with native code: their transposes at memory speed instead of a loop
 * here.
 */
export type StridedCopy = (
  x: Float32Array,
  y: Float32Array,
  o: { dims: number[]; xStrides: number[]; yStrides: number[] },
) => void;

/** op(B) packed for `jit.gemm`: pass it in place of b. */
export class PackedB {
  /** Rows of op(B). */
  readonly k: number;
  /** Columns of op(B). */
  readonly n: number;
  /** Row stride of the packed copy, in elements (a full panel's width in panels). */
  readonly ld: number;
  /** Columns per panel ("panels" layout), 0 for rows and columns. */
  readonly panel: number;
  /** Stored as Bᵀ ("columns" layout): row j of the copy is column j of op(B), at j·ld. */
  readonly transposed: boolean;
  readonly #data: Float32Array;

  /**
   * Packs `b` (validated by the caller). `address` gives a view's address
   * (0 where unknown), to start the copy on a 64-byte line.
   */
  constructor(
    b: Float32Array,
    o: Required<PackBOptions>,
    address: (v: Float32Array) => number,
    copy?: StridedCopy,
    alloc: (length: number) => Float32Array = (length) => lineAligned(length, address),
  ) {
    const { k, n, ldb } = o;
    this.k = k;
    this.n = n;
    this.transposed = o.layout === "columns";
    if (o.layout === "panels") {
      this.ld = this.panel = PANEL_COLUMNS;
      this.#data = alloc(panelsExtent(k, n));
      packPanels(b, o, this.#data, copy);
      return;
    }
    this.panel = 0;
    // Columns: the rows layout of Bᵀ (n rows of k): B given as Bᵀ is copied row by row, a k×n B
    // turned.
    const rows = this.transposed ? n : k, cols = this.transposed ? k : n;
    const turned = this.transposed ? !o.transB : o.transB;
    let ld = Math.max(16, Math.ceil(cols / 16) * 16);
    if ((ld * 4) % 4096 === 0) ld += 16; // rows 4 KiB apart share L1 sets
    if (ld > MAX_DIMENSION) ld = cols;
    const data = alloc(rows * ld);
    this.ld = ld;
    this.#data = data;
    this.#fill(b, rows, cols, turned, ldb, copy);
  }

  /**
   * Writes `rows` rows of `cols` into the copy: B's own rows, or (`turned`:
   * B stored the other way) its columns. No method of b takes part (a subclass may override them):
   * rows are copied from plain views of its buffer (found through the
   * intrinsic getters) by the intrinsic set, a memory copy; columns by the
   * native copy's transposes, else indexed reads.
   */
  #fill(
    b: Float32Array,
    rows: number,
    cols: number,
    turned: boolean,
    ldb: number,
    copy?: StridedCopy,
  ): void {
    const data = this.#data, ld = this.ld;
    if (turned && copy && rows > 0 && cols > 0) {
      // The transpose as one strided copy: 16×16 blocks in registers at AVX-512.
      copy(b, data, { dims: [rows, cols], xStrides: [1, ldb], yStrides: [ld, 1] });
    } else if (turned) {
      for (let p = 0; p < rows; p++) {
        const row = p * ld;
        for (let j = 0; j < cols; j++) data[row + j] = b[j * ldb + p];
      }
    } else if (cols > 0) {
      const buffer = viewBuffer(b), offset = viewByteOffset(b);
      for (let p = 0; p < rows; p++) {
        TYPED_SET.call(data, new Float32Array(buffer, offset + 4 * p * ldb, cols), p * ld);
      }
    }
  }

  /** The packed elements (row p at p·ld; columns: column p of op(B) there). */
  get data(): Float32Array {
    return this.#data;
  }

  /** Whether x is a PackedB (a brand check no object can fake). */
  static is(x: unknown): x is PackedB {
    return typeof x === "object" && x !== null && #data in x;
  }
}

/**
 * Writes op(B) into `data` in panels (see the module doc); padding columns
 * stay zero. With a native copy: the full panels in one strided copy
 * (panel, row, column; 16×16 transposes for Bᵀ), the last in another.
 */
function packPanels(
  b: Float32Array,
  o: Required<PackBOptions>,
  data: Float32Array,
  copy?: StridedCopy,
): void {
  const { k, n, transB, ldb } = o;
  if (k === 0 || n === 0) return;
  const P = PANEL_COLUMNS, full = Math.floor(n / P), cols = n % P;
  // op(B)[p][j] sits at b[p·rowStride + j·colStride].
  const rowStride = transB ? 1 : ldb, colStride = transB ? ldb : 1;
  if (!copy) {
    for (let j0 = 0, at = 0; j0 < n; j0 += P) {
      const w = Math.min(P, n - j0), width = w === P ? P : Math.ceil(w / 16) * 16;
      for (let p = 0; p < k; p++) {
        for (let j = 0; j < w; j++) {
          data[at + p * width + j] = b[p * rowStride + (j0 + j) * colStride];
        }
      }
      at += k * width;
    }
    return;
  }
  const buffer = viewBuffer(b), offset = viewByteOffset(b);
  // The elements of B's columns [j0, j0 + w) as stored, from the first.
  const columns = (j0: number, w: number) => {
    const extent = transB ? storedExtent(w, k, ldb) : storedExtent(k, w, ldb);
    return new Float32Array(buffer, offset + 4 * j0 * colStride, extent);
  };
  if (full > 0) {
    copy(columns(0, full * P), data.subarray(0, full * k * P), {
      dims: [full, k, P],
      xStrides: [P * colStride, rowStride, colStride],
      yStrides: [k * P, P, 1],
    });
  }
  if (cols > 0) {
    const width = Math.ceil(cols / 16) * 16, at = full * k * P;
    copy(columns(full * P, cols), data.subarray(at, at + k * width), {
      dims: [k, cols],
      xStrides: [rowStride, colStride],
      yStrides: [width, 1],
    });
  }
}

/** %TypedArray%.prototype.set, taken once (an own or subclass `set` is never called). */
const TYPED_SET = Object.getPrototypeOf(Float32Array.prototype).set as Float32Array["set"];

const dimension = (v: unknown): v is number =>
  typeof v === "number" && v >>> 0 === v && v <= MAX_DIMENSION;

/** Checks `jit.packB`'s arguments and packs. */
export function packB(
  b: unknown,
  o: PackBOptions,
  address: (v: Float32Array) => number,
  copy?: StridedCopy,
  alloc?: (length: number) => Float32Array,
): PackedB {
  if (!isFloat32Array(b)) {
    throw new TypeError(`packB: b must be a Float32Array, got ${describe(b)}`);
  }
  if (o === null || typeof o !== "object") {
    throw new TypeError(`packB: options must be an object with k and n, got ${describe(o)}`);
  }
  const k = o.k, n = o.n, transB = o.transB ?? false, ldb0 = o.ldb, layout = o.layout ?? "panels";
  if (layout !== "rows" && layout !== "panels" && layout !== "columns") {
    throw new TypeError(
      `packB: layout must be "rows", "panels" or "columns", got ${describe(layout)}`,
    );
  }
  for (const [name, v] of [["k", k], ["n", n]] as const) {
    if (!dimension(v)) {
      throw (typeof v === "number" ? RangeError : TypeError)(
        `packB: ${name} must be an integer in [0, ${MAX_DIMENSION}], got ${describe(v)}`,
      );
    }
  }
  if (transB !== true && transB !== false) {
    throw new TypeError(`packB: transB must be a boolean, got ${describe(transB)}`);
  }
  const rowLength = transB ? k : n, rows = transB ? n : k;
  const ldb = ldb0 ?? rowLength;
  if (!dimension(ldb) || ldb < rowLength) {
    throw new RangeError(
      `packB: ldb must be an integer in [${rowLength}, ${MAX_DIMENSION}] (the rows of B hold ${rowLength}), got ${
        describe(ldb)
      }`,
    );
  }
  const need = storedExtent(rows, rowLength, ldb);
  if (!holds(b, need)) {
    throw new RangeError(
      `packB: b has fewer than ${need} elements, which ${rows} rows of ${rowLength} at ldb=${ldb} need`,
    );
  }
  return new PackedB(b, { k, n, transB, ldb, layout }, address, copy, alloc);
}
