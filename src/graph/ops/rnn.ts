/**
 * RNN (opsets 7 and 14): Hₜ = f(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb), forward, reverse
 * or bidirectional, with bias, an initial state, clip and layout 1 (batch
 * first); f per direction (Tanh by default; see recurrent.ts). Every step's
 * input projection in one GEMM over the whole sequence (Wb in its epilogue;
 * W and R packed once per session when constant); per time step the
 * recurrent GEMM accumulating onto the step's projection (Rb in its
 * epilogue), clip and f as Jit calls.
 * sequence_lens: see recurrent.ts.
 */
import type { Node } from "../ir.ts";
import { type Buf, type Env, type Meta, meta, type OpDef, type Step } from "./op.ts";
import {
  readLengths,
  type RecurrentActivation,
  recurrentActivations,
  type RecurrentShape,
  recurrentShape,
  recurrentWeights,
  stepRows,
} from "./recurrent.ts";

/** The shape and each direction's activation f. */
function shapeOf(
  n: Node,
  ins: readonly (Meta | null)[],
): RecurrentShape & { acts: RecurrentActivation[][] } {
  const s = recurrentShape(n, ins, 1);
  return { ...s, acts: recurrentActivations(n, ["Tanh"], s.dirs) };
}

const RNN: OpDef = {
  attributes: [
    "hidden_size",
    "direction",
    "activations",
    "activation_alpha",
    "activation_beta",
    "clip",
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
    return rnnStep(n, shapeOf(n, ins), ins, outs, env);
  },
};

function rnnStep(
  n: Node,
  s: RecurrentShape & { acts: RecurrentActivation[][] },
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, batchFirst } = s, jit = env.jit;
  const x = ins[0]!.data as Float32Array, b = ins[3]?.data as Float32Array | undefined;
  const h0 = ins[5]?.data as Float32Array | undefined;
  const clip = n.attrs.has("clip") ? n.attrs.float("clip", 0) : Infinity;
  const bounds = clip < Infinity ? { min: -clip, max: clip } : null;
  const reverseOnly = n.attrs.string("direction", "forward") === "reverse";
  const [y, yh] = outs.map((o) => o?.data as Float32Array | undefined);
  // X as [seq·batch, input] rows in time order (batch-first X copied once per run).
  const xs = batchFirst ? new Float32Array(seq * batch * input) : x;
  const proj = new Float32Array(seq * batch * H), rec = new Float32Array(batch * H);
  const h = new Float32Array(batch * H), hPrev = new Float32Array(batch * H);
  // Each item's length and its time index this step (−1: ended, its state kept).
  const lengths = new Int32Array(batch), rows = new Int32Array(batch);
  // Per direction: the weights (packed once when constant) and each GEMM's options, made
  // here so the steps allocate nothing.
  const dir = Array.from({ length: dirs }, (_, d) => {
    const w = recurrentWeights(env, ins[1]!, d * H * input, H, input);
    const r = recurrentWeights(env, ins[2]!, d * H * H, H, H);
    const wb = b ? { bias: b.subarray(d * 2 * H, d * 2 * H + H) } : {};
    const rb = b ? { bias: b.subarray(d * 2 * H + H, (d + 1) * 2 * H) } : {};
    return {
      w: w.b,
      r: r.b,
      proj: { m: seq * batch, n: H, k: input, ...w.options, ...wb },
      acc: { m: batch, n: H, k: H, beta: 1, ...r.options, ...rb },
      f: s.acts[d][0],
    };
  });
  const at = (t: number, d: number, bi: number) =>
    batchFirst ? ((bi * seq + t) * dirs + d) * H : ((t * dirs + d) * batch + bi) * H;
  const stateAt = (d: number, bi: number) =>
    batchFirst ? (bi * dirs + d) * H : (d * batch + bi) * H;
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
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
        jit.gemm(xs, D.w, proj, D.proj);
        for (let bi = 0; bi < batch; bi++) {
          for (let j = 0; j < H; j++) h[bi * H + j] = h0 ? h0[stateAt(d, bi) + j] : 0;
        }
        for (let step = 0; step < seq; step++) {
          const all = stepRows(lengths, step, reverse, rows);
          for (let bi = 0; bi < batch; bi++) {
            const row = (rows[bi] * batch + bi) * H;
            if (rows[bi] >= 0) rec.set(proj.subarray(row, row + H), bi * H);
          }
          jit.gemm(h, D.r, rec, D.acc);
          if (bounds) jit.unary("clip", rec, rec, bounds);
          if (!all) hPrev.set(h);
          jit.unary(D.f.op, rec, h, D.f.params);
          for (let bi = 0; bi < batch; bi++) {
            const o = bi * H;
            if (rows[bi] < 0) h.set(hPrev.subarray(o, o + H), o); // ended: the state as it was
            else if (y) y.set(h.subarray(o, o + H), at(rows[bi], d, bi));
          }
        }
        for (let bi = 0; bi < batch; bi++) {
          if (yh) yh.set(h.subarray(bi * H, (bi + 1) * H), stateAt(d, bi));
        }
      }
    },
  };
}

/** The RNN definition. */
export const RNN_OPS: Record<string, OpDef> = { RNN };
