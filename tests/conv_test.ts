import assert from "node:assert/strict";
import { isaLevel, Jit, type UnaryOp } from "../mod.ts";
import {
  cpuFeatures,
  embedsLoneBroadcast,
  levelsUpTo,
  prefersEmbeddedBroadcast,
} from "../src/cpu.ts";
import { planConv } from "../src/kernels/conv/plan.ts";
import type { VecLevel } from "../src/kernels/vec.ts";
import { CONV } from "../src/kernels/conv/family.ts";
import { CV_LANES } from "../src/kernels/conv/channel_vectors.ts";
import { depthwiseChain } from "./helpers/fma_chain.ts";
import { decodeConvKey, readConv } from "../src/kernels/conv/read.ts";
import { UNARY_OPS } from "../src/kernels/unary/ops.ts";
import {
  convSizes,
  convSpecOf,
  convWant,
  depthwise3x3Spec,
  firstDifference,
  randomConv,
  toNhwc,
  tuneCheckingBits,
} from "./helpers/conv.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** Small integers: every sum of products is exact in f32, so results are exact. */
function ints(r: () => number, n: number, lo: number, hi: number): Float32Array {
  return new Float32Array(n).map(() => int(r, lo, hi));
}

for (const isa of LEVELS) {
  Deno.test(`conv2d ${isa}: seeded configurations equal the f64 reference bit for bit on small integers`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 1200 + LEVELS.indexOf(isa);
    const r = rng(seed);
    const modes = new Set<string>();
    // Random cases, then one of each store path: unpadded 1×1 (x read as is), unpadded 3×3
    // (x as is, pitched rows), padded (planes).
    const fixed = [
      { n: 1, c: 5, h: 9, w: 21, outChannels: 7, kernel: [1, 1] },
      { n: 2, c: 3, h: 8, w: 19, outChannels: 4, kernel: [3, 3] },
      { n: 1, c: 2, h: 6, w: 37, outChannels: 9, kernel: [3, 3], pads: [1, 1, 1, 1] },
      // Depthwise, x read in place at AVX-512: padded, 25 taps dilated, unpadded, tiny rows.
      { n: 2, c: 5, h: 11, w: 37, outChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1], group: 5 },
      {
        n: 1,
        c: 3,
        h: 13,
        w: 21,
        outChannels: 3,
        kernel: [5, 5],
        dilations: [2, 2],
        pads: [4, 3, 4, 5],
        group: 3,
      },
      { n: 1, c: 4, h: 9, w: 40, outChannels: 4, kernel: [3, 2], group: 4 },
      { n: 1, c: 6, h: 17, w: 3, outChannels: 6, kernel: [3, 3], pads: [2, 1, 0, 1], group: 6 },
    ];
    for (let t = 0; t < 80 + fixed.length; t++) {
      const o = t < 80 ? randomConv(r) : fixed[t - 80];
      const s = convSpecOf(o);
      const sizes = convSizes(s);
      const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
      const bias = r() < 0.5 ? ints(r, s.oc, -4, 4) : undefined;
      const residual = r() < 0.5 ? ints(r, sizes.y, -5, 5) : undefined;
      const relu = r() < 0.3;
      const y = new Float32Array(sizes.y).fill(NaN);
      jit.conv2d(x, w, y, { ...o, bias, residual, activation: relu ? "relu" : undefined });
      const want = convWant(s, x, w, { bias, residual, relu });
      const at = firstDifference(y, want);
      if (at >= 0) {
        assert.fail(
          `${isa} seed ${seed} case ${t} ${
            JSON.stringify(o)
          } bias ${!!bias} residual ${!!residual}: ` +
            `y[${at}] = ${y[at]}, reference ${want[at]}`,
        );
      }
    }
    for (const k of jit.stats().keys) {
      assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
      modes.add(
        k.plan!.includes("table") ? "table" : k.plan!.includes("planes") ? "planes" : "direct",
      );
    }
    // The three ways a tile reaches memory were all exercised.
    const expected = isa === "avx2" || isa === "avx512"
      ? ["table", "planes", "direct"]
      : ["planes", "direct"];
    for (const m of expected) assert.ok(modes.has(m), `${isa}: no ${m} plan among the cases`);
  });

  Deno.test(`conv2d ${isa}: a ±Inf or NaN weight gives the f64 reference's bits, NaN where it meets the padding`, () => {
    // ONNX pads x with zeros, and 0·±Inf is NaN: the reference (what a Jit without native
    // code runs) multiplies the padding too, as every kernel does, plain or packed.
    using jit = new Jit({ maxIsa: isa, threads: 1, tuneBudget: 0 });
    const seed = 1250 + LEVELS.indexOf(isa);
    const r = rng(seed);
    let padded = 0;
    // Random configurations, then depthwise ones of 16-48 channels on small planes (the
    // AVX-512 depthwise kernels, whose taps can lie wholly in the padding).
    const depthwise = () => {
      for (;;) {
        const c = pick(r, [16, 32, 33, 48]), kh = int(r, 1, 7);
        const o = {
          n: int(r, 1, 2),
          c,
          h: int(r, 1, 12),
          w: pick(r, [int(r, 1, 8), int(r, 9, 40), 17, 33, 34]),
          outChannels: c,
          kernel: [kh, pick(r, [kh, int(r, 1, 7)])],
          strides: [int(r, 1, 2), int(r, 1, 2)],
          pads: [int(r, 0, 3), int(r, 0, 3), int(r, 0, 3), int(r, 0, 3)],
          dilations: [pick(r, [1, 1, 2, 3]), pick(r, [1, 1, 2, 3])],
          group: c,
        };
        const s = convSpecOf(o);
        if (s.rowEnd >= 1 && convSizes(s).y >= 1) return o;
      }
    };
    for (let t = 0; t < 80; t++) {
      const o = t < 40 ? randomConv(r) : depthwise();
      const s = convSpecOf(o);
      const sizes = convSizes(s);
      const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
      w[int(r, 0, w.length - 1)] = pick(r, [Infinity, -Infinity, NaN]);
      const want = convWant(s, x, w, {});
      if (s.pt + s.pl + s.pb + s.pr > 0 && want.some((v) => Number.isNaN(v))) padded++;
      for (const packed of [false, true]) {
        const y = new Float32Array(sizes.y).fill(7);
        const wt = packed
          ? jit.packConvWeights(w, { outChannels: s.oc, c: s.c, kernel: o.kernel, group: o.group })
          : w;
        jit.conv2d(x, wt, y, o);
        const at = firstDifference(y, want);
        if (at >= 0) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${JSON.stringify(o)} packed ${packed}: ` +
              `y[${at}] = ${y[at]}, reference ${want[at]}`,
          );
        }
      }
    }
    assert.ok(padded >= 20, `only ${padded} padded cases met a non-finite weight`);
  });

  Deno.test(`conv2d ${isa}: float inputs within the reduction's rounding of the f64 reference`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 1300 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 40; t++) {
      const o = randomConv(r);
      const s = convSpecOf(o);
      const sizes = convSizes(s);
      const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
      const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
      const bias = new Float32Array(s.oc).map(() => r() - 0.5);
      const y = new Float32Array(sizes.y);
      jit.conv2d(x, w, y, { ...o, bias });
      const want = convWant(s, x, w, { bias });
      // Each output is a chain of K = c/group·kh·kw FMAs of terms below 1 in magnitude.
      const k = (s.c / s.group) * s.kh * s.kw;
      const tol = (k + 2) * 2 ** -23 * k;
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i] - want[i]) <= tol)) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${JSON.stringify(o)}: y[${i}] = ${y[i]}, reference ${
              want[i]
            }`,
          );
        }
      }
    }
  });

  Deno.test(`conv2d ${isa}: a fused activation gives the bits of jit.unary on the conv's output`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(1400);
    // Padded (a pitched store: the table at AVX2/AVX-512) and unpadded with a tail.
    const configs = [
      { n: 1, c: 3, h: 9, w: 11, outChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { n: 2, c: 4, h: 5, w: 7, outChannels: 7, kernel: [1, 1] },
    ];
    for (const o of configs) {
      const s = convSpecOf(o);
      const sizes = convSizes(s);
      const x = new Float32Array(sizes.x).map(() => (r() * 8 - 4) / 4);
      const w = new Float32Array(sizes.w).map(() => (r() * 8 - 4) / 8);
      const bias = new Float32Array(s.oc).map(() => r() - 0.5);
      const residual = new Float32Array(sizes.y).map(() => r() - 0.5);
      const plain = new Float32Array(sizes.y);
      jit.conv2d(x, w, plain, { ...o, bias, residual });
      for (const def of UNARY_OPS) {
        const op = def.name as UnaryOp;
        const fused = new Float32Array(sizes.y), separate = new Float32Array(sizes.y);
        jit.conv2d(x, w, fused, { ...o, bias, residual, activation: op });
        jit.unary(op, plain, separate);
        const at = firstDifference(fused, separate);
        assert.equal(
          at,
          -1,
          `${isa} ${op} ${JSON.stringify(o)}: [${at}] ${fused[at]} vs ${separate[at]}`,
        );
      }
    }
  });
}

