/**
 * The CPUID, XGETBV and RDTSC stubs: tiny functions written with our
 * assembler, installed once in a code arena of their own, entered through
 * the trampoline.
 *
 * @module
 */
import {
  Assembler,
  dword,
  eax,
  ebx,
  ecx,
  edx,
  type Label,
  r8,
  rax,
  rbx,
  rdi,
  rdx,
  type Reg,
  XMM,
} from "../../asm/mod.ts";
import { CodeArena, type CodeBlock } from "./arena.ts";
import { dispatch } from "./dispatch.ts";
import { NativeBlock } from "./memory.ts";

/** cpuid(block): block = [leaf, subleaf, eax, ebx, ecx, edx] as u32. rbx is callee-saved. */
export function cpuidCode(): Uint8Array {
  const a = new Assembler();
  a.emit("push", rbx);
  a.emit("mov", r8, rdi);
  a.emit("mov", eax, dword(r8, 0));
  a.emit("mov", ecx, dword(r8, 4));
  a.emit("cpuid");
  a.emit("mov", dword(r8, 8), eax);
  a.emit("mov", dword(r8, 12), ebx);
  a.emit("mov", dword(r8, 16), ecx);
  a.emit("mov", dword(r8, 20), edx);
  a.emit("pop", rbx);
  a.emit("ret");
  return a.finish().code;
}

/** xgetbv(block): block = [xcr, lo, hi] as u32. Only valid when CPUID says OSXSAVE. */
export function xgetbvCode(): Uint8Array {
  const a = new Assembler();
  a.emit("mov", ecx, dword(rdi, 0));
  a.emit("xgetbv");
  a.emit("mov", dword(rdi, 4), eax);
  a.emit("mov", dword(rdi, 8), edx);
  a.emit("ret");
  return a.finish().code;
}

/** rdtsc(): the time-stamp counter as a double in xmm0 (exact below 2^53 cycles). */
export function rdtscCode(): Uint8Array {
  const a = new Assembler();
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("cvtsi2sd", XMM[0], rax);
  a.emit("ret");
  return a.finish().code;
}

/**
 * Linux's per-CPU GDT entry (GDT_ENTRY_CPUNODE, selector 15·8 + 3): its
 * segment limit is node << 12 | CPU, which `lsl` reads in user mode; the
 * vDSO's getcpu does so where the CPU has neither RDTSCP nor RDPID.
 */
export const CPUNODE_SELECTOR = 0x7b;

/**
 * `dst` = the calling thread's CPU by the limit of CPUNODE_SELECTOR; on to
 * `bad` where `lsl` finds no readable limit (ZF clear).
 */
export function emitLslCpu(a: Assembler, dst: Reg, bad: Label): void {
  a.emit("mov", dst, CPUNODE_SELECTOR);
  a.emit("lsl", dst, dst);
  a.emit("jnz", bad);
  a.emit("and", dst, 0xfff);
}

/** lslCpu(block): block[0] = the CPU by the limit of CPUNODE_SELECTOR, or −1 if `lsl` fails. */
export function lslCpuCode(): Uint8Array {
  const a = new Assembler();
  const bad = a.label();
  emitLslCpu(a, eax, bad);
  a.emit("mov", dword(rdi, 0), eax);
  a.emit("ret");
  a.bind(bad);
  a.emit("mov", dword(rdi, 0), -1);
  a.emit("ret");
  return a.finish().code;
}

interface Stubs {
  cpuid: CodeBlock;
  xgetbv: CodeBlock;
  rdtsc: CodeBlock;
  lslCpu: CodeBlock;
  block: NativeBlock;
}
let stubs: Stubs | undefined;

function installed(): Stubs {
  if (stubs) return stubs;
  const arena = new CodeArena({ budgetBytes: 64 << 10, chunkBytes: 64 << 10 });
  stubs = {
    cpuid: arena.install(cpuidCode()),
    xgetbv: arena.install(xgetbvCode()),
    rdtsc: arena.install(rdtscCode()),
    lslCpu: arena.install(lslCpuCode()),
    block: new NativeBlock(64),
  };
  anchor = clockPair();
  return stubs;
}

/** Executes CPUID for `leaf`/`subleaf`: [eax, ebx, ecx, edx]. */
export function cpuid(leaf: number, subleaf = 0): [number, number, number, number] {
  const s = installed();
  s.block.u32[0] = leaf;
  s.block.u32[1] = subleaf;
  dispatch().call(s.cpuid.pointer, s.block.pointer);
  const u = s.block.u32;
  return [u[2], u[3], u[4], u[5]];
}

/** Executes XGETBV for register `xcr`: the 64-bit value as [low, high] 32-bit halves. */
export function xgetbv(xcr = 0): [number, number] {
  const s = installed();
  s.block.u32[0] = xcr;
  dispatch().call(s.xgetbv.pointer, s.block.pointer);
  return [s.block.u32[1], s.block.u32[2]];
}

/** The calling thread's CPU by the per-CPU segment's limit (−1 where it cannot be read). */
export function lslCpu(): number {
  const s = installed();
  dispatch().call(s.lslCpu.pointer, s.block.pointer);
  return s.block.i32[0];
}

/** Reads the time-stamp counter (about 10 ns through the trampoline). */
export function rdtsc(): number {
  const s = installed();
  return dispatch().callF64(s.rdtsc.pointer, null);
}

let tscPerNs = 0;

/** performance.now() and the TSC read together. */
interface ClockPair {
  ms: number;
  tsc: number;
}
/** The pair read when the stubs were installed: where the rate's interval starts. */
let anchor: ClockPair | undefined;
/** The least interval the rate is measured over (performance.now() steps by < 1 µs here: < 0.1%). */
const CALIBRATION_MS = 1;

/**
 * A pair; the TSC read either side of the clock, read again (up to 8 times) when more than
 * 40,000 ticks (~10 µs at 4 GHz) lie between them: something came between.
 */
function clockPair(): ClockPair {
  for (let i = 0;; i++) {
    const c0 = rdtsc(), ms = performance.now(), c1 = rdtsc();
    if (c1 - c0 < 40_000 || i === 8) return { ms, tsc: (c0 + c1) / 2 };
  }
}

/**
 * TSC ticks per nanosecond, measured once: from the stubs' install to the
 * first call, at least CALIBRATION_MS apart. It was a 5 ms spin at the first
 * call, which fell inside a process's first kernel call (the first timed
 * call, or the thread pool's start); the first call now finds the interval
 * already past and spins not at all.
 */
export function tscRate(): number {
  if (tscPerNs) return tscPerNs;
  installed();
  const from = anchor!;
  let to = clockPair();
  while (to.ms - from.ms < CALIBRATION_MS) to = clockPair();
  tscPerNs = (to.tsc - from.tsc) / ((to.ms - from.ms) * 1e6);
  return tscPerNs;
}
