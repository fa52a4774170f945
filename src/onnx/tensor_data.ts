/**
 * A TensorProto's payload as a typed array: raw_data (little-endian, copied
 * so it is aligned and owned, or, in bytes read here from a path, viewed in
 * place: see {@link ExternalSource.adopt}), the typed fields, or external
 * data in a file beside the model (a path that leaves the model's directory
 * is refused).
 */
import { allocate, byteSize, type DType, dtypeOf, onnxTypeName, type TensorData } from "./dtype.ts";
import type { OnnxTensor } from "./model.ts";
import { ModelError } from "./wire.ts";

/** A tensor with its element type, shape and data. */
export interface ConstTensor {
  type: DType;
  dims: number[];
  data: TensorData;
  /** float16 in the model (held as float32). */
  half?: boolean;
}

/** Where external data files are looked for: the model's directory, or none (bytes given). */
export interface ExternalSource {
  /** The model's directory (real path). */
  dir: string;
  /** Files read so far, by real path. */
  files: Map<string, Uint8Array>;
  /** Reads a whole file (default `Deno.readFileSync`). */
  read?: (path: string) => Uint8Array;
  /**
   * The model's bytes and the external files were read here and nothing
   * else holds them: float32 data is viewed where it lies rather than
   * copied, raw_data first moved back onto a 4-byte boundary over its own
   * field's tag and length (see adoptFloats).
   */
  adopt?: boolean;
}

/** Largest tensor we materialize (elements): bounds allocations a hostile header could ask for. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Element count of dims, checked against the limit. */
export function elementCount(dims: readonly number[], where: string): number {
  let n = 1;
  for (const d of dims) n *= d;
  if (n > MAX_TENSOR_ELEMENTS) {
    throw new ModelError(`ONNX: ${where}: ${n} elements exceed the limit ${MAX_TENSOR_ELEMENTS}`);
  }
  return n;
}

/** ONNX's FLOAT16. */
export const FLOAT16 = 10;

/**
 * The tensor's data as an aligned typed array of its type: fresh, or, with
 * `external.adopt`, float32 data viewed in the bytes read (adoptFloats). float16
 * data comes out as float32 (every half is a float exactly): models with
 * half tensors run in float32, as ONNX Runtime's CPU provider runs them.
 * `floats` allocates float32 data where the caller wants it from elsewhere
 * than V8's allocator (not necessarily zeroed: every element is written here).
 */
export function materialize(
  t: OnnxTensor,
  external: ExternalSource | null,
  floats?: (size: number) => Float32Array,
): ConstTensor {
  if (t.dataType === FLOAT16) return materializeHalf(t, external);
  if (t.dataType === BFLOAT16) return materializeBfloat16(t, external);
  if (t.dataType === UINT4 || t.dataType === INT4) return materializeNibbles(t, external);
  const type = dtypeOf(t.dataType);
  if (type === null) {
    throw new ModelError(
      `ONNX: ${t.where}: data type ${onnxTypeName(t.dataType)} is not supported`,
    );
  }
  const size = elementCount(t.dims, t.where);
  const bytes = size * byteSize(type);
  // Every length is checked before the allocation: a hostile header cannot ask for gigabytes.
  let source: Uint8Array | null = null;
  if (t.external !== null) source = readExternal(t, external, bytes);
  else if (t.raw !== null) {
    if (t.raw.length !== bytes) {
      throw new ModelError(
        `ONNX: ${t.where}: raw_data has ${t.raw.length} bytes, expected ${bytes} for ${type}[${
          t.dims.join(", ")
        }]`,
      );
    }
    source = t.raw;
  } else {
    const have = fieldOf(t, type).length;
    if (have !== size) {
      throw new ModelError(
        `ONNX: ${t.where}: ${have} values for ${type}[${t.dims.join(", ")}] (${size} elements)`,
      );
    }
  }
  const adopted = type === "float32" && source !== null && external?.adopt === true
    ? adoptFloats(t, source, size)
    : null;
  if (adopted !== null) return { type, dims: t.dims.slice(), data: adopted };
  const data = type === "float32" && floats ? floats(size) : allocate(type, size);
  if (source !== null) copyBytes(data, source, t.where);
  else fromFields(fieldOf(t, type), data, size);
  return { type, dims: t.dims.slice(), data };
}

/** ONNX's UINT4 and INT4 (two per byte, the first element in the low nibble). */
export const UINT4 = 21, INT4 = 22;

