import assert from "node:assert/strict";
import { isaLevel, Jit, type UnaryOp } from "../mod.ts";
import { UNARY_OPS } from "../src/kernels/unary/mod.ts";
import { STREAM_STORES_FROM } from "../src/kernels/elementwise.ts";
import { assertPartsStream, listingsWith } from "./helpers/dump.ts";
import { assertAtOffsets } from "./helpers/offsets.ts";
import { cpuFeatures, levelsUpTo, prefetchesStreamedRows, streamsOnOneThread } from "../src/cpu.ts";
import { erf64 } from "../src/kernels/math/reference.ts";
import { pick, rng } from "./helpers/random.ts";
import { ulpDistance } from "./helpers/ulp.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const FLT_MAX = 3.4028234663852886e38;

/** ≤ 4 ulp for the functions, ≤ 8 ulp or 1e-7 absolute for composites, exact for the rest. */
const BOUNDS: Record<UnaryOp, { ulp: number; abs?: number }> = {
  exp: { ulp: 4 },
  log: { ulp: 4 },
  tanh: { ulp: 4 },
  sigmoid: { ulp: 4 },
  erf: { ulp: 4 },
  gelu: { ulp: 8, abs: 1e-7 },
  geluTanh: { ulp: 8, abs: 1e-7 },
  silu: { ulp: 8, abs: 1e-7 },
  elu: { ulp: 8, abs: 1e-7 },
  selu: { ulp: 8, abs: 1e-7 },
  softplus: { ulp: 8, abs: 1e-7 },
  mish: { ulp: 8, abs: 1e-7 },
  hardSigmoid: { ulp: 8, abs: 1e-7 },
  hardSwish: { ulp: 8, abs: 1e-7 },
  relu: { ulp: 0 },
  leakyRelu: { ulp: 0 },
  clip: { ulp: 0 },
  sqrt: { ulp: 0 },
  reciprocal: { ulp: 0 },
  abs: { ulp: 0 },
  neg: { ulp: 0 },
  roundHalf: { ulp: 0 },
  round: { ulp: 0 },
};

/** Seeded inputs: every bit pattern class, the ranges where the functions bend, special values. */
function inputs(seed: number, n: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  const bits = new Uint32Array(x.buffer);
  const specials = [
    0,
    -0,
    1,
    -1,
    Infinity,
    -Infinity,
    NaN,
    FLT_MAX,
    -FLT_MAX,
    2 ** -149,
    -(2 ** -149),
    2 ** -126,
  ];
  for (let i = 0; i < n; i++) {
    const kind = r();
    if (kind < 0.3) bits[i] = Math.floor(r() * 2 ** 32);
    else if (kind < 0.6) x[i] = (r() * 2 - 1) * 6;
    else if (kind < 0.8) x[i] = (r() * 2 - 1) * pick(r, [1e-3, 0.7, 2, 20, 120]);
    else if (kind < 0.95) x[i] = -r() * 110;
    else x[i] = pick(r, specials);
  }
  return x;
}

function check(
  op: UnaryOp,
  x: Float32Array,
  y: Float32Array,
  params: readonly number[],
  where: string,
) {
  const def = UNARY_OPS.find((o) => o.name === op)!;
  const bound = BOUNDS[op];
  let worst = 0, at = -1;
  for (let i = 0; i < x.length; i++) {
    const ref = Math.fround(def.reference(x[i], params));
    const d = ulpDistance(y[i], ref);
    if (d > bound.ulp && !(bound.abs !== undefined && Math.abs(y[i] - ref) <= bound.abs)) {
      assert.fail(
        `${where}: ${op}(${x[i]}) = ${y[i]}, reference ${ref}: ${d} ulp (bound ${bound.ulp}` +
          `${bound.abs ? ` or ${bound.abs} absolute` : ""})`,
      );
    }
    if (d > worst && d !== Infinity) [worst, at] = [d, i];
  }
  return { worst, at };
}

