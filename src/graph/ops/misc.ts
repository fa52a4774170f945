/**
 * Small ops computed in TypeScript (none is where a model spends its time):
 * the integer BitShift and Bitwise{And, Or,
 * Xor, Not} (numpy broadcasting), Compress (its output's length is its
 * condition's values: planned per run when they are computed), Hann,
 * Hamming and Blackman windows (periodic or symmetric, as ONNX defines them
 * in float64 then cast), MeanVarianceNormalization and ReverseSequence.
 */
import { allocate, type DType, isBigIntType, type TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { axisOf, expectType, fail, knownInts, meta, need, type OpDef, sizeOf } from "./op.ts";

const INTS: DType[] = ["int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8"];

/** Output dims of numpy broadcasting, or an error naming the node. */
function broadcast(n: Node, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(n, `shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Element i of y's index in a broadcast operand of dims `d` (y dims `out`). */
function sourceIndex(i: number, out: readonly number[], d: readonly number[]): number {
  let at = 0, stride = 1;
  for (let k = out.length - 1, j = d.length - 1; k >= 0; k--, j--) {
    const coord = Math.floor(i / sizeOf(out.slice(k + 1))) % out[k];
    if (j >= 0) {
      if (d[j] !== 1) at += coord * stride;
      stride *= d[j];
    }
  }
  return at;
}

/** Bit widths of the integer types (for shifts and Not). */
const BITS: Partial<Record<DType, number>> = {
  int64: 64,
  int32: 32,
  int16: 16,
  int8: 8,
  uint64: 64,
  uint32: 32,
  uint16: 16,
  uint8: 8,
};

function bitwiseDef(op: "and" | "or" | "xor" | "shift"): OpDef {
  return {
    attributes: op === "shift" ? ["direction"] : [],
    infer(n, ins) {
      const [a, b] = need(n, ins, 2);
      // Every integer type here (BitShift on signed ones since opset 28: an arithmetic shift
      // right; earlier opsets defined it on unsigned types, uint8 here).
      expectType(n, a, 0, ...INTS);
      if (b.type !== a.type) fail(n, `B is ${b.type}, A ${a.type}: they must match`);
      if (op === "shift") {
        const d = n.attrs.string("direction", "");
        if (d !== "LEFT" && d !== "RIGHT") fail(n, `direction must be LEFT or RIGHT, got '${d}'`);
      }
      return [meta(a.type, broadcast(n, a.dims, b.dims))];
    },
    build(n, ins, outs) {
      const a = ins[0]!, b = ins[1]!, y = outs[0], size = sizeOf(y.dims);
      const left = n.attrs.string("direction", "") === "LEFT", bits = BITS[a.type]!;
      const big = isBigIntType(a.type), unsigned = a.type.startsWith("u");
      const ia = Int32Array.from({ length: size }, (_, i) => sourceIndex(i, y.dims, a.dims));
      const ib = Int32Array.from({ length: size }, (_, i) => sourceIndex(i, y.dims, b.dims));
      const ad = a.data as unknown as (number | bigint)[],
        bd = b.data as unknown as (number | bigint)[];
      const yd = y.data as unknown as (number | bigint)[];
      return {
        native: false,
        run: () => {
          for (let i = 0; i < size; i++) {
            const x = ad[ia[i]], z = bd[ib[i]];
            if (big) {
              const p = x as bigint, q = z as bigint;
              yd[i] = op === "and"
                ? p & q
                : op === "or"
                ? p | q
                : op === "xor"
                ? p ^ q
                : q < 0n || q >= 64n
                ? (!left && p < 0n ? -1n : 0n)
                : left
                ? (unsigned ? BigInt.asUintN(64, p << q) : BigInt.asIntN(64, p << q))
                : p >> q;
              continue;
            }
            const p = x as number, q = z as number;
            // Typed-array stores wrap to the type's width. A shift by a negative amount or by
            // the width or more leaves only the sign's fill (ONNX): -1 right of a negative x.
            // Unsigned ones shift right logically (uint32's top bit is not a sign).
            yd[i] = op === "and"
              ? p & q
              : op === "or"
              ? p | q
              : op === "xor"
              ? p ^ q
              : q < 0 || q >= bits
              ? (!left && p < 0 ? -1 : 0)
              : left
              ? p << q
              : unsigned
              ? p >>> q
              : p >> q;
          }
        },
      };
    },
  };
}

const BITWISE_NOT: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...INTS);
    return [meta(x.type, x.dims)];
  },
  build(_n, ins, outs) {
    const x = ins[0]!.data as unknown as (number | bigint)[],
      y = outs[0].data as unknown as (number | bigint)[];
    const big = isBigIntType(ins[0]!.type);
    return {
      native: false,
      run: () => {
        for (let i = 0; i < y.length; i++) y[i] = big ? ~(x[i] as bigint) : ~(x[i] as number);
      },
    };
  },
};

/** The elements of x (along axis, or flattened) whose condition is true. */
function compress(n: Node, x: { type: DType; dims: number[]; data: TensorData }, cond: TensorData) {
  const axisAttr = n.attrs.has("axis") ? n.attrs.int("axis", 0) : null;
  const dims = axisAttr === null ? [sizeOf(x.dims)] : x.dims;
  const axis = axisAttr === null ? 0 : axisOf(n, axisAttr, x.dims.length);
  const d = dims[axis], outer = sizeOf(dims.slice(0, axis)), inner = sizeOf(dims.slice(axis + 1));
  if (cond.length > d) fail(n, `condition has ${cond.length} values, the axis ${d}`);
  const keep: number[] = [];
  for (let i = 0; i < cond.length; i++) if (Number(cond[i]) !== 0) keep.push(i);
  const outDims = dims.slice();
  outDims[axis] = keep.length;
  const data = allocate(x.type, sizeOf(outDims));
  for (let o = 0; o < outer; o++) {
    keep.forEach((k, j) => {
      for (let i = 0; i < inner; i++) {
        (data as unknown as unknown[])[(o * keep.length + j) * inner + i] =
          (x.data as unknown as unknown[])[(o * d + k) * inner + i];
      }
    });
  }
  return { type: x.type, dims: outDims, data };
}

const COMPRESS: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const [x, c] = need(n, ins, 2);
    expectType(n, c, 1, "bool");
    if (x.data === null || c.data === null) {
      fail(
        n,
        "its output's length is its condition's values: planned per run (data-dependent shapes)",
      );
    }
    const r = compress(n, x as never, c.data);
    return [r];
  },
  dynamic(n, ins) {
    return [compress(n, ins[0]!, ins[1]!.data)];
  },
  build: () => null,
};

/** ONNX's window functions: periodic (size N+1 symmetric, last dropped) or symmetric. */
function windowDef(coefficients: number[]): OpDef {
  return {
    attributes: ["output_datatype", "periodic"],
    infer(n, ins) {
      const [size] = need(n, ins, 1);
      const s = knownInts(n, size, "size")[0];
      if (s < 0) fail(n, `size must be ≥ 0, got ${s}`);
      const to = n.attrs.int("output_datatype", 1);
      if (to !== 1) fail(n, "only float32 output is supported");
      const periodic = n.attrs.int("periodic", 1) !== 0;
      const N = periodic ? s : s - 1, data = new Float32Array(s);
      for (let k = 0; k < s; k++) {
        let v = 0;
        coefficients.forEach((c, j) => v += (j % 2 ? -c : c) * Math.cos((2 * Math.PI * j * k) / N));
        data[k] = s === 1 ? 1 : v;
      }
      return [{ ...meta("float32", [s]), data }];
    },
    build: () => null,
  };
}

const MVN: OpDef = {
  attributes: ["axes"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, y = outs[0], r = x.dims.length;
    const axes = (n.attrs.ints("axes") ?? [0, 2, 3]).map((a) => axisOf(n, a, r, "axes"));
    const xd = x.data as Float32Array, yd = y.data as Float32Array, size = xd.length;
    // Each element's group: its coordinates off the reduced axes.
    const strides = x.dims.map((_, i) => sizeOf(x.dims.slice(i + 1)));
    const group = new Int32Array(size);
    const kept = x.dims.map((d, i) => (axes.includes(i) ? 1 : d));
    const keptStrides = kept.map((_, i) => sizeOf(kept.slice(i + 1)));
    for (let e = 0; e < size; e++) {
      let g = 0;
      for (let i = 0; i < r; i++) {
        if (!axes.includes(i)) g += (Math.floor(e / strides[i]) % x.dims[i]) * keptStrides[i];
      }
      group[e] = g;
    }
    const groups = sizeOf(kept), count = size / groups;
    const mean = new Float64Array(groups), sq = new Float64Array(groups);
    return {
      native: false,
      run: () => {
        mean.fill(0), sq.fill(0);
        for (let e = 0; e < size; e++) mean[group[e]] += xd[e], sq[group[e]] += xd[e] * xd[e];
        for (let g = 0; g < groups; g++) {
          mean[g] /= count;
          sq[g] = Math.sqrt(Math.max(0, sq[g] / count - mean[g] * mean[g]));
        }
        // ONNX: (x − E[x]) / (sqrt(E[x²] − E[x]²) + 1e-9).
        for (let e = 0; e < size; e++) yd[e] = (xd[e] - mean[group[e]]) / (sq[group[e]] + 1e-9);
      },
    };
  },
};

const REVERSE_SEQUENCE: OpDef = {
  attributes: ["batch_axis", "time_axis"],
  infer(n, ins) {
    const [x, lens] = need(n, ins, 2);
    expectType(n, lens, 1, "int64");
    if (x.dims.length < 2) fail(n, "input must have rank ≥ 2");
    const b = n.attrs.int("batch_axis", 1), t = n.attrs.int("time_axis", 0);
    if (!((b === 0 && t === 1) || (b === 1 && t === 0))) {
      fail(n, "batch_axis and time_axis must be 0 and 1");
    }
    if (sizeOf(lens.dims) !== x.dims[b]) fail(n, `sequence_lens must have ${x.dims[b]} values`);
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, lens = ins[1]!.data as BigInt64Array, y = outs[0];
    const b = n.attrs.int("batch_axis", 1), t = n.attrs.int("time_axis", 0);
    const inner = sizeOf(x.dims.slice(2)), [d0, d1] = x.dims;
    const xd = x.data as unknown as unknown[], yd = y.data as unknown as unknown[];
    return {
      native: false,
      run: () => {
        for (let i = 0; i < d0; i++) {
          for (let j = 0; j < d1; j++) {
            const batch = b === 0 ? i : j, time = t === 0 ? i : j;
            const len = Number(lens[batch]);
            if (len < 0 || len > x.dims[t]) {
              throw new RangeError(`${n.op} node '${n.name}': sequence_lens[${batch}] is ${len}`);
            }
            const src = time < len ? len - 1 - time : time;
            const si = t === 0 ? src * d1 + j : i * d1 + src, di = i * d1 + j;
            for (let k = 0; k < inner; k++) yd[di * inner + k] = xd[si * inner + k];
          }
        }
      },
    };
  },
};

/** Unique's outputs: the distinct values (or slices along axis), and the index maps. */
function unique(
  n: Node,
  x: { type: DType; dims: number[]; data: TensorData },
): { type: DType; dims: number[]; data: TensorData }[] {
  const sorted = n.attrs.int("sorted", 1) !== 0;
  const hasAxis = n.attrs.has("axis");
  const dims = hasAxis ? x.dims : [sizeOf(x.dims)];
  const axis = hasAxis ? axisOf(n, n.attrs.int("axis", 0), x.dims.length) : 0;
  const d = dims[axis], outer = sizeOf(dims.slice(0, axis)), inner = sizeOf(dims.slice(axis + 1));
  const xd = x.data as unknown as (number | bigint)[];
  const slice = (k: number): (number | bigint)[] => {
    const out: (number | bigint)[] = [];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) out.push(xd[(o * d + k) * inner + i]);
    }
    return out;
  };
  const keyOf = (v: (number | bigint)[]) =>
    v.map((e) => (Object.is(e, -0) ? 0 : e).toString()).join(",");
  const firsts: number[] = [], counts: number[] = [], inverse: number[] = [];
  const seen = new Map<string, number>();
  for (let k = 0; k < d; k++) {
    const key = keyOf(slice(k));
    let u = seen.get(key);
    if (u === undefined) {
      u = firsts.length;
      seen.set(key, u);
      firsts.push(k);
      counts.push(0);
    }
    counts[u]++;
    inverse.push(u);
  }
  // Sorted: the distinct slices in lexicographic order of their elements.
  let order = firsts.map((_, u) => u);
  if (sorted) {
    const cmp = (a: number, b: number) => {
      const p = slice(firsts[a]), q = slice(firsts[b]);
      for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return p[i] < q[i] ? -1 : 1;
      return 0;
    };
    order = order.sort(cmp);
  }
  const rank = new Array<number>(order.length);
  order.forEach((u, r) => (rank[u] = r));
  const outDims = dims.slice();
  outDims[axis] = order.length;
  const y = allocate(x.type, sizeOf(outDims)) as unknown as (number | bigint)[];
  order.forEach((u, r) => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        y[(o * order.length + r) * inner + i] = xd[(o * d + firsts[u]) * inner + i];
      }
    }
  });
  const i64 = (v: number[]) => BigInt64Array.from(v, (e) => BigInt(e));
  return [
    { type: x.type, dims: outDims, data: y as unknown as TensorData },
    { type: "int64", dims: [order.length], data: i64(order.map((u) => firsts[u])) },
    { type: "int64", dims: [d], data: i64(inverse.map((u) => rank[u])) },
    { type: "int64", dims: [order.length], data: i64(order.map((u) => counts[u])) },
  ];
}

const UNIQUE: OpDef = {
  attributes: ["axis", "sorted"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    if (x.data === null) {
      fail(
        n,
        "its outputs' lengths are its input's values: planned per run (data-dependent shapes)",
      );
    }
    return unique(n, x as never);
  },
  dynamic: (n, ins) => unique(n, ins[0]!),
  build: () => null,
};

/** The determinant of each trailing square matrix (LU with partial pivoting, in float64). */
const DET: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    const r = x.dims.length;
    if (r < 2 || x.dims[r - 1] !== x.dims[r - 2]) fail(n, "X must end in a square matrix");
    return [meta("float32", x.dims.slice(0, -2))];
  },
  build(_n, ins, outs) {
    const x = ins[0]!, m = x.dims[x.dims.length - 1], xd = x.data as Float32Array;
    const yd = outs[0].data as Float32Array, a = new Float64Array(m * m);
    return {
      native: false,
      run: () => {
        for (let b = 0; b < yd.length; b++) {
          for (let i = 0; i < m * m; i++) a[i] = xd[b * m * m + i];
          let det = 1;
          for (let k = 0; k < m && det !== 0; k++) {
            let p = k;
            for (let i = k + 1; i < m; i++) {
              if (Math.abs(a[i * m + k]) > Math.abs(a[p * m + k])) p = i;
            }
            if (a[p * m + k] === 0) {
              det = 0;
              break;
            }
            if (p !== k) {
              for (let j = 0; j < m; j++) {
                [a[k * m + j], a[p * m + j]] = [a[p * m + j], a[k * m + j]];
              }
              det = -det;
            }
            det *= a[k * m + k];
            for (let i = k + 1; i < m; i++) {
              const l = a[i * m + k] / a[k * m + k];
              for (let j = k; j < m; j++) a[i * m + j] -= l * a[k * m + j];
            }
          }
          yd[b] = det;
        }
      },
    };
  },
};

/** GlobalLpPool: the p-norm of each plane. */
const GLOBAL_LP_POOL: OpDef = {
  attributes: ["p"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
    return [meta("float32", x.dims.map((d, i) => (i < 2 ? d : 1)))];
  },
  build(n, ins, outs) {
    const x = ins[0]!, p = n.attrs.int("p", 2), plane = sizeOf(x.dims.slice(2));
    const xd = x.data as Float32Array, yd = outs[0].data as Float32Array;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < yd.length; i++) {
          let s = 0;
          for (let j = 0; j < plane; j++) s += Math.abs(xd[i * plane + j]) ** p;
          yd[i] = s ** (1 / p);
        }
      },
    };
  },
};

/** CenterCropPad: each axis cropped or zero-padded about its centre to the given size. */
const CENTER_CROP_PAD: OpDef = {
  attributes: ["axes"],
  infer(n, ins) {
    const [x, shape] = need(n, ins, 2);
    const sizes = knownInts(n, shape, "shape");
    const r = x.dims.length;
    const axes = (n.attrs.ints("axes") ?? x.dims.map((_, i) => i)).map((a) =>
      axisOf(n, a, r, "axes")
    );
    if (axes.length !== sizes.length) {
      fail(n, `shape has ${sizes.length} values for ${axes.length} axes`);
    }
    const dims = x.dims.slice();
    axes.forEach((a, i) => (dims[a] = sizes[i]));
    return [meta(x.type, dims)];
  },
  build(_n, ins, outs) {
    const x = ins[0]!, y = outs[0], r = x.dims.length;
    // Per axis: the input start of the kept part, the output start, and its length.
    const from = new Array<number>(r), to = new Array<number>(r), len = new Array<number>(r);
    for (let a = 0; a < r; a++) {
      const i = x.dims[a], o = y.dims[a];
      if (o <= i) from[a] = Math.floor((i - o) / 2), to[a] = 0, len[a] = o;
      else from[a] = 0, to[a] = Math.floor((o - i) / 2), len[a] = i;
    }
    const xd = x.data as unknown as unknown[], yd = y.data as unknown as unknown[];
    const xs = x.dims.map((_, a) => sizeOf(x.dims.slice(a + 1)));
    const ys = y.dims.map((_, a) => sizeOf(y.dims.slice(a + 1)));
    const count = sizeOf(len);
    return {
      native: false,
      run: () => {
        (y.data as Float32Array).fill(0 as never);
        for (let e = 0; e < count; e++) {
          let si = 0, di = 0, rest = e;
          for (let a = r - 1; a >= 0; a--) {
            const c = rest % len[a];
            rest = Math.floor(rest / len[a]);
            si += (from[a] + c) * xs[a];
            di += (to[a] + c) * ys[a];
          }
          yd[di] = xd[si];
        }
      },
    };
  },
};

/** The small TypeScript ops. */
export const MISC_OPS: Record<string, OpDef> = {
  BitShift: bitwiseDef("shift"),
  BitwiseAnd: bitwiseDef("and"),
  BitwiseOr: bitwiseDef("or"),
  BitwiseXor: bitwiseDef("xor"),
  BitwiseNot: BITWISE_NOT,
  Compress: COMPRESS,
  HannWindow: windowDef([0.5, 0.5]),
  HammingWindow: windowDef([25 / 46, 21 / 46]),
  BlackmanWindow: windowDef([0.42, 0.5, 0.08]),
  MeanVarianceNormalization: MVN,
  ReverseSequence: REVERSE_SEQUENCE,
  Unique: UNIQUE,
  Det: DET,
  GlobalLpPool: GLOBAL_LP_POOL,
  CenterCropPad: CENTER_CROP_PAD,
};
