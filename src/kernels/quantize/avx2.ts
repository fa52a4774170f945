/**
 * Dynamic quantization at AVX2: the AVX-512 path's steps on 8 lanes. Below
 * AVX-512 there is no narrowing store: 4 vectors of dwords become 32 bytes
 * by saturating packs (`vpackusdw` clamps below at 0, `vpackuswb` above at
 * 255, the clamps the AVX-512 path makes) within 128-bit halves, put in
 * order by `vpermd`; the last < 32 elements go 8 at a time, the last < 8
 * from a register byte by byte. The same float32 operations as the
 * reference, so the same bits as every other plan.
 *
 * @module
 */
import {
  al,
  type Assembler,
  byte,
  dword,
  eax,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rdx,
  rsi,
  XMM,
  YMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { f32, Vec, vecIsa } from "../vec.ts";
import { narrowBytes8, storeLowBytes } from "../bytes.ts";
import type { QuantizeSpec } from "./spec.ts";
import { emitRange } from "./range.ts";

/** Vectors per step of either pass. */
const ACCS = 4;

/** rsi = x, rdx = y, r8 = scale, r9 = zero point. */
export function emitAvx2(a: Assembler, s: QuantizeSpec): void {
  const v = new Vec(a, vecIsa("avx2"));
  const MIN = (i: number) => YMM[i], MAX = (i: number) => YMM[4 + i];
  // Pass 1: the range (range.ts; the tail's mask in ymm12).
  const tail = s.n % 8;
  emitRange(v, s, tail ? v.tail(tail, 1, 12) : undefined);
  // scale = (max − min)/255, or 1 where max = min; zero point = round(clamp(0 − min/scale)).
  const SCALE = YMM[13], ZP = YMM[14], T = YMM[15];
  a.emit("vsubps", SCALE, MAX(0), MIN(0));
  a.emit("vdivps", SCALE, SCALE, v.konst(f32(255)));
  a.emit("vcmpps", T, MAX(0), MIN(0), 0);
  a.emit("vblendvps", SCALE, SCALE, v.konst(f32(1)), T);
  a.emit("vdivps", T, MIN(0), SCALE);
  a.emit("vxorps", ZP, ZP, ZP);
  a.emit("vsubps", T, ZP, T);
  a.emit("vmaxps", T, T, ZP); // NaN → 0
  a.emit("vminps", T, T, v.konst(f32(255)));
  a.emit("vcvtps2dq", ZP, T);
  a.emit("vmovss", dword(r8, 0), XMM[13]);
  a.emit("vmovd", eax, XMM[14]);
  a.emit("mov", byte(r9, 0), al);
  // Pass 2 over [from, from + count): y = clamp(round(clamp(x/scale, ±256)) + zero point, 0, 255).
  const LO = YMM[12], ORDER = YMM[15];
  a.emit("vbroadcastss", LO, dword(a.constant(new Float32Array([-256]), 4)));
  a.emit(
    "vmovdqu",
    ORDER,
    ptr(a.constant(Int32Array.of(0, 4, 1, 5, 2, 6, 3, 7), 32), 0, null, 1, 32),
  );
  /** Q(u) = x's 8 values at element `at` (its first `lanes` when fewer), quantized to dwords. */
  const Q = (u: number) => YMM[u];
  const quantize = (u: number, at: number, lanes = 8) => {
    const from = ptr(r10, 4 * at).withSize(32);
    if (lanes < 8) {
      v.tail(lanes, 1, 4);
      a.emit("vmaskmovps", Q(u), YMM[4], from);
    } else a.emit("vmovups", Q(u), from);
    a.emit("vdivps", Q(u), Q(u), SCALE);
    a.emit("vmaxps", Q(u), Q(u), LO);
    a.emit("vminps", Q(u), Q(u), v.konst(f32(256)));
    a.emit("vcvtps2dq", Q(u), Q(u));
    a.emit("vpaddd", Q(u), Q(u), ZP);
  };
  a.emit("mov", r10, rsi);
  a.emit("mov", r11, rdx);
  addImmediate(a, "add", r10, 4 * s.from);
  addImmediate(a, "add", r11, s.from);
  countedLoop(a, rax, Math.floor(s.count / (8 * ACCS)), () => {
    for (let u = 0; u < ACCS; u++) quantize(u, 8 * u);
    a.emit("vpackusdw", Q(0), Q(0), Q(1));
    a.emit("vpackusdw", Q(2), Q(2), Q(3));
    a.emit("vpackuswb", Q(0), Q(0), Q(2));
    a.emit("vpermd", Q(0), ORDER, Q(0));
    a.emit("vmovdqu", ptr(r11, 0).withSize(32), Q(0));
    a.emit("add", r10, 32 * ACCS);
    a.emit("add", r11, 8 * ACCS);
  });
  const rest = s.count % (8 * ACCS);
  for (let e = 0; e + 8 <= rest; e += 8) {
    quantize(0, e);
    narrowBytes8(a, 0, 1, false);
    a.emit("vmovq", ptr(r11, e).withSize(8), XMM[0]);
  }
  const last = rest % 8;
  if (last) {
    quantize(0, rest - last, last);
    narrowBytes8(a, 0, 1, false);
    a.emit("vmovq", rax, XMM[0]);
    storeLowBytes(a, r11, rest - last, last);
  }
  a.emit("vzeroupper");
}
