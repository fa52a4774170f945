/**
 * One 3×3 convolution (pads 1, bias, ReLU, weights packed once) at several
 * input depths and image sizes, taking turns in one process: whether a
 * layer's time per FLOP grows with its k loop (fixed work per tile: the
 * store's transposes, the tile's setup) or with its image (x and y passing
 * through L2). Prints each shape's median µs per call and GFLOPS.
 *
 *   deno run -A bench/conv_footprint.ts [--shapes "64,56,64;128,56,64;64,14,64"] [--threads 1]
 *
 * A shape is `c,h,oc[,w]` (w defaults to h). Run it with `NJIT_CODE_CACHE=off`
 * to compile this checkout's kernels rather than load cached ones.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "64,56,64;128,56,64;256,56,64;64,28,64;64,14,64" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "40" },
  },
});
const jit = new Jit({ tuneBudget: 0, threads: Number(values.threads) });
let seed = 7;
const rand = (m: number) =>
  Float32Array.from({ length: m }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  });
const cases = values.shapes!.split(";").map((text) => {
  const [c, h, oc, wArg] = text.split(",").map(Number);
  const w = wArg ?? h;
  const x = rand(c * h * w), y = new Float32Array(oc * h * w), bias = rand(oc);
  const wp = jit.packConvWeights(rand(oc * c * 9), { outChannels: oc, c, kernel: [3, 3] });
  const o = {
    n: 1,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    bias,
    activation: "relu" as const,
  };
  return {
    name: `${c}→${oc} on ${h}×${w}`,
    call: () => jit.conv2d(x, wp, y, o),
    flops: 2 * c * oc * h * w * 9,
  };
});
const times: number[][] = cases.map(() => []);
for (let round = 0; round < Number(values.rounds); round++) {
  cases.forEach(({ call }, i) => {
    call();
    call();
    const t0 = performance.now();
    for (let j = 0; j < 4; j++) call();
    times[i].push(((performance.now() - t0) / 4) * 1000);
  });
}
console.log(
  `3×3 pads 1 +bias relu, ${values.threads} thread(s), medians of ${values.rounds} rounds`,
);
cases.forEach(({ name, flops }, i) => {
  const us = median(times[i]);
  console.log(
    `${name.padEnd(20)} ${us.toFixed(1).padStart(8)} µs ${
      (flops / us / 1e3).toFixed(1).padStart(6)
    } GFLOPS`,
  );
});
