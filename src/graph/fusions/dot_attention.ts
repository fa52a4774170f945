/**
 * MatMul(Q, Kᵀ)·scale (+ mask) → Softmax over the keys → MatMul(·, V): an
 * attention head as PyTorch and Hugging Face export it, once the head split
 * and merge Transposes are folded into the MatMuls (transpose_matmul.ts),
 * the scale (matmul_scale.ts) and the mask (matmul_addend.ts): one
 * DotProductAttention node (ops/dot_attention.ts). Q, K, V and the output
 * are all [batch, tokens, heads, size] (the split's perm 0,2,1,3 on Q and
 * V, 0,2,3,1 on K, the merge's 0,2,1,3 on the output) or all [batch,
 * heads, tokens, size] (K's perm 0,1,3,2, no other). The scores and the
 * probabilities must have no other reader. A float16 model's rounding of the
 * output to half (the second MatMul's activation) becomes a RoundHalf node
 * after it.
 */
import { Attrs, type Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

const same = (p: readonly number[] | null | undefined, q: readonly number[] | null) =>
  q === null ? !p : !!p && p.length === q.length && p.every((x, i) => x === q[i]);

/** The layout of the two products' perms: "bshd", "bhsd", or null (another pattern). */
function layoutOf(first: Node, second: Node): "bshd" | "bhsd" | null {
  const p1 = first.fused?.perms ?? [null, null, null];
  const p2 = second.fused?.perms ?? [null, null, null];
  const split = [0, 2, 1, 3];
  if (
    same(p1[0], split) && same(p1[1], [0, 2, 3, 1]) && same(p1[2], null) &&
    same(p2[0], null) && same(p2[1], split) && same(p2[2], split)
  ) return "bshd";
  if (
    same(p1[0], null) && same(p1[1], [0, 1, 3, 2]) && same(p1[2], null) &&
    same(p2[0], null) && same(p2[1], null) && same(p2[2], null)
  ) return "bhsd";
  return null;
}

export const DOT_ATTENTION_FUSION: Fusion = {
  name: "MatMul → Softmax → MatMul into attention",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>(), added: Node[] = [];
    let count = 0;
    for (const second of g.nodes) {
      if (!is(second, "MatMul", true) || dead.has(second) || second.inputs.length !== 2) continue;
      // An activation only to round to half (a float16 model's output): it follows as a node.
      const act = second.fused?.activation;
      if ((act && act !== "roundHalf") || second.fused?.scale !== undefined) continue;
      const sm = idx.producer.get(second.inputs[0]) ?? null;
      if (!is(sm, "Softmax") || idx.soleReader(sm.outputs[0]) !== second) continue;
      // Over the last of the scores' four axes (before opset 13 too: rows of the last axis).
      const axis = sm.attrs.int("axis", sm.opset < 13 ? 1 : -1);
      if (axis !== -1 && axis !== 3) continue;
      const first = idx.producer.get(sm.inputs[0]) ?? null;
      if (!is(first, "MatMul", true) || dead.has(first) || first.fused?.activation) continue;
      if (idx.soleReader(first.outputs[0]) !== sm) continue;
      // At most one addend: a computed mask (input 3) or a constant row bias (input 2).
      const bias = first.inputs[2] ?? "", mask = first.inputs[3] ?? "";
      if ((bias !== "" && mask !== "") || first.inputs.length > 4) continue;
      const layout = layoutOf(first, second);
      if (layout === null) continue;
      const addend = mask || bias;
      // The second MatMul as it was, for shapes the kernel does not take.
      const product: Node = { ...second, inputs: second.inputs.slice() };
      second.op = "DotProductAttention";
      second.domain = "njit";
      second.inputs = [first.inputs[0], first.inputs[1], second.inputs[1]];
      if (addend) second.inputs.push(addend);
      second.fused = {
        attention: {
          headsFirst: layout === "bhsd",
          scale: first.fused?.scale ?? 1,
          nodes: [first, sm, product],
        },
      };
      if (act === "roundHalf") {
        const out = second.outputs[0], kept = `${out}::attention`;
        second.outputs = [kept];
        added.push({
          op: "RoundHalf",
          domain: "njit",
          name: `${second.name}::half`,
          inputs: [kept],
          outputs: [out],
          attrs: new Attrs(new Map(), `RoundHalf node '${second.name}::half'`),
          opset: 1,
        });
      }
      dead.add(first).add(sm);
      count++;
    }
    removeNodes(g, dead);
    g.nodes.push(...added);
    return count;
  },
};
