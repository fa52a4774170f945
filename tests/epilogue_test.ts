import assert from "node:assert/strict";
import { type Activation, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { rng } from "./helpers/random.ts";
import { PATH_CACHES } from "./helpers/configurations.ts";
import { int, pick } from "./helpers/random.ts";
import { runGemmCode } from "./helpers/gemm_run.ts";
import { gemmSpec } from "./helpers/gemm_spec.ts";
import { type GemmPlan, type GemmSpec, generateGemm } from "../src/kernels/gemm/mod.ts";
import { planGemm } from "../src/kernels/gemm/plan.ts";
import { stripBufferBytes, transposedBBytes } from "../src/kernels/gemm/direct.ts";
import { tileFits } from "../src/kernels/gemm/microkernel.ts";
import { decodeActivation, readActivation } from "../src/kernels/unary/read.ts";
import { vecIsa } from "../src/kernels/vec.ts";
import { CodeArena } from "../src/native/arena.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/**
 * Shapes that reach every driver: direct (B in place, and at AVX-512 B's strips copied),
 * packed, skinny, dot (Bᵀ, few rows), scale (k = 0).
 */
const SHAPES: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }[] = [
  { m: 7, n: 33, k: 17 },
  { m: 300, n: 300, k: 300 },
  { m: 3, n: 1025, k: 300 },
  { m: 5, n: 100, k: 64, transB: true },
  { m: 1, n: 700, k: 1000 },
  { m: 9, n: 31, k: 0 },
  // Large: checked with one activation only (slow at SSE2). B's strips copied at AVX-512, else
  // packed; Aᵀ·Bᵀ with many rows is packed at every level.
  { m: 520, n: 520, k: 1100 },
  { m: 520, n: 530, k: 1100, transA: true, transB: true },
];
const ACTS: (Activation | undefined)[] = [
  "gelu",
  "relu",
  { op: "clip", min: 0, max: 6 },
  "silu",
  "tanh",
  { op: "leakyRelu", alpha: 0.1 },
  "geluTanh",
  undefined,
];

for (const isa of LEVELS) {
  Deno.test(`gemm epilogue ${isa}: bias + activation bit-identical to gemm, then add, then the unary op, in every driver`, () => {
    using jit = new Jit({ maxIsa: isa, caches: PATH_CACHES });
    const r = rng(1300 + LEVELS.indexOf(isa));
    const paths = new Set<string>();
    for (const s of SHAPES) {
      const a = new Float32Array(s.m * s.k).map(() => r() * 2 - 1);
      const b = new Float32Array(s.k * s.n).map(() => r() * 2 - 1);
      const c0 = new Float32Array(s.m * s.n).map(() => r() * 2 - 1);
      const bias = new Float32Array(s.n).map(() => r() * 2 - 1);
      const big = s.m * s.n * s.k > 1e8;
      if (big && isa === "scalar") continue; // the scalar level has one driver, seen on the small shapes
      for (const act of big ? ACTS.slice(0, 1) : ACTS) {
        for (const beta of big ? [1] : [0, 1]) {
          for (const withBias of big ? [true] : [true, false]) {
            if (!withBias && act === undefined) continue;
            const opts = { ...s, beta };
            const fused = c0.slice(), apart = c0.slice();
            jit.gemm(a, b, fused, { ...opts, bias: withBias ? bias : undefined, activation: act });
            jit.gemm(a, b, apart, opts);
            if (withBias) jit.binary("add", apart, [s.m, s.n], bias, [s.n], apart);
            if (act !== undefined) {
              const [op, params] = typeof act === "string" ? [act, undefined] : [act.op, act];
              const { op: _, ...p } = params ?? { op };
              jit.unary(op, apart, apart, params ? p : undefined);
            }
            for (let i = 0; i < fused.length; i++) {
              if (!Object.is(fused[i], apart[i])) {
                assert.fail(
                  `${isa} ${s.m}×${s.n}×${s.k}${s.transB ? " Bᵀ" : ""} beta=${beta} ${
                    JSON.stringify(act)
                  } bias=${withBias}: ` +
                    `[${i}] fused ${fused[i]} vs apart ${apart[i]}`,
                );
              }
            }
          }
        }
      }
      const key = jit.stats().keys.find((k) =>
        k.key.startsWith(`gemm ${s.m}x${s.n}x${s.k}`) && k.key.includes("+bias")
      );
      paths.add(
        key!.plan!.split(" ").slice(2, 3).join("") +
          (key!.plan!.includes("copied") ? " copied" : ""),
      );
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
    if (isa === "avx512" || isa === "avx2") {
      for (
        const p of ["direct", "packed", "skinny", "dot", ...(isa === "avx512" ? ["copied"] : [])]
      ) {
        assert.ok([...paths].some((x) => x.includes(p)), `${isa}: no ${p} plan in ${[...paths]}`);
      }
    }
  });
}

Deno.test("gemm epilogue: bad bias and activation name the argument", () => {
  using jit = new Jit();
  const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(4);
  const o = { m: 2, n: 2, k: 3 };
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.gemm(a, b, c, { ...o, bias: new Float32Array(3) }),
      /gemm: bias has 3 elements but n is 2/,
      RangeError,
    ],
    [
      () => jit.gemm(a, b, c, { ...o, bias: [1, 2] as never }),
      /gemm: bias must be a Float32Array of n elements, got/,
      TypeError,
    ],
    [
      () => jit.gemm(a, b, c, { ...o, activation: "swish" as never }),
      /gemm: unknown activation "swish"; expected one of relu/,
      RangeError,
    ],
    [
      () => jit.gemm(a, b, c, { ...o, activation: { op: "relu", alpha: 1 } as never }),
      /gemm: relu takes no parameters, got alpha = number 1/,
      TypeError,
    ],
    [
      () => jit.gemm(a, b, c, { ...o, activation: { op: "clip", min: "0" } as never }),
      /gemm: clip min must be a number, got string/,
      TypeError,
    ],
    [
      () => jit.gemm(a, b, c, { ...o, activation: 3 as never }),
      /gemm: activation must be an op name or an object/,
      TypeError,
    ],
    [() => jit.gemm(a, b, c, { ...o, bias: c.subarray(0, 2) }), /c overlaps bias/, RangeError],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
});

/**
 * The direct driver applies the epilogue per column strip, after the strip's
 * last K block (epilogue.ts): random direct plans (K blocks, the next block
 * or strip prefetched, B's strips copied or Bᵀ's transposed, B peeled to a
 * line, B in panels, row and column edges with tails) give the bits of the same plan
 * without the epilogue, then the add and the unary op.
 */
Deno.test("gemm epilogue in the direct driver: every plan variant bit-identical to the plan without it, then add, then the unary op", () => {
  const arena = new CodeArena();
  try {
    for (const isa of LEVELS) {
      const v = vecIsa(isa);
      using jit = new Jit({ maxIsa: isa });
      const seed = 1400 + LEVELS.indexOf(isa), r = rng(seed);
      for (let t = 0; t < 60; t++) {
        const m = int(r, 1, 40), n = int(r, 1, 150), k = int(r, 1, 120);
        // B in panels of bPanel columns, each k × its width (a multiple of 16) in turn.
        const bPanel = r() < 0.3 ? pick(r, [16, 32, 64]) : 0;
        const transB = !bPanel && isa === "avx512" && r() < 0.3;
        // Bᵀ's buffer at its least stride or a line more (transposedRowFloats pads some).
        const transposeB = transB ? Math.ceil(n / 16) * 16 + pick(r, [0, 16]) : 0;
        const transposeStrips = transposeB > 0 && r() < 0.5;
        const copyStrips = !bPanel && !transB && isa === "avx512" && r() < 0.3;
        const direct = {
          mr: int(r, 1, 6),
          nr: v.lanes * int(r, 1, 3),
          unroll: pick(r, [1, 2, 4, 16]),
          kSplit: pick(r, [1, 2]),
          kc: pick(r, [undefined, 3, 8, 32]),
          prefetchNext: r() < 0.5,
          peelB: r() < 0.5,
          nextBlockToL2: r() < 0.5,
          embedBroadcast: r() < 0.5,
          prefetchAhead: bPanel ? pick(r, [0, 8]) : 0,
          epilogueByPass: r() < 0.3,
          epilogueByPanel: bPanel > 0 && r() < 0.4,
          rowsOuter: !transposeStrips && !copyStrips && r() < 0.3,
          transposeB,
          transposeStrips,
          copyStrips,
        };
        const reserved = isa === "avx2" && (n % direct.nr) % v.lanes !== 0 ? 1 : 0;
        const fits = () => tileFits(v, direct.mr, direct.nr / v.lanes, direct.kSplit, reserved);
        while (!fits() && direct.kSplit > 1) direct.kSplit /= 2;
        while (!fits()) direct.mr--;
        direct.unroll = Math.max(direct.unroll, direct.kSplit);
        const buffered = transposeStrips || copyStrips;
        const workspaceBytes = buffered
          ? stripBufferBytes(direct.kc ?? k, direct.nr)
          : transposeB
          ? transposedBBytes(k, transposeB)
          : 0;
        const plan: GemmPlan = {
          level: 3,
          isa,
          path: "direct",
          direct,
          workspaceBytes,
          description: "test",
        };
        const act = pick(r, ACTS.slice(0, 7)), withBias = r() < 0.7;
        const [op, params] = act === undefined
          ? [undefined, undefined]
          : typeof act === "string"
          ? [act, undefined]
          : [act.op, act];
        const { op: _, ...p } = params ?? { op };
        const key = new Int32Array(3);
        if (act !== undefined) readActivation("test", act, key, 0);
        const epilogue = { bias: withBias, activation: decodeActivation(key, 0) };
        // alpha and a general beta take registers of the update (the epilogue's there or the pass).
        const beta = pick(r, [0, 1, 0.5]), alpha = pick(r, [1, 1, 0.125, -2]);
        const ldb = (transB ? k : n) + int(r, 0, 3), ldc = n + int(r, 0, 3);
        const s: GemmSpec = {
          m,
          n,
          k,
          transA: r() < 0.3,
          transB,
          lda: 0,
          ldb,
          ldc,
          alpha,
          beta,
          bPeel: bPanel ? 0 : pick(r, [0, 0, 3, 12]),
          ...(bPanel ? { bPanel } : {}),
        };
        s.lda = (s.transA ? m : k) + int(r, 0, 3);
        const a = new Float32Array((s.transA ? k : m) * s.lda).map(() => r() * 2 - 1);
        // Some cases: a few of A's elements huge or not finite, so C holds ±Inf, NaN and values
        // past the activations' clamps (GELU's −15 and 1e30) where the epilogue meets them.
        if (r() < 0.4) {
          for (let j = 0; j < 4; j++) {
            a[int(r, 0, a.length - 1)] = pick(r, [Infinity, -Infinity, NaN, 1e25, -1e25, 40, -40]);
          }
        }
        const bLength = bPanel
          ? k * (Math.floor(n / bPanel) * bPanel + Math.ceil((n % bPanel) / 16) * 16)
          : (transB ? n : k) * ldb;
        const b = new Float32Array(bLength).map(() => r() * 2 - 1);
        const c0 = new Float32Array(m * ldc).map(() => r() * 2 - 1);
        const bias = new Float32Array(n).map(() => r() * 2 - 1);
        const fused = c0.slice(), apart = c0.slice();
        const label = `${isa} seed ${seed} case ${t}: ${JSON.stringify(s)} ${
          JSON.stringify(direct)
        } ${JSON.stringify(act)} bias=${withBias}`;
        const operands = (c: Float32Array) => ({ a, b, c, bias });
        runGemmCode(
          arena,
          generateGemm({ ...s, epilogue }, plan).code,
          operands(fused),
          workspaceBytes,
        );
        runGemmCode(arena, generateGemm(s, plan).code, operands(apart), workspaceBytes);
        for (let i = 0; i < m; i++) {
          const row = apart.subarray(i * ldc, i * ldc + n);
          if (withBias) jit.binary("add", row, [n], bias, [n], row);
          if (op !== undefined) jit.unary(op, row, row, params ? p : undefined);
        }
        for (let i = 0; i < fused.length; i++) {
          if (!Object.is(fused[i], apart[i])) {
            assert.fail(`${label}: [${i}] fused ${fused[i]} vs apart ${apart[i]}`);
          }
        }
      }
    }
  } finally {
    arena.close();
  }
});

Deno.test("gemm epilogue in the direct driver: applied on the accumulators where the update's registers hold it, else by the pass over the stored tile", () => {
  if (!LEVELS.includes("avx512")) return; // the register counts below are AVX-512's
  const spec = (m: number, n: number, k: number, act: Activation | undefined): GemmSpec => {
    const key = new Int32Array(3);
    if (act !== undefined) readActivation("test", act, key, 0);
    return {
      ...gemmSpec({ m, n, k }),
      epilogue: { bias: true, activation: decodeActivation(key, 0) },
    };
  };
  const plan = (mr: number, nr: number, kc?: number, epilogueByPass?: boolean): GemmPlan => ({
    level: 3,
    isa: "avx512",
    path: "direct",
    direct: { mr, nr, unroll: 1, kSplit: 1, kc, epilogueByPass },
    workspaceBytes: 0,
    description: "test",
  });
  // The pass over a stored tile saves the registers it walks with (rcx first); the update does not.
  const byPass = (s: GemmSpec, p: GemmPlan) =>
    /^\s*push rcx\b/m.test(generateGemm(s, p, { listing: true }).listing());
  // 6×64: 24 accumulators, 8 registers left: GELU's result and five temporaries fit.
  assert.equal(byPass(spec(12, 128, 40, "gelu"), plan(6, 64)), false);
  assert.equal(byPass(spec(12, 128, 40, "gelu"), plan(6, 64, 16)), false, "K blocks");
  assert.equal(byPass(spec(12, 128, 40, undefined), plan(6, 64)), false, "bias alone");
  assert.equal(byPass(spec(12, 128, 40, "gelu"), plan(6, 64, undefined, true)), true, "asked");
  // 9×48: 27 accumulators leave 5, too few for GELU: the pass.
  assert.equal(byPass(spec(18, 96, 40, "gelu"), plan(9, 48)), true);
  assert.equal(byPass(spec(18, 96, 40, "relu"), plan(9, 48)), false, "relu takes one temporary");
});

Deno.test("gemm epilogue, B in panels: by a pass over each panel where the tile's registers do not hold the activation", () => {
  // Planning and generation only: every level, whatever this machine runs.
  const spec = (m: number, act: Activation | undefined): GemmSpec => {
    const key = new Int32Array(3);
    if (act !== undefined) readActivation("test", act, key, 0);
    const activation = decodeActivation(key, 0);
    return {
      ...gemmSpec({ m, n: 3072, k: 768 }),
      ldb: 64,
      bPanel: 64,
      epilogue: { bias: true, activation },
    };
  };
  const byPanel = (s: GemmSpec, isa: "avx2" | "avx512") => {
    const p = planGemm(s, isa);
    const d = p.direct!;
    assert.equal(p.path, "direct");
    // The field, the description and the code agree: a per-tile pass saves rcx first.
    assert.equal(
      p.description.includes("epilogue by a pass over each panel"),
      d.epilogueByPanel ?? false,
    );
    const perTile = /^\s*push rcx\b/m.test(generateGemm(s, p, { listing: true }).listing());
    if (d.epilogueByPanel) assert.equal(perTile, false, "no tile pass beside the panel's");
    return { byPanel: d.epilogueByPanel ?? false, tile: `${d.mr}×${d.nr}` };
  };
  // AVX2's 6×16 leaves 4 registers: GELU's 7 do not fit, ReLU's and the bias's do.
  assert.deepEqual(byPanel(spec(128, "gelu"), "avx2"), { byPanel: true, tile: "6×16" });
  assert.deepEqual(byPanel(spec(128, "silu"), "avx2"), { byPanel: true, tile: "6×16" });
  assert.deepEqual(byPanel(spec(128, "relu"), "avx2"), { byPanel: false, tile: "6×16" });
  assert.deepEqual(byPanel(spec(128, undefined), "avx2"), { byPanel: false, tile: "6×16" });
  // One row at AVX2: the 1×64 tile's 8 accumulators leave room for GELU.
  assert.deepEqual(byPanel(spec(1, "gelu"), "avx2"), { byPanel: false, tile: "1×64" });
  // AVX-512's tiles hold GELU beside them (plan.ts: on the accumulators measured best there).
  assert.equal(byPanel(spec(128, "gelu"), "avx512").byPanel, false);
});
