/**
 * Mul and Add by per-channel constants after a BatchNormalization (each
 * read by nothing else: the scale-and-bias caffe2 exports put after every
 * BatchNormalization, DenseNet's 2 × 121 of them): folded into the
 * BatchNormalization's scale and bias (γ·c and β·c for a Mul, β + d for an
 * Add), computed once at create, so the three passes over the tensor
 * become one (and a Conv before it takes all of it, the next fusion in
 * the registry). Like BatchNorm folding, this rounds once where the graph
 * rounded at each node.
 */
import type { ConstTensor } from "../../onnx/tensor_data.ts";
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

/** Ops that keep their input's rank, by which the rank of x is traced. */
const RANK_KEEPING = [
  "Conv",
  "ConvTranspose",
  "BatchNormalization",
  "Relu",
  "MaxPool",
  "AveragePool",
  "Concat",
  "Add",
  "Mul",
  "Sub",
  "Div",
  "Sigmoid",
  "Clip",
  "LeakyRelu",
  "Dropout",
  "Identity",
];

export const AFFINE_INTO_BATCHNORM: Fusion = {
  name: "per-channel Mul/Add into BatchNormalization",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    const ranks = new Map<string, number | null>();
    /** The rank of a value, traced through rank-keeping ops to a graph input (null: unknown). */
    const rankOf = (name: string, depth = 0): number | null => {
      if (ranks.has(name)) return ranks.get(name)!;
      let r: number | null = null;
      const input = g.inputs.find((v) => v.name === name);
      const c = idx.constant(name);
      if (input) r = input.dims?.length ?? null;
      else if (c) r = c.dims.length;
      else if (depth < 4096) {
        const p = idx.producer.get(name);
        if (p && RANK_KEEPING.includes(p.op) && p.inputs[0]) r = rankOf(p.inputs[0], depth + 1);
      }
      ranks.set(name, r);
      return r;
    };
    let count = 0;
    for (const bn of g.nodes) {
      if (!is(bn, "BatchNormalization") || bn.attrs.int("training_mode", 0) !== 0) continue;
      if (bn.outputs.filter((o) => o !== "").length !== 1) continue;
      const stats = bn.inputs.slice(1, 5).map((name) => idx.constant(name));
      if (stats.some((s) => !s || s.type !== "float32")) continue;
      const rank = rankOf(bn.inputs[0]);
      if (rank === null || rank < 2) continue;
      const channels = stats[0]!.data.length;
      const scale = Float32Array.from(stats[0]!.data as Float32Array);
      const bias = Float32Array.from(stats[1]!.data as Float32Array);
      let out = bn.outputs[0], folded = 0;
      for (;;) {
        const next = idx.soleReader(out);
        if (!next || !(is(next, "Mul") || is(next, "Add")) || next.inputs.length !== 2) break;
        const other = next.inputs[0] === out ? next.inputs[1] : next.inputs[0];
        if (other === out) break;
        const c = perChannel(idx.constant(other), channels, rank);
        if (c === null) break;
        const mul = is(next, "Mul");
        for (let i = 0; i < channels; i++) {
          if (mul) {
            scale[i] = Math.fround(scale[i] * c[i]);
            bias[i] = Math.fround(bias[i] * c[i]);
          } else bias[i] = Math.fround(bias[i] + c[i]);
        }
        dead.add(next);
        out = next.outputs[0];
        folded++;
      }
      if (folded === 0) continue;
      g.constants.set(`${out}::scale`, { type: "float32", dims: [channels], data: scale });
      g.constants.set(`${out}::bias`, { type: "float32", dims: [channels], data: bias });
      bn.inputs = [bn.inputs[0], `${out}::scale`, `${out}::bias`, bn.inputs[3], bn.inputs[4]];
      bn.outputs = [out];
      count += folded;
    }
    removeNodes(g, dead);
    return count;
  },
};

/**
 * A constant's value per channel when it broadcasts over x (of `rank`) along
 * the channel axis only — a scalar, or dims that are 1 but at axis 1 —
 * else null.
 */
function perChannel(c: ConstTensor | null, channels: number, rank: number): Float32Array | null {
  if (!c || c.type !== "float32" || c.dims.length > rank) return null;
  const padded = [...new Array(rank - c.dims.length).fill(1), ...c.dims];
  for (let i = 0; i < rank; i++) if (i !== 1 && padded[i] !== 1) return null;
  const data = c.data as Float32Array;
  if (data.length === 1) return new Float32Array(channels).fill(data[0]);
  return padded[1] === channels ? data : null;
}
