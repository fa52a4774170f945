/**
 * Convolutions on plain weights (a Float32Array each call) against the same
 * weights packed once (`jit.packConvWeights`): each layer's two calls
 * alternating in one process, median µs of each, the kernels each took, and
 * whether the two outputs have the same bits. A plain ConvTranspose of
 * stride 2 is repacked on every call (`jit.convTranspose2d`); a plain conv2d
 * runs the kernels that read the ONNX layout as it is, but NHWC depthwise
 * (the last rows), which transposes plain weights in every part.
 *
 *   deno run -A bench/plain_weights.ts [--threads 1] [--runs 60]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";

const { values } = parseArgs({
  options: { threads: { type: "string", default: "1" }, runs: { type: "string", default: "60" } },
});
const threads = Number(values.threads), runs = Number(values.runs);
using jit = new Jit({ threads });

/**
 * [transposed, c, h (= w), outChannels, kernel, stride, depthwise NHWC]: MobileNet-, ResNet- and
 * U-Net-style layers.
 */
const LAYERS: [boolean, number, number, number, number, number, boolean][] = [
  [true, 64, 80, 64, 2, 2, false],
  [true, 128, 28, 64, 2, 2, false],
  [true, 32, 56, 16, 3, 2, false],
  [false, 576, 14, 96, 1, 1, false],
  [false, 320, 7, 1280, 1, 1, false],
  [false, 512, 7, 512, 3, 1, false],
  [false, 64, 56, 64, 3, 1, false],
  [false, 576, 14, 576, 3, 1, true],
  [false, 32, 112, 32, 3, 1, true],
  [false, 96, 112, 96, 3, 2, true],
];

const median = (t: number[]) => t.sort((a, b) => a - b)[t.length >> 1] * 1000;

console.log(`${threads} thread(s), ${runs} runs each, alternating; median µs`);
console.log(
  "layer                                   plain µs  packed µs  plain/packed  same bits  kernels (plain / packed)",
);
for (const [transposed, c, h, oc, k, stride, dw] of LAYERS) {
  const x = new Float32Array(c * h * h).map((_, i) => Math.sin(i));
  const group = dw ? c : 1;
  const w = new Float32Array((oc * c * k * k) / group).map((_, i) => Math.cos(i) * 0.01);
  const bias = new Float32Array(oc).map((_, i) => i / oc);
  const pad = transposed ? 0 : (k - 1) / 2;
  const o = {
    n: 1,
    c,
    h,
    w: h,
    outChannels: oc,
    kernel: [k, k],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
    ...(transposed && k === 3 ? { pads: [1, 1, 0, 0], outputPadding: [0, 0] } : {}),
    bias,
    activation: "relu" as const,
    ...(dw ? { group, layout: "nhwc" as const } : {}),
  };
  const oh = transposed
    ? stride * (h - 1) + k - o.pads[0] - o.pads[2]
    : Math.floor((h + 2 * pad - k) / stride) + 1;
  const y = new Float32Array(oc * oh * oh), yPacked = new Float32Array(y.length);
  const packed = jit.packConvWeights(w, { outChannels: oc, c, kernel: [k, k], transposed, group });
  const call = transposed
    ? (wt: Float32Array | typeof packed, out: Float32Array) => jit.convTranspose2d(x, wt, out, o)
    : (wt: Float32Array | typeof packed, out: Float32Array) => jit.conv2d(x, wt, out, o);
  for (let i = 0; i < 120; i++) { // past tier 1's threshold for both keys
    call(w, y);
    call(packed, yPacked);
  }
  const plain: number[] = [], held: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    call(w, y);
    plain.push(performance.now() - t);
    t = performance.now();
    call(packed, yPacked);
    held.push(performance.now() - t);
  }
  const same = y.every((v, i) => Object.is(v, yPacked[i]));
  const name = `${
    transposed ? "convTranspose" : dw ? "dw NHWC" : "conv"
  } ${k}×${k}/${stride} ${c}→${oc} on ${h}²`;
  const plans = jit.stats().keys
    .filter((key) =>
      key.key.startsWith(`${transposed ? "convTranspose2d" : "conv2d"} 1×${c}×${h}×${h} → ${oc}`)
    )
    .map((key) => key.plan ?? "-");
  const [p, q] = [median(plain), median(held)];
  console.log(
    `${name.padEnd(38)} ${p.toFixed(0).padStart(9)} ${q.toFixed(0).padStart(10)} ${
      (p / q).toFixed(2).padStart(13)
    } ${String(same).padStart(10)}  ${plans.join(" / ")}`,
  );
}
