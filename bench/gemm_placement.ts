/**
 * Where B starts in a cache line, one thread: the same GEMM with B on a
 * 64-byte line and 16 bytes past one (where a large `new Float32Array`
 * lands here), timed alternately in one process, as % of the FMA peak
 * measured first. The direct driver peels B's first columns to a line
 * boundary where its plan says so (`peelsB` in `src/kernels/gemm/plan.ts`).
 *
 *   deno run -P bench/gemm_placement.ts [--shapes MxNxK,...] [--transB]
 *
 * A and B move together (both on a line, or both 16 bytes past one); the
 * plan each placement took is printed beside its figure when they differ.
 */
import { parseArgs } from "node:util";
import { Jit, measurePeak } from "../mod.ts";
import { viewAddress } from "../src/native/memory.ts";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "128x3072x768,64x768x3072,512x512x512,1024x1024x1024" },
    transB: { type: "boolean", default: false },
  },
});
const transB = values.transB;
const peak = measurePeak(20).peakGflops;
using jit = new Jit({ threads: 1 });

/** n floats starting `offset` floats past a 64-byte line, filled with f(i) in place. */
function placed(n: number, offset: number, f: (i: number) => number = () => 0): Float32Array {
  const whole = new Float32Array(n + 32);
  const skip = ((64 - (viewAddress(whole) % 64)) % 64) / 4;
  const view = whole.subarray(skip + offset, skip + offset + n);
  for (let i = 0; i < n; i++) view[i] = f(i); // not .map(): that would allocate elsewhere
  return view;
}

console.log(
  `GEMM${transB ? " (Bᵀ)" : ""}, one thread, % of ${
    peak.toFixed(1)
  } GFLOPS (median of 9 windows, 2 rounds)`,
);
for (const [m, n, k] of values.shapes.split(",").map((x) => x.split("x").map(Number))) {
  const c = placed(m * n, 0);
  const runs = [0, 4, 0, 4].map((offset) => ({
    offset,
    a: placed(m * k, offset, Math.sin),
    b: placed(k * n, offset, Math.cos),
  }));
  const pct: string[] = [];
  const plans = new Map<string, string>();
  for (const { offset, a, b } of runs) {
    for (let i = 0; i < 5; i++) jit.gemm(a, b, c, { m, n, k, transB });
    const reps = Math.max(1, Math.round(1e9 / (2 * m * n * k)));
    const t: number[] = [];
    for (let w = 0; w < 9; w++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) jit.gemm(a, b, c, { m, n, k, transB });
      t.push((performance.now() - t0) / reps);
    }
    t.sort((x, y) => x - y);
    pct.push(`+${offset * 4} B: ${((100 * 2 * m * n * k) / t[4] / 1e6 / peak).toFixed(1)}%`);
  }
  // The keys of this shape (a placement off B's lines carries its peel in the key): their plans.
  for (const q of jit.stats().keys) {
    if (q.key.startsWith(`gemm ${m}x${n}x${k} `)) plans.set(q.key, q.plan ?? "");
  }
  const distinct = new Set(plans.values());
  console.log(
    `${m}×${n}×${k}`.padEnd(16),
    pct.join("   "),
    distinct.size > 1 ? [...plans].map(([key, plan]) => `\n  ${key}: ${plan}`).join("") : "",
  );
}
