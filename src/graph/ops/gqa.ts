/**
 * GroupQueryAttention (com.microsoft), as ONNX Runtime's CPU kernel
 * computes it for an unpadded batch: Q, K, V as [batch, sequence,
 * heads·size] (or one packed QKV); the cache past_key/past_value
 * [batch, kv heads, past, size] extended to present_key/present_value;
 * causal from the past length; rotary embedding of Q and K at positions
 * past + s (do_rotary, the caches [positions, dim/2], halves or
 * interleaved; one jit.rotary call each for Q and K). The attention itself
 * is the Attention op's (the heads in batched GEMMs); Q and K, rotated,
 * pass through scratch.
 *
 * A padded batch (seqlens_k + 1, each item's total, not past + S for all):
 * as ONNX Runtime's kernel, item b's past is its total − S (0 for a first
 * prompt: no past input), its new keys and values go right after it in
 * present (the rest zeros), its rotary positions and causal frontier count
 * from there, and its queries see keys below its total. The plan holds both
 * forms and each run takes the one its seqlens_k asks for.
 */
import type { RotaryOptions } from "../../kernels/rotary/mod.ts";
import { Attrs, type Node } from "../ir.ts";
import { ATTENTION, buildAttention } from "./attention.ts";
import {
  askedOutput,
  type Buf,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
} from "./op.ts";

interface Shape {
  batch: number;
  seq: number;
  heads: number;
  kvHeads: number;
  size: number;
  past: number;
  packed: boolean;
}

function shapeOf(n: Node, ins: readonly (Meta | null)[]): Shape {
  const [q, k, v, pk, pv, seqlens, total] = need(n, ins, 1, 9);
  if (!seqlens || !total) fail(n, "seqlens_k and total_sequence_length are required");
  expectType(n, q, 0, "float32");
  expectType(n, seqlens, 5, "int32");
  expectType(n, total, 6, "int32");
  const heads = n.attrs.int("num_heads", 0), kvHeads = n.attrs.int("kv_num_heads", 0);
  if (heads < 1 || kvHeads < 1 || heads % kvHeads) {
    fail(n, "num_heads must be a multiple of kv_num_heads");
  }
  if (q.dims.length !== 3) fail(n, "query must be [batch, sequence, hidden]");
  const [batch, seq, hidden] = q.dims, packed = !k;
  const size = packed ? hidden / (heads + 2 * kvHeads) : hidden / heads;
  if (!Number.isInteger(size)) fail(n, "the hidden size does not divide into the heads");
  if (!packed) {
    if (!v) fail(n, "key and value go together");
    for (const [m, i] of [[k, 1], [v, 2]] as const) {
      expectType(n, m!, i, "float32");
      if (m!.dims.join() !== [batch, seq, kvHeads * size].join()) {
        fail(n, `input ${i} must be [${batch}, ${seq}, ${kvHeads * size}]`);
      }
    }
  }
  if ((pk === null) !== (pv === null)) fail(n, "past_key and past_value go together");
  const past = pk ? pk.dims[2] : 0;
  for (const p of [pk, pv]) {
    if (p && p.dims.join() !== [batch, kvHeads, past, size].join()) {
      fail(n, `the past must be [${batch}, ${kvHeads}, past, ${size}] (BNSH)`);
    }
  }
  if (n.attrs.int("do_rotary", 0) && (!ins[7] || !ins[8])) {
    fail(n, "do_rotary needs cos_cache and sin_cache");
  }
  const window = n.attrs.int("local_window_size", -1);
  if (window > 0 && past + seq > window) fail(n, `local_window_size ${window} is not supported`);
  if (n.attrs.int("smooth_softmax", 0)) fail(n, "smooth_softmax is not supported");
  return { batch, seq, heads, kvHeads, size, past, packed };
}

