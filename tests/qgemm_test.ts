/**
 * The 8-bit GEMM (`jit.gemmInt8`): exact against int32 loops on seeded
 * shapes (edges of the 6×64 and 6×8 tiles and of k's groups of 4), on every
 * ISA level the machine has (the VNNI or AMX tiles, AVX2's word tiles, the
 * scalar loop), the same
 * bits on 1, 2 and 3 threads, inside its operands with guard pages on both
 * sides, and bad input named before any native code runs.
 */
import assert from "node:assert/strict";
import { cpuFeatures, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel());
const SIZES = [1, 3, 5, 6, 7, 13, 16, 17, 63, 64, 65, 130];

/** C = (A − za)·B + bias by int32 loops (A rows lda bytes apart). */
function expected(
  a: Uint8Array,
  b: Int8Array,
  bias: Int32Array | null,
  m: number,
  n: number,
  k: number,
  lda: number,
  za = 0,
): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let q = 0; q < k; q++) s = (s + (a[i * lda + q] - za) * b[q * n + j]) | 0;
      c[i * n + j] = s;
    }
  }
  return c;
}

for (const isa of LEVELS) {
  Deno.test(`gemmInt8 ${isa}: exact on seeded shapes, with and without a column bias and A's zero point, strided A`, () => {
    const seed = 5100 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    // The activation's oracle: the unary family at the level the kernel's store runs (the
    // VNNI tiles' AVX-512, the word tiles' AVX2, else the scalar loop's scalar code): the same
    // emitter, the same bits.
    const tiles = isa === "amx"; // AMX tiles, their epilogue AVX-512's
    const vnni = (isa === "avx512" || tiles) && cpuFeatures().avx512vnni;
    const words = !vnni && ["avx2", "avx512", "amx"].includes(isa);
    using unary = new Jit({ maxIsa: vnni ? "avx512" : words ? "avx2" : "scalar" });
    const ACTIVATIONS = [
      "gelu",
      "relu",
      "sigmoid",
      { op: "leakyRelu", alpha: 0.1 },
      { op: "clip", min: -0.5, max: 0.5 },
    ] as const;
    for (let t = 0; t < 60; t++) {
      const m = pick(r, SIZES),
        n = pick(r, SIZES),
        k = pick(r, [1, 2, 3, 4, 5, 8, 37, 64, 100, 256, 300, 516, 1100]);
      const lda = Math.ceil(k / 4) * 4 + 4 * int(r, 0, 2);
      const a = Uint8Array.from({ length: m * lda }, () => int(r, 0, 255));
      // B within ±64 (7-bit weights: AVX2's byte tiles) a third of the time.
      const narrow = r() < 0.33;
      const b = Int8Array.from(
        { length: k * n },
        () => narrow ? int(r, -64, 64) : int(r, -128, 127),
      );
      const bias = r() < 0.5 ? Int32Array.from({ length: n }, () => int(r, -1e6, 1e6)) : null;
      const pb = jit.packInt8B(b, { k, n });
      // A's zero point half the time, in a byte of a bigger buffer (read as the call runs).
      const zeroBytes = new Uint8Array(12).fill(99);
      const aZeroPoint = r() < 0.5 ? zeroBytes.subarray(4, 5) : undefined;
      if (aZeroPoint) aZeroPoint[0] = int(r, 0, 255);
      const za = aZeroPoint ? aZeroPoint[0] : 0;
      const want = expected(a, b, bias, m, n, k, lda, za);
      const extra = { ...(bias ? { bias } : {}), ...(aZeroPoint ? { aZeroPoint } : {}) };
      // Int32 C, or float C scaled (one scale or one per column) as Cast and Mul would.
      const mode = pick(r, [0, 1, 2] as const);
      if (mode === 0) {
        const c = new Int32Array(m * n).fill(7);
        jit.gemmInt8(a, pb, c, { m, n, k, lda, ...extra });
        for (let i = 0; i < want.length; i++) {
          if (c[i] !== want[i]) {
            assert.fail(
              `${isa} seed ${seed} case ${t} ${m}×${n}×${k} za ${za}: c[${i}] ${c[i]} vs ${
                want[i]
              }`,
            );
          }
        }
      } else {
        const scale = Float32Array.from({ length: mode === 1 ? 1 : n }, () => r() * 0.01);
        // A Linear layer's float bias after the scale and an activation, each half the time.
        const floatBias = r() < 0.5 ? Float32Array.from({ length: n }, () => r() * 4 - 2) : null;
        const activation = r() < 0.5 ? pick(r, ACTIVATIONS) : null;
        const c = new Float32Array(m * n).fill(7);
        jit.gemmInt8(a, pb, c, {
          m,
          n,
          k,
          lda,
          scale,
          ...extra,
          ...(floatBias ? { floatBias } : {}),
          ...(activation ? { activation } : {}),
        });
        const w = new Float32Array(m * n);
        for (let i = 0; i < want.length; i++) {
          w[i] = Math.fround(Math.fround(want[i]) * scale[mode === 1 || n === 1 ? 0 : i % n]);
          if (floatBias) w[i] = Math.fround(w[i] + floatBias[i % n]);
        }
        if (activation) {
          const op = typeof activation === "string" ? activation : activation.op;
          unary.unary(op, w, w, typeof activation === "string" ? undefined : activation);
        }
        for (let i = 0; i < want.length; i++) {
          if (!Object.is(c[i], w[i])) {
            assert.fail(
              `${isa} seed ${seed} case ${t} ${m}×${n}×${k} scale ${mode} bias ${!!floatBias} ${
                JSON.stringify(activation)
              }: c[${i}] ${c[i]} vs ${w[i]}`,
            );
          }
        }
      }
      // Column sums come with the packing.
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += b[q * n + j];
        assert.equal(pb.columnSums[j], s);
      }
    }
    // AMX tiles at the AMX level from 64 rows on, the VNNI tiles where the level is AVX-512
    // (or AMX, fewer rows) and the CPU has VNNI, else the word tiles from AVX2 up, else the
    // scalar loop.
    let amxKeys = 0;
    for (const q of jit.stats().keys) {
      const m = Number(/^gemmInt8 (\d+)x/.exec(q.key)![1]);
      const path = tiles && m >= 64
        ? "amx tiles"
        : vnni
        ? "vnni"
        : words && q.key.includes("B within ±64")
        ? "vpmaddubsw"
        : words
        ? "vpmaddwd"
        : "scalar loop";
      assert.ok(q.plan?.includes(path), `${isa}: ${q.key}: ${q.plan}`);
      // Built at its level (the scalar loop's code once ended in a vzeroupper: no AVX needed).
      assert.equal(q.failure, null, `${isa}: ${q.key}: ${q.failure}`);
      if (path === "amx tiles") amxKeys++;
    }
    if (tiles) assert.ok(amxKeys > 3, `${isa}: ${amxKeys} calls on AMX tiles`);
  });
}

