/**
 * The com.microsoft ops of an ONNX Runtime–optimized BERT (the transformer
 * optimizer's fused embedding and attention):
 *
 * - EmbedLayerNormalization: word, position (0.. or position_ids) and
 *   segment embeddings summed, LayerNorm'd; mask_index the count of 1s in
 *   each row of the mask; embedding_sum the sum before the norm.
 * - Attention: the packed QKV projection (input × weights + bias) split
 *   into heads, then the Attention op; mask_index as per-batch valid lengths
 *   [batch] or a raw 0/1 mask [batch, total] (masked scores get
 *   mask_filter_value), an attention bias, unidirectional; the KV cache as
 *   GPT-2's optimized exports carry it (past [2, batch, heads, past length,
 *   head size] in, present with this call's keys and values appended out).
 *   The shared past/present buffer and rotary forms are not supported.
 */
import { buildAttention, withAttention } from "./attention.ts";
import { biasProblem, msAttentionMask, msAttentionNode } from "./mask_bias.ts";
import {
  askedOutput,
  type Buf,
  expectType,
  fail,
  meta,
  need,
  type OpDef,
  sizeOf,
  splitStep,
} from "./op.ts";

const EMBED_LAYER_NORM: OpDef = {
  attributes: ["epsilon", "mask_index_type"],
  infer(n, ins) {
    const [ids, seg, word, pos, segEmb, gamma, beta, mask] = need(n, ins, 1, 9);
    expectType(n, ids, 0, "int32");
    for (const [m, i] of [[word, 2], [pos, 3], [gamma, 5], [beta, 6]] as const) {
      if (!m) fail(n, `input ${i} is required`);
      expectType(n, m, i, "float32");
    }
    if (seg) expectType(n, seg, 1, "int32");
    if ((seg === null) !== (segEmb === null)) {
      fail(n, "segment_ids and segment_embedding go together");
    }
    if (mask) expectType(n, mask, 7, "int32");
    if (ins[8]) fail(n, "position_ids is not supported");
    if (ids.dims.length !== 2) fail(n, "input_ids must be [batch, sequence]");
    const [B, S] = ids.dims, H = word!.dims[1];
    if (pos!.dims[1] !== H || pos!.dims[0] < S) {
      fail(n, `position_embedding must be [≥ ${S}, ${H}]`);
    }
    return [meta("float32", [B, S, H]), meta("int32", [B]), meta("float32", [B, S, H])];
  },
  build(n, ins, outs, env) {
    const ids = ins[0]!,
      seg = ins[1] ?? null,
      word = ins[2]!,
      pos = ins[3]!,
      segEmb = ins[4] ?? null;
    const [B, S] = ids.dims, H = word.dims[1], V = word.dims[0];
    const id = ids.data as Int32Array, w = word.data as Float32Array, p = pos.data as Float32Array;
    const sd = seg?.data as Int32Array | undefined, se = segEmb?.data as Float32Array | undefined;
    const segs = segEmb ? segEmb.dims[0] : 0;
    const y = outs[0].data as Float32Array, mi = askedOutput<Int32Array>(outs, 1);
    const sum = askedOutput(outs, 2) ?? new Float32Array(B * S * H);
    const mask = ins[7]?.data as Int32Array | undefined;
    const o = {
      rows: B * S,
      cols: H,
      scale: ins[5]!.data as Float32Array,
      bias: ins[6]!.data as Float32Array,
      epsilon: n.attrs.float("epsilon", 1e-12),
    };
    const jit = env.jit, dims = [B, S, H], posRows = p.subarray(0, S * H), posDims = [S, H];
    const segRows = se ? new Float32Array(B * S * H) : null;
    // The rows gathered (and the mask's counts taken) on the calling thread; the adds and the
    // norm may then run off the event loop with the native steps after them.
    return splitStep(() => {
      // Word rows gathered, then the positions (one broadcast add) and segments added.
      for (let r = 0; r < B * S; r++) {
        const t = id[r];
        if (t < 0 || t >= V) {
          throw new RangeError(`${n.op} node '${n.name}': input id ${t} is outside 0..${V - 1}`);
        }
        sum.set(w.subarray(t * H, t * H + H), r * H);
        if (sd && segRows) {
          const g = sd[r];
          if (g < 0 || g >= segs) {
            throw new RangeError(
              `${n.op} node '${n.name}': segment id ${g} is outside 0..${segs - 1}`,
            );
          }
          segRows.set(se!.subarray(g * H, g * H + H), r * H);
        }
      }
      if (mi) {
        for (let b = 0; b < B; b++) {
          let c = 0;
          for (let t = 0; t < S; t++) c += mask ? mask[b * S + t] : 1;
          mi[b] = c;
        }
      }
    }, () => {
      jit.binary("add", sum, dims, posRows, posDims, sum);
      if (segRows) jit.binary("add", sum, dims, segRows, dims, sum);
      jit.layerNorm(sum, y, o);
    });
  },
};

