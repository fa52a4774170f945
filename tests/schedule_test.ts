/**
 * The plan's node order (src/graph/schedule.ts): small values of the feeds
 * alone first, the order still topological; and what it is for, the models
 * whose mask (or float16 casts) split `run` into stretches off the event
 * loop run as one, outputs unchanged (the golden tests check them too).
 */
import assert from "node:assert/strict";
import { InferenceSession, isaLevel, Tensor } from "../mod.ts";
import { cpuFeatures } from "../src/cpu.ts";
import { Attrs, type Node } from "../src/graph/ir.ts";
import {
  type ByteRange,
  hostStepsFirst,
  SMALL_BYTES,
  smallFirst,
  type StepAccess,
} from "../src/graph/schedule.ts";
import { encoderLayer } from "../tools/model_zoo.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { feedsOf } from "./helpers/feeds.ts";

const node = (name: string, inputs: string[], outputs: string[]): Node => ({
  op: "Op",
  domain: "",
  name,
  inputs,
  outputs,
  attrs: new Attrs(new Map(), name),
  opset: 17,
});

Deno.test("smallFirst: small values of feeds and constants first, in order; the rest after, in order", () => {
  const live = [
    node("emb", ["ids", "table"], ["e"]), // large
    node("norm", ["e"], ["h"]),
    node("castMask", ["mask"], ["m"]),
    node("scale", ["m", "k"], ["s"]),
    node("attend", ["h", "s"], ["a"]),
    node("late", ["a"], ["tiny"]), // small, but of a computed value
    node("opt", ["", "mask"], ["o"]),
  ];
  const big = new Set(["e", "h", "a"]);
  const { order, early } = smallFirst(
    live,
    (name) => ["ids", "table", "mask", "k"].includes(name),
    (name) => (big.has(name) ? SMALL_BYTES + 4 : 16),
  );
  assert.deepEqual(order.map((n) => n.name), [
    "castMask",
    "scale",
    "opt",
    "emb",
    "norm",
    "attend",
    "late",
  ]);
  assert.equal(early, 3);
  // Topological: every input is a feed, a constant or made by an earlier node.
  const made = new Set(["ids", "table", "mask", "k", ""]);
  for (const n of order) {
    for (const i of n.inputs) assert.ok(made.has(i), `${n.name} reads ${i} before it is made`);
    for (const o of n.outputs) made.add(o);
  }
  // Nothing small: the order as it was.
  const same = smallFirst(live, (name) => name === "ids", () => SMALL_BYTES + 1);
  assert.deepEqual(same, { order: live, early: 0 });
});

Deno.test("hostStepsFirst: a host step goes before the native stretch it commutes with, not past what it conflicts with", () => {
  const mem = new ArrayBuffer(1024), other = new ArrayBuffer(64);
  const r = (from: number, to: number, buffer: ArrayBuffer = mem): ByteRange => ({
    buffer,
    from,
    to,
  });
  const N = { native: true }, H = { native: false };
  const acc = (reads: ByteRange[], writes: ByteRange[]): StepAccess => ({ reads, writes });
  // Native 0-1, host 2 (independent), native 3: host first, one stretch.
  assert.deepEqual(
    hostStepsFirst([N, N, H, N], [
      acc([r(0, 16)], [r(16, 32)]),
      acc([r(16, 32)], [r(32, 48)]),
      acc([r(0, 8, other)], [r(100, 116)]),
      acc([r(32, 48), r(100, 116)], [r(200, 216)]),
    ]),
    [2, 0, 1, 3],
  );
  // The host step reads what step 1 writes (a dependence), or writes what step 0 reads, or
  // writes where step 1 writes: it stays.
  for (
    const host of [
      acc([r(40, 44)], [r(100, 116)]),
      acc([], [r(8, 12)]),
      acc([], [r(36, 40)]),
    ]
  ) {
    assert.deepEqual(
      hostStepsFirst([N, N, H, N], [
        acc([r(0, 16)], [r(16, 32)]),
        acc([r(16, 32)], [r(32, 48)]),
        host,
        acc([r(32, 48)], [r(200, 216)]),
      ]),
      [0, 1, 2, 3],
    );
  }
  // Host steps keep their order: the second lands after the first, not before it; the same
  // ranges in another buffer do not conflict.
  assert.deepEqual(
    hostStepsFirst([H, N, H, N, H], [
      acc([], [r(0, 4)]),
      acc([r(500, 504)], [r(8, 12)]),
      acc([r(0, 4)], [r(8, 12, other)]),
      acc([r(8, 12)], [r(16, 20)]),
      acc([r(16, 20)], [r(24, 28)]),
    ]),
    [0, 2, 1, 3, 4],
  );
});

