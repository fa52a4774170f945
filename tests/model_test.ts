/**
 * Whole models (written as exporters write them) against onnxruntime (live
 * or golden), fusions counted and checked against the unoptimized graph,
 * symbolic dims across feeds, the Tensor/InferenceSession API, bad feeds,
 * and the same bits with 1 or 2 threads and on every run.
 */
import assert from "node:assert/strict";
import { env, InferenceSession, Jit, ModelError, Tensor } from "../mod.ts";
import {
  encoderLayer,
  llmBlock,
  mlp,
  mobileBlock,
  msEncoderLayer,
  quantizedCnn,
  resnetCnn,
  type ZooModel,
} from "../tools/model_zoo.ts";
import { f, GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { checkModel } from "./helpers/golden.ts";
import { feedsOf } from "./helpers/feeds.ts";
import { workerAwake } from "../src/runtime/jit.ts";
import { loadOrt, ortInt8Exact } from "./helpers/ort.ts";
import { runFixture } from "./helpers/fixture.ts";

const MODELS: (() => ZooModel)[] = [
  () => mlp([32, 64, 48, 10], 3),
  () => encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, batch: 2 }),
  () => encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, decomposedLayerNorm: true }),
  () =>
    encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, opset: 13, decomposedLayerNorm: true }),
  () => encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, quantized: true }),
  // 7-bit weights (reduce_range): AVX2's byte tiles; ORT exact on every CPU.
  () => encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, quantized: true, reduceRange: true }),
  () => encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, half: true }),
  () => resnetCnn({ size: 40, widths: [8, 16], blocks: 1, batch: 2 }),
  () => resnetCnn({ size: 32, widths: [8, 16], blocks: [1, 2], bottleneck: true }),
  () => mobileBlock(12, 8, 3),
  () => quantizedCnn({ size: 32, widths: [8, 16], blocks: 1, format: "qoperator" }),
  () => quantizedCnn({ size: 24, widths: [8, 16], blocks: 2, format: "qoperator", inverted: true }),
  // 7-bit weights: AVX2's byte tiles of the 8-bit convolution; ORT exact on every CPU.
  () =>
    quantizedCnn({ size: 32, widths: [8, 16], blocks: 1, format: "qoperator", reduceRange: true }),
];

for (const make of MODELS) {
  const m = make();
  Deno.test(`model: ${m.name} matches onnxruntime`, async () => {
    await checkModel(`model ${m.name}`, m.bytes, m.feeds);
  });
}

Deno.test("model: 8-bit GEMMs are exact; ORT's are only with VNNI (why the golden outputs rule there)", async () => {
  // u8 255 · s8 127 pairs: each pair sums past int16, where vpmaddubsw saturates.
  const [M, K, N] = [4, 64, 16];
  const g = new GraphBuilder(13);
  g.input("a", "uint8", [M, K]);
  const b = g.initializer("b", { type: "int8", dims: [K, N], data: new Array(K * N).fill(127) });
  g.op("MatMulInteger", ["a", b], {}, "y");
  g.output("y", "int32");
  const a = new Uint8Array(M * K).fill(255);
  const exact = new Int32Array(M * N).fill(255 * 127 * K);
  const s = await InferenceSession.create(g.toBytes());
  assert.deepEqual(s.runSync({ a: new Tensor("uint8", a, [M, K]) }).y.data, exact);
  await s.release();
  const ort = await loadOrt();
  if (!ort) return;
  const theirs = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1 });
  const y = (await theirs.run({ a: new ort.Tensor("uint8", a, [M, K]) })).y.data as Int32Array;
  await theirs.release();
  assert.equal(
    y.every((v, i) => v === exact[i]),
    ortInt8Exact(),
    `ORT's ${y[0]}, exact ${exact[0]}`,
  );
});

Deno.test("model: sessions created after a released one reuse its memory and compute the same outputs", async () => {
  const m = resnetCnn({ size: 64, widths: [16, 32], blocks: 1, classes: 100 });
  const feeds = toTensors(m.feeds);
  let first: Float32Array | null = null;
  for (let i = 0; i < 3; i++) {
    const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
    // Released while its run may still be in flight (the memory goes back after the run; the
    // next create takes it only after this test awaited that run, so this checks the reuse).
    const pending = s.run(feeds);
    for (let t = 0; t < 3; t++) await Promise.resolve();
    const released = s.release();
    const out = (await pending)[s.outputNames[0]].data as Float32Array;
    await released;
    if (first === null) first = out.slice();
    else assert.deepEqual(out, first, `session ${i}`);
  }
});

Deno.test("model: a QDQ CNN's groups become the QOperator ops ONNX Runtime makes of them, with its outputs", async () => {
  const m = quantizedCnn({ size: 32, widths: [8, 16], blocks: 1, format: "qdq" });
  // ONNX Runtime fuses the groups at "all" (its reference here); unfused it computes floats.
  await checkModel(`model ${m.name}`, m.bytes, m.feeds, ["all"], "all");
  const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
  const ops = s.nodeOps;
  // Stem, two convs a block and stage 2's projection; a shortcut Add (and its Relu) a block.
  for (
    const [op, count] of Object.entries({
      QLinearConv: 6,
      "com.microsoft.QLinearAdd": 2,
      "com.microsoft.QLinearGlobalAveragePool": 1,
      MaxPool: 1,
      Conv: 0,
      Relu: 0,
      Add: 0,
    })
  ) {
    assert.equal(ops[op] ?? 0, count, `${op} in ${JSON.stringify(ops)}`);
  }
  await s.release();
  // MobileNet's inverted blocks: depthwise QLinearConvs (the exact float path).
  const mb = quantizedCnn({ size: 24, widths: [8, 16], blocks: 2, format: "qdq", inverted: true });
  await checkModel(`model ${mb.name}`, mb.bytes, mb.feeds, ["all"], "all");
});

Deno.test("model: QDQ MatMuls and a bias Add become QLinearMatMul and QLinearAdd as ONNX Runtime fuses them, with its outputs", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [4, 32]);
  const scale = (v: number) =>
    g.initializer(g.fresh("s"), { type: "float32", dims: [], data: [v] });
  const zp = (v: number) => g.initializer(g.fresh("z"), { type: "uint8", dims: [], data: [v] });
  const weights = (k: number, n: number, perColumn: boolean) => {
    const q = g.initializer(g.fresh("w"), {
      type: "int8",
      dims: [k, n],
      data: Array.from({ length: k * n }, (_, i) => ((i * 37 + 11) % 255) - 127),
    });
    const count = perColumn ? n : 1;
    const ws = g.initializer(g.fresh("ws"), {
      type: "float32",
      dims: perColumn ? [n] : [],
      data: Array.from({ length: count }, (_, i) => 0.002 + 0.0003 * i),
    });
    const wz = g.initializer(g.fresh("wz"), {
      type: "int8",
      dims: perColumn ? [n] : [],
      data: new Array(count).fill(0),
    });
    return g.op("DequantizeLinear", [q, ws, wz], perColumn ? { axis: 1 } : {});
  };
  const [s1, z1, s2, z2, s3, z3] = [scale(0.05), zp(128), scale(0.1), zp(128), scale(0.04), zp(0)];
  const x = g.op("DequantizeLinear", [g.op("QuantizeLinear", ["x", s1, z1]), s1, z1]);
  const h0 = g.op("QuantizeLinear", [g.op("MatMul", [x, weights(32, 48, true)]), s2, z2]);
  // The Linear's bias as quantize_static writes it: a uint8 initializer, dequantized, added.
  const bq = g.initializer("bias_q", {
    type: "uint8",
    dims: [48],
    data: Array.from({ length: 48 }, (_, i) => (i * 53 + 9) % 256),
  });
  const [s4, z4, s5, z5] = [scale(0.02), zp(120), scale(0.1), zp(128)];
  const biased = g.op("Add", [
    g.op("DequantizeLinear", [h0, s2, z2]),
    g.op("DequantizeLinear", [bq, s4, z4]),
  ]);
  const h = g.op("QuantizeLinear", [biased, s5, z5]);
  const r = g.op("Relu", [
    g.op("MatMul", [g.op("DequantizeLinear", [h, s5, z5]), weights(48, 16, false)]),
  ]);
  const yq = g.op("QuantizeLinear", [r, s3, z3], {}, "yq");
  g.output(yq, "uint8", [4, 16]);
  g.output(g.op("DequantizeLinear", [yq, s3, z3], {}, "y"), "float32", [4, 16]);
  const bytes = g.toBytes(),
    feeds = {
      x: { type: "float32" as const, dims: [4, 32], data: seededFloats(128, 77, 3) },
    };
  await checkModel("model QDQ MatMul chain", bytes, feeds, ["all"], "all");
  const s = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  assert.equal(s.nodeOps.QLinearMatMul, 2, JSON.stringify(s.nodeOps));
  assert.equal(s.nodeOps["com.microsoft.QLinearAdd"], 1, JSON.stringify(s.nodeOps));
  assert.equal(s.nodeOps.MatMul ?? 0, 0, JSON.stringify(s.nodeOps));
  await s.release();
});

Deno.test("model: QDQ groups ONNX Runtime leaves float stay float (int8 Conv, a Relu the quantization does not make redundant, MaxPool between other scales)", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [1, 4, 8, 8]);
  const scale = (v: number) =>
    g.initializer(g.fresh("s"), { type: "float32", dims: [], data: [v] });
  const zp = (type: "uint8" | "int8", v: number) =>
    g.initializer(g.fresh("z"), { type, dims: [], data: [v] });
  const dq = (q: string, s: string, z: string) => g.op("DequantizeLinear", [q, s, z]);
  // int8 activations into a Conv: ONNX Runtime's x86 QDQ rules keep it float.
  const [si, zi] = [scale(0.05), zp("int8", 3)];
  const xi = dq(g.op("QuantizeLinear", ["x", si, zi]), si, zi);
  const w = g.initializer("w", {
    type: "int8",
    dims: [4, 4, 3, 3],
    data: Array.from({ length: 144 }, (_, i) => ((i * 31) % 255) - 127),
  });
  const wf = g.op("DequantizeLinear", [w, scale(0.01), zp("int8", 0)]);
  const [so, zo] = [scale(0.1), zp("int8", 0)];
  const c = g.op("QuantizeLinear", [g.op("Conv", [xi, wf], { pads: [1, 1, 1, 1] }), so, zo]);
  g.output(g.op("Identity", [c], {}, "conv_int8"), "int8", [1, 4, 8, 8]);
  // uint8: a Relu before a quantization of zero point 128 (not redundant), and a MaxPool
  // between two different scales.
  const [su, zu] = [scale(0.04), zp("uint8", 128)];
  const xu = g.op("QuantizeLinear", ["x", su, zu]);
  const sum = g.op("Add", [dq(xu, su, zu), dq(xu, su, zu)]);
  g.output(g.op("QuantizeLinear", [g.op("Relu", [sum]), su, zu], {}, "relu_kept"), "uint8", [
    1,
    4,
    8,
    8,
  ]);
  const pooled = g.op("MaxPool", [dq(xu, su, zu)], { kernel_shape: [2, 2], strides: [2, 2] });
  g.output(g.op("QuantizeLinear", [pooled, scale(0.08), zu], {}, "pool_kept"), "uint8", [
    1,
    4,
    4,
    4,
  ]);
  const bytes = g.toBytes();
  const feeds = { x: new Tensor("float32", seededFloats(256, 91, 4), [1, 4, 8, 8]) };
  const on = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const off = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "disabled",
  });
  const ops = on.nodeOps;
  for (const op of ["QLinearConv", "com.microsoft.QLinearAdd"]) {
    assert.equal(ops[op] ?? 0, 0, `${op} in ${JSON.stringify(ops)}`);
  }
  assert.equal(ops.Conv, 1, JSON.stringify(ops));
  assert.equal(ops.MaxPool, 1, JSON.stringify(ops));
  const a = on.runSync(feeds), b = off.runSync(feeds);
  for (const k of on.outputNames) assert.deepEqual(a[k].data, b[k].data, k);
  await on.release();
  await off.release();
});

Deno.test("model: fusions leave the expected nodes and keep the outputs", async () => {
  const cases: [ZooModel, Record<string, number>][] = [
    [encoderLayer({ seq: 8, hidden: 32, heads: 4, ff: 64, decomposedLayerNorm: true }), {
      // Q, K, V, output and FF projections with their bias (FF1 with its GELU); the two
      // attention products and the softmax between them one attention node reading and
      // writing heads through strides (no Transpose left).
      "njit.MatMul": 6,
      "njit.DotProductAttention": 1,
      Softmax: 0,
      Transpose: 0,
      "njit.LayerNormalization": 2, // decomposed LayerNorm found, residual Add fused in
      Div: 0, // the scores' scale into their MatMul's alpha (the other Divs: LayerNorm, GELU)
    }],
    [resnetCnn({ size: 32, widths: [8, 16], blocks: 1 }), { "njit.Conv": 5, Conv: 1 }],
    [resnetCnn({ size: 32, widths: [8, 16], blocks: 1, shortcut: "Sum" }), {
      "njit.Conv": 5, // the shortcut Sums fused in as Adds are, their Relus after them
      Conv: 1,
      Sum: 0,
    }],
    // Bottleneck blocks: 12 Convs; each block's last takes its shortcut Add and Relu, the two
    // projections stay plain (their outputs are those shortcuts).
    [resnetCnn({ size: 32, widths: [8, 16], blocks: [1, 2], bottleneck: true }), {
      "njit.Conv": 10,
      Conv: 2,
      Add: 0,
    }],
    // The expanding 1×1 and its depthwise one node (fusions/expand_depthwise.ts), the projection.
    [mobileBlock(10, 8, 2), { "njit.Conv": 2, Conv: 0 }],
    [mlp([16, 32, 8], 1), { "njit.Gemm": 1, Gemm: 1 }],
    // Each dynamically quantized Linear: MatMulInteger, its Cast, its scale Mul and its bias Add
    // as one (FF1 with its GELU); the attention mask's Add into the scores' GEMM as its bias.
    // An ORT-optimized layer's BiasGelu goes into its MatMul's epilogue, and each
    // SkipLayerNormalization's bias into the MatMul making its input.
    [msEncoderLayer({ seq: 8, hidden: 32, heads: 4, ff: 64, vocab: 50 }), {
      "com.microsoft.BiasGelu": 0,
      "com.microsoft.Attention": 1,
      "com.microsoft.SkipLayerNormalization": 2,
      "njit.MatMul": 3,
      MatMul: 0,
    }],
    [encoderLayer({ seq: 8, hidden: 32, heads: 4, ff: 64, quantized: true }), {
      "njit.MatMulInteger": 6,
      MatMulInteger: 0,
      Add: 0,
      Gelu: 0,
    }],
  ];
  for (const [m, want] of cases) {
    const on = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
    const off = await InferenceSession.create(m.bytes, {
      graphOptimizationLevel: "disabled",
      intraOpNumThreads: 1,
    });
    const ops = on.nodeOps;
    for (const [op, count] of Object.entries(want)) {
      assert.equal(ops[op] ?? 0, count, `${m.name}: ${op} in ${JSON.stringify(ops)}`);
    }
    for (
      const gone of [
        "BatchNormalization",
        "Relu",
        "Erf",
        "ReduceMean",
        "HardSigmoid",
        "Clip",
        "Pow",
        "Sqrt",
      ]
    ) {
      assert.equal(ops[gone], undefined, `${m.name}: ${gone} left in ${JSON.stringify(ops)}`);
    }
    assert.ok(
      on.nodeCount < off.nodeCount,
      `${m.name}: ${on.nodeCount} nodes optimized, ${off.nodeCount} not`,
    );
    const a = on.runSync(feedsOf(m)), b = off.runSync(feedsOf(m));
    for (const k of on.outputNames) {
      const x = a[k].data as Float32Array, y = b[k].data as Float32Array;
      let max = 0, diff = 0;
      for (let i = 0; i < y.length; i++) {
        max = Math.max(max, Math.abs(y[i]));
        diff = Math.max(diff, Math.abs(x[i] - y[i]));
      }
      assert.ok(diff <= 1e-4 * Math.max(1, max), `${m.name}: optimized differs by ${diff}`);
    }
    await on.release();
    await off.release();
  }
});

