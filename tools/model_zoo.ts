/**
 * Example models written with our ONNX writer the way exporters write them
 * (random weights from a fixed seed): an MLP, a BERT-style encoder layer
 * (LayerNormalization op or decomposed, GELU decomposed, an int64 attention
 * mask turned into an additive bias), a ResNet-style CNN (Conv + BN + Relu,
 * residual adds), a MobileNet-style block and a whole MobileNetV2. Used by the tests, `deno task
 * model` with no file, and `deno task compare-models`.
 */
import { f, GraphBuilder, seededFloats } from "./onnx_writer.ts";

/** A model and feeds for it. */
export interface ZooModel {
  name: string;
  bytes: Uint8Array;
  feeds: Record<
    string,
    {
      type: "float32" | "int64" | "int32";
      dims: number[];
      data: Float32Array | BigInt64Array | Int32Array;
    }
  >;
  /** Multiply-adds ×2 of its Conv/MatMul/Gemm nodes at these feeds (for % of peak). */
  flops: number;
}

let seed = 1;
function w(g: GraphBuilder, name: string, dims: number[], scale: number): string {
  const n = dims.reduce((a, b) => a * b, 1);
  return g.weight(name, dims, seededFloats(n, seed++ * 7919, scale));
}

/** MLP sizes[0] → … → sizes[last] with Relu between (Gemm, transB, as torch exports Linear). */
export function mlp(sizes: number[], batch: number, opset = 17): ZooModel {
  seed = 1;
  const g = new GraphBuilder(opset);
  let x = g.input("input", "float32", ["batch", sizes[0]]);
  let flops = 0;
  for (let i = 1; i < sizes.length; i++) {
    const wn = w(g, `fc${i}.weight`, [sizes[i], sizes[i - 1]], 1 / Math.sqrt(sizes[i - 1]));
    const bn = w(g, `fc${i}.bias`, [sizes[i]], 0.1);
    x = g.op("Gemm", [x, wn, bn], { alpha: f(1), beta: f(1), transB: 1 });
    if (i < sizes.length - 1) x = g.op("Relu", [x]);
    flops += 2 * batch * sizes[i] * sizes[i - 1];
  }
  g.output(g.op("Identity", [x], {}, "logits"), "float32", ["batch", sizes[sizes.length - 1]]);
  return {
    name: `MLP ${sizes.join("-")}, batch ${batch}`,
    bytes: g.toBytes(),
    feeds: {
      input: { type: "float32", dims: [batch, sizes[0]], data: seededFloats(batch * sizes[0], 99) },
    },
    flops,
  };
}

/**
 * An image's preprocessing resize (opset 19): 1×3×size² to 224² by
 * `mode`, antialiased (as torchvision's `antialias=True` exports it).
 */
export function preprocessResize(size: number, mode: "linear" | "cubic"): ZooModel {
  const g = new GraphBuilder(19);
  g.input("image", "float32", [1, 3, size, size]);
  const sizes = g.ints("sizes", [1, 3, 224, 224]);
  g.output(g.op("Resize", ["image", "", "", sizes], { mode, antialias: 1 }, "resized"));
  return {
    name: `Resize ${mode} antialiased, 1×3×${size}² → 224²`,
    bytes: g.toBytes(),
    feeds: {
      image: { type: "float32", dims: [1, 3, size, size], data: seededFloats(3 * size * size, 5) },
    },
    flops: 0,
  };
}

/** Options of {@link encoderLayer}. */
export interface EncoderOptions {
  seq: number;
  hidden: number;
  heads: number;
  ff: number;
  batch?: number;
  /** Write LayerNorm as ReduceMean/Sub/Pow/... (as older exporters do). */
  decomposedLayerNorm?: boolean;
  opset?: number;
  /**
   * Each Linear dynamically quantized as ONNX Runtime's quantize_dynamic writes it:
   * DynamicQuantizeLinear → MatMulInteger (int8 weights, symmetric per tensor) → Cast → Mul by
   * the two scales → Add the bias.
   */
  quantized?: boolean;
  /** Quantized at 7 bits (quantize_dynamic's reduce_range: weights within ±63). */
  reduceRange?: boolean;
  /** float16 weights and compute, float32 at the edges (keep_io_types). */
  half?: boolean;
}

