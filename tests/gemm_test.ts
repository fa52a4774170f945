import assert from "node:assert/strict";
import { Assembler } from "../asm/mod.ts";
import { isaLevel, Jit } from "../mod.ts";
import { cpuFeatures, ISA_LEVELS, levelsUpTo, prefersCopiedStrips } from "../src/cpu.ts";
import { gemmF64, type GemmSpec, generateGemm, planGemm } from "../src/kernels/gemm/mod.ts";
import { emitPackedGemm, packedWorkspace } from "../src/kernels/gemm/packed.ts";
import {
  emitDirectGemm,
  splitRowEdge,
  stripBufferBytes,
  transposedBBytes,
} from "../src/kernels/gemm/direct.ts";
import { emitSkinnyGemm } from "../src/kernels/gemm/skinny.ts";
import { gemmParts, otherSplit } from "../src/kernels/gemm/partition.ts";
import { gemmCandidates } from "../src/kernels/gemm/candidates.ts";
import { tileFits } from "../src/kernels/gemm/microkernel.ts";
import { vecIsa } from "../src/kernels/vec.ts";
import { CodeArena } from "../src/native/arena.ts";
import { gemmConfigurations, PATH_CACHES } from "./helpers/configurations.ts";
import { gemmSpec } from "./helpers/gemm_spec.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { runGemmCode } from "./helpers/gemm_run.ts";
import { tuneCheckingBits } from "./helpers/conv.ts";
import { viewAddress } from "../src/native/memory.ts";
import { erf64 } from "../src/kernels/math/reference.ts";

const EDGES = [1, 7, 15, 16, 17, 31, 33, 63, 65, 0, 2, 3, 4, 5, 8, 13, 24, 48];

interface Case {
  spec: GemmSpec;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  c0: Float32Array;
}

/** A random call: sizes 0..300 (edge sizes often), transposes, alpha/beta, padded lds, odd offsets. */
function randomCase(r: () => number, integers: boolean, maxWork: number): Case {
  const size = () => (r() < 0.6 ? pick(r, EDGES) : int(r, 0, 300));
  let m = size(), n = size(), k = size();
  while (m * n * k > maxWork) {
    if (k >= m && k >= n) k = Math.floor(k / 2);
    else if (m >= n) m = Math.floor(m / 2);
    else n = Math.floor(n / 2);
  }
  const transA = r() < 0.3, transB = r() < 0.3;
  const alpha = pick(r, [1, 1, -0.5, 0, 2]);
  const beta = pick(r, [0, 0, 1, -0.5]);
  const pad = () => (r() < 0.5 ? 0 : int(r, 1, 9));
  const lda = (transA ? m : k) + pad(), ldb = (transB ? k : n) + pad(), ldc = n + pad();
  const value = () => (integers ? int(r, -3, 3) : r() * 2 - 1);
  const view = (rows: number, ld: number, fill = true) => {
    const offset = int(r, 0, 5); // any element offset, odd included: no alignment assumed
    const len = rows === 0 ? 0 : (rows - 1) * ld + (ld || 0);
    const buf = new Float32Array(offset + len + int(r, 0, 3));
    if (fill) { for (let i = 0; i < buf.length; i++) buf[i] = value(); }
    return buf.subarray(offset, offset + len);
  };
  const a = view(transA ? k : m, lda), b = view(transB ? n : k, ldb), c = view(m, ldc);
  if (beta === 0) { for (let i = 0; i < c.length; i += 7) c[i] = NaN; // beta = 0 must ignore it
   }
  const spec: GemmSpec = { m, n, k, transA, transB, lda, ldb, ldc, alpha, beta };
  return { spec, a, b, c, c0: c.slice() };
}

/** Compares C with the f64 reference: exactly, or within a bound that grows with k. */
function check(cs: Case, exact: boolean, label: string): void {
  const { spec: s, a, b, c, c0 } = cs;
  const ref = gemmF64(a, b, c0, s);
  for (let i = 0; i < s.m; i++) {
    for (let j = 0; j < s.n; j++) {
      const got = c[i * s.ldc + j], want = ref[i * s.n + j];
      if (exact) {
        if (got !== want) assert.fail(`${label}: C[${i}][${j}] = ${got}, expected exactly ${want}`);
        continue;
      }
      let mag = 0;
      for (let p = 0; p < s.k && s.alpha !== 0; p++) {
        const av = s.transA ? a[p * s.lda + i] : a[i * s.lda + p];
        const bv = s.transB ? b[j * s.ldb + p] : b[p * s.ldb + j];
        mag += Math.abs(av * bv);
      }
      const bound = 2 ** -23 * (s.k + 4) *
          (Math.abs(s.alpha) * mag + (s.beta ? Math.abs(s.beta * c0[i * s.ldc + j]) : 0)) + 1e-30;
      if (!(Math.abs(got - want) <= bound)) {
        assert.fail(`${label}: C[${i}][${j}] = ${got}, expected ${want} ± ${bound}`);
      }
    }
  }
  // Nothing outside the m×n window of C changes (the padding between rows keeps its values).
  for (let i = 0; i < s.m; i++) {
    for (let j = s.n; j < s.ldc && i * s.ldc + j < c.length; j++) {
      const x = c[i * s.ldc + j], y = c0[i * s.ldc + j];
      if (!Object.is(x, y)) {
        assert.fail(`${label}: C padding at [${i}][${j}] changed from ${y} to ${x}`);
      }
    }
  }
}

for (const { level, isa } of gemmConfigurations()) {
  Deno.test(`gemm L${level} ${isa}: 1,000 seeded random cases against the f64 reference`, () => {
    const seed = 1000 + level * 10 + ISA_LEVELS.indexOf(isa);
    const r = rng(seed);
    using jit = new Jit();
    for (let t = 0; t < 1000; t++) {
      const cs = randomCase(r, false, level === 3 ? 600_000 : 120_000);
      const kernel = jit.compileGemm(cs.spec, { level, isa });
      try {
        kernel.run(cs.a, cs.b, cs.c);
        check(
          cs,
          false,
          `seed ${seed} case ${t} ${JSON.stringify(cs.spec)} plan "${kernel.plan.description}"`,
        );
      } finally {
        kernel.free();
      }
    }
  });

  Deno.test(`gemm L${level} ${isa}: bit-exact on small-integer inputs`, () => {
    const seed = 2000 + level * 10 + ISA_LEVELS.indexOf(isa);
    const r = rng(seed);
    using jit = new Jit();
    for (let t = 0; t < 300; t++) {
      const cs = randomCase(r, true, level === 3 ? 600_000 : 120_000);
      const kernel = jit.compileGemm(cs.spec, { level, isa });
      try {
        kernel.run(cs.a, cs.b, cs.c);
        check(
          cs,
          true,
          `seed ${seed} case ${t} ${JSON.stringify(cs.spec)} plan "${kernel.plan.description}"`,
        );
      } finally {
        kernel.free();
      }
    }
  });
}

Deno.test("gemm medium shapes beyond the random sweep: B larger than L2, rows 4 KiB apart", () => {
  // The sweep's sizes (≤ 300) never make B outgrow L2 or put rows a multiple
  // of 4 KiB apart; these reach the K-blocked, strip-prefetching direct path,
  // the 6-row tiles that avoid L1 set conflicts, and Bᵀ transposed strip by strip.
  const r = rng(4242);
  using jit = new Jit({ caches: PATH_CACHES });
  const intel = prefersCopiedStrips(cpuFeatures());
  const shapes: [number, number, number, boolean][] = [
    [37, 530, 520, false],
    [11, 300, 1024, false],
    [129, 70, 2100, false],
    [20, 700, 1200, true],
    [9, 400, 2048, true],
    [1, 700, 1500, true],
    [30, 800, 1100, true],
    [30, 800, 1024, true], // Bᵀ rows 4 KiB apart: the transpose goes 8 rows at a time
    [20, 100, 1024, true],
    [300, 70, 2048, true],
  ];
  for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "scalar" && l !== "amx")) {
    for (const [m, n, k, transB] of shapes) {
      const value = () => int(r, -3, 3);
      const a = Float32Array.from({ length: m * k }, value);
      const b = Float32Array.from({ length: k * n }, value);
      const c = new Float32Array(m * n).fill(NaN);
      const spec = gemmSpec({ m, n, k, transB });
      const kernel = jit.compileGemm(spec, { level: 3, isa });
      const d = kernel.plan.description;
      // A core that copies strips (Intel) takes a Bᵀ of half of L2 (here 1 MiB) or more by dot
      // products up to 48 rows, and strip by strip up to 128 (plan.ts stripsOfHalfL2).
      const halfL2 = isa === "avx512" && intel && k * n * 4 >= (1 << 20) / 2;
      if (transB && (m <= 16 || (halfL2 && m <= 48)) && isa !== "sse2") {
        assert.equal(kernel.plan.path, "dot", d);
      } else if (isa === "avx512" && m <= 128) {
        assert.equal(kernel.plan.path, "direct", d);
        const big = 4 * (m * k + k * n) > 3 << 20;
        if (transB) assert.equal(kernel.plan.direct?.transposeStrips ?? false, big || halfL2, d);
        else if (k * n * 4 > 1 << 20) assert.equal(kernel.plan.direct?.prefetchNext, true, d);
        if (k === 1024 && !transB) assert.equal(kernel.plan.direct?.mr, 6, d);
      }
      kernel.run(a, b, c);
      check({ spec, a, b, c, c0: c.slice() }, true, `${isa} ${m}×${n}×${k} transB ${transB} ${d}`);
      kernel.free();
    }
  }
});

/** Runs a hand-built plan (bypassing the planner) on a random integer case. */
function runPlan(
  emit: (a: Assembler, s: GemmSpec) => number,
  cs: Case,
  arena: CodeArena,
): void {
  const a = new Assembler();
  const work = emit(a, cs.spec);
  runGemmCode(arena, a.finish().code, cs, work);
}

