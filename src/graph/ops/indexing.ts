/**
 * Index ops by TypeScript loops: ArgMax/ArgMin (keepdims,
 * select_last_index), CumSum and CumProd (exclusive, reverse), Trilu, GatherElements,
 * DepthToSpace (DCR, CRD) and SpaceToDepth.
 */
import { isBigIntType } from "../../onnx/dtype.ts";
import { StridedCopy } from "./copy.ts";
import {
  axisOf,
  type Buf,
  expectType,
  fail,
  knownInts,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";

function argDef(max: boolean): OpDef {
  return {
    attributes: ["axis", "keepdims", "select_last_index"],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32", "int64", "int32");
      const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
      const dims = x.dims.slice();
      if (n.attrs.int("keepdims", 1) !== 0) dims[axis] = 1;
      else dims.splice(axis, 1);
      if (x.dims[axis] === 0) fail(n, "the axis is empty");
      return [meta("int64", dims)];
    },
    build(n, ins, outs) {
      const x = ins[0] as Buf, y = outs[0].data as BigInt64Array;
      const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length),
        last = n.attrs.int("select_last_index", 0) !== 0;
      const outer = sizeOf(x.dims.slice(0, axis)),
        d = x.dims[axis],
        inner = sizeOf(x.dims.slice(axis + 1));
      const xd = x.data;
      return {
        native: false,
        run: () => {
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) {
              let best = 0, bv = Number(xd[o * d * inner + i]);
              for (let k = 1; k < d; k++) {
                const v = Number(xd[(o * d + k) * inner + i]);
                if (max ? v > bv || (last && v === bv) : v < bv || (last && v === bv)) {
                  best = k;
                  bv = v;
                }
              }
              y[o * inner + i] = BigInt(best);
            }
          }
        },
      };
    },
  };
}

/**
 * CumSum, or CumProd (opset 26): along an axis, inclusive or exclusive, forward or reverse;
 * float32 accumulated in float32, float64 in float64, int32 wrapping as 32-bit, int64 exactly
 * (BigInt, wrapping).
 */
function cumulativeDef(product: boolean): OpDef {
  return {
    attributes: ["exclusive", "reverse"],
    infer(n, ins) {
      const [x, a] = need(n, ins, 2);
      expectType(n, x, 0, "float32", "float64", "int64", "int32");
      axisOf(n, knownInts(n, a, "axis")[0], x.dims.length);
      return [meta(x.type, x.dims)];
    },
    build(n, ins, outs) {
      const x = ins[0] as Buf, y = outs[0];
      const axis = axisOf(n, knownInts(n, ins[1], "axis")[0], x.dims.length);
      const exclusive = n.attrs.int("exclusive", 0) !== 0,
        reverse = n.attrs.int("reverse", 0) !== 0;
      const outer = sizeOf(x.dims.slice(0, axis)),
        d = x.dims[axis],
        inner = sizeOf(x.dims.slice(axis + 1));
      const at = (o: number, s: number, i: number) =>
        (o * d + (reverse ? d - 1 - s : s)) * inner + i;
      if (x.type === "int64") {
        const xd = x.data as BigInt64Array, yd = y.data as BigInt64Array;
        const step = product
          ? (acc: bigint, v: bigint) => BigInt.asIntN(64, acc * v)
          : (acc: bigint, v: bigint) => BigInt.asIntN(64, acc + v);
        return {
          native: false,
          run: () => {
            for (let o = 0; o < outer; o++) {
              for (let i = 0; i < inner; i++) {
                let acc = product ? 1n : 0n;
                for (let s = 0; s < d; s++) {
                  const k = at(o, s, i);
                  if (!exclusive) acc = step(acc, xd[k]);
                  yd[k] = acc;
                  if (exclusive) acc = step(acc, xd[k]);
                }
              }
            }
          },
        };
      }
      const xd = x.data as Float32Array | Int32Array, yd = y.data as Float32Array | Int32Array;
      const step = x.type === "int32"
        ? (product ? Math.imul : (acc: number, v: number) => (acc + v) | 0)
        : x.type === "float64"
        ? (product ? (acc: number, v: number) => acc * v : (acc: number, v: number) => acc + v)
        : product
        ? (acc: number, v: number) => Math.fround(acc * v)
        : (acc: number, v: number) => Math.fround(acc + v);
      return {
        native: false,
        run: () => {
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) {
              let acc = product ? 1 : 0;
              for (let s = 0; s < d; s++) {
                const k = at(o, s, i);
                if (!exclusive) acc = step(acc, xd[k]);
                yd[k] = acc;
                if (exclusive) acc = step(acc, xd[k]);
              }
            }
          }
        },
      };
    },
  };
}

