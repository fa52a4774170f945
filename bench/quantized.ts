/**
 * 8-bit inference: `jit.gemmInt8` against the float GEMM of the same shape
 * (GOPS, one Jit), and a dynamically quantized Linear layer as ONNX Runtime's
 * quantize_dynamic writes it (DynamicQuantizeLinear → MatMulInteger → Cast →
 * Mul by the scales) against its float MatMul, ours and onnxruntime-node in
 * one process (medians).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/quantized.ts [--threads N] [--shape 128x768x3072]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    shape: { type: "string", default: "128x768x3072" },
  },
});
const threads = Number(values.threads);
const [M, K, N] = values.shape!.split("x").map(Number);

// The kernels alone: gemmInt8 at the Jit's level and, where that is AMX, on VNNI too (alternating).
{
  using jit = new Jit({ threads, tuneBudget: 0 });
  using vnni = new Jit({ threads, tuneBudget: 0, maxIsa: "avx512" });
  const a = Uint8Array.from({ length: M * K }, (_, i) => (i * 7) & 255);
  const b = Int8Array.from({ length: K * N }, (_, i) => ((i * 13) & 255) - 128);
  const pb = jit.packInt8B(b, { k: K, n: N }), c = new Int32Array(M * N);
  const c2 = new Int32Array(M * N);
  // The same B at 7 bits (ONNX Runtime's reduce_range): within ±64, a kernel of its own at AVX2.
  const pb7 = jit.packInt8B(b.map((v) => v >> 1), { k: K, n: N }), c7 = new Int32Array(M * N);
  const af = Float32Array.from(a), bf = jit.packB(Float32Array.from(b), { k: K, n: N });
  const cf = new Float32Array(M * N);
  const amx = jit.isa === "amx";
  const ti: number[] = [], tv: number[] = [], tf: number[] = [], t7: number[] = [];
  for (let r = 0; r < 40; r++) {
    let t = performance.now();
    jit.gemmInt8(a, pb, c, { m: M, n: N, k: K });
    if (r >= 5) ti.push(performance.now() - t);
    t = performance.now();
    jit.gemmInt8(a, pb7, c7, { m: M, n: N, k: K });
    if (r >= 5) t7.push(performance.now() - t);
    if (amx) {
      t = performance.now();
      vnni.gemmInt8(a, pb, c2, { m: M, n: N, k: K });
      if (r >= 5) tv.push(performance.now() - t);
    }
    t = performance.now();
    jit.gemm(af, bf, cf, { m: M, n: N, k: K });
    if (r >= 5) tf.push(performance.now() - t);
  }
  if (amx && c.some((v, i) => v !== c2[i])) throw new Error("AMX and VNNI results differ");
  const ops = 2 * M * N * K, [i8, f32] = [median(ti), median(tf)];
  const planOf = (j: Jit, narrow = false) =>
    j.stats().keys.find((q) =>
      q.key.startsWith("gemmInt8") && q.key.includes("B within ±64") === narrow
    )?.plan;
  const gops = (ms: number) => (ops / ms / 1e6).toFixed(0);
  console.log(
    `${M}×${N}×${K}, ${threads} thread(s): gemmInt8 ${(i8 * 1000).toFixed(0)} µs (${
      gops(i8)
    } GOPS, ${planOf(jit)}), float gemm ${(f32 * 1000).toFixed(0)} µs (${gops(f32)} GFLOPS): ×${
      (f32 / i8).toFixed(2)
    }`,
  );
  const i7 = median(t7);
  console.log(
    `  B within ±64 (7-bit weights): ${(i7 * 1000).toFixed(0)} µs (${gops(i7)} GOPS, ${
      planOf(jit, true)
    }): ×${(i8 / i7).toFixed(2)} the full-range B's speed`,
  );
  if (amx) {
    const v = median(tv);
    console.log(
      `  the same on VNNI: ${(v * 1000).toFixed(0)} µs (${gops(v)} GOPS, ${planOf(vnni)}): ` +
        `AMX ×${(v / i8).toFixed(2)}, the same bits`,
    );
    // Above, each call finds its operands where the other calls left them (B from L3, as a
    // model's weights are); here 100 calls in a row, operands in cache: the tiles' own speed.
    const run = (j: Jit, out: Int32Array) => {
      for (let r = 0; r < 10; r++) j.gemmInt8(a, pb, out, { m: M, n: N, k: K });
      const t = performance.now();
      for (let r = 0; r < 100; r++) j.gemmInt8(a, pb, out, { m: M, n: N, k: K });
      return (performance.now() - t) / 100;
    };
    const hot: number[][] = [[], []];
    for (let round = 0; round < 3; round++) {
      hot[0].push(run(jit, c));
      hot[1].push(run(vnni, c2));
    }
    const [ha, hv] = hot.map(median);
    console.log(
      `  in a loop of 100 calls (operands in cache): AMX ${(ha * 1000).toFixed(0)} µs (${
        gops(ha)
      } GOPS), VNNI ${(hv * 1000).toFixed(0)} µs (${gops(hv)} GOPS): ×${(hv / ha).toFixed(2)}`,
    );
  }
}

// The layer, ours and ORT's.
const quantized = new GraphBuilder(11);
quantized.input("x", "float32", [M, K]);
const [q, scale, zp] = quantized.node("DynamicQuantizeLinear", ["x"], 3, {});
const w8 = Array.from({ length: K * N }, (_, i) => ((i * 37) % 255) - 127);
const W = quantized.initializer("W", { type: "int8", dims: [K, N], data: w8 });
const wz = quantized.initializer("wz", { type: "int8", dims: [], data: [0] });
const ws = quantized.initializer("ws", { type: "float32", dims: [], data: [0.01] });
const mm = quantized.op("MatMulInteger", [q, W, zp, wz]);
quantized.output(
  quantized.op(
    "Mul",
    [quantized.op("Cast", [mm], { to: 1 }), quantized.op("Mul", [scale, ws])],
    {},
    "y",
  ),
);
const float = new GraphBuilder(11);
float.input("x", "float32", [M, K]);
const Wf = float.initializer("W", { type: "float32", dims: [K, N], data: w8.map((v) => v * 0.01) });
float.output(float.op("MatMul", ["x", Wf], {}, "y"));

const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@")).catch(() => null);
const x = new Tensor("float32", new Float32Array(M * K).map((_, i) => Math.sin(i)), [M, K]);
for (
  const [name, bytes] of [["quantized layer", quantized.toBytes()], [
    "float layer",
    float.toBytes(),
  ]] as const
) {
  const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads, tuneBudget: 0 });
  const theirs = ort
    ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads })
    : null;
  const xo = ort ? new ort.Tensor("float32", x.data, [M, K]) : null;
  for (let i = 0; i < 5; i++) {
    await ours.run({ x });
    await theirs?.run({ x: xo });
  }
  const a: number[] = [], b: number[] = [];
  for (let r = 0; r < 21; r++) {
    let t = performance.now();
    await ours.run({ x });
    a.push(performance.now() - t);
    if (theirs) {
      t = performance.now();
      await theirs.run({ x: xo });
      b.push(performance.now() - t);
    }
  }
  console.log(
    `${name} ${M}×${K}→${N}: ours ${median(a).toFixed(2)} ms` +
      (theirs
        ? `, ORT ${median(b).toFixed(2)} ms: ×${(median(b) / median(a)).toFixed(2)}`
        : " (onnxruntime-node not installed)"),
  );
  await ours.release();
  await theirs?.release();
}
