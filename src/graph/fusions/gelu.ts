/**
 * The decomposed GELU exporters write: x·½·(1 + erf(x/√2)) in its usual
 * orders (Div by √2 or Mul by 1/√2; the ½ applied first or last) → Gelu.
 */
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

const near = (v: number | null, want: number) =>
  v !== null && Math.abs(v - want) <= 1e-4 * Math.abs(want);

export const GELU: Fusion = {
  name: "decomposed GELU",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const erf of g.nodes) {
      if (!is(erf, "Erf")) continue;
      const scale = idx.producer.get(erf.inputs[0]) ?? null;
      if (!scale || idx.soleReader(erf.inputs[0]) !== erf || scale.inputs.length !== 2) continue;
      const x = scale.inputs[0];
      const c = idx.scalar(scale.inputs[1]);
      if (
        !((is(scale, "Div") && near(c, Math.SQRT2)) || (is(scale, "Mul") && near(c, Math.SQRT1_2)))
      ) continue;
      const add1 = idx.soleReader(erf.outputs[0]);
      if (!is(add1, "Add")) continue;
      const one = add1.inputs[0] === erf.outputs[0] ? add1.inputs[1] : add1.inputs[0];
      if (idx.scalar(one) !== 1) continue;
      const mul = idx.soleReader(add1.outputs[0]);
      if (!is(mul, "Mul") || mul.inputs.length !== 2) continue;
      const partner = mul.inputs[0] === add1.outputs[0] ? mul.inputs[1] : mul.inputs[0];
      const used: Node[] = [scale, add1, mul];
      let out: string;
      if (partner === x) {
        // (x·(1 + erf))·½
        const half = idx.soleReader(mul.outputs[0]);
        if (!is(half, "Mul")) continue;
        const h = half.inputs[0] === mul.outputs[0] ? half.inputs[1] : half.inputs[0];
        if (idx.scalar(h) !== 0.5) continue;
        used.push(half);
        out = half.outputs[0];
      } else {
        // (x·½)·(1 + erf)
        const halfX = idx.producer.get(partner) ?? null;
        if (!is(halfX, "Mul") || idx.soleReader(partner) !== mul) continue;
        const h = halfX.inputs[0] === x
          ? halfX.inputs[1]
          : halfX.inputs[1] === x
          ? halfX.inputs[0]
          : null;
        if (h === null || idx.scalar(h) !== 0.5) continue;
        used.push(halfX);
        out = mul.outputs[0];
      }
      for (const n of used) dead.add(n);
      erf.op = "Gelu";
      erf.inputs = [x];
      erf.outputs = [out];
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