Deno.test("gemmInt8: the same bits on 1, 2 and 3 threads; products at the int8 extremes wrap as int32", () => {
  const r = rng(5200);
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  // Full-range B, and B within ±64 (AVX2's byte tiles).
  const shapes = [[130, 300, 100], [7, 1000, 40], [300, 17, 64]];
  for (const [m, n, k, most] of shapes.flatMap((q) => [[...q, 128], [...q, 64]])) {
    const a = Uint8Array.from({ length: m * k }, () => int(r, 0, 255));
    const b = Int8Array.from({ length: k * n }, () => int(r, -most, Math.min(127, most)));
    const bias = Int32Array.from({ length: n }, () => int(r, -1000, 1000));
    const aZeroPoint = Uint8Array.of(int(r, 0, 255));
    const scale = Float32Array.of(0.003), floatBias = Float32Array.from({ length: n }, () => r());
    const outs = [one, two, three].flatMap((j) => {
      const c = new Int32Array(m * n), cz = new Int32Array(m * n), cf = new Float32Array(m * n);
      const pb = j.packInt8B(b, { k, n });
      j.gemmInt8(a, pb, c, { m, n, k, bias });
      j.gemmInt8(a, pb, cz, { m, n, k, bias, aZeroPoint });
      j.gemmInt8(a, pb, cf, { m, n, k, aZeroPoint, scale, floatBias, activation: "gelu" });
      return [c, cz, new Int32Array(cf.buffer)];
    });
    assert.deepEqual(outs[1], expected(a, b, bias, m, n, k, k, aZeroPoint[0]));
    for (const z of [0, 1, 2]) {
      assert.deepEqual(outs[3 + z], outs[z], `${m}×${n}×${k} on 2 threads, output ${z}`);
      assert.deepEqual(outs[6 + z], outs[z], `${m}×${n}×${k} on 3 threads, output ${z}`);
    }
  }
  assert.ok(three.stats().keys.some((q) => q.parts > 1), "no call was split");
  // 255 · −128 · 4096 · 20 wraps past 2³¹: as int32 arithmetic does.
  const k = 4096 * 20, a = new Uint8Array(k).fill(255), b = new Int8Array(k).fill(-128);
  const c = new Int32Array(1);
  one.gemmInt8(a, one.packInt8B(b, { k, n: 1 }), c, { m: 1, n: 1, k });
  assert.equal(c[0], (255 * -128 * k) | 0);
  // B at ±64, the narrow bound: each pair of products 2·255·64 = 32640, just inside int16.
  for (const v of [64, -64]) {
    const bn = new Int8Array(64 * 16).fill(v), pb = one.packInt8B(bn, { k: 64, n: 16 });
    assert.equal(pb.narrow, true);
    const cn = new Int32Array(3 * 16);
    one.gemmInt8(new Uint8Array(3 * 64).fill(255), pb, cn, { m: 3, n: 16, k: 64 });
    assert.deepEqual(cn, new Int32Array(3 * 16).fill(255 * v * 64), `B all ${v}`);
  }
  assert.equal(one.packInt8B(Int8Array.of(65), { k: 1, n: 1 }).narrow, false);
});

