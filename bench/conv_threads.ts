/**
 * Convolutions (NCHW, one image, packed weights, bias and ReLU6; 1×1 unless
 * a shape names its kernel and groups, K×K then padded to keep the size) at
 * 1 and 2 threads alone: a 1-thread and a 2-thread Jit take turns round by round in
 * one process (workers held awake, as a session's run holds them), each
 * round a block of calls on its own y, so each side's lines stay where its
 * own last call left them. Prints the median µs per call on each side, their
 * ratio, and the 2-thread plan and part count. Where a split cuts y's
 * planes in bands of rows, whether a band's first row starts on a 64-byte
 * line shows beside it (else the two cores write a line of every plane).
 *
 *   deno run -A bench/conv_threads.ts [--shapes c,oc,h,w[,k,group];…] [--rounds 30] [--calls 50]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "32,192,28,28;32,192,24,28;32,192,32,28;144,32,28,28" },
    rounds: { type: "string", default: "30" },
    calls: { type: "string", default: "50" },
  },
});
const rounds = Number(values.rounds), calls = Number(values.calls);
const clip = { op: "clip", min: 0, max: 6 } as const;

for (const shape of values.shapes.split(";")) {
  const [c, oc, h, w, k = 1, group = 1] = shape.split(",").map(Number);
  const positions = h * w, kernel = [k, k] as [number, number], p = (k - 1) >> 1;
  const x = Float32Array.from({ length: c * positions }, () => Math.random() - 0.5);
  const wt = Float32Array.from({ length: (oc * c * k * k) / group }, () => Math.random() - 0.5);
  const bias = Float32Array.from({ length: oc }, () => Math.random() - 0.5);
  const opts = { n: 1, c, h, w, outChannels: oc, kernel, pads: [p, p, p, p], group, bias };
  using one = new Jit({ threads: 1, tuneBudget: 0 });
  using two = new Jit({ threads: 2, tuneBudget: 0 });
  const sides = [one, two].map((jit) => ({
    jit,
    packed: jit.packConvWeights(wt, { outChannels: oc, c, kernel, group }),
    y: new Float32Array(oc * positions),
    times: [] as number[],
  }));
  for (let round = 0; round < rounds; round++) {
    for (const s of sides) {
      s.jit.holdWorkers(true);
      try {
        const call = () => s.jit.conv2d(x, s.packed, s.y, { ...opts, activation: clip });
        for (let i = 0; i < 10; i++) call();
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) call();
        s.times.push(((performance.now() - t0) * 1000) / calls);
      } finally {
        s.jit.holdWorkers(false);
      }
    }
  }
  const [t1, t2] = sides.map((s) => median(s.times));
  const key = two.stats().keys.find((k) => k.family === "conv2d");
  const half = Math.ceil(h / 2) * w * 4;
  console.log(
    `${c}→${oc}${k > 1 ? ` ${k}×${k}` : ""}${group > 1 ? ` group ${group}` : ""} on ${h}×${w}: 1T ${
      t1.toFixed(1)
    } µs, 2T ${t2.toFixed(1)} µs, ×${
      (t1 / t2).toFixed(2)
    } (${key?.parts} parts, ${key?.plan}; a middle band boundary ${
      half % 64 === 0 ? "on" : "off"
    } a line)`,
  );
}
