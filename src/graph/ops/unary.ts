/**
 * Elementwise unary ONNX ops on float32 through `jit.unary` (Relu, Sigmoid,
 * Tanh, Exp, Log, Sqrt, Erf, Gelu, Clip, HardSigmoid, HardSwish, ...), Neg
 * and Abs also on integers (shape arithmetic). `activationOf` gives the same
 * op as a fusable activation (Conv/Gemm epilogues).
 */
import { UNARY_IDS, UNARY_OPS as KERNEL_OPS, type UnaryParams } from "../../kernels/unary/ops.ts";
import type { Activation } from "../../kernels/unary/read.ts";
import type { Node } from "../ir.ts";
import { integerRange, NUMERIC_TYPES } from "../../onnx/dtype.ts";
import { expectType, fail, type Meta, meta, need, type OpDef, sizeOf } from "./op.ts";

const F32_MAX = 3.4028234663852886e38;

/** ONNX op → jit.unary op, and its attributes → parameters. */
const UNARY: Record<string, { attrs: readonly string[]; act: (n: Node) => Activation }> = {
  Relu: { attrs: [], act: () => "relu" },
  LeakyRelu: {
    attrs: ["alpha"],
    act: (n) => ({ op: "leakyRelu", alpha: n.attrs.float("alpha", 0.01) }),
  },
  Elu: { attrs: ["alpha"], act: (n) => ({ op: "elu", alpha: n.attrs.float("alpha", 1) }) },
  Selu: {
    attrs: ["alpha", "gamma"],
    act: (n) => ({
      op: "selu",
      alpha: n.attrs.float("alpha", 1.6732632423543772),
      gamma: n.attrs.float("gamma", 1.0507009873554805),
    }),
  },
  Sigmoid: { attrs: [], act: () => "sigmoid" },
  HardSigmoid: {
    attrs: ["alpha", "beta"],
    act: (n) => ({
      op: "hardSigmoid",
      alpha: n.attrs.float("alpha", 0.2),
      beta: n.attrs.float("beta", 0.5),
    }),
  },
  HardSwish: { attrs: [], act: () => "hardSwish" },
  Mish: { attrs: [], act: () => "mish" },
  Softplus: { attrs: [], act: () => "softplus" },
  Tanh: { attrs: [], act: () => "tanh" },
  Exp: { attrs: [], act: () => "exp" },
  Log: { attrs: [], act: () => "log" },
  Sqrt: { attrs: [], act: () => "sqrt" },
  Reciprocal: { attrs: [], act: () => "reciprocal" },
  Abs: { attrs: [], act: () => "abs" },
  Neg: { attrs: [], act: () => "neg" },
  Erf: { attrs: [], act: () => "erf" },
  Round: { attrs: [], act: () => "round" },
  Gelu: {
    attrs: ["approximate"],
    act: (n) => {
      const a = n.attrs.string("approximate", "none");
      if (a !== "none" && a !== "tanh") fail(n, `approximate '${a}' is not "none" or "tanh"`);
      return a === "tanh" ? "geluTanh" : "gelu";
    },
  },
};

/**
 * An activation as a function of a double: the op's f64 reference with its parameters
 * (float64 tensors, which no kernel computes, are computed in TypeScript).
 */
export function activationF64(act: Activation): (x: number) => number {
  const op = typeof act === "string" ? act : act.op;
  const def = KERNEL_OPS[UNARY_IDS.get(op)!];
  const given: UnaryParams = typeof act === "string" ? {} : act;
  const p = def.params.map((name, i) => given[name] ?? def.defaults[i]);
  return (x) => def.reference(x, p);
}

/** The activation a unary node computes (Clip with constant bounds included), or null. */
export function activationOf(n: Node, ins: readonly (Meta | null)[] = []): Activation | null {
  if (n.domain !== "") return null;
  if (n.op === "Clip") return clipActivation(n, ins);
  const u = UNARY[n.op];
  return u ? u.act(n) : null;
}

function boundOf(n: Node, m: Meta | null | undefined, what: string, def: number): number {
  if (!m) return def;
  if (m.data === null) fail(n, `${what} must be a constant`);
  if (m.data.length !== 1) fail(n, `${what} must be a scalar`);
  return Number(m.data[0]);
}

function clipActivation(n: Node, ins: readonly (Meta | null)[]): Activation {
  if (n.opset < 11) {
    return { op: "clip", min: n.attrs.float("min", -F32_MAX), max: n.attrs.float("max", F32_MAX) };
  }
  return {
    op: "clip",
    min: boundOf(n, ins[1], "min", -F32_MAX),
    max: boundOf(n, ins[2], "max", F32_MAX),
  };
}

