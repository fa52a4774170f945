/**
 * The 8-bit GEMM without VNNI (AVX2), as exact as VNNI's. `vpmaddubsw`
 * (what ORT's kernels use there) saturates the sum of two u8·s8 products at
 * int16; here both operands are widened to int16 and `vpmaddwd` sums pairs
 * of word products into int32 lanes, which cannot overflow (2·255·128 <
 * 2^31). It multiplies as many bytes per multiply instruction as
 * `vpmaddubsw` followed by its `vpmaddwd` by ones.
 *
 * A's rows are widened to words once per panel of rows, into the
 * workspace; for each k block and column tile of 8 columns, packed B's
 * groups are copied there as words, contiguous (in place, rows n·4 bytes
 * apart would share a few L1 sets). Per group of 4 k, a tile of 6 rows × 8
 * columns loads the copy's two vectors (dword lanes (k0,k1), (k2,k3) of 4
 * columns each) and broadcasts each row's 4 words as a qword: `vpmaddwd`
 * gives per column the sum over (k0,k1) in one lane and over (k2,k3) in the
 * next, 12 accumulators; the lane pairs are added once, at the end
 * (`vphaddd`, `vpermq`). k longer than a block adds the blocks' sums in C.
 *
 * With B within ±64 (7-bit weights) a pair of u8·s8 products fits int16:
 * the tiles then read A's bytes and B's (copied) bytes as they are, through
 * `vpmaddubsw` and a `vpmaddwd` by ones, one accumulator a row (the sums in
 * column order).
 *
 * Loops: panels of rows, k blocks, column tiles of 8, row tiles of 6, k.
 * Integer sums in any order are the same: every plan gives the same bits.
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
  r13,
  r14,
  r15,
  r8,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
  YMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { Vec, vecIsa } from "../vec.ts";
import { kGroups, type QGemmSpec } from "./spec.ts";
import { emitWidenBytes, loadWordOnes } from "../bytes.ts";

/** Rows per tile: 6 × 2 accumulators, 2 B vectors, A's broadcast and a product in 16 registers. */
export const MADD_ROWS = 6;
/** Columns per tile: two vectors of 4 columns (a dword lane per pair of k each). */
const COLUMNS = 8;
/** Groups of 4 k per loop iteration. */
const UNROLL = 2;
/** At most this many rows widened at once. */
const MAX_PANEL_ROWS = 96;
/**
 * At most this many groups of 4 k per block by default: a row tile's words
 * (6 × 8 bytes a group) and B's column tile (64 bytes a group) stay in L1
 * (14 KiB) while the block's k pass over them; longer k adds the blocks'
 * sums in C. The tuner also tries the others of {@link BLOCK_CANDIDATES}.
 */
export const MAX_BLOCK_GROUPS = 128;
/** The k block sizes (groups of 4 k) the tuner tries. */
export const BLOCK_CANDIDATES: readonly number[] = [64, 128, 256, 512];

/** Bytes of one row of A widened to words (2 per k, k rounded up to 4). */
export function widenedRowBytes(s: QGemmSpec): number {
  return 8 * kGroups(s.k);
}

/** k's blocks of at most `most` groups: their count and groups per block (the last has the rest). */
export function kBlocks(s: QGemmSpec, most: number): { blocks: number; groups: number } {
  const all = kGroups(s.k), blocks = Math.max(1, Math.ceil(all / most));
  return { blocks, groups: Math.ceil(all / blocks) };
}

/**
 * Rows of A widened at once: a multiple of the tile's rows whose words of
 * one k block take at most a quarter of L2 (they stay there while every
 * column tile passes; B's column tile is copied once per panel and block),
 * all of A when fewer.
 */
export function maddPanelRows(s: QGemmSpec, l2: number, most: number): number {
  const blockRow = (s.narrowB ? 4 : 8) * kBlocks(s, most).groups;
  const fit = Math.floor(Math.max(l2, 256 * 1024) / 4 / blockRow / MADD_ROWS);
  return Math.max(
    1,
    Math.min(s.m, Math.max(1, Math.min(fit, MAX_PANEL_ROWS / MADD_ROWS)) * MADD_ROWS),
  );
}

