/**
 * The 8-bit elementwise kernels. AVX-512: 16 elements a vector — quantize
 * divides, clamps to the output's range less the zero point (a NaN lane
 * marked first and zeroed last), converts (nearest even), adds the zero
 * point and narrows; add widens both byte vectors, converts them, takes two
 * fused multiply-adds, converts and narrows with saturation. Below AVX-512,
 * one element at a time with the same float32 steps (add's multiply-adds in
 * float64, exact for 8-bit values times float32 ratios, then rounded once:
 * the fused result); dequantize widens, subtracts the zero point, converts
 * and multiplies. Every plan gives the same bits.
 *
 * @module
 */
import {
  al,
  Assembler,
  byte,
  cl,
  dword,
  eax,
  ecx,
  GP32,
  KREG,
  type Program,
  ptr,
  qword,
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
import { countedLoop, loadPointer } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import type { VecLevel } from "../vec.ts";
import { QLINEAR_ARG, type QLinearSpec } from "./spec.ts";

/** How an 8-bit elementwise kernel is built. */
export interface QLinearPlan extends KernelPlan {
  /** "avx512": 16 lanes a vector; "scalar": one element at a time. */
  path: "avx512" | "scalar";
}

/** The plan: AVX-512 vectors where the level has them, else the scalar loop. */
export function planQLinear(_s: QLinearSpec, isa: VecLevel): QLinearPlan {
  return isa === "avx512"
    ? { path: "avx512", workspaceBytes: 0, description: "avx512, 16 elements a vector" }
    : { path: "scalar", workspaceBytes: 0, description: "scalar loop" };
}

/** Emits `void kernel(args)`: rsi = a (x), rdx = b, r8 = y, each at the part's first element. */
export function generateQLinear(
  s: QLinearSpec,
  plan: QLinearPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const inBytes = s.mode === "quantize" || s.mode === "requantize" ? 4 : 1;
  const outBytes = s.mode === "dequantize" ? 4 : 1;
  const binary = s.mode === "add" || s.mode === "mul";
  loadPointer(a, rsi, QLINEAR_ARG.A);
  if (binary) loadPointer(a, rdx, QLINEAR_ARG.B);
  loadPointer(a, r8, QLINEAR_ARG.Y);
  if (s.from) {
    a.emit("add", rsi, s.from * inBytes);
    // b advances with a only element by element; by rows the row's offset is the emitter's.
    if (binary && s.layout === "same") a.emit("add", rdx, s.from);
    a.emit("add", r8, s.from * outBytes);
  }
  if (s.mode === "requantize") loadPointer(a, rdx, QLINEAR_ARG.B);
  if (s.count > 0) {
    if (s.mode === "requantize") emitRequantize(a, s, plan.path === "avx512");
    else if (binary && (s.mode === "mul" || s.layout !== "same")) {
      emitBinaryRows(a, s, plan.path === "avx512");
    } else if (plan.path === "avx512") emitVectors(a, s);
    else emitScalar(a, s);
  }
  if (plan.path === "avx512") a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}

/** The output's range less the zero point (quantize's clamp). */
function bounds(s: QLinearSpec, zero: number): [number, number] {
  return s.signedOut ? [-128 - zero, 127 - zero] : [0 - zero, 255 - zero];
}

function emitVectors(a: Assembler, s: QLinearSpec): void {
  const F = (v: number) => dword(a.constant(new Float32Array([v]), 4)).b;
  const I = (v: number) => dword(a.constant(new Int32Array([v]), 4)).b;
  const full = Math.floor(s.count / 16), tail = s.count % 16, k1 = KREG[1], k2 = KREG[2];
  const X = ZMM[0], B = ZMM[1], ZERO = ZMM[2];
  a.emit("vpxord", ZERO, ZERO, ZERO);
  if (tail) {
    a.emit("mov", eax, (1 << tail) - 1);
    a.emit("kmovw", k1, eax);
  }
  const narrow = s.signedOut ? "vpmovsdb" : "vpmovusdb";
  let step: (masked: boolean) => void;
  if (s.mode === "quantize") {
    const [scale, zero] = s.params, [lo, hi] = bounds(s, zero);
    step = (masked) => {
      const at = ptr(rsi, 0).withSize(64), to = ptr(r8, 0).withSize(16);
      a.emit("vmovups", masked ? X.k(k1).z : X, at);
      a.emit("vdivps", X, X, F(scale));
      a.emit("vcmpps", k2, X, X, 3); // unordered: NaN lanes
      a.emit("vmaxps", X, X, F(lo));
      a.emit("vminps", X, X, F(hi));
      a.emit("vcvtps2dq", X, X);
      a.emit("vpaddd", X, X, I(zero));
      a.emit("vmovdqa32", X.k(k2), ZERO);
      a.emit(narrow, masked ? to.k(k1) : to, X);
    };
  } else if (s.mode === "dequantize") {
    const [scale, zero] = s.params, widen = s.signedIn ? "vpmovsxbd" : "vpmovzxbd";
    step = (masked) => {
      const at = ptr(rsi, 0).withSize(16), to = ptr(r8, 0).withSize(64);
      a.emit(widen, masked ? X.k(k1).z : X, at);
      if (zero !== 0) a.emit("vpsubd", X, X, I(zero));
      a.emit("vcvtdq2ps", X, X);
      a.emit("vmulps", X, X, F(scale));
      a.emit("vmovups", masked ? to.k(k1) : to, X);
    };
  } else {
    const [r1, r2, fixed] = s.params, widen = s.signedIn ? "vpmovsxbd" : "vpmovzxbd";
    step = (masked) => {
      const pa = ptr(rsi, 0).withSize(16), pb = ptr(rdx, 0).withSize(16);
      const to = ptr(r8, 0).withSize(16);
      a.emit(widen, masked ? X.k(k1).z : X, pa);
      a.emit(widen, masked ? B.k(k1).z : B, pb);
      a.emit("vcvtdq2ps", X, X);
      a.emit("vcvtdq2ps", B, B);
      a.emit("vfmadd213ps", B, ZMM[3], ZMM[4]); // b·r2 + fixed
      a.emit("vfmadd231ps", B, X, ZMM[5]); // a·r1 + that
      a.emit("vcvtps2dq", B, B);
      if (!s.signedOut) a.emit("vpmaxsd", B, B, ZERO); // unsigned narrowing reads −1 as 2³²−1
      a.emit(narrow, masked ? to.k(k1) : to, B);
    };
    a.emit("vbroadcastss", ZMM[3], dword(a.constant(new Float32Array([r2]), 4)));
    a.emit("vbroadcastss", ZMM[4], dword(a.constant(new Float32Array([fixed]), 4)));
    a.emit("vbroadcastss", ZMM[5], dword(a.constant(new Float32Array([r1]), 4)));
  }
  const inBytes = s.mode === "quantize" ? 64 : 16, outBytes = s.mode === "dequantize" ? 64 : 16;
  countedLoop(a, rax, full, () => {
    step(false);
    a.emit("add", rsi, inBytes);
    if (s.mode === "add") a.emit("add", rdx, 16);
    a.emit("add", r8, outBytes);
  });
  if (tail) step(true);
}

function emitScalar(a: Assembler, s: QLinearSpec): void {
  const lo = GP32[9], hi = GP32[10], value = ecx;
  a.emit("mov", lo, s.signedOut ? -128 : 0);
  a.emit("mov", hi, s.signedOut ? 127 : 255);
  const f32 = (v: number) => dword(a.constant(new Float32Array([v]), 4));
  const f64 = (v: number) => qword(a.constant(new Uint8Array(new Float64Array([v]).buffer), 8));
  countedLoop(a, rax, s.count, () => {
    if (s.mode === "dequantize") {
      const [scale, zero] = s.params;
      a.emit(s.signedIn ? "movsx" : "movzx", value, byte(rsi, 0));
      if (zero !== 0) a.emit("sub", value, zero);
      a.emit("cvtsi2ss", XMM[0], value);
      a.emit("mulss", XMM[0], f32(scale));
      a.emit("movss", dword(r8, 0), XMM[0]);
      a.emit("add", rsi, 1);
      a.emit("add", r8, 4);
      return;
    }
    if (s.mode === "quantize") {
      const [scale, zero] = s.params, [flo, fhi] = bounds(s, zero);
      const nan = a.label(), done = a.label();
      a.emit("movss", XMM[0], dword(rsi, 0));
      a.emit("divss", XMM[0], f32(scale));
      a.emit("ucomiss", XMM[0], XMM[0]);
      a.emit("jp", nan);
      a.emit("maxss", XMM[0], f32(flo));
      a.emit("minss", XMM[0], f32(fhi));
      a.emit("cvtss2si", value, XMM[0]);
      a.emit("add", value, zero);
      a.emit("jmp", done);
      a.bind(nan);
      a.emit("xor", value, value);
      a.bind(done);
      a.emit("add", rsi, 4);
    } else {
      const [r1, r2, fixed] = s.params, widen = s.signedIn ? "movsx" : "movzx";
      // b·r2 + fixed and a·r1 + that in float64 (exact here), each rounded to float32 once.
      a.emit(widen, value, byte(rdx, 0));
      a.emit("cvtsi2sd", XMM[1], value);
      a.emit("mulsd", XMM[1], f64(r2));
      a.emit("addsd", XMM[1], f64(fixed));
      a.emit("cvtsd2ss", XMM[1], XMM[1]);
      a.emit("cvtss2sd", XMM[1], XMM[1]);
      a.emit(widen, value, byte(rsi, 0));
      a.emit("cvtsi2sd", XMM[0], value);
      a.emit("mulsd", XMM[0], f64(r1));
      a.emit("addsd", XMM[0], XMM[1]);
      a.emit("cvtsd2ss", XMM[0], XMM[0]);
      a.emit("cvtss2si", value, XMM[0]);
      // Saturated as the packs do (through 16 bits: the same as straight to 8).
      a.emit("cmp", value, lo);
      a.emit("cmovl", value, lo);
      a.emit("cmp", value, hi);
      a.emit("cmovg", value, hi);
      a.emit("add", rsi, 1);
      a.emit("add", rdx, 1);
    }
    a.emit("mov", byte(r8, 0), cl);
    a.emit("add", r8, 1);
  });
}

/**
 * Requantizing rows (rsi = x, rdx = the multipliers, r8 = y at the part's
 * first row): each row's multiplier broadcast, then per element × it, the
 * clamp, the conversion, + zero point and the narrowing (a NaN: 0).
 */
function emitRequantize(a: Assembler, s: QLinearSpec, vector: boolean): void {
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
        const isNan = a.label(), stored = a.label();
        a.emit("movss", XMM[0], dword(rsi, 0));
        a.emit("mulss", XMM[0], XMM[1]);
        a.emit("ucomiss", XMM[0], XMM[0]);
        a.emit("jp", isNan);
        a.emit("maxss", XMM[0], f32(lo));
        a.emit("minss", XMM[0], f32(hi));
        a.emit("cvtss2si", value, XMM[0]);
        a.emit("add", value, zero);
        a.emit("jmp", stored);
        a.bind(isNan);
        a.emit("xor", value, value);
        a.bind(stored);
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

/**
 * QLinearAdd with b broadcast, and QLinearMul (rsi = a, rdx = b, r8 = y at
 * the part's first element): rows of `cols` (one row of the part's count
 * element by element), b read by element ("same", "row": from the row's
 * start) or once a row ("span": b[row mod bCount]). Add by a row's scalar:
 * c = f32(fixed + f32(b·r2)) once, then fma(a, r1, c); otherwise two fmas.
 * Mul: (a − a_zp)·(b − b_zp) exact, × ratio, + y_zp, each rounded.
 */
function emitBinaryRows(a: Assembler, s: QLinearSpec, vector: boolean): void {
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
