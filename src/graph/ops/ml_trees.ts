/**
 * ONNX-ML's tree ensembles (domain ai.onnx.ml): TreeEnsembleRegressor and
 * TreeEnsembleClassifier (opsets 1 and 3; int64 class labels), as
 * scikit-learn, XGBoost and LightGBM models come out of their converters,
 * computed as ONNX Runtime's CPU kernels compute them: float32 thresholds
 * and sums, trees in the order their first node is listed, a NaN feature
 * down the true branch where the node tracks missing values, the aggregate
 * (SUM, AVERAGE, MIN, MAX), the base values, and the post transform (NONE,
 * LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT) with onnxruntime's handling of
 * two classes scored by one weight. The trees are flattened once at build
 * into typed arrays and walked by ml_tree_walk.ts (the Jit's treeLeaves
 * kernels where native code runs); the votes folded and finalized here.
 * Integer class labels here (string ones become indexes at the session's
 * edge: graph/load.ts).
 */
import type { Node } from "../ir.ts";
import type { Jit } from "../../runtime/jit.ts";
import {
  askedOutput,
  type Buf,
  expectType,
  fail,
  meta,
  nativeJit,
  need,
  type OpDef,
  type Step,
  STRING_LABELS,
} from "./op.ts";
import { type Aggregate, type Forest, forestScorer, LEAF, MODES } from "./ml_tree_walk.ts";

const f = Math.fround;

/** Post transforms. */
export type Transform = "NONE" | "LOGISTIC" | "SOFTMAX" | "SOFTMAX_ZERO" | "PROBIT";
/** The post transforms onnxruntime knows. */
export const TRANSFORMS: readonly Transform[] = [
  "NONE",
  "LOGISTIC",
  "SOFTMAX",
  "SOFTMAX_ZERO",
  "PROBIT",
];

const AGGREGATES: readonly Aggregate[] = ["SUM", "AVERAGE", "MIN", "MAX"];

/**
 * Every walk from `roots` ends: no node leads back to one on its way (a cycle
 * would loop for ever). An iterative depth-first search (a deep tree must not
 * overflow the stack); `cycle` names the fault at node `v` under `root`.
 */
export function checkWalksEnd(
  n: Node,
  t: Pick<Forest, "mode" | "yes" | "no">,
  roots: Iterable<number>,
  cycle: (v: number, root: number) => string,
): void {
  const state = new Uint8Array(t.mode.length); // 0 unseen, 1 on the path, 2 done
  const stack: number[] = [];
  for (const root of roots) {
    stack.push(root);
    while (stack.length) {
      const v = stack[stack.length - 1];
      if (state[v] === 0) {
        state[v] = 1;
        if (t.mode[v] !== LEAF) {
          for (const c of [t.yes[v], t.no[v]]) {
            if (state[c] === 1) fail(n, cycle(v, root));
            if (state[c] === 0) stack.push(c);
          }
        }
      } else {
        state[v] = 2;
        stack.pop();
      }
    }
  }
}

/** An attribute that must be present. */
function required<T>(n: Node, name: string, v: T | null): T {
  if (v === null) fail(n, `attribute '${name}' is required`);
  return v;
}

/** Floats of `name`, or of `name_as_tensor` (doubles, rounded to float32 as onnxruntime reads them). */
function floatsOf(n: Node, name: string): number[] | null {
  const t = n.attrs.tensor(`${name}_as_tensor`);
  if (t) return Array.from(t.data as ArrayLike<number>, (v) => f(Number(v)));
  return n.attrs.floats(name);
}