/**
 * Bytes of the copy of one block of a column tile of packed B, as words:
 * its groups of 4 k contiguous. Packed B's rows lie n·4 bytes apart, often
 * a multiple of the L1 set stride (4 KiB): the column tile's rows, re-read
 * by every row tile, would share a few sets of L1 and evict each other.
 */
export function columnCopyBytes(s: QGemmSpec, most: number): number {
  return (s.narrowB ? 32 : 64) * kBlocks(s, most).groups;
}

/** Frame slots the path uses. */
export interface MaddSlots {
  /** A's zero point (int32). */
  za: number;
  /** The workspace's address. */
  work: number;
  /** The panel loop's counter. */
  panels: number;
  /** The middle k blocks' loop counter. */
  blocks: number;
  /** The middle k block's first group: its offset in a widened row of A (bytes). */
  aOffset: number;
  /** The same in packed B (bytes). */
  bOffset: number;
}

/** The accumulator of row i, vector j (4 columns each). */
const acc = (i: number, j: number): Reg => YMM[2 * i + j];
const B0 = 12, B1 = 13, AW = 14, PROD = 15, MASK = 15;

/**
 * One k block of a pass over the column tiles: its first group (a constant,
 * or the frame's offsets for the middle blocks' loop), its groups, whether
 * its sums start at zero (else from C) and end in the epilogue (else in C).
 */
interface Block {
  from: number | "frame";
  groups: number;
  first: boolean;
  last: boolean;
}

/**
 * What every loop of one pass over a panel's column tiles shares: the spec,
 * the frame's slots, a widened row's bytes, where B's column copy lies in
 * the workspace, and the k block.
 */
interface Pass {
  s: QGemmSpec;
  slots: MaddSlots;
  /** Bytes between A's rows as the tiles read them (widened, or A's own: narrow B). */
  wRow: number;
  copyAt: number;
  b: Block;
  /** B within ±64: A's and B's bytes as they are, `vpmaddubsw` (see bytesLayout). */
  narrow: boolean;
}

/**
 * With B within ±64 (`QGemmSpec.narrowB`), a pair of u8·s8 products fits
 * int16: `vpmaddubsw` multiplies A's 4 bytes (a dword broadcast from A's own
 * row) with 8 columns' 4 bytes, `vpmaddwd` by ones sums its pairs into each
 * column's int32 lane — no widening of either, and the lanes in column
 * order (no pair sums at the end). Per group of 4 k, bytes a row of A and a
 * column tile of B's copy.
 */
const NARROW = { aGroup: 4, bGroup: 32 };
/** The word tiles' the same. */
const WORDS = { aGroup: 8, bGroup: 64 };

/**
 * rsi = A, rdx = packed B, r8 = C; rbp (int32 bias), rcx (B's column sums),
 * rdi (scales), rbx (float bias) at column 0; the workspace's address in the
 * frame. Column tiles address every column array at r11 (4 bytes a column in
 * each, packed B's groups too).
 */
export function emitMadd(
  a: Assembler,
  s: QGemmSpec,
  panelRows: number,
  blockGroups: number,
  slots: MaddSlots,
): void {
  const narrow = s.narrowB, L = narrow ? NARROW : WORDS;
  const wRow = narrow ? s.lda : widenedRowBytes(s), bRow = s.bStride * 4;
  const panels = Math.floor(s.m / panelRows), lastRows = s.m % panelRows;
  const { blocks, groups } = kBlocks(s, blockGroups),
    lastGroups = kGroups(s.k) - (blocks - 1) * groups;
  a.emit("mov", r12, qword(rsp, slots.work));
  // B's column tile copy after the panel's words (narrow: the workspace's start).
  const copyAt = narrow ? 0 : panelRows * wRow;
  const panel = (rows: number) => {
    if (!narrow) emitWiden(a, s, rows, wRow);
    const pass = (b: Block) => emitColumns(a, { s, slots, wRow, copyAt, b, narrow }, rows);
    if (blocks === 1) return pass({ from: 0, groups, first: true, last: true });
    pass({ from: 0, groups, first: true, last: false });
    if (blocks > 2) {
      a.emit("mov", qword(rsp, slots.aOffset), L.aGroup * groups);
      a.emit("mov", qword(rsp, slots.bOffset), groups * bRow);
      frameLoop(a, slots.blocks, blocks - 2, () => {
        pass({ from: "frame", groups, first: false, last: false });
        a.emit("add", qword(rsp, slots.aOffset), L.aGroup * groups);
        a.emit("add", qword(rsp, slots.bOffset), groups * bRow);
      });
    }
    pass({ from: (blocks - 1) * groups, groups: lastGroups, first: false, last: true });
  };
  frameLoop(a, slots.panels, panels, () => {
    panel(panelRows);
    addImmediate(a, "add", rsi, panelRows * s.lda);
    addImmediate(a, "add", r8, panelRows * s.ldc * 4);
  });
  if (lastRows) panel(lastRows);
}

