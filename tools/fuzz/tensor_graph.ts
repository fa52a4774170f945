/**
 * Random tensor-plumbing models for the graph campaign: a float tensor of
 * rank 1-5 through Transpose, Reshape, Slice (negative starts and steps),
 * Concat, Split, Gather (negative indices), Expand, Squeeze/Unsqueeze,
 * Tile, Pad (constant, reflect, edge), Flatten, elementwise ops against
 * broadcast constants, Where, reductions over random axes, Softmax on a
 * random axis, MatMul with broadcast batch dims, Gemm (C broadcast),
 * ArgMax/ArgMin, CumSum and int64 shape plumbing (Shape, ConstantOfShape,
 * Range), opsets 13 and 17.
 *
 * @module
 */
import { GraphBuilder } from "../onnx_writer.ts";
import { int, pick } from "./shared.ts";

/** A built model: its bytes, its input's dims and the ops it chains. */
export interface BuiltModel {
  bytes: Uint8Array;
  dims: number[];
  ops: string[];
}

const size = (d: readonly number[]) => d.reduce((p, q) => p * q, 1);

/** numpy's broadcast of two shapes (they broadcast). */
function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    out.push(Math.max(x, y));
  }
  return out;
}

/** A random broadcastable shape for `d` (dims dropped from the left, some set to 1). */
function broadcastable(r: () => number, d: readonly number[]): number[] {
  const keep = int(r, 0, d.length);
  return d.slice(d.length - keep).map((v) => (r() < 0.4 ? 1 : v));
}

