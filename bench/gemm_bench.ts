/**
 * The GEMM level progression: one group per size, the TypeScript reference
 * and level 0 against every level and every ISA this machine has (capped by
 * NJIT_MAX_ISA), plus the cost of compiling one specialized kernel.
 *
 *   deno task bench                    # everything
 *   deno bench -P bench/gemm_bench.ts  # this file
 */
import { GEMM_LEVELS, gemmReference, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";

const jit = new Jit({ threads: 1 }); // the level progression is one core's
const simd = levelsUpTo(isaLevel()).filter((l) => l !== "scalar" && l !== "amx");

for (const n of [32, 64, 128, 256, 512, 1024]) {
  const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const b = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const c = new Float32Array(n * n);
  const spec = {
    m: n,
    n,
    k: n,
    transA: false,
    transB: false,
    lda: n,
    ldb: n,
    ldc: n,
    alpha: 1,
    beta: 0,
  };
  const group = `gemm ${n}³`;
  // Runs that take a second or more get a fixed, small iteration count.
  const slow = n >= 512 ? { n: n >= 1024 ? 2 : 4, warmup: 1 } : {};
  Deno.bench({
    name: "TypeScript reference",
    group,
    ...slow,
    fn: () => gemmReference(a, b, c, spec),
  });
  for (const level of GEMM_LEVELS.filter((l) => l < 3)) {
    const kernel = jit.compileGemm(spec, { level, isa: "scalar" });
    Deno.bench({
      name: `L${level} ${kernel.plan.description.slice(3)}`,
      group,
      baseline: level === 0,
      ...slow,
      fn: () => kernel.run(a, b, c),
    });
  }
  for (const isa of simd) {
    const kernel = jit.compileGemm(spec, { level: 3, isa });
    Deno.bench({
      name: `L3 ${kernel.plan.description.slice(3)}`,
      group,
      fn: () => kernel.run(a, b, c),
    });
  }
}

// Compile time through the runtime: each iteration calls jit.gemm on a shape it has not
// seen (threshold 0), so it plans, generates, assembles, installs and runs one kernel.
// Small shapes keep the run itself under a microsecond or two.
const fresh = new Jit({ cacheCapacity: 64, keyCapacity: 64, threads: 1 });
const buf = new Float32Array(64 * 64), out = new Float32Array(64 * 64); // C may not overlap A or B
let i = 0;
Deno.bench({
  name: "compile a specialized kernel at first call (new shape each time, m,n,k ≤ 64)",
  group: "compile",
  fn() {
    i++;
    const m = 1 + (i % 61), n = 1 + ((i >> 2) % 63), k = 1 + ((i * 7) % 59);
    fresh.gemm(buf, buf, out, { m, n, k, transB: i % 3 === 0 });
  },
});
