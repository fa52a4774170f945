/**
 * Graph rewrites at create: constant folding (nodes whose inputs are all
 * constants are computed once), dead-node removal, and the fusions of
 * `fusions/`, each gated by the session's graphOptimizationLevel.
 */
import type { ConstTensor } from "../onnx/tensor_data.ts";
import { branchReads, type Graph, type Node } from "./ir.ts";
import type { Env, Meta } from "./ops/op.ts";
import { inferNode } from "./plan.ts";
import { FUSIONS, FUSIONS_BEFORE_FOLDING } from "./fusions/mod.ts";
import { opDef } from "./ops/registry.ts";
import type { Fusion } from "./fusions/fusion.ts";

/** ONNX Runtime's levels: basic folds constants and removes dead nodes; extended and all fuse. */
export type OptimizationLevel = "disabled" | "basic" | "extended" | "all";

/** What optimization did, for reports and tests. */
export interface OptimizationReport {
  /** Nodes computed once at create (all inputs constant). */
  folded: number;
  /** Nodes removed: no output depends on them, or fused into another. */
  removed: number;
  /** Rewrites per fusion name. */
  fusions: Record<string, number>;
}

/** Folds nodes whose inputs are all constants into constants. */
export function foldConstants(g: Graph, env: Env): number {
  const kept: Node[] = [];
  let folded = 0;
  for (const n of g.nodes) {
    const ins: (Meta | null)[] = [];
    // An If is expanded by the plan (its branch's nodes fold there).
    const def = opDef(n.op, n.domain);
    let constant = n.inputs.length > 0 && !n.branches && !def?.expands && !def?.random;
    for (const name of n.inputs) {
      if (name === "") {
        ins.push(null);
        continue;
      }
      const c = g.constants.get(name);
      if (!c) {
        constant = false;
        break;
      }
      ins.push({ type: c.type, dims: c.dims, data: c.data });
    }
    if (!constant) {
      kept.push(n);
      continue;
    }
    const outs = inferNode(n, ins, env);
    if (!outs.every((o) => o.data !== null)) {
      kept.push(n);
      continue;
    }
    n.outputs.forEach((name, i) => {
      if (name !== "") g.constants.set(name, outs[i] as ConstTensor);
    });
    folded++;
  }
  g.nodes = kept;
  return folded;
}

/** Removes nodes no graph output depends on, and constants nothing reads. */
export function removeDead(g: Graph): number {
  const needed = new Set(g.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    for (const name of n.inputs) if (name !== "") needed.add(name);
    kept.push(n);
  }
  const removed = g.nodes.length - kept.length;
  g.nodes = kept.reverse();
  for (const name of [...g.constants.keys()]) if (!needed.has(name)) g.constants.delete(name);
  return removed;
}

/**
 * Packs every node's constant weights now (create), so no run packs any. A
 * node whose weights do not fit its op (a bad model) is left for the plan
 * to report.
 */
export function prepackWeights(
  g: Graph,
  env: Env,
  shapes: ReadonlyMap<string, Meta> = new Map(),
): void {
  for (const n of g.nodes) {
    for (const b of n.branches ?? []) {
      prepackWeights(
        { ...g, nodes: b.nodes, constants: new Map([...g.constants, ...b.constants]) },
        env,
      );
    }
    const def = opDef(n.op, n.domain);
    if (!def?.prepack) continue;
    const consts = n.inputs.map((name) => {
      const c = name ? g.constants.get(name) : undefined;
      return c && c.type === "float32" ? { type: c.type, dims: c.dims, data: c.data } : null;
    });
    try {
      def.prepack(n, consts, env, n.inputs.map((name) => shapes.get(name) ?? null));
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
    }
  }
}

/** Runs the optimizations the level allows; returns what they did. */
export function optimize(g: Graph, level: OptimizationLevel, env: Env): OptimizationReport {
  const report: OptimizationReport = { folded: 0, removed: 0, fusions: {} };
  if (level === "disabled") return report;
  const fuse = (fusions: readonly Fusion[]) => {
    for (const f of fusions) {
      const count = f.apply(g, env);
      if (count > 0) report.fusions[f.name] = count;
    }
  };
  if (level !== "basic") fuse(FUSIONS_BEFORE_FOLDING);
  report.folded = foldConstants(g, env);
  report.removed = removeDead(g);
  if (level !== "basic") {
    fuse(FUSIONS);
    topoSort(g);
    report.removed += removeDead(g);
  }
  for (const n of g.nodes) if (n.branches) optimizeBranches(n, g.constants, level, env, report);
  return report;
}

/**
 * An If's branches optimized as graphs of their own — the outer constants visible (a
 * branch's weights are mostly the model's initializers), the outer values it reads as
 * inputs, its outputs kept — so a branch's nodes fold and fuse as the graph's do. The
 * node's reads are then what the branches read now.
 */
function optimizeBranches(
  n: Node,
  outer: ReadonlyMap<string, ConstTensor>,
  level: OptimizationLevel,
  env: Env,
  report: OptimizationReport,
): void {
  for (const b of n.branches!) {
    const g: Graph = {
      nodes: b.nodes,
      inputs: [...b.inputs, ...n.inputs.slice(n.ownInputs!).filter((v) => !outer.has(v))].map((
        name,
      ) => ({
        name,
        type: "float32",
        dims: null,
      })),
      outputs: b.outputs.map((name) => ({ name, type: "float32", dims: null })),
      constants: new Map([...outer, ...b.constants]),
    };
    const r = optimize(g, level, env);
    report.folded += r.folded;
    report.removed += r.removed;
    for (const [k, c] of Object.entries(r.fusions)) {
      report.fusions[k] = (report.fusions[k] ?? 0) + c;
    }
    b.nodes = g.nodes;
    b.constants = new Map([...g.constants].filter(([k]) => !outer.has(k) || b.constants.has(k)));
  }
  n.inputs = [...n.inputs.slice(0, n.ownInputs!), ...branchReads(n.branches!)];
}

/**
 * Restores topological order after rewrites (a fused node may read a value
 * produced after its old place): stable, so an ordered graph is unchanged.
 */
export function topoSort(g: Graph): void {
  const ready = new Set<string>([...g.constants.keys(), ...g.inputs.map((v) => v.name)]);
  const pending = g.nodes.slice(), out: Node[] = [];
  while (pending.length > 0) {
    const i = pending.findIndex((n) => n.inputs.every((name) => name === "" || ready.has(name)));
    if (i < 0) {
      throw new Error(`graph rewrite left a cycle at ${pending[0].op} '${pending[0].name}'`);
    }
    const [n] = pending.splice(i, 1);
    for (const o of n.outputs) ready.add(o);
    out.push(n);
  }
  g.nodes = out;
}
