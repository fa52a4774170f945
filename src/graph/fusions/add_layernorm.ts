/**
 * Add(a, b) → LayerNormalization (the sum read by nothing else, as in
 * post-LN transformers): one pass, LN(a + b) (ONNX Runtime's
 * SkipLayerNormalization). The fused op checks at plan time that a and b
 * have one shape, and otherwise adds first (same result).
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const ADD_LAYERNORM: Fusion = {
  name: "Add + LayerNormalization",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const ln of g.nodes) {
      if (!is(ln, "LayerNormalization") || ln.inputs.length > 3) continue;
      const add = idx.producer.get(ln.inputs[0]) ?? null;
      if (!is(add, "Add") || add.inputs.length !== 2 || idx.soleReader(ln.inputs[0]) !== ln) {
        continue;
      }
      if (idx.constant(add.inputs[0]) || idx.constant(add.inputs[1])) continue;
      ln.domain = "njit";
      ln.inputs = [add.inputs[0], ln.inputs[1], ln.inputs[2] ?? "", add.inputs[1]];
      dead.add(add);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
