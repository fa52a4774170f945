import assert from "node:assert/strict";
import { isaLevel, Jit, type PoolOptions } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { poolReference, poolShape } from "../src/kernels/pool/mod.ts";
import { decodePoolKey, readPool } from "../src/kernels/pool/read.ts";
import type { PoolSpec } from "../src/kernels/pool/spec.ts";
import { toNhwc } from "./helpers/conv.ts";
import { guarded } from "./helpers/guarded.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** A random windowed pooling configuration (pads below the window, as ONNX requires). */
function randomPool(r: () => number): { kind: "max" | "average"; o: PoolOptions } {
  const kh = int(r, 1, 5), kw = pick(r, [kh, int(r, 1, 5)]);
  const kind = pick(r, ["max", "average"] as const);
  const o: PoolOptions = {
    n: pick(r, [1, 2]),
    c: int(r, 1, 5),
    h: int(r, kh, 30),
    w: pick(r, [int(r, kw, 40), 16, 17, 33].map((v) => Math.max(v, kw))),
    kernel: [kh, kw],
    strides: [int(r, 1, 3), int(r, 1, 3)],
    pads: [int(r, 0, kh - 1), int(r, 0, kw - 1), int(r, 0, kh - 1), int(r, 0, kw - 1)],
    dilations: kind === "max" && r() < 0.3 ? [int(r, 1, 2), int(r, 1, 2)] : undefined,
    ceilMode: r() < 0.4,
    countIncludePad: kind === "average" ? r() < 0.5 : undefined,
  };
  return { kind, o };
}

function specOf(
  kind: "max" | "average",
  o: PoolOptions,
  x: Float32Array,
  y: Float32Array,
): PoolSpec {
  const key = new Int32Array(32);
  readPool(kind, x, y, o, key, new Float64Array(8));
  return decodePoolKey(key);
}

/** Output elements of a configuration, by the spec's output formula (checked against ONNX below). */
function outputs(kind: "max" | "average", o: PoolOptions): number {
  const { oh, ow } = planeShape(kind, o);
  return o.n * o.c * oh * ow;
}