Deno.test("gemm packed path: many K and N blocks, edges, every transpose, every SIMD level", () => {
  const r = rng(77);
  const arena = new CodeArena();
  try {
    for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "scalar" && l !== "amx")) {
      const v = vecIsa(isa);
      for (let t = 0; t < 120; t++) {
        const cs = randomCase(r, true, 400_000);
        if (cs.spec.m === 0 || cs.spec.n === 0 || cs.spec.k === 0 || cs.spec.alpha === 0) continue;
        const mr = pick(r, [4, 6, isa === "avx512" ? 12 : 6]);
        const nr = v.lanes * pick(r, [1, 2]);
        const plan = {
          mr,
          nr,
          kc: pick(r, [4, 9, 16, 64]),
          nc: nr * pick(r, [1, 2, 5]),
          unroll: pick(r, [1, 2, 4]),
          prefetchC: r() < 0.5,
        };
        runPlan(
          (a, s) => {
            emitPackedGemm(a, v, s, plan);
            return packedWorkspace(plan).bytes;
          },
          cs,
          arena,
        );
        check(
          cs,
          true,
          `packed ${isa} case ${t} ${JSON.stringify(cs.spec)} ${JSON.stringify(plan)}`,
        );
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm direct path with K blocks and every tile shape", () => {
  const r = rng(99);
  const arena = new CodeArena();
  try {
    for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "amx")) {
      const v = vecIsa(isa);
      for (let t = 0; t < 120; t++) {
        const cs = randomCase(r, true, 400_000);
        // Bᵀ reaches the direct path only through the AVX-512 transpose (or scalar columns).
        const transposeB = cs.spec.transB && isa === "avx512" ? Math.ceil(cs.spec.n / 16) * 16 : 0;
        const transposeStrips = transposeB > 0 && r() < 0.5;
        // B's strips copied to the workspace (AVX-512, B untransposed; tiles outside).
        const copyStrips = !cs.spec.transB && isa === "avx512" && r() < 0.3;
        if (
          (cs.spec.transB && !transposeB && v.lanes > 1) || cs.spec.m === 0 || cs.spec.n === 0 ||
          cs.spec.k === 0 || cs.spec.alpha === 0
        ) continue;
        const plan = {
          mr: int(r, 1, 6),
          nr: v.lanes * int(r, 1, 2),
          unroll: pick(r, [1, 2, 4, 16]),
          kSplit: pick(r, [1, 2, 4]),
          kc: pick(r, [undefined, 3, 8, 32]),
          prefetchNext: r() < 0.5,
          spreadNext: r() < 0.5,
          embedBroadcast: r() < 0.5,
          rowsOuter: r() < 0.3,
          transposeB,
          transposeStrips,
          copyStrips,
          // Each strip's copy made by its first full row tile (with the next strip spread).
          copyInTile: copyStrips && r() < 0.5,
        };
        if (transposeStrips || copyStrips) plan.rowsOuter = false;
        // Draw only plans the planner could make: full tiles within the register rule.
        const reserved = isa === "avx2" && (cs.spec.n % plan.nr) % v.lanes !== 0 ? 1 : 0;
        const fits = () => tileFits(v, plan.mr, plan.nr / v.lanes, plan.kSplit, reserved);
        while (!fits() && plan.kSplit > 1) plan.kSplit /= 2;
        while (!fits()) plan.mr--;
        plan.unroll = Math.max(plan.unroll, plan.kSplit); // a multiple of kSplit (the planner's rule)
        runPlan(
          (a, s) => {
            emitDirectGemm(a, v, s, plan);
            if (transposeStrips || copyStrips) return stripBufferBytes(plan.kc ?? s.k, plan.nr);
            return transposeB ? transposedBBytes(s.k, transposeB) : 0;
          },
          cs,
          arena,
        );
        check(
          cs,
          true,
          `direct ${isa} case ${t} ${JSON.stringify(cs.spec)} ${JSON.stringify(plan)}`,
        );
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm direct: a column sums in the plan's order wherever the tile edges fall (kSplit 1, 2, 4; whole k and K blocks)", () => {
  // A thread's part of the columns puts edge tiles where the whole call has
  // full ones: an edge tile must sum each column in the same order (step p of
  // k into accumulator set p mod kSplit), or results change with the thread count.
  const r = rng(4711);
  const arena = new CodeArena();
  try {
    for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "scalar" && l !== "amx")) {
      const v = vecIsa(isa);
      for (let t = 0; t < 40; t++) {
        const m = int(r, 1, 3), n = v.lanes * 8, k = int(r, 1, 300);
        const kSplit = pick(r, [1, 2, 4]);
        const plan = {
          mr: m,
          nr: v.lanes * pick(r, [2, 4]),
          unroll: kSplit * pick(r, [1, 2, 4]),
          kSplit,
          kc: pick(r, [undefined, 5, 37, 64]),
        };
        const fits = () => tileFits(v, plan.mr, plan.nr / v.lanes, plan.kSplit, 1);
        while (!fits() && plan.nr > v.lanes) plan.nr -= v.lanes;
        while (!fits()) plan.kSplit /= 2;
        const a = new Float32Array(m * k).map(() => r() * 2 - 1);
        const b = new Float32Array(k * n).map(() => r() * 2 - 1);
        const run = (j0: number, cols: number) => {
          const spec: GemmSpec = {
            m,
            n: cols,
            k,
            transA: false,
            transB: false,
            lda: k,
            ldb: n,
            ldc: n,
            alpha: 1,
            beta: 0,
          };
          const c = new Float32Array(m * n);
          runPlan(
            (asm, s) => {
              emitDirectGemm(asm, v, s, plan);
              return 0;
            },
            { spec, a, b: b.subarray(j0), c: c.subarray(j0), c0: c.slice() },
            arena,
          );
          return c;
        };
        const whole = run(0, n);
        // A window that starts inside a full tile and ends inside another: edge tiles, tails.
        const j0 = int(r, 1, n / 2), cols = int(r, 1, n - j0);
        const part = run(j0, cols);
        for (let i = 0; i < m; i++) {
          for (let j = j0; j < j0 + cols; j++) {
            if (!Object.is(part[i * n + j], whole[i * n + j])) {
              assert.fail(
                `${isa} ${m}×${n}×${k} ${JSON.stringify(plan)} columns ${j0}+${cols}: ` +
                  `C[${i}][${j}] ${part[i * n + j]} vs ${whole[i * n + j]} in the whole call`,
              );
            }
          }
        }
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm skinny path (few rows, B streamed): every AVX level, transposed A, tails", () => {
  const r = rng(123);
  const arena = new CodeArena();
  try {
    for (const isa of levelsUpTo(isaLevel()).filter((l) => l === "avx2" || l === "avx512")) {
      const v = vecIsa(isa);
      for (let t = 0; t < 150; t++) {
        const cs = randomCase(r, true, 400_000);
        cs.spec.m = Math.min(cs.spec.m, isa === "avx512" ? 8 : 6);
        if (
          cs.spec.transB || cs.spec.m === 0 || cs.spec.n === 0 || cs.spec.k === 0 ||
          cs.spec.alpha === 0
        ) continue;
        // The path scales the product at the end: beta = 0 whenever alpha ≠ 1 (as the planner).
        if (cs.spec.alpha !== 1) cs.spec.beta = 0;
        cs.c = cs.c.subarray(0, (cs.spec.m - 1) * cs.spec.ldc + cs.spec.n);
        cs.c0 = cs.c.slice();
        runPlan(
          (a, s) => {
            emitSkinnyGemm(a, v, s);
            return 0;
          },
          cs,
          arena,
        );
        check(cs, true, `skinny ${isa} case ${t} ${JSON.stringify(cs.spec)}`);
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("jit.gemm: semantics of alpha = 0, beta = 0, k = 0 and empty shapes", () => {
  using jit = new Jit();
  const nothing = new Float32Array(0);
  const c = new Float32Array([1, 2, 3, 4]);
  jit.gemm(nothing, nothing, c, { m: 2, n: 2, k: 5, alpha: 0, beta: 2 }); // A and B are not read
  assert.deepEqual([...c], [2, 4, 6, 8]);
  c.set([NaN, NaN, Infinity, -0]);
  jit.gemm(nothing, nothing, c, { m: 2, n: 2, k: 0, beta: 0 });
  assert.deepEqual([...c], [0, 0, 0, 0]);
  c.set([1, 2, 3, 4]);
  jit.gemm(nothing, nothing, c, { m: 2, n: 2, k: 0, beta: -1 });
  assert.deepEqual([...c], [-1, -2, -3, -4]);
  jit.gemm(nothing, nothing, nothing, { m: 0, n: 0, k: 3 });
  const a = new Float32Array([1, 2]), b = new Float32Array([3, 4]);
  const out = new Float32Array([NaN]);
  jit.gemm(a, b, out, { m: 1, n: 1, k: 2 }); // beta = 0 ignores the NaN already in C
  assert.deepEqual([...out], [11]);
});

Deno.test("jit.gemm: bad input throws TypeError/RangeError naming argument, value and minimum", () => {
  using jit = new Jit();
  const f = new Float32Array(16);
  const throws = (fn: () => void, type: typeof TypeError | typeof RangeError, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof type && re.test((e as Error).message));
  throws(
    () => jit.gemm([] as unknown as Float32Array, f, f, { m: 1, n: 1, k: 1 }),
    TypeError,
    /a must be a Float32Array, got an Array/,
  );
  throws(
    () => jit.gemm(f, new Float64Array(4) as unknown as Float32Array, f, { m: 1, n: 1, k: 1 }),
    TypeError,
    /b must be a Float32Array, got a Float64Array/,
  );
  throws(
    () => jit.gemm(f, f, null as unknown as Float32Array, { m: 1, n: 1, k: 1 }),
    TypeError,
    /c must be a Float32Array, got null/,
  );
  throws(
    () => jit.gemm(f, f, f, undefined as unknown as { m: number; n: number; k: number }),
    TypeError,
    /options must be an object/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: -1, n: 1, k: 1 }),
    RangeError,
    /m must be a non-negative integer, got -1/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 1, n: 1.5, k: 1 }),
    RangeError,
    /n must be a non-negative integer, got 1.5/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 1, n: 1, k: NaN }),
    RangeError,
    /k must be a non-negative integer, got NaN/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 2, n: 2, k: 4, lda: 3 }),
    RangeError,
    /lda must be at least 4 .*got 3/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 2, n: 3, k: 2, transA: true, lda: 1 }),
    RangeError,
    /lda must be at least 2 .*got 1/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 2, n: 3, k: 2, ldb: 2 }),
    RangeError,
    /ldb must be at least 3 .*got 2/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 2, n: 3, k: 2, ldc: 1 }),
    RangeError,
    /ldc must be at least 3 .*got 1/,
  );
  const big = new Float32Array(64);
  throws(
    () => jit.gemm(f, big, big, { m: 4, n: 4, k: 5 }),
    RangeError,
    /a has 16 elements but m=4 rows of k=5 at lda=5 needs at least 20/,
  );
  throws(
    () => jit.gemm(big, f, big, { m: 4, n: 5, k: 4 }),
    RangeError,
    /b has 16 elements but k=4 rows of n=5 at ldb=5 needs at least 20/,
  );
  throws(
    () => jit.gemm(big, f, big, { m: 4, n: 5, k: 4, transB: true }),
    RangeError,
    /b has 16 elements but n=5 rows of k=4 at ldb=4 needs at least 20/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 4, n: 4, k: 4, ldc: 5 }),
    RangeError,
    /c has 16 elements but m=4 rows of n=4 at ldc=5 needs at least 19/,
  );
  throws(
    () => jit.gemm(f, f, f.subarray(1), { m: 4, n: 4, k: 4 }),
    RangeError,
    /c has 15 elements/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 1, n: 1, k: 1, transA: 1 as unknown as boolean }),
    TypeError,
    /transA must be a boolean/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 1, n: 1, k: 1, alpha: "2" as unknown as number }),
    TypeError,
    /alpha must be a number/,
  );
  throws(
    () => jit.gemm(f, f, f, { m: 2 ** 21, n: 1, k: 1 }),
    RangeError,
    /exceeds the supported maximum/,
  );
  // A detached buffer reports length 0: rejected, never dereferenced.
  const detached = new Float32Array(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  throws(() => jit.gemm(detached, f, f, { m: 4, n: 4, k: 4 }), RangeError, /a has 0 elements/);
});

