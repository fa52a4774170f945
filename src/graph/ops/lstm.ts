/**
 * LSTM (opsets 7 and 14): forward, reverse or bidirectional, with bias,
 * initial states, peepholes, clip, input_forget and layout 1 (batch first);
 * activations (f, g, h: see recurrent.ts). Gate-major: per gate, the
 * input projection of every step in one GEMM over the whole sequence
 * ([seq·batch, input] × [input, H], W's bias in its epilogue), then per
 * time step its recurrent GEMM (W and R packed once per session when
 * constant) accumulating onto the step's [batch, H] block of projections,
 * R's bias in its epilogue; clip, the activations, the peepholes' and the
 * cell's products as Jit calls over the whole batch (with peepholes per
 * gate: i and f after adding the previous cell's term, o after the new
 * cell's). sequence_lens: see recurrent.ts.
 */
import type { Node } from "../ir.ts";
import { askedOutput, type Buf, type Env, type OpDef, type Step } from "./op.ts";
import {
  readLengths,
  RECURRENT_ATTRIBUTES,
  type RecurrentActivation,
  recurrentLayout,
  type RecurrentNode,
  recurrentNode,
  recurrentOutputs,
  recurrentWeights,
  StepMath,
  stepRows,
} from "./recurrent.ts";

/** f (for i, o and f), g (the cell's input), h (its output). */
const DEFAULTS = ["Sigmoid", "Tanh", "Tanh"];

const LSTM: OpDef = {
  attributes: [...RECURRENT_ATTRIBUTES, "input_forget"],
  infer: (n, ins) => recurrentOutputs(recurrentNode(n, ins, 4, DEFAULTS), 2),
  build: (n, ins, outs, env) => lstmStep(n, recurrentNode(n, ins, 4, DEFAULTS), ins, outs, env),
};

