/**
 * Decision trees packed once for `jit.treeLeaves`: every node a record the
 * kernel reads with its children as byte offsets (no scaling in the walk),
 * leaves looping to themselves (a walk of fixed length: a row that reached
 * its leaf early stays there), and a table of each tree's root and depth
 * (the longest walk from its root). Every record is checked here, once:
 * children inside the forest, no cycle, features named — so no input can
 * send the kernel outside the records, and a call only checks x's width
 * against `maxFeature`. The records are private: the handle cannot be
 * changed after the check.
 *
 * Record (16 bytes): feature·4 (int32), threshold (f32), yes, no (byte
 * offsets). Forests with a missing-value track add the NaN child at 16
 * (32-byte records): the node's `yes` where it tracks missing values (and
 * for "neq", whose NaN always differs), else `no`. Forests whose branches
 * test in several ways (LightGBM's categorical BRANCH_EQ among its
 * BRANCH_LEQ) put at 16 instead the node's go mask: bit s set where the
 * row goes `yes` in state s of x against the threshold — 0 below, 1
 * above, 2 equal, 3 unordered (NaN) — its test and missing track both.
 *
 * @module
 */
import { describe, typedArrayTag, viewBuffer, viewByteOffset, viewLength } from "../../typed.ts";
import { fail } from "../checks.ts";

/** A branch's test: x[feature] `test` threshold sends the row to `yes`. */
export type TreeTest = "leq" | "lt" | "gte" | "gt" | "eq" | "neq";

/** The tests, in key order (ONNX-ML's BRANCH_LEQ ... BRANCH_NEQ). */
export const TREE_TESTS: readonly TreeTest[] = ["leq", "lt", "gte", "gt", "eq", "neq"];

/** A packed forest's test: one for every branch, or "mixed" (each node's own). */
export type PackedTest = TreeTest | "mixed";

/**
 * Each test's go bits for x below, above and equal to the threshold (bits 0-2); bit 3, NaN,
 * is the missing track's (or "neq"'s: NaN differs).
 */
const GO_BITS = [0b101, 0b001, 0b110, 0b010, 0b100, 0b011];

/** Trees as `jit.packTrees` takes them: one entry per node in each array. */
export interface TreesDescription {
  /**
   * Every branch's test: `x[feature] test threshold` sends a row to `yes`; a NaN to `no` (but
   * "neq": `yes`). Or each node's, a Uint8Array of indexes into TREE_TESTS (leq, lt, gte, gt,
   * eq, neq), as LightGBM's categorical splits (eq) sit among its numeric ones (leq).
   */
  test: TreeTest | Uint8Array;
  /** The feature a branch reads (ignored at a leaf). */
  feature: Int32Array;
  /** The value a branch compares it with. */
  threshold: Float32Array;
  /** The node a row goes to when the test holds; -1 at a leaf. */
  yes: Int32Array;
  /** The node a row goes to otherwise; -1 at a leaf. */
  no: Int32Array;
  /** Per node, 1: a NaN feature goes to `yes` (tracks missing values). Absent: none does. */
  missingYes?: Uint8Array;
  /** Each tree's first node. */
  roots: Int32Array;
}

/** Most nodes of a forest (byte offsets of 32-byte records stay below 2^31). */
export const MAX_TREE_NODES = 2 ** 24;
/** Most trees, and the largest feature index. */
export const MAX_TREES = 2 ** 24, MAX_FEATURE = 2 ** 24 - 1;

const W = "packTrees";

/** Copies a typed array of `tag` (read through the intrinsic getters) into a new one. */
function copyOf<T extends Int32Array | Float32Array | Uint8Array>(
  name: string,
  v: unknown,
  tag: string,
  make: (b: ArrayBufferLike, o: number, n: number) => T,
): T {
  if (typedArrayTag(v) !== tag) fail(W, `${name} must be an ${tag}, got ${describe(v)}`, "type");
  const view = v as T;
  return make(viewBuffer(view), viewByteOffset(view), viewLength(view)).slice() as T;
}

