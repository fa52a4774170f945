import assert from "node:assert/strict";
import { isaLevel, Jit, PackedB } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { int, rng } from "./helpers/random.ts";
import { viewAddress } from "../src/native/memory.ts";
import { gemmF64, packB } from "../src/kernels/gemm/mod.ts";
import { gemmSpec } from "./helpers/gemm_spec.ts";
import { PATH_CACHES } from "./helpers/configurations.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

for (const isa of LEVELS) {
  Deno.test(`packB ${isa}: packed weights give the bits of the same product on a plain B`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(1500 + LEVELS.indexOf(isa));
    for (
      const [m, n, k] of [[1, 33, 17], [7, 1024, 64], [64, 100, 300], [3, 768, 256], [20, 16, 1]]
    ) {
      const a = new Float32Array(m * k).map(() => r() * 2 - 1);
      const b = new Float32Array(k * n).map(() => r() * 2 - 1); // k×n
      const bt = new Float32Array(n * k); // the same weights stored n×k (Linear)
      for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
      const bias = new Float32Array(n).map(() => r());
      for (
        const [packed, label] of [[jit.packB(b, { k, n, layout: "rows" }), "k×n"], [
          jit.packB(bt, { k, n, transB: true, layout: "rows" }),
          "n×k",
        ]] as const
      ) {
        assert.ok(PackedB.is(packed) && packed.ld >= n && packed.ld % 16 === 0);
        assert.equal(viewAddress(packed.data) % 64, 0, "the packed rows start on a cache line");
        // The plain call on a dense copy with the packed stride is the same kernel: same bits.
        const dense = new Float32Array(k * packed.ld);
        for (let p = 0; p < k; p++) dense.set(b.subarray(p * n, (p + 1) * n), p * packed.ld);
        const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
        jit.gemm(a, packed, c1, { m, n, k, bias, activation: "relu" });
        jit.gemm(a, dense, c2, { m, n, k, ldb: packed.ld, bias, activation: "relu" });
        assert.deepEqual(c1, c2, `${isa} ${m}×${n}×${k} from ${label}`);
        // And close to the product on the original B.
        const c3 = new Float32Array(m * n);
        jit.gemm(a, bt, c3, { m, n, k, transB: true, bias, activation: "relu" });
        for (let i = 0; i < c1.length; i++) {
          assert.ok(Math.abs(c1[i] - c3[i]) <= 1e-5 * (1 + Math.abs(c3[i])));
        }
      }
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`packB ${isa}: columns hold Bᵀ and give the bits of the same product on a plain Bᵀ, on 1 and 3 threads`, () => {
    using one = new Jit({ maxIsa: isa, threads: 1 });
    using three = new Jit({ maxIsa: isa, threads: 3, minPartUs: 0 });
    const r = rng(1550 + LEVELS.indexOf(isa));
    // Narrow heads (a classifier's 10 columns, a regression's 1-2) under many rows, and wider.
    for (
      const [m, n, k] of [[64, 10, 1024], [300, 1, 96], [4096, 2, 64], [7, 15, 33], [50, 40, 17]]
    ) {
      const a = new Float32Array(m * k).map(() => r() * 2 - 1);
      const b = new Float32Array(k * n).map(() => r() * 2 - 1); // k×n
      const bt = new Float32Array(n * k);
      for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
      const bias = new Float32Array(n).map(() => r());
      for (const jit of [one, three]) {
        for (
          const [packed, label] of [[jit.packB(b, { k, n, layout: "columns" }), "k×n"], [
            jit.packB(bt, { k, n, transB: true, layout: "columns" }),
            "n×k",
          ]] as const
        ) {
          assert.ok(packed.transposed && packed.ld >= k && packed.ld % 16 === 0);
          for (let j = 0; j < n; j++) {
            for (let p = 0; p < k; p++) {
              assert.equal(packed.data[j * packed.ld + p], b[p * n + j], `${label} [${j}][${p}]`);
            }
          }
          // The plain Bᵀ call with the packed stride is the same kernel: the same bits.
          const dense = new Float32Array(n * packed.ld);
          for (let j = 0; j < n; j++) dense.set(bt.subarray(j * k, (j + 1) * k), j * packed.ld);
          const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n).fill(NaN);
          one.gemm(a, dense, c1, {
            m,
            n,
            k,
            transB: true,
            ldb: packed.ld,
            bias,
            activation: "relu",
          });
          jit.gemm(a, packed, c2, { m, n, k, bias, activation: "relu" });
          assert.deepEqual(c2, c1, `${isa} ${m}×${n}×${k} from ${label}, ${jit.threads} threads`);
          const want = gemmF64(a, b, new Float32Array(m * n), gemmSpec({ m, n, k }));
          for (let i = 0; i < c1.length; i++) {
            const w = Math.max(0, want[i] + bias[i % n]);
            assert.ok(Math.abs(c1[i] - w) <= 1e-5 * (1 + Math.abs(w)), `${m}×${n}×${k} [${i}]`);
          }
        }
      }
    }
    if (isa === "avx512" || isa === "avx2") {
      // Heads narrower than a vector are dot products (gemm/dot.ts), split over rows.
      const plans = three.stats().keys.filter((s) => s.key.startsWith("gemm 4096x2x64 "));
      assert.ok(plans.length > 0 && plans.every((s) => s.plan?.includes("dot products")));
      assert.ok(plans.some((s) => s.parts > 1), three.report(20));
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`packB ${isa}: panels hold op(B) panel by panel, and products on them are exact`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 2, minPartUs: 0, caches: PATH_CACHES });
    const seed = 1600 + LEVELS.indexOf(isa), r = rng(seed);
    // 20×70×2100: long panels, in K blocks.
    // 1×1001×70: AVX2's whole-panel tile for one row, and its last panel's tail lanes.
    const shapes = [[1, 1024, 300], [1, 10, 1024], [3, 100, 37], [7, 130, 5], [1, 64, 64], [
      20,
      70,
      2100,
    ], [1, 1001, 70]];
    for (let i = 0; i < 6; i++) shapes.push([int(r, 1, 20), int(r, 1, 300), int(r, 1, 200)]);
    for (const [m, n, k] of shapes) {
      for (const transB of [false, true]) {
        const what = `${isa} ${m}×${n}×${k} transB=${transB} (seed ${seed})`;
        // Small integers: every product and sum exact in f32, so every plan gives the same bits.
        const small = (len: number) => new Float32Array(len).map(() => int(r, -4, 4));
        const a = small(m * k), b = small(k * n), c0 = small(m * n);
        const p = jit.packB(b, { k, n, transB, layout: "panels" });
        assert.equal(p.panel, 64, what);
        assert.equal(viewAddress(p.data) % 64, 0, `${what}: panels start on a cache line`);
        // Layout: panel q holds columns 64q.. as k rows of its width, zero past n.
        const opB = (row: number, col: number) => transB ? b[col * k + row] : b[row * n + col];
        let at = 0;
        for (let j0 = 0; j0 < n; j0 += 64) {
          const cols = Math.min(64, n - j0), width = cols === 64 ? 64 : Math.ceil(cols / 16) * 16;
          for (let row = 0; row < k; row++) {
            for (let j = 0; j < width; j++) {
              const want = j < cols ? opB(row, j0 + j) : 0;
              if (p.data[at + row * width + j] !== want) {
                assert.fail(`${what}: panel at ${j0}, row ${row}, column ${j}`);
              }
            }
          }
          at += k * width;
        }
        assert.equal(p.data.length, at, `${what}: nothing after the last panel`);
        // Packed without a native copy (a machine without JIT): the same elements.
        const plain = packB(b, { k, n, transB, layout: "panels" }, () => 0);
        assert.deepEqual(plain.data, p.data, `${what}: TypeScript packing`);
        for (const [alpha, beta] of [[1, 0], [2, 0], [1, 1], [0.5, 3]]) {
          const c = c0.slice();
          jit.gemm(a, p, c, { m, n, k, alpha, beta });
          const s = gemmSpec({ m, n, k, transB, alpha, beta });
          assert.deepEqual(
            c,
            Float32Array.from(gemmF64(a, b, c0, s)),
            `${what} α=${alpha} β=${beta}`,
          );
        }
      }
    }
    assert.ok(
      jit.stats().keys.some((k) => k.key.includes("bpanels=64") && k.parts > 1),
      "no panels call was split between threads",
    );
    {
      // Two panels, A of 320 KB (too few panels for parts that each re-read A): split by rows.
      const [m, n, k] = [40, 100, 2000], what = `${isa} ${m}×${n}×${k} (seed ${seed})`;
      const small = (len: number) => new Float32Array(len).map(() => int(r, -4, 4));
      const a = small(m * k), b = small(k * n), c = new Float32Array(m * n);
      jit.gemm(a, jit.packB(b, { k, n, layout: "panels" }), c, { m, n, k });
      assert.deepEqual(c, Float32Array.from(gemmF64(a, b, c, gemmSpec({ m, n, k }))), what);
      const key = jit.stats().keys.find((e) => e.key.startsWith(`gemm ${m}x${n}x${k} `));
      assert.ok(key !== undefined && key.parts > 1, `${what}: ran whole (${key?.parts} parts)`);
    }
    // Every plan built (a last panel's AVX2 tail once left no register for the tile: i-k-j).
    assert.equal(jit.stats().fallbacks, 0, `${isa}: plans fell back`);
    if (isa === "avx2") {
      assert.ok(
        jit.stats().keys.some((k) =>
          k.key.startsWith("gemm 1x1001x70 ") && k.plan?.includes("1×64")
        ),
        "one row of A at AVX2: not the whole-panel tile",
      );
    }
    if (isa !== "scalar") {
      assert.ok(
        jit.stats().keys.some((k) =>
          k.key.includes("bpanels=64") && k.plan?.includes("kc=") &&
          k.plan.includes("next block to L2")
        ),
        "no panels call ran in K blocks, fetching the next block ahead",
      );
    }
  });
}

