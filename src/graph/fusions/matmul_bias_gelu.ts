/**
 * MatMul(A, constant B) → BiasGelu or FastGelu (com.microsoft) with a
 * constant bias of N: the bias and the GELU (erf or tanh form) go into the
 * GEMM's epilogue, as an Add and a Gelu after a MatMul do (an ONNX Runtime–
 * optimized BERT's feed-forward layer).
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_BIAS_GELU: Fusion = {
  name: "MatMul + BiasGelu/FastGelu",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const act of g.nodes) {
      if (act.domain !== "com.microsoft" || (act.op !== "BiasGelu" && act.op !== "FastGelu")) {
        continue;
      }
      if (act.inputs.length !== 2 || act.inputs[1] === "") continue;
      const mm = idx.producer.get(act.inputs[0]) ?? null;
      if (!is(mm, "MatMul") || dead.has(mm) || idx.soleReader(act.inputs[0]) !== act) continue;
      const b = idx.constant(mm.inputs[1]), bias = idx.constant(act.inputs[1]);
      if (!b || !bias || b.type !== "float32" || bias.type !== "float32" || b.dims.length !== 2) {
        continue;
      }
      if (bias.data.length !== b.dims[1] || bias.dims.length !== 1) continue;
      mm.domain = "njit";
      mm.inputs = [mm.inputs[0], mm.inputs[1], act.inputs[1]];
      mm.fused = { ...mm.fused, activation: act.op === "BiasGelu" ? "gelu" : "geluTanh" };
      mm.outputs = [act.outputs[0]];
      dead.add(act);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