/** The ensemble's nodes and votes (`prefix`: "target" or "class"), checked and flattened. */
function forestOf(n: Node, prefix: string, targets: number): Forest {
  const treeIds = required(n, "nodes_treeids", n.attrs.ints("nodes_treeids"));
  const nodeIds = required(n, "nodes_nodeids", n.attrs.ints("nodes_nodeids"));
  const features = required(n, "nodes_featureids", n.attrs.ints("nodes_featureids"));
  const modes = required(n, "nodes_modes", n.attrs.strings("nodes_modes"));
  const values = required(n, "nodes_values", floatsOf(n, "nodes_values"));
  const trueIds = required(n, "nodes_truenodeids", n.attrs.ints("nodes_truenodeids"));
  const falseIds = required(n, "nodes_falsenodeids", n.attrs.ints("nodes_falsenodeids"));
  const missing = n.attrs.ints("nodes_missing_value_tracks_true") ?? [];
  const count = treeIds.length;
  for (
    const [what, v] of [
      ["nodes_nodeids", nodeIds],
      ["nodes_featureids", features],
      ["nodes_modes", modes],
      ["nodes_values", values],
      ["nodes_truenodeids", trueIds],
      ["nodes_falsenodeids", falseIds],
    ] as const
  ) {
    if (v.length !== count) fail(n, `${what} has ${v.length} entries, nodes_treeids ${count}`);
  }
  const at = new Map<string, number>();
  const key = (tree: number, node: number) => `${tree}/${node}`;
  for (let i = 0; i < count; i++) {
    if (at.has(key(treeIds[i], nodeIds[i]))) {
      fail(n, `node ${nodeIds[i]} of tree ${treeIds[i]} is listed twice`);
    }
    at.set(key(treeIds[i], nodeIds[i]), i);
  }
  const forest: Forest = {
    feature: new Int32Array(count),
    threshold: new Float32Array(count),
    mode: new Uint8Array(count),
    yes: new Int32Array(count),
    no: new Int32Array(count),
    missingYes: new Uint8Array(count),
    voteStart: new Int32Array(count + 1),
    voteTarget: new Int32Array(0),
    voteWeight: new Float32Array(0),
    roots: new Int32Array(0),
    maxFeature: -1,
  };
  const roots: number[] = [];
  for (let i = 0; i < count; i++) {
    const m = modes[i] === "LEAF" ? LEAF : MODES.indexOf(modes[i]);
    if (m < 0) fail(n, `node mode '${modes[i]}' is not one of ${[...MODES, "LEAF"].join(", ")}`);
    forest.mode[i] = m;
    forest.threshold[i] = values[i];
    forest.missingYes[i] = missing[i] === 1 ? 1 : 0;
    if (i === 0 || treeIds[i] !== treeIds[i - 1]) roots.push(i);
    if (m === LEAF) continue;
    if (!(features[i] >= 0 && features[i] < 2 ** 31)) fail(n, `feature ${features[i]} is negative`);
    forest.feature[i] = features[i];
    forest.maxFeature = Math.max(forest.maxFeature, features[i]);
    for (
      const [ids, into, side] of [[trueIds, forest.yes, "true"], [
        falseIds,
        forest.no,
        "false",
      ]] as const
    ) {
      const child = at.get(key(treeIds[i], ids[i]));
      if (child === undefined || ids[i] === nodeIds[i]) {
        fail(
          n,
          `node ${nodeIds[i]} of tree ${treeIds[i]}: its ${side} node ${ids[i]} is not in the tree`,
        );
      }
      into[i] = child;
    }
  }
  forest.roots = Int32Array.from(roots);
  checkWalksEnd(n, forest, roots, (v) => `the nodes of tree ${treeIds[v]} form a cycle`);
  // Votes: per node, in the order listed.
  const ids = required(n, `${prefix}_ids`, n.attrs.ints(`${prefix}_ids`));
  const vTrees = required(n, `${prefix}_treeids`, n.attrs.ints(`${prefix}_treeids`));
  const vNodes = required(n, `${prefix}_nodeids`, n.attrs.ints(`${prefix}_nodeids`));
  const weights = required(n, `${prefix}_weights`, floatsOf(n, `${prefix}_weights`));
  if (
    vTrees.length !== ids.length || vNodes.length !== ids.length || weights.length !== ids.length
  ) {
    fail(n, `${prefix}_ids, _treeids, _nodeids and _weights differ in length`);
  }
  const perNode: number[][] = Array.from({ length: count }, () => []);
  for (let v = 0; v < ids.length; v++) {
    const node = at.get(key(vTrees[v], vNodes[v]));
    if (node === undefined) {
      fail(n, `a vote names node ${vNodes[v]} of tree ${vTrees[v]}, not listed`);
    }
    if (!(ids[v] >= 0 && ids[v] < targets)) {
      fail(n, `${prefix} id ${ids[v]} is outside 0..${targets - 1}`);
    }
    perNode[node].push(v);
  }
  forest.voteTarget = new Int32Array(ids.length);
  forest.voteWeight = new Float32Array(ids.length);
  let k = 0;
  for (let i = 0; i < count; i++) {
    forest.voteStart[i] = k;
    for (const v of perNode[i]) {
      forest.voteTarget[k] = ids[v];
      forest.voteWeight[k++] = weights[v];
    }
  }
  forest.voteStart[count] = k;
  return forest;
}

