/**
 * Per-node kernel times of a model, onnxruntime-node's (its profiler) beside
 * ours (the session's profiler; tier 1), in one process so both see the
 * same machine: at 1 thread the two sessions' runs alternate, at more each
 * runs in a block (see below); the median µs of each node over the runs.
 * Nodes pair by name, else the k-th unpaired node of an op on one
 * side with the k-th of that op on the other (ONNX Runtime renames the
 * nodes it rewrites, e.g. "relu7_nchwc"); a node only one side has (a
 * fusion only one side makes) shows "-" on the other. Ours are the nodes'
 * kernel times (`args.kernel_us` of our trace, see src/graph/profiler.ts),
 * not the profiled steps' wall time: a small node after a big one carries
 * its call path run cold, tens of µs that replayed runs do not pay
 * (`bench/cold_call.ts`). A JavaScript step shows its wall time.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/ort_profile.ts model.onnx [threads] [runs]
 *   ... bench/ort_profile.ts zoo:cnn   # a model of tools/model_zoo.ts's ZOO by name (cnn, cnn-qop, bert, …)
 *
 * @module
 */
import { ZOO } from "../tools/model_zoo.ts";
import { InferenceSession, Tensor } from "../mod.ts";

const [file, threadsArg = "1", runsArg = "30"] = Deno.args;
if (!file) {
  console.error("usage: deno run -A bench/ort_profile.ts model.onnx [threads] [runs]");
  Deno.exit(2);
}
const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
const zoo = file.startsWith("zoo:") ? ZOO[file.slice(4)] : undefined;
if (file.startsWith("zoo:") && zoo === undefined) {
  console.error(`no model ${file.slice(4)} in the zoo: ${Object.keys(ZOO).join(", ")}`);
  Deno.exit(2);
}
const model = zoo?.();
const bytes = model !== undefined ? model.bytes : Deno.readFileSync(file);
const threads = Number(threadsArg), runs = Number(runsArg);
const dir = await Deno.makeTempDir();
const theirs = await ort.InferenceSession.create(bytes, {
  intraOpNumThreads: threads,
  enableProfiling: true,
  profileFilePrefix: `${dir}/ort`,
});
const ours = await InferenceSession.create(bytes, {
  intraOpNumThreads: threads,
  // Tier 1, as compare_models.ts times it: tuning on live calls would time its candidates
  // (some slow by design) as the nodes' runs.
  tuneBudget: 0,
  enableProfiling: true,
  profileFilePrefix: `${dir}/njit`,
});
const feeds: Record<string, { type: string; data: ArrayLike<unknown>; dims: number[] }> = {};
for (const name of theirs.inputNames as string[]) {
  // A zoo model's own feeds (an attention mask is int64); a file's: float inputs
  const own = model?.feeds[name];
  if (own !== undefined) {
    feeds[name] = own;
    continue;
  }
  // Float inputs of the shape the model declares (symbolic dims 1).
  const meta = ((theirs.inputMetadata ?? []) as { name: string; shape?: (number | string)[] }[])
    .find((m) => m.name === name);
  const dims = (meta?.shape ?? [1, 3, 224, 224]).map((d) => (typeof d === "number" ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  feeds[name] = {
    type: "float32",
    data: Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
    dims,
  };
}
const feedsOf = (T: new (t: never, d: never, s: number[]) => unknown) =>
  Object.fromEntries(
    Object.entries(feeds).map(([k, f]) => [k, new T(f.type as never, f.data as never, f.dims)]),
  );
const theirFeeds = feedsOf(ort.Tensor),
  ourFeeds = feedsOf(Tensor as never) as Record<string, Tensor>;
// At 1 thread the two take turns run by run. At more, ONNX Runtime's pool threads keep
// spinning after its run (allow_spinning) and take the cores from whoever runs next: a BERT
// layer's runSync at 2 threads took 15-17 ms right after ORT's run against 5.8 ms alone on a
// 2-vCPU Zen 5 (2026-12-03). So each runs in a block, its first WARM runs (in which the
// other's threads still spin) left out of the medians.
const WARM = 3;
const skipped = threads > 1 ? 1 + WARM : 1;
if (threads > 1) {
  for (let i = 0; i < WARM + runs; i++) await theirs.run(theirFeeds);
  for (let i = 0; i < WARM + runs; i++) ours.runSync(ourFeeds);
} else {
  for (let i = 0; i < runs; i++) {
    await theirs.run(theirFeeds);
    ours.runSync(ourFeeds);
  }
}
theirs.endProfiling();
await theirs.release();
const ourTrace = ours.endProfiling();
await ours.release();

type TypeShape = Record<string, number[]>;
type Event = {
  cat?: string;
  name: string;
  dur: number;
  args?: {
    op_name?: string;
    kernel_us?: number;
    input_type_shape?: TypeShape[];
    output_type_shape?: TypeShape[];
  };
};
/**
 * What pairs a node with the other side's when their names differ: its op, its first output's
 * dims and its second input's (a Conv's weights: inputs a group, window). ONNX Runtime's NCHWc
 * layout pads channels to whole blocks, so channels count in blocks of 16.
 */
function shapeKey(e: Event): string {
  const dims = (t?: TypeShape) => (t ? Object.values(t)[0] ?? [] : []);
  const out = [...dims(e.args?.output_type_shape?.[0])];
  if (out.length === 4) out[1] = Math.ceil(out[1] / 16);
  // A Conv's weights [oc, c/group, kh, kw]: inputs a group in blocks of 16 (onnxruntime's
  // BatchNormalization made a depthwise 1×1 Conv has 1), and the window.
  const wDims = dims(e.args?.input_type_shape?.[1]);
  const w = wDims.length === 4 ? [Math.ceil(wDims[1] / 16), ...wDims.slice(2)] : wDims.slice(2);
  return `${e.args?.op_name}|${out.join("x")}|${w.join("x")}`;
}
/** Per node in first-seen order: its op, shape key and the median of its durations after the first `skipped`. */
function medians(
  events: Event[],
  suffix: string,
): Map<string, { op: string; key: string; us: number }> {
  const byNode = new Map<string, { op: string; key: string; durs: number[] }>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith(suffix)) continue;
    const name = e.name.slice(0, e.name.length - suffix.length);
    const n = byNode.get(name) ?? { op: e.args?.op_name ?? "?", key: shapeKey(e), durs: [] };
    // Ours: the node's kernels (as a run spends them), not its step's wall time (see above).
    n.durs.push(e.args?.kernel_us ?? e.dur);
    byNode.set(name, n);
  }
  const out = new Map<string, { op: string; key: string; us: number }>();
  for (const [name, n] of byNode) {
    const d = n.durs.slice(skipped).sort((a, b) => a - b);
    out.set(name, { op: n.op, key: n.key, us: d.length ? d[d.length >> 1] : n.durs[0] });
  }
  return out;
}
const trace = [...Deno.readDirSync(dir)].find((e) =>
  e.name.startsWith("ort") && e.name.endsWith(".json")
)!;
const ortNodes = medians(JSON.parse(Deno.readTextFileSync(`${dir}/${trace.name}`)), "_kernel_time");
const ourNodes = medians(JSON.parse(Deno.readTextFileSync(ourTrace)), "");
await Deno.remove(dir, { recursive: true });