const GQA: OpDef = {
  attributes: [
    "num_heads",
    "kv_num_heads",
    "scale",
    "softcap",
    "local_window_size",
    "do_rotary",
    "rotary_interleaved",
    "smooth_softmax",
  ],
  infer(n, ins) {
    const s = shapeOf(n, ins), T = s.past + s.seq;
    return [
      meta("float32", [s.batch, s.seq, s.heads * s.size]),
      meta("float32", [s.batch, s.kvHeads, T, s.size]),
      meta("float32", [s.batch, s.kvHeads, T, s.size]),
    ];
  },
  build(n, ins, outs, env) {
    const s = shapeOf(n, ins), { batch: B, seq: S, heads: H, kvHeads: KV, size: D, past: P } = s;
    const rotary = n.attrs.int("do_rotary", 0) !== 0;
    const interleaved = n.attrs.int("rotary_interleaved", 0) !== 0;
    const qIn = ins[0]!.data as Float32Array;
    // Q, K, V as the Attention op reads them: the inputs, or scratch (unpacked, rotated).
    const scratch = (len: number) => new Float32Array(len);
    const q = rotary || s.packed ? scratch(B * S * H * D) : qIn;
    const k = rotary || s.packed ? scratch(B * S * KV * D) : ins[1]!.data as Float32Array;
    const v = s.packed ? scratch(B * S * KV * D) : ins[2]!.data as Float32Array;
    const buf = (data: Float32Array, heads: number): Buf => ({
      type: "float32",
      dims: [B, S, heads * D],
      data,
      constant: false,
    });
    const attrs = new Map<string, number>([["q_num_heads", H], ["kv_num_heads", KV], [
      "is_causal",
      1,
    ]]);
    if (n.attrs.has("scale") && n.attrs.float("scale", 0) !== 0) {
      attrs.set("scale", n.attrs.float("scale", 0));
    }
    if (n.attrs.float("softcap", 0) > 0) attrs.set("softcap", n.attrs.float("softcap", 0));
    const node: Node = {
      op: "Attention",
      domain: "",
      name: n.name,
      inputs: ["q", "k", "v", "", P ? "pk" : "", P ? "pv" : ""],
      outputs: n.outputs.slice(0, 3),
      attrs: new Attrs(new Map([...attrs].map(([a, b]) => [a, b])), `Attention of ${n.name}`),
      opset: 23,
    };
    const attIns: (Buf | null)[] = [
      buf(q, H),
      buf(k, KV),
      buf(v, KV),
      null,
      ins[3] ?? null,
      ins[4] ?? null,
    ];
    const attention = ATTENTION.build(node, attIns, outs, env)!;
    const seqlens = ins[5]!.data as Int32Array, total = ins[6]!.data as Int32Array;
    const cos = ins[7]?.data as Float32Array | undefined,
      sin = ins[8]?.data as Float32Array | undefined;
    // The caches' width is half the rotated dimension (a part of the head, or all of it).
    const cd = ins[7]?.dims ?? [0, D / 2], half = cd[1], maxPos = cd[0];
    if (rotary && (cd.length !== 2 || 2 * half > D)) {
      fail(n, `cos_cache must be [positions, ≤ ${D / 2}]`);
    }
    /** Each token's position (base[b] + s), checked against the caches: jit.rotary's ids. */
    const positions = new Int32Array(B * S);
    const rotation = (heads: number): RotaryOptions => ({
      batch: B,
      sequence: S,
      heads,
      headSize: D,
      rotaryDim: 2 * half,
      interleaved,
      cos: cos!,
      sin: sin!,
      positions,
    });
    const [qRotation, kRotation] = rotary ? [rotation(H), rotation(KV)] : [null, null];
    const whole = new Int32Array(B).fill(P);
    /** Rotates Q and K in place at positions base[b] + s. */
    const rotate = (base: Int32Array = whole) => {
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < S; t++) {
          const pos = base[b] + t;
          if (pos >= maxPos) {
            throw new RangeError(
              `${n.op} node '${n.name}': position ${pos} is past the rotary caches (${maxPos})`,
            );
          }
          positions[b * S + t] = pos;
        }
      }
      env.jit.rotary(q, q, qRotation!);
      env.jit.rotary(k, k, kRotation!);
    };
    const packedRow = (H + 2 * KV) * D;
    const T = P + S;
    // The padded form, built on the first run that needs it.
    let padded: ((base: Int32Array) => void) | null = null;
    const base = new Int32Array(B);
    const refuse = (msg: string): never => {
      throw new RangeError(`${n.op} node '${n.name}': ${msg}`);
    };
    const split = () => {
      if (s.packed) {
        for (let r = 0; r < B * S; r++) {
          q.set(qIn.subarray(r * packedRow, r * packedRow + H * D), r * H * D);
          k.set(qIn.subarray(r * packedRow + H * D, r * packedRow + (H + KV) * D), r * KV * D);
          v.set(qIn.subarray(r * packedRow + (H + KV) * D, (r + 1) * packedRow), r * KV * D);
        }
      } else if (rotary) {
        q.set(qIn);
        k.set(ins[1]!.data as Float32Array);
      }
    };
    return {
      native: false,
      run: () => {
        let isWhole = true;
        for (let b = 0; b < B; b++) {
          const totalB = seqlens[b] + 1;
          // A first prompt (no past) starts at 0; later steps right after the item's past.
          base[b] = P === 0 ? 0 : totalB - S;
          if (!(totalB >= 1 && totalB <= T && base[b] >= 0 && (P === 0 ? totalB <= S : true))) {
            refuse(
              `seqlens_k[${b}] is ${
                seqlens[b]
              }: a total of ${totalB} keys does not fit past ${P} + ${S} new`,
            );
          }
          if (totalB !== T) isWhole = false;
        }
        if (total[0] < 1 || total[0] > T) {
          refuse(`total_sequence_length ${total[0]} is outside [1, past + sequence = ${T}]`);
        }
        if (!isWhole) {
          padded ??= paddedForm();
          return padded(base);
        }
        split();
        if (rotary) rotate();
        attention.run();
      },
    };
    /** The padded batch's steps (see the module comment). */
    function paddedForm(): (base: Int32Array) => void {
      const pk = askedOutput(outs, 1) ?? new Float32Array(B * KV * T * D);
      const pv = askedOutput(outs, 2) ?? new Float32Array(B * KV * T * D);
      const pastK = ins[3]?.data as Float32Array | undefined;
      const pastV = ins[4]?.data as Float32Array | undefined;
      const mask = new Float32Array(B * S * T);
      // Q and Y as [B, H, S, D]: the same memory as [B, S, H·D] when S = 1, else transposed.
      const q4 = S === 1 ? q : new Float32Array(B * H * S * D);
      const yOut = outs[0].data as Float32Array;
      const y4 = S === 1 ? yOut : new Float32Array(B * H * S * D);
      const toHeads = {
        dims: [B, H, S, D],
        xStrides: [S * H * D, D, H * D, 1],
        yStrides: [H * S * D, S * D, D, 1],
      };
      const fromHeads = {
        dims: [B, S, H, D],
        xStrides: [H * S * D, D, S * D, 1],
        yStrides: [S * H * D, H * D, D, 1],
      };
      const f4 = (data: Float32Array, dims: number[]): Buf => ({
        type: "float32",
        dims,
        data,
        constant: false,
      });
      const attrs = new Map<string, number>();
      if (n.attrs.has("scale") && n.attrs.float("scale", 0) !== 0) {
        attrs.set("scale", n.attrs.float("scale", 0));
      }
      if (n.attrs.float("softcap", 0) > 0) attrs.set("softcap", n.attrs.float("softcap", 0));
      const att = buildAttention(
        {
          op: "Attention",
          domain: "",
          name: n.name,
          inputs: ["q", "k", "v", "mask"],
          outputs: [n.outputs[0]],
          attrs: new Attrs(attrs, `Attention of ${n.name}`),
          opset: 23,
        },
        [
          f4(q4, [B, H, S, D]),
          f4(pk, [B, KV, T, D]),
          f4(pv, [B, KV, T, D]),
          f4(mask, [B, 1, S, T]),
        ],
        [f4(y4, [B, H, S, D])],
        env,
      );
      return (base: Int32Array) => {
        split();
        if (rotary) rotate(base);
        // present: each item's past rows, its S new rows right after, zeros past them.
        pk.fill(0);
        pv.fill(0);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < KV; h++) {
            const to = (b * KV + h) * T * D, from = (b * KV + h) * P * D, keep = base[b] * D;
            if (pastK && keep > 0) {
              pk.set(pastK.subarray(from, from + keep), to);
              pv.set(pastV!.subarray(from, from + keep), to);
            }
            for (let t = 0; t < S; t++) {
              const at = to + (base[b] + t) * D, src = ((b * S + t) * KV + h) * D;
              pk.set(k.subarray(src, src + D), at);
              pv.set(v.subarray(src, src + D), at);
            }
          }
          // Query t sees keys up to base + t, and none at or past the item's total.
          const totalB = seqlens[b] + 1;
          for (let t = 0; t < S; t++) {
            const last = Math.min(base[b] + t, totalB - 1), row = (b * S + t) * T;
            for (let j = 0; j < T; j++) mask[row + j] = j <= last ? 0 : -Infinity;
          }
        }
        if (S > 1) env.jit.copy(q, q4, toHeads);
        att.run();
        if (S > 1) env.jit.copy(y4, yOut, fromHeads);
      };
    }
  },
};

/** The GroupQueryAttention definition (com.microsoft). */
export const GQA_OPS: Record<string, OpDef> = { GroupQueryAttention: GQA };
