/**
 * A GEMM split between threads: blocks of M rows or of N columns, never K
 * (so every element of C keeps its summation order). Each part runs the
 * whole call's plan (driver, tile, K blocking, k-split: what fixes the
 * numerics) on its block, cut at whole tiles so its tiles are the whole
 * call's tiles; only what follows from the block's width (N blocking, the
 * transposed-B buffer) is resized.
 *
 * @module
 */
import type { Part } from "../family.ts";
import { divisorAtMost, type Range, splitRange } from "../partition.ts";
import { vecIsa } from "../vec.ts";
import { transposedBBytes, transposedRowFloats } from "./direct.ts";
import { dotTile } from "./dot.ts";
import { packedWorkspace } from "./packed.ts";
import { bRowsAliased, type GemmPlan, panelView } from "./plan.ts";
import type { GemmSpec } from "./spec.ts";

type GemmPart = Part<GemmSpec, GemmPlan>;

/** Rows and columns per tile of a plan: the grains of an M and an N split. */
function grains(s: GemmSpec, p: GemmPlan): { m: number; n: number } {
  // B in panels (packed, or copied per call): parts of whole panels, each one sequential
  // stream of B.
  const panel = panelView(s, p).bPanel;
  if (panel) return { m: p.direct?.mr ?? s.m, n: panel };
  switch (p.path) {
    case "direct":
      return { m: p.direct!.mr, n: p.direct!.nr };
    case "packed":
      return { m: p.packed!.mr, n: p.packed!.nr };
    case "skinny":
      // Tier 1's split of a B from memory in wide parts; tier 2's (splitAlong) in any.
      return { m: 1, n: p.splitAlong === "n" ? 16 : SKINNY_PART_COLUMNS };
    case "dot": {
      // Any rows split: each element of C is one dot product, whatever the tile.
      const t = dotTile(vecIsa(p.isa), s.m, s.n, s.k);
      return { m: t.mr, n: t.nb };
    }
    default:
      return { m: 1, n: 16 };
  }
}

/**
 * Whether to split N: where a part would otherwise redo work on B (Bᵀ
 * transposed or B packed into its workspace: each N part packs only its
 * columns; measured on Zen 5, 2 threads, 1024³: M parts 1.65-1.88× one
 * thread, N parts 1.9-2.0×) or M is one tile. Where both dimensions give
 * each of the `parts` a whole tile, the one whose parts read less again:
 * every M part reads all of B (k·n), every N part all of A (m·k), so N when
 * n > m. Measured on Zen 5, 2 threads, 8 parts (`deno run -A
 * bench/tune_candidates.ts --gemm MxNxK --threads 2`, tier 1 against the
 * other split, interleaved): 128×768×768 (16 row and 16 column tiles of
 * 8×48, split along M before) 437 → 413 µs along N, 128×768×3072 1919 →
 * 1661 and 2011 → 1801 (a third run: M in 2 parts first, N in 8 close);
 * where N was taken already, M lost: 128×1024×1024 852 against 1080,
 * 256×1024×1024 1490 against 2196. Else the dimension with more tiles. A
 * dimension of one tile does not split.
 */
function splitN(s: GemmSpec, p: GemmPlan, g: { m: number; n: number }, parts: number): boolean {
  const mTiles = Math.ceil(s.m / g.m), nTiles = Math.ceil(s.n / g.n);
  if (nTiles < 2) return false;
  if (mTiles < 2) return true;
  if (p.splitAlong !== undefined) return p.splitAlong === "n";
  // Each part copies (or reads) only its strips or panels. Panels copied per call: N while
  // there are panels for every part, else M, each part copying all of them (copyingRowParts).
  // Zen 3, 2 threads, `deno run -A bench/ab.ts --a 962e300 --b 286673f --gemm MxNxK --threads 2
  // --offset 16` (N always against this rule and that one): 128³ ×0.91 of the time,
  // 100×200×150 ×0.97, 256³ ×1.01.
  // Copied strips: N parts each copy only theirs; where A outweighs B four times or more, M
  // parts, each copying every strip (small beside its rows). Intel Xeon, 2 threads, `deno run
  // -A bench/ab.ts --a d036719 --b 4328594 --gemm SHAPE --threads 2 --offset 16 --out-offset
  // 16`: 2048×256×512 ×0.835 of the time, 4096×512×256 ×0.958; 3136×256×64 (its strips copied
  // for L1's sets, plan.ts stripSharesSets) ×0.905 against in place at afaf7ee, where N parts
  // had lost ×1.086.
  if (p.direct?.copyStrips) return s.m < 4 * s.n;
  if (s.bPanel) return true;
  if (p.panelsCopied && nTiles >= parts) return true;
  if (p.path === "packed") return true;
  if (s.transB && p.path === "direct") return true;
  if (mTiles >= parts && nTiles >= parts) return s.n > s.m;
  return nTiles > mTiles;
}