Deno.test("conv2d plans: of two tiles the estimate ties, the narrower where the wider's x window would leave half of L1", () => {
  // 4×96 and 6×64 tie (24 accumulators, the same k-step cost); 1×1 layers read 7 and 5 lines
  // of every input channel per position tile. 96 inputs: 43 KB or 31 KB, neither within 24 KB
  // (half of a 48 KB L1): the narrower. 16 inputs: 7 KB, the wider as before.
  // (An L2 of 2 MiB holds x here: past it, fewestPasses decides among the ties, below.)
  const plan = (c: number, hw: number, oc: number, l1d = 48 << 10, l2 = 2 << 20) =>
    planConv(
      convSpecOf({ n: 1, c, h: hw, w: hw, outChannels: oc, kernel: [1, 1], activation: "relu" }),
      "avx512",
      { l1d, l2 },
    ).description;
  assert.match(plan(96, 56, 24), /tile 6×64 runs/);
  assert.match(plan(64, 112, 16, 48 << 10, 4 << 20), /tile 6×64 runs/);
  assert.match(plan(16, 112, 96), /tile 4×96 runs/);
  assert.match(plan(32, 112, 16, 48 << 10, 4 << 20), /tile 4×96 runs/);
  // A larger L1 holds the 96 inputs' window of the wider tile.
  assert.match(plan(96, 56, 24, 96 << 10), /tile 4×96 runs/);
});

Deno.test("conv2d plans: a 1×1 layer of 64 inputs or more whose x is past L2 takes the near-tied tile of the fewest channel tiles", () => {
  const plan = (c: number, hw: number, oc: number) =>
    planConv(
      convSpecOf({ n: 1, c, h: hw, w: hw, outChannels: oc, kernel: [1, 1], activation: "relu" }),
      "avx512",
      { l1d: 48 << 10, l2: 1 << 20 },
    ).description;
  // 24 and 32 output channels: 8×48 in 3 and 4 passes over x, where 6×64 took 4 and 6.
  assert.match(plan(96, 56, 24), /tile 8×48 runs/); // x 1.2 MB
  assert.match(plan(96, 56, 32), /tile 8×48 runs/);
  assert.match(plan(192, 56, 24), /tile 8×48 runs/);
  // Few inputs, or x within L2: the estimate's first.
  assert.match(plan(32, 112, 16), /tile 4×96 runs/); // 32 inputs, x 1.6 MB
  assert.match(plan(64, 56, 24), /tile 6×64 runs/); // x 803 KB
});

Deno.test("conv2d plans: a 1×1 tile fetches x tiles ahead where x outgrows half of L2", () => {
  const plan = (c: number, hw: number, k = 1, nextX?: boolean) =>
    planConv(
      convSpecOf({ n: 1, c, h: hw, w: hw, outChannels: 24, kernel: [k, k], activation: "relu" }),
      "avx512",
      { l1d: 48 << 10, l2: 1 << 20 },
      nextX === undefined ? undefined : { mode: "runs", mr: 6, ng: 4, l2: 1 << 20, nextX },
    ).description;
  assert.match(plan(96, 56), /tile 8×48 runs, x 2 tiles ahead to L1$/); // 1.2 MB
  assert.doesNotMatch(plan(32, 56), /tiles ahead/); // 401 KB: in cache
  assert.doesNotMatch(plan(96, 56, 3), /tiles ahead/); // 3×3: planes
  // Tier 2's choice either way.
  assert.doesNotMatch(plan(96, 56, 1, false), /tiles ahead/);
  assert.match(plan(32, 56, 1, true), /x 2 tiles ahead to L1$/);
});

for (const isa of LEVELS) {
  Deno.test(`conv2d ${isa}: 1×1 tiles fetching x tiles ahead keep the f64 reference's bits`, () => {
    using jit = new Jit({ maxIsa: isa, tuneBudget: 0 });
    const seed = 1950 + LEVELS.indexOf(isa);
    const r = rng(seed);
    // x 1.7 MB (past half of any L2 here). Output channels: channel tiles at least the lines
    // of a position tile (a line each), fewer (the first lines only), one partial tile.
    for (const oc of [24, 9, 2]) {
      const o = { n: 1, c: 48, h: 96, w: 96, outChannels: oc, kernel: [1, 1] as [number, number] };
      const s = convSpecOf(o);
      const sizes = convSizes(s);
      const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2), bias = ints(r, oc, -4, 4);
      const y = new Float32Array(sizes.y).fill(NaN);
      jit.conv2d(x, w, y, { ...o, bias, activation: "relu" });
      const want = convWant(s, x, w, { bias, relu: true });
      const at = firstDifference(y, want);
      assert.equal(
        at,
        -1,
        `${isa} seed ${seed} oc ${oc}: y[${at}] = ${y[at]}, reference ${want[at]}`,
      );
    }
    const plans = jit.stats().keys.map((k) => k.plan ?? "");
    assert.equal(plans.length, 3);
    for (const p of plans) assert.match(p, /x 2 tiles ahead to L1/, isa);
  });
}

/**
 * `length` floats starting `at` floats past a cache line (a Float32Array's own start is 16
 * bytes past a page or on a line).
 */
function pastLine(length: number, at: number): Float32Array {
  const buf = new Float32Array(length + 32);
  const address = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  const first = ((64 - (address % 64)) % 64) / 4;
  return buf.subarray(first + at, first + at + length);
}

Deno.test("conv2d keys: x's place in its line is keyed only where a kernel reads it (1×1, stride 1, no padding, 64 steps or more)", () => {
  using jit = new Jit({ threads: 1 });
  const r = rng(1980);
  const call = (c: number, k: number, pad: number, at: number) => {
    const o = {
      n: 1,
      c,
      h: 16,
      w: 16,
      outChannels: 8,
      kernel: [k, k] as [number, number],
      pads: [pad, pad, pad, pad],
    };
    const s = convSpecOf(o), sizes = convSizes(s);
    const x = pastLine(sizes.x, at);
    x.set(ints(r, sizes.x, -2, 2));
    const w = ints(r, sizes.w, -2, 2), y = new Float32Array(sizes.y);
    jit.conv2d(x, w, y, o);
    assert.equal(firstDifference(y, convWant(s, x, w, {})), -1, `${c} ${k}×${k} at ${at}`);
  };
  const keys = (c: number) =>
    jit.stats().keys.filter((k) => k.key.startsWith(`conv2d 1×${c}×16×16 `)).map((k) => k.key);
  for (const at of [0, 4, 8]) call(64, 3, 1, at); // padded 3×3: planes, no head
  for (const at of [0, 4, 8]) call(32, 1, 0, at); // a k loop of 32: no head
  for (const at of [0, 4, 8]) call(64, 1, 0, at); // 1×1 of 64 inputs in place: the head
  assert.equal(keys(64).filter((k) => k.includes("k3×3")).length, 1, keys(64).join("; "));
  assert.equal(keys(32).length, 1, keys(32).join("; "));
  assert.deepEqual(
    keys(64).filter((k) => k.includes("k1×1")).map((k) => / xline=(\d+)/.exec(k)?.[1] ?? "0")
      .sort(),
    ["0", "4", "8"],
  );
});

Deno.test("convTranspose2d keys: x's place in its line is keyed only where the convolution reads x in place (1×1, strides 1, no pads, 64 steps or more)", () => {
  using jit = new Jit({ threads: 1 });
  const r = rng(1990);
  const call = (c: number, k: number, stride: number, at: number) => {
    const o = {
      n: 1,
      c,
      h: 16,
      w: 16,
      outChannels: 8,
      kernel: [k, k] as [number, number],
      strides: [stride, stride] as [number, number],
    };
    const oh = stride * 15 + k;
    const x = pastLine(c * 256, at);
    x.set(ints(r, c * 256, -2, 2));
    const w = ints(r, c * 8 * k * k, -2, 2);
    const y = new Float32Array(8 * oh * oh), want = new Float32Array(8 * oh * oh);
    jit.convTranspose2d(x, w, y, o);
    jit.convTranspose2d(x.slice(), w, want, o); // a fresh array: its own offset
    assert.equal(firstDifference(y, want), -1, `${c} ${k}×${k}/${stride} at ${at}`);
  };
  const keys = (c: number, k: number) =>
    jit.stats().keys.filter((key) => key.key.startsWith(`convTranspose2d 1×${c}×16×16 `))
      .filter((key) => key.key.includes(` k${k}×${k}`)).map((key) => key.key);
  for (const at of [0, 4, 8]) call(64, 2, 2, at); // by output phases: never keyed
  for (const at of [0, 4, 8]) call(64, 1, 1, at); // a 1×1 of 64 inputs in place: keyed
  assert.equal(keys(64, 2).length, 1, keys(64, 2).join("; "));
  assert.ok(keys(64, 1).length >= 3, keys(64, 1).join("; "));
});

Deno.test("conv2d plans: a 1×1 layer of 64 inputs or more runs channel tiles outside where y outgrows L2 and x fits half of it", () => {
  const plan = (c: number, hw: number, oc: number, k = 1, outside?: boolean) =>
    planConv(
      convSpecOf({ n: 1, c, h: hw, w: hw, outChannels: oc, kernel: [k, k], activation: "relu" }),
      "avx512",
      { l1d: 48 << 10, l2: 2 << 20 },
      outside === undefined
        ? undefined
        : { mode: "runs", mr: 6, ng: 4, l2: 2 << 20, channelTilesOutside: outside },
    ).description;
  assert.match(plan(64, 56, 256), /, channel tiles outside/); // y 3.2 MB, x 803 KB
  assert.doesNotMatch(plan(48, 56, 256), /outside/); // a k loop of 48
  assert.doesNotMatch(plan(64, 40, 256), /outside/); // y 1.6 MB: within L2
  assert.doesNotMatch(plan(128, 56, 256), /outside/); // x 1.6 MB: past half of L2
  assert.doesNotMatch(plan(64, 56, 256, 3), /outside/); // 3×3
  // Tier 2's choice either way.
  assert.doesNotMatch(plan(64, 56, 256, 1, false), /outside/);
  assert.match(plan(48, 56, 256, 1, true), /, channel tiles outside/);
});

