/**
 * Reading a `jit.treeLeaves` call: rows of x walked down every tree of a
 * packed forest, the leaf each row reaches written per row and tree. The
 * key is the shape and the forest's kind (test, record size, nodes, trees,
 * Σ depths), written without allocating; the records travel as an operand.
 *
 * @module
 */
import { readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { viewLength } from "../../typed.ts";
import { type PackedTest, type PackedTrees, TREE_TESTS } from "./pack.ts";

/** Options of `jit.treeLeaves`. */
export interface TreeLeavesOptions {
  /** Rows of x (and of leaves). */
  rows: number;
  /** Features of a row of x (more than the forest's `maxFeature`). */
  features: number;
}

/** What one call is. */
export interface TreesSpec {
  rows: number;
  features: number;
  trees: number;
  nodes: number;
  test: PackedTest;
  /** 32-byte records (with the NaN child, or the go mask where the test is "mixed"). */
  missing: boolean;
  /** Σ over trees of their depths (steps per row). */
  depths: number;
}

/** Argument block slots: the forest's records (int32 and f32) and leaves (int32) through float32 views. */
export const TREES_ARG = { X: 0, FOREST: 1, LEAVES: 2 } as const;

/** Names of the key slots after the family slot. */
export const TREES_KEY_FIELDS = [
  "rows",
  "features",
  "trees",
  "nodes",
  "test",
  "missing",
  "depths",
] as const;

const W = "treeLeaves";
/** Most elements of x and of leaves (byte offsets below 2^31). */
const MAX_ELEMENTS = 2 ** 29;

/**
 * Checks a call (x and leaves known Float32Arrays — leaves an Int32Array's
 * float view —, forest a PackedTrees) and writes key slots 1..7 and the
 * extents.
 */
export function readTreeLeaves(
  x: Float32Array,
  forest: PackedTrees,
  leaves: Float32Array,
  o: TreeLeavesOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions(W, o, "rows and features");
  const rows = readInt(W, "rows", o.rows, 1, MAX_ELEMENTS);
  const features = readInt(W, "features", o.features, 1, MAX_ELEMENTS);
  if (features <= forest.maxFeature) {
    fail(
      W,
      `a branch reads feature ${forest.maxFeature}, but rows of x have ${features} features`,
      "range",
    );
  }
  const trees = forest.trees;
  if (rows * features > MAX_ELEMENTS || rows * trees > MAX_ELEMENTS) {
    fail(W, `${rows} rows of ${features} features and ${trees} trees is too large`, "range");
  }
  const lx = viewLength(x), ll = viewLength(leaves);
  if (lx !== rows * features) {
    fail(W, `x has ${lx} elements but rows × features = ${rows * features}`, "range");
  }
  if (ll !== rows * trees) {
    fail(W, `leaves has ${ll} elements but rows × trees = ${rows * trees}`, "range");
  }
  key[1] = rows;
  key[2] = features;
  key[3] = trees;
  key[4] = forest.nodes;
  key[5] = forest.test === "mixed" ? TREE_TESTS.length : TREE_TESTS.indexOf(forest.test);
  key[6] = forest.missing ? 1 : 0;
  key[7] = forest.depths;
  extents[0] = 4 * rows * features;
  extents[1] = forestBytes(forest.nodes, trees, forest.missing);
  extents[2] = 4 * rows * trees;
}

/** Bytes of a forest operand: the records, then each tree's root and depth. */
export function forestBytes(nodes: number, trees: number, missing: boolean): number {
  return nodes * (missing ? 32 : 16) + 8 * trees;
}

/** The spec a key describes. */
export function decodeTreesKey(key: Int32Array): TreesSpec {
  return {
    rows: key[1],
    features: key[2],
    trees: key[3],
    nodes: key[4],
    test: key[5] === TREE_TESTS.length ? "mixed" : TREE_TESTS[key[5]],
    missing: key[6] === 1,
    depths: key[7],
  };
}
