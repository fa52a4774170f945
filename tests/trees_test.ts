/**
 * The treeLeaves family (jit.packTrees, jit.treeLeaves) against a walk of
 * the trees as described, written here apart from the family's reference:
 * irregular trees (leaves at every depth, a root that is a leaf, a node two
 * branches share), nodes of the trees interleaved, every test with and
 * without missing-value tracks, NaN, ±0, ±Inf and values on the
 * thresholds; every level, row counts around the rows in flight and the
 * blocks, 1, 2 and 3 threads; bad input refused before native code runs;
 * x and leaves against guard pages.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit, type TreesDescription, type TreeTest } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const TESTS: TreeTest[] = ["leq", "lt", "gte", "gt", "eq", "neq"];
const GRID = [-1, -0.5, 0, 0.25, 0.5, 1];

/** A random forest of `trees` irregular trees over `features`, nodes shuffled. */
function randomForest(
  r: () => number,
  trees: number,
  features: number,
  test: TreeTest | "mixed",
  missing: boolean,
): TreesDescription {
  type N = { feature: number; threshold: number; yes: number; no: number; missing: number };
  const nodes: N[] = [];
  const roots: number[] = [];
  const grow = (depth: number): number => {
    const i = nodes.length;
    nodes.push({ feature: 0, threshold: 0, yes: -1, no: -1, missing: 0 });
    if (depth === 0 || r() < 0.2) return i;
    const n = nodes[i];
    n.feature = int(r, 0, features - 1);
    n.threshold = r() < 0.5 ? pick(r, GRID) : r() * 2 - 1;
    n.missing = missing && r() < 0.5 ? 1 : 0;
    n.yes = grow(depth - 1);
    // Now and then both branches lead to the same subtree (a DAG: still no cycle).
    n.no = r() < 0.1 ? n.yes : grow(depth - 1);
    return i;
  };
  for (let t = 0; t < trees; t++) roots.push(grow(int(r, 0, 7)));
  // Shuffle the nodes (trees interleave) and renumber.
  const order = nodes.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = int(r, 0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const at = new Int32Array(nodes.length);
  order.forEach((old, i) => at[old] = i);
  const d: TreesDescription = {
    // "mixed": each node its own test (LightGBM's categorical eq among its leq).
    test: test === "mixed"
      ? Uint8Array.from({ length: nodes.length }, () => int(r, 0, TESTS.length - 1))
      : test,
    feature: new Int32Array(nodes.length),
    threshold: new Float32Array(nodes.length),
    yes: new Int32Array(nodes.length),
    no: new Int32Array(nodes.length),
    roots: Int32Array.from(roots, (v) => at[v]),
  };
  const m = new Uint8Array(nodes.length);
  nodes.forEach((n, old) => {
    const i = at[old];
    d.feature[i] = n.feature;
    d.threshold[i] = n.threshold;
    d.yes[i] = n.yes < 0 ? -1 : at[n.yes];
    d.no[i] = n.no < 0 ? -1 : at[n.no];
    m[i] = n.missing;
  });
  if (missing) d.missingYes = m;
  return d;
}

/** Rows of features: on the grid, off it, NaN, ±Inf, -0. */
function randomX(r: () => number, rows: number, features: number): Float32Array {
  return Float32Array.from({ length: rows * features }, () => {
    const u = r();
    if (u < 0.06) return NaN;
    if (u < 0.08) return pick(r, [Infinity, -Infinity, -0]);
    if (u < 0.4) return pick(r, GRID);
    return r() * 2.4 - 1.2;
  });
}

/** The walk as the description says it. */
function expected(d: TreesDescription, x: Float32Array, rows: number, features: number) {
  const trees = d.roots.length, out = new Int32Array(rows * trees);
  for (let row = 0; row < rows; row++) {
    for (let t = 0; t < trees; t++) {
      let i = d.roots[t];
      while (d.yes[i] !== -1) {
        const v = x[row * features + d.feature[i]], th = d.threshold[i];
        const test = typeof d.test === "string" ? d.test : TESTS[d.test[i]];
        let go = test === "leq"
          ? v <= th
          : test === "lt"
          ? v < th
          : test === "gte"
          ? v >= th
          : test === "gt"
          ? v > th
          : test === "eq"
          ? v === th
          : v !== th;
        if (Number.isNaN(v) && d.missingYes?.[i]) go = true;
        i = go ? d.yes[i] : d.no[i];
      }
      out[row * trees + t] = i;
    }
  }
  return out;
}

const ROWS = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 64, 65, 255, 257, 700];