Deno.test("conv2d plans: at AVX2 on a core that says so, a 1×1 layer of under 32 inputs runs channel tiles outside where an image's y is past four L2s", () => {
  const plan = (
    n: number,
    c: number,
    hw: number,
    oc: number,
    short = true,
    level: VecLevel = "avx2",
  ) =>
    planConv(
      convSpecOf({ n, c, h: hw, w: hw, outChannels: oc, kernel: [1, 1], activation: "clip" }),
      level,
      { l1d: 32 << 10, l2: 512 << 10, shortChannelTilesOutside: short },
    ).description;
  assert.match(plan(1, 16, 112, 96), /, channel tiles outside/); // y 4.8 MB
  assert.match(plan(1, 24, 112, 144), /, channel tiles outside/); // y 7.2 MB
  assert.match(plan(2, 16, 112, 96), /, channel tiles outside/);
  assert.doesNotMatch(plan(1, 16, 56, 96), /outside/); // y 1.2 MB: within four L2s
  assert.doesNotMatch(plan(4, 16, 56, 96), /outside/); // 4.8 MB in all, 1.2 MB an image
  assert.doesNotMatch(plan(1, 32, 112, 64), /outside/); // a k loop of 32
  assert.doesNotMatch(plan(1, 16, 112, 96, false), /outside/); // a core that does not
  assert.doesNotMatch(plan(1, 16, 112, 96, true, "avx512"), /outside/); // not measured there
});

/**
 * The AVX-512 plan of a first layer on 224² (c → oc, k×k at `stride`, relu, its weights packed
 * as a model holds them), on a core whose broadcasts `caches` says.
 */
function firstLayerPlan(
  c: number,
  oc: number,
  k: number,
  stride: number,
  caches: { embedBroadcast?: boolean; embedLoneBroadcast?: boolean },
): string {
  return planConv(
    {
      ...convSpecOf({
        n: 1,
        c,
        h: 224,
        w: 224,
        outChannels: oc,
        kernel: [k, k],
        strides: [stride, stride],
        pads: Array(4).fill(k >> 1),
        activation: "relu",
      }),
      wLanes: CV_LANES,
    },
    "avx512",
    { l1d: 48 << 10, l2: 2 << 20, ...caches },
  ).description;
}

Deno.test("conv2d plans: a first layer's 5×5 or wider kernel at a stride runs one vector of channels × 16 columns (AVX-512)", () => {
  // A core that takes a broadcast inside the FMA (Intel's Sapphire Rapids).
  const plan = (c: number, oc: number, k: number, stride: number) =>
    firstLayerPlan(c, oc, k, stride, { embedBroadcast: true });
  assert.match(plan(3, 64, 7, 2), /channel vectors 16 columns × 16 channels/); // ResNet's conv1
  assert.match(plan(4, 32, 5, 2), /channel vectors 16 columns × 16 channels/);
  assert.doesNotMatch(plan(3, 32, 3, 2), /channel vectors/); // 3×3: the tile kernel
  assert.doesNotMatch(plan(3, 64, 7, 1), /channel vectors/); // stride 1
  assert.doesNotMatch(plan(5, 64, 7, 2), /16 columns × 16 channels/); // 5 inputs
  // Elsewhere (AMD: the rule is measured on Intel).
  assert.doesNotMatch(
    firstLayerPlan(3, 64, 7, 2, { embedBroadcast: false }),
    /16 columns × 16 channels/,
  );
});

Deno.test("conv2d plans: a first layer's strided K×K of 16 output channels runs a one-vector channel tile where lone broadcasts embed (AVX-512)", () => {
  const plan = (c: number, oc: number, k: number, stride: number, lone: boolean) =>
    firstLayerPlan(c, oc, k, stride, { embedLoneBroadcast: lone });
  const lone = /channel vectors 16 columns × 16 channels.*broadcasts in the FMAs/;
  assert.match(plan(3, 16, 3, 2, true), lone); // MobileNetV3's stem
  assert.match(plan(4, 12, 5, 2, true), lone);
  assert.doesNotMatch(plan(3, 16, 3, 2, false), /channel vectors/); // AMD: the tile kernel
  assert.doesNotMatch(plan(3, 32, 3, 2, true), /channel vectors/); // two vectors: the tile kernel
  assert.doesNotMatch(plan(3, 16, 3, 1, true), /channel vectors/); // stride 1: the tile kernel
});

// The rule's kernel against the f64 reference on small integers, whole and split over 3 threads.
Deno.test("conv2d avx512: a first layer's 7×7/2 and 5×5/2 on channel vectors (and tier 2's candidates around them) keep the f64 reference's bits", () => {
  if (!LEVELS.includes("avx512")) return; // the rule is AVX-512's
  const r = rng(1970);
  for (const threads of [1, 3]) {
    using jit = new Jit({ maxIsa: "avx512", threads, minPartUs: 0, tuneBudget: 0 });
    for (
      const o of [
        { c: 3, h: 61, w: 67, outChannels: 40, k: 7, pad: 3 },
        { c: 2, h: 38, w: 45, outChannels: 16, k: 5, pad: 1 },
      ]
    ) {
      const opts = {
        n: 2,
        c: o.c,
        h: o.h,
        w: o.w,
        outChannels: o.outChannels,
        kernel: [o.k, o.k] as [number, number],
        strides: [2, 2] as [number, number],
        pads: [o.pad, o.pad, o.pad + 1, o.pad],
      };
      const s = convSpecOf(opts);
      const sizes = convSizes(s);
      const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
      const bias = ints(r, o.outChannels, -4, 4), residual = ints(r, sizes.y, -4, 4);
      const want = convWant(s, x, w, { bias, residual, relu: true });
      const y = new Float32Array(sizes.y).fill(NaN);
      const packed = jit.packConvWeights(w, {
        outChannels: o.outChannels,
        c: o.c,
        kernel: opts.kernel,
      });
      jit.conv2d(x, packed, y, { ...opts, bias, residual, activation: "relu" });
      const at = firstDifference(y, want);
      assert.equal(
        at,
        -1,
        `${threads} threads ${JSON.stringify(o)}: y[${at}] = ${y[at]}, want ${want[at]}`,
      );
    }
    // The rule's kernel where the core takes a broadcast inside the FMA (Sapphire Rapids), else
    // the tile kernel's: the same bits either way. The 16-channel layer's one-vector tile also
    // comes from tier 1's estimate where the core embeds a lone broadcast (Intel): as fast as
    // the tile kernel's FMAs there.
    const keys = jit.stats().keys;
    const f = cpuFeatures(), rule = prefersEmbeddedBroadcast(f);
    for (const [outChannels, cv] of [[40, rule], [16, rule || embedsLoneBroadcast(f)]] as const) {
      const key = keys.find((k) => k.key.includes(`→ ${outChannels}×`));
      assert.ok(key?.plan, keys.map((k) => k.key).join("; "));
      const p = key.plan;
      assert.equal(/channel vectors \d+ columns × 16 channels/.test(p), cv, `${outChannels}: ${p}`);
    }
  }
  // Tier 2's candidates around the rule's tile (its prefetches and broadcasts either way, the
  // tile kernel's tiles): the same bits.
  using tuned = new Jit({ maxIsa: "avx512", threads: 1 });
  const opts = {
    n: 1,
    c: 3,
    h: 47,
    w: 53,
    outChannels: 24,
    kernel: [7, 7] as [number, number],
    strides: [2, 2] as [number, number],
    pads: [3, 3, 3, 3],
  };
  const s = convSpecOf(opts), sizes = convSizes(s);
  const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2), bias = ints(r, 24, -4, 4);
  const want = convWant(s, x, w, { bias, relu: true });
  const packed = tuned.packConvWeights(w, { outChannels: 24, c: 3, kernel: opts.kernel });
  const y = new Float32Array(sizes.y);
  const ran = tuneCheckingBits(
    tuned,
    () => tuned.conv2d(x, packed, y, { ...opts, bias, activation: "relu" }),
    y,
    want,
    "first layer 7×7/2 tuned",
  );
  assert.ok(
    ran.some((p) => /\d+ columns × 16 channels, x in place, next tile/.test(p)),
    ran.join("; "),
  );
  assert.ok(ran.some((p) => /^avx512 tile/.test(p)), ran.join("; "));
});

// (A scalar plan has no tier-2 candidates.)
for (const isa of LEVELS.filter((l) => l !== "scalar")) {
  Deno.test(`conv2d ${isa}: 1×1 channel tiles outside or inside keep the f64 reference's bits`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const seed = 1960 + LEVELS.indexOf(isa);
    const r = rng(seed);
    // y 1.6 MB (past half of any L2 here: tier 1 or its candidate runs the channel tiles
    // outside); 100 output channels: a partial channel tile; a residual and relu.
    const o = { n: 1, c: 64, h: 64, w: 64, outChannels: 100, kernel: [1, 1] as [number, number] };
    const s = convSpecOf(o);
    const sizes = convSizes(s);
    const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
    const bias = ints(r, o.outChannels, -4, 4), residual = ints(r, sizes.y, -4, 4);
    const want = convWant(s, x, w, { bias, residual, relu: true });
    const y = new Float32Array(sizes.y);
    const opts = { ...o, bias, residual, activation: "relu" as const };
    const ran = tuneCheckingBits(
      jit,
      () => jit.conv2d(x, w, y, opts),
      y,
      want,
      `${isa} seed ${seed}`,
    );
    assert.ok(ran.some((p) => p.includes("channel tiles outside")), `${isa}: ${ran.join("; ")}`);
    assert.ok(ran.some((p) => /tile .* runs/.test(p) && !p.includes("outside")), ran.join("; "));
    // Split over 3 threads (parts planned on their own: bands or channel blocks), the same bits.
    using three = new Jit({ maxIsa: isa, threads: 3, minPartUs: 0, tuneBudget: 0 });
    y.fill(NaN);
    three.conv2d(x, w, y, opts);
    const at = firstDifference(y, want);
    assert.equal(at, -1, `${isa} seed ${seed}, 3 threads: y[${at}] = ${y[at]}, want ${want[at]}`);
  });
}

