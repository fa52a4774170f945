/**
 * Walking a tree ensemble's rows and folding the votes of the leaves they
 * reach, as onnxruntime folds them (float32 sums in tree order, or the
 * aggregate's MIN/MAX). Two walks give the same leaves: the Jit's
 * treeLeaves kernels (one test for every branch, every converter's numeric
 * form; or each node's own, LightGBM's categorical BRANCH_EQ among its
 * BRANCH_LEQ) — rows split over the session's threads, each row's leaves
 * then folded here —, or a TypeScript walk in blocks of rows tree by tree
 * (set membership, double ensembles).
 *
 * @module
 */
import type { Jit } from "../../runtime/jit.ts";
import type { PackedTrees, TreeLeavesOptions } from "../../kernels/trees/mod.ts";

const f = Math.fround;

/** Node modes, in onnxruntime's order; LEAF ends a walk. */
export const MODES = [
  "BRANCH_LEQ",
  "BRANCH_LT",
  "BRANCH_GTE",
  "BRANCH_GT",
  "BRANCH_EQ",
  "BRANCH_NEQ",
];
/** A leaf's mode; MEMBER (7) tests a set of values (TreeEnsemble's BRANCH_MEMBER). */
export const LEAF = 6, MEMBER = 7;

/** Aggregate functions. */
export type Aggregate = "SUM" | "AVERAGE" | "MIN" | "MAX";

/** The flattened trees: per node its test, children and leaf votes. */
export interface Forest {
  feature: Int32Array;
  /** Thresholds (float32, or float64 for a double ensemble). */
  threshold: Float32Array | Float64Array;
  mode: Uint8Array;
  yes: Int32Array;
  no: Int32Array;
  missingYes: Uint8Array;
  /** Votes of node i: voteTarget / voteWeight [voteStart[i], voteStart[i + 1]). */
  voteStart: Int32Array;
  voteTarget: Int32Array;
  voteWeight: Float32Array | Float64Array;
  roots: Int32Array;
  /** Greatest feature index a node reads. */
  maxFeature: number;
  /** MEMBER nodes' sets of values (null elsewhere). */
  members?: (Set<number> | null)[];
  /** Every test BRANCH_LEQ, no missing-value track (set by `withLeq`). */
  leq?: boolean;
}

/** The forest with its `leq` flag set. */
export function withLeq(t: Forest): Forest {
  t.leq = allLeq(t);
  return t;
}

/**
 * Whether every test of the forest is BRANCH_LEQ with no missing-value track (a NaN goes
 * false): XGBoost's and LightGBM's forests, walked in one comparison a node (aggregate).
 */
function allLeq(t: Forest): boolean {
  for (let i = 0; i < t.mode.length; i++) {
    if (t.mode[i] !== LEAF && (t.mode[i] !== 0 || t.missingYes[i] === 1)) return false;
  }
  return true;
}

/** The leaf a row reaches from `root`. */
function leafOf(t: Forest, root: number, x: Float32Array | Float64Array, at: number): number {
  let i = root;
  while (t.mode[i] !== LEAF) {
    const v = x[at + t.feature[i]], th = t.threshold[i];
    let go: boolean;
    switch (t.mode[i]) {
      case 0:
        go = v <= th;
        break;
      case 1:
        go = v < th;
        break;
      case 2:
        go = v >= th;
        break;
      case 3:
        go = v > th;
        break;
      case 4:
        go = v === th;
        break;
      case 5:
        go = v !== th;
        break;
      default:
        go = t.members![i]!.has(v);
    }
    i = go || (t.missingYes[i] === 1 && Number.isNaN(v)) ? t.yes[i] : t.no[i];
  }
  return i;
}

/** Rows scored together, tree by tree: a tree's nodes stay in L1 across the block's rows. */
const BLOCK_ROWS = 64;

/**
 * Scores rows [from, to) of X (`features` a row) tree by tree: `score`/`has` per row of the
 * block and target (`targets` a row), as the aggregate folds each leaf's votes in tree
 * order, rounded by `round` (float32's, or none for a double ensemble).
 */
