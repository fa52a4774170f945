/**
 * Emission speed of the assembler on a kernel-like mix: the GEMM
 * microkernel's loads, broadcasts and FMAs with displacements, masked tails,
 * loop control and a label. Each iteration emits one 1,000-instruction
 * program and finishes it, so instructions per second = 1,000 / time.
 */
import { Assembler, dword, k1, r8, rax, rcx, rdx, rsi, ZMM, zmmword } from "../asm/mod.ts";

function kernelMix(a: Assembler): void {
  const top = a.label();
  a.bind(top);
  for (let u = 0; u < 4; u++) {
    a.emit("vmovups", ZMM[24], zmmword(rdx, u * 128));
    a.emit("vmovups", ZMM[25].k(k1).z, zmmword(rdx, u * 128 + 64));
    for (let i = 0; i < 6; i++) {
      a.emit("vbroadcastss", ZMM[26], dword(rsi, i * 4096 + u * 4));
      a.emit("vfmadd231ps", ZMM[i * 2], ZMM[24], ZMM[26]);
      a.emit("vfmadd231ps", ZMM[i * 2 + 1], ZMM[25], ZMM[26]);
    }
  }
  a.emit("add", rsi, 16);
  a.emit("add", rdx, 512);
  a.emit("dec", rcx);
  a.emit("jnz", top);
  for (let i = 0; i < 6; i++) {
    a.emit("vaddps", ZMM[i * 2], ZMM[i * 2], zmmword(r8, i * 4096));
    a.emit("vmovups", zmmword(r8, i * 4096), ZMM[i * 2]);
    a.emit("vmovups", zmmword(r8, i * 4096 + 64).k(k1), ZMM[i * 2 + 1]);
  }
  a.emit("mov", rax, 12345);
}

/** Instructions per program. */
const PER_PROGRAM = (() => {
  const a = new Assembler();
  while (a.instructions < 1000) kernelMix(a);
  return a.instructions;
})();

Deno.bench({
  name: `emit and finish a ${PER_PROGRAM}-instruction kernel-like program`,
  group: "assembler",
  fn() {
    const a = new Assembler();
    while (a.instructions < 1000) kernelMix(a);
    a.finish();
  },
});

Deno.bench({
  name: `the same, recording a listing`,
  group: "assembler",
  fn() {
    const a = new Assembler({ listing: true });
    while (a.instructions < 1000) kernelMix(a);
    a.finish();
  },
});
