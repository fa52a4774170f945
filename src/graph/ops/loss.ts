/**
 * Loss ops, as exported evaluation graphs keep them: NegativeLogLikelihoodLoss
 * and SoftmaxCrossEntropyLoss (opsets 12-22) — per-class weights,
 * ignore_index, reductions none, sum and mean (the weighted mean: the sum over
 * the weights of the targets counted). Inputs [N, C] or [N, C, d…], targets
 * [N] or [N, d…] (int32 or int64); a target outside [0, C) that is not
 * ignore_index throws a RangeError naming the node. TypeScript steps, float64
 * sums.
 */
import type { Node } from "../ir.ts";
import { askedOutput, expectType, fail, type Meta, meta, need, type OpDef, sizeOf } from "./op.ts";

/** The shapes a loss node reads: input x [N, C, d…], target [N, d…], weight [C]. */
function lossShape(n: Node, ins: readonly (Meta | null)[]) {
  const [x, t] = need(n, ins, 2, 3);
  expectType(n, x, 0, "float32");
  expectType(n, t, 1, "int64", "int32");
  if (x.dims.length < 2) fail(n, `input [${x.dims}] must be [N, C, …]`);
  const [N, C] = x.dims, rest = x.dims.slice(2);
  if (t.dims.join() !== [N, ...rest].join()) {
    fail(n, `target [${t.dims}] must be [${[N, ...rest]}]`);
  }
  const w = ins[2];
  if (w) {
    expectType(n, w, 2, "float32");
    if (w.dims.join() !== `${C}`) fail(n, `weight [${w.dims}] must be [${C}]`);
  }
  const reduction = n.attrs.string("reduction", "mean");
  if (!["none", "sum", "mean"].includes(reduction)) {
    fail(n, `reduction '${reduction}' is not none, sum or mean`);
  }
  return { N, C, D: sizeOf(rest), dims: [N, ...rest], reduction };
}

/**
 * The loss of log-probabilities lp [N, C, D] against targets: each element's −lp·weight
 * into `out` (reduction none), or their sum or weighted mean as one value.
 */
function nll(
  n: Node,
  lp: Float32Array,
  target: Int32Array | BigInt64Array,
  weight: Float32Array | null,
  s: { N: number; C: number; D: number; reduction: string },
  out: Float32Array,
): void {
  const ignore = n.attrs.has("ignore_index") ? n.attrs.int("ignore_index", 0) : null;
  let sum = 0, weights = 0;
  for (let b = 0; b < s.N; b++) {
    for (let d = 0; d < s.D; d++) {
      const k = Number(target[b * s.D + d]);
      let v = 0;
      if (k !== ignore) {
        if (!(k >= 0 && k < s.C)) {
          throw new RangeError(`${n.op} node '${n.name}': target ${k} is outside 0..${s.C - 1}`);
        }
        const w = weight ? weight[k] : 1;
        v = -lp[(b * s.C + k) * s.D + d] * w;
        weights += w;
      }
      if (s.reduction === "none") out[b * s.D + d] = v;
      sum += v;
    }
  }
  if (s.reduction === "sum") out[0] = sum;
  if (s.reduction === "mean") out[0] = sum / weights;
}

const NLL_LOSS: OpDef = {
  attributes: ["reduction", "ignore_index"],
  infer(n, ins) {
    const s = lossShape(n, ins);
    return [meta("float32", s.reduction === "none" ? s.dims : [])];
  },
  build(n, ins, outs) {
    const s = lossShape(n, ins), x = ins[0]!.data as Float32Array;
    const t = ins[1]!.data as Int32Array | BigInt64Array;
    const w = (ins[2]?.data ?? null) as Float32Array | null, y = outs[0].data as Float32Array;
    return { native: false, run: () => nll(n, x, t, w, s, y) };
  },
};

const SCE_LOSS: OpDef = {
  attributes: ["reduction", "ignore_index"],
  infer(n, ins) {
    const s = lossShape(n, ins);
    const loss = meta("float32", s.reduction === "none" ? s.dims : []);
    return [loss, meta("float32", ins[0]!.dims)];
  },
  build(n, ins, outs) {
    const s = lossShape(n, ins), x = ins[0]!.data as Float32Array;
    const t = ins[1]!.data as Int32Array | BigInt64Array;
    const w = (ins[2]?.data ?? null) as Float32Array | null, y = outs[0].data as Float32Array;
    // log_softmax along C into the second output (or our own buffer when it is not asked for).
    const lp = askedOutput(outs, 1) ?? new Float32Array(x.length);
    const { N, C, D } = s;
    return {
      native: false,
      run: () => {
        for (let b = 0; b < N; b++) {
          for (let d = 0; d < D; d++) {
            let max = -Infinity, total = 0;
            for (let c = 0; c < C; c++) max = Math.max(max, x[(b * C + c) * D + d]);
            for (let c = 0; c < C; c++) total += Math.exp(x[(b * C + c) * D + d] - max);
            const log = Math.log(total) + max;
            for (let c = 0; c < C; c++) lp[(b * C + c) * D + d] = x[(b * C + c) * D + d] - log;
          }
        }
        nll(n, lp, t, w, s, y);
      },
    };
  },
};

/** The loss definitions. */
export const LOSS_OPS: Record<string, OpDef> = {
  NegativeLogLikelihoodLoss: NLL_LOSS,
  SoftmaxCrossEntropyLoss: SCE_LOSS,
};
