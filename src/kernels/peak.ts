/**
 * Probes of the machine's limits, emitted by our own assembler: f32 FMA
 * throughput per vector width, and streaming read bandwidth. GEMM figures are
 * reported as a percentage of these, measured in the same run.
 *
 * @module
 */
import {
  Assembler,
  dword,
  eax,
  edx,
  type Mem,
  rax,
  rcx,
  rdi,
  rdx,
  vreg,
  ymmword,
  zmmword,
} from "../../asm/mod.ts";
import { loadPointer } from "./abi.ts";

/** Vector widths the FMA probe measures. */
export type ProbeBits = 128 | 256 | 512;

/** Independent accumulators: enough to cover FMA latency × throughput on any core. */
export function fmaProbeAccumulators(bits: ProbeBits): number {
  return bits === 512 ? 24 : 12;
}

/**
 * `probe(args)`: i32 at byte 0 = iterations. Each iteration issues
 * 4 × accumulators independent `vfmadd231ps` of the given width.
 */
export function fmaProbe(bits: ProbeBits): Uint8Array {
  const a = new Assembler();
  const n = fmaProbeAccumulators(bits);
  for (let i = 0; i < n + 2; i++) a.emit("vxorps", vreg(128, i), vreg(128, i), vreg(128, i));
  a.emit("mov", eax, dword(rdi, 0));
  const top = a.label();
  a.align(64);
  a.bind(top);
  for (let u = 0; u < 4; u++) {
    for (let i = 0; i < n; i++) {
      a.emit("vfmadd231ps", vreg(bits, i), vreg(bits, n), vreg(bits, n + 1));
    }
  }
  a.emit("dec", rax);
  a.emit("jnz", top);
  a.emit("vzeroupper");
  a.emit("ret");
  return a.finish().code;
}

/** FLOPs one iteration of {@link fmaProbe} performs. */
export function fmaProbeFlops(bits: ProbeBits): number {
  return 4 * fmaProbeAccumulators(bits) * (bits / 32) * 2;
}

/**
 * `read(args)`: f64 at byte 0 = buffer address, i32 at byte 8 = 512-byte
 * blocks, i32 at byte 16 = passes. Aligned vector loads only.
 */
export function readProbe(bits: 256 | 512): Uint8Array {
  const a = new Assembler();
  const bytes = bits / 8;
  const pass = a.label(), block = a.label();
  a.emit("mov", edx, dword(rdi, 16));
  a.bind(pass);
  loadPointer(a, rcx, 0);
  a.emit("mov", eax, dword(rdi, 8));
  a.align(64);
  a.bind(block);
  for (let i = 0; i < 512 / bytes; i++) {
    a.emit("vmovaps", vreg(bits, i % 8), ptrOf(bits, i * bytes));
  }
  a.emit("add", rcx, 512);
  a.emit("dec", rax);
  a.emit("jnz", block);
  a.emit("dec", rdx);
  a.emit("jnz", pass);
  a.emit("vzeroupper");
  a.emit("ret");
  return a.finish().code;
}

function ptrOf(bits: number, disp: number): Mem {
  return bits === 512 ? zmmword(rcx, disp) : ymmword(rcx, disp);
}
