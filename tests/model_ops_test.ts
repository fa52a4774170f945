/**
 * Every supported op alone (with its attribute variants and opset forms),
 * in a model written by our ONNX writer, against onnxruntime (live when
 * installed, else the committed golden outputs), optimizations on and off.
 */
import assert from "node:assert/strict";
import { InferenceSession, Tensor } from "../mod.ts";
import { f, fs, GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { assertClose, checkModel, type Feed, reference } from "./helpers/golden.ts";
import { loadOrt } from "./helpers/ort.ts";

interface Case {
  name: string;
  build: (g: GraphBuilder) => void;
  feeds: Record<string, Feed>;
  opset?: number;
}

const F = (dims: number[], seed: number, scale = 1, shift = 0): Feed => {
  const n = dims.reduce((a, b) => a * b, 1);
  return { type: "float32", dims, data: seededFloats(n, seed, scale).map((v) => v + shift) };
};
const I64 = (dims: number[], values: number[]): Feed => ({
  type: "int64",
  dims,
  data: BigInt64Array.from(values, (v) => BigInt(v)),
});

/** One op on input x (float32 dims) with attributes, output y. */
function unary(
  op: string,
  attrs: Record<string, ReturnType<typeof f> | number | string | number[]> = {},
  dims = [2, 3, 17],
  scale = 3,
  shift = 0,
  opset = 17,
): Case {
  return {
    name: `${op}${Object.keys(attrs).length ? " " + JSON.stringify(attrs) : ""} opset ${opset}`,
    opset,
    build: (g) => {
      g.input("x", "float32", dims);
      g.output(g.op(op, ["x"], attrs as never, "y"));
    },
    feeds: { x: F(dims, 7, scale, shift) },
  };
}

/** One two-input op on float inputs a, b. */
function binary(op: string, da: number[], db: number[], opset = 17, bShift = 0): Case {
  return {
    name: `${op} [${da}] [${db}] opset ${opset}`,
    opset,
    build: (g) => {
      g.input("a", "float32", da);
      g.input("b", "float32", db);
      g.output(g.op(op, ["a", "b"], {}, "y"));
    },
    feeds: { a: F(da, 3, 2), b: F(db, 4, 1, bShift) },
  };
}

/** A graph with one float input x and arbitrary nodes. */
function graph(
  name: string,
  dims: number[],
  build: (g: GraphBuilder) => void,
  opset = 17,
  scale = 2,
): Case {
  return {
    name,
    opset,
    build: (g) => {
      g.input("x", "float32", dims);
      build(g);
    },
    feeds: { x: F(dims, 11, scale) },
  };
}

const sizeOfDims = (dims: number[]) => dims.reduce((p, q) => p * q, 1);

/** A float32 scalar initializer (a quantization scale). */
const scaleOf = (g: GraphBuilder, name: string, v: number) =>
  g.initializer(name, { type: "float32", dims: [], data: [v] });

/** A one-value 8-bit initializer (a zero point). */
const zeroPointOf = (g: GraphBuilder, name: string, type: "uint8" | "int8", v: number) =>
  g.initializer(name, { type, dims: [], data: [v] });

const w = (g: GraphBuilder, name: string, dims: number[], seed: number, scale = 0.5) =>
  g.weight(name, dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed, scale));

