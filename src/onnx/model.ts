/**
 * ONNX ModelProto → plain objects: the graph, its nodes and attributes, its
 * initializers (payloads left as views into the file until a tensor is
 * materialized by `tensor_data.ts`) and its typed inputs and outputs.
 * Field numbers are onnx.proto's; unknown fields are skipped, as protobuf
 * requires.
 */
import { BYTES, FIXED32, ModelError, VARINT, WireReader } from "./wire.ts";

/** A TensorProto as read: data still in its wire form. */
export interface OnnxTensor {
  name: string;
  dataType: number;
  dims: number[];
  /** raw_data (little-endian bytes, possibly unaligned), or null. */
  raw: Uint8Array | null;
  floats: number[];
  int32s: number[];
  int64s: number[];
  doubles: number[];
  uint64s: number[];
  strings: Uint8Array[];
  /** external_data entries (location, offset, length, checksum), or null when stored inline. */
  external: Map<string, string> | null;
  /** What it is, for messages ("initializer 'w'"). */
  where: string;
}

/** AttributeProto.AttributeType. */
export const ATTR = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface OnnxAttribute {
  name: string;
  type: number;
  f: number;
  i: number;
  s: Uint8Array;
  t: OnnxTensor | null;
  g: OnnxGraph | null;
  floats: number[];
  ints: number[];
  /** Decoded as UTF-8 (short ASCII ones interned: see WireReader.text). */
  strings: string[];
  tensors: OnnxTensor[];
  graphs: OnnxGraph[];
  /** Set in function bodies only; refused in a main graph. */
  refAttrName: string;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

/** One dimension of a declared shape: a size, a symbol, or unknown (null). */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor type; 0 when not a tensor or not given. */
  elemType: number;
  /** The declared shape, or null when none is given. */
  dims: OnnxDim[] | null;
  /** Not a tensor type (sequence, map, optional, sparse). */
  nonTensor: boolean;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  sparseInitializers: number;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** Opset version per domain ("" and "ai.onnx" are the same domain, stored as ""). */
  opsets: Map<string, number>;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  functions: number;
}

/** Nesting limit for subgraphs (attributes of kind GRAPH): bounds recursion on hostile files. */
const MAX_DEPTH = 32;

/** Decodes a serialized ModelProto. Throws ModelError on any malformation. */
export function readModel(bytes: Uint8Array): OnnxModel {
  if (bytes.length === 0) throw new ModelError("ONNX: the model is empty (0 bytes)");
  const r = new WireReader(bytes, "ModelProto");
  const model: OnnxModel = {
    irVersion: 0,
    opsets: new Map(),
    producerName: "",
    producerVersion: "",
    graph: null as unknown as OnnxGraph,
    functions: 0,
  };
  let graph: OnnxGraph | null = null;
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.expect("ir_version", wire, VARINT);
        model.irVersion = r.int64("ir_version");
        break;
      case 2:
        r.expect("producer_name", wire, BYTES);
        model.producerName = r.string();
        break;
      case 3:
        r.expect("producer_version", wire, BYTES);
        model.producerVersion = r.string();
        break;
      case 7:
        r.expect("graph", wire, BYTES);
        graph = readGraph(r.message("ModelProto.graph"), 0);
        break;
      case 8: {
        r.expect("opset_import", wire, BYTES);
        const [domain, version] = readOpset(r.message("ModelProto.opset_import"));
        model.opsets.set(domain === "ai.onnx" ? "" : domain, version);
        break;
      }
      case 25:
        r.expect("functions", wire, BYTES);
        r.skip(wire);
        model.functions++;
        break;
      default:
        r.skip(wire);
    }
  }
  if (graph === null) throw new ModelError("ONNX: ModelProto has no graph");
  model.graph = graph;
  // A model of other domains alone (ONNX-ML's) may import no ai.onnx opset: its nodes then
  // may not use that domain (the graph's loader checks).
  if (!model.opsets.has("")) {
    if (model.irVersion >= 3 && model.opsets.size === 0) {
      throw new ModelError("ONNX: ModelProto imports no opset of the default (ai.onnx) domain");
    }
    if (model.irVersion < 3) model.opsets.set("", 1);
  }
  return model;
}

function readOpset(r: WireReader): [string, number] {
  let domain = "", version = 0;
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === BYTES) domain = r.string();
    else if (field === 2 && wire === VARINT) version = r.int64("version");
    else r.skip(wire);
  }
  return [domain, version];
}