Deno.test("model: symbolic dims take new shapes per run (plans per shape, reused)", async () => {
  const small = encoderLayer({ seq: 6, hidden: 16, heads: 2, ff: 32, batch: 1 });
  const s = await InferenceSession.create(small.bytes, { intraOpNumThreads: 1 });
  for (const [batch, seq] of [[1, 6], [2, 9], [1, 6], [3, 1]]) {
    const x = new Tensor("float32", seededFloats(batch * seq * 16, batch * 10 + seq), [
      batch,
      seq,
      16,
    ]);
    const mask = new Tensor("int64", new BigInt64Array(batch * seq).fill(1n), [batch, seq]);
    const out = s.runSync({ hidden_states: x, attention_mask: mask });
    assert.deepEqual(out.last_hidden_state.dims, [batch, seq, 16]);
    // Each row of a batch is computed alone: batch rows equal the single-row result.
    const one = s.runSync({
      hidden_states: new Tensor("float32", (x.data as Float32Array).slice(0, seq * 16), [
        1,
        seq,
        16,
      ]),
      attention_mask: new Tensor("int64", new BigInt64Array(seq).fill(1n), [1, seq]),
    });
    const a = (out.last_hidden_state.data as Float32Array).subarray(0, seq * 16);
    const b = one.last_hidden_state.data as Float32Array;
    for (let i = 0; i < b.length; i++) {
      assert.ok(Math.abs(a[i] - b[i]) <= 1e-5, `batch ${batch} seq ${seq} at ${i}`);
    }
  }
  await s.release();
});

Deno.test("model: same bits with 1 and 2 threads, sync and async, first and 20th run", async () => {
  for (
    const m of [
      resnetCnn({ size: 48, widths: [16, 32], blocks: 1 }),
      encoderLayer({ seq: 16, hidden: 64, heads: 4, ff: 128 }),
      // 8-bit: convInt8's row bands and channel blocks, the qlinear steps, the exact float path.
      quantizedCnn({ size: 48, widths: [16, 32], blocks: 1, format: "qdq" }),
      quantizedCnn({ size: 40, widths: [16, 32], blocks: 1, format: "qoperator", inverted: true }),
    ]
  ) {
    const one = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
    const two = await InferenceSession.create(m.bytes, { intraOpNumThreads: 2 });
    const feeds = feedsOf(m);
    const first = one.runSync(feeds);
    let last = first;
    for (let i = 0; i < 20; i++) last = await two.run(feeds);
    for (const k of one.outputNames) {
      assert.deepEqual(last[k].data, first[k].data, `${m.name}: ${k}`);
    }
    await one.release();
    await two.release();
  }
});

Deno.test("Tensor: ORT's constructor forms and checks", () => {
  const t = new Tensor("float32", new Float32Array(6), [2, 3]);
  assert.equal(t.size, 6);
  assert.deepEqual(t.dims, [2, 3]);
  assert.equal(new Tensor(new BigInt64Array(4)).type, "int64");
  assert.deepEqual(Array.from(new Tensor("int64", [1, 2, 3]).data as BigInt64Array), [1n, 2n, 3n]);
  assert.deepEqual(new Tensor("float32", [1, 2, 3, 4], [2, 2]).dims, [2, 2]);
  assert.throws(() => new Tensor("float32", new Float32Array(5), [2, 3]), RangeError);
  assert.throws(() => new Tensor("float32", new Int32Array(6), [2, 3]), TypeError);
  assert.throws(() => new Tensor("string" as never, new Float32Array(1)), TypeError);
  assert.throws(() => new Tensor("float32", new Float32Array(1), [-1]), RangeError);
});

Deno.test("InferenceSession: fetches as tensors to write the outputs into (reused run after run), or null", async () => {
  const m = mlp([16, 32, 3], 2);
  const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
  try {
    const into = new Tensor("float32", new Float32Array(6), [2, 3]);
    for (let i = 0; i < 3; i++) {
      const x = new Tensor("float32", new Float32Array(32).map((_, j) => Math.sin(i + j)), [2, 16]);
      const want = s.runSync({ input: x }).logits.data as Float32Array;
      const a = await s.run({ input: x }, { logits: into });
      assert.equal(a.logits, into, "run returns the tensor given");
      assert.deepEqual([...(into.data as Float32Array)], [...want]);
      (into.data as Float32Array).fill(0);
      assert.equal(s.runSync({ input: x }, { logits: into }).logits, into);
      assert.deepEqual([...(into.data as Float32Array)], [...want]);
      const fresh = s.runSync({ input: x }, { logits: null }).logits;
      assert.notEqual(fresh, into);
      assert.deepEqual([...(fresh.data as Float32Array)], [...want]);
    }
    const x = new Tensor("float32", new Float32Array(32), [2, 16]);
    // As ONNX Runtime: an object without output-name keys holding a Tensor or null is RunOptions
    // (every output); RunOptions as a third argument too.
    const all = s.runSync({ input: x }, { tag: "t", nope: null } as never);
    assert.deepEqual(Object.keys(all), ["logits"]);
    assert.notEqual(all.logits, into);
    assert.equal((await s.run({ input: x }, { logits: into }, { tag: "t" })).logits, into);
    assert.equal((await s.run({ input: x }, ["logits"], { logSeverityLevel: 3 })).logits.size, 6);
    const bad: [unknown, RegExp, ErrorConstructor][] = [
      [
        { logits: new Tensor("float32", new Float32Array(6), [3, 2]) },
        /dims \[3, 2\], the output has \[2, 3\]/,
        RangeError,
      ],
      [
        { logits: new Tensor("int32", new Int32Array(6), [2, 3]) },
        /is int32, the output is float32/,
        TypeError,
      ],
      [["nope"], /'nope' is not an output/, RangeError],
      [42, /fetches must be an array of output names or an object/, TypeError],
      [into, /fetches must be an array of output names or an object/, TypeError],
    ];
    for (const [fetches, re, type] of bad) {
      assert.throws(
        () => s.runSync({ input: x }, fetches as never),
        (e: Error) => e instanceof type && re.test(e.message),
      );
      await assert.rejects(
        s.run({ input: x }, fetches as never),
        (e: Error) => e instanceof type && re.test(e.message),
      );
    }
  } finally {
    await s.release();
  }
});

Deno.test("InferenceSession: bad feeds and options throw before anything runs", async () => {
  const m = mlp([4, 3], 2);
  const s = await InferenceSession.create(m.bytes);
  assert.deepEqual(s.inputNames, ["input"]);
  assert.deepEqual(s.outputNames, ["logits"]);
  const x = new Tensor("float32", new Float32Array(8), [2, 4]);
  await assert.rejects(s.run({}), /input 'input' is missing/);
  await assert.rejects(s.run({ input: x, extra: x }), /'extra' is not an input/);
  assert.throws(
    () => s.runSync({ input: new Tensor("float32", new Float32Array(6), [2, 3]) }),
    /dims\[1\] is 3, expected 4/,
  );
  assert.throws(
    () => s.runSync({ input: new Tensor("float32", new Float32Array(4), [4]) }),
    /rank 1, expected 2/,
  );
  assert.throws(
    () => s.runSync({ input: new Tensor("int32", new Int32Array(8), [2, 4]) }),
    TypeError,
  );
  // A tensor-like feed whose data is no typed array: named as such (it said "is float32,
  // expected float32").
  assert.throws(
    () => s.runSync({ input: { type: "float32", dims: [2, 4], data: [1, 2, 3] } as never }),
    /input 'input' data must be a typed array of float32, got an Array/,
  );
  assert.throws(() => s.runSync({ input: x }, ["nope"]), /'nope' is not an output/);
  assert.throws(() => s.runSync(null as never), TypeError);
  // A lying tensor: dims and data disagree.
  assert.throws(
    () =>
      s.runSync({ input: { type: "float32", dims: [2, 4], data: new Float32Array(3) } as never }),
    RangeError,
  );
  assert.equal(s.runSync({ input: x }, ["logits"]).logits.dims.join(), "2,3");
  await s.release();
  await assert.rejects(s.run({ input: x }), /released/);
  await assert.rejects(InferenceSession.create(m.bytes, { intraOpNumThreads: -1 }), RangeError);
  await assert.rejects(
    InferenceSession.create(m.bytes, { graphOptimizationLevel: "max" as never }),
    RangeError,
  );
  await assert.rejects(InferenceSession.create(42 as never), TypeError);
  await assert.rejects(InferenceSession.create("/nonexistent/model.onnx"), ModelError);
});

Deno.test("InferenceSession: freeDimensionOverrides size symbolic dims for create; a batch-1 Linear's weights packed for one row", async () => {
  const m = mlp([64, 48, 16], 1); // its input: ["batch", 64]
  const x = new Tensor("float32", seededFloats(64, 5), [1, 64]);
  using jit = new Jit();
  const free = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
  const fixed = await InferenceSession.create(m.bytes, {
    intraOpNumThreads: 1,
    freeDimensionOverrides: { batch: 1 },
  });
  // The names stay (as ONNX Runtime 1.30 keeps them).
  assert.deepEqual(fixed.inputMetadata[0].shape, ["batch", 64]);
  const packed = fixed.weightsPacked;
  const a = free.runSync({ input: x }).logits.data as Float32Array;
  const b = fixed.runSync({ input: x }).logits.data as Float32Array;
  assert.equal(fixed.weightsPacked, packed, "every weight packed at create");
  const peak = Math.max(1, ...a.map(Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * peak, `logits[${i}]: ${a[i]} vs ${b[i]}`);
  }
  // One row of A, known at create: at AVX2 both products read Bᵀ (dot products, an "NT"
  // key); without the override the batch is unknown at create, and B goes in panels.
  const gemms = (s: InferenceSession) =>
    s.kernelStats().keys.map((k) => k.key).filter((k) => k.startsWith("gemm "));
  assert.equal(gemms(fixed).length, 2);
  const transposed = gemms(fixed).filter((k) => k.includes(" NT ")).length;
  assert.equal(transposed, jit.isa === "avx2" ? 2 : 0, gemms(fixed).join("; "));
  assert.ok(gemms(free).every((k) => !k.includes(" NT ")), gemms(free).join("; "));
  // Another batch still runs, as in ONNX Runtime 1.30 (Bᵀ serves any rows), packing nothing.
  const x2 = new Float32Array(128);
  x2.set(x.data as Float32Array);
  x2.set(x.data as Float32Array, 64);
  const two = fixed.runSync({ input: new Tensor("float32", x2, [2, 64]) }).logits;
  assert.deepEqual(two.dims, [2, 16]);
  const y2 = two.data as Float32Array;
  for (let i = 0; i < 16; i++) {
    assert.ok(Math.abs(y2[i] - a[i]) <= 1e-5 * peak && y2[16 + i] === y2[i], `batch 2 [${i}]`);
  }
  assert.equal(fixed.weightsPacked, packed);
  await free.release();
  await fixed.release();
  await assert.rejects(
    InferenceSession.create(m.bytes, { freeDimensionOverrides: { batch: -1 } }),
    /freeDimensionOverrides\['batch'\] must be an integer in 0..2147483647, got number -1/,
  );
  await assert.rejects(
    InferenceSession.create(m.bytes, { freeDimensionOverrides: { batch: 1.5 } }),
    RangeError,
  );
  await assert.rejects(
    InferenceSession.create(m.bytes, { freeDimensionOverrides: 3 as never }),
    TypeError,
  );
});

Deno.test("InferenceSession: inputMetadata and outputMetadata as onnxruntime-node gives them", async () => {
  // Golden from onnxruntime-node 1.30 on the same zoo models (symbolic dims by name).
  const golden: [ZooModel, unknown, unknown][] = [
    [
      resnetCnn({ size: 32, widths: [8], blocks: 1 }),
      [{ name: "image", isTensor: true, type: "float32", shape: ["N", 3, 32, 32] }],
      [{ name: "logits", isTensor: true, type: "float32", shape: ["N", 10] }],
    ],
    [
      encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64 }),
      [
        {
          name: "hidden_states",
          isTensor: true,
          type: "float32",
          shape: ["batch", "sequence", 32],
        },
        { name: "attention_mask", isTensor: true, type: "int64", shape: ["batch", "sequence"] },
      ],
      [{
        name: "last_hidden_state",
        isTensor: true,
        type: "float32",
        shape: ["batch", "sequence", 32],
      }],
    ],
  ];
  const ort = await loadOrt();
  for (const [m, inputs, outputs] of golden) {
    const s = await InferenceSession.create(m.bytes);
    assert.deepEqual(s.inputMetadata, inputs, m.name);
    assert.deepEqual(s.outputMetadata, outputs, m.name);
    assert.deepEqual(s.inputMetadata.map((v) => v.name), s.inputNames);
    assert.ok(Object.isFrozen(s.inputMetadata) && Object.isFrozen(s.inputMetadata[0].shape));
    if (ort !== null) {
      const o = await ort.InferenceSession.create(m.bytes);
      assert.deepEqual(s.inputMetadata, o.inputMetadata, `${m.name} against onnxruntime`);
      assert.deepEqual(s.outputMetadata, o.outputMetadata, `${m.name} against onnxruntime`);
      await o.release();
    }
    await s.release();
  }
  // A dim the model leaves unknown (no value, no name): "", as ONNX Runtime gives it; float16
  // inputs and outputs by their declared type.
  const b = new GraphBuilder(13);
  b.input("x", "float16", [2, null]);
  b.node("Relu", ["x"], ["y"]);
  b.output("y", "float16", [2, null]);
  const bytes = b.toBytes();
  const s = await InferenceSession.create(bytes);
  const want = [{ name: "x", isTensor: true, type: "float16", shape: [2, ""] }];
  assert.deepEqual(s.inputMetadata, want);
  assert.deepEqual(s.outputMetadata, [{ ...want[0], name: "y" }]);
  if (ort !== null) {
    const o = await ort.InferenceSession.create(bytes);
    assert.deepEqual(s.inputMetadata, o.inputMetadata, "unknown dim against onnxruntime");
    assert.deepEqual(s.outputMetadata, o.outputMetadata, "unknown dim against onnxruntime");
    await o.release();
  }
  s.startProfiling(); // ONNX Runtime's no-op: profiling starts with the session
  assert.equal(s.endProfiling(), "", "profiling off: no trace, no throw");
  await s.release();
});

