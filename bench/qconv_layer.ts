/**
 * One 8-bit convolution layer's operands for the benches (bench/qconv.ts,
 * bench/qconv_against.ts): deterministic bytes, a per-channel bias and
 * scale, zero points, and `jit.convInt8`'s options ("same" padding).
 *
 * @module
 */

/** Operands of a c→oc k×k/stride layer on a size² image; `o` the output side. */
export function qconvLayer(c: number, oc: number, size: number, k: number, stride: number): {
  o: number;
  x: Uint8Array;
  w: Int8Array;
  opts: {
    n: number;
    c: number;
    h: number;
    w: number;
    outChannels: number;
    kernel: number[];
    strides: number[];
    pads: number[];
    xZeroPoint: number;
    bias: Int32Array;
    scale: Float32Array;
    yZeroPoint: number;
  };
} {
  const pad = (k - 1) >> 1, o = Math.floor((size + 2 * pad - k) / stride) + 1;
  return {
    o,
    x: Uint8Array.from({ length: c * size * size }, (_, i) => (i * 7) & 255),
    w: Int8Array.from({ length: oc * c * k * k }, (_, i) => ((i * 13) & 255) - 128),
    opts: {
      n: 1,
      c,
      h: size,
      w: size,
      outChannels: oc,
      kernel: [k, k],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
      xZeroPoint: 120,
      bias: Int32Array.from({ length: oc }, (_, i) => i * 100 - 3000),
      scale: Float32Array.from({ length: oc }, (_, i) => 1 / (4000 + 97 * i)),
      yZeroPoint: 128,
    },
  };
}
