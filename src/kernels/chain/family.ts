/**
 * Elementwise chains as an op family: y = step_k(…step_1(x)), one pass,
 * in place allowed; the graph's fusion of consecutive elementwise nodes.
 *
 * @module
 */
import { binaryReference } from "../binary/ops.ts";
import type { OpFamily } from "../family.ts";
import { fetchCandidates, storeCandidates, storedParts, streamCandidates } from "../elementwise.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { type ChainPlan, generateChain, planChain, stepFlops } from "./generate.ts";
import { CHAIN_KEY_FIELDS, decodeChainKey } from "./read.ts";
import { type ChainSpec, describeChain } from "./spec.ts";

/** y = steps(x) elementwise; operands x, y. */
export const CHAIN: OpFamily<ChainSpec, ChainPlan> = {
  name: "chain",
  keyFields: CHAIN_KEY_FIELDS,
  operands: ["x", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeChainKey,
  describe: describeChain,
  cost: (s) => ({ flops: s.n * s.steps.reduce((t, st) => t + stepFlops(st), 0), bytes: 8 * s.n }),
  plan: (s, t) => planChain(s, t.isa, t),
  fallbackPlan: (s) => planChain(s, "scalar"),
  generate: generateChain,
  candidates: (s, p) => [
    ...streamCandidates(p),
    ...storeCandidates(p, 4 * s.n),
    ...fetchCandidates(p, 4 * s.n),
  ],
  partition: storedParts,
  reference: (s, [x, y]) => chainReference(s, x, y),
};

/** Each step in f64, rounded to f32 (the separate ops' references, one after another). */
export function chainReference(s: ChainSpec, x: Float32Array, y: Float32Array): void {
  const r = new Float32Array(1);
  for (let i = 0; i < s.n; i++) {
    const xi = x[i];
    let v = xi;
    for (const st of s.steps) {
      if (st.kind === "unary") r[0] = UNARY_OPS[st.op].reference(v, st.params);
      else {
        const other = st.operand === "x" ? xi : Math.fround(st.value);
        r[0] = st.left ? binaryReference(st.op, other, v) : binaryReference(st.op, v, other);
      }
      v = r[0];
    }
    y[i] = v;
  }
}
