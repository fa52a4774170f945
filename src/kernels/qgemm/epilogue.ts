/**
 * The 8-bit GEMM's tile epilogue, shared by its VNNI and AMX kernels: the
 * int32 sums of a tile (row i, vector j of 16 columns in zmm(4i + j)) get
 * their column terms (bias, −za·Σb), become float (nearest even, as a Cast),
 * are scaled, get the float bias and the activation, and go to C.
 *
 * Registers on entry: r11 = C at the tile's first row and column; column
 * pointers at the tile's first column rcx (B's column sums), rbp (int32
 * bias), rdi (scales), rbx (float bias); k1 the last vector's mask when
 * `masked`; za (int32) in the frame at `zaSlot`. zmm24-31 and k2-k7 are
 * taken as temporaries.
 *
 * @module
 */
import { dword, KREG, ptr, r11, rbp, rbx, rcx, rdi, type Reg, rsp, ZMM } from "../../../asm/mod.ts";
import type { Assembler } from "../../../asm/mod.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { Vec, vecIsa } from "../vec.ts";
import type { QGemmSpec } from "./spec.ts";

/** Vectors of 16 columns per accumulator row: the tile's sums are in zmm(i·NV + j). */
export const NV = 4;

/** The accumulator of row i, vector j. */
export function accumulator(i: number, j: number): Reg {
  return ZMM[i * NV + j];
}

/** Finishes a tile of `rows` (≤ 6) × `nv` (≤ NV) vectors whose int32 sums are in its accumulators. */
export function emitTileEpilogue(
  a: Assembler,
  s: QGemmSpec,
  rows: number,
  nv: number,
  masked: boolean,
  zaSlot: number,
): void {
  const acc = accumulator;
  const bv = (j: number) => ZMM[24 + j], T = ZMM[30], ZA = ZMM[31];
  /** Row i, vector j of the tile to C at r11 (the last vector masked when `cut`). */
  const store = (i: number, j: number, cut: boolean, r: Reg) => {
    const at = ptr(r11, i * s.ldc * 4 + j * 64).withSize(64);
    if (cut) a.emit("vmovdqu32", at.k(KREG[1]), r);
    else a.emit("vmovdqu32", at, r);
  };
  // The column terms once per tile (B's registers are free now): bias, za·Σb or their
  // difference; read past n only in the padding lanes of a masked vector, the loads masked
  // as the store is.
  const terms = s.bias || s.aZero, fold = s.aZero && !s.bias ? "vpsubd" : "vpaddd";
  // za from the frame each tile: an activation's temporaries take every free register.
  if (s.aZero) a.emit("vpbroadcastd", ZA, dword(rsp, zaSlot));
  for (let j = 0; j < nv && terms; j++) {
    const cut = masked && j === nv - 1;
    const sm = ptr(rcx, j * 64).withSize(64), bm = ptr(rbp, j * 64).withSize(64);
    if (s.aZero) {
      if (cut) {
        a.emit("vmovdqu32", bv(j).k(KREG[1]).z, sm);
        a.emit("vpmulld", bv(j), bv(j), ZA);
      } else a.emit("vpmulld", bv(j), ZA, sm);
    }
    if (s.bias) {
      const to = s.aZero ? T : bv(j);
      if (cut) a.emit("vmovdqu32", to.k(KREG[1]).z, bm);
      else a.emit("vmovdqu32", to, bm);
      if (s.aZero) a.emit("vpsubd", bv(j), T, bv(j));
    }
  }
  // With an activation, every accumulator is finished first, so its emitter has B's
  // registers and the others (24-31) as temporaries.
  const late = s.activation !== null;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < nv; j++) {
      const cut = masked && j === nv - 1;
      if (terms) a.emit(fold, acc(i, j), acc(i, j), bv(j));
      // Float C: the sum converted (nearest even) and scaled, as a Cast and a Mul would.
      if (s.scale) {
        a.emit("vcvtdq2ps", acc(i, j), acc(i, j));
        if (s.scale === 1) a.emit("vmulps", acc(i, j), acc(i, j), dword(rdi, 0).b);
        else if (masked && j === nv - 1) {
          a.emit("vmovups", T.k(KREG[1]).z, ptr(rdi, j * 64).withSize(64));
          a.emit("vmulps", acc(i, j), acc(i, j), T);
        } else a.emit("vmulps", acc(i, j), acc(i, j), ptr(rdi, j * 64).withSize(64));
      }
      // The float bias (rbx at the tile's first column), rounded as an Add would.
      if (s.floatBias) {
        const fm = ptr(rbx, j * 64).withSize(64);
        if (cut) {
          a.emit("vmovups", T.k(KREG[1]).z, fm);
          a.emit("vaddps", acc(i, j), acc(i, j), T);
        } else a.emit("vaddps", acc(i, j), acc(i, j), fm);
      }
      if (!late) store(i, j, cut, acc(i, j));
    }
  }
  if (late) {
    const act = s.activation!, def = UNARY_OPS[act.op];
    const v = new Vec(a, vecIsa("avx512")), OUT = 24;
    const temps = [25, 26, 27, 28, 29, 30, 31];
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < nv; j++) {
        def.emit(new Lanes(v, temps, [2, 3, 4, 5, 6, 7]), OUT, i * NV + j, act.params);
        store(i, j, masked && j === nv - 1, ZMM[OUT]);
      }
    }
  }
}
