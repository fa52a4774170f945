/**
 * The shapes a graph's values have whatever is fed, known at create: a
 * graph whose inputs have fixed dims (as declared, or fixed by
 * `freeDimensionOverrides`) gives them to the nodes after them, as far as
 * shape inference alone reaches. Create uses them to pack weights for the
 * shape they will be read in (a GEMM's B for one row of A: weights.ts).
 *
 * @module
 */
import type { Graph } from "./ir.ts";
import type { Env, Meta } from "./ops/op.ts";
import { opDef } from "./ops/registry.ts";
import { inferNode } from "./plan.ts";

/**
 * Value name → its meta, for the values whose shapes follow from the
 * inputs with fixed dims and the constants. A value left out is not known
 * (an input with a symbolic dim, anything after it, a branch's values).
 */
export function staticShapes(graph: Graph, env: Env): Map<string, Meta> {
  const metas = new Map<string, Meta>();
  for (const [name, t] of graph.constants) {
    metas.set(name, { type: t.type, dims: t.dims, data: t.data });
  }
  for (const v of graph.inputs) {
    const dims = v.dims;
    if (dims === null || !dims.every((d): d is number => typeof d === "number")) continue;
    metas.set(v.name, { type: v.type, dims: dims.slice(), data: null });
  }
  for (const n of graph.nodes) {
    const def = opDef(n.op, n.domain);
    // Branches, sequences and values computed at run time: what follows is left unknown.
    if (def === null || n.branches || def.expands || def.dynamic) continue;
    const ins = n.inputs.map((name) => (name === "" ? null : metas.get(name)));
    if (ins.some((m) => m === undefined)) continue;
    try {
      const outs = inferNode(n, ins as (Meta | null)[], env);
      n.outputs.forEach((name, i) => name !== "" && metas.set(name, outs[i]));
    } catch {
      // A node that does not infer here fails at its plan, with the run's shapes.
    }
  }
  return metas;
}
