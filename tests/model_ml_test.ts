/**
 * ONNX-ML (domain ai.onnx.ml) models against onnxruntime: tree ensembles
 * (regressors and classifiers, every aggregate, base values, post
 * transforms, branch modes and missing-value tracks, onnxruntime's two-class
 * cases) and a scikit-learn style pipeline (Imputer, Scaler, Normalizer,
 * Binarizer, ArrayFeatureExtractor, LinearRegressor). Live when
 * onnxruntime-node is installed, else against the committed golden outputs
 * (tests/helpers/golden.ts; NJIT_UPDATE_GOLDEN=1 writes them).
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { type AttrValue, f, fs, GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { forest, rng } from "../tools/ml_forest.ts";
import { checkModel, type Feed } from "./helpers/golden.ts";
import { loadOrt } from "./helpers/ort.ts";

const ML = "ai.onnx.ml";

/** X: rows of features on the thresholds' grid and off it, NaN now and then. */
function features(seed: number, rows: number, cols: number): Feed {
  const r = rng(seed);
  const data = Float32Array.from({ length: rows * cols }, () => {
    const u = r();
    if (u < 0.08) return NaN;
    if (u < 0.4) return Math.round((r() * 2 - 1) * 4) / 4;
    return (r() * 2 - 1) * 1.2;
  });
  return { type: "float32", dims: [rows, cols], data };
}

/** A model of one ai.onnx.ml node on X (ai.onnx imported too unless `mlOnly`). */
function mlModel(
  op: string,
  attrs: Record<string, AttrValue>,
  cols: number,
  outputs: [string, "float32" | "int64" | "string"][],
  mlOnly = false,
): Uint8Array {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 3]];
  g.input("X", "float32", ["N", cols]);
  g.node(op, ["X"], outputs.map(([name]) => name), attrs, ML);
  for (const [name, type] of outputs) g.output(name, type);
  const bytes = g.toBytes();
  if (!mlOnly) return bytes;
  // The same model importing ai.onnx.ml alone (as skl2onnx may write a pure tree model).
  const g2 = new GraphBuilder(17);
  g2.extraOpsets = [[ML, 3]];
  g2.input("X", "float32", ["N", cols]);
  g2.node(op, ["X"], outputs.map(([name]) => name), attrs, ML);
  for (const [name, type] of outputs) g2.output(name, type);
  return withoutDefaultOpset(g2.toBytes());
}

