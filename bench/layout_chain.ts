/**
 * MobileNetV2's convolutions after the stem (its 17 inverted-residual
 * blocks and the last 1×1, random weights packed once) as a chain of
 * `jit.conv2d` calls, each reading what the one before wrote, run in NCHW
 * and in NHWC in turn: the total of each pass (the median of the passes'
 * ratios too) and, with `--layers`, each call's median µs and its NHWC ÷
 * NCHW ratio. What a graph run in NHWC would gain or lose at this machine's
 * level, kernel by kernel (the model layer runs NCHW).
 *
 *   deno run -A bench/layout_chain.ts [--threads 1] [--rounds 60] [--layers]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Conv2dOptions, type ConvWeights, Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "60" },
    layers: { type: "boolean", default: false },
  },
});
using jit = new Jit({ threads: Number(values.threads), tuneBudget: 0 });
const random = (n: number) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * 0.2);
const clip = { op: "clip", min: 0, max: 6 } as const;

interface Step {
  o: Conv2dOptions;
  w: ConvWeights;
  /** Indices into the buffers: x, y, and the residual's. */
  x: number;
  y: number;
  residual?: number;
  name: string;
}
const steps: Step[] = [], sizes: number[] = [];
const buffer = (n: number) => sizes.push(n) - 1;
/** One convolution of the chain (pads k/2); returns its y's buffer and side. */
function conv(
  x: number,
  c: number,
  hw: number,
  oc: number,
  k: number,
  stride: number,
  group: number,
  act: boolean,
  residual?: number,
): [number, number] {
  const p = (k - 1) >> 1, ohw = Math.floor((hw + 2 * p - k) / stride) + 1;
  const y = buffer(oc * ohw * ohw);
  const o: Conv2dOptions = {
    n: 1,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [k, k],
    strides: [stride, stride],
    pads: [p, p, p, p],
    group,
    bias: random(oc),
    activation: act ? clip : undefined,
  };
  const w = jit.packConvWeights(random((oc * c / group) * k * k), o);
  const kind = group === c && group > 1 ? `dw ${k}×${k}/${stride}` : `${k}×${k}`;
  const name = `${kind} ${c}→${oc} on ${hw}²${residual === undefined ? "" : " +residual"}`;
  steps.push({ o, w, x, y, residual, name });
  return [y, ohw];
}

// MobileNetV2 1.0: (expansion, channels, blocks, first stride) after the 3×3/2 stem's 32 on 112².
const BLOCKS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [
  6,
  160,
  3,
  2,
], [6, 320, 1, 1]];
let c = 32, hw = 112, cur = buffer(32 * 112 * 112);
for (const [t, oc, n, s] of BLOCKS) {
  for (let i = 0; i < n; i++) {
    const stride = i === 0 ? s : 1, input = cur;
    let x = cur;
    if (t !== 1) [x] = conv(x, c, hw, c * t, 1, 1, 1, true);
    const [d, ohw] = conv(x, c * t, hw, c * t, 3, stride, c * t, true);
    [x] = conv(d, c * t, ohw, oc, 1, 1, 1, false, stride === 1 && c === oc ? input : undefined);
    cur = x, c = oc, hw = ohw;
  }
}
conv(cur, 320, 7, 1280, 1, 1, 1, true);

const LAYOUTS = ["nchw", "nhwc"] as const;
const memory = LAYOUTS.map(() => sizes.map(random));
const each = LAYOUTS.map(() => steps.map((): number[] => []));
const totals = LAYOUTS.map((): number[] => []);
for (let round = 0; round < Number(values.rounds); round++) {
  LAYOUTS.forEach((layout, l) => {
    const m = memory[l];
    const t0 = performance.now();
    steps.forEach((s, i) => {
      const t = performance.now();
      const residual = s.residual === undefined ? undefined : m[s.residual];
      jit.conv2d(m[s.x], s.w, m[s.y], { ...s.o, layout, residual });
      each[l][i].push(performance.now() - t);
    });
    totals[l].push(performance.now() - t0);
  });
}
const us = (a: number[]) => (median(a) * 1000).toFixed(1);
const ratios = totals[0].map((t, i) => totals[1][i] / t);
console.log(
  `${values.threads} thread(s), ${steps.length} convolutions: NCHW ${us(totals[0])} µs, NHWC ${
    us(totals[1])
  } µs a pass; NHWC ÷ NCHW ${median(ratios).toFixed(3)} (median of the passes' ratios)`,
);
if (values.layers) {
  steps.forEach((s, i) => {
    const r = median(each[1][i]) / median(each[0][i]);
    console.log(
      `${s.name.padEnd(32)} NCHW ${us(each[0][i])}  NHWC ${us(each[1][i])}  ×${r.toFixed(2)}`,
    );
  });
}
