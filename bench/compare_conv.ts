/**
 * Convolution layers against oneDNN, same process, same thread count:
 * microseconds per call (median), GFLOPS, % of the FMA peak raced in the
 * same windows as the layer's calls, and our speedup over oneDNN given
 * NCHW (as ONNX hands tensors over: oneDNN's gemm-based NCHW path) and
 * given the layout it prefers
 * (format "any": its brgconv/jit kernels on nChw16c or nhwc, the input
 * reordered once beforehand and not timed). Every layer adds a bias and
 * applies ReLU, fused on both sides. A second table does the same for the
 * memory-bound ops (pooling, Resize, BatchNormalization) with the copy
 * bound. Ours always takes and returns NCHW:
 * any layout work is in our time. oneDNN runs through
 * `bench/shim/dnnl_conv.c`, compiled here with gcc when libdnnl-dev is
 * installed; without it our columns still print. Each layer's output is
 * checked against oneDNN's before timing.
 *
 *   deno task compare --conv [--threads 2] [--json]
 *   deno task compare --conv --layers "dw 3×3/2,pool"   # rows whose names contain one of these
 */
import { type Conv2dOptions, type IsaLevel, Jit, measurePeak } from "../mod.ts";
import { describeCpuPeaks, measurePeakPerCpu } from "../src/peak.ts";
import { peakContender } from "../src/peak.ts";
import { loadShim as loadOpsShim } from "./compare_ops.ts";
import { sleepMs, timeInBlocks } from "./timing.ts";
import { tuneWarmup } from "./tuning.ts";

/** One layer of the issue's list (batch 1 unless stated). */
interface Layer {
  name: string;
  o: Conv2dOptions & { pads: number[]; strides: number[]; group: number };
  /** ONNX ConvTranspose (w is c × outChannels/group × kh × kw). */
  transposed?: boolean;
}

const layer = (
  name: string,
  n: number,
  c: number,
  hw: number,
  oc: number,
  k: number,
  s: number,
  p: number,
  group = 1,
): Layer => ({
  name,
  o: {
    n,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [k, k],
    strides: [s, s],
    pads: [p, p, p, p],
    group,
  },
});

const LAYERS: Layer[] = [
  layer("ResNet conv1 7×7/2 3→64 224²", 1, 3, 224, 64, 7, 2, 3),
  layer("MobileNet stem 3×3/2 3→32 224²", 1, 3, 224, 32, 3, 2, 1),
  layer("3×3 64→64 56²", 1, 64, 56, 64, 3, 1, 1),
  layer("1×1 64→256 56²", 1, 64, 56, 256, 1, 1, 0),
  layer("3×3/2 128→128 56²→28²", 1, 128, 56, 128, 3, 2, 1),
  layer("1×1 96→24 56²", 1, 96, 56, 24, 1, 1, 0),
  layer("3×3 64→64 56² batch 8", 8, 64, 56, 64, 3, 1, 1),
  layer("3×3 256→256 14²", 1, 256, 14, 256, 3, 1, 1),
  layer("3×3 512→512 7²", 1, 512, 7, 512, 3, 1, 1),
  layer("1×1 1024→256 14²", 1, 1024, 14, 256, 1, 1, 0),
  layer("1×1 2048→512 7²", 1, 2048, 7, 512, 1, 1, 0),
  { ...layer("ConvTranspose 2×2/2 64→64 80²", 1, 64, 80, 64, 2, 2, 0), transposed: true },
  { ...layer("ConvTranspose 3×3/2 64→64 40² pads 1", 1, 64, 40, 64, 3, 2, 1), transposed: true },
  layer("dw 3×3 32 on 112²", 1, 32, 112, 32, 3, 1, 1, 32),
  layer("dw 3×3 576 on 14²", 1, 576, 14, 576, 3, 1, 1, 576),
  layer("dw 3×3/2 96 on 112²", 1, 96, 112, 96, 3, 2, 1, 96),
  layer("dw 3×3/2 576 on 14²", 1, 576, 14, 576, 3, 2, 1, 576),
];