/** The model's bytes with its ai.onnx opset import removed (field 8 whose domain is ""). */
function withoutDefaultOpset(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  const varint = () => {
    let v = 0, shift = 0, b;
    do {
      b = bytes[i++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (i < bytes.length) {
    const start = i, tag = varint(), wire = tag & 7;
    let payload = -1;
    if (wire === 0) varint();
    else if (wire === 2) {
      const length = varint();
      payload = i;
      i += length;
    } else if (wire === 5) i += 4;
    else i += 8;
    // An opset import of the default domain: its domain (field 1) absent or "".
    const isDefault = Math.floor(tag / 8) === 8 &&
      !(bytes[payload] === 0x0a && bytes[payload + 1] > 0);
    if (!isDefault) out.push(...bytes.subarray(start, i));
  }
  return Uint8Array.from(out);
}

for (const agg of ["SUM", "AVERAGE", "MIN", "MAX"]) {
  for (const targets of [1, 3]) {
    Deno.test(`model ml: TreeEnsembleRegressor ${agg}, ${targets} target(s), base values, NaN down tracked branches`, async () => {
      const seed = 700 + targets * 10 + ["SUM", "AVERAGE", "MIN", "MAX"].indexOf(agg);
      const attrs = {
        ...forest(
          seed,
          6,
          3,
          5,
          "target",
          (r) =>
            Array.from({ length: targets }, (_, j) => [j, Math.round((r() * 4 - 2) * 1000) / 1000]),
        ),
        n_targets: targets,
        aggregate_function: agg,
        base_values: fs(Array.from({ length: targets }, (_, j) => 0.25 * (j + 1))),
      };
      const bytes = mlModel("TreeEnsembleRegressor", attrs, 5, [["Y", "float32"]]);
      await checkModel(`ml regressor ${agg} ${targets}`, bytes, { X: features(seed, 40, 5) });
    });
  }
}

// The same through the Jit's walks (every branch BRANCH_LT, missing values tracked): a leaf votes
// for one target, for every one or (of more) for none (a target no vote reached), 41 rows (the
// one-target sum folds rows four at a time, two to four targets two rows at a time, six a row).
for (const agg of ["SUM", "AVERAGE", "MIN", "MAX"]) {
  for (const targets of [1, 3, 4, 6]) {
    Deno.test(`model ml: TreeEnsembleRegressor ${agg}, ${targets} target(s), sparse votes, the Jit's walks`, async () => {
      const seed = 750 + targets * 10 + ["SUM", "AVERAGE", "MIN", "MAX"].indexOf(agg);
      const w = (r: () => number) => Math.round((r() * 4 - 2) * 1000) / 1000;
      const votes = (r: () => number): [number, number][] => {
        const u = r();
        // (With one target onnxruntime 1.30 counts a leaf without a vote as a vote of 0: under
        // MIN and MAX that differs from a leaf that does not vote. Converters give every leaf a
        // value; left out.)
        if (u < 0.2 && targets > 1) return [];
        if (u < 0.6) return [[Math.floor(r() * targets), w(r)]];
        return Array.from({ length: targets }, (_, j) => [j, w(r)]);
      };
      const attrs = {
        ...forest(seed, 6, 3, 5, "target", votes, ["BRANCH_LT"], true),
        n_targets: targets,
        aggregate_function: agg,
        base_values: fs(Array.from({ length: targets }, (_, j) => 0.25 * (j + 1))),
      };
      const bytes = mlModel("TreeEnsembleRegressor", attrs, 5, [["Y", "float32"]]);
      await checkModel(`ml regressor walks ${agg} ${targets}`, bytes, { X: features(seed, 41, 5) });
      const s = await InferenceSession.create(bytes);
      await s.run({ X: new Tensor("float32", features(seed, 41, 5).data, [41, 5]) });
      assert.match(s.report(), /treeLeaves 41×5 through 6 trees/);
      await s.release();
    });
  }
}

Deno.test("model ml: TreeEnsembleRegressor of 3 targets under SOFTMAX, one base value; PROBIT of one target", async () => {
  const soft = {
    ...forest(731, 4, 2, 3, "target", (r) => [[Math.floor(r() * 3), r() * 2 - 1], [2, r()]]),
    n_targets: 3,
    post_transform: "SOFTMAX",
  };
  await checkModel(
    "ml regressor softmax",
    mlModel("TreeEnsembleRegressor", soft, 3, [["Y", "float32"]]),
    { X: features(732, 30, 3) },
  );
  const probit = {
    ...forest(733, 3, 2, 3, "target", (r) => [[0, r() * 0.3]]),
    post_transform: "PROBIT",
    n_targets: 1,
    base_values: fs([0.2]),
  };
  await checkModel(
    "ml regressor probit",
    mlModel("TreeEnsembleRegressor", probit, 3, [["Y", "float32"]]),
    { X: features(734, 30, 3) },
  );
});

/** A classifier's attributes: labels, votes by `votes`, the post transform and base values. */
function classifier(
  seed: number,
  labels: number[],
  votes: (r: () => number) => [number, number][],
  post: string,
  base: number[] | null,
  modes?: string[],
): Record<string, AttrValue> {
  return {
    ...forest(seed, 5, 3, 4, "class", votes, modes),
    classlabels_int64s: labels,
    post_transform: post,
    ...(base ? { base_values: fs(base) } : {}),
  };
}

for (const post of ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"]) {
  Deno.test(`model ml: TreeEnsembleClassifier of 4 classes, ${post}, base values`, async () => {
    const attrs = classifier(
      800 + post.length,
      [10, 20, 30, 40],
      (r) => [[Math.floor(r() * 4), Math.round(r() * 1000) / 1000], [Math.floor(r() * 4), r()]],
      post,
      [0.1, -0.2, 0, 0.3],
    );
    await checkModel(
      `ml classifier 4 ${post}`,
      mlModel("TreeEnsembleClassifier", attrs, 4, [["label", "int64"], ["scores", "float32"]]),
      { X: features(801, 40, 4) },
    );
  });
}

// Two classes: one weighed (onnxruntime's binary case) with positive or mixed weights, or both;
// with no, one or two base values.
for (
  const [name, votes, modes] of [
    ["one class weighed, positive weights", (r: () => number) => [[1, r() * 0.4]]],
    ["one class weighed, mixed weights", (r: () => number) => [[1, r() * 2 - 1]]],
    ["both classes weighed", (r: () => number) => [[0, r()], [1, r()]]],
    ["both classes weighed, the Jit's walks", (r: () => number) => [[0, r()], [1, r()]], [
      "BRANCH_GTE",
    ]],
    ["one class (1) weighed, the Jit's walks", (r: () => number) => [[1, r() * 2 - 1]], [
      "BRANCH_GT",
    ]],
  ] as [string, (r: () => number) => [number, number][], string[]?][]
) {
  for (const base of [null, [0.3], [0.1, 0.2]]) {
    for (const post of ["NONE", "LOGISTIC"]) {
      Deno.test(`model ml: TreeEnsembleClassifier of 2 classes, ${name}, ${base?.length ?? 0} base values, ${post}`, async () => {
        const attrs = classifier(900 + (base?.length ?? 0), [3, 7], votes, post, base, modes);
        await checkModel(
          `ml classifier 2 ${name} ${base?.length ?? 0} ${post}`,
          mlModel("TreeEnsembleClassifier", attrs, 4, [["label", "int64"], ["scores", "float32"]]),
          { X: features(901, 40, 4) },
        );
      });
    }
  }
}

// Every branch one test, as each converter writes them (scikit-learn and LightGBM BRANCH_LEQ,
// XGBoost BRANCH_LT with missing values tracked): the Jit's walks (treeLeaves), 300 trees so
// that 900 rows take two chunks of walks, split over 2 threads the same as on 1.
const MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"];
for (const mode of MODES) {
  for (const missing of [false, true]) {
    Deno.test(`model ml: tree ensembles whose every branch is ${mode}${missing ? ", missing values tracked" : ""}: the Jit's walks, 1 and 2 threads`, async () => {
      const seed = 1100 + 10 * MODES.indexOf(mode) + (missing ? 1 : 0);
      const regressor = mlModel(
        "TreeEnsembleRegressor",
        {
          ...forest(seed, 300, 3, 6, "target", (r) => [[0, r() * 2 - 1]], [mode], missing),
          n_targets: 1,
          base_values: fs([0.5]),
        },
        6,
        [["Y", "float32"]],
      );
      const classifier = mlModel(
        "TreeEnsembleClassifier",
        {
          ...forest(
            seed + 1,
            300,
            2,
            6,
            "class",
            (r) => [[Math.floor(r() * 3), r()]],
            [mode],
            missing,
          ),
          classlabels_int64s: [1, 2, 3],
          post_transform: "SOFTMAX",
        },
        6,
        [["label", "int64"], ["scores", "float32"]],
      );
      const X = features(seed, 900, 6);
      await checkModel(`ml walks regressor ${mode} ${missing}`, regressor, { X });
      await checkModel(`ml walks classifier ${mode} ${missing}`, classifier, { X });
      for (const bytes of [regressor, classifier]) {
        const outputs = [];
        for (const threads of [1, 2]) {
          const s = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
          outputs.push(await s.run({ X: new Tensor("float32", X.data, X.dims) }));
          assert.match(s.report(), /treeLeaves 873×6 through 300 trees/, "the Jit walked the rows");
          await s.release();
        }
        for (const k of Object.keys(outputs[0])) {
          assert.deepEqual(outputs[1][k].data, outputs[0][k].data, `${mode}: ${k} on 2 threads`);
        }
      }
    });
  }
}

Deno.test("model ml: a model importing ai.onnx.ml alone runs; an ai.onnx node in it is refused", async () => {
  const attrs = {
    ...forest(950, 3, 2, 3, "target", (r) => [[0, r()]]),
    aggregate_function: "SUM",
  };
  const bytes = mlModel("TreeEnsembleRegressor", attrs, 3, [["Y", "float32"]], true);
  const s = await InferenceSession.create(bytes);
  const x = features(951, 8, 3);
  const y = s.runSync({ X: new Tensor("float32", x.data as Float32Array, x.dims) }).Y;
  const both = await InferenceSession.create(
    mlModel("TreeEnsembleRegressor", attrs, 3, [["Y", "float32"]]),
  );
  const want = both.runSync({ X: new Tensor("float32", x.data as Float32Array, x.dims) }).Y;
  assert.deepEqual(Array.from(y.data as Float32Array), Array.from(want.data as Float32Array));
  await s.release();
  await both.release();
  // An Identity of ai.onnx in a model that imports no ai.onnx opset.
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 3]];
  g.input("X", "float32", [2]);
  g.output(g.op("Identity", ["X"], {}, "Y"));
  await assert.rejects(
    () => InferenceSession.create(withoutDefaultOpset(g.toBytes())),
    /a node of ai\.onnx, whose opset the model does not import/,
  );
});

Deno.test("model ml: bad trees are refused at create, naming the node", async () => {
  const base = forest(960, 2, 2, 3, "target", (r) => [[0, r()]]);
  const cases: [Record<string, AttrValue>, RegExp][] = [
    [
      { ...base, nodes_truenodeids: [9, 3, 5, 0, 0, 0, 0, 1, 3, 5, 0, 0, 0, 0] },
      /true node 9 is not in the tree/,
    ],
    [
      { ...base, nodes_modes: ["BRANCH_XX", ...(base.nodes_modes as string[]).slice(1)] },
      /node mode 'BRANCH_XX'/,
    ],
    [
      { ...base, target_ids: (base.target_ids as number[]).map(() => 2) },
      /target id 2 is outside 0..0/,
    ],
    [
      { ...base, nodes_featureids: (base.nodes_featureids as number[]).map(() => 7) },
      /reads feature 7, X has 3/,
    ],
    // Node 0 → 1 → 0: a cycle.
    [{ ...base, nodes_truenodeids: [1, 0, 5, 0, 0, 0, 0, 1, 3, 5, 0, 0, 0, 0] }, /form a cycle/],
  ];
  for (const [attrs, message] of cases) {
    const bytes = mlModel("TreeEnsembleRegressor", attrs, 3, [["Y", "float32"]]);
    await assert.rejects(async () => {
      const s = await InferenceSession.create(bytes);
      s.runSync({ X: new Tensor("float32", new Float32Array(6), [2, 3]) });
    }, message);
  }
});

Deno.test("model ml: a scikit-learn style pipeline (Imputer, Scaler, Normalizer, Binarizer, ArrayFeatureExtractor, LinearRegressor)", async () => {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 3]];
  g.input("X", "float32", ["N", 5]);
  const ml = (op: string, inputs: string[], attrs: Record<string, AttrValue>) =>
    g.node(op, inputs, 1, attrs, ML)[0];
  const imputed = ml("Imputer", ["X"], {
    imputed_value_floats: fs([0.5, -1, 2, 0, 0.25]),
    replaced_value_float: f(NaN),
  });
  const scaled = ml("Scaler", [imputed], {
    offset: fs([0.1, 0.2, -0.3, 0, 1]),
    scale: fs([2, 0.5, 1, -1, 3]),
  });
  const picked = ml("ArrayFeatureExtractor", [scaled, g.ints("cols", [4, 0, 2])], {});
  for (const norm of ["MAX", "L1", "L2"]) {
    g.output(g.node("Normalizer", [scaled], [`norm_${norm}`], { norm }, ML)[0]);
  }
  g.output(g.node("Binarizer", [scaled], ["binary"], { threshold: f(0.3) }, ML)[0]);
  g.output(picked);
  g.output(
    g.node("LinearRegressor", [scaled], ["linear"], {
      coefficients: fs(Array.from(seededFloats(10, 970))),
      intercepts: fs([0.5, -0.25]),
      targets: 2,
    }, ML)[0],
  );
  await checkModel("ml pipeline", g.toBytes(), { X: features(971, 30, 5) });
});

