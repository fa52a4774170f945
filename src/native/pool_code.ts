/**
 * The thread pool's machine code: the worker loop (a pthread start routine),
 * the caller's fork/join and the shutdown stub. Nothing here enters V8: a
 * worker thread runs only this loop and the kernels it is handed.
 *
 * Shared state lives in one page of native memory (`POOL` offsets, each hot
 * word on its own cache line):
 * - `GEN`: bumped (atomically) to publish a job; the futex workers sleep on.
 * - `RANGES`: the job's parts cut into one contiguous range per thread
 *   (`RANGE_COUNT` of them: the threads, at most the parts), each word
 *   `end << 32 | next`, eight to a line (each claim moves that line between
 *   cores, as the one shared counter's did); `lock xadd` hands out its part
 *   indices. A thread
 *   claims from its own range (the caller the first, worker i the range i)
 *   in order, then from the others' (see `claimPart`). A late worker's
 *   increment past `end` is harmless, and a publish overwrites every range
 *   it uses, so a part is never run twice.
 * - `DONE`: parts finished; the futex the caller sleeps on (`WAITING` set).
 * - `BUSY`: one job at a time; a caller that finds the pool busy (an async
 *   job in flight) runs all its parts itself: same results, no waiting.
 *
 * Ordering is x86's: stores are seen in program order (TSO) and every
 * `lock`ed instruction is a full barrier, so the job pointer written before
 * `RANGES` is seen by whoever claims from them, and a sleeper cannot miss a
 * wake-up (it bumps `SLEEPERS` before the futex re-checks `GEN`; the caller
 * bumps `GEN` before reading `SLEEPERS`).
 *
 * @module
 */
