/**
 * The level progression of GEMM as real machine code, like the seed's
 * concept demo: for each size, each level's time per call, GFLOPS, speedup
 * over level 0 and share of the FMA peak measured in this same run.
 *
 *   deno task demo                      # sizes 32..256
 *   deno task demo --sizes 64,512,1024  # any sizes
 *   deno task demo --isa avx2 --json
 */
import { parseArgs } from "node:util";
import { cpuFeatures, GEMM_LEVELS, type IsaLevel, Jit, measurePeak } from "../mod.ts";
import { ISA_LEVELS, levelsUpTo } from "../src/cpu.ts";

const HELP =
  `usage: deno task demo [--sizes 32,64,128,256] [--isa scalar|sse2|avx2|avx512] [--json] [--help]

Runs C = A·B (f32, square) at every optimization level as machine code:
  L0 naive i-j-k, L1 i-k-j, L2 register-blocked (all scalar),
  L3 SIMD tiles + cache blocking, once per instruction set up to --isa.
Prints ms per call, GFLOPS, speedup over L0 and % of the FMA peak measured now.`;

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "32,64,128,256" },
    isa: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const sizes = values.sizes!.split(",").map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 8192)) {
  console.error(`--sizes must be integers from 1 to 8192, got ${values.sizes}`);
  Deno.exit(2);
}
const features = cpuFeatures();
const top = (values.isa ?? features.isa) as IsaLevel;
if (!ISA_LEVELS.includes(top)) {
  console.error(`--isa must be one of ${ISA_LEVELS.join(", ")}, got ${values.isa}`);
  Deno.exit(2);
}

const peak = measurePeak(20);
using jit = new Jit({ maxIsa: top });
const simd = levelsUpTo(jit.isa).filter((l) => l !== "scalar" && l !== "amx");

interface Row {
  size: number;
  level: string;
  isa: string;
  plan: string;
  msPerCall: number;
  gflops: number;
  speedupOverL0: number;
  percentOfPeak: number;
  compileUs: number;
}

/** Median seconds per call: repeat until ~0.2 s or 5 runs, whichever is more. */
function time(run: () => void, flops: number): number {
  run();
  const perBatch = Math.max(1, Math.round(2e7 / flops));
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 || (performance.now() - start < 200 && times.length < 50)) {
    const t = performance.now();
    for (let i = 0; i < perBatch; i++) run();
    times.push((performance.now() - t) / perBatch / 1000);
  }
  times.sort((x, y) => x - y);
  return times[times.length >> 1];
}

const rows: Row[] = [];
for (const n of sizes) {
  const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const b = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const c = new Float32Array(n * n);
  const flops = 2 * n * n * n;
  const variants: { level: number; isa: IsaLevel }[] = [
    ...GEMM_LEVELS.filter((l) => l < 3).map((level) => ({ level, isa: "scalar" as IsaLevel })),
    ...simd.map((isa) => ({ level: 3, isa })),
  ];
  let l0 = 0;
  for (const { level, isa } of variants) {
    // Naive code on big sizes takes seconds per call: skip what would take over ~3 s.
    if (level === 0 && n > 1024) continue;
    const kernel = jit.compileGemm({ m: n, n, k: n }, { level: level as 0 | 1 | 2 | 3, isa });
    const s = time(() => kernel.run(a, b, c), flops);
    kernel.free();
    if (level === 0) l0 = s;
    const gflops = flops / s / 1e9;
    rows.push({
      size: n,
      level: `L${level}`,
      isa,
      plan: kernel.plan.description,
      msPerCall: s * 1000,
      gflops,
      speedupOverL0: l0 ? l0 / s : NaN,
      percentOfPeak: (100 * gflops) / peak.peakGflops,
      compileUs: kernel.compileUs,
    });
  }
}

/**
 * All cores: the production path (`jit.gemm`) on the Jit's threads against
 * a 1-thread Jit, same operands, at the largest size asked for (at least 512³).
 */
function allCores(): { size: number; threads: number; gflops: number; oneThread: number } | null {
  if (jit.threads < 2) return null;
  const n = Math.max(512, ...sizes);
  const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
  const c = new Float32Array(n * n);
  using one = new Jit({ maxIsa: top, threads: 1 });
  const flops = 2 * n * n * n;
  const opts = { m: n, n, k: n };
  const many = time(() => jit.gemm(a, a, c, opts), flops);
  const single = time(() => one.gemm(a, a, c, opts), flops);
  return {
    size: n,
    threads: jit.threads,
    gflops: flops / many / 1e9,
    oneThread: flops / single / 1e9,
  };
}
const cores = allCores();

if (values.json) {
  console.log(JSON.stringify({ cpu: features.brand, isa: jit.isa, peak, rows, cores }, null, 2));
} else {
  const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
  console.log(bold(`neural-jit: GEMM C = A·B (f32, one thread) as machine code at every level`));
  console.log(
    `${features.brand} — kernels up to ${jit.isa}; peak measured now: ${
      peak.peakGflops.toFixed(1)
    } GFLOPS ` +
      `(FMA ${peak.fma.zmm ? "zmm" : "ymm"}), read ${peak.readGBs.toFixed(1)} GB/s\n`,
  );
  const head = ["size", "level", "how", "ms/call", "GFLOPS", "× L0", "% peak"];
  const body = rows.map((r) => [
    String(r.size),
    r.level + (r.level === "L3" ? ` ${r.isa}` : ""),
    r.plan.replace(/^L\d /, ""),
    r.msPerCall.toFixed(r.msPerCall < 1 ? 4 : 2),
    r.gflops.toFixed(1),
    Number.isNaN(r.speedupOverL0) ? "-" : r.speedupOverL0.toFixed(1),
    r.percentOfPeak.toFixed(1) + "%",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 1 || i === 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(bold(line(head)));
  let last = rows[0]?.size;
  for (let i = 0; i < body.length; i++) {
    if (rows[i].size !== last) console.log("");
    last = rows[i].size;
    console.log(line(body[i]));
  }
  if (cores) {
    console.log(
      `\nAll cores: jit.gemm ${cores.size}³ on ${cores.threads} threads ${
        cores.gflops.toFixed(1)
      } GFLOPS, ${(cores.gflops / cores.oneThread).toFixed(2)}× one thread ` +
        `(the native thread pool; same bits on any thread count)`,
    );
  }
  console.log(
    `\nEvery row ran machine code emitted by neural-jit's own assembler; --json for the raw figures.`,
  );
}