for (const isa of LEVELS) {
  Deno.test(`unary ${isa}: every op within its ulp bound on seeded inputs`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 1000 + LEVELS.indexOf(isa);
    const x = inputs(seed, 50_000);
    const y = new Float32Array(x.length);
    for (const def of UNARY_OPS) {
      const op = def.name as UnaryOp;
      jit.unary(op, x, y);
      check(op, x, y, def.defaults.map(Math.fround), `${isa} seed ${seed}`);
    }
    for (const k of jit.stats().keys) {
      assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
      assert.ok(k.plan!.startsWith(isa === "scalar" ? "scalar" : isa), `${k.key}: ${k.plan}`);
    }
  });

  Deno.test(`unary ${isa}: the underflow band, every 16th f32 from −106 to −86`, () => {
    // Where e^x turns subnormal and then rounds to +0: the lanes set to +0
    // without scaling (n < −150) and the ones scaled (n = −150, subnormal
    // results) meet at x ≈ −104.3, expm1 clamps at −87.
    using jit = new Jit({ maxIsa: isa });
    const from = new Float32Array([-106]), to = new Float32Array([-86]);
    const lo = new Uint32Array(from.buffer)[0], hi = new Uint32Array(to.buffer)[0];
    const bits = Uint32Array.from({ length: Math.ceil((lo - hi) / 16) }, (_, i) => hi + 16 * i);
    const x = new Float32Array(bits.buffer);
    const y = new Float32Array(x.length);
    for (
      const op of ["exp", "sigmoid", "silu", "tanh", "elu", "selu", "softplus", "mish"] as const
    ) {
      const def = UNARY_OPS.find((o) => o.name === op)!;
      jit.unary(op, x, y);
      check(op, x, y, def.defaults.map(Math.fround), `${isa} underflow band`);
      if (op !== "exp") continue;
      // Tighter for e^x itself (its worst case over all inputs is 1 ulp), and
      // exact around the threshold, where results are 0 or 2^-149 and the
      // only rounding midpoint is e^x = 2^-150 (x = −150·ln 2): a threshold
      // off by one exponent would zero results of 2^-149.
      const mid = -150 * Math.LN2;
      for (let i = 0; i < x.length; i++) {
        const ref = Math.fround(Math.exp(x[i]));
        const exact = x[i] > -104.4 && x[i] < -103.5 && Math.abs(x[i] - mid) > 1e-4;
        assert.ok(
          ulpDistance(y[i], ref) <= (exact ? 0 : 1),
          `${isa}: e^${x[i]} = ${y[i]}, reference ${ref}`,
        );
      }
    }
  });

  Deno.test(`unary ${isa}: special values exactly`, () => {
    using jit = new Jit({ maxIsa: isa });
    const cases: [UnaryOp, number, number][] = [
      ["exp", -Infinity, 0],
      ["exp", Infinity, Infinity],
      ["exp", 89, Infinity],
      ["exp", -104, 0],
      ["exp", 0, 1],
      ["exp", -0, 1],
      ["log", 0, -Infinity],
      ["log", -0, -Infinity],
      ["log", -1, NaN],
      ["log", -Infinity, NaN],
      ["log", Infinity, Infinity],
      ["log", 1, 0],
      ["log", 2 ** -149, Math.fround(Math.log(2 ** -149))],
      ["tanh", Infinity, 1],
      ["tanh", -Infinity, -1],
      ["tanh", -0, -0],
      ["tanh", 0, 0],
      ["tanh", 1e-30, Math.fround(1e-30)],
      ["tanh", -(2 ** -140), -(2 ** -140)], // subnormal: tanh x = x
      ["tanh", FLT_MAX, 1],
      ["tanh", -FLT_MAX, -1],
      ["tanh", -9.6, -1], // 1 − tanh 9.6 is below half an ulp of 1
      ["tanh", 9.6875, 1], // AVX-512's cap: the last piece, the constant 1
      ["sigmoid", -Infinity, 0],
      ["sigmoid", Infinity, 1],
      ["sigmoid", 0, 0.5],
      ["erf", Infinity, 1],
      ["erf", -Infinity, -1],
      ["erf", -0, -0],
      ["gelu", -Infinity, 0],
      ["gelu", Infinity, Infinity],
      ["gelu", -0, -0],
      ["gelu", 0, 0],
      ["gelu", FLT_MAX, FLT_MAX],
      ["gelu", -FLT_MAX, -0],
      ["geluTanh", -Infinity, 0],
      ["geluTanh", Infinity, Infinity],
      ["silu", -Infinity, 0],
      ["silu", Infinity, Infinity],
      ["mish", -Infinity, 0],
      ["mish", Infinity, Infinity],
      ["softplus", -Infinity, 0],
      ["softplus", Infinity, Infinity],
      ["softplus", 1e4, 1e4],
      ["elu", -Infinity, -1],
      ["hardSwish", -Infinity, 0],
      ["relu", -Infinity, 0],
      ["sqrt", -1, NaN],
      ["sqrt", -0, -0],
      ["reciprocal", 0, Infinity],
      ["reciprocal", -0, -Infinity],
      ["clip", Infinity, FLT_MAX],
      ["abs", -0, 0],
      ["neg", 0, -0],
      // Halves to even, the sign kept on zeros, large values and infinities as they are.
      ["round", 2.5, 2],
      ["round", 3.5, 4],
      ["round", -2.5, -2],
      ["round", -3.5, -4],
      ["round", 0.5, 0],
      ["round", -0.5, -0],
      ["round", -0.4, -0],
      ["round", 8388607.5, 8388608],
      ["round", -8388606.5, -8388606],
      ["round", 2 ** 23 + 1, 2 ** 23 + 1],
      ["round", FLT_MAX, FLT_MAX],
      ["round", -Infinity, -Infinity],
      ["round", 2 ** -149, 0],
    ];
    const ops = [...new Set(UNARY_OPS.map((o) => o.name as UnaryOp))];
    for (const op of ops) {
      // NaN in gives NaN out, for every op.
      const nan = new Float32Array([NaN, 1, NaN]);
      jit.unary(op, nan, nan);
      assert.ok(Number.isNaN(nan[0]) && Number.isNaN(nan[2]), `${isa} ${op}(NaN) = ${nan[0]}`);
    }
    for (const [op, x, want] of cases) {
      const y = new Float32Array(1);
      jit.unary(op, new Float32Array([x]), y);
      const ok = Number.isNaN(want) ? Number.isNaN(y[0]) : Object.is(y[0], want) ||
        (want === 0 && y[0] === 0 && !Object.is(want, -0) && op !== "abs" && op !== "tanh" &&
          op !== "erf");
      assert.ok(
        ok,
        `${isa} ${op}(${x}) = ${Object.is(y[0], -0) ? "-0" : y[0]}, expected ${
          Object.is(want, -0) ? "-0" : want
        }`,
      );
    }
  });

  Deno.test(`unary ${isa}: an element's bits do not depend on its neighbours (rare lanes beside ordinary ones)`, () => {
    // AVX2's e^x takes a vector holding a lane beyond ±86.9, ±Inf or NaN out
    // of line (exp.ts), its ln x one holding a lane not a positive normal
    // number (log.ts): every lane of it must still get the bits it gets
    // among ordinary neighbours, and each rare lane the bits it gets among
    // rare ones.
    using jit = new Jit({ maxIsa: isa });
    const seed = 4242, r = rng(seed);
    const n = 999;
    const sweep = (
      ops: readonly UnaryOp[],
      ordinaryValue: () => number,
      rare: readonly number[],
      filler: number,
    ) => {
      const isRare = Array.from({ length: n }, () => r() < 0.1);
      const mixed = new Float32Array(n),
        ordinary = new Float32Array(n),
        rareOnly = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const u = ordinaryValue(), v = pick(r, rare);
        mixed[i] = isRare[i] ? v : u;
        ordinary[i] = isRare[i] ? 0.5 : u;
        rareOnly[i] = isRare[i] ? v : filler;
      }
      for (const op of ops) {
        const [ym, yo, yr] = [mixed, ordinary, rareOnly].map((x) => {
          const y = new Float32Array(n);
          jit.unary(op, x, y);
          return y;
        });
        for (let i = 0; i < n; i++) {
          const alone = isRare[i] ? yr[i] : yo[i];
          assert.ok(
            Object.is(ym[i], alone),
            `${isa} seed ${seed} ${op}(${mixed[i]}) [${i}]: ${ym[i]}, alone ${alone}`,
          );
        }
      }
    };
    sweep(
      [
        "exp",
        "sigmoid",
        "silu",
        "tanh",
        "elu",
        "selu",
        "gelu",
        "geluTanh",
        "softplus",
        "mish",
        "erf",
      ],
      () => (r() * 2 - 1) * 86,
      [-1e4, -150, -103.5, -95, -87.5, 87, 88.5, 88.75, 100, Infinity, -Infinity, NaN],
      -1e30,
    );
    sweep(
      ["log"],
      () => Math.exp((r() * 2 - 1) * 80),
      [0, -0, 1e-40, 1e-45, -1, -1e-40, Infinity, -Infinity, NaN, 3e38 * 2],
      -2,
    );
  });

  Deno.test(`unary ${isa}: edge sizes, in place, parameters; same bits wherever an element sits`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(77);
    const big = new Float32Array(1025).map(() => (r() * 2 - 1) * 8);
    for (const op of ["tanh", "gelu", "relu", "log", "leakyRelu"] as const) {
      const whole = new Float32Array(big.length);
      jit.unary(op, big, whole);
      for (const n of [1, 7, 15, 16, 17, 31, 33, 1000, 1023, 1025]) {
        for (const off of [0, 1, 5]) {
          if (off + n > big.length) continue;
          const x = big.slice(off, off + n);
          const y = new Float32Array(n);
          jit.unary(op, x, y);
          for (let i = 0; i < n; i++) {
            assert.ok(Object.is(y[i], whole[off + i]), `${isa} ${op} n=${n} off=${off} [${i}]`);
          }
          jit.unary(op, x, x); // in place
          assert.deepEqual(x, y, `${isa} ${op} in place n=${n}`);
        }
      }
    }
    const x = new Float32Array([-2, -0.5, 0.5, 2, 7]);
    const y = new Float32Array(5);
    jit.unary("leakyRelu", x, y, { alpha: 0.1 });
    assert.deepEqual(Array.from(y), [-0.2, -0.05, 0.5, 2, 7].map(Math.fround));
    jit.unary("clip", x, y, { min: 0, max: 6 });
    assert.deepEqual(Array.from(y), [0, 0, 0.5, 2, 6]);
    jit.unary("clip", x, y, { max: 1 });
    assert.deepEqual(Array.from(y), [-2, -0.5, 0.5, 1, 1]);
    jit.unary("hardSigmoid", x, y, { alpha: 0.5, beta: 0.25 });
    assert.deepEqual(Array.from(y), [0, 0, 0.5, 1, 1]);
    jit.unary("elu", x, y, { alpha: 2 });
    assert.ok(Math.abs(y[0] - 2 * Math.expm1(-2)) < 1e-6);
    jit.unary("selu", x, y);
    assert.ok(Math.abs(y[3] - Math.fround(1.0507009873554805 * 2)) < 1e-6);
    // A changed parameter is a new key: both results stay right.
    jit.unary("leakyRelu", x, y, { alpha: 0.3 });
    assert.equal(y[0], Math.fround(-0.6));
  });
}

