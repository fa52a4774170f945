/**
 * OnnxModel → Graph: attributes converted and checked, initializers and
 * Constant nodes materialized as constants, every op checked against the
 * registry (all unsupported ops named in one error), value names checked to
 * be defined before use.
 */
import { dtypeOf, onnxTypeName } from "../onnx/dtype.ts";
import { ATTR, type OnnxAttribute, type OnnxModel, type OnnxValueInfo } from "../onnx/model.ts";
import { type ExternalSource, FLOAT16, materialize } from "../onnx/tensor_data.ts";
import { ModelError } from "../onnx/wire.ts";
import {
  Attrs,
  type AttrValue,
  describeNode,
  type Graph,
  type GraphValue,
  type Node,
} from "./ir.ts";
import { placeHalfRounding } from "./half.ts";
import { opDef } from "./ops/registry.ts";

/** Attributes naming an element type, by op: float16 there becomes float32. */
const HALF_TYPE_ATTRIBUTES: Record<string, string[]> = {
  Cast: ["to"],
  EyeLike: ["dtype"],
  DequantizeLinear: ["output_dtype"],
};

/** Opsets of the default domain we run. */
export const MIN_OPSET = 7, MAX_OPSET = 25;

const UTF8 = new TextDecoder();

function attrValue(a: OnnxAttribute, owner: string, ext: ExternalSource | null): AttrValue {
  switch (a.type) {
    case ATTR.FLOAT:
      return a.f;
    case ATTR.INT:
      return a.i;
    case ATTR.STRING:
      return UTF8.decode(a.s);
    case ATTR.FLOATS:
      return a.floats;
    case ATTR.INTS:
      return a.ints;
    case ATTR.STRINGS:
      return a.strings.map((s) => UTF8.decode(s));
    case ATTR.TENSOR:
      return materialize(a.t!, ext);
    default:
      throw new ModelError(
        `ONNX: ${owner}: attribute '${a.name}' of kind ${a.type} (graph, sparse tensor or type) is not supported`,
      );
  }
}

function graphValue(v: OnnxValueInfo, what: string): GraphValue {
  if (v.nonTensor) throw new ModelError(`ONNX: graph ${what} '${v.name}' is not a tensor`);
  // float16 runs as float32 inside; the session converts at the model's edges.
  if (v.elemType === FLOAT16) return { name: v.name, type: "float32", dims: v.dims, half: true };
  const type = dtypeOf(v.elemType);
  if (type === null) {
    throw new ModelError(
      `ONNX: graph ${what} '${v.name}' has data type ${onnxTypeName(v.elemType)}, not supported`,
    );
  }
  return { name: v.name, type, dims: v.dims };
}

