/**
 * A tree ensemble as converters write XGBoost's and LightGBM's
 * (TreeEnsembleRegressor, BRANCH_LEQ full trees, one target, SUM) against
 * onnxruntime-node in the same process: `run` taking turns, median ms, at
 * 1 and 2 threads, for a row at a time and for a batch. `--at DIR` times
 * another checkout's module (a directory holding one) beside ORT.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/trees.ts [--trees 100] [--depth 6] [--rows 1,10000] [--runs 15]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fs, GraphBuilder } from "../tools/onnx_writer.ts";

const { values } = parseArgs({
  options: {
    trees: { type: "string", default: "100" },
    depth: { type: "string", default: "6" },
    features: { type: "string", default: "8" },
    rows: { type: "string", default: "1,10000" },
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
let seed = 12345;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const a = {
  nodes_treeids: [] as number[],
  nodes_nodeids: [] as number[],
  nodes_featureids: [] as number[],
  nodes_modes: [] as string[],
  nodes_values: [] as number[],
  nodes_truenodeids: [] as number[],
  nodes_falsenodeids: [] as number[],
  target_ids: [] as number[],
  target_treeids: [] as number[],
  target_nodeids: [] as number[],
  target_weights: [] as number[],
};
const inner = 2 ** depth - 1, count = 2 ** (depth + 1) - 1;
for (let t = 0; t < trees; t++) {
  for (let i = 0; i < count; i++) {
    const leaf = i >= inner;
    a.nodes_treeids.push(t);
    a.nodes_nodeids.push(i);
    a.nodes_featureids.push(leaf ? 0 : Math.floor(rand() * cols));
    a.nodes_modes.push(leaf ? "LEAF" : "BRANCH_LEQ");
    a.nodes_values.push(leaf ? 0 : rand() * 2 - 1);
    a.nodes_truenodeids.push(leaf ? 0 : 2 * i + 1);
    a.nodes_falsenodeids.push(leaf ? 0 : 2 * i + 2);
    if (!leaf) continue;
    a.target_ids.push(0);
    a.target_treeids.push(t);
    a.target_nodeids.push(i);
    a.target_weights.push(rand());
  }
}
const g = new GraphBuilder(17);
g.extraOpsets = [["ai.onnx.ml", 3]];
g.input("X", "float32", ["N", cols]);
g.node("TreeEnsembleRegressor", ["X"], ["Y"], {
  ...a,
  nodes_values: fs(a.nodes_values),
  target_weights: fs(a.target_weights),
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
    for (let i = 0; i < 3; i++) {
      await ours.run(feeds);
      await theirs?.run(theirFeeds);
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
