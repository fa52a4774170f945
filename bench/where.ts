/**
 * ONNX Where over attention scores with a causal mask, then Softmax (GPT-2's export's pattern:
 * Where(mask [1, 1, S, S], scores [1, H, S, S], a value)), ours against onnxruntime-node in
 * the same process: `run` taking turns after a warm-up, median ms, one thread.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/where.ts [--heads 12] [--seq 128] [--runs 31]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { median, takeTurns } from "./timing.ts";

const { values } = parseArgs({
  options: {
    heads: { type: "string", default: "12" },
    seq: { type: "string", default: "128" },
    runs: { type: "string", default: "31" },
  },
});
const H = Number(values.heads), S = Number(values.seq);
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.error(`onnxruntime-node is not available (${(e as Error).message}): ours only`);
}
const g = new GraphBuilder(17);
g.input("X", "float32", [1, H, S, S]);
const mask = g.initializer("mask", {
  type: "bool",
  dims: [1, 1, S, S],
  data: Array.from({ length: S * S }, (_, i) => ((i % S) <= Math.floor(i / S) ? 1 : 0)),
});
const v = g.initializer("v", { type: "float32", dims: [], data: [-1e9] });
g.node("Where", [mask, "X", v], ["Y"]);
g.node("Softmax", ["Y"], ["Z"], { axis: -1 });
g.output("Z");
const bytes = g.toBytes();
const x = Float32Array.from({ length: H * S * S }, (_, i) => Math.sin(i));
const ours = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
const theirs = ort ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 }) : null;
const feeds = { X: new Tensor("float32", x, [1, H, S, S]) };
const theirFeeds = ort ? { X: new ort.Tensor("float32", x, [1, H, S, S]) } : null;
for (let i = 0; i < 50; i++) {
  await ours.run(feeds);
  await theirs?.run(theirFeeds);
}
const [t, o] = await takeTurns(
  () => ours.run(feeds),
  theirs ? () => theirs.run(theirFeeds) : null,
  Number(values.runs),
);
const ms = median(t), their = theirs ? median(o) : NaN;
console.log(
  `Where + Softmax [1, ${H}, ${S}, ${S}], causal mask: ours ${ms.toFixed(3)} ms${
    theirs ? `, ORT ${their.toFixed(3)} ms, ×${(their / ms).toFixed(2)}` : ""
  }`,
);