for (
  const [classes, labels] of [[3, [5, 6, 7]], [1, [0, 1]], [1, [9, 4]]] as [number, number[]][]
) {
  for (const post of ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]) {
    Deno.test(`model ml: LinearClassifier of ${classes} score(s), labels [${labels}], ${post}`, async () => {
      const g = new GraphBuilder(17);
      g.extraOpsets = [[ML, 1]];
      g.input("X", "float32", ["N", 4]);
      g.node("LinearClassifier", ["X"], ["label", "scores"], {
        coefficients: fs(Array.from(seededFloats(4 * classes, 980 + classes, 2))),
        intercepts: fs(Array.from(seededFloats(classes, 981))),
        classlabels_ints: labels,
        post_transform: post,
      }, ML);
      g.output("label", "int64");
      g.output("scores", "float32");
      const x = features(982, 30, 4);
      // No NaN here: a sum of products with one is NaN either way, its label undefined.
      (x.data as Float32Array).forEach((v, i, a) => (a[i] = Number.isNaN(v) ? 0.5 : v));
      await checkModel(`ml linear classifier ${classes} ${labels} ${post}`, g.toBytes(), { X: x });
    });
  }
}

/** TreeEnsemble (ai.onnx.ml opset 5) attributes: full trees of `depth`, every mode (6: a set). */
function ensembleV5(seed: number, trees: number, depth: number, cols: number, targets: number) {
  const r = rng(seed), inner = 2 ** depth - 1, leaves = 2 ** depth;
  const a = {
    nodes_featureids: [] as number[],
    nodes_modes: [] as number[],
    nodes_splits: [] as number[],
    nodes_truenodeids: [] as number[],
    nodes_trueleafs: [] as number[],
    nodes_falsenodeids: [] as number[],
    nodes_falseleafs: [] as number[],
    nodes_missing_value_tracks_true: [] as number[],
    membership_values: [] as number[],
    leaf_targetids: [] as number[],
    leaf_weights: [] as number[],
    tree_roots: [] as number[],
  };
  for (let t = 0; t < trees; t++) {
    a.tree_roots.push(t * inner);
    for (let k = 0; k < inner; k++) {
      const mode = Math.floor(r() * 7);
      a.nodes_featureids.push(Math.floor(r() * cols));
      a.nodes_modes.push(mode);
      a.nodes_splits.push(mode === 6 ? NaN : Math.round((r() * 2 - 1) * 4) / 4);
      if (mode === 6) {
        // Integers from 0 (onnxruntime takes no others; 1.30 mistests negative ones, where ours
        // is the spec's exact membership): the features' grid meets them now and then.
        for (let v = 0; v < 3; v++) a.membership_values.push(Math.floor(r() * 3));
        a.membership_values.push(NaN);
      }
      a.nodes_missing_value_tracks_true.push(r() < 0.5 ? 1 : 0);
      for (
        const [child, ids, leafs] of [
          [2 * k + 1, a.nodes_truenodeids, a.nodes_trueleafs],
          [2 * k + 2, a.nodes_falsenodeids, a.nodes_falseleafs],
        ] as const
      ) {
        const leaf = child >= inner;
        ids.push(leaf ? t * leaves + child - inner : t * inner + child);
        leafs.push(leaf ? 1 : 0);
      }
    }
    for (let l = 0; l < leaves; l++) {
      a.leaf_targetids.push(Math.floor(r() * targets));
      a.leaf_weights.push(Math.round((r() * 4 - 2) * 1000) / 1000);
    }
  }
  const tensor = (type: "float32" | "uint8", data: number[]) => ({
    tensor: { type, dims: [data.length], data },
  });
  return {
    nodes_featureids: a.nodes_featureids,
    nodes_modes: tensor("uint8", a.nodes_modes),
    nodes_splits: tensor("float32", a.nodes_splits),
    nodes_truenodeids: a.nodes_truenodeids,
    nodes_trueleafs: a.nodes_trueleafs,
    nodes_falsenodeids: a.nodes_falsenodeids,
    nodes_falseleafs: a.nodes_falseleafs,
    nodes_missing_value_tracks_true: a.nodes_missing_value_tracks_true,
    membership_values: tensor("float32", a.membership_values),
    leaf_targetids: a.leaf_targetids,
    leaf_weights: tensor("float32", a.leaf_weights),
    tree_roots: a.tree_roots,
    n_targets: targets,
  };
}

