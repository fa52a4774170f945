/**
 * The thread pool's own costs, for `deno task compare --threads N`: an
 * empty job round trip through all threads while the workers spin and
 * after they went to sleep, next to a plain call of an empty kernel; and
 * the workers' CPU use while the program is idle, read from their thread
 * CPU clocks. Each part of the empty job is a barrier (count in, wait for
 * all N), so every thread must take part: the caller cannot run them all.
 *
 * @module
 */
import { Assembler, qword, rax, rcx, rdi } from "../asm/mod.ts";
import { SPIN } from "../src/runtime/policy.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { JOB_PARTS, JOB_WAKE, PART_BYTES } from "../src/native/pool_code.ts";
import { sharedPool } from "../src/native/pool.ts";

/** What `poolFigures` measured. */
export interface PoolFigures {
  threads: number;
  /** A plain call of an empty kernel, ns (the floor of any call). */
  plainCallNs: number;
  /** An empty job on every thread, workers spinning, ns (median). */
  spinningNs: number;
  /** The same from sleep (calls 1 ms apart), µs (median). */
  fromSleepUs: number;
  /** The spin budgets of the policy. */
  spin: { workerUs: number; callerUs: number };
  /** Workers' CPU share in the 10 ms after the last call (their spin included), %. */
  idle10msPct: number;
  /** Workers' CPU share over the next 100 ms, %. */
  idle100msPct: number;
}

function median(xs: number[]): number {
  return xs.sort((a, b) => a - b)[xs.length >> 1];
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
    batch(plain, 100_000);
    batch(fork, 100_000);
    const plainNs: number[] = [], spinNs: number[] = [];
    for (let r = 0; r < 15; r++) {
      plainNs.push(batch(plain, 20_000));
      spinNs.push(batch(fork, 20_000));
    }
    const sleepUs: number[] = [];
    for (let r = 0; r < 41; r++) {
      busyWait(1 + (SPIN.workerUs * 4) / 1000);
      const t0 = performance.now();
      fork();
      sleepUs.push((performance.now() - t0) * 1000);
    }
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
      spinningNs: median(spinNs),
      fromSleepUs: median(sleepUs),
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
      `spinning (a plain call: ${p.plainCallNs.toFixed(0)} ns), ${
        p.fromSleepUs.toFixed(1)
      } µs from sleep; spin ${p.spin.workerUs} µs (workers), ${p.spin.callerUs} µs (caller); ` +
      `idle worker CPU ${p.idle10msPct.toFixed(2)}% over the first 10 ms, ${
        p.idle100msPct.toFixed(3)
      }% over the next 100 ms`,
  );
}
