/**
 * How a GEMM is computed in production: the driver (path), the tile and the
 * blocking for the ISA (level 3 of the demo: SIMD tiles of C in registers,
 * and for operands that outgrow the caches, blocking with packing). One
 * policy, in one place; `generateGemm` only carries it out. The demo's
 * teaching levels live in `levels.ts`.
 *
 * @module
 */
import type { IsaLevel } from "../../cpu.ts";
import type { VecLevel } from "../vec.ts";
import { vecIsa } from "../vec.ts";
import {
  type DirectPlan,
  stripBufferBytes,
  tileFinishesInRegisters,
  transposedBBytes,
  transposedRowFloats,
} from "./direct.ts";
import { dotLines, dotTile } from "./dot.ts";
import { tileFits } from "./microkernel.ts";
import { type PackedPlan, packedWorkspace } from "./packed.ts";
import { copiedPanelBytes } from "./panel_copy.ts";
import { panelTile } from "./panels.ts";
import { skinnyLines } from "./skinny.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { type GemmSpec, PANEL_COLUMNS } from "./spec.ts";

/** The driver that computes the call. */
export type GemmPath = "empty" | "scale" | "ikj" | "direct" | "packed" | "skinny" | "dot";

/** A complete plan for one spec at one level and ISA. */
export interface GemmPlan {
  /** Optimization level (0-2: the demo's teaching levels, see levels.ts). */
  level: 0 | 1 | 2 | 3;
  /** Vector level the code uses. */
  isa: VecLevel;
  /** The driver. */
  path: GemmPath;
  /** Tile of the direct path. */
  direct?: DirectPlan;
  /** Blocking of the packed path. */
  packed?: PackedPlan;
  /** Bytes of workspace the kernel needs (64-byte aligned), 0 if none. */
  workspaceBytes: number;
  /**
   * Tier 2's choice of the dimension a split call's parts cut (either keeps
   * every element's sum); absent: partition.ts's rule.
   */
  splitAlong?: "m" | "n";
  /**
   * B as the caller holds it (rows at ldb), run as B in panels of this many
   * columns: the driver copies each panel into the workspace and runs the
   * panel plan (direct) on it, as on a B `packB` packed (panels.ts). The
   * spec the plan was made for is {@link panelView}'s.
   */
  panelsCopied?: number;
  /**
   * A tall A's row tiles outside (`tallRowsOuter`): the plan a split call's parts along M take
   * instead when theirs are under `rowsOuterFrom` rows (their share of A within L2).
   */
  belowRowsOuter?: GemmPlan;
  /** Rows of A from which `belowRowsOuter`'s plan runs its row tiles outside. */
  rowsOuterFrom?: number;
  /** One line for listings and verbose output. */
  description: string;
}

/** Cache sizes that steer the blocking. */
export interface CacheSizes {
  l1d: number;
  l2: number;
  /**
   * B as stored, at AVX-512: copy its strips past L1 or whose rows share L1's sets, and peel
   * it to its lines (Intel), or read it in place as it lies (AMD); see `prefersCopiedStrips`
   * and `readsBAsStored`.
   */
  copyStrips?: boolean;
  /** The next strip of B read in place fetched a few rows a tile (`spreadsNextStrip`). */
  spreadNextStrip?: boolean;
  /** Bᵀ's rows a multiple of 4 KiB apart transposed in whole 16×16 blocks (`transposesAliasedRowsWhole`). */
  transposeAliasedWhole?: boolean;
}

const DEFAULT_CACHES: CacheSizes = { l1d: 32 << 10, l2: 1 << 20 };

/**
 * The direct tile for a shape. Measured on Zen 4 and Intel server parts,
 * these are the shapes that stay within a few percent of the best:
 * few rows → all rows in one tile, split k for latency; otherwise 6×4
 * vectors (AVX-512) or 4×3 (AVX2, SSE2), and 8×3 for medium M with long K
 * (fewer B loads per FMA where B streams from L2).
 */
export function chooseDirectTile(s: GemmSpec, isa: VecLevel, tailElsewhere = false): DirectPlan {
  const v = vecIsa(isa);
  const lanes = v.lanes;
  const vecCols = Math.ceil(s.n / lanes);
  // tailElsewhere: another spec runs this tile with a tail (B's last panel).
  const tail = isa === "avx2" && (s.n % lanes !== 0 || tailElsewhere);
  let [mr, nv] = isa === "avx512" ? [6, 4] : [4, 3];
  if (isa === "avx512" && s.m > 14 && s.m <= 128 && s.k * s.n * 4 > 1 << 20) [mr, nv] = [8, 3];
  if (isa === "avx512" && s.m <= 48 && s.n <= 48) [mr, nv] = [4, 4]; // small squares: short rows of tiles
  // AVX2, n a multiple of 16 but not of 24: 4×24 would leave a last tile two vectors wide (64:
  // 24 + 24 + 16), 6×16 cuts it evenly. Zen 3, one thread, `deno run -A bench/ab.ts --a 756af7a
  // --b 962e300 --gemm MxNxK --offset 16` (× the time): 49×64×576 ×0.91, 48×64×256 ×0.87,
  // 16×64×512 ×0.89, 300×32×300 ×0.82, 32³ ×0.95; 64³, 100×64×100, 64×80×256 within ±1.3%.
  if (isa === "avx2" && s.n % 16 === 0 && s.n % 24 !== 0) [mr, nv] = [6, 2];
  nv = Math.min(nv, vecCols);
  if (s.m <= 14) {
    // One row tile: as many vectors as the registers allow beside it, unless
    // its rows would share L1 sets (see `aliasing`): then tiles of 6 rows.
    mr = aliasing(s, s.m) ? 6 : s.m;
    nv = Math.min(vecCols, 4);
  }
  // The microkernel's own register rule; an AVX2 tail mask takes a register.
  const reserved = tail ? 1 : 0;
  while (nv > 1 && !tileFits(v, Math.min(mr, s.m), nv, 1, reserved)) nv--;
  let rows = mr;
  while (rows > 1 && !tileFits(v, rows, nv, 1, reserved)) rows--;
  // A few rows that do not fit one tile: tiles of equal height (14 → 7+7, not 13+1).
  if (rows < mr) mr = s.m <= 14 ? Math.ceil(s.m / Math.ceil(s.m / rows)) : rows;
  let kSplit = 1;
  while (kSplit < 4 && mr * nv * kSplit < 8 && tileFits(v, mr, nv, kSplit * 2, reserved)) {
    kSplit *= 2;
  }
  return {
    mr,
    nr: nv * lanes,
    // Measured: with 24+ FMAs per k step the loop overhead is already noise;
    // unrolling 2 instead of 4 gives the same speed and a third less code.
    unroll: Math.max(2, kSplit), // a multiple of kSplit (microkernel.ts)
    kSplit,
    embedBroadcast: isa === "avx512" && nv === 1,
  };
}

/**
 * `k` split into equal blocks of at most `max`: the block length (the last
 * may be shorter), rounded up to a multiple of `align` within `max` (whole
 * cache lines per block where the direct kernel unrolls 16 steps).
 */
function evenBlock(k: number, max: number, align = 1): number {
  if (k <= max) return k;
  return Math.min(max, Math.ceil(k / Math.ceil(k / max) / align) * align);
}

