/**
 * The 8-bit convolution without VNNI: one sum at a time over the same
 * pixel words (movzx, movsx, imul), the same store terms and requantizing
 * in scalar SSE.
 *
 * @module
 */
import {
  al,
  type Assembler,
  byte,
  dword,
  eax,
  GP32,
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
  rsp,
  XMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import {
  channelGroups,
  outBytes,
  type PixelLayout,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
} from "./spec.ts";
import { CHUNK, OCH, OY, YIMG, YROW } from "./frame.ts";
import { bounds, channelTerm, tapOffset } from "./terms.ts";

const r15d = GP32[15];

/** One sum at a time over the band: output channel, row, position. */
export function emitScalar(a: Assembler, s: QConvSpec, L: PixelLayout): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), eb = outBytes(s);
  const taps = s.kh * s.kw, groups = channelGroups(s.c), chWeights = groups * taps * 4;
  // esi: the sum (x's image pointer lives in the frame); r8d: a product's second factor.
  const sum = GP32[6], factor = GP32[8];
  const [lo, hi] = bounds(s);
  if (s.out) {
    a.emit("mov", eax, lo);
    a.emit("cvtsi2ss", XMM[1], eax);
    a.emit("mov", eax, hi);
    a.emit("cvtsi2ss", XMM[2], eax);
  }
  // rcx: the channel's byte offset (4·o), rbx: its weights, r12: the band's row, r10: the
  // position's words, r11: its y.
  a.emit("xor", rcx, rcx);
  a.emit("mov", rbx, rdx);
  // [YROW]: y's channel o at its band's first row, YIMG + o·oh·ow·eb + rowStart·ow·eb.
  a.emit("mov", rax, qword(rsp, YIMG));
  addImmediate(a, "add", rax, s.rowStart * ow * eb);
  a.emit("mov", qword(rsp, YROW), rax);
  frameLoop(a, OCH, s.oc, () => {
    a.emit("mov", r11, qword(rsp, YROW));
    a.emit("mov", r12, r9);
    frameLoop(a, OY, s.rowEnd - s.rowStart, () => {
      a.emit("mov", r10, r12);
      frameLoop(a, CHUNK, ow, () => {
        a.emit("xor", sum, sum);
        a.emit("mov", r13, r10);
        a.emit("mov", r14, rbx);
        countedLoop(a, r15, groups, () => {
          for (let t = 0; t < taps; t++) {
            const at = tapOffset(s, L, t);
            for (let q = 0; q < 4; q++) {
              a.emit("movzx", eax, byte(r13, at + q));
              a.emit("movsx", factor, byte(r14, 4 * t + q));
              a.emit("imul", eax, factor);
              a.emit("add", sum, eax);
            }
          }
          addImmediate(a, "add", r13, L.groupBytes);
          a.emit("add", r14, taps * 4);
        });
        if (channelTerm(a, s, 0, r15d)) a.emit("add", sum, eax);
        if (s.out === 0) a.emit("mov", dword(r11, 0), sum);
        else {
          a.emit("cvtsi2ss", XMM[0], sum);
          a.emit("mulss", XMM[0], s.scale === 2 ? dword(rdi, 0, rcx, 1) : dword(rdi, 0));
          a.emit("maxss", XMM[0], XMM[1]);
          a.emit("minss", XMM[0], XMM[2]);
          a.emit("cvtss2si", eax, XMM[0]);
          a.emit("add", eax, s.yZero);
          a.emit("mov", byte(r11, 0), al);
        }
        a.emit("add", r10, 4);
        a.emit("add", r11, eb);
      });
      addImmediate(a, "add", r12, s.sh * L.rowBytes);
    });
    a.emit("add", rcx, 4);
    addImmediate(a, "add", rbx, chWeights);
    addImmediate(a, "add", qword(rsp, YROW), oh * ow * eb);
  });
}
