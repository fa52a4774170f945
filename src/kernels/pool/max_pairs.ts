/**
 * Max pooling 3×3 at stride 2 (the pooling after a ResNet stem) read in
 * place at AVX2, the counterpart of max_aligned.ts: no planes. Output
 * vector k of a row (8 positions) takes its window's first column c0 =
 * 16k − pl: the 16 columns from c0 (two loads) give the left tap in their
 * even elements and the centre tap in their odd ones (`vshufps`), the 16
 * from c0 + 1 the right tap in their odd ones. `vshufps` works within
 * 128-bit halves, so the three taps hold positions 0 1 4 5 | 2 3 6 7 alike;
 * their maxima are put in order once, before the store (`vpermpd`). Each
 * input row is folded once: output row o takes rows 2o − pt (the previous
 * output's last, carried in a register), 2o − pt + 1 and 2o − pt + 2.
 * Columns outside x read −∞ (masked loads, then a blend), rows outside
 * are skipped. A row's last, partial vector is computed ending at the
 * row's last output, overlapping the one before (no masked store). No prefetch: unlike AVX-512's (max_in_place.ts), 8 KiB
 * ahead changed nothing measurable on Zen 3 (64×112², ~110 µs either way).
 *
 * The same bits as the plane kernel: each row is folded left, centre,
 * right (x86 max keeps the later operand of equal values) and the rows top
 * to bottom, so each output is the last maximal element of its window in
 * row-major order. NaN: each fold compares its 16 columns unordered into
 * one register (the row's last vector its 17th too); a plane holding a NaN
 * is made again by the plane kernel (the caller's fallback), which gives
 * the one quiet NaN where a window holds one.
 *
 * @module
 */
import { type Assembler, type Mem, ptr, r14, r15 } from "../../../asm/mod.ts";
import { f32, type Vec } from "../vec.ts";
import { type MaxInPlaceFrame, maxSharedServes } from "./max_in_place.ts";
import { emitSharedRows } from "./shared_rows.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

/** Positions per vector. */
const L = 8;
/** Registers: −∞, the plane's NaN lanes, an accumulator, two load pairs, a tap, a row's fold, a compare. */
const NINF = 0, NANS = 1, ACC = 2, PA = 3, PB = 4, QA = 5, QB = 6, T = 7, H = 8, CMP = 13;
/** The carried folds of a group's vectors (registers 9-12). */
const CARRY = 9, GROUP = 4;
/** The mask of an edge load, the store's tail. */
const LOAD_MASK = 14, TAIL_MASK = 15;
/** `vpermpd` order of the halves' pairs: 0 1 | 4 5 | 2 3 | 6 7 → 0 … 7. */
export const IN_ORDER = 0xd8;
/** `vshufps` of two vectors' even elements (per 128-bit half: a0 a2 b0 b2). */
export const EVEN_LANES = 0x88;
/** `vshufps` of two vectors' odd elements (per 128-bit half: a1 a3 b1 b3). */
export const ODD_LANES = 0xdd;

/** Whether the kernel serves `s` at `level`: 3×3 windows, stride 2, no dilation. */
export function maxPairsServes(s: PoolSpec, level: string): boolean {
  return level === "avx2" && maxSharedServes(s) && s.kw === 3 && s.dw === 1;
}

/**
 * One plane: x at frame.X, y at frame.Y. Leaves ZF clear when the plane
 * held a NaN (the caller then makes it with the plane kernel).
 */
export function emitMaxPairs(v: Vec, s: PoolSpec, F: MaxInPlaceFrame): void {
  const a = v.a;
  const { ow } = poolShape(s);
  const vectors = Math.ceil(ow / L);
  // A row's last vector, where the row holds a whole vector and more, ends at its last output:
  // it starts ow − 8 (its first lanes the previous vector's outputs, the same bits stored
  // again), stored whole, where its lanes past the row would have taken a masked store
  // (microcoded on AMD) or landed on the next row's first outputs (stored already: column
  // groups go down every row in turn).
  const backed = ow % L !== 0 && ow > L;
  const first = (k: number) => (backed && k === vectors - 1 ? ow - L : k * L);
  v.move(NINF, f32(-Infinity));
  v.zero(NANS);
  emitSharedRows(v, s, F, {
    lanes: L,
    group: GROUP,
    ninf: NINF,
    acc: ACC,
    fold: H,
    carry: CARRY,
    /** dst = input row `row` (elements past r15) folded left, centre, right for vector k. */
    emitFold: (dst, row, k) => {
      const c0 = 2 * first(k) - s.pl;
      load(a, v, s, PA, row, c0);
      load(a, v, s, PB, row, c0 + L);
      load(a, v, s, QA, row, c0 + 1);
      load(a, v, s, QB, row, c0 + 1 + L);
      a.emit("vcmpps", v.r(CMP), v.r(PA), v.r(PB), 3); // unordered: a NaN in either
      a.emit("vorps", v.r(NANS), v.r(NANS), v.r(CMP));
      if (k === vectors - 1) {
        a.emit("vcmpps", v.r(CMP), v.r(QB), v.r(QB), 3);
        a.emit("vorps", v.r(NANS), v.r(NANS), v.r(CMP));
      }
      a.emit("vshufps", v.r(T), v.r(PA), v.r(PB), ODD_LANES); // centre: c0 + 2l + 1
      a.emit("vshufps", v.r(PA), v.r(PA), v.r(PB), EVEN_LANES); // left: c0 + 2l
      a.emit("vshufps", v.r(QB), v.r(QA), v.r(QB), ODD_LANES); // right: c0 + 2l + 2
      v.op("max", dst, PA, T);
      v.op("max", dst, dst, QB);
    },
    emitStore: (k) => {
      a.emit("vpermpd", v.r(ACC), v.r(ACC), IN_ORDER);
      const c = first(k), lanes = Math.min(L, ow - c);
      v.store(r14, c * 4, ACC, lanes < L ? v.tail(lanes, 1, TAIL_MASK) : undefined);
    },
  });
  a.emit("vtestps", v.r(NANS), v.r(NANS)); // ZF: no lane unordered
}

/**
 * reg = x's 8 columns from `col` of the row `row` elements past r15,
 * columns outside x −∞ (a masked load never touches them).
 */
function load(a: Assembler, v: Vec, s: PoolSpec, reg: number, row: number, col: number): void {
  let inside = 0;
  for (let l = 0; l < L; l++) if (col + l >= 0 && col + l < s.w) inside |= 1 << l;
  const at: Mem = ptr(r15, (row + col) * 4, null, 1, 32);
  if (inside === 0xff) return v.loadMem(reg, at);
  if (inside === 0) return v.move(reg, NINF);
  const mask = Int32Array.from({ length: L }, (_, l) => (inside >> l) & 1 ? -1 : 0);
  a.emit("vmovups", v.r(LOAD_MASK), ptr(a.constant(mask, 32), 0, null, 1, 32));
  a.emit("vmaskmovps", v.r(reg), v.r(LOAD_MASK), at);
  a.emit("vblendps", v.r(reg), v.r(NINF), v.r(reg), inside); // lanes inside from the load
}
