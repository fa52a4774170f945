/**
 * The 8-bit GEMM as an op family: C (int32) = A (uint8) · B (int8, packed),
 * exactly.
 *
 * @module
 */
import { cpuFeatures } from "../../cpu.ts";
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { generateQGemm, maddCandidates, planQGemm, type QGemmPlan } from "./generate.ts";
import { decodeQGemmKey, QGEMM_KEY_FIELDS } from "./read.ts";
import { describeQGemm, kGroups, type QGemmSpec } from "./spec.ts";
import { UNARY_OPS } from "../unary/ops.ts";

/** The 8-bit GEMM; operands a (A's bytes), b (packed B's bytes), c (C's int32), as Float32Array views. */
export const QGEMM: OpFamily<QGemmSpec, QGemmPlan> = {
  name: "gemmInt8",
  keyFields: QGEMM_KEY_FIELDS,
  operands: ["a", "b", "bias", "scale", "aZeroPoint", "floatBias", "c"],
  outputs: 1,
  decode: decodeQGemmKey,
  describe: describeQGemm,
  cost: (s) => ({
    flops: 2 * s.m * s.n * s.k,
    bytes: s.m * s.k + s.k * s.n + 4 * s.m * s.n,
  }),
  plan: (s, t) => planQGemm(s, t.isa, cpuFeatures().avx512vnni, t.amx ?? false, t.l2),
  fallbackPlan: (s) => planQGemm(s, "scalar", false),
  // The word tiles' k blocks (the same bits: integer sums in any order).
  candidates: (s, p, t) => p.path === "madd" ? maddCandidates(s, p, t.l2) : [],
  generate: generateQGemm,
  // Over column tiles (each part its own columns of packed B), or rows when one tile wide.
  partition: (s, p, parts) => {
    const grain = p.path === "scalar" ? 16 : 16 * p.nv;
    const ranges = s.n > grain ? splitRange(s.n, parts, grain) : splitRange(s.m, parts, p.mr);
    if (ranges.length < 2) return null;
    const byColumns = s.n > grain;
    return ranges.map((r): Part<QGemmSpec, QGemmPlan> =>
      byColumns
        ? {
          spec: { ...s, n: r.count },
          plan: p,
          offsets: [
            0,
            4 * r.start,
            s.bias ? 4 * r.start : 0,
            s.scale === 2 ? 4 * r.start : 0,
            0,
            s.floatBias ? 4 * r.start : 0,
            4 * r.start,
          ],
        }
        : {
          spec: { ...s, m: r.count },
          plan: p,
          offsets: [r.start * s.lda, 0, 0, 0, 0, 0, 4 * r.start * s.ldc],
        }
    );
  },
  reference: (s, [a, b, bias, scale, aZero, floatBias, c]) =>
    qgemmReference(
      s,
      a,
      b,
      s.bias ? bias : null,
      s.scale ? scale : null,
      s.aZero ? aZero : null,
      c,
      s.floatBias ? floatBias : null,
    ),
};

/** The TypeScript computation (the tests' oracle): int32 sums, wrapping. */
export function qgemmReference(
  s: QGemmSpec,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array | null,
  scale: Float32Array | null,
  aZero: Float32Array | null,
  c: Float32Array,
  floatBias: Float32Array | null = null,
): void {
  const act = s.activation ? UNARY_OPS[s.activation.op] : null;
  const bi = bias ? new Int32Array(bias.buffer, bias.byteOffset, bias.length) : null;
  const za = aZero ? new Uint8Array(aZero.buffer, aZero.byteOffset, 1)[0] : 0;
  // B's column sums follow its packed bytes.
  const sumsAt = b.byteOffset + kGroups(s.k) * s.bStride * 4;
  const sums = aZero ? new Int32Array(b.buffer, sumsAt, s.n) : null;
  const A = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const B = new Int8Array(b.buffer, b.byteOffset, b.byteLength);
  const C = new Int32Array(c.buffer, c.byteOffset, c.length);
  const groups = kGroups(s.k);
  for (let i = 0; i < s.m; i++) {
    for (let j = 0; j < s.n; j++) {
      let acc = bi ? bi[j] : 0;
      if (sums) acc = (acc - Math.imul(za, sums[j])) | 0;
      for (let g = 0; g < groups; g++) {
        for (let q = 0; q < 4; q++) {
          acc = (acc + A[i * s.lda + g * 4 + q] * B[(g * s.bStride + j) * 4 + q]) | 0;
        }
      }
      if (scale) {
        let v = Math.fround(Math.fround(acc) * scale[s.scale === 2 ? j : 0]);
        if (floatBias) v = Math.fround(v + floatBias[j]);
        c[i * s.ldc + j] = act ? act.reference(v, s.activation!.params) : v;
      } else C[i * s.ldc + j] = acc;
    }
  }
}