/** One BERT encoder layer as HF/PyTorch export it: the attention mask is an int64 input. */
export function encoderLayer(o: EncoderOptions): ZooModel {
  seed = 11;
  const { seq, hidden, heads, ff } = o, batch = o.batch ?? 1, dh = hidden / heads;
  const opset = o.opset ?? (o.decomposedLayerNorm ? 14 : 17);
  const g = new GraphBuilder(opset);
  // A half model keeps float32 at its edges (keep_io_types): casts after the input and before
  // the output, float16 weights and constants.
  if (o.half) g.floatType = "float16";
  const input = g.input("hidden_states", "float32", ["batch", "sequence", hidden]);
  const x = o.half ? g.op("Cast", [input], { to: 10 }) : input;
  const F = g.floatType, FT = o.half ? 10 : 1;
  g.input("attention_mask", "int64", ["batch", "sequence"]);
  const s = 1 / Math.sqrt(hidden);
  const linear = (input: string, name: string, k: number, n: number) => {
    if (!o.quantized) {
      return g.op("Add", [
        g.op("MatMul", [input, w(g, `${name}.weight`, [k, n], s)]),
        w(g, `${name}.bias`, [n], 0.02),
      ]);
    }
    const wf = seededFloats(k * n, seed++ * 7919, s);
    let big = 0;
    for (const v of wf) big = Math.max(big, Math.abs(v));
    const most = o.reduceRange ? 63 : 127, ws = big / most;
    const wq = Array.from(wf, (v) => Math.max(-most, Math.min(most, Math.round(v / ws))));
    const W = g.initializer(`${name}.weight_quantized`, { type: "int8", dims: [k, n], data: wq });
    const zero = g.initializer(`${name}.weight_zero_point`, { type: "int8", dims: [], data: [0] });
    const scale = g.initializer(`${name}.weight_scale`, { type: F, dims: [], data: [ws] });
    const [q, qs, qz] = g.node("DynamicQuantizeLinear", [input], 3, {});
    const y = g.op("Cast", [g.op("MatMulInteger", [q, W, qz, zero])], { to: FT });
    return g.op("Add", [
      g.op("Mul", [y, g.op("Mul", [qs, scale])]),
      w(g, `${name}.bias`, [n], 0.02),
    ]);
  };
  const ln = (input: string, name: string) => {
    const gamma = g.weight(
      `${name}.gamma`,
      [hidden],
      seededFloats(hidden, seed++, 0.1).map((v) => 1 + v),
    );
    const beta = w(g, `${name}.beta`, [hidden], 0.1);
    if (!o.decomposedLayerNorm) {
      return g.op("LayerNormalization", [input, gamma, beta], { axis: -1, epsilon: f(1e-12) });
    }
    const axes = { axes: [-1] };
    const mean = g.op("ReduceMean", [input], axes);
    const d = g.op("Sub", [input, mean]);
    const two = g.initializer(g.fresh("two"), { type: F, dims: [], data: [2] });
    const v = g.op("ReduceMean", [g.op("Pow", [d, two])], axes);
    const eps = g.initializer(g.fresh("eps"), { type: F, dims: [], data: [1e-12] });
    const norm = g.op("Div", [d, g.op("Sqrt", [g.op("Add", [v, eps])])]);
    return g.op("Add", [g.op("Mul", [norm, gamma]), beta]);
  };
  const shape4 = g.ints("shape_heads", [0, 0, heads, dh]);
  const split = (t: string, perm: number[]) =>
    g.op("Transpose", [g.op("Reshape", [t, shape4])], { perm });
  const q = split(linear(x, "query", hidden, hidden), [0, 2, 1, 3]);
  const k = split(linear(x, "key", hidden, hidden), [0, 2, 3, 1]);
  const v = split(linear(x, "value", hidden, hidden), [0, 2, 1, 3]);
  // mask: (1 − mask) · −10000, broadcast over heads and queries.
  const m = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", g.ints("axes12", [1, 2])])], {
    to: FT,
  });
  const one = g.initializer("one", { type: F, dims: [], data: [1] });
  const big = g.initializer("neg_big", { type: F, dims: [], data: [-10000] });
  const bias = g.op("Mul", [g.op("Sub", [one, m]), big]);
  const scale = g.initializer("scale", { type: F, dims: [], data: [Math.sqrt(dh)] });
  const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), bias]);
  const probs = g.op("Softmax", [scores], { axis: -1 });
  const ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] });
  const merged = g.op("Reshape", [ctx, g.ints("shape_merge", [0, 0, hidden])]);
  const attn = ln(
    g.op("Add", [linear(merged, "attention.output", hidden, hidden), x]),
    "attention.ln",
  );
  // GELU as torch exports it: x·½·(1 + erf(x/√2)).
  const h = linear(attn, "intermediate", hidden, ff);
  const sqrt2 = g.initializer("sqrt2", { type: F, dims: [], data: [Math.SQRT2] });
  const half = g.initializer("half", { type: F, dims: [], data: [0.5] });
  const erf1 = g.op("Add", [g.op("Erf", [g.op("Div", [h, sqrt2])]), one]);
  const gelu = g.op("Mul", [g.op("Mul", [h, erf1]), half]);
  const out = ln(g.op("Add", [linear(gelu, "output", ff, hidden), attn]), "output.ln");
  g.output(
    g.op(o.half ? "Cast" : "Identity", [out], o.half ? { to: 1 } : {}, "last_hidden_state"),
    "float32",
    [
      "batch",
      "sequence",
      hidden,
    ],
  );
  const mask = new BigInt64Array(batch * seq).fill(1n);
  for (let b = 0; b < batch; b++) {
    for (let i = seq - Math.floor(seq / 8); i < seq; i++) mask[b * seq + i] = 0n;
  }
  const tokens = batch * seq;
  return {
    name: `encoder layer ${hidden}/${heads}/${ff}, seq ${seq}${
      o.quantized ? `, int8 (dynamic${o.reduceRange ? ", 7-bit weights" : ""})` : ""
    }${o.half ? ", float16" : ""}${batch > 1 ? `, batch ${batch}` : ""}${
      o.decomposedLayerNorm ? ", LayerNorm decomposed" : ""
    }${o.opset ? `, opset ${o.opset}` : ""}`,
    bytes: g.toBytes(),
    feeds: {
      hidden_states: {
        type: "float32",
        dims: [batch, seq, hidden],
        data: seededFloats(tokens * hidden, 5),
      },
      attention_mask: { type: "int64", dims: [batch, seq], data: mask },
    },
    flops: 2 * tokens * (4 * hidden * hidden + 2 * hidden * ff) +
      2 * 2 * batch * seq * seq * hidden,
  };
}

/** Options of {@link resnetCnn}. */
export interface CnnOptions {
  size: number;
  /** Channels per stage (each stage after the first halves the size). */
  widths: number[];
  /** Residual blocks per stage: one count for every stage, or a count per stage. */
  blocks: number | number[];
  /**
   * Bottleneck blocks as ResNet-50 has them (torchvision's v1.5): 1×1 conv
   * to the stage's width, 3×3 (the stage's stride), 1×1 to 4× the width;
   * a 1×1 projection of the shortcut where the shape changes.
   */
  bottleneck?: boolean;
  classes?: number;
  batch?: number;
  /** The op adding a block's shortcut: Add, or Sum as Caffe2's exports write it. Default Add. */
  shortcut?: "Add" | "Sum";
}

