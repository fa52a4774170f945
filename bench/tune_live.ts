/**
 * Tier 2 on a model's plain `run` loop (the ORT API, no tuning option),
 * against the same model with tuning off (`tuneBudget: 0`), runs
 * alternating: the median ms of the first and the last 50 runs of each,
 * and per kernel its tier, tuning state, gain and spent/allowed µs.
 *
 *   deno run -A bench/tune_live.ts [--model cnn|bert|mlp64] [--threads N] [--runs 400]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { encoderLayer, mlp, resnetCnn, type ZooModel } from "../tools/model_zoo.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "cnn" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "400" },
  },
});
const MODELS: Record<string, () => ZooModel> = {
  cnn: () => resnetCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000 }),
  bert: () => encoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072 }),
  mlp64: () => mlp([784, 1024, 1024, 10], 64),
};
const make = MODELS[values.model];
if (!make) throw new Error(`--model: one of ${Object.keys(MODELS).join(", ")}`);
const m = make(), runs = Number(values.runs);
const threads = Number(values.threads);
const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: threads });
const off = await InferenceSession.create(m.bytes, { intraOpNumThreads: threads, tuneBudget: 0 });
const feeds: Record<string, Tensor> = {};
for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
const t0 = performance.now(), times: number[] = [], base: number[] = [];
for (let i = 0; i < runs; i++) {
  for (const [session, into] of [[s, times], [off, base]] as const) {
    const t = performance.now();
    await session.run(feeds);
    into.push(performance.now() - t);
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
const f = (x: number[]) => `${med(x.slice(0, 50)).toFixed(2)} → ${med(x.slice(-50)).toFixed(2)} ms`;
const gain = med(base.slice(-50)) / med(times.slice(-50));
console.log(
  `${m.name}, ${threads} thread(s), first 50 → last 50 of ${runs} runs each, alternating: ` +
    `tuning on ${f(times)}, off ${f(base)}; last 50 ×${gain.toFixed(2)} ` +
    `(${((performance.now() - t0) / 1000).toFixed(1)} s, ${s.tuningPending} kernels still tuning)`,
);
for (const k of s.kernelStats().keys.slice(0, 12)) {
  const t = k.tuning;
  console.log(
    `${k.key.slice(0, 66).padEnd(67)} tier ${k.tier}  ${(t?.state ?? "-").padEnd(9)} ${
      t?.gain ? `×${t.gain.toFixed(2)}` : "     "
    }  spent ${(t?.spentUs ?? 0).toFixed(0).padStart(6)} / ${(t?.budgetUs ?? 0).toFixed(0)} µs`,
  );
}
await s.release();
await off.release();