function lstmStep(
  n: Node,
  s: RecurrentNode,
  ins: readonly (Buf | null)[],
  outs: readonly Buf[],
  env: Env,
): Step {
  const { seq, batch, input, hidden: H, dirs, clip: clipBounds } = s, G = 4 * H, jit = env.jit;
  const b = ins[3]?.data as Float32Array | undefined;
  const h0 = ins[5]?.data as Float32Array | undefined,
    c0 = ins[6]?.data as Float32Array | undefined;
  const p = ins[7]?.data as Float32Array | undefined;
  const inputForget = n.attrs.int("input_forget", 0) !== 0;
  const y = askedOutput(outs, 0), yh = askedOutput(outs, 1), yc = askedOutput(outs, 2);
  const io = recurrentLayout(s, ins[0]!.data as Float32Array);
  // Gate-major: each gate's values for every row of a step in one [batch, H] block (i, o, f,
  // c in ONNX's order), so every activation and product is one Jit call over the batch.
  const bH = batch * H, SB = seq * batch;
  const proj = new Float32Array(4 * SB * H), rec = new Float32Array(4 * bH);
  const gate = Array.from({ length: 4 }, (_, q) => rec.subarray(q * bH, (q + 1) * bH));
  const [gateI, gateO, gateF, gateC] = gate, gatesIOF = rec.subarray(0, 3 * bH);
  const h = new Float32Array(bH), c = new Float32Array(bH), tc = new Float32Array(bH);
  const hRows = Array.from({ length: batch }, (_, bi) => h.subarray(bi * H, (bi + 1) * H));
  // Per direction and gate: Wᵀ and Rᵀ for the GEMMs (packed once when constant), the
  // biases, each GEMM's options (made here: the steps allocate nothing), the peepholes.
  // One row (batch 1): the row-major [seq, 4H] projections and [1, 4H] step are already
  // gate-major, so each is one GEMM over all four gates (four took 64×1×128→256 from 0.82 to
  // 1.07 ms a run: four calls and four passes over 256 KB where one streams 1 MB).
  const fused = batch === 1, parts = fused ? 1 : 4, width = fused ? G : H;
  const dir = Array.from({ length: dirs }, (_, d) => {
    const gates = Array.from({ length: parts }, (_, q) => {
      const w = recurrentWeights(env, ins[1]!, (d * G + q * H) * input, width, input);
      const r = recurrentWeights(env, ins[2]!, (d * G + q * H) * H, width, H);
      const at = d * 2 * G + q * H;
      const wb = b ? { bias: b.subarray(at, at + width) } : {};
      const rb = b ? { bias: b.subarray(at + G, at + G + width) } : {};
      return {
        w: w.b,
        r: r.b,
        proj: { m: SB, n: width, k: input, ...w.options, ...wb },
        acc: { m: batch, n: width, k: H, beta: 1, ...r.options, ...rb },
      };
    });
    // Peepholes for i, o, f (H each).
    const peep = p ? [0, 1, 2].map((q) => p.subarray((d * 3 + q) * H, (d * 3 + q + 1) * H)) : null;
    return { gates, peep };
  });
  // Each item's length, its time index this step (−1: ended) and the state before the step.
  const lengths = new Int32Array(batch), rows = new Int32Array(batch);
  const hPrev = new Float32Array(bH), cPrev = new Float32Array(bH);
  const math = new StepMath(jit, batch, H);
  // Where each GEMM part writes: the projections of every step, the step's gates.
  const projPart = Array.from(
    { length: parts },
    (_, q) => proj.subarray(q * SB * width, (q + 1) * SB * width),
  );
  const recPart = Array.from(
    { length: parts },
    (_, q) => rec.subarray(q * batch * width, (q + 1) * batch * width),
  );
  /** The step's projections into its gates: a block per part when every item is at one time. */
  // Each part's block of a time's projections, a view made on its first use: the steps
  // allocate nothing after the first run.
  const blocks = projPart.map(() => new Array<Float32Array | undefined>(seq));
  const stepInputs = () => {
    let same = true;
    for (let bi = 1; bi < batch; bi++) same &&= rows[bi] === rows[0];
    const block = batch * width;
    for (let q = 0; q < parts; q++) {
      const from = projPart[q];
      if (same && rows[0] >= 0) {
        const r = rows[0];
        recPart[q].set(blocks[q][r] ??= from.subarray(r * block, (r + 1) * block));
        continue;
      }
      for (let bi = 0; bi < batch; bi++) {
        const at = (rows[bi] * batch + bi) * width;
        if (rows[bi] >= 0) recPart[q].set(from.subarray(at, at + width), bi * width);
      }
    }
  };
  /** The gate's recurrent input += its peephole ⊙ the cell (tc as scratch). */
  const peephole = (g: Float32Array, weights: Float32Array) => {
    math.rowMulAdd(weights, c, g, tc);
  };
  /** Clip (when asked) and activation `act` over a block of gates. */
  const activate = (g: Float32Array, act: RecurrentActivation) => {
    if (clipBounds) jit.unary("clip", g, g, clipBounds);
    jit.unary(act.op, g, g, act.params);
  };
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
      io.timeMajor();
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], A = s.acts[d], reverse = d === 1 || s.reverseOnly, pd = D.peep;
        for (let q = 0; q < parts; q++) jit.gemm(io.xs, D.gates[q].w, projPart[q], D.gates[q].proj);
        io.loadState(h, h0, d);
        io.loadState(c, c0, d);
        for (let step = 0; step < seq; step++) {
          const all = stepRows(lengths, step, reverse, rows);
          stepInputs();
          for (let q = 0; q < parts; q++) jit.gemm(h, D.gates[q].r, recPart[q], D.gates[q].acc);
          if (!all) hPrev.set(h), cPrev.set(c);
          if (!pd) {
            activate(gatesIOF, A[0]);
          } else {
            // Peepholes: i and f see the previous cell; o, below, the new one.
            peephole(gateI, pd[0]);
            peephole(gateF, pd[2]);
            activate(gateI, A[0]);
            activate(gateF, A[0]);
          }
          activate(gateC, A[1]);
          // input_forget couples the gates: f = 1 − i.
          if (inputForget) math.oneMinus(gateI, gateF);
          // c = f ⊙ c + i ⊙ g.
          math.cell(gateF, c, gateI, gateC);
          if (pd) {
            peephole(gateO, pd[1]);
            activate(gateO, A[0]);
          }
          jit.unary(A[2].op, c, tc, A[2].params);
          math.mul(gateO, tc, h);
          for (let bi = 0; bi < batch; bi++) {
            const o = bi * H;
            if (rows[bi] < 0) {
              // Ended: the state as it was.
              h.set(hPrev.subarray(o, o + H), o), c.set(cPrev.subarray(o, o + H), o);
              continue;
            }
            if (y) y.set(hRows[bi], io.yAt(rows[bi], d, bi));
          }
        }
        io.storeState(yh, h, d);
        io.storeState(yc, c, d);
      }
    },
  };
}

/** The LSTM definition. */
export const LSTM_OPS: Record<string, OpDef> = { LSTM };