/** A TreeEnsemble model (opset 5) of `ensembleV5(seed, 5, 3, 4, targets)`. */
function ensembleModel(seed: number, agg: number, post: number, targets: number): Uint8Array {
  const g = new GraphBuilder(21);
  g.extraOpsets = [[ML, 5]];
  g.input("X", "float32", ["N", 4]);
  g.node("TreeEnsemble", ["X"], ["Y"], {
    ...ensembleV5(seed, 5, 3, 4, targets),
    aggregate_function: agg,
    post_transform: post,
  }, ML);
  g.output("Y", "float32");
  return g.toBytes();
}

const ENSEMBLE_CASES = [[1, 0, 1], [0, 0, 3], [2, 0, 2], [3, 0, 2], [1, 0, 3], [1, 3, 3]];
for (const [agg, post, targets] of ENSEMBLE_CASES) {
  Deno.test(`model ml: TreeEnsemble (opset 5) aggregate ${agg}, post transform ${post}, ${targets} target(s), set membership`, async () => {
    const seed = 990 + agg * 10 + post + targets;
    await checkModel(
      `ml tree ensemble ${agg} ${post} ${targets}`,
      ensembleModel(seed, agg, post, targets),
      {
        X: features(seed, 40, 4),
      },
    );
  });
}

Deno.test("model ml: a TreeEnsemble (opset 5) whose nodes form a cycle is refused at create", async () => {
  const a = ensembleV5(996, 1, 2, 4, 1); // node 0 → 1, 2; both over leaves
  // Node 1's true branch back to node 0: 0 → 1 → 0.
  const trueIds = [...a.nodes_truenodeids], trueLeafs = [...a.nodes_trueleafs];
  trueIds[1] = 0;
  trueLeafs[1] = 0;
  const g = new GraphBuilder(21);
  g.extraOpsets = [[ML, 5]];
  g.input("X", "float32", ["N", 4]);
  g.node("TreeEnsemble", ["X"], ["Y"], {
    ...a,
    nodes_truenodeids: trueIds,
    nodes_trueleafs: trueLeafs,
    aggregate_function: 1,
    post_transform: 0,
  }, ML);
  g.output("Y", "float32");
  await assert.rejects(async () => {
    const s = await InferenceSession.create(g.toBytes());
    s.runSync({ X: new Tensor("float32", new Float32Array(8), [2, 4]) });
  }, /TreeEnsemble.*the nodes under root 0 form a cycle/s);
});

Deno.test("model ml: TreeEnsemble (opset 5) post transforms as ONNX numbers them (1 SOFTMAX, 2 LOGISTIC): the untransformed scores' softmax and logistic", async () => {
  // onnxruntime 1.30 reads 1 as LOGISTIC and 2 as SOFTMAX (its own enum's order); ONNX's
  // spec and reference number them the other way, and so do we. Checked here against the
  // scores of transform 0 (NONE), which are checked against onnxruntime above.
  const x = features(995, 40, 4);
  const feeds = { X: new Tensor("float32", x.data as Float32Array, x.dims) };
  const run = async (post: number) => {
    const s = await InferenceSession.create(ensembleModel(996, 1, post, 3));
    const y = s.runSync(feeds).Y.data as Float32Array;
    await s.release();
    return y;
  };
  const plain = await run(0), soft = await run(1), logistic = await run(2);
  for (let r = 0; r < 40; r++) {
    const row = Array.from(plain.subarray(3 * r, 3 * r + 3));
    const max = Math.max(...row), e = row.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b);
    for (let j = 0; j < 3; j++) {
      const i = 3 * r + j;
      assert.ok(Math.abs(soft[i] - e[j] / sum) < 1e-6, `softmax [${i}] ${soft[i]} ${e[j] / sum}`);
      const want = 1 / (1 + Math.exp(-row[j]));
      assert.ok(Math.abs(logistic[i] - want) < 1e-6, `logistic [${i}] ${logistic[i]} ${want}`);
    }
  }
});

