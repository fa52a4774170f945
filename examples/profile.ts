/**
 * The profile-guided runtime at work:
 *  1. threshold mechanics: per-call time before and after a shape turns hot;
 *  2. the code cache under a working set larger than it (hits, misses, evictions);
 *  3. compile cost against the time it saves: break-even per kernel;
 *  4. the hot-path report.
 *
 *   deno task profile [--threshold 100] [--json]
 */
import { parseArgs } from "node:util";
import { gemmReference, Jit, type JitStats } from "../mod.ts";

const { values } = parseArgs({
  options: {
    threshold: { type: "string", default: "100" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("usage: deno task profile [--threshold N] [--json]");
  Deno.exit(0);
}
const threshold = Number(values.threshold);
if (!Number.isInteger(threshold) || threshold < 1) {
  console.error(`--threshold must be a positive integer, got ${values.threshold}`);
  Deno.exit(2);
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
  using warm = new Jit({ threshold: 0 });
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

// ---- 1. threshold mechanics
log(
  `1. Threshold: one shape, 64×64×64, called ${
    3 * threshold
  } times; kernel compiled at call ${threshold}`,
);
const timeline: { call: number; tier: number; us: number }[] = [];
{
  using jit = new Jit({ threshold });
  const { a, b, c } = operands(64, 64, 64);
  const o = { m: 64, n: 64, k: 64 };
  for (let call = 1; call <= 3 * threshold; call++) {
    const t0 = performance.now();
    jit.gemm(a, b, c, o);
    const us = (performance.now() - t0) * 1000;
    const tier = jit.stats().compiles > 0 ? 1 : 0;
    timeline.push({ call, tier, us });
  }
  const k = jit.stats().keys[0];
  const show = [
    1,
    2,
    Math.floor(threshold / 2),
    threshold - 1,
    threshold,
    threshold + 1,
    2 * threshold,
    3 * threshold,
  ]
    .filter((x, i, arr) => x >= 1 && arr.indexOf(x) === i);
  for (const call of show) {
    const t = timeline[call - 1];
    log(
      `   call ${String(call).padStart(4)}: ${t.us.toFixed(1).padStart(8)} µs  tier ${t.tier}` +
        (call === threshold
          ? `   <- compiled here (${k.compileUs.toFixed(0)} µs, plan "${k.plan}")`
          : ""),
    );
  }
  log(
    `   mean per call: tier 0 ${k.tier0MeanUs?.toFixed(1)} µs, tier 1 ${
      k.tier1MeanUs?.toFixed(2)
    } µs ` +
      `(${(k.tier0MeanUs! / k.tier1MeanUs!).toFixed(0)}× faster); break-even after ${
        k.breakEvenCalls?.toFixed(1)
      } calls\n`,
  );
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
  using jit = new Jit({ threshold: 10, cacheCapacity: capacity });
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
  log(`   (every miss recompiles an evicted shape: LRU keeps the hot ones resident)\n`);
}

// ---- 3. compile cost against time saved, per kernel
log("3. Compile cost against time saved (threshold 20, each shape called 200 times)");
let breakEven: {
  shape: string;
  reason: string | null;
  compileUs: number;
  tier0Us: number;
  tier1Us: number;
  breakEvenCalls: number | null;
}[];
{
  using jit = new Jit({ threshold: 20 });
  for (
    const [m, n, k] of [[8, 8, 8], [32, 32, 32], [64, 64, 64], [96, 96, 96], [128, 128, 128], [
      49,
      64,
      576,
    ], [6, 16, 1024]]
  ) {
    const { a, b, c } = operands(m, n, k);
    for (let i = 0; i < 200; i++) jit.gemm(a, b, c, { m, n, k });
  }
  breakEven = jit.stats().keys.map((k) => {
    const shape = k.key.split(" ")[1];
    let tier0 = k.tier0MeanUs;
    if (tier0 === null) {
      // Compiled at its first call (one tier-0 call would cost more than compiling):
      // time the TypeScript reference here to show what that saved.
      const [m, n, kk] = shape.split("x").map(Number);
      const { a, b, c } = operands(m, n, kk);
      const spec = {
        m,
        n,
        k: kk,
        transA: false,
        transB: false,
        lda: kk,
        ldb: n,
        ldc: n,
        alpha: 1,
        beta: 0,
      };
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) gemmReference(a, b, c, spec);
      tier0 = ((performance.now() - t0) * 1000) / 3;
    }
    const saved = tier0 - (k.tier1MeanUs ?? 0);
    return {
      shape,
      reason: k.reason,
      compileUs: k.compileUs,
      tier0Us: tier0,
      tier1Us: k.tier1MeanUs ?? NaN,
      breakEvenCalls: saved > 0 ? k.compileUs / saved : null,
    };
  });
  log(
    "   shape        compiled at       compile µs  tier 0 µs/call  tier 1 µs/call  break-even (calls)",
  );
  for (const r of breakEven) {
    const at = r.reason === "threshold" ? "call 20" : "call 1 (costly)";
    const cols = [
      r.compileUs.toFixed(0).padStart(10),
      r.tier0Us.toFixed(1).padStart(14),
      r.tier1Us.toFixed(2).padStart(14),
      (r.breakEvenCalls?.toFixed(2) ?? "-").padStart(18),
    ];
    log(`   ${r.shape.padEnd(12)} ${at.padEnd(15)} ${cols.join("  ")}`);
  }
  log("");
  // ---- 4. hot paths
  log("4. Hot-path report (jit.report())");
  log(jit.report());
}

// ---- 5. compile time over many distinct shapes
log(
  "5. Compile time: 300 distinct shapes (m, n, k up to ~300, a third with Bᵀ), each compiled once",
);
let compile: { median: number; p10: number; p90: number; meanBytes: number };
{
  using jit = new Jit({ threshold: 0, cacheCapacity: 1024 });
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
    JSON.stringify({ threshold, timeline, cache: cacheStats, breakEven, compile }, null, 2),
  );
}