Deno.test("gemm plans: every direct tile fits the microkernel's register rule on every ISA", () => {
  // Generation needs no CPU support, so every ISA is checked on any machine:
  // the generator throws when a full tile of the plan would not fit (the
  // planner and the microkernel share one rule, `tileFits`).
  const sizes = [1, 2, 3, 5, 7, 8, 9, 13, 14, 15, 16, 17, 24, 31, 33, 48, 64, 100, 130];
  let direct = 0;
  for (const isa of ISA_LEVELS) {
    if (isa === "amx") continue;
    for (const m of sizes) {
      for (const n of sizes) {
        for (
          const [k, transA, transB] of [[9, false, false], [64, true, false], [
            33,
            false,
            true,
          ]] as const
        ) {
          const spec: GemmSpec = {
            m,
            n,
            k,
            transA,
            transB,
            lda: transA ? m : k,
            ldb: transB ? k : n,
            ldc: n,
            alpha: 1.5,
            beta: 0.5,
          };
          const plan = planGemm(spec, isa);
          const where = `${isa} ${m}×${n}×${k} ${transA ? "T" : "N"}${
            transB ? "T" : "N"
          }: ${plan.description}`;
          if (plan.direct) direct++;
          assert.doesNotThrow(() => generateGemm(spec, plan), where);
        }
      }
    }
  }
  assert.ok(direct > 1000, `${direct} direct plans checked`);
});

Deno.test("gemm plans: a few rows that need two tiles split evenly (AVX2, m = 14 → 7 + 7)", () => {
  const spec: GemmSpec = {
    m: 14,
    n: 8,
    k: 64,
    transA: false,
    transB: false,
    lda: 64,
    ldb: 8,
    ldc: 8,
    alpha: 1,
    beta: 0,
  };
  const plan = planGemm(spec, "avx2");
  assert.equal(plan.direct?.mr, 7, plan.description);
  assert.match(plan.description, /direct 7×8/);
});

Deno.test("gemm: B at each of the 16 placements in a cache line gives the same bits (direct driver peels to a line)", () => {
  const r = rng(99);
  const vec = (n: number) => new Float32Array(n).map(() => r() * 2 - 1);
  // Every SIMD level: AVX-512 peels, the others must ignore the placement.
  for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "scalar" && l !== "amx")) {
    for (const threads of [1, 2]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0 });
      // The last two stream B from beyond L2: the direct plans that peel.
      for (const [m, n, k] of [[20, 64, 33], [40, 1024, 300], [24, 2048, 200]]) {
        const a = vec(m * k), bias = vec(n);
        const b0 = vec(k * n);
        const whole = new Float32Array(k * n + 16);
        let first: Float32Array | null = null;
        const keys = new Set<string>();
        for (let off = 0; off < 16; off++) {
          const b = whole.subarray(off, off + k * n);
          b.set(b0);
          const c = new Float32Array(m * n);
          jit.gemm(a, b, c, { m, n, k, bias, activation: "gelu" });
          if (first === null) first = c;
          else assert.deepEqual(c, first, `${isa}, ${threads} threads, ${m}×${n}×${k}, B +${off}`);
        }
        for (const key of jit.stats().keys) keys.add(key.key);
        // Every placement ran: several kernels, one per placement class, and none fell back.
        assert.ok([...keys].some((key) => key.includes("bpeel=")), [...keys].join("\n"));
        assert.equal(jit.stats().fallbacks, 0);
      }
    }
  }
});

/**
 * C = alpha·op(A)·op(B) + beta·C with A, B and C at each of the 16 float
 * offsets `place(at)` gives them: the first against the f64 product, every
 * other bit for bit against it, nothing written around C.
 */
function atEveryPlacement(
  jit: Jit,
  o: { m: number; n: number; k: number; lda: number; ldb: number; transB: boolean },
  alpha: number,
  beta: number,
  place: (at: number) => [number, number, number],
  vec: (n: number) => Float32Array,
): void {
  const { m, n, k, lda, ldb, transB } = o;
  const aLen = m * lda, bLen = transB ? n * ldb : k * ldb;
  const a0 = vec(aLen), b0 = vec(bLen), c0 = vec(m * n);
  const bAt = (t: number, j: number) => (transB ? b0[j * ldb + t] : b0[t * ldb + j]);
  let first: Float32Array | null = null;
  for (let at = 0; at < 16; at++) {
    const [oa, ob, oc] = place(at);
    const A = new Float32Array(aLen + 32), B = new Float32Array(bLen + 32);
    const C = new Float32Array(m * n + 32).fill(9);
    A.set(a0, oa);
    B.set(b0, ob);
    C.set(c0, oc);
    const c = C.subarray(oc, oc + m * n);
    jit.gemm(A.subarray(oa, oa + aLen), B.subarray(ob, ob + bLen), c, { ...o, alpha, beta });
    const where = `${jit.isa} ${m}×${n}×${k}${transB ? " Bᵀ" : ""} α ${alpha} β ${beta}, ` +
      `A at ${oa}, B at ${ob}, C at ${oc}`;
    if (first === null) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let t = 0; t < k; t++) sum += a0[i * lda + t] * bAt(t, j);
          const want = alpha * sum + beta * c0[i * n + j];
          assert.ok(Math.abs(c[i * n + j] - want) < 1e-4 * k, `${where} [${i}, ${j}]`);
        }
      }
      first = c.slice();
    } else assert.deepEqual(c, first, where);
    assert.ok(C.every((v, i) => (i >= oc && i < oc + m * n) || v === 9), `${where}: around C`);
  }
}

Deno.test("gemm skinny: A, B and C at each of the 16 placements in a line give the reference's bits (AVX-512 runs along B's lines)", () => {
  const r = rng(1717);
  const vec = (n: number) => new Float32Array(n).map(() => r() * 2 - 1);
  for (const isa of levelsUpTo(isaLevel()).filter((l) => l === "avx2" || l === "avx512")) {
    // A 64 KiB L2 sends these few rows to the skinny path (B streamed).
    using jit = new Jit({ maxIsa: isa, caches: { l2: 64 << 10 } });
    for (const [m, n, k, ldb] of [[1, 512, 64, 512], [2, 512, 70, 512], [1, 1024, 33, 1040]]) {
      for (const [alpha, beta] of [[1, 1], [2, 0]]) {
        const o = { m, n, k, lda: k, ldb, transB: false };
        atEveryPlacement(jit, o, alpha, beta, (at) => [(at * 3) % 16, at, (at * 7) % 16], vec);
      }
    }
    const plans = jit.stats().keys.map((k) => k.plan ?? "");
    assert.ok(plans.every((p) => p.includes("skinny")), plans.join(" | "));
    if (isa === "avx512") assert.ok(plans.every((p) => p.includes("along B's lines")));
  }
});

Deno.test("gemm dot (Bᵀ): A and B at each of the 16 placements in a line, together and apart, give the reference's bits (AVX-512 runs k along B's lines)", () => {
  const r = rng(1818);
  const vec = (n: number) => new Float32Array(n).map(() => r() * 2 - 1);
  for (const isa of levelsUpTo(isaLevel()).filter((l) => l === "avx2" || l === "avx512")) {
    using jit = new Jit({ maxIsa: isa });
    const shapes = [[1, 40, 64, 64, 64], [3, 13, 512, 512, 528], [8, 30, 768, 768, 768], [
      6,
      9,
      32,
      48,
      32,
    ]];
    for (const [m, n, k, lda, ldb] of shapes) {
      for (const together of [true, false]) {
        const o = { m, n, k, lda, ldb, transB: true };
        atEveryPlacement(jit, o, 1.5, 1, (at) => [
          together ? at : (at * 3 + 1) % 16,
          at,
          (at * 7) % 16,
        ], vec);
      }
    }
    const plans = jit.stats().keys.map((k) => k.plan ?? "");
    assert.ok(plans.every((p) => p.includes("dot products")), plans.join(" | "));
    if (isa === "avx512") assert.ok(plans.every((p) => p.includes("k along B's lines")));
    // A classifier's head (10 rows of Bᵀ): at AVX-512 dot products over every row of Bᵀ in
    // one block, 2 rows of A a tile; the same values on 1 and 3 threads (rows split in whole
    // tiles).
    const [m, n, k] = [64, 10, 1024];
    const a = vec(m * k), b = vec(n * k), want = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
        want[i * n + j] = sum;
      }
    }
    using split = new Jit({ maxIsa: isa, threads: 3, minPartUs: 0 });
    const c1 = new Float32Array(m * n), c3 = new Float32Array(m * n);
    jit.gemm(a, b, c1, { m, n, k, transB: true });
    split.gemm(a, b, c3, { m, n, k, transB: true });
    assert.deepEqual(c3, c1);
    for (let i = 0; i < m * n; i++) {
      assert.ok(Math.abs(c1[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `${isa} [${i}]`);
    }
    const head = jit.stats().keys.find((q) => q.key.includes("64x10x1024"))!.plan!;
    if (isa === "avx512") assert.match(head, /dot products 2×10/); // (AVX2: packed)
  }
});

