/**
 * How a convolution is computed: the register tile (output channels ×
 * vectors of output positions), how its outputs reach y, and the workspace.
 * One policy, in one place; `generateConv` only carries it out.
 *
 * @module
 */
import { Assembler } from "../../../asm/mod.ts";
import type { KernelPlan } from "../family.ts";
import { tileFits } from "../gemm/microkernel.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { Vec, type VecIsa, vecIsa, type VecLevel } from "../vec.ts";
import { type ConvGeometry, convGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";

/**
 * How a tile's outputs are stored. "runs": tiles never cross a run of
 * positions that y holds contiguously (each output row, or the whole band
 * when the row pitch is the output width), stores are plain vectors.
 * "table": tiles run over the band's flattened domain, and each vector is
 * stored as up to `segments` masked pieces, one per output row it touches,
 * whose masks and offsets a table in the code holds (AVX2, AVX-512).
 */
export type ConvStoreMode = "runs" | "table";

/** A complete conv plan. */
export interface ConvPlan extends KernelPlan {
  /** Vector level of the code. */
  isa: VecLevel;
  /** Output channels per tile. */
  mr: number;
  /** Vectors of positions per tile. */
  ng: number;
  /** Input channels per k-loop iteration (each with every tap). */
  unrollIc: number;
  /** How outputs are stored. */
  mode: ConvStoreMode;
  /** Table mode: most row pieces of one vector. */
  segments: number;
}

/** Most row pieces a stored vector may have in table mode (one opmask or offset register each). */
export const MAX_SEGMENTS = 3;
/** Largest store table kept in the code. */
const MAX_TABLE_BYTES = 1 << 20;

/** Vector registers an activation's emitter takes as temporaries (a dry run). */
export function activationTemps(isa: VecIsa, act: ConvSpec["activation"]): number {
  if (!act) return 0;
  const v = new Vec(new Assembler(), isa);
  const pool = Array.from({ length: isa.nregs }, (_, i) => i);
  const m = new Lanes(v, pool.slice(2), [2, 3, 4]);
  UNARY_OPS[act.op].emit(m, 0, 1, act.params);
  return pool.length - 2 - m.lowWater;
}

/**
 * Vector registers the store of one tile needs beside its accumulators: the
 * result, the bias, the residual (and at AVX2 a second residual piece and
 * a mask), the activation's temporaries.
 */
export function epilogueRegisters(s: ConvSpec, isa: VecIsa, mode: ConvStoreMode): number {
  const avx2Table = mode === "table" && isa.level === "avx2";
  return 1 + (s.bias ? 1 : 0) + (s.residual ? (avx2Table ? 2 : 1) : 0) + (avx2Table ? 1 : 0) +
    activationTemps(isa, s.activation);
}

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

/** The plan for `s` at `level`. */
export function planConv(s: ConvSpec, level: VecLevel): ConvPlan {
  const isa = vecIsa(level);
  const g = convGeometry(s);
  const L = isa.lanes;
  let mode: ConvStoreMode = "runs";
  let segments = 0;
  if (g.wq > g.ow && (level === "avx2" || level === "avx512")) {
    const vectors = Math.ceil(g.positions / L);
    for (let j = 0; j < vectors; j++) segments = Math.max(segments, vectorSegments(g, j * L, L));
    const entry = level === "avx512" ? 8 : 36;
    if (segments <= MAX_SEGMENTS && vectors * segments * entry <= MAX_TABLE_BYTES) mode = "table";
    else segments = 0;
  }
  // Positions a tile may cover: the run (one output row in runs mode with a pitch).
  const run = mode === "runs" && g.wq > g.ow ? g.ow : g.positions;
  const vectors = Math.ceil(run / L);
  // 6×4 vectors at AVX-512 (8×3 when the channels come in eights), 4×3 below,
  // as the GEMM direct tile; fewer channels widen the tile instead.
  let [mr, ng] = level === "avx512"
    ? (g.ocg % 6 !== 0 && g.ocg % 8 === 0 ? [8, 3] : [6, 4])
    : [4, 3];
  const accs = mr * ng;
  mr = Math.min(mr, g.ocg);
  ng = Math.max(1, Math.min(Math.floor(accs / mr), 8, vectors));
  const extra = epilogueRegisters(s, isa, mode);
  // The tail tile of an AVX2 run reserves its mask register.
  const reserved = level === "avx2" ? 1 : 0;
  const fits = (m: number, n: number) =>
    tileFits(isa, m, n, 1, reserved) && m * n + extra + reserved <= isa.nregs;
  while (ng > 1 && !fits(mr, ng)) ng--;
  while (mr > 1 && !fits(mr, ng)) mr--;
  if (!fits(mr, ng)) {
    throw new Error(`conv2d: no register tile fits the epilogue's ${extra} registers`);
  }
  const taps = s.kh * s.kw;
  let unrollIc = 1;
  for (const u of [4, 2]) {
    if (taps * u <= 4 && g.cg % u === 0) {
      unrollIc = u;
      break;
    }
  }
  const workspaceBytes = g.copy ? Math.ceil((g.cg * g.channelStride * 4) / 64) * 64 : 0;
  return {
    isa: level,
    mr,
    ng,
    unrollIc,
    mode,
    segments,
    workspaceBytes,
    description: `${level} tile ${mr}×${ng * L} ${mode}${segments ? `/${segments}` : ""}${
      g.copy ? ` planes ${g.hq}×${g.wq}` : ""
    }`,
  };
}