/** Residual blocks of a stage. */
function stageBlocks(o: CnnOptions, stage: number): number {
  return typeof o.blocks === "number" ? o.blocks : o.blocks[stage];
}

/** The blocks per stage as a model's name gives them: 2, or 3/4/6/3. */
function blocksName(o: CnnOptions): string {
  return typeof o.blocks === "number" ? `${o.blocks}` : o.blocks.join("/");
}

/**
 * A ResNet-style CNN: stem 7×7/2 conv + BN + Relu + 3×3/2 max pool, then
 * stages of basic blocks (3×3 conv + BN + Relu, 3×3 conv + BN, add, Relu;
 * a 1×1/2 projection where the shape changes), global average pool, Gemm.
 */
export function resnetCnn(o: CnnOptions): ZooModel {
  seed = 21;
  const g = new GraphBuilder(13);
  const batch = o.batch ?? 1, classes = o.classes ?? 10;
  g.input("image", "float32", ["N", 3, o.size, o.size]);
  let flops = 0, size = o.size, c = 3;
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, relu: boolean) => {
    const wn = w(g, g.fresh("conv.w"), [cout, cin, k, k], Math.sqrt(2 / (cin * k * k)));
    const pad = Math.floor(k / 2);
    let y = g.op("Conv", [x, wn], {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
    const out = Math.floor((size + 2 * pad - k) / stride) + 1;
    flops += 2 * batch * cout * out * out * cin * k * k;
    const bn = (name: string, vals: Float32Array) => g.weight(g.fresh(name), [cout], vals);
    y = g.op("BatchNormalization", [
      y,
      bn("bn.scale", seededFloats(cout, seed++, 0.2).map((v) => 1 + v)),
      bn("bn.bias", seededFloats(cout, seed++, 0.1)),
      bn("bn.mean", seededFloats(cout, seed++, 0.1)),
      bn("bn.var", seededFloats(cout, seed++, 0.2).map((v) => 1 + v)),
    ], { epsilon: f(1e-5) });
    return { y: relu ? g.op("Relu", [y]) : y, out };
  };
  const r = conv("image", c, o.widths[0], 7, 2, true);
  size = r.out;
  let x = g.op("MaxPool", [r.y], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  size = Math.floor((size + 2 - 3) / 2) + 1;
  c = o.widths[0];
  o.widths.forEach((width, stage) => {
    const out = o.bottleneck ? 4 * width : width;
    for (let b = 0; b < stageBlocks(o, stage); b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const inSize = size;
      let last: string;
      if (o.bottleneck) {
        const reduce = conv(x, c, width, 1, 1, true);
        const a = conv(reduce.y, width, width, 3, stride, true);
        size = a.out;
        last = conv(a.y, width, out, 1, 1, false).y;
      } else {
        const a = conv(x, c, width, 3, stride, true);
        size = a.out;
        last = conv(a.y, width, width, 3, 1, false).y;
      }
      let shortcut = x;
      if (stride !== 1 || c !== out) {
        const saved = size;
        size = inSize;
        shortcut = conv(x, c, out, 1, stride, false).y;
        size = saved;
      }
      x = g.op("Relu", [g.op(o.shortcut ?? "Add", [last, shortcut])]);
      c = out;
    }
  });
  const pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], { axis: 1 });
  const fc = g.op("Gemm", [
    pooled,
    w(g, "fc.w", [classes, c], 1 / Math.sqrt(c)),
    w(g, "fc.b", [classes], 0.1),
  ], {
    transB: 1,
  });
  flops += 2 * batch * classes * c;
  g.output(g.op("Identity", [fc], {}, "logits"), "float32", ["N", classes]);
  return {
    name: `ResNet-style CNN ${o.widths.join("/")}×${blocksName(o)}${
      o.bottleneck ? " bottleneck" : ""
    }, ${batch}×3×${o.size}²${o.shortcut === "Sum" ? ", Sum shortcuts" : ""}`,
    bytes: g.toBytes(),
    feeds: {
      image: {
        type: "float32",
        dims: [batch, 3, o.size, o.size],
        data: seededFloats(batch * 3 * o.size * o.size, 3),
      },
    },
    flops,
  };
}

/** Options of a statically quantized ResNet-style CNN. */
export interface QuantizedCnnOptions extends CnnOptions {
  /**
   * "qoperator": QLinearConv, QLinearAdd and QLinearGlobalAveragePool nodes;
   * "qdq": float Conv/Add/pools between QuantizeLinear → DequantizeLinear
   * pairs, the weights and biases as DequantizeLinear of int8/int32
   * initializers — the two formats of ONNX Runtime's quantize_static.
   */
  format: "qoperator" | "qdq";
  /**
   * MobileNetV2's inverted residual blocks instead of basic blocks: 1×1
   * expand (×4) + ReLU, depthwise 3×3 (the stride) + ReLU, 1×1 project,
   * the shortcut Add where the shape is kept.
   */
  inverted?: boolean;
  /** Weights at 7 bits (quantize_static's reduce_range: within ±63). */
  reduceRange?: boolean;
}

/**
 * The ResNet-style CNN of {@link resnetCnn} statically quantized as ONNX
 * Runtime's quantize_static writes it: BatchNorm folded into the convs,
 * uint8 activations (a ReLU folded into its producer's zero point 0),
 * symmetric int8 weights per output channel, int32 biases at the input
 * scale × the weight's; the classifier dequantized and float.
 */
