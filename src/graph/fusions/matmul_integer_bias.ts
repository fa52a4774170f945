/**
 * A fused MatMulInteger (float output, scaled in the kernel's store) →
 * Add(·, constant float bias of N elements): the bias added in the same
 * store, after the scale, rounded as the Add rounds (a Linear layer's bias
 * as ONNX Runtime's quantize_dynamic leaves it).
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const MATMUL_INTEGER_BIAS: Fusion = {
  name: "MatMulInteger + bias Add",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const mm of g.nodes) {
      // The fused form only (its fifth input, the scale): a float output of N columns.
      if (mm.domain !== "njit" || mm.op !== "MatMulInteger" || mm.inputs.length !== 5) continue;
      const add = idx.soleReader(mm.outputs[0]);
      if (!is(add, "Add") || add.inputs.length !== 2 || add.inputs[0] === add.inputs[1]) continue;
      const b = idx.constant(mm.inputs[1]);
      const bias = idx.constant(add.inputs[add.inputs[0] === mm.outputs[0] ? 1 : 0]);
      if (!b || !bias || bias.type !== "float32" || b.dims.length !== 2) continue;
      const n = b.dims[1];
      // The bias must broadcast along the last axis only: dims [..1, N].
      if (
        bias.data.length !== n || bias.dims.length === 0 || bias.dims[bias.dims.length - 1] !== n
      ) continue;
      const name = `${add.outputs[0]}::bias`;
      g.constants.set(name, { type: "float32", dims: [n], data: bias.data });
      mm.inputs = [...mm.inputs, name];
      mm.outputs = [add.outputs[0]];
      dead.add(add);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
