/**
 * The 8-bit convolution as an op family: y = Σ (x − za)·w + bias, exactly in
 * int32, or requantized to bytes as ONNX Runtime's QLinearConv does.
 *
 * @module
 */
import { cpuFeatures } from "../../cpu.ts";
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { roundEven } from "../quantize/family.ts";
import { generateQConv, planQConv, type QConvPlan, VNNI_TILES, vnniPlan } from "./generate.ts";
import { packedWeightBytes } from "./pack.ts";
import { decodeQConvKey, QCONV_KEY_FIELDS } from "./read.ts";
import {
  channelGroups,
  describeQConv,
  outBytes,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
} from "./spec.ts";

/** Operands x, w (packed), bias, scale, y: Float32Array views of their bytes. */
export const QCONV: OpFamily<QConvSpec, QConvPlan> = {
  name: "convInt8",
  keyFields: QCONV_KEY_FIELDS,
  operands: ["x", "w", "bias", "scale", "y"],
  outputs: 1,
  decode: decodeQConvKey,
  describe: describeQConv,
  cost: (s) => {
    const ow = qconvOutWidth(s), rows = s.rowEnd - s.rowStart;
    return {
      flops: 2 * s.n * s.oc * rows * ow * s.c * s.kh * s.kw,
      bytes: s.n * (s.c * s.h * s.w + s.oc * rows * ow * outBytes(s)) +
        packedWeightBytes(s.oc, s.c, s.kh, s.kw),
    };
  },
  plan: (s, t) => planQConv(s, t.isa, cpuFeatures().avx512vnni),
  fallbackPlan: (s) => planQConv(s, "scalar", false),
  generate: generateQConv,
  // Bands of output rows, each part making the pixel words of its own band; on small planes
  // (a few row groups a band) blocks of output channels, each part all the rows.
  partition: (s, p, parts) => {
    const rows = s.rowEnd - s.rowStart, plane = rows * qconvOutWidth(s);
    if (plane <= SMALL_PLANE && s.oc >= 2 * p.mr) {
      const ranges = splitRange(s.oc, parts, p.mr);
      if (ranges.length < 2) return null;
      const chWeights = packedWeightBytes(1, s.c, s.kh, s.kw);
      const yPlane = qconvOutHeight(s) * qconvOutWidth(s) * outBytes(s);
      return ranges.map((r): Part<QConvSpec, QConvPlan> => ({
        spec: { ...s, oc: r.count, ocStart: s.ocStart + r.start },
        plan: p,
        offsets: [
          0,
          r.start * chWeights,
          s.bias ? 4 * r.start : 0,
          s.scale === 2 ? 4 * r.start : 0,
          r.start * yPlane,
        ],
      }));
    }
    const ranges = splitRange(rows, parts, 1);
    if (ranges.length < 2) return null;
    return ranges.map((r): Part<QConvSpec, QConvPlan> => ({
      spec: { ...s, rowStart: s.rowStart + r.start, rowEnd: s.rowStart + r.start + r.count },
      plan: p,
      offsets: [0, 0, 0, 0, 0],
    }));
  },
  candidates: (s, p) => p.path === "vnni" ? VNNI_TILES.map(([mr, nv]) => vnniPlan(s, mr, nv)) : [],
  // A part rebuilds the kh − 1 input rows it shares with the next: one band per thread.
  partsPerThread: () => 1,
  reference: (s, [x, w, bias, scale, y]) =>
    qconvReference(s, x, w, s.bias ? bias : null, s.scale ? scale : null, y),
};

/** Output positions of a band up to which threads split channels instead of rows. */
const SMALL_PLANE = 256;

const f = Math.fround;

/** The TypeScript computation (the tests' oracle), over the spec's band of rows. */
export function qconvReference(
  s: QConvSpec,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  scale: Float32Array | null,
  y: Float32Array,
): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), taps = s.kh * s.kw;
  const groups = channelGroups(s.c), nx = s.n * s.c * s.h * s.w, ny = s.n * s.ocTotal * oh * ow;
  const X = s.xSigned
    ? new Int8Array(x.buffer, x.byteOffset, nx)
    : new Uint8Array(x.buffer, x.byteOffset, nx);
  const Wt = new Int8Array(w.buffer, w.byteOffset, packedWeightBytes(s.ocTotal, s.c, s.kh, s.kw));
  const B = bias ? new Int32Array(bias.buffer, bias.byteOffset, s.ocTotal) : null;
  const Y = s.out === 0
    ? new Int32Array(y.buffer, y.byteOffset, ny)
    : s.out === 1
    ? new Uint8Array(y.buffer, y.byteOffset, ny)
    : new Int8Array(y.buffer, y.byteOffset, ny);
  const [qlo, qhi] = s.out === 2 ? [-128, 127] : [0, 255];
  const lo = qlo - s.yZero, hi = qhi - s.yZero;
  for (let b = 0; b < s.n; b++) {
    for (let o = s.ocStart; o < s.ocStart + s.oc; o++) {
      for (let oy = s.rowStart; oy < s.rowEnd; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let acc = B ? B[o] : 0;
          for (let ci = 0; ci < s.c; ci++) {
            for (let t = 0; t < taps; t++) {
              const iy = oy * s.sh - s.pt + Math.floor(t / s.kw) * s.dh;
              const ix = ox * s.sw - s.pl + (t % s.kw) * s.dw;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue; // x − za = 0
              const v = X[((b * s.c + ci) * s.h + iy) * s.w + ix] - s.xZero;
              const wt = Wt[((o * groups + (ci >> 2)) * taps + t) * 4 + (ci & 3)];
              acc = (acc + v * wt) | 0;
            }
          }
          const at = ((b * s.ocTotal + o) * oh + oy) * ow + ox;
          if (s.out === 0) {
            Y[at] = acc;
            continue;
          }
          let v = f(f(acc) * scale![s.scale === 2 ? o : 0]);
          v = v < lo ? lo : v > hi ? hi : v;
          Y[at] = roundEven(v) + s.yZero;
        }
      }
    }
  }
}