const TRILU: OpDef = {
  attributes: ["upper"],
  infer(n, ins) {
    const [x] = need(n, ins, 1, 2);
    if (x.dims.length < 2) fail(n, "X must have rank ≥ 2");
    if (ins[1]) knownInts(n, ins[1], "k");
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, y = outs[0];
    const k = ins[1] ? knownInts(n, ins[1], "k")[0] : 0, upper = n.attrs.int("upper", 1) !== 0;
    const r = x.dims.length,
      rows = x.dims[r - 2],
      cols = x.dims[r - 1],
      mats = sizeOf(x.dims.slice(0, -2));
    const xd = x.data as Float32Array, yd = y.data as Float32Array;
    const zero = (isBigIntType(y.type) ? 0n : 0) as number;
    return {
      native: false,
      run: () => {
        for (let m = 0, p = 0; m < mats; m++) {
          for (let i = 0; i < rows; i++) {
            for (let j = 0; j < cols; j++, p++) {
              yd[p] = (upper ? j - i >= k : j - i <= k) ? xd[p] : zero;
            }
          }
        }
      },
    };
  },
};

const GATHER_ELEMENTS: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const [x, idx] = need(n, ins, 2);
    if (idx.type !== "int64" && idx.type !== "int32") fail(n, `indices are ${idx.type}`);
    if (idx.dims.length !== x.dims.length) fail(n, "indices must have X's rank");
    axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    return [meta(x.type, idx.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, idx = ins[1] as Buf, y = outs[0];
    const axis = axisOf(n, n.attrs.int("axis", 0), x.dims.length);
    const xs = stridesOf(x.dims), is = stridesOf(idx.dims), r = x.dims.length, d = x.dims[axis];
    const xd = x.data as Float32Array, yd = y.data as Float32Array, id = idx.data;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < yd.length; i++) {
          let rem = i, at = 0;
          for (let a = 0; a < r; a++) {
            const q = Math.floor(rem / is[a]);
            rem -= q * is[a];
            if (a !== axis) at += q * xs[a];
          }
          let k = Number(id[i]);
          if (k < 0) k += d;
          if (!(k >= 0 && k < d)) {
            throw new RangeError(`${n.op} node '${n.name}': index ${Number(id[i])} out of range`);
          }
          yd[i] = xd[at + k * xs[axis]];
        }
      },
    };
  },
};

