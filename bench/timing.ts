/**
 * Timing of contenders that use several threads. Interleaving short windows
 * (ours, a peer, ours, ...) is fair to one-thread runs, but a peer's idle
 * threads keep spinning after its call (libgomp for ~1 ms, OpenBLAS up to
 * 2^28 cycles with sched_yield) and take the cores from whoever runs next.
 * So each contender runs in blocks, each block after an idle pause long
 * enough for every pool to fall asleep, then a warm-up of `warmMs` (cores
 * idle that long come back at a low clock: GEMM 512³ on 2 threads takes
 * ~10 calls to reach its speed, ours and oneDNN's alike); blocks rotate
 * through the contenders, so drifting clocks or neighbours touch all alike.
 *
 * @module
 */
import { dispatch } from "../src/native/dispatch.ts";

/** The middle sample (the upper middle of an even count), `x` left as it was. */
export function median(x: ArrayLike<number>): number {
  return Array.from(x).sort((a, b) => a - b)[x.length >> 1];
}

/** Sleeps the thread (no event loop needed). */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Median seconds per call of each contender: `rounds` rounds; in each, every
 * contender in turn, after `pauseMs` idle, warms up for `warmMs` and times
 * `windows` windows of `reps` calls.
 */
export function timeInBlocks(
  runs: (() => void)[],
  reps: number,
  options: { rounds?: number; windows?: number; pauseMs?: number; warmMs?: number } = {},
): number[] {
  const { rounds = 3, windows = 5, pauseMs = 150, warmMs = 30 } = options;
  const samples: number[][] = runs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    runs.forEach((run, i) => {
      sleepMs(pauseMs);
      const warm = performance.now() + warmMs;
      for (let w = 0; w < 2 || performance.now() < warm; w++) run();
      for (let w = 0; w < windows; w++) {
        const t0 = performance.now();
        for (let k = 0; k < reps; k++) run();
        samples[i].push((performance.now() - t0) / reps / 1000);
      }
    });
  }
  return samples.map(median);
}

/**
 * Ms of each of `runs` turns of two async contenders (a model's `run`, ours and a peer's),
 * run by run, ours first: one thread's timing (see the module for more threads). `theirs`
 * null: ours alone.
 */
export async function takeTurns(
  ours: () => Promise<unknown>,
  theirs: (() => Promise<unknown>) | null,
  runs: number,
): Promise<[number[], number[]]> {
  const t: number[] = [], o: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await ours();
    t.push(performance.now() - t0);
    if (!theirs) continue;
    t0 = performance.now();
    await theirs();
    o.push(performance.now() - t0);
  }
  return [t, o];
}

/**
 * Seconds of the fastest of `runs` calls of machine code at `code` with
 * the argument block `args` (one call first, untimed): for the probes that
 * time one instruction mix (bench/shuffle_rates.ts, bench/prefetch_stride.ts).
 */
export function bestCallSeconds(
  code: Deno.PointerObject,
  args: Deno.PointerObject,
  runs = 5,
): number {
  const call = () => dispatch().call(code, args);
  call();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    call();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}