// Pairs: a node of the same name on both sides, else the k-th node of the same op and shapes
// (shapeKey) on each side, else of the same op and output, else of the same op (ONNX Runtime
// renames the nodes it rewrites, e.g. to "relu7_nchwc", and may run a graph's branches in
// another order).
const rows: { name: string; op: string; ortUs?: number; ourUs?: number; key?: string }[] = [];
const theirsOf = new Map<string, string>();
const left = [...ortNodes.keys()].filter((name) => !ourNodes.has(name));
for (const [name] of ourNodes) if (ortNodes.has(name)) theirsOf.set(name, name);
// Op, output and weights; then op and output (a Conv's weights may differ: onnxruntime's NCHWc
// forms); then op alone.
const levels = [
  (t: { key: string }) => t.key,
  (t: { key: string }) => t.key.split("|").slice(0, 2).join("|"),
  (t: { op: string }) => t.op,
];
for (const level of levels) {
  for (const [name, o] of ourNodes) {
    if (theirsOf.has(name)) continue;
    const at = left.findIndex((k) => level(ortNodes.get(k)!) === level(o));
    if (at >= 0) theirsOf.set(name, left.splice(at, 1)[0]);
  }
}
for (const [name, o] of ourNodes) {
  const theirName = theirsOf.get(name);
  const t = theirName === undefined ? undefined : ortNodes.get(theirName);
  if (theirName !== undefined) ortNodes.delete(theirName);
  rows.push({
    name: theirName && theirName !== name ? `${name} / ${theirName}` : name,
    op: o.op,
    ortUs: t?.us,
    ourUs: o.us,
    key: o.key,
  });
}
for (const [name, t] of ortNodes) rows.push({ name, op: t.op, ortUs: t.us, key: t.key });

console.log(
  `${threads} thread(s), ${runs} runs each, ${
    threads > 1 ? `in blocks after ${WARM} warm-up runs` : "alternating"
  }; median µs per node after its first run; shapes: output (its channels in blocks of 16) |
  weights (inputs a group in blocks of 16, window)`,
);
console.log(
  `${"node (ours / ORT's)".padEnd(48)} ${"op".padEnd(20)} ${"ORT µs".padStart(8)} ${
    "ours µs".padStart(8)
  }  ours/ORT  shapes`,
);
let totOrt = 0, totOurs = 0;
for (const r of rows) {
  totOrt += r.ortUs ?? 0;
  totOurs += r.ourUs ?? 0;
  const us = (v?: number) => (v === undefined ? "-" : v.toFixed(0)).padStart(8);
  const ratio = r.ortUs !== undefined && r.ourUs !== undefined
    ? (r.ourUs / r.ortUs).toFixed(2)
    : "";
  console.log(
    `${r.name.slice(0, 48).padEnd(48)} ${r.op.slice(0, 20).padEnd(20)} ${us(r.ortUs)} ${
      us(r.ourUs)
    }  ${ratio.padEnd(8)}  ${r.key?.split("|").slice(1).join(" | ") ?? ""}`,
  );
}
console.log(
  `sum of node medians: ORT ${totOrt.toFixed(0)} µs, ours ${totOurs.toFixed(0)} µs (${
    (totOurs / totOrt).toFixed(3)
  })`,
);