Deno.test("gemm batch: bit-identical to one call per matrix on every level and thread count; bad strides named", () => {
  const r = rng(9100);
  for (const isa of levelsUpTo(isaLevel()).filter((l) => l !== "amx")) {
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: 0 });
      for (let t = 0; t < 6; t++) {
        const m = int(r, 1, 40), n = int(r, 1, 70), k = int(r, 1, 50), batch = int(r, 2, 7);
        const transA = r() < 0.5, transB = r() < 0.5;
        // Matrices apart by a little more than their extent; B shared (stride 0) a third of the time.
        const sA = m * k + int(r, 0, 9), sB = r() < 0.33 ? 0 : k * n + int(r, 0, 9);
        const sC = m * n + int(r, 0, 9);
        const a = Float32Array.from({ length: sA * batch }, () => r() * 2 - 1);
        const b = Float32Array.from({ length: Math.max(1, sB * batch) + k * n }, () => r() * 2 - 1);
        const c1 = new Float32Array(sC * batch), c2 = new Float32Array(sC * batch);
        const bias = Float32Array.from({ length: n }, () => r());
        const o = { m, n, k, transA, transB, alpha: 0.75, bias, activation: "tanh" as const };
        jit.gemm(a, b, c1, { ...o, batch, strideA: sA, strideB: sB, strideC: sC });
        for (let i = 0; i < batch; i++) {
          jit.gemm(a.subarray(i * sA), b.subarray(i * sB), c2.subarray(i * sC), o);
        }
        for (let i = 0; i < c1.length; i++) {
          if (!Object.is(c1[i], c2[i])) {
            assert.fail(
              `${isa} ${threads}T ${m}×${n}×${k} ×${batch}: c[${i}] ${c1[i]} vs ${c2[i]}`,
            );
          }
        }
      }
      if (threads > 1) {
        assert.ok(
          jit.stats().keys.some((q) => q.key.includes("×") && q.parts > 1),
          "no batch split",
        );
      }
    }
  }
  using jit = new Jit();
  const a = new Float32Array(64), b = new Float32Array(64), c = new Float32Array(64);
  const o = { m: 2, n: 4, k: 4 };
  assert.throws(() => jit.gemm(a, b, c, { ...o, batch: 0 }), /batch must be an integer in \[1/);
  assert.throws(
    () => jit.gemm(a, b, c, { ...o, batch: 2, strideC: 4 }),
    /strideC must be at least one C's 8/,
  );
  assert.throws(
    () => jit.gemm(a, b, c, { ...o, batch: 3, strideA: 30 }),
    /a has 64 elements but 3 matrices/,
  );
  assert.throws(
    () => jit.gemm(a, b, c, { ...o, batch: 2, strideB: -1 }),
    /strideB must be an integer/,
  );
  // Side by side within C's rows (heads interleaved): allowed.
  jit.gemm(a, b, c, { ...o, ldc: 8, batch: 2, strideC: 4 });
});

/**
 * C = alpha·A·B + beta·C at (1, 0), (1, 1) and (2, 0.5) on small integers, every element
 * exactly `ab` (the f64 A·B) scaled and added.
 */
function exactAtAlphaBeta(
  jit: Jit,
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  ab: Float64Array,
  spec: GemmSpec,
  label: string,
): void {
  const { m, n, k, ldc } = spec;
  for (const [alpha, beta] of [[1, 0], [1, 1], [2, 0.5]]) {
    const c = c0.slice();
    jit.gemm(a, b, c, { ...spec, alpha, beta });
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const want = alpha * ab[i * n + j] + beta * c0[i * ldc + j];
        if (c[i * ldc + j] !== want) {
          assert.fail(
            `${m}×${n}×${k} ${label} α=${alpha} β=${beta}: C[${i}][${j}] ${
              c[i * ldc + j]
            }, want ${want}`,
          );
        }
      }
    }
  }
}

Deno.test("gemm: B's strips copied or Bᵀ's transposed to the workspace (AVX-512, many rows), whole K and K blocks, exact on small integers", () => {
  if (isaLevel() !== "avx512" && isaLevel() !== "amx") return; // the drivers are AVX-512's
  const r = rng(0xc0b1);
  // m past 128 with operands past 3·L2: the copied strips (the second: k in blocks of 704),
  // and Bᵀ transposed strip by strip (ldb: Bᵀ's row stride); up to 128 rows, B's rows a
  // multiple of 4 KiB apart: copied strips in K blocks where the core prefers them, else
  // read in place with the next strip prefetched (edge tiles both ways; Aᵀ too).
  const shapes: [number, number, number, number, number, number, boolean, boolean?][] = [
    [130, 1030, 1100, 1100, 1030, 1030, false],
    [140, 300, 2100, 2101, 310, 303, false],
    [100, 300, 1100, 1100, 1024, 301, false],
    [7, 200, 1400, 1400, 2048, 200, false],
    [60, 250, 1100, 63, 1024, 250, false, true],
    [150, 1030, 1100, 1100, 1104, 1030, true],
  ];
  for (const [m, n, k, lda, ldb, ldc, transB, transA = false] of shapes) {
    const small = (len: number) => new Float32Array(len).map(() => int(r, -4, 4));
    const a = small((transA ? k : m) * lda), b = small((transB ? n : k) * ldb);
    const c0 = small(m * ldc);
    const plain = gemmSpec({ m, n, k, transA, transB, lda, ldb, ldc });
    const ab = gemmF64(a, b, c0, plain); // exact: every sum an integer below 2^24
    for (const threads of [1, 2]) {
      using jit = new Jit({
        threads,
        minPartUs: threads > 1 ? 0 : undefined,
        caches: PATH_CACHES,
      });
      exactAtAlphaBeta(jit, a, b, c0, ab, plain, `transB ${transB} ${threads}T`);
      const plan = jit.stats().keys[0].plan ?? "";
      const aliased = m <= 128 && !transB && !prefersCopiedStrips(cpuFeatures());
      assert.ok(
        plan.includes(
          transB
            ? "Bᵀ transposed strip by strip"
            : aliased
            ? "next B strip prefetched"
            : "B copied strip by strip",
        ),
        plan,
      );
      if (k > 2048) assert.ok(plan.includes("kc=704"), plan);
    }
  }
});

Deno.test("gemm: B or Bᵀ copied into panels per call (AVX2, operands past 2.5 L1s): exact on small integers at any alpha, beta, ld, batch and thread count; the bits of the call on packB's panels", () => {
  if (!levelsUpTo(isaLevel()).includes("avx2")) return; // the copy is AVX2's
  const r = rng(0xc09a);
  // Full panels and a last one of 2 (a tail of 2 lanes; Bᵀ: a group of 2 rows) or 8 columns,
  // or none; k whole and in K blocks (two blocks of k·64·4 past 60% of L2: kc 1056 at k = 2100), Bᵀ's k in
  // 8-step blocks and a rest of 4 or none; A's and B's rows padded (lda, ldb).
  const shapes: [number, number, number, number, number, number, boolean][] = [
    [17, 130, 2100, 2100, 130, 130, false],
    [64, 256, 1024, 1030, 260, 256, false],
    [130, 200, 900, 900, 203, 205, false],
    [250, 72, 1500, 1500, 72, 80, false],
    [17, 130, 2100, 2100, 2103, 130, true],
    [64, 256, 1024, 1030, 1024, 256, true],
    [130, 200, 900, 900, 903, 205, true],
    [20, 64, 2100, 2100, 2100, 64, true], // Bᵀ of one panel: copied too
    [40, 24, 900, 900, 903, 30, true],
    [24, 40, 30, 30, 33, 40, true], // a small Bᵀ: copied at any size
  ];
  for (const [m, n, k, lda, ldb, ldc, transB] of shapes) {
    const small = (len: number) => new Float32Array(len).map(() => int(r, -4, 4));
    const a = small(m * lda), b = small((transB ? n : k) * ldb), c0 = small(m * ldc);
    const plain = gemmSpec({ m, n, k, lda, ldb, ldc, transB });
    const ab = gemmF64(a, b, c0, plain); // exact: every sum an integer below 2^24
    for (const threads of [1, 2]) {
      using jit = new Jit({
        threads,
        maxIsa: "avx2",
        minPartUs: threads > 1 ? 0 : undefined,
        caches: PATH_CACHES,
      });
      exactAtAlphaBeta(jit, a, b, c0, ab, plain, `transB ${transB} ${threads}T`);
      const plan = jit.stats().keys[0].plan ?? "";
      assert.ok(plan.includes("panels of 64 copied per call"), plan);
      if (k > 2048) assert.ok(plan.includes("kc=1056"), plan);
      // Floats, a bias and an activation (ReLU on the tiles' registers, GELU by a pass over each
      // panel): the bits of the same call on B packed in panels.
      const fa = a.map(() => r() - 0.5), fb = b.map(() => r() - 0.5);
      const bias = Float32Array.from({ length: n }, () => r() - 0.5);
      const bp = jit.packB(fb, { k, n, ldb, transB, layout: "panels" });
      for (const activation of ["relu", "gelu"] as const) {
        const o = { m, n, k, lda, ldc, bias, activation };
        const copied = new Float32Array(m * ldc), packed = new Float32Array(m * ldc);
        jit.gemm(fa, fb, copied, { ...o, ldb, transB });
        jit.gemm(fa, bp, packed, o);
        assert.deepEqual(
          copied,
          packed,
          `${m}×${n}×${k} transB ${transB} ${threads}T ${activation}: copied vs packB's`,
        );
      }
    }
  }
  // A batch: each matrix its own B (stride past its extent) or all one (stride 0).
  using jit = new Jit({ maxIsa: "avx2", threads: 2, minPartUs: 0, caches: PATH_CACHES });
  const [m, n, k, batch] = [20, 130, 2000, 3];
  for (const strideB of [k * n + 5, 0]) {
    const a = Float32Array.from({ length: m * k * batch }, () => r() - 0.5);
    const b = Float32Array.from({ length: strideB * batch + k * n }, () => r() - 0.5);
    const c1 = new Float32Array(m * n * batch), c2 = new Float32Array(m * n * batch);
    const o = { m, n, k };
    jit.gemm(a, b, c1, { ...o, batch, strideA: m * k, strideB, strideC: m * n });
    for (let i = 0; i < batch; i++) {
      jit.gemm(a.subarray(i * m * k), b.subarray(i * strideB), c2.subarray(i * m * n), o);
    }
    assert.deepEqual(c1, c2, `batch, strideB ${strideB}`);
    const ref = new Float32Array(m * n);
    for (let i = 0; i < batch; i++) {
      const one = gemmSpec({ m, n, k });
      const want = gemmF64(a.subarray(i * m * k), b.subarray(i * strideB), ref, one);
      for (let j = 0; j < m * n; j++) {
        const got = c1[i * m * n + j];
        assert.ok(Math.abs(got - want[j]) <= 1e-4 * k, `batch ${i} c[${j}] ${got} vs ${want[j]}`);
      }
    }
  }
  assert.ok(
    jit.stats().keys.some((q) => (q.plan ?? "").includes("copied per call")),
    "no copied panels in the batch",
  );
});

