/**
 * Consecutive elementwise nodes into one pass: a run of float unary nodes
 * (Sigmoid, Tanh, Exp, Erf, Relu, Clip with constant bounds, ...) and binary
 * nodes (Add, Sub, Mul, Div, Pow, Max, Min) whose other input is a float32
 * scalar constant or the run's own input x (x·sigmoid(x)), each intermediate
 * read only by the next, becomes one ElementwiseChain node (`jit.chain`):
 * one read of x and one write of y instead of one of each per node, and the
 * same bits. Runs after every other fusion, so it takes only what they left.
 */
import type { ChainStep } from "../../kernels/chain/mod.ts";
import { MAX_CHAIN_STEPS } from "../../kernels/chain/mod.ts";
import type { Node } from "../ir.ts";
import { JIT_OPS } from "../ops/binary.ts";
import { activationOf } from "../ops/unary.ts";
import { type Fusion, GraphIndex, removeNodes } from "./fusion.ts";

/** Every attribute a link may carry (the chain's node keeps none). */
const ATTRIBUTE_NAMES = ["alpha", "beta", "gamma", "min", "max", "approximate"];

/** Unary nodes that are float-only (Neg and Abs also run on integers: never a chain's start). */
const INTEGER_TOO = new Set(["Neg", "Abs"]);

export const ELEMENTWISE_CHAIN_FUSION: Fusion = {
  name: "elementwise chain into one pass",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    /** Node n as a step on value `cur` of a chain over x, with the constant's rank; or null. */
    const step = (n: Node, cur: string, x: string, first: boolean) => {
      if (n.domain !== "" || dead.has(n) || n.outputs.length !== 1) return null;
      const op = JIT_OPS[n.op];
      if (op !== undefined) {
        if (n.inputs.length !== 2) return null;
        const at = n.inputs.indexOf(cur);
        if (at < 0) return null;
        const other = n.inputs[1 - at], left = at === 1;
        if (other === cur && !first) return null; // cur·cur: not a step on cur alone
        const c = idx.constant(other);
        if (c !== null) {
          if (c.type !== "float32" || c.data.length !== 1) return null;
          const s: ChainStep = { op, value: Number(c.data[0]), ...(left ? { left } : {}) };
          return { step: s, rank: c.dims.length };
        }
        if (first || other !== x) return null; // against x: only after a float step
        return { step: { op, x: true, ...(left ? { left } : {}) } as ChainStep, rank: 0 };
      }
      if (n.inputs[0] !== cur || (first && INTEGER_TOO.has(n.op))) return null;
      if (n.op === "Clip") {
        // Bounds must be constants (folded into the step).
        for (const b of n.inputs.slice(1)) if (b !== "" && idx.constant(b) === null) return null;
      } else if (n.inputs.length !== 1) return null;
      let act;
      try {
        act = activationOf(
          n,
          n.inputs.map((i) => {
            const c = i === "" ? null : idx.constant(i);
            return c === null ? null : { type: c.type, dims: c.dims, data: c.data };
          }),
        );
      } catch {
        return null; // attributes the op refuses: left to its own error at planning
      }
      return act === null ? null : { step: act as ChainStep, rank: 0 };
    };
    for (const head of g.nodes) {
      if (dead.has(head)) continue;
      const x = head.inputs.find((i) => i !== "" && idx.constant(i) === null);
      if (x === undefined) continue;
      const first = step(head, x, x, true);
      if (first === null) continue;
      const links = [head], steps = [first.step];
      let rank = first.rank, cur = head.outputs[0];
      while (steps.length < MAX_CHAIN_STEPS) {
        const next = idx.soleReader(cur);
        const s = next === null ? null : step(next, cur, x, false);
        if (s === null) break;
        links.push(next!);
        steps.push(s.step);
        rank = Math.max(rank, s.rank);
        cur = next!.outputs[0];
      }
      if (links.length < 2) continue;
      head.op = "ElementwiseChain";
      head.domain = "njit";
      head.inputs = [x];
      head.outputs = [cur];
      head.attrs = head.attrs.without(...ATTRIBUTE_NAMES);
      head.fused = { chain: { steps, constRank: rank } };
      for (const n of links.slice(1)) dead.add(n);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
