/**
 * One convolution layer (packed weights, bias, optional activation and
 * residual) in NCHW and in NHWC on one Jit, the two calls taking turns:
 * each one's median µs, the NHWC ÷ NCHW ratio, and whether the NHWC call
 * gave the NCHW call's bits (transposed). With `--cold`, 16 MB are written
 * before each call (its operands out of L2).
 *
 *   deno run -A bench/layout_layer.ts 1,576,14,14,96,1,1 [--activation clip] [--residual] [--cold]
 *   # n,c,h,w,oc,kernel,stride[,group[,pad]]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Activation, Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    activation: { type: "string" },
    residual: { type: "boolean", default: false },
    cold: { type: "boolean", default: false },
    calls: { type: "string", default: "400" },
  },
});
const [n, c, h, w, oc, k, stride, group = 1, pad = 0] = (positionals[0] ?? "1,576,14,14,96,1,1")
  .split(",").map(Number);
const oh = Math.floor((h + 2 * pad - k) / stride) + 1,
  ow = Math.floor((w + 2 * pad - k) / stride) + 1;
const random = (length: number) => Float32Array.from({ length }, () => Math.random() - 0.5);
/** NCHW → NHWC. */
function toNhwc(a: Float32Array, channels: number, plane: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < channels; ch++) {
      for (let p = 0; p < plane; p++) {
        out[(i * plane + p) * channels + ch] = a[(i * channels + ch) * plane + p];
      }
    }
  }
  return out;
}
const x = random(n * c * h * w), residual = random(n * oc * oh * ow);
const activation: Activation | undefined = values.activation === "clip"
  ? { op: "clip", min: 0, max: 6 }
  : values.activation as Activation | undefined;
using jit = new Jit({ threads: 1, tuneBudget: 0 });
const base = {
  n,
  c,
  h,
  w,
  outChannels: oc,
  kernel: [k, k],
  strides: [stride, stride],
  pads: [pad, pad, pad, pad],
  group,
  bias: random(oc),
  activation,
};
const weights = jit.packConvWeights(random((oc * c / group) * k * k), base);
const y = new Float32Array(residual.length), yh = new Float32Array(residual.length);
const xh = toNhwc(x, c, h * w), rh = toNhwc(residual, oc, oh * ow);
const nchw = () =>
  jit.conv2d(x, weights, y, { ...base, residual: values.residual ? residual : undefined });
const nhwc = () =>
  jit.conv2d(xh, weights, yh, {
    ...base,
    residual: values.residual ? rh : undefined,
    layout: "nhwc",
  });
nchw(), nhwc();
const want = toNhwc(y, oc, oh * ow);
const same = want.every((v, i) => Object.is(v, yh[i]));
const flush = new Float32Array(4 << 20);
const times: [number[], number[]] = [[], []];
for (let i = 0; i < Number(values.calls); i++) {
  [nchw, nhwc].forEach((call, j) => {
    if (values.cold) flush.fill(i);
    const t0 = performance.now();
    call();
    times[j].push(performance.now() - t0);
  });
}
const [a, b] = times.map((t) => median(t) * 1000);
const plan = jit.stats().keys.find((key) => key.key.endsWith("nhwc"))?.plan ??
  "transposed around NCHW";
console.log(
  `${positionals[0] ?? "1,576,14,14,96,1,1"}: NCHW ${a.toFixed(1)} µs, NHWC ${b.toFixed(1)} µs, ` +
    `NHWC ÷ NCHW ${(b / a).toFixed(3)}; ${same ? "the same bits" : "BITS DIFFER"}; NHWC: ${plan}`,
);
