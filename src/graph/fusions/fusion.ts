/**
 * The fusion contract and the graph queries fusions share: who reads a
 * value, whether a value is a graph output, constant lookups.
 */
import type { ConstTensor } from "../../onnx/tensor_data.ts";
import type { Graph, Node } from "../ir.ts";
import type { Env } from "../ops/op.ts";

/**
 * One fusion: finds its pattern in the graph and rewrites it; returns the
 * rewrites made. `env` gives a rewrite that computes new constants (folded
 * weights) the session's Jit.
 */
export interface Fusion {
  name: string;
  apply(g: Graph, env: Env): number;
}

/** Readers of each value, and the producer of each value. */
export class GraphIndex {
  readonly readers = new Map<string, Node[]>();
  readonly producer = new Map<string, Node>();
  readonly outputs: Set<string>;
  readonly g: Graph;
  constructor(g: Graph) {
    this.g = g;
    this.outputs = new Set(g.outputs.map((o) => o.name));
    for (const n of g.nodes) {
      for (const i of n.inputs) {
        if (i !== "") (this.readers.get(i) ?? this.readers.set(i, []).get(i)!).push(n);
      }
      for (const o of n.outputs) if (o !== "") this.producer.set(o, n);
    }
  }
  /** The one node reading `value`, when it is not a graph output; else null. */
  soleReader(value: string): Node | null {
    const r = this.readers.get(value);
    if (!r || r.length !== 1 || this.outputs.has(value)) return null;
    return r[0];
  }
  constant(name: string): ConstTensor | null {
    return this.g.constants.get(name) ?? null;
  }
  /** A constant's only value as a number, or null (not a constant scalar). */
  scalar(name: string): number | null {
    const c = this.constant(name);
    if (!c || c.data.length !== 1) return null;
    return Number(c.data[0]);
  }
}

/** Whether n is op of the default domain (or its fused form when `fused`). */
export function is(n: Node | null, op: string, fused = false): n is Node {
  return n !== null && n.op === op && (n.domain === "" || (fused && n.domain === "njit"));
}

/** Removes nodes from the graph. */
export function removeNodes(g: Graph, dead: Set<Node>): void {
  g.nodes = g.nodes.filter((n) => !dead.has(n));
}
