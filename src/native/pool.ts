/**
 * The native thread pool: worker threads started with libc
 * `pthread_create` whose start routine is our worker loop (`pool_code.ts`),
 * so they never enter V8. One pool per isolate, shared by every Jit in it
 * (no oversubscription from several Jits); it starts workers as Jits ask
 * for them and stops and joins them all when the last Jit using it lets go.
 *
 * @module
 */
import { CodeArena } from "./arena.ts";
import { dispatch } from "./dispatch.ts";
import { libc, libcError } from "./libc.ts";
import { GuardedPages } from "./memory.ts";
import {
  forkJoinCode,
  MASK_BYTES,
  MAX_WORKERS,
  POOL,
  POOL_BYTES,
  sequenceCode,
  shutdownCode,
  timedPartCode,
  wakeCode,
  WORKER,
  WORKER_BYTES,
  workerCode,
} from "./pool_code.ts";
import { cpuid, lslCpu, tscRate } from "./stubs.ts";

/** Counters of one worker thread. */
export interface WorkerStats {
  /** Its name, as `/proc/self/task/N/comm` shows it. */
  name: string;
  /** Parts of jobs it ran. */
  parts: number;
  /** Jobs it woke up for. */
  jobs: number;
  /** Times it went to sleep on its futex after spinning. */
  sleeps: number;
}

/** How long threads spin before they sleep. */
export interface SpinPolicy {
  /** A worker, after its last part, waiting for the next job (µs). */
  workerUs: number;
  /** The caller, after its own parts, waiting for the workers (µs). */
  callerUs: number;
  /**
   * A small call that finds every worker asleep this soon (µs) after the
   * last call ended wakes them: a dense stream of calls (see pool_code.ts).
   */
  streamUs: number;
}

function u64(view: DataView, offset: number): number {
  return Number(view.getBigUint64(offset, true));
}

/** The isolate's pool of native worker threads. */
export class ThreadPool {
  readonly #page: GuardedPages;
  readonly #view: DataView;
  readonly #arena: CodeArena;
  #worker: Deno.PointerObject | null = null;
  #shutdown: Deno.PointerObject | null = null;
  #wake: Deno.PointerObject | null = null;
  #forkJoin: Deno.PointerObject | null = null;
  /** `runAll(job)`: every part of a job in order, on the calling thread. */
  readonly runAll: Deno.PointerObject;
  /** Address of `timedPart(block)`: a part entry timing another (see pool_code.ts). */
  readonly timedPart: number;
  readonly #threads: bigint[] = [];
  #users = 0;
  #spin: SpinPolicy = { workerUs: 0, callerUs: 0, streamUs: 0 };
  #holds = 0;
  /** The workers' spin in TSC cycles: the policy's, and while held. */
  #workerCycles = 0;
  #heldCycles = 0;

  constructor() {
    this.#page = new GuardedPages(POOL_BYTES);
    this.#view = new DataView(
      Deno.UnsafePointerView.getArrayBuffer(this.#page.pointer, POOL_BYTES),
    );
    // The code outlives any worker: the arena is kept for the isolate's life.
    this.#arena = new CodeArena({ budgetBytes: 64 << 10, chunkBytes: 64 << 10 });
    // The CPUs workers may use, for keeping them off the caller's CPU (pool_code.ts).
    const mask = affinityMask();
    if (mask) new Uint8Array(this.#view.buffer, POOL.MASK, MASK_BYTES).set(mask);
    const cpus = mask ? countCpus(mask) : 1;
    this.#view.setInt32(POOL.LAST_CPU, -1, true);
    const rdtscp = (cpuid(0x80000000)[0] >>> 0) >= 0x80000001 &&
      (cpuid(0x80000001)[3] & (1 << 27)) !== 0;
    this.#view.setUint32(POOL.KEEP_OFF, cpus < 2 ? 0 : rdtscp ? 1 : lslReadsCpu() ? 2 : 3, true);
    this.runAll = this.#arena.install(sequenceCode()).pointer;
    this.timedPart = this.#arena.install(timedPartCode()).address;
  }

  /**
   * `forkJoin(job)`: enter through the trampoline with a job block. Its code,
   * like the workers', is assembled at its first use: a process whose calls
   * all run on one thread (a 1-thread session's lists need `runAll` only)
   * does not assemble it (scratch, a fresh process: the worker loop and
   * forkJoin took 4-7 ms of a script's first `session.run()`).
   */
  get forkJoin(): Deno.PointerObject {
    return this.#forkJoin ??= this.#arena.install(forkJoinCode(this.#page.address)).pointer;
  }

  /** Pieces of code installed in the pool's arena so far (tests read it: what a process assembled). */
  get codeInstalls(): number {
    return this.#arena.stats().installs;
  }

  /** Address of the shared page (tests read it). */
  get address(): number {
    return this.#page.address;
  }

  /** The spin budgets in force. */
  get spin(): SpinPolicy {
    return { ...this.#spin };
  }

  /** Worker threads running now. */
  get workers(): number {
    return this.#threads.length;
  }

  /** Sets the spin budgets (converted to TSC cycles). */
  setSpin(policy: SpinPolicy): void {
    this.#spin = { ...policy };
    const rate = tscRate();
    this.#workerCycles = Math.round(policy.workerUs * 1e3 * rate);
    this.#heldCycles = Math.round(HELD_SPIN_US * 1e3 * rate);
    this.#writeWorkerSpin();
    this.#view.setBigUint64(
      POOL.CALLER_SPIN,
      BigInt(Math.round(policy.callerUs * 1e3 * rate)),
      true,
    );
    this.#view.setBigUint64(
      POOL.STREAM_GAP,
      BigInt(Math.round(policy.streamUs * 1e3 * rate)),
      true,
    );
    this.#view.setBigUint64(POOL.CPU_REREAD, BigInt(Math.round(CPU_REREAD_US * 1e3 * rate)), true);
  }

