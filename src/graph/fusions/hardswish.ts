/** x · HardSigmoid(x) with alpha 1/6 and beta ½ (MobileNetV3 exports) → HardSwish(x). */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const HARD_SWISH: Fusion = {
  name: "x·HardSigmoid(x) into HardSwish",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const hs of g.nodes) {
      if (!is(hs, "HardSigmoid")) continue;
      if (
        Math.abs(hs.attrs.float("alpha", 0.2) - 1 / 6) > 1e-6 ||
        Math.abs(hs.attrs.float("beta", 0.5) - 0.5) > 1e-6
      ) {
        continue;
      }
      const mul = idx.soleReader(hs.outputs[0]);
      const x = hs.inputs[0];
      if (!is(mul, "Mul") || !mul.inputs.includes(x) || !mul.inputs.includes(hs.outputs[0])) {
        continue;
      }
      hs.op = "HardSwish";
      hs.attrs = hs.attrs.without("alpha", "beta");
      hs.outputs = [mul.outputs[0]];
      dead.add(mul);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
