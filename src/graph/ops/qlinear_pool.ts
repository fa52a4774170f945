/**
 * com.microsoft QLinearGlobalAveragePool and QLinearAveragePool (uint8,
 * int8) as ONNX Runtime computes them:
 * - GlobalAveragePool: the exact sum less x_zp·N, times x_scale/(y_scale·N),
 *   clamped, rounded half to even, y_zp added.
 * - AveragePool: each value dequantized (x_scale·(x − x_zp)), each window
 *   summed in float32 row by row and divided by its count, then
 *   y/y_scale + y_zp rounded half to even and saturated (the global pool's
 *   integer path where the window is the whole image, unpadded).
 */
import type { Node } from "../ir.ts";
import { type WindowNd, windowNd } from "./window_im2col.ts";
import { roundEven } from "./quantize.ts";
import {
  type Buf,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";
import { type Bytes, checkParams, f, required, scalarOf, toInt32 } from "./qlinear_common.ts";

/**
 * The global pool of every (image, channel): the exact sum less x_zp·N, times `scale`,
 * clamped, rounded half to even, y_zp added. Channels last when `last`.
 */
function globalAverage(
  xd: Bytes,
  yd: Bytes,
  s: { N: number; C: number; image: number; last: boolean; signed: boolean },
  scale: number,
  zx: number,
  zy: number,
): void {
  const { N, C, image, last } = s, lo = s.signed ? -128 : 0, hi = s.signed ? 127 : 255;
  for (let b = 0; b < N; b++) {
    for (let c = 0; c < C; c++) {
      let acc = -zx * image;
      for (let p = 0; p < image; p++) {
        acc += xd[last ? (b * image + p) * C + c : (b * C + c) * image + p];
      }
      let v = f(acc * scale);
      v = v < lo - zy ? lo - zy : v > hi - zy ? hi - zy : v;
      yd[b * C + c] = roundEven(v) + zy;
    }
  }
}

/** QLinearGlobalAveragePool: X, x_scale, x_zp, y_scale, y_zp; channels_last. */
const QLINEAR_GLOBAL_AVERAGE_POOL: OpDef = {
  attributes: ["channels_last"],
  infer(n, ins) {
    const [x] = need(n, ins, 5);
    expectType(n, x, 0, "uint8", "int8");
    checkParams(n, ins, [1, 3], [2, 4], x.type);
    if (x.dims.length < 3) fail(n, "X must have a batch, a channel and a spatial axis");
    const last = n.attrs.int("channels_last", 0) !== 0, r = x.dims.length;
    const dims = x.dims.map((d, i) => (last ? i > 0 && i < r - 1 : i > 1) ? 1 : d);
    const image = sizeOf(x.dims) / (x.dims[0] * x.dims[last ? r - 1 : 1] || 1);
    if (image >= 0x1000000) fail(n, `an image of ${image} elements is beyond 2^24`);
    return [meta(x.type, dims)];
  },
  build(n, ins, outs, env) {
    const [x, xs, xz, ys, yz] = ins as Buf[], y = outs[0];
    const last = n.attrs.int("channels_last", 0) !== 0, r = x.dims.length;
    const N = x.dims[0], C = x.dims[last ? r - 1 : 1], image = sizeOf(x.dims) / (N * C || 1);
    const xd = x.data as Bytes, yd = y.data as Bytes, signed = y.type === "int8";
    const averageScale = () => f(scalarOf(xs) / f(scalarOf(ys) * image));
    const checkedScale = () => {
      const scale = averageScale();
      if (!(scale >= 2 ** -32 && scale < 256)) {
        fail(n, `x_scale / (y_scale·${image}) = ${scale} is outside [2^-32, 256)`);
      }
      return scale;
    };
    // NCHW with sums below 2^24 (exact in float32 in any order): x − x_zp widened natively,
    // each image's row summed by the reduce family, then requantized (f32(sum·m), clamp, half
    // to even, + zero point: the loop of globalAverage's formula). With constant scales and
    // zero points (as quantizers write them) the step is native, so a `run` goes off the loop
    // once for the plan; else the scale is read per run.
    if (
      !last && image * 255 < 2 ** 24 && xd.byteOffset % 4 === 0 && yd.byteOffset % 4 === 0 &&
      N * C > 0
    ) {
      const wide = new Float32Array(xd.length), sums = new Float32Array(N * C);
      const shape = { rows: N * C, cols: image }, widen = { scale: 1, zeroPoint: 0 };
      const requant = { cols: 1, multipliers: new Float32Array(1), zeroPoint: 0 }, jit = env.jit;
      const steps = () => {
        jit.dequantizeLinear(xd, wide, widen);
        jit.reduce("sum", wide, sums, shape);
        jit.requantize(sums, yd, requant);
      };
      const scale = averageScale();
      if (
        xs.constant && ys.constant && xz.constant && yz.constant && scale >= 2 ** -32 &&
        scale < 256
      ) {
        widen.zeroPoint = scalarOf(xz);
        requant.multipliers[0] = scale;
        requant.zeroPoint = scalarOf(yz);
        return { native: true, run: steps };
      }
      return {
        native: false,
        run: () => {
          requant.multipliers[0] = checkedScale();
          widen.zeroPoint = scalarOf(xz);
          requant.zeroPoint = scalarOf(yz);
          steps();
        },
      };
    }
    return {
      native: false,
      run: () => {
        globalAverage(
          xd,
          yd,
          { N, C, image, last, signed },
          checkedScale(),
          scalarOf(xz),
          scalarOf(yz),
        );
      },
    };
  },
};

/** x's metas as NCHW (channels_last moves the last axis to the second). */
function asNchw(x: Meta, last: boolean): Meta {
  if (!last) return x;
  const d = x.dims;
  return { ...x, dims: [d[0], d[d.length - 1], ...d.slice(1, -1)] };
}

/** The pool's window (1-3 spatial axes, no dilations) over x as NCHW. */
function averageWindow(n: Node, x: Meta): WindowNd {
  const r = x.dims.length - 2;
  if (r < 1 || r > 3) fail(n, `${r} spatial axes: 1 to 3 are supported`);
  if ((n.attrs.ints("dilations") ?? []).some((d) => d !== 1)) {
    fail(n, "dilations are not supported");
  }
  return windowNd(n, x, null, n.attrs.int("ceil_mode", 0) !== 0);
}

/** QLinearAveragePool: X, x_scale, x_zero_point?, y_scale, y_zero_point?; ONNX AveragePool's attributes, channels_last. */
const QLINEAR_AVERAGE_POOL: OpDef = {
  attributes: [
    "auto_pad",
    "ceil_mode",
    "channels_last",
    "count_include_pad",
    "kernel_shape",
    "pads",
    "strides",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 2, 5);
    required(n, ins, [0, 1, 3]);
    expectType(n, x, 0, "uint8", "int8");
    checkParams(n, ins, [1, 3], [2, 4], x.type);
    if (x.dims.length < 3) fail(n, "X must have a batch, a channel and a spatial axis");
    const last = n.attrs.int("channels_last", 0) !== 0, nchw = asNchw(x, last);
    const w = averageWindow(n, nchw);
    const dims = [nchw.dims[0], nchw.dims[1], ...w.out];
    return [meta(x.type, last ? [dims[0], ...w.out, dims[1]] : dims)];
  },
  build(n, ins, outs) {
    const [x, xs, xz, ys] = ins as (Buf | null)[], yz = ins[4] ?? null, y = outs[0];
    const last = n.attrs.int("channels_last", 0) !== 0, nchw = asNchw(x!, last);
    const w = averageWindow(n, nchw), r = w.sizes.length;
    const [N, C] = nchw.dims, sizes = w.sizes, out = w.out;
    const image = sizeOf(sizes), outImage = sizeOf(out);
    const includePad = n.attrs.int("count_include_pad", 0) !== 0;
    const kernelSize = sizeOf(w.kernel);
    const xd = x!.data as Bytes, yd = y.data as Bytes, signed = y.type === "int8";
    const lo = signed ? -128 : 0, hi = signed ? 127 : 255;
    const xf = new Float32Array(xd.length);
    // Each output position's window as [start, end) per axis, made once.
    const starts = new Int32Array(outImage * r), ends = new Int32Array(outImage * r);
    const at = new Int32Array(r);
    for (let o = 0; o < outImage; o++) {
      let rest = o;
      for (let i = r - 1; i >= 0; i--) {
        at[i] = rest % out[i];
        rest = Math.floor(rest / out[i]);
      }
      for (let i = 0; i < r; i++) {
        const start = at[i] * w.strides[i] - w.begin[i];
        starts[o * r + i] = Math.max(start, 0);
        ends[o * r + i] = Math.min(start + w.kernel[i], sizes[i]);
      }
    }
    const unpadded = w.begin.every((b) => b === 0) && w.end.every((e) => e === 0);
    const global = unpadded && w.kernel.every((k, i) => k === sizes[i]);
    const pos = new Int32Array(r), inStrides = stridesOf(sizes);
    // Element of X at (batch b, channel c, spatial offset p) in x's layout.
    const xAt = (b: number, c: number, p: number) =>
      last ? (b * image + p) * C + c : (b * C + c) * image + p;
    const yAt = (b: number, c: number, o: number) =>
      last ? (b * outImage + o) * C + c : (b * C + c) * outImage + o;
    return {
      native: false,
      run: () => {
        const sx = scalarOf(xs), zx = scalarOf(xz), sy = scalarOf(ys), zy = scalarOf(yz);
        if (global) {
          // ONNX Runtime's global pool: the exact sum, one float32 multiplier.
          globalAverage(xd, yd, { N, C, image, last, signed }, f(sx / f(sy * image)), zx, zy);
          return;
        }
        for (let i = 0; i < xd.length; i++) xf[i] = f(sx * (xd[i] - zx));
        for (let b = 0; b < N; b++) {
          for (let c = 0; c < C; c++) {
            for (let o = 0; o < outImage; o++) {
              // Sum the window in row-major order.
              let sum = 0, count = 1;
              for (let i = 0; i < r; i++) {
                pos[i] = starts[o * r + i];
                count *= ends[o * r + i] - starts[o * r + i];
              }
              if (count > 0) {
                for (;;) {
                  let p = 0;
                  for (let i = 0; i < r; i++) p += pos[i] * inStrides[i];
                  sum = f(sum + xf[xAt(b, c, p)]);
                  let i = r - 1;
                  for (; i >= 0; i--) {
                    if (++pos[i] < ends[o * r + i]) break;
                    pos[i] = starts[o * r + i];
                  }
                  if (i < 0) break;
                }
              }
              const avg = f(sum / (includePad ? kernelSize : count));
              const q = toInt32(f(f(avg / sy) + zy));
              yd[yAt(b, c, o)] = q < lo ? lo : q > hi ? hi : q;
            }
          }
        }
      },
    };
  },
};

/** The quantized pools. */
export const QLINEAR_POOL_OPS: Record<string, OpDef> = {
  QLinearGlobalAveragePool: QLINEAR_GLOBAL_AVERAGE_POOL,
  QLinearAveragePool: QLINEAR_AVERAGE_POOL,
};
