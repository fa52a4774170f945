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

/**
 * Readers of each value, and the producer of each value: built on the first
 * question about them. Most fusions find no node of their pattern's first op
 * in a given model and ask none; built eagerly, the maps of every fusion's
 * index were a third of what a ResNet-style CNN's create allocated in V8's
 * heap (scratch: heap used around each fusion, ~25 KB each of 20).
 */
export class GraphIndex {
  readonly g: Graph;
  #readers: Map<string, Node[]> | null = null;
  #producer: Map<string, Node> | null = null;
  #outputs: Set<string> | null = null;
  constructor(g: Graph) {
    this.g = g;
  }
  /** The nodes reading each value. */
  get readers(): Map<string, Node[]> {
    if (this.#readers === null) this.#build();
    return this.#readers!;
  }
  /** The node writing each value. */
  get producer(): Map<string, Node> {
    if (this.#producer === null) this.#build();
    return this.#producer!;
  }
  /** The graph's output names. */
  get outputs(): Set<string> {
    return this.#outputs ??= new Set(this.g.outputs.map((o) => o.name));
  }
  #build(): void {
    const readers = new Map<string, Node[]>(), producer = new Map<string, Node>();
    for (const n of this.g.nodes) {
      for (const i of n.inputs) {
        if (i !== "") (readers.get(i) ?? readers.set(i, []).get(i)!).push(n);
      }
      for (const o of n.outputs) if (o !== "") producer.set(o, n);
    }
    this.#readers = readers;
    this.#producer = producer;
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
