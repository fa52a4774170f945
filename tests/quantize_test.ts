/**
 * Dynamic quantization (`jit.quantizeDynamic`, ONNX DynamicQuantizeLinear):
 * bit-equal to an independent float32 computation on seeded inputs (edge
 * lengths around the 16-lane vectors and 4-vector steps, ranges all
 * positive, all negative, mixed, constant; NaN and ±Inf), on every ISA
 * level the machine has, inside operands with guard pages on both sides,
 * and bad input named before any native code runs. Its agreement with
 * ONNX Runtime is tested through the DynamicQuantizeLinear model op.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const LENGTHS = [0, 1, 2, 15, 16, 17, 63, 64, 65, 100, 1000, 4099];
const f = Math.fround;

/**
 * The oracle, written from the ONNX definition and ONNX Runtime's order of
 * float32 steps (not the family's reference): NaNs out of the range, ties to even.
 */
function expected(x: Float32Array): { y: Uint8Array; scale: number; zp: number } {
  let min = 0, max = 0;
  for (const v of x) {
    if (!Number.isNaN(v)) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  const scale = max === min ? 1 : f(f(max - min) / 255);
  const even = (v: number) => {
    const fl = Math.floor(v), d = v - fl;
    return d > 0.5 || (d === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
  };
  const initial = f(0 - f(min / scale));
  const zp = Number.isNaN(initial) ? 0 : even(Math.min(255, Math.max(0, initial)));
  const y = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const t = f(x[i] / scale);
    // NaN quantizes to 0; ±Inf (with a finite scale) saturate.
    const q = Number.isNaN(t) ? 0 : even(Math.max(-256, Math.min(256, t))) + zp;
    y[i] = Math.max(0, Math.min(255, q));
  }
  return { y, scale, zp };
}

function check(jit: Jit, x: Float32Array, what: string): void {
  const y = new Uint8Array(x.length).fill(77), scale = new Float32Array(1);
  const zp = new Uint8Array(4).fill(9);
  jit.quantizeDynamic(x, y, scale, zp);
  const want = expected(x);
  assert.ok(Object.is(scale[0], want.scale), `${what}: scale ${scale[0]} vs ${want.scale}`);
  assert.equal(zp[0], want.zp, `${what}: zero point`);
  assert.deepEqual(zp.subarray(1), Uint8Array.of(9, 9, 9), `${what}: wrote past the zero point`);
  for (let i = 0; i < x.length; i++) {
    if (y[i] !== want.y[i]) assert.fail(`${what}: y[${i}] = ${y[i]} vs ${want.y[i]} (x ${x[i]})`);
  }
}

for (const isa of LEVELS) {
  Deno.test(`quantizeDynamic ${isa}: bit-equal to the float32 steps on seeded inputs and edge lengths`, () => {
    const seed = 6100 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (const n of LENGTHS) {
      for (const kind of ["mixed", "positive", "negative", "constant", "ties"] as const) {
        const x = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const u = (r() - 0.5) * pick(r, [1e-3, 1, 7, 1e4]);
          x[i] = kind === "positive"
            ? Math.abs(u) + 0.5
            : kind === "negative"
            ? -Math.abs(u) - 0.5
            : kind === "constant"
            ? 2.5
            : kind === "ties"
            ? int(r, -255, 255) / 2 // x/scale lands on .5 often when the range is 255
            : u;
        }
        if (kind === "ties" && n > 1) x[0] = 127.5, x[1] = -127.5;
        check(jit, x, `${isa} seed ${seed} n ${n} ${kind}`);
      }
    }
    // Special values: NaN is out of the range and quantizes to 0; ±0; huge values.
    const specials = [NaN, -0, 0, 3e38, -3e38, 1e-45, -1e-45, Infinity, -Infinity];
    for (let t = 0; t < 30; t++) {
      const n = pick(r, [3, 17, 40]);
      const x = Float32Array.from({ length: n }, () => r() < 0.3 ? pick(r, specials) : r() - 0.4);
      check(jit, x, `${isa} seed ${seed} specials case ${t} [${x.slice(0, 6).join(", ")}…]`);
    }
    check(jit, Float32Array.of(NaN, NaN), `${isa} all NaN`);
    check(jit, new Float32Array(33).fill(-0), `${isa} all −0`);
    const plan = jit.stats().keys[0].plan ?? "";
    const path = isa === "avx512" ? "avx512" : isa === "avx2" ? "avx2" : "scalar loop";
    assert.ok(plan.includes(path), `${isa}: ${plan}`);
  });
}

Deno.test("quantizeDynamic: operands against guard pages on both sides (whole and in parts)", () => {
  using one = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (
    const [jit, n] of [[one, 1], [one, 16], [one, 17], [one, 70], [split, 1000], [
      split,
      4099,
    ]] as const
  ) {
    for (const side of ["start", "end"] as const) {
      const px = new GuardedPages(4 * n), py = new GuardedPages(n);
      try {
        const xb = Deno.UnsafePointerView.getArrayBuffer(px.pointer, px.bytes);
        const yb = Deno.UnsafePointerView.getArrayBuffer(py.pointer, py.bytes);
        const xOff = side === "end" ? px.bytes - 4 * n : 0;
        // y's end at the page's end needs n a multiple of 4 (y starts at a multiple of 4).
        const yOff = side === "end" ? (py.bytes - n) & ~3 : 0;
        const x = new Float32Array(xb, xOff, n).map((_, i) => i - n / 2);
        const y = new Uint8Array(yb, yOff, n);
        const scale = new Float32Array(1), zp = new Uint8Array(4);
        jit.quantizeDynamic(x, y, scale, zp);
        assert.deepEqual(y, expected(x).y, `n ${n} ${side}`);
        if (jit === split) assert.ok(jit.stats().keys.every((k) => k.parts > 1), "not split");
      } finally {
        px.free();
        py.free();
      }
    }
  }
});

Deno.test("quantizeDynamic: bad input throws naming the argument before any native code runs", () => {
  using jit = new Jit();
  const x = new Float32Array(8), y = new Uint8Array(8), s = new Float32Array(1);
  const z = new Uint8Array(4);
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.quantizeDynamic(new Float64Array(8) as never, y, s, z),
      /x must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.quantizeDynamic(x, new Int8Array(8) as never, s, z),
      /y must be a Uint8Array/,
      TypeError,
    ],
    [() => jit.quantizeDynamic(x, y, [1] as never, z), /scale must be a Float32Array/, TypeError],
    [
      () => jit.quantizeDynamic(x, y, s, new Uint16Array(2) as never),
      /zeroPoint must be a Uint8Array/,
      TypeError,
    ],
    [
      () => jit.quantizeDynamic(x, new Uint8Array(7), s, z),
      /y has 7 elements, x has 8/,
      RangeError,
    ],
    [
      () => jit.quantizeDynamic(x, y, new Float32Array(0), z),
      /scale must hold 1 element/,
      RangeError,
    ],
    [
      () => jit.quantizeDynamic(x, y, s, new Uint8Array(0)),
      /zeroPoint must hold 1 element/,
      RangeError,
    ],
    [
      () => jit.quantizeDynamic(x, new Uint8Array(12).subarray(2, 10), s, z),
      /quantizeDynamic: y must start at a multiple of 4 bytes/,
      RangeError,
    ],
    [
      () => jit.quantizeDynamic(x, new Uint8Array(x.buffer, 0, 8), s, z),
      /overlap|share/,
      RangeError,
    ],
  ];
  for (const [call, re, type] of cases) {
    assert.throws(call, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
  assert.equal(jit.stats().calls, 0, "a bad call reached native code");
});
