/**
 * ONNX-ML models as converters write scikit-learn's, XGBoost's and
 * LightGBM's, against onnxruntime-node in the same process: `run` at 1
 * thread taking turns after 200 ms of warm-up each (V8 optimizes the
 * TypeScript steps meanwhile), at 2 in blocks after an idle pause (a peer's
 * spinning pool takes the cores from whoever runs next: bench/timing.ts),
 * median ms, for a row at a time and for batches. `--at DIR` times another
 * checkout's module (a directory holding one) beside ORT.
 *
 * - `trees`: TreeEnsembleRegressor, `--trees` full BRANCH_LEQ trees of `--depth` on
 *   `--features`, one target, SUM (XGBoost's and LightGBM's form).
 * - `mixed`: the same trees, each branch a random test of the six, missing values tracked.
 * - `forest`: TreeEnsembleClassifier of three classes, every leaf voting for each (a random
 *   forest as scikit-learn converts it), the same trees.
 * - `svm`: SVMClassifier, RBF, three classes of `--vectors`/3 support vectors of `--features`.
 * - `svr`: SVMRegressor, RBF, `--vectors` support vectors of `--features`.
 * - `linear`: Scaler then LinearClassifier of five classes on `--features`, SOFTMAX.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/ml.ts [--model trees|mixed|forest|svm|svr|linear|pipeline] [--features N]
 *     [--trees 100] [--depth 6] [--vectors 300] [--rows 1,100,10000] [--runs 15] [--at DIR] [--alone]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { f, fs, GraphBuilder } from "../tools/onnx_writer.ts";
import { forest, rng } from "../tools/ml_forest.ts";
import { sleepMs, takeTurns } from "./timing.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "trees" },
    trees: { type: "string", default: "100" },
    depth: { type: "string", default: "6" },
    vectors: { type: "string", default: "300" },
    features: { type: "string" },
    rows: { type: "string", default: "1,100,10000" },
    runs: { type: "string", default: "15" },
    at: { type: "string" },
    // Ours alone, without onnxruntime's runs between (its data then never evicts ours).
    alone: { type: "boolean", default: false },
  },
});
const root = values.at
  ? new URL(`file://${Deno.realPathSync(values.at)}/`)
  : new URL("../", import.meta.url);
const { InferenceSession, Tensor } = await import(new URL("mod.ts", root).href);
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  if (!values.alone) ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.error(`onnxruntime-node is not available (${(e as Error).message}): ours only`);
}

const ML = "ai.onnx.ml", rand = rng(12345);

/** The model's bytes and its name, X of `cols` features. */
function model(kind: string, cols: number): { bytes: Uint8Array; name: string } {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 3]];
  g.input("X", "float32", ["N", cols]);
  const floats = (n: number, scale = 1) =>
    fs(Array.from({ length: n }, () => (rand() * 2 - 1) * scale));
  if (kind === "trees" || kind === "mixed") {
    const trees = Number(values.trees), depth = Number(values.depth);
    // "mixed": each branch a random test of the six, missing values tracked (the walk by each
    // node's go mask); "trees": BRANCH_LEQ throughout.
    const modes = kind === "mixed" ? undefined : ["BRANCH_LEQ"];
    g.node("TreeEnsembleRegressor", ["X"], ["Y"], {
      ...forest(12346, trees, depth, cols, "target", (r) => [[0, r()]], modes, kind === "mixed"),
      n_targets: 1,
      aggregate_function: "SUM",
    }, ML);
    g.output("Y");
    const what = kind === "mixed" ? "mixed-test trees" : "trees";
    return { bytes: g.toBytes(), name: `${trees} ${what} of depth ${depth} on ${cols} features` };
  }
  if (kind === "forest") {
    // A random forest's classifier as scikit-learn converts it: every leaf votes for every class.
    const trees = Number(values.trees), depth = Number(values.depth);
    g.node("TreeEnsembleClassifier", ["X"], ["label", "scores"], {
      ...forest(12347, trees, depth, cols, "class", (r) => [[0, r()], [1, r()], [2, r()]], [
        "BRANCH_LEQ",
      ], false),
      classlabels_int64s: [0, 1, 2],
      post_transform: "NONE",
    }, ML);
    g.output("label", "int64");
    g.output("scores", "float32");
    return { bytes: g.toBytes(), name: `${trees}-tree classifier of depth ${depth} on ${cols}` };
  }
  if (kind === "svm") {
    const per = Math.floor(Number(values.vectors) / 3);
    g.node("SVMClassifier", ["X"], ["label", "scores"], {
      classlabels_ints: [0, 1, 2],
      kernel_type: "RBF",
      kernel_params: fs([1 / cols, 0, 3]),
      vectors_per_class: [per, per, per],
      support_vectors: floats(3 * per * cols),
      coefficients: floats(2 * 3 * per),
      rho: fs([0.1, -0.2, 0.05]),
    }, ML);
    g.output("label", "int64");
    g.output("scores", "float32");
    return { bytes: g.toBytes(), name: `SVMClassifier RBF, ${3 * per} vectors of ${cols}` };
  }
  if (kind === "svr") {
    const vectors = Number(values.vectors);
    g.node("SVMRegressor", ["X"], ["Y"], {
      kernel_type: "RBF",
      kernel_params: fs([1 / cols, 0, 3]),
      n_supports: vectors,
      support_vectors: floats(vectors * cols),
      coefficients: floats(vectors),
      rho: fs([0.1]),
    }, ML);
    g.output("Y");
    return { bytes: g.toBytes(), name: `SVMRegressor RBF, ${vectors} vectors of ${cols}` };
  }
  if (kind === "linear") {
    g.node("Scaler", ["X"], ["S"], { offset: floats(cols), scale: floats(cols, 2) }, ML);
    g.node("LinearClassifier", ["S"], ["label", "scores"], {
      classlabels_ints: [0, 1, 2, 3, 4],
      coefficients: floats(5 * cols),
      intercepts: floats(5),
      post_transform: "SOFTMAX",
    }, ML);
    g.output("label", "int64");
    g.output("scores", "float32");
    return { bytes: g.toBytes(), name: `Scaler + LinearClassifier of 5 classes on ${cols}` };
  }
  if (kind === "pipeline") {
    g.node(
      "Imputer",
      ["X"],
      ["I"],
      { imputed_value_floats: floats(cols), replaced_value_float: f(0) },
      ML,
    );
    g.node("Normalizer", ["I"], ["N"], { norm: "L2" }, ML);
    g.node("Binarizer", ["N"], ["B"], { threshold: f(0.05) }, ML);
    g.node(
      "LinearRegressor",
      ["B"],
      ["Y"],
      { coefficients: floats(cols), intercepts: floats(1) },
      ML,
    );
    g.output("Y");
    return {
      bytes: g.toBytes(),
      name: `Imputer + Normalizer + Binarizer + LinearRegressor on ${cols}`,
    };
  }
  console.error(`--model is trees, mixed, forest, svm, svr, linear or pipeline, not ${kind}`);
  Deno.exit(2);
}