function aggregate(
  t: Forest,
  agg: Aggregate,
  x: Float32Array | Float64Array,
  from: number,
  to: number,
  features: number,
  targets: number,
  score: Float32Array | Float64Array,
  has: Uint8Array,
  round: (v: number) => number = f,
): void {
  score.fill(0, 0, (to - from) * targets);
  has.fill(0, 0, (to - from) * targets);
  const sum = agg === "SUM" || agg === "AVERAGE", leq = t.leq === true;
  const voteStart = t.voteStart, voteTarget = t.voteTarget, voteWeight = t.voteWeight;
  const mode = t.mode, feature = t.feature, threshold = t.threshold, yes = t.yes, no = t.no;
  for (let r = 0; r < t.roots.length; r++) {
    const root = t.roots[r];
    for (let row = from; row < to; row++) {
      const at = row * features, base = (row - from) * targets;
      let leaf = root;
      // A BRANCH_LEQ forest without missing tracks (converted XGBoost and LightGBM models): one
      // comparison a node, in the loop.
      if (leq) {
        while (mode[leaf] !== LEAF) {
          leaf = x[at + feature[leaf]] <= threshold[leaf] ? yes[leaf] : no[leaf];
        }
      } else leaf = leafOf(t, root, x, at);
      for (let v = voteStart[leaf]; v < voteStart[leaf + 1]; v++) {
        const j = base + voteTarget[v], w = voteWeight[v];
        if (sum) score[j] = round(score[j] + w);
        else if (!has[j] || (agg === "MIN" ? w < score[j] : w > score[j])) score[j] = w;
        has[j] = 1;
      }
    }
  }
}

/**
 * Rows' folds in chunks: `run(x, from, to)` (from a multiple of `chunk`, to
 * at most `chunk` past it) leaves each row's fold of target j in `score`
 * and `has` (whether a vote reached it) at (row − from)·targets + j.
 */
export interface ForestScorer {
  /** Most rows of a run. */
  readonly chunk: number;
  readonly score: Float32Array | Float64Array;
  readonly has: Uint8Array;
  run(x: Float32Array | Float64Array, from: number, to: number): void;
}

/** Leaves of a chunk of native walks: its rows × trees ints at most (1 MiB). */
const LEAVES_PER_CHUNK = 1 << 18;

/**
 * `t` packed for the Jit's walks (leaves as -1 children; each node's test, which packTrees
 * makes one for all where they agree), or null where it cannot walk it: set membership
 * (TreeEnsemble's BRANCH_MEMBER), or a double ensemble.
 */
function packed(t: Forest, jit: Jit): PackedTrees | null {
  if (!(t.threshold instanceof Float32Array) || t.mode.includes(MEMBER)) return null;
  const yes = t.yes.slice(), no = t.no.slice(), test = t.mode.slice();
  for (let i = 0; i < t.mode.length; i++) {
    if (t.mode[i] === LEAF) {
      yes[i] = no[i] = -1;
      test[i] = 0;
    }
  }
  return jit.packTrees({
    test,
    feature: t.feature,
    threshold: t.threshold,
    yes,
    no,
    missingYes: t.missingYes,
    roots: t.roots,
  });
}

/**
 * The scorer of `rows` rows of `features`: the Jit's walks where `jit` is
 * given (native code runs) and the forest allows, else the TypeScript walk.
 * `round`: float32's (or none for a double ensemble).
 */
export function forestScorer(
  t: Forest,
  agg: Aggregate,
  targets: number,
  rows: number,
  features: number,
  jit: Jit | null,
  double = false,
): ForestScorer {
  const round = double ? (v: number) => v : f;
  const forest = jit && !double ? packed(t, jit) : null;
  if (forest === null || jit === null) {
    withLeq(t);
    const chunk = BLOCK_ROWS, size = chunk * targets;
    const score = double ? new Float64Array(size) : new Float32Array(size);
    const has = new Uint8Array(size);
    return {
      chunk,
      score,
      has,
      run: (x, from, to) => aggregate(t, agg, x, from, to, features, targets, score, has, round),
    };
  }
  const trees = t.roots.length;
  const chunk = Math.max(64, Math.min(rows, Math.floor(LEAVES_PER_CHUNK / trees)));
  const score = new Float32Array(chunk * targets), has = new Uint8Array(chunk * targets);
  const leaves = new Int32Array(chunk * trees), votes = leafVotes(t, targets);
  // Each chunk's views of x and leaves and its options, made once per x (a plan's x is fixed).
  let seen: Float32Array | null = null;
  const xs: Float32Array[] = [], ls: Int32Array[] = [], options: TreeLeavesOptions[] = [];
  return {
    chunk,
    score,
    has,
    run: (x, from, to) => {
      if (x !== seen) {
        seen = x as Float32Array;
        xs.length = ls.length = options.length = 0;
        for (let at = 0; at < rows; at += chunk) {
          const count = Math.min(chunk, rows - at);
          xs.push(seen.subarray(at * features, (at + count) * features));
          ls.push(leaves.subarray(0, count * trees));
          options.push({ rows: count, features });
        }
      }
      const c = from / chunk;
      jit.treeLeaves(xs[c], forest, ls[c], options[c]);
      foldLeaves(t, votes, agg, ls[c], to - from, targets, score, has);
    },
  };
}

