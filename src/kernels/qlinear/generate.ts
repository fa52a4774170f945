/**
 * The 8-bit elementwise kernels. AVX-512: 16 elements a vector — quantize
 * divides, clamps to the output's range less the zero point (a NaN lane
 * marked first and set to the type's least value last: quantizeNaN), converts (nearest even), adds the zero
 * point and narrows; dequantize widens, subtracts the zero point, converts
 * and multiplies. At AVX2 the same on 8 lanes (avx2.ts); below, one element
 * at a time with the same float32 steps. Add and mul (binary.ts) and requantize (requantize.ts) go rows at
 * a time. Every plan gives the same bits.
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
  KREG,
  type Program,
  ptr,
  r8,
  rax,
  rdx,
  type Reg,
  rsi,
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import { countedLoop, loadPointer } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import type { VecLevel } from "../vec.ts";
import { emitBinaryRows } from "./binary.ts";
import { emitRequantize } from "./requantize.ts";
import { emitFlat, emitRequantize8, emitSameBinary } from "./avx2.ts";
import { QLINEAR_ARG, type QLinearSpec } from "./spec.ts";

/** How an 8-bit elementwise kernel is built. */
export interface QLinearPlan extends KernelPlan {
  /** "avx512": 16 lanes a vector; "avx2": 8 (avx2.ts); "scalar": one element at a time. */
  path: "avx512" | "avx2" | "scalar";
}

/**
 * The plan: AVX-512 vectors where the level has them, else AVX2's (but for
 * add and mul with b broadcast: their rows one element at a time), else
 * the scalar loop.
 */
export function planQLinear(s: QLinearSpec, isa: VecLevel): QLinearPlan {
  if (isa === "avx512") {
    return { path: "avx512", workspaceBytes: 0, description: "avx512, 16 elements a vector" };
  }
  const binary = s.mode === "add" || s.mode === "mul";
  if (isa === "avx2" && (!binary || s.layout === "same")) {
    return { path: "avx2", workspaceBytes: 0, description: "avx2, 8 elements a vector" };
  }
  return { path: "scalar", workspaceBytes: 0, description: "scalar loop" };
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
  if (s.count > 0 && plan.path === "avx2") {
    if (s.mode === "requantize") emitRequantize8(a, s);
    else if (binary) emitSameBinary(a, s);
    else emitFlat(a, s);
  } else if (s.count > 0) {
    if (s.mode === "requantize") emitRequantize(a, s, plan.path === "avx512");
    else if (binary) emitBinaryRows(a, s, plan.path === "avx512");
    else if (plan.path === "avx512") emitVectors(a, s);
    else emitScalar(a, s);
  }
  if (plan.path !== "scalar") a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}

/**
 * What quantize gives a NaN: the output type's least value (int8 −128, uint8 0), as ONNX
 * Runtime 1.30's QuantizeLinear does (MLAS: the conversion's 0x80000000, then the clamp).
 */
export function quantizeNaN(s: QLinearSpec): number {
  return s.signedOut ? -128 : 0;
}

/** The output's range less the zero point (quantize's clamp). */
export function bounds(s: QLinearSpec, zero: number): [number, number] {
  return s.signedOut ? [-128 - zero, 127 - zero] : [0 - zero, 255 - zero];
}

/**
 * The scalar narrowing of xmm0 (the scaled value) into `value`: a NaN gives
 * `nan` (0 unless given), else clamped to [lo, hi] (the range less the zero
 * point), converted (MXCSR's nearest even) and the zero point added.
 */
export function emitScalarNarrow(
  a: Assembler,
  value: Reg,
  lo: number,
  hi: number,
  zero: number,
  nan = 0,
): void {
  const f32 = (v: number) => dword(a.constant(new Float32Array([v]), 4));
  const nanCase = a.label(), done = a.label();
  a.emit("ucomiss", XMM[0], XMM[0]);
  a.emit("jp", nanCase);
  a.emit("maxss", XMM[0], f32(lo));
  a.emit("minss", XMM[0], f32(hi));
  a.emit("cvtss2si", value, XMM[0]);
  a.emit("add", value, zero);
  a.emit("jmp", done);
  a.bind(nanCase);
  if (nan === 0) a.emit("xor", value, value);
  else a.emit("mov", value, nan);
  a.bind(done);
}

function emitVectors(a: Assembler, s: QLinearSpec): void {
  const F = (v: number) => dword(a.constant(new Float32Array([v]), 4)).b;
  const I = (v: number) => dword(a.constant(new Int32Array([v]), 4)).b;
  const full = Math.floor(s.count / 16), tail = s.count % 16, k1 = KREG[1], k2 = KREG[2];
  const X = ZMM[0], ZERO = ZMM[2];
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
      if (s.signedOut) a.emit("vpsubd", X.k(k2), X, I(128)); // NaN: −128 (see quantizeNaN)
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
  } else throw new Error(`qlinear: ${s.mode} has no flat vector form`);
  const inBytes = s.mode === "quantize" ? 64 : 16, outBytes = s.mode === "dequantize" ? 64 : 16;
  countedLoop(a, rax, full, () => {
    step(false);
    a.emit("add", rsi, inBytes);
    if (s.mode === "add") a.emit("add", rdx, 16);
    a.emit("add", r8, outBytes);
  });
  if (tail) step(true);
}

/** quantize and dequantize one element at a time (SSE scalar). */
export function emitScalar(a: Assembler, s: QLinearSpec): void {
  const value = ecx;
  const f32 = (v: number) => dword(a.constant(new Float32Array([v]), 4));
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
      a.emit("movss", XMM[0], dword(rsi, 0));
      a.emit("divss", XMM[0], f32(scale));
      emitScalarNarrow(a, value, flo, fhi, zero, quantizeNaN(s));
      a.emit("add", rsi, 4);
    }
    a.emit("mov", byte(r8, 0), cl);
    a.emit("add", r8, 1);
  });
}