const ATTENTION_MS: OpDef = {
  attributes: [
    "num_heads",
    "unidirectional",
    "mask_filter_value",
    "scale",
    "qkv_hidden_sizes",
    "do_rotary",
    "past_present_share_buffer",
    "rotary_embedding_dim",
  ],
  infer(n, ins) {
    const [x, w, bias, mask, past, ab, pastLength] = need(n, ins, 2, 7);
    for (const [m, i] of [[x, 0], [w, 1]] as const) expectType(n, m, i, "float32");
    if (n.attrs.int("do_rotary", 0)) fail(n, "do_rotary is not supported");
    if (pastLength || n.attrs.int("past_present_share_buffer", 0)) {
      fail(n, "a shared past/present buffer (past_sequence_length) is not supported");
    }
    const sizes = n.attrs.ints("qkv_hidden_sizes");
    if (sizes && (sizes[0] !== sizes[1] || sizes[1] !== sizes[2])) {
      fail(n, "unequal qkv_hidden_sizes are not supported");
    }
    const heads = n.attrs.int("num_heads", 0), hidden = w.dims[1] / 3;
    if (
      x.dims.length !== 3 || w.dims[0] !== x.dims[2] || !Number.isInteger(hidden) || hidden % heads
    ) {
      fail(
        n,
        "input [batch, sequence, in], weights [in, 3·hidden] with hidden a multiple of num_heads",
      );
    }
    if (bias && sizeOf(bias.dims) !== 3 * hidden) fail(n, `bias must have ${3 * hidden} elements`);
    const [B, S] = x.dims, size = hidden / heads;
    // The KV cache: past [2, batch, heads, past length, head size] (K, then V).
    let P = 0;
    if (past) {
      expectType(n, past, 4, "float32");
      const d = past.dims;
      if (d.length !== 5 || d[0] !== 2 || d[1] !== B || d[2] !== heads || d[4] !== size) {
        fail(n, `past must be [2, ${B}, ${heads}, past length, ${size}]`);
      }
      P = d[3];
    }
    const T = P + S;
    if (mask) {
      expectType(n, mask, 3, "int32");
      const ok = (mask.dims.length === 1 && mask.dims[0] === B) ||
        (mask.dims.length === 2 && mask.dims[0] === B && mask.dims[1] === T);
      if (!ok) {
        fail(n, `mask_index must be [batch] (valid lengths) or [batch, ${T}] (0/1, past included)`);
      }
    }
    if (ab) {
      expectType(n, ab, 5, "float32");
      const problem = biasProblem(ab.dims, [B, heads, S, T]);
      if (problem) fail(n, problem);
    }
    return [meta("float32", [B, S, hidden]), meta("float32", [2, B, heads, T, size])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!,
      w = ins[1]!,
      bias = ins[2] ?? null,
      mask = ins[3] ?? null,
      past = ins[4] ?? null,
      ab = ins[5] ?? null;
    const [B, S, IN] = x.dims, hidden = w.dims[1] / 3, H = n.attrs.int("num_heads", 1);
    const D = hidden / H, P = past ? past.dims[3] : 0, jit = env.jit, T = P + S;
    const present = askedOutput(outs, 1);
    // Q, K and V read in place from the projection's rows [q | k | v] (3·hidden apart).
    const qkv = new Float32Array(B * S * 3 * hidden);
    const q = qkv.subarray(0), k = qkv.subarray(hidden), v = qkv.subarray(2 * hidden);
    const combined = msAttentionMask(
      n,
      B,
      T,
      mask ? { data: mask.data, lengths: mask.dims.length === 1 } : null,
      ab,
    );
    const node = msAttentionNode(
      n,
      H,
      ["q", "k", "v", combined ? "mask" : "", past ? "past_k" : "", past ? "past_v" : ""],
      [n.outputs[0], ...(present ? ["present_k", "present_v"] : [])],
    );
    const buf = (data: Float32Array, dims: number[]): Buf => ({
      type: "float32",
      dims,
      data,
      constant: false,
    });
    const halves = (data: Float32Array, dims: number[]): Buf[] => {
      const half = data.length / 2;
      return [buf(data.subarray(0, half), dims), buf(data.subarray(half), dims)];
    };
    const attention = buildAttention(
      node,
      [
        buf(q, [B, S, hidden]),
        buf(k, [B, S, hidden]),
        buf(v, [B, S, hidden]),
        combined ? buf(combined.data, combined.dims) : null,
        // past's K and V halves, [batch, heads, past length, head size] each
        ...(past ? halves(past.data as Float32Array, [B, H, P, D]) : []),
      ],
      // present's halves: the caches with this call's keys and values appended
      present ? [outs[0], ...halves(present, [B, H, T, D])] : [outs[0]],
      env,
      { q: 3 * hidden, k: 3 * hidden, v: 3 * hidden },
    );
    const weights = w.constant
      ? env.weights.packB(w.data as Float32Array, { k: IN, n: 3 * hidden })
      : w.data as Float32Array;
    const gemm = {
      m: B * S,
      n: 3 * hidden,
      k: IN,
      ...(bias ? { bias: bias.data as Float32Array } : {}),
    };
    const xd = x.data as Float32Array;
    return withAttention(
      combined ? () => combined.fill() : null,
      () => jit.gemm(xd, weights, qkv, gemm),
      attention,
    );
  },
};

/** The BERT ops of ONNX Runtime's transformer optimizer (com.microsoft). */
export const BERT_CONTRIB_OPS: Record<string, OpDef> = {
  EmbedLayerNormalization: EMBED_LAYER_NORM,
  Attention: ATTENTION_MS,
};
