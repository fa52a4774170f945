/**
 * GRU (opsets 7 and 14): forward, reverse or bidirectional, with bias, an
 * initial state, clip, linear_before_reset and layout 1 (batch first);
 * activations the defaults (Sigmoid, Tanh). Gates z, r, h. Every step's
 * input projection in one GEMM over the whole sequence (W's bias in its
 * epilogue); per time step the recurrent GEMMs — h × Rᵀ for all three gates
 * with linear_before_reset, else h × [Rz; Rr]ᵀ, then (r ⊙ h) × Rhᵀ — and
 * the gates in TypeScript (float32 values, float64 arithmetic per element).
 * sequence_lens must be absent or every sequence whole.
 */
import type { Node } from "../ir.ts";
import { type Buf, type Env, type Meta, meta, type OpDef, type Step } from "./op.ts";
import { type RecurrentShape, recurrentShape } from "./recurrent.ts";

const shapeOf = (n: Node, ins: readonly (Meta | null)[]): RecurrentShape =>
  recurrentShape(n, ins, 3, ["Sigmoid", "Tanh"]);

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const GRU: OpDef = {
  attributes: [
    "hidden_size",
    "direction",
    "activations",
    "activation_alpha",
    "activation_beta",
    "clip",
    "linear_before_reset",
    "layout",
  ],
  infer(n, ins) {
    const s = shapeOf(n, ins);
    const y = s.batchFirst
      ? [s.batch, s.seq, s.dirs, s.hidden]
      : [s.seq, s.dirs, s.batch, s.hidden];
    const state = s.batchFirst ? [s.batch, s.dirs, s.hidden] : [s.dirs, s.batch, s.hidden];
    return [meta("float32", y), meta("float32", state)];
  },
  build(n, ins, outs, env) {
    return gruStep(n, shapeOf(n, ins), ins, outs, env);
  },
};

function gruStep(
  n: Node,
  s: RecurrentShape,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, batchFirst } = s, G = 3 * H, jit = env.jit;
  const x = ins[0]!.data as Float32Array, w = ins[1]!.data as Float32Array;
  const r = ins[2]!.data as Float32Array, b = ins[3]?.data as Float32Array | undefined;
  const h0 = ins[5]?.data as Float32Array | undefined;
  const clip = n.attrs.has("clip") ? n.attrs.float("clip", 0) : Infinity;
  const beforeReset = n.attrs.int("linear_before_reset", 0) !== 0;
  const reverseOnly = n.attrs.string("direction", "forward") === "reverse";
  const [y, yh] = outs.map((o) => o?.data as Float32Array | undefined);
  // X as [seq·batch, input] rows in time order (batch-first X copied once per run).
  const xs = batchFirst ? new Float32Array(seq * batch * input) : x;
  const proj = new Float32Array(seq * batch * G), rec = new Float32Array(batch * G);
  const h = new Float32Array(batch * H), rh = new Float32Array(batch * H);
  const recH = new Float32Array(batch * H);
  const dir = Array.from({ length: dirs }, (_, d) => {
    const rd = r.subarray(d * G * H, (d + 1) * G * H);
    return {
      w: w.subarray(d * G * input, (d + 1) * G * input),
      r: rd,
      rzr: rd.subarray(0, 2 * H * H),
      rh: rd.subarray(2 * H * H),
      wb: b ? b.subarray(d * 2 * G, d * 2 * G + G) : undefined,
      rb: b ? b.subarray(d * 2 * G + G, (d + 1) * 2 * G) : undefined,
    };
  });
  const at = (t: number, d: number, bi: number) =>
    batchFirst ? ((bi * seq + t) * dirs + d) * H : ((t * dirs + d) * batch + bi) * H;
  const stateAt = (d: number, bi: number) =>
    batchFirst ? (bi * dirs + d) * H : (d * batch + bi) * H;
  const clipped = (v: number) => (v > clip ? clip : v < -clip ? -clip : v);
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
          for (let j = 0; j < H; j++) h[bi * H + j] = h0 ? h0[stateAt(d, bi) + j] : 0;
        }
        for (let step = 0; step < seq; step++) {
          const t = reverse ? seq - 1 - step : step;
          // z and r's recurrent terms (all three gates' before the reset when it is linear).
          jit.gemm(h, beforeReset ? D.r : D.rzr, rec, {
            m: batch,
            n: beforeReset ? G : 2 * H,
            k: H,
            ldc: G,
            transB: true,
            ...(D.rb ? { bias: beforeReset ? D.rb : D.rb.subarray(0, 2 * H) } : {}),
          });
          for (let bi = 0; bi < batch; bi++) {
            const pr = (t * batch + bi) * G, rr = bi * G;
            for (let j = 0; j < H; j++) {
              const z = sigmoid(clipped(proj[pr + j] + rec[rr + j]));
              const rg = sigmoid(clipped(proj[pr + H + j] + rec[rr + H + j]));
              rec[rr + j] = z; // kept for the update below
              if (beforeReset) recH[bi * H + j] = rg * rec[rr + 2 * H + j];
              else rh[bi * H + j] = rg * h[bi * H + j];
            }
          }
          if (!beforeReset) {
            // (r ⊙ h) × Rhᵀ + Rbh.
            jit.gemm(rh, D.rh, recH, {
              m: batch,
              n: H,
              k: H,
              transB: true,
              ...(D.rb ? { bias: D.rb.subarray(2 * H) } : {}),
            });
          }
          for (let bi = 0; bi < batch; bi++) {
            const pr = (t * batch + bi) * G, rr = bi * G;
            for (let j = 0; j < H; j++) {
              const z = rec[rr + j];
              const hh = Math.tanh(clipped(proj[pr + 2 * H + j] + recH[bi * H + j]));
              h[bi * H + j] = Math.fround((1 - z) * hh + z * h[bi * H + j]);
            }
            if (y) y.set(h.subarray(bi * H, (bi + 1) * H), at(t, d, bi));
          }
        }
        for (let bi = 0; bi < batch; bi++) {
          if (yh) yh.set(h.subarray(bi * H, (bi + 1) * H), stateAt(d, bi));
        }
      }
    },
  };
}

/** The GRU definition. */
export const GRU_OPS: Record<string, OpDef> = { GRU };
