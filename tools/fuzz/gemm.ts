/**
 * gemm cases: m, n, k from 1 to 384 (edges around 16, 256), either
 * operand transposed, padded leading dimensions, batches with strides,
 * alpha, beta, bias, ReLU, plain or packed B (every layout), 1-3 threads,
 * operands at random offsets: against an f64 reference, exactly (small
 * integers).
 *
 * @module
 */
import { Jit } from "../../mod.ts";
import {
  type CaseResult,
  type FuzzOptions,
  int,
  ints,
  type JitSet,
  pick,
  place,
  rng,
  smallL2,
} from "./shared.ts";

function dim(r: () => number): number {
  return pick(r, [
    int(r, 1, 8),
    int(r, 1, 40),
    int(r, 1, 200),
    16,
    17,
    32,
    48,
    64,
    96,
    128,
    255,
    256,
    257,
    384,
  ]);
}

/** One seeded gemm case. */
export function gemmCase(seed: number, jits: JitSet, options: FuzzOptions): CaseResult {
  return runGemmCase(seed, jits, false, options);
}

/**
 * One seeded gemm case tuned: a Jit of its own in warm-up runs every tier-2 candidate of the
 * case's key (tiles, loops, the copy or peel of B, the split) on its calls until tuning ends,
 * each call's C checked against the reference, and no candidate may fail to build.
 */
export function tunedGemmCase(seed: number, jits: JitSet, options: FuzzOptions): CaseResult {
  return runGemmCase(seed, jits, true, options);
}

function runGemmCase(seed: number, jits: JitSet, tuned: boolean, o0: FuzzOptions): CaseResult {
  const r = rng(seed);
  const m = pick(r, [1, 1, 2, dim(r)]), n = dim(r), k = dim(r);
  const transA = r() < 0.3, transB = r() < 0.5;
  const lda = (transA ? m : k) + pick(r, [0, 0, int(r, 1, 20)]);
  const ldb = (transB ? k : n) + pick(r, [0, 0, int(r, 1, 20)]);
  const ldc = n + pick(r, [0, 0, int(r, 1, 20)]);
  const batch = pick(r, [1, 1, 1, int(r, 2, 4)]);
  const aSize = ((transA ? k : m) - 1) * lda + (transA ? m : k);
  const bSize = ((transB ? n : k) - 1) * ldb + (transB ? k : n);
  const cSize = (m - 1) * ldc + n;
  const strideA = batch > 1 && r() < 0.7 ? aSize + int(r, 0, 9) : 0;
  const strideB = batch > 1 && r() < 0.5 ? bSize + int(r, 0, 9) : 0;
  const strideC = batch > 1 ? cSize + int(r, 0, 9) : 0;
  const packed = strideB === 0 && r() < 0.4;
  const layout = pick(r, ["rows", "panels", "columns"] as const);
  const alpha = pick(r, [1, 1, 1, 2, 0.5, -1]), beta = pick(r, [0, 0, 1, 2, -1]);
  const bias = r() < 0.4 ? ints(r, n, -4, 4) : undefined;
  const relu = r() < 0.3;
  const A = ints(r, aSize + strideA * (batch - 1), -3, 3);
  const B = ints(r, bSize + strideB * (batch - 1), -3, 3);
  const C0 = ints(r, cSize + strideC * (batch - 1), -5, 5);
  const want = C0.slice();
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          s += A[b * strideA + (transA ? p * lda + i : i * lda + p)] *
            B[b * strideB + (transB ? j * ldb + p : p * ldb + j)];
        }
        const at = b * strideC + i * ldc + j;
        const t = alpha * s + (beta === 0 ? 0 : beta * C0[at]) + (bias ? bias[j] : 0);
        want[at] = relu ? Math.max(0, t) : t;
      }
    }
  }
  const threads = pick(r, [1, 2, 3]);
  // A seed's own Jit where it plans for a small L2 (B streamed and copied strip by strip, its
  // next strip fetched, panels) or is tuned.
  const small = smallL2(seed);
  using own = tuned || small !== null
    ? new Jit({ threads, maxIsa: o0.isa, minPartUs: 0, codeCache: false, ...small })
    : null;
  const jit = own ?? jits.get(threads);
  const a = place(r, A), c = place(r, C0);
  const o = {
    m,
    n,
    k,
    transA,
    ...(packed ? {} : { transB, ldb }),
    lda,
    ldc,
    alpha,
    beta,
    bias,
    activation: relu ? "relu" as const : undefined,
    ...(batch > 1 ? { batch, strideA, strideB, strideC } : {}),
  };
  const label = `gemm seed ${seed} ${JSON.stringify({ ...o, bias: !!bias })} packed ${
    packed ? layout : false
  } threads ${threads}${small ? " l2 64 KiB" : ""}`;
  try {
    const b = packed ? jit.packB(B, { k, n, transB, ldb, layout }) : place(r, B);
    if (tuned) own?.warmup(true);
    for (let call = 0; call < (tuned ? TUNED_CALLS : 1); call++) {
      c.set(C0);
      jit.gemm(a, b, c, o);
      for (let i = 0; i < c.length; i++) {
        // ±0: an alpha of −1 or a ReLU of −0 may sign a zero either way.
        if (c[i] !== want[i]) {
          return `${label} call ${call}: c[${i}] = ${c[i]}, reference ${want[i]}`;
        }
      }
      const tuning = own?.stats().keys.find((s) => s.tuning)?.tuning;
      if (tuning && tuning.state !== "measuring" && tuning.state !== "waiting") {
        const failed = tuning.candidates.find((c) => c.failure !== null);
        return failed ? `${label}: candidate ${failed.plan} failed: ${failed.failure}` : null;
      }
    }
    return null;
  } catch (e) {
    return `${label}: threw ${e}`;
  }
}

/** Calls a tuned case runs at most (tuning ends well before on every shape seen). */
const TUNED_CALLS = 400;
