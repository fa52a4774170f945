/**
 * Writes a few ONNX-ML models (tree ensembles of opsets 3 and 5, an
 * SVMClassifier with probabilities, a LinearClassifier; string class labels
 * and a ZipMap output; a string input into the encoders) with an input each,
 * in the layout of ONNX's node tests (`<dir>/<case>/model.onnx`,
 * `test_data_set_0/input_0.pb`), for the files fuzzer to damage:
 *
 *   deno run -A tools/ml_node_data.ts /tmp/mlfuzz
 *   deno run -A tools/fuzz/main.ts files --dir /tmp/mlfuzz --count 30000
 *
 * @module
 */
import { type AttrValue, fs, GraphBuilder, Message, tensorMessage } from "./onnx_writer.ts";
import { forest } from "./ml_forest.ts";

const dir = Deno.args[0];
if (!dir) {
  console.error("usage: deno run -A tools/ml_node_data.ts DIR");
  Deno.exit(2);
}

const x = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i) * 1.5);

/** A model of one ai.onnx.ml node on X [10, 4], written as case `name` with X as its input. */
function write(
  name: string,
  op: string,
  attrs: Record<string, AttrValue>,
  outs: [string, "float32" | "int64"][],
  opset: number,
): void {
  const g = new GraphBuilder(17);
  g.extraOpsets = [["ai.onnx.ml", opset]];
  g.input("X", "float32", [10, 4]);
  g.node(op, ["X"], outs.map(([n]) => n), attrs, "ai.onnx.ml");
  for (const [n, t] of outs) g.output(n, t);
  Deno.mkdirSync(`${dir}/${name}/test_data_set_0`, { recursive: true });
  Deno.writeFileSync(`${dir}/${name}/model.onnx`, g.toBytes());
  const input = tensorMessage("X", { type: "float32", dims: [10, 4], data: x });
  Deno.writeFileSync(`${dir}/${name}/test_data_set_0/input_0.pb`, input.done());
  written++;
}

let written = 0;

const labels = (r: () => number): [number, number][] => [[Math.floor(r() * 3), r()]];
write(
  "regressor",
  "TreeEnsembleRegressor",
  {
    ...forest(1, 4, 3, 4, "target", (r) => [[0, r()], [1, r()]]),
    n_targets: 2,
  },
  [["Y", "float32"]],
  3,
);
write(
  "classifier",
  "TreeEnsembleClassifier",
  {
    ...forest(2, 4, 3, 4, "class", labels),
    classlabels_int64s: [1, 2, 3],
  },
  [["label", "int64"], ["scores", "float32"]],
  3,
);
// One test for every branch, missing values tracked (XGBoost's form): walked by treeLeaves.
write(
  "regressor_walks",
  "TreeEnsembleRegressor",
  {
    ...forest(3, 4, 3, 4, "target", (r) => [[0, r()]], ["BRANCH_LT"], true),
    n_targets: 1,
  },
  [["Y", "float32"]],
  3,
);
write(
  "classifier_walks",
  "TreeEnsembleClassifier",
  {
    ...forest(4, 4, 3, 4, "class", labels, ["BRANCH_LEQ"], false),
    classlabels_int64s: [1, 2, 3],
  },
  [["label", "int64"], ["scores", "float32"]],
  3,
);
write(
  "svm",
  "SVMClassifier",
  {
    classlabels_ints: [0, 1, 2],
    kernel_type: "RBF",
    kernel_params: fs([0.5, 0, 2]),
    vectors_per_class: [2, 2, 2],
    support_vectors: fs(Array.from({ length: 24 }, (_, i) => Math.cos(i))),
    coefficients: fs(Array.from({ length: 12 }, (_, i) => Math.sin(i))),
    rho: fs([0.1, 0.2, 0.3]),
    prob_a: fs([1, 2, 3]),
    prob_b: fs([0, 0.1, 0.2]),
  },
  [["label", "int64"], ["scores", "float32"]],
  1,
);
write(
  "linear",
  "LinearClassifier",
  {
    classlabels_ints: [4, 5, 6],
    coefficients: fs(Array.from({ length: 12 }, (_, i) => i / 7)),
    intercepts: fs([0, 1, 2]),
    post_transform: "SOFTMAX",
  },
  [["label", "int64"], ["scores", "float32"]],
  1,
);
const tensor = (type: "float32" | "uint8", data: number[]) => ({
  tensor: { type, dims: [data.length], data },
});
write(
  "ensemble",
  "TreeEnsemble",
  {
    n_targets: 1,
    aggregate_function: 1,
    post_transform: 0,
    tree_roots: [0],
    nodes_featureids: [0, 1],
    nodes_modes: tensor("uint8", [0, 6]),
    nodes_splits: tensor("float32", [0, NaN]),
    nodes_truenodeids: [1, 0],
    nodes_trueleafs: [0, 1],
    nodes_falsenodeids: [0, 1],
    nodes_falseleafs: [1, 1],
    membership_values: tensor("float32", [0, 1, NaN]),
    leaf_targetids: [0, 0],
    leaf_weights: tensor("float32", [1, 2]),
  },
  [["Y", "float32"]],
  5,
);
// String labels and ZipMap's sequence of maps, as scikit-learn's converter ends a classifier.
{
  const g = new GraphBuilder(17);
  g.extraOpsets = [["ai.onnx.ml", 1]];
  g.input("X", "float32", [10, 4]);
  g.node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], {
    ...forest(5, 4, 3, 4, "class", labels, ["BRANCH_LEQ"], false),
    classlabels_strings: ["a", "b", "c"],
  }, "ai.onnx.ml");
  g.node(
    "ZipMap",
    ["probabilities"],
    ["zip"],
    { classlabels_strings: ["a", "b", "c"] },
    "ai.onnx.ml",
  );
  g.output("label", "string");
  g.mapSequenceOutput("zip", "string");
  Deno.mkdirSync(`${dir}/string_labels/test_data_set_0`, { recursive: true });
  Deno.writeFileSync(`${dir}/string_labels/model.onnx`, g.toBytes());
  const input = tensorMessage("X", { type: "float32", dims: [10, 4], data: x });
  Deno.writeFileSync(`${dir}/string_labels/test_data_set_0/input_0.pb`, input.done());
  written++;
}
// A string input into OneHotEncoder and LabelEncoder.
{
  const g = new GraphBuilder(17);
  g.extraOpsets = [["ai.onnx.ml", 2]];
  g.input("C", "string", [6]);
  g.node("OneHotEncoder", ["C"], ["H"], { cats_strings: ["red", "green", "blue"] }, "ai.onnx.ml");
  g.node("LabelEncoder", ["C"], ["L"], {
    keys_strings: ["green", "pink"],
    values_int64s: [1, 2],
  }, "ai.onnx.ml");
  g.output("H");
  g.output("L", "int64");
  Deno.mkdirSync(`${dir}/string_input/test_data_set_0`, { recursive: true });
  Deno.writeFileSync(`${dir}/string_input/model.onnx`, g.toBytes());
  // A STRING TensorProto: dims (1), data_type 8 (2), string_data (6), name (8).
  const input = new Message().varint(1, 6).varint(2, 8);
  for (const c of ["red", "blue", "teal", "green", "", "pink"]) input.string(6, c);
  input.string(8, "C");
  Deno.writeFileSync(`${dir}/string_input/test_data_set_0/input_0.pb`, input.done());
  written++;
}
console.log(`${written} ONNX-ML cases under ${dir}`);
