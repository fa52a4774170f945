/**
 * Requantizing rows of exact float sums (QLinearConv's store as a pass):
 * each row's multiplier, then per element × it, the clamp, the conversion
 * half to even, + zero point and the narrowing.
 *
 * @module
 */
import {
  al,
  type Assembler,
  byte,
  dword,
  eax,
  KREG,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rcx,
  rdx,
  rsi,
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import { countedLoop } from "../abi.ts";
import { bounds, emitScalarNarrow } from "./generate.ts";
import type { QLinearSpec } from "./spec.ts";

/**
 * Requantizing rows (rsi = x, rdx = the multipliers, r8 = y at the part's
 * first row): each row's multiplier broadcast, then per element × it, the
 * clamp, the conversion, + zero point and the narrowing (a NaN: 0).
 */
export function emitRequantize(a: Assembler, s: QLinearSpec, vector: boolean): void {
  const [cols, zero, channels] = s.params, [lo, hi] = bounds(s, zero);
  const first = s.from / cols, rows = s.count / cols;
  const f32 = (v: number) => dword(a.constant(new Float32Array([v]), 4));
  // r11: the row's multiplier offset (4·(row mod channels)); r10: rows left; rcx: the wrap.
  a.emit("mov", r11, 4 * (first % channels));
  a.emit("mov", rcx, 4 * channels);
  const nextRow = () => {
    const same = a.label();
    a.emit("add", r11, 4);
    a.emit("cmp", r11, rcx);
    a.emit("jne", same);
    a.emit("xor", r11, r11);
    a.bind(same);
  };
  if (!vector) {
    const value = eax;
    countedLoop(a, r10, rows, () => {
      a.emit("movss", XMM[1], dword(rdx, 0, r11, 1));
      countedLoop(a, r9, cols, () => {
        a.emit("movss", XMM[0], dword(rsi, 0));
        a.emit("mulss", XMM[0], XMM[1]);
        emitScalarNarrow(a, value, lo, hi, zero);
        a.emit("mov", byte(r8, 0), al);
        a.emit("add", rsi, 4);
        a.emit("add", r8, 1);
      });
      nextRow();
    });
    return;
  }
  const full = Math.floor(cols / 16), tail = cols % 16, k1 = KREG[1], k2 = KREG[2];
  const X = ZMM[0], M = ZMM[1], ZERO = ZMM[2], LO = ZMM[3], HI = ZMM[4], ZP = ZMM[5];
  a.emit("vpxord", ZERO, ZERO, ZERO);
  a.emit("vbroadcastss", LO, f32(lo));
  a.emit("vbroadcastss", HI, f32(hi));
  a.emit("vpbroadcastd", ZP, dword(a.constant(new Int32Array([zero]), 4)));
  if (tail) {
    a.emit("mov", eax, (1 << tail) - 1);
    a.emit("kmovw", k1, eax);
  }
  const narrow = s.signedOut ? "vpmovsdb" : "vpmovusdb";
  const step = (masked: boolean) => {
    const at = ptr(rsi, 0).withSize(64), to = ptr(r8, 0).withSize(16);
    a.emit("vmovups", masked ? X.k(k1).z : X, at);
    a.emit("vmulps", X, X, M);
    a.emit("vcmpps", k2, X, X, 3); // unordered: NaN lanes
    a.emit("vmaxps", X, X, LO);
    a.emit("vminps", X, X, HI);
    a.emit("vcvtps2dq", X, X);
    a.emit("vpaddd", X, X, ZP);
    a.emit("vmovdqa32", X.k(k2), ZERO);
    a.emit(narrow, masked ? to.k(k1) : to, X);
  };
  countedLoop(a, r10, rows, () => {
    a.emit("vbroadcastss", M, dword(rdx, 0, r11, 1));
    countedLoop(a, rax, full, () => {
      step(false);
      a.emit("add", rsi, 64);
      a.emit("add", r8, 16);
    });
    if (tail) {
      step(true);
      a.emit("add", rsi, 4 * tail);
      a.emit("add", r8, tail);
    }
    nextRow();
  });
}
