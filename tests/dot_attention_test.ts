import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

/**
 * An attention head on [batch, heads, tokens, size] inputs as a model writes it:
 * MatMul(Q, Transpose(K)) · scale + mask → Softmax → MatMul(·, V). `kBatch` and the mask's
 * dims are the caller's: a K broadcast over the batch, or a mask along the keys' axis of 1,
 * are MatMul's and Add's broadcasts the attention kernel does not take.
 */
function headModel(o: {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  size: number;
  kBatch?: number;
  mask?: number[];
  opset?: number;
}) {
  const g = new GraphBuilder(o.opset ?? 17);
  const { batch: B, heads: H, queries: S, keys: T, size: D } = o;
  const kb = o.kBatch ?? B;
  const q = g.input("q", "float32", [B, H, S, D]);
  const k = g.input("k", "float32", [kb, H, T, D]);
  const v = g.input("v", "float32", [kb, H, T, D]);
  const scale = g.initializer("scale", { type: "float32", dims: [], data: [1 / Math.sqrt(D)] });
  let s = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]), scale]);
  if (o.mask) s = g.op("Add", [s, g.input("mask", "float32", o.mask)]);
  const p = g.op("Softmax", [s], { axis: -1 });
  g.output(g.op("MatMul", [p, v], {}, "y"), "float32", null);
  const feeds: Record<string, Tensor> = {
    q: new Tensor("float32", seededFloats(B * H * S * D, 1), [B, H, S, D]),
    k: new Tensor("float32", seededFloats(kb * H * T * D, 2), [kb, H, T, D]),
    v: new Tensor("float32", seededFloats(kb * H * T * D, 3), [kb, H, T, D]),
  };
  if (o.mask) {
    const n = o.mask.reduce((a, b) => a * b, 1);
    feeds.mask = new Tensor(
      "float32",
      Float32Array.from(seededFloats(n, 4), (x) => (x > 0.3 ? -10000 : x)),
      o.mask,
    );
  }
  return { bytes: g.toBytes(), feeds };
}

async function compare(m: ReturnType<typeof headModel>, what: string): Promise<void> {
  const on = await InferenceSession.create(m.bytes, { intraOpNumThreads: 2 });
  const off = await InferenceSession.create(m.bytes, { graphOptimizationLevel: "disabled" });
  assert.equal(on.nodeOps["njit.DotProductAttention"], 1, `${what}: ${JSON.stringify(on.nodeOps)}`);
  assert.equal(on.nodeOps.Softmax ?? 0, 0, what);
  const a = on.runSync(m.feeds).y.data as Float32Array;
  const b = off.runSync(m.feeds).y.data as Float32Array;
  assert.equal(a.length, b.length, what);
  let max = 0, diff = 0;
  for (let i = 0; i < b.length; i++) {
    max = Math.max(max, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  assert.ok(diff <= 1e-5 * Math.max(1, max), `${what}: fused differs by ${diff}`);
  // The same bits on every run.
  assert.deepEqual(on.runSync(m.feeds).y.data, a, `${what}: run to run`);
  await on.release();
  await off.release();
}

Deno.test("dot attention: [batch, heads, tokens, size] heads fuse, with masks of every broadcast", async () => {
  const shape = { batch: 2, heads: 3, queries: 9, keys: 21, size: 16 };
  await compare(headModel(shape), "no mask");
  for (const mask of [[2, 1, 1, 21], [1, 1, 9, 21], [2, 3, 9, 21], [21], [9, 21]]) {
    await compare(headModel({ ...shape, mask }), `mask ${mask}`);
  }
  await compare(headModel({ ...shape, opset: 11 }), "opset 11");
});

Deno.test("dot attention: shapes the kernel does not take run the nodes it replaced", async () => {
  const shape = { batch: 2, heads: 2, queries: 9, keys: 7, size: 8 };
  // K and V broadcast over the batch (MatMul's batch broadcast), a mask broadcast over the keys.
  await compare(headModel({ ...shape, kBatch: 1 }), "K of one batch item");
  await compare(headModel({ ...shape, mask: [2, 1, 9, 1] }), "mask along the keys of 1");
  await compare(headModel({ ...shape, queries: 4 }), "fewer query rows than the kernel takes");
});

Deno.test("dot attention: a softmax over another axis, or scores read twice, stay unfused", async () => {
  const g = new GraphBuilder(17);
  const q = g.input("q", "float32", [1, 2, 4, 8]);
  const k = g.input("k", "float32", [1, 2, 4, 8]);
  const s = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
  const p = g.op("Softmax", [s], { axis: 2 });
  g.output(g.op("MatMul", [p, k], {}, "y"), "float32", null);
  g.output(g.op("Identity", [s], {}, "scores"), "float32", null);
  const session = await InferenceSession.create(g.toBytes());
  assert.equal(session.nodeOps["njit.DotProductAttention"] ?? 0, 0);
  assert.equal(session.nodeOps.Softmax, 1);
  await session.release();
});

Deno.test("Attention op: the kernel's output (rows that see no key zeroed) is the scores path's", async () => {
  // 3-D Q, K, V of 4 query heads on 2 key heads; a boolean mask over heads and queries, fed,
  // with rows of no key (their output rows zero, the flags reordered to y's [b, s, h]).
  const [B, S, T, H, G, D] = [2, 9, 7, 4, 2, 8];
  const g = new GraphBuilder(23);
  g.input("q", "float32", [B, S, H * D]);
  g.input("k", "float32", [B, T, G * D]);
  g.input("v", "float32", [B, T, G * D]);
  g.input("m", "bool", [B, H, S, T]);
  const heads = { q_num_heads: H, kv_num_heads: G };
  g.output(g.op("Attention", ["q", "k", "v", "m"], heads, "fused"));
  // The scores asked for: the per-head GEMMs and softmax, not the kernel.
  const [y] = g.node("Attention", ["q", "k", "v", "m"], 4, { ...heads, qk_matmul_output_mode: 0 });
  g.output(g.op("Identity", [y], {}, "heads"));
  const m = Uint8Array.from(seededFloats(B * H * S * T, 9), (x) => (x > -0.2 ? 1 : 0));
  for (const [b, h, i] of [[0, 1, 2], [1, 3, 0], [1, 0, 4]]) {
    m.fill(0, ((b * H + h) * S + i) * T, ((b * H + h) * S + i + 1) * T);
  }
  const feeds = {
    q: new Tensor("float32", seededFloats(B * S * H * D, 1), [B, S, H * D]),
    k: new Tensor("float32", seededFloats(B * T * G * D, 2), [B, T, G * D]),
    v: new Tensor("float32", seededFloats(B * T * G * D, 3), [B, T, G * D]),
    m: new Tensor("bool", m, [B, H, S, T]),
  };
  const session = await InferenceSession.create(g.toBytes(), { intraOpNumThreads: 2 });
  const out = session.runSync(feeds);
  const a = out.fused.data as Float32Array, b = out.heads.data as Float32Array;
  for (let i = 0; i < b.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])),
      `y[${i}] ${a[i]} ${b[i]}`,
    );
  }
  for (const [bb, h, i] of [[0, 1, 2], [1, 3, 0], [1, 0, 4]]) {
    const at = ((bb * S + i) * H + h) * D;
    // Zero (of either sign: the kernel's rows are multiplied by 0).
    assert.ok(
      a.subarray(at, at + D).every((x) => x === 0),
      `row ${bb},${h},${i}: ${a.subarray(at, at + D)}`,
    );
  }
  await session.release();
});

