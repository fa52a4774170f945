/**
 * LSTM (opsets 7 and 14): forward, reverse or bidirectional, with bias,
 * initial states, peepholes, clip, input_forget and layout 1 (batch first);
 * activations the defaults (Sigmoid, Tanh, Tanh). Every step's input
 * projection in one GEMM over the whole sequence ([seq·batch, input] ×
 * [input, 4H], W's bias in its epilogue), then per time step the recurrent
 * GEMM (h × Rᵀ, R's bias) and the gates in TypeScript (float32 values,
 * float64 arithmetic per element). sequence_lens must be absent or every
 * sequence whole.
 */
import type { Node } from "../ir.ts";
import { type Buf, type Env, type Meta, meta, type OpDef, type Step } from "./op.ts";
import { type RecurrentShape as Shape, recurrentShape } from "./recurrent.ts";

const DEFAULTS = ["Sigmoid", "Tanh", "Tanh"];
const shapeOf = (n: Node, ins: readonly (Meta | null)[]): Shape =>
  recurrentShape(n, ins, 4, DEFAULTS);

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const LSTM: OpDef = {
  attributes: [
    "hidden_size",
    "direction",
    "activations",
    "activation_alpha",
    "activation_beta",
    "clip",
    "input_forget",
    "layout",
  ],
  infer(n, ins) {
    const s = shapeOf(n, ins);
    const y = s.batchFirst
      ? [s.batch, s.seq, s.dirs, s.hidden]
      : [s.seq, s.dirs, s.batch, s.hidden];
    const state = s.batchFirst ? [s.batch, s.dirs, s.hidden] : [s.dirs, s.batch, s.hidden];
    return [meta("float32", y), meta("float32", state), meta("float32", state)];
  },
  build(n, ins, outs, env) {
    return lstmStep(n, shapeOf(n, ins), ins, outs, env);
  },
};

function lstmStep(
  n: Node,
  s: Shape,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, batchFirst } = s, G = 4 * H, jit = env.jit;
  const x = ins[0]!.data as Float32Array, w = ins[1]!.data as Float32Array;
  const r = ins[2]!.data as Float32Array, b = ins[3]?.data as Float32Array | undefined;
  const h0 = ins[5]?.data as Float32Array | undefined,
    c0 = ins[6]?.data as Float32Array | undefined;
  const p = ins[7]?.data as Float32Array | undefined;
  const clip = n.attrs.has("clip") ? n.attrs.float("clip", 0) : Infinity;
  const inputForget = n.attrs.int("input_forget", 0) !== 0;
  const reverseOnly = n.attrs.string("direction", "forward") === "reverse";
  const [y, yh, yc] = outs.map((o) => o?.data as Float32Array | undefined);
  // X as [seq·batch, input] rows in time order (batch-first X copied once per run).
  const xs = batchFirst ? new Float32Array(seq * batch * input) : x;
  const proj = new Float32Array(seq * batch * G), rec = new Float32Array(batch * G);
  const h = new Float32Array(batch * H), c = new Float32Array(batch * H);
  // Per direction: Wᵀ and Rᵀ views for the GEMMs (transB), the two biases.
  const dir = Array.from({ length: dirs }, (_, d) => ({
    w: w.subarray(d * G * input, (d + 1) * G * input),
    r: r.subarray(d * G * H, (d + 1) * G * H),
    wb: b ? b.subarray(d * 2 * G, d * 2 * G + G) : undefined,
    rb: b ? b.subarray(d * 2 * G + G, (d + 1) * 2 * G) : undefined,
  }));
  const at = (t: number, d: number, bi: number) =>
    batchFirst ? ((bi * seq + t) * dirs + d) * H : ((t * dirs + d) * batch + bi) * H;
  const stateAt = (d: number, bi: number) =>
    batchFirst ? (bi * dirs + d) * H : (d * batch + bi) * H;
  return {
    native: false,
    run: () => {
      if (batchFirst) {
        for (let bi = 0; bi < batch; bi++) {
          for (let t = 0; t < seq; t++) {
            xs.set(
              x.subarray((bi * seq + t) * input, (bi * seq + t + 1) * input),
              (t * batch + bi) * input,
            );
          }
        }
      }
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], reverse = d === 1 || reverseOnly;
        jit.gemm(xs, D.w, proj, {
          m: seq * batch,
          n: G,
          k: input,
          transB: true,
          ...(D.wb ? { bias: D.wb } : {}),
        });
        for (let bi = 0; bi < batch; bi++) {
          for (let j = 0; j < H; j++) {
            h[bi * H + j] = h0 ? h0[stateAt(d, bi) + j] : 0;
            c[bi * H + j] = c0 ? c0[stateAt(d, bi) + j] : 0;
          }
        }
        for (let step = 0; step < seq; step++) {
          const t = reverse ? seq - 1 - step : step;
          jit.gemm(h, D.r, rec, {
            m: batch,
            n: G,
            k: H,
            transB: true,
            ...(D.rb ? { bias: D.rb } : {}),
          });
          for (let bi = 0; bi < batch; bi++) {
            const pr = (t * batch + bi) * G, rr = bi * G;
            for (let j = 0; j < H; j++) {
              // A gate's input (with its peephole term), clipped, as the activation takes it.
              const gate = (g: number, peep: number) => {
                const v = proj[pr + g * H + j] + rec[rr + g * H + j] + peep;
                return v > clip ? clip : v < -clip ? -clip : v;
              };
              const cPrev = c[bi * H + j];
              const pi = p ? p[d * 3 * H + j] : 0, po = p ? p[d * 3 * H + H + j] : 0;
              const pf = p ? p[d * 3 * H + 2 * H + j] : 0;
              const i = sigmoid(gate(0, pi * cPrev));
              const f = inputForget ? 1 - i : sigmoid(gate(2, pf * cPrev));
              const g = Math.tanh(gate(3, 0));
              const cNew = Math.fround(f * cPrev + i * g);
              const o = sigmoid(gate(1, po * cNew));
              c[bi * H + j] = cNew;
              h[bi * H + j] = Math.fround(o * Math.tanh(cNew));
            }
            if (y) y.set(h.subarray(bi * H, (bi + 1) * H), at(t, d, bi));
          }
        }
        for (let bi = 0; bi < batch; bi++) {
          if (yh) yh.set(h.subarray(bi * H, (bi + 1) * H), stateAt(d, bi));
          if (yc) yc.set(c.subarray(bi * H, (bi + 1) * H), stateAt(d, bi));
        }
      }
    },
  };
}

/** The LSTM definition. */
export const LSTM_OPS: Record<string, OpDef> = { LSTM };
