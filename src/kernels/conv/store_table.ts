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

