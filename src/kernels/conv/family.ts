/**
 * conv2d (ONNX Conv, NCHW) with a fused bias, residual and activation, as
 * an op family.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { divisorAtMost, splitRange } from "../partition.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { generateConv } from "./generate.ts";
import { convChoices, type ConvPlan, planConv } from "./plan.ts";
import { CONV_KEY_FIELDS, decodeConvKey, describeConv } from "./read.ts";
import { CONV_TRANSPOSE_KEY_FIELDS, decodeConvTransposeKey } from "./read_transpose.ts";
import { convGeometry, readsInPlace } from "./geometry.ts";
import { convMacs, type ConvSpec, outHeight, outWidth } from "./spec.ts";

/**
 * y = act(conv(x, w) + bias + residual); operands x, w, bias, residual,
 * wVectors (w's channel-vector copy, read where the key has wLanes), y.
 */
export const CONV: OpFamily<ConvSpec, ConvPlan> = convFamily(
  "conv2d",
  CONV_KEY_FIELDS,
  decodeConvKey,
);

/**
 * ONNX ConvTranspose, computed as the convolution its key decodes to (see
 * read_transpose.ts); operands as conv2d's.
 */
export const CONV_TRANSPOSE: OpFamily<ConvSpec, ConvPlan> = convFamily(
  "convTranspose2d",
  CONV_TRANSPOSE_KEY_FIELDS,
  decodeConvTransposeKey,
);

function convFamily(
  name: string,
  keyFields: readonly string[],
  decode: (key: Int32Array) => ConvSpec,
): OpFamily<ConvSpec, ConvPlan> {
  return {
    name,
    keyFields,
    operands: ["x", "w", "bias", "residual", "wVectors", "y"],
    outputs: 1,
    decode,
    describe: describeConv,
    cost: (s) => {
      const out = s.n * s.oc * (s.rowEnd - s.rowStart) * outWidth(s);
      return {
        flops: 2 * convMacs(s) * (stridedDepthwise(s) ? STRIDED_DEPTHWISE_COST : 1),
        bytes: 4 * (s.n * s.c * s.h * s.w + s.oc * (s.c / s.group) * s.kh * s.kw +
          out * (s.residual ? 2 : 1)),
      };
    },
    plan: (s, t) => planConv(s, t.isa, t),
    fallbackPlan: (s) => planConv(s, "scalar"),
    generate: generateConv,
    partition: convParts,
    // One part per thread where parts cut one image's rows or channels (each rebuilds input
    // planes): measured on Zen 5 (2 threads, deno task compare --conv), 2 parts against 8 ran
    // 3×3 56² 579 → 509 µs, 3×3/2 716 → 544, 14² 620 → 548, 7² 719 → 632. Splits over images
    // or groups rebuild nothing: the policy's (depthwise 14² took 14.5 µs in 2 parts, 12.2 in 8).
    partsPerThread: (s) => (s.n > 1 || s.group > 1 ? Infinity : 1),
    candidates: (s, p, _t, parts) => {
      const out: ConvPlan[] = [];
      for (const c of convChoices(s, p, parts > 1)) {
        try {
          out.push(planConv(s, p.isa, p, c));
        } catch {
          // A tile the epilogue leaves no room for: not a candidate.
        }
      }
      return out;
    },
    reference: (s, [x, w, b, r, _wv, y]) => convReference(s, x, w, b, r, y),
  };
}

/**
 * Output channels per unit of a split over channels: whole tiles, or for
 * the channel-vector kernel single vectors of 16 when whole 32-channel
 * tiles do not share out evenly (160 channels on 2 threads: 96 + 64, the
 * longer part 20% over the mean; in vectors 80 + 80, each part's last
 * block one vector wide). Zen 5, 2 threads, two Jits alternating: 3×3
 * 128→160 and 160→160 on 14² (Inception v2's) 215 → 163 and 265 → 201 µs.
 */
function channelGrain(s: ConvSpec, plan: ConvPlan, parts: number): number {
  if (plan.cv === null) return plan.mr;
  const tiles = Math.ceil(s.oc / plan.mr);
  return tiles % parts === 0 ? plan.mr : plan.mr / plan.cv.vectors;
}

/**
 * An NCHW depthwise convolution strided across: its kernels gather each tap's columns with a
 * shuffle beside the FMA and fill at most 14 of 16 lanes with a 7-wide row (depthwise.ts,
 * depthwise_packed.ts), so its time is several times its flops at the FMA peak.
 */
function stridedDepthwise(s: ConvSpec): boolean {
  return !s.nhwc && s.sw > 1 && s.group > 1 && s.c === s.group && s.oc === s.group;
}

