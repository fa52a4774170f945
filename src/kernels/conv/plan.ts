/**
 * How a convolution is computed: the register tile (output channels ×
 * vectors of output positions), how its outputs reach y, and the workspace.
 * One policy, in one place; `generateConv` only carries it out.
 *
 * @module
 */
import type { KernelPlan } from "../family.ts";
import { tileFits } from "../gemm/microkernel.ts";
import { type VecIsa, vecIsa, type VecLevel } from "../vec.ts";
import { depthwisePackedRows } from "./depthwise_packed.ts";
import {
  depthwiseBudget,
  depthwiseFits,
  depthwiseLean,
  depthwiseRowsMost,
  depthwiseRowTile,
  depthwiseServes,
  type DepthwiseTile,
  depthwiseTile,
  depthwiseWorkspace,
} from "./depthwise.ts";
import { activationTemps } from "../unary/temps.ts";
import {
  alignsChannels,
  depthwiseNhwcServes,
  depthwiseNhwcShape,
  depthwiseNhwcTile,
  depthwiseNhwcWorkspace,
} from "./depthwise_nhwc.ts";
import {
  type ConvGeometry,
  convGeometry,
  outputBytes,
  planesBytes,
  type TapPeriods,
  tapPeriods,
} from "./geometry.ts";
import {
  PHASE_POSITIONS,
  phaseBlock,
  type PhaseLanes,
  phasesServe,
  phaseWorkspaceBytes,
} from "./transpose_phases.ts";
import { POSITION_TILE, positionsFill, positionsServe } from "./transpose_positions.ts";
import { columnsFill, columnsServe, describeColumnTile, pairGroup } from "./transpose_columns.ts";
import {
  channelVectorChunk,
  channelVectorChunks,
  channelVectorCycles,
  channelVectorLanes,
  channelVectorPositions,
  channelVectorsServe,
  type ChannelVectorTile,
  channelVectorTile,
  fetchesNextTile,
  fetchesXAhead,
  fitChannelVectorTile,
  packedXServes,
  rowsOuterServes,
  subsampledCall,
  subsampledServes,
  tileCall,
} from "./channel_vectors.ts";
import { CHANNEL_BLOCK, channelBlockBytes } from "./channel_blocks.ts";
import { type ConvStoreMode, tableSegments } from "./store_table.ts";
import type { ConvSpec } from "./spec.ts";
import { halfSpecs } from "./k_halves.ts";

/**
 * Position tiles ahead a 1×1 tile fetches x (ConvPlan.nextX). Zen 5, one
 * thread, alternating in one process, 12 operand sets rotated (x from
 * DRAM): two ahead ran 1.06-1.38× faster than one (1×1 96→24 and 144→24 on
 * 56², 32→16 on 112², 48→9 on 96²), within 2% of it with x in cache; three
 * lost 1-9% there.
 */
export const X_TILES_AHEAD = 2;

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
  /** Output channels per block: the weights of one block stay in L2 while every position tile passes. */
  ocBlock: number;
  /** L2 bytes the blocking was made for (parts are planned for the same). */
  l2: number;
  /** L1 data bytes the input-channel blocking was made for. */
  l1d: number;
  /**
   * Input channels per pass over a position tile: the planes' window of a
   * pass stays in L1 while every channel tile reads it (see generate.ts's
   * emitIcBlocks); the group's channels when they all fit.
   */
  icBlock: number;
  /**
   * The tile kernel, 1×1: each position tile's channel tiles fetch a later
   * position tile's x into L1 as they go (X_TILES_AHEAD). Where x outgrows
   * half of L2 it comes from L3 or DRAM, a line from each of its channels'
   * planes per tile: more streams than the hardware prefetches.
   */
  nextX: boolean;
  /**
   * The tile kernel on runs (AVX-512), 1×1 with x read in place or K×K: each
   * position tile's first channel tile stores x's window as it loads it (a
   * row of the tile's positions per k step of its pass, an input channel or
   * a channel's tap: at K×K an im2col strip; contiguous, in the workspace
   * after the planes if any); the other channel tiles of the block read that
   * copy instead of x's planes (see {@link copiesXInTile}). Absent: false.
   */
  xInTile?: boolean;
  /** The depthwise kernel's tile (x read in place, see depthwise.ts), or null. */
  depthwise: DepthwiseTile | null;
  /** The channel-vector kernel's tile (see channel_vectors.ts), or null. */
  cv: ChannelVectorTile | null;
  /** A transposed convolution by output phases, and what its lanes hold (transpose_phases.ts), or false. */
  phases: false | PhaseLanes;
  /**
   * The tile kernel: each input channel's taps as a loop over periods of
   * kernel rows (geometry.ts tapPeriods; see TAP_PERIODS), or null: every
   * tap unrolled.
   */
  tapPeriods: TapPeriods | null;
  /** Tier 2's choice this plan was made with (parts are planned with it too), if any. */
  choice?: ConvChoice;
  /** The Target's `embedBroadcast` at AVX-512 (parts are planned with it too). */
  embedBroadcast: boolean;
  /** The Target's `embedLoneBroadcast` at AVX-512 (parts are planned with it too). */
  embedLoneBroadcast: boolean;
  /** The Target's `deepChannelVectors` (parts are planned with it too). */
  deepChannelVectors: boolean;
  /** The Target's `kxkChannelVectors` (parts are planned with it too). */
  kxkChannelVectors: boolean;
  /** The Target's `microcodedMaskedStores` at AVX2 (parts are planned with it too). */
  microcodedMaskedStores: boolean;
  /** The Target's `nhwcDepthwiseTiles` (parts are planned with it too). */
  nhwcDepthwiseTiles: boolean;
  /** The Target's `shortChannelTilesOutside` at AVX2 (parts are planned with it too). */
  shortChannelTilesOutside: boolean;
  /**
   * A call in halves of its input channels (k_halves.ts): the kernels that
   * run in turn, each on its spec and plan (the plan's other fields are the
   * first's); absent: the plan is the kernel.
   */
  halves?: { spec: ConvSpec; plan: ConvPlan }[];
  /** A part of a split in halves: the last part to finish adds the halves (k_halves.ts emitCombine). */
  combine?: boolean;
  /** Part 1 of a split in halves: where its sums start in its workspace (after its kernel's own). */
  scratchAt?: number;
}

/**
 * What tier 2 may choose for a convolution: the store mode and register
 * tile, and the L2 bytes the channel blocking aims at. None of it changes
 * an output's FMA chain (input channels and taps in order), so none of it
 * changes the bits.
 */
export interface ConvChoice {
  mode: ConvStoreMode;
  mr: number;
  ng: number;
  /** L2 bytes the output-channel blocks are sized for. */
  l2: number;
  /** Input channels per pass (absent: the planner's, from L1). */
  icBlock?: number;
  /** A depthwise call's tile instead (the other fields then unused). */
  depthwise?: DepthwiseTile;
  /** The channel-vector kernel's tile instead (the other fields then unused). */
  cv?: ChannelVectorTile;
  /** A transposed convolution: by output phases with these lanes, or on the upsampled input (false). */
  phases?: false | PhaseLanes;
  /** Whether a 1×1 tile fetches x position tiles ahead (ConvPlan.nextX; absent: the planner's rule). */
  nextX?: boolean;
  /** Whether a 1×1 tile plan runs channel tiles outside (absent: {@link channelTilesOutside}'s rule). */
  channelTilesOutside?: boolean;
  /** Whether a 1×1 tile plan copies x in its first channel tile (ConvPlan.xInTile; absent: {@link copiesXInTile}'s rule). */
  xInTile?: boolean;
  /** Whether the tile kernel loops over periods of taps (ConvPlan.tapPeriods; absent: TAP_PERIODS' rule). */
  periods?: boolean;
  /** What a split call's parts cut when images do not: absent, family.ts's rule. */
  split?: "channels" | "rows" | "groups";
}

/**
 * Vector registers the store of one tile needs beside its accumulators: the
 * result, the bias, the residual (and at AVX2 a second residual piece and
 * a mask), the activation's temporaries.
 */
export function epilogueRegisters(s: ConvSpec, isa: VecIsa, mode: ConvStoreMode): number {
  const avx2Table = mode === "table" && isa.level === "avx2";
  return 1 + (s.bias ? 1 : 0) + (s.residual || s.partialIn ? (avx2Table ? 2 : 1) : 0) +
    (avx2Table ? 1 : 0) +
    activationTemps(isa, s.activation);
}

/**
 * The plan for `s` at `level`, or with tier 2's `choice` of mode, tile and
 * blocking (parts of a split call are planned with the same choice).
 */
