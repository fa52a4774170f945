/**
 * Tier 2's candidates for a GEMM: plans that compute exactly the bits of
 * the tier-1 plan. What fixes a GEMM's bits is each element's summation:
 * the K blocks (kc: each block's sum starts at zero and is added into C),
 * the accumulator sets (kSplit), and the C update. So candidates keep kc
 * and kSplit and vary the rest: the tile (mr × nr), unrolling, prefetching
 * of the next strip, and direct against packed drivers (same kc blocks).
 *
 * Tiles change which elements are edge tiles, and the packed driver's edge
 * update rounds alpha·acc and beta·C separately where full tiles fuse them
 * (FMA): so tiles and drivers vary only when alpha = 1 and beta is 0 or 1,
 * where every update is one exact operation (acc, or acc + C). The tests
 * run every candidate of many shapes against tier 1, bit for bit.
 *
 * @module
 */
import type { Target } from "../family.ts";
import { vecIsa, type VecLevel } from "../vec.ts";
import {
  type DirectPlan,
  stripBufferBytes,
  transposedBBytes,
  transposedRowFloats,
} from "./direct.ts";
import { tileFits } from "./microkernel.ts";
import { type PackedPlan, packedWorkspace } from "./packed.ts";
import { otherSplit } from "./partition.ts";
import { describeDirect, type GemmPlan, panelView, peelsB } from "./plan.ts";
import type { GemmSpec } from "./spec.ts";

/** Register tiles tried (rows × vectors), per ISA. */
const DIRECT_TILES: Record<VecLevel, [number, number][]> = {
  scalar: [],
  sse2: [[4, 3], [6, 2], [3, 4], [8, 1], [4, 2]],
  avx2: [[4, 3], [6, 2], [3, 4], [5, 2], [8, 1], [2, 6]],
  avx512: [[6, 4], [8, 3], [4, 4], [12, 2], [4, 6], [5, 5], [14, 1]],
};

/** Packed microkernels tried (rows × columns), per ISA. */
const PACKED_TILES: Record<VecLevel, [number, number][]> = {
  scalar: [],
  sse2: [[6, 8], [4, 12]],
  avx2: [[6, 16], [4, 24], [8, 8]],
  avx512: [[6, 64], [12, 32], [8, 48], [14, 16]],
};

/** The GEMM family's `candidates`. */
export function gemmCandidates(s: GemmSpec, p: GemmPlan, t: Target, parts = 1): GemmPlan[] {
  if (p.level !== 3 || p.isa === "scalar") return [];
  const out: GemmPlan[] = [];
  // Split calls first (same kernel, so cheap to try; listed after the tiles they were cut
  // by the candidate cap and never ran). A skinny plan: in parts along N (each column's sum
  // is the same FMA chain). Direct and packed plans: the dimension tier 1 does not cut.
  if (parts > 1 && p.path === "skinny") {
    out.push({ ...p, splitAlong: "n", description: `${p.description}, parts along N` });
  }
  const other = parts > 1 && (p.path === "direct" || p.path === "packed")
    ? otherSplit(s, p, parts)
    : null;
  if (other !== null) {
    out.push({
      ...p,
      splitAlong: other,
      description: `${p.description}, parts along ${other.toUpperCase()}`,
    });
  }
  out.push(
    ...(p.path === "direct"
      ? directCandidates(panelView(s, p), p, t)
      : p.path === "packed"
      ? packedCandidates(s, p)
      : []),
  );
  return out;
}

/** Whether tiles and drivers may vary (every C update one exact operation). */
function tilesFree(s: GemmSpec): boolean {
  return s.alpha === 1 && (s.beta === 0 || s.beta === 1);
}

/** The K block a plan sums in (k: one block). */
function kBlock(s: GemmSpec, kc: number | undefined): number {
  return kc === undefined || kc >= s.k ? s.k : kc;
}

