/**
 * The 8-bit max pool (`jit.pool("max", bytes, bytes, ...)`): exact against
 * the float pool's reference on the same values, every ISA level, uint8
 * and int8, threads, guard pages, bad input.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit, type PoolOptions } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { poolReference, poolShape, type PoolSpec } from "../src/kernels/pool/mod.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** A random max window: wide rows (whole vectors and tails), strides 1-3, dilations, ceil mode. */
function randomMax(r: () => number): PoolOptions {
  const kh = int(r, 1, 5), kw = pick(r, [kh, int(r, 1, 5)]);
  const dh = r() < 0.25 ? 2 : 1, dw = r() < 0.25 ? 2 : 1;
  return {
    n: pick(r, [1, 2]),
    c: int(r, 1, 4),
    h: int(r, (kh - 1) * dh + 1, 24),
    w: Math.max((kw - 1) * dw + 1, pick(r, [1, 5, 31, 63, 64, 65, 100, 128, 130, 200])),
    kernel: [kh, kw],
    strides: [int(r, 1, 3), pick(r, [1, 2, 2, 3])],
    pads: [int(r, 0, kh - 1), int(r, 0, kw - 1), int(r, 0, kh - 1), int(r, 0, kw - 1)],
    dilations: [dh, dw],
    ceilMode: r() < 0.3,
  };
}

/** A configuration's spec (one plane set: n·c planes), as the float pool reads it. */
function specOf(o: PoolOptions): PoolSpec {
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  return {
    kind: "max",
    planes: o.n * o.c,
    h: o.h,
    w: o.w,
    kh: o.kernel![0],
    kw: o.kernel![1],
    sh: o.strides?.[0] ?? 1,
    sw: o.strides?.[1] ?? 1,
    dh: o.dilations?.[0] ?? 1,
    dw: o.dilations?.[1] ?? 1,
    pt,
    pl,
    pb,
    pr,
    ceil: o.ceilMode ?? false,
    countIncludePad: false,
    type: "float32",
  };
}

/** Output size of a configuration. */
function outShape(o: PoolOptions): { oh: number; ow: number } {
  return poolShape(specOf(o));
}

/** The expected bytes: the float pool of the same values, −∞ (padding alone) as the least value. */
function expected(o: PoolOptions, x: Uint8Array | Int8Array): number[] {
  const { oh, ow } = outShape(o);
  const y = new Float32Array(o.n * o.c * oh * ow);
  poolReference(specOf(o), Float32Array.from(x), y);
  const least = x instanceof Uint8Array ? 0 : -128;
  return Array.from(y, (v) => Math.max(v, least));
}

function randomBytes(r: () => number, n: number, signed: boolean): Uint8Array | Int8Array {
  const x = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) x[i] = int(r, 0, 255);
  return x;
}

for (const isa of LEVELS) {
  Deno.test(`pool ${isa}: 8-bit max exact on seeded configurations, uint8 and int8`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 2600 + LEVELS.indexOf(isa), r = rng(seed);
    for (let t = 0; t < 120; t++) {
      const o = randomMax(r), { oh, ow } = outShape(o), signed = t % 2 === 1;
      const x = randomBytes(r, o.n * o.c * o.h * o.w, signed);
      const y = signed ? new Int8Array(o.n * o.c * oh * ow) : new Uint8Array(o.n * o.c * oh * ow);
      y.fill(77);
      jit.pool("max", x, y, o);
      const want = expected(o, x);
      const at = want.findIndex((v, i) => v !== y[i]);
      assert.equal(
        at,
        -1,
        `${isa} seed ${seed} case ${t} ${signed ? "int8" : "uint8"} ${
          JSON.stringify(o)
        }: y[${at}] = ${y[at]}, expected ${want[at]}`,
      );
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
    const vector = jit.stats().keys.filter((k) => k.plan!.startsWith(isa)).length;
    if (isa === "avx512" || isa === "avx2") {
      assert.ok(vector >= 100, `only ${vector} calls took the vector kernel`);
    }
  });
}

