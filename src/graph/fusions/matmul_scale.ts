/**
 * MatMul → Div or Mul by a constant scalar: the scale becomes the GEMM's
 * alpha (attention's scores, Q·Kᵀ / √d, as PyTorch exports them), one pass
 * over the scores fewer. ONNX Runtime fuses the same (its MatMulScaleFusion).
 * alpha·(A·B) rounds once where (A·B)/d rounds once too: the same bits when
 * d is a power of two (√64 = 8 in BERT-base), within an ulp otherwise.
 * Only a MatMul without a bias or an activation: those apply after the scale
 * in the pattern, before it in the epilogue.
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_SCALE: Fusion = {
  name: "MatMul + scale",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const op of g.nodes) {
      const div = is(op, "Div");
      if ((!div && !is(op, "Mul")) || op.inputs.length !== 2) continue;
      // Div(mm, c); Mul(mm, c) or Mul(c, mm).
      for (const side of div ? [0] : [0, 1]) {
        const mm = idx.producer.get(op.inputs[side]) ?? null;
        if (!is(mm, "MatMul", true) || dead.has(mm) || mm.inputs.length !== 2) continue;
        if (mm.fused?.activation || idx.soleReader(op.inputs[side]) !== op) continue;
        const c = idx.constant(op.inputs[1 - side]);
        // A scalar that cannot raise the rank of the product (rank ≥ 2).
        if (!c || c.type !== "float32" || c.data.length !== 1 || c.dims.length > 2) continue;
        const v = Number(c.data[0]);
        const scale = Math.fround(div ? 1 / v : v);
        if (!Number.isFinite(v) || !Number.isFinite(scale) || scale === 0) continue;
        mm.domain = "njit";
        mm.fused = { ...mm.fused, scale: Math.fround((mm.fused?.scale ?? 1) * scale) };
        mm.outputs = [op.outputs[0]];
        dead.add(op);
        count++;
        break;
      }
    }
    removeNodes(g, dead);
    return count;
  },
};
