/**
 * Neural ops against oneDNN, same process, same buffers, same thread count:
 * microseconds per call (median), % of the copy bound (a zmm load/store loop
 * over the same buffers on as many threads, measured in the same run; from
 * 32 MiB of output the faster of its ordinary and non-temporal stores; for
 * binary ops scaled to the bytes they move) and our speedup over oneDNN.
 * oneDNN runs through `bench/shim/dnnl_ops.c`, compiled here with gcc when
 * libdnnl-dev is installed; without it our column and the bound still print.
 * With `--threads N` (N > 1) our 1-thread time is raced too, for the ×1T
 * column.
 *
 *   deno task compare --ops [--threads 2] [--sizes 1048576,67108864] [--json]
 */
import { ChainSteps, type IsaLevel, Jit, type UnaryOp } from "../mod.ts";
import { describeCpuPeaks, measurePeakPerCpu } from "../src/peak.ts";
import { timeInBlocks } from "./timing.ts";
import { tuneWarmup } from "./tuning.ts";

/** Threads of this run (blocks instead of interleaved windows above 1: see timing.ts). */
let threadsOfRun = 1;

interface Shim {
  eltwise(name: string, alpha: number, beta: number, n: number): Deno.PointerValue;
  softmax(rows: number, cols: number, log: boolean): Deno.PointerValue;
  layerNorm(rows: number, cols: number, eps: number): Deno.PointerValue;
  runLayerNorm(
    op: Deno.PointerValue,
    x: Float32Array,
    y: Float32Array,
    g: Float32Array,
    b: Float32Array,
  ): void;
  run(op: Deno.PointerValue, x: Float32Array, y: Float32Array): void;
  copy(x: Float32Array, y: Float32Array, n: number, wide: boolean, streamed?: boolean): void;
}

const SYMBOLS = {
  njb_eltwise: { parameters: ["buffer", "f32", "f32", "i64"], result: "pointer" },
  njb_softmax: { parameters: ["i64", "i64", "i32"], result: "pointer" },
  njb_layernorm: { parameters: ["i64", "i64", "f32"], result: "pointer" },
  njb_run_layernorm: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  njb_run: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  njb_copy: { parameters: ["buffer", "buffer", "i64", "i32"], result: "void" },
} as const;

/** Builds and loads the shim; null (with the reason on stderr) if oneDNN or gcc is missing. */
export function loadShim(): { shim: Shim; dnnl: boolean } | null {
  const dir = Deno.makeTempDirSync({ prefix: "njit-shim-" });
  const src = new URL("./shim/dnnl_ops.c", import.meta.url).pathname;
  const lib = `${dir}/dnnl_ops.so`;
  const build = (args: string[]) =>
    new Deno.Command("gcc", { args, stderr: "piped", stdout: "null" }).outputSync();
  let out;
  try {
    out = build(["-O2", "-fopenmp", "-shared", "-fPIC", "-o", lib, src, "-ldnnl"]);
  } catch (e) {
    console.error(`compare --ops: gcc not runnable (${(e as Error).message}); no peer, no bound`);
    return null;
  }
  if (!out.success) {
    console.error("compare --ops: oneDNN not installed (Debian: libdnnl-dev); no oneDNN column");
    return null;
  }
  const h = Deno.dlopen(lib, SYMBOLS);
  const cstr = (s: string) => new TextEncoder().encode(s + "\0");
  return {
    dnnl: true,
    shim: {
      eltwise: (name, alpha, beta, n) => h.symbols.njb_eltwise(cstr(name), alpha, beta, BigInt(n)),
      softmax: (rows, cols, log) => h.symbols.njb_softmax(BigInt(rows), BigInt(cols), log ? 1 : 0),
      layerNorm: (rows, cols, eps) => h.symbols.njb_layernorm(BigInt(rows), BigInt(cols), eps),
      runLayerNorm: (op, x, y, g, b) => void h.symbols.njb_run_layernorm(op, x, y, g, b),
      run: (op, x, y) => void h.symbols.njb_run(op, x, y),
      copy: (x, y, n, wide, streamed = false) =>
        h.symbols.njb_copy(x, y, BigInt(n), (wide ? 1 : 0) | (streamed ? 2 : 0)),
    },
  };
}