Deno.test("env: onnxruntime-common's env object; its logLevel is the sessions' default log severity", async () => {
  assert.equal(env.logLevel, "warning");
  assert.equal(env.versions.common, "1.30.0");
  env.wasm.numThreads = 1; // web backends' flags: accepted, unused
  const m = mlp([4, 3], 2);
  const logged: unknown[][] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => void logged.push(a);
  try {
    await (await InferenceSession.create(m.bytes)).release();
    assert.equal(logged.length, 0, "warning: create logs nothing");
    env.logLevel = "verbose";
    await (await InferenceSession.create(m.bytes)).release();
    assert.equal(
      logged.length,
      2,
      "verbose: create logs what optimization did, and the malloc policy",
    );
    assert.match(String(logged[0][0]), /nodes after optimization/);
    assert.match(String(logged[1][0]), /^njit: malloc: (blocks up to 32 MB|glibc's own policy)/);
    // A session's own logSeverityLevel wins.
    await (await InferenceSession.create(m.bytes, { logSeverityLevel: 3 })).release();
    assert.equal(logged.length, 2);
    env.logLevel = "nonsense" as never;
    await (await InferenceSession.create(m.bytes)).release();
    assert.equal(logged.length, 2, "an unknown level counts as warning");
  } finally {
    console.error = error;
    env.logLevel = "warning";
    delete env.wasm.numThreads;
  }
});

Deno.test("InferenceSession.create: a model in part of an ArrayBuffer (byteOffset, byteLength), as ONNX Runtime takes it", async () => {
  const m = mlp([4, 3], 2);
  const x = new Tensor("float32", Float32Array.from({ length: 8 }, (_, i) => i / 8 - 0.5), [2, 4]);
  const want = (await (await InferenceSession.create(m.bytes)).run({ input: x })).logits.data;
  // The model between 100 bytes of garbage on each side.
  const whole = new Uint8Array(m.bytes.length + 200).fill(0xee);
  whole.set(m.bytes, 100);
  const buffer = whole.buffer;
  for (
    const s of [
      await InferenceSession.create(buffer, 100, m.bytes.length),
      await InferenceSession.create(buffer, 100, m.bytes.length, { intraOpNumThreads: 1 }),
      InferenceSession.createSync(buffer, 100, m.bytes.length),
      await InferenceSession.create(whole.slice(100, 100 + m.bytes.length).buffer, {
        graphOptimizationLevel: "basic",
      }),
    ]
  ) {
    assert.deepEqual(s.runSync({ input: x }).logits.data, want);
    await s.release();
  }
  // From byteOffset to the end: the garbage after the model is not a model.
  await assert.rejects(InferenceSession.create(buffer, 100), ModelError);
  await assert.rejects(
    InferenceSession.create(buffer, -1),
    /byteOffset must be an integer in \[0, /,
  );
  await assert.rejects(InferenceSession.create(buffer, buffer.byteLength), RangeError);
  await assert.rejects(InferenceSession.create(buffer, 1.5), RangeError);
  await assert.rejects(
    InferenceSession.create(buffer, 100, 0),
    /byteLength must be an integer in \(0, /,
  );
  await assert.rejects(InferenceSession.create(buffer, 100, buffer.byteLength), RangeError);
  await assert.rejects(
    InferenceSession.create(buffer, 100, "5" as never),
    /byteLength must be a number/,
  );
  await assert.rejects(
    InferenceSession.create(buffer, 100, m.bytes.length, 7 as never),
    /options must be an object/,
  );
  await assert.rejects(InferenceSession.create(m.bytes, 100 as never), /options must be an object/);
  await assert.rejects(
    InferenceSession.create(buffer, null as never),
    /options must be an object, got null/,
  );
});

Deno.test("InferenceSession: unsupported ops, attributes and types are named at create", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2]);
  g.output(g.op("TfIdfVectorizer", [g.op("Foo", ["x"]), "x"], {}, "y"));
  await assert.rejects(
    InferenceSession.create(g.toBytes()),
    /unsupported ops: Foo \(domain ai\.onnx, opset 17, node 'Foo_0'\); TfIdfVectorizer/,
  );
  const h = new GraphBuilder(17);
  h.input("x", "float32", [2]);
  h.output(h.op("Relu", ["x"], { bogus: 1 }, "y"));
  await assert.rejects(InferenceSession.create(h.toBytes()), /attribute 'bogus' is not supported/);
  const k = new GraphBuilder(17);
  k.input("x", "bfloat16", [2]);
  k.output(k.op("Relu", ["x"], {}, "y"));
  await assert.rejects(InferenceSession.create(k.toBytes()), /BFLOAT16 \(16\), not supported/);
  // com.microsoft ops we do not run, including names an object's prototype holds.
  for (const domain of ["com.microsoft", ""]) {
    for (const op of ["DecoderMaskedMultiHeadAttention", "constructor", "__proto__", "toString"]) {
      const ms = new GraphBuilder(17);
      ms.extraOpsets.push(["com.microsoft", 1]);
      ms.input("x", "float32", [2]);
      ms.node(op, ["x"], ["y"], {}, domain);
      ms.output("y");
      await assert.rejects(
        InferenceSession.create(ms.toBytes()),
        (e: Error) =>
          e instanceof ModelError && e.message.includes(`${op} (domain ${domain || "ai.onnx"}`),
        `${domain} ${op}`,
      );
    }
  }
  const o = new GraphBuilder(29);
  o.input("x", "float32", [2]);
  o.output(o.op("Relu", ["x"], {}, "y"));
  await assert.rejects(
    InferenceSession.create(o.toBytes()),
    /opset 29 of ai.onnx; supported: 6-28/,
  );
  const r = new GraphBuilder(17);
  r.input("x", "float32", [2, 3]);
  r.input("s", "int64", [2]);
  r.output(r.op("Reshape", ["x", "s"], {}, "y"));
  // A shape fed as a small integer input: plans are keyed by its values.
  const s = await InferenceSession.create(r.toBytes());
  const x6 = new Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  for (const shape of [[3, 2], [6, 1], [3, 2], [1, 6]]) {
    const y = s.runSync({ x: x6, s: new Tensor("int64", shape, [2]) }).y;
    assert.deepEqual(y.dims, shape);
    assert.deepEqual([...y.data as Float32Array], [1, 2, 3, 4, 5, 6]);
  }
  await s.release();
  // A shape read from computed values (a slice of a data tensor): the plan is cut before the
  // Reshape, the rest planned per run for those values.
  const b = new GraphBuilder(17);
  b.input("x", "float32", [2, 3]);
  b.input("big", "int64", [100]);
  const shape = b.op("Slice", ["big", b.ints("at", [0]), b.ints("to", [2])]);
  b.output(b.op("Reshape", ["x", shape], {}, "y"));
  const sb = await InferenceSession.create(b.toBytes());
  for (const first of [[3, 2], [1, 6], [3, 2]]) {
    const big = BigInt64Array.from({ length: 100 }, (_, i) => BigInt(i < 2 ? first[i] : i));
    const y = (await sb.run({ x: x6, big: new Tensor("int64", big, [100]) })).y;
    assert.deepEqual(y.dims, first);
    assert.deepEqual([...y.data as Float32Array], [1, 2, 3, 4, 5, 6]);
  }
  await sb.release();
  // Float values the shapes follow from: Resize's scales fed, a Range's float limit computed
  // (a slice of a fed tensor): keyed by their values, fed or cut before the node.
  const f = new GraphBuilder(17);
  f.input("x", "float32", [1, 1, 2, 2]);
  f.input("scales", "float32", [4]);
  f.input("limits", "float32", [8]);
  f.output(f.op("Resize", ["x", "", "scales"], { mode: "nearest" }, "y"));
  const limit = f.op("Slice", ["limits", f.ints("at", [0]), f.ints("to", [1])]);
  const zero = f.initializer("zero", { type: "float32", dims: [], data: [0] });
  const half = f.initializer("half", { type: "float32", dims: [], data: [0.5] });
  const scalar = f.op("Squeeze", [limit, f.ints("axes", [0])]);
  f.output(f.op("Range", [zero, scalar, half], {}, "r"));
  const sf = await InferenceSession.create(f.toBytes());
  const x4 = new Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 1, 2, 2]);
  for (const [scale, top] of [[2, 1.5], [3, 2], [2, 1.5], [1, 0.5]]) {
    const out = await sf.run({
      x: x4,
      scales: new Tensor("float32", Float32Array.from([1, 1, scale, scale]), [4]),
      limits: new Tensor("float32", Float32Array.from({ length: 8 }, (_, i) => (i ? 9 : top)), [8]),
    });
    assert.deepEqual(out.y.dims, [1, 1, 2 * scale, 2 * scale]);
    const y = out.y.data as Float32Array;
    assert.equal(y[0], 1);
    assert.equal(y[y.length - 1], 4);
    assert.deepEqual(
      [...out.r.data as Float32Array],
      Array.from({ length: top * 2 }, (_, i) => i / 2),
    );
  }
  await sf.release();
});

Deno.test("InferenceSession: a data-dependent node with the wrong inputs is a ModelError at its first run, not a TypeError in its run-time step", async () => {
  // The files fuzz campaign's damaged Compress (its data input's name flipped away): the node
  // was deferred to the run for its data-dependence before its inputs were checked.
  for (
    const [op, inputs, want] of [
      ["Compress", ["c"], /Compress node .*has 1 inputs, expected 2/],
      ["Unique", ["x", "c"], /Unique node .*has 2 inputs, expected 1/],
      ["Compress", ["x", "x"], /Compress node .*input 1 is float32, expected bool/],
    ] as const
  ) {
    const g = new GraphBuilder(17);
    g.input("x", "float32", [4]);
    g.input("c", "bool", [4]);
    g.output(g.op(op, [...inputs], {}, "y"));
    const s = await InferenceSession.create(g.toBytes());
    const feeds = {
      x: new Tensor("float32", Float32Array.from([1, 2, 3, 4]), [4]),
      c: new Tensor("bool", Uint8Array.from([1, 0, 1, 0]), [4]),
    };
    await assert.rejects(
      s.run(feeds),
      (e: Error) => e.name === "ModelError" && want.test(e.message),
    );
    assert.throws(
      () => s.runSync(feeds),
      (e: Error) => e.name === "ModelError" && want.test(e.message),
    );
    await s.release();
  }
});

Deno.test("InferenceSession: profiling reports nodes and writes a Chrome trace", async () => {
  const m = resnetCnn({ size: 32, widths: [8], blocks: 1 });
  const dir = Deno.makeTempDirSync();
  const s = await InferenceSession.create(m.bytes, {
    enableProfiling: true,
    profileFilePrefix: `${dir}/trace`,
  });
  for (let i = 0; i < 3; i++) await s.run(feedsOf(m));
  const report = s.report();
  assert.match(report, /Conv/);
  assert.match(report, /conv2d 1×3×32×32/);
  const file = s.endProfiling();
  const events = JSON.parse(Deno.readTextFileSync(file));
  const names = new Set(events.map((e: { name: string }) => e.name));
  assert.ok(names.size >= s.nodeCount - 2, `${names.size} nodes traced of ${s.nodeCount}`);
  assert.equal(events.length, 3 * names.size);
  assert.equal(events[0].ph, "X");
  assert.ok(typeof events[0].dur === "number" && events[0].args.op_name);
  // A step of Jit calls carries its kernels' time (RDTSC in native code), within the step's
  // wall time (two clocks: 1 µs of slack); every Conv ran a kernel.
  for (const e of events) {
    if (e.args.op_name === "Conv") assert.ok(e.args.kernel_us > 0, JSON.stringify(e));
    if (e.args.kernel_us === undefined) continue;
    assert.ok(e.args.kernel_us >= 0 && e.args.kernel_us <= e.dur + 1, JSON.stringify(e));
  }
  // Each event's values as ONNX Runtime's carry them: the first Conv reads the 1×3×32×32 image
  // and its weights (8 filters of 3×7×7), writes 8 planes of 16² (stride 2).
  const conv = events.find((e: { args: { op_name: string } }) => e.args.op_name === "Conv");
  assert.deepEqual(conv.args.input_type_shape.slice(0, 2), [
    { float: [1, 3, 32, 32] },
    { float: [8, 3, 7, 7] },
  ]);
  assert.deepEqual(conv.args.output_type_shape, [{ float: [1, 8, 16, 16] }]);
  assert.match(report, /mean µs +wall µs/);
  await s.release();
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("InferenceSession: a released session still referenced lets its file's bytes go", async () => {
  // Created from a path, its weights are views of the file's bytes (its convolution's read in
  // place): kept while it is open, collected once it is released, the session still in hand.
  const r = await runFixture("released_file.ts", ["-A", "--v8-flags=--expose-gc"]);
  assert.equal(r.alive, 1, "the file was read into a mapping of its own");
  assert.equal(r.outputs, 32);
  assert.equal(r.heldWhileOpen, 1, "an open session keeps its file");
  assert.equal(r.afterRelease, 0, "a released one does not");
  assert.equal(r.nodes, 3, "its graph's shape is still there to report");
});

Deno.test("InferenceSession: a run's outputs reuse freed heap pages (the malloc policy), NJIT_MALLOC=system leaves glibc's", async () => {
  // The same 1 MB output 300 times: glibc's default maps each fresh (every page faulted in
  // anew); with the session's policy V8's freed output blocks come back from the heap.
  const flags = ["-A", "--v8-flags=--expose-gc"];
  const kept = await runFixture("output_faults.ts", flags, { NJIT_MALLOC: "keep" });
  const system = await runFixture("output_faults.ts", flags, { NJIT_MALLOC: "system" });
  const k = kept.faultsPerPage as number, d = system.faultsPerPage as number;
  assert.ok(
    k < 0.5 * d,
    `faults per output page: ${k.toFixed(3)} with the policy, ${d.toFixed(3)} with glibc's own`,
  );
  assert.equal(kept.sum, system.sum);
  const bad = await runFixture("output_faults.ts", flags, { NJIT_MALLOC: "always" });
  assert.match(String(bad.error), /^RangeError: NJIT_MALLOC must be "keep".*got "always"/);
});

Deno.test("InferenceSession: steady-state runs allocate only their outputs; weights packed at create", async () => {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--min-semi-space-size=128,--max-semi-space-size=128",
      new URL("./fixtures/session_alloc.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<
    string,
    {
      perRun: number;
      outputBytes: number;
      nodes: number;
      packedAtCreate: number;
      packedAfter: number;
    }
  >;
  const rows = Object.values(r);
  for (const [name, v] of Object.entries(r)) {
    // The output tensors (data, Tensor, dims, the result record) and nothing per node.
    assert.ok(
      v.perRun - v.outputBytes < 2048,
      `${name}: ${v.perRun} bytes per run, outputs ${v.outputBytes}`,
    );
    assert.ok(
      v.packedAtCreate > 0 && v.packedAfter === v.packedAtCreate,
      `${name}: packed ${JSON.stringify(v)}`,
    );
  }
  // 8 and 14 nodes, the same outputs: a per-node allocation would show as a
  // difference (measured within 0.2 bytes since the fixture warms every
  // session before measuring any; 16 bytes per node would be 96).
  assert.ok(
    Math.abs(rows[1].perRun - rows[0].perRun) < 64,
    `per-run bytes grow with nodes: ${JSON.stringify(r)}`,
  );
});

Deno.test("InferenceSession: Conv, ConvTranspose, MatMul and Gemm weights are all packed at create", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [1, 2, 6, 6]);
  const w = (name: string, dims: number[]) =>
    g.weight(name, dims, seededFloats(dims.reduce((a, b) => a * b, 1), 3, 0.3));
  const c = g.op("Conv", ["x", w("cw", [4, 2, 3, 3])], { pads: [1, 1, 1, 1] });
  const t = g.op("ConvTranspose", [c, w("tw", [4, 2, 2, 2])], { strides: [2, 2] });
  const f = g.op("Flatten", [g.op("GlobalAveragePool", [t])]);
  const mm = g.op("MatMul", [f, w("mw", [2, 5])]);
  g.output(g.op("Gemm", [mm, w("gw", [3, 5])], { transB: 1 }, "y"));
  const s = await InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1 });
  assert.equal(s.weightsPacked, 4);
  s.runSync({ x: new Tensor("float32", seededFloats(72, 1), [1, 2, 6, 6]) });
  assert.equal(s.weightsPacked, 4);
  await s.release();
});

Deno.test("InferenceSession: lying tensors, concurrent runs, release while a run is in flight", async () => {
  const m = mlp([16, 32, 4], 1);
  const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 2 });
  // A subclass lying about its length: the intrinsic getter decides.
  class Liar extends Float32Array {
    override get length(): number {
      return 32;
    }
  }
  const liar = new Tensor("float32", new Float32Array(32), [2, 16]);
  Object.defineProperty(liar, "data", { value: new Liar(8) });
  assert.throws(() => s.runSync({ input: liar }), /\(32 elements\) but 8 values/);
  // Concurrent runs of several shapes: queued, each with its own result.
  const xs = [1, 3, 2, 5, 1].map((b, i) =>
    new Tensor("float32", seededFloats(b * 16, i + 1), [b, 16])
  );
  const outs = await Promise.all(xs.map((x) => s.run({ input: x })));
  for (let i = 0; i < xs.length; i++) {
    assert.deepEqual(outs[i].logits.data, s.runSync({ input: xs[i] }).logits.data);
  }
  // More shapes than plans kept: older plans are dropped and rebuilt, results unchanged.
  for (let b = 1; b <= 40; b++) {
    s.runSync({ input: new Tensor("float32", seededFloats(b * 16, 7), [b, 16]) });
  }
  assert.deepEqual(s.runSync({ input: xs[1] }).logits.data, outs[1].logits.data);
  // Release with a run in flight: that run finishes or rejects, nothing crashes.
  const big = resnetCnn({ size: 64, widths: [16], blocks: 1 });
  const t = await InferenceSession.create(big.bytes, { intraOpNumThreads: 2 });
  const feeds = feedsOf(big);
  await t.run(feeds);
  const pending = t.run(feeds);
  await t.release();
  await pending.then(() => {}, (e) => assert.ok(e instanceof Error));
  await s.release();
});

