/**
 * Packing routines of the blocked GEMM, emitted inline with run-time counts.
 *
 * B block (kc × nc) → panels of NR columns, each kc rows of NR floats
 * (zero-padded past the last column), so the microkernel streams one panel
 * contiguously from L2. A micro-panel (mr × kc) → kc groups of MR floats
 * (zero-padded past row mr), so it sits in L1, contiguous, whatever A's
 * leading dimension is. Row-contiguous sources copy with vectors; the
 * transposing cases copy element by element.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  GP32,
  KREG,
  type Reg,
  vreg,
  xmmword,
  zmmword,
} from "../../../asm/mod.ts";
import type { Vec } from "../vec.ts";
import { addImmediate } from "../abi.ts";

/** Registers a packing loop may use as scratch. */
export interface PackRegs {
  src: Reg;
  dst: Reg;
  i: Reg;
  j: Reg;
  t: Reg;
}

/**
 * Copies `rows` rows of `width` floats (constants) from src (row stride
 * `srcStride` bytes) to dst (row stride `dstStride` bytes), zero-filling
 * columns width..padWidth-1. Vector chunks, then scalar columns. Advances src/dst.
 */
export function emitCopyRows(
  v: Vec,
  r: PackRegs,
  rows: Reg | number,
  width: number,
  padWidth: number,
  srcStride: number,
  dstStride: number,
): void {
  const a = v.a;
  const lanes = v.isa.lanes;
  const x0 = 0;
  const body = () => {
    let j = 0;
    for (; j + lanes <= width; j += lanes) {
      v.load(x0 + ((j / lanes) % 8), r.src, j * 4);
      v.store(r.dst, j * 4, x0 + ((j / lanes) % 8));
    }
    for (; j < width; j++) {
      a.emit("mov", gp32(r.t), dword(r.src, j * 4));
      a.emit("mov", dword(r.dst, j * 4), gp32(r.t));
    }
    if (padWidth > width) {
      v.zero(8);
      let z = width;
      for (; z < padWidth && z % lanes !== 0; z++) a.emit("mov", dword(r.dst, z * 4), 0);
      for (; z + lanes <= padWidth; z += lanes) v.store(r.dst, z * 4, 8);
      for (; z < padWidth; z++) a.emit("mov", dword(r.dst, z * 4), 0);
    }
    addImmediate(a, "add", r.src, srcStride);
    addImmediate(a, "add", r.dst, dstStride);
  };
  loop(a, r.i, rows, body);
}

/**
 * Transposing copy: `cols` source rows (stride srcStride bytes), each read
 * along `rows` consecutive floats, become `rows` destination rows of `cols`
 * floats (stride dstStride), zero-padded to padCols. Scalar: used for
 * transposed B, where the alternative is a gather per element anyway.
 */
export function emitTransposeCopy(
  v: Vec,
  r: PackRegs,
  rows: Reg | number,
  cols: number,
  padCols: number,
  srcStride: number,
  dstStride: number,
): void {
  const a = v.a;
  loop(a, r.i, rows, () => {
    for (let c = 0; c < cols; c++) {
      a.emit("mov", gp32(r.t), dword(r.src, c * srcStride));
      a.emit("mov", dword(r.dst, c * 4), gp32(r.t));
    }
    for (let c = cols; c < padCols; c++) a.emit("mov", dword(r.dst, c * 4), 0);
    a.emit("add", r.src, 4);
    addImmediate(a, "add", r.dst, dstStride);
  });
}

function gp32(r: Reg): Reg {
  return GP32[r.id];
}

function loop(a: Assembler, counter: Reg, count: Reg | number, body: () => void): void {
  if (typeof count === "number") {
    if (count <= 0) return;
    if (count === 1) return body();
    a.emit("mov", counter, count);
  } else {
    a.emit("mov", counter, count);
    a.emit("test", counter, counter);
  }
  const top = a.label(), done = a.label();
  if (typeof count !== "number") a.emit("jz", done);
  a.bind(top);
  body();
  a.emit("dec", counter);
  a.emit("jnz", top);
  a.bind(done);
}

/** Extra registers of {@link emitTransposePanel16}. */
export interface TransposeRegs {
  src: Reg;
  dst: Reg;
  /** Remaining k steps (counts down by 16). */
  rem: Reg;
  /** Scratch for the mask. */
  t: Reg;
  one: Reg;
  /** Holds the panel's start, so dst ends exactly kc rows further. */
  start: Reg;
}

/**
 * AVX-512 transposing copy of one B panel, 16×16 blocks in registers.
 * Source: `cols` rows (stride srcStride bytes) read along `kc` consecutive
 * floats; destination: kc rows of `pad` floats (stride dstStride), zero past
 * `cols`. Whole blocks of 16 destination rows are written, so up to 15 rows
 * past kc get zeros: the caller leaves that slack after the buffer.
 * 64 shuffles move 256 floats, where the scalar copy needs 512 moves.
 *
 * Source rows a multiple of 4 KiB apart put all 16 loads of a block in one
 * L1 set (8 ways): then the block goes in two passes of 8 rows, each stored
 * as 128-bit pieces (measured on Zen 4: 64×768×3072 with Bᵀ, 75% → 88%),
 * unless `whole` (a core whose L1 loses nothing to it: `transposesAliasedRowsWhole`
 * in src/cpu.ts).
 */
