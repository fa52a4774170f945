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
/**
 * Registers: −∞, the even and odd lane indices, an accumulator, three
 * temporaries, and (shared rows) the carried folds of a group's vectors.
 */
const NINF = 0, EVEN = 1, ODD = 2, ACC = 3, A = 4, B = 5, T = 6, CARRY = 8;
/** Opmasks: the store's tail, the NaN lanes, a compare and a load's valid lanes, the carried NaN lanes. */
const K_TAIL = 1, K_NAN = 6, K_CMP = 7, K_LOAD = 7, K_CARRY = 2;
/** Column vectors carried down the rows at once (opmasks 2-5). */
const GROUP = 4;

/** Whether the kernel (or average_in_place.ts) serves `s`: stride 1 or 2 across, no dilation across, at most 8 wide. */
export function maxInPlaceServes(s: PoolSpec, level: string): boolean {
  return level === "avx512" && (s.sw === 1 || s.sw === 2) && s.dw === 1 && s.kw <= 8;
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
  if (maxSharedServes(s)) return emitMaxShared(v, s, F);
  setUp(v);
  const inside = (o: number) => o * s.sh - s.pt >= 0 && o * s.sh - s.pt + (s.kh - 1) * s.dh < s.h;
  a.emit("mov", r14, qword(rsp, F.Y));
  emitRows(
    a,
    F,
    { oh, ow, w: s.w, step: s.sh },
    inside,
    (o) => o * s.sh - s.pt,
    (o, base) => emitRow(a, v, s, ow, o, base),
  );
}

/**
 * The output rows of a plane, y's row at r14 (advanced here), x's row for
 * each at r15: a row that reaches the padding (not `inside`) is emitted
 * alone, with r15 at the plane's start (base 0); a run of inside rows is
 * one loop, r15 at x's row `baseOf(first)` and `step` rows further each
 * time, their code made for the run's first row.
 */
