/**
 * Measures this machine's f32 FMA peak per vector width and its streaming
 * read bandwidth with the probes of `kernels/peak.ts`. Best of several
 * timings, since a peak is what the hardware can do when nothing interferes.
 *
 * @module
 */
import { cpuFeatures } from "./cpu.ts";
import { fmaProbe, fmaProbeFlops, type ProbeBits, readProbe } from "./kernels/peak.ts";
import { CodeArena } from "./native/arena.ts";
import { dispatch } from "./native/dispatch.ts";
import { NativeBlock, viewAddress } from "./native/memory.ts";
import { JOB_PARTS, JOB_WAKE, PART_BYTES } from "./native/pool_code.ts";
import { affinityCpuList, onCpu, sharedPool } from "./native/pool.ts";

/** Peak figures of one run. */
export interface PeakFigures {
  /** f32 FMA GFLOPS by register width (null where the ISA is absent). */
  fma: { xmm: number | null; ymm: number | null; zmm: number | null };
  /** The peak of the widest width available: the reference of GEMM percentages. */
  peakGflops: number;
  /** Streaming read bandwidth over a 64 MiB buffer, GB/s. */
  readGBs: number;
  /** Threads the probes ran on at once (figures are their sum). */
  threads: number;
}

/**
 * `run(entry, args)` on `threads` threads at once: the caller and pool
 * workers, each running the probe on its own copy of the argument block
 * (so each reads its own slice where the block says so).
 */
function onThreads(
  threads: number,
  code: Deno.PointerObject,
  args: NativeBlock[],
): () => void {
  if (threads === 1) return () => dispatch().call(code, args[0].pointer);
  const job = new NativeBlock(JOB_PARTS + threads * PART_BYTES);
  job.u32[0] = threads;
  job.u32[JOB_WAKE / 4] = 1; // wake sleeping workers: every thread must take part
  for (let t = 0; t < threads; t++) {
    job.f64[(JOB_PARTS + t * PART_BYTES) / 8] = Number(Deno.UnsafePointer.value(code));
    job.f64[(JOB_PARTS + t * PART_BYTES) / 8 + 1] = args[t].address;
  }
  const fork = sharedPool().forkJoin;
  return () => dispatch().call(fork, job.pointer);
}

/** Runs `body` with `threads − 1` pool workers started (and let go after). */
function withWorkers<T>(threads: number, body: () => T): T {
  if (threads === 1) return body();
  const pool = sharedPool();
  pool.acquire(threads - 1);
  // Long spins between probe runs; the pool's own policy back after (Jits may share it).
  const before = pool.spin;
  pool.setSpin({ workerUs: 1000, callerUs: 1000, streamUs: 0 });
  try {
    return body();
  } finally {
    pool.setSpin(before);
    pool.release();
  }
}