export function emitTransposePanel16(
  v: Vec,
  r: TransposeRegs,
  kc: Reg,
  cols: number,
  pad: number,
  srcStride: number,
  dstStride: number,
  whole = false,
): void {
  const a = v.a;
  const R = (i: number) => v.r(i), T = (i: number) => v.r(16 + i);
  const k = KREG[2];
  const top = a.label();
  a.emit("mov", r.start, r.dst);
  a.emit("mov", r.rem, kc);
  a.emit("mov", GP32[r.one.id], 1);
  a.bind(top);
  // Mask of the k steps this block holds: min(rem, 16) low bits.
  a.emit("mov", r.t, 16);
  a.emit("cmp", r.rem, r.t);
  a.emit("cmovb", r.t, r.rem);
  a.emit("shlx", GP32[r.t.id], GP32[r.one.id], GP32[r.t.id]);
  a.emit("dec", GP32[r.t.id]);
  a.emit("kmovw", k, GP32[r.t.id]);
  const halves = srcStride % 4096 === 0 && !whole;
  for (let g = 0; g * 16 < pad; g++) {
    if (halves && g * 16 < cols) {
      for (let h = 0; h < 2; h++) {
        const row0 = g * 16 + h * 8;
        for (let q = 0; q < 8; q++) {
          if (row0 + q < cols) {
            a.emit("vmovups", R(q).k(k).z, zmmword(r.src, (row0 + q) * srcStride));
          } else v.zero(q);
        }
        interleaveRows(a, R, T, 8);
        // R(4g+c), 128-bit lane L: element 4L+c of rows 4g..4g+3 of this pass.
        for (let L = 0; L < 4; L++) {
          for (let grp = 0; grp < 2; grp++) {
            for (let c = 0; c < 4; c++) {
              const at = xmmword(r.dst, (4 * L + c) * dstStride + g * 64 + h * 32 + grp * 16);
              const src = R(4 * grp + c);
              if (L === 0) a.emit("vmovups", at, vreg(128, src.id));
              else a.emit("vextractf32x4", at, src, L);
            }
          }
        }
      }
      continue;
    }
    if (g * 16 >= cols) {
      // Columns past the panel's edge: zeros.
      v.zero(0);
      for (let i = 0; i < 16; i++) a.emit("vmovups", zmmword(r.dst, i * dstStride + g * 64), R(0));
      continue;
    }
    for (let q = 0; q < 16; q++) {
      if (g * 16 + q < cols) {
        a.emit("vmovups", R(q).k(k).z, zmmword(r.src, (g * 16 + q) * srcStride));
      } else v.zero(q);
    }
    transpose16(a, R, T);
    for (let i = 0; i < 16; i++) a.emit("vmovups", zmmword(r.dst, i * dstStride + g * 64), R(i));
  }
  a.emit("add", r.src, 64);
  addImmediate(a, "add", r.dst, 16 * dstStride);
  a.emit("sub", r.rem, 16);
  a.emit("jg", top);
  // Like the other copies, leave dst right after the panel's kc rows.
  a.emit("imul", r.dst, kc, dstStride);
  a.emit("add", r.dst, r.start);
}

/**
 * The first two steps of a transpose of `rows` (8 or 16) rows R(0..rows):
 * 32-bit then 64-bit interleaves, leaving in R(4g+c), 128-bit lane L,
 * element 4L+c of rows 4g..4g+3. T(0..rows) is scratch.
 */
function interleaveRows(
  a: Assembler,
  R: (i: number) => Reg,
  T: (i: number) => Reg,
  rows: number,
): void {
  for (let i = 0; i < rows / 2; i++) {
    a.emit("vunpcklps", T(2 * i), R(2 * i), R(2 * i + 1));
    a.emit("vunpckhps", T(2 * i + 1), R(2 * i), R(2 * i + 1));
  }
  for (let g = 0; g < rows / 4; g++) {
    a.emit("vshufps", R(4 * g), T(4 * g), T(4 * g + 2), 0x44);
    a.emit("vshufps", R(4 * g + 1), T(4 * g), T(4 * g + 2), 0xee);
    a.emit("vshufps", R(4 * g + 2), T(4 * g + 1), T(4 * g + 3), 0x44);
    a.emit("vshufps", R(4 * g + 3), T(4 * g + 1), T(4 * g + 3), 0xee);
  }
}

/**
 * Transposes the 16×16 floats in zmm R(0..15) (rows) into R(0..15)
 * (columns), with T(0..15) as scratch: 32-bit, 64-bit and 128-bit-lane
 * interleaves, then a last lane shuffle.
 */
function transpose16(a: Assembler, R: (i: number) => Reg, T: (i: number) => Reg): void {
  interleaveRows(a, R, T, 16);
  // Lanes 0/2 and 1/3 of groups 0+1 (T(c), T(4+c)) and 2+3 (T(8+c), T(12+c)).
  for (let c = 0; c < 4; c++) {
    a.emit("vshuff32x4", T(c), R(c), R(4 + c), 0x88);
    a.emit("vshuff32x4", T(4 + c), R(c), R(4 + c), 0xdd);
    a.emit("vshuff32x4", T(8 + c), R(8 + c), R(12 + c), 0x88);
    a.emit("vshuff32x4", T(12 + c), R(8 + c), R(12 + c), 0xdd);
  }
  for (let c = 0; c < 4; c++) {
    a.emit("vshuff32x4", R(c), T(c), T(8 + c), 0x88);
    a.emit("vshuff32x4", R(8 + c), T(c), T(8 + c), 0xdd);
    a.emit("vshuff32x4", R(4 + c), T(4 + c), T(12 + c), 0x88);
    a.emit("vshuff32x4", R(12 + c), T(4 + c), T(12 + c), 0xdd);
  }
}
