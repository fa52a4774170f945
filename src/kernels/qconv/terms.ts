/**
 * What the 8-bit convolution's stores and tap loops share: a byte output's
 * clamp bounds, each channel's bias − za·Σw, and a tap's displacement in the
 * pixel words.
 *
 * @module
 */
import { type Assembler, dword, eax, rbp, rcx, rdx, type Reg } from "../../../asm/mod.ts";
import { type PixelLayout, type QConvSpec, unsignedZero } from "./spec.ts";
import { packedWeightBytes } from "./pack.ts";

/** The float32 clamp bounds of a byte output: its range less the zero point. */
export function bounds(s: QConvSpec): [number, number] {
  return s.out === 1 ? [0 - s.yZero, 255 - s.yZero] : [-128 - s.yZero, 127 - s.yZero];
}

/**
 * eax = channel (rcx/4 + i)'s term: its bias − za·Σw (`temp` clobbered);
 * false when there is none (no bias, za 0).
 */
export function channelTerm(a: Assembler, s: QConvSpec, i: number, temp: Reg): boolean {
  const za = unsignedZero(s);
  if (!s.bias && za === 0) return false;
  if (s.bias) a.emit("mov", eax, dword(rbp, 4 * i, rcx, 1));
  else a.emit("xor", eax, eax);
  if (za !== 0) {
    // Σw after every channel's packed weights; rdx is at the part's first channel's.
    const whole = packedWeightBytes(s.ocTotal, s.c, s.kh, s.kw);
    const sums = whole + 4 * s.ocStart - packedWeightBytes(s.ocStart, s.c, s.kh, s.kw);
    a.emit("imul", temp, dword(rdx, sums + 4 * i, rcx, 1), za);
    a.emit("sub", eax, temp);
  }
  return true;
}

/** Displacement of tap t's pixel words from a position's (within a group). */
export function tapOffset(s: QConvSpec, L: PixelLayout, t: number): number {
  const ky = Math.floor(t / s.kw), kx = t % s.kw, col = kx * s.dw;
  return ky * s.dh * L.rowBytes + (col % s.sw) * L.phaseWords * 4 + Math.floor(col / s.sw) * 4;
}
