/**
 * The 8-bit elementwise family (`jit.quantizeLinear`, `jit.dequantizeLinear`,
 * `jit.qlinearAdd`):
 * exact against ONNX Runtime's formulas in TypeScript on seeded values
 * (halves, saturation, NaN, ±Inf, zero and huge scales, sizes around the
 * 16-lane vectors), on every ISA level the machine has, the same bits on 1,
 * 2 and 3 threads, operands against guard pages, and bad input named before
 * any native code runs.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const SIZES = [1, 2, 3, 5, 15, 16, 17, 31, 33, 64, 100, 257, 1000, 4099];
const f = Math.fround;

function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The first difference of two arrays named (assert.deepEqual's diff of big arrays takes minutes). */
function sameElements(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: lengths`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** ONNX Runtime's QuantizeLinear of one value. */
function quantize(x: number, scale: number, zero: number, signed: boolean): number {
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  const q = roundEven(f(x / scale)) + zero;
  // A NaN: the type's least value, as ONNX Runtime 1.30 gives it (tests/model_test.ts checks
  // it against onnxruntime live).
  return Number.isNaN(q) ? lo : q < lo ? lo : q > hi ? hi : q;
}

/** ONNX Runtime's QLinearAdd of one pair (its constants formed as it forms them). */
function add(
  a: number,
  b: number,
  o: { aScale: number; bScale: number; yScale: number; za: number; zb: number; zy: number },
  signed: boolean,
): number {
  const r1 = f(f(o.aScale) / f(o.yScale)), r2 = f(f(o.bScale) / f(o.yScale));
  const fixed = f(o.zy - f(f(r1 * o.za) + f(r2 * o.zb)));
  const v = f(a * r1 + f(b * r2 + fixed));
  const q = v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  return q < lo ? lo : q > hi ? hi : q;
}

function values(r: () => number, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = r();
    if (u < 0.03) return pick(r, [NaN, Infinity, -Infinity, 1e30, -1e30, -0]);
    // Exact halves of the scale now and then: the ties round to even.
    if (u < 0.2) return f((int(r, -300, 300) + 0.5) * scale);
    return f((r() * 2 - 1) * 200 * scale);
  });
}

for (const isa of LEVELS) {
  Deno.test(`qlinear ${isa}: quantizeLinear and qlinearAdd exact on seeded values`, () => {
    const seed = 6300 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (let t = 0; t < 60; t++) {
      const n = pick(r, SIZES), signed = r() < 0.4;
      const scale = pick(r, [0.1, 0.02, 1 / 64, 3.7, 1e-30, 0]);
      const zero = signed ? int(r, -128, 127) : int(r, 0, 255);
      const x = values(r, n, scale || 1);
      const y = signed ? new Int8Array(n).fill(7) : new Uint8Array(n).fill(7);
      jit.quantizeLinear(x, y, { scale, zeroPoint: zero });
      for (let i = 0; i < n; i++) {
        const want = quantize(x[i], f(scale), zero, signed);
        if (y[i] !== want) {
          assert.fail(
            `${isa} seed ${seed} case ${t}: quantize(${x[i]}, ${scale}, ${zero}) = ${
              y[i]
            }, want ${want}`,
          );
        }
      }
      const o = {
        aScale: f(0.01 + r() * 0.1),
        bScale: f(0.01 + r() * 0.1),
        yScale: f(0.01 + r() * 0.2),
        za: signed ? int(r, -128, 127) : int(r, 0, 255),
        zb: signed ? int(r, -128, 127) : int(r, 0, 255),
        zy: signed ? int(r, -128, 127) : int(r, 0, 255),
      };
      const bytes = () =>
        signed
          ? Int8Array.from({ length: n }, () => int(r, -128, 127))
          : Uint8Array.from({ length: n }, () => int(r, 0, 255));
      const a = bytes(), b = bytes(), z = signed ? new Int8Array(n) : new Uint8Array(n);
      const opts = {
        aScale: o.aScale,
        bScale: o.bScale,
        yScale: o.yScale,
        aZeroPoint: o.za,
        bZeroPoint: o.zb,
        yZeroPoint: o.zy,
      };
      jit.qlinearAdd(a, b, z as never, opts);
      for (let i = 0; i < n; i++) {
        const want = add(a[i], b[i], o, signed);
        if (z[i] !== want) {
          assert.fail(
            `${isa} seed ${seed} case ${t}: add(${a[i]}, ${b[i]}, ${JSON.stringify(o)}) = ${
              z[i]
            }, want ${want}`,
          );
        }
      }
      // Dequantized: (x − zero)·scale in float32.
      const ds = pick(r, [0.1, 1, 1 / 64, 3.7e-3, 250]),
        dz = signed ? int(r, -128, 127) : int(r, 0, 255);
      const d = new Float32Array(n).fill(7);
      jit.dequantizeLinear(a, d, { scale: ds, zeroPoint: dz });
      for (let i = 0; i < n; i++) {
        const want = f((a[i] - dz) * f(ds));
        if (!Object.is(d[i], want)) {
          assert.fail(
            `${isa} seed ${seed} case ${t}: dequantize(${a[i]}, ${ds}, ${dz}) = ${
              d[i]
            }, want ${want}`,
          );
        }
      }
      // In place: y is a.
      jit.qlinearAdd(a, b, a as never, opts);
      assert.deepEqual(a, z);
    }
    const want = isa === "avx512" ? "avx512" : isa === "avx2" ? "avx2" : "scalar loop";
    for (const q of jit.stats().keys) assert.ok(q.plan?.includes(want), `${isa}: ${q.plan}`);
  });
}

Deno.test("qlinear: the same bits on 1, 2 and 3 threads", () => {
  const r = rng(6400);
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const n = 100_003, x = values(r, n, 0.05);
  const a = Uint8Array.from({ length: n }, () => int(r, 0, 255));
  const b = Uint8Array.from({ length: n }, () => int(r, 0, 255));
  const outs = [one, two, three].map((j) => {
    const q = new Int8Array(n), s = new Uint8Array(n);
    j.quantizeLinear(x, q, { scale: 0.05, zeroPoint: -3 });
    j.qlinearAdd(a, b, s, { aScale: 0.03, bScale: 0.05, yScale: 0.07, aZeroPoint: 9 });
    const d = new Float32Array(n);
    j.dequantizeLinear(q, d, { scale: 0.05, zeroPoint: -3 });
    return [q, s, d] as const;
  });
  for (const k of [1, 2]) {
    sameElements(outs[k][0], outs[0][0], `quantizeLinear on ${k + 1} threads`);
    sameElements(outs[k][1], outs[0][1], `qlinearAdd on ${k + 1} threads`);
    sameElements(outs[k][2], outs[0][2], `dequantizeLinear on ${k + 1} threads`);
  }
  assert.ok(three.stats().keys.some((q) => q.parts > 1), "no call was split");
});

Deno.test("qlinear: operands against guard pages on both sides (whole and in parts)", () => {
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const n of [17, 1000, 4100]) {
    for (const side of ["start", "end"] as const) {
      const pages = [new GuardedPages(4 * n), new GuardedPages(n + 4), new GuardedPages(n + 4)];
      try {
        const buf = (p: GuardedPages) => Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
        const at = (p: GuardedPages, bytes: number) =>
          side === "end" ? Math.floor((p.bytes - bytes) / 4) * 4 : 0;
        const x = new Float32Array(buf(pages[0]), at(pages[0], 4 * n), n).fill(1.5);
        const a = new Uint8Array(buf(pages[1]), at(pages[1], n), n).fill(4);
        const y = new Uint8Array(buf(pages[2]), at(pages[2], n), n);
        for (const j of [jit, split]) {
          j.quantizeLinear(x, y, { scale: 0.5, zeroPoint: 1 });
          assert.equal(y[n - 1], 4);
          j.qlinearAdd(a, y, y, { aScale: 1, bScale: 1, yScale: 1 });
          assert.equal(y[n - 1], 8);
          j.dequantizeLinear(y, x, { scale: 0.25, zeroPoint: 2 });
          assert.equal(x[n - 1], 1.5);
        }
      } finally {
        for (const p of pages) p.free();
      }
    }
  }
});

Deno.test("qlinear: bad input throws naming the argument before any native code runs", () => {
  using jit = new Jit();
  const x = new Float32Array(8), y = new Uint8Array(8), a = new Uint8Array(8);
  const add = { aScale: 1, bScale: 1, yScale: 1 };
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.quantizeLinear(x, new Float32Array(8) as never, { scale: 1 }),
      /y must be a Uint8Array or an Int8Array/,
      TypeError,
    ],
    [
      () => jit.quantizeLinear(new Float64Array(8) as never, y, { scale: 1 }),
      /x must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.quantizeLinear(x, new Uint8Array(7), { scale: 1 }),
      /y has 7 elements, x has 8/,
      RangeError,
    ],
    [() => jit.quantizeLinear(x, y, { scale: NaN }), /scale must be a finite number/, RangeError],
    [
      () => jit.quantizeLinear(x, y, { scale: "1" as never }),
      /scale must be a finite number/,
      TypeError,
    ],
    [
      () => jit.quantizeLinear(x, y, { scale: 1, zeroPoint: 256 }),
      /zeroPoint must be an integer in \[0, 255\]/,
      RangeError,
    ],
    [
      () => jit.quantizeLinear(x, new Int8Array(8), { scale: 1, zeroPoint: 200 }),
      /zeroPoint must be an integer in \[-128, 127\]/,
      RangeError,
    ],
    [() => jit.quantizeLinear(x, y, null as never), /options must be an object/, TypeError],
    [
      () => jit.quantizeLinear(x, y.subarray(1, 9) as never, { scale: 1 }),
      /y has 7 elements/,
      RangeError,
    ],
    [
      () => jit.dequantizeLinear(x as never, x, { scale: 1 }),
      /x must be a Uint8Array or an Int8Array/,
      TypeError,
    ],
    [
      () => jit.dequantizeLinear(a, new Float64Array(8) as never, { scale: 1 }),
      /y must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.dequantizeLinear(a, new Float32Array(9), { scale: 1 }),
      /y has 9 elements, x has 8/,
      RangeError,
    ],
    [
      () => jit.dequantizeLinear(a, x, { scale: -Infinity }),
      /scale must be a finite number/,
      RangeError,
    ],
    [
      () => jit.dequantizeLinear(new Int8Array(8), x, { scale: 1, zeroPoint: 128 }),
      /zeroPoint must be an integer in \[-128, 127\]/,
      RangeError,
    ],
    [
      () => jit.qlinearAdd(new Int16Array(8) as never, a, y, add),
      /a must be a Uint8Array or an Int8Array/,
      TypeError,
    ],
    [
      () => jit.qlinearAdd(a, new Int8Array(8) as never, y, add),
      /b must be a Uint8Array as a is/,
      TypeError,
    ],
    [
      () => jit.qlinearAdd(a, a, new Int8Array(8) as never, add),
      /y must be a Uint8Array as a is/,
      TypeError,
    ],
    [
      () => jit.qlinearAdd(a, new Uint8Array(9), y, add),
      /a, b and y have 8, 9 and 8 elements/,
      RangeError,
    ],
    [() => jit.qlinearAdd(a, a, y, { ...add, yScale: 0 }), /yScale must not be 0/, RangeError],
    [
      () => jit.qlinearAdd(a, a, y, { ...add, bScale: Infinity }),
      /bScale must be a finite number/,
      RangeError,
    ],
    [
      () => jit.qlinearAdd(a, a, y, { ...add, aZeroPoint: -1 }),
      /aZeroPoint must be an integer in \[0, 255\]/,
      RangeError,
    ],
    [
      () => jit.qlinearAdd(a.subarray(1), a.subarray(1), y.subarray(1), add),
      /a must start at a multiple of 4 bytes/,
      RangeError,
    ],
    [() => jit.qlinearAdd(a, a, y, undefined as never), /options must be an object/, TypeError],
  ];
  for (const [call, message, kind] of cases) {
    assert.throws(
      call,
      (e: Error) => e instanceof kind && message.test(e.message),
      String(message),
    );
  }
  assert.equal(jit.stats().keys.length, 0, "no kernel was made");
});

for (const isa of LEVELS) {
  Deno.test(`qlinear ${isa}: requantize rows of sums with their channels' multipliers`, () => {
    const seed = 6500 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (let t = 0; t < 40; t++) {
      const cols = pick(r, [1, 3, 15, 16, 17, 49, 196]), rows = int(r, 1, 20);
      const channels = pick(r, [1, 2, 3, 7, rows]), signed = r() < 0.4;
      const n = rows * cols, zero = signed ? int(r, -128, 127) : int(r, 0, 255);
      // Exact integer sums (ties at halves of the multipliers), a NaN now and then.
      const x = Float32Array.from({ length: n }, () => r() < 0.01 ? NaN : int(r, -300000, 300000));
      const m = Float32Array.from({ length: channels }, () => pick(r, [0.5, 0.25, 1 / 3000, 2e-4]));
      const y = signed ? new Int8Array(n).fill(7) : new Uint8Array(n).fill(7);
      jit.requantize(x, y, { cols, multipliers: m, zeroPoint: zero });
      const lo = (signed ? -128 : 0) - zero, hi = (signed ? 127 : 255) - zero;
      for (let i = 0; i < n; i++) {
        let v = f(x[i] * m[Math.floor(i / cols) % channels]);
        let want: number;
        if (Number.isNaN(v)) want = 0;
        else {
          v = v < lo ? lo : v > hi ? hi : v;
          want = roundEven(v) + zero;
        }
        if (y[i] !== want) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${rows}×${cols}: y[${i}] ${y[i]}, want ${want}`,
          );
        }
      }
    }
    const want = isa === "avx512" ? "avx512" : isa === "avx2" ? "avx2" : "scalar loop";
    for (const q of jit.stats().keys) assert.ok(q.plan?.includes(want), `${isa}: ${q.plan}`);
  });
}

Deno.test("qlinear: requantize on 1, 2 and 3 threads, against guard pages, bad input named", () => {
  const r = rng(6600);
  const rows = 64, cols = 49, n = rows * cols;
  const x = Float32Array.from({ length: n }, () => int(r, -50000, 50000));
  const m = Float32Array.from({ length: 16 }, () => r() / 1000);
  const outs = [1, 2, 3].map((threads) => {
    using j = new Jit({ threads, minPartUs: 0 });
    const y = new Uint8Array(n);
    j.requantize(x, y, { cols, multipliers: m, zeroPoint: 128 });
    return y;
  });
  sameElements(outs[1], outs[0], "2 threads");
  sameElements(outs[2], outs[0], "3 threads");
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const side of ["start", "end"] as const) {
    const px = new GuardedPages(4 * n), py = new GuardedPages(n + 4);
    try {
      const xb = Deno.UnsafePointerView.getArrayBuffer(px.pointer, px.bytes);
      const yb = Deno.UnsafePointerView.getArrayBuffer(py.pointer, py.bytes);
      const gx = new Float32Array(xb, side === "end" ? px.bytes - 4 * n : 0, n);
      gx.set(x);
      const gy = new Uint8Array(yb, side === "end" ? Math.floor((py.bytes - n) / 4) * 4 : 0, n);
      for (const j of [jit, split]) {
        j.requantize(gx, gy, { cols, multipliers: m, zeroPoint: 128 });
        sameElements(gy, outs[0], `guarded ${side}`);
      }
    } finally {
      px.free();
      py.free();
    }
  }
  const y = new Uint8Array(6), six = new Float32Array(6), one = Float32Array.of(1);
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.requantize(six, new Float32Array(6) as never, { cols: 2, multipliers: one }),
      /y must be a Uint8Array or an Int8Array/,
      TypeError,
    ],
    [
      () => jit.requantize(new Int32Array(6) as never, y, { cols: 2, multipliers: one }),
      /x must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.requantize(six, y, { cols: 2, multipliers: [1] as never }),
      /multipliers must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.requantize(six, y, { cols: 4, multipliers: one }),
      /cols must be a positive integer dividing x's 6 elements/,
      RangeError,
    ],
    [
      () => jit.requantize(six, new Uint8Array(5), { cols: 2, multipliers: one }),
      /y has 5 elements, x has 6/,
      RangeError,
    ],
    [
      () => jit.requantize(six, y, { cols: 2, multipliers: new Float32Array(0) }),
      /multipliers must hold at least 1 element/,
      RangeError,
    ],
    [
      () => jit.requantize(six, y, { cols: 2, multipliers: one, zeroPoint: -1 }),
      /zeroPoint must be an integer in \[0, 255\]/,
      RangeError,
    ],
    [() => jit.requantize(six, y, null as never), /multipliers must be a Float32Array/, TypeError],
  ];
  for (const [call, message, kind] of cases) {
    assert.throws(
      call,
      (e: Error) => e instanceof kind && message.test(e.message),
      String(message),
    );
  }
  // A getter cannot hand validation one array and the kernel another: read once.
  let reads = 0;
  jit.requantize(six, y, {
    cols: 2,
    get multipliers() {
      reads++;
      return reads === 1 ? Float32Array.of(1, 2, 3) : new Float32Array(0);
    },
  });
  assert.equal(reads, 1);
});

/** ONNX Runtime's QLinearMul of one pair. */
function mulRef(
  a: number,
  b: number,
  o: { aScale: number; bScale: number; yScale: number; za: number; zb: number; zy: number },
  signed: boolean,
): number {
  const ratio = f(f(f(o.aScale) * f(o.bScale)) / f(o.yScale));
  const v = f(f((a - o.za) * (b - o.zb) * ratio) + o.zy);
  const q = v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  return q < lo ? lo : q > hi ? hi : q;
}

/** ONNX Runtime's QLinearAdd with b a span's scalar (folded into the fixed part first). */
function addSpanRef(
  a: number,
  b: number,
  o: { aScale: number; bScale: number; yScale: number; za: number; zb: number; zy: number },
  signed: boolean,
): number {
  const r1 = f(f(o.aScale) / f(o.yScale)), r2 = f(f(o.bScale) / f(o.yScale));
  const fixed = f(o.zy - f(f(r1 * o.za) + f(r2 * o.zb)));
  const v = f(a * r1 + f(fixed + f(b * r2)));
  const q = v >= -2147483648 && v < 2147483648 ? roundEven(v) : -2147483648;
  const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
  return q < lo ? lo : q > hi ? hi : q;
}

for (const isa of LEVELS) {
  Deno.test(`qlinear ${isa}: qlinearAdd and qlinearMul with b of a's shape, a row, or a value a row`, () => {
    const seed = 6700 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (let t = 0; t < 60; t++) {
      const signed = r() < 0.4, mul = r() < 0.5;
      const layout = pick(r, ["same", "row", "span"] as const);
      const cols = pick(r, [1, 5, 16, 17, 49, 64, 100]), rows = int(r, 1, 12), n = rows * cols;
      const bLen = layout === "same" ? n : layout === "row" ? cols : int(r, 1, rows);
      const bytes = (len: number) =>
        signed
          ? Int8Array.from({ length: len }, () => int(r, -128, 127))
          : Uint8Array.from({ length: len }, () => int(r, 0, 255));
      const a = bytes(n), b = bytes(bLen), y = signed ? new Int8Array(n) : new Uint8Array(n);
      const o = {
        aScale: f(0.01 + r() * 0.1),
        bScale: f(0.01 + r() * 0.1),
        yScale: f(0.01 + r() * 0.3),
        za: signed ? int(r, -128, 127) : int(r, 0, 255),
        zb: signed ? int(r, -128, 127) : int(r, 0, 255),
        zy: signed ? int(r, -128, 127) : int(r, 0, 255),
      };
      const opts = {
        aScale: o.aScale,
        bScale: o.bScale,
        yScale: o.yScale,
        aZeroPoint: o.za,
        bZeroPoint: o.zb,
        yZeroPoint: o.zy,
        broadcast: layout,
        cols,
      };
      if (mul) jit.qlinearMul(a, b, y as never, opts);
      else jit.qlinearAdd(a, b, y as never, opts);
      for (let i = 0; i < n; i++) {
        const bi = layout === "same"
          ? b[i]
          : layout === "row"
          ? b[i % cols]
          : b[Math.floor(i / cols) % bLen];
        const want = mul
          ? mulRef(a[i], bi, o, signed)
          : layout === "span"
          ? addSpanRef(a[i], bi, o, signed)
          : add(a[i], bi, o, signed);
        if (y[i] !== want) {
          assert.fail(
            `${isa} seed ${seed} case ${t} ${
              mul ? "mul" : "add"
            } ${layout} ${rows}×${cols} b ${bLen}: y[${i}] ${y[i]}, want ${want}`,
          );
        }
      }
    }
  });
}