function timeCall(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

/**
 * Measures the FMA peak of one width in GFLOPS (best of `repeats` runs of
 * about `ms` each), on `threads` threads at once (their sum).
 */
export function measureFma(bits: ProbeBits, ms = 30, repeats = 5, threads = 1): number {
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  try {
    const code = arena.install(fmaProbe(bits));
    const args = Array.from({ length: threads }, () => new NativeBlock(64));
    return withWorkers(threads, () => {
      const call = onThreads(threads, code.pointer, args);
      const iterations = (n: number) => args.forEach((b) => (b.i32[0] = n));
      iterations(1000);
      const t1 = timeCall(call);
      iterations(
        Math.max(1000, Math.min(2 ** 30, Math.round(ms / 1000 / Math.max(t1, 1e-7) * 1000))),
      );
      call();
      let best = 0;
      for (let r = 0; r < repeats; r++) {
        const t = timeCall(call);
        best = Math.max(best, (threads * args[0].i32[0] * fmaProbeFlops(bits)) / t / 1e9);
      }
      return best;
    });
  } finally {
    arena.close();
  }
}

/**
 * Measures streaming read bandwidth in GB/s over `bytes` (best of
 * `repeats`), each of `threads` threads reading its own slice.
 */
export function measureRead(bytes = 64 << 20, repeats = 5, threads = 1): number {
  const probe = readSetup(bytes, threads);
  try {
    return withWorkers(threads, () => {
      const call = onThreads(threads, probe.code, probe.args);
      call(); // warm the TLB
      let best = 0;
      for (let r = 0; r < repeats; r++) {
        best = Math.max(best, probe.bytes / timeCall(call) / 1e9);
      }
      return best;
    });
  } finally {
    probe.arena.close();
  }
}

/**
 * The read probe over a buffer of about `bytes` (each of `threads` threads
 * its own slice, whole 512-byte blocks), pages touched: `bytes` is what one
 * call reads, all threads together.
 */
function readSetup(
  bytes: number,
  threads: number,
): {
  arena: CodeArena;
  code: Deno.PointerObject;
  args: NativeBlock[];
  bytes: number;
  buffer: Float32Array;
} {
  const bits = cpuFeatures().avx512f ? 512 : 256;
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  const code = arena.install(readProbe(bits));
  const slice = Math.max(512, Math.floor(bytes / threads / 512) * 512);
  const buffer = new Float32Array((slice * threads) / 4 + 16);
  const offset = (64 - (viewAddress(buffer) % 64)) % 64;
  const view = new Float32Array(buffer.buffer, offset, (slice * threads) / 4);
  view.fill(1); // touch every page
  const args = Array.from({ length: threads }, (_, t) => {
    const b = new NativeBlock(64);
    b.f64[0] = viewAddress(view) + t * slice;
    b.i32[2] = slice / 512;
    b.i32[4] = 1;
    return b;
  });
  // The argument blocks hold the buffer's address only: whoever runs the probe holds `buffer`.
  return { arena, code: code.pointer, args, bytes: slice * threads, buffer };
}

/**
 * Measures every width this CPU offers and the read bandwidth, on `threads`
 * threads at once (default 1: one core's figures).
 */
export function measurePeak(ms = 30, threads = 1): PeakFigures {
  const f = cpuFeatures();
  const fma = {
    xmm: f.fma ? measureFma(128, ms, 5, threads) : null,
    ymm: f.fma ? measureFma(256, ms, 5, threads) : null,
    zmm: f.avx512f ? measureFma(512, ms, 5, threads) : null,
  };
  const peakGflops = Math.max(fma.xmm ?? 0, fma.ymm ?? 0, fma.zmm ?? 0);
  return { fma, peakGflops, readGBs: measureRead(64 << 20, 5, threads), threads };
}

/** One CPU's one-thread FMA peak (the widest width), GFLOPS. */
export interface CpuPeak {
  cpu: number;
  gflops: number;
}

/**
 * The one-thread FMA peak of each CPU the process may run on, the calling
 * thread pinned to each in turn (its own mask restored after). A guest's
 * vCPUs need not be equal: on a shared host one whose physical core a busy
 * neighbour also runs on loses part of its rate, for minutes or hours (on
 * this project's 2-vCPU guest, 2026-12-05, one ran an FMA loop at two
 * thirds of the other's rate at times, and at ×0.94-0.96 in the benches'
 * lines), and a one-thread figure then depends on which CPU its thread
 * ran on. Benches print these beside their peak so a reader can tell.
 * Empty where affinity cannot be set.
 */
export function measurePeakPerCpu(ms = 20): CpuPeak[] {
  const f = cpuFeatures(), bits: ProbeBits = f.avx512f ? 512 : f.fma ? 256 : 128;
  const out: CpuPeak[] = [];
  for (const cpu of affinityCpuList()) {
    const gflops = onCpu(cpu, () => measureFma(bits, ms, 3, 1));
    if (gflops !== null) out.push({ cpu, gflops });
  }
  return out;
}

/** The per-CPU peaks as one line's text: "cpu0 220, cpu1 233 GFLOPS (slowest ×0.94 of the fastest)". */
export function describeCpuPeaks(peaks: readonly CpuPeak[]): string {
  if (peaks.length === 0) return "not measured (affinity not settable)";
  const top = Math.max(...peaks.map((p) => p.gflops)),
    low = Math.min(...peaks.map((p) => p.gflops));
  const list = peaks.map((p) => `cpu${p.cpu} ${p.gflops.toFixed(0)}`).join(", ");
  return `${list} GFLOPS${
    peaks.length > 1 ? ` (slowest ×${(low / top).toFixed(2)} of the fastest)` : ""
  }`;
}

/**
 * The widest FMA probe as a contender a bench can time beside the calls it
 * rates: each `run()` does `flops` of FMAs (the peak's share of `flopsPerRun`,
 * rounded to whole probe iterations) on `threads` threads. On a shared
 * machine whose speed drifts within minutes, a peak measured once at the
 * start rates later calls against another minute's machine; raced in the
 * same windows as the calls, the peak sees the same minutes they do.
 */
export interface PeakContender extends Disposable {
  /** One timed unit: `flops` FMA flops over `threads` threads. */
  run: () => void;
  /** Flops one `run()` does (all threads). */
  flops: number;
  /** Threads the probe runs on at once. */
  threads: number;
}

/**
 * Starts a {@link PeakContender} (workers held until disposed); `bits` the
 * vector width (default the widest this CPU has).
 */
export function peakContender(
  flopsPerRun: number,
  options: { threads?: number; bits?: 256 | 512 } = {},
): PeakContender {
  const f = cpuFeatures();
  if (!f.fma) throw new RangeError("peakContender: this CPU has no FMA, so no FMA peak");
  const threads = options.threads ?? 1;
  const bits: ProbeBits = options.bits ?? (f.avx512f ? 512 : 256);
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  const code = arena.install(fmaProbe(bits));
  const iterations = Math.max(
    1,
    Math.min(2 ** 30, Math.round(flopsPerRun / threads / fmaProbeFlops(bits))),
  );
  const args = Array.from({ length: threads }, () => {
    const b = new NativeBlock(64);
    b.i32[0] = iterations;
    return b;
  });
  const pool = threads > 1 ? sharedPool() : null;
  pool?.acquire(threads - 1);
  return {
    run: onThreads(threads, code.pointer, args),
    flops: threads * iterations * fmaProbeFlops(bits),
    threads,
    [Symbol.dispose]() {
      pool?.release();
      arena.close();
    },
  };
}

/**
 * The streaming read of a buffer as a contender a bench can time beside
 * the calls it rates, as {@link PeakContender} is for the FMA peak: each
 * `run()` reads `bytes` (about `bytesPerRun`, in whole 512-byte blocks per
 * thread) on `threads` threads, the same buffer every run — so it sits
 * where a model's weights sit between its runs (in L3 when they fit).
 */
export interface ReadContender extends Disposable {
  /** One timed unit: `bytes` read over `threads` threads. */
  run: () => void;
  /** Bytes one `run()` reads (all threads). */
  bytes: number;
  /** Threads the probe runs on at once. */
  threads: number;
}

/** Starts a {@link ReadContender} (workers held until disposed). */
export function readContender(
  bytesPerRun: number,
  options: { threads?: number } = {},
): ReadContender {
  const threads = options.threads ?? 1;
  const probe = readSetup(bytesPerRun, threads);
  const pool = threads > 1 ? sharedPool() : null;
  pool?.acquire(threads - 1);
  const read = onThreads(threads, probe.code, probe.args);
  let buffer: Float32Array | null = probe.buffer;
  return {
    // The closure keeps the buffer alive while the probe may read it.
    run: () => {
      if (buffer === null) throw new Error("readContender: disposed");
      read();
    },
    bytes: probe.bytes,
    threads,
    [Symbol.dispose]() {
      buffer = null;
      pool?.release();
      probe.arena.close();
    },
  };
}