Deno.test("model ml: LabelEncoder of numbers (opsets 2 and 4: int64 and float keys, defaults, NaN keys at 4), OneHotEncoder, FeatureVectorizer", async () => {
  // Opset 2: int64 → float and float → int64 (a NaN key never found), the first of equal keys
  // kept.
  const g2 = new GraphBuilder(17);
  g2.extraOpsets = [[ML, 2]];
  g2.input("ids", "int64", ["N"]);
  g2.input("x", "float32", ["N"]);
  g2.output(
    g2.node("LabelEncoder", ["ids"], ["ids_to_float"], {
      keys_int64s: [3, 1, 4, 1, 5],
      values_floats: fs([0.5, 1.5, 2.5, 3.5, 4.5]),
      default_float: f(-7),
    }, ML)[0],
  );
  g2.output(
    g2.node("LabelEncoder", ["x"], ["float_to_ids"], {
      keys_floats: fs([0.25, -1, NaN, 2, 0.25]),
      values_int64s: [10, 20, 30, 40, 50],
    }, ML)[0],
    "int64",
  );
  const ids = BigInt64Array.from([1, 2, 3, 4, 5, 6, -1, 1].map(BigInt));
  const xs = Float32Array.of(0.25, -1, NaN, 2, 0, -0, 3, 0.5);
  await checkModel("ml label encoder 2", g2.toBytes(), {
    ids: { type: "int64", dims: [8], data: ids },
    x: { type: "float32", dims: [8], data: xs },
  });
  // Opset 4: keys and values as tensors, the default as a tensor, a NaN key found.
  const g4 = new GraphBuilder(17);
  g4.extraOpsets = [[ML, 4]];
  g4.input("x", "float32", ["N"]);
  g4.output(
    g4.node("LabelEncoder", ["x"], ["y"], {
      keys_tensor: { tensor: { type: "float32", dims: [3], data: [NaN, 1, 2] } },
      values_tensor: { tensor: { type: "float32", dims: [3], data: [-1, 10, 20] } },
      default_tensor: { tensor: { type: "float32", dims: [1], data: [99] } },
    }, ML)[0],
  );
  await checkModel("ml label encoder 4", g4.toBytes(), {
    x: { type: "float32", dims: [8], data: xs },
  });
  // OneHotEncoder of int64 and float (cast toward zero), unknown values all zeros.
  const gh = new GraphBuilder(17);
  gh.extraOpsets = [[ML, 1]];
  gh.input("ids", "int64", ["N"]);
  gh.input("x", "float32", ["N", 2]);
  gh.output(gh.node("OneHotEncoder", ["ids"], ["hot"], { cats_int64s: [5, 1, 3, 2] }, ML)[0]);
  gh.output(gh.node("OneHotEncoder", ["x"], ["hot_x"], { cats_int64s: [0, 2, -1] }, ML)[0]);
  // FeatureVectorizer: columns cut (x's 2 to 1) and padded (ids's 1 to 3).
  // (Its inputs are of one type: ids as floats.)
  const ids2 = gh.op("Cast", [gh.op("Unsqueeze", ["ids", gh.ints("ax", [1])])], { to: 1 });
  gh.output(
    gh.node("FeatureVectorizer", ["x", ids2], ["features"], { inputdimensions: [1, 3] }, ML)[0],
  );
  await checkModel("ml one hot feature vectorizer", gh.toBytes(), {
    ids: { type: "int64", dims: [8], data: ids },
    x: {
      type: "float32",
      dims: [8, 2],
      data: Float32Array.of(0, 2.7, -1.5, 0.9, 2, 1e10, -0.2, 3, NaN, 2, 1, 0, -1, -2, 2.2, 0),
    },
  });
});

for (const kernel of ["LINEAR", "POLY", "RBF", "SIGMOID", "none"]) {
  Deno.test(`model ml: SVMRegressor, ${kernel === "none" ? "linear form (no support vectors)" : `${kernel} kernel`}, and one_class`, async () => {
    const g = new GraphBuilder(17);
    g.extraOpsets = [[ML, 1]];
    g.input("X", "float32", ["N", 3]);
    const supports = kernel === "none" ? 0 : 5;
    const attrs: Record<string, AttrValue> = {
      coefficients: fs(Array.from(seededFloats(supports || 3, 1010))),
      rho: fs([0.125]),
      n_supports: supports,
      // (onnxruntime wants kernel_params whatever the form.)
      kernel_params: fs([0.3, 0.5, 3]),
      ...(supports
        ? {
          kernel_type: kernel,
          support_vectors: fs(Array.from(seededFloats(supports * 3, 1011))),
        }
        : {}),
    };
    g.output(g.node("SVMRegressor", ["X"], ["y"], attrs, ML)[0]);
    g.output(g.node("SVMRegressor", ["X"], ["y1"], { ...attrs, one_class: 1 }, ML)[0]);
    const x = features(1012, 30, 3);
    (x.data as Float32Array).forEach((v, i, a) => (a[i] = Number.isNaN(v) ? 0.75 : v));
    await checkModel(`ml svm regressor ${kernel}`, g.toBytes(), { X: x });
  });
}

