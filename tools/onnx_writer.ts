/**
 * A small ONNX writer (protobuf encoder + graph builder) for tests, the
 * example models of `deno task model` and the benches: it writes models the
 * way exporters do (raw_data initializers, opset imports, symbolic dims).
 *
 * Attributes: a number is an INT, `f(x)` a FLOAT, a string a STRING, a
 * number[] INTS, `fs([...])` FLOATS, `{ tensor }` a TENSOR.
 */

class Bytes {
  buf = new Uint8Array(256);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      this.byte(b);
    } while (x !== 0n);
  }
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** A protobuf message under construction. */
export class Message {
  #b = new Bytes();
  varint(field: number, v: number | bigint): this {
    this.#b.varint(field * 8);
    this.#b.varint(v);
    return this;
  }
  bytes(field: number, data: Uint8Array): this {
    this.#b.varint(field * 8 + 2);
    this.#b.varint(data.length);
    this.#b.raw(data);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Message): this {
    return this.bytes(field, m.done());
  }
  float(field: number, v: number): this {
    this.#b.varint(field * 8 + 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.#b.raw(b);
    return this;
  }
  packedVarints(field: number, vs: readonly (number | bigint)[]): this {
    const inner = new Bytes();
    for (const v of vs) inner.varint(v);
    return this.bytes(field, inner.done());
  }
  packedFloats(field: number, vs: readonly number[]): this {
    return this.bytes(field, new Uint8Array(new Float32Array(vs).buffer));
  }
  done(): Uint8Array {
    return this.#b.done();
  }
}

/** ONNX data type numbers by ONNX Runtime type name. */
export const ONNX_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  uint4: 21,
  int4: 22,
  /** Values truncated to bfloat16 (a float32's upper half, rounded to nearest even). */
  bfloat16: 16,
  /** For declared values only (a classifier's string labels): no tensor of it is written. */
  string: 8,
} as const;
export type WriterType = keyof typeof ONNX_TYPE;

/** A float attribute (plain numbers are INT attributes). */
export function f(v: number): { f: number } {
  return { f: v };
}
/** A FLOATS attribute. */
export function fs(v: number[]): { floats: number[] } {
  return { floats: v };
}

export interface WriterTensor {
  type: WriterType;
  dims: number[];
  data: ArrayLike<number> | BigInt64Array | ArrayLike<bigint>;
  /** Store in the typed fields instead of raw_data. */
  typedFields?: boolean;
}

export type AttrValue =
  | number
  | string
  | number[]
  | string[]
  | { f: number }
  | { floats: number[] }
  | { tensor: WriterTensor }
  | { graph: GraphBuilder }
  /** A TypeProto attribute of a tensor type (ONNX element type number), as Optional's `type`. */
  | { tensorType: number };

/** The typed array of each element type whose raw_data is its elements' bytes as they are. */
const NUMBER_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  float16: Float16Array,
} as const;

