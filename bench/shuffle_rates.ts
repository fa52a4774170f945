/**
 * Issue rates of the shuffles the convolution and pooling kernels choose
 * between, and of the division the vector math takes, beside the FMA:
 * each probe runs 12 independent chains of one instruction (or two
 * alternating) on zmm registers, emitted by our own assembler. Prints cycles per instruction at the clock the FMA probe
 * implies (2 FMAs a cycle), so 0.5 is two a cycle. Without AVX-512: ymm
 * registers, and the forms of AVX2's table lookups (vec.ts `lookup`).
 *
 *   deno run -A bench/shuffle_rates.ts
 *
 * @module
 */
import { Assembler, dword, eax, rax, rdi, vreg, ymmword } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { cpuFeatures } from "../src/cpu.ts";
import { bestCallSeconds } from "./timing.ts";

const zmm = cpuFeatures().avx512f;
if (!zmm && !cpuFeatures().avx2) {
  console.log("shuffle_rates: this CPU has neither AVX-512 nor AVX2; nothing to probe");
  Deno.exit(0);
}
const CHAINS = 12, ITERATIONS = 200_000;
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 16 });
// AVX2: ymm0-15, chains in 0-11, sources in 13-15 (AVX-512: zmm, sources in 30-31).
const z = (i: number) => vreg(zmm ? 512 : 256, zmm ? i : i % 16);
const SRC = zmm ? [30, 31] : [14, 15];

/** Seconds per instruction of a loop of 4 × CHAINS instructions (best of 5 runs). */
function probe(emit: (a: Assembler, chain: number) => void): number {
  const a = new Assembler();
  for (let i = 0; i < (zmm ? 32 : 16); i++) {
    a.emit("vxorps", vreg(128, i), vreg(128, i), vreg(128, i));
  }
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

const fma = (a: Assembler, i: number) => a.emit("vfmadd231ps", z(i), z(SRC[0]), z(SRC[1]));
const one = (name: string, imm?: number) => (a: Assembler, i: number) =>
  imm === undefined
    ? a.emit(name, z(i), z(SRC[0]), z(SRC[1]))
    : a.emit(name, z(i), z(SRC[0]), z(SRC[1]), imm);
const mix = (f: (a: Assembler, i: number) => void) => (a: Assembler, i: number) =>
  i % 2 ? f(a, i) : fma(a, i);
// The FMA probe sets the clock: two FMAs a cycle.
const cycle = probe(fma) * 2;
// AVX2's table lookups (math/*.ts through vec.ts `lookup`): vpermps with its table in memory,
// against a load of the table into the destination and the register form.
const avx2Rows: [string, (a: Assembler, i: number) => void][] = [
  ["vfmadd231ps", fma],
  ["vpermps", one("vpermps")],
  ["vpermps m256", (a, i) => a.emit("vpermps", z(i), z(SRC[0]), ymmword(rdi, 0))],
  ["vmovups + vpermps", (a, i) => {
    a.emit("vmovups", z(i), ymmword(rdi, 0));
    a.emit("vpermps", z(i), z(SRC[0]), z(i));
  }],
  ["vpermps + FMA", mix(one("vpermps"))],
  ["vpermilps", one("vpermilps")],
  ["vblendvps", (a, i) => a.emit("vblendvps", z(i), z(SRC[0]), z(SRC[1]), z(13))],
  // Sigmoid's and SiLU's division, and the reciprocal estimate a Newton step would refine.
  ["vdivps", one("vdivps")],
  ["vdivps + 5 FMA", (a, i) => i % 6 ? fma(a, i) : one("vdivps")(a, i)],
  ["vrcpps", (a, i) => a.emit("vrcpps", z(i), z(SRC[0]))],
  ["vrcpps + FMA", mix((a, i) => a.emit("vrcpps", z(i), z(SRC[0])))],
];
const rows: [string, (a: Assembler, i: number) => void][] = zmm
  ? [
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
  ]
  : avx2Rows;
console.log(
  `${zmm ? "zmm" : "ymm"}, ${CHAINS} chains; cycles per probe step (one instruction, or the pair ` +
    `named; clock from the FMA probe)`,
);
for (const [name, f] of rows) {
  console.log(`${name.padEnd(18)} ${(probe(f) / cycle).toFixed(2)}`);
}
arena.close();
