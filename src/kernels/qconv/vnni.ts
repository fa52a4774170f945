/**
 * The 8-bit convolution's VNNI tiles: 6 output channels × 4 vectors of 16
 * positions (24 int32 accumulators), per group of 4 input channels and tap
 * the pixel vectors loaded once and each channel's weights broadcast into
 * `vpdpbusd`; rows narrower than a tile as one stream of positions (a vector
 * may end one row and start the next, every lane an output), or narrow rows
 * whole, several to a vector; the store adds each channel's term and
 * requantizes.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  eax,
  GP32,
  KREG,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r9,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsp,
  ZMM,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import {
  channelGroups,
  outBytes,
  type PixelLayout,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
} from "./spec.ts";
import { CHUNK, OY, TILE, YCHUNK, YIMG, YROW } from "./frame.ts";
import type { QConvPlan } from "./generate.ts";
import { bounds, channelTerm, tapOffset } from "./terms.ts";

const r15d = GP32[15];

/**
 * `count` output positions of row `dy` (from the rows' first) from column
 * `col`, in lanes `lane`.. of a vector.
 */
interface Segment {
  dy: number;
  col: number;
  count: number;
  lane: number;
}

/**
 * A vector of positions: one segment of a row, or (rows narrower than 16)
 * whole consecutive rows side by side — consecutive in y either way.
 */
interface PositionVector {
  segments: Segment[];
  lanes: number;
  /**
   * Its first segment loaded under its own mask too (whole narrow rows: a
   * 7-wide row's load then stays in its cache line; measured 3% on 7²).
   */
  firstMasked?: boolean;
}

/**
 * Most vectors the stream may take against whole rows' count: its vectors
 * of two rows take a load each (14-wide rows: 13 vectors for 14, 25 loads
 * for 14, measured 0.96-1.04× on 256→256 3×3 14²; 56-wide: 7 for 8,
 * 1.14×).
 */
const STREAM_GAIN = 0.9;

/**
 * The vectors covering `rows` output rows of `ow` positions, one of two
 * ways: the rows' positions as one stream (y holds them contiguously) cut
 * every 16, so a vector may end one row and start the next (a load per row
 * it holds: 56-wide rows fill every lane, where a vector per 16 of a row
 * left 8 of every 64 idle), where it saves enough vectors; else whole rows,
 * ⌊16/ow⌋ side by side in a vector or a row in pieces of 16. Rows of 1-2
 * positions one to a vector (8-16 rows would need a mask each).
 */
function rowVectors(ow: number, rows: number): PositionVector[] {
  const whole = wholeRowVectors(ow, rows);
  if (ow < 3) return whole;
  const stream = streamVectors(ow, rows);
  return stream.length <= STREAM_GAIN * whole.length ? stream : whole;
}

/** The rows' positions as one stream cut every 16 lanes. */
function streamVectors(ow: number, rows: number): PositionVector[] {
  const out: PositionVector[] = [], total = ow * rows;
  for (let start = 0; start < total; start += 16) {
    const end = Math.min(total, start + 16), segments: Segment[] = [];
    for (let p = start; p < end;) {
      const dy = Math.floor(p / ow), col = p % ow, count = Math.min(end - p, ow - col);
      segments.push({ dy, col, count, lane: p - start });
      p += count;
    }
    out.push({ segments, lanes: end - start });
  }
  return out;
}

/** Whole rows per vector: ⌊16/ow⌋ side by side (rows narrower than 16), else pieces of 16. */
function wholeRowVectors(ow: number, rows: number): PositionVector[] {
  const out: PositionVector[] = [];
  const per = ow < 16 && ow >= 3 ? Math.floor(16 / ow) : 1;
  if (per === 1) {
    for (let dy = 0; dy < rows; dy++) {
      for (let col = 0; col < ow; col += 16) {
        const count = Math.min(16, ow - col);
        out.push({ segments: [{ dy, col, count, lane: 0 }], lanes: count });
      }
    }
    return out;
  }
  for (let first = 0; first < rows; first += per) {
    const segments: Segment[] = [];
    for (let dy = first; dy < Math.min(rows, first + per); dy++) {
      segments.push({ dy, col: 0, count: ow, lane: (dy - first) * ow });
    }
    out.push({ segments, lanes: segments.length * ow, firstMasked: true });
  }
  return out;
}

/** Most tiles in one group of rows (each tile of a group is code of its own). */
const GROUP_TILES = 8;

/**
 * Output rows per group where rows are narrower than the tile: the count
 * whose positions waste the fewest lanes (56-wide rows: 8 rows fill 7
 * tiles exactly, where one row a tile left 8 of 64 lanes idle), at most
 * GROUP_TILES tiles; of equal waste, one whose vectors fill whole tiles
 * (a tile of fewer vectors reuses each weight less), then fewer rows.
 */