Deno.test("qlinear: broadcast add and mul on 1, 2 and 3 threads, against guard pages, bad input named", () => {
  const r = rng(6800);
  const rows = 96, cols = 49, n = rows * cols;
  const a = Uint8Array.from({ length: n }, () => int(r, 0, 255));
  const per = Uint8Array.from({ length: 32 }, () => int(r, 0, 255));
  const row = Uint8Array.from({ length: cols }, () => int(r, 0, 255));
  const o = {
    aScale: 0.02,
    bScale: 0.03,
    yScale: 0.04,
    aZeroPoint: 5,
    bZeroPoint: 7,
    yZeroPoint: 9,
  };
  const outs = [1, 2, 3].map((threads) => {
    using j = new Jit({ threads, minPartUs: 0 });
    const y1 = new Uint8Array(n), y2 = new Uint8Array(n);
    j.qlinearMul(a, per, y1, { ...o, broadcast: "span", cols });
    j.qlinearAdd(a, row, y2, { ...o, broadcast: "row", cols });
    return [y1, y2];
  });
  for (const k of [1, 2]) {
    sameElements(outs[k][0], outs[0][0], `mul by span on ${k + 1} threads`);
    sameElements(outs[k][1], outs[0][1], `add by row on ${k + 1} threads`);
  }
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const side of ["start", "end"] as const) {
    const pa = new GuardedPages(n + 4), pb = new GuardedPages(64), py = new GuardedPages(n + 4);
    try {
      const buf = (p: GuardedPages) => Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
      const at = (p: GuardedPages, bytes: number) =>
        side === "end" ? Math.floor((p.bytes - bytes) / 4) * 4 : 0;
      const ga = new Uint8Array(buf(pa), at(pa, n), n), gy = new Uint8Array(buf(py), at(py, n), n);
      const gb = new Uint8Array(buf(pb), at(pb, 32), 32);
      ga.set(a);
      gb.set(per);
      for (const j of [jit, split]) {
        j.qlinearMul(ga, gb, gy, { ...o, broadcast: "span", cols });
        sameElements(gy, outs[0][0], `guarded ${side}`);
      }
    } finally {
      pa.free();
      pb.free();
      py.free();
    }
  }
  const y = new Uint8Array(6), six = new Uint8Array(6);
  const base = { aScale: 1, bScale: 1, yScale: 1 };
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.qlinearMul(six, six, y, { ...base, broadcast: "rows" as never }),
      /broadcast must be "same", "row" or "span"/,
      RangeError,
    ],
    [
      () => jit.qlinearMul(six, new Uint8Array(4), y, { ...base, broadcast: "row", cols: 4 }),
      /cols must be a positive integer dividing a's 6 elements/,
      RangeError,
    ],
    [
      () => jit.qlinearAdd(six, new Uint8Array(4), y, { ...base, broadcast: "row", cols: 3 }),
      /b has 4 elements, a row of 3 needed/,
      RangeError,
    ],
    [
      () => jit.qlinearAdd(six, new Uint8Array(4), y, { ...base, broadcast: "span", cols: 3 }),
      /b has 4 elements: 1 to the 2 rows needed/,
      RangeError,
    ],
    [
      () => jit.qlinearMul(six, new Uint8Array(4), y, base),
      /a, b and y have 6, 4 and 6 elements/,
      RangeError,
    ],
    [
      () => jit.qlinearMul(six, new Int8Array(6) as never, y, base),
      /qlinearMul: b must be a Uint8Array as a is/,
      TypeError,
    ],
  ];
  for (const [call, message, kind] of cases) {
    assert.throws(
      call,
      (e: Error) => e instanceof kind && message.test(e.message),
      String(message),
    );
  }
});
