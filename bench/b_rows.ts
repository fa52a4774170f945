/**
 * What reading B's rows ldb apart costs the direct tiles, B in L2 either
 * way: one strip of B (n columns) under M rows of A, with B's rows n apart
 * (contiguous) and `--ldb` apart, on 4 KiB pages and on 2 MiB pages (an
 * anonymous mapping with `MADV_HUGEPAGE`, 2 MiB aligned; the kernel's
 * transparent huge pages must allow `madvise`). Prints the median µs per
 * call and % of the FMA peak measured in the same run, and the plan.
 *
 *   deno run -A bench/b_rows.ts [--shape 64x48x3072] [--ldb 768]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit, measurePeak } from "../mod.ts";
import { timeInBlocks } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "64x48x3072" },
    ldb: { type: "string", default: "768" },
  },
});
const [m, n, k] = values.shape!.split("x").map(Number);
const wide = Number(values.ldb);
const MADV_HUGEPAGE = 14;
const libc = Deno.dlopen("libc.so.6", {
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "isize"], result: "pointer" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
});

/** `floats` on a fresh anonymous mapping, 2 MiB aligned, on huge pages if asked. */
function mapped(floats: number, huge: boolean): Float32Array {
  const span = 2 << 20, bytes = (Math.ceil((floats * 4) / span) + 1) * span;
  const p = libc.symbols.mmap(null, BigInt(bytes), 3, 0x22, -1, 0n);
  if (p === null) throw new Error("mmap failed");
  const at = (BigInt(Deno.UnsafePointer.value(p)) + BigInt(span - 1)) & ~BigInt(span - 1);
  const aligned = Deno.UnsafePointer.create(at)!;
  if (huge && libc.symbols.madvise(aligned, BigInt(bytes - span), MADV_HUGEPAGE) !== 0) {
    console.error("madvise(MADV_HUGEPAGE) failed: 4 KiB pages");
  }
  return new Float32Array(Deno.UnsafePointerView.getArrayBuffer(aligned, bytes - span), 0, floats);
}

using jit = new Jit({ threads: 1, tuneBudget: 0 });
const peak = measurePeak(20, 1).peakGflops;
console.log(`${m}×${n}×${k}, one thread, FMA peak ${peak.toFixed(1)} GFLOPS`);
for (const huge of [false, true]) {
  for (const ldb of [n, wide]) {
    const a = mapped(m * k, huge).fill(0.5), b = mapped(k * ldb, huge).fill(0.25);
    const c = new Float32Array(m * n);
    // One thread: no pool to let fall asleep; 21 windows of 20 calls after 30 ms of warm-up.
    const [seconds] = timeInBlocks([() => jit.gemm(a, b, c, { m, n, k, ldb })], 20, {
      rounds: 1,
      windows: 21,
      pauseMs: 0,
    });
    const key = jit.stats().keys.find((q) => q.key.includes(`ldb=${ldb} `));
    console.log(
      `ldb ${String(ldb).padStart(5)}, ${huge ? "2 MiB" : "4 KiB"} pages: ${
        (seconds * 1e6).toFixed(1)
      } µs, ${((2 * m * n * k) / seconds / 1e9 / peak * 100).toFixed(1)}% of the peak  ${
        key?.plan ?? ""
      }`,
    );
  }
}
libc.close();
