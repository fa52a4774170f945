/**
 * Each convolution of a model inside the model against alone: the session's
 * mean µs per call for each conv key (tier 1, one thread, over 30 runs after 5),
 * beside the same call alone on its own packed weights with its operands
 * hot (median of 15), and the totals per run: what a model's cold caches
 * cost its convolutions.
 *
 *   deno run -A bench/in_model.ts model.onnx      # an NCHW image model of 1×3×224×224
 *
 * @module
 */
import { InferenceSession, Jit, Tensor } from "../mod.ts";

if (!Deno.args[0]) {
  console.error("usage: deno run -A bench/in_model.ts model.onnx");
  Deno.exit(2);
}
const s = await InferenceSession.create(Deno.readFileSync(Deno.args[0]), {
  intraOpNumThreads: 1,
  tuneBudget: 0,
  replay: false, // replayed runs skip the per-key counters this reads
});
const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i));
const feeds = { [s.inputNames[0]]: new Tensor("float32", x, [1, 3, 224, 224]) };
// The first runs fault the arena's pages in and compile: the mean is over the 30 runs after them.
for (let i = 0; i < 5; i++) s.runSync(feeds);
const before = new Map(s.kernelStats().keys.map((k) => [k.key, k]));
for (let i = 0; i < 30; i++) s.runSync(feeds);
const jit = new Jit({ threads: 1, tuneBudget: 0 });
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
let totIn = 0, totAlone = 0;
const rows: string[] = [];
for (const k of s.kernelStats().keys) {
  const m = k.key.match(
    /^conv2d 1×(\d+)×(\d+)×(\d+) → (\d+)×(\d+)×(\d+) k(\d+)×(\d+)(?: s(\d+)×(\d+))?(?: pads=(\d+),(\d+),(\d+),(\d+))?( group=\d+)?( \+bias)?( \+residual)?( relu)?/,
  );
  if (!m || m[15]) continue;
  const [c, h, w, oc, oh, ow, kh, kw] = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => Number(m[i]));
  const st = Number(m[9] ?? 1),
    pads = m[11] ? [11, 12, 13, 14].map((i) => Number(m[i])) : [0, 0, 0, 0];
  const o = {
    n: 1,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [kh, kw],
    strides: [st, st],
    pads,
    bias: rand(oc),
    residual: m[17] ? rand(oc * oh * ow) : undefined,
    activation: m[18] ? "relu" as const : undefined,
  };
  const wt = jit.packConvWeights(rand(oc * c * kh * kw), { outChannels: oc, c, kernel: [kh, kw] });
  const xi = rand(c * h * w), y = new Float32Array(oc * oh * ow);
  for (let i = 0; i < 5; i++) jit.conv2d(xi, wt, y, o);
  const ts: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t = performance.now();
    jit.conv2d(xi, wt, y, o);
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  const b = before.get(k.key);
  const calls = (k.kernelCalls - (b?.kernelCalls ?? 0)) / 30;
  const alone = ts[7] * 1000, inModel = (k.totalUs - (b?.totalUs ?? 0)) / (calls * 30);
  totIn += inModel * calls;
  totAlone += alone * calls;
  rows.push(
    `${k.key.slice(0, 62).padEnd(62)} ×${calls.toFixed(0)} in-model ${
      inModel.toFixed(0).padStart(5)
    } alone ${alone.toFixed(0).padStart(5)} ${(inModel / alone).toFixed(2)}  ${
      k.plan?.slice(0, 40)
    }`,
  );
}
rows.sort();
console.log(rows.join("\n"));
console.log(
  `total conv per run: in-model ${(totIn / 1000).toFixed(2)} ms, alone ${
    (totAlone / 1000).toFixed(2)
  } ms`,
);
