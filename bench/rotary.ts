/**
 * ONNX RotaryEmbedding (opset 23) on a Llama-sized prompt, ours against
 * onnxruntime-node 1.30 in the same process, runs taking turns: halves and
 * interleaved pairs, one model each ([1, heads, sequence, 128], bhsd,
 * position_ids, a cache of 4,096 positions), the output written into a
 * given tensor on both sides. Median ms per run; the ratio is ORT's time
 * over ours. Without onnxruntime-node, ours alone. Then the kernel alone:
 * `jit.rotary` on the same operands (a session's run also copies x in and
 * y out, 2 MiB each).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/rotary.ts [--heads 32] [--sequence 128] [--threads 1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    heads: { type: "string", default: "32" },
    sequence: { type: "string", default: "128" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "40" },
  },
});
const heads = Number(values.heads), seq = Number(values.sequence), D = 128;
const threads = Number(values.threads), runs = Number(values.runs);
// deno-lint-ignore no-explicit-any
let ort: any = null;
try {
  ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
} catch (e) {
  console.log(`onnxruntime-node not loaded (${(e as Error).message.split("\n")[0]}): ours alone`);
}

function model(interleaved: boolean): Uint8Array {
  const g = new GraphBuilder(23);
  g.input("x", "float32", [1, heads, seq, D]);
  g.input("pos", "int64", [1, seq]);
  const [cos, sin] = g.rotaryCache(4096, D / 2, 0.001);
  g.output(
    g.op("RotaryEmbedding", ["x", cos, sin, "pos"], { interleaved: interleaved ? 1 : 0 }, "y"),
    "float32",
    null,
  );
  return g.toBytes();
}

const x = seededFloats(heads * seq * D, 7, 1);
const pos = BigInt64Array.from({ length: seq }, (_, i) => BigInt(100 + i));
const dims = [1, heads, seq, D];
for (const interleaved of [false, true]) {
  const bytes = model(interleaved);
  const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const feeds = { x: new Tensor("float32", x, dims), pos: new Tensor("int64", pos, [1, seq]) };
  const into = { y: new Tensor("float32", new Float32Array(x.length), dims) };
  // deno-lint-ignore no-explicit-any
  let peer: any = null, pFeeds: any = null, pInto: any = null;
  if (ort) {
    peer = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads });
    pFeeds = { x: new ort.Tensor("float32", x, dims), pos: new ort.Tensor("int64", pos, [1, seq]) };
    pInto = { y: new ort.Tensor("float32", new Float32Array(x.length), dims) };
  }
  const t: number[] = [], tp: number[] = [];
  for (let r = 0; r < runs + 5; r++) {
    let t0 = performance.now();
    ours.runSync(feeds, into);
    if (r >= 5) t.push(performance.now() - t0);
    if (peer) {
      t0 = performance.now();
      await peer.run(pFeeds, pInto);
      if (r >= 5) tp.push(performance.now() - t0);
    }
  }
  let diff = "";
  if (peer) {
    const a = into.y.data as Float32Array, b = pInto.y.data as Float32Array;
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    diff = `, max |ours − ORT| ${m.toExponential(1)}`;
  }
  const plan = ours.kernelStats().keys.find((k) => k.family === "rotary")?.plan ?? "?";
  console.log(
    `RotaryEmbedding ${
      interleaved ? "interleaved" : "halves"
    } [1, ${heads}, ${seq}, ${D}] ${threads}T: ours ${median(t).toFixed(3)} ms (${plan})${
      peer ? `, ORT ${median(tp).toFixed(3)} ms, ×${(median(tp) / median(t)).toFixed(2)}` : ""
    }${diff}`,
  );
  await ours.release();
}

using jit = new Jit({ threads });
const cosT = new Float32Array(4096 * (D / 2)).map((_, i) => Math.cos(i * 0.001));
const sinT = new Float32Array(4096 * (D / 2)).map((_, i) => Math.sin(i * 0.001));
const positions = Int32Array.from(pos, (p) => Number(p)), y = new Float32Array(x.length);
const kernelMs = { halves: [] as number[], interleaved: [] as number[] };
for (let r = 0; r < runs + 5; r++) {
  for (const interleaved of [false, true]) {
    const o = {
      batch: 1,
      sequence: seq,
      heads,
      headSize: D,
      layout: "bhsd" as const,
      interleaved,
      cos: cosT,
      sin: sinT,
      positions,
    };
    const t0 = performance.now();
    jit.rotary(x, y, o);
    if (r >= 5) kernelMs[interleaved ? "interleaved" : "halves"].push(performance.now() - t0);
  }
}
console.log(
  `jit.rotary alone, taking turns: halves ${median(kernelMs.halves).toFixed(3)} ms, interleaved ${
    median(kernelMs.interleaved).toFixed(3)
  } ms`,
);
