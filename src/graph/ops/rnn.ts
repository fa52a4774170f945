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
import { askedOutput, type Buf, type Env, type OpDef, type Step } from "./op.ts";
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

const RNN: OpDef = {
  attributes: RECURRENT_ATTRIBUTES,
  infer: (n, ins) => recurrentOutputs(recurrentNode(n, ins, 1, ["Tanh"]), 1),
  build: (n, ins, outs, env) => rnnStep(n, recurrentNode(n, ins, 1, ["Tanh"]), ins, outs, env),
};

function rnnStep(
  n: Node,
  s: RecurrentNode,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, clip } = s, jit = env.jit;
  const b = ins[3]?.data as Float32Array | undefined, h0 = ins[5]?.data as Float32Array | undefined;
  const y = askedOutput(outs, 0), yh = askedOutput(outs, 1);
  const io = recurrentLayout(s, ins[0]!.data as Float32Array);
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
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
      io.timeMajor();
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], reverse = d === 1 || s.reverseOnly;
        jit.gemm(io.xs, D.w, proj, D.proj);
        io.loadState(h, h0, d);
        for (let step = 0; step < seq; step++) {
          const all = stepRows(lengths, step, reverse, rows);
          io.stepInputs(proj, rows, H, rec);
          jit.gemm(h, D.r, rec, D.acc);
          if (clip) jit.unary("clip", rec, rec, clip);
          if (!all) hPrev.set(h);
          jit.unary(D.f.op, rec, h, D.f.params);
          for (let bi = 0; bi < batch; bi++) {
            const o = bi * H;
            if (rows[bi] < 0) h.set(hPrev.subarray(o, o + H), o); // ended: the state as it was
            else if (y) y.set(h.subarray(o, o + H), io.yAt(rows[bi], d, bi));
          }
        }
        io.storeState(yh, h, d);
      }
    },
  };
}

/** The RNN definition. */
export const RNN_OPS: Record<string, OpDef> = { RNN };
