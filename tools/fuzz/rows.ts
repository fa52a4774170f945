/**
 * Row ops (softmax, logSoftmax, layerNorm with and without a residual,
 * rmsNorm, every reduction) on 1-300 rows of 1-40000 columns, rows like
 * 1e4 + noise, a NaN or ±Inf in one case of seven: the same bits at any x,
 * y and residual offset (their line-dependent paths), any thread count and
 * through tuning, as the call on one thread with its operands at offset 0.
 *
 * @module
 */
import { Jit } from "../../mod.ts";
import {
  type CaseResult,
  firstBitDifference,
  type FuzzOptions,
  int,
  type JitSet,
  pick,
  place,
  rng,
} from "./shared.ts";

const OPS = [
  "softmax",
  "logSoftmax",
  "layerNorm",
  "layerNormResidual",
  "rmsNorm",
  "sum",
  "mean",
  "max",
  "min",
  "sumSquare",
  "l2",
  "logSumExp",
] as const;
type RowOp = typeof OPS[number];

interface Operands {
  scale?: Float32Array;
  bias?: Float32Array;
  residual: Float32Array;
  epsilon: number;
}

function call(
  jit: Jit,
  op: RowOp,
  x: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  e: Operands,
): void {
  if (op === "softmax" || op === "logSoftmax") {
    return jit.softmax(x, y, { rows, cols, log: op === "logSoftmax" });
  }
  if (op === "layerNorm" || op === "layerNormResidual") {
    const residual = op === "layerNormResidual" ? e.residual : undefined;
    return jit.layerNorm(x, y, {
      rows,
      cols,
      scale: e.scale,
      bias: e.bias,
      epsilon: e.epsilon,
      residual,
    });
  }
  if (op === "rmsNorm") {
    return jit.rmsNorm(x, y, { rows, cols, scale: e.scale, epsilon: e.epsilon });
  }
  return jit.reduce(op, x, y, { rows, cols });
}

/** One seeded row-op case. */
export function rowsCase(seed: number, jits: JitSet, options: FuzzOptions): CaseResult {
  const r = rng(seed);
  const op = pick(r, OPS);
  const rows = pick(r, [1, 2, int(r, 1, 40), int(r, 1, 300), 16, 17, 64]);
  const cols = pick(r, [
    1,
    2,
    7,
    15,
    16,
    17,
    31,
    33,
    48,
    49,
    64,
    100,
    127,
    128,
    129,
    255,
    256,
    257,
    768,
    1000,
    1023,
    1025,
    int(r, 1, 3000),
    30522, // a vocabulary: softmax rows beyond L1 (lagged, the next row's maximum in pass 2)
    int(r, 6000, 40000),
  ]);
  if (rows * cols > 3e6) return null;
  const reduce = !["softmax", "logSoftmax", "layerNorm", "layerNormResidual", "rmsNorm"].includes(
    op,
  );
  const spread = pick(r, [1, 1, 10, 1e4]);
  const x = Float32Array.from(
    { length: rows * cols },
    () => (r() * 2 - 1) * spread + pick(r, [0, 0, 1e4]),
  );
  if (r() < 0.15) x[int(r, 0, x.length - 1)] = pick(r, [NaN, Infinity, -Infinity]);
  const e: Operands = {
    scale: r() < 0.7 ? Float32Array.from({ length: cols }, () => r() * 2) : undefined,
    bias: r() < 0.6 ? Float32Array.from({ length: cols }, () => r() - 0.5) : undefined,
    residual: Float32Array.from({ length: rows * cols }, () => r() - 0.5),
    epsilon: pick(r, [1e-5, 1e-12, 0.1]),
  };
  const ny = reduce ? rows : rows * cols;
  const label = `rows seed ${seed} ${op} ${rows}×${cols}`;
  try {
    const base = new Float32Array(ny);
    call(jits.get(1), op, x, base, rows, cols, e);
    if (r() < 0.25) {
      // Every split candidate runs its parts (minPartUs 0; see conv.ts).
      using tuned = new Jit({ threads: int(r, 1, 3), maxIsa: options.isa, minPartUs: 0 });
      tuned.warmup(true);
      const y = new Float32Array(ny);
      for (let k = 0; k < 80; k++) {
        y.fill(NaN);
        call(tuned, op, x, y, rows, cols, e);
        const at = firstBitDifference(y, base);
        if (at >= 0) return `${label}: tuned call ${k} y[${at}] = ${y[at]}, first call ${base[at]}`;
        if (k > 5 && tuned.stats().keys.every((q) => !q.tuning || q.tuning.state === "done")) break;
      }
      // A candidate that could not be built is a plan its family should not have offered.
      for (const q of tuned.stats().keys) {
        const failed = q.tuning?.candidates.find((c) => c.failure !== null);
        if (failed) return `${label}: candidate ${failed.plan} failed: ${failed.failure}`;
      }
    }
    for (let k = 0; k < 2; k++) {
      const threads = int(r, 1, 3);
      const xs = place(r, x), y = place(r, new Float32Array(ny).fill(777));
      call(jits.get(threads), op, xs, y, rows, cols, { ...e, residual: place(r, e.residual) });
      const at = firstBitDifference(y, base);
      if (at >= 0) {
        return `${label}: threads ${threads}, x at +${xs.byteOffset / 4}, y at +${
          y.byteOffset / 4
        }: y[${at}] = ${y[at]}, one thread at +0 ${base[at]}`;
      }
    }
    return null;
  } catch (err) {
    return `${label}: threw ${err}`;
  }
}