/** Median of per-call microseconds over interleaved samples of each contestant. */
function race(contestants: (() => void)[], bytes: number, rounds = 15): number[] {
  const reps = Math.max(1, Math.round(4e6 / bytes));
  if (threadsOfRun > 1) {
    return timeInBlocks(contestants, reps, { windows: 5, pauseMs: 100 }).map((s) => s * 1e6);
  }
  const samples: number[][] = contestants.map(() => []);
  for (const f of contestants) for (let i = 0; i < 2; i++) f();
  for (let s = 0; s < rounds; s++) {
    contestants.forEach((f, i) => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) f();
      samples[i].push(((performance.now() - t0) * 1000) / reps);
    });
  }
  return samples.map((v) => v.sort((a, b) => a - b)[v.length >> 1]);
}

/** Ours on the run's Jit and, with threads, on a 1-thread Jit: (jit) → call. */
type Ours = (jit: Jit) => () => void;

/**
 * Races ours (and ours on 1 thread), the copy bound and the peer, and makes the row. The
 * bound is the faster of `copy` and `streamedCopy` (a copy by non-temporal stores) when
 * there is one.
 */
function measure(
  jits: Jits,
  op: string,
  n: number,
  ours: Ours,
  copy: () => void,
  peer: (() => void) | null,
  bytes = 8 * n,
  boundScale = 1,
  streamedCopy: (() => void) | null = null,
): OpRow {
  const list = [ours(jits.main), copy];
  if (peer) list.push(peer);
  if (jits.one) list.push(ours(jits.one));
  let tunedAt = -1, tunedNote = "";
  if (jits.tuned) {
    const call = ours(jits.tuned);
    tuneWarmup(jits.tuned, call);
    const k = jits.tuned.stats().keys.at(-1);
    // Nothing to choose (one plan, one part): tier 2 leaves the key alone.
    tunedNote = k?.tuning ? `${k.tuning.candidates.length} candidates` : "no candidates";
    tunedAt = list.length;
    list.push(call);
  }
  if (streamedCopy) list.push(streamedCopy);
  const t = race(list, bytes);
  const streamed = streamedCopy ? t.pop()! : Infinity;
  const o = t[0], c = Math.min(t[1], streamed) * boundScale, d = peer ? t[2] : null;
  const o1 = jits.one ? t[jits.tuned ? t.length - 2 : t.length - 1] : null;
  return {
    op,
    n,
    oursUs: o,
    ours1Us: o1,
    tunedUs: tunedAt >= 0 ? t[tunedAt] : null,
    tunedNote,
    dnnlUs: d,
    copyUs: c,
    oursOfBound: c / o,
    dnnlOfBound: d === null ? null : c / d,
    speedup: d === null ? null : d / o,
  };
}

/** The Jit of the run, a 1-thread one when the run uses more, a tuned one with --tune. */
interface Jits {
  main: Jit;
  one: Jit | null;
  tuned: Jit | null;
}

const UNARY_ROWS: { op: UnaryOp; params?: Record<string, number>; dnnl: [number, number] }[] = [
  { op: "relu", dnnl: [0, 0] },
  { op: "clip", params: { min: -1, max: 6 }, dnnl: [-1, 6] },
  { op: "hardSwish", dnnl: [0, 0] },
  { op: "exp", dnnl: [0, 0] },
  { op: "sigmoid", dnnl: [0, 0] },
  { op: "silu", dnnl: [1, 0] },
  { op: "tanh", dnnl: [0, 0] },
  { op: "gelu", dnnl: [0, 0] },
  { op: "geluTanh", dnnl: [0, 0] },
  { op: "elu", dnnl: [1, 0] },
  { op: "softplus", dnnl: [0, 0] },
  { op: "mish", dnnl: [0, 0] },
  { op: "log", dnnl: [0, 0] },
];

