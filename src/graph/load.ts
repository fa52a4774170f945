/**
 * OnnxModel → Graph: attributes converted and checked, initializers and
 * Constant nodes materialized as constants, every op checked against the
 * registry (all unsupported ops named in one error), value names checked to
 * be defined before use.
 */
import type { LargeMemory } from "../native/large_memory.ts";
import { dtypeOf, onnxTypeName } from "../onnx/dtype.ts";
import {
  ATTR,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxValueInfo,
} from "../onnx/model.ts";
import {
  type ConstTensor,
  type ExternalSource,
  FLOAT16,
  materialize,
} from "../onnx/tensor_data.ts";
import { ModelError } from "../onnx/wire.ts";
import {
  Attrs,
  type AttrValue,
  type Branch,
  branchReads,
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

/** Opsets of the default domain we run (6: its binary ops' limited broadcasting, below). */
export const MIN_OPSET = 6, MAX_OPSET = 28;

/** Ops whose opset-6 forms take `broadcast` and `axis` (limited broadcasting). */
const LEGACY_BROADCAST_OPS = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "And",
  "Or",
  "Xor",
  "Equal",
  "Greater",
  "Less",
  "Gemm",
]);

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
      return a.strings.slice();
    case ATTR.TENSOR:
      return materialize(a.t!, ext); // present: the reader refuses a TENSOR attribute without one
    case ATTR.TYPE_PROTO:
      // Only Optional's `type` (an empty optional's element type) takes one; we keep its kind.
      return "type";
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

/** Value names visible where nodes are read: ONNX names → IR names, innermost scope first. */
class Scope {
  readonly #names = new Map<string, string>();
  readonly parent: Scope | null;
  readonly prefix: string;
  constructor(parent: Scope | null, prefix: string) {
    this.parent = parent;
    this.prefix = prefix;
  }
  resolve(name: string): string | null {
    return this.#names.get(name) ?? this.parent?.resolve(name) ?? null;
  }
  has(name: string): boolean {
    return this.#names.has(name);
  }
  /** Defines a name here: its IR name is unique across the model (a branch's carry a prefix). */
  define(name: string): string {
    const ir = this.prefix + name;
    this.#names.set(name, ir);
    return ir;
  }
}

/** What reading nodes needs besides their scope. */
interface LoadContext {
  model: OnnxModel;
  ext: ExternalSource | null;
  opset: number;
  /** Unsupported ops found anywhere, named together at the end. */
  unsupported: Map<string, string>;
  halfSeeds: Set<string>;
  /** Branches read so far: each gets a prefix of its own. */
  branches: number;
}

