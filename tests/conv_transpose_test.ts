import assert from "node:assert/strict";
import { type ConvTranspose2dOptions, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { tuneCheckingBits } from "./helpers/conv.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
/** The levels with a kernel by output phases (AVX2: its columns tile, for 2×2/2-like layers). */
const PHASE_LEVELS = LEVELS.filter((l) => l === "avx512" || l === "avx2") as ("avx512" | "avx2")[];

interface Case {
  o: ConvTranspose2dOptions & { kernel: number[]; strides: number[]; pads: number[] };
  oh: number;
  ow: number;
}

/** A random configuration and its output size by ONNX's formula. */
function randomCase(r: () => number): Case {
  for (;;) {
    const g = pick(r, [1, 1, 2, 3]);
    const kh = int(r, 1, 5), kw = pick(r, [kh, int(r, 1, 5)]);
    const strides = [int(r, 1, 3), int(r, 1, 3)], dilations = [int(r, 1, 2), int(r, 1, 2)];
    const outputPadding = [0, 1].map((i) => int(r, 0, Math.max(strides[i], dilations[i]) - 1));
    const o = {
      n: pick(r, [1, 2]),
      c: g * int(r, 1, 4),
      h: int(r, 1, 12),
      w: pick(r, [int(r, 1, 20), 8, 17]),
      outChannels: g * int(r, 1, 5),
      kernel: [kh, kw],
      strides,
      pads: [int(r, 0, kh), int(r, 0, kw), int(r, 0, kh), int(r, 0, kw)],
      dilations,
      outputPadding,
      group: g,
    };
    const oh = strides[0] * (o.h - 1) + outputPadding[0] + (kh - 1) * dilations[0] + 1 - o.pads[0] -
      o.pads[2];
    const ow = strides[1] * (o.w - 1) + outputPadding[1] + (kw - 1) * dilations[1] + 1 - o.pads[1] -
      o.pads[3];
    if (oh >= 1 && ow >= 1) return { o, oh, ow };
  }
}

/** ONNX ConvTranspose by its definition: every input element scattered through the kernel (f64). */
function scatter(c: Case, x: Float32Array, w: Float32Array, bias?: Float32Array): Float64Array {
  const { o, oh, ow } = c;
  const [kh, kw] = o.kernel, [sh, sw] = o.strides, [dh, dw] = o.dilations ?? [1, 1];
  const g = o.group ?? 1, cg = o.c / g, ocg = o.outChannels / g;
  const y = new Float64Array(o.n * o.outChannels * oh * ow);
  for (let n = 0; n < o.n; n++) {
    for (let oc = 0; oc < o.outChannels; oc++) {
      for (let i = 0; i < oh * ow; i++) y[(n * o.outChannels + oc) * oh * ow + i] = bias?.[oc] ?? 0;
    }
    for (let ic = 0; ic < o.c; ic++) {
      const grp = Math.floor(ic / cg);
      for (let ih = 0; ih < o.h; ih++) {
        for (let iw = 0; iw < o.w; iw++) {
          const v = x[((n * o.c + ic) * o.h + ih) * o.w + iw];
          for (let m = 0; m < ocg; m++) {
            const oc = grp * ocg + m;
            for (let a = 0; a < kh; a++) {
              const y0 = ih * sh + a * dh - o.pads[0];
              if (y0 < 0 || y0 >= oh) continue;
              for (let b = 0; b < kw; b++) {
                const x0 = iw * sw + b * dw - o.pads[1];
                if (x0 < 0 || x0 >= ow) continue;
                y[((n * o.outChannels + oc) * oh + y0) * ow + x0] += v *
                  w[((ic * ocg + m) * kh + a) * kw + b];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

for (const isa of LEVELS) {
  Deno.test(`convTranspose2d ${isa}: seeded configurations equal ONNX's scatter definition (small integers: exactly)`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 3100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 60; t++) {
      const c = randomCase(r);
      const { o, oh, ow } = c;
      const x = new Float32Array(o.n * o.c * o.h * o.w).map(() => int(r, -3, 3));
      const w = new Float32Array(o.c * (o.outChannels / (o.group ?? 1)) * o.kernel[0] * o.kernel[1])
        .map(() => int(r, -2, 2));
      const bias = r() < 0.5 ? new Float32Array(o.outChannels).map(() => int(r, -4, 4)) : undefined;
      const y = new Float32Array(o.n * o.outChannels * oh * ow).fill(NaN);
      jit.convTranspose2d(x, w, y, { ...o, bias });
      const want = scatter(c, x, w, bias);
      for (let i = 0; i < y.length; i++) {
        if (y[i] !== want[i]) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${JSON.stringify(o)}: y[${i}] = ${y[i]}, definition ${
              want[i]
            }`,
          );
        }
      }
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });
}

Deno.test("convTranspose2d: autoPad SAME gives input·stride outputs; threads bit-identical; bad input", () => {
  const r = rng(3200);
  using one = new Jit({ threads: 1 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const o = { n: 1, c: 3, h: 5, w: 7, outChannels: 4, kernel: [3, 3], strides: [2, 2] };
  const x = new Float32Array(105).map(() => r() - 0.5),
    w = new Float32Array(108).map(() => r() - 0.5);
  for (const autoPad of ["SAME_UPPER", "SAME_LOWER"] as const) {
    const y = new Float32Array(4 * 10 * 14), z = new Float32Array(y.length);
    one.convTranspose2d(x, w, y, { ...o, autoPad });
    three.convTranspose2d(x, w, z, { ...o, autoPad, activation: "relu" });
    // SAME_UPPER pads [0, 0, 1, 1] of the full 11×15 output; SAME_LOWER [1, 1, 0, 0].
    const pads = autoPad === "SAME_UPPER" ? [0, 0, 1, 1] : [1, 1, 0, 0];
    const want = scatter({ o: { ...o, pads }, oh: 10, ow: 14 }, x, w);
    for (let i = 0; i < y.length; i++) {
      assert.ok(Math.abs(y[i] - want[i]) < 1e-5, `${autoPad} [${i}] ${y[i]} vs ${want[i]}`);
      assert.equal(z[i], Math.max(0, y[i]), `${autoPad} 3 threads + relu [${i}]`);
    }
  }
  for (let t = 0; t < 20; t++) {
    const c = randomCase(r);
    const { o, oh, ow } = c;
    const xs = new Float32Array(o.n * o.c * o.h * o.w).map(() => r() - 0.5);
    const ws = new Float32Array(o.c * (o.outChannels / (o.group ?? 1)) * o.kernel[0] * o.kernel[1])
      .map(() => r() - 0.5);
    const a = new Float32Array(o.n * o.outChannels * oh * ow), b = a.slice();
    one.convTranspose2d(xs, ws, a, o);
    three.convTranspose2d(xs, ws, b, o);
    assert.deepEqual(b, a, JSON.stringify(o));
  }
  const y = new Float32Array(4 * 11 * 15);
  one.convTranspose2d(x, w, y, o);
  const bad: [unknown, RegExp][] = [
    [
      { ...o, outputPadding: [2, 0] },
      /outputPadding\[0\]=2 must be smaller than the stride or the dilation/,
    ],
    [{ ...o, group: 2 }, /group=2 must divide c=3 and outChannels=4/],
    [
      { ...o, outChannels: 5 },
      /w has 108 elements but c×outChannels\/group×kh×kw = 3×5×3×3 needs 135/,
    ],
    [{ ...o, pads: [6, 0, 6, 0] }, /leave an empty output/],
    [{ ...o, autoPad: "VALID", pads: [0, 0, 0, 0] }, /pads cannot be given with autoPad/],
  ];
  for (const [opts, message] of bad) {
    assert.throws(() => one.convTranspose2d(x, w, y, opts as never), (e: Error) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, /^convTranspose2d: /);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test({
  name:
    "convTranspose2d avx512: by output phases (weights packed, or plain and repacked per call) equals the scatter definition; plain, packed and 3 threads the same bits",
  ignore: !LEVELS.includes("avx512"),
  fn: () => {
    const seed = 3300, r = rng(seed);
    using jit = new Jit({ maxIsa: "avx512", threads: 1 });
    using three = new Jit({ maxIsa: "avx512", threads: 3, minPartUs: 0 });
    let phases = 0;
    for (let t = 0; t < 70; t++) {
      // Stride 2 across (the kernel's case), one group; then wide channel counts.
      const base = randomCase(r);
      const o0 = { ...base.o, group: 1, strides: [base.o.strides[0], 2] };
      o0.outputPadding = [
        Math.min(o0.outputPadding![0], Math.max(o0.strides[0], o0.dilations![0]) - 1),
        Math.min(o0.outputPadding![1], Math.max(2, o0.dilations![1]) - 1),
      ];
      if (t >= 60) Object.assign(o0, { c: int(r, 20, 40), outChannels: int(r, 17, 50) });
      const [kh, kw] = o0.kernel, [sh, sw] = o0.strides, [dh, dw] = o0.dilations!;
      const oh = sh * (o0.h - 1) + o0.outputPadding[0] + (kh - 1) * dh + 1 - o0.pads[0] -
        o0.pads[2];
      const ow = sw * (o0.w - 1) + o0.outputPadding[1] + (kw - 1) * dw + 1 - o0.pads[1] -
        o0.pads[3];
      if (oh < 1 || ow < 1) continue;
      const c = { o: o0, oh, ow };
      const x = new Float32Array(o0.n * o0.c * o0.h * o0.w).map(() => int(r, -3, 3));
      const w = new Float32Array(o0.c * o0.outChannels * kh * kw).map(() => int(r, -2, 2));
      const bias = new Float32Array(o0.outChannels).map(() => int(r, -4, 4));
      const packed = jit.packConvWeights(w, {
        outChannels: o0.outChannels,
        c: o0.c,
        kernel: o0.kernel,
        transposed: true,
      });
      const y = new Float32Array(o0.n * o0.outChannels * oh * ow).fill(NaN);
      jit.convTranspose2d(x, packed, y, { ...o0, bias });
      const want = scatter(c, x, w, bias);
      for (let i = 0; i < y.length; i++) {
        if (y[i] !== want[i]) {
          assert.fail(
            `seed ${seed} case ${t} ${JSON.stringify(o0)}: y[${i}] = ${y[i]}, definition ${
              want[i]
            }`,
          );
        }
      }
      // Floats, with a residual and an activation: plain weights (repacked by the call) and
      // packed ones, 1 and 3 threads. The upsampled kernel's bits: the next test's candidates.
      const xf = x.map(() => r() - 0.5), wf = w.map(() => r() - 0.5);
      const residual = new Float32Array(y.length).map(() => r() - 0.5);
      const opts = { ...o0, bias, residual, activation: "gelu" as const };
      const plain = new Float32Array(y.length), byPhases = plain.slice(), split = plain.slice();
      jit.convTranspose2d(xf, wf, plain, opts);
      const pf = (j: Jit) =>
        j.packConvWeights(wf, {
          outChannels: o0.outChannels,
          c: o0.c,
          kernel: o0.kernel,
          transposed: true,
        });
      jit.convTranspose2d(xf, pf(jit), byPhases, opts);
      three.convTranspose2d(xf, pf(three), split, opts);
      assert.deepEqual(byPhases, plain, `floats, case ${t} ${JSON.stringify(o0)}`);
      assert.deepEqual(split, plain, `3 threads, case ${t} ${JSON.stringify(o0)}`);
    }
    for (const k of jit.stats().keys) if (k.plan!.includes("output phases")) phases++;
    assert.ok(phases >= 30, `only ${phases} calls went by output phases`);
  },
});

/**
 * Layers for both tiles of the kernel by output phases (channels or
 * positions along the lanes): rows that fill the position vectors and rows
 * that do not, taps left and right of a position (x read through masks at
 * the row's ends, more masks than opmask registers), partial blocks of
 * channels, rows whose taps fall outside x, output channels in passes
 * over the rows (weights past half of L2: 520 input channels, 4×4).
 */
/**
 * ConvTranspose (one group) as `jit.conv2d` of x with stride − 1 zeros between its elements,
 * the kernel flipped, pads (k − 1)·d − p (+ the output padding after): the upsampled kernel's
 * sums, in its order.
 */
function upsampledConv(
  jit: Jit,
  x: Float32Array,
  w: Float32Array,
  o: ConvTranspose2dOptions & {
    kernel: readonly number[];
    bias?: Float32Array;
    residual?: Float32Array;
    activation?: ConvTranspose2dOptions["activation"];
  },
): Float32Array {
  const [kh, kw] = o.kernel, [sh, sw] = o.strides ?? [1, 1], [dh, dw] = o.dilations ?? [1, 1];
  const p = o.pads ?? [0, 0, 0, 0], op = o.outputPadding ?? [0, 0];
  const uh = (o.h - 1) * sh + 1, uw = (o.w - 1) * sw + 1;
  const xu = new Float32Array(o.n * o.c * uh * uw);
  for (let b = 0; b < o.n * o.c; b++) {
    for (let i = 0; i < o.h; i++) {
      for (let j = 0; j < o.w; j++) {
        xu[(b * uh + i * sh) * uw + j * sw] = x[(b * o.h + i) * o.w + j];
      }
    }
  }
  const wf = new Float32Array(w.length);
  for (let c = 0; c < o.c; c++) {
    for (let m = 0; m < o.outChannels; m++) {
      for (let a = 0; a < kh; a++) {
        for (let q = 0; q < kw; q++) {
          wf[((m * o.c + c) * kh + a) * kw + q] =
            w[((c * o.outChannels + m) * kh + kh - 1 - a) * kw + kw - 1 - q];
        }
      }
    }
  }
  const pads = [
    (kh - 1) * dh - p[0],
    (kw - 1) * dw - p[1],
    (kh - 1) * dh - p[2] + op[0],
    (kw - 1) * dw - p[3] + op[1],
  ];
  const oh = uh + pads[0] + pads[2] - (kh - 1) * dh, ow = uw + pads[1] + pads[3] - (kw - 1) * dw;
  const y = new Float32Array(o.n * o.outChannels * oh * ow);
  jit.conv2d(xu, wf, y, {
    n: o.n,
    c: o.c,
    h: uh,
    w: uw,
    outChannels: o.outChannels,
    kernel: [kh, kw],
    pads,
    dilations: [dh, dw],
    bias: o.bias,
    residual: o.residual,
    activation: o.activation,
  });
  return y;
}

const PHASE_TILE_CASES: ConvTranspose2dOptions[] = [
  { n: 1, c: 5, h: 3, w: 32, outChannels: 18, kernel: [2, 2], strides: [2, 2] },
  // The columns tile's layers (a phase's one kernel column reads x[m]): a row's last vector
  // partial (19 → 38 columns), one vector (8 → 16), edge rows (a top pad), kernel rows of
  // one or two taps (3×2), a unit of 3 rows (stride 3 down), a batch.
  { n: 1, c: 3, h: 5, w: 19, outChannels: 7, kernel: [3, 2], strides: [2, 2] },
  { n: 1, c: 4, h: 3, w: 8, outChannels: 18, kernel: [2, 2], strides: [2, 2] },
  { n: 2, c: 5, h: 4, w: 21, outChannels: 20, kernel: [2, 2], strides: [2, 2], pads: [1, 0, 0, 0] },
  { n: 1, c: 6, h: 4, w: 40, outChannels: 33, kernel: [4, 2], strides: [3, 2], pads: [2, 0, 1, 0] },
  { n: 2, c: 3, h: 4, w: 16, outChannels: 7, kernel: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] },
  {
    n: 1,
    c: 4,
    h: 3,
    w: 35,
    outChannels: 20,
    kernel: [3, 5],
    strides: [1, 2],
    dilations: [1, 3],
    pads: [2, 3, 0, 4],
    outputPadding: [0, 1],
  },
  { n: 1, c: 6, h: 5, w: 48, outChannels: 4, kernel: [3, 3], strides: [3, 2], pads: [0, 1, 2, 1] },
  { n: 1, c: 2, h: 2, w: 23, outChannels: 33, kernel: [5, 4], strides: [2, 2], pads: [3, 2, 1, 0] },
  {
    n: 1,
    c: 520,
    h: 3,
    w: 16,
    outChannels: 40,
    kernel: [4, 4],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
];

Deno.test({
  name:
    "convTranspose2d avx512: the tiles by output phases (channels, positions or output columns along the lanes) give the upsampled kernel's bits",
  ignore: !LEVELS.includes("avx512"),
  fn: () => {
    const r = rng(3400);
    const acts = ["gelu", "relu", undefined, "hardSwish", "leakyRelu"] as const;
    for (const [i, o] of PHASE_TILE_CASES.entries()) {
      // Tier 2 in warm-up runs every candidate on the key's calls: both phase tiles among them.
      using jit = new Jit({ maxIsa: "avx512", threads: 1 });
      const [kh, kw] = o.kernel, [sh, sw] = o.strides!, [dh, dw] = o.dilations ?? [1, 1];
      const p = o.pads ?? [0, 0, 0, 0], op = o.outputPadding ?? [0, 0];
      const oh = sh * (o.h - 1) + op[0] + (kh - 1) * dh + 1 - p[0] - p[2];
      const ow = sw * (o.w - 1) + op[1] + (kw - 1) * dw + 1 - p[1] - p[3];
      const x = new Float32Array(o.n * o.c * o.h * o.w).map(() => r() - 0.5);
      const w = new Float32Array(o.c * o.outChannels * kh * kw).map(() => r() - 0.5);
      const bias = i % 3 ? new Float32Array(o.outChannels).map(() => r()) : undefined;
      const residual = i % 2
        ? new Float32Array(o.n * o.outChannels * oh * ow).map(() => r())
        : undefined;
      const opts = { ...o, bias, residual, activation: acts[i % acts.length] };
      const plain = new Float32Array(o.n * o.outChannels * oh * ow).fill(NaN), y = plain.slice();
      jit.convTranspose2d(x, w, plain, opts);
      const packed = jit.packConvWeights(w, {
        outChannels: o.outChannels,
        c: o.c,
        kernel: o.kernel,
        transposed: true,
      });
      const label = `case ${i} ${JSON.stringify(o)}`;
      // Tier 1's tile on 3 threads (parts of a 2-core machine's pool): the same bits.
      using three = new Jit({ maxIsa: "avx512", threads: 3, minPartUs: 0, tuneBudget: 0 });
      const split = plain.slice().fill(NaN);
      three.convTranspose2d(
        x,
        three.packConvWeights(w, {
          outChannels: o.outChannels,
          c: o.c,
          kernel: o.kernel,
          transposed: true,
        }),
        split,
        opts,
      );
      assert.deepEqual(split, plain, `${label}: 3 threads`);
      const ran = tuneCheckingBits(
        jit,
        () => jit.convTranspose2d(x, packed, y, opts),
        y,
        plain,
        label,
      );
      assert.ok(ran.some((p) => p.includes("positions × 2 phases")), `${label}: ${ran.join("; ")}`);
      // The columns tile where a phase's one kernel column reads x[m] (kw 2, stride 2 across):
      // a tier-2 candidate, also on 3 threads (parts in bands of rows or blocks of channels).
      const columns = kw === 2 && sw === 2 && dw === 1 && p[1] === 0 && p[3] === 0 && op[1] === 0;
      assert.equal(
        ran.some((p) => / columns × \d+ channels/.test(p)),
        columns,
        `${label}: ${ran.join("; ")}`,
      );
      if (columns) {
        using tuned3 = new Jit({ maxIsa: "avx512", threads: 3, minPartUs: 0 });
        const packed3 = tuned3.packConvWeights(w, {
          outChannels: o.outChannels,
          c: o.c,
          kernel: o.kernel,
          transposed: true,
        });
        const y3 = plain.slice();
        const ran3 = tuneCheckingBits(
          tuned3,
          () => tuned3.convTranspose2d(x, packed3, y3, opts),
          y3,
          plain,
          `${label}, 3 threads`,
        );
        assert.ok(
          ran3.some((p) => / columns × \d+ channels/.test(p)),
          `${label}: ${ran3.join("; ")}`,
        );
      }
      // Not the upsampled kernel (see convChoices); the convolution it computes, of x with
      // zeros between its elements, gives the same bits.
      assert.ok(ran.every((p) => p.includes("phases")), `${label}: ${ran.join("; ")}`);
      assert.deepEqual(upsampledConv(jit, x, w, opts), plain, `${label}: the upsampled conv2d`);
      assert.ok(
        ran.some((p) => p.includes("× 2 positions × 16 channels")),
        `${label}: ${ran.join("; ")}`,
      );
      if (o.c > 500) {
        assert.ok(ran.every((p) => !p.includes("phases") || p.includes("channels a pass")), label);
      }
    }
  },
});

for (const level of PHASE_LEVELS) {
  Deno.test({
    name:
      `convTranspose2d ${level}: stride 2, every kernel width, pads split and output padding, exactly; y's rows of 2w − 1, 2w and 2w + 1 columns by output phases`,
    fn: () => {
      // 3×3/2 without pads (2w + 1 columns: the last from x[w − 1]·w[2] and a margin's zero),
      // 4×4/2 with one pad, 5×5/2 with two: the phases' rounds read past x on both sides.
      const r = rng(3450);
      using jit = new Jit({ maxIsa: level, threads: 1 });
      let byPhases = 0;
      for (let kw = 1; kw <= 5; kw++) {
        for (let pl = 0; pl < kw; pl++) {
          for (let pr = 0; pr < kw; pr++) {
            for (const opw of [0, 1]) {
              const w = pick(r, [5, 8, 9, 17]), h = int(r, 1, 4), kh = pick(r, [kw, 2]);
              const ow = 2 * (w - 1) + opw + kw - pl - pr;
              if (ow < 1) continue;
              const oh = 2 * (h - 1) + kh;
              const o = {
                n: 1,
                c: int(r, 1, 5),
                h,
                w,
                outChannels: int(r, 1, 9),
                kernel: [kh, kw],
                strides: [2, 2],
                pads: [0, pl, 0, pr],
                outputPadding: [0, opw],
              };
              const x = new Float32Array(o.c * h * w).map(() => int(r, -3, 3));
              const wt = new Float32Array(o.c * o.outChannels * kh * kw).map(() => int(r, -2, 2));
              const y = new Float32Array(o.outChannels * oh * ow).fill(NaN);
              jit.convTranspose2d(x, wt, y, o);
              const want = scatter({ o, oh, ow }, x, wt);
              for (let i = 0; i < y.length; i++) {
                if (y[i] !== want[i]) {
                  assert.fail(`${JSON.stringify(o)}: y[${i}] = ${y[i]}, definition ${want[i]}`);
                }
              }
              // The key names the upsampled convolution: pads of (k − 1) − pad (+ output padding).
              const pads = [kh - 1, kw - 1 - pl, kh - 1, kw - 1 - pr + opw];
              const key = `convTranspose2d 1×${o.c}×${h}×${w} → ${o.outChannels}×${oh}×${ow} ` +
                `k${kh}×${kw} up2×2` +
                (pads.some((p) => p !== 0) ? ` as conv pads=${pads.join(",")} ` : " ");
              const plan = jit.stats().keys.find((k) => `${k.key} `.startsWith(key))?.plan ??
                undefined;
              assert.ok(plan !== undefined && plan !== null, `no key ${key}`);
              if (plan.includes("output phases")) byPhases++;
              if (kw === 3 && pl === 0 && pr === 0 && opw === 0) {
                assert.ok(plan.includes("output phases"), `3×3/2 without pads: ${plan}`);
              }
            }
          }
        }
      }
      assert.ok(byPhases >= 20, `${byPhases} layers by output phases`);
    },
  });

  Deno.test({
    name:
      `convTranspose2d ${level}: plain weights are repacked on every call (a changed w is read anew; recorded calls each use their own)`,
    fn: () => {
      const r = rng(3500);
      using jit = new Jit({ maxIsa: level, threads: 1 });
      // 20 output channels: blocks of 16 and 4 (AVX2: 8, 8 and 4; lanes past 20 never written).
      const o = { n: 1, c: 6, h: 5, w: 19, outChannels: 20, kernel: [2, 2], strides: [2, 2] };
      const size = 20 * 10 * 38, wLength = 6 * 20 * 4;
      const x = new Float32Array(6 * 5 * 19).map(() => int(r, -3, 3));
      const w1 = new Float32Array(wLength).map(() => int(r, -2, 2));
      const w2 = new Float32Array(wLength).map(() => int(r, -2, 2));
      const want = (w: Float32Array) => {
        const y = new Float32Array(size);
        jit.convTranspose2d(x, jit.packConvWeights(w, { ...o, transposed: true }), y, o);
        return y;
      };
      const y1 = new Float32Array(size), y2 = new Float32Array(size);
      jit.convTranspose2d(x, w1, y1, o);
      assert.deepEqual(y1, want(w1));
      const plans = jit.stats().keys.filter((k) => k.key.startsWith("convTranspose2d"));
      assert.ok(plans.every((k) => k.plan!.includes("output phases")), plans[0].plan!);
      // The same array changed between calls: the new weights.
      w1[7] += 1;
      jit.convTranspose2d(x, w1, y1, o);
      assert.deepEqual(y1, want(w1));
      // Two calls on different weights recorded, replayed after w1 changed again.
      const rec = jit.recordSync(() => {
        jit.convTranspose2d(x, w1, y1, o);
        jit.convTranspose2d(x, w2, y2, o);
      });
      w1[0] -= 2;
      y1.fill(NaN);
      y2.fill(NaN);
      assert.ok(jit.replaySync(rec), "the recording should replay");
      assert.deepEqual(y1, want(w1));
      assert.deepEqual(y2, want(w2));
      // Twelve shapes in turn (more than the rooms a Jit keeps; some share outChannels and taps,
      // not c): each call its own weights.
      for (let round = 0; round < 12; round++) {
        const oc = 3 + 5 * (round % 3), c = 2 + (round % 4);
        const os = { ...o, c, outChannels: oc };
        const xs = new Float32Array(c * 5 * 19).map(() => int(r, -3, 3));
        const ws = new Float32Array(c * oc * 4).map(() => int(r, -2, 2));
        const ys = new Float32Array(oc * 10 * 38), wantS = ys.slice();
        jit.convTranspose2d(xs, ws, ys, os);
        jit.convTranspose2d(xs, jit.packConvWeights(ws, { ...os, transposed: true }), wantS, os);
        assert.deepEqual(ys, wantS, `round ${round}: ${oc} channels from ${c}`);
      }
    },
  });

  Deno.test({
    name:
      `convTranspose2d ${level}: a ±Inf or NaN packed weight keeps its key's bits through tuning (ONNX's values, no NaN from the upsampled zeros)`,
    fn: () => {
      const r = rng(3600);
      const o = { n: 1, c: 16, h: 6, w: 20, outChannels: 16, kernel: [2, 2], strides: [2, 2] };
      const c: Case = { o: { ...o, pads: [0, 0, 0, 0] }, oh: 12, ow: 40 };
      for (const bad of [Infinity, -Infinity, NaN]) {
        using jit = new Jit({ maxIsa: level, threads: 1 });
        const x = new Float32Array(16 * 6 * 20).map(() => int(r, 1, 3));
        const w = new Float32Array(16 * 16 * 4).map(() => int(r, -2, 2));
        w[5 * 64 + 3 * 4 + 1] = bad; // input channel 5, output channel 3, tap (0, 1)
        const want = Float32Array.from(scatter(c, x, w));
        const y = new Float32Array(want.length);
        const packed = jit.packConvWeights(w, {
          outChannels: 16,
          c: 16,
          kernel: [2, 2],
          transposed: true,
        });
        // AVX-512 tries its other tiles through tuning; AVX2 has the columns tile alone.
        let ran: string[];
        if (level === "avx512") {
          ran = tuneCheckingBits(
            jit,
            () => jit.convTranspose2d(x, packed, y, o),
            y,
            want,
            `${bad}`,
          );
          assert.ok(ran.length >= 2, ran.join("; "));
        } else {
          jit.convTranspose2d(x, packed, y, o);
          assert.deepEqual(y, want, `${bad}`);
          ran = jit.stats().keys.filter((k) => k.key.startsWith("conv")).map((k) => k.plan!);
        }
        assert.ok(ran.every((p) => p.includes("output phases")), ran.join("; "));
        // Output channel 3's odd columns of even rows hold the bad weight's products: x ≥ 1.
        assert.ok(Object.is(want[3 * 480 + 1], bad), `${want[3 * 480 + 1]}`);
      }
    },
  });
}

Deno.test({
  name:
    "convTranspose2d avx2: odd kernel widths by output phases give ONNX's values where x or w holds ±Inf or NaN (a round of one phase adds nothing from the other's lanes)",
  ignore: !LEVELS.includes("avx2"),
  fn: () => {
    const r = rng(3650);
    // 3×3/2 with pads 1 (2w − 1 columns) and with an output padding (2w), 5×5/2 with pads 2,
    // 1×1/2: each has rounds of one phase.
    const layers = [
      { kernel: [3, 3], pads: [1, 1, 1, 1], outputPadding: [0, 0] },
      { kernel: [3, 3], pads: [1, 1, 1, 1], outputPadding: [1, 1] },
      { kernel: [5, 5], pads: [2, 2, 2, 2], outputPadding: [0, 0] },
      { kernel: [1, 1], pads: [0, 0, 0, 0], outputPadding: [0, 0] },
    ];
    for (const { kernel, pads, outputPadding } of layers) {
      const [k] = kernel, [h, w, c, oc] = [5, 11, 6, 9];
      const oh = 2 * (h - 1) + outputPadding[0] + k - pads[0] - pads[2];
      const ow = 2 * (w - 1) + outputPadding[1] + k - pads[1] - pads[3];
      const o = { n: 1, c, h, w, outChannels: oc, kernel, strides: [2, 2], pads, outputPadding };
      const cs: Case = { o, oh, ow };
      for (const bad of [Infinity, -Infinity, NaN]) {
        for (const where of ["x", "w"] as const) {
          using jit = new Jit({ maxIsa: "avx2", threads: 1 });
          const x = new Float32Array(c * h * w).map(() => int(r, -3, 3));
          const wt = new Float32Array(c * oc * k * k).map(() => int(r, -2, 2));
          if (where === "x") x[2 * h * w + 3 * w + 4] = bad; // channel 2, row 3, column 4
          else wt[4 * oc * k * k + 7 * k * k + (k * k >> 1)] = bad; // the middle tap
          const want = Float32Array.from(scatter(cs, x, wt));
          const label = `${k}×${k}/2 pads ${pads[1]} output padding ${
            outputPadding[1]
          }: ${bad} in ${where}`;
          for (
            const weights of [
              wt,
              jit.packConvWeights(wt, { outChannels: oc, c, kernel, transposed: true }),
            ]
          ) {
            const y = new Float32Array(want.length).fill(7);
            jit.convTranspose2d(x, weights, y, o);
            assert.equal(firstMismatch(y, want), -1, label);
          }
          const plans = jit.stats().keys.filter((q) => q.key.startsWith("convTranspose2d"));
          assert.ok(plans.every((q) => q.plan!.includes("output phases")), label);
          assert.ok(want.some((v) => !Number.isFinite(v)), `${label}: nothing to show`);
        }
      }
    }
  },
});

Deno.test("convTranspose2d: autoPad SAME with a kernel narrower than the stride gives input·stride outputs, the last the bias alone", () => {
  // ONNX: output = input·stride, total padding = stride·(in − 1) + kernel − output, here
  // negative; ONNX Runtime clamps it at 0 (its shape inference says input·stride too, its
  // kernel writes the shorter full output). Found by tools/fuzz: the graph planned
  // input·stride, the call computed the full output, and the run threw a RangeError.
  const r = rng(3700);
  using jit = new Jit({ threads: 1 });
  for (const [kh, kw, sh, sw] of [[1, 1, 2, 2], [2, 2, 3, 3], [1, 2, 2, 3], [2, 1, 3, 1]]) {
    for (const autoPad of ["SAME_UPPER", "SAME_LOWER"] as const) {
      const o = { n: 1, c: 2, h: 3, w: 4, outChannels: 3, kernel: [kh, kw], strides: [sh, sw] };
      const oh = 3 * sh, ow = 4 * sw;
      const x = new Float32Array(2 * 12).map(() => int(r, -3, 3));
      const w = new Float32Array(2 * 3 * kh * kw).map(() => int(r, -2, 2));
      const bias = new Float32Array(3).map(() => int(r, -4, 4));
      const y = new Float32Array(3 * oh * ow).fill(NaN);
      jit.convTranspose2d(x, w, y, { ...o, autoPad, bias });
      // The full output's total padding is positive only where the kernel reaches the stride.
      const pads = [0, 1].map((i) =>
        Math.max(0, [sh, sw][i] * ([3, 4][i] - 1) + [kh, kw][i] - [oh, ow][i])
      );
      const head = pads.map((
        p,
      ) => (autoPad === "SAME_UPPER" ? Math.floor(p / 2) : p - Math.floor(p / 2)));
      const want = scatter(
        { o: { ...o, pads: [head[0], head[1], pads[0] - head[0], pads[1] - head[1]] }, oh, ow },
        x,
        w,
        bias,
      );
      assert.deepEqual(Array.from(y), Array.from(want), `${kh}×${kw}/${sh}×${sw} ${autoPad}`);
    }
  }
});

Deno.test({
  name:
    "convTranspose2d avx2: the columns tile by output phases gives the upsampled kernel's bits (plain, packed, 3 threads; exactly the definition on small integers), on the layers it serves",
  ignore: !LEVELS.includes("avx2"),
  fn: () => {
    const r = rng(3700);
    const acts = ["gelu", "relu", undefined, "hardSwish", "leakyRelu"] as const;
    // PHASE_TILE_CASES, then layers of 2×2/2 (rows of whole vectors and of a partial last one,
    // blocks of 8 channels and a rest, a batch, many input channels), 4×4/2 with pads 1 (two
    // rounds, x[m − 1] beside x[m]), 6×6/2 with pads 2 and 8×8/2 with pads 3 (margins of 2 and
    // 3 positions), a one-column x; odd widths (a round of one phase after the pairs): 3×3/2
    // with pads 1 (y's rows 2w − 1) and with an output padding (2w), 5×5/2 with pads 2, 1×1/2
    // (phase 0 alone), 3×3/2 without pads (2w + 1 columns, the last reading the margin past
    // x's last), and a dilated 3×3/2 (not served: upsampled).
    const cases: ConvTranspose2dOptions[] = [
      ...PHASE_TILE_CASES,
      { n: 1, c: 16, h: 6, w: 20, outChannels: 16, kernel: [2, 2], strides: [2, 2] },
      { n: 2, c: 9, h: 5, w: 13, outChannels: 21, kernel: [2, 2], strides: [2, 2] },
      { n: 1, c: 70, h: 3, w: 33, outChannels: 9, kernel: [2, 2], strides: [2, 2] },
      { n: 1, c: 2, h: 7, w: 4, outChannels: 3, kernel: [2, 2], strides: [2, 2] },
      {
        n: 1,
        c: 6,
        h: 5,
        w: 11,
        outChannels: 10,
        kernel: [4, 4],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      },
      {
        n: 2,
        c: 3,
        h: 4,
        w: 8,
        outChannels: 17,
        kernel: [6, 6],
        strides: [2, 2],
        pads: [2, 2, 2, 2],
      },
      {
        n: 1,
        c: 5,
        h: 3,
        w: 9,
        outChannels: 4,
        kernel: [8, 8],
        strides: [2, 2],
        pads: [3, 3, 3, 3],
      },
      {
        n: 1,
        c: 4,
        h: 5,
        w: 1,
        outChannels: 9,
        kernel: [4, 4],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      },
      {
        n: 1,
        c: 7,
        h: 5,
        w: 12,
        outChannels: 11,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      },
      {
        n: 2,
        c: 3,
        h: 4,
        w: 9,
        outChannels: 8,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        outputPadding: [1, 1],
      },
      {
        n: 1,
        c: 5,
        h: 4,
        w: 21,
        outChannels: 6,
        kernel: [5, 5],
        strides: [2, 2],
        pads: [2, 2, 2, 2],
      },
      { n: 1, c: 9, h: 3, w: 17, outChannels: 5, kernel: [1, 1], strides: [2, 2] },
      { n: 1, c: 4, h: 3, w: 10, outChannels: 9, kernel: [3, 3], strides: [2, 2] },
      {
        n: 1,
        c: 3,
        h: 4,
        w: 7,
        outChannels: 5,
        kernel: [3, 3],
        strides: [2, 2],
        dilations: [2, 2],
      },
    ];
    let served = 0;
    for (const [i, o] of cases.entries()) {
      using jit = new Jit({ maxIsa: "avx2", threads: 1 });
      using three = new Jit({ maxIsa: "avx2", threads: 3, minPartUs: 0, tuneBudget: 0 });
      const [kh, kw] = o.kernel, [sh, sw] = o.strides!, [dh, dw] = o.dilations ?? [1, 1];
      const p = o.pads ?? [0, 0, 0, 0], op = o.outputPadding ?? [0, 0];
      const oh = sh * (o.h - 1) + op[0] + (kh - 1) * dh + 1 - p[0] - p[2];
      const ow = sw * (o.w - 1) + op[1] + (kw - 1) * dw + 1 - p[1] - p[3];
      const label = `case ${i} ${JSON.stringify(o)}`;
      // Served: stride 2 across, undilated (each phase every other kernel column, a round's
      // phase 1 reading x at or one right of its phase 0's), y's rows twice x's, one less or
      // one more.
      const columns = sw === 2 && dw === 1 && ow >= 2 * o.w - 1 && ow <= 2 * o.w + 1;
      // Small integers: exactly ONNX's scatter definition.
      const xi = new Float32Array(o.n * o.c * o.h * o.w).map(() => int(r, -3, 3));
      const wi = new Float32Array(o.c * o.outChannels * kh * kw).map(() => int(r, -2, 2));
      const bi = new Float32Array(o.outChannels).map(() => int(r, -4, 4));
      const yi = new Float32Array(o.n * o.outChannels * oh * ow).fill(NaN);
      jit.convTranspose2d(xi, wi, yi, { ...o, bias: bi });
      const kernel = [kh, kw], strides = [sh, sw], pads = [...p];
      const want = scatter({ o: { ...o, kernel, strides, pads }, oh, ow }, xi, wi, bi);
      assert.equal(firstMismatch(yi, want), -1, `${label}: small integers`);
      // Floats with a bias, a residual and an activation: plain weights (repacked per call),
      // packed ones, 3 threads and the upsampled conv2d give the same bits.
      const x = xi.map(() => r() - 0.5), w = wi.map(() => r() - 0.5);
      const bias = new Float32Array(o.outChannels).map(() => r());
      const residual = i % 2
        ? new Float32Array(o.n * o.outChannels * oh * ow).map(() => r())
        : undefined;
      const opts = { ...o, bias, residual, activation: acts[i % acts.length] };
      const plain = new Float32Array(o.n * o.outChannels * oh * ow).fill(NaN);
      const packed = plain.slice(), split = plain.slice();
      const pack = (j: Jit) =>
        j.packConvWeights(w, {
          outChannels: o.outChannels,
          c: o.c,
          kernel: o.kernel,
          transposed: true,
        });
      jit.convTranspose2d(x, w, plain, opts);
      jit.convTranspose2d(x, pack(jit), packed, opts);
      three.convTranspose2d(x, pack(three), split, opts);
      assert.deepEqual(packed, plain, `${label}: packed`);
      assert.deepEqual(split, plain, `${label}: 3 threads`);
      if (o.n === 1) assert.ok(three.stats().keys.some((k) => k.parts > 1), `${label}: no split`);
      assert.deepEqual(upsampledConv(jit, x, w, opts), plain, `${label}: the upsampled conv2d`);
      const plans = jit.stats().keys.filter((k) => k.key.startsWith("convTranspose2d"));
      assert.ok(
        plans.every((k) => / columns × \d+ channels/.test(k.plan!) === columns),
        `${label}: ${columns} ${plans.map((k) => k.plan).join("; ")}`,
      );
      if (columns) served++;
    }
    assert.ok(served >= 10, `${served} layers by output phases`);
  },
});

/** The first index where y and want differ, or -1. */
function firstMismatch(y: Float32Array, want: ArrayLike<number>): number {
  for (let i = 0; i < y.length; i++) if (!Object.is(y[i], want[i])) return i;
  return -1;
}

/**
 * A 2×2/2 ConvTranspose of small integers with a bias, a residual and ReLU, and the
 * definition's exact output (the columns tile's tests).
 */
function upsampling(r: () => number, c: number, h: number, w: number, oc: number) {
  const o = {
    n: 1,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [2, 2],
    strides: [2, 2],
    pads: [0, 0, 0, 0],
  };
  const k: Case = { o, oh: 2 * h, ow: 2 * w };
  const x = new Float32Array(c * h * w).map(() => int(r, -3, 3));
  const wt = new Float32Array(c * oc * 4).map(() => int(r, -2, 2));
  const bias = new Float32Array(oc).map(() => int(r, -4, 4));
  const residual = new Float32Array(oc * 4 * h * w).map(() => int(r, -4, 4));
  const want = scatter(k, x, wt, bias).map((v, i) => Math.max(0, v + residual[i]));
  return { o, x, wt, bias, residual, want };
}

for (const level of PHASE_LEVELS) {
  Deno.test(`convTranspose2d ${level}: the columns tile at 24 input channels and more (its claims spread, r8 and r9 taken) with a residual equals the definition on 1 and 3 threads`, () => {
    // 2×2/2 with 24 input channels and more (the spread claims: channels × lines ≤ c), rows of
    // whole vectors and a partial last one, a residual (its lines fetched beside y's).
    const r = rng(3700);
    let columns = 0;
    for (const [c, h, w, oc] of [[24, 5, 16, 9], [40, 6, 19, 20], [72, 3, 40, 33]]) {
      const { o, x, wt, bias, residual, want } = upsampling(r, c, h, w, oc);
      for (const threads of [1, 3]) {
        using jit = new Jit({ maxIsa: level, threads, minPartUs: 0, tuneBudget: 0 });
        const packed = jit.packConvWeights(wt, {
          outChannels: oc,
          c,
          kernel: [2, 2],
          transposed: true,
        });
        const y = new Float32Array(oc * 4 * h * w).fill(NaN);
        jit.convTranspose2d(x, packed, y, { ...o, bias, residual, activation: "relu" });
        for (let i = 0; i < y.length; i++) {
          if (y[i] !== want[i]) {
            assert.fail(
              `${level} ${threads} threads ${JSON.stringify(o)}: y[${i}] = ${y[i]}, want ${
                want[i]
              }`,
            );
          }
        }
        for (const key of jit.stats().keys) if (key.plan?.includes("columns")) columns++;
      }
    }
    assert.ok(columns >= 2, `only ${columns} calls took the columns tile`);
  });
}

if (LEVELS.includes("avx512")) {
  Deno.test("convTranspose2d avx512: the columns tile's weight pairs by groups of 4, 8 and 16 channels equal the definition on 1 and 3 threads", () => {
    // 2×2/2 with every block of 16 channels whole: tiles of 5 vectors × 4 channels (80 and 76
    // columns, the last vector partial), 3 × 8 (48), 2 × 8 (32), 1 × 16 (16) take the pairs by
    // groups (pairGroup); 112 columns (pieces of 4 and 3 vectors: 6 and 8 channels) and 24
    // channels (a block of 8 left over) take a block's 16 a group (pairLayout), no group of
    // their own. Plain and packed weights, a
    // residual, small integers: exact.
    const r = rng(3710);
    const layers: [number, number, number, number, number][] = [
      // c, h, w, oc, the group size the plan should say (0: none)
      [24, 3, 40, 32, 4],
      [40, 4, 38, 16, 4],
      [32, 3, 24, 48, 8],
      [72, 2, 16, 32, 8],
      [24, 4, 8, 16, 16],
      [32, 2, 56, 16, 0],
      [24, 3, 40, 24, 0],
    ];
    for (const [c, h, w, oc, group] of layers) {
      const { o, x, wt, bias, residual, want } = upsampling(r, c, h, w, oc);
      for (const threads of [1, 3]) {
        using jit = new Jit({ maxIsa: "avx512", threads, minPartUs: 0, tuneBudget: 0 });
        const packed = jit.packConvWeights(wt, {
          outChannels: oc,
          c,
          kernel: [2, 2],
          transposed: true,
        });
        for (const weights of [wt, packed]) {
          const y = new Float32Array(oc * 4 * h * w).fill(NaN);
          jit.convTranspose2d(x, weights, y, { ...o, bias, residual, activation: "relu" });
          const where = `${threads} threads ${
            weights === wt ? "plain" : "packed"
          } ${c}→${oc} ${h}×${w}`;
          for (let i = 0; i < y.length; i++) {
            if (y[i] !== want[i]) assert.fail(`${where}: y[${i}] = ${y[i]}, want ${want[i]}`);
          }
        }
        const plans = jit.stats().keys.map((key) => key.plan ?? "").filter((p) =>
          p.includes("columns")
        );
        assert.ok(plans.length > 0, `${c}→${oc} ${h}×${w}: no call took the columns tile`);
        for (const p of plans) {
          if (group) assert.match(p, new RegExp(`weights in pairs by groups of ${group} channels`));
          else assert.doesNotMatch(p, /by groups of/);
        }
      }
    }
  });
}