/** Blocking of the packed path for a level and cache sizes. */
export function choosePackedPlan(s: GemmSpec, isa: VecLevel, caches: CacheSizes): PackedPlan {
  // Measured on Zen 4: 6×64 beats 12×32 by ~3% (half the broadcasts per FMA).
  const [mr, nr] = isa === "avx512" ? [6, 64] : isa === "avx2" ? [6, 16] : [6, 8];
  // A micro-panel mr×kc in about 60% of L1 (at most 512 steps), K split
  // evenly; B block kc×nc about 2× L2 (measured best: the L2 streamer keeps
  // up with the panel being read, and longer panels amortize the A packs).
  const kcMax = Math.min(512, Math.max(64, Math.floor((0.6 * caches.l1d) / (mr * 4) / 16) * 16));
  const kc = evenBlock(s.k, kcMax);
  const ncFit = Math.max(nr, Math.floor((2 * caches.l2) / (kc * 4) / nr) * nr);
  const nc = Math.min(ncFit, Math.ceil(s.n / nr) * nr);
  return { mr, nr, kc, nc, unroll: 4, prefetchC: true };
}

/** One line for an L3 direct plan. */
export function describeDirect(s: GemmSpec, isa: VecLevel, d: DirectPlan): string {
  const parts = [`L3 ${isa} direct ${d.mr}×${d.nr}`];
  if (d.kSplit > 1) parts.push(` k-split ${d.kSplit}`);
  if (d.kc !== undefined && d.kc < s.k) parts.push(` kc=${d.kc}`);
  if (d.transposeStrips) parts.push(", Bᵀ transposed strip by strip");
  else if (d.transposeB) parts.push(", Bᵀ transposed first");
  else if (d.copyStrips) {
    parts.push(
      d.copyInTile
        ? ", B copied strip by strip by its first row tile"
        : ", B copied strip by strip",
    );
  }
  if (d.bFromMemory) parts.push(", B the FMAs' operand");
  if (d.prefetchNext) {
    parts.push(
      d.spreadNext ? ", next B strip fetched over the row tiles" : ", next B strip prefetched",
    );
  }
  if (peelsB(s, isa, d)) parts.push(`, B's first ${s.bPeel} columns apart (to a line)`);
  if (d.prefetchAhead) parts.push(`, B prefetched ${d.prefetchAhead} k steps ahead`);
  if (d.nextBlockToL2) parts.push(", next block to L2");
  if (d.rowsOuter) parts.push(", row tiles outside");
  if (d.epilogueByPass) parts.push(BY_PASS);
  if (d.epilogueByPanel) parts.push(BY_PANEL);
  return parts.join("");
}

/**
 * Whether the direct driver runs B's first `bPeel` columns as a strip of
 * their own (the plan's `peelB`, B off its lines): AVX-512 only, where the
 * other part's column tail takes a mask register, not one of the vectors its
 * tile was planned with; B read in place, untransposed. The planner peels a
 * B streamed from beyond L2 (with the next strip's prefetch):
 * `bench/gemm_placement.ts` on Zen 5, one thread, B 16 bytes into a line:
 * 128×3072×768 82-84% → 88%, 64×768×3072 88% → 92%; but 64³-256³, whose B
 * stays in L1/L2, lost 3-25% to the narrow strip's low FMA use there, so
 * elsewhere the peel is tier 2's to try.
 */
export function peelsB(s: GemmSpec, isa: VecLevel, d: DirectPlan): boolean {
  return (d.peelB ?? false) && (s.bPeel ?? 0) > 0 && s.bPeel! < s.n && !s.transB &&
    !d.transposeB && !d.transposeStrips && !d.copyStrips && isa === "avx512";
}

/**
 * B read in place (untransposed, not in panels) with its rows a multiple of
 * 4 KiB apart: a strip's rows share a few cache sets, and the hardware
 * prefetchers do not follow them (the copied strips below, and
 * partition.ts's N parts keeping the next strip's prefetch).
 */
export function bRowsAliased(s: GemmSpec): boolean {
  return !s.transB && !s.bPanel && (s.ldb * 4) % 4096 === 0;
}

/**
 * Whether the direct tiles would read B as the caller stores it (untransposed, not in panels)
 * at AVX-512 on a core whose rules below apply (`copyStrips`: Intel, whose loads split over two
 * lines and whose L1 evicts a strip sharing its sets; AMD reads B in place as it lies).
 */
function readsBAsStored(s: GemmSpec, isa: VecLevel, caches: CacheSizes): boolean {
  return isa === "avx512" && (caches.copyStrips ?? false) && !s.transB && !s.bPanel;
}

/**
 * B's strips, read in place, past L1 and off B's lines, on a core that prefers them copied
 * (Intel: see `prefersCopiedStrips`), with rows enough to amortize a copy: "copy" where the
 * tiles read them copied strip by strip (the path past 3·L2), "peel" where B's first columns
 * run apart and the rest on whole lines (`peelB`), null where neither applies. In place, every
 * row tile reads the strip from L2 again, and a B off its lines (a `new Float32Array` lands 16
 * bytes past one here) splits each zmm load over two lines; copied, the tiles read whole lines
 * of one contiguous block. With B on its lines the copy gains nothing (512³, 768³) or loses
 * (256³ ×1.05 the time); with B under a quarter of L2 it lost on 2 threads (256³ ×1.113 where
 * one thread gained ×0.978). Measured on an Intel Xeon (SPR, 48 KiB L1, 2 MiB L2), `bench/ab.ts
 * --a 1aab4c4 --b f4edd1d --gemm SHAPE [--offset 16 --out-offset 16] [--threads 2]` (the
 * figures in README).
 *
 * The peel where B's rows are alike off their lines (ldb a multiple of 16) and not sharing a
 * few cache sets (ldb·4 not a multiple of 2 KiB: 128×512×512 ran ×1.24 the time peeled,
 * 192×1024×512 ×1.74), with rows under {@link PEEL_BELOW_ROWS}: fewer row tiles amortize
 * each strip's copy less.
 */
function offLinesPastL1(
  s: GemmSpec,
  isa: VecLevel,
  direct: DirectPlan,
  caches: CacheSizes,
): "copy" | "peel" | null {
  const past = readsBAsStored(s, isa, caches) && !s.transA && s.m >= 64 &&
    direct.kc === undefined && s.k * direct.nr * 4 > caches.l1d &&
    (s.k * s.n * 4 >= caches.l2 / 4 || s.m >= PAST_COPY_ROWS) &&
    ((s.bPeel ?? 0) > 0 || s.ldb % 16 !== 0);
  if (!past) return null;
  const alike = s.ldb % 16 === 0 && (s.ldb * 4) % 2048 !== 0;
  return alike && s.m < PEEL_BELOW_ROWS ? "peel" : "copy";
}

/**
 * Rows under which an off-line B past L1 (`offLinesPastL1`) is peeled, not copied. Intel Xeon
 * (SPR-class, 2 vCPUs), B and C 16 bytes past a line, `bench/ab.ts --a 049650a --b 9f23736
 * --gemm SHAPE --offset 16 --out-offset 16 [--threads 2]` (× the time, 1 thread / 2 threads):
 * 64×768×512 ×0.959 / ×0.897, 128×768×512 ×1.022 (pairs' middle half 0.963-1.010) / ×0.956,
 * 200×640×400 (2 threads) ×0.953. With more rows the copy amortizes on one thread: the
 * peel at any rows (branch tried/peel-any-rows, `--a 23ccb6e --b 1fc3800`) took 384³ ×1.029 /
 * ×0.950, 640³ ×1.065 (1 thread); tier 2 tries the peel there (`peelB`).
 */
const PEEL_BELOW_ROWS = 256;

/**
 * Rows from which an off-line B past L1 under a quarter of L2 is copied too (`offLinesPastL1`):
 * every strip then serves enough row tiles on each thread. Intel Xeon (SPR-class), B and C 16
 * bytes past a line, copied from 512 rows on branch ab/strip-past-l1-copied (`NJIT_PASTM=512
 * deno run -A bench/ab.ts --a a178d46 --b ab/strip-past-l1-copied --gemm SHAPE --offset 16
 * --out-offset 16 [--threads 2]`, × the time, 1 thread / 2 threads): 3136×256×256 ×0.896 /
 * ×0.939, 1024×256×256 ×0.941 / ×1.056, 512×256×256 ×0.971 / ×1.052 (two threads split M: parts
 * of 512 rows lost). This rule, `--a a178d46 --b 43d9187`: 3136×256×256 ×0.922 / ×0.886,
 * 2048×256×256 ×0.963 / ×0.979, 1536×256×256 ×0.941 / ×0.994.
 */
