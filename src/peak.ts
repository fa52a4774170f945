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

/** Peak figures of one run. */
export interface PeakFigures {
  /** f32 FMA GFLOPS by register width (null where the ISA is absent). */
  fma: { xmm: number | null; ymm: number | null; zmm: number | null };
  /** The peak of the widest width available: the reference of GEMM percentages. */
  peakGflops: number;
  /** Streaming read bandwidth over a 64 MiB buffer, GB/s. */
  readGBs: number;
}

function timeCall(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

/** Measures the FMA peak of one width in GFLOPS (best of `repeats` runs of about `ms` each). */
export function measureFma(bits: ProbeBits, ms = 30, repeats = 5): number {
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  try {
    const code = arena.install(fmaProbe(bits));
    const args = new NativeBlock(64);
    const call = () => dispatch().call(code.pointer, args.pointer);
    args.i32[0] = 1000;
    const t1 = timeCall(call);
    args.i32[0] = Math.max(
      1000,
      Math.min(2 ** 30, Math.round((1000 * ms) / 1000 / Math.max(t1, 1e-7))),
    );
    let best = 0;
    for (let r = 0; r < repeats; r++) {
      const t = timeCall(call);
      best = Math.max(best, (args.i32[0] * fmaProbeFlops(bits)) / t / 1e9);
    }
    return best;
  } finally {
    arena.close();
  }
}

/** Measures streaming read bandwidth in GB/s over `bytes` (best of `repeats`). */
export function measureRead(bytes = 64 << 20, repeats = 5): number {
  const bits = cpuFeatures().avx512f ? 512 : 256;
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  try {
    const code = arena.install(readProbe(bits));
    const buffer = new Float32Array(bytes / 4 + 16);
    const offset = (64 - (viewAddress(buffer) % 64)) % 64;
    const view = new Float32Array(buffer.buffer, offset, bytes / 4);
    view.fill(1); // touch every page
    const args = new NativeBlock(64);
    args.f64[0] = viewAddress(view);
    args.i32[2] = bytes / 512;
    args.i32[4] = 1;
    dispatch().call(code.pointer, args.pointer); // warm the TLB
    let best = 0;
    for (let r = 0; r < repeats; r++) {
      const t = timeCall(() => dispatch().call(code.pointer, args.pointer));
      best = Math.max(best, bytes / t / 1e9);
    }
    return best;
  } finally {
    arena.close();
  }
}

/** Measures every width this CPU offers and the read bandwidth. */
export function measurePeak(ms = 30): PeakFigures {
  const f = cpuFeatures();
  const fma = {
    xmm: f.fma ? measureFma(128, ms) : null,
    ymm: f.fma ? measureFma(256, ms) : null,
    zmm: f.avx512f ? measureFma(512, ms) : null,
  };
  const peakGflops = Math.max(fma.xmm ?? 0, fma.ymm ?? 0, fma.zmm ?? 0);
  return { fma, peakGflops, readGBs: measureRead() };
}