for (const level of ["avx512", "avx2"] as const) {
  // Where y streams: AVX-512 when the call is split (on one thread too where the core prefers
  // it: Intel); AVX2, whose rows walk along y's 32-byte vectors (aligned: vmovntps asks it), on
  // one thread too.
  const whenSplit = level === "avx512" && !streamsOnOneThread(cpuFeatures());
  Deno.test({
    name: `unary ${level}: y past the last-level cache goes by non-temporal stores ${
      whenSplit ? "when split between threads" : "on one thread and split"
    }, the same bits as ordinary stores wherever x and y start, and in place`,
    ignore: !LEVELS.includes(level),
    fn() {
      // y of STREAM_STORES_FROM bytes and more: its whole lines (vectors) by non-temporal
      // stores, a masked head before them and a masked rest after; calls of a third of it on
      // one thread store as usual. Every element runs the same instructions either way.
      const n = STREAM_STORES_FROM / 4 + 37, third = Math.ceil(n / 3);
      const r = rng(4711);
      const data = new Float32Array(n).map(() => (r() * 2 - 1) * 12);
      const dir = Deno.makeTempDirSync({ prefix: `njit-streamed-${level}-` });
      using jit = new Jit({ maxIsa: level, threads: 1, dump: `${dir}/one` });
      using whole = new Jit({ maxIsa: level, threads: 1, dump: `${dir}/whole` });
      using split = new Jit({ maxIsa: level, threads: 3, minPartUs: 0, dump: `${dir}/split` });
      const streaming = whenSplit ? [split] : [whole, split];
      for (const op of ["exp", "relu"] as const) {
        const want = new Float32Array(n);
        for (let at = 0; at < n; at += third) {
          jit.unary(op, data.subarray(at, at + third), want.subarray(at, at + third));
        }
        for (const j of streaming) {
          assertAtOffsets(
            data,
            [[0, 0], [3, 11], [7, 1], [4, 4], [16, 16]],
            (x, y) => j.unary(op, x, y),
            (i) => want[i],
            op,
            true,
          );
          // x prefetched ahead of streamed stores where the core asks (Intel), said last.
          const fetched = j.stats().keys.filter((k) => k.plan!.endsWith(", x to L2 8192 B ahead"));
          assert.equal(fetched.length > 0, prefetchesStreamedRows(cpuFeatures()));
          const plans = j.stats().keys.map((k) =>
            `${k.key}: ${k.plan!.replace(", x to L2 8192 B ahead", "")}${
              whenSplit ? ` (${k.parts} parts)` : ""
            }`
          );
          const says = whenSplit
            ? "y by non-temporal stores when split (12 parts)"
            : level === "avx2"
            ? "along y's vectors, y by non-temporal stores"
            : `${op}, y by non-temporal stores`;
          assert.ok(
            plans.some((p) => p.startsWith(`${op} n=${n}:`) && p.endsWith(says)),
            plans.join("; "),
          );
        }
        const thirds = jit.stats().keys.map((k) => `${k.key}: ${k.plan}`);
        assert.ok(
          thirds.some((p) => p.startsWith(`${op} n=${third}:`) && !p.includes("non-temporal")),
          thirds.join("; "),
        );
      }
      // The streaming calls' code stores by vmovntps (and fences); the thirds' kernels do not.
      if (whenSplit) assertPartsStream(`${dir}/split`, `${dir}/one`, 2);
      else {
        for (const d of ["whole", "split"]) {
          const streamed = listingsWith(`${dir}/${d}`, "vmovntps");
          assert.ok(streamed.length >= 2, `${d}: ${streamed.join(" ")}`);
          assert.equal(listingsWith(`${dir}/${d}`, "sfence").length, streamed.length);
        }
        assert.deepEqual(listingsWith(`${dir}/one`, "vmovntps"), []);
      }
      Deno.removeSync(dir, { recursive: true });
    },
  });
}

