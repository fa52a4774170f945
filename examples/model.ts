/**
 * Runs an ONNX model as ONNX Runtime's perf_test does: random feeds (fixed
 * seed; int64/bool inputs are ones, valid as ids and masks), warm-up, then
 * the median time per run; with --compare, onnxruntime-node on the same
 * feeds in the same process (max abs/rel difference and the speed ratio).
 * With no file it writes two example models with our own ONNX writer (a
 * transformer encoder layer and a small CNN) and runs those; --zoo runs the
 * compare-models zoo's models by name (cnn-qop, mobile-qdq, …).
 *
 *   deno task model [file.onnx | --zoo name] [--threads N] [--runs N] [--shape name=1x3x224x224]
 *                   [--profile out] [--compare] [--ops] [--level all|extended|basic|disabled]
 *                   [--tune [--tune-runs N] [--tune-cache file]]
 *
 * The session runs tier 1 (tuning off), so every timed run is alike. With
 * --tune a second session tunes its kernels (tier 2) in a warm-up of up to
 * --tune-runs runs (default 300, ending once every kernel is tuned); the two
 * are then timed run by run, alternating: tier 1 against tuned.
 */
import { parseArgs } from "node:util";
import { InferenceSession, type OptimizationLevel, Tensor } from "../mod.ts";
import { readModel } from "../src/onnx/model.ts";
import { supportedOps } from "../src/graph/ops/registry.ts";
import { encoderLayer, resnetCnn, ZOO, type ZooModel } from "../tools/model_zoo.ts";
import { seededFloats } from "../tools/onnx_writer.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string" },
    runs: { type: "string", default: "50" },
    shape: { type: "string", multiple: true, default: [] },
    profile: { type: "string" },
    compare: { type: "boolean", default: false },
    ops: { type: "boolean", default: false },
    level: { type: "string", default: "all" },
    tune: { type: "boolean", default: false },
    "tune-runs": { type: "string", default: "300" },
    "tune-cache": { type: "string" },
    zoo: { type: "string", multiple: true, default: [] },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: deno task model [file.onnx | --zoo name] [--threads N] [--runs N] [--shape name=1x3x224x224] " +
      "[--profile out] [--compare] [--ops] [--level all|extended|basic|disabled] " +
      "[--tune [--tune-runs N] [--tune-cache file]]",
  );
  Deno.exit(0);
}

/** The op census: every op type with its count, supported or not. */
function census(bytes: Uint8Array): string {
  const m = readModel(bytes);
  const counts = new Map<string, number>();
  // Subgraphs (If's branches) too: their ops run as much as the graph's.
  const walk = (nodes: typeof m.graph.nodes) => {
    for (const n of nodes) {
      const k = n.domain ? `${n.domain}:${n.opType}` : n.opType;
      counts.set(k, (counts.get(k) ?? 0) + 1);
      for (const a of n.attributes) for (const g of [a.g, ...a.graphs]) if (g) walk(g.nodes);
    }
  };
  walk(m.graph.nodes);
  const ok = new Set(supportedOps());
  const lines = [
    `opsets ${
      [...m.opsets].map(([d, v]) => `${d || "ai.onnx"} ${v}`).join(", ")
    }, ${m.graph.nodes.length} nodes, producer ${m.producerName || "?"}`,
  ];
  // A ZipMap whose output is a declared non-tensor graph output (scikit-learn's classifiers)
  // loads: that output is listed and refused when fetched, as in onnxruntime-node.
  const listed = new Set(m.graph.outputs.filter((v) => v.nonTensor).map((v) => v.name));
  const zipListed = m.graph.nodes.some((n) =>
    n.opType === "ZipMap" && n.domain === "ai.onnx.ml" && listed.has(n.outputs[0])
  );
  for (const [op, c] of [...counts].sort((a, b) => b[1] - a[1])) {
    const state = ok.has(op)
      ? "supported"
      : op === "ai.onnx.ml:ZipMap" && zipListed
      ? "its sequence of maps listed, refused when fetched (as in onnxruntime-node)"
      : "NOT SUPPORTED";
    lines.push(`  ${op.padEnd(28)} ${String(c).padStart(5)}  ${state}`);
  }
  return lines.join("\n");
}

function parseShapes(list: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of list) {
    const [name, dims] = s.split("=");
    if (!name || !dims || !/^\d+(x\d+)*$/.test(dims)) {
      throw new Error(`--shape ${s}: expected name=1x3x224x224`);
    }
    out.set(name, dims.split("x").map(Number));
  }
  return out;
}

