/**
 * Convolution weights packed once (`jit.packConvWeights`): a private copy
 * of w on a 64-byte line (or, with `inPlace`, w itself, which its owner
 * keeps unchanged: a model's constant weights), with the shape it was
 * packed for. A model's constant weights are held this way, so no call can
 * see them change and each call checks only that its options match the
 * shape. The position-vector kernel reads the ONNX layout as is (A rows of
 * the GEMM, see generate.ts); for an AVX-512 Jit and one group a second
 * copy on a line of its own is [outChannels/16][c][kh][kw][16] (zero
 * channels past outChannels), which the channel-vector kernel
 * (channel_vectors.ts) and ConvTranspose by output phases
 * (transpose_phases.ts) read (an AVX2 Jit's is [outChannels/8][c][kh][kw][8],
 * the channel-vector kernel's and the phases' columns tile's there);
 * for a depthwise w (AVX-512 and AVX2) it is tap-major,
 * [kh][kw][c] (`lanes` = outChannels: one block of every channel), which
 * the NHWC depthwise kernel reads (depthwise_nhwc.ts). The calls pass it
 * as the operand wVectors.
 *
 * @module
 */
import {
  allFinite,
  describe,
  isFloat32Array,
  lineAligned,
  viewBuffer,
  viewByteOffset,
  viewLength,
} from "../../typed.ts";
import type { StridedCopy } from "../gemm/packb.ts";
import { readInt, readInts } from "../attributes.ts";
import { fail } from "../checks.ts";
import { MAX_CONV_DIMENSION, MAX_CONV_WINDOW, readGroup } from "./read.ts";

/** The shape weights are packed for. */
export interface ConvWeightsOptions {
  /** Output channels. */
  outChannels: number;
  /** Input channels. */
  c: number;
  /** Kernel [kh, kw]. */
  kernel: readonly number[];
  /** Groups. Default 1. */
  group?: number;
  /** ConvTranspose weights (c × outChannels/group × kh × kw). Default false. */
  transposed?: boolean;
  /**
   * Use w where it lies rather than a copy (the channel-vector copy is
   * still made): its owner promises never to change it, as a model's
   * constant weights never change. Default false.
   */
  inPlace?: boolean;
}

const W = "packConvWeights";
const SHAPE = new Int32Array(2);

/** Weights packed once for conv2d (or convTranspose2d); pass in place of w. */
export class ConvWeights {
  /** Output channels. */
  readonly outChannels: number;
  /** Input channels. */
  readonly c: number;
  /** Groups. */
  readonly group: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** For convTranspose2d. */
  readonly transposed: boolean;
  /**
   * Lanes of the channel-vector copy after the ONNX one (0: none; a
   * depthwise w's tap-major copy: outChannels; see the module).
   */
  readonly lanes: number;
  /** Every weight is finite (no ±Inf, no NaN): kernels may skip the padding's taps. */
  readonly finite: boolean;
  readonly #data: Float32Array;
  readonly #vectors: Float32Array;