Deno.test("Attention op with a KV cache: the kernel on the caches as built (bhsd beside 3-D queries) is the scores path's", async () => {
  // 3-D Q, K, V of 10 new tokens, 4 query heads on 2 key heads, a past of 5, causal; the same
  // node again with the scores asked for (the GEMMs and softmax), its present outputs too.
  const [B, S, P, H, G, D] = [2, 10, 5, 4, 2, 8];
  const g = new GraphBuilder(23);
  g.input("q", "float32", [B, S, H * D]);
  g.input("k", "float32", [B, S, G * D]);
  g.input("v", "float32", [B, S, G * D]);
  g.input("pk", "float32", [B, G, P, D]);
  g.input("pv", "float32", [B, G, P, D]);
  const attrs = { q_num_heads: H, kv_num_heads: G, is_causal: 1 };
  const [y1, k1, v1] = g.node("Attention", ["q", "k", "v", "", "pk", "pv"], 3, attrs);
  const [y2, k2, v2] = g.node("Attention", ["q", "k", "v", "", "pk", "pv"], 4, {
    ...attrs,
    qk_matmul_output_mode: 0,
  });
  for (
    const [x, name] of [[y1, "y1"], [k1, "k1"], [v1, "v1"], [y2, "y2"], [k2, "k2"], [v2, "v2"]]
  ) {
    g.output(g.op("Identity", [x], {}, name));
  }
  const F = (dims: number[], seed: number) =>
    new Tensor("float32", seededFloats(dims.reduce((a, b) => a * b, 1), seed), dims);
  const feeds = {
    q: F([B, S, H * D], 1),
    k: F([B, S, G * D], 2),
    v: F([B, S, G * D], 3),
    pk: F([B, G, P, D], 4),
    pv: F([B, G, P, D], 5),
  };
  const session = await InferenceSession.create(g.toBytes(), { intraOpNumThreads: 2 });
  const out = session.runSync(feeds);
  assert.deepEqual(out.k1.data, out.k2.data);
  assert.deepEqual(out.v1.data, out.v2.data);
  const a = out.y1.data as Float32Array, b = out.y2.data as Float32Array;
  for (let i = 0; i < b.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])),
      `y[${i}] ${a[i]} ${b[i]}`,
    );
  }
  await session.release();
});
