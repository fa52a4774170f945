/**
 * Copies the planner removes. Concat: its inputs are put where they lie in
 * its output (an axis with only 1s before it), so their producers write
 * them there and the Concat runs no step; inputs that must keep their own
 * storage (a feed, a graph output, a value already placed in another
 * Concat, a repeat) are still copied, and so is everything at batch 2.
 * Split: its outputs are views of its input's blocks. Outputs are checked
 * bit for bit against a reference on exact values.
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { int, pick, rng } from "./helpers/random.ts";

function model(): Uint8Array {
  const g = new GraphBuilder(13);
  const x = g.input("x", "float32", ["batch", 4, 5, 6]);
  const one = g.weight("one", [1], [1]), two = g.weight("two", [1], [2]);
  const shape = g.ints("shape", [0, 4, 30]);
  const a = g.op("Relu", [x]); //                                       Relu_0
  const b = g.op("Neg", [x]); //                                        Neg_1
  const c1 = g.op("Concat", [a, b], { axis: 1 }); //                    Concat_2: placed
  const d = g.op("Mul", [c1, two]); //                                  Mul_3
  g.op("Concat", [c1, d], { axis: 1 }, "c2"); //                        Concat_4: nested, placed
  const e = g.op("Abs", [x]); //                                        Abs_5
  g.op("Concat", [e, x], { axis: 1 }, "c3"); //                         Concat_6: x is a feed
  g.op("Concat", [e, a], { axis: -3 }, "c4"); //                        Concat_7: both placed elsewhere
  const n2 = g.op("Add", [x, one]); //                                  Add_8
  g.op("Concat", [n2, n2], { axis: 1 }, "c5"); //                       Concat_9: a repeat
  g.op("Floor", [x], {}, "f"); //                                       Floor_10: a graph output
  const sq = g.op("Mul", [x, x]); //                                    Mul_11
  g.op("Concat", ["f", sq], { axis: 1 }, "c6"); //                      Concat_12
  const s1 = g.op("Sub", [x, one]); //                                  Sub_13
  const s2 = g.op("Mul", [x, two]); //                                  Mul_14
  g.op("Concat", [s1, s2], { axis: 2 }, "c7"); //                       Concat_15: 4 channels before
  const h = g.op("Mul", [x, two]); //                                   Mul_16
  const hr = g.op("Reshape", [h, shape]); //                            Reshape_17
  const m = g.op("Relu", [h]); //                                       Relu_18
  const mr = g.op("Reshape", [m, shape]); //                            Reshape_19
  g.op("Concat", [hr, mr], { axis: 1 }, "c8"); //                       Concat_20: through reshapes
  for (const o of ["c2", "c3", "c4", "c5", "f", "c6", "c7", "c8"]) g.output(o, "float32", null);
  return g.toBytes();
}

interface Arr {
  data: Float32Array;
  dims: number[];
}

const map = (x: Arr, f: (v: number) => number): Arr => ({
  data: x.data.map(f),
  dims: x.dims,
});

function concat(xs: Arr[], axis: number): Arr {
  const dims = xs[0].dims.slice();
  dims[axis] = xs.reduce((s, x) => s + x.dims[axis], 0);
  const outer = dims.slice(0, axis).reduce((p, v) => p * v, 1);
  const inner = dims.slice(axis + 1).reduce((p, v) => p * v, 1);
  const data = new Float32Array(outer * dims[axis] * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const x of xs) {
      const block = x.dims[axis] * inner;
      data.set(x.data.subarray(o * block, (o + 1) * block), k);
      k += block;
    }
  }
  return { data, dims };
}

function reference(x: Arr): Record<string, Arr> {
  const a = map(x, (v) => Math.max(v, 0)), b = map(x, (v) => -v);
  const c1 = concat([a, b], 1), d = map(c1, (v) => v * 2);
  const e = map(x, Math.abs), n2 = map(x, (v) => v + 1), f = map(x, Math.floor);
  const flat = (t: Arr): Arr => ({ data: t.data, dims: [t.dims[0], 4, 30] });
  const h = map(x, (v) => v * 2);
  return {
    c2: concat([c1, d], 1),
    c3: concat([e, x], 1),
    c4: concat([e, a], 1),
    c5: concat([n2, n2], 1),
    f,
    c6: concat([f, map(x, (v) => v * v)], 1),
    c7: concat([map(x, (v) => v - 1), map(x, (v) => v * 2)], 2),
    c8: concat([flat(h), flat(map(h, (v) => Math.max(v, 0)))], 1),
  };
}

/** Nodes of `op` that ran a step (the profiler lists every node that ran). */
function steps(s: InferenceSession, op: string): string[] {
  return s.report(100).split("\n").filter((l) => new RegExp(`\\s${op}\\s`).test(l))
    .map((l) => l.split(/\s+/)[0]).sort();
}