/** One plane's output rows and columns. */
function planeShape(kind: "max" | "average", o: PoolOptions): { oh: number; ow: number } {
  const [kh, kw] = o.kernel!, [sh, sw] = o.strides ?? [1, 1], [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const { oh, ow } = poolShape({
    kind,
    planes: 1,
    h: o.h,
    w: o.w,
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    pt,
    pl,
    pb,
    pr,
    ceil: o.ceilMode ?? false,
    countIncludePad: o.countIncludePad ?? false,
    type: "float32",
  });
  return { oh, ow };
}

/**
 * Whether some window of a 3×3/2 max pool reads x's element `i`: without ceil mode a pool can
 * leave its last row or column unread, and a NaN there reaches no output.
 */
function readByAWindow(o: PoolOptions, i: number): boolean {
  const { oh, ow } = planeShape("max", o);
  const [pt, pl] = o.pads ?? [0, 0, 0, 0];
  const covers = (at: number, pad: number, count: number) =>
    Array.from({ length: count }, (_, k) => 2 * k - pad).some((s) => at >= s && at <= s + 2);
  return covers(Math.floor(i / o.w) % o.h, pt, oh) && covers(i % o.w, pl, ow);
}

for (const isa of LEVELS) {
  Deno.test(`pool ${isa}: seeded max and average configurations against the f64 reference`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 2100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 80; t++) {
      const { kind, o } = randomPool(r);
      const ny = outputs(kind, o);
      if (ny === 0) continue;
      // Multiples of 1/8: sums of a window are exact, so max and the sum are exact.
      const x = new Float32Array(o.n * o.c * o.h * o.w).map(() => int(r, -40, 40) / 8);
      const y = new Float32Array(ny).fill(NaN), want = new Float32Array(ny);
      jit.pool(kind, x, y, o);
      poolReference(specOf(kind, o, x, y), x, want);
      for (let i = 0; i < ny; i++) {
        // max exact; average within one rounding of the product by 1/count.
        const tol = kind === "max" ? 0 : Math.abs(want[i]) * 2 ** -23;
        if (!(Math.abs(y[i] - want[i]) <= tol)) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${kind} ${JSON.stringify(o)}: y[${i}] = ${
              y[i]
            }, reference ${want[i]}`,
          );
        }
      }
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });

  Deno.test(`pool ${isa}: max propagates NaN; ±Inf kept; global pools reduce each plane`, () => {
    using jit = new Jit({ maxIsa: isa });
    const o = { n: 1, c: 2, h: 6, w: 20, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] };
    const x = new Float32Array(240).map((_, i) => (i % 7) - 3);
    x[50] = NaN;
    x[200] = Infinity;
    x[201] = -Infinity;
    const y = new Float32Array(240), want = new Float32Array(240);
    jit.pool("max", x, y, o);
    poolReference(specOf("max", o, x, y), x, want);
    assert.deepEqual([...y].map(String), [...want].map(String));
    assert.ok(y.some(Number.isNaN) && y.includes(Infinity));
    const g = new Float32Array(2);
    jit.pool("globalAverage", x.map((v) => (Number.isFinite(v) ? v : 1)), g, {
      n: 1,
      c: 2,
      h: 6,
      w: 20,
    });
    jit.pool("globalMax", x.subarray(120), g.subarray(1), { n: 1, c: 1, h: 6, w: 20 });
    assert.equal(g[1], Infinity);
  });
}

Deno.test("pool: a window of the whole unpadded plane is the global pool (its reduction), NCHW and NHWC", () => {
  const r = rng(2300);
  using jit = new Jit();
  for (const [h, w, c] of [[7, 7, 40], [1, 5, 3], [3, 4, 17]]) {
    const x = new Float32Array(2 * c * h * w).map(() => r() * 8 - 4);
    x[3] = NaN;
    const o = { n: 2, c, h, w, kernel: [h, w], strides: [2, 3] };
    for (const kind of ["max", "average"] as const) {
      const y = new Float32Array(2 * c), want = new Float32Array(2 * c);
      jit.pool(kind, x, y, o);
      poolReference(specOf(kind, o, x, y), x, want);
      for (let i = 0; i < y.length; i++) {
        const tol = kind === "max" ? 0 : 1e-6 * 4;
        assert.ok(
          Object.is(y[i], want[i]) || Math.abs(y[i] - want[i]) <= tol,
          `${kind} ${h}×${w} plane ${i}: ${y[i]} vs ${want[i]}`,
        );
      }
      assert.ok(Number.isNaN(y[0]), `${kind}: the NaN of plane 0`);
      // NHWC: the same values, the planes' order being the channels' in both.
      const yn = new Float32Array(2 * c);
      jit.pool(kind, toNhwc(x, 2, c, h * w), yn, { ...o, layout: "nhwc" });
      assert.deepEqual([...yn].map(String), [...y].map(String));
    }
  }
  // The reduction ran, no windowed pool kernel was made.
  assert.ok(
    jit.stats().keys.every((k) => !k.key.startsWith("maxPool") && !k.key.startsWith("averagePool")),
  );
  assert.ok(jit.stats().keys.some((k) => k.key.startsWith("reduce")));
});

Deno.test("pool: bit-identical on 1 and 3 threads", () => {
  const r = rng(2200);
  using one = new Jit({ threads: 1 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  for (let t = 0; t < 30; t++) {
    const { kind, o } = randomPool(r);
    const ny = outputs(kind, o);
    if (ny === 0) continue;
    const x = new Float32Array(o.n * o.c * o.h * o.w).map(() => r() * 2 - 1);
    const a = new Float32Array(ny), b = new Float32Array(ny);
    one.pool(kind, x, a, o);
    three.pool(kind, x, b, o);
    assert.deepEqual(b, a, `${kind} ${JSON.stringify(o)}`);
  }
});

Deno.test("pool: bad input throws naming the argument", () => {
  using jit = new Jit();
  const o = { n: 1, c: 2, h: 5, w: 5, kernel: [3, 3] };
  const x = new Float32Array(50), y = new Float32Array(18);
  jit.pool("max", x, y, o);
  const bad: [string, unknown, RegExp][] = [
    ["min", o, /kind must be "max", "average", "globalMax" or "globalAverage"/],
    ["max", { ...o, kernel: undefined }, /max needs kernel/],
    [
      "max",
      { ...o, pads: [3, 0, 0, 0] },
      /pads \[3, 0, 0, 0\] must be smaller than the 3×3 window/,
    ],
    ["max", { ...o, kernel: [6, 3] }, /window is larger than the padded input/],
    ["max", { ...o, countIncludePad: true }, /countIncludePad is for average pooling/],
    ["average", { ...o, ceilMode: 1 }, /ceilMode must be a boolean/],
    ["max", { ...o, h: 6 }, /x has 50 elements but n×c×h×w = 1×2×6×5 needs 60/],
    ["max", { ...o, strides: [2, 2] }, /y has 18 elements but n×c×oh×ow = 1×2×2×2 needs 8/],
    ["globalMax", o, /globalMax takes no kernel/],
    // Each windowed option named alone (the check reads them one by one, by name).
    ...([
      ["strides", [1, 1]],
      ["pads", [0, 0, 0, 0]],
      ["autoPad", "VALID"],
      ["dilations", [1, 1]],
      ["ceilMode", false],
      ["countIncludePad", false],
    ] as const).map(([name, value]): [string, unknown, RegExp] => [
      "globalAverage",
      { n: 1, c: 2, h: 5, w: 5, [name]: value },
      new RegExp(`globalAverage takes no ${name}$`),
    ]),
    [
      "globalAverage",
      { n: 1, c: 2, h: 5, w: 5 },
      /y has 18 elements but globalAverage of n×c = 1×2 needs 2/,
    ],
    ["max", { ...o, layout: "NHWC" }, /layout must be "nchw" or "nhwc", got string "NHWC"/],
  ];
  for (const [kind, opts, message] of bad) {
    assert.throws(() => jit.pool(kind as never, x, y, opts as never), (e: Error) => {
      assert.ok(e instanceof TypeError || e instanceof RangeError, String(e));
      assert.match(e.message, /^pool: /);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("pool: output sizes follow ONNX (ceil mode drops a window starting in the trailing pad)", () => {
  // ONNX MaxPool ceil_mode example: 4×4, kernel 3, stride 2 → 2×2 (floor 1×1).
  const base = {
    kind: "max" as const,
    type: "float32" as const,
    planes: 1,
    h: 4,
    w: 4,
    kh: 3,
    kw: 3,
    sh: 2,
    sw: 2,
    dh: 1,
    dw: 1,
  };
  const pads = { pt: 0, pl: 0, pb: 0, pr: 0, countIncludePad: false };
  assert.deepEqual(poolShape({ ...base, ...pads, ceil: true }), { oh: 2, ow: 2 });
  assert.deepEqual(poolShape({ ...base, ...pads, ceil: false }), { oh: 1, ow: 1 });
  // 5 wide, kernel 2, stride 2, pad 1 each side, ceil: windows at -1, 1, 3; 5 starts in the pad.
  const s = {
    ...base,
    h: 5,
    w: 5,
    kh: 2,
    kw: 2,
    pt: 1,
    pl: 1,
    pb: 1,
    pr: 1,
    countIncludePad: false,
    ceil: true,
  };
  assert.deepEqual(poolShape(s), { oh: 3, ow: 3 });
});

/** Max pools x on `wide` and on `planes` and asserts the same bits (NaN included); returns wide's y. */
function maxAsPlanes(
  wide: Jit,
  planes: Jit,
  x: Float32Array,
  o: PoolOptions,
  ny: number,
  what: string,
): Float32Array {
  const a = new Float32Array(ny).fill(7), b = a.slice();
  wide.pool("max", x, a, o);
  planes.pool("max", x, b, o);
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  const at = ua.findIndex((v, i) => v !== ub[i]);
  assert.equal(at, -1, `${what} ${JSON.stringify(o)}: y[${at}] ${a[at]} vs ${b[at]}`);
  return a;
}

Deno.test({
  name: "pool avx512: max read in place gives the plane kernel's bits (±0 ties, NaN, ±Inf)",
  ignore: !LEVELS.includes("avx512"),
  fn: () => {
    const seed = 2300, r = rng(seed);
    using wide = new Jit({ maxIsa: "avx512" });
    using planes = new Jit({ maxIsa: "avx2" }); // the same folds through −∞-padded planes
    let inPlace = 0;
    // The ResNet stem's 3×3/2 (each input row folded once), at edges of every kind.
    const fixed: PoolOptions[] = [
      { n: 1, c: 3, h: 112, w: 112, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { n: 2, c: 2, h: 15, w: 70, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { n: 1, c: 2, h: 16, w: 17, kernel: [3, 3], strides: [2, 2], ceilMode: true },
      { n: 1, c: 1, h: 9, w: 150, kernel: [3, 3], strides: [2, 2], pads: [0, 1, 2, 0] },
      { n: 1, c: 2, h: 3, w: 5, kernel: [3, 3], strides: [2, 2], pads: [2, 2, 2, 2] },
    ];
    for (let t = 0; t < 120 + fixed.length; t++) {
      const o = t < 120 ? { ...randomPool(r).o, countIncludePad: undefined } : fixed[t - 120];
      if (t < 120 && r() < 0.6) o.strides = [o.strides![0], pick(r, [1, 2])]; // in place
      const n = o.n * o.c * o.h * o.w, ny = outputs("max", o);
      // Few distinct values: ties everywhere, zeros of both signs, some NaN and infinities.
      const x = new Float32Array(n).map(() =>
        pick(r, [0, -0, 0, -0, 1, -1, 2, Infinity, -Infinity, NaN, 0.5, -0.5, 3])
      );
      // Bit for bit, NaN included (every level makes the one quiet NaN).
      maxAsPlanes(wide, planes, x, o, ny, `seed ${seed} case ${t}`);
    }
    for (const k of wide.stats().keys) if (k.plan!.includes("in place")) inPlace++;
    assert.ok(inPlace >= 20, `only ${inPlace} configurations took the in-place kernel`);
    const shared = wide.stats().keys.filter((k) => k.plan!.includes("folded once")).length;
    assert.ok(shared >= fixed.length, `only ${shared} configurations folded rows once`);
  },
});

Deno.test("pool: rows narrower than their vectors stored whole into the next row or plane keep the reference's values and nothing past y, 1 and 3 threads", () => {
  // AVX2's plane kernel stores a run's last vector whole where its lanes past the run fit in
  // the next run (a row, the next plane), stored after it; the call's last run masked
  // (pool/generate.ts); its planes are built without masked stores (conv/planes.ts). Outputs
  // of 1-15 columns, planes of 1-4 rows, stride 1 and 2, split over planes on 3 threads.
  const r = rng(2390);
  for (const isa of LEVELS) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0 });
      for (let t = 0; t < 60; t++) {
        const kind = pick(r, ["max", "average"] as const);
        const stride = pick(r, [1, 1, 2]);
        const o: PoolOptions = {
          n: int(r, 1, 2),
          c: int(r, 1, 9),
          h: int(r, 1, 8),
          w: int(r, 1, 30),
          kernel: [3, 3],
          strides: [stride, stride],
          pads: [1, 1, 1, 1],
          ...(kind === "average" ? { countIncludePad: r() < 0.5 } : {}),
        };
        const ny = outputs(kind, o);
        if (ny === 0) continue;
        const x = new Float32Array(o.n * o.c * o.h * o.w).map(() => int(r, -40, 40) / 8);
        const whole = new Float32Array(ny + 16).fill(NaN), y = whole.subarray(0, ny);
        const want = new Float32Array(ny);
        jit.pool(kind, x, y, o);
        poolReference(specOf(kind, o, x, y), x, want);
        const label = `${isa}, ${threads} threads, case ${t} ${kind} ${JSON.stringify(o)}`;
        for (let i = 0; i < ny; i++) {
          const tol = kind === "max" ? 0 : Math.abs(want[i]) * 2 ** -23;
          if (!(Math.abs(y[i] - want[i]) <= tol)) {
            assert.fail(`${label}: y[${i}] = ${y[i]}, reference ${want[i]}`);
          }
        }
        assert.ok(whole.subarray(ny).every(Number.isNaN), `${label}: nothing past y`);
      }
    }
  }
});

/** 3×3/2 max read in place from column pairs, per level: the plan's words, the left pads it takes. */
const PAIRED = [
  { level: "avx512", plan: "aligned column pairs", left: [1], seed: 2350 },
  { level: "avx2", plan: "even/odd column pairs", left: [0, 1, 2], seed: 2360 },
] as const;

for (const { level, plan, left, seed } of PAIRED) {
  Deno.test({
    name:
      `pool ${level}: 3×3/2 max from ${plan} gives the plane kernel's bits, NaN planes made again`,
    ignore: !LEVELS.includes(level),
    fn: () => {
      const r = rng(seed);
      using wide = new Jit({ maxIsa: level });
      // The plane kernel one level down makes the same folds through −∞-padded planes.
      using planes = new Jit({ maxIsa: level === "avx512" ? "avx2" : "sse2" });
      // Widths at every edge of a column pair (a lone column, a lone vector, a ragged pair).
      const widths = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 96, 112, 113, 150];
      // A row's last window reaching the 17th column of its vector's pair (w = 16V + 1 − left,
      // no right pad), a NaN there: the pair's compare alone would miss it.
      const reach = left.flatMap((l) => [1, 2].map((v) => ({ w: 16 * v + 1 - l, l })));
      const cases = 80 + reach.length;
      for (let t = 0; t < cases; t++) {
        const edge = t >= 80 ? reach[t - 80] : null;
        const h = t < widths.length ? int(r, 1, 20) : int(r, 1, 60);
        const w = edge ? edge.w : t < widths.length ? widths[t] : int(r, 1, 160);
        // The left pads the kernel takes; top 0-1, bottom and right 0-2 (2 where a window
        // would not fit), or ceil mode.
        const p = [int(r, 0, 1), edge ? edge.l : pick(r, [...left]), int(r, 0, 2), int(r, 0, 2)];
        if (edge) p[3] = 0;
        if (h + p[0] + p[2] < 3) p[2] = 2;
        if (w + p[1] + p[3] < 3) p[3] = 2;
        const o: PoolOptions = {
          n: int(r, 1, 2),
          c: int(r, 1, 3),
          h,
          w,
          kernel: [3, 3],
          strides: [2, 2],
          pads: p,
          ceilMode: !edge && r() < 0.2,
        };
        const n = o.n * o.c * h * w, ny = outputs("max", o);
        // Ties everywhere, zeros of both signs, infinities; NaN in one plane of some cases
        // (at the first or last column of a row too).
        const x = new Float32Array(n).map(() =>
          pick(r, [0, -0, 0, -0, 1, -1, 2, Infinity, -Infinity, 0.5, -0.5, 3])
        );
        const nan = edge !== null || t % 3 === 2;
        let read = false;
        if (nan) {
          const at = edge ? "last" : pick(r, ["any", "first", "last"] as const);
          const row = int(r, 0, o.n * o.c * h - 1);
          const i = at === "any" ? int(r, 0, n - 1) : row * w + (at === "first" ? 0 : w - 1);
          x[i] = NaN;
          read = readByAWindow(o, i);
        }
        const a = maxAsPlanes(
          wide,
          planes,
          x,
          o,
          ny,
          `seed ${seed} case ${t}${nan ? " (a NaN)" : ""}`,
        );
        // A NaN that a window reads reaches y; one that none reads must not.
        if (nan) {
          assert.equal(a.some(Number.isNaN), read, `seed ${seed} case ${t}: the NaN read: ${read}`);
        }
      }
      const paired = wide.stats().keys.filter((k) => k.plan!.includes(plan));
      assert.equal(paired.length, cases, "every case took the column-pair kernel");
    },
  });
}

