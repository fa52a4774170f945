/**
 * Index ops of detection and transformer exports, by TypeScript loops:
 * TopK (largest or smallest, ties to the lower index), GatherND (with
 * batch_dims), ScatterND and ScatterElements (reduction none, add, mul, max,
 * min), OneHot. Indices may be negative (counted from the end); an index
 * out of range throws a RangeError naming the node, before anything is
 * written.
 */
import { allocate, isBigIntType, NUMERIC_TYPES, type TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import {
  axisOf,
  type Buf,
  checkedSize,
  expectType,
  fail,
  knownInts,
  knownNumbers,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";

/** Elements as numbers (int64 read through Number: indices and counts fit). */
type Elements = { [i: number]: number | bigint; length: number };

/** An index along a dim of `d`, negatives counted from the end; a RangeError when outside. */
function indexIn(n: Node, v: number | bigint, d: number, what: string): number {
  let k = Number(v);
  if (k < 0) k += d;
  if (!(k >= 0 && k < d)) {
    throw new RangeError(`${n.op} node '${n.name}': ${what} ${Number(v)} is outside 0..${d - 1}`);
  }
  return k;
}

function expectIndices(n: Node, m: { type: string }, i: number): void {
  if (m.type !== "int64" && m.type !== "int32") fail(n, `input ${i} (indices) is ${m.type}`);
}

const TOPK: OpDef = {
  attributes: ["axis", "largest", "sorted"],
  infer(n, ins) {
    const [x, k] = need(n, ins, 2);
    expectType(n, x, 0, ...NUMERIC_TYPES); // every numeric type of ours
    const axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const kv = knownInts(n, k, "K")[0];
    if (!(kv >= 0 && kv <= x.dims[axis])) fail(n, `K ${kv} is outside 0..${x.dims[axis]}`);
    const dims = x.dims.slice();
    dims[axis] = kv;
    return [meta(x.type, dims), meta("int64", dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf,
      vals = outs[0].data as Float32Array,
      idx = outs[1].data as BigInt64Array;
    const axis = axisOf(n, n.attrs.int("axis", -1), x.dims.length);
    const k = knownInts(n, ins[1], "K")[0], largest = n.attrs.int("largest", 1) !== 0;
    const outer = sizeOf(x.dims.slice(0, axis)), d = x.dims[axis];
    const inner = sizeOf(x.dims.slice(axis + 1));
    const xd = x.data as unknown as Elements, order = new Int32Array(d), keys = new Float64Array(d);
    // 64-bit integers compared as bigints (doubles would tie values past 2^53).
    const big = isBigIntType(x.type) ? allocate(x.type, d) as unknown as bigint[] : null;
    // Ties keep the lower index first (ONNX TopK-11); a NaN sorts as the largest value.
    const beforeBig = (a: number, b: number) => {
      const p = big![a], q = big![b];
      if (p === q) return a - b;
      return (largest ? q > p : p > q) ? 1 : -1;
    };
    const before = (a: number, b: number) => {
      const p = keys[a], q = keys[b];
      if (p !== q && !(Number.isNaN(p) && Number.isNaN(q))) {
        if (Number.isNaN(p)) return largest ? -1 : 1;
        if (Number.isNaN(q)) return largest ? 1 : -1;
        return largest ? q - p : p - q;
      }
      return a - b;
    };
    return {
      native: false,
      run: () => {
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            for (let j = 0; j < d; j++) {
              order[j] = j;
              if (big) big[j] = xd[(o * d + j) * inner + i] as bigint;
              else keys[j] = Number(xd[(o * d + j) * inner + i]);
            }
            order.sort(big ? beforeBig : before);
            for (let j = 0; j < k; j++) {
              const at = (o * k + j) * inner + i;
              (vals as unknown as Elements)[at] = xd[(o * d + order[j]) * inner + i];
              idx[at] = BigInt(order[j]);
            }
          }
        }
      },
    };
  },
};

/** GatherND's shapes: batch dims b, the index tuple length m, the slice size. */
function gatherNdShape(n: Node, data: readonly number[], indices: readonly number[]) {
  const b = n.attrs.int("batch_dims", 0), q = indices.length, m = indices[q - 1];
  if (q < 1) fail(n, "indices must have rank ≥ 1");
  if (!(b >= 0 && b < Math.min(q, data.length))) fail(n, `batch_dims ${b} out of range`);
  for (let i = 0; i < b; i++) {
    if (data[i] !== indices[i]) fail(n, "the batch dims of data and indices differ");
  }
  if (!(m >= 1 && m <= data.length - b)) fail(n, `index tuples of ${m} do not index the data`);
  const dims = [...data.slice(0, b), ...indices.slice(b, q - 1), ...data.slice(b + m)];
  return {
    b,
    m,
    dims,
    batches: sizeOf(data.slice(0, b)),
    tuples: sizeOf(indices.slice(b, q - 1)),
    slice: sizeOf(data.slice(b + m)),
  };
}

const GATHER_ND: OpDef = {
  attributes: ["batch_dims"],
  infer(n, ins) {
    const [x, idx] = need(n, ins, 2);
    expectIndices(n, idx, 1);
    return [meta(x.type, gatherNdShape(n, x.dims, idx.dims).dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, idx = ins[1] as Buf, y = outs[0].data;
    const { b, m, batches, tuples, slice } = gatherNdShape(n, x.dims, idx.dims);
    const xs = stridesOf(x.dims), batchStride = b > 0 ? xs[b - 1] : 0;
    const xd = x.data, id = idx.data as unknown as Elements;
    const from = new Float64Array(batches * tuples);
    return {
      native: false,
      run: () => {
        // Indices first (all in range, or nothing is written), then the copies.
        for (let t = 0; t < batches * tuples; t++) {
          let at = Math.floor(t / tuples) * batchStride;
          for (let j = 0; j < m; j++) {
            at += indexIn(n, id[t * m + j], x.dims[b + j], "index") * xs[b + j];
          }
          from[t] = at;
        }
        for (let t = 0; t < from.length; t++) copyRun(xd, from[t], y, t * slice, slice);
      },
    };
  },
};

/** y[to..to+count) = x[from..from+count) for any pair of same-kind typed arrays. */
function copyRun(x: TensorData, from: number, y: TensorData, to: number, count: number): void {
  (y as Float32Array).set((x as Float32Array).subarray(from, from + count), to);
}

type Reduction = (a: number | bigint, b: number | bigint) => number | bigint;

/** The reduction attribute as a combining function (null: replace), per element type. */
function reductionOf(n: Node, big: boolean): Reduction | null {
  const r = n.attrs.string("reduction", "none");
  const f = (x: number) => (big ? x : Math.fround(x));
  switch (r) {
    case "none":
      return null;
    case "add":
      return big
        ? (a, b) => (a as bigint) + (b as bigint)
        : (a, b) => f((a as number) + (b as number));
    case "mul":
      return big
        ? (a, b) => (a as bigint) * (b as bigint)
        : (a, b) => f((a as number) * (b as number));
    case "max":
      return (a, b) => (a > b || Number.isNaN(a as number) ? a : b);
    case "min":
      return (a, b) => (a < b || Number.isNaN(a as number) ? a : b);
    default:
      fail(n, `reduction '${r}' is not supported`);
  }
}

const SCATTER_ND: OpDef = {
  attributes: ["reduction"],
  infer(n, ins) {
    const [x, idx, upd] = need(n, ins, 3);
    expectIndices(n, idx, 1);
    const q = idx.dims.length, m = idx.dims[q - 1];
    if (q < 1 || !(m >= 1 && m <= x.dims.length)) fail(n, "index tuples do not index the data");
    const want = [...idx.dims.slice(0, q - 1), ...x.dims.slice(m)];
    if (upd.type !== x.type || upd.dims.join() !== want.join()) {
      fail(n, `updates must be ${x.type} [${want.join(", ")}], got ${upd.type} [${upd.dims}]`);
    }
    reductionOf(n, isBigIntType(x.type));
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, idx = ins[1] as Buf, upd = ins[2] as Buf, y = outs[0].data;
    const q = idx.dims.length, m = idx.dims[q - 1], xs = stridesOf(x.dims);
    const tuples = sizeOf(idx.dims.slice(0, q - 1)), slice = sizeOf(x.dims.slice(m));
    const reduce = reductionOf(n, isBigIntType(x.type));
    const id = idx.data as unknown as Elements, ud = upd.data as unknown as Elements;
    const yd = y as unknown as Elements, to = new Float64Array(tuples);
    return {
      native: false,
      run: () => {
        for (let t = 0; t < tuples; t++) {
          let at = 0;
          for (let j = 0; j < m; j++) at += indexIn(n, id[t * m + j], x.dims[j], "index") * xs[j];
          to[t] = at;
        }
        copyRun(x.data, 0, y, 0, sizeOf(x.dims));
        for (let t = 0; t < tuples; t++) {
          if (reduce === null) copyRun(upd.data, t * slice, y, to[t], slice);
          else {
            const base = to[t];
            for (let e = 0; e < slice; e++) yd[base + e] = reduce(yd[base + e], ud[t * slice + e]);
          }
        }
      },
    };
  },
};

const SCATTER_ELEMENTS: OpDef = {
  attributes: ["axis", "reduction"],
  infer(n, ins) {
    const [x, idx, upd] = need(n, ins, 3);
    expectIndices(n, idx, 1);
    if (idx.dims.length !== x.dims.length) fail(n, "indices must have the data's rank");
    if (upd.type !== x.type || upd.dims.join() !== idx.dims.join()) {
      fail(n, "updates must have the indices' shape and the data's type");
    }
    axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    reductionOf(n, isBigIntType(x.type));
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, idx = ins[1] as Buf, upd = ins[2] as Buf, y = outs[0].data;
    const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length), r = x.dims.length;
    const xs = stridesOf(x.dims), is = stridesOf(idx.dims), count = sizeOf(idx.dims);
    const reduce = reductionOf(n, isBigIntType(x.type));
    const id = idx.data as unknown as Elements, ud = upd.data as unknown as Elements;
    const yd = y as unknown as Elements, to = new Float64Array(count);
    return {
      native: false,
      run: () => {
        for (let i = 0; i < count; i++) {
          let rem = i, at = 0;
          for (let a = 0; a < r; a++) {
            const c = Math.floor(rem / is[a]);
            rem -= c * is[a];
            at += (a === axis ? indexIn(n, id[i], x.dims[axis], "index") : c) * xs[a];
          }
          to[i] = at;
        }
        copyRun(x.data, 0, y, 0, sizeOf(x.dims));
        for (let i = 0; i < count; i++) {
          yd[to[i]] = reduce === null ? ud[i] : reduce(yd[to[i]], ud[i]);
        }
      },
    };
  },
};

const ONE_HOT: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const [idx, depth, values] = need(n, ins, 3);
    const d = knownNumbers(n, depth, "depth")[0];
    if (!(Number.isInteger(d) && d >= 1)) fail(n, `depth ${d} must be a positive integer`);
    if (sizeOf(values.dims) !== 2) fail(n, "values must hold [off, on]");
    const dims = idx.dims.slice();
    dims.splice(axisOf(n, n.attrs.int("axis", -1), idx.dims.length + 1), 0, d);
    checkedSize(n, dims);
    return [meta(values.type, dims)];
  },
  build(n, ins, outs) {
    const idx = ins[0] as Buf, values = ins[2] as Buf, y = outs[0].data;
    const d = knownNumbers(n, ins[1], "depth")[0];
    const axis = axisOf(n, n.attrs.int("axis", -1), idx.dims.length + 1);
    const outer = sizeOf(idx.dims.slice(0, axis)), inner = sizeOf(idx.dims.slice(axis));
    const id = idx.data as unknown as Elements, vd = values.data as unknown as Elements;
    const yd = y as unknown as Elements;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < yd.length; i++) yd[i] = vd[0];
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            // Out of [-depth, depth): every element stays off (ONNX).
            let k = Math.trunc(Number(id[o * inner + i]));
            if (k < 0) k += d;
            if (k >= 0 && k < d) yd[(o * d + k) * inner + i] = vd[1];
          }
        }
      },
    };
  },
};

/** The op definitions of this module by ONNX name. */
export const SCATTER_OPS: Record<string, OpDef> = {
  TopK: TOPK,
  GatherND: GATHER_ND,
  ScatterND: SCATTER_ND,
  ScatterElements: SCATTER_ELEMENTS,
  // Scatter (opsets 9-10, deprecated in 11): ScatterElements without a reduction.
  Scatter: SCATTER_ELEMENTS,
  OneHot: ONE_HOT,
};
