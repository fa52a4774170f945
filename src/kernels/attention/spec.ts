/**
 * What one attention call is: the heads' shapes, the layout and row
 * strides of q, k, v and y, the additive bias and its broadcast, and the
 * scale; and the element strides every kernel and part walks by.
 *
 * @module
 */

/** Element strides of one operand: between batch items, heads and rows (tokens). */
export interface AttentionStrides {
  batch: number;
  head: number;
  row: number;
}

/** Bits of {@link AttentionSpec.bias}: a bias is added, and the axes it varies along. */
export const BIAS = { PRESENT: 1, BATCH: 2, HEADS: 4, QUERIES: 8 } as const;

/** A decoded attention key, with the strides of the whole call (a part keeps them). */
export interface AttentionSpec {
  /** Items of the batch. */
  batch: number;
  /** Query heads (a multiple of kvHeads). */
  heads: number;
  /** Key and value heads; each serves heads/kvHeads query heads in a row. */
  kvHeads: number;
  /** Query rows per head. */
  queries: number;
  /** Key (and value) rows per head. */
  keys: number;
  /** Elements of a query or key row. */
  headSize: number;
  /** Elements of a value or output row. */
  vHeadSize: number;
  /** q and y [batch, heads, tokens, size] ("bhsd") rather than [batch, tokens, heads·size] ("bshd"). */
  headsFirst: boolean;
  /** k and v likewise (a KV cache is bhsd whatever the queries are). */
  kvHeadsFirst: boolean;
  /** {@link BIAS} bits: 0 without a bias. */
  bias: number;
  /** What q·k is multiplied by (an f32). */
  scale: number;
  q: AttentionStrides;
  k: AttentionStrides;
  v: AttentionStrides;
  y: AttentionStrides;
  /** The bias's strides (0 along an axis it does not vary on); its rows hold `keys`. */
  b: AttentionStrides;
}

/** Argument block slots (the bias an unused one-element view when absent). */
export const ATTENTION_ARG = { Q: 0, K: 1, V: 2, BIAS: 3, Y: 4 } as const;

/**
 * Strides of the call: dense in its layout, but for the bshd row strides
 * given (0: dense), each at least a token's heads.
 */
export function attentionStrides(
  s: Pick<
    AttentionSpec,
    | "batch"
    | "heads"
    | "kvHeads"
    | "queries"
    | "keys"
    | "headSize"
    | "vHeadSize"
    | "headsFirst"
    | "kvHeadsFirst"
  >,
  bias: number,
  rows: { q: number; k: number; v: number; y: number },
): Pick<AttentionSpec, "q" | "k" | "v" | "y" | "b"> {
  const { heads: H, kvHeads: G, queries: S, keys: T, headSize: D, vHeadSize: E } = s;
  const of = (
    first: boolean,
    heads: number,
    tokens: number,
    size: number,
    row: number,
  ): AttentionStrides =>
    first
      ? { batch: heads * tokens * size, head: tokens * size, row: size }
      : { batch: tokens * (row || heads * size), head: size, row: row || heads * size };
  const perQuery = (bias & BIAS.QUERIES) !== 0, perHead = (bias & BIAS.HEADS) !== 0;
  const bRow = perQuery ? T : 0;
  const bHead = perHead ? (perQuery ? S : 1) * T : 0;
  const bBatch = (bias & BIAS.BATCH) !== 0 ? (perHead ? H : 1) * (perQuery ? S : 1) * T : 0;
  return {
    q: of(s.headsFirst, H, S, D, rows.q),
    k: of(s.kvHeadsFirst, G, T, D, rows.k),
    v: of(s.kvHeadsFirst, G, T, E, rows.v),
    y: of(s.headsFirst, H, S, E, rows.y),
    b: { batch: bBatch, head: bHead, row: bRow },
  };
}

/** The spec as text. */
export function describeAttention(s: AttentionSpec): string {
  const kvh = s.kvHeads !== s.heads ? `/${s.kvHeads}kv` : "";
  const dv = s.vHeadSize !== s.headSize ? `,${s.vHeadSize}` : "";
  const bias = s.bias === 0 ? "" : ` +bias[${
    [
      s.bias & BIAS.BATCH ? "b" : "1",
      s.bias & BIAS.HEADS ? "h" : "1",
      s.bias & BIAS.QUERIES ? "q" : "1",
    ].join("")
  }k]`;
  const layout = (first: boolean, a: string, b: string) => first ? "bhsd" : `bshd rows ${a},${b}`;
  const qy = layout(s.headsFirst, `${s.q.row}`, `${s.y.row}`);
  const kv = s.kvHeadsFirst === s.headsFirst && s.headsFirst
    ? ""
    : ` kv ${layout(s.kvHeadsFirst, `${s.k.row}`, `${s.v.row}`)}`;
  const dense = s.headsFirst === s.kvHeadsFirst && !s.headsFirst
    ? `bshd rows ${s.q.row},${s.k.row},${s.v.row},${s.y.row}`
    : `${qy}${kv}`;
  return `attention ${s.batch}×${s.heads}${kvh} q${s.queries} k${s.keys} d${s.headSize}${dv} ${dense} scale=${s.scale}${bias}`;
}
