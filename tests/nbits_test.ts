/**
 * 4-bit weight products (`jit.matmulNBits`, ONNX Runtime's MatMulNBits at 4
 * bits): against an f64 oracle written from the MatMulNBits layout (not the
 * packing) on seeded shapes — partial tiles and blocks, every zero-point
 * form, a bias — on every ISA level the machine has; exact on small-integer
 * inputs; the FMA levels bit-identical to each other and across thread
 * counts; operands against guard pages; bad input named before native code.
 * Its agreement with ONNX Runtime is tested through the MatMulNBits op.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit, packNBits } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

interface Case {
  m: number;
  k: number;
  n: number;
  block: number;
  q: Uint8Array;
  scales: Float32Array;
  zeroPoints?: Uint8Array | Float32Array;
  a: Float32Array;
  bias?: Float32Array;
}

/** A case; `small`: integer a, scales powers of 2 (every sum exact in float32). */
function makeCase(seed: number, small = false, minN = 1): Case {
  const r = rng(seed);
  const m = int(r, 1, 5), k = 2 * int(r, 1, 300), n = int(r, minN, minN + 90);
  const block = pick(r, [16, 32, 64, 128]);
  const blocks = Math.ceil(k / block);
  const q = Uint8Array.from({ length: (n * blocks * block) / 2 }, () => int(r, 0, 255));
  const scales = Float32Array.from(
    { length: n * blocks },
    () => (small ? 2 ** int(r, -3, 1) : (r() - 0.3) * 0.2),
  );
  const zk = int(r, 0, 2);
  const zeroPoints = zk === 0
    ? undefined
    : zk === 1
    ? Uint8Array.from({ length: n * Math.ceil(blocks / 2) }, () => int(r, 0, 255))
    : Float32Array.from({ length: n * blocks }, () => int(r, 0, 15));
  const a = Float32Array.from({ length: m * k }, () => (small ? int(r, -3, 3) : r() * 2 - 1));
  const bias = r() < 0.5
    ? Float32Array.from({ length: n }, () => (small ? int(r, -4, 4) : r()))
    : undefined;
  return { m, k, n, block, q, scales, zeroPoints, a, bias };
}

/** y in f64 from the MatMulNBits layout: w = (q − z)·s rounded to float32, as ONNX Runtime's. */
function oracle(c: Case): { y: Float64Array; mag: Float64Array } {
  const blocks = Math.ceil(c.k / c.block);
  const y = new Float64Array(c.m * c.n), mag = new Float64Array(c.m * c.n);
  for (let col = 0; col < c.n; col++) {
    for (let kk = 0; kk < c.k; kk++) {
      const b = Math.floor(kk / c.block), j = kk - b * c.block;
      const v = (c.q[(col * blocks + b) * (c.block / 2) + (j >> 1)] >> ((j & 1) * 4)) & 15;
      let z = 8;
      if (c.zeroPoints instanceof Uint8Array) {
        z = (c.zeroPoints[col * Math.ceil(blocks / 2) + (b >> 1)] >> ((b & 1) * 4)) & 15;
      } else if (c.zeroPoints) z = c.zeroPoints[col * blocks + b];
      const w = Math.fround((v - z) * c.scales[col * blocks + b]);
      for (let i = 0; i < c.m; i++) {
        y[i * c.n + col] += c.a[i * c.k + kk] * w;
        mag[i * c.n + col] += Math.abs(c.a[i * c.k + kk] * w);
      }
    }
    for (let i = 0; i < c.m; i++) y[i * c.n + col] += c.bias?.[col] ?? 0;
  }
  return { y, mag };
}

function run(jit: Jit, c: Case, y = new Float32Array(c.m * c.n)): Float32Array {
  const w = packNBits(c);
  jit.matmulNBits(c.a, w, y, { m: c.m, ...(c.bias ? { bias: c.bias } : {}) });
  return y;
}

Deno.test("matmulNBits: seeded shapes within float32 rounding of the f64 oracle, every ISA level", () => {
  for (const maxIsa of LEVELS) {
    using jit = new Jit({ maxIsa, threads: 1 });
    for (let seed = 1; seed <= 40; seed++) {
      const c = makeCase(seed), y = run(jit, c), { y: want, mag } = oracle(c);
      for (let i = 0; i < y.length; i++) {
        // Each of the k products and sums rounds once: k·2⁻²⁴ of the magnitudes, with margin.
        const bound = 4 * (c.k + 2) * 2 ** -24 * (mag[i] + Math.abs(c.bias?.[i % c.n] ?? 0));
        if (!(Math.abs(y[i] - want[i]) <= bound)) {
          assert.fail(`${maxIsa} seed ${seed}: y[${i}] ${y[i]} vs ${want[i]} (bound ${bound})`);
        }
      }
    }
  }
});