/** One row of the table. */
export interface OpRow {
  op: string;
  n: number;
  oursUs: number;
  /** Ours on 1 thread (runs with more threads only). */
  ours1Us: number | null;
  /** Ours tuned (tier 2, with --tune), and how many candidates it had. */
  tunedUs?: number | null;
  tunedNote?: string;
  dnnlUs: number | null;
  copyUs: number;
  oursOfBound: number;
  dnnlOfBound: number | null;
  speedup: number | null;
}

/** Runs the comparison and prints it (or JSON). */
export function compareOps(
  options: { isa?: IsaLevel; sizes?: number[]; json: boolean; threads: number; tune?: boolean },
): OpRow[] {
  const sizes = options.sizes ?? [1 << 20, 1 << 26];
  const loaded = loadShim();
  const threads = options.threads;
  threadsOfRun = threads;
  const base = { maxIsa: options.isa, profile: false };
  using jit = new Jit({ ...base, threads, tuneBudget: 0 });
  using one = threads > 1 ? new Jit({ ...base, threads: 1, tuneBudget: 0 }) : null;
  using tuned = options.tune ? new Jit({ ...base, threads }) : null;
  const jits: Jits = { main: jit, one, tuned };
  const wide = jit.isa === "avx512" || jit.isa === "amx";
  // Past the last-level cache the bound is the better of a copy's ordinary and non-temporal
  // stores (from 32 MiB of y, where our kernels' tier 1 may stream it).
  const streamedCopy = (x: Float32Array, y: Float32Array, n: number) =>
    loaded && 4 * n >= 32 << 20 ? () => loaded.shim.copy(x, y, n, wide, true) : null;
  const rows: OpRow[] = [];
  // Bring the core to its working clock before the first row is timed.
  {
    const w = new Float32Array(1 << 20), z = new Float32Array(1 << 20);
    const until = performance.now() + 300;
    while (performance.now() < until) jit.unary("exp", w, z);
  }
  if (!options.json) {
    console.log(
      `neural-jit ${jit.isa} vs oneDNN ${loaded ? "" : "(not installed) "}— ${threads} thread${
        threads > 1 ? "s" : ""
      }`,
    );
    console.log(`one thread pinned to each CPU: ${describeCpuPeaks(measurePeakPerCpu())}`);
    console.log(
      "op                             n   ours µs  oneDNN µs   copy µs  ours %bound  oneDNN %bound  speedup" +
        (one ? "   1T µs    ×1T" : "") + (tuned ? "  tuned µs  ×tier1" : ""),
    );
  }
  for (const n of sizes) {
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = ((i * 2654435761) % 2000) / 200 - 5; // [-5, 5)
    for (const row of UNARY_ROWS) {
      const ours: Ours = (j) => () => j.unary(row.op, x, y, row.params);
      const copy = loaded ? () => loaded.shim.copy(x, y, n, wide) : ours(jit);
      const h = loaded ? loaded.shim.eltwise(row.op, row.dnnl[0], row.dnnl[1], n) : null;
      const peer = h ? () => loaded!.shim.run(h, x, y) : null;
      const r = measure(jits, row.op, n, ours, copy, peer, 8 * n, 1, streamedCopy(x, y, n));
      rows.push(r);
      if (!options.json) print(r);
    }
  }
  // Binary ops by broadcast pattern: the bound is the copy time scaled to the
  // bytes the op moves (both inputs read, the output written).
  for (const n of sizes) {
    const a = new Float32Array(n).map((_, i) => (i % 97) / 10 - 4), y = new Float32Array(n);
    const cols = 1024, height = n / cols;
    const patterns: [string, Float32Array, number[], number[], number][] = [
      ["add same shape", new Float32Array(n).fill(1.5), [n], [n], 12],
      ["mul scalar", new Float32Array([1.5]), [n], [1], 8],
      ["add per-row vector", new Float32Array(cols).fill(0.5), [height, cols], [cols], 8],
      [
        "mul per-channel NCHW",
        new Float32Array(64).fill(2),
        [n / (64 * 256), 64, 256],
        [1, 64, 1],
        8,
      ],
    ];
    for (const [name, b, ad, bd, bytes] of patterns) {
      if (ad.reduce((p, d) => p * d, 1) !== n) continue; // a size the pattern does not divide
      const op = name.startsWith("add") ? "add" : "mul";
      const ours: Ours = (j) => () => j.binary(op, a, ad, b, bd, y);
      const copy = loaded ? () => loaded.shim.copy(a, y, n, wide) : ours(jit);
      const row = measure(
        jits,
        name,
        n,
        ours,
        copy,
        null,
        bytes * n,
        bytes / 8,
        streamedCopy(a, y, n),
      );
      rows.push(row);
      if (!options.json) print(row);
    }
  }
  for (const [r, c, log] of SOFTMAX_ROWS) {
    const n = r * c;
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = ((i * 2654435761) % 2000) / 200 - 5;
    const name = `${log ? "logSoftmax" : "softmax"} ${r}×${c}`;
    const ours: Ours = (j) => () => j.softmax(x, y, { rows: r, cols: c, log });
    const h = loaded ? loaded.shim.softmax(r, c, log) : null;
    const peer = h ? () => loaded!.shim.run(h, x, y) : null;
    const copy = loaded ? () => loaded.shim.copy(x, y, n, wide) : ours(jit);
    const row = measure(jits, name, n, ours, copy, peer);
    rows.push(row);
    if (!options.json) print(row);
  }
  for (const [r, c] of LAYERNORM_ROWS) {
    const n = r * c;
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = ((i * 2654435761) % 2000) / 200 - 5;
    const g = new Float32Array(c).fill(1.5), b = new Float32Array(c).fill(0.25);
    const ours: Ours = (j) => () => j.layerNorm(x, y, { rows: r, cols: c, scale: g, bias: b });
    const h = loaded ? loaded.shim.layerNorm(r, c, 1e-5) : null;
    const peer = h ? () => loaded!.shim.runLayerNorm(h, x, y, g, b) : null;
    const copy = loaded ? () => loaded.shim.copy(x, y, n, wide) : ours(jit);
    const row = measure(jits, `layerNorm ${r}×${c}`, n, ours, copy, peer);
    rows.push(row);
    if (!options.json) print(row);
  }
  // Elementwise chains (the graph's fusion) against the same ops one by one.
  if (!options.json) {
    console.log("\nchain (n = 1 Mi)                     chain µs  one by one µs  speedup  copy µs");
  }
  {
    const n = 1 << 20;
    const x = new Float32Array(n).map((_, i) => ((i * 2654435761) % 2000) / 200 - 5);
    const y = new Float32Array(n), t = new Float32Array(n), one = new Float32Array([1]);
    const half = new Float32Array([0.5]);
    const chains: [string, ChainSteps, () => void][] = [
      ["silu as sigmoid, mul x", new ChainSteps(["sigmoid", { op: "mul", x: true }]), () => {
        jit.unary("sigmoid", x, t);
        jit.binary("mul", t, [n], x, [n], y);
      }],
      [
        "x·0.5 + 1 → tanh",
        new ChainSteps([{ op: "mul", value: 0.5 }, { op: "add", value: 1 }, "tanh"]),
        () => {
          jit.binary("mul", x, [n], half, [1], t);
          jit.binary("add", t, [n], one, [1], y);
          jit.unary("tanh", y, t);
        },
      ],
    ];
    for (const [name, steps, separate] of chains) {
      const copy = loaded ? () => loaded.shim.copy(x, y, n, wide) : () => y.set(x);
      const [c, sep, cp] = race([() => jit.chain(x, y, steps), separate, copy], 8 * n);
      rows.push({
        op: `chain ${name}`,
        n,
        oursUs: c,
        ours1Us: null,
        dnnlUs: null,
        copyUs: cp,
        oursOfBound: cp / c,
        dnnlOfBound: null,
        speedup: sep / c,
      });
      if (!options.json) {
        console.log(
          `${name.padEnd(36)} ${c.toFixed(0).padStart(8)} ${sep.toFixed(0).padStart(14)} ${
            (sep / c).toFixed(2).padStart(7)
          }× ${cp.toFixed(0).padStart(8)}`,
        );
      }
    }
  }
  // GEMM epilogues: the fused call against the plain GEMM, same operands, same run; B as
  // given (read in place) and packed in panels once (as a model's Linear layers hold it). The
  // issue's 128×768×3072 and 256³, and 128×3072×768 (BERT's up-projection, where GELU is: four
  // times the outputs over the same FLOPs).
  if (!options.json) {
    console.log("\ngemm (m×n×k)             B     plain µs   + bias + relu   + bias + gelu");
  }
  for (const [m, n, k] of [[128, 768, 3072], [128, 3072, 768], [256, 256, 256]]) {
    const a = new Float32Array(m * k).map((_, i) => ((i * 7) % 13) / 13 - 0.5);
    const b = new Float32Array(k * n).map((_, i) => ((i * 5) % 11) / 11 - 0.5);
    const c = new Float32Array(m * n), bias = new Float32Array(n).fill(0.1);
    for (const layout of ["in place", "panels"] as const) {
      const bl = layout === "panels" ? jit.packB(b, { k, n, layout: "panels" }) : b;
      const [plain, relu, gelu] = race(
        [
          () => jit.gemm(a, bl, c, { m, n, k }),
          () => jit.gemm(a, bl, c, { m, n, k, bias, activation: "relu" }),
          () => jit.gemm(a, bl, c, { m, n, k, bias, activation: "gelu" }),
        ],
        4 * m * n * k,
        101,
      ); // differences of 1-3%: many rounds, taking turns
      const pct = (v: number) => `${v.toFixed(0)} (${((v / plain - 1) * 100).toFixed(1)}%)`;
      const shape = `${m}×${n}×${k}${layout === "panels" ? ", B in panels" : ""}`;
      for (const [act, us] of [["relu", relu], ["gelu", gelu]] as const) {
        rows.push({
          op: `gemm ${shape} + bias + ${act}`,
          n: m * n,
          oursUs: us,
          ours1Us: null,
          dnnlUs: null,
          copyUs: plain,
          oursOfBound: plain / us,
          dnnlOfBound: null,
          speedup: null,
        });
      }
      if (!options.json) {
        console.log(
          `${`${m}×${n}×${k}`.padEnd(18)} ${layout.padStart(8)} ${plain.toFixed(0).padStart(9)}   ${
            pct(relu).padStart(13)
          }   ${pct(gelu).padStart(13)}`,
        );
      }
    }
  }
  return rows;
}