/** Builds the graph; `ext` locates external data (null when the model came as bytes). */
export function loadGraph(
  model: OnnxModel,
  ext: ExternalSource | null,
  memory: LargeMemory | null = null,
): Graph {
  // 0: the model imports no ai.onnx opset (ONNX-ML alone); a node of that domain is refused.
  const opset = model.opsets.get("") ?? 0;
  if (opset !== 0 && (opset < MIN_OPSET || opset > MAX_OPSET)) {
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
  const scope = new Scope(null, "");
  const constants = new Map<string, ReturnType<typeof materialize>>();
  // Large float initializers in the session's memory (native/large_memory.ts): pooled, its
  // pages in place when handed out, given back when the session is released; not zeroed
  // first (materialize writes every element).
  const floats = memory ? (size: number) => memory.floats(size, false) : undefined;
  for (const t of g.initializers) {
    if (t.name === "") throw new ModelError(`ONNX: an initializer has no name`);
    constants.set(scope.define(t.name), materialize(t, ext, floats));
  }
  const inputs: GraphValue[] = [];
  for (const v of g.inputs) {
    if (constants.has(v.name)) continue; // an initializer listed as input (IR < 4 style)
    // A string input: int64 codes inside, its vocabulary from its readers (below).
    inputs.push(
      v.elemType === STRING
        ? { name: v.name, type: "int64", dims: v.dims, vocabulary: [] }
        : graphValue(v, "input"),
    );
    scope.define(v.name);
  }
  const ctx: LoadContext = {
    model,
    ext,
    opset,
    unsupported: new Map(),
    halfSeeds: new Set<string>(inputs.filter((v) => v.half).map((v) => v.name)),
    branches: 0,
  };
  const zipMaps = unreturnedZipMaps(g);
  const nodes = loadNodes(
    zipMaps.size ? g.nodes.filter((n) => !zipMaps.has(n)) : g.nodes,
    scope,
    constants,
    ctx,
  );
  if (ctx.unsupported.size > 0) {
    throw new ModelError(
      `ONNX: unsupported op${ctx.unsupported.size > 1 ? "s" : ""}: ${
        [...ctx.unsupported.values()].join("; ")
      }`,
    );
  }
  for (const v of inputs) if (v.vocabulary) encodeStrings(v, nodes);
  const outputs: GraphValue[] = [], nonTensorOutputs: { name: string; at: number }[] = [];
  for (const [at, v] of g.outputs.entries()) {
    const zipMap = [...zipMaps].find((n) => n.outputs[0] === v.name);
    if (zipMap) {
      // Its input must still be a value of the graph (the ZipMap itself is never computed).
      if (scope.resolve(zipMap.inputs[0] ?? "") === null) {
        throw new ModelError(`ONNX: ZipMap output '${v.name}' reads no value of the graph`);
      }
      nonTensorOutputs.push({ name: v.name, at });
      continue;
    }
    if (scope.resolve(v.name) === null) {
      throw new ModelError(`ONNX: graph output '${v.name}' is not produced by the graph`);
    }
    outputs.push(v.elemType === STRING ? labelsOutput(v, nodes) : graphValue(v, "output"));
  }
  unreadLabels(nodes, outputs);
  const graph: Graph = { nodes, inputs, outputs, constants };
  if (nonTensorOutputs.length) graph.nonTensorOutputs = nonTensorOutputs;
  placeHalfRounding(graph, ctx.halfSeeds);
  return graph;
}

/** ONNX's STRING element type. */
const STRING = 8;

/** The ai.onnx.ml classifiers that name their classes by strings, and their integer attribute. */
const STRING_LABELED: Record<string, string> = {
  TreeEnsembleClassifier: "classlabels_int64s",
  LinearClassifier: "classlabels_ints",
  SVMClassifier: "classlabels_ints",
};

/**
 * A string graph output: a classifier's labels (`classlabels_strings`), the only strings a
 * model may output here. The classifier is given the labels 0..k−1 instead (int64 indexes
 * into the strings, turned into them at the session's edge); nothing else may read them.
 */
function labelsOutput(v: OnnxValueInfo, nodes: readonly Node[]): GraphValue {
  const producer = nodes.find((n) => n.outputs.includes(v.name));
  const reader = nodes.find((n) => n.inputs.includes(v.name));
  if (reader) {
    throw new ModelError(
      `ONNX: ${describeNode(reader)} reads the string labels '${v.name}': not supported`,
    );
  }
  const ml = producer?.domain === "ai.onnx.ml", attrs = producer?.attrs.map;
  const strings = (name: string) => {
    const s = attrs?.get(name);
    return Array.isArray(s) && s.every((x) => typeof x === "string") ? s as string[] : null;
  };
  // A classifier's labels (its first output).
  const intName =
    ml && producer!.outputs[0] === v.name && Object.hasOwn(STRING_LABELED, producer!.op)
      ? STRING_LABELED[producer!.op]
      : null;
  const classes = intName ? strings("classlabels_strings") : null;
  if (classes) {
    attrs!.delete("classlabels_strings");
    attrs!.set(intName!, classes.map((_, i) => i));
    return { name: v.name, type: "int64", dims: v.dims, labels: Object.freeze([...classes]) };
  }
  // CategoryMapper from integers: the LabelEncoder from them to the strings' indexes.
  if (ml && producer!.op === "CategoryMapper") {
    const cats = strings("cats_strings"), ints = attrs!.get("cats_int64s");
    if (!cats || !Array.isArray(ints) || ints.length !== cats.length) {
      throw new ModelError(
        `ONNX: ${
          describeNode(producer!)
        }: cats_strings and cats_int64s must list the same categories`,
      );
    }
    const fallback = attrs!.get("default_string") ?? "_Unused";
    attrs!.clear();
    attrs!.set("keys_int64s", ints);
    attrs!.set("values_int64s", cats.map((_, i) => i));
    attrs!.set("default_int64", cats.length);
    producer!.op = "LabelEncoder";
    producer!.opset = 2;
    return {
      name: v.name,
      type: "int64",
      dims: v.dims,
      labels: Object.freeze([...cats, String(fallback)]),
    };
  }
  // A LabelEncoder's string values (and its default, "_Unused" unless given): indexes into them.
  const values = ml && producer!.op === "LabelEncoder" ? strings("values_strings") : null;
  if (values) {
    const fallback = attrs!.get("default_string") ?? "_Unused";
    attrs!.delete("values_strings");
    attrs!.delete("default_string");
    attrs!.set("values_int64s", values.map((_, i) => i));
    attrs!.set("default_int64", values.length);
    return {
      name: v.name,
      type: "int64",
      dims: v.dims,
      labels: Object.freeze([...values, String(fallback)]),
    };
  }
  throw new ModelError(
    `ONNX: graph output '${v.name}' is a string tensor; strings are supported only as the labels ` +
      `of TreeEnsembleClassifier, LinearClassifier and SVMClassifier (classlabels_strings), ` +
      `the values of LabelEncoder (values_strings) and CategoryMapper's strings`,
  );
}

/** Whether an attribute value is a list of strings. */
function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/**
 * A classifier with string labels whose labels nothing reads and no output returns (only its
 * scores fetched): given the indexes 0..k−1 in their place, never seen.
 */
function unreadLabels(nodes: readonly Node[], outputs: readonly GraphValue[]): void {
  const returned = new Set(outputs.map((o) => o.name));
  for (const n of nodes) {
    if (n.domain !== "ai.onnx.ml" || !Object.hasOwn(STRING_LABELED, n.op)) continue;
    const labels = n.attrs.map.get("classlabels_strings"), out = n.outputs[0] ?? "";
    if (!Array.isArray(labels)) continue;
    if (out !== "" && (returned.has(out) || nodes.some((m) => m.inputs.includes(out)))) continue;
    n.attrs.map.delete("classlabels_strings");
    n.attrs.map.set(STRING_LABELED[n.op], labels.map((_, i) => i));
  }
}

/**
 * A string input's readers, given int64 codes instead: each must be an ai.onnx.ml encoder
 * with string categories (OneHotEncoder's cats_strings, LabelEncoder's keys_strings into
 * numbers), which then takes its categories' codes; `v.vocabulary` is set to every category
 * in order of first appearance (a string's code is its index there, −1 for any other).
 */
function encodeStrings(v: GraphValue, nodes: readonly Node[]): void {
  const codes = new Map<string, number>();
  const code = (s: string) => {
    if (!codes.has(s)) codes.set(s, codes.size);
    return codes.get(s)!;
  };
  for (const n of nodes) {
    const reads = n.inputs.includes(v.name) || branchReads(n.branches ?? []).includes(v.name);
    if (!reads) continue;
    const attrs = n.attrs.map;
    const key = n.domain !== "ai.onnx.ml" || n.inputs[0] !== v.name
      ? null
      : n.op === "OneHotEncoder"
      ? "cats"
      : n.op === "LabelEncoder"
      ? "keys"
      : n.op === "CategoryMapper"
      ? "cats-to-ints"
      : null;
    if (key === "cats-to-ints") {
      // CategoryMapper from strings: the LabelEncoder from their codes to its integers.
      const cats = attrs.get("cats_strings"), ints = attrs.get("cats_int64s");
      if (!isStrings(cats) || !Array.isArray(ints) || ints.length !== cats.length) {
        throw new ModelError(
          `ONNX: ${describeNode(n)}: cats_strings and cats_int64s must list the same categories`,
        );
      }
      const fallback = attrs.get("default_int64") ?? -1;
      attrs.clear();
      attrs.set("keys_int64s", cats.map(code));
      attrs.set("values_int64s", ints);
      attrs.set("default_int64", fallback);
      n.op = "LabelEncoder";
      n.opset = 2;
      continue;
    }
    const strings = key ? attrs.get(`${key}_strings`) : undefined;
    if (!key || !Array.isArray(strings) || strings.some((x) => typeof x !== "string")) {
      throw new ModelError(
        `ONNX: input '${v.name}' is a string tensor, read by ${describeNode(n)}; strings are ` +
          `supported as inputs only to OneHotEncoder (cats_strings), LabelEncoder ` +
          `(keys_strings) and CategoryMapper`,
      );
    }
    attrs.delete(`${key}_strings`);
    attrs.set(`${key}_int64s`, (strings as string[]).map(code));
  }
  v.vocabulary = Object.freeze([...codes.keys()]);
}

/**
 * ai.onnx.ml ZipMap nodes whose output is a declared graph output of a non-tensor type and
 * that nothing else reads: scikit-learn's converter ends every classifier with one (its
 * probabilities as a sequence of maps). onnxruntime-node returns no such value, so its users
 * fetch the other outputs; the node is left out and its output listed but refused when
 * fetched. Any other ZipMap stays in the graph (and is refused as an unsupported op).
 */
function unreturnedZipMaps(g: OnnxModel["graph"]): Set<OnnxNode> {
  const out = new Set<OnnxNode>();
  const declared = new Map(g.outputs.map((v) => [v.name, v]));
  const read = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const n of g.nodes) {
    if (n.opType !== "ZipMap" || n.domain !== "ai.onnx.ml" || n.outputs.length !== 1) continue;
    const v = declared.get(n.outputs[0]);
    if (v?.nonTensor && !read.has(n.outputs[0])) out.add(n);
  }
  return out;
}

