/**
 * A session's `await run()` (off the event loop, its Jit calls replayed as
 * call lists) against `runSync()` (the calling thread), one session,
 * taking turns run by run after a warm-up of both: what going off the loop
 * costs a model (the hops, and where the lists run), and the calling thread's CPU per `run`
 * (what the event loop is kept from: the JavaScript of a run, and any step still computed there).
 *
 *   deno run -A bench/run_vs_sync.ts [--models mobile-qdq,cnn-qop] [--threads 1] [--runs 100]
 *   deno run -A bench/run_vs_sync.ts --models bert,mlp64 --runs 10 --evict 64   # caches cold each run
 *
 *   deno run -A bench/run_vs_sync.ts --models light_squeezenet.onnx --threads 2   # a model file
 *
 * Models by name from `tools/model_zoo.ts`, or files (float32 inputs of fixed dims); medians
 * (and means) in ms.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";
import { threadCpuNs } from "../src/native/libc.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "mobile-qdq,cnn-qop" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "100" },
    // "both": turns run by run; "run" or "runSync": that one alone in the process (as an
    // application calls one of them), warm-up included.
    only: { type: "string", default: "both" },
    // MB written before each timed run (0: none): the caches as a run finds them after other
    // work (compare-models' turns with ORT and a second session of ours).
    evict: { type: "string", default: "0" },
  },
});
const only = values.only!;
if (only !== "both" && only !== "run" && only !== "runSync") {
  console.error(`--only must be both, run or runSync, got ${only}`);
  Deno.exit(2);
}
const threads = Number(values.threads), runs = Number(values.runs);
const junk = new Float32Array((Number(values.evict) * 2 ** 20) / 4);
/** Writes a float a line through `junk` (nothing when --evict is 0). */
const evict = () => {
  for (let i = 0; i < junk.length; i += 16) junk[i] += 1;
};

/**
 * A zoo model's bytes and feeds, or a file's: each float32 input of fixed dims fed sin(i)
 * (an input of another type or of symbolic dims is refused, by name).
 */
async function modelOf(
  name: string,
): Promise<{ bytes: Uint8Array; feeds: Record<string, Tensor> }> {
  const feeds: Record<string, Tensor> = {};
  if (name.endsWith(".onnx")) {
    const bytes = Deno.readFileSync(name);
    const probe = await InferenceSession.create(bytes);
    for (const meta of probe.inputMetadata) {
      const dims = meta.isTensor ? meta.shape : [];
      if (!meta.isTensor || meta.type !== "float32" || dims.some((d) => typeof d !== "number")) {
        throw new Error(`${name}: input ${meta.name} is not float32 of fixed dims`);
      }
      const n = (dims as number[]).reduce((a, b) => a * b, 1);
      feeds[meta.name] = new Tensor(
        "float32",
        Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
        dims as number[],
      );
    }
    await probe.release();
    return { bytes, feeds };
  }
  const make = ZOO[name];
  if (make === undefined) {
    console.error(`no model ${name} in the zoo: ${Object.keys(ZOO).join(", ")}`);
    Deno.exit(2);
  }
  const m = make();
  for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
  return { bytes: m.bytes, feeds };
}

for (const name of values.models!.split(",")) {
  const { bytes, feeds } = await modelOf(name);
  const session = await InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    tuneBudget: 0,
  });
  // Warm-up of both (first runs compile, and an output size's first allocations fault pages).
  for (let i = 0; i < 200; i++) {
    if (only !== "runSync") await session.run(feeds);
    if (only !== "run") session.runSync(feeds);
  }
  const async: number[] = [], sync: number[] = [], ratios: number[] = [];
  /** Milliseconds of one `await run()`, one `runSync()`. */
  const timeRun = async () => {
    evict();
    const t0 = performance.now();
    await session.run(feeds);
    return performance.now() - t0;
  };
  const timeSync = () => {
    evict();
    const t0 = performance.now();
    session.runSync(feeds);
    return performance.now() - t0;
  };
  // Both: the two take turns run by run (which goes first alternating), and the ratio is the
  // median of each turn's: this VM drifts by tens of percent within seconds, and in blocks of
  // 100 runs the CNN's run/runSync came out 1.11 where turns run by run gave 0.97-0.99.
  for (let i = 0; i < 4 * runs; i++) {
    if (only === "run") async.push(await timeRun());
    else if (only === "runSync") sync.push(timeSync());
    else {
      let r: number, y: number;
      if (i % 2 === 0) {
        r = await timeRun();
        y = timeSync();
      } else {
        y = timeSync();
        r = await timeRun();
      }
      async.push(r);
      sync.push(y);
      ratios.push(r / y);
    }
  }
  // The calling thread's CPU over a block of runs alone: between turns it also does V8's
  // collection of the runSync outputs (measured: 3× the block's figure on MLP batch 64).
  const busyRuns = only === "runSync" ? 0 : runs;
  const cpu0 = threadCpuNs();
  for (let i = 0; i < busyRuns; i++) await session.run(feeds);
  const busyNs = threadCpuNs() - cpu0;
  await session.release();
  // The median, and the mean (what a stream of runs takes per run: the slow runs' share too).
  const ms = (t: number[]) =>
    t.length
      ? `${median(t).toFixed(3)} ms (mean ${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(3)})`
      : "—";
  const ratio = ratios.length ? `  run/runSync ${median(ratios).toFixed(2)} (turn by turn)` : "";
  // What `run` leaves the event loop: the calling thread's CPU per run (the rest is waiting).
  const busy = busyRuns && busyNs >= 0
    ? `  calling thread busy ${(busyNs / 1e6 / busyRuns).toFixed(3)} ms a run`
    : "";
  console.log(
    `${name.padEnd(12)} ${threads}T  run ${ms(async)}  runSync ${ms(sync)}${ratio}${busy}`,
  );
}
