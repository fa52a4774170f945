/**
 * Attention (opset 23): scaled dot-product attention as the ONNX reference
 * computes it — Q, K, V as 4-D [batch, heads, sequence, head size] or 3-D
 * [batch, sequence, heads·head size] (q_num_heads, kv_num_heads); the KV
 * cache (past_key/past_value before K/V, present_key/present_value out);
 * grouped-query heads (q head h reads kv head ⌊h·kv/q⌋); a boolean or
 * additive attn_mask broadcast to [batch, q heads, q sequence, total] (a
 * shorter last axis padded with −∞); is_causal bottom-right aligned
 * (a query i of the new block sees keys j ≤ i + past); softcap before the
 * mask; opset 25's sliding window (left_window_size, right_window_size);
 * a query that sees no key gives a zero row (as ONNX Runtime does); qk_matmul_output in modes 0 (the scaled scores) and 3 (the
 * probabilities). Per batch and q head: a GEMM for the scores (alpha the
 * scale), the mask added, a softmax, a GEMM into Y's place — all Jit calls;
 * a mask given at run time is built into the bias by TypeScript.
 */
import {
  ATTENTION_MIN_QUERIES,
  attentionFits,
  type AttentionOptions,
} from "../../kernels/attention/mod.ts";
import { ChainSteps } from "../../kernels/chain/mod.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import {
  askedOutput,
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  splitStep,
  type Step,
} from "./op.ts";

interface Shape {
  batch: number;
  qHeads: number;
  kvHeads: number;
  qSeq: number;
  kvSeq: number;
  past: number;
  total: number;
  headSize: number;
  vHeadSize: number;
  /** Q, K, V as [batch, sequence, heads·size]. */
  packed: boolean;
}

function shapeOf(n: Node, ins: readonly (Meta | null)[]): Shape {
  const [q, k, v, mask, pk, pv, nonpad] = need(n, ins, 3, 7);
  for (const [m, i] of [[q, 0], [k, 1], [v, 2], [pk, 4], [pv, 5]] as const) {
    if (m) expectType(n, m, i, "float32");
  }
  if (nonpad) {
    if (nonpad.type !== "int64" || nonpad.dims.length !== 1 || nonpad.dims[0] !== q.dims[0]) {
      fail(n, `nonpad_kv_seqlen must be int64 [${q.dims[0]}]`);
    }
  }
  if ((pk === null) !== (pv === null)) fail(n, "past_key and past_value go together");
  const r = q.dims.length;
  if ((r !== 3 && r !== 4) || k.dims.length !== r || v.dims.length !== r) {
    fail(n, "Q, K and V must all be 3-D or all 4-D");
  }
  let s: Shape;
  if (r === 4) {
    const [b, hq, sq, d] = q.dims, [, hkv, skv, dk] = k.dims;
    if (k.dims[0] !== b || v.dims[0] !== b || dk !== d || v.dims[1] !== hkv || v.dims[2] !== skv) {
      fail(n, "K and V must be [batch, kv heads, kv sequence, head size] matching Q");
    }
    s = {
      batch: b,
      qHeads: hq,
      kvHeads: hkv,
      qSeq: sq,
      kvSeq: skv,
      past: 0,
      total: skv,
      headSize: d,
      vHeadSize: v.dims[3],
      packed: false,
    };
  } else {
    const hq = n.attrs.int("q_num_heads", 0), hkv = n.attrs.int("kv_num_heads", 0);
    if (hq < 1 || hkv < 1) fail(n, "3-D inputs need q_num_heads and kv_num_heads");
    const [b, sq, qh] = q.dims, [, skv, kh] = k.dims, vh = v.dims[2];
    if (qh % hq || kh % hkv || vh % hkv || kh / hkv !== qh / hq) {
      fail(n, "hidden sizes do not divide into the heads, or Q's and K's head sizes differ");
    }
    if (k.dims[0] !== b || v.dims[0] !== b || v.dims[1] !== skv) fail(n, "K and V do not match");
    s = {
      batch: b,
      qHeads: hq,
      kvHeads: hkv,
      qSeq: sq,
      kvSeq: skv,
      past: 0,
      total: skv,
      headSize: qh / hq,
      vHeadSize: vh / hkv,
      packed: true,
    };
  }
  if (s.qHeads % s.kvHeads !== 0) fail(n, `q heads ${s.qHeads} are not a multiple of kv heads`);
  if (pk && pv) {
    const want = [s.batch, s.kvHeads, pk.dims[2], s.headSize].join();
    if (pk.dims.length !== 4 || pk.dims.join() !== want) fail(n, `past_key must be [${want}]`);
    const wantV = [s.batch, s.kvHeads, pk.dims[2], s.vHeadSize].join();
    if (pv.dims.length !== 4 || pv.dims.join() !== wantV) fail(n, `past_value must be [${wantV}]`);
    s.past = pk.dims[2];
    s.total = s.past + s.kvSeq;
  }
  if (mask) {
    expectType(n, mask, 3, "float32", "bool");
    const md = mask.dims;
    if (md.length < 1 || md.length > 4 || md[md.length - 1] > s.total) {
      fail(n, `attn_mask [${md.join(", ")}] does not broadcast to the scores`);
    }
    const full = [s.batch, s.qHeads, s.qSeq, s.total];
    for (let i = 1; i <= md.length; i++) {
      const d = md[md.length - i], f = full[4 - i];
      if (i > 1 && d !== 1 && d !== f) fail(n, `attn_mask [${md.join(", ")}] does not broadcast`);
    }
  }
  const mode = n.attrs.int("qk_matmul_output_mode", 0);
  if (n.outputs[3] && mode !== 0 && mode !== 3) {
    fail(n, `qk_matmul_output_mode ${mode} is not supported (0 and 3 are)`);
  }
  if (n.outputs[3] && mode === 0 && n.attrs.float("softcap", 0) > 0) {
    fail(n, "qk_matmul_output with softcap is not supported");
  }
  return s;
}

