/**
 * MatMul → Add of a tensor computed at run time (attention's additive mask
 * on the scores, Q·Kᵀ/√d + mask): the addend becomes the fused MatMul's
 * input 3. Where it is a row over the product's last axis (a key padding
 * mask [1, 1, 1, keys]), the plan hands it to the GEMM's epilogue as its
 * bias: alpha·(A·B) rounded, then + mask rounded, the two roundings of the
 * two nodes, and one pass over the scores fewer. Shapes are not known here:
 * any other addend (a causal mask [1, 1, S, S], a mask per batch item) is
 * added by the plan after the product, as the Add would (matmul.ts).
 * A constant row bias is MatMul + bias Add's (it runs first).
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_ADDEND: Fusion = {
  name: "MatMul + Add of a computed tensor",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const add of g.nodes) {
      if (!is(add, "Add") || add.inputs.length !== 2 || add.inputs[0] === add.inputs[1]) continue;
      for (let side = 0; side < 2; side++) {
        const mm = idx.producer.get(add.inputs[side]) ?? null;
        // A product with nothing in its epilogue yet, written in its own layout (no folded
        // output Transpose: the epilogue's row is the buffer's last axis, the Add's the tensor's).
        if (!is(mm, "MatMul", true) || dead.has(mm) || mm.inputs.length !== 2) continue;
        if (mm.fused?.activation || mm.fused?.perms?.[2]) continue;
        if (idx.soleReader(add.inputs[side]) !== add) continue;
        mm.domain = "njit";
        mm.inputs = [mm.inputs[0], mm.inputs[1], "", add.inputs[1 - side]];
        mm.outputs = [add.outputs[0]];
        dead.add(add);
        count++;
        break;
      }
    }
    removeNodes(g, dead);
    return count;
  },
};
