/**
 * What a plain B costs a GEMM over the same B prepacked: `jit.gemm` on B
 * as rows (at AVX2, copied into panels per call: GemmPlan.panelsCopied)
 * against the same call on `jit.packB`'s panels, taking turns in one
 * process; and a `TypedArray.set` of as many bytes as B (the machine's
 * copy rate, for scale). Medians in µs, and plain over packed.
 *
 *   deno run -A bench/copy_cost.ts [--shapes 128x768x3072,64x1024x1024] [--transB] [--runs 80]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "128x768x3072,128x3072x768,64x1024x1024,256x1024x1024" },
    transB: { type: "boolean", default: false },
    runs: { type: "string", default: "80" },
    threads: { type: "string", default: "1" },
  },
});
const runs = Number(values.runs), transB = values.transB;
using jit = new Jit({ threads: Number(values.threads) });
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
for (const shape of values.shapes!.split(",")) {
  const [m, n, k] = shape.split("x").map(Number);
  const a = rand(m * k),
    b = rand(k * n),
    c = new Float32Array(m * n),
    copy = new Float32Array(k * n);
  const packed = jit.packB(b, { k, n, transB, layout: "panels" });
  const o = { m, n, k }, plainO = { ...o, transB };
  const plain: number[] = [], prepacked: number[] = [], set: number[] = [];
  for (let r = 0; r < runs + 10; r++) {
    const t0 = performance.now();
    jit.gemm(a, b, c, plainO);
    const t1 = performance.now();
    jit.gemm(a, packed, c, o);
    const t2 = performance.now();
    copy.set(b);
    const t3 = performance.now();
    if (r < 10) continue; // warm-up: compiles, first touches
    plain.push(t1 - t0), prepacked.push(t2 - t1), set.push(t3 - t2);
  }
  const us = (x: number[]) => median(x) * 1000;
  const plan = jit.stats().keys.find((q) =>
    q.key.includes(`${m}x${n}x${k}`) && !q.key.includes("bpanels")
  )?.plan;
  console.log(
    `${shape}${transB ? " Bᵀ" : ""}: plain ${us(plain).toFixed(0)} µs, packB's panels ${
      us(prepacked).toFixed(0)
    } µs, ×${(median(plain) / median(prepacked)).toFixed(3)}; TypedArray.set of B (${
      (4 * k * n / 2 ** 20).toFixed(1)
    } MiB) ${us(set).toFixed(0)} µs (${(4 * k * n / median(set) / 1e6).toFixed(1)} GB/s) — ${
      plan ?? ""
    }`,
  );
}
