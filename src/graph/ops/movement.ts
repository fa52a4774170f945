/**
 * Data movement: Concat, Split, Slice, Gather, Transpose, Tile, Pad, on any
 * element type, through the shared strided copy (plans precomputed at build,
 * so a run allocates nothing).
 */
import { allocate, isBigIntType, type TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { copyStep, StridedCopy } from "./copy.ts";
import {
  axisOf,
  type Buf,
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

/**
 * Element offsets of `parts` laid end to end along the node's `axis` of
 * `whole` (Concat's inputs in its output, Split's outputs in its input),
 * when each is one contiguous block: only 1s before the axis. Else null.
 */
function contiguousBlocks(n: Node, whole: Meta, parts: readonly Meta[]): number[] | null {
  const axis = axisOf(n, n.attrs.int("axis", 0), whole.dims.length);
  if (whole.dims.slice(0, axis).some((d) => d !== 1)) return null;
  const at: number[] = [];
  let k = 0;
  for (const p of parts) {
    at.push(k);
    k += sizeOf(p.dims);
  }
  return at;
}

const CONCAT: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const xs = need(n, ins, 1, 1024);
    const r = xs[0].dims.length;
    if (r === 0) fail(n, "inputs are scalars");
    const axis = axisOf(n, n.attrs.int("axis", 0), r);
    const dims = xs[0].dims.slice();
    dims[axis] = 0;
    for (let i = 0; i < xs.length; i++) {
      const d = xs[i].dims;
      if (xs[i].type !== xs[0].type) {
        fail(n, `input ${i} is ${xs[i].type}, input 0 is ${xs[0].type}`);
      }
      if (d.length !== r || d.some((v, k) => k !== axis && v !== xs[0].dims[k])) {
        fail(
          n,
          `input ${i} has shape [${d.join(", ")}], not concatenable with [${
            xs[0].dims.join(", ")
          }] on axis ${axis}`,
        );
      }
      dims[axis] += d[axis];
    }
    return [meta(xs[0].type, dims)];
  },
  slices: (n, out, ins) => contiguousBlocks(n, out, ins),
  build(n, ins, outs, env) {
    const y = outs[0], axis = axisOf(n, n.attrs.int("axis", 0), y.dims.length);
    const ys = stridesOf(y.dims), copies: [StridedCopy, TensorData, TensorData][] = [];
    const size = y.data.BYTES_PER_ELEMENT;
    let at = 0;
    for (const x of ins as Buf[]) {
      const to = at * ys[axis];
      // An input its producer wrote in place (the planner put it there): nothing to copy.
      const placed = x.data.buffer === y.data.buffer &&
        x.data.byteOffset === y.data.byteOffset + to * size;
      if (!placed) {
        copies.push([new StridedCopy(x.dims, stridesOf(x.dims), ys, 0, to), x.data, y.data]);
      }
      at += x.dims[axis];
    }
    return copies.length === 0 ? null : copyStep(copies, env.jit);
  },
};

function splitSizes(n: Node, ins: readonly (Meta | null)[], x: Meta, axis: number): number[] {
  const total = x.dims[axis], count = n.outputs.length;
  let sizes: number[] | null = null;
  if (n.opset < 13) sizes = n.attrs.ints("split");
  else if (ins[1]) sizes = knownInts(n, ins[1], "split");
  if (sizes !== null && sizes.length > 0) {
    if (sizes.length !== count) fail(n, `split has ${sizes.length} sizes for ${count} outputs`);
    if (sizes.reduce((a, b) => a + b, 0) !== total || sizes.some((s) => s < 0)) {
      fail(n, `split [${sizes.join(", ")}] does not sum to ${total}`);
    }
    return sizes;
  }
  const parts = n.attrs.int("num_outputs", count);
  if (parts !== count) fail(n, `num_outputs ${parts} but ${count} outputs`);
  const each = Math.ceil(total / count);
  return Array.from({ length: count }, (_, i) => Math.max(0, Math.min(each, total - i * each)));
}

const SPLIT: OpDef = {
  attributes: ["axis", "split", "num_outputs"],
  infer(n, ins) {
    const [x] = need(n, ins, 1, 2);
    const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    return splitSizes(n, ins, x, axis).map((s) => {
      const d = x.dims.slice();
      d[axis] = s;
      return meta(x.type, d);
    });
  },
  views: (n, x, outs) => contiguousBlocks(n, x, outs),
  build(n, ins, outs, env) {
    const x = ins[0]!, axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    const xs = stridesOf(x.dims), copies: [StridedCopy, TensorData, TensorData][] = [];
    let at = 0;
    for (const y of outs) {
      copies.push([
        new StridedCopy(y.dims, xs, stridesOf(y.dims), at * xs[axis], 0),
        x.data,
        y.data,
      ]);
      at += y.dims[axis];
    }
    return copyStep(copies, env.jit);
  },
};

interface SliceRange {
  starts: number[];
  steps: number[];
  dims: number[];
}