const CASES: Case[] = [
  unary("Relu"),
  unary("Sigmoid"),
  unary("Tanh"),
  unary("Exp"),
  unary("Log", {}, [2, 3, 17], 1, 1.5),
  unary("Sqrt", {}, [2, 3, 17], 1, 1.5),
  unary("Reciprocal", {}, [2, 3, 17], 1, 2),
  unary("Abs"),
  unary("Neg"),
  unary("Erf"),
  unary("LeakyRelu", { alpha: f(0.2) }),
  unary("Elu", { alpha: f(0.7) }),
  unary("Selu"),
  unary("HardSigmoid", { alpha: f(0.25), beta: f(0.4) }),
  unary("HardSwish"),
  unary("Softplus"),
  unary("Mish", {}, [2, 3, 17], 3, 0, 18),
  unary("Gelu", {}, [2, 3, 17], 3, 0, 20),
  unary("Gelu", { approximate: "tanh" }, [2, 3, 17], 3, 0, 20),
  unary("Clip", { min: f(-0.5), max: f(1) }, [4, 9], 3, 0, 9),
  {
    name: "Clip min/max inputs opset 13",
    opset: 13,
    build: (g) => {
      g.input("x", "float32", [4, 9]);
      const lo = g.initializer("lo", { type: "float32", dims: [], data: [0] });
      const hi = g.initializer("hi", { type: "float32", dims: [], data: [6] });
      g.output(g.op("Clip", ["x", lo, hi], {}, "y"));
    },
    feeds: { x: F([4, 9], 2, 10) },
  },
  {
    name:
      "Clip's bounds fed (float32) and Clip of integers (int64, int32, int8, uint8; a bound left out)",
    opset: 13,
    build: (g) => {
      g.input("x", "float32", [4, 9]);
      g.input("lo", "float32", []);
      g.input("hi", "float32", []);
      g.input("a", "int64", [6]);
      g.output(g.op("Clip", ["x", "lo", "hi"], {}, "fed"));
      g.output(g.op("Clip", ["x", "", "hi"], {}, "fed_max"));
      const lo = g.ints("lo64", [-2], []), hi = g.ints("hi64", [3], []);
      g.output(g.op("Clip", ["a", lo, hi], {}, "i64"), "int64");
      const a32 = g.op("Cast", ["a"], { to: 6 });
      const lo32 = g.initializer("lo32", { type: "int32", dims: [], data: [-1] });
      g.output(g.op("Clip", [a32, lo32], {}, "i32"), "int32");
      const a8 = g.op("Cast", ["a"], { to: 3 });
      const hi8 = g.initializer("hi8", { type: "int8", dims: [], data: [2] });
      g.output(g.op("Clip", [a8, "", hi8], {}, "i8"), "int8");
      const u8 = g.op("Cast", [g.op("Abs", ["a"])], { to: 2 });
      const lo8 = g.initializer("lo8", { type: "uint8", dims: [], data: [3] });
      g.output(g.op("Clip", [u8, lo8], {}, "u8"), "uint8");
    },
    feeds: {
      x: F([4, 9], 2, 10),
      lo: { type: "float32", dims: [], data: Float32Array.from([-1.5]) },
      hi: { type: "float32", dims: [], data: Float32Array.from([2.25]) },
      a: I64([6], [-7, -2, 0, 3, 5, 100]),
    },
  },
  {
    name: "Clip max only opset 13",
    opset: 13,
    build: (g) => {
      g.input("x", "float32", [4, 9]);
      const hi = g.initializer("hi", { type: "float32", dims: [], data: [0.5] });
      g.output(g.op("Clip", ["x", "", hi], {}, "y"));
    },
    feeds: { x: F([4, 9], 2, 3) },
  },
  binary("Add", [2, 3, 4], [4]),
  binary("Add", [2, 1, 4], [3, 1]),
  binary("Sub", [5, 6], [5, 6]),
  binary("Mul", [1, 3, 1, 5], [2, 1, 4, 1]),
  binary("Div", [4, 7], [7], 17, 3),
  binary("Pow", [3, 5], [3, 5], 17, 0),
  binary("Max", [3, 5], [5]),
  binary("Min", [3, 5], [3, 1]),
  {
    name: "Pow by constant 2 and 0.5",
    build: (g) => {
      g.input("x", "float32", [3, 8]);
      const two = g.initializer("two", { type: "float32", dims: [], data: [2] });
      const half = g.initializer("half", { type: "float32", dims: [1], data: [0.5] });
      g.output(g.op("Pow", [g.op("Pow", ["x", two]), half], {}, "y"));
    },
    feeds: { x: F([3, 8], 9, 3) },
  },
  {
    name: "Sum and Max of three",
    build: (g) => {
      for (const n of ["a", "b", "c"]) g.input(n, "float32", [2, 5]);
      g.output(g.op("Sum", ["a", "b", "c"], {}, "s"));
      g.output(g.op("Max", ["a", "b", "c"], {}, "m"));
    },
    feeds: { a: F([2, 5], 1), b: F([2, 5], 2), c: F([2, 5], 3) },
  },
  {
    name: "Where Greater Less Equal Not And Or",
    build: (g) => {
      g.input("a", "float32", [3, 4]);
      g.input("b", "float32", [4]);
      const gt = g.op("Greater", ["a", "b"]);
      const lt = g.op("Less", ["a", "b"]);
      g.output(g.op("Where", [gt, "a", "b"], {}, "y"));
      g.output(g.op("And", [g.op("Not", [gt]), g.op("Not", [lt])], {}, "eq"), "bool");
      g.output(g.op("Or", [gt, lt], {}, "ne"), "bool");
    },
    feeds: {
      a: {
        type: "float32",
        dims: [3, 4],
        data: Float32Array.from([1, 2, 3, 4, 4, 3, 2, 1, 0, 2, 0, 4]),
      },
      b: F([4], 1, 0, 2),
    },
  },
  {
    name: "Equal on int64 feeds, Cast to float",
    build: (g) => {
      g.input("i", "int64", [2, 3]);
      g.input("j", "int64", [3]);
      g.output(g.op("Cast", [g.op("Equal", ["i", "j"])], { to: 1 }, "y"));
      g.output(g.op("Cast", [g.op("Add", ["i", "j"])], { to: 1 }, "s"));
    },
    feeds: { i: I64([2, 3], [1, 2, 3, 3, 2, 1]), j: I64([3], [1, 5, 1]) },
  },
  {
    name: "MatMul 2-D",
    build: (g) => {
      g.input("a", "float32", [5, 7]);
      g.output(g.op("MatMul", ["a", w(g, "b", [7, 9], 1)], {}, "y"));
    },
    feeds: { a: F([5, 7], 2) },
  },
  {
    name: "MatMul batched 3-D × constant 2-D, and feed × feed 4-D",
    build: (g) => {
      g.input("a", "float32", [2, 5, 7]);
      g.input("q", "float32", [2, 3, 4, 6]);
      g.input("k", "float32", [2, 3, 6, 5]);
      g.output(g.op("MatMul", ["a", w(g, "b", [7, 9], 1)], {}, "y"));
      g.output(g.op("MatMul", ["q", "k"], {}, "s"));
    },
    feeds: { a: F([2, 5, 7], 2), q: F([2, 3, 4, 6], 3), k: F([2, 3, 6, 5], 4) },
  },
  {
    name: "MatMul broadcast batch and 1-D operands",
    build: (g) => {
      g.input("a", "float32", [3, 1, 4, 6]);
      g.input("b", "float32", [2, 6, 5]);
      g.input("v", "float32", [6]);
      g.output(g.op("MatMul", ["a", "b"], {}, "y"));
      g.output(g.op("MatMul", ["v", "b"], {}, "vb"));
      g.output(g.op("MatMul", ["a", "v"], {}, "av"));
    },
    feeds: { a: F([3, 1, 4, 6], 5), b: F([2, 6, 5], 6), v: F([6], 7) },
  },
  {
    name: "Gemm transA transB alpha beta C [M,N]",
    build: (g) => {
      g.input("a", "float32", [7, 5]);
      g.input("c", "float32", [5, 9]);
      g.output(
        g.op("Gemm", ["a", w(g, "b", [9, 7], 1), "c"], {
          transA: 1,
          transB: 1,
          alpha: f(0.5),
          beta: f(2),
        }, "y"),
      );
    },
    feeds: { a: F([7, 5], 1), c: F([5, 9], 2) },
  },
  {
    name: "Gemm C row, C scalar, C column, no C",
    build: (g) => {
      g.input("a", "float32", [4, 6]);
      const b = w(g, "b", [6, 3], 2);
      g.output(g.op("Gemm", ["a", b, w(g, "row", [3], 3)], { beta: f(0.5) }, "y1"));
      g.output(g.op("Gemm", ["a", b, w(g, "scalar", [], 4)], {}, "y2"));
      g.output(g.op("Gemm", ["a", b, w(g, "col", [4, 1], 5)], {}, "y3"));
      g.output(g.op("Gemm", ["a", b], { alpha: f(2) }, "y4"));
    },
    feeds: { a: F([4, 6], 1) },
  },
  graph("Conv 3×3 pads bias", [1, 3, 9, 11], (g) => {
    g.output(
      g.op(
        "Conv",
        ["x", w(g, "w", [4, 3, 3, 3], 1), w(g, "b", [4], 2)],
        { pads: [1, 1, 1, 1] },
        "y",
      ),
    );
  }),
  graph("Conv stride 2 dilation 2 asymmetric pads batch 2", [2, 4, 13, 10], (g) => {
    g.output(g.op("Conv", ["x", w(g, "w", [6, 4, 3, 2], 1)], {
      strides: [2, 3],
      dilations: [2, 1],
      pads: [2, 0, 1, 1],
    }, "y"));
  }),
  graph("Conv depthwise and grouped", [1, 8, 10, 10], (g) => {
    g.output(
      g.op("Conv", ["x", w(g, "dw", [8, 1, 3, 3], 1)], { group: 8, pads: [1, 1, 1, 1] }, "dw_y"),
    );
    g.output(g.op("Conv", ["x", w(g, "gw", [4, 4, 1, 1], 2)], { group: 2 }, "g_y"));
  }),
  graph("Conv auto_pad SAME_UPPER, SAME_LOWER, VALID", [1, 2, 7, 8], (g) => {
    const k = w(g, "w", [3, 2, 4, 3], 1);
    g.output(g.op("Conv", ["x", k], { auto_pad: "SAME_UPPER", strides: [2, 2] }, "up"));
    g.output(g.op("Conv", ["x", k], { auto_pad: "SAME_LOWER" }, "low"));
    g.output(g.op("Conv", ["x", k], { auto_pad: "VALID" }, "valid"));
  }),
  graph("Conv 1-D", [2, 3, 20], (g) => {
    g.output(g.op("Conv", ["x", w(g, "w", [5, 3, 4], 1)], { strides: [2], pads: [1, 2] }, "y"));
  }),
  graph("ConvTranspose stride 2 output_padding group", [1, 4, 5, 6], (g) => {
    g.output(g.op("ConvTranspose", ["x", w(g, "w", [4, 3, 3, 3], 1), w(g, "b", [6], 2)], {
      strides: [2, 2],
      output_padding: [1, 0],
      pads: [1, 0, 1, 1],
      group: 2,
    }, "y"));
  }),
  graph("ConvTranspose 2×2/2 auto_pad SAME_UPPER", [1, 3, 4, 4], (g) => {
    g.output(
      g.op("ConvTranspose", ["x", w(g, "w", [3, 2, 2, 2], 1)], {
        strides: [2, 2],
        auto_pad: "SAME_UPPER",
      }, "y"),
    );
  }),
  graph("BatchNormalization on a computed input", [2, 3, 4, 5], (g) => {
    const s = g.op("Relu", ["x"]);
    g.output(g.op(
      "BatchNormalization",
      [
        s,
        w(g, "scale", [3], 1),
        w(g, "bias", [3], 2),
        w(g, "mean", [3], 3),
        g.weight("var", [3], [0.5, 1, 2]),
      ],
      { epsilon: f(1e-3) },
      "y",
    ));
  }),
  graph("MaxPool ceil_mode pads dilations", [1, 2, 11, 9], (g) => {
    g.output(
      g.op("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, "a"),
    );
    g.output(g.op("MaxPool", ["x"], { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1 }, "b"));
    g.output(g.op("MaxPool", ["x"], { kernel_shape: [2, 2], dilations: [2, 2] }, "c"));
  }),
  graph("AveragePool count_include_pad, SAME_UPPER, 1-D", [1, 3, 8, 7], (g) => {
    g.output(
      g.op(
        "AveragePool",
        ["x"],
        { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 },
        "a",
      ),
    );
    g.output(g.op("AveragePool", ["x"], { kernel_shape: [3, 2], pads: [1, 0, 1, 1] }, "b"));
    g.output(
      g.op(
        "AveragePool",
        ["x"],
        { kernel_shape: [2, 2], strides: [2, 2], auto_pad: "SAME_UPPER" },
        "c",
      ),
    );
  }),
  graph("GlobalAveragePool GlobalMaxPool", [2, 3, 5, 6], (g) => {
    g.output(g.op("GlobalAveragePool", ["x"], {}, "a"));
    g.output(g.op("GlobalMaxPool", ["x"], {}, "m"));
  }),
  graph("Resize nearest scales, linear sizes, cubic align_corners", [1, 2, 5, 6], (g) => {
    const sc = g.initializer("scales", { type: "float32", dims: [4], data: [1, 1, 2, 1.5] });
    g.output(g.op("Resize", ["x", "", sc], { mode: "nearest" }, "nearest"));
    const sizes = g.ints("sizes", [1, 2, 7, 9]);
    g.output(g.op("Resize", ["x", "", "", sizes], { mode: "linear" }, "linear"));
    g.output(g.op("Resize", ["x", "", "", sizes], {
      mode: "cubic",
      coordinate_transformation_mode: "align_corners",
    }, "cubic"));
    g.output(g.op("Resize", ["x", "", sc], {
      mode: "nearest",
      coordinate_transformation_mode: "asymmetric",
      nearest_mode: "floor",
    }, "asym"));
  }, 13),
  graph("Resize opset 19: antialias linear and cubic, exclude_outside, half_pixel_symmetric", [
    1,
    2,
    12,
    15,
  ], (g) => {
    const sc = (name: string, v: number[]) =>
      g.initializer(name, { type: "float32", dims: [4], data: v });
    // Shrinking by 2 and 2.5: windows of 5 and 7 taps (the kernel's loops over taps).
    g.output(g.op("Resize", ["x", "", sc("s1", [1, 1, 0.5, 0.4])], {
      mode: "linear",
      antialias: 1,
    }, "aa_linear"));
    g.output(g.op("Resize", ["x", "", "", g.ints("z1", [1, 2, 5, 4])], {
      mode: "cubic",
      antialias: 1,
    }, "aa_cubic"));
    g.output(g.op("Resize", ["x", "", "", g.ints("z2", [1, 2, 3, 7])], {
      mode: "cubic",
      antialias: 1,
      exclude_outside: 1,
      cubic_coeff_a: f(-0.5),
    }, "aa_cubic_excl"));
    // Growing: antialias changes nothing but the order of the sums.
    g.output(g.op("Resize", ["x", "", sc("s2", [1, 1, 1.5, 2])], {
      mode: "linear",
      antialias: 1,
    }, "aa_up"));
    g.output(g.op("Resize", ["x", "", sc("s3", [1, 1, 1.7, 2.3])], {
      mode: "cubic",
      exclude_outside: 1,
    }, "cubic_excl"));
    g.output(g.op("Resize", ["x", "", "", g.ints("z3", [1, 2, 7, 11])], {
      mode: "linear",
      coordinate_transformation_mode: "half_pixel_symmetric",
    }, "symmetric"));
    g.output(g.op("Resize", ["x", "", sc("s4", [1, 1, 0.6, 1.3])], {
      mode: "nearest",
      coordinate_transformation_mode: "half_pixel_symmetric",
    }, "symmetric_nearest"));
  }, 19),
  graph("Resize opset 18: axes, keep_aspect_ratio_policy", [1, 3, 10, 16], (g) => {
    g.output(g.op("Resize", ["x", "", "", g.ints("z1", [5, 6])], {
      mode: "linear",
      axes: [2, 3],
      keep_aspect_ratio_policy: "not_larger",
    }, "not_larger"));
    // (Axes in their non-negative form: onnxruntime 1.30 leaves the policy's dims as they were
    // for negative ones.)
    g.output(g.op("Resize", ["x", "", "", g.ints("z2", [20, 7])], {
      mode: "cubic",
      axes: [3, 2],
      keep_aspect_ratio_policy: "not_smaller",
    }, "not_smaller"));
    const half = g.initializer("s", { type: "float32", dims: [1], data: [0.5] });
    g.output(g.op("Resize", ["x", "", half], { mode: "linear", axes: [3] }, "width_only"));
  }, 18),
  graph("Resize opset 19: an axis kept at its length by the policy's scale", [1, 2, 3, 7], (g) => {
    // not_larger: one scale, 8/7 (< 5/3), leaves the rows 3 long (round(3·8/7)) at a scale of 8/7 …
    g.output(g.op("Resize", ["x", "", "", g.ints("z1", [5, 8])], {
      mode: "cubic",
      axes: [2, 3],
      keep_aspect_ratio_policy: "not_larger",
      antialias: 1,
      exclude_outside: 1,
    }, "antialias"));
    // … which ONNX Runtime's antialiased passes copy, and its plain ones interpolate.
    g.output(g.op("Resize", ["x", "", "", g.ints("z2", [5, 8])], {
      mode: "cubic",
      axes: [2, 3],
      keep_aspect_ratio_policy: "not_larger",
    }, "plain"));
  }, 19),
  graph("Resize ranks 1, 2, 3 and 5 (the last two axes resized)", [2, 3, 4, 5, 6], (g) => {
    const r5 = g.ints("z5", [2, 3, 4, 8, 9]);
    g.output(g.op("Resize", ["x", "", "", r5], { mode: "nearest" }, "rank5"));
    g.output(g.op("Resize", ["x", "", "", r5], { mode: "linear" }, "rank5_linear"));
    const r3 = g.op("Reshape", ["x", g.ints("shape3", [24, 5, 6])], {}, "x3");
    const s3 = g.initializer("s3", { type: "float32", dims: [3], data: [1, 1, 2.5] });
    g.output(g.op("Resize", [r3, "", s3], { mode: "linear" }, "rank3"));
    const r2 = g.op("Reshape", ["x", g.ints("shape2", [24, 30])], {}, "x2");
    g.output(g.op("Resize", [r2, "", "", g.ints("z2", [9, 17])], { mode: "cubic" }, "rank2"));
    const r1 = g.op("Reshape", ["x", g.ints("shape1", [720])], {}, "x1");
    g.output(g.op("Resize", [r1, "", "", g.ints("z1", [500])], { mode: "nearest" }, "rank1"));
  }, 13),
  graph("Resize opset 10: nearest shrinking rounds up, asymmetric", [1, 2, 7, 9], (g) => {
    const down = g.initializer("s", { type: "float32", dims: [4], data: [1, 1, 0.5, 0.7] });
    g.output(g.op("Resize", ["x", down], { mode: "nearest" }, "down"));
    const up = g.initializer("u", { type: "float32", dims: [4], data: [1, 1, 1.6, 2] });
    g.output(g.op("Resize", ["x", up], { mode: "nearest" }, "up"));
    g.output(g.op("Resize", ["x", down], { mode: "linear" }, "linear"));
  }, 10),
  graph("Resize tf_crop_and_resize: roi inside and past the input, extrapolation_value", [
    1,
    2,
    7,
    9,
  ], (g) => {
    const roi = (name: string, v: number[]) =>
      g.initializer(name, { type: "float32", dims: [v.length], data: v });
    const sizes = g.ints("z", [1, 2, 5, 8]);
    g.output(g.op("Resize", ["x", roi("r1", [0, 0, 0.2, 0.1, 1, 1, 0.8, 0.9]), "", sizes], {
      mode: "linear",
      coordinate_transformation_mode: "tf_crop_and_resize",
    }, "inside"));
    g.output(g.op("Resize", ["x", roi("r2", [0, 0, -0.3, 0.4, 1, 1, 1.2, 1.5]), "", sizes], {
      mode: "cubic",
      coordinate_transformation_mode: "tf_crop_and_resize",
      extrapolation_value: f(-3.5),
    }, "past"));
    g.output(g.op("Resize", ["x", roi("r3", [0, 0, 0.5, -0.25, 1, 1, 0.5, 1.25]), "", sizes], {
      mode: "nearest",
      coordinate_transformation_mode: "tf_crop_and_resize",
      extrapolation_value: f(7),
    }, "nearest"));
    // A row axis of scale 1 (7 → 7): ONNX Runtime maps it to itself, its roi unused.
    g.output(
      g.op("Resize", [
        "x",
        roi("r4", [0, 0, 0.3, 0.2, 1, 1, 0.6, 1.4]),
        "",
        g.ints("z7", [1, 2, 7, 12]),
      ], {
        mode: "linear",
        coordinate_transformation_mode: "tf_crop_and_resize",
        extrapolation_value: f(9),
      }, "row_scale_1"),
    );
  }, 13),
  // An output of x's shape: ONNX Runtime copies x whatever the scales, roi and mode (7 rows
  // × 1.125 → 7; the roi maps row 0 past the input, which would take the extrapolation value).
  graph("Resize to x's own shape: x (fuzz ops seed 1158326)", [1, 1, 7, 14], (g) => {
    const roi = g.initializer("r", {
      type: "float32",
      dims: [8],
      data: [0, 0, -0.3, 0.1, 1, 1, 1, 0.8],
    });
    const sc = g.initializer("s", { type: "float32", dims: [4], data: [1, 1, 1.125, 1] });
    g.output(g.op("Resize", ["x", roi, sc], {
      mode: "cubic",
      coordinate_transformation_mode: "tf_crop_and_resize",
      exclude_outside: 1,
      cubic_coeff_a: f(-0.5),
      extrapolation_value: f(4),
    }, "y"));
  }, 19),
  graph("Resize opset 18 tf_crop_and_resize with axes", [1, 2, 7, 9], (g) => {
    const roi = g.initializer("r", { type: "float32", dims: [4], data: [-0.2, 0.1, 0.9, 1.3] });
    g.output(g.op("Resize", ["x", roi, "", g.ints("z", [6, 4])], {
      mode: "linear",
      axes: [2, 3],
      coordinate_transformation_mode: "tf_crop_and_resize",
      extrapolation_value: f(2),
    }, "y"));
  }, 18),
  graph("Resize opset 12: tf_half_pixel_for_nn", [1, 2, 5, 6], (g) => {
    const sc = g.initializer("s", { type: "float32", dims: [4], data: [1, 1, 1.8, 0.7] });
    // Before opset 13 roi is not optional: an empty one.
    const roi = g.initializer("roi", { type: "float32", dims: [0], data: [] });
    g.output(g.op("Resize", ["x", roi, sc], {
      mode: "nearest",
      coordinate_transformation_mode: "tf_half_pixel_for_nn",
    }, "y"));
    // Linear, rows of scale 1: mapped to themselves, not half a row on.
    const rowsKept = g.initializer("k", { type: "float32", dims: [4], data: [1, 1, 1, 1.5] });
    g.output(g.op("Resize", ["x", roi, rowsKept], {
      mode: "linear",
      coordinate_transformation_mode: "tf_half_pixel_for_nn",
    }, "linear"));
  }, 12),
  graph("Softmax opset 11 axis 1 (2-D coercion)", [2, 3, 4], (g) => {
    g.output(g.op("Softmax", ["x"], {}, "y"));
    g.output(g.op("LogSoftmax", ["x"], { axis: 2 }, "l"));
  }, 11),
  graph("Softmax opset 13 last axis and axis 1", [2, 3, 4], (g) => {
    g.output(g.op("Softmax", ["x"], {}, "y"));
    g.output(g.op("Softmax", ["x"], { axis: 1 }, "y1"));
    g.output(g.op("LogSoftmax", ["x"], { axis: -1 }, "l"));
  }, 13),
  graph("LayerNormalization axis -1 and -2", [2, 3, 8], (g) => {
    g.output(
      g.op(
        "LayerNormalization",
        ["x", w(g, "s", [8], 1), w(g, "b", [8], 2)],
        { epsilon: f(1e-5) },
        "y",
      ),
    );
    g.output(g.op("LayerNormalization", ["x", w(g, "s2", [3, 8], 3)], { axis: -2 }, "y2"));
  }),
  graph(
    "LayerNormalization's Mean and InvStdDev outputs: axis -1 and 1, one of them alone, after an Add (the fused residual)",
    [2, 3, 8],
    (g) => {
      const [y, mean, inv] = g.node(
        "LayerNormalization",
        ["x", w(g, "s", [8], 1), w(g, "b", [8], 2)],
        3,
        { epsilon: f(1e-3) },
      );
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [mean], {}, "mean"));
      g.output(g.op("Identity", [inv], {}, "inv_std"));
      const [y1, , inv1] = g.node(
        "LayerNormalization",
        ["x", w(g, "s1", [3, 8], 3)],
        ["ln1_y", "", "ln1_inv"],
        { axis: 1 },
      );
      g.output(g.op("Identity", [y1], {}, "y_axis1"));
      g.output(g.op("Identity", [inv1], {}, "inv_std_axis1"));
      // Add → LayerNormalization: fused into one kernel with its residual when optimized.
      const sum = g.op("Add", ["x", g.op("Exp", ["x"])]);
      const [y2, mean2, inv2] = g.node("LayerNormalization", [sum, w(g, "s2", [8], 4)], 3);
      g.output(g.op("Identity", [y2], {}, "y_sum"));
      g.output(g.op("Identity", [mean2], {}, "mean_sum"));
      g.output(g.op("Identity", [inv2], {}, "inv_std_sum"));
    },
    17,
  ),
  graph("ReduceMean/Sum/Max opset 13 (axes attribute; ReduceSum axes input)", [2, 3, 4], (g) => {
    g.output(g.op("ReduceMean", ["x"], { axes: [-1] }, "mean"));
    g.output(g.op("ReduceMax", ["x"], { axes: [1], keepdims: 0 }, "max"));
    g.output(g.op("ReduceSum", ["x", g.ints("axes", [0, 2])], { keepdims: 0 }, "sum"));
    g.output(g.op("ReduceMean", ["x"], {}, "all"));
    g.output(g.op("ReduceMin", ["x"], { axes: [1, 2] }, "min"));
  }, 13),
  graph(
    "com.microsoft: SkipLayerNormalization, SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization",
    [2, 3, 8],
    (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const skip = g.op("Mul", [
        "x",
        g.initializer("two", { type: "float32", dims: [], data: [0.5] }),
      ]);
      const gamma = w(g, "gamma", [8], 141),
        beta = w(g, "beta", [8], 142),
        bias = w(g, "bias", [8], 143);
      const ms = "com.microsoft";
      g.output(g.node("SkipLayerNormalization", ["x", skip, gamma, beta], ["sln"], {}, ms)[0]);
      const [y, , , sum] = g.node(
        "SkipLayerNormalization",
        ["x", skip, gamma, beta, bias],
        ["sln_bias", "", "", "sln_sum"],
        { epsilon: f(1e-5) },
        ms,
      );
      g.output(y);
      g.output(sum);
      g.output(
        g.node("SkipSimplifiedLayerNormalization", ["x", skip, gamma, bias], ["ssln"], {}, ms)[0],
      );
      // The sum output without a bias.
      const [y2, , , sum2] = g.node(
        "SkipLayerNormalization",
        ["x", skip, gamma],
        ["sln_nobias", "", "", "sln_sum_nobias"],
        {},
        ms,
      );
      g.output(y2);
      g.output(sum2);
      g.output(
        g.op("SimplifiedLayerNormalization", ["x", gamma], { axis: -1, epsilon: f(1e-6) }, "rms"),
      );
    },
    17,
  ),
  graph(
    "com.microsoft: SkipLayerNormalization's bias into the MatMul before it (input or skip side)",
    [2, 3, 8],
    (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft", gamma = w(g, "gamma", [6], 151), beta = w(g, "beta", [6], 152);
      const bias = w(g, "bias", [6], 153),
        skip = g.op("Slice", [
          "x",
          g.ints("s0", [0]),
          g.ints("s1", [6]),
          g.ints("s2", [-1]),
        ]);
      const mm = (seed: number) => g.op("MatMul", ["x", w(g, `W${seed}`, [8, 6], seed)]);
      // The product as the input, with the sum output read.
      const [y, , , sum] = g.node(
        "SkipLayerNormalization",
        [mm(154), skip, gamma, beta, bias],
        ["sln", "", "", "sln_sum"],
        { epsilon: f(1e-5) },
        ms,
      );
      g.output(y);
      g.output(sum);
      // The product as the skip.
      g.output(
        g.node("SkipSimplifiedLayerNormalization", [skip, mm(155), gamma, bias], ["ssln"], {}, ms)[
          0
        ],
      );
      // The product read elsewhere too: the bias stays with the norm.
      const shared = mm(156);
      g.output(g.op("Identity", [shared], {}, "shared"));
      g.output(
        g.node("SkipLayerNormalization", [shared, skip, gamma, beta, bias], ["kept"], {}, ms)[0],
      );
    },
    17,
  ),
  graph("Conv with windows wider than 16: a 32×32/32 patch embedding (CLIP ViT-B/32)", [
    1,
    3,
    64,
    96,
  ], (g) => {
    const W = w(g, "W", [8, 3, 32, 32], 161, 0.05), B = w(g, "B", [8], 162);
    g.output(g.op("Conv", ["x", W, B], { kernel_shape: [32, 32], strides: [32, 32] }, "patches"));
    // Dilation 17, asymmetric pads, then a residual Add and a Relu (fused when optimizing).
    const Wd = w(g, "Wd", [4, 3, 2, 2], 163);
    const d = g.op("Conv", ["x", Wd], { dilations: [17, 17], pads: [1, 3, 2, 0] });
    const shaped = w(g, "R", [1, 4, 50, 82], 165);
    g.output(g.op("Relu", [g.op("Add", [d, shaped])], {}, "dilated"));
    // SAME_UPPER with a stride of 20 (pads 13 rows and a column: ONNX Runtime's Conv crops
    // x where SAME's total is negative, which the conv family and ONNX's inference do not).
    const Ws = w(g, "Ws", [2, 3, 17, 17], 164, 0.1);
    g.output(
      g.op(
        "Conv",
        ["x", Ws],
        { auto_pad: "SAME_UPPER", strides: [20, 20] },
        "same",
      ),
    );
  }),
  graph("Conv, MaxPool, AveragePool in 3-D (grouped, strided, dilated, padded, SAME, ceil mode)", [
    2,
    4,
    7,
    8,
    9,
  ], (g) => {
    const W = w(g, "W", [6, 2, 3, 2, 3], 191, 0.3), B = w(g, "B", [6], 192);
    const y = g.op("Conv", ["x", W, B], {
      group: 2,
      strides: [2, 1, 2],
      dilations: [1, 2, 1],
      pads: [1, 0, 1, 0, 1, 2],
    });
    g.output(g.op("Relu", [y], {}, "conv3d"));
    const Ws = w(g, "Ws", [3, 4, 2, 3, 3], 193, 0.3);
    g.output(g.op("Conv", ["x", Ws], { auto_pad: "SAME_UPPER", strides: [2, 2, 2] }, "same3d"));
    g.output(
      g.op("MaxPool", ["x"], {
        kernel_shape: [3, 2, 3],
        strides: [2, 2, 2],
        pads: [1, 0, 1, 1, 1, 0],
        ceil_mode: 1,
      }, "max3d"),
    );
    g.output(
      g.op("AveragePool", ["x"], {
        kernel_shape: [2, 3, 2],
        strides: [1, 2, 2],
        pads: [1, 1, 0, 0, 1, 1],
      }, "avg3d"),
    );
    g.output(
      g.op("AveragePool", ["x"], {
        kernel_shape: [2, 3, 2],
        strides: [1, 2, 2],
        pads: [1, 1, 0, 0, 1, 1],
        count_include_pad: 1,
      }, "avg3d_pads"),
    );
  }),
  graph("ConvTranspose in 3-D (a U-Net's 2×2×2/2, grouped, padded, output_padding) and 2-D 32/16", [
    1,
    4,
    3,
    4,
    5,
  ], (g) => {
    const W = w(g, "W", [4, 3, 2, 2, 2], 201, 0.4), B = w(g, "B", [3], 202);
    g.output(g.op("ConvTranspose", ["x", W, B], { strides: [2, 2, 2] }, "up3d"));
    const Wg = w(g, "Wg", [4, 2, 3, 2, 3], 203, 0.4);
    g.output(
      g.op("ConvTranspose", ["x", Wg], {
        group: 2,
        strides: [2, 1, 3],
        dilations: [1, 2, 1],
        pads: [1, 0, 1, 0, 1, 1],
        output_padding: [1, 0, 2],
      }, "grouped3d"),
    );
    // A 2-D upsampling wider than the family's 16 (FCN-style: kernel 32, stride 16).
    const flat = g.op("Reshape", ["x", g.ints("to2d", [1, 4, 12, 5])]);
    const W2 = w(g, "W2", [4, 2, 32, 32], 204, 0.05);
    g.output(g.op("ConvTranspose", [flat, W2], { strides: [16, 16], pads: [8, 8, 8, 8] }, "fcn"));
  }),
  graph("Conv 1-D with a 20-wide grouped window and pads (wav2vec2's positional conv)", [
    2,
    8,
    50,
  ], (g) => {
    const W = w(g, "W", [8, 2, 20], 171, 0.2), B = w(g, "B", [8], 172);
    const y = g.op("Conv", ["x", W, B], { kernel_shape: [20], pads: [10, 10], group: 4 });
    g.output(g.op("Gelu", [y], {}, "y"), "float32");
  }, 20),
  graph("MaxPool and AveragePool with windows wider than 16 (1-D and 2-D, pads, ceil mode)", [
    1,
    3,
    40,
    45,
  ], (g) => {
    g.output(
      g.op("MaxPool", ["x"], {
        kernel_shape: [20, 3],
        strides: [3, 17],
        pads: [4, 1, 4, 1],
        ceil_mode: 1,
      }, "max"),
    );
    g.output(
      g.op(
        "MaxPool",
        ["x"],
        { kernel_shape: [2, 3], dilations: [18, 1], strides: [1, 2] },
        "max_dilated",
      ),
    );
    g.output(
      g.op(
        "AveragePool",
        ["x"],
        { kernel_shape: [18, 3], strides: [5, 2], pads: [3, 1, 2, 1] },
        "avg",
      ),
    );
    g.output(
      g.op("AveragePool", ["x"], {
        kernel_shape: [18, 3],
        strides: [5, 2],
        pads: [3, 1, 2, 1],
        count_include_pad: 1,
      }, "avg_pads"),
    );
    const flat = g.op("Reshape", ["x", g.ints("flat", [1, 3, 1800])]);
    const line = g.op("Squeeze", [flat, g.ints("sq", [])]);
    g.output(
      g.op("MaxPool", [g.op("Reshape", [line, g.ints("l3", [1, 3, 1800])])], {
        kernel_shape: [200],
        strides: [10],
        pads: [100, 100],
      }, "max_1d"),
    );
  }, 17),
  graph(
    "bfloat16 weights cast to float (raw_data and int32_data), a bfloat16 Constant",
    [2, 8],
    (g) => {
      const wb = g.initializer("wb", {
        type: "bfloat16",
        dims: [8, 5],
        data: Array.from(seededFloats(40, 171)),
      });
      g.output(g.op("MatMul", ["x", g.op("Cast", [wb], { to: 1 })], {}, "y"));
      const wt = g.initializer("wt", {
        type: "bfloat16",
        dims: [5],
        data: Array.from(seededFloats(5, 172)),
        typedFields: true,
      });
      g.output(g.op("Add", ["y", g.op("Cast", [wt], { to: 1 })], {}, "biased"));
      const c = g.op("Constant", [], {
        value: { tensor: { type: "bfloat16", dims: [2], data: [1.5, -0.3] } },
      });
      g.output(g.op("Cast", [c], { to: 1 }, "constant"));
    },
  ),
  graph(
    "Sequence ops: construct, insert, erase, at, length, concat (new axis), split (sizes, keepdims)",
    [
      2,
      3,
      4,
    ],
    (g) => {
      const seq = g.op("SequenceConstruct", ["x", g.op("Relu", ["x"]), g.op("Neg", ["x"])]);
      const seq2 = g.op("SequenceInsert", [seq, g.op("Abs", ["x"]), g.ints("p1", [1], [])]);
      const seq3 = g.op("SequenceErase", [seq2, g.ints("pm1", [-1], [])]);
      g.output(g.op("SequenceAt", [seq3, g.ints("p2", [2], [])], {}, "at"));
      g.output(g.op("SequenceLength", [seq3], {}, "length"), "int64");
      g.output(g.op("ConcatFromSequence", [seq3], { axis: 1 }, "cat"));
      g.output(g.op("ConcatFromSequence", [seq3], { axis: -1, new_axis: 1 }, "stacked"));
      const parts = g.op("SplitToSequence", ["x"], { axis: 2 });
      g.output(g.op("ConcatFromSequence", [parts], { axis: 2 }, "rejoined"));
      const sized = g.op("SplitToSequence", ["x", g.ints("sizes", [1, 2])], { axis: 1 });
      g.output(g.op("SequenceAt", [sized, g.ints("p3", [1], [])], {}, "second"));
      const rows = g.op("SplitToSequence", ["x"], { axis: 0, keepdims: 0 });
      g.output(g.op("SequenceAt", [rows, g.ints("pl", [-1], [])], {}, "last_row"));
      const empty = g.op("SequenceEmpty", [], { dtype: 1 });
      g.output(g.op("SequenceLength", [g.op("SequenceInsert", [empty, "x"])], {}, "one"), "int64");
    },
    13,
  ),
  {
    name:
      "BitShift, BitwiseAnd/Or/Xor/Not (broadcast), Compress (axis, flattened, computed condition)",
    opset: 18,
    build: (g) => {
      g.input("u", "uint8", [2, 3]);
      g.input("i", "int32", [2, 3]);
      g.input("x", "float32", [3, 4]);
      const sh = g.initializer("sh", { type: "uint8", dims: [3], data: [1, 3, 7] });
      g.output(g.op("BitShift", ["u", sh], { direction: "LEFT" }, "shl"), "uint8");
      g.output(g.op("BitShift", ["u", sh], { direction: "RIGHT" }, "shr"), "uint8");
      const m = g.initializer("m", { type: "int32", dims: [1, 3], data: [0x0f0f, -1, 6] });
      g.output(g.op("BitwiseAnd", ["i", m], {}, "and"), "int32");
      g.output(g.op("BitwiseOr", ["i", m], {}, "or"), "int32");
      g.output(g.op("BitwiseXor", ["i", m], {}, "xor"), "int32");
      g.output(g.op("BitwiseNot", ["i"], {}, "not"), "int32");
      const keep = g.initializer("keep", { type: "bool", dims: [4], data: [1, 0, 1, 1] });
      g.output(g.op("Compress", ["x", keep], { axis: 1 }, "columns"));
      g.output(g.op("Compress", ["x", keep], {}, "flat"));
      // A condition computed from x: planned per run.
      const pos = g.op("Greater", [
        "x",
        g.initializer("z", { type: "float32", dims: [], data: [0] }),
      ]);
      g.output(
        g.op("Compress", ["x", g.op("Reshape", [pos, g.ints("flat12", [12])])], {}, "positive"),
      );
    },
    feeds: {
      u: { type: "uint8", dims: [2, 3], data: Uint8Array.from([1, 200, 255, 7, 16, 129]) },
      i: { type: "int32", dims: [2, 3], data: Int32Array.from([12345, -7, 0, 1 << 30, -1, 99]) },
      x: F([3, 4], 211),
    },
  },
  graph(
    "HannWindow, HammingWindow, BlackmanWindow (periodic, symmetric), MeanVarianceNormalization, ReverseSequence",
    [4, 3, 5, 2],
    (g) => {
      for (
        const [op, tag] of [["HannWindow", "hann"], ["HammingWindow", "hamming"], [
          "BlackmanWindow",
          "blackman",
        ]]
      ) {
        g.output(g.op(op, [g.ints(`${tag}_n`, [10], [])], {}, `${tag}_periodic`));
        g.output(g.op(op, [g.ints(`${tag}_n7`, [7], [])], { periodic: 0 }, `${tag}_symmetric`));
      }
      g.output(g.op("MeanVarianceNormalization", ["x"], {}, "mvn"));
      g.output(g.op("MeanVarianceNormalization", ["x"], { axes: [1] }, "mvn_axis1"));
      const lens = g.ints("lens", [4, 1, 3], [3]);
      g.output(g.op("ReverseSequence", ["x", lens], { batch_axis: 1, time_axis: 0 }, "reversed"));
      const lens2 = g.ints("lens2", [3, 0, 2, 3], [4]);
      g.output(
        g.op("ReverseSequence", ["x", lens2], { batch_axis: 0, time_axis: 1 }, "reversed_b0"),
      );
    },
    17,
  ),
  {
    name: "Unique: flattened sorted and unsorted, along an axis, of values computed at run time",
    opset: 17,
    build: (g) => {
      g.input("v", "int64", [10]);
      g.input("m", "float32", [4, 3]);
      const [y, idx, inv, cnt] = g.node("Unique", ["v"], 4, {});
      g.output(g.op("Identity", [y], {}, "sorted_y"), "int64");
      g.output(g.op("Identity", [idx], {}, "sorted_idx"), "int64");
      g.output(g.op("Identity", [inv], {}, "sorted_inv"), "int64");
      g.output(g.op("Identity", [cnt], {}, "sorted_cnt"), "int64");
      const [u] = g.node("Unique", ["v"], 4, { sorted: 0 });
      g.output(g.op("Identity", [u], {}, "unsorted_y"), "int64");
      // Rows of a computed matrix (rounded to make repeats), along axis 0.
      const rounded = g.op("Floor", [
        g.op("Mul", ["m", g.initializer("two", { type: "float32", dims: [], data: [0.7] })]),
      ]);
      const [rows, , rinv, rcnt] = g.node("Unique", [rounded], 4, { axis: 0 });
      g.output(g.op("Identity", [rows], {}, "rows"));
      g.output(g.op("Identity", [rinv], {}, "rows_inv"), "int64");
      g.output(g.op("Identity", [rcnt], {}, "rows_cnt"), "int64");
    },
    feeds: {
      v: I64([10], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]),
      m: {
        type: "float32",
        dims: [4, 3],
        data: Float32Array.from([1, 2, 0, 3, 1, 2, 1, 2, 0, 0, 0, 0]),
      },
    },
  },
  {
    name:
      "GridSample: linear, nearest, cubic × zeros, border, reflection × align_corners (opsets 16, 20)",
    opset: 20,
    build: (g) => {
      g.input("x", "float32", [2, 3, 5, 6]);
      g.input("grid", "float32", [2, 4, 7, 2]);
      for (const mode of ["linear", "nearest", "cubic"]) {
        for (const pad of ["zeros", "border", "reflection"]) {
          for (const align of [0, 1]) {
            g.output(
              g.op(
                "GridSample",
                ["x", "grid"],
                { mode, padding_mode: pad, align_corners: align },
                `${mode}_${pad}_${align}`,
              ),
            );
          }
        }
      }
    },
    // Points in [−1.3, 1.3]: some outside the image, for the padding modes.
    feeds: { x: F([2, 3, 5, 6], 221), grid: F([2, 4, 7, 2], 222, 1.3) },
  },
  {
    name: "GridSample at opset 16 (bilinear, bicubic names)",
    opset: 16,
    build: (g) => {
      g.input("x", "float32", [1, 2, 4, 5]);
      g.input("grid", "float32", [1, 3, 3, 2]);
      g.output(g.op("GridSample", ["x", "grid"], {}, "default"));
      g.output(
        g.op("GridSample", ["x", "grid"], { mode: "bicubic", padding_mode: "border" }, "bicubic"),
      );
    },
    feeds: { x: F([1, 2, 4, 5], 223), grid: F([1, 3, 3, 2], 224, 1.1) },
  },
  {
    name:
      "RoiAlign: avg and max, half_pixel and output_half_pixel, sampling ratios, scales (opset 16)",
    opset: 16,
    build: (g) => {
      g.input("x", "float32", [2, 3, 10, 12]);
      g.input("rois", "float32", [4, 4]);
      const idx = g.ints("idx", [0, 1, 1, 0], [4]);
      g.output(
        g.op("RoiAlign", ["x", "rois", idx], { output_height: 3, output_width: 4 }, "avg_half"),
      );
      g.output(
        g.op("RoiAlign", ["x", "rois", idx], {
          output_height: 2,
          output_width: 2,
          sampling_ratio: 2,
          spatial_scale: f(0.5),
          coordinate_transformation_mode: "output_half_pixel",
        }, "avg_output_half"),
      );
      g.output(
        g.op("RoiAlign", ["x", "rois", idx], {
          mode: "max",
          output_height: 3,
          output_width: 3,
          sampling_ratio: 2,
        }, "max"),
      );
    },
    feeds: {
      x: F([2, 3, 10, 12], 231),
      // Regions inside, across the edge and beyond it.
      rois: {
        type: "float32",
        dims: [4, 4],
        data: Float32Array.from([1, 1, 6, 7, 0, 2.5, 11.5, 9, -2, -1, 4, 3, 8, 7, 14, 13]),
      },
    },
  },
  graph(
    "LpPool 2-D: p 2 with pads and strides, p 1 SAME_UPPER, p 3 (opset 11)",
    [2, 3, 7, 6],
    (g) => {
      g.output(
        g.op("LpPool", ["x"], { kernel_shape: [3, 2], pads: [1, 0, 1, 1], strides: [2, 2] }, "a"),
      );
      g.output(
        g.op("LpPool", ["x"], { kernel_shape: [2, 3], auto_pad: "SAME_UPPER", p: 1 }, "b"),
      );
      g.output(g.op("LpPool", ["x"], { kernel_shape: [3, 3], p: 3 }, "c"));
    },
    11,
  ),
  graph("LpPool 1-D and 3-D, dilations and ceil_mode (opset 18)", [1, 2, 5, 6, 7], (g) => {
    g.output(
      g.op("LpPool", ["x"], {
        kernel_shape: [2, 2, 3],
        strides: [2, 2, 2],
        dilations: [1, 2, 1],
        ceil_mode: 1,
      }, "a"),
    );
    const flat = g.op("Reshape", ["x", g.ints("s", [1, 2, 210])]);
    g.output(
      g.op("LpPool", [flat], { kernel_shape: [20], strides: [17], pads: [3, 3], p: 1 }, "b"),
    );
  }, 18),
  {
    name: "MaxUnpool: the pool's own shape and an output_shape (opset 11)",
    opset: 11,
    build: (g) => {
      g.input("x", "float32", [1, 2, 2, 3]);
      // Each window's argmax, in the flattened [1, 2, 4, 6] (and [1, 2, 5, 7]) output.
      const at = (w: number, c: number, i: number, j: number) => (c * 4 + i) * w + j;
      const idx = [
        at(6, 0, 0, 1),
        at(6, 0, 1, 2),
        at(6, 0, 0, 5),
        at(6, 0, 3, 0),
        at(6, 0, 2, 3),
        at(6, 0, 3, 5),
        at(6, 1, 1, 1),
        at(6, 1, 0, 2),
        at(6, 1, 1, 4),
        at(6, 1, 2, 0),
        at(6, 1, 3, 3),
        at(6, 1, 2, 4),
      ];
      const I = g.ints("i", idx, [1, 2, 2, 3]);
      g.output(g.op("MaxUnpool", ["x", I], { kernel_shape: [2, 2], strides: [2, 2] }, "y"));
      const bigger = g.ints("s", [1, 2, 5, 7]);
      const I2 = g.ints("i2", idx.map((v) => v + 7), [1, 2, 2, 3]);
      g.output(
        g.op("MaxUnpool", ["x", I2, bigger], { kernel_shape: [2, 2], strides: [2, 2] }, "z"),
      );
    },
    feeds: { x: F([1, 2, 2, 3], 71) },
  },
  {
    name: "Col2Im 2-D with pads, strides, dilations; 1-D (opset 18)",
    opset: 18,
    build: (g) => {
      g.input("x", "float32", [1, 12, 15]);
      g.input("x1", "float32", [2, 6, 5]);
      g.output(
        g.op("Col2Im", ["x", g.ints("img", [5, 6]), g.ints("blk", [2, 3])], {
          strides: [1, 2],
          dilations: [2, 1],
          pads: [1, 0, 1, 1],
        }, "y"),
      );
      g.output(
        g.op("Col2Im", ["x1", g.ints("img1", [10]), g.ints("blk1", [3])], {
          strides: [2],
          pads: [1, 1],
        }, "y1"),
      );
    },
    feeds: { x: F([1, 12, 15], 72), x1: F([2, 6, 5], 73) },
  },
  {
    name: "AffineGrid 2-D and 3-D, align_corners 0 and 1, into GridSample (opset 20)",
    opset: 20,
    build: (g) => {
      g.input("t2", "float32", [2, 2, 3]);
      g.input("t3", "float32", [1, 3, 4]);
      g.input("x", "float32", [2, 3, 4, 5]);
      g.output(g.op("AffineGrid", ["t2", g.ints("s2", [2, 3, 5, 6])], {}, "a"));
      const ga = g.op("AffineGrid", ["t2", g.ints("s2b", [2, 1, 1, 4])], { align_corners: 1 });
      g.output(g.op("Identity", [ga], {}, "b"));
      g.output(
        g.op("AffineGrid", ["t3", g.ints("s3", [1, 1, 2, 3, 4])], { align_corners: 1 }, "c"),
      );
      g.output(g.op("AffineGrid", ["t3", g.ints("s3b", [1, 2, 3, 1, 5])], {}, "d"));
      const grid = g.op("AffineGrid", ["t2", g.ints("s", [2, 3, 3, 4])], {});
      g.output(g.op("GridSample", ["x", grid], {}, "sampled"));
    },
    feeds: {
      t2: F([2, 2, 3], 74),
      t3: F([1, 3, 4], 75),
      x: F([2, 3, 4, 5], 76),
    },
  },
  {
    name:
      "DFT (opset 17): real two- and one-sided, complex inverse, dft_length padding and cutting",
    opset: 17,
    build: (g) => {
      g.input("x", "float32", [2, 12, 1]);
      g.input("z", "float32", [2, 10, 2]);
      g.output(g.op("DFT", ["x"], {}, "full"));
      g.output(g.op("DFT", ["x"], { onesided: 1 }, "half"));
      g.output(g.op("DFT", ["z"], { inverse: 1 }, "inv"));
      g.output(g.op("DFT", ["x", g.ints("l16", [16], [])], {}, "padded"));
      g.output(g.op("DFT", ["x", g.ints("l7", [7], [])], { onesided: 1 }, "cut"));
      g.output(g.op("DFT", ["z", g.ints("l6", [6], [])], {}, "cut_complex"));
    },
    feeds: { x: F([2, 12, 1], 81), z: F([2, 10, 2], 82) },
  },
  {
    name: "DFT (opset 20): the axis input on an inner axis, and the default axis",
    opset: 20,
    build: (g) => {
      g.input("z", "float32", [2, 6, 3, 2]);
      g.input("x", "float32", [2, 3, 10, 1]);
      g.output(g.op("DFT", ["z", "", g.ints("a", [1], [])], {}, "inner"));
      g.output(g.op("DFT", ["z", "", g.ints("a2", [-3], [])], { inverse: 1 }, "inner_inv"));
      g.output(g.op("DFT", ["x"], { onesided: 1 }, "last"));
    },
    feeds: { z: F([2, 6, 3, 2], 83), x: F([2, 3, 10, 1], 84) },
  },
  {
    name: "STFT: a constant, a computed and no window; complex; a log-mel spectrogram (opset 17)",
    opset: 17,
    build: (g) => {
      g.input("x", "float32", [2, 64, 1]);
      g.input("z", "float32", [1, 40, 2]);
      g.input("w", "float32", [16]);
      const step = g.ints("step", [6], []);
      const hann = g.op("HannWindow", [g.ints("n16", [16], [])]);
      g.output(g.op("STFT", ["x", step, hann], {}, "hann"));
      g.output(g.op("STFT", ["x", step, "w"], { onesided: 0 }, "fed"));
      g.output(g.op("STFT", ["z", g.ints("s5", [5], []), "", g.ints("fl", [12], [])], {
        onesided: 0,
      }, "complex"));
      // |STFT|² × mel weights, log.
      const spec = g.op("STFT", ["x", g.ints("s8", [8], []), hann]);
      const power = g.op("ReduceSum", [g.op("Mul", [spec, spec]), g.ints("ax", [-1])], {
        keepdims: 0,
      });
      const mel = g.op("MelWeightMatrix", [
        g.ints("mels", [5], []),
        g.ints("L", [16], []),
        g.ints("rate", [16000], []),
        g.initializer("lo", { type: "float32", dims: [], data: [0] }),
        g.initializer("hi", { type: "float32", dims: [], data: [8000] }),
      ]);
      g.output(g.op("Identity", [mel], {}, "mel"));
      const floor = g.initializer("eps", { type: "float32", dims: [], data: [1e-6] });
      g.output(g.op("Log", [g.op("Add", [g.op("MatMul", [power, mel]), floor])], {}, "logmel"));
    },
    feeds: {
      x: F([2, 64, 1], 85),
      z: F([1, 40, 2], 86),
      w: F([16], 87),
    },
  },
  {
    name: "MelWeightMatrix: 40 mels of a 400-point DFT at 16 kHz, 20-7600 Hz (opset 17)",
    opset: 17,
    build: (g) => {
      g.input("x", "float32", [1]);
      const mel = g.op("MelWeightMatrix", [
        g.ints("mels", [40], []),
        g.ints("L", [400], []),
        g.ints("rate", [16000], []),
        g.initializer("lo", { type: "float32", dims: [], data: [20] }),
        g.initializer("hi", { type: "float32", dims: [], data: [7600] }),
      ]);
      g.output(g.op("Mul", [mel, "x"], {}, "mel"));
    },
    feeds: { x: F([1], 88) },
  },
  {
    name: "MaxRoiPool: regions inside, across the border, malformed, scaled (opset 1 kernel)",
    opset: 12,
    build: (g) => {
      g.input("x", "float32", [2, 3, 9, 11]);
      g.input("rois", "float32", [5, 5]);
      g.output(g.op("MaxRoiPool", ["x", "rois"], { pooled_shape: [3, 2] }, "y"));
      g.output(
        g.op("MaxRoiPool", ["x", "rois"], { pooled_shape: [2, 4], spatial_scale: f(0.5) }, "z"),
      );
    },
    feeds: {
      // Positive values: ONNX Runtime starts its maxima at FLT_MIN (see the op).
      x: F([2, 3, 9, 11], 89, 1, 1.5),
      rois: {
        type: "float32",
        dims: [5, 5],
        data: new Float32Array([
          0,
          1,
          1,
          6,
          7,
          1,
          0.5,
          2.5,
          10.4,
          8.6,
          0,
          8,
          6,
          14,
          12,
          1,
          5,
          5,
          3,
          2,
          1,
          2.5,
          3.5,
          9.5,
          7.5,
        ]),
      },
    },
  },
  {
    name:
      "NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: weights, ignore_index, reductions",
    opset: 13,
    build: (g) => {
      g.input("x", "float32", [3, 5, 4]);
      g.input("t", "int64", [3, 4]);
      g.input("x2", "float32", [6, 5]);
      g.input("t2", "int32", [6]);
      const w = g.weight("w", [5], [0.5, 1, 2, 1.5, 0.25]);
      g.output(g.op("NegativeLogLikelihoodLoss", ["x", "t"], {}, "nll_mean"));
      g.output(
        g.op("NegativeLogLikelihoodLoss", ["x", "t", w], { reduction: "none" }, "nll_none"),
      );
      g.output(
        g.op("NegativeLogLikelihoodLoss", ["x", "t", w], { ignore_index: 2 }, "nll_wmean"),
      );
      g.output(
        g.op(
          "NegativeLogLikelihoodLoss",
          ["x2", "t2"],
          { reduction: "sum", ignore_index: 4 },
          "nll_sum",
        ),
      );
      const [loss, lp] = g.node("SoftmaxCrossEntropyLoss", ["x", "t", w], 2, { ignore_index: 1 });
      g.output(g.op("Identity", [loss], {}, "sce"));
      g.output(g.op("Identity", [lp], {}, "sce_logprob"));
      g.output(
        g.op("SoftmaxCrossEntropyLoss", ["x2", "t2"], { reduction: "none" }, "sce_none"),
      );
    },
    feeds: {
      x: F([3, 5, 4], 90, 2),
      t: I64([3, 4], [0, 1, 2, 3, 4, 2, 2, 1, 0, 0, 3, 4]),
      x2: F([6, 5], 91, 2),
      t2: { type: "int32", dims: [6], data: new Int32Array([4, 0, 1, 4, 2, 3]) },
    },
  },
  {
    name: "CumProd (opset 26): float, int32 and int64 (wrapping), exclusive, reverse, axes",
    opset: 26,
    build: (g) => {
      g.input("x", "float32", [3, 4, 5]);
      g.input("i", "int32", [2, 6]);
      g.input("l", "int64", [2, 40]);
      g.output(g.op("CumProd", ["x", g.ints("a1", [1], [])], {}, "p"));
      g.output(g.op("CumProd", ["x", g.ints("a2", [-1], [])], { exclusive: 1, reverse: 1 }, "q"));
      g.output(g.op("CumProd", ["i", g.ints("a3", [1], [])], { reverse: 1 }, "ip"), "int32");
      g.output(g.op("CumProd", ["l", g.ints("a4", [1], [])], { exclusive: 1 }, "lp"), "int64");
    },
    feeds: {
      x: F([3, 4, 5], 92, 1, 0.2),
      i: {
        type: "int32",
        dims: [2, 6],
        data: Int32Array.from([70001, -30011, 20011, 90007, 11, 5, -1, 1, 80021, -60013, 40009, 3]),
      },
      l: I64(
        [2, 40],
        Array.from({ length: 80 }, (_, k) => (k % 7) - 3 + (k % 3 === 0 ? 1000003 : 0)),
      ),
    },
  },
  {
    name: "BitCast (opset 26): float32 ↔ int32, int64 → float64, uint8 → int8",
    opset: 26,
    build: (g) => {
      g.input("x", "float32", [2, 5]);
      g.input("i", "int32", [3]);
      g.input("l", "int64", [2]);
      g.input("u", "uint8", [4]);
      g.output(g.op("BitCast", ["x"], { to: 6 }, "xi"), "int32");
      g.output(g.op("BitCast", ["i"], { to: 1 }, "if"));
      g.output(g.op("BitCast", ["l"], { to: 11 }, "ld"), "float64");
      g.output(g.op("BitCast", ["u"], { to: 3 }, "us"), "int8");
    },
    feeds: {
      x: F([2, 5], 93, 3),
      i: { type: "int32", dims: [3], data: Int32Array.from([1065353216, -1082130432, 1]) },
      l: I64([2], [4607182418800017408, -4616189618054758400]),
      u: { type: "uint8", dims: [4], data: Uint8Array.from([0, 127, 128, 255]) },
    },
  },
  {
    name:
      "DeformConv (opset 19): offsets, offset groups, groups, a mask, bias, pads, strides, dilations",
    opset: 19,
    build: (g) => {
      g.input("x", "float32", [2, 4, 7, 8]);
      g.input("off", "float32", [2, 2 * 2 * 9, 4, 3]);
      g.input("mask", "float32", [2, 2 * 9, 4, 3]);
      g.input("off1", "float32", [2, 2 * 4, 6, 7]);
      const W = w(g, "W", [6, 2, 3, 3], 94), B = w(g, "B", [6], 95);
      g.output(
        g.op("DeformConv", ["x", W, "off", B, "mask"], {
          group: 2,
          offset_group: 2,
          pads: [1, 1, 1, 0],
          strides: [2, 2],
          dilations: [1, 2],
        }, "y"),
      );
      const W1 = w(g, "W1", [3, 4, 2, 2], 96);
      g.output(g.op("DeformConv", ["x", W1, "off1"], {}, "plain"));
    },
    feeds: {
      x: F([2, 4, 7, 8], 97),
      off: F([2, 36, 4, 3], 98, 2.5),
      mask: F([2, 18, 4, 3], 99, 0.5, 0.5),
      off1: F([2, 8, 6, 7], 100, 1.5),
    },
  },
  graph("Optional, OptionalHasElement, OptionalGetElement (opset 18; plain tensors and absent)", [
    2,
    3,
  ], (g) => {
    const opt = g.op("Optional", ["x"]);
    g.output(g.op("OptionalHasElement", [opt], {}, "has"), "bool");
    g.output(g.op("Relu", [g.op("OptionalGetElement", [opt])], {}, "got"));
    g.output(g.op("OptionalHasElement", ["x"], {}, "has_plain"), "bool");
    g.output(g.op("Neg", [g.op("OptionalGetElement", ["x"])], {}, "got_plain"));
    g.output(g.op("OptionalHasElement", [], {}, "has_none"), "bool");
    const empty = g.op("Optional", [], { type: { tensorType: 1 } });
    g.output(g.op("OptionalHasElement", [empty], {}, "has_empty"), "bool");
  }, 18),
  {
    name: "SequenceMap: a sequence, a sequence beside it and a tensor, two outputs (opset 17)",
    opset: 17,
    build: (g) => {
      g.input("x", "float32", [6, 4]);
      g.input("y", "float32", [6, 4]);
      g.input("s", "float32", [4]);
      const sizes = g.ints("sizes", [2, 1, 3]);
      const xs = g.op("SplitToSequence", ["x", sizes], { axis: 0 });
      const ys = g.op("SplitToSequence", ["y", sizes], { axis: 0 });
      const body = new GraphBuilder(17);
      body.input("e", "float32", ["r", 4]);
      body.input("f", "float32", ["r", 4]);
      body.input("k", "float32", [4]);
      const scaled = body.op("Add", [body.op("Mul", ["e", "k"], {}, "m_mul"), "f"], {}, "m_add");
      body.output(
        body.op("ReduceSum", [scaled, body.ints("m_axes", [0])], { keepdims: 1 }, "m_sum"),
      );
      body.output(body.op("Relu", [body.op("Sub", ["e", "f"], {}, "m_sub")], {}, "m_relu"));
      g.node("SequenceMap", [xs, ys, "s"], ["sums", "relus"], { body: { graph: body } });
      g.output(g.op("ConcatFromSequence", ["sums"], { axis: 0 }, "a"));
      g.output(g.op("ConcatFromSequence", ["relus"], { axis: 0 }, "b"));
    },
    feeds: { x: F([6, 4], 101), y: F([6, 4], 102), s: F([4], 103) },
  },
  graph("Det, GlobalLpPool (p 1, 2, 3), CenterCropPad (crop and pad, axes)", [
    2,
    3,
    4,
    4,
  ], (g) => {
    g.output(g.op("Det", ["x"], {}, "det"));
    g.output(g.op("GlobalLpPool", ["x"], {}, "lp2"));
    g.output(g.op("GlobalLpPool", ["x"], { p: 1 }, "lp1"));
    g.output(g.op("GlobalLpPool", ["x"], { p: 3 }, "lp3"));
    g.output(g.op("CenterCropPad", ["x", g.ints("cs", [1, 5, 3, 6])], {}, "crop_pad"));
    g.output(
      g.op("CenterCropPad", ["x", g.ints("cs2", [2, 7])], { axes: [-2, 1] }, "crop_pad_axes"),
    );
  }, 18),
  {
    name: "Scatter (opset 10: ScatterElements by its old name)",
    opset: 10,
    build: (g) => {
      g.input("x", "float32", [3, 4]);
      const idx = g.ints("idx", [1, 0, 2, 3, 0, 1], [2, 3]);
      const upd = g.initializer("upd", {
        type: "float32",
        dims: [2, 3],
        data: [10, 20, 30, 40, 50, 60],
      });
      g.output(g.op("Scatter", ["x", idx, upd], { axis: 1 }, "y"));
    },
    feeds: { x: F([3, 4], 241) },
  },
  graph("com.microsoft: FusedMatMul (alpha, transA, transB; packed, computed and batched B)", [
    2,
    3,
    8,
  ], (g) => {
    g.extraOpsets.push(["com.microsoft", 1]);
    const ms = "com.microsoft";
    const bt = w(g, "bt", [5, 8], 161), bn = w(g, "bn", [3, 4], 162);
    g.output(g.node("FusedMatMul", ["x", bt], ["packed_t"], { alpha: f(0.5), transB: 1 }, ms)[0]);
    g.output(g.node("FusedMatMul", ["x", bn], ["trans_a"], { transA: 1 }, ms)[0]);
    // B computed in the run (x as [6, 8]): read transposed as it lies.
    const rows = g.op("Reshape", ["x", g.ints("rows", [6, 8])]);
    g.output(g.node("FusedMatMul", ["x", rows], ["computed_t"], { transB: 1, alpha: f(2) }, ms)[0]);
    // Attention's scores: x·xᵀ per batch, scaled.
    g.output(g.node("FusedMatMul", ["x", "x"], ["scores"], { transB: 1, alpha: f(0.125) }, ms)[0]);
    g.output(g.node("FusedMatMul", ["x", "x"], ["gram"], { transA: 1 }, ms)[0]);
  }, 17),
  ...(["uint8", "int8"] as const).map((t) =>
    graph(
      `com.microsoft QOperator ${t}: QLinearAdd and QLinearMul (same shape, per-channel, scalar, leading-axis broadcast, one element)`,
      [1, 4, 5, 6],
      (g) => {
        g.extraOpsets.push(["com.microsoft", 1]);
        const ms = "com.microsoft", signed = t === "int8";
        const scalar = (name: string, v: number) => scaleOf(g, name, v);
        const zero = (name: string, v: number) => zeroPointOf(g, name, t, v);
        const q = (x: string, s: string, z: string) => g.op("QuantizeLinear", [x, s, z]);
        const sa = scalar("sa", 0.031), za = zero("za", signed ? -7 : 121);
        const sb = scalar("sb", 0.047), zb = zero("zb", signed ? 5 : 133);
        const sc = scalar("sc", 0.053), zc = zero("zc", signed ? -2 : 119);
        const a = q("x", sa, za);
        const b = q(g.op("Mul", ["x", scalar("k", -0.7)]), sb, zb);
        const perChannel = q(w(g, "pc", [1, 4, 1, 1], 171, 2), sb, zb);
        const one = q(w(g, "one", [1], 172, 2), sb, zb);
        const lead = q(w(g, "lead", [6], 173, 2), sb, zb);
        const single = q(w(g, "single", [1, 1, 1, 1], 174, 2), sa, za);
        for (const op of ["QLinearAdd", "QLinearMul"]) {
          const o = (name: string, x: string, y: string, sx = sa, zx = za, sy = sb, zy = zb) =>
            g.output(g.node(op, [x, sx, zx, y, sy, zy, sc, zc], [`${op}_${name}`], {}, ms)[0], t);
          o("same", a, b);
          o("channel", a, perChannel);
          o("scalar_b", a, one);
          o("scalar_a", one, a, sb, zb, sa, za);
          o("lead", a, lead);
          o("single", single, one);
        }
      },
      17,
      6,
    )
  ),
  graph(
    "com.microsoft: MatMulIntegerToFloat and DynamicQuantizeMatMul (per-tensor and per-column b, zero points, bias)",
    [2, 3, 16],
    (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft";
      const [K, N] = [16, 8];
      const b8 = g.initializer("b8", {
        type: "int8",
        dims: [K, N],
        data: Array.from({ length: K * N }, (_, i) => ((i * 37 + 11) % 255) - 127),
      });
      const bu = g.initializer("bu", {
        type: "uint8",
        dims: [K, N],
        data: Array.from({ length: K * N }, (_, i) => (i * 53 + 7) % 256),
      });
      const bs1 = g.initializer("bs1", { type: "float32", dims: [1], data: [0.013] });
      const bsN = w(g, "bsN", [N], 181, 0.01);
      const zbu = g.initializer("zbu", { type: "uint8", dims: [1], data: [131] });
      const bias = w(g, "bias", [N], 182);
      const [qa, sa, za] = g.node("DynamicQuantizeLinear", ["x"], 3);
      const o = (name: string, ins: string[], op = "MatMulIntegerToFloat") =>
        g.output(g.node(op, ins, [name], {}, ms)[0]);
      o("itf_tensor", [qa, b8, sa, bs1, za]);
      o("itf_columns_bias", [qa, b8, sa, bsN, za, "", bias]);
      o("itf_uint8_b_zero", [qa, bu, sa, bs1, za, zbu, bias]);
      o("dqm_tensor", ["x", b8, bs1], "DynamicQuantizeMatMul");
      o("dqm_columns_bias", ["x", b8, bsN, "", bias], "DynamicQuantizeMatMul");
      o("dqm_uint8_b_zero", ["x", bu, bs1, zbu, bias], "DynamicQuantizeMatMul");
    },
  ),
  graph(
    "com.microsoft: QGemm (transB weights per column, int32 C, quantized and float Y; transA; int8)",
    [3, 16],
    (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft";
      const [K, N] = [16, 8];
      const bytes = (
        name: string,
        type: "uint8" | "int8",
        dims: number[],
        at: (i: number) => number,
      ) =>
        g.initializer(name, {
          type,
          dims,
          data: Array.from({ length: sizeOfDims(dims) }, (_, i) => at(i)),
        });
      const scalar = (name: string, v: number) => scaleOf(g, name, v);
      const sa = scalar("sa", 0.021), za = bytes("za", "uint8", [], () => 120);
      const a = g.op("QuantizeLinear", ["x", sa, za]);
      const bt = bytes("bt", "uint8", [N, K], (i) => (i * 61 + 3) % 256);
      const bsN = w(g, "bsN", [N], 191, 0.01), bzN = bytes("bzN", "uint8", [N], (i) => 120 + i);
      const c = g.initializer("c", {
        type: "int32",
        dims: [N],
        data: Array.from({ length: N }, (_, i) => 300 * i - 1000),
      });
      const ys = scalar("ys", 0.07), yz = bytes("yz", "uint8", [], () => 127);
      g.output(
        g.node("QGemm", [a, sa, za, bt, bsN, bzN, c, ys, yz], ["quant"], {
          transB: 1,
          alpha: f(0.75),
        }, ms)[0],
        "uint8",
      );
      g.output(g.node("QGemm", [a, sa, za, bt, bsN, bzN, c], ["float"], { transB: 1 }, ms)[0]);
      // C per row and per element.
      for (const dims of [[3, 1], [3, N]]) {
        const cm = g.initializer(`c${dims[1]}`, {
          type: "int32",
          dims,
          data: Array.from({ length: sizeOfDims(dims) }, (_, i) => 97 * i - 500),
        });
        g.output(
          g.node("QGemm", [a, sa, za, bt, bsN, bzN, cm, ys, yz], [`c_${dims.join("x")}`], {
            transB: 1,
          }, ms)[0],
          "uint8",
        );
      }
      // transA: A given as [K, M].
      const at = g.op("Transpose", [a], { perm: [1, 0] });
      const b = bytes("b", "uint8", [K, N], (i) => (i * 29 + 5) % 256);
      const bs1 = scalar("bs1", 0.017), bz1 = bytes("bz1", "uint8", [], () => 131);
      g.output(
        g.node("QGemm", [at, sa, za, b, bs1, bz1, "", ys, yz], ["trans_a"], { transA: 1 }, ms)[0],
        "uint8",
      );
      // int8 throughout.
      const sa8 = scalar("sa8", 0.019), za8 = bytes("za8", "int8", [], () => -3);
      const a8 = g.op("QuantizeLinear", ["x", sa8, za8]);
      const b8 = bytes("b8", "int8", [K, N], (i) => ((i * 37 + 11) % 255) - 127);
      const bz8 = bytes("bz8", "int8", [], () => 0), yz8 = bytes("yz8", "int8", [], () => -2);
      g.output(
        g.node("QGemm", [a8, sa8, za8, b8, bs1, bz8, c, ys, yz8], ["int8"], {}, ms)[0],
        "int8",
      );
    },
  ),
  ...(["uint8", "int8"] as const).map((t) =>
    graph(
      `com.microsoft QOperator ${t}: QLinearAveragePool (pads with and without counting them, ceil_mode, the whole image, channels last, 1-D)`,
      [2, 3, 7, 9],
      (g) => {
        g.extraOpsets.push(["com.microsoft", 1]);
        const ms = "com.microsoft", signed = t === "int8";
        const scalar = (name: string, v: number) => scaleOf(g, name, v);
        const zero = (name: string, v: number) => zeroPointOf(g, name, t, v);
        const sx = scalar("sx", 0.029), zx = zero("zx", signed ? 3 : 125);
        const sy = scalar("sy", 0.013), zy = zero("zy", signed ? -4 : 131);
        const x = g.op("QuantizeLinear", ["x", sx, zx]);
        const pool = (name: string, input: string, attrs: Record<string, unknown>) =>
          g.output(
            g.node("QLinearAveragePool", [input, sx, zx, sy, zy], [name], attrs as never, ms)[0],
            t,
          );
        pool("pad", x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
        pool("pad_counted", x, {
          kernel_shape: [3, 3],
          strides: [2, 2],
          pads: [1, 1, 1, 1],
          count_include_pad: 1,
        });
        pool("ceil", x, { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 });
        pool("whole", x, { kernel_shape: [7, 9] });
        const xl = g.op("Transpose", [x], { perm: [0, 2, 3, 1] });
        pool("last", xl, { kernel_shape: [3, 2], strides: [1, 2], channels_last: 1 });
        const x1 = g.op("Reshape", [x, g.ints("r1", [2, 3, 63])]);
        pool("one_d", x1, { kernel_shape: [5], strides: [3], pads: [2, 1] });
      },
      17,
      4,
    )
  ),
  graph(
    "MaxPool of uint8 and int8 (opset 12): 3×3/2 pad 1, 2×2/2 ceil_mode, 3-D",
    [2, 3, 7, 9],
    (g) => {
      for (const [t, z] of [["uint8", 128], ["int8", -5]] as const) {
        const s = g.initializer(`s_${t}`, { type: "float32", dims: [], data: [0.03] });
        const zp = g.initializer(`z_${t}`, { type: t, dims: [], data: [z] });
        const q = g.op("QuantizeLinear", ["x", s, zp]);
        g.output(
          g.op(
            "MaxPool",
            [q],
            { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
            `p3_${t}`,
          ),
          t,
        );
        g.output(
          g.op("MaxPool", [q], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, `p2_${t}`),
          t,
        );
        const q3 = g.op("Reshape", [q, g.ints(`r_${t}`, [2, 3, 63])]);
        g.output(g.op("MaxPool", [q3], { kernel_shape: [4], strides: [3] }, `p1_${t}`), t);
      }
    },
    12,
  ),
  graph(
    "com.microsoft QOperator uint8: QLinearAdd and QLinearMul on 64 × 256 pairs of bytes (same shape, and a scalar per row)",
    [1],
    (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft";
      const bytes = (name: string, dims: number[], at: (i: number) => number) =>
        g.initializer(name, {
          type: "uint8",
          dims,
          data: Array.from({ length: sizeOfDims(dims) }, (_, i) => at(i)),
        });
      const scalar = (name: string, v: number) => scaleOf(g, name, v);
      const zero = (name: string, v: number) =>
        g.initializer(name, { type: "uint8", dims: [], data: [v] });
      // Every b against 64 values of a (every byte of a's, 4 apart from a different start per
      // row): each (a, b) the kernel's own path, through the same shape or a scalar per row.
      const a = bytes("a", [64, 256], (i) => i & 255);
      const b = bytes("b", [64, 256], (i) => ((i >> 8) * 4 + (i & 3)) & 255);
      const column = bytes("col", [64, 1], (i) => i * 4 + 1);
      const sa = scalar("sa", 0.0371), za = zero("za", 117), sb = scalar("sb", 0.0219);
      const zb = zero("zb", 140), sc = scalar("sc", 0.0533), zc = zero("zc", 126);
      for (const op of ["QLinearAdd", "QLinearMul"]) {
        g.output(g.node(op, [a, sa, za, b, sb, zb, sc, zc], [`${op}_pairs`], {}, ms)[0], "uint8");
        g.output(
          g.node(op, [a, sa, za, column, sb, zb, sc, zc], [`${op}_rows`], {}, ms)[0],
          "uint8",
        );
      }
      g.output(g.op("Identity", ["x"], {}, "x_out"));
    },
  ),
  ...(["uint8", "int8"] as const).map((t) =>
    graph(
      `com.microsoft QOperator ${t}: QLinearGlobalAveragePool (NCHW, channels last), QLinearConcat, QLinearSigmoid, QLinearLeakyRelu`,
      [2, 3, 4, 5],
      (g) => {
        g.extraOpsets.push(["com.microsoft", 1]);
        const ms = "com.microsoft", signed = t === "int8";
        const scalar = (name: string, v: number) => scaleOf(g, name, v);
        const zero = (name: string, v: number) => zeroPointOf(g, name, t, v);
        const sx = scalar("sx", 0.029), zx = zero("zx", signed ? 3 : 125);
        const sy = scalar("sy", 0.011), zy = zero("zy", signed ? -4 : 131);
        const x = g.op("QuantizeLinear", ["x", sx, zx]);
        g.output(g.node("QLinearGlobalAveragePool", [x, sx, zx, sy, zy], ["gap"], {}, ms)[0], t);
        g.output(
          g.node("QLinearGlobalAveragePool", [x, sx, zx, sy, zy], ["gap_last"], {
            channels_last: 1,
          }, ms)[0],
          t,
        );
        // y_scale computed from x (0·max|x| + 0.011): read per run, not when the plan is made.
        const zeroF = g.initializer("zero_f", { type: "float32", dims: [], data: [0] });
        const maxAbs = g.op("ReduceMax", [g.op("Abs", ["x"])], { keepdims: 0 });
        const syFed = g.op("Add", [g.op("Mul", [maxAbs, zeroF]), sy]);
        g.output(
          g.node("QLinearGlobalAveragePool", [x, sx, zx, syFed, zy], ["gap_fed"], {}, ms)[0],
          t,
        );
        const x2 = g.op("QuantizeLinear", [g.op("Neg", ["x"]), sy, zy]);
        const s3 = scalar("s3", 0.071), z3 = zero("z3", signed ? 11 : 101);
        const x3 = g.op("QuantizeLinear", ["x", s3, z3]);
        // x2 has the output's scale and zero point: copied; x and x3 requantized.
        g.output(
          g.node("QLinearConcat", [sy, zy, x, sx, zx, x2, sy, zy, x3, s3, z3], ["concat1"], {
            axis: 1,
          }, ms)[0],
          t,
        );
        g.output(
          g.node(
            "QLinearConcat",
            [sy, zy, x3, s3, z3, x, sx, zx],
            ["concat_last"],
            { axis: -1 },
            ms,
          )[0],
          t,
        );
        g.output(g.node("QLinearSigmoid", [x, sx, zx, s3, z3], ["sigmoid"], {}, ms)[0], t);
        g.output(
          g.node("QLinearLeakyRelu", [x, sx, zx, sy, zy], ["leaky"], { alpha: f(0.13) }, ms)[0],
          t,
        );
      },
      17,
      4,
    )
  ),
  graph("com.microsoft: QuantizeLinear and DequantizeLinear (8-bit, per tensor and per axis)", [
    2,
    3,
    8,
  ], (g) => {
    g.extraOpsets.push(["com.microsoft", 1]);
    const ms = "com.microsoft";
    const s1 = scaleOf(g, "s1", 0.02), z1 = zeroPointOf(g, "z1", "uint8", 128);
    const q1 = g.node("QuantizeLinear", ["x", s1, z1], ["q1"], {}, ms)[0];
    g.output(q1, "uint8");
    g.output(g.node("DequantizeLinear", [q1, s1, z1], ["d1"], {}, ms)[0]);
    const s2 = g.initializer("s2", { type: "float32", dims: [3], data: [0.01, 0.05, 0.25] });
    const z2 = g.initializer("z2", { type: "int8", dims: [3], data: [0, -3, 7] });
    const q2 = g.node("QuantizeLinear", ["x", s2, z2], ["q2"], { axis: 1 }, ms)[0];
    g.output(q2, "int8");
    g.output(g.node("DequantizeLinear", [q2, s2, z2], ["d2"], { axis: 1 }, ms)[0]);
  }, 17),
  graph("com.microsoft: FastGelu, BiasGelu, Gelu, QuickGelu", [2, 3, 8], (g) => {
    g.extraOpsets.push(["com.microsoft", 1]);
    const ms = "com.microsoft", bias = w(g, "bias", [8], 144);
    g.output(g.node("FastGelu", ["x", bias], ["fast"], {}, ms)[0]);
    g.output(g.node("FastGelu", ["x"], ["fast_plain"], {}, ms)[0]);
    g.output(g.node("BiasGelu", ["x", bias], ["biasgelu"], {}, ms)[0]);
    g.output(g.node("Gelu", ["x"], ["gelu"], {}, ms)[0]);
    g.output(g.node("QuickGelu", ["x"], ["quick"], { alpha: f(1.5) }, ms)[0]);
  }, 17),
  graph("com.microsoft: MatMulNBits, 4 bits with packed zero points and a bias, 8 bits plain", [
    3,
    40,
  ], (g) => {
    g.extraOpsets.push(["com.microsoft", 1]);
    const ms = "com.microsoft";
    const [K, N, block] = [40, 5, 16], blocks = 3;
    const q4 = g.initializer("q4", {
      type: "uint8",
      dims: [N, blocks, block / 2],
      data: Array.from({ length: N * blocks * block / 2 }, (_, i) => (i * 73 + 11) % 256),
    });
    const s4 = g.initializer("s4", {
      type: "float32",
      dims: [N * blocks],
      data: Array.from({ length: N * blocks }, (_, i) => 0.01 * (i + 1)),
    });
    const z4 = g.initializer("z4", {
      type: "uint8",
      dims: [N * 2],
      data: Array.from({ length: N * 2 }, (_, i) => (i * 37) % 256),
    });
    const b = g.initializer("b", {
      type: "float32",
      dims: [N],
      data: [0.5, -1, 2, 0, 1],
    });
    const attrs = { K, N, bits: 4, block_size: block };
    g.output(g.node("MatMulNBits", ["x", q4, s4, z4, "", b], ["four"], attrs, ms)[0]);
    const q8 = g.initializer("q8", {
      type: "uint8",
      dims: [N, blocks, block],
      data: Array.from({ length: N * blocks * block }, (_, i) => (i * 29 + 3) % 256),
    });
    g.output(g.node("MatMulNBits", ["x", q8, s4], ["eight"], { ...attrs, bits: 8 }, ms)[0]);
    // 4 bits over 6 rows (above the 4-bit kernel's 4: the GEMM on the dequantized weights),
    // with the default zero point 8.
    const six = g.op("Concat", ["x", "x"], { axis: 0 });
    g.output(g.node("MatMulNBits", [six, q4, s4, "", "", b], ["four_rows6"], attrs, ms)[0]);
    // Float zero points, one row (the 4-bit kernel).
    const one = g.op("Slice", ["x", g.ints("r0", [0]), g.ints("r1", [1]), g.ints("r2", [0])]);
    const zf = g.initializer("zf", {
      type: "float32",
      dims: [N * blocks],
      data: Array.from({ length: N * blocks }, (_, i) => (i * 5) % 16),
    });
    g.output(g.node("MatMulNBits", [one, q4, s4, zf], ["four_float_zero"], attrs, ms)[0]);
  }, 17),
  {
    name: "com.microsoft: GroupQueryAttention, a padded batch's steps (seqlens_k per item)",
    opset: 17,
    build: (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft", [B, H, KV, D, P] = [2, 4, 2, 16, 5];
      g.input("pk", "float32", [B, KV, P, D]);
      g.input("pv", "float32", [B, KV, P, D]);
      const [cos, sin] = g.rotaryCache(16, D / 2, 0.21);
      const i32 = (name: string, v: number[], dims: number[]) =>
        g.initializer(name, { type: "int32", dims, data: v });
      const attrs = { num_heads: H, kv_num_heads: KV };
      // (ONNX Runtime takes past context with S > 1 only for batch 1.)
      for (const S of [1]) {
        g.input(`q${S}`, "float32", [B, S, H * D]);
        g.input(`k${S}`, "float32", [B, S, KV * D]);
        g.input(`v${S}`, "float32", [B, S, KV * D]);
        // Item 0 whole (its past 5, then S new), item 1 with 3 of its 5 past rows.
        const seqlens = i32(`sl${S}`, [P + S - 1, 3 + S - 1], [B]);
        for (const rotary of [0, 1]) {
          const [y, pk, pv] = g.node(
            "GroupQueryAttention",
            [`q${S}`, `k${S}`, `v${S}`, "pk", "pv", seqlens, i32(`t${S}${rotary}`, [P + S], [])]
              .concat(rotary ? [cos, sin] : []),
            3,
            { ...attrs, do_rotary: rotary },
            ms,
          );
          g.output(g.op("Identity", [y], {}, `y_s${S}_r${rotary}`));
          g.output(g.op("Identity", [pk], {}, `pk_s${S}_r${rotary}`));
          g.output(g.op("Identity", [pv], {}, `pv_s${S}_r${rotary}`));
        }
      }
    },
    feeds: {
      pk: F([2, 2, 5, 16], 161),
      pv: F([2, 2, 5, 16], 162),
      q1: F([2, 1, 64], 163),
      k1: F([2, 1, 32], 164),
      v1: F([2, 1, 32], 165),
    },
  },
  {
    name: "com.microsoft: GroupQueryAttention, a prompt with rotary and a decode step with a cache",
    opset: 17,
    build: (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      // onnxruntime's rotary wants head sizes in multiples of 16.
      const ms = "com.microsoft", [H, KV, D] = [4, 2, 16];
      g.input("q", "float32", [1, 5, H * D]);
      g.input("k", "float32", [1, 5, KV * D]);
      g.input("v", "float32", [1, 5, KV * D]);
      g.input("q1", "float32", [1, 1, H * D]);
      g.input("k1", "float32", [1, 1, KV * D]);
      g.input("v1", "float32", [1, 1, KV * D]);
      g.input("qkv", "float32", [1, 5, (H + 2 * KV) * D]);
      const [cos, sin] = g.rotaryCache(16, D / 2, 0.21);
      const i32 = (name: string, v: number[], dims: number[]) =>
        g.initializer(name, { type: "int32", dims, data: v });
      const attrs = { num_heads: H, kv_num_heads: KV };
      // The prompt: 5 tokens, no past, rotary.
      const [y, pk, pv] = g.node(
        "GroupQueryAttention",
        ["q", "k", "v", "", "", i32("sl5", [4], [1]), i32("t5", [5], []), cos, sin],
        3,
        { ...attrs, do_rotary: 1 },
        ms,
      );
      g.output(g.op("Identity", [y], {}, "prompt"));
      g.output(g.op("Identity", [pk], {}, "present_key"));
      g.output(g.op("Identity", [pv], {}, "present_value"));
      // One more token on that cache.
      const [y1, pk1] = g.node(
        "GroupQueryAttention",
        ["q1", "k1", "v1", pk, pv, i32("sl6", [5], [1]), i32("t6", [6], []), cos, sin],
        3,
        { ...attrs, do_rotary: 1 },
        ms,
      );
      g.output(g.op("Identity", [y1], {}, "step"));
      g.output(g.op("Identity", [pk1], {}, "present_key_step"));
      // Packed QKV, no rotary, a scale.
      const [yp] = g.node(
        "GroupQueryAttention",
        ["qkv", "", "", "", "", i32("sl5b", [4], [1]), i32("t5b", [5], [])],
        3,
        { ...attrs, scale: f(0.2) },
        ms,
      );
      g.output(g.op("Identity", [yp], {}, "packed"));
    },
    feeds: {
      q: F([1, 5, 64], 151),
      k: F([1, 5, 32], 152),
      v: F([1, 5, 32], 153),
      q1: F([1, 1, 64], 154),
      k1: F([1, 1, 32], 155),
      v1: F([1, 1, 32], 156),
      qkv: F([1, 5, 128], 157),
    },
  },
  {
    name:
      "com.microsoft: MultiHeadAttention with a bias, a padding mask, an attention bias, a cache",
    opset: 17,
    build: (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft", [H, D] = [2, 8];
      g.input("q", "float32", [2, 3, H * D]);
      g.input("k", "float32", [2, 4, H * D]);
      g.input("v", "float32", [2, 4, H * D]);
      g.input("mask", "int32", [2, 4]);
      g.input("pk", "float32", [2, H, 2, D]);
      g.input("pv", "float32", [2, H, 2, D]);
      g.input("mask6", "int32", [2, 6]);
      const bias = w(g, "bias", [3 * H * D], 161);
      const ab = w(g, "ab", [1, H, 3, 4], 162);
      g.output(g.node("MultiHeadAttention", ["q", "k", "v"], ["plain"], { num_heads: H }, ms)[0]);
      g.output(
        g.node("MultiHeadAttention", ["q", "k", "v", bias, "mask", ab], ["masked"], {
          num_heads: H,
          scale: f(0.3),
        }, ms)[0],
      );
      const [y, pk, pv] = g.node(
        "MultiHeadAttention",
        ["q", "k", "v", "", "mask6", "", "pk", "pv"],
        3,
        { num_heads: H },
        ms,
      );
      g.output(g.op("Identity", [y], {}, "cached"));
      g.output(g.op("Identity", [pk], {}, "present_key"));
      g.output(g.op("Identity", [pv], {}, "present_value"));
    },
    feeds: {
      q: F([2, 3, 16], 171),
      k: F([2, 4, 16], 172),
      v: F([2, 4, 16], 173),
      mask: { type: "int32", dims: [2, 4], data: Int32Array.from([1, 1, 1, 0, 1, 0, 1, 1]) },
      pk: F([2, 2, 2, 8], 174),
      pv: F([2, 2, 2, 8], 175),
      mask6: {
        type: "int32",
        dims: [2, 6],
        data: Int32Array.from([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]),
      },
    },
  },
  {
    name: "com.microsoft: EmbedLayerNormalization and Attention (an optimized BERT's)",
    opset: 17,
    build: (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft", [B, S, Hd, heads] = [2, 5, 16, 2];
      g.input("ids", "int32", [B, S]);
      g.input("seg", "int32", [B, S]);
      g.input("mask", "int32", [B, S]);
      g.input("lengths", "int32", [B]);
      const word = w(g, "word", [11, Hd], 181), pos = w(g, "pos", [8, Hd], 182);
      const segE = w(g, "segE", [2, Hd], 183), gamma = w(g, "gamma", [Hd], 184);
      const beta = w(g, "beta", [Hd], 185);
      const [emb, maskIndex, sum] = g.node(
        "EmbedLayerNormalization",
        ["ids", "seg", word, pos, segE, gamma, beta, "mask"],
        3,
        { epsilon: f(1e-5) },
        ms,
      );
      g.output(g.op("Identity", [emb], {}, "embedded"));
      g.output(g.op("Identity", [maskIndex], {}, "mask_index"), "int32");
      g.output(g.op("Identity", [sum], {}, "embedding_sum"));
      const W = w(g, "W", [Hd, 3 * Hd], 186), bias = w(g, "b", [3 * Hd], 187);
      const att = (inputs: string[], attrs: Record<string, number>, out: string) =>
        g.output(g.node("Attention", inputs, [out], { num_heads: heads, ...attrs }, ms)[0]);
      att([emb, W, bias], {}, "plain");
      att([emb, W, bias, "lengths"], {}, "by_lengths");
      att([emb, W, bias, "mask"], { unidirectional: 1 }, "raw_mask_causal");
    },
    feeds: {
      ids: { type: "int32", dims: [2, 5], data: Int32Array.from([1, 5, 9, 2, 0, 3, 3, 10, 7, 4]) },
      seg: { type: "int32", dims: [2, 5], data: Int32Array.from([0, 0, 1, 1, 1, 0, 1, 0, 1, 0]) },
      mask: { type: "int32", dims: [2, 5], data: Int32Array.from([1, 1, 1, 1, 0, 1, 1, 1, 0, 0]) },
      lengths: { type: "int32", dims: [2], data: Int32Array.from([4, 3]) },
    },
  },
  {
    name:
      "com.microsoft: Attention with a KV cache (past in, present out), as GPT-2's optimized exports",
    opset: 17,
    build: (g) => {
      g.extraOpsets.push(["com.microsoft", 1]);
      const ms = "com.microsoft", [B, S, Hd, heads, P] = [2, 3, 16, 2, 4];
      g.input("x", "float32", [B, S, Hd]);
      g.input("past", "float32", [2, B, heads, P, Hd / heads]);
      g.input("mask", "int32", [B, P + S]);
      g.input("lengths", "int32", [B]);
      const W = w(g, "W", [Hd, 3 * Hd], 191), bias = w(g, "b", [3 * Hd], 192);
      const att = (inputs: string[], attrs: Record<string, number>, out: string) => {
        const [y, present] = g.node("Attention", inputs, [out, `${out}_present`], {
          num_heads: heads,
          ...attrs,
        }, ms);
        g.output(y);
        g.output(present);
      };
      att(["x", W, bias, "mask", "past"], { unidirectional: 1 }, "causal");
      att(["x", W, bias, "lengths", "past"], {}, "by_lengths");
      att(["x", W, bias, "", "past"], {}, "plain");
    },
    feeds: {
      x: F([2, 3, 16], 193),
      past: F([2, 2, 2, 4, 8], 194),
      mask: {
        type: "int32",
        dims: [2, 7],
        data: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]),
      },
      lengths: { type: "int32", dims: [2], data: Int32Array.from([7, 5]) },
    },
  },
  {
    name: "ReduceSum, ReduceMax over int64 (an attention mask's lengths)",
    opset: 13,
    build: (g) => {
      g.input("m", "int64", [2, 5]);
      g.output(g.op("ReduceSum", ["m", g.ints("ax", [1])], { keepdims: 0 }, "lengths"), "int64");
      g.output(g.op("ReduceMax", ["m"], { axes: [0] }, "any"), "int64");
    },
    feeds: { m: I64([2, 5], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]) },
  },
  graph("ReduceProd, ReduceL1, ReduceLogSum at opsets 13 and 18", [2, 3, 4], (g) => {
    g.output(g.op("ReduceProd", ["x"], { axes: [1] }, "prod"));
    g.output(g.op("ReduceL1", ["x"], { axes: [0, 2], keepdims: 0 }, "l1"));
    const pos = g.op("Abs", ["x"]);
    g.output(g.op("ReduceLogSum", [pos], { axes: [-1] }, "logsum"));
    g.output(g.op("ReduceProd", ["x"], {}, "all"));
  }, 13),
  graph("ReduceProd, ReduceL1, ReduceLogSum with axes inputs (opset 18)", [2, 3, 4], (g) => {
    g.output(g.op("ReduceProd", ["x", g.ints("a0", [-1])], {}, "prod"));
    g.output(g.op("ReduceL1", ["x", g.ints("a1", [1])], { keepdims: 0 }, "l1"));
    g.output(g.op("ReduceLogSum", [g.op("Abs", ["x"]), g.ints("a2", [0])], {}, "logsum"));
  }, 18),
  graph("Reduce opset 18 (axes input), noop_with_empty_axes", [2, 3, 4], (g) => {
    g.output(g.op("ReduceMean", ["x", g.ints("axes", [-1])], {}, "mean"));
    g.output(g.op("ReduceMax", ["x", g.ints("axes0", [0])], { keepdims: 0 }, "max"));
    g.output(g.op("ReduceSumSquare", ["x", g.ints("axes1", [1])], {}, "ss"));
    g.output(g.op("ReduceL2", ["x"], { keepdims: 0 }, "l2"));
    g.output(g.op("ReduceLogSumExp", ["x", g.ints("axes2", [2])], {}, "lse"));
    g.output(g.op("ReduceSum", ["x"], { noop_with_empty_axes: 1 }, "noop"));
  }, 18),
  {
    name: "Shape Gather Unsqueeze Concat Reshape with a symbolic batch",
    build: (g) => {
      g.input("x", "float32", ["batch", 3, 4]);
      const shape = g.op("Shape", ["x"]);
      const batch = g.op("Gather", [shape, g.ints("zero", [0], [])], { axis: 0 });
      const dims = g.op("Concat", [
        g.op("Unsqueeze", [batch, g.ints("ax", [0])]),
        g.ints("rest", [12]),
      ], { axis: 0 });
      g.output(g.op("Reshape", ["x", dims], {}, "flat"));
      g.output(g.op("Cast", [shape], { to: 1 }, "shape"));
    },
    feeds: { x: F([5, 3, 4], 3) },
  },
  graph("Flatten Squeeze Unsqueeze opset 11 (attributes)", [2, 1, 3, 1], (g) => {
    g.output(g.op("Flatten", ["x"], { axis: 2 }, "flat"));
    g.output(g.op("Squeeze", ["x"], { axes: [1] }, "sq"));
    g.output(g.op("Unsqueeze", ["x"], { axes: [0, 5] }, "unsq"));
    g.output(g.op("Squeeze", ["x"], {}, "all"));
  }, 11),
  graph("Squeeze Unsqueeze opset 13 (inputs)", [2, 1, 3, 1], (g) => {
    g.output(g.op("Squeeze", ["x", g.ints("a", [3, 1])], {}, "sq"));
    g.output(g.op("Unsqueeze", ["x", g.ints("b", [-1, 0])], {}, "unsq"));
  }, 13),
  graph("Transpose default and perm", [2, 3, 4, 5], (g) => {
    g.output(g.op("Transpose", ["x"], {}, "rev"));
    g.output(g.op("Transpose", ["x"], { perm: [0, 2, 1, 3] }, "heads"));
    g.output(g.op("Transpose", ["x"], { perm: [0, 3, 1, 2] }, "nchw"));
  }),
  // Found by tools/fuzz (stop 67): an output Transpose folded into a MatMul by a vector took
  // the output's last axis for N (wrong elements, or a gemm RangeError), and a Transpose
  // between two MatMuls was folded into both (a dangling input at create).
  graph(
    "MatMul by a vector, its output transposed (perm keeping the last axis)",
    [3, 4, 8],
    (g) => {
      const v = g.weight("v", [8], Array.from({ length: 8 }, (_, i) => (i % 5) - 2));
      g.output(g.op("Transpose", [g.op("MatMul", ["x", v])], { perm: [0, 1] }, "xv"));
      const b = g.weight("b", [2, 8, 3], Array.from({ length: 48 }, (_, i) => (i % 7) - 3));
      const vb = g.op("MatMul", [g.op("Reshape", ["x", g.ints("s", [12, 8])]), v]);
      const row = g.op("Gather", [vb, g.ints("i", [0, 1, 2, 3, 4, 5, 6, 7])], { axis: 0 });
      g.output(g.op("Transpose", [g.op("MatMul", [row, b])], { perm: [0, 1] }, "vb"));
    },
  ),
  graph("MatMul → Transpose → MatMul (the Transpose folded once)", [2, 3, 4], (g) => {
    const w1 = g.weight("w1", [4, 5], Array.from({ length: 20 }, (_, i) => (i % 3) - 1));
    const w2 = g.weight("w2", [5, 2], Array.from({ length: 10 }, (_, i) => (i % 4) - 2));
    const t = g.op("Transpose", [g.op("MatMul", ["x", w1])], { perm: [1, 0, 2] });
    g.output(g.op("MatMul", [t, w2], {}, "y"));
  }),
  graph(
    "Einsum with '...' (batched products, transposes, diagonals, implicit output)",
    [2, 3, 4],
    (g) => {
      const b = g.weight("b", [2, 4, 5], Array.from({ length: 40 }, (_, i) => (i % 7) - 3));
      const v = g.weight("v", [4, 5], Array.from({ length: 20 }, (_, i) => (i % 5) - 2));
      g.output(g.op("Einsum", ["x", b], { equation: "...ij,...jk->...ik" }, "batched"));
      g.output(g.op("Einsum", ["x", b], { equation: "...ij,...jk" }, "implicit"));
      g.output(g.op("Einsum", ["x", v], { equation: "...ij,jk->...ik" }, "shared"));
      g.output(g.op("Einsum", ["x"], { equation: "i...->...i" }, "moved"));
      g.output(g.op("Einsum", ["x", "x"], { equation: "b...d,b...d->b..." }, "rowDots"));
    },
  ),
  graph(
    "ConvTranspose output_shape (the pads it implies, by auto_pad; 1-D, 2-D)",
    [1, 2, 4, 5],
    (g) => {
      const w = g.weight(
        "w",
        [2, 3, 3, 3],
        Array.from({ length: 54 }, (_, i) => ((i * 7) % 11) - 5),
      );
      const base = { kernel_shape: [3, 3], strides: [2, 2] };
      g.output(g.op("ConvTranspose", ["x", w], { ...base, output_shape: [7, 9] }, "notset"));
      for (const auto_pad of ["SAME_UPPER", "SAME_LOWER"]) {
        g.output(
          g.op("ConvTranspose", ["x", w], { ...base, output_shape: [8, 10], auto_pad }, auto_pad),
        );
      }
      g.output(
        g.op(
          "ConvTranspose",
          ["x", w],
          { ...base, output_shape: [8, 10], output_padding: [1, 1] },
          "opad",
        ),
      );
      const x1 = g.op("Reshape", ["x", g.ints("s1", [1, 2, 20])]);
      const w1 = g.weight("w1", [2, 3, 3], Array.from({ length: 18 }, (_, i) => (i % 5) - 2));
      g.output(
        g.op(
          "ConvTranspose",
          [x1, w1],
          { kernel_shape: [3], strides: [2], output_shape: [40] },
          "oneD",
        ),
      );
    },
  ),
  graph("MaxPool's Indices (ties, padding, SAME, storage_order, dilations, 1-D) into MaxUnpool", [
    2,
    3,
    7,
    6,
  ], (g) => {
    // Rounded: ties, whose first index in row-major order both runtimes give.
    const t = g.op("Round", [g.op("Mul", ["x", g.weight("two", [], [2])])]);
    const cases: [string, Record<string, number[] | number | string>][] = [
      ["plain", { kernel_shape: [2, 2], strides: [2, 2] }],
      ["padded", { kernel_shape: [3, 3], strides: [2, 1], pads: [1, 1, 1, 1] }],
      ["colMajor", { kernel_shape: [2, 2], strides: [2, 2], storage_order: 1 }],
      ["same", { kernel_shape: [3, 2], strides: [2, 2], auto_pad: "SAME_UPPER" }],
      ["dilated", { kernel_shape: [2, 2], strides: [1, 2], dilations: [2, 2], ceil_mode: 1 }],
    ];
    for (const [name, attrs] of cases) {
      const [y, i] = g.node("MaxPool", [t], [`${name}Y`, `${name}I`], attrs);
      g.output(y);
      g.output(i, "int64");
    }
    const [p, pi] = g.node("MaxPool", [t], ["unpoolY", "unpoolI"], {
      kernel_shape: [2, 2],
      strides: [2, 2],
    });
    g.output(
      g.op("MaxUnpool", [p, pi, g.ints("shape", [2, 3, 7, 6])], {
        kernel_shape: [2, 2],
        strides: [2, 2],
      }, "unpooled"),
    );
    const row = g.op("Reshape", [t, g.ints("s", [2, 3, 42])]);
    const [y1, i1] = g.node("MaxPool", [row], ["oneDY", "oneDI"], {
      kernel_shape: [3],
      strides: [2],
      pads: [1, 1],
    });
    g.output(y1);
    g.output(i1, "int64");
  }),
  graph("Reduce* with noop_with_empty_axes (each element through the op's map)", [3, 4], (g) => {
    for (const op of ["Sum", "Mean", "Max", "Min", "Prod", "L1", "L2", "LogSumExp", "SumSquare"]) {
      g.output(g.op(`Reduce${op}`, ["x"], { noop_with_empty_axes: 1 }, `noop${op}`));
    }
    const positive = g.op("Abs", ["x"]);
    g.output(g.op("ReduceLogSum", [positive], { noop_with_empty_axes: 1 }, "noopLogSum"));
  }, 18),
  graph("Hardmax opset 11 (x coerced to 2-D from axis, default 1)", [2, 3, 4], (g) => {
    g.output(g.op("Hardmax", ["x"], {}, "default"));
    g.output(g.op("Hardmax", ["x"], { axis: 0 }, "all"));
    g.output(g.op("Hardmax", ["x"], { axis: 2 }, "last"));
    g.output(g.op("Hardmax", ["x"], { axis: -2 }, "negative"));
  }, 11),
  graph("Slice with steps, negative indices, clamping", [4, 6, 5], (g) => {
    g.output(
      g.op(
        "Slice",
        [
          "x",
          g.ints("s", [1, -1]),
          g.ints("e", [100, -6]),
          g.ints("a", [0, 1]),
          g.ints("st", [2, -2]),
        ],
        {},
        "y",
      ),
    );
    g.output(
      g.op("Slice", ["x", g.ints("s2", [-3]), g.ints("e2", [-1]), g.ints("a2", [-1])], {}, "y2"),
    );
  }, 13),
  graph("Slice opset 9 (attributes)", [4, 6], (g) => {
    g.output(g.op("Slice", ["x"], { starts: [1, 0], ends: [3, 4], axes: [0, 1] }, "y"));
  }, 9),
  graph("Split opset 13 (sizes input) and opset 11 (equal)", [6, 4], (g) => {
    g.node("Split", ["x", g.ints("sp", [1, 2, 3])], ["a", "b", "c"], { axis: 0 });
    for (const o of ["a", "b", "c"]) g.output(o);
  }, 13),
  graph("Split opset 18 num_outputs (uneven)", [7, 2], (g) => {
    g.node("Split", ["x"], ["a", "b", "c"], { axis: 0, num_outputs: 3 });
    for (const o of ["a", "b", "c"]) g.output(o);
  }, 18),
  graph("Expand Tile", [3, 1], (g) => {
    g.output(g.op("Expand", ["x", g.ints("shape", [2, 3, 4])], {}, "e"));
    g.output(g.op("Tile", ["x", g.ints("reps", [2, 3])], {}, "t"));
  }),
  graph("Pad constant reflect edge (opset 13 inputs)", [1, 2, 4, 5], (g) => {
    const pads = g.ints("pads", [0, 0, 1, 2, 0, 0, 2, 1]);
    const v = g.initializer("v", { type: "float32", dims: [], data: [0.5] });
    g.output(g.op("Pad", ["x", pads, v], {}, "c"));
    g.output(g.op("Pad", ["x", pads], { mode: "reflect" }, "r"));
    g.output(g.op("Pad", ["x", pads], { mode: "edge" }, "e"));
    g.output(g.op("Pad", ["x", g.ints("cropPads", [0, 0, -1, 0, 0, 0, 0, -2])], {}, "crop"));
  }, 13),
  graph("Pad opset 7 (attributes)", [3, 4], (g) => {
    g.output(g.op("Pad", ["x"], { pads: [1, 0, 0, 2], value: f(-1) }, "y"));
  }, 7),
  graph("Cast Range ConstantOfShape Identity Dropout", [3, 4], (g) => {
    const n = g.op("Shape", ["x"]);
    const c = g.op("ConstantOfShape", [n], {
      value: { tensor: { type: "float32", dims: [1], data: [0.25] } },
    });
    g.output(g.op("Add", [g.op("Identity", ["x"]), c], {}, "y"));
    const r = g.op("Range", [
      g.ints("start", [1], []),
      g.ints("limit", [10], []),
      g.ints("delta", [3], []),
    ]);
    g.output(g.op("Cast", [r], { to: 1 }, "range"));
    g.output(g.op("Dropout", ["x"], {}, "d"));
    g.output(g.op("Cast", [g.op("Cast", ["x"], { to: 7 })], { to: 1 }, "trunc"));
  }),
  graph("Constant node forms", [2, 2], (g) => {
    const c = g.node("Constant", [], 1, { value_floats: fs([1, 2]) })[0];
    const d = g.node("Constant", [], 1, {
      value: { tensor: { type: "float32", dims: [2, 2], data: [1, 0, 0, 1] } },
    })[0];
    g.output(g.op("Add", [g.op("Mul", ["x", d]), c], {}, "y"));
  }),
  {
    name: "Gather with runtime int64 indices (embedding) and negative index",
    build: (g) => {
      g.input("ids", "int64", [2, 3]);
      g.output(g.op("Gather", [w(g, "table", [10, 4], 1), "ids"], {}, "emb"));
      g.output(g.op("Gather", [w(g, "t2", [3, 5], 2), "ids"], { axis: 1 }, "cols"));
    },
    feeds: { ids: I64([2, 3], [0, 2, -1, 1, 1, 2]) },
  },
  unary("Floor"),
  unary("Ceil"),
  {
    name: "Round (halves to even)",
    build: (g) => {
      g.input("x", "float32", [8]);
      g.output(g.op("Round", ["x"], {}, "y"));
    },
    feeds: {
      x: {
        type: "float32",
        dims: [8],
        data: Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6, 3]),
      },
    },
  },
  unary("Sign"),
  unary("Sin"),
  unary("Cos"),
  unary("Softsign"),
  graph("PRelu per-channel and scalar slope", [2, 3, 4, 5], (g) => {
    g.output(g.op("PRelu", ["x", w(g, "slope", [3, 1, 1], 1)], {}, "y"));
    g.output(g.op("PRelu", ["x", g.weight("s1", [1], [0.25])], {}, "y1"));
  }),
  graph("ArgMax ArgMin (keepdims, select_last_index)", [3, 4, 5], (g) => {
    g.output(g.op("ArgMax", ["x"], { axis: 1 }, "amax"), "int64");
    g.output(g.op("ArgMin", ["x"], { axis: -1, keepdims: 0 }, "amin"), "int64");
    g.output(
      g.op("ArgMax", [g.op("Round", ["x"])], { axis: 2, select_last_index: 1 }, "last"),
      "int64",
    );
  }, 13),
  graph("CumSum exclusive reverse, Trilu", [3, 5], (g) => {
    g.output(g.op("CumSum", ["x", g.ints("ax", [1], [])], {}, "c"));
    g.output(g.op("CumSum", ["x", g.ints("ax0", [0], [])], { exclusive: 1, reverse: 1 }, "cr"));
    g.output(g.op("Trilu", ["x"], {}, "up"));
    g.output(g.op("Trilu", ["x", g.ints("k", [-1], [])], { upper: 0 }, "low"));
  }, 14),
  {
    name: "GatherElements",
    build: (g) => {
      g.input("x", "float32", [3, 4]);
      g.input("i", "int64", [2, 4]);
      g.output(g.op("GatherElements", ["x", "i"], { axis: 0 }, "y"));
    },
    feeds: { x: F([3, 4], 5), i: I64([2, 4], [0, 1, 2, -1, 2, 2, 0, 1]) },
    opset: 13,
  },
  graph("DepthToSpace DCR and CRD, SpaceToDepth", [1, 8, 2, 3], (g) => {
    g.output(g.op("DepthToSpace", ["x"], { blocksize: 2 }, "dcr"));
    g.output(g.op("DepthToSpace", ["x"], { blocksize: 2, mode: "CRD" }, "crd"));
    g.output(
      g.op(
        "SpaceToDepth",
        [g.op("DepthToSpace", ["x"], { blocksize: 2 })],
        { blocksize: 2 },
        "round",
      ),
    );
  }, 13),
  graph("InstanceNormalization", [2, 3, 4, 5], (g) => {
    g.output(
      g.op("InstanceNormalization", ["x", w(g, "s", [3], 1), w(g, "b", [3], 2)], {
        epsilon: f(1e-4),
      }, "y"),
    );
  }),
  graph("GroupNormalization opset 18 (scale and bias per group)", [2, 6, 3, 4], (g) => {
    const sc = g.initializer("s", { type: "float32", dims: [3], data: [1.5, -0.5, 2] });
    const b = g.initializer("b", { type: "float32", dims: [3], data: [0.1, 0.2, -0.3] });
    g.output(g.op("GroupNormalization", ["x", sc, b], { num_groups: 3, epsilon: f(1e-3) }, "y"));
  }, 18),
  {
    name: "GroupNormalization opset 18 with scale and bias fed at run time",
    opset: 18,
    build: (g) => {
      g.input("x", "float32", [1, 4, 3, 3]);
      g.input("s", "float32", [2]);
      g.input("b", "float32", [2]);
      g.output(g.op("GroupNormalization", ["x", "s", "b"], { num_groups: 2 }, "y"));
    },
    feeds: { x: F([1, 4, 3, 3], 12, 2), s: F([2], 13, 1, 1), b: F([2], 14, 0.5) },
  },
  graph("GroupNormalization opset 21 (scale and bias per channel)", [2, 6, 5], (g) => {
    const sc = w(g, "s", [6], 5, 1), b = w(g, "b", [6], 6, 0.5);
    g.output(g.op("GroupNormalization", ["x", sc, b], { num_groups: 2 }, "y"));
  }, 21),
  graph("Tan Atan Sinh Cosh Asinh; Asin Acos Atanh inside (-1, 1); Acosh from 1", [2, 9], (g) => {
    for (const op of ["Tan", "Atan", "Sinh", "Cosh", "Asinh"]) g.output(g.op(op, ["x"], {}, op));
    const c = g.initializer("c", { type: "float32", dims: [], data: [0.45] });
    const small = g.op("Mul", ["x", c]);
    for (const op of ["Asin", "Acos", "Atanh"]) g.output(g.op(op, [small], {}, op));
    const one = g.initializer("one", { type: "float32", dims: [], data: [1] });
    g.output(g.op("Acosh", [g.op("Add", [g.op("Abs", ["x"]), one])], {}, "Acosh"));
  }),
  graph("Celu ThresholdedRelu Shrink", [3, 11], (g) => {
    g.output(g.op("Celu", ["x"], { alpha: f(0.7) }, "celu"));
    g.output(g.op("ThresholdedRelu", ["x"], { alpha: f(0.3) }, "thr"));
    g.output(g.op("Shrink", ["x"], { bias: f(0.2), lambd: f(0.4) }, "shrink"));
    g.output(g.op("Shrink", ["x"], {}, "shrinkDefault"));
  }, 12),
  graph("IsNaN IsInf (both signs, one)", [2, 6], (g) => {
    const zero = g.initializer("z", { type: "float32", dims: [], data: [0] });
    const odd = g.op("Div", [g.op("Floor", ["x"]), zero]); // ±Inf and NaN (0/0)
    g.output(g.op("IsNaN", [odd], {}, "nan"), "bool");
    g.output(g.op("IsInf", [odd], {}, "inf"), "bool");
    g.output(g.op("IsInf", [odd], { detect_negative: 0 }, "pos"), "bool");
  }, 13),
  graph("QuantizeLinear uint8 per tensor, int8 per axis; DequantizeLinear back", [2, 3, 8], (g) => {
    const s1 = g.initializer("s1", { type: "float32", dims: [], data: [0.02] });
    const z1 = g.initializer("z1", { type: "uint8", dims: [], data: [128] });
    const q1 = g.op("QuantizeLinear", ["x", s1, z1]);
    g.output(g.op("Identity", [q1], {}, "q1"), "uint8");
    g.output(g.op("DequantizeLinear", [q1, s1, z1], {}, "d1"));
    const s2 = g.initializer("s2", { type: "float32", dims: [3], data: [0.01, 0.05, 0.25] });
    const z2 = g.initializer("z2", { type: "int8", dims: [3], data: [0, -3, 7] });
    const q2 = g.op("QuantizeLinear", ["x", s2, z2], { axis: 1 });
    g.output(g.op("Identity", [q2], {}, "q2"), "int8");
    g.output(g.op("DequantizeLinear", [q2, s2, z2], { axis: 1 }, "d2"));
    // Ties: x/scale exactly half-way (0.5·0.25 steps) round to even.
    const half = g.initializer("h", {
      type: "float32",
      dims: [6],
      data: [0.125, 0.375, -0.125, -0.375, 0.625, 2.5],
    });
    const s3 = g.initializer("s3", { type: "float32", dims: [], data: [0.25] });
    const z3 = g.initializer("z3", { type: "int8", dims: [], data: [0] });
    g.output(g.op("QuantizeLinear", [half, s3, z3], {}, "ties"), "int8");
  }, 13),
  graph(
    "DynamicQuantizeLinear, then MatMulInteger and the dequantizing Mul (a dynamic-quantized Linear)",
    [2, 3, 40],
    (g) => {
      const [q, scale, zp] = g.node("DynamicQuantizeLinear", ["x"], 3, {});
      g.output(g.op("Identity", [q], {}, "q"), "uint8");
      g.output(g.op("Identity", [scale], {}, "scale"));
      g.output(g.op("Identity", [zp], {}, "zp"), "uint8");
      const wq = Array.from({ length: 40 * 6 }, (_, i) => ((i * 37) % 255) - 127);
      const W = g.initializer("W", { type: "int8", dims: [40, 6], data: wq });
      const wz = g.initializer("wz", { type: "int8", dims: [6], data: [0, 1, -2, 3, -4, 5] });
      const mm = g.op("MatMulInteger", [q, W, zp, wz]);
      g.output(g.op("Identity", [mm], {}, "mm"), "int32");
      const ws = g.initializer("ws", { type: "float32", dims: [], data: [0.01] });
      const y = g.op("Mul", [g.op("Cast", [mm], { to: 1 }), g.op("Mul", [scale, ws])]);
      g.output(g.op("Identity", [y], {}, "y"));
    },
    11,
  ),
  graph(
    "dynamic-quantized Linears with their bias and activation (fused into the 8-bit GEMM's store)",
    [2, 5, 36],
    (g) => {
      const [q, scale, zp] = g.node("DynamicQuantizeLinear", ["x"], 3, {});
      const wq = Array.from({ length: 36 * 20 }, (_, i) => ((i * 41) % 255) - 127);
      const W = g.initializer("W", { type: "int8", dims: [36, 20], data: wq });
      const wz = g.initializer("wz", { type: "int8", dims: [], data: [0] });
      const linear = (ws: string, bias: string) => {
        const mm = g.op("MatMulInteger", [q, W, zp, wz]);
        const y = g.op("Mul", [g.op("Cast", [mm], { to: 1 }), g.op("Mul", [scale, ws])]);
        return g.op("Add", [y, bias]);
      };
      const ws1 = g.initializer("ws1", { type: "float32", dims: [], data: [0.004] });
      const ws2 = g.initializer("ws2", {
        type: "float32",
        dims: [20],
        data: Array.from({ length: 20 }, (_, i) => 0.001 * (i + 1)),
      });
      const b1 = g.initializer("b1", {
        type: "float32",
        dims: [20],
        data: Array.from({ length: 20 }, (_, i) => (i % 7) * 0.3 - 1),
      });
      g.output(g.op("Relu", [linear(ws1, b1)], {}, "relu"));
      g.output(g.op("Sigmoid", [linear(ws2, b1)], {}, "sigmoid"));
      g.output(g.op("Identity", [linear(ws2, b1)], {}, "plain"));
    },
    11,
  ),
  graph(
    "ConvInteger 2-D: padded, strided, zero points (a dynamic-quantized Conv)",
    [2, 3, 9, 8],
    (g) => {
      const [q, , zp] = g.node("DynamicQuantizeLinear", ["x"], 3, {});
      const w = (name: string, dims: number[], seed: number) =>
        g.initializer(name, {
          type: "uint8",
          dims,
          data: Array.from({ length: dims.reduce((p, v) => p * v, 1) }, (_, i) => (i * seed) % 256),
        });
      const W = w("W", [4, 3, 3, 3], 37),
        wz = g.initializer("wz", { type: "uint8", dims: [], data: [131] });
      g.output(
        g.op("ConvInteger", [q, W, zp, wz], { pads: [1, 0, 2, 1], strides: [2, 1] }, "padded"),
        "int32",
      );
      const W2 = w("W2", [6, 1, 2, 3], 53);
      g.output(
        g.op(
          "ConvInteger",
          [q, W2, zp],
          { group: 3, dilations: [2, 1], pads: [1, 1, 1, 0] },
          "grouped",
        ),
        "int32",
      );
      g.output(g.op("ConvInteger", [q, W], {}, "no_zero_points"), "int32");
    },
    11,
  ),
  graph("ConvInteger 1-D (Whisper's), SAME_LOWER, stride 2", [1, 5, 20], (g) => {
    const [q, , zp] = g.node("DynamicQuantizeLinear", ["x"], 3, {});
    const W = g.initializer("W", {
      type: "uint8",
      dims: [7, 5, 3],
      data: Array.from({ length: 105 }, (_, i) => (i * 71 + 5) % 256),
    });
    const wz = g.initializer("wz", { type: "uint8", dims: [], data: [128] });
    g.output(
      g.op("ConvInteger", [q, W, zp, wz], { auto_pad: "SAME_LOWER", strides: [2] }, "y"),
      "int32",
    );
  }, 11),
  graph(
    "DequantizeLinear of int4 and uint4 weights in blocks (opset 21), then MatMul",
    [3, 32],
    (g) => {
      // Weight-only 4-bit QDQ: int4 [32, 6] in blocks of 16 along K, per block and column scales.
      const wq = Array.from({ length: 32 * 6 }, (_, i) => ((i * 5 + 3) % 16) - 8);
      const W = g.initializer("W", { type: "int4", dims: [32, 6], data: wq });
      const s = g.initializer("s", {
        type: "float32",
        dims: [2, 6],
        data: Array.from({ length: 12 }, (_, i) => 0.01 * (i + 1)),
      });
      const deq = g.op("DequantizeLinear", [W, s], { axis: 0, block_size: 16 });
      g.output(g.op("MatMul", ["x", deq], {}, "int4"));
      const uq = Array.from({ length: 32 * 6 }, (_, i) => (i * 7 + 1) % 16);
      const U = g.initializer("U", { type: "uint4", dims: [32, 6], data: uq });
      const z = g.initializer("z", {
        type: "uint4",
        dims: [2, 6],
        data: Array.from({ length: 12 }, (_, i) => (i * 3) % 16),
      });
      const deqU = g.op("DequantizeLinear", [U, s, z], { axis: 0, block_size: 16 });
      g.output(g.op("MatMul", ["x", deqU], {}, "uint4"));
      g.output(g.op("Identity", [deqU], {}, "dequantized"));
    },
    21,
  ),
  graph(
    "QLinearMatMul uint8 and int8: scalar and per-column b scales (QOperator format)",
    [2, 3, 40],
    (g) => {
      const sc = (name: string, data: number[]) =>
        g.initializer(name, {
          type: "float32",
          dims: data.length === 1 ? [] : [data.length],
          data,
        });
      const zp = (name: string, type: "uint8" | "int8", v: number) =>
        g.initializer(name, { type, dims: [], data: [v] });
      const as = sc("as", [0.02]), ys = sc("ys", [0.05]);
      const a = g.op("QuantizeLinear", ["x", as, zp("az", "uint8", 121)]);
      const B = g.initializer("B", {
        type: "uint8",
        dims: [40, 6],
        data: Array.from({ length: 240 }, (_, i) => (i * 89 + 7) % 256),
      });
      const bs = sc("bs", [0.003]);
      g.output(
        g.op(
          "QLinearMatMul",
          [a, as, "az", B, bs, zp("bz", "uint8", 129), ys, zp("yz", "uint8", 100)],
          {},
          "u8",
        ),
        "uint8",
      );
      // int8 activations and weights, b's scale per output column, int8 output.
      const a8 = g.op("QuantizeLinear", ["x", as, zp("az8", "int8", -3)]);
      const B8 = g.initializer("B8", {
        type: "int8",
        dims: [40, 6],
        data: Array.from({ length: 240 }, (_, i) => ((i * 53 + 11) % 256) - 128),
      });
      const bsc = sc("bsc", [0.001, 0.002, 0.0025, 0.004, 0.0005, 0.003]);
      g.output(
        g.op(
          "QLinearMatMul",
          [a8, as, "az8", B8, bsc, zp("bz8", "int8", 0), ys, zp("yz8", "int8", -5)],
          {},
          "i8",
        ),
        "int8",
      );
    },
    13,
  ),
  graph("QLinearMatMul: sums exactly halfway between steps round to even", [6, 3], (g) => {
    // a_scale·b_scale/y_scale = 0.5 exactly, small sums: every odd sum is a tie.
    const sc = (name: string, v: number) =>
      g.initializer(name, { type: "float32", dims: [], data: [v] });
    const z = g.initializer("z", { type: "int8", dims: [], data: [0] });
    const a = g.op("QuantizeLinear", ["x", sc("as", 0.25), z]);
    const B = g.initializer("B", {
      type: "int8",
      dims: [3, 4],
      data: [1, -1, 2, 3, -3, 1, 0, -2, 1, 1, -1, 2],
    });
    g.output(
      g.op("QLinearMatMul", [a, "as", z, B, sc("bs", 0.5), z, sc("ys", 0.25), z], {}, "y"),
      "int8",
    );
  }, 13),
  graph(
    "QLinearConv: per-channel w scales, int32 bias, padded and grouped (QOperator format)",
    [1, 4, 9, 8],
    (g) => {
      const sc = (name: string, data: number[]) =>
        g.initializer(name, {
          type: "float32",
          dims: data.length === 1 ? [] : [data.length],
          data,
        });
      const zp = (name: string, type: "uint8" | "int8", v: number) =>
        g.initializer(name, { type, dims: [], data: [v] });
      const xs = sc("xs", [0.02]), ys = sc("ys", [0.04]);
      const q = g.op("QuantizeLinear", ["x", xs, zp("xz", "uint8", 128)]);
      const W = g.initializer("W", {
        type: "int8",
        dims: [5, 4, 3, 3],
        data: Array.from({ length: 180 }, (_, i) => ((i * 37 + 5) % 255) - 127),
      });
      const ws = sc("ws", [0.002, 0.003, 0.001, 0.004, 0.0025]);
      const B = g.initializer("B", { type: "int32", dims: [5], data: [300, -1200, 0, 4500, -77] });
      g.output(
        g.op(
          "QLinearConv",
          [q, xs, "xz", W, ws, zp("wz", "int8", 0), ys, zp("yz", "uint8", 90), B],
          { pads: [1, 1, 1, 1], strides: [2, 1] },
          "padded",
        ),
        "uint8",
      );
      const W2 = g.initializer("W2", {
        type: "uint8",
        dims: [4, 2, 1, 3],
        data: Array.from({ length: 24 }, (_, i) => (i * 71 + 3) % 256),
      });
      g.output(
        g.op(
          "QLinearConv",
          [
            q,
            xs,
            "xz",
            W2,
            sc("ws2", [0.003]),
            zp("wz2", "uint8", 131),
            ys,
            zp("yz2", "uint8", 128),
          ],
          { group: 2, pads: [0, 1, 0, 1] },
          "grouped",
        ),
        "uint8",
      );
      // Depthwise, strided (the exact float path: w − w_zp, the float depthwise kernel).
      const W4 = g.initializer("W4", {
        type: "int8",
        dims: [4, 1, 3, 3],
        data: Array.from({ length: 36 }, (_, i) => ((i * 29 + 7) % 255) - 127),
      });
      g.output(
        g.op(
          "QLinearConv",
          [
            q,
            xs,
            "xz",
            W4,
            sc("ws4", [0.004, 0.002, 0.003, 0.001]),
            g.initializer("wz4", { type: "int8", dims: [4], data: [0, 0, 0, 0] }),
            ys,
            zp("yz4", "uint8", 0),
            g.initializer("B4", { type: "int32", dims: [4], data: [900, -50, 0, 1234] }),
          ],
          { group: 4, pads: [1, 1, 1, 1], strides: [2, 2] },
          "depthwise",
        ),
        "uint8",
      );
      // int8 x and y (the native path's flipped sign bits), dilated.
      const qs = g.op("QuantizeLinear", ["x", xs, zp("xz3", "int8", -7)]);
      const W3 = g.initializer("W3", {
        type: "int8",
        dims: [7, 4, 2, 3],
        data: Array.from({ length: 168 }, (_, i) => ((i * 53 + 11) % 256) - 128),
      });
      g.output(
        g.op(
          "QLinearConv",
          [
            qs,
            xs,
            "xz3",
            W3,
            sc("ws3", [0.002, 0.001, 0.003, 0.0015, 0.0025, 0.002, 0.001]),
            zp("wz3", "int8", 0),
            ys,
            zp("yz3", "int8", 5),
          ],
          { dilations: [2, 1], pads: [1, 2, 0, 1] },
          "signed",
        ),
        "int8",
      );
    },
    13,
  ),
  graph("MatMulInteger int8 × uint8, K beyond one exact block", [3, 4100], (g) => {
    const s = g.initializer("s", { type: "float32", dims: [], data: [0.01] });
    const z = g.initializer("z", { type: "int8", dims: [], data: [-1] });
    const a = g.op("QuantizeLinear", ["x", s, z]);
    const bq = Array.from({ length: 4100 * 2 }, (_, i) => (i * 101) % 256);
    const B = g.initializer("B", { type: "uint8", dims: [4100, 2], data: bq });
    const bz = g.initializer("bz", { type: "uint8", dims: [], data: [131] });
    g.output(g.op("MatMulInteger", [a, B, z, bz], {}, "mm"), "int32");
  }, 13),
  graph(
    "Einsum as batched GEMMs (attention's, a Linear's, transposed operands)",
    [2, 3, 4, 5],
    (g) => {
      const k = w(g, "k", [2, 3, 6, 5], 21),
        v = w(g, "v", [5, 7], 22),
        u = w(g, "u", [4, 2, 6], 23);
      g.output(g.op("Einsum", ["x", k], { equation: "bhqd,bhkd->bhqk" }, "scores"));
      g.output(g.op("Einsum", ["x", v], { equation: "bhqd,de->bhqe" }, "linear"));
      g.output(g.op("Einsum", ["x", u], { equation: "bhqd,qbk->hdk" }, "mixed"));
      g.output(g.op("Einsum", ["x", k], { equation: "bhqd,bhkd" }, "implicit"));
    },
    12,
  ),
  graph(
    "Einsum by the loop: transpose, trace, sum over a letter, outer product",
    [4, 4, 3],
    (g) => {
      const v = w(g, "v", [3], 24);
      g.output(g.op("Einsum", ["x"], { equation: "ijk->kji" }, "perm"));
      g.output(g.op("Einsum", ["x"], { equation: "iik->k" }, "trace"));
      g.output(g.op("Einsum", ["x", v], { equation: "ijk,k->" }, "dot"));
      g.output(g.op("Einsum", ["x", v], { equation: "ijk,l->ijkl" }, "outer"));
    },
    12,
  ),
  {
    name:
      "Mod: int64 and int32 floored (fmod 0) and truncated (fmod 1), float32 fmod 1, mixed signs",
    opset: 13,
    build: (g) => {
      g.input("a", "int64", [6]);
      g.input("b", "int64", [6]);
      g.input("x", "float32", [6]);
      g.input("y", "float32", [6]);
      g.output(g.op("Mod", ["a", "b"], {}, "floored"), "int64");
      g.output(g.op("Mod", ["a", "b"], { fmod: 1 }, "truncated"), "int64");
      const a32 = g.op("Cast", ["a"], { to: 6 }), b32 = g.op("Cast", ["b"], { to: 6 });
      g.output(g.op("Mod", [a32, b32], {}, "floored32"), "int32");
      g.output(g.op("Mod", [a32, b32], { fmod: 1 }, "truncated32"), "int32");
      g.output(g.op("Mod", ["x", "y"], { fmod: 1 }, "fmod"));
    },
    feeds: {
      a: I64([6], [-4, 7, 5, 4, -7, 8]),
      b: I64([6], [2, -3, 8, -2, 3, 5]),
      x: { type: "float32", dims: [6], data: Float32Array.from([-4.3, 7.2, 5, 4.3, -7.2, 8]) },
      y: { type: "float32", dims: [6], data: Float32Array.from([2.1, -3.4, 8, -2.1, 3.4, 5]) },
    },
  },
  {
    name: "Resize with its scales fed (linear, cubic, nearest) and a Range's float limit fed",
    opset: 13,
    build: (g) => {
      g.input("x", "float32", [1, 2, 4, 5]);
      g.input("scales", "float32", [4]);
      g.input("limit", "float32", []);
      g.output(g.op("Resize", ["x", "", "scales"], { mode: "linear" }, "linear"));
      g.output(g.op("Resize", ["x", "", "scales"], { mode: "cubic" }, "cubic"));
      g.output(g.op("Resize", ["x", "", "scales"], { mode: "nearest" }, "nearest"));
      const start = g.initializer("start", { type: "float32", dims: [], data: [0.25] });
      const delta = g.initializer("delta", { type: "float32", dims: [], data: [0.75] });
      g.output(g.op("Range", [start, "limit", delta], {}, "range"));
    },
    feeds: {
      x: F([1, 2, 4, 5], 171),
      scales: { type: "float32", dims: [4], data: Float32Array.from([1, 1, 1.5, 0.8]) },
      limit: { type: "float32", dims: [], data: Float32Array.from([5.5]) },
    },
  },
  {
    name:
      "ReduceMax and ReduceMin of bool (any, all; opset 20) and over an empty axis (float and int64)",
    opset: 20,
    build: (g) => {
      g.input("b", "bool", [3, 4]);
      g.input("x", "float32", [2, 0, 3]);
      g.input("i", "int64", [2, 0]);
      const ax1 = g.ints("ax1", [1]);
      g.output(g.op("ReduceMax", ["b", ax1], {}, "any"), "bool");
      g.output(g.op("ReduceMin", ["b", ax1], { keepdims: 0 }, "all"), "bool");
      g.output(g.op("ReduceMax", ["x", ax1], {}, "max_empty"));
      g.output(g.op("ReduceMin", ["x", ax1], { keepdims: 0 }, "min_empty"));
      g.output(g.op("ReduceMax", ["i", ax1], {}, "imax_empty"), "int64");
      g.output(g.op("ReduceMin", ["i", ax1], {}, "imin_empty"), "int64");
    },
    feeds: {
      b: {
        type: "bool",
        dims: [3, 4],
        data: Uint8Array.from([1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
      },
      x: { type: "float32", dims: [2, 0, 3], data: new Float32Array(0) },
      i: { type: "int64", dims: [2, 0], data: new BigInt64Array(0) },
    },
  },
  graph("Mean of 1, 2 and 3 inputs (broadcast)", [2, 3, 4], (g) => {
    const a = w(g, "a", [3, 4], 25), b = w(g, "b", [4], 26);
    g.output(g.op("Mean", ["x"], {}, "one"));
    g.output(g.op("Mean", ["x", a], {}, "two"));
    g.output(g.op("Mean", ["x", a, b], {}, "three"));
    // The first two narrower than the last: the sum widens on the third input.
    g.output(g.op("Sum", [b, a, "x"], {}, "widening"));
    g.output(g.op("Mean", [b, a, "x"], {}, "widening_mean"));
  }, 13),
  graph("Hardmax (ties to the first), EyeLike, LpNormalization p 1 and 2", [3, 5], (g) => {
    const r = g.op("Floor", ["x"]); // ties
    g.output(g.op("Hardmax", [r], { axis: 1 }, "hard"));
    g.output(g.op("Hardmax", ["x"], { axis: 0 }, "hard0"));
    g.output(g.op("EyeLike", ["x"], { k: 1 }, "eye"));
    g.output(g.op("EyeLike", ["x"], { k: -2, dtype: 7 }, "eye64"), "int64");
    g.output(g.op("LpNormalization", ["x"], { axis: 1, p: 1 }, "l1"));
    g.output(g.op("LpNormalization", ["x"], { axis: 0 }, "l2"));
  }, 13),
  graph("LSTM forward with bias and initial states; reverse; all outputs", [5, 2, 3], (g) => {
    const W = w(g, "W", [1, 16, 3], 31), R = w(g, "R", [1, 16, 4], 32), B = w(g, "B", [1, 32], 33);
    const h0 = w(g, "h0", [1, 2, 4], 34), c0 = w(g, "c0", [1, 2, 4], 35);
    const [y, yh, yc] = g.node("LSTM", ["x", W, R, B, "", h0, c0], 3, { hidden_size: 4 });
    g.output(g.op("Identity", [y], {}, "y"));
    g.output(g.op("Identity", [yh], {}, "yh"));
    g.output(g.op("Identity", [yc], {}, "yc"));
    const [yr] = g.node("LSTM", ["x", W, R], 1, { hidden_size: 4, direction: "reverse" });
    g.output(g.op("Identity", [yr], {}, "yr"));
  }, 7),
  graph(
    'LSTM, GRU and RNN with Y left unnamed (outputs "", Y_h as exporters write them), and Y_h unnamed',
    [5, 2, 3],
    (g) => {
      const Wl = w(g, "Wl", [2, 16, 3], 131), Rl = w(g, "Rl", [2, 16, 4], 132);
      const Wg = w(g, "Wg", [1, 12, 3], 133), Rg = w(g, "Rg", [1, 12, 4], 134);
      const Wr = w(g, "Wr", [1, 4, 3], 135), Rr = w(g, "Rr", [1, 4, 4], 136);
      const both = { hidden_size: 4, direction: "bidirectional" };
      const [, lh, lc] = g.node("LSTM", ["x", Wl, Rl], ["", "lstm_h", "lstm_c"], both);
      g.output(g.op("Identity", [lh], {}, "lstm_yh"));
      g.output(g.op("Identity", [lc], {}, "lstm_yc"));
      const [ly] = g.node("LSTM", ["x", Wl, Rl], ["lstm_y", "", ""], both);
      g.output(g.op("Identity", [ly], {}, "lstm_y_only"));
      const [, gh] = g.node("GRU", ["x", Wg, Rg], ["", "gru_h"], { hidden_size: 4 });
      g.output(g.op("Identity", [gh], {}, "gru_yh"));
      const [, rh] = g.node("RNN", ["x", Wr, Rr], ["", "rnn_h"], { hidden_size: 4 });
      g.output(g.op("Identity", [rh], {}, "rnn_yh"));
    },
    14,
  ),
  graph(
    "GRU at batch 1 (one GEMM over the gates): linear_before_reset or not, bidirectional, clip, initial state",
    [4, 1, 3],
    (g) => {
      const W = w(g, "W", [2, 12, 3], 52),
        R = w(g, "R", [2, 12, 4], 53),
        B = w(g, "B", [2, 24], 54);
      const h0 = w(g, "h0", [2, 1, 4], 55);
      for (const lbr of [0, 1]) {
        const [y, yh] = g.node("GRU", ["x", W, R, B, "", h0], 2, {
          hidden_size: 4,
          direction: "bidirectional",
          clip: f(2),
          linear_before_reset: lbr,
        });
        g.output(g.op("Identity", [y], {}, `y${lbr}`));
        g.output(g.op("Identity", [yh], {}, `yh${lbr}`));
      }
    },
    14,
  ),
  graph(
    "LSTM at batch 1 (one GEMM over the four gates): bidirectional with peepholes and clip, initial states",
    [4, 1, 3],
    (g) => {
      const W = w(g, "W", [2, 16, 3], 46),
        R = w(g, "R", [2, 16, 4], 47),
        B = w(g, "B", [2, 32], 48);
      const P = w(g, "P", [2, 12], 49);
      const h0 = w(g, "h0", [2, 1, 4], 50), c0 = w(g, "c0", [2, 1, 4], 51);
      const [y, yh, yc] = g.node("LSTM", ["x", W, R, B, "", h0, c0, P], 3, {
        hidden_size: 4,
        direction: "bidirectional",
        clip: f(2),
      });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [yh], {}, "yh"));
      g.output(g.op("Identity", [yc], {}, "yc"));
    },
    14,
  ),
  graph(
    "LSTM bidirectional with peepholes, clip and input_forget (opset 14)",
    [6, 2, 3],
    (g) => {
      const W = w(g, "W", [2, 20, 3], 36),
        R = w(g, "R", [2, 20, 5], 37),
        B = w(g, "B", [2, 40], 38);
      const P = w(g, "P", [2, 15], 39);
      const [y, yh] = g.node("LSTM", ["x", W, R, B, "", "", "", P], 2, {
        hidden_size: 5,
        direction: "bidirectional",
        clip: f(1.5),
      });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [yh], {}, "yh"));
      const [yf] = g.node("LSTM", ["x", W, R, B], 1, {
        hidden_size: 5,
        direction: "bidirectional",
        input_forget: 1,
      });
      g.output(g.op("Identity", [yf], {}, "yf"));
      // No peepholes: the gates as Jit calls, clip included.
      const [yc] = g.node("LSTM", ["x", W, R, B], 1, {
        hidden_size: 5,
        direction: "bidirectional",
        clip: f(0.5),
      });
      g.output(g.op("Identity", [yc], {}, "yc"));
    },
    14,
  ),
  {
    name:
      "LSTM (with and without peepholes), GRU and RNN with sequence_lens fed and constant, bidirectional",
    opset: 14,
    build: (g) => {
      g.input("x", "float32", [5, 3, 2]);
      g.input("lens", "int32", [3]);
      const fixed = g.initializer("fixed", { type: "int32", dims: [3], data: [3, 5, 1] });
      const Wl = w(g, "Wl", [2, 12, 2], 111), Rl = w(g, "Rl", [2, 12, 3], 112);
      const Bl = w(g, "Bl", [2, 24], 113), Pl = w(g, "Pl", [2, 9], 114);
      const Wg = w(g, "Wg", [2, 9, 2], 115), Rg = w(g, "Rg", [2, 9, 3], 116);
      const Wr = w(g, "Wr", [2, 3, 2], 117), Rr = w(g, "Rr", [2, 3, 3], 118);
      const h0 = w(g, "h0", [2, 3, 3], 119);
      const both = { hidden_size: 3, direction: "bidirectional" };
      const outputs = (prefix: string, outs: string[]) =>
        outs.forEach((o, i) => g.output(g.op("Identity", [o], {}, `${prefix}_${i}`)));
      outputs("lstm", g.node("LSTM", ["x", Wl, Rl, Bl, "lens", h0], 3, both));
      outputs("lstm_peep", g.node("LSTM", ["x", Wl, Rl, Bl, fixed, "", "", Pl], 3, both));
      outputs("gru", g.node("GRU", ["x", Wg, Rg, "", "lens", h0], 2, both));
      outputs(
        "gru_lbr",
        g.node("GRU", ["x", Wg, Rg, "", fixed], 2, { ...both, linear_before_reset: 1 }),
      );
      outputs("rnn", g.node("RNN", ["x", Wr, Rr, "", "lens", h0], 2, both));
    },
    feeds: {
      x: F([5, 3, 2], 120),
      lens: { type: "int32", dims: [3], data: Int32Array.from([5, 2, 4]) },
    },
  },
  graph(
    "LSTM, GRU and RNN with other activations and their alpha and beta (Keras' HardSigmoid…)",
    [5, 2, 3],
    (g) => {
      const Wl = w(g, "Wl", [2, 16, 3], 131), Rl = w(g, "Rl", [2, 16, 4], 132);
      const Wg = w(g, "Wg", [2, 12, 3], 133), Rg = w(g, "Rg", [2, 12, 4], 134);
      const Wr = w(g, "Wr", [2, 4, 3], 135), Rr = w(g, "Rr", [2, 4, 4], 136);
      const both = { hidden_size: 4, direction: "bidirectional" };
      const out = (name: string, v: string) => g.output(g.op("Identity", [v], {}, name));
      out(
        "lstm_keras",
        g.node("LSTM", ["x", Wl, Rl], 1, {
          ...both,
          activations: ["HardSigmoid", "Tanh", "Tanh", "HardSigmoid", "Tanh", "Tanh"],
          activation_alpha: { floats: [0.2, 0.25] },
          activation_beta: { floats: [0.5, 0.45] },
        })[0],
      );
      out(
        "lstm_mixed",
        g.node("LSTM", ["x", Wl, Rl], 1, {
          ...both,
          activations: ["Sigmoid", "Elu", "Softplus", "LeakyRelu", "Tanh", "Relu"],
          activation_alpha: { floats: [0.9, 0.1] },
        })[0],
      );
      const P = w(g, "P", [2, 12], 137);
      out(
        "lstm_peep",
        g.node("LSTM", ["x", Wl, Rl, "", "", "", "", P], 1, {
          ...both,
          clip: f(0.8),
          activations: ["HardSigmoid", "Tanh", "Softplus", "Sigmoid", "Relu", "Tanh"],
          activation_alpha: { floats: [0.3] },
        })[0],
      );
      out(
        "lstm_coupled",
        g.node("LSTM", ["x", Wl, Rl, "", "", "", "", P], 1, {
          ...both,
          input_forget: 1,
        })[0],
      );
      out(
        "gru_keras",
        g.node("GRU", ["x", Wg, Rg], 1, {
          ...both,
          activations: ["HardSigmoid", "Relu", "HardSigmoid", "Tanh"],
          activation_alpha: { floats: [0.3] },
          activation_beta: { floats: [0.6] },
        })[0],
      );
      out(
        "gru_lbr",
        g.node("GRU", ["x", Wg, Rg], 1, {
          ...both,
          linear_before_reset: 1,
          activations: ["Sigmoid", "LeakyRelu", "Sigmoid", "Elu"],
          activation_alpha: { floats: [0.05] },
        })[0],
      );
      out(
        "rnn",
        g.node("RNN", ["x", Wr, Rr], 1, {
          ...both,
          activations: ["Elu", "HardSigmoid"],
          activation_alpha: { floats: [0.8, 0.3] },
          activation_beta: { floats: [0.4] },
        })[0],
      );
    },
    14,
  ),
  {
    name: "LSTM, GRU and RNN with weights fed at run time (not packed)",
    opset: 14,
    build: (g) => {
      g.input("x", "float32", [4, 3, 2]);
      g.input("wl", "float32", [1, 12, 2]);
      g.input("rl", "float32", [1, 12, 3]);
      g.input("wg", "float32", [1, 9, 2]);
      g.input("rg", "float32", [1, 9, 3]);
      g.input("wr", "float32", [1, 3, 2]);
      g.input("rr", "float32", [1, 3, 3]);
      g.output(g.op("LSTM", ["x", "wl", "rl"], { hidden_size: 3 }, "l"));
      g.output(g.op("GRU", ["x", "wg", "rg"], { hidden_size: 3 }, "gru"));
      g.output(g.op("RNN", ["x", "wr", "rr"], { hidden_size: 3 }, "rnn"));
    },
    feeds: {
      x: F([4, 3, 2], 104),
      wl: F([1, 12, 2], 105),
      rl: F([1, 12, 3], 106),
      wg: F([1, 9, 2], 107),
      rg: F([1, 9, 3], 108),
      wr: F([1, 3, 2], 109),
      rr: F([1, 3, 3], 110),
    },
  },
  {
    name: "Attention 4-D: plain, causal, a float mask, grouped-query heads (opset 23)",
    opset: 23,
    build: (g) => {
      g.input("q", "float32", [2, 4, 3, 8]);
      g.input("k", "float32", [2, 2, 5, 8]);
      g.input("v", "float32", [2, 2, 5, 6]);
      g.output(g.op("Attention", ["q", "k", "v"], {}, "plain"));
      g.output(g.op("Attention", ["q", "k", "v"], { is_causal: 1, scale: f(0.3) }, "causal"));
      const mask = g.initializer("mask", {
        type: "float32",
        dims: [3, 5],
        data: Array.from(
          { length: 15 },
          (_, i) => (i % 4 === 0 ? -5 : i % 7 === 0 ? -Infinity : 0.5),
        ),
      });
      g.output(g.op("Attention", ["q", "k", "v", mask], {}, "masked"));
    },
    feeds: { q: F([2, 4, 3, 8], 101), k: F([2, 2, 5, 8], 102), v: F([2, 2, 5, 6], 103) },
  },
  {
    name:
      "Attention: a query that sees no key gives a zero row (a boolean mask constant and fed, a float mask of −∞, the probabilities output)",
    opset: 23,
    build: (g) => {
      g.input("q", "float32", [1, 2, 3, 4]);
      g.input("k", "float32", [1, 2, 3, 4]);
      g.input("v", "float32", [1, 2, 3, 4]);
      g.input("m", "bool", [3, 3]);
      g.output(g.op("Attention", ["q", "k", "v", "m"], {}, "fed"));
      const none = g.initializer("none", {
        type: "bool",
        dims: [3, 3],
        data: [0, 0, 0, 1, 1, 0, 1, 0, 1],
      });
      const [y, , , probs] = g.node("Attention", ["q", "k", "v", none], 4, {
        qk_matmul_output_mode: 3,
      });
      g.output(g.op("Identity", [y], {}, "constant"));
      g.output(g.op("Identity", [probs], {}, "probabilities"));
      const inf = g.initializer("inf", {
        type: "float32",
        dims: [1, 1, 3, 3],
        data: [0.5, -1, 0, -Infinity, -Infinity, -Infinity, 0, 0, 0],
      });
      g.output(g.op("Attention", ["q", "k", "v", inf], { is_causal: 1 }, "float_mask"));
    },
    feeds: {
      q: F([1, 2, 3, 4], 131),
      k: F([1, 2, 3, 4], 132),
      v: F([1, 2, 3, 4], 133),
      m: { type: "bool", dims: [3, 3], data: Uint8Array.from([1, 1, 0, 0, 0, 0, 1, 1, 1]) },
    },
  },
  {
    name:
      "Optional outputs left unnamed: Attention's present K and V (\"\") beside its scores, MaxPool's indices",
    opset: 23,
    build: (g) => {
      g.input("q", "float32", [1, 2, 3, 4]);
      g.input("k", "float32", [1, 2, 5, 4]);
      g.input("v", "float32", [1, 2, 5, 4]);
      const [y, , , scores] = g.node("Attention", ["q", "k", "v"], ["att_y", "", "", "att_qk"]);
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [scores], {}, "scores"));
      const [pooled] = g.node("MaxPool", ["k"], ["pooled", ""], { kernel_shape: [2, 2] });
      g.output(g.op("Identity", [pooled], {}, "pool"));
    },
    feeds: { q: F([1, 2, 3, 4], 141), k: F([1, 2, 5, 4], 142), v: F([1, 2, 5, 4], 143) },
  },
  {
    name: "Pad's constant_value a CastLike of a constant to a computed tensor's type (folded)",
    opset: 18,
    build: (g) => {
      g.input("q", "float32", [2, 2, 3, 4]);
      const value = g.initializer("value", { type: "float32", dims: [], data: [2.5] });
      const like = g.op("CastLike", [value, g.op("Relu", ["q"])]);
      const pads = g.ints("pads", [0, 0, 1, 0, 0, 0, 0, 2]);
      g.output(g.op("Pad", ["q", pads, like], {}, "padded"));
    },
    feeds: { q: F([2, 2, 3, 4], 151) },
  },
  {
    name: "Attention 3-D with heads, a KV cache, causal, a boolean mask fed (opset 23)",
    opset: 23,
    build: (g) => {
      g.input("q", "float32", [1, 3, 12]);
      g.input("k", "float32", [1, 3, 6]);
      g.input("v", "float32", [1, 3, 6]);
      g.input("pk", "float32", [1, 2, 4, 3]);
      g.input("pv", "float32", [1, 2, 4, 3]);
      g.input("m", "bool", [1, 1, 3, 7]);
      const heads = { q_num_heads: 4, kv_num_heads: 2 };
      const [y, k, v] = g.node("Attention", ["q", "k", "v", "", "pk", "pv"], 3, {
        ...heads,
        is_causal: 1,
      });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [k], {}, "present_key"));
      g.output(g.op("Identity", [v], {}, "present_value"));
      // onnxruntime wants present_key whenever past_key is given.
      const [ym] = g.node("Attention", ["q", "k", "v", "m", "pk", "pv"], 3, heads);
      g.output(g.op("Identity", [ym], {}, "masked"));
      // No cache: the heads read K and V in place, rows kv_num_heads·size apart.
      g.output(g.op("Attention", ["q", "k", "v"], { ...heads, is_causal: 1 }, "fresh"));
    },
    feeds: {
      q: F([1, 3, 12], 111),
      k: F([1, 3, 6], 112),
      v: F([1, 3, 6], 113),
      pk: F([1, 2, 4, 3], 114),
      pv: F([1, 2, 4, 3], 115),
      m: {
        type: "bool",
        dims: [1, 1, 3, 7],
        data: Uint8Array.from({ length: 21 }, (_, i) => (i % 5 === 2 ? 0 : 1)),
      },
    },
  },
  {
    name: "Attention: softcap, and the scores out in modes 0 and 3 (opset 23)",
    opset: 23,
    build: (g) => {
      g.input("q", "float32", [1, 2, 4, 4]);
      g.input("k", "float32", [1, 2, 4, 4]);
      g.input("v", "float32", [1, 2, 4, 4]);
      g.output(g.op("Attention", ["q", "k", "v"], { softcap: f(0.7) }, "capped"));
      const [, , , s0] = g.node("Attention", ["q", "k", "v"], 4, {});
      g.output(g.op("Identity", [s0], {}, "scores"));
      const [, , , s3] = g.node("Attention", ["q", "k", "v"], 4, { qk_matmul_output_mode: 3 });
      g.output(g.op("Identity", [s3], {}, "probs"));
    },
    feeds: { q: F([1, 2, 4, 4], 121, 3), k: F([1, 2, 4, 4], 122, 3), v: F([1, 2, 4, 4], 123) },
  },
  {
    name: "RotaryEmbedding: 4-D halves with position_ids, 3-D interleaved and partial (opset 23)",
    opset: 23,
    build: (g) => {
      g.input("x4", "float32", [2, 3, 4, 8]);
      g.input("x3", "float32", [2, 4, 16]);
      g.input("pos", "int64", [2, 4]);
      const [cos, sin] = g.rotaryCache(10, 4, 0.3);
      g.output(g.op("RotaryEmbedding", ["x4", cos, sin, "pos"], {}, "halves"));
      g.output(
        g.op("RotaryEmbedding", ["x3", cos, sin, "pos"], { num_heads: 2, interleaved: 1 }, "pairs"),
      );
      const c2 = g.initializer("c2", {
        type: "float32",
        dims: [2, 4, 2],
        data: Array.from({ length: 16 }, (_, i) => Math.cos(i * 0.7)),
      });
      const s2 = g.initializer("s2", {
        type: "float32",
        dims: [2, 4, 2],
        data: Array.from({ length: 16 }, (_, i) => Math.sin(i * 0.7)),
      });
      g.output(
        g.op(
          "RotaryEmbedding",
          ["x3", c2, s2],
          { num_heads: 2, rotary_embedding_dim: 4 },
          "partial",
        ),
      );
    },
    feeds: {
      x4: F([2, 3, 4, 8], 131),
      x3: F([2, 4, 16], 132),
      pos: I64([2, 4], [0, 1, 2, 3, 5, 9, 2, 0]),
    },
  },
  graph("RMSNormalization over the last axis and the last two (opset 23)", [2, 3, 8], (g) => {
    g.output(g.op("RMSNormalization", ["x", w(g, "s", [8], 81)], {}, "last"));
    g.output(
      g.op("RMSNormalization", ["x", w(g, "s2", [3, 8], 82)], { axis: -2, epsilon: f(0.1) }, "two"),
    );
  }, 23),
  {
    name: "Attention with nonpad_kv_seqlen over a static cache, plain and causal (opset 24)",
    opset: 24,
    build: (g) => {
      g.input("q", "float32", [2, 2, 2, 8]);
      g.input("k", "float32", [2, 2, 6, 8]);
      g.input("v", "float32", [2, 2, 6, 8]);
      g.input("lens", "int64", [2]);
      g.output(g.node("Attention", ["q", "k", "v", "", "", "", "lens"], ["plain"], {})[0]);
      g.output(
        g.node("Attention", ["q", "k", "v", "", "", "", "lens"], ["causal"], { is_causal: 1 })[0],
      );
    },
    feeds: {
      q: F([2, 2, 2, 8], 195),
      k: F([2, 2, 6, 8], 196),
      v: F([2, 2, 6, 8], 197),
      lens: I64([2], [4, 6]),
    },
  },
  {
    name:
      "TensorScatter: a static KV cache, linear with write indices, circular, default (opset 24)",
    opset: 24,
    build: (g) => {
      g.input("cache", "float32", [2, 2, 6, 4]);
      g.input("upd", "float32", [2, 2, 2, 4]);
      g.input("idx", "int64", [2]);
      g.input("wrap", "int64", [2]);
      g.output(g.op("TensorScatter", ["cache", "upd", "idx"], {}, "linear"));
      g.output(g.op("TensorScatter", ["cache", "upd", "wrap"], { mode: "circular" }, "circular"));
      g.output(g.op("TensorScatter", ["cache", "upd"], {}, "at_zero"));
    },
    feeds: {
      cache: F([2, 2, 6, 4], 191),
      upd: F([2, 2, 2, 4], 192),
      idx: I64([2], [1, 4]),
      wrap: I64([2], [3, 5]),
    },
  },
  graph(
    "Reshape, Transpose and Cast at opset 25",
    [2, 6],
    (g) => {
      const t = g.op("Transpose", [g.op("Reshape", ["x", g.ints("s", [3, 4])])], { perm: [1, 0] });
      g.output(g.op("Cast", [g.op("Cast", [t], { to: 6 })], { to: 1 }, "moved"));
    },
    25,
  ),
  graph("CastLike to int32 and back to float (opset 15)", [2, 5], (g) => {
    const like = g.initializer("like", { type: "int32", dims: [1], data: [0] });
    const i = g.op("CastLike", [
      g.op("Mul", ["x", g.initializer("k", { type: "float32", dims: [], data: [10] })]),
      like,
    ]);
    g.output(g.op("Identity", [i], {}, "ints"), "int32");
    g.output(g.op("CastLike", [i, "x"], {}, "back"));
  }, 15),
  graph("GRU forward with bias and an initial state; reverse; both outputs", [5, 2, 3], (g) => {
    const W = w(g, "W", [1, 12, 3], 51), R = w(g, "R", [1, 12, 4], 52), B = w(g, "B", [1, 24], 53);
    const h0 = w(g, "h0", [1, 2, 4], 54);
    const [y, yh] = g.node("GRU", ["x", W, R, B, "", h0], 2, { hidden_size: 4 });
    g.output(g.op("Identity", [y], {}, "y"));
    g.output(g.op("Identity", [yh], {}, "yh"));
    const [yr] = g.node("GRU", ["x", W, R], 1, { hidden_size: 4, direction: "reverse" });
    g.output(g.op("Identity", [yr], {}, "yr"));
  }, 7),
  graph(
    "GRU bidirectional, linear_before_reset, clip (opset 14)",
    [6, 2, 3],
    (g) => {
      const W = w(g, "W", [2, 15, 3], 56),
        R = w(g, "R", [2, 15, 5], 57),
        B = w(g, "B", [2, 30], 58);
      const [y, yh] = g.node("GRU", ["x", W, R, B], 2, {
        hidden_size: 5,
        direction: "bidirectional",
        linear_before_reset: 1,
      });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [yh], {}, "yh"));
      const [yc] = g.node("GRU", ["x", W, R, B], 1, {
        hidden_size: 5,
        direction: "bidirectional",
        clip: f(0.75),
      });
      g.output(g.op("Identity", [yc], {}, "yc"));
    },
    14,
  ),
  graph(
    "RNN forward with bias and an initial state; reverse Relu; both outputs",
    [5, 2, 3],
    (g) => {
      const W = w(g, "W", [1, 4, 3], 61), R = w(g, "R", [1, 4, 4], 62), B = w(g, "B", [1, 8], 63);
      const h0 = w(g, "h0", [1, 2, 4], 64);
      const [y, yh] = g.node("RNN", ["x", W, R, B, "", h0], 2, { hidden_size: 4 });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [yh], {}, "yh"));
      const [yr] = g.node("RNN", ["x", W, R], 1, {
        hidden_size: 4,
        direction: "reverse",
        activations: ["Relu"],
      });
      g.output(g.op("Identity", [yr], {}, "yr"));
    },
    7,
  ),
  graph(
    "RNN bidirectional Tanh/Sigmoid, clip (opset 14)",
    [6, 2, 3],
    (g) => {
      const W = w(g, "W", [2, 5, 3], 66),
        R = w(g, "R", [2, 5, 5], 67),
        B = w(g, "B", [2, 10], 68),
        h0 = w(g, "h0", [2, 2, 5], 69);
      const [y, yh] = g.node("RNN", ["x", W, R, B, "", h0], 2, {
        hidden_size: 5,
        direction: "bidirectional",
        activations: ["Tanh", "Sigmoid"],
        clip: f(0.75),
      });
      g.output(g.op("Identity", [y], {}, "y"));
      g.output(g.op("Identity", [yh], {}, "yh"));
    },
    14,
  ),
  graph("TopK largest and smallest, along an axis and the last", [3, 4, 5], (g) => {
    const [v, i] = g.node("TopK", ["x", g.ints("k", [3])], 2, { axis: 1 });
    g.output(g.op("Identity", [v], {}, "v"));
    g.output(g.op("Identity", [i], {}, "i"), "int64");
    const [v2, i2] = g.node("TopK", ["x", g.ints("k2", [2])], 2, { largest: 0 });
    g.output(g.op("Identity", [v2], {}, "v2"));
    g.output(g.op("Identity", [i2], {}, "i2"), "int64");
  }, 11),
  graph("TopK with ties keeps the lower index", [2, 6], (g) => {
    const r = g.op("Floor", [
      g.op("Mul", ["x", g.initializer("h", { type: "float32", dims: [], data: [0.5] })]),
    ]);
    const [v, i] = g.node("TopK", [r, g.ints("k", [4])], 2, {});
    g.output(g.op("Identity", [v], {}, "v"));
    g.output(g.op("Identity", [i], {}, "i"), "int64");
  }, 11),
  graph("GatherND, batch_dims 0 and 1, negative indices", [2, 3, 4], (g) => {
    g.output(g.op("GatherND", ["x", g.ints("i0", [0, 1, 1, -1, 1, 2], [3, 2])], {}, "a"));
    g.output(
      g.op("GatherND", ["x", g.ints("i1", [2, 0, 1, -1], [2, 2, 1])], { batch_dims: 1 }, "b"),
    );
    g.output(g.op("GatherND", ["x", g.ints("i2", [1, 2, 3, 0, 0, 0], [2, 3])], {}, "c"));
  }, 13),
  graph("ScatterND replace and add", [4, 3], (g) => {
    const upd = g.initializer("u", { type: "float32", dims: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    g.output(g.op("ScatterND", ["x", g.ints("i", [3, 1], [2, 1]), upd], {}, "r"));
    g.output(g.op("ScatterND", ["x", g.ints("j", [1, 1], [2, 1]), upd], { reduction: "add" }, "s"));
    const one = g.initializer("one", { type: "float32", dims: [2], data: [9, 8] });
    g.output(g.op("ScatterND", ["x", g.ints("k", [0, 2, -1, 0], [2, 2]), one], {}, "e"));
  }, 16),
  graph("ScatterElements along each axis, replace and add", [3, 4], (g) => {
    const upd = g.initializer("u", { type: "float32", dims: [2, 2], data: [1, 2, 3, 4] });
    g.output(
      g.op("ScatterElements", ["x", g.ints("i", [1, 0, 2, -1], [2, 2]), upd], { axis: 1 }, "a"),
    );
    g.output(
      g.op("ScatterElements", ["x", g.ints("j", [2, 2, 0, 2], [2, 2]), upd], {
        axis: 0,
        reduction: "add",
      }, "b"),
    );
  }, 16),
  {
    name: "OneHot of int64 indices (negative, out of range), axis -1 and 0",
    opset: 11,
    build: (g) => {
      g.input("ids", "int64", [2, 3]);
      const vals = g.initializer("vals", { type: "float32", dims: [2], data: [-1, 3] });
      const depth = g.ints("depth", [4], []);
      g.output(g.op("OneHot", ["ids", depth, vals], {}, "a"));
      g.output(g.op("OneHot", ["ids", depth, vals], { axis: 0 }, "b"));
    },
    feeds: { ids: I64([2, 3], [0, 3, -1, 5, -4, 2]) },
  },
  graph("Upsample opset 9 nearest and linear", [1, 2, 3, 4], (g) => {
    const sc = g.initializer("scales", { type: "float32", dims: [4], data: [1, 1, 2, 2] });
    g.output(g.op("Upsample", ["x", sc], { mode: "nearest" }, "n"));
    g.output(g.op("Upsample", ["x", sc], { mode: "linear" }, "l"));
  }, 9),
];

for (const c of CASES) {
  Deno.test(`model op: ${c.name}`, async () => {
    const g = new GraphBuilder(c.opset ?? 17);
    c.build(g);
    await checkModel(`op ${c.name}`, g.toBytes(), c.feeds);
  });
}

Deno.test("model op: Resize sized from its input's shape at run time (symbolic dims), shapes in turn in one session", async () => {
  const g = new GraphBuilder(19);
  g.input("x", "float32", ["N", 3, "H", "W"]);
  // sizes = [N, C, 2H, 2W] from Shape, as exporters write an upsampling by 2.
  const shape = g.op("Shape", ["x"]);
  const nc = g.op("Slice", [shape, g.ints("from0", [0]), g.ints("to2", [2])]);
  const hw = g.op("Slice", [shape, g.ints("from2", [2]), g.ints("to4", [4])]);
  const sizes = g.op("Concat", [nc, g.op("Mul", [hw, g.ints("two", [2])])], { axis: 0 });
  g.output(g.op("Resize", ["x", "", "", sizes], { mode: "linear" }, "up"));
  const half = g.initializer("half", { type: "float32", dims: [2], data: [0.5, 0.4] });
  g.output(g.op("Resize", ["x", "", half], { mode: "cubic", antialias: 1, axes: [2, 3] }, "down"));
  const bytes = g.toBytes();
  const shapes = [[1, 3, 20, 30], [2, 3, 13, 8], [1, 3, 20, 30]];
  const session = await InferenceSession.create(bytes);
  try {
    for (const [i, dims] of shapes.entries()) {
      const feeds = { x: F(dims, 40 + i) };
      const name = `op Resize sized at run time, shape ${dims.join("x")} seed ${40 + i}`;
      await checkModel(name, bytes, feeds);
      const want = await reference(name, bytes, feeds);
      const got = session.runSync({ x: new Tensor("float32", feeds.x.data, dims) });
      for (const k of ["up", "down"]) assertClose(`${name} (one session) ${k}`, got[k], want[k]);
    }
  } finally {
    await session.release();
  }
});

Deno.test("model op: a Resize it cannot compute is refused (at create, or at its first run where shapes are planned), naming the node and why", async () => {
  const cases: [string, (g: GraphBuilder) => void, RegExp][] = [
    ["a NaN in roi", (g) => {
      const roi = g.initializer("roi", {
        type: "float32",
        dims: [8],
        data: [0, 0, 0, 0, 1, 1, 1, NaN],
      });
      g.op("Resize", ["x", roi, "", g.ints("z", [1, 2, 3, 3])], {
        mode: "linear",
        coordinate_transformation_mode: "tf_crop_and_resize",
      }, "y");
    }, /roi\[7\] = NaN is not a finite number/],
    ["channels resized", (g) => {
      g.op("Resize", ["x", "", "", g.ints("z", [1, 4, 4, 4])], { mode: "nearest" }, "y");
    }, /axis 1 is resized .*only the last two axes may be/],
    ["scales of the wrong count for axes", (g) => {
      const sc = g.initializer("s", { type: "float32", dims: [3], data: [1, 2, 2] });
      g.op("Resize", ["x", "", sc], { mode: "nearest", axes: [2, 3] }, "y");
    }, /scales has 3 values, expected 2/],
    ["a repeated axis", (g) => {
      g.op("Resize", ["x", "", "", g.ints("z", [3, 3])], { mode: "nearest", axes: [3, -1] }, "y");
    }, /axes repeats axis -1/],
    ["an output past 2^31 − 1 elements", (g) => {
      g.op("Resize", ["x", "", "", g.ints("z", [1, 2, 70000, 70000])], { mode: "nearest" }, "y");
    }, /elements exceed 2147483647/],
  ];
  for (const [what, build, message] of cases) {
    const g = new GraphBuilder(18);
    g.input("x", "float32", [1, 2, 4, 4]);
    build(g);
    g.output("y", "float32", null);
    const refused = (e: Error) => /Resize node/.test(e.message) && message.test(e.message);
    const x = new Tensor("float32", new Float32Array(32), [1, 2, 4, 4]);
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(g.toBytes());
    } catch (e) {
      assert.ok(refused(e as Error), `${what}: ${(e as Error).message}`);
      continue;
    }
    try {
      assert.throws(() => session.runSync({ x }), refused, what);
      await assert.rejects(session.run({ x }), refused, what);
    } finally {
      await session.release();
    }
  }
});

