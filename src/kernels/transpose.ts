/**
 * A 16×16 transpose of f32 lanes in AVX-512 registers: 64 shuffles in four
 * stages (32-bit and 64-bit interleaves within 128-bit lanes, then two of
 * 128-bit blocks), moving bits only. Shared by the convolution's
 * channel-vector store and the strided copy's transposes; and an 8×8 one
 * in AVX2 registers for the copy's transposes there.
 *
 * @module
 */
import type { Vec } from "./vec.ts";

/**
 * Transposes registers 0..15 (row p: position p's 16 channels) in place
 * through 16..31: returns the register holding channel j's 16 positions.
 */
export function transpose16(v: Vec): number[] {
  const a = v.a, r = (i: number) => v.r(i);
  const U = transposeQuads(v, 16);
  // 128-bit blocks: for each c, the 4×4 transpose of U(0..3, c)'s lanes.
  const out = new Array<number>(16);
  for (let c = 0; c < 4; c++) {
    const V = [16 + 4 * c, 17 + 4 * c, 18 + 4 * c, 19 + 4 * c];
    a.emit("vshuff32x4", r(V[0]), r(U(0, c)), r(U(1, c)), 0x88);
    a.emit("vshuff32x4", r(V[1]), r(U(0, c)), r(U(1, c)), 0xdd);
    a.emit("vshuff32x4", r(V[2]), r(U(2, c)), r(U(3, c)), 0x88);
    a.emit("vshuff32x4", r(V[3]), r(U(2, c)), r(U(3, c)), 0xdd);
    // Column 4l + c: lanes l = 0, 2 from (V0, V2), l = 1, 3 from (V1, V3).
    a.emit("vshuff32x4", r(U(0, c)), r(V[0]), r(V[2]), 0x88);
    a.emit("vshuff32x4", r(U(2, c)), r(V[0]), r(V[2]), 0xdd);
    a.emit("vshuff32x4", r(U(1, c)), r(V[1]), r(V[3]), 0x88);
    a.emit("vshuff32x4", r(U(3, c)), r(V[1]), r(V[3]), 0xdd);
    for (let l = 0; l < 4; l++) out[4 * l + c] = U(l, c);
  }
  return out;
}

/**
 * Transposes registers 0..7 (8 floats each) in place through 8..15 at AVX2:
 * 32-bit interleaves, then 64-bit shuffles within 128-bit lanes, then the
 * lanes' halves swapped (24 shuffles); returns the register holding column
 * j's 8 rows.
 */
export function transpose8(v: Vec): number[] {
  const a = v.a, r = (i: number) => v.r(i);
  // Rows 0-3 (q = 0) and 4-7 (q = 1): U(q, c) holds column c | c + 4 of its four rows.
  const U = transposeQuads(v, 8);
  const out = new Array<number>(8);
  for (let c = 0; c < 4; c++) {
    a.emit("vperm2f128", r(8 + c), r(U(0, c)), r(U(1, c)), 0x20);
    a.emit("vperm2f128", r(12 + c), r(U(0, c)), r(U(1, c)), 0x31);
    out[c] = 8 + c;
    out[c + 4] = 12 + c;
  }
  return out;
}

/**
 * The stages both transposes share, on rows 0..n−1 through n..2n−1: pairs
 * of rows interleaved (32-bit), then quads (64-bit), so that U(q, c) holds,
 * per 128-bit lane l, rows 4q..4q+3 at column 4l + c. Returns U.
 */
function transposeQuads(v: Vec, n: number): (q: number, c: number) => number {
  const a = v.a, r = (i: number) => v.r(i);
  for (let i = 0; i < n / 2; i++) {
    a.emit("vunpcklps", r(n + 2 * i), r(2 * i), r(2 * i + 1));
    a.emit("vunpckhps", r(n + 1 + 2 * i), r(2 * i), r(2 * i + 1));
  }
  const U = (q: number, c: number) => 4 * q + c;
  for (let q = 0; q < n / 4; q++) {
    for (let h = 0; h < 2; h++) {
      const lo = n + 4 * q + h, hi = n + 4 * q + 2 + h;
      a.emit("vshufps", r(U(q, 2 * h)), r(lo), r(hi), 0x44);
      a.emit("vshufps", r(U(q, 2 * h + 1)), r(lo), r(hi), 0xee);
    }
  }
  return U;
}