Deno.test("gemm: a split call's parts keep a next-strip fetch spread over the row tiles (Intel's)", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, spreadNextStrip: true };
  const spec = gemmSpec({ m: 64, n: 3000, k: 3072 });
  const plan = planGemm(spec, "avx512", caches);
  assert.ok(plan.direct?.prefetchNext && plan.direct.spreadNext, plan.description);
  assert.equal(plan.direct!.unroll, 8);
  // Parts of 384 columns or more (8 asked: 375 each, halved once).
  const parts = gemmParts(spec, plan, 8)!;
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.spec.n >= 384), parts.map((p) => p.spec.n).join(" "));
  assert.equal(parts.reduce((n, p) => n + p.spec.n, 0), spec.n);
  for (const p of parts) {
    assert.ok(p.plan.direct!.prefetchNext && p.plan.direct!.spreadNext, p.plan.description);
    assert.equal(p.plan.direct!.kc, plan.direct!.kc);
  }
  // Where the fetch is spread, B streams in place from half of L2 on (1.5 MiB here), in K blocks
  // of at most 256 past 512 steps (SPREAD_KC; 512 elsewhere; k up to 512 whole); else past L2.
  const half = gemmSpec({ m: 64, n: 512, k: 768 });
  const spreadHalf = planGemm(half, "avx512", caches);
  assert.ok(
    spreadHalf.direct?.prefetchNext && spreadHalf.direct.kc === 256,
    spreadHalf.description,
  );
  const whole = planGemm(gemmSpec({ m: 64, n: 1024, k: 512 }), "avx512", caches);
  assert.ok(whole.direct?.prefetchNext && whole.direct.kc === 512, whole.description);
  const amdKc = planGemm(gemmSpec({ m: 64, n: 512, k: 1536 }), "avx512", {
    ...caches,
    spreadNextStrip: false,
  });
  assert.equal(amdKc.direct?.kc, 512, amdKc.description);
  const amdHalf = planGemm(half, "avx512", { ...caches, spreadNextStrip: false });
  assert.ok(!amdHalf.direct?.prefetchNext, amdHalf.description);
  // Without the trait (AMD): every tile fetches the next strip, and parts go without.
  const amd = planGemm(spec, "avx512", { ...caches, spreadNextStrip: false });
  assert.ok(amd.direct?.prefetchNext && !amd.direct.spreadNext, amd.description);
  const amdParts = gemmParts(spec, amd, 8)!;
  assert.equal(amdParts.length, 8); // 192 columns or more
  for (const p of amdParts) assert.equal(p.plan.direct!.prefetchNext, false);
});

Deno.test("gemm direct: strips of a B streamed in place copied by their first row tile (Intel's spread), exact on small integers", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true, spreadNextStrip: true };
  // The rule (plan.ts copiesInTile): five full row tiles of 8, or two over rows 2 KiB apart.
  const direct = (m: number, n: number, k: number) =>
    planGemm(gemmSpec({ m, n, k }), "avx512", caches).direct!;
  for (
    const [m, n, k, copied] of [
      [64, 768, 3072, true],
      [40, 768, 3072, true],
      [32, 768, 3072, false],
      [16, 1536, 1536, true],
      [8, 1536, 1536, false],
    ] as const
  ) {
    const d = direct(m, n, k);
    assert.ok(d.spreadNext, `${m}×${n}×${k}`);
    assert.equal(d.copyInTile ?? false, copied, `${m}×${n}×${k}`);
  }
  // Split, it streams as B read in place does: N parts of 384 columns or more, each the plan.
  const spec = gemmSpec({ m: 64, n: 768, k: 3072 });
  const plan = planGemm(spec, "avx512", caches);
  const parts = gemmParts(spec, plan, 8)!;
  assert.equal(parts.length, 2);
  for (const p of parts) {
    assert.equal(p.spec.n, 384);
    assert.ok(p.plan.direct!.copyInTile && p.plan.direct!.spreadNext, p.plan.description);
  }
  // Tier 2 tries the strips read in place by every tile, and a plan reading them so the copy.
  const t = { isa: "avx512" as const, ...caches };
  const inPlace = gemmCandidates(spec, plan, t).find((c) =>
    c.direct && !c.direct.copyStrips && c.direct.spreadNext
  );
  assert.ok(inPlace, "no in-place candidate");
  const back = gemmCandidates(spec, inPlace, t);
  assert.ok(back.some((c) => c.direct?.copyInTile), "no copying candidate");
  if (isaLevel() !== "avx512" && isaLevel() !== "amx") return;
  const r = rng(0x5c0f);
  const arena = new CodeArena();
  try {
    // Edge rows and an edge strip, B's rows past its width (ldb), K blocks, alpha and beta.
    const shapes = [
      [45, 770, 1100, 770, 1, 0],
      [64, 768, 1030, 800, 2, 0.5],
      [17, 1536, 700, 1536, 1, 1],
    ] as const;
    for (const [m, n, k, ldb, alpha, beta] of shapes) {
      const s = gemmSpec({ m, n, k, ldb, alpha, beta });
      const p = planGemm(s, "avx512", caches);
      assert.ok(p.direct?.copyInTile, p.description);
      assert.ok(p.description.includes("by its first row tile"), p.description);
      const small = (len: number) => new Float32Array(len).map(() => int(r, -3, 3));
      const c0 = small(m * n);
      const cs = { spec: s, a: small(m * k), b: small(k * ldb), c: c0.slice(), c0 };
      runGemmCode(arena, generateGemm(s, p).code, cs, p.workspaceBytes);
      check(cs, true, p.description);
      // Split as 2 and 3 threads would (8 and 12 parts asked): each part its plan on its
      // columns, the same bits as the whole (small integers: exact either way; beta reads C).
      for (const asked of [8, 12]) {
        const split = cs.c0.slice(), parts = gemmParts(s, p, asked)!;
        assert.ok(parts.length >= 2 && parts.every((q) => q.plan.direct?.copyInTile));
        for (const part of parts) {
          const [, bAt, , cAt] = part.offsets;
          runGemmCode(arena, generateGemm(part.spec, part.plan).code, {
            a: cs.a,
            b: cs.b.subarray(bAt / 4),
            c: split.subarray(cAt / 4),
          }, part.plan.workspaceBytes);
        }
        const at = split.findIndex((x, i) => !Object.is(x, cs.c[i]));
        assert.equal(at, -1, `${p.description}, ${asked} parts: C[${at}]`);
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm: a B streamed in place with a bias and ReLU, exact on small integers at 1-3 threads (Intel copies its strips in their first row tile)", () => {
  const r = rng(0xb1a5);
  for (const [m, n, k] of [[64, 768, 1030], [45, 770, 1100]]) {
    const small = (len: number) => new Float32Array(len).map(() => int(r, -3, 3));
    const a = small(m * k), b = small(k * n), bias = small(n);
    const want = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
        want[i * n + j] = Math.max(0, sum + bias[j]); // every sum an integer below 2^24: exact
      }
    }
    for (const threads of [1, 2, 3]) {
      using jit = new Jit({ threads, minPartUs: threads > 1 ? 0 : undefined });
      const c = new Float32Array(m * n);
      jit.gemm(a, b, c, { m, n, k, bias, activation: "relu" });
      const plan = jit.stats().keys[0].plan ?? "";
      const at = c.findIndex((x, i) => !Object.is(x, want[i]));
      assert.equal(
        at,
        -1,
        `${m}×${n}×${k} ${threads}T ${plan}: C[${at}] ${c[at]}, want ${want[at]}`,
      );
    }
  }
});

