/**
 * BatchNormalization followed by per-channel Mul and Add (caffe2's export,
 * DenseNet's pre-activation) folds into one BatchNormalization with ReLU
 * in its kernel, and after a Conv into the Conv; constants that do not
 * broadcast along channels only, or a BatchNormalization read twice, stay.
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

const C = 6;

/** A graph with input x, and its seeded weights and BatchNormalizations over C channels. */
function builder(batch: number | string, seed: number) {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [batch, C, 5, 7]);
  const vec = (name: string, dims: number[], shift = 0, scale = 0.5) =>
    g.weight(
      name,
      dims,
      seededFloats(dims.reduce((a, b) => a * b, 1), seed++, scale).map((v) => v + shift),
    );
  const bn = (x: string, p: string) =>
    g.op("BatchNormalization", [
      x,
      vec(`${p}.scale`, [C], 1),
      vec(`${p}.bias`, [C]),
      vec(`${p}.mean`, [C]),
      vec(`${p}.var`, [C], 1, 0.3),
    ]);
  return { g, vec, bn };
}

/** One rounding where the graph had one per node: within a few ulp of the unfused graph. */
function assertClose(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), `[${i}] ${a[i]} vs ${b[i]}`);
  }
}

/** The model with the default optimizations and with "basic" (no fusions), for `body`; released after. */
async function fusedAndPlain(
  bytes: Uint8Array,
  body: (fused: InferenceSession, plain: InferenceSession) => void,
): Promise<void> {
  const fused = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const plain = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "basic",
  });
  try {
    body(fused, plain);
  } finally {
    await fused.release();
    await plain.release();
  }
}

/** Both sessions' y for the same x, within a few ulp. */
function assertSameY(fused: InferenceSession, plain: InferenceSession, x: Tensor): void {
  const feeds = { x };
  assertClose(
    fused.runSync(feeds).y.data as Float32Array,
    plain.runSync(feeds).y.data as Float32Array,
  );
}

function model(): Uint8Array {
  const { g, vec, bn } = builder("batch", 1);
  // Pre-activation: BN → Mul([C,1,1]) → Add([1,C,1,1]) → Relu → Conv.
  const b1 = bn("x", "bn1");
  const m1 = g.op("Mul", [b1, vec("m1", [C, 1, 1], 1)]);
  const a1 = g.op("Add", [vec("a1", [1, C, 1, 1]), m1]);
  const r1 = g.op("Relu", [a1]);
  const conv = g.op("Conv", [r1, vec("w", [C, C, 3, 3])], { pads: [1, 1, 1, 1] });
  // After the Conv: BN → Mul(scalar) → Add([C,1,1]) → Relu, all into the Conv.
  const b2 = bn(conv, "bn2");
  const m2 = g.op("Mul", [b2, vec("m2", [1], 1)]);
  const a2 = g.op("Add", [m2, vec("a2", [C, 1, 1])]);
  const r2 = g.op("Relu", [a2]);
  // Left alone: an Add whose constant varies along W (not a channel vector).
  const b3 = bn(r2, "bn3");
  const a3 = g.op("Add", [b3, vec("a3", [7])]);
  g.output(g.op("Sigmoid", [a3], {}, "y"), "float32", null);
  return g.toBytes();
}

Deno.test("fusion: per-channel Mul/Add fold into BatchNormalization (and it into Conv), ReLU into its kernel", async () => {
  await fusedAndPlain(model(), (fused, plain) => {
    const f = fused.optimization.fusions;
    assert.equal(f["per-channel Mul/Add into BatchNormalization"], 4);
    assert.equal(f["BatchNormalization into Conv"], 1);
    assert.equal(f["activation into its producer"], 2);
    // BN+ReLU, Conv(+BN+affine+ReLU), BN, Add, Sigmoid.
    assert.equal(fused.nodeCount, 5);
    for (const batch of [1, 3]) {
      const x = seededFloats(batch * C * 35, 40 + batch, 2);
      assertSameY(fused, plain, new Tensor("float32", x, [batch, C, 5, 7]));
    }
  });
});

Deno.test("fusion: BatchNormalization into Conv folds a weight its conv alone reads in place, a shared one into a copy", async () => {
  // Two Convs read one weight initializer, each followed by its own BatchNormalization: folding
  // the first in place would hand the second its weights already scaled.
  const { g, vec, bn } = builder(1, 50);
  const shared = vec("w", [C, C, 3, 3]);
  const y1 = bn(g.op("Conv", ["x", shared], { pads: [1, 1, 1, 1] }), "bn1");
  const y2 = bn(g.op("Conv", ["x", shared], { pads: [1, 1, 1, 1] }), "bn2");
  // A third conv with weights of its own: folded in place.
  const y3 = bn(g.op("Conv", [y1, vec("w3", [C, C, 1, 1])]), "bn3");
  g.output(g.op("Add", [y2, y3], {}, "y"), "float32", null);
  await fusedAndPlain(g.toBytes(), (fused, plain) => {
    assert.equal(fused.optimization.fusions["BatchNormalization into Conv"], 3);
    assertSameY(fused, plain, new Tensor("float32", seededFloats(C * 35, 77, 2), [1, C, 5, 7]));
  });
});