Deno.test("gemmInt8: operands against guard pages on both sides (whole and in parts)", () => {
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  // From 64 rows on, AMX tiles where the machine has them (their rows of A 64 bytes, or the
  // last k's 4·⌈(k mod 64)/4⌉).
  for (const [m, n, k] of [[7, 65, 5], [13, 17, 64], [6, 128, 3], [70, 40, 100], [65, 33, 130]]) {
    for (const side of ["start", "end"] as const) {
      const k4 = Math.ceil(k / 4) * 4;
      const pa = new GuardedPages(m * k4), pc = new GuardedPages(m * n * 4);
      try {
        const ab = Deno.UnsafePointerView.getArrayBuffer(pa.pointer, pa.bytes);
        const cb = Deno.UnsafePointerView.getArrayBuffer(pc.pointer, pc.bytes);
        const a = new Uint8Array(ab, side === "end" ? pa.bytes - m * k4 : 0, m * k4).fill(3);
        const c = new Int32Array(cb, side === "end" ? pc.bytes - m * n * 4 : 0, m * n);
        const b = new Int8Array(k * n).fill(-2);
        for (const j of [jit, split]) {
          j.gemmInt8(a, j.packInt8B(b, { k, n }), c, { m, n, k });
          assert.equal(c[c.length - 1], 3 * -2 * k);
        }
      } finally {
        pa.free();
        pc.free();
      }
    }
  }
});

