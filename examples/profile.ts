/**
 * The profile-guided runtime at work:
 *  1. cold calls: the first call of a new shape (compile included), against
 *     the earlier design that ran TypeScript until a threshold of 100 calls;
 *  2. the code cache under a working set larger than it (hits, misses, evictions);
 *  3. the hot-path report;
 *  4. compile time over many distinct shapes.
 *
 *   deno task profile [--json]
 */
import { parseArgs } from "node:util";
import { gemmReference, Jit, type JitStats } from "../mod.ts";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("usage: deno task profile [--json]");
  Deno.exit(0);
}
const log = values.json ? () => {} : console.log;
const operands = (m: number, n: number, k: number) => ({
  a: new Float32Array(m * k).map(() => Math.random() - 0.5),
  b: new Float32Array(k * n).map(() => Math.random() - 0.5),
  c: new Float32Array(m * n),
});

// The first compiles of a process also pay for V8 compiling the generator
// itself (a few ms); measure the runtime after that warm-up, and say so.
{
  const t0 = performance.now();
  using warm = new Jit();
  for (const n of [5, 9, 17, 33, 65]) {
    const { a, b, c } = operands(n, n, n);
    warm.gemm(a, b, c, { m: n, n, k: n });
  }
  log(
    `(warm-up: this process's first 5 compiles took ${
      (performance.now() - t0).toFixed(1)
    } ms in all)\n`,
  );
}

// ---- 1. cold calls
// The earlier design (before 2026-12): calls ran on the TypeScript reference
// (f64 sums: other bits than the kernel's) until call 100, or compiled at
// once when one call cost ≥ 2^20 FLOPs. Now every call runs the key's kernel.
const OLD_THRESHOLD = 100, OLD_EAGER_FLOPS = 1 << 20;
log("1. Cold calls: the first call of a new shape, and the first 100 calls in all (µs)");
const cold: {
  shape: string;
  compileUs: number;
  firstCallUs: number;
  kernelUs: number;
  referenceUs: number;
  oldFirstCallUs: number;
  first100Us: number;
  oldFirst100Us: number;
}[] = [];
{
  using jit = new Jit();
  const shapes = [
    [8, 8, 8],
    [32, 32, 32],
    [64, 64, 64],
    [96, 96, 96],
    [128, 128, 128],
    [
      49,
      64,
      576,
    ],
    [6, 16, 1024],
    [256, 256, 256],
  ];
  for (const [m, n, k] of shapes) {
    const { a, b, c } = operands(m, n, k);
    for (let i = 0; i < 200; i++) jit.gemm(a, b, c, { m, n, k });
    const st = jit.stats().keys.find((e) => e.key.startsWith(`gemm ${m}x${n}x${k} `))!;
    const spec = {
      m,
      n,
      k,
      transA: false,
      transB: false,
      lda: k,
      ldb: n,
      ldc: n,
      alpha: 1,
      beta: 0,
    };
    const reps = Math.max(1, Math.min(50, Math.floor(2e6 / (m * n * k))));
    for (let i = 0; i < 3; i++) gemmReference(a, b, c, spec); // V8 warms up the reference
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) gemmReference(a, b, c, spec);
    const referenceUs = ((performance.now() - t0) * 1000) / reps;
    const kernelUs = st.kernelMeanUs!;
    const eager = 2 * m * n * k >= OLD_EAGER_FLOPS;
    const oldFirstCallUs = eager ? st.firstCallUs! : referenceUs;
    const oldFirst100Us = eager
      ? st.firstCallUs! + 99 * kernelUs
      : (OLD_THRESHOLD - 1) * referenceUs + st.compileUs + kernelUs;
    cold.push({
      shape: `${m}×${n}×${k}`,
      compileUs: st.compileUs,
      firstCallUs: st.firstCallUs!,
      kernelUs,
      referenceUs,
      oldFirstCallUs,
      first100Us: st.firstCallUs! + 99 * kernelUs,
      oldFirst100Us,
    });
  }
  log(
    "   shape          compile  1st call  kernel/call  TS/call  | earlier: 1st call  | first 100: now   earlier",
  );
  for (const r of cold) {
    const f = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);
    log(
      `   ${r.shape.padEnd(13)} ${f(r.compileUs, 8, 0)} ${f(r.firstCallUs, 9, 0)} ${
        f(r.kernelUs, 12, 2)
      } ${f(r.referenceUs, 8)}  | ${f(r.oldFirstCallUs, 17, 0)}  | ${f(r.first100Us, 14, 0)} ${
        f(r.oldFirst100Us, 9, 0)
      }`,
    );
  }
  log("");
}

