/**
 * GEMM with B packed in column panels (`packB`'s "panels" layout): each
 * panel is a row-major k×width matrix of its own, so the call is one GEMM
 * per panel — C's columns of the panel against that matrix, by the plan's
 * path — run by a driver that advances B by a whole panel and C by its
 * width. Every panel has the same shape but the last, so two subroutines
 * serve all of them.
 *
 * ```
 * for each full panel p:  C[:, 64p .. 64p+64) = path(A, panel p, ldb = 64)
 * last panel (if any):    C[:, 64F .. n)      = path(A, panel F, ldb = its width)
 * ```
 *
 * Over a few row tiles (see `panelTile`) the tiles prefetch B a few k
 * steps ahead: a panel is one sequential stream, read once, and the
 * prefetches keep it at the read bound (Zen 5,
 * 1×1024×1024 from L3: 95-101% of the read bound measured in the same run
 * of `bench/gemv_layouts.ts`). Tier 2 tries 0, 4 and 16 steps on live calls. (AVX2's tile
 * for one row of A reads a whole panel in order and prefetches nothing: see `panelTile`.)
 *
 * @module
 */
import { type Assembler, qword, rax, rdi, rdx, rsp } from "../../../asm/mod.ts";
import { addImmediate, advanceSlot, ARG_BLOCK_BYTES, copyArgBlock, frameLoop } from "../abi.ts";
import { vecIsa, type VecLevel } from "../vec.ts";
import type { BlockStart, CopiedRows, DirectPlan } from "./direct.ts";
import { tileFits } from "./microkernel.ts";
import { copyByBlocks, type PanelCopy, panelStep } from "./panel_copy.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** k steps ahead the tiles prefetch (8 × 256 bytes: 2 KiB ahead in a full panel). */
const PREFETCH_AHEAD = 8;

/**
 * Row tiles from which each tile also fetches the next block into L2
 * (`DirectPlan.nextBlockToL2`). With fewer, the first row tile is most of
 * the work, and its own stream of B is what bounds it: a second stream
 * (the next block) beside it costs that one. Measured on Zen 5, one
 * thread, B in L3 (`deno run -A bench/tune_candidates.ts --gemm MxNxK --panels`,
 * tier 2's rounds, with → without, ×1024×1024): m = 1 41.3 → 34.5 µs,
 * 4 53-58 → 38.1, 16 (3 tiles of 6) 140 → 131.5, 24 and 32 within 4%
 * either way; B from memory (`--cold`): m = 1 63.5 → 60.3, 4 72.2 → 70.1,
 * 16 161 → 157. At m = 128 it gains 2-3% cold (see the plan's field).
 */
const NEXT_BLOCK_ROW_TILES = 4;

/** The per-panel spec: a plain row-major GEMM of `cols` columns, B's rows `width` apart. */
function panelSpec(s: GemmSpec, cols: number, width: number): GemmSpec {
  const { bPanel: _panel, batch: _batch, strideA: _a, strideB: _b, strideC: _c, ...plain } = s;
  return { ...plain, n: cols, ldb: width, bPeel: 0 };
}

/** The last panel's columns and width (0, 0 when every panel is full). */
function lastPanel(s: GemmSpec): { cols: number; width: number } {
  const cols = s.n % s.bPanel!;
  return { cols, width: Math.ceil(cols / 16) * 16 };
}