export function quantizedCnn(o: QuantizedCnnOptions): ZooModel {
  if (o.bottleneck) throw new Error("quantizedCnn: bottleneck blocks are resnetCnn's only");
  seed = 61;
  const g = new GraphBuilder(13);
  g.extraOpsets.push(["com.microsoft", 1]);
  const qdq = o.format === "qdq";
  const batch = o.batch ?? 1, classes = o.classes ?? 10;
  g.input("image", "float32", ["N", 3, o.size, o.size]);
  let flops = 0, size = o.size, c = 3;
  /** An activation: its tensor (bytes in QOperator form, a DequantizeLinear's float in QDQ). */
  interface Act {
    name: string;
    scale: string;
    zero: string;
  }
  const scalar = (type: "float32" | "uint8", v: number) =>
    g.initializer(g.fresh(type === "uint8" ? "zp" : "scale"), { type, dims: [], data: [v] });
  /** A quantized activation of `scale`, zero point 0 (after a ReLU) or 128. */
  const actOf = (name: string, scale: number, relu: boolean): Act => ({
    name,
    scale: scalar("float32", scale),
    zero: scalar("uint8", relu ? 0 : 128),
  });
  const quantize = (x: string, a: Act) => g.op("QuantizeLinear", [x, a.scale, a.zero]);
  const dequantize = (a: Act) => g.op("DequantizeLinear", [a.name, a.scale, a.zero]);
  const imageScale = 1 / 64;
  let x = actOf("", imageScale, false);
  x.name = quantize("image", x);
  const conv = (
    x: Act,
    xScale: number,
    cin: number,
    cout: number,
    k: number,
    s: number,
    relu: boolean,
    group = 1,
  ) => {
    const per = (cin / group) * k * k;
    const weights = seededFloats(cout * per, seed++ * 7919, Math.sqrt(2 / per));
    const ws = new Float32Array(cout), wq = new Int8Array(weights.length);
    for (let oc = 0; oc < cout; oc++) {
      let m = 0;
      for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(weights[oc * per + i]));
      ws[oc] = Math.fround(m / (o.reduceRange ? 63 : 127) || 1);
      for (let i = 0; i < per; i++) wq[oc * per + i] = Math.round(weights[oc * per + i] / ws[oc]);
    }
    const bias = seededFloats(cout, seed++, 0.1);
    const bq = Int32Array.from(
      bias,
      (b, oc) => Math.round(b / Math.fround(Math.fround(xScale) * ws[oc])),
    );
    const W = g.initializer(g.fresh("conv.w"), {
      type: "int8",
      dims: [cout, cin / group, k, k],
      data: wq,
    });
    const Ws = g.initializer(g.fresh("conv.ws"), { type: "float32", dims: [cout], data: ws });
    const Wz = g.initializer(g.fresh("conv.wz"), {
      type: "int8",
      dims: [cout],
      data: new Array(cout).fill(0),
    });
    const B = g.initializer(g.fresh("conv.b"), { type: "int32", dims: [cout], data: bq });
    const pad = Math.floor(k / 2), out = Math.floor((size + 2 * pad - k) / s) + 1;
    flops += 2 * batch * cout * out * out * per;
    const attrs = {
      kernel_shape: [k, k],
      strides: [s, s],
      pads: [pad, pad, pad, pad],
      ...(group > 1 ? { group } : {}),
    };
    // Outputs of a 3×3 conv spread wider than its input: its scale grows with the fan-in.
    const yScale = relu ? 0.04 : 0.06;
    const y = actOf("", yScale, relu);
    if (qdq) {
      const bs = g.initializer(g.fresh("conv.bs"), {
        type: "float32",
        dims: [cout],
        data: Float32Array.from(ws, (v) => Math.fround(xScale) * v),
      });
      const Bz = g.initializer(g.fresh("conv.bz"), {
        type: "int32",
        dims: [cout],
        data: new Array(cout).fill(0),
      });
      const wf = g.op("DequantizeLinear", [W, Ws, Wz], { axis: 0 });
      const bf = g.op("DequantizeLinear", [B, bs, Bz], { axis: 0 });
      y.name = quantize(g.op("Conv", [dequantize(x), wf, bf], attrs), y);
    } else {
      y.name = g.op("QLinearConv", [x.name, x.scale, x.zero, W, Ws, Wz, y.scale, y.zero, B], attrs);
    }
    return { y, yScale, out };
  };
  const add = (a: Act, b: Act, scale: number) => {
    const y = actOf("", scale, true);
    if (qdq) y.name = quantize(g.op("Relu", [g.op("Add", [dequantize(a), dequantize(b)])]), y);
    else {
      y.name = g.node(
        "QLinearAdd",
        [a.name, a.scale, a.zero, b.name, b.scale, b.zero, y.scale, y.zero],
        1,
        {},
        "com.microsoft",
      )[0];
    }
    return y;
  };
  const stem = conv(x, imageScale, c, o.widths[0], 7, 2, true);
  size = stem.out;
  x = actOf("", stem.yScale, true);
  const poolAttrs = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
  x.name = qdq
    ? quantize(g.op("MaxPool", [dequantize(stem.y)], poolAttrs), x)
    : g.op("MaxPool", [stem.y.name], poolAttrs);
  let xScale = stem.yScale;
  size = Math.floor((size + 2 - 3) / 2) + 1;
  c = o.widths[0];
  o.widths.forEach((width, stage) => {
    for (let b = 0; b < stageBlocks(o, stage); b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1, inSize = size;
      if (o.inverted) {
        const e = 4 * c, expand = conv(x, xScale, c, e, 1, 1, true);
        const dw = conv(expand.y, expand.yScale, e, e, 3, stride, true, e);
        size = dw.out;
        const project = conv(dw.y, dw.yScale, e, width, 1, 1, false);
        x = stride === 1 && c === width ? add(project.y, x, 0.05) : project.y;
        xScale = stride === 1 && c === width ? 0.05 : project.yScale;
        c = width;
        continue;
      }
      const first = conv(x, xScale, c, width, 3, stride, true);
      size = first.out;
      const second = conv(first.y, first.yScale, width, width, 3, 1, false);
      let shortcut = x;
      if (stride !== 1 || c !== width) {
        const saved = size;
        size = inSize;
        shortcut = conv(x, xScale, c, width, 1, stride, false).y;
        size = saved;
      }
      x = add(second.y, shortcut, 0.05);
      xScale = 0.05;
      c = width;
    }
  });
  const pooled = actOf("", 0.02, true);
  pooled.name = qdq ? quantize(g.op("GlobalAveragePool", [dequantize(x)]), pooled) : g.node(
    "QLinearGlobalAveragePool",
    [x.name, x.scale, x.zero, pooled.scale, pooled.zero],
    1,
    { channels_last: 0 },
    "com.microsoft",
  )[0];
  const flat = g.op("Flatten", [dequantize(pooled)], { axis: 1 });
  const fc = g.op("Gemm", [
    flat,
    w(g, "fc.w", [classes, c], 1 / Math.sqrt(c)),
    w(g, "fc.b", [classes], 0.1),
  ], { transB: 1 });
  flops += 2 * batch * classes * c;
  g.output(g.op("Identity", [fc], {}, "logits"), "float32", ["N", classes]);
  // The pooled features' bytes too: an 8-bit output compared exactly.
  g.output(pooled.name, "uint8", ["N", c, 1, 1]);
  return {
    name: `${o.inverted ? "MobileNet" : "ResNet"}-style CNN ${o.widths.join("/")}×${
      blocksName(o)
    }, ${batch}×3×${o.size}², int8 ${qdq ? "QDQ" : "QOperator"}${
      o.reduceRange ? ", 7-bit weights" : ""
    }`,
    bytes: g.toBytes(),
    feeds: {
      image: {
        type: "float32",
        dims: [batch, 3, o.size, o.size],
        data: seededFloats(batch * 3 * o.size * o.size, 3),
      },
    },
    flops,
  };
}