/**
 * A 4-bit tensor as one byte per element: uint4 as uint8, int4 as int8
 * (sign-extended) — DequantizeLinear reads them as it reads 8-bit values.
 * raw_data (or external data) holds ⌈n/2⌉ bytes; int32_data one byte each.
 */
function materializeNibbles(t: OnnxTensor, external: ExternalSource | null): ConstTensor {
  const size = elementCount(t.dims, t.where), bytes = Math.ceil(size / 2);
  let source: Uint8Array;
  if (t.external !== null) source = readExternal(t, external, bytes);
  else if (t.raw !== null) source = t.raw;
  else source = Uint8Array.from(t.int32s);
  if (source.length !== bytes) {
    throw new ModelError(
      `ONNX: ${t.where}: ${source.length} bytes for ${size} 4-bit values (${bytes} expected)`,
    );
  }
  const signed = t.dataType === INT4;
  const data = signed ? new Int8Array(size) : new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const v = (source[i >> 1] >> ((i & 1) * 4)) & 15;
    data[i] = signed && v > 7 ? v - 16 : v;
  }
  return { type: signed ? "int8" : "uint8", dims: t.dims.slice(), data };
}

/** A float16 tensor as float32: raw_data or external bytes, or int32_data holding each half's bits. */
function materializeHalf(t: OnnxTensor, external: ExternalSource | null): ConstTensor {
  const size = elementCount(t.dims, t.where), bytes = 2 * size;
  let source: Uint8Array | null = null;
  if (t.external !== null) source = readExternal(t, external, bytes);
  else if (t.raw !== null) source = t.raw;
  let halves: Float16Array;
  if (source !== null) {
    if (source.length !== bytes) {
      throw new ModelError(
        `ONNX: ${t.where}: raw_data has ${source.length} bytes, expected ${bytes} for float16[${
          t.dims.join(", ")
        }]`,
      );
    }
    halves = new Float16Array(size);
    new Uint8Array(halves.buffer).set(source); // copied: raw_data may be unaligned
  } else {
    if (t.int32s.length !== size) {
      throw new ModelError(
        `ONNX: ${t.where}: ${t.int32s.length} values for float16[${
          t.dims.join(", ")
        }] (${size} elements)`,
      );
    }
    halves = new Float16Array(Uint16Array.from(t.int32s).buffer);
  }
  const data = new Float32Array(size);
  data.set(halves);
  return { type: "float32", dims: t.dims.slice(), data, half: true };
}

/** ONNX's BFLOAT16 element type. */
export const BFLOAT16 = 16;

/**
 * bfloat16 data (raw_data pairs of bytes, or int32_data of 16-bit patterns) as float32 —
 * exact: a bfloat16 is a float32's upper half. Weights stored at half size; a Cast to
 * float of them is then the identity.
 */
function materializeBfloat16(t: OnnxTensor, external: ExternalSource | null): ConstTensor {
  const size = elementCount(t.dims, t.where), bytes = 2 * size;
  let source: Uint8Array | null = null;
  if (t.external !== null) source = readExternal(t, external, bytes);
  else if (t.raw !== null) source = t.raw;
  const bits = new Uint16Array(size);
  if (source !== null) {
    if (source.length !== bytes) {
      throw new ModelError(
        `ONNX: ${t.where}: raw_data has ${source.length} bytes, expected ${bytes} for bfloat16[${
          t.dims.join(", ")
        }]`,
      );
    }
    new Uint8Array(bits.buffer).set(source); // copied: raw_data may be unaligned
  } else {
    if (t.int32s.length !== size) {
      throw new ModelError(
        `ONNX: ${t.where}: ${t.int32s.length} values for bfloat16[${
          t.dims.join(", ")
        }] (${size} elements)`,
      );
    }
    bits.set(t.int32s);
  }
  const words = new Uint32Array(size);
  for (let i = 0; i < size; i++) words[i] = bits[i] << 16;
  return { type: "float32", dims: t.dims.slice(), data: new Float32Array(words.buffer) };
}

/** Raw data this short may sit behind a 2-byte header (tag, 1-byte length): too little room to move back 3. */
const ADOPT_MIN_BYTES = 128;

