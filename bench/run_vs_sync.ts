/**
 * A session's `await run()` (off the event loop, its Jit calls replayed as
 * call lists) against `runSync()` (the calling thread), one session, blocks
 * of each alternating after a warm-up of both: what going off the loop
 * costs a model (the hops, and where the lists run), and the calling thread's CPU per `run`
 * (what the event loop is kept from: the JavaScript of a run, and any step still computed there).
 *
 *   deno run -A bench/run_vs_sync.ts [--models mobile-qdq,cnn-qop] [--threads 1] [--runs 100]
 *
 * Models by name from `tools/model_zoo.ts`; medians in ms.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "mobile-qdq,cnn-qop" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "100" },
    // "both": blocks alternating; "run" or "runSync": that one alone in the process (as an
    // application calls one of them), warm-up included.
    only: { type: "string", default: "both" },
  },
});
const only = values.only!;
if (only !== "both" && only !== "run" && only !== "runSync") {
  console.error(`--only must be both, run or runSync, got ${only}`);
  Deno.exit(2);
}
const threads = Number(values.threads), runs = Number(values.runs);
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

for (const name of values.models!.split(",")) {
  const make = ZOO[name];
  if (make === undefined) {
    console.error(`no model ${name} in the zoo: ${Object.keys(ZOO).join(", ")}`);
    Deno.exit(2);
  }
  const m = make();
  const session = await InferenceSession.create(m.bytes, {
    intraOpNumThreads: threads,
    tuneBudget: 0,
  });
  const feeds: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
  // Warm-up of both (first runs compile, and an output size's first allocations fault pages).
  for (let i = 0; i < 200; i++) {
    if (only !== "runSync") await session.run(feeds);
    if (only !== "run") session.runSync(feeds);
  }
  const async: number[] = [], sync: number[] = [];
  let busyNs = 0;
  for (let round = 0; round < 4; round++) {
    const cpu0 = threadCpuNs();
    for (let i = 0; i < runs && only !== "runSync"; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      async.push(performance.now() - t0);
    }
    busyNs += threadCpuNs() - cpu0;
    for (let i = 0; i < runs && only !== "run"; i++) {
      const t0 = performance.now();
      session.runSync(feeds);
      sync.push(performance.now() - t0);
    }
  }
  await session.release();
  const ms = (t: number[]) => (t.length ? `${median(t).toFixed(3)} ms` : "—");
  const ratio = async.length && sync.length
    ? `  run/runSync ${(median(async) / median(sync)).toFixed(2)}`
    : "";
  // What `run` leaves the event loop: the calling thread's CPU per run (the rest is waiting).
  const busy = async.length && busyNs >= 0
    ? `  calling thread busy ${(busyNs / 1e6 / async.length).toFixed(3)} ms a run`
    : "";
  console.log(
    `${name.padEnd(12)} ${threads}T  run ${ms(async)}  runSync ${ms(sync)}${ratio}${busy}`,
  );
}

/** This thread's CPU time in ns (Linux's schedstat), or -Infinity where it cannot be read. */
function threadCpuNs(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
  } catch {
    return -Infinity;
  }
}