Deno.test("InferenceSession: large float feeds copied in by every thread while a worker is awake (same outputs), others as they are", async () => {
  // y = Attention(q, k, v) + small: q, k, v of 12 × 128 × 64 floats (2^16 and more: a pool
  // copy each on 2 threads), small a float input under that (copied plainly).
  const dims = [1, 12, 128, 64];
  const g = new GraphBuilder(23);
  for (const n of ["q", "k", "v"]) g.input(n, "float32", dims);
  g.input("small", "float32", [1, 12, 128, 1]);
  const att = g.op("Attention", ["q", "k", "v"]);
  g.output(g.op("Add", [att, "small"], {}, "y"));
  const bytes = g.toBytes();
  const feeds: Record<string, Tensor> = {};
  for (const [i, n] of ["q", "k", "v"].entries()) {
    // A view 3 floats into its buffer: the copy takes feeds at any offset.
    const data = seededFloats(98304 + 3, 40 + i).subarray(3);
    feeds[n] = new Tensor("float32", data, dims);
  }
  feeds.small = new Tensor("float32", seededFloats(1536, 44), [1, 12, 128, 1]);
  const one = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const two = await InferenceSession.create(bytes, { intraOpNumThreads: 2 });
  const want = one.runSync(feeds).y.data;
  // Calls of the copy kernel on the feeds' shapes. A feed that lies 4K-aliased to the plan's
  // input takes it on one thread at any thread count (feed_copy.ts): the session counts those
  // apart (aliasedCopies), and every other call is a pool copy.
  const copies = (s: InferenceSession) =>
    s.kernelStats().keys.filter((k) => /^copy \[(98304|1536)\]/.test(k.key))
      .reduce((sum, k) => sum + k.calls, 0);
  // The pool's worker (shared by every Jit in the process) woken by a split call of another
  // Jit that holds it awake (20 ms between jobs): the session's next run finds it awake.
  using keeper = new Jit({ threads: 2 });
  const a = seededFloats(256 * 256, 45), c = new Float32Array(256 * 256);
  const wake = () => {
    keeper.gemm(a, a, c, { m: 256, n: 256, k: 256 });
    // The call may end before the worker it woke runs (the caller takes a late worker's
    // parts): wait until it is up, as the session's next run will look.
    const until = performance.now() + 500;
    while (!workerAwake(keeper) && performance.now() < until) {
      keeper.gemm(a, a, c, { m: 8, n: 8, k: 8 });
    }
    assert.ok(workerAwake(keeper), "the keeper's worker never woke");
  };
  keeper.holdWorkers(true);
  try {
    two.runSync(feeds); // its plan built (kernels compiled) before the runs counted
    const before = copies(two), aliasedBefore = two.aliasedCopies;
    for (let run = 0; run < 3; run++) {
      wake();
      assert.deepEqual(two.runSync(feeds).y.data, want, `runSync ${run}`);
      wake();
      assert.deepEqual((await two.run(feeds)).y.data, want, `run ${run}`);
    }
    // Each of those runs: its three large feeds through the pool copy key, the small one not.
    assert.equal(
      copies(two) - before - (two.aliasedCopies - aliasedBefore),
      3 * 6,
      two.kernelStats().keys.map((k) => k.key).join("; "),
    );
    // A runSync while a run is in flight (its copies on the calling thread meanwhile).
    wake();
    const inFlight = two.run(feeds);
    assert.deepEqual(two.runSync(feeds).y.data, want, "runSync beside a run");
    assert.deepEqual((await inFlight).y.data, want, "the run beside it");
  } finally {
    keeper.holdWorkers(false);
  }
  // A run that finds every worker asleep copies plainly (the copy would wait for a wake-up),
  // though its hold wakes them as it begins: a worker up within the µs before the copy (a
  // fast wake-up, as on CI's machine) does not take it.
  for (let t = 0; t < 100 && (t < 5 || workerAwake(keeper)); t++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(!workerAwake(keeper), "the workers asleep before the run");
  const asleep = copies(two), aliased = two.aliasedCopies;
  assert.deepEqual(two.runSync(feeds).y.data, want, "runSync, the workers asleep");
  assert.equal(copies(two) - asleep, two.aliasedCopies - aliased, "a pool copy, workers asleep");
  // One thread: a plain copy, no pool copy.
  assert.equal(copies(one), one.aliasedCopies);
  await one.release();
  await two.release();
});

Deno.test("model: a Llama-style decoder block at opset 23 (RMSNorm, RotaryEmbedding, GQA Attention with a KV cache) matches onnxruntime", async () => {
  const [S, P, hidden, heads, kvHeads, ff] = [5, 3, 32, 4, 2, 48], dh = hidden / heads;
  const g = new GraphBuilder(23);
  g.input("x", "float32", [1, S, hidden]);
  g.input("past_key", "float32", [1, kvHeads, P, dh]);
  g.input("past_value", "float32", [1, kvHeads, P, dh]);
  g.input("position_ids", "int64", [1, S]);
  let seed = 300;
  const weight = (dims: number[], scale = 0.2) =>
    g.weight(g.fresh("w"), dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed++, scale));
  const rms = (t: string) =>
    g.op("RMSNormalization", [t, weight([hidden], 1)], { epsilon: f(1e-6) });
  const h = rms("x");
  const q = g.op("MatMul", [h, weight([hidden, hidden])]);
  const k = g.op("MatMul", [h, weight([hidden, kvHeads * dh])]);
  const v = g.op("MatMul", [h, weight([hidden, kvHeads * dh])]);
  const [cos, sin] = g.rotaryCache(16, dh / 2, 0.11);
  const qr = g.op("RotaryEmbedding", [q, cos, sin, "position_ids"], { num_heads: heads });
  const kr = g.op("RotaryEmbedding", [k, cos, sin, "position_ids"], { num_heads: kvHeads });
  const [att, presentK, presentV] = g.node(
    "Attention",
    [qr, kr, v, "", "past_key", "past_value"],
    3,
    { q_num_heads: heads, kv_num_heads: kvHeads, is_causal: 1 },
  );
  const x1 = g.op("Add", ["x", g.op("MatMul", [att, weight([hidden, hidden])])]);
  const h2 = rms(x1);
  const gate = g.op("MatMul", [h2, weight([hidden, ff])]);
  const silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])]);
  const up = g.op("MatMul", [h2, weight([hidden, ff])]);
  const down = g.op("MatMul", [g.op("Mul", [silu, up]), weight([ff, hidden])]);
  g.output(g.op("Add", [x1, down], {}, "y"));
  g.output(g.op("Identity", [presentK], {}, "present_key"));
  g.output(g.op("Identity", [presentV], {}, "present_value"));
  const F = (dims: number[], seed: number) => ({
    type: "float32" as const,
    dims,
    data: seededFloats(dims.reduce((a, b) => a * b, 1), seed),
  });
  await checkModel("model llama block opset 23", g.toBytes(), {
    x: F([1, S, hidden], 401),
    past_key: F([1, kvHeads, P, dh], 402),
    past_value: F([1, kvHeads, P, dh], 403),
    position_ids: {
      type: "int64",
      dims: [1, S],
      data: BigInt64Array.from([3n, 4n, 5n, 6n, 7n]),
    },
  });
});

Deno.test("model: a 4-bit LLM decoder block as ONNX Runtime GenAI exports it (com.microsoft ops) matches onnxruntime", async () => {
  const m = llmBlock({ seq: 4, past: 3, hidden: 64, heads: 4, kvHeads: 2, ff: 96, vocab: 50 });
  await checkModel("model 4-bit llm block genai", m.bytes, m.feeds);
  // A decoder's step (one token): the 4-bit kernel's path.
  const step = llmBlock({ seq: 1, past: 6, hidden: 64, heads: 4, kvHeads: 2, ff: 96, vocab: 50 });
  await checkModel("model 4-bit llm block genai one step", step.bytes, step.feeds);
});

Deno.test("model: a BERT layer as ONNX Runtime's transformer optimizer writes it (com.microsoft ops) matches onnxruntime", async () => {
  const [B, S, hidden, heads, ff, vocab] = [2, 6, 32, 4, 64, 30];
  const g = new GraphBuilder(17);
  g.extraOpsets.push(["com.microsoft", 1]);
  const ms = "com.microsoft";
  g.input("input_ids", "int32", [B, S]);
  g.input("token_type_ids", "int32", [B, S]);
  g.input("attention_mask", "int32", [B, S]);
  let seed = 700;
  const weight = (dims: number[], scale = 0.2) =>
    g.weight(g.fresh("w"), dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed++, scale));
  const ones = (n: number) =>
    g.weight(g.fresh("g"), [n], seededFloats(n, seed++, 0.1).map((v) => 1 + v));
  const [emb, maskIndex] = g.node(
    "EmbedLayerNormalization",
    [
      "input_ids",
      "token_type_ids",
      weight([vocab, hidden]),
      weight([16, hidden]),
      weight([2, hidden]),
      ones(hidden),
      weight([hidden], 0.05),
      "attention_mask",
    ],
    2,
    { epsilon: f(1e-12) },
    ms,
  );
  const att = g.node(
    "Attention",
    [emb, weight([hidden, 3 * hidden]), weight([3 * hidden], 0.05), maskIndex],
    1,
    { num_heads: heads },
    ms,
  )[0];
  const proj = g.op("MatMul", [att, weight([hidden, hidden])]);
  const [ln1] = g.node(
    "SkipLayerNormalization",
    [proj, emb, ones(hidden), weight([hidden], 0.05), weight([hidden], 0.05)],
    1,
    { epsilon: f(1e-12) },
    ms,
  );
  const up = g.op("MatMul", [ln1, weight([hidden, ff])]);
  const act = g.node("BiasGelu", [up, weight([ff], 0.05)], 1, {}, ms)[0];
  const down = g.op("MatMul", [act, weight([ff, hidden])]);
  const [out] = g.node(
    "SkipLayerNormalization",
    [down, ln1, ones(hidden), weight([hidden], 0.05), weight([hidden], 0.05)],
    1,
    { epsilon: f(1e-12) },
    ms,
  );
  g.output(g.op("Identity", [out], {}, "last_hidden_state"));
  const i32 = (v: number[]) => ({ type: "int32" as const, dims: [B, S], data: Int32Array.from(v) });
  await checkModel("model bert optimized com.microsoft", g.toBytes(), {
    input_ids: i32([2, 7, 11, 5, 0, 0, 3, 29, 8, 8, 1, 0]),
    token_type_ids: i32([0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1]),
    // The mask's lengths become mask_index (valid lengths, padding on the right).
    attention_mask: i32([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0]),
  });
});

Deno.test("model: attention masks and biases that do not fit are named before anything runs", async () => {
  const build = (abDims: number[], maskDims: number[]) => {
    const g = new GraphBuilder(17);
    g.extraOpsets.push(["com.microsoft", 1]);
    g.input("q", "float32", [1, 3, 8]);
    g.input("m", "int32", maskDims);
    const ab = g.initializer("ab", {
      type: "float32",
      dims: abDims,
      data: new Array(abDims.reduce((a, b) => a * b, 1)).fill(0),
    });
    g.node(
      "MultiHeadAttention",
      ["q", "q", "q", "", "m", ab],
      ["y"],
      { num_heads: 2 },
      "com.microsoft",
    );
    g.output("y");
    return g.toBytes();
  };
  // At create or at the first run of the shapes (the plan), a ModelError naming the node.
  const attempt = async (bytes: Uint8Array, maskLength: number) => {
    const s = await InferenceSession.create(bytes);
    try {
      s.runSync({
        q: new Tensor("float32", new Float32Array(24), [1, 3, 8]),
        m: new Tensor("int32", new Int32Array(maskLength).fill(1), [1, maskLength]),
      });
    } finally {
      await s.release();
    }
  };
  await assert.rejects(
    attempt(build([1, 3, 3, 3], [1, 3]), 3),
    /MultiHeadAttention node .*attention_bias \[1, 3, 3, 3\] does not broadcast to \[1, 2, 3, 3\]/,
  );
  await assert.rejects(
    attempt(build([1, 1, 3, 3], [1, 4]), 4),
    /key_padding_mask must be \[1, 3\]/,
  );
  await attempt(build([1, 2, 1, 3], [1, 3]), 3);
});

Deno.test("model: QLinear scales, zero points and biases that do not fit are named", async () => {
  const matmul = (bScale: number, yZeroType: "uint8" | "float32") => {
    const g = new GraphBuilder(13);
    g.input("a", "uint8", [2, 4]);
    const s = (name: string, n: number) =>
      g.initializer(name, { type: "float32", dims: n === 1 ? [] : [n], data: Array(n).fill(0.1) });
    const z = g.initializer("z", { type: "uint8", dims: [], data: [128] });
    const yz = g.initializer("yz", { type: yZeroType, dims: [], data: [3] });
    const B = g.initializer("B", { type: "uint8", dims: [4, 6], data: Array(24).fill(7) });
    g.node("QLinearMatMul", ["a", s("as", 1), z, B, s("bs", bScale), z, s("ys", 1), yz], ["y"]);
    g.output("y", "uint8");
    return g.toBytes();
  };
  const conv = (biasType: "int32" | "float32", biasLength: number) => {
    const g = new GraphBuilder(13);
    g.input("x", "uint8", [1, 2, 5, 5]);
    const s = g.initializer("s", { type: "float32", dims: [], data: [0.1] });
    const z = g.initializer("z", { type: "uint8", dims: [], data: [128] });
    const W = g.initializer("W", { type: "uint8", dims: [3, 2, 3, 3], data: Array(54).fill(9) });
    const B = g.initializer("B", {
      type: biasType,
      dims: [biasLength],
      data: Array(biasLength).fill(1),
    });
    g.node("QLinearConv", ["x", s, z, W, s, z, s, z, B], ["y"]);
    g.output("y", "uint8");
    return g.toBytes();
  };
  const attempt = async (bytes: Uint8Array, feed: string, dims: number[]) => {
    const s = await InferenceSession.create(bytes);
    try {
      const n = dims.reduce((p, v) => p * v, 1);
      s.runSync({ [feed]: new Tensor("uint8", new Uint8Array(n).fill(130), dims) });
    } finally {
      await s.release();
    }
  };
  await assert.rejects(
    attempt(matmul(5, "uint8"), "a", [2, 4]),
    /QLinearMatMul node .*b's scale must have 1 or 6 values/,
  );
  await assert.rejects(attempt(matmul(1, "float32"), "a", [2, 4]), /QLinearMatMul node/);
  await assert.rejects(
    attempt(conv("float32", 3), "x", [1, 2, 5, 5]),
    /QLinearConv node .*int32/,
  );
  await assert.rejects(
    attempt(conv("int32", 2), "x", [1, 2, 5, 5]),
    /QLinearConv node .*B must have 3 values/,
  );
  await attempt(matmul(6, "uint8"), "a", [2, 4]);
  await attempt(conv("int32", 3), "x", [1, 2, 5, 5]);
});

/**
 * If with its condition fed (a bool input, as merged decoders feed use_cache_branch) or
 * computed from shapes; a shape fed as an int64 input (Expand). Each against onnxruntime
 * (or golden); then one session fed each condition in turn gives each plan's outputs.
 */