function sliceRange(n: Node, ins: readonly (Meta | null)[], x: Meta): SliceRange {
  let starts: number[], ends: number[], axes: number[] | null, steps: number[] | null = null;
  if (n.opset < 10) {
    starts = n.attrs.ints("starts") ?? fail(n, "starts are required");
    ends = n.attrs.ints("ends") ?? fail(n, "ends are required");
    axes = n.attrs.ints("axes");
  } else {
    starts = knownInts(n, ins[1], "starts");
    ends = knownInts(n, ins[2], "ends");
    axes = ins[3] ? knownInts(n, ins[3], "axes") : null;
    steps = ins[4] ? knownInts(n, ins[4], "steps") : null;
  }
  const r = x.dims.length;
  axes ??= starts.map((_, i) => i);
  if (ends.length !== starts.length || axes.length !== starts.length) {
    fail(n, "starts, ends and axes differ in length");
  }
  const res: SliceRange = {
    starts: new Array(r).fill(0),
    steps: new Array(r).fill(1),
    dims: x.dims.slice(),
  };
  const seen = new Set<number>();
  for (let i = 0; i < axes.length; i++) {
    const a = axisOf(n, axes[i], r, "axes");
    if (seen.has(a)) fail(n, `axis ${axes[i]} repeats`);
    seen.add(a);
    const d = x.dims[a], step = steps ? steps[i] : 1;
    if (step === 0) fail(n, "a step is 0");
    let s = starts[i], e = ends[i];
    if (s < 0) s += d;
    if (e < 0) e += d;
    let count: number;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
      count = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = Math.min(Math.max(s, -1), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      count = Math.max(0, Math.ceil((e - s) / step));
    }
    res.starts[a] = s;
    res.steps[a] = step;
    res.dims[a] = count;
  }
  return res;
}

const SLICE: OpDef = {
  attributes: ["starts", "ends", "axes"],
  infer(n, ins) {
    const [x] = need(n, ins, n.opset < 10 ? 1 : 3, n.opset < 10 ? 1 : 5);
    const range = sliceRange(n, ins, x);
    if (x.data !== null) {
      // Known input (shape arithmetic): slice now.
      const data = allocate(x.type, sizeOf(range.dims));
      sliceCopy(x, range).run(x.data, data);
      return [{ type: x.type, dims: range.dims, data }];
    }
    return [meta(x.type, range.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0];
    const copy = sliceCopy(x, sliceRange(n, ins, x));
    return copyStep([[copy, x.data, y.data]], env.jit);
  },
};

function sliceCopy(x: Meta, r: SliceRange): StridedCopy {
  const xs = stridesOf(x.dims);
  let base = 0;
  for (let i = 0; i < xs.length; i++) base += r.starts[i] * xs[i];
  return new StridedCopy(r.dims, xs.map((s, i) => s * r.steps[i]), stridesOf(r.dims), base, 0);
}

const GATHER: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const [x, idx] = need(n, ins, 2);
    if (idx.type !== "int64" && idx.type !== "int32") {
      fail(n, `indices are ${idx.type}, expected int64 or int32`);
    }
    const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    const dims = [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)];
    if (x.data !== null && idx.data !== null) {
      const data = allocate(x.type, sizeOf(dims));
      gatherRun(n, x.data, ...gatherSizes(x.dims, axis), idx.data, data);
      return [{ type: x.type, dims, data }];
    }
    return [meta(x.type, dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, idx = ins[1]!, y = outs[0];
    const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    const [outer, d, inner] = gatherSizes(x.dims, axis);
    return { native: false, run: () => gatherRun(n, x.data, outer, d, inner, idx.data, y.data) };
  },
};

/** Gather's loop: outer × indices × inner blocks (sizes from X's dims, computed once per build). */
function gatherRun(
  n: Node,
  x: ArrayLike<unknown>,
  outer: number,
  d: number,
  inner: number,
  idx: ArrayLike<number | bigint>,
  y: ArrayLike<unknown>,
): void {
  const xs = x as Float32Array, ys = y as Float32Array, count = idx.length;
  for (let o = 0, p = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      let k = Number(idx[j]);
      if (k < 0) k += d;
      if (!(k >= 0 && k < d)) {
        throw new RangeError(
          `${n.op} node '${n.name}': index ${Number(idx[j])} out of range [${-d}, ${d - 1}]`,
        );
      }
      const src = (o * d + k) * inner;
      for (let i = 0; i < inner; i++) ys[p++] = xs[src + i];
    }
  }
}

/** Gather's block sizes around the axis. */
function gatherSizes(dims: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(dims.slice(0, axis)), dims[axis], sizeOf(dims.slice(axis + 1))];
}

const TRANSPOSE: OpDef = {
  attributes: ["perm"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    const perm = permOf(n, x.dims.length);
    return [meta(x.type, perm.map((p) => x.dims[p]))];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], perm = permOf(n, x.dims.length);
    const xs = stridesOf(x.dims);
    const copy = new StridedCopy(y.dims, perm.map((p) => xs[p]), stridesOf(y.dims));
    return copyStep([[copy, x.data, y.data]], env.jit);
  },
};

/** Transpose's perm (default: reversed axes), checked to be a permutation. */
export function permOf(n: Node, r: number): number[] {
  const perm = n.attrs.ints("perm") ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) {
    fail(n, `perm [${perm.join(", ")}] is not a permutation of ${r} axes`);
  }
  return perm;
}