  /** Checks w against the shape and copies it (integer-indexed reads only), or views it. */
  constructor(
    w: Float32Array,
    o: ConvWeightsOptions,
    address: (v: Float32Array) => number,
    lanes = 0,
    copy?: StridedCopy,
    alloc: (length: number) => Float32Array = (length) => lineAligned(length, address),
    finite: (x: Float32Array) => boolean = allFinite,
  ) {
    if (o === null || typeof o !== "object") {
      fail(
        W,
        `options must be an object with outChannels, c and kernel, got ${describe(o)}`,
        "type",
      );
    }
    if (!isFloat32Array(w)) fail(W, `w must be a Float32Array, got ${describe(w)}`, "type");
    this.outChannels = readInt(W, "outChannels", o.outChannels, 1, MAX_CONV_DIMENSION);
    this.c = readInt(W, "c", o.c, 1, MAX_CONV_DIMENSION);
    this.group = readGroup(W, o.group, this.c, this.outChannels);
    readInts(W, "kernel", o.kernel, 2, 1, MAX_CONV_WINDOW, 1, SHAPE, 0);
    this.kh = SHAPE[0];
    this.kw = SHAPE[1];
    const t = o.transposed ?? false;
    if (t !== true && t !== false) {
      fail(W, `transposed must be a boolean, got ${describe(t)}`, "type");
    }
    this.transposed = t;
    const inPlace = o.inPlace ?? false;
    if (inPlace !== true && inPlace !== false) {
      fail(W, `inPlace must be a boolean, got ${describe(inPlace)}`, "type");
    }
    const n = this.c * (this.outChannels / this.group) * this.kh * this.kw;
    const lw = viewLength(w);
    if (lw !== n) fail(W, `w has ${lw} elements but the shape needs ${n}`, "range");
    // One group: blocks of `lanes` channels (the channel-vector kernel's; a transposed call's
    // for the phase kernels). Depthwise: one block of every channel, tap-major [taps][C] (the
    // NHWC depthwise kernel's).
    const depthwise = this.group === this.c && this.outChannels === this.c && !t;
    this.lanes = this.group === 1 ? lanes : depthwise && lanes !== 0 ? this.outChannels : 0;
    const cg = this.c / this.group;
    const L = this.lanes, oc = this.outChannels, k = cg * this.kh * this.kw;
    // No method of w takes part: a plain view of its buffer (found through the intrinsic
    // getters), copied by the intrinsic set onto a line (a session's large ones in its
    // memory: native/large_memory.ts).
    const view = new Float32Array(viewBuffer(w), viewByteOffset(w), n);
    const data = this.#data = inPlace ? view : alloc(n);
    if (!inPlace) TYPED_SET.call(data, view);
    this.finite = finite(data);
    this.#vectors = data;
    if (L) {
      // [oc/L][k][L] from [oc][k]: channel o's row into lane o % L of its block.
      const cv = this.#vectors = alloc(vectorsLength(oc, k, L));
      // Channel o's k weights: w[o][c][kh][kw] (conv2d), or w[c][o][kh][kw] (transposed).
      const taps = this.kh * this.kw;
      if (copy) {
        // Blocks of L channels turned channel-last by strided copies (16×16 transposes).
        for (const part of vectorCopies(oc, cg, taps, L, t)) {
          copy(data.subarray(part.from), cv.subarray(part.to), part.options);
        }
        return;
      }
      for (let o = 0; o < oc; o++) {
        const base = Math.floor(o / L) * k * L + (o % L);
        if (!t) {
          for (let j = 0, src = o * k; j < k; j++) cv[base + j * L] = data[src + j];
          continue;
        }
        for (let c = 0; c < this.c; c++) {
          const src = (c * oc + o) * taps, dst = base + c * taps * L;
          for (let j = 0; j < taps; j++) cv[dst + j * L] = data[src + j];
        }
      }
    }
  }

  /** The elements in ONNX's layout (the call's w). */
  get data(): Float32Array {
    return this.#data;
  }

  /** The channel-vector copy (the call's wVectors), or `data` when there is none (no lanes). */
  get vectors(): Float32Array {
    return this.#vectors;
  }

  /** Whether x is a ConvWeights (a brand check no object can fake). */
  static is(x: unknown): x is ConvWeights {
    return typeof x === "object" && x !== null && #data in x;
  }

  /**
   * The error for options that do not match the packed shape (null when
   * they match): `who` names the call.
   */
  mismatch(
    who: string,
    oc: number,
    c: number,
    group: number,
    kh: number,
    kw: number,
    transposed: boolean,
  ): Error | null {
    if (
      oc === this.outChannels && c === this.c && group === this.group && kh === this.kh &&
      kw === this.kw && transposed === this.transposed
    ) return null;
    return new RangeError(
      `${who}: w was packed for ${
        this.transposed ? "convTranspose2d" : "conv2d"
      } outChannels=${this.outChannels} c=${this.c} group=${this.group} kernel ${this.kh}×${this.kw}, not outChannels=${oc} c=${c} group=${group} kernel ${kh}×${kw}`,
    );
  }
}

