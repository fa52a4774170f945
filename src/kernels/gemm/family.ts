/**
 * GEMM as an op family: the contract of `../family.ts` over the planner,
 * generators and reference of this folder.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { gemmCandidates } from "./candidates.ts";
import { generateGemm } from "./generate.ts";
import { gemmParts } from "./partition.ts";
import { type GemmPlan, planGemm, planIkj } from "./plan.ts";
import { decodeGemmKey, describeGemm, GEMM_KEY_FIELDS } from "./read.ts";
import { gemmReference } from "./reference.ts";
import { aExtent, bExtent, cExtent, gemmFlops, type GemmSpec } from "./spec.ts";

/** C = act(alpha·op(A)·op(B) + beta·C + bias), row-major; operands a, b, bias, c. */
export const GEMM: OpFamily<GemmSpec, GemmPlan> = {
  name: "gemm",
  keyFields: GEMM_KEY_FIELDS,
  operands: ["a", "b", "bias", "c"],
  outputs: 1,
  decode: decodeGemmKey,
  describe: describeGemm,
  cost: (s) => ({
    flops: gemmFlops(s),
    bytes: 4 * (aExtent(s) + bExtent(s) + (s.beta === 0 ? 1 : 2) * cExtent(s)),
  }),
  plan: (s, t) => planGemm(s, t.isa, t),
  fallbackPlan: (s) => planIkj(s),
  generate: (s, p, o) => generateGemm(s, p, o),
  partition: gemmParts,
  candidates: gemmCandidates,
  reference: (s, [a, b, bias, c]) => {
    // Matrix by matrix, on views at their strides.
    const batch = s.batch ?? 1, one = { ...s, batch: 1 };
    for (let i = 0; i < batch; i++) {
      gemmReference(
        a.subarray(i * (s.strideA ?? 0)),
        b.subarray(i * (s.strideB ?? 0)),
        c.subarray(i * (s.strideC ?? 0)),
        one,
        bias,
      );
    }
  },
};
