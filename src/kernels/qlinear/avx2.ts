/**
 * The 8-bit elementwise kernels at AVX2: the AVX-512 steps on 8 lanes, a
 * NaN lane zeroed by its unordered mask (int8's then −128: quantizeNaN), and narrowed by saturating packs
 * (`vpack[u]sdw`, `vpack[u]swb`: the clamps of `vpmov[u]sdb`) into 8 bytes;
 * the elements past the last whole vector (of a row, for requantize) by the
 * scalar steps, which give the same bits.
 *
 * @module
 */
import {
  al,
  type Assembler,
  dword,
  eax,
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
  YMM,
} from "../../../asm/mod.ts";
import { countedLoop } from "../abi.ts";
import { bits, f32, Vec, vecIsa } from "../vec.ts";
import { narrowBytes8 } from "../bytes.ts";
import { emitBinaryRows } from "./binary.ts";
import { bounds, emitScalar, emitScalarNarrow } from "./generate.ts";
import type { QLinearSpec } from "./spec.ts";

/** Quantize and dequantize: 8 elements a step, the rest one at a time. */
export function emitFlat(a: Assembler, s: QLinearSpec): void {
  const v = new Vec(a, vecIsa("avx2"));
  const full = Math.floor(s.count / 8), X = 0, T = 1, NAN = 2;
  if (s.mode === "quantize") {
    const [scale, zero] = s.params, [lo, hi] = bounds(s, zero);
    countedLoop(a, rax, full, () => {
      a.emit("vmovups", YMM[X], ptr(rsi, 0).withSize(32));
      a.emit("vdivps", YMM[X], YMM[X], v.konst(f32(scale)));
      a.emit("vcmpps", YMM[NAN], YMM[X], YMM[X], 3); // unordered: NaN lanes
      a.emit("vmaxps", YMM[X], YMM[X], v.konst(f32(lo)));
      a.emit("vminps", YMM[X], YMM[X], v.konst(f32(hi)));
      a.emit("vcvtps2dq", YMM[X], YMM[X]);
      a.emit("vpaddd", YMM[X], YMM[X], v.konst(bits(zero)));
      a.emit("vpandn", YMM[X], YMM[NAN], YMM[X]); // a NaN gives 0
      if (s.signedOut) {
        // int8: −128 (see quantizeNaN)
        a.emit("vpand", YMM[T], YMM[NAN], v.konst(bits(-128)));
        a.emit("vpor", YMM[X], YMM[X], YMM[T]);
      }
      narrowBytes8(a, X, T, s.signedOut);
      a.emit("vmovq", qword(r8, 0), XMM[X]);
      a.emit("add", rsi, 32);
      a.emit("add", r8, 8);
    });
  } else if (s.mode === "dequantize") {
    const [scale, zero] = s.params;
    countedLoop(a, rax, full, () => {
      a.emit(s.signedIn ? "vpmovsxbd" : "vpmovzxbd", YMM[X], qword(rsi, 0));
      if (zero !== 0) a.emit("vpsubd", YMM[X], YMM[X], v.konst(bits(zero)));
      a.emit("vcvtdq2ps", YMM[X], YMM[X]);
      a.emit("vmulps", YMM[X], YMM[X], v.konst(f32(scale)));
      a.emit("vmovups", ptr(r8, 0).withSize(32), YMM[X]);
      a.emit("add", rsi, 8);
      a.emit("add", r8, 32);
    });
  } else throw new Error(`qlinear: ${s.mode} has no flat vector form`);
  if (s.count % 8) emitScalar(a, { ...s, count: s.count % 8 });
}

/**
 * Add and mul of one shape (b element by element): 8 a step as the AVX-512
 * rows compute them, the rest one at a time.
 */
