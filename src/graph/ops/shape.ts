/**
 * Shape plumbing: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
 * Identity, Dropout (inference), Expand, ConstantOfShape, Range, Cast. The
 * reshaping ops alias their input (no copy); ops whose result follows from
 * shapes give it as known data, so the planner folds them.
 */
import {
  allocate,
  byteSize,
  type DType,
  dtypeOf,
  isBigIntType,
  onnxTypeName,
  type TensorData,
} from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { copyStep, StridedCopy } from "./copy.ts";
import { broadcastStrides } from "./binary.ts";
import {
  axisOf,
  checkedSize,
  fail,
  knownInts,
  knownNumbers,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";

function int64s(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

const SHAPE: OpDef = {
  attributes: ["start", "end"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    const r = x.dims.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const start = clamp(n.attrs.int("start", 0)), end = clamp(n.attrs.int("end", r));
    const dims = x.dims.slice(start, Math.max(start, end));
    return [{ type: "int64", dims: [dims.length], data: int64s(dims) }];
  },
  build: () => null,
};

const SIZE: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    return [{ type: "int64", dims: [], data: int64s([sizeOf(x.dims)]) }];
  },
  build: () => null,
};

/** Output 0 = input 0 under new dims; known data passes through. */
function aliasMeta(x: Meta, dims: number[]): Meta {
  return { type: x.type, dims, data: x.data };
}

const RESHAPE: OpDef = {
  attributes: ["allowzero"],
  alias: true,
  infer(n, ins) {
    const [x, s] = need(n, ins, 2);
    const shape = knownInts(n, s, "shape");
    const allowZero = n.attrs.int("allowzero", 0) === 1;
    const dims: number[] = [];
    let infer = -1;
    for (let i = 0; i < shape.length; i++) {
      let d = shape[i];
      if (d === 0 && !allowZero) {
        if (i >= x.dims.length) fail(n, `shape[${i}] is 0 but the input has rank ${x.dims.length}`);
        d = x.dims[i];
      } else if (d === -1) {
        if (infer >= 0) fail(n, "shape has more than one -1");
        infer = i;
        d = 1;
      } else if (d < 0) fail(n, `shape[${i}] is ${d}`);
      dims.push(d);
    }
    const total = sizeOf(x.dims);
    if (infer >= 0) {
      const rest = sizeOf(dims);
      if (rest === 0 || total % rest !== 0) {
        fail(n, `cannot reshape [${x.dims.join(", ")}] to [${shape.join(", ")}]`);
      }
      dims[infer] = total / rest;
    }
    if (sizeOf(dims) !== total) {
      fail(n, `cannot reshape [${x.dims.join(", ")}] (${total} elements) to [${dims.join(", ")}]`);
    }
    return [aliasMeta(x, dims)];
  },
  build: () => null,
};

const FLATTEN: OpDef = {
  attributes: ["axis"],
  alias: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    const r = x.dims.length;
    let axis = n.attrs.int("axis", 1);
    if (axis < -r || axis > r) fail(n, `axis ${axis} out of range for rank ${r}`);
    if (axis < 0) axis += r;
    return [aliasMeta(x, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))])];
  },
  build: () => null,
};

/** Squeeze/Unsqueeze axes: the attribute before opset 13, the optional input from 13. */
function axesOf(n: Node, ins: readonly (Meta | null)[]): number[] | null {
  if (n.opset < 13) return n.attrs.ints("axes");
  if (n.attrs.has("axes")) fail(n, `'axes' is an input from opset 13, not an attribute`);
  return ins[1] ? knownInts(n, ins[1], "axes") : null;
}

const SQUEEZE: OpDef = {
  attributes: ["axes"],
  alias: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1, 2);
    const r = x.dims.length, axes = axesOf(n, ins);
    const drop = new Set<number>();
    if (axes === null) x.dims.forEach((d, i) => d === 1 && drop.add(i));
    else {
      for (const a of axes) {
        const k = axisOf(n, a, r, "axes");
        if (x.dims[k] !== 1) fail(n, `cannot squeeze axis ${a} of size ${x.dims[k]}`);
        drop.add(k);
      }
    }
    return [aliasMeta(x, x.dims.filter((_, i) => !drop.has(i)))];
  },
  build: () => null,
};

const UNSQUEEZE: OpDef = {
  attributes: ["axes"],
  alias: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1, 2);
    const axes = axesOf(n, ins);
    if (axes === null) fail(n, "axes are required");
    const r = x.dims.length + axes.length;
    const at = new Set(axes.map((a) => axisOf(n, a, r, "axes")));
    if (at.size !== axes.length) fail(n, "axes repeat");
    const dims: number[] = [];
    for (let i = 0, j = 0; i < r; i++) dims.push(at.has(i) ? 1 : x.dims[j++]);
    return [aliasMeta(x, dims)];
  },
  build: () => null,
};

const IDENTITY: OpDef = {
  attributes: [],
  alias: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    return [aliasMeta(x, x.dims)];
  },
  build: () => null,
};