Deno.test("unary: bad input names the argument, the value and the expectation", () => {
  using jit = new Jit();
  const x = new Float32Array(4), y = new Float32Array(4);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.unary("swish" as UnaryOp, x, y),
      /unknown op "swish"; expected one of relu/,
      RangeError,
    ],
    [
      () => jit.unary(3 as unknown as UnaryOp, x, y),
      /op must be a string .* got number 3/,
      TypeError,
    ],
    [() => jit.unary("relu", x, new Float32Array(3)), /y has 3 elements but x has 4/, RangeError],
    [
      () => jit.unary("relu", [1, 2] as unknown as Float32Array, y),
      /x must be a Float32Array, got/,
      TypeError,
    ],
    [
      () => jit.unary("relu", x, new Float64Array(4) as unknown as Float32Array),
      /y must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.unary("relu", x, y, { alpha: 1 }),
      /relu takes no parameters, got alpha = number 1/,
      TypeError,
    ],
    [
      () => jit.unary("leakyRelu", x, y, { alpha: "1" as unknown as number }),
      /leakyRelu alpha must be a number, got string/,
      TypeError,
    ],
    [() => jit.unary("clip", x, y, { alpha: 1 }), /clip takes only min and max/, TypeError],
    [
      () => jit.unary("relu", x, y, 5 as unknown as object),
      /params must be an object or undefined, got number 5/,
      TypeError,
    ],
    [() => jit.unary("relu", x, x.subarray(1) as Float32Array), /y has 3 elements/, RangeError],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
  // Overlap other than exact in-place is refused.
  const buf = new Float32Array(8);
  assert.throws(
    () => jit.unary("relu", buf.subarray(0, 4), buf.subarray(2, 6)),
    /y overlaps x .*y may be x itself, not part of it/,
  );
});

