/**
 * The fast way into JIT code.
 *
 * `Deno.UnsafeFnPointer.call` always takes Deno's generic path (hundreds of
 * ns). Only symbols of a `Deno.dlopen`ed library get V8's fast calls, so we
 * emit a one-function shared object, `njit_call(fn, a, b, c, d, e)`, whose code
 * moves each argument one register down and tail-jumps to `fn`. It is written
 * into a memfd and opened as `/proc/self/fd/N`: no file on disk, no read
 * permission, only `--allow-ffi`. Every kernel is then entered as `fn(args)`,
 * with its operands in an argument block.
 *
 * @module
 */
import { Assembler, qword, r11, r12, r8, r9, rax, rbx, rcx, rdi, rdx, rsi } from "../../asm/mod.ts";
import { buildSharedObject } from "./elf.ts";
import { libc, libcError, MFD_CLOEXEC } from "./libc.ts";
import { NativeBlock } from "./memory.ts";

/** FFI signatures of the trampolines (several JS signatures may name the same code). */
export const TRAMPOLINE_SYMBOLS = {
  /** fn(args), result ignored. */
  call: { name: "njit_call", parameters: ["pointer", "pointer"], result: "void" },
  /** fn(args), result in xmm0 returned as a double. */
  callF64: { name: "njit_call", parameters: ["pointer", "pointer"], result: "f64" },
  /** fn(args), result in eax returned as an i32. */
  callI32: { name: "njit_call", parameters: ["pointer", "pointer"], result: "i32" },
  /**
   * fn(args) on a thread of Deno's blocking pool: a Promise that settles when
   * fn returns, the event loop free meanwhile (the async form of calls). The
   * eight buffers beside are ignored by the trampoline (the last four travel
   * on the stack); Deno keeps their backing stores alive until fn returns,
   * whatever JavaScript does with them meanwhile.
   */
  callAsyncKeeping: {
    name: "njit_call",
    parameters: [
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "void",
    nonblocking: true,
  },
  /**
   * fn(args), timed: adds the RDTSC cycles of the call to u64 counters[0] and
   * increments counters[1], all in native code (no timer call from JS), and
   * the same to this thread's totals (`timedCycles`).
   */
  callTimed: {
    name: "njit_call_timed",
    parameters: ["pointer", "pointer", "pointer"],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The callable trampoline symbols. */
export type Dispatch = Deno.DynamicLibrary<typeof TRAMPOLINE_SYMBOLS>["symbols"];

/**
 * The trampoline's code: rdi holds the target; the next five arguments move
 * down one register each (rsi->rdi, rdx->rsi, rcx->rdx, r8->rcx, r9->r8),
 * then a tail jump, so the target returns straight to the FFI caller.
 */
export function trampolineCode(): Uint8Array {
  const a = new Assembler();
  a.emit("mov", rax, rdi);
  a.emit("mov", rdi, rsi);
  a.emit("mov", rsi, rdx);
  a.emit("mov", rdx, rcx);
  a.emit("mov", rcx, r8);
  a.emit("mov", r8, r9);
  a.emit("jmp", rax);
  return a.finish().code;
}

/**
 * The timed trampoline: `njit_call_timed(fn, args, counters)`. rbx and r12
 * are callee-saved, so they hold fn and counters across the call; three
 * pushes keep the stack 16-byte aligned at the inner call. The cycles and
 * the call are also added to the u64 pair at `totals` (an address).
 */
export function timedTrampolineCode(totals: bigint): Uint8Array {
  const a = new Assembler();
  a.emit("push", rbx);
  a.emit("push", r12);
  a.emit("mov", rbx, rdi);
  a.emit("mov", r12, rdx);
  a.emit("mov", rdi, rsi);
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("push", rax);
  a.emit("call", rbx);
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("pop", rcx);
  a.emit("sub", rax, rcx);
  a.emit("add", qword(r12, 0), rax);
  a.emit("inc", qword(r12, 8));
  a.emit("mov", r11, totals);
  a.emit("add", qword(r11, 0), rax);
  a.emit("inc", qword(r11, 8));
  a.emit("pop", r12);
  a.emit("pop", rbx);
  a.emit("ret");
  return a.finish().code;
}

let lib: Deno.DynamicLibrary<typeof TRAMPOLINE_SYMBOLS> | undefined;

/**
 * The timed trampoline's totals over every timed call on this thread
 * (u64 cycles, u64 calls), read by `timedCycles`; made with the trampoline
 * (its address is an FFI call, which needs --allow-ffi: not at import).
 * Each isolate opens its own trampoline, so a Worker's calls count in its
 * own.
 */
let totals: NativeBlock | null = null;

/**
 * RDTSC cycles of every timed kernel call on this thread so far, any
 * Jit's (a profiled call: `profile` on): the difference across a stretch
 * of code is the time its calls spent in native code, the path from
 * JavaScript to them left out.
 */
export function timedCycles(): number {
  return totals === null ? 0 : totals.u32[0] + totals.u32[1] * 2 ** 32;
}

/** The trampoline symbols, built and opened on first use. */
export function dispatch(): Dispatch {
  if (lib) return lib.symbols;
  const c = libc();
  const so = buildSharedObject([
    { name: "njit_call", code: trampolineCode() },
    {
      name: "njit_call_timed",
      code: timedTrampolineCode(BigInt((totals ??= new NativeBlock(16)).address)),
    },
  ]);
  const fd = c.memfd_create(new TextEncoder().encode("njit-trampoline\0"), MFD_CLOEXEC);
  if (fd < 0) throw libcError("memfd_create");
  try {
    const written = c.write(fd, so, BigInt(so.length));
    if (written !== BigInt(so.length)) throw libcError("write(memfd)");
    lib = Deno.dlopen(`/proc/self/fd/${fd}`, TRAMPOLINE_SYMBOLS);
  } finally {
    c.close(fd);
  }
  return lib.symbols;
}