Deno.test("gemm direct: Bᵀ's rows a multiple of 4 KiB apart transposed in whole 16×16 blocks or in halves, exact on small integers", () => {
  if (isaLevel() !== "avx512" && isaLevel() !== "amx") return; // the transposes are AVX-512's
  const r = rng(0x7b10c);
  const arena = new CodeArena();
  try {
    // Strip by strip (K blocks, an edge strip of 4 columns) and whole; ldb 1024 and 2048.
    const cases = [
      [20, 100, 700, 1024, { transposeStrips: true, kc: 512, unroll: 16 }],
      [13, 40, 300, 2048, { transposeB: 48, unroll: 2 }],
    ] as const;
    for (const [m, n, k, ldb, extra] of cases) {
      for (const whole of [false, true]) {
        const s = gemmSpec({ m, n, k, ldb, transB: true, alpha: 2, beta: 0.5 });
        const plan = { mr: 6, nr: 48, kSplit: 1, wholeTransposeBlocks: whole, ...extra };
        const small = (len: number) => new Float32Array(len).map(() => int(r, -3, 3));
        const c0 = small(m * n);
        const cs = { spec: s, a: small(m * k), b: small(n * ldb), c: c0.slice(), c0 };
        const work = "transposeB" in plan
          ? transposedBBytes(k, plan.transposeB)
          : stripBufferBytes(plan.kc, plan.nr);
        runPlan(
          (a, sp) => {
            emitDirectGemm(a, vecIsa("avx512"), sp, plan);
            return work;
          },
          cs,
          arena,
        );
        check(cs, true, `${m}×${n}×${k} ldb ${ldb} ${JSON.stringify(plan)}`);
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm: a split call's parts go without the next strip's prefetch, same K blocks and tile", () => {
  // 64×3000×768: B past L2, read in place with the next strip prefetched by one thread.
  const spec = gemmSpec({ m: 64, n: 3000, k: 768 });
  const plan = planGemm(spec, "avx512", { l1d: 48 << 10, l2: 1 << 20 });
  assert.ok(plan.direct?.prefetchNext, plan.description);
  const parts = gemmParts(spec, plan, 8)!;
  assert.equal(parts.length, 8);
  for (const p of parts) {
    assert.equal(p.plan.direct!.prefetchNext, false);
    assert.equal(p.plan.direct!.kc, plan.direct!.kc);
    assert.deepEqual([p.plan.direct!.mr, p.plan.direct!.nr], [plan.direct!.mr, plan.direct!.nr]);
  }
  assert.equal(parts.reduce((n, p) => n + p.spec.n, 0), spec.n);
  // B's rows 12 KiB apart (3072 columns): N parts of 8 strips keep it, the same K blocks and tile.
  const aliased = gemmSpec({ m: 64, n: 3072, k: 768 });
  const aliasedPlan = planGemm(aliased, "avx512", { l1d: 48 << 10, l2: 1 << 20 });
  const aliasedParts = gemmParts(aliased, aliasedPlan, 8)!;
  assert.equal(aliasedParts.length, 8);
  for (const p of aliasedParts) {
    assert.equal(p.plan.direct!.prefetchNext, true);
    assert.equal(p.plan.direct!.kc, aliasedPlan.direct!.kc);
    assert.deepEqual(
      [p.plan.direct!.mr, p.plan.direct!.nr],
      [aliasedPlan.direct!.mr, aliasedPlan.direct!.nr],
    );
  }
  // Rows 4 KiB apart: parts of 4 strips or more keep it, narrower ones go without (a streamed
  // call's parts take 192 columns or more: 1024 columns in 4 parts of 256).
  for (const n of [768, 1024]) {
    const aliasedRows = { ...gemmSpec({ m: 128, n, k: 1024 }), ldb: 1024 };
    const streamPlan = planGemm(aliasedRows, "avx512", { l1d: 48 << 10, l2: 1 << 20 });
    assert.ok(streamPlan.direct?.prefetchNext, streamPlan.description);
    const cut = gemmParts(aliasedRows, streamPlan, 8)!;
    assert.ok(cut.length > 1, streamPlan.description);
    for (const p of cut) {
      assert.ok(p.spec.n >= 192, `${n}: a part of ${p.spec.n} columns`);
      const strips = Math.floor(p.spec.n / streamPlan.direct!.nr);
      assert.equal(p.plan.direct!.prefetchNext, strips >= 4, `${n}: ${p.spec.n} columns`);
    }
  }
  // 128×768×3072 (n × k): as many row tiles as column strips, each part's share whole tiles
  // either way: parts along N (each re-reads A, 1.5 MiB, where along M each would re-read B,
  // 9 MiB), bands of columns; and along M (tier 2's other dimension) without it too.
  const rows = gemmSpec({ m: 128, n: 768, k: 3072 });
  const rowsPlan = planGemm(rows, "avx512", { l1d: 48 << 10, l2: 1 << 20 });
  assert.ok(rowsPlan.direct?.prefetchNext, rowsPlan.description);
  const colParts = gemmParts(rows, rowsPlan, 8)!;
  assert.ok(colParts.length > 1 && colParts.every((p) => p.spec.m === rows.m));
  assert.equal(colParts.reduce((n, p) => n + p.spec.n, 0), rows.n);
  assert.equal(otherSplit(rows, rowsPlan, 8), "m");
  const rowParts = gemmParts(rows, { ...rowsPlan, splitAlong: "m" }, 8)!;
  assert.ok(rowParts.length > 1 && rowParts.every((p) => p.spec.n === rows.n));
  assert.equal(rowParts.reduce((n, p) => n + p.spec.m, 0), rows.m);
  for (const p of rowParts) {
    assert.equal(p.plan.direct!.prefetchNext, false);
    assert.equal(p.plan.direct!.kc, rowsPlan.direct!.kc);
  }
  // More rows than columns, both cut in whole tiles for 8 parts: B the smaller, along M.
  const tall = gemmSpec({ m: 600, n: 512, k: 128 });
  const tallPlan = planGemm(tall, "avx512", { l1d: 48 << 10, l2: 1 << 20 });
  assert.equal(tallPlan.path, "direct", tallPlan.description);
  assert.ok(gemmParts(tall, tallPlan, 8)!.every((p) => p.spec.n === tall.n), tallPlan.description);
  assert.equal(otherSplit(gemmSpec({ m: 8, n: 768, k: 3072 }), rowsPlan, 8), null, "one row tile");
});

Deno.test("gemm: a skinny call whose B is streamed from memory splits along N, the same bits on 1 and 2 threads", () => {
  if (isaLevel() !== "avx512" && isaLevel() !== "amx") return; // the skinny plan is AVX-512's
  const small = gemmSpec({ m: 1, n: 3072, k: 768 }), large = gemmSpec({ m: 1, n: 4097, k: 2048 });
  const caches = { l1d: 48 << 10, l2: 1 << 20 };
  const smallPlan = planGemm(small, "avx512", caches),
    largePlan = planGemm(large, "avx512", caches);
  assert.equal(smallPlan.path, "skinny");
  assert.equal(largePlan.path, "skinny");
  assert.equal(gemmParts(small, smallPlan, 8), null, "9 MiB of B: whole");
  const parts = gemmParts(large, largePlan, 8)!;
  assert.ok(parts !== null && parts.length > 1, "32 MiB of B and more: split");
  assert.ok(parts.every((p) => p.spec.m === 1 && p.spec.k === large.k));
  assert.equal(parts.reduce((n, p) => n + p.spec.n, 0), large.n);
  // Run: 2 threads against 1, bit for bit.
  const r = rng(0x5c1e);
  const a = new Float32Array(large.k).map(() => r() - 0.5);
  const b = new Float32Array(large.k * large.n).map(() => r() - 0.5);
  const c1 = new Float32Array(large.n), c2 = new Float32Array(large.n);
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  one.gemm(a, b, c1, { m: 1, n: large.n, k: large.k });
  two.gemm(a, b, c2, { m: 1, n: large.n, k: large.k });
  assert.ok(two.stats().keys[0].parts > 1, `${two.stats().keys[0].parts} parts`);
  assert.deepEqual(c2, c1);
});

Deno.test({
  name:
    "gemm avx512: a small Bᵀ (all of it in L1) runs row tiles outside at tier 1: attention's scores per head, exact on small integers, 1 and 3 threads",
  ignore: !levelsUpTo(isaLevel()).includes("avx512"),
  fn: () => {
    // q·kᵀ of 12 heads read from [128 × 768] rows (BERT's projections), mask bias, scale 1/8.
    const r = rng(5150);
    const q = new Float32Array(128 * 768).map(() => int(r, -4, 4));
    const k = new Float32Array(128 * 768).map(() => int(r, -4, 4));
    const bias = new Float32Array(128).map(() => int(r, -8, 0));
    const o = {
      m: 128,
      n: 128,
      k: 64,
      transB: true,
      lda: 768,
      ldb: 768,
      ldc: 128,
      alpha: 0.125,
      bias,
      batch: 12,
      strideA: 64,
      strideB: 64,
      strideC: 128 * 128,
    };
    const want = new Float32Array(12 * 128 * 128);
    for (let h = 0; h < 12; h++) {
      for (let i = 0; i < 128; i++) {
        for (let j = 0; j < 128; j++) {
          let sum = 0;
          for (let t = 0; t < 64; t++) sum += q[i * 768 + h * 64 + t] * k[j * 768 + h * 64 + t];
          want[h * 16384 + i * 128 + j] = sum * 0.125 + bias[j];
        }
      }
    }
    for (const threads of [1, 3]) {
      using jit = new Jit({ maxIsa: "avx512", threads, tuneBudget: 0, minPartUs: 0 });
      const c = new Float32Array(12 * 128 * 128).fill(NaN);
      jit.gemm(q, k, c, o);
      const key = jit.stats().keys.find((key) => key.key.startsWith("gemm 128x128x64 NT"))!;
      assert.match(key.plan!, /Bᵀ transposed first, row tiles outside/);
      for (let i = 0; i < want.length; i++) {
        if (c[i] !== want[i]) assert.fail(`${threads} threads: c[${i}] ${c[i]} ≠ ${want[i]}`);
      }
    }
  },
});

Deno.test({
  name:
    "gemm avx512: B off its lines, tier 2's candidates with and without the peel give tier 1's bits, on 1 and 2 threads",
  ignore: !levelsUpTo(isaLevel()).includes("avx512"),
  fn: () => {
    const r = rng(2300);
    const vec = (n: number) => new Float32Array(n).map(() => r() * 2 - 1);
    // Copied strips where the core prefers them (B past L1 a strip and a quarter of L2), read in
    // place and split over lines, and streamed from beyond L2 (peeled with the prefetch).
    for (const [m, n, k] of [[64, 512, 256], [40, 256, 96], [24, 2048, 200]]) {
      for (const threads of [1, 2]) {
        const a = vec(m * k), b0 = vec(k * n), bias = vec(n);
        const o = { m, n, k, bias, activation: "relu" } as const;
        // B 16 bytes past a line, as a large Float32Array lands; the bits are the placement's
        // own (the same at every placement: the test above), taken from B on a line.
        const placed = (at: number) => {
          const whole = new Float32Array(k * n + 32);
          const line = whole.subarray(16 - (viewAddress(whole) % 64) / 4);
          return line.subarray(at, at + k * n);
        };
        const b = placed(4), aligned = placed(0);
        b.set(b0);
        aligned.set(b0);
        const want = new Float32Array(m * n);
        {
          using plain = new Jit({ maxIsa: "avx512", threads: 1, tuneBudget: 0 });
          plain.gemm(a, aligned, want, o);
        }
        using jit = new Jit({ maxIsa: "avx512", threads, minPartUs: 0 });
        const c = new Float32Array(m * n);
        const label = `${m}×${n}×${k}, ${threads} threads`;
        const ran = tuneCheckingBits(jit, () => jit.gemm(a, b, c, o), c, want, label);
        assert.ok(ran.some((p) => p.includes("columns apart")), `${label}: ${ran.join("; ")}`);
        assert.ok(ran.some((p) => !p.includes("columns apart")), `${label}: ${ran.join("; ")}`);
      }
    }
  },
});

Deno.test("gemm: a tall A past L2 over a small B runs its row tiles outside, a 2-thread split's parts as before, the same values on 1 and 3 threads with bias and GELU", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const spec = (m: number, n: number, k: number, bPeel = 0) => ({
    ...gemmSpec({ m, n, k }),
    bPeel,
  });
  const tall = planGemm(spec(3136, 256, 256), "avx512", caches);
  assert.match(tall.description, /row tiles outside/);
  // A within L2, or B past a quarter of it: as before.
  assert.doesNotMatch(planGemm(spec(1536, 256, 256), "avx512", caches).description, /outside/);
  assert.doesNotMatch(planGemm(spec(3136, 1024, 256), "avx512", caches).description, /outside/);
  // Parts along M of 1568 rows (A's share 1.6 MB) take the plan the shape had: copied strips off
  // B's lines; 4 parts of 784 rows too.
  const off = planGemm(spec(3136, 256, 256, 12), "avx512", caches);
  assert.match(off.description, /row tiles outside/);
  for (const parts of [2, 4]) {
    const split = gemmParts(spec(3136, 256, 256, 12), off, parts)!;
    assert.equal(split.length, parts);
    for (const q of split) assert.match(q.plan.description, /B copied strip by strip/);
  }
  const r = rng(3136);
  if (!levelsUpTo(isaLevel()).includes("avx512")) return;
  // Live, on this machine's caches: A of 4 MiB past an L2 of 1 or 2 MiB, B of 128 KiB under a
  // quarter of it (3136×256×256's B is a quarter of a 1 MiB L2: Zen 4/5 keep the plan it had).
  const [m, n, k] = [8192, 256, 128];
  const a = new Float32Array(m * k).map(() => int(r, -4, 4) / 4);
  const b = new Float32Array(k * n).map(() => int(r, -4, 4) / 4);
  const bias = new Float32Array(n).map(() => int(r, -4, 4) / 8);
  const o = { m, n, k, bias, activation: "gelu" as const };
  using one = new Jit({ maxIsa: "avx512", threads: 1, tuneBudget: 0 });
  using three = new Jit({ maxIsa: "avx512", threads: 3, minPartUs: 0, tuneBudget: 0 });
  const c1 = new Float32Array(m * n), c3 = new Float32Array(m * n);
  one.gemm(a, b, c1, o);
  three.gemm(a, b, c3, o);
  assert.deepEqual(c3, c1);
  assert.match(one.stats().keys.at(-1)!.plan!, /row tiles outside/);
  // Sums of quarters are exact: against the reference's GELU of the exact sums.
  for (let i = 0; i < m; i += 97) {
    for (let j = 0; j < n; j += 13) {
      let sum = bias[j];
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      const want = 0.5 * sum * (1 + erf64(sum / Math.SQRT2));
      assert.ok(Math.abs(c1[i * n + j] - want) <= 1e-5 * (1 + Math.abs(want)), `[${i}, ${j}]`);
    }
  }
});

Deno.test("gemm plan: B off its lines past L1 on a core that prefers copied strips: peeled under 256 rows with rows alike and apart in the sets, else copied", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const plan = (m: number, n: number, k: number, bPeel: number, ldb = n) =>
    planGemm({ ...gemmSpec({ m, n, k }), ldb, bPeel }, "avx512", caches).description;
  assert.match(plan(64, 768, 512, 12), /columns apart/);
  assert.doesNotMatch(plan(64, 768, 512, 12), /copied/);
  assert.match(plan(200, 640, 400, 12), /columns apart/);
  // Many rows: the copy amortizes.
  assert.match(plan(384, 384, 384, 12), /B copied strip by strip/);
  // Rows 2 KiB apart share a few sets: copied.
  assert.match(plan(128, 512, 512, 12), /B copied strip by strip/);
  // Rows not alike off their lines: copied.
  assert.match(plan(64, 760, 512, 0, 760), /B copied strip by strip/);
  // B under a quarter of L2: in place, but from 1536 rows of A (every strip serves enough row
  // tiles) copied.
  assert.doesNotMatch(plan(1024, 256, 256, 12), /copied/);
  assert.match(plan(1536, 256, 256, 12), /B copied strip by strip/);
  assert.match(plan(2048, 256, 256, 12), /B copied strip by strip/); // (A past L2: rows outside)
  assert.doesNotMatch(plan(2048, 256, 256, 0), /copied/); // B on its lines
  // Read in place, 8 strips or more: peeled; fewer: every load split.
  assert.match(plan(64, 4096, 64, 12), /columns apart/);
  assert.match(plan(2000, 2000, 50, 12), /columns apart/);
  assert.doesNotMatch(plan(1000, 256, 300, 12), /columns apart/);
  assert.doesNotMatch(plan(64, 4096, 64, 0), /columns apart/);
  // A core that reads strips in place: neither.
  const amd = planGemm({ ...gemmSpec({ m: 64, n: 768, k: 512 }), bPeel: 12 }, "avx512", {
    ...caches,
    copyStrips: false,
  });
  assert.doesNotMatch(amd.description, /columns apart|copied/);
});

Deno.test("gemm parts: B off its lines is cut at its lines only where the tiles read it in place; a copying plan's parts are whole strips from column 0, each knowing its own offset", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const spec = (m: number, n: number, k: number): GemmSpec => ({
    ...gemmSpec({ m, n, k }),
    bPeel: 12,
  });
  const cuts = (s: GemmSpec, parts: number) => {
    const p = planGemm(s, "avx512", caches);
    const out = gemmParts(s, p, parts)!;
    return {
      description: p.description,
      widths: out.map((q) => q.spec.n),
      peels: out.map((q) => q.spec.bPeel),
      starts: out.map((q) => q.offsets[1] / 4),
    };
  };
  // Copied strip by strip (512³ at 16 bytes into a line): 256 + 256, both 12 columns off.
  const copied = cuts(spec(512, 512, 512), 2);
  assert.match(copied.description, /B copied strip by strip/);
  assert.deepEqual(copied.widths, [256, 256]);
  assert.deepEqual(copied.starts, [0, 256]);
  assert.deepEqual(copied.peels, [12, 12]);
  // 8 parts: whole 64-column strips, the column offsets of each part's B kept.
  const eight = cuts(spec(512, 512, 512), 8);
  assert.deepEqual(eight.widths, Array(8).fill(64));
  assert.deepEqual(eight.peels, Array(8).fill(12));
  // Read in place with the peel: the first part has the peel and the cut is on a line.
  const peeled = cuts(spec(64, 4096, 64), 2);
  assert.match(peeled.description, /columns apart/);
  assert.equal(peeled.widths[0] - 12, peeled.starts[1] - 12);
  assert.equal((peeled.starts[1] - 12) % 16, 0);
  assert.deepEqual(peeled.peels, [12, 0]);
  assert.equal(peeled.widths.reduce((x, y) => x + y), 4096);
});