for (const isa of LEVELS) {
  Deno.test(`treeLeaves ${isa}: every test, missing-value tracks, irregular trees, rows around the rows in flight and the blocks`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const seed = 7300 + LEVELS.indexOf(isa), r = rng(seed);
    let cases = 0;
    for (const test of [...TESTS, "mixed" as const]) {
      for (const missing of [false, true]) {
        for (let k = 0; k < 6; k++) {
          const features = pick(r, [1, 3, 8, 33]), trees = int(r, 1, 12);
          const d = randomForest(r, trees, features, test, missing);
          const forest = jit.packTrees(d);
          const rows = pick(r, ROWS);
          const x = randomX(r, rows, features);
          const leaves = new Int32Array(rows * trees).fill(-7);
          jit.treeLeaves(x, forest, leaves, { rows, features });
          const what = `seed ${seed} ${test} missing ${missing} case ${k}: ${rows}×${features}`;
          assert.deepEqual(leaves, expected(d, x, rows, features), what);
          cases++;
        }
      }
    }
    assert.equal(cases, 84);
  });
}

Deno.test("treeLeaves: the same leaves on 1, 2 and 3 threads, and on a call's 1st and 50th run", () => {
  const r = rng(7400);
  const d = randomForest(r, 40, 6, "leq", true), rows = 3001, features = 6;
  const x = randomX(r, rows, features), want = expected(d, x, rows, features);
  for (const threads of [1, 2, 3]) {
    using jit = new Jit({ threads });
    const forest = jit.packTrees(d), leaves = new Int32Array(rows * 40);
    for (let run = 1; run <= 50; run++) {
      leaves.fill(-1);
      jit.treeLeaves(x, forest, leaves, { rows, features });
      if (run === 1 || run === 50) assert.deepEqual(leaves, want, `${threads} threads run ${run}`);
    }
  }
});

Deno.test("treeLeaves: the documented example; the description is copied at packing", () => {
  using jit = new Jit();
  const d: TreesDescription = {
    test: "leq",
    feature: new Int32Array([1, 0, 0]),
    threshold: new Float32Array([0.5, 0, 0]),
    yes: new Int32Array([1, -1, -1]),
    no: new Int32Array([2, -1, -1]),
    roots: new Int32Array([0]),
  };
  const forest = jit.packTrees(d);
  const leaves = new Int32Array(2);
  jit.treeLeaves(new Float32Array([0, 0.25, 0, 0.75]), forest, leaves, { rows: 2, features: 2 });
  assert.deepEqual([...leaves], [1, 2]);
  d.yes[0] = 5; // after packing: the packed forest is not the description
  d.threshold[0] = 1;
  jit.treeLeaves(new Float32Array([0, 0.25, 0, 0.75]), forest, leaves, { rows: 2, features: 2 });
  assert.deepEqual([...leaves], [1, 2]);
  assert.equal(forest.maxFeature, 1);
  assert.equal(forest.trees, 1);
  assert.equal(forest.depths, 1);
});