export function planConv(
  s: ConvSpec,
  level: VecLevel,
  caches: {
    l1d: number;
    l2: number;
    embedBroadcast?: boolean;
    embedLoneBroadcast?: boolean;
    deepChannelVectors?: boolean;
    kxkChannelVectors?: boolean;
    microcodedMaskedStores?: boolean;
    nhwcDepthwiseTiles?: boolean;
    shortChannelTilesOutside?: boolean;
  } = {
    l1d: 48 << 10,
    l2: 1 << 20,
  },
  choice?: ConvChoice,
): ConvPlan {
  if (s.kHalves) return planHalves(s, level, caches, choice);
  let l2 = caches.l2;
  const l1d = caches.l1d;
  const embed = level === "avx512" && (caches.embedBroadcast ?? false);
  const lone = level === "avx512" && (caches.embedLoneBroadcast ?? false);
  const deep = caches.deepChannelVectors ?? true;
  // (Measured at AVX-512 only: AVX2's channel-vector tiles keep the estimates as they are.)
  const kxk = level === "avx512" && (caches.kxkChannelVectors ?? false);
  const microcoded = level === "avx2" && (caches.microcodedMaskedStores ?? false);
  const nhwcTiles = caches.nhwcDepthwiseTiles ?? false;
  // (Measured at AVX2 only: AVX-512's tiles keep the rule as it is.)
  const shortOutside = level === "avx2" && (caches.shortChannelTilesOutside ?? false);
  /** The Target's traits every plan carries (its parts are planned with them too). */
  const traits = {
    embedBroadcast: embed,
    embedLoneBroadcast: lone,
    deepChannelVectors: deep,
    kxkChannelVectors: kxk,
    microcodedMaskedStores: microcoded,
    nhwcDepthwiseTiles: nhwcTiles,
    shortChannelTilesOutside: shortOutside,
  };
  const isa = vecIsa(level);
  const g = convGeometry(s);
  const L = isa.lanes;
  const taps = s.kh * s.kw, work = g.cg * taps;
  const actRegs = s.activation ? 1 + activationTemps(isa, s.activation) : 0;
  /** A depthwise kernel's plan (one input and output channel per group: no channel tiles). */
  const depthwisePlan = (t: DepthwiseTile, workspaceBytes: number, description: string) => ({
    ...(choice ? { choice } : {}),
    isa: level,
    mr: 1,
    ng: t.vectors,
    unrollIc: 1,
    mode: "runs" as const,
    segments: 0,
    ocBlock: 1,
    l2,
    l1d,
    icBlock: 1,
    nextX: false,
    tapPeriods: null,
    depthwise: t,
    cv: null,
    phases: false as const,
    ...traits,
    workspaceBytes,
    description,
  });
  if (depthwiseNhwcServes(s, g, level)) {
    const c = choice?.depthwise;
    const t = c
      ? depthwiseNhwcShape(s, g, actRegs, l2, c.channelsInner ?? false, c.rows, level)
      : depthwiseNhwcTile(s, g, actRegs, l2, level, nhwcTiles);
    return depthwisePlan(
      t,
      depthwiseNhwcWorkspace(s, level),
      `${level} depthwise NHWC ${t.rows} rows × ${t.vectors} positions × ${L} channels, ${
        t.channelsInner ? "every channel a tile" : `each channel sweeping ${t.blockRows} rows`
      }${alignsChannels(s, t, level) ? ", on x's lines" : ""}, x in place${
        s.wLanes ? "" : ", weights transposed per call"
      }`,
    );
  }
  const dw = depthwiseServes(s, g, level) && depthwiseFits(s, actRegs, level);
  if (dw && (choice === undefined || choice.depthwise !== undefined)) {
    const auto = depthwiseTile(s, g, actRegs, level);
    // A part's band may have fewer rows than the chosen tile.
    const packed = choice?.depthwise?.packed;
    const t = choice?.depthwise
      ? packed && level === "avx512" && depthwisePackedRows(s, g, actRegs) === packed
        ? { rows: packed, vectors: 1, packed }
        : {
          rows: Math.max(1, Math.min(choice.depthwise.rows, g.rows, depthwiseRowsMost(s))),
          vectors: choice.depthwise.vectors,
        }
      : auto;
    return depthwisePlan(
      t,
      depthwiseWorkspace(s, level),
      t.packed
        ? `${level} depthwise ${t.packed} row${
          t.packed > 1 ? "s" : ""
        } a vector, plane unrolled, x in place`
        : `${level} depthwise ${t.rows} rows × ${t.vectors * L}, x in place${
          depthwiseLean(s, g, t, isa) ? ", every weight in a register" : ""
        }`,
    );
  }
  const workspaceBytes = planesBytes(g);
  const cvServes = channelVectorsServe(s, isa);
  /** A kernel that reads x in place and writes channel blocks (channel vectors, ConvTranspose phases). */
  const inPlace = (
    o: {
      mr: number;
      cv: ChannelVectorTile | null;
      phases: false | PhaseLanes;
      description: string;
      ocBlock?: number;
      workspaceBytes?: number;
    },
  ): ConvPlan => ({
    ...(choice ? { choice } : {}),
    isa: level,
    ng: 1,
    unrollIc: 1,
    mode: "runs",
    segments: 0,
    ocBlock: g.ocg,
    l2,
    l1d,
    icBlock: g.cg,
    nextX: false,
    tapPeriods: null,
    depthwise: null,
    workspaceBytes: 0,
    ...traits,
    ...o,
  });
  const cvPlan = (t: ChannelVectorTile): ConvPlan => {
    // On the subsampled planes (a strided 1×1) or channel blocks, the tiles are their call's.
    const q = tileCall(s, g, t);
    return inPlace({
      mr: channelVectorLanes(isa) * t.vectors, // parts over channels cut whole blocks
      cv: t,
      phases: false,
      workspaceBytes: (t.planes ? workspaceBytes : 0) + (t.packedX ? channelBlockBytes(g) : 0),
      description: `${level} channel vectors ${
        t.flat
          ? `${t.width} positions across rows`
          : t.rows > 1
          ? `${t.rows} rows`
          : `${t.width} columns`
      } × ${channelVectorLanes(isa) * t.vectors} channels, ${
        t.planes ? `x subsampled to planes ${g.hq}×${g.wq}` : t.packedX ? "x" : "x in place"
      }${t.packedX ? " in blocks of 8 channels" : ""}${t.nextBlock ? ", next weights to L2" : ""}${
        fetchesNextTile(q.s, t) ? ", next tile's y to L1" : ""
      }${fetchesXAhead(q.s, t) ? `, x ${t.xAhead} planes ahead to L1` : ""}${
        t.xNextRows && !s.nhwc ? ", next row's x to L2" : ""
      }${rowsOuterServes(t) ? ", each row through every block" : ""}${
        channelVectorChunks(q.s, q.g, t) > 1
          ? `, pieces in chunks of ${t.icChunk * (t.packedX ? CHANNEL_BLOCK : 1)} inputs`
          : ""
      }${t.embed ? ", broadcasts in the FMAs" : ""}${s.nhwc ? ", NHWC" : ""}`,
    });
  };
  if (cvServes && choice?.cv) {
    return cvPlan(fitChannelVectorTile(isa, tileCall(s, g, choice.cv).g, choice.cv));
  }
  // NHWC: the channel-vector kernel's vectors of output channels are its rows; no other kernel
  // reads or writes it (jit.conv2d keys NHWC as such only where this one serves).
  if (s.nhwc) {
    if (!cvServes) throw new Error("conv2d: NHWC is computed by the channel-vector kernel only");
    return cvPlan(nhwcTile(isa, s, g, l2));
  }
  // By phases whenever it serves (the upsampled input's zeros are 3/4 of the work at stride 2),
  // output columns along the lanes where they serve and fill them (see columnsFill; AVX2 has
  // that tile alone), else positions where a row's positions fill them (see positionsFill).
  if (phasesServe(s, isa) && (choice === undefined || choice.phases)) {
    const lanes = choice?.phases ||
      (isa.level === "avx2" || columnsFill(s, isa, g, l1d)
        ? "columns"
        : positionsFill(s, isa)
        ? "positions"
        : "channels");
    const ocBlock = phaseBlock(s, g, l2, L), group = lanes === "columns" ? pairGroup(s, g, isa) : 0;
    return inPlace({
      ocBlock,
      workspaceBytes: phaseWorkspaceBytes(s, g, lanes, L),
      mr: L,
      cv: null,
      phases: lanes,
      description: `${level} by output phases, ${
        lanes === "columns"
          ? `${describeColumnTile(s, g, isa)}, x rows packed doubled, weights in pairs${
            group ? ` by groups of ${group} channels` : ""
          }`
          : `${
            lanes === "positions"
              ? `${POSITION_TILE} positions × 2 phases × 4 channels`
              : `${PHASE_POSITIONS} × 2 positions × 16 channels`
          }, x rows packed`
      }${ocBlock < g.ocg ? `, ${ocBlock} channels a pass` : ""}`,
    });
  }
  // Runs (plain stores; a pitched band's rows one by one) or the table (the
  // flat domain, pieces per row): whichever the tile estimate finds cheaper.
  const pitched = g.wq > g.ow;
  const options: { mode: ConvStoreMode; segments: number; runs: number; run: number }[] = [
    { mode: "runs", segments: 0, runs: pitched ? g.rows : 1, run: pitched ? g.ow : g.positions },
  ];
  const pieces = tableSegments(g, isa);
  if (pieces) {
    options.push({ mode: "table", segments: pieces, runs: 1, run: g.positions });
  }
  let best = null as null | {
    mode: ConvStoreMode;
    segments: number;
    mr: number;
    ng: number;
    cost: number;
  };
  const fits = windowFits(g, L, l1d);
  // A 1×1 layer of 64 inputs or more whose x is past L2: each channel tile streams x's run
  // again, which the estimate does not price (see fewestPasses).
  const byPasses = taps === 1 && work >= 64 && g.cg * s.h * s.w * 4 > l2;
  for (const o of options) {
    if (choice !== undefined && o.mode !== choice.mode) continue;
    const ranked = choice === undefined
      ? rankTiles(
        s,
        isa,
        o.mode,
        g.ocg,
        Math.ceil(o.run / L),
        work,
        tableStore(o.segments, microcoded),
        fits,
      )
      : [];
    const t = choice === undefined
      ? (byPasses ? fewestPasses(ranked, g.ocg) : ranked[0])
      : { mr: Math.min(choice.mr, g.ocg), ng: choice.ng, cost: 0 };
    if (t === undefined) {
      throw new Error(
        `conv2d: no register tile fits the epilogue's ${
          epilogueRegisters(s, isa, o.mode)
        } registers`,
      );
    }
    const cost = o.runs * t.cost;
    if (!best || cost < best.cost) {
      best = { mode: o.mode, segments: o.segments, mr: t.mr, ng: t.ng, cost };
    }
  }
  if (best === null) {
    throw new Error(`conv2d: store mode ${choice?.mode} does not serve this shape`);
  }
  const { mode, segments, mr, ng } = best;
  // AVX2, a strided 1×1 on a small image: channel vectors on its subsampled x.
  if (choice === undefined && subsampledServes(s, isa, g)) {
    // On channel blocks too where they serve the subsampled call (see channel_blocks.ts).
    const q = subsampledCall(s, g);
    const packedX = packedXServes(q.s, isa, q.g, true);
    if (packedX || subsampledServes(s, isa, g, true)) {
      const b = tileCall(s, g, { planes: true, packedX });
      const t = tierOneTile(isa, b.s, b.g, embed, lone, l1d, l2);
      return cvPlan({ ...t, planes: true, ...(packedX ? { packedX } : {}) });
    }
  }
  // AVX2, a 1×1 on a small image: channel vectors on x repacked as channel blocks.
  if (choice === undefined && packedXServes(s, isa, g, true)) {
    const b = tileCall(s, g, { packedX: true });
    return cvPlan({ ...tierOneTile(isa, b.s, b.g, embed, lone, l1d, l2), packedX: true });
  }
  if (cvServes && choice === undefined && fewInputsStrided(s, isa, embed)) {
    return cvPlan(channelVectorTile(isa, g, embed, 1));
  }
  if (cvServes && choice === undefined && narrowFirstLayer(s, g, isa, lone)) {
    return cvPlan(tierOneTile(isa, s, g, embed, lone, l1d, l2));
  }
  if (cvServes && choice === undefined) {
    const t = tierOneTile(isa, s, g, embed, lone, l1d, l2);
    // The position-vector estimate misses how a small image's deep 1×1 layer streams its
    // input from L2 (14² 256→1024: 540 µs there, 484 here, on Zen 5), and how in a model,
    // caches cold, its 6 lines per input plane and step stall where this kernel reads one
    // (ResNet-50 on Zen 5, 1 thread, two sessions alternating: 1×1 256→128 56² 1250 → 1066
    // µs, 512→256 28² 1219 → 1059, 512→128 28² 574 → 505; 64→256 56² was 582 → 655, and
    // DenseNet-121's 1×1 layers of 128-512 inputs all gained 3-28%): small images and deep
    // inputs lean here (deep ones where the core says so: `deepChannelVectors`, not Intel). So
    // does a K×K layer whose planes pass half of L2 (few channels on a large image: the
    // estimate prices their building, not their streaming back through L2 tap by tap). Intel
    // Xeon (SPR), `deno run -A bench/ab.ts --a bec29f8 --b a645a04 --conv 1,C,H,H,C,3,1,1,1`:
    // 32 channels on 112² ×0.696 of the time, on 128² ×0.989 (16 on 112², planes under half of
    // L2, untouched ×0.999); `--model unet` ×0.972 / ×1.024 on 1 / 2 threads, `--model cnn`
    // ×0.982 (all unresolved: pairs' middle halves across 1).
    const planesPastL2 = taps > 1 && !wideStridedStem(s) && 4 * g.cg * s.h * s.w > l2 / 2;
    const lean = (g.rows * g.ow <= 256 || (deep && g.cg >= 128) || planesPastL2 ? 1.15 : 1) *
      (kxk && taps > 1 && !firstLayer(s) ? KXK_LEAN : 1);
    // That kernel also builds its planes (x read, planes written) where this one reads x.
    const planes = g.copy ? 0.4 * g.cg * g.channelStride : 0;
    if (
      channelVectorCycles(isa, s, g, t) < (best.cost + planes) * lean &&
      (isa.level !== "avx2" || !avx2PositionsFirst(s, g))
    ) {
      return cvPlan(t);
    }
  }
  if (choice !== undefined) {
    l2 = choice.l2;
    const avx2Reserved = isa.level === "avx2" ? 1 : 0;
    if (
      !tileFits(isa, mr, ng, 1, avx2Reserved) ||
      mr * ng + epilogueRegisters(s, isa, mode) + avx2Reserved > isa.nregs
    ) throw new Error(`conv2d: tile ${mr}×${ng} does not fit the registers`);
  }
  let unrollIc = 1;
  for (const u of [4, 2]) {
    if (taps * u <= 4 && g.cg % u === 0) {
      unrollIc = u;
      break;
    }
  }
  // Weights beyond half of L2: blocks of channels (whole tiles) that fit it, as even as
  // whole tiles allow (128 channels in blocks of 110 left an 18-channel block: 70% at 2T).
  const rowBytes = g.cg * taps * 4;
  const fit = Math.max(1, Math.floor(l2 / 2 / rowBytes / mr)) * mr;
  const outside = choice?.channelTilesOutside ?? channelTilesOutside(s, g, l2, shortOutside);
  const ocBlock = outside
    ? Math.min(g.ocg, mr)
    : g.ocg * rowBytes <= l2 / 2
    ? g.ocg
    : Math.min(g.ocg, fit, Math.ceil(g.ocg / Math.ceil(g.ocg / fit) / mr) * mr);
  // (A second half's store adds y's sums: one pass, so no partial sums of its own pass there.)
  const icBlock = s.partialIn ? g.cg : choice?.icBlock ?? icBlockFor(s, g, ng * L, unrollIc, l1d);
  // Measured on Zen 5, one thread, alternating in one process, 12 operand sets rotated (x
  // from DRAM), fetching one tile ahead: 1×1 256→64 56² 734 → 424 µs, 144→24 56² 174 → 114,
  // 96→24 56² 93 → 73, 1024→256 14² 491 → 408; with x in cache (one operand set, or x within
  // half of L2, where it is left off) within ±2%. Not where x is first copied to planes
  // (they are then in cache).
  const nextX = nextXServes(s, g) && (choice?.nextX ?? s.c * g.channelStride * 4 > l2 / 2);
  const periods = unrollIc === 1 && (choice?.periods ?? true) ? tilePeriods(s, g) : null;
  const copyX = xInTileServes(s, g, level, mode, mr, ocBlock) &&
    (choice?.xInTile ?? copiesXInTile(s, g, mr, ocBlock, l2));
  return {
    isa: level,
    mr,
    ng,
    unrollIc,
    mode,
    segments,
    ocBlock,
    l2,
    l1d,
    icBlock,
    nextX,
    ...(copyX ? { xInTile: true } : {}),
    tapPeriods: periods,
    depthwise: null,
    cv: null,
    phases: false,
    ...traits,
    workspaceBytes: workspaceBytes + (copyX ? icBlock * taps * ng * L * 4 : 0),
    ...(choice ? { choice } : {}),
    description: `${level} tile ${mr}×${ng * L} ${mode}${segments ? `/${segments}` : ""}${
      choice?.split ? `, parts over ${choice.split}` : ""
    }${
      outside ? ", channel tiles outside" : ocBlock < g.ocg ? ` blocks of ${ocBlock} channels` : ""
    }${icBlock < g.cg ? ` passes of ${icBlock} inputs` : ""}${
      g.copy ? ` planes ${g.hq}×${g.wq}` : ""
    }${nextX ? `, x ${X_TILES_AHEAD} tiles ahead to L1` : ""}${
      copyX ? ", x copied by the first channel tile" : ""
    }${periods ? `, taps in ${periods.count} periods of ${periods.period}` : ""}`,
  };
}