Deno.test("gemm parts: a call streaming B in place from beyond L2 splits in parts of 192 columns or more where halving the parts asked (at most twice) gets there; other plans as asked", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const widths = (m: number, n: number, k: number, parts: number) => {
    const s = gemmSpec({ m, n, k });
    const p = planGemm(s, "avx512", caches);
    return { description: p.description, widths: gemmParts(s, p, parts)!.map((q) => q.spec.n) };
  };
  const streamed = widths(64, 768, 3072, 8);
  assert.match(streamed.description, /next B strip prefetched/);
  assert.deepEqual(streamed.widths, [192, 192, 192, 192]);
  // The policy's 4 parts a thread halved at most twice: every thread keeps a share (3 threads
  // asked for 12: 3 parts; 8 threads asked for 32: 8).
  assert.equal(widths(64, 768, 3072, 12).widths.length, 3);
  assert.equal(widths(64, 768, 3072, 32).widths.length, 8);
  // Narrower than two such parts: two parts all the same (not one, nor an M split).
  const narrow = widths(16, 256, 8192, 8);
  assert.match(narrow.description, /next B strip prefetched/);
  assert.equal(narrow.widths.length, 2);
  assert.equal(narrow.widths.reduce((x, y) => x + y), 256);
  // B copied strip by strip: parts as asked.
  const copied = widths(512, 512, 512, 8);
  assert.doesNotMatch(copied.description, /prefetched/);
  assert.equal(copied.widths.length, 8);
});

Deno.test("gemm plan: B's strip rows sharing L1's sets are copied from 128 rows on a core that prefers copied strips, and every candidate has a workspace of whole bytes", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const plan = (m: number, n: number, k: number) =>
    planGemm(gemmSpec({ m, n, k }), "avx512", caches);
  // Rows 1, 2 and 4 KiB apart: a 64-column strip's rows fall on 4, 2, 1 set offsets.
  for (const [m, n, k] of [[3136, 256, 64], [512, 512, 64], [2048, 1024, 64], [128, 1024, 96]]) {
    const p = plan(m, n, k);
    assert.match(p.description, /B copied strip by strip/, `${m}×${n}×${k}`);
    const t = { isa: "avx512" as const, l1d: caches.l1d, l2: caches.l2, copyStrips: true };
    for (const c of [p, ...gemmCandidates(gemmSpec({ m, n, k }), p, t)]) {
      assert.ok(Number.isSafeInteger(c.workspaceBytes), `${c.description}: ${c.workspaceBytes}`);
    }
  }
  // Rows spread over the sets, few rows, or the strip past L1: in place.
  assert.doesNotMatch(plan(3136, 240, 64).description, /copied/);
  assert.doesNotMatch(plan(256, 3136, 64).description, /copied/);
  assert.doesNotMatch(plan(64, 512, 128).description, /copied/);
  assert.doesNotMatch(plan(128, 128, 128).description, /copied/);
  // Bᵀ transposed first: its rows a line more apart where they would share sets.
  const t = (n: number) =>
    planGemm({ ...gemmSpec({ m: 512, n, k: 64 }), transB: true, ldb: 64 }, "avx512", caches)
      .direct?.transposeB;
  assert.equal(t(256), 272);
  assert.equal(t(240), 240);
  assert.equal(t(100), 112);
  const amd = planGemm(gemmSpec({ m: 3136, n: 256, k: 64 }), "avx512", {
    ...caches,
    copyStrips: false,
  });
  assert.doesNotMatch(amd.description, /copied/);
});