export const ATTENTION: OpDef = {
  attributes: [
    "is_causal",
    "kv_num_heads",
    "left_window_size",
    "q_num_heads",
    "qk_matmul_output_mode",
    "right_window_size",
    "scale",
    "softcap",
    "softmax_precision",
  ],
  infer(n, ins) {
    const s = shapeOf(n, ins);
    const y = s.packed
      ? [s.batch, s.qSeq, s.qHeads * s.vHeadSize]
      : [s.batch, s.qHeads, s.qSeq, s.vHeadSize];
    return [
      meta("float32", y),
      meta("float32", [s.batch, s.kvHeads, s.total, s.headSize]),
      meta("float32", [s.batch, s.kvHeads, s.total, s.vHeadSize]),
      meta("float32", [s.batch, s.qHeads, s.qSeq, s.total]),
    ];
  },
  build: (n, ins, outs, env) => buildAttention(n, ins, outs, env),
};

/** Elements between one sequence position's row and the next in 3-D Q, K and V. */
export interface RowStrides {
  q: number;
  k: number;
  v: number;
}

/**
 * The Attention op's steps; 3-D Q, K and V may be views into a wider buffer (rows
 * `strides` apart: com.microsoft Attention's fused QKV projection read in place).
 */
export function buildAttention(
  n: Node,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
  strides?: RowStrides,
): Step {
  const s = shapeOf(n, ins), jit = env.jit;
  const { batch: B, qHeads: Hq, kvHeads: Hkv, qSeq: Sq, kvSeq: Skv, past: P, total: T } = s;
  const D = s.headSize, Dv = s.vHeadSize;
  // Rows of 3-D inputs: heads·size apart, or as the caller's views say.
  const rowQ = strides?.q ?? Hq * D, rowK = strides?.k ?? Hkv * D;
  const rowV = strides?.v ?? Hkv * Dv;
  const q = ins[0]!.data as Float32Array, k = ins[1]!.data as Float32Array;
  const v = ins[2]!.data as Float32Array;
  const y = outs[0].data as Float32Array;
  // The caches with this call's keys and values appended (outputs 1 and 2, or scratch).
  // Without a past or a present asked for, the heads read K and V in place (3-D: rows
  // Hkv·size apart); else the caches are built (outputs 1 and 2, or scratch).
  const presentK = askedOutput(outs, 1), presentV = askedOutput(outs, 2);
  const direct = P === 0 && !presentK && !presentV;
  const pk = direct ? k : presentK ?? new Float32Array(B * Hkv * T * D);
  const pv = direct ? v : presentV ?? new Float32Array(B * Hkv * T * Dv);
  const qk = askedOutput(outs, 3);
  const mode = n.attrs.int("qk_matmul_output_mode", 0);
  const scale = n.attrs.has("scale") ? n.attrs.float("scale", 1) : 1 / Math.sqrt(D);
  const softcap = n.attrs.float("softcap", 0);
  const capSteps: ChainSteps | null = softcap > 0
    ? new ChainSteps([{ op: "mul", value: 1 / softcap }, "tanh", { op: "mul", value: softcap }])
    : null;
  // Copies into the caches: the past, then K and V (3-D: their heads are strided columns).
  const copies: (() => void)[] = [];
  const cache = (
    src: Float32Array,
    dst: Float32Array,
    rows: number,
    size: number,
    at: number,
    row: number,
  ) => {
    const x4 = [Hkv * rows * size, rows * size, size, 1];
    const x3 = [rows * row, size, row, 1];
    const o = {
      dims: [B, Hkv, rows, size],
      xStrides: s.packed ? x3 : x4,
      yStrides: [Hkv * T * size, T * size, size, 1],
    };
    const to = dst.subarray(at * size);
    copies.push(() => jit.copy(src, to, o));
  };
  if (P > 0) {
    const pastK = ins[4]!.data as Float32Array, pastV = ins[5]!.data as Float32Array;
    const o = (size: number) => ({
      dims: [B, Hkv, P, size],
      xStrides: [Hkv * P * size, P * size, size, 1],
      yStrides: [Hkv * T * size, T * size, size, 1],
    });
    const ok = o(D), ov = o(Dv);
    copies.push(() => jit.copy(pastK, pk, ok), () => jit.copy(pastV, pv, ov));
  }
  if (!direct) {
    cache(k, pk, Skv, D, P, rowK);
    cache(v, pv, Skv, Dv, P, rowV);
  }
  // A head's first key and value in the cache (or in K and V), and their row strides.
  const rowsApart = direct && s.packed;
  const kAt = (b: number, kvh: number) =>
    rowsApart ? b * Skv * rowK + kvh * D : (b * Hkv + kvh) * T * D;
  const vAt = (b: number, kvh: number) =>
    rowsApart ? b * Skv * rowV + kvh * Dv : (b * Hkv + kvh) * T * Dv;
  const ldk = rowsApart ? rowK : D, ldv = rowsApart ? rowV : Dv;
  // The bias: causal and the mask, over the dims the mask varies on.
  const mask = ins[3] ?? null, causal = n.attrs.int("is_causal", 0) !== 0;
  // opset 25: a query at absolute position p sees keys p − left ≤ j ≤ p + right (−1: unbounded).
  const left = n.attrs.int("left_window_size", -1), right = n.attrs.int("right_window_size", -1);
  const windowed = left >= 0 || right >= 0;
  // opset 24: each batch item's valid keys (a static cache's filled length): the keys past it
  // masked, and without a past, the causal frontier at that length.
  const nonpad = ins[6] ?? null, valid = nonpad?.data as BigInt64Array | undefined;
  const md = mask ? [1, 1, 1, 1, ...mask.dims].slice(-4) : [1, 1, 1, 1];
  // Over the axes the bias varies on: the queries' only with causal or nonpad, or a mask
  // that has them (a key padding mask [batch, 1, 1, keys] stays one row per batch item).
  const mB = nonpad ? B : md[0], mH = md[1], mS = causal || nonpad || windowed ? Sq : md[2];
  const bias = mask || causal || nonpad || windowed ? new Float32Array(mB * mH * mS * T) : null;
  const keep = new Float32Array(mB * mH * mS);
  const fillBias = () => {
    const b = bias!, m = mask?.data as TensorData | undefined, bool = mask?.type === "bool";
    const mb = md[0];
    const [, , rows, cols] = md;
    for (let bb = 0; bb < mB; bb++) {
      for (let hh = 0; hh < mH; hh++) {
        for (let i = 0; i < mS; i++) {
          const at = ((bb * mH + hh) * mS + i) * T;
          const keys = valid ? Number(valid[bb]) : T;
          const offset = valid && P === 0 ? keys - Sq : P;
          for (let j = 0; j < T; j++) {
            let val = 0;
            if (m) {
              if (j >= cols) val = -Infinity;
              else {
                const src = (((mb === 1 ? 0 : bb) * mH + hh) * rows + (rows === 1 ? 0 : i)) * cols +
                  j;
                val = bool ? (m[src] ? 0 : -Infinity) : (m as Float32Array)[src];
              }
            }
            if (causal && j > i + offset) val = -Infinity;
            if (left >= 0 && j < i + offset - left) val = -Infinity;
            if (right >= 0 && j > i + offset + right) val = -Infinity;
            if (j >= keys) val = -Infinity;
            b[at + j] = val;
          }
          // A query that sees no key: its output row is zeros (as ONNX Runtime gives it, and
          // the spec says from opset 25), not softmax's NaN: its bias row made finite here,
          // its probabilities multiplied by 0 after the softmax.
          let seen = false;
          for (let j = 0; j < T && !seen; j++) seen = b[at + j] !== -Infinity;
          keep[(bb * mH + hh) * mS + i] = seen ? 1 : 0;
          if (!seen) b.fill(0, at, at + T);
        }
      }
    }
  };
  const maskFixed = (mask === null || mask.constant) && (nonpad === null || nonpad.constant);
  if (bias && maskFixed) fillBias();
  // Rows to zero after the softmax: known now for a fixed mask, else checked every run.
  const zeroRows = bias !== null && (!maskFixed || keep.some((k) => k === 0));
  // Without the scores output or a softcap, from 8 query rows: the attention kernel, one pass
  // per block of query rows (no scores array), and the rows that see no key zeroed after it.
  const some = B > 0 && Hq > 0 && Sq >= ATTENTION_MIN_QUERIES && T > 0 && D > 0 && Dv > 0 &&
    attentionFits(T, D);
  // With a cache, the caches as built ([batch, kv heads, total, size]) are the keys and values.
  const fused = qk === undefined && capSteps === null && some
    ? fusedAttention(
      s,
      { q, k: pk, v: pv, y, scale, cached: !direct },
      bias,
      [mB, mH, mS],
      keep,
      zeroRows,
      strides,
      copies,
      env,
    )
    : null;
  if (fused !== null) {
    if (maskFixed) fused.prepare();
    return maskFixed ? { native: true, run: fused.run } : splitStep(() => {
      if (bias) fillBias();
      fused.prepare();
    }, fused.run);
  }
  // The heads in batched GEMM calls: per batch item one call over every q head (MHA), or
  // per kv head one over the q heads that share it (its K and V: stride 0). The scores of
  // every head in one buffer [batch, q heads, Sq, T] (the qk output's layout): the mask,
  // softmax and softcap then one call each.
  const group = Hq / Hkv, all = B * Hq * Sq * T;
  // Mode 3's output is the probabilities: the buffer itself; mode 0's a copy of the scores.
  const scores = (mode === 3 && qk?.length === all ? qk : null) ?? new Float32Array(all);
  const qHead = s.packed ? D : Sq * D, yHead = s.packed ? Dv : Sq * Dv;
  const kHead = rowsApart ? D : T * D, vHead = rowsApart ? Dv : T * Dv;
  const calls: {
    q: Float32Array;
    k: Float32Array;
    v: Float32Array;
    y: Float32Array;
    s: Float32Array;
  }[] = [];
  for (let b = 0; b < B; b++) {
    for (let kvh = 0; kvh < (group === 1 ? 1 : Hkv); kvh++) {
      const h = kvh * group;
      const qAt = s.packed ? b * Sq * rowQ + h * D : ((b * Hq + h) * Sq) * D;
      const yAt = s.packed ? (b * Sq * Hq + h) * Dv : ((b * Hq + h) * Sq) * Dv;
      calls.push({
        q: q.subarray(qAt),
        k: pk.subarray(kAt(b, kvh)),
        v: pv.subarray(vAt(b, kvh)),
        y: y.subarray(yAt),
        s: scores.subarray(((b * Hq + h) * Sq) * T),
      });
    }
  }
  const heads = group === 1 ? Hq : group;
  const scoresOpt = {
    m: Sq,
    n: T,
    k: D,
    transB: true,
    alpha: scale,
    lda: s.packed ? rowQ : D,
    ldb: ldk,
    batch: heads,
    strideA: qHead,
    strideB: group === 1 ? kHead : 0,
    strideC: Sq * T,
  };
  const outOpt = {
    m: Sq,
    n: Dv,
    k: T,
    ldb: ldv,
    ldc: s.packed ? Hq * Dv : Dv,
    batch: heads,
    strideA: Sq * T,
    strideB: group === 1 ? vHead : 0,
    strideC: yHead,
  };
  const rows = { rows: B * Hq * Sq, cols: T };
  const dims = [B, Hq, Sq, T], biasDims = [mB, mH, mS, T], keepDims = [mB, mH, mS, 1];
  const copyAll = { dims: [all], xStrides: [1], yStrides: [1] };
  const toQk = qk !== undefined && qk !== scores ? qk : null;
  const run = () => {
    for (const c of copies) c();
    for (const c of calls) jit.gemm(c.q, c.k, c.s, scoresOpt);
    if (toQk && mode === 0) jit.copy(scores, toQk, copyAll);
    if (capSteps) jit.chain(scores, scores, capSteps);
    if (bias) jit.binary("add", scores, dims, bias, biasDims, scores);
    jit.softmax(scores, scores, rows);
    if (zeroRows) jit.binary("mul", scores, dims, keep, keepDims, scores);
    if (toQk && mode === 3) jit.copy(scores, toQk, copyAll);
    for (const c of calls) jit.gemm(c.s, c.v, c.y, outOpt);
  };
  // A mask of this run's values: the bias filled on the calling thread, the heads' calls
  // then off the event loop with the native steps after them.
  return maskFixed ? { native: true, run } : splitStep(() => {
    if (bias) fillBias();
  }, run);
}