Deno.test({
  name:
    "pool avx2: 2×2/2 max and average in place give the plane kernel's bits, x and y against guard pages, 1 and 3 threads",
  ignore: !LEVELS.includes("avx2"),
  fn: () => {
    const seed = 2370, r = rng(seed);
    // halving.ts reads each row pair's columns in place; SSE2's plane kernel makes the same
    // folds (row-major, the later operand of equal maxima, sums left to right) through planes.
    using planes = new Jit({ maxIsa: "sse2" });
    using one = new Jit({ maxIsa: "avx2" });
    using three = new Jit({ maxIsa: "avx2", threads: 3, minPartUs: 0 });
    // Rows of a lone output to 150 (chunked past 16 vectors), every remainder of 8, odd sides.
    const widths = [2, 3, 4, 5, 9, 14, 15, 16, 17, 18, 30, 31, 33, 112, 113, 224, 226, 271, 272];
    const cases = widths.length + 40;
    for (let t = 0; t < cases; t++) {
      const kind = pick(r, ["max", "average"] as const);
      const w = t < widths.length ? widths[t] : int(r, 2, 320);
      const o: PoolOptions = {
        n: int(r, 1, 2),
        c: int(r, 1, 4),
        h: int(r, 2, 9),
        w,
        kernel: [2, 2],
        strides: [2, 2],
      };
      const n = o.n * o.c * o.h * o.w, ny = outputs(kind, o);
      // Ties, zeros of both signs, infinities; a NaN in some cases (at a row's end too).
      const x0 = new Float32Array(n).map(() =>
        pick(r, [0, -0, 0, -0, 1, -1, 2, Infinity, -Infinity, 0.5, -0.5, 3, 0.1, -0.7])
      );
      if (t % 3 === 2) x0[pick(r, [int(r, 0, n - 1), int(r, 1, o.n * o.c * o.h) * w - 1])] = NaN;
      const want = new Float32Array(ny);
      planes.pool(kind, x0, want, o);
      const label = `seed ${seed} case ${t} ${kind} ${JSON.stringify(o)}`;
      // x and y each end at a guard page (a read or write past either faults).
      const gx = guarded(n, "end"), gy = guarded(ny, "end");
      try {
        const x = gx.view, y = gy.view;
        x.set(x0);
        for (const jit of [one, three]) {
          y.fill(7);
          jit.pool(kind, x, y, o);
          const ua = new Uint32Array(y.slice().buffer), ub = new Uint32Array(want.buffer);
          const at = ua.findIndex((v, i) => v !== ub[i]);
          assert.equal(
            at,
            -1,
            `${label}, ${jit.threads} threads: y[${at}] ${y[at]} vs ${want[at]}`,
          );
        }
      } finally {
        gx.free();
        gy.free();
      }
    }
    for (const jit of [one, three]) {
      const halved = jit.stats().keys.filter((k) => k.plan!.includes("2×2/2 in place")).length;
      assert.equal(halved, cases, "every case took the 2×2/2 kernel");
    }
    assert.ok(three.stats().keys.some((k) => k.parts > 1), "no call was split");
  },
});