Deno.test("gemm: A's row tile past half of L1 over the whole K is blocked along K, B in L2 or not", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  // B in L2 (1.5 MiB), A's 8-row tile over k = 3072 takes 96 KiB: blocks of 256.
  const long = planGemm(gemmSpec({ m: 64, n: 128, k: 3072 }), "avx512", caches);
  assert.equal(long.direct?.kc, 256, long.description);
  // k = 1536 with 6-row tiles: 36 KiB, still past half of L1.
  const six = planGemm(gemmSpec({ m: 128, n: 256, k: 1536 }), "avx512", caches);
  assert.equal(six.direct?.kc, 256, six.description);
  // The tile within half of L1 (6 × 576 floats), or read once (one row and column tile): whole K.
  assert.equal(
    planGemm(gemmSpec({ m: 49, n: 64, k: 576 }), "avx512", caches).direct?.kc,
    undefined,
  );
  assert.equal(
    planGemm(gemmSpec({ m: 6, n: 16, k: 4096 }), "avx512", caches).direct?.kc,
    undefined,
  );
  // A smaller L1 draws the line sooner (Zen 4's 32 KiB: 6 × 768 floats is 18 KiB).
  const zen4 = planGemm(gemmSpec({ m: 64, n: 128, k: 768 }), "avx512", {
    l1d: 32 << 10,
    l2: 1 << 20,
  });
  assert.equal(zen4.direct?.kc, 256, zen4.description);
  assert.equal(
    planGemm(gemmSpec({ m: 64, n: 128, k: 768 }), "avx512", caches).direct?.kc,
    undefined,
  );
  // B in panels (packB's 64 columns): blocks of 512, the panel's block streamed in order.
  const panels = (m: number, k: number) =>
    planGemm({ ...gemmSpec({ m, n: 768, k }), bPanel: 64, ldb: 64 }, "avx512", caches);
  assert.equal(panels(64, 3072).direct?.kc, 512, panels(64, 3072).description);
  assert.equal(panels(64, 1536).direct?.kc, 512, panels(64, 1536).description);
  assert.equal(panels(64, 768).direct?.kc, undefined, panels(64, 768).description);
  assert.equal(panels(6, 3072).direct?.kc, undefined, panels(6, 3072).description);
  // AVX2 keeps its own K blocks (1536 here: a block and the next in L2's share).
  const avx2 = planGemm(gemmSpec({ m: 64, n: 128, k: 3072 }), "avx2", caches);
  assert.equal(avx2.direct?.kc, 1536, avx2.description);
});

Deno.test("gemm: a Bᵀ of half of L2 or more goes by dot products up to 48 rows and strip by strip up to 128 on a core that copies strips", () => {
  const intel = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  const plan = (m: number, n: number, k: number, caches: typeof intel) =>
    planGemm(gemmSpec({ m, n, k, transB: true }), "avx512", caches);
  for (const [m, n, k] of [[64, 512, 1024], [64, 128, 3072], [128, 768, 768]]) {
    const p = plan(m, n, k, intel);
    assert.ok(p.direct?.transposeStrips, `${m}×${n}×${k}: ${p.description}`);
    assert.equal(p.direct!.spreadNext, false); // these caches leave the trait out
    // AMD (no strip copies) transposes such a B whole.
    const amd = plan(m, n, k, { ...intel, copyStrips: false });
    assert.ok(amd.direct?.transposeB && !amd.direct.transposeStrips, amd.description);
  }
  // Up to 48 rows: dot products, nothing transposed (AMD: transposed whole).
  assert.equal(plan(32, 512, 1024, intel).path, "dot");
  assert.equal(plan(48, 1024, 1024, intel).path, "dot");
  assert.equal(plan(32, 512, 1024, { ...intel, copyStrips: false }).path, "direct");
  // The trait deals the next strip's Bᵀ rows out to the tiles.
  const dealt = plan(64, 768, 3072, { ...intel, spreadNextStrip: true } as typeof intel);
  assert.ok(dealt.direct?.transposeStrips && dealt.direct.spreadNext, dealt.description);
  // Its parts are as wide as a streamed B's (8 asked, halved twice to 384 columns each).
  const dealtSpec = gemmSpec({ m: 64, n: 768, k: 3072, transB: true });
  assert.equal(gemmParts(dealtSpec, dealt, 8)!.length, 2);
  assert.equal(gemmParts(dealtSpec, plan(64, 768, 3072, intel), 8)!.length, 8);
  // B under half of L2, or more than 128 rows: transposed whole.
  for (const [m, n, k] of [[128, 512, 256], [256, 1024, 1024]]) {
    const p = plan(m, n, k, intel);
    assert.ok(!p.direct?.transposeStrips, `${m}×${n}×${k}: ${p.description}`);
  }
});

Deno.test("gemm: B's rows 4 KiB apart on a strip past L1 are copied strip by strip on a core that copies strips", () => {
  const intel = { l1d: 48 << 10, l2: 2 << 20, copyStrips: true };
  for (const [m, n, k] of [[256, 1024, 1024], [384, 1024, 1024], [200, 2048, 512]]) {
    const spec = gemmSpec({ m, n, k });
    assert.equal(spec.bPeel ?? 0, 0); // on its lines: no rule for B off them applies
    const p = planGemm(spec, "avx512", intel);
    assert.ok(p.direct?.copyStrips, `${m}×${n}×${k}: ${p.description}`);
    assert.ok(!planGemm(spec, "avx512", { ...intel, copyStrips: false }).direct?.copyStrips);
  }
  // Rows 3 KiB apart stay in place.
  assert.ok(!planGemm(gemmSpec({ m: 256, n: 768, k: 1024 }), "avx512", intel).direct?.copyStrips);
});

Deno.test("gemm: the medium-shape rules (long A tiles, the spread fetch, Bᵀ strips, aliased rows on lines) give the exact sums and the same bits on 1-3 threads", () => {
  // Small integers: every sum exact in f32, so each call must equal the integer reference.
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  const f = cpuFeatures();
  const rules = isaLevel() === "avx512" || isaLevel() === "amx" ? prefersCopiedStrips(f) : false;
  const cases: {
    m: number;
    n: number;
    k: number;
    transB?: boolean;
    onLines?: boolean;
    plan: RegExp;
  }[] = [
    { m: 64, n: 512, k: 768, plan: /fetched over the row tiles/ }, // B of 1.5 MiB: half of L2
    { m: 40, n: 128, k: 3072, plan: /kc=/ }, // A's 8-row tile over k past half of L1
    { m: 64, n: 512, k: 1024, transB: true, plan: /transposed strip by strip/ },
    { m: 32, n: 512, k: 1024, transB: true, plan: /dot products/ },
    { m: 160, n: 1024, k: 512, onLines: true, plan: /copied strip by strip/ }, // rows 4 KiB apart
  ];
  const r = rng(20261207);
  for (const c of cases) {
    const a = new Float32Array(c.m * c.k).map(() => int(r, -3, 3));
    const bWhole = new Float32Array(c.k * c.n + 16).map(() => int(r, -3, 3));
    // On its lines (as bench/ab.ts and a model's arena hand B over), or 16 bytes past one.
    const skip = c.onLines ? (16 - (viewAddress(bWhole) % 64) / 4) % 16 : 0;
    const b = bWhole.subarray(skip, skip + c.k * c.n);
    const want = new Float64Array(c.m * c.n);
    for (let i = 0; i < c.m; i++) {
      for (let p = 0; p < c.k; p++) {
        const x = a[i * c.k + p];
        for (let j = 0; j < c.n; j++) {
          want[i * c.n + j] += x * (c.transB ? b[j * c.k + p] : b[p * c.n + j]);
        }
      }
    }
    for (const threads of [1, 2, 3]) {
      using jit = new Jit({ threads, caches });
      const out = new Float32Array(c.m * c.n).fill(NaN);
      jit.gemm(a, b, out, { m: c.m, n: c.n, k: c.k, transB: c.transB });
      for (let i = 0; i < out.length; i++) {
        if (out[i] !== want[i]) {
          assert.fail(
            `${c.m}×${c.n}×${c.k}${c.transB ? " Bᵀ" : ""}, ${threads} threads: [${i}] ${out[i]} ≠ ${
              want[i]
            }`,
          );
        }
      }
      if (rules && threads === 1) {
        const plan = jit.stats().keys.find((q) => q.key.startsWith("gemm"))?.plan ?? "";
        assert.match(plan, c.plan, `${c.m}×${c.n}×${c.k}`);
      }
    }
    // Floats (sums that round): the same bits on 1, 2 and 3 threads, and on a call repeated.
    const fa = a.map(() => r() - 0.5), fbWhole = new Float32Array(c.k * c.n + 16);
    const fskip = c.onLines ? (16 - (viewAddress(fbWhole) % 64) / 4) % 16 : 0;
    const fb = fbWhole.subarray(fskip, fskip + c.k * c.n); // placed as b is
    for (let i = 0; i < fb.length; i++) fb[i] = r() - 0.5;
    let first: Float32Array | undefined;
    for (const threads of [1, 2, 3]) {
      using jit = new Jit({ threads, caches });
      for (let call = 0; call < 2; call++) {
        const out = new Float32Array(c.m * c.n);
        jit.gemm(fa, fb, out, { m: c.m, n: c.n, k: c.k, transB: c.transB });
        first ??= out;
        const at = out.findIndex((x, i) => !Object.is(x, first![i]));
        assert.equal(at, -1, `${c.m}×${c.n}×${c.k}, ${threads} threads, call ${call}: [${at}]`);
      }
    }
  }
});

Deno.test("gemm: a row edge under half a tile runs with the last full tile as two of about half (AVX2, AVX-512)", () => {
  for (const level of ["avx2", "avx512"] as const) {
    const isa = vecIsa(level);
    assert.deepEqual(splitRowEdge(isa, 128, 6), { full: 20, edges: [4, 4] }, level);
    assert.deepEqual(splitRowEdge(isa, 64, 6), { full: 10, edges: [4] }, level); // 4 ≥ half of 6
    assert.deepEqual(splitRowEdge(isa, 96, 6), { full: 16, edges: [] }, level);
    assert.deepEqual(splitRowEdge(isa, 1, 6), { full: 0, edges: [1] }, level); // no full tile
  }
  assert.deepEqual(splitRowEdge(vecIsa("sse2"), 128, 6), { full: 21, edges: [2] });
});

Deno.test("gemm plan: B in panels is prefetched by the tiles over a few row tiles, left to the hardware over many", () => {
  const caches = { l1d: 48 << 10, l2: 2 << 20 };
  const panels = (m: number) =>
    planGemm({ ...gemmSpec({ m, n: 768, k: 768 }), bPanel: 64, ldb: 64 }, "avx512", caches);
  // One row (a GEMV) and 3 row tiles of 6: each panel streamed once, the tiles fetch it ahead.
  for (const m of [1, 18]) {
    assert.equal(panels(m).direct?.prefetchAhead, 8, panels(m).description);
    assert.equal(panels(m).direct?.nextBlockToL2, false);
  }
  // 4 row tiles and more: the first fetches the next block, the others find B in L2.
  for (const m of [24, 128]) {
    assert.equal(panels(m).direct?.prefetchAhead, 0, panels(m).description);
    assert.equal(panels(m).direct?.nextBlockToL2, true);
  }
  // AVX2 keeps the fetch (its row tiles outside were measured with it).
  const avx2 = planGemm(
    { ...gemmSpec({ m: 128, n: 768, k: 768 }), bPanel: 64, ldb: 64 },
    "avx2",
    caches,
  );
  assert.equal(avx2.direct?.prefetchAhead, 8, avx2.description);
});
