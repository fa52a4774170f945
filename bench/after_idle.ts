/**
 * Model runs after idle pauses, as a server with sporadic requests makes
 * them: a session's `runSync` (and ONNX Runtime's `run` when installed)
 * after the process idled 0 to 1000 ms, at 1 and 2 threads: the median ms
 * over `--runs` runs per pause, and the slowest. Each side runs its own
 * block (their pool threads keep spinning after a run and would take the
 * cores from the other's).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/after_idle.ts [--model bert] [--threads 1,2] [--pauses 0,100,300,1000] [--runs 7]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";
import { median, sleepMs } from "./timing.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "bert" },
    threads: { type: "string", default: "1,2" },
    pauses: { type: "string", default: "0,100,300,1000" },
    runs: { type: "string", default: "7" },
  },
});
const make = ZOO[values.model!];
if (make === undefined) {
  console.error(`no model ${values.model} in the zoo: ${Object.keys(ZOO).join(", ")}`);
  Deno.exit(2);
}
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  // A computed specifier: `deno check` must not fetch the package for this file.
  ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.error(`onnxruntime-node is not available (${(e as Error).message}): ours only`);
}
const model = make(), runs = Number(values.runs);
const pauses = values.pauses!.split(",").map(Number);

/** Median and slowest ms of `runs` runs, each after `pause` ms idle. */
async function afterPauses(run: () => unknown, pause: number): Promise<[number, number]> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    sleepMs(pause);
    const t0 = performance.now();
    await run();
    t.push(performance.now() - t0);
  }
  return [median(t), Math.max(...t)];
}

console.log(`${model.name}: ms per run after each idle pause (median / slowest of ${runs})`);
for (const threads of values.threads!.split(",").map(Number)) {
  const ours = await InferenceSession.create(model.bytes, {
    intraOpNumThreads: threads,
    tuneBudget: 0,
  });
  const feeds: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(model.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
  // deno-lint-ignore no-explicit-any
  let theirs: any = null, theirFeeds: Record<string, unknown> = {};
  if (ort) {
    theirs = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: threads });
    theirFeeds = Object.fromEntries(
      Object.entries(model.feeds).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]),
    );
  }
  for (let i = 0; i < 5; i++) ours.runSync(feeds);
  for (let i = 0; theirs && i < 5; i++) await theirs.run(theirFeeds);
  for (const pause of pauses) {
    sleepMs(500);
    const [a, aMax] = await afterPauses(() => ours.runSync(feeds), pause);
    let row = `${threads}T idle ${String(pause).padStart(4)} ms: ours ${a.toFixed(2)} / ${
      aMax.toFixed(2)
    }`;
    if (theirs) {
      sleepMs(500);
      const [b, bMax] = await afterPauses(() => theirs.run(theirFeeds), pause);
      row += `, ORT ${b.toFixed(2)} / ${bMax.toFixed(2)}, ours vs ORT ×${(b / a).toFixed(2)}`;
    }
    console.log(row);
  }
  await ours.release();
  if (theirs) await theirs.release();
}
