/**
 * The Tensor of ONNX Runtime's JS API (onnxruntime-common): a type, a typed
 * array and dims, so code written for onnxruntime-node runs unchanged.
 */
import { allocate, type DType, dtypeOfArray, type TensorData } from "../onnx/dtype.ts";

/** Element types a Tensor may hold (ONNX Runtime's names). */
export type TensorType = DType | "float16" | "string";

/**
 * A Tensor's elements: float16 in a Float16Array (ONNX Runtime also takes a Uint16Array of
 * bits), strings in an array of them (a classifier's labels).
 */
export type TensorElements = TensorData | Float16Array | string[];

const ARRAY_OF: Record<TensorType, string> = {
  float16: "Float16Array",
  float32: "Float32Array",
  float64: "Float64Array",
  int64: "BigInt64Array",
  int32: "Int32Array",
  int16: "Int16Array",
  int8: "Int8Array",
  uint64: "BigUint64Array",
  uint32: "Uint32Array",
  uint16: "Uint16Array",
  uint8: "Uint8Array",
  bool: "Uint8Array",
  string: "Array",
};

/** Largest dimension and element count a Tensor takes. */
const MAX_ELEMENTS = 2 ** 31 - 1;

function checkDims(dims: readonly number[], who: string): number {
  if (!Array.isArray(dims)) throw new TypeError(`${who}: dims must be an array of sizes`);
  let size = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d > MAX_ELEMENTS) {
      throw new RangeError(`${who}: dims[${i}] is ${String(d)}, expected an integer ≥ 0`);
    }
    size *= d;
  }
  if (size > MAX_ELEMENTS) throw new RangeError(`${who}: ${size} elements exceed ${MAX_ELEMENTS}`);
  return size;
}

/**
 * A CPU tensor: `new Tensor("float32", data, [1, 3, 224, 224])` or
 * `new Tensor(data, dims)` (type from the array). Plain number arrays are
 * copied into the type's typed array; a typed array is used as is.
 *
 * @example
 * ```ts
 * import { Tensor } from "@njit/core";
 * const t = new Tensor("float32", new Float32Array(6), [2, 3]);
 * console.log(t.type, t.dims, t.size); // float32 [2, 3] 6
 * ```
 */
export class Tensor {
  /** The element type. */
  readonly type: TensorType;
  /** The elements, row-major. */
  readonly data: TensorElements;
  /** The shape. */
  readonly dims: readonly number[];
  /** Element count. */
  readonly size: number;
  /** Always "cpu". */
  readonly location: "cpu" = "cpu";

  /** A tensor of `type` over `data` (a plain array is copied into the type's typed array). */
  constructor(
    type: TensorType,
    data: TensorElements | Uint16Array | readonly number[] | readonly bigint[],
    dims?: readonly number[],
  );
  /** A tensor of the typed array's type (Uint8Array: uint8; Uint16Array: uint16). */
  constructor(data: TensorElements, dims?: readonly number[]);
  constructor(
    a: TensorType | TensorElements,
    b?: TensorElements | Uint16Array | readonly number[] | readonly bigint[] | readonly number[],
    c?: readonly number[],
  ) {
    let type: TensorType, data: unknown, dims: readonly number[] | undefined;
    if (typeof a === "string") {
      type = a;
      data = b;
      dims = c;
      if (!(type in ARRAY_OF)) {
        throw new TypeError(
          `Tensor: type '${String(type)}' is not supported (${Object.keys(ARRAY_OF).join(", ")})`,
        );
      }
    } else if (Array.isArray(a) && a.length > 0 && typeof a[0] === "string") {
      type = "string";
      data = a;
      dims = b as readonly number[] | undefined;
    } else if (a instanceof Float16Array) {
      type = "float16";
      data = a;
      dims = b as readonly number[] | undefined;
    } else {
      const t = dtypeOfArray(a);
      if (t === null) {
        throw new TypeError("Tensor: data must be a typed array when no type is given");
      }
      type = t;
      data = a;
      dims = b as readonly number[] | undefined;
    }
    if (type === "string") {
      // An array of strings, copied first and the copy checked (ONNX Runtime's string
      // tensors): what is checked is what is kept.
      if (!Array.isArray(data)) {
        throw new TypeError("Tensor: a string tensor needs an array of strings");
      }
      data = Array.prototype.slice.call(data);
      if ((data as unknown[]).some((v) => typeof v !== "string")) {
        throw new TypeError("Tensor: a string tensor needs an array of strings");
      }
      const size = checkDims(dims ?? [(data as string[]).length], "Tensor");
      if (size !== (data as string[]).length) {
        throw new RangeError(
          `Tensor: dims [${(dims ?? []).join(", ")}] hold ${size} elements, data has ${
            (data as string[]).length
          }`,
        );
      }
      this.type = type;
      this.data = data as string[];
      this.dims = Object.freeze((dims ?? [size]).slice());
      this.size = size;
      return;
    }
    if (type === "float16" && Array.isArray(data)) data = Float16Array.from(data as number[]);
    // A Uint16Array of half bits, as ONNX Runtime takes it: viewed as a Float16Array.
    if (type === "float16" && data instanceof Uint16Array) {
      data = new Float16Array(data.buffer, data.byteOffset, data.length);
    }
    if (Array.isArray(data)) {
      const arr = allocate(type as DType, data.length);
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (arr instanceof BigInt64Array || arr instanceof BigUint64Array) arr[i] = BigInt(v);
        else (arr as Float32Array)[i] = Number(v);
      }
      data = arr;
    }
    const have = data instanceof Float16Array ? "float16" : dtypeOfArray(data);
    const want = ARRAY_OF[type];
    if (have === null || data!.constructor.name !== want) {
      throw new TypeError(
        `Tensor: a ${type} tensor needs a ${want}, got ${
          data === null || data === undefined ? String(data) : (data as object).constructor.name
        }`,
      );
    }
    const length = (data as TensorElements).length;
    const shape = dims ?? [length];
    const size = checkDims(shape, "Tensor");
    if (size !== length) {
      throw new RangeError(
        `Tensor: dims [${shape.join(", ")}] hold ${size} elements, data has ${length}`,
      );
    }
    this.type = type;
    this.data = data as TensorElements;
    this.dims = Object.freeze(shape.slice());
    this.size = size;
  }

  /** The data (ONNX Runtime's async accessor). */
  getData(): Promise<TensorElements> {
    return Promise.resolve(this.data);
  }

  /** A tensor of the same data with other dims of the same element count. */
  reshape(dims: readonly number[]): Tensor {
    return new Tensor(this.type, this.data, dims);
  }

  /** Nothing to free on the CPU (ONNX Runtime API). */
  dispose(): void {}
}
