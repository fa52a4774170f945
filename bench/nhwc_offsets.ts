/**
 * NHWC depthwise convolutions with x and y on a cache line against 16 bytes
 * past one (where a JS Float32Array usually starts): each layer's two calls
 * alternating in one process, median µs of each (the kernel starts its
 * channel vectors on x's lines, see src/kernels/conv/depthwise_nhwc.ts).
 *
 *   deno run -A bench/nhwc_offsets.ts [--threads 1] [--runs 200]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { viewAddress } from "../src/native/memory.ts";

const { values } = parseArgs({
  options: { threads: { type: "string", default: "1" }, runs: { type: "string", default: "200" } },
});
const threads = Number(values.threads), runs = Number(values.runs);
using jit = new Jit({ threads, tuneBudget: 0 });

/** [channels, h (= w), stride] of 3×3 depthwise layers (MobileNetV2's). */
const LAYERS: [number, number, number][] = [[576, 14, 1], [32, 112, 1], [96, 112, 2], [144, 56, 1]];

/** `count` floats starting `floats` floats past a 64-byte line. */
function placed(count: number, floats: number): Float32Array {
  const buf = new Float32Array(count + 32);
  const skip = ((64 - (viewAddress(buf) % 64)) % 64) / 4;
  return buf.subarray(skip + floats, skip + floats + count);
}

const median = (t: number[]) => t.sort((a, b) => a - b)[t.length >> 1] * 1000;
console.log(`${threads} thread(s), ${runs} runs each, alternating; median µs`);
console.log("layer (3×3, relu, packed weights)   on a line µs   16 B past µs   past/on");
for (const [c, h, s] of LAYERS) {
  const oh = Math.floor((h + 2 - 3) / s) + 1;
  const w = new Float32Array(c * 9).map((_, i) => Math.cos(i) * 0.1);
  const wp = jit.packConvWeights(w, { outChannels: c, c, kernel: [3, 3], group: c });
  const o = {
    n: 1,
    c,
    h,
    w: h,
    outChannels: c,
    kernel: [3, 3],
    strides: [s, s],
    pads: [1, 1, 1, 1],
    group: c,
    activation: "relu" as const,
    layout: "nhwc" as const,
  };
  const sets = [0, 4].map((floats) => {
    const x = placed(c * h * h, floats), y = placed(c * oh * oh, floats);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i);
    return { x, y, t: [] as number[] };
  });
  for (let i = 0; i < 50; i++) for (const q of sets) jit.conv2d(q.x, wp, q.y, o);
  for (let i = 0; i < runs; i++) {
    for (const q of sets) {
      const t = performance.now();
      jit.conv2d(q.x, wp, q.y, o);
      q.t.push(performance.now() - t);
    }
  }
  const [on, past] = sets.map((q) => median(q.t));
  console.log(
    `${`${c} on ${h}²${s > 1 ? ` stride ${s}` : ""}`.padEnd(34)} ${on.toFixed(1).padStart(13)} ${
      past.toFixed(1).padStart(14)
    } ${(past / on).toFixed(2).padStart(9)}`,
  );
}