Deno.test("model: If on a fed or shape-computed condition, and a fed shape, match onnxruntime", async () => {
  const build = () => {
    const g = new GraphBuilder(17);
    g.input("x", "float32", [2, "n"]);
    g.input("flag", "bool", []);
    g.input("shape", "int64", [3]);
    const t = g.op("Relu", ["x"], {}, "t");
    // then: x·c + x (c a branch initializer), and the outer value t; a nested If on a
    // shape-computed condition inside.
    const th = new GraphBuilder(17);
    th.initializer("c_then", { type: "float32", dims: [], data: [1.5] });
    const y1 = th.op("Add", [th.op("Mul", ["x", "c_then"], {}, "th_mul"), "x"], {}, "th_y");
    const four = th.op("Constant", [], { value_int: 4 }, "th_four");
    const width = th.op(
      "Gather",
      [th.op("Shape", ["x"], {}, "th_shape"), th.op("Constant", [], { value_int: 1 }, "th_one")],
      {},
      "th_width",
    );
    const inner = (name: string, op: string) => {
      const b = new GraphBuilder(17);
      b.op(op, ["x"], {}, `${name}_out`);
      b.output(`${name}_out`);
      return b;
    };
    th.node("If", [th.op("Equal", [width, four], {}, "th_cond")], ["th_nested"], {
      then_branch: { graph: inner("in_then", "Neg") },
      else_branch: { graph: inner("in_else", "Abs") },
    });
    th.output(y1);
    th.output(th.op("Identity", [t], {}, "th_t")); // ORT wants outer values through an Identity
    th.output("th_nested");
    // else: x − 0.5 (a Constant node), relu(t)·2, and x itself.
    const el = new GraphBuilder(17);
    const half = el.op("Constant", [], { value_float: f(0.5) }, "el_half");
    el.output(el.op("Sub", ["x", half], {}, "el_y"));
    el.output(
      el.op("Mul", [t, el.op("Constant", [], { value_float: f(2) }, "el_two")], {}, "el_t"),
    );
    el.output(el.op("Identity", ["x"], {}, "el_x"));
    g.node("If", ["flag"], ["y", "u", "w"], {
      then_branch: { graph: th },
      else_branch: { graph: el },
    });
    g.output(g.op("Identity", ["y"], {}, "y_out"));
    g.output(g.op("Identity", ["u"], {}, "u_out"));
    g.output(g.op("Identity", ["w"], {}, "w_out"));
    // A shape from shapes: its If is decided with no input's values.
    const cond = g.op("Greater", [
      g.op("Gather", [g.op("Shape", ["x"]), g.ints("one", [1], [])]),
      g.ints("three", [3], []),
    ]);
    const wide = new GraphBuilder(17), narrow = new GraphBuilder(17);
    wide.output(wide.op("Sigmoid", ["x"], {}, "wide_out"));
    narrow.output(narrow.op("Tanh", ["x"], {}, "narrow_out"));
    g.node("If", [cond], ["by_shape"], {
      then_branch: { graph: wide },
      else_branch: { graph: narrow },
    });
    g.output(g.op("Identity", ["by_shape"], {}, "by_shape_out"));
    // A fed shape.
    g.output(
      g.op(
        "Expand",
        [g.op("Slice", ["x", g.ints("s0", [0]), g.ints("s1", [1]), g.ints("s2", [1])]), "shape"],
        {},
        "expanded",
      ),
    );
    return g.toBytes();
  };
  const bytes = build();
  const feeds = (n: number, flag: boolean, shape: number[]) => ({
    x: { type: "float32" as const, dims: [2, n], data: seededFloats(2 * n, 90 + n, 2) },
    flag: { type: "bool" as const, dims: [], data: Uint8Array.of(flag ? 1 : 0) },
    shape: { type: "int64" as const, dims: [3], data: BigInt64Array.from(shape, BigInt) },
  });
  const cases: [string, ReturnType<typeof feeds>][] = [
    ["then, n 4", feeds(4, true, [3, 2, 1])],
    ["else, n 4", feeds(4, false, [1, 2, 4])],
    ["then, n 3", feeds(3, true, [2, 1, 3])],
    ["else, n 3", feeds(3, false, [2, 2, 1])],
  ];
  for (const [name, fd] of cases) await checkModel(`model If ${name}`, bytes, fd);
  // One session through every case, twice: each run's outputs are its fresh session's.
  const s = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const fresh = new Map<string, Record<string, Tensor>>();
  for (const [name, fd] of cases) {
    const one = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    fresh.set(name, one.runSync(toTensors(fd)));
    await one.release();
  }
  for (let round = 0; round < 2; round++) {
    for (const [name, fd] of cases) {
      const got = s.runSync(toTensors(fd)), want = fresh.get(name)!;
      for (const k of Object.keys(want)) {
        assert.deepEqual(got[k].dims, want[k].dims, `${name} ${k} dims`);
        assert.deepEqual(got[k].data, want[k].data, `${name} ${k}`);
      }
    }
  }
  await s.release();
});

function toTensors(fd: Record<string, { type: string; dims: number[]; data: unknown }>) {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(fd)) {
    out[k] = new Tensor(v.type as never, v.data as never, v.dims);
  }
  return out;
}

Deno.test("model: an If's branches fold and fuse as the graph does (outer weights), and match onnxruntime", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [3, 8]);
  g.input("flag", "bool", [1]);
  const W = g.weight("W", [8, 5], seededFloats(40, 601, 0.5));
  const b1 = g.weight("b1", [5], seededFloats(5, 602)),
    b2 = g.weight("b2", [5], seededFloats(5, 603));
  const branch = (tag: string, bias: string, act: string | null) => {
    const h = new GraphBuilder(17);
    const y = h.op("Add", [h.op("MatMul", ["x", W], {}, `${tag}_mm`), bias], {}, `${tag}_add`);
    h.output(act ? h.op(act, [y], {}, `${tag}_out`) : y);
    return h;
  };
  g.node("If", ["flag"], ["y"], {
    then_branch: { graph: branch("th", b1, "Relu") },
    else_branch: { graph: branch("el", b2, null) },
  });
  g.output(g.op("Identity", ["y"], {}, "out"));
  const bytes = g.toBytes();
  for (const flag of [1, 0]) {
    await checkModel(`model If fused branches flag ${flag}`, bytes, {
      x: { type: "float32", dims: [3, 8], data: seededFloats(24, 604) },
      flag: { type: "bool", dims: [1], data: Uint8Array.of(flag) },
    });
  }
  const s = await InferenceSession.create(bytes);
  assert.equal(s.optimization.fusions["MatMul + bias Add"], 2);
  assert.equal(s.optimization.fusions["activation into its producer"], 1);
  await s.release();
});

Deno.test("model: GroupQueryAttention's padded prompt: each item's rows are its unpadded run's", async () => {
  const [B, S, H, KV, D] = [2, 5, 4, 2, 16], lengths = [5, 3];
  const build = (batch: number, seq: number, lens: number[]) => {
    const g = new GraphBuilder(17);
    g.extraOpsets.push(["com.microsoft", 1]);
    g.input("q", "float32", [batch, seq, H * D]);
    g.input("k", "float32", [batch, seq, KV * D]);
    g.input("v", "float32", [batch, seq, KV * D]);
    const cache = (name: string, fn: (x: number) => number) =>
      g.initializer(name, {
        type: "float32",
        dims: [16, D / 2],
        data: Array.from({ length: 16 * D / 2 }, (_, i) => fn(i * 0.21)),
      });
    const i32 = (name: string, v: number[], dims: number[]) =>
      g.initializer(name, { type: "int32", dims, data: v });
    const [y, pk] = g.node(
      "GroupQueryAttention",
      [
        "q",
        "k",
        "v",
        "",
        "",
        i32("sl", lens.map((l) => l - 1), [batch]),
        i32("t", [seq], []),
        cache("cos", Math.cos),
        cache("sin", Math.sin),
      ],
      3,
      { num_heads: H, kv_num_heads: KV, do_rotary: 1 },
      "com.microsoft",
    );
    g.output(g.op("Identity", [y], {}, "y"));
    g.output(g.op("Identity", [pk], {}, "present_key"));
    return g.toBytes();
  };
  const feeds = (seq: number, item: number | null) => {
    const out: Record<string, Tensor> = {};
    for (
      const [name, width, s] of [["q", H * D, 31], ["k", KV * D, 32], ["v", KV * D, 33]] as const
    ) {
      const all = seededFloats(B * S * width, s);
      const rows = item === null ? all : all.subarray(item * S * width, (item * S + seq) * width);
      out[name] = new Tensor("float32", Float32Array.from(rows), [
        item === null ? B : 1,
        seq,
        width,
      ]);
    }
    return out;
  };
  const padded = await InferenceSession.create(build(B, S, lengths));
  const both = padded.runSync(feeds(S, null));
  for (let item = 0; item < B; item++) {
    const len = lengths[item];
    const alone = await InferenceSession.create(build(1, len, [len]));
    const one = alone.runSync(feeds(len, item));
    const got = (both.y.data as Float32Array).subarray(item * S * H * D, (item * S + len) * H * D);
    const want = one.y.data as Float32Array;
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) <= 1e-5, `item ${item} y[${i}] ${got[i]} vs ${want[i]}`);
    }
    // Its present keys: the unpadded run's, the padded positions after them.
    const pk = both.present_key.data as Float32Array, pk1 = one.present_key.data as Float32Array;
    for (let h = 0; h < KV; h++) {
      for (let t = 0; t < len; t++) {
        for (let d = 0; d < D; d++) {
          const a = pk[((item * KV + h) * S + t) * D + d], b = pk1[(h * len + t) * D + d];
          assert.ok(Math.abs(a - b) <= 1e-6, `item ${item} present_key[${h}][${t}][${d}]`);
        }
      }
    }
    await alone.release();
  }
  await padded.release();
});

Deno.test("model: Scan unrolled when the plan is made (states, scan inputs on two axes and directions, outputs on two axes and directions, an outer value) matches onnxruntime", async () => {
  const g = new GraphBuilder(16);
  g.input("h0", "float32", [2]);
  g.input("xs", "float32", [4, 2]);
  g.input("us", "float32", [2, 4]);
  const w = g.weight("w", [2], [0.5, -0.25]);
  // h ← tanh(h·w + x + u); scanned: h, and x − u.
  const body = new GraphBuilder(16);
  body.input("h", "float32", [2]);
  body.input("x", "float32", [2]);
  body.input("u", "float32", [2]);
  const hn = body.op(
    "Tanh",
    [body.op(
      "Add",
      [body.op("Add", [body.op("Mul", ["h", w], {}, "s_hw"), "x"], {}, "s_a"), "u"],
      {},
      "s_b",
    )],
    {},
    "s_h",
  );
  body.output(hn);
  body.output(body.op("Identity", [hn], {}, "s_scan"));
  body.output(body.op("Sub", ["x", "u"], {}, "s_d"));
  g.node("Scan", ["h0", "xs", "us"], ["hT", "hs", "ds"], {
    body: { graph: body },
    num_scan_inputs: 2,
    scan_input_axes: [0, 1],
    scan_input_directions: [0, 1],
    scan_output_axes: [0, -1],
    scan_output_directions: [0, 1],
  });
  g.output(g.op("Identity", ["hT"], {}, "hT_out"));
  g.output(g.op("Identity", ["hs"], {}, "hs_out"));
  g.output(g.op("Identity", ["ds"], {}, "ds_out"));
  await checkModel("model Scan unrolled", g.toBytes(), {
    h0: { type: "float32", dims: [2], data: seededFloats(2, 78) },
    xs: { type: "float32", dims: [4, 2], data: seededFloats(8, 79) },
    us: { type: "float32", dims: [2, 4], data: seededFloats(8, 80) },
  });
  const s = await InferenceSession.create(g.toBytes());
  assert.equal(s.nodeOps.Scan, 1);
  await s.release();
});

Deno.test("model: Loop unrolled when the plan is made (a bound, a computed condition, carried and scanned values) matches onnxruntime", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2, 3]);
  // acc ← acc·0.5 + i, while i < 2 (the condition out), at most 4 times; each acc scanned.
  const body = new GraphBuilder(17);
  body.input("i", "int64", []);
  body.input("c", "bool", []);
  body.input("acc", "float32", [2, 3]);
  const half = body.initializer("half", { type: "float32", dims: [], data: [0.5] });
  const next = body.op(
    "Add",
    [
      body.op("Mul", ["acc", half], {}, "b_mul"),
      body.op("Cast", ["i"], { to: 1 }, "b_fi"),
    ],
    {},
    "b_next",
  );
  body.output(
    body.op("Less", ["i", body.op("Constant", [], { value_int: 2 }, "b_two")], {}, "b_c"),
    "bool",
  );
  body.output(next);
  body.output(body.op("Identity", [next], {}, "b_scan"));
  const m = g.ints("m", [4], []), t = g.initializer("t", { type: "bool", dims: [], data: [1] });
  g.node("Loop", [m, t, "x"], ["final", "steps"], { body: { graph: body } });
  g.output(g.op("Identity", ["final"], {}, "final_out"));
  g.output(g.op("Identity", ["steps"], {}, "steps_out"));
  // A bound from shapes (x's rows), no condition, only a scan: x·(i + 1) through an outer value.
  const rows = g.op("Gather", [g.op("Shape", ["x"]), g.ints("zero", [0], [])]);
  const body2 = new GraphBuilder(17);
  body2.input("j", "int64", []);
  body2.input("c2", "bool", []);
  body2.output(body2.op("Identity", ["c2"], {}, "c2_out"), "bool");
  const scaled = body2.op(
    "Mul",
    [
      "x",
      body2.op(
        "Cast",
        [body2.op("Add", ["j", body2.ints("one", [1], [])], {}, "j1")],
        { to: 1 },
        "fj",
      ),
    ],
    {},
    "scaled",
  );
  body2.output(scaled);
  g.node("Loop", [rows, ""], ["rows_scan"], { body: { graph: body2 } });
  g.output(g.op("Identity", ["rows_scan"], {}, "rows_out"));
  await checkModel("model Loop unrolled", g.toBytes(), {
    x: { type: "float32", dims: [2, 3], data: seededFloats(6, 77) },
  });
  const s = await InferenceSession.create(g.toBytes());
  assert.equal(s.nodeOps.Loop, 2);
  await s.release();
  // A condition computed from data: named when the plan is made, before anything runs.
  const d = new GraphBuilder(17);
  d.input("x", "float32", [2]);
  const body3 = new GraphBuilder(17);
  body3.input("k", "int64", []);
  body3.input("c3", "bool", []);
  body3.input("v", "float32", [2]);
  const v2 = body3.op("Mul", ["v", "v"], {}, "v2");
  body3.output(
    body3.op(
      "Less",
      [
        body3.op("ReduceSum", [v2], { keepdims: 0 }, "sum"),
        body3.initializer(
          "lim",
          { type: "float32", dims: [], data: [100] },
        ),
      ],
      {},
      "c3_out",
    ),
    "bool",
  );
  body3.output(v2);
  d.node("Loop", ["", "", "x"], ["y"], { body: { graph: body3 } });
  d.output("y");
  const sd = await InferenceSession.create(d.toBytes());
  assert.throws(
    () => sd.runSync({ x: new Tensor("float32", Float32Array.of(1.5, 2), [2]) }),
    /Loop node .*condition is not known when the plan is made/,
  );
  await sd.release();
});

