/**
 * An MLP (784-1024-1024-10, ReLU, softmax) through the JIT at batch 1 and
 * 64: each Linear layer is one GEMM with its bias and ReLU fused, weights
 * packed once; then softmax. Per-op timings (median) beside the TypeScript
 * reference doing the same work, and the largest difference between them.
 * Weights come from a fixed seed.
 *
 *   deno task mlp [--threads N] [--json]   (default: the CPUs this process may use)
 */
import { parseArgs } from "node:util";
import { gemmReference, Jit } from "../mod.ts";
import { softmaxReference } from "../src/kernels/softmax/mod.ts";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
    threads: { type: "string" },
  },
});
if (values.help) {
  console.log("usage: deno task mlp [--threads N] [--json]");
  Deno.exit(0);
}
const threads = values.threads === undefined ? undefined : Number(values.threads);

/** mulberry32: the same weights on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SIZES = [784, 1024, 1024, 10];
const r = rng(2026);
/** Glorot-uniform weights, stored as a Linear layer stores them: out×in (Bᵀ). */
const layers = SIZES.slice(1).map((out, i) => {
  const inp = SIZES[i], limit = Math.sqrt(6 / (inp + out));
  return {
    inp,
    out,
    w: new Float32Array(out * inp).map(() => (r() * 2 - 1) * limit),
    b: new Float32Array(out).map(() => (r() * 2 - 1) * 0.1),
    relu: i < SIZES.length - 2,
  };
});

using jit = new Jit({ profile: false, threads });
// Weights packed once, in column panels: what a GEMM of few rows streams fastest (a model's layout).
const packed = layers.map((l) =>
  jit.packB(l.w, { k: l.inp, n: l.out, transB: true, layout: "panels" })
);

function median(f: () => void, minMs = 200): number {
  f();
  const times: number[] = [];
  const until = performance.now() + minMs;
  while (times.length < 5 || (performance.now() < until && times.length < 200)) {
    const t0 = performance.now();
    f();
    times.push((performance.now() - t0) * 1000);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

interface Row {
  batch: number;
  op: string;
  jitUs: number;
  referenceUs: number;
}
const rows: Row[] = [];
const results: Record<number, number> = {};
for (const batch of [1, 64]) {
  const x = new Float32Array(batch * 784).map(() => r());
  const acts = layers.map((l) => new Float32Array(batch * l.out));
  const refActs = layers.map((l) => new Float32Array(batch * l.out));
  const probs = new Float32Array(batch * 10), refProbs = new Float32Array(batch * 10);
  const jitOps = layers.map((l, i) => () =>
    jit.gemm(i === 0 ? x : acts[i - 1], packed[i], acts[i], {
      m: batch,
      n: l.out,
      k: l.inp,
      bias: l.b,
      activation: l.relu ? "relu" : undefined,
    })
  );
  const refOps = layers.map((l, i) => () => {
    const out = refActs[i];
    gemmReference(i === 0 ? x : refActs[i - 1], l.w, out, {
      m: batch,
      n: l.out,
      k: l.inp,
      transA: false,
      transB: true,
      lda: l.inp,
      ldb: l.inp,
      ldc: l.out,
      alpha: 1,
      beta: 0,
    });
    for (let j = 0; j < out.length; j++) {
      const v = out[j] + l.b[j % l.out];
      out[j] = l.relu ? Math.max(0, v) : v;
    }
  });
  const softmax = () => jit.softmax(acts[2], probs, { rows: batch, cols: 10 });
  const refSoftmax = () =>
    softmaxReference({ rows: batch, cols: 10, log: false }, refActs[2], refProbs);
  layers.forEach((l, i) => {
    rows.push({
      batch,
      op: `linear ${l.inp}→${l.out}${l.relu ? " + bias + relu" : " + bias"}`,
      jitUs: median(jitOps[i]),
      referenceUs: median(refOps[i], batch > 1 ? 300 : 100),
    });
  });
  rows.push({ batch, op: "softmax 10", jitUs: median(softmax), referenceUs: median(refSoftmax) });
  const whole = () => {
    for (const f of jitOps) f();
    softmax();
  };
  const wholeRef = () => {
    for (const f of refOps) f();
    refSoftmax();
  };
  rows.push({
    batch,
    op: "whole forward",
    jitUs: median(whole),
    referenceUs: median(wholeRef, 300),
  });
  let worst = 0;
  for (let i = 0; i < probs.length; i++) worst = Math.max(worst, Math.abs(probs[i] - refProbs[i]));
  results[batch] = worst;
}

if (values.json) {
  console.log(
    JSON.stringify(
      { isa: jit.isa, threads: jit.threads, rows, maxProbabilityDifference: results },
      null,
      2,
    ),
  );
} else {
  console.log(
    `MLP 784-1024-1024-10 on ${jit.isa}, ${jit.threads} thread${
      jit.threads > 1 ? "s" : ""
    } (median µs per call; the TypeScript reference on 1)`,
  );
  console.log("batch  op                                 JIT µs   TypeScript µs   speedup");
  for (const row of rows) {
    console.log(
      [
        String(row.batch).padStart(5),
        row.op.padEnd(32),
        row.jitUs.toFixed(1).padStart(9),
        row.referenceUs.toFixed(0).padStart(15),
        `${(row.referenceUs / row.jitUs).toFixed(0)}×`.padStart(9),
      ].join("  "),
    );
  }
  for (const [batch, worst] of Object.entries(results)) {
    console.log(
      `batch ${batch}: largest |JIT − reference| over the probabilities: ${worst.toExponential(2)}`,
    );
  }
}