/**
 * A call in halves of its input channels (k_halves.ts): each half's kernel
 * planned as a call of its own (tier 2's choice applies to both), run in
 * turn; part 1 of a split in halves keeps its sums in its workspace, after
 * its kernel's own.
 */
function planHalves(
  s: ConvSpec,
  level: VecLevel,
  caches: Parameters<typeof planConv>[2],
  choice?: ConvChoice,
): ConvPlan {
  if (s.kPart === undefined) {
    // A channel-vector tile sums the halves itself, one pass over y (the kernels in turn
    // write y twice and read it back once: ×1.037 of the time on 1×1 384→64 on 14²).
    const one = planConv({ ...s, kHalves: false }, level, caches, choice);
    // (NHWC runs no chunks whatever a tile's icChunk says: channelVectorChunks.)
    if (one.cv && (one.cv.icChunk === 0 || s.nhwc)) {
      return {
        ...one,
        cv: { ...one.cv, halves: true, icChunk: 0 },
        description: `input channels in halves in each tile: ${one.description}`,
      };
    }
  }
  // NHWC's store takes no other half's sums (channel_vectors.ts storeRows).
  if (s.nhwc) throw new Error("conv2d: an NHWC call in halves runs on channel-vector tiles");
  const halves = halfSpecs(s, s.kPart ?? "whole").map((spec) => ({
    spec,
    plan: planConv(spec, level, caches, choice),
  }));
  const first = halves[0].plan;
  const own = Math.max(...halves.map((h) => h.plan.workspaceBytes));
  const scratchAt = Math.ceil(own / 64) * 64;
  return {
    ...first,
    halves,
    ...(s.kPart === undefined ? {} : { combine: true, scratchAt }),
    workspaceBytes: s.kPart === 1 ? scratchAt + outputBytes(s, convGeometry(s)) : own,
    description: `${
      s.kPart === undefined
        ? "input channels in halves"
        : `half ${s.kPart + 1} of the input channels (the last part to finish adds them)`
    }: ${first.description}`,
  };
}

/**
 * The tile kernel's k loop unrolls every tap of an input channel: a 7×7
 * kernel's 49 steps, some 1,200 instructions at AVX-512 (4 loads, 4
 * broadcasts and 16 FMAs a step, most with 32-bit displacements). Kernels
 * of TAP_PERIODS.taps taps or more loop instead over periods of kernel rows
 * of at least TAP_PERIODS.steps taps (geometry.ts tapPeriods): the same
 * steps in the same order, so the same bits. Zen 5, 1 thread, the two
 * alternating in one process (scratch builds): ResNet's 7×7/2 stem
 * 1.03-1.04× (periods of 14 taps: a row in each phase), 7×7 8→16 on 64²
 * 1.05× (periods of two rows); periods of one 3-tap row lost (3×3 3→64 on
 * 224² 0.94×, at stride 2 0.97×), 5×5 ones tied, and AVX2's tiles (VEX,
 * 6×16) tied. Tier 2 tries the other way (`deno run -A
 * bench/tune_candidates.ts --conv 1,3,224,224,64,7,2`).
 */