// ---- 2. the cache under pressure
const capacity = 4;
const shapes = [
  [16, 16, 16],
  [24, 24, 24],
  [32, 32, 32],
  [40, 40, 40],
  [48, 48, 48],
  [56, 56, 56],
  [64, 64, 64],
  [72, 72, 72],
];
log(`2. Cache: capacity ${capacity} kernels, ${shapes.length} shapes, 80% of calls on the first 3`);
let cacheStats: JitStats;
{
  using jit = new Jit({ cacheCapacity: capacity });
  const ops = shapes.map(([m, n, k]) => ({ ...operands(m, n, k), o: { m, n, k } }));
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const phase = (calls: number) => {
    const before = jit.stats();
    for (let i = 0; i < calls; i++) {
      const s = rand() < 0.8
        ? Math.floor(rand() * 3)
        : 3 + Math.floor(rand() * (shapes.length - 3));
      const { a, b, c, o } = ops[s];
      jit.gemm(a, b, c, o);
    }
    const after = jit.stats();
    const hits = after.hits - before.hits, misses = after.misses - before.misses;
    return {
      hits,
      misses,
      evictions: after.evictions - before.evictions,
      hitRate: hits / Math.max(1, hits + misses),
    };
  };
  const warm = phase(2000);
  const steady = phase(20000);
  cacheStats = jit.stats();
  log(
    `   warm-up   2,000 calls: hits ${warm.hits}, misses ${warm.misses}, evictions ${warm.evictions}`,
  );
  log(
    `   steady   20,000 calls: hits ${steady.hits}, misses ${steady.misses}, evictions ${steady.evictions}, ` +
      `hit rate ${(100 * steady.hitRate).toFixed(1)}%`,
  );
  log(
    `   (a miss recompiles an evicted shape; LRU keeps the hot ones resident, and keys that ` +
      `churn are pinned: ${cacheStats.pinned} now)\n`,
  );
}

// ---- 3. hot paths
log("3. Hot-path report (jit.report())");
{
  using jit = new Jit();
  for (
    const [m, n, k] of [[8, 8, 8], [64, 64, 64], [128, 128, 128], [49, 64, 576], [6, 16, 1024]]
  ) {
    const { a, b, c } = operands(m, n, k);
    for (let i = 0; i < 200; i++) jit.gemm(a, b, c, { m, n, k });
  }
  log(jit.report());
}

// ---- 4. compile time over many distinct shapes
log(
  "4. Compile time: 300 distinct shapes (m, n, k up to ~300, a third with Bᵀ), each compiled once",
);
let compile: { median: number; p10: number; p90: number; meanBytes: number };
{
  using jit = new Jit({ cacheCapacity: 1024 });
  const a = new Float32Array(1 << 18), b = new Float32Array(1 << 18), c = new Float32Array(1 << 18);
  for (let i = 0; i < 300; i++) {
    const m = 8 + ((i * 37) % 300), n = 8 + ((i * 53) % 300), k = 8 + ((i * 71) % 300);
    jit.gemm(a, b, c, { m, n, k, transB: i % 3 === 0 });
  }
  const keys = jit.stats().keys;
  const us = keys.map((k) => k.compileUs).sort((x, y) => x - y);
  const q = (f: number) => us[Math.min(us.length - 1, Math.floor(f * us.length))];
  compile = {
    median: q(0.5),
    p10: q(0.1),
    p90: q(0.9),
    meanBytes: keys.reduce((t, k) => t + k.codeBytes, 0) / keys.length,
  };
  log(
    `   median ${compile.median.toFixed(0)} µs (p10 ${compile.p10.toFixed(0)}, p90 ${
      compile.p90.toFixed(0)
    }), ` +
      `${compile.meanBytes.toFixed(0)} bytes of code per kernel on average`,
  );
}

if (values.json) {
  console.log(
    JSON.stringify({ cold, cache: cacheStats, compile }, null, 2),
  );
}