/** `rows` rows of A (rsi, u8) as words into the workspace (r12), k rounded up to 4. */
function emitWiden(a: Assembler, s: QGemmSpec, rows: number, wRow: number): void {
  a.emit("mov", r13, rsi);
  a.emit("mov", r14, r12);
  countedLoop(a, r15, rows, () => {
    a.emit("mov", r9, r13);
    a.emit("mov", r10, r14);
    emitWidenBytes(a, r9, r10, 4 * kGroups(s.k), false, rax);
    addImmediate(a, "add", r13, s.lda);
    addImmediate(a, "add", r14, wRow);
  });
}

/** Every column tile of a panel of `rows` rows (its words at r12, C at r8), for one k block. */
function emitColumns(a: Assembler, p: Pass, rows: number) {
  const full = Math.floor(p.s.n / COLUMNS), tail = p.s.n % COLUMNS;
  const tiles = (cut: number) => emitRowTiles(a, p, rows, cut);
  a.emit("xor", r11, r11);
  if (full > 1) {
    const top = a.label();
    a.bind(top);
    tiles(0);
    a.emit("add", r11, 4 * COLUMNS);
    a.emit("cmp", r11, 4 * COLUMNS * full);
    a.emit("jb", top);
  } else if (full === 1) {
    tiles(0);
    a.emit("add", r11, 4 * COLUMNS);
  }
  if (tail) tiles(tail);
}

/** The row tiles of one column tile (at r11; `tail`: its valid columns when fewer than 8). */
function emitRowTiles(a: Assembler, p: Pass, rows: number, tail: number): void {
  emitCopyColumns(a, p);
  a.emit("mov", r10, p.narrow ? rsi : r12);
  if (p.b.from === "frame") a.emit("add", r10, qword(rsp, p.slots.aOffset));
  else addImmediate(a, "add", r10, (p.narrow ? NARROW : WORDS).aGroup * p.b.from);
  a.emit("lea", r9, ptr(r8, 0, r11, 1));
  const full = Math.floor(rows / MADD_ROWS), rest = rows % MADD_ROWS;
  countedLoop(a, r15, full, () => {
    emitTile(a, p, MADD_ROWS, tail);
    addImmediate(a, "add", r10, MADD_ROWS * p.wRow);
    addImmediate(a, "add", r9, MADD_ROWS * p.s.ldc * 4);
  });
  if (rest) emitTile(a, p, rest, tail);
}