Deno.test("model op: float Mod with fmod 0 takes the divisor's sign (numpy's mod, ONNX's reference outputs)", async () => {
  // onnxruntime refuses a float Mod with fmod 0; ONNX's node test mod_mixed_sign_float32_fmod_0
  // gives these (numpy.mod in float32).
  const g = new GraphBuilder(13);
  g.input("x", "float32", [6]);
  g.input("y", "float32", [6]);
  g.output(g.op("Mod", ["x", "y"], {}, "z"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = new Tensor("float32", Float32Array.from([-4.3, 7.2, 5, 4.3, -7.2, 8]), [6]);
    const y = new Tensor("float32", Float32Array.from([2.1, -3.4, 8, -2.1, 3.4, 5]), [6]);
    const z = s.runSync({ x, y }).z.data as Float32Array;
    const numpy = [
      1.9999995231628418,
      -3.000000476837158,
      5,
      -1.9999995231628418,
      3.000000476837158,
      3,
    ];
    assert.deepEqual([...z], numpy);
  } finally {
    await s.release();
  }
});

Deno.test("model op: Attention's rank-1 mask broadcasts as ONNX's reference has it (onnxruntime takes ranks 2-4): the same bits as the mask as [1, keys]", async () => {
  const session = async (maskDims: number[]) => {
    const g = new GraphBuilder(23);
    g.input("q", "float32", [2, 2, 3, 4]);
    g.input("k", "float32", [2, 2, 5, 4]);
    g.input("v", "float32", [2, 2, 5, 4]);
    g.input("m", "bool", maskDims);
    g.output(g.op("Attention", ["q", "k", "v", "m"], { is_causal: 1 }, "y"));
    return await InferenceSession.create(g.toBytes());
  };
  const feeds = (maskDims: number[]) => {
    const t = (dims: number[], seed: number) =>
      new Tensor("float32", F(dims, seed).data as Float32Array, dims);
    return {
      q: t([2, 2, 3, 4], 151),
      k: t([2, 2, 5, 4], 152),
      v: t([2, 2, 5, 4], 153),
      m: new Tensor("bool", Uint8Array.from([1, 0, 1, 1, 0]), maskDims),
    };
  };
  const one = await session([5]), two = await session([1, 5]);
  try {
    const a = one.runSync(feeds([5])).y.data as Float32Array;
    const b = two.runSync(feeds([1, 5])).y.data as Float32Array;
    assert.deepEqual(a, b);
    assert.ok(a.some((x) => x !== 0));
  } finally {
    await one.release();
    await two.release();
  }
});

Deno.test("model op: SpaceToDepth's mode (opset 28): CRD and DCR channel orders, each undone by DepthToSpace of the same mode", async () => {
  // onnxruntime 1.30 runs no opset 28: the reference is ONNX's (reshape, transpose).
  const [N, C, H, W, b] = [1, 2, 4, 6, 2];
  const g = new GraphBuilder(28);
  g.input("x", "float32", [N, C, H, W]);
  for (const mode of ["CRD", "DCR"]) {
    const y = g.op("SpaceToDepth", ["x"], { blocksize: b, mode }, `s2d_${mode}`);
    g.output(y);
    g.output(g.op("DepthToSpace", [y], { blocksize: b, mode }, `back_${mode}`));
  }
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = Float32Array.from({ length: N * C * H * W }, (_, i) => i);
    const out = s.runSync({ x: new Tensor("float32", x, [N, C, H, W]) });
    const h2 = H / b, w2 = W / b;
    for (const mode of ["CRD", "DCR"]) {
      const y = out[`s2d_${mode}`].data as Float32Array;
      assert.deepEqual(out[`s2d_${mode}`].dims, [N, C * b * b, h2, w2]);
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < b; i++) {
          for (let j = 0; j < b; j++) {
            const oc = mode === "CRD" ? (c * b + i) * b + j : (i * b + j) * C + c;
            for (let h = 0; h < h2; h++) {
              for (let w = 0; w < w2; w++) {
                const want = x[(c * H + h * b + i) * W + w * b + j];
                assert.equal(y[(oc * h2 + h) * w2 + w], want, `${mode} c${c} i${i} j${j}`);
              }
            }
          }
        }
      }
      assert.deepEqual(out[`back_${mode}`].data, x);
    }
  } finally {
    await s.release();
  }
});

