/**
 * A 1×1 stride-1 NCHW convolution against our own GEMM on the same
 * operands: y[oc × hw] = relu(w[oc × c] · x[c × hw]), no bias (the GEMM's
 * bias runs along columns, the convolution's along rows). Both run the same
 * microkernel and sum each output in the same order, so their outputs are
 * compared bit for bit (but where the convolution sums its input channels
 * in halves, k_halves.ts, whose bits differ by design); what the time says
 * is what the convolution's own loops, prefetches and stores cost beside
 * the GEMM's. Calls alternate in
 * windows in one process; medians of the windows.
 *
 *   deno run -A bench/conv_vs_gemm.ts [--layers 64,56,256;64,28,256;256,56,64] [--rounds 40]
 *
 * Each layer is `c,h,oc` (a square h × h image, batch 1, weights packed once).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    layers: { type: "string", default: "64,28,256;64,40,256;64,56,256;64,56,64;256,56,64" },
    rounds: { type: "string", default: "40" },
  },
});
using jit = new Jit({ threads: 1 });
console.log(
  `conv2d 1×1 (NCHW, relu, weights packed) against gemm(w, x) on the same operands, ${jit.isa}, 1 thread`,
);
console.log("c,h,oc          conv µs   gemm µs  conv÷gemm  conv plan | gemm plan");
for (const layer of values.layers.split(";")) {
  const [c, h, oc] = layer.split(",").map(Number);
  const hw = h * h, flops = 2 * oc * c * hw;
  const x = new Float32Array(c * hw).map((_, i) => Math.sin(i));
  const w = new Float32Array(oc * c).map((_, i) => Math.cos(i) * 0.1);
  const yConv = new Float32Array(oc * hw), yGemm = new Float32Array(oc * hw);
  const wp = jit.packConvWeights(w, { outChannels: oc, c, kernel: [1, 1], group: 1 });
  const calls = [
    () =>
      jit.conv2d(x, wp, yConv, {
        n: 1,
        c,
        h,
        w: h,
        outChannels: oc,
        kernel: [1, 1],
        activation: "relu",
      }),
    () => jit.gemm(w, x, yGemm, { m: oc, n: hw, k: c, activation: "relu" }),
  ];
  const reps = Math.max(2, Math.round(2e8 / flops));
  const samples: number[][] = calls.map(() => []);
  for (let r = 0; r < Number(values.rounds); r++) {
    calls.forEach((call, i) => {
      call();
      const t0 = performance.now();
      for (let k = 0; k < reps; k++) call();
      samples[i].push((performance.now() - t0) * 1e3 / reps);
    });
  }
  const plan = (prefix: string) =>
    jit.stats().keys.find((k) => k.key.startsWith(prefix))?.plan ?? "?";
  // A narrowing layer on a small image sums its input channels in halves (k_halves.ts): other
  // bits than one FMA chain, by design; every other layer must give the GEMM's.
  const halves = plan(`conv2d 1×${c}×${h}×${h} → ${oc}×`).includes("in halves");
  for (let i = 0; i < yConv.length && !halves; i++) {
    if (!Object.is(yConv[i], yGemm[i])) {
      throw new Error(`${layer}: conv and gemm differ at ${i}: ${yConv[i]} against ${yGemm[i]}`);
    }
  }
  const [conv, gemm] = samples.map(median);
  console.log(
    `${layer.padEnd(14)} ${conv.toFixed(1).padStart(8)} ${gemm.toFixed(1).padStart(9)} ${
      (conv / gemm).toFixed(3).padStart(10)
    }  ${plan(`conv2d 1×${c}×${h}×${h} → ${oc}×`)} | ${plan(`gemm ${oc}x${hw}x${c} `)}`,
  );
}
