/**
 * The GEMM epilogue, C = act(C + bias), on C's final alpha·AB + beta·C.
 * Three placements of the same instructions on every element (so the
 * placement changes no bits):
 *
 * - one elementwise pass over the whole m×n C after the driver (every
 *   driver, K blocking and B panel arrangement: generate.ts wraps the
 *   driver in it);
 * - inside the direct driver, a pass over each tile of C right after its
 *   last K block stored it (`emitTileEpilogue`): the tile is still in L1,
 *   where the whole C of a large call (1.5 MiB at 128×3072) went to L3 and
 *   came back, and a column strip of it (rows 12 KiB apart share an L1 set)
 *   to L2;
 * - inside the direct driver's last K block, on the tile's accumulators
 *   before they are stored (`tileFinish`), where the registers the k loop
 *   no longer needs hold what the activation takes: no store and reload of
 *   the tile, no pass loop.
 *
 * @module
 */
import {
  Assembler,
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
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { activationTemps } from "../unary/temps.ts";
import { type Konst, Vec, type VecIsa } from "../vec.ts";
import type { ColumnGroup } from "./microkernel.ts";
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

/**
 * The epilogue applied by a tile's C update (microkernel.ts `emitUpdate`),
 * vector by vector on the final values, before each is stored.
 */
export interface TileFinish {
  /**
   * act(x + bias) of the vector of C in register `x` (its final value;
   * clobbered), of the tile's column group `grp`; returns the register
   * holding it. `scratch`: registers free to take (the result among them).
   */
  apply(x: number, grp: ColumnGroup, scratch: readonly number[]): number;
  /**
   * A register the update no longer needs (a stored vector's accumulator):
   * it holds one of the activation's constants for the rest of the update,
   * read there rather than from memory (a 512-bit load each, two a cycle:
   * GELU's fourteen loads a vector otherwise bound it).
   */
  spare(reg: number): void;
  /** The update has ended: its registers are the caller's again. */
  end(): void;
}

/** {@link TileFinish} for `s`'s epilogue, the bias of the tile's first column at `bias`. */
export function tileFinish(v: Vec, s: GemmSpec, bias: Reg | undefined): TileFinish {
  const act = s.epilogue!.activation;
  const def = act ? UNARY_OPS[act.op] : null;
  const apply = (to: Vec, x: number, grp: ColumnGroup, scratch: readonly number[]) => {
    if (grp.scalar) throw new Error("gemm epilogue: scalar columns are finished by the pass");
    const [y, ...temps] = scratch;
    if (bias) {
      // As the pass adds it: C's value plus the bias, loaded (masked at a tail).
      to.load(temps[0], bias, grp.col * 4, grp.tail ?? undefined);
      to.op("add", x, x, temps[0]);
    }
    if (!def) return x;
    const m = new Lanes(to, temps);
    def.emit(m, y, x, act!.params);
    if (m.available !== temps.length) {
      throw new Error("gemm epilogue: the activation leaked registers");
    }
    return y;
  };
  // The activation's constants, most used first (a dry run): the order they take spare registers.
  let waiting: Konst[] = [];
  if (def) {
    const dry = new Vec(new Assembler(), v.isa);
    const regs = Array.from({ length: v.isa.nregs - 1 }, (_, r) => r + 1);
    apply(dry, 0, { col: 0, width: v.isa.lanes, tail: null, scalar: false }, regs);
    waiting = dry.constantUses();
  }
  const pinned: Konst[] = [];
  return {
    apply: (x, grp, scratch) => apply(v, x, grp, scratch),
    spare(reg) {
      const c = waiting.shift();
      if (c === undefined) return;
      v.pin(c, reg);
      pinned.push(c);
    },
    end() {
      for (const c of pinned) v.unpin(c);
      waiting = [...pinned, ...waiting];
      pinned.length = 0;
    },
  };
}

/**
 * Registers {@link tileFinish} takes at `isa`: the result and the
 * activation's temporaries, at least one for the bias.
 */
export function tileFinishRegisters(isa: VecIsa, s: GemmSpec): number {
  return 1 + Math.max(1, activationTemps(isa, s.epilogue!.activation));
}
