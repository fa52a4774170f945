/**
 * Seeded random tree ensembles in ONNX-ML's attributes (TreeEnsembleRegressor
 * and TreeEnsembleClassifier), for the tests and benches.
 *
 * @module
 */
import { type AttrValue, fs } from "./onnx_writer.ts";

/** A seeded generator of floats in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"];

/**
 * Full binary trees of `depth` (node ids in breadth-first order), each
 * leaf voting for `votes(leafIndex)` targets: the node and vote attributes
 * (`prefix`: "target" or "class"); `missing` off: no node tracks missing values.
 */
export function forest(
  seed: number,
  trees: number,
  depth: number,
  features: number,
  prefix: string,
  votes: (r: () => number) => [number, number][],
  modes = MODES,
  missing = true,
): Record<string, AttrValue> {
  const r = rng(seed);
  const a = {
    nodes_treeids: [] as number[],
    nodes_nodeids: [] as number[],
    nodes_featureids: [] as number[],
    nodes_modes: [] as string[],
    nodes_values: [] as number[],
    nodes_truenodeids: [] as number[],
    nodes_falsenodeids: [] as number[],
    nodes_missing_value_tracks_true: [] as number[],
    ids: [] as number[],
    treeids: [] as number[],
    nodeids: [] as number[],
    weights: [] as number[],
  };
  const inner = 2 ** depth - 1, count = 2 ** (depth + 1) - 1;
  for (let t = 0; t < trees; t++) {
    for (let i = 0; i < count; i++) {
      const leaf = i >= inner;
      a.nodes_treeids.push(t);
      a.nodes_nodeids.push(i);
      a.nodes_featureids.push(leaf ? 0 : Math.floor(r() * features));
      a.nodes_modes.push(leaf ? "LEAF" : modes[Math.floor(r() * modes.length)]);
      // Thresholds on a grid the features hit exactly now and then (EQ and NEQ branch).
      a.nodes_values.push(leaf ? 0 : Math.round((r() * 2 - 1) * 4) / 4);
      a.nodes_truenodeids.push(leaf ? 0 : 2 * i + 1);
      a.nodes_falsenodeids.push(leaf ? 0 : 2 * i + 2);
      // (Drawn either way: the same trees with `missing` off.)
      a.nodes_missing_value_tracks_true.push(r() < 0.5 && missing ? 1 : 0);
      if (!leaf) continue;
      for (const [id, w] of votes(r)) {
        a.ids.push(id);
        a.treeids.push(t);
        a.nodeids.push(i);
        a.weights.push(w);
      }
    }
  }
  return {
    nodes_treeids: a.nodes_treeids,
    nodes_nodeids: a.nodes_nodeids,
    nodes_featureids: a.nodes_featureids,
    nodes_modes: a.nodes_modes,
    nodes_values: fs(a.nodes_values),
    nodes_truenodeids: a.nodes_truenodeids,
    nodes_falsenodeids: a.nodes_falsenodeids,
    nodes_missing_value_tracks_true: a.nodes_missing_value_tracks_true,
    [`${prefix}_ids`]: a.ids,
    [`${prefix}_treeids`]: a.treeids,
    [`${prefix}_nodeids`]: a.nodeids,
    [`${prefix}_weights`]: fs(a.weights),
  };
}
