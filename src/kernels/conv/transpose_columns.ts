/**
 * ConvTranspose by output phases with output columns along the lanes, for
 * the layers whose two phases read the same input at every column and take
 * one kernel column each (a 2×2/2 upsampling: column 2m + q is x[m]·w[q]).
 * A lane then needs x[m] twice over and the two phases' weights side by
 * side: the unit's rows of x are packed with every element written twice
 * (x[m] at columns 2m and 2m + 1), and the weights' two columns of a kernel
 * row are interleaved per output channel once a call (a pair a channel,
 * broadcast to every lane pair by one `vbroadcastsd`). A tile is 6 vectors
 * of an output row's columns × 4 output channels (a row of fewer vectors:
 * more channels, up to 24 accumulators): 24 FMAs for 10 loads per input
 * channel, and its accumulators are y's runs already: no interleave (the
 * positions tile's two `vpermi2ps` a vector) before the stores. At AVX2
 * (8 lanes, 16 registers) a tile is 2 vectors × 5 channels (fewer beside
 * an activation's temporaries): 10 FMAs for 7 loads (2×2/2 64→64 on 80²,
 * Zen 3, one thread, `deno run -A bench/ab.ts --a 1471e35 --b 65f9f2c
 * --conv 1,64,80,80,64,2,2 --transposed`: ×0.97 of 3 × 3's time); the
 * pairs are made by `vunpcklps`/`vunpckhps` and `vperm2f128`.
 *
 * Each output sums the same FMAs in the same order as the positions and
 * channel tiles (input channels, then the row's taps in the upsampled
 * kernel's order), so all three give the same bits.
 *
 * @module
 */