const PAST_COPY_ROWS = 1536;

/**
 * Whether A's row tile over the whole K (mr rows × k) would take more than half of L1, read in
 * place with B from L2: then no operand of the tile stays in L1 between its k steps' uses, and
 * the tiles wait on L2 for A's broadcasts as well as B's rows. K blocks keep the tile in L1
 * while each block's strip of B passes (`LONG_A_KC`, `LONG_A_PANEL_KC`). Applies where the
 * tile is read again (several row or column tiles), B in L2 or not.
 */
function longTileOfA(s: GemmSpec, isa: VecLevel, mr: number, caches: CacheSizes): boolean {
  return isa === "avx512" && !s.transA && mr * s.k * 4 > caches.l1d / 2;
}

/**
 * Whether a Bᵀ of half of L2 or more goes strip by strip on a core that copies B's strips
 * (`copyStrips`, Intel), not transposed whole, for up to 128 rows of A: whole, the
 * transposed B comes back to the tiles from L2 and beyond. Intel Xeon (SPR-class, 2 MiB L2),
 * `deno task compare --transB --shapes …` with the threshold of the strips at 3 and at 1/8 of
 * L2 (branch tried/gemm-avx512-copies-streamed, `NJIT_TSM`), two runs each, against oneDNN in
 * the same run: 32×512×1024 (B 2 MiB) 0.42 → 0.62-0.64, 64×128×3072 0.57-0.58 → 0.76-0.78,
 * 128×256×1536 0.83-0.84 → 0.98-1.01, 64×768×768 0.61-0.65 → 0.85-0.93, 128×768×768 0.77 →
 * 0.92-0.94, 128×1024×1024 0.85 → 0.99; B of 512 KiB lost (128×512×256 0.89 → 0.85-0.87,
 * 32×256×512 0.78-0.79 → 0.71-0.72), and so did 256 rows (256³ 1.01-1.02 → 0.87-0.91).
 * `deno run -A bench/ab.ts --a abab160 --b b78f11f --gemm MxNxK --transB [--threads 2]` (× the
 * time, the same bits): 32×512×1024 ×0.634, 64×768×768 ×0.718 (2 threads ×0.855), 128×768×768
 * ×0.832 (×0.912), 64×128×3072 ×0.720.
 */
function stripsOfHalfL2(s: GemmSpec, caches: CacheSizes): boolean {
  return (caches.copyStrips ?? false) && s.m <= 128 && s.k * s.n * 4 >= caches.l2 / 2;
}

/**
 * Bytes of B past which a medium shape (up to 128 rows) streams B in place with the next strip
 * fetched and K blocked: L2, or half of it where the fetch is spread over the row tiles
 * (`spreadsNextStrip`, Intel: there a B of 1-2 MiB, A and C do not all stay in L2 between the
 * tiles' passes). Intel Xeon (SPR-class, 2 MiB L2), `deno run -A bench/ab.ts --a f09da4b --b
 * bb18c35 --gemm MxNxK` (× the time): 64×512×768 ×0.657, 32×512×1024 ×0.880, 64×768×512 ×0.919,
 * 64×128×3072 ×0.944, 128×256×1536 ×0.964; 2 threads (`--a f09da4b --b 8bab750 --threads 2`)
 * 64×512×768 ×0.994, 32×512×1024 ×0.906, 64×768×512 ×0.994. A quarter of L2 (branch
 * ab/medium-quarter-l2, `--a bb18c35 --b ab/medium-quarter-l2`) gained little more: 64×512×512
 * ×0.978, 128×256×1024 ×0.977, 32×256×1024 ×0.996, 64×256×768 ×0.992, 128×512×512 ×0.986.
 */
function streamedBBytes(caches: CacheSizes): number {
  return (caches.spreadNextStrip ?? false) ? caches.l2 / 2 : caches.l2;
}

/**
 * Rows of A up to which a Bᵀ of half of L2 or more (`stripsOfHalfL2`: Intel) goes by dot
 * products, not transposed strip by strip: with few row tiles a strip's transpose is shared by
 * too few of them. Intel Xeon (SPR-class), `deno run -A bench/ab.ts --a 8586a3d --b BRANCH --gemm
 * MxNxK --transB` (× the time), dot products to 32 rows (ab/dot-32-rows): 32×512×1024 ×0.797,
 * 32×768×3072 ×0.904, 24×1024×1024 ×0.810 (but 32×256×256, B within the rule's half of L2,
 * ×1.068); to 64 rows (ab/dot-64-rows): 40×512×1024 ×0.841, 48×1024×1024 ×0.923, but 64×768×3072
 * ×1.011 and 64×768×768 ×1.085. This rule (`--a 8586a3d --b 44cde12`, 1 / 2 threads): 32×512×1024
 * ×0.803 / ×0.663, 40×512×1024 ×0.854 / ×0.709, 48×1024×1024 ×0.916 / ×0.806, 32×768×3072
 * ×0.911 / ×0.862.
 */
const DOT_ROWS_OF_LARGE_BT = 48;

/**
 * Unrolled k steps of a tile that spreads the next strip's fetch (`spreadsNextStrip`): a row of
 * it each 8 k steps, so 8 row tiles fetch a K block's strip in turn. Intel Xeon (SPR-class),
 * `deno task compare --shapes 64x768x3072,128x768x3072` in a scratch build with the spread
 * switched on and off (branch tried/gemm-avx512-copies-streamed), two runs each, against oneDNN
 * in the same run: 64×768×3072 0.87-0.89 → 0.93-0.94 (unroll 8 without the spread:
 * 0.88-0.89), 128×768×3072 0.90-0.92 either way (16 row tiles, 8 of them fetching). Then
 * `deno run -A bench/ab.ts --a 1cb629f --b d62ed21 --gemm MxNxK` (× the time, the same bits):
 * 64×768×3072 ×0.914, 128×768×3072 ×0.942, 32×768×3072 ×0.892.
 */
const SPREAD_UNROLL = 8;

/**
 * K block of a B streamed in place with the next strip fetched over the row tiles (Intel; 512
 * elsewhere): a copied strip of 48 columns (`copiesInTile`) is 48 KiB, an L1, where 512 rows
 * made it 96 KiB, read from L2 by every row tile but the first. Intel Xeon (SPR-class),
 * `NJIT_SKC=256 deno run -A bench/ab.ts --a 12e0b9d --b tried/streamed-kc-probe --gemm MxNxK
 * --offset 16 [--threads 2]` (× the time; other bits, the sums in other blocks): 64×768×3072
 * ×0.961 (2 threads ×0.970), 128×768×3072 ×0.992 (×1.003), 128×3072×768 ×0.966 (×0.948),
 * 64×1536×1536 ×0.936 (×0.935), 64×3072×768 ×0.953, 128×1024×1024 ×0.942, 16×1536×1536 ×0.808,
 * 32×768×3072 (in place) ×0.956, 96×768×3072 ×0.992, 40×3000×2000 ×0.997, 128×2000×1000 ×1.013;
 * 384 and 768: 64×768×3072 ×0.992 and ×1.024, 128×768×3072 ×1.002 and ×1.025.
 */
const SPREAD_KC = 256;

/**
 * Most k steps of a K block over B streamed in place: {@link SPREAD_KC} where the next strip's
 * fetch is spread and k is past 512 anyway (a k of 512 or less stays whole, as the plans of a
 * larger L2 keep it: the caches steer the path, not the bits), else 512.
 */