function groupRows(ow: number, nv: number): number {
  let best = 1, bestCost = Infinity;
  for (let rows = 1;; rows++) {
    const vectors = rowVectors(ow, rows).length;
    if (Math.ceil(vectors / nv) > GROUP_TILES) break;
    const waste = (vectors * 16 - rows * ow) / (rows * ow);
    const cost = Math.round(waste * 1e6) * 2 + (vectors % nv === 0 ? 0 : 1);
    if (cost < bestCost) [best, bestCost] = [rows, cost];
  }
  return best;
}

/** The merge mask of a segment loaded from lane `lane` on. */
function laneMask(lane: number): number {
  return (0xffff << lane) & 0xffff;
}

/** The lane masks a set of vectors loads and stores under (the full mask needs none). */
function masksOf(vecs: PositionVector[]): Set<number> {
  const bits = new Set<number>();
  for (const v of vecs) {
    if (v.lanes < 16) bits.add(2 ** v.lanes - 1);
    for (const g of v.segments.slice(1)) bits.add(laneMask(g.lane));
    if (v.firstMasked) bits.add(2 ** v.segments[0].count - 1);
  }
  return bits;
}

/** The VNNI tiles over the band (pixel words at r9, weights at rdx). */
export function emitVnni(a: Assembler, s: QConvSpec, L: PixelLayout, p: QConvPlan): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), eb = outBytes(s);
  const taps = s.kh * s.kw, groups = channelGroups(s.c), chWeights = groups * taps * 4;
  const yPlane = oh * ow * eb;
  const acc = (i: number, j: number) => ZMM[i * p.nv + j];
  // Accumulators first (mr·nv ≤ 24), then nv pixel vectors and the two weight broadcasts.
  const X = (j: number) => ZMM[24 + j], B0 = ZMM[24 + p.nv], B1 = ZMM[25 + p.nv];
  const [lo, hi] = bounds(s);
  /** The mask register of each lane mask a set of vectors needs (k1-k7), set now. */
  const setMasks = (vecs: PositionVector[]): Map<number, Reg> => {
    const masks = new Map<number, Reg>();
    for (const bits of masksOf(vecs)) {
      if (masks.size === 7) throw new Error("convInt8: more than 7 lane masks");
      const k = KREG[masks.size + 1];
      masks.set(bits, k);
      a.emit("mov", eax, bits);
      a.emit("kmovw", k, eax);
    }
    return masks;
  };
  /** One tile: its rows' pixel words at r10, weights at rbx, y at r11 (the rows' first). */
  const tile = (mr: number, vecs: PositionVector[], masks: Map<number, Reg>) => {
    const nv = vecs.length;
    for (let i = 0; i < mr; i++) {
      for (let j = 0; j < nv; j++) a.emit("vpxord", acc(i, j), acc(i, j), acc(i, j));
    }
    a.emit("mov", r13, r10);
    a.emit("mov", r14, rbx);
    countedLoop(a, r15, groups, () => {
      for (let t = 0; t < taps; t++) {
        const at = tapOffset(s, L, t);
        vecs.forEach((v, j) => {
          v.segments.forEach((g, q) => {
            const m = ptr(r13, at + g.dy * s.sh * L.rowBytes + (g.col - g.lane) * 4)
              .withSize(64);
            // The first segment a plain load (its lanes past it read the workspace's next
            // words or its slack), each later one over the lanes from its own on.
            if (q === 0 && !v.firstMasked) a.emit("vmovdqu32", X(j), m);
            else if (q === 0) a.emit("vmovdqu32", X(j).k(masks.get(2 ** g.count - 1)!).z, m);
            else a.emit("vmovdqu32", X(j).k(masks.get(laneMask(g.lane))!), m);
          });
        });
        for (let i = 0; i < mr; i++) {
          const b = i % 2 ? B1 : B0;
          a.emit("vpbroadcastd", b, dword(r14, i * chWeights + 4 * t));
          for (let j = 0; j < nv; j++) a.emit("vpdpbusd", acc(i, j), X(j), b);
        }
      }
      addImmediate(a, "add", r13, L.groupBytes);
      a.emit("add", r14, taps * 4);
    });
    // The pixel and weight registers are free: the requantizing constants go there.
    const ZP = ZMM[24], LO = ZMM[25], HI = ZMM[26], TERM = ZMM[27];
    if (s.out) {
      a.emit("mov", eax, s.yZero);
      a.emit("vpbroadcastd", ZP, eax);
      a.emit("mov", eax, lo);
      a.emit("vpbroadcastd", LO, eax);
      a.emit("vcvtdq2ps", LO, LO);
      a.emit("mov", eax, hi);
      a.emit("vpbroadcastd", HI, eax);
      a.emit("vcvtdq2ps", HI, HI);
    }
    for (let i = 0; i < mr; i++) {
      if (channelTerm(a, s, i, r15d)) {
        a.emit("vpbroadcastd", TERM, eax);
        for (let j = 0; j < nv; j++) a.emit("vpaddd", acc(i, j), acc(i, j), TERM);
      }
      vecs.forEach((vec, j) => {
        const v = acc(i, j), first = vec.segments[0];
        const k = vec.lanes < 16 ? masks.get(2 ** vec.lanes - 1)! : null;
        const at = i * yPlane + (first.dy * ow + first.col) * eb;
        if (s.out === 0) {
          const to = ptr(r11, at).withSize(64);
          a.emit("vmovdqu32", k ? to.k(k) : to, v);
          return;
        }
        a.emit("vcvtdq2ps", v, v);
        a.emit("vmulps", v, v, s.scale === 2 ? dword(rdi, 4 * i, rcx, 1).b : dword(rdi, 0).b);
        a.emit("vmaxps", v, v, LO);
        a.emit("vminps", v, v, HI);
        a.emit("vcvtps2dq", v, v);
        a.emit("vpaddd", v, v, ZP);
        const to = ptr(r11, at).withSize(16);
        a.emit(s.out === 1 ? "vpmovusdb" : "vpmovsdb", k ? to.k(k) : to, v);
      });
    }
  };
  /** Every channel tile of one set of vectors (pixel words at r10, y at [YCHUNK]). */
  const chunk = (vecs: PositionVector[]) => {
    const masks = setMasks(vecs);
    a.emit("xor", rcx, rcx);
    a.emit("mov", rbx, rdx);
    a.emit("mov", r11, qword(rsp, YCHUNK));
    frameLoop(a, TILE, Math.floor(s.oc / p.mr), () => {
      tile(p.mr, vecs, masks);
      a.emit("add", rcx, 4 * p.mr);
      addImmediate(a, "add", rbx, p.mr * chWeights);
      addImmediate(a, "add", r11, p.mr * yPlane);
    });
    if (s.oc % p.mr) tile(s.oc % p.mr, vecs, masks);
  };
  /**
   * The vectors in tiles of at most nv, as even as can be (13 vectors as
   * 4+3+3+3: a tile of one vector would reuse each weight broadcast once),
   * each of at most 7 lane masks (k1-k7).
   */
  const tiles = (vecs: PositionVector[]) => {
    const out: PositionVector[][] = [];
    for (let j = 0; j < vecs.length;) {
      const left = vecs.length - j;
      let n = Math.ceil(left / Math.ceil(left / p.nv));
      while (n > 1 && masksOf(vecs.slice(j, j + n)).size > 7) n--;
      out.push(vecs.slice(j, j + n));
      j += n;
    }
    return out;
  };
  const band = s.rowEnd - s.rowStart, width = 16 * p.nv;
  a.emit("mov", r12, r9);
  a.emit("mov", rax, qword(rsp, YIMG));
  addImmediate(a, "add", rax, s.rowStart * ow * eb);
  a.emit("mov", qword(rsp, YROW), rax);
  if (ow >= width) {
    // Wide rows: each row in chunks of nv vectors (a loop), then the rest of it.
    const full = Math.floor(ow / width), rest = ow % width;
    const whole = tiles(rowVectors(width, 1))[0];
    const last = rest ? rowVectors(rest, 1) : [];
    frameLoop(a, OY, band, () => {
      a.emit("mov", r10, r12);
      a.emit("mov", rax, qword(rsp, YROW));
      a.emit("mov", qword(rsp, YCHUNK), rax);
      frameLoop(a, CHUNK, full, () => {
        chunk(whole);
        addImmediate(a, "add", r10, width * 4);
        addImmediate(a, "add", qword(rsp, YCHUNK), width * eb);
      });
      if (rest) chunk(last);
      addImmediate(a, "add", r12, s.sh * L.rowBytes);
      addImmediate(a, "add", qword(rsp, YROW), ow * eb);
    });
    return;
  }
  // Narrower rows: groups of rows whose vectors fill whole tiles, then the rows left.
  const rows = groupRows(ow, p.nv), full = Math.floor(band / rows), rest = band % rows;
  /** The tiles of `count` rows from r12's, y from [YROW]. */
  const rowGroup = (count: number) => {
    for (const vecs of tiles(rowVectors(ow, count))) {
      a.emit("mov", r10, r12);
      a.emit("mov", rax, qword(rsp, YROW));
      a.emit("mov", qword(rsp, YCHUNK), rax);
      chunk(vecs);
      // The next tile's vectors start at their own rows: r10 and y stay the group's.
    }
  };
  frameLoop(a, OY, full, () => {
    rowGroup(rows);
    addImmediate(a, "add", r12, rows * s.sh * L.rowBytes);
    addImmediate(a, "add", qword(rsp, YROW), rows * ow * eb);
  });
  if (rest) rowGroup(rest);
}
