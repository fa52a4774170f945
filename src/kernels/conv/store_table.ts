/**
 * The store table of a band whose rows are pitched (see geometry.ts): for
 * each vector of the flattened domain, the pieces of it that belong to one
 * output row, as (byte offset into y of the row's lane 0, lane mask).
 * AVX-512 masks are opmask bits, AVX2 masks 8 lanes of all-ones or zero.
 * Shared by every family that computes on phase planes.
 *
 * @module
 */
import type { VecIsa } from "../vec.ts";
import type { ConvGeometry } from "./geometry.ts";

/** Bytes of one row piece in the store table: offset, then the mask. */
export function entryBytes(isa: VecIsa): number {
  return isa.level === "avx512" ? 8 : 36;
}

/** The store table: per vector of the band's domain, its row pieces (offset, mask). */
export function storeTable(isa: VecIsa, g: ConvGeometry, segments: number): Uint8Array {
  const L = isa.lanes, E = entryBytes(isa);
  const vectors = Math.ceil(g.positions / L);
  const bytes = new Uint8Array(vectors * segments * E);
  const view = new DataView(bytes.buffer);
  for (let j = 0; j < vectors; j++) {
    let seg = -1, lastRow = -1;
    for (let l = 0; l < L; l++) {
      const q = j * L + l;
      if (q >= g.positions) break;
      const row = Math.floor(q / g.wq), col = q % g.wq;
      if (col >= g.ow) continue;
      if (row !== lastRow) {
        seg++;
        lastRow = row;
        view.setInt32((j * segments + seg) * E, (row * g.ow + j * L - row * g.wq) * 4, true);
      }
      const at = (j * segments + seg) * E + 4;
      if (isa.level === "avx512") view.setUint32(at, view.getUint32(at, true) | (1 << l), true);
      else view.setInt32(at + l * 4, -1, true);
    }
  }
  return bytes;
}

/**
 * How a tile's outputs are stored. "runs": tiles never cross a run of
 * positions that y holds contiguously (each output row, or the whole band
 * when the row pitch is the output width), stores are plain vectors.
 * "table": tiles run over the band's flattened domain, and each vector is
 * stored as up to `segments` masked pieces, one per output row it touches,
 * whose masks and offsets a table in the code holds (AVX2, AVX-512).
 */
export type ConvStoreMode = "runs" | "table";

/** Most row pieces a stored vector may have in table mode (one opmask or offset register each). */
export const MAX_SEGMENTS = 3;
/** Largest store table kept in the code. */
const MAX_TABLE_BYTES = 1 << 20;

/** Row pieces of the vector of positions [q0, q0 + lanes) below `positions`. */
export function vectorSegments(g: ConvGeometry, q0: number, lanes: number): number {
  let count = 0, lastRow = -1;
  for (let q = q0; q < Math.min(q0 + lanes, g.positions); q++) {
    const row = Math.floor(q / g.wq), col = q % g.wq;
    if (col < g.ow && row !== lastRow) {
      count++;
      lastRow = row;
    }
  }
  return count;
}

/**
 * Row pieces per vector of the band's table at `isa`, or 0 where no table
 * can serve (rows not pitched, SSE2/scalar, more than MAX_SEGMENTS pieces,
 * a table beyond MAX_TABLE_BYTES).
 */
export function tableSegments(g: ConvGeometry, isa: VecIsa): number {
  const L = isa.lanes;
  if (g.wq <= g.ow || (isa.level !== "avx2" && isa.level !== "avx512")) return 0;
  const vectors = Math.ceil(g.positions / L);
  let segments = 0;
  for (let j = 0; j < vectors; j++) segments = Math.max(segments, vectorSegments(g, j * L, L));
  return segments <= MAX_SEGMENTS && vectors * segments * entryBytes(isa) <= MAX_TABLE_BYTES
    ? segments
    : 0;
}

/**
 * How a band's outputs are stored at `isa`: "table" when rows are pitched,
 * AVX2/AVX-512 masks can store the pieces (at most MAX_SEGMENTS per vector,
 * a table of at most MAX_TABLE_BYTES) and it is estimated cheaper than
 * "runs": a vector costs its `work` (FMAs or folds per output) plus its
 * store, and a table's store 4 instructions more per piece, where rows
 * whose width is a multiple of the lanes waste nothing in runs (a
 * depthwise 3×3 on 112² stores 784 row vectors of 9 FMAs plainly rather
 * than 805 flat ones through the table). `run` is the most positions a
 * tile may cover.
 */
export function chooseStore(
  g: ConvGeometry,
  isa: VecIsa,
  work: number,
): { mode: ConvStoreMode; segments: number; run: number } {
  const L = isa.lanes, segments = tableSegments(g, isa);
  if (segments) {
    const vectors = Math.ceil(g.positions / L);
    const table = vectors * (work + 3 + 4 * segments),
      runs = g.rows * Math.ceil(g.ow / L) * (work + 3);
    if (table < runs) return { mode: "table", segments, run: g.positions };
  }
  return { mode: "runs", segments: 0, run: g.wq > g.ow ? g.ow : g.positions };
}
