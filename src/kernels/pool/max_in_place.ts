/**
 * Max pooling read in place (AVX-512): no planes. Each output vector of 16
 * positions folds its window's taps row by row; a tap's 16 inputs are one
 * load (stride 1) or, at stride 2, the even or odd lanes of two loads
 * (`vpermt2ps`), so one pair of loads serves two taps. Columns outside x
 * are masked out of the loads and read as −∞, rows outside x are skipped
 * (the rows that reach the padding are emitted one by one; the rest run in
 * a loop).
 *
 * The same bits as the plane kernel (generate.ts): x86 max keeps the later
 * operand of equal values, so folding taps in row-major order from −∞
 * gives the last maximal element of the window wherever it is folded, and
 * −∞ padding never changes a maximum; a NaN anywhere in the window gives
 * the one quiet NaN, from an unordered compare per pair of taps.
 *
 * @module
 */
import { type Assembler, eax, KREG, ptr, qword, r14, r15, rsp } from "../../../asm/mod.ts";
import { addImmediate, frameLoop } from "../abi.ts";
import { f32, type Vec } from "../vec.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

const L = 16;
/** Registers: −∞, the even and odd lane indices, then per vector an accumulator and three temporaries. */
const NINF = 0, EVEN = 1, ODD = 2, ACC = 3, A = 4, B = 5, T = 6;
/** Opmasks: the store's tail, the NaN lanes, a compare, a load's valid lanes. */
const K_TAIL = 1, K_NAN = 2, K_CMP = 3, K_LOAD = 7;

/** Whether the kernel serves `s`: max, stride 1 or 2 across, no dilation across, at most 8 wide. */
export function maxInPlaceServes(s: PoolSpec, level: string): boolean {
  return level === "avx512" && s.kind === "max" && (s.sw === 1 || s.sw === 2) && s.dw === 1 &&
    s.kw <= 8;
}

/** Frame slots the kernel uses (generate.ts's frame). */
export interface MaxInPlaceFrame {
  X: number;
  Y: number;
  RUN: number;
}

/** One plane: x at frame.X, y at frame.Y (the caller advances both per plane). */
export function emitMaxInPlace(v: Vec, s: PoolSpec, F: MaxInPlaceFrame): void {
  const a = v.a;
  const { oh, ow } = poolShape(s);
  v.move(NINF, f32(-Infinity));
  v.move(EVEN, { table: lanes((i) => 2 * i) });
  v.move(ODD, { table: lanes((i) => 2 * i + 1) });
  const inside = (o: number) => o * s.sh - s.pt >= 0 && o * s.sh - s.pt + (s.kh - 1) * s.dh < s.h;
  a.emit("mov", r14, qword(rsp, F.Y));
  for (let o = 0; o < oh;) {
    if (!inside(o)) {
      // Rows from x's plane start, their validity known here.
      a.emit("mov", r15, qword(rsp, F.X));
      emitRow(a, v, s, ow, o, 0);
      addImmediate(a, "add", r14, ow * 4);
      o++;
      continue;
    }
    let end = o;
    while (end < oh && inside(end)) end++;
    const base = o * s.sh - s.pt;
    a.emit("mov", r15, qword(rsp, F.X));
    addImmediate(a, "add", r15, base * s.w * 4);
    const first = o;
    frameLoop(a, F.RUN, end - o, () => {
      emitRow(a, v, s, ow, first, base);
      addImmediate(a, "add", r15, s.sh * s.w * 4);
      addImmediate(a, "add", r14, ow * 4);
    });
    o = end;
  }
}

/**
 * One output row (as row `o` for the rows it reads: x's row `base` at
 * r15), y's row at r14: every vector of 16 positions.
 */
function emitRow(a: Assembler, v: Vec, s: PoolSpec, ow: number, o: number, base: number): void {
  for (let c = 0; c < ow; c += L) {
    const lanes = Math.min(L, ow - c);
    v.move(ACC, NINF);
    a.emit("kxorw", KREG[K_NAN], KREG[K_NAN], KREG[K_NAN]);
    const nan = (x: number, y: number) => {
      a.emit("vcmpps", KREG[K_CMP], v.r(x), v.r(y), 3); // unordered: x or y is NaN
      a.emit("korw", KREG[K_NAN], KREG[K_NAN], KREG[K_CMP]);
    };
    for (let i = 0; i < s.kh; i++) {
      const ih = o * s.sh - s.pt + i * s.dh;
      if (ih < 0 || ih >= s.h) continue; // −∞: changes no maximum
      const row = (ih - base) * s.w;
      const c0 = c * s.sw - s.pl; // column of tap 0 for the vector's first position
      if (s.sw === 1) {
        for (let j = 0; j < s.kw; j++) {
          const reg = j % 2 ? B : A;
          load(a, v, s, reg, row, c0 + j);
          v.op("max", ACC, ACC, reg);
          if (j % 2) nan(A, B);
        }
        if (s.kw % 2) nan(A, A);
        continue;
      }
      // Stride 2: columns c0 + 2m .. c0 + 2m + 31 give tap 2m (even lanes) and 2m + 1 (odd).
      for (let m = 0; 2 * m < s.kw; m++) {
        const pair = 2 * m + 1 < s.kw;
        load(a, v, s, A, row, c0 + 2 * m);
        load(a, v, s, B, row, c0 + 2 * m + L);
        if (pair) {
          v.move(T, A);
          a.emit("vpermt2ps", v.r(T), v.r(ODD), v.r(B));
        }
        a.emit("vpermt2ps", v.r(A), v.r(EVEN), v.r(B));
        v.op("max", ACC, ACC, A);
        if (pair) v.op("max", ACC, ACC, T);
        nan(A, pair ? T : A);
      }
    }
    v.select(ACC, { k: KREG[K_NAN] }, f32(NaN), ACC);
    if (lanes < L) {
      a.emit("mov", eax, (1 << lanes) - 1);
      a.emit("kmovw", KREG[K_TAIL], eax);
      a.emit("vmovups", ptr(r14, c * 4).k(KREG[K_TAIL]), v.r(ACC));
    } else v.store(r14, c * 4, ACC);
  }
}

/** reg = x's 16 columns from `col` of the row `row` elements past r15; columns outside x read −∞. */
function load(a: Assembler, v: Vec, s: PoolSpec, reg: number, row: number, col: number): void {
  let mask = 0;
  for (let l = 0; l < L; l++) if (col + l >= 0 && col + l < s.w) mask |= 1 << l;
  const at = ptr(r15, (row + col) * 4);
  if (mask === 0xffff) return v.loadMem(reg, at);
  v.move(reg, NINF);
  if (mask === 0) return;
  a.emit("mov", eax, mask);
  a.emit("kmovw", KREG[K_LOAD], eax);
  a.emit("vmovups", v.r(reg).k(KREG[K_LOAD]), at);
}

/** A table of 16 integer lanes (a constant table holds f32 values: these are their bits). */
function lanes(f: (i: number) => number): number[] {
  return Array.from(new Float32Array(Int32Array.from({ length: L }, (_, i) => f(i)).buffer));
}