const TAP_PERIODS = { taps: 32, steps: 12 } as const;

/** The tile kernel's periods of taps under TAP_PERIODS' rule (a transposed call's flipped taps: none). */
function tilePeriods(s: ConvSpec, g: ConvGeometry): TapPeriods | null {
  return s.flip || s.kh * s.kw < TAP_PERIODS.taps ? null : tapPeriods(s, g, TAP_PERIODS.steps);
}

/** Whether the tile kernel may fetch x position tiles ahead: 1×1, x read in place. */
function nextXServes(s: ConvSpec, g: ConvGeometry): boolean {
  return s.kh * s.kw === 1 && !s.flip && !g.copy;
}

/**
 * Whether a tile plan may copy x in its first channel tile (ConvPlan.xInTile):
 * 1×1 with x in place along one run (not pitched), or K×K not transposed (its
 * taps' vectors, from planes or x, in any runs), AVX-512 (the microkernel's
 * copy stores whole vectors), positions in runs, and more than one channel
 * tile a block to read the copy.
 */
function xInTileServes(
  s: ConvSpec,
  g: ConvGeometry,
  level: VecLevel,
  mode: ConvStoreMode,
  mr: number,
  ocBlock: number,
): boolean {
  const inRuns = s.kh * s.kw === 1 ? nextXServes(s, g) && !(g.wq > g.ow) : !s.flip;
  return inRuns && level === "avx512" && mode === "runs" && Math.min(ocBlock, g.ocg) > mr;
}

/** Most input channels a group of a network's first layer (RGB, RGBA: see {@link firstLayer}). */
const FIRST_LAYER_INPUTS = 4;

/**
 * A network's first layer: a K×K convolution of at most {@link FIRST_LAYER_INPUTS} input
 * channels a group, its k steps the taps alone. Its x is copied by the first channel tile
 * (copiesXInTile), it keeps the tile kernel's estimate (KXK_LEAN), rankTiles breaks its ties
 * its own way, and on some cores it takes channel vectors by rules of its own
 * (fewInputsStrided, narrowFirstLayer).
 */
function firstLayer(s: ConvSpec): boolean {
  return s.kh * s.kw > 1 && s.c / s.group <= FIRST_LAYER_INPUTS;
}

/**
 * How much cheaper tier 1 takes the channel-vector estimate of a K×K layer
 * past a network's first layer where the core says so (`kxkChannelVectors`,
 * src/cpu.ts `leansToKxkChannelVectors`). Intel Xeon (model 167), one
 * thread, `deno run -A bench/ab.ts --a 7c0f09c --b a0f256c --conv
 * 1,C,H,H,OC,3,1,1,1` (stop 117, branch ab/kxk-lean-first): 16→32 on 112²
 * ×0.852 of the time, 16→16 ×0.892, 16→64 ×0.992, 24→48 ×1.000, 32→64 on
 * 80² ×0.919 (2 threads, `--a 7c0f09c --b 7fe0c94 … --threads 2`: 16→32
 * ×0.923, 32→64 ×0.929); `--model` ResNet-50 ×0.966, the CNN ×0.985,
 * U-Net ×0.988, MobileNetV2 ×0.995. The first layers keep their kernel: leaning them too
 * (branch ab/kxk-lean) took the CNN's 7×7/2 stem 3→64 off its copied tile,
 * `--model cnn` ×1.014.
 */
const KXK_LEAN = 1.3;

/**
 * The instructions a tile's store takes per vector (rankTiles' `store`): 3, and 4 more per
 * piece of the table's rows, each a masked store; where that store is microcoded (AVX2 on AMD,
 * `microcodesMaskedStores` in src/cpu.ts) {@link MICROCODED_MASKED_STORE} more each.
 */
function tableStore(segments: number, microcoded: boolean): number {
  return 3 + (4 + (microcoded ? MICROCODED_MASKED_STORE : 0)) * segments;
}

/**
 * What a microcoded `vmaskmovps` store costs beyond an ordinary one, in the estimate's
 * instructions (two a cycle): about 10 cycles. Zen 3, one thread (`deno run -A
 * bench/tune_candidates.ts --conv 1,16,55,55,64,3,1 --packed`): the 6×16 tile's table of
 * two pieces a vector took 803 µs against its rows' 660, some 50,000 masked stores more at
 * ~9 cycles each; where the tile's k loop is long beside its store the table still gains
 * (128→32 on 28² 744 against 800 µs: 1,152 steps a store), and so it still ranks first.
 */
const MICROCODED_MASKED_STORE = 20;

/** Channel tiles a block from which a 1×1 tile plan copies x (see {@link copiesXInTile}). */
const COPY_X_MIN_TILES = 8;

/**
 * Whether a tile plan copies x in its first channel tile. A network's first layer
 * ({@link firstLayer}): always.
 * Its other channel tiles then read each k step's vectors of x as one aligned row of the
 * copy, where in place a tap's vectors start anywhere in a plane's row (most of them two
 * lines' loads) at every channel tile. Intel Xeon shown as model 167 (AVX-512 + AMX), `deno
 * run -A bench/ab.ts --a 7206c4f --b ab/first-layer-x-copy --conv 1,3,224,224,OC,K,2,1,P`
 * (× the time, the same bits): ResNet's 7×7/2 stem ×0.936 (two threads ×0.950; x, y and
 * weights cold, `--rotate 4`, ×0.950), MobileNet's 3×3/2 stem (`--activation clip`) ×0.957
 * (×0.967; cold ×0.968); `--model cnn` ×0.995 and ×1.000, `--model mobilenet` ×1.000 and
 * ×0.999 at 1 and 2 threads (the stems are 4-12% of those models' time).
 *
 * A 1×1 layer: where x's band is past L2 and a block has {@link COPY_X_MIN_TILES} channel
 * tiles or more to read the copy. Read in place, each channel tile reads a few lines
 * of every input channel's plane, planes `h·w·4` bytes apart (128 pages a
 * pass of 128 channels, twice the first-level DTLB); the copy is a few
 * contiguous pages, as our GEMM's strips are (gemm/plan.ts copiesInTile),
 * which on the same operands had run 1.13× faster (`deno run -A
 * bench/conv_vs_gemm.ts`: 256→64 on 56² 555 against 490 µs). Intel Xeon
 * (SPR), one thread, copying always (branch tried/conv-x-in-tile-always):
 * `deno run -A bench/ab.ts --a 28e889f --b 72068c9 --conv 1,C,H,H,OC,1,1
 * --rotate 4` 256→64 on 56² ×0.943 of the time, 512→128 on 28² (x within
 * L2) ×1.006, 144→24 on 56² (4 tiles) ×0.964; with x in cache
 * (`bench/tune_candidates.ts --conv … --packed`, one process) 256→64 and
 * 256→128 on 56² ×0.955 and ×0.929, 512→128 on 28² ×1.013, 144→24 ×1.088;
 * `--model mobilenet` ×1.011, `--model resnet50` ×0.997. This rule (`--a 4f5e144 --b
 * 1cbab89`): 256→128 on 56² `--rotate 4` ×0.928, 256→64 ×0.979; `--model resnet50` ×0.992 at
 * 1 thread, ×0.999 at 2 (a part's band of x within L2).
 */
function copiesXInTile(
  s: ConvSpec,
  g: ConvGeometry,
  mr: number,
  ocBlock: number,
  l2: number,
): boolean {
  if (s.kh * s.kw > 1) return firstLayer(s);
  return 4 * g.cg * g.rows * s.w > l2 &&
    Math.ceil(Math.min(ocBlock, g.ocg) / mr) >= COPY_X_MIN_TILES;
}

/** Input channels (k steps) of a 1×1 layer from which its channel tiles may run outside. */
const OUTSIDE_MIN_INPUTS = 64;

/**
 * Whether a 1×1 layer's tile plan runs its channel tiles outside and the
 * position tiles inside (output-channel blocks of one tile): where y
 * outgrows L2, x (read in place) stays within half of it, and the k loop
 * is {@link OUTSIDE_MIN_INPUTS} input channels long or more. Position tiles
 * outside, each tile writes a few lines of every one of y's planes (and
 * reads as many of its residual's): hundreds of streams, which the
 * hardware prefetchers do not follow, so their lines are claimed a tile
 * ahead by software; a channel tile along a run writes its rows front to
 * back, a few streams the prefetchers follow, while x comes back from L2
 * once per channel tile: a short k loop waits on those loads instead.
 * Intel Xeon (SPR), one thread, `deno run -A bench/ab.ts --a 05337e4 --b
 * REV --conv 1,C,H,H,OC,1,1 …` (B's time over A's; REV the steps of this
 * rule on branch ab/channel-tiles-outside): 64→256 on 56² with relu ×0.945
 * (05dc0d6) and ×0.960 (fa81489), with its shortcut (`--residual --rotate
 * 4`) ×0.938 (05dc0d6); 128→512 on 40² with its shortcut ×0.929 (ff9722b);
 * 64→384 on 48² ×0.948 and 80→320 on 48² with its shortcut ×0.876
 * (fa81489). Shorter k loops lost (ff9722b): 48→256 on 56² ×1.137, 32→192
 * ×1.064, 16→96 on 112² ×1.077, 24→144 on 80² ×1.067; so did a y within L2
 * (05dc0d6): 24→144 on 56² ×1.101, 128→512 on 28² with its shortcut
 * ×1.022. `--model resnet50` ×0.984 (fa81489).
 * A core that says so (`short`: AMD at AVX2) runs short k loops' channel
 * tiles outside too, where an image's y is far past L2 (see
 * {@link SHORT_OUTSIDE_INPUTS}).
 */