const SYMBOLS = {
  njb_conv: {
    parameters: [
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "i32",
    ],
    result: "pointer",
  },
  njb_conv_blocked: { parameters: ["pointer"], result: "i32" },
  njb_conv_load: { parameters: ["pointer", "buffer"], result: "void" },
  njb_conv_run: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  njb_conv_store: { parameters: ["pointer", "buffer"], result: "void" },
  njb_resample: {
    parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i32", "i32"],
    result: "pointer",
  },
  njb_batchnorm: {
    parameters: ["i64", "i64", "i64", "i64", "f32", "i32", "buffer", "buffer", "buffer", "buffer"],
    result: "pointer",
  },
  njb_pool: {
    parameters: [
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i64",
      "i32",
      "i32",
    ],
    result: "pointer",
  },
} as const;

type Shim = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
// (pooling reuses the convolution handle's load/run/store)

/** Builds and loads the shim; null (with the reason on stderr) if oneDNN or gcc is missing. */
function loadShim(): Shim | null {
  const dir = Deno.makeTempDirSync({ prefix: "njit-conv-shim-" });
  const src = new URL("./shim/dnnl_conv.c", import.meta.url).pathname;
  const lib = `${dir}/dnnl_conv.so`;
  try {
    const out = new Deno.Command("gcc", {
      args: ["-O2", "-fopenmp", "-shared", "-fPIC", "-o", lib, src, "-ldnnl"],
      stderr: "piped",
      stdout: "null",
    }).outputSync();
    if (!out.success) {
      console.error(
        "compare --conv: oneDNN not installed (Debian: libdnnl-dev); no oneDNN columns",
      );
      return null;
    }
  } catch (e) {
    console.error(`compare --conv: gcc not runnable (${(e as Error).message}); no oneDNN columns`);
    return null;
  }
  return Deno.dlopen(lib, SYMBOLS).symbols;
}

/** One row of the table. */
export interface ConvRow {
  layer: string;
  gflop: number;
  oursUs: number;
  oursPct: number;
  /**
   * The FMA peak raced in the same windows as this layer's calls (GFLOPS):
   * oursPct's base (null for the memory-bound ops, whose oursPct is of the copy bound).
   */
  peakGflops: number | null;
  dnnlNchwUs: number | null;
  dnnlPreferredUs: number | null;
  /** oneDNN's preferred src layout: "blocked" (nChw16c-like) or "plain" (nhwc). */
  dnnlLayout: string | null;
  vsNchw: number | null;
  vsPreferred: number | null;
  /** Ours given and giving NHWC (oneDNN's plain layout), and its ratio to oneDNN's best. */
  oursNhwcUs: number | null;
  vsPreferredNhwc: number | null;
  /**
   * Depthwise layers: the copy bound's time for the bytes the layer moves (x
   * read, y written; a copy of x raced beside it, scaled) as % of ours.
   */
  copyPct?: number;
  /** Ours tuned (tier 2, with --tune) and its plan. */
  tunedUs?: number;
  tunedPlan?: string;
}

function median(x: number[]): number {
  return x.sort((p, q) => p - q)[x.length >> 1];
}

/**
 * Median µs per call of each, interleaved windows of ~10 ms (1 thread) or
 * blocks (more): long enough that a window's first call, which finds its
 * operands evicted by the other contender, weighs little.
 */
