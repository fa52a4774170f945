/**
 * One convolution layer (bias + ReLU), plain weights against packed ones
 * (on AVX-512 the packed call may take the channel-vector kernel), each
 * timed hot and with the caches flushed before the call (as a layer runs
 * inside a model, its weights coming from DRAM). Interleaved, medians.
 *
 *   deno run -A bench/conv_layer.ts 1,512,7,7,512,3,1   # n,c,h,w,oc,kernel,stride[,group] (pads k/2)
 *
 * @module
 */
import { Jit, measurePeak } from "../mod.ts";

const [n, c, h, w, oc, kh, st, group = 1] = (Deno.args[0] ?? "1,512,7,7,512,3,1").split(",")
  .map(Number);
const p = (kh - 1) >> 1;
const oh = Math.floor((h + 2 * p - kh) / st) + 1, ow = Math.floor((w + 2 * p - kh) / st) + 1;
const rand = (k: number) => Float32Array.from({ length: k }, () => Math.random() - 0.5);
const x = rand(n * c * h * w), wt = rand((oc * c * kh * kh) / group);
const y = new Float32Array(n * oc * oh * ow);
const flush = new Float32Array(16 << 20);
const flops = (2 * n * oc * oh * ow * c * kh * kh) / group;
using jit = new Jit({ threads: 1, tuneBudget: 0 });
const o = {
  n,
  c,
  h,
  w,
  outChannels: oc,
  kernel: [kh, kh],
  strides: [st, st],
  pads: [p, p, p, p],
  group,
  bias: rand(oc),
  activation: "relu" as const,
};
const packed = jit.packConvWeights(wt, { outChannels: oc, c, kernel: [kh, kh], group });
const rows = [
  {
    name: "plain w",
    call: () => jit.conv2d(x, wt, y, o),
    hot: [] as number[],
    cold: [] as number[],
  },
  {
    name: "packed w",
    call: () => jit.conv2d(x, packed, y, o),
    hot: [] as number[],
    cold: [] as number[],
  },
];
for (const r of rows) for (let i = 0; i < 3; i++) r.call();
const peak = measurePeak(30).peakGflops;
for (let i = 0; i < 40; i++) {
  for (const r of rows) {
    r.call();
    let t = performance.now();
    r.call();
    r.hot.push(performance.now() - t);
    for (let j = 0; j < flush.length; j += 16) flush[j] += 1;
    t = performance.now();
    r.call();
    r.cold.push(performance.now() - t);
  }
}
const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1] * 1000;
const plans = jit.stats().keys.map((k) => k.plan);
console.log(
  `conv ${n}×${c}×${h}×${w} → ${oc}×${oh}×${ow} k${kh} s${st}${
    group > 1 ? ` group ${group}` : ""
  }, FMA peak ${peak.toFixed(0)} GFLOPS`,
);
for (const [i, r] of rows.entries()) {
  const g = (us: number) =>
    `${us.toFixed(0)} µs (${(flops / us / 1e3 / peak * 100).toFixed(1)}% peak)`;
  console.log(
    `${r.name.padEnd(9)} hot ${g(med(r.hot))}  cold ${g(med(r.cold))}  ${plans[i] ?? ""}`,
  );
}
// (Plain and packed weights may share a key: a depthwise call's NCHW kernels read w as it is.)
if (plans.length < rows.length) console.log(`both on: ${plans.join(" / ")}`);