Deno.test({
  name:
    "pool avx512: average read in place gives the plane kernel's bits (−0 sums, padding, counts)",
  ignore: !LEVELS.includes("avx512"),
  fn: () => {
    const seed = 2400, r = rng(seed);
    using wide = new Jit({ maxIsa: "avx512" });
    using planes = new Jit({ maxIsa: "avx2" }); // the same sums through zero-padded planes
    for (let t = 0; t < 120; t++) {
      const o = { ...randomPool(r).o, dilations: undefined };
      o.strides = [o.strides![0], pick(r, [1, 2, 2])];
      o.countIncludePad = pick(r, [true, false]);
      const n = o.n * o.c * o.h * o.w, ny = outputs("average", o);
      // Zeros of both signs (a window of −0 sums to −0 without padding, +0 with it), NaN, ±Inf.
      const x = new Float32Array(n).map(() =>
        pick(r, [-0, -0, 0, -0, 1.5, -2.25, 3, NaN, Infinity, -Infinity, 0.1, -0.7])
      );
      const a = new Float32Array(ny).fill(7), b = a.slice();
      wide.pool("average", x, a, o);
      planes.pool("average", x, b, o);
      const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
      const at = ua.findIndex((v, i) => v !== ub[i]);
      assert.equal(
        at,
        -1,
        `seed ${seed} case ${t} ${JSON.stringify(o)}: y[${at}] ${a[at]} vs ${b[at]}`,
      );
    }
    const inPlace = wide.stats().keys.filter((k) => k.plan!.includes("average in place")).length;
    assert.ok(inPlace >= 60, `only ${inPlace} configurations averaged in place`);
  },
});