function race(runs: (() => void)[], flops: number, threads: number): number[] {
  const reps = Math.max(2, Math.round(2.5e9 / flops));
  if (threads > 1) {
    return timeInBlocks(runs, Math.max(1, Math.round(1e9 / flops))).map((s) => s * 1e6);
  }
  for (const run of runs) {
    const t0 = performance.now();
    for (let i = 0; i < 3 || performance.now() - t0 < 60; i++) run();
  }
  const t: number[][] = runs.map(() => []);
  const start = performance.now();
  while (t[0].length < 9 || (t[0].length < 21 && performance.now() - start < 1500)) {
    runs.forEach((run, r) => {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) run();
      t[r].push(((performance.now() - t0) * 1000) / reps);
    });
  }
  return t.map(median);
}

/** One group per channel, one output channel each. */
function depthwise(L: Layer): boolean {
  return !L.transposed && L.o.group > 1 && L.o.group === L.o.c && L.o.outChannels === L.o.c;
}

function outSize(L: Layer): [number, number] {
  const o = L.o, [k] = o.kernel, [s] = o.strides, [p] = o.pads;
  if (L.transposed) return [s * (o.h - 1) + k - 2 * p, s * (o.w - 1) + k - 2 * p];
  const oh = Math.floor((o.h + 2 * p - k) / s) + 1, ow = Math.floor((o.w + 2 * p - k) / s) + 1;
  return [oh, ow];
}

