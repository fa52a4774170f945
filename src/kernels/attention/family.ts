/**
 * Scaled dot-product attention as an op family: softmax(scale·q·kᵀ + bias)·v
 * per head, in one kernel (generate.ts).
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import {
  attentionCandidates,
  type AttentionPlan,
  generateAttention,
  planAttention,
} from "./generate.ts";
import { ATTENTION_KEY_FIELDS, decodeAttentionKey } from "./read.ts";
import { type AttentionSpec, BIAS, describeAttention } from "./spec.ts";

/** y = softmax(scale·q·kᵀ + bias)·v per head; operands q, k, v, bias, y. */
export const ATTENTION: OpFamily<AttentionSpec, AttentionPlan> = {
  name: "attention",
  keyFields: ATTENTION_KEY_FIELDS,
  operands: ["q", "k", "v", "bias", "y"],
  outputs: 1,
  decode: decodeAttentionKey,
  describe: describeAttention,
  cost: (s) => {
    const heads = s.batch * s.heads, scores = heads * s.queries * s.keys;
    return {
      flops: 2 * scores * (s.headSize + s.vHeadSize) + 20 * scores,
      bytes: 4 * heads * (s.queries * (s.headSize + s.vHeadSize)) +
        4 * s.batch * s.kvHeads * s.keys * (s.headSize + s.vHeadSize),
    };
  },
  plan: (s, t) => planAttention(s, t.isa, t.l2),
  fallbackPlan: (s) => planAttention(s, "scalar"),
  generate: generateAttention,
  candidates: (s, p, t) => attentionCandidates(s, p, t.l2),
  partition: attentionParts,
  reference: (s, [q, k, v, bias, y]) => attentionReference(s, q, k, v, bias, y),
};

/**
 * Parts over key heads (each with its query heads, every batch item), or
 * over batch items where there are more of those, or over query rows where
 * there is one of each. Every row is computed alone, by the same
 * instructions in any part: any split gives the same bits.
 */
function attentionParts(
  s: AttentionSpec,
  plan: AttentionPlan,
  parts: number,
): Part<AttentionSpec, AttentionPlan>[] | null {
  const group = s.heads / s.kvHeads;
  const by = s.kvHeads > 1 && s.kvHeads >= s.batch ? "heads" : s.batch > 1 ? "batch" : "queries";
  const total = by === "batch" ? s.batch : by === "heads" ? s.kvHeads : s.queries;
  const ranges = splitRange(total, evenParts(total, parts));
  if (ranges.length < 2) return null;
  return ranges.map(({ start, count }) => {
    if (by === "batch") {
      return {
        spec: { ...s, batch: count },
        plan,
        offsets: [s.q.batch, s.k.batch, s.v.batch, s.b.batch, s.y.batch].map((x) => 4 * start * x),
      };
    }
    if (by === "heads") {
      const h = start * group;
      return {
        spec: { ...s, kvHeads: count, heads: count * group },
        plan,
        offsets: [
          4 * h * s.q.head,
          4 * start * s.k.head,
          4 * start * s.v.head,
          4 * h * s.b.head,
          4 * h * s.y.head,
        ],
      };
    }
    return {
      spec: { ...s, queries: count },
      plan,
      offsets: [4 * start * s.q.row, 0, 0, 4 * start * s.b.row, 4 * start * s.y.row],
    };
  });
}

/**
 * Parts of equal work where few units go round: the most parts, at most
 * `parts`, that divide `total` (12 heads in 6 parts of 2, not 8 of 1 or 2:
 * the threads' shares then match), or `parts` where there are many units
 * each (the last part's shortfall then small).
 */
function evenParts(total: number, parts: number): number {
  if (total >= 4 * parts) return parts;
  for (let p = Math.min(parts, total); p > 1; p--) if (total % p === 0) return p;
  return Math.min(parts, total);
}

/** The f64 computation, rounded to f32: softmax(scale·q·kᵀ + bias)·v, max-subtracted. */
export function attentionReference(
  s: AttentionSpec,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  bias: Float32Array,
  y: Float32Array,
): void {
  const group = s.heads / s.kvHeads, hasBias = (s.bias & BIAS.PRESENT) !== 0;
  const e = new Float64Array(s.keys), o = new Float64Array(s.vHeadSize);
  for (let b = 0; b < s.batch; b++) {
    for (let h = 0; h < s.heads; h++) {
      const kv = Math.floor(h / group);
      const q0 = b * s.q.batch + h * s.q.head, y0 = b * s.y.batch + h * s.y.head;
      const k0 = b * s.k.batch + kv * s.k.head, v0 = b * s.v.batch + kv * s.v.head;
      const b0 = b * s.b.batch + h * s.b.head;
      for (let i = 0; i < s.queries; i++) {
        let mx = -Infinity;
        for (let j = 0; j < s.keys; j++) {
          let dot = 0;
          for (let d = 0; d < s.headSize; d++) {
            dot += q[q0 + i * s.q.row + d] * k[k0 + j * s.k.row + d];
          }
          e[j] = Math.fround(s.scale) * dot + (hasBias ? bias[b0 + i * s.b.row + j] : 0);
          mx = Math.max(mx, e[j]);
        }
        let sum = 0;
        for (let j = 0; j < s.keys; j++) sum += e[j] = Math.exp(e[j] - mx);
        o.fill(0);
        for (let j = 0; j < s.keys; j++) {
          for (let d = 0; d < s.vHeadSize; d++) o[d] += e[j] * v[v0 + j * s.v.row + d];
        }
        for (let d = 0; d < s.vHeadSize; d++) y[y0 + i * s.y.row + d] = o[d] / sum;
      }
    }
  }
}
