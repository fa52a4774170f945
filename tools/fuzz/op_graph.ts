/**
 * Single ops with random attributes, the geometry- and index-heavy ones:
 * Conv, ConvTranspose (output_shape, output_padding, auto_pad), MaxPool (its
 * Indices output, storage_order) and AveragePool
 * with auto_pad, ceil_mode and dilations, Einsum (products, transposes, sums), TopK,
 * GatherElements, ScatterElements (with its reductions), GatherND,
 * ScatterND, LSTM and GRU (directions, sequence lengths, initial states),
 * Softmax/LogSoftmax/Hardmax (opset 11's 2-D coercion and 13's axis), every
 * Reduce (axes as attribute or input, keepdims, noop_with_empty_axes),
 * Split (sizes, num_outputs), Pad (opset 18 axes, every mode), Instance/Lp/
 * MeanVariance normalization and LRN, Gemm (transposes, alpha, beta, C's
 * broadcast shapes) and Trilu, opsets 11-19: one model each, against onnxruntime-node with its graph
 * optimizations off (see graph.ts for the tolerance).
 *
 * @module
 */
import { f, GraphBuilder } from "../onnx_writer.ts";
import { int, pick } from "./shared.ts";
import { ortExactWeightMax } from "../../tests/helpers/ort.ts";

/** A built model: its bytes, its float input's dims and what it is. */
export interface BuiltOp {
  bytes: Uint8Array;
  dims: number[];
  ops: string[];
}

const size = (d: readonly number[]) => d.reduce((p, q) => p * q, 1);