Deno.test("unary: bit-identical across tiers and eviction on random inputs", () => {
  using jit = new Jit({ cacheCapacity: 1 });
  const r = rng(5);
  const x = new Float32Array(333).map(() => (r() * 2 - 1) * 10);
  const first = new Float32Array(x.length), again = new Float32Array(x.length);
  jit.unary("gelu", x, first);
  for (let i = 0; i < 300; i++) {
    jit.unary(i % 2 ? "gelu" : "tanh", x, again); // alternating keys churn the one-kernel cache
  }
  jit.unary("gelu", x, again);
  assert.deepEqual(again, first);
  const k = jit.stats().keys.find((k) => k.key.startsWith("gelu"))!;
  assert.equal(k.referenceCalls, 0);
});

Deno.test("erf64 reference against known values", () => {
  // erf from Abramowitz & Stegun table 7.1 / mpmath, 15 digits.
  const known: [number, number][] = [
    [0.1, 0.112462916018285],
    [0.5, 0.520499877813047],
    [1, 0.842700792949715],
    [2, 0.995322265018953],
    [2.5, 0.999593047982555],
    [3, 0.999977909503001],
    [4, 0.999999984582742],
  ];
  for (const [x, e] of known) {
    assert.ok(Math.abs(erf64(x) - e) < 2e-15, `erf64(${x}) = ${erf64(x)}`);
  }
});
