/**
 * What replaying a run's recorded calls saves: two sessions of one model in
 * one process, `run` replaying (the default) and recording anew every run
 * (`replay: false`), timed in alternating blocks, and `runSync` beside them.
 *
 *   deno run -A bench/replay.ts [model.onnx ...] [--threads N] [--blocks N]
 *
 * With no file: the zoo's ResNet-style CNN (224²) and MobileNet-style block.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { readModel } from "../src/onnx/model.ts";
import { mobileBlock, resnetCnn } from "../tools/model_zoo.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { threads: { type: "string", default: "1" }, blocks: { type: "string", default: "30" } },
});
const threads = Number(values.threads), blocks = Number(values.blocks);
const models: [string, Uint8Array][] = positionals.length
  ? positionals.map((f) => [f.split("/").pop()!, Deno.readFileSync(f)])
  : [
    ["zoo CNN 224²", resnetCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000 }).bytes],
    ["zoo mobile block 56²", mobileBlock(56, 32, 6).bytes],
  ];

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`run replaying vs recording every run, ${threads} thread(s), µs per run (medians)`);
console.log("model                      replay   record  ×record   runSync");
for (const [name, bytes] of models) {
  const make = (replay: boolean) =>
    InferenceSession.create(bytes, { intraOpNumThreads: threads, tuneBudget: 0, replay });
  const on = await make(true), off = await make(false);
  const feeds: Record<string, Tensor> = {};
  for (const v of readModel(bytes).graph.inputs.filter((v) => on.inputNames.includes(v.name))) {
    // Float inputs of the declared shape (a symbolic dim 1, the zoo CNN's image 224²).
    const dims = (v.dims ?? []).map((d) => (typeof d === "number" ? d : 1));
    const n = dims.reduce((p, q) => p * q, 1);
    const input = v.name;
    feeds[input] = new Tensor(
      "float32",
      Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
      dims,
    );
  }
  try {
    for (let i = 0; i < 5; i++) await Promise.all([on.run(feeds), off.run(feeds)]);
    const times: number[][] = [[], [], []];
    for (let b = 0; b < blocks; b++) {
      for (const [i, s] of [[0, on], [1, off]] as const) {
        const t = performance.now();
        for (let r = 0; r < 4; r++) await s.run(feeds);
        times[i].push((performance.now() - t) / 4);
      }
      const t = performance.now();
      for (let r = 0; r < 4; r++) on.runSync(feeds);
      times[2].push((performance.now() - t) / 4);
    }
    const [a, b, c] = times.map((t) => median(t) * 1000);
    console.log(
      `${name.padEnd(25)} ${a.toFixed(0).padStart(7)}  ${b.toFixed(0).padStart(7)}  ${
        (b / a).toFixed(3).padStart(7)
      }  ${c.toFixed(0).padStart(8)}   (replays ${on.kernelStats().replays})`,
    );
  } finally {
    await on.release();
    await off.release();
  }
}
