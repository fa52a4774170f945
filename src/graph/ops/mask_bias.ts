/**
 * The one additive mask ONNX Runtime's attention ops add to the scores: a
 * key padding mask (per batch item: valid lengths, or a raw 0/1 row over
 * the keys; masked keys get mask_filter_value) plus an attention bias
 * ([batch|1, heads|1, queries|1, keys]). Built over only the axes they
 * vary on — [batch or 1, heads or 1, queries or 1, keys] — so filling it
 * costs batch·keys for a padding mask alone; the Attention op broadcasts it.
 */
import type { TensorData } from "../../onnx/dtype.ts";
import { Attrs, type Node } from "../ir.ts";
import { fail } from "./op.ts";

/** An additive mask, its dims (broadcast to [batch, heads, queries, keys]) and its fill. */
export interface MaskBias {
  data: Float32Array;
  dims: number[];
  /** Recomputes it from the inputs' current values. */
  fill(): void;
}

/** The padding mask as the op gave it: lengths [batch], or a 0/1 row [batch, keys] per item. */
export interface PaddingMask {
  data: TensorData;
  lengths: boolean;
}

/** Why an attention bias does not broadcast to [batch, heads, queries, keys], or null. */
export function biasProblem(dims: readonly number[], full: readonly number[]): string | null {
  if (dims.length < 1 || dims.length > 4) return "an attention bias must have 1 to 4 dimensions";
  const d = [1, 1, 1, 1, ...dims].slice(-4);
  for (let i = 0; i < 4; i++) {
    if (d[i] !== full[i] && (i === 3 || d[i] !== 1)) {
      return `attention_bias [${dims.join(", ")}] does not broadcast to [${full.join(", ")}]`;
    }
  }
  return null;
}

/**
 * The mask of a padding mask and an attention bias (either may be absent), masked keys at
 * `filter`; call `fill` when their values change.
 */
export function maskBias(
  batch: number,
  keys: number,
  padding: PaddingMask | null,
  bias: { data: Float32Array; dims: readonly number[] } | null,
  filter: number,
): MaskBias {
  const [db, dh, di] = bias ? [1, 1, 1, 1, ...bias.dims].slice(-4) : [1, 1, 1, keys];
  const mB = padding ? batch : db, mH = dh, mS = di;
  const data = new Float32Array(mB * mH * mS * keys);
  const md = padding?.data, lengths = padding?.lengths ?? false, bd = bias?.data;
  return {
    data,
    dims: [mB, mH, mS, keys],
    fill: () => {
      for (let b = 0; b < mB; b++) {
        for (let h = 0; h < mH; h++) {
          for (let i = 0; i < mS; i++) {
            const at = ((b * mH + h) * mS + i) * keys;
            const from = ((db === 1 ? 0 : b) * dh + h) * di + i;
            for (let j = 0; j < keys; j++) {
              let v = bd ? bd[from * keys + j] : 0;
              if (md && (lengths ? j >= Number(md[b]) : Number(md[b * keys + j]) === 0)) {
                v += filter;
              }
              data[at + j] = v;
            }
          }
        }
      }
    },
  };
}

/**
 * A com.microsoft attention node's one mask from its padding mask and attention bias (keys
 * masked at its mask_filter_value), or null when it has neither.
 */
export function msAttentionMask(
  n: Node,
  batch: number,
  keys: number,
  padding: PaddingMask | null,
  bias: { data: TensorData; dims: readonly number[] } | null,
): MaskBias | null {
  if (bias && bias.dims[bias.dims.length - 1] !== keys) {
    fail(n, `attention_bias must end in the number of keys ${keys}`);
  }
  if (!padding && !bias) return null;
  const filter = n.attrs.float("mask_filter_value", -10000);
  const b = bias ? { data: bias.data as Float32Array, dims: bias.dims } : null;
  return maskBias(batch, keys, padding, b, filter);
}

/**
 * The opset-23 Attention node a com.microsoft attention node runs as: `heads` heads for
 * queries and keys, causal when unidirectional, its scale when given.
 */
export function msAttentionNode(
  n: Node,
  heads: number,
  inputs: string[],
  outputs: string[],
): Node {
  const attrs = new Map<string, number>([["q_num_heads", heads], ["kv_num_heads", heads]]);
  if (n.attrs.int("unidirectional", 0)) attrs.set("is_causal", 1);
  if (n.attrs.has("scale") && n.attrs.float("scale", 0) !== 0) {
    attrs.set("scale", n.attrs.float("scale", 0));
  }
  return {
    op: "Attention",
    domain: "",
    name: n.name,
    inputs,
    outputs,
    attrs: new Attrs(attrs, `Attention of ${n.name}`),
    opset: 23,
  };
}
