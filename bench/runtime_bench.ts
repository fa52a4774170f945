/**
 * The runtime's own cost on an 8×8×8 GEMM (a cache hit): jit.gemm with and
 * without profiling, against calling the same compiled kernel straight
 * through the trampoline with its argument block already filled. Each
 * iteration makes 100 calls: overhead per call = (difference) / 100.
 */
import { Jit } from "../mod.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock, viewAddress } from "../src/native/memory.ts";

const CALLS = 100;
const [m, n, k] = [8, 8, 8];
const a = new Float32Array(m * k).fill(1),
  b = new Float32Array(k * n).fill(1),
  c = new Float32Array(m * n);
const opts = { m, n, k };
const profiled = new Jit({ threads: 1 });
const unprofiled = new Jit({ profile: false, threads: 1 });
profiled.gemm(a, b, c, opts);
unprofiled.gemm(a, b, c, opts);
const kernel = profiled.compileGemm(opts);
const args = new NativeBlock(64);
args.f64[0] = viewAddress(a);
args.f64[1] = viewAddress(b);
args.f64[3] = viewAddress(c);
const d = dispatch();
const fn = kernel.code!.pointer;

Deno.bench({
  name: "kernel only: trampoline call, arguments prepared (x100)",
  group: "gemm 8x8x8 cache hit",
  baseline: true,
  fn() {
    for (let i = 0; i < CALLS; i++) d.call(fn, args.pointer);
  },
});
Deno.bench({
  name: "jit.gemm, profiling off (x100)",
  group: "gemm 8x8x8 cache hit",
  fn() {
    for (let i = 0; i < CALLS; i++) unprofiled.gemm(a, b, c, { m, n, k });
  },
});
Deno.bench({
  name: "jit.gemm, profiling on (x100)",
  group: "gemm 8x8x8 cache hit",
  fn() {
    for (let i = 0; i < CALLS; i++) profiled.gemm(a, b, c, { m, n, k });
  },
});
