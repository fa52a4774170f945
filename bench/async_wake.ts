/**
 * What an `await` off the event loop costs after the threads involved have
 * been idle: an empty call list's round trip right after another and after
 * an idle pause; one GEMM async against on the calling thread, each after
 * an idle pause and back to back; and ten GEMMs in one list (the kernel's
 * own speed on Deno's blocking thread, the hop shared by ten). Medians in
 * µs over interleaved rounds, one process.
 *
 *   deno run -A bench/async_wake.ts [--shape 64x1024x1024] [--idle 5] [--rounds 60] [--threads 1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "64x1024x1024" },
    idle: { type: "string", default: "5" },
    rounds: { type: "string", default: "60" },
    threads: { type: "string", default: "1" },
  },
});
const [m, n, k] = values.shape.split("x").map(Number);
const idleMs = Number(values.idle), rounds = Number(values.rounds);
using jit = new Jit({ threads: Number(values.threads), tuneBudget: 0 });
const a = new Float32Array(m * k).fill(1), c = new Float32Array(m * n);
const b = jit.packB(new Float32Array(k * n).fill(1), { k, n, layout: "panels" });
const x = new Float32Array(16), y = new Float32Array(16);
const gemm = () => jit.gemm(a, b, c, { m, n, k });
const ten = () => {
  for (let i = 0; i < 10; i++) gemm();
};
const empty = () => jit.unary("relu", x, y);
for (let i = 0; i < 10; i++) {
  ten();
  await jit.async(ten);
  await jit.async(empty);
}
const idle = () => new Promise((r) => setTimeout(r, idleMs));
const samples = new Map<string, number[]>();
const time = async (name: string, f: () => unknown, per = 1) => {
  const t0 = performance.now();
  await f();
  const us = ((performance.now() - t0) * 1000) / per;
  samples.set(name, [...(samples.get(name) ?? []), us]);
};
for (let r = 0; r < rounds; r++) {
  await jit.async(empty);
  await time("empty list, right after another", () => jit.async(empty));
  await idle();
  await time(`empty list, after ${idleMs} ms idle`, () => jit.async(empty));
  await jit.async(gemm);
  await time("one GEMM async, right after another", () => jit.async(gemm));
  await idle();
  await time(`one GEMM async, after ${idleMs} ms idle`, () => jit.async(gemm));
  gemm();
  await time("one GEMM on this thread, right after another", gemm);
  await idle();
  await time(`one GEMM on this thread, after ${idleMs} ms idle`, gemm);
  await time("ten GEMMs in one list, per GEMM", () => jit.async(ten), 10);
  await time("ten GEMMs on this thread, per GEMM", ten, 10);
}
console.log(`${m}×${n}×${k}, ${values.threads} thread(s), ${rounds} rounds, medians:`);
for (const [name, v] of samples) console.log(`  ${name.padEnd(44)} ${median(v).toFixed(0)} µs`);
