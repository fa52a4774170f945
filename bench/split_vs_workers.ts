/**
 * What the pool's split of a GEMM costs against the same halves run by two
 * independent threads: two Workers, each with a one-thread Jit of its own,
 * each on one half of the columns (A shared, B and C at their full strides,
 * in shared memory: what a part of the split reads and writes), started
 * together at a barrier for every call and timed as the slower of the two;
 * beside them one Worker alone on its half, and the main thread's
 * two-thread Jit on the whole call. Rounds alternate the three, in one
 * process, so a drifting clock touches all alike.
 *
 * "workers ÷ alone" is what the two cores cost each other (L3, memory, the
 * host); "pool ÷ workers" is what the split itself adds on top: its parts,
 * their placement and stealing, the fork and the join.
 *
 *   deno run -A bench/split_vs_workers.ts [--shapes 512x512x512,1024x1024x1024] [--rounds 7] [--reps 40]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

interface HalfJob {
  m: number;
  n: number;
  k: number;
  reps: number;
  half: number;
  a: SharedArrayBuffer;
  b: SharedArrayBuffer;
  c: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  count: number;
}

/** A Worker's loop: one-thread GEMMs on its half, each after a barrier of `count` threads. */
function halfWorker(): void {
  const jit = new Jit({ threads: 1, tuneBudget: 0 });
  const scope = self as unknown as {
    onmessage: (e: MessageEvent<HalfJob>) => void;
    postMessage: (x: Float64Array) => void;
  };
  scope.onmessage = (e) => {
    const { m, n, k, reps, half, count } = e.data;
    const cols = n / 2;
    const a = new Float32Array(e.data.a);
    const b = new Float32Array(e.data.b, 4 * half * cols);
    const c = new Float32Array(e.data.c, 4 * half * cols);
    const options = { m, n: cols, k, ldb: n, ldc: n };
    const arrived = new Int32Array(e.data.barrier);
    for (let w = 0; w < 5; w++) jit.gemm(a, b, c, options);
    const times = new Float64Array(reps);
    for (let r = 0; r < reps; r++) {
      Atomics.add(arrived, 0, 1);
      while (Atomics.load(arrived, 0) < (r + 1) * count) { /* spin: start together */ }
      const t0 = performance.now();
      jit.gemm(a, b, c, options);
      times[r] = performance.now() - t0;
    }
    scope.postMessage(times);
  };
}

if ((self as unknown as { name?: string }).name === "half") {
  halfWorker();
} else {
  const { values } = parseArgs({
    options: {
      shapes: { type: "string", default: "512x512x512,1024x1024x1024" },
      rounds: { type: "string", default: "7" },
      reps: { type: "string", default: "40" },
    },
  });
  const rounds = Number(values.rounds), reps = Number(values.reps);
  const shared = (length: number) => {
    const s = new SharedArrayBuffer(4 * length);
    const f = new Float32Array(s);
    for (let i = 0; i < length; i++) f[i] = Math.random() - 0.5;
    return s;
  };
  const workers = [0, 1].map(() => new Worker(import.meta.url, { type: "module", name: "half" }));
  const halves = async (count: number, job: Omit<HalfJob, "half" | "count" | "barrier">) => {
    const barrier = new SharedArrayBuffer(4);
    const done = workers.slice(0, count).map((w, half) =>
      new Promise<Float64Array>((resolve) => {
        w.onmessage = (e: MessageEvent<Float64Array>) => resolve(e.data);
        w.postMessage({ ...job, half, count, barrier });
      })
    );
    const times = await Promise.all(done);
    // Each call's time: the slower half's.
    return median(Array.from({ length: job.reps }, (_, r) => Math.max(...times.map((t) => t[r])))) *
      1e3;
  };
  using two = new Jit({ threads: 2, tuneBudget: 0 });
  console.log(
    "M×N×K            alone µs  workers µs  pool µs  workers ÷ alone  pool ÷ workers  pool ÷ alone",
  );
  for (const shape of values.shapes.split(",")) {
    const [m, n, k] = shape.split("x").map(Number);
    if (n % 2 !== 0) throw new RangeError(`--shapes: N must be even, got ${shape}`);
    const job = { m, n, k, reps, a: shared(m * k), b: shared(k * n), c: shared(m * n) };
    const a = new Float32Array(job.a), b = new Float32Array(job.b), c = new Float32Array(job.c);
    const alone: number[] = [], both: number[] = [], pool: number[] = [];
    for (let round = 0; round < rounds; round++) {
      alone.push(await halves(1, job));
      both.push(await halves(2, job));
      for (let w = 0; w < 5; w++) two.gemm(a, b, c, { m, n, k });
      const t: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        two.gemm(a, b, c, { m, n, k });
        t.push(performance.now() - t0);
      }
      pool.push(median(t) * 1e3);
    }
    const [al, bo, po] = [median(alone), median(both), median(pool)];
    console.log(
      `${shape.padEnd(16)} ${al.toFixed(0).padStart(8)}  ${bo.toFixed(0).padStart(10)}  ${
        po.toFixed(0).padStart(7)
      }  ${(bo / al).toFixed(2).padStart(15)}  ${(po / bo).toFixed(2).padStart(14)}  ${
        (po / al).toFixed(2).padStart(12)
      }`,
    );
  }
  workers.forEach((w) => w.terminate());
}