/** The block's groups of packed B's column tile at r11 into the workspace at r12 + copyAt, as words. */
function emitCopyColumns(a: Assembler, { s, copyAt, b, slots, narrow }: Pass): void {
  const bRow = s.bStride * 4, PER = 4;
  a.emit("lea", r13, ptr(rdx, 0, r11, 1));
  if (b.from === "frame") a.emit("add", r13, qword(rsp, slots.bOffset));
  else addImmediate(a, "add", r13, b.from * bRow);
  a.emit("lea", r14, ptr(r12, copyAt));
  const one = (u: number) => {
    const r = 2 * (u % PER);
    if (narrow) {
      a.emit("vmovdqu", YMM[r], ptr(r13, u * bRow).withSize(32));
      a.emit("vmovdqu", ptr(r14, u * 32).withSize(32), YMM[r]);
      return;
    }
    a.emit("vpmovsxbw", YMM[r], ptr(r13, u * bRow).withSize(16));
    a.emit("vpmovsxbw", YMM[r + 1], ptr(r13, u * bRow + 16).withSize(16));
    a.emit("vmovdqu", ptr(r14, u * 64).withSize(32), YMM[r]);
    a.emit("vmovdqu", ptr(r14, u * 64 + 32).withSize(32), YMM[r + 1]);
  };
  countedLoop(a, rax, Math.floor(b.groups / PER), () => {
    for (let u = 0; u < PER; u++) one(u);
    addImmediate(a, "add", r13, PER * bRow);
    a.emit("add", r14, PER * (narrow ? NARROW : WORDS).bGroup);
  });
  for (let u = 0; u < b.groups % PER; u++) one(u);
}

/** One tile of one k block: rows × 8 columns, A's words at r10, C at r9, the column offset r11. */
function emitTile(a: Assembler, p: Pass, rows: number, tail: number): void {
  const { s, wRow, copyAt, b, slots, narrow } = p, L = narrow ? NARROW : WORDS;
  const cut = tail > 0, v = new Vec(a, vecIsa("avx2"));
  const at = (i: number) => ptr(r9, i * s.ldc * 4).withSize(32);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 2; j++) a.emit("vpxor", acc(i, j), acc(i, j), acc(i, j));
  }
  a.emit("mov", r13, r10);
  a.emit("lea", r14, ptr(r12, copyAt));
  // Narrow: sixteen words of 1 (vpmaddwd by them sums each pair of words) in acc(0, 1), which
  // the byte tiles leave free (their sums are in column order in acc(i, 0)).
  const ONES = acc(0, 1);
  if (narrow) loadWordOnes(a, ONES);
  const step = (u: number) => {
    if (narrow) {
      a.emit("vmovdqu", YMM[B0], ptr(r14, u * 32).withSize(32));
      for (let i = 0; i < rows; i++) {
        a.emit("vpbroadcastd", YMM[AW], dword(r13, i * wRow + 4 * u));
        a.emit("vpmaddubsw", YMM[PROD], YMM[AW], YMM[B0]); // A unsigned, B signed
        a.emit("vpmaddwd", YMM[PROD], YMM[PROD], ONES);
        a.emit("vpaddd", acc(i, 0), acc(i, 0), YMM[PROD]);
      }
      return;
    }
    a.emit("vmovdqu", YMM[B0], ptr(r14, u * 64).withSize(32));
    a.emit("vmovdqu", YMM[B1], ptr(r14, u * 64 + 32).withSize(32));
    for (let i = 0; i < rows; i++) {
      a.emit("vpbroadcastq", YMM[AW], qword(r13, i * wRow + 8 * u));
      a.emit("vpmaddwd", YMM[PROD], YMM[AW], YMM[B0]);
      a.emit("vpaddd", acc(i, 0), acc(i, 0), YMM[PROD]);
      a.emit("vpmaddwd", YMM[PROD], YMM[AW], YMM[B1]);
      a.emit("vpaddd", acc(i, 1), acc(i, 1), YMM[PROD]);
    }
  };
  const whole = Math.floor(b.groups / UNROLL), left = b.groups % UNROLL;
  countedLoop(a, rax, whole, () => {
    for (let u = 0; u < UNROLL; u++) step(u);
    a.emit("add", r13, L.aGroup * UNROLL);
    a.emit("add", r14, L.bGroup * UNROLL);
  });
  for (let u = 0; u < left; u++) step(u);
  // The lane pairs added: row i's 8 columns in order in acc(i, 0) (narrow: already).
  for (let i = 0; i < rows && !narrow; i++) {
    a.emit("vphaddd", acc(i, 0), acc(i, 0), acc(i, 1));
    a.emit("vpermq", acc(i, 0), acc(i, 0), 0xd8); // qwords 0, 2, 1, 3
  }
  if (cut) v.tail(tail, 1, MASK);
  // A later block adds the sums the earlier ones left in C (int32 there until the epilogue).
  for (let i = 0; i < rows && !b.first; i++) {
    if (cut) a.emit("vpmaskmovd", YMM[B1], YMM[MASK], at(i));
    else a.emit("vmovdqu", YMM[B1], at(i));
    a.emit("vpaddd", acc(i, 0), acc(i, 0), YMM[B1]);
  }
  if (b.last) return emitEpilogue(a, s, rows, cut, slots);
  for (let i = 0; i < rows; i++) {
    if (cut) a.emit("vpmaskmovd", at(i), YMM[MASK], acc(i, 0));
    else a.emit("vmovdqu", at(i), acc(i, 0));
  }
}