/**
 * The heads in one `jit.attention` call: q, k and v read in place (3-D: the
 * rows `strides` say), or with a cache the caches built by `copies` first
 * ([batch, kv heads, total, size] whatever q's layout), the bias as built,
 * y written whole; where some query
 * sees no key, its rows multiplied by `keep` (0) after (in y's layout:
 * [batch, sequence, heads] for 3-D, so the keep flags are reordered to it
 * by `prepare` each run).
 */
function fusedAttention(
  s: Shape,
  t: {
    q: Float32Array;
    k: Float32Array;
    v: Float32Array;
    y: Float32Array;
    scale: number;
    cached: boolean;
  },
  bias: Float32Array | null,
  biasShape: number[],
  keep: Float32Array,
  zeroRows: boolean,
  strides: RowStrides | undefined,
  copies: readonly (() => void)[],
  env: Env,
): { run: () => void; prepare: () => void } {
  const { batch: B, qHeads: H, qSeq: S, vHeadSize: E } = s, jit = env.jit;
  const o: AttentionOptions = {
    batch: B,
    heads: H,
    kvHeads: s.kvHeads,
    queries: S,
    keys: s.total,
    headSize: s.headSize,
    vHeadSize: E,
    layout: s.packed ? "bshd" : "bhsd",
    kvLayout: s.packed && !t.cached ? "bshd" : "bhsd",
    scale: t.scale,
  };
  if (s.packed) {
    o.rowStrides = { q: strides?.q ?? H * s.headSize };
    if (!t.cached) {
      o.rowStrides.k = strides?.k ?? s.kvHeads * s.headSize;
      o.rowStrides.v = strides?.v ?? s.kvHeads * E;
    }
  }
  if (bias) {
    o.bias = bias;
    o.biasShape = biasShape;
  }
  const [mB, mH, mS] = biasShape;
  // keep is [mB, mH, mS]; y's rows in 3-D go [batch, sequence, heads]: reordered to match.
  const reorder = s.packed && mH > 1 && mS > 1;
  const keepY = reorder ? new Float32Array(keep.length) : keep;
  const yDims = s.packed ? [B, S, H, E] : [B, H, S, E];
  const keepDims = s.packed ? [mB, mS, mH, 1] : [mB, mH, mS, 1];
  const { q, k, v, y } = t;
  return {
    run: () => {
      for (const c of copies) c();
      jit.attention(q, k, v, y, o);
      if (zeroRows) jit.binary("mul", y, yDims, keepY, keepDims, y);
    },
    prepare: () => {
      if (!reorder) return;
      for (let b = 0; b < mB; b++) {
        for (let h = 0; h < mH; h++) {
          for (let i = 0; i < mS; i++) keepY[(b * mS + i) * mH + h] = keep[(b * mH + h) * mS + i];
        }
      }
    },
  };
}

/**
 * A fused attention op's step: Jit calls `before` the attention step `att`
 * (a projection, biases added), `fill` (this run's mask values into the
 * mask `att` reads) run first on the calling thread with `att`'s own
 * preparation. The calls of both can then go off the event loop together.
 */
export function withAttention(fill: (() => void) | null, before: () => void, att: Step): Step {
  // buildAttention's steps are native (a fixed mask) or split (a run's mask): never a host step.
  if (!att.native && !att.split) throw new Error("withAttention: a host attention step");
  const calls = att.split ? att.split.calls : att.run;
  const both = () => {
    before();
    calls();
  };
  if (fill === null && att.native) return { native: true, run: both };
  return splitStep(() => {
    fill?.();
    att.split?.prepare();
  }, both);
}

/** The Attention definition. */
export const ATTENTION_OPS: Record<string, OpDef> = { Attention: ATTENTION };
