/**
 * ConvTranspose by output phases (AVX-512; at AVX2 the columns tile only,
 * transpose_columns.ts; stride 2 across): no zeros upsampled into the
 * input. An output column 2m + q (q the phase) reads
 * only the kernel columns b with q + b·dw − pl even, at input column
 * m + (q + b·dw − pl)/2, so a tile of P positions per phase × 16 output
 * channels takes, per input channel, its taps in "rounds": round r is each
 * phase's r-th valid tap, whose weight vector (channels along the lanes,
 * from the packed layout) multiplies P broadcast inputs; where the two
 * phases read the same input (a 2×2/2 layer: always) one broadcast serves
 * both FMAs. The two phases' accumulators are transposed in registers and
 * interleaved lane by lane (`vpermt2ps`), so y is written in whole NCHW
 * rows with the bias, residual and activation applied in registers.
 *
 * Every output sums the valid taps of the convolution it computes (see
 * read_transpose.ts) over (input channel, tap) in the order the upsampled
 * kernel does; the upsampled input's zeros it skips added ±0 to a sum
 * that started at +0, which changes nothing unless a weight is ±∞ or NaN
 * (there this kernel gives ONNX's value, as the f64 reference does, and
 * the upsampled kernel NaN).
 *
 * @module
 */
import { byte, type Mem, ptr, qword, r8, rax, rcx, rdi, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import { evenPieces } from "../partition.ts";
import type { Vec, VecIsa } from "../vec.ts";
import { transpose16 } from "../transpose.ts";
import { type ChannelVectorFrame, emitVectorStore } from "./channel_vectors.ts";
import { type ConvGeometry, convGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";
import {
  emitChannelLoop,
  emitPositionRow,
  loadStorePointers,
  phaseInterleave,
  phaseTaps,
} from "./transpose_positions.ts";
import {
  columnChannelBytes,
  columnPairBytes,
  columnsServe,
  doubledRowFloats,
  emitColumnPairs,
  emitColumnRow,
  emitDoubledRows,
} from "./transpose_columns.ts";

/** Positions per phase in a tile: two phases' accumulators in 28 registers. */
export const PHASE_POSITIONS = 14;

/** Frame slots the kernel uses: the channel-vector kernel's (SPILL: 30 vectors here). */
export type PhaseFrame = ChannelVectorFrame & { WS: number; PASS: number };

/**
 * Where a row's tiles read x: the frame slot holding its row `base`'s
 * address (RUNB: x in place; WS: the unit's packed rows) and the bytes
 * between input channels there.
 */
export interface PhaseX {
  slot: number;
  channelBytes: number;
}

/**
 * Whether the kernel serves `s`: a transposed convolution of stride 2
 * across, one group, packed weights in blocks of a vector's lanes; at AVX2
 * one its columns tile serves (the other tiles need 32 registers).
 */
export function phasesServe(s: ConvSpec, isa: VecIsa): boolean {
  const served = (isa.level === "avx512" || isa.level === "avx2") && s.flip && s.uw === 2 &&
    s.sw === 1 && s.sh === 1 && s.group === 1 && s.wLanes === isa.lanes;
  return served && (isa.level === "avx512" || columnsServe(s, isa, convGeometry(s)));
}

/**
 * What a tile's vector lanes hold: 16 output channels (this file's tile),
 * 16 positions of a phase (transpose_positions.ts), or 16 output columns,
 * both phases (transpose_columns.ts).
 */
export type PhaseLanes = "channels" | "positions" | "columns";

/** Input row of conv tap ta for output row oy, or null (outside x or between its rows). */
function tapRow(s: ConvSpec, oy: number, ta: number): number | null {
  const u = oy + ta * s.dh - s.pt;
  if (u < 0 || u % s.uh) return null;
  const iy = u / s.uh;
  return iy < s.h ? iy : null;
}

/** The rows of x the unit of output rows from oy reads: the first, and how many from it. */
function unitRows(s: ConvSpec, oy: number): { base: number; rows: number } {
  let base = Infinity, top = -1;
  for (let r = oy; r < oy + Math.max(1, s.uh); r++) {
    for (let ta = 0; ta < s.kh; ta++) {
      const iy = tapRow(s, r, ta);
      if (iy !== null) base = Math.min(base, iy), top = Math.max(top, iy);
    }
  }
  return Number.isFinite(base) ? { base, rows: top - base + 1 } : { base: 0, rows: 0 };
}

/**
 * Workspace bytes of the kernel: a unit's rows of x for every input
 * channel, packed (each element twice for the columns tile, its weight
 * pairs after them).
 */
export function phaseWorkspaceBytes(
  s: ConvSpec,
  g: ConvGeometry,
  lanes: PhaseLanes,
  vectorLanes: number,
): number {
  const rows = packedRowsBytes(s, g, lanes);
  return lanes === "columns" ? rows + columnPairBytes(s, g, vectorLanes) : rows;
}

/** Bytes of a unit's packed rows of x, rounded up to a line (where the weight pairs start). */
function packedRowsBytes(s: ConvSpec, g: ConvGeometry, lanes: PhaseLanes): number {
  let rows = 0;
  for (let oy = 0; oy < g.oh; oy++) rows = Math.max(rows, unitRows(s, oy).rows);
  const rowFloats = lanes === "columns" ? doubledRowFloats(s) : s.w;
  return Math.ceil((s.c * rows * rowFloats * 4) / 64) * 64;
}

/**
 * Output channels per pass over the rows: the largest multiple of 16 (all
 * of them, at most) whose weights fill at most half of L2, since every row
 * of a pass reads them all. Rows inside the passes read each row of x once
 * per pass: with one block of 16 channels per pass (x read 4 times from
 * L3), 2×2/2 64→64 on 80² ran 1.015-1.07× slower (Zen 5, 1 thread, both
 * alternating in one process).
 */
export function phaseBlock(s: ConvSpec, g: ConvGeometry, l2: number, lanes: number): number {
  const blockBytes = s.c * s.kh * s.kw * lanes * 4;
  const blocks = Math.max(1, Math.floor(l2 / 2 / blockBytes));
  return Math.min(g.ocg, blocks * lanes);
}

/**
 * The image's blocks of a vector's lanes of output channels (16, AVX2 8),
 * x at frame.XG, w's channel-vector copy at frame.WV.
 */
export function emitTransposePhases(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  F: PhaseFrame,
  lanes: PhaseLanes,
  ocBlock: number,
): void {
  const a = v.a, L = v.isa.lanes;
  // A block's weights: the packed layout's, or (columns) its pairs, rounds a kernel row.
  const blockBytes = s.c * (lanes === "columns" ? columnChannelBytes(s, L) : s.kh * s.kw * L * 4);
  const planeY = g.oh * g.ow * 4;
  const zero = a.constant(new Uint8Array(64), 64);
  // One group: the blocks' weights start at the channel-vector copy's first, or for the
  // columns tile at their pairs, made in the workspace after the packed rows.
  if (lanes === "columns") emitColumnPairs(v, s, g, F, packedRowsBytes(s, g, lanes));
  else {
    a.emit("mov", rax, qword(rsp, F.WV));
    a.emit("mov", qword(rsp, F.WB), rax);
  }
  /** Output rows [oy, oy + n) read only rows inside x for every tap that lands on one. */
  const unit = Math.max(1, s.uh);
  const inside = (oy: number) => {
    for (let r = oy; r < oy + unit; r++) {
      for (let ta = 0; ta < s.kh; ta++) {
        const u = r + ta * s.dh - s.pt;
        if (u % s.uh === 0 && (u < 0 || u / s.uh >= s.h)) return false;
      }
    }
    return true;
  };
  /** Moves the block pointers (weights, bias, the rows' y and residual) n blocks on. */
  const blockSteps = (op: "add" | "sub", n: number) => {
    addImmediate(a, op, qword(rsp, F.WB), n * blockBytes);
    addImmediate(a, op, qword(rsp, F.BB), n * L * 4);
    addImmediate(a, op, qword(rsp, F.RUNY), n * L * planeY);
    addImmediate(a, op, qword(rsp, F.RUNR), n * L * planeY);
  };
  /** body(channels) for each block of a pass's `channels`, the pointers back after. */
  const eachBlock = (channels: number, body: (channels: number) => void) => {
    const blocks = Math.floor(channels / L), rest = channels % L;
    frameLoop(a, F.BLK, blocks, () => {
      body(L);
      blockSteps("add", 1);
    });
    if (rest) {
      body(rest);
      blockSteps("add", 1);
    }
    blockSteps("sub", blocks + (rest ? 1 : 0));
  };
  const inPlace: PhaseX = { slot: F.RUNB, channelBytes: s.h * s.w * 4 };
  /** A unit's `rows` rows packed with each element twice (the columns tile's x). */
  const doubled = (rows: number): PhaseX => ({
    slot: F.WS,
    channelBytes: rows * doubledRowFloats(s) * 4,
  });
  /** One pass: every output row of `channels` channels (y and the residual at YB, RB). */
  const pass = (channels: number) => {
    for (const [from, to] of [[F.YB, F.RUNY], [F.RB, F.RUNR]]) {
      a.emit("mov", rax, qword(rsp, from));
      a.emit("mov", qword(rsp, to), rax);
    }
    const nextRows = (n: number) => {
      addImmediate(a, "add", qword(rsp, F.RUNY), n * g.ow * 4);
      addImmediate(a, "add", qword(rsp, F.RUNR), n * g.ow * 4);
    };
    for (let oy = s.rowStart; oy < s.rowEnd;) {
      const n = Math.min(unit, s.rowEnd - oy);
      if (n < unit || !inside(oy)) {
        // An edge unit: x read in place (rows outside it left out by emitRow's taps); the
        // columns tile reads its rows doubled, packed as any unit's.
        const at = oy, edge = unitRows(s, oy);
        a.emit("mov", rax, qword(rsp, F.XG));
        if (lanes === "columns") addImmediate(a, "add", rax, edge.base * s.w * 4);
        a.emit("mov", qword(rsp, F.RUNB), rax);
        const x = lanes === "columns" ? doubled(edge.rows) : inPlace;
        if (lanes === "columns" && edge.rows > 0) emitDoubledRows(v, s, F, edge.rows);
        const base = lanes === "columns" ? edge.base : 0;
        eachBlock(channels, (c) => {
          for (let r = 0; r < n; r++) emitRow(at + r, r, base, c, x);
        });
        nextRows(n);
        oy += n;
        continue;
      }
      let end = oy;
      while (end + unit <= s.rowEnd && inside(end)) end += unit;
      // x's rows the unit reads, from `base`, advancing one row per unit of uh output rows.
      const { base, rows } = unitRows(s, oy);
      a.emit("mov", rax, qword(rsp, F.XG));
      addImmediate(a, "add", rax, base * s.w * 4);
      a.emit("mov", qword(rsp, F.RUNB), rax);
      const first = oy;
      const packed = lanes === "columns"
        ? doubled(rows)
        : { slot: F.WS, channelBytes: rows * s.w * 4 };
      frameLoop(a, F.RUN, (end - oy) / unit, () => {
        if (lanes === "columns") emitDoubledRows(v, s, F, rows);
        else emitPackRows(rows);
        eachBlock(channels, (c) => {
          for (let r = 0; r < unit; r++) emitRow(first + r, r, base, c, packed);
        });
        addImmediate(a, "add", qword(rsp, F.RUNB), s.w * 4);
        nextRows(unit);
      });
      oy = end;
    }
    addImmediate(a, "add", qword(rsp, F.WB), Math.ceil(channels / L) * blockBytes);
    addImmediate(a, "add", qword(rsp, F.BB), channels * 4);
    addImmediate(a, "add", qword(rsp, F.YB), channels * planeY);
    addImmediate(a, "add", qword(rsp, F.RB), channels * planeY);
  };
  // Passes of ocBlock channels (whose weights stay in L2 while the rows pass), rows inside
  // each: x's rows are read once per pass.
  const passes = Math.floor(g.ocg / ocBlock), last = g.ocg % ocBlock;
  frameLoop(a, F.PASS, passes, () => pass(ocBlock));
  if (last) pass(last);

  /**
   * The unit's `rows` rows of x (at RUNB) for every input channel, packed
   * into the workspace ([c][rows][w]): read in place, a row of 64 input
   * channels' planes 25.6 KB apart (80²) falls on 4 of L1's 64 sets per
   * line and the 16 output channel tiles reading it missed L1.
   */
  function emitPackRows(rows: number): void {
    a.emit("mov", rsi, qword(rsp, F.RUNB));
    a.emit("mov", rdi, qword(rsp, F.WS));
    const tail = s.w % L ? v.tail(s.w % L, 1) : undefined;
    countedLoop(a, rcx, s.c, () => {
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j * L < s.w; j++) {
          const t = s.w - j * L < L ? tail : undefined, at = (r * s.w + j * L) * 4;
          v.load(j % 8, rsi, at, t);
          v.store(rdi, at, j % 8, t);
        }
      }
      addImmediate(a, "add", rsi, s.h * s.w * 4);
      addImmediate(a, "add", rdi, rows * s.w * 4);
    });
  }

  /**
   * Output row oy (row `r` of its unit; x's row `base` where `x` says, y's unit
   * at RUNY): its tiles of positions.
   */
  function emitRow(
    oy: number,
    r: number,
    base: number,
    channels: number,
    x: PhaseX,
  ): void {
    const taps: { ta: number; iy: number }[] = [];
    for (let ta = 0; ta < s.kh; ta++) {
      const iy = tapRow(s, oy, ta);
      if (iy !== null) taps.push({ ta, iy });
    }
    if (lanes === "positions") {
      return emitPositionRow(v, s, g, F, taps, r, base, channels, x);
    }
    if (lanes === "columns") return emitColumnRow(v, s, g, F, taps, r, base, channels, x);
    for (const [m0, count] of evenPieces(Math.ceil(g.ow / 2), PHASE_POSITIONS)) {
      emitTile(taps, m0, count, r, base, channels, x);
    }
  }

  /**
   * One tile: positions m0 .. m0 + P − 1 of both phases (output columns
   * 2m + q) of one output row, its row taps `rowTaps`.
   */
  function emitTile(
    rowTaps: { ta: number; iy: number }[],
    m0: number,
    P: number,
    r: number,
    base: number,
    channels: number,
    x: PhaseX,
  ): void {
    const acc = (q: number, m: number) => q * P + m;
    const taps = phaseTaps(s, rowTaps);
    a.emit("mov", rdx, qword(rsp, x.slot));
    a.emit("mov", rsi, qword(rsp, F.WB));
    a.emit("lea", r8, ptr(zero, 0, null, 1, 64));
    for (let q = 0; q < 2; q++) for (let m = 0; m < P; m++) v.zero(acc(q, m));
    emitChannelLoop(a, s, x, null, () => {
      const rounds = Math.max(taps[0].length, taps[1].length);
      for (let round = 0; round < rounds; round++) {
        const tap = [taps[0][round], taps[1][round]];
        for (let q = 0; q < 2; q++) {
          const t = tap[q];
          if (!t) continue;
          // The flipped kernel: conv tap (a, b) is w[c][o][kh−1−a][kw−1−b].
          const i = s.kh - 1 - t.ta, j = s.kw - 1 - t.tb;
          const at = (i * s.kw + j) * L * 4;
          a.emit("prefetcht0", byte(rsi, at + 4096));
          v.load(28 + q, rsi, at);
        }
        for (let m = 0; m < P; m++) {
          /** The input's address for phase q at position m, or null (outside x: the zero). */
          const addr = (q: number): number | null => {
            const t = tap[q];
            const ix = m0 + m + t.dx;
            if (ix < 0 || ix >= s.w) return null;
            return ((t.iy - base) * s.w + ix) * 4;
          };
          const qs = [0, 1].filter((q) => tap[q]);
          const d = qs.map(addr);
          const shared = qs.length === 2 && d[0] === d[1];
          for (let k = 0; k < qs.length; k++) {
            if (k === 1 && shared) {
              v.fma(acc(qs[k], m), 28 + qs[k], 30, -1);
              continue;
            }
            const b = 30 + k;
            const mem: Mem = d[k] === null ? ptr(r8, 0) : ptr(rdx, d[k]!);
            v.broadcastMem(b, mem);
            v.fma(acc(qs[k], m), 28 + qs[k], b, -1);
          }
        }
      }
    });
    // Phase 1 waits in the frame while phase 0 is transposed into the frame too.
    const spill = (k: number) => F.SPILL + k * 64;
    for (let m = 0; m < P; m++) v.store(rsp, spill(m), acc(1, m));
    const out0 = transpose16(v);
    for (let j = 0; j < channels; j++) v.store(rsp, spill(14 + j), out0[j]);
    for (let m = 0; m < P; m++) v.load(m, rsp, spill(m));
    const out1 = transpose16(v);
    // Registers 16-31 are free now: the tables, the halves, the epilogue's.
    const LO = 16, HI = 17, T0 = 18, T1 = 19, RES = 20, OUT = 21;
    const free = Array.from({ length: 10 }, (_, i) => 22 + i);
    v.move(LO, { table: phaseInterleave(0) });
    v.move(HI, { table: phaseInterleave(1) });
    loadStorePointers(a, F);
    const row = r * g.ow * 4;
    const total = Math.min(2 * P, g.ow - 2 * m0); // outputs of the tile in this row
    for (let j = 0; j < channels; j++) {
      v.load(T0, rsp, spill(14 + j));
      v.move(T1, T0);
      a.emit("vpermt2ps", v.r(T0), v.r(LO), v.r(out1[j]));
      a.emit("vpermt2ps", v.r(T1), v.r(HI), v.r(out1[j]));
      for (const [h, x] of [[0, T0], [1, T1]] as const) {
        const lanes = Math.min(L, total - h * L);
        if (lanes <= 0) continue;
        const tail = lanes < L ? v.tail(lanes, 1) : undefined;
        const at = j * planeY + row + (2 * m0 + h * L) * 4;
        emitVectorStore(v, s, x, j, at, tail, { res: RES, out: OUT, free });
      }
    }
  }
}
