/**
 * DotProductAttention (domain njit): the MatMul → Softmax → MatMul of an
 * attention head as exporters write it (fusions/dot_attention.ts), run by
 * `jit.attention` in one pass per block of query rows, without the heads ×
 * queries × keys scores written out and read back.
 *
 * Shapes are known only here: where they do not fit the kernel (a batch
 * broadcast between q and k, a mask broadcast along the keys, fewer query
 * rows than ATTENTION_MIN_QUERIES), the three nodes it replaced run as
 * they were, their scores in a scratch array.
 */
import {
  ATTENTION_MIN_QUERIES,
  attentionFits,
  type AttentionOptions,
} from "../../kernels/attention/mod.ts";
import type { DotAttention, Node } from "../ir.ts";
import { opDef } from "./registry.ts";
import { type Buf, expectType, fail, type Meta, meta, need, type OpDef, type Step } from "./op.ts";

/** q, k, v dims as [batch, heads, tokens, size] whatever the layout. */
function bhsd(dims: readonly number[], headsFirst: boolean): number[] {
  return headsFirst ? [...dims] : [dims[0], dims[2], dims[1], dims[3]];
}

/** The kernel's options for these inputs, or null where the shapes do not fit it. */
function kernelOptions(
  at: DotAttention,
  q: Meta,
  k: Meta,
  v: Meta,
  mask: Meta | null,
): AttentionOptions | null {
  if ([q, k, v].some((m) => m.type !== "float32" || m.dims.length !== 4)) return null;
  const [B, H, S, D] = bhsd(q.dims, at.headsFirst);
  const [Bk, Hk, T, Dk] = bhsd(k.dims, at.headsFirst);
  const [Bv, Hv, Tv, Dv] = bhsd(v.dims, at.headsFirst);
  if (Bk !== B || Bv !== B || Dk !== D || Tv !== T || Hv !== Hk) return null;
  // MatMul broadcasts one key head to all (Hk = 1) or pairs them (Hk = H).
  if (Hk !== H && Hk !== 1) return null;
  if ([B, H, S, D, T, Dv].some((d) => d < 1) || !attentionFits(T, D)) return null;
  if (S < ATTENTION_MIN_QUERIES) return null;
  const o: AttentionOptions = {
    batch: B,
    heads: H,
    kvHeads: Hk,
    queries: S,
    keys: T,
    headSize: D,
    vHeadSize: Dv,
    layout: at.headsFirst ? "bhsd" : "bshd",
    scale: at.scale,
  };
  if (mask !== null) {
    if (mask.type !== "float32" || mask.dims.length > 4) return null;
    const m = [1, 1, 1, 1, ...mask.dims].slice(-4);
    const full = [B, H, S];
    if (m[3] !== T || m.slice(0, 3).some((d, i) => d !== 1 && d !== full[i])) return null;
    o.biasShape = m.slice(0, 3);
  }
  return o;
}

/** The first MatMul's addend: its input 3 (a computed mask) or 2 (a constant row bias). */
function maskIndex(n: Node): number {
  return n.inputs.length > 3 && n.inputs[3] !== "" ? 3 : 2;
}

export const DOT_ATTENTION: OpDef = {
  attributes: [],
  infer(n, ins) {
    const at = record(n);
    const [q, k, v] = need(n, ins, 3, 4);
    const mask = ins[3] ?? null;
    if (kernelOptions(at, q, k, v, mask) !== null) {
      expectType(n, q, 0, "float32");
      const [B, H, S] = bhsd(q.dims, at.headsFirst), Dv = bhsd(v.dims, at.headsFirst)[3];
      return [meta("float32", at.headsFirst ? [B, H, S, Dv] : [B, S, H, Dv])];
    }
    const [, sm, m2] = unfused(at, q, k, mask);
    return m2.def.infer(m2.node, [sm.out, v]);
  },
  build(n, ins, outs, env) {
    const at = record(n);
    const [q, k, v] = ins as Buf[];
    const mask = ins[3] ?? null;
    const y = outs[0].data as Float32Array, jit = env.jit;
    const o = kernelOptions(at, q, k, v, mask);
    if (o !== null) {
      const qd = q.data as Float32Array, kd = k.data as Float32Array;
      const vd = v.data as Float32Array;
      if (mask !== null) o.bias = mask.data as Float32Array;
      return { native: true, run: () => jit.attention(qd, kd, vd, y, o) };
    }
    // The nodes it replaced, their scores (and probabilities, in place) in a scratch array.
    const [m1, sm] = unfused(at, q, k, mask);
    const scores: Buf = {
      type: "float32",
      dims: sm.out.dims,
      data: new Float32Array(sm.out.dims.reduce((p, d) => p * d, 1)),
      constant: false,
    };
    const m1Ins: (Buf | null)[] = [q, k, null, null];
    m1Ins[maskIndex(at.nodes[0])] = mask;
    const steps = [
      m1.def.build(at.nodes[0], m1Ins, [scores], env),
      sm.def.build(at.nodes[1], [scores], [scores], env),
      opDef("MatMul", "njit")!.build(at.nodes[2], [scores, v], outs, env),
    ].filter((s): s is Step => s !== null);
    const run = () => {
      for (const s of steps) s.run();
    };
    return { native: steps.every((s) => s.native), run };
  },
};

/** The node's record (a fusion's: an error otherwise). */
function record(n: Node): DotAttention {
  const at = n.fused?.attention;
  if (!at) fail(n, "is not a fused attention");
  return at;
}

/** The replaced nodes' definitions and the metas of the scores and probabilities. */
function unfused(at: DotAttention, q: Meta, k: Meta, mask: Meta | null) {
  const [n1, n2, n3] = at.nodes;
  const d1 = opDef("MatMul", "njit")!, d2 = opDef(n2.op, n2.domain)!;
  const m1Ins: (Meta | null)[] = [q, k, null, null];
  m1Ins[maskIndex(n1)] = mask;
  const scores = d1.infer(n1, m1Ins)[0];
  const probs = d2.infer(n2, [scores])[0];
  return [
    { def: d1, node: n1, out: scores },
    { def: d2, node: n2, out: probs },
    { def: opDef("MatMul", "njit")!, node: n3 },
  ] as const;
}
