/**
 * The 8-bit convolution without VNNI (AVX2), as exact as VNNI's: the 8-bit
 * GEMM's word tiles (qgemm/madd.ts) over the pixel words. Per group of 4
 * input channels and tap, 8 positions' pixel words (32 bytes) widen
 * (`vpmovzxbw`) to two vectors whose dword lanes hold a position's channels
 * (c0,c1) and (c2,c3) as words, each output channel's 4 weights — widened
 * to words once a call, into the workspace after the pixel words — are
 * broadcast as a qword, and `vpmaddwd` sums pairs of word products into
 * int32 lanes (2·255·128 cannot overflow). A tile is 6 output channels × 8
 * positions of one output row (12 accumulators); its lane pairs are added
 * at the end (`vphaddd`, `vpermq`), then each channel's term is added and
 * the sums stored as int32 or requantized as the VNNI store does, narrowed
 * by saturating packs. A row's last positions (fewer than 8) are a tile of
 * their own whose stores write only them. With weights within ±64 (7-bit)
 * the tiles take the pixel words' and the packed weights' bytes as they
 * are: `vpmaddubsw` and a `vpmaddwd` by ones, one accumulator a channel.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  eax,
  GP32,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r9,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsp,
  XMM,
  YMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import { Vec, vecIsa } from "../vec.ts";
import { emitWidenBytes, loadWordOnes, narrowBytes8, storeLowBytes } from "../bytes.ts";
import { packedWeightBytes } from "./pack.ts";
import {
  channelGroups,
  outBytes,
  type PixelLayout,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
} from "./spec.ts";
import { CHUNK, OY, TILE, YCHUNK, YIMG, YROW } from "./frame.ts";
import { bounds, channelTerm, tapOffset } from "./terms.ts";

/** Output channels per tile: 6 × 2 accumulators, 2 pixel vectors, a broadcast and a product. */
export const MADD_CHANNELS = 6;
/** Positions per tile: two vectors of 4 (a dword lane per pair of channels each). */
const POSITIONS = 8;

const r15d = GP32[15];

/** Bytes of the part's weights widened to words (after the pixel words in the workspace). */
export function widenedWeightBytes(s: QConvSpec): number {
  return 2 * packedWeightBytes(s.oc, s.c, s.kh, s.kw);
}

/**
 * The part's packed weights (rdx) as words into the workspace at r9 +
 * `at`, once a call (before the image loop: the pixel words before them
 * are rewritten every image, these are not).
 */
export function emitWidenWeights(a: Assembler, s: QConvSpec, at: number): void {
  a.emit("mov", r13, rdx);
  a.emit("lea", r14, ptr(r9, at));
  emitWidenBytes(a, r13, r14, packedWeightBytes(s.oc, s.c, s.kh, s.kw), true, rax);
}

/** The accumulator of channel i, vector j (4 positions each). */
const acc = (i: number, j: number): Reg => YMM[2 * i + j];
const X0 = 12, X1 = 13, W = 14, PROD = 15;