/**
 * The dimension a split call is not cut along but could be (both have two
 * tiles or more), for tier 2 to try; null when only one can be cut.
 */
export function otherSplit(s: GemmSpec, p: GemmPlan, parts: number): "m" | "n" | null {
  const g = grains(s, p);
  if (Math.ceil(s.m / g.m) < 2 || Math.ceil(s.n / g.n) < 2) return null;
  return splitN(s, p, g, parts) ? "m" : "n";
}

/** The plan of an N block `n` wide: N blocking and the Bᵀ buffer sized to it. */
function narrowed(p: GemmPlan, s: GemmSpec, n: number): GemmPlan {
  if (p.path === "packed") {
    const packed = {
      ...p.packed!,
      nc: Math.min(p.packed!.nc, Math.ceil(n / p.packed!.nr) * p.packed!.nr),
    };
    return { ...p, packed, workspaceBytes: packedWorkspace(packed).bytes };
  }
  if (p.path === "direct" && p.direct!.transposeB) {
    const direct = { ...p.direct!, transposeB: transposedRowFloats(n) };
    return { ...p, direct, workspaceBytes: transposedBBytes(s.k, direct.transposeB) };
  }
  const strips = p.path === "direct" ? Math.floor(n / p.direct!.nr) : 0;
  return bRowsAliased(s) && strips >= KEPT_PREFETCH_STRIPS ? p : withoutNextStrip(p);
}

/**
 * An N part over B rows a multiple of 4 KiB apart (plan.ts's bRowsAliased)
 * keeps the next strip's prefetch (see withoutNextStrip): the hardware
 * prefetchers do not find such rows. On Zen 5
 * a scratch timing of 128×3072×768 at one thread found `ldb` 3072 slower
 * than 3088 without the prefetch and level with it. Two threads (`deno task
 * compare --threads 2 --shapes 128x3072x768,64x3072x768`, the commit before
 * and after in turn): 128×3072×768 80.6-83.7 → 84.7-89.4% of the 2-thread
 * peak (four runs each), 64×3072×768 81.4-84.1 → 86.2-87.4 (two). Rows not
 * aliased lost with it in the same scratch timing (128×3000×768).
 *
 * Strips an N part needs to keep the next strip's prefetch over aliased rows: its last strip
 * prefetches the next part's first, a thread's work wasted (128×1024×1024, 8 parts of under 3
 * strips each, kept it in a first version: 84.5-85.7 → 79.6-80.2% of the 2-thread peak in the
 * runs above).
 */
const KEPT_PREFETCH_STRIPS = 4;

/**
 * A part's plan without the next strip's prefetch (the peel of B's first
 * columns stays, `peelB`; the same columns in the same order, the same bits):
 * one thread streaming B gains by it, threads sharing the memory lose, in
 * parts along N and along M alike. Zen 5 (`bench/tune_candidates.ts --gemm …
 * --threads 1|2`, the plan with and without, one run each): 1 thread
 * 64×768×3072 72.9 → 82.4% of the peak with it, 32×1024×4096 55.5 → 68.1%;
 * 2 threads 81.9 → 69.2%, 73.4 → 64.4%, and 128×3072×768 75.2 → 72.3%,
 * 128×768×3072 70.1 → 67.7%. Parts along M (128×768×3072 on 2 threads: its
 * row and column tiles as many) kept it until `deno task compare --threads 2
 * --shapes 128x768x3072`, the commit before and after in turn, two rounds:
 * 86.9-87.2 → 92.7-92.8% of the 2-thread peak. N parts over rows a
 * multiple of 4 KiB apart keep it (KEPT_PREFETCH_STRIPS), and so does a
 * fetch spread over the row tiles (`spreadNext`, Intel): a row of the next
 * strip each 8 k steps, which the threads' shared memory serves. Intel Xeon
 * (SPR-class, 2 vCPUs), `deno run -A bench/ab.ts --a d62ed21 --b 3082441
 * --gemm MxNxK --threads 2` (× the time, the same bits): 64×768×3072 ×0.918,
 * 128×768×3072 ×0.955, 32×768×3072 ×0.834.
 */