  /**
   * While held (a model run in progress: calls follow each other, some too
   * small to split), workers between jobs spin up to `HELD_SPIN_US` instead
   * of the policy's budget, so the next split call finds them awake; the
   * last release restores the budget, and spinning workers read it at once.
   * Holds nest (several sessions); no allocation. A hold begins by waking
   * the sleeping workers when the last hold's calls forked (a model run that
   * splits its calls will again): they arrive while the run's first steps
   * (its feeds' copy, small calls) go on, not at its first split call. A
   * run that never splits does not wake them.
   */
  hold(on: boolean): void {
    const was = this.#holds;
    this.#holds = Math.max(0, was + (on ? 1 : -1));
    // Only the first hold and the last release change anything (an extra release: nothing).
    if (on ? was !== 0 : was !== 1) return;
    this.#writeWorkerSpin();
    const gen = this.#view.getUint32(POOL.GEN, true);
    if (on) {
      if (this.#heldForked) this.#wakeSleepers();
      this.#genAtHold = gen;
    } else this.#heldForked = gen !== this.#genAtHold;
  }
  /** The job count as the hold began, and whether the last hold's calls forked (a run that splits). */
  #genAtHold = 0;
  #heldForked = true;

  /**
   * Wakes the sleeping workers with no job, so they spin (for the held
   * budget while held) and the next split call finds them awake: a model
   * run's first call would otherwise wait for their wake-up. No syscall
   * when none sleeps.
   */
  #wakeSleepers(): void {
    if (this.#threads.length === 0) return;
    this.#wake ??= this.#arena.install(wakeCode()).pointer;
    dispatch().call(this.#wake, this.#page.pointer);
  }

  /** Whether a worker is awake now (spinning or running a job): a racy read, a hint only. */
  get workerAwake(): boolean {
    const v = this.#view;
    return v.getUint32(POOL.SLEEPERS, true) < v.getUint32(POOL.WORKER_COUNT, true);
  }

  #writeWorkerSpin(): void {
    const cycles = this.#holds > 0 ? this.#heldCycles : this.#workerCycles;
    this.#view.setUint32(POOL.WORKER_SPIN, cycles >>> 0, true);
    this.#view.setUint32(POOL.WORKER_SPIN + 4, Math.floor(cycles / 2 ** 32), true);
  }

  /** A user (a Jit) that wants `workers` threads besides its own. */
  acquire(workers: number): void {
    this.#users++;
    this.#grow(Math.min(workers, MAX_WORKERS));
  }

  /** A user lets go; the last one stops and joins every worker. */
  release(): void {
    if (this.#users === 0) return;
    if (--this.#users === 0) this.#stop();
  }

  #grow(target: number): void {
    const c = libc();
    while (this.#threads.length < target) {
      const i = this.#threads.length;
      const record = POOL.WORKERS + i * WORKER_BYTES;
      for (let b = 0; b < WORKER_BYTES; b += 8) this.#view.setBigUint64(record + b, 0n, true);
      this.#view.setBigUint64(record + WORKER.POOL, BigInt(this.#page.address), true);
      this.#view.setUint32(record + WORKER.GEN0, this.#view.getUint32(POOL.GEN, true), true);
      this.#view.setUint32(record + WORKER.INDEX, i + 1, true);
      const id = new BigUint64Array(1);
      const arg = Deno.UnsafePointer.create(BigInt(this.#page.address + record));
      this.#worker ??= this.#arena.install(workerCode()).pointer;
      const rc = c.pthread_create(id, null, this.#worker, arg);
      if (rc !== 0) throw libcError("pthread_create", rc);
      this.#threads.push(id[0]);
      c.pthread_setname_np(id[0], new TextEncoder().encode(`njit-worker-${i}\0`));
      this.#view.setUint32(POOL.WORKER_COUNT, this.#threads.length, true);
    }
  }

  /** Sets STOP, wakes everyone, joins every worker, clears STOP for a later start. */
  #stop(): void {
    if (this.#threads.length === 0) return;
    this.#shutdown ??= this.#arena.install(shutdownCode()).pointer;
    dispatch().call(this.#shutdown, this.#page.pointer);
    const c = libc();
    for (const t of this.#threads) c.pthread_join(t, null);
    this.#threads.length = 0;
    this.#view.setUint32(POOL.WORKER_COUNT, 0, true);
    this.#view.setInt32(POOL.LAST_CPU, -1, true);
    this.#view.setUint32(POOL.STOP, 0, true);
  }

  /** Calls that found the pool busy (an async job in flight) and ran on one thread. */
  get serialCalls(): number {
    return u64(this.#view, POOL.SERIAL);
  }

  /** CPU time the workers have used since they started, ns (from their thread CPU clocks). */
  workerCpuNs(): number {
    const c = libc(), id = new Int32Array(1), ts = new BigInt64Array(2);
    let ns = 0;
    for (const t of this.#threads) {
      if (c.pthread_getcpuclockid(t, id) !== 0 || c.clock_gettime(id[0], ts) !== 0) continue;
      ns += Number(ts[0]) * 1e9 + Number(ts[1]);
    }
    return ns;
  }

  /** Every worker's counters. */
  stats(): WorkerStats[] {
    return this.#threads.map((_, i) => {
      const r = POOL.WORKERS + i * WORKER_BYTES;
      return {
        name: `njit-worker-${i}`,
        parts: u64(this.#view, r + WORKER.PARTS),
        jobs: u64(this.#view, r + WORKER.JOBS),
        sleeps: u64(this.#view, r + WORKER.SLEEPS),
      };
    });
  }
}

/**
 * A held pool's worker spin, µs: longer than any gap between a run's split
 * calls (a 2 vCPU machine's wake-up took 7-32 µs and a ShuffleNet run has
 * about 50 split calls), short enough that a run that never releases
 * (an exception) costs one core 20 ms, then nothing.
 */
const HELD_SPIN_US = 20_000;

/**
 * How long the caller's CPU, read before a job to keep the workers off it
 * (pool_code.ts, `keepOffCaller`), counts as current: a caller that moved
 * shares a CPU with a spinning worker for at most this long, and a dense
 * stream of jobs pays a TSC read each instead of the read (the `lsl` on a
 * guest without RDTSCP: the empty job round trip 1.01-1.03 → 1.16-1.17 µs
 * when every job read it, Zen 5, `bench/pool_figures.ts`).
 */
const CPU_REREAD_US = 50;

let shared: ThreadPool | undefined;

/** The isolate's pool, made on first use. */
export function sharedPool(): ThreadPool {
  shared ??= new ThreadPool();
  return shared;
}

/**
 * Whether `lsl` on Linux's per-CPU segment gives the CPU sched_getcpu
 * does (stubs.ts): in every read not straddling a migration, and in one
 * at least.
 */
function lslReadsCpu(): boolean {
  let agreed = 0;
  for (let i = 0; i < 8; i++) {
    const before = libc().sched_getcpu(), cpu = lslCpu(), after = libc().sched_getcpu();
    if (before !== after || before < 0) continue;
    if (cpu !== before) return false;
    agreed++;
  }
  return agreed > 0;
}

/** This process's CPU affinity mask (1024 CPUs), or null when it cannot be read. */
function affinityMask(): Uint8Array | null {
  const mask = new Uint8Array(MASK_BYTES);
  return libc().sched_getaffinity(0, BigInt(MASK_BYTES), mask) === 0 ? mask : null;
}

function countCpus(mask: Uint8Array): number {
  let n = 0;
  for (const byte of mask) for (let b = byte; b; b &= b - 1) n++;
  return Math.max(1, n);
}

/** The numbers of the CPUs in this process's affinity mask, or [] where it cannot be read. */
export function affinityCpuList(): number[] {
  const mask = affinityMask(), out: number[] = [];
  if (mask) {
    for (let i = 0; i < mask.length; i++) {
      for (let b = 0; b < 8; b++) if (mask[i] & (1 << b)) out.push(i * 8 + b);
    }
  }
  return out;
}

/**
 * Runs `body` with the calling thread pinned to CPU `cpu`, its own mask
 * restored after; null where the mask cannot be read or set.
 */
export function onCpu<T>(cpu: number, body: () => T): T | null {
  const own = affinityMask();
  if (own === null || cpu < 0 || cpu >= MASK_BYTES * 8) return null;
  const one = new Uint8Array(MASK_BYTES);
  one[cpu >> 3] = 1 << (cpu & 7);
  const c = libc();
  if (c.sched_setaffinity(0, BigInt(MASK_BYTES), one) !== 0) return null;
  try {
    return body();
  } finally {
    c.sched_setaffinity(0, BigInt(MASK_BYTES), own);
  }
}

/** The CPUs in this process's affinity mask (`sched_getaffinity`), at least 1. */
export function affinityCpus(): number {
  const mask = affinityMask();
  return mask ? countCpus(mask) : 1;
}
