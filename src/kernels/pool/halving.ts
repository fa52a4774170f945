/**
 * 2×2 windows at stride 2 without padding (VGG's, U-Net's and DenseNet's
 * pools: each side halved) read in place at AVX2, max and average: the
 * plane kernel would first copy x into four phase planes, a whole second
 * pass over an input that is already the pool's largest operand.
 *
 * Output vector k of a row (8 positions) takes input columns 16k … 16k+15
 * of its two rows, two loads each: `vshufps` takes the even columns (left
 * taps) and the odd ones (right taps) in 128-bit halves, so the positions
 * come out 0 1 4 5 | 2 3 6 7, put in order once before the store
 * (`vpermpd`). The taps fold in the plane kernel's order (row-major, the
 * later operand kept by x86 max on equal values, sums left to right), so
 * its bits are the plane kernel's: a window with a NaN gives the one quiet
 * NaN, an average is the sum times ¼.
 *
 * A row's last, partial vector reads its columns inside x by masked loads
 * and stores whole (its lanes past the row land on the next row's first
 * outputs, stored after it: AMD microcodes a masked store); the call's
 * last row masked.
 *
 * @module
 */
import { ptr, qword, r13, r14, r15, rcx, rsp } from "../../../asm/mod.ts";
import { addImmediate, frameLoop } from "../abi.ts";
import { f32, type Tail, type Vec } from "../vec.ts";
import type { MaxInPlaceFrame } from "./max_in_place.ts";
import { EVEN_LANES, IN_ORDER, ODD_LANES } from "./max_pairs.ts";
import { poolShape, type PoolSpec } from "./spec.ts";

/** Positions per vector. */
const L = 8;
/** Registers: two rows' loads, the even and odd columns, the NaN lanes, a compare. */
const A0 = 0, B0 = 1, A1 = 2, B1 = 3, E = 4, O = 5, NANS = 6, CMP = 7;
/** Masks of a tail vector's loads (its first and second 8 columns) and of the call's last store. */
const MASK_A = 13, MASK_B = 14, MASK_STORE = 15;
/** Whole vectors per row emitted in a row without a column loop; longer rows loop over chunks. */
const UNROLLED = 16, CHUNK = 8;

/** Whether the kernel serves `s` at `level`: float 2×2 windows at stride 2, no padding, whole windows. */
export function halvingServes(s: PoolSpec, level: string): boolean {
  const { oh, ow } = poolShape(s);
  return level === "avx2" && s.type === "float32" && s.kh === 2 && s.kw === 2 &&
    s.sh === 2 && s.sw === 2 && s.dh === 1 && s.dw === 1 &&
    s.pt === 0 && s.pl === 0 && s.pb === 0 && s.pr === 0 &&
    2 * oh <= s.h && 2 * ow <= s.w && ow > 0 && oh > 0;
}

/**
 * One plane: x at frame.X, y at frame.Y. `last`: the call's last plane,
 * whose last row's tail is stored masked.
 */
export function emitHalving(v: Vec, s: PoolSpec, F: MaxInPlaceFrame, last: boolean): void {
  const a = v.a;
  const { oh, ow } = poolShape(s);
  const full = Math.floor(ow / L), rest = ow % L;
  // A tail stored whole overruns L − rest lanes: at most one row, which is stored after it.
  const wholeTails = rest > 0 && L - rest <= ow;
  // The tail vector's columns inside x: of its first 8 (A), of its second (B).
  const inA = Math.min(L, s.w - 16 * full), inB = Math.max(0, Math.min(L, s.w - 16 * full - L));
  let loadA: Tail | null = null, loadB: Tail | null = null, store: Tail | null = null;
  if (rest) {
    if (inA < L) loadA = v.tail(inA, 1, MASK_A);
    if (inB > 0 && inB < L) loadB = v.tail(inB, 1, MASK_B);
    store = v.tail(rest, 1, MASK_STORE);
  }

  /** Vector k's outputs (x's row pair at r15 + 2·rcx, y's row at r14 + rcx). */
  const vector = (k: number, tail: boolean, masked: boolean) => {
    const at = (row: number, col: number) => ptr(r15, (row * s.w + 16 * k + col) * 4, rcx, 2, 32);
    for (const [row, ra, rb] of [[0, A0, B0], [1, A1, B1]]) {
      v.loadMem(ra, at(row, 0), tail ? loadA ?? undefined : undefined);
      if (!tail || inB === L) v.loadMem(rb, at(row, L));
      else if (inB > 0) v.loadMem(rb, at(row, L), loadB!);
      else v.zero(rb);
    }
    const max = s.kind === "max";
    // Row 0: left, right; row 1: left, right (the plane kernel's tap order).
    a.emit("vshufps", v.r(E), v.r(A0), v.r(B0), EVEN_LANES);
    a.emit("vshufps", v.r(O), v.r(A0), v.r(B0), ODD_LANES);
    if (max) v.compare({ v: NANS }, E, "unord", O);
    v.op(max ? "max" : "add", E, E, O);
    a.emit("vshufps", v.r(A0), v.r(A1), v.r(B1), EVEN_LANES);
    a.emit("vshufps", v.r(O), v.r(A1), v.r(B1), ODD_LANES);
    if (max) {
      v.compare({ v: CMP }, A0, "unord", O);
      v.op("or", NANS, NANS, CMP);
    }
    v.op(max ? "max" : "add", E, E, A0);
    v.op(max ? "max" : "add", E, E, O);
    if (max) v.select(E, { v: NANS }, f32(NaN), E);
    else v.op("mul", E, E, f32(0.25));
    a.emit("vpermpd", v.r(E), v.r(E), IN_ORDER);
    v.storeMem(ptr(r14, k * L * 4, rcx, 1, 32), E, masked ? store! : undefined);
  };

  /** One output row: x's row pair at r15, y's row at r14 (r13 counts a long row's chunks). */
  const row = (lastRow: boolean) => {
    a.emit("xor", rcx, rcx);
    if (full > UNROLLED) {
      // Chunks of CHUNK vectors, rcx the chunk's byte offset into y's row.
      a.emit("mov", r13, Math.floor(full / CHUNK));
      const top = a.label();
      a.bind(top);
      for (let k = 0; k < CHUNK; k++) vector(k, false, false);
      addImmediate(a, "add", rcx, CHUNK * L * 4);
      a.emit("dec", r13);
      a.emit("jnz", top);
    }
    const done = full > UNROLLED ? full - (full % CHUNK) : 0;
    for (let k = done; k < full; k++) vector(k - done, false, false);
    if (rest) vector(full - done, true, !wholeTails || lastRow);
  };

  a.emit("mov", r15, qword(rsp, F.X));
  a.emit("mov", r14, qword(rsp, F.Y));
  const rows = last && rest ? oh - 1 : oh;
  frameLoop(a, F.RUN, rows, () => {
    row(false);
    addImmediate(a, "add", r15, 2 * s.w * 4);
    addImmediate(a, "add", r14, ow * 4);
  });
  if (rows < oh) row(true);
}
