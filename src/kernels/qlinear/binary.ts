/**
 * QLinearAdd with b broadcast and QLinearMul, rows at a time: ONNX
 * Runtime's formula for each of b's layouts, AVX-512 vectors or one element
 * at a time.
 *
 * @module
 */
import {
  type Assembler,
  byte,
  cl,
  dword,
  eax,
  ecx,
  GP32,
  KREG,
  ptr,
  qword,
  r10,
  r11,
  r8,
  r9,
  rax,
  rdx,
  rsi,
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import { countedLoop } from "../abi.ts";
import type { QLinearSpec } from "./spec.ts";

/**
 * QLinearAdd with b broadcast, and QLinearMul (rsi = a, rdx = b, r8 = y at
 * the part's first element): rows of `cols` (one row of the part's count
 * element by element), b read by element ("same", "row": from the row's
 * start) or once a row ("span": b[row mod bCount]). Add by a row's scalar:
 * c = f32(fixed + f32(b·r2)) once, then fma(a, r1, c); otherwise two fmas.
 * Mul: (a − a_zp)·(b − b_zp) exact, × ratio, + y_zp, each rounded.
 */
export function emitBinaryRows(a: Assembler, s: QLinearSpec, vector: boolean): void {
  const same = s.layout === "same", cols = same ? s.count : s.cols;
  const rows = same ? 1 : s.count / cols, first = same ? 0 : s.from / cols;
  const mul = s.mode === "mul", span = s.layout === "span";
  const widenGp = s.signedIn ? "movsx" : "movzx";
  const lo = s.signedOut ? -128 : 0, hi = s.signedOut ? 127 : 255;
  const f32 = (v: number) => dword(a.constant(new Float32Array([v]), 4));
  const f64 = (v: number) => qword(a.constant(new Uint8Array(new Float64Array([v]).buffer), 8));
  const [p0, p1, p2, p3] = s.params; // add: r1, r2, fixed; mul: ratio, a_zp, b_zp, y_zp
  const t = GP32[7], v = ecx; // edi (the argument block is read), ecx: temporaries
  // r9: b's start; r11: a span's row (mod bCount).
  a.emit("mov", r9, rdx);
  if (span) a.emit("mov", r11, first % s.bCount);
  const nextRow = () => {
    if (!span) return;
    const keep = a.label();
    a.emit("inc", r11);
    a.emit("cmp", r11, s.bCount);
    a.emit("jne", keep);
    a.emit("xor", r11, r11);
    a.bind(keep);
  };
  if (!vector) {
    countedLoop(a, r10, rows, () => {
      if (s.layout === "row") a.emit("mov", rdx, r9);
      if (span) {
        a.emit(widenGp, v, byte(r9, 0, r11, 1));
        if (mul) {
          a.emit("sub", v, p2);
          a.emit("cvtsi2ss", XMM[4], v); // b − b_zp, exact
        } else {
          a.emit("cvtsi2ss", XMM[2], v);
          a.emit("mulss", XMM[2], f32(p1));
          a.emit("movss", XMM[3], f32(p2));
          a.emit("addss", XMM[3], XMM[2]);
          a.emit("cvtss2sd", XMM[2], XMM[3]); // c, for the float64 fma below
        }
      }
      countedLoop(a, rax, cols, () => {
        if (mul) {
          a.emit(widenGp, t, byte(rsi, 0));
          a.emit("sub", t, p1);
          a.emit("cvtsi2ss", XMM[0], t);
          if (!span) {
            a.emit(widenGp, v, byte(rdx, 0));
            a.emit("sub", v, p2);
            a.emit("cvtsi2ss", XMM[4], v);
          }
          a.emit("mulss", XMM[0], XMM[4]); // the exact product
          a.emit("mulss", XMM[0], f32(p0));
          a.emit("addss", XMM[0], f32(p3));
        } else {
          if (!span) {
            // b·r2 + fixed, then a·r1 + that, in float64 (exact here), rounded once each.
            a.emit(widenGp, v, byte(rdx, 0));
            a.emit("cvtsi2sd", XMM[2], v);
            a.emit("mulsd", XMM[2], f64(p1));
            a.emit("addsd", XMM[2], f64(p2));
            a.emit("cvtsd2ss", XMM[2], XMM[2]);
            a.emit("cvtss2sd", XMM[2], XMM[2]);
          }
          a.emit(widenGp, v, byte(rsi, 0));
          a.emit("cvtsi2sd", XMM[0], v);
          a.emit("mulsd", XMM[0], f64(p0));
          a.emit("addsd", XMM[0], XMM[2]);
          a.emit("cvtsd2ss", XMM[0], XMM[0]);
        }
        a.emit("cvtss2si", v, XMM[0]);
        a.emit("mov", t, lo);
        a.emit("cmp", v, t);
        a.emit("cmovl", v, t);
        a.emit("mov", t, hi);
        a.emit("cmp", v, t);
        a.emit("cmovg", v, t);
        a.emit("mov", byte(r8, 0), cl);
        a.emit("inc", rsi);
        if (!span) a.emit("inc", rdx);
        a.emit("inc", r8);
      });
      nextRow();
    });
    return;
  }
  const full = Math.floor(cols / 16), tail = cols % 16, k1 = KREG[1];
  const A = ZMM[0], B = ZMM[1], V = ZMM[2], ZERO = ZMM[3], C = ZMM[4];
  const K0 = ZMM[5], K1 = ZMM[6], K2 = ZMM[7], K3 = ZMM[8];
  a.emit("vpxord", ZERO, ZERO, ZERO);
  if (mul) {
    a.emit("vbroadcastss", K0, f32(p0));
    a.emit("vpbroadcastd", K1, dword(a.constant(new Int32Array([p1]), 4)));
    a.emit("vpbroadcastd", K2, dword(a.constant(new Int32Array([p2]), 4)));
    a.emit("vbroadcastss", K3, f32(p3));
  } else {
    a.emit("vbroadcastss", K0, f32(p0));
    a.emit("vbroadcastss", K1, f32(p1));
    a.emit("vbroadcastss", K2, f32(p2));
  }
  if (tail) {
    a.emit("mov", eax, (1 << tail) - 1);
    a.emit("kmovw", k1, eax);
  }
  const widen = s.signedIn ? "vpmovsxbd" : "vpmovzxbd";
  const narrow = s.signedOut ? "vpmovsdb" : "vpmovusdb";
  const step = (masked: boolean) => {
    const at = (r: typeof rsi) => ptr(r, 0).withSize(16);
    a.emit(widen, masked ? A.k(k1).z : A, at(rsi));
    if (!span) a.emit(widen, masked ? B.k(k1).z : B, at(rdx));
    if (mul) {
      a.emit("vpsubd", A, A, K1);
      if (!span) a.emit("vpsubd", B, B, K2);
      a.emit("vpmulld", V, A, span ? C : B); // exact: |(a − a_zp)(b − b_zp)| ≤ 255²
      a.emit("vcvtdq2ps", V, V);
      a.emit("vmulps", V, V, K0);
      a.emit("vaddps", V, V, K3);
    } else if (span) {
      a.emit("vcvtdq2ps", A, A);
      a.emit("vmovaps", V, C);
      a.emit("vfmadd231ps", V, A, K0); // a·r1 + c
    } else {
      a.emit("vcvtdq2ps", A, A);
      a.emit("vcvtdq2ps", V, B);
      a.emit("vfmadd213ps", V, K1, K2); // b·r2 + fixed
      a.emit("vfmadd231ps", V, A, K0); // a·r1 + that
    }
    a.emit("vcvtps2dq", V, V);
    if (!s.signedOut) a.emit("vpmaxsd", V, V, ZERO); // unsigned narrowing reads −1 as 2³²−1
    const to = ptr(r8, 0).withSize(16);
    a.emit(narrow, masked ? to.k(k1) : to, V);
  };
  countedLoop(a, r10, rows, () => {
    if (s.layout === "row") a.emit("mov", rdx, r9);
    if (span) {
      a.emit(widenGp, v, byte(r9, 0, r11, 1));
      if (mul) {
        a.emit("sub", v, p2);
        a.emit("vpbroadcastd", C, v);
      } else {
        // c = f32(fixed + f32(b·r2)), the row's scalar folded first.
        a.emit("vpbroadcastd", C, v);
        a.emit("vcvtdq2ps", C, C);
        a.emit("vmulps", C, C, K1);
        a.emit("vaddps", C, C, K2);
      }
    }
    countedLoop(a, rax, full, () => {
      step(false);
      a.emit("add", rsi, 16);
      if (!span) a.emit("add", rdx, 16);
      a.emit("add", r8, 16);
    });
    if (tail) {
      step(true);
      a.emit("add", rsi, tail);
      if (!span) a.emit("add", rdx, tail);
      a.emit("add", r8, tail);
    }
    nextRow();
  });
}