Deno.test("model: NonZero of run-time values: the rest of the graph planned per count, matches onnxruntime", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [3, 4]);
  const relu = g.op("Relu", ["x"], {}, "relu");
  const idx = g.op(
    "NonZero",
    [g.op("Greater", ["x", g.initializer("z", { type: "float32", dims: [], data: [0.2] })])],
    {},
    "idx",
  );
  g.output(g.op("Identity", [idx], {}, "indices"), "int64");
  // The positive values (a value computed before the cut read after it), doubled, and their sum.
  const picked = g.op("GatherND", [relu, g.op("Transpose", [idx], { perm: [1, 0] })], {}, "picked");
  g.output(
    g.op(
      "Mul",
      [picked, g.initializer("two", { type: "float32", dims: [], data: [2] })],
      {},
      "doubled",
    ),
  );
  g.output(g.op("ReduceSum", [picked], { keepdims: 0 }, "total"));
  // A second cut past the first: the nonzero positions of the doubled values above 1.
  const big = g.op("NonZero", [
    g.op("Greater", ["doubled", g.initializer("one", { type: "float32", dims: [], data: [1] })]),
  ]);
  g.output(g.op("Identity", [big], {}, "big"), "int64");
  g.output(g.op("Neg", [relu], {}, "before"));
  const bytes = g.toBytes();
  const feeds = (seed: number) => ({
    x: { type: "float32" as const, dims: [3, 4], data: seededFloats(12, seed, 1.5) },
  });
  for (const seed of [5, 6, 7]) await checkModel(`model NonZero seed ${seed}`, bytes, feeds(seed));
  // One session through the feeds twice: each run's outputs are a fresh session's. Without
  // short runs inline, every run goes off the loop: the tails' plans too, replayed.
  for (const shortRunsInline of [true, false]) {
    const s = await InferenceSession.create(bytes, { intraOpNumThreads: 1, shortRunsInline });
    for (let round = 0; round < 2; round++) {
      for (const seed of [5, 6, 7]) {
        const fresh = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
        const t = { x: new Tensor("float32", feeds(seed).x.data, [3, 4]) };
        const want = fresh.runSync(t), got = await s.run(t);
        for (const k of Object.keys(want)) {
          assert.deepEqual(got[k].dims, want[k].dims, `seed ${seed} ${k} ${shortRunsInline}`);
          assert.deepEqual(got[k].data, want[k].data, `seed ${seed} ${k} ${shortRunsInline}`);
        }
        await fresh.release();
      }
    }
    await s.release();
  }
});

Deno.test("model: shapes from values computed at run time (trimming to the longest length) match onnxruntime", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2, 6, 3]);
  g.input("mask", "int64", [2, 6]);
  // The longest sequence's length, a Range to it, the positions mask and x trimmed to it.
  const longest = g.op("ReduceMax", [
    g.op("ReduceSum", ["mask", g.ints("a1", [1])], { keepdims: 0 }),
  ], {
    keepdims: 1,
  });
  const range = g.op("Range", [
    g.ints("r0", [0], []),
    g.op("Squeeze", [longest]),
    g.ints("r1", [1], []),
  ]);
  g.output(g.op("Cast", [range], { to: 1 }, "positions"));
  g.output(g.op("Slice", ["x", g.ints("s0", [0]), longest, g.ints("s1", [1])], {}, "trimmed"));
  g.output(
    g.op(
      "ConstantOfShape",
      [g.op("Concat", [g.ints("two", [2]), longest], { axis: 0 })],
      {},
      "zeros",
    ),
  );
  const bytes = g.toBytes();
  const mask = (lens: number[]) => ({
    type: "int64" as const,
    dims: [2, 6],
    data: BigInt64Array.from({ length: 12 }, (_, i) => (i % 6 < lens[Math.floor(i / 6)] ? 1n : 0n)),
  });
  const x = { type: "float32" as const, dims: [2, 6, 3], data: seededFloats(36, 91) };
  for (const lens of [[4, 2], [6, 5], [1, 3]]) {
    await checkModel(`model values cut ${lens}`, bytes, { x, mask: mask(lens) });
  }
  // One session through the lengths twice (a tail plan per longest length): a fresh one's,
  // with short runs inline and with every run off the loop (the tails' plans replayed).
  const tensors = (lens: number[]) => {
    const m = mask(lens);
    return { x: new Tensor("float32", x.data, x.dims), mask: new Tensor("int64", m.data, m.dims) };
  };
  for (const shortRunsInline of [true, false]) {
    const s = await InferenceSession.create(bytes, { shortRunsInline });
    for (let round = 0; round < 2; round++) {
      for (const lens of [[4, 2], [6, 5], [1, 3]]) {
        const fresh = await InferenceSession.create(bytes);
        const want = fresh.runSync(tensors(lens)), got = await s.run(tensors(lens));
        for (const k of Object.keys(want)) {
          assert.deepEqual(got[k].dims, want[k].dims, `${lens} ${k} ${shortRunsInline}`);
          assert.deepEqual(got[k].data, want[k].data, `${lens} ${k} ${shortRunsInline}`);
        }
        await fresh.release();
      }
    }
    await s.release();
  }
});

Deno.test("model: NonMaxSuppression of run-time scores (corner and center boxes, thresholds) matches onnxruntime", async () => {
  const [B, N, C] = [2, 12, 3];
  const g = new GraphBuilder(11);
  g.input("boxes", "float32", [B, N, 4]);
  g.input("logits", "float32", [B, C, N]);
  // Scores computed in the graph (so the selection is planned per run), then NMS.
  const scores = g.op("Sigmoid", ["logits"]);
  const most = g.ints("most", [10], [1]);
  const iou = g.initializer("iou", { type: "float32", dims: [1], data: [0.4] });
  const min = g.initializer("min", { type: "float32", dims: [1], data: [0.3] });
  const sel = g.op("NonMaxSuppression", ["boxes", scores, most, iou, min], {}, "selected");
  g.output(sel, "int64");
  g.output(
    g.op("NonMaxSuppression", ["boxes", scores, most, iou], { center_point_box: 1 }, "centered"),
    "int64",
  );
  g.output(g.op("NonMaxSuppression", ["boxes", scores], {}, "none"), "int64");
  // The selected boxes' coordinates, gathered (a tail computing with the selection).
  const which = g.op("Slice", [sel, g.ints("c0", [2]), g.ints("c1", [3]), g.ints("c2", [1])]);
  g.output(
    g.op(
      "Gather",
      [
        g.op("Reshape", ["boxes", g.ints("flat", [-1, 4])]),
        g.op("Squeeze", [which], { axes: [1] }),
      ],
      { axis: 0 },
      "picked",
    ),
  );
  const bytes = g.toBytes();
  const feeds = (seed: number) => {
    const r = seededFloats(B * N * 4, seed, 1);
    // Boxes: corners around random centres (some overlapping), distinct scores.
    const boxes = Float32Array.from(
      { length: B * N * 4 },
      (_, i) => (i % 4 < 2 ? 0 : 0.3) + Math.abs(r[i]) * 0.6,
    );
    return {
      boxes: { type: "float32" as const, dims: [B, N, 4], data: boxes },
      logits: {
        type: "float32" as const,
        dims: [B, C, N],
        data: seededFloats(B * C * N, seed + 1, 3),
      },
    };
  };
  for (const seed of [21, 22, 23]) await checkModel(`model NMS seed ${seed}`, bytes, feeds(seed));
  // One session across the seeds (a tail plan per selection count): a fresh session's outputs.
  const s = await InferenceSession.create(bytes);
  const tensors = (seed: number) => {
    const fd = feeds(seed);
    return {
      boxes: new Tensor("float32", fd.boxes.data, fd.boxes.dims),
      logits: new Tensor("float32", fd.logits.data, fd.logits.dims),
    };
  };
  for (let round = 0; round < 2; round++) {
    for (const seed of [21, 22, 23]) {
      const fresh = await InferenceSession.create(bytes);
      const want = fresh.runSync(tensors(seed)), got = await s.run(tensors(seed));
      for (const k of Object.keys(want)) {
        assert.deepEqual(got[k].data, want[k].data, `${seed} ${k}`);
      }
      await fresh.release();
    }
  }
  await s.release();
});

Deno.test("model: a sequence position fed as an input keys the plans (SequenceAt, SequenceInsert)", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [2, 3]);
  g.input("pos", "int64", []);
  const seq = g.op("SequenceConstruct", ["x", g.op("Relu", ["x"]), g.op("Neg", ["x"])]);
  g.output(g.op("SequenceAt", [seq, "pos"], {}, "at"));
  g.output(
    g.op("ConcatFromSequence", [g.op("SequenceInsert", [seq, g.op("Abs", ["x"]), "pos"])], {
      axis: 0,
    }, "inserted"),
  );
  const bytes = g.toBytes();
  const x = seededFloats(6, 41, 2);
  const feeds = (p: number) => ({
    x: { type: "float32" as const, dims: [2, 3], data: x },
    pos: { type: "int64" as const, dims: [], data: BigInt64Array.of(BigInt(p)) },
  });
  for (const p of [0, 2, -1]) await checkModel(`model sequence position ${p}`, bytes, feeds(p));
  const s = await InferenceSession.create(bytes);
  for (const p of [0, 2, -1, 1, 0]) {
    const at = s.runSync({
      x: new Tensor("float32", x, [2, 3]),
      pos: new Tensor("int64", BigInt64Array.of(BigInt(p)), []),
    }).at.data as Float32Array;
    const k = p < 0 ? p + 3 : p;
    const want = x.map((v) => (k === 0 ? v : k === 1 ? Math.max(v, 0) : -v));
    assert.deepEqual([...at], [...want], `position ${p}`);
  }
  await s.release();
});

Deno.test("model: opset 6's limited broadcasting (broadcast, axis), Gemm's C and PRelu's per-channel slope", async () => {
  // ONNX Runtime 1.30 has no opset-6 Add: checked against the definitions, in f64.
  const g = new GraphBuilder(6);
  g.input("x", "float32", [2, 3, 4]);
  const vals = (n: number, seed: number) => seededFloats(n, seed);
  const [c3, row4, m34, slope] = [vals(3, 1), vals(4, 2), vals(12, 3), vals(3, 4)];
  const [W, C] = [vals(60, 5), vals(5, 6)];
  g.output(g.op("Add", ["x", g.weight("c3", [3], c3)], { broadcast: 1, axis: 1 }, "per_channel"));
  g.output(g.op("Mul", ["x", g.weight("m34", [3, 4], m34)], { broadcast: 1, axis: 1 }, "block"));
  g.output(g.op("Sub", ["x", g.weight("row4", [4], row4)], { broadcast: 1 }, "suffix"));
  g.output(g.op("PRelu", ["x", g.weight("slope", [3], slope)], {}, "prelu"));
  const flat = g.op("Reshape", ["x", g.ints("to", [2, 12])]);
  g.output(
    g.op("Gemm", [flat, g.weight("W", [5, 12], W), g.weight("C", [5], C)], {
      broadcast: 1,
      transB: 1,
      alpha: f(0.5),
    }, "gemm"),
  );
  const x = seededFloats(24, 7, 2);
  const s = await InferenceSession.create(g.toBytes());
  for (const level of ["all", "disabled"] as const) {
    const sess = level === "all" ? s : await InferenceSession.create(g.toBytes(), {
      graphOptimizationLevel: "disabled",
    });
    const y = sess.runSync({ x: new Tensor("float32", x, [2, 3, 4]) });
    const at = (i: number) => [Math.floor(i / 12), Math.floor(i / 4) % 3, i % 4];
    const close = (name: string, want: (i: number) => number, n = 24) => {
      const got = y[name].data as Float32Array;
      for (let i = 0; i < n; i++) {
        assert.ok(
          Math.abs(got[i] - want(i)) <= 1e-5,
          `${level} ${name}[${i}] ${got[i]} vs ${want(i)}`,
        );
      }
    };
    close("per_channel", (i) => x[i] + c3[at(i)[1]]);
    close("block", (i) => x[i] * m34[at(i)[1] * 4 + at(i)[2]]);
    close("suffix", (i) => x[i] - row4[at(i)[2]]);
    close("prelu", (i) => (x[i] >= 0 ? x[i] : x[i] * slope[at(i)[1]]));
    close("gemm", (i) => {
      const r = Math.floor(i / 5), c = i % 5;
      let acc = 0;
      for (let k = 0; k < 12; k++) acc += x[r * 12 + k] * W[c * 12 + k];
      return 0.5 * acc + C[c];
    }, 10);
    if (sess !== s) await sess.release();
  }
  await s.release();
});

Deno.test("model: random ops draw new values every run, seeded sequences repeat, and their statistics hold", async () => {
  const build = () => {
    const g = new GraphBuilder(17);
    g.input("x", "float32", [200, 100]);
    g.output(
      g.op("RandomNormal", [], { shape: [400, 250], mean: f(2), scale: f(0.5), seed: f(3) }, "n"),
    );
    g.output(g.op("RandomUniformLike", ["x"], { low: f(-1), high: f(3), seed: f(4) }, "u"));
    const p = g.initializer("p", {
      type: "float32",
      dims: [3, 20000],
      data: [
        ...new Array(20000).fill(0),
        ...new Array(20000).fill(1),
        ...new Array(20000).fill(0.3),
      ],
    });
    g.output(g.op("Bernoulli", [p], { seed: f(5) }, "b"));
    const logits = g.initializer("l", {
      type: "float32",
      dims: [1, 3],
      data: [Math.log(0.1), Math.log(0.6), Math.log(0.3)],
    });
    g.output(
      g.op("Multinomial", [logits], { sample_size: 30000, dtype: 7, seed: f(6) }, "m"),
      "int64",
    );
    g.output(g.op("RandomUniform", [], { shape: [4], dtype: 11 }, "unseeded"), "float64");
    return g.toBytes();
  };
  const x = new Tensor("float32", new Float32Array(20000), [200, 100]);
  const s = await InferenceSession.create(build());
  const again = await InferenceSession.create(build());
  try {
    const r1 = s.runSync({ x }), r2 = await s.run({ x }), o1 = again.runSync({ x });
    const n = r1.n.data as Float32Array;
    assert.deepEqual(r1.n.dims, [400, 250]);
    const mean = n.reduce((a, v) => a + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((a, v) => a + (v - mean) ** 2, 0) / n.length);
    // 1e5 draws: mean within 6σ/√n = 0.0095 of 2, sd within 0.01 of 0.5.
    assert.ok(Math.abs(mean - 2) < 0.0095 && Math.abs(sd - 0.5) < 0.01, `${mean} ${sd}`);
    const u = r1.u.data as Float32Array;
    assert.ok(u.every((v) => v >= -1 && v < 3));
    const umean = u.reduce((a, v) => a + v, 0) / u.length;
    assert.ok(Math.abs(umean - 1) < 0.05, `${umean}`); // σ = 4/√12/√2e4 = 0.008
    const b = r1.b.data as Float32Array;
    assert.ok(b.subarray(0, 20000).every((v) => v === 0));
    assert.ok(b.subarray(20000, 40000).every((v) => v === 1));
    const ones = b.subarray(40000).reduce((a, v) => a + v, 0) / 20000;
    assert.ok(Math.abs(ones - 0.3) < 0.02, `${ones}`); // σ = 0.0032
    const m = r1.m.data as BigInt64Array, counts = [0, 0, 0];
    for (const v of m) counts[Number(v)]++;
    [0.1, 0.6, 0.3].forEach((p, i) =>
      assert.ok(Math.abs(counts[i] / 30000 - p) < 0.015, `${counts}`)
    );
    assert.equal(r1.unseeded.type, "float64");
    // Every run draws anew (not folded), async included; a seeded node repeats per session.
    for (const k of ["n", "u", "b", "m", "unseeded"]) {
      assert.notDeepEqual(
        Array.from(r1[k].data as ArrayLike<unknown>),
        Array.from(r2[k].data as ArrayLike<unknown>),
        k,
      );
    }
    for (const k of ["n", "u", "b", "m"]) {
      assert.deepEqual(
        Array.from(o1[k].data as ArrayLike<unknown>),
        Array.from(r1[k].data as ArrayLike<unknown>),
        k,
      );
    }
    assert.notDeepEqual([...o1.unseeded.data as Float64Array], [
      ...r1.unseeded.data as Float64Array,
    ]);
  } finally {
    await s.release();
    await again.release();
  }
});

