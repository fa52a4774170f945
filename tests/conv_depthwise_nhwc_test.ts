/**
 * The NHWC depthwise kernel (AVX-512 and AVX2, depthwise_nhwc.ts) against
 * the NCHW call on the same tensors transposed, bit for bit: strides,
 * dilations, kernels up to 8 wide, asymmetric pads, channel counts around
 * 8 and 16, x and y off their lines (at AVX-512 the channel vectors follow
 * x's lines; at AVX2 the last vector overlaps the one before), plain and
 * packed weights, every tier-2 candidate, 1 and 3 threads.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import {
  convSizes,
  convSpecOf,
  depthwise3x3Spec,
  firstDifference,
  toNhwc,
  tuneCheckingBits,
} from "./helpers/conv.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { depthwiseNhwcTile } from "../src/kernels/conv/depthwise_nhwc.ts";
import { convGeometry } from "../src/kernels/conv/geometry.ts";

const AVX512 = levelsUpTo(isaLevel()).includes("avx512");
/** The levels the machine has that the kernel serves. */
const LEVELS = levelsUpTo(isaLevel()).filter((l) => l === "avx512" || l === "avx2") as (
  | "avx512"
  | "avx2"
)[];

/** A depthwise configuration: c channels, one per group. */
interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
}

/** Shapes that take each path: sweeps (stride 2, rows ≤ 16) and tiles, the edges, masks. */
const CASES: Case[] = [
  {
    n: 1,
    c: 32,
    h: 20,
    w: 24,
    kernel: [3, 3],
    strides: [1, 1],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
  },
  {
    n: 2,
    c: 17,
    h: 9,
    w: 11,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
  },
  {
    n: 1,
    c: 144,
    h: 7,
    w: 30,
    kernel: [3, 3],
    strides: [1, 1],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
  },
  {
    n: 1,
    c: 48,
    h: 13,
    w: 14,
    kernel: [5, 5],
    strides: [1, 1],
    pads: [2, 2, 2, 2],
    dilations: [1, 1],
  },
  {
    n: 3,
    c: 16,
    h: 8,
    w: 19,
    kernel: [3, 5],
    strides: [1, 2],
    pads: [0, 2, 2, 1],
    dilations: [2, 1],
  },
  {
    n: 1,
    c: 15,
    h: 6,
    w: 40,
    kernel: [7, 7],
    strides: [1, 1],
    pads: [3, 3, 3, 3],
    dilations: [1, 1],
  },
  {
    n: 1,
    c: 1,
    h: 5,
    w: 33,
    kernel: [1, 8],
    strides: [3, 1],
    pads: [0, 4, 0, 3],
    dilations: [1, 1],
  },
  {
    n: 1,
    c: 64,
    h: 4,
    w: 4,
    kernel: [3, 3],
    strides: [3, 3],
    pads: [2, 2, 2, 2],
    dilations: [1, 1],
  },
];

/** A random depthwise configuration with a non-empty output (kernel rows ≤ 8 wide). */
function randomCase(r: () => number): Case {
  for (;;) {
    const kh = int(r, 1, 7), kw = int(r, 1, 8);
    const o: Case = {
      n: pick(r, [1, 1, 2, 3]),
      c: pick(r, [1, 3, 7, 8, 9, 15, 16, 17, 32, 33, 128, 130]),
      h: int(r, 1, 20),
      w: pick(r, [int(r, 1, 40), 16, 17]),
      kernel: [kh, kw],
      strides: [int(r, 1, 3), int(r, 1, 3)],
      pads: [int(r, 0, 3), int(r, 0, 3), int(r, 0, 3), int(r, 0, 3)],
      dilations: [int(r, 1, 2), int(r, 1, 2)],
    };
    const s = convSpecOf({ ...o, outChannels: o.c, group: o.c });
    if (s.rowEnd >= 1 && convSizes(s).y >= 1) return o;
  }
}

/** A tensor of `count` floats starting `offset` floats into a fresh buffer (off its line). */
function placed(count: number, offset: number, r: () => number, scale = 2): Float32Array {
  const v = new Float32Array(count + 16).subarray(offset, offset + count);
  for (let i = 0; i < count; i++) v[i] = (r() - 0.5) * scale;
  return v;
}

