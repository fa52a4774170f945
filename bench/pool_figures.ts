/**
 * The thread pool's own costs, for `deno task compare --threads N`: an
 * empty job round trip through all threads while the workers spin and
 * after they went to sleep, next to a plain call of an empty kernel; and
 * the workers' CPU use while the program is idle, read from their thread
 * CPU clocks. Each part of the empty job is a barrier (count in, wait for
 * all N), so every thread must take part: the caller cannot run them all.
 *
 * Each round trip is timed in native code (a loop of ours reads the TSC
 * around each `forkJoin`): `performance.now()` costs about 0.45 µs a read
 * on a KVM guest, as much as the round trip itself. The fixed cost is the
 * median; the mean is reported beside it, since on a shared VM a vCPU
 * descheduled by the host (steal) stretches a few calls to tens of µs.
 *
 * Alone: `deno run -A bench/pool_figures.ts [threads]` (default 2).
 *
 * @module
 */
import { Assembler, qword, r12, r13, r14, r15, rax, rbx, rcx, rdi, rdx } from "../asm/mod.ts";
import { SPIN } from "../src/runtime/policy.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { JOB_PARTS, JOB_WAKE, PART_BYTES } from "../src/native/pool_code.ts";
import { sharedPool } from "../src/native/pool.ts";
import { tscRate } from "../src/native/stubs.ts";
import { median } from "./timing.ts";

/** What `poolFigures` measured. */
export interface PoolFigures {
  threads: number;
  /** A plain call of an empty kernel, ns (the floor of any call). */
  plainCallNs: number;
  /** An empty job on every thread, workers spinning, ns (median of calls back to back). */
  spinningNs: number;
  /** Their mean, ns (the VM's stalls included). */
  spinningMeanNs: number;
  /** The same from sleep (calls 1 ms apart), µs (median). */
  fromSleepUs: number;
  /**
   * The machine's own floor under it: a plain pthread woken from FUTEX_WAIT
   * after the same idle time (`bench/shim/wake_floor.c`, none of our code),
   * µs: median and quartiles; null where gcc is missing.
   */
  osWake: { median: number; q1: number; q3: number } | null;
  /** The spin budgets of the policy. */
  spin: { workerUs: number; callerUs: number };
  /** Workers' CPU share in the 10 ms after the last call (their spin included), %. */
  idle10msPct: number;
  /** Workers' CPU share over the next 100 ms, %. */
  idle100msPct: number;
}

/** Offsets (u64) of the timed loop's block. */
const LOOP = { FN: 0, JOB: 8, COUNTER: 16, STEP: 24, CALLS: 32, OUT: 40 } as const;

/**
 * `timedForks(block)`: `CALLS` times, sets the barrier's target (counter +
 * `STEP`), reads the TSC, calls `FN(JOB)`, and stores the TSC delta in the
 * u64 array at `OUT`.
 */
function timedForksCode(): Uint8Array {
  const a = new Assembler();
  const saved = [rbx, r12, r13, r14, r15];
  for (const r of saved) a.emit("push", r); // rsp 16-byte aligned for the call
  a.emit("mov", rbx, rdi);
  a.emit("mov", r12, qword(rbx, LOOP.CALLS));
  a.emit("mov", r14, qword(rbx, LOOP.OUT));
  a.emit("xor", r13, r13);
  const next = a.label(), done = a.label();
  a.bind(next);
  a.emit("cmp", r13, r12);
  a.emit("jae", done);
  a.emit("mov", rcx, qword(rbx, LOOP.COUNTER));
  a.emit("mov", rax, qword(rcx, 0));
  a.emit("add", rax, qword(rbx, LOOP.STEP));
  a.emit("mov", qword(rcx, 8), rax);
  a.emit("lfence");
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("mov", r15, rax);
  a.emit("mov", rdi, qword(rbx, LOOP.JOB));
  a.emit("mov", rax, qword(rbx, LOOP.FN));
  a.emit("call", rax);
  a.emit("rdtscp");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("sub", rax, r15);
  a.emit("mov", qword(r14, 0, r13, 8), rax);
  a.emit("inc", r13);
  a.emit("jmp", next);
  a.bind(done);
  for (const r of [...saved].reverse()) a.emit("pop", r);
  a.emit("ret");
  return a.finish().code;
}

