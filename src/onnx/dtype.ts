/**
 * Element types: ONNX's TensorProto.DataType numbers, ONNX Runtime's type
 * names, and the typed array that holds each. int64 is a BigInt64Array and
 * uint64 a BigUint64Array, as ONNX Runtime's JS API gives them.
 */

/** The tensor element types a model may use (ONNX Runtime's names). */
export type DType =
  | "float32"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint64"
  | "uint32"
  | "uint16"
  | "uint8"
  | "bool";

/** A tensor's elements. bool is a Uint8Array of 0/1. */
export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** Integer types and their least and greatest values (64-bit ones as bigints: their arrays'). */
const INTEGER_RANGES: Readonly<Record<string, readonly [number | bigint, number | bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int8: [-128, 127],
  uint64: [0n, 2n ** 64n - 1n],
  uint32: [0, 2 ** 32 - 1],
  uint16: [0, 2 ** 16 - 1],
  uint8: [0, 255],
};

/** The numeric types (every type but bool), floats first. */
export const NUMERIC_TYPES: readonly DType[] = [
  "float32",
  "float64",
  "int64",
  "int32",
  "int16",
  "int8",
  "uint64",
  "uint32",
  "uint16",
  "uint8",
];

/** Whether t's elements are bigints (int64, uint64). */
export function isBigIntType(t: DType): t is "int64" | "uint64" {
  return t === "int64" || t === "uint64";
}

/** An integer type's least and greatest value (bigints for int64), or null for other types. */
export function integerRange(t: DType): readonly [number | bigint, number | bigint] | null {
  return INTEGER_RANGES[t] ?? null;
}

/** TensorProto.DataType → our type, for the types we run. */
const FROM_ONNX: Record<number, DType> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  9: "bool",
  11: "float64",
  12: "uint32",
  13: "uint64",
};

/** ONNX names of every TensorProto.DataType, for messages. */
const ONNX_NAMES: Record<number, string> = {
  0: "UNDEFINED",
  1: "FLOAT",
  2: "UINT8",
  3: "INT8",
  4: "UINT16",
  5: "INT16",
  6: "INT32",
  7: "INT64",
  8: "STRING",
  9: "BOOL",
  10: "FLOAT16",
  11: "DOUBLE",
  12: "UINT32",
  13: "UINT64",
  14: "COMPLEX64",
  15: "COMPLEX128",
  16: "BFLOAT16",
  17: "FLOAT8E4M3FN",
  18: "FLOAT8E4M3FNUZ",
  19: "FLOAT8E5M2",
  20: "FLOAT8E5M2FNUZ",
  21: "UINT4",
  22: "INT4",
};

/** Our type for an ONNX data type number, or null when we do not run it. */
export function dtypeOf(onnx: number): DType | null {
  return FROM_ONNX[onnx] ?? null;
}

/** "FLOAT16 (10)" */
export function onnxTypeName(onnx: number): string {
  return `${ONNX_NAMES[onnx] ?? "unknown type"} (${onnx})`;
}

/** Bytes per element. */
export function byteSize(t: DType): number {
  switch (t) {
    case "float64":
    case "int64":
    case "uint64":
      return 8;
    case "float32":
    case "int32":
    case "uint32":
      return 4;
    case "int16":
    case "uint16":
      return 2;
    default:
      return 1;
  }
}

/** A zeroed array of `size` elements of type t. */
export function allocate(t: DType, size: number): TensorData {
  switch (t) {
    case "float32":
      return new Float32Array(size);
    case "float64":
      return new Float64Array(size);
    case "int64":
      return new BigInt64Array(size);
    case "int32":
      return new Int32Array(size);
    case "int16":
      return new Int16Array(size);
    case "int8":
      return new Int8Array(size);
    case "uint64":
      return new BigUint64Array(size);
    case "uint32":
      return new Uint32Array(size);
    case "uint16":
      return new Uint16Array(size);
    default:
      return new Uint8Array(size);
  }
}

/** A view of t's element type over a buffer (offset in bytes, aligned to the element). */
export function viewOf(
  t: DType,
  buffer: ArrayBuffer,
  byteOffset: number,
  size: number,
): TensorData {
  switch (t) {
    case "float32":
      return new Float32Array(buffer, byteOffset, size);
    case "float64":
      return new Float64Array(buffer, byteOffset, size);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, size);
    case "int32":
      return new Int32Array(buffer, byteOffset, size);
    case "int16":
      return new Int16Array(buffer, byteOffset, size);
    case "int8":
      return new Int8Array(buffer, byteOffset, size);
    case "uint64":
      return new BigUint64Array(buffer, byteOffset, size);
    case "uint32":
      return new Uint32Array(buffer, byteOffset, size);
    case "uint16":
      return new Uint16Array(buffer, byteOffset, size);
    default:
      return new Uint8Array(buffer, byteOffset, size);
  }
}

/** The type a typed array holds, or null for other arrays (bool cannot be told from uint8). */
export function dtypeOfArray(a: unknown): DType | null {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof BigUint64Array) return "uint64";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof Uint16Array) return "uint16";
  if (a instanceof Uint8Array) return "uint8";
  return null;
}
