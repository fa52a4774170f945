/**
 * Whether every float of a tensor is finite, as an op family: packed
 * convolution weights record it (kernels skip the padding's taps only
 * when every weight is finite), and a model's create checks every weight
 * of its convolutions, at memory speed instead of a TypeScript loop. The
 * count is the call's operand, not its key (read.ts): one kernel a level,
 * one thread.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { type AllFinitePlan, generateAllFinite, planAllFinite } from "./generate.ts";
import { type AllFiniteSpec, decodeAllFiniteKey, FINITE_KEY_FIELDS } from "./read.ts";

/** flag[0] = +0 when every x is finite, else NaN; operands x, flag (flag[1]: x's count). */
export const ALL_FINITE: OpFamily<AllFiniteSpec, AllFinitePlan> = {
  name: "allFinite",
  keyFields: FINITE_KEY_FIELDS,
  operands: ["x", "flag"],
  outputs: 1,
  decode: decodeAllFiniteKey,
  describe: () => "allFinite (count in the flag operand)",
  cost: () => ({ flops: 0, bytes: 0 }),
  plan: (s, t) => planAllFinite(s, t.isa),
  fallbackPlan: (s) => planAllFinite(s, "scalar"),
  oneThread:
    "its count is an operand, not its spec (one kernel serves every size), so no spec says how to split it; it checks weights once, at create",
  generate: generateAllFinite,
  reference: (_s, [x, flag]) => {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i] - x[i];
    flag[0] = sum;
  },
};
