/**
 * Reading a `jit.rotary` call (rotary position embedding, as ONNX
 * RotaryEmbedding and com.microsoft GroupQueryAttention apply it): the
 * shape, the layout, the caches and the positions; the key written without
 * allocating.
 *
 * @module
 */
import { describe, typedArrayTag, viewLength } from "../../typed.ts";
import { readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";

/** Options of `jit.rotary`. */
export interface RotaryOptions {
  /** Items of the batch. */
  batch: number;
  /** Tokens per item. */
  sequence: number;
  /** Heads per token. */
  heads: number;
  /** Elements per head. */
  headSize: number;
  /** The first elements of each head that rotate (even, ≤ headSize); the rest are copied. Default headSize. */
  rotaryDim?: number;
  /**
   * "bshd": x is [batch, sequence, heads·headSize] (the default); "bhsd":
   * [batch, heads, sequence, headSize].
   */
  layout?: "bshd" | "bhsd";
  /** Pairs are neighbours (x[2i], x[2i+1]) instead of halves (x[i], x[i + rotaryDim/2]). Default false. */
  interleaved?: boolean;
  /**
   * cos of the angles, rows of rotaryDim/2: one row per position (with
   * `positions`) or per token, batch·sequence rows (without).
   */
  cos: Float32Array;
  /** sin of the angles, cos's shape. */
  sin: Float32Array;
  /** Each token's row of the caches, batch·sequence of them, each in [0, rows of cos). */
  positions?: Int32Array;
}

/** What one rotary call is. */
export interface RotarySpec {
  batch: number;
  sequence: number;
  heads: number;
  headSize: number;
  /** Rotated pairs per head (rotaryDim/2). */
  half: number;
  /** Heads first ([batch, heads, sequence, headSize]). */
  headsFirst: boolean;
  interleaved: boolean;
  /** Rows of the caches with positions; 0: no positions, row = token. */
  positionRows: number;
  /** Tokens of an item in x (a thread's part may compute fewer: `sequence`). */
  sequenceStride: number;
}

/** Argument block slots: the positions are int32 read through a float32 view. */
export const ROTARY_ARG = { X: 0, COS: 1, SIN: 2, POSITIONS: 3, Y: 4 } as const;

/** Names of the key slots after the family slot. */
export const ROTARY_KEY_FIELDS = [
  "batch",
  "sequence",
  "heads",
  "headSize",
  "half",
  "layoutAndPairs",
  "positionRows",
] as const;

const W = "rotary";
/** Largest extent of any dimension, and elements of x. */
const MAX_DIM = 1 << 24, MAX_ELEMENTS = 2 ** 31 / 4;

/**
 * Checks a call (x, y known Float32Arrays) and writes key slots 1..7 and
 * the extents; puts cos and sin in `tables` and returns the positions (or
 * null). Each option is read once: the arrays checked are the ones handed
 * to native code (a getter answering twice cannot swap in a shorter one).
 */
export function readRotary(
  x: Float32Array,
  y: Float32Array,
  o: RotaryOptions,
  key: Int32Array,
  extents: Float64Array,
  tables: (Float32Array | undefined)[],
): Int32Array | null {
  if (o === null || typeof o !== "object") {
    badOptions(W, o, "batch, sequence, heads, headSize, cos and sin");
  }
  const b = readInt(W, "batch", o.batch, 1, MAX_DIM);
  const s = readInt(W, "sequence", o.sequence, 1, MAX_DIM);
  const h = readInt(W, "heads", o.heads, 1, MAX_DIM);
  const d = readInt(W, "headSize", o.headSize, 1, MAX_DIM);
  const rot = readInt(W, "rotaryDim", o.rotaryDim ?? d, 2, d);
  if (rot % 2 !== 0) fail(W, `rotaryDim must be even, got ${rot}`, "range");
  const half = rot / 2;
  const layout = o.layout ?? "bshd";
  if (layout !== "bshd" && layout !== "bhsd") {
    fail(W, `layout must be "bshd" or "bhsd", got ${describe(layout)}`, "range");
  }
  const interleaved = o.interleaved ?? false;
  if (typeof interleaved !== "boolean") {
    fail(W, `interleaved must be a boolean, got ${describe(interleaved)}`, "type");
  }
  const total = b * s * h * d, tokens = b * s;
  if (total > MAX_ELEMENTS) {
    fail(W, `x of ${b}×${s}×${h}×${d} is beyond the supported size`, "range");
  }
  const lx = viewLength(x), ly = viewLength(y);
  if (lx !== total) {
    fail(W, `x has ${lx} elements but batch×sequence×heads×headSize = ${total}`, "range");
  }
  if (ly !== total) fail(W, `y has ${ly} elements but x's shape needs ${total}`, "range");
  const cos = o.cos, sin = o.sin;
  if (typedArrayTag(cos) !== "Float32Array") {
    fail(W, `cos must be a Float32Array, got ${describe(cos)}`, "type");
  }
  if (typedArrayTag(sin) !== "Float32Array") {
    fail(W, `sin must be a Float32Array, got ${describe(sin)}`, "type");
  }
  const lc = viewLength(cos);
  if (lc === 0 || lc % half !== 0 || lc > MAX_ELEMENTS) {
    fail(W, `cos has ${lc} elements: not rows of rotaryDim/2 = ${half}`, "range");
  }
  if (viewLength(sin) !== lc) {
    fail(W, `sin has ${viewLength(sin)} elements; cos has ${lc}`, "range");
  }
  const rows = lc / half;
  let positions: Int32Array | null = null;
  const p = o.positions;
  if (p === undefined) {
    if (rows !== tokens) {
      fail(W, `without positions cos needs batch×sequence = ${tokens} rows, has ${rows}`, "range");
    }
  } else {
    if (typedArrayTag(p) !== "Int32Array") {
      fail(W, `positions must be an Int32Array, got ${describe(p)}`, "type");
    }
    const lp = viewLength(p);
    if (lp !== tokens) {
      fail(W, `positions has ${lp} elements; batch×sequence needs ${tokens}`, "range");
    }
    // Each one picks a row of the caches: checked here, before native code reads it.
    for (let i = 0; i < tokens; i++) {
      const v = p[i];
      if (!(v >= 0 && v < rows)) {
        fail(W, `positions[${i}] is ${v}, outside the caches' rows 0..${rows - 1}`, "range");
      }
    }
    positions = p;
  }
  key[1] = b;
  key[2] = s;
  key[3] = h;
  key[4] = d;
  key[5] = half;
  key[6] = (layout === "bhsd" ? 1 : 0) | (interleaved ? 2 : 0);
  key[7] = positions === null ? 0 : rows;
  extents[0] = extents[4] = 4 * total;
  extents[1] = extents[2] = 4 * lc;
  extents[3] = positions === null ? 0 : 4 * tokens;
  tables[0] = cos;
  tables[1] = sin;
  return positions;
}

/** The spec a key describes. */
export function decodeRotaryKey(key: Int32Array): RotarySpec {
  return {
    batch: key[1],
    sequence: key[2],
    heads: key[3],
    headSize: key[4],
    half: key[5],
    headsFirst: (key[6] & 1) !== 0,
    interleaved: (key[6] & 2) !== 0,
    positionRows: key[7],
    sequenceStride: key[2],
  };
}
