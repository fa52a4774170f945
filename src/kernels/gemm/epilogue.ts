/**
 * The GEMM epilogue, C = act(C + bias): one elementwise pass over rows of C
 * after the products are stored. Two placements of the same pass:
 *
 * - over the whole m×n C after the driver (every driver, K blocking and B
 *   panel arrangement: generate.ts wraps the driver in it);
 * - inside the direct driver, over each tile of C right after its last K
 *   block stored it (`emitTileEpilogue`): the tile is still in L1, where the
 *   whole C of a large call (1.5 MiB at 128×3072) went to L3 and came back,
 *   and a column strip of it (rows 12 KiB apart share an L1 set) to L2.
 *
 * Both run the same instructions on every element (elementwise.ts), after C
 * holds its final alpha·AB + beta·C: the placement changes no bits.
 *
 * @module
 */
import {
  type Assembler,
  qword,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { emitRowsPass, type RowsPass, streamsFor } from "../elementwise.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import type { VecIsa } from "../vec.ts";
import type { GemmSpec } from "./spec.ts";

/** The pass over `rows`×`cols` of C at `c` (row stride ldc), bias (per column) at `bias`. */
export function epiloguePass(
  s: GemmSpec,
  c: Reg,
  bias: Reg | undefined,
  rows: number,
  cols: number,
): RowsPass {
  const act = s.epilogue!.activation;
  const def = act ? UNARY_OPS[act.op] : null;
  return {
    rows,
    cols,
    x: c,
    xStride: s.ldc,
    y: c,
    yStride: 0, // y is x's register: advanced once, by xStride
    bias,
    f: def ? (m, y, x) => def.emit(m, y, x, act!.params) : null,
    streams: def ? streamsFor(def.flops) : 1,
  };
}

/** Where the direct driver keeps what a tile's epilogue reads. */
export interface TileRegisters {
  /** The tile's first element in C. */
  tile: Reg;
  /** The first element of the tile's column strip (row 0). */
  column: Reg;
  /** C's first column in this driver call: the bias is as far from its first. */
  first: Reg;
  /** Where the bias pointer of this driver call is: bytes above rsp. */
  biasSlot: number;
}

/**
 * C = act(C + bias) over the `rows`×`cols` tile at `r.tile`. Clobbers rsi,
 * rdx, every vector and mask register (the caller sets up its tail mask
 * again); keeps rcx and r8-r11, which the pass uses.
 */
export function emitTileEpilogue(
  a: Assembler,
  isa: VecIsa,
  s: GemmSpec,
  rows: number,
  cols: number,
  r: TileRegisters,
): void {
  // rcx: the next strip's prefetch stream (the remaining k it may hold is spent by
  // the last block, the only one with an epilogue).
  const kept = [rcx, r8, r9, r10, r11];
  for (const reg of kept) a.emit("push", reg);
  a.emit("mov", rsi, r.tile);
  const bias = s.epilogue!.bias;
  if (bias) {
    a.emit("mov", rdx, r.column);
    a.emit("sub", rdx, r.first);
    a.emit("add", rdx, qword(rsp, r.biasSlot + 8 * kept.length)); // above the pushes
  }
  emitRowsPass(a, isa, epiloguePass(s, rsi, bias ? rdx : undefined, rows, cols));
  for (const reg of kept.toReversed()) a.emit("pop", reg);
}
