import assert from "node:assert/strict";
import { type Activation, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { rng } from "./helpers/random.ts";
import { PATH_CACHES } from "./helpers/configurations.ts";

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
