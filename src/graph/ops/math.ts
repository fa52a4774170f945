/**
 * Elementwise ops without a Jit family, by TypeScript loops on float32:
 * Floor, Ceil, Sign, the trigonometric and hyperbolic
 * functions and their inverses, Softsign, Celu, ThresholdedRelu, Shrink;
 * IsNaN and IsInf (bool out); and PRelu (slope broadcast to x).
 */
import { ChainSteps } from "../../kernels/chain/mod.ts";
import type { Node } from "../ir.ts";
import { broadcastStrides } from "./binary.ts";
import { broadcast, type Buf, expectType, fail, meta, need, type OpDef, stridesOf } from "./op.ts";

const FUNCTIONS: Record<string, (v: number) => number> = {
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sign: (v) => (Number.isNaN(v) ? NaN : v > 0 ? 1 : v < 0 ? -1 : 0),
  Sin: Math.sin,
  Cos: Math.cos,
  Tan: Math.tan,
  Asin: Math.asin,
  Acos: Math.acos,
  Atan: Math.atan,
  Sinh: Math.sinh,
  Cosh: Math.cosh,
  Asinh: Math.asinh,
  Acosh: Math.acosh,
  Atanh: Math.atanh,
  Softsign: (v) => v / (1 + Math.abs(v)),
};

/** Elementwise functions with attributes: the function a node's attributes make. */
const WITH_ATTRIBUTES: Record<string, [string[], (n: Node) => (v: number) => number]> = {
  Celu: [["alpha"], (n) => {
    const a = n.attrs.float("alpha", 1);
    return (v) => Math.max(0, v) + Math.min(0, a * Math.expm1(v / a));
  }],
  ThresholdedRelu: [["alpha"], (n) => {
    const a = n.attrs.float("alpha", 1);
    return (v) => (v > a ? v : 0);
  }],
  Shrink: [["bias", "lambd"], (n) => {
    const b = n.attrs.float("bias", 0), l = n.attrs.float("lambd", 0.5);
    return (v) => (v < -l ? v + b : v > l ? v - b : 0);
  }],
};

function mathDef(make: (n: Node) => (v: number) => number, attributes: string[] = []): OpDef {
  return {
    attributes,
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32");
      return [meta("float32", x.dims)];
    },
    build(n, ins, outs) {
      const f = make(n);
      const x = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array;
      return {
        native: false,
        run: () => {
          for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
        },
      };
    },
  };
}

const PRELU: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x, slope] = need(n, ins, 2);
    expectType(n, x, 0, "float32");
    expectType(n, slope, 1, "float32");
    const dims = broadcast(n, x.dims, slope.dims);
    if (dims.join() !== x.dims.join()) {
      fail(n, `slope [${slope.dims.join(", ")}] must broadcast to X`);
    }
    return [meta("float32", x.dims)];
  },
  build(_n, ins, outs) {
    const x = ins[0] as Buf, s = ins[1] as Buf, y = outs[0];
    const xd = x.data as Float32Array, sd = s.data as Float32Array, yd = y.data as Float32Array;
    // The slope's offset for each element: its broadcast strides walked with x's index.
    const ss = broadcastStrides(s.dims, x.dims), xs = stridesOf(x.dims), r = x.dims.length;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < xd.length; i++) {
          const v = xd[i];
          if (v >= 0 || Number.isNaN(v)) {
            yd[i] = v;
            continue;
          }
          let rem = i, at = 0;
          for (let k = 0; k < r; k++) {
            const q = Math.floor(rem / xs[k]);
            rem -= q * xs[k];
            at += q * ss[k];
          }
          yd[i] = v * sd[at];
        }
      },
    };
  },
};

/** IsNaN, and IsInf (detect_negative, detect_positive): bool (uint8) out. */
function testDef(inf: boolean): OpDef {
  return {
    attributes: inf ? ["detect_negative", "detect_positive"] : [],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32");
      return [meta("bool", x.dims)];
    },
    build(n, ins, outs) {
      const neg = n.attrs.int("detect_negative", 1) !== 0;
      const pos = n.attrs.int("detect_positive", 1) !== 0;
      const x = ins[0]!.data as Float32Array, y = outs[0].data as Uint8Array;
      return {
        native: false,
        run: () => {
          for (let i = 0; i < x.length; i++) {
            const v = x[i];
            y[i] = (inf ? (pos && v === Infinity) || (neg && v === -Infinity) : v !== v) ? 1 : 0;
          }
        },
      };
    },
  };
}

/** The TS elementwise op definitions by ONNX name. */
/** Swish (opset 24): x·sigmoid(alpha·x) — SiLU for alpha 1, else a chain of three steps. */
const SWISH: OpDef = {
  attributes: ["alpha"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array, jit = env.jit;
    const alpha = n.attrs.float("alpha", 1);
    if (alpha === 1) return { native: true, run: () => jit.unary("silu", x, y) };
    const steps = new ChainSteps([{ op: "mul", value: alpha }, "sigmoid", { op: "mul", x: true }]);
    return { native: true, run: () => jit.chain(x, y, steps) };
  },
};

/**
 * SwiGLU (opset 28): Swish_alpha(A)·B, A and B of one shape — its function body, Swish
 * then Mul, each as the op computes it.
 */
const SWIGLU: OpDef = {
  attributes: ["alpha"],
  infer(n, ins) {
    const [a, b] = need(n, ins, 2);
    expectType(n, a, 0, "float32");
    expectType(n, b, 1, "float32");
    if (a.dims.join() !== b.dims.join()) {
      fail(n, `A [${a.dims.join(", ")}] and B [${b.dims.join(", ")}] must have one shape`);
    }
    return [meta("float32", a.dims)];
  },
  build(n, ins, outs, env) {
    const swish = SWISH.build(n, [ins[0]], outs, env)!;
    const b = ins[1]!.data as Float32Array, y = outs[0].data as Float32Array, jit = env.jit;
    const dims = [y.length];
    return {
      native: true,
      run: () => {
        swish.run();
        jit.binary("mul", y, dims, b, dims, y);
      },
    };
  },
};

export const MATH_OPS: Record<string, OpDef> = {
  Swish: SWISH,
  SwiGLU: SWIGLU,
  ...Object.fromEntries(Object.entries(FUNCTIONS).map(([k, f]) => [k, mathDef(() => f)])),
  ...Object.fromEntries(
    Object.entries(WITH_ATTRIBUTES).map(([k, [attrs, make]]) => [k, mathDef(make, attrs)]),
  ),
  IsNaN: testDef(false),
  IsInf: testDef(true),
  PRelu: PRELU,
};
