import assert from "node:assert/strict";
import { foldBatchNorm, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

function params(r: () => number, c: number) {
  return {
    scale: new Float32Array(c).map(() => r() * 2 - 0.5),
    bias: new Float32Array(c).map(() => r() - 0.5),
    mean: new Float32Array(c).map(() => r() * 4 - 2),
    variance: new Float32Array(c).map(() => r() * 3 + 0.01),
  };
}

/** y by the ONNX formula in f64. */
function definition(
  x: Float32Array,
  p: ReturnType<typeof params>,
  c: number,
  plane: number,
  eps: number,
) {
  return Float64Array.from(x, (v, i) => {
    const ch = Math.floor(i / plane) % c;
    return (v - p.mean[ch]) / Math.sqrt(p.variance[ch] + eps) * p.scale[ch] + p.bias[ch];
  });
}

for (const isa of LEVELS) {
  Deno.test(`batchNorm ${isa}: the ONNX formula within a few ulp, in place too`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(4100 + LEVELS.indexOf(isa));
    for (let t = 0; t < 40; t++) {
      const n = pick(r, [1, 2, 3]),
        c = int(r, 1, 20),
        h = int(r, 1, 9),
        w = pick(r, [1, 7, 16, 17, 33]);
      const p = params(r, c), eps = pick(r, [1e-5, 1e-3, 0]);
      const x = new Float32Array(n * c * h * w).map(() => r() * 8 - 4);
      const y = new Float32Array(x.length);
      jit.batchNorm(x, y, { n, c, h, w, ...p, epsilon: eps });
      const want = definition(x, p, c, h * w, eps);
      for (let i = 0; i < y.length; i++) {
        // a and b rounded (3 + 2 roundings), then one FMA: relative to the terms' size.
        const ch = Math.floor(i / (h * w)) % c;
        const a = Math.abs(p.scale[ch] / Math.sqrt(p.variance[ch] + eps));
        const size = Math.abs(x[i] * a) + Math.abs(p.mean[ch] * a) + Math.abs(p.bias[ch]);
        assert.ok(
          Math.abs(y[i] - want[i]) <= 8 * 2 ** -24 * size,
          `${isa} case ${t} [${i}] ${y[i]} vs ${want[i]}`,
        );
      }
      const z = x.slice();
      jit.batchNorm(z, z, { n, c, h, w, ...p, epsilon: eps });
      assert.deepEqual(z, y);
    }
  });
}

