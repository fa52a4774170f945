/**
 * A ResNet-style network on one 224×224 image, layer by layer through the
 * JIT: the stem (7×7/2 conv with its BatchNormalization folded in, ReLU
 * fused; 3×3/2 max pool), two basic blocks at 56² (3×3 convs, the second
 * adding the shortcut and applying ReLU in its store), a downsampling block
 * to 128 channels at 28² (3×3/2, and a 1×1/2 projection shortcut), global
 * average pooling and a 128→1000 classifier (GEMM + bias). Weights come
 * from a fixed seed and are packed once. Per layer: median µs, GFLOPS and
 * % of the FMA peak measured in the same run on as many threads; then the
 * whole network, its logits checked against a run at the scalar ISA level.
 *
 *   deno task cnn [--threads N] [--json]   (default: the CPUs this process may use)
 */
import { parseArgs } from "node:util";
import { type Conv2dOptions, foldBatchNorm, Jit, measurePeak } from "../mod.ts";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
    threads: { type: "string" },
  },
});
if (values.help) {
  console.log("usage: deno task cnn [--threads N] [--json]");
  Deno.exit(0);
}

/** mulberry32: the same weights on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const r = rng(224);
const uniform = (n: number, scale: number) => new Float32Array(n).map(() => (r() * 2 - 1) * scale);

using jit = new Jit({ threads: values.threads === undefined ? undefined : Number(values.threads) });
const threads = jit.threads;

/** One step of the network: what it runs, and its multiply-adds. */
interface Layer {
  name: string;
  macs: number;
  run: (j: Jit) => void;
}
const layers: Layer[] = [];

/** A conv layer (He-uniform weights, a BatchNormalization folded in), output allocated here. */
function conv(
  name: string,
  x: Float32Array,
  c: number,
  hw: number,
  oc: number,
  k: number,
  stride: number,
  extra: Partial<Conv2dOptions> = {},
): { y: Float32Array; hw: number } {
  const pad = Math.floor(k / 2), out = Math.floor((hw + 2 * pad - k) / stride) + 1;
  const w = uniform(oc * c * k * k, Math.sqrt(6 / (c * k * k)));
  const bn = {
    scale: new Float32Array(oc).map(() => 0.5 + r()),
    bias: uniform(oc, 0.1),
    mean: uniform(oc, 0.1),
    variance: new Float32Array(oc).map(() => 0.5 + r()),
    outChannels: oc,
  };
  const folded = foldBatchNorm(w, undefined, bn);
  const packed = jit.packConvWeights(folded.w, { outChannels: oc, c, kernel: [k, k] });
  const y = new Float32Array(oc * out * out);
  const o: Conv2dOptions = {
    n: 1,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [k, k],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
    bias: folded.bias,
    ...extra,
  };
  layers.push({
    name,
    macs: oc * out * out * c * k * k,
    run: (j) => j.conv2d(x, j === jit ? packed : folded.w, y, o),
  });
  return { y, hw: out };
}

