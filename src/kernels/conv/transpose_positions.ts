/**
 * ConvTranspose by output phases with positions along the lanes: the tile
 * of transpose_phases.ts turned around. A tile is up to 48 positions of
 * each phase of one output row (three vectors of x read along its row,
 * from the unit's packed rows: see transpose_phases.ts) × 4 output
 * channels; per input channel and round each phase's
 * tap loads its x vectors (one load for both phases where they read the
 * same input, as a 2×2/2 layer always does) and each output channel's
 * weight is broadcast once for the tile's vectors: 24 FMAs for 11 loads.
 * The two phases' accumulators of a channel are interleaved lane by lane
 * (`vpermi2ps`) into whole runs of an NCHW output row, so no transpose is
 * needed: measured on Zen 5 (1 thread, 2×2/2 64→64 on 80²) the channel
 * tile spent 12-17% of its time in its transposes and stores, with its
 * FMA loop at the FMA peak.
 *
 * Each output sums the same FMAs in the same order as the channel tile
 * (input channels, then each phase's taps in the upsampled kernel's
 * order; x outside the image read as zeros), so both give the same bits.
 *
 * @module
 */
import {
  type Assembler,
  byte,
  eax,
  KREG,
  ptr,
  qword,
  r10,
  r11,
  r11d,
  r12,
  r13,
  r8,
  r9,
  rax,
  rbp,
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate } from "../abi.ts";
import { evenPieces } from "../partition.ts";
import type { Tail, Vec, VecIsa } from "../vec.ts";
import { emitVectorStore } from "./channel_vectors.ts";
import { type ConvGeometry, convGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";
import type { PhaseFrame, PhaseX } from "./transpose_phases.ts";
import { activationTemps } from "../unary/temps.ts";

const L = 16;
/** Vectors of positions per phase in a tile, and output channels per tile. */
const TILE_VECTORS = 3, TILE_CHANNELS = 4;
/** Registers: accumulators from 0, x vectors, broadcast weights, the epilogue's. */
const X0 = 24, B0 = 27, BROADCASTS = 5;
/** Vector registers the epilogue leaves an activation. */
const ACTIVATION_TEMPS = 6;
/** Positions of each phase in a whole tile (for descriptions). */
export const POSITION_TILE: number = TILE_VECTORS * L;

/**
 * Whether the positions tile serves `s`, one the kernel by phases serves
 * (`phasesServe`): its epilogue holds the activation's temporaries.
 */
export function positionsServe(s: ConvSpec, isa: VecIsa): boolean {
  return activationTemps(isa, s.activation) <= ACTIVATION_TEMPS;
}

/**
 * Tier 1's choice between the phase tiles (for an `s` the kernel by phases
 * serves): positions along the lanes where a row's positions fill at least
 * 15/16 of its vectors, else channels (tier 2 tries the other). Measured on
 * Zen 5, 1 thread, 64→64 2×2/2 layers of about the same work, the two tiles
 * alternating in one process with warm caches: full vectors (widths 32, 48,
 * 64, 80, 96, 160) 8-14% faster by positions; 40 and 56 (83% and 88% of the
 * lanes) 11% and 1-5% slower, 20 (63%) 30% slower. With the data evicted
 * between calls (80²) the gain is ~5%: `deno run -A
 * bench/tune_candidates.ts --conv 1,64,80,80,64,2,2 --packed --transposed`
 * times both on the key's own calls.
 */
export function positionsFill(
  s: ConvSpec,
  isa: VecIsa,
  g: ConvGeometry = convGeometry(s),
): boolean {
  const positions = Math.ceil(g.ow / 2), vectors = Math.ceil(positions / L);
  return positionsServe(s, isa) && positions * 16 >= vectors * L * 15;
}

/**
 * A tile's own lines of y (and of the residual) fetched in its first k
 * steps, a channel a step: they are written (read) ~750 cycles later,
 * lines of 4 planes the hardware's prefetch does not follow. Measured on
 * Zen 5 (2×2/2 64→64 on 80², 1 thread, y in L3): 1.04× faster. The tile's
 * `channels` channels from y's unit (RUNY) + `at`, `bytes` of each;
 * `setup` before the k loop (r13, r12; `spread`: r9 too), `step` at its top
 * (rax counts the input channels down from s.c). Null when the k loop is
 * too short.
 *
 * `spread` (the columns tile, whose k step is short: 20 FMAs): a line a
 * step instead, from a table of the lines' offsets indexed by the step (r8):
 * a channel's 6 claims a step took the fill buffers from the step's loads of
 * x and the weights as they missed L1, as the conv tile kernel's burst of
 * claims did (generate.ts, laterTileStreams). Intel Xeon (SPR), `deno run
 * -A bench/ab.ts --a f9ff8ac --b 6f9c97e --conv 1,64,80,80,64,2,2
 * --transposed`: ×0.954 of the time at one thread, ×0.972 at two; 128→128
 * on 40² ×0.961 (the same bits). The positions tile (more FMAs a step)
 * spread too (`--a 75ca19d --b d1dfd6c`, branch tried/positions-spread):
 * 3×3/2 and 4×4/2 on 40² ×0.991 and ×0.999, unresolved; it keeps the burst.
 */
export function tileOutputFetch(
  a: Assembler,
  s: ConvSpec,
  F: PhaseFrame,
  o: { at: number; bytes: number; channels: number; planeY: number },
  spread = false,
): { setup(): void; step(): void } | null {
  if (s.c <= o.channels) return null;
  // A channel's lines: every 64 bytes, and its last byte (which covers a row off a line).
  const lines: number[] = [];
  for (let d = 0; d < o.bytes; d += 64) lines.push(d);
  lines.push(o.bytes - 1);
  /** r13 (r12) at the tile's first channel of y (of the residual). */
  const pointers = () => {
    a.emit("mov", r13, qword(rsp, F.RUNY));
    addImmediate(a, "add", r13, o.at);
    if (s.residual) {
      a.emit("mov", r12, qword(rsp, F.RUNR));
      addImmediate(a, "add", r12, o.at);
    }
  };
  // Spread: a line a step, each channel's in turn, from a table of offsets indexed by the step.
  const offsets = Array.from({ length: o.channels }, (_, ch) => lines.map((d) => ch * o.planeY + d))
    .flat();
  if (spread && offsets.length <= s.c) {
    const table = a.constant(Int32Array.from(offsets), 4);
    return {
      setup() {
        pointers();
        a.emit("lea", r9, ptr(table, 0));
      },
      step() {
        // Steps 1..offsets.length (rax = s.c down): offset s.c − rax of the table.
        const skip = a.label();
        a.emit("cmp", rax, s.c - offsets.length);
        a.emit("jbe", skip);
        a.emit("mov", r8, rax);
        a.emit("neg", r8);
        a.emit("movsxd", r8, ptr(r9, s.c * 4, r8, 4, 4));
        a.emit("prefetchw", ptr(r13, 0, r8, 1, 1));
        if (s.residual) a.emit("prefetcht0", ptr(r12, 0, r8, 1, 1));
        a.bind(skip);
      },
    };
  }
  return {
    setup: pointers,
    step() {
      // Steps 1..channels: channel (c - rax) of the tile's own lines, y's for writing.
      const skip = a.label();
      a.emit("cmp", rax, s.c - o.channels);
      a.emit("jbe", skip);
      for (const d of lines) {
        a.emit("prefetchw", byte(r13, d));
        if (s.residual) a.emit("prefetcht0", byte(r12, d));
      }
      addImmediate(a, "add", r13, o.planeY);
      if (s.residual) addImmediate(a, "add", r12, o.planeY);
      a.bind(skip);
    },
  };
}

/**
 * A tile's loop over the input channels, shared by the tiles by phases:
 * rax counts them down from s.c; each pass `fetch`'s step (when there is
 * one), then `body` (one channel's taps: w's at rsi, x's rows at rdx), then
 * w a channel's taps on (blocks of `lanes` output channels) and x a
 * channel's rows (`x.channelBytes`) on.
 */
export function emitChannelLoop(
  a: Assembler,
  s: ConvSpec,
  x: PhaseX,
  fetch: { setup(): void; step(): void } | null,
  body: () => void,
  lanes: number = L,
  weightBytes: number = s.kh * s.kw * lanes * 4,
): void {
  fetch?.setup();
  a.emit("mov", rax, s.c);
  const top = a.label();
  a.align(16);
  a.bind(top);
  fetch?.step();
  body();
  addImmediate(a, "add", rsi, weightBytes);
  addImmediate(a, "add", rdx, x.channelBytes);
  a.emit("dec", rax);
  a.emit("jnz", top);
}

/** After a tile's loop: y's unit (r11), the residual's (r10) and the block's bias (rbp) for its stores. */
export function loadStorePointers(a: Assembler, F: PhaseFrame): void {
  a.emit("mov", r11, qword(rsp, F.RUNY));
  a.emit("mov", r10, qword(rsp, F.RUNR));
  a.emit("mov", rbp, qword(rsp, F.BB));
}

/** One phase's tap in a round: kernel row and column, x's row and column offset. */
export interface PhaseTap {
  ta: number;
  tb: number;
  iy: number;
  dx: number;
}

/**
 * Each phase's taps of an output row whose kernel rows land on x rows
 * `rowTaps`, in the upsampled kernel's order (rows, then columns).
 */
export function phaseTaps(s: ConvSpec, rowTaps: { ta: number; iy: number }[]): PhaseTap[][] {
  return [0, 1].map((q) => {
    const out: PhaseTap[] = [];
    for (const { ta, iy } of rowTaps) {
      for (let tb = 0; tb < s.kw; tb++) {
        const d = q + tb * s.dw - s.pl;
        if (d % 2 === 0) out.push({ ta, tb, iy, dx: d / 2 });
      }
    }
    return out;
  });
}

/** The lanes interleaving two phases: lane 2m + q from phase q's lane m (half 0: m < 8; 1: m ≥ 8). */
export function phaseInterleave(half: number): number[] {
  return Array.from(
    new Float32Array(
      Int32Array.from({ length: L }, (_, i) => (i & 1 ? 16 : 0) + half * 8 + (i >> 1)).buffer,
    ),
  );
}

/**
 * Output row oy (row `r` of its unit; x's row `base` where `x` says, y's unit at
 * RUNY, the block's bias at BB and weights at WB): its tiles of positions
 * × 4 channels, `channels` channels in the block.
 */
export function emitPositionRow(
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
  const a = v.a;
  const taps = phaseTaps(s, rowTaps);
  const rounds = Math.max(taps[0].length, taps[1].length);
  const positions = Math.ceil(g.ow / 2), planeY = g.oh * g.ow * 4, row = r * g.ow * 4;
  for (const [v0, V] of evenPieces(Math.ceil(positions / L), TILE_VECTORS)) {
    const m0 = v0 * L;
    for (let o0 = 0; o0 < channels; o0 += TILE_CHANNELS) {
      const C = Math.min(TILE_CHANNELS, channels - o0);
      const acc = (vi: number, o: number, q: number) => (q * C + o) * V + vi;
      /** Lanes of x vector vi at column offset dx inside x's row: a bit mask (0xffff: all). */
      const inside = (vi: number, dx: number) => {
        let bits = 0;
        for (let l = 0; l < L; l++) {
          const ix = m0 + vi * L + l + dx;
          if (ix >= 0 && ix < s.w) bits |= 1 << l;
        }
        return bits;
      };
      // The partial vectors' masks, set before the loop (k2-k7), or into k1 per load past six.
      const masks = new Map<number, number>();
      for (const phase of taps) {
        for (const t of phase) {
          for (let vi = 0; vi < V; vi++) {
            const bits = inside(vi, t.dx);
            if (bits !== 0xffff && bits !== 0 && !masks.has(bits) && masks.size < 6) {
              masks.set(bits, masks.size + 2);
            }
          }
        }
      }
      for (const [bits, k] of masks) {
        a.emit("mov", eax, bits);
        a.emit("kmovw", KREG[k], eax);
      }
      a.emit("mov", rdx, qword(rsp, x.slot));
      a.emit("mov", rsi, qword(rsp, F.WB));
      for (let i = 0; i < 2 * C * V; i++) v.zero(i);
      const fetch = tileOutputFetch(a, s, F, {
        at: o0 * planeY + row + 2 * m0 * 4,
        bytes: Math.min(2 * V * L, g.ow - 2 * m0) * 4,
        channels: C,
        planeY,
      });
      emitChannelLoop(a, s, x, fetch, () => {
        let nextB = 0;
        for (let round = 0; round < rounds; round++) {
          let loaded: PhaseTap | null = null;
          for (let q = 0; q < 2; q++) {
            const t = taps[q][round];
            if (!t) continue;
            if (!loaded || loaded.iy !== t.iy || loaded.dx !== t.dx) {
              for (let vi = 0; vi < V; vi++) {
                const bits = inside(vi, t.dx);
                const disp = ((t.iy - base) * s.w + m0 + vi * L + t.dx) * 4;
                if (bits === 0) v.zero(X0 + vi);
                else if (bits === 0xffff) v.load(X0 + vi, rdx, disp);
                else {
                  let k = masks.get(bits);
                  if (k === undefined) {
                    a.emit("mov", r11d, bits);
                    a.emit("kmovw", KREG[1], r11d);
                    k = 1;
                  }
                  const tail: Tail = { lanes: 0, k: KREG[k], m: -1 };
                  v.loadMem(X0 + vi, ptr(rdx, disp), tail);
                }
              }
              loaded = t;
            }
            // The flipped kernel: conv tap (a, b) is w[c][o][kh−1−a][kw−1−b].
            const at = ((s.kh - 1 - t.ta) * s.kw + s.kw - 1 - t.tb) * L * 4;
            for (let o = 0; o < C; o++) {
              const b = B0 + nextB;
              nextB = (nextB + 1) % BROADCASTS;
              v.broadcast(b, rsi, at + (o0 + o) * 4); // lane o of the block's weight vector
              for (let vi = 0; vi < V; vi++) v.fma(acc(vi, o, q), X0 + vi, b, -1);
            }
          }
        }
      });
      // Phases interleaved lane by lane: column 2m + q from phase q's position m.
      loadStorePointers(a, F);
      const LO = phaseInterleave(0), HI = phaseInterleave(1);
      const T = [24, 25], RES = 26, OUT = 27;
      for (let o = 0; o < C; o++) {
        for (let vi = 0; vi < V; vi++) {
          const p0 = acc(vi, o, 0), p1 = acc(vi, o, 1);
          for (let h = 0; h < 2; h++) {
            v.move(T[h], { table: h ? HI : LO });
            a.emit("vpermi2ps", v.r(T[h]), v.r(p0), v.r(p1));
          }
          const free = [28, 29, 30, 31, p0, p1];
          const first = 2 * (m0 + vi * L); // the vector's first output column
          for (let h = 0; h < 2; h++) {
            const lanes = Math.min(L, g.ow - first - h * L);
            if (lanes <= 0) continue;
            const tail = lanes < L ? v.tail(lanes, 1) : undefined;
            const at = (o0 + o) * planeY + row + (first + h * L) * 4;
            emitVectorStore(v, s, T[h], o0 + o, at, tail, { res: RES, out: OUT, free });
          }
        }
      }
    }
  }
}
