/**
 * Elementwise binary ops with numpy broadcasting as an op family (y may be
 * a or b when it has the output's shape).
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { partStores } from "../elementwise.ts";
import { rangeParts, splitRange } from "../partition.ts";
import {
  binaryCandidates,
  type BinaryPlan,
  binaryReferenceLoop,
  binaryStores,
  generateBinary,
  planBinary,
} from "./generate.ts";
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
  plan: (s, t) =>
    planBinary(
      s,
      t.isa,
      binaryStores(s, t.isa, t.streamOnOneThread ?? false),
      t.fetchStreamedRows ?? false,
    ),
  fallbackPlan: (s) => planBinary(s, "scalar"),
  generate: generateBinary,
  candidates: binaryCandidates,
  partition: binaryParts,
  reference: (s, [a, b, y]) => binaryReferenceLoop(s, a, b, y),
};

/**
 * Parts over the outermost merged dimension (whole cache lines of elements
 * when there is only one): each operand advances by its stride there, 0
 * where it is broadcast.
 */
function binaryParts(
  s: BinarySpec,
  p: BinaryPlan,
  parts: number,
): Part<BinarySpec, BinaryPlan>[] | null {
  if (outputSize(s) === 0) return null;
  const rank = s.dims.length;
  let inner = 1, aInner = 1, bInner = 1;
  for (let k = 1; k < rank; k++) {
    inner *= s.dims[k];
    if (!(s.aBroadcast & (1 << k))) aInner *= s.dims[k];
    if (!(s.bBroadcast & (1 << k))) bInner *= s.dims[k];
  }
  const aStride = s.aBroadcast & 1 ? 0 : aInner, bStride = s.bBroadcast & 1 ? 0 : bInner;
  const ranges = splitRange(s.dims[0], parts, rank === 1 ? 16 : 1);
  // A split call's parts stream y when the plan says so (see elementwise.ts partStores).
  return rangeParts(
    planBinary(s, p.isa, partStores(p.stores, parts), p.fetchAhead > 0),
    ranges,
    (r) => ({ ...s, dims: [r.count, ...s.dims.slice(1)] }),
    (i) => [4 * i * aStride, 4 * i * bStride, 4 * i * inner],
  );
}
