/**
 * The squaredDistances family against a scalar loop written here (each
 * difference, square and sum rounded to float32, terms in order): bit-equal
 * on every level, at sizes around the tile (4 rows × 2 vectors) and the
 * vector, with NaN and ±Inf; 1, 2 and 3 threads; bad input refused before
 * native code runs; operands against guard pages.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const f = Math.fround;

/** The distances as a scalar float32 loop computes them. */
function expected(a: Float32Array, b: Float32Array, m: number, n: number, k: number) {
  const y = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) {
        const d = f(a[i * k + t] - b[t * n + j]);
        s = f(s + f(d * d));
      }
      y[i * n + j] = s;
    }
  }
  return y;
}

function values(r: () => number, length: number, special: boolean): Float32Array {
  return Float32Array.from({ length }, () => {
    if (special && r() < 0.02) return pick(r, [NaN, Infinity, -Infinity, -0]);
    return r() < 0.3 ? int(r, -4, 4) : (r() * 2 - 1) * 1e3 ** (r() * 2 - 1);
  });
}

const SIDES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 33, 100];

for (const isa of LEVELS) {
  Deno.test(`squaredDistances ${isa}: bit-equal to a scalar float32 loop, sizes around the tile and the vector`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const seed = 7600 + LEVELS.indexOf(isa), r = rng(seed);
    for (let c = 0; c < 80; c++) {
      const m = pick(r, SIDES), n = pick(r, SIDES), k = pick(r, [1, 2, 3, 8, 20, 61]);
      const a = values(r, m * k, c % 4 === 0), b = values(r, k * n, c % 4 === 1);
      const y = new Float32Array(m * n).fill(-7);
      jit.squaredDistances(a, b, y, { m, n, k });
      assert.deepEqual(y, expected(a, b, m, n, k), `seed ${seed} case ${c}: ${m}×${n} over ${k}`);
    }
  });
}

Deno.test("squaredDistances: the same bits on 1, 2 and 3 threads; the documented example", () => {
  const r = rng(7700), m = 901, n = 77, k = 13;
  const a = values(r, m * k, false), b = values(r, k * n, false), want = expected(a, b, m, n, k);
  for (const threads of [1, 2, 3]) {
    using jit = new Jit({ threads, minPartUs: 0 });
    const y = new Float32Array(m * n);
    jit.squaredDistances(a, b, y, { m, n, k });
    assert.deepEqual(y, want, `${threads} threads`);
  }
  using jit = new Jit();
  const y = new Float32Array(4);
  jit.squaredDistances(new Float32Array([0, 0, 3, 0]), new Float32Array([0, 3, 0, 4]), y, {
    m: 2,
    n: 2,
    k: 2,
  });
  assert.deepEqual([...y], [0, 25, 9, 16]);
});

Deno.test("squaredDistances: bad input throws naming the argument, before native code runs", () => {
  using jit = new Jit();
  const a = new Float32Array(6), b = new Float32Array(12), y = new Float32Array(8);
  const o = { m: 2, n: 4, k: 3 };
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [() => jit.squaredDistances([0] as never, b, y, o), /a must be a Float32Array/, TypeError],
    [
      () => jit.squaredDistances(a, b, new Int32Array(8) as never, o),
      /y must be a Float32Array/,
      TypeError,
    ],
    [() => jit.squaredDistances(a, b, y, null as never), /options must be an object/, TypeError],
    [() => jit.squaredDistances(a, b, y, { ...o, m: 0 }), /m/, RangeError],
    [() => jit.squaredDistances(a, b, y, { ...o, k: 1.5 }), /k/, RangeError],
    [() => jit.squaredDistances(a, b, y, { ...o, n: 2 ** 27 }), /n/, RangeError],
    [
      () => jit.squaredDistances(a, b, y, { ...o, m: 3 }),
      /a has 6 elements but m × k = 9/,
      RangeError,
    ],
    [
      () => jit.squaredDistances(a, new Float32Array(11), y, o),
      /b has 11 elements but k × n = 12/,
      RangeError,
    ],
    [
      () => jit.squaredDistances(a, b, new Float32Array(9), o),
      /y has 9 elements but m × n = 8/,
      RangeError,
    ],
    [() => jit.squaredDistances(a, b, b.subarray(0, 8), o), /overlaps/, RangeError],
  ];
  for (const [call, message, kind] of bad) {
    assert.throws(call, (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.equal(jit.stats().calls, 0);
});

Deno.test("squaredDistances: stays inside a, b and y, guard pages on both sides", () => {
  const r = rng(7800);
  using jit = new Jit();
  let runs = 0;
  for (let c = 0; c < 10; c++) {
    const m = pick(r, SIDES), n = pick(r, SIDES), k = pick(r, [1, 3, 20]);
    const src = [values(r, m * k, false), values(r, k * n, false)];
    for (const side of ["end", "start"] as const) {
      const pages = [m * k, k * n, m * n].map((len) => new GuardedPages(4 * len));
      try {
        const [A, B, Y] = pages.map((p, i) => {
          const len = [m * k, k * n, m * n][i];
          const buffer = Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
          return new Float32Array(buffer, side === "end" ? p.bytes - 4 * len : 0, len);
        });
        A.set(src[0]);
        B.set(src[1]);
        jit.squaredDistances(A, B, Y, { m, n, k });
        assert.deepEqual(Y, expected(src[0], src[1], m, n, k));
        runs++;
      } finally {
        for (const p of pages) p.free();
      }
    }
  }
  assert.equal(runs, 20);
});
