/**
 * A support vector classifier as scikit-learn's SVC converts (SVMClassifier,
 * RBF kernel, three classes, one-against-one) against onnxruntime-node in
 * the same process: `run` at 1 thread taking turns after 200 ms of warm-up
 * each, at 2 in blocks after an idle pause (a peer's spinning pool takes
 * the cores from whoever runs next: bench/timing.ts), median ms, for a row
 * at a time and for batches. `--at DIR` times another checkout's module (a
 * directory holding one) beside ORT.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/svm.ts [--vectors 300] [--features 20] [--rows 1,100,10000] [--runs 15]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fs, GraphBuilder } from "../tools/onnx_writer.ts";
import { rng } from "../tools/ml_forest.ts";
import { sleepMs } from "./timing.ts";

const { values } = parseArgs({
  options: {
    vectors: { type: "string", default: "300" },
    features: { type: "string", default: "20" },
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

const vectors = Number(values.vectors), cols = Number(values.features), classes = 3;
const rand = rng(12345);
const g = new GraphBuilder(17);
g.extraOpsets = [["ai.onnx.ml", 3]];
g.input("X", "float32", ["N", cols]);
const per = Math.floor(vectors / classes);
g.node("SVMClassifier", ["X"], ["label", "scores"], {
  classlabels_ints: [0, 1, 2],
  kernel_type: "RBF",
  kernel_params: fs([1 / cols, 0, 3]),
  vectors_per_class: [per, per, per],
  support_vectors: fs(Array.from({ length: 3 * per * cols }, () => rand() * 2 - 1)),
  coefficients: fs(Array.from({ length: 2 * 3 * per }, () => rand() * 2 - 1)),
  rho: fs([0.1, -0.2, 0.05]),
}, "ai.onnx.ml");
g.output("label", "int64");
g.output("scores", "float32");
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
      `SVMClassifier RBF, 3 classes, ${
        3 * per
      } support vectors of ${cols}, ${rows} row(s), ${threads}T: ours ${ms.toFixed(3)} ms${
        theirs ? `, ORT ${their.toFixed(3)} ms, ×${(their / ms).toFixed(2)}` : ""
      }`,
    );
    await ours.release();
    await theirs?.release();
  }
}