const image = new Float32Array(3 * 224 * 224).map(() => r());
const stem = conv("conv1 7×7/2 3→64 +bn +relu", image, 3, 224, 64, 7, 2, { activation: "relu" });
const pooled = new Float32Array(64 * 56 * 56);
layers.push({
  name: "max pool 3×3/2",
  macs: 0,
  run: (j) =>
    j.pool("max", stem.y, pooled, {
      n: 1,
      c: 64,
      h: 112,
      w: 112,
      kernel: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
    }),
});
let x: Float32Array = pooled;
for (const b of [1, 2]) {
  const a = conv(`block${b} 3×3 64→64 +relu`, x, 64, 56, 64, 3, 1, { activation: "relu" });
  const out = conv(`block${b} 3×3 64→64 +shortcut +relu`, a.y, 64, 56, 64, 3, 1, {
    residual: x,
    activation: "relu",
  });
  x = out.y;
}
const short = conv("down 1×1/2 64→128 shortcut", x, 64, 56, 128, 1, 2);
const d1 = conv("down 3×3/2 64→128 +relu", x, 64, 56, 128, 3, 2, { activation: "relu" });
const d2 = conv("down 3×3 128→128 +shortcut +relu", d1.y, 128, 28, 128, 3, 1, {
  residual: short.y,
  activation: "relu",
});
const features = new Float32Array(128);
layers.push({
  name: "global average pool",
  macs: 0,
  run: (j) => j.pool("globalAverage", d2.y, features, { n: 1, c: 128, h: 28, w: 28 }),
});
const fcW = uniform(1000 * 128, Math.sqrt(6 / 128)), fcB = uniform(1000, 0.1);
const logits = new Float32Array(1000);
const fcPacked = jit.packB(fcW, { k: 128, n: 1000, transB: true });
layers.push({
  name: "fc 128→1000 +bias",
  macs: 128 * 1000,
  run: (j) =>
    j === jit
      ? j.gemm(features, fcPacked, logits, { m: 1, n: 1000, k: 128, bias: fcB })
      : j.gemm(features, fcW, logits, { m: 1, n: 1000, k: 128, transB: true, bias: fcB }),
});

const peak = measurePeak(20, threads).peakGflops;
const median = (t: number[]) => t.sort((a, b) => a - b)[t.length >> 1];
for (let i = 0; i < 5; i++) for (const l of layers) l.run(jit); // compile, warm up
const rows = layers.map((l) => {
  const t: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t0 = performance.now();
    for (let k = 0; k < 3; k++) l.run(jit);
    t.push(((performance.now() - t0) * 1000) / 3);
  }
  const us = median(t), gflops = (2 * l.macs) / us / 1e3;
  return { layer: l.name, us, gflops, pctPeak: l.macs ? (100 * gflops) / peak : null };
});
// The network as a model runs it: workers held awake from layer to layer (Jit.holdWorkers).
jit.holdWorkers(true);
const whole: number[] = [];
for (let i = 0; i < 15; i++) {
  const t0 = performance.now();
  for (const l of layers) l.run(jit);
  whole.push((performance.now() - t0) * 1000);
}
jit.holdWorkers(false);
const totalUs = median(whole), totalMacs = layers.reduce((s, l) => s + l.macs, 0);
// The same layers at the scalar ISA level on one thread: other code, other sums, same network.
const got = logits.slice();
{
  using ts = new Jit({ maxIsa: "scalar", threads: 1 });
  for (const l of layers) l.run(ts);
}
let worst = 0;
for (let i = 0; i < 1000; i++) {
  worst = Math.max(worst, Math.abs(got[i] - logits[i]) / (1 + Math.abs(logits[i])));
}

if (values.json) {
  console.log(JSON.stringify({ threads, peakGflops: peak, rows, totalUs, worst }, null, 2));
} else {
  console.log(
    `ResNet-style CNN on 224², ${jit.isa}, ${threads} thread${threads > 1 ? "s" : ""}, FMA peak ${
      peak.toFixed(1)
    } GFLOPS`,
  );
  console.log("layer                                   µs    GFLOPS  % peak");
  for (const row of rows) {
    console.log(
      `${row.layer.padEnd(36)} ${row.us.toFixed(1).padStart(8)} ${
        row.gflops.toFixed(1).padStart(8)
      } ${row.pctPeak === null ? "      —" : `${row.pctPeak.toFixed(1).padStart(6)}%`}`,
    );
  }
  const g = (2 * totalMacs) / totalUs / 1e3;
  console.log(
    `whole network: ${(totalUs / 1000).toFixed(2)} ms, ${g.toFixed(1)} GFLOPS (${
      ((100 * g) / peak).toFixed(1)
    }% of peak); ` +
      `logits vs the scalar-level run: largest relative difference ${worst.toExponential(1)}`,
  );
}