Deno.test("batchNorm: bit-identical on 1 and 3 threads (parts over channels and images)", () => {
  const r = rng(4200);
  using one = new Jit({ threads: 1 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  for (const n of [1, 4]) {
    const c = 7, h = 5, w = 9, p = params(r, c);
    const x = new Float32Array(n * c * h * w).map(() => r() - 0.5);
    const a = new Float32Array(x.length), b = a.slice();
    one.batchNorm(x, a, { n, c, h, w, ...p });
    three.batchNorm(x, b, { n, c, h, w, ...p });
    assert.deepEqual(b, a);
  }
  assert.ok(three.stats().keys.every((k) => k.parts > 1));
});

Deno.test("foldBatchNorm: conv with folded weights ≈ batchNorm after the conv (Conv and ConvTranspose)", () => {
  const r = rng(4300);
  using jit = new Jit();
  const o = {
    n: 1,
    c: 4,
    h: 9,
    w: 11,
    outChannels: 6,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    group: 2,
  };
  const x = new Float32Array(4 * 99).map(() => r() - 0.5);
  const w = new Float32Array(6 * 2 * 9).map(() => r() - 0.5),
    b = new Float32Array(6).map(() => r());
  const p = params(r, 6);
  const conv = new Float32Array(6 * 99),
    twoStep = new Float32Array(6 * 99),
    folded = twoStep.slice();
  jit.conv2d(x, w, conv, { ...o, bias: b });
  jit.batchNorm(conv, twoStep, { n: 1, c: 6, h: 9, w: 11, ...p });
  const f = foldBatchNorm(w, b, { ...p, outChannels: 6 });
  jit.conv2d(x, f.w, folded, { ...o, bias: f.bias });
  for (let i = 0; i < folded.length; i++) {
    assert.ok(Math.abs(folded[i] - twoStep[i]) < 1e-5, `conv [${i}]`);
  }
  // ConvTranspose: w is c × outChannels/group × kh × kw.
  const t = { n: 1, c: 4, h: 5, w: 6, outChannels: 6, kernel: [2, 2], strides: [2, 2], group: 2 };
  const tw = new Float32Array(4 * 3 * 4).map(() => r() - 0.5);
  const tc = new Float32Array(6 * 10 * 12), tt = tc.slice(), tf = tc.slice();
  jit.convTranspose2d(x.subarray(0, 120), tw, tc, t);
  jit.batchNorm(tc, tt, { n: 1, c: 6, h: 10, w: 12, ...p });
  const g = foldBatchNorm(tw, undefined, {
    ...p,
    outChannels: 6,
    transposed: true,
    inChannels: 4,
    group: 2,
  });
  jit.convTranspose2d(x.subarray(0, 120), g.w, tf, { ...t, bias: g.bias });
  for (let i = 0; i < tf.length; i++) {
    assert.ok(Math.abs(tf[i] - tt[i]) < 1e-5, `transposed [${i}]`);
  }
  // In place: the same bits, over w (conv and transposed).
  for (
    const [ww, opts] of [[w, { ...p, outChannels: 6 }], [tw, {
      ...p,
      outChannels: 6,
      transposed: true,
      inChannels: 4,
      group: 2,
    }]] as const
  ) {
    const copy = foldBatchNorm(ww, b, opts);
    const own = ww.slice(), inPlace = foldBatchNorm(own, b, { ...opts, inPlace: true });
    assert.equal(inPlace.w, own);
    assert.deepEqual(inPlace.w, copy.w);
    assert.deepEqual(inPlace.bias, copy.bias);
  }
  assert.throws(
    () => foldBatchNorm(w, b, { ...p, outChannels: 5 }),
    /foldBatchNorm: scale has 6 elements; outChannels needs 5/,
  );
  assert.throws(
    () => foldBatchNorm(tw, undefined, { ...p, outChannels: 6, transposed: true }),
    /inChannels must be an integer/,
  );
});

Deno.test("batchNorm: bad input throws naming the argument", () => {
  using jit = new Jit();
  const p = params(rng(1), 3);
  const x = new Float32Array(12), y = new Float32Array(12);
  const o = { n: 1, c: 3, h: 2, w: 2, ...p };
  jit.batchNorm(x, y, o);
  const bad: [unknown, RegExp][] = [
    [{ ...o, mean: new Float32Array(2) }, /mean has 2 elements; c needs 3/],
    [{ ...o, variance: [1, 2, 3] }, /variance must be a Float32Array/],
    [{ ...o, epsilon: -1 }, /epsilon must be a finite number ≥ 0/],
    [{ ...o, h: 3 }, /x has 12 elements but n×c×h×w = 1×3×3×2 needs 18/],
  ];
  for (const [opts, message] of bad) {
    assert.throws(() => jit.batchNorm(x, y, opts as never), (e: Error) => {
      assert.match(e.message, /^batchNorm: /);
      assert.match(e.message, message);
      return true;
    });
  }
});

for (const isa of LEVELS) {
  Deno.test(`batchNorm ${isa}: a fused activation gives batchNorm then jit.unary, bit for bit`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(5200 + LEVELS.indexOf(isa));
    const c = 5, h = 3, w = 19;
    const x = new Float32Array(2 * c * h * w).map(() => r() * 8 - 4);
    const per = () => new Float32Array(c).map(() => r() * 2 - 1);
    const o = {
      n: 2,
      c,
      h,
      w,
      scale: per(),
      bias: per(),
      mean: per(),
      variance: per().map(Math.abs),
    };
    const acts = [
      "relu",
      "gelu",
      "sigmoid",
      { op: "clip", min: -0.5, max: 0.75 },
      { op: "leakyRelu", alpha: 0.1 },
    ] as const;
    for (const act of acts) {
      const want = new Float32Array(x.length), got = new Float32Array(x.length);
      jit.batchNorm(x, want, o);
      if (typeof act === "string") jit.unary(act, want, want);
      else jit.unary(act.op, want, want, act);
      jit.batchNorm(x, got, { ...o, activation: act });
      assert.deepEqual(got, want, `${isa} ${JSON.stringify(act)}`);
      got.set(x); // in place too
      jit.batchNorm(got, got, { ...o, activation: act });
      assert.deepEqual(got, want, `${isa} ${JSON.stringify(act)} in place`);
    }
  });
}

/** w'[i] by the definition: w·γ/√(var + ε) in f64 for w's output channel, rounded once. */
function foldedByDefinition(
  w: Float32Array,
  p: ReturnType<typeof params>,
  channelOf: (i: number) => number,
  eps: number,
): Float32Array {
  return Float32Array.from(
    w,
    (v, i) => v * (p.scale[channelOf(i)] / Math.sqrt(p.variance[channelOf(i)] + eps)),
  );
}

for (const isa of LEVELS) {
  Deno.test(`jit.foldBatchNorm ${isa}: w·a in f64 rounded once (the exported function's bits), Conv and grouped ConvTranspose, in place, ±Inf, NaN, subnormals`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 4400 + LEVELS.indexOf(isa), r = rng(seed);
    const specials = [Infinity, -Infinity, NaN, 1e-40, -1e-45, -0, 3e38];
    for (let t = 0; t < 60; t++) {
      const transposed = t % 3 === 2;
      const group = transposed ? pick(r, [1, 2, 3]) : 1;
      const ocg = int(r, 1, 9), oc = ocg * group, c = transposed ? group * int(r, 1, 4) : 0;
      // Runs of every length class: 1, under a register of doubles, whole registers, plus a rest.
      const taps = pick(r, [1, 2, 3, 4, 7, 8, 9, 16, 17, 25, int(r, 1, 300)]);
      const per = transposed ? taps : taps * int(r, 1, 3);
      const n = transposed ? c * ocg * taps : oc * per;
      const w = new Float32Array(n).map(() => (r() - 0.5) * 100);
      for (let k = int(r, 0, 3); k > 0; k--) w[int(r, 0, n - 1)] = pick(r, specials);
      const p = params(r, oc), eps = pick(r, [1e-5, 0.1]);
      const channelOf = transposed
        ? (i: number) => {
          const ic = Math.floor(i / (ocg * taps)), m = Math.floor(i / taps) % ocg;
          return Math.floor(ic / (c / group)) * ocg + m;
        }
        : (i: number) => Math.floor(i / per);
      const opts = { ...p, epsilon: eps, outChannels: oc, transposed, group, inChannels: c || 1 };
      const b = new Float32Array(oc).map(() => r());
      const want = foldedByDefinition(w, p, channelOf, eps);
      const got = jit.foldBatchNorm(w, b, opts), ref = foldBatchNorm(w, b, opts);
      const where = `seed ${seed} case ${t} (oc ${oc}, ${
        transposed ? `c ${c} group ${group} ` : ""
      }run ${per})`;
      for (let i = 0; i < n; i++) {
        assert.ok(Object.is(got.w[i], want[i]), `${where} [${i}]: ${got.w[i]} vs ${want[i]}`);
        assert.ok(Object.is(ref.w[i], want[i]), `${where} exported [${i}]`);
      }
      assert.deepEqual(got.bias, ref.bias);
      const own = w.slice(), inPlace = jit.foldBatchNorm(own, b, { ...opts, inPlace: true });
      assert.equal(inPlace.w, own);
      assert.deepEqual(inPlace.w, got.w);
    }
  });
}

