/**
 * ONNX-ML's encoders of numbers (domain ai.onnx.ml), as ONNX Runtime's CPU
 * kernels compute them: LabelEncoder (opsets 2 and 4: keys to values by
 * int64, float or double keys — the first of equal keys kept —, the default
 * for any other; a NaN finds a NaN key at opset 4 only), OneHotEncoder
 * (int64 categories; x cast to int64, its category's position set to 1 in
 * a new last axis, an unknown one all zeros or, with zeros = 0, refused)
 * and FeatureVectorizer (inputs' columns side by side, each cut or padded
 * with zeros to its inputdimensions). String keys and categories are not
 * run (string tensors are not).
 */
import type { DType } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { expectType, fail, meta, need, type OpDef, sizeOf } from "./op.ts";

/** A LabelEncoder's keys, values (as their typed arrays' elements), default and types. */
interface Mapping {
  keyType: DType;
  valueType: DType;
  keys: (number | bigint)[];
  values: (number | bigint)[];
  fallback: number | bigint;
  /** Opset 4 matches a NaN to a NaN key. */
  nanKeys: boolean;
}

const TENSOR_TYPES: readonly DType[] = ["int64", "float32", "float64"];

/** The keys or values of `names` (an attribute of each kind), or of a tensor attribute. */
function listOf(
  n: Node,
  ints: string,
  floats: string,
  tensor: string,
): [DType, (number | bigint)[]] | null {
  const t = n.attrs.tensor(tensor);
  if (t) {
    if (!TENSOR_TYPES.includes(t.type)) fail(n, `${tensor} of ${t.type} is not supported`);
    return [t.type, Array.from(t.data as ArrayLike<number | bigint>)];
  }
  const i = n.attrs.ints(ints);
  if (i) return ["int64", i.map((v) => BigInt(v))];
  const f = n.attrs.floats(floats);
  if (f) return ["float32", f.map(Math.fround)];
  return null;
}

function mappingOf(n: Node): Mapping {
  if (n.attrs.strings("keys_strings") || n.attrs.strings("values_strings")) {
    fail(n, "string keys and values are not supported (string tensors are not)");
  }
  const keys = listOf(n, "keys_int64s", "keys_floats", "keys_tensor");
  const values = listOf(n, "values_int64s", "values_floats", "values_tensor");
  if (!keys || !values) fail(n, "keys and values are required");
  if (keys[1].length !== values[1].length) {
    fail(n, `${keys[1].length} keys for ${values[1].length} values`);
  }
  const valueType = values[0];
  const t = n.attrs.tensor("default_tensor");
  let fallback: number | bigint;
  if (t && t.data.length > 0) {
    if (t.type !== valueType) fail(n, `default_tensor is ${t.type}, the values ${valueType}`);
    fallback = (t.data as ArrayLike<number | bigint>)[0];
  } else if (valueType === "int64") fallback = BigInt(n.attrs.int("default_int64", -1));
  else fallback = Math.fround(n.attrs.float("default_float", -0));
  return {
    keyType: keys[0],
    valueType,
    keys: keys[1],
    values: values[1],
    fallback,
    nanKeys: n.opset >= 4,
  };
}

const LABEL_ENCODER: OpDef = {
  attributes: [
    "default_float",
    "default_int64",
    "default_string",
    "default_tensor",
    "keys_floats",
    "keys_int64s",
    "keys_strings",
    "keys_tensor",
    "values_floats",
    "values_int64s",
    "values_strings",
    "values_tensor",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    if (n.opset < 2) fail(n, "LabelEncoder before opset 2 (strings only) is not supported");
    const m = mappingOf(n);
    expectType(n, x, 0, m.keyType);
    return [meta(m.valueType, x.dims)];
  },
  build(n, ins, outs) {
    const m = mappingOf(n), map = new Map<number | bigint, number | bigint>();
    for (let i = 0; i < m.keys.length; i++) {
      if (!map.has(m.keys[i])) map.set(m.keys[i], m.values[i]);
    }
    const x = ins[0]!.data as unknown as ArrayLike<number | bigint>;
    const y = outs[0].data as unknown as (number | bigint)[];
    const nanMatches = m.nanKeys;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < y.length; i++) {
          const k = x[i];
          // A Map finds NaN by NaN; opset 2 (C++'s ==) never does.
          const v = !nanMatches && typeof k === "number" && Number.isNaN(k)
            ? undefined
            : map.get(k);
          y[i] = v === undefined ? m.fallback : v;
        }
      },
    };
  },
};

