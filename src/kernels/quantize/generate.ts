/**
 * Dynamic quantization's machine code: one pass for the range (4 vector
 * minima and maxima from 0, each x the first operand so a NaN in x leaves
 * the accumulator: NaNs are ignored), the scale and zero point in vector
 * registers (every lane the same), then one pass dividing by the scale,
 * clamping to ±256 (NaN to −256), converting (nearest even), adding the
 * zero point and narrowing with unsigned saturation (`vpmovusdb`) after a
 * clamp at 0. At AVX2 the same steps on 8 lanes, narrowed by packs
 * (avx2.ts); below, one element at a time (SSE scalar). Every step is the
 * reference's float32 operation, so every plan gives the same bits.
 *
 * @module
 */
import {
  al,
  Assembler,
  byte,
  cl,
  dl,
  dword,
  eax,
  ecx,
  edx,
  GP32,
  KREG,
  type Program,
  ptr,
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
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { QUANTIZE_ARG, type QuantizeSpec } from "./spec.ts";
import { emitRange } from "./range.ts";
import { emitAvx2 } from "./avx2.ts";

/** How a dynamic quantization kernel is built. */
export interface QuantizePlan extends KernelPlan {
  /** "avx512": 16 lanes a vector; "avx2": 8 (avx2.ts); "scalar": one element at a time. */
  path: "avx512" | "avx2" | "scalar";
}

/** The plan: vectors where the level has them (AVX-512, AVX2), else the scalar loop. */
export function planQuantize(_s: QuantizeSpec, isa: VecLevel): QuantizePlan {
  return isa === "avx512"
    ? { path: "avx512", workspaceBytes: 0, description: "avx512 range, then quantize" }
    : isa === "avx2"
    ? { path: "avx2", workspaceBytes: 0, description: "avx2 range, then quantize" }
    : { path: "scalar", workspaceBytes: 0, description: "scalar loop" };
}

const r8d = GP32[8];

/** Vectors per step of the range pass. */
const ACCS = 4;

/** Emits `void kernel(args)`. */
export function generateQuantize(
  s: QuantizeSpec,
  plan: QuantizePlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  loadPointer(a, rsi, QUANTIZE_ARG.X);
  loadPointer(a, rdx, QUANTIZE_ARG.Y);
  loadPointer(a, r8, QUANTIZE_ARG.SCALE);
  loadPointer(a, r9, QUANTIZE_ARG.ZERO);
  if (plan.path === "avx512") emitVectors(a, s);
  else if (plan.path === "avx2") emitAvx2(a, s);
  else emitScalar(a, s);
  a.emit("ret");
  return a.finish();
}

const F32 = (v: number) => new Float32Array([v]);

/** rsi = x, rdx = y, r8 = scale, r9 = zero point. */
function emitVectors(a: Assembler, s: QuantizeSpec): void {
  const v = new Vec(a, vecIsa("avx512"));
  const c = (value: number) => dword(a.constant(F32(value), 4)).b;
  const tail = s.n % 16, k1 = KREG[1], k3 = KREG[3];
  const MIN = (i: number) => ZMM[i], MAX = (i: number) => ZMM[4 + i], X = (i: number) => ZMM[8 + i];
  if (tail) {
    a.emit("mov", eax, (1 << tail) - 1);
    a.emit("kmovw", k1, eax);
  }
  // Pass 2 covers [from, from + count): its own vector count and tail.
  const qFull = Math.floor(s.count / 16), qTail = s.count % 16;
  if (qTail) {
    a.emit("mov", eax, (1 << qTail) - 1);
    a.emit("kmovw", k3, eax);
  }
  emitRange(v, s, tail ? { lanes: tail, k: k1, m: -1 } : undefined);
  // scale = (max − min)/255, or 1 where max = min; zero point = round(clamp(0 − min/scale)).
  const SCALE = ZMM[16], ZP = ZMM[17], T = ZMM[18];
  a.emit("vsubps", SCALE, MAX(0), MIN(0));
  a.emit("vdivps", SCALE, SCALE, c(255));
  a.emit("vcmpps", KREG[2], MAX(0), MIN(0), 0);
  a.emit("vbroadcastss", SCALE.k(KREG[2]), dword(a.constant(F32(1), 4)));
  a.emit("vdivps", T, MIN(0), SCALE);
  a.emit("vxorps", ZP, ZP, ZP);
  a.emit("vsubps", T, ZP, T);
  a.emit("vmaxps", T, T, ZP); // NaN → 0
  a.emit("vminps", T, T, c(255));
  a.emit("vcvtps2dq", ZP, T);
  a.emit("vmovss", dword(r8, 0), XMM[16]);
  a.emit("vmovd", eax, XMM[17]);
  a.emit("mov", byte(r9, 0), al);
  // Pass 2: y = clamp(round(clamp(x/scale, ±256)) + zero point, 0, 255).
  const LO = ZMM[19], ZERO = ZMM[20];
  a.emit("vbroadcastss", LO, dword(a.constant(F32(-256), 4)));
  a.emit("vpxord", ZERO, ZERO, ZERO);
  const quantize = (u: number, disp: number, masked: boolean) => {
    const at = ptr(r10, 4 * disp).withSize(64), to = ptr(r11, disp).withSize(16);
    if (masked) a.emit("vmovups", X(u).k(k3).z, at);
    else a.emit("vmovups", X(u), at);
    a.emit("vdivps", X(u), X(u), SCALE);
    a.emit("vmaxps", X(u), X(u), LO);
    a.emit("vminps", X(u), X(u), c(256));
    a.emit("vcvtps2dq", X(u), X(u));
    a.emit("vpaddd", X(u), X(u), ZP);
    a.emit("vpmaxsd", X(u), X(u), ZERO);
    a.emit("vpmovusdb", masked ? to.k(k3) : to, X(u));
  };
  a.emit("mov", r10, rsi);
  a.emit("mov", r11, rdx);
  addImmediate(a, "add", r10, 4 * s.from);
  addImmediate(a, "add", r11, s.from);
  countedLoop(a, rax, Math.floor(qFull / ACCS), () => {
    for (let u = 0; u < ACCS; u++) quantize(u, 16 * u, false);
    a.emit("add", r10, 64 * ACCS);
    a.emit("add", r11, 16 * ACCS);
  });
  for (let u = 0; u < qFull % ACCS; u++) quantize(u, 16 * u, false);
  if (qTail) quantize(0, 16 * (qFull % ACCS), true);
  a.emit("vzeroupper");
}

/** The same steps on one element at a time (SSE scalar). */
function emitScalar(a: Assembler, s: QuantizeSpec): void {
  const [MIN, MAX, X, T, SCALE, Z] = [0, 1, 2, 3, 4, 5].map((i) => XMM[i]);
  const c = (value: number) => dword(a.constant(F32(value), 4));
  a.emit("xorps", MIN, MIN);
  a.emit("xorps", MAX, MAX);
  a.emit("mov", r10, rsi);
  countedLoop(a, rax, s.n, () => {
    // T = min(x, acc): x first, so a NaN x leaves the accumulator.
    a.emit("movss", X, dword(r10, 0));
    a.emit("movss", T, X);
    a.emit("minss", T, MIN);
    a.emit("movss", MIN, T);
    a.emit("maxss", X, MAX);
    a.emit("movss", MAX, X);
    a.emit("add", r10, 4);
  });
  a.emit("movss", SCALE, MAX);
  a.emit("subss", SCALE, MIN);
  a.emit("divss", SCALE, c(255));
  const differ = a.label();
  a.emit("ucomiss", MAX, MIN);
  a.emit("jne", differ);
  a.emit("movss", SCALE, c(1));
  a.bind(differ);
  a.emit("movss", T, MIN);
  a.emit("divss", T, SCALE);
  a.emit("xorps", Z, Z);
  a.emit("subss", Z, T);
  a.emit("maxss", Z, c(0)); // NaN → 0
  a.emit("minss", Z, c(255));
  a.emit("cvtss2si", ecx, Z); // the zero point, kept in ecx
  a.emit("movss", dword(r8, 0), SCALE);
  a.emit("mov", byte(r9, 0), cl);
  a.emit("mov", r10, rsi);
  a.emit("mov", r9, rdx);
  addImmediate(a, "add", r10, 4 * s.from);
  addImmediate(a, "add", r9, s.from);
  countedLoop(a, rax, s.count, () => {
    a.emit("movss", X, dword(r10, 0));
    a.emit("divss", X, SCALE);
    a.emit("maxss", X, c(-256)); // NaN → −256
    a.emit("minss", X, c(256));
    a.emit("cvtss2si", edx, X);
    a.emit("add", edx, ecx);
    a.emit("xor", r8d, r8d);
    a.emit("cmp", edx, 0);
    a.emit("cmovl", edx, r8d);
    a.emit("mov", r8d, 255);
    a.emit("cmp", edx, 255);
    a.emit("cmovg", edx, r8d);
    a.emit("mov", byte(r9, 0), dl);
    a.emit("add", r10, 4);
    a.emit("inc", r9);
  });
}
