/**
 * MatMul(A, constant B) → com.microsoft SkipLayerNormalization /
 * SkipSimplifiedLayerNormalization with a constant bias (ONNX Runtime's
 * transformer optimizer leaves the projection's bias there): the bias goes
 * into the GEMM's epilogue, and the norm is one residual pass, norm(x + skip),
 * instead of a bias add through a scratch first. The sum output (input + skip
 * + bias) is unchanged: the product now holds input + bias.
 */
import { type Fusion, GraphIndex, is } from "./fusion.ts";

/** The op's bias input, by op: after gamma and beta, or after gamma alone. */
const BIAS_AT: Record<string, number> = {
  SkipLayerNormalization: 4,
  SkipSimplifiedLayerNormalization: 3,
};

export const SKIP_NORM_BIAS: Fusion = {
  name: "MatMul + SkipLayerNormalization's bias",
  apply(g) {
    const idx = new GraphIndex(g);
    let count = 0;
    for (const norm of g.nodes) {
      const at = BIAS_AT[norm.op];
      if (norm.domain !== "com.microsoft" || at === undefined || !norm.inputs[at]) continue;
      const bias = idx.constant(norm.inputs[at]);
      if (!bias || bias.type !== "float32" || bias.dims.length !== 1) continue;
      // The input or the skip (the op adds them alike), made by a MatMul read by this alone.
      for (const side of [0, 1]) {
        const mm = idx.producer.get(norm.inputs[side]) ?? null;
        if (!is(mm, "MatMul") || idx.soleReader(norm.inputs[side]) !== norm) continue;
        const b = idx.constant(mm.inputs[1]);
        if (!b || b.type !== "float32" || b.dims.length < 2) continue;
        if (b.dims[b.dims.length - 1] !== bias.data.length) continue;
        const name = `${norm.inputs[side]}::bias`;
        g.constants.set(name, { type: "float32", dims: [bias.data.length], data: bias.data });
        mm.domain = "njit";
        mm.inputs = [mm.inputs[0], mm.inputs[1], name];
        norm.inputs = norm.inputs.slice(0, at);
        count++;
        break;
      }
    }
    return count;
  },
};
