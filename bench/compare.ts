/**
 * neural-jit against OpenBLAS and oneDNN, same process, same operands, same
 * thread count: GFLOPS, % of the FMA peak on as many threads raced in the
 * same windows as each shape's calls (the machine's speed drifts within
 * minutes; the peak measured at the start is printed too), and our ratio to the better peer; with `--threads N` (N > 1)
 * also our 1-thread figure (×1T), the thread pool's fixed costs and its
 * idle CPU use. Peers are loaded through FFI only if installed
 * (Debian: libopenblas0-pthread, libdnnl-dev); they are never a dependency.
 *
 *   deno task compare                 # squares 32..2048 and the NN shapes
 *   deno task compare --isa avx2      # our AVX2 path, peers limited to AVX2 too
 *   deno task compare --json
 *   deno task compare --ops           # neural ops vs oneDNN (see compare_ops.ts)
 *   deno task compare --conv          # convolution layers vs oneDNN (see compare_conv.ts)
 *   deno task compare --threads 2     # GEMM (and with --ops, the ops) on 2 threads
 *   deno task compare --tune          # also each shape tuned (tier 2) against tier 1
 *
 * Ours is tier 1 (the planner's kernel, tuning off) unless --tune, which adds
 * a Jit whose keys were tuned in a warm-up: its GFLOPS and ratio to tier 1.
 */
import { parseArgs } from "node:util";
import { cpuFeatures, type IsaLevel, Jit, measurePeak } from "../mod.ts";
import { describeCpuPeaks, measurePeakPerCpu, peakContender } from "../src/peak.ts";
import { compareConv } from "./compare_conv.ts";
import { compareOps } from "./compare_ops.ts";
import { poolFigures, printPool } from "./pool_figures.ts";
import { timeInBlocks } from "./timing.ts";
import { tuneWarmup } from "./tuning.ts";

const { values } = parseArgs({
  options: {
    isa: { type: "string" },
    transB: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    shapes: { type: "string" },
    help: { type: "boolean", default: false },
    ops: { type: "boolean", default: false },
    conv: { type: "boolean", default: false },
    sizes: { type: "string" },
    threads: { type: "string", default: "1" },
    tune: { type: "boolean", default: false },
    layers: { type: "string" },
  },
});
const tune = values.tune ?? false;
if (values.help) {
  console.log(
    "usage: deno task compare [--isa avx2|avx512] [--transB] [--shapes 64x64x64,...] [--threads N] [--json]\n" +
      "       deno task compare --ops [--isa avx2|avx512] [--sizes 1048576,67108864] [--threads N] [--json]",
    "       deno task compare --conv [--isa avx2|avx512] [--threads N] [--layers dw,pool] [--json]",
  );
  Deno.exit(0);
}
const isa = values.isa as IsaLevel | undefined;
/** C = A·Bᵀ with B stored n×k (as a Linear layer's weights are) instead of k×n. */
const transB = values.transB ?? false;
const threads = Number(values.threads);
if (!Number.isInteger(threads) || threads < 1) {
  console.error(`compare: --threads must be a positive integer, got ${values.threads}`);
  Deno.exit(2);
}
// Peers read these once, when loaded: limit them like our JIT, and to as many threads.
Deno.env.set("OMP_NUM_THREADS", String(threads));
Deno.env.set("OPENBLAS_NUM_THREADS", String(threads));
if (isa === "avx2") {
  Deno.env.set("OPENBLAS_CORETYPE", "Haswell");
  Deno.env.set("ONEDNN_MAX_CPU_ISA", "AVX2");
}
if (values.conv) {
  // Convolution layers (NCHW, +bias +relu) against oneDNN.
  const layers = values.layers?.split(",");
  const rows = compareConv({ isa, json: values.json!, threads, tune, layers });
  if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
  Deno.exit(0);
}
if (values.ops) {
  // Neural ops (elementwise, softmax, normalization) instead of GEMM.
  const rows = compareOps({
    isa,
    sizes: values.sizes?.split(",").map(Number),
    json: values.json!,
    threads,
    tune,
  });
  if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
  Deno.exit(0);
}

type Gemm = (
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
) => void;

function openblas(): Gemm | null {
  try {
    const lib = Deno.dlopen("libopenblas.so.0", {
      cblas_sgemm: {
        parameters: [
          "i32",
          "i32",
          "i32",
          "i32",
          "i32",
          "i32",
          "f32",
          "buffer",
          "i32",
          "buffer",
          "i32",
          "f32",
          "buffer",
          "i32",
        ],
        result: "void",
      },
      openblas_set_num_threads: { parameters: ["i32"], result: "void" },
    });
    lib.symbols.openblas_set_num_threads(threads);
    return (m, n, k, a, b, c) =>
      lib.symbols.cblas_sgemm(101, 111, 111, m, n, k, 1, a, k, b, n, 0, c, n);
  } catch {
    return null;
  }
}

