/**
 * Elementwise ops without a Jit family, by TypeScript loops on float32:
 * Floor, Ceil, Round (half to even), Sign, Sin, Cos, Softsign; and PRelu
 * (slope broadcast to x).
 */
import { broadcastStrides } from "./binary.ts";
import { broadcast, type Buf, expectType, fail, meta, need, type OpDef, stridesOf } from "./op.ts";

/** ONNX Round: halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const FUNCTIONS: Record<string, (v: number) => number> = {
  Floor: Math.floor,
  Ceil: Math.ceil,
  Round: roundHalfEven,
  Sign: (v) => (Number.isNaN(v) ? NaN : v > 0 ? 1 : v < 0 ? -1 : 0),
  Sin: Math.sin,
  Cos: Math.cos,
  Softsign: (v) => v / (1 + Math.abs(v)),
};

function mathDef(f: (v: number) => number): OpDef {
  return {
    attributes: [],
    infer(n, ins) {
      const [x] = need(n, ins, 1);
      expectType(n, x, 0, "float32");
      return [meta("float32", x.dims)];
    },
    build(_n, ins, outs) {
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

/** The TS elementwise op definitions by ONNX name. */
export const MATH_OPS: Record<string, OpDef> = {
  ...Object.fromEntries(Object.entries(FUNCTIONS).map(([k, f]) => [k, mathDef(f)])),
  PRelu: PRELU,
};
