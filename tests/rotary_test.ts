import assert from "node:assert/strict";
import { isaLevel, Jit, type RotaryOptions } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** One random configuration: x, the caches and the options. */
function randomCase(r: () => number) {
  const batch = int(r, 1, 3), sequence = int(r, 1, 5), heads = int(r, 1, 4);
  const headSize = pick(r, [2, 4, 6, 8, 18, 32, 34, 40, 64, 66, 96, 128]);
  const rotaryDim = 2 * int(r, 1, headSize / 2);
  const half = rotaryDim / 2;
  const withPositions = r() < 0.6;
  const rows = withPositions ? int(r, 1, 12) : batch * sequence;
  const o: RotaryOptions = {
    batch,
    sequence,
    heads,
    headSize,
    rotaryDim: r() < 0.5 ? headSize : rotaryDim,
    layout: pick(r, ["bshd", "bhsd"] as const),
    interleaved: r() < 0.4,
    cos: new Float32Array(rows * (r() < 0.5 ? headSize / 2 : half)),
    sin: new Float32Array(0),
  };
  const h2 = (o.rotaryDim ?? headSize) / 2;
  o.cos = new Float32Array(rows * h2).map(() => Math.cos(r() * 7));
  o.sin = new Float32Array(rows * h2).map(() => Math.sin(r() * 7));
  if (withPositions) {
    o.positions = new Int32Array(batch * sequence).map(() => int(r, 0, rows - 1));
  }
  const x = new Float32Array(batch * sequence * heads * headSize).map(() => r() * 8 - 4);
  return { o, x };
}

/** ONNX's reference, in f32 steps, written out independently of the family's. */
function expected(o: RotaryOptions, x: Float32Array): Float32Array {
  const f = Math.fround, y = new Float32Array(x.length);
  const { batch: B, sequence: S, heads: H, headSize: D } = o;
  const rot = o.rotaryDim ?? D, half = rot / 2;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const row = o.positions ? o.positions[b * S + s] : b * S + s;
      for (let h = 0; h < H; h++) {
        const base = o.layout === "bhsd" ? ((b * H + h) * S + s) * D : ((b * S + s) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const i1 = o.interleaved ? 2 * i : i, i2 = o.interleaved ? 2 * i + 1 : i + half;
          const c = o.cos[row * half + i], sn = o.sin[row * half + i];
          y[base + i1] = f(f(c * x[base + i1]) - f(sn * x[base + i2]));
          y[base + i2] = f(f(sn * x[base + i1]) + f(c * x[base + i2]));
        }
        for (let d = rot; d < D; d++) y[base + d] = x[base + d];
      }
    }
  }
  return y;
}

for (const isa of LEVELS) {
  Deno.test(`rotary ${isa}: bit-equal to ONNX's f32 steps (layouts, pairs, partial, positions), in place too`, () => {
    const seed = 5100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (let t = 0; t < 60; t++) {
      const { o, x } = randomCase(r);
      const y = new Float32Array(x.length).fill(NaN);
      jit.rotary(x, y, o);
      const want = expected(o, x);
      assert.deepEqual(
        y,
        want,
        `seed ${seed} case ${t}: ${JSON.stringify({ ...o, cos: 0, sin: 0 })}`,
      );
      const z = x.slice();
      jit.rotary(z, z, o);
      assert.deepEqual(z, want, `seed ${seed} case ${t} in place`);
    }
  });
}

Deno.test("rotary: the documented example, and a new position in the same array between calls", () => {
  using jit = new Jit();
  const x = new Float32Array([1, 2, 3, 4]), y = new Float32Array(4);
  const cos = new Float32Array([1, 1, 0, 0]), sin = new Float32Array([0, 0, 1, 1]);
  const positions = new Int32Array([1]);
  const o = { batch: 1, sequence: 1, heads: 1, headSize: 4, cos, sin, positions };
  jit.rotary(x, y, o);
  assert.deepEqual([...y], [-3, -4, 1, 2]);
  positions[0] = 0; // the kernel reads the positions' memory on every call
  jit.rotary(x, y, o);
  assert.deepEqual([...y], [1, 2, 3, 4]);
});