Deno.test("packTrees and treeLeaves: bad input throws naming the argument, before native code runs", () => {
  using jit = new Jit();
  const good = () => ({
    test: "leq" as TreeTest,
    feature: new Int32Array([1, 0, 0]),
    threshold: new Float32Array([0.5, 0, 0]),
    yes: new Int32Array([1, -1, -1]),
    no: new Int32Array([2, -1, -1]),
    roots: new Int32Array([0]),
  });
  const bad: [(d: ReturnType<typeof good>) => unknown, RegExp, ErrorConstructor][] = [
    [() => null, /trees must be an object/, TypeError],
    [(d) => ({ ...d, test: "le" }), /test must be one of leq, lt/, RangeError],
    [(d) => ({ ...d, feature: [1, 0, 0] }), /feature must be an Int32Array/, TypeError],
    [(d) => ({ ...d, threshold: new Float64Array(3) }), /threshold must be/, TypeError],
    [(d) => ({ ...d, yes: new Int32Array([1, -1]) }), /yes has 2 entries, feature 3/, RangeError],
    [(d) => ({ ...d, yes: new Int32Array([3, -1, -1]) }), /node 0: yes 3 and no 2/, RangeError],
    [(d) => ({ ...d, no: new Int32Array([-1, -1, -1]) }), /node 0: yes 1 and no -1/, RangeError],
    [(d) => ({ ...d, feature: new Int32Array([-1, 0, 0]) }), /node 0: feature -1/, RangeError],
    [(d) => ({ ...d, roots: new Int32Array([3]) }), /root 0 is 3/, RangeError],
    [(d) => ({ ...d, roots: new Int32Array(0) }), /roots has 0 entries/, RangeError],
    [(d) => ({ ...d, feature: new Int32Array(0) }), /feature has 0 entries/, RangeError],
    [
      (d) => ({ ...d, yes: new Int32Array([1, 0, -1]), no: new Int32Array([2, 2, -1]) }),
      /node 1 leads back to node 0: a cycle/,
      RangeError,
    ],
    [
      (d) => ({ ...d, missingYes: new Uint8Array(2) }),
      /missingYes has 2 entries/,
      RangeError,
    ],
  ];
  for (const [make, message, kind] of bad) {
    assert.throws(() => jit.packTrees(make(good()) as TreesDescription), (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  const forest = jit.packTrees(good());
  const x = new Float32Array(4), leaves = new Int32Array(2), o = { rows: 2, features: 2 };
  const calls: [() => void, RegExp, ErrorConstructor][] = [
    [() => jit.treeLeaves(x, {} as never, leaves, o), /forest must be trees packed/, TypeError],
    [
      () => jit.treeLeaves(x, forest, new Float32Array(2) as never, o),
      /leaves must be an Int32Array/,
      TypeError,
    ],
    [
      () => jit.treeLeaves([0, 0, 0, 0] as never, forest, leaves, o),
      /x must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.treeLeaves(x, forest, leaves, null as never),
      /options must be an object/,
      TypeError,
    ],
    [() => jit.treeLeaves(x, forest, leaves, { rows: 0, features: 2 }), /rows/, RangeError],
    [() => jit.treeLeaves(x, forest, leaves, { rows: 2.5, features: 2 }), /rows/, RangeError],
    [
      () => jit.treeLeaves(x, forest, leaves, { rows: 4, features: 1 }),
      /reads feature 1, but rows of x have 1/,
      RangeError,
    ],
    [
      () => jit.treeLeaves(x, forest, leaves, { rows: 1, features: 2 }),
      /x has 4 elements but rows × features = 2/,
      RangeError,
    ],
    [
      () => jit.treeLeaves(x, forest, new Int32Array(3), o),
      /leaves has 3 elements but rows × trees = 2/,
      RangeError,
    ],
  ];
  for (const [call, message, kind] of calls) {
    assert.throws(call, (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  // leaves over x's bytes: the runtime's overlap check.
  const shared = new ArrayBuffer(24);
  assert.throws(
    () => jit.treeLeaves(new Float32Array(shared, 0, 4), forest, new Int32Array(shared, 8, 2), o),
    /overlaps/,
  );
  assert.equal(jit.stats().calls, 0);
});

Deno.test("treeLeaves: stays inside x and leaves, guard pages on both sides", () => {
  const r = rng(7500);
  using jit = new Jit();
  let runs = 0;
  for (let k = 0; k < 12; k++) {
    const features = pick(r, [1, 5, 16]), trees = int(r, 1, 6), rows = pick(r, ROWS);
    const d = randomForest(r, trees, features, pick(r, TESTS), r() < 0.5);
    const forest = jit.packTrees(d), x = randomX(r, rows, features);
    // Features read are the last of each row, at the page's edge too.
    for (const side of ["end", "start"] as const) {
      const px = new GuardedPages(x.length * 4), pl = new GuardedPages(rows * trees * 4);
      try {
        const bx = Deno.UnsafePointerView.getArrayBuffer(px.pointer, px.bytes);
        const bl = Deno.UnsafePointerView.getArrayBuffer(pl.pointer, pl.bytes);
        const X = new Float32Array(bx, side === "end" ? px.bytes - x.length * 4 : 0, x.length);
        const L = new Int32Array(
          bl,
          side === "end" ? pl.bytes - rows * trees * 4 : 0,
          rows * trees,
        );
        X.set(x);
        jit.treeLeaves(X, forest, L, { rows, features });
        assert.deepEqual(L, expected(d, x, rows, features));
        runs++;
      } finally {
        px.free();
        pl.free();
      }
    }
  }
  assert.equal(runs, 24);
});
