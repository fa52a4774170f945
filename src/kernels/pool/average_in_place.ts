/**
 * Average pooling read in place (AVX-512), the counterpart of
 * max_in_place.ts: each output vector sums its window's taps in the plane
 * kernel's order — row-major, from the first tap, a tap in the padding
 * adding a zero as the plane kernel's zero-padded planes do (+0 turns a −0
 * sum into +0: skipping it would not give the same bits) — then
 * multiplies by the same f32 reciprocal: one constant, or the plane
 * kernel's table of border counts, its 16 values for the vector's
 * positions made constants here.
 *
 * @module
 */
import { eax, KREG, type Mem, ptr, qword, r14, rsp } from "../../../asm/mod.ts";
import { f32, type Vec } from "../vec.ts";
import { emitRows, lanes, load, maskCache, type MaxInPlaceFrame } from "./max_in_place.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

const L = 16;
const EVEN = 1, ODD = 2, ACC = 3, A = 4, B = 5, T = 6, ZERO = 7;

/**
 * One plane, x at frame.X and y at frame.Y: `divisor` (uniform windows), or
 * `recips` (the plane kernel's per-position reciprocals, `pitch` per row).
 */
export function emitAverageInPlace(
  v: Vec,
  s: PoolSpec,
  F: MaxInPlaceFrame,
  divisor: number | null,
  recips: Float32Array | null,
  pitch: number,
): void {
  const a = v.a;
  const { oh, ow } = poolShape(s);
  v.move(EVEN, { table: lanes((i) => 2 * i) });
  v.move(ODD, { table: lanes((i) => 2 * i + 1) });
  v.zero(ZERO);
  const inside = (o: number) => o * s.sh - s.pt >= 0 && o * s.sh - s.pt + (s.kh - 1) * s.dh < s.h;
  /** The reciprocals of output row o's vector at column c (a constant table). */
  const scale = (o: number, c: number): Mem => {
    const t = new Float32Array(L).fill(1);
    for (let l = 0; l < L && c + l < ow; l++) t[l] = recips![o * pitch + c + l];
    return ptr(a.constant(t, 64), 0, null, 1, 64);
  };
  /** Output row o (x's row `base` at r15, y's row at r14). */
  const row = (o: number, base: number) => {
    for (let c = 0; c < ow; c += L) {
      const masks = maskCache(a, 2, 5); // k2-k6
      let first = true;
      const add = (reg: number) => {
        if (first) v.move(ACC, reg);
        else v.op("add", ACC, ACC, reg);
        first = false;
      };
      for (let i = 0; i < s.kh; i++) {
        const ih = o * s.sh - s.pt + i * s.dh;
        const inX = ih >= 0 && ih < s.h;
        const r = (ih - base) * s.w, c0 = c * s.sw - s.pl;
        if (s.sw === 1) {
          for (let j = 0; j < s.kw; j++) {
            if (!inX) {
              add(ZERO);
              continue;
            }
            load(a, v, s, A, r, c0 + j, true, masks);
            add(A);
          }
          continue;
        }
        for (let m = 0; 2 * m < s.kw; m++) {
          const pair = 2 * m + 1 < s.kw;
          if (!inX) {
            add(ZERO);
            if (pair) add(ZERO);
            continue;
          }
          load(a, v, s, A, r, c0 + 2 * m, true, masks);
          load(a, v, s, B, r, c0 + 2 * m + L, true, masks);
          if (pair) {
            v.move(T, A);
            a.emit("vpermt2ps", v.r(T), v.r(ODD), v.r(B));
          }
          a.emit("vpermt2ps", v.r(A), v.r(EVEN), v.r(B));
          add(A);
          if (pair) add(T);
        }
      }
      if (divisor !== null) v.op("mul", ACC, ACC, f32(1 / divisor));
      else a.emit("vmulps", v.r(ACC), v.r(ACC), scale(o, c));
      const n = Math.min(L, ow - c);
      if (n < L) {
        a.emit("mov", eax, (1 << n) - 1);
        a.emit("kmovw", KREG[1], eax);
        a.emit("vmovups", ptr(r14, c * 4).k(KREG[1]), v.r(ACC));
      } else v.store(r14, c * 4, ACC);
    }
  };
  a.emit("mov", r14, qword(rsp, F.Y));
  // Rows reading only x share one loop: their reciprocals are the same row after row.
  emitRows(a, F, { oh, ow, w: s.w, step: s.sh }, inside, (o) => o * s.sh - s.pt, row);
}
