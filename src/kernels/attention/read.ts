/**
 * Reading a `jit.attention` call: the heads' shapes, the layout and row
 * strides, the scale and the bias with its broadcast; the key written
 * without allocating.
 *
 * @module
 */
import { describe, typedArrayTag, viewLength } from "../../typed.ts";
import { readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { type AttentionSpec, attentionStrides, BIAS } from "./spec.ts";

/** Options of `jit.attention`. */
export interface AttentionOptions {
  /** Items of the batch. */
  batch: number;
  /** Query heads. */
  heads: number;
  /** Key and value heads, dividing `heads` (grouped-query attention). Default heads. */
  kvHeads?: number;
  /** Query rows (tokens) per head. */
  queries: number;
  /** Key and value rows per head. */
  keys: number;
  /** Elements of a query or key row. */
  headSize: number;
  /** Elements of a value or output row. Default headSize. */
  vHeadSize?: number;
  /**
   * "bshd" (the default): q is [batch, queries, heads·headSize], k and v
   * [batch, keys, kvHeads·size], y [batch, queries, heads·vHeadSize];
   * "bhsd": [batch, heads, tokens, size] each.
   */
  layout?: "bshd" | "bhsd";
  /** k and v's own layout (a KV cache's "bhsd" beside bshd queries). Default `layout`. */
  kvLayout?: "bshd" | "bhsd";
  /**
   * bshd operands only: elements between one token's row and the next in q,
   * k, v or y, where they are wider than the heads (a packed QKV projection
   * read in place). Default: the heads' width.
   */
  rowStrides?: { q?: number; k?: number; v?: number; y?: number };
  /** What q·k is multiplied by. Default 1/√headSize. */
  scale?: number;
  /** Added to the scaled scores: rows of `keys`, [batch or 1, heads or 1, queries or 1, keys]. */
  bias?: Float32Array;
  /** The bias's leading dims, each 1 (broadcast) or the call's. Default [batch, heads, queries]. */
  biasShape?: readonly number[];
}

/** Names of the key slots after the family slot. */
export const ATTENTION_KEY_FIELDS = [
  "batch",
  "heads",
  "kvHeads",
  "queries",
  "keys",
  "headSize",
  "vHeadSize",
  "layoutsAndBias",
  "scale",
  "qRow",
  "kRow",
  "vRow",
  "yRow",
] as const;

const W = "attention";
/** Largest dimension, elements of an operand, and bytes of a part's workspace. */
const MAX_DIM = 1 << 24, MAX_ELEMENTS = 2 ** 31 / 4, MAX_WORKSPACE = 2 ** 28;

const ROWS = { q: 0, k: 0, v: 0, y: 0 };

/** Whether a call of these keys and head size is within the supported workspace (a RangeError past it). */
export function attentionFits(keys: number, headSize: number): boolean {
  return (headSize + 64) * Math.ceil(keys / 16) * 16 * 4 <= MAX_WORKSPACE;
}

/**
 * Fewest query rows for which a model's attention takes the kernel rather
 * than the GEMMs and softmax: each key head's keys are transposed once per
 * call, as much work as a row's products. Measured on Zen 5, one thread
 * (`deno run -A bench/attention_kernel.ts --heads 32 --seq 257 --queries Q`):
 * 1 row 181 µs against 97.5 by the GEMMs, 4 rows 194 against 123, 16 rows
 * 340 against 429.
 */
export const ATTENTION_MIN_QUERIES = 8;

/**
 * Checks a call (q, k, v, y known Float32Arrays), writes key slots 1..13 and
 * the extents, and returns the bias (null without one). Each option is read
 * once: the array checked is the one handed to native code.
 */
export function readAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  y: Float32Array,
  o: AttentionOptions,
  key: Int32Array,
  extents: Float64Array,
): Float32Array | null {
  if (o === null || typeof o !== "object") {
    badOptions(W, o, "batch, heads, queries, keys and headSize");
  }
  const batch = readInt(W, "batch", o.batch, 1, MAX_DIM);
  const heads = readInt(W, "heads", o.heads, 1, MAX_DIM);
  const kvHeads = readInt(W, "kvHeads", o.kvHeads ?? heads, 1, heads);
  if (heads % kvHeads !== 0) {
    fail(W, `kvHeads must divide heads = ${heads}, got ${kvHeads}`, "range");
  }
  const queries = readInt(W, "queries", o.queries, 1, MAX_DIM);
  const keys = readInt(W, "keys", o.keys, 1, MAX_DIM);
  const headSize = readInt(W, "headSize", o.headSize, 1, MAX_DIM);
  const vHeadSize = readInt(W, "vHeadSize", o.vHeadSize ?? headSize, 1, MAX_DIM);
  const layout = o.layout ?? "bshd";
  if (layout !== "bshd" && layout !== "bhsd") {
    fail(W, `layout must be "bshd" or "bhsd", got ${describe(layout)}`, "range");
  }
  const headsFirst = layout === "bhsd";
  const kvLayout = o.kvLayout ?? layout;
  if (kvLayout !== "bshd" && kvLayout !== "bhsd") {
    fail(W, `kvLayout must be "bshd" or "bhsd", got ${describe(kvLayout)}`, "range");
  }
  const kvHeadsFirst = kvLayout === "bhsd";
  // A part's workspace: the keys transposed, up to 48 rows of scores (generate.ts).
  if (!attentionFits(keys, headSize)) {
    fail(W, `keys = ${keys} × headSize = ${headSize} is beyond the supported size`, "range");
  }
  let scale = o.scale;
  if (scale === undefined) scale = 1 / Math.sqrt(headSize);
  else if (typeof scale !== "number") {
    fail(W, `scale must be a number, got ${describe(scale)}`, "type");
  } else if (!Number.isFinite(scale)) fail(W, `scale must be finite, got ${scale}`, "range");
  const rs = o.rowStrides;
  ROWS.q =
    ROWS.k =
    ROWS.v =
    ROWS.y =
      0;
  if (rs !== undefined) {
    if (rs === null || typeof rs !== "object") {
      fail(W, `rowStrides must be an object of q, k, v, y, got ${describe(rs)}`, "type");
    }
    if (headsFirst && kvHeadsFirst) {
      fail(W, `rowStrides are for the bshd layout, not bhsd`, "range");
    }
    ROWS.q = readRow("q", rs.q, heads * headSize, headsFirst);
    ROWS.k = readRow("k", rs.k, kvHeads * headSize, kvHeadsFirst);
    ROWS.v = readRow("v", rs.v, kvHeads * vHeadSize, kvHeadsFirst);
    ROWS.y = readRow("y", rs.y, heads * vHeadSize, headsFirst);
  }
  const bias = o.bias;
  let bits = 0;
  if (bias !== undefined) {
    if (typedArrayTag(bias) !== "Float32Array") {
      fail(W, `bias must be a Float32Array, got ${describe(bias)}`, "type");
    }
    const shape = o.biasShape;
    if (shape !== undefined && (!Array.isArray(shape) || shape.length !== 3)) {
      fail(
        W,
        `biasShape must be [batch or 1, heads or 1, queries or 1], got ${describe(shape)}`,
        "type",
      );
    }
    bits = BIAS.PRESENT;
    let rows = 1;
    for (let i = 0; i < 3; i++) {
      const full = i === 0 ? batch : i === 1 ? heads : queries;
      const d = shape === undefined ? full : shape[i];
      if (d !== 1 && d !== full) {
        fail(
          W,
          `biasShape[${i}] must be 1 or ${BIAS_AXES[i]} = ${full}, got ${describe(d)}`,
          "range",
        );
      }
      if (d !== 1) bits |= BIAS.BATCH << i;
      rows *= d;
    }
    const lb = viewLength(bias);
    if (lb !== rows * keys) {
      fail(W, `bias has ${lb} elements; its shape × keys needs ${rows * keys}`, "range");
    }
  } else if (o.biasShape !== undefined) fail(W, "biasShape is given without a bias", "range");
  const exact = rs === undefined;
  const qRow = ROWS.q || heads * headSize, kRow = ROWS.k || kvHeads * headSize;
  const vRow = ROWS.v || kvHeads * vHeadSize, yRow = ROWS.y || heads * vHeadSize;
  const eq = check("q", q, headsFirst, batch, heads, queries, headSize, qRow, exact);
  const ek = check("k", k, kvHeadsFirst, batch, kvHeads, keys, headSize, kRow, exact);
  const ev = check("v", v, kvHeadsFirst, batch, kvHeads, keys, vHeadSize, vRow, exact);
  const ey = check("y", y, headsFirst, batch, heads, queries, vHeadSize, yRow, exact);
  key[1] = batch;
  key[2] = heads;
  key[3] = kvHeads;
  key[4] = queries;
  key[5] = keys;
  key[6] = headSize;
  key[7] = vHeadSize;
  key[8] = (headsFirst ? 1 : 0) | (kvHeadsFirst ? 2 : 0) | (bits << 2);
  key[9] = f32Bits(scale);
  key[10] = headsFirst ? 0 : qRow;
  key[11] = kvHeadsFirst ? 0 : kRow;
  key[12] = kvHeadsFirst ? 0 : vRow;
  key[13] = headsFirst ? 0 : yRow;
  extents[0] = 4 * eq;
  extents[1] = 4 * ek;
  extents[2] = 4 * ev;
  extents[3] = bias === undefined ? 0 : 4 * viewLength(bias);
  extents[4] = 4 * ey;
  return bias === undefined ? null : bias;
}