/**
 * Each node's vote where it has one: `target` its target (-1: none, -2:
 * several, read from the forest's lists), `weight` its weight. One load
 * each per leaf a row reached, where the lists take a loop: 2.3× faster
 * over 2,621 rows of 100 trees (scratch benchmark of the two folds).
 */
interface LeafVotes {
  target: Int32Array;
  weight: Float32Array;
  /** Every leaf votes for target 0 at most (one target): the fold keeps its sum in a register. */
  single: boolean;
  /**
   * Each node's votes as a row of `targets` weights (0 where it does not vote) and flags, where
   * no leaf votes twice for one target (its votes then commute) and the rows are few (≤ 4 Mi):
   * a sum adds the whole row (x + 0 is x, as above) — a random forest's leaves vote for every
   * class. Else null.
   */
  dense: { weight: Float32Array; has: Uint8Array; mask: Uint8Array } | null;
}

/** Most nodes × targets of the dense rows. */
const MAX_DENSE = 1 << 22;

function leafVotes(t: Forest, targets: number): LeafVotes {
  const n = t.mode.length, target = new Int32Array(n), weight = new Float32Array(n);
  let single = true, distinct = n * targets <= MAX_DENSE;
  for (let i = 0; i < n; i++) {
    const from = t.voteStart[i], count = t.voteStart[i + 1] - from;
    target[i] = count === 0 ? -1 : count === 1 ? t.voteTarget[from] : -2;
    if (count === 1) weight[i] = t.voteWeight[from];
    if (count > 1 || target[i] > 0) single = false;
    for (let v = from + 1; distinct && v < from + count; v++) {
      for (let u = from; u < v; u++) if (t.voteTarget[u] === t.voteTarget[v]) distinct = false;
    }
  }
  let dense: LeafVotes["dense"] = null;
  if (!single && distinct && targets > 1) {
    // Rows of four weights for two to four targets (the fold's four sums a row), and a mask.
    const width = targets <= 4 ? 4 : targets;
    dense = {
      weight: new Float32Array(n * width),
      has: new Uint8Array(n * width),
      mask: new Uint8Array(n),
    };
    for (let i = 0; i < n; i++) {
      for (let v = t.voteStart[i]; v < t.voteStart[i + 1]; v++) {
        dense.weight[i * width + t.voteTarget[v]] = t.voteWeight[v];
        dense.has[i * width + t.voteTarget[v]] = 1;
        if (targets <= 4) dense.mask[i] |= 1 << t.voteTarget[v];
      }
    }
  }
  return { target, weight, single, dense };
}

/** A row's first `targets` (2-4) of four sums and their flags (a mask) at `at`. */
function putFour(
  score: Float32Array,
  has: Uint8Array,
  at: number,
  targets: number,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  mask: number,
): void {
  score[at] = s0;
  score[at + 1] = s1;
  has[at] = mask & 1;
  has[at + 1] = (mask >> 1) & 1;
  if (targets < 3) return;
  score[at + 2] = s2;
  has[at + 2] = (mask >> 2) & 1;
  if (targets < 4) return;
  score[at + 3] = s3;
  has[at + 3] = (mask >> 3) & 1;
}

/**
 * The votes of the leaves rows reached (`leaves`: rows × trees, tree
 * order), folded as {@link aggregate} folds them: the same bits. (A leaf
 * without a vote adds nothing; the one-target sum adds its weight 0
 * instead, the same: the sum starts at +0 and never becomes −0, so x + 0 is
 * x.)
 */
