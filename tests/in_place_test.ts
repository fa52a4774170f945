/**
 * The planner's in place (src/graph/plan.ts, `placeInPlace`): an op that may
 * overwrite its input 0 (`OpDef.inPlace`) takes that input's storage when
 * nothing reads the input after it, and only then. Checked by the arena's
 * size and against an f64 reference of the graph, on 1 and 2 threads.
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

// Past SMALL_BYTES (schedule.ts): values that small of the feeds alone go first, kept to the end.
const ROWS = 80, COLS = 256, BYTES = 4 * ROWS * COLS;

function softmaxRows(v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (let r = 0; r < ROWS; r++) {
    const row = v.subarray(r * COLS, (r + 1) * COLS);
    const max = Math.max(...row);
    let sum = 0;
    for (const e of row) sum += Math.exp(e - max);
    for (let c = 0; c < COLS; c++) out[r * COLS + c] = Math.exp(row[c] - max) / sum;
  }
  return out;
}

const relu = (x: Float32Array) => Float64Array.from(x, (e) => Math.max(0, e));
const ONES = new Float32Array(COLS).fill(1);

async function check(
  build: (g: GraphBuilder, x: string) => string,
  reference: (x: Float32Array) => Float64Array,
  arenaBytes: number,
  name: string,
): Promise<void> {
  const g = new GraphBuilder();
  const x = g.input("x", "float32", [1, ROWS, COLS]);
  g.output(build(g, x), "float32", [1, ROWS, COLS]);
  const data = seededFloats(ROWS * COLS, 7, 4);
  const want = reference(data);
  const results: Float32Array[] = [];
  for (const threads of [1, 2]) {
    const s = await InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads });
    const feeds = { x: new Tensor("float32", data, [1, ROWS, COLS]) };
    for (let run = 0; run < 3; run++) {
      const got = (s.runSync(feeds)[s.outputNames[0]].data as Float32Array).slice();
      for (let i = 0; i < want.length; i++) {
        const tol = 1e-6 * Math.max(1, Math.abs(want[i]));
        assert.ok(
          Math.abs(got[i] - want[i]) <= tol,
          `${name}: [${i}] ${got[i]} against ${want[i]}`,
        );
      }
      results.push(got);
    }
    assert.equal(s.arenaBytes, arenaBytes, `${name}: the arena on ${threads} thread(s)`);
    await s.release();
  }
  for (const r of results) assert.deepEqual(r, results[0], `${name}: the same bits every run`);
}

Deno.test("plan: ops that may compute in place take their dying input's storage: a chain in one tensor's bytes", async () => {
  await check(
    (g, x) => {
      const w = g.weight("w", [COLS], seededFloats(COLS, 3));
      const a = g.op("Relu", [x]);
      const b = g.op("Softmax", [a], { axis: -1 });
      const c = g.op("LayerNormalization", [b, g.weight("s", [COLS], seededFloats(COLS, 5))], {
        axis: -1,
      });
      return g.op("Add", [g.op("Sigmoid", [c]), w]);
    },
    (x) => {
      const b = softmaxRows(relu(x));
      const w = seededFloats(COLS, 3), s = seededFloats(COLS, 5);
      const out = new Float64Array(b.length);
      for (let r = 0; r < ROWS; r++) {
        const row = b.subarray(r * COLS, (r + 1) * COLS);
        const mean = row.reduce((p, q) => p + q, 0) / COLS;
        const v = row.reduce((p, q) => p + (q - mean) ** 2, 0) / COLS;
        for (let c = 0; c < COLS; c++) {
          const n = ((row[c] - mean) / Math.sqrt(v + 1e-5)) * s[c];
          out[r * COLS + c] = 1 / (1 + Math.exp(-n)) + w[c];
        }
      }
      return out;
    },
    BYTES,
    "Relu → Softmax → LayerNormalization → Sigmoid → Add",
  );
});

Deno.test("plan: an input read after the op keeps its storage (a softmax's, a norm's residual); an op reading input 0 twice never overwrites it", async () => {
  // Softmax's input is read by the Add after it: its own bytes; the Add (input 0 dying there)
  // takes them.
  await check(
    (g, x) => {
      const a = g.op("Relu", [x]);
      return g.op("Add", [a, g.op("Softmax", [a], { axis: -1 })]);
    },
    (x) => {
      const a = relu(x), b = softmaxRows(a);
      return a.map((e, i) => e + b[i]);
    },
    2 * BYTES,
    "Add(a, Softmax(a))",
  );
  // LayerNormalization of b + a (the Add fused into it as its residual): into b's bytes, a kept
  // to the norm as its residual.
  await check(
    (g, x) => {
      const a = g.op("Relu", [x]);
      const b = g.op("Softmax", [a], { axis: -1 });
      return g.op("LayerNormalization", [g.op("Add", [b, a]), g.weight("s", [COLS], ONES)], {
        axis: -1,
      });
    },
    (x) => {
      const a = relu(x), b = softmaxRows(a), out = new Float64Array(a.length);
      for (let r = 0; r < ROWS; r++) {
        const row = Array.from(
          { length: COLS },
          (_, c) => Math.fround(b[r * COLS + c] + a[r * COLS + c]),
        );
        const mean = row.reduce((p, q) => p + q, 0) / COLS;
        const v = row.reduce((p, q) => p + (q - mean) ** 2, 0) / COLS;
        for (let c = 0; c < COLS; c++) out[r * COLS + c] = (row[c] - mean) / Math.sqrt(v + 1e-5);
      }
      return out;
    },
    2 * BYTES,
    "LayerNormalization(Softmax(a) + a)",
  );
  // The Mul reads a as both inputs: its output has bytes of its own.
  await check(
    (g, x) => {
      const a = g.op("Relu", [x]);
      return g.op("Mul", [a, a]);
    },
    (x) => relu(x).map((e) => e * e),
    2 * BYTES,
    "Mul(a, a)",
  );
});
