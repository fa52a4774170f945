/**
 * ElementwiseChain (domain njit): consecutive elementwise nodes fused into
 * one pass (fusions/elementwise_chain.ts) through `jit.chain`, same bits as
 * the nodes one by one.
 */
import { ChainSteps } from "../../kernels/chain/mod.ts";
import { expectType, fail, meta, need, type OpDef } from "./op.ts";

export const ELEMENTWISE_CHAIN: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    const c = n.fused?.chain;
    if (!c) fail(n, "has no steps");
    // Scalar constants of higher rank pad the shape with ones (ONNX broadcasting).
    const dims = [...x.dims];
    while (dims.length < c.constRank) dims.unshift(1);
    return [meta("float32", dims)];
  },
  inPlace: () => true,
  build(n, ins, outs, env) {
    const xd = ins[0]!.data as Float32Array, yd = outs[0].data as Float32Array;
    // Encoded once: a run reads the steps as integers.
    const steps = new ChainSteps(n.fused!.chain!.steps), jit = env.jit;
    return { native: true, run: () => jit.chain(xd, yd, steps) };
  },
};