Deno.test("conv2d: the reader resolves attributes as ONNX defines them (auto_pad included)", () => {
  const r = rng(1500);
  const key = new Int32Array(32), ext = new Float64Array(8);
  const check = (o: Parameters<typeof convSpecOf>[0]) => {
    const want = convSpecOf(o);
    const sizes = convSizes(want);
    readConv(
      new Float32Array(sizes.x),
      new Float32Array(sizes.w),
      new Float32Array(sizes.y),
      o,
      key,
      ext,
      [],
    );
    assert.deepEqual(decodeConvKey(key), want, JSON.stringify(o));
  };
  for (let t = 0; t < 200; t++) {
    const o = randomConv(r);
    check(o);
    for (const autoPad of ["SAME_UPPER", "SAME_LOWER", "VALID"] as const) {
      const { pads: _, ...rest } = o;
      const s = convSpecOf({ ...rest, autoPad });
      if (convSizes(s).y > 0) check({ ...rest, autoPad });
    }
  }
  // SAME keeps ceil(in/stride); the odd pad goes at the end (UPPER) or the start (LOWER).
  const base = { n: 1, c: 1, h: 6, w: 6, outChannels: 1, kernel: [4, 4] };
  const up = convSpecOf({ ...base, autoPad: "SAME_UPPER" }),
    low = convSpecOf({ ...base, autoPad: "SAME_LOWER" });
  assert.deepEqual([up.pt, up.pb, low.pt, low.pb, up.rowEnd], [1, 2, 2, 1, 6]);
});

Deno.test("conv2d: bit-identical on 1, 2 and 3 threads (parts over images, groups, channels, row bands)", () => {
  const r = rng(1600);
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  // Depthwise (split by groups), a small image with many channels (by output channels), fewer
  // groups than parts whose weights outweigh a group's planes (by groups), then random.
  const fixed = [
    { n: 1, c: 12, h: 9, w: 11, outChannels: 12, kernel: [3, 3], pads: [1, 1, 1, 1], group: 12 },
    { n: 1, c: 64, h: 7, w: 7, outChannels: 70, kernel: [3, 3], pads: [1, 1, 1, 1] },
    { n: 1, c: 96, h: 5, w: 5, outChannels: 96, kernel: [1, 1], group: 3 },
    // 1×1 bands cut as rows of 16 positions (see the next test).
    { n: 1, c: 32, h: 28, w: 28, outChannels: 20, kernel: [1, 1] },
    { n: 1, c: 8, h: 20, w: 24, outChannels: 6, kernel: [1, 1] },
  ];
  for (let t = 0; t < 32; t++) {
    const o = t < fixed.length ? fixed[t] : { ...randomConv(r), h: int(r, 4, 40) };
    if (convSpecOf(o).rowEnd < 1) continue;
    const s = convSpecOf(o);
    const sizes = convSizes(s);
    const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
    const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
    const bias = new Float32Array(s.oc).map(() => r());
    const residual = new Float32Array(sizes.y).map(() => r());
    const opts = {
      ...o,
      bias,
      residual,
      activation: pick(r, ["gelu", "relu", undefined] as const),
    };
    const ys = [one, two, three].map((j) => {
      const y = new Float32Array(sizes.y);
      j.conv2d(x, w, y, opts);
      return y;
    });
    assert.equal(firstDifference(ys[1], ys[0]), -1, `2 threads, case ${t} ${JSON.stringify(o)}`);
    assert.equal(firstDifference(ys[2], ys[0]), -1, `3 threads, case ${t} ${JSON.stringify(o)}`);
  }
  const parts = three.stats().keys.map((k) => k.parts);
  assert.ok(parts.some((p) => p > 1), "no call was split");
  // Packed weights, the channel-vector kernel split over channels: 160 and 96 channels are 5 and
  // 3 tiles of 32, shared out in vectors of 16 (80 + 80; 48 + 48 + 64), the last block of a part
  // one vector wide.
  for (const [c, oc] of [[128, 160], [64, 96], [48, 224]]) {
    const o = { n: 1, c, h: 14, w: 14, outChannels: oc, kernel: [3, 3], pads: [1, 1, 1, 1] };
    const x = new Float32Array(c * 196).map(() => r() * 2 - 1);
    const w = new Float32Array(oc * c * 9).map(() => r() * 2 - 1);
    const bias = new Float32Array(oc).map(() => r());
    const ys = [one, two, three].map((j) => {
      const y = new Float32Array(oc * 196);
      const packed = j.packConvWeights(w, { outChannels: oc, c, kernel: [3, 3] });
      j.conv2d(x, packed, y, { ...o, bias, activation: "relu" });
      return y;
    });
    assert.equal(firstDifference(ys[1], ys[0]), -1, `packed ${c}→${oc}, 2 threads`);
    assert.equal(firstDifference(ys[2], ys[0]), -1, `packed ${c}→${oc}, 3 threads`);
  }
  // (The channel-vector kernel is AVX-512's and AVX2's: below them the position kernel took
  // them, same bits.)
  if (three.isa === "avx512" || three.isa === "amx" || three.isa === "avx2") {
    const cv = three.stats().keys.filter((k) => k.plan?.includes("channel vectors") && k.parts > 1);
    assert.equal(cv.length, 3, three.report(40));
  }
});

Deno.test("conv2d parts: a 1×1 call's bands start on a line of every plane of y where its planes are whole lines", () => {
  const bandsOf = (o: Parameters<typeof convSpecOf>[0], parts: number) => {
    const s = convSpecOf(o);
    const split = CONV.partition!(s, planConv(s, "avx2"), parts)!;
    return split.map((p) => {
      const q = p.spec, width = q.w; // (1×1, stride 1: y's rows are x's)
      return { start: q.rowStart * width, count: (q.rowEnd - q.rowStart) * width, width };
    });
  };
  for (const parts of [2, 3]) {
    // 28-wide rows (112 bytes): cut as rows of 16; 784 positions in all, every band's first
    // position a multiple of 16 (its plane's lines start there: 784·4 bytes is whole lines).
    const b = bandsOf({ n: 1, c: 32, h: 28, w: 28, outChannels: 20, kernel: [1, 1] }, parts);
    assert.equal(b.length, parts);
    assert.ok(b.every((x) => x.width === 16 && x.start % 16 === 0), JSON.stringify(b));
    assert.equal(b.reduce((n, x) => n + x.count, 0), 784);
    assert.ok(b.every((x, i) => i === 0 || x.start === b[i - 1].start + b[i - 1].count));
  }
  // Rows of whole lines (32 wide), planes not of whole lines (5×5), a 3×3: rows as they are.
  for (
    const o of [
      { n: 1, c: 32, h: 28, w: 32, outChannels: 20, kernel: [1, 1] },
      { n: 1, c: 2, h: 5, w: 5, outChannels: 3, kernel: [1, 1] },
      { n: 1, c: 8, h: 28, w: 28, outChannels: 6, kernel: [3, 3], pads: [1, 1, 1, 1] },
    ]
  ) {
    const s = convSpecOf(o);
    for (const x of bandsOf(o, 2)) assert.equal(x.width, s.w, JSON.stringify(o));
  }
});

Deno.test("conv2d parts: an NCHW depthwise call splits in bands of 28 rows or more from 57 output rows, in groups of channels below", () => {
  const split = (c: number, h: number, stride: number) => {
    const s = depthwise3x3Spec(c, h, stride);
    const plan = planConv(s, "avx2");
    assert.ok(plan.depthwise, plan.description);
    return CONV.partition!(s, plan, 8)!.map((p) => p.spec);
  };
  // 192 on 28², 144 on 56² to 28² (stride 2): groups, whole planes each.
  for (const [c, h, stride] of [[192, 28, 1], [144, 56, 2]]) {
    const parts = split(c, h, stride);
    assert.ok(parts.length >= 2);
    assert.ok(parts.every((q) => q.group < c && q.rowStart === 0), `${c} on ${h}²`);
    assert.equal(parts.reduce((n, q) => n + q.group, 0), c);
  }
  // 32 on 112²: bands of rows, every channel each, 28 rows or more each (4 of the 8 asked).
  const bands = split(32, 112, 1);
  assert.ok(bands.length >= 2 && bands.every((q) => q.group === 32), "32 on 112²");
  assert.equal(bands.reduce((n, q) => n + q.rowEnd - q.rowStart, 0), 112);
  assert.equal(bands.length, 4);
  assert.ok(bands.every((q) => q.rowEnd - q.rowStart >= 28), JSON.stringify(bands));
});