function spreadBlock(s: GemmSpec, caches: CacheSizes): number {
  return (caches.spreadNextStrip ?? false) && s.k > 512 ? SPREAD_KC : 512;
}

/** Full row tiles from which a strip of B streamed in place is copied by its first one. */
const COPY_IN_TILE_ROW_TILES = 5;

/** Bytes between B's rows up to which two full row tiles copy its strips (`copiesInTile`). */
const COPY_IN_TILE_ROW_BYTES = 12 << 10;

/**
 * Whether the strips of a B streamed in place with the next strip fetched over the row tiles
 * (`spreadNext`) are copied by their first row tile as it reads them (direct.ts `copyInTile`),
 * the other row tiles reading the copy: from {@link COPY_IN_TILE_ROW_TILES} full row tiles,
 * or from two where B's rows are a multiple of 2 KiB apart up to
 * {@link COPY_IN_TILE_ROW_BYTES} (a strip's rows in two of L1's set groups, or one). In place,
 * every row tile reads B's rows ldb apart from L2, each on a page of its own at ldb past 4 KiB
 * (a DTLB miss a k step) and none prefetched into L1 (the hardware follows strides under 2
 * KiB): `deno run -A bench/b_rows.ts` (64×48×3072, B in L2 either way) 90.9% of the peak with
 * `ldb` 48 against 64.3% with 768, on 2 MiB pages 97.4% against 71.9%. Intel Xeon (SPR-class),
 * `NJIT_CIT=1 deno run -A bench/ab.ts --a f17d895 --b tried/copy-in-tile-probe --gemm MxNxK
 * --offset 16 [--threads 2]` (× the time, the same bits; a probe switching every spreading plan
 * to the copy): 64×768×3072 ×0.972 (2 threads ×0.913), 128×768×3072 ×0.951 (×0.900),
 * 96×768×3072 ×0.955 (×0.898), 48×768×3072 ×0.981, 40×768×3072 ×0.973, 128×2000×1000 ×0.978
 * (×0.957), 40×3000×2000 ×0.813 (×0.813), 64×1536×1536 ×0.684 (×0.718), 32×1536×1536 ×0.764,
 * 24×1536×1536 ×0.821, 16×1536×1536 ×0.982; four tiles or fewer over other strides lost:
 * 32×768×3072 ×1.045 (2 threads ×0.986), 32×1200×3000 ×1.039, 24×768×3072 ×1.014. B's rows a
 * multiple of 4 KiB apart, copied by a pass of its own before (without the next strip's fetch)
 * against in the first tile with it (`NJIT_AL=1 … --a 4ebd8d4 --b
 * tried/aliased-copy-in-tile-probe`): 128×3072×768 ×0.948 (2 threads ×0.949), 64×3072×768
 * ×0.899 (×0.920), 40×3072×768 ×0.863, 32×3072×768 ×0.939, 128×1024×1024 ×0.960 (×0.962),
 * 32×2048×2048 ×0.970, 64×4096×4096 ×0.980; rows 16 KiB apart under five row tiles lost:
 * 32×4096×4096 ×1.078, 32×4096×1024 ×1.104, 16×4096×4096 ×1.118. Tier 2 tries the other.
 */
function copiesInTile(s: GemmSpec, d: DirectPlan): boolean {
  const rowTiles = Math.floor(s.m / d.mr), rowBytes = s.ldb * 4;
  return rowTiles >= COPY_IN_TILE_ROW_TILES ||
    (rowTiles >= 2 && rowBytes % 2048 === 0 && rowBytes <= COPY_IN_TILE_ROW_BYTES);
}

/**
 * K block of a long tile of A (`longTileOfA`) over B read in place: 8 rows × 256 steps, 8 KiB
 * of L1. Intel Xeon (SPR-class, 48 KiB L1), `deno task compare --shapes …` against oneDNN in
 * the same run, the block forced to 256 and to 512 (branch tried/gemm-avx512-copies-streamed,
 * `NJIT_KC`; two runs each): 64×128×3072 0.54 → 0.93-0.95 of oneDNN, 128×128×3072 0.61 →
 * 0.98-1.01, 16×256×2048 0.57 → 0.88-0.92, 32×512×1024 0.55 → 0.80-0.84 at 512 and 0.88-0.89 at
 * 256, 128×256×1536 0.76 → 0.97-1.03. This rule, `deno run -A bench/ab.ts --a e02240c --b e66eb42
 * --gemm MxNxK` (× the time): 64×128×3072 ×0.691, 128×128×3072 ×0.718, 128×256×1536 ×0.708,
 * 32×512×1024 ×0.621 (2 threads ×0.664), 16×256×2048 ×0.735.
 */
const LONG_A_KC = 256;

/**
 * K block of a long tile of A over B in panels (`packB`'s, or copied): 6 rows × 512 steps. The
 * panel's block streams from L2 in order, so a longer block costs no L1. Intel Xeon (SPR-class),
 * `bench/tune_candidates.ts --gemm MxNxK --panels` with the block forced (branch
 * tried/gemm-avx512-copies-streamed, `NJIT_PKC2`; % of the peak, whole K / 256 / 512):
 * 64×768×3072 87.5 / 92.6 / 93.3, 32×768×3072 67.1 / 80.9 / 81.2, 128×768×3072 91.4 / 90.0 /
 * 90.1, 128×256×2048 93.4 / 92.8 / 93.6. This rule, `deno run -A bench/ab.ts --a e66eb42 --b
 * 1cb629f --gemm MxNxK --panels` (× the time): 64×768×3072 ×0.943, 32×768×3072 ×0.840,
 * 128×768×3072 ×0.980 (2 threads ×0.981 and ×0.987 for the first and last).
 */
const LONG_A_PANEL_KC = 512;

/**
 * Whether B's strip, read in place, would not stay in L1 though it fits (k × nr floats, the whole
 * K): its rows, ldb apart, fall on few of L1's 64 sets. Rows `period` apart share sets (ldb·4's
 * largest power-of-two factor up to 4 KiB sets it), so each set takes about k / period rows'
 * lines (times the lines a row puts in one set where rows overlap there); past half the ways
 * (L1 bytes / 4 KiB of them), A's tile and C's lines evict the strip between row tiles. Then
 * the tiles read it copied strip by strip (one contiguous block), on cores that prefer copied
 * strips (Intel: `prefersCopiedStrips`; elsewhere tier 2's copy candidate), from
 * {@link SET_COPY_ROWS} rows. Intel Xeon (SPR, 48 KiB 12-way L1), tier 2's candidates, one
 * thread (`deno run -A bench/tune_candidates.ts --gemm SHAPE`, the copy against tier 1 in place):
 * 3136×256×64 ×1.289, 1024×512×128 ×1.228, 512×512×64 ×1.196, 2048×1024×64 ×1.294, 128×1024×96
 * ×1.226; rows apart in the sets stayed in place (3136×240×64: 85.4% of the peak, copied 83.9%).
 */
function stripSharesSets(
  s: GemmSpec,
  isa: VecLevel,
  direct: DirectPlan,
  caches: CacheSizes,
): boolean {
  if (!readsBAsStored(s, isa, caches)) return false;
  if (
    direct.kc !== undefined || s.m < SET_COPY_ROWS || s.n < SET_COPY_STRIPS * direct.nr ||
    s.k * direct.nr * 4 > caches.l1d
  ) {
    return false;
  }
  const rowBytes = s.ldb * 4, setSpan = 4096;
  let shared = setSpan; // the largest power of two dividing rowBytes, at most 4 KiB
  while (rowBytes % shared !== 0) shared /= 2;
  const period = setSpan / shared, rowLines = Math.ceil((direct.nr * 4) / 64);
  const perSet = Math.ceil(s.k / period) * Math.ceil((rowLines * 64) / Math.max(shared, 64));
  return perSet > caches.l1d / setSpan / 2;
}

