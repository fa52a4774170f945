/**
 * ONNX-ML's TreeEnsemble (ai.onnx.ml opset 5): the regressor's ensemble in
 * its later form — nodes and leaves apart, tree_roots, modes and splits as
 * tensors, BRANCH_MEMBER (a feature in a set of values: membership_values,
 * one set per member node in node order, sets apart by NaN), integer
 * aggregate (0 AVERAGE, 1 SUM, 2 MIN, 3 MAX) and post transform (0 NONE,
 * 1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO, 4 PROBIT, as ONNX's spec and
 * reference number them; onnxruntime 1.30 reads 1 as LOGISTIC and 2 as
 * SOFTMAX, its own enum's order). Set membership as the spec says it
 * (onnxruntime 1.30 takes integers only, and misses negative ones). Flattened into the
 * regressor's forest (ml_trees.ts: leaves become nodes of mode LEAF, one
 * vote each) and computed by its step, as onnxruntime maps it onto the same
 * kernel. X float32, or float64 (computed in doubles, transform NONE).
 */
import type { Node } from "../ir.ts";
import { checkWalksEnd, regressionStep, type Transform } from "./ml_trees.ts";
import { type Aggregate, type Forest, LEAF, MEMBER } from "./ml_tree_walk.ts";
import { expectType, fail, meta, nativeJit, need, type OpDef } from "./op.ts";

const AGGREGATES: readonly Aggregate[] = ["AVERAGE", "SUM", "MIN", "MAX"];
const TRANSFORMS: readonly Transform[] = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"];

function ints(n: Node, name: string): number[] {
  const v = n.attrs.ints(name);
  if (v === null) fail(n, `attribute '${name}' is required`);
  return v;
}