const DROPOUT: OpDef = {
  attributes: ["seed", "ratio", "is_test"],
  alias: true,
  infer(n, ins) {
    const [x] = need(n, ins, 1, 3);
    // Training mode drops at random, except at ratio 0 (the identity, its mask all true): fed,
    // the session keys its plans by the flag's and the ratio's values (the message says so).
    if (ins[2]) {
      if (ins[2].data === null) fail(n, "training_mode must be known when the plan is made");
      const ratio = ins[1] ? ins[1].data : null;
      if (Number(ins[2].data[0]) !== 0) {
        if (ins[1] && ratio === null) fail(n, "ratio must be known when the plan is made");
        if (ratio !== null && Number(ratio[0]) !== 0) {
          fail(n, `training_mode drops at random (ratio ${Number(ratio[0])}): not supported`);
        }
        if (!ins[1] && n.attrs.float("ratio", 0.5) !== 0) {
          fail(n, "training_mode drops at random (the default ratio 0.5): not supported");
        }
      }
    }
    const out: Meta[] = [aliasMeta(x, x.dims)];
    if (n.outputs.length > 1) {
      out.push({ type: "bool", dims: x.dims, data: new Uint8Array(sizeOf(x.dims)).fill(1) });
    }
    return out;
  },
  build: () => null,
};

const EXPAND: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x, s] = need(n, ins, 2);
    const shape = knownInts(n, s, "shape");
    const r = Math.max(shape.length, x.dims.length), dims: number[] = [];
    for (let i = 0; i < r; i++) {
      const a = x.dims[x.dims.length - r + i] ?? 1, b = shape[shape.length - r + i] ?? 1;
      if (a !== b && a !== 1 && b !== 1) {
        fail(n, `cannot expand [${x.dims.join(", ")}] to [${shape.join(", ")}]`);
      }
      dims.push(a === 1 ? b : a);
    }
    return [meta(x.type, dims)];
  },
  build(_n, ins, outs, env) {
    const x = ins[0]!, y = outs[0];
    const copy = new StridedCopy(y.dims, broadcastStrides(x.dims, y.dims), stridesOf(y.dims));
    return copyStep([[copy, x.data, y.data]], env.jit);
  },
};

const CONSTANT_OF_SHAPE: OpDef = {
  attributes: ["value"],
  infer(n, ins) {
    const [s] = need(n, ins, 1);
    const dims = knownInts(n, s, "shape");
    if (dims.some((d) => d < 0)) fail(n, `shape [${dims.join(", ")}] has a negative size`);
    const v = n.attrs.tensor("value");
    const type: DType = v ? v.type : "float32";
    const data = allocate(type, checkedSize(n, dims));
    if (v) {
      if (v.data.length !== 1) fail(n, "value must hold one element");
      (data as Float32Array).fill(v.data[0] as number);
    }
    return [{ type, dims, data }];
  },
  build: () => null,
};

const RANGE: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [a, b, c] = need(n, ins, 3);
    const [start] = knownNumbers(n, a, "start");
    const [limit] = knownNumbers(n, b, "limit"), [delta] = knownNumbers(n, c, "delta");
    if (a.type !== b.type || a.type !== c.type) fail(n, "start, limit and delta differ in type");
    if (delta === 0) fail(n, "delta is 0");
    const count = checkedSize(n, [Math.max(Math.ceil((limit - start) / delta), 0)]);
    const data = allocate(a.type, count);
    for (let i = 0; i < count; i++) {
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
        data[i] = BigInt(start + i * delta);
      } else (data as Int32Array)[i] = start + i * delta;
    }
    return [{ type: a.type, dims: [count], data }];
  },
  build: () => null,
};

/** Each int64 or uint64 source's 32-bit halves, viewed once. */
const HALVES = new WeakMap<BigInt64Array | BigUint64Array, Int32Array>();

function halvesOf(src: BigInt64Array | BigUint64Array): Int32Array {
  let w = HALVES.get(src);
  if (w === undefined) {
    w = new Int32Array(src.buffer, src.byteOffset, 2 * src.length);
    HALVES.set(src, w);
  }
  return w;
}

/** Converts src into dst's type (ONNX Cast: float → int truncates, → bool tests ≠ 0). */
export function castInto(src: TensorData, dst: TensorData, toBool: boolean): void {
  const n = src.length;
  const bigSrc = src instanceof BigInt64Array || src instanceof BigUint64Array;
  if (dst instanceof BigInt64Array || dst instanceof BigUint64Array) {
    // Between 64-bit types bit for bit (the store wraps: int64 −1 is uint64 2^64 − 1).
    if (bigSrc) dst.set(src as BigInt64Array);
    else {
      for (let i = 0; i < n; i++) {
        const v = Number(src[i]);
        dst[i] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : -(2n ** 63n);
      }
    }
  } else if (toBool) {
    for (let i = 0; i < n; i++) (dst as Uint8Array)[i] = Number(src[i]) !== 0 ? 1 : 0;
  } else if (bigSrc) {
    // Through 32-bit halves: reading a BigInt64Array element allocates a BigInt (the halves'
    // view made once per source, so a run allocates nothing); uint64's high half unsigned.
    const w = halvesOf(src), d = dst as Float32Array;
    if (src instanceof BigUint64Array) {
      for (let i = 0; i < n; i++) d[i] = (w[2 * i + 1] >>> 0) * 4294967296 + (w[2 * i] >>> 0);
    } else {
      for (let i = 0; i < n; i++) d[i] = w[2 * i + 1] * 4294967296 + (w[2 * i] >>> 0);
    }
  } else {
    // Element by element as assignment converts (ToNumber, then the target's conversion),
    // in native code: an int32 → float32 Cast of 393,216 values 265 → ~50 µs.
    (dst as Float32Array).set(src as Float32Array);
  }
}

