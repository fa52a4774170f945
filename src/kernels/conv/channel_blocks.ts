/**
 * x repacked for the channel-vector kernel at AVX2 (ChannelVectorTile.packedX):
 * a 1×1 layer's NCHW input (or a strided one's subsampled planes), the
 * band's positions, rewritten in the workspace as blocks of 8 channels per
 * position, `[c/8][positions][8]`.
 * A tile's k step then broadcasts from one 32-byte piece per position that
 * serves 8 steps (6 positions: 3 lines for 8 steps), where NCHW gives it a
 * line of its own every step, and the call is the stride-1 1×8
 * convolution `channelBlockCall` describes: the kernel unchanged, each
 * output the same chain of FMAs over the input channels in order (the
 * same bits).
 *
 * Each 8 channels × 8 positions are read as 8 rows, transposed in
 * registers (../transpose.ts) and stored as 8 positions; the band's last
 * positions (fewer than 8) are read masked and only their vectors stored.
 *
 * @module
 */
import { r8, rax, rcx, type Reg } from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { transpose8 } from "../transpose.ts";
import type { Vec } from "../vec.ts";
import { type ConvGeometry, convGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";

/** Channels per block: AVX2's lanes. */
export const CHANNEL_BLOCK = 8;

/** The register holding the tail's lane mask while its rows load (free until the transpose). */
const TAIL_MASK = 15;

/** Positions of the band (its rows of a 1×1 layer's output). */
function bandPositions(g: ConvGeometry): number {
  return g.rows * g.ow;
}

/** Bytes of the workspace the blocks take: every channel of every position of the band. */
export function channelBlockBytes(g: ConvGeometry): number {
  return Math.ceil((g.cg * bandPositions(g) * 4) / 64) * 64;
}

/**
 * The call the channel-vector tiles run on the blocks: a 1×8 convolution,
 * stride (1, 8), over `c/8` channels of an oh × 8·ow image, each channel
 * (a block) `8·positions` floats apart and holding the band's rows only
 * (the caller points x at the blocks less `rowStart` rows). Its taps are
 * the block's 8 channels and its channels the blocks, so the weights'
 * `[oc/8][c][8]` copy reads as `[oc/8][c/8][8 taps][8]` unchanged.
 */
export function channelBlockCall(s: ConvSpec, g: ConvGeometry): { s: ConvSpec; g: ConvGeometry } {
  const B = CHANNEL_BLOCK;
  const q: ConvSpec = { ...s, c: s.c / B, h: g.oh, w: g.ow * B, kw: B, sw: B, dw: 1 };
  // A half's kernel (k_halves.ts): w's full rows in blocks too.
  if (s.wInputs !== undefined) q.wInputs = s.wInputs / B;
  return { s: q, g: { ...convGeometry(q), channelStride: B * bandPositions(g) } };
}

/**
 * Writes the blocks of the band's positions at `dst` from the group's
 * first input channel at `src`: x of the image (the band's first row found
 * here), or (`planes`) the band's subsampled planes, each channel
 * `g.channelStride` floats apart (geometry.ts), `g` then the strided
 * call's. rax, rcx, r8, `src`, `dst` and every vector register are
 * clobbered.
 */
export function emitChannelBlocks(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  src: Reg,
  dst: Reg,
  planes = false,
): void {
  const a = v.a, B = CHANNEL_BLOCK, P = bandPositions(g);
  const plane = (planes ? g.channelStride : s.h * s.w) * 4;
  const full = Math.floor(P / B), rest = P % B;
  if (!planes) addImmediate(a, "add", src, s.rowStart * s.w * 4);
  /** 8 positions (or `lanes`) of the block's 8 channels at r8, stored from `dst` on. */
  const group = (lanes: number) => {
    const tail = lanes < B ? v.tail(lanes, 1, TAIL_MASK) : undefined;
    for (let j = 0; j < B; j++) v.load(j, r8, j * plane, tail);
    const out = transpose8(v);
    for (let p = 0; p < lanes; p++) v.store(dst, p * B * 4, out[p]);
  };
  countedLoop(a, rcx, g.cg / B, () => {
    a.emit("mov", r8, src);
    countedLoop(a, rax, full, () => {
      group(B);
      addImmediate(a, "add", r8, B * 4);
      addImmediate(a, "add", dst, B * B * 4);
    });
    if (rest) {
      group(rest);
      addImmediate(a, "add", dst, rest * B * 4);
    }
    addImmediate(a, "add", src, B * plane);
  });
}