Deno.test("model op: DFT inverse and one-sided on a half spectrum is the inverse real transform (numpy's irfft): even and odd lengths, along an inner axis", async () => {
  // onnxruntime 1.30 refuses a one-sided inverse DFT: the reference is irfft's sum in float64.
  const [H, inner] = [6, 3];
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2, H, inner, 2]);
  g.output(g.op("DFT", ["x"], { inverse: 1, onesided: 1, axis: 1 }, "even"));
  g.output(g.op("DFT", ["x", g.ints("l9", [9], [])], { inverse: 1, onesided: 1, axis: 1 }, "odd"));
  g.output(g.op("DFT", ["x", g.ints("l6", [6], [])], { inverse: 1, onesided: 1, axis: 1 }, "cut"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = F([2, H, inner, 2], 161).data as Float32Array;
    const out = s.runSync({ x: new Tensor("float32", x, [2, H, inner, 2]) });
    for (const [name, L] of [["even", 10], ["odd", 9], ["cut", 6]] as const) {
      assert.deepEqual(out[name].dims, [2, L, inner, 1]);
      const y = out[name].data as Float32Array;
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < inner; i++) {
          // The spectrum of length L: bins past the half mirror the first ones, conjugated;
          // bin 0's and (L even) bin L/2's imaginary parts dropped, bins past H zero.
          const re = (k: number) => (k < H ? x[((b * H + k) * inner + i) * 2] : 0);
          const im = (k: number) => (k < H ? x[((b * H + k) * inner + i) * 2 + 1] : 0);
          for (let t = 0; t < L; t++) {
            let sum = 0;
            for (let k = 0; k < L; k++) {
              const m = k <= L / 2 ? k : L - k, sign = k <= L / 2 ? 1 : -1;
              const imk = m === 0 || 2 * m === L ? 0 : sign * im(m);
              const theta = (2 * Math.PI * k * t) / L;
              sum += re(m) * Math.cos(theta) - imk * Math.sin(theta);
            }
            const want = sum / L, got = y[(b * L + t) * inner + i];
            assert.ok(
              Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)),
              `${name} ${b} ${t} ${i}: ${got} vs ${want}`,
            );
          }
        }
      }
    }
  } finally {
    await s.release();
  }
});