/** A random one-op model (x: a float input). */
export function buildOpGraph(r: () => number): BuiltOp {
  const g = new GraphBuilder(pick(r, [13, 17, 18]));
  const rand = (n: number, s = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const op = pick(r, [
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "Einsum",
    "TopK",
    "GatherElements",
    "ScatterElements",
    "GatherND",
    "ScatterND",
    "LSTM",
    "GRU",
    "Softmax",
    "Reduce",
    "Split",
    "Pad",
    "Norm",
    "Gemm",
    "Trilu",
    "GatherNDBatch",
    "Mod",
    "Clip",
    "OneHot",
    "RNN",
    "ResizeScales",
    "ResizeOpset19",
    "DynamicQuantMatMul",
    "Contrib",
  ]);
  const autoPad = () => pick(r, ["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]);
  let dims: number[];
  let label = op;
  if (op === "Conv" || op === "ConvTranspose" || op === "MaxPool" || op === "AveragePool") {
    const c = int(r, 1, 6), h = int(r, 1, 12), w = int(r, 1, 12), n = pick(r, [1, 2]);
    dims = [n, c, h, w];
    g.input("x", "float32", dims);
    const kh = int(r, 1, 4), kw = int(r, 1, 4), st = [int(r, 1, 3), int(r, 1, 3)];
    let pad = autoPad();
    // Where ONNX Runtime leaves ONNX's definition, no case: a ConvTranspose SAME with a kernel
    // narrower than its stride (ORT writes the full output, not input·stride, against its own
    // shape inference), a pool SAME with dilations (ORT's padding ignores them: 4 outputs of
    // 5 at stride 1), a window larger than the padded input (ORT truncates a negative span's
    // quotient to one output where ONNX's floor gives none).
    // Nor a pool SAME whose kernel is narrower than its stride (a negative total padding:
    // ORT refuses it, or with ceil_mode shifts every window by one).
    if (op !== "Conv" && pad.startsWith("SAME") && (kh < st[0] || kw < st[1])) pad = "NOTSET";
    const attrs: Record<string, number | number[] | string> = {
      kernel_shape: [kh, kw],
      strides: st,
      auto_pad: pad,
    };
    if (pad === "NOTSET") {
      attrs.pads = [int(r, 0, kh - 1), int(r, 0, kw - 1), int(r, 0, kh - 1), int(r, 0, kw - 1)];
    }
    const pooled = op === "MaxPool" || op === "AveragePool";
    if ((op !== "AveragePool" || g.opset >= 19) && !(pooled && pad.startsWith("SAME"))) {
      if (r() < 0.4) attrs.dilations = [int(r, 1, 2), int(r, 1, 2)];
    }
    if (pooled) {
      const d = (attrs.dilations as number[] | undefined) ?? [1, 1];
      const p = (attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
      const room = pad === "NOTSET" ? [h + p[0] + p[2], w + p[1] + p[3]] : [h, w];
      if ((kh - 1) * d[0] + 1 > room[0] || (kw - 1) * d[1] + 1 > room[1]) {
        attrs.kernel_shape = [Math.min(kh, room[0]), Math.min(kw, room[1])];
        delete attrs.dilations;
      }
    }
    if (op === "Conv") {
      const oc = int(r, 1, 6);
      g.output(
        g.op("Conv", [
          "x",
          g.weight("w", [oc, c, kh, kw], rand(oc * c * kh * kw)),
          g.weight("b", [oc], rand(oc)),
        ], attrs),
      );
    } else if (op === "ConvTranspose") {
      const oc = int(r, 1, 6);
      if (r() < 0.3) {
        // output_shape: the pads it implies (pads ignored), within the full output.
        const full = [h, w].map((v, i) =>
          st[i] * (v - 1) +
          ([kh, kw][i] - 1) * (attrs.dilations as number[] | undefined ?? [1, 1])[i] + 1
        );
        attrs.output_shape = full.map((v) => v - int(r, 0, Math.min(2, v - 1)));
        delete attrs.pads;
      } else if (r() < 0.5) {
        attrs.output_padding = [int(r, 0, st[0] - 1), int(r, 0, st[1] - 1)];
      }
      g.output(
        g.op("ConvTranspose", ["x", g.weight("w", [c, oc, kh, kw], rand(oc * c * kh * kw))], attrs),
      );
    } else if (op === "MaxPool") {
      if (r() < 0.3) attrs.ceil_mode = 1;
      if (r() < 0.3) attrs.storage_order = pick(r, [0, 1]);
      // The Indices where every window reaches x (one wholly in the padding: ONNX Runtime's
      // index is arithmetic on −1, ours −1).
      const explicit = pad === "NOTSET" && !attrs.ceil_mode;
      const p = (attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
      const d = (attrs.dilations as number[] | undefined) ?? [1, 1];
      const touches = (
        size: number,
        k: number,
        s: number,
        dd: number,
        lead: number,
        trail: number,
      ) => {
        const out = Math.floor((size + lead + trail - (k - 1) * dd - 1) / s) + 1;
        for (let o = 0; o < out; o++) {
          let hit = false;
          for (let a = 0; a < k && !hit; a++) {
            hit = o * s - lead + a * dd >= 0 && o * s - lead + a * dd < size;
          }
          if (!hit) return false;
        }
        return true;
      };
      const indices = explicit && touches(h, kh, st[0], d[0], p[0], p[2]) &&
        touches(w, kw, st[1], d[1], p[1], p[3]);
      const [y, i] = g.node("MaxPool", ["x"], indices ? 2 : 1, attrs);
      g.output(y);
      if (indices) g.output(g.op("Cast", [i], { to: 1 }));
    } else {
      if (r() < 0.3) attrs.ceil_mode = 1;
      if (r() < 0.5) attrs.count_include_pad = 1;
      g.output(g.op("AveragePool", ["x"], attrs));
    }
    label = `${op} ${JSON.stringify(attrs)} on ${dims.join("×")}`;
  } else if (op === "Einsum") {
    const eq = pick(r, [
      ["ij,jk->ik", [3, 4], [4, 5]],
      ["bij,bjk->bik", [2, 3, 4], [2, 4, 5]],
      ["ij->ji", [3, 4], null],
      ["ij->i", [3, 4], null],
      ["ij->", [3, 4], null],
      ["bhid,bhjd->bhij", [1, 2, 3, 4], [1, 2, 5, 4]],
      ["ii->i", [4, 4], null],
      ["i,j->ij", [3], [4]],
      ["ijk->kji", [2, 3, 4], null],
      ["bij,jk->bik", [2, 3, 4], [4, 5]],
      ["...ij,...jk->...ik", [2, 3, 4], [2, 4, 5]],
    ] as [string, number[], number[] | null][]);
    dims = eq[1];
    g.input("x", "float32", dims);
    const ins = ["x"];
    if (eq[2]) ins.push(g.weight("b", eq[2], rand(size(eq[2]))));
    g.output(g.op("Einsum", ins, { equation: eq[0] }));
    label = `Einsum ${eq[0]}`;
  } else if (op === "TopK") {
    dims = [int(r, 1, 4), int(r, 1, 12)];
    g.input("x", "float32", dims);
    const axis = int(r, 0, 1), k = int(r, 1, dims[axis]);
    const attrs = { axis, largest: pick(r, [0, 1]), sorted: 1 };
    const [v, idx] = g.node("TopK", ["x", g.ints("k", [k])], 2, attrs);
    g.output(v);
    g.output(g.op("Cast", [idx], { to: 1 }));
    label = `TopK k=${k} ${JSON.stringify(attrs)} on ${dims.join("×")}`;
  } else if (op === "GatherElements" || op === "ScatterElements") {
    dims = [int(r, 1, 4), int(r, 1, 5), int(r, 1, 3)];
    g.input("x", "float32", dims);
    const axis = int(r, 0, 2), id = dims.slice();
    id[axis] = int(r, 1, 4);
    if (op === "ScatterElements") { for (let i = 0; i < 3; i++) id[i] = Math.min(id[i], dims[i]); }
    const n = dims[axis];
    const idx = g.ints("idx", Array.from({ length: size(id) }, () => int(r, -n, n - 1)), id);
    if (op === "GatherElements") {
      g.output(g.op("GatherElements", ["x", idx], { axis: axis - (r() < 0.3 ? 3 : 0) }));
      label = `GatherElements axis ${axis} indices ${id.join("×")} on ${dims.join("×")}`;
    } else {
      // reduction is an attribute from opset 16 (max and min from 18).
      if (g.opset < 16) g.opset = 16;
      const reduction = g.opset >= 18
        ? pick(r, ["none", "add", "mul", "max", "min"])
        : pick(r, ["none", "add", "mul"]);
      // "none" with duplicate indices is undefined: distinct indices along the axis then.
      const upd = g.weight("u", id, rand(size(id)));
      const distinct = reduction === "none";
      const idxName = distinct
        ? g.ints(
          "idxd",
          Array.from({ length: size(id) }, (_, i) => {
            const along = Math.floor(i / size(id.slice(axis + 1))) % id[axis];
            return along;
          }),
          id,
        )
        : idx;
      g.output(g.op("ScatterElements", ["x", idxName, upd], { axis, reduction }));
      label = `ScatterElements axis ${axis} ${reduction} indices ${id.join("×")} on ${
        dims.join("×")
      }`;
    }
  } else if (op === "GatherND" || op === "ScatterND") {
    dims = [int(r, 1, 4), int(r, 1, 4), int(r, 1, 3)];
    g.input("x", "float32", dims);
    const depth = int(r, 1, 3), count = int(r, 1, 4);
    if (op === "GatherND") {
      const idx = Array.from({ length: count * depth }, (_, i) => int(r, 0, dims[i % depth] - 1));
      g.output(g.op("GatherND", ["x", g.ints("idx", idx, [count, depth])]));
      label = `GatherND depth ${depth} × ${count} on ${dims.join("×")}`;
    } else {
      // Distinct index tuples (duplicates are undefined for reduction none).
      const seen = new Set<string>(), tuples: number[][] = [];
      for (let t = 0; t < 20 && tuples.length < count; t++) {
        const tup = Array.from({ length: depth }, (_, i) => int(r, 0, dims[i] - 1));
        if (!seen.has(tup.join())) seen.add(tup.join()), tuples.push(tup);
      }
      const upd = [tuples.length, ...dims.slice(depth)];
      g.output(
        g.op("ScatterND", [
          "x",
          g.ints("idx", tuples.flat(), [tuples.length, depth]),
          g.weight("u", upd, rand(size(upd))),
        ]),
      );
      label = `ScatterND depth ${depth} × ${tuples.length} on ${dims.join("×")}`;
    }
  } else if (op === "Softmax") {
    // Opset 11's axis coerces x to 2-D ([before axis] × [from axis]); 13's is one axis.
    const rank = int(r, 1, 4);
    dims = Array.from({ length: rank }, () => int(r, 1, 5));
    g.opset = pick(r, [11, 13]);
    g.input("x", "float32", dims);
    const kind = pick(r, ["Softmax", "LogSoftmax", "Hardmax"]), axis = int(r, -rank, rank - 1);
    g.output(g.op(kind, ["x"], { axis }));
    label = `${kind} opset ${g.opset} axis ${axis} on ${dims.join("×")}`;
  } else if (op === "Reduce") {
    const rank = int(r, 1, 4);
    dims = Array.from({ length: rank }, () => int(r, 1, 5));
    g.opset = pick(r, [13, 18]);
    g.input("x", "float32", dims);
    const kind = pick(r, [
      "ReduceSum",
      "ReduceMean",
      "ReduceMax",
      "ReduceMin",
      "ReduceProd",
      "ReduceL1",
      "ReduceL2",
      "ReduceLogSumExp",
      "ReduceSumSquare",
    ]);
    const axes = [
      ...new Set(Array.from({ length: int(r, 0, rank) }, () => int(r, -rank, rank - 1))),
    ]
      .filter((a, _, all) => !all.includes(a < 0 ? a + rank : a - rank));
    const attrs: Record<string, number | number[]> = { keepdims: pick(r, [0, 1]) };
    // Axes an input from opset 18 (ReduceSum from 13); noop_with_empty_axes with it.
    const asInput = kind === "ReduceSum" || g.opset >= 18;
    const ins = ["x"];
    if (asInput) {
      if (axes.length) ins.push(g.ints("axes", axes));
      if (r() < 0.3) attrs.noop_with_empty_axes = 1;
    } else if (axes.length) attrs.axes = axes;
    g.output(g.op(kind, ins, attrs));
    label = `${kind} opset ${g.opset} axes [${axes}] ${JSON.stringify(attrs)} on ${dims.join("×")}`;
  } else if (op === "Split") {
    const rank = int(r, 1, 3);
    dims = Array.from({ length: rank }, () => int(r, 1, 7));
    g.input("x", "float32", dims);
    const axis = int(r, -rank, rank - 1), len = dims[axis < 0 ? axis + rank : axis];
    const outputs = int(r, 1, Math.min(3, len));
    // num_outputs (opset 18): ceil(len / n) each, the last what is left (when it is some).
    const even = Math.ceil(len / outputs);
    if (g.opset >= 18 && r() < 0.5 && even * (outputs - 1) < len) {
      for (const o of g.node("Split", ["x"], outputs, { axis, num_outputs: outputs })) g.output(o);
      label = `Split num_outputs ${outputs} axis ${axis} on ${dims.join("×")}`;
      return { bytes: g.toBytes(), dims, ops: [label] };
    }
    const cuts: number[] = [];
    let left = len;
    for (let i = 0; i < outputs - 1; i++) {
      const c = int(r, 0, left);
      cuts.push(c);
      left -= c;
    }
    cuts.push(left);
    for (const o of g.node("Split", ["x", g.ints("split", cuts)], outputs, { axis })) g.output(o);
    label = `Split [${cuts}] axis ${axis} on ${dims.join("×")}`;
  } else if (op === "Pad") {
    const rank = int(r, 1, 4);
    dims = Array.from({ length: rank }, () => int(r, 1, 5));
    g.opset = 18;
    g.input("x", "float32", dims);
    const mode = pick(r, ["constant", "reflect", "edge", "wrap"]);
    if (mode === "wrap") g.opset = 19;
    const axes = [...new Set(Array.from({ length: int(r, 1, rank) }, () => int(r, 0, rank - 1)))];
    const most = (a: number) => (mode === "reflect" ? dims[a] - 1 : mode === "wrap" ? dims[a] : 3);
    const pads = [
      ...axes.map((a) => int(r, mode === "constant" ? -1 : 0, most(a))),
      ...axes.map((a) => int(r, 0, most(a))),
    ];
    const ins = [
      "x",
      g.ints("pads", pads),
      mode === "constant" ? g.weight("v", [], [0.5]) : "",
      g.ints("axes", axes),
    ];
    g.output(g.op("Pad", ins, { mode }));
    label = `Pad ${mode} axes [${axes}] pads [${pads}] on ${dims.join("×")}`;
  } else if (op === "Norm") {
    dims = [int(r, 1, 3), int(r, 1, 5), int(r, 1, 6), int(r, 1, 6)];
    const kind = pick(r, [
      "InstanceNormalization",
      "LpNormalization",
      "MeanVarianceNormalization",
      "LRN",
    ]);
    // MVN's groups of eight or more: one alone ONNX Runtime gives NaN where we give 0
    // ((x − x)/(0 + 1e-9)), and two or three of close values lose more than the tolerance to
    // its float32 E[x²] − E[x]² (we sum in f64).
    const mvnAxes = pick(r, [[0, 2, 3], [2, 3], [1], [0, 1, 2, 3]]);
    const group = mvnAxes.reduce((p, a) => p * dims[a], 1), last = mvnAxes[mvnAxes.length - 1];
    if (group < 8) dims[last] *= Math.ceil(8 / group);
    g.input("x", "float32", dims);
    const c = dims[1];
    if (kind === "InstanceNormalization") {
      g.output(
        g.op(
          kind,
          ["x", g.weight("s", [c], rand(c)), g.weight("b", [c], rand(c))],
          { epsilon: { f: 1e-5 } } as never,
        ),
      );
    } else if (kind === "LpNormalization") {
      g.output(g.op(kind, ["x"], { axis: int(r, -4, 3), p: pick(r, [1, 2]) }));
    } else if (kind === "MeanVarianceNormalization") {
      g.output(g.op(kind, ["x"], { axes: mvnAxes }));
    } else {
      g.output(
        g.op(
          kind,
          ["x"],
          {
            size: pick(r, [1, 2, 3, 5]),
            alpha: { f: 1e-2 },
            beta: { f: 0.75 },
            bias: { f: 1 },
          } as never,
        ),
      );
    }
    label = `${kind} on ${dims.join("×")}`;
  } else if (op === "Gemm") {
    const m = int(r, 1, 6), k = int(r, 1, 6), n = int(r, 1, 6);
    const transA = pick(r, [0, 1]), transB = pick(r, [0, 1]);
    dims = transA ? [k, m] : [m, k];
    g.input("x", "float32", dims);
    const cShape = pick(r, [[n], [1, n], [m, n], [m, 1], [], null]);
    const ins = ["x", g.weight("b", transB ? [n, k] : [k, n], rand(k * n))];
    if (cShape) ins.push(g.weight("c", cShape, rand(size(cShape))));
    const attrs = {
      transA,
      transB,
      alpha: { f: pick(r, [1, 0.5, -2]) },
      beta: { f: pick(r, [1, 0, 1.5]) },
    };
    g.output(g.op("Gemm", ins, attrs as never));
    label = `Gemm ${m}×${k}×${n} ${JSON.stringify(attrs)} C ${cShape ? `[${cShape}]` : "none"}`;
  } else if (op === "GatherNDBatch") {
    // batch_dims 1: each batch row gathers from its own slice.
    const b = int(r, 1, 3);
    dims = [b, int(r, 1, 4), int(r, 1, 4)];
    g.input("x", "float32", dims);
    const depth = int(r, 1, 2), count = int(r, 1, 3);
    const idx = Array.from(
      { length: b * count * depth },
      (_, i) => int(r, 0, dims[1 + (i % depth)] - 1),
    );
    g.output(g.op("GatherND", ["x", g.ints("idx", idx, [b, count, depth])], { batch_dims: 1 }));
    label = `GatherND batch_dims 1 depth ${depth} × ${count} on ${dims.join("×")}`;
  } else if (op === "Mod") {
    dims = [int(r, 1, 4), int(r, 1, 6)];
    g.input("x", "float32", dims);
    const d = g.weight("d", [dims[1]], rand(dims[1], 3).map((v) => (Math.abs(v) < 0.3 ? 1.7 : v)));
    g.output(g.op("Mod", [g.op("Mul", ["x", g.weight("s", [], [5])]), d], { fmod: 1 }));
    label = `Mod fmod on ${dims.join("×")}`;
  } else if (op === "Clip") {
    dims = [int(r, 1, 4), int(r, 1, 6)];
    g.input("x", "float32", dims);
    const lo = pick(r, [-0.5, 0, 0.3, null]), hi = pick(r, [0.5, 1, -0.2, null]);
    const ins = [
      "x",
      lo === null ? "" : g.weight("lo", [], [lo]),
      hi === null ? "" : g.weight("hi", [], [hi]),
    ];
    while (ins[ins.length - 1] === "") ins.pop();
    g.output(g.op("Clip", ins));
    label = `Clip [${lo}, ${hi}] on ${dims.join("×")}`;
  } else if (op === "OneHot") {
    dims = [int(r, 1, 4), int(r, 1, 5)];
    g.input("x", "float32", dims);
    const depth = int(r, 2, 6), axis = int(r, -3, 2);
    // Indices from x: a rounding of 4x (negative ones count from the end, ONNX's rule).
    const ind = g.op("Cast", [g.op("Round", [g.op("Mul", ["x", g.weight("four", [], [4])])])], {
      to: 7,
    });
    const values = g.weight("v", [2], [-1, 2]);
    g.output(g.op("OneHot", [ind, g.ints("depth", [depth], []), values], { axis }));
    label = `OneHot depth ${depth} axis ${axis} on ${dims.join("×")}`;
  } else if (op === "RNN") {
    const seq = int(r, 1, 5), batch = int(r, 1, 3), input = int(r, 1, 5), hidden = int(r, 1, 5);
    const dir = pick(r, ["forward", "reverse", "bidirectional"]),
      nd = dir === "bidirectional" ? 2 : 1;
    dims = [seq, batch, input];
    g.input("x", "float32", dims);
    const ins = [
      "x",
      g.weight("W", [nd, hidden, input], rand(nd * hidden * input, 0.5)),
      g.weight("R", [nd, hidden, hidden], rand(nd * hidden * hidden, 0.5)),
      g.weight("B", [nd, 2 * hidden], rand(nd * 2 * hidden, 0.2)),
    ];
    const attrs: Record<string, unknown> = { hidden_size: hidden, direction: dir };
    if (r() < 0.4) {
      attrs.activations = Array.from({ length: nd }, () => pick(r, ["Tanh", "Relu", "Sigmoid"]));
    }
    for (const o of g.node("RNN", ins, 2, attrs as never)) g.output(o);
    label = `RNN ${dir} ${JSON.stringify(attrs)} seq ${seq} batch ${batch} input ${input}`;
  } else if (op === "ResizeScales") {
    dims = [1, int(r, 1, 3), int(r, 1, 7), int(r, 1, 7)];
    const sh = pick(r, [0.5, 1, 1.5, 2, 3, 0.75]), sw = pick(r, [0.5, 1, 1.5, 2, 3, 0.75]);
    if (Math.floor(dims[2] * sh) < 1 || Math.floor(dims[3] * sw) < 1) dims[2] = dims[3] = 4;
    g.input("x", "float32", dims);
    const mode = pick(r, ["nearest", "linear", "cubic"]);
    const attrs: Record<string, string> = {
      mode,
      coordinate_transformation_mode: pick(r, [
        "half_pixel",
        "asymmetric",
        "align_corners",
        "pytorch_half_pixel",
      ]),
    };
    if (mode === "nearest") attrs.nearest_mode = pick(r, ["floor", "ceil", "round_prefer_floor"]);
    g.output(g.op("Resize", ["x", "", g.weight("sc", [4], [1, 1, sh, sw])], attrs));
    label = `Resize scales [${sh}, ${sw}] ${JSON.stringify(attrs)} on ${dims.join("×")}`;
  } else if (op === "ResizeOpset19") {
    // Opset 18-19's Resize: antialias, exclude_outside, axes, keep_aspect_ratio_policy,
    // half_pixel_symmetric and tf_crop_and_resize (roi, extrapolation_value). Non-negative axes
    // only: onnxruntime 1.30 misreads negative ones.
    g.opset = 19;
    dims = [1, int(r, 1, 3), int(r, 1, 14), int(r, 1, 14)];
    g.input("x", "float32", dims);
    const mode = pick(r, ["nearest", "linear", "cubic"]);
    const coord = pick(r, [
      "half_pixel",
      "asymmetric",
      "align_corners",
      "pytorch_half_pixel",
      "half_pixel_symmetric",
      "tf_crop_and_resize",
    ]);
    const attrs: Record<string, unknown> = { mode, coordinate_transformation_mode: coord };
    const antialias = mode !== "nearest" && r() < 0.5;
    if (antialias) attrs.antialias = 1;
    if (mode === "cubic" || antialias) { if (r() < 0.4) attrs.exclude_outside = 1; }
    if (mode === "cubic") attrs.cubic_coeff_a = f(pick(r, [-0.75, -0.5]));
    if (mode === "nearest") {
      attrs.nearest_mode = pick(r, ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"]);
    }
    const withAxes = r() < 0.5;
    if (withAxes) attrs.axes = [2, 3];
    const roi = coord === "tf_crop_and_resize"
      ? g.weight(
        "roi",
        [withAxes ? 4 : 8],
        withAxes
          ? [0, 0, 0, 0].map((_, i) => (i < 2 ? 0 : 1) + int(r, -3, 3) / 10)
          : [0, 0, 0, 0, 1, 1, 1, 1].map((v, i) => (i % 4 < 2 ? v : v + int(r, -3, 3) / 10)),
      )
      : "";
    if (coord === "tf_crop_and_resize") attrs.extrapolation_value = f(pick(r, [0, -1.5, 4]));
    const oh = int(r, Math.ceil(dims[2] / 2), 2 * dims[2] + 2);
    const ow = int(r, Math.ceil(dims[3] / 2), 2 * dims[3] + 2);
    // The policy with axes only: without them its one scale spans N and C too.
    const policy = withAxes ? pick(r, ["stretch", "not_larger", "not_smaller"]) : "stretch";
    if (policy !== "stretch") attrs.keep_aspect_ratio_policy = policy;
    const sizes = withAxes ? [oh, ow] : [dims[0], dims[1], oh, ow];
    const bySizes = r() < 0.6 || policy !== "stretch";
    const scales = [oh / dims[2], ow / dims[3]].map((v) => Math.round(v * 8) / 8 || 0.5);
    const ins = bySizes ? [roi === "" ? "" : roi, "", g.ints("sizes", sizes)] : [
      roi === "" ? "" : roi,
      g.weight("sc", [withAxes ? 2 : 4], withAxes ? scales : [1, 1, ...scales]),
    ];
    g.output(g.op("Resize", ["x", ...ins], attrs as never));
    label = `Resize opset 19 ${bySizes ? `sizes [${sizes}]` : `scales [${scales}]`} ${
      JSON.stringify(attrs)
    } on ${dims.join("×")}`;
  } else if (op === "DynamicQuantMatMul") {
    // ONNX Runtime's dynamic quantization of a MatMul: x quantized per tensor at run time
    // (DynamicQuantizeLinear), MatMulInteger with int8 weights (per tensor or per column zero
    // points of 0), the int32 product scaled back and biased.
    const m = int(r, 1, 6), k = int(r, 1, 40), n = int(r, 1, 20);
    dims = pick(r, [[m, k], [2, m, k]]);
    g.input("x", "float32", dims);
    const [q, scale, zero] = g.node("DynamicQuantizeLinear", ["x"], 3);
    // 7-bit weights where ORT's own 8-bit GEMMs saturate (its outputs are the reference).
    const most = ortExactWeightMax();
    const wq = Array.from({ length: k * n }, () => int(r, -most, most));
    const W = g.initializer("w", { type: "int8", dims: [k, n], data: wq });
    const perColumn = r() < 0.5;
    const Wz = g.initializer("wz", {
      type: "int8",
      dims: perColumn ? [n] : [],
      data: new Array(perColumn ? n : 1).fill(0),
    });
    const prod = g.op("MatMulInteger", [q, W, zero, Wz]);
    const ws = g.weight(
      "ws",
      perColumn ? [n] : [],
      rand(perColumn ? n : 1).map((v) => 0.002 + Math.abs(v) / 100),
    );
    const y = g.op("Mul", [g.op("Mul", [g.op("Cast", [prod], { to: 1 }), scale]), ws]);
    g.output(g.op("Add", [y, g.weight("b", [n], rand(n))]));
    label = `DynamicQuantizeLinear → MatMulInteger ${dims.join("×")} × ${k}×${n}${
      perColumn ? " per column" : ""
    }`;
  } else if (op === "Contrib") {
    // ONNX Runtime's com.microsoft ops an optimized transformer export holds.
    g.extraOpsets.push(["com.microsoft", 1]);
    const rows = int(r, 1, 6), hidden = pick(r, [4, 8, 16, 24]);
    dims = pick(r, [[rows, hidden], [2, rows, hidden]]);
    g.input("x", "float32", dims);
    const kind = pick(r, ["SkipLayerNormalization", "BiasGelu", "FastGelu", "Gelu", "QuickGelu"]);
    const vec = (name: string, scale = 1) => g.weight(name, [hidden], rand(hidden, scale));
    if (kind === "SkipLayerNormalization") {
      const skip = g.weight("skip", dims, rand(size(dims)));
      const ins = [
        "x",
        skip,
        vec("gamma", 1),
        r() < 0.5 ? vec("beta", 0.3) : "",
        r() < 0.5 ? vec("bias", 0.3) : "",
      ];
      while (ins[ins.length - 1] === "") ins.pop();
      g.output(g.node(kind, ins, 1, { epsilon: { f: 1e-5 } } as never, "com.microsoft")[0]);
    } else if (kind === "BiasGelu" || kind === "FastGelu") {
      const ins = ["x", ...(kind === "BiasGelu" || r() < 0.5 ? [vec("bias", 0.5)] : [])];
      g.output(g.node(kind, ins, 1, {}, "com.microsoft")[0]);
    } else if (kind === "QuickGelu") {
      g.output(
        g.node(kind, ["x"], 1, { alpha: { f: pick(r, [1.702, 1]) } } as never, "com.microsoft")[0],
      );
    } else {
      g.output(g.node(kind, ["x"], 1, {}, "com.microsoft")[0]);
    }
    label = `${kind} (com.microsoft) on ${dims.join("×")}`;
  } else if (op === "Trilu") {
    if (g.opset < 14) g.opset = 14; // Trilu is opset 14's
    const rank = int(r, 2, 4);
    dims = Array.from({ length: rank }, () => int(r, 1, 6));
    g.input("x", "float32", dims);
    const upper = pick(r, [0, 1]), kk = int(r, -4, 4);
    g.output(g.op("Trilu", ["x", g.ints("k", [kk], [])], { upper }));
    label = `Trilu upper ${upper} k ${kk} on ${dims.join("×")}`;
  } else {
    // LSTM / GRU: x [seq, batch, input].
    const seq = int(r, 1, 5), batch = int(r, 1, 3), input = int(r, 1, 6), hidden = int(r, 1, 6);
    const dir = pick(r, ["forward", "reverse", "bidirectional"]),
      nd = dir === "bidirectional" ? 2 : 1;
    dims = [seq, batch, input];
    g.input("x", "float32", dims);
    const gates = op === "LSTM" ? 4 : 3;
    const ins = [
      "x",
      g.weight("W", [nd, gates * hidden, input], rand(nd * gates * hidden * input, 0.5)),
      g.weight("R", [nd, gates * hidden, hidden], rand(nd * gates * hidden * hidden, 0.5)),
      g.weight("B", [nd, 2 * gates * hidden], rand(nd * 2 * gates * hidden, 0.2)),
    ];
    const lens = r() < 0.4;
    ins.push(
      lens
        ? g.initializer("lens", {
          type: "int32",
          dims: [batch],
          data: Array.from({ length: batch }, () => int(r, 1, seq)),
        })
        : "",
    );
    const h0 = r() < 0.5;
    ins.push(h0 ? g.weight("h0", [nd, batch, hidden], rand(nd * batch * hidden)) : "");
    if (op === "LSTM") {
      ins.push(
        h0 && r() < 0.5 ? g.weight("c0", [nd, batch, hidden], rand(nd * batch * hidden)) : "",
      );
    }
    while (ins[ins.length - 1] === "") ins.pop();
    const attrs: Record<string, number | string> = { hidden_size: hidden, direction: dir };
    if (op === "GRU" && r() < 0.5) attrs.linear_before_reset = 1;
    const outs = g.node(op, ins, op === "LSTM" ? 3 : 2, attrs);
    // Past a sequence's length Y is zeros, as is everything for an empty one.
    for (const o of outs) g.output(o);
    label = `${op} ${dir} seq ${seq} batch ${batch} input ${input} hidden ${hidden}${
      lens ? " lens" : ""
    }${h0 ? " h0" : ""}${attrs.linear_before_reset ? " linear_before_reset" : ""}`;
  }
  return { bytes: g.toBytes(), dims, ops: [label] };
}