/** A MobileNetV2/V3-style block stack: 1×1 expand + Clip(0, 6), depthwise 3×3, x·HardSigmoid(x), 1×1 project. */
export function mobileBlock(size: number, channels: number, expand: number): ZooModel {
  seed = 31;
  const g = new GraphBuilder(13);
  g.input("x", "float32", [1, channels, size, size]);
  const e = channels * expand;
  const zero = g.initializer("zero", { type: "float32", dims: [], data: [0] });
  const six = g.initializer("six", { type: "float32", dims: [], data: [6] });
  let y = g.op("Conv", [
    "x",
    w(g, "expand.w", [e, channels, 1, 1], 0.3),
    w(g, "expand.b", [e], 0.1),
  ], {
    kernel_shape: [1, 1],
  });
  y = g.op("Clip", [y, zero, six]);
  y = g.op("Conv", [y, w(g, "dw.w", [e, 1, 3, 3], 0.3), w(g, "dw.b", [e], 0.1)], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
    group: e,
  });
  const hs = g.op("HardSigmoid", [y], { alpha: f(1 / 6), beta: f(0.5) });
  y = g.op("Mul", [y, hs]);
  y = g.op("Conv", [y, w(g, "project.w", [channels, e, 1, 1], 0.2)], { kernel_shape: [1, 1] });
  g.output(g.op("Add", [y, "x"], {}, "y"), "float32", [1, channels, size, size]);
  const px = size * size;
  return {
    name: `MobileNet-style block ${channels}×${expand} on ${size}²`,
    bytes: g.toBytes(),
    feeds: {
      x: { type: "float32", dims: [1, channels, size, size], data: seededFloats(channels * px, 4) },
    },
    flops: 2 * px * (2 * e * channels + 9 * e),
  };
}

/**
 * MobileNetV2 (width 1.0) as torchvision exports it at opset 13: every
 * BatchNorm folded into its Conv's bias, ReLU6 as Clip(0, 6), the inverted
 * residual blocks (1×1 expand, 3×3 depthwise of stride 1 or 2, 1×1 linear
 * project, Add where the shape is kept), a 1×1 conv to 1280, global average
 * pool, Flatten, Gemm to 1000 classes. Random weights scaled to keep the
 * activations in range.
 */