Deno.test("conv2d depthwise: rows narrower than a vector over several tiles, stored whole into the band's later rows, keep the reference's bits on 1 and 3 threads", () => {
  // AVX2 stores a row's last vector whole where its lanes past the row land on rows the
  // band's later tiles store (conv/depthwise.ts); the band's last rows masked, since past
  // them lie another part's rows or the next channel's plane. Planes of 3-15 floats a row, of
  // 2-5 tiles, unrolled or in a loop (60 rows), split in groups and in bands of rows.
  const r = rng(7707);
  const cases = [
    { c: 16, h: 14, w: 14, strides: [2, 2] },
    { c: 16, h: 14, w: 14, strides: [1, 1] },
    { c: 24, h: 7, w: 7, strides: [1, 1] },
    { c: 9, h: 13, w: 5, strides: [1, 1] },
    { c: 8, h: 60, w: 3, strides: [1, 1] },
    { c: 3, h: 60, w: 15, strides: [2, 2] },
    { c: 5, h: 31, w: 9, strides: [2, 1] },
  ];
  for (const isa of LEVELS) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0 });
      for (const [t, o] of cases.entries()) {
        const opts = {
          n: 1,
          ...o,
          outChannels: o.c,
          group: o.c,
          kernel: [3, 3],
          pads: [1, 1, 1, 1],
        };
        const s = convSpecOf(opts), sizes = convSizes(s);
        const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2), bias = ints(r, o.c, -4, 4);
        const want = convWant(s, x, w, { bias, relu: true });
        // y beyond the call's elements: a view inside a larger buffer of NaN.
        const whole = new Float32Array(sizes.y + 16).fill(NaN), y = whole.subarray(0, sizes.y);
        jit.conv2d(x, w, y, { ...opts, bias, activation: "relu" });
        const at = firstDifference(y, want);
        const label = `${isa}, ${threads} threads, case ${t}`;
        assert.equal(at, -1, `${label}: y[${at}] = ${y[at]}, reference ${want[at]}`);
        assert.ok(whole.subarray(sizes.y).every(Number.isNaN), `${label}: nothing past y`);
      }
    }
  }
});

Deno.test("conv2d channel vectors: rows in pieces, padded and not, keep the reference's bits and nothing past y, tiles of every candidate, 1 and 3 threads", () => {
  // AVX2 stores a piece whole where its lanes run into the row's next piece, which a later
  // tile stores (conv/channel_vectors.ts rowTiles), and masks the row's last. (Storing that
  // one into the band's next row as well, branch tried/cv-rows-over, measured nothing:
  // `bench/ab.ts --conv 1,192,28,28,192,3,1` ×1.001.) Rows of 9-55 positions, padded (rows
  // reaching the padding emitted one by one) and not (inside rows in a loop), bands split
  // over 3 threads.
  const r = rng(7708);
  const cases = [
    { c: 8, h: 9, w: 55, outChannels: 16, pads: [1, 1, 1, 1] },
    { c: 16, h: 11, w: 20, outChannels: 32, pads: [0, 0, 0, 0] },
    { c: 8, h: 13, w: 13, outChannels: 24, pads: [1, 1, 1, 1] },
    { c: 12, h: 30, w: 28, outChannels: 16, pads: [1, 0, 1, 0] },
  ];
  for (const isa of LEVELS.filter((l) => l === "avx2" || l === "avx512")) {
    for (const threads of [1, 3]) {
      for (const [t, o] of cases.entries()) {
        using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0 });
        const opts = { n: 1, ...o, kernel: [3, 3] };
        const s = convSpecOf(opts), sizes = convSizes(s);
        const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
        const bias = ints(r, o.outChannels, -4, 4);
        const want = convWant(s, x, w, { bias, relu: true });
        const whole = new Float32Array(sizes.y + 16).fill(NaN), y = whole.subarray(0, sizes.y);
        const packed = jit.packConvWeights(w, {
          outChannels: o.outChannels,
          c: o.c,
          kernel: [3, 3],
        });
        const label = `${isa}, ${threads} threads, case ${t}`;
        const ran = tuneCheckingBits(
          jit,
          () => jit.conv2d(x, packed, y, { ...opts, bias, activation: "relu" }),
          y,
          want,
          label,
        );
        assert.ok(ran.some((p) => p.includes("channel vectors")), `${label}: ${ran.join("; ")}`);
        assert.ok(whole.subarray(sizes.y).every(Number.isNaN), `${label}: nothing past y`);
      }
    }
  }
});

Deno.test("conv2d: weights are packed by the process's packing Jit: none of the packing's kernels are a Jit's own, and a closed Jit's packing serves the next", () => {
  const r = rng(0x9ac4);
  const o = { n: 1, c: 24, h: 9, w: 9, outChannels: 40, kernel: [3, 3], pads: [1, 1, 1, 1] };
  const x = new Float32Array(24 * 81).map(() => r() * 2 - 1);
  const w = new Float32Array(40 * 24 * 9).map(() => r() * 2 - 1);
  const shape = { outChannels: 40, c: 24, kernel: [3, 3] };
  const ys = [0, 1].map(() => {
    const jit = new Jit();
    try {
      const packed = jit.packConvWeights(w, shape);
      assert.deepEqual(jit.stats().keys.map((k) => k.key), [], "packing compiled in the Jit");
      const y = new Float32Array(40 * 81);
      jit.conv2d(x, packed, y, o);
      return y;
    } finally {
      jit.close();
    }
  });
  const plain = new Float32Array(40 * 81);
  using jit = new Jit();
  jit.conv2d(x, w, plain, o);
  assert.equal(firstDifference(ys[1], ys[0]), -1, "the second Jit's packing");
  assert.equal(firstDifference(ys[0], plain), -1, "packed against plain weights");
});

Deno.test("conv2d: bad input throws naming the argument, before any native code runs", () => {
  using jit = new Jit();
  const o = { n: 1, c: 4, h: 5, w: 5, outChannels: 6, kernel: [3, 3], pads: [1, 1, 1, 1] };
  const x = new Float32Array(100), w = new Float32Array(6 * 4 * 9), y = new Float32Array(150);
  jit.conv2d(x, w, y, o); // the valid call
  const bad: [unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    [{ ...o, group: 3 }, /group=3 must divide c=4 and outChannels=6/, RangeError],
    [{ ...o, kernel: [8, 3] }, /the 8×3 kernel .* is larger than the padded 7×7 input/, RangeError],
    [{ ...o, kernel: [3] }, /kernel must have 2 elements, got 1/, RangeError],
    [{ ...o, kernel: undefined }, /kernel \[kh, kw\] is required/, TypeError],
    [
      { ...o, kernel: [3, 0] },
      /kernel\[1\] must be an integer in \[1, 16\], got number 0/,
      RangeError,
    ],
    [{ ...o, strides: [1, "2"] }, /strides\[1\] must be an integer/, TypeError],
    [{ ...o, dilations: [1, 1.5] }, /dilations\[1\] must be an integer/, RangeError],
    [
      { ...o, pads: [1, 1, 1, -1] },
      /pads\[3\] must be an integer in \[0, 4096\], got number -1/,
      RangeError,
    ],
    [{ ...o, autoPad: "SAME" }, /autoPad must be "NOTSET"/, RangeError],
    [{ ...o, autoPad: "VALID" }, /pads cannot be given with autoPad "VALID"/, RangeError],
    [
      { ...o, outChannels: 5 },
      /w has 216 elements but outChannels×c\/group×kh×kw = 5×4×3×3 needs 180/,
      RangeError,
    ],
    [{ ...o, h: 6 }, /x has 100 elements but n×c×h×w = 1×4×6×5 needs 120/, RangeError],
    [
      { ...o, pads: [0, 0, 0, 0] },
      /y has 150 elements but n×outChannels×oh×ow = 1×6×3×3 needs 54/,
      RangeError,
    ],
    [{ ...o, bias: new Float32Array(5) }, /bias has 5 elements; outChannels needs 6/, RangeError],
    [{ ...o, bias: [1, 2, 3, 4, 5, 6] }, /bias must be a Float32Array/, TypeError],
    [
      { ...o, residual: new Float32Array(149) },
      /residual has 149 elements; y's shape needs 150/,
      RangeError,
    ],
    [{ ...o, activation: "nope" }, /activation/, RangeError],
    [{ ...o, layout: "nwhc" }, /layout must be "nchw" or "nhwc", got string "nwhc"/, RangeError],
    [{ ...o, layout: 1 }, /layout must be "nchw" or "nhwc", got number 1/, TypeError],
    [{ ...o, n: 0 }, /n must be an integer in \[1, 16777216\], got number 0/, RangeError],
    [{ ...o, c: 2.5 }, /c must be an integer/, RangeError],
    [null, /options must be an object/, TypeError],
  ];
  for (const [opts, message, kind] of bad) {
    assert.throws(() => jit.conv2d(x, w, y, opts as never), (e: Error) => {
      assert.ok(e instanceof kind, `${JSON.stringify(opts)}: ${e}`);
      assert.match(e.message, message);
      assert.match(e.message, /^conv2d: /);
      return true;
    });
  }
  assert.throws(() => jit.conv2d([1] as never, w, y, o), /conv2d: x must be a Float32Array/);
  assert.throws(() => jit.conv2d(x, w, x.subarray(0, 150) as never, o), RangeError);
  // y overlapping an input is refused.
  const shared = new Float32Array(250);
  assert.throws(
    () => jit.conv2d(shared.subarray(0, 100), w, shared.subarray(50, 200), o),
    /overlap/,
  );
});

