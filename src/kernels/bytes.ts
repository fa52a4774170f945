/**
 * Bytes at AVX2, for the 8-bit kernels there: a run of bytes widened to
 * words, 8 dwords narrowed to bytes by saturating packs (the clamps of
 * AVX-512's `vpmov[u]sdb`), and a register's low bytes stored one width at
 * a time (AVX2 has no byte-masked store).
 *
 * @module
 */
import {
  al,
  type Assembler,
  dword,
  eax,
  GP16,
  ptr,
  qword,
  rax,
  type Reg,
  word,
  XMM,
  YMM,
} from "../../asm/mod.ts";
import { countedLoop } from "./abi.ts";

/**
 * `bytes` bytes (a multiple of 4) at `from` as words at `to` (zero- or
 * sign-extended), 16 at a time, then 8 and 4; `from` and `to` advance past
 * the 16-byte chunks; ymm0-3 and `counter` clobbered. Reads no byte past
 * the run.
 */
export function emitWidenBytes(
  a: Assembler,
  from: Reg,
  to: Reg,
  bytes: number,
  signed: boolean,
  counter: Reg,
): void {
  const widen = signed ? "vpmovsxbw" : "vpmovzxbw", PER = 4;
  const chunks = Math.floor(bytes / 16), rest = bytes % 16;
  const chunk = (u: number) => {
    a.emit(widen, YMM[u % PER], ptr(from, 16 * u).withSize(16));
    a.emit("vmovdqu", ptr(to, 32 * u).withSize(32), YMM[u % PER]);
  };
  countedLoop(a, counter, Math.floor(chunks / PER), () => {
    for (let u = 0; u < PER; u++) chunk(u);
    a.emit("add", from, 16 * PER);
    a.emit("add", to, 32 * PER);
  });
  for (let u = 0; u < chunks % PER; u++) chunk(u);
  let at = 16 * (chunks % PER);
  if (rest >= 8) {
    a.emit(widen, XMM[0], qword(from, at));
    a.emit("vmovdqu", ptr(to, 2 * at).withSize(16), XMM[0]);
    at += 8;
  }
  if (rest % 8) {
    a.emit("vmovd", XMM[0], dword(from, at));
    a.emit(widen, XMM[0], XMM[0]);
    a.emit("vmovq", qword(to, 2 * at), XMM[0]);
  }
}

/**
 * xmm `x`'s low qword = ymm `x`'s 8 dwords as bytes, saturated signed or
 * unsigned (in order: the packs work within 128-bit halves, the high half
 * first extracted to xmm `t`, clobbered).
 */
export function narrowBytes8(a: Assembler, x: number, t: number, signed: boolean): void {
  a.emit("vextracti128", XMM[t], YMM[x], 1);
  a.emit(signed ? "vpackssdw" : "vpackusdw", XMM[x], XMM[x], XMM[t]);
  a.emit(signed ? "vpacksswb" : "vpackuswb", XMM[x], XMM[x], XMM[x]);
}

/** The low `count` (1-7) bytes of rax to [base + disp]: 4, 2 and 1 at a time (rax clobbered). */
export function storeLowBytes(a: Assembler, base: Reg, disp: number, count: number): void {
  let at = disp;
  if (count >= 4) {
    a.emit("mov", dword(base, at), eax);
    a.emit("shr", rax, 32);
    at += 4;
  }
  if (count % 4 >= 2) {
    a.emit("mov", word(base, at), GP16[0]);
    a.emit("shr", rax, 16);
    at += 2;
  }
  if (count % 2) a.emit("mov", ptr(base, at).withSize(1), al);
}

/**
 * `reg` = sixteen words of 1: `vpmaddwd` by it sums each pair of words into
 * a dword (after `vpmaddubsw`'s pairs of byte products, a group of 4).
 */
export function loadWordOnes(a: Assembler, reg: Reg): void {
  a.emit("vmovdqu", reg, ptr(a.constant(new Int32Array(8).fill(0x10001), 32), 0, null, 1, 32));
}
