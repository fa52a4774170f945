/**
 * What packing weights costs at create: `packB` of a transposed 768×3072
 * (a BERT FFN weight) and `packConvWeights` of a 3×3 512→512 layer (its
 * ONNX copy and, on AVX-512, its channel-vector layout) through the
 * strided copy's transposes, beside the same transposes as TypeScript
 * loops (the packers' fallback without native code). Medians of 7.
 *
 *   deno run -A bench/pack.ts
 *
 * @module
 */
import { Jit } from "../mod.ts";

const median = (f: () => void) => {
  f();
  const t: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[3];
};
const b = new Float32Array(768 * 3072).map(Math.random);
const w = new Float32Array(512 * 512 * 9).map(Math.random);
using jit = new Jit();
const pb = median(() => jit.packB(b, { k: 768, n: 3072, transB: true }));
const pw = median(() => jit.packConvWeights(w, { outChannels: 512, c: 512, kernel: [3, 3] }));
// The packers' fallback loops (no native code): the same transposes in TypeScript.
const tb = median(() => {
  const out = new Float32Array(768 * 3072);
  for (let p = 0; p < 768; p++) for (let j = 0; j < 3072; j++) out[p * 3072 + j] = b[j * 768 + p];
});
const tw = median(() => {
  const k = 512 * 9, out = new Float32Array(w.length);
  for (let o = 0; o < 512; o++) {
    const base = Math.floor(o / 16) * k * 16 + (o % 16);
    for (let j = 0; j < k; j++) out[base + j * 16] = w[o * k + j];
  }
});
console.log(
  `${jit.isa}: packB Bᵀ 768×3072 ${pb.toFixed(1)} ms (a TypeScript transpose: ${tb.toFixed(1)} ms)`,
);
console.log(
  `packConvWeights 3×3 512→512 ${
    pw.toFixed(1)
  } ms (its channel-vector layout alone in TypeScript: ${tw.toFixed(1)} ms)`,
);