/** Runs the comparison and prints it (or JSON). */
export function compareConv(
  options: {
    isa?: IsaLevel;
    json: boolean;
    threads: number;
    tune?: boolean;
    /** Only the rows whose names contain one of these (all when absent). */
    layers?: string[];
  },
): ConvRow[] {
  const picked = (name: string) => !options.layers || options.layers.some((l) => name.includes(l));
  const threads = options.threads;
  const shim = loadShim();
  const peak = measurePeak(20, threads);
  const peakGflops = options.isa === "avx2" ? (peak.fma.ymm ?? peak.peakGflops) : peak.peakGflops;
  using jit = new Jit({ maxIsa: options.isa, profile: false, threads, tuneBudget: 0 });
  // --tune: each layer also on a Jit whose key was tuned (tier 2) in a warm-up.
  using tuned = options.tune ? new Jit({ maxIsa: options.isa, profile: false, threads }) : null;
  if (!options.json) {
    console.log(
      `neural-jit ${jit.isa} conv2d (NCHW in and out, +bias +relu) vs oneDNN ${
        shim ? "" : "(not installed) "
      }— ${threads} thread${threads > 1 ? "s" : ""}, FMA peak ${
        peakGflops.toFixed(1)
      } GFLOPS at the start; each row's % is of the peak raced in its own windows (peak GF)`,
    );
    console.log(`one thread pinned to each CPU: ${describeCpuPeaks(measurePeakPerCpu())}`);
    console.log(
      "layer                              GFLOP   ours µs  GFLOPS  %peak peak GF  oneDNN nchw µs  ×nchw   oneDNN best µs (layout)  ×best  ours nhwc µs  ×best  %copy" +
        (tuned ? "  tuned µs  %peak ×tier1" : ""),
    );
  }
  const rows: ConvRow[] = [];
  // Depthwise layers move more bytes than they compute: a copy of x beside them, the bound.
  const copyShim = LAYERS.some((L) => picked(L.name) && depthwise(L)) ? loadOpsShim() : null;
  for (const L of LAYERS.filter((L) => picked(L.name))) {
    const o = L.o;
    const [oh, ow] = outSize(L);
    const cg = o.c / o.group;
    // A transposed convolution's multiply-adds: every input element through the kernel.
    const macs = L.transposed
      ? o.n * o.c * o.h * o.w * (o.outChannels / o.group) * o.kernel[0] * o.kernel[1]
      : o.n * o.outChannels * oh * ow * cg * o.kernel[0] * o.kernel[1];
    const flops = 2 * macs;
    const x = new Float32Array(o.n * o.c * o.h * o.w).map((_, i) => ((i * 7919) % 1000) / 500 - 1);
    const w = new Float32Array(
      L.transposed
        ? o.c * (o.outChannels / o.group) * o.kernel[0] * o.kernel[1]
        : o.outChannels * cg * o.kernel[0] * o.kernel[1],
    )
      .map((_, i) => ((i * 104729) % 1000) / 5000 - 0.1);
    const bias = new Float32Array(o.outChannels).map((_, i) => (i % 7) / 10 - 0.3);
    const y = new Float32Array(o.n * o.outChannels * oh * ow);
    const yd = new Float32Array(y.length), yp = new Float32Array(y.length);
    const opts: Conv2dOptions = { ...o, bias, activation: "relu" };
    // Weights packed once, as a model holds them (oneDNN's are reordered once too).
    const pack = (j: Jit) =>
      j.packConvWeights(w, {
        outChannels: o.outChannels,
        c: o.c,
        kernel: o.kernel,
        group: o.group,
        transposed: L.transposed ?? false,
      });
    const wp = pack(jit);
    const ours = L.transposed
      ? () => jit.convTranspose2d(x, wp, y, opts)
      : () => jit.conv2d(x, wp, y, opts);
    const runs: (() => void)[] = [ours];
    // Ours on NHWC x and y (the channel-vector kernel computes it as it is where it serves,
    // else transposes around NCHW); the contents do not matter for the time.
    const yh = new Float32Array(y.length);
    const oursNhwc = L.transposed ? null : () => jit.conv2d(x, wp, yh, { ...opts, layout: "nhwc" });
    let nchw: Deno.PointerValue = null,
      pref: Deno.PointerValue = null,
      layout: string | null = null;
    if (shim) {
      const make = (preferred: number) =>
        shim.njb_conv(
          BigInt(o.n),
          BigInt(o.c),
          BigInt(o.h),
          BigInt(o.w),
          BigInt(o.outChannels),
          BigInt(o.kernel[0]),
          BigInt(o.kernel[1]),
          BigInt(o.strides[0]),
          BigInt(o.strides[1]),
          1n,
          1n,
          BigInt(o.pads[0]),
          BigInt(o.pads[1]),
          BigInt(o.pads[2]),
          BigInt(o.pads[3]),
          BigInt(o.group),
          preferred,
          1,
          w,
          bias,
          L.transposed ? 1 : 0,
        );
      nchw = make(0);
      pref = make(1);
      if (pref) {
        shim.njb_conv_load(pref, x);
        const b = shim.njb_conv_blocked(pref);
        layout = b > 0 ? "blocked" : b === 0 ? "plain" : "other";
      }
      // Check ours against oneDNN once (the tests check against an f64 reference).
      ours();
      const check = (got: Float32Array, who: string) => {
        let worst = 0;
        for (let i = 0; i < y.length; i++) {
          worst = Math.max(worst, Math.abs(got[i] - y[i]) / (1 + Math.abs(y[i])));
        }
        if (worst > 1e-4) throw new Error(`${L.name}: ${who} differs from ours by ${worst}`);
      };
      if (nchw) {
        shim.njb_conv_run(nchw, x, yd);
        check(yd, "oneDNN nchw");
        runs.push(() => void shim.njb_conv_run(nchw, x, yd));
      }
      if (pref) {
        shim.njb_conv_run(pref, x, yp);
        shim.njb_conv_store(pref, yp);
        check(yp, "oneDNN preferred");
        runs.push(() => void shim.njb_conv_run(pref, x, yp));
      }
    }
    if (oursNhwc) runs.push(oursNhwc);
    let tunedPlan = "";
    const yt = new Float32Array(y.length);
    if (tuned) {
      const wt = pack(tuned);
      const call = L.transposed
        ? () => tuned.convTranspose2d(x, wt, yt, opts)
        : () => tuned.conv2d(x, wt, yt, opts);
      tuneWarmup(tuned, call);
      const k = tuned.stats().keys.find((s) => s.key.includes(`${o.n}×${o.c}×${o.h}×${o.w} `));
      tunedPlan = `${k?.plan ?? "?"}${(k?.parts ?? 1) > 1 ? ` (${k!.parts} parts)` : ""}`;
      runs.push(call);
    }
    const copyAt = copyShim && depthwise(L) ? runs.length : -1;
    if (copyAt >= 0) {
      const buf = new Float32Array(x.length), wide = jit.isa === "avx512" || jit.isa === "amx";
      runs.push(() => copyShim!.shim.copy(x, buf, x.length, wide));
    }
    // The FMA peak as one more contender, so each layer's % is of the same minutes' machine.
    using peakRun = peakContender(Math.max(flops, 1e7), {
      threads,
      bits: options.isa === "avx2" ? 256 : undefined,
    });
    runs.push(peakRun.run);
    sleepMs(threads > 1 ? 0 : 20);
    const t = race(runs, flops, threads);
    const rowPeak = peakRun.flops / (t[runs.length - 1] * 1e3);
    runs.pop();
    t.pop();
    const us = t[0];
    const dn = nchw ? t[1] : null, dp = pref ? t[nchw ? 2 : 1] : null;
    const dh = oursNhwc ? t[1 + (nchw ? 1 : 0) + (pref ? 1 : 0)] : null;
    const g = flops / us / 1e3;
    const copyUs = copyAt >= 0 ? t[copyAt] * (x.length + y.length) / (2 * x.length) : null;
    const row: ConvRow = {
      layer: L.name,
      gflop: flops / 1e9,
      oursUs: us,
      oursPct: (100 * g) / rowPeak,
      peakGflops: rowPeak,
      dnnlNchwUs: dn,
      dnnlPreferredUs: dp,
      dnnlLayout: layout,
      vsNchw: dn ? dn / us : null,
      vsPreferred: dp ? dp / us : null,
      oursNhwcUs: dh,
      vsPreferredNhwc: dp && dh ? dp / dh : null,
      ...(copyUs ? { copyPct: (100 * copyUs) / us } : {}),
      ...(tuned ? { tunedUs: t[runs.length - 1], tunedPlan } : {}),
    };
    rows.push(row);
    if (!options.json) {
      const f = (v: number | null, d = 1, width = 8) =>
        (v === null ? "—" : v.toFixed(d)).padStart(width);
      console.log(
        `${L.name.padEnd(32)} ${row.gflop.toFixed(3).padStart(7)} ${f(us, 1, 9)} ${f(g, 1, 7)} ${
          f(row.oursPct, 1, 5)
        }% ${f(rowPeak, 1, 7)} ${f(dn, 1, 14)} ${f(row.vsNchw, 2, 6)} ${f(dp, 1, 16)} (${
          (layout ?? "—").padEnd(7)
        }) ${f(row.vsPreferred, 2, 6)} ${f(dh, 1, 13)} ${f(row.vsPreferredNhwc, 2, 6)} ${
          f(row.copyPct ?? null, 0, 5)
        }${row.copyPct ? "%" : " "}` +
          (row.tunedUs
            ? ` ${f(row.tunedUs, 1, 9)} ${f((100 * flops) / row.tunedUs / 1e3 / rowPeak, 1, 5)}% ${
              f(us / row.tunedUs, 2, 6)
            }  ${row.tunedPlan}`
            : ""),
      );
    }
  }
  const bound = BOUND_CASES.filter((P) => picked(P.name));
  if (bound.length) compareBound(shim, threads, options.json, jit, rows, bound);
  return rows;
}

