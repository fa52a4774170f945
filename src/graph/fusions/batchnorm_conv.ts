/**
 * BatchNormalization after a Conv or ConvTranspose (constant weights and
 * statistics, the conv's output read by nothing else): folded into the
 * conv's weights and bias, computed once at create.
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";

export const BATCHNORM_INTO_CONV: Fusion = {
  name: "BatchNormalization into Conv",
  apply(g, env) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    // A branch's implicit reads are not in the index: with subgraphs, every fold copies.
    const branched = g.nodes.some((n) => n.branches !== undefined && n.branches.length > 0);
    let count = 0;
    for (const bn of g.nodes) {
      if (!is(bn, "BatchNormalization") || bn.outputs.filter((o) => o !== "").length !== 1) {
        continue;
      }
      if (bn.attrs.int("training_mode", 0) !== 0) continue;
      const conv = idx.producer.get(bn.inputs[0]) ?? null;
      const transposed = is(conv, "ConvTranspose");
      if (!(is(conv, "Conv") || transposed) || conv.fused || idx.soleReader(bn.inputs[0]) !== bn) {
        continue;
      }
      const w = idx.constant(conv.inputs[1]);
      const b = conv.inputs[2] ? idx.constant(conv.inputs[2]) : null;
      const stats = bn.inputs.slice(1, 5).map((name) => idx.constant(name));
      if (
        !w || w.type !== "float32" || (conv.inputs[2] && !b) ||
        stats.some((s) => !s || s.type !== "float32")
      ) {
        continue;
      }
      const group = conv.attrs.int("group", 1);
      const outChannels = transposed ? w.dims[1] * group : w.dims[0];
      if (stats.some((s) => s!.data.length !== outChannels)) continue;
      const [scale, bias, mean, variance] = stats.map((s) => s!.data as Float32Array);
      // Weights this conv alone reads (the load's own copy, under one name): folded in place.
      let names = 0;
      for (const c of g.constants.values()) if (c === w) names++;
      const inPlace = !branched && names === 1 && idx.soleReader(conv.inputs[1]) === conv;
      // Native products (a model's every conv weight: about 1 ns each in a TypeScript loop).
      const folded = env.jit.foldBatchNorm(
        w.data as Float32Array,
        b ? b.data as Float32Array : undefined,
        {
          scale,
          bias,
          mean,
          variance,
          epsilon: bn.attrs.float("epsilon", 1e-5),
          outChannels,
          transposed,
          group,
          inChannels: w.dims[0],
          inPlace,
        },
      );
      const out = bn.outputs[0];
      g.constants.set(`${out}::w`, { type: "float32", dims: w.dims, data: folded.w });
      g.constants.set(`${out}::b`, { type: "float32", dims: [outChannels], data: folded.bias });
      conv.inputs = [conv.inputs[0], `${out}::w`, `${out}::b`];
      conv.outputs = [out];
      dead.add(bn);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