/** onnxruntime's logistic: 1/(1 + e^−|v|), mirrored below 0, in float32. */
export function logistic(v: number): number {
  const p = f(1 / f(1 + f(Math.exp(-Math.abs(v)))));
  return v < 0 ? f(1 - p) : p;
}

/**
 * onnxruntime's probit: √2·erfinv(2v − 1) by its approximation (Winitzki's,
 * a = 0.147), in float32 as its compiler emits it: π as float, and a² − b
 * fused (one rounding: a·a is exact in a double). Near v = ½ that difference
 * cancels, so the steps' roundings decide the result.
 */
function probit(v: number): number {
  let x = f(f(2 * v) - 1);
  const sign = x < 0 ? -1 : 1;
  x = f(f(1 - x) * f(1 + x));
  const log = f(Math.log(x));
  const a = f(f(2 / f(f(Math.PI) * f(0.147))) + f(0.5 * log));
  const b = f(f(1 / f(0.147)) * log);
  const c = f(-a + f(Math.sqrt(f(a * a - b))));
  return f(f(1.41421356) * f(sign * f(Math.sqrt(c))));
}

/** The post transform over a row's scores (two or more), in place. */
export function transform(s: number[], post: Transform): void {
  if (post === "PROBIT") { for (let i = 0; i < s.length; i++) s[i] = probit(s[i]); }
  else if (post === "LOGISTIC") { for (let i = 0; i < s.length; i++) s[i] = logistic(s[i]); }
  else if (post === "SOFTMAX" || post === "SOFTMAX_ZERO") {
    let max = -3.4028234663852886e38;
    for (const v of s) if (v > max) max = v;
    let sum = 0;
    const zero = f(Math.exp(-max));
    for (let i = 0; i < s.length; i++) {
      if (post === "SOFTMAX_ZERO" && !(s[i] > 1e-7 || s[i] < -1e-7)) s[i] = f(s[i] * zero);
      else {
        s[i] = f(Math.exp(f(s[i] - max)));
        sum = f(sum + s[i]);
      }
    }
    for (let i = 0; i < s.length; i++) s[i] = f(s[i] / sum);
  }
}

/**
 * onnxruntime's `write_scores`: a score no vote set (`has` 0) reads as 0 —
 * its base value too, which onnxruntime adds to the sum but not to the flag —;
 * the transform over two or more scores; one score (two classes, one
 * weighed) becomes two by `second`: 0 and 1 as [1 − s, s], 2 as [−s, s] and
 * 3 as [s, −s] (or both logistic under LOGISTIC).
 */
function writeScores(
  s: number[],
  has: ArrayLike<number>,
  post: Transform,
  second: number,
  z: Float32Array | Float64Array,
  at: number,
) {
  for (let i = 0; i < s.length; i++) if (!has[i]) s[i] = 0;
  if (s.length >= 2) transform(s, post);
  else if (s.length === 1) {
    if (post === "PROBIT") s[0] = probit(s[0]);
    else if (second === 0 || second === 1) s.splice(0, 1, f(1 - s[0]), s[0]);
    else if (second === 2 || second === 3) {
      if (post === "LOGISTIC") s.splice(0, 1, logistic(-s[0]), logistic(s[0]));
      else if (second === 2) s.splice(0, 1, -s[0], s[0]);
      else s.push(-s[0]);
    }
  }
  for (let i = 0; i < s.length; i++) z[at + i] = s[i];
}

/** The ensemble's common attributes. */
function settings(n: Node) {
  const post = n.attrs.string("post_transform", "NONE") as Transform;
  if (!TRANSFORMS.includes(post)) fail(n, `post_transform '${post}' is not supported`);
  const agg = n.attrs.string("aggregate_function", "SUM") as Aggregate;
  if (!AGGREGATES.includes(agg)) fail(n, `aggregate_function '${agg}' is not supported`);
  return { post, agg, base: floatsOf(n, "base_values") ?? [] };
}

/** Rows and features of X ([N, F], or [F] as one row). */
function rowsOf(n: Node, dims: readonly number[]): [number, number] {
  if (dims.length === 1) return [1, dims[0]];
  if (dims.length !== 2) fail(n, `X must be [N, F] or [F], got rank ${dims.length}`);
  return [dims[0], dims[1]];
}

const INPUT_TYPES = ["float32", "float64", "int64", "int32"] as const;

/**
 * X as float32 values (doubles and integers rounded as onnxruntime casts
 * them): a reader made once per plan, filling one buffer per call.
 */
