/**
 * Narrowing 1×1 layers on small images sum their input channels in two
 * halves (src/kernels/conv/k_halves.ts): the rule, and the bits of every
 * way a call runs (the halves in each channel-vector tile, the two halves'
 * kernels in turn, a half a part with the last part adding them, parts over
 * output channels, tier 2's candidates) against a float32 emulation of the
 * halves' FMA chains, on every ISA level the machine has.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { JOIN_SLOT } from "../src/kernels/abi.ts";
import { CONV } from "../src/kernels/conv/family.ts";
import { kHalvesServe } from "../src/kernels/conv/k_halves.ts";
import { convSpecOf, firstDifference, tuneCheckingBits } from "./helpers/conv.ts";
import { fmaF32 } from "./helpers/fma_chain.ts";
import { rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const f = Math.fround;

Deno.test("conv2d halves: the rule (one image, 1×1, stride 1, unpadded, ≥ 128 inputs, ≥ 2× the outputs, a small image or more weights than x)", () => {
  const serves = (c: number, oc: number, hw: number, more: Record<string, unknown> = {}) =>
    kHalvesServe(
      convSpecOf({ n: 1, c, h: hw, w: hw, outChannels: oc, kernel: [1, 1], ...more }),
    );
  // MobileNetV2's projections, ResNet-50's reductions on 14² and 7².
  assert.ok(serves(384, 64, 14));
  assert.ok(serves(960, 160, 7));
  assert.ok(serves(1024, 256, 14));
  assert.ok(serves(2048, 512, 7));
  assert.ok(serves(128, 64, 16)); // 256 positions: the last
  assert.ok(serves(1024, 300, 17)); // 289 positions, but more weights than x
  assert.ok(!serves(128, 64, 17)); // 289 positions, weights under x
  assert.ok(!serves(144, 24, 56)); // MobileNetV2's 56² projection: bands split it
  assert.ok(!serves(64, 384, 14)); // expanding
  assert.ok(!serves(96, 24, 14)); // under 128 inputs
  assert.ok(!serves(400, 100, 14)); // 400 inputs: not a multiple of 32
  assert.ok(!serves(384, 200, 14)); // under twice the outputs
  assert.ok(!serves(384, 64, 14, { n: 2 }));
  assert.ok(!serves(384, 64, 14, { strides: [2, 2] }));
  assert.ok(!serves(384, 64, 14, { pads: [1, 1, 1, 1] }));
  assert.ok(!serves(384, 64, 3, { kernel: [3, 3] }));
  // The parts count their arrivals in a slot the runtime never writes for conv2d's operands.
  assert.ok(CONV.operands.length <= JOIN_SLOT, `${CONV.operands.length} operands`);
});

/**
 * y as a call in halves computes it: each half one chain from +0 over its
 * input channels in order (FMA where the level has it, else a product then
 * a sum), then (second + first) + bias + residual, ReLU.
 */
function halvesChain(
  fused: boolean,
  c: number,
  oc: number,
  positions: number,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  residual: Float32Array,
): Float32Array {
  const y = new Float32Array(oc * positions);
  const sum = (o: number, p: number, from: number, to: number) => {
    let acc = 0;
    for (let k = from; k < to; k++) {
      const a = w[o * c + k], b = x[k * positions + p];
      acc = fused ? fmaF32(a, b, acc) : f(acc + f(a * b));
    }
    return acc;
  };
  for (let o = 0; o < oc; o++) {
    for (let p = 0; p < positions; p++) {
      const first = sum(o, p, 0, c / 2), second = sum(o, p, c / 2, c);
      const v = f(f(f(second + first) + bias[o]) + residual[o * positions + p]);
      y[o * positions + p] = Math.max(v, 0);
    }
  }
  return y;
}

/** A seeded call in halves (bias, residual, ReLU) and its bits (see halvesChain). */
function halvesCase(r: () => number, fused: boolean, c: number, oc: number, hw: number) {
  const positions = hw * hw;
  const floats = (n: number) => Float32Array.from({ length: n }, () => f(r() * 2 - 1));
  const x = floats(c * positions), w = floats(oc * c);
  const bias = floats(oc), residual = floats(oc * positions);
  const want = halvesChain(fused, c, oc, positions, x, w, bias, residual);
  const opts = {
    n: 1,
    c,
    h: hw,
    w: hw,
    outChannels: oc,
    kernel: [1, 1] as [number, number],
    bias,
    residual,
    activation: "relu" as const,
  };
  return { x, w, want, opts };
}

