/**
 * Recurrent layers — LSTM, GRU (linear_before_reset, as PyTorch exports it),
 * RNN; forward, bias, hidden states out — ours
 * against onnxruntime-node in one process (medians of alternating runs).
 * ONNX Runtime's threads spin after its runs and take the second core from
 * ours at 2 threads, so its spinning is turned off here
 * (`session.intra_op.allow_spinning` 0); `--spin` keeps it on.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/recurrent.ts [--shape 64,1,128,256] [--threads 1,2] [--spin] [--warmup 200]
 *
 * shape: sequence, batch, input, hidden. Both sides run `--warmup` times
 * (alternating) before the 31 timed runs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "64,1,128,256" },
    threads: { type: "string", default: "1,2" },
    spin: { type: "boolean", default: false },
    warmup: { type: "string", default: "200" },
  },
});
const [S, B, I, H] = values.shape!.split(",").map(Number);
const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@")).catch(() => null);
const x = seededFloats(S * B * I, 4, 1);

for (const [op, gates] of [["LSTM", 4], ["GRU", 3], ["RNN", 1]] as const) {
  const g = new GraphBuilder(14);
  g.input("x", "float32", [S, B, I]);
  const W = g.weight("W", [1, gates * H, I], seededFloats(gates * H * I, 1, 0.1));
  const R = g.weight("R", [1, gates * H, H], seededFloats(gates * H * H, 2, 0.1));
  const bias = g.weight("B", [1, 2 * gates * H], seededFloats(2 * gates * H, 3, 0.1));
  const [y] = g.node(op, ["x", W, R, bias], 2, {
    hidden_size: H,
    ...(op === "GRU" ? { linear_before_reset: 1 } : {}),
  });
  g.output(g.op("Identity", [y], {}, "y"));
  const bytes = g.toBytes();
  for (const threads of values.threads!.split(",").map(Number)) {
    const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
    const theirs = ort
      ? await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: threads,
        ...(values.spin ? {} : { extra: { session: { intra_op: { allow_spinning: "0" } } } }),
      })
      : null;
    const xt = new Tensor("float32", x, [S, B, I]);
    const xo = ort ? new ort.Tensor("float32", x, [S, B, I]) : null;
    // Warm-up first, as compare-models does: our step loop is TypeScript around the Jit calls,
    // and V8 optimizes it over the first runs (64×1×128→256 GRU: ~1.0 ms a run over the first
    // 31, 0.65 from the 300th).
    for (let r = 0; r < Number(values.warmup); r++) {
      await ours.run({ x: xt });
      if (theirs) await theirs.run({ x: xo });
    }
    const a: number[] = [], b: number[] = [];
    for (let r = 0; r < 31; r++) {
      let t = performance.now();
      await ours.run({ x: xt });
      a.push(performance.now() - t);
      if (theirs) {
        t = performance.now();
        await theirs.run({ x: xo });
        b.push(performance.now() - t);
      }
    }
    console.log(
      `${op} ${S}×${B}×${I}→${H}, ${threads} thread(s): ours ${median(a).toFixed(3)} ms` +
        (theirs
          ? `, ORT ${median(b).toFixed(3)} ms: ×${(median(b) / median(a)).toFixed(2)}`
          : " (onnxruntime-node not installed)"),
    );
    await ours.release();
    await theirs?.release();
  }
}