for (
  const [classes, kernel, proba, post] of [
    [3, "RBF", false, "NONE"],
    [3, "POLY", false, "LOGISTIC"],
    [4, "RBF", true, "NONE"],
    [3, "SIGMOID", true, "SOFTMAX"],
    [2, "RBF", false, "NONE"],
    [2, "LINEAR", false, "LOGISTIC"],
    [2, "RBF", false, "SOFTMAX"],
    [2, "RBF", true, "NONE"],
    [3, "none", false, "NONE"],
    [2, "none", false, "NONE"],
  ] as [number, string, boolean, string][]
) {
  Deno.test(`model ml: SVMClassifier of ${classes} classes, ${kernel === "none" ? "linear form" : `${kernel} kernel`}${proba ? ", probabilities" : ""}, ${post}`, async () => {
    const g = new GraphBuilder(17);
    g.extraOpsets = [[ML, 1]];
    g.input("X", "float32", ["N", 3]);
    const perClass = Array.from({ length: classes }, (_, i) => 2 + (i % 2));
    const vectors = perClass.reduce((a, b) => a + b, 0), pairs = (classes * (classes - 1)) / 2;
    const seed = 1100 + classes * 10 + KERNEL_SEEDS.indexOf(kernel);
    const svc = kernel !== "none";
    const attrs: Record<string, AttrValue> = {
      classlabels_ints: Array.from({ length: classes }, (_, i) => 7 + 3 * i),
      post_transform: post,
      kernel_params: fs([0.4, 0.3, 2]),
      ...(svc
        ? {
          kernel_type: kernel,
          vectors_per_class: perClass,
          support_vectors: fs(Array.from(seededFloats(vectors * 3, seed))),
          coefficients: fs(Array.from(seededFloats((classes - 1) * vectors, seed + 1, 2))),
          rho: fs(Array.from(seededFloats(pairs, seed + 2, 0.5))),
        }
        : {
          coefficients: fs(Array.from(seededFloats(classes * 3, seed + 1, 2))),
          rho: fs([0.25]),
        }),
      ...(proba
        ? {
          prob_a: fs(Array.from(seededFloats(pairs, seed + 3, 2))),
          prob_b: fs(Array.from(seededFloats(pairs, seed + 4, 0.5))),
        }
        : {}),
    };
    g.node("SVMClassifier", ["X"], ["label", "scores"], attrs, ML);
    g.output("label", "int64");
    g.output("scores", "float32");
    const x = features(seed + 5, 40, 3);
    (x.data as Float32Array).forEach((v, i, a) => (a[i] = Number.isNaN(v) ? -0.5 : v));
    await checkModel(`ml svm classifier ${classes} ${kernel} ${proba} ${post}`, g.toBytes(), {
      X: x,
    });
  });
}
const KERNEL_SEEDS = ["LINEAR", "POLY", "RBF", "SIGMOID", "none"];
// Many support vectors and rows: 300 vectors make a chunk of 873 rows, so 900 rows take two
// (the kernels by the Jit's families, chunk by chunk); POLY of degree 4 takes pow.
for (const kernel of ["RBF", "POLY", "SIGMOID", "LINEAR"]) {
  Deno.test(`model ml: SVMClassifier and SVMRegressor of 300 support vectors, ${kernel} kernel, 900 rows`, async () => {
    const seed = 1200 + KERNEL_SEEDS.indexOf(kernel) * 10, cols = 6, vectors = 300;
    const params = fs([0.2, 0.1, 4]);
    const classifier = new GraphBuilder(17);
    classifier.extraOpsets = [[ML, 1]];
    classifier.input("X", "float32", ["N", cols]);
    classifier.node("SVMClassifier", ["X"], ["label", "scores"], {
      classlabels_ints: [1, 2, 3],
      kernel_type: kernel,
      kernel_params: params,
      vectors_per_class: [100, 120, 80],
      support_vectors: fs(Array.from(seededFloats(vectors * cols, seed))),
      coefficients: fs(Array.from(seededFloats(2 * vectors, seed + 1, 0.1))),
      rho: fs(Array.from(seededFloats(3, seed + 2, 0.5))),
    }, ML);
    classifier.output("label", "int64");
    classifier.output("scores", "float32");
    const regressor = new GraphBuilder(17);
    regressor.extraOpsets = [[ML, 1]];
    regressor.input("X", "float32", ["N", cols]);
    regressor.output(
      regressor.node("SVMRegressor", ["X"], ["y"], {
        coefficients: fs(Array.from(seededFloats(vectors, seed + 3, 0.01))),
        rho: fs([0.125]),
        n_supports: vectors,
        kernel_type: kernel,
        kernel_params: params,
        support_vectors: fs(Array.from(seededFloats(vectors * cols, seed + 4))),
      }, ML)[0],
    );
    const x = features(seed + 5, 900, cols);
    (x.data as Float32Array).forEach((v, i, a) => (a[i] = Number.isNaN(v) ? 0.5 : v));
    await checkModel(`ml svm classifier 300 ${kernel}`, classifier.toBytes(), { X: x });
    await checkModel(`ml svm regressor 300 ${kernel}`, regressor.toBytes(), { X: x });
  });
}

Deno.test("model ml: a classifier ending in ZipMap (scikit-learn's default): its sequence of maps listed, refused when fetched, the label fetched alone — as onnxruntime-node does", async () => {
  const build = (zip: boolean) => {
    const g = new GraphBuilder(17);
    g.extraOpsets = [[ML, 1]];
    g.input("X", "float32", ["N", 4]);
    g.node("TreeEnsembleClassifier", ["X"], ["output_label", "probabilities"], {
      ...forest(1300, 4, 3, 4, "class", (r) => [[0, r()], [1, r()], [2, r()]], ["BRANCH_LEQ"]),
      classlabels_int64s: [5, 6, 7],
    }, ML);
    g.output("output_label", "int64");
    if (!zip) {
      g.output("probabilities", "float32");
      return g.toBytes();
    }
    g.node(
      "ZipMap",
      ["probabilities"],
      ["output_probability"],
      { classlabels_int64s: [5, 6, 7] },
      ML,
    );
    g.mapSequenceOutput("output_probability", "int64");
    return g.toBytes();
  };
  const x = features(1301, 30, 4);
  const X = new Tensor("float32", x.data as Float32Array, x.dims);
  const s = await InferenceSession.create(build(true));
  const plain = await InferenceSession.create(build(false));
  try {
    assert.deepEqual(s.outputNames, ["output_label", "output_probability"]);
    assert.deepEqual(s.outputMetadata[1], { name: "output_probability", isTensor: false });
    assert.equal(s.outputMetadata[0].isTensor, true);
    const want = (await plain.run({ X }, ["output_label"])).output_label.data;
    assert.deepEqual((await s.run({ X }, ["output_label"])).output_label.data, want);
    assert.deepEqual(s.runSync({ X }, { output_label: null }).output_label.data, want);
    const refused = /output 'output_probability' is a sequence of maps \(ZipMap\), not a tensor/;
    await assert.rejects(() => s.run({ X }), refused);
    await assert.rejects(() => s.run({ X }, ["output_probability"]), refused);
    assert.throws(() => s.runSync({ X }, { output_probability: null }), refused);
    const ort = await loadOrt();
    if (ort) {
      const o = await ort.InferenceSession.create(build(true));
      assert.deepEqual(o.outputNames, s.outputNames);
      assert.deepEqual(o.outputMetadata[1], s.outputMetadata[1]);
      const t = new ort.Tensor("float32", x.data, x.dims);
      assert.deepEqual((await o.run({ X: t }, ["output_label"])).output_label.data, want);
      await assert.rejects(() => o.run({ X: t }), /Non tensor type/);
      await o.release();
    }
  } finally {
    await s.release();
    await plain.release();
  }
  // A ZipMap another node reads is an op we do not run: refused at create, by name.
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 1]];
  g.input("X", "float32", ["N", 4]);
  g.node("ZipMap", ["X"], ["Z"], { classlabels_int64s: [0, 1, 2, 3] }, ML);
  g.node("Identity", ["Z"], ["Y"]);
  g.mapSequenceOutput("Y", "int64");
  await assert.rejects(() => InferenceSession.create(g.toBytes()), /unsupported op: ZipMap/);
});

