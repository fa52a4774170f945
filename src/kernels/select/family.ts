/**
 * Selection by a byte mask as an op family: y = mask ? a : b elementwise,
 * 32-bit elements moved as bits (ONNX Where of float32, int32 and uint32;
 * the graph layer hands it each broadcast block). Elements are
 * independent, so a call splits over them; a moved element is the same
 * bits whatever the split.
 *
 * @module
 */
import type { OpFamily } from "../family.ts";
import { rangeParts, splitRange } from "../partition.ts";
import { generateSelect, planSelect, type SelectPlan } from "./generate.ts";
import { decodeSelectKey, SELECT_KEY_FIELDS, type SelectSpec } from "./read.ts";

/** y[i] = mask[i] ≠ 0 ? a[i] : b[i]; operands mask (bytes), a, b, y. */
export const SELECT: OpFamily<SelectSpec, SelectPlan> = {
  name: "select",
  keyFields: SELECT_KEY_FIELDS,
  operands: ["mask", "a", "b", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeSelectKey,
  describe: (s) =>
    `select n=${s.n}${s.aScalar ? ", a scalar" : ""}${s.bScalar ? ", b scalar" : ""}`,
  cost: (s) => ({ flops: 0, bytes: s.n * (1 + 4 + (s.aScalar ? 0 : 4) + (s.bScalar ? 0 : 4)) }),
  plan: (s, t) => planSelect(s, t.isa),
  fallbackPlan: (s) => planSelect(s, "scalar"),
  generate: generateSelect,
  partition: (s, plan, parts) =>
    rangeParts(
      plan,
      splitRange(s.n, parts, 64),
      (r) => ({ ...s, n: r.count }),
      (i) => [i, s.aScalar ? 0 : 4 * i, s.bScalar ? 0 : 4 * i, 4 * i],
    ),
  reference: (s, [mask, a, b, y]) => selectReference(s, mask, a, b, y),
};

/** The selection in TypeScript, on the bits: the oracle of the tests. */
export function selectReference(
  s: SelectSpec,
  maskView: Float32Array,
  af: Float32Array,
  bf: Float32Array,
  yf: Float32Array,
): void {
  const bits = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);
  const mask = new Uint8Array(maskView.buffer, maskView.byteOffset + s.maskShift, s.n);
  const a = bits(af), b = bits(bf), y = bits(yf);
  for (let i = 0; i < s.n; i++) y[i] = mask[i] ? a[s.aScalar ? 0 : i] : b[s.bScalar ? 0 : i];
}
