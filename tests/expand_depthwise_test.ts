/**
 * A 1×1 Conv into the depthwise Conv that reads its output (MobileNet's
 * inverted residual) runs as one node: by groups of channels where the
 * expanded tensor is large (16→96 on 112²: 4.8 MB; image by image at batch
 * 2), whole otherwise; either way the bits of the two Convs run apart (no
 * fusion), on 1 and 3 threads, at batch 1 and 2. A pair the fusion must leave alone stays two nodes.
 */
import assert from "node:assert/strict";
import { InferenceSession, isaLevel, Jit, Tensor } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

interface Pair {
  /** Output channels of the 1×1 calls the pair makes at batch 1: a group's, or all of them. */
  calls: number;
  c: number;
  e: number;
  hw: number;
  stride: number;
  /** The 1×1's pads (a pair the fusion leaves alone: its 1×1 is not in place). */
  pads?: number[];
  /** Neither Conv has a bias. */
  noBias?: boolean;
}

/** x → Conv 1×1 (c→e, bias) → Relu → Conv 3×3 depthwise (stride, pads 1, bias) → Clip(0, 6) → y. */
function model(p: Pair, seed: number): Uint8Array {
  const g = new GraphBuilder(13);
  g.input("x", "float32", ["batch", p.c, p.hw, p.hw]);
  const w = (name: string, dims: number[], scale: number) =>
    g.weight(name, dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed++, scale));
  const bias = (name: string) => p.noBias ? [] : [w(name, [p.e], 0.2)];
  const expand = g.op("Conv", ["x", w("we", [p.e, p.c, 1, 1], 0.5), ...bias("be")], {
    pads: p.pads ?? [0, 0, 0, 0],
  });
  const relu = g.op("Relu", [expand]);
  const dw = g.op("Conv", [relu, w("wd", [p.e, 1, 3, 3], 0.5), ...bias("bd")], {
    group: p.e,
    strides: [p.stride, p.stride],
    pads: [1, 1, 1, 1],
  });
  const lo = g.weight("lo", [], [0]), hi = g.weight("hi", [], [6]);
  g.output(g.op("Clip", [dw, lo, hi], {}, "y"), "float32", null);
  return g.toBytes();
}

/** The same model fused (default) and with no fusions ("basic"), on `threads`. */
async function both(bytes: Uint8Array, threads: number) {
  const fused = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const plain = await InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    graphOptimizationLevel: "basic",
  });
  return { fused, plain };
}

for (
  const [name, p] of [
    // Groups of 16: the most channels of 112² planes in 1 MiB (ops/conv.ts, pairGroup).
    ["16→96 on 112², stride 2 (by groups)", { calls: 16, c: 16, e: 96, hw: 112, stride: 2 }],
    [
      "16→96 on 112², stride 1, no biases (by groups)",
      { calls: 16, c: 16, e: 96, hw: 112, stride: 1, noBias: true },
    ],
    ["24→144 on 56², stride 1 (whole)", { calls: 144, c: 24, e: 144, hw: 56, stride: 1 }],
    ["8→20 on 9², stride 1 (whole)", { calls: 20, c: 8, e: 20, hw: 9, stride: 1 }],
  ] as [string, Pair][]
) {
  Deno.test(`fusion: 1×1 Conv into its depthwise Conv, ${name}: one node, the unfused bits`, async () => {
    const bytes = model(p, 7 + p.e);
    for (const threads of [1, 3]) {
      const { fused, plain } = await both(bytes, threads);
      try {
        assert.equal(fused.optimization.fusions["1×1 Conv into the depthwise Conv it feeds"], 1);
        // The pair (with both activations) and nothing else.
        assert.equal(fused.nodeCount, 1, `nodes: ${JSON.stringify(fused.nodeOps)}`);
        for (const batch of [1, 2]) {
          const x = new Tensor(
            "float32",
            seededFloats(batch * p.c * p.hw * p.hw, 100 + batch, 2),
            [batch, p.c, p.hw, p.hw],
          );
          const a = fused.runSync({ x }).y.data as Float32Array;
          const b = plain.runSync({ x }).y.data as Float32Array;
          assert.equal(a.length, b.length);
          for (let i = 0; i < a.length; i++) {
            if (!Object.is(a[i], b[i])) {
              assert.fail(
                `${threads} thread(s), batch ${batch}: y[${i}] ${a[i]} fused, ${b[i]} not`,
              );
            }
          }
          // Twice: the second run replays the first's calls.
          const again = (await fused.run({ x })).y.data as Float32Array;
          assert.deepEqual(again, a);
        }
        const keys = fused.kernelStats().keys.map((k) => k.key);
        const expands = keys.filter((k) => k.startsWith(`conv2d 1×${p.c}×`));
        assert.ok(
          expands.some((k) => k.includes(` → ${p.calls}×${p.hw}×${p.hw} k1×1`)),
          `1×1 calls at batch 1: ${expands.join("; ")}`,
        );
        // By groups, a batch of 2 runs image by image: no call of 2 images.
        const pairs = keys.filter((k) => k.startsWith("conv2d 2×"));
        assert.equal(pairs.length, p.calls < p.e ? 0 : 2, pairs.join("; "));
      } finally {
        await fused.release();
        await plain.release();
      }
    }
  });
}