// deno-lint-ignore no-explicit-any
async function loadOrt(): Promise<any> {
  try {
    if (!Deno.env.get("ONNXRUNTIME_NODE_INSTALL")) Deno.env.set("ONNXRUNTIME_NODE_INSTALL", "skip");
    const spec = ["npm:onnxruntime-node", "1.30.0"].join("@");
    return await import(spec);
  } catch (e) {
    console.error(`--compare: onnxruntime-node is not available (${(e as Error).message})`);
    return null;
  }
}

async function runModel(
  name: string,
  bytes: Uint8Array,
  shapes: Map<string, number[]>,
): Promise<void> {
  console.log(`\n== ${name}`);
  if (values.ops) {
    console.log(census(bytes));
    return;
  }
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  const t0 = performance.now();
  const session = await InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    graphOptimizationLevel: values.level as OptimizationLevel,
    enableProfiling: values.profile !== undefined,
    profileFilePrefix: values.profile,
    // Tier 1 (tuning off): its runs are timed as they are from the first, not mid-tuning;
    // --tune shows tier 2 beside it.
    tuneBudget: 0,
  });
  const createMs = performance.now() - t0;
  const model = readModel(bytes);
  const declared = new Map(model.graph.inputs.map((v) => [v.name, v]));
  const feeds: Record<string, Tensor> = {};
  let seed = 1;
  for (const input of session.inputNames) {
    const v = declared.get(input)!;
    const dims = shapes.get(input) ?? (v.dims ?? []).map((d) => (typeof d === "number" ? d : 1));
    const size = dims.reduce((a, b) => a * b, 1);
    const type = v.elemType === 7
      ? "int64"
      : v.elemType === 9
      ? "bool"
      : v.elemType === 6
      ? "int32"
      : "float32";
    const data = type === "int64"
      ? new BigInt64Array(size).fill(1n)
      : type === "bool"
      ? new Uint8Array(size).fill(1)
      : type === "int32"
      ? new Int32Array(size).fill(1)
      : seededFloats(size, seed++);
    feeds[input] = new Tensor(type, data, dims);
    console.log(`input  ${input}: ${type} [${dims.join(", ")}]`);
  }
  const runs = Number(values.runs);
  let out = await session.run(feeds);
  for (let i = 0; i < 3; i++) out = await session.run(feeds);
  const tuned = values.tune ? await tunedSession(bytes, feeds, threads) : null;
  // --compare: onnxruntime-node's session in the same loop, run for run (this machine's
  // load moves by tens of percent over seconds: only alternating runs compare).
  const ort = values.compare ? await loadOrt() : null;
  const theirs = ort
    ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads ?? 0 })
    : null;
  const theirFeeds: Record<string, unknown> = {};
  let ref: Record<string, { data: unknown }> | null = null;
  if (ort && theirs) {
    for (const [k, t] of Object.entries(feeds)) {
      theirFeeds[k] = new ort.Tensor(t.type, t.data, t.dims);
    }
    ref = await theirs.run(theirFeeds);
    for (let i = 0; i < 3; i++) await theirs.run(theirFeeds);
  }
  const times: number[] = [], tunedTimes: number[] = [], theirTimes: number[] = [];
  // Blocks of runs, each contender in turn after a pause: ORT's idle workers spin for a
  // while after its runs, so run-by-run alternation at 2 threads times that spin, not us.
  const contenders: [() => Promise<unknown>, number[]][] = [[() => session.run(feeds), times]];
  if (tuned) contenders.push([() => tuned.run(feeds), tunedTimes]);
  if (theirs) contenders.push([() => theirs.run(theirFeeds), theirTimes]);
  const block = contenders.length > 1 ? Math.max(1, Math.ceil(runs / 5)) : runs;
  for (let done = 0; done < runs; done += block) {
    for (const [run, into] of contenders) {
      if (contenders.length > 1) {
        await new Promise((r) => setTimeout(r, 100));
        await run();
      }
      for (let i = done; i < Math.min(runs, done + block); i++) {
        const t = performance.now();
        await run();
        into.push(performance.now() - t);
      }
    }
  }
  times.sort((a, b) => a - b);
  const ms = times[times.length >> 1];
  for (const [k, t] of Object.entries(out)) {
    const head = Array.from(
      t.data.slice(0, 4) as ArrayLike<number | bigint | string>,
      (v) => typeof v === "string" ? v : Number(v).toPrecision(5),
    );
    console.log(
      `output ${k}: ${t.type} [${t.dims.join(", ")}] ${head.join(", ")}${t.size > 4 ? ", …" : ""}`,
    );
  }
  console.log(
    `create ${createMs.toFixed(1)} ms, ${session.nodeCount} nodes after optimization (${
      JSON.stringify(session.optimization.fusions)
    }); run median ${ms.toFixed(3)} ms over ${runs} runs`,
  );
  // What `run` does off the event loop, and what it still computes on the calling thread.
  const host = session.hostNodes;
  console.log(
    `off the event loop: ${session.offLoopStretches} stretch(es) of Jit calls a run; ` +
      (host.length
        ? `on the calling thread: ${host.length} node(s) (${host.slice(0, 6).join(", ")}${
          host.length > 6 ? ", …" : ""
        })`
        : "no node computed on the calling thread"),
  );
  if (tuned) {
    tunedTimes.sort((a, b) => a - b);
    const tm = tunedTimes[tunedTimes.length >> 1];
    console.log(
      `tuned run median ${tm.toFixed(3)} ms over ${runs} runs (blocks alternating with tier 1): ×${
        (ms / tm).toFixed(3)
      } over tier 1`,
    );
    // Per kernel: the tuner's own medians (interleaved rounds on the warm-up's calls).
    console.log("kernel".padEnd(72) + "tier 1 µs  chosen µs  ×tier1  chosen plan");
    for (const k of tuned.kernelStats().keys.slice(0, 12)) {
      const t = k.tuning, c = t?.candidates;
      const base = c?.[0]?.medianUs ?? null, won = c?.[t?.winner ?? 0]?.medianUs ?? null;
      console.log(
        `${k.key.slice(0, 71).padEnd(72)}${(base?.toFixed(1) ?? "-").padStart(9)} ${
          (won?.toFixed(1) ?? "-").padStart(10)
        } ${(t?.gain?.toFixed(2) ?? "-").padStart(7)}  ${k.tier === 2 ? "" : "(tier 1) "}${
          k.plan ?? "-"
        }${k.parts > 1 ? `, ${k.parts} parts` : ""}`,
      );
    }
    await tuned.release();
  }
  if (values.compare && theirs && ref) {
    for (const k of Object.keys(out)) {
      const a = out[k].data as Float32Array, b = ref[k].data as Float32Array;
      let abs = 0, max = 0;
      for (let i = 0; i < a.length; i++) {
        abs = Math.max(abs, Math.abs(Number(a[i]) - Number(b[i])));
        max = Math.max(max, Math.abs(Number(b[i])));
      }
      console.log(
        `vs ORT ${k}: max abs diff ${abs.toExponential(2)}, max rel ${
          (abs / Math.max(max, 1e-30)).toExponential(2)
        }`,
      );
    }
    theirTimes.sort((a, b) => a - b);
    const their = theirTimes[theirTimes.length >> 1];
    console.log(
      `ORT run median ${their.toFixed(3)} ms (blocks alternating with ours): ours is ×${
        (their / ms).toFixed(2)
      }`,
    );
    await theirs.release();
  }
  if (values.profile !== undefined) {
    console.log(session.report());
    console.log(`trace: ${session.endProfiling()}`);
  }
  await session.release();
}

