/**
 * ElementwiseChain (domain njit): consecutive elementwise nodes fused into
 * one pass (fusions/elementwise_chain.ts) through `jit.chain`, same bits as
 * the nodes one by one.
 */
import { type ChainStep, ChainSteps } from "../../kernels/chain/mod.ts";
import type { UnaryOp } from "../../kernels/unary/mod.ts";
import { binaryReference } from "../../kernels/binary/ops.ts";
import { expectType, fail, meta, need, type OpDef } from "./op.ts";
import { activationF64 } from "./unary.ts";

export const ELEMENTWISE_CHAIN: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    // float64 too: the fusion sees no types, and the nodes it took run on doubles.
    expectType(n, x, 0, "float32", "float64");
    const c = n.fused?.chain;
    if (!c) fail(n, "has no steps");
    // Scalar constants of higher rank pad the shape with ones (ONNX broadcasting).
    const dims = [...x.dims];
    while (dims.length < c.constRank) dims.unshift(1);
    return [meta(x.type, dims)];
  },
  inPlace: () => true,
  build(n, ins, outs, env) {
    if (ins[0]!.type === "float64") {
      return {
        native: false,
        run: stepsF64(
          n.fused!.chain!.steps,
          ins[0]!.data as Float64Array,
          outs[0].data as Float64Array,
        ),
      };
    }
    const xd = ins[0]!.data as Float32Array, yd = outs[0].data as Float32Array;
    // Encoded once: a run reads the steps as integers.
    const steps = new ChainSteps(n.fused!.chain!.steps), jit = env.jit;
    return { native: true, run: () => jit.chain(xd, yd, steps) };
  },
};

/** A chain's binary step (the other operand a constant or x). */
type BinaryStep = Exclude<ChainStep, string | { op: UnaryOp }>;

function isBinary(st: ChainStep): st is BinaryStep {
  return typeof st !== "string" && ("value" in st || "x" in st);
}

/** The chain's nodes one after another on doubles, each by its f64 reference. */
function stepsF64(steps: readonly ChainStep[], x: Float64Array, y: Float64Array): () => void {
  const fs = steps.map((st): (v: number, xi: number) => number => {
    if (!isBinary(st)) {
      const f = activationF64(st);
      return (v) => f(v);
    }
    return (v, xi) => {
      const other = st.x ? xi : st.value!;
      return st.left ? binaryReference(st.op, other, v) : binaryReference(st.op, v, other);
    };
  });
  return () => {
    for (let i = 0; i < x.length; i++) {
      let v = x[i];
      for (const f of fs) v = f(v, x[i]);
      y[i] = v;
    }
  };
}
