/**
 * float16 models: half initializers (raw_data and int32_data), Casts to and
 * from float16 and half values inside, computed in float32 as ONNX
 * Runtime's CPU provider computes them (its outputs, for float32 edges, are
 * the oracle: bit-equal here); float16 inputs and outputs through the API
 * (Float16Array, or a Uint16Array of bits, as ONNX Runtime takes them).
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { checkModel, reference } from "./helpers/golden.ts";

/** A model: float32 x → Cast to half → `build` → outputs cast back to float32. */
function halfModel(build: (g: GraphBuilder, x: string, half: HalfConst) => Record<string, string>) {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [3, 16]);
  const half: HalfConst = (name, dims, seed, typedFields = false) =>
    g.initializer(name, {
      type: "float16",
      dims,
      data: Array.from(seededFloats(dims.reduce((a, b) => a * b, 1), seed, 0.5)),
      typedFields,
    });
  const outs = build(g, g.op("Cast", ["x"], { to: 10 }), half);
  for (const [name, v] of Object.entries(outs)) g.output(g.op("Cast", [v], { to: 1 }, name));
  return g.toBytes();
}
type HalfConst = (name: string, dims: number[], seed: number, typedFields?: boolean) => string;
const X = { type: "float32" as const, dims: [3, 16], data: seededFloats(48, 65, 2) };

Deno.test("float16 inside, float32 at the edges: where onnxruntime rounds to half, bit for bit", async () => {
  // Only correctly rounded float32 ops (Mul, Add, Div, Clip, Max, Relu, Floor, data movers),
  // so any difference is a rounding to half placed or missed.
  const bytes = halfModel((g, x, half) => {
    const y = g.op("Add", [g.op("Mul", [x, half("w", [16], 61)]), half("b", [16], 62, true)]);
    // Movers read halves: the float32 product is rounded before the Transpose and Reshape.
    const t = g.op("Transpose", [g.op("Mul", [y, half("k1", [], 63)])], { perm: [1, 0] });
    const r = g.op("Reshape", [t, g.ints("to", [4, 12])]);
    // Clip, Max and Floor compute on halves; Relu and Div do not.
    const cl = g.op("Clip", [g.op("Div", [y, half("d", [], 66)])]);
    const mx = g.op("Max", [cl, g.op("Relu", [y])]);
    const c = g.op("ConstantOfShape", [g.ints("shape", [3, 16])], {
      value: { tensor: { type: "float16", dims: [1], data: [0.1] } },
    });
    // A Clip read by two float32 kernels runs in float32 in onnxruntime: no rounding.
    const c2 = g.op("Clip", [g.op("Mul", [y, half("k4", [], 68)])]);
    return {
      moved: g.op("Mul", [r, half("k2", [], 64)]),
      computed: g.op("Floor", [g.op("Mul", [mx, half("k3", [], 67)])]),
      scaled: g.op("Mul", [c, y]),
      shared: g.op("Add", [g.op("Mul", [c2, half("k5", [], 69)]), c2]),
    };
  });
  const want = await reference("half inside, float32 edges, exact ops", bytes, { x: X });
  for (const level of ["disabled", "all"] as const) {
    const s = await InferenceSession.create(bytes, { graphOptimizationLevel: level });
    try {
      const got = s.runSync({ x: new Tensor("float32", X.data, X.dims) });
      for (const [k, w] of Object.entries(want)) {
        const a = got[k].data as Float32Array, e = w.data as Float32Array;
        assert.deepEqual([...got[k].dims], w.dims, `${level} ${k} dims`);
        for (let i = 0; i < e.length; i++) {
          if (!Object.is(a[i], e[i])) {
            assert.fail(`${level} ${k}[${i}]: ${a[i]} vs onnxruntime's ${e[i]}`);
          }
        }
      }
    } finally {
      await s.release();
    }
  }
});

Deno.test("float16 inside, float32 at the edges: a MatMul, LayerNormalization, Softmax block", async () => {
  const bytes = halfModel((g, x, half) => {
    const y = g.op("Add", [g.op("MatMul", [x, half("W", [16, 8], 71)]), half("b", [8], 72)]);
    const n = g.op("LayerNormalization", [
      g.op("Tanh", [y]),
      half("s", [8], 73),
      half("o", [8], 74),
    ], {
      axis: -1,
    });
    const t = g.op("Transpose", [g.op("Exp", [y])], { perm: [1, 0] });
    return { ln: n, moved: g.op("Softmax", [g.op("Sigmoid", [t])], { axis: 1 }) };
  });
  await checkModel("half inside, float32 edges, float ops", bytes, { x: X });
  // LayerNormalization writes halves (as onnxruntime's kernel does).
  const s = await InferenceSession.create(bytes);
  try {
    const ln = s.runSync({ x: new Tensor("float32", X.data, X.dims) }).ln.data as Float32Array;
    assert.ok(
      ln.every((v) => Object.is(Math.f16round(v), v)),
      "LayerNormalization wrote non-halves",
    );
  } finally {
    await s.release();
  }
});