function channelTilesOutside(
  s: ConvSpec,
  g: ConvGeometry,
  l2: number,
  short: boolean,
): boolean {
  if (!nextXServes(s, g) || s.group !== 1) return false;
  // (An image's y: at batch 4 of 56², 16→96 ran ×1.075 the time with all four images' y.)
  const imageBytes = outputBytes(s, g) / s.n;
  if (short && g.cg < SHORT_OUTSIDE_INPUTS && imageBytes > SHORT_OUTSIDE_L2S * l2) return true;
  return g.cg >= OUTSIDE_MIN_INPUTS && outputBytes(s, g) > l2 &&
    4 * g.cg * s.h * s.w <= l2 / 2;
}

/**
 * A core that runs short k loops' channel tiles outside (`runsShortChannelTilesOutside` in
 * src/cpu.ts) does so under this many input channels, where an image's y is past this many
 * times L2.
 */
const SHORT_OUTSIDE_INPUTS = 32, SHORT_OUTSIDE_L2S = 4;

/**
 * Input channels per pass over a position tile of `positions`: as many as
 * keep the planes' window of the pass (the cache lines its taps read, per
 * channel) in half of L1, in passes as even as whole k-loop iterations
 * allow, and at least 128 k steps each (a pass reloads and stores its
 * partial sums: about 2% of its FMA time then). All channels when they fit.
 */
export function icBlockFor(
  s: ConvSpec,
  g: ConvGeometry,
  positions: number,
  unrollIc: number,
  l1d: number,
): number {
  const bytes = windowBytes(g, positions), taps = s.kh * s.kw;
  // A K×K kernel's taps share their lines (3×3: about 150 bytes per k step against a 1×1's
  // 384): its window streams from L2 fast enough, and passes measured 3-5% slower there.
  if (bytes / taps < 256) return g.cg;
  const round = (c: number) => Math.ceil(c / unrollIc) * unrollIc;
  let kc = Math.floor(l1d / 2 / bytes / unrollIc) * unrollIc;
  kc = Math.max(kc, round(Math.ceil(128 / taps)));
  if (kc >= g.cg) return g.cg;
  return Math.min(g.cg, round(Math.ceil(g.cg / Math.ceil(g.cg / kc))));
}

/** Bytes of one input channel's planes a position tile of `positions` reads (its taps' lines). */
function windowBytes(g: ConvGeometry, positions: number): number {
  const lines = new Set<number>();
  for (const t of g.taps) {
    for (let l = Math.floor(t / 16); l <= Math.floor((t + positions) / 16); l++) lines.add(l);
  }
  return (lines.size + 1) * 64;
}

/** Whether a tile of `vectors` keeps its window of x (every input channel's lines) within half of L1. */
function windowFits(g: ConvGeometry, lanes: number, l1d: number): (vectors: number) => boolean {
  return (vectors) => g.cg * windowBytes(g, vectors * lanes) <= l1d / 2;
}

/**
 * AVX2: the cycles a tile's k step takes at least, its FMA chains'
 * latency (4) and the slack a tile of 8 accumulators (4 × 2: 2 FMAs a
 * cycle only if every chain issues the cycle it is ready) does not have.
 * 1×1 layers too since stop 123: priced at 4 they took 4×16 (8
 * accumulators) where 6×16 ran faster, and 1×56 (7) for deep inputs on
 * small images; `deno run -A bench/ab.ts --a 27e59b2 --b . --model M`
 * (inputs shared, stop 123; the swapped run in brackets): ResNet-50 ×0.979
 * (×1.010 old over new), ×0.994 at 2 threads, DenseNet-121 ×0.961,
 * MobileNetV2 ×0.992, Inception v2 ×0.992, the CNN ×1.004, SqueezeNet
 * ×0.986 (×1.007); `--conv 1,256,27,27,32,1,1` ×0.932, 128→512 on 28²
 * ×0.954. Priced at 4,
 * 4 × 16 was tier 1 on 3×3 layers of 32 output channels, at 81-87% of the
 * peak where the channel-vector kernel ran 91-93% (at 8bcb232, `deno run -A
 * bench/tune_candidates.ts --conv 1,32,128,128,32,3,1 --packed`, also
 * 64→32 on 128² and 32→32 on 64², Zen 3). Models, whose hot keys tier 2
 * tunes anyway (`bench/ab.ts --a 8bcb232 --b ea255e0 --model M`): the
 * U-Net ×0.984, the CNN, ResNet-50 and MobileNetV2 within ±0.6%.
 */
const AVX2_CHAIN_CYCLES = 5;

/** Inputs of a 1×1 layer up to which AVX2 ranks the widest of equal tiles first (rankTiles). */
const SHORT_1X1_INPUTS = 24;
/** …where y is larger than this. */
const WIDE_TILE_OUTPUT_BYTES = 1 << 20;

/**
 * Every register tile (channels × vectors) that fits, cheapest first, with
 * its estimated cycles for `channels` × `vectors` of outputs: per k step (of
 * `work`) a tile of m × n costs the larger of its FMAs (two per cycle), its
 * loads (n vectors and m broadcasts, two per cycle) and the FMA latency (4
 * cycles per chain), its store `store` instructions per vector (two per
 * cycle), and the edge tiles pay their own (a 7×7 image's 4 vectors are one 6×4 tile,
 * not 8×3 and a single-vector 8×1). Among equal estimates, more
 * accumulators; then, where the wider tile's window of x (every input
 * channel's lines it reads; `windowFits(vectors)`: within half of L1) would
 * not stay in L1 while the channel tiles pass over it, fewer vectors. Measured on
 * Zen 5, one thread, both tiles alternating in one process (1×1 layers,
 * 4×96 against 6×64): 96→24 on 56² 88.5 → 83.7 µs, 64→96 on 56² 200 →
 * 184; with the window in L1, 16→96 on 112² ran 194 against 203 and
 * 32→16 76.5 against 77.6, so the wider tile stays first there. At most 8
 * channels (broadcasts) per tile: on Zen 5 the broadcast-heavy 14×2 the
 * estimate ties with 6×4 ran 13% slower (3×3 512→512 on 7², 161 against
 * 184 GFLOPS).
 */
function rankTiles(
  s: ConvSpec,
  isa: VecIsa,
  mode: ConvStoreMode,
  channels: number,
  vectors: number,
  work: number,
  store: number,
  windowFits: (vectors: number) => boolean,
): { mr: number; ng: number; cost: number }[] {
  const extra = epilogueRegisters(s, isa, mode);
  // The tail tile of an AVX2 run reserves its mask register.
  const reserved = isa.level === "avx2" ? 1 : 0;
  const fits = (m: number, n: number) =>
    tileFits(isa, m, n, 1, reserved) && m * n + extra + reserved <= isa.nregs;
  // AVX2, kernels of several taps: a broadcast load counts 1.5 (the weights of a tile's
  // channels, each tap's a different line, come from L2 more than x's vectors do): 3×3
  // 512→512 on 7² took 8×8 runs (one vector, 8 broadcasts a step) at 59-60% of the peak where
  // 4×16 and 6×16 in the table ran 71-72% (`deno run -A bench/tune_candidates.ts --conv
  // 1,512,7,7,512,3,1 --packed`, Zen 3). 1×1 layers keep a broadcast at 1 (their chains at
  // AVX2_CHAIN_CYCLES since stop 123). ResNet-50 ×0.990 the time (`bench/ab.ts --model
  // resnet50`, the same bits).
  const severalTaps = isa.level === "avx2" && s.kh * s.kw > 1;
  const broadcast = severalTaps ? 1.5 : 1;
  const latency = isa.level === "avx2" ? AVX2_CHAIN_CYCLES : 4;
  const step = (m: number, n: number) =>
    work * Math.max((m * n) / 2, (m * broadcast + n) / 2, latency) + (m * n * store) / 2;
  const out: { mr: number; ng: number; cost: number }[] = [];
  for (let m = 1; m <= Math.min(channels, 8); m++) {
    for (let n = 1; n <= Math.min(vectors, 8); n++) {
      if (!fits(m, n)) continue;
      const mt = [[Math.floor(channels / m), m], [1, channels % m]];
      const nt = [[Math.floor(vectors / n), n], [1, vectors % n]];
      let cost = 0;
      for (const [cm, sm] of mt) {
        for (const [cn, sn] of nt) if (cm && sm && cn && sn) cost += cm * cn * step(sm, sn);
      }
      out.push({ mr: m, ng: n, cost });
    }
  }
  // Cheapest first; among equal estimates, for an AVX-512 first layer (at most 4 input
  // channels a group, a K×K window: k steps of the taps alone) no edge tile of one or two vectors, then
  // channels in whole tiles; then more accumulators, then the window rule above. The estimate
  // prices edge tiles at their FMAs, which they miss there: ResNet's 7×7/2 stem (7 vectors a
  // row) ran its 5×80 tile, a 5×2 edge, at 83.7-88.9% of the peak and 4×64 (a 4×3 edge, 64
  // channels in whole tiles) at 90.0-91.1%; 3×3 3→64 on 224² (14 vectors) 4×80 at 77.7%
  // against 4×64's (a 4×2 edge) 72.9%; 7×7/2 3→64 on 112² 4×80 at 89.6% against 5×80's 85.5%
  // (`deno run -A bench/tune_candidates.ts --conv 1,3,224,224,64,7,2`, Zen 5). Deeper layers
  // keep their rule (1×1 64→256 on 56²: 4×64 and 4×96 within 1-3% of 6×64).
  // AVX-512 only: at AVX2 (16 registers) more accumulators matter more (the stem's 6×16 ran
  // at 93.5% against 4×16's 82.5%, `... --conv 1,3,224,224,64,7,2 --isa avx2`).
  const first = isa.level === "avx512" && firstLayer(s);
  const thin = (t: { ng: number }) => first && vectors % t.ng > 0 && vectors % t.ng < 3 ? 1 : 0;
  const split = (t: { mr: number }) => (first && channels % t.mr > 0 ? 1 : 0);
  // AVX2, a 1×1 of few inputs (its store about as dear as its k loop) writing a y past L2:
  // among equal estimates the widest tile, fewer planes written at a time, each a longer run.
  // Zen 3, one thread, `deno run -A bench/tune_candidates.ts --conv 1,C,H,H,OC,1,1 --packed`:
  // 16→96 on 112² 6×16 521.9 µs, 2×32 464.6; 24→144 on 56² 298.2 and 278.4; from 32 inputs
  // no longer (32→192 on 28² 124.2 against 3×24's 122.3; 32→16 on 112² 177.6 against 210.1;
  // 48→256 on 56² 862.2 against 850.2; 64→256 on 56² 1314.9 against 1715.1).
  const wide = isa.level === "avx2" && s.kh * s.kw === 1 && work <= SHORT_1X1_INPUTS &&
    4 * s.n * s.oc * vectors * isa.lanes > WIDE_TILE_OUTPUT_BYTES;
  return out.sort((x, y) =>
    Math.abs(x.cost - y.cost) > 1e-9
      ? x.cost - y.cost
      : thin(x) - thin(y) || split(x) - split(y) || (wide ? y.ng - x.ng : 0) ||
        y.mr * y.ng - x.mr * x.ng ||
        (windowFits(Math.max(x.ng, y.ng)) ? y.ng - x.ng : x.ng - y.ng)
  );
}

