/**
 * MultiHeadAttention (com.microsoft), the common form ONNX Runtime's
 * transformer optimizer writes: query, key and value as [batch, sequence,
 * heads·size], an optional bias for all three (added first), a
 * key_padding_mask [batch, kv sequence] (0: masked, by mask_filter_value
 * added), an attention_bias added to the scores, a past_key/past_value
 * cache ([batch, heads, past, size]) and unidirectional (causal). On the
 * Attention op: the mask and bias folded into one additive mask per run.
 */
import type { Node } from "../ir.ts";
import { ATTENTION, withAttention } from "./attention.ts";
import { biasProblem, msAttentionMask, msAttentionNode } from "./mask_bias.ts";
import { type Buf, expectType, fail, type Meta, meta, need, type OpDef } from "./op.ts";

interface Shape {
  batch: number;
  seq: number;
  kvSeq: number;
  heads: number;
  size: number;
  vSize: number;
  past: number;
}

function shapeOf(n: Node, ins: readonly (Meta | null)[]): Shape {
  const [q, k, v, bias, mask, ab, pk, pv] = need(n, ins, 1, 8);
  const heads = n.attrs.int("num_heads", 0);
  if (heads < 1) fail(n, "num_heads is required");
  expectType(n, q, 0, "float32");
  if (!k || !v) fail(n, "packed QKV is not supported: give key and value");
  for (const [m, i] of [[k, 1], [v, 2]] as const) expectType(n, m!, i, "float32");
  if (q.dims.length !== 3 || k.dims.length !== 3 || v.dims.length !== 3) {
    fail(n, "query, key and value must be [batch, sequence, hidden] (BSNH)");
  }
  const [batch, seq, hidden] = q.dims, kvSeq = k.dims[1], size = hidden / heads;
  const vSize = v.dims[2] / heads;
  if (!Number.isInteger(size) || !Number.isInteger(vSize) || k.dims[2] !== hidden) {
    fail(n, "the hidden sizes do not divide into num_heads");
  }
  if (bias && bias.dims.join() !== [2 * hidden + v.dims[2]].join()) {
    fail(n, "bias must be [q + k + v hidden]");
  }
  if (mask) {
    expectType(n, mask, 4, "int32");
    if (mask.dims.length !== 2 || mask.dims[0] !== batch) {
      fail(n, "key_padding_mask must be [batch, total sequence] (other forms are not supported)");
    }
  }
  if (ab) expectType(n, ab, 5, "float32");
  if ((pk === null) !== (pv === null)) fail(n, "past_key and past_value go together");
  const past = pk ? pk.dims[2] : 0;
  const problem = ab ? biasProblem(ab.dims, [batch, heads, seq, past + kvSeq]) : null;
  if (problem) fail(n, problem);
  if (mask && mask.dims[1] !== past + kvSeq) {
    fail(n, `key_padding_mask must be [${batch}, ${past + kvSeq}] (the total sequence)`);
  }
  return { batch, seq, kvSeq, heads, size, vSize, past };
}

const MHA: OpDef = {
  attributes: ["num_heads", "mask_filter_value", "scale", "unidirectional"],
  infer(n, ins) {
    const s = shapeOf(n, ins), T = s.past + s.kvSeq;
    return [
      meta("float32", [s.batch, s.seq, s.heads * s.vSize]),
      meta("float32", [s.batch, s.heads, T, s.size]),
      meta("float32", [s.batch, s.heads, T, s.vSize]),
    ];
  },
  build(n, ins, outs, env) {
    const s = shapeOf(n, ins), { batch: B, kvSeq: L, heads: H, size: D, past: P } = s;
    const T = P + L, jit = env.jit;
    const q0 = ins[0]!, k0 = ins[1]!, v0 = ins[2]!, bias = ins[3] ?? null;
    const mask = ins[4] ?? null, ab = ins[5] ?? null;
    // The bias added to Q, K and V (in scratch), as their first step.
    const q = bias ? new Float32Array(q0.data.length) : q0.data as Float32Array;
    const k = bias ? new Float32Array(k0.data.length) : k0.data as Float32Array;
    const v = bias ? new Float32Array(v0.data.length) : v0.data as Float32Array;
    const buf = (data: Float32Array, dims: number[]): Buf => ({
      type: "float32",
      dims,
      data,
      constant: false,
    });
    // One additive mask [batch, heads, S, T] from the padding mask and the attention bias.
    const combined = msAttentionMask(
      n,
      B,
      T,
      mask ? { data: mask.data, lengths: false } : null,
      ab,
    );
    const node = msAttentionNode(
      n,
      H,
      ["q", "k", "v", combined ? "mask" : "", P ? "pk" : "", P ? "pv" : ""],
      n.outputs.slice(0, 3),
    );
    const attention = ATTENTION.build(
      node,
      [
        buf(q, q0.dims),
        buf(k, k0.dims),
        buf(v, v0.dims),
        combined ? buf(combined.data, combined.dims) : null,
        ins[6] ?? null,
        ins[7] ?? null,
      ],
      outs,
      env,
    )!;
    const hidden = H * D, vHidden = v0.dims[2];
    const bd = bias?.data as Float32Array | undefined;
    const bq = bd?.subarray(0, hidden),
      bk = bd?.subarray(hidden, 2 * hidden),
      bv = bd?.subarray(2 * hidden);
    return withAttention(combined ? () => combined.fill() : null, () => {
      if (bq && bk && bv) {
        jit.binary("add", q0.data as Float32Array, q0.dims, bq, [hidden], q);
        jit.binary("add", k0.data as Float32Array, k0.dims, bk, [hidden], k);
        jit.binary("add", v0.data as Float32Array, v0.dims, bv, [vHidden], v);
      }
    }, attention);
  },
};

/** The MultiHeadAttention definition (com.microsoft). */
export const MHA_OPS: Record<string, OpDef> = { MultiHeadAttention: MHA };