Deno.test("conv2d: packed weights give the plain call's bits, are a private copy, and must match the shape", () => {
  using jit = new Jit();
  const r = rng(1700);
  const o = {
    n: 1,
    c: 4,
    h: 9,
    w: 10,
    outChannels: 6,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    group: 2,
  };
  const x = new Float32Array(360).map(() => r() - 0.5),
    w = new Float32Array(6 * 2 * 9).map(() => r() - 0.5);
  const plain = new Float32Array(540), packed = plain.slice();
  const handle = jit.packConvWeights(w, { outChannels: 6, c: 4, kernel: [3, 3], group: 2 });
  jit.conv2d(x, w, plain, o);
  w.fill(0); // the handle holds its own copy
  jit.conv2d(x, handle, packed, o);
  assert.deepEqual(packed, plain);
  assert.throws(
    () => jit.conv2d(x, handle, packed, { ...o, kernel: [9, 1], pads: [4, 0, 4, 0] }),
    /conv2d: w was packed for conv2d outChannels=6 c=4 group=2 kernel 3×3, not outChannels=6 c=4 group=2 kernel 9×1/,
  );
  assert.throws(
    () => jit.conv2d(x, { data: w } as never, packed, o),
    /conv2d: w must be a Float32Array/,
  );
  assert.throws(
    () => jit.packConvWeights(w.subarray(1), { outChannels: 6, c: 4, kernel: [3, 3], group: 2 }),
    /packConvWeights: w has 107 elements but the shape needs 108/,
  );
  // ConvTranspose weights packed as such.
  const tw = new Float32Array(4 * 3 * 4).map(() => r() - 0.5);
  const t = { n: 1, c: 4, h: 3, w: 3, outChannels: 6, kernel: [2, 2], strides: [2, 2], group: 2 };
  const ta = new Float32Array(6 * 36), tb = ta.slice();
  jit.convTranspose2d(x.subarray(0, 36), tw, ta, t);
  jit.convTranspose2d(
    x.subarray(0, 36),
    jit.packConvWeights(tw, { outChannels: 6, c: 4, kernel: [2, 2], group: 2, transposed: true }),
    tb,
    t,
  );
  assert.deepEqual(tb, ta);
  assert.throws(
    () => jit.convTranspose2d(x.subarray(0, 36), handle, tb, t),
    /convTranspose2d: w has 108 elements/,
  );
});

