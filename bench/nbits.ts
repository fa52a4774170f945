/**
 * 4-bit weights (ONNX Runtime's MatMulNBits, bits 4): `jit.matmulNBits`
 * against the float GEMM on the same weights dequantized (one Jit), and a
 * MatMulNBits model against onnxruntime-node in one process (medians; ORT
 * skipped with a note when it is not installed). Rows 1-4 are a decoder's
 * steps: bound by reading the weights, at 4 bits an eighth of the floats'.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/nbits.ts [--threads N] [--shape 4096x4096] [--rows 1,4,16]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit, packNBits, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    shape: { type: "string", default: "4096x4096" },
    rows: { type: "string", default: "1,4,16" },
    block: { type: "string", default: "32" },
  },
});
const threads = Number(values.threads), block = Number(values.block);
const [K, N] = values.shape!.split("x").map(Number);
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const blocks = Math.ceil(K / block);
const q = Uint8Array.from({ length: (N * blocks * block) / 2 }, (_, i) => (i * 73 + 11) & 255);
const scales = Float32Array.from({ length: N * blocks }, (_, i) => 0.01 + (i % 7) * 0.001);

function time(f: () => void | Promise<void>, inner: number): Promise<number> {
  return (async () => {
    for (let i = 0; i < 3; i++) await f();
    const t: number[] = [];
    for (let r = 0; r < 11; r++) {
      const t0 = performance.now();
      for (let i = 0; i < inner; i++) await f();
      t.push((performance.now() - t0) / inner);
    }
    return median(t);
  })();
}

// The kernels alone: 4-bit against the float GEMM of the same shape.
{
  using jit = new Jit({ threads, tuneBudget: 0 });
  const w = packNBits({ k: K, n: N, block, q, scales });
  const wf = new Float32Array(K * N).map((_, i) => Math.sin(i));
  const pb = jit.packB(wf, { k: K, n: N });
  for (const m of values.rows!.split(",").map(Number)) {
    const a = Float32Array.from({ length: m * K }, (_, i) => Math.cos(i));
    const y = new Float32Array(m * N);
    const t4 = await time(() => jit.matmulNBits(a, w, y, { m }), 10);
    const tf = await time(() => jit.gemm(a, pb, y, { m, n: N, k: K }), 10);
    const gb = (w.weights.length + 4 * w.scales.length) / t4 / 1e6;
    console.log(
      `kernel ${m}x${K}x${N} ${threads}T: 4-bit ${t4.toFixed(3)} ms (weights ${
        gb.toFixed(1)
      } GB/s)` +
        `, float GEMM ${tf.toFixed(3)} ms, ×${(tf / t4).toFixed(2)}`,
    );
  }
}

// The op in a model, against onnxruntime-node.
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.log(`onnxruntime-node not available (${(e as Error).message}): ORT skipped`);
}
for (const m of values.rows!.split(",").map(Number)) {
  const g = new GraphBuilder(17);
  g.extraOpsets.push(["com.microsoft", 1]);
  g.input("a", "float32", [m, K]);
  const qi = g.initializer("q", { type: "uint8", dims: [N, blocks, block / 2], data: q });
  const si = g.initializer("s", { type: "float32", dims: [N * blocks], data: scales });
  g.node(
    "MatMulNBits",
    ["a", qi, si],
    ["y"],
    { K, N, bits: 4, block_size: block },
    "com.microsoft",
  );
  g.output("y");
  const bytes = g.toBytes();
  const a = Float32Array.from({ length: m * K }, (_, i) => Math.cos(i));
  const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const feeds = { a: new Tensor("float32", a, [m, K]) };
  const inner = m <= 4 ? 20 : 5;
  const to = await time(() => void ours.runSync(feeds), inner);
  let line = `model ${m}x${K}x${N} ${threads}T: ours ${to.toFixed(3)} ms`;
  if (ort) {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads });
    const f = { a: new ort.Tensor("float32", a, [m, K]) };
    const tt = await time(async () => void await s.run(f), inner);
    line += `, ORT ${tt.toFixed(3)} ms, ×${(tt / to).toFixed(2)}`;
  }
  console.log(line);
  await ours.release();
}
