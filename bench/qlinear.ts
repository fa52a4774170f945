/**
 * The 8-bit elementwise family against ONNX Runtime's kernels of the same
 * ops (one node each, same process, same data; medians in µs): the Jit call
 * alone, and the one-node model run by our InferenceSession and by ONNX
 * Runtime's (the ratio is of the two sessions: each run's own costs — feeds,
 * fresh output tensors — on both sides): QuantizeLinear
 * and DequantizeLinear per tensor, com.microsoft QLinearAdd of one shape and
 * QLinearMul by a value per channel (an SE block's gate), on a 64×56×56
 * activation; and MaxPool of uint8 (opset 12: the ResNet stem's 3×3/2 on
 * 112², to 56²).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/qlinear.ts [--threads N] [--runs N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { loadOrt } from "../tests/helpers/ort.ts";
import { median, sleepMs } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "200" },
  },
});
const threads = Number(values.threads), runs = Number(values.runs);
const C = 64, HW = 56 * 56, N = C * HW, dims = [1, C, 56, 56];

const ort = await loadOrt();
if (!ort) console.log("onnxruntime-node not loaded: its column is skipped");
using jit = new Jit({ threads, tuneBudget: 0 });
const x = Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 4);
const a = Uint8Array.from({ length: N }, (_, i) => (i * 7) & 255);
const b = Uint8Array.from({ length: N }, (_, i) => (i * 13) & 255);
const gate = Uint8Array.from({ length: C }, (_, i) => (i * 37) & 255);
const y8 = new Uint8Array(N), yf = new Float32Array(N);
// A max pool's input: the ResNet stem's 112² (its output is the activation above).
const p112 = Uint8Array.from({ length: C * 112 * 112 }, (_, i) => (i * 29) & 255);
const pool = { n: 1, c: C, h: 112, w: 112, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
const s = (v: number) => ({ type: "float32" as const, dims: [], data: [v] });
const z = (v: number) => ({ type: "uint8" as const, dims: [], data: [v] });

/** One node's model: inputs named in order, scales and zero points as initializers. */
function model(build: (g: GraphBuilder) => void): Uint8Array {
  const g = new GraphBuilder(13);
  g.extraOpsets.push(["com.microsoft", 1]);
  build(g);
  return g.toBytes();
}

/** com.microsoft QLinearAdd/QLinearMul of a and an input b (the same scales on both sides). */
function binaryCase(
  name: string,
  op: string,
  bData: Uint8Array,
  bDims: number[],
  q: {
    aScale: number;
    aZeroPoint: number;
    bScale: number;
    bZeroPoint: number;
    yScale: number;
    yZeroPoint: number;
  },
  ours: (o: typeof q) => void,
): Case {
  return {
    name,
    ours: () => ours(q),
    bytes: model((g) => {
      g.input("a", "uint8", dims);
      g.input("b", "uint8", bDims);
      const scales = [
        "a",
        g.initializer("as", s(q.aScale)),
        g.initializer("az", z(q.aZeroPoint)),
        "b",
        g.initializer("bs", s(q.bScale)),
        g.initializer("bz", z(q.bZeroPoint)),
        g.initializer("ys", s(q.yScale)),
        g.initializer("yz", z(q.yZeroPoint)),
      ];
      g.node(op, scales, ["y"], {}, "com.microsoft");
      g.output("y", "uint8", dims);
    }),
    feeds: () => ({
      a: new ort.Tensor("uint8", a, dims),
      b: new ort.Tensor("uint8", bData, bDims),
    }),
    ourFeeds: () => ({ a: new Tensor("uint8", a, dims), b: new Tensor("uint8", bData, bDims) }),
  };
}

interface Case {
  name: string;
  ours: () => void;
  bytes: Uint8Array;
  feeds: () => Record<string, unknown>;
  ourFeeds: () => Record<string, Tensor>;
}
const cases: Case[] = [
  {
    name: "QuantizeLinear",
    ours: () => jit.quantizeLinear(x, y8, { scale: 0.03, zeroPoint: 128 }),
    bytes: model((g) => {
      g.input("x", "float32", dims);
      g.node("QuantizeLinear", ["x", g.initializer("s", s(0.03)), g.initializer("z", z(128))], [
        "y",
      ]);
      g.output("y", "uint8", dims);
    }),
    feeds: () => ({ x: new ort.Tensor("float32", x, dims) }),
    ourFeeds: () => ({ x: new Tensor("float32", x, dims) }),
  },
  {
    name: "DequantizeLinear",
    ours: () => jit.dequantizeLinear(a, yf, { scale: 0.03, zeroPoint: 128 }),
    bytes: model((g) => {
      g.input("a", "uint8", dims);
      g.node("DequantizeLinear", ["a", g.initializer("s", s(0.03)), g.initializer("z", z(128))], [
        "y",
      ]);
      g.output("y", "float32", dims);
    }),
    feeds: () => ({ a: new ort.Tensor("uint8", a, dims) }),
    ourFeeds: () => ({ a: new Tensor("uint8", a, dims) }),
  },
  binaryCase(
    "QLinearAdd (one shape)",
    "QLinearAdd",
    b,
    dims,
    { aScale: 0.02, aZeroPoint: 100, bScale: 0.03, bZeroPoint: 120, yScale: 0.05, yZeroPoint: 128 },
    (o) => jit.qlinearAdd(a, b, y8, o),
  ),
  binaryCase(
    "QLinearMul (a value per channel)",
    "QLinearMul",
    gate,
    [1, C, 1, 1],
    { aScale: 0.02, aZeroPoint: 100, bScale: 0.004, bZeroPoint: 0, yScale: 0.05, yZeroPoint: 128 },
    (o) => jit.qlinearMul(a, gate, y8, { ...o, broadcast: "span", cols: HW }),
  ),
  {
    name: "MaxPool uint8 3×3/2 pad 1, 112²",
    ours: () => jit.pool("max", p112, y8, pool),
    bytes: model((g) => {
      g.input("p", "uint8", [1, C, 112, 112]);
      g.node("MaxPool", ["p"], ["y"], {
        kernel_shape: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      });
      g.output("y", "uint8", dims);
    }),
    feeds: () => ({ p: new ort.Tensor("uint8", p112, [1, C, 112, 112]) }),
    ourFeeds: () => ({ p: new Tensor("uint8", p112, [1, C, 112, 112]) }),
  },
];

console.log(`${C}×56×56 (${N} elements), ${threads} thread(s), ${runs} runs each, medians`);
for (const c of cases) {
  const time = async (call: () => unknown) => {
    sleepMs(200);
    const t: number[] = [];
    for (let r = 0; r < runs + 20; r++) {
      const t0 = performance.now();
      await call();
      if (r >= 20) t.push(performance.now() - t0);
    }
    return median(t) * 1000;
  };
  const call = await time(c.ours);
  const mine = await InferenceSession.create(c.bytes, {
    intraOpNumThreads: threads,
    tuneBudget: 0,
  });
  const ourFeeds = c.ourFeeds();
  const session = await time(() => mine.run(ourFeeds));
  await mine.release();
  let theirs = NaN;
  if (ort) {
    const s = await ort.InferenceSession.create(c.bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    const feeds = c.feeds();
    theirs = await time(() => s.run(feeds));
    await s.release();
  }
  console.log(
    `${c.name.padEnd(34)} jit call ${call.toFixed(1).padStart(6)} µs | session ${
      session.toFixed(1).padStart(6)
    } µs | ORT session ${
      ort ? `${theirs.toFixed(1).padStart(6)} µs (×${(theirs / session).toFixed(2)})` : "—"
    }`,
  );
}