import { qword, rcx, rdi, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { evenPieces } from "../partition.ts";
import type { Vec, VecIsa } from "../vec.ts";
import { emitVectorStore } from "./channel_vectors.ts";
import { activationTemps } from "../unary/temps.ts";
import type { ConvGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";
import type { PhaseFrame, PhaseX } from "./transpose_phases.ts";
import {
  emitChannelLoop,
  loadStorePointers,
  phaseInterleave,
  phaseTaps,
  positionsServe,
  tileOutputFetch,
} from "./transpose_positions.ts";

/**
 * A level's tile: lanes, most vectors of output columns per tile and
 * accumulators (a whole tile: 6 vectors × 4 channels at AVX-512, 2 × 5 at
 * AVX2; a row of fewer vectors takes more channels), and registers: the
 * accumulators from 0, x vectors from X0, the broadcast weight pairs from
 * PAIR0, AVX2's tail mask, and the epilogue's (over the x vectors and
 * pairs, after the loop).
 */
interface ColumnRegisters {
  L: number;
  TILE_VECTORS: number;
  ACCUMULATORS: number;
  X0: number;
  PAIR0: number;
  MASK: number;
  RES: number;
  OUT: number;
  FREE: number[];
}

const AVX512_TILE: ColumnRegisters = {
  L: 16,
  TILE_VECTORS: 6,
  ACCUMULATORS: 24,
  X0: 24,
  PAIR0: 30,
  MASK: -1,
  RES: 24,
  OUT: 25,
  FREE: [26, 27, 28, 29, 30, 31],
};
/** AVX2: most accumulators (2 vectors × 5 channels), and the tail mask's register. */
const AVX2_ACCUMULATORS = 10, AVX2_MASK = 15;

/**
 * The tile of `isa`'s level for `s`: at AVX2 as many accumulators (up to
 * 10) as leave the epilogue its activation's temporaries beside the
 * residual's and the result's registers and the mask (erf's 8: 5).
 */
function tileOf(isa: VecIsa, s: ConvSpec): ColumnRegisters {
  if (isa.level !== "avx2") return AVX512_TILE;
  const acc = Math.min(AVX2_ACCUMULATORS, AVX2_MASK - 2 - activationTemps(isa, s.activation));
  return {
    L: 8,
    TILE_VECTORS: 2,
    ACCUMULATORS: acc,
    X0: acc,
    PAIR0: acc + 2,
    MASK: AVX2_MASK,
    RES: acc,
    OUT: acc + 1,
    FREE: Array.from({ length: AVX2_MASK - acc - 2 }, (_, i) => acc + 2 + i),
  };
}

/** The widest tile of a layer's rows, for descriptions: "96 columns × 4 channels". */
export function describeColumnTile(s: ConvSpec, g: ConvGeometry, isa: VecIsa): string {
  const t = tileOf(isa, s), L = t.L;
  const vectors = Math.ceil(g.ow / L), [[, V]] = evenPieces(vectors, t.TILE_VECTORS);
  const [[, channels]] = evenPieces(Math.min(L, g.ocg), tileChannels(t, V));
  return `${Math.min(V * L, g.ow)} columns × ${channels} channels`;
}

/** Most channels of a tile of V vectors: as many as the accumulators hold, at most a block. */
function tileChannels(t: ColumnRegisters, V: number): number {
  return Math.min(t.L, Math.floor(t.ACCUMULATORS / V));
}

/**
 * Tier 1's choice of the columns tile (where it serves): output rows that
 * fill at least 15/16 of their vectors, as for the positions tile
 * (positionsFill), and a unit's doubled rows of x within L1 (every tile
 * reads them all; the positions tile's are half as large). Measured on
 * Zen 5 (tier 2's medians, `deno run -A bench/tune_candidates.ts --conv
 * n,c,h,w,oc,2,2 --packed --transposed [--threads 2]`): at 1 thread 64→64
 * on 40² (80 columns: 5 full vectors) 253 µs against the channel tile's
 * 280 and the positions tile's 307, 256→128 on 16² 330 against 329 and
 * 425, 64→64 on 80² 1068-1100 against 1058-1120 by positions; 64→64 on
 * 20² (40 columns in 3 vectors) 75 against 72 by channels, and 128→64 on
 * 80² (its doubled rows 80 KB) 2224 against 2119 by positions. At 2
 * threads 64→64 on 40² 134 against 178 by channels head to head, on 80²
 * 568 against 563 by positions (once the parts' workspaces no longer
 * touched: policy.ts, PART_WORKSPACE_GAP).
 */
export function columnsFill(s: ConvSpec, isa: VecIsa, g: ConvGeometry, l1d: number): boolean {
  const L = tileOf(isa, s).L, vectors = Math.ceil(g.ow / L);
  const rowsBytes = s.c * 2 * s.w * 4 * Math.max(1, Math.ceil(s.kh / s.uh));
  return columnsServe(s, isa, g) && g.ow * 16 >= vectors * L * 15 && rowsBytes <= l1d;
}

/** Each phase's one kernel column for a row tap, or null when a phase has none or several. */
function pairColumns(s: ConvSpec): [number, number] | null {
  const taps = phaseTaps(s, [{ ta: 0, iy: 0 }]);
  if (taps[0].length !== 1 || taps[1].length !== 1) return null;
  if (taps[0][0].dx !== 0 || taps[1][0].dx !== 0) return null;
  // The flipped kernel: conv tap column b is w's column kw − 1 − b.
  return [s.kw - 1 - taps[0][0].tb, s.kw - 1 - taps[1][0].tb];
}

/**
 * Whether the columns tile serves `s` (one the kernel by phases serves):
 * both phases read x[m] for column pair m, one kernel column each, of two
 * (a phase's pair of weights then takes the bytes its two vectors took in
 * the packed layout, so the pairs keep that layout's offsets), y's rows
 * exactly twice x's, and the epilogue's temporaries fit beside the tile.
 */
export function columnsServe(s: ConvSpec, isa: VecIsa, g: ConvGeometry): boolean {
  const fits = isa.level === "avx2" || positionsServe(s, isa);
  return s.kw === 2 && g.ow === 2 * s.w && pairColumns(s) !== null && fits;
}

/** Workspace bytes of the weight pairs: as many as the group's packed weights (blocks of `lanes`). */
export function columnPairBytes(s: ConvSpec, g: ConvGeometry, lanes: number): number {
  return Math.ceil(g.ocg / lanes) * s.c * s.kh * s.kw * lanes * 4;
}

/**
 * The weight pairs of every block of output channels (a vector's lanes)
 * into the workspace at byte `at` (WS + at), from the packed weights at WV,
 * and WB set to them: for each input channel and kernel row, lane pair o
 * holds output channel o's weights of phases 0 and 1, where its two
 * vectors were. rcx, rsi, rdi and vectors 0-4 are clobbered.
 */
export function emitColumnPairs(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  F: PhaseFrame,
  at: number,
): void {
  const a = v.a, L = tileOf(v.isa, s).L, avx2 = v.isa.level === "avx2";
  const [j0, j1] = pairColumns(s)!;
  a.emit("mov", rsi, qword(rsp, F.WV));
  a.emit("mov", rdi, qword(rsp, F.WS));
  addImmediate(a, "add", rdi, at);
  a.emit("mov", qword(rsp, F.WB), rdi);
  const LO = 0, HI = 1, A = 2, B = 3, P = 4;
  if (!avx2) {
    v.move(LO, { table: phaseInterleave(0) });
    v.move(HI, { table: phaseInterleave(1) });
  }
  const rowBytes = s.kw * L * 4; // one kernel row's two vectors; its pairs take as many
  countedLoop(a, rcx, Math.ceil(g.ocg / L) * s.c * s.kh, () => {
    v.load(A, rsi, j0 * L * 4);
    v.load(B, rsi, j1 * L * 4);
    if (avx2) {
      // Within each 128-bit half: channels 0-1 | 4-5 (LO) and 2-3 | 6-7 (HI) paired; then
      // channels 0-3's pairs from the low halves, 4-7's from the high ones.
      a.emit("vunpcklps", v.r(LO), v.r(A), v.r(B));
      a.emit("vunpckhps", v.r(HI), v.r(A), v.r(B));
      a.emit("vperm2f128", v.r(P), v.r(LO), v.r(HI), 0x20);
      v.store(rdi, 0, P);
      a.emit("vperm2f128", v.r(P), v.r(LO), v.r(HI), 0x31);
      v.store(rdi, L * 4, P);
    } else {
      // Channels 0-7's pairs, then 8-15's: lane 2o + q from phase q's channel o.
      for (const [half, table] of [[0, LO], [1, HI]] as const) {
        v.move(P, table);
        a.emit("vpermi2ps", v.r(P), v.r(A), v.r(B));
        v.store(rdi, half * L * 4, P);
      }
    }
    addImmediate(a, "add", rsi, rowBytes);
    addImmediate(a, "add", rdi, rowBytes);
  });
}

/**
 * The unit's `rows` rows of x (at RUNB) for every input channel, packed
 * into the workspace ([c][rows][2w]) with each element twice: x[m] at
 * columns 2m and 2m + 1. rsi, rdi, rcx, eax, k1 and vectors 0-4 are
 * clobbered.
 */
export function emitDoubledRows(v: Vec, s: ConvSpec, F: PhaseFrame, rows: number): void {
  const a = v.a, L = tileOf(v.isa, s).L;
  const IDX_LO = 2, IDX_HI = 3, MASK = 4;
  v.move(IDX_LO, { table: doubling(0, L) });
  v.move(IDX_HI, { table: doubling(1, L) });
  a.emit("mov", rsi, qword(rsp, F.RUNB));
  a.emit("mov", rdi, qword(rsp, F.WS));
  countedLoop(a, rcx, s.c, () => {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j * L < s.w; j++) {
        const lanes = Math.min(L, s.w - j * L);
        const from = (r * s.w + j * L) * 4, to = (r * 2 * s.w + 2 * j * L) * 4;
        v.load(0, rsi, from, lanes < L ? v.tail(lanes, 1, MASK) : undefined);
        // The first half's lanes doubled into the first vector, the second half's into the second.
        a.emit("vpermps", v.r(1), v.r(IDX_LO), v.r(0));
        v.store(rdi, to, 1, 2 * lanes < L ? v.tail(2 * lanes, 1, MASK) : undefined);
        if (2 * lanes > L) {
          a.emit("vpermps", v.r(1), v.r(IDX_HI), v.r(0));
          const tail = 2 * lanes < 2 * L ? v.tail(2 * lanes - L, 1, MASK) : undefined;
          v.store(rdi, to + L * 4, 1, tail);
        }
      }
    }
    addImmediate(a, "add", rsi, s.h * s.w * 4);
    addImmediate(a, "add", rdi, rows * 2 * s.w * 4);
  });
}

