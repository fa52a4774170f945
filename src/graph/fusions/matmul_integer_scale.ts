/**
 * MatMulInteger → Cast(to float) → Mul(·, scale), as ONNX Runtime's
 * quantize_dynamic writes a Linear layer: the int32 sums converted and
 * scaled in the 8-bit GEMM's store (one pass fewer over the output each,
 * the same float ops in the same order). Only where the scale is a Mul of
 * DynamicQuantizeLinear's scale and a constant of 1 or N values (one per
 * output column): its length is known here.
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_INTEGER_SCALE: Fusion = {
  name: "MatMulInteger + Cast + scale Mul",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const mm of g.nodes) {
      if (!is(mm, "MatMulInteger") || dead.has(mm)) continue;
      const cast = idx.soleReader(mm.outputs[0]);
      if (!is(cast, "Cast") || cast.attrs.int("to", 0) !== 1) continue;
      const mul = idx.soleReader(cast.outputs[0]);
      if (!is(mul, "Mul") || mul.inputs.length !== 2) continue;
      const scale = mul.inputs[mul.inputs[0] === cast.outputs[0] ? 1 : 0];
      if (!scaleOfColumns(idx, scale, mm)) continue;
      mm.domain = "njit";
      mm.inputs = [mm.inputs[0], mm.inputs[1], mm.inputs[2] ?? "", mm.inputs[3] ?? "", scale];
      mm.outputs = [mul.outputs[0]];
      dead.add(cast);
      dead.add(mul);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};

/** Whether `scale` is DynamicQuantizeLinear's scale times a constant of 1 or N (B's columns) values. */
function scaleOfColumns(idx: GraphIndex, scale: string, mm: Node): boolean {
  const p = idx.producer.get(scale) ?? null;
  if (!is(p, "Mul") || p.inputs.length !== 2) return false;
  const b = idx.constant(mm.inputs[1]);
  if (!b || b.dims.length !== 2) return false;
  const n = b.dims[1];
  for (let side = 0; side < 2; side++) {
    const q = idx.producer.get(p.inputs[side]) ?? null, c = idx.constant(p.inputs[1 - side]);
    if (!is(q, "DynamicQuantizeLinear") || q.outputs[1] !== p.inputs[side] || !c) continue;
    const size = c.data.length;
    if (c.type === "float32" && (size === 1 || (size === n && c.dims.length === 1))) return true;
  }
  return false;
}