function withoutNextStrip(p: GemmPlan): GemmPlan {
  if (
    p.path === "direct" && p.direct!.prefetchNext && !p.direct!.transposeStrips &&
    !p.direct!.spreadNext
  ) {
    return { ...p, direct: { ...p.direct!, prefetchNext: false } };
  }
  return p;
}

/** A skinny call's B past this many bytes splits along N at tier 1 (see gemmParts). */
const SKINNY_SPLIT_BYTES = 32 << 20;

/**
 * Columns of a skinny call's N part, at least: each part streams its piece of every row of B,
 * and pieces of 2 KiB (8 parts of 1×4096×4096 on 2 threads) ran slower than the call whole.
 * Zen 3 (`deno run -A bench/tune_candidates.ts --gemm 1x4096x4096 --threads 2`, its split
 * candidates): whole 2819 µs, 2 parts 2389, 4 parts 2847, 8 parts 3629.
 */
const SKINNY_PART_COLUMNS = 2048;

/** A past this many bytes makes its re-reading by every part of a panels split count. */
const A_REREAD_BYTES = 256 << 10;

/**
 * Parts for B in panels where every part reading all of A again costs (A
 * past {@link A_REREAD_BYTES}): at least 3 panels each, and a divisor of the parts asked (a
 * multiple of the thread count under the policy), so the threads get equal
 * shares. Measured on Zen 5, 2 threads (`bench/gemv_layouts.ts`, panels
 * column, checkouts of 8e15428 and dfd8a26 alternating, two rounds):
 * 128×768×768 451-459 → 378-387 µs (12 panels: 4 parts, not 8), 128×768×3072
 * 1772-1900 → 1513-1629 µs. 64×1024×1024 (A 256 KiB) stays at 8 parts: in 4
 * it ran no faster in a trial.
 */
function panelParts(s: GemmSpec, parts: number): number {
  return divisorAtMost(parts, Math.floor(Math.ceil(s.n / s.bPanel!) / 3));
}

/**
 * Columns an N part of a call streaming B in place from beyond L2 takes at
 * least. Each part walks down all of B's rows over its own columns; a
 * narrow part reads a few lines a row, rows 3-12 KiB apart, a pattern the
 * hardware prefetchers follow worse than a wide run. Intel Xeon (SPR), 2
 * threads, 64×768×3072 (`deno run -A bench/split_vs_workers.ts`, B at
 * its lines): 8 parts of 96 columns 1.07-1.09× the time of two independent
 * halves; `bench/tune_candidates.ts --gemm 64x768x3072 --threads 2`: 8
 * parts 953 µs, 4 parts 918, 2 parts 927. `deno run -A
 * bench/ab.ts --a d592209 --b ac93e9b --gemm MxNxK --offset 16 --threads 2`
 * (8 parts against 4): 64×768×3072 ×0.959 and ×0.976 of the time (pairs'
 * middle halves 0.946-1.009, 0.945-1.003), 128×768×3072 ×0.969
 * (0.958-0.998), 32×1024×4096 ×0.976 (0.959-1.041); the same bits.
 */
const STREAMED_PART_COLUMNS = 192;

/**
 * Columns of such a part whose row tiles fetch the next strip between them (`spreadNext`,
 * Intel): each part's first strip comes cold, its last fetches the next part's, so wider parts
 * waste fewer. Intel Xeon (SPR-class), 2 threads, `deno run -A bench/ab.ts --a d6a8be4 --b
 * ab/streamed-parts-384 --gemm MxNxK --threads 2` (× the time, the same bits; 4 parts of 192
 * columns against 2 of 384 for the first three): 64×768×3072 ×0.947, 128×768×3072 ×0.979,
 * 32×768×3072 ×0.941, 64×1536×1536 ×0.945.
 */
const SPREAD_PART_COLUMNS = 384;

/**
 * N parts for a call streaming B in place: the parts asked, halved (at most
 * twice, while even and at least 2 are left) until they take
 * `STREAMED_PART_COLUMNS` each (`SPREAD_PART_COLUMNS` where the next strip's
 * fetch is spread over the row tiles). The parts asked are the policy's several per
 * thread, so a half or a quarter of them still gives every thread as many.
 */