Deno.test("pool: NHWC x and y give the NCHW call's bits, transposed (every ISA, 1 and 3 threads)", () => {
  const r = rng(2200);
  for (const isa of LEVELS) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
      for (let t = 0; t < 16; t++) {
        const kind = pick(r, ["max", "average", "globalMax", "globalAverage"] as const);
        const global = kind === "globalMax" || kind === "globalAverage";
        const kh = int(r, 1, 3), kw = int(r, 1, 3), sh = int(r, 1, 2), sw = int(r, 1, 2);
        const n = int(r, 1, 2), c = int(r, 1, 20), h = int(r, kh, 12), w = int(r, kw, 40);
        const o = global ? { n, c, h, w } : {
          n,
          c,
          h,
          w,
          kernel: [kh, kw],
          strides: [sh, sw],
          pads: [0, int(r, 0, kw - 1), int(r, 0, kh - 1), 0],
        };
        const oh = global ? 1 : Math.floor((h + o.pads![2] - kh) / sh) + 1;
        const ow = global ? 1 : Math.floor((w + o.pads![1] - kw) / sw) + 1;
        const x = new Float32Array(n * c * h * w).map(() => r() * 2 - 1);
        x[int(r, 0, x.length - 1)] = NaN;
        const y = new Float32Array(n * c * oh * ow), yh = y.slice();
        jit.pool(kind, x, y, o);
        jit.pool(kind, toNhwc(x, n, c, h * w), yh, { ...o, layout: "nhwc" });
        const want = toNhwc(y, n, c, oh * ow);
        for (let i = 0; i < y.length; i++) {
          if (!Object.is(yh[i], want[i])) {
            assert.fail(`${isa} ${threads} threads ${kind} ${JSON.stringify(o)}: element ${i}`);
          }
        }
      }
    }
  }
});
