/**
 * MobileNetV2's expanding 1×1 (+ clip) into its 3×3 depthwise (+ clip), NCHW,
 * run whole (the 1×1's output written in full, then read back by the
 * depthwise) against run by groups of output channels: the 1×1's next `G`
 * channels into a scratch of `G` planes, then the depthwise of those
 * channels from it while it is still in L2, group after group. A depthwise
 * channel reads only its own plane, so the groups give the same bits as
 * the whole pair (checked). Where the whole pair's intermediate passes L2
 * (16→96 on 112²: 4.8 MB written and read back), the groups keep it in
 * cache; where it fits (24→144 on 56², 1.8 MB) they should not matter.
 * Nothing in the graph runs pairs this way yet: this measures what a fusion
 * that did would gain.
 *
 *   deno run -A bench/channel_chain.ts [--pairs 16,96,112,2;24,144,56,1] [--group 16] [--rounds 30] [--threads 1]
 *
 * Each pair `c,e,hw,s`: c input channels expanded to e on hw × hw, then the
 * depthwise of stride s (pads 1).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type ConvWeights, Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    pairs: { type: "string", default: "16,96,112,2;24,144,56,1" },
    group: { type: "string", default: "16" },
    rounds: { type: "string", default: "30" },
    threads: { type: "string", default: "1" },
  },
});
const G = Number(values.group), rounds = Number(values.rounds);
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const clip = { op: "clip", min: 0, max: 6 } as const;
using jit = new Jit({ threads: Number(values.threads), tuneBudget: 0 });
console.log(`${jit.threads} thread(s), groups of ${G} channels; median µs of a pair`);

for (const pair of values.pairs.split(";")) {
  const [c, e, hw, s] = pair.split(",").map(Number);
  if (e % G !== 0) throw new RangeError(`--group ${G} does not divide ${e} channels`);
  const positions = hw * hw, oh = Math.floor((hw + 2 - 3) / s) + 1, outPositions = oh * oh;
  const x = random(c * positions), mid = new Float32Array(e * positions);
  const whole = new Float32Array(e * outPositions), grouped = new Float32Array(e * outPositions);
  const scratch = new Float32Array(G * positions);
  const we = random(e * c), wd = random(e * 9), be = random(e), bd = random(e);
  const expandOf = (oc: number, bias: Float32Array) => ({
    n: 1,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [1, 1],
    bias,
    activation: clip,
  });
  const depthwiseOf = (ch: number, bias: Float32Array) => ({
    n: 1,
    c: ch,
    h: hw,
    w: hw,
    outChannels: ch,
    kernel: [3, 3],
    group: ch,
    strides: [s, s],
    pads: [1, 1, 1, 1],
    bias,
    activation: clip,
  });
  const pe = jit.packConvWeights(we, { outChannels: e, c, kernel: [1, 1] });
  const pd = jit.packConvWeights(wd, { outChannels: e, c: e, kernel: [3, 3], group: e });
  const wholeExpand = expandOf(e, be), wholeDepthwise = depthwiseOf(e, bd);
  // Each group's packed weights, options and output view, made once (the calls allocate nothing).
  const groups: [
    ConvWeights,
    ReturnType<typeof expandOf>,
    ConvWeights,
    ReturnType<typeof depthwiseOf>,
    Float32Array,
  ][] = [];
  for (let g = 0; g < e; g += G) {
    groups.push([
      jit.packConvWeights(we.subarray(g * c, (g + G) * c), { outChannels: G, c, kernel: [1, 1] }),
      expandOf(G, be.subarray(g, g + G)),
      jit.packConvWeights(wd.subarray(g * 9, (g + G) * 9), {
        outChannels: G,
        c: G,
        kernel: [3, 3],
        group: G,
      }),
      depthwiseOf(G, bd.subarray(g, g + G)),
      grouped.subarray(g * outPositions, (g + G) * outPositions),
    ]);
  }
  const runWhole = () => {
    jit.conv2d(x, pe, mid, wholeExpand);
    jit.conv2d(mid, pd, whole, wholeDepthwise);
  };
  const runGroups = () => {
    for (const [wg, eo, dg, dop, y] of groups) {
      jit.conv2d(x, wg, scratch, eo);
      jit.conv2d(scratch, dg, y, dop);
    }
  };
  const times: number[][] = [[], []], reps = 5;
  for (let r = 0; r < rounds; r++) {
    // Alternating, the order swapped every round.
    const order: [number, () => void][] = r % 2
      ? [[0, runWhole], [1, runGroups]]
      : [[1, runGroups], [0, runWhole]];
    for (const [i, f] of order) {
      f();
      const t0 = performance.now();
      for (let k = 0; k < reps; k++) f();
      times[i].push(((performance.now() - t0) * 1000) / reps);
    }
  }
  let differ = 0;
  for (let i = 0; i < whole.length; i++) if (!Object.is(whole[i], grouped[i])) differ++;
  const [a, b] = [median(times[0]), median(times[1])];
  console.log(
    `${c}→${e} on ${hw}², depthwise /${s}`.padEnd(30) +
      `whole ${a.toFixed(0).padStart(6)}  groups ${b.toFixed(0).padStart(6)}  ×${
        (b / a).toFixed(3)
      }  ` +
      (differ === 0 ? "same bits" : `${differ} outputs differ`),
  );
}
