/**
 * The 8-bit convolution's machine code, per image: first the band's input
 * rows as pixel words in the workspace (see spec.ts; AVX-512 interleaves 16
 * columns of 4 channel planes with `vpmovzxbd` at stride 1 and `vpmovzxwd` at
 * stride 2, shifts and ors; other strides and levels one word at a time),
 * then the sums. With VNNI,
 * tiles of 6 output channels × 4 vectors of 16 positions of one output row,
 * 24 int32 accumulators: per group of 4 input channels and tap, the 4
 * vectors of pixel words loaded once and each channel's 4 weight bytes
 * broadcast, `vpdpbusd` adding the 4 products u8 × s8 to each lane (sums
 * wrap as int32). Then each channel's bias − za·Σw is added and the sums
 * stored as int32, or requantized: converted (nearest even), times the
 * multiplier, clamped to the output's range less its zero point, converted
 * back (nearest even), the zero point added and narrowed into NCHW bytes.
 * Without VNNI, from AVX2 up: word tiles of `vpmaddwd` over the same pixel
 * words (madd.ts); below AVX2 a scalar loop. Integer sums in any
 * order are the same and the requantizing is one float32 operation per
 * step: every plan gives the same bits.
 *
 * @module
 */
import { Assembler, type Program, qword, r9, rax, rbp, rdi, rdx, rsp } from "../../../asm/mod.ts";
import {
  addImmediate,
  frameLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import {
  outBytes,
  pixelLayout,
  QCONV_ARG,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
} from "./spec.ts";
import { FRAME, IMG, USED, XIMG, YIMG } from "./frame.ts";
import { emitPixelWords } from "./pixel_words.ts";
import { emitScalar } from "./scalar.ts";
import { emitVnni } from "./vnni.ts";
import { emitMaddConv, emitWidenWeights, MADD_CHANNELS, widenedWeightBytes } from "./madd.ts";
import type { VecLevel } from "../vec.ts";

/** How an 8-bit convolution is computed. */
export interface QConvPlan extends KernelPlan {
  /** "vnni": the vpdpbusd tiles; "madd": AVX2's word tiles (madd.ts); "scalar": one sum at a time. */
  path: "vnni" | "madd" | "scalar";
  /** Output channels per tile. */
  mr: number;
  /** Vectors of 16 positions per tile. */
  nv: number;
}

/**
 * 6 channels × 4 vectors: 24 accumulators, 4 pixel vectors and 2 broadcasts
 * of weights in 30 registers (the 8-bit GEMM's tile, measured there).
 */
const MR = 6, NV = 4;

/** A VNNI plan of `mr` channels × `nv` vectors (mr·nv ≤ 24, nv ≤ 6: 32 registers). */
export function vnniPlan(s: QConvSpec, mr: number, nv: number): QConvPlan {
  return {
    path: "vnni",
    mr,
    nv,
    workspaceBytes: pixelLayout(s).bytes,
    description: `avx512 vnni pixel words, ${mr} channels × ${nv * 16} positions of vpdpbusd`,
  };
}

/**
 * Tier 2's other tiles: the same integer sums and per-element store in
 * another order, so the same bits (more channels a tile share each pixel
 * load; more vectors, each weight broadcast).
 */
export const VNNI_TILES: readonly [number, number][] = [[8, 3], [12, 2], [4, 6], [4, 4]];

/**
 * The plan: VNNI tiles where the level is AVX-512 and the CPU has VNNI, else
 * the word tiles from AVX2 up, else the loop.
 */
export function planQConv(s: QConvSpec, level: VecLevel, vnni: boolean): QConvPlan {
  const workspaceBytes = pixelLayout(s).bytes;
  if (level === "avx512" && vnni) return vnniPlan(s, MR, NV);
  if (level === "avx2" || level === "avx512") {
    return {
      path: "madd",
      mr: MADD_CHANNELS,
      nv: 0,
      workspaceBytes: workspaceBytes + (s.narrowW ? 0 : widenedWeightBytes(s)),
      description: s.narrowW
        ? `avx2 pixel words, ${MADD_CHANNELS} channels × 8 positions of vpmaddubsw on bytes (w within ±64)`
        : `avx2 pixel words, ${MADD_CHANNELS} channels × 8 positions of vpmaddwd on words`,
    };
  }
  return { path: "scalar", mr: 1, nv: 0, workspaceBytes, description: "pixel words, scalar loop" };
}

/** Emits `void kernel(args)`. */
export function generateQConv(
  s: QConvSpec,
  plan: QConvPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const L = pixelLayout(s), vnni = plan.path === "vnni";
  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rax, QCONV_ARG.X);
  a.emit("mov", qword(rsp, XIMG), rax);
  loadPointer(a, rax, QCONV_ARG.Y);
  a.emit("mov", qword(rsp, YIMG), rax);
  loadPointer(a, rdx, QCONV_ARG.W);
  if (s.bias) loadPointer(a, rbp, QCONV_ARG.BIAS);
  loadPointer(a, r9, WORKSPACE_SLOT);
  // Last: rdi is the argument block until here.
  if (s.scale) loadPointer(a, rdi, QCONV_ARG.SCALE);
  const madd = plan.path === "madd";
  if (L.rows > 0) {
    if (madd && !s.narrowW) emitWidenWeights(a, s, L.bytes);
    frameLoop(a, IMG, s.n, () => {
      emitPixelWords(a, s, L, vnni ? "avx512" : madd ? "avx2" : null);
      if (vnni) emitVnni(a, s, L, plan);
      else if (madd) emitMaddConv(a, s, L, plan.mr, L.bytes);
      else emitScalar(a, s, L);
      addImmediate(a, "add", qword(rsp, XIMG), s.c * s.h * s.w);
      addImmediate(
        a,
        "add",
        qword(rsp, YIMG),
        s.ocTotal * qconvOutHeight(s) * qconvOutWidth(s) * outBytes(s),
      );
    });
  }
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  if (vnni || madd) a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}