/** The word tiles over the band (pixel words at r9, the weights' words at r9 + `weightsAt`). */
export function emitMaddConv(
  a: Assembler,
  s: QConvSpec,
  L: PixelLayout,
  mr: number,
  weightsAt: number,
): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), eb = outBytes(s);
  const taps = s.kh * s.kw, groups = channelGroups(s.c), narrow = s.narrowW;
  // A channel's weights as the tiles read them: words (widened), or the packed bytes (narrow).
  const tapBytes = narrow ? 4 : 8, chWords = groups * taps * tapBytes, yPlane = oh * ow * eb;
  const v = new Vec(a, vecIsa("avx2"));
  const [lo, hi] = bounds(s);
  /** One tile of `rows` channels × `lanes` positions: pixel words at r10, weights rbx, y r11. */
  const tile = (rows: number, lanes: number) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < 2; j++) a.emit("vpxor", acc(i, j), acc(i, j), acc(i, j));
    }
    a.emit("mov", r13, r10);
    a.emit("mov", r14, rbx);
    // Narrow: sixteen words of 1 (vpmaddwd by them sums each pair of words) in acc(0, 1), free
    // there: the byte tiles' sums are in position order in acc(i, 0).
    const ONES = acc(0, 1);
    if (narrow) loadWordOnes(a, ONES);
    countedLoop(a, r15, groups, () => {
      for (let t = 0; t < taps; t++) {
        // Positions past the row's read its next words or the workspace's slack: never stored.
        const at = tapOffset(s, L, t);
        if (narrow) {
          // 8 positions' pixel words (u8) × each channel's 4 weight bytes: vpmaddubsw's pairs.
          a.emit("vmovdqu", YMM[X0], ptr(r13, at).withSize(32));
          for (let i = 0; i < rows; i++) {
            a.emit("vpbroadcastd", YMM[W], dword(r14, i * chWords + 4 * t));
            a.emit("vpmaddubsw", YMM[PROD], YMM[X0], YMM[W]);
            a.emit("vpmaddwd", YMM[PROD], YMM[PROD], ONES);
            a.emit("vpaddd", acc(i, 0), acc(i, 0), YMM[PROD]);
          }
          continue;
        }
        a.emit("vpmovzxbw", YMM[X0], ptr(r13, at).withSize(16));
        if (lanes > 4) a.emit("vpmovzxbw", YMM[X1], ptr(r13, at + 16).withSize(16));
        for (let i = 0; i < rows; i++) {
          a.emit("vpbroadcastq", YMM[W], qword(r14, i * chWords + 8 * t));
          a.emit("vpmaddwd", YMM[PROD], YMM[W], YMM[X0]);
          a.emit("vpaddd", acc(i, 0), acc(i, 0), YMM[PROD]);
          if (lanes <= 4) continue;
          a.emit("vpmaddwd", YMM[PROD], YMM[W], YMM[X1]);
          a.emit("vpaddd", acc(i, 1), acc(i, 1), YMM[PROD]);
        }
      }
      addImmediate(a, "add", r13, L.groupBytes);
      a.emit("add", r14, taps * tapBytes);
    });
    // Channel i's positions in order in acc(i, 0) (narrow: already).
    for (let i = 0; i < rows && !narrow; i++) {
      a.emit("vphaddd", acc(i, 0), acc(i, 0), acc(i, 1));
      a.emit("vpermq", acc(i, 0), acc(i, 0), 0xd8); // qwords 0, 2, 1, 3
    }
    // Free now: acc(i, 1) of every channel and 12-15.
    const ZP = 12, LO = 13, HI = 14, TERM = 15, SCALE = 1, MASK = 3;
    if (s.out) {
      a.emit("mov", eax, s.yZero);
      a.emit("vmovd", XMM[ZP], eax);
      a.emit("vpbroadcastd", YMM[ZP], XMM[ZP]);
      a.emit("vbroadcastss", YMM[LO], dword(a.constant(new Float32Array([lo]), 4)));
      a.emit("vbroadcastss", YMM[HI], dword(a.constant(new Float32Array([hi]), 4)));
    } else if (lanes < POSITIONS) v.tail(lanes, 1, MASK);
    for (let i = 0; i < rows; i++) {
      const x = acc(i, 0), at = i * yPlane;
      if (channelTerm(a, s, i, r15d)) {
        a.emit("vmovd", XMM[TERM], eax);
        a.emit("vpbroadcastd", YMM[TERM], XMM[TERM]);
        a.emit("vpaddd", x, x, YMM[TERM]);
      }
      if (s.out === 0) {
        const to = ptr(r11, at).withSize(32);
        if (lanes < POSITIONS) a.emit("vpmaskmovd", to, YMM[MASK], x);
        else a.emit("vmovdqu", to, x);
        continue;
      }
      a.emit("vcvtdq2ps", x, x);
      a.emit(
        "vbroadcastss",
        YMM[SCALE],
        s.scale === 2 ? dword(rdi, 4 * i, rcx, 1) : dword(rdi, 0),
      );
      a.emit("vmulps", x, x, YMM[SCALE]);
      a.emit("vmaxps", x, x, YMM[LO]);
      a.emit("vminps", x, x, YMM[HI]);
      a.emit("vcvtps2dq", x, x);
      a.emit("vpaddd", x, x, YMM[ZP]);
      // In range already: the packs' saturation changes nothing.
      narrowBytes8(a, 2 * i, SCALE, s.out === 2);
      if (lanes === POSITIONS) a.emit("vmovq", qword(r11, at), XMM[2 * i]);
      else {
        // Only the row's positions.
        a.emit("vmovq", rax, XMM[2 * i]);
        storeLowBytes(a, r11, at, lanes);
      }
    }
  };
  /** Every channel tile of one chunk of positions (pixel words at r10, y at [YCHUNK]). */
  const chunk = (lanes: number) => {
    a.emit("xor", rcx, rcx);
    if (narrow) a.emit("mov", rbx, rdx); // the packed bytes as they are
    else a.emit("lea", rbx, ptr(r9, weightsAt));
    a.emit("mov", r11, qword(rsp, YCHUNK));
    frameLoop(a, TILE, Math.floor(s.oc / mr), () => {
      tile(mr, lanes);
      a.emit("add", rcx, 4 * mr);
      addImmediate(a, "add", rbx, mr * chWords);
      addImmediate(a, "add", r11, mr * yPlane);
    });
    if (s.oc % mr) tile(s.oc % mr, lanes);
  };
  const full = Math.floor(ow / POSITIONS), rest = ow % POSITIONS;
  a.emit("mov", r12, r9);
  a.emit("mov", rax, qword(rsp, YIMG));
  addImmediate(a, "add", rax, s.rowStart * ow * eb);
  a.emit("mov", qword(rsp, YROW), rax);
  frameLoop(a, OY, s.rowEnd - s.rowStart, () => {
    a.emit("mov", r10, r12);
    a.emit("mov", rax, qword(rsp, YROW));
    a.emit("mov", qword(rsp, YCHUNK), rax);
    frameLoop(a, CHUNK, full, () => {
      chunk(POSITIONS);
      addImmediate(a, "add", r10, POSITIONS * 4);
      addImmediate(a, "add", qword(rsp, YCHUNK), POSITIONS * eb);
    });
    if (rest) chunk(rest);
    addImmediate(a, "add", r12, s.sh * L.rowBytes);
    addImmediate(a, "add", qword(rsp, YROW), ow * eb);
  });
}
