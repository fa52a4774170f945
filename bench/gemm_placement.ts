/**
 * Where B starts in a cache line, one thread: the same GEMM with B on a
 * 64-byte line and 16 bytes past one (where a large `new Float32Array`
 * lands here), timed alternately in one process, as % of the FMA peak
 * measured first. The direct driver peels B's first columns to a line
 * boundary where its plan says so (`peelsB` in `src/kernels/gemm/plan.ts`).
 *
 *   deno run -P bench/gemm_placement.ts
 */
import { Jit, measurePeak } from "../mod.ts";
import { viewAddress } from "../src/native/memory.ts";

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

console.log(`GEMM, one thread, % of ${peak.toFixed(1)} GFLOPS (median of 9 windows, 2 rounds)`);
for (const [m, n, k] of [[128, 3072, 768], [64, 768, 3072], [512, 512, 512], [1024, 1024, 1024]]) {
  const a = placed(m * k, 0, Math.sin), c = placed(m * n, 0);
  const runs = [0, 4, 0, 4].map((offset) => ({ offset, b: placed(k * n, offset, Math.cos) }));
  const pct: string[] = [];
  for (const { offset, b } of runs) {
    for (let i = 0; i < 5; i++) jit.gemm(a, b, c, { m, n, k });
    const reps = Math.max(1, Math.round(1e9 / (2 * m * n * k)));
    const t: number[] = [];
    for (let w = 0; w < 9; w++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) jit.gemm(a, b, c, { m, n, k });
      t.push((performance.now() - t0) / reps);
    }
    t.sort((x, y) => x - y);
    pct.push(`B +${offset * 4} B: ${((100 * 2 * m * n * k) / t[4] / 1e6 / peak).toFixed(1)}%`);
  }
  console.log(`${m}×${n}×${k}`.padEnd(16), pct.join("   "));
}
