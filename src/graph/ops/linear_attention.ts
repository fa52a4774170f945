/**
 * LinearAttention (opset 27): linear attention's recurrence over the
 * sequence, as its function body's Scan runs it step by step in float32 —
 * per batch item and kv head a state S of d_k × d_v:
 * - linear: S += k ⊗ v
 * - gated: S = exp(g) ⊙ S + k ⊗ v (g per key dimension, or one per head)
 * - delta: S += k ⊗ β(v − Sᵀk)
 * - gated_delta: S = exp(g) ⊙ S, then S += k ⊗ β(v − Sᵀk)
 * and each q head's output scale·qᵀS (q heads grouped over kv heads as
 * GQA's), Q, K, V, decay and beta packed as [B, T, heads·d]. TypeScript
 * steps (a decoder's state update per token); each product and sum is
 * rounded to float32 as the body's ops round it, sums of products taken in
 * float64 first.
 */
import type { Node } from "../ir.ts";
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

const RULES = ["linear", "gated", "delta", "gated_delta"];
const f = Math.fround;

interface Dims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  dk: number;
  dv: number;
  rule: string;
  /** decay: d_k values per head (or 1). */
  decayPer: number;
  /** beta: one per kv head, or one for all (1). */
  betaHeads: number;
}

function dimsOf(n: Node, ins: readonly (Meta | null)[]): Dims {
  const [q, k, v, past, decay, beta] = need(n, ins, 3, 6);
  for (const [m, i] of [[q, 0], [k, 1], [v, 2], [past, 3], [decay, 4], [beta, 5]] as const) {
    if (m) expectType(n, m, i, "float32");
  }
  const rule = n.attrs.string("update_rule", "gated_delta");
  if (!RULES.includes(rule)) fail(n, `update_rule '${rule}' is not one of ${RULES.join(", ")}`);
  const Hq = n.attrs.int("q_num_heads", 0), Hkv = n.attrs.int("kv_num_heads", 0);
  if (!(Hq > 0 && Hkv > 0 && Hq % Hkv === 0)) {
    fail(n, `q_num_heads ${Hq} must be a positive multiple of kv_num_heads ${Hkv}`);
  }
  for (const [m, name] of [[q, "query"], [k, "key"], [v, "value"]] as const) {
    if (m.dims.length !== 3) fail(n, `${name} must be [batch, sequence, heads·size]`);
  }
  const [B, T] = q.dims, dk = q.dims[2] / Hq, dv = v.dims[2] / Hkv;
  if (!Number.isInteger(dk) || !Number.isInteger(dv) || dk < 1 || dv < 1) {
    fail(n, "query's last axis must split into q_num_heads, value's into kv_num_heads");
  }
  const same = (m: Meta, d: number[], what: string) => {
    if (m.dims.join() !== d.join()) fail(n, `${what} must be [${d}], got [${m.dims}]`);
  };
  same(k, [B, T, Hkv * dk], "key");
  same(v, [B, T, Hkv * dv], "value");
  if (past) same(past, [B, Hkv, dk, dv], "past_state");
  let decayPer = 0, betaHeads = 0;
  if (rule === "gated" || rule === "gated_delta") {
    if (!decay) fail(n, `update_rule ${rule} needs decay`);
    if (decay.dims.join() === [B, T, Hkv * dk].join()) decayPer = dk;
    else if (decay.dims.join() === [B, T, Hkv].join()) decayPer = 1;
    else fail(n, `decay must be [${[B, T, Hkv * dk]}] or [${[B, T, Hkv]}], got [${decay.dims}]`);
  }
  if (rule === "delta" || rule === "gated_delta") {
    if (!beta) fail(n, `update_rule ${rule} needs beta`);
    if (beta.dims.join() === [B, T, Hkv].join()) betaHeads = Hkv;
    else if (beta.dims.join() === [B, T, 1].join()) betaHeads = 1;
    else fail(n, `beta must be [${[B, T, Hkv]}] or [${[B, T, 1]}], got [${beta.dims}]`);
  }
  return { B, T, Hq, Hkv, dk, dv, rule, decayPer, betaHeads };
}

export const LINEAR_ATTENTION: OpDef = {
  attributes: ["chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule"],
  infer(n, ins) {
    const d = dimsOf(n, ins);
    return [meta("float32", [d.B, d.T, d.Hq * d.dv]), meta("float32", [d.B, d.Hkv, d.dk, d.dv])];
  },
  build(n, ins, outs) {
    const d = dimsOf(n, ins), { B, T, Hq, Hkv, dk, dv, rule } = d;
    const [q, k, v] = [0, 1, 2].map((i) => (ins[i] as Buf).data as Float32Array);
    const past = ins[3]?.data as Float32Array | undefined;
    const decay = ins[4]?.data as Float32Array | undefined;
    const beta = ins[5]?.data as Float32Array | undefined;
    const y = outs[0].data as Float32Array, present = askedOutput(outs, 1);
    const scale0 = n.attrs.float("scale", 0);
    const scale = scale0 !== 0 ? f(scale0) : f(1 / f(Math.sqrt(dk)));
    const group = Hq / Hkv, gated = rule === "gated" || rule === "gated_delta";
    const deltaRule = rule === "delta" || rule === "gated_delta";
    const state = new Float32Array(B * Hkv * dk * dv), e = new Float32Array(dk);
    const w = new Float32Array(dv);
    return {
      native: false,
      run: () => {
        if (past) state.set(past);
        else state.fill(0);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < Hkv; h++) {
            const S = state.subarray((b * Hkv + h) * dk * dv, (b * Hkv + h + 1) * dk * dv);
            for (let t = 0; t < T; t++) {
              const row = b * T + t;
              const kAt = (row * Hkv + h) * dk, vAt = (row * Hkv + h) * dv;
              if (gated) {
                for (let i = 0; i < dk; i++) {
                  e[i] = f(
                    Math.exp(decay![(row * Hkv + h) * d.decayPer + (d.decayPer === 1 ? 0 : i)]),
                  );
                }
                for (let i = 0; i < dk; i++) {
                  for (let j = 0; j < dv; j++) S[i * dv + j] = f(S[i * dv + j] * e[i]);
                }
              }
              // The row written: v, or β(v − Sᵀk).
              if (deltaRule) {
                const bt = beta![row * d.betaHeads + (d.betaHeads === 1 ? 0 : h)];
                for (let j = 0; j < dv; j++) {
                  let r = 0;
                  for (let i = 0; i < dk; i++) r += S[i * dv + j] * k[kAt + i];
                  w[j] = f(bt * f(v[vAt + j] - f(r)));
                }
              } else for (let j = 0; j < dv; j++) w[j] = v[vAt + j];
              for (let i = 0; i < dk; i++) {
                const ki = k[kAt + i];
                for (let j = 0; j < dv; j++) S[i * dv + j] = f(S[i * dv + j] + f(ki * w[j]));
              }
              // Each q head of this kv head reads the new state.
              for (let g = 0; g < group; g++) {
                const hq = h * group + g, qAt = (row * Hq + hq) * dk, yAt = (row * Hq + hq) * dv;
                for (let j = 0; j < dv; j++) {
                  let r = 0;
                  for (let i = 0; i < dk; i++) r += q[qAt + i] * S[i * dv + j];
                  y[yAt + j] = f(scale * f(r));
                }
              }
            }
          }
        }
        if (present) present.set(state);
      },
    };
  },
};
