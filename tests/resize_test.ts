import assert from "node:assert/strict";
import { isaLevel, Jit, type ResizeOptions } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { loadOrt } from "./helpers/ort.ts";
import { sweepNearest } from "../tools/resize_sweep.ts";
import {
  axisTaps,
  COORDINATE_MODES,
  NEAREST_MODES,
  RESIZE_MODES,
  resizeReference,
  type ResizeSpec,
  verticalFirst,
} from "../src/kernels/resize/mod.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/**
 * ONNX Resize of one plane by its definition, element by element: the
 * coordinate transform in float32 as ONNX Runtime computes it (scale, then
 * each operation rounded), the taps' weights and sums in f64.
 */
function definition(
  x: Float32Array,
  o:
    & Required<
      Omit<
        ResizeOptions,
        "scales" | "excludeOutside" | "antialias" | "roi" | "extrapolationValue"
      >
    >
    & {
      scales?: number[];
      excludeOutside?: boolean;
      roi?: number[];
      extrapolationValue?: number;
    },
) {
  const f = Math.fround;
  const sh = f(o.scales?.[0] ?? o.outH / o.h), sw = f(o.scales?.[1] ?? o.outW / o.w);
  const roi = o.roi ?? [0, 0, 1, 1];
  const coord = (out: number, scale: number, inLen: number, outLen: number, axis: 0 | 1) => {
    // ONNX Runtime maps an axis of scale 1 to itself under every transform.
    if (scale === 1) return out;
    switch (o.coordinateTransformationMode) {
      case "tf_crop_and_resize": {
        // ONNX: start·(in − 1) + out·(end − start)·(in − 1)/(outLen − 1), the middle for one output.
        const start = roi[axis], end = roi[axis + 2];
        if (outLen === 1) return f(0.5 * f(start + end) * (inLen - 1));
        return f(
          f(start * (inLen - 1)) + f(f(f(out * f(end - start)) * (inLen - 1)) / (outLen - 1)),
        );
      }
      case "half_pixel":
        return f(f(f(out + 0.5) / scale) - 0.5);
      case "pytorch_half_pixel":
        return outLen > 1 ? f(f(f(out + 0.5) / scale) - 0.5) : 0;
      case "align_corners":
        return outLen === 1 ? 0 : f(f(out * (inLen - 1)) / (outLen - 1));
      case "asymmetric":
        return f(out / scale);
      case "tf_half_pixel_for_nn":
        return f(f(out + 0.5) / scale);
      case "half_pixel_symmetric": {
        // ONNX: offset = (in / 2)·(1 − outLen / (scale·in)), then as half_pixel.
        const adjustment = f(outLen / f(scale * inLen));
        return f(f(f(inLen / 2) * f(1 - adjustment)) + (out + 0.5) / scale - 0.5);
      }
    }
  };
  const at = (r: number, c: number) =>
    x[Math.min(o.h - 1, Math.max(0, r)) * o.w + Math.min(o.w - 1, Math.max(0, c))];
  const taps = (v: number, len: number, scale: number): [number, number][] => {
    if (o.mode === "nearest") {
      // Resize-10's rule: up where the axis shrinks, else toward zero.
      if (o.nearestMode === "simple") return [[scale < 1 ? Math.ceil(v) : Math.trunc(v), 1]];
      // ONNX Runtime 1.30 takes a coordinate within 1e-6 of halfway as the tie.
      const tie = Math.abs(f(f(v - Math.floor(v)) - 0.5)) <= f(1e-6);
      const i = o.nearestMode === "floor"
        ? Math.floor(v)
        : o.nearestMode === "ceil"
        ? Math.ceil(v)
        : o.nearestMode === "round_prefer_ceil"
        ? (tie ? Math.floor(v) + 1 : Math.floor(v + 0.5))
        : (tie ? Math.floor(v) : Math.ceil(v - 0.5));
      return [[i, 1]];
    }
    if (o.mode === "linear") {
      const c = Math.min(Math.max(v, 0), len - 1), i = Math.floor(c);
      return [[i, 1 - (c - i)], [i + 1, c - i]];
    }
    const i = Math.floor(v), t = v - i, A = o.cubicCoeffA;
    const k = (d: number) => {
      d = Math.abs(d);
      return d <= 1
        ? (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1
        : d < 2
        ? A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A
        : 0;
    };
    const all: [number, number][] = [-1, 0, 1, 2].map((j) => [i + j, k(t - j)]);
    if (!o.excludeOutside) return all;
    // exclude_outside: taps outside the input weigh 0, the others renormalized to sum to 1.
    const inside = all.filter(([at]) => at >= 0 && at < len);
    const sum = inside.reduce((acc, [, wt]) => acc + wt, 0);
    return inside.map(([at, wt]) => [at, wt / sum]);
  };
  const y = new Float64Array(o.outH * o.outW);
  for (let i = 0; i < o.outH; i++) {
    for (let j = 0; j < o.outW; j++) {
      let sum = 0;
      const ci = coord(i, sh, o.h, o.outH, 0), cj = coord(j, sw, o.w, o.outW, 1);
      // tf_crop_and_resize: a coordinate outside the input gives the extrapolation value.
      if (
        o.coordinateTransformationMode === "tf_crop_and_resize" &&
        (ci < 0 || ci > o.h - 1 || cj < 0 || cj > o.w - 1)
      ) {
        y[i * o.outW + j] = f(o.extrapolationValue ?? 0);
        continue;
      }
      for (const [r, wr] of taps(ci, o.h, sh)) {
        for (const [c, wc] of taps(cj, o.w, sw)) sum += wr * wc * at(r, c);
      }
      y[i * o.outW + j] = sum;
    }
  }
  return y;
}

// Every mode, transform and nearest rule the kernel takes (a new one is tested here as it lands).
const MODES = RESIZE_MODES, COORDS = COORDINATE_MODES, NEAREST = NEAREST_MODES;

for (const isa of LEVELS) {
  Deno.test(`resize ${isa}: every mode and coordinate transform against ONNX's definition`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 5100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    let cropped = 0;
    for (let t = 0; t < 120; t++) {
      const o = {
        n: 1,
        c: 1,
        h: int(r, 1, 12),
        w: pick(r, [int(r, 1, 20), 8, 17]),
        outH: int(r, 1, 30),
        outW: pick(r, [int(r, 1, 40), 16, 33]),
        mode: pick(r, MODES),
        coordinateTransformationMode: pick(r, COORDS),
        nearestMode: pick(r, NEAREST),
        cubicCoeffA: pick(r, [-0.75, -0.5]),
        excludeOutside: pick(r, [false, true]),
        // tf_crop_and_resize's region: inside the input, or reaching past it on either side.
        roi: [0, 0, 0, 0].map(() => pick(r, [0, 1, int(r, -4, 12) / 8])),
        extrapolationValue: pick(r, [0, -2.5]),
      };
      const x = new Float32Array(o.h * o.w).map(() => int(r, -20, 20) / 4);
      const y = new Float32Array(o.outH * o.outW);
      jit.resize(x, y, o);
      const want = definition(x, o);
      if (o.coordinateTransformationMode === "tf_crop_and_resize") {
        cropped += want.filter((v) => v === o.extrapolationValue).length;
      }
      for (let i = 0; i < y.length; i++) {
        const tol = o.mode === "nearest" ? 0 : 1e-5 * (1 + Math.abs(want[i]));
        if (!(Math.abs(y[i] - want[i]) <= tol)) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${JSON.stringify(o)}: y[${i}] = ${y[i]}, definition ${
              want[i]
            }`,
          );
        }
      }
    }
    // tf_crop_and_resize's regions reached past the input (the extrapolation's fills ran).
    assert.ok(cropped > 0, "no output took the extrapolation value");
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });
}

for (const isa of LEVELS) {
  Deno.test(`resize ${isa}: nearest upscales by whole factors write each row straight to its copies, as ONNX defines them, on 1 and 3 threads`, () => {
    using jit = new Jit({ maxIsa: isa });
    using split = new Jit({ maxIsa: isa, threads: 3, minPartUs: 0 });
    const r = rng(5300);
    let straight = 0;
    // Output rows of 30 (a partial vector), 112 (7 vectors) and 450 (more than the registers
    // hold at once, a partial last vector); factors 2 to 4; several planes.
    for (const [w, factor] of [[15, 2], [56, 2], [225, 2], [10, 3], [150, 3], [28, 4]]) {
      for (const coordinateTransformationMode of ["half_pixel", "asymmetric"] as const) {
        const c = 3, h = 5;
        const o = {
          n: 1,
          c,
          h,
          w,
          outH: h * factor,
          outW: w * factor,
          mode: "nearest" as const,
          coordinateTransformationMode,
          nearestMode: pick(r, ["round_prefer_floor", "round_prefer_ceil", "floor"] as const),
          cubicCoeffA: -0.75,
        };
        const x = new Float32Array(c * h * w).map(() => int(r, -20, 20) / 4);
        const plane = o.outH * o.outW;
        for (const j of [jit, split]) {
          const y = new Float32Array(c * plane);
          j.resize(x, y, o);
          for (let k = 0; k < c; k++) {
            const want = definition(x.subarray(k * h * w, (k + 1) * h * w), { ...o, c: 1 });
            const got = y.subarray(k * plane, (k + 1) * plane);
            const at = got.findIndex((v, i) => !Object.is(v, want[i]));
            if (at >= 0) {
              assert.fail(
                `${isa} ${JSON.stringify(o)} plane ${k}: y[${at}] = ${got[at]}, ${want[at]}`,
              );
            }
          }
        }
      }
    }
    for (const k of jit.stats().keys) {
      if (/to its \d output rows/.test(k.plan ?? "")) straight++;
    }
    // Most cases at AVX-512 and AVX2 (where the permutes reach: the rule's rounding repeats
    // every row `factor` times; asymmetric rounding to nearest at 3× does not); none below.
    if (isa === "avx512" || isa === "avx2") assert.ok(straight >= 6, `${straight} keys`);
  });
}

Deno.test("resize: ONNX's own examples (linear and cubic upsampling by 2, half_pixel)", () => {
  using jit = new Jit();
  const y = new Float32Array(16);
  jit.resize(new Float32Array([1, 2, 3, 4]), y, {
    n: 1,
    c: 1,
    h: 2,
    w: 2,
    outH: 4,
    outW: 4,
    mode: "linear",
  });
  assert.deepEqual([...y], [
    1,
    1.25,
    1.75,
    2,
    1.5,
    1.75,
    2.25,
    2.5,
    2.5,
    2.75,
    3.25,
    3.5,
    3,
    3.25,
    3.75,
    4,
  ]);
  const c = new Float32Array(64);
  jit.resize(new Float32Array(16).map((_, i) => i + 1), c, {
    n: 1,
    c: 1,
    h: 4,
    w: 4,
    outH: 8,
    outW: 8,
    mode: "cubic",
  });
  const first = [
    0.47265625,
    0.76953125,
    1.24609375,
    1.875,
    2.28125,
    2.91015625,
    3.38671875,
    3.68359375,
  ];
  for (let j = 0; j < 8; j++) {
    assert.ok(Math.abs(c[j] - first[j]) < 1e-5, `cubic [0, ${j}] ${c[j]} vs ${first[j]}`);
  }
  const n = new Float32Array(16);
  jit.resize(new Float32Array([1, 2, 3, 4]), n, {
    n: 1,
    c: 1,
    h: 2,
    w: 2,
    outH: 4,
    outW: 4,
    coordinateTransformationMode: "asymmetric",
    nearestMode: "floor",
  });
  assert.deepEqual([...n], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

for (const isa of LEVELS) {
  Deno.test(`resize ${isa}: antialiased windows of 3 to 100+ taps against the separable sums of their tables`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 5300 + LEVELS.indexOf(isa);
    const r = rng(seed);
    let wide = 0, rowsFirst = 0;
    for (let t = 0; t < 40; t++) {
      const h = int(r, 1, 30), w = pick(r, [int(r, 1, 40), 33]);
      const o = {
        n: 1,
        c: int(r, 1, 3),
        h,
        w,
        outH: int(r, 1, Math.max(1, Math.ceil(h * 1.5))),
        outW: int(r, 1, Math.max(1, Math.ceil(w * 1.5))),
        mode: pick(r, ["linear", "cubic"] as const),
        coordinateTransformationMode: pick(r, COORDS),
        cubicCoeffA: pick(r, [-0.75, -0.5]),
        excludeOutside: pick(r, [false, true]),
        antialias: true,
        roi: [0, 0, 0, 0].map(() => pick(r, [0, 1, int(r, -4, 12) / 8])),
        extrapolationValue: -2.5,
      };
      const spec: ResizeSpec = {
        mode: o.mode,
        coordinates: o.coordinateTransformationMode,
        nearest: "round_prefer_floor",
        planes: o.c,
        h,
        w,
        oh: o.outH,
        ow: o.outW,
        scaleH: Math.fround(o.outH / h),
        scaleW: Math.fround(o.outW / w),
        cubicA: o.cubicCoeffA,
        excludeOutside: o.excludeOutside,
        antialias: true,
        roi: [o.roi[0], o.roi[1], o.roi[2], o.roi[3]],
        extrapolation: -2.5,
        band: null,
      };
      if (Math.max(axisTaps(spec, "h"), axisTaps(spec, "w")) > 4) wide++;
      if (verticalFirst(spec)) rowsFirst++;
      const x = new Float32Array(o.c * h * w).map(() => int(r, -20, 20) / 4);
      const y = new Float32Array(o.c * o.outH * o.outW), want = y.slice();
      jit.resize(x, y, o);
      resizeReference(spec, x, want);
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])))) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${JSON.stringify(o)}: y[${i}] = ${y[i]}, ${want[i]}`,
          );
        }
      }
    }
    // The loops over taps ran (windows past the 4 taps the passes unroll), and both orders.
    assert.ok(wide >= 10, `${wide} of 40 cases had windows past 4 taps`);
    assert.ok(rowsFirst >= 5 && rowsFirst <= 35, `${rowsFirst} of 40 cases ran rows first`);
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });
}

