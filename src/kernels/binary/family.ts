/**
 * Elementwise binary ops with numpy broadcasting as an op family (y may be
 * a or b when it has the output's shape).
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { type BinaryPlan, binaryReferenceLoop, generateBinary, planBinary } from "./generate.ts";
import { BINARY_KEY_FIELDS, decodeBinaryKey } from "./read.ts";
import { type BinarySpec, describeBinary, outputSize } from "./spec.ts";

/** y = a op b, broadcast; operands a, b, y. */
export const BINARY: OpFamily<BinarySpec, BinaryPlan> = {
  name: "binary",
  keyFields: BINARY_KEY_FIELDS,
  operands: ["a", "b", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeBinaryKey,
  describe: describeBinary,
  cost: (s) => ({ flops: outputSize(s), bytes: 12 * outputSize(s) }),
  plan: (s, t) => planBinary(s, t.isa),
  fallbackPlan: (s) => planBinary(s, "scalar"),
  generate: generateBinary,
  reference: (s, [a, b, y]) => binaryReferenceLoop(s, a, b, y),
};
