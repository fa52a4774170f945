/**
 * A zoo model's kernels as they run inside it: `runSync` on a profiled
 * session (tier 1), then each key's mean µs per call (RDTSC around the
 * call, its parts included), its calls per run and its parts. `--at`
 * takes another checkout (a directory holding one), to set one commit's
 * figures beside another's.
 *
 *   deno run -A bench/model_kernels.ts [--model bert] [--threads 2] [--runs 60] [--at DIR]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "bert" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "60" },
    at: { type: "string" },
  },
});
const root = values.at
  ? new URL(`file://${Deno.realPathSync(values.at)}/`)
  : new URL("../", import.meta.url);
const { InferenceSession, Tensor } = await import(new URL("mod.ts", root).href);
const { ZOO } = await import(new URL("tools/model_zoo.ts", root).href);
const make = ZOO[values.model!];
if (make === undefined) {
  console.error(`no model ${values.model} in the zoo: ${Object.keys(ZOO).join(", ")}`);
  Deno.exit(2);
}
const m = make();
const session = await InferenceSession.create(m.bytes, {
  intraOpNumThreads: Number(values.threads),
  enableProfiling: true,
  tuneBudget: 0,
});
const feeds: Record<string, unknown> = {};
for (
  const [k, f] of Object.entries(m.feeds) as [
    string,
    { type: string; data: unknown; dims: number[] },
  ][]
) {
  feeds[k] = new Tensor(f.type, f.data, f.dims);
}
const runs = Number(values.runs);
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  session.runSync(feeds);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(
  `${m.name}, ${values.threads} thread(s), ${values.at ?? "this checkout"}: runSync median ${
    times[times.length >> 1].toFixed(3)
  } ms over ${runs} runs, arena ${(session.arenaBytes / 2 ** 20).toFixed(1)} MiB`,
);
console.log("µs/call  calls/run  parts  key");
const keys = session.kernelStats().keys.toSorted((a: { totalUs: number }, b: { totalUs: number }) =>
  b.totalUs - a.totalUs
);
for (const k of keys) {
  console.log(
    `${(k.kernelMeanUs ?? 0).toFixed(1).padStart(7)}  ${(k.calls / runs).toFixed(1).padStart(9)}  ${
      String(k.parts).padStart(5)
    }  ${k.key.slice(0, 100)}`,
  );
}
await session.release();