/**
 * Builds `bench/shim/wake_floor.c` with gcc and loads it: a function timing
 * one wake-up of a plain thread idle `idleUs`, µs; null (reason on stderr)
 * without gcc.
 */
function osWakeFloor(): ((idleUs: number) => number) & Disposable | null {
  const dir = Deno.makeTempDirSync({ prefix: "njit-wake-floor-" });
  const lib = `${dir}/wake_floor.so`;
  try {
    const src = new URL("./shim/wake_floor.c", import.meta.url).pathname;
    const out = new Deno.Command("gcc", {
      args: ["-O2", "-shared", "-fPIC", "-pthread", "-o", lib, src],
      stderr: "piped",
      stdout: "null",
    }).outputSync();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const shim = Deno.dlopen(lib, {
      njb_wake_floor: { parameters: ["i32", "i32", "buffer"], result: "i32" },
    });
    const q = new Float64Array(3);
    const once = (idleUs: number) => {
      if (shim.symbols.njb_wake_floor(1, idleUs, q) !== 0) throw new Error("wake_floor failed");
      return q[0];
    };
    return Object.assign(once, { [Symbol.dispose]: () => shim.close() });
  } catch (e) {
    console.error(`pool figures: no OS wake-up floor (${(e as Error).message.trim()})`);
    return null;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* the caller stays on its core, as a model run would */ }
}

