/**
 * A tree ensemble as converters write XGBoost's and LightGBM's
 * (TreeEnsembleRegressor, BRANCH_LEQ full trees, one target, SUM) against
 * onnxruntime-node in the same process: `run` at 1 thread taking turns
 * after 200 ms of warm-up each (V8 optimizes the TypeScript steps
 * meanwhile), at 2 in blocks after an idle pause (a peer's spinning pool
 * takes the cores from whoever runs next: bench/timing.ts), median ms, for
 * a row at a time and for batches. `--at DIR` times
 * another checkout's module (a directory holding one) beside ORT.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/trees.ts [--trees 100] [--depth 6] [--rows 1,100,10000] [--runs 15]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { forest, rng } from "../tools/ml_forest.ts";
import { sleepMs } from "./timing.ts";

const { values } = parseArgs({
  options: {
    trees: { type: "string", default: "100" },
    depth: { type: "string", default: "6" },
    features: { type: "string", default: "8" },
    rows: { type: "string", default: "1,100,10000" },
    runs: { type: "string", default: "15" },
    at: { type: "string" },
  },
});
const root = values.at
  ? new URL(`file://${Deno.realPathSync(values.at)}/`)
  : new URL("../", import.meta.url);
const { InferenceSession, Tensor } = await import(new URL("mod.ts", root).href);
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.error(`onnxruntime-node is not available (${(e as Error).message}): ours only`);
}

const trees = Number(values.trees), depth = Number(values.depth), cols = Number(values.features);
const rand = rng(12345);
const g = new GraphBuilder(17);
g.extraOpsets = [["ai.onnx.ml", 3]];
g.input("X", "float32", ["N", cols]);
g.node("TreeEnsembleRegressor", ["X"], ["Y"], {
  ...forest(12346, trees, depth, cols, "target", (r) => [[0, r()]], ["BRANCH_LEQ"], false),
  n_targets: 1,
  aggregate_function: "SUM",
}, "ai.onnx.ml");
g.output("Y");
const bytes = g.toBytes();
const median = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1];

for (const rows of values.rows.split(",").map(Number)) {
  const x = Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1);
  for (const threads of [1, 2]) {
    const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
    const theirs = ort
      ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads })
      : null;
    const feeds = { X: new Tensor("float32", x, [rows, cols]) };
    const theirFeeds = ort ? { X: new ort.Tensor("float32", x, [rows, cols]) } : null;
    const t: number[] = [], o: number[] = [];
    const run = (s: typeof ours) => s.run(s === ours ? feeds : theirFeeds);
    if (threads === 1) {
      // One thread: turns run by run, after 200 ms of warm-up each (V8 has optimized the
      // TypeScript steps before timing).
      for (const s of [ours, theirs]) {
        const t0 = performance.now();
        while (s && performance.now() - t0 < 200) await run(s);
      }
      for (let i = 0; i < Number(values.runs); i++) {
        let t0 = performance.now();
        await ours.run(feeds);
        t.push(performance.now() - t0);
        if (!theirs) continue;
        t0 = performance.now();
        await theirs.run(theirFeeds);
        o.push(performance.now() - t0);
      }
    } else {
      // More threads: a peer's pool spins after its run and takes the cores from whoever runs
      // next, so each session runs in blocks, each after an idle pause and a warm-up
      // (bench/timing.ts); a block's median per round.
      for (let round = 0; round < 5; round++) {
        for (const [s, into] of [[ours, t], [theirs, o]] as const) {
          if (!s) continue;
          sleepMs(100);
          const t0 = performance.now();
          while (performance.now() - t0 < 100) await run(s);
          const block: number[] = [];
          for (let i = 0; i < Number(values.runs); i++) {
            const t1 = performance.now();
            await run(s);
            block.push(performance.now() - t1);
          }
          into.push(median(block));
        }
      }
    }
    const ms = median(t), their = theirs ? median(o) : NaN;
    console.log(
      `${trees} trees of depth ${depth}, ${rows} row(s), ${threads}T: ours ${ms.toFixed(3)} ms${
        theirs ? `, ORT ${their.toFixed(3)} ms, ×${(their / ms).toFixed(2)}` : ""
      }`,
    );
    await ours.release();
    await theirs?.release();
  }
}