function onednn(): Gemm | null {
  for (const name of ["libdnnl.so.3", "libdnnl.so.2"]) {
    try {
      const lib = Deno.dlopen(name, {
        dnnl_sgemm: {
          parameters: [
            "u8",
            "u8",
            "i64",
            "i64",
            "i64",
            "f32",
            "buffer",
            "i64",
            "buffer",
            "i64",
            "f32",
            "buffer",
            "i64",
          ],
          result: "i32",
        },
      });
      const N = "N".charCodeAt(0);
      return (m, n, k, a, b, c) => {
        lib.symbols.dnnl_sgemm(
          N,
          N,
          BigInt(m),
          BigInt(n),
          BigInt(k),
          1,
          a,
          BigInt(k),
          b,
          BigInt(n),
          0,
          c,
          BigInt(n),
        );
      };
    } catch {
      continue;
    }
  }
  return null;
}

/**
 * Median seconds per call of each implementation. Windows of ~20 ms are
 * interleaved round-robin (ours, OpenBLAS, oneDNN, ours, ...) so that a
 * noisy neighbour slows every contender alike; at least 9 rounds. With
 * several threads, blocks after idle pauses instead (see timing.ts).
 */
function timeAll(runs: (() => void)[], flops: number): number[] {
  const per = Math.max(1, Math.round(2e7 / flops));
  // Several threads: blocks after idle pauses, windows of ≥ 5 ms.
  if (threads > 1) return timeInBlocks(runs, Math.max(1, Math.round(2e9 / flops)));
  // Warm up ~100 ms each, so V8 has optimized every call path before timing.
  for (const run of runs) {
    const t0 = performance.now();
    for (let i = 0; i < 3 || performance.now() - t0 < 100; i++) run();
  }
  const t: number[][] = runs.map(() => []);
  const start = performance.now();
  while (t[0].length < 9 || (t[0].length < 31 && performance.now() - start < 1500)) {
    runs.forEach((run, r) => {
      const t0 = performance.now();
      for (let i = 0; i < per; i++) run();
      t[r].push((performance.now() - t0) / per / 1000);
    });
  }
  return t.map((x) => x.sort((p, q) => p - q)[x.length >> 1]);
}

const SQUARES = [32, 64, 128, 256, 512, 1024, 2048].map((s) => [s, s, s]);
const NN = [
  [1, 4096, 4096],
  [64, 768, 3072],
  [128, 3072, 768],
  [49, 64, 576],
  [6, 16, 1024],
];
/** "MxNxK", or one number for a square. */
function parseShape(text: string): number[] {
  const dims = text.split("x").map(Number);
  const shape = dims.length === 1 ? [dims[0], dims[0], dims[0]] : dims;
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    console.error(`--shapes: "${text}" is not MxNxK or one size`);
    Deno.exit(2);
  }
  return shape;
}
const shapes = values.shapes ? values.shapes.split(",").map(parseShape) : [...SQUARES, ...NN];

const peak = measurePeak(20, threads);
const cpuPeaks = measurePeakPerCpu();
const peakGflops = isa === "avx2" ? (peak.fma.ymm ?? peak.peakGflops) : peak.peakGflops;
const peers: [string, Gemm | null][] = [["OpenBLAS", openblas()], ["oneDNN", onednn()]];
using jit = new Jit({ threshold: 1, maxIsa: isa, threads, tuneBudget: 0 });
using one = threads > 1 ? new Jit({ threshold: 1, maxIsa: isa, threads: 1, tuneBudget: 0 }) : null;
using tuned = tune ? new Jit({ threshold: 1, maxIsa: isa, threads }) : null;