const LAYERNORM_ROWS: [number, number][] = [[128, 768], [512, 1024], [4096, 768]];

function print(r: OpRow): void {
  const pct = (v: number | null) => v === null ? "-" : `${(100 * v).toFixed(0)}%`;
  console.log(
    [
      r.op.padEnd(22),
      String(r.n).padStart(9),
      r.oursUs.toFixed(0).padStart(9),
      (r.dnnlUs === null ? "-" : r.dnnlUs.toFixed(0)).padStart(10),
      r.copyUs.toFixed(0).padStart(9),
      pct(r.oursOfBound).padStart(12),
      pct(r.dnnlOfBound).padStart(14),
      (r.speedup === null ? "-" : `${r.speedup.toFixed(2)}×`).padStart(8),
      ...(r.ours1Us === null
        ? []
        : [r.ours1Us.toFixed(0).padStart(7), `${(r.ours1Us / r.oursUs).toFixed(2)}×`.padStart(6)]),
      ...(r.tunedUs == null ? [] : [
        r.tunedUs.toFixed(0).padStart(9),
        `${(r.oursUs / r.tunedUs).toFixed(2)}×`.padStart(7),
        ` ${r.tunedNote}`,
      ]),
    ].join(" "),
  );
}

const SOFTMAX_ROWS: [number, number, boolean][] = [
  [1536, 128, false],
  [128, 30522, false],
  [1024, 1024, false],
  [1024, 1024, true],
];