/** Measures the pool with `threads` threads (the caller and threads − 1 workers). */
export function poolFigures(threads: number): PoolFigures {
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  const a = new Assembler();
  a.emit("ret");
  const ret = arena.install(a.finish().code);
  // barrier(args): counter at args[0] (u64) += 1, then wait until it reaches args[1] (u64).
  const b = new Assembler();
  const spin = b.label();
  b.emit("lock");
  b.emit("inc", qword(rdi, 0));
  b.emit("mov", rcx, qword(rdi, 8));
  b.bind(spin);
  b.emit("pause");
  b.emit("mov", rax, qword(rdi, 0));
  b.emit("cmp", rax, rcx);
  b.emit("jb", spin);
  b.emit("ret");
  const barrier = arena.install(b.finish().code);
  const pool = sharedPool();
  pool.acquire(threads - 1);
  pool.setSpin(SPIN);
  try {
    const job = new NativeBlock(JOB_PARTS + threads * PART_BYTES);
    const counter = new NativeBlock(64), count = new BigUint64Array(counter.buffer);
    job.u32[0] = threads;
    job.u32[JOB_WAKE / 4] = 1; // wake sleeping workers: every part waits for all the others
    for (let t = 0; t < threads; t++) {
      job.f64[(JOB_PARTS + t * PART_BYTES) / 8] = Number(Deno.UnsafePointer.value(barrier.pointer));
      job.f64[(JOB_PARTS + t * PART_BYTES) / 8 + 1] = counter.address;
    }
    const step = BigInt(threads);
    const d = dispatch();
    const batch = (f: () => void, n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) f();
      return ((performance.now() - t0) * 1e6) / n;
    };
    const plain = () => d.call(ret.pointer, job.pointer);
    const fork = () => {
      count[1] = count[0] + step;
      d.call(pool.forkJoin, job.pointer);
    };
    // The native loop: CALLS round trips back to back, each timed.
    const calls = 20_000;
    const loop = new NativeBlock(48), out = new NativeBlock(8 * calls);
    const loopWords = new BigUint64Array(loop.buffer);
    loopWords[LOOP.FN / 8] = BigInt(Deno.UnsafePointer.value(pool.forkJoin));
    loopWords[LOOP.JOB / 8] = BigInt(job.address);
    loopWords[LOOP.COUNTER / 8] = BigInt(counter.address);
    loopWords[LOOP.STEP / 8] = step;
    loopWords[LOOP.CALLS / 8] = BigInt(calls);
    loopWords[LOOP.OUT / 8] = BigInt(out.address);
    const timedForks = arena.install(timedForksCode());
    const ticks = new BigUint64Array(out.buffer);
    const rate = tscRate();
    const roundTrips = (n: number): Float64Array => {
      loopWords[LOOP.CALLS / 8] = BigInt(n);
      d.call(timedForks.pointer, loop.pointer);
      return Float64Array.from(ticks.subarray(0, n), (t) => Number(t) / rate);
    };
    batch(plain, 100_000);
    roundTrips(calls);
    const plainNs: number[] = [], spinMedians: number[] = [], spinMeans: number[] = [];
    for (let r = 0; r < 15; r++) {
      plainNs.push(batch(plain, 20_000));
      const ns = roundTrips(calls);
      spinMedians.push(median(ns));
      spinMeans.push(ns.reduce((s, x) => s + x, 0) / ns.length);
    }
    // Ours and a plain pthread's, alternating, so both see the same minutes of the host.
    const sleepUs: number[] = [], osUs: number[] = [], idleUs = 1000 + SPIN.workerUs * 4;
    using floor = osWakeFloor();
    for (let r = 0; r < 41; r++) {
      busyWait(idleUs / 1000);
      sleepUs.push(roundTrips(1)[0] / 1000);
      if (floor) osUs.push(floor(idleUs));
    }
    const quartile = (q: number) => osUs.sort((x, y) => x - y)[Math.floor(q * (osUs.length - 1))];
    const osWake = floor ? { median: median(osUs), q1: quartile(0.25), q3: quartile(0.75) } : null;
    fork();
    const c0 = pool.workerCpuNs(), t0 = performance.now();
    busyWait(10);
    const c1 = pool.workerCpuNs(), t1 = performance.now();
    busyWait(100);
    const c2 = pool.workerCpuNs(), t2 = performance.now();
    const share = (c: number, t: number) => (100 * c) / ((t * 1e6) * (threads - 1));
    return {
      threads,
      plainCallNs: median(plainNs),
      spinningNs: median(spinMedians),
      spinningMeanNs: median(spinMeans),
      fromSleepUs: median(sleepUs),
      osWake,
      spin: { ...SPIN },
      idle10msPct: share(c1 - c0, t1 - t0),
      idle100msPct: share(c2 - c1, t2 - t1),
    };
  } finally {
    pool.release();
    arena.close();
  }
}

/** Prints the figures under the compare table. */
export function printPool(p: PoolFigures): void {
  console.log(
    `pool, ${p.threads} threads: empty job round trip ${p.spinningNs.toFixed(0)} ns with workers ` +
      `spinning (median; mean ${p.spinningMeanNs.toFixed(0)} ns; a plain call: ${
        p.plainCallNs.toFixed(0)
      } ns), ${p.fromSleepUs.toFixed(1)} µs from sleep${
        p.osWake
          ? ` (a plain pthread's futex wake-up after the same idle: ${
            p.osWake.median.toFixed(1)
          } µs, ` +
            `quartiles ${p.osWake.q1.toFixed(1)}-${p.osWake.q3.toFixed(1)})`
          : ""
      }; spin ${p.spin.workerUs} µs (workers), ${p.spin.callerUs} µs (caller); ` +
      `idle worker CPU ${p.idle10msPct.toFixed(2)}% over the first 10 ms, ${
        p.idle100msPct.toFixed(3)
      }% over the next 100 ms`,
  );
}

// Alone: `deno run -A bench/pool_figures.ts [threads]` (default 2) prints the figures.
if (import.meta.main) printPool(poolFigures(Number(Deno.args[0] ?? 2)));
