/**
 * The calling convention of every kernel: `void kernel(double* args)`,
 * entered through the dispatch trampoline with the argument block in rdi.
 * Pointers travel in the block as doubles (exact below 2^53, which every
 * user-space address is), so TypeScript writes them with one store and no
 * BigInt; the prologue converts them with cvttsd2si.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  eax,
  type Label,
  type Mem,
  ptr,
  qword,
  r12,
  r13,
  r14,
  r15,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsp,
  XMM,
} from "../../asm/mod.ts";

/**
 * Argument block: slots 0..6 hold the operands' addresses in the order of
 * the family's `operands`; this slot holds the workspace address.
 */
export const WORKSPACE_SLOT = 7;

/**
 * The slot of a split call's first part's argument block where parts that
 * combine their results count their arrivals (`lock xadd`; zero between
 * calls: the last to arrive puts it back). A split's parts' blocks lie
 * ARG_BLOCK_BYTES apart in part order, in one job block (and in a recorded
 * call's copy of it), and the runtime writes only the operand slots and the
 * workspace slot: this one is a family's of at most six operands.
 */
export const JOIN_SLOT = 6;

/**
 * Part `part` of a split into `parts` counts its arrival in the first part's
 * argument block (JOIN_SLOT; this part's block at `args`): every part but the last
 * to arrive jumps to `notLast`; the last puts the count back to zero (the
 * others have all arrived) and falls through, where it may read what they
 * wrote. The fence orders this part's stores (non-temporal ones too) before
 * its count. Uses eax and rdx (the first part's block, on fall-through).
 */
export function emitArrival(
  a: Assembler,
  args: Reg,
  part: number,
  parts: number,
  notLast: Label,
): void {
  a.emit("sfence");
  a.emit("lea", rdx, ptr(args, -part * ARG_BLOCK_BYTES));
  a.emit("mov", eax, 1);
  a.emit("lock");
  a.emit("xadd", dword(rdx, JOIN_SLOT * 8), eax);
  a.emit("cmp", eax, parts - 1);
  a.emit("jne", notLast);
  a.emit("mov", dword(rdx, JOIN_SLOT * 8), 0);
}

/** Bytes of an argument block. */
export const ARG_BLOCK_BYTES = 64;

/** The registers a kernel must restore (System V x86-64). */
export const CALLEE_SAVED: readonly Reg[] = [rbx, rbp, r12, r13, r14, r15];

/** Saves the callee-saved registers the kernel uses. */
export function saveRegisters(a: Assembler, used: readonly Reg[]): void {
  for (const r of CALLEE_SAVED) if (used.includes(r)) a.emit("push", r);
}

/** Restores them (reverse order). */
export function restoreRegisters(a: Assembler, used: readonly Reg[]): void {
  for (const r of [...CALLEE_SAVED].reverse()) if (used.includes(r)) a.emit("pop", r);
}

/** dst = the pointer in argument slot `slot`. */
export function loadPointer(a: Assembler, dst: Reg, slot: number): void {
  a.emit("cvttsd2si", dst, qword(rdi, slot * 8));
}

/** A loop run `count` times (a constant): nothing, the body once, or a counted loop on `counter`. */
export function countedLoop(a: Assembler, counter: Reg, count: number, body: () => void): void {
  if (count <= 0) return;
  if (count === 1) return body();
  a.emit("mov", counter, count);
  const top = a.label();
  a.bind(top);
  body();
  a.emit("dec", counter);
  a.emit("jnz", top);
}

/**
 * A loop run `count` times (a constant) with its counter in the qword at
 * [rsp + slot]: for loop nests deeper than the free registers.
 */
export function frameLoop(a: Assembler, slot: number, count: number, body: () => void): void {
  if (count <= 0) return;
  if (count === 1) return body();
  a.emit("mov", qword(rsp, slot), count);
  const top = a.label();
  a.bind(top);
  body();
  a.emit("dec", qword(rsp, slot));
  a.emit("jnz", top);
}

/**
 * A loop run as many times as `counter` holds when it is reached (a count
 * known only at run time; 0: not at all), counting it down to 0.
 */
export function runtimeLoop(a: Assembler, counter: Reg, body: () => void): void {
  const top = a.label(), done = a.label();
  a.emit("test", counter, counter);
  a.emit("jz", done);
  a.bind(top);
  body();
  a.emit("dec", counter);
  a.emit("jnz", top);
  a.bind(done);
}

/**
 * {@link runtimeLoop} run (count >> shift) & mask times (mask 0: unmasked),
 * the counter set from the register `count`, which is left as it is: a
 * kernel's whole vector steps and its rest, of a count known at run time.
 */
export function runtimeLoopOf(
  a: Assembler,
  counter: Reg,
  count: Reg,
  shift: number,
  mask: number,
  body: () => void,
): void {
  a.emit("mov", counter, count);
  if (shift) a.emit("shr", counter, shift);
  if (mask) a.emit("and", counter, mask);
  runtimeLoop(a, counter, body);
}

/**
 * dst += imm (or -= for "sub") for any immediate a stride product can reach:
 * x86 adds take 32-bit signed immediates, so a larger one (a K block of a
 * 4 MiB leading dimension is 2 GiB) goes in several steps of at most 2^30.
 */
export function addImmediate(a: Assembler, op: "add" | "sub", dst: Reg | Mem, imm: number): void {
  let rest = imm;
  while (rest > 0x7fffffff) {
    a.emit(op, dst, 1 << 30);
    rest -= 1 << 30;
  }
  if (rest !== 0) a.emit(op, dst, rest);
}

/**
 * Copies the argument block at [rdi] to [rsp] (ARG_BLOCK_BYTES, the frame
 * the caller reserved): drivers that call a kernel several times on a copy
 * with its operands advanced. Uses rax.
 */
export function copyArgBlock(a: Assembler): void {
  for (let q = 0; q < ARG_BLOCK_BYTES; q += 8) {
    a.emit("mov", rax, qword(rdi, q));
    a.emit("mov", qword(rsp, q), rax);
  }
}

/**
 * Adds `bytes` to the address in slot `slot` of the argument block at
 * [base] (addresses travel as doubles, see the module doc). Uses rax, rcx
 * and xmm0.
 */
export function advanceSlot(a: Assembler, base: Reg, slot: number, bytes: number): void {
  a.emit("cvttsd2si", rax, qword(base, slot * 8));
  a.emit("mov", rcx, bytes);
  a.emit("add", rax, rcx);
  a.emit("cvtsi2sd", XMM[0], rax);
  a.emit("movsd", qword(base, slot * 8), XMM[0]);
}