/**
 * A memory-bound CNN op: the input and output sizes, ours on NCHW, and
 * oneDNN's primitive for a layout (0 NCHW, 1 NHWC, 2 nChw16c; null if it
 * has none). Reported as µs, % of the copy bound (a copy of x scaled to the
 * bytes the op moves), and ratios to oneDNN NCHW and its best other layout.
 */
interface BoundCase {
  name: string;
  nx: number;
  ny: number;
  ours: (jit: Jit, x: Float32Array, y: Float32Array) => void;
  peer: (shim: Shim, layout: number) => Deno.PointerValue;
}

const i64 = BigInt;
const pool = (
  name: string,
  c: number,
  hw: number,
  k: number,
  s: number,
  p: number,
  global: boolean,
  average = false,
): BoundCase => {
  const oh = Math.floor((hw + 2 * p - k) / s) + 1, o = { n: 1, c, h: hw, w: hw };
  const kind = average ? "average" : "max";
  return {
    name,
    nx: c * hw * hw,
    ny: c * oh * oh,
    ours: global
      ? (jit, x, y) => jit.pool("globalAverage", x, y, o)
      : (jit, x, y) =>
        jit.pool(kind, x, y, { ...o, kernel: [k, k], strides: [s, s], pads: [p, p, p, p] }),
    peer: (shim, layout) =>
      shim.njb_pool(
        1n,
        i64(c),
        i64(hw),
        i64(hw),
        i64(k),
        i64(k),
        i64(s),
        i64(s),
        i64(p),
        i64(p),
        i64(p),
        i64(p),
        global || average ? 1 : 0, // average excluding the padding (ONNX's default)
        layout,
      ),
  };
};
const resize = (name: string, c: number, hw: number, linear: boolean): BoundCase => {
  const o = {
    n: 1,
    c,
    h: hw,
    w: hw,
    outH: 2 * hw,
    outW: 2 * hw,
    mode: linear ? "linear" as const : "nearest" as const,
  };
  return {
    name,
    nx: c * hw * hw,
    ny: 4 * c * hw * hw,
    // oneDNN resamples with half-pixel centres; its nearest rounds half up.
    ours: (jit, x, y) => jit.resize(x, y, linear ? o : { ...o, nearestMode: "round_prefer_ceil" }),
    // oneDNN 2.6.3's jit resampling segfaults on plain NCHW on this machine (its avx2 and
    // avx512 kernels; only the sse41 one runs it): compared in NHWC and nChw16c only.
    peer: (shim, layout) =>
      layout === 0 ? null : shim.njb_resample(
        1n,
        i64(c),
        i64(hw),
        i64(hw),
        i64(2 * hw),
        i64(2 * hw),
        linear ? 1 : 0,
        layout,
      ),
  };
};
const BN_MEAN = new Float32Array(64).map((_, i) => (i % 5) / 10),
  BN_VAR = new Float32Array(64).map((_, i) => 1 + (i % 3) / 4);