Deno.test("model op: Clip's fed bounds are read on every run", async () => {
  const g = new GraphBuilder(13);
  g.input("x", "float32", [5]);
  g.input("lo", "float32", []);
  g.input("hi", "float32", []);
  g.output(g.op("Clip", ["x", "lo", "hi"], {}, "y"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = new Tensor("float32", Float32Array.from([-3, -1, 0, 1, 3]), [5]);
    const run = (lo: number, hi: number) => [
      ...(s.runSync({
        x,
        lo: new Tensor("float32", Float32Array.from([lo]), []),
        hi: new Tensor("float32", Float32Array.from([hi]), []),
      }).y.data as Float32Array),
    ];
    assert.deepEqual(run(-1, 1), [-1, -1, 0, 1, 1]);
    assert.deepEqual(run(0, 2.5), [0, 0, 0, 1, 2.5]);
    assert.deepEqual(run(-1, 1), [-1, -1, 0, 1, 1]);
  } finally {
    await s.release();
  }
});

Deno.test("model op: BitCast of bool to uint8 and int8 gives its bytes (0 and 1); to bool is refused", async () => {
  const g = new GraphBuilder(26);
  g.input("b", "bool", [5]);
  g.output(g.op("BitCast", ["b"], { to: 2 }, "u8"), "uint8");
  g.output(g.op("BitCast", ["b"], { to: 3 }, "i8"), "int8");
  const s = await InferenceSession.create(g.toBytes());
  try {
    const b = new Tensor("bool", Uint8Array.from([1, 0, 0, 1, 1]), [5]);
    const out = s.runSync({ b });
    assert.deepEqual([...(out.u8.data as Uint8Array)], [1, 0, 0, 1, 1]);
    assert.deepEqual([...(out.i8.data as Int8Array)], [1, 0, 0, 1, 1]);
  } finally {
    await s.release();
  }
  const h = new GraphBuilder(26);
  h.input("u", "uint8", [5]);
  h.output(h.op("BitCast", ["u"], { to: 9 }, "b"), "bool");
  await assert.rejects(
    async () => {
      const t = await InferenceSession.create(h.toBytes());
      try {
        t.runSync({ u: new Tensor("uint8", Uint8Array.from([0, 1, 2, 3, 4]), [5]) });
      } finally {
        await t.release();
      }
    },
    /BitCast node .*bitcast of uint8 to BOOL .* is not supported/,
  );
});

Deno.test("model op: an index out of range throws naming the node", async () => {
  const g = new GraphBuilder(16);
  g.input("x", "float32", [3, 2]);
  g.input("i", "int64", [2, 1]);
  const upd = g.initializer("u", { type: "float32", dims: [2, 2], data: [1, 2, 3, 4] });
  g.output(g.op("GatherND", ["x", "i"], {}, "a"));
  g.output(g.op("ScatterND", ["x", "i", upd], {}, "b"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = new Tensor("float32", new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]);
    const ok = s.runSync({ x, i: new Tensor("int64", new BigInt64Array([2n, -3n]), [2, 1]) });
    assert.deepEqual([...(ok.a.data as Float32Array)], [5, 6, 1, 2]);
    for (const bad of [3n, -4n]) {
      const i = new Tensor("int64", new BigInt64Array([0n, bad]), [2, 1]);
      assert.throws(
        () => s.runSync({ x, i }),
        (e: Error) =>
          e instanceof RangeError &&
          /GatherND node .*index -?\d+ is outside 0\.\.2/.test(e.message),
      );
      await assert.rejects(s.run({ x, i }), RangeError);
    }
  } finally {
    await s.release();
  }
});

Deno.test("model op: FusedMatMul with transBatchA or transBatchB is refused naming the node", async () => {
  for (const attr of ["transBatchA", "transBatchB"]) {
    const g = new GraphBuilder(17);
    g.extraOpsets.push(["com.microsoft", 1]);
    g.input("x", "float32", [2, 3, 3]);
    g.output(g.node("FusedMatMul", ["x", "x"], ["y"], { [attr]: 1 }, "com.microsoft")[0]);
    // Refused when the plan is made: at create, or at the first run for shapes it waits for.
    await assert.rejects(
      async () => {
        const s = await InferenceSession.create(g.toBytes());
        try {
          s.runSync({ x: new Tensor("float32", new Float32Array(18), [2, 3, 3]) });
        } finally {
          await s.release();
        }
      },
      (e: Error) => /FusedMatMul/.test(e.message) && /transBatchA and transBatchB/.test(e.message),
    );
  }
});

Deno.test("model op: a MaxUnpool index outside the output throws naming the node", async () => {
  const g = new GraphBuilder(11);
  g.input("x", "float32", [1, 1, 1, 2]);
  g.input("i", "int64", [1, 1, 1, 2]);
  g.output(g.op("MaxUnpool", ["x", "i"], { kernel_shape: [2, 2], strides: [2, 2] }, "y"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const x = new Tensor("float32", new Float32Array([7, 9]), [1, 1, 1, 2]);
    const ok = s.runSync({ x, i: new Tensor("int64", new BigInt64Array([1n, 6n]), [1, 1, 1, 2]) });
    assert.deepEqual([...(ok.y.data as Float32Array)], [0, 7, 0, 0, 0, 0, 9, 0]);
    for (const bad of [8n, -1n]) {
      const i = new Tensor("int64", new BigInt64Array([0n, bad]), [1, 1, 1, 2]);
      assert.throws(
        () => s.runSync({ x, i }),
        (e: Error) =>
          e instanceof RangeError &&
          /MaxUnpool node .*index -?\d+ out of range \[0, 7\]/.test(e.message),
      );
      await assert.rejects(s.run({ x, i }), RangeError);
    }
  } finally {
    await s.release();
  }
});

for (
  const [op, gates, attrs] of [
    ["LSTM", 4, {}],
    ["GRU", 3, { linear_before_reset: 1 }],
    ["RNN", 1, { activations: ["Sigmoid", "Tanh"] }],
  ] as [string, number, Record<string, number | string[]>][]
) {
  Deno.test(`model op: ${op} layout 1 (batch first) equals layout 0 on transposed operands`, async () => {
    // onnxruntime 1.30 refuses layout 1, so the oracle is our layout 0, which it checks.
    const [S, N, I, H] = [4, 3, 2, 5];
    const build = (layout: number) => {
      const g = new GraphBuilder(14);
      g.input("x", "float32", layout ? [N, S, I] : [S, N, I]);
      g.input("h0", "float32", layout ? [N, 2, H] : [2, N, H]);
      const W = g.initializer("W", {
        type: "float32",
        dims: [2, gates * H, I],
        data: seededFloats(2 * gates * H * I, 41, 1),
      });
      const R = g.initializer("R", {
        type: "float32",
        dims: [2, gates * H, H],
        data: seededFloats(2 * gates * H * H, 42, 1),
      });
      const outs = g.node(op, ["x", W, R, "", "", "h0"], op === "LSTM" ? 3 : 2, {
        hidden_size: H,
        direction: "bidirectional",
        layout,
        ...attrs,
      });
      outs.forEach((o, i) => g.output(g.op("Identity", [o], {}, ["y", "yh", "yc"][i])));
      return g.toBytes();
    };
    /** Swaps the first two axes of an [a, b, c] array. */
    const swap01 = (v: Float32Array, a: number, b: number, c: number) => {
      const o = new Float32Array(v.length);
      for (let i = 0; i < a; i++) {
        for (let j = 0; j < b; j++) {
          for (let k = 0; k < c; k++) o[(j * a + i) * c + k] = v[(i * b + j) * c + k];
        }
      }
      return o;
    };
    const x0 = seededFloats(S * N * I, 44, 2), h00 = seededFloats(2 * N * H, 43, 1);
    const s0 = await InferenceSession.create(build(0));
    const s1 = await InferenceSession.create(build(1));
    try {
      const ref = s0.runSync({
        x: new Tensor("float32", x0, [S, N, I]),
        h0: new Tensor("float32", h00, [2, N, H]),
      });
      const got = s1.runSync({
        x: new Tensor("float32", swap01(x0, S, N, I), [N, S, I]),
        h0: new Tensor("float32", swap01(h00, 2, N, H), [N, 2, H]),
      });
      // y: layout 0 [S, 2, N, H], layout 1 [N, S, 2, H].
      assert.deepEqual(got.y.dims, [N, S, 2, H]);
      const ry = ref.y.data as Float32Array, gy = got.y.data as Float32Array;
      for (let s = 0; s < S; s++) {
        for (let d = 0; d < 2; d++) {
          for (let n = 0; n < N; n++) {
            for (let k = 0; k < H; k++) {
              assert.equal(gy[((n * S + s) * 2 + d) * H + k], ry[((s * 2 + d) * N + n) * H + k]);
            }
          }
        }
      }
      // y_h, y_c: layout 0 [2, N, H], layout 1 [N, 2, H].
      for (const name of op === "LSTM" ? ["yh", "yc"] : ["yh"]) {
        assert.deepEqual(got[name].dims, [N, 2, H]);
        const want = swap01(ref[name].data as Float32Array, 2, N, H);
        assert.deepEqual([...(got[name].data as Float32Array)], [...want]);
      }
    } finally {
      await s0.release();
      await s1.release();
    }
  });
}

Deno.test("model op: Swish (opset 24; onnxruntime 1.30 has no kernel): x·sigmoid(alpha·x)", async () => {
  for (const alpha of [1, 0.5]) {
    const g = new GraphBuilder(24);
    g.input("x", "float32", [3, 7]);
    g.output(g.op("Swish", ["x"], alpha === 1 ? {} : { alpha: f(alpha) }, "y"));
    const s = await InferenceSession.create(g.toBytes());
    try {
      const x = seededFloats(21, 91, 6);
      const y = s.runSync({ x: new Tensor("float32", x, [3, 7]) }).y.data as Float32Array;
      for (let i = 0; i < 21; i++) {
        const want = x[i] / (1 + Math.exp(-alpha * x[i]));
        assert.ok(
          Math.abs(y[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)),
          `alpha ${alpha}: y[${i}] ${y[i]} vs ${want}`,
        );
      }
    } finally {
      await s.release();
    }
  }
});

/**
 * An op of opsets 27-28 (onnxruntime 1.30 runs neither) against its ONNX function body
 * written out at opset 17: ours on both, every output within 1e-6 of the body's (the same
 * float ops; a fusion may round one of them once instead of twice), and the body also
 * through onnxruntime when it is installed.
 */
async function againstBody(
  name: string,
  op: (g: GraphBuilder) => void,
  body: (g: GraphBuilder) => void,
  opset: number,
  feeds: Record<string, { dims: number[]; data: Float32Array }>,
  outputs: string[],
  relative = 1e-6,
  bodyOpset = 17,
): Promise<void> {
  const run = async (bytes: Uint8Array) => {
    const s = await InferenceSession.create(bytes);
    try {
      const t = Object.fromEntries(
        Object.entries(feeds).map(([k, v]) => [k, new Tensor("float32", v.data, v.dims)]),
      );
      const out = s.runSync(t);
      return outputs.map((o) => out[o].data as Float32Array);
    } finally {
      await s.release();
    }
  };
  const build = (fn: (g: GraphBuilder) => void, v: number) => {
    const g = new GraphBuilder(v);
    for (const [k, f] of Object.entries(feeds)) g.input(k, "float32", f.dims);
    fn(g);
    return g.toBytes();
  };
  const bodyBytes = build(body, bodyOpset);
  const ours = await run(build(op, opset)), reference = await run(bodyBytes);
  const ort = await loadOrt();
  const theirs: Float32Array[][] = [reference];
  if (ort) {
    const s = await ort.InferenceSession.create(bodyBytes);
    const t = Object.fromEntries(
      Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor("float32", v.data, v.dims)]),
    );
    const out = await s.run(t);
    theirs.push(outputs.map((o) => out[o].data as Float32Array));
    await s.release();
  }
  for (const want of theirs) {
    outputs.forEach((o, i) => {
      assert.equal(ours[i].length, want[i].length, `${name}: ${o} size`);
      for (let j = 0; j < want[i].length; j++) {
        const tol = relative * Math.max(1, Math.abs(want[i][j]));
        assert.ok(
          Math.abs(ours[i][j] - want[i][j]) <= tol,
          `${name}: ${o}[${j}] ${ours[i][j]} vs ${want[i][j]}`,
        );
      }
    });
  }
}

