/**
 * A unary activation after Conv, ConvTranspose, Gemm, MatMul, a scaled
 * MatMulInteger (njit) or an unfolded BatchNormalization (fused or not, read by nothing else): applied in the
 * producer's epilogue, in registers.
 */
import { activationOf } from "../ops/unary.ts";
import type { Meta } from "../ops/op.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

const PRODUCERS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization"];

export const ACTIVATION: Fusion = {
  name: "activation into its producer",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const act of g.nodes) {
      if (act.domain !== "" || act.inputs.length === 0) continue;
      const p = idx.producer.get(act.inputs[0]) ?? null;
      // A MatMulInteger only in its fused form (float output, scaled in the kernel's store).
      const scaledIntegers = p?.op === "MatMulInteger" && p.domain === "njit";
      if (!p || !(scaledIntegers || PRODUCERS.some((op) => is(p, op, true)))) continue;
      if (p.fused?.activation) continue;
      if (p.outputs.length !== 1 || idx.soleReader(act.inputs[0]) !== act) continue;
      const ins: (Meta | null)[] = act.inputs.map((name) => {
        const c = name ? idx.constant(name) : null;
        return c ? { type: c.type, dims: c.dims, data: c.data } : null;
      });
      if (act.inputs.slice(1).some((name, i) => name !== "" && ins[i + 1] === null)) continue;
      let activation;
      try {
        activation = activationOf(act, ins);
      } catch {
        continue; // bad attributes: left for the op to report
      }
      if (activation === null) continue;
      p.domain = "njit";
      p.fused = { ...p.fused, activation };
      p.outputs = [act.outputs[0]];
      dead.add(act);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
