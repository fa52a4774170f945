/**
 * QuantizeLinear → DequantizeLinear with the same scalar scale and zero point
 * (a QDQ model's activations between two float ops: "fake quantization"),
 * the 8-bit value read by nothing else, into one ElementwiseChain node: x/s,
 * rounded half to even, + z, clipped to the type's range, − z, · s — each
 * step the float32 result the pair computes (the 8-bit integers are exact in
 * float32), in one native pass instead of two TypeScript loops. A NaN stays
 * NaN where the pair would give the zero point's value.
 */
import type { ChainStep } from "../../kernels/chain/mod.ts";
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

export const FAKE_QUANT: Fusion = {
  name: "QuantizeLinear + DequantizeLinear into one pass",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const q of g.nodes) {
      if (!is(q, "QuantizeLinear") || dead.has(q) || q.outputs.length !== 1) continue;
      const dq = idx.soleReader(q.outputs[0]);
      if (!is(dq, "DequantizeLinear") || dq.inputs[0] !== q.outputs[0]) continue;
      const [x, qs, qz = ""] = q.inputs, [, ds, dz = ""] = dq.inputs;
      const scale = idx.scalar(qs), zero = qz === "" ? 0 : idx.scalar(qz);
      if (scale === null || zero === null || idx.scalar(ds) !== scale) continue;
      if ((dz === "" ? 0 : idx.scalar(dz)) !== zero) continue;
      const zc = qz === "" ? null : idx.constant(qz);
      const type = zc?.type ?? (q.attrs.int("output_dtype", 2) === 3 ? "int8" : "uint8");
      if (type !== "uint8" && type !== "int8") continue;
      if (zc && dz !== "" && idx.constant(dz)?.type !== type) continue;
      if (idx.constant(qs)?.type !== "float32" || idx.constant(ds)?.type !== "float32") continue;
      const [lo, hi] = type === "int8" ? [-128, 127] : [0, 255];
      const steps: ChainStep[] = [{ op: "div", value: scale }, "round"];
      if (zero !== 0) steps.push({ op: "add", value: zero });
      steps.push({ op: "clip", min: lo, max: hi });
      if (zero !== 0) steps.push({ op: "sub", value: zero });
      steps.push({ op: "mul", value: scale });
      q.op = "ElementwiseChain";
      q.domain = "njit";
      q.inputs = [x];
      q.outputs = [dq.outputs[0]];
      q.attrs = q.attrs.without("axis", "block_size", "output_dtype", "saturate", "precision");
      q.fused = { chain: { steps, constRank: 0 } };
      dead.add(dq);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