// Classes named by strings (scikit-learn's converter writes classlabels_strings for labels that
// are strings): the label output is a string tensor, as onnxruntime-node returns it.
for (
  const [name, op, attrs] of [
    ["trees, 3 classes", "TreeEnsembleClassifier", {
      ...forest(1400, 3, 2, 4, "class", (r) => [[0, r()], [1, r()], [2, r()]], ["BRANCH_LEQ"]),
      classlabels_strings: ["setosa", "versicolor", "virginica"],
    }],
    ["trees, 2 classes, one weighed", "TreeEnsembleClassifier", {
      ...forest(1401, 3, 2, 4, "class", (r) => [[1, r() - 0.5]], ["BRANCH_LT"]),
      classlabels_strings: ["no", "yes"],
    }],
    ["trees, 2 classes, both weighed", "TreeEnsembleClassifier", {
      ...forest(1402, 3, 2, 4, "class", (r) => [[0, r()], [1, r()]], ["BRANCH_LEQ"]),
      classlabels_strings: ["no", "yes"],
    }],
    ["linear, 3 classes", "LinearClassifier", {
      classlabels_strings: ["x", "y", "z"],
      coefficients: fs(Array.from(seededFloats(12, 1403))),
      intercepts: fs([0.1, 0.2, 0.3]),
    }],
    ["linear, one score", "LinearClassifier", {
      classlabels_strings: ["neg", "pos"],
      coefficients: fs([1, -1, 0.5, 0.2]),
      intercepts: fs([0.1]),
    }],
    ["SVM, 3 classes", "SVMClassifier", {
      classlabels_strings: ["p", "q", "r"],
      kernel_type: "RBF",
      kernel_params: fs([0.5, 0, 2]),
      vectors_per_class: [2, 1, 2],
      support_vectors: fs(Array.from(seededFloats(20, 1404))),
      coefficients: fs(Array.from(seededFloats(10, 1405))),
      rho: fs([0.1, 0.2, 0.3]),
    }],
    ["SVM, 2 classes", "SVMClassifier", {
      classlabels_strings: ["p", "q"],
      kernel_type: "RBF",
      kernel_params: fs([0.5, 0, 2]),
      vectors_per_class: [2, 2],
      support_vectors: fs(Array.from(seededFloats(16, 1406))),
      coefficients: fs(Array.from(seededFloats(4, 1407))),
      rho: fs([0.1]),
    }],
  ] as [string, string, Record<string, AttrValue>][]
) {
  Deno.test(`model ml: string class labels, ${name}: a string tensor out, as onnxruntime's`, async () => {
    const bytes = mlModel(op, attrs, 4, [["label", "string"], ["scores", "float32"]]);
    await checkModel(`ml string labels ${name}`, bytes, { X: features(1410, 30, 4) });
    const s = await InferenceSession.create(bytes);
    try {
      assert.deepEqual(s.outputMetadata[0], {
        name: "label",
        isTensor: true,
        type: "string",
        shape: [],
      });
      const X = new Tensor("float32", new Float32Array(8), [2, 4]);
      const into = new Tensor("int64", new BigInt64Array(2), [2]);
      assert.throws(() => s.runSync({ X }, { label: into }), /string labels: pass null/);
    } finally {
      await s.release();
    }
  });
}

Deno.test("model ml: strings anywhere but a classifier's label output are refused at create, by name", async () => {
  // A label another node reads.
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 1]];
  g.input("X", "float32", ["N", 4]);
  g.node("LinearClassifier", ["X"], ["label", "scores"], {
    classlabels_strings: ["a", "b"],
    coefficients: fs([1, 2, 3, 4, 5, 6, 7, 8]),
    intercepts: fs([0, 0]),
  }, ML);
  g.node("Identity", ["label"], ["copy"]);
  g.output("label", "string");
  g.output("copy", "string");
  await assert.rejects(
    () => InferenceSession.create(g.toBytes()),
    /reads the string labels 'label'|strings are supported only as the labels/,
  );
  // Labels a node reads, returned by no output: refused naming the classifier (at create or at
  // the first run, where N is known).
  const k = new GraphBuilder(17);
  k.extraOpsets = [[ML, 1]];
  k.input("X", "float32", ["N", 4]);
  k.node("LinearClassifier", ["X"], ["label", "scores"], {
    classlabels_strings: ["a", "b"],
    coefficients: fs([1, 2, 3, 4, 5, 6, 7, 8]),
    intercepts: fs([0, 0]),
  }, ML);
  k.node("Identity", ["label"], ["copy"]);
  k.output("scores", "float32");
  await assert.rejects(
    async () => {
      const s = await InferenceSession.create(k.toBytes());
      try {
        await s.run({ X: new Tensor("float32", new Float32Array(4), [1, 4]) });
      } finally {
        await s.release();
      }
    },
    /LinearClassifier node '[^']*': string class labels \(classlabels_strings\) run as a string graph output or unread/,
  );
  // A string output of another op.
  const h = new GraphBuilder(17);
  h.input("X", "float32", ["N"]);
  h.node("Identity", ["X"], ["Y"]);
  h.output("Y", "string");
  await assert.rejects(
    () => InferenceSession.create(h.toBytes()),
    /graph output 'Y' is a string tensor; strings are supported only as the labels/,
  );
});

Deno.test("Tensor: string tensors (ONNX Runtime's: an array of strings), refused as feeds", async () => {
  const t = new Tensor("string", ["a", "bc"], [2]);
  assert.deepEqual([t.type, t.data, t.dims, t.size], ["string", ["a", "bc"], [2], 2]);
  assert.equal(new Tensor(["x", "y", "z"]).type, "string");
  assert.throws(() => new Tensor("string", [1, 2] as never, [2]), TypeError);
  assert.throws(() => new Tensor("string", ["a"], [2]), RangeError);
  const g = new GraphBuilder(17);
  g.input("X", "float32", ["N"]);
  g.node("Identity", ["X"], ["Y"]);
  g.output("Y");
  const s = await InferenceSession.create(g.toBytes());
  await assert.rejects(() => s.run({ X: t }), TypeError);
  await s.release();
});

