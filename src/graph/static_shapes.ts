/**
 * The shapes a graph's values have when fed as create expects: inputs
 * whose dims are fixed (as declared, or a symbolic dim given a size by
 * `freeDimensionOverrides`) give them to the nodes after them, as far as
 * shape inference alone reaches. Create uses them to pack weights for the
 * shape they will be read in (a GEMM's B for one row of A: weights.ts).
 *
 * @module
 */
import type { Graph } from "./ir.ts";
import { type Env, type Meta, sizeOf } from "./ops/op.ts";
import { opDef } from "./ops/registry.ts";
import { inferNode } from "./plan.ts";

/** Most elements of an output computed at create (a shape's, an index's). */
const MAX_FOLDED_ELEMENTS = 64;

/**
 * Value name → its meta, for the values whose shapes follow from the
 * inputs with fixed dims (`sizes`: symbolic dims' sizes by name) and the
 * constants. A value left out is not known (an input with a symbolic dim
 * of no given size, anything after it, a branch's values).
 */
export function staticShapes(
  graph: Graph,
  env: Env,
  sizes: Readonly<Record<string, number>>,
): Map<string, Meta> {
  const metas = new Map<string, Meta>();
  for (const [name, t] of graph.constants) {
    metas.set(name, { type: t.type, dims: t.dims, data: t.data });
  }
  for (const v of graph.inputs) {
    if (v.dims === null) continue;
    // A symbolic dim by its given size (own keys only: nothing the options inherit names one).
    const dims = v.dims.map((d) => typeof d === "string" && Object.hasOwn(sizes, d) ? sizes[d] : d);
    if (!dims.every((d): d is number => typeof d === "number")) continue;
    metas.set(v.name, { type: v.type, dims, data: null });
  }
  for (const n of graph.nodes) {
    const def = opDef(n.op, n.domain);
    // Branches, sequences and values computed at run time: what follows is left unknown.
    if (def === null || n.branches || def.expands || def.dynamic) continue;
    const ins = n.inputs.map((name) => (name === "" ? null : metas.get(name)));
    if (ins.some((m) => m === undefined)) continue;
    try {
      const known = ins as (Meta | null)[];
      let outs = def.infer(n, known);
      // Computed only where small (shape arithmetic, whose values later shapes read): a large
      // node of known inputs is left to the plan, which folds it (optimize already folded those
      // of constants unless its level is "disabled").
      const small = outs.every((o) => sizeOf(o.dims) <= MAX_FOLDED_ELEMENTS);
      if (small && known.every((m) => m === null || m.data !== null)) {
        outs = inferNode(n, known, env);
      }
      n.outputs.forEach((name, i) => name !== "" && metas.set(name, outs[i]));
    } catch {
      // A node that does not infer here fails at its plan, with the run's shapes.
    }
  }
  return metas;
}