export function emitSameBinary(a: Assembler, s: QLinearSpec): void {
  const v = new Vec(a, vecIsa("avx2"));
  const full = Math.floor(s.count / 8), A = 0, B = 1, V = 2, T = 3;
  const [p0, p1, p2, p3] = s.params, widen = s.signedIn ? "vpmovsxbd" : "vpmovzxbd";
  countedLoop(a, rax, full, () => {
    a.emit(widen, YMM[A], qword(rsi, 0));
    a.emit(widen, YMM[B], qword(rdx, 0));
    if (s.mode === "mul") {
      a.emit("vpsubd", YMM[A], YMM[A], v.konst(bits(p1)));
      a.emit("vpsubd", YMM[B], YMM[B], v.konst(bits(p2)));
      a.emit("vpmulld", YMM[V], YMM[A], YMM[B]); // exact: |(a − a_zp)(b − b_zp)| ≤ 255²
      a.emit("vcvtdq2ps", YMM[V], YMM[V]);
      a.emit("vmulps", YMM[V], YMM[V], v.konst(f32(p0)));
      a.emit("vaddps", YMM[V], YMM[V], v.konst(f32(p3)));
    } else {
      a.emit("vcvtdq2ps", YMM[A], YMM[A]);
      a.emit("vcvtdq2ps", YMM[V], YMM[B]);
      a.emit("vmovups", YMM[T], v.konst(f32(p2)));
      a.emit("vfmadd132ps", YMM[V], YMM[T], v.konst(f32(p1))); // b·r2 + fixed
      a.emit("vfmadd231ps", YMM[V], YMM[A], v.konst(f32(p0))); // a·r1 + that
    }
    a.emit("vcvtps2dq", YMM[V], YMM[V]);
    narrowBytes8(a, V, T, s.signedOut);
    a.emit("vmovq", qword(r8, 0), XMM[V]);
    a.emit("add", rsi, 8);
    a.emit("add", rdx, 8);
    a.emit("add", r8, 8);
  });
  if (s.count % 8) emitBinaryRows(a, { ...s, count: s.count % 8 }, false);
}

/**
 * Requantizing rows (rsi = x, rdx = the multipliers, r8 = y at the part's
 * first row): each row's multiplier broadcast, 8 elements a step, the row's
 * rest one at a time (the multiplier in xmm1's first lane either way).
 */
export function emitRequantize8(a: Assembler, s: QLinearSpec): void {
  const v = new Vec(a, vecIsa("avx2"));
  const [cols, zero, channels] = s.params, [lo, hi] = bounds(s, zero);
  const first = s.from / cols, rows = s.count / cols;
  const full = Math.floor(cols / 8), tail = cols % 8;
  const X = 0, M = 1, NAN = 2, LO = 3, HI = 4, ZP = 5, T = 6;
  a.emit("vbroadcastss", YMM[LO], dword(a.constant(new Float32Array([lo]), 4)));
  a.emit("vbroadcastss", YMM[HI], dword(a.constant(new Float32Array([hi]), 4)));
  a.emit("vmovdqu", YMM[ZP], v.konst(bits(zero)));
  // r11: the row's multiplier offset (4·(row mod channels)); r10: rows left; rcx: the wrap.
  a.emit("mov", r11, 4 * (first % channels));
  a.emit("mov", rcx, 4 * channels);
  countedLoop(a, r10, rows, () => {
    a.emit("vbroadcastss", YMM[M], dword(rdx, 0, r11, 1));
    countedLoop(a, rax, full, () => {
      a.emit("vmovups", YMM[X], ptr(rsi, 0).withSize(32));
      a.emit("vmulps", YMM[X], YMM[X], YMM[M]);
      a.emit("vcmpps", YMM[NAN], YMM[X], YMM[X], 3);
      a.emit("vmaxps", YMM[X], YMM[X], YMM[LO]);
      a.emit("vminps", YMM[X], YMM[X], YMM[HI]);
      a.emit("vcvtps2dq", YMM[X], YMM[X]);
      a.emit("vpaddd", YMM[X], YMM[X], YMM[ZP]);
      a.emit("vpandn", YMM[X], YMM[NAN], YMM[X]);
      narrowBytes8(a, X, T, s.signedOut);
      a.emit("vmovq", qword(r8, 0), XMM[X]);
      a.emit("add", rsi, 32);
      a.emit("add", r8, 8);
    });
    if (tail) {
      countedLoop(a, r9, tail, () => {
        a.emit("movss", XMM[0], dword(rsi, 0));
        a.emit("mulss", XMM[0], XMM[M]);
        emitScalarNarrow(a, eax, lo, hi, zero);
        a.emit("mov", ptr(r8, 0).withSize(1), al);
        a.emit("add", rsi, 4);
        a.emit("add", r8, 1);
      });
    }
    const same = a.label();
    a.emit("add", r11, 4);
    a.emit("cmp", r11, rcx);
    a.emit("jne", same);
    a.emit("xor", r11, r11);
    a.bind(same);
  });
}