const int32 = (b: ArrayBufferLike, o: number, n: number) => new Int32Array(b, o, n);

/** Longest walk (edges) from `root`; a cycle is a RangeError naming the node. */
function depthFrom(root: number, yes: Int32Array, no: Int32Array, depth: Int32Array): number {
  // depth: -2 unseen, -1 on the current path, ≥ 0 known. Iterative: deep trees must not
  // overflow the stack.
  const stack = [root];
  while (stack.length) {
    const v = stack[stack.length - 1];
    if (depth[v] >= 0) {
      stack.pop();
      continue;
    }
    if (yes[v] < 0) {
      depth[v] = 0;
      stack.pop();
      continue;
    }
    if (depth[v] === -2) {
      depth[v] = -1;
      for (const c of [yes[v], no[v]]) {
        if (depth[c] === -1) fail(W, `node ${v} leads back to node ${c}: a cycle`, "range");
        if (depth[c] === -2) stack.push(c);
      }
      continue;
    }
    depth[v] = 1 + Math.max(depth[yes[v]], depth[no[v]]);
    stack.pop();
  }
  return depth[root];
}

/**
 * The records of packed trees, for the Jit to hand to native code (not
 * re-exported: a user holding them could break what the check proved).
 */
export let recordsOf: (t: PackedTrees) => Float32Array;

/** Trees packed once for `jit.treeLeaves` (see the module). */
export class PackedTrees {
  /** Every branch's test, or "mixed": each node its own (32-byte records with go masks). */
  readonly test: PackedTest;
  /** Nodes. */
  readonly nodes: number;
  /** Trees. */
  readonly trees: number;
  /** Largest feature a branch reads (-1: every tree is a leaf): x needs more features. */
  readonly maxFeature: number;
  /** Some node tracks missing values (32-byte records). */
  readonly missing: boolean;
  /** Σ over trees of each one's depth: the steps one row walks. */
  readonly depths: number;
  readonly #records: Float32Array;

