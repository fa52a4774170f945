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