/**
 * Rows from which a B strip whose rows share L1's sets is copied (`stripSharesSets`): fewer
 * amortize the copy less. Intel Xeon (SPR), tier 2's candidates (`bench/tune_candidates.ts`):
 * 64×512×128 in place 88.4% of the peak, copied 88.4%; 24×512×128 85.0% against 57.8%.
 */
const SET_COPY_ROWS = 128;

/**
 * Whether B's strip, read in place over the whole K, is past L1 with its rows a multiple of 4 KiB
 * apart (`bRowsAliased`), on a core that copies such strips (Intel): every row of the strip then
 * falls in the same few L1 sets, and the tiles read it from L2 past the hardware prefetchers.
 * Operands within 3·L2 and more than 128 rows met no other rule that copies (B on its lines; off
 * them `offLinesPastL1` copies). Intel Xeon (SPR-class), B and A on their lines (`bench/ab.ts`
 * puts them there), `deno run -A bench/ab.ts --a c37dad9 --b 644d515 --gemm MxNxK` (× the time):
 * 256×1024×1024 ×0.453, 384×1024×1024 ×0.454, 160×1024×1024 ×0.465, 512×1024×512 ×0.504,
 * 200×2048×512 ×0.506; 2 threads 256×1024×1024 ×0.431, 512×1024×512 ×0.501. (Tier 2 had the copy
 * among its candidates; now tier 1 takes it.)
 */
function aliasedStripPastL1(
  s: GemmSpec,
  isa: VecLevel,
  direct: DirectPlan,
  caches: CacheSizes,
): boolean {
  return readsBAsStored(s, isa, caches) && bRowsAliased(s) && direct.kc === undefined &&
    s.m >= SET_COPY_ROWS && s.n >= SET_COPY_STRIPS * direct.nr &&
    s.k * direct.nr * 4 > caches.l1d;
}

/**
 * Strips from which such a B is copied: with fewer the copy gained nothing on one thread and its
 * split along N (two parts) lost to M parts in place on two. `deno run -A bench/ab.ts --a afaf7ee
 * --b 22cfd61 --gemm 128x128x128 --offset 16 --out-offset 16 [--threads 2]`: ×0.990 of the time,
 * ×1.228 on 2 threads.
 */
const SET_COPY_STRIPS = 4;

/**
 * Whether a B read in place off its lines (rows alike: ldb a multiple of 16) runs its first
 * columns apart (`peelB`) on a core where a load split over two lines costs (the cores that
 * prefer copied strips: Intel), once B has {@link PEEL_STRIPS} strips or more: the peel's
 * narrow strip costs about a third of a strip, the split loads a share of every strip. Intel
 * Xeon (SPR), tier 2's candidates, one thread (`deno run -A bench/tune_candidates.ts --gemm
 * SHAPE`, B 16 bytes into a line): the peel won 64×4096×64 ×1.332, 2000×2000×50 ×1.093,
 * 8×512×512 ×1.092; with 4 strips it lost (1000×256×300 79.8% of the peak against 85.0%; 256³
 * ×1.02-1.05 the time in `bench/ab.ts` runs). `deno run -A bench/ab.ts --a f3a2b9e --b c57d791
 * --gemm SHAPE --offset 16 --out-offset 16 [--threads 2]`: 64×4096×64 ×0.773 of the time (2
 * threads ×0.923), 2000×2000×50 ×0.898 (×0.843), 8×512×512 ×0.983.
 */
function widePeels(s: GemmSpec, isa: VecLevel, direct: DirectPlan, caches: CacheSizes): boolean {
  return readsBAsStored(s, isa, caches) && (s.bPeel ?? 0) > 0 && s.ldb % 16 === 0 &&
    s.n >= PEEL_STRIPS * direct.nr;
}

/** Strips of B from which an off-line B read in place is peeled (see `widePeels`). */
const PEEL_STRIPS = 8;

/** Whether reading A in place (direct path) risks cache-set conflicts between its rows. */
function aliasing(s: GemmSpec, mr: number): boolean {
  const rowBytes = s.transA ? 4 : s.lda * 4;
  // Rows a multiple of 4 KiB apart all land in one L1 set group.
  return !s.transA && mr > 8 && rowBytes % 4096 === 0;
}

/** The plan of a call with nothing to multiply (an empty C, alpha = 0 or k = 0), or null. */
export function trivialPlan(s: GemmSpec, isa: VecLevel, level: GemmPlan["level"]): GemmPlan | null {
  const base = { level, isa, workspaceBytes: 0 };
  if (s.m === 0 || s.n === 0) {
    return { ...base, path: "empty", description: "empty: nothing to compute" };
  }
  if (s.alpha === 0 || s.k === 0) return { ...base, path: "scale", description: `C = ${s.beta}·C` };
  return null;
}

/**
 * The i-k-j scalar loop: the least code there is, no blocking, no workspace
 * (the family's fallback when a plan fails to build, and level 1 of the demo).
 */
export function planIkj(s: GemmSpec): GemmPlan {
  return trivialPlan(s, "scalar", 1) ??
    { level: 1, isa: "scalar", path: "ikj", workspaceBytes: 0, description: "L1 i-k-j, scalar" };
}

/**
 * Whether op(B) of `n` columns is narrower than a vector at `isa` where the
 * dot-product kernel takes any rows against it as Bᵀ (AVX2, AVX-512: see
 * planGemm): such a B is best packed as columns (packb.ts).
 */
export function narrowB(isa: IsaLevel | VecLevel, n: number): boolean {
  const v = vecIsa(isa);
  return (v.level === "avx2" || v.level === "avx512") && n < v.lanes;
}

/** The spec a plan's kernel runs: with {@link GemmPlan.panelsCopied}, B in panels of that width. */
export function panelView(s: GemmSpec, p: GemmPlan): GemmSpec {
  return p.panelsCopied ? copiedView(s, p.panelsCopied) : s;
}

/** `s` on B in panels of `panel` columns of op(B) (a copy of Bᵀ is op(B) too). */
function copiedView(s: GemmSpec, panel: number): GemmSpec {
  return { ...s, bPanel: panel, transB: false };
}

/**
 * Rows of A past which B's panels are not copied: each panel's row tiles read all of A
 * again, from L3 once A outgrows L2, and at 2 threads both cores do. Zen 3, `deno run -A
 * bench/ab.ts --a b84f4ca --b 121b9e8 --gemm MxNxK --offset 16` (copied past 256 rows):
 * 512³ ×0.985 of the time at 1 thread but ×1.06-1.14 at 2, 1024³ ×1.03 at 2; 256³ ×0.92 at
 * 2. (Earlier, a scratch build of e374c61 copying at any rows: 2048³ and 4096×256×256 ×1.15
 * and ×1.14 at 1 thread.) Since the copy moved into the tiles and K blocks keep two in L2
 * (a747094), up to 512 rows: `bench/ab.ts --a fcee31d --b abb3e06 --gemm MxNxK [--transB]
 * [--threads 2] --blocks 20`, 1 / 2 threads: 512³ ×0.961 / ×0.921 (Bᵀ ×0.933 / ×0.979),
 * 300×1000×1000 ×0.930 / ×0.929 (Bᵀ ×0.951 / ×0.943), 512×2048×2048 ×0.966 / ×0.977, 400³
 * ×0.971 / ×1.029; past 512 rows, copied against packed (branch tried/copied-any-rows,
 * `bench/ab.ts --a ac48120 --b aed0fbb --blocks 16`): 1024³ ×1.006 / ×1.074, 2048³ ×1.169 at 1
 * thread.
 */
const COPIED_PANELS_ROWS = 512;