/** The direct tile every panel runs: the planner's tile for a full panel, prefetching ahead. */
export function panelTile(
  s: GemmSpec,
  isa: VecLevel,
  choose: (s: GemmSpec, isa: VecLevel, tailElsewhere: boolean) => DirectPlan,
): DirectPlan {
  const p = s.bPanel!;
  // The last panel runs the same tile: its tail (an AVX2 mask register) counts too. Without,
  // 40×100×2000 at AVX2 chose 4×24, which does not fit beside the mask, and fell back to i-k-j.
  const last = lastPanel(s).cols;
  const tail = last % vecIsa(isa).lanes !== 0;
  const chosen = choose(panelSpec(s, Math.min(p, s.n), p), isa, tail);
  // AVX2's 4×24 (over more rows than one tile's) cuts a panel of 64 into 24 + 24 + 16, the
  // last tile two vectors wide; 6×16 cuts it into four of the same tile (and beside a tail's
  // mask, where 4×24 does not fit, it takes the 4 registers 4×16 leaves). Zen 3, one thread,
  // `deno run -A bench/tune_candidates.ts --gemm MxNxK --panels` (tier 2 measured on its
  // calls, 4×24 → 6×16): 64×1024×1024 1465 → 1406 µs (1553 → 1474 with --cold), 64×1024×784
  // 1080 → 1071; whole models (`bench/ab.ts --a 79c40c6 --b ad2f1e5 --model M`, the same
  // bits): mlp64 ×0.978 of the time at 1 thread and ×0.964 at 2, bert ×0.987.
  const tile = isa === "avx2" && s.m > 14 && chosen.mr === 4 &&
      (chosen.nr === 24 || chosen.nr === 16) &&
      tileFits(vecIsa(isa), 6, 2, chosen.kSplit, tail ? 1 : 0)
    ? { ...chosen, mr: 6, nr: 16 }
    : chosen;
  const nextBlockToL2 = Math.ceil(s.m / tile.mr) >= NEXT_BLOCK_ROW_TILES;
  if (isa === "avx2" && tile.mr === 1 && s.n >= p) {
    // One row of A at AVX2: 1×32 tiles (4 vectors of B loaded, k split in 2 for 8 chains)
    // read each panel in two passes, half of every row's lines each. A tile of the whole
    // panel, B the FMAs' own memory operand (8 accumulators, 8 chains), reads it once in
    // order, and the hardware's prefetch keeps up without ours. Zen 3, `deno run -A
    // bench/gemv_layouts.ts --cold --shapes 1x1000x2048,1x1024x1024`, checkouts of 9c4dc1c and
    // ef11b4f alternating, two runs each, panels at 1 / 2 threads: 743-757 → 489-535 / 461-489
    // → 377-401 µs and 320-332 → 236-246 / 247-255 → 204-210 (the dot products over Bᵀ 412-449
    // and 236-255 at 1 thread). Prefetching 16 steps ahead as well (a scratch toggle) lost
    // 5-10% cold.
    // (prefetchAhead 0 stated: tier 2 then tries 4 and 16 steps, not a copy of this plan.)
    const none = { prefetchAhead: 0, nextBlockToL2 };
    return { ...tile, nr: p, kSplit: 1, unroll: 2, bFromMemory: true, ...none };
  }
  // AVX2 over 4 row tiles or more: row tiles outside the panel's column tiles, so a row
  // tile's A (6 rows of k) stays in L1 for the panel's four column tiles, where column tiles
  // outside read each 16-wide strip of B (k lines, past L1 at k ≥ 512) and the row tiles' A
  // from L2. Zen 3, `deno run -A bench/ab.ts --a 79a135d --b 800770d --gemm MxNxK --panels
  // --bias` (the same bits): 128×768×3072 ×0.971 of the time at 1 thread, ×0.950 at 2;
  // 128×768×768 ×0.867; `--model bert` ×0.968 / ×0.960 at 1 / 2 threads (from 330ae79).
  // At 16 rows (3 row tiles) a scratch A/B in one process measured ×0.94-0.99 of the speed
  // in three runs, so fewer row tiles keep columns outside.
  const rowsOuter = isa === "avx2" && nextBlockToL2;
  // Over NEXT_BLOCK_ROW_TILES row tiles or more, B's prefetch is left to the hardware: every
  // row tile after the first finds the panel's lines in L2, where the prefetch instructions
  // cost issue slots (and the first tile fetches the next block already). Intel Xeon (model
  // 167), one thread, `deno run -A bench/ab.ts --a 9497b93 --b a4de42a --gemm MxNxK --panels
  // --bias` (× the time, the same bits; branch ab/panels-no-prefetch-many-rows): 128×3072×768
  // with GELU ×0.958 (2 threads ×0.978), 128×768×3072 ×0.986, 128×768×768 ×0.963;
  // `--model mlp64` ×0.974 (×0.989), `--model bert` ×0.998 and ×0.980 (×1.004). Tier 2 tries
  // 4 and 16 steps. (AVX-512 only: AVX2's row tiles outside were measured with the fetch.)
  const ahead = nextBlockToL2 && isa === "avx512" ? 0 : PREFETCH_AHEAD;
  return { ...tile, prefetchAhead: ahead, nextBlockToL2, rowsOuter };
}

/**
 * A B the caller holds as rows, copied panel by panel (panel_copy.ts):
 * `kc`, the panel GEMM's K block when it runs in blocks (each block then
 * copied at its start, not the whole panel before), and `extra`, bytes its
 * caller pushes between the panel driver's call and the GEMM's.
 */
export interface PanelCopying {
  copy: PanelCopy;
  kc?: number;
  extra: number;
}

/**
 * Emits `void gemm(args)` for a spec whose B is in panels: `one(spec)`
 * emits the kernel of one panel's plain GEMM (a subroutine here; with
 * `blockStart`, code to run at the start of each of its K blocks). With
 * `copying`, B is rows at `copy.ldb` as a caller holds it: each panel's
 * columns are copied into the workspace as the panel `packB` would have
 * made (k rows of its width), whole before the panel's GEMM or a K block
 * at a time at each block's start, and the panel's GEMM reads that.
 */
