/**
 * The treeLeaves family: rows of x walked down a packed forest of decision
 * trees, the leaf of each row in each tree.
 *
 * @module
 */
export { TREES, treesReference } from "./family.ts";
export {
  MAX_TREE_NODES,
  type PackedTest,
  PackedTrees,
  recordsOf,
  TREE_TESTS,
  type TreesDescription,
  type TreeTest,
} from "./pack.ts";
export { readTreeLeaves, type TreeLeavesOptions, type TreesSpec } from "./read.ts";