Deno.test("resize: threads bit-identical; explicit scales; bad input", () => {
  const r = rng(5200);
  using one = new Jit({ threads: 1 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const o = { n: 2, c: 5, h: 7, w: 9, outH: 15, outW: 20, mode: "cubic" as const };
  const x = new Float32Array(2 * 5 * 63).map(() => r()),
    a = new Float32Array(2 * 5 * 300),
    b = a.slice();
  one.resize(x, a, o);
  three.resize(x, b, o);
  assert.deepEqual(b, a);
  // Fewer planes than parts, rows first: the planes in bands of output rows, the same bits.
  for (const mode of ["linear", "cubic", "nearest"] as const) {
    const d = { n: 1, c: 2, h: 40, w: 37, outH: 17, outW: 15, mode, antialias: mode !== "nearest" };
    const xd = new Float32Array(2 * 40 * 37).map(() => r() - 0.5);
    const ya = new Float32Array(2 * 17 * 15), yb = ya.slice();
    one.resize(xd, ya, d);
    three.resize(xd, yb, d);
    assert.deepEqual(yb, ya, mode);
    const key = three.stats().keys.find((k) => k.key.startsWith(`resize ${mode} 2×40×37`));
    assert.ok(key !== undefined && key.parts > 2, `${mode}: ${key?.parts} parts`);
  }
  // scales given: the transform divides by 1.5, not 7/5.
  const s = { n: 1, c: 1, h: 5, w: 1, outH: 7, outW: 1, mode: "linear" as const, scales: [1.5, 1] };
  const y = new Float32Array(7), xs = new Float32Array([0, 1, 2, 3, 4]);
  one.resize(xs, y, s);
  const want = definition(xs, {
    ...s,
    coordinateTransformationMode: "half_pixel",
    nearestMode: "floor",
    cubicCoeffA: 0,
  });
  for (let i = 0; i < 7; i++) {
    assert.ok(Math.abs(y[i] - want[i]) < 1e-6, `[${i}] ${y[i]} vs ${want[i]}`);
  }
  // Options a mode leaves unused do not make another key: one kernel for calls that compute alike.
  {
    using jit = new Jit();
    const base = { n: 1, c: 1, h: 4, w: 5, outH: 7, outW: 3, mode: "linear" as const };
    const xs4 = new Float32Array(20).map((_, i) => i), ya = new Float32Array(21), yb = ya.slice();
    jit.resize(xs4, ya, base);
    jit.resize(xs4, yb, {
      ...base,
      nearestMode: "ceil",
      cubicCoeffA: -0.5,
      excludeOutside: true,
      roi: [0.2, 0.1, 0.7, 0.9],
      extrapolationValue: 3,
    });
    assert.deepEqual(yb, ya);
    assert.equal(jit.stats().keys.filter((k) => k.key.startsWith("resize")).length, 1);
    // They are still checked.
    assert.throws(() => jit.resize(xs4, yb, { ...base, roi: [0, 0, 1, NaN] }), RangeError);
    assert.throws(() => jit.resize(xs4, yb, { ...base, excludeOutside: 1 as never }), TypeError);
  }
  const bad: [unknown, RegExp][] = [
    [{ ...o, mode: "area" }, /mode must be one of "nearest", "linear", "cubic"/],
    [
      { ...o, coordinateTransformationMode: "tf_cropping" },
      /coordinateTransformationMode must be one of/,
    ],
    [{ ...o, roi: [0, 0, 1] }, /roi must be an array \[startH, startW, endH, endW\]/],
    [{ ...o, roi: [0, 0, 1, NaN] }, /roi\[3\] must be a finite number, got number NaN/],
    [{ ...o, outH: 0 }, /outH must be an integer in \[1, /],
    [{ ...o, antialias: 1 }, /antialias must be a boolean, got number 1/],
    [{ ...o, excludeOutside: "yes" }, /excludeOutside must be a boolean, got string "yes"/],
    [{ ...o, scales: [2] }, /scales must be an array \[scaleH, scaleW\]/],
    [{ ...o, scales: [2, -1] }, /scales\[1\] must be a positive finite number/],
    [{ ...o, outW: 21 }, /y has 3000 elements but n×c×outH×outW = 2×5×15×21 needs 3150/],
  ];
  for (const [opts, message] of bad) {
    assert.throws(() => one.resize(x, a, opts as never), (e: Error) => {
      assert.match(e.message, /^resize: /);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("resize nearest: coordinates in float32, as ONNX Runtime 1.30 picks the pixels", () => {
  // Golden from onnxruntime-node 1.30 (Resize-13 with sizes, x = 0, 1, …): each case's f64
  // coordinate lands a pixel off (10 → 2 asymmetric: 1 / 0.2f is 5 in float32, 4.99999992
  // in f64; 7 → 1 half_pixel: 0.5 / (1/7)f − 0.5 is 2.9999998 in float32, 3 exactly in f64).
  const cases: [
    ResizeOptions["coordinateTransformationMode"],
    ResizeOptions["nearestMode"],
    number,
    number[],
  ][] = [
    ["asymmetric", "floor", 10, [0, 5]],
    ["half_pixel", "floor", 7, [2]],
    ["half_pixel", "floor", 3, [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]],
    ["half_pixel", "floor", 5, [0, 2, 3]],
    ["half_pixel", "floor", 6, [1, 4]],
    // Within 1e-6 of halfway in float32 is a tie: 7 → 2 asymmetric, output 1 is 3.4999998
    // (3.5 exactly), 13 → 28 output 14 is 6.4999995, 23 → 28 output 14 is 11.500001, 14 → 31
    // half_pixel output 15 is 6.5000005; 26 → 28 output 21 is 19.499998, 1.9e-6 short: no tie.
    ["asymmetric", "round_prefer_ceil", 7, [0, 4]],
    ["asymmetric", "round_prefer_ceil", 13, [
      ...[
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
        6,
        6,
        7,
        7,
        7,
        8,
        8,
        9,
        9,
        10,
        10,
        11,
        11,
        12,
        12,
        12,
      ],
    ]],
    ["asymmetric", "round_prefer_floor", 23, [
      ...[0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 11, 12, 13, 14, 15, 16, 16, 17, 18, 19, 20],
      ...[21, 21, 22],
    ]],
    ["asymmetric", "round_prefer_ceil", 26, [
      ...[0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22],
      ...[23, 24, 25],
    ]],
    ["half_pixel", "round_prefer_floor", 14, [
      ...[0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 11, 12],
      ...[12, 13, 13],
    ]],
  ];
  using jit = new Jit({ threads: 1 });
  for (const [coordinateTransformationMode, nearestMode, w, want] of cases) {
    const x = Float32Array.from({ length: w }, (_, i) => i), y = new Float32Array(want.length);
    jit.resize(x, y, {
      n: 1,
      c: 1,
      h: 1,
      w,
      outH: 1,
      outW: want.length,
      mode: "nearest",
      coordinateTransformationMode,
      nearestMode,
    });
    assert.deepEqual(
      Array.from(y),
      want,
      `${coordinateTransformationMode} ${nearestMode} ${w} → ${want.length}`,
    );
  }
});

const ort = await loadOrt();

Deno.test({
  name:
    "resize nearest: every table of widths 1-24 to 1-40 is onnxruntime-node's (live where it is installed)",
  ignore: ort === null,
  fn: async () => {
    using jit = new Jit({ threads: 1 });
    const r = await sweepNearest(ort, jit, 24, 40);
    assert.equal(r.tables, 16 * 24 * 40);
    assert.equal(r.tablesApart, 0, r.shown.join("\n"));
  },
});