/**
 * Whether a B read in place (or Bᵀ) goes as B in panels copied per
 * call (GemmPlan.panelsCopied): AVX2, 17-256 rows of A, more than one
 * panel of B and operands past 2.5 L1s (Bᵀ: from a vector's width, any size).
 * In place, each 16-wide strip of B is rows ldb apart (split across lines where B starts off one, as a large
 * `new Float32Array` here does, 16 bytes in), and the direct tiles read A
 * and B from L2; in a panel the row tiles run outside the panel's column
 * tiles with A's rows in L1 and B streamed in order. The copy reads B once,
 * as every path does, and writes it to the workspace: the call ran
 * ×1.01-1.16 of the time of the same call on `packB`'s panels, a
 * `TypedArray.set` of B 8-13 GB/s (`deno run -A bench/copy_cost.ts`).
 * Since a747094 a panel's K block is copied by its first row tile as it
 * reads B (direct.ts `CopiedRows`), into one block's rows of workspace,
 * while the block's last row tiles fetch the next copy's rows into L2;
 * against 55568dc (`deno run -A bench/ab.ts --a 55568dc --b 03fbd34 --gemm
 * MxNxK [--threads 2]`, × the time): 64×768×3072 ×0.884 (2 threads ×0.870),
 * 128×768×3072 ×0.925, 64×1024×1024 ×0.923, 128×3072×768 ×0.970 (×0.959),
 * 256³ ×0.989 (×0.935), 128³ ×0.987.
 * Zen 3, one thread, `deno run -A bench/ab.ts --a b84f4ca --b 07974cc
 * --gemm MxNxK --offset 16` (in place against copied, × the time): 128×768×3072 ×0.84, 128×3072×768 ×0.88, 64×1024×1024 ×0.71,
 * 32×1024×1024 ×0.76, 17×1024×1024 ×0.87, 256³ ×0.81, 128³ ×0.84,
 * 64×128×128 ×0.87, 96×128×96 ×0.95; B on a line (`--offset 0`) 256³
 * ×0.90, 128×3072×768 ×0.92, 64×1024×1024 ×0.92, 17×1024×1024 ×1.10,
 * 64×768×3072 ×1.04. Below 80 KiB of operands the copy costs more than it
 * saves (a scratch build copying at any size: 100³ ×1.04, 64×96×64 ×1.04,
 * 20×128×64 ×1.10). Bᵀ (a Linear layer's n×k weights; the copy transposes
 * 8×8 blocks) against the packed path (`--a 07974cc --b 756af7a --transB`,
 * offset 16): 128×768×3072 ×0.86, 128×3072×768 ×0.89,
 * 64×1024×1024 ×0.81, 32×1024×1024 ×0.60, 17×512×512 ×0.74, 256³ ×0.96,
 * 128³ ×0.91; 128×768×3072 on 2 threads ×0.87. A Bᵀ of one
 * panel or less is copied too (it is transposed either way; `--a 616322c
 * --b c753123`): 20×64×1024
 * ×0.51, 64×64×1024 ×0.71, 40×24×2000 ×0.71, 17×16×4000 ×0.76, 49×64×576
 * ×0.85; and below 80 KiB, against the packed path
 * that transposed it as well (`--a c753123 --b 4be53b3`): 64³ ×0.86, 32³ ×0.80, 20×128×64 ×0.70,
 * 17×16×16 ×0.82, 24×300×8 ×0.84.
 */
function copiesPanels(s: GemmSpec, isa: VecLevel, caches: CacheSizes): boolean {
  // Bᵀ's 8 rows of a transposed block are addressed by 32-bit displacements from the first.
  if (s.transB && 8 * s.ldb * 4 >= 2 ** 31) return false;
  return isa === "avx2" && !s.transA && !s.bPanel && s.m > 16 &&
    s.m <= COPIED_PANELS_ROWS && (s.n > PANEL_COLUMNS || (s.transB && s.n >= 16)) &&
    (s.transB || 4 * (s.m * s.k + s.k * s.n) > 2.5 * caches.l1d);
}

/**
 * A tall A past L2 over a B under a quarter of L2 in three strips or more (an NHWC 1×1 layer's
 * shape, 3136×256×256): the direct tiles run their row tiles outside, each row of A read once
 * while B stays in L2, where column tiles outside stream A from L3 once a strip. Parts of a
 * split along M whose share of A is within L2 take the plan the shape had (`belowRowsOuter`):
 * on 2 threads the row tiles outside had lost. Intel Xeon (SPR-class), `NJIT_TALL=1 deno run
 * -A bench/ab.ts --a 18595e6 --b ab/tall-a-rows-outside --gemm SHAPE [--offset 16 --out-offset
 * 16] [--threads 2]` (× the time, that branch's parts outside too): 3136×256×256 ×0.905 on
 * lines, ×0.960 off them, ×1.141 on 2 threads. The rule with its parts (`--a ff2ddb6 --b
 * c739748`, off lines unless said): 3136×256×256 ×0.904 on lines, ×0.948 off, 2 threads
 * ×1.006 and ×1.004; 8192×256×256 ×0.884, 3136×128×576 ×0.961; two strips (12544×128×128
 * ×1.023) and a B of a quarter of L2 (4096×512×256 ×1.019) stay as they were.
 */
function tallRowsOuter(s: GemmSpec, isa: VecLevel, p: GemmPlan, caches: CacheSizes): GemmPlan {
  const d = p.direct;
  if (
    isa !== "avx512" || p.path !== "direct" || d === undefined || s.transA || s.transB ||
    s.bPanel || (s.batch ?? 1) > 1 || (d.kc ?? s.k) < s.k || d.rowsOuter || d.transposeB ||
    d.transposeStrips || p.panelsCopied
  ) {
    return p;
  }
  if (!(4 * s.m * s.k > caches.l2 && 4 * s.k * s.n < caches.l2 / 4 && s.n > 2 * d.nr)) return p;
  const direct: DirectPlan = { ...chooseDirectTile(s, isa), rowsOuter: true };
  return {
    ...p,
    direct,
    workspaceBytes: 0,
    belowRowsOuter: p,
    rowsOuterFrom: Math.floor(caches.l2 / (4 * s.k)) + 1,
    description: describeDirect(s, isa, direct),
  };
}

/** The production plan for a spec on an ISA. */
export function planGemm(
  s: GemmSpec,
  isa: VecLevel,
  caches: CacheSizes = DEFAULT_CACHES,
): GemmPlan {
  const copied = trivialPlan(s, isa, 3) === null && copiesPanels(s, isa, caches)
    ? planGemm(copiedView(s, PANEL_COLUMNS), isa, caches)
    : null;
  // The copy takes the workspace: the panel plans (direct) take none of their own.
  if (copied?.path === "direct" && copied.workspaceBytes === 0) {
    const p = copied;
    // The next block is fetched from B as stored (panels.ts, direct.ts CopiedRows).
    return {
      ...p,
      panelsCopied: PANEL_COLUMNS,
      // One K block's rows: every block is copied to the same place (panel_copy.ts).
      workspaceBytes: copiedPanelBytes(Math.min(s.k, p.direct!.kc ?? s.k), PANEL_COLUMNS),
      description: p.description.replace(
        `panels of ${PANEL_COLUMNS}`,
        `panels of ${PANEL_COLUMNS} copied per call`,
      ),
    };
  }
  const p = tallRowsOuter(s, isa, planTiles(s, isa, caches), caches);
  if (p.path !== "direct" || !costlyEpilogue(s)) return p;
  if (s.bPanel) {
    if (tileFinishesInRegisters(vecIsa(isa), s, p.direct!)) return p;
    // B in panels, an activation the tile's registers do not hold beside it (AVX2's 6×16 and
    // GELU): by a pass over each panel's C, not over each stored tile, whose rows ran one after
    // another behind the tile's stores (a scratch A/B measured the tile passes dearer than one
    // separate GELU pass over C). Zen 3, one thread, `deno run -A bench/ab.ts --a 330ae79 --b
    // 79a135d --gemm 128x3072x768 --panels --bias --activation gelu`: ×0.943 of the time (that
    // commit also runs GELU's pass in two streams and AVX2's lookups from registers).
    const direct = { ...p.direct!, epilogueByPanel: true };
    return { ...p, direct, description: p.description + BY_PANEL };
  }
  // B read in place (not in panels): an activation of many ops by the pass over each stored
  // tile, where it ran in the shadow of the stores (direct.ts `epilogueByPass`). Measured on
  // Zen 5, one thread, bias + GELU over bias alone, the commit before and after in turn: B in
  // place 128×3072×768 −0.9% by the pass against +3.5% on the accumulators, 256×1024×1024 +0.3
  // against +1.7%, 64×2048×1024 +0.9 against +2.2%; B in panels, bias + GELU over no epilogue,
  // the accumulators won (512³ +8.4 → +3.2%, 64×2048×1024 +5.7 → +2.1%).
  const direct = { ...p.direct!, epilogueByPass: true };
  return {
    ...p,
    direct,
    description: p.description + BY_PASS,
  };
}