const ONE_HOT_ENCODER: OpDef = {
  attributes: ["cats_int64s", "cats_strings", "zeros"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "int64", "int32", "float32", "float64");
    if (x.dims.length > 2) fail(n, `X must have rank ≤ 2, got ${x.dims.length}`);
    if (n.attrs.strings("cats_strings")) fail(n, "string categories are not supported");
    const cats = n.attrs.ints("cats_int64s");
    if (!cats || cats.length === 0) fail(n, "cats_int64s (one category or more) is required");
    return [meta("float32", [...x.dims, cats.length])];
  },
  build(n, ins, outs) {
    const cats = n.attrs.ints("cats_int64s")!, zeros = n.attrs.int("zeros", 1) !== 0;
    // The last of equal categories wins (a map assigned in order).
    const at = new Map<bigint, number>(cats.map((c, i) => [BigInt(c), i]));
    const x = ins[0]!.data as unknown as ArrayLike<number | bigint>;
    const y = outs[0].data as Float32Array, count = cats.length;
    return {
      native: false,
      run: () => {
        y.fill(0);
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          // Cast to int64 as C++ does (toward zero); a NaN or infinity is no category.
          const k = typeof v === "bigint" ? v : Number.isFinite(v) ? BigInt(Math.trunc(v)) : null;
          const j = k === null ? undefined : at.get(k);
          if (j !== undefined) y[i * count + j] = 1;
          else if (!zeros) {
            throw new RangeError(`${n.op} node '${n.name}': ${v} is no category and zeros is 0`);
          }
        }
      },
    };
  },
};

const FEATURE_VECTORIZER: OpDef = {
  attributes: ["inputdimensions"],
  infer(n, ins) {
    const xs = need(n, ins, 1, 64);
    const dims = n.attrs.ints("inputdimensions");
    if (!dims || dims.length !== xs.length) {
      fail(n, `inputdimensions must give one size for each of the ${xs.length} inputs`);
    }
    let rows = -1;
    xs.forEach((x, i) => {
      expectType(n, x, i, "int32", "int64", "float32", "float64");
      const r = x.dims.length <= 1 ? 1 : x.dims[0];
      if (rows >= 0 && r !== rows) fail(n, `input ${i} has ${r} rows, input 0 ${rows}`);
      rows = r;
      if (dims[i] < 0) fail(n, `inputdimensions[${i}] is negative`);
    });
    return [meta("float32", [rows, dims.reduce((a, b) => a + b, 0)])];
  },
  build(n, ins, outs) {
    const dims = n.attrs.ints("inputdimensions")!, width = dims.reduce((a, b) => a + b, 0);
    const y = outs[0].data as Float32Array, rows = y.length / Math.max(width, 1);
    const parts = ins.map((b, i) => {
      const x = b!.data as unknown as ArrayLike<number | bigint>;
      const cols = b!.dims.length <= 1 ? sizeOf(b!.dims) : sizeOf(b!.dims) / b!.dims[0];
      const offset = dims.slice(0, i).reduce((a, v) => a + v, 0);
      return { x, cols, offset, take: Math.min(cols, dims[i]) };
    });
    return {
      native: false,
      run: () => {
        y.fill(0);
        for (let r = 0; r < rows; r++) {
          for (const p of parts) {
            for (let j = 0; j < p.take; j++) {
              y[r * width + p.offset + j] = Number(p.x[r * p.cols + j]);
            }
          }
        }
      },
    };
  },
};

/** The ai.onnx.ml encoders. */
/**
 * CategoryMapper (strings ↔ int64): run as the LabelEncoder graph/load.ts makes of it where its
 * string side is the model's edge (a string input, or a string output); anywhere else its
 * strings would be a value inside the graph, which is refused here, by name.
 */
const CATEGORY_MAPPER: OpDef = {
  attributes: ["cats_int64s", "cats_strings", "default_int64", "default_string"],
  infer(n) {
    fail(
      n,
      "its string side must be a model input or output (strings are no tensor inside the graph here)",
    );
  },
  build: () => null,
};

export const ML_ENCODER_OPS: Record<string, OpDef> = {
  CategoryMapper: CATEGORY_MAPPER,
  LabelEncoder: LABEL_ENCODER,
  OneHotEncoder: ONE_HOT_ENCODER,
  FeatureVectorizer: FEATURE_VECTORIZER,
};