Deno.test("pool: 8-bit max — a window of padding alone is the least value; same bits on 1-3 threads", () => {
  using jit = new Jit();
  // h = 2, rows −1 and 2 of a dilated window with a pad on both sides: padding only.
  const o: PoolOptions = {
    n: 1,
    c: 2,
    h: 2,
    w: 70,
    kernel: [2, 1],
    dilations: [3, 1],
    pads: [1, 0, 1, 0],
  };
  for (const signed of [false, true]) {
    const x = signed ? new Int8Array(280).fill(5) : new Uint8Array(280).fill(5);
    const y = signed ? new Int8Array(140) : new Uint8Array(140);
    jit.pool("max", x, y, o);
    assert.deepEqual(Array.from(y), new Array(140).fill(signed ? -128 : 0));
  }
  const r = rng(2700);
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  for (let t = 0; t < 20; t++) {
    const q = randomMax(r), { oh, ow } = outShape(q);
    q.c = int(r, 3, 9);
    const x = randomBytes(r, q.n * q.c * q.h * q.w, false);
    const ys = [jit, two, three].map((j) => {
      const y = new Uint8Array(q.n * q.c * oh * ow);
      j.pool("max", x, y, q);
      return y;
    });
    assert.deepEqual(ys[1], ys[0], JSON.stringify(q));
    assert.deepEqual(ys[2], ys[0], JSON.stringify(q));
  }
  assert.ok(three.stats().keys.some((k) => k.parts > 1), "no call was split");
});

Deno.test("pool: 8-bit max with x and y against guard pages (whole and in parts)", () => {
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  const shapes: PoolOptions[] = [
    { n: 1, c: 3, h: 17, w: 100, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    { n: 1, c: 2, h: 9, w: 33, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
    { n: 2, c: 2, h: 7, w: 5, kernel: [2, 2], strides: [3, 3], ceilMode: true },
  ];
  for (const o of shapes) {
    const { oh, ow } = outShape(o), nx = o.n * o.c * o.h * o.w, ny = o.n * o.c * oh * ow;
    for (const side of ["start", "end"] as const) {
      // Byte arrays start at a multiple of 4: at the end, within 3 bytes of the guard.
      const at = (bytes: number, total: number) =>
        side === "end" ? Math.floor((total - bytes) / 4) * 4 : 0;
      const px = new GuardedPages(nx + 4), py = new GuardedPages(ny + 4);
      try {
        const xb = Deno.UnsafePointerView.getArrayBuffer(px.pointer, px.bytes);
        const yb = Deno.UnsafePointerView.getArrayBuffer(py.pointer, py.bytes);
        const x = new Uint8Array(xb, at(nx, px.bytes), nx);
        for (let i = 0; i < nx; i++) x[i] = (i * 29) & 255;
        const want = expected(o, x);
        for (const j of [jit, split]) {
          const y = new Uint8Array(yb, at(ny, py.bytes), ny).fill(1);
          j.pool("max", x, y, o);
          assert.deepEqual(Array.from(y), want, `${JSON.stringify(o)} ${side}`);
        }
      } finally {
        px.free();
        py.free();
      }
    }
  }
});

Deno.test("pool: 8-bit bad input throws naming the argument", () => {
  using jit = new Jit();
  const o = { n: 1, c: 2, h: 5, w: 5, kernel: [3, 3] };
  const x = new Uint8Array(52).subarray(0, 50), y = new Uint8Array(18);
  jit.pool("max", x, y, o);
  const bad: [string, unknown, unknown, unknown, RegExp][] = [
    ["average", x, y, o, /8-bit x and y pool by "max" windows only/],
    ["globalMax", x, new Uint8Array(2), { n: 1, c: 2, h: 5, w: 5 }, /"max" windows only/],
    ["max", x, new Int8Array(18), o, /y must be a Uint8Array as x is, got an Int8Array/],
    ["max", new Int16Array(50), y, o, /x must be a Float32Array, a Uint8Array or an Int8Array/],
    ["max", x, y, { ...o, layout: "nhwc" }, /in layout "nchw" only/],
    ["max", new Uint8Array(51).subarray(1), y, o, /x must start at a multiple of 4 bytes/],
    ["max", x, new Uint8Array(17), o, /y has 17 elements but n×c×oh×ow = 1×2×3×3 needs 18/],
  ];
  for (const [kind, bx, by, opts, message] of bad) {
    assert.throws(
      () => jit.pool(kind as never, bx as never, by as never, opts as never),
      (e: Error) => {
        assert.ok(e instanceof TypeError || e instanceof RangeError, String(e));
        assert.match(e.message, /^pool: /);
        assert.match(e.message, message);
        return true;
      },
    );
  }
});