/** The lanes doubling half `half` of a vector of L: lane i from lane half·L/2 + ⌊i/2⌋. */
function doubling(half: number, L: number): number[] {
  return Array.from(
    new Float32Array(Int32Array.from({ length: L }, (_, i) => (half * L) / 2 + (i >> 1)).buffer),
  );
}

/**
 * Output row oy (row `r` of its unit, x's doubled rows from row `base`
 * where `x` says, y's unit at RUNY, the block's bias at BB and weight
 * pairs at WB): its tiles of up to 6 vectors of columns × as many of the
 * block's `channels` as 24 accumulators hold (4 beside 6 vectors; AVX2:
 * 2 vectors, 10 accumulators).
 */
export function emitColumnRow(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  F: PhaseFrame,
  rowTaps: { ta: number; iy: number }[],
  r: number,
  base: number,
  channels: number,
  x: PhaseX,
): void {
  const a = v.a, t = tileOf(v.isa, s), L = t.L, X0 = t.X0, PAIR0 = t.PAIR0;
  const planeY = g.oh * g.ow * 4, row = r * g.ow * 4, rowX = 2 * s.w * 4;
  const vectors = Math.ceil(g.ow / L), rest = g.ow % L;
  for (const [v0, V] of evenPieces(vectors, t.TILE_VECTORS)) {
    const last = v0 + V === vectors && rest !== 0;
    // As many channels as the accumulators hold beside V vectors: rows of few vectors take more.
    for (const [o0, C] of evenPieces(channels, tileChannels(t, V))) {
      const acc = (vi: number, o: number) => o * V + vi;
      // k1 (AVX2: MASK): the row's last vector's lanes, when it is partial (set again before
      // its stores).
      const edge = last ? v.tail(rest, 1, t.MASK) : undefined;
      const tailOf = (vi: number) => (vi === V - 1 ? edge : undefined);
      a.emit("mov", rdx, qword(rsp, x.slot));
      a.emit("mov", rsi, qword(rsp, F.WB));
      for (let i = 0; i < C * V; i++) v.zero(i);
      const fetch = tileOutputFetch(a, s, F, {
        at: o0 * planeY + row + v0 * L * 4,
        bytes: Math.min(V * L, g.ow - v0 * L) * 4,
        channels: C,
        planeY,
      });
      if (rowTaps.length > 0) {
        emitChannelLoop(a, s, x, fetch, () => {
          for (const { ta, iy } of rowTaps) {
            for (let vi = 0; vi < V; vi++) {
              v.load(X0 + vi, rdx, (iy - base) * rowX + (v0 + vi) * L * 4, tailOf(vi));
            }
            // The flipped kernel: conv row a is w's row kh − 1 − a; its pairs where its vectors were.
            const at = (s.kh - 1 - ta) * s.kw * L * 4;
            for (let o = 0; o < C; o++) {
              const p = PAIR0 + (o % 2);
              a.emit("vbroadcastsd", v.r(p), qword(rsi, at + (o0 + o) * 8));
              for (let vi = 0; vi < V; vi++) v.fma(acc(vi, o), X0 + vi, p, -1);
            }
          }
        }, L);
      }
      loadStorePointers(a, F);
      const regs = { res: t.RES, out: t.OUT, free: t.FREE };
      for (let o = 0; o < C; o++) {
        for (let vi = 0; vi < V; vi++) {
          const at = (o0 + o) * planeY + row + (v0 + vi) * L * 4;
          const tail = tailOf(vi) ? v.tail(rest, 1, t.MASK) : undefined;
          emitVectorStore(v, s, acc(vi, o), o0 + o, at, tail, regs);
        }
      }
    }
  }
}