Deno.test("model op: SwiGLU (opset 28) against its function body, alpha 1 and 1.702", async () => {
  for (const alpha of [1, 1.702]) {
    await againstBody(
      `SwiGLU alpha ${alpha}`,
      (g) => g.output(g.op("SwiGLU", ["a", "b"], alpha === 1 ? {} : { alpha: f(alpha) }, "y")),
      (g) => {
        const k = g.initializer("alpha", { type: "float32", dims: [], data: [alpha] });
        const gate = g.op("Mul", ["a", g.op("Sigmoid", [g.op("Mul", [k, "a"])])]);
        g.output(g.op("Mul", [gate, "b"], {}, "y"));
      },
      28,
      {
        a: { dims: [3, 2, 17], data: seededFloats(102, 201, 6) },
        b: { dims: [3, 2, 17], data: seededFloats(102, 202, 2) },
      },
      ["y"],
    );
  }
});

Deno.test("model op: CausalConvWithState (opset 27) against its function body: past state or none, bias, silu, k = 1", async () => {
  const [B, C, L] = [2, 5, 7];
  for (
    const [k, withPast, withBias, act] of [[4, true, true, "silu"], [3, false, false, "none"], [
      4,
      true,
      false,
      "swish",
    ], [1, false, true, "none"]] as const
  ) {
    const name = `k ${k}, past ${withPast}, bias ${withBias}, ${act}`;
    const feeds: Record<string, { dims: number[]; data: Float32Array }> = {
      x: { dims: [B, C, L], data: seededFloats(B * C * L, 211 + k, 2) },
    };
    if (withPast) feeds.past = { dims: [B, C, k - 1], data: seededFloats(B * C * (k - 1), 213, 2) };
    const weights = (g: GraphBuilder) => ({
      w: g.weight("w", [C, 1, k], seededFloats(C * k, 215, 0.5)),
      b: withBias ? g.weight("bias", [C], seededFloats(C, 216, 0.5)) : "",
    });
    await againstBody(
      `CausalConvWithState ${name}`,
      (g) => {
        const { w, b } = weights(g);
        const ins = ["x", w, b, withPast ? "past" : ""];
        while (ins[ins.length - 1] === "") ins.pop();
        const [y, st] = g.node("CausalConvWithState", ins, 2, { activation: act });
        g.output(g.op("Identity", [y], {}, "y"));
        g.output(g.op("Identity", [st], {}, "state"));
      },
      (g) => {
        const { w, b } = weights(g);
        const left = withPast ? "past" : g.initializer("zeros", {
          type: "float32",
          dims: [B, C, k - 1],
          data: new Array(B * C * (k - 1)).fill(0),
        });
        const padded = g.op("Concat", [left, "x"], { axis: 2 });
        const conv = g.op("Conv", b ? [padded, w, b] : [padded, w], { group: C });
        if (act === "none") g.output(g.op("Identity", [conv], {}, "y"));
        else g.output(g.op("Mul", [conv, g.op("Sigmoid", [conv])], {}, "y"));
        const i64 = (nm: string, v: number) =>
          g.initializer(nm, { type: "int64", dims: [1], data: [BigInt(v)] });
        g.output(
          g.op("Slice", [padded, i64("st", L), i64("en", L + k - 1), i64("ax", 2)], {}, "state"),
        );
      },
      27,
      feeds,
      ["y", "state"],
    );
  }
});