export function float32Reader(x: Buf): () => Float32Array {
  if (x.type === "float32") return () => x.data as Float32Array;
  const into = new Float32Array(x.data.length);
  return () => {
    for (let i = 0; i < into.length; i++) into[i] = Number(x.data[i]);
    return into;
  };
}

/** The node attributes of TreeEnsembleRegressor and TreeEnsembleClassifier. */
const NODE_ATTRIBUTES = [
  "base_values",
  "base_values_as_tensor",
  "nodes_falsenodeids",
  "nodes_featureids",
  "nodes_hitrates",
  "nodes_hitrates_as_tensor",
  "nodes_missing_value_tracks_true",
  "nodes_modes",
  "nodes_nodeids",
  "nodes_treeids",
  "nodes_truenodeids",
  "nodes_values",
  "nodes_values_as_tensor",
  "post_transform",
];

const TREE_REGRESSOR: OpDef = {
  attributes: [
    "aggregate_function",
    "n_targets",
    ...NODE_ATTRIBUTES,
    "target_ids",
    "target_nodeids",
    "target_treeids",
    "target_weights",
    "target_weights_as_tensor",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...INPUT_TYPES);
    const [rows, features] = rowsOf(n, x.dims);
    const targets = n.attrs.int("n_targets", 1);
    if (targets < 1) fail(n, `n_targets ${targets} must be at least 1`);
    settings(n);
    const forest = forestOf(n, "target", targets);
    if (forest.maxFeature >= features) {
      fail(n, `a node reads feature ${forest.maxFeature}, X has ${features}`);
    }
    return [meta("float32", [rows, targets])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, targets = n.attrs.int("n_targets", 1), { post, agg, base } = settings(n);
    const forest = forestOf(n, "target", targets);
    const z = outs[0].data as Float32Array;
    return regressionStep(forest, targets, agg, post, base, x, z, nativeJit(env));
  },
};

/**
 * The step of a regression ensemble over X's rows into z: each row's
 * aggregate, base values and post transform as onnxruntime finalizes them.
 * `jit`: the Jit that walks the rows where native code runs (see
 * op.ts's nativeJit). `double`: a double ensemble (TreeEnsemble of float64 X),
 * sums unrounded and no transform but NONE.
 */
export function regressionStep(
  forest: Forest,
  targets: number,
  agg: Aggregate,
  post: Transform,
  base: readonly number[],
  x: Buf,
  z: Float32Array | Float64Array,
  jit: Jit | null,
  double = false,
): Step {
  const [rows, features] = x.dims.length === 1 ? [1, x.dims[0]] : [x.dims[0], x.dims[1]];
  const read = double ? () => x.data as Float64Array : float32Reader(x);
  const r = double ? (v: number) => v : f, trees = forest.roots.length;
  const scorer = forestScorer(forest, agg, targets, rows, features, jit, double);
  const { score, has, chunk } = scorer, s: number[] = [], h: number[] = [];
  const origin = base.length === 1 ? base[0] : 0, useBase = base.length === targets;
  return {
    native: false,
    run: () => {
      const xd = read();
      for (let from = 0; from < rows; from += chunk) {
        const to = Math.min(rows, from + chunk);
        scorer.run(xd, from, to);
        for (let row = from; row < to; row++) {
          const at = (row - from) * targets;
          if (targets === 1) {
            // One target: the base value when it is the only one, then PROBIT or nothing.
            let v = score[at];
            if (agg === "AVERAGE") v = r(r(v / trees) + origin);
            else if (agg === "SUM") v = r(v + origin);
            else v = has[at] ? r(v + origin) : origin;
            z[row] = post === "PROBIT" ? probit(v) : v;
            continue;
          }
          s.length = h.length = 0;
          for (let j = 0; j < targets; j++) {
            const b = useBase ? base[j] : 0, v = score[at + j];
            if (agg === "AVERAGE") s.push(r(r(v / trees) + b));
            else if (agg === "SUM") s.push(r(v + b));
            else s.push(r(b + (has[at + j] ? v : 0)));
            h.push(has[at + j]);
          }
          writeScores(s, h, post, -1, z, row * targets);
        }
      }
    },
  };
}

