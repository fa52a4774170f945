/**
 * What replaying a run's recorded calls saves: two sessions of one model in
 * one process, one replaying (the default) and one making every call anew
 * (`replay: false`), timed in alternating blocks through `await run()`
 * (off the event loop: recorded anew every run) and through `runSync()`
 * (the calling thread: every step's TypeScript, validation and dispatch).
 *
 *   deno run -A bench/replay.ts [model.onnx ...] [--zoo cnn,bert] [--threads N] [--blocks N]
 *
 * With neither files nor `--zoo`: the zoo's ResNet-style CNN (224²) and
 * MobileNet-style block. Zoo models run on their own feeds; files on float
 * feeds of the declared shape (symbolic dims 1).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { readModel } from "../src/onnx/model.ts";
import { mobileBlock, resnetCnn, ZOO } from "../tools/model_zoo.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "1" },
    blocks: { type: "string", default: "30" },
    zoo: { type: "string" },
  },
});
const threads = Number(values.threads), blocks = Number(values.blocks);

type Feeds = Record<string, Tensor>;
/** Float feeds of each input's declared shape (a symbolic dim 1). */
function fileFeeds(bytes: Uint8Array): Feeds {
  const feeds: Feeds = {};
  for (const v of readModel(bytes).graph.inputs) {
    const dims = (v.dims ?? []).map((d) => (typeof d === "number" ? d : 1));
    const n = dims.reduce((p, q) => p * q, 1);
    feeds[v.name] = new Tensor(
      "float32",
      Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
      dims,
    );
  }
  return feeds;
}

const models: [string, Uint8Array, Feeds][] = [];
for (const f of positionals) {
  const bytes = Deno.readFileSync(f);
  models.push([f.split("/").pop()!, bytes, fileFeeds(bytes)]);
}
for (const name of values.zoo?.split(",") ?? []) {
  const make = ZOO[name];
  if (make === undefined) {
    console.error(`no model ${name} in the zoo: ${Object.keys(ZOO).join(", ")}`);
    Deno.exit(2);
  }
  const m = make(), feeds: Feeds = {};
  for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
  models.push([`zoo ${name}`, m.bytes, feeds]);
}
if (models.length === 0) {
  for (
    const [name, bytes] of [
      ["zoo CNN 224²", resnetCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000 }).bytes],
      ["zoo mobile block 56²", mobileBlock(56, 32, 6).bytes],
    ] as const
  ) models.push([name, bytes, fileFeeds(bytes)]);
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`replaying vs every call anew, ${threads} thread(s), µs per run (medians)`);
console.log(
  "model                     run:replay   record  ×record   runSync:replay    steps   ×steps",
);
for (const [name, bytes, feeds] of models) {
  const make = (replay: boolean) =>
    InferenceSession.create(bytes, { intraOpNumThreads: threads, tuneBudget: 0, replay });
  const on = await make(true), off = await make(false);
  try {
    for (let i = 0; i < 5; i++) {
      await Promise.all([on.run(feeds), off.run(feeds)]);
      on.runSync(feeds), off.runSync(feeds);
    }
    const times: number[][] = [[], [], [], []];
    const block = async (i: number, s: InferenceSession, sync: boolean) => {
      const t = performance.now();
      for (let r = 0; r < 4; r++) sync ? s.runSync(feeds) : await s.run(feeds);
      times[i].push((performance.now() - t) / 4);
    };
    for (let b = 0; b < blocks; b++) {
      await block(0, on, false);
      await block(1, off, false);
      await block(2, on, true);
      await block(3, off, true);
    }
    const [a, b, c, d] = times.map((t) => median(t) * 1000);
    const col = (v: number, w: number) => v.toFixed(0).padStart(w);
    console.log(
      `${name.padEnd(25)} ${col(a, 10)}  ${col(b, 7)}  ${(b / a).toFixed(3).padStart(7)}  ${
        col(c, 15)
      }  ${col(d, 7)}  ${(d / c).toFixed(3).padStart(7)}   (replays ${on.kernelStats().replays})`,
    );
  } finally {
    await on.release();
    await off.release();
  }
}