function readGraph(r: WireReader, depth: number): OnnxGraph {
  if (depth > MAX_DEPTH) r.fail(`subgraphs nested deeper than ${MAX_DEPTH}`);
  const g: OnnxGraph = {
    name: "",
    nodes: [],
    initializers: [],
    sparseInitializers: 0,
    inputs: [],
    outputs: [],
    valueInfo: [],
  };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.expect("node", wire, BYTES);
        g.nodes.push(readNode(r.message(`node[${g.nodes.length}]`), depth));
        break;
      case 2:
        r.expect("name", wire, BYTES);
        g.name = r.string();
        break;
      case 5:
        r.expect("initializer", wire, BYTES);
        g.initializers.push(
          readTensor(r.message(`initializer[${g.initializers.length}]`), "initializer"),
        );
        break;
      case 11:
        r.expect("input", wire, BYTES);
        g.inputs.push(readValueInfo(r.message(`input[${g.inputs.length}]`)));
        break;
      case 12:
        r.expect("output", wire, BYTES);
        g.outputs.push(readValueInfo(r.message(`output[${g.outputs.length}]`)));
        break;
      case 13:
        r.expect("value_info", wire, BYTES);
        g.valueInfo.push(readValueInfo(r.message(`value_info[${g.valueInfo.length}]`)));
        break;
      case 15:
        r.skip(wire);
        g.sparseInitializers++;
        break;
      default:
        r.skip(wire);
    }
  }
  return g;
}

function readNode(r: WireReader, depth: number): OnnxNode {
  const n: OnnxNode = { name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [] };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.expect("input", wire, BYTES);
        n.inputs.push(r.string());
        break;
      case 2:
        r.expect("output", wire, BYTES);
        n.outputs.push(r.string());
        break;
      case 3:
        r.expect("name", wire, BYTES);
        n.name = r.string();
        break;
      case 4:
        r.expect("op_type", wire, BYTES);
        n.opType = r.string();
        break;
      case 5:
        r.expect("attribute", wire, BYTES);
        n.attributes.push(readAttribute(r.message(`${r.where}.attribute`), depth));
        break;
      case 7:
        r.expect("domain", wire, BYTES);
        n.domain = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  if (n.domain === "ai.onnx") n.domain = "";
  if (n.opType === "") r.fail("node without op_type");
  return n;
}

function readAttribute(r: WireReader, depth: number): OnnxAttribute {
  const a: OnnxAttribute = {
    name: "",
    type: 0,
    f: 0,
    i: 0,
    s: new Uint8Array(0),
    t: null,
    g: null,
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
    refAttrName: "",
  };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.expect("name", wire, BYTES);
        a.name = r.string();
        break;
      case 2:
        r.expect("f", wire, FIXED32);
        a.f = r.float();
        break;
      case 3:
        r.expect("i", wire, VARINT);
        a.i = r.int64("i");
        break;
      case 4:
        r.expect("s", wire, BYTES);
        a.s = r.bytesField();
        break;
      case 5:
        r.expect("t", wire, BYTES);
        a.t = readTensor(r.message(`${r.where}.t`), "attribute tensor");
        break;
      case 6:
        r.expect("g", wire, BYTES);
        a.g = readGraph(r.message(`${r.where}.g`), depth + 1);
        break;
      case 7:
        r.floats(wire, "floats", a.floats);
        break;
      case 8:
        r.int64s(wire, "ints", a.ints);
        break;
      case 9:
        r.expect("strings", wire, BYTES);
        a.strings.push(r.text());
        break;
      case 10:
        r.expect("tensors", wire, BYTES);
        a.tensors.push(readTensor(r.message(`${r.where}.tensors`), "attribute tensor"));
        break;
      case 11:
        r.expect("graphs", wire, BYTES);
        a.graphs.push(readGraph(r.message(`${r.where}.graphs`), depth + 1));
        break;
      case 20:
        r.expect("type", wire, VARINT);
        a.type = r.int32("type");
        break;
      case 21:
        r.expect("ref_attr_name", wire, BYTES);
        a.refAttrName = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  if (a.name === "") r.fail("attribute without a name");
  if (a.type === 0) a.type = guessAttributeType(a);
  // A kind whose value field is missing (a damaged file: the kind's byte flipped).
  if (a.type === ATTR.TENSOR && !a.t) r.fail(`attribute '${a.name}' of kind TENSOR has no tensor`);
  return a;
}

/** IR version 1 files carry no type: infer it from the field present. */
function guessAttributeType(a: OnnxAttribute): number {
  if (a.t) return ATTR.TENSOR;
  if (a.g) return ATTR.GRAPH;
  if (a.floats.length) return ATTR.FLOATS;
  if (a.ints.length) return ATTR.INTS;
  if (a.strings.length) return ATTR.STRINGS;
  if (a.tensors.length) return ATTR.TENSORS;
  if (a.graphs.length) return ATTR.GRAPHS;
  if (a.s.length) return ATTR.STRING;
  if (a.f !== 0) return ATTR.FLOAT;
  return ATTR.INT;
}