const cols = Number(
  values.features ??
    {
      trees: 8,
      mixed: 8,
      forest: 8,
      svm: 20,
      svr: 20,
      linear: 100,
      pipeline: 100,
    }[values.model!] ??
    8,
);
const { bytes, name } = model(values.model!, cols);
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
      for (const s of [ours, theirs]) {
        const t0 = performance.now();
        while (s && performance.now() - t0 < 200) await run(s);
      }
      const [a, b] = await takeTurns(
        () => run(ours),
        theirs ? () => run(theirs) : null,
        Number(values.runs),
      );
      t.push(...a);
      o.push(...b);
    } else {
      // Blocks after an idle pause and a warm-up; a block's median per round.
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
      `${name}, ${rows} row(s), ${threads}T: ours ${ms.toFixed(3)} ms${
        theirs ? `, ORT ${their.toFixed(3)} ms, ×${(their / ms).toFixed(2)}` : ""
      }`,
    );
    await ours.release();
    await theirs?.release();
  }
}

/** Create times, the median of five of each (the model's bytes read, checked and planned). */
async function createTimes(): Promise<void> {
  const ours: number[] = [], theirs: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    await (await InferenceSession.create(bytes)).release();
    ours.push(performance.now() - t0);
    if (!ort) continue;
    t0 = performance.now();
    await (await ort.InferenceSession.create(bytes)).release();
    theirs.push(performance.now() - t0);
  }
  console.log(
    `${name}: create ${median(ours).toFixed(1)} ms${
      ort ? `, ORT ${median(theirs).toFixed(1)} ms` : ""
    } (${(bytes.length / 1e6).toFixed(2)} MB)`,
  );
}
await createTimes();