/**
 * The factor on a strided NCHW depthwise call's flops in its cost, where the split decides
 * (the policy's estimate at the FMA rate): counted as they are, 3×3/2 on 14²×576 (10 µs on one
 * thread) stayed whole on 2 threads. Intel Xeon (SPR), `deno run -A bench/ab.ts --a 61a5d9b
 * --b 4b81adc --conv 1,C,H,H,C,3,2,C,1 --activation clip --threads 2`: 576 on 14² ×0.647 of the
 * time (one thread ×1.002), 192 on 28² ×1.019 (unresolved: pairs' middle half 0.972-1.086),
 * `--model mobilenet` ×0.994.
 */
const STRIDED_DEPTHWISE_COST = 4;

/**
 * A 1×1 layer of at most this many output positions splits over output
 * channels even where its weights weigh less than its input (each part
 * then writes whole planes of y). Why bands lose here is not established:
 * at 14² a band's edge shares a line of every plane with the other core's
 * band, but 16-wide rows (whole lines) lose as much. Measured on Zen 3, 2
 * threads, operands cold (`deno run -A bench/ab.ts --a b1b6ca0 --b
 * 871d24e --conv … --rotate 4 --threads 2`), MobileNetV2's 1×1 layers
 * on 14²: 576→96 with its residual ×0.904 of the time in bands, 384→64 with
 * its residual ×0.896, 384→96 ×0.854, 192→64 ×0.901; 64→32 on 16² ×0.733;
 * the whole model (`--model mobilenet --threads 2`, three runs) ×0.965-0.994.
 * Over all 1×1 layers (56² and 112² too) the model ran ×1.015-1.017.
 */
const SMALL_POINTWISE_POSITIONS = 256;

/**
 * Output rows from which an NCHW depthwise layer splits into bands of rows rather than groups
 * of channels. In a model the layer before wrote x in bands (a 1×1 layer over many positions
 * splits so), and a band of the depthwise layer reads the rows its own core wrote, where a
 * group of channels reads half of its planes from the other core; a thread's bands are
 * consecutive (its range of parts), so the halo rows it reads (one each side at 3×3) are
 * mostly its own. Smaller planes keep groups (a band's halo weighs more, and the 1×1 layers
 * around them split over channels). Measured on an Intel Xeon
 * (SPR), MobileNetV2 at 2 threads (`deno run -A bench/ab.ts --a 54cfdca --b 45c3dcc --model
 * mobilenet --threads 2 [--blocks 80]`, two runs): ×0.987 and ×0.976 of the time (the middle
 * halves of the pairs' ratios 0.960-1.013 and 0.948-1.019: small against this host's noise).
 * From 28 rows that was; a layer alone then ran no faster on 2 threads than on 1 in 8 bands of
 * 3-4 rows (`deno run -A bench/conv_threads.ts --shapes "192,192,28,28,3,192"` at f17d895: 25.0
 * against 24.8 µs), each band paying every channel's fixed work (weights, pointers, halo rows)
 * for a few rows. Bands now from 57 rows (112² planes): `deno run -A bench/ab.ts --a edf7a70
 * --b b6ed0cb --conv 1,C,H,H,C,3,S,C,1 --activation clip --threads 2` (the same bits): 192 on 28²
 * ×0.601 (x, y and weights cold, `--rotate 4`, at tried/dw-bands-29: ×0.596), 144 on 56² ×0.764,
 * 144 on 56² stride 2 ×0.781; 32 on 112² keeps its bands (groups ×1.032 at tried/dw-bands-57);
 * `--model mobilenet --threads 2 --blocks 80`, three runs: ×0.986, ×0.984, ×0.985 (middle halves
 * 0.975-1.000).
 */
const DEPTHWISE_BAND_ROWS = 57;

/**
 * Output rows an NCHW depthwise band takes at least: of the parts asked (several per thread),
 * the most that divide them and leave each band this many rows. A band pays each channel's
 * fixed work (its weights, the tile's row pointers, the halo rows) for its rows, and 8 bands
 * of 14 rows paid it for too few. Intel Xeon (SPR), 2 threads, `NJIT_DWB=28 deno run -A
 * bench/ab.ts --a 2c4bba1 --b tried/dw-band-min-rows --conv 1,C,112,112,C,3,1,C,1 --activation
 * clip --threads 2` (× the time, the same bits; 4 bands against 8): 32 on 112² ×0.894 (x, y and
 * weights cold, `--rotate 4`: ×0.983), 96 on 112² ×0.920 (56 rows: ×0.887, ×0.928);
 * `--model mobilenet --threads 2 --blocks 80` ×0.999 and ×0.997.
 */
const DEPTHWISE_BAND_MIN_ROWS = 28;

