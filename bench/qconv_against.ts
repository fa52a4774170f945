/**
 * `jit.convInt8` of this checkout against another checkout's, in one
 * process (the other's `mod.ts` imported from its directory: two module
 * copies, two Jits), calls alternating in blocks, the bytes compared: what
 * a change to the 8-bit convolution's kernels did, without two processes'
 * noise between the figures.
 *
 *   git worktree add /tmp/before <rev>
 *   deno run -A bench/qconv_against.ts /tmp/before [--threads 2] [--layers c,oc,hw,k,stride;...]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { qconvLayer } from "./qconv_layer.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "1" },
    layers: {
      type: "string",
      default: "32,128,28,1,1;24,96,56,1,1;256,64,14,1,1;64,64,56,3,1;64,128,56,3,2;" +
        "128,128,28,3,1;256,256,14,3,1;512,512,7,3,1;3,64,224,7,2",
    },
  },
});
if (positionals.length !== 1) {
  console.error("usage: deno run -A bench/qconv_against.ts <other checkout> [--threads N]");
  Deno.exit(2);
}
const other = await import(new URL(`file://${Deno.realPathSync(positionals[0])}/mod.ts`).href);
const threads = Number(values.threads);
const layers = values.layers!.split(";").map((l) => l.split(",").map(Number));
using theirs: Jit = new other.Jit({ threads, tuneBudget: 0 });
using ours = new Jit({ threads, tuneBudget: 0 });
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1] * 1000;

console.log(`${positionals[0]} → this checkout, ${threads} thread(s), medians of 400 calls each`);
for (const [c, oc, size, k, s] of layers) {
  const { o, x, w, opts } = qconvLayer(c, oc, size, k, s);
  const jits = [theirs, ours];
  const packed = jits.map((j) => j.packConvInt8(w, { outChannels: oc, c, kernel: [k, k] }));
  const ys = jits.map(() => new Uint8Array(oc * o * o));
  const times: number[][] = [[], []];
  for (let round = 0; round < 20; round++) {
    for (let q = 0; q < 2; q++) {
      for (let i = 0; i < 5; i++) jits[q].convInt8(x, packed[q], ys[q], opts);
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        jits[q].convInt8(x, packed[q], ys[q], opts);
        times[q].push(performance.now() - t0);
      }
    }
  }
  const differ = ys[0].findIndex((v, i) => v !== ys[1][i]);
  if (differ >= 0) throw new Error(`${c}→${oc} ${k}×${k}/${s} ${size}²: y[${differ}] differs`);
  const [before, after] = times.map(median);
  console.log(
    `${c}→${oc} ${k}×${k}/${s} on ${size}²: ${before.toFixed(1)} → ${after.toFixed(1)} µs ×${
      (before / after).toFixed(3)
    }`,
  );
}