Deno.test("matmulNBits: exact on small integers; the FMA levels and thread counts give the same bits", () => {
  const fma = LEVELS.filter((l) => l === "avx2" || l === "avx512");
  for (let seed = 100; seed < 130; seed++) {
    const c = makeCase(seed, true), { y: want } = oracle(c);
    const results: Float32Array[] = [];
    for (const maxIsa of LEVELS) {
      using jit = new Jit({ maxIsa, threads: 1 });
      const y = run(jit, c);
      assert.deepEqual([...y], [...want], `${maxIsa} seed ${seed}`);
    }
    for (const maxIsa of fma) {
      for (const threads of [1, 3]) {
        using jit = new Jit({ maxIsa, threads, minPartUs: 0 });
        results.push(run(jit, makeCase(seed + 1000, false, 130)));
      }
    }
    for (const r of results) assert.deepEqual(r, results[0], `seed ${seed}: bits differ`);
  }
});

Deno.test("matmulNBits: a row's bits do not depend on the rows beside it (passes of up to 4)", () => {
  for (const maxIsa of LEVELS) {
    using jit = new Jit({ maxIsa, threads: 1 });
    for (let seed = 200; seed < 210; seed++) {
      const c = { ...makeCase(seed), m: 7 };
      c.a = Float32Array.from({ length: 7 * c.k }, (_, i) => Math.sin(i + seed));
      const all = run(jit, c);
      for (let i = 0; i < 7; i++) {
        const one = run(jit, { ...c, m: 1, a: c.a.subarray(i * c.k, (i + 1) * c.k) });
        assert.deepEqual(
          one,
          all.subarray(i * c.n, (i + 1) * c.n),
          `${maxIsa} seed ${seed} row ${i}`,
        );
      }
    }
    // Every pass built at its level: none fell back (an AVX2 pass of 4 rows once needed ymm16).
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  }
});

Deno.test("matmulNBits: operands against guard pages on both sides (whole and in parts)", () => {
  using one = new Jit({ threads: 1 });
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const [jit, seed] of [[one, 7], [one, 8], [split, 9], [split, 10]] as const) {
    // Split calls: enough tiles for parts of 4 tiles each.
    const c = makeCase(seed, false, jit === split ? 130 : 1), want = run(one, c);
    for (const side of ["start", "end"] as const) {
      const pa = new GuardedPages(4 * c.a.length), py = new GuardedPages(4 * c.m * c.n);
      try {
        const at = (p: GuardedPages, len: number) =>
          new Float32Array(
            Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes),
            side === "end" ? p.bytes - 4 * len : 0,
            len,
          );
        const a = at(pa, c.a.length);
        a.set(c.a);
        const y = at(py, c.m * c.n);
        run(jit, { ...c, a }, y);
        assert.deepEqual(y, want, `seed ${seed} ${side}`);
        if (jit === split) assert.ok(jit.stats().keys.some((k) => k.parts > 1), "not split");
      } finally {
        pa.free();
        py.free();
      }
    }
  }
});

Deno.test("matmulNBits: bad input is named before any native code runs", () => {
  using jit = new Jit();
  const c = makeCase(3), w = packNBits(c), y = new Float32Array(c.m * c.n);
  const call = (o: Partial<{ a: unknown; w: unknown; y: unknown; m: unknown; bias: unknown }>) =>
    jit.matmulNBits(
      (o.a ?? c.a) as Float32Array,
      (o.w ?? w) as ReturnType<typeof packNBits>,
      (o.y ?? y) as Float32Array,
      {
        m: (o.m ?? c.m) as number,
        ...(o.bias !== undefined ? { bias: o.bias as Float32Array } : {}),
      },
    );
  assert.throws(() => call({ a: new Float32Array(c.m * c.k - 1) }), /a has .* needs m·k/);
  assert.throws(() => call({ y: new Float32Array(c.m * c.n - 1) }), /y has .* needs m·n/);
  assert.throws(() => call({ bias: new Float32Array(c.n - 1) }), /bias has .* needs n/);
  assert.throws(() => call({ m: 0 }), RangeError);
  assert.throws(() => call({ m: "2" }), TypeError);
  assert.throws(() => call({ a: new Float64Array(c.m * c.k) }), TypeError);
  assert.throws(() => call({ w: {} }), TypeError);
  assert.throws(() => call({ w: { ...w, k: w.k + 2 } }), /length does not match/);
  assert.throws(() => call({ w: { ...w, block: 24 } }), /block must be a power of 2/);
  assert.throws(
    () => call({ w: { ...w, weights: w.weights.subarray(4) } }),
    /length does not match/,
  );
  assert.throws(() => packNBits({ ...c, k: c.k + 1 }), /k must be an even integer/);
  assert.throws(() => packNBits({ ...c, q: c.q.subarray(1) }), /q must be a Uint8Array/);
  assert.throws(() => packNBits({ ...c, scales: new Float32Array(1) }), /scales must be/);
  assert.throws(() => packNBits({ ...c, zeroPoints: new Uint8Array(1) }), /zeroPoints must be/);
  assert.throws(() => packNBits(null as never), TypeError);
});
