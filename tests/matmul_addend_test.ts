/**
 * MatMul + Add of a computed tensor (fusions/matmul_addend.ts): a row over
 * the product's last axis goes into the GEMM's epilogue as its bias, any
 * other addend is added after the product; every case bit-equal to the
 * unfused graph's.
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

const S = 20, D = 8, H = 3;

/** Scores of attention, Q·Kᵀ/8, plus `mask` (either side of the Add). */
function scores(g: GraphBuilder, batch: number, mask: string, out: string, maskFirst = false) {
  g.input(`q_${out}`, "float32", [batch, H, S, D]);
  g.input(`k_${out}`, "float32", [batch, H, D, S]);
  const eighth = g.initializer(`eighth_${out}`, { type: "float32", dims: [], data: [0.125] });
  const s = g.op("Mul", [g.op("MatMul", [`q_${out}`, `k_${out}`]), eighth]);
  g.output(g.op("Add", maskFirst ? [mask, s] : [s, mask], {}, out));
}

function feedsOf(s: InferenceSession, dims: Record<string, number[]>): Record<string, Tensor> {
  return Object.fromEntries(s.inputNames.map((name, i) => {
    const d = dims[name];
    const n = d.reduce((p, q) => p * q, 1);
    return [name, new Tensor("float32", seededFloats(n, 17 + i, 2), d)];
  }));
}

Deno.test("model: an attention mask row added to the scores is the scores GEMM's bias; other addends are added after it; bits as unfused", async () => {
  const g = new GraphBuilder(17);
  // A key padding mask computed from its input, (1 − m)·−10000, [1, 1, 1, S]: the bias.
  g.input("m", "float32", [1, 1, 1, S]);
  const one = g.initializer("one", { type: "float32", dims: [], data: [1] });
  const big = g.initializer("big", { type: "float32", dims: [], data: [-10000] });
  const pad = g.op("Mul", [g.op("Sub", [one, "m"]), big]);
  scores(g, 1, pad, "row");
  scores(g, 1, "m", "row_first", true);
  // A causal mask [1, 1, S, S] and a mask per batch item [2, 1, 1, S]: added after.
  g.input("causal", "float32", [1, 1, S, S]);
  scores(g, 1, "causal", "square");
  g.input("per_item", "float32", [2, 1, 1, S]);
  scores(g, 2, "per_item", "per_item_out");
  // An addend that widens the product [S, S] to [2, S, S].
  g.input("x", "float32", [S, D]);
  g.input("wide", "float32", [2, S, S]);
  g.output(
    g.op(
      "Add",
      [g.op("MatMul", ["x", g.weight("w", [D, S], seededFloats(D * S, 5, 1))]), "wide"],
      {},
      "widened",
    ),
  );
  const bytes = g.toBytes();
  const on = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const off = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "disabled",
  });
  assert.equal(
    on.optimization.fusions["MatMul + Add of a computed tensor"],
    5,
    JSON.stringify(on.optimization),
  );
  assert.equal(on.nodeOps.Add ?? 0, 0, JSON.stringify(on.nodeOps));
  const dims: Record<string, number[]> = {
    m: [1, 1, 1, S],
    causal: [1, 1, S, S],
    per_item: [2, 1, 1, S],
    x: [S, D],
    wide: [2, S, S],
  };
  for (
    const [out, batch] of [["row", 1], ["row_first", 1], ["square", 1], [
      "per_item_out",
      2,
    ]] as const
  ) {
    dims[`q_${out}`] = [batch, H, S, D];
    dims[`k_${out}`] = [batch, H, D, S];
  }
  const feeds = feedsOf(on, dims);
  const a = on.runSync(feeds), b = off.runSync(feeds), c = await on.run(feeds);
  for (const name of on.outputNames) {
    assert.deepEqual(a[name].data, b[name].data, name);
    assert.deepEqual(c[name].data, b[name].data, name);
  }
  // The two row masks rode in the batched scores GEMM's epilogue; the other three were added.
  const keys = on.kernelStats().keys.map((k) => k.key);
  const biased = keys.filter((k) => k.startsWith("gemm") && k.includes("+bias ×3"));
  assert.equal(biased.length, 1, keys.join("\n"));
  assert.equal(on.kernelStats().keys.find((k) => k.key === biased[0])!.calls, 4, keys.join("\n"));
  assert.equal(keys.filter((k) => k.startsWith("add")).length, 3, keys.join("\n"));
  await on.release();
  await off.release();
});