Deno.test("model: a BERT layer's mask and a float16 layer's casts leave one stretch off the event loop", async () => {
  for (
    const m of [
      encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64 }),
      encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, decomposedLayerNorm: true }),
      encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, quantized: true }),
      encoderLayer({ seq: 12, hidden: 32, heads: 4, ff: 64, half: true }),
      // Projections past SMALL_BYTES: the mask's nodes go first by smallFirst alone.
      encoderLayer({ seq: 80, hidden: 256, heads: 4, ff: 512, quantized: true }),
    ]
  ) {
    const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
    const feeds = feedsOf(m);
    const sync = s.runSync(feeds);
    // Without AVX-512 VNNI (NJIT_MAX_ISA below avx512) the int8 products are TypeScript steps
    // (quantize.ts's float path), each a stretch boundary: only the bits are checked there.
    const int8Native = (isaLevel() === "avx512" || isaLevel() === "amx") &&
      cpuFeatures().avx512vnni;
    if (!m.name.includes("int8") || int8Native) assert.equal(s.offLoopStretches, 1, m.name);
    for (let i = 0; i < 3; i++) {
      const got = await s.run(feeds);
      for (const k of s.outputNames) assert.deepEqual(got[k].data, sync[k].data, `${m.name}: ${k}`);
    }
    await s.release();
  }
});

Deno.test("model: a fused attention's run-time mask is read on the calling thread, its arithmetic replayed off the event loop", async () => {
  const [B, S, H, heads] = [2, 5, 16, 2];
  const g = new GraphBuilder(17);
  g.extraOpsets.push(["com.microsoft", 1]);
  g.input("x", "float32", [B, S, H]);
  g.input("mask", "int32", [B, S]);
  let seed = 900;
  const weight = (dims: number[]) =>
    g.weight(g.fresh("w"), dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed++, 0.3));
  const before = g.op("MatMul", ["x", weight([H, H])]);
  const att = g.node(
    "Attention",
    [before, weight([H, 3 * H]), weight([3 * H]), "mask"],
    1,
    { num_heads: heads },
    "com.microsoft",
  )[0];
  g.output(g.op("MatMul", [att, weight([H, H])], {}, "y"));
  const bytes = g.toBytes();
  const x = new Tensor("float32", seededFloats(B * S * H, 901), [B, S, H]);
  const masks = [[1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 1, 1, 1, 1, 0]].map((m) =>
    new Tensor("int32", Int32Array.from(m), [B, S])
  );
  // Each mask's output from a fresh session on the calling thread.
  const want = await freshOutputs(bytes, masks.map((mask) => ({ x, mask })));
  assert.notDeepEqual(want[0], want[1]);
  // Every run off the loop, however short (this model takes microseconds).
  const s = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    tuneBudget: 0,
    shortRunsInline: false,
  });
  const runs = 8;
  for (let i = 0; i < runs; i++) {
    const got = await s.run({ x, mask: masks[i % 2] });
    assert.deepEqual(got.y.data, want[i % 2], `run ${i}`);
  }
  // The projection before, then the attention's calls (its mask filled first) with the one after.
  assert.equal(s.offLoopStretches, 2);
  // No node computed on the calling thread: the attention's calls were replayed off the loop.
  assert.deepEqual(s.hostNodes, []);
  await s.release();
});

Deno.test("model: RotaryEmbedding with run-time position_ids reads them on the calling thread and rotates off the event loop", async () => {
  const [B, S, H, D] = [2, 3, 2, 8];
  const g = new GraphBuilder(23);
  g.input("x", "float32", [B, S, H * D]);
  g.input("pos", "int64", [B, S]);
  const [cos, sin] = g.rotaryCache(12, D / 2, 0.3);
  const w = g.weight("w", [H * D, H * D], seededFloats(H * D * H * D, 950, 0.3));
  const before = g.op("MatMul", ["x", w]);
  const rotated = g.op("RotaryEmbedding", [before, cos, sin, "pos"], { num_heads: H });
  g.output(g.op("MatMul", [rotated, w], {}, "y"));
  const bytes = g.toBytes();
  const x = new Tensor("float32", seededFloats(B * S * H * D, 951), [B, S, H * D]);
  const ids = [[0, 1, 2, 5, 6, 7], [3, 4, 5, 0, 1, 11]].map((p) =>
    new Tensor("int64", BigInt64Array.from(p.map(BigInt)), [B, S])
  );
  const want = await freshOutputs(bytes, ids.map((pos) => ({ x, pos })));
  assert.notDeepEqual(want[0], want[1]);
  const s = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    tuneBudget: 0,
    shortRunsInline: false,
  });
  for (let i = 0; i < 6; i++) {
    const got = await s.run({ x, pos: ids[i % 2] });
    assert.deepEqual(got.y.data, want[i % 2], `run ${i}`);
  }
  assert.equal(s.offLoopStretches, 2);
  assert.deepEqual(s.hostNodes, []);
  // A position past the caches: the node's error, on either path, before any native code reads it.
  const bad = new Tensor("int64", BigInt64Array.from([0n, 1n, 12n, 0n, 0n, 0n]), [B, S]);
  await assert.rejects(
    s.run({ x, pos: bad }),
    /RotaryEmbedding node .*position 12 is outside 0\.\.11/,
  );
  assert.throws(() => s.runSync({ x, pos: bad }), /position 12 is outside 0\.\.11/);
  // Good ids after it still run as before.
  assert.deepEqual((await s.run({ x, pos: ids[1] })).y.data, want[1]);
  await s.release();
});

/** Output y of each feed set, each from a fresh session's runSync (the calling thread). */
async function freshOutputs(
  bytes: Uint8Array,
  feedSets: Record<string, Tensor>[],
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const feeds of feedSets) {
    const fresh = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    out.push(fresh.runSync(feeds).y.data as Float32Array);
    await fresh.release();
  }
  return out;
}
