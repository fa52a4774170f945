/**
 * The Attention op (opset 23) alone, ours against onnxruntime-node in the
 * same process: BERT-base shapes (12 heads × 128 × 64), plain and causal,
 * 1 and 2 threads. Each session is warmed up (our tier 2 tunes its GEMM
 * keys on their first calls), then the two alternate in blocks; medians.
 * Ours is timed by `run` (off the event loop, as ORT's is not) and by
 * `runSync` (on it, ORT's semantics) in blocks of their own.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/attention.ts
 *
 * @module
 */
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const ort: Any = await import(["npm:onnxruntime-node", "1.30.0"].join("@")).catch(() => null);
const dims = [1, 12, 128, 64];
const median = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1];
for (
  const [name, attrs, threads] of [["plain", {}, 1], ["causal", { is_causal: 1 }, 1], [
    "plain",
    {},
    2,
  ]] as const
) {
  const g = new GraphBuilder(23);
  for (const n of ["q", "k", "v"]) g.input(n, "float32", dims);
  g.output(g.op("Attention", ["q", "k", "v"], attrs, "y"));
  const bytes = g.toBytes();
  const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const theirs = ort
    ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads })
    : null;
  const feeds: Record<string, Tensor> = {}, theirFeeds: Record<string, unknown> = {};
  for (const [i, n] of ["q", "k", "v"].entries()) {
    const x = seededFloats(98304, i + 1);
    feeds[n] = new Tensor("float32", x, dims);
    if (ort) theirFeeds[n] = new ort.Tensor("float32", x, dims);
  }
  for (let i = 0; i < 400; i++) await ours.run(feeds); // past tier 2's tuning
  for (let i = 0; i < 50; i++) await theirs?.run(theirFeeds);
  const a: number[] = [], b: number[] = [], c: number[] = [];
  for (let block = 0; block < 10; block++) {
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await ours.run(feeds);
      a.push(performance.now() - t);
    }
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      ours.runSync(feeds);
      c.push(performance.now() - t);
    }
    for (let i = 0; i < 20 && theirs; i++) {
      const t = performance.now();
      await theirs.run(theirFeeds);
      b.push(performance.now() - t);
    }
  }
  const ms = median(a);
  console.log(
    `Attention 12×128×64 ${name}, ${threads}T: ours ${ms.toFixed(3)} ms (runSync ${
      median(c).toFixed(3)
    })` +
      (theirs
        ? `, ORT ${median(b).toFixed(3)} ms: ×${(median(b) / ms).toFixed(2)} (runSync ×${
          (median(b) / median(c)).toFixed(2)
        })`
        : ""),
  );
  await ours.release();
}