/** Reads a TensorProto; `kind` names it in messages until its name is known. */
export function readTensor(r: WireReader, kind: string): OnnxTensor {
  const t: OnnxTensor = {
    name: "",
    dataType: 0,
    dims: [],
    raw: null,
    floats: [],
    int32s: [],
    int64s: [],
    doubles: [],
    uint64s: [],
    strings: [],
    external: null,
    where: kind,
  };
  let location = 0;
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.int64s(wire, "dims", t.dims);
        break;
      case 2:
        r.expect("data_type", wire, VARINT);
        t.dataType = r.int32("data_type");
        break;
      case 3:
        r.fail("segmented tensors are not supported");
        break;
      case 4:
        r.floats(wire, "float_data", t.floats);
        break;
      case 5:
        int32sInto(r, wire, t.int32s);
        break;
      case 6:
        r.expect("string_data", wire, BYTES);
        t.strings.push(r.bytesField());
        break;
      case 7:
        r.int64s(wire, "int64_data", t.int64s);
        break;
      case 8:
        r.expect("name", wire, BYTES);
        t.name = r.string();
        break;
      case 9:
        r.expect("raw_data", wire, BYTES);
        t.raw = r.bytesField();
        break;
      case 10:
        r.doubles(wire, "double_data", t.doubles);
        break;
      case 11:
        r.int64s(wire, "uint64_data", t.uint64s);
        break;
      case 13: {
        r.expect("external_data", wire, BYTES);
        const [key, value] = readEntry(r.message(`${r.where}.external_data`));
        (t.external ??= new Map()).set(key, value);
        break;
      }
      case 14:
        r.expect("data_location", wire, VARINT);
        location = r.int32("data_location");
        break;
      default:
        r.skip(wire);
    }
  }
  if (t.name) t.where = `${kind} '${t.name}'`;
  for (const d of t.dims) {
    if (d < 0) throw new ModelError(`ONNX: ${t.where}: negative dimension ${d}`);
  }
  if (location === 1 && t.external === null) {
    throw new ModelError(`ONNX: ${t.where}: data_location EXTERNAL without external_data`);
  }
  if (location !== 1) t.external = null;
  return t;
}

/** int32_data holds int32, int16, int8, uint16, uint8, bool, float16 and bfloat16 bits. */
function int32sInto(r: WireReader, wire: number, out: number[]): void {
  if (wire === VARINT) {
    out.push(r.int32("int32_data"));
    return;
  }
  r.expect("int32_data", wire, BYTES);
  const [start, end] = r.span();
  const sub = new WireReader(r.bytes, r.where, start, end);
  while (!sub.done) out.push(sub.int32("int32_data"));
}

function readEntry(r: WireReader): [string, string] {
  let key = "", value = "";
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === BYTES) key = r.string();
    else if (field === 2 && wire === BYTES) value = r.string();
    else r.skip(wire);
  }
  return [key, value];
}

function readValueInfo(r: WireReader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: "", elemType: 0, dims: null, nonTensor: false };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === BYTES) v.name = r.string();
    else if (field === 2 && wire === BYTES) readType(r.message(`${r.where}.type`), v);
    else r.skip(wire);
  }
  return v;
}

function readType(r: WireReader, v: OnnxValueInfo): void {
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === BYTES) {
      const t = r.message(`${r.where}.tensor_type`);
      while (!t.done) {
        const [f2, w2] = t.tag();
        if (f2 === 1 && w2 === VARINT) v.elemType = t.int32("elem_type");
        else if (f2 === 2 && w2 === BYTES) v.dims = readShape(t.message(`${t.where}.shape`));
        else t.skip(w2);
      }
    } else if (field === 4 || field === 5 || field === 8 || field === 9) {
      v.nonTensor = true;
      r.skip(wire);
    } else r.skip(wire);
  }
}

function readShape(r: WireReader): OnnxDim[] {
  const dims: OnnxDim[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === BYTES) {
      const d = r.message(`${r.where}.dim`);
      let dim: OnnxDim = null;
      while (!d.done) {
        const [f2, w2] = d.tag();
        if (f2 === 1 && w2 === VARINT) dim = d.int64("dim_value");
        else if (f2 === 2 && w2 === BYTES) dim = d.string();
        else d.skip(w2);
      }
      // A negative dim_value means unknown (some exporters write -1).
      dims.push(typeof dim === "number" && dim < 0 ? null : dim);
    } else r.skip(wire);
  }
  return dims;
}
