/**
 * ConvInteger's and QLinearConv's native path: `jit.convInt8` (VNNI tiles
 * over pixel words, requantizing in its store) where the node allows it —
 * group 1, 1-D or 2-D, constant weights whose zero point is 0 as int8 (int8
 * weights with zero point 0, uint8 weights with 128: shifted by −128, the
 * symmetric quantization ONNX Runtime's quantizer writes). Other nodes keep
 * the general path (im2col of bytes and the 8-bit GEMM, with per-channel
 * weight zero points).
 *
 * @module
 */
import type { ConvInt8Options, PackedConvInt8 } from "../../kernels/qconv/mod.ts";
import type { Node } from "../ir.ts";
import type { TensorData } from "../../onnx/dtype.ts";
import { windowOf } from "./conv.ts";
import type { Buf, Env } from "./op.ts";
import { sizeOf } from "./op.ts";

/** One 8-bit convolution of a node: its weights packed once and its options. */
export interface Int8Conv {
  /** The call's options (zero points, bias and scale filled in by the caller). */
  readonly options: ConvInt8Options;
  /** Runs it: x's bytes into y (int32 sums or requantized bytes). */
  run(y: Int32Array | Uint8Array | Int8Array): void;
  /** Whether it only calls the Jit (x in place; else a TypeScript copy of x comes first). */
  readonly native: boolean;
}

/** The node's native convolution, or null where only the general path computes it. */
export function int8ConvOf(
  n: Node,
  x: Buf,
  wt: Buf,
  wz: Buf | null,
  env: Env,
): Int8Conv | null {
  const group = n.attrs.int("group", 1);
  if (group !== 1 || !wt.constant || (wz !== null && !wz.constant)) return null;
  const unsigned = wt.type === "uint8", oc = wt.dims[0];
  const zeros = wz ? (wz.data as TensorData) : null;
  for (let o = 0; o < oc && zeros; o++) {
    const z = Number(zeros[sizeOf(wz!.dims) === 1 ? 0 : o]);
    if (z !== (unsigned ? 128 : 0)) return null;
  }
  if (!zeros && unsigned) return null;
  const w = windowOf(n, x, wt.dims.slice(2));
  const source = wt.data as Uint8Array | Int8Array;
  const weights = unsigned ? Int8Array.from(source, (v) => v - 128) : (source as Int8Array);
  const c = x.dims[1], jit = env.jit;
  const packed: PackedConvInt8 = jit.packConvInt8(weights, {
    outChannels: oc,
    c,
    kernel: w.kernel,
  });
  const options: ConvInt8Options = {
    n: x.dims[0],
    c,
    h: w.hw[0],
    w: w.hw[1],
    outChannels: oc,
    kernel: w.kernel,
    strides: w.strides,
    dilations: w.dilations,
  };
  if (w.autoPad === "NOTSET") options.pads = w.pads;
  else options.autoPad = w.autoPad;
  // x's bytes as the kernel reads them: in place where they start at a multiple of 4 bytes.
  const xd = x.data as Uint8Array | Int8Array;
  const aligned = xd.byteOffset % 4 === 0;
  const copy = aligned
    ? xd
    : x.type === "int8"
    ? new Int8Array(xd.length)
    : new Uint8Array(xd.length);
  return {
    options,
    native: aligned,
    run: (y) => {
      if (!aligned) copy.set(xd as never);
      jit.convInt8(copy, packed, y, options);
    },
  };
}