export function mobilenetV2(o: { size?: number; batch?: number } = {}): ZooModel {
  seed = 41;
  const g = new GraphBuilder(13);
  const batch = o.batch ?? 1, inSize = o.size ?? 224;
  g.input("input", "float32", ["N", 3, inSize, inSize]);
  const zero = g.initializer("zero", { type: "float32", dims: [], data: [0] });
  const six = g.initializer("six", { type: "float32", dims: [], data: [6] });
  let flops = 0, size = inSize;
  const conv = (
    x: string,
    cin: number,
    cout: number,
    k: number,
    stride: number,
    group: number,
    relu6: boolean,
  ) => {
    const pad = k >> 1, cg = cin / group;
    const y = g.op("Conv", [
      x,
      w(g, g.fresh("conv.w"), [cout, cg, k, k], Math.sqrt(2 / (cg * k * k))),
      w(g, g.fresh("conv.b"), [cout], 0.1),
    ], {
      dilations: [1, 1],
      group,
      kernel_shape: [k, k],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
    size = Math.floor((size + 2 * pad - k) / stride) + 1;
    flops += 2 * batch * cout * size * size * cg * k * k;
    return relu6 ? g.op("Clip", [y, zero, six]) : y;
  };
  let x = conv("input", 3, 32, 3, 2, 1, true), c = 32;
  // (expansion t, output channels, blocks n, first stride s): torchvision's table.
  const stages = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [
    6,
    160,
    3,
    2,
  ], [6, 320, 1, 1]];
  for (const [t, cout, n, s] of stages) {
    for (let b = 0; b < n; b++) {
      const stride = b === 0 ? s : 1, hidden = c * t;
      let y = t === 1 ? x : conv(x, c, hidden, 1, 1, 1, true);
      y = conv(y, hidden, hidden, 3, stride, hidden, true);
      y = conv(y, hidden, cout, 1, 1, 1, false);
      x = stride === 1 && c === cout ? g.op("Add", [x, y]) : y;
      c = cout;
    }
  }
  x = conv(x, c, 1280, 1, 1, 1, true);
  const pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], { axis: 1 });
  const fc = g.op("Gemm", [
    pooled,
    w(g, "classifier.w", [1000, 1280], 1 / Math.sqrt(1280)),
    w(g, "classifier.b", [1000], 0.1),
  ], { alpha: f(1), beta: f(1), transB: 1 });
  flops += 2 * batch * 1000 * 1280;
  g.output(g.op("Identity", [fc], {}, "logits"), "float32", ["N", 1000]);
  return {
    name: `MobileNetV2 1.0, ${batch}×3×${inSize}²`,
    bytes: g.toBytes(),
    feeds: {
      input: {
        type: "float32",
        dims: [batch, 3, inSize, inSize],
        data: seededFloats(batch * 3 * inSize * inSize, 5),
      },
    },
    flops,
  };
}

/**
 * One BERT layer as ONNX Runtime's transformer optimizer writes it (the
 * com.microsoft ops of an optimum O2+ export): EmbedLayerNormalization,
 * the packed-QKV Attention with the mask's lengths, a projection,
 * SkipLayerNormalization, the FFN with BiasGelu, SkipLayerNormalization.
 * int32 input_ids, token_type_ids and attention_mask.
 */
export function msEncoderLayer(
  o: { seq: number; hidden: number; heads: number; ff: number; vocab?: number },
): ZooModel {
  seed = 31;
  const { seq, hidden, heads, ff } = o, vocab = o.vocab ?? 1000;
  const g = new GraphBuilder(17);
  g.extraOpsets.push(["com.microsoft", 1]);
  const ms = "com.microsoft";
  for (const n of ["input_ids", "token_type_ids", "attention_mask"]) {
    g.input(n, "int32", ["batch", "sequence"]);
  }
  const s = 1 / Math.sqrt(hidden);
  const gamma = (name: string) =>
    g.weight(name, [hidden], seededFloats(hidden, seed++, 0.1).map((v) => 1 + v));
  const [emb, maskIndex] = g.node(
    "EmbedLayerNormalization",
    [
      "input_ids",
      "token_type_ids",
      w(g, "word", [vocab, hidden], 0.5),
      w(g, "position", [512, hidden], 0.5),
      w(g, "segment", [2, hidden], 0.5),
      gamma("emb.gamma"),
      w(g, "emb.beta", [hidden], 0.1),
      "attention_mask",
    ],
    2,
    { epsilon: f(1e-12) },
    ms,
  );
  const att = g.node(
    "Attention",
    [
      emb,
      w(g, "qkv.weight", [hidden, 3 * hidden], s),
      w(g, "qkv.bias", [3 * hidden], 0.02),
      maskIndex,
    ],
    1,
    { num_heads: heads },
    ms,
  )[0];
  const proj = g.op("MatMul", [att, w(g, "out.weight", [hidden, hidden], s)]);
  const [ln1] = g.node(
    "SkipLayerNormalization",
    [
      proj,
      emb,
      gamma("ln1.gamma"),
      w(g, "ln1.beta", [hidden], 0.1),
      w(g, "out.bias", [hidden], 0.02),
    ],
    1,
    { epsilon: f(1e-12) },
    ms,
  );
  const up = g.op("MatMul", [ln1, w(g, "ff1.weight", [hidden, ff], s)]);
  const act = g.node("BiasGelu", [up, w(g, "ff1.bias", [ff], 0.02)], 1, {}, ms)[0];
  const down = g.op("MatMul", [act, w(g, "ff2.weight", [ff, hidden], 1 / Math.sqrt(ff))]);
  const [out] = g.node(
    "SkipLayerNormalization",
    [
      down,
      ln1,
      gamma("ln2.gamma"),
      w(g, "ln2.beta", [hidden], 0.1),
      w(g, "ff2.bias", [hidden], 0.02),
    ],
    1,
    { epsilon: f(1e-12) },
    ms,
  );
  g.output(g.op("Identity", [out], {}, "last_hidden_state"), "float32", [
    "batch",
    "sequence",
    hidden,
  ]);
  const ids = Int32Array.from({ length: seq }, (_, i) => (i * 37 + 11) % vocab);
  const mask = Int32Array.from({ length: seq }, (_, i) => (i < seq - Math.floor(seq / 8) ? 1 : 0));
  return {
    name: `encoder layer ${hidden}/${heads}/${ff}, seq ${seq}, ORT-optimized (com.microsoft)`,
    bytes: g.toBytes(),
    feeds: {
      input_ids: { type: "int32", dims: [1, seq], data: ids },
      token_type_ids: { type: "int32", dims: [1, seq], data: new Int32Array(seq) },
      attention_mask: { type: "int32", dims: [1, seq], data: mask },
    },
    flops: 2 * seq * (4 * hidden * hidden + 2 * hidden * ff) + 4 * seq * seq * hidden,
  };
}

