/**
 * GRU (opsets 7 and 14): forward, reverse or bidirectional, with bias, an
 * initial state, clip, linear_before_reset and layout 1 (batch first);
 * activations (f, g: see recurrent.ts). Gates z, r, h. Every step's
 * input projection in one GEMM over the whole sequence (W's bias in its
 * epilogue; W and R packed once per session when constant); per time step
 * two recurrent GEMMs — h × [Rz; Rr]ᵀ accumulated onto the step's
 * projection, then (r ⊙ h) × Rhᵀ onto h̃'s projection; with
 * linear_before_reset one, h × [Rz; Rr; Rh]ᵀ, whose h̃ part r scales after
 * (its columns start from zero, not from the projection) — the activations (clip, f, g) as Jit
 * calls, the gates' products and the update in TypeScript.
 * sequence_lens: see recurrent.ts.
 */
import type { Node } from "../ir.ts";
import type { Buf, Env, OpDef, Step } from "./op.ts";
import {
  readLengths,
  RECURRENT_ATTRIBUTES,
  recurrentLayout,
  type RecurrentNode,
  recurrentNode,
  recurrentOutputs,
  recurrentWeights,
  stepRows,
} from "./recurrent.ts";

const DEFAULTS = ["Sigmoid", "Tanh"];

const GRU: OpDef = {
  attributes: [...RECURRENT_ATTRIBUTES, "linear_before_reset"],
  infer: (n, ins) => recurrentOutputs(recurrentNode(n, ins, 3, DEFAULTS), 1),
  build: (n, ins, outs, env) => gruStep(n, recurrentNode(n, ins, 3, DEFAULTS), ins, outs, env),
};

function gruStep(
  n: Node,
  s: RecurrentNode,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, clip: bounds } = s, G = 3 * H, jit = env.jit;
  const b = ins[3]?.data as Float32Array | undefined, h0 = ins[5]?.data as Float32Array | undefined;
  const beforeReset = n.attrs.int("linear_before_reset", 0) !== 0;
  const [y, yh] = outs.map((o) => o?.data as Float32Array | undefined);
  const io = recurrentLayout(s, ins[0]!.data as Float32Array);
  const proj = new Float32Array(seq * batch * G), rec = new Float32Array(batch * G);
  const h = new Float32Array(batch * H), rh = new Float32Array(batch * H);
  const cand = new Float32Array(batch * H);
  // Each item's length and its time index this step (−1: ended, its state kept).
  const lengths = new Int32Array(batch), rows = new Int32Array(batch);
  // Each row's z and r gates, as views the Jit calls take whole.
  const zr = Array.from({ length: batch }, (_, bi) => rec.subarray(bi * G, bi * G + 2 * H));
  // Per direction: the weights (packed once when constant) and each GEMM's options, made
  // here so the steps allocate nothing.
  const dir = Array.from({ length: dirs }, (_, d) => {
    const w = recurrentWeights(env, ins[1]!, d * G * input, G, input);
    // Linear before reset: all three gates' recurrent terms in one GEMM (one pass over R,
    // where two took 8% longer a run at 64×1×128→256: the h̃ part's own call and output).
    const rAll = beforeReset ? recurrentWeights(env, ins[2]!, d * G * H, G, H) : null;
    const rzr = beforeReset ? null : recurrentWeights(env, ins[2]!, d * G * H, 2 * H, H);
    const rh = beforeReset ? null : recurrentWeights(env, ins[2]!, d * G * H + 2 * H * H, H, H);
    const wb = b ? { bias: b.subarray(d * 2 * G, d * 2 * G + G) } : {};
    const rb = b ? b.subarray(d * 2 * G + G, (d + 1) * 2 * G) : undefined;
    return {
      w: w.b,
      rzr: rzr?.b,
      rh: rh?.b,
      rAll: rAll?.b,
      all: { m: batch, n: G, k: H, beta: 1, ...rAll?.options, ...(rb ? { bias: rb } : {}) },
      proj: { m: seq * batch, n: G, k: input, ...w.options, ...wb },
      zr: {
        m: batch,
        n: 2 * H,
        k: H,
        ldc: G,
        beta: 1,
        ...rzr?.options,
        ...(rb ? { bias: rb.subarray(0, 2 * H) } : {}),
      },
      h: {
        m: batch,
        n: H,
        k: H,
        beta: 1,
        ...rh?.options,
        ...(rb ? { bias: rb.subarray(2 * H) } : {}),
      },
    };
  });
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
      io.timeMajor();
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], A = s.acts[d], reverse = d === 1 || s.reverseOnly;
        jit.gemm(io.xs, D.w, proj, D.proj);
        io.loadState(h, h0, d);
        for (let step = 0; step < seq; step++) {
          stepRows(lengths, step, reverse, rows);
          // z and r: their recurrent terms accumulated onto the step's projection.
          io.stepInputs(proj, rows, G, rec);
          if (beforeReset) {
            // h·Rhᵀ + Rbh beside z and r (r scales it below): its columns from zero.
            for (let bi = 0; bi < batch; bi++) rec.fill(0, bi * G + 2 * H, (bi + 1) * G);
            jit.gemm(h, D.rAll!, rec, D.all);
          } else jit.gemm(h, D.rzr!, rec, D.zr);
          for (let bi = 0; bi < batch; bi++) {
            if (bounds) jit.unary("clip", zr[bi], zr[bi], bounds);
            jit.unary(A[0].op, zr[bi], zr[bi], A[0].params);
          }
          if (beforeReset) {
            // h̃'s input: its projection plus r ⊙ (h·Rhᵀ + Rbh).
            for (let bi = 0; bi < batch; bi++) {
              const pr = (Math.max(rows[bi], 0) * batch + bi) * G + 2 * H;
              for (let j = 0; j < H; j++) {
                const k = bi * H + j;
                cand[k] = proj[pr + j] + rec[bi * G + H + j] * rec[bi * G + 2 * H + j];
              }
            }
          } else {
            // (r ⊙ h)·Rhᵀ + Rbh onto h̃'s projection.
            for (let bi = 0; bi < batch; bi++) {
              const pr = (Math.max(rows[bi], 0) * batch + bi) * G + 2 * H;
              for (let j = 0; j < H; j++) {
                rh[bi * H + j] = rec[bi * G + H + j] * h[bi * H + j];
                cand[bi * H + j] = proj[pr + j];
              }
            }
            jit.gemm(rh, D.rh!, cand, D.h);
          }
          if (bounds) jit.unary("clip", cand, cand, bounds);
          jit.unary(A[1].op, cand, cand, A[1].params);
          for (let bi = 0; bi < batch; bi++) {
            if (rows[bi] < 0) continue; // ended: the state as it was
            for (let j = 0; j < H; j++) {
              const z = rec[bi * G + j], k = bi * H + j;
              h[k] = (1 - z) * cand[k] + z * h[k];
            }
            if (y) y.set(h.subarray(bi * H, (bi + 1) * H), io.yAt(rows[bi], d, bi));
          }
        }
        io.storeState(yh, h, d);
      }
    },
  };
}

/** The GRU definition. */
export const GRU_OPS: Record<string, OpDef> = { GRU };