Deno.test("fusion: a 1×1 Conv with padding stays apart from its depthwise Conv", async () => {
  const bytes = model({ calls: 8, c: 4, e: 8, hw: 6, stride: 1, pads: [1, 1, 1, 1] }, 3);
  const { fused, plain } = await both(bytes, 1);
  try {
    assert.equal(fused.optimization.fusions["1×1 Conv into the depthwise Conv it feeds"] ?? 0, 0);
    assert.equal(fused.nodeCount, 2);
    const x = new Tensor("float32", seededFloats(4 * 36, 5, 2), [1, 4, 6, 6]);
    assert.deepEqual(fused.runSync({ x }).y.data, plain.runSync({ x }).y.data);
  } finally {
    await fused.release();
    await plain.release();
  }
});

Deno.test("fusion: a pair run by groups packs each group's weights at create where x's shape is known, else at its plan", async () => {
  const bytes = model({ calls: 16, c: 16, e: 96, hw: 112, stride: 2 }, 11);
  const x = new Tensor("float32", seededFloats(16 * 112 * 112, 12, 2), [1, 16, 112, 112]);
  // The whole pair's two (the 1×1's and the depthwise's), then 6 groups of 16 channels, two each.
  const known = await InferenceSession.create(bytes, { freeDimensionOverrides: { batch: 1 } });
  const symbolic = await InferenceSession.create(bytes);
  try {
    assert.equal(known.weightsPacked, 2 + 12);
    assert.equal(symbolic.weightsPacked, 2);
    const a = known.runSync({ x }).y.data, b = symbolic.runSync({ x }).y.data;
    assert.equal(known.weightsPacked, 2 + 12);
    assert.equal(symbolic.weightsPacked, 2 + 12);
    assert.deepEqual(a, b);
  } finally {
    await known.release();
    await symbolic.release();
  }
});

Deno.test("fusion premise on every ISA level: a 1×1 and its depthwise by groups of channels give the whole pair's bits", () => {
  // What ops/conv.ts expandDepthwise runs, through jit.conv2d with packed weights at each level
  // and on 1 and 3 threads: the pair whole, and by groups of 8 and of 12 channels (views of the
  // weights, packed apart) into a scratch of that many planes.
  const [c, e, hw] = [5, 24, 20], plane = hw * hw, outPlane = 10 * 10;
  const x = seededFloats(c * plane, 31, 2), we = seededFloats(e * c, 32, 0.5);
  const wd = seededFloats(e * 9, 33, 0.5), be = seededFloats(e, 34, 0.2);
  const bd = seededFloats(e, 35, 0.2);
  const clip = { op: "clip", min: 0, max: 6 } as const;
  const expand = (oc: number, bias: Float32Array) => ({
    n: 1,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [1, 1],
    bias,
    activation: "relu" as const,
  });
  const depthwise = (ch: number, bias: Float32Array) => ({
    n: 1,
    c: ch,
    h: hw,
    w: hw,
    outChannels: ch,
    kernel: [3, 3],
    group: ch,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    bias,
    activation: clip,
  });
  for (const maxIsa of levelsUpTo(isaLevel()).filter((l) => l !== "amx")) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa, threads, tuneBudget: 0 });
      const pack = (w: Float32Array, oc: number, ch: number, k: number, group: number) =>
        jit.packConvWeights(w, { outChannels: oc, c: ch, kernel: [k, k], group });
      const mid = new Float32Array(e * plane), whole = new Float32Array(e * outPlane);
      jit.conv2d(x, pack(we, e, c, 1, 1), mid, expand(e, be));
      jit.conv2d(mid, pack(wd, e, e, 3, e), whole, depthwise(e, bd));
      for (const g of [8, 12]) {
        const grouped = new Float32Array(whole.length), scratch = new Float32Array(g * plane);
        for (let k = 0; k < e; k += g) {
          const wk = pack(we.subarray(k * c, (k + g) * c), g, c, 1, 1);
          jit.conv2d(x, wk, scratch, expand(g, be.subarray(k, k + g)));
          jit.conv2d(
            scratch,
            pack(wd.subarray(k * 9, (k + g) * 9), g, g, 3, g),
            grouped.subarray(k * outPlane, (k + g) * outPlane),
            depthwise(g, bd.subarray(k, k + g)),
          );
        }
        for (let i = 0; i < whole.length; i++) {
          if (!Object.is(grouped[i], whole[i])) {
            assert.fail(
              `${maxIsa}, ${threads} thread(s), groups of ${g}: [${i}] ${grouped[i]} against ${
                whole[i]
              }`,
            );
          }
        }
      }
    }
  }
});
