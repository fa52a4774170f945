/**
 * Two convolutions in a chain run whole (the first's output written in full,
 * then read back by the second) against run band by band (the first's rows
 * for a band of the second's, then that band, while those rows are still in
 * L2), both through `jit.conv2d` on NHWC tensors, where a band of rows is a
 * contiguous sub-tensor. The chains are MobileNetV2's expanding 1×1 (+ clip) into its
 * depthwise 3×3 (+ clip): 16→96 on 112² into the stride-2 depthwise, whose
 * 4.8 MB of expanded rows pass L2 whole, and 24→144 on 56² into the stride-1
 * one. Both ways give the same bits (checked). Beside them the same pair
 * whole on NCHW tensors (the layout our models run): there bands lost
 * (branch tried/conv-rows-banded), and the NHWC whole against the NCHW
 * whole is what the NHWC kernels still cost.
 *
 *   deno run -A bench/banded_chain.ts [--threads 1] [--rows 8] [--rounds 30]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    rows: { type: "string", default: "8" },
    rounds: { type: "string", default: "30" },
  },
});
const threads = Number(values.threads), bandRows = Number(values.rows);
using jit = new Jit({ threads, tuneBudget: 0 });
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const clip = { op: "clip", min: 0, max: 6 } as const;

/** An expanding 1×1 (c → e on h×w) into a 3×3 depthwise of stride `s` (pads 1), NHWC. */
function chain(c: number, e: number, h: number, w: number, s: number) {
  const oh = Math.floor((h + 2 - 3) / s) + 1, ow = Math.floor((w + 2 - 3) / s) + 1;
  if (oh % bandRows !== 0) throw new RangeError(`--rows ${bandRows} does not divide ${oh}`);
  const x = random(h * w * c), mid = new Float32Array(h * w * e);
  const whole = new Float32Array(oh * ow * e), banded = new Float32Array(oh * ow * e);
  const we = jit.packConvWeights(random(e * c), { outChannels: e, c, kernel: [1, 1] });
  const wd = jit.packConvWeights(random(e * 9), { outChannels: e, c: e, kernel: [3, 3], group: e });
  const be = random(e), bd = random(e);
  const expand = (rows: number) => ({
    n: 1,
    c,
    h: rows,
    w,
    outChannels: e,
    kernel: [1, 1],
    bias: be,
    activation: clip,
    layout: "nhwc" as const,
  });
  const depthwise = (rows: number, top: number, bottom: number) => ({
    n: 1,
    c: e,
    h: rows,
    w,
    outChannels: e,
    kernel: [3, 3],
    strides: [s, s],
    pads: [top, 1, bottom, 1],
    group: e,
    bias: bd,
    activation: clip,
    layout: "nhwc" as const,
  });
  const xRow = w * c, midRow = w * e, yRow = ow * e;
  const runWhole = () => {
    jit.conv2d(x, we, mid, expand(h));
    jit.conv2d(mid, wd, whole, depthwise(h, 1, 1));
  };
  // The same pair on NCHW tensors (x's values in another order: the time is what is compared).
  const nchwMid = new Float32Array(h * w * e), nchwY = new Float32Array(oh * ow * e);
  const runNchw = () => {
    jit.conv2d(x, we, nchwMid, { ...expand(h), layout: "nchw" });
    jit.conv2d(nchwMid, wd, nchwY, { ...depthwise(h, 1, 1), layout: "nchw" });
  };
  const runBanded = () => {
    let done = 0; // rows of mid computed
    for (let o0 = 0; o0 < oh; o0 += bandRows) {
      const o1 = o0 + bandRows;
      // The depthwise band reads mid's rows [o0·s − 1, (o1 − 1)·s + 1], clipped to the image.
      const first = Math.max(0, o0 * s - 1), last = Math.min(h - 1, (o1 - 1) * s + 1);
      const upTo = o1 === oh ? h : last + 1;
      if (upTo > done) {
        const sub = expand(upTo - done);
        jit.conv2d(
          x.subarray(done * xRow, upTo * xRow),
          we,
          mid.subarray(done * midRow, upTo * midRow),
          sub,
        );
        done = upTo;
      }
      const top = o0 * s - 1 < 0 ? 1 : 0, bottom = (o1 - 1) * s + 1 > h - 1 ? 1 : 0;
      jit.conv2d(
        mid.subarray(first * midRow, (last + 1) * midRow),
        wd,
        banded.subarray(o0 * yRow, o1 * yRow),
        depthwise(last + 1 - first, top, bottom),
      );
    }
  };
  return {
    name: `${c}→${e} on ${h}², depthwise /${s}`,
    runWhole,
    runBanded,
    runNchw,
    whole,
    banded,
  };
}

const chains = [chain(16, 96, 112, 112, 2), chain(24, 144, 56, 56, 1)];
console.log(`${threads} thread(s), bands of ${bandRows} output rows; median µs of a chain`);
for (const c of chains) {
  for (let i = 0; i < 10; i++) {
    c.runWhole();
    c.runBanded();
    c.runNchw();
  }
  const same = c.whole.every((v, i) => Object.is(v, c.banded[i]));
  const times: number[][] = [[], [], []];
  for (let r = 0; r < Number(values.rounds); r++) {
    [c.runWhole, c.runBanded, c.runNchw].forEach((f, i) => {
      const t0 = performance.now();
      for (let j = 0; j < 5; j++) f();
      times[i].push(((performance.now() - t0) / 5) * 1e3);
    });
  }
  const [whole, banded, nchw] = times.map(median);
  console.log(
    `${c.name.padEnd(30)} NHWC whole ${whole.toFixed(0).padStart(6)}  banded ${
      banded.toFixed(0).padStart(6)
    }  ×${(banded / whole).toFixed(3)}  ${same ? "same bits" : "BITS DIFFER"}   NCHW whole ${
      nchw.toFixed(0).padStart(6)
    }`,
  );
}