const BN_SCALE = new Float32Array(64).map((_, i) => 0.5 + (i % 7) / 10),
  BN_SHIFT = new Float32Array(64).map((_, i) => (i % 4) / 8);
const batchNorm = (name: string, hw: number): BoundCase => ({
  name,
  nx: 64 * hw * hw,
  ny: 64 * hw * hw,
  ours: (jit, x, y) =>
    jit.batchNorm(x, y, {
      n: 1,
      c: 64,
      h: hw,
      w: hw,
      scale: BN_SCALE,
      bias: BN_SHIFT,
      mean: BN_MEAN,
      variance: BN_VAR,
    }),
  peer: (shim, layout) =>
    shim.njb_batchnorm(
      1n,
      64n,
      i64(hw),
      i64(hw),
      1e-5,
      layout,
      BN_MEAN,
      BN_VAR,
      BN_SCALE,
      BN_SHIFT,
    ),
});

const BOUND_CASES: BoundCase[] = [
  pool("max pool 3×3/2 pad 1 112²×64", 64, 112, 3, 2, 1, false),
  pool("global average 7²×2048", 2048, 7, 7, 1, 0, true),
  // Inception's pool branches: 3×3, stride 1, padded.
  pool("average pool 3×3 pad 1 14²×576", 576, 14, 3, 1, 1, false, true),
  resize("resize linear 2× 56²×64", 64, 56, true),
  resize("resize nearest 2× 56²×64", 64, 56, false),
  batchNorm("batchNorm 112²×64", 112),
];