/**
 * BitCast (opset 26): the input's bytes as another type of the same width (float32 ↔ int32,
 * float64 ↔ int64, int8 ↔ uint8, bool → int8 or uint8: a bool's byte is 0 or 1; little-endian,
 * as this machine is). Not to bool: a byte other than 0 and 1 is no bool.
 */
const BIT_CAST: OpDef = {
  attributes: ["to"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    const to = n.attrs.int("to", 0), type = dtypeOf(to);
    const width = (t: DType) => (t === "bool" ? 1 : byteSize(t));
    if (type === null || type === "bool" || width(type) !== width(x.type)) {
      fail(n, `bitcast of ${x.type} to ${onnxTypeName(to)} is not supported`);
    }
    return [meta(type, x.dims)];
  },
  build(_n, ins, outs) {
    const x = ins[0]!.data, y = outs[0].data;
    const from = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const into = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
    return { native: false, run: () => into.set(from) };
  },
};

const CAST: OpDef = {
  attributes: ["to", "saturate"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    const to = n.attrs.int("to", 0), type = dtypeOf(to);
    if (type === null) fail(n, `cast to ${onnxTypeName(to)} is not supported`);
    return [meta(type, x.dims)];
  },
  alias: false,
  build(_n, ins, outs, env) {
    const x = ins[0]!, y = outs[0];
    if (x.type === y.type) {
      // A float16 model's casts to half load as float32 → float32 (half.ts rounds after):
      // a copy, native where the copy family takes it (4- and 8-byte elements: one stretch
      // off the event loop), else the typed array's own bulk copy (not an element loop).
      const n = x.data.length;
      const step = copyStep([[new StridedCopy([n], [1], [1]), x.data, y.data]], env.jit);
      if (step.native) return step;
      return { native: false, run: () => (y.data as Uint8Array).set(x.data as Uint8Array) };
    }
    return { native: false, run: () => castInto(x.data, y.data, y.type === "bool") };
  },
};

/** CastLike (opset 15): Cast to the second input's type. */
const CAST_LIKE: OpDef = {
  attributes: ["saturate"],
  infer(n, ins) {
    const [x, like] = need(n, ins, 2);
    // Only the second input's type counts: a known first input folds whatever the second is
    // (ONNX's function bodies cast constants like a computed tensor: Attention's −∞ fed to a
    // Pad as its constant_value).
    if (x.data !== null) {
      const data = allocate(like.type, checkedSize(n, x.dims));
      castInto(x.data, data, like.type === "bool");
      return [{ type: like.type, dims: x.dims, data }];
    }
    return [meta(like.type, x.dims)];
  },
  build: (n, ins, outs, env) => CAST.build(n, ins, outs, env),
};

/** EyeLike: ones on diagonal k of a 2-D tensor's shape (its type, or dtype's). */
const EYE_LIKE: OpDef = {
  attributes: ["dtype", "k"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    if (x.dims.length !== 2) fail(n, "input must be 2-D");
    const to = n.attrs.int("dtype", 0), type = to ? dtypeOf(to) : x.type;
    if (type === null) fail(n, `dtype ${onnxTypeName(to)} is not supported`);
    const [r, c] = x.dims, k = n.attrs.int("k", 0), data = allocate(type, checkedSize(n, [r, c]));
    const one = (isBigIntType(type) ? 1n : 1) as number;
    for (let i = 0; i < r; i++) {
      const j = i + k;
      if (j >= 0 && j < c) (data as Float32Array)[i * c + j] = one;
    }
    return [{ type, dims: [r, c], data }];
  },
  build: () => null,
};

/** The shape op definitions by ONNX name. */
export const SHAPE_OPS: Record<string, OpDef> = {
  EyeLike: EYE_LIKE,
  CastLike: CAST_LIKE,
  Shape: SHAPE,
  Size: SIZE,
  Reshape: RESHAPE,
  Flatten: FLATTEN,
  Squeeze: SQUEEZE,
  Unsqueeze: UNSQUEEZE,
  Identity: IDENTITY,
  Dropout: DROPOUT,
  Expand: EXPAND,
  ConstantOfShape: CONSTANT_OF_SHAPE,
  Range: RANGE,
  Cast: CAST,
  BitCast: BIT_CAST,
};
