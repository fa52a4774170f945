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
  r8,
  rax,
  rdx,
  rsi,
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import { countedLoop, loadPointer } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import type { VecLevel } from "../vec.ts";
import { emitBinaryRows } from "./binary.ts";
import { emitRequantize } from "./requantize.ts";
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
export function bounds(s: QLinearSpec, zero: number): [number, number] {
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