function streamedParts(s: GemmSpec, p: GemmPlan, parts: number): number {
  const columns = p.direct?.spreadNext ? SPREAD_PART_COLUMNS : STREAMED_PART_COLUMNS;
  let count = parts;
  for (let i = 0; i < 2 && count % 2 === 0 && count >= 4; i++) {
    if (s.n / count >= columns) break;
    count /= 2;
  }
  return count;
}

/**
 * Whether the plan transposes Bᵀ strip by strip with the next strip's rows dealt out to the row
 * tiles (`spreadNext`): its parts take the wider parts of a streamed B too, for the same cold
 * first strip. Intel Xeon (SPR-class), 2 threads, `deno run -A bench/ab.ts --a d276c1b --b 35596bb
 * --gemm MxNxK --transB --threads 2` (× the time, the same bits): 64×768×3072 ×0.962,
 * 128×768×3072 ×0.966, 64×768×768 ×0.948, 1024³ ×0.995.
 */
function dealsStripsOut(p: GemmPlan): boolean {
  return p.path === "direct" && (p.direct!.transposeStrips ?? false) &&
    (p.direct!.spreadNext ?? false);
}

/**
 * Whether the plan's tiles stream B in place from beyond L2 (the planner's next-strip
 * prefetch), or its strips' first row tiles do as they copy them (`copyInTile`).
 */
function streamsBInPlace(p: GemmPlan): boolean {
  return p.path === "direct" && (!copiesB(p) || (p.direct!.copyInTile ?? false)) &&
    (p.direct!.prefetchNext ?? false);
}

/** Row tiles an M part of a call that copies B's panels runs at least, for each copy of B. */
const COPYING_PART_ROW_TILES = 4;

/**
 * M parts of a call that copies B's panels (each part copies all of them): at most one per
 * {@link COPYING_PART_ROW_TILES} row tiles, a divisor of the parts asked (equal shares per
 * thread). Zen 3, 2 threads: at 814fdca (M in 8 parts) `deno run -A bench/tune_candidates.ts
 * --gemm MxNxK --threads 2` found 128³ (22 row tiles) fastest in 4 parts, ×1.19 over 8, and 256³
 * (43) in 8; `deno run -A bench/ab.ts --a 814fdca --b 286673f --gemm MxNxK --threads 2 --offset
 * 16`: 128³ ×0.88-0.92 of the time, 100×200×150 ×0.86, 64×128×300 ×0.86.
 */
function copyingRowParts(s: GemmSpec, mr: number, parts: number): number {
  return divisorAtMost(parts, Math.floor(Math.ceil(s.m / mr) / COPYING_PART_ROW_TILES));
}

/**
 * Whether a direct plan copies or transposes B before its tiles read it:
 * they read their own aligned copy, so its N parts cut at whole strips from
 * column 0, as its tiles lie, not at B's lines. Cut at B's lines, the first
 * part took the peel's columns beside its share (12 + 256 of 512³'s columns
 * off a line by 16 bytes, where any large `new Float32Array` lands) and
 * with them a narrow strip of its own, a pass over A at a fraction of the
 * FMA rate: that part ran 8-11% longer than the other, and the call with
 * it (Intel Xeon (SPR), the parts timed apart on the branch tried/part-cycles,
 * `deno run -A bench/part_cycles.ts` at 343dca0: the caller's parts 826 and
 * 800 µs against the worker's 764 and 721; at 0a07f74, this rule, 730 / 742
 * and 722 / 722; `deno run -A bench/split_vs_workers.ts`: pool ÷ two
 * independent halves 1.08 at 512³ before, 1.00-1.01 after).
 */
function copiesB(p: GemmPlan): boolean {
  const d = p.direct;
  return p.path === "direct" && !!(d!.copyStrips || d!.transposeB || d!.transposeStrips);
}