/** A session whose kernels were tuned in a warm-up (--tune): its report says what was chosen. */
async function tunedSession(
  bytes: Uint8Array,
  feeds: Record<string, Tensor>,
  threads: number | undefined,
): Promise<InferenceSession> {
  const most = Number(values["tune-runs"]);
  const t0 = performance.now();
  const s = await InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    graphOptimizationLevel: values.level as OptimizationLevel,
    tuningRuns: most,
    ...(values["tune-cache"] ? { tuneCache: values["tune-cache"] } : {}),
  });
  let runs = 0;
  do {
    await s.run(feeds);
    runs++;
  } while (runs < most && s.tuningPending > 0);
  console.log(
    `tuning warm-up: ${runs} runs, ${((performance.now() - t0) / 1000).toFixed(2)} s, ` +
      `${s.tuningPending} kernels still tuning`,
  );
  return s;
}

const shapes = parseShapes(values.shape as string[]);
const zoo = values.zoo as string[];
for (const name of zoo) {
  if (!ZOO[name]) throw new Error(`unknown zoo model '${name}' (${Object.keys(ZOO).join(", ")})`);
}
if (positionals.length === 0) {
  const models: ZooModel[] = zoo.length ? zoo.map((name) => ZOO[name]()) : [
    encoderLayer({ seq: 64, hidden: 256, heads: 4, ff: 1024 }),
    resnetCnn({ size: 96, widths: [32, 64], blocks: 1 }),
  ];
  for (const m of models) {
    // The example's own feed shapes, unless --shape says otherwise.
    const own = new Map(Object.entries(m.feeds).map(([k, v]) => [k, v.dims]));
    for (const [k, v] of shapes) own.set(k, v);
    await runModel(`example: ${m.name} (written by tools/onnx_writer.ts)`, m.bytes, own);
  }
} else {
  for (const file of positionals) await runModel(file, Deno.readFileSync(file), shapes);
}