/**
 * `source`'s floats viewed where they lie, or null (then copied). raw_data
 * off a 4-byte boundary (most of a model's: exporters align nothing) moves
 * back onto one first, over the 1-3 bytes before it: its own field's tag
 * and length, which the reader has parsed and nothing reads again; `t.raw`
 * then names the moved bytes, so a second materialize of `t` views them.
 * External data (`t.raw` null) is viewed only where it is aligned. Why:
 * a copy touches every page of the weights twice more (the read bytes and
 * the copy's fresh pages), and on this project's guests the first touch
 * of a page by a process costs microseconds (scratch: a V8 profile of
 * MobileNetV2's create had the copy as its largest piece). Measured by
 * `bench/create_from_file.ts` (README, stop 73): the BERT layer's 27 MB
 * create from its path ×0.89-0.97 → ×1.21-1.33 of ORT's.
 */
function adoptFloats(t: OnnxTensor, source: Uint8Array, size: number): Float32Array | null {
  const shift = source.byteOffset & 3;
  if (shift !== 0) {
    if (t.raw !== source || source.length < ADOPT_MIN_BYTES) return null;
    const span = new Uint8Array(source.buffer, source.byteOffset - shift, source.length + shift);
    span.copyWithin(0, shift);
    source = t.raw = span.subarray(0, source.length);
  }
  return new Float32Array(source.buffer, source.byteOffset, size);
}

function copyBytes(data: TensorData, bytes: Uint8Array, where: string): void {
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length !== out.length) {
    throw new ModelError(`ONNX: ${where}: ${bytes.length} bytes of data, expected ${out.length}`);
  }
  out.set(bytes); // little-endian on x86-64: the wire order is the memory order
}

/** The typed field that holds a type's values. */
function fieldOf(t: OnnxTensor, type: DType): number[] {
  return type === "float32"
    ? t.floats
    : type === "float64"
    ? t.doubles
    : type === "int64"
    ? t.int64s
    : type === "uint32" || type === "uint64"
    ? t.uint64s
    : t.int32s;
}

function fromFields(src: number[], data: TensorData, size: number): void {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < size; i++) data[i] = BigInt(src[i]);
  } else {
    for (let i = 0; i < size; i++) (data as Float32Array)[i] = src[i];
  }
}

function readExternal(t: OnnxTensor, ext: ExternalSource | null, bytes: number): Uint8Array {
  const info = t.external!;
  if (ext === null) {
    throw new ModelError(
      `ONNX: ${t.where}: external data needs the model's directory: create the session from a path`,
    );
  }
  const location = info.get("location") ?? "";
  const path = resolveInside(ext.dir, location, t.where);
  let file = ext.files.get(path);
  if (file === undefined) {
    try {
      file = (ext.read ?? Deno.readFileSync)(path);
    } catch (e) {
      throw new ModelError(
        `ONNX: ${t.where}: cannot read external data '${location}': ${(e as Error).message}`,
      );
    }
    ext.files.set(path, file);
  }
  const offset = parseCount(info.get("offset") ?? "0", "offset", t.where);
  const length = info.has("length") ? parseCount(info.get("length")!, "length", t.where) : bytes;
  if (length !== bytes) {
    throw new ModelError(`ONNX: ${t.where}: external length ${length}, expected ${bytes} bytes`);
  }
  if (offset + length > file.length) {
    throw new ModelError(
      `ONNX: ${t.where}: external data [${offset}, ${
        offset + length
      }) runs past the end of '${location}' (${file.length} bytes)`,
    );
  }
  return file.subarray(offset, offset + length);
}

function parseCount(s: string, what: string, where: string): number {
  if (!/^[0-9]{1,15}$/.test(s)) {
    throw new ModelError(`ONNX: ${where}: external data ${what} '${s}' is not a byte count`);
  }
  return Number(s);
}

/** The real path of `location` under dir; refuses absolute paths and escapes (.., symlinks). */
function resolveInside(dir: string, location: string, where: string): string {
  const bad = () =>
    new ModelError(
      `ONNX: ${where}: external data location '${location}' leaves the model's directory`,
    );
  if (location === "" || location.startsWith("/") || location.includes("\0")) throw bad();
  const parts = location.split(/[\\/]/);
  if (parts.some((p) => p === "..")) throw bad();
  let real: string;
  try {
    real = Deno.realPathSync(`${dir}/${location}`);
  } catch (e) {
    throw new ModelError(
      `ONNX: ${where}: cannot read external data '${location}': ${(e as Error).message}`,
    );
  }
  if (!real.startsWith(dir.endsWith("/") ? dir : dir + "/")) throw bad();
  return real;
}
