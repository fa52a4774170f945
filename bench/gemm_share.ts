/**
 * What a thread's share of a 2-thread GEMM costs against the same share
 * run alone: each shape's whole call on 2 threads, and one thread on half
 * of its columns (the first N/2, B and C at their full strides: what a
 * thread's part reads and writes), alternating in one process. A ratio of
 * 1.0 means the threads do not slow each other; above it, what the two
 * cores share (L3, memory, the host) costs that much.
 *
 *   deno run -A bench/gemm_share.ts [--shapes 256x256x256,...] [--rounds 21]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";

const { values } = parseArgs({
  options: {
    shapes: {
      type: "string",
      default: "256x256x256,512x512x512,1024x1024x1024,64x768x3072,128x3072x768",
    },
    rounds: { type: "string", default: "21" },
  },
});
using one = new Jit({ threads: 1, tuneBudget: 0 });
using two = new Jit({ threads: 2, tuneBudget: 0 });
const rounds = Number(values.rounds);
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

console.log("M×N×K            1T whole µs  1T half µs  2T whole µs  2T ÷ 1T half");
for (const shape of values.shapes.split(",")) {
  const [m, n, k] = shape.split("x").map(Number);
  const a = rand(m * k), b = rand(k * n), c = new Float32Array(m * n);
  const half = Math.ceil(n / 2);
  const calls = [
    () => one.gemm(a, b, c, { m, n, k }),
    () => one.gemm(a, b, c, { m, n: half, k, ldb: n, ldc: n }),
    () => two.gemm(a, b, c, { m, n, k }),
  ];
  const reps = Math.max(2, Math.round(2e8 / (2 * m * n * k)));
  const times = calls.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    calls.forEach((f, i) => {
      f();
      const t0 = performance.now();
      for (let j = 0; j < reps; j++) f();
      times[i].push(((performance.now() - t0) / reps) * 1000);
    });
  }
  const [whole, halfUs, both] = times.map(median);
  console.log(
    `${shape.padEnd(16)} ${whole.toFixed(0).padStart(11)} ${halfUs.toFixed(0).padStart(11)} ${
      both.toFixed(0).padStart(12)
    } ${(both / halfUs).toFixed(2).padStart(13)}`,
  );
}