/** A random tensor-plumbing model on x. */
export function buildTensorGraph(r: () => number): BuiltModel {
  const g = new GraphBuilder(pick(r, [13, 17]));
  const rank = int(r, 1, 5);
  const dims0 = Array.from({ length: rank }, () => int(r, 1, 5));
  g.input("x", "float32", dims0);
  let cur = "x", d = dims0.slice();
  const ops: string[] = [];
  const values = (n: number) => Array.from({ length: n }, () => Math.round((r() * 4 - 2) * 8) / 8);
  const ints = (v: number[], dims?: number[]) => g.ints(g.fresh("i"), v, dims ?? [v.length]);
  for (let step = 0, steps = int(r, 2, 9); step < steps; step++) {
    const op = pick(r, [
      "Transpose",
      "Reshape",
      "Slice",
      "Concat",
      "Split",
      "Gather",
      "Expand",
      "Unsqueeze",
      "Squeeze",
      "Tile",
      "Pad",
      "Flatten",
      "Binary",
      "Binary",
      "Where",
      "Reduce",
      "Softmax",
      "Unary",
      "MatMul",
      "MatMul",
      "Gemm",
      "ArgMax",
      "CumSum",
      "ShapeOps",
    ]);
    const axis = () => int(r, 0, d.length - 1);
    let next: string | null = null, nd: number[] = d;
    if (op === "Transpose") {
      const perm = d.map((_, i) => i).sort(() => r() - 0.5);
      next = g.op("Transpose", [cur], { perm });
      nd = perm.map((p) => d[p]);
    } else if (op === "Reshape") {
      // The elements regrouped: split into prime factors, regrouped at random; maybe one −1 or 0.
      const total = size(d);
      const factors: number[] = [];
      let t = total;
      for (let p = 2; p <= t; p++) {
        while (t % p === 0) {
          factors.push(p);
          t /= p;
        }
      }
      const parts = int(r, 1, Math.min(5, Math.max(1, factors.length)));
      nd = Array.from({ length: parts }, () => 1);
      for (const f of factors) nd[int(r, 0, parts - 1)] *= f;
      const spec = nd.slice();
      if (r() < 0.3) spec[int(r, 0, parts - 1)] = -1;
      next = g.op("Reshape", [cur, ints(spec)]);
    } else if (op === "Slice") {
      const a = axis(), n = d[a], stepv = pick(r, [1, 1, 2, -1, -2]);
      let start = int(r, -n, n - 1), end = stepv > 0 ? int(r, -n, n + 2) : int(r, -n - 2, n - 1);
      if (r() < 0.2) end = stepv > 0 ? 2 ** 31 - 1 : -(2 ** 31);
      // The length ONNX's clamping gives.
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      let s0 = start < 0 ? start + n : start, e0 = end < 0 ? end + n : end;
      if (stepv > 0) [s0, e0] = [clamp(s0, 0, n), clamp(e0, 0, n)];
      else [s0, e0] = [clamp(s0, 0, n - 1), clamp(e0, -1, n - 1)];
      const len = stepv > 0
        ? Math.ceil(Math.max(0, e0 - s0) / stepv)
        : Math.ceil(Math.max(0, s0 - e0) / -stepv);
      if (len < 1) continue;
      if (r() < 0.5) start = s0;
      next = g.op("Slice", [
        cur,
        ints([start]),
        ints([end]),
        ints([a - (r() < 0.5 ? d.length : 0)]),
        ints([stepv]),
      ]);
      nd = d.slice();
      nd[a] = len;
    } else if (op === "Concat") {
      const a = axis(), extra = d.slice();
      extra[a] = int(r, 1, 3);
      const other = g.weight(g.fresh("c"), extra, values(size(extra)));
      next = g.op("Concat", r() < 0.5 ? [cur, other] : [other, cur], {
        axis: a - (r() < 0.3 ? d.length : 0),
      });
      nd = d.slice();
      nd[a] += extra[a];
    } else if (op === "Split") {
      const a = axis();
      if (d[a] < 2) continue;
      const first = int(r, 1, d[a] - 1);
      const outs = g.node("Split", [cur, ints([first, d[a] - first])], 2, { axis: a });
      const which = int(r, 0, 1);
      next = outs[which];
      nd = d.slice();
      nd[a] = which === 0 ? first : d[a] - first;
    } else if (op === "Gather") {
      const a = axis(), n = d[a];
      const idx = Array.from({ length: int(r, 1, 4) }, () => int(r, -n, n - 1));
      const scalar = r() < 0.3;
      next = g.op("Gather", [cur, scalar ? ints([idx[0]], []) : ints(idx)], { axis: a });
      nd = [...d.slice(0, a), ...(scalar ? [] : [idx.length]), ...d.slice(a + 1)];
      if (nd.length === 0) {
        nd = [1];
        next = g.op("Reshape", [next, ints([1])]);
      }
    } else if (op === "Expand") {
      if (d.length >= 5) continue;
      const grown = d.map((v) => (v === 1 && r() < 0.6 ? int(r, 2, 3) : v));
      const lead = r() < 0.4 ? [int(r, 1, 3)] : [];
      nd = [...lead, ...grown];
      if (size(nd) > 4096) continue;
      next = g.op("Expand", [cur, ints(nd)]);
    } else if (op === "Unsqueeze") {
      if (d.length >= 5) continue;
      const at = int(r, 0, d.length);
      next = g.opset >= 13
        ? g.op("Unsqueeze", [cur, ints([at])])
        : g.op("Unsqueeze", [cur], { axes: [at] });
      nd = [...d.slice(0, at), 1, ...d.slice(at)];
    } else if (op === "Squeeze") {
      const ones = d.map((v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0);
      if (!ones.length || d.length === 1) continue;
      const at = pick(r, ones);
      next = g.op("Squeeze", [cur, ints([at])]);
      nd = d.filter((_, i) => i !== at);
    } else if (op === "Tile") {
      const reps = d.map(() => pick(r, [1, 1, 2, 3]));
      nd = d.map((v, i) => v * reps[i]);
      if (size(nd) > 4096) continue;
      next = g.op("Tile", [cur, ints(reps)]);
    } else if (op === "Pad") {
      const mode = pick(r, ["constant", "reflect", "edge"]);
      const pads = [
        ...d.map((v) => int(r, 0, mode === "reflect" ? Math.min(2, v - 1) : 2)),
        ...d.map((v) => int(r, 0, mode === "reflect" ? Math.min(2, v - 1) : 2)),
      ];
      nd = d.map((v, i) => v + pads[i] + pads[i + d.length]);
      if (size(nd) > 4096) continue;
      const ins = [cur, ints(pads)];
      if (mode === "constant") ins.push(g.weight(g.fresh("pv"), [], [0.5]));
      next = g.op("Pad", ins, { mode });
    } else if (op === "Flatten") {
      const a = int(r, 0, d.length);
      next = g.op("Flatten", [cur], { axis: a });
      nd = [size(d.slice(0, a)), size(d.slice(a))];
    } else if (op === "Binary") {
      const b = pick(r, ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"]);
      const bd = broadcastable(r, d);
      let vals = values(size(bd));
      if (b === "Div") vals = vals.map((v) => (Math.abs(v) < 0.25 ? 1.5 : v));
      if (b === "Pow") vals = vals.map(() => pick(r, [2, 1, 0.5, 3]));
      const other = g.weight(g.fresh("k"), bd, vals);
      let lhs = cur;
      if (b === "Pow") lhs = g.op("Abs", [cur]);
      // Never divided by, or raised to, a computed value: near 0 either amplifies the
      // reduction's rounding past any tolerance (a LogSoftmax of −1.7e-5 under a division).
      const computedLeft = b === "Pow" || b === "Div" || r() < 0.7;
      next = g.op(b, computedLeft ? [lhs, other] : [other, lhs]);
    } else if (op === "Where") {
      // A threshold no sum of eighths lands near: a rounding difference flips no pick.
      const cond = g.op("Greater", [cur, g.weight(g.fresh("t"), [], [0.0371])]);
      const bd = broadcastable(r, d);
      next = g.op("Where", [cond, cur, g.weight(g.fresh("w"), bd, values(size(bd)))]);
    } else if (op === "Reduce") {
      const kind = pick(r, ["ReduceSum", "ReduceMean", "ReduceMax"]);
      const axes = [...new Set(Array.from({ length: int(r, 1, d.length) }, axis))].sort();
      const keep = r() < 0.5 ? 1 : 0;
      if (!keep && axes.length === d.length) continue;
      next = kind === "ReduceSum" || g.opset >= 18
        ? g.op(kind, [cur, ints(axes)], { keepdims: keep })
        : g.op(kind, [cur], { axes, keepdims: keep });
      nd = keep
        ? d.map((v, i) => (axes.includes(i) ? 1 : v))
        : d.filter((_, i) => !axes.includes(i));
    } else if (op === "Softmax") {
      next = g.op(pick(r, ["Softmax", "LogSoftmax"]), [cur], {
        axis: axis() - (r() < 0.5 ? d.length : 0),
      });
    } else if (op === "MatMul") {
      // x (rank ≥ 1) times a constant whose batch dims broadcast against x's.
      const k = d[d.length - 1], n = pick(r, [1, 3, 8, 17]);
      const batch = d.length > 2 ? broadcastable(r, d.slice(0, -2)) : [];
      const bd = r() < 0.2 && d.length >= 2 ? [k] : [...batch, k, n];
      const w = g.weight(g.fresh("mm"), bd, values(size(bd)));
      next = g.op("MatMul", [cur, w]);
      nd = bd.length === 1
        ? d.slice(0, -1)
        : d.length === 1
        ? [...batch, n]
        : [...broadcastShape(d.slice(0, -2), batch), d[d.length - 2], n];
      if (nd.length === 0) {
        nd = [1];
        next = g.op("Reshape", [next, ints([1])]);
      }
    } else if (op === "Gemm") {
      if (d.length !== 2) continue;
      const [m, k] = d, n = pick(r, [1, 5, 16]);
      const transB = r() < 0.5 ? 1 : 0;
      const b = g.weight(g.fresh("gb"), transB ? [n, k] : [k, n], values(k * n));
      const cShape = pick(r, [[n], [1, n], [m, n], [m, 1], []]);
      const c = g.weight(g.fresh("gc"), cShape, values(size(cShape)));
      next = g.op("Gemm", [cur, b, c], {
        transB,
        alpha: { f: pick(r, [1, 0.5, 2]) },
        beta: { f: pick(r, [1, 0.5, 0]) },
      });
      nd = [m, n];
    } else if (op === "ArgMax") {
      const a = axis(), keep = r() < 0.5 ? 1 : 0;
      if (!keep && d.length === 1) continue;
      // A ramp along the axis keeps near ties apart: products of these 1/8-step weights tie or
      // nearly tie, and a MatMul summed in another order rounds a near tie either way (ORT's
      // FMA chain against our k-split sums flipped an ArgMin: seed 700436). Exact ties and
      // select_last_index are model_ops_test's.
      const ramp = g.weight(
        g.fresh("ramp"),
        d.map((v, i) => (i === a ? v : 1)),
        Array.from({ length: d[a] }, (_, k) => k / 128),
      );
      const src = g.op("Add", [cur, ramp]);
      const idx = g.op(pick(r, ["ArgMax", "ArgMin"]), [src], { axis: a, keepdims: keep });
      next = g.op("Cast", [idx], { to: 1 });
      nd = keep ? d.map((v, i) => (i === a ? 1 : v)) : d.filter((_, i) => i !== a);
    } else if (op === "CumSum") {
      next = g.op("CumSum", [cur, ints([axis()], [])], {
        exclusive: r() < 0.3 ? 1 : 0,
        reverse: r() < 0.3 ? 1 : 0,
      });
    } else if (op === "ShapeOps") {
      // Shape → a dim → ConstantOfShape of it, added as a broadcast row (int64 plumbing).
      const a = axis();
      const dim = g.op("Gather", [g.op("Shape", [cur]), ints([a])], { axis: 0 });
      const row = g.op("ConstantOfShape", [dim], {
        value: { tensor: { type: "float32", dims: [1], data: [0.25] } },
      });
      const range = g.op("Cast", [
        g.op("Range", [ints([0], []), g.op("Squeeze", [dim, ints([0])]), ints([1], [])]),
      ], {
        to: 1,
      });
      const plus = g.op("Add", [row, range]);
      if (a !== d.length - 1) continue;
      next = g.op("Add", [cur, plus]);
    } else {
      next = g.op(pick(r, ["Neg", "Abs", "Relu", "Tanh", "Sigmoid", "Exp", "Erf"]), [cur]);
    }
    if (next === null) continue;
    cur = next;
    d = nd;
    ops.push(op);
  }
  g.output(cur, "float32", d);
  return { bytes: g.toBytes(), dims: dims0, ops };
}
