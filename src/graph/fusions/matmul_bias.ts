/**
 * MatMul(A, constant B) → Add(·, constant bias of N elements): the bias goes
 * into the GEMM's epilogue (a Linear layer as PyTorch exports it for 3-D
 * inputs).
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_BIAS: Fusion = {
  name: "MatMul + bias Add",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const add of g.nodes) {
      if (!is(add, "Add") || add.inputs.length !== 2) continue;
      for (let side = 0; side < 2; side++) {
        const mm = idx.producer.get(add.inputs[side]) ?? null;
        if (!is(mm, "MatMul") || dead.has(mm) || idx.soleReader(add.inputs[side]) !== add) continue;
        const b = idx.constant(mm.inputs[1]), bias = idx.constant(add.inputs[1 - side]);
        if (!b || !bias || b.type !== "float32" || bias.type !== "float32" || b.dims.length < 2) {
          continue;
        }
        const n = b.dims[b.dims.length - 1];
        // The bias must broadcast along the last axis only: dims [..1, N].
        if (
          bias.data.length !== n || bias.dims.length === 0 || bias.dims[bias.dims.length - 1] !== n
        ) continue;
        const name = `${add.outputs[0]}::bias`;
        g.constants.set(name, { type: "float32", dims: [n], data: bias.data });
        mm.domain = "njit";
        mm.inputs = [mm.inputs[0], mm.inputs[1], name];
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