function tensorValues(n: Node, name: string, required = true): number[] | null {
  const t = n.attrs.tensor(name);
  if (t === null) {
    if (required) fail(n, `attribute '${name}' is required`);
    return null;
  }
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** The ensemble as the regressor's forest (`double`: thresholds and weights unrounded). */
function forestOf(n: Node, targets: number, double: boolean): Forest {
  const featureIds = ints(n, "nodes_featureids"), trueIds = ints(n, "nodes_truenodeids");
  const falseIds = ints(n, "nodes_falsenodeids"), trueLeaf = ints(n, "nodes_trueleafs");
  const falseLeaf = ints(n, "nodes_falseleafs"), roots = ints(n, "tree_roots");
  const modes = tensorValues(n, "nodes_modes")!, splits = tensorValues(n, "nodes_splits")!;
  const leafTargets = ints(n, "leaf_targetids"), weights = tensorValues(n, "leaf_weights")!;
  const missing = n.attrs.ints("nodes_missing_value_tracks_true") ?? [];
  const count = featureIds.length, leaves = leafTargets.length, total = count + leaves;
  for (
    const [what, v] of [
      ["nodes_truenodeids", trueIds],
      ["nodes_falsenodeids", falseIds],
      ["nodes_trueleafs", trueLeaf],
      ["nodes_falseleafs", falseLeaf],
      ["nodes_modes", modes],
      ["nodes_splits", splits],
    ] as const
  ) {
    if (v.length !== count) fail(n, `${what} has ${v.length} entries, nodes_featureids ${count}`);
  }
  if (weights.length !== leaves) {
    fail(n, `leaf_weights has ${weights.length} entries, not ${leaves}`);
  }
  const round = double ? (v: number) => v : Math.fround;
  const t: Forest = {
    feature: new Int32Array(total),
    threshold: double ? new Float64Array(total) : new Float32Array(total),
    mode: new Uint8Array(total),
    yes: new Int32Array(total),
    no: new Int32Array(total),
    missingYes: new Uint8Array(total),
    voteStart: Int32Array.from({ length: total + 1 }, (_, i) => Math.max(0, i - count)),
    voteTarget: Int32Array.from(leafTargets),
    voteWeight: double ? Float64Array.from(weights) : Float32Array.from(weights, round),
    roots: Int32Array.from(roots),
    maxFeature: -1,
    members: new Array(total).fill(null),
  };
  const values = tensorValues(n, "membership_values", false) ?? [];
  let at = 0;
  const child = (id: number, leaf: number, from: number, side: string) => {
    const to = leaf ? count + id : id;
    if (!(id >= 0 && id < (leaf ? leaves : count)) || (!leaf && id === from)) {
      fail(n, `node ${from}: its ${side} ${leaf ? "leaf" : "node"} ${id} does not exist`);
    }
    return to;
  };
  for (let i = 0; i < count; i++) {
    const m = modes[i];
    if (!(m >= 0 && m <= 6 && Number.isInteger(m))) fail(n, `node ${i}: mode ${m} is not 0-6`);
    t.mode[i] = m === 6 ? MEMBER : m;
    if (!(featureIds[i] >= 0)) fail(n, `node ${i}: feature ${featureIds[i]} is negative`);
    t.feature[i] = featureIds[i];
    t.maxFeature = Math.max(t.maxFeature, featureIds[i]);
    t.threshold[i] = round(splits[i]);
    t.missingYes[i] = missing[i] === 1 ? 1 : 0;
    t.yes[i] = child(trueIds[i], trueLeaf[i], i, "true");
    t.no[i] = child(falseIds[i], falseLeaf[i], i, "false");
    if (m !== 6) continue;
    const set = new Set<number>();
    while (at < values.length && !Number.isNaN(values[at])) set.add(round(values[at++]));
    at++; // the NaN closing the set
    t.members![i] = set;
  }
  for (let l = 0; l < leaves; l++) {
    t.mode[count + l] = LEAF;
    if (!(leafTargets[l] >= 0 && leafTargets[l] < targets)) {
      fail(n, `leaf ${l}: target ${leafTargets[l]} is outside 0..${targets - 1}`);
    }
  }
  for (const r of roots) if (!(r >= 0 && r < count)) fail(n, `tree root ${r} is not a node`);
  checkWalksEnd(n, t, roots, (_, root) => `the nodes under root ${root} form a cycle`);
  return t;
}

/** The ai.onnx.ml opset-5 TreeEnsemble. */
export const TREE_ENSEMBLE: OpDef = {
  attributes: [
    "aggregate_function",
    "leaf_targetids",
    "leaf_weights",
    "membership_values",
    "n_targets",
    "nodes_falseleafs",
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_hitrates",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_splits",
    "nodes_trueleafs",
    "nodes_truenodeids",
    "post_transform",
    "tree_roots",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32", "float64");
    if (x.dims.length !== 2) fail(n, `X must be [N, F], got rank ${x.dims.length}`);
    const targets = n.attrs.int("n_targets", 0);
    if (targets < 1) fail(n, `n_targets ${targets} must be at least 1`);
    const agg = n.attrs.int("aggregate_function", 1), post = n.attrs.int("post_transform", 0);
    if (!AGGREGATES[agg]) fail(n, `aggregate_function ${agg} is not 0-3`);
    if (!TRANSFORMS[post]) fail(n, `post_transform ${post} is not 0-4`);
    if (x.type === "float64" && post !== 0) {
      fail(n, "a post transform of float64 X is not supported (NONE is)");
    }
    const t = forestOf(n, targets, x.type === "float64");
    if (t.maxFeature >= x.dims[1]) {
      fail(n, `a node reads feature ${t.maxFeature}, X has ${x.dims[1]}`);
    }
    return [meta(x.type, [x.dims[0], targets])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, targets = n.attrs.int("n_targets", 0), double = x.type === "float64";
    const agg = AGGREGATES[n.attrs.int("aggregate_function", 1)];
    const post = TRANSFORMS[n.attrs.int("post_transform", 0)];
    const z = outs[0].data as Float32Array | Float64Array;
    const forest = forestOf(n, targets, double);
    return regressionStep(forest, targets, agg, post, [], x, z, nativeJit(env), double);
  },
};
