/**
 * Prepacked GEMM weights: op(B) stored once as a dense row-major k×n copy
 * (transposed here if B is given as Bᵀ), its rows padded to whole cache
 * lines and never a multiple of 4 KiB apart, so every later call reads B
 * aligned, without cache-set conflicts between rows, and without
 * transposing. A model's constant weights are held this way.
 *
 * @module
 */
import { describe, holds, isFloat32Array, viewBuffer, viewByteOffset } from "../../typed.ts";
import { MAX_DIMENSION } from "./read.ts";
import { storedExtent } from "./spec.ts";

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
}

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
  /** Row stride of the packed copy, in elements. */
  readonly ld: number;
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
  ) {
    const { k, n, transB, ldb } = o;
    let ld = Math.max(16, Math.ceil(n / 16) * 16);
    if ((ld * 4) % 4096 === 0) ld += 16; // rows 4 KiB apart share L1 sets
    if (ld > MAX_DIMENSION) ld = n;
    // Over-allocate one cache line and start the view on a line boundary.
    const whole = new Float32Array(k * ld + 16);
    const skip = ((64 - (address(whole) % 64)) % 64) / 4;
    const data = whole.subarray(skip, skip + k * ld);
    this.k = k;
    this.n = n;
    this.ld = ld;
    this.#data = data;
    // No method of b takes part (a subclass may override them): rows are
    // copied from plain views of its buffer (found through the intrinsic
    // getters) by the intrinsic set, a memory copy; Bᵀ by indexed reads.
    if (transB && copy && k > 0 && n > 0) {
      // The transpose as one strided copy: 16×16 blocks in registers at AVX-512.
      copy(b, data, { dims: [k, n], xStrides: [1, ldb], yStrides: [ld, 1] });
    } else if (transB) {
      for (let p = 0; p < k; p++) {
        const row = p * ld;
        for (let j = 0; j < n; j++) data[row + j] = b[j * ldb + p];
      }
    } else if (n > 0) {
      const buffer = viewBuffer(b), offset = viewByteOffset(b);
      for (let p = 0; p < k; p++) {
        TYPED_SET.call(data, new Float32Array(buffer, offset + 4 * p * ldb, n), p * ld);
      }
    }
  }

  /** The packed elements (row p at p·ld). */
  get data(): Float32Array {
    return this.#data;
  }

  /** Whether x is a PackedB (a brand check no object can fake). */
  static is(x: unknown): x is PackedB {
    return typeof x === "object" && x !== null && #data in x;
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
): PackedB {
  if (!isFloat32Array(b)) {
    throw new TypeError(`packB: b must be a Float32Array, got ${describe(b)}`);
  }
  if (o === null || typeof o !== "object") {
    throw new TypeError(`packB: options must be an object with k and n, got ${describe(o)}`);
  }
  const k = o.k, n = o.n, transB = o.transB ?? false, ldb0 = o.ldb;
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
  return new PackedB(b, { k, n, transB, ldb }, address, copy);
}
