/**
 * One key's tier-2 tuning, shown: its candidates, each one's median time
 * over the interleaved rounds the tuner measured on the key's own calls,
 * the winner and its gain over tier 1 (the figures the tuner decided on),
 * and every call's output checked against the first call's bits.
 *
 *   deno run -A bench/tune_candidates.ts --gemm 128x1024x1024 [--transB] [--isa avx2] [--threads 2]
 *   deno run -A bench/tune_candidates.ts --gemm 128x768x3072 --panels --cold   # B as a model holds it
 *   deno run -A bench/tune_candidates.ts --gemm 128x3072x768 --panels --activation gelu   # + its epilogue
 *   deno run -A bench/tune_candidates.ts --gemm 128x768x768 --panels --rotate 24   # B from 24 packed copies
 *   deno run -A bench/tune_candidates.ts --conv 1,512,13,13,1000,1,1   # n,c,h,w,oc,kernel,stride[,group]
 *   deno run -A bench/tune_candidates.ts --conv 1,64,56,56,64,3,1 --packed   # weights packed once
 *   deno run -A bench/tune_candidates.ts --conv 1,64,56,56,64,3,1 --packed --residual   # + a shortcut
 *   deno run -A bench/tune_candidates.ts --conv 1,576,14,14,576,3,1,576 --packed --activation clip   # ReLU6
 *   deno run -A bench/tune_candidates.ts --conv 1,64,80,80,64,2,2 --packed --transposed   # ConvTranspose, no pads
 *   ... --cold   # 16 MB written between calls: the call's data out of L2, as a model's layer finds it
 *   ... --cold --cold-mb 128   # more written: out of L3 too (Zen 5's is 32 MB a CCD)
 *   deno run -A bench/tune_candidates.ts --conv 1,144,56,56,24,1,1 --packed --rotate 24   # x and y from 24 copies
 *   deno run -A bench/tune_candidates.ts --norm 128x768   # layerNorm rows×cols, scale and bias (--rms: rmsNorm, scale)
 *   deno run -A bench/tune_candidates.ts --softmax 1024x1024
 *   deno run -A bench/tune_candidates.ts --unary relu,67108864   # op,n (y past L3: non-temporal stores or not)
 *   deno run -A bench/tune_candidates.ts --int8 128x768x3072   # gemmInt8 (float C, scale and bias: a quantized Linear)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Activation, type IsaLevel, Jit, measurePeak, type UnaryOp } from "../mod.ts";

const { values } = parseArgs({
  options: {
    gemm: { type: "string" },
    int8: { type: "string" },
    conv: { type: "string" },
    norm: { type: "string" },
    rms: { type: "boolean" },
    softmax: { type: "string" },
    unary: { type: "string" },
    transB: { type: "boolean", default: false },
    packed: { type: "boolean", default: false },
    panels: { type: "boolean", default: false },
    residual: { type: "boolean", default: false },
    cold: { type: "boolean", default: false },
    "cold-mb": { type: "string", default: "16" },
    rotate: { type: "string", default: "1" },
    nhwc: { type: "boolean", default: false },
    transposed: { type: "boolean", default: false },
    isa: { type: "string" },
    threads: { type: "string", default: "1" },
    activation: { type: "string" },
  },
});
const threads = Number(values.threads);
const isa = values.isa as IsaLevel | undefined;
using jit = new Jit({ threads, maxIsa: isa });
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
let call: () => void, out: Float32Array, flops: number, ops = 0;
if (values.gemm) {
  const [m, n, k] = values.gemm.split("x").map(Number);
  const a = rand(m * k), b = rand(k * n), c = new Float32Array(m * n);
  // --panels: B packed once in column panels with a bias, as a model's Linear layer holds it
  // (a packed B is op(B): the call takes no transB).
  const o = values.panels ? { m, n, k, bias: rand(n) } : { m, n, k, transB: values.transB };
  // --activation gelu|relu|…: the epilogue a model's Linear + activation fuses into the call.
  const act = values.activation as Activation | undefined;
  if (act !== undefined) Object.assign(o, { activation: act });
  const pack = () => jit.packB(b, { k, n, transB: values.transB, layout: "panels" });
  // --rotate N with --panels: N packed copies of B taken in turn, as a model's layers stream
  // their weights (beyond L3 where N copies outgrow it) while A and C stay where the last call
  // left them. Every copy gives the same bits.
  const bps = values.panels
    ? Array.from({ length: Math.max(1, Number(values.rotate)) }, pack)
    : [b];
  let next = 0;
  call = () => {
    jit.gemm(a, bps[next], c, o);
    next = (next + 1) % bps.length;
  };
  out = c;
  flops = 2 * m * n * k;
} else if (values.int8) {
  // A dynamically quantized Linear's call: u8 A with its zero point, int8 B packed once,
  // float C scaled per column with a bias.
  const [m, n, k] = values.int8.split("x").map(Number);
  const a = Uint8Array.from({ length: m * k }, () => Math.floor(Math.random() * 256));
  const b = Int8Array.from({ length: k * n }, () => Math.floor(Math.random() * 256) - 128);
  const c = new Float32Array(m * n), pb = jit.packInt8B(b, { k, n });
  const o = { m, n, k, aZeroPoint: Uint8Array.of(113), scale: rand(n), floatBias: rand(n) };
  call = () => jit.gemmInt8(a, pb, c, o);
  out = c;
  flops = 0; // integer multiply-adds: GOPS below, not % of the FMA peak
  ops = 2 * m * n * k;
} else if (values.conv && values.transposed) {
  // --transposed: ONNX ConvTranspose (no pads), w is c × oc/group × k × k.
  const [n, c, h, w, oc, k, s, group = 1] = values.conv.split(",").map(Number);
  const oh = s * (h - 1) + k, ow = s * (w - 1) + k;
  const x = rand(n * c * h * w), wt = rand(c * (oc / group) * k * k);
  const y = new Float32Array(n * oc * oh * ow);
  const o = {
    n,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [k, k],
    strides: [s, s],
    group,
    bias: rand(oc),
    activation: "relu" as const,
  };
  const wp = values.packed
    ? jit.packConvWeights(wt, { outChannels: oc, c, kernel: [k, k], group, transposed: true })
    : wt;
  call = () => jit.convTranspose2d(x, wp, y, o);
  out = y;
  flops = 2 * n * c * h * w * (oc / group) * k * k;
} else if (values.conv) {
  const [n, c, h, w, oc, kh, s, group = 1] = values.conv.split(",").map(Number);
  const p = (kh - 1) >> 1;
  const oh = Math.floor((h + 2 * p - kh) / s) + 1, ow = Math.floor((w + 2 * p - kh) / s) + 1;
  const x = rand(n * c * h * w),
    wt = rand(oc * (c / group) * kh * kh),
    y = new Float32Array(n * oc * oh * ow);
  const o = {
    n,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [kh, kh],
    strides: [s, s],
    pads: [p, p, p, p],
    group,
    bias: rand(oc),
    // --activation clip: MobileNet's ReLU6 (clip to [0, 6]); else ReLU.
    activation: values.activation === "clip"
      ? { op: "clip" as const, min: 0, max: 6 }
      : ("relu" as const),
    // --residual: a ResNet block's second convolution, its shortcut added before the ReLU.
    ...(values.residual ? { residual: rand(n * oc * oh * ow) } : {}),
    // --nhwc: x, y and the residual in NHWC (the channel-vector kernel's own layout).
    ...(values.nhwc ? { layout: "nhwc" as const } : {}),
  };
  // --packed: weights packed once, as a model holds them (the channel-vector kernel's layout).
  const wp = values.packed
    ? jit.packConvWeights(wt, { outChannels: oc, c, kernel: [kh, kh], group })
    : wt;
  // --rotate N: N copies of x and y taken in turn, so a call finds its x and y where N sets of
  // them leave it (beyond L2; beyond L3 where N sets outgrow it). Every copy gives the same bits.
  const sets = Math.max(1, Number(values.rotate));
  const xs = [x, ...Array.from({ length: sets - 1 }, () => x.slice())];
  const ys = [y, ...Array.from({ length: sets - 1 }, () => y.slice())];
  let next = 0;
  call = () => {
    out = ys[next];
    jit.conv2d(xs[next], wp, out, o);
    next = (next + 1) % sets;
  };
  out = y;
  flops = 2 * n * oc * oh * ow * (c / group) * kh * kh;
} else if (values.norm) {
  const [rows, cols] = values.norm.split("x").map(Number);
  const x = rand(rows * cols), y = new Float32Array(rows * cols);
  const o = { rows, cols, scale: rand(cols) }, bias = rand(cols);
  call = values.rms ? () => jit.rmsNorm(x, y, o) : () => jit.layerNorm(x, y, { ...o, bias });
  out = y;
  flops = 0; // bandwidth-bound: no % of the FMA peak
} else if (values.softmax) {
  const [rows, cols] = values.softmax.split("x").map(Number);
  const x = rand(rows * cols), y = new Float32Array(rows * cols);
  call = () => jit.softmax(x, y, { rows, cols });
  out = y;
  flops = 0;
} else if (values.unary) {
  const [op, n] = values.unary.split(",");
  const x = rand(Number(n)), y = new Float32Array(Number(n));
  call = () => jit.unary(op as UnaryOp, x, y);
  out = y;
  flops = 0;
} else {
  console.error(
    "usage: --gemm MxNxK [--transB] [--panels] | --int8 MxNxK | --conv n,c,h,w,oc,kernel,stride [--packed] [--residual] [--nhwc] [--transposed] | --norm RxC [--rms] | --softmax RxC | --unary op,n; [--isa] [--threads] [--cold]",
  );
  Deno.exit(2);
}
const flush = new Float32Array(values.cold ? Number(values["cold-mb"]) << 18 : 0);
const run = call;
// --cold: the data leaves L2 between calls (each call timed by the tuner from its own entry).
if (values.cold) {
  call = () => {
    run();
    for (let i = 0; i < flush.length; i += 16) flush[i] += 1;
  };
}
call();
const first = out.slice();
jit.warmup(true);
// The workers held awake between calls, as a session holds them for its runs: the check of
// each output below is JavaScript long enough for them to fall asleep, and every timed split
// call then waited on a late worker (128×3072×768 in panels on 2 threads read 73-77% of the
// peak that way).
jit.holdWorkers(true);
let calls = 0;
for (; calls < 2000 && (calls < 2 || jit.tuningPending > 0); calls++) {
  call();
  for (let i = 0; i < out.length; i++) {
    if (!Object.is(out[i], first[i])) throw new Error(`call ${calls}: element ${i} changed`);
  }
}
jit.holdWorkers(false);
jit.warmup(false);
const key = jit.stats().keys[0];
const t = key.tuning;
const peak = measurePeak(20, threads);
const peakGflops = jit.isa === "avx2" ? (peak.fma.ymm ?? peak.peakGflops) : peak.peakGflops;
console.log(
  `${key.key}\n${jit.isa}, ${threads} thread(s), FMA peak ${peakGflops.toFixed(0)} GFLOPS`,
);
if (t === null) {
  console.log("no candidates: tier 1 is the key's only plan");
  Deno.exit(0);
}
console.log(
  "    candidate                                                             parts  median µs  % peak  samples",
);
t.candidates.forEach((c, i) => {
  const pct = c.medianUs && flops
    ? (100 * flops / (c.medianUs * 1e3) / peakGflops).toFixed(1)
    : c.medianUs && ops
    ? `${(ops / (c.medianUs * 1e3)).toFixed(0)} GOPS`
    : "-";
  console.log(
    `${i === t.winner ? "*" : " "} ${String(i).padStart(2)} ${(i === 0 ? "tier 1: " : "") + c.plan}`
      .padEnd(76) +
      `${String(c.parts).padStart(5)} ${
        (c.medianUs?.toFixed(1) ?? c.failure ?? (c.sameAs !== null ? `= ${c.sameAs}` : "-"))
          .padStart(10)
      } ${pct.padStart(7)} ${String(c.samples).padStart(8)}`,
  );
});
// The rounds' best met tier 1 again on fresh calls: those medians decided, and give the gain.
if (t.duel !== null) {
  const d = t.duel;
  console.log(
    `head to head, ${d.calls} calls: tier 1 ${d.tier1Us.toFixed(1)} µs, candidate ${d.rival} ${
      d.rivalUs.toFixed(1)
    } µs`,
  );
}
console.log(
  `${t.state}: ${t.winner === 0 ? "tier 1 kept" : `candidate ${t.winner}`}, ×${
    t.gain?.toFixed(3)
  } over tier 1; ${calls} warm-up calls, all bit-identical to the first; tuning spent ${
    (t.spentUs / 1000).toFixed(1)
  } ms`,
);
