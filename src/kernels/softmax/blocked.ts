/**
 * Softmax of short rows (up to 8 AVX-512 vectors) in blocks of 16 rows,
 * each fold across lanes done for the 16 rows at once (`Vec.foldAcross16`):
 *
 * - A: each row's maximum as a vector (its vectors' max), the 16 folded
 *   into one vector and kept in the frame;
 * - B: each row's e^(x − max), stored to y (softmax), and its sum as a
 *   vector kept in the frame; the 16 sums folded, then one division (or
 *   one logarithm) for the block;
 * - C: each row's e·(1/sum) from y, or (x − max) − ln(sum) from x, stored.
 *
 * The pipelined kernel (pipelined.ts) folds each row alone: 8 dependent
 * shuffles and ops for its maximum, 8 more for its sum, then a division,
 * each row's stages a chain the other rows' work has to fill; here a row's
 * work depends on no fold of its own until the block's, and a block's
 * folds take 90 instructions where 16 rows' took 256, and one division
 * where they took 16. Every element takes the same operations in the same
 * order as there (the maximum is exact; the sums' tree and folds pair the
 * same lanes; e and 1/sum the same instructions): the same bits, and tier 2
 * tries the pipelined stages on live calls.
 *
 * @module
 */
import { type Assembler, dword, ptr, r8, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { Lanes } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import { allocateStreams } from "../streams.ts";
import { f32, foldedLane, type Tail, Vec } from "../vec.ts";
import { emitExpStep } from "./exp_step.ts";
import { PIPELINED_MAX_VECTORS, sumTree } from "./pipelined.ts";
import type { SoftmaxSpec } from "./spec.ts";

/** Rows a block: the lanes of one fold. */
const BLOCK = 16;
/** The frame: the block's maxima, its scales (1/sum or ln sum), its 16 sums as vectors. */
const MAXIMA = 0, SCALES = 64, SUMS = 128, FRAME = SUMS + BLOCK * 64;

/**
 * Emits the rows from rsi to rdx (AVX-512, `s.cols` ≤ 8 vectors, k1 the
 * tail's mask if any) in blocks of 16 and a last block of the rest;
 * clobbers r8.
 */
export function emitBlockedRows(a: Assembler, v: Vec, s: SoftmaxSpec, tail: Tail | null): void {
  const k = Math.ceil(s.cols / v.isa.lanes);
  if (v.isa.level !== "avx512" || k > PIPELINED_MAX_VECTORS) {
    throw new Error(`blocked softmax: ${s.cols} columns at ${v.isa.level}`);
  }
  addImmediate(a, "sub", rsp, FRAME);
  const blocks = Math.floor(s.rows / BLOCK), rest = s.rows % BLOCK;
  const blockBytes = BLOCK * s.cols * 4;
  if (blocks > 0) {
    countedLoop(a, r8, blocks, () => {
      emitBlock(a, v, s, tail, BLOCK);
      addImmediate(a, "add", rsi, blockBytes);
      addImmediate(a, "add", rdx, blockBytes);
    });
  }
  if (rest > 0) emitBlock(a, v, s, tail, rest);
  addImmediate(a, "add", rsp, FRAME);
}

/** One block of `rows` rows (1-16) at rsi and rdx. */
function emitBlock(a: Assembler, v: Vec, s: SoftmaxSpec, tail: Tail | null, rows: number): void {
  const L = v.isa.lanes, VB = L * 4, k = Math.ceil(s.cols / L), rowBytes = s.cols * 4;
  const last = k - 1;
  const tailOf = (i: number) => (i === last && tail ? tail : undefined);
  /** Vector i of row r of x into `dst`, the tail's other lanes −Inf (their e^x is 0). */
  const loadX = (w: Vec, dst: number, r: number, i: number) => {
    const tl = tailOf(i);
    if (tl) w.loadFilled(dst, rsi, r * rowBytes + i * VB, tl, f32(-Infinity));
    else w.load(dst, rsi, r * rowBytes + i * VB);
  };
  const lane = (area: number, r: number) => dword(rsp, area + 4 * foldedLane(r));
  // Registers 0-15 hold the block's vectors for the folds (absent rows +0), 16-19 are scratch.
  const folded = Array.from({ length: BLOCK }, (_, r) => r);

  // A: each row's maximum in a vector (max is exact: any order), folded across lanes.
  for (let r = 0; r < rows; r++) {
    loadX(v, r, r, 0);
    for (let i = 1; i < k; i++) {
      const t = 16 + (i % 4);
      loadX(v, t, r, i);
      v.op("max", r, r, t);
    }
  }
  for (let r = rows; r < BLOCK; r++) v.zero(r);
  v.storeMem(ptr(rsp, MAXIMA), v.foldAcross16("max", folded, 16));

  // B: a row at a time, in registers 0..k−1; its maximum in k; exponentials in streams over
  // the rest, constants pinned in what is left (a Vec of its own: pass B's pins only).
  const w = new Vec(a, v.isa);
  const row = Array.from({ length: k }, (_, i) => i), mx = k, sum = k + 1;
  const exps = allocateStreams(w, range(k + 2, w.isa.nregs - k - 2), s.log ? 1 : 0, 4, (m, f) => {
    emitExpStep(m, s.log ? f[0] : row[0], row[0], -1, mx);
  });
  for (let r = 0; r < rows; r++) {
    w.broadcastMem(mx, lane(MAXIMA, r));
    for (let i = 0; i < k; i++) loadX(w, row[i], r, i);
    if (s.log) w.zero(sum);
    for (let g = 0; g < k; g += exps.count) {
      const group = range(g, Math.min(k, g + exps.count) - g);
      emitInterleaved(
        a,
        group.map((i) => (inner: Assembler) => {
          const st = exps.stream(i - g), m = new Lanes(w.retarget(inner), st.temps, st.masks);
          emitExpStep(m, s.log ? st.fixed[0] : row[i], row[i], -1, mx);
        }),
      );
      // logSoftmax sums in row order as the exponentials come; softmax stores e for C.
      for (const i of group) {
        if (s.log) w.op("add", sum, sum, exps.stream(i - g).fixed[0]);
        else w.store(rdx, r * rowBytes + i * VB, row[i], tailOf(i));
      }
    }
    if (!s.log) sumTree(w, sum, row, exps.unpinned);
    w.storeMem(ptr(rsp, SUMS + 64 * r), sum);
  }

  // The sums folded; the block's scales, 1/sum or ln(sum), in one vector.
  for (let r = 0; r < BLOCK; r++) {
    if (r < rows) v.loadMem(r, ptr(rsp, SUMS + 64 * r));
    else v.zero(r);
  }
  const sums = v.foldAcross16("add", folded, 16);
  if (s.log) {
    emitLog(new Lanes(v, [18, 19, 20, 21, 22, 23, 24, 25]), 16, sums);
  } else {
    v.move(17, f32(1));
    v.op("div", 16, 17, sums);
  }
  v.storeMem(ptr(rsp, SCALES), 16);

  // C: e·(1/sum) from y, or (x − max) − ln(sum) from x (x − max as B formed it).
  const scale = k, max = k + 1;
  for (let r = 0; r < rows; r++) {
    v.broadcastMem(scale, lane(SCALES, r));
    if (s.log) v.broadcastMem(max, lane(MAXIMA, r));
    for (let i = 0; i < k; i++) {
      if (s.log) {
        loadX(v, i, r, i);
        v.op("sub", i, i, max);
        v.op("sub", i, i, scale);
      } else {
        v.load(i, rdx, r * rowBytes + i * VB, tailOf(i));
        v.op("mul", i, i, scale);
      }
      v.store(rdx, r * rowBytes + i * VB, i, tailOf(i));
    }
  }
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}