/** The NCHW call's y and the NHWC call's (transposed to NCHW order), for one configuration. */
function both(
  jit: Jit,
  o: Case,
  r: () => number,
  options: { packed: boolean; offsets: [number, number]; finite?: boolean },
): { nhwc: Float32Array; nchw: Float32Array; label: string } {
  const s = convSpecOf({ ...o, outChannels: o.c, group: o.c }), sizes = convSizes(s);
  const oh = sizes.y / (s.n * s.c), plane = s.h * s.w;
  const x = placed(sizes.x, 0, r), w = placed(sizes.w, 0, r);
  if (options.finite === false) w[0] = Infinity;
  const bias = pick(r, [undefined, placed(s.c, 0, r)]);
  const residual = pick(r, [undefined, placed(sizes.y, 0, r)]);
  const activation = pick(r, ["relu", "gelu", undefined] as const);
  const opts = { ...o, outChannels: o.c, group: o.c, bias, residual, activation };
  const wt = options.packed
    ? jit.packConvWeights(w, { outChannels: o.c, c: o.c, kernel: o.kernel, group: o.c })
    : w;
  const nchw = new Float32Array(sizes.y);
  jit.conv2d(x, wt, nchw, opts);
  const xh = new Float32Array(sizes.x + 16).subarray(
    options.offsets[0],
    options.offsets[0] + sizes.x,
  );
  xh.set(toNhwc(x, s.n, s.c, plane));
  const yh = new Float32Array(sizes.y + 16).subarray(
    options.offsets[1],
    options.offsets[1] + sizes.y,
  );
  yh.fill(NaN);
  jit.conv2d(xh, wt, yh, {
    ...opts,
    residual: residual && toNhwc(residual, s.n, s.c, oh),
    layout: "nhwc",
  });
  return {
    nhwc: yh,
    nchw: toNhwc(nchw, s.n, s.c, oh),
    label: `${JSON.stringify(o)} ${options.packed ? "packed" : "plain"} offsets ${options.offsets}`,
  };
}

for (const level of LEVELS) {
  Deno.test({
    name:
      `conv2d ${level}: NHWC depthwise gives the NCHW call's bits (x and y off their lines, 1 and 3 threads)`,
    fn: () => {
      const r = rng(2500);
      for (const threads of [1, 3]) {
        using jit = new Jit({ maxIsa: level, threads, minPartUs: threads > 1 ? 0 : undefined });
        const cases = [...CASES, ...Array.from({ length: 30 }, () => randomCase(r))];
        for (const [i, o] of cases.entries()) {
          const offsets: [number, number] = [int(r, 0, 15), int(r, 0, 15)];
          const { nhwc, nchw, label } = both(jit, o, r, { packed: i % 2 === 0, offsets });
          assert.equal(firstDifference(nhwc, nchw), -1, `${level} ${threads} threads ${label}`);
        }
        const keys = jit.stats().keys.filter((k) => k.key.endsWith("nhwc"));
        assert.ok(
          keys.length > 0 && keys.every((k) => k.plan!.includes(`${level} depthwise NHWC`)),
        );
        // Both orders ran, and channels shifted onto x's lines; at AVX2 calls of fewer than 8
        // channels went through NCHW (no NHWC key).
        assert.ok(keys.some((k) => k.plan!.includes("every channel a tile")));
        assert.ok(keys.some((k) => k.plan!.includes("each channel sweeping")));
        assert.ok(keys.some((k) => k.plan!.includes("on x's lines")));
        if (level === "avx2") {
          const channels = keys.map((k) => Number(k.key.match(/^conv2d \d+×(\d+)×/)![1]));
          assert.ok(channels.every((c) => c >= 8), `avx2 NHWC keys of ${channels}`);
        }
        if (threads > 1) {
          assert.ok(keys.some((k) => k.parts > 1), "no NHWC depthwise call was split");
        }
      }
    },
  });
}

for (const level of LEVELS) {
  Deno.test({
    name:
      `conv2d ${level}: NHWC depthwise with ±Inf weights meets the padding (NaN there, the NCHW bits)`,
    fn: () => {
      const r = rng(2501);
      using jit = new Jit({ maxIsa: level, threads: 1, tuneBudget: 0 });
      // Channel 0's tap (0, 0) is +Inf: every output whose top-left tap lies in the padding is NaN.
      const o = CASES[0];
      for (const packed of [false, true]) {
        const { nhwc, nchw, label } = both(jit, o, r, { packed, offsets: [4, 4], finite: false });
        assert.ok(Number.isNaN(nhwc[0]), `${label}: the corner is ${nhwc[0]}`);
        assert.equal(firstDifference(nhwc, nchw), -1, label);
      }
    },
  });
}

