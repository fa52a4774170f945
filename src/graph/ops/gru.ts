/**
 * GRU (opsets 7 and 14): forward, reverse or bidirectional, with bias, an
 * initial state, clip, linear_before_reset and layout 1 (batch first);
 * activations (f, g: see recurrent.ts). Gates z, r, h. Every step's
 * input projections in GEMMs over the whole sequence (W's bias in their
 * epilogue; W and R packed once per session when constant); per time step
 * h × Rzᵀ and h × Rrᵀ accumulated onto the step's projections, then
 * (r ⊙ h) × Rhᵀ onto h̃'s projection, or with linear_before_reset
 * h × Rhᵀ + Rbh from zero, which r scales after; the activations (clip, f,
 * g), the gates' products and the update as Jit calls over the batch.
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
  StepMath,
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
  const y = askedOutput(outs, 0), yh = askedOutput(outs, 1);
  const io = recurrentLayout(s, ins[0]!.data as Float32Array);
  // Gate-major: each gate's values for every row of a step in one [batch, H] block (z, r and,
  // with linear_before_reset, h·Rhᵀ + Rbh), so every activation and product is one Jit call
  // over the batch. One row (batch 1): the row-major [seq, 3H] projections are already
  // gate-major, so they are one GEMM, and with linear_before_reset so is the step's.
  const bH = batch * H, SB = seq * batch, fused = batch === 1;
  const proj = new Float32Array(SB * G), rec = new Float32Array(3 * bH);
  const [gateZ, gateR, hh] = [0, 1, 2].map((q) => rec.subarray(q * bH, (q + 1) * bH));
  const gatesZR = rec.subarray(0, 2 * bH);
  const h = new Float32Array(bH), hPrev = new Float32Array(bH);
  const hRows = Array.from({ length: batch }, (_, bi) => h.subarray(bi * H, (bi + 1) * H));
  const cand = new Float32Array(bH), t = new Float32Array(bH);
  const math = new StepMath(jit, batch, H);
  // Each item's length and its time index this step (−1: ended, its state kept).
  const lengths = new Int32Array(batch), rows = new Int32Array(batch);
  /** A GEMM over gates [from, to) of R (or W): its weights, options and output. */
  const part = (d: number, w: Buf, k: number, from: number, to: number, bias: number) => {
    const weights = recurrentWeights(env, w, (d * G + from * H) * k, (to - from) * H, k);
    const at = d * 2 * G + bias + from * H;
    return {
      b: weights.b,
      options: {
        n: (to - from) * H,
        k,
        ...weights.options,
        ...(b ? { bias: b.subarray(at, at + (to - from) * H) } : {}),
      },
    };
  };
  // Per direction: the weights (packed once when constant) and each GEMM's options, made
  // here so the steps allocate nothing.
  const dir = Array.from({ length: dirs }, (_, d) => {
    const projections = (fused ? [[0, 3]] : [[0, 1], [1, 2], [2, 3]]).map(([from, to], i) => {
      const p = part(d, ins[1]!, input, from, to, 0);
      return { ...p, c: proj.subarray(i * SB * H, fused ? SB * G : (i + 1) * SB * H), m: SB };
    });
    // z and r accumulate onto their projections; h·Rhᵀ + Rbh (linear before reset) starts
    // from zero — in the one GEMM of batch 1, from zeroed columns (one pass over R, where
    // two took 8% longer a run at 64×1×128→256).
    const gates = (fused
      ? [[0, beforeReset ? 3 : 2]]
      : beforeReset
      ? [[0, 1], [1, 2], [2, 3]]
      : [[0, 1], [1, 2]])
      .map(([from, to]) => {
        const p = part(d, ins[2]!, H, from, to, G);
        const c = rec.subarray(from * bH, to * bH);
        const beta = fused || from < 2 ? 1 : 0;
        return { ...p, c, options: { ...p.options, m: batch, beta } };
      });
    // (r ⊙ h)·Rhᵀ + Rbh onto h̃'s projection (not linear before reset).
    const candidate = beforeReset ? null : part(d, ins[2]!, H, 2, 3, G);
    return {
      projections: projections.map((p) => ({ b: p.b, c: p.c, options: { ...p.options, m: p.m } })),
      gates,
      candidate: candidate
        ? { b: candidate.b, options: { ...candidate.options, m: batch, beta: 1 } }
        : null,
    };
  });
  /** Where gate q of item bi at time `row` sits among the projections. */
  const projAt = (q: number, row: number, bi: number) =>
    fused ? row * G + q * H : q * SB * H + (row * batch + bi) * H;
  // Each gate's block of a time's projections (every item at that time), a view made on its
  // first use: the steps allocate nothing after the first run.
  const blocks = [0, 1, 2].map(() => new Array<Float32Array | undefined>(seq));
  /** The step's projections: z and r onto their gates, h̃'s into cand. */
  const stepInputs = () => {
    let same = true;
    for (let bi = 1; bi < batch; bi++) same &&= rows[bi] === rows[0];
    for (let q = 0; q < 3; q++) {
      const to = q < 2 ? rec : cand, base = q < 2 ? q * bH : 0;
      if (same && rows[0] >= 0) {
        const at = projAt(q, rows[0], 0);
        to.set(blocks[q][rows[0]] ??= proj.subarray(at, at + bH), base);
        continue;
      }
      for (let bi = 0; bi < batch; bi++) {
        const at = projAt(q, rows[bi], bi);
        if (rows[bi] >= 0) to.set(proj.subarray(at, at + H), base + bi * H);
      }
    }
  };
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
      io.timeMajor();
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], A = s.acts[d], reverse = d === 1 || s.reverseOnly;
        for (const p of D.projections) jit.gemm(io.xs, p.b, p.c, p.options);
        io.loadState(h, h0, d);
        for (let step = 0; step < seq; step++) {
          const all = stepRows(lengths, step, reverse, rows);
          stepInputs();
          if (fused && beforeReset) hh.fill(0);
          for (const g of D.gates) jit.gemm(h, g.b, g.c, g.options);
          if (!all) hPrev.set(h);
          if (bounds) jit.unary("clip", gatesZR, gatesZR, bounds);
          jit.unary(A[0].op, gatesZR, gatesZR, A[0].params);
          if (beforeReset) {
            // h̃'s input: its projection plus r ⊙ (h·Rhᵀ + Rbh).
            math.mulAdd(gateR, hh, cand, t);
          } else {
            // (r ⊙ h)·Rhᵀ + Rbh onto h̃'s projection.
            math.mul(gateR, h, t);
            jit.gemm(t, D.candidate!.b, cand, D.candidate!.options);
          }
          if (bounds) jit.unary("clip", cand, cand, bounds);
          jit.unary(A[1].op, cand, cand, A[1].params);
          // h = (1 − z) ⊙ h̃ + z ⊙ h, as h̃ + z ⊙ (h − h̃).
          math.blend(gateZ, h, cand, t);
          for (let bi = 0; bi < batch; bi++) {
            const o = bi * H;
            // Ended: the state as it was.
            if (rows[bi] < 0) h.set(hPrev.subarray(o, o + H), o);
            else if (y) y.set(hRows[bi], io.yAt(rows[bi], d, bi));
          }
        }
        io.storeState(yh, h, d);
      }
    },
  };
}

/** The GRU definition. */
export const GRU_OPS: Record<string, OpDef> = { GRU };