Deno.test("jit.foldBatchNorm: w and the folded weights against guard pages, and bad input named", () => {
  const r = rng(4500);
  using jit = new Jit();
  for (const [oc, per] of [[1, 1], [3, 5], [2, 17], [4, 64], [1, 1001]]) {
    const n = oc * per, p = params(r, oc);
    for (const side of ["end", "start"] as const) {
      const pages = new GuardedPages(n * 4);
      try {
        const data = Deno.UnsafePointerView.getArrayBuffer(pages.pointer, pages.bytes);
        const w = new Float32Array(data, side === "end" ? pages.bytes - n * 4 : 0, n);
        w.set(Float32Array.from({ length: n }, () => r() - 0.5));
        const want = foldBatchNorm(w, undefined, { ...p, outChannels: oc });
        const got = jit.foldBatchNorm(w, undefined, { ...p, outChannels: oc, inPlace: true });
        assert.equal(got.w, w);
        assert.deepEqual(got.w, want.w);
      } finally {
        pages.free();
      }
    }
  }
  const p = params(r, 6), w = new Float32Array(6 * 9);
  assert.throws(
    () => jit.foldBatchNorm(w, undefined, { ...p, outChannels: 5 }),
    /foldBatchNorm: scale has 6 elements; outChannels needs 5/,
  );
  assert.throws(
    () => jit.foldBatchNorm(new Float32Array(7), undefined, { ...p, outChannels: 6 }),
    /foldBatchNorm: w has 7 elements, not a multiple of outChannels=6/,
  );
  assert.throws(
    () => jit.foldBatchNorm([1, 2] as unknown as Float32Array, undefined, { ...p, outChannels: 6 }),
    TypeError,
  );
  assert.throws(
    () =>
      jit.foldBatchNorm(w, undefined, {
        ...p,
        outChannels: 6,
        transposed: "yes" as unknown as boolean,
      }),
    /foldBatchNorm: transposed must be a boolean, got string "yes"/,
  );
});
