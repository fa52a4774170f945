/**
 * The walk of a 3×3/2 max pooling that folds each input row once, shared by
 * the column-pair kernels (max_aligned.ts at AVX-512, max_pairs.ts at
 * AVX2): column vectors go in groups, each group down every output row.
 * Output row o takes input rows 2o − pt (the previous output's last: its
 * fold carried in a register), 2o − pt + 1 (folded into the output) and
 * 2o − pt + 2 (folded, into the output, then carried on). Rows outside x
 * are skipped (−∞ changes no maximum).
 *
 * @module
 */
import { qword, r14, r15, rsp } from "../../../asm/mod.ts";
import type { Vec } from "../vec.ts";
import { emitRows, type MaxInPlaceFrame } from "./max_in_place.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

/** What a column-pair kernel gives the walk. */
export interface SharedRows {
  /** Output positions per vector. */
  lanes: number;
  /** Column vectors carried down the rows at once. */
  group: number;
  /** Registers: −∞, the output's accumulator, a row's fold, the first of `group` carried folds. */
  ninf: number;
  acc: number;
  fold: number;
  carry: number;
  /** Register `dst` = input row `row` (elements past r15) folded for vector k. */
  emitFold(dst: number, row: number, k: number): void;
  /** Stores the accumulator as vector k's outputs in the row at r14. */
  emitStore(k: number): void;
  /** Before a group's rows: its first vector and its count. */
  startGroup?(g0: number, group: number): void;
  /** Before output row o's folds (x's row `base` at r15). */
  startRow?(o: number, base: number): void;
}

/** One plane: x at frame.X, y at frame.Y. */
export function emitSharedRows(v: Vec, s: PoolSpec, F: MaxInPlaceFrame, k: SharedRows): void {
  const a = v.a;
  const { oh, ow } = poolShape(s);
  const valid = (r: number) => r >= 0 && r < s.h;
  const vectors = Math.ceil(ow / k.lanes);
  for (let g0 = 0; g0 < vectors; g0 += k.group) {
    const group = Math.min(k.group, vectors - g0);
    k.startGroup?.(g0, group);
    const carry = (i: number) => k.carry + i;
    // The first output's first row.
    a.emit("mov", r15, qword(rsp, F.X));
    for (let i = 0; i < group; i++) {
      if (valid(-s.pt)) k.emitFold(carry(i), -s.pt * s.w, g0 + i);
      else v.move(carry(i), k.ninf);
    }
    a.emit("mov", r14, qword(rsp, F.Y));
    /** Output row o, x's row `base` at r15. */
    const row = (o: number, base: number) => {
      const r1 = 2 * o - s.pt + 1, r2 = r1 + 1;
      k.startRow?.(o, base);
      for (let i = 0; i < group; i++) {
        if (valid(r1)) {
          k.emitFold(k.fold, (r1 - base) * s.w, g0 + i);
          v.op("max", k.acc, carry(i), k.fold);
        } else v.move(k.acc, carry(i));
        if (valid(r2)) {
          k.emitFold(carry(i), (r2 - base) * s.w, g0 + i);
          v.op("max", k.acc, k.acc, carry(i));
        } else v.move(carry(i), k.ninf);
        k.emitStore(g0 + i);
      }
    };
    const inside = (o: number) => valid(2 * o - s.pt + 1) && valid(2 * o - s.pt + 2);
    emitRows(a, F, { oh, ow, w: s.w, step: 2 }, inside, (o) => 2 * o - s.pt, row);
  }
}