for (const level of LEVELS) {
  Deno.test({
    name: `conv2d ${level}: every tier-2 candidate of an NHWC depthwise call gives the same bits`,
    fn: () => {
      const r = rng(2502);
      for (const o of [CASES[0], CASES[1], CASES[2]]) {
        using jit = new Jit({ maxIsa: level, threads: 1 });
        const s = convSpecOf({ ...o, outChannels: o.c, group: o.c }), sizes = convSizes(s);
        const x = toNhwc(placed(sizes.x, 0, r), s.n, s.c, s.h * s.w);
        const w = placed(sizes.w, 0, r), bias = placed(s.c, 0, r);
        const opts = {
          ...o,
          outChannels: o.c,
          group: o.c,
          bias,
          activation: "relu" as const,
          layout: "nhwc" as const,
        };
        const packed = jit.packConvWeights(w, {
          outChannels: o.c,
          c: o.c,
          kernel: o.kernel,
          group: o.c,
        });
        // The plain call (tier 1, w transposed per call) is the bits every candidate must give.
        const want = new Float32Array(sizes.y), y = new Float32Array(sizes.y);
        using plain = new Jit({ maxIsa: level, threads: 1, tuneBudget: 0 });
        plain.conv2d(x, w, want, opts);
        const ran = tuneCheckingBits(
          jit,
          () => jit.conv2d(x, packed, y, opts),
          y,
          want,
          JSON.stringify(o),
        );
        assert.ok(ran.some((p) => p.includes("every channel a tile")), ran.join("; "));
        assert.ok(ran.some((p) => p.includes("each channel sweeping")), ran.join("; "));
        assert.ok(new Set(ran.map((p) => p.match(/(\d+) rows ×/)?.[1])).size >= 3, ran.join("; "));
      }
    },
  });
}

for (const level of LEVELS) {
  Deno.test({
    name:
      `conv2d ${level}: packed depthwise weights of 16 channels split over groups give one thread's bits (NCHW and NHWC)`,
    fn: () => {
      // 12 parts over 16 groups: parts of one group, whose spec once took the channel-vector
      // kernel (one group, 16 lanes) and read the whole call's tap-major copy as its own.
      const r = rng(2503);
      const o = {
        n: 3,
        c: 16,
        h: 26,
        w: 8,
        outChannels: 16,
        group: 16,
        kernel: [1, 7],
        strides: [3, 3],
        pads: [0, 3, 2, 2],
        dilations: [3, 1],
      };
      const s = convSpecOf(o), sizes = convSizes(s);
      const x = placed(sizes.x, 0, r), w = placed(sizes.w, 0, r);
      for (const layout of ["nchw", "nhwc"] as const) {
        const ys = [1, 3].map((threads) => {
          using jit = new Jit({ maxIsa: level, threads, minPartUs: 0, tuneBudget: 0 });
          const packed = jit.packConvWeights(w, {
            outChannels: 16,
            c: 16,
            kernel: o.kernel,
            group: 16,
          });
          const y = new Float32Array(sizes.y);
          jit.conv2d(x, packed, y, { ...o, layout, activation: "gelu" });
          if (threads > 1) assert.ok(jit.stats().keys.some((k) => k.parts > 1), layout);
          return y;
        });
        assert.equal(firstDifference(ys[1], ys[0]), -1, layout);
      }
    },
  });
}

Deno.test({
  name:
    "conv2d avx512: NCHW depthwise at stride 2 and dilation 3 builds its own kernel (its row tile within the registers)",
  ignore: !AVX512,
  fn: () => {
    // Rows of 4 vectors at stride 2 took 2 output rows a tile whatever the dilation: 9 input
    // rows' pointers, one more than the registers, and the key fell back to a scalar plan.
    const o = {
      n: 1,
      c: 15,
      h: 18,
      w: 112,
      outChannels: 15,
      group: 15,
      kernel: [3, 2],
      strides: [2, 2],
      pads: [3, 0, 3, 0],
      dilations: [3, 1],
    };
    using jit = new Jit({ maxIsa: "avx512", threads: 1, tuneBudget: 0 });
    const s = convSpecOf(o), sizes = convSizes(s), r = rng(2504);
    const x = placed(sizes.x, 0, r), w = placed(sizes.w, 0, r);
    jit.conv2d(x, w, new Float32Array(sizes.y), o);
    const key = jit.stats().keys.find((k) => k.key.startsWith("conv2d"))!;
    assert.match(key.plan!, /^avx512 depthwise 1 rows/);
  },
});

Deno.test("conv2d plans: NHWC depthwise on a core that prefers tiles takes every channel a tile where x is past L2, else as elsewhere", () => {
  const l2 = 2 << 20;
  const tile = (c: number, h: number, stride: number, tilesPastL2: boolean) => {
    const s = { ...depthwise3x3Spec(c, h, stride), nhwc: true };
    return depthwiseNhwcTile(s, convGeometry(s), 0, l2, "avx512", tilesPastL2).channelsInner;
  };
  // 112² × 96 at stride 2 (4.8 MB of x): tiles where the core prefers them, sweeps elsewhere.
  assert.equal(tile(96, 112, 2, true), true);
  assert.equal(tile(96, 112, 2, false), false);
  // 56² × 144 at stride 2 (1.8 MB, within L2): sweeps either way.
  assert.equal(tile(144, 56, 2, true), false);
  // Stride 1 on rows past 16 positions: tiles either way; on 14² sweeps either way.
  assert.equal(tile(32, 112, 1, false), true);
  assert.equal(tile(576, 14, 1, true), false);
});
