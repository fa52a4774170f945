/**
 * An exact float32 fused multiply-add in TypeScript, and the depthwise
 * convolution as the kernels compute it with it: each output one FMA chain
 * from +0 over its taps in row-major order (a tap outside x multiplies a
 * zero), then + bias, + residual, ReLU — the bits every depthwise kernel
 * and the general kernel must give.
 */

const f = Math.fround;
const bits = new Float32Array(1), ints = new Int32Array(bits.buffer);

/** The float32 next to `r` (a float32, finite) in the direction of `toward`. */
function nextF32(r: number, toward: number): number {
  if (r === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  bits[0] = r;
  ints[0] += (toward > r) === (r > 0) ? 1 : -1;
  return bits[0];
}

/** fround(a·b + c) rounded once, for float32 a, b, c (a·b is exact in float64). */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b, s = p + c;
  if (!Number.isFinite(s)) return f(s);
  // s + e is a·b + c exactly (TwoSum).
  const bb = s - p, e = (p - (s - bb)) + (c - bb);
  const r = f(s);
  if (e === 0 || r === s || !Number.isFinite(r)) return r;
  // Only a tie of s between two float32 values can round the other way than s + e does.
  const other = nextF32(r, s);
  if (s - r !== (other - r) / 2) return r;
  return (e > 0) === (other > r) ? other : r;
}

/** A depthwise convolution's shape (NCHW, one input and output channel per group). */
export interface DepthwiseShape {
  n: number;
  c: number;
  h: number;
  w: number;
  kernel: number[];
  strides?: number[];
  pads?: number[];
  dilations?: number[];
}

/** y of a depthwise convolution as the kernels compute it (see the module's text). */
export function depthwiseChain(
  o: DepthwiseShape,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  residual: Float32Array | null,
  relu: boolean,
): Float32Array {
  const [kh, kw] = o.kernel, [sh, sw] = o.strides ?? [1, 1], [dh, dw] = o.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const oh = Math.floor((o.h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((o.w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const y = new Float32Array(o.n * o.c * oh * ow);
  for (let b = 0; b < o.n; b++) {
    for (let ch = 0; ch < o.c; ch++) {
      const plane = (b * o.c + ch) * o.h * o.w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let acc = 0;
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const iy = oy * sh - pt + i * dh, ix = ox * sw - pl + j * dw;
              const inside = iy >= 0 && iy < o.h && ix >= 0 && ix < o.w;
              acc = fmaF32(inside ? x[plane + iy * o.w + ix] : 0, w[(ch * kh + i) * kw + j], acc);
            }
          }
          const at = ((b * o.c + ch) * oh + oy) * ow + ox;
          if (bias) acc = f(acc + bias[ch]);
          if (residual) acc = f(acc + residual[at]);
          y[at] = relu ? (acc > 0 ? acc : 0) : acc;
        }
      }
    }
  }
  return y;
}
