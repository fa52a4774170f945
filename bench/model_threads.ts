/**
 * A zoo model's kernels at one thread and at N, side by side: two profiled
 * sessions of one process (tier 1) take turns run by run, so the host's
 * drift falls on both alike; then each key's mean µs per call in each, and
 * the speedup N threads give it (1T over NT: under 1 a loss). Profiled
 * sessions step their nodes one call at a time from JavaScript; `--plain`
 * times unprofiled ones (runSync replaying its recorded calls), runs only. Keys whose
 * plans differ between the sessions print once per session.
 *
 *   deno run -A bench/model_threads.ts [--model mobilenet|FILE.onnx] [--threads 2] [--runs 60] [--top 30] [--pause MS] [--plain]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "mobilenet" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "60" },
    top: { type: "string", default: "30" },
    // ms before each run (see below)
    pause: { type: "string", default: "0" },
    // Unprofiled sessions (runSync replays its recorded calls, no JavaScript between kernels):
    // the runs' times only. A profiled session steps its nodes one call at a time.
    plain: { type: "boolean", default: false },
  },
});
// A zoo model by name, or an .onnx file: its float inputs as it declares them (symbolic dims 1).
const file = values.model!.endsWith(".onnx");
const make = file ? undefined : ZOO[values.model!];
if (!file && make === undefined) {
  console.error(`no model ${values.model} in the zoo: ${Object.keys(ZOO).join(", ")}`);
  Deno.exit(2);
}
const m = make?.() ?? { name: values.model!, bytes: Deno.readFileSync(values.model!), feeds: {} };
const threads = Number(values.threads), runs = Number(values.runs);
const open = (n: number) =>
  InferenceSession.create(m.bytes, {
    intraOpNumThreads: n,
    enableProfiling: !values.plain,
    tuneBudget: 0,
  });
const sessions = [await open(1), await open(threads)];
const feeds: Record<string, Tensor> = {};
for (const [k, f] of Object.entries(m.feeds)) {
  feeds[k] = new Tensor(f.type as "float32", f.data as Float32Array, f.dims);
}
if (file) {
  for (const v of sessions[0].inputMetadata) {
    const dims = v.shape.map((d) => typeof d === "number" ? d : 1);
    const data = Float32Array.from(
      { length: dims.reduce((a, b) => a * b, 1) },
      (_, i) => Math.sin(i),
    );
    feeds[v.name] = new Tensor("float32", data, dims);
  }
}
// Warm-up (compiles, first touches), then the timed runs, alternating.
for (const s of sessions) for (let i = 0; i < 5; i++) s.runSync(feeds);
const times: number[][] = [[], []];
// `--pause` ms before each run (0: none): with the pool's spin raised to 2 ms, the other
// session's spinning worker made the 1-thread runs 1.5× slower on an Intel Xeon VM; after a
// pause of 5 ms both sessions' runs start cold there (1 thread 8.5 ms against 5.4 back to back).
const pause = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < runs; i++) {
  for (const [j, s] of (i % 2 ? [1, 0] : [0, 1]).map((j) => [j, sessions[j]] as const)) {
    if (Number(values.pause) > 0) Atomics.wait(pause, 0, 0, Number(values.pause));
    const t0 = performance.now();
    s.runSync(feeds);
    times[j].push(performance.now() - t0);
  }
}
const median = (a: number[]) => a.toSorted((p, q) => p - q)[a.length >> 1];
const [one, many] = times.map(median);
console.log(
  `${m.name}: runSync median ${one.toFixed(3)} ms at 1 thread, ${
    many.toFixed(3)
  } ms at ${threads} (×${(one / many).toFixed(2)}), ${runs} runs each, alternating`,
);
if (values.plain) {
  for (const s of sessions) await s.release();
  Deno.exit(0);
}
interface KeyStat {
  key: string;
  calls: number;
  parts: number;
  totalUs: number;
  kernelMeanUs?: number;
}
const stats = sessions.map((s) =>
  new Map<string, KeyStat>(
    (s.kernelStats().keys as KeyStat[]).map((k) => [k.key, k]),
  )
);
const rows = [...stats[0].values()].toSorted((a, b) => b.totalUs - a.totalUs);
console.log(`  1T µs  ${threads}T µs  speedup  calls/run  parts  key`);
for (const k of rows.slice(0, Number(values.top))) {
  const other = stats[1].get(k.key);
  const a = k.kernelMeanUs ?? 0, b = other?.kernelMeanUs ?? NaN;
  console.log(
    `${a.toFixed(1).padStart(7)}  ${b.toFixed(1).padStart(7)}  ${(a / b).toFixed(2).padStart(7)}  ${
      (k.calls / (runs + 5)).toFixed(1).padStart(9)
    }  ${String(other?.parts ?? "-").padStart(5)}  ${k.key.slice(0, 90)}`,
  );
}
for (const s of sessions) await s.release();