/** A 4-bit decoder block's sizes: a step of `seq` new tokens after `past` cached ones. */
export interface LlmBlockOptions {
  seq: number;
  past: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  ff: number;
  vocab: number;
  /** Rotary cache positions (≥ past + seq). */
  positions?: number;
}

/**
 * One decoder block as ONNX Runtime GenAI exports a 4-bit LLM (com.microsoft
 * ops): Gather embedding, SimplifiedLayerNormalization, a packed-QKV
 * MatMulNBits (blocks of 32, packed zero points), GroupQueryAttention with
 * rotary and a KV cache (seqlens_k and total_sequence_length from the int64
 * attention mask), the output projection, SkipSimplifiedLayerNormalization,
 * a gated SiLU MLP of 4-bit Linears, the residual. Feeds: token ids, the
 * mask, the past keys and values.
 */
export function llmBlock(o: LlmBlockOptions): ZooModel {
  const { seq: S, past: P, hidden, heads, kvHeads: kv, ff, vocab } = o, dh = hidden / heads;
  const positions = o.positions ?? Math.max(32, P + S);
  const g = new GraphBuilder(17);
  g.extraOpsets.push(["com.microsoft", 1]);
  const ms = "com.microsoft";
  g.input("input_ids", "int64", [1, S]);
  g.input("attention_mask", "int64", [1, P + S]);
  g.input("past_key", "float32", [1, kv, P, dh]);
  g.input("past_value", "float32", [1, kv, P, dh]);
  let seed = 500;
  const floats = (n: number, scale = 0.3) => Array.from(seededFloats(n, seed++, scale));
  const emb = g.initializer("embed", {
    type: "float32",
    dims: [vocab, hidden],
    data: floats(vocab * hidden),
  });
  let flops = 0;
  /** A 4-bit Linear (MatMulNBits, blocks of 32, packed zero points). */
  const linear = (x: string, k: number, n: number) => {
    const blocks = k / 32;
    flops += 2 * S * k * n;
    const q = g.initializer(g.fresh("q"), {
      type: "uint8",
      dims: [n, blocks, 16],
      data: Array.from({ length: n * blocks * 16 }, (_, i) => (i * 89 + seed) % 256),
    });
    const sc = g.initializer(g.fresh("s"), {
      type: "float32",
      dims: [n * blocks],
      data: floats(n * blocks, 0.02).map((v) => Math.abs(v) + 0.005),
    });
    const zp = g.initializer(g.fresh("z"), {
      type: "uint8",
      dims: [n * Math.ceil(blocks / 2)],
      data: Array.from({ length: n * Math.ceil(blocks / 2) }, (_, i) => (i * 53 + 7) % 256),
    });
    seed++;
    return g.node("MatMulNBits", [x, q, sc, zp], 1, { K: k, N: n, bits: 4, block_size: 32 }, ms)[0];
  };
  const norm = g.initializer("norm", {
    type: "float32",
    dims: [hidden],
    data: floats(hidden, 0.1).map((v) => 1 + v),
  });
  const x = g.op("Gather", [emb, "input_ids"]);
  const h = g.op("SimplifiedLayerNormalization", [x, norm], { axis: -1, epsilon: f(1e-5) });
  const qkv = linear(h, hidden, (heads + 2 * kv) * dh);
  // seqlens_k = Σ mask − 1 as int32; total_sequence_length = the mask's length.
  const seqlens = g.op("Cast", [
    g.op("Sub", [
      g.op("ReduceSum", ["attention_mask", g.ints("ax1", [1])], { keepdims: 0 }),
      g.ints("one", [1], []),
    ]),
  ], { to: 6 });
  const total = g.op("Cast", [
    g.op("Gather", [g.op("Shape", ["attention_mask"]), g.ints("idx1", [1], [])], { axis: 0 }),
  ], { to: 6 });
  const [cos, sin] = g.rotaryCache(positions, dh / 2, 0.07);
  const [att, pk, pv] = g.node(
    "GroupQueryAttention",
    [qkv, "", "", "past_key", "past_value", seqlens, total, cos, sin],
    3,
    { num_heads: heads, kv_num_heads: kv, do_rotary: 1 },
    ms,
  );
  const out = linear(att, hidden, hidden);
  const [h2, , , x2] = g.node(
    "SkipSimplifiedLayerNormalization",
    [out, x, norm],
    [g.fresh("h2"), "", "", g.fresh("x2")],
    { epsilon: f(1e-5) },
    ms,
  );
  const gate = linear(h2, hidden, ff), up = linear(h2, hidden, ff);
  const silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])]);
  g.output(g.op("Add", [x2, linear(g.op("Mul", [silu, up]), ff, hidden)], {}, "hidden_out"));
  g.output(g.op("Identity", [pk], {}, "present_key"));
  g.output(g.op("Identity", [pv], {}, "present_value"));
  const F = (dims: number[], s: number) => ({
    type: "float32" as const,
    dims,
    data: seededFloats(dims.reduce((a, b) => a * b, 1), s),
  });
  return {
    name: `4-bit decoder block ${hidden}/${heads}/${kv}/${ff}, ${S} new after ${P}`,
    bytes: g.toBytes(),
    feeds: {
      input_ids: {
        type: "int64",
        dims: [1, S],
        data: BigInt64Array.from({ length: S }, (_, i) => BigInt([3, 17, 42, 8][i % 4] % vocab)),
      },
      attention_mask: { type: "int64", dims: [1, P + S], data: new BigInt64Array(P + S).fill(1n) },
      past_key: F([1, kv, P, dh], 601),
      past_value: F([1, kv, P, dh], 602),
    },
    flops,
  };
}