/** Shapes in halves: tails in positions (169 at 16 and 8 lanes) and in channels (40). */
const SHAPES = [
  { c: 256, oc: 96, hw: 13 },
  { c: 192, oc: 40, hw: 7 },
  { c: 128, oc: 64, hw: 16 },
];

for (const isa of LEVELS) {
  Deno.test(`conv2d halves ${isa}: every way a call runs gives the halves' bits (plain and packed weights, 1-3 threads)`, () => {
    const seed = 2100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    const fused = isa === "avx2" || isa === "avx512";
    for (const { c, oc, hw } of SHAPES) {
      const { x, w, want, opts } = halvesCase(r, fused, c, oc, hw);
      const positions = hw * hw;
      for (const threads of [1, 2, 3]) {
        using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0, tuneBudget: 0 });
        const packed = jit.packConvWeights(w, { outChannels: oc, c, kernel: [1, 1] });
        for (const weights of [w, packed]) {
          const y = new Float32Array(oc * positions).fill(NaN);
          // Twice: the second call finds the parts' count of arrivals back at zero.
          for (let call = 0; call < 2; call++) {
            jit.conv2d(x, weights, y, opts);
            const at = firstDifference(y, want);
            assert.equal(
              at,
              -1,
              `${isa} seed ${seed} ${c}→${oc} on ${hw}², ${threads} threads, ${
                weights === w ? "plain" : "packed"
              } weights, call ${call}: y[${at}] = ${y[at]}, want ${want[at]}`,
            );
          }
        }
        const plans = jit.stats().keys.map((k) => `${k.parts} ${k.plan}`);
        assert.ok(plans.every((p) => p.includes("input channels in halves")), plans.join("; "));
        if (threads > 1 && fused) {
          // A half a part (the combining code is AVX2's and AVX-512's).
          assert.ok(plans.every((p) => p.startsWith("2 ")), plans.join("; "));
        }
      }
    }
  });
}

// (A scalar plan has no tier-2 candidates.)
for (const isa of LEVELS.filter((l) => l !== "scalar")) {
  Deno.test(`conv2d halves ${isa}: tier 2's candidates give the halves' bits`, () => {
    const seed = 2150 + LEVELS.indexOf(isa);
    const r = rng(seed);
    const c = 256, oc = 48, hw = 14;
    const { x, w, want, opts } = halvesCase(r, isa === "avx2" || isa === "avx512", c, oc, hw);
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const packed = jit.packConvWeights(w, { outChannels: oc, c, kernel: [1, 1] });
    const y = new Float32Array(oc * hw * hw);
    const ran = tuneCheckingBits(
      jit,
      () => jit.conv2d(x, packed, y, opts),
      y,
      want,
      `${isa} seed ${seed}`,
    );
    assert.ok(new Set(ran).size > 1, ran.join("; "));
  });
}

Deno.test("conv2d halves: split calls in concurrent async lists and a sync call meanwhile give the halves' bits (each list its own count of arrivals)", async () => {
  if (!LEVELS.includes("avx2")) return; // the split in halves is AVX2's and AVX-512's
  const r = rng(2190);
  // (The Jit's level, AVX2 or AVX-512, fuses its multiply-adds.)
  const c = 192, oc = 40, hw = 7;
  const cases = [0, 1, 2].map(() => halvesCase(r, true, c, oc, hw));
  using jit = new Jit({ threads: 2, minPartUs: 0, tuneBudget: 0 });
  for (let round = 0; round < 5; round++) {
    const ys = cases.map(() => new Float32Array(oc * hw * hw).fill(NaN));
    const lists = [0, 1].map((i) =>
      jit.async(() => {
        for (let k = 0; k < 3; k++) jit.conv2d(cases[i].x, cases[i].w, ys[i], cases[i].opts);
      })
    );
    jit.conv2d(cases[2].x, cases[2].w, ys[2], cases[2].opts);
    await Promise.all(lists);
    for (let i = 0; i < 3; i++) {
      const at = firstDifference(ys[i], cases[i].want);
      assert.equal(
        at,
        -1,
        `round ${round}, case ${i}: y[${at}] = ${ys[i][at]}, want ${cases[i].want[at]}`,
      );
    }
  }
  const plans = jit.stats().keys.map((k) => `${k.parts} ${k.plan}`);
  assert.ok(plans.every((p) => p.startsWith("2 ") && p.includes("in halves")), plans.join("; "));
});