const TREE_CLASSIFIER: OpDef = {
  attributes: [
    "class_ids",
    "class_nodeids",
    "class_treeids",
    "class_weights",
    "class_weights_as_tensor",
    "classlabels_int64s",
    "classlabels_strings",
    ...NODE_ATTRIBUTES,
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...INPUT_TYPES);
    const [rows, features] = rowsOf(n, x.dims);
    if (n.attrs.strings("classlabels_strings")) {
      fail(n, STRING_LABELS);
    }
    const labels = required(n, "classlabels_int64s", n.attrs.ints("classlabels_int64s"));
    if (labels.length < 2) {
      fail(n, `classlabels_int64s names ${labels.length} classes, not 2 or more`);
    }
    const { base } = settings(n);
    if (base.length > labels.length) {
      fail(n, `${base.length} base values for ${labels.length} classes`);
    }
    const forest = forestOf(n, "class", labels.length);
    if (forest.maxFeature >= features) {
      fail(n, `a node reads feature ${forest.maxFeature}, X has ${features}`);
    }
    return [meta("int64", [rows]), meta("float32", [rows, labels.length])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, [rows, features] = rowsOf(n, x.dims);
    const labels = n.attrs.ints("classlabels_int64s")!, classes = labels.length;
    const { post, base } = settings(n);
    const forest = forestOf(n, "class", classes), read = float32Reader(x);
    // Classifiers sum their votes (onnxruntime's classifier aggregates as SUM whatever is set).
    const scorer = forestScorer(forest, "SUM", classes, rows, features, nativeJit(env));
    const { score, has, chunk } = scorer;
    const y = askedOutput(outs, 0) ? outs[0].data as BigInt64Array : null;
    const z = askedOutput(outs, 1)
      ? outs[1].data as Float32Array
      : new Float32Array(rows * classes);
    const voted = new Set(forest.voteTarget);
    const positive = forest.voteWeight.every((w) => !(w < 0));
    // Two classes, one of them weighed: its score decides (onnxruntime's binary case).
    const binary = classes === 2 && voted.size === 1;
    const s: number[] = [], h: number[] = []; // a row's scores and flags, refilled per row
    const names = labels.map(BigInt); // made once: a BigInt a row cost a tenth of a µs
    /** The label from the positive class's weight; sets how one score becomes two. */
    const binaryLabel = (s: number[], h: number[]): [bigint, number] => {
      const pos = h.length === 2 && h[1] ? s[1] : h[0] ? s[0] : 0;
      if (binary) {
        if (positive) return pos > 0.5 ? [names[1], 0] : [names[0], 1];
        return pos > 0 ? [names[1], 2] : [names[0], 3];
      }
      return pos > 0 ? [1n, -1] : [0n, -1];
    };
    return {
      native: false,
      run: () => {
        const xd = read();
        for (let r = 0; r < rows; r++) {
          const at = r % chunk;
          if (at === 0) scorer.run(xd, r, Math.min(rows, r + chunk));
          s.length = h.length = 0;
          for (let k = 0; k < classes; k++) {
            s.push(score[at * classes + k]);
            h.push(has[at * classes + k]);
          }
          let label: bigint, second = -1;
          if (classes > 2) {
            for (let k = 0; k < base.length; k++) {
              s[k] = h[k] ? f(s[k] + base[k]) : base[k];
              h[k] = 1;
            }
            let best = -1, max = 0;
            for (let k = 0; k < classes; k++) {
              if (h[k] && (best === -1 || s[k] > max)) {
                best = k;
                max = s[k];
              }
            }
            label = names[best < 0 ? 0 : best];
          } else {
            if (base.length === 2) {
              if (h[1]) {
                // onnxruntime adds class 1's base value to class 0's sum (it takes the
                // two base values equal here) and scores class 0 as its negative.
                s[1] = f(base[1] + s[0]);
                s[0] = -s[1];
                h[1] = 1;
              } else {
                s[1] = f(s[1] + base[1]);
                s[0] = f(s[0] + base[0]);
              }
            } else if (base.length === 1) {
              s[0] = f(s[0] + base[0]);
              if (!h[1]) {
                s.pop();
                h.pop();
              }
            } else {
              second = 3;
              if (!h[1]) {
                s.pop();
                h.pop();
              }
            }
            const [l, add] = binaryLabel(s, h);
            label = l;
            if (add >= 0 || second < 0) second = add;
          }
          if (y) y[r] = label;
          writeScores(s, h, post, second, z, r * classes);
        }
      },
    };
  },
};

/** The ai.onnx.ml tree ensembles. */
export const ML_TREE_OPS: Record<string, OpDef> = {
  TreeEnsembleRegressor: TREE_REGRESSOR,
  TreeEnsembleClassifier: TREE_CLASSIFIER,
};