const BIAS_AXES = ["batch", "heads", "queries"] as const;

function readRow(name: string, v: unknown, least: number, headsFirst: boolean): number {
  if (v === undefined) return 0;
  if (headsFirst) {
    fail(W, `rowStrides.${name}: ${name} is bhsd (its rows are its head size)`, "range");
  }
  return readInt(W, `rowStrides.${name}`, v, least, MAX_ELEMENTS);
}

/**
 * An operand's length against the elements the call touches (the last
 * row's heads end it): exactly for dense operands, at least with row strides.
 */
function check(
  name: string,
  x: Float32Array,
  headsFirst: boolean,
  batch: number,
  heads: number,
  rows: number,
  size: number,
  row: number,
  exact: boolean,
): number {
  const need = headsFirst ? batch * heads * rows * size : (batch * rows - 1) * row + heads * size;
  if (need > MAX_ELEMENTS) {
    fail(W, `${name} of ${need} elements is beyond the supported size`, "range");
  }
  const n = viewLength(x);
  if (exact ? n !== need : n < need) {
    fail(
      W,
      `${name} has ${n} elements; the call needs ${exact ? "exactly" : "at least"} ${need}`,
      "range",
    );
  }
  return need;
}

/** The spec a key describes. */
export function decodeAttentionKey(key: Int32Array): AttentionSpec {
  const headsFirst = (key[8] & 1) !== 0, kvHeadsFirst = (key[8] & 2) !== 0, bias = key[8] >> 2;
  const shape = {
    batch: key[1],
    heads: key[2],
    kvHeads: key[3],
    queries: key[4],
    keys: key[5],
    headSize: key[6],
    vHeadSize: key[7],
    headsFirst,
    kvHeadsFirst,
  };
  const rows = { q: key[10], k: key[11], v: key[12], y: key[13] };
  return {
    ...shape,
    bias,
    scale: fromF32Bits(key[9]),
    ...attentionStrides(shape, bias, rows),
  };
}
