/**
 * A MobileNetV2 inverted-residual block as a model runs it, on NCHW
 * tensors: the expanding 1×1 (+ clip), the 3×3 depthwise (+ clip) on its
 * output, the projecting 1×1 with the block's input as its residual; each
 * step timed on its own, on a 1-thread and a 2-thread Jit taking turns
 * round by round (workers held awake, as a session's run holds them). In a
 * chain each step reads what the step before wrote, on whichever core
 * wrote it: alone, a call's operands sit where the last call of the same
 * key left them (`bench/tune_candidates.ts`), so what a 2-thread split pays
 * for data on the other core shows here and not there.
 *
 *   deno run -A bench/block_chain.ts [--blocks 64,384,14;96,576,14;160,960,7] [--rounds 40]
 *
 * Each block `c,e,hw`: c channels in and out, e expanded, hw × hw positions.
 * Prints each step's median µs per call at 1 and 2 threads and their ratio
 * (2T ÷ 1T; 0.5 a perfect split).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type ConvWeights, Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    blocks: { type: "string", default: "64,384,14;96,576,14;160,960,7" },
    rounds: { type: "string", default: "40" },
  },
});
const rounds = Number(values.rounds);
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const clip = { op: "clip", min: 0, max: 6 } as const;
const STEPS = ["expand 1×1", "depthwise 3×3", "project 1×1 +residual"];
using one = new Jit({ threads: 1, tuneBudget: 0 });
using two = new Jit({ threads: 2, tuneBudget: 0 });
const jits = [one, two];

for (const block of values.blocks.split(";")) {
  const [c, e, hw] = block.split(",").map(Number);
  const positions = hw * hw;
  const x = random(c * positions), y = new Float32Array(c * positions);
  const expanded = new Float32Array(e * positions), filtered = new Float32Array(e * positions);
  const we = random(e * c), wd = random(e * 9), wp = random(c * e);
  const be = random(e), bd = random(e), bp = random(c);
  const packs: ConvWeights[][] = jits.map((j) => [
    j.packConvWeights(we, { outChannels: e, c, kernel: [1, 1] }),
    j.packConvWeights(wd, { outChannels: e, c: e, kernel: [3, 3], group: e }),
    j.packConvWeights(wp, { outChannels: c, c: e, kernel: [1, 1] }),
  ]);
  // Each step's options, made once (the timed calls allocate nothing).
  const plane = { n: 1, h: hw, w: hw };
  const expand = { ...plane, c, outChannels: e, kernel: [1, 1], bias: be, activation: clip };
  const depthwise = {
    ...plane,
    c: e,
    outChannels: e,
    kernel: [3, 3],
    group: e,
    pads: [1, 1, 1, 1],
    bias: bd,
    activation: clip,
  };
  const project = { ...plane, c: e, outChannels: c, kernel: [1, 1], bias: bp, residual: x };
  const step = (j: Jit, p: ConvWeights[], k: number) => {
    if (k === 0) j.conv2d(x, p[0], expanded, expand);
    else if (k === 1) j.conv2d(expanded, p[1], filtered, depthwise);
    else j.conv2d(filtered, p[2], y, project);
  };
  // times[jit][step]: µs per call, one median per round.
  const times = jits.map(() => STEPS.map((): number[] => []));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < jits.length; i++) {
      const j = jits[i], p = packs[i], spent = [0, 0, 0], reps = 100;
      j.holdWorkers(true);
      try {
        for (let r = 0; r < 20; r++) for (let k = 0; k < 3; k++) step(j, p, k);
        for (let r = 0; r < reps; r++) {
          for (let k = 0; k < 3; k++) {
            const t0 = performance.now();
            step(j, p, k);
            spent[k] += performance.now() - t0;
          }
        }
      } finally {
        j.holdWorkers(false);
      }
      for (let k = 0; k < 3; k++) times[i][k].push((spent[k] * 1000) / reps);
    }
  }
  console.log(`block ${c}→${e}→${c} on ${hw}², NCHW, ${rounds} rounds`);
  for (let k = 0; k < 3; k++) {
    const [t1, t2] = [median(times[0][k]), median(times[1][k])];
    console.log(
      `  ${STEPS[k].padEnd(22)} 1T ${t1.toFixed(1).padStart(7)} µs  2T ${
        t2.toFixed(1).padStart(7)
      } µs  2T÷1T ${(t2 / t1).toFixed(3)}`,
    );
  }
}
