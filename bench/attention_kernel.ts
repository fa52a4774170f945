/**
 * `jit.attention` against the same heads as three calls — the scores GEMM
 * (scale and mask in its epilogue), the softmax, the output GEMM — as the
 * graph ran them before the DotProductAttention fusion: BERT's heads (12 ×
 * 64, a key padding mask), q, k, v and y as [tokens, heads·64], the two
 * alternating in rounds, medians; % of the FMA peak measured in the same run.
 * `--fresh`: before each timed call three 768×768 GEMMs write q, k and v
 * (as a layer's projections do), or `--fresh other` other arrays (the
 * caches they leave, the inputs untouched).
 *
 * `--heads H --queries Q`: other heads, and fewer query rows than keys
 * (a decode step: `--heads 32 --seq 257 --queries 1`).
 *
 *   deno run -A bench/attention_kernel.ts [--seq 128] [--threads 1] [--rounds 6] [--fresh [other]]
 *     [--heads 12] [--queries S]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit, measurePeak } from "../mod.ts";
import { seededFloats } from "../tools/onnx_writer.ts";

const { values, positionals } = parseArgs({
  options: {
    seq: { type: "string", default: "128" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "6" },
    fresh: { type: "boolean", default: false },
    heads: { type: "string", default: "12" },
    queries: { type: "string" },
  },
  allowPositionals: true,
});
const fresh = values.fresh ? (positionals[0] === "other" ? "other" : "inputs") : null;
const T = Number(values.seq), S = Number(values.queries ?? values.seq);
const threads = Number(values.threads), H = Number(values.heads), D = 64, W = H * D;
using jit = new Jit({ threads });
const q = seededFloats(S * W, 1), k = seededFloats(T * W, 2), v = seededFloats(T * W, 3);
const mask = Float32Array.from(seededFloats(T, 4), (x) => (x > 0.8 ? -10000 : 0));
const y = new Float32Array(S * W), scores = new Float32Array(H * S * T);
const fused = () =>
  jit.attention(q, k, v, y, {
    batch: 1,
    heads: H,
    queries: S,
    keys: T,
    headSize: D,
    scale: 0.125,
    bias: mask,
    biasShape: [1, 1, 1],
  });
const scoresOptions = {
  m: S,
  n: T,
  k: D,
  transB: true,
  alpha: 0.125,
  lda: W,
  ldb: W,
  ldc: T,
  bias: mask,
  batch: H,
  strideA: D,
  strideB: D,
  strideC: S * T,
};
const outOptions = {
  m: S,
  n: D,
  k: T,
  lda: T,
  ldb: W,
  ldc: W,
  batch: H,
  strideA: S * T,
  strideB: D,
  strideC: D,
};
const softmax = { rows: H * S, cols: T };
const unfused = () => {
  jit.gemm(q, k, scores, scoresOptions);
  jit.softmax(scores, scores, softmax);
  jit.gemm(scores, v, y, outOptions);
};
const flops = 2 * 2 * H * S * T * D;
// --fresh: x (S × 768) times three packed 768² weights (12 heads), into q, k, v or other arrays.
const x = seededFloats(S * W, 5), pb = seededFloats(W, 6);
const weights = fresh === null
  ? []
  : [7, 8, 9].map((seed) => jit.packB(seededFloats(W * W, seed), { k: W, n: W, layout: "panels" }));
if (fresh !== null && S !== T) throw new Error("--fresh needs as many queries as keys");
const outs = fresh === "other" ? [0, 1, 2].map(() => new Float32Array(S * W)) : [q, k, v];
const projections = () => {
  for (let i = 0; i < 3; i++) jit.gemm(x, weights[i], outs[i], { m: S, n: W, k: W, bias: pb });
};
jit.holdWorkers(true);
const times: number[][] = [[], []];
const calls = Math.max(20, Math.round(2e5 / (S * T)));
for (let r = 0; r < Number(values.rounds); r++) {
  [fused, unfused].forEach((f, i) => {
    for (let w = 0; w < 5; w++) f();
    for (let c = 0; c < calls; c++) {
      if (fresh !== null) projections();
      const t0 = performance.now();
      f();
      times[i].push(performance.now() - t0);
    }
  });
}
jit.holdWorkers(false);
const peak = measurePeak(20, threads).peakGflops;
const median = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1];
const [a, b] = times.map(median);
const pct = (ms: number) => (100 * flops / (ms * 1e6) / peak).toFixed(1);
console.log(
  `${H} heads × ${S} queries × ${T} keys × ${D}, ${threads} thread(s), FMA peak ${
    peak.toFixed(0)
  } GFLOPS${
    fresh === null ? "" : `, after GEMMs writing ${fresh === "other" ? "other arrays" : "q, k, v"}`
  }\n` +
    `jit.attention           ${(a * 1000).toFixed(1)} µs (${pct(a)}% of the peak)\n` +
    `GEMM, softmax, GEMM     ${(b * 1000).toFixed(1)} µs (${pct(b)}%)\n` +
    `×${
      (b / a).toFixed(2)
    }; workspace against the scores array: ${(jit.stats().keys.find((x) => x.family === "attention")
      ?.plan ?? "")}, scores ${(scores.byteLength / 2 ** 20).toFixed(1)} MiB`,
);
