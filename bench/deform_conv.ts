/**
 * DeformConv (2-D, 3×3, random offsets) against onnxruntime-node in one
 * process (medians of alternating runs; ORT's thread spinning off).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/deform_conv.ts [--shape 64,32,32,64]
 *
 * shape: channels in, height, width, channels out.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

const { values } = parseArgs({ options: { shape: { type: "string", default: "64,32,32,64" } } });
const [C, H, W, OC] = values.shape!.split(",").map(Number);
const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const g = new GraphBuilder(19);
g.input("x", "float32", [1, C, H, W]);
g.input("off", "float32", [1, 18, H, W]);
const weights = g.weight("W", [OC, C, 3, 3], seededFloats(OC * C * 9, 1, 0.1));
g.output(g.op("DeformConv", ["x", weights, "off"], { pads: [1, 1, 1, 1] }, "y"));
const bytes = g.toBytes();
const x = seededFloats(C * H * W, 2, 1), off = seededFloats(18 * H * W, 3, 2);
const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@")).catch(() => null);
for (const threads of [1, 2]) {
  const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const theirs = ort
    ? await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      extra: { session: { intra_op: { allow_spinning: "0" } } },
    })
    : null;
  const feeds = {
    x: new Tensor("float32", x, [1, C, H, W]),
    off: new Tensor("float32", off, [1, 18, H, W]),
  };
  const theirFeeds = ort
    ? {
      x: new ort.Tensor("float32", x, [1, C, H, W]),
      off: new ort.Tensor("float32", off, [1, 18, H, W]),
    }
    : null;
  const a: number[] = [], b: number[] = [];
  for (let r = 0; r < 21; r++) {
    let t = performance.now();
    await ours.run(feeds);
    a.push(performance.now() - t);
    if (theirs) {
      t = performance.now();
      await theirs.run(theirFeeds);
      b.push(performance.now() - t);
    }
  }
  console.log(
    `DeformConv ${C}→${OC} ${H}×${W} 3×3, ${threads} thread(s): ours ${median(a).toFixed(2)} ms` +
      (theirs
        ? `, ORT ${median(b).toFixed(2)} ms: ×${(median(b) / median(a)).toFixed(2)}`
        : " (onnxruntime-node not installed)"),
  );
  await ours.release();
  await theirs?.release();
}