Deno.test("model op: LinearAttention (opset 27) against its function body unrolled: every update rule, GQA, past state, decay per key or per head", async () => {
  const [B, T, dk, dv] = [2, 3, 4, 3];
  const cases = [
    { rule: "linear", Hq: 2, Hkv: 2, past: false, decayPer: 0, betaHeads: 0 },
    { rule: "gated", Hq: 4, Hkv: 2, past: true, decayPer: dk, betaHeads: 0 },
    { rule: "delta", Hq: 2, Hkv: 1, past: true, decayPer: 0, betaHeads: 1 },
    { rule: "gated_delta", Hq: 4, Hkv: 2, past: false, decayPer: 1, betaHeads: 2, scale: 0.7 },
    { rule: "gated_delta", Hq: 2, Hkv: 2, past: true, decayPer: dk, betaHeads: 2 },
  ];
  for (const c of cases) {
    const { Hq, Hkv, rule } = c, group = Hq / Hkv;
    const feeds: Record<string, { dims: number[]; data: Float32Array }> = {
      q: { dims: [B, T, Hq * dk], data: seededFloats(B * T * Hq * dk, 221, 1) },
      k: { dims: [B, T, Hkv * dk], data: seededFloats(B * T * Hkv * dk, 222, 0.5) },
      v: { dims: [B, T, Hkv * dv], data: seededFloats(B * T * Hkv * dv, 223, 1) },
    };
    if (c.past) {
      feeds.past = { dims: [B, Hkv, dk, dv], data: seededFloats(B * Hkv * dk * dv, 224, 0.5) };
    }
    if (c.decayPer) {
      feeds.decay = {
        dims: [B, T, Hkv * c.decayPer],
        data: seededFloats(B * T * Hkv * c.decayPer, 225, 0.3),
      };
    }
    if (c.betaHeads) {
      feeds.beta = {
        dims: [B, T, c.betaHeads],
        data: seededFloats(B * T * c.betaHeads, 226, 0.5).map((x) => 0.5 + x),
      };
    }
    const scale = c.scale ?? 1 / Math.sqrt(dk);
    await againstBody(
      `LinearAttention ${JSON.stringify(c)}`,
      (g) => {
        const ins = [
          "q",
          "k",
          "v",
          c.past ? "past" : "",
          c.decayPer ? "decay" : "",
          c.betaHeads ? "beta" : "",
        ];
        while (ins[ins.length - 1] === "") ins.pop();
        const [y, st] = g.node("LinearAttention", ins, 2, {
          update_rule: rule,
          q_num_heads: Hq,
          kv_num_heads: Hkv,
          ...(c.scale ? { scale: f(c.scale) } : {}),
        });
        g.output(g.op("Identity", [y], {}, "y"));
        g.output(g.op("Identity", [st], {}, "state"));
      },
      (g) => {
        const i64 = (name: string, v: number[]) =>
          g.initializer(name, { type: "int64", dims: [v.length], data: v.map(BigInt) });
        const at = (x: string, t: number, heads: number) =>
          g.op("Reshape", [
            g.op("Gather", [
              x,
              g.initializer(`${x}${t}`, { type: "int64", dims: [], data: [BigInt(t)] }),
            ], { axis: 1 }),
            i64(`${x}s${t}`, [B, heads, -1]),
          ]);
        let S = c.past ? "past" : g.initializer("zeros", {
          type: "float32",
          dims: [B, Hkv, dk, dv],
          data: new Array(B * Hkv * dk * dv).fill(0),
        });
        const last = i64("last", [-1]), second = i64("second", [-2]);
        const outs: string[] = [];
        for (let t = 0; t < T; t++) {
          const q = at("q", t, Hq), k = at("k", t, Hkv), v = at("v", t, Hkv);
          if (c.decayPer) {
            const e = g.op("Unsqueeze", [g.op("Exp", [at("decay", t, Hkv)]), last]);
            S = g.op("Mul", [S, e]);
          }
          const kcol = g.op("Unsqueeze", [k, last]);
          let w = v;
          if (c.betaHeads) {
            const st = g.op("Transpose", [S], { perm: [0, 1, 3, 2] });
            const r = g.op("Squeeze", [g.op("MatMul", [st, kcol]), last]);
            w = g.op("Mul", [at("beta", t, c.betaHeads), g.op("Sub", [v, r])]);
          }
          S = g.op("Add", [S, g.op("MatMul", [kcol, g.op("Unsqueeze", [w, second])])]);
          let read = S;
          if (group > 1) {
            const ex = g.op("Expand", [
              g.op("Unsqueeze", [S, i64(`two${t}`, [2])]),
              i64(`ex${t}`, [B, Hkv, group, dk, dv]),
            ]);
            read = g.op("Reshape", [ex, i64(`rd${t}`, [B, Hq, dk, dv])]);
          }
          const o = g.op("Squeeze", [
            g.op("MatMul", [g.op("Unsqueeze", [q, second]), read]),
            second,
          ]);
          const k2 = g.initializer(`scale${t}`, { type: "float32", dims: [], data: [scale] });
          outs.push(g.op("Reshape", [g.op("Mul", [k2, o]), i64(`os${t}`, [B, 1, Hq * dv])]));
        }
        g.output(g.op("Concat", outs, { axis: 1 }, "y"));
        g.output(g.op("Identity", [S], {}, "state"));
      },
      27,
      feeds,
      ["y", "state"],
      2e-6,
    );
  }
});