function directCandidates(s: GemmSpec, p: GemmPlan, t: Target): GemmPlan[] {
  const d = p.direct!, isa = p.isa, v = vecIsa(isa);
  const out: GemmPlan[] = [];
  const make = (x: DirectPlan): GemmPlan => {
    let workspaceBytes = p.workspaceBytes;
    if (x.transposeStrips || x.copyStrips) workspaceBytes = stripBufferBytes(x.kc ?? s.k, x.nr);
    else if (x.transposeB) workspaceBytes = transposedBBytes(s.k, x.transposeB);
    const loops = x.unroll !== d.unroll ? `, unroll ${x.unroll}` : "";
    const copied = p.panelsCopied ? " copied per call" : "";
    const panels = s.bPanel ? `panels of ${s.bPanel}${copied}, each ` : "";
    const description = describeDirect(s, isa, x).replace(`L3 ${isa} `, `L3 ${isa} ${panels}`);
    return { ...p, direct: x, workspaceBytes, description: description + loops };
  };
  // An activation's epilogue on the accumulators or by a pass over the stored tile (first:
  // only epilogue calls have it, and the candidate cap would cut it last).
  if (s.epilogue?.activation) {
    // B in panels: by each panel's pass, or per tile as the tile's registers allow.
    if (s.bPanel) out.push(make({ ...d, epilogueByPanel: !d.epilogueByPanel }));
    if (!d.epilogueByPanel) out.push(make({ ...d, epilogueByPass: !d.epilogueByPass }));
  }
  // B in panels: how far ahead each k step prefetches its stream.
  if (s.bPanel) {
    for (const prefetchAhead of [0, 4, 16]) {
      if (prefetchAhead !== d.prefetchAhead) out.push(make({ ...d, prefetchAhead }));
    }
    out.push(make({ ...d, nextBlockToL2: !d.nextBlockToL2 }));
  }
  // Loop choices that never touch the tiles.
  if (!d.transposeStrips) {
    for (const unroll of [1, 2, 4]) {
      if (unroll !== d.unroll && unroll % d.kSplit === 0) out.push(make({ ...d, unroll }));
    }
  }
  if (d.kc !== undefined && d.kc < s.k && !d.copyStrips) {
    out.push(make({ ...d, prefetchNext: !d.prefetchNext }));
  }
  // The next strip of B read in place: fetched by every tile, or spread over the tiles.
  if (d.prefetchNext && !d.copyStrips && !d.transposeB && !d.rowsOuter) {
    out.push(make({ ...d, spreadNext: !d.spreadNext }));
  }
  // B off its lines, read in place: its first columns apart, or every vector split over two
  // lines (the peel's narrow strip against the split loads: which costs less is the core's).
  const peeled = { ...d, peelB: !d.peelB };
  if (peelsB(s, isa, d) !== peelsB(s, isa, peeled)) out.push(make(peeled));
  // Row tiles outside (A's row panel stays in L1 while B's block streams from L2).
  if (!d.transposeStrips && !d.copyStrips && !d.prefetchNext) {
    out.push(make({ ...d, rowsOuter: !d.rowsOuter }));
  }
  // Bᵀ at AVX-512: transposed whole first, or strip by strip (same K blocks).
  if (d.transposeStrips) {
    out.push(
      make({ ...d, transposeStrips: false, transposeB: transposedRowFloats(s.n), unroll: 2 }),
    );
  } else if (d.transposeB && d.nr % 16 === 0) {
    out.push(
      make({
        ...d,
        transposeB: undefined,
        transposeStrips: true,
        rowsOuter: false, // buffered strips run column tiles outside (direct.ts)
        kc: kBlock(s, d.kc),
        unroll: 16,
        prefetchNext: true,
      }),
    );
  }
  // Untransposed B at AVX-512: its strips copied, or read in place (the same tiles over the
  // same K blocks: the same bits at any alpha and beta).
  if (!s.transB && !s.bPanel && isa === "avx512" && !d.transposeB && !d.rowsOuter) {
    // Read in place, a K-blocked strip goes with the next one prefetched (the planner's pair).
    if (d.copyStrips) {
      out.push(
        make({
          ...d,
          copyStrips: false,
          copyInTile: false,
          prefetchNext: d.kc !== undefined && d.kc < s.k,
          peelB: true,
        }),
      );
    } else out.push(make({ ...d, copyStrips: true, kc: kBlock(s, d.kc), prefetchNext: false }));
    // The next strip fetched over the row tiles: each strip copied by its first row tile
    // (plan.ts copiesInTile; a plan that does is tried in place just above).
    if (!d.copyStrips && d.spreadNext && d.prefetchNext) {
      out.push(make({ ...d, copyStrips: true, copyInTile: true, peelB: false }));
    }
  }
  if (!tilesFree(s) || d.kSplit !== 1) return out;
  const tail = isa === "avx2" && s.n % v.lanes !== 0 ? 1 : 0;
  const vecCols = Math.ceil(s.n / v.lanes);
  for (const [mr, nv] of DIRECT_TILES[isa]) {
    if (nv > vecCols || mr > Math.max(s.m, 1) * 2 || !tileFits(v, mr, nv, 1, tail)) continue;
    if (mr === d.mr && nv * v.lanes === d.nr) continue;
    if (d.transposeStrips && (nv * v.lanes) % 16 !== 0) continue;
    out.push(make({ ...d, mr, nr: nv * v.lanes, embedBroadcast: isa === "avx512" && nv === 1 }));
  }
  // The packed driver over the same K blocks (A and B read from packed panels).
  const kc = kBlock(s, d.kc);
  if (!s.bPanel && (!s.transB || isa === "avx512")) {
    for (const packed of packedPlans(s, isa, kc, t.l2)) out.push(packedPlan(p, packed));
  }
  return out;
}