Deno.test("model: BitShift of signed integers (opset 28): right shifts keep the sign, shifts by a negative amount or the width or more leave the sign's fill", async () => {
  // Checked against the definition in BigInt (ONNX Runtime 1.30 has no opset 28).
  const widths = { int8: 8, int16: 16, int32: 32, int64: 64 } as const;
  const g = new GraphBuilder(28);
  for (const t of Object.keys(widths)) {
    g.input(`x_${t}`, t as "int32", [12]);
    g.input(`s_${t}`, t as "int32", [12]);
    for (const d of ["LEFT", "RIGHT"]) {
      g.output(g.op("BitShift", [`x_${t}`, `s_${t}`], { direction: d }, `${d}_${t}`), t as "int32");
    }
  }
  const s = await InferenceSession.create(g.toBytes());
  const feeds: Record<string, Tensor> = {};
  const xs: Record<string, bigint[]> = {}, ss: Record<string, bigint[]> = {};
  for (const [t, bits] of Object.entries(widths)) {
    const min = -(1n << BigInt(bits - 1)), max = (1n << BigInt(bits - 1)) - 1n;
    xs[t] = [min, max, -1n, 1n, -5n, 5n, -100n, 77n, 0n, min + 3n, -2n, 3n];
    // Amounts: in range, negative, the width, past it.
    ss[t] = [
      1n,
      2n,
      3n,
      BigInt(bits - 1),
      -1n,
      BigInt(bits),
      BigInt(bits) + 1n,
      0n,
      4n,
      1n,
      -3n,
      2n,
    ]
      .map((v) => v < max ? v : max);
    const data = (v: bigint[]): Tensor => {
      const n = v.map(Number);
      return t === "int64"
        ? new Tensor("int64", BigInt64Array.from(v), [12])
        : t === "int32"
        ? new Tensor("int32", Int32Array.from(n), [12])
        : t === "int16"
        ? new Tensor("int16", Int16Array.from(n), [12])
        : new Tensor("int8", Int8Array.from(n), [12]);
    };
    feeds[`x_${t}`] = data(xs[t]);
    feeds[`s_${t}`] = data(ss[t]);
  }
  const y = s.runSync(feeds);
  for (const [t, bits] of Object.entries(widths)) {
    for (const d of ["LEFT", "RIGHT"]) {
      const got = Array.from(y[`${d}_${t}`].data as ArrayLike<number | bigint>, BigInt);
      const want = xs[t].map((x, i) => {
        const q = ss[t][i];
        if (q < 0n || q >= BigInt(bits)) return d === "RIGHT" && x < 0n ? -1n : 0n;
        return d === "LEFT" ? BigInt.asIntN(bits, x << q) : x >> q;
      });
      assert.deepEqual(got, want, `${d} ${t}: ${xs[t]} by ${ss[t]}`);
    }
  }
  await s.release();
});

Deno.test("model: float64 tensors through unary ops (a fused chain too), Clip, CumSum, CumProd and reductions, in f64, alike with and without optimization", async () => {
  // Checked against the definitions in f64 (relative 1e-14): no kernel computes doubles, so
  // these run as TypeScript loops, their values never rounded to float32.
  const g = new GraphBuilder(26);
  g.input("d", "float64", [3, 5]);
  g.output(g.op("Exp", ["d"], {}, "exp"), "float64");
  g.output(g.op("Log", [g.op("Abs", ["d"])], {}, "log"), "float64");
  // Sigmoid → Tanh → Erf: a run of unary nodes the chain fusion takes whatever their type.
  g.output(g.op("Erf", [g.op("Tanh", [g.op("Sigmoid", ["d"])])], {}, "chain"), "float64");
  const axis = g.ints("axis", [1], []);
  g.output(g.op("CumSum", ["d", axis], { reverse: 1 }, "cumsum"), "float64");
  g.output(g.op("CumProd", ["d", axis], { exclusive: 1 }, "cumprod"), "float64");
  const ax = g.ints("axes", [1]);
  g.output(g.op("ReduceLogSumExp", ["d", ax], { keepdims: 0 }, "lse"), "float64");
  g.output(g.op("ReduceSum", ["d"], { keepdims: 0 }, "sum"), "float64");
  g.output(g.op("ReduceMax", ["d", ax], {}, "max"), "float64");
  const lo = g.initializer("lo", { type: "float64", dims: [], data: [-1.25] });
  g.output(g.op("Clip", ["d", lo], {}, "clip"), "float64");
  const d = Float64Array.from({ length: 15 }, (_, i) => Math.sin(i * 1.7 + 0.25) * 3 + 1e-9 * i);
  const erf = (x: number) => {
    // Abramowitz-Stegun 7.1.26 is too coarse: the series to convergence (|x| < 1 here).
    let sum = 0, term = x;
    for (let n = 0; n < 60; n++) {
      sum += term / (2 * n + 1);
      term *= -x * x / (n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  };
  const rows = (f: (row: number[]) => number[]) =>
    [0, 1, 2].flatMap((r) => f(Array.from(d.subarray(5 * r, 5 * r + 5))));
  const want: Record<string, number[]> = {
    exp: Array.from(d, Math.exp),
    log: Array.from(d, (x) => Math.log(Math.abs(x))),
    chain: Array.from(d, (x) => erf(Math.tanh(1 / (1 + Math.exp(-x))))),
    cumsum: rows((v) => v.map((_, i) => v.slice(i).reduce((a, b) => a + b, 0))),
    cumprod: rows((v) => v.map((_, i) => v.slice(0, i).reduce((a, b) => a * b, 1))),
    lse: [0, 1, 2].map((r) => {
      const v = Array.from(d.subarray(5 * r, 5 * r + 5));
      return Math.log(v.reduce((a, b) => a + Math.exp(b), 0));
    }),
    sum: [d.reduce((a, b) => a + b, 0)],
    max: [0, 1, 2].map((r) => Math.max(...d.subarray(5 * r, 5 * r + 5))),
    clip: Array.from(d, (x) => Math.max(x, -1.25)),
  };
  const outs: Record<string, Float64Array>[] = [];
  for (const level of ["all", "disabled"] as const) {
    const s = await InferenceSession.create(g.toBytes(), { graphOptimizationLevel: level });
    // Optimized, the three unary nodes are one chain node on doubles.
    assert.equal(s.nodeOps["njit.ElementwiseChain"] ?? 0, level === "all" ? 1 : 0, level);
    const y = s.runSync({ d: new Tensor("float64", d, [3, 5]) });
    const got: Record<string, Float64Array> = {};
    for (const [name, w] of Object.entries(want)) {
      assert.equal(y[name].type, "float64", name);
      const v = y[name].data as Float64Array;
      assert.ok(v instanceof Float64Array, name);
      assert.equal(v.length, w.length, name);
      for (let i = 0; i < w.length; i++) {
        assert.ok(
          Math.abs(v[i] - w[i]) <= 1e-14 * Math.max(1, Math.abs(w[i])),
          `${level} ${name}[${i}] ${v[i]} vs ${w[i]}`,
        );
      }
      got[name] = v;
    }
    outs.push(got);
    await s.release();
  }
  assert.deepEqual(outs[0], outs[1]);
});

Deno.test("model: int64 arithmetic, comparisons and reductions are exact at 64 bits (INT64_MAX, values past 2^53), wrapping as stored", async () => {
  // Doubles hold 53 bits: through them Max(x, INT64_MAX), a shape computation's "to the end",
  // came back as INT64_MIN. Checked against BigInt.
  const MAX = 2n ** 63n - 1n, MIN = -(2n ** 63n);
  const g = new GraphBuilder(18);
  g.input("x", "int64", [2, 3]);
  g.input("z", "int64", [3]);
  const big = g.initializer("big", { type: "int64", dims: [1], data: [MAX] } as never);
  for (const op of ["Add", "Sub", "Mul", "Div", "Max", "Min", "Mod"]) {
    g.output(g.op(op, ["x", "z"], {}, op.toLowerCase()), "int64");
  }
  g.output(g.op("Mod", ["x", "z"], { fmod: 1 }, "fmod"), "int64");
  g.output(g.op("Max", ["x", big], {}, "to_end"), "int64");
  g.output(g.op("Sub", [big, "x"], {}, "from_end"), "int64");
  for (const op of ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]) {
    g.output(g.op(op, ["x", "z"], {}, op.toLowerCase()), "bool");
  }
  const axis = g.ints("axis", [1]);
  for (const op of ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"]) {
    g.output(g.op(op, ["x", axis], { keepdims: 0 }, op.toLowerCase()), "int64");
  }
  const x = [2n ** 60n + 1n, -7n, MAX, 2n ** 53n + 1n, MIN, 0n];
  const z = [2n ** 53n + 1n, 3n, 0n]; // a divisor of 0: 0 (ONNX leaves it undefined)
  const wrap = (v: bigint) => BigInt.asIntN(64, v);
  const at = (i: number) => [x[i], z[i % 3]] as const;
  const each = (f: (a: bigint, b: bigint) => bigint) => x.map((_, i) => wrap(f(...at(i))));
  const floored = (a: bigint, b: bigint) => {
    if (b === 0n) return 0n;
    const r = a % b;
    return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
  };
  const want: Record<string, bigint[] | number[]> = {
    add: each((a, b) => a + b),
    sub: each((a, b) => a - b),
    mul: each((a, b) => a * b),
    div: each((a, b) => (b === 0n ? 0n : a / b)),
    max: each((a, b) => (a > b ? a : b)),
    min: each((a, b) => (a < b ? a : b)),
    mod: each(floored),
    fmod: each((a, b) => (b === 0n ? 0n : a % b)),
    to_end: x.map(() => MAX),
    from_end: x.map((a) => wrap(MAX - a)),
    equal: x.map((_, i) => (at(i)[0] === at(i)[1] ? 1 : 0)),
    less: x.map((_, i) => (at(i)[0] < at(i)[1] ? 1 : 0)),
    greater: x.map((_, i) => (at(i)[0] > at(i)[1] ? 1 : 0)),
    lessorequal: x.map((_, i) => (at(i)[0] <= at(i)[1] ? 1 : 0)),
    greaterorequal: x.map((_, i) => (at(i)[0] >= at(i)[1] ? 1 : 0)),
    reducesum: [0, 3].map((r) => wrap(x[r] + x[r + 1] + x[r + 2])),
    reducemax: [0, 3].map((r) => x.slice(r, r + 3).reduce((a, b) => (a > b ? a : b))),
    reducemin: [0, 3].map((r) => x.slice(r, r + 3).reduce((a, b) => (a < b ? a : b))),
    reduceprod: [0, 3].map((r) => wrap(x[r] * x[r + 1] * x[r + 2])),
  };
  for (const level of ["all", "disabled"] as const) {
    const s = await InferenceSession.create(g.toBytes(), { graphOptimizationLevel: level });
    const y = s.runSync({
      x: new Tensor("int64", BigInt64Array.from(x), [2, 3]),
      z: new Tensor("int64", BigInt64Array.from(z), [3]),
    });
    for (const [name, w] of Object.entries(want)) {
      const got = Array.from(y[name].data as ArrayLike<bigint | number>);
      assert.deepEqual(got, w, `${level} ${name}`);
    }
    await s.release();
  }
});

Deno.test("model: int32 products wrap at 32 bits as exactly as stored (past 2^53 a double loses the low bits)", async () => {
  const g = new GraphBuilder(18);
  g.input("a", "int32", [4]);
  g.input("b", "int32", [4]);
  g.output(g.op("Mul", ["a", "b"], {}, "mul"), "int32");
  const a = [2 ** 31 - 1, -(2 ** 31), 123456789, -7], b = [2 ** 31 - 1, -1, 987654321, 6];
  const s = await InferenceSession.create(g.toBytes());
  const y = s.runSync({
    a: new Tensor("int32", Int32Array.from(a), [4]),
    b: new Tensor("int32", Int32Array.from(b), [4]),
  });
  const want = a.map((v, i) => Number(BigInt.asIntN(32, BigInt(v) * BigInt(b[i]))));
  assert.deepEqual(Array.from(y.mul.data as Int32Array), want);
  await s.release();
});

Deno.test("model: uint16, uint32 and uint64 tensors: arithmetic wrapping as stored, uint64 exact past 2^53, logical shifts, casts, TopK, initializers in raw and typed fields", async () => {
  // Checked against BigInt at each type's width: uint32's top bit is no sign (a right shift
  // is logical, a product keeps its low 32 bits), uint64 sums and products wrap at 2^64.
  const widths = { uint16: 16, uint32: 32, uint64: 64 } as const;
  for (const [type, bits] of Object.entries(widths) as [keyof typeof widths, number][]) {
    const big = type === "uint64";
    const top = (1n << BigInt(bits)) - 1n;
    const x = [top, 1n << BigInt(bits - 1), 12345n, 0n, 7n, top - 2n];
    const z = [3n, 2n, 0n]; // a divisor of 0: 0 (ONNX leaves it undefined)
    const fields = [false, true].map((typedFields) => ({
      type,
      dims: [3],
      data: big ? z : z.map(Number),
      typedFields,
    }));
    for (const zInit of fields) {
      const g = new GraphBuilder(18);
      g.input("x", type, [2, 3]);
      const zName = g.initializer("z", zInit as never);
      for (const op of ["Add", "Sub", "Mul", "Div", "Max", "Min", "Mod"]) {
        g.output(g.op(op, ["x", zName], {}, op.toLowerCase()), type);
      }
      for (const op of ["Equal", "Less", "Greater"]) {
        g.output(g.op(op, ["x", zName], {}, op.toLowerCase()), "bool");
      }
      for (const d of ["LEFT", "RIGHT"]) {
        g.output(g.op("BitShift", ["x", zName], { direction: d }, d.toLowerCase()), type);
      }
      g.output(g.op("BitwiseNot", ["x"], {}, "not"), type);
      g.output(g.op("Cast", ["x"], { to: 1 }, "float"), "float32");
      g.output(g.op("Cast", ["x"], { to: 7 }, "int64"), "int64");
      const k = g.ints("k", [2]);
      const [vals] = g.node("TopK", ["x", k], 2, { axis: 1 });
      g.output(vals, type);
      const wrap = (v: bigint) => BigInt.asUintN(bits, v);
      const at = (i: number) => [x[i], z[i % 3]] as const;
      const each = (f: (a: bigint, b: bigint) => bigint) => x.map((_, i) => wrap(f(...at(i))));
      const values = (v: bigint[]) => (big ? v : v.map(Number));
      const flag = (f: (a: bigint, b: bigint) => boolean) => x.map((_, i) => (f(...at(i)) ? 1 : 0));
      const want: Record<string, (number | bigint)[]> = {
        add: values(each((a, b) => a + b)),
        sub: values(each((a, b) => a - b)),
        mul: values(each((a, b) => a * b)),
        div: values(each((a, b) => (b === 0n ? 0n : a / b))),
        max: values(each((a, b) => (a > b ? a : b))),
        min: values(each((a, b) => (a < b ? a : b))),
        mod: values(each((a, b) => (b === 0n ? 0n : a % b))),
        equal: flag((a, b) => a === b),
        less: flag((a, b) => a < b),
        greater: flag((a, b) => a > b),
        left: values(each((a, b) => a << b)),
        right: values(each((a, b) => a >> b)),
        not: values(x.map((a) => wrap(~a))),
        float: x.map((a) => Math.fround(Number(a))),
        int64: x.map((a) => BigInt.asIntN(64, a)),
        [vals]: values(
          [0, 3].flatMap((r) =>
            x.slice(r, r + 3).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)).slice(0, 2)
          ),
        ),
      };
      const s = await InferenceSession.create(g.toBytes());
      assert.equal(s.inputMetadata[0].type, type);
      const data = big
        ? BigUint64Array.from(x)
        : type === "uint32"
        ? Uint32Array.from(x.map(Number))
        : Uint16Array.from(x.map(Number));
      const y = s.runSync({ x: new Tensor(data, [2, 3]) });
      for (const [name, w] of Object.entries(want)) {
        const got = Array.from(y[name].data as ArrayLike<bigint | number>);
        assert.deepEqual(
          got,
          w,
          `${type} ${name} (z in ${zInit.typedFields ? "typed fields" : "raw_data"})`,
        );
      }
      assert.equal(y.add.type, type);
      await s.release();
    }
  }
});

