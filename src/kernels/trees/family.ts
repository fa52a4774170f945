/**
 * Decision-tree walks as an op family: for each row of x and each tree of
 * a packed forest (pack.ts), the leaf the row reaches. What ONNX-ML's tree
 * ensembles (and XGBoost's and LightGBM's models through them) spend their
 * time on; the graph layer folds the leaves' votes. Rows are independent,
 * so a call splits over them; a leaf is an integer, the same whatever the
 * split.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rowParts } from "../partition.ts";
import { generateTrees, MAX_IN_FLIGHT, planTrees, type TreesPlan } from "./generate.ts";
import { recordBytes } from "./pack.ts";
import { decodeTreesKey, TREES_KEY_FIELDS, type TreesSpec } from "./read.ts";

/**
 * Cost-model flops a row's step stands for: a step keeps about two cycles
 * of a core's ports (five loads), where its FMA units would do ~64 flops.
 */
const FLOPS_PER_STEP = 64;

/** leaves[row][tree] = the node row reaches in tree; operands x, forest, leaves. */
export const TREES: OpFamily<TreesSpec, TreesPlan> = {
  name: "treeLeaves",
  keyFields: TREES_KEY_FIELDS,
  operands: ["x", "forest", "leaves"],
  outputs: 1,
  decode: decodeTreesKey,
  describe: (s) =>
    `treeLeaves ${s.rows}×${s.features} through ${s.trees} trees (${s.nodes} nodes, ${s.test}${
      s.missing && s.test !== "mixed" ? ", missing values tracked" : ""
    }, Σ depth ${s.depths})`,
  cost: (s) => ({
    flops: FLOPS_PER_STEP * s.rows * Math.max(1, s.depths),
    bytes: 4 * s.rows * (s.features + s.trees),
  }),
  plan: (s, t) => planTrees(s, t.isa),
  fallbackPlan: (s) => planTrees(s, "scalar"),
  generate: generateTrees,
  partition: (s, plan, parts) =>
    s.rows < 2 * MAX_IN_FLIGHT
      ? null
      : rowParts(s, plan, parts, (r) => [4 * r * s.features, 0, 4 * r * s.trees]),
  reference: (s, [x, forest, leaves]) => treesReference(s, x, forest, leaves),
};

/** The walks in TypeScript, on the same records: the oracle of the tests. */
export function treesReference(
  s: TreesSpec,
  x: Float32Array,
  forest: Float32Array,
  leavesView: Float32Array,
): void {
  const ints = new Int32Array(forest.buffer, forest.byteOffset, forest.length);
  const leaves = new Int32Array(leavesView.buffer, leavesView.byteOffset, leavesView.length);
  const rec = recordBytes(s.missing), words = rec / 4, table = s.nodes * words;
  for (let row = 0; row < s.rows; row++) {
    for (let t = 0; t < s.trees; t++) {
      let at = ints[table + 2 * t] / 4;
      for (let d = ints[table + 2 * t + 1]; d > 0; d--) {
        const v = x[row * s.features + ints[at] / 4], th = forest[at + 1];
        if (s.test === "mixed") {
          // The node's go bit for the state of v against th (below, above, equal, unordered).
          const state = v < th ? 0 : v > th ? 1 : v === th ? 2 : 3;
          at = ints[at + ((ints[at + 4] >> state) & 1 ? 2 : 3)] / 4;
          continue;
        }
        let go: boolean;
        switch (s.test) {
          case "leq":
            go = v <= th;
            break;
          case "lt":
            go = v < th;
            break;
          case "gte":
            go = v >= th;
            break;
          case "gt":
            go = v > th;
            break;
          case "eq":
            go = v === th;
            break;
          default:
            go = v !== th;
        }
        const next = s.missing && v !== v ? ints[at + 4] : ints[at + (go ? 2 : 3)];
        at = next / 4;
      }
      leaves[row * s.trees + t] = at / words;
    }
  }
}