Deno.test("conv2d: weights packed in place are w where it lies (off a line too), with the copy's bits on every kernel and split", () => {
  using one = new Jit({ threads: 1 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const r = rng(1760);
  /** w one float past its buffer's start (off a line), filled at random. */
  const offLine = (n: number) => new Float32Array(n + 1).map(() => r() - 0.5).subarray(1);
  // One group (the channel-vector kernel's: split over channels at 3 threads), depthwise NHWC
  // (its tap-major copy), ConvTranspose 2×2/2 (by output phases).
  const cases = [
    { n: 1, c: 48, h: 14, w: 14, outChannels: 96, kernel: [3, 3], pads: [1, 1, 1, 1] },
    {
      n: 1,
      c: 32,
      h: 12,
      w: 12,
      outChannels: 32,
      group: 32,
      kernel: [3, 3],
      pads: [1, 1, 1, 1],
      layout: "nhwc" as const,
    },
  ];
  for (const [i, o] of cases.entries()) {
    const sizes = convSizes(convSpecOf({ ...o, layout: undefined }));
    const x = new Float32Array(sizes.x).map(() => r() - 0.5);
    const w = offLine(sizes.w), kept = w.slice();
    const shape = { outChannels: o.outChannels, c: o.c, kernel: o.kernel, group: o.group };
    // The plain call's bits on one thread (w in ONNX's layout only): every other call's.
    const want = new Float32Array(sizes.y);
    one.conv2d(x, w, want, o);
    for (const jit of [one, three]) {
      const copied = new Float32Array(sizes.y).fill(NaN), viewed = copied.slice();
      jit.conv2d(x, jit.packConvWeights(w, shape), copied, o);
      const handle = jit.packConvWeights(w, { ...shape, inPlace: true });
      assert.equal(handle.data.buffer, w.buffer, `case ${i}: viewed, not copied`);
      assert.equal(handle.data.byteOffset, 4);
      jit.conv2d(x, handle, viewed, o);
      assert.equal(firstDifference(copied, want), -1, `case ${i} copied, ${jit.threads} threads`);
      assert.equal(firstDifference(viewed, want), -1, `case ${i} viewed, ${jit.threads} threads`);
      assert.deepEqual(w, kept, "w is read, never written");
    }
  }
  const tw = offLine(64 * 32 * 4), tx = new Float32Array(64 * 100).map(() => r() - 0.5);
  const t = { n: 1, c: 64, h: 10, w: 10, outChannels: 32, kernel: [2, 2], strides: [2, 2] };
  const shape = { outChannels: 32, c: 64, kernel: [2, 2], transposed: true };
  const ta = new Float32Array(32 * 400), tb = ta.slice().fill(NaN), tc = tb.slice();
  using avx2 = new Jit({ maxIsa: "avx2", threads: 1 }); // no channel-vector copy
  avx2.convTranspose2d(tx, tw, ta, t);
  one.convTranspose2d(tx, one.packConvWeights(tw, shape), tb, t);
  one.convTranspose2d(tx, one.packConvWeights(tw, { ...shape, inPlace: true }), tc, t);
  assert.equal(firstDifference(tb, ta), -1, "convTranspose2d copied");
  assert.equal(firstDifference(tc, ta), -1, "convTranspose2d viewed");
  if (one.isa === "avx512" || one.isa === "amx" || one.isa === "avx2") {
    // The kernels that read the channel-vector copy ran (below AVX2 there is none).
    const plans = [...one.stats().keys, ...three.stats().keys].map((k) => k.plan ?? "");
    assert.ok(plans.some((p) => p.includes("channel vectors")), plans.join("; "));
    const split = three.stats().keys.filter((k) =>
      k.plan?.includes("channel vectors") && k.parts > 1
    );
    assert.equal(split.length, 1, three.report(40));
  }
  assert.throws(
    () => one.packConvWeights(tw, { ...shape, inPlace: "yes" as never }),
    /packConvWeights: inPlace must be a boolean, got string "yes"/,
  );
  // A handle in place reads w's buffer on every call: detached or shrunk under it, the call
  // throws before any native code runs.
  const o = cases[0], x = new Float32Array(o.c * o.h * o.w), y = new Float32Array(96 * 196);
  const count = o.outChannels * o.c * 9, gone = new Float32Array(count);
  const inPlace = { outChannels: o.outChannels, c: o.c, kernel: o.kernel, inPlace: true };
  const detached = one.packConvWeights(gone, inPlace);
  structuredClone(gone.buffer, { transfer: [gone.buffer] });
  assert.throws(() => one.conv2d(x, detached, y, o), /conv2d: w has 0 elements but/);
  const rb = new ArrayBuffer(4 * count + 4, { maxByteLength: 8 * count });
  const shrunk = one.packConvWeights(new Float32Array(rb, 4, count), inPlace);
  one.conv2d(x, shrunk, y, o);
  rb.resize(64);
  assert.throws(() => one.conv2d(x, shrunk, y, o), /conv2d: w has 0 elements but/);
});

Deno.test({
  name:
    "conv2d: the depthwise plane one row a vector (tier 1 for rows of 9-16 columns, the row tiles tier 2's) gives the general kernel's bits",
  ignore: !LEVELS.includes("avx512"),
  fn: () => {
    const r = rng(1850);
    const shapes = [
      { h: 14, w: 14, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { h: 16, w: 16, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { h: 12, w: 14, kernel: [3, 3], pads: [0, 0, 0, 0] }, // x wider than y
      { h: 11, w: 9, kernel: [5, 5], pads: [2, 2, 2, 2] },
      { h: 13, w: 15, kernel: [3, 3], pads: [2, 1, 0, 2], dilations: [2, 2] },
    ];
    for (const [i, shape] of shapes.entries()) {
      const o = { n: 2, c: 5, outChannels: 5, group: 5, ...shape };
      const s = convSpecOf(o), sizes = convSizes(s);
      const x = new Float32Array(sizes.x).map(() => r() - 0.5);
      const w = new Float32Array(sizes.w).map(() => r() - 0.5);
      const bias = new Float32Array(s.oc).map(() => r());
      const residual = i % 2 ? new Float32Array(sizes.y).map(() => r() - 0.5) : undefined;
      const opts = { ...o, bias, residual, activation: "relu" as const };
      const want = depthwiseChain(o, x, w, bias, residual ?? null, true);
      using jit = new Jit({ maxIsa: "avx512", threads: 1 });
      const y = new Float32Array(sizes.y);
      const ran = tuneCheckingBits(
        jit,
        () => jit.conv2d(x, w, y, opts),
        y,
        want,
        JSON.stringify(shape),
      );
      assert.ok(
        ran.some((p) => p.includes("1 row a vector")),
        `${JSON.stringify(shape)}: ${ran.join("; ")}`,
      );
    }
  },
});

for (const level of ["avx2", "avx512"] as const) {
  Deno.test({
    name:
      `conv2d ${level}: the depthwise kernel (x in place, strides 1 and 2) gives the general kernel's bits (each output's FMA chain)`,
    ignore: !LEVELS.includes(level),
    fn: () => {
      const r = rng(1800);
      using wide = new Jit({ maxIsa: level });
      for (
        const o of [
          {
            n: 2,
            c: 5,
            h: 11,
            w: 37,
            outChannels: 5,
            kernel: [3, 3],
            pads: [1, 1, 1, 1],
            group: 5,
          },
          {
            n: 1,
            c: 7,
            h: 14,
            w: 14,
            outChannels: 7,
            kernel: [3, 3],
            pads: [1, 1, 1, 1],
            group: 7,
          },
          { n: 1, c: 3, h: 9, w: 70, outChannels: 3, kernel: [5, 5], pads: [2, 2, 2, 2], group: 3 },
          // 7×7 (ConvNeXt's) and 6×7: weights broadcast from memory, rows of 1-2 a tile.
          {
            n: 1,
            c: 4,
            h: 20,
            w: 40,
            outChannels: 4,
            kernel: [7, 7],
            pads: [3, 3, 3, 3],
            group: 4,
          },
          { n: 1, c: 3, h: 9, w: 33, outChannels: 3, kernel: [6, 7], pads: [2, 3, 3, 3], group: 3 },
          {
            n: 1,
            c: 3,
            h: 15,
            w: 50,
            outChannels: 3,
            kernel: [7, 7],
            strides: [2, 2],
            pads: [3, 3, 3, 3],
            group: 3,
          },
          // Stride 2 (across: pairs of loads, even and odd lanes), down, both; odd kernels and pads.
          ...[[2, 2], [2, 1], [1, 2]].map((strides) => ({
            n: 2,
            c: 5,
            h: 13,
            w: 37,
            outChannels: 5,
            kernel: [3, 3],
            strides,
            pads: [1, 1, 1, 1],
            group: 5,
          })),
          {
            n: 1,
            c: 3,
            h: 9,
            w: 70,
            outChannels: 3,
            kernel: [5, 5],
            strides: [2, 2],
            pads: [2, 2, 2, 2],
            group: 3,
          },
          {
            n: 1,
            c: 2,
            h: 10,
            w: 40,
            outChannels: 2,
            kernel: [4, 4],
            strides: [2, 2],
            pads: [1, 2, 2, 1],
            group: 2,
          },
          { n: 1, c: 6, h: 15, w: 15, outChannels: 6, kernel: [3, 3], strides: [2, 2], group: 6 },
          // Stride 1 on rows of 1-3 AVX2 vectors: even tiles of at most 5 rows (16 rows: 4 × 4,
          // 12: 4 × 3, 13: 5, 5, 3), 3 vectors 4 rows of one vector.
          ...[
            { h: 16, w: 16 },
            { h: 12, w: 12 },
            { h: 13, w: 11 },
            { h: 9, w: 20 },
            { h: 11, w: 24 },
          ].map((o) => ({
            n: 1,
            c: 5,
            outChannels: 5,
            group: 5,
            kernel: [3, 3],
            pads: [1, 1, 1, 1],
            ...o,
          })),
          // Narrow planes, several output rows a vector (depthwise_packed.ts): stride 1 with x
          // as wide as y (7², 4², 5² with 25 taps, dilated, asymmetric pads), stride 2 (14² and
          // 13² to 7², 11² to 6², a 5×5 kernel to 4 columns).
          ...[
            { h: 7, w: 7, kernel: [3, 3], pads: [1, 1, 1, 1] },
            { h: 4, w: 4, kernel: [3, 3], pads: [1, 1, 1, 1] },
            { h: 5, w: 5, kernel: [5, 5], pads: [2, 2, 2, 2] },
            { h: 7, w: 7, kernel: [3, 3], pads: [2, 2, 2, 2], dilations: [2, 2] },
            { h: 6, w: 6, kernel: [3, 3], pads: [0, 2, 2, 0] },
            { h: 8, w: 2, kernel: [3, 3], pads: [1, 1, 1, 1] },
            { h: 14, w: 14, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
            { h: 13, w: 13, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
            { h: 11, w: 11, kernel: [3, 3], strides: [2, 2], pads: [1, 0, 1, 2] },
            { h: 9, w: 9, kernel: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2] },
            { h: 6, w: 5, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
            { h: 12, w: 12, kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] },
            { h: 7, w: 7, kernel: [7, 7], pads: [3, 3, 3, 3] },
          ].map((o) => ({ n: 2, c: 9, outChannels: 9, group: 9, ...o })),
          {
            n: 1,
            c: 4,
            h: 17,
            w: 17,
            outChannels: 4,
            kernel: [3, 3],
            strides: [2, 2],
            pads: [1, 1, 1, 1],
            dilations: [2, 1],
            group: 4,
          },
        ]
      ) {
        const s = convSpecOf(o), sizes = convSizes(s);
        const x = new Float32Array(sizes.x).map(() => r() - 0.5);
        const w = new Float32Array(sizes.w).map(() => r() - 0.5);
        const bias = new Float32Array(s.oc).map(() => r());
        const a = new Float32Array(sizes.y);
        wide.conv2d(x, w, a, { ...o, bias, activation: "relu" });
        let b = depthwiseChain(o, x, w, bias, null, true);
        assert.equal(firstDifference(a, b), -1, JSON.stringify(o));
        // With a residual added before the activation.
        const residual = new Float32Array(sizes.y).map(() => r() - 0.5);
        wide.conv2d(x, w, a, { ...o, bias, residual, activation: "relu" });
        b = depthwiseChain(o, x, w, bias, residual, true);
        assert.equal(firstDifference(a, b), -1, `${JSON.stringify(o)} with a residual`);
        // Clip's registers beside the tile (at AVX2 the idle ones hold a mask and weights).
        wide.conv2d(x, w, a, { ...o, bias, activation: { op: "clip", min: 0, max: 6 } });
        b = depthwiseChain(o, x, w, bias, null, false).map((y) => Math.min(Math.max(y, 0), 6));
        assert.equal(firstDifference(a, b), -1, `${JSON.stringify(o)} with clip`);
        // No activation; leakyRelu's two temporaries with a residual (at AVX2 with every
        // weight in a register the epilogue borrows two of them, broadcast again a chunk).
        wide.conv2d(x, w, a, { ...o, bias });
        b = depthwiseChain(o, x, w, bias, null, false);
        assert.equal(firstDifference(a, b), -1, `${JSON.stringify(o)} with no activation`);
        const leaky = { op: "leakyRelu", alpha: 0.1 } as const;
        wide.conv2d(x, w, a, { ...o, bias, residual, activation: leaky });
        b = depthwiseChain(o, x, w, bias, residual, false)
          .map((y) => (y >= 0 ? y : Math.fround(y * Math.fround(0.1))));
        assert.equal(firstDifference(a, b), -1, `${JSON.stringify(o)} with leakyRelu`);
      }
      assert.ok(wide.stats().keys.every((k) => k.plan!.includes("depthwise")));
      if (level === "avx2") {
        // Both register layouts ran: every weight in a register (3×3 and 4×4 on rows of 3
        // vectors or more, strides 1 and 2) and not (5×5 up, narrower rows).
        const lean = wide.stats().keys.filter((k) => k.plan!.includes("every weight in a"));
        assert.ok(
          lean.length >= 16 && lean.some((k) => k.key.includes("s2×2")) &&
            lean.every((k) => /k[34]×[34]/.test(k.key)),
          `${lean.length}`,
        );
        assert.ok(wide.stats().keys.some((k) => /k[57]×[57]/.test(k.key)));
        return; // the packed planes are AVX-512's
      }
      // The narrow planes took the packed kernel: the thirteen above and 15² to 7², each with
      // and without a residual (with clip's registers beside it, a plane may not fit).
      assert.equal(
        wide.stats().keys.filter((k) =>
          k.plan!.includes("rows a vector") && !k.key.includes("clip")
        )
          .length,
        2 * 14,
        wide.stats().keys.map((k) => `${k.key} ${k.plan}`).join("\n"),
      );
    },
  });
}

Deno.test("conv2d: NHWC x, y and residual give the NCHW call's bits, transposed (every ISA, 1 and 3 threads)", () => {
  const r = rng(2100);
  for (const isa of LEVELS) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
      for (let t = 0; t < 12; t++) {
        const o = randomConv(r);
        const s = convSpecOf(o), sizes = convSizes(s);
        const oh = sizes.y / (s.n * s.oc), hw = s.h * s.w;
        const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
        const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
        const bias = new Float32Array(s.oc).map(() => r());
        const residual = new Float32Array(sizes.y).map(() => r() - 0.5);
        const activation = pick(r, ["relu", "gelu", undefined] as const);
        const packed = t % 3 === 2;
        const wt = packed
          ? jit.packConvWeights(w, { outChannels: s.oc, c: s.c, kernel: o.kernel, group: o.group })
          : w;
        const y = new Float32Array(sizes.y);
        jit.conv2d(x, wt, y, { ...o, bias, residual, activation });
        const yh = new Float32Array(sizes.y);
        jit.conv2d(toNhwc(x, s.n, s.c, hw), wt, yh, {
          ...o,
          bias,
          residual: toNhwc(residual, s.n, s.oc, oh),
          activation,
          layout: "nhwc",
        });
        assert.equal(
          firstDifference(yh, toNhwc(y, s.n, s.oc, oh)),
          -1,
          `${isa} ${threads} threads ${JSON.stringify(o)}`,
        );
      }
      // y overlapping x is refused in NHWC as in NCHW.
      const o = { n: 1, c: 2, h: 4, w: 4, outChannels: 2, kernel: [1, 1] };
      const shared = new Float32Array(64);
      assert.throws(
        () =>
          jit.conv2d(shared.subarray(0, 32), new Float32Array(4), shared.subarray(16, 48), {
            ...o,
            layout: "nhwc",
          }),
        /conv2d: y overlaps x/,
      );
    }
  }
});

for (const level of ["avx512", "avx2"] as const) {
  Deno.test({
    name:
      `conv2d ${level}: NHWC on the channel-vector kernel (packed weights) gives the NCHW call's bits`,
    ignore: !LEVELS.includes(level),
    fn: () => {
      const r = rng(level === "avx512" ? 2300 : 2310);
      const avx2 = level === "avx2";
      // Whole rows, pieces of rows, strides, a partial vector of channels, 1×1, many channels
      // on a small image (parts over channels), batches; the last field: whether the kernel
      // computes the call as NHWC (else it is transposed around the NCHW call).
      const shapes: [number, number, number, number, number, number, number, number, boolean][] = [
        [1, 16, 7, 7, 32, 3, 1, 1, true],
        [2, 20, 9, 30, 40, 3, 1, 1, true],
        [1, 64, 14, 14, 64, 1, 1, 0, true],
        [1, 16, 15, 17, 24, 3, 2, 1, true],
        [1, 33, 5, 5, 17, 5, 1, 2, true],
        [1, 256, 7, 7, 256, 3, 1, 1, true],
        // Short k loops (16 and 24 steps): the next tile's y claimed (AVX-512).
        [1, 16, 8, 8, 96, 1, 1, 0, true],
        [2, 24, 6, 6, 40, 1, 1, 0, true],
        // Narrowing 1×1 layers on small images sum their inputs in halves (k_halves.ts), in
        // NHWC as in NCHW.
        [1, 256, 7, 7, 64, 1, 1, 0, true],
        [1, 128, 9, 9, 24, 1, 1, 0, true],
        // Few input channels: AVX-512 transposes around NCHW, AVX2 takes a vector's 8.
        [1, 8, 9, 9, 16, 3, 1, 1, avx2],
        // A window over positions 2 KiB apart (512 channels): AVX2 transposes.
        [1, 512, 5, 5, 24, 3, 1, 1, !avx2],
      ];
      // Every activation in turn; erf's 7 registers leave AVX2's tile of 6 positions none to
      // spare: its first vector's sums wait in the frame too.
      const activations = ["gelu", "relu", undefined, "erf", {
        op: "clip",
        min: 0,
        max: 6,
      }] as const;
      for (const threads of [1, 3]) {
        using jit = new Jit({ threads, minPartUs: threads > 1 ? 0 : undefined, maxIsa: level });
        shapes.forEach(([n, c, h, w, oc, k, s, p], i) => {
          const oh = Math.floor((h + 2 * p - k) / s) + 1;
          const ow = Math.floor((w + 2 * p - k) / s) + 1;
          const ny = n * oc * oh * ow;
          const x = new Float32Array(n * c * h * w).map(() => r() * 2 - 1);
          const wt = new Float32Array(oc * c * k * k).map(() => r() - 0.5);
          const bias = new Float32Array(oc).map(() => r());
          const residual = new Float32Array(ny).map(() => r() - 0.5);
          const packed = jit.packConvWeights(wt, { outChannels: oc, c, kernel: [k, k] });
          const o = {
            n,
            c,
            h,
            w,
            outChannels: oc,
            kernel: [k, k],
            strides: [s, s],
            pads: [p, p, p, p],
            bias: i % 4 === 3 ? undefined : bias,
            residual: i % 3 === 1 ? undefined : residual,
            activation: activations[(i + threads) % activations.length],
          };
          const y = new Float32Array(ny), yh = new Float32Array(ny);
          jit.conv2d(x, packed, y, o);
          jit.conv2d(toNhwc(x, n, c, h * w), packed, yh, {
            ...o,
            residual: o.residual && toNhwc(residual, n, oc, oh * ow),
            layout: "nhwc",
          });
          assert.equal(
            firstDifference(yh, toNhwc(y, n, oc, oh * ow)),
            -1,
            `${threads} threads ${n},${c},${h},${w},${oc},${k},${s} ${
              JSON.stringify(o.activation)
            }`,
          );
        });
        const keys = jit.stats().keys.filter((key) => key.key.endsWith("nhwc"));
        assert.equal(
          keys.length,
          shapes.filter((q) => q[8]).length,
          `the NHWC calls keyed as such: ${keys.map((key) => key.key).join("; ")}`,
        );
        assert.ok(
          keys.every((key) => /channel vectors.*NHWC/.test(key.plan!)),
          "on the channel-vector kernel",
        );
        // The narrowing layers sum in halves in each tile.
        for (const key of keys) {
          const m = /^conv2d \d+×(\d+)×\d+×\d+ → (\d+)×/.exec(key.key)!;
          const halves = Number(m[1]) >= 128 && Number(m[1]) >= 2 * Number(m[2]) &&
            / k1×1 /.test(key.key);
          assert.equal(/in halves in each tile/.test(key.plan!), halves, `${key.key}: ${key.plan}`);
        }
        // The broadcasts share a register on every core (a position's inputs are c floats apart).
        assert.ok(
          keys.every((key) => !/broadcasts in the FMAs/.test(key.plan!)),
          keys.map((key) => key.plan).join("; "),
        );
        // Short k loops (32 steps or fewer: input channels × taps) claim the next tile's y
        // (AVX-512: AVX2's k steps are half as long, see ChannelVectorTile.nextOut).
        for (const key of keys) {
          const m = /^conv2d \d+×(\d+)×\d+×\d+ → .* k(\d+)×(\d+)/.exec(key.key)!;
          const steps = Number(m[1]) * Number(m[2]) * Number(m[3]);
          assert.equal(
            /next tile's y/.test(key.plan!),
            !avx2 && steps <= 32,
            `${key.key}: ${key.plan}`,
          );
        }
        if (threads > 1) assert.ok(keys.some((key) => key.parts > 1), "no NHWC call was split");
      }
    },
  });
}

Deno.test("conv2d: NHWC with weights packed by a Jit of another level gives the NCHW call's bits", () => {
  // A handle's channel-vector copy is in its packer's lanes (AVX-512 16, AVX2 8): a Jit of
  // another level reads its plain rows only (on an AVX-512 machine the AVX2 Jit once keyed
  // such a call for the channel-vector kernel, which refused it).
  const r = rng(2320);
  const o = { n: 1, c: 32, h: 6, w: 7, outChannels: 24, kernel: [3, 3], pads: [1, 1, 1, 1] };
  const x = new Float32Array(32 * 42).map(() => r() * 2 - 1);
  const w = new Float32Array(24 * 32 * 9).map(() => r() - 0.5);
  const bias = new Float32Array(24).map(() => r());
  for (const packer of LEVELS) {
    for (const user of LEVELS) {
      if (packer === user) continue;
      using pj = new Jit({ maxIsa: packer, threads: 1 });
      using uj = new Jit({ maxIsa: user, threads: 1 });
      const packed = pj.packConvWeights(w, { outChannels: 24, c: 32, kernel: [3, 3] });
      const y = new Float32Array(24 * 42), yh = new Float32Array(24 * 42);
      uj.conv2d(x, packed, y, { ...o, bias, activation: "relu" });
      uj.conv2d(toNhwc(x, 1, 32, 42), packed, yh, {
        ...o,
        bias,
        activation: "relu",
        layout: "nhwc",
      });
      assert.equal(
        firstDifference(yh, toNhwc(y, 1, 24, 42)),
        -1,
        `packed at ${packer}, run at ${user}`,
      );
      assert.equal(uj.stats().fallbacks, 0, `packed at ${packer}, run at ${user}: a fallback plan`);
    }
  }
});

Deno.test("conv2d: NHWC calls in concurrent async lists and sync calls meanwhile keep their own scratch", async () => {
  using jit = new Jit({ threads: 2 });
  const r = rng(2400);
  const o = { n: 1, c: 6, h: 20, w: 24, outChannels: 10, kernel: [3, 3], pads: [1, 1, 1, 1] };
  const w = new Float32Array(10 * 6 * 9).map(() => r() - 0.5);
  const make = () => new Float32Array(6 * 20 * 24).map(() => r() * 2 - 1);
  const want = (x: Float32Array) => {
    const y = new Float32Array(10 * 20 * 24);
    jit.conv2d(x, w, y, { ...o, layout: "nhwc" });
    return y;
  };
  for (let round = 0; round < 5; round++) {
    const xs = [make(), make(), make()];
    const expect = xs.map(want);
    const ys = xs.map(() => new Float32Array(10 * 20 * 24));
    const lists = [0, 1].map((i) =>
      jit.async(() => {
        for (let k = 0; k < 3; k++) jit.conv2d(xs[i], w, ys[i], { ...o, layout: "nhwc" });
      })
    );
    // A sync NHWC call while the lists may be running.
    jit.conv2d(xs[2], w, ys[2], { ...o, layout: "nhwc" });
    await Promise.all(lists);
    for (let i = 0; i < 3; i++) {
      assert.equal(firstDifference(ys[i], expect[i]), -1, `round ${round}, call ${i}`);
    }
  }
});

Deno.test({
  name:
    "conv2d sse2: a run's last columns (a group each) leave the store's activation its registers (no fallback plan)",
  ignore: !LEVELS.includes("sse2"),
  fn: () => {
    // Single columns at the end of a run are column groups of their own: tiles of them once
    // took every register the microkernel allowed, GELU's emitter found 4 of its 8 and the
    // keys fell back to scalar plans.
    const r = rng(2600);
    using jit = new Jit({ maxIsa: "sse2", threads: 1, tuneBudget: 0 });
    const o = { n: 1, c: 3, h: 9, w: 11, outChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1] };
    const s = convSpecOf(o), sizes = convSizes(s);
    const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
    const w = new Float32Array(sizes.w).map(() => r() - 0.5);
    const bias = new Float32Array(s.oc).map(() => r());
    const residual = new Float32Array(sizes.y).map(() => r() - 0.5);
    for (const activation of ["gelu", "erf", "tanh", "mish", "elu"] as const) {
      jit.conv2d(x, w, new Float32Array(sizes.y), { ...o, bias, residual, activation });
    }
    const plans = jit.stats().keys.map((k) => k.plan!);
    assert.equal(plans.length, 5);
    assert.ok(plans.every((p) => p.startsWith("sse2 tile")), plans.join("; "));
  },
});