Deno.test("model ml: string inputs into OneHotEncoder (cats_strings) and LabelEncoder (keys_strings), as a column transformer converts them", async () => {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 2]];
  g.input("C", "string", ["N", 1]);
  g.input("X", "float32", ["N", 2]);
  g.node("OneHotEncoder", ["C"], ["H"], { cats_strings: ["red", "green", "blue"], zeros: 1 }, ML);
  g.node("LabelEncoder", ["C"], ["L"], {
    keys_strings: ["green", "blue", "pink"],
    values_int64s: [7, 8, 9],
    default_int64: -5,
  }, ML);
  g.node("LabelEncoder", ["C"], ["F"], {
    keys_strings: ["red", "pink"],
    values_floats: fs([0.5, 1.5]),
    default_float: f(-1),
  }, ML);
  const shape = g.initializer("shape", { type: "int64", dims: [2], data: [-1, 3] });
  g.node("Reshape", ["H", shape], ["H2"]);
  g.node("Concat", ["H2", "X"], ["Y"], { axis: 1 });
  g.output("Y", "float32");
  g.output("L", "int64");
  g.output("F", "float32");
  const bytes = g.toBytes();
  // Known categories, unknown ones ("purple"), one only a LabelEncoder knows ("pink"), "".
  const cats = ["red", "blue", "purple", "green", "red", "pink", "", "green"];
  await checkModel("ml string inputs", bytes, {
    C: { type: "string", dims: [8, 1], data: cats },
    X: { type: "float32", dims: [8, 2], data: seededFloats(16, 1500) },
  });
  const s = await InferenceSession.create(bytes);
  try {
    assert.deepEqual(s.inputMetadata[0], {
      name: "C",
      isTensor: true,
      type: "string",
      shape: ["N", 1],
    });
    const X = new Tensor("float32", new Float32Array(4), [2, 2]);
    await assert.rejects(
      () => s.run({ C: new Tensor("float32", new Float32Array(2), [2, 1]), X }),
      /input 'C' is float32, expected string|must be/,
    );
    const bad = new Tensor("string", ["red", "blue"], [2, 1]);
    (bad.data as unknown[])[1] = 3; // an element that is no string, set after the check
    await assert.rejects(() => s.run({ C: bad, X }), /input 'C' element 1 is number 3/);
  } finally {
    await s.release();
  }
  // A string input another op reads: refused at create, naming the node.
  const h = new GraphBuilder(17);
  h.extraOpsets = [[ML, 2]];
  h.input("C", "string", ["N"]);
  h.node("Identity", ["C"], ["D"]);
  h.node("OneHotEncoder", ["D"], ["H"], { cats_strings: ["a"] }, ML);
  h.output("H");
  await assert.rejects(
    () => InferenceSession.create(h.toBytes()),
    /input 'C' is a string tensor, read by Identity node/,
  );
});

Deno.test("model ml: LabelEncoder into strings (values_strings), from numbers and from strings, as a string tensor out", async () => {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 2]];
  g.input("K", "int64", ["N"]);
  g.input("S", "string", ["N"]);
  g.node("LabelEncoder", ["K"], ["names"], {
    keys_int64s: [0, 1, 2],
    values_strings: ["setosa", "versicolor", "virginica"],
  }, ML);
  g.node("LabelEncoder", ["S"], ["codes"], {
    keys_strings: ["a", "b"],
    values_strings: ["alpha", "beta"],
    default_string: "other",
  }, ML);
  g.output("names", "string");
  g.output("codes", "string");
  await checkModel("ml label encoder into strings", g.toBytes(), {
    K: { type: "int64", dims: [6], data: BigInt64Array.from([0n, 2n, 1n, 7n, -1n, 2n]) },
    S: { type: "string", dims: [6], data: ["a", "b", "c", "", "b", "a"] },
  });
});

Deno.test("model ml: a classifier with string labels whose scores alone are returned runs (the labels never seen)", async () => {
  const attrs = {
    ...forest(1500, 3, 2, 4, "class", (r) => [[0, r()], [1, r()], [2, r()]], ["BRANCH_LEQ"]),
    classlabels_strings: ["a", "b", "c"],
  };
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 1]];
  g.input("X", "float32", ["N", 4]);
  g.node("TreeEnsembleClassifier", ["X"], ["label", "scores"], attrs, ML);
  g.output("scores", "float32");
  await checkModel("ml string labels unreturned", g.toBytes(), { X: features(1501, 20, 4) });
});

Deno.test("model ml: CategoryMapper from strings to integers and from integers to strings, at the model's edge", async () => {
  const g = new GraphBuilder(17);
  g.extraOpsets = [[ML, 1]];
  g.input("S", "string", ["N"]);
  g.input("I", "int64", ["N"]);
  const cats = { cats_strings: ["low", "mid", "high"], cats_int64s: [1, 5, 9] };
  g.node("CategoryMapper", ["S"], ["codes"], { ...cats, default_int64: -7 }, ML);
  g.node("CategoryMapper", ["I"], ["names"], { ...cats, default_string: "none" }, ML);
  g.output("codes", "int64");
  g.output("names", "string");
  await checkModel("ml category mapper", g.toBytes(), {
    S: { type: "string", dims: [5], data: ["mid", "x", "high", "low", ""] },
    I: { type: "int64", dims: [5], data: BigInt64Array.from([9n, 1n, 2n, 5n, -1n]) },
  });
  // Strings inside the graph: refused at create, by name.
  const h = new GraphBuilder(17);
  h.extraOpsets = [[ML, 1]];
  h.input("I", "int64", ["N"]);
  h.node("CategoryMapper", ["I"], ["names"], cats, ML);
  h.node("CategoryMapper", ["names"], ["back"], cats, ML);
  h.output("back", "int64");
  await assert.rejects(async () => {
    // (Refused at create, or at the first run, where the shapes of N are known.)
    const s = await InferenceSession.create(h.toBytes());
    try {
      await s.run({ I: new Tensor("int64", BigInt64Array.from([1n]), [1]) });
    } finally {
      await s.release();
    }
  }, /CategoryMapper node '[^']*': its string side must be a model input or output/);
});