/** Builds the graph; `ext` locates external data (null when the model came as bytes). */
export function loadGraph(model: OnnxModel, ext: ExternalSource | null): Graph {
  const opset = model.opsets.get("")!;
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ModelError(
      `ONNX: the model imports opset ${opset} of ai.onnx; supported: ${MIN_OPSET}-${MAX_OPSET}`,
    );
  }
  const g = model.graph;
  if (model.functions > 0) {
    throw new ModelError("ONNX: model-local functions are not supported");
  }
  if (g.sparseInitializers > 0) {
    throw new ModelError("ONNX: sparse initializers are not supported");
  }
  const constants = new Map<string, ReturnType<typeof materialize>>();
  for (const t of g.initializers) {
    if (t.name === "") throw new ModelError(`ONNX: an initializer has no name`);
    constants.set(t.name, materialize(t, ext));
  }
  const defined = new Set<string>(constants.keys());
  const inputs: GraphValue[] = [];
  for (const v of g.inputs) {
    if (constants.has(v.name)) continue; // an initializer listed as input (IR < 4 style)
    inputs.push(graphValue(v, "input"));
    defined.add(v.name);
  }
  const nodes: Node[] = [];
  const unsupported = new Map<string, string>();
  const halfSeeds = new Set<string>(inputs.filter((v) => v.half).map((v) => v.name));
  for (let i = 0; i < g.nodes.length; i++) {
    const p = g.nodes[i];
    const owner = `${p.opType} node '${p.name || `#${i}`}'`;
    const attrs = new Map<string, AttrValue>();
    for (const a of p.attributes) {
      if (a.refAttrName) throw new ModelError(`ONNX: ${owner}: ref_attr_name outside a function`);
      attrs.set(a.name, attrValue(a, owner, ext));
    }
    // Half values are float32 here (half.ts), so a cast or type to float16 is to float32;
    // its outputs are remembered as half.
    for (
      const k of Object.hasOwn(HALF_TYPE_ATTRIBUTES, p.opType) ? HALF_TYPE_ATTRIBUTES[p.opType] : []
    ) {
      if (attrs.get(k) !== FLOAT16) continue;
      attrs.set(k, 1);
      for (const v of p.outputs) if (v !== "") halfSeeds.add(v);
    }
    const node: Node = {
      op: p.opType,
      domain: p.domain,
      name: p.name || `#${i}`,
      inputs: p.inputs,
      outputs: p.outputs,
      attrs: new Attrs(attrs, owner),
      opset: p.domain === "" ? opset : (model.opsets.get(p.domain) ?? 0),
    };
    for (const name of node.inputs) {
      if (name !== "" && !defined.has(name)) {
        throw new ModelError(
          `ONNX: ${
            describeNode(node)
          }: input '${name}' is not a graph input, initializer or earlier node's output`,
        );
      }
    }
    for (const name of node.outputs) {
      if (name === "") continue;
      if (defined.has(name)) {
        throw new ModelError(`ONNX: ${describeNode(node)}: output '${name}' is already defined`);
      }
      defined.add(name);
    }
    if (node.domain === "" && node.op === "Constant") {
      constants.set(node.outputs[0], constantValue(node));
      continue;
    }
    // The default domain and ONNX Runtime's com.microsoft ops (never our own "njit" forms).
    const def = node.domain === "" || node.domain === "com.microsoft"
      ? opDef(node.op, node.domain)
      : null;
    if (def === null) {
      const dom = node.domain || "ai.onnx";
      unsupported.set(
        `${node.op}@${dom}`,
        `${node.op} (domain ${dom}, opset ${node.opset}, node '${node.name}')`,
      );
      continue;
    }
    for (const k of attrs.keys()) {
      if (!def.attributes.includes(k)) {
        throw new ModelError(`ONNX: ${owner}: attribute '${k}' is not supported`);
      }
    }
    nodes.push(node);
  }
  if (unsupported.size > 0) {
    throw new ModelError(
      `ONNX: unsupported op${unsupported.size > 1 ? "s" : ""}: ${
        [...unsupported.values()].join("; ")
      }`,
    );
  }
  const outputs: GraphValue[] = [];
  for (const v of g.outputs) {
    if (!defined.has(v.name)) {
      throw new ModelError(`ONNX: graph output '${v.name}' is not produced by the graph`);
    }
    outputs.push(graphValue(v, "output"));
  }
  const graph: Graph = { nodes, inputs, outputs, constants };
  placeHalfRounding(graph, halfSeeds);
  return graph;
}

/** A Constant node's value (value, value_float(s), value_int(s)). */
function constantValue(n: Node): ReturnType<typeof materialize> {
  const a = n.attrs;
  const t = a.tensor("value");
  if (t) return t;
  if (a.has("value_float")) {
    return { type: "float32", dims: [], data: new Float32Array([a.float("value_float", 0)]) };
  }
  if (a.has("value_floats")) {
    const v = a.floats("value_floats")!;
    return { type: "float32", dims: [v.length], data: Float32Array.from(v) };
  }
  if (a.has("value_int")) {
    return { type: "int64", dims: [], data: new BigInt64Array([BigInt(a.int("value_int", 0))]) };
  }
  if (a.has("value_ints")) {
    const v = a.ints("value_ints")!;
    return { type: "int64", dims: [v.length], data: BigInt64Array.from(v, (x) => BigInt(x)) };
  }
  throw new ModelError(`ONNX: ${describeNode(n)}: no supported value attribute`);
}