function compareBound(
  shim: Shim | null,
  threads: number,
  json: boolean,
  jit: Jit,
  rows: ConvRow[],
  cases: BoundCase[],
): void {
  const ops = loadOpsShim();
  const wide = jit.isa === "avx512" || jit.isa === "amx";
  if (!json) {
    console.log(
      "\nmemory-bound ops                   ours µs  %copy bound   oneDNN nchw µs  ×nchw   oneDNN best µs (layout)  ×best",
    );
  }
  for (const P of cases) {
    const { nx, ny } = P;
    const x = new Float32Array(nx).map((_, i) => ((i * 7919) % 1000) / 500 - 1);
    const y = new Float32Array(ny), yd = new Float32Array(ny);
    const ours = () => P.ours(jit, x, y);
    const runs: (() => void)[] = [ours];
    const copyBuf = new Float32Array(nx);
    if (ops) runs.push(() => ops.shim.copy(x, copyBuf, nx, wide));
    const layouts: [string, Deno.PointerValue][] = [];
    if (shim) {
      for (const [name, layout] of [["nchw", 0], ["nhwc", 1], ["nChw16c", 2]] as const) {
        const h = P.peer(shim, layout);
        if (!h) continue;
        if (layout) shim.njb_conv_load(h, x);
        ours();
        shim.njb_conv_run(h, x, yd);
        if (layout) shim.njb_conv_store(h, yd);
        for (let i = 0; i < ny; i++) {
          if (Math.abs(yd[i] - y[i]) > 1e-5 * (1 + Math.abs(y[i]))) {
            throw new Error(
              `${P.name}: oneDNN ${name} differs from ours at ${i}: ${yd[i]} vs ${y[i]}`,
            );
          }
        }
        layouts.push([name, h]);
        runs.push(() => void shim.njb_conv_run(h, x, yd));
      }
    }
    // race() sizes its windows by work: ~10 flops per byte moved keeps them near 10 ms.
    const t = race(runs, 40 * (nx + ny), threads);
    const us = t[0];
    const copyUs = ops ? t[1] * (nx + ny) / (2 * nx) : null;
    const peers = t.slice(ops ? 2 : 1);
    const nchw = layouts.findIndex(([n]) => n === "nchw");
    let best = -1;
    layouts.forEach(([n], i) => {
      if (n !== "nchw" && (best < 0 || peers[i] < peers[best])) best = i;
    });
    const row: ConvRow = {
      layer: P.name,
      gflop: 0,
      oursUs: us,
      oursPct: copyUs ? (100 * copyUs) / us : 0,
      dnnlNchwUs: nchw >= 0 ? peers[nchw] : null,
      dnnlPreferredUs: best >= 0 ? peers[best] : null,
      dnnlLayout: best >= 0 ? layouts[best][0] : null,
      vsNchw: nchw >= 0 ? peers[nchw] / us : null,
      vsPreferred: best >= 0 ? peers[best] / us : null,
      peakGflops: null,
      oursNhwcUs: null,
      vsPreferredNhwc: null,
    };
    rows.push(row);
    if (!json) {
      const f = (v: number | null, d = 1, width = 8) =>
        (v === null ? "—" : v.toFixed(d)).padStart(width);
      console.log(
        `${P.name.padEnd(32)} ${f(us, 1, 9)} ${f(copyUs ? row.oursPct : null, 1, 11)}% ${
          f(row.dnnlNchwUs, 1, 16)
        } ${f(row.vsNchw, 2, 6)} ${f(row.dnnlPreferredUs, 1, 16)} (${
          (row.dnnlLayout ?? "—").padEnd(7)
        }) ${f(row.vsPreferred, 2, 6)}`,
      );
    }
  }
}