/** How a direct plan's description says its epilogue runs by a pass (DirectPlan.epilogueByPass). */
const BY_PASS = ", epilogue by a pass over each stored tile";
/** …and by a pass over each panel (DirectPlan.epilogueByPanel). */
const BY_PANEL = ", epilogue by a pass over each panel";

/** An epilogue whose activation takes more than a few ops a vector (GELU, SiLU, tanh...). */
function costlyEpilogue(s: GemmSpec): boolean {
  const act = s.epilogue?.activation;
  return act !== undefined && act !== null && UNARY_OPS[act.op].flops > 4;
}

/**
 * Share of L2 a panel's K block takes with the block after it, which the tiles fetch into L2
 * while they read this one (direct.ts: `nextBlockToL2`; a copied panel's `CopiedRows`, the
 * rows the next copy reads). Past it the two evict each other, and the fetch is lost. Zen 3,
 * with the copied blocks in one place and fetched ahead (`bench/ab.ts --a 55568dc --b 15ff190
 * --gemm MxNxK`): 64×768×3072 ×0.909 of the time, 128×768×3072 ×0.979; on `packB`'s panels
 * `--model bert` ×0.988 at 1 thread and ×0.983 at 2 (`--b 7397388`).
 */
const PANEL_BLOCKS_L2_SHARE = 0.6;

/** Most k steps of a K block of B in panels at AVX2: it and the next in the L2 share. */
function panelBlockRows(s: GemmSpec, caches: CacheSizes): number {
  const rowBytes = 4 * 2 * s.bPanel!;
  return Math.max(64, Math.floor((PANEL_BLOCKS_L2_SHARE * caches.l2) / rowBytes / 16) * 16);
}