/**
 * Parts over images when there are enough; else over groups when there
 * are enough or the weights outweigh a group's input planes; else over output channels in whole tiles when the weights outweigh the
 * input's planes (a small image with many channels: each part streams only
 * its channels' weights) or the layer is a small 1×1 (`SMALL_POINTWISE_POSITIONS`);
 * else over bands of output rows (each part builds
 * the planes of its band's rows only). Every output is the same FMA chain
 * in any part, so any split gives the same bits.
 */
function convParts(s: ConvSpec, plan: ConvPlan, parts: number): Part<ConvSpec, ConvPlan>[] | null {
  const oh = outHeight(s), ow = outWidth(s), g = convGeometry(s);
  const taps = s.kh * s.kw, planeY = 4 * oh * ow;
  const part = (spec: ConvSpec, offsets: number[]): Part<ConvSpec, ConvPlan> => ({
    spec,
    plan: planConv(spec, plan.isa, plan, plan.choice),
    offsets,
  });
  const split = (total: number, grain = 1, count = parts) => {
    const ranges = splitRange(total, count, grain);
    return ranges.length < 2 ? null : ranges;
  };
  const res = (bytes: number) => (s.residual ? bytes : 0);
  const bands = (count = parts) => {
    const b = linedBands(s, oh, ow);
    return split(b.rowEnd - b.rowStart, 1, count)?.map((r) =>
      part({ ...b, rowStart: b.rowStart + r.start, rowEnd: b.rowStart + r.start + r.count }, [
        0,
        0,
        0,
        0,
        0,
        0,
      ])
    ) ?? null;
  };
  if (s.n >= parts) {
    const xImage = 4 * s.cTotal * s.h * s.w, yImage = s.ocTotal * planeY;
    return split(s.n)?.map((r) =>
      part({ ...s, n: r.count }, [
        r.start * xImage,
        0,
        0,
        res(r.start * yImage),
        0,
        r.start * yImage,
      ])
    ) ?? null;
  }
  // A call in halves of its input channels: a half a part, the last to finish adding them
  // (k_halves.ts), where the combining code serves (AVX2, AVX-512; NCHW y) and tier 2 chose
  // no split. NHWC's tiles sum both halves themselves, split like any other call's.
  if (
    s.kHalves && !s.nhwc && s.kPart === undefined && plan.choice?.split === undefined &&
    (plan.isa === "avx2" || plan.isa === "avx512")
  ) {
    return ([0, 1] as const).map((h) => part({ ...s, kPart: h }, [0, 0, 0, 0, 0, 0]));
  }
  // NHWC depthwise: bands of rows (a group is a channel: parts of channels would read every
  // position's row piecemeal). NCHW depthwise with planes of many rows: bands too
  // (DEPTHWISE_BAND_ROWS).
  if (plan.depthwise && s.nhwc) return bands();
  if (plan.depthwise && oh >= DEPTHWISE_BAND_ROWS) {
    return bands(
      divisorAtMost(parts, Math.floor((s.rowEnd - s.rowStart) / DEPTHWISE_BAND_MIN_ROWS)),
    );
  }
  // Over groups when every part gets one, or when the weights outweigh a group's planes: a
  // band of rows would stream every group's weights (ShuffleNet's 1×1 group-4 convs on 7²
  // took 50 µs at 2 threads in 7 row bands, 38 µs on one thread).
  const weights = 4 * s.oc * g.cg * taps, planes = 4 * g.cg * g.channelStride;
  const chosen = plan.choice?.split;
  const byGroups = chosen === undefined
    ? s.group >= parts || (s.group > 1 && weights > planes)
    : chosen === "groups" && s.group > 1;
  if (byGroups) {
    return split(s.group)?.map((r) => {
      const y = r.start * g.ocg * planeY;
      // (No channel-vector copy serves a part of the groups: a part of one group would read
      // the whole call's copy as its own.)
      return part(
        { ...s, group: r.count, c: g.cg * r.count, oc: g.ocg * r.count, wLanes: 0 },
        [
          4 * r.start * g.cg * s.h * s.w,
          4 * r.start * g.ocg * g.cg * taps,
          4 * r.start * g.ocg,
          res(y),
          0,
          y,
        ],
      );
    }) ?? null;
  }
  const byChannels = chosen === undefined
    ? weights > planes || (taps === 1 && oh * ow <= SMALL_POINTWISE_POSITIONS)
    : chosen === "channels";
  if (s.group === 1 && !s.flip && byChannels && s.oc >= 2 * plan.mr) {
    return split(s.oc, channelGrain(s, plan, parts))?.map((r) => {
      // NHWC: a part's channels are a column range of every position's row.
      const y = s.nhwc ? 4 * r.start : r.start * planeY;
      // The channel-vector copy of w serves a part only from the start of one of its blocks.
      // Its block of channel r.start lies as far into that copy as the channel's row into w's
      // ONNX one ([oc/L][k][L] against [oc][k]).
      const wLanes = s.wLanes && r.start % s.wLanes === 0 ? s.wLanes : 0;
      const wBytes = 4 * r.start * g.cg * taps;
      return part({ ...s, oc: r.count, wLanes }, [
        0,
        wBytes,
        4 * r.start,
        res(y),
        wLanes ? wBytes : 0,
        y,
      ]);
    }) ?? null;
  }
  return bands();
}