const TILE: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x, r] = need(n, ins, 2);
    const reps = knownInts(n, r, "repeats");
    if (reps.length !== x.dims.length || reps.some((v) => v < 0)) {
      fail(n, `repeats [${reps.join(", ")}] do not match rank ${x.dims.length}`);
    }
    return [meta(x.type, x.dims.map((d, i) => d * reps[i]))];
  },
  build(_n, ins, outs, env) {
    const x = ins[0]!, y = outs[0], xs = stridesOf(x.dims), ys = stridesOf(y.dims);
    // Walk [rep0, d0, rep1, d1, ...]: a repeat reads the same source (stride 0).
    const dims: number[] = [], ss: number[] = [], ds: number[] = [];
    x.dims.forEach((d, i) => {
      dims.push(y.dims[i] / (d || 1), d);
      ss.push(0, xs[i]);
      ds.push(d * ys[i], ys[i]);
    });
    const copy = new StridedCopy(dims, ss, ds);
    return copyStep([[copy, x.data, y.data]], env.jit);
  },
};

interface PadPlan {
  dims: number[];
  /** Per axis: the source coordinate of each output coordinate, −1 for the constant. */
  maps: Int32Array[];
  mode: string;
  value: number;
}

function padPlan(n: Node, ins: readonly (Meta | null)[], x: Meta): PadPlan {
  const r = x.dims.length;
  const mode = n.attrs.string("mode", "constant");
  if (mode !== "constant" && mode !== "reflect" && mode !== "edge" && mode !== "wrap") {
    fail(n, `mode '${mode}' is not supported`);
  }
  let pads: number[], value = 0;
  if (n.opset < 11) {
    pads = n.attrs.ints("pads") ?? fail(n, "pads are required");
    value = n.attrs.float("value", 0);
  } else {
    pads = knownInts(n, ins[1], "pads");
    if (ins[2]) value = knownNumbers(n, ins[2], "constant_value")[0] ?? 0;
  }
  let axes = Array.from({ length: r }, (_, i) => i);
  if (ins[3]) axes = knownInts(n, ins[3], "axes").map((a) => axisOf(n, a, r, "axes"));
  if (pads.length !== 2 * axes.length) {
    fail(n, `pads has ${pads.length} values for ${axes.length} axes`);
  }
  const before = new Array(r).fill(0), after = new Array(r).fill(0);
  axes.forEach((a, i) => {
    before[a] = pads[i];
    after[a] = pads[i + axes.length];
  });
  const dims: number[] = [], maps: Int32Array[] = [];
  for (let a = 0; a < r; a++) {
    const d = x.dims[a], o = d + before[a] + after[a];
    if (o < 0) fail(n, `axis ${a} would have size ${o}`);
    if (mode !== "constant" && d === 0 && o > 0) fail(n, `mode '${mode}' on an empty axis`);
    const map = new Int32Array(o);
    for (let i = 0; i < o; i++) {
      let s = i - before[a];
      if (s < 0 || s >= d) {
        if (mode === "constant") s = -1;
        else if (mode === "edge") s = s < 0 ? 0 : d - 1;
        else if (mode === "wrap") s = ((s % d) + d) % d;
        else {
          if (d === 1) s = 0;
          else {
            const period = 2 * (d - 1);
            s = ((s % period) + period) % period;
            if (s >= d) s = period - s;
          }
        }
      }
      map[i] = s;
    }
    dims.push(o);
    maps.push(map);
  }
  return { dims, maps, mode, value };
}

const PAD: OpDef = {
  attributes: ["mode", "pads", "value"],
  infer(n, ins) {
    const [x] = need(n, ins, n.opset < 11 ? 1 : 2, n.opset < 11 ? 1 : 4);
    return [meta(x.type, padPlan(n, ins, x).dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, y = outs[0], p = padPlan(n, ins, x);
    const xs = stridesOf(x.dims), r = p.dims.length, total = sizeOf(p.dims);
    const idx = new Int32Array(r);
    const fill = isBigIntType(x.type) ? BigInt(Math.trunc(p.value)) : p.value;
    return {
      native: false,
      run: () => {
        const xd = x.data as Float32Array, yd = y.data as Float32Array;
        idx.fill(0);
        for (let i = 0; i < total; i++) {
          let src = 0, inside = true;
          for (let a = 0; a < r; a++) {
            const s = p.maps[a][idx[a]];
            if (s < 0) {
              inside = false;
              break;
            }
            src += s * xs[a];
          }
          yd[i] = inside ? xd[src] : fill as number;
          for (let a = r - 1; a >= 0; a--) {
            if (++idx[a] < p.dims[a]) break;
            idx[a] = 0;
          }
        }
      },
    };
  },
};

/** The data-movement op definitions by ONNX name. */
export const MOVEMENT_OPS: Record<string, OpDef> = {
  Concat: CONCAT,
  Split: SPLIT,
  Slice: SLICE,
  Gather: GATHER,
  Transpose: TRANSPOSE,
  Tile: TILE,
  Pad: PAD,
};
