/**
 * How far a load may advance per loop iteration and still be prefetched
 * into L1: loops of zmm loads over a buffer that fits L2 (768 KiB), each
 * iteration reading `loads` vectors `gap` bytes apart, then advancing
 * `stride` bytes; the buffer is covered once per pass. Prints cycles per
 * cache line read (at the clock the FMA probe implies, 2 FMAs a cycle).
 * On this Zen 5 (four runs): whole lines at strides under 2 KiB 1.0-1.35
 * cycles a line whatever the number of loads (once 1.8), at 2 KiB and more 1.7-2.2
 * (the short-row sums of reduce/generate.ts keep an iteration under 2 KiB
 * for it).
 *
 *   deno run -A bench/prefetch_stride.ts
 *
 * @module
 */
import { Assembler, dword, eax, ecx, ptr, r8, r9, rax, rcx, rdi, rsi, vreg } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { cpuFeatures } from "../src/cpu.ts";
import { fmaProbe, fmaProbeAccumulators } from "../src/kernels/peak.ts";
import { bestCallSeconds } from "./timing.ts";

if (!cpuFeatures().avx512f) {
  console.log("prefetch_stride: this CPU has no AVX-512; nothing to probe");
  Deno.exit(0);
}
const BYTES = 768 << 10, PASSES = 200;
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 16 });
const z = (i: number) => vreg(512, i);
const data = new NativeBlock(BYTES + 4096);
data.f32.fill(1);
const base = BigInt(Math.ceil(data.address / 4096) * 4096);
const args = new NativeBlock(64);
new BigUint64Array(args.buffer)[1] = base;

/** Best of 5 runs, seconds, of code looping `count` times over `body`, PASSES times. */
function time(count: number, body: (a: Assembler) => void, offsets = 1, step = 0): number {
  const a = new Assembler();
  a.emit("mov", ecx, dword(rdi, 0));
  const pass = a.label();
  a.bind(pass);
  a.emit("mov", r8, ptr(rdi, 8));
  a.emit("mov", r9, offsets);
  const offset = a.label();
  a.bind(offset);
  a.emit("mov", rsi, r8);
  a.emit("mov", eax, count);
  const top = a.label();
  a.align(64);
  a.bind(top);
  body(a);
  a.emit("dec", rax);
  a.emit("jnz", top);
  a.emit("add", r8, step);
  a.emit("dec", r9);
  a.emit("jnz", offset);
  a.emit("dec", rcx);
  a.emit("jnz", pass);
  a.emit("vzeroupper");
  a.emit("ret");
  args.i32[0] = PASSES;
  return bestCallSeconds(arena.install(a.finish().code).pointer, args.pointer);
}

// The clock: the peak probe's zmm FMAs, two a cycle.
const fmaArgs = new NativeBlock(64);
fmaArgs.i32[0] = 1 << 16;
const cycle = bestCallSeconds(arena.install(fmaProbe(512)).pointer, fmaArgs.pointer) /
  ((1 << 16) * 4 * fmaProbeAccumulators(512)) * 2;

/** Cycles per line: `loads` vectors `gap` bytes apart an iteration, advancing `stride`. */
function probe(loads: number, gap: number, stride: number): number {
  const span = loads * gap;
  // Passes over the stride's offsets so that every line is read once per pass.
  const offsets = Math.max(1, Math.floor(stride / span));
  const count = Math.floor(BYTES / stride);
  const lines = count * offsets * (gap >= 64 ? loads : (loads * gap) / 64);
  const t = time(
    count,
    (a) => {
      for (let i = 0; i < loads; i++) {
        a.emit("vaddps", z(i % 8), z(i % 8), ptr(rsi, i * gap).withSize(64));
      }
      a.emit("add", rsi, stride);
    },
    offsets,
    span,
  );
  return t / (PASSES * lines) / cycle;
}

const rows: [string, number, number, number][] = [
  ["16 lines, stride 1 KiB", 16, 64, 1024],
  ["28 lines, stride 1792", 28, 64, 1792],
  ["4 lines, stride 1 KiB (gaps)", 4, 64, 1024],
  ["56 loads 32 B apart, stride 1792", 56, 32, 1792],
  ["32 lines, stride 2 KiB", 32, 64, 2048],
  ["4 lines, stride 2 KiB (gaps)", 4, 64, 2048],
  ["49 lines, stride 3136", 49, 64, 3136],
  ["8 lines, stride 4 KiB (gaps)", 8, 64, 4096],
];
console.log("768 KiB in L2, zmm loads; cycles per line read (clock from the FMA probe)");
for (const [name, loads, gap, stride] of rows) {
  console.log(`${name.padEnd(34)} ${probe(loads, gap, stride).toFixed(2)}`);
}
arena.close();