/**
 * Among the tiles the estimate puts within 1% of the best, the one of the
 * fewest channel tiles (then the most accumulators, then the estimate's
 * order). Measured on Zen 5, one thread, 1×1 layers on 56² whose x is past
 * L2 (`deno run -A bench/tune_candidates.ts --conv 1,C,56,56,OC,1,1
 * --packed`, 8×48 in fewer passes against the 6×64 the estimate ranked
 * first, interleaved, two runs each): 96→24 77.1 / 77.6 against 80.7 /
 * 80.3 µs, 96→32 98.8 / 99.4 against 105.1 / 105.8, 128→24 103.4 / 98.1
 * against 105.0 / 103.6, 192→24 165.5 / 150.5 against 184.7 / 151.6, 144→24
 * 120.3 against 123.4. Not with few inputs (32→16 on 112²: 85.6 against
 * the 4×96 tile's 83.6) nor x in L2 (64→256 on 56²: 572.5 against 562.8).
 */
function fewestPasses<T extends { mr: number; ng: number; cost: number }>(
  ranked: T[],
  channels: number,
): T | undefined {
  const best = ranked[0];
  if (best === undefined) return undefined;
  return fewestPassesOf(ranked.filter((t) => t.cost <= best.cost * 1.01), channels) ?? undefined;
}

/** Channel tiles of `mr` channels over `channels`: passes over x's run. */
function channelPasses(t: { mr: number }, channels: number): number {
  return Math.ceil(channels / t.mr);
}

/** The tile of the fewest channel passes, then the most accumulators, then the first listed. */
function fewestPassesOf<T extends { mr: number; ng: number }>(
  tiles: T[],
  channels: number,
): T | null {
  let pick: T | null = null;
  for (const t of tiles) {
    const fewer = pick === null || channelPasses(t, channels) < channelPasses(pick, channels);
    const tied = pick !== null && channelPasses(t, channels) === channelPasses(pick, channels);
    if (fewer || (tied && t.mr * t.ng > pick!.mr * pick!.ng)) pick = t;
  }
  return pick;
}

/**
 * AVX2: a 1×1 layer over more than a flat band (256 positions), or
 * strided, stays with the position-vector kernel. Strided, its planes are
 * x subsampled once where the channel-vector kernel reads every other
 * float a plane apart each k step; over a large band its stores are long
 * runs of a channel where a channel-vector tile writes 16 planes 24 bytes
 * each. Measured on Zen 3, alone (`deno run -A bench/tune_candidates.ts
 * --conv … --packed --cold`, µs, channel vectors against the best tile):
 * 1×1 256→512 /2 on 56² 3289-3439 against 2633, 512→1024 /2 on 28²
 * 3381-3691 against 2629, 1×1 256→64 on 56² 1309 against 1387, 256→128 on
 * 56² 2602 against 3008; in ResNet-50 (`bench/ort_profile.ts zoo:resnet50`,
 * 88ba87d's position kernel against 18e5449's channel vectors) 1×1 256→64
 * on 56² 1164 against 1537, 256→128 on 56² 2307 against 2949, 512→256 on
 * 28² 2285 against 2713. 3×3 layers gain at every size and 1×1 ones on 14²
 * and 7² (see channel_vectors.ts).
 */
function avx2PositionsFirst(s: ConvSpec, g: ConvGeometry): boolean {
  return s.kh * s.kw === 1 && (g.rows * g.ow > 256 || s.sh > 1 || s.sw > 1);
}

/**
 * A first layer's strided window of 5×5 and up ({@link firstLayer}; ResNet's 7×7/2 stem): its
 * planes past half of L2 (3 channels of 224², on a 1 MiB L2) do not lean it to channel vectors,
 * whose stride-2 broadcasts read each line of x for half its floats, tap by tap; the tile
 * kernel's phase planes read them whole. Zen 5 (1 MiB L2), `deno run -A bench/ab.ts --a
 * becfdd1 --b 36df16a --conv 1,3,224,224,64,7,2,1,3` ×0.929 of the time (pairs' middle half
 * 0.904-0.963), `--model cnn` ×0.977 and ×0.969 at 2 threads; an earlier run of the rule's
 * first form (every first layer, `--b ab/stem-planes-lean`) read ×0.864 on the stem (`--rotate
 * 4` ×0.877, 2 threads ×0.881) and ×0.971 / ×0.957 on the CNN. 3×3 stems keep the
 * lean, unresolved either way: 3→64 on 224² ×1.020-1.042, 3→32 3×3/2 ×1.006.
 */
function wideStridedStem(s: ConvSpec): boolean {
  return firstLayer(s) && s.kh * s.kw >= FEW_INPUTS_MIN_TAPS && (s.sh > 1 || s.sw > 1);
}

/** Fewest taps (kh·kw) for fewInputsStrided's rule: 5×5 and up. */
const FEW_INPUTS_MIN_TAPS = 25;

/**
 * A first layer's wide convolution at a stride ({@link firstLayer}, 5×5 and up, AVX-512 on a core that takes a broadcast inside the FMA, `embedBroadcast`: Intel):
 * the channel-vector kernel with one vector of output channels × 16 columns, each FMA loading
 * its own broadcast of x. (Measured on Intel only: on Zen 5, whose FMAs keep a broadcast in a
 * register, tier 2 had found the channel-vector kernel 74-77% of the peak on the 7×7/2 stem
 * where the tile kernel ran 93%; see README, stop 79.) It broadcasts x's elements where they are, whatever the stride, where the tile
 * kernel first copies x into phase planes (four at stride 2). One vector, not tier 1's two ×
 * 14 columns (slower than the tile kernel on these layers). Intel Xeon (SPR), `deno run -A
 * bench/ab.ts --a 4ea5998 --b b1744da --conv 1,3,224,224,OC,K,2,1,P` (relu; the same bits):
 * ResNet's 7×7/2 3→64 ×0.969 of the time at one thread, 5×5/2 3→32 ×0.879; at two threads
 * ×0.998 and ×1.023 (unresolved: pairs' middle halves 0.957-1.035 and 0.974-1.068). Not 3×3
 * (the rule on 3×3 too: `--b 6d34f5f`, ab/few-inputs-3x3, then `--b e4cfc54`; `--activation
 * clip`): MobileNet's stem 3→32 ×1.005 and ×0.977 at one thread, ×1.271 and ×1.282 at two;
 * 3→16 ×0.882 at one, ×1.407 and (6d34f5f against 4ea5998 in a faster spell of the host)
 * ×0.866 at two; MobileNetV2 (`--a 3a14d04 --b e4cfc54 --model mobilenet`) ×0.993 and ×0.994
 * at one and two. Why the stem's 2-thread calls lose beside the tile kernel's is not found:
 * each alone (`--a R --b R`) took 150-155 µs either way.
 */
function fewInputsStrided(s: ConvSpec, isa: VecIsa, embed: boolean): boolean {
  return isa.level === "avx512" && embed && firstLayer(s) &&
    s.kh * s.kw >= FEW_INPUTS_MIN_TAPS && (s.sh > 1 || s.sw > 1);
}

/**
 * A first layer's strided K×K convolution ({@link firstLayer}) of one vector of output channels (16; MobileNetV3's and EfficientNet-lite's 3×3/2 3→16 stems) on a
 * core that embeds a lone broadcast (`embedsLoneBroadcast`: Intel): tier 1's channel-vector
 * tile, each FMA loading its broadcast of x where it lies, where the tile kernel first builds
 * the phase planes (about 30 µs of a 224² stem here) and estimates them cheaper. Intel Xeon
 * shown as model 167, tier 2's candidates in one process (`deno run -A
 * bench/tune_candidates.ts --conv 1,3,224,224,16,3,2,1,1 --packed [--threads 2]`): the
 * channel-vector tile 73.3 µs against the tile kernel's 111.6-114.1 at one thread (tier 1's,
 * both ways), 43.2 against 54.8 at two; `deno run -A bench/ab.ts --a e427cea --b
 * ab/narrow-first-layer --conv 1,3,224,224,16,3,2,1,1 --activation clip` ×0.885 of the time
 * (operands cold, `--rotate 4`, ×0.771), `--conv 1,4,160,160,16,5,2,1,2` ×0.883. (Two Jits
 * alternating at two threads, `bench/ab.ts --threads 2`, read ×1.44-1.54 here where each
 * alone read 39.3 against 48.4 µs: two pools in turn, one per checkout, not the kernel; see
 * bench/ab.ts.) 32 channels (two vectors, no embedding) stay on the tile kernel, not resolved either way:
 * their channel tile 175 against 191 µs at one thread in tune_candidates but ×1.007 in
 * `bench/ab.ts --a e427cea --b ab/stem-cv --conv 1,3,224,224,32,3,2,1,1 --activation clip`, a
 * tie at two threads in one Jit (101-103 against 98-106 µs), MobileNetV2 with them ×0.982 /
 * ×0.988 at 1 / 2 threads (`--model mobilenet`; pairs' middle halves across 1).
 */