Deno.test("rotary: bad input throws naming the argument, before native code runs", () => {
  using jit = new Jit();
  const x = new Float32Array(8), y = new Float32Array(8);
  const cos = new Float32Array(4), sin = new Float32Array(4);
  const base = { batch: 1, sequence: 2, heads: 1, headSize: 4, cos, sin };
  const bad: [unknown, RegExp, ErrorConstructor][] = [
    [null, /options must be an object/, TypeError],
    [{ ...base, heads: 0 }, /heads/, RangeError],
    [{ ...base, rotaryDim: 3 }, /rotaryDim must be even/, RangeError],
    [{ ...base, rotaryDim: 6 }, /rotaryDim/, RangeError],
    [{ ...base, layout: "nchw" }, /layout must be/, RangeError],
    [{ ...base, interleaved: 1 }, /interleaved must be a boolean/, TypeError],
    [{ ...base, cos: [1, 2, 3, 4] }, /cos must be a Float32Array/, TypeError],
    [{ ...base, sin: new Float32Array(2) }, /sin has 2 elements/, RangeError],
    [
      { ...base, cos: new Float32Array(6), sin: new Float32Array(6) },
      /without positions cos needs/,
      RangeError,
    ],
    [{ ...base, positions: new Float32Array(2) }, /positions must be an Int32Array/, TypeError],
    [{ ...base, positions: new Int32Array(3) }, /positions has 3 elements/, RangeError],
    [
      { ...base, positions: new Int32Array([0, 2]) },
      /positions\[1\] is 2, outside the caches' rows 0\.\.1/,
      RangeError,
    ],
    [{ ...base, positions: new Int32Array([-1, 0]) }, /positions\[0\] is -1/, RangeError],
  ];
  for (const [o, message, kind] of bad) {
    assert.throws(() => jit.rotary(x, y, o as RotaryOptions), (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(() => jit.rotary(x, new Float32Array(7), base), /y has 7 elements/);
  assert.throws(() => jit.rotary(x, x.subarray(1, 9) as Float32Array, base), RangeError);
  const shifted = new Float32Array(9);
  assert.throws(() => jit.rotary(shifted.subarray(0, 8), shifted.subarray(1), base), /overlaps/);
  assert.equal(jit.stats().calls, 0);
});

Deno.test("rotary: each option is read once, so the caches checked are the caches used", () => {
  using jit = new Jit();
  const x = Float32Array.from({ length: 8 }, (_, i) => i + 1);
  const cos = new Float32Array([1, 0, 0.5, 0.25]), sin = new Float32Array([0, 1, 0.5, 0.75]);
  const want = new Float32Array(8), got = new Float32Array(8);
  jit.rotary(x, want, { batch: 1, sequence: 2, heads: 1, headSize: 4, cos, sin });
  // A getter that answers a checked cache first and a one-element array after.
  const reads = { cos: 0, sin: 0 };
  const once = (name: "cos" | "sin", table: Float32Array) => () =>
    reads[name]++ === 0 ? table : new Float32Array(1);
  const o = { batch: 1, sequence: 2, heads: 1, headSize: 4 } as RotaryOptions;
  Object.defineProperty(o, "cos", { get: once("cos", cos) });
  Object.defineProperty(o, "sin", { get: once("sin", sin) });
  jit.rotary(x, got, o);
  assert.deepEqual(reads, { cos: 1, sin: 1 });
  assert.deepEqual(got, want);
  // Positions too: a checked array first, one past the caches' rows after.
  const positions = new Int32Array([1, 0]);
  jit.rotary(x, want, { batch: 1, sequence: 2, heads: 1, headSize: 4, cos, sin, positions });
  let positionReads = 0;
  const p = { batch: 1, sequence: 2, heads: 1, headSize: 4, cos, sin } as RotaryOptions;
  Object.defineProperty(p, "positions", {
    get: () => positionReads++ === 0 ? positions : new Int32Array([5, 5]),
  });
  jit.rotary(x, got, p);
  assert.equal(positionReads, 1);
  assert.deepEqual(got, want);
});

Deno.test("rotary: stays inside x, y, the caches and the positions, guard pages on both sides", () => {
  const r = rng(5200);
  using jit = new Jit();
  let runs = 0;
  for (let t = 0; t < 30; t++) {
    const { o, x } = randomCase(r);
    for (const side of ["end", "start"] as const) {
      const pages: GuardedPages[] = [];
      const place = <T extends Float32Array | Int32Array>(
        src: T,
        make: (b: ArrayBuffer, o: number, n: number) => T,
      ): T => {
        const p = new GuardedPages(src.length * 4);
        pages.push(p);
        const data = Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
        const view = make(data, side === "end" ? p.bytes - src.length * 4 : 0, src.length);
        view.set(src as never);
        return view;
      };
      const f32 = (b: ArrayBuffer, off: number, n: number) => new Float32Array(b, off, n);
      try {
        const X = place(x, f32), Y = place(new Float32Array(x.length), f32);
        const g: RotaryOptions = { ...o, cos: place(o.cos, f32), sin: place(o.sin, f32) };
        if (o.positions) g.positions = place(o.positions, (b, off, n) => new Int32Array(b, off, n));
        jit.rotary(X, Y, g);
        assert.deepEqual(Y, expected(o, x));
        runs++;
      } finally {
        for (const p of pages) p.free();
      }
    }
  }
  assert.equal(runs, 60);
});