/** DepthToSpace (DCR or CRD) and SpaceToDepth as one strided copy over a 6-D view. */
function spaceDef(toSpace: boolean): OpDef {
  const layout = (n: Parameters<OpDef["infer"]>[0], dims: readonly number[]) => {
    if (dims.length !== 4) fail(n, "X must be 4-D (NCHW)");
    const b = n.attrs.int("blocksize", 0), [N, C, H, W] = dims;
    if (b < 1) fail(n, "blocksize must be ≥ 1");
    if (toSpace && C % (b * b) !== 0) fail(n, `channels ${C} not divisible by blocksize² ${b * b}`);
    if (!toSpace && (H % b !== 0 || W % b !== 0)) fail(n, `H and W must be divisible by ${b}`);
    return { b, N, C, H, W };
  };
  return {
    // SpaceToDepth takes a mode from opset 28 (DepthToSpace from 11).
    attributes: ["blocksize", "mode"],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      const { b, N, C, H, W } = layout(n, x.dims);
      const mode = n.attrs.string("mode", "DCR");
      if (!toSpace && n.opset < 28 && n.attrs.has("mode")) {
        fail(n, "attribute 'mode' is SpaceToDepth's from opset 28");
      }
      if (mode !== "DCR" && mode !== "CRD") fail(n, `mode '${mode}'`);
      return [
        meta(x.type, toSpace ? [N, C / (b * b), H * b, W * b] : [N, C * b * b, H / b, W / b]),
      ];
    },
    build(n, ins, outs) {
      const x = ins[0] as Buf, y = outs[0], { b, N, C, H, W } = layout(n, x.dims);
      let copy: StridedCopy;
      if (toSpace) {
        // y[n][c][h·b+i][w·b+j] = x[n][(i·b+j)·C' + c] (DCR) or x[n][c·b² + i·b + j] (CRD).
        const c2 = C / (b * b), crd = n.attrs.string("mode", "DCR") === "CRD";
        const sc = crd ? b * b * H * W : H * W,
          si = crd ? b * H * W : b * c2 * H * W,
          sj = crd ? H * W : c2 * H * W;
        const ys = stridesOf([N, c2, H * b, W * b]);
        copy = new StridedCopy(
          [N, c2, H, b, W, b],
          [C * H * W, sc, W, si, 1, sj],
          [ys[0], ys[1], b * ys[2], ys[2], b, 1],
        );
      } else {
        // y[n][(i·b+j)·C + c][h][w] (DCR) or y[n][c·b² + i·b + j][h][w] (CRD)
        // = x[n][c][h·b+i][w·b+j].
        const h2 = H / b, w2 = W / b, ys = stridesOf([N, C * b * b, h2, w2]);
        const crd = n.attrs.string("mode", "DCR") === "CRD";
        const sc = crd ? b * b * ys[1] : ys[1],
          si = crd ? b * ys[1] : b * C * ys[1],
          sj = crd ? ys[1] : C * ys[1];
        copy = new StridedCopy(
          [N, C, h2, b, w2, b],
          [C * H * W, H * W, b * W, W, b, 1],
          [ys[0], sc, ys[2], si, 1, sj],
        );
      }
      return { native: false, run: () => copy.run(x.data, y.data) };
    },
  };
}

/**
 * Hardmax: 1 at each lane's first maximum, 0 elsewhere; along one axis from
 * opset 13, before it over x coerced to 2-D (the dims from `axis` on as one
 * row, default axis 1), as Softmax was.
 */
const HARDMAX: OpDef = {
  attributes: ["axis"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    axisOf(n, n.attrs.int("axis", n.opset < 13 ? 1 : -1), x.dims.length);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0] as Buf, y = outs[0].data as Float32Array, xd = x.data as Float32Array;
    const coerced = n.opset < 13;
    const axis = axisOf(n, n.attrs.int("axis", coerced ? 1 : -1), x.dims.length);
    const outer = sizeOf(x.dims.slice(0, axis));
    const d = coerced ? sizeOf(x.dims.slice(axis)) : x.dims[axis];
    const inner = coerced ? 1 : sizeOf(x.dims.slice(axis + 1));
    return {
      native: false,
      run: () => {
        y.fill(0);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let best = 0;
            for (let k = 1; k < d; k++) {
              if (xd[(o * d + k) * inner + i] > xd[(o * d + best) * inner + i]) best = k;
            }
            if (d > 0) y[(o * d + best) * inner + i] = 1;
          }
        }
      },
    };
  },
};

/** The indexing op definitions by ONNX name. */
export const INDEXING_OPS: Record<string, OpDef> = {
  Hardmax: HARDMAX,
  ArgMax: argDef(true),
  ArgMin: argDef(false),
  CumSum: cumulativeDef(false),
  CumProd: cumulativeDef(true),
  Trilu: TRILU,
  GatherElements: GATHER_ELEMENTS,
  DepthToSpace: spaceDef(true),
  SpaceToDepth: spaceDef(false),
};