Deno.test("float16 inputs and outputs: Float16Array or Uint16Array bits in, halves rounded out", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float16", [4]);
  const k = g.initializer("k", { type: "float16", dims: [4], data: [1, 2, 3, 4] });
  g.output(g.op("Mul", ["x", k], {}, "y"), "float16");
  g.output(g.op("Cast", [g.op("Mul", ["x", k])], { to: 1 }, "f"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const xs = Float16Array.from([1.5, 0.1, 1000, 30000]);
    const want = [1.5, Math.f16round(Math.f16round(0.1) * 2), 3000, Infinity];
    for (const data of [xs, new Uint16Array(xs.buffer)]) {
      const out = s.runSync({ x: new Tensor("float16", data, [4]) });
      assert.equal(out.y.type, "float16");
      assert.ok(out.y.data instanceof Float16Array);
      assert.deepEqual([...out.y.data as Float16Array], want);
      // The float32 output keeps the product unrounded (120000, not the half's Infinity).
      assert.deepEqual([...out.f.data as Float32Array], [
        1.5,
        Math.fround(xs[1] * 2),
        3000,
        120000,
      ]);
    }
    // Into a given float16 tensor; a float32 one is refused naming the output's type.
    const into = new Tensor("float16", new Float16Array(4), [4]);
    await s.run({ x: new Tensor("float16", xs, [4]) }, { y: into });
    assert.deepEqual([...into.data as Float16Array], want);
    assert.throws(
      () =>
        s.runSync({ x: new Tensor("float16", xs, [4]) }, { y: new Tensor(new Float32Array(4)) }),
      /fetches\['y'\] is float32, the output is float16/,
    );
    assert.throws(
      () => s.runSync({ x: new Tensor("float32", new Float32Array(4), [4]) }),
      (e: Error) =>
        e instanceof TypeError && /input 'x' is float32, expected float16/.test(e.message),
    );
  } finally {
    await s.release();
  }
});

Deno.test("Tensor: float16 from numbers, a Float16Array or a Uint16Array of bits", () => {
  const a = new Tensor("float16", [1, 0.1, 65504], [3]);
  assert.ok(a.data instanceof Float16Array);
  assert.deepEqual([...a.data as Float16Array], [1, Math.f16round(0.1), 65504]);
  const b = new Tensor(Float16Array.of(2, 3));
  assert.equal(b.type, "float16");
  const bits = new Uint16Array(Float16Array.of(-2.5).buffer);
  const c = new Tensor("float16", bits, [1]);
  assert.ok(c.data instanceof Float16Array);
  assert.equal((c.data as Float16Array)[0], -2.5);
  assert.throws(() => new Tensor("float16", new Float32Array(2), [2]), /needs a Float16Array/);
});

Deno.test("float16 attention heads: the roundings run in the GEMMs' epilogues and the head transposes fold into their strides, the same bits as unfused", async () => {
  const bytes = halfModel((g, x, half) => {
    // Projection (+ bias), split into 2 heads of 4, q·qᵀ per head, softmax, ·q, heads merged.
    const y = g.op("Add", [g.op("MatMul", [x, half("W", [16, 8], 81)]), half("b", [8], 82)]);
    const heads = g.op("Transpose", [g.op("Reshape", [y, g.ints("split", [3, 2, 4])])], {
      perm: [1, 0, 2],
    });
    const scores = g.op("MatMul", [heads, g.op("Transpose", [heads], { perm: [0, 2, 1] })]);
    const o = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), heads]);
    const merged = g.op("Transpose", [o], { perm: [1, 0, 2] });
    return { out: g.op("Reshape", [merged, g.ints("merge", [3, 8])]) };
  });
  await checkModel("half attention heads", bytes, { x: X });
  const feeds = { x: new Tensor("float32", X.data, X.dims) };
  const plain = await InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  const fused = await InferenceSession.create(bytes);
  try {
    // The projection's rounding (before the Reshape) and the last product's (before the
    // merge Transpose), each in its GEMM.
    assert.equal(fused.optimization.fusions["rounding to half into its producer"], 2);
    assert.ok(
      fused.nodeCount < plain.nodeCount - 4,
      `${fused.nodeCount} nodes fused, ${plain.nodeCount} plain`,
    );
    const want = plain.runSync(feeds).out.data as Float32Array;
    const got = fused.runSync(feeds).out.data as Float32Array;
    for (let i = 0; i < want.length; i++) {
      assert.ok(Object.is(got[i], want[i]), `[${i}] ${got[i]} fused, ${want[i]} unfused`);
      assert.ok(Object.is(Math.f16round(got[i]), got[i]), `[${i}] ${got[i]} is no half`);
    }
  } finally {
    await plain.release();
    await fused.release();
  }
});