function packedCandidates(s: GemmSpec, p: GemmPlan): GemmPlan[] {
  const q = p.packed!, out: GemmPlan[] = [];
  const up = (n: number) => Math.ceil(n / q.nr) * q.nr;
  for (const nc of [up(q.nc / 2), up(q.nc * 2)]) {
    if (nc !== q.nc && nc >= q.nr && nc <= up(s.n)) out.push(packedPlan(p, { ...q, nc }));
  }
  for (const prefetchB of [256, 1024]) {
    if (prefetchB !== q.prefetchB) out.push(packedPlan(p, { ...q, prefetchB }));
  }
  out.push(packedPlan(p, { ...q, prefetchC: !q.prefetchC }));
  if (!tilesFree(s)) return out;
  for (const x of packedPlans(s, p.isa, q.kc, 2 * q.nc * q.kc * 4)) {
    if (x.mr !== q.mr || x.nr !== q.nr) out.push(packedPlan(p, x));
  }
  // The direct driver over the same K blocks, on untransposed B.
  if (!s.transB) {
    const v = vecIsa(p.isa);
    const tail = p.isa === "avx2" && s.n % v.lanes !== 0 ? 1 : 0;
    const tile = DIRECT_TILES[p.isa].find(([mr, nv]) => tileFits(v, mr, nv, 1, tail));
    if (tile === undefined) return out;
    const [mr, nv] = tile;
    const direct: DirectPlan = {
      mr,
      nr: nv * v.lanes,
      unroll: 2,
      kSplit: 1,
      kc: q.kc < s.k ? q.kc : undefined,
      prefetchNext: q.kc < s.k,
      peelB: q.kc < s.k,
    };
    out.push({
      ...p,
      path: "direct",
      packed: undefined,
      direct,
      workspaceBytes: 0,
      description: describeDirect(s, p.isa, direct),
    });
  }
  return out;
}

/** Packed plans over K blocks of `kc`, one per microkernel that fits, B blocks sized to `l2Bytes`. */
function packedPlans(s: GemmSpec, isa: VecLevel, kc: number, l2Bytes: number): PackedPlan[] {
  const v = vecIsa(isa), out: PackedPlan[] = [];
  for (const [mr, nr] of PACKED_TILES[isa]) {
    if (!tileFits(v, mr, nr / v.lanes, 1, 0)) continue;
    const ncFit = Math.max(nr, Math.floor(l2Bytes / (kc * 4) / nr) * nr);
    out.push({
      mr,
      nr,
      kc,
      nc: Math.min(ncFit, Math.ceil(s.n / nr) * nr),
      unroll: 4,
      prefetchC: true,
    });
  }
  return out;
}

function packedPlan(p: GemmPlan, packed: PackedPlan): GemmPlan {
  return {
    ...p,
    path: "packed",
    direct: undefined,
    packed,
    workspaceBytes: packedWorkspace(packed).bytes,
    description: `L3 ${p.isa} packed ${packed.mr}×${packed.nr} kc=${packed.kc} nc=${packed.nc}` +
      `${packed.prefetchB ? ` pfB=${packed.prefetchB}` : ""}${packed.prefetchC ? "" : " no-pfC"}`,
  };
}