/**
 * A U-Net-style segmenter as PyTorch exports one (opset 13): two 3×3
 * Conv + ReLU a level (biases, no BatchNorm), MaxPool 2×2 down, and on the
 * way up ConvTranspose 2×2/2 (with its bias), Concat with the level's skip
 * and two 3×3 convs; a 1×1 conv to `classes` maps. Random weights scaled to
 * keep the activations in range.
 */
export function unet(o: { size: number; widths: number[]; classes: number }): ZooModel {
  seed = 31;
  const g = new GraphBuilder(13);
  g.input("image", "float32", [1, 3, o.size, o.size]);
  let flops = 0, size = o.size, c = 3, x = "image";
  const conv = (from: string, cin: number, cout: number, k: number, relu: boolean) => {
    const pad = Math.floor(k / 2);
    const y = g.op("Conv", [
      from,
      w(g, g.fresh("conv.w"), [cout, cin, k, k], Math.sqrt(2 / (cin * k * k))),
      w(g, g.fresh("conv.b"), [cout], 0.05),
    ], { kernel_shape: [k, k], pads: [pad, pad, pad, pad] });
    flops += 2 * cout * size * size * cin * k * k;
    return relu ? g.op("Relu", [y]) : y;
  };
  const double = (from: string, cin: number, cout: number) =>
    conv(conv(from, cin, cout, 3, true), cout, cout, 3, true);
  const skips: { x: string; c: number }[] = [];
  o.widths.forEach((width, level) => {
    if (level > 0) {
      skips.push({ x, c });
      x = g.op("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2] });
      size /= 2;
    }
    x = double(x, c, width);
    c = width;
  });
  for (const skip of skips.reverse()) {
    const up = g.op("ConvTranspose", [
      x,
      w(g, g.fresh("up.w"), [c, skip.c, 2, 2], Math.sqrt(1 / c)),
      w(g, g.fresh("up.b"), [skip.c], 0.05),
    ], { kernel_shape: [2, 2], strides: [2, 2] });
    size *= 2;
    flops += 2 * skip.c * size * size * c;
    x = double(g.op("Concat", [up, skip.x], { axis: 1 }), 2 * skip.c, skip.c);
    c = skip.c;
  }
  g.output(g.op("Identity", [conv(x, c, o.classes, 1, false)], {}, "masks"), "float32", [
    1,
    o.classes,
    o.size,
    o.size,
  ]);
  return {
    name: `U-Net-style segmenter ${o.widths.join("/")}, 1×3×${o.size}²`,
    bytes: g.toBytes(),
    feeds: {
      image: {
        type: "float32",
        dims: [1, 3, o.size, o.size],
        data: seededFloats(3 * o.size * o.size, 5),
      },
    },
    flops,
  };
}

/** The models `deno task compare-models --models` and `deno task model --zoo` know by name. */
export const ZOO: Record<string, () => ZooModel> = {
  mlp1: () => mlp([784, 1024, 1024, 10], 1),
  mlp64: () => mlp([784, 1024, 1024, 10], 64),
  bert: () => encoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072 }),
  // The same layer at BERT's longest sequence: attention's share grows with its square.
  "bert-512": () => encoderLayer({ seq: 512, hidden: 768, heads: 12, ff: 3072 }),
  "bert-2048": () => encoderLayer({ seq: 2048, hidden: 768, heads: 12, ff: 3072 }),
  "bert-dec": () =>
    encoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072, decomposedLayerNorm: true }),
  "bert-int8": () => encoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072, quantized: true }),
  "bert-int8r": () =>
    encoderLayer({
      seq: 128,
      hidden: 768,
      heads: 12,
      ff: 3072,
      quantized: true,
      reduceRange: true,
    }),
  "bert-fp16": () => encoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072, half: true }),
  "bert-ms": () => msEncoderLayer({ seq: 128, hidden: 768, heads: 12, ff: 3072 }),
  cnn: () => resnetCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000 }),
  // ResNet-50's layers (bottleneck blocks 3/4/6/3), random weights.
  resnet50: () =>
    resnetCnn({
      size: 224,
      widths: [64, 128, 256, 512],
      blocks: [3, 4, 6, 3],
      bottleneck: true,
      classes: 1000,
    }),
  mobilenet: () => mobilenetV2(),
  // ConvTranspose 2×2/2 on the way up (a U-Net's decoder).
  unet: () => unet({ size: 128, widths: [32, 64, 128], classes: 2 }),
  "cnn-qop": () =>
    quantizedCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000, format: "qoperator" }),
  "cnn-qdq": () =>
    quantizedCnn({ size: 224, widths: [64, 128], blocks: 2, classes: 1000, format: "qdq" }),
  "cnn-qopr": () =>
    quantizedCnn({
      size: 224,
      widths: [64, 128],
      blocks: 2,
      classes: 1000,
      format: "qoperator",
      reduceRange: true,
    }),
  "mobile-qdq": () =>
    quantizedCnn({
      size: 224,
      widths: [24, 32, 64],
      blocks: 2,
      classes: 1000,
      format: "qdq",
      inverted: true,
    }),
  "resize-aa": () => preprocessResize(512, "linear"),
  "resize-aa-cubic": () => preprocessResize(1024, "cubic"),
  // A TinyLlama-sized 4-bit decoder block's step: one token after 256.
  llm4: () =>
    llmBlock({ seq: 1, past: 256, hidden: 2048, heads: 32, kvHeads: 4, ff: 5632, vocab: 32000 }),
};