/** Floats of the channel-vector copy: blocks of `lanes` output channels × `k` weights each. */
export function vectorsLength(oc: number, k: number, lanes: number): number {
  return Math.ceil(oc / lanes) * lanes * k;
}

/** A strided copy of the channel-vector layout: w from element `from`, into the layout from `to`. */
export interface VectorCopy {
  from: number;
  to: number;
  options: { dims: number[]; xStrides: number[]; yStrides: number[] };
}

/**
 * The strided copies that turn w (conv2d's [oc][c][kh][kw], or transposed
 * [c][oc][kh][kw]) into the channel-vector layout [oc/L][c][kh][kw][L]:
 * the whole blocks of L channels in one, the rest (fewer lanes) in another.
 */
export function vectorCopies(
  oc: number,
  c: number,
  taps: number,
  L: number,
  transposed: boolean,
): VectorCopy[] {
  const k = c * taps, full = Math.floor(oc / L), rest = oc % L, out: VectorCopy[] = [];
  const part = (first: number, lanes: number, blocks: number) =>
    out.push({
      from: transposed ? first * taps : first * k,
      to: first * k,
      options: transposed
        ? {
          dims: [blocks, c, taps, lanes],
          xStrides: [L * taps, oc * taps, 1, taps],
          yStrides: [c * taps * L, taps * L, L, 1],
        }
        : { dims: [blocks, k, lanes], xStrides: [L * k, 1, k], yStrides: [L * k, L, 1] },
    });
  if (full) part(0, L, full);
  if (rest) part(full * L, rest, 1);
  return out;
}

/**
 * Room for plain ConvTranspose weights repacked on every call (see
 * `jit.convTranspose2d`): the layouts of packed weights (the ONNX copy and
 * the channel-vector one), for one shape. Each call copies w in by the
 * Jit's own strided copies, so a recorded list repacks when it runs (a w
 * changed between runs is read anew) and calls recorded one after another
 * each use their own weights in turn. The lanes past outChannels in the
 * last block stay the allocation's zeros.
 */
export class RepackedWeights {
  /** The ONNX copy (what the call passes as w). */
  readonly data: Float32Array;
  /** The channel-vector copy (the call's wVectors). */
  readonly vectors: Float32Array;
  readonly #parts: (VectorCopy & { y: Float32Array })[];
  readonly #flat: { dims: number[]; xStrides: number[]; yStrides: number[] };
  /** The last w seen and its views at each part's first element. */
  #w: Float32Array | null = null;
  #from: Float32Array[] = [];

  constructor(
    readonly oc: number,
    readonly c: number,
    readonly taps: number,
    lanes: number,
    alloc: (length: number) => Float32Array,
  ) {
    const n = c * oc * taps;
    this.data = alloc(n);
    const cv = this.vectors = alloc(vectorsLength(oc, c * taps, lanes));
    this.#parts = vectorCopies(oc, c, taps, lanes, true).map((p) => ({
      ...p,
      y: cv.subarray(p.to),
    }));
    this.#flat = { dims: [n], xStrides: [1], yStrides: [1] };
  }

  /** Whether it holds weights of this shape. */
  fits(oc: number, c: number, taps: number): boolean {
    return oc === this.oc && c === this.c && taps === this.taps;
  }

  /** Copies w (checked by the call: n floats) into both layouts with `copy`. */
  pack(w: Float32Array, copy: StridedCopy): void {
    if (w !== this.#w) {
      this.#w = w;
      this.#from = this.#parts.map((p) => (p.from === 0 ? w : w.subarray(p.from)));
    }
    copy(w, this.data, this.#flat);
    for (let i = 0; i < this.#parts.length; i++) {
      copy(this.#from[i], this.#parts[i].y, this.#parts[i].options);
    }
  }
}

/** %TypedArray%.prototype.set, taken once (an own or subclass `set` is never called). */
const TYPED_SET = Object.getPrototypeOf(Float32Array.prototype).set as Float32Array["set"];