/**
 * The call whose rows its bands cut: as it is, or (a 1×1 stride-1 unpadded
 * NCHW call on the whole image, whose rows are not whole 64-byte lines but
 * whose planes are) the same positions as rows of 16 (a line each), so a
 * band's first position starts a line of every plane of y: with 28-wide
 * rows (112 bytes) two bands of 14 rows met mid-line in each of y's planes,
 * a line both cores wrote. Positions are one flat run either way (x read in
 * place, same FMA chains, same bits). Intel Xeon (SPR), 2 threads,
 * `deno run -A bench/conv_threads.ts` at a202157: 32→192 on 28×28 ×1.24
 * and ×1.34 of the 1-thread speed, on 24×28 and 32×28 (bands meeting on a
 * line) ×1.43-1.49. `deno run -A bench/ab.ts --a a202157 --b ca61ab9
 * --threads 2`: `--conv 1,32,28,28,192,1,1 --activation clip` ×0.733 of the
 * time; `--model mobilenet` ×0.954 (pairs' middle half 0.949-0.985) and
 * ×0.960; `--model resnet50` ×0.991 and ×1.031 (unresolved: middle halves
 * across 1).
 */
function linedBands(s: ConvSpec, oh: number, ow: number): ConvSpec {
  const flat = s.kh === 1 && s.kw === 1 && readsInPlace(s) && !s.nhwc && !s.flip &&
    s.rowStart === 0 && s.rowEnd === oh;
  const positions = oh * ow;
  if (!flat || (ow * 4) % 64 === 0 || positions % 16 !== 0) return s;
  return { ...s, h: positions / 16, w: 16, rowStart: 0, rowEnd: positions / 16 };
}

/**
 * The f64 direct convolution, rounded to f32, then bias, residual (f32
 * adds) and activation. x is read upsampled and w flipped when the spec
 * says so (a transposed convolution).
 */
export function convReference(
  s: ConvSpec,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  residual: Float32Array,
  y: Float32Array,
): void {
  const oh = outHeight(s), ow = outWidth(s);
  const cg = s.c / s.group, ocg = s.oc / s.group;
  const act = s.activation ? UNARY_OPS[s.activation.op] : null;
  for (let n = 0; n < s.n; n++) {
    for (let o = 0; o < s.oc; o++) {
      const grp = Math.floor(o / ocg);
      for (let i = s.rowStart; i < s.rowEnd; i++) {
        for (let j = 0; j < ow; j++) {
          let sum = 0;
          for (let c = 0; c < cg; c++) {
            const ic = grp * cg + c;
            for (let a = 0; a < s.kh; a++) {
              const uh = i * s.sh + a * s.dh - s.pt, ih = uh / s.uh;
              const rowOut = uh < 0 || ih >= s.h;
              if (s.flip && (rowOut || uh % s.uh)) continue;
              for (let b = 0; b < s.kw; b++) {
                const uw = j * s.sw + b * s.dw - s.pl, iw = uw / s.uw;
                const wi = s.flip
                  ? ((ic * ocg + (o % ocg)) * s.kh + s.kh - 1 - a) * s.kw + s.kw - 1 - b
                  : ((o * cg + c) * s.kh + a) * s.kw + b;
                if (!s.flip && (rowOut || uw < 0 || iw >= s.w)) {
                  // ONNX pads x with zeros: a ±Inf or NaN weight there gives NaN (a finite
                  // one adds ±0, which changes no sum that started at +0).
                  sum += 0 * w[wi];
                  continue;
                }
                if (uw < 0 || iw >= s.w || uw % s.uw) continue;
                sum += x[((n * s.cTotal + ic) * s.h + ih) * s.w + iw] * w[wi];
              }
            }
          }
          let t = Math.fround(sum);
          if (s.bias) t = Math.fround(t + bias[o]);
          const at = ((n * s.ocTotal + o) * oh + i) * ow + j;
          if (s.residual) t = Math.fround(t + residual[at]);
          y[at] = act ? act.reference(t, s.activation!.params) : t;
        }
      }
    }
  }
}
