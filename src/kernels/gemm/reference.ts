/**
 * The TypeScript GEMM: the path where no machine code can run, and the f64
 * oracle of the tests. Sums in f64, rounds once to f32.
 *
 * @module
 */
import { UNARY_OPS } from "../unary/ops.ts";
import { aIndex, bIndex, type GemmSpec } from "./spec.ts";

/**
 * C = alpha·op(A)·op(B) + beta·C over typed arrays (each view starts at its
 * matrix's first element). alpha = 0 reads neither A nor B; beta = 0 ignores
 * what C held (NaN included).
 */
export function gemmReference(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  s: GemmSpec,
  bias?: Float32Array,
): void {
  const { m, n, k, alpha, beta, ldc } = s;
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    if (alpha !== 0) {
      for (let p = 0; p < k; p++) {
        const av = a[aIndex(s, i, p)];
        if (!s.transB) {
          const base = p * s.ldb;
          for (let j = 0; j < n; j++) row[j] += av * b[base + j];
        } else {
          for (let j = 0; j < n; j++) row[j] += av * b[j * s.ldb + p];
        }
      }
    }
    const cr = i * ldc;
    for (let j = 0; j < n; j++) {
      const ab = alpha === 0 ? 0 : alpha * row[j];
      c[cr + j] = beta === 0 ? ab : ab + beta * c[cr + j];
    }
    // The epilogue works on the stored f32 value, as the kernels do.
    if (s.epilogue) {
      for (let j = 0; j < n; j++) c[cr + j] = epilogue(s, c[cr + j], bias?.[j] ?? 0);
    }
  }
}

/** act(x + bias) for one element of C (x already rounded to f32, the sum too). */
export function epilogue(s: GemmSpec, x: number, bias: number): number {
  const e = s.epilogue;
  if (!e) return x;
  const t = e.bias ? Math.fround(x + bias) : x;
  return e.activation ? UNARY_OPS[e.activation.op].reference(t, e.activation.params) : t;
}

/** The same product in f64 into a new array (the test oracle; C is m×n dense). */
export function gemmF64(
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  s: GemmSpec,
): Float64Array {
  const out = new Float64Array(s.m * s.n);
  for (let i = 0; i < s.m; i++) {
    for (let j = 0; j < s.n; j++) {
      let sum = 0;
      if (s.alpha !== 0) {
        for (let p = 0; p < s.k; p++) sum += a[aIndex(s, i, p)] * b[bIndex(s, p, j)];
      }
      const ab = s.alpha === 0 ? 0 : s.alpha * sum;
      out[i * s.n + j] = s.beta === 0 ? ab : ab + s.beta * c0[i * s.ldc + j];
    }
  }
  return out;
}
