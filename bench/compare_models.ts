/**
 * Whole models against onnxruntime-node in the same process, same random
 * feeds, same thread count: create time, median ms per `run` after warm-up
 * (ours and ORT's, both the async `run`; at one thread taking turns run by
 * run, at more `--rounds` rounds of blocks that alternate, each after an
 * idle pause: see timeRuns), the speedup (the median of the ratios of runs
 * or blocks next to each other in time: this VM's speed drifts by tens of
 * percent within seconds), and the GFLOPS of the model's
 * Conv/MatMul/Gemm as % of the FMA peak on as many threads, raced as one
 * more contender in the same turns or blocks (the peak measured at the start
 * is printed too); and as % of a second bound raced the same way, the
 * streaming read of as many bytes as the model's weights (from L3 where
 * they fit, as they sit between runs): what bounds a model that reads more
 * weights than it computes with, like the MLP at batch 1. Outputs are checked against ORT's first (max abs difference ≤
 * 1e-4 × max(1, max |output|)). Create times are the best of 3 creates. The
 * models come from `tools/model_zoo.ts`.
 *
 *   deno task compare-models [--threads 1,2] [--models mlp1,mlp64,bert,bert-dec,bert-int8,bert-int8r,bert-fp16,bert-ms,cnn,resnet50,cnn-qop,cnn-qopr,cnn-qdq,mobile-qdq,mobilenet,llm4] [--json]
 *                            [--tune] [--rounds 9] [--ms 1500] [--fixed-dims]
 *
 * --fixed-dims: every session, ours and ORT's, made with
 * `freeDimensionOverrides` giving each symbolic input dim the feeds'
 * size (a deployment that runs one shape: the zoo's models declare a
 * symbolic batch).
 *
 * onnxruntime-node's `run` is its synchronous run deferred by `setImmediate`
 * (dist/backend.js): it blocks the event loop for the whole run. Ours runs
 * off the loop (a nonblocking hop each way: on a VM whose idle vCPUs halt,
 * tens to hundreds of µs). So ours is also timed as `runSync` ("on the
 * loop", ORT's semantics), taking the same turns; the speedup is
 * the off-loop `run`'s.
 *
 * Ours is tier 1 (tuning off: a session tuning under its budget would be
 * timed mid-tuning). With --tune a second session of ours, tuned in a
 * warm-up (`tuningRuns`, until every kernel is tuned), is timed alongside:
 * its ms and its gain over tier 1.
 */
import { parseArgs } from "node:util";
import { InferenceSession, measurePeak, Tensor } from "../mod.ts";
import { byteSize, dtypeOf } from "../src/onnx/dtype.ts";
import { readModel } from "../src/onnx/model.ts";
import { describeCpuPeaks, measurePeakPerCpu, peakContender, readContender } from "../src/peak.ts";
import { ZOO } from "../tools/model_zoo.ts";
import { ortInt8Exact } from "../tests/helpers/ort.ts";
import { median, sleepMs } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1,2" },
    models: { type: "string", default: "mlp1,mlp64,bert,bert-dec,bert-int8,cnn" },
    json: { type: "boolean", default: false },
    "fixed-dims": { type: "boolean", default: false },
    ms: { type: "string", default: "1500" },
    rounds: { type: "string", default: "9" },
    tune: { type: "boolean", default: false },
  },
});
const tune = values.tune ?? false;

// deno-lint-ignore no-explicit-any
type Ort = any;
let ort: Ort = null;
try {
  // A computed specifier: `deno check` must not fetch the package (288 MB) for this file.
  const spec = ["npm:onnxruntime-node", "1.30.0"].join("@");
  ort = await import(spec);
} catch (e) {
  console.error(`onnxruntime-node is not available (${(e as Error).message}): our columns only`);
}

/** The 8-bit models: their multiply-adds are not FMAs, their outputs rounded to bytes. */
const eightBit = (key: string) => /int8r?$/.test(key) || /-q(op|dq)r?$/.test(key);
/** The 8-bit models of 7-bit weights (reduce_range): ORT's sums exact on every CPU. */
const sevenBit = (key: string) => key.endsWith("int8r") || /-q(op|dq)r$/.test(key);

// deno-lint-ignore no-explicit-any
type Session = { run(feeds: any): Promise<any> };

