/**
 * Max pooling 3×3, stride 2, one column of padding on the left (the pooling
 * after a ResNet stem) read from aligned column pairs, NaN checked once per
 * plane. Output vector k (16 positions) of an input row takes x's columns
 * 32k … 32k + 31 in two aligned loads: their even lanes are the window's
 * centre tap, their odd lanes its right tap, and its left tap is the odd
 * lanes moved up one lane (`valignd`) with column 32k − 1 (the last of the
 * 16 columns before, or the padding's −∞) in lane 0. So a row's fold costs
 * two loads, three shuffles and two maxima where the general shared-row
 * kernel (max_in_place.ts) makes four loads astride cache lines, three
 * permutes and three maxima, and tracks NaN in opmasks per pair of taps.
 *
 * The same bits: each input row is folded left, centre, right (x86 max
 * keeps the later operand of equal values), and the rows top to bottom,
 * so each output is the last maximal element of its window in row-major
 * order, as every other max kernel makes it. NaN: the loads of the plane
 * are compared unordered into one opmask; a plane with a NaN anywhere is
 * made again by the general kernel (which gives the one quiet NaN where a
 * window holds one), so the common plane pays one compare per load pair.
 *
 * @module
 */
import { KREG, type Label, r15, zmmword } from "../../../asm/mod.ts";
import type { Vec } from "../vec.ts";
import {
  emitMaxShared,
  load,
  maskCache,
  type MaxInPlaceFrame,
  maxSharedServes,
  prefetchRows,
  setUp,
  storeColumns,
} from "./max_in_place.ts";
import { emitSharedRows } from "./shared_rows.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

const L = 16;
/** Registers (setUp's −∞ and lane indices in 0-2). */
const NINF = 0, EVEN = 1, ODD = 2, ACC = 3, A = 4, B = 5, RIGHT = 6, LEFT = 7, H = 12, CARRY = 8;
/** Opmasks (k1: storeColumns' tail): the plane's NaN lanes, a compare, two load masks (k4, k5). */
const K_ANY = 2, K_CMP = 3, K_MASKS = 4;
/** Column vectors carried down the rows at once (registers 8-11). */
const GROUP = 4;

/** Whether the aligned kernel serves `s` (on top of maxInPlaceServes): 3×3/2, one column of left padding. */
export function maxAlignedServes(s: PoolSpec): boolean {
  return maxSharedServes(s) && s.kw === 3 && s.pl === 1;
}

/** One plane: x at frame.X, y at frame.Y; a plane holding a NaN is made again by emitMaxShared. */
export function emitMaxAligned(v: Vec, s: PoolSpec, F: MaxInPlaceFrame): void {
  const a = v.a;
  const { ow } = poolShape(s);
  setUp(v);
  a.emit("kxorw", KREG[K_ANY], KREG[K_ANY], KREG[K_ANY]);
  let masks = maskCache(a, K_MASKS, 2), from = 0, to = 0;
  emitSharedRows(v, s, F, {
    lanes: L,
    group: GROUP,
    ninf: NINF,
    acc: ACC,
    fold: H,
    carry: CARRY,
    /** dst = input row `row` (elements past r15) folded left, centre, right for vector k. */
    emitFold: (dst, row, k) => {
      load(a, v, s, A, row, 2 * k * L, false, masks);
      load(a, v, s, B, row, 2 * k * L + L, false, masks);
      a.emit("vcmpps", KREG[K_CMP], v.r(A), v.r(B), 3); // unordered: a NaN in either
      a.emit("korw", KREG[K_ANY], KREG[K_ANY], KREG[K_CMP]);
      v.move(RIGHT, A);
      a.emit("vpermt2ps", v.r(A), v.r(EVEN), v.r(B)); // centre: columns 32k + 2l
      a.emit("vpermt2ps", v.r(RIGHT), v.r(ODD), v.r(B)); // right: 32k + 2l + 1
      // Left: 32k + 2l − 1, the right tap one lane up; lane 0 the column before (−∞ at k = 0).
      if (k === 0) a.emit("valignd", v.r(LEFT), v.r(RIGHT), v.r(NINF), 15);
      else a.emit("valignd", v.r(LEFT), v.r(RIGHT), zmmword(r15, (row + 2 * k * L - L) * 4), 15);
      v.op("max", dst, LEFT, A);
      v.op("max", dst, dst, RIGHT);
    },
    emitStore: (k) => storeColumns(v, ow, k * L, ACC),
    startGroup: (g0, group) => {
      masks = maskCache(a, K_MASKS, 2);
      from = Math.max(0, g0 * L * 2 - s.pl);
      to = Math.min(s.w, (g0 + group) * L * 2 - s.pl + 1);
    },
    startRow: (o, base) => {
      const r1 = 2 * o - s.pt + 1;
      prefetchRows(a, s, [r1 - base, r1 + 1 - base], from, to);
    },
  });
  // A NaN in the plane: the general kernel makes it again.
  const done: Label = a.label();
  a.emit("kortestw", KREG[K_ANY], KREG[K_ANY]);
  a.emit("jz", done);
  emitMaxShared(v, s, F);
  a.bind(done);
}