function foldLeaves(
  t: Forest,
  votes: LeafVotes,
  agg: Aggregate,
  leaves: Int32Array,
  rows: number,
  targets: number,
  score: Float32Array,
  has: Uint8Array,
): void {
  const sum = agg === "SUM" || agg === "AVERAGE", trees = t.roots.length;
  const target = votes.target, weight = votes.weight;
  if (sum && votes.single) {
    // Four rows at a time: four sums in flight (one row's is a chain of float32 additions).
    let row = 0;
    for (; row + 4 <= rows; row += 4) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, voted = 0;
      const at = row * trees;
      for (let k = 0; k < trees; k++) {
        const l0 = leaves[at + k], l1 = leaves[at + trees + k];
        const l2 = leaves[at + 2 * trees + k], l3 = leaves[at + 3 * trees + k];
        a0 = f(a0 + weight[l0]);
        a1 = f(a1 + weight[l1]);
        a2 = f(a2 + weight[l2]);
        a3 = f(a3 + weight[l3]);
        voted |= (target[l0] + 1) | (target[l1] + 1) << 1 | (target[l2] + 1) << 2 |
          (target[l3] + 1) << 3;
      }
      score[row] = a0;
      score[row + 1] = a1;
      score[row + 2] = a2;
      score[row + 3] = a3;
      for (let r = 0; r < 4; r++) has[row + r] = (voted >> r) & 1;
    }
    for (; row < rows; row++) {
      let acc = 0, voted = 0;
      for (let k = 0, at = row * trees; k < trees; k++, at++) {
        const leaf = leaves[at];
        acc = f(acc + weight[leaf]);
        voted |= target[leaf] + 1;
      }
      score[row] = acc;
      has[row] = voted;
    }
    return;
  }
  score.fill(0, 0, rows * targets);
  has.fill(0, 0, rows * targets);
  if (sum && votes.dense && targets <= 4) {
    // Four sums a row in locals (a target past `targets` adds zeros, never written), two rows
    // at a time: eight chains of float32 additions in flight; the flags as a mask a row.
    const w = votes.dense.weight, mask = votes.dense.mask;
    for (let row = 0; row < rows; row += 2) {
      const two = row + 1 < rows, p = row * trees, q = two ? p + trees : p;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0, ma = 0, mb = 0;
      for (let k = 0; k < trees; k++) {
        const la = leaves[p + k], lb = leaves[q + k], wa = 4 * la, wb = 4 * lb;
        a0 = f(a0 + w[wa]);
        a1 = f(a1 + w[wa + 1]);
        a2 = f(a2 + w[wa + 2]);
        a3 = f(a3 + w[wa + 3]);
        b0 = f(b0 + w[wb]);
        b1 = f(b1 + w[wb + 1]);
        b2 = f(b2 + w[wb + 2]);
        b3 = f(b3 + w[wb + 3]);
        ma |= mask[la];
        mb |= mask[lb];
      }
      putFour(score, has, row * targets, targets, a0, a1, a2, a3, ma);
      if (two) putFour(score, has, (row + 1) * targets, targets, b0, b1, b2, b3, mb);
    }
    return;
  }
  if (sum && votes.dense) {
    const w = votes.dense.weight, h = votes.dense.has;
    for (let row = 0, at = 0; row < rows; row++) {
      const base = row * targets;
      for (let k = 0; k < trees; k++, at++) {
        const lw = leaves[at] * targets;
        for (let j = 0; j < targets; j++) {
          score[base + j] = f(score[base + j] + w[lw + j]);
          has[base + j] |= h[lw + j];
        }
      }
    }
    return;
  }
  const voteStart = t.voteStart, voteTarget = t.voteTarget, voteWeight = t.voteWeight;
  for (let row = 0, at = 0; row < rows; row++) {
    const base = row * targets;
    for (let k = 0; k < trees; k++, at++) {
      const leaf = leaves[at], one = target[leaf];
      if (one === -1) continue;
      if (one >= 0) {
        const j = base + one, w = weight[leaf];
        if (sum) score[j] = f(score[j] + w);
        else if (!has[j] || (agg === "MIN" ? w < score[j] : w > score[j])) score[j] = w;
        has[j] = 1;
        continue;
      }
      for (let v = voteStart[leaf]; v < voteStart[leaf + 1]; v++) {
        const j = base + voteTarget[v], w = voteWeight[v];
        if (sum) score[j] = f(score[j] + w);
        else if (!has[j] || (agg === "MIN" ? w < score[j] : w > score[j])) score[j] = w;
        has[j] = 1;
      }
    }
  }
}