  /** Checks and packs `d` (every array copied first: nothing read twice). */
  constructor(d: TreesDescription) {
    if (d === null || typeof d !== "object") {
      fail(
        W,
        `trees must be an object with test, feature, threshold, yes, no and roots, got ${
          describe(d)
        }`,
        "type",
      );
    }
    const given = d.test;
    const tests = typedArrayTag(given) === "Uint8Array"
      ? copyOf("test", given, "Uint8Array", (b, o, n) => new Uint8Array(b, o, n))
      : null;
    if (tests === null && !TREE_TESTS.includes(given as TreeTest)) {
      fail(
        W,
        `test must be one of ${TREE_TESTS.join(", ")} or a Uint8Array of each node's, got ${
          describe(given)
        }`,
        "range",
      );
    }
    const feature = copyOf("feature", d.feature, "Int32Array", int32);
    const threshold = copyOf(
      "threshold",
      d.threshold,
      "Float32Array",
      (b, o, n) => new Float32Array(b, o, n),
    );
    const yes = copyOf("yes", d.yes, "Int32Array", int32);
    const no = copyOf("no", d.no, "Int32Array", int32);
    const roots = copyOf("roots", d.roots, "Int32Array", int32);
    const m = d.missingYes;
    const missingYes = m === undefined
      ? null
      : copyOf("missingYes", m, "Uint8Array", (b, o, n) => new Uint8Array(b, o, n));
    const n = feature.length;
    if (n < 1 || n > MAX_TREE_NODES) {
      fail(W, `feature has ${n} entries; a forest has 1 to ${MAX_TREE_NODES} nodes`, "range");
    }
    for (
      const [name, a] of [["threshold", threshold], ["yes", yes], ["no", no], [
        "missingYes",
        missingYes,
      ], ["test", tests]] as const
    ) {
      if (a !== null && a.length !== n) {
        fail(W, `${name} has ${a.length} entries, feature ${n}`, "range");
      }
    }
    if (roots.length < 1 || roots.length > MAX_TREES) {
      fail(W, `roots has ${roots.length} entries, not 1 to ${MAX_TREES}`, "range");
    }
    let maxFeature = -1;
    for (let i = 0; i < n; i++) {
      const leaf = yes[i] === -1 && no[i] === -1;
      if (leaf) continue;
      if (!(yes[i] >= 0 && yes[i] < n && no[i] >= 0 && no[i] < n)) {
        fail(
          W,
          `node ${i}: yes ${yes[i]} and no ${
            no[i]
          } must both be nodes in [0, ${n}) or both -1 (a leaf)`,
          "range",
        );
      }
      if (!(feature[i] >= 0 && feature[i] <= MAX_FEATURE)) {
        fail(W, `node ${i}: feature ${feature[i]} is not in [0, ${MAX_FEATURE}]`, "range");
      }
      if (feature[i] > maxFeature) maxFeature = feature[i];
      if (tests !== null && !(tests[i] < TREE_TESTS.length)) {
        fail(W, `node ${i}: test ${tests[i]} is not an index of ${TREE_TESTS.join(", ")}`, "range");
      }
    }
    // One test for every branch (a per-node array that agrees): the uniform kernels.
    let test: PackedTest = tests === null ? given as TreeTest : "mixed";
    if (tests !== null) {
      let only = -1;
      for (let i = 0; i < n && only !== -2; i++) {
        if (yes[i] !== -1) only = only === -1 || only === tests[i] ? tests[i] : -2;
      }
      if (only !== -2) test = TREE_TESTS[Math.max(0, only)];
    }
    const depth = new Int32Array(n).fill(-2);
    let depths = 0;
    for (let t = 0; t < roots.length; t++) {
      const r = roots[t];
      if (!(r >= 0 && r < n)) fail(W, `root ${t} is ${r}, not a node in [0, ${n})`, "range");
      depths += depthFrom(r, yes, no, depth);
    }
    // Σ depths travels in an int32 key slot (trees sharing a deep chain could pass it).
    if (depths > 2 ** 31 - 1) {
      fail(W, `the trees' depths add up to ${depths}, past 2^31 − 1`, "range");
    }
    const mixed = test === "mixed";
    const missing = mixed ||
      (missingYes !== null && missingYes.some((v, i) => v !== 0 && yes[i] !== -1));
    const rec = missing ? 32 : 16, words = rec / 4;
    const records = new Float32Array(n * words + 2 * roots.length);
    const ints = new Int32Array(records.buffer);
    for (let i = 0; i < n; i++) {
      const at = i * words;
      if (yes[i] === -1) {
        // A leaf: feature 0 (every x has one), children itself.
        ints[at + 2] = ints[at + 3] = i * rec;
        if (missing) ints[at + 4] = i * rec;
        continue;
      }
      ints[at] = 4 * feature[i];
      records[at + 1] = threshold[i];
      ints[at + 2] = yes[i] * rec;
      ints[at + 3] = no[i] * rec;
      if (mixed) {
        const t = tests![i], nan = missingYes?.[i] || t === 5 ? 8 : 0;
        ints[at + 4] = GO_BITS[t] | nan;
      } else if (missing) {
        ints[at + 4] = (missingYes![i] !== 0 || test === "neq" ? yes[i] : no[i]) * rec;
      }
    }
    for (let t = 0, at = n * words; t < roots.length; t++, at += 2) {
      ints[at] = roots[t] * rec;
      ints[at + 1] = depth[roots[t]];
    }
    this.test = test;
    this.nodes = n;
    this.trees = roots.length;
    this.maxFeature = maxFeature;
    this.missing = missing;
    this.depths = depths;
    this.#records = records;
  }

  /** Whether x is a PackedTrees (a brand check no object can fake). */
  static is(x: unknown): x is PackedTrees {
    return typeof x === "object" && x !== null && #records in x;
  }

  static {
    recordsOf = (t) => t.#records;
  }
}

/** Bytes of a record. */
export function recordBytes(missing: boolean): number {
  return missing ? 32 : 16;
}