/**
 * Runs `bytes` at batch 1, 2, 1 (three runs each), every output against the
 * reference bit for bit; then a fresh session at batch 1 only, returned for
 * its steps to be checked.
 */
async function checkRuns(
  bytes: Uint8Array,
  threads: number,
  shape: number[],
  values: (i: number) => number,
  reference: (x: Arr) => Record<string, Arr>,
): Promise<InferenceSession> {
  const options = { intraOpNumThreads: threads, enableProfiling: true };
  const s = await InferenceSession.create(bytes, options);
  try {
    for (const batch of [1, 2, 1]) {
      const dims = [batch, ...shape];
      const xs = new Float32Array(batch * 120).map((_, i) => values(i));
      const want = reference({ data: xs, dims });
      for (let run = 0; run < 3; run++) {
        const got = s.runSync({ x: new Tensor("float32", xs, dims) });
        for (const [name, w] of Object.entries(want)) {
          assert.deepEqual(got[name].dims, w.dims, `${name} dims (batch ${batch})`);
          assert.deepEqual(got[name].data, w.data, `${name} (batch ${batch}, run ${run})`);
        }
      }
    }
  } finally {
    s.release();
  }
  const one = await InferenceSession.create(bytes, options);
  const xs = new Float32Array(120).map((_, i) => values(i));
  const dims = [1, ...shape];
  for (let run = 0; run < 2; run++) one.runSync({ x: new Tensor("float32", xs, dims) });
  return one;
}

for (const threads of [1, 2]) {
  Deno.test(`concat placement: producers write into the concatenation (${threads} thread(s))`, async () => {
    const values = (i: number) => ((i * 7) % 23 - 11) * 0.5;
    const one = await checkRuns(model(), threads, [4, 5, 6], values, reference);
    try {
      // Batch 1: only the Concats whose inputs could not be placed run.
      assert.deepEqual(steps(one, "Concat"), [
        "Concat_12",
        "Concat_15",
        "Concat_6",
        "Concat_7",
        "Concat_9",
      ]);
    } finally {
      one.release();
    }
  });
}

/** Split's blocks as views of its input: x [batch, 6, 4, 5]. */
function splitModel(): Uint8Array {
  const g = new GraphBuilder(13);
  const x = g.input("x", "float32", ["batch", 6, 4, 5]);
  const two = g.weight("two", [1], [2]);
  const a = g.op("Relu", [x]); //                                                  Relu_0
  const [s1, s2, s3] = g.node("Split", [a, g.ints("sizes", [1, 2, 3])], 3, { axis: 1 }); // Split_1: views
  g.op("Neg", [s1], {}, "t1"); //                                                  Neg_2
  g.op("Identity", [s2], {}, "t2"); //                                             Identity_3
  g.op("Mul", [s3, two], {}, "t3"); //                                             Mul_4
  const [f1, f2] = g.node("Split", [x, g.ints("halves", [3, 3])], 2, { axis: -3 }); // Split_5: of the feed
  g.op("Abs", [f1], {}, "u1"); //                                                  Abs_6
  g.op("Concat", [s3, s1, f2], { axis: 1 }, "c"); //                               Concat_7: views copied
  const [r1, r2] = g.node("Split", [a, g.ints("rows", [1, 3])], 2, { axis: 2 }); // Split_8: 6 before axis
  g.op("Sub", [r2, r1], {}, "d"); //                                               Sub_9
  for (const o of ["t1", "t2", "t3", "u1", "c", "d"]) g.output(o, "float32", null);
  return g.toBytes();
}

function block(x: Arr, axis: number, from: number, count: number): Arr {
  const dims = x.dims.slice();
  dims[axis] = count;
  const outer = dims.slice(0, axis).reduce((p, v) => p * v, 1);
  const inner = dims.slice(axis + 1).reduce((p, v) => p * v, 1);
  const data = new Float32Array(outer * count * inner);
  for (let o = 0; o < outer; o++) {
    const src = (o * x.dims[axis] + from) * inner;
    data.set(x.data.subarray(src, src + count * inner), o * count * inner);
  }
  return { data, dims };
}

function splitReference(x: Arr): Record<string, Arr> {
  const a = map(x, (v) => Math.max(v, 0));
  const s1 = block(a, 1, 0, 1), s2 = block(a, 1, 1, 2), s3 = block(a, 1, 3, 3);
  const r1 = block(a, 2, 0, 1), r2 = block(a, 2, 1, 3);
  const d = {
    data: r2.data.map((v, i) => v - r1.data[Math.floor(i / 15) * 5 + (i % 5)]),
    dims: r2.dims,
  };
  return {
    t1: map(s1, (v) => -v),
    t2: s2,
    t3: map(s3, (v) => v * 2),
    u1: map(block(x, 1, 0, 3), Math.abs),
    c: concat([s3, s1, block(x, 1, 3, 3)], 1),
    d,
  };
}

