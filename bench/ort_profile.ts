/**
 * onnxruntime-node's own per-node kernel times for a model (its profiler):
 * the median µs of each node over the runs, to set beside ours
 * (`deno task model f.onnx --profile out`).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/ort_profile.ts model.onnx [threads] [runs]
 *   ... bench/ort_profile.ts zoo:cnn   # a model of tools/model_zoo.ts's ZOO by name (cnn, cnn-qop, bert, …)
 *
 * @module
 */
import { ZOO } from "../tools/model_zoo.ts";

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
const dir = await Deno.makeTempDir();
const s = await ort.InferenceSession.create(bytes, {
  intraOpNumThreads: Number(threadsArg),
  enableProfiling: true,
  profileFilePrefix: `${dir}/ort`,
});
const feeds: Record<string, unknown> = {};
for (const name of s.inputNames as string[]) {
  // A zoo model's own feeds (an attention mask is int64); a file's: float inputs
  const own = model?.feeds[name];
  if (own !== undefined) {
    feeds[name] = new ort.Tensor(own.type, own.data, own.dims);
    continue;
  }
  // Float inputs of the shape the model declares (symbolic dims 1).
  const meta = ((s.inputMetadata ?? []) as { name: string; shape?: (number | string)[] }[])
    .find((m) => m.name === name);
  const dims = (meta?.shape ?? [1, 3, 224, 224]).map((d) => (typeof d === "number" ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  feeds[name] = new ort.Tensor(
    "float32",
    Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
    dims,
  );
}
for (let i = 0; i < Number(runsArg); i++) await s.run(feeds);
s.endProfiling();
await s.release();
const trace = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".json"))!;
const events = JSON.parse(Deno.readTextFileSync(`${dir}/${trace.name}`)) as {
  cat?: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}[];
const byNode = new Map<string, { op: string; durs: number[] }>();
for (const e of events) {
  if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
  const n = byNode.get(e.name) ?? { op: e.args?.op_name ?? "?", durs: [] };
  n.durs.push(e.dur);
  byNode.set(e.name, n);
}
let total = 0;
for (const [name, n] of byNode) {
  n.durs.sort((a, b) => a - b);
  const med = n.durs[n.durs.length >> 1];
  total += med;
  console.log(`${name.replace(/_kernel_time$/, "").padEnd(48)} ${n.op.padEnd(20)} ${med} µs`);
}
console.log(`sum of node medians: ${total} µs`);
await Deno.remove(dir, { recursive: true });