function unaryDef(attrs: readonly string[], integers: boolean): OpDef {
  return {
    attributes: attrs,
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      if (integers) expectType(n, x, 0, "float32", "float64", "int64", "int32");
      else expectType(n, x, 0, "float32", "float64");
      if (x.type === "float32" || x.type === "float64") activationOf(n, ins); // checks the attributes
      return [meta(x.type, x.dims)];
    },
    inPlace: () => true,
    build(n, ins, outs, env) {
      const x = ins[0]!, y = outs[0];
      if (x.type === "float64") {
        // Each element by the op's reference in f64 (no kernel computes doubles).
        const f = activationF64(activationOf(n, ins)!);
        const xd = x.data as Float64Array, yd = y.data as Float64Array;
        return {
          native: false,
          run: () => {
            for (let i = 0; i < xd.length; i++) yd[i] = f(xd[i]);
          },
        };
      }
      if (x.type !== "float32") {
        const neg = n.op === "Neg";
        const xs = x.data as Int32Array, ys = y.data as Int32Array; // int32 or int64: same code
        return {
          native: false,
          run: () => {
            for (let i = 0; i < xs.length; i++) {
              const v = xs[i];
              ys[i] = neg ? -v : v < 0 ? -v : v;
            }
          },
        };
      }
      const act = activationOf(n, ins);
      const op = typeof act === "string" ? act : act!.op;
      const params = typeof act === "string" ? undefined : act!;
      const xd = x.data as Float32Array, yd = y.data as Float32Array;
      const jit = env.jit;
      return { native: true, run: () => jit.unary(op, xd, yd, params) };
    },
  };
}

/** The unary op definitions by ONNX name. */
export const UNARY_OPS: Record<string, OpDef> = {
  ...Object.fromEntries(
    Object.entries(UNARY).map(([k, u]) => [k, unaryDef(u.attrs, k === "Neg" || k === "Abs")]),
  ),
  Clip: clipDef(),
};

/**
 * Clip: float32 through the unary family (bounds folded in where constant, else read on
 * each run), integers by a loop; min and max as attributes (before opset 11) or scalar
 * inputs of x's type, each optional.
 */
function clipDef(): OpDef {
  return {
    attributes: ["min", "max"],
    infer(n, ins) {
      const [x] = need(n, ins, 1, 3);
      expectType(n, x, 0, ...NUMERIC_TYPES); // opset 12 on: every numeric type
      if (x.type !== "float32" && x.type !== "float64" && n.opset < 12) {
        fail(n, `input 0 is ${x.type}, expected float32 or float64`);
      }
      if (n.opset >= 11) {
        for (const [i, what] of [[1, "min"], [2, "max"]] as const) {
          const b = ins[i];
          if (!b) continue;
          expectType(n, b, i, x.type);
          if (sizeOf(b.dims) !== 1) fail(n, `${what} must be a scalar`);
        }
      }
      if (x.type === "float32" && (n.opset < 11 || ins.slice(1).every((b) => !b || b.data))) {
        activationOf(n, ins); // checks attributes and constant bounds
      }
      return [meta(x.type, x.dims)];
    },
    inPlace: () => true,
    build(n, ins, outs, env) {
      const x = ins[0]!, y = outs[0], lo = ins[1] ?? null, hi = ins[2] ?? null;
      const fixed = n.opset < 11 || [lo, hi].every((b) => !b || b.constant);
      if (x.type === "float32") {
        const xd = x.data as Float32Array, yd = y.data as Float32Array, jit = env.jit;
        if (fixed) {
          const params = activationOf(n, ins) as { op: "clip"; min: number; max: number };
          return { native: true, run: () => jit.unary("clip", xd, yd, params) };
        }
        // Bounds fed or computed: read on each run (each pair of values its own kernel key).
        const params = { op: "clip" as const, min: -F32_MAX, max: F32_MAX };
        const lod = lo?.data as Float32Array | undefined,
          hid = hi?.data as Float32Array | undefined;
        return {
          native: false,
          run: () => {
            params.min = lod ? lod[0] : -F32_MAX;
            params.max = hid ? hid[0] : F32_MAX;
            jit.unary("clip", xd, yd, params);
          },
        };
      }
      if (x.type === "float64") {
        // Doubles: bounds as given (a NaN x stays NaN), ±∞ where an input leaves one out;
        // before opset 11 the attributes, float's extremes by default (as for float32).
        const xd = x.data as Float64Array, yd = y.data as Float64Array;
        const lod = lo?.data as Float64Array | undefined,
          hid = hi?.data as Float64Array | undefined;
        const old = n.opset < 11;
        const attrMin = n.attrs.float("min", -F32_MAX), attrMax = n.attrs.float("max", F32_MAX);
        return {
          native: false,
          run: () => {
            const min = old ? attrMin : lod ? lod[0] : -Infinity;
            const max = old ? attrMax : hid ? hid[0] : Infinity;
            for (let i = 0; i < xd.length; i++) {
              const v = xd[i];
              yd[i] = v < min ? min : v > max ? max : v;
            }
          },
        };
      }
      // Integers: the type's range where a bound is left out.
      const [least, most] = integerRange(x.type)!;
      const xd = x.data as Int32Array, yd = y.data as Int32Array; // every integer type: same code
      const lod = lo?.data as Int32Array | undefined, hid = hi?.data as Int32Array | undefined;
      return {
        native: false,
        run: () => {
          const min = lod ? lod[0] : least as number, max = hid ? hid[0] : most as number;
          for (let i = 0; i < xd.length; i++) {
            const v = xd[i];
            yd[i] = v < min ? min : v > max ? max : v;
          }
        },
      };
    },
  };
}