Deno.test("Tensor: uint16, uint32 and uint64 by name and by array; a float16 tensor still takes a Uint16Array of bits", () => {
  assert.equal(new Tensor(new Uint16Array(2)).type, "uint16");
  assert.equal(new Tensor(new Uint32Array(2)).type, "uint32");
  assert.equal(new Tensor(new BigUint64Array(2)).type, "uint64");
  assert.deepEqual(Array.from(new Tensor("uint64", [1, 2 ** 40]).data as BigUint64Array), [
    1n,
    2n ** 40n,
  ]);
  assert.equal(new Tensor("uint32", [4294967295]).data[0], 4294967295);
  assert.throws(() => new Tensor("uint32", new Int32Array(1)), TypeError);
  const half = new Tensor("float16", Uint16Array.of(0x3c00), [1]);
  assert.equal(half.type, "float16");
  assert.equal((half.data as Float16Array)[0], 1);
});

Deno.test("model: QuantizeLinear of 8 and 16 bits (zero points, output_dtype) and DequantizeLinear back: saturating, ties to even, a NaN to the type's least value as onnxruntime gives it", async () => {
  // ONNX Runtime 1.30 quantizes a NaN to the type's least value (int8 −128, int16 −32768,
  // unsigned 0: its conversion's 0x80000000, then the clamp), checked live when installed.
  const x = [0, 0.25, 0.75, -1.25, 40000, -40000, 123.5, NaN, Infinity, -Infinity];
  const ort = await loadOrt();
  const cases = [
    ["uint8", 2, 100, 0, 255],
    ["int8", 3, -3, -128, 127],
    ["uint16", 4, 1000, 0, 65535],
    ["int16", 5, -3, -32768, 32767],
  ] as const;
  for (const [type, onnx, zp, lo, hi] of cases) {
    const g = new GraphBuilder(21);
    g.input("x", "float32", [x.length]);
    const scale = g.initializer("scale", { type: "float32", dims: [], data: [0.5] });
    const z = g.initializer("zp", { type, dims: [], data: [zp] });
    const q = g.op("QuantizeLinear", ["x", scale, z], {}, "q");
    g.output(q, type);
    g.output(g.op("DequantizeLinear", [q, scale, z], {}, "back"), "float32");
    // Without a zero point: output_dtype names the type.
    g.output(g.op("QuantizeLinear", ["x", scale], { output_dtype: onnx }, "bare"), type);
    const even = (v: number) => {
      const r = Math.round(v);
      return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
    };
    const quant = (v: number, at: number) =>
      Number.isNaN(v) ? lo : Math.min(hi, Math.max(lo, even(v / 0.5) + at));
    const want = { q: x.map((v) => quant(v, zp)), bare: x.map((v) => quant(v, 0)) };
    const feeds = { x: new Tensor("float32", Float32Array.from(x), [x.length]) };
    // Both paths: the native 8-bit pass (one scale, y aligned) and the TS loop (16 bits).
    const s = await InferenceSession.create(g.toBytes());
    const y = s.runSync(feeds);
    assert.deepEqual(Array.from(y.q.data as ArrayLike<number>), want.q, type);
    assert.equal(y.q.type, type);
    assert.deepEqual(Array.from(y.back.data as Float32Array), want.q.map((v) => (v - zp) * 0.5));
    assert.deepEqual(Array.from(y.bare.data as ArrayLike<number>), want.bare, `${type} bare`);
    await s.release();
    if (ort !== null) {
      const o = await ort.InferenceSession.create(g.toBytes());
      const r = await o.run({ x: new ort.Tensor("float32", Float32Array.from(x), [x.length]) });
      for (const name of ["q", "bare"]) {
        assert.deepEqual(
          Array.from(r[name].data as ArrayLike<number>),
          want[name as "q"],
          `${type} ${name} against onnxruntime`,
        );
      }
      await o.release();
    }
  }
});

Deno.test("model: ConvInteger with its weights and zero point fed as inputs (packed on each run) gives what the same weights as initializers give", async () => {
  const xShape = [1, 4, 7, 6], wShape = [6, 2, 3, 3], group = 2;
  const attrs = { group, pads: [1, 0, 1, 2], strides: [1, 2] };
  const x = Uint8Array.from({ length: 168 }, (_, i) => (i * 29 + 3) % 256);
  const weights = (seed: number) =>
    Uint8Array.from({ length: 108 }, (_, i) => (i * seed + 11) % 256);
  const made = (w: Uint8Array | null, wz: number | null) => {
    const g = new GraphBuilder(11);
    g.input("x", "uint8", xShape);
    const W = w ? g.initializer("W", { type: "uint8", dims: wShape, data: Array.from(w) }) : "W";
    if (!w) g.input("W", "uint8", wShape);
    const Z = wz !== null ? g.initializer("wz", { type: "uint8", dims: [], data: [wz] }) : "wz";
    if (wz === null) g.input("wz", "uint8", []);
    const xz = g.initializer("xz", { type: "uint8", dims: [], data: [7] });
    g.output(g.op("ConvInteger", ["x", W, xz, Z], attrs, "y"), "int32");
    return InferenceSession.create(g.toBytes());
  };
  const fed = await made(null, null);
  for (const [seed, wz] of [[37, 131], [53, 0], [71, 200]]) {
    const w = weights(seed);
    const fixed = await made(w, wz);
    const want = fixed.runSync({ x: new Tensor("uint8", x, xShape) }).y.data as Int32Array;
    const got = fed.runSync({
      x: new Tensor("uint8", x, xShape),
      W: new Tensor("uint8", w, wShape),
      wz: new Tensor("uint8", Uint8Array.of(wz), []),
    }).y.data as Int32Array;
    assert.deepEqual(Array.from(got), Array.from(want), `weights seed ${seed}, zero point ${wz}`);
    await fixed.release();
  }
  await fed.release();
});

Deno.test("model: GridSample of a volume (5-D, trilinear and nearest, every padding mode) against onnxruntime, and a one-plane volume as the 2-D sampling", async () => {
  const ort = await loadOrt();
  const x = seededFloats(2 * 3 * 4 * 5 * 6, 4242, 2);
  // Grid points past [−1, 1] too: the padding modes' neighbours outside the volume.
  const grid = seededFloats(2 * 3 * 2 * 4 * 3, 4243, 1.3);
  for (const mode of ["linear", "nearest"]) {
    for (const padding_mode of ["zeros", "border", "reflection"]) {
      for (const align_corners of [0, 1]) {
        const g = new GraphBuilder(20);
        g.input("x", "float32", [2, 3, 4, 5, 6]);
        g.input("grid", "float32", [2, 3, 2, 4, 3]);
        g.output(g.op("GridSample", ["x", "grid"], { mode, padding_mode, align_corners }, "y"));
        const feeds = {
          x: new Tensor("float32", x, [2, 3, 4, 5, 6]),
          grid: new Tensor("float32", grid, [2, 3, 2, 4, 3]),
        };
        const s = await InferenceSession.create(g.toBytes());
        const y = s.runSync(feeds).y;
        assert.deepEqual(y.dims, [2, 3, 3, 2, 4]);
        await s.release();
        const at = `${mode} ${padding_mode} align ${align_corners}`;
        if (ort !== null) {
          const o = await ort.InferenceSession.create(g.toBytes());
          const want = (await o.run({
            x: new ort.Tensor("float32", x, [2, 3, 4, 5, 6]),
            grid: new ort.Tensor("float32", grid, [2, 3, 2, 4, 3]),
          })).y.data as Float32Array;
          (y.data as Float32Array).forEach((v, i) =>
            assert.ok(
              Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])),
              `${at} [${i}] ${v} ${want[i]}`,
            )
          );
          await o.release();
        }
        if (padding_mode === "reflection" || !align_corners) continue;
        // One plane, z = 0 on it: the 2-D sampling of that plane with the grid's (x, y).
        const g2 = new GraphBuilder(20), g3 = new GraphBuilder(20);
        g3.input("x", "float32", [2, 3, 1, 5, 6]);
        g3.input("grid", "float32", [2, 1, 2, 4, 3]);
        g3.output(g3.op("GridSample", ["x", "grid"], { mode, padding_mode, align_corners }, "y"));
        g2.input("x", "float32", [2, 3, 5, 6]);
        g2.input("grid", "float32", [2, 2, 4, 2]);
        g2.output(g2.op("GridSample", ["x", "grid"], { mode, padding_mode, align_corners }, "y"));
        const plane = x.slice(0, 2 * 3 * 5 * 6);
        const xy = Float32Array.from(
          { length: 2 * 2 * 4 * 2 },
          (_, i) => grid[Math.floor(i / 2) * 3 + (i % 2)],
        );
        const xyz = Float32Array.from(
          { length: 2 * 2 * 4 * 3 },
          (_, i) => (i % 3 === 2 ? 0 : xy[Math.floor(i / 3) * 2 + (i % 3)]),
        );
        const s3 = await InferenceSession.create(g3.toBytes()),
          s2 = await InferenceSession.create(g2.toBytes());
        const v3 = s3.runSync({
          x: new Tensor("float32", plane, [2, 3, 1, 5, 6]),
          grid: new Tensor("float32", xyz, [2, 1, 2, 4, 3]),
        }).y;
        const v2 = s2.runSync({
          x: new Tensor("float32", plane, [2, 3, 5, 6]),
          grid: new Tensor("float32", xy, [2, 2, 4, 2]),
        }).y;
        assert.deepEqual(
          Array.from(v3.data as Float32Array),
          Array.from(v2.data as Float32Array),
          at,
        );
        await s3.release();
        await s2.release();
      }
    }
  }
});

Deno.test("model: BatchNormalization in training_mode (a model exported in training mode): the batch's statistics, the running mean and variance out, against an f64 reference and onnxruntime", async () => {
  const ort = await loadOrt();
  const dims = [3, 4, 5, 6], c = 4, plane = 30, count = 90;
  const x = seededFloats(360, 515, 3);
  const scale = seededFloats(4, 516, 2), bias = seededFloats(4, 517);
  const mean = seededFloats(4, 518), variance = seededFloats(4, 519).map((v) => v + 1.5);
  const g = new GraphBuilder(15);
  g.input("x", "float32", dims);
  const init = (name: string, data: Float32Array) =>
    g.initializer(name, { type: "float32", dims: [4], data: Array.from(data) });
  const ins = [init("s", scale), init("b", bias), init("m", mean), init("v", variance)];
  const [y, rm, rv] = g.node("BatchNormalization", ["x", ...ins], 3, {
    training_mode: 1,
    momentum: { f: 0.8 },
    epsilon: { f: 1e-3 },
  });
  g.output(y);
  g.output(rm);
  g.output(rv);
  const s = await InferenceSession.create(g.toBytes());
  const got = s.runSync({ x: new Tensor("float32", x, dims) });
  const [gy, gm, gv] = [y, rm, rv].map((name) => got[name].data as Float32Array);
  for (let ch = 0; ch < c; ch++) {
    const at = (b: number, i: number) => x[(b * c + ch) * plane + i];
    let sum = 0, sq = 0;
    for (let b = 0; b < 3; b++) for (let i = 0; i < plane; i++) sum += at(b, i);
    const m = sum / count;
    for (let b = 0; b < 3; b++) for (let i = 0; i < plane; i++) sq += (at(b, i) - m) ** 2;
    const v = sq / count;
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) <= 2e-6 * Math.max(1, Math.abs(b)), `${what} ${a} ${b}`);
    close(gm[ch], mean[ch] * 0.8 + m * 0.2, `running mean ${ch}`);
    close(gv[ch], variance[ch] * 0.8 + v * 0.2, `running variance ${ch}`);
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < plane; i++) {
        const want = ((at(b, i) - m) / Math.sqrt(v + 1e-3)) * scale[ch] + bias[ch];
        close(gy[(b * c + ch) * plane + i], want, `y ${ch} ${b} ${i}`);
      }
    }
  }
  await s.release();
  if (ort !== null) {
    const o = await ort.InferenceSession.create(g.toBytes());
    const want = await o.run({ x: new ort.Tensor("float32", x, dims) });
    for (const name of [y, rm, rv]) {
      const w = want[name].data as Float32Array, v = got[name].data as Float32Array;
      v.forEach((e, i) =>
        assert.ok(
          Math.abs(e - w[i]) <= 1e-5 * Math.max(1, Math.abs(w[i])),
          `${name} [${i}] against onnxruntime`,
        )
      );
    }
    await o.release();
  }
});

Deno.test("model: ConvTranspose with an output_shape past the full output: the full output, then rows of the bias at the end (as onnxruntime gives them); growth at the start refused", async () => {
  const ort = await loadOrt();
  const x = seededFloats(2 * 3 * 3 * 4, 77), w = seededFloats(3 * 2 * 3 * 3, 78);
  const b = Float32Array.of(0.5, -0.25);
  const make = (attrs: Record<string, number[] | string>) => {
    const g = new GraphBuilder(17);
    g.input("x", "float32", [2, 3, 3, 4]);
    const W = g.initializer("W", { type: "float32", dims: [3, 2, 3, 3], data: Array.from(w) });
    const B = g.initializer("B", { type: "float32", dims: [2], data: Array.from(b) });
    g.output(g.op("ConvTranspose", ["x", W, B], { strides: [3, 2], ...attrs }, "y"));
    return g.toBytes();
  };
  const feeds = { x: new Tensor("float32", x, [2, 3, 3, 4]) };
  // Full: 3·2 + 3 = 9 rows, 2·3 + 3 = 9 columns; asked 10 × 10.
  const full = await InferenceSession.create(make({}));
  const fy = full.runSync(feeds).y;
  assert.deepEqual(fy.dims, [2, 2, 9, 9]);
  const grown = await InferenceSession.create(make({ output_shape: [10, 10] }));
  const gy = grown.runSync(feeds).y;
  assert.deepEqual(gy.dims, [2, 2, 10, 10]);
  const fd = fy.data as Float32Array, gd = gy.data as Float32Array;
  for (let p = 0; p < 4; p++) {
    for (let r = 0; r < 10; r++) {
      for (let c = 0; c < 10; c++) {
        const want = r < 9 && c < 9 ? fd[(p * 9 + r) * 9 + c] : b[p % 2];
        assert.equal(gd[(p * 10 + r) * 10 + c], want, `plane ${p} (${r}, ${c})`);
      }
    }
  }
  if (ort !== null) {
    const o = await ort.InferenceSession.create(make({ output_shape: [10, 10] }));
    const want = (await o.run({ x: new ort.Tensor("float32", x, [2, 3, 3, 4]) })).y
      .data as Float32Array;
    gd.forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `[${i}]`)
    );
    await o.release();
  }
  // (Refused when the plan is made: at the first run.)
  const upper = await InferenceSession.create(
    make({ output_shape: [10, 10], auto_pad: "SAME_UPPER" }),
  );
  assert.throws(() => upper.runSync(feeds), /grows the full output 9 at the start/);
  await upper.release();
  await full.release();
  await grown.release();
});

Deno.test("model: Dropout with training_mode fed: the identity (mask all true) at ratio 0 or training off, a named refusal when it would drop at random", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [2, 3]);
  g.input("r", "float32", []);
  g.input("t", "bool", []);
  const [y, mask] = g.node("Dropout", ["x", "r", "t"], ["y", "mask"], { seed: 0 });
  g.output(y);
  g.output(mask, "bool");
  const s = await InferenceSession.create(g.toBytes());
  const x = new Tensor("float32", Float32Array.of(1, -2, 3, -4, 5, -6), [2, 3]);
  const feeds = (r: number, t: boolean) => ({
    x,
    r: new Tensor("float32", Float32Array.of(r), []),
    t: new Tensor("bool", Uint8Array.of(t ? 1 : 0), []),
  });
  for (const [r, t] of [[0, true], [0.5, false], [0, false]] as const) {
    const out = s.runSync(feeds(r, t));
    assert.deepEqual(Array.from(out.y.data as Float32Array), Array.from(x.data as Float32Array));
    assert.deepEqual(Array.from(out.mask.data as Uint8Array), [1, 1, 1, 1, 1, 1]);
  }
  assert.throws(() => s.runSync(feeds(0.5, true)), /drops at random \(ratio 0\.5\): not supported/);
  // And the session still runs after the refusal.
  assert.deepEqual(Array.from(s.runSync(feeds(0, true)).y.data as Float32Array), [
    1,
    -2,
    3,
    -4,
    5,
    -6,
  ]);
  await s.release();
});
