/**
 * The 8-bit convolution (`jit.convInt8`, requantized uint8 out, one
 * multiplier per channel) on common layers, against our 8-bit GEMM of the
 * same product (m = output positions, n = channels, k = c·kh·kw: the
 * im2col-free kernel's bound), our float convolution of the layer, and
 * ONNX Runtime's QLinearConv of it (one node, same process), medians in µs.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/qconv.ts [--threads N] [--runs N] [--tiles]
 *
 * With --tiles, each layer's key is tuned (tier 2) instead, and every tile
 * shape's median as tier 2 measured it on the live calls is printed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { qconvLayer } from "./qconv_layer.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { loadOrt } from "../tests/helpers/ort.ts";
import { sleepMs } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "60" },
    tiles: { type: "boolean", default: false },
  },
});
const threads = Number(values.threads), runs = Number(values.runs);
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

/** [c, oc, size, kernel, stride] */
const LAYERS: [number, number, number, number, number][] = [
  [3, 64, 224, 3, 2],
  [64, 64, 56, 3, 1],
  [64, 128, 56, 3, 2],
  [128, 128, 28, 3, 1],
  [256, 256, 14, 3, 1],
  [256, 64, 56, 1, 1],
  [512, 512, 7, 3, 1],
  [3, 64, 224, 7, 2],
];

if (values.tiles) {
  for (const [c, oc, size, k, s] of LAYERS) {
    using tuned = new Jit({ threads });
    // The layer the comparison below times (the same operands and options).
    const { o, x, w, opts } = qconvLayer(c, oc, size, k, s);
    const packed = tuned.packConvInt8(w, { outChannels: oc, c, kernel: [k, k] });
    const y = new Uint8Array(oc * o * o);
    tuned.warmup(true);
    for (let i = 0; i < 5000; i++) {
      tuned.convInt8(x, packed, y, opts);
      if (i > 5 && tuned.stats().keys[0].tuning?.state === "done") break;
    }
    tuned.warmup(false);
    const t = tuned.stats().keys[0].tuning!;
    const tile = (plan: string) => plan.replace(/.*pixel words, | positions of vpdpbusd/g, "");
    console.log(
      `${c}→${oc} ${k}×${k}/${s} on ${size}²: ${
        t.candidates.map((cd) => `${tile(cd.plan)} ${cd.medianUs?.toFixed(0)} µs`).join(" | ")
      } → ${tile(t.candidates[t.winner!].plan)}`,
    );
  }
  Deno.exit(0);
}

const ort = await loadOrt();
if (!ort) console.log("onnxruntime-node not loaded: its column is skipped");
using jit = new Jit({ threads, tuneBudget: 0 });
console.log(`${threads} thread(s), ${runs} runs each, medians`);
for (const [c, oc, size, k, s] of LAYERS) {
  const { o, x, w, opts } = qconvLayer(c, oc, size, k, s);
  const { bias, scale, pads } = opts;
  const pad = pads[0];
  const packed = jit.packConvInt8(w, { outChannels: oc, c, kernel: [k, k] });
  const y = new Uint8Array(oc * o * o);
  const m = o * o, kk = c * k * k, k4 = Math.ceil(kk / 4) * 4;
  const a = Uint8Array.from({ length: m * k4 }, (_, i) => (i * 5) & 255);
  const pb = jit.packInt8B(Int8Array.from({ length: kk * oc }, (_, i) => (i & 255) - 128), {
    k: kk,
    n: oc,
  });
  const c32 = new Int32Array(m * oc);
  const xf = Float32Array.from(x), wf = Float32Array.from(w), yf = new Float32Array(oc * o * o);
  const fopts = { ...opts, bias: Float32Array.from(bias) } as Record<string, unknown>;
  for (const key of ["xZeroPoint", "scale", "yZeroPoint"]) delete fopts[key];
  let session: { run(f: Record<string, unknown>): Promise<unknown> } | null = null;
  let feeds: Record<string, unknown> = {};
  if (ort) {
    const g = new GraphBuilder();
    g.input("x", "uint8", [1, c, size, size]);
    g.initializer("xs", { type: "float32", dims: [], data: [0.02] });
    g.initializer("xz", { type: "uint8", dims: [], data: [120] });
    g.initializer("w", { type: "int8", dims: [oc, c, k, k], data: Array.from(w) });
    g.initializer("ws", {
      type: "float32",
      dims: [oc],
      data: Array.from(scale, (v) => v / 0.02 * 0.05),
    });
    g.initializer("wz", { type: "int8", dims: [oc], data: new Array(oc).fill(0) });
    g.initializer("ys", { type: "float32", dims: [], data: [0.05] });
    g.initializer("yz", { type: "uint8", dims: [], data: [128] });
    g.initializer("b", { type: "int32", dims: [oc], data: Array.from(bias) });
    g.node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], {
      kernel_shape: [k, k],
      strides: [s, s],
      pads: [pad, pad, pad, pad],
    });
    g.output("y", "uint8", [1, oc, o, o]);
    session = await ort.InferenceSession.create(g.toBytes(), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    feeds = { x: new ort.Tensor("uint8", x, [1, c, size, size]) };
  }
  // Each contender in a block of its own after an idle pause: ONNX Runtime's pool spins after
  // its runs and would take the core our workers wake on.
  const time = async (call: () => unknown) => {
    sleepMs(200);
    const t: number[] = [];
    for (let r = 0; r < runs + 5; r++) {
      const t0 = performance.now();
      await call();
      if (r >= 5) t.push(performance.now() - t0);
    }
    return median(t);
  };
  const q = await time(() => jit.convInt8(x, packed, y, opts));
  const g = await time(() => jit.gemmInt8(a, pb, c32, { m, n: oc, k: kk }));
  const fl = await time(() => jit.conv2d(xf, wf, yf, fopts as never));
  const ox = session ? await time(() => session!.run(feeds)) : NaN;
  await (session as { release?: () => Promise<void> } | null)?.release?.();
  const ops = 2 * m * oc * kk, us = (v: number) => (v * 1000).toFixed(0).padStart(5);
  console.log(
    `${c}→${oc} ${k}×${k}/${s} on ${size}²: convInt8 ${us(q)} µs (${
      (ops / q / 1e6).toFixed(0)
    } GOPS) | gemmInt8 ${us(g)} (×${(g / q).toFixed(2)}) | float conv ${us(fl)} (×${
      (fl / q).toFixed(2)
    }) | ORT QLinearConv ${session ? `${us(ox)} (×${(ox / q).toFixed(2)})` : "—"}`,
  );
}