export function emitRows(
  a: Assembler,
  F: MaxInPlaceFrame,
  shape: { oh: number; ow: number; w: number; step: number },
  inside: (o: number) => boolean,
  baseOf: (o: number) => number,
  row: (o: number, base: number) => void,
): void {
  const { oh, ow, w, step } = shape;
  for (let o = 0; o < oh;) {
    if (!inside(o)) {
      a.emit("mov", r15, qword(rsp, F.X));
      row(o, 0);
      addImmediate(a, "add", r14, ow * 4);
      o++;
      continue;
    }
    let end = o;
    while (end < oh && inside(end)) end++;
    const base = baseOf(o), first = o;
    a.emit("mov", r15, qword(rsp, F.X));
    addImmediate(a, "add", r15, base * w * 4);
    frameLoop(a, F.RUN, end - o, () => {
      row(first, base);
      addImmediate(a, "add", r15, step * w * 4);
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
    v.move(ACC, NINF);
    a.emit("kxorw", KREG[K_NAN], KREG[K_NAN], KREG[K_NAN]);
    const masks = maskCache(a, 2, 4); // k2-k5
    for (let i = 0; i < s.kh; i++) {
      const ih = o * s.sh - s.pt + i * s.dh;
      if (ih < 0 || ih >= s.h) continue; // −∞: changes no maximum
      foldRow(a, v, s, ACC, K_NAN, (ih - base) * s.w, c * s.sw - s.pl, masks);
    }
    store(v, ow, c, ACC, K_NAN);
  }
}

/**
 * 3×3 windows at stride 2 down (the pooling after a ResNet stem): each
 * input row's fold is made once. Output row o reads rows 2o − pt (the
 * previous output's last row: its fold carried in a register, with its
 * NaN lanes in an opmask), 2o − pt + 1 (folded into the output) and
 * 2o − pt + 2 (folded alone, then into the output, then carried). Column
 * vectors go in groups of 4, each group down every row.
 */
export function emitMaxShared(v: Vec, s: PoolSpec, F: MaxInPlaceFrame): void {
  const a = v.a;
  const { oh, ow } = poolShape(s);
  setUp(v);
  const valid = (r: number) => r >= 0 && r < s.h;
  const vectors = Math.ceil(ow / L);
  for (let g0 = 0; g0 < vectors; g0 += GROUP) {
    const group = Math.min(GROUP, vectors - g0);
    const carry = (k: number) => CARRY + k, carryK = (k: number) => K_CARRY + k;
    // The first output's first row.
    a.emit("mov", r15, qword(rsp, F.X));
    for (let k = 0; k < group; k++) {
      v.move(carry(k), NINF);
      a.emit("kxorw", KREG[carryK(k)], KREG[carryK(k)], KREG[carryK(k)]);
      const r = -s.pt;
      if (valid(r)) foldRow(a, v, s, carry(k), carryK(k), r * s.w, (g0 + k) * L * 2 - s.pl);
    }
    a.emit("mov", r14, qword(rsp, F.Y));
    const from = Math.max(0, g0 * L * 2 - s.pl);
    const to = Math.min(s.w, (g0 + group) * L * 2 - s.pl + 1);
    /** Output row o, x's row `base` at r15. */
    const row = (o: number, base: number) => {
      const r1 = 2 * o - s.pt + 1, r2 = r1 + 1;
      prefetchRows(a, s, [r1 - base, r2 - base], from, to);
      for (let k = 0; k < group; k++) {
        const c = (g0 + k) * L, c0 = c * 2 - s.pl;
        v.move(ACC, carry(k));
        a.emit("kmovw", KREG[K_NAN], KREG[carryK(k)]);
        if (valid(r1)) foldRow(a, v, s, ACC, K_NAN, (r1 - base) * s.w, c0);
        v.move(carry(k), NINF);
        a.emit("kxorw", KREG[carryK(k)], KREG[carryK(k)], KREG[carryK(k)]);
        if (valid(r2)) {
          foldRow(a, v, s, carry(k), carryK(k), (r2 - base) * s.w, c0);
          v.op("max", ACC, ACC, carry(k));
          a.emit("korw", KREG[K_NAN], KREG[K_NAN], KREG[carryK(k)]);
        }
        store(v, ow, c, ACC, K_NAN);
      }
    };
    const inside = (o: number) => valid(2 * o - s.pt + 1) && valid(2 * o - s.pt + 2);
    emitRows(a, F, { oh, ow, w: s.w, step: 2 }, inside, (o) => 2 * o - s.pt, row);
  }
}

/**
 * How far below the rows it reads a row of output prefetches x (into L1):
 * a plane is one sequential stream, yet the hardware prefetchers left a
 * pooling just behind the convolution that wrote x in L3 (SqueezeNet's
 * first, 64×111²) at 87 µs; 4 KiB ahead 71, 8 KiB 66, 16 KiB 67 (cold
 * from DRAM 170 → 123; 128×55²: 46 → 35; 64×112² pad 1: 87 → 69), two Jits
 * alternating in one process. Only here: the stride-1 kernels (9 taps an
 * output, 3×3/1 on 28²×192 and 14²×480) lost 1-4% with it, the 3×3/2 on
 * 14²×832 gained nothing.
 */
const PREFETCH_BYTES = 8192;

/**
 * prefetcht0 of the lines of columns [from, to) of x's rows `rows`
 * (relative to the row at r15) moved PREFETCH_BYTES further down. Past the
 * plane it reaches the next one (read next); past x, nothing (a prefetch
 * never faults).
 */
export function prefetchRows(
  a: Assembler,
  s: PoolSpec,
  rows: number[],
  from: number,
  to: number,
): void {
  const ahead = Math.ceil(PREFETCH_BYTES / (s.w * 4));
  for (const r of rows) {
    const start = ((r + ahead) * s.w + from) * 4, end = ((r + ahead) * s.w + to) * 4;
    for (let b = start; b < end; b += 64) a.emit("prefetcht0", ptr(r15, b).withSize(1));
    a.emit("prefetcht0", ptr(r15, end - 4).withSize(1));
  }
}

/** Whether the shared-row kernel serves `s` (on top of maxInPlaceServes). */
export function maxSharedServes(s: PoolSpec): boolean {
  return s.kh === 3 && s.sh === 2 && s.dh === 1 && s.sw === 2;
}

/** −∞ and the lane tables. */
export function setUp(v: Vec): void {
  v.move(NINF, f32(-Infinity));
  v.move(EVEN, { table: lanes((i) => 2 * i) });
  v.move(ODD, { table: lanes((i) => 2 * i + 1) });
}

/**
 * Folds one input row's taps, in column order, into `into` (max) and
 * their NaN lanes into opmask `nanK`: the row `row` elements past r15,
 * tap 0 of the vector's first position at column c0.
 */
function foldRow(
  a: Assembler,
  v: Vec,
  s: PoolSpec,
  into: number,
  nanK: number,
  row: number,
  c0: number,
  masks?: (mask: number) => number,
): void {
  const nan = (x: number, y: number) => {
    a.emit("vcmpps", KREG[K_CMP], v.r(x), v.r(y), 3); // unordered: x or y is NaN
    a.emit("korw", KREG[nanK], KREG[nanK], KREG[K_CMP]);
  };
  if (s.sw === 1) {
    for (let j = 0; j < s.kw; j++) {
      const reg = j % 2 ? B : A;
      load(a, v, s, reg, row, c0 + j, false, masks);
      v.op("max", into, into, reg);
      if (j % 2) nan(A, B);
    }
    if (s.kw % 2) nan(A, A);
    return;
  }
  // Stride 2: columns c0 + 2m .. c0 + 2m + 31 give tap 2m (even lanes) and 2m + 1 (odd).
  for (let m = 0; 2 * m < s.kw; m++) {
    const pair = 2 * m + 1 < s.kw;
    load(a, v, s, A, row, c0 + 2 * m, false, masks);
    load(a, v, s, B, row, c0 + 2 * m + L, false, masks);
    if (pair) {
      v.move(T, A);
      a.emit("vpermt2ps", v.r(T), v.r(ODD), v.r(B));
    }
    a.emit("vpermt2ps", v.r(A), v.r(EVEN), v.r(B));
    v.op("max", into, into, A);
    if (pair) v.op("max", into, into, T);
    nan(A, pair ? T : A);
  }
}

/** y's vector at column c of the row at r14: the NaN lanes of `nanK` the one quiet NaN. */
function store(v: Vec, ow: number, c: number, acc: number, nanK: number): void {
  v.select(acc, { k: KREG[nanK] }, f32(NaN), acc);
  storeColumns(v, ow, c, acc);
}

/** y's vector at column c of the row at r14, its lanes past the row's `ow` columns left alone. */
export function storeColumns(v: Vec, ow: number, c: number, acc: number): void {
  const lanes = Math.min(L, ow - c);
  v.store(r14, c * 4, acc, lanes < L ? v.tail(lanes, K_TAIL) : undefined);
}

/**
 * reg = x's 16 columns from `col` of the row `row` elements past r15;
 * columns outside x read −∞ (max), or 0 (`zero`: average).
 */
export function load(
  a: Assembler,
  v: Vec,
  s: PoolSpec,
  reg: number,
  row: number,
  col: number,
  zero = false,
  masks?: (mask: number) => number,
): void {
  let mask = 0;
  for (let l = 0; l < L; l++) if (col + l >= 0 && col + l < s.w) mask |= 1 << l;
  const at = ptr(r15, (row + col) * 4);
  if (mask === 0xffff) return v.loadMem(reg, at);
  if (mask === 0) return zero ? v.zero(reg) : v.move(reg, NINF);
  // An opmask already holding the pattern (`masks`), or set here.
  let k = masks ? masks(mask) : -1;
  if (k < 0) {
    a.emit("mov", eax, mask);
    a.emit("kmovw", KREG[K_LOAD], eax);
    k = K_LOAD;
  }
  if (zero) a.emit("vmovups", v.r(reg).k(KREG[k]).z, at);
  else {
    v.move(reg, NINF);
    a.emit("vmovups", v.r(reg).k(KREG[k]), at);
  }
}

/**
 * The edge masks of one output vector (the same on every row of its
 * window), each set once into opmasks first .. first + count − 1; -1 when
 * they are all taken (the load sets its own).
 */
export function maskCache(a: Assembler, first: number, count: number): (mask: number) => number {
  const held = new Map<number, number>();
  return (mask) => {
    let k = held.get(mask);
    if (k === undefined) {
      if (held.size === count) return -1;
      k = first + held.size;
      a.emit("mov", eax, mask);
      a.emit("kmovw", KREG[k], eax);
      held.set(mask, k);
    }
    return k;
  };
}

/** A table of 16 integer lanes (a constant table holds f32 values: these are their bits). */
export function lanes(f: (i: number) => number): number[] {
  return Array.from(new Float32Array(Int32Array.from({ length: L }, (_, i) => f(i)).buffer));
}