/** TensorProto bytes. */
export function tensorMessage(name: string, t: WriterTensor): Message {
  const m = new Message();
  if (t.dims.length) m.packedVarints(1, t.dims);
  m.varint(2, ONNX_TYPE[t.type]);
  m.string(8, name);
  const n = t.data.length;
  if (t.typedFields) {
    if (t.type === "float32") m.packedFloats(4, Array.from(t.data as ArrayLike<number>));
    else if (t.type === "float16") {
      // int32_data holds each half's bits.
      const bits = new Uint16Array(Float16Array.from(t.data as ArrayLike<number>).buffer);
      m.packedVarints(5, Array.from(bits));
    } else if (t.type === "bfloat16") {
      // int32_data holds each value's upper 16 bits (truncated).
      const words = new Uint32Array(Float32Array.from(t.data as ArrayLike<number>).buffer);
      m.packedVarints(5, Array.from(words, (w) => w >>> 16));
    } else if (t.type === "int64") m.packedVarints(7, Array.from(t.data as ArrayLike<bigint>));
    else if (t.type === "uint32" || t.type === "uint64") {
      // uint64_data (field 11) holds both.
      m.packedVarints(11, Array.from(t.data as ArrayLike<number | bigint>, (v) => BigInt(v)));
    } else m.packedVarints(5, Array.from(t.data as ArrayLike<number>));
    return m;
  }
  let raw: Uint8Array;
  const numbers = NUMBER_ARRAYS[t.type as keyof typeof NUMBER_ARRAYS];
  const bigints = t.type === "int64" ? BigInt64Array : t.type === "uint64" ? BigUint64Array : null;
  switch (t.type) {
    case "float32":
    case "float64":
    case "int32":
    case "uint32":
    case "int16":
    case "uint16":
    case "int8":
    case "float16":
      raw = new Uint8Array(numbers.from(t.data as ArrayLike<number>).buffer);
      break;
    case "int64":
    case "uint64": {
      const a = new bigints!(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(t.data[i]);
      raw = new Uint8Array(a.buffer);
      break;
    }
    case "bfloat16": {
      const words = new Uint32Array(Float32Array.from(t.data as ArrayLike<number>).buffer);
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const w = words[i];
        bits[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16; // nearest, ties to even (finite values)
      }
      raw = new Uint8Array(bits.buffer);
      break;
    }
    case "int4":
    case "uint4":
      // Two per byte, the first in the low nibble.
      raw = new Uint8Array(Math.ceil(n / 2));
      for (let i = 0; i < n; i++) raw[i >> 1] |= (Number(t.data[i]) & 15) << ((i & 1) * 4);
      break;
    default:
      raw = Uint8Array.from(t.data as ArrayLike<number>);
  }
  m.bytes(9, raw);
  return m;
}

function attributeMessage(name: string, v: AttrValue): Message {
  const m = new Message().string(1, name);
  if (typeof v === "number") return m.varint(3, v).varint(20, 2);
  if (typeof v === "string") return m.string(4, v).varint(20, 3);
  if (Array.isArray(v)) {
    if (v.length && typeof v[0] === "string") {
      for (const s of v as string[]) m.string(9, s);
      return m.varint(20, 8);
    }
    return m.packedVarints(8, v as number[]).varint(20, 7);
  }
  if ("f" in v) return m.float(2, v.f).varint(20, 1);
  if ("floats" in v) return m.packedFloats(7, v.floats).varint(20, 6);
  if ("graph" in v) return m.message(6, v.graph.graphMessage()).varint(20, 5);
  if ("tensorType" in v) {
    // TypeProto.tensor_type (1) { elem_type (1) }.
    const type = new Message().message(1, new Message().varint(1, v.tensorType));
    return m.message(14, type).varint(20, 13);
  }
  return m.message(5, tensorMessage("", v.tensor)).varint(20, 4);
}

/** A value's type and shape: a dim a size, a symbolic name, or null (unknown: neither). */
function valueInfo(
  name: string,
  type: WriterType,
  dims: (number | string | null)[] | null,
): Message {
  const tt = new Message().varint(1, ONNX_TYPE[type]);
  if (dims !== null) {
    const shape = new Message();
    for (const d of dims) {
      shape.message(
        1,
        d === null
          ? new Message()
          : typeof d === "number"
          ? new Message().varint(1, d)
          : new Message().string(2, d),
      );
    }
    tt.message(2, shape);
  }
  return new Message().string(1, name).message(2, new Message().message(1, tt));
}

/** Builds a graph and its model. */
export class GraphBuilder {
  #nodes: Message[] = [];
  #inits: Message[] = [];
  #inputs: Message[] = [];
  #outputs: Message[] = [];
  #count = 0;
  opset: number;
  irVersion: number;
  name = "graph";
  extraOpsets: [string, number][] = [];

  constructor(opset = 17, irVersion = 8) {
    this.opset = opset;
    this.irVersion = irVersion;
  }

  /** A fresh value name. */
  fresh(prefix = "t"): string {
    return `${prefix}${this.#count++}`;
  }

  input(name: string, type: WriterType, dims: (number | string | null)[] | null): string {
    this.#inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(
    name: string,
    type: WriterType = "float32",
    dims: (number | string | null)[] | null = null,
  ): string {
    this.#outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /**
   * A graph output of ZipMap's type: a sequence of maps from `key` ("int64" or "string") to
   * float32 (ONNX-ML classifiers as scikit-learn's converter writes them by default).
   */
  mapSequenceOutput(name: string, key: "int64" | "string"): string {
    const value = new Message().message(1, new Message().varint(1, ONNX_TYPE.float32));
    const map = new Message().varint(1, key === "int64" ? 7 : 8).message(2, value);
    const sequence = new Message().message(1, new Message().message(5, map));
    this.#outputs.push(
      new Message().string(1, name).message(2, new Message().message(4, sequence)),
    );
    return name;
  }

  initializer(name: string, t: WriterTensor): string {
    this.#inits.push(tensorMessage(name, t));
    return name;
  }

  /** The type `weight` writes: float16 for a half model. */
  floatType: "float32" | "float16" = "float32";

  /**
   * A rotary cache as test models use it: initializers "cos" and "sin" of [positions, half],
   * element i the cosine and sine of i·step (arbitrary angles: the ops read them as given).
   */
  rotaryCache(positions: number, half: number, step: number): [string, string] {
    const table = (f: (v: number) => number) =>
      Array.from({ length: positions * half }, (_, i) => f(i * step));
    return [
      this.initializer("cos", { type: "float32", dims: [positions, half], data: table(Math.cos) }),
      this.initializer("sin", { type: "float32", dims: [positions, half], data: table(Math.sin) }),
    ];
  }

  /** A float initializer (of `floatType`). */
  weight(name: string, dims: number[], data: ArrayLike<number>): string {
    return this.initializer(name, { type: this.floatType, dims, data });
  }

  /** An int64 initializer. */
  ints(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(name, { type: "int64", dims, data: values });
  }

  /** Adds a node; returns its first output. */
  node(
    op: string,
    inputs: string[],
    outputs: string[] | number = 1,
    attrs: Record<string, AttrValue> = {},
    domain = "",
  ): string[] {
    const outs = typeof outputs === "number"
      ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase()))
      : outputs;
    const m = new Message();
    for (const i of inputs) m.string(1, i);
    for (const o of outs) m.string(2, o);
    m.string(3, `${op}_${this.#nodes.length}`);
    m.string(4, op);
    for (const [k, v] of Object.entries(attrs)) m.message(5, attributeMessage(k, v));
    if (domain) m.string(7, domain);
    this.#nodes.push(m);
    return outs;
  }

  /** Adds a one-output node; returns the output's name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.node(op, inputs, out ? [out] : 1, attrs)[0];
  }

  graphMessage(): Message {
    const g = new Message();
    for (const n of this.#nodes) g.message(1, n);
    g.string(2, this.name);
    for (const t of this.#inits) g.message(5, t);
    for (const i of this.#inputs) g.message(11, i);
    for (const o of this.#outputs) g.message(12, o);
    return g;
  }

  /** The serialized ModelProto. */
  toBytes(): Uint8Array {
    const m = new Message().varint(1, this.irVersion).string(2, "njit-writer").string(3, "0.1");
    m.message(7, this.graphMessage());
    m.message(8, new Message().string(1, "").varint(2, this.opset));
    for (const [d, v] of this.extraOpsets) m.message(8, new Message().string(1, d).varint(2, v));
    return m.done();
  }
}

/** A seeded generator of floats in [-scale, scale) (xorshift32). */
export function seededFloats(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32 * 2 - 1) * scale;
  }
  return out;
}
