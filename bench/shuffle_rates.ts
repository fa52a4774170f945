/**
 * Issue rates of the shuffles the convolution and pooling kernels choose
 * between, and of the division the vector math takes, beside the FMA:
 * each probe runs 12 independent chains of one instruction (or two
 * alternating) on zmm registers, emitted by our own assembler. Prints cycles per instruction at the clock the FMA probe
 * implies (2 FMAs a cycle), so 0.5 is two a cycle.
 *
 *   deno run -A bench/shuffle_rates.ts
 *
 * @module
 */
import { Assembler, dword, eax, rax, rdi, vreg } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { cpuFeatures } from "../src/cpu.ts";
import { bestCallSeconds } from "./timing.ts";

if (!cpuFeatures().avx512f) {
  console.log("shuffle_rates: this CPU has no AVX-512; nothing to probe");
  Deno.exit(0);
}
const CHAINS = 12, ITERATIONS = 200_000;
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 16 });
const z = (i: number) => vreg(512, i);

/** Seconds per instruction of a loop of 4 × CHAINS instructions (best of 5 runs). */
function probe(emit: (a: Assembler, chain: number) => void): number {
  const a = new Assembler();
  for (let i = 0; i < 32; i++) a.emit("vxorps", vreg(128, i), vreg(128, i), vreg(128, i));
  a.emit("mov", eax, dword(rdi, 0));
  const top = a.label();
  a.align(64);
  a.bind(top);
  for (let u = 0; u < 4; u++) for (let i = 0; i < CHAINS; i++) emit(a, i);
  a.emit("dec", rax);
  a.emit("jnz", top);
  a.emit("vzeroupper");
  a.emit("ret");
  const code = arena.install(a.finish().code);
  const args = new NativeBlock(64);
  args.i32[0] = ITERATIONS;
  const best = bestCallSeconds(code.pointer, args.pointer);
  return best / (ITERATIONS * 4 * CHAINS);
}

const fma = (a: Assembler, i: number) => a.emit("vfmadd231ps", z(i), z(30), z(31));
const one = (name: string, imm?: number) => (a: Assembler, i: number) =>
  imm === undefined ? a.emit(name, z(i), z(30), z(31)) : a.emit(name, z(i), z(30), z(31), imm);
const mix = (f: (a: Assembler, i: number) => void) => (a: Assembler, i: number) =>
  i % 2 ? f(a, i) : fma(a, i);
// The FMA probe sets the clock: two FMAs a cycle.
const cycle = probe(fma) * 2;
const rows: [string, (a: Assembler, i: number) => void][] = [
  ["vfmadd231ps", fma],
  ["vpermt2ps", one("vpermt2ps")],
  ["vpermi2ps", one("vpermi2ps")],
  ["vpermps", one("vpermps")],
  ["valignd", one("valignd", 15)],
  ["vshuff32x4", one("vshuff32x4", 0x44)],
  ["vshufps", one("vshufps", 0x88)],
  ["vmaxps", one("vmaxps")],
  ["vpermt2ps + FMA", mix(one("vpermt2ps"))],
  ["vshufps + FMA", mix(one("vshufps", 0x88))],
  ["vpermps + FMA", mix(one("vpermps"))],
  // The division beside FMAs (sigmoid, tanh, SiLU): 1 in 6 instructions
  // a vdivps. Were it off the FMA pipes, 6 would take 2.5 cycles (5 FMAs).
  ["vdivps", one("vdivps")],
  ["vdivps + 5 FMA", (a, i) => i % 6 ? fma(a, i) : one("vdivps")(a, i)],
  ["vdivps + 5 vmaxps", (a, i) => i % 6 ? one("vmaxps")(a, i) : one("vdivps")(a, i)],
];
console.log(`zmm, ${CHAINS} chains; cycles per instruction (clock from the FMA probe)`);
for (const [name, f] of rows) {
  console.log(`${name.padEnd(18)} ${(probe(f) / cycle).toFixed(2)}`);
}
arena.close();