Deno.test("gemmInt8: bad input throws naming the argument before any native code runs", () => {
  using jit = new Jit();
  const b = jit.packInt8B(new Int8Array(8 * 4), { k: 8, n: 4 });
  const a = new Uint8Array(16), c = new Int32Array(8);
  const o = { m: 2, n: 4, k: 8 };
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [() => jit.gemmInt8(new Int8Array(16) as never, b, c, o), /a must be a Uint8Array/, TypeError],
    [() => jit.gemmInt8(a, b, new Float32Array(8), o), /a Float32Array c takes a scale/, TypeError],
    [
      () => jit.gemmInt8(a, b, new Uint32Array(8) as never, o),
      /c must be an Int32Array or a Float32Array/,
      TypeError,
    ],
    [
      () => jit.gemmInt8(a, b, c, { ...o, scale: new Float32Array(1) }),
      /an Int32Array c none/,
      TypeError,
    ],
    [
      () => jit.gemmInt8(a, b, new Float32Array(8), { ...o, scale: new Float32Array(3) }),
      /scale has 3 elements: 1, or one per column/,
      RangeError,
    ],
    [() => jit.gemmInt8(a, { ...b } as never, c, o), /b must be made by jit.packInt8B/, TypeError],
    [() => jit.gemmInt8(a, b, c, { ...o, k: 9 }), /b was packed as 8×4/, RangeError],
    [
      () => jit.gemmInt8(a, b, c, { ...o, lda: 6 }),
      /lda must be a multiple of 4 of at least 8/,
      RangeError,
    ],
    [() => jit.gemmInt8(a, b, c, { ...o, m: 3 }), /a has 16 bytes/, RangeError],
    [() => jit.gemmInt8(a, b, new Int32Array(7), o), /c has 7 elements/, RangeError],
    [
      () => jit.gemmInt8(a.subarray(1), b, c, { ...o, m: 1 }),
      /start at a multiple of 4 bytes/,
      RangeError,
    ],
    [
      () => jit.gemmInt8(a, b, c, { ...o, bias: new Int32Array(3) }),
      /bias has 3 elements/,
      RangeError,
    ],
    [() => jit.gemmInt8(a, b, c, null as never), /options/, TypeError],
    [
      () => jit.gemmInt8(a, b, c, { ...o, activation: "gelu" }),
      /floatBias and activation need a Float32Array c/,
      TypeError,
    ],
    [
      () =>
        jit.gemmInt8(a, b, new Float32Array(8), {
          ...o,
          scale: new Float32Array(1),
          activation: "nope" as never,
        }),
      /unknown activation "nope"/,
      RangeError,
    ],
    [
      () =>
        jit.gemmInt8(a, b, new Float32Array(8), {
          ...o,
          scale: new Float32Array(1),
          floatBias: new Float32Array(3),
        }),
      /floatBias has 3 elements/,
      RangeError,
    ],
    [
      () => jit.gemmInt8(a, b, c, { ...o, aZeroPoint: new Int8Array(4) as never }),
      /aZeroPoint must be a Uint8Array of at least 1 element/,
      TypeError,
    ],
    [
      () => jit.gemmInt8(a, b, c, { ...o, aZeroPoint: new Uint8Array(0) }),
      /aZeroPoint must be a Uint8Array of at least 1 element/,
      TypeError,
    ],
    [
      () => jit.gemmInt8(a, b, c, { ...o, aZeroPoint: new Uint8Array(8).subarray(3, 4) }),
      /aZeroPoint must start at a multiple of 4 bytes/,
      RangeError,
    ],
    [
      () => jit.packInt8B(new Uint8Array(4) as never, { k: 2, n: 2 }),
      /b must be an Int8Array/,
      TypeError,
    ],
    [() => jit.packInt8B(new Int8Array(3), { k: 2, n: 2 }), /b has 3 elements/, RangeError],
  ];
  for (const [f, re, type] of cases) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
  assert.equal(jit.stats().calls, 0);
});

Deno.test("gemmInt8: A's zero point is read when the call runs (hits and replays)", async () => {
  using jit = new Jit();
  const r = rng(5300);
  const [m, n, k] = [7, 70, 20];
  const a = Uint8Array.from({ length: m * k }, () => int(r, 0, 255));
  const b = Int8Array.from({ length: k * n }, () => int(r, -128, 127));
  const pb = jit.packInt8B(b, { k, n });
  const aZeroPoint = new Uint8Array(4), c = new Int32Array(m * n);
  for (const za of [0, 255, 17]) {
    aZeroPoint[0] = za;
    jit.gemmInt8(a, pb, c, { m, n, k, aZeroPoint });
    assert.deepEqual(c, expected(a, b, null, m, n, k, k, za), `za ${za}`);
  }
  // Recorded once, replayed after the zero point changed: the replay reads the new one.
  const run = jit.record(() => jit.gemmInt8(a, pb, c, { m, n, k, aZeroPoint }));
  await run.done;
  for (const za of [200, 3]) {
    aZeroPoint[0] = za;
    c.fill(0);
    const again = jit.replay(run);
    assert.ok(again !== null, "the recording did not replay");
    await again;
    assert.deepEqual(c, expected(a, b, null, m, n, k, k, za), `replayed, za ${za}`);
  }
});