Deno.test("model op: Attention's sliding window (opset 25) against the same window as a boolean mask (opset 23)", async () => {
  const [B, H, Sq, D] = [2, 2, 5, 4];
  const cases = [
    { left: 2, right: 0, causal: 0, past: 0 },
    { left: 1, right: 1, causal: 1, past: 0 },
    { left: 2, right: -1, causal: 0, past: 3 },
    { left: -1, right: 1, causal: 0, past: 0 },
  ];
  for (const c of cases) {
    const T = c.past + Sq;
    const feeds: Record<string, { dims: number[]; data: Float32Array }> = {
      q: { dims: [B, H, Sq, D], data: seededFloats(B * H * Sq * D, 231, 1) },
      k: { dims: [B, H, Sq, D], data: seededFloats(B * H * Sq * D, 232, 1) },
      v: { dims: [B, H, Sq, D], data: seededFloats(B * H * Sq * D, 233, 1) },
    };
    if (c.past) {
      feeds.pk = { dims: [B, H, c.past, D], data: seededFloats(B * H * c.past * D, 234, 1) };
      feeds.pv = { dims: [B, H, c.past, D], data: seededFloats(B * H * c.past * D, 235, 1) };
    }
    const kv = c.past ? ["", "pk", "pv"] : [];
    await againstBody(
      `Attention window ${JSON.stringify(c)}`,
      (g) => {
        const [y] = g.node("Attention", ["q", "k", "v", ...kv], c.past ? 3 : 1, {
          left_window_size: c.left,
          right_window_size: c.right,
          is_causal: c.causal,
        });
        g.output(g.op("Identity", [y], {}, "y"));
      },
      (g) => {
        // Query i at absolute position past + i sees keys past + i − left … past + i + right.
        const allowed = Array.from({ length: Sq * T }, (_, at) => {
          const i = Math.floor(at / T), j = at % T, p = c.past + i;
          return (c.left < 0 || j >= p - c.left) && (c.right < 0 || j <= p + c.right) ? 1 : 0;
        });
        const m = g.initializer("window", { type: "bool", dims: [Sq, T], data: allowed });
        const [y] = g.node("Attention", ["q", "k", "v", m, ...kv.slice(1)], c.past ? 3 : 1, {
          is_causal: c.causal,
        });
        g.output(g.op("Identity", [y], {}, "y"));
      },
      25,
      feeds,
      ["y"],
      1e-6,
      23,
    );
  }
});

Deno.test("model op: MaxRoiPool's maximum of negative values is the maximum (ONNX Runtime's is FLT_MIN)", async () => {
  const g = new GraphBuilder(12);
  g.input("x", "float32", [1, 1, 2, 2]);
  g.input("rois", "float32", [2, 5]);
  g.output(g.op("MaxRoiPool", ["x", "rois"], { pooled_shape: [1, 1] }, "y"));
  const s = await InferenceSession.create(g.toBytes());
  try {
    const y = s.runSync({
      x: new Tensor("float32", new Float32Array([-4, -3, -2, -5]), [1, 1, 2, 2]),
      rois: new Tensor("float32", new Float32Array([0, 0, 0, 1, 1, 0, 5, 5, 7, 7]), [2, 5]),
    }).y;
    // The whole image, then a region wholly outside it (empty: 0).
    assert.deepEqual([...(y.data as Float32Array)], [-2, 0]);
    const bad = new Tensor("float32", new Float32Array([1, 0, 0, 1, 1, 0, 0, 0, 1, 1]), [2, 5]);
    assert.throws(
      () => s.runSync({ x: new Tensor("float32", new Float32Array(4), [1, 1, 2, 2]), rois: bad }),
      (e: Error) => e instanceof RangeError && /MaxRoiPool node .*batch index is 1/.test(e.message),
    );
  } finally {
    await s.release();
  }
});

Deno.test("model op: recurrent sequence_lens changing between runs equal fresh sessions; out of range throws", async () => {
  const g = new GraphBuilder(14);
  g.input("x", "float32", [4, 2, 3]);
  g.input("lens", "int32", [2]);
  const W = g.initializer("W", {
    type: "float32",
    dims: [1, 8, 3],
    data: seededFloats(24, 121, 0.5),
  });
  const R = g.initializer("R", {
    type: "float32",
    dims: [1, 8, 2],
    data: seededFloats(16, 122, 0.5),
  });
  const [y, yh] = g.node("LSTM", ["x", W, R, "", "lens"], 2, { hidden_size: 2 });
  g.output(g.op("Identity", [y], {}, "y"));
  g.output(g.op("Identity", [yh], {}, "yh"));
  const bytes = g.toBytes();
  const x = new Tensor("float32", seededFloats(24, 123, 1), [4, 2, 3]);
  const lens = (a: number, b: number) => new Tensor("int32", Int32Array.from([a, b]), [2]);
  const s = await InferenceSession.create(bytes);
  try {
    for (const [a, b] of [[4, 4], [1, 3], [4, 2], [2, 4]]) {
      const got = s.runSync({ x, lens: lens(a, b) });
      const fresh = await InferenceSession.create(bytes);
      const want = fresh.runSync({ x, lens: lens(a, b) });
      await fresh.release();
      for (const k of ["y", "yh"]) {
        assert.deepEqual(
          [...(got[k].data as Float32Array)],
          [...(want[k].data as Float32Array)],
          `${k} ${a},${b}`,
        );
      }
      // Past an item's length its outputs are zero.
      const yd = got.y.data as Float32Array;
      for (let t = b; t < 4; t++) {
        assert.deepEqual([...yd.subarray((t * 2 + 1) * 2, (t * 2 + 2) * 2)], [0, 0]);
      }
    }
    assert.throws(
      () => s.runSync({ x, lens: lens(5, 1) }),
      (e: Error) =>
        e instanceof RangeError &&
        /LSTM node .*sequence_lens\[0\] is 5, not in 0\.\.4/.test(e.message),
    );
  } finally {
    await s.release();
  }
});

Deno.test("model op: a Cast to its own type copies the values (uint8 and bool by the typed array, float32 and int64 natively)", async () => {
  const n = 70; // past a 64-byte vector of bytes
  const g = new GraphBuilder(17);
  const cases: [string, "uint8" | "bool" | "float32" | "int64", number, Tensor][] = [
    [
      "u",
      "uint8",
      2,
      new Tensor("uint8", Uint8Array.from({ length: n }, (_, i) => (i * 37) & 255), [n]),
    ],
    [
      "b",
      "bool",
      9,
      new Tensor("bool", Uint8Array.from({ length: n }, (_, i) => i % 3 === 0 ? 1 : 0), [n]),
    ],
    ["x", "float32", 1, new Tensor("float32", seededFloats(n, 17, 3), [n])],
    [
      "i",
      "int64",
      7,
      new Tensor("int64", BigInt64Array.from({ length: n }, (_, i) => BigInt(i * 1e9) - 7n), [n]),
    ],
  ];
  for (const [name, type, to] of cases) {
    g.input(name, type, [n]);
    g.output(g.op("Cast", [name], { to }, `${name}_out`));
  }
  const s = await InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1 });
  const feeds = Object.fromEntries(cases.map(([name, , , t]) => [name, t]));
  const first = s.runSync(feeds);
  // The float32 and int64 copies are native steps: one stretch off the loop.
  assert.equal(s.offLoopStretches, 1);
  for (const out of [first, await s.run(feeds), await s.run(feeds)]) {
    for (const [name, type, , t] of cases) {
      assert.equal(out[`${name}_out`].type, type);
      assert.deepEqual(out[`${name}_out`].data, t.data, name);
    }
  }
  await s.release();
});

Deno.test("model: a MatMul's scale by a constant scalar becomes its alpha (Div and Mul, either side)", async () => {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [2, 5, 16]);
  g.input("y", "float32", [2, 16, 6]);
  const w = g.weight("w", [16, 8], seededFloats(128, 3, 1));
  const four = g.initializer("four", { type: "float32", dims: [], data: [4] });
  const eighth = g.initializer("eighth", { type: "float32", dims: [1], data: [0.125] });
  const three = g.initializer("three", { type: "float32", dims: [], data: [3] });
  g.output(g.op("Div", [g.op("MatMul", ["x", w]), four], {}, "div_out"));
  g.output(g.op("Mul", [eighth, g.op("MatMul", ["x", "y"])], {}, "mul_out"));
  // Not a power of two: alpha = fround(1/3) rounds where the division rounds once.
  g.output(g.op("Div", [g.op("MatMul", ["x", "y"]), three], {}, "third_out"));
  const bytes = g.toBytes();
  const on = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const off = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "disabled",
  });
  assert.equal(on.optimization.fusions["MatMul + scale"], 3, JSON.stringify(on.optimization));
  assert.equal(on.nodeOps.Div ?? 0, 0, JSON.stringify(on.nodeOps));
  assert.equal(on.nodeOps.Mul ?? 0, 0, JSON.stringify(on.nodeOps));
  const feeds = {
    x: new Tensor("float32", seededFloats(160, 5, 2), [2, 5, 16]),
    y: new Tensor("float32", seededFloats(192, 6, 2), [2, 16, 6]),
  };
  const a = on.runSync(feeds), b = off.runSync(feeds);
  // Scales by powers of two are exact either way: the same bits.
  assert.deepEqual(a.div_out.data, b.div_out.data);
  assert.deepEqual(a.mul_out.data, b.mul_out.data);
  const x = a.third_out.data as Float32Array, y = b.third_out.data as Float32Array;
  for (let i = 0; i < y.length; i++) {
    assert.ok(Math.abs(x[i] - y[i]) <= 2 ** -22 * Math.abs(y[i]), `element ${i}: ${x[i]} ${y[i]}`);
  }
  await on.release();
  await off.release();
});
