/**
 * The convolution's other kernels against the position-vector kernel and
 * the f64 reference: the channel-vector kernel (packed weights; AVX-512 and
 * AVX2) and input-channel passes (deep 1×1 layers), bit for bit.
 */
import assert from "node:assert/strict";
import { type Conv2dOptions, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import {
  convSizes,
  convSpecOf,
  convWant,
  firstDifference,
  randomConv,
  smallIntegerCall,
  tuneCheckingBits,
  tunePackedAgainstPlain,
} from "./helpers/conv.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { allFinite } from "../src/typed.ts";
import { convChoices, planConv } from "../src/kernels/conv/plan.ts";
import { CV_LANES } from "../src/kernels/conv/channel_vectors.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
/** The levels the channel-vector kernel has (below AVX2 packed weights go to the position kernel). */
const CV_LEVELS = (["avx2", "avx512"] as const).filter((l) => LEVELS.includes(l));

/** Shapes that take the channel-vector kernel's every path. */
const CV_CASES = [
  // Whole rows (2 per tile) and a last single row; 32 + 8 channels (a one-vector block).
  { n: 1, c: 24, h: 7, w: 7, outChannels: 40, kernel: [3, 3], pads: [1, 1, 1, 1] },
  // Pieces of rows (30 → 2 × 15, then 3 × 10 at width 11), stride 2, asymmetric pads.
  { n: 1, c: 20, h: 9, w: 30, outChannels: 36, kernel: [3, 3], pads: [1, 1, 1, 1] },
  {
    n: 2,
    c: 9,
    h: 20,
    w: 33,
    outChannels: 33,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [0, 1, 2, 1],
  },
  // x read as is (1×1, no padding): 17 channels (a second vector of one).
  { n: 1, c: 37, h: 14, w: 14, outChannels: 17, kernel: [1, 1] },
  // 16 channels (one vector), dilation, 5×5.
  {
    n: 1,
    c: 6,
    h: 11,
    w: 13,
    outChannels: 16,
    kernel: [5, 5],
    dilations: [2, 1],
    pads: [4, 2, 4, 2],
  },
  { n: 3, c: 12, h: 5, w: 5, outChannels: 64, kernel: [3, 3], pads: [1, 1, 1, 1] },
];

/**
 * AVX2's paths besides: flat tiles (across rows) in chunks of input
 * channels (the band's x past L1), 1×1 and 3×3, a one-vector block of 4
 * channels; whole rows of 3 two a tile; a row of 20 in pieces (6 + 5 +
 * 5 + 4: whole vectors stored over the next piece's, the last masked).
 */
const CV_CASES_AVX2 = [
  { n: 1, c: 256, h: 7, w: 7, outChannels: 20, kernel: [1, 1] },
  { n: 1, c: 384, h: 7, w: 7, outChannels: 36, kernel: [3, 3], pads: [1, 1, 1, 1] },
  { n: 2, c: 10, h: 3, w: 3, outChannels: 24, kernel: [3, 3], pads: [1, 1, 1, 1] },
  { n: 1, c: 8, h: 20, w: 20, outChannels: 16, kernel: [3, 3], pads: [1, 1, 1, 1] },
];

for (const level of CV_LEVELS) {
  Deno.test({
    name:
      `conv2d ${level}: packed weights with ±Inf or NaN still meet the padding (NaN there, the plain call's bits)`,
    fn: () => {
      using jit = new Jit({ maxIsa: level, threads: 1, tuneBudget: 0 });
      const o = { n: 1, c: 16, h: 7, w: 9, outChannels: 32, kernel: [3, 3], pads: [1, 1, 1, 1] };
      const s = convSpecOf(o), sizes = convSizes(s), r = rng(1901);
      const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
      for (const bad of [Infinity, -Infinity, NaN]) {
        const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
        w[3 * 9 + 0] = bad; // output channel 0, input channel 3, tap (0, 0): the top-left padding
        const plain = new Float32Array(sizes.y), packed = new Float32Array(sizes.y).fill(7);
        jit.conv2d(x, w, plain, o);
        const handle = jit.packConvWeights(w, { outChannels: 32, c: 16, kernel: [3, 3] });
        jit.conv2d(x, handle, packed, o);
        assert.ok(Number.isNaN(plain[0]), `${bad}: the plain call's corner is ${plain[0]}`);
        assert.equal(firstDifference(packed, plain), -1, `${bad}`);
        assert.ok(jit.stats().keys.some((k) => k.plan?.includes("channel vectors")));
      }
    },
  });
}

// A split call's parts over a 1×1 layer's positions as rows of 16 (family.ts linedBands), each
// planned with tier 2's choice of a channel-vector tile made on the whole call: a tile of two
// whole 7-wide rows read the parts' 16-wide rows as 7 (fitChannelVectorTile). The fuzzer's conv
// seed 1189994: positions 12-15 of every 16 wrong in the first 32 channels. Parts always run
// (minPartUs 0), never the whole-call kernel a small call takes while the workers sleep.
// (AVX2's tiles here run flat, across rows: any width.)
for (const level of CV_LEVELS.filter((l) => l === "avx512")) {
  Deno.test(`conv2d ${level}: tier 2's channel-vector tiles in parts over positions as rows of 16`, () => {
    using jit = new Jit({ maxIsa: level, threads: 2, minPartUs: 0 });
    const o = { n: 2, c: 128, h: 16, w: 7, outChannels: 40, kernel: [1, 1] };
    const s = convSpecOf(o), sizes = convSizes(s), r = rng(1189994);
    const x = new Float32Array(sizes.x).map(() => int(r, -3, 3));
    const w = new Float32Array(sizes.w).map(() => int(r, -2, 2));
    const residual = new Float32Array(sizes.y).map(() => int(r, -5, 5));
    const want = convWant(s, x, w, { residual });
    const handle = jit.packConvWeights(w, { outChannels: 40, c: 128, kernel: [1, 1] });
    const y = new Float32Array(sizes.y), opts = { ...o, residual };
    const ran = tuneCheckingBits(jit, () => jit.conv2d(x, handle, y, opts), y, want, level);
    // The tile that broke: whole rows of the call's (its parts' rows are pieces of 16).
    assert.ok(
      ran.some((p) => /channel vectors [2-9] rows/.test(p)),
      `${level}: ${ran.join("; ")}`,
    );
  });
}

for (const level of CV_LEVELS) {
  Deno.test({
    name: `conv2d ${level}: the channel-vector kernel (packed weights) gives the plain call's bits`,
    fn: () => {
      const r = rng(1900);
      const acts = ["relu", "gelu", "hardSwish", undefined] as const;
      const cases = level === "avx2" ? [...CV_CASES, ...CV_CASES_AVX2] : CV_CASES;
      const all: string[] = [];
      for (const [i, o] of cases.entries()) {
        // Tier 2 in warm-up runs every candidate on the key's calls: the channel-vector tiles
        // and the position-vector tiles, whichever tier 1 chose.
        using jit = new Jit({ maxIsa: level, threads: 1 });
        const s = convSpecOf(o), sizes = convSizes(s);
        const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
        const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
        const bias = i % 3 ? new Float32Array(s.oc).map(() => r()) : undefined;
        const residual = i % 2 ? new Float32Array(sizes.y).map(() => r()) : undefined;
        const opts = { ...o, bias, residual, activation: acts[i % acts.length] };
        const ran = tunePackedAgainstPlain(jit, x, w, opts, `case ${i} ${JSON.stringify(o)}`);
        const cv = ran.filter((p) => p.includes("channel vectors"));
        all.push(...cv);
        assert.ok(cv.length >= 2, `case ${i}: ${ran.join("; ")}`);
        // Both ways of broadcasting x (in the FMAs, or in a register two FMAs share): same bits.
        assert.ok(
          level === "avx2" || // (no broadcast memory operands there)
            cv.some((p) => p.includes("broadcasts in the FMAs")) &&
              cv.some((p) => !p.includes("broadcasts in the FMAs")),
          `case ${i}: ${cv.join("; ")}`,
        );
        // With and without the next tile's y (and residual) fetched in the k loop: same bits.
        assert.ok(
          cv.some((p) => p.includes("next tile's y to L1")) &&
            cv.some((p) => !p.includes("next tile's y to L1")),
          `case ${i}: ${cv.join("; ")}`,
        );
        // With and without x's lines fetched planes ahead: same bits.
        assert.ok(
          cv.some((p) => p.includes("planes ahead to L1")) &&
            cv.some((p) => !p.includes("planes ahead to L1")),
          `case ${i}: ${cv.join("; ")}`,
        );
        // AVX2: the first two extra cases ran flat tiles in chunks of input channels.
        if (i >= CV_CASES.length && i < CV_CASES.length + 2) {
          assert.ok(
            cv.some((p) => /positions across rows .*chunks of \d+ inputs/.test(p)),
            `case ${i}: ${cv.join("; ")}`,
          );
        }
      }
      // With and without each row of tiles through every block of output channels, and with and
      // without the next row's x fetched to L2 (tiles by rows, not flat): same bits.
      for (const way of [/each row through every block/, /next row's x to L2/]) {
        assert.ok(all.some((p) => way.test(p)), `${way}: ${all.join("; ")}`);
        assert.ok(
          all.some((p) => !way.test(p) && !p.includes("across rows")),
          `not ${way}: ${all.join("; ")}`,
        );
      }
      if (level !== "avx2") return;
      // Every layout of a tile's positions ran: flat, whole rows, a row's pieces.
      for (const kind of [/positions across rows/, /\d rows × /, /\d columns × /]) {
        assert.ok(all.some((p) => kind.test(p)), `${kind}: ${all.join("; ")}`);
      }
    },
  });
}

/**
 * AVX2, channel vectors on x rewritten in the workspace first, against the
 * plain call and the in-place tile, bit for bit, on 1 and 2 threads (parts
 * over rows write their band's): every case's runs (tier 2's candidates)
 * include a plan that `wrote` names; the plans of all cases are returned.
 */
function tuneWorkspaceCases(cases: Conv2dOptions[], seed: number, wrote: string): string[] {
  const r = rng(seed);
  const all: string[] = [];
  for (const threads of [1, 2]) {
    for (const [i, o] of cases.entries()) {
      using jit = new Jit({ maxIsa: "avx2", threads });
      const s = convSpecOf(o), sizes = convSizes(s);
      const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
      const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
      const bias = i % 2 ? undefined : new Float32Array(s.oc).map(() => r());
      const residual = i % 3 ? undefined : new Float32Array(sizes.y).map(() => r());
      const opts = { ...o, bias, residual, activation: i % 2 ? "relu" as const : undefined };
      const label = `${threads} threads, case ${i} ${JSON.stringify(o)}`;
      const ran = tunePackedAgainstPlain(jit, x, w, opts, label);
      all.push(...ran);
      assert.ok(ran.some((p) => p.includes(wrote)), `${label}: ${ran.join("; ")}`);
      // (At 2 threads the splits come first and fill the candidates.)
      const inPlace = ran.some((p) => p.includes("channel vectors") && p.includes("x in place"));
      assert.ok(threads > 1 || inPlace, `${label}: ${ran.join("; ")}`);
    }
  }
  return all;
}

/**
 * Strided 1×1 layers: on the subsampled planes (tier 1 up to 64 output
 * positions, a candidate up to 256), as they are or repacked in channel
 * blocks, in chunks of input channels where deep.
 */
const SUBSAMPLED_CASES = [
  { n: 1, c: 256, h: 14, w: 14, outChannels: 40, kernel: [1, 1], strides: [2, 2] },
  { n: 2, c: 24, h: 13, w: 11, outChannels: 33, kernel: [1, 1], strides: [2, 2] },
  { n: 1, c: 512, h: 12, w: 12, outChannels: 48, kernel: [1, 1], strides: [3, 3] },
  { n: 1, c: 64, h: 30, w: 30, outChannels: 24, kernel: [1, 1], strides: [2, 2] },
  { n: 1, c: 32, h: 20, w: 30, outChannels: 16, kernel: [1, 1], strides: [2, 3] },
];

/**
 * 1×1 stride-1 layers on small images: on x repacked as blocks of 8
 * channels a position (tier 1 on 7²-sized images and deep 14² ones, a
 * candidate up to 256 positions), a tail of positions under 8, chunks of
 * input channels where deep.
 */
const BLOCK_CASES = [
  { n: 1, c: 256, h: 7, w: 7, outChannels: 40, kernel: [1, 1] },
  { n: 2, c: 24, h: 13, w: 11, outChannels: 33, kernel: [1, 1] },
  // (It sums its inputs in halves, conv_halves_test.ts: tiles 7 wide keep chunked candidates.)
  { n: 1, c: 1024, h: 6, w: 7, outChannels: 48, kernel: [1, 1] },
  { n: 1, c: 64, h: 16, w: 16, outChannels: 24, kernel: [1, 1] },
  { n: 3, c: 8, h: 2, w: 3, outChannels: 8, kernel: [1, 1] },
];

if (CV_LEVELS.includes("avx2")) {
  Deno.test("conv2d avx2: strided 1×1 layers on their subsampled planes give the plain call's bits", () => {
    const all = tuneWorkspaceCases(SUBSAMPLED_CASES, 1902, "x subsampled to planes");
    // Deep inputs ran in chunks on the planes; the planes ran in channel blocks and as they are.
    assert.ok(all.some((p) => /x subsampled to planes .*chunks of \d+ inputs/.test(p)), `${all}`);
    assert.ok(all.some((p) => /x subsampled to planes \d+×\d+ in blocks of 8 channels/.test(p)));
    assert.ok(all.some((p) => /x subsampled to planes \d+×\d+,/.test(p)), `${all}`);
  });

  Deno.test("conv2d avx2: 1×1 layers on x in channel blocks give the plain call's bits", () => {
    const all = tuneWorkspaceCases(BLOCK_CASES, 1903, "x in blocks of 8 channels");
    assert.ok(all.some((p) => /x in blocks of 8 channels.*chunks of \d+ inputs/.test(p)), `${all}`);
  });
}

/** Rows in pieces whose input channels chunks divide: every path of the chunked k loop. */
const CHUNK_CASES = [
  // 3 chunks of 16 over 4 pieces (45 → 12 + 11 + 11 + 11), 32 + 8 channels, asymmetric pads.
  { n: 1, c: 48, h: 6, w: 45, outChannels: 40, kernel: [3, 3], pads: [0, 1, 2, 1] },
  // 5×5 (kernel rows in a loop), stride 2, dilation 2: 2 chunks of 16 (or 1 of 32).
  {
    n: 2,
    c: 32,
    h: 13,
    w: 70,
    outChannels: 32,
    kernel: [5, 5],
    strides: [2, 2],
    dilations: [2, 2],
    pads: [2, 2, 2, 2],
  },
  // 1×1 without padding: 8 chunks of 16 (or 4 of 32), 5 pieces, one vector of 16 + 1 (300
  // positions: on fewer, x in channel blocks would take the in-place tile's place).
  { n: 1, c: 128, h: 5, w: 60, outChannels: 17, kernel: [1, 1] },
];

for (const level of CV_LEVELS) {
  Deno.test({
    name: `conv2d ${level}: a row's pieces in chunks of input channels give the plain call's bits`,
    fn: () => {
      const r = rng(1920);
      for (const [i, o] of CHUNK_CASES.entries()) {
        for (const threads of [1, 3]) {
          using jit = new Jit({ maxIsa: level, threads });
          const s = convSpecOf(o), sizes = convSizes(s);
          const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
          const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
          const bias = new Float32Array(s.oc).map(() => r());
          const residual = i !== 1 ? new Float32Array(sizes.y).map(() => r()) : undefined;
          const opts = {
            ...o,
            bias,
            residual,
            activation: i === 2 ? "gelu" as const : "relu" as const,
          };
          const label = `case ${i}, ${threads} threads`;
          const ran = tunePackedAgainstPlain(jit, x, w, opts, label);
          // Tier 2 ran the pieces both ways: whole k loops and chunks (each chunk size that divides).
          assert.ok(
            ran.some((p) => p.includes("chunks of 16 inputs")),
            `${label}: ${ran.join("; ")}`,
          );
          assert.ok(
            ran.some((p) => p.includes("channel vectors") && !p.includes("chunks")),
            `${label}: ${ran.join("; ")}`,
          );
          if (o.c % 32 === 0 && o.c > 32) {
            assert.ok(
              ran.some((p) => p.includes("chunks of 32 inputs")),
              `${label}: ${ran.join("; ")}`,
            );
          }
        }
      }
    },
  });
}

for (const level of CV_LEVELS) {
  Deno.test({
    name: `conv2d ${level}: the channel-vector kernel equals the f64 reference on small integers`,
    fn: () => {
      const seed = 1910, r = rng(seed);
      using jit = new Jit({ maxIsa: level, threads: 1 });
      for (let t = 0; t < 40; t++) {
        const base = randomConv(r);
        const o = { ...base, group: 1, c: int(r, 1, 40), outChannels: int(r, 1, 70) };
        const s = convSpecOf(o), sizes = convSizes(s);
        const x = new Float32Array(sizes.x).map(() => int(r, -3, 3));
        const w = new Float32Array(sizes.w).map(() => int(r, -2, 2));
        const bias = new Float32Array(s.oc).map(() => int(r, -4, 4));
        const residual = r() < 0.5 ? new Float32Array(sizes.y).map(() => int(r, -5, 5)) : undefined;
        const relu = pick(r, [true, false]);
        const y = new Float32Array(sizes.y).fill(NaN);
        const handle = jit.packConvWeights(w, {
          outChannels: o.outChannels,
          c: o.c,
          kernel: o.kernel,
        });
        jit.conv2d(x, handle, y, { ...o, bias, residual, activation: relu ? "relu" : undefined });
        const want = convWant(s, x, w, { bias, residual, relu });
        const at = firstDifference(y, want);
        assert.equal(
          at,
          -1,
          `seed ${seed} case ${t} ${JSON.stringify(o)}: y[${at}] = ${y[at]}, reference ${want[at]}`,
        );
      }
      const plans = jit.stats().keys.map((k) => k.plan!);
      // The planner's choice (16 of the 40 when written): the kernel must have run on many.
      const cv = plans.filter((p) => p.includes("channel vectors")).length;
      assert.ok(cv >= 8, `only ${cv} of ${plans.length} calls took the channel-vector kernel`);
    },
  });
}

for (const level of CV_LEVELS) {
  Deno.test({
    name: `conv2d ${level}: channel-vector calls split over 2 and 3 threads give one thread's bits`,
    fn: () => {
      const r = rng(1920);
      using one = new Jit({ maxIsa: level, threads: 1 });
      using two = new Jit({ maxIsa: level, threads: 2, minPartUs: 0 });
      using three = new Jit({ maxIsa: level, threads: 3, minPartUs: 0 });
      for (
        const o of [...CV_CASES, {
          n: 1,
          c: 48,
          h: 7,
          w: 7,
          outChannels: 100,
          kernel: [3, 3],
          pads: [1, 1, 1, 1],
        }]
      ) {
        const s = convSpecOf(o), sizes = convSizes(s);
        const x = new Float32Array(sizes.x).map(() => r() * 2 - 1);
        const w = new Float32Array(sizes.w).map(() => r() * 2 - 1);
        const opts = {
          ...o,
          bias: new Float32Array(s.oc).map(() => r()),
          activation: "gelu" as const,
        };
        const ys = [one, two, three].map((j) => {
          const y = new Float32Array(sizes.y);
          j.conv2d(
            x,
            j.packConvWeights(w, { outChannels: o.outChannels, c: o.c, kernel: o.kernel }),
            y,
            opts,
          );
          return y;
        });
        assert.equal(firstDifference(ys[1], ys[0]), -1, `2 threads ${JSON.stringify(o)}`);
        assert.equal(firstDifference(ys[2], ys[0]), -1, `3 threads ${JSON.stringify(o)}`);
      }
      assert.ok(three.stats().keys.some((k) => k.parts > 1 && k.plan!.includes("channel vectors")));
    },
  });
}

for (const isa of LEVELS) {
  Deno.test(`conv2d ${isa}: input-channel passes (deep 1×1 layers) equal the f64 reference on small integers`, () => {
    const seed = 1930 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    // Passes of whole k-loop iterations (260 = 3 × 88 − 4 with 4 channels per iteration,
    // 129 = 65 + 64 with one), pitched rows in the table store, a masked tail.
    const cases = [
      { n: 1, c: 260, h: 6, w: 9, outChannels: 13, kernel: [1, 1] },
      { n: 2, c: 129, h: 5, w: 7, outChannels: 9, kernel: [1, 1], pads: [1, 0, 1, 2] },
      { n: 1, c: 300, h: 4, w: 21, outChannels: 7, kernel: [1, 2], strides: [1, 2] },
      // Two output channels: a tile of 4-8 vectors of positions, whose window passes half of L1
      // (AVX2's estimate prices a tile's FMA chains at 5 cycles: 13 channels take 5×16 there).
      { n: 1, c: 260, h: 6, w: 9, outChannels: 2, kernel: [1, 1] },
    ];
    for (const [t, o] of cases.entries()) {
      const s = convSpecOf(o), sizes = convSizes(s);
      const x = new Float32Array(sizes.x).map(() => int(r, -2, 2));
      const w = new Float32Array(sizes.w).map(() => int(r, -2, 2));
      const bias = new Float32Array(s.oc).map(() => int(r, -4, 4));
      const residual = new Float32Array(sizes.y).map(() => int(r, -5, 5));
      const y = new Float32Array(sizes.y).fill(NaN);
      jit.conv2d(x, w, y, { ...o, bias, residual, activation: "relu" });
      const want = convWant(s, x, w, { bias, residual, relu: true });
      const at = firstDifference(y, want);
      assert.equal(
        at,
        -1,
        `${isa} seed ${seed} case ${t}: y[${at}] = ${y[at]}, reference ${want[at]}`,
      );
    }
    if (isa === "avx2" || isa === "avx512") { // (narrow SSE2 tiles read little per k step)
      const plans = jit.stats().keys.map((k) => k.plan!);
      assert.ok(plans.some((p) => p.includes("passes of")), plans.join("\n"));
    }
  });
}

// 1×1 tile plans whose first channel tile copies x for the others (plan.ts copiesXInTile: x
// past L2, here a 64 KiB one): passes of input channels, a run's tail tile and a masked head
// (x 16 bytes into a line) reading x in place, a last tile of fewer channels, images split over
// 2 threads, and tier 2 running the tile without the copy: every call the f64 reference's bits.
if (LEVELS.includes("avx512")) {
  Deno.test("conv2d avx512: x copied by the first channel tile gives the f64 reference's bits", () => {
    const r = rng(1189995);
    const cases = [
      { n: 1, c: 96, h: 12, w: 15, outChannels: 70, kernel: [1, 1] },
      { n: 2, c: 64, h: 20, w: 20, outChannels: 64, kernel: [1, 1] },
    ];
    for (const [t, o] of cases.entries()) {
      for (const threads of [1, 2]) {
        using jit = new Jit({ maxIsa: "avx512", threads, minPartUs: 0, caches: { l2: 64 << 10 } });
        const s = convSpecOf(o), sizes = convSizes(s);
        const x = new Float32Array(sizes.x + 4).map(() => int(r, -2, 2)).subarray(4 * t);
        const xs = x.subarray(0, sizes.x);
        const w = new Float32Array(sizes.w).map(() => int(r, -2, 2));
        const bias = new Float32Array(s.oc).map(() => int(r, -4, 4));
        const residual = new Float32Array(sizes.y).map(() => int(r, -5, 5));
        const opts = { ...o, bias, residual, activation: "relu" as const };
        const want = convWant(s, xs, w, { bias, residual, relu: true });
        const y = new Float32Array(sizes.y);
        const label = `case ${t}, ${threads} threads`;
        const ran = tuneCheckingBits(jit, () => jit.conv2d(xs, w, y, opts), y, want, label);
        const tier1 = jit.stats().keys.find((k) => k.key.startsWith("conv2d"))!;
        assert.ok(
          ran.some((p) => p.includes("x copied by the first channel tile")),
          `${label}: ${ran.join("; ")}`,
        );
        assert.ok(
          ran.some((p) => p.includes("tile") && !p.includes("x copied")),
          `${label}: ${ran.join("; ")}`,
        );
        assert.ok(tier1.tuning !== null, label);
      }
    }
  });
}

// First layers on the tile kernel (plan.ts copiesXInTile: at most 4 input channels, K×K): the first
// channel tile stores each k step's vectors of x (a channel's tap, read from the phase planes or x
// in place) as a row of an im2col strip the other channel tiles read. ResNet's 7×7/2 stem in
// periods of kernel rows, MobileNet's 3×3/2 (rows of 115: the edge tile, 3 positions past whole
// vectors, reads x in place), stride 1 with asymmetric pads, a 1×2 kernel of two channels a k-loop
// iteration, a last channel tile of fewer channels, 1 and 2 threads, and tier 2 running the tile
// without the copy: every call the f64 reference's bits.
if (LEVELS.includes("avx512")) {
  Deno.test("conv2d avx512: a first layer's x copied as an im2col strip by the first channel tile gives the f64 reference's bits", () => {
    const r = rng(1189996);
    const cases: Conv2dOptions[] = [
      {
        n: 1,
        c: 3,
        h: 41,
        w: 64,
        outChannels: 20,
        kernel: [7, 7],
        strides: [2, 2],
        pads: [3, 3, 3, 3],
      },
      {
        n: 1,
        c: 3,
        h: 20,
        w: 230,
        outChannels: 32,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      },
      { n: 2, c: 2, h: 19, w: 33, outChannels: 13, kernel: [3, 3], pads: [1, 0, 2, 1] },
      { n: 1, c: 4, h: 9, w: 48, outChannels: 24, kernel: [1, 2], pads: [0, 1, 0, 0] },
    ];
    for (const [t, o] of cases.entries()) {
      for (const threads of [1, 2]) {
        using jit = new Jit({ maxIsa: "avx512", threads, minPartUs: 0 });
        const { x, w, opts, want, y } = smallIntegerCall(r, o, 2, t % 2 === 1);
        const label = `case ${t}, ${threads} threads`;
        jit.conv2d(x, w, y, opts);
        const at = firstDifference(y, want);
        assert.equal(at, -1, `${label}: y[${at}] = ${y[at]}, reference ${want[at]}`);
        const tier1 = jit.stats().keys.find((k) => k.key.startsWith("conv2d"))!.plan!;
        assert.ok(
          tier1.includes("tile") && tier1.includes("x copied by the first channel tile"),
          `${label}: ${tier1}`,
        );
        const ran = tuneCheckingBits(jit, () => jit.conv2d(x, w, y, opts), y, want, label);
        assert.ok(
          ran.some((p) => p.includes("tile") && !p.includes("x copied")),
          `${label}: ${ran.join("; ")}`,
        );
      }
    }
  });
}

/**
 * Kernels of 32 taps or more whose rows recur: the tile kernel loops over
 * periods of kernel rows (plan.ts TAP_PERIODS), "taps in count periods of
 * period" in its plan.
 */
const PERIOD_CASES: { o: Conv2dOptions; periods: string }[] = [
  // ResNet's stem at stride 2: a row in each row phase, 3 periods of 14 and a last row.
  {
    o: {
      n: 1,
      c: 3,
      h: 37,
      w: 45,
      outChannels: 9,
      kernel: [7, 7],
      strides: [2, 2],
      pads: [3, 3, 3, 3],
    },
    periods: "3 periods of 14",
  },
  // Stride 1, asymmetric pads, two images: periods of two rows (one is under 12 taps).
  {
    o: { n: 2, c: 2, h: 20, w: 23, outChannels: 5, kernel: [7, 7], pads: [3, 2, 3, 4] },
    periods: "3 periods of 14",
  },
  // Stride 3: three rows, one in each phase, twice, and nothing after.
  {
    o: {
      n: 1,
      c: 2,
      h: 30,
      w: 33,
      outChannels: 6,
      kernel: [6, 6],
      strides: [3, 3],
      pads: [1, 2, 3, 1],
    },
    periods: "2 periods of 18",
  },
  // Dilated rows (all in one phase), 4 taps a row: 2 periods of three rows, then two rows.
  {
    o: {
      n: 1,
      c: 3,
      h: 26,
      w: 29,
      outChannels: 7,
      kernel: [8, 4],
      dilations: [2, 1],
      pads: [2, 1, 2, 1],
    },
    periods: "2 periods of 12",
  },
  // Stride 2 dilated by 2 down: every row in one phase; a single input channel.
  {
    o: {
      n: 1,
      c: 1,
      h: 40,
      w: 38,
      outChannels: 4,
      kernel: [5, 7],
      strides: [2, 1],
      dilations: [2, 1],
      pads: [4, 3, 4, 3],
    },
    periods: "2 periods of 14",
  },
];

for (const isa of LEVELS) {
  Deno.test(`conv2d ${isa}: taps in periods of kernel rows give the f64 reference's bits, and the unrolled loop's`, () => {
    const seed = 1940 + LEVELS.indexOf(isa), r = rng(seed);
    for (const [t, { o, periods }] of PERIOD_CASES.entries()) {
      for (const threads of [1, 3]) {
        using jit = new Jit({ maxIsa: isa, threads });
        const { x, w, opts, want, y } = smallIntegerCall(r, o, 3, t % 2 === 1);
        const label = `${isa} seed ${seed} case ${t}, ${threads} threads`;
        jit.conv2d(x, w, y, opts);
        const at = firstDifference(y, want);
        assert.equal(at, -1, `${label}: y[${at}] = ${y[at]}, reference ${want[at]}`);
        if (isa === "scalar") continue; // the reference itself: no kernel, no plan to tune
        const tier1 = jit.stats().keys.find((k) => k.key.startsWith("conv2d"))!.plan!;
        assert.ok(tier1.includes(`taps in ${periods}`), `${label}: ${tier1}`);
        // Tier 2 runs the tile with every tap unrolled too: each call's bits the reference's.
        const ran = tuneCheckingBits(jit, () => jit.conv2d(x, w, y, opts), y, want, label);
        assert.ok(ran.some((p) => p.includes(`taps in ${periods}`)), `${label}: ${ran.join("; ")}`);
        assert.ok(
          ran.some((p) => p.includes("tile") && !p.includes("periods")),
          `${label}: ${ran.join("; ")}`,
        );
      }
    }
  });
}

Deno.test("packed conv weights: finite exactly when no weight is ±Inf or NaN, at any position", () => {
  using jit = new Jit({ threads: 1, tuneBudget: 0 });
  const o = { outChannels: 4, c: 3, kernel: [3, 3] };
  const n = 4 * 3 * 9;
  // Finite extremes: the largest float, the smallest denormal, -0.
  const finite = [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -0];
  const bad = [Infinity, -Infinity, NaN, -NaN];
  const nanBits = new Float32Array(new Uint32Array([0x7fc00001, 0xff800001]).buffer);
  for (const at of [0, 1, n >> 1, n - 1]) {
    for (const v of finite) {
      const w = new Float32Array(n).fill(0.5);
      w[at] = v;
      assert.equal(jit.packConvWeights(w, o).finite, true, `${v} at ${at}`);
      assert.equal(allFinite(w), true);
    }
    for (const v of [...bad, ...nanBits]) {
      const w = new Float32Array(n).fill(0.5);
      w[at] = v;
      assert.equal(jit.packConvWeights(w, o).finite, false, `${v} at ${at}`);
      assert.equal(allFinite(w), false);
      // A view: only its own elements count.
      assert.equal(allFinite(w.subarray(at + 1)), true);
      assert.equal(allFinite(w.subarray(0, at)), true);
    }
  }
});

Deno.test("conv plan avx512: a deep-input 1×1 layer leans to channel vectors only where the core says so", () => {
  const s = { ...convSpecOf({ n: 1, c: 256, h: 56, w: 56, outChannels: 64, kernel: [1, 1] }) };
  s.wLanes = CV_LANES; // the weights packed, as a model holds them
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  const lean = planConv(s, "avx512", { ...caches, deepChannelVectors: true });
  const none = planConv(s, "avx512", { ...caches, deepChannelVectors: false });
  assert.ok(lean.cv !== null, "leaning: channel vectors");
  assert.ok(none.cv === null, "not leaning: the position kernel");
  // Parts and tier 2's candidates keep the plan's choice.
  assert.equal(none.deepChannelVectors, false);
});

Deno.test("conv plan avx512: a K×K layer past the first leans to channel vectors only where the core says so", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  const packed = (o: Parameters<typeof convSpecOf>[0]) => ({ ...convSpecOf(o), wLanes: CV_LANES });
  // 3×3 16→32 on 112²: the estimates have the position kernel cheaper by a few percent.
  const s = packed({
    n: 1,
    c: 16,
    h: 112,
    w: 112,
    outChannels: 32,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
  });
  const lean = planConv(s, "avx512", { ...caches, kxkChannelVectors: true });
  const none = planConv(s, "avx512", { ...caches, kxkChannelVectors: false });
  assert.ok(lean.cv !== null, "leaning: channel vectors");
  assert.ok(none.cv === null, "not leaning: the position kernel");
  assert.equal(lean.kxkChannelVectors, true, "parts and tier 2's candidates keep the choice");
  // AVX2 keeps its estimates (the lean was measured at AVX-512).
  const avx2 = planConv(s, "avx2", { ...caches, kxkChannelVectors: true });
  assert.equal(avx2.kxkChannelVectors, false);
  // A first layer (3 inputs) keeps its kernel either way.
  const stem = packed({
    n: 1,
    c: 3,
    h: 224,
    w: 224,
    outChannels: 64,
    kernel: [7, 7],
    strides: [2, 2],
    pads: [3, 3, 3, 3],
  });
  const stemLean = planConv(stem, "avx512", { ...caches, kxkChannelVectors: true });
  const stemNone = planConv(stem, "avx512", { ...caches, kxkChannelVectors: false });
  assert.equal(stemLean.description, stemNone.description);
});

Deno.test("conv plan avx2: the table of row pieces priced at microcoded masked stores where they are", () => {
  const caches = { l1d: 32 << 10, l2: 512 << 10 };
  const spec = (c: number, h: number, oc: number) =>
    convSpecOf({ n: 1, c, h, w: h, outChannels: oc, kernel: [3, 3], pads: [1, 1, 1, 1] });
  const plan = (s: ReturnType<typeof spec>, microcoded: boolean) =>
    planConv(s, "avx2", { ...caches, microcodedMaskedStores: microcoded });
  // 3×3 16→64 on 55² (SqueezeNet's expand layers), weights packed for AVX2: the ordinary
  // estimate puts the table first, which ran 1.2× slower than rows on Zen 3.
  const short = { ...spec(16, 55, 64), wLanes: 8 };
  assert.equal(plan(short, false).mode, "table", plan(short, false).description);
  const rows = plan(short, true);
  assert.equal(rows.mode, "runs", rows.description);
  assert.equal(rows.microcodedMaskedStores, true, "parts are planned with the trait too");
  // Tier 2 still tries the table.
  assert.ok(convChoices(short, rows).some((c) => c.mode === "table"), "a table candidate");
  // A long k loop beside each store (128→32 on 28², the tile kernel's) keeps the table first.
  const long = spec(128, 28, 32);
  assert.equal(plan(long, true).mode, "table", plan(long, true).description);
  // AVX-512's masked stores are not vmaskmovps: the trait is AVX2's.
  const wide = planConv({ ...short, wLanes: CV_LANES }, "avx512", {
    ...caches,
    microcodedMaskedStores: true,
  });
  assert.equal(wide.microcodedMaskedStores, false);
});

Deno.test("conv plan avx2: a residual layer whose y passes half of L2 fetches the next tile's y", () => {
  const caches = { l1d: 32 << 10, l2: 512 << 10 };
  const plan = (c: number, h: number, oc: number, residual: boolean) => {
    const s = { ...convSpecOf({ n: 1, c, h, w: h, outChannels: oc, kernel: [1, 1] }), wLanes: 8 };
    return planConv(residual ? { ...s, residual } : s, "avx2", caches);
  };
  // ResNet-50's 1×1 256→1024 on 14² (y 784 KB) and MobileNetV2's 576→96 (y 75 KB).
  const deep = plan(256, 14, 1024, true), small = plan(576, 14, 96, true);
  const bare = plan(256, 14, 1024, false);
  assert.ok(deep.cv && small.cv && bare.cv, "channel vectors each");
  assert.equal(deep.cv.nextOut, true, deep.description);
  assert.match(deep.description, /next tile's y to L1/);
  assert.equal(small.cv.nextOut, false, small.description);
  assert.equal(bare.cv.nextOut, false, "no residual: the default");
});

Deno.test("conv plan avx2: planes past L1 fetch the next row's x; x past 4 L2s with weights within half of one runs each row through every block", () => {
  const caches = { l1d: 32 << 10, l2: 512 << 10 };
  const plan = (c: number, h: number, oc: number) =>
    planConv(
      {
        ...convSpecOf({ n: 1, c, h, w: h, outChannels: oc, kernel: [3, 3], pads: [1, 1, 1, 1] }),
        wLanes: 8,
      },
      "avx2",
      caches,
    );
  // VGG's 64→64 on 224² (x 12.8 MB, weights 144 KB), 128→128 on 112² (weights 576 KB),
  // ResNet's 64→64 on 56² (12.5 KB planes: x fetched planes ahead instead).
  const vgg = plan(64, 224, 64), deep = plan(128, 112, 128), resnet = plan(64, 56, 64);
  assert.ok(vgg.cv && deep.cv && resnet.cv, "channel vectors each");
  assert.equal(vgg.cv.xNextRows, true, vgg.description);
  assert.equal(vgg.cv.rowsOuter, true, vgg.description);
  assert.match(vgg.description, /next row's x to L2, each row through every block/);
  assert.equal(deep.cv.xNextRows, true, deep.description);
  assert.ok(!deep.cv.rowsOuter, deep.description);
  assert.ok(!resnet.cv.xNextRows && !resnet.cv.rowsOuter, resnet.description);
});

Deno.test("conv plan avx512: x fetched 8 planes ahead on small planes, 2 on large ones", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  const plan = (c: number, h: number, oc: number) =>
    planConv(
      {
        ...convSpecOf({ n: 1, c, h, w: h, outChannels: oc, kernel: [3, 3], pads: [1, 1, 1, 1] }),
        wLanes: CV_LANES,
      },
      "avx512",
      caches,
    );
  const small = plan(64, 56, 64), large = plan(32, 112, 64);
  assert.ok(small.cv !== null && large.cv !== null, "both on channel vectors");
  assert.equal(small.cv.xAhead, 8, "a 56² plane (12.5 KB)");
  assert.equal(large.cv.xAhead, 2, "a 112² plane (49 KB)");
  assert.match(small.description, /x 8 planes ahead/);
});
