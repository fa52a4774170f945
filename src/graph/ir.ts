/**
 * The graph IR: nodes with typed attributes, constants, and the graph's
 * inputs and outputs. Fusions rewrite it; the planner turns it into steps.
 */
import type { ChainStep } from "../kernels/chain/mod.ts";
import type { Activation } from "../kernels/unary/read.ts";
import type { DType } from "../onnx/dtype.ts";
import type { ConstTensor } from "../onnx/tensor_data.ts";
import { ModelError } from "../onnx/wire.ts";

/** An attribute value as the IR holds it. */
export type AttrValue = number | string | number[] | string[] | ConstTensor;

/** A node's attributes with checked, defaulted getters. */
export class Attrs {
  readonly map: Map<string, AttrValue>;
  /** Names the error messages carry ("Conv node 'conv1'"). */
  readonly owner: string;
  constructor(map: Map<string, AttrValue>, owner: string) {
    this.map = map;
    this.owner = owner;
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  #bad(name: string, want: string): never {
    throw new ModelError(`ONNX: ${this.owner}: attribute '${name}' must be ${want}`);
  }
  int(name: string, def: number): number {
    const v = this.map.get(name);
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isInteger(v)) this.#bad(name, "an integer");
    return v;
  }
  float(name: string, def: number): number {
    const v = this.map.get(name);
    if (v === undefined) return def;
    if (typeof v !== "number") this.#bad(name, "a number");
    return v;
  }
  string(name: string, def: string): string {
    const v = this.map.get(name);
    if (v === undefined) return def;
    if (typeof v !== "string") this.#bad(name, "a string");
    return v;
  }
  ints(name: string): number[] | null {
    const v = this.map.get(name);
    if (v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isInteger(x))) {
      this.#bad(name, "a list of integers");
    }
    return v as number[];
  }
  floats(name: string): number[] | null {
    const v = this.map.get(name);
    if (v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number")) {
      this.#bad(name, "a list of numbers");
    }
    return v as number[];
  }
  strings(name: string): string[] | null {
    const v = this.map.get(name);
    if (v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      this.#bad(name, "a list of strings");
    }
    return v as string[];
  }
  tensor(name: string): ConstTensor | null {
    const v = this.map.get(name);
    if (v === undefined) return null;
    if (typeof v !== "object" || Array.isArray(v)) this.#bad(name, "a tensor");
    return v as ConstTensor;
  }
  /** A copy without some attributes (fusions). */
  without(...names: string[]): Attrs {
    const m = new Map(this.map);
    for (const k of names) m.delete(k);
    return new Attrs(m, this.owner);
  }
  /** A copy with some attributes set (fusions). */
  with(entries: Record<string, AttrValue>): Attrs {
    const m = new Map(this.map);
    for (const [k, v] of Object.entries(entries)) m.set(k, v);
    return new Attrs(m, this.owner);
  }
}

/** A graph node. inputs may hold "" for an omitted optional input. */
export interface Node {
  op: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
  /** The opset version of the node's domain. */
  opset: number;
  /**
   * If: the then and else branches; Loop: its body. The node's inputs are its own (the
   * first `ownInputs`), then every outer value its subgraphs read (ONNX Runtime's implicit
   * inputs), so rewrites and liveness see those reads.
   */
  branches?: Branch[];
  /** With `branches`: how many leading inputs are the op's own. */
  ownInputs?: number;
  /** Set by fusions (domain "njit"): the activation applied in the op's epilogue. */
  fused?: {
    activation?: Activation;
    /**
     * MatMul only: a Transpose folded into input A (0), B (1) or the output
     * (2): the buffer holds the transposed tensor, read or written through
     * strides (attention's head split and merge).
     */
    perms?: (number[] | null)[];
    /** MatMul only: a constant scale of the product folded in (the GEMM's alpha). */
    scale?: number;
    /**
     * ElementwiseChain only: the steps, and the largest rank of the scalar
     * constants folded into them (the output is x's shape padded to it).
     */
    chain?: { steps: ChainStep[]; constRank: number };
    /** DotProductAttention only: see {@link DotAttention}. */
    attention?: DotAttention;
    /**
     * Conv only (a 1×1 expansion, fusions/expand_depthwise.ts): the depthwise
     * Conv that read its output, now run by this node (its weights and bias
     * inputs 4 and 5; output 0 is the depthwise's, output 1 the expansion's).
     */
    depthwise?: Node;
  };
}

/** A fused attention's record: layout, scale, and the nodes it replaced (for other shapes). */
export interface DotAttention {
  /** q, k, v and y as [batch, heads, tokens, size] (else [batch, tokens, heads, size]). */
  headsFirst: boolean;
  /** The product's scale (the first MatMul's folded scale). */
  scale: number;
  /** The first MatMul, the Softmax and the second MatMul, as the graph had them. */
  nodes: [Node, Node, Node];
}

/**
 * A subgraph run in its node's place when the plan knows which one (If's branches): its
 * value names made unique at load, its own constants, the values it yields in order.
 */
export interface Branch {
  nodes: Node[];
  constants: Map<string, ConstTensor>;
  outputs: string[];
  /** A Loop body's inputs (iteration number, condition, carried values); If's have none. */
  inputs: string[];
}

/** A graph input or output as declared: a dim is a size, a symbol, or null (unknown). */
export interface GraphValue {
  name: string;
  type: DType;
  dims: (number | string | null)[] | null;
  /** Declared float16 (type is then float32): converted at the session's edges. */
  half?: boolean;
  /**
   * Declared string: a classifier's labels, computed as int64 indexes into these and turned
   * into the strings at the session's edge (the only strings a model may output here).
   */
  labels?: readonly string[];
  /**
   * Declared string: an input read only by encoders with string categories, fed as strings
   * and computed as int64 codes, each string's index here (−1: none of them), encoded at the
   * session's edge (the encoders take the codes of their categories).
   */
  vocabulary?: readonly string[];
}

/** The graph a session runs. */
export interface Graph {
  nodes: Node[];
  inputs: GraphValue[];
  outputs: GraphValue[];
  constants: Map<string, ConstTensor>;
  /**
   * Declared outputs that are no tensor (ZipMap's sequence of maps), by their place among all
   * the declared outputs: listed as outputs, never computed; fetching one is refused, as
   * onnxruntime-node refuses it.
   */
  nonTensorOutputs?: { name: string; at: number }[];
}

/** "Conv node 'conv1'" (or its index when unnamed), for messages. */
export function describeNode(n: Node): string {
  return `${n.op} node '${n.name || n.outputs[0] || "?"}'`;
}

/** The values subgraphs read that they do not define (their node's implicit inputs). */
export function branchReads(branches: readonly Branch[]): string[] {
  const reads = new Set<string>();
  for (const b of branches) {
    const inside = new Set<string>([...b.constants.keys(), ...b.inputs]);
    for (const n of b.nodes) for (const o of n.outputs) if (o !== "") inside.add(o);
    for (const n of b.nodes) for (const i of n.inputs) if (i !== "" && !inside.has(i)) reads.add(i);
    for (const o of b.outputs) if (!inside.has(o)) reads.add(o);
  }
  return [...reads];
}