for (const threads of [1, 2]) {
  Deno.test(`split views: blocks of the input, no copies (${threads} thread(s))`, async () => {
    const values = (i: number) => ((i * 5) % 19 - 9) * 0.5;
    const one = await checkRuns(splitModel(), threads, [6, 4, 5], values, splitReference);
    try {
      assert.deepEqual(steps(one, "Split"), ["Split_8"]);
      assert.deepEqual(steps(one, "Concat"), ["Concat_7"]);
    } finally {
      one.release();
    }
  });
}

/**
 * Random graphs of exact ops (Relu, Neg, Abs, Add, Mul, Concat, Split and
 * Reshape on [1, c, 2, 3] tensors), any value read by several nodes,
 * concatenated twice or with itself, split and re-concatenated, some made
 * graph outputs: every output bit for bit against the graph evaluated here,
 * on 1 and 2 threads, run twice.
 */
Deno.test("placement: random graphs of Concat, Split and elementwise ops give the reference's bits", async () => {
  for (let trial = 0; trial < 60; trial++) {
    const seed = 0x9a0 + trial;
    const r = rng(seed);
    const g = new GraphBuilder(13);
    const vals: { name: string; c: number; data: Float32Array }[] = [];
    const x0 = new Float32Array(6 * 3).map(() => int(r, -8, 8) / 4);
    vals.push({ name: g.input("x", "float32", [1, 3, 2, 3]), c: 3, data: x0 });
    const shape = g.ints("shape", [1, -1, 6]), back = g.ints("back", [1, -1, 2, 3]);
    const two = g.weight("two", [1], [2]);
    const any = () => vals[int(r, 0, vals.length - 1)];
    for (let n = int(r, 3, 14); n > 0; n--) {
      const kind = pick(r, ["unary", "binary", "concat", "concat", "split", "reshape"] as const);
      if (kind === "unary") {
        const a = any(), op = pick(r, ["Relu", "Neg", "Abs"]);
        const f = op === "Relu"
          ? (v: number) => Math.max(v, 0)
          : op === "Neg"
          ? (v: number) => -v
          : Math.abs;
        vals.push({ name: g.op(op, [a.name]), c: a.c, data: a.data.map(f) });
      } else if (kind === "binary") {
        const a = any(), same = vals.filter((v) => v.c === a.c), b = pick(r, same);
        if (r() < 0.3) {
          vals.push({ name: g.op("Mul", [a.name, two]), c: a.c, data: a.data.map((v) => v * 2) });
        } else {
          vals.push({
            name: g.op("Add", [a.name, b.name]),
            c: a.c,
            data: a.data.map((v, i) => v + b.data[i]),
          });
        }
      } else if (kind === "concat") {
        const parts = Array.from({ length: int(r, 2, 3) }, any);
        const data = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
        let at = 0;
        for (const p of parts) {
          data.set(p.data, at);
          at += p.data.length;
        }
        const c = parts.reduce((s, p) => s + p.c, 0);
        vals.push({ name: g.op("Concat", parts.map((p) => p.name), { axis: 1 }), c, data });
      } else if (kind === "split") {
        const a = any();
        if (a.c < 2) continue;
        const first = int(r, 1, a.c - 1);
        const outs = g.node(
          "Split",
          [a.name, g.ints(`sizes${n}_${trial}`, [first, a.c - first])],
          2,
          {
            axis: 1,
          },
        );
        vals.push({ name: outs[0], c: first, data: a.data.slice(0, first * 6) });
        vals.push({ name: outs[1], c: a.c - first, data: a.data.slice(first * 6) });
      } else {
        // Through a Reshape and back: aliases of the same storage.
        const a = any();
        const flat = g.op("Reshape", [a.name, shape]);
        vals.push({ name: g.op("Reshape", [flat, back]), c: a.c, data: a.data.slice() });
      }
    }
    // Outputs: the last value and a few others (a value that is also concatenated, or split).
    const outs = new Set([vals.length - 1]);
    for (let k = int(r, 0, 3); k > 0; k--) outs.add(int(r, 1, vals.length - 1));
    const names: string[] = [];
    for (const i of outs) {
      const name = `out${i}`;
      g.op("Identity", [vals[i].name], {}, name);
      g.output(name, "float32", null);
      names.push(name);
    }
    const bytes = g.toBytes();
    for (const threads of [1, 2]) {
      const s = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
      try {
        for (let run = 0; run < 2; run++) {
          const got = s.runSync({ x: new Tensor("float32", x0, [1, 3, 2, 3]) });
          for (const i of outs) {
            assert.deepEqual(
              got[`out${i}`].data,
              vals[i].data,
              `seed ${seed}, ${threads} thread(s), run ${run}: out${i}`,
            );
          }
        }
      } finally {
        s.release();
      }
    }
  }
});