function narrowFirstLayer(s: ConvSpec, g: ConvGeometry, isa: VecIsa, lone: boolean): boolean {
  return isa.level === "avx512" && lone && firstLayer(s) && g.ocg <= channelVectorLanes(isa) &&
    (s.sh > 1 || s.sw > 1);
}

/**
 * Tier 1's channel-vector tile (NCHW): channelVectorTile's, a row's pieces in chunks where they
 * gain. A 1×1 convolution's tiles share a broadcast register between their two FMAs whatever
 * the core prefers (`embedBroadcast`): each input is used once a tile, from L2 past a few
 * hundred channels, and one load per FMA (two per input, beside the weights' two vectors) ran
 * the load ports past the FMAs' pace. Intel Xeon (SPR), tier 2's candidates, one thread
 * (`deno run -A bench/tune_candidates.ts --conv 1,C,H,H,OC,1,1 --packed`, the shared register
 * against tier 1's embedded broadcasts, head to head): 576→96 on 14² ×1.085, 160→960 on 7²
 * ×1.129, 960→160 on 7² ×1.104, 320→1280 on 7² ×1.085, 1024→256 on 14² ×1.062, 2048→512 on 7²
 * ×1.073; the 3×3 layers (512→512 on 7², 256→256 on 14²) ran the same either way. `deno run
 * -A bench/ab.ts --a 3c252e4 --b 0e06bd9 --conv 1,C,H,H,OC,1,1`: 960→160 on 7² ×0.776 of the
 * time (pairs' middle half 0.902-0.925), 1024→256 on 14² ×0.932, 96→576 on 14² (clip) ×0.950;
 * `--model` MobileNetV2 ×0.981 (2 threads ×0.966), ResNet-50 ×0.965. A K×K layer's tile of
 * one vector (16 output channels) broadcasts as the core prefers with no register to share
 * (`lone`: `embedsLoneBroadcast` in src/cpu.ts), one of two as it prefers with one (`embed`).
 */
function tierOneTile(
  isa: VecIsa,
  s: ConvSpec,
  g: ConvGeometry,
  embed: boolean,
  lone: boolean,
  l1d: number,
  l2: number,
): ChannelVectorTile {
  const t = channelVectorTile(isa, g, false);
  // AVX2: a layer with a residual whose y passes half of L2 fetches the next tile's lines of y
  // and the residual (ChannelVectorTile.nextOut), which a model's run finds cold: both written
  // layers ago. Zen 3, one thread, caches flushed (`deno run -A bench/tune_candidates.ts --conv
  // … --packed --residual --cold`, tier 1 against the tile that fetches, µs): 1×1 256→1024 on
  // 14² 1778 against 1617, 3×3 64→64 on 56² 3168 against 3085, 128→128 on 28² 2861 against
  // 2721; `deno run -A bench/ab.ts --a ab4db6f --b ab/avx2-next-out --model M` ResNet-50 ×0.971
  // and ×0.982 (2 threads ×0.999), onnx's light ResNet-50 ×0.968, the CNN ×0.993 (×1.000).
  // Smaller residual layers (MobileNetV2's, y within L2) keep the measured default.
  if (isa.level === "avx2" && s.residual && !s.nhwc && 4 * g.ocg * g.rows * g.ow > l2 / 2) {
    t.nextOut = true;
  }
  const xBytes = 4 * g.cg * s.h * s.w, wBytes = 4 * g.ocg * g.cg * s.kh * s.kw;
  if (
    isa.level === "avx2" && !s.nhwc && !t.flat && g.ocg > channelVectorLanes(isa) * t.vectors &&
    xBytes > 4 * l2 && wBytes <= l2 / 2
  ) t.rowsOuter = true;
  const embeds = s.kh * s.kw > 1 && isa.level === "avx512" && (t.vectors === 1 ? lone : embed);
  return { ...t, embed: embeds, icChunk: channelVectorChunk(isa, s, g, t, l1d) };
}

/**
 * The channel-vector tile for NHWC: each k step broadcasts one element of
 * every position of the tile, positions c·4 bytes apart, so their lines
 * fall in L1 sets 64 / gcd(c/16, 64) apart: at 1024 channels all in one set,
 * where 14 positions outnumber its 12 ways and evict each other every step
 * (1×1 1024→256 on 14²: 1.62× the NCHW call's time with 14 positions, Zen
 * 5). At most 8 positions per set.
 *
 * Its broadcasts share a register between the tile's two FMAs on every core (`embedBroadcast`
 * aside): a position's inputs are c floats from the next position's, so embedded, each FMA's
 * broadcast was a load from one of 14 lines. Intel Xeon (SPR), `deno run -A bench/ab.ts --a
 * d4c9317 --b 52f6770 --conv 1,C,H,H,OC,K,S --nhwc --activation relu` (× the time, same bits):
 * 3×3 64→64 on 56² ×0.853, 128→128 /2 ×0.828, 256→256 on 14² ×0.782, 512→512 on 7² ×0.809, 1×1
 * 1024→256 on 14² ×0.841, 64→256 on 56² ×0.947, 16→96 on 112² ×1.002; 64→64 with its residual
 * on 2 threads ×0.925.
 */
function nhwcTile(isa: VecIsa, s: ConvSpec, g: ConvGeometry, l2: number): ChannelVectorTile {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const sets = s.cTotal % 16 === 0 ? 64 / gcd((s.cTotal / 16) % 64 || 64, 64) : 64;
  const first = channelVectorTile(isa, g, false);
  const most = 8 * sets;
  const t = first.width > most || first.rows * first.width > most
    ? channelVectorTile(
      isa,
      g,
      false,
      first.vectors,
      Math.max(1, Math.min(most, channelVectorPositions(first.vectors, isa))),
    )
    : first;
  // AVX2: every block of output channels over a row of tiles before the next row (see
  // ChannelVectorTile.rowsOuter), where there are blocks to share it and their weights stay in
  // L2.
  const wBytes = 4 * g.ocg * g.cg * s.kh * s.kw;
  if (
    isa.level === "avx2" && !t.flat && g.ocg > channelVectorLanes(isa) * t.vectors &&
    wBytes <= l2 / 2
  ) return { ...t, rowsOuter: true };
  return t;
}

/**
 * Tier 2's depthwise choices: tiles of rows × vectors that fit the planner's
 * register budget (accumulators beside the weights, a load, a bias and the
 * activation's registers), the planner's own left out.
 */
function depthwiseChoices(s: ConvSpec, plan: ConvPlan, tile: DepthwiseTile): ConvChoice[] {
  const g = convGeometry(s), isa = vecIsa(plan.isa);
  const act = s.activation ? 1 + activationTemps(isa, s.activation) : 0;
  const budget = depthwiseBudget(s, act, plan.isa);
  const rowsMost = Math.min(g.rows, depthwiseRowsMost(s));
  const out: ConvChoice[] = [];
  // Where tier 1 took the plane one row a vector (rows of 9-16 columns): the row tile it
  // would take otherwise, then the others.
  const rowTile = tile.packed === 1 ? depthwiseRowTile(s, g, act, plan.isa) : null;
  if (rowTile) {
    const depthwise = { rows: rowTile.rows, vectors: rowTile.vectors };
    out.push({ mode: "runs", mr: 1, ng: rowTile.vectors, l2: plan.l2, depthwise });
  }
  const own = rowTile ?? tile;
  for (let v = 1; v <= Math.min(Math.ceil(g.ow / isa.lanes), 7); v++) {
    for (let r = 1; r <= rowsMost; r++) {
      if (r * v > budget || r * v < budget / 3 || (r === own.rows && v === own.vectors)) {
        continue;
      }
      out.push({ mode: "runs", mr: 1, ng: v, l2: plan.l2, depthwise: { rows: r, vectors: v } });
    }
  }
  return out.slice(0, 8);
}

/** Tier 2's NHWC depthwise choices: the other order, and other rows in tier 1's. */
function depthwiseNhwcChoices(plan: ConvPlan): ConvChoice[] {
  const own = plan.depthwise!, inner = own.channelsInner ?? false;
  const tiles: [boolean, number][] = [[!inner, inner ? 2 : 3]];
  for (const rows of [1, 2, 3, 4]) if (rows !== own.rows) tiles.push([inner, rows]);
  return tiles.map(([channelsInner, rows]) => ({
    mode: "runs" as const,
    mr: 1,
    ng: 1,
    l2: plan.l2,
    depthwise: { rows, vectors: 1, channelsInner },
  }));
}

/**
 * Tier 2's choices for a planned convolution: the best tiles of each store
 * mode by the estimate (the planner's own pick left out), and the plan's
 * tile with channel blocks sized for half and twice its L2 bytes.
 */