/** The GEMM family's `partition`. */
export function gemmParts(s: GemmSpec, p: GemmPlan, parts: number): GemmPart[] | null {
  if (p.path === "empty" || s.m === 0 || s.n === 0) return null;
  // A batch splits by matrices: each part the same product on its own ones (same bits).
  const batch = s.batch ?? 1;
  if (batch > 1) {
    const split = splitRange(batch, parts);
    if (split.length >= 2) {
      return split.map((r) => ({
        spec: { ...s, batch: r.count },
        plan: p,
        offsets: [
          4 * r.start * (s.strideA ?? 0),
          4 * r.start * (s.strideB ?? 0),
          0,
          4 * r.start * (s.strideC ?? 0),
        ],
      }));
    }
  }
  // Skinny runs whole unless tier 2 chose its split (splitAlong "n"). Split, it lost on Zen 5
  // (`deno task compare --threads 2 --shapes 1x1024x1024,2x1024x1024`, a checkout of b52cb70,
  // two rounds: ×1T 0.95-1.06 at 1 row, 0.45-0.47 at 2), and won on an Intel Xeon whose L3
  // holds B (`deno task compare --threads 2 --tune --shapes 1x4096x4096,2x4096x4096`, two runs,
  // tier 1 → tuned in 8 parts: 7.3 → 11.1 and 6.9 → 10.3 GFLOPS, 12.5 → 15.8 and 12.7 → 16.5).
  // A B packed in panels is what splits well (1×1024×1024: 44 → 24 µs). A B past
  // SKINNY_SPLIT_BYTES (streamed from DRAM) splits along N: on Zen 5, 2 threads, once the pool
  // kept its worker off the caller's CPU on that guest (`bench/tune_candidates.ts --gemm
  // 1x4096x4096 --threads 2`), 1825 → 1312 µs in 8 parts; smaller ones stay whole there
  // (1×768×3072 120 µs whole against 159 split, 1×1024×1024 48 against 238; 1×3072×768 196
  // against 164, left to tier 2).
  if (p.path === "skinny" && p.splitAlong !== "n" && 4 * s.k * s.n <= SKINNY_SPLIT_BYTES) {
    return null;
  }
  const g = grains(s, p);
  const bias = s.epilogue?.bias === true;
  let ranges: Range[];
  // Panels too few for an N split whose parts would each re-read a large A: split M, each
  // part reading all of B (256×256×1024 ran whole at 2 threads: 4 panels, A 1 MiB).
  const panels = panelView(s, p);
  const nParts = panels.bPanel && s.m * s.k * 4 > A_REREAD_BYTES
    ? panelParts(panels, parts)
    : streamsBInPlace(p) || dealsStripsOut(p)
    ? streamedParts(s, p, parts)
    : parts;
  if (splitN(s, p, g, parts) && (nParts > 1 || Math.ceil(s.m / g.m) < 2)) {
    parts = nParts;
    const offLine = s.bPeel ?? 0;
    const peel = copiesB(p) ? 0 : offLine;
    if (peel > 0 && peel < s.n) {
      // Cut where B's columns start a cache line: only the first part has a
      // peel of its own (narrow parts that each peeled lost 20% at 64×768×3072).
      ranges = splitRange(s.n - peel, parts, g.n).map((r) => ({
        start: r.start + peel,
        count: r.count,
      }));
      ranges[0] = { start: 0, count: ranges[0].count + peel };
    } else ranges = splitRange(s.n, parts, g.n);
    if (ranges.length < 2) return null;
    return ranges.map((r) => ({
      // The part's B starts r.start columns later: its own columns before a line boundary.
      spec: { ...s, n: r.count, bPeel: offLine ? (offLine - (r.start & 15) + 16) & 15 : 0 },
      plan: narrowed(p, s, r.count),
      // Panels: the part's first panel starts r.start·k elements in (parts cut at whole panels).
      offsets: [
        0,
        4 * r.start * (s.bPanel ? s.k : s.transB ? s.ldb : 1),
        bias ? 4 * r.start : 0,
        4 * r.start,
      ],
    }));
  }
  ranges = splitRange(s.m, p.panelsCopied ? copyingRowParts(s, g.m, parts) : parts, g.m);
  if (ranges.length < 2) return null;
  // A tall A's row tiles outside only where a part's share of A is past L2 (plan.ts
  // tallRowsOuter).
  const below = p.direct?.rowsOuter && p.belowRowsOuter && ranges[0].count < p.rowsOuterFrom!;
  const rowPlan = withoutNextStrip(below ? p.belowRowsOuter! : p);
  return ranges.map((r) => ({
    spec: { ...s, m: r.count },
    plan: rowPlan,
    offsets: [4 * r.start * (s.transA ? 1 : s.lda), 0, 0, 4 * r.start * s.ldc],
  }));
}