export function emitPanelGemm(
  a: Assembler,
  s: GemmSpec,
  one: (s: GemmSpec, blockStart?: BlockStart) => void,
  copying?: PanelCopying,
): void {
  const P = s.bPanel!, full = Math.floor(s.n / P), last = lastPanel(s);
  const copy = copying?.copy;
  // Copied a K block at a time (one block: all of k).
  const KC = copying?.kc !== undefined && copying.kc < s.k ? copying.kc : s.k;
  const blocks = copy ? { KC, last: s.k - (Math.ceil(s.k / KC) - 1) * KC } : null;
  // Entered with rsp ≡ 8 (mod 16): the frame keeps the calls 16-byte aligned. With `copy`,
  // SOURCE: the next panel's first column of B as stored (an integer address); ROWS: where
  // the copy a block at a time has got to.
  const SAVED = ARG_BLOCK_BYTES, COUNT = SAVED + 8, SOURCE = SAVED + 16, ROWS = SAVED + 24;
  const FRAME = ARG_BLOCK_BYTES + 40;
  const fullPanel = a.label(), lastOne = a.label();
  a.emit("sub", rsp, FRAME);
  a.emit("mov", qword(rsp, SAVED), rdi);
  copyArgBlock(a);
  if (copy) {
    // The panels' GEMMs read B from the workspace; the driver walks B as stored.
    a.emit("cvttsd2si", rax, qword(rsp, ARG.B * 8));
    a.emit("mov", qword(rsp, SOURCE), rax);
    a.emit("mov", rax, qword(rsp, ARG.WORK * 8));
    a.emit("mov", qword(rsp, ARG.B * 8), rax);
  }
  /** Before a panel's GEMM: where its copy a block at a time starts. */
  const before = () => {
    if (!copy) return;
    a.emit("mov", rax, qword(rsp, SOURCE));
    a.emit("mov", qword(rsp, ROWS), rax);
  };
  // B as stored: bytes between its k steps and between op(B)'s columns (Bᵀ: 4 and its rows).
  const rowBytes = copy ? (copy.transposed ? 4 : copy.ldb * 4) : 0;
  const columnBytes = copy ? (copy.transposed ? copy.ldb * 4 : 4) : 0;
  // Where the copies come from: the next copy reads the panel's next block, else the next
  // panel's first (after B's last panel, its columns past n: the next rows' first, or past
  // B's last row, where a prefetch does not fault). Bᵀ's copy transposes: no tile makes it.
  const copied: CopiedRows | undefined = copy && s.k * rowBytes < 2 ** 31
    ? {
      rowBytes,
      columnBytes,
      nextRows: blocks!.KC,
      next(depth) {
        const at = depth + 8 + copying!.extra;
        const nextPanel = a.label(), done = a.label();
        a.emit("mov", rdx, qword(rsp, at + SOURCE));
        // Bytes of k copied of this panel so far: all of them in its last block.
        a.emit("mov", rax, qword(rsp, at + ROWS));
        a.emit("sub", rax, rdx);
        a.emit("cmp", rax, s.k * rowBytes);
        a.emit("jae", nextPanel);
        a.emit("add", rdx, rax);
        a.emit("jmp", done);
        a.bind(nextPanel);
        addImmediate(a, "add", rdx, panelStep(copy, P));
        a.bind(done);
      },
      take: copy.transposed ? undefined : (depth, kc) => {
        const at = depth + 8 + copying!.extra;
        a.emit("mov", rdx, qword(rsp, at + ROWS));
        a.emit("imul", rax, kc, rowBytes);
        a.emit("add", qword(rsp, at + ROWS), rax);
      },
    }
    : undefined;
  const byBlocks = (cols: number, width: number): BlockStart | undefined =>
    copy
      ? { ...copyByBlocks(a, copy, cols, width, ROWS, blocks!, copying!.extra), copied }
      : undefined;
  frameLoop(a, COUNT, full, () => {
    before();
    a.emit("mov", rdi, rsp);
    a.emit("call", fullPanel);
    if (copy) addImmediate(a, "add", qword(rsp, SOURCE), panelStep(copy, P));
    else advanceSlot(a, rsp, ARG.B, s.k * P * 4);
    advanceSlot(a, rsp, ARG.C, P * 4);
    // The drivers that apply the epilogue per tile read the panel's bias there.
    if (s.epilogue?.bias) advanceSlot(a, rsp, ARG.BIAS, P * 4);
  });
  if (last.cols) {
    before();
    a.emit("mov", rdi, rsp);
    a.emit("call", lastOne);
  }
  a.emit("mov", rdi, qword(rsp, SAVED));
  a.emit("add", rsp, FRAME);
  a.emit("ret");
  if (full) {
    a.bind(fullPanel);
    one(panelSpec(s, P, P), byBlocks(P, P));
  }
  if (last.cols) {
    a.bind(lastOne);
    one(panelSpec(s, last.cols, last.width), byBlocks(last.cols, last.width));
  }
}