export function convChoices(
  s: ConvSpec,
  plan: ConvPlan,
  threads = false,
  perMode = 5,
): ConvChoice[] {
  if (plan.isa === "scalar") return [];
  if (plan.depthwise !== null && s.nhwc) return depthwiseNhwcChoices(plan);
  if (plan.depthwise !== null) return depthwiseChoices(s, plan, plan.depthwise);
  // A transposed convolution by phases: its other tile only. Not the upsampled kernel's
  // tiles: they multiply the upsampled zeros too, which a ±Inf or NaN weight turns into NaN
  // where the phases (and ONNX's definition) give its product's value, so a tuned key would
  // change its bits; and they ran 3-4× slower (`deno run -A bench/tune_candidates.ts --conv
  // 1,64,80,80,64,2,2 --packed --transposed`, also 4×4/2 64→32 on 40², 3×3/2 32→16 on 56²).
  if (phasesServe(s, vecIsa(plan.isa))) {
    const isa = vecIsa(plan.isa);
    // AVX2: the columns tile is the only one.
    if (isa.level === "avx2") return [];
    const lanes: PhaseLanes[] = [
      ...(positionsServe(s, isa) ? ["positions" as const] : []),
      ...(columnsServe(s, isa, convGeometry(s)) ? ["columns" as const] : []),
      "channels",
    ];
    return lanes.filter((l) => l !== plan.phases).map((l) => ({
      mode: "runs",
      mr: 1,
      ng: 1,
      l2: plan.l2,
      phases: l,
    }));
  }
  // Split calls of one image and group: parts over output channels or over rows of the output.
  const splits: ConvChoice[] = [];
  if (threads && s.n === 1 && !s.flip && (s.group === 1 || plan.depthwise === null)) {
    const ways = s.group === 1 ? ["channels", "rows"] as const : ["groups", "rows"] as const;
    for (const split of ways) {
      splits.push({
        mode: plan.mode,
        mr: plan.mr,
        ng: plan.ng,
        l2: plan.l2,
        split,
        ...(plan.cv ? { cv: plan.cv } : {}),
      });
    }
  }
  const isa = vecIsa(plan.isa), g = convGeometry(s), L = isa.lanes;
  // The other kernel, and the channel-vector kernel's other tiles: one vector of channels,
  // narrower pieces of a row.
  const cvs: ConvChoice[] = [];
  if (channelVectorsServe(s, isa)) {
    // On a strided 1×1's subsampled planes or on channel blocks, the tiles of the call they
    // make (each marked so), and the in-place tile besides.
    const planes = subsampledServes(s, isa, g), packedX = !planes && packedXServes(s, isa, g);
    const q = tileCall(s, g, { planes, packedX });
    const mark = (t: ChannelVectorTile): ChannelVectorTile =>
      planes ? { ...t, planes } : packedX ? { ...t, packedX } : t;
    // Around tier 1's own tile where a rule of its own chose it (a first layer's: one vector).
    const e = plan.embedBroadcast;
    const first = plan.cv !== null && fewInputsStrided(s, isa, plan.embedBroadcast)
      ? plan.cv
      : mark(tierOneTile(isa, q.s, q.g, e, plan.embedLoneBroadcast, plan.l1d, plan.l2));
    const tiles = [
      first,
      // Chunks of input channels over a row's pieces: the others than tier 1's.
      ...[0, 16, 32].filter((c) => c !== first.icChunk).map((icChunk) => ({ ...first, icChunk }))
        .filter((t) => t.icChunk === 0 || channelVectorChunks(q.s, q.g, t) > 1),
      { ...first, nextBlock: !first.nextBlock },
      // NCHW: the next tile's y fetched or not (tier 1's other way), x not fetched ahead.
      ...(s.nhwc ? [] : [{ ...first, nextOut: !first.nextOut }, { ...first, xAhead: 0 }]),
      // NCHW: the next row's x fetched or not; each row through every block or not.
      ...(first.flat ? [] : [
        ...(s.nhwc ? [] : [{ ...first, xNextRows: !first.xNextRows }]),
        { ...first, rowsOuter: !first.rowsOuter },
      ]),
      ...(isa.level === "avx512" ? [{ ...first, embed: !first.embed }] : []),
      ...(planes || packedX
        ? [tierOneTile(isa, s, g, e, plan.embedLoneBroadcast, plan.l1d, plan.l2)]
        : []),
    ];
    const CL = channelVectorLanes(isa);
    // (A one-vector tile of a K×K layer broadcasts as tier 1's would: `embedLoneBroadcast`.)
    const lone = s.kh * s.kw > 1 ? plan.embedLoneBroadcast : e;
    if (g.ocg > CL) tiles.push(mark(channelVectorTile(isa, q.g, lone, 1)));
    // Narrower pieces; at AVX2 also a row's pieces where tier 1 took flat tiles.
    const widths = isa.level === "avx2" ? [4, 5] : [8, 11];
    for (const width of widths) tiles.push(mark(channelVectorTile(isa, q.g, e, 2, width)));
    if (first.flat) {
      tiles.push(mark(channelVectorTile(isa, q.g, e, first.vectors, first.width, false)));
    }
    const seen = new Set(plan.cv ? [JSON.stringify(plan.cv)] : []);
    for (const t of tiles) {
      if (seen.has(JSON.stringify(t))) continue;
      seen.add(JSON.stringify(t));
      cvs.push({ mode: "runs", mr: CL * t.vectors, ng: 1, l2: plan.l2, cv: t });
    }
  }
  if (s.nhwc) return [...splits, ...cvs]; // no other kernel computes NHWC
  const work = g.cg * s.kh * s.kw;
  const pitched = g.wq > g.ow;
  const modes: { mode: ConvStoreMode; segments: number; run: number }[] = [
    { mode: "runs", segments: 0, run: pitched ? g.ow : g.positions },
  ];
  const pieces = tableSegments(g, isa);
  if (pieces) modes.push({ mode: "table", segments: pieces, run: g.positions });
  const out: ConvChoice[] = [];
  for (const m of modes) {
    const fits = windowFits(g, L, plan.l1d);
    const ranked = rankTiles(
      s,
      isa,
      m.mode,
      g.ocg,
      Math.ceil(m.run / L),
      work,
      tableStore(m.segments, plan.microcodedMaskedStores),
      fits,
    )
      .filter((t) => !(m.mode === plan.mode && t.mr === plan.mr && t.ng === plan.ng));
    const top = ranked.slice(0, plan.cv || plan.phases ? 2 : perMode);
    // And the tile of the fewest channel tiles (each a pass over x's run; the estimate prices
    // none), the most accumulators first, where its near ties leave it out: 1×1 96→24 on 56²
    // (x past L2) ran 8×48 in 3 passes at 77.1 µs against tier 1's 6×64 in 4 at 80.7 (`deno
    // run -A bench/tune_candidates.ts --conv 1,96,56,56,24,1,1 --packed`, Zen 5), ranked 4th
    // behind ties by a 0.06% edge-tile surcharge; 32→16 on 112² ran it slower (85.6 against
    // 83.6): a candidate, not a rule.
    const fewest = fewestPassesOf(ranked, g.ocg);
    // Second: the first two go ahead of the channel-vector kernel's variants (below).
    if (
      fewest && !top.includes(fewest) && channelPasses(fewest, g.ocg) < channelPasses(plan, g.ocg)
    ) {
      top.splice(1, 0, fewest);
    }
    for (const t of top) out.push({ mode: m.mode, mr: t.mr, ng: t.ng, l2: plan.l2 });
  }
  // Input-channel passes: none, or twice as long.
  if (!plan.cv && !plan.phases && plan.icBlock < g.cg) {
    const base = { mode: plan.mode, mr: plan.mr, ng: plan.ng, l2: plan.l2 };
    out.push({ ...base, icBlock: g.cg });
    if (plan.icBlock * 2 < g.cg) out.push({ ...base, icBlock: plan.icBlock * 2 });
  }
  if (!plan.cv && !plan.phases && (plan.ocBlock < g.ocg || g.ocg * work * 4 > plan.l2 / 4)) {
    for (const l2 of [plan.l2 / 2, plan.l2 * 2]) {
      out.push({ mode: plan.mode, mr: plan.mr, ng: plan.ng, l2 });
    }
  }
  // Tier 1's tile with x fetched tiles ahead or not, against the rule (x from
  // L3 or DRAM in a model), ahead of the other kernels' tiles: the cap on candidates.
  const fetchX: ConvChoice[] = !plan.cv && !plan.phases && nextXServes(s, g)
    ? [{ mode: plan.mode, mr: plan.mr, ng: plan.ng, l2: plan.l2, nextX: !plan.nextX }]
    : [];
  // Tier 1's tile with its channel tiles outside or not, against the rule, where y outgrows
  // half of L2 (x from L3 in a model may favour either).
  const outside: ConvChoice[] = !plan.cv && !plan.phases && nextXServes(s, g) && s.group === 1 &&
      outputBytes(s, g) > plan.l2 / 2
    ? [{
      mode: plan.mode,
      mr: plan.mr,
      ng: plan.ng,
      l2: plan.l2,
      channelTilesOutside: !channelTilesOutside(s, g, plan.l2, plan.shortChannelTilesOutside),
    }]
    : [];
  // Tier 1's tile with x copied by its first channel tile or not, against the rule, near its
  // line only (x's band past half of L2, half the tiles): a candidate elsewhere took a place
  // under the cap from the channel-vector kernel's.
  const copyX: ConvChoice[] = !plan.cv && !plan.phases &&
      xInTileServes(s, g, plan.isa, plan.mode, plan.mr, plan.ocBlock) &&
      (plan.xInTile || copiesXInTile(s, g, 2 * plan.mr, plan.ocBlock, plan.l2 / 2))
    ? [{ mode: plan.mode, mr: plan.mr, ng: plan.ng, l2: plan.l2, xInTile: !plan.xInTile }]
    : [];
  // Tier 1's tile with its taps unrolled, or in periods, against TAP_PERIODS' rule.
  const periods: ConvChoice[] = !plan.cv && !plan.phases && plan.unrollIc === 1 &&
      tilePeriods(s, g) !== null
    ? [{ mode: plan.mode, mr: plan.mr, ng: plan.ng, l2: plan.l2, periods: !plan.tapPeriods }]
    : [];
  // A tile plan's next two tiles before the channel-vector kernel's variants: those fill
  // the cap (a 1×1 96→24 on 56² tried ten of them, at 49-66% of the peak, and no other tile).
  if (!plan.cv) {
    return [
      ...splits,
      ...fetchX,
      ...copyX,
      ...outside,
      ...periods,
      ...out.slice(0, 2),
      ...cvs,
      ...out.slice(2),
    ];
  }
  return [...splits, ...fetchX, ...cvs, ...out];
}
