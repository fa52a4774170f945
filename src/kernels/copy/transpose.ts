/**
 * The strided copy's transpose pass (AVX-512): where the innermost dim is
 * contiguous in y but strided in x, and the dim outside it contiguous in x
 * (y[i][j] = x[i + j·ldx]: a packer's Bᵀ, weights turned channel-last),
 * 16×16 blocks are 16 vector loads down x, a transpose in registers
 * (../transpose.ts) and 16 vector stores along y, edges masked, where the
 * element-by-element pass moves one float per instruction pair.
 *
 * @module
 */
import {
  type Assembler,
  eax,
  KREG,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdi,
  rdx,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { transpose16 } from "../transpose.ts";
import type { Vec } from "../vec.ts";
import type { CopySpec } from "./spec.ts";

const L = 16;

/** Whether the innermost two dims of `s` are a transpose the pass serves at this level. */
export function transposeServes(s: CopySpec, level: string): boolean {
  const n = s.dims.length;
  return level === "avx512" && n >= 2 && s.yStrides[n - 1] === 1 && s.xStrides[n - 1] !== 1 &&
    s.xStrides[n - 2] === 1 && s.yStrides[n - 2] !== 1;
}

/**
 * y[i·ldy + j] = x[i + j·ldx] for i < rows, j < cols, x at rsi and y at
 * rdx (both kept); r8-r11, rcx, rdi, rax and k1, k2 are clobbered.
 */
export function emitTransposePass(
  a: Assembler,
  v: Vec,
  o: { rows: number; cols: number; ldx: number; ldy: number },
): void {
  const { rows, cols, ldx, ldy } = o;
  const mask = (k: number, lanes: number) => {
    a.emit("mov", eax, (1 << lanes) - 1);
    a.emit("kmovw", KREG[k], eax);
  };
  /** One block of `ni` i × `nj` j at x r10, y r11. */
  const block = (ni: number, nj: number) => {
    if (ni < L) mask(1, ni);
    for (let jj = 0; jj < nj; jj++) {
      const at = ptr(r10, jj * ldx * 4);
      if (ni < L) a.emit("vmovups", v.r(jj).k(KREG[1]).z, at);
      else a.emit("vmovups", v.r(jj), at);
    }
    const out = transpose16(v);
    if (nj < L) mask(2, nj);
    for (let ii = 0; ii < ni; ii++) {
      const at = ptr(r11, ii * ldy * 4);
      if (nj < L) a.emit("vmovups", at.k(KREG[2]), v.r(out[ii]));
      else a.emit("vmovups", at, v.r(out[ii]));
    }
  };
  /** Every block of a band of `ni` i (x at r8, y at r9). */
  const band = (ni: number) => {
    a.emit("mov", r10, r8);
    a.emit("mov", r11, r9);
    const full = Math.floor(cols / L), rest = cols % L;
    countedLoop(a, rcx, full, () => {
      block(ni, L);
      addImmediate(a, "add", r10, L * ldx * 4);
      addImmediate(a, "add", r11, L * 4);
    });
    if (rest) block(ni, rest);
  };
  a.emit("mov", r8, rsi);
  a.emit("mov", r9, rdx);
  const full = Math.floor(rows / L), rest = rows % L;
  countedLoop(a, rdi, full, () => {
    band(L);
    addImmediate(a, "add", r8, L * 4);
    addImmediate(a, "add", r9, L * ldy * 4);
  });
  if (rest) band(rest);
}
