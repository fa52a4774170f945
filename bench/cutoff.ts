/**
 * Where splitting a call between threads starts to pay, per op family: each
 * call timed on one thread, split on every thread regardless of size
 * (`minPartUs: 0`), and under the policy's cut-off (the default), in one
 * run. The policy must never lose to one thread; the forced split shows
 * where the crossover lies.
 *
 *   deno run -P bench/cutoff.ts [--threads 2]
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { sleepMs } from "./timing.ts";

const { values } = parseArgs({ options: { threads: { type: "string", default: "2" } } });
const threads = Number(values.threads);
using one = new Jit({ threads: 1, profile: false });
using forced = new Jit({ threads, minPartUs: 0, profile: false });
using policy = new Jit({ threads, profile: false });

function median(f: () => void): number {
  sleepMs(20);
  const until = performance.now() + 15;
  let calls = 0;
  while (performance.now() < until || calls < 3) {
    f();
    calls++;
  }
  const reps = Math.max(1, Math.round(calls / 15));
  const t: number[] = [];
  for (let w = 0; w < 9; w++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    t.push(((performance.now() - t0) * 1000) / reps);
  }
  return t.sort((a, b) => a - b)[4];
}

type Call = (jit: Jit) => void;
const cases: [string, number[], (size: number) => Call][] = [
  ["unary exp, n", [4096, 16384, 65536, 262144], (n) => {
    const x = new Float32Array(n).fill(0.5), y = new Float32Array(n);
    return (j) => j.unary("exp", x, y);
  }],
  ["unary relu, n", [16384, 65536, 262144, 1048576], (n) => {
    const x = new Float32Array(n).fill(0.5), y = new Float32Array(n);
    return (j) => j.unary("relu", x, y);
  }],
  ["binary add, n", [16384, 65536, 262144, 1048576], (n) => {
    const x = new Float32Array(n).fill(0.5), y = new Float32Array(n);
    return (j) => j.binary("add", x, [n], x, [n], y);
  }],
  ["softmax rows×128", [16, 64, 256, 1024], (r) => {
    const x = new Float32Array(r * 128).fill(0.5), y = new Float32Array(r * 128);
    return (j) => j.softmax(x, y, { rows: r, cols: 128 });
  }],
  ["layerNorm rows×768", [8, 32, 128, 512], (r) => {
    const x = new Float32Array(r * 768).fill(0.5), y = new Float32Array(r * 768);
    return (j) => j.layerNorm(x, y, { rows: r, cols: 768 });
  }],
  ["reduce sum rows×1024", [16, 64, 256, 1024], (r) => {
    const x = new Float32Array(r * 1024).fill(0.5), y = new Float32Array(r);
    return (j) => j.reduce("sum", x, y, { rows: r, cols: 1024 });
  }],
  ["gemm n³", [32, 48, 64, 96, 128], (n) => {
    const a = new Float32Array(n * n).fill(0.5), c = new Float32Array(n * n);
    return (j) => j.gemm(a, a, c, { m: n, n, k: n });
  }],
];

console.log(`split vs one thread on ${threads} threads (µs per call, median)`);
console.log(
  "family                  size     1T µs   split µs  ×1T   policy µs  ×1T  policy threads",
);
for (const [name, sizes, make] of cases) {
  for (const size of sizes) {
    const call = make(size);
    const t1 = median(() => call(one)), ts = median(() => call(forced));
    const before = new Map(policy.stats().keys.map((k) => [k.key, k.calls]));
    const tp = median(() => call(policy));
    const used = policy.stats().keys.find((k) => k.calls !== (before.get(k.key) ?? 0))?.threads;
    console.log(
      `${name.padEnd(22)} ${String(size).padStart(7)} ${t1.toFixed(1).padStart(9)} ${
        ts.toFixed(1).padStart(10)
      } ${(t1 / ts).toFixed(2).padStart(5)} ${tp.toFixed(1).padStart(10)} ${
        (t1 / tp).toFixed(2).padStart(5)
      }  ${used ?? "?"}`,
    );
  }
}