interface Row {
  shape: string;
  plan: string;
  ours: number;
  oursPct: number;
  /** The FMA peak raced in the same windows as this shape's calls (GFLOPS): every % here is of it. */
  peakGflops: number;
  peers: Record<string, { gflops: number; pct: number } | null>;
  ratioToBest: number | null;
  boundPct?: number;
  /** Ours on 1 thread, GFLOPS (runs with more threads only). */
  ours1?: number;
  /** Ours tuned (tier 2), GFLOPS, its % of peak, its plan and parts (with --tune). */
  tuned?: { gflops: number; pct: number; ratio: number; plan: string; parts: number };
}
const rows: Row[] = [];
for (const [m, n, k] of shapes) {
  const a = new Float32Array(m * k).map(() => Math.random() - 0.5);
  const b = new Float32Array(k * n).map(() => Math.random() - 0.5);
  const c = new Float32Array(m * n);
  const flops = 2 * m * n * k;
  const opts = { m, n, k, transB };
  jit.gemm(a, b, c, opts);
  jit.gemm(a, b, c, opts); // compiled by now (threshold 1)
  const present = peers.filter(([, g]) => g !== null) as [string, Gemm][];
  if (tuned) tuneWarmup(tuned, () => tuned.gemm(a, b, c, opts));
  // The FMA peak raced in the same windows: each shape's % is of the same minutes' machine.
  using peakRun = peakContender(Math.max(flops, 1e7), {
    threads,
    bits: isa === "avx2" ? 256 : undefined,
  });
  const secs = timeAll([
    () => jit.gemm(a, b, c, opts),
    ...present.map(([, g]) => () => g(m, n, k, a, b, c)),
    ...(tuned ? [() => tuned.gemm(a, b, c, opts)] : []),
    ...(one ? [() => one.gemm(a, b, c, opts)] : []),
    peakRun.run,
  ], flops);
  const rowPeak = peakRun.flops / secs.pop()! / 1e9;
  const ours = flops / secs[0] / 1e9;
  const plan = jit.stats().keys.find((s) =>
    s.key.startsWith(`gemm ${m}x${n}x${k} N${transB ? "T" : "N"} `)
  )?.plan ?? "?";
  const row: Row = {
    shape: `${m}x${n}x${k}`,
    plan,
    ours,
    oursPct: (100 * ours) / rowPeak,
    peakGflops: rowPeak,
    peers: {},
    ratioToBest: null,
  };
  let best = 0;
  for (const [name] of peers) row.peers[name] = null;
  present.forEach(([name], i) => {
    const g = flops / secs[i + 1] / 1e9;
    row.peers[name] = { gflops: g, pct: (100 * g) / rowPeak };
    best = Math.max(best, g);
  });
  if (best) row.ratioToBest = ours / best;
  if (one) row.ours1 = flops / secs[secs.length - 1] / 1e9;
  if (tuned) {
    const g = flops / secs[present.length + 1] / 1e9;
    const key = tuned.stats().keys.find((s) =>
      s.key.startsWith(`gemm ${m}x${n}x${k} N${transB ? "T" : "N"} `)
    );
    row.tuned = {
      gflops: g,
      pct: (100 * g) / rowPeak,
      ratio: g / ours,
      plan: key?.plan ?? "?",
      parts: key?.parts ?? 1,
    };
  }
  if (m === 1) {
    // GEMV-like: every element of B is read once, 2 bytes per FLOP.
    row.boundPct = (100 * ours) / (peak.readGBs / 2);
  }
  rows.push(row);
  if (!values.json) {
    const p = (
      x: { gflops: number; pct: number } | null,
    ) => (x ? `${x.gflops.toFixed(1)} (${x.pct.toFixed(1)}%)` : "n/a");
    console.log(
      `${row.shape.padEnd(15)} ours ${ours.toFixed(1).padStart(6)} GFLOPS ${
        row.oursPct.toFixed(1).padStart(5)
      }% (of ${rowPeak.toFixed(0)})` +
        `${row.boundPct !== undefined ? ` [${row.boundPct.toFixed(0)}% of read bound]` : ""}  ` +
        peers.map(([name]) => `${name} ${p(row.peers[name])}`).join("  ") +
        `  ratio ${row.ratioToBest?.toFixed(2) ?? "n/a"}` +
        (row.ours1 ? `  ×1T ${(ours / row.ours1).toFixed(2)}` : "") + `  ${plan}` +
        (row.tuned
          ? `\n${"".padEnd(15)} tuned ${row.tuned.gflops.toFixed(1).padStart(5)} GFLOPS ${
            row.tuned.pct.toFixed(1).padStart(5)
          }%  ×tier1 ${row.tuned.ratio.toFixed(2)}  ${row.tuned.plan}${
            row.tuned.parts > 1 ? ` (${row.tuned.parts} parts)` : ""
          }`
          : ""),
    );
  }
}
const env = {
  date: new Date().toISOString().slice(0, 10),
  cpu: cpuFeatures().brand,
  isa: jit.isa,
  transB,
  peakGflops,
  readGBs: peak.readGBs,
  threads,
  pool: threads > 1 ? poolFigures(threads) : undefined,
  cpuPeaks,
};
if (values.json) console.log(JSON.stringify({ ...env, rows }, null, 2));
else {
  console.log(
    `\n${env.date} ${env.cpu}, our ISA ${env.isa}, peak at the start ${
      peakGflops.toFixed(1)
    } GFLOPS, read ${peak.readGBs.toFixed(1)} GB/s, ${threads} thread${threads > 1 ? "s" : ""}`,
  );
  console.log(`one thread pinned to each CPU: ${describeCpuPeaks(cpuPeaks)}`);
  if (env.pool) printPool(env.pool);
}