/**
 * Each session's median ms per run, and the median of their ratios (`ratio`).
 * This machine's speed drifts by tens of percent within seconds, so a ratio
 * is only taken between runs next to each other in time, never between
 * overall medians.
 *
 * One thread: the sessions take turns run by run, each turn in a new
 * order (a seeded shuffle), after a warm-up of each, and `ratio` is the
 * median over turns of the two runs' ratio. The order matters: a run finds
 * the caches as the run before it left them. Turns that only rotated the
 * first kept the cycle (each contender always after the same one), so our
 * `run` always followed the weight-read contender, which had just streamed
 * the weights' size through the caches, and our `runSync` always followed
 * our `run`, its data warm: on the CNN `run` came out 1.09× `runSync`
 * (10.31 against 9.49 ms) where taking turns alone gives 1.01-1.02
 * (`bench/run_vs_sync.ts`). Blocks of runs misled there: our `run` against our
 * `runSync` came out 1.11 in blocks and 0.97-0.99 run by run on the CNN, the
 * same hour (`bench/run_vs_sync.ts`, both ways).
 *
 * More threads: a peer's pool keeps spinning after its run and would take
 * the cores from whoever runs next, so each session runs in blocks, each
 * after an idle pause and a warm-up, `rounds` rounds of them; `ratio` is the
 * median over rounds of the ratio of a round's two blocks.
 */
async function timeRuns(
  sessions: [Session, unknown][],
  budgetMs: number,
  rounds: number,
  threads: number,
): Promise<{ ms: number[]; ratio: (i: number, j: number) => number }> {
  const samples: number[][] = sessions.map(() => []);
  if (threads === 1) {
    for (const [s, feeds] of sessions) {
      const warmEnd = performance.now() + 100;
      for (let w = 0; w < 3 || performance.now() < warmEnd; w++) await s.run(feeds);
    }
    const end = performance.now() + budgetMs;
    const order = sessions.map((_, i) => i);
    let seed = 0x9e3779b9;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let turn = 0; turn < 5 || performance.now() < end; turn++) {
      for (let k = order.length - 1; k > 0; k--) {
        const j = Math.floor(next() * (k + 1));
        [order[k], order[j]] = [order[j], order[k]];
      }
      for (const i of order) {
        const [s, feeds] = sessions[i];
        const t0 = performance.now();
        await s.run(feeds);
        samples[i].push(performance.now() - t0);
      }
    }
    return {
      ms: samples.map(median),
      ratio: (i, j) => median(samples[i].map((t, turn) => t / samples[j][turn])),
    };
  }
  const blocks: number[][] = sessions.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sessions.length; i++) {
      const [s, feeds] = sessions[i];
      sleepMs(100);
      const warmEnd = performance.now() + 100;
      for (let w = 0; w < 3 || performance.now() < warmEnd; w++) await s.run(feeds);
      const end = performance.now() + budgetMs / rounds / sessions.length;
      const block: number[] = [];
      do {
        const t0 = performance.now();
        await s.run(feeds);
        block.push(performance.now() - t0);
      } while (performance.now() < end || block.length < 3);
      samples[i].push(...block);
      blocks[i].push(median(block));
    }
  }
  return {
    ms: samples.map(median),
    ratio: (i, j) => median(blocks[i].map((b, r) => b / blocks[j][r])),
  };
}

/**
 * Bytes of a model's initializers (its weights, as stored) that a run reads
 * whole: a table only gathered from (an embedding: one row a token) is left out.
 */
function weightBytes(bytes: Uint8Array): number {
  const graph = readModel(bytes).graph;
  const gathered = new Set<string>(), whole = new Set<string>();
  for (const node of graph.nodes) {
    node.inputs.forEach((name, i) => {
      (node.opType === "Gather" && i === 0 ? gathered : whole).add(name);
    });
  }
  let total = 0;
  for (const t of graph.initializers) {
    const type = dtypeOf(t.dataType);
    if (type === null || (gathered.has(t.name) && !whole.has(t.name))) continue;
    total += t.dims.reduce((a, b) => a * b, 1) * byteSize(type);
  }
  return total;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): [number, number] {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return [d, m];
}