function planTiles(s: GemmSpec, isa: VecLevel, caches: CacheSizes): GemmPlan {
  const make = (path: GemmPath, extra: Partial<GemmPlan>, description: string): GemmPlan => ({
    level: 3,
    isa,
    path,
    workspaceBytes: 0,
    description,
    ...extra,
  });
  const trivial = trivialPlan(s, isa, 3);
  if (trivial) return trivial;
  if (s.bPanel) {
    // B in panels: a direct GEMM per panel (panels.ts), streaming each once.
    const direct: DirectPlan = isa === "scalar"
      ? { mr: 3, nr: 3, unroll: 4, kSplit: 1 }
      : panelTile(s, isa, chooseDirectTile);
    // A panel past half of L2 that several row tiles read: K blocks, so the block stays in L2
    // while A streams by. Measured on Zen 5, 128×768×3072 (k = 3072), `bench/gemv_layouts.ts`
    // in checkouts of f27273a and 8e15428 alternating: 3.54-3.55 → 3.35-3.38 ms at 1 thread,
    // 2.04-2.10 → 1.98-2.01 ms at 2.
    if (
      isa !== "scalar" && isa !== "avx2" && s.m > direct.mr && s.k * s.bPanel * 4 > caches.l2 / 2
    ) {
      direct.kc = evenBlock(s.k, 768, 16);
    } else if (s.m > direct.mr && longTileOfA(s, isa, direct.mr, caches)) {
      direct.kc = evenBlock(s.k, LONG_A_PANEL_KC, 16);
    }
    // AVX2: a block and the next one in L2 (copied or not, the same blocks: a B copied per
    // call gives the bits of the same call on packB's panels).
    const most = panelBlockRows(s, caches);
    if (isa === "avx2" && s.m > direct.mr && s.k > most) direct.kc = evenBlock(s.k, most, 16);
    const tile = describeDirect(s, isa, direct).replace(`L3 ${isa} `, "");
    return make("direct", { direct }, `L3 ${isa} panels of ${s.bPanel}, each ${tile}`);
  }
  if (isa === "scalar") {
    const direct: DirectPlan = { mr: 3, nr: 3, unroll: 4, kSplit: 1 };
    return make("direct", { direct }, "L3 scalar (no SIMD level allowed): register-blocked 3×3");
  }
  const operandBytes = 4 * (s.m * s.k + s.k * s.n);
  if (
    s.transB && !s.transA && (isa === "avx2" || isa === "avx512") &&
    (s.m <= 16 || narrowB(isa, s.n) ||
      (isa === "avx512" && s.m <= DOT_ROWS_OF_LARGE_BT && stripsOfHalfL2(s, caches)))
  ) {
    // A few rows against Bᵀ (a Linear layer's weights): dot products of
    // contiguous rows, nothing transposed. Measured on Zen 4 against the
    // transposing paths: 1×4096×4096 2.4→11.8% of peak (the read bound),
    // 6×16×1024 32→74%, 16×512×512 61→86%, 12×2048×2048 31→70%. Any rows
    // against a Bᵀ narrower than a vector (a classifier's head): every
    // other path fills a fraction of each vector with C's few columns.
    const t = dotTile(vecIsa(isa), s.m, s.n, s.k);
    const lines = dotLines(vecIsa(isa), s) ? ", k along B's lines when off them" : "";
    return make(
      "dot",
      {},
      `L3 ${isa} dot products ${t.mr}×${t.nb} (rows of A × rows of Bᵀ)${lines}`,
    );
  }
  // Measured on Zen 4: streaming B beat tiles up to 6 rows with AVX-512 (2.3× at 4, 1.2× at
  // 6). On Zen 5 only up to 2 (`deno task compare --shapes 4x1024x1024,6x1024x1024`, skinny in
  // a checkout of b52cb70 against the direct tiles here, two rounds): 4 rows 96-111 against
  // 105-121 GFLOPS, 6 rows 50-77 against 107-160.
  const skinnyRows = isa === "avx512" ? 2 : 4;
  // It accumulates in C, so alpha applies at the end: C = alpha·(A·B) needs C
  // to start at zero (beta = 0) unless alpha = 1.
  if (
    s.m <= skinnyRows && !s.transB && isa !== "sse2" && operandBytes > caches.l2 &&
    s.n >= 4 * vecIsa(isa).lanes && (s.alpha === 1 || s.beta === 0)
  ) {
    return make(
      "skinny",
      {},
      `L3 ${isa} skinny: B streamed row by row, ${s.m} row${s.m > 1 ? "s" : ""} of C in L1${
        skinnyLines(vecIsa(isa), s) ? ", along B's lines when off them" : ""
      }`,
    );
  }
  const direct = chooseDirectTile(s, isa);
  // Packing B pays off only when each packed element feeds enough rows of A.
  // Measured: AVX-512 tiles read medium-M operands in place well; the smaller
  // AVX2 tiles need K blocks of 256 to keep their B strip in L2.
  const medium = s.m <= 128 && !s.transB && (isa === "avx512" || s.n <= 1024);
  if (isa !== "avx512" && medium && operandBytes > caches.l2 && s.m > 16) {
    direct.kc = 256;
    if (isa === "avx2") [direct.mr, direct.nr] = [6, 16];
  }
  if (isa === "avx512" && medium && s.k * s.n * 4 > streamedBBytes(caches)) {
    // B does not stay in L2 between calls: its first pass over each column
    // strip would wait on L3/DRAM. Prefetch the next strip while the row
    // tiles run over this one, and block K so that A's row panel and two
    // strips of B stay in L2. Measured on Zen 4, 64×768×3072: 74-81% → 92-95%
    // of peak; 16-32 rows × 2048-4096: 42-62% → 77-91%. (A split call's
    // parts go without the prefetch: partition.ts.)
    direct.kc = evenBlock(s.k, spreadBlock(s, caches), 16);
    direct.prefetchNext = true;
    direct.peelB = true;
    if (bRowsAliased(s) && (caches.copyStrips ?? false)) {
      // B's rows a multiple of 4 KiB apart: a strip's rows share a few cache sets, and the
      // strip with the next one prefetched does not stay in L2. Copied strip by strip, the
      // tiles read a contiguous block. Measured on an Intel Xeon (SPR, 2 MiB L2), tier 2's
      // candidates (`bench/tune_candidates.ts --gemm`): 128×3072×768 31-36% → 47-51% of the
      // peak, 128×1024×1024 26% → 50%, 128×4096×1024 21% → 55%, 32×4096×4096 15% → 26%;
      // rows 2 KiB apart (128×1536×768, 128×2560×768) lose 10-15% copied. On Zen 5 the
      // copy loses (src/cpu.ts, prefersCopiedStrips).
      direct.copyStrips = true;
      direct.prefetchNext = false;
      direct.peelB = false;
    }
    const inTile = copiesInTile(s, direct);
    if ((caches.spreadNextStrip ?? false) && (!direct.copyStrips || inTile)) {
      // The row tiles fetch a row of the next strip each 8 k steps in turn: a K block's rows of
      // it over them (where the first tile copies the strip, over the others).
      direct.prefetchNext = true;
      direct.spreadNext = true;
      direct.unroll = SPREAD_UNROLL;
      if (inTile) {
        direct.copyStrips = true;
        direct.copyInTile = true;
        direct.peelB = false;
      }
    }
  }
  if (
    s.transB && isa === "avx512" && s.m > 6 && (s.m <= 128 || !s.transA) &&
    (operandBytes > 3 * caches.l2 || stripsOfHalfL2(s, caches))
  ) {
    // Bᵀ too large to transpose whole: transpose strip by strip, prefetching
    // the next strip's rows during the tile passes. Measured on Zen 4 against
    // the packed path: 128×3072×768 77→91%, 100×2000×1000 77→93%,
    // 32×1024×2000 52→80-85%, 64×768×3072 68→80% (its Bᵀ rows are 12 KiB apart,
    // so the transpose goes 8 rows at a time; see pack.ts). On Zen 5 for many
    // rows too (`deno task compare --transB`, 1 thread): 1024³ 75→86%,
    // 300×1100×900 67→75%, 512×2000×1000 71→72%.
    direct.transposeStrips = true;
    direct.kc = evenBlock(s.k, 1024, 16);
    direct.unroll = 16;
    direct.prefetchNext = true;
    // Intel: the next strip's Bᵀ rows dealt out to the row tiles (direct.ts `spreadStrips`),
    // not all of them fetched by every tile. Xeon (SPR-class), `deno run -A bench/ab.ts --a
    // 03a5aac --b 38b3dfc --gemm MxNxK --transB [--threads 2]` (× the time, the same bits):
    // 64×768×3072 ×0.890 (2 threads ×0.932), 128×768×3072 ×0.942 (×0.929), 1024³ ×0.892
    // (×0.904), 64×768×768 ×0.911 (×0.950), 32×512×1024 ×0.932, 64×128×3072 ×0.956.
    direct.spreadNext = caches.spreadNextStrip ?? false;
    direct.wholeTransposeBlocks = caches.transposeAliasedWhole ?? false;
    const workspaceBytes = stripBufferBytes(direct.kc, direct.nr);
    return make("direct", { direct, workspaceBytes }, describeDirect(s, isa, direct));
  }
  if (
    longTileOfA(s, isa, direct.mr, caches) && !s.transB && direct.kc === undefined &&
    (s.m > direct.mr || s.n > direct.nr)
  ) {
    direct.kc = evenBlock(s.k, LONG_A_KC, 16);
  }
  const pastL1 = offLinesPastL1(s, isa, direct, caches);
  if (pastL1 === "peel") direct.peelB = true;
  const small = (operandBytes <= (isa === "avx512" ? 3 : 1) * caches.l2 || s.m <= 16 || medium) &&
    pastL1 !== "copy";
  // Small Bᵀ on AVX-512: transpose B once into the workspace, then read it in place.
  let workspaceBytes = 0;
  if (s.transB && isa === "avx512" && operandBytes <= 3 * caches.l2) {
    direct.transposeB = transposedRowFloats(s.n);
    direct.wholeTransposeBlocks = caches.transposeAliasedWhole ?? false;
    workspaceBytes = transposedBBytes(s.k, direct.transposeB);
    // All of op(B) in L1 (attention's scores, q·kᵀ per head: 64 × 128): row tiles outside read
    // each row of A once and B from L1, where column tiles outside read A once per column
    // tile, strided rows the thread before may have written on the other core. Zen 5, BERT's
    // 12 heads of 128×128×64 in the model (`bench/ort_profile.ts zoo:bert`, two runs each
    // way in turn): 1 thread 191-197 → 167-172 µs, 2 threads 158-165 → 96-98 (ORT 95-97).
    if (s.n > direct.nr && direct.kc === undefined && s.k * direct.transposeB * 4 <= caches.l1d) {
      direct.rowsOuter = true;
    }
  }
  if (
    small && (stripSharesSets(s, isa, direct, caches) || aliasedStripPastL1(s, isa, direct, caches))
  ) {
    direct.copyStrips = true;
  } else if (widePeels(s, isa, direct, caches)) direct.peelB = true;
  if (direct.copyStrips) workspaceBytes = stripBufferBytes(direct.kc ?? s.k, direct.nr);
  if ((!s.transB || direct.transposeB) && small && !aliasing(s, direct.mr)) {
    return make("direct", { direct, workspaceBytes }, describeDirect(s, isa, direct));
  }
  if (isa === "avx512" && !s.transA && !s.transB) {
    // Tiles over B's strips copied to the workspace (panels made on the fly; direct.ts's
    // copyStrips), K blocked as B in panels is. Unrolled 4 k steps: tier 2's candidate won
    // every run on Zen 5 (`deno run -A bench/tune_candidates.ts --gemm 2048x2048x2048`, and
    // 1024³; two runs each): 2048³ 90.8 → 92.3% and 89.5 → 92.0% of the peak, 1024³ 93.2 →
    // 94.1% and 93.5 → 95.6%, under the gain tier 2 takes a plan for.
    const kc = s.k * 64 * 4 > caches.l2 / 2 ? evenBlock(s.k, 768, 16) : s.k;
    const copied: DirectPlan = { mr: 6, nr: 64, unroll: 4, kSplit: 1, kc, copyStrips: true };
    return make(
      "direct",
      { direct: copied, workspaceBytes: stripBufferBytes(kc, copied.nr) },
      describeDirect(s, isa, copied),
    );
  }
  const packed = choosePackedPlan(s, isa, caches);
  return make(
    "packed",
    { packed, workspaceBytes: packedWorkspace(packed).bytes },
    `L3 ${isa} packed ${packed.mr}×${packed.nr} kc=${packed.kc} nc=${packed.nc}`,
  );
}
