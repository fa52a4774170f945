/**
 * One Conv(+bias)+Relu layer as an ONNX model, ours against onnxruntime-node 1.30 in the same
 * process, runs alternating: NCHW in and out on both sides (ORT reorders to its NCHWc at the
 * boundary, as it does not inside a model).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/conv_vs_ort.ts 64,56,64,3,1 [threads]   # c,hw,oc,k,stride
 *
 * @module
 */
const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
const [c, hw, oc, k, st] = (Deno.args[0] ?? "64,56,64,3,1").split(",").map(Number);
const threads = Number(Deno.args[1] ?? 1);
const g = new GraphBuilder(13);
g.input("x", "float32", [1, c, hw, hw]);
const p = Math.floor(k / 2);
const y = g.op("Conv", [
  "x",
  g.weight("w", [oc, c, k, k], seededFloats(oc * c * k * k, 1, 0.1)),
  g.weight("b", [oc], seededFloats(oc, 2, 0.1)),
], { kernel_shape: [k, k], strides: [st, st], pads: [p, p, p, p] });
g.output(g.op("Relu", [y], {}, "y"), "float32", null);
const bytes = g.toBytes();
const o = await InferenceSession.create(
  bytes,
  { intraOpNumThreads: threads, tuneBudget: 0 } as never,
);
const r = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads });
const x = new Float32Array(c * hw * hw).map((_, i) => Math.sin(i));
const ft = { x: new Tensor("float32", x, [1, c, hw, hw]) };
const fo = { x: new ort.Tensor("float32", x, [1, c, hw, hw]) };
// Both write into a given output tensor: a fresh one per run costs each side its page
// faults (here ~12 µs a 4 KiB page, 2.4 ms for 56²×64 floats), which is not the convolution.
const yDims = [1, oc, Math.floor((hw + 2 * p - k) / st) + 1, Math.floor((hw + 2 * p - k) / st) + 1];
const yCount = yDims.reduce((a, b) => a * b);
const yo = { y: new Tensor("float32", new Float32Array(yCount), yDims) };
const yr = { y: new ort.Tensor("float32", new Float32Array(yCount), yDims) };
for (let i = 0; i < 5; i++) {
  o.runSync(ft, yo);
  await r.run(fo, yr);
}
const to: number[] = [], tr: number[] = [];
for (let i = 0; i < 60; i++) {
  let t = performance.now();
  o.runSync(ft, yo);
  to.push(performance.now() - t);
  t = performance.now();
  await r.run(fo, yr);
  tr.push(performance.now() - t);
}
const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1] * 1000;
const oh = Math.floor((hw + 2 * p - k) / st) + 1;
const fl = 2 * oc * oh * oh * c * k * k;
console.log(
  `conv ${c}→${oc} ${hw}² k${k} s${st} ${threads}T: ours ${med(to).toFixed(0)} µs (${
    (fl / med(to) / 1e3).toFixed(0)
  } GFLOPS), ORT ${med(tr).toFixed(0)} µs (${(fl / med(tr) / 1e3).toFixed(0)} GFLOPS), ×${
    (med(tr) / med(to)).toFixed(2)
  }`,
);
