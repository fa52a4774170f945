/**
 * LSTM (opsets 7 and 14): forward, reverse or bidirectional, with bias,
 * initial states, peepholes, clip, input_forget and layout 1 (batch first);
 * activations (f, g, h: see recurrent.ts). Every step's input
 * projection in one GEMM over the whole sequence ([seq·batch, input] ×
 * [input, 4H], W's bias in its epilogue), then per time step the recurrent
 * GEMM (W and R packed once per session when constant) accumulating onto
 * the step's projection, R's bias in its epilogue; clip and the activations
 * as Jit calls per row (with peepholes per gate: i and f after adding the
 * previous cell's term, o after the new cell's), the cell's and peepholes'
 * products in TypeScript. sequence_lens: see recurrent.ts.
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
  const [y, yh, yc] = outs.map((o) => o?.data as Float32Array | undefined);
  const io = recurrentLayout(s, ins[0]!.data as Float32Array);
  const proj = new Float32Array(seq * batch * G), rec = new Float32Array(batch * G);
  const h = new Float32Array(batch * H), c = new Float32Array(batch * H);
  // Per direction: Wᵀ and Rᵀ for the GEMMs (packed once when constant), the two biases.
  const dir = Array.from({ length: dirs }, (_, d) => {
    const w = recurrentWeights(env, ins[1]!, d * G * input, G, input);
    const r = recurrentWeights(env, ins[2]!, d * G * H, G, H);
    const wb = b ? { bias: b.subarray(d * 2 * G, d * 2 * G + G) } : {};
    const rb = b ? { bias: b.subarray(d * 2 * G + G, (d + 1) * 2 * G) } : {};
    // Each GEMM's options made here: the steps allocate nothing.
    return {
      w: w.b,
      r: r.b,
      proj: { m: seq * batch, n: G, k: input, ...w.options, ...wb },
      // Peepholes for i, o, f (H each).
      peep: p ? p.subarray(d * 3 * H, (d + 1) * 3 * H) : null,
      acc: { m: batch, n: G, k: H, beta: 1, ...r.options, ...rb },
    };
  });
  // h(c) of the new cell.
  const tc = new Float32Array(batch * H);
  // Each item's length, its time index this step (−1: ended) and the state before the step.
  const lengths = new Int32Array(batch), rows = new Int32Array(batch);
  const hPrev = new Float32Array(batch * H), cPrev = new Float32Array(batch * H);
  // Each row's gate blocks (i, o, f, c in ONNX's order) as views the Jit calls take whole.
  const block = (from: number, to: number) =>
    Array.from({ length: batch }, (_, bi) => rec.subarray(bi * G + from * H, bi * G + to * H));
  const gatesIOF = block(0, 3), gateI = block(0, 1), gateO = block(1, 2), gateF = block(2, 3);
  const gatesC = block(3, 4);
  // With peepholes each gate is clipped and activated alone (o after the new cell).
  const peepholeGates = Array.from(
    { length: batch },
    (_, bi) => [gateI[bi], gateF[bi], gatesC[bi]],
  );
  return {
    native: false,
    run: () => {
      if (readLengths(n, ins[4], seq, lengths) && y) y.fill(0);
      io.timeMajor();
      for (let d = 0; d < dirs; d++) {
        const D = dir[d], A = s.acts[d], reverse = d === 1 || s.reverseOnly;
        const pd = D.peep;
        jit.gemm(io.xs, D.w, proj, D.proj);
        io.loadState(h, h0, d);
        io.loadState(c, c0, d);
        for (let step = 0; step < seq; step++) {
          const all = stepRows(lengths, step, reverse, rows);
          io.stepInputs(proj, rows, G, rec);
          jit.gemm(h, D.r, rec, D.acc);
          if (!all) hPrev.set(h), cPrev.set(c);
          if (!pd) {
            if (clipBounds) jit.unary("clip", rec, rec, clipBounds);
            for (let bi = 0; bi < batch; bi++) {
              jit.unary(A[0].op, gatesIOF[bi], gatesIOF[bi], A[0].params);
              jit.unary(A[1].op, gatesC[bi], gatesC[bi], A[1].params);
            }
          } else {
            // Peepholes: i and f see the previous cell; o, below, the new one.
            for (let bi = 0; bi < batch; bi++) {
              const rr = bi * G, o = bi * H;
              for (let j = 0; j < H; j++) {
                rec[rr + j] += pd[j] * c[o + j];
                rec[rr + 2 * H + j] += pd[2 * H + j] * c[o + j];
              }
              if (clipBounds) {
                for (const gate of peepholeGates[bi]) jit.unary("clip", gate, gate, clipBounds);
              }
              jit.unary(A[0].op, gateI[bi], gateI[bi], A[0].params);
              jit.unary(A[0].op, gateF[bi], gateF[bi], A[0].params);
              jit.unary(A[1].op, gatesC[bi], gatesC[bi], A[1].params);
            }
          }
          for (let bi = 0; bi < batch; bi++) {
            const rr = bi * G, o = bi * H;
            for (let j = 0; j < H; j++) {
              // input_forget couples the gates: f = 1 − i.
              const i = rec[rr + j], f = inputForget ? 1 - i : rec[rr + 2 * H + j];
              c[o + j] = f * c[o + j] + i * rec[rr + 3 * H + j];
            }
            if (pd) {
              for (let j = 0; j < H; j++) rec[rr + H + j] += pd[H + j] * c[o + j];
              if (clipBounds) jit.unary("clip", gateO[bi], gateO[bi], clipBounds);
              jit.unary(A[0].op, gateO[bi], gateO[bi], A[0].params);
            }
          }
          jit.unary(A[2].op, c, tc, A[2].params);
          for (let bi = 0; bi < batch; bi++) {
            const o = bi * H;
            if (rows[bi] < 0) {
              // Ended: the state as it was.
              h.set(hPrev.subarray(o, o + H), o), c.set(cPrev.subarray(o, o + H), o);
              continue;
            }
            for (let j = 0; j < H; j++) h[o + j] = rec[bi * G + H + j] * tc[o + j];
            if (y) y.set(h.subarray(o, o + H), io.yAt(rows[bi], d, bi));
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
