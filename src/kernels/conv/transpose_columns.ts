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
 * Wider kernels of stride 2 across take their taps in rounds (AVX2; AVX-512
 * has its other tiles for them): round k pairs each phase's k-th tap, and
 * where phase 1 reads x one to the right of phase 0 (4×4/2 with pads 1:
 * x[m − 1] and w[3] beside x[m] and w[2]) a load one float into the doubled
 * row gives every lane pair x[m + dx] beside x[m + dx + 1]. The doubled
 * rows then carry margins of zeros as wide as the rounds reach past x. An
 * odd kernel width gives one phase a tap more: it goes in a round of its
 * own, the other phase's lanes of x blended to zero against weights of +0
 * (`pairRounds`). 3×3/2 64→64 on 40² with pads 1, Zen 3, `deno run -A
 * bench/ab.ts --a d1a3c7d --b 5a8ed4d --conv 1,64,40,40,64,3,2,1,1
 * --transposed` (upsampled before): ×0.427 of the time at 1 thread, ×0.429
 * at 2, the same bits.
 *
 * Each output sums the same FMAs in the same order as the positions and
 * channel tiles (input channels, then the row's taps in the upsampled
 * kernel's order), so all three give the same bits.
 *
 * @module
 */
import { qword, rcx, rdi, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
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
 * The channels of every AVX-512 tile of the layer where they are all alike
 * and a divisor of a block (4, 8 or 16; every block whole), else 0. Then
 * the weight pairs lie by groups of that many channels (pairLayout), a
 * group's input channels in a run: a tile reads its own 8·C bytes an input
 * channel, one stream of whole lines, where the block's layout gave it 32
 * bytes of every 256 (2×2/2 64→64 on 80²: tiles of 5 vectors × 4
 * channels). The same FMAs in the same order: the same bits. Intel Xeon
 * (SPR), one thread: the tile reading one input channel's weights
 * throughout (branch `ab/convT-w-in-L1`, wrong sums) ran ×0.921 of the
 * time; these groups, `deno run -A bench/ab.ts --a 2101fa6 --b 7c7c060
 * --conv C --transposed`: 1,64,80,80,64,2,2 ×0.967 and ×0.985 (×0.993 at
 * 2 threads), 1,128,40,40,128,2,2 ×0.985 and ×0.980: most of what the
 * weights' reads cost is still there, not yet understood.
 */
export function pairGroup(s: ConvSpec, g: ConvGeometry, isa: VecIsa): number {
  if (isa.level !== "avx512" || g.ocg % isa.lanes !== 0) return 0;
  const t = tileOf(isa, s), sizes = new Set<number>();
  for (const [, V] of evenPieces(Math.ceil(g.ow / t.L), t.TILE_VECTORS)) {
    for (const [, C] of evenPieces(t.L, tileChannels(t, V))) sizes.add(C);
  }
  const [C] = sizes;
  return sizes.size === 1 && t.L % C === 0 ? C : 0;
}

/**
 * Channels a group of the weight pairs holds at AVX-512: pairGroup's where
 * there is one, else a block's 16 (each kernel row's pairs, then each input
 * channel's, a tile reading its channels' 8 bytes each from every 128); 0
 * below AVX-512, whose pairs lie by input channel, then kernel row.
 */
function pairLayout(s: ConvSpec, g: ConvGeometry, isa: VecIsa): number {
  return isa.level === "avx512" ? pairGroup(s, g, isa) || isa.lanes : 0;
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
  const rowsBytes = s.c * doubledRowFloats(s) * 4 * Math.max(1, Math.ceil(s.kh / s.uh));
  return columnsServe(s, isa, g) && g.ow * 16 >= vectors * L * 15 && rowsBytes <= l1d;
}

/**
 * A round of a kernel row's taps: each phase's k-th tap (w's columns j0
 * and j1, flipped), phase 0 reading x[m + dx] and phase 1 x[m + dx + shift];
 * or (`only` 0 or 1) a phase's tap past the other's last, both lanes of a
 * pair reading x[m + dx] (shift 0) and the other phase's column −1.
 */
interface PairRound {
  j0: number;
  j1: number;
  dx: number;
  shift: number;
  only: -1 | 0 | 1;
}

/**
 * A kernel row's taps in rounds, each phase's k-th tap side by side, then
 * the longer phase's taps past the other's alone (an odd kernel width:
 * 3×3/2 with pads 1 takes x[m]·w[1] beside x[m]·w[0], then x[m + 1]·w[2]
 * in phase 1 alone); null where a round's phase 1 reads x further left
 * than its phase 0, or more than one further right (a lane pair then
 * reads no doubled x). 2×2/2: one round, both at x[m]; 4×4/2 with pads 1:
 * two, x[m − 1] beside x[m], then x[m] beside x[m + 1].
 *
 * A round of one phase multiplies the other phase's lanes of x, blended to
 * zero (`otherPhaseLanes`), by a weight of +0: +0 added to a sum that started at +0,
 * which is never −0 (round to nearest), changes no bit of it, whatever x
 * and w hold (a weight of ±∞ or an x of ±∞ or NaN included).
 */
function pairRounds(s: ConvSpec): PairRound[] | null {
  const taps = phaseTaps(s, [{ ta: 0, iy: 0 }]);
  const both = Math.min(taps[0].length, taps[1].length);
  const most = Math.max(taps[0].length, taps[1].length);
  if (most === 0) return null;
  const rounds: PairRound[] = [];
  for (let k = 0; k < most; k++) {
    // The flipped kernel: conv tap column b is w's column kw − 1 − b.
    if (k >= both) {
      const only = taps[0].length > k ? 0 : 1, t = taps[only][k], j = s.kw - 1 - t.tb;
      rounds.push({ j0: only === 0 ? j : -1, j1: only === 1 ? j : -1, dx: t.dx, shift: 0, only });
      continue;
    }
    const t0 = taps[0][k], t1 = taps[1][k], shift = t1.dx - t0.dx;
    if (shift !== 0 && shift !== 1) return null;
    rounds.push({ j0: s.kw - 1 - t0.tb, j1: s.kw - 1 - t1.tb, dx: t0.dx, shift, only: -1 });
  }
  return rounds;
}

/** `vblendps`'s lanes of the phase other than `q` (lanes 2j + 1 − q): a round of phase q alone. */
function otherPhaseLanes(q: 0 | 1, L: number): number {
  let imm = 0;
  for (let i = 1 - q; i < L; i += 2) imm |= 1 << i;
  return imm;
}

/** Zero positions before and after each doubled row of x: as far as a round reads past it. */
function marginPositions(s: ConvSpec): number {
  let most = 0;
  for (const r of pairRounds(s) ?? []) most = Math.max(most, -r.dx, r.dx + r.shift);
  return most;
}

/** Floats of a doubled row of x with its margins. */
export function doubledRowFloats(s: ConvSpec): number {
  return 2 * (s.w + 2 * marginPositions(s));
}

/**
 * Whether the columns tile serves `s` (one the kernel by phases serves):
 * its kernel rows' taps in rounds (`pairRounds`), y's rows twice x's (or
 * one less: an odd kernel width with pads of half of it, no output
 * padding), and the epilogue's temporaries fit beside the tile. AVX-512
 * takes kernels of two columns only (one round at x[m]; its other tiles
 * serve the rest).
 */
export function columnsServe(s: ConvSpec, isa: VecIsa, g: ConvGeometry): boolean {
  const fits = isa.level === "avx2" || (s.kw === 2 && positionsServe(s, isa));
  return fits && columnsReadWithin(s, g.ow);
}

/**
 * Whether every round's lanes, over y's `ow` columns, read within the
 * doubled rows of x (their margins included): lane p of a round reads
 * doubled position 2·margin + 2·dx + shift + p. y's rows twice x's, one
 * less, or one more (3×3/2 without pads: 2w + 1, its last column from
 * x[w − 1]·w[2] and the margin's zero), where the rounds are pairRounds'.
 */
export function columnsReadWithin(s: ConvSpec, ow: number): boolean {
  const rounds = pairRounds(s);
  if (rounds === null || ow > 2 * s.w + 1) return false;
  const margin = 2 * marginPositions(s), rowFloats = doubledRowFloats(s);
  return rounds.every(({ dx, shift }) => {
    const first = margin + 2 * dx + shift;
    return first >= 0 && first + ow <= rowFloats;
  });
}

/** Bytes of a kernel row's weight pairs: its rounds', two vectors each (a pair a channel). */
function pairRowBytes(s: ConvSpec, L: number): number {
  return pairRounds(s)!.length * 2 * L * 4;
}

/** Bytes of an input channel's weight pairs in a block of `lanes` channels: its kernel rows'. */
export function columnChannelBytes(s: ConvSpec, lanes: number): number {
  return s.kh * pairRowBytes(s, lanes);
}

/** Workspace bytes of the weight pairs: a block of `lanes` channels' rows of rounds. */
export function columnPairBytes(s: ConvSpec, g: ConvGeometry, lanes: number): number {
  return Math.ceil(g.ocg / lanes) * s.c * columnChannelBytes(s, lanes);
}

/**
 * The weight pairs of every block of output channels (a vector's lanes)
 * into the workspace at byte `at` (WS + at), from the packed weights at WV,
 * and WB set to them: for each input channel, kernel row and round k, lane
 * pair o holds output channel o's weights of phases 0 and 1, where the
 * row's columns 2k and 2k + 1 were. rcx, rsi, rdi and vectors 0-4 are
 * clobbered.
 */
export function emitColumnPairs(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  F: PhaseFrame,
  at: number,
): void {
  const a = v.a, L = tileOf(v.isa, s).L, avx2 = v.isa.level === "avx2";
  const rounds = pairRounds(s)!;
  a.emit("mov", rsi, qword(rsp, F.WV));
  a.emit("mov", rdi, qword(rsp, F.WS));
  addImmediate(a, "add", rdi, at);
  a.emit("mov", qword(rsp, F.WB), rdi);
  const rowBytes = s.kw * L * 4; // one kernel row's vectors in the packed layout
  if (!avx2) return emitGroupedPairs(v, s, g, F, rounds, rowBytes, pairLayout(s, g, v.isa));
  const LO = 0, HI = 1, A = 2, B = 3, P = 4;
  countedLoop(a, rcx, Math.ceil(g.ocg / L) * s.c * s.kh, () => {
    for (const [k, { j0, j1 }] of rounds.entries()) {
      // A round of one phase: the other's weights +0.
      if (j0 >= 0) v.load(A, rsi, j0 * L * 4);
      else v.zero(A);
      if (j1 >= 0) v.load(B, rsi, j1 * L * 4);
      else v.zero(B);
      const to = k * 2 * L * 4;
      // Within each 128-bit half: channels 0-1 | 4-5 (LO) and 2-3 | 6-7 (HI) paired; then
      // channels 0-3's pairs from the low halves, 4-7's from the high ones.
      a.emit("vunpcklps", v.r(LO), v.r(A), v.r(B));
      a.emit("vunpckhps", v.r(HI), v.r(A), v.r(B));
      a.emit("vperm2f128", v.r(P), v.r(LO), v.r(HI), 0x20);
      v.store(rdi, to, P);
      a.emit("vperm2f128", v.r(P), v.r(LO), v.r(HI), 0x31);
      v.store(rdi, to + L * 4, P);
    }
    addImmediate(a, "add", rsi, rowBytes);
    addImmediate(a, "add", rdi, pairRowBytes(s, L));
  });
}

/**
 * AVX-512's pairs by groups of C channels (pairLayout): in each block, for
 * each kernel row, group and input channel, its rounds' C pairs (8·C bytes
 * each), so a group's input channels follow one another. Lane 2o + q of a
 * vector holds channel o's phase q (`vpermi2ps`: channels 0-7, then 8-15);
 * a vector of 8 pairs fills one group of 8, half of one of 16, or two of 4
 * (k2, k3: its low and high lanes, each stored where its group lies).
 */
function emitGroupedPairs(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  F: PhaseFrame,
  rounds: PairRound[],
  rowBytes: number,
  C: number,
): void {
  const a = v.a, L = 16, G = L / C, R = rounds.length;
  const LO = 0, HI = 1, A = 2, B = 3, P = 4;
  v.move(LO, { table: phaseInterleave(0) });
  v.move(HI, { table: phaseInterleave(1) });
  const low = v.tail(8, 2), high = v.head(8, 3);
  /** Bytes from a block's (and input channel's) start to kernel row `row`, group `gi`, round `k`. */
  const at = (row: number, gi: number, k: number) => (((row * G + gi) * s.c) * R + k) * 8 * C;
  const channelBytes = R * 8 * C, blockBytes = s.c * s.kh * R * 2 * L * 4;
  frameLoop(a, F.BLK, Math.ceil(g.ocg / L), () => {
    countedLoop(a, rcx, s.c, () => {
      for (let row = 0; row < s.kh; row++) {
        for (const [k, { j0, j1 }] of rounds.entries()) {
          if (j0 >= 0) v.load(A, rsi, row * rowBytes + j0 * L * 4);
          else v.zero(A);
          if (j1 >= 0) v.load(B, rsi, row * rowBytes + j1 * L * 4);
          else v.zero(B);
          for (const [half, table] of [[0, LO], [1, HI]] as const) {
            v.move(P, table);
            a.emit("vpermi2ps", v.r(P), v.r(A), v.r(B));
            // Lane 2o + q: channel 8·half + o's phase q.
            const first = 8 * half;
            if (C >= 8) {
              v.store(rdi, at(row, Math.floor(first / C), k) + (first % C) * 8, P);
            } else {
              // C = 4: channels first..first+3 (lanes 0-7), first+4..first+7 (lanes 8-15).
              v.store(rdi, at(row, first / C, k), P, low);
              v.store(rdi, at(row, first / C + 1, k) - 32, P, high);
            }
          }
        }
      }
      addImmediate(a, "add", rsi, s.kh * rowBytes);
      addImmediate(a, "add", rdi, channelBytes);
    });
    addImmediate(a, "add", rdi, blockBytes - s.c * channelBytes);
  });
}

/**
 * The unit's `rows` rows of x (at RUNB) for every input channel, packed
 * into the workspace ([c][rows][doubledRowFloats]) with each element twice:
 * x[m] at columns 2m and 2m + 1, after a margin of zeros (and one after the
 * row) as wide as the rounds read past it. rsi, rdi, rcx, eax, k1 and
 * vectors 0-4 are clobbered.
 */
export function emitDoubledRows(v: Vec, s: ConvSpec, F: PhaseFrame, rows: number): void {
  const a = v.a, L = tileOf(v.isa, s).L;
  const IDX_LO = 2, IDX_HI = 3, MASK = 4;
  v.move(IDX_LO, { table: doubling(0, L) });
  v.move(IDX_HI, { table: doubling(1, L) });
  a.emit("mov", rsi, qword(rsp, F.RUNB));
  a.emit("mov", rdi, qword(rsp, F.WS));
  const rowFloats = doubledRowFloats(s), margin = 2 * marginPositions(s);
  countedLoop(a, rcx, s.c, () => {
    for (let r = 0; r < rows; r++) {
      // The margins' zeros, two floats a store (the workspace holds other calls' bytes).
      for (let f = 0; f < margin; f += 2) {
        a.emit("mov", qword(rdi, (r * rowFloats + f) * 4), 0);
        a.emit("mov", qword(rdi, (r * rowFloats + margin + 2 * s.w + f) * 4), 0);
      }
      for (let j = 0; j * L < s.w; j++) {
        const lanes = Math.min(L, s.w - j * L);
        const from = (r * s.w + j * L) * 4, to = (r * rowFloats + margin + 2 * j * L) * 4;
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
    addImmediate(a, "add", rdi, rows * rowFloats * 4);
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
  const planeY = g.oh * g.ow * 4, row = r * g.ow * 4, rowX = doubledRowFloats(s) * 4;
  const rounds = pairRounds(s)!, margin = 2 * marginPositions(s);
  const vectors = Math.ceil(g.ow / L), rest = g.ow % L;
  // The pairs by groups of this many channels (pairLayout), each group's input channels a run.
  const grouped = pairLayout(s, g, v.isa);
  // Rounds of one phase blend zeros into the other's lanes of x (AVX2 only: AVX-512 takes
  // two-column kernels, one round of both).
  const oneSided = rounds.some((k) => k.only !== -1), ZERO = PAIR0 + 2;
  if (oneSided && (v.isa.level !== "avx2" || ZERO >= t.MASK)) {
    throw new Error("a round of one phase needs AVX2 and a register beside the pairs");
  }
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
      if (oneSided) v.zero(ZERO);
      const fetch = tileOutputFetch(a, s, F, {
        at: o0 * planeY + row + v0 * L * 4,
        bytes: Math.min(V * L, g.ow - v0 * L) * 4,
        channels: C,
        planeY,
      }, true);
      if (rowTaps.length > 0) {
        emitChannelLoop(
          a,
          s,
          x,
          fetch,
          () => {
            for (const { ta, iy } of rowTaps) {
              for (const [k, { dx, shift, only }] of rounds.entries()) {
                // Lane 2j + q reads x[m + j + dx + q·shift]: the doubled row from 2(m + dx) + shift.
                const from = (iy - base) * rowX + (margin + 2 * dx + shift) * 4;
                for (let vi = 0; vi < V; vi++) {
                  v.load(X0 + vi, rdx, from + (v0 + vi) * L * 4, tailOf(vi));
                  // A round of one phase: the other's lanes of x zeroed (pairRounds).
                  if (only !== -1) {
                    const lanes = otherPhaseLanes(only, L);
                    a.emit("vblendps", v.r(X0 + vi), v.r(X0 + vi), v.r(ZERO), lanes);
                  }
                }
                // The flipped kernel: conv row a is w's row kh − 1 − a; its rounds' pairs in turn.
                const at = grouped
                  ? ((((s.kh - 1 - ta) * (L / grouped) + Math.floor(o0 / grouped)) * s.c) *
                          rounds.length + k) * 8 * grouped + (o0 % grouped) * 8
                  : (s.kh - 1 - ta) * pairRowBytes(s, L) + 2 * k * L * 4 + o0 * 8;
                for (let o = 0; o < C; o++) {
                  const p = PAIR0 + (o % 2);
                  a.emit("vbroadcastsd", v.r(p), qword(rsi, at + o * 8));
                  for (let vi = 0; vi < V; vi++) v.fma(acc(vi, o), X0 + vi, p, -1);
                }
              }
            }
          },
          L,
          grouped ? rounds.length * 8 * grouped : columnChannelBytes(s, L),
        );
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
