/**
 * AVX2's horizontal pass over 8 rows at once, where permutes do not reach
 * (an antialiased or steep downscale) and the vertical pass went first: the
 * workspace's rows (w padded to whole vectors) are transposed 8×8 into
 * columns of 8 rows, each output column is the taps' sum over those column
 * vectors (a multiply, then FMAs, in the taps' order: the scalar pass's
 * arithmetic lane by lane, so its bits), and the 8 rows' results are
 * copied out to y element by element.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r14,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { transpose8 } from "../transpose.ts";
import type { Vec, VecLevel } from "../vec.ts";
import type { ResizeSpec } from "./spec.ts";
import type { AxisTable } from "./tables.ts";

/** Rows a step of the pass transposes (AVX2's lanes). */
const ROWS = 8;
/** Bytes of a column vector (8 rows of a column): the stride of the pass's column table. */
export const COLUMN_VECTOR_BYTES = ROWS * 4;

/** Floats of a workspace row when the pass runs: w rounded up to whole vectors. */
export function paddedWidth(s: ResizeSpec): number {
  return Math.ceil(s.w / ROWS) * ROWS;
}

/**
 * Whether the pass serves: AVX2, the vertical pass first, a linear or cubic
 * call (nearest copies element by element as it is), no permutes.
 */
export function transposedServes(
  s: ResizeSpec,
  level: VecLevel,
  first: boolean,
  permutes: boolean,
): boolean {
  return level === "avx2" && first && s.mode !== "nearest" && !permutes;
}

/** Bytes after the workspace's rows: the columns (w padded × 8) and the results (ow × 8). */
export function transposedBytes(s: ResizeSpec): number {
  return (paddedWidth(s) + s.ow) * ROWS * 4;
}

/** Taps the pass unrolls per output column; wider windows loop over theirs. */
const UNROLLED = 32;

/**
 * `rows` workspace rows (from [rsp + slot], `paddedWidth` floats apart)
 * through the column table to y's rows at rdi (ow floats apart; rdi left
 * past them). The columns and results follow the rows in the workspace, at
 * `columnsAt` bytes from its start. Uses rax, rcx, rsi, r8-r12, r14 and
 * vectors 0-15.
 */
export function emitTransposedRows(
  a: Assembler,
  v: Vec,
  s: ResizeSpec,
  cols: AxisTable,
  table: ReturnType<Assembler["constant"]>,
  rows: number,
  slot: number,
  columnsAt: number,
): void {
  const wp = paddedWidth(s), rowBytes = wp * 4, VB = COLUMN_VECTOR_BYTES, taps = cols.taps;
  // r11: the group's first workspace row; r9: the columns; results from r9 + resultsAt.
  const resultsAt = wp * VB;
  a.emit("mov", r11, qword(rsp, slot));
  a.emit("mov", r9, r11);
  addImmediate(a, "add", r9, columnsAt);
  const group = (count: number) => {
    // The columns: each block of 8 rows × 8 columns transposed (rows past the last read the first).
    for (let c = 0; c < wp; c += ROWS) {
      for (let i = 0; i < ROWS; i++) v.load(i, r11, (i < count ? i : 0) * rowBytes + c * 4);
      const out = transpose8(v);
      for (let j = 0; j < ROWS; j++) v.store(r9, (c + j) * VB, out[j]);
    }
    // The results: per output column, its taps' sum of column vectors (rax: a column's address).
    a.emit("lea", r8, ptr(table, 0, null, 1, 8));
    a.emit("lea", r10, ptr(r9, resultsAt, null, 1, 8));
    countedLoop(a, rcx, s.ow, () => {
      a.emit("movsxd", rax, dword(r8, 0));
      a.emit("add", rax, r9);
      v.load(1, rax, 0);
      v.broadcast(2, r8, 4);
      v.op("mul", 0, 1, 2);
      const next = (entry: Reg, at: number) => {
        a.emit("movsxd", rax, dword(entry, at));
        a.emit("add", rax, r9);
        v.load(1, rax, 0);
        v.broadcast(2, entry, at + 4);
        v.fmadd(0, 1, 2, 0);
      };
      if (taps <= UNROLLED) { for (let t = 1; t < taps; t++) next(r8, 8 * t); }
      else {
        a.emit("mov", r14, r8);
        countedLoop(a, rsi, taps - 1, () => {
          a.emit("add", r14, 8);
          next(r14, 0);
        });
      }
      v.store(r10, 0, 0);
      a.emit("add", r10, VB);
      a.emit("add", r8, 8 * taps);
    });
    // Out to y: row i of the group is lane i of every result.
    for (let i = 0; i < count; i++) {
      a.emit("lea", rax, ptr(r9, resultsAt + 4 * i, null, 1, 8));
      a.emit("lea", rcx, ptr(rdi, i * s.ow * 4, null, 1, 8));
      countedLoop(a, r8, s.ow, () => {
        v.loadScalar(0, rax, 0);
        v.storeScalar(rcx, 0, 0);
        a.emit("add", rax, VB);
        a.emit("add", rcx, 4);
      });
    }
    addImmediate(a, "add", rdi, count * s.ow * 4);
    addImmediate(a, "add", r11, ROWS * rowBytes);
  };
  countedLoop(a, r12, Math.floor(rows / ROWS), () => group(ROWS));
  if (rows % ROWS) group(rows % ROWS);
}