import {
  Assembler,
  byte,
  dword,
  eax,
  ecx,
  edi,
  edx,
  esi,
  GP32,
  GP8,
  type Label,
  qword,
  r10,
  r12,
  r13,
  r14,
  r15,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../asm/mod.ts";
import { SYS_GETTID } from "./libc.ts";
import { emitLslCpu } from "./stubs.ts";

const r13d = GP32[13], r14d = GP32[14], r15d = GP32[15], ebx = GP32[3];
const al = GP8[0], cl = GP8[1];

/** Byte offsets in the pool's shared page. */
export const POOL = {
  GEN: 0,
  /** Ranges of the job published (u32), at most the threads and the parts, at least 1. */
  RANGE_COUNT: 64,
  JOB: 72,
  DONE: 128,
  WAITING: 132,
  SLEEPERS: 192,
  STOP: 256,
  /** TSC cycles a worker spins on `GEN` before it sleeps. */
  WORKER_SPIN: 264,
  /** TSC cycles the caller spins on `DONE` before it sleeps. */
  CALLER_SPIN: 272,
  BUSY: 320,
  /** Calls that found the pool busy and ran serially (u64). */
  SERIAL: 328,
  /** Worker threads started (u32). */
  WORKER_COUNT: 336,
  /**
   * The CPU the workers were last kept off (i32, −1: none yet, or a worker
   * started since): see `keepOffCaller`.
   */
  LAST_CPU: 340,
  /**
   * How the caller learns its CPU to keep the workers off it (2+ CPUs): 0
   * it does not, 1 by RDTSCP, 2 by `lsl` on Linux's per-CPU segment (no
   * RDTSCP; checked against sched_getcpu at the pool's start), 3 by the
   * getcpu syscall (about 1 µs a job on a Firecracker guest).
   */
  KEEP_OFF: 344,
  /** TSC when the last job (or whole-call run) ended (u64). */
  LAST_END: 352,
  /**
   * TSC cycles: a small job that finds every worker asleep this soon after
   * the last one ended is part of a dense stream of calls, and wakes them.
   */
  STREAM_GAP: 360,
  /** The caller's CPU as getcpu writes it (u32; see `keepOffCaller`). */
  CALLER_CPU: 368,
  /** TSC when the caller last read its CPU (u64; see `keepOffCaller`). */
  CPU_READ_AT: 376,
  /** TSC cycles within which a job does not read the caller's CPU again (u64). */
  CPU_REREAD: 384,
  /**
   * The caller's scan of the ranges (three u32, see `claimPart`): the range
   * it claims from, ranges left, its own. On a line of its own: beside JOB
   * (which workers read after every claim), the caller's writes put the
   * empty job round trip at 0.97-1.02 µs against 0.86-0.89 without the
   * ranges; here 0.87 (`bench/pool_figures.ts`, Zen 5, in turn).
   */
  CALLER_SCAN: 448,
  /** The process's CPU affinity mask (`MASK_BYTES`). */
  MASK: 512,
  /** The mask without the caller's CPU, handed to sched_setaffinity. */
  SCRATCH: 640,
  /** Worker records, `WORKER_BYTES` each. */
  WORKERS: 1024,
  /** The job's ranges of parts: a u64 `end << 32 | next` per thread (at most 128). */
  RANGES: 8192,
} as const;

/** Bytes of a CPU mask (1024 CPUs). */
export const MASK_BYTES = 128;

/** Bytes of one worker's record: pool address, then its counters. */
export const WORKER_BYTES = 64;

/** Offsets in a worker record. */
export const WORKER = {
  /** The pool page's address (u64), written before the thread starts. */
  POOL: 0,
  /** Parts this worker ran (u64). */
  PARTS: 8,
  /** Times it went to sleep on the futex (u64). */
  SLEEPS: 16,
  /** Jobs it woke up for (u64). */
  JOBS: 24,
  /**
   * `GEN` when the thread was created (u32): its first generation. Read at
   * start it could already include a job or the shutdown published before
   * the thread ran, and the worker would wait for the next one forever.
   */
  GEN0: 32,
  /** Its thread id (u32), written by the thread when it starts. */
  TID: 36,
  /** Its index among the job's threads (u32; the caller is 0): its own range is this one's modulo the count. */
  INDEX: 40,
  /** Its scan of the ranges (three u32, see `claimPart`): the range it claims from, ranges left, its own. */
  SCAN: 44,
} as const;

/** Bytes of the shared pages (the worker records, then the ranges). */
export const POOL_BYTES = POOL.RANGES + 4096;

/** Most workers a pool holds (their records fill the room before the ranges). */
export const MAX_WORKERS = (POOL.RANGES - POOL.WORKERS) / WORKER_BYTES;

/**
 * Job layout (written by the runtime, read by the code here): u32 part count
 * at 0, u32 `JOB_WAKE` at 4, then from `JOB_PARTS` one (kernel, argument
 * block) pair of addresses per part, as doubles (the argument-block
 * convention).
 */
export const JOB_PARTS = 64;

/**
 * Byte offset of the job's wake flag: nonzero, sleeping workers are woken
 * for it. Zero (a small job): waking a worker costs the caller a syscall
 * (7-10 µs on a KVM guest, whose idle vCPU must be woken) and the worker
 * would arrive after the job is done. Such a job runs on the threads awake;
 * when every worker sleeps it runs its whole-call kernel (`JOB_WHOLE`) on
 * the caller instead, unless it comes within `STREAM_GAP` of the last job:
 * then it is part of a dense stream of calls, and waking the workers once
 * pays for the calls to come.
 */
export const JOB_WAKE = 4;

/** Byte offsets of a small job's whole-call kernel and its argument block (doubles; 0: none). */
export const JOB_WHOLE = 8;

/**
 * Byte offset of a call list's CPU (u32, the CPU + 1; 0: anywhere): `runAll`
 * runs the list with its thread pinned there and leaves it pinned, its tid
 * at `JOB_TID`: the runtime gives the thread its mask back once lists stop
 * coming (policy.ts, `LIST_PIN_HOLD_MS`). The runtime writes the CPU of the
 * thread that issued the list (see policy.ts, `PIN_LISTS`).
 */
export const JOB_PIN = 24;

/** Byte offset of the tid (u32) of the thread a list left pinned; 0 when it did not pin it. */
export const JOB_TID = 28;

/**
 * Byte offset of the tid (u32) of the thread that issued a list, or 0: a
 * list that ran pinned pins that thread to its CPU as it ends, so the
 * issuer's wake-up (the list's end wakes it) lands on the list's CPU,
 * still busy, not on an idle vCPU (policy.ts, `STEER_ISSUER`). The issuer
 * gives itself its own mask back once awake.
 */
export const JOB_ISSUER = 32;

/** Bytes of one part entry. */
export const PART_BYTES = 16;

const SYS_FUTEX = 202;
const SYS_GETCPU = 309;
const SYS_SCHED_SETAFFINITY = 203;
const FUTEX_WAIT_PRIVATE = 128;
const FUTEX_WAKE_PRIVATE = 129;

/** futex(rdi = word, op, val = edx): rcx and r11 are clobbered by syscall. */
function futex(a: Assembler, op: number): void {
  a.emit("mov", eax, SYS_FUTEX);
  a.emit("mov", esi, op);
  a.emit("xor", r10, r10);
  a.emit("syscall");
}

/** Wakes every thread asleep on the pool's GEN (the pool's address in `pool`; rdi clobbered). */
function wakeAllOnGen(a: Assembler, pool: Reg): void {
  a.emit("lea", rdi, qword(pool, POOL.GEN));
  a.emit("mov", edx, 0x7fffffff);
  futex(a, FUTEX_WAKE_PRIVATE);
}

/** rax = the TSC. */
function readTsc(a: Assembler): void {
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
}

/**
 * Runs part `eax` of the job at `job`: its kernel on its argument block.
 * Uses r15; the stack must be 16-byte aligned here.
 */
function runPart(a: Assembler, job: Reg): void {
  a.emit("mov", eax, eax);
  a.emit("shl", rax, 4);
  a.emit("lea", r15, qword(job, JOB_PARTS, rax));
  a.emit("cvttsd2si", rdi, qword(r15, 8));
  a.emit("cvttsd2si", rax, qword(r15, 0));
  a.emit("call", rax);
}

/**
 * `timedPart(block)`: a part entry that runs another and times it, for
 * recorded calls tier 2 measures. `block` holds doubles: [0] the code, [1]
 * its argument block, [2] a counters block (u64 cycles += the call's TSC
 * delta, u64 calls += 1; the same layout the timed trampoline writes).
 */
export function timedPartCode(): Uint8Array {
  const a = new Assembler();
  a.emit("push", rbx);
  a.emit("push", r12);
  a.emit("sub", rsp, 8); // the return address and 3 slots: 16-byte aligned for the call
  a.emit("mov", rbx, rdi);
  readTsc(a);
  a.emit("mov", r12, rax);
  a.emit("cvttsd2si", rdi, qword(rbx, 8));
  a.emit("cvttsd2si", rax, qword(rbx, 0));
  a.emit("call", rax);
  readTsc(a);
  a.emit("sub", rax, r12);
  a.emit("cvttsd2si", rcx, qword(rbx, 16));
  a.emit("add", qword(rcx, 0), rax);
  a.emit("add", qword(rcx, 8), 1);
  a.emit("add", rsp, 8);
  a.emit("pop", r12);
  a.emit("pop", rbx);
  a.emit("ret");
  return a.finish().code;
}

/**
 * The worker loop, `void* worker(record)`: waits for a new `GEN` (spinning
 * for `WORKER_SPIN` cycles, then on the futex), claims parts until none is
 * left, and goes back to waiting; returns when `STOP` is set.
 */
export function workerCode(): Uint8Array {
  const a = new Assembler();
  const saved = [rbx, r12, r13, r14, r15];
  for (const r of saved) a.emit("push", r);
  // 5 pushes after the return address: rsp is 16-byte aligned for calls.
  a.emit("mov", r12, rdi);
  a.emit("mov", rbx, qword(r12, WORKER.POOL));
  a.emit("mov", r13d, dword(r12, WORKER.GEN0));
  // Its tid, for the caller's sched_setaffinity; and a new worker has no
  // mask yet: the next wake-up applies the caller's exclusion again.
  a.emit("mov", eax, SYS_GETTID);
  a.emit("syscall");
  a.emit("mov", dword(r12, WORKER.TID), eax);
  a.emit("mov", eax, -1);
  a.emit("xchg", dword(rbx, POOL.LAST_CPU), eax);
  const wait = a.label(), spin = a.label(), work = a.label();
  const claim = a.label(), exit = a.label();
  a.bind(wait);
  readTsc(a);
  a.emit("mov", r14, rax); // when the wait began
  a.bind(spin);
  a.emit("mov", eax, dword(rbx, POOL.GEN));
  a.emit("cmp", eax, r13d);
  a.emit("jne", work);
  a.emit("pause");
  // The budget is read on every turn: a hold ending (ThreadPool.hold) ends long spins at once.
  readTsc(a);
  a.emit("sub", rax, r14);
  a.emit("cmp", rax, qword(rbx, POOL.WORKER_SPIN));
  a.emit("jb", spin);
  // Asleep on the futex until GEN moves.
  a.emit("lock");
  a.emit("inc", dword(rbx, POOL.SLEEPERS));
  a.emit("inc", qword(r12, WORKER.SLEEPS));
  a.emit("lea", rdi, qword(rbx, POOL.GEN));
  a.emit("mov", edx, r13d);
  futex(a, FUTEX_WAIT_PRIVATE);
  a.emit("lock");
  a.emit("dec", dword(rbx, POOL.SLEEPERS));
  a.emit("mov", eax, dword(rbx, POOL.GEN));
  a.emit("cmp", eax, r13d);
  // No job: a wake-up ahead of one (`wakeCode`), or a spurious one: spin again.
  a.emit("je", wait);
  a.bind(work);
  a.emit("mov", r13d, eax);
  a.emit("cmp", dword(rbx, POOL.STOP), 0);
  a.emit("jne", exit);
  a.emit("inc", qword(r12, WORKER.JOBS));
  // Its own range: its index modulo the ranges; every range left to visit.
  a.emit("mov", ecx, dword(rbx, POOL.RANGE_COUNT));
  a.emit("test", ecx, ecx);
  a.emit("jz", wait); // none published (a publish always writes 1 or more): never divide by 0
  a.emit("mov", eax, dword(r12, WORKER.INDEX));
  a.emit("xor", edx, edx);
  a.emit("div", ecx);
  a.emit("mov", dword(r12, WORKER.SCAN), edx);
  a.emit("mov", dword(r12, WORKER.SCAN + 4), ecx);
  a.emit("mov", dword(r12, WORKER.SCAN + 8), edx);
  const run = a.label();
  a.bind(claim);
  claimPart(a, r12, WORKER.SCAN, r14, run, wait);
  a.bind(run);
  a.emit("mov", rcx, qword(rbx, POOL.JOB));
  a.emit("mov", r14d, dword(rcx, 0)); // the count
  runPart(a, rcx);
  a.emit("inc", qword(r12, WORKER.PARTS));
  a.emit("mov", eax, 1);
  a.emit("lock");
  a.emit("xadd", dword(rbx, POOL.DONE), eax);
  a.emit("inc", eax);
  a.emit("cmp", eax, r14d);
  a.emit("jne", claim);
  // The last part: wake the caller if it sleeps (a spurious wake is harmless).
  a.emit("cmp", dword(rbx, POOL.WAITING), 0);
  a.emit("je", claim);
  a.emit("lea", rdi, qword(rbx, POOL.DONE));
  a.emit("mov", edx, 1);
  futex(a, FUTEX_WAKE_PRIVATE);
  a.emit("jmp", claim);
  a.bind(exit);
  for (const r of [...saved].reverse()) a.emit("pop", r);
  a.emit("xor", eax, eax);
  a.emit("ret");
  return a.finish().code;
}

/**
 * `forkJoin(job)`, entered through the trampoline like a kernel: publishes
 * the job, wakes sleeping workers, runs parts itself until none is left
 * to claim, then waits (spinning for `CALLER_SPIN` cycles, then on the
 * futex) until every part is done. The pool's address is built in.
 */
export function forkJoinCode(pool: number): Uint8Array {
  const a = new Assembler();
  const saved = [rbx, r12, r13, r14, r15];
  for (const r of saved) a.emit("push", r);
  a.emit("mov", r12, rdi);
  a.emit("mov", rbx, pool);
  a.emit("mov", r13d, dword(r12, 0));
  const serial = a.label(), claim = a.label(), wait = a.label(), spin = a.label();
  const sleep = a.label(), woke = a.label(), finish = a.label(), out = a.label();
  // Take the pool, or run every part here.
  a.emit("xor", eax, eax);
  a.emit("mov", ecx, 1);
  a.emit("lock");
  a.emit("cmpxchg", dword(rbx, POOL.BUSY), ecx);
  a.emit("jne", serial);
  // r15d: whether to wake sleeping workers.
  const publish = a.label(), wakeUp = a.label();
  a.emit("mov", r15d, dword(r12, JOB_WAKE));
  a.emit("test", r15d, r15d);
  a.emit("jnz", publish);
  a.emit("cmp", qword(r12, JOB_WHOLE), 0);
  a.emit("je", publish);
  a.emit("mov", eax, dword(rbx, POOL.SLEEPERS));
  a.emit("cmp", eax, dword(rbx, POOL.WORKER_COUNT));
  a.emit("jb", publish); // a worker is awake: the parts, no wake-up
  readTsc(a);
  a.emit("sub", rax, qword(rbx, POOL.LAST_END));
  a.emit("cmp", rax, qword(rbx, POOL.STREAM_GAP));
  a.emit("jb", wakeUp);
  // All asleep, no stream: the whole call here.
  a.emit("cvttsd2si", rdi, qword(r12, JOB_WHOLE + 8));
  a.emit("cvttsd2si", rax, qword(r12, JOB_WHOLE));
  a.emit("call", rax);
  a.emit("jmp", finish);
  a.bind(wakeUp);
  a.emit("mov", r15d, 1);
  a.bind(publish);
  keepOffCaller(a);
  // Publish: job and DONE before the ranges, the ranges before GEN.
  a.emit("mov", qword(rbx, POOL.JOB), r12);
  a.emit("mov", dword(rbx, POOL.DONE), 0);
  publishRanges(a);
  a.emit("lock");
  a.emit("inc", dword(rbx, POOL.GEN));
  a.emit("cmp", dword(rbx, POOL.SLEEPERS), 0);
  a.emit("je", claim);
  a.emit("test", r15d, r15d);
  a.emit("jz", claim);
  wakeAllOnGen(a, rbx);
  const run = a.label();
  a.bind(claim);
  claimPart(a, rbx, POOL.CALLER_SCAN, r14, run, wait);
  a.bind(run);
  runPart(a, r12);
  a.emit("lock");
  a.emit("inc", dword(rbx, POOL.DONE));
  a.emit("jmp", claim);
  // Every part is claimed: wait for the ones other threads run.
  a.bind(wait);
  readTsc(a);
  a.emit("add", rax, qword(rbx, POOL.CALLER_SPIN));
  a.emit("mov", r14, rax);
  a.bind(spin);
  a.emit("cmp", dword(rbx, POOL.DONE), r13d);
  a.emit("jae", finish);
  a.emit("pause");
  readTsc(a);
  a.emit("cmp", rax, r14);
  a.emit("jb", spin);
  a.emit("mov", eax, 1);
  a.emit("xchg", dword(rbx, POOL.WAITING), eax);
  a.bind(sleep);
  a.emit("mov", edx, dword(rbx, POOL.DONE));
  a.emit("cmp", edx, r13d);
  a.emit("jae", woke);
  a.emit("lea", rdi, qword(rbx, POOL.DONE));
  futex(a, FUTEX_WAIT_PRIVATE);
  a.emit("jmp", sleep);
  a.bind(woke);
  a.emit("mov", dword(rbx, POOL.WAITING), 0);
  a.bind(finish);
  readTsc(a);
  a.emit("mov", qword(rbx, POOL.LAST_END), rax);
  a.emit("mov", dword(rbx, POOL.BUSY), 0);
  a.bind(out);
  for (const r of [...saved].reverse()) a.emit("pop", r);
  a.emit("ret");
  // The pool is taken (an async job in flight): every part here, in order.
  a.bind(serial);
  a.emit("lock");
  a.emit("inc", qword(rbx, POOL.SERIAL));
  runEveryPart(a, out);
  return a.finish().code;
}

/**
 * The caller's publish of the ranges (pool at rbx, r13d parts): R = the
 * threads (workers + 1), at most the parts, at least 1; range t is parts
 * ⌊t·n/R⌋ to ⌊(t+1)·n/R⌋, so consecutive calls cut alike give each thread
 * the same share of their operands: what one call's part wrote into a
 * core's L2 is read there by the next call's. The caller's scan starts at
 * range 0. Uses rax, rcx, rdx, rsi, rdi.
 */
function publishRanges(a: Assembler): void {
  const some = a.label(), next = a.label();
  a.emit("mov", ecx, dword(rbx, POOL.WORKER_COUNT));
  a.emit("inc", ecx);
  a.emit("cmp", ecx, r13d);
  a.emit("cmova", ecx, r13d);
  a.emit("test", ecx, ecx);
  a.emit("jnz", some);
  a.emit("mov", ecx, 1);
  a.bind(some);
  a.emit("mov", dword(rbx, POOL.RANGE_COUNT), ecx);
  a.emit("xor", esi, esi); // t
  a.emit("xor", edi, edi); // the range's first part
  a.bind(next);
  a.emit("mov", eax, esi);
  a.emit("inc", eax);
  a.emit("imul", eax, r13d);
  a.emit("xor", edx, edx);
  a.emit("div", ecx); // eax: its end
  a.emit("mov", rdx, rax);
  a.emit("shl", rdx, 32);
  a.emit("or", rdx, rdi);
  a.emit("mov", qword(rbx, POOL.RANGES, rsi, 8), rdx);
  a.emit("mov", edi, eax);
  a.emit("inc", esi);
  a.emit("cmp", esi, ecx);
  a.emit("jb", next);
  a.emit("mov", dword(rbx, POOL.CALLER_SCAN), 0);
  a.emit("mov", dword(rbx, POOL.CALLER_SCAN + 4), ecx);
  a.emit("mov", dword(rbx, POOL.CALLER_SCAN + 8), 0);
}

/**
 * Claims a part for the thread whose scan is at `state + at` (u32s: the
 * range it claims from, the ranges it has yet to find exhausted, its own
 * range), pool at rbx. From its own range it takes the next part (`lock
 * xadd` on the front); from another's, the last (`lock cmpxchg` on the
 * back), so the owner keeps the front of its share and a late or slow
 * thread loses a tail of parts, not every other one: the parts a thread
 * runs stay much the same from call to call. An exhausted range (never
 * refilled within a job) sends it on to the next, cyclically, until it has
 * found every one exhausted. eax = the part, then on to `found`; `none`
 * when every range is exhausted. Uses rax, rcx, rdx and `tmp`.
 */
function claimPart(
  a: Assembler,
  state: Reg,
  at: number,
  tmp: Reg,
  found: Label,
  none: Label,
): void {
  const top = a.label(), steal = a.label(), retry = a.label(), exhausted = a.label();
  const wrap = a.label();
  a.bind(top);
  a.emit("mov", edx, dword(state, at));
  a.emit("cmp", edx, dword(state, at + 8));
  a.emit("jne", steal);
  a.emit("mov", eax, 1);
  a.emit("lock");
  a.emit("xadd", qword(rbx, POOL.RANGES, rdx, 8), rax);
  a.emit("mov", rcx, rax);
  a.emit("shr", rcx, 32); // the range's end
  a.emit("cmp", eax, ecx);
  a.emit("jb", found);
  a.emit("jmp", exhausted);
  a.bind(steal);
  a.emit("mov", rax, qword(rbx, POOL.RANGES, rdx, 8));
  a.bind(retry);
  a.emit("mov", rcx, rax);
  a.emit("shr", rcx, 32);
  a.emit("cmp", eax, ecx);
  a.emit("jae", exhausted); // next ≥ end
  a.emit("dec", ecx); // the part taken: end − 1
  // The word with its end one lower: halves swapped, the low one decremented (end ≥ 1), back.
  a.emit("mov", tmp, rax);
  a.emit("ror", tmp, 32);
  a.emit("dec", tmp);
  a.emit("ror", tmp, 32);
  a.emit("lock");
  a.emit("cmpxchg", qword(rbx, POOL.RANGES, rdx, 8), tmp);
  a.emit("jne", retry); // rax: the word as it is now
  a.emit("mov", eax, ecx);
  a.emit("jmp", found);
  a.bind(exhausted);
  a.emit("dec", dword(state, at + 4));
  a.emit("jz", none);
  // A scan begun for an earlier job may see fewer ranges now: its index wraps all the same.
  a.emit("inc", edx);
  a.emit("cmp", edx, dword(rbx, POOL.RANGE_COUNT));
  a.emit("jb", wrap);
  a.emit("xor", edx, edx);
  a.bind(wrap);
  a.emit("mov", dword(state, at), edx);
  a.emit("jmp", top);
}

/** Runs parts 0..r13d−1 of the job at r12 in order (counter r14), then jumps to `done`. */
function runEveryPart(a: Assembler, done: Label): void {
  a.emit("xor", r14, r14);
  const next = a.label();
  a.bind(next);
  a.emit("cmp", r14d, r13d);
  a.emit("jae", done);
  a.emit("mov", eax, r14d);
  runPart(a, r12);
  a.emit("inc", r14d);
  a.emit("jmp", next);
}

/**
 * Before every job: let the workers run anywhere but on this (the
 * caller's) CPU. Linux places a woken thread next to its waker when it
 * judges the other CPUs busy, and in a VM an idle vCPU can look busy (it
 * was halted): the worker then queues behind the caller, which never
 * yields, or preempts it and spins on its CPU; measured on a 2-vCPU KVM
 * guest, GEMM 256³ on 2 threads ran at 0.7-1.0× one thread for the first
 * milliseconds after every idle pause. One sched_setaffinity per worker,
 * only when the caller's CPU (`KEEP_OFF` says how it is read) changed
 * since the last time. Without it, on a
 * 2-vCPU Firecracker guest (Zen 5, no RDTSCP), the worker stayed on the
 * caller's CPU for seconds after an idle pause: a BERT layer on 2 threads
 * after 100-1000 ms idle took 11.7-14.7 ms, against 6.8-8.9 kept off and
 * 10.3-11.1 on one thread (`bench/after_idle.ts`).
 * Uses rax, rcx, rdx, rsi, rdi, r11, r14.
 */
function keepOffCaller(a: Assembler): void {
  const done = a.label(), next = a.label(), skip = a.label(), top = a.label();
  const bySegment = a.label(), bySyscall = a.label(), known = a.label();
  a.emit("cmp", dword(rbx, POOL.KEEP_OFF), 0);
  a.emit("je", done);
  // Jobs within CPU_REREAD of the last read: the CPU it found (a dense stream of jobs pays
  // one TSC read each, not the lsl's ~0.15 µs).
  readTsc(a);
  a.emit("mov", rdx, rax);
  a.emit("sub", rdx, qword(rbx, POOL.CPU_READ_AT));
  a.emit("cmp", rdx, qword(rbx, POOL.CPU_REREAD));
  a.emit("jb", done);
  a.emit("mov", qword(rbx, POOL.CPU_READ_AT), rax);
  a.emit("cmp", dword(rbx, POOL.KEEP_OFF), 2);
  a.emit("je", bySegment);
  a.emit("ja", bySyscall);
  a.emit("rdtscp");
  a.emit("and", ecx, 0xfff);
  a.emit("jmp", known);
  // Without RDTSCP: the per-CPU segment's limit (what the vDSO's getcpu reads).
  a.bind(bySegment);
  emitLslCpu(a, ecx, done); // no readable limit: leave the workers where they are
  a.emit("jmp", known);
  // Else getcpu(&cpu, NULL, NULL).
  a.bind(bySyscall);
  a.emit("mov", eax, SYS_GETCPU);
  a.emit("lea", rdi, qword(rbx, POOL.CALLER_CPU));
  a.emit("xor", esi, esi);
  a.emit("xor", edx, edx);
  a.emit("syscall");
  a.emit("test", eax, eax);
  a.emit("jnz", done); // no CPU known: leave the workers where they are
  a.emit("mov", ecx, dword(rbx, POOL.CALLER_CPU));
  a.bind(known);
  // A CPU beyond the mask's 1024 bits: leave the workers where they are.
  a.emit("cmp", ecx, MASK_BYTES * 8);
  a.emit("jae", done);
  a.emit("cmp", ecx, dword(rbx, POOL.LAST_CPU));
  a.emit("je", done);
  a.emit("mov", dword(rbx, POOL.LAST_CPU), ecx);
  for (let q = 0; q < MASK_BYTES; q += 8) {
    a.emit("mov", rax, qword(rbx, POOL.MASK + q));
    a.emit("mov", qword(rbx, POOL.SCRATCH + q), rax);
  }
  // Clear the caller's bit: byte cpu >> 3, bit cpu & 7.
  a.emit("mov", edx, ecx);
  a.emit("shr", edx, 3);
  a.emit("and", ecx, 7);
  a.emit("mov", eax, 1);
  a.emit("shl", eax, cl);
  a.emit("not", eax);
  a.emit("and", byte(rbx, POOL.SCRATCH, rdx), al);
  a.emit("xor", r14, r14);
  a.bind(top);
  a.emit("cmp", r14d, dword(rbx, POOL.WORKER_COUNT));
  a.emit("jae", done);
  a.emit("mov", rax, r14);
  a.emit("shl", rax, 6); // WORKER_BYTES
  a.emit("mov", edi, dword(rbx, POOL.WORKERS + WORKER.TID, rax));
  a.emit("test", edi, edi);
  a.emit("jz", skip); // not started yet: it resets LAST_CPU when it does
  a.emit("mov", eax, SYS_SCHED_SETAFFINITY);
  a.emit("mov", esi, MASK_BYTES);
  a.emit("lea", rdx, qword(rbx, POOL.SCRATCH));
  a.emit("syscall");
  a.bind(skip);
  a.bind(next);
  a.emit("inc", r14d);
  a.emit("jmp", top);
  a.bind(done);
}

/** `shutdown(pool)`: sets `STOP`, bumps `GEN` and wakes every sleeper. */
export function shutdownCode(): Uint8Array {
  const a = new Assembler();
  a.emit("mov", dword(rdi, POOL.STOP), 1);
  a.emit("lock");
  a.emit("inc", dword(rdi, POOL.GEN));
  wakeAllOnGen(a, rdi);
  a.emit("ret");
  return a.finish().code;
}

/**
 * `wake(pool)`: wakes the sleeping workers with no job for them, so they
 * spin (their budget, from now) and the next job finds them awake: issued
 * as a model run starts, ahead of its first split call. Nothing when none
 * sleeps (the syscall costs the caller several µs on a guest).
 */
export function wakeCode(): Uint8Array {
  const a = new Assembler();
  const out = a.label();
  a.emit("cmp", dword(rdi, POOL.SLEEPERS), 0);
  a.emit("je", out);
  wakeAllOnGen(a, rdi);
  a.bind(out);
  a.emit("ret");
  return a.finish().code;
}

/**
 * `runAll(job)`: every part of a job in order on the calling thread: the
 * async form's call list (each entry a kernel, or `forkJoin` on a split
 * call's job), run off the event loop by a nonblocking FFI call.
 */
export function sequenceCode(): Uint8Array {
  const a = new Assembler();
  const saved = [rbx, r12, r13, r14, r15];
  for (const r of saved) a.emit("push", r);
  // The pin's mask on the stack: still 16-byte aligned.
  a.emit("sub", rsp, MASK_BYTES);
  a.emit("mov", r12, rdi);
  const run = a.label(), unpin = a.label(), out = a.label(), end = a.label();
  // ebx: JOB_PIN (the CPU + 1), then whether this list pinned the thread.
  a.emit("mov", ebx, dword(r12, JOB_PIN));
  a.emit("test", ebx, ebx);
  a.emit("jz", run);
  a.emit("dec", ebx);
  a.emit("cmp", ebx, MASK_BYTES * 8);
  a.emit("jae", unpin);
  for (let q = 0; q < MASK_BYTES; q += 8) a.emit("mov", qword(rsp, q), 0);
  a.emit("mov", edx, ebx);
  a.emit("shr", edx, 3);
  a.emit("mov", ecx, ebx);
  a.emit("and", ecx, 7);
  a.emit("mov", eax, 1);
  a.emit("shl", eax, cl);
  a.emit("mov", byte(rsp, 0, rdx), al);
  setAffinity(a, 0);
  a.emit("test", eax, eax);
  a.emit("jnz", unpin); // not allowed there: run where the thread is
  a.emit("mov", ebx, 1);
  a.emit("jmp", run);
  a.bind(unpin);
  a.emit("xor", ebx, ebx);
  a.bind(run);
  a.emit("mov", r13d, dword(r12, 0));
  runEveryPart(a, out);
  a.bind(out);
  a.emit("test", ebx, ebx);
  a.emit("jz", end);
  // The issuer onto this CPU (the mask still on the stack) before the list's end wakes it.
  const steered = a.label();
  a.emit("mov", edi, dword(r12, JOB_ISSUER));
  a.emit("test", edi, edi);
  a.emit("jz", steered);
  setAffinity(a, 0, "edi");
  a.bind(steered);
  // Left pinned (the next list's wake-up then lands on its CPU, not on an idle one): the tid for
  // the runtime, which gives the thread its mask back when lists stop (policy.ts).
  a.emit("mov", eax, SYS_GETTID);
  a.emit("syscall");
  a.emit("mov", dword(r12, JOB_TID), eax);
  a.bind(end);
  a.emit("add", rsp, MASK_BYTES);
  for (const r of [...saved].reverse()) a.emit("pop", r);
  a.emit("ret");
  return a.finish().code;
}

/**
 * sched_setaffinity(this thread, or the tid already in edi, the mask at rsp
 * + `at`): eax = its result.
 */
function setAffinity(a: Assembler, at: number, thread: "self" | "edi" = "self"): void {
  a.emit("mov", eax, SYS_SCHED_SETAFFINITY);
  if (thread === "self") a.emit("xor", edi, edi);
  a.emit("mov", esi, MASK_BYTES);
  a.emit("lea", rdx, qword(rsp, at));
  a.emit("syscall");
}