/** Converts nodes read in `scope`; Constant nodes become `constants`. */
function loadNodes(
  onnxNodes: readonly OnnxNode[],
  scope: Scope,
  constants: Map<string, ConstTensor>,
  ctx: LoadContext,
): Node[] {
  const nodes: Node[] = [];
  for (let i = 0; i < onnxNodes.length; i++) {
    const p = onnxNodes[i];
    const name = p.name || `${scope.prefix}#${i}`;
    const owner = `${p.opType} node '${name}'`;
    const isIf = ["If", "Loop", "Scan", "SequenceMap"].includes(p.opType) && p.domain === "";
    const attrs = new Map<string, AttrValue>();
    for (const a of p.attributes) {
      if (a.refAttrName) throw new ModelError(`ONNX: ${owner}: ref_attr_name outside a function`);
      if (isIf && a.type === ATTR.GRAPH) continue; // the branches or body, read below
      attrs.set(a.name, attrValue(a, owner, ctx.ext));
    }
    // Half values are float32 here (half.ts), so a cast or type to float16 is to float32;
    // its outputs are remembered as half.
    const halfOut =
      (Object.hasOwn(HALF_TYPE_ATTRIBUTES, p.opType) ? HALF_TYPE_ATTRIBUTES[p.opType] : []).some(
        (k) => {
          if (attrs.get(k) !== FLOAT16) return false;
          attrs.set(k, 1);
          return true;
        },
      );
    const node: Node = {
      op: p.opType,
      domain: p.domain,
      name,
      inputs: p.inputs.map((v) => {
        if (v === "") return "";
        const ir = scope.resolve(v);
        if (ir === null) {
          throw new ModelError(
            `ONNX: ${owner}: input '${v}' is not a graph input, initializer or earlier node's output`,
          );
        }
        return ir;
      }),
      outputs: [],
      attrs: new Attrs(attrs, owner),
      opset: p.domain === "" ? ctx.opset : (ctx.model.opsets.get(p.domain) ?? 0),
    };
    if (node.domain === "" && ctx.opset === 0) {
      throw new ModelError(
        `ONNX: ${owner}: a node of ai.onnx, whose opset the model does not import`,
      );
    }
    if (isIf) readSubgraphs(node, p, scope, ctx);
    // Opset 6's broadcast/axis: numpy broadcasting computes the same once B's dims line up
    // with A's from axis (a LegacyBroadcast view of B); Gemm's C broadcast is numpy's already.
    if (node.domain === "" && node.opset < 7 && LEGACY_BROADCAST_OPS.has(node.op)) {
      const axis = attrs.get("axis");
      attrs.delete("broadcast");
      attrs.delete("axis");
      if (typeof axis === "number" && node.op !== "Gemm" && node.inputs.length === 2) {
        const aligned = `${scope.prefix}${name}/B aligned`;
        nodes.push({
          op: "LegacyBroadcast",
          domain: "njit",
          name: `${name}/align`,
          inputs: [node.inputs[1], node.inputs[0]],
          outputs: [aligned],
          attrs: new Attrs(new Map([["axis", axis]]), owner),
          opset: node.opset,
        });
        node.inputs = [node.inputs[0], aligned];
      }
    }
    // Opset 6's PRelu: a 1-D slope is per channel (axis 1).
    if (
      node.domain === "" && node.op === "PRelu" && node.opset < 7 &&
      constants.get(node.inputs[1])?.dims.length === 1
    ) {
      const aligned = `${scope.prefix}${name}/slope aligned`;
      nodes.push({
        op: "LegacyBroadcast",
        domain: "njit",
        name: `${name}/align`,
        inputs: [node.inputs[1], node.inputs[0]],
        outputs: [aligned],
        attrs: new Attrs(new Map([["axis", 1]]), owner),
        opset: node.opset,
      });
      node.inputs = [node.inputs[0], aligned];
    }
    node.outputs = p.outputs.map((v) => {
      if (v === "") return "";
      if (scope.has(v)) {
        throw new ModelError(`ONNX: ${describeNode(node)}: output '${v}' is already defined`);
      }
      const ir = scope.define(v);
      if (halfOut) ctx.halfSeeds.add(ir);
      return ir;
    });
    if (node.domain === "" && node.op === "Constant") {
      constants.set(node.outputs[0], constantValue(node));
      continue;
    }
    // The default domain, ONNX-ML and ONNX Runtime's com.microsoft ops (never our own "njit"
    // forms).
    const def =
      node.domain === "" || node.domain === "com.microsoft" || node.domain === "ai.onnx.ml"
        ? opDef(node.op, node.domain)
        : null;
    if (def === null) {
      const dom = node.domain || "ai.onnx";
      ctx.unsupported.set(
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
  return nodes;
}

/**
 * An If's then_branch and else_branch, or a Loop's body, read in scopes of their own (their
 * names prefixed, so they cannot collide with any other); the node's inputs become its own
 * then every outer value its subgraphs read.
 */
function readSubgraphs(node: Node, p: OnnxNode, outer: Scope, ctx: LoadContext): void {
  const loop = node.op === "Loop" || node.op === "Scan" || node.op === "SequenceMap";
  const graphOf = (key: string) => {
    const a = p.attributes.find((x) => x.name === key && x.type === ATTR.GRAPH);
    if (!a?.g) throw new ModelError(`ONNX: ${describeNode(node)}: attribute '${key}' is required`);
    return a.g;
  };
  const read = (key: string, inputs: number): Branch => {
    const g = graphOf(key);
    if (g.inputs.length !== inputs) {
      throw new ModelError(
        `ONNX: ${describeNode(node)}: ${key} declares ${g.inputs.length} inputs, takes ${inputs}`,
      );
    }
    if (g.sparseInitializers > 0) {
      throw new ModelError("ONNX: sparse initializers are not supported");
    }
    const scope = new Scope(outer, `${node.name}/${key}#${ctx.branches++}/`);
    const constants = new Map<string, ConstTensor>();
    for (const t of g.initializers) constants.set(scope.define(t.name), materialize(t, ctx.ext));
    const ins = g.inputs.map((v) => scope.define(v.name));
    const nodes = loadNodes(g.nodes, scope, constants, ctx);
    if (loop && nodes.some((n) => n.branches)) {
      throw new ModelError(
        `ONNX: ${
          describeNode(node)
        }: an If, Loop or Scan inside a ${node.op} body is not supported`,
      );
    }
    const outputs = g.outputs.map((v) => {
      const ir = scope.resolve(v.name);
      if (ir === null) {
        throw new ModelError(
          `ONNX: ${describeNode(node)}: ${key} output '${v.name}' is not produced`,
        );
      }
      return ir;
    });
    return { nodes, constants, outputs, inputs: ins };
  };
  if (node.op === "SequenceMap" || node.op === "Scan") {
    // SequenceMap: the body takes an element of the input sequence, then each additional
    // input (an element of it when it is a sequence); each of its outputs makes a sequence.
    // Scan: the state values, then the scan inputs; the body yields the states and one
    // element of each scan output.
    if (node.op === "Scan") {
      if (node.opset < 9) {
        throw new ModelError(`ONNX: ${describeNode(node)}: Scan before opset 9 is not supported`);
      }
      const scans = node.attrs.int("num_scan_inputs", 0), states = node.inputs.length - scans;
      if (!(scans >= 1) || states < 0 || p.outputs.length < states) {
        throw new ModelError(
          `ONNX: ${
            describeNode(node)
          }: num_scan_inputs ${scans} does not fit its ${node.inputs.length} inputs`,
        );
      }
    }
    const body = read("body", node.inputs.length);
    if (body.outputs.length !== p.outputs.length) {
      throw new ModelError(
        `ONNX: ${
          describeNode(node)
        }: the body yields ${body.outputs.length} values for ${p.outputs.length} outputs`,
      );
    }
    node.branches = [body];
    node.ownInputs = node.inputs.length;
  } else if (loop) {
    // M and cond (each may be omitted), then the carried values.
    const carried = node.inputs.length - 2;
    if (carried < 0) throw new ModelError(`ONNX: ${describeNode(node)}: takes M and cond first`);
    const body = read("body", 2 + carried);
    if (
      body.outputs.length !== 1 + carried + (p.outputs.length - carried) ||
      p.outputs.length < carried
    ) {
      throw new ModelError(
        `ONNX: ${
          describeNode(node)
        }: the body yields ${body.outputs.length} values for the condition, ${carried} carried and ${
          p.outputs.length - carried
        } scanned`,
      );
    }
    node.branches = [body];
    node.ownInputs = node.inputs.length;
  } else {
    if (node.inputs.length !== 1 || node.inputs[0] === "") {
      throw new ModelError(`ONNX: ${describeNode(node)}: takes one input, the condition`);
    }
    const then = read("then_branch", 0), otherwise = read("else_branch", 0);
    if (
      then.outputs.length !== otherwise.outputs.length || then.outputs.length !== p.outputs.length
    ) {
      throw new ModelError(
        `ONNX: ${
          describeNode(node)
        }: the branches yield ${then.outputs.length} and ${otherwise.outputs.length} values for ${p.outputs.length} outputs`,
      );
    }
    node.branches = [then, otherwise];
    node.ownInputs = 1;
  }
  // The values the subgraphs read but do not define: the node's implicit inputs.
  node.inputs = [...node.inputs.slice(0, node.ownInputs), ...branchReads(node.branches)];
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
