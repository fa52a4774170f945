/**
 * The 8-bit convolution's pixel words (see spec.ts): the band's input rows
 * of the image at [rsp + XIMG] written into the workspace, each padded
 * column's 4 channel bytes as one dword, the columns of each stride phase
 * together — AVX-512 16 words at a time (`vpmovzxbd` at stride 1,
 * `vpmovzxwd` at stride 2, shifts and ors), AVX2 8, else one word at a
 * time.
 *
 * @module
 */
import {
  type Assembler,
  byte,
  dword,
  eax,
  GP32,
  KREG,
  ptr,
  qword,
  r10,
  r12,
  r13,
  r14,
  r15,
  r9,
  rbx,
  rcx,
  rsp,
  XMM,
  YMM,
  ZMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { type PixelLayout, type QConvSpec, unsignedZero } from "./spec.ts";
import { XIMG } from "./frame.ts";

const r11d = GP32[11];
/** za in every byte of a dword; the sign bits of a dword's 4 bytes. */
const repeat4 = (b: number) => Math.imul(b & 255, 0x01010101);
const SIGN_BITS = repeat4(0x80);

/**
 * The band's pixel words of the image at [rsp + XIMG] into the workspace
 * (r9), written in order: groups of 4 channels, their padded rows, each
 * row's stride phases. Uses rax, rcx, rbx, r10-r15.
 */
export function emitPixelWords(
  a: Assembler,
  s: QConvSpec,
  L: PixelLayout,
  level: "avx512" | "avx2" | null,
): void {
  const avx2 = level === "avx2", vector = level === "avx512";
  const FILL = ZMM[31], FLIP = ZMM[30];
  const T = (q: number) => ZMM[26 + q];
  // AVX2: the same steps on 8 words (no masks: the last ones are word by word).
  const FILL8 = YMM[15], FLIP8 = YMM[14], T8 = (q: number) => YMM[10 + q];
  const fillWord = repeat4(unsignedZero(s));
  if (vector) {
    a.emit("mov", eax, fillWord);
    a.emit("vpbroadcastd", FILL, eax);
    if (s.xSigned) {
      a.emit("mov", eax, SIGN_BITS);
      a.emit("vpbroadcastd", FLIP, eax);
    }
  } else if (avx2) {
    // (AVX2 broadcasts from a vector register, not a general one.)
    a.emit("mov", eax, fillWord);
    a.emit("vmovd", XMM[15], eax);
    a.emit("vpbroadcastd", FILL8, XMM[15]);
    if (s.xSigned) {
      a.emit("mov", eax, SIGN_BITS);
      a.emit("vmovd", XMM[14], eax);
      a.emit("vpbroadcastd", FLIP8, XMM[14]);
    }
  }
  /** Writes `bytes` (a multiple of 4) of za words at rbx and moves past them. */
  const fill = (bytes: number) => {
    if (bytes <= 0) return;
    if (vector) {
      countedLoop(a, rcx, Math.floor(bytes / 64), () => {
        a.emit("vmovdqu32", ptr(rbx, 0).withSize(64), FILL);
        a.emit("add", rbx, 64);
      });
      const rest = (bytes % 64) / 4;
      if (rest) {
        a.emit("mov", eax, (1 << rest) - 1);
        a.emit("kmovw", KREG[2], eax);
        a.emit("vmovdqu32", ptr(rbx, 0).withSize(64).k(KREG[2]), FILL);
        a.emit("add", rbx, rest * 4);
      }
    } else {
      let left = bytes;
      if (avx2 && bytes >= 32) {
        countedLoop(a, rcx, Math.floor(bytes / 32), () => {
          a.emit("vmovdqu", ptr(rbx, 0).withSize(32), FILL8);
          a.emit("add", rbx, 32);
        });
        left = bytes % 32;
      }
      if (left === 0) return;
      a.emit("mov", eax, fillWord);
      countedLoop(a, rcx, left / 4, () => {
        a.emit("mov", dword(rbx, 0), eax);
        a.emit("add", rbx, 4);
      });
    }
  };
  const plane = s.h * s.w;
  /** `count` words from the planes' columns at r10 (stride sw), `planes` of them real. */
  const words = (words: number, planes: number) => {
    let count = words;
    if (count <= 0) return;
    if (vector && s.sw === 1) {
      const step = (masked: boolean) => {
        for (let q = 0; q < planes; q++) {
          const src = ptr(r10, q * plane).withSize(16);
          a.emit("vpmovzxbd", masked ? T(q).k(KREG[2]).z : T(q), src);
          if (q > 0) {
            a.emit("vpslld", T(q), T(q), 8 * q);
            a.emit("vpord", T(0), T(0), T(q));
          }
        }
        if (s.xSigned) a.emit("vpxord", T(0), T(0), FLIP);
        const to = ptr(rbx, 0).withSize(64);
        a.emit("vmovdqu32", masked ? to.k(KREG[2]) : to, T(0));
      };
      countedLoop(a, rcx, Math.floor(count / 16), () => {
        step(false);
        a.emit("add", r10, 16);
        a.emit("add", rbx, 64);
      });
      const rest = count % 16;
      if (rest) {
        a.emit("mov", eax, (1 << rest) - 1);
        a.emit("kmovw", KREG[2], eax);
        step(true);
        a.emit("add", rbx, rest * 4);
      }
      return;
    }
    if (avx2 && s.sw === 1 && count >= 8) {
      countedLoop(a, rcx, Math.floor(count / 8), () => {
        for (let q = 0; q < planes; q++) {
          a.emit("vpmovzxbd", T8(q), qword(r10, q * plane));
          if (q > 0) {
            a.emit("vpslld", T8(q), T8(q), 8 * q);
            a.emit("vpor", T8(0), T8(0), T8(q));
          }
        }
        if (s.xSigned) a.emit("vpxor", T8(0), T8(0), FLIP8);
        a.emit("vmovdqu", ptr(rbx, 0).withSize(32), T8(0));
        a.emit("add", r10, 8);
        a.emit("add", rbx, 32);
      });
      count %= 8;
    }
    // Stride 2: W words (16 AVX-512, 8 AVX2) from 2W bytes of each plane — each byte pair
    // zero-extended into a dword (`vpmovzxwd`), the even column's byte kept (shifted to the top,
    // then down to its place). The last 1-W words one at a time below: a vector there would read
    // the byte after the row's last column, past x's end on its last row.
    const W = vector ? 16 : 8;
    if ((vector || avx2) && s.sw === 2 && count > W) {
      const Tq = vector ? T : T8, or = vector ? "vpord" : "vpor";
      const steps = Math.floor((count - 1) / W);
      countedLoop(a, rcx, steps, () => {
        for (let q = 0; q < planes; q++) {
          a.emit("vpmovzxwd", Tq(q), ptr(r10, q * plane).withSize(2 * W));
          a.emit("vpslld", Tq(q), Tq(q), 24);
          if (q < 3) a.emit("vpsrld", Tq(q), Tq(q), 24 - 8 * q);
          if (q > 0) a.emit(or, Tq(0), Tq(0), Tq(q));
        }
        if (s.xSigned) a.emit(vector ? "vpxord" : "vpxor", Tq(0), Tq(0), vector ? FLIP : FLIP8);
        a.emit(vector ? "vmovdqu32" : "vmovdqu", ptr(rbx, 0).withSize(4 * W), Tq(0));
        a.emit("add", r10, 2 * W);
        a.emit("add", rbx, 4 * W);
      });
      count -= W * steps;
    }
    countedLoop(a, rcx, count, () => {
      a.emit("movzx", eax, byte(r10, 0));
      for (let q = 1; q < planes; q++) {
        a.emit("movzx", r11d, byte(r10, q * plane));
        a.emit("shl", r11d, 8 * q);
        a.emit("or", eax, r11d);
      }
      if (s.xSigned) a.emit("xor", eax, SIGN_BITS);
      a.emit("mov", dword(rbx, 0), eax);
      a.emit("add", rbx, 4);
      a.emit("add", r10, s.sw);
    });
  };
  // Rows of the band: iy = top + r; those above 0 or from h on are padding.
  const top = s.rowStart * s.sh - s.pt;
  const above = Math.min(L.rows, Math.max(0, -top));
  const inside = Math.max(0, Math.min(L.rows, s.h - top) - above);
  const below = L.rows - above - inside;
  /** One row at r12 (its first column), `planes` planes real. */
  const row = (planes: number) => {
    for (let ph = 0; ph < s.sw; ph++) {
      // Word j of the phase is padded column j·sw + ph, input column j·sw + ph − pl.
      const P = L.phaseWords;
      const lo = Math.min(P, Math.max(0, Math.ceil((s.pl - ph) / s.sw)));
      const hi = Math.min(P, Math.max(lo, Math.floor((s.w + s.pl - ph - 1) / s.sw) + 1));
      fill(lo * 4);
      if (hi > lo) {
        a.emit("lea", r10, ptr(r12, lo * s.sw + ph - s.pl));
        words(hi - lo, planes);
      }
      fill((P - hi) * 4);
    }
  };
  /** One group of channels from the plane at r13. */
  const group = (planes: number) => {
    fill(above * L.rowBytes);
    if (inside > 0) {
      a.emit("lea", r12, ptr(r13, (top + above) * s.w));
      countedLoop(a, r15, inside, () => {
        row(planes);
        addImmediate(a, "add", r12, s.w);
      });
    }
    fill(below * L.rowBytes);
  };
  a.emit("mov", rbx, r9);
  a.emit("mov", r13, qword(rsp, XIMG));
  countedLoop(a, r14, Math.floor(s.c / 4), () => {
    group(4);
    addImmediate(a, "add", r13, 4 * plane);
  });
  if (s.c % 4) group(s.c % 4);
}