Deno.test("packB: bad input and mismatched calls name the argument", () => {
  using jit = new Jit();
  const b = new Float32Array(12);
  const p = jit.packB(b, { k: 3, n: 4 });
  const a = new Float32Array(6), c = new Float32Array(8);
  const bad: [() => unknown, RegExp, ErrorConstructor][] = [
    [
      () => jit.packB([1] as never, { k: 1, n: 1 }),
      /packB: b must be a Float32Array, got/,
      TypeError,
    ],
    [() => jit.packB(b, { k: 4, n: 4 }), /packB: b has fewer than 16 elements/, RangeError],
    [
      () => jit.packB(b, { k: 3, n: 4, ldb: 3 }),
      /packB: ldb must be an integer in \[4, /,
      RangeError,
    ],
    [() => jit.packB(b, { k: -1, n: 4 }), /packB: k must be an integer/, RangeError],
    [
      () => jit.packB(b, { k: 3, n: 4, layout: "diagonal" as never }),
      /packB: layout must be "rows", "panels" or "columns", got string "diagonal"/,
      TypeError,
    ],
    [
      () => jit.gemm(a, p, c, { m: 2, n: 4, k: 2 }),
      /gemm: b is packed for k=3, n=4; the call has k=2, n=4/,
      RangeError,
    ],
    [
      () => jit.gemm(new Float32Array(8), p, c, { m: 2, n: 4, k: 3, transB: true }),
      /transB and ldb do not apply/,
      TypeError,
    ],
    [
      () => jit.gemm(a, { k: 3, n: 4, ld: 16, data: b } as never, c, { m: 2, n: 4, k: 3 }),
      /b must be a Float32Array/,
      TypeError,
    ],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
});

Deno.test("packB: panels under Aᵀ, padded strides, alpha and beta, and a batch of A and C (one B)", () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const seed = 1700, r = rng(seed);
  const small = (len: number) => new Float32Array(len).map(() => int(r, -4, 4));
  for (const [m, n, k] of [[5, 130, 70], [1, 200, 33], [20, 64, 2100], [130, 300, 40]]) {
    for (const transA of [false, true]) {
      const lda = (transA ? m : k) + 3, ldc = n + 5, batch = 3;
      const strideA = (transA ? k : m) * lda, strideC = m * ldc;
      const a = small(batch * strideA), b = small(k * n), c0 = small(batch * strideC);
      const c = c0.slice();
      const o = { m, n, k, transA, lda, ldc, alpha: 2, beta: 0.5 };
      jit.gemm(a, jit.packB(b, { k, n, layout: "panels" }), c, {
        ...o,
        batch,
        strideA,
        strideB: 0,
        strideC,
      });
      for (let t = 0; t < batch; t++) {
        const s = gemmSpec(o);
        const want = gemmF64(a.subarray(t * strideA), b, c0.subarray(t * strideC), s);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            const got = c[t * strideC + i * ldc + j];
            if (got !== want[i * n + j]) {
              assert.fail(
                `${m}×${n}×${k} transA=${transA} matrix ${t} C[${i}][${j}] ${got}, want ${
                  want[i * n + j]
                } (seed ${seed})`,
              );
            }
          }
        }
      }
    }
  }
});
