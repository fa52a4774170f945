/**
 * The copy of one panel of B into the workspace, for a B the caller holds
 * as rows (GemmPlan.panelsCopied): the panel's columns of op(B) as k rows
 * of the panel's width, the layout `packB`'s "panels" would have made. B
 * stored untransposed is copied row by row; Bᵀ (a Linear layer's n×k
 * weights) goes 8 of its rows at a time through the 8×8 register
 * transpose.
 *
 * @module
 */
import {
  type Assembler,
  ptr,
  qword,
  r8,
  rax,
  rcx,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate } from "../abi.ts";
import { transpose8 } from "../transpose.ts";
import { type Tail, Vec, type VecIsa } from "../vec.ts";
import type { BlockStart } from "./direct.ts";

/** A B of rows at `ldb` (not packed) that the panel driver copies panel by panel. */
export interface PanelCopy {
  isa: VecIsa;
  /** B's row stride as stored, in elements. */
  ldb: number;
  /** B stored as Bᵀ: n rows of k. */
  transposed: boolean;
}

/** Bytes of workspace a copied panel takes: `rows` (its K block's, or all k) of a whole panel. */
export function copiedPanelBytes(rows: number, panel: number): number {
  return rows * panel * 4;
}

/** Bytes B's walk advances from one panel to the next (`panel` columns of op(B)). */
export function panelStep(copy: PanelCopy, panel: number): number {
  return panel * 4 * (copy.transposed ? copy.ldb : 1);
}

/**
 * The copy a block at a time, at the start of each K block of the panel's
 * GEMM (direct.ts `BlockStart`): the block's `kc` rows of op(B) from the
 * address at the driver's frame slot `source` (advanced past them) to the
 * workspace's first rows, every block to the same place, so the copy stays
 * in L2 while its tiles read it (a whole panel copied first, k·256 bytes,
 * can outgrow L2: its first blocks went to L3 and back). Blocks are `KC`
 * steps but the last, `last`. A panel of whole column tiles of untransposed
 * B is copied by its first row tile instead (direct.ts `CopiedRows`).
 * `extra`: bytes between the panel GEMM's return address and the frame.
 */
export function copyByBlocks(
  a: Assembler,
  copy: PanelCopy,
  cols: number,
  width: number,
  source: number,
  blocks: { KC: number; last: number },
  extra: number,
): BlockStart {
  return {
    inPlace: true,
    emit(depth, kc, block) {
      // rcx and r8 (the transposing copy's) are the GEMM's: saved.
      a.emit("push", rcx);
      a.emit("push", r8);
      const at = depth + 8 + extra + 16;
      const sizes = blocks.last === blocks.KC ? [blocks.KC] : [blocks.KC, blocks.last];
      const done = a.label();
      sizes.forEach((k, i) => {
        const next = a.label();
        if (i < sizes.length - 1) {
          a.emit("cmp", kc, k);
          a.emit("jne", next);
        }
        a.emit("mov", rsi, qword(rsp, at + source));
        a.emit("mov", rdx, block);
        if (copy.transposed) emitTransposedCopy(a, copy, k, cols, width);
        else emitRowsCopy(new Vec(a, copy.isa), k, cols, copy.ldb * 4, width * 4);
        addImmediate(a, "add", qword(rsp, at + source), k * 4 * (copy.transposed ? 1 : copy.ldb));
        if (i < sizes.length - 1) {
          a.emit("jmp", done);
          a.bind(next);
        }
      });
      a.bind(done);
      a.emit("pop", r8);
      a.emit("pop", rcx);
    },
  };
}

/**
 * `rows` rows (a count, or a register holding it) of `cols` floats from rsi
 * to rdx, `srcStride` and `dstStride` bytes apart, both pointers left past
 * them; rax counts. Whole vectors, the last `cols` mod lanes by `tail` (set
 * here if not given). Also the direct driver's strip copy (direct.ts).
 */
export function emitRowsCopy(
  v: Vec,
  rows: number | Reg,
  cols: number,
  srcStride: number,
  dstStride: number,
  tail?: Tail,
): void {
  const a = v.a, lanes = v.isa.lanes;
  const whole = Math.floor(cols / lanes), rest = cols % lanes;
  if (tail !== undefined && tail.lanes !== rest) throw new Error("the copy's tail is not its own");
  const t = rest ? tail ?? v.tail(rest, 1, whole + 1) : undefined;
  a.emit("mov", rax, rows);
  const top = a.label();
  a.bind(top);
  for (let g = 0; g < whole; g++) v.load(g, rsi, g * lanes * 4);
  if (t) v.load(whole, rsi, whole * lanes * 4, t);
  for (let g = 0; g < whole; g++) v.store(rdx, g * lanes * 4, g);
  if (t) v.store(rdx, whole * lanes * 4, whole, t);
  addImmediate(a, "add", rsi, srcStride);
  addImmediate(a, "add", rdx, dstStride);
  a.emit("dec", rax);
  a.emit("jnz", top);
}

/**
 * From Bᵀ, AVX2: for each group of 8 of its rows (8 columns of the panel;
 * fewer in the last, the others zero), 8 k steps at a time, the 8×8 block
 * loaded, transposed and stored as 8 rows of the panel; k's last k mod 8
 * steps by a mask, and only their rows stored. A block's rows are 32-bit
 * displacements apart (the planner keeps 8 rows of Bᵀ under 2 GiB).
 */
function emitTransposedCopy(
  a: Assembler,
  copy: PanelCopy,
  k: number,
  cols: number,
  width: number,
) {
  if (copy.isa.level !== "avx2") throw new Error("the transposing panel copy is AVX2's");
  const v = new Vec(a, copy.isa), row = copy.ldb * 4;
  const steps = Math.floor(k / 8), rest = k % 8;
  /** One 8×8 block (`kk` k steps of `rows` rows) from rcx into the panel at r8. */
  const block = (rows: number, kk: number) => {
    // The mask (register 15, a temporary of the transpose) serves the loads only.
    const tail = kk < 8 ? v.tail(kk, 1, 15) : undefined;
    for (let r = 0; r < 8; r++) {
      if (r < rows) v.loadMem(r, ptr(rcx, r * row), tail);
      else v.zero(r);
    }
    const out = transpose8(v);
    for (let j = 0; j < kk; j++) v.store(r8, j * width * 4, out[j]);
  };
  for (let g = 0; g * 8 < cols; g++) {
    const rows = Math.min(8, cols - 8 * g);
    // rcx: the group's first row of Bᵀ at this k; r8: the panel's row at this k, column 8g.
    a.emit("mov", rcx, rsi);
    addImmediate(a, "add", rcx, 8 * g * row);
    a.emit("lea", r8, ptr(rdx, 8 * g * 4));
    if (steps) {
      a.emit("mov", rax, steps);
      const top = a.label();
      a.bind(top);
      block(rows, 8);
      a.emit("add", rcx, 32);
      addImmediate(a, "add", r8, 8 * width * 4);
      a.emit("dec", rax);
      a.emit("jnz", top);
    }
    if (rest) block(rows, rest);
  }
}