/**
 * Row i's 8 sums in acc(i, 0) (the mask in ymm15 when `cut`), as the VNNI
 * path's epilogue: the column terms (bias, −za·Σb), float (nearest
 * even) and scaled, the float bias, the activation, to C (r9).
 */
function emitEpilogue(a: Assembler, s: QGemmSpec, rows: number, cut: boolean, slots: MaddSlots) {
  const v = new Vec(a, vecIsa("avx2"));
  const column = (base: Reg) => ptr(base, 0, r11, 1).withSize(32);
  /** dst = the tile's 8 values of a column array (the valid ones when cut, zeros past them). */
  const load = (dst: number, base: Reg) =>
    cut
      ? a.emit("vpmaskmovd", YMM[dst], YMM[MASK], column(base))
      : a.emit("vmovdqu", YMM[dst], column(base));
  // Registers free after the pair sums: acc(i, 1) of every row, and 12-14 (15 is the mask).
  const T = 14, S = 13, FB = 12, ZA = 1, SUMS = 3;
  const terms = s.bias || s.aZero, fold = s.aZero && !s.bias ? "vpsubd" : "vpaddd";
  let t = T;
  if (s.aZero) {
    a.emit("vpbroadcastd", YMM[ZA], dword(rsp, slots.za));
    load(SUMS, rcx);
    a.emit("vpmulld", YMM[SUMS], YMM[SUMS], YMM[ZA]);
    t = SUMS;
  }
  if (s.bias) {
    load(T, rbp);
    if (s.aZero) a.emit("vpsubd", YMM[T], YMM[T], YMM[SUMS]);
    t = T;
  }
  if (s.scale === 1) a.emit("vbroadcastss", YMM[S], dword(rdi, 0));
  else if (s.scale === 2 && cut) load(S, rdi);
  if (s.floatBias && cut) load(FB, rbx);
  const late = s.activation !== null;
  const store = (i: number, r: number) => {
    const at = ptr(r9, i * s.ldc * 4).withSize(32);
    if (cut) a.emit("vpmaskmovd", at, YMM[MASK], YMM[r]);
    else a.emit("vmovdqu", at, YMM[r]);
  };
  for (let i = 0; i < rows; i++) {
    const x = acc(i, 0);
    if (terms) a.emit(fold, x, x, YMM[t]);
    if (s.scale) {
      a.emit("vcvtdq2ps", x, x);
      a.emit("vmulps", x, x, s.scale === 2 && !cut ? column(rdi) : YMM[S]);
    }
    if (s.floatBias) a.emit("vaddps", x, x, cut ? YMM[FB] : column(rbx));
    if (!late) store(i, 2 * i);
  }
  if (!late) return;
  // The activation row by row: every register but the rows still waiting (and the mask).
  const def = UNARY_OPS[s.activation!.op];
  for (let i = 0; i < rows; i++) {
    const free: number[] = [];
    for (let r = 0; r < 16; r++) {
      const waiting = r % 2 === 0 && r / 2 >= i && r / 2 < rows && r < 12;
      if (!waiting && !(cut && r === MASK)) free.push(r);
    }
    const [out, ...temps] = free;
    const m = new Lanes(v, temps);
    def.emit(m, out, 2 * i, s.activation!.params);
    if (m.available !== temps.length) {
      throw new Error("gemmInt8 avx2: the activation leaked registers");
    }
    store(i, out);
  }
}