const rows: Record<string, unknown>[] = [];
const threadList = values.threads.split(",").map(Number);
const peaks = new Map(threadList.map((t) => [t, measurePeak(30, t).peakGflops]));
const cpuPeaks = measurePeakPerCpu();
for (const key of values.models.split(",")) {
  const make = ZOO[key];
  if (!make) throw new Error(`unknown model '${key}' (${Object.keys(ZOO).join(", ")})`);
  const m = make();
  // --fixed-dims: each symbolic input dim → the feeds' size (from a throwaway session's metadata).
  const fixed: { freeDimensionOverrides?: Record<string, number> } = {};
  if (values["fixed-dims"]) {
    const probe = await InferenceSession.create(m.bytes, { tuneBudget: 0 });
    const sizes: Record<string, number> = {};
    for (const meta of probe.inputMetadata) {
      const shape = (meta as { shape?: readonly (number | string)[] }).shape ?? [];
      shape.forEach((d, i) => {
        if (typeof d === "string") sizes[d] = m.feeds[meta.name].dims[i];
      });
    }
    await probe.release();
    fixed.freeDimensionOverrides = sizes;
  }
  for (const threads of threadList) {
    // Create time: the best of 3 (the first create of a model kind in a process also warms V8 up).
    let createMs = Infinity, ours: InferenceSession | null = null;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      // Tier 1 (tuning off): steady from the first run, comparable between runs and with
      // earlier figures; --tune adds a tuned session beside it.
      const s = await InferenceSession.create(m.bytes, {
        intraOpNumThreads: threads,
        tuneBudget: 0,
        ...fixed,
      });
      createMs = Math.min(createMs, performance.now() - t0);
      if (ours) await ours.release();
      ours = s;
    }
    if (!ours) throw new Error("unreachable");
    const feeds: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
    const out = await ours.run(feeds);
    const row: Record<string, unknown> = {
      model: m.name,
      threads,
      createMs: +createMs.toFixed(1),
      gflop: +(m.flops / 1e9).toFixed(3),
    };
    // `runSync` on a session of its own: sharing ours, its runs warmed ours's weights in the
    // caches for the next turn (twice the reuse of any other contender's), which had favoured
    // ours against ORT and against the tuned session (MLP at batch 1: tuned ×0.82-0.84 "over
    // tier 1" with the shared session, ×1.01-1.02 with its own).
    const sync = await InferenceSession.create(m.bytes, {
      intraOpNumThreads: threads,
      tuneBudget: 0,
      ...fixed,
    });
    const onLoop: Session = { run: (f) => Promise.resolve(sync.runSync(f)) };
    const contenders: [Session, unknown][] = [[ours, feeds], [onLoop, feeds]];
    if (ort) {
      let theirs = null, ortCreate = Infinity;
      for (let i = 0; i < 3; i++) {
        const t1 = performance.now();
        const o = await ort.InferenceSession.create(m.bytes, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: "all",
          ...fixed,
        });
        ortCreate = Math.min(ortCreate, performance.now() - t1);
        if (theirs) await theirs.release();
        theirs = o;
      }
      row.ortCreateMs = +ortCreate.toFixed(1);
      const ortFeeds: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(m.feeds)) {
        ortFeeds[k] = new ort.Tensor(v.type, v.data, v.dims);
      }
      const ref = await theirs.run(ortFeeds);
      // A dynamically quantized model rounds its activations to 8 bits: a float difference of
      // an ulp upstream (our GELU's against ORT's) can move one quantized value a step, and the
      // output by ~1e-3 of its range — ORT's own outputs at optimization levels "basic" and
      // "all" differ by 4e-4 on the int8 BERT layer. Its check allows 1e-2; every float model
      // 1e-4 (the int8 layer at test size matches ORT within 1e-4: tests/model_test.ts).
      // A float16 model's outputs are halves rounded from float32 results that differ from
      // ORT's in the last float bits: a tie can round the other way, one half step (2^-10 of
      // the magnitude) apart.
      const tolerance = eightBit(key) ? 1e-2 : key.endsWith("fp16") ? 2 ** -10 : 1e-4;
      // Without VNNI ORT's 8-bit GEMMs saturate pairs of u8·s8 products at int16: its outputs
      // are no reference there (ours are checked against its exact ones by the tests' golden).
      // (A model of 7-bit weights, "…r": no pair of products saturates, its outputs exact.)
      row.outputsChecked = !eightBit(key) || ortInt8Exact() || sevenBit(key);
      for (const name of row.outputsChecked ? ours.outputNames : []) {
        const [d, mx] = maxDiff(out[name].data as Float32Array, ref[name].data as Float32Array);
        if (!(d <= tolerance * Math.max(1, mx))) {
          throw new Error(`${m.name}: output '${name}' differs from ORT by ${d} (max |out| ${mx})`);
        }
        row.maxDiff = +d.toExponential(2);
      }
      contenders.push([theirs, ortFeeds]);
    }
    let tuned: InferenceSession | null = null;
    if (tune) {
      const t0 = performance.now();
      tuned = await InferenceSession.create(m.bytes, {
        intraOpNumThreads: threads,
        tuningRuns: 400,
        ...fixed,
      });
      let runs = 0;
      do {
        await tuned.run(feeds);
        runs++;
      } while (runs < 400 && tuned.tuningPending > 0);
      row.tuneRuns = runs;
      row.tuneSeconds = +((performance.now() - t0) / 1000).toFixed(2);
      contenders.push([tuned, feeds]);
    }
    // The FMA peak as one more contender, run by run (or block by block) with the sessions: each
    // model's % is of the same minutes' machine.
    using peakRun = peakContender(m.flops, { threads });
    contenders.push([{ run: () => Promise.resolve(peakRun.run()) }, null]);
    // And the read of as many bytes as the weights, from where they sit between runs (L3 when
    // they fit): the bound of a model that reads more weights than it computes with (MLP, batch 1).
    using readRun = readContender(weightBytes(m.bytes), { threads });
    contenders.push([{ run: () => Promise.resolve(readRun.run()) }, null]);
    const budget = Number(values.ms);
    const { ms: times, ratio } = await timeRuns(
      contenders,
      budget,
      Number(values.rounds),
      threads,
    );
    const readMs = times.pop()!;
    const rowPeak = peakRun.flops / (times.pop()! * 1e-3) / 1e9;
    row.weightMB = +(readRun.bytes / 1e6).toFixed(2);
    row.readMs = +readMs.toFixed(3);
    row.peakGflops = +rowPeak.toFixed(1);
    const [mine, mineSync, theirs] = times;
    const last = times.length - 1;
    if (tuned) {
      const t = times[last];
      row.tunedMs = +t.toFixed(3);
      row.tunedGain = +ratio(0, last).toFixed(3);
      row.tunedPctPeak = +(100 * m.flops / (t * 1e-3) / 1e9 / rowPeak).toFixed(1);
      row.tunedSpeedup = theirs !== undefined && ort ? +ratio(2, last).toFixed(2) : undefined;
      await tuned.release();
    }
    row.ms = +mine.toFixed(3);
    row.syncMs = +mineSync.toFixed(3);
    row.pctPeak = +(100 * m.flops / (mine * 1e-3) / 1e9 / rowPeak).toFixed(1);
    row.pctRead = +(100 * readMs / mine).toFixed(1);
    if (theirs !== undefined && ort) {
      row.ortMs = +theirs.toFixed(3);
      row.speedup = +ratio(2, 0).toFixed(2);
      row.syncSpeedup = +ratio(2, 1).toFixed(2);
      row.ortPctPeak = +(100 * m.flops / (theirs * 1e-3) / 1e9 / rowPeak).toFixed(1);
    }
    await ours.release();
    await sync.release();
    rows.push(row);
    if (!values.json) {
      console.log(
        `${m.name.padEnd(52)} ${threads}T  ours ${String(row.ms).padStart(8)} ms (${
          // An 8-bit model's multiply-adds are not FMAs: no % of the FMA peak.
          eightBit(key)
            ? "int8"
            : `${row.pctPeak}% peak`}, ${row.pctRead}% of the bound of reading its ${row.weightMB} MB of weights), on the loop ${row.syncMs}` +
          (theirs !== undefined
            ? `  ORT ${
              String(row.ortMs).padStart(8)
            } ms  ×${row.speedup} (on the loop ×${row.syncSpeedup})${
              row.outputsChecked ? "" : ", outputs not compared: ORT's 8-bit GEMMs saturate here"
            }`
            : "") +
          `  create ${row.createMs} ms${
            row.ortCreateMs !== undefined ? ` (ORT ${row.ortCreateMs})` : ""
          }` +
          (row.tunedMs !== undefined
            ? `\n${"".padEnd(56)}tuned ${
              String(row.tunedMs).padStart(8)
            } ms (${row.tunedPctPeak}% peak)  ×${row.tunedGain} over tier 1` +
              `${
                row.tunedSpeedup !== undefined ? `  ×${row.tunedSpeedup} vs ORT` : ""
              }  (warm-up ${row.tuneRuns} runs, ${row.tuneSeconds} s)`
            : ""),
      );
    }
  }
}
if (values.json) {
  console.log(JSON.stringify({ peaks: Object.fromEntries(peaks), cpuPeaks, rows }, null, 1));
} else {
  console.log(
    `FMA peak at the start: ${
      [...peaks].map(([t, p]) => `${t}T ${p.toFixed(0)} GFLOPS`).join(", ")
    }; one thread pinned to each CPU: ${describeCpuPeaks(cpuPeaks)}`,
  );
}
