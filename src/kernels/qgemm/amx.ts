/**
 * The 8-bit GEMM on AMX tiles. `tdpbusd` multiplies a tile of A (16 rows ×
 * 64 bytes of k, u8) by a tile of B (16 groups of 4 k × 16 columns, s8: the
 * packed B's layout as it is) into a 16 × 16 int32 tile of C: 16,384
 * products per instruction, exact int32 sums wrapping as `vpdpbusd`'s do, so
 * the results are the VNNI kernel's bits.
 *
 * Blocks of C of `mb` × 2 tiles (32 columns): 2 × 2 when k is a multiple of
 * 64 (tmm0-3 C, tmm4-5 A, tmm6-7 B), else 1 × 2 with the last k (fewer than
 * 64) in tiles of their own shape (tmm0-1 C, tmm2 A, tmm3-4 B, tmm5 A's
 * tail, tmm6-7 B's tail): a tile configuration cannot change while C's tiles
 * accumulate (loading one zeroes them), so every shape a block needs is set
 * once. Rows past the last whole block get a configuration of their own.
 * Each finished block goes through the workspace (`tilestored`, 128 bytes a
 * row) into the shared vector epilogue, 6 rows at a time.
 *
 * @module
 */
import {
  type Assembler,
  byte,
  type Label,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r9,
  rax,
  rcx,
  rdi,
  rsi,
  rsp,
  TMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { accumulator, emitTileEpilogue } from "./epilogue.ts";
import { emitColumnTiles } from "./columns.ts";
import { kGroups, type QGemmSpec } from "./spec.ts";

/** Columns of C per block: two tiles of 16. */
export const AMX_COLUMNS = 32;
/** Workspace bytes of one kernel: a block of C (32 rows × 128 bytes). */
export const AMX_WORKSPACE = 32 * 128;
/** Rows of C the epilogue finishes at a time (its 24 accumulators: 6 rows × 4 vectors). */
const EPILOGUE_ROWS = 6;

/** The tile roles of a blocking. */
interface Blocking {
  /** Row tiles per block (1 or 2). */
  mb: number;
  c: (i: number, j: number) => number;
  a: (i: number) => number;
  b: (j: number) => number;
  /** A's and B's tiles for the last k (fewer than 16 groups), -1 without. */
  aTail: number;
  bTail: (j: number) => number;
}

function blocking(s: QGemmSpec): Blocking {
  const tail = kGroups(s.k) % 16 !== 0;
  return tail
    ? { mb: 1, c: (_i, j) => j, a: () => 2, b: (j) => 3 + j, aTail: 5, bTail: (j) => 6 + j }
    : {
      mb: 2,
      c: (i, j) => 2 * i + j,
      a: (i) => 4 + i,
      b: (j) => 6 + j,
      aTail: -1,
      bTail: () => -1,
    };
}

/**
 * A 64-byte tile configuration (palette 1): for blocks whose row tiles have
 * `rows[i]` rows (0: unused), k's last `kt` groups (0: none).
 */
function tileConfig(bl: Blocking, rows: number[], kt: number): Uint8Array {
  const cfg = new Uint8Array(64);
  cfg[0] = 1;
  const set = (t: number, r: number, bytes: number) => {
    if (t < 0 || r === 0) return;
    cfg[16 + 2 * t] = bytes & 0xff;
    cfg[17 + 2 * t] = bytes >> 8;
    cfg[48 + t] = r;
  };
  for (let i = 0; i < bl.mb; i++) {
    for (let j = 0; j < 2; j++) set(bl.c(i, j), rows[i], 64);
    set(bl.a(i), rows[i], 64);
    if (kt) set(bl.aTail, rows[i], 4 * kt);
  }
  for (let j = 0; j < 2; j++) {
    set(bl.b(j), 16, 64);
    if (kt) set(bl.bTail(j), kt, 64);
  }
  return cfg;
}

/**
 * rsi = A, rdx = packed B, r8 = C; rcx, rbp, rdi, rbx the epilogue's column
 * pointers; frame slots: za (int32), the workspace's address, the column loop's counter.
 */
export function emitAmx(
  a: Assembler,
  s: QGemmSpec,
  slots: { za: number; work: number; cols: number },
): void {
  const { za: zaSlot, work: workSlot, cols: colsSlot } = slots;
  const bl = blocking(s);
  const groups = kGroups(s.k), kt = groups % 16, kFull = Math.floor(groups / 16);
  const bRow = s.bStride * 4, blockRows = 16 * bl.mb;
  const fullBlocks = Math.floor(s.m / blockRows), restRows = s.m % blockRows;
  const config = (rows: number[]): Label => a.constant(tileConfig(bl, rows, kt), 64);
  const mainConfig = fullBlocks ? config([16, 16]) : null;
  const restConfig = restRows ? config([Math.min(16, restRows), Math.max(0, restRows - 16)]) : null;

  /** One block: `tiles` row tiles of `rows` rows in all, `nv` tiles of columns; A at r12, B at r10, C at r11. */
  const block = (rows: number, tiles: number, nv: number, masked: boolean) => {
    for (let i = 0; i < tiles; i++) {
      for (let j = 0; j < nv; j++) a.emit("tilezero", TMM[bl.c(i, j)]);
    }
    // rcx and rdi are the strides while the tiles load (their column pointers on the stack).
    a.emit("push", rcx);
    a.emit("push", rdi);
    a.emit("mov", rcx, s.lda);
    a.emit("mov", rdi, bRow);
    a.emit("mov", r13, r12);
    a.emit("mov", r14, r10);
    const step = (aTile: (i: number) => number, bTile: (j: number) => number, ahead = false) => {
      if (ahead) {
        // The next k step's rows into L1 while this one's tiles load and multiply: a tile
        // load waits on its 16 rows, and measured on this Xeon (a VM), loads from L2 left
        // the tiles idle (`bench/quantized.ts`, AMX against VNNI in one process:
        // 128×768×768 ×0.86-0.87 → ×0.94-1.42, 128×3072×768 ×0.96-0.98 → ×1.06-1.18).
        for (let i = 0; i < tiles; i++) {
          for (let r = 0; r < 16; r++) a.emit("prefetcht0", byte(r13, (i * 16 + r) * s.lda + 64));
        }
        for (let j = 0; j < nv; j++) {
          for (let r = 0; r < 16; r++) a.emit("prefetcht0", byte(r14, (16 + r) * bRow + j * 64));
        }
      }
      for (let i = 0; i < tiles; i++) {
        a.emit("tileloadd", TMM[aTile(i)], ptr(r13, i * 16 * s.lda, rcx, 1));
      }
      for (let j = 0; j < nv; j++) a.emit("tileloadd", TMM[bTile(j)], ptr(r14, j * 64, rdi, 1));
      for (let i = 0; i < tiles; i++) {
        for (let j = 0; j < nv; j++) {
          a.emit("tdpbusd", TMM[bl.c(i, j)], TMM[aTile(i)], TMM[bTile(j)]);
        }
      }
    };
    countedLoop(a, rax, kFull, () => {
      step(bl.a, bl.b, true);
      a.emit("add", r13, 64);
      addImmediate(a, "add", r14, 16 * bRow);
    });
    if (kt) step(() => bl.aTail, bl.bTail);
    // The block to the workspace, 128 bytes a row.
    a.emit("mov", r13, qword(rsp, 16 + workSlot));
    a.emit("mov", rcx, 128);
    for (let i = 0; i < tiles; i++) {
      for (let j = 0; j < nv; j++) {
        a.emit("tilestored", ptr(r13, i * 16 * 128 + j * 64, rcx, 1), TMM[bl.c(i, j)]);
      }
    }
    a.emit("pop", rdi);
    a.emit("pop", rcx);
    // Then through the epilogue, 6 rows at a time (r11 moves with them, and back).
    for (let r0 = 0; r0 < rows; r0 += EPILOGUE_ROWS) {
      const h = Math.min(EPILOGUE_ROWS, rows - r0);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < nv; j++) {
          a.emit("vmovdqu32", accumulator(i, j), ptr(r13, (r0 + i) * 128 + j * 64).withSize(64));
        }
      }
      emitTileEpilogue(a, s, h, nv, masked, zaSlot);
      if (r0 + h < rows) addImmediate(a, "add", r11, h * s.ldc * 4);
    }
    const back = (Math.ceil(rows / EPILOGUE_ROWS) - 1) * EPILOGUE_ROWS;
    if (back) addImmediate(a, "sub", r11, back * s.ldc * 4);
  };
  /** Every row block of one column block (A from rsi, C from r9, B at r10). */
  const rowsOf = (nv: number, masked: boolean) => {
    a.emit("mov", r12, rsi);
    a.emit("mov", r11, r9);
    if (mainConfig) {
      a.emit("ldtilecfg", ptr(mainConfig));
      countedLoop(a, r15, fullBlocks, () => {
        block(blockRows, bl.mb, nv, masked);
        addImmediate(a, "add", r12, blockRows * s.lda);
        addImmediate(a, "add", r11, blockRows * s.ldc * 4);
      });
    }
    if (restConfig) {
      a.emit("ldtilecfg", ptr(restConfig));
      block(restRows, Math.ceil(restRows / 16), nv, masked);
    }
  };
  emitColumnTiles(a, s, AMX_COLUMNS / 16, colsSlot, rowsOf);
  a.emit("tilerelease");
}
