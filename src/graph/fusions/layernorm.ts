/**
 * The decomposed LayerNorm exporters write for the last axis:
 * m = ReduceMean(x); d = x − m; v = ReduceMean(d²) (Pow 2 or d·d);
 * y = d / Sqrt(v + ε) · γ (+ β)  →  LayerNormalization(x, γ, β, ε).
 */
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

/** Whether a ReduceMean reduces only the last axis, keeping dims. */
function lastAxisMean(idx: GraphIndex, n: Node | null): n is Node {
  if (!is(n, "ReduceMean") || n.attrs.int("keepdims", 1) !== 1) return false;
  const axes = n.inputs[1] ? idx.constant(n.inputs[1]) : null;
  const list = axes ? Array.from(axes.data as BigInt64Array, Number) : n.attrs.ints("axes");
  return list !== null && list.length === 1 && list[0] === -1;
}

/** The other input of a two-input node, given one. */
function other(n: Node, one: string): string | null {
  if (n.inputs.length !== 2) return null;
  if (n.inputs[0] === one) return n.inputs[1];
  if (n.inputs[1] === one) return n.inputs[0];
  return null;
}

export const LAYERNORM: Fusion = {
  name: "decomposed LayerNorm",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const mean of g.nodes) {
      if (!lastAxisMean(idx, mean) || dead.has(mean)) continue;
      const x = mean.inputs[0];
      const sub = idx.soleReader(mean.outputs[0]);
      if (!is(sub, "Sub") || sub.inputs[0] !== x || sub.inputs[1] !== mean.outputs[0]) continue;
      const d = sub.outputs[0], dReaders = idx.readers.get(d) ?? [];
      if (dReaders.length !== 2 || idx.outputs.has(d)) continue;
      const sq = dReaders.find((r) =>
        (is(r, "Pow") as boolean) || (is(r, "Mul") && r.inputs[0] === d && r.inputs[1] === d)
      );
      const div = dReaders.find((r) => is(r, "Div") && r.inputs[0] === d);
      if (!sq || !div) continue;
      if (is(sq, "Pow") && (sq.inputs[0] !== d || idx.scalar(sq.inputs[1]) !== 2)) continue;
      const var_ = idx.soleReader(sq.outputs[0]);
      if (!lastAxisMean(idx, var_)) continue;
      const addEps = idx.soleReader(var_.outputs[0]);
      if (!is(addEps, "Add")) continue;
      const epsName = other(addEps, var_.outputs[0]);
      const eps = epsName ? idx.scalar(epsName) : null;
      if (eps === null) continue;
      const sqrt = idx.soleReader(addEps.outputs[0]);
      if (
        !is(sqrt, "Sqrt") || div.inputs[1] !== sqrt.outputs[0] ||
        idx.soleReader(sqrt.outputs[0]) !== div
      ) continue;
      const mul = idx.soleReader(div.outputs[0]);
      if (!is(mul, "Mul")) continue;
      const gammaName = other(mul, div.outputs[0]);
      const gamma = gammaName ? idx.constant(gammaName) : null;
      if (!gamma || gamma.type !== "float32" || gamma.dims.length !== 1) continue;
      let out = mul.outputs[0], betaName = "";
      const addB = idx.soleReader(out);
      if (is(addB, "Add")) {
        const b = other(addB, out);
        const beta = b ? idx.constant(b) : null;
        if (beta && beta.type === "float32" && beta.data.length === gamma.data.length) {
          betaName = b!;
          out = addB.outputs[0];
          dead.add(addB);
        }
      }
      for (const n of [sub, sq, var_, addEps, sqrt, div, mul]) dead.add(n);
      mean.op = "LayerNormalization";
      mean.inputs = betaName ? [x, gammaName!, betaName] : [x, gammaName!];
      mean.outputs = [out];
      mean.attrs = mean.attrs.without("axes", "keepdims").with({ axis: -1, epsilon: eps });
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
