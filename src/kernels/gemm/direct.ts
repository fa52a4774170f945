/**
 * GEMM without packing, for operands that fit the caches (and the L2 level
 * of the demo): a loop over C tiles, column tiles outside so a tile-wide
 * strip of B stays in cache while every row tile of A streams past it. Every
 * stride is a generation-time constant, so A, B and C are addressed as
 * `[base + constant]` and edge tiles are their own microkernel instances.
 *
 * @module
 */
import {
  type Assembler,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r8,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import { type Tail, Vec, type VecIsa } from "../vec.ts";
import {
  type ColumnGroup,
  columnGroups,
  emitMicrokernel,
  emitTileUpdate,
  type MicrokernelSpec,
  readsBFromMemory,
  tileFits,
  updateRegisters,
} from "./microkernel.ts";
import { emitTileEpilogue, tileFinish, tileFinishRegisters } from "./epilogue.ts";
import { emitRowsCopy } from "./panel_copy.ts";
import { emitTransposePanel16 } from "./pack.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** Tile shape and loop choices of a direct GEMM. */
export interface DirectPlan {
  /** Rows per tile. */
  mr: number;
  /** Columns per tile (a multiple of the vector lanes). */
  nr: number;
  /** k steps per loop iteration. */
  unroll: number;
  /** Accumulator sets. */
  kSplit: number;
  /** AVX-512: broadcast A inside the FMA. */
  embedBroadcast?: boolean;
  /** B's vectors as the FMAs' memory operands (microkernel.ts `bFromMemory`). */
  bFromMemory?: boolean;
  /** Loop over row tiles outside, column tiles inside (the naive order of level 0). */
  rowsOuter?: boolean;
  /**
   * The epilogue by a pass over each tile once stored, not on its
   * accumulators before the store (epilogue.ts: the same bits). On the
   * accumulators saves the store, reload and pass; but where the tile's
   * stores wait on memory, the pass's GELU ran in their shadow (plain B at
   * 128×3072×768: GELU free by the pass, +3.5% on the accumulators, where
   * on B in panels the accumulators were faster for bias alone, ReLU and
   * GELU alike): tier 2 tries the other.
   */
  epilogueByPass?: boolean;
  /**
   * B in panels: the epilogue by one pass over each panel's C once its
   * driver has run (generate.ts), not per tile. Where the tile leaves too
   * few registers for the activation (AVX2's 6×16 and GELU), the pass
   * over each stored tile ran its rows one after another behind the tile's
   * stores; over a panel's m×64 its rows are 8 vectors each, interleaved,
   * and the panel's C is still in L1/L2 (see plan.ts for the figures).
   */
  epilogueByPanel?: boolean;
  /**
   * AVX-512 with Bᵀ: first transpose B into the workspace as k rows of this
   * many floats (16×16 blocks in registers), then run on it as on a plain B.
   */
  transposeB?: number;
  /**
   * K block: when smaller than k, the tile loops run once per block of kc
   * steps (beta applied on the first), so A's row panel and B's column strip
   * of one block stay in L2 while all tiles pass.
   */
  kc?: number;
  /**
   * Every row tile prefetches the next column strip of B (same k rows), so
   * the strip's first pass does not wait on memory. With transposed strips
   * it takes unroll 16 (one 64-byte column of the strip's rows per loop).
   */
  prefetchNext?: boolean;
  /**
   * With `prefetchNext` over B read in place: the next strip is fetched into L2 by the first
   * full row tiles, a row of it each k-loop iteration (its lines, `unroll` k steps apart), the
   * tiles taking turns down its rows, instead of by every tile a row each k step into L1. The
   * fetches come `unroll` times thinner, and are not repeated by each row tile. With transposed
   * strips: the next strip's Bᵀ rows dealt out to the full row tiles, a few each, instead of
   * every tile fetching all of them.
   */
  spreadNext?: boolean;
  /**
   * B off its 64-byte lines (the spec's `bPeel` > 0): run its first `bPeel`
   * columns as a strip of their own, so every other strip loads whole lines
   * instead of splitting each vector over two (plan.ts `peelsB`).
   */
  peelB?: boolean;
  /**
   * With `transposeB` or `transposeStrips` over Bᵀ's rows a multiple of 4 KiB apart: its 16×16
   * blocks transposed whole, not in two passes of 8 rows (pack.ts `emitTransposePanel16`; see
   * `transposesAliasedRowsWhole` in src/cpu.ts). The same bits.
   */
  wholeTransposeBlocks?: boolean;
  /**
   * AVX-512 with Bᵀ too large to transpose whole: transpose each kc×nr strip
   * of op(B) into the workspace just before the row tiles run over it (nr a
   * multiple of 16), so B is read once and its strip stays in L1/L2.
   */
  transposeStrips?: boolean;
  /**
   * k steps ahead of the current one whose B row (the tile's columns) every
   * k step prefetches: for a B read once, front to back (a packed panel),
   * so the reads ahead run at the read bound instead of waiting on the
   * prefetchers to find the stream. 0 or absent: none.
   */
  prefetchAhead?: number;
  /**
   * AVX-512, B untransposed: copy each kc×nr strip of B into the workspace
   * just before the row tiles run over it, so the tiles read one contiguous
   * block (a panel, as `packB`'s "panels" layout holds it) instead of rows
   * ldb apart. Where the packed path would run: measured on Zen 5 against
   * it (`deno task compare`, old and new checkouts alternating), 1024³ 83-84%
   * → 89-92% of the peak at 1 thread and 68% → 87-88% at 2, 2048³ 79-87% →
   * 84-85% and 72-78% → 80-85%.
   */
  copyStrips?: boolean;
  /**
   * With `copyStrips` and the next strip fetched over the row tiles (`spreadNext`): each
   * strip's copy is made by its first full row tile as it reads B in place, its B vectors
   * stored again into the strip buffer, instead of by a pass of its own before the tiles; the
   * other row tiles read the copy (plan.ts `copiesInTile`).
   */
  copyInTile?: boolean;
  /**
   * B in panels (each K block of B one contiguous run of rows): every row
   * tile's k loop also fetches into L2 a share of the block the tiles read
   * next, which starts where the current block ends (the panel's next K
   * block, or the next panel), the shares spread over the block's row
   * tiles. Each block's first row tile then reads B from L2 instead of
   * memory, as every later one does; in a model, whose weights do not stay
   * in the caches between calls, that first pass waited on memory. Measured
   * on Zen 5, one thread, 16 MB written between calls
   * (`deno run -A bench/tune_candidates.ts --gemm 128x768x768 --panels --cold`,
   * tier 2's rounds): 128×768×768 660 µs with it against 675 without, and
   * 625-645 against 691 in another run; 128×3072×768 2602 against 2679;
   * 128×768×3072 2567-2603 against 2653. Tier 2 tries it off.
   */
  nextBlockToL2?: boolean;
}

const USED = [rbx, rbp, r12, r13, r14, r15];

/**
 * k steps ahead of its stores a tile that makes B's copy claims the copy's lines for writing
 * (CopiedRows), so its stores do not wait on the lines' ownership. Zen 3, `deno run -A
 * bench/ab.ts --a cc3591b --b 9f8c409 --gemm MxNxK` (none against 16 steps): 64×768×3072
 * ×1.001 at 1 thread, ×0.983 at 2; 64×1024×1024 ×1.016; 256³ at 2 threads ×0.986.
 */
const COPY_CLAIM_AHEAD = 16;

/**
 * Whether the driver applies the epilogue per tile (else generate.ts runs
 * it over C after the driver): everywhere but row tiles outside over a Bᵀ
 * read in place (the scalar level 0's), where a tile's column is not where
 * B's walk says (columns 4 bytes apart) and C's walk also moves down rows.
 */
export function driverAppliesEpilogue(spec: GemmSpec, isa: VecIsa, p: DirectPlan): boolean {
  return !p.rowsOuter || !spec.transB || (isa.level === "avx512" && (p.transposeB ?? 0) > 0);
}

/**
 * Whether the plan's full tile applies `s`'s epilogue on its accumulators
 * (`tileFinish`): what the C update and the activation take fits beside
 * them. The driver decides each tile by the same count (`finishFits`).
 */
export function tileFinishesInRegisters(isa: VecIsa, s: GemmSpec, p: DirectPlan): boolean {
  if (s.epilogue === undefined) return true;
  const reserved = isa.level === "avx2" && s.n % isa.lanes !== 0 ? 1 : 0;
  const accumulators = p.mr * Math.ceil(p.nr / isa.lanes);
  return isa.nregs - reserved - accumulators >= finishRegisters(isa, s);
}

/** Registers the C update and the epilogue on the accumulators take. */
function finishRegisters(isa: VecIsa, s: GemmSpec): number {
  return tileFinishRegisters(isa, s) +
    Math.max(updateRegisters(isa, s, true), updateRegisters(isa, s, false));
}

/**
 * Code the direct driver runs at the start of each K block, before the
 * block's tiles (panels.ts: B's panel copied into place a block at a time).
 */
export interface BlockStart {
  /**
   * Emits it. `depth`: bytes the driver has pushed, above which lies its
   * caller's return address; `kc`: the block's k steps; `block`: the
   * block's first row of B. It may use rax, rdx, rsi and the vector
   * registers; any other it saves.
   */
  emit(depth: number, kc: Reg, block: Reg): void;
  /**
   * Every block put at B's first row (one block's rows of workspace, which
   * stay in L2 from one block to the next): the driver's B does not advance
   * between blocks.
   */
  inPlace?: boolean;
  /** The blocks are copies of B's rows as stored (untransposed): where they come from. */
  copied?: CopiedRows;
}

/**
 * Where a driver's B, copied a block at a time (panels.ts: B the caller
 * holds as rows or as Bᵀ, copied panel by panel), comes from. With it the
 * driver's last row tiles fetch what the next copy reads into L2 beside
 * their FMAs (B's rows: a line of one a k-loop iteration; Bᵀ's: each tile
 * a few of its rows, along k), and its first row tile may make the copy as
 * it reads B as stored (`take`: its B rows stored again as loaded, no pass
 * of their own before the tiles).
 */
export interface CopiedRows {
  /** Bytes between the k steps of B as stored (its rows; Bᵀ: 4). */
  rowBytes: number;
  /** Bytes between the columns of op(B) as stored (4; Bᵀ: its rows). */
  columnBytes: number;
  /** k steps of the next copy, at most. */
  nextRows: number;
  /**
   * Emits code leaving in rdx the next copy's first row of B as stored
   * (the next K block's, or the next panel's). `depth` as
   * {@link BlockStart.emit}'s; it may use rax.
   */
  next(depth: number): void;
  /**
   * Emits code that, in place of {@link BlockStart.emit}'s copy, leaves in
   * rdx this block's first row of B as stored and moves the walk past its
   * `kc` rows, as the copy would have. It may use rax. Absent for Bᵀ,
   * whose copy transposes.
   */
  take?(depth: number, kc: Reg): void;
}

/**
 * Rows of Bᵀ each fetching tile takes of a 16-column tile's 16 (CopiedRows): the next copy's
 * 64 rows go over 16 / this many row tiles of every column tile, each iteration of theirs a
 * prefetch a row, 8 bytes on along k. Zen 3, `deno run -A bench/ab.ts --a 2246896 --b dde2d46 --gemm
 * MxNxK --transB [--threads 2]` (the copy unfetched before), × the time: 64×768×3072 ×0.949 (2
 * threads ×0.963), 128×3072×768 ×0.954 (×0.968), 64×1024×1024 ×0.959, 256³ ×0.988, 128³ ×1.004.
 */
const BT_ROWS_A_TILE = 4;

/** Emits `void gemm(args)` computing the whole spec without packing. Requires !transB. */
export function emitDirectGemm(
  a: Assembler,
  isa: VecIsa,
  spec: GemmSpec,
  p: DirectPlan,
  blockStart?: BlockStart,
): void {
  const avx512T = spec.transB && isa.level === "avx512";
  const strips = avx512T && (p.transposeStrips ?? false);
  if (strips && p.nr % 16 !== 0) throw new Error("transposed strips need nr a multiple of 16");
  const copies = !spec.transB && (p.copyStrips ?? false);
  if (copies && isa.level !== "avx512") throw new Error("copied strips are AVX-512 only");
  // Strips in the workspace, transposed or copied: the tiles read them as k×nr matrices.
  const buffered = strips || copies;
  const ldbT = buffered ? p.nr : avx512T ? (p.transposeB ?? 0) : 0;
  // After the transpose, the tiles read B as an untransposed k×ldbT matrix.
  const s: GemmSpec = ldbT ? { ...spec, transB: false, ldb: ldbT } : spec;
  if (s.transB && isa.lanes > 1) {
    throw new Error("direct GEMM reads B rows with vectors; transposed B goes through packing");
  }
  const v = new Vec(a, isa);
  const rA0 = r8, rB0 = r9, rC0 = r10, rArow = r11, rBcol = rbx, rCt = rbp, rCcol = r12;
  const rA = rsi, rB = rdx, counter = rax, rI = r13, rJ = r14;
  const rKc = r15, rFirst = rdi, rKrem = rcx, rStream = rcx;
  const blocked = p.kc !== undefined && p.kc < s.k;
  const copied = blockStart?.copied;
  const rowTiles = splitRowEdge(isa, s.m, p.mr);
  // A full tile loads B's vectors into registers (not the FMAs' memory operands): a tile that
  // makes a copy stores them again.
  const bInRegisters = !readsBFromMemory(
    isa,
    columnGroups(isa, p.nr, null),
    p.bFromMemory ?? false,
    p.embedBroadcast,
  );
  // Strips copied by their first full row tile (copyInTile): one tile reads B as stored, the
  // others its copy.
  const stripInTile = copies && (p.copyInTile ?? false) && rowTiles.full > 1 && bInRegisters;
  // Full row tiles that make the copy (the copy takes rStream: they fetch no next strip).
  const copyingTiles = stripInTile ? 1 : 0;
  // B a copy: the next block is the next copy's rows of B as stored, fetched a line of each
  // of them a tile's iteration (the copy, not made yet, is not there to fetch).
  const fetchAhead = copied !== undefined && (p.nextBlockToL2 ?? false) && p.nr * 4 === 64;
  // Bᵀ as stored: the tiles fetch rows of it along k (columnBytes: its rows), not lines of rows.
  const fetchBT = fetchAhead && copied!.columnBytes !== 4;
  const nextBlock = (p.nextBlockToL2 ?? false) && !buffered && !ldbT && copied === undefined;
  // B a copy its first row tile can make: whole vectors over whole column tiles.
  const copyInTiles = copied?.take !== undefined && !buffered && !ldbT && rowTiles.full > 0 &&
    s.n % p.nr === 0 &&
    p.nr % isa.lanes === 0 &&
    bInRegisters;
  // The next strip of B read in place fetched by the first `spreadTiles` full row tiles in turn,
  // `spreadRows` of its rows each k-loop iteration: all its kc rows over the strip's tiles.
  const spread = (p.prefetchNext ?? false) && (p.spreadNext ?? false) &&
    (stripInTile || (!buffered && !ldbT)) && copied === undefined && !p.rowsOuter &&
    rowTiles.full > 0;
  const spreadRows = spread ? Math.ceil(p.unroll / (rowTiles.full - copyingTiles)) : 0;
  // Transposed strips (unroll 16): the next strip's Bᵀ rows dealt out to the full row tiles,
  // `stripRows` of them each, a 64-byte column of each an iteration (every tile took all of
  // them before).
  const spreadStrips = strips && (p.prefetchNext ?? false) && (p.spreadNext ?? false) &&
    p.unroll === 16 && rowTiles.full > 0;
  const stripRows = spreadStrips ? Math.ceil(p.nr / rowTiles.full) : 0;
  const spreadTiles = spread
    ? Math.ceil(p.unroll / spreadRows)
    : spreadStrips
    ? Math.ceil(p.nr / stripRows)
    : 0;
  // The K-block loop's remaining k moves to the stack where rcx carries a prefetch stream
  // (or the copy's pointer).
  const kRemOnStack = buffered || nextBlock || fetchAhead || copyInTiles || spread;
  // [rsp]: the strip buffer, or the next copy's source; [rsp + 8]: remaining k; [rsp + 16]:
  // this block's source (copyInTiles).
  const frameSlots = copyInTiles ? 32 : kRemOnStack ? 16 : 0;
  saveRegisters(a, USED);
  // The epilogue in the driver, per tile after its last K block (epilogue.ts).
  const tileEpilogue = s.epilogue !== undefined && driverAppliesEpilogue(spec, isa, p);
  if (tileEpilogue) {
    // [rsp]: the bias pointer, below the slots that follow (16 bytes: the
    // stack keeps its alignment).
    a.emit("sub", rsp, 16);
    if (s.epilogue!.bias) {
      loadPointer(a, rax, ARG.BIAS);
      a.emit("mov", qword(rsp, 0), rax);
    }
  }
  loadPointer(a, rA0, ARG.A);
  loadPointer(a, rB0, ARG.B);
  loadPointer(a, rC0, ARG.C);
  if (buffered) {
    // The strip buffer's address lives on the stack: every register is taken.
    loadPointer(a, rax, ARG.WORK);
    a.emit("push", rax); // [rsp + 8]: remaining k of the K-block loop
    a.emit("push", rax); // [rsp]: the strip buffer
    if (!blocked) a.emit("mov", rKc, s.k);
  } else if (ldbT) {
    emitTransposeB(v, spec, ldbT, rB0, p.wholeTransposeBlocks ?? false);
    loadPointer(a, rB0, ARG.WORK);
  } else if (frameSlots) a.emit("sub", rsp, frameSlots);
  // Bytes pushed so far (a block start's code finds its caller's frame above them).
  const depth = 8 * USED.length + (tileEpilogue ? 16 : 0) + frameSlots;

  const nrEdge = s.n % p.nr;
  let tail: Tail | null = null;
  const reserved: number[] = [];
  if (nrEdge % isa.lanes !== 0 && (isa.level === "avx512" || isa.level === "avx2")) {
    const m = isa.nregs - 1;
    tail = v.tail(nrEdge % isa.lanes, 1, m);
    if (isa.level === "avx2") reserved.push(m);
  }
  const aRow = s.transA ? 4 : s.lda * 4; // bytes between rows of op(A)
  const aCol = s.transA ? s.lda * 4 : 4; // bytes between k steps of op(A)
  const bRow = s.transB ? 4 : s.ldb * 4; // bytes between k steps of op(B)
  // Bytes between B's rows as stored: where a copying tile reads, and the next strip's rows a
  // spreading tile fetches (the tiles over a strip buffer read rows bRow apart).
  const storedRow = stripInTile ? spec.ldb * 4 : bRow;
  const bCol = s.transB ? s.ldb * 4 : 4; // bytes between columns of op(B) (scalar columns only)
  // How rB0 and rBcol move through B as stored: per k step and per column.
  const srcRow = strips ? 4 : copies ? spec.ldb * 4 : bRow;
  const srcCol = strips ? spec.ldb * 4 : copies ? 4 : bCol;
  // The next block: as many bytes as this one, from where it ends, spread over the loop
  // iterations of the block's full tiles (one line an iteration, or less: a line fetched
  // twice costs a load slot, a line missed costs the wait this avoids).
  const blockRows = blocked ? p.kc! : s.k;
  const blockBytes = blockRows * srcRow;
  const iterations = Math.max(
    1,
    Math.ceil(s.n / p.nr) * Math.max(1, rowTiles.full) *
      Math.max(1, Math.floor(blockRows / p.unroll)),
  );
  const linesPerIteration = Math.ceil(blockBytes / 64 / iterations);
  const nextBlockStream = {
    base: rStream,
    offsets: Array.from({ length: linesPerIteration }, (_, i) => i * 64),
    advance: linesPerIteration > 1
      ? 64 * linesPerIteration
      : Math.max(1, Math.ceil(blockBytes / iterations)),
    hint: "prefetcht1" as const,
  };

  /**
   * Registers a tile pass leaves free for its C update: the epilogue is
   * applied there, on the accumulators (`tileFinish`), where what the
   * update and the activation take fits them, and no column is scalar.
   */
  const finishNeeds = tileEpilogue ? finishRegisters(isa, s) : 0;
  const finishFits = (rows: number, pass: ColumnGroup[]) =>
    pass.every((g) => !g.scalar) &&
    isa.nregs - reserved.length - rows * pass.length >= finishNeeds;

  // The first full row tile of every column of tiles makes the copy (copyInTiles). The copy's
  // next source: the last `aheadTiles` full row tiles fetch it, each `aheadRows` of its rows, a
  // row's line (the tile's 64 bytes) an iteration.
  const copyTiles = copyInTiles ? 1 : copyingTiles;
  const aheadRows = Math.max(1, Math.floor((blocked ? p.kc! : s.k) / p.unroll));
  // Bᵀ: 16 / BT_ROWS_A_TILE tiles (or fewer, each more rows, where the rows of tiles are few).
  let btRows = BT_ROWS_A_TILE;
  while (fetchBT && btRows < 16 && 16 / btRows > rowTiles.full - copyTiles) btRows *= 2;
  const aheadTiles = !fetchAhead
    ? 0
    : fetchBT
    ? Math.min(rowTiles.full - copyTiles, 16 / btRows)
    : Math.min(rowTiles.full - copyTiles, Math.ceil(copied!.nextRows / aheadRows));
  /** Whether the full tiles emitted now fetch the next strip (`spread`): set around them. */
  let spreading = false;
  /**
   * Emits an mr×nr tile; returns whether its epilogue was applied in it (in registers).
   * `aheadAt`: a full tile's place among the `aheadTiles`, which fetch the copy's next
   * source; `copyIn`: the full tile that makes the copy.
   */
  const tile = (mr: number, nr: number, aheadAt = -1, copyIn = false): boolean => {
    const groups = columnGroups(isa, nr, tail);
    // The plan's full tiles fit (plan.ts uses the same rule); an edge tile
    // can have more groups (SSE2 splits a tail into scalar columns), so it
    // runs in passes when its accumulators would not fit — never with fewer
    // accumulator sets: kSplit fixes the order of each sum, and an edge tile
    // (wherever a thread's part puts one) must sum as a full tile does.
    const kSplit = p.kSplit;
    const fromMemory = readsBFromMemory(isa, groups, p.bFromMemory ?? false, p.embedBroadcast);
    const fits = (rows: number, count: number) =>
      tileFits(isa, rows, count, kSplit, reserved.length, fromMemory);
    if (mr === p.mr && nr === p.nr && !fits(mr, groups.length)) {
      throw new Error(`direct plan ${p.mr}×${p.nr} ×${p.kSplit} does not fit the registers`);
    }
    // Passes of columns where one row of them does not fit, of rows where all do not.
    let perPass = groups.length;
    while (perPass > 1 && !fits(1, perPass)) perPass--;
    const passes: [ColumnGroup[], number, number][] = [];
    for (let g0 = 0; g0 < groups.length; g0 += perPass) {
      const pass = groups.slice(g0, g0 + perPass);
      let rows = mr;
      while (rows > 1 && !fits(rows, pass.length)) rows--;
      for (let r0 = 0; r0 < mr; r0 += rows) passes.push([pass, r0, Math.min(rows, mr - r0)]);
    }
    const inRegisters = tileEpilogue && !p.epilogueByPass &&
      passes.every(([pass, _, h]) => finishFits(h, pass));
    for (const [pass, r0, h] of passes) {
      if (copyIn && passes.length > 1) throw new Error("the copying tile runs in one pass");
      passTile(
        mr,
        nr,
        pass,
        r0,
        h,
        kSplit,
        inRegisters,
        passes.length === 1 ? aheadAt : -1,
        copyIn,
      );
    }
    return inRegisters;
  };
  const passTile = (
    mr: number,
    nr: number,
    groups: ColumnGroup[],
    r0: number,
    h: number,
    kSplit: number,
    finished: boolean,
    aheadAt: number,
    copyIn: boolean,
  ) => {
    a.emit("lea", rA, ptr(rArow, r0 * aRow));
    if (aheadAt >= 0 && fetchBT) {
      // The next source's Bᵀ rows of this tile's 16 columns, btRows from the aheadAt-th on.
      a.emit("mov", rStream, tileColumn.at);
      a.emit("sub", rStream, tileColumn.first);
      a.emit("imul", rStream, rStream, copied!.columnBytes / 4);
      a.emit("add", rStream, qword(rsp, 0));
      addImmediate(a, "add", rStream, aheadAt * btRows * copied!.columnBytes);
    } else if (aheadAt >= 0) {
      // The next source's rows from aheadAt·aheadRows on, at this tile's column (64 bytes).
      a.emit("mov", rStream, tileColumn.at);
      a.emit("sub", rStream, tileColumn.first);
      a.emit("add", rStream, qword(rsp, 0));
      addImmediate(a, "add", rStream, aheadAt * aheadRows * copied!.rowBytes);
    }
    if (copyIn && stripInTile) {
      // B as stored (this block's rows of the strip); its copy into the strip buffer.
      a.emit("mov", rB, rBcol);
      a.emit("mov", rStream, qword(rsp, 0));
    } else if (copyIn) {
      // B as stored (this block's rows, this tile's columns); the copy where later tiles read.
      a.emit("mov", rB, tileColumn.at);
      a.emit("sub", rB, tileColumn.first);
      a.emit("add", rB, qword(rsp, 16));
      a.emit("mov", rStream, rBcol);
    } else a.emit("mov", rB, buffered ? qword(rsp, 0) : rBcol);
    // Edge tiles run once per row or column of tiles: less unrolling (as
    // much as the accumulator sets need), less code.
    const unroll = mr === p.mr && nr === p.nr ? p.unroll : kSplit;
    const prefetchNext = p.prefetchNext ?? false;
    const stream = prefetchNext && strips && unroll === 16 && !spreadStrips;
    if (stream) a.emit("lea", rStream, ptr(rBcol, p.nr * spec.ldb * 4));
    // A spreading tile's share of the next strip. Transposed strips: its `stripRows` Bᵀ rows, a
    // 64-byte column of each an iteration (into L2: rows 4 KiB apart would share an L1 set).
    // B in place: each row's lines (the last byte too, for a strip off its lines), `spreadRows`
    // rows an iteration, rStream running on from tile to tile.
    const nextRows = spreading && spreadStrips && unroll === p.unroll
      ? {
        base: rStream,
        offsets: Array.from({ length: stripRows }, (_, r) => r * spec.ldb * 4),
        advance: 64,
        hint: "prefetcht2" as const,
      }
      : spreading && unroll === p.unroll
      ? {
        base: rStream,
        offsets: Array.from({ length: spreadRows }, (_, r) => [
          ...Array.from({ length: Math.ceil(p.nr / 16) }, (_, i) => r * storedRow + i * 64),
          r * storedRow + p.nr * 4 - 1,
        ]).flat(),
        advance: spreadRows * storedRow,
        hint: "prefetcht1" as const,
      }
      : undefined;
    const kernel: MicrokernelSpec = {
      mr: h,
      groups,
      a: { base: rA, rowBytes: aRow, colBytes: aCol },
      b: {
        base: rB,
        rowBytes: copyIn ? (stripInTile ? storedRow : copied!.rowBytes) : bRow,
        colBytes: bCol,
      },
      // (The strip buffer's lines are this core's from the strip before: no claims.)
      copyB: copyIn
        ? {
          base: rStream,
          rowBytes: bRow,
          claimAhead: stripInTile ? 0 : COPY_CLAIM_AHEAD * bRow,
        }
        : undefined,
      c: { base: rCt, rowBytes: s.ldc * 4, offset: r0 * s.ldc * 4 },
      k: blocked ? rKc : s.k,
      counter,
      unroll,
      kSplit,
      alpha: s.alpha,
      beta: s.beta,
      first: blocked ? rFirst : true,
      reserved,
      embedBroadcast: p.embedBroadcast,
      bFromMemory: p.bFromMemory,
      prefetch: p.prefetchAhead
        ? p.prefetchAhead * (copyIn ? copied!.rowBytes : bRow)
        : prefetchNext && !buffered && !spread
        ? nr * 4
        : 0,
      // Transposed strips (unroll 16): the next strip's Bᵀ rows, one 64-byte
      // column of them per 16 k steps, so each tile pass brings in the
      // whole next strip while B is read from memory only once.
      stream: nextRows ?? (stream
        ? {
          base: rStream,
          offsets: Array.from({ length: p.nr }, (_, r) => r * spec.ldb * 4),
          advance: 64,
          // Into L2 only: Bᵀ rows a multiple of 4 KiB apart would all land
          // in one L1 set and evict the tile's operands (measured: t0
          // loses 7% at 64×768×3072 where t2 gains 1-2%; at
          // 128×3072×768 both gain 12%).
          hint: "prefetcht2",
        }
        : nextBlock
        ? nextBlockStream
        : aheadAt >= 0 && fetchBT
        // Bᵀ: btRows rows, each 4 bytes a k step on (a line every 16 steps), into L2.
        ? {
          base: rStream,
          offsets: Array.from({ length: btRows }, (_, i) => i * copied!.columnBytes),
          advance: unroll * 4,
          hint: "prefetcht1",
        }
        : aheadAt >= 0
        // Into L2: the copy reads it there, and L1 keeps the tile's operands.
        // B 16 bytes into a line as a large Float32Array is: a row's 64 bytes span two lines.
        ? { base: rStream, offsets: [0, 63], advance: copied!.rowBytes, hint: "prefetcht1" }
        : undefined),
      prefetchBytes: nr * 4,
    };
    if (finished) kernel.epilogue = (acc, free) => finishInRegisters(kernel, acc, free);
    emitMicrokernel(v, kernel);
  };

  /**
   * Where the tile's column is, as bytes from the first column: C's column
   * walk with column tiles outside; B's with row tiles outside, where C's
   * walk also moves down the rows (B's columns are 4 bytes apart there:
   * row tiles outside never read a strip buffer, and Bᵀ is transposed first).
   */
  const tileColumn = p.rowsOuter ? { at: rBcol, first: rB0 } : { at: rCcol, first: rC0 };
  if (tileEpilogue && p.rowsOuter && srcCol !== 4) {
    throw new Error("B's columns are not 4 bytes apart");
  }
  /**
   * The C update of a tile pass with the epilogue applied on its way to C
   * in the last K block (epilogue.ts `tileFinish`); earlier blocks store
   * their sums as they are.
   */
  const finishInRegisters = (
    kernel: MicrokernelSpec,
    acc: (i: number, g: number) => number,
    free: number[],
  ) => {
    const last = a.label(), end = a.label();
    if (blocked) {
      // The last block is the one that leaves at most KC of k.
      a.emit("cmp", kRemOnStack ? qword(rsp, 8) : rKrem, p.kc!);
      a.emit("jle", last);
      emitTileUpdate(v, kernel, acc, free);
      a.emit("jmp", end);
      a.bind(last);
    }
    // rdx (B's walk, free after the k loop): this column strip's first bias.
    const bias = s.epilogue!.bias;
    if (bias) {
      a.emit("mov", rdx, tileColumn.at);
      a.emit("sub", rdx, tileColumn.first);
      a.emit("add", rdx, qword(rsp, frameSlots)); // the bias pointer, above the frame's slots
    }
    emitTileUpdate(v, kernel, acc, free, tileFinish(v, s, bias ? rdx : undefined));
    a.bind(end);
  };

  /** The tile's epilogue once its last K block is stored (still in L1). */
  const finishTile = (rows: number, cols: number) => {
    if (!tileEpilogue) return;
    const skip = a.label();
    if (blocked) {
      // The last block is the one that leaves at most KC of k.
      a.emit("cmp", kRemOnStack ? qword(rsp, 8) : rKrem, p.kc!);
      a.emit("jg", skip);
    }
    emitTileEpilogue(a, isa, s, rows, cols, {
      tile: rCt,
      column: tileColumn.at,
      first: tileColumn.first,
      biasSlot: frameSlots,
    });
    if (tail) v.tail(tail.lanes, 1, isa.nregs - 1); // the pass took its mask
    a.bind(skip);
  };
  /** The edge row tiles after the full ones: A's row and `rowC` moved on past each before the next. */
  const edgeRows = (rowC: Reg, each: (rows: number) => void) =>
    rowTiles.edges.forEach((rows, i) => {
      if (i > 0) {
        addImmediate(a, "add", rArow, rowTiles.edges[i - 1] * aRow);
        addImmediate(a, "add", rowC, rowTiles.edges[i - 1] * s.ldc * 4);
      }
      each(rows);
    });
  const column = (nr: number) => {
    a.emit("mov", rArow, rA0);
    a.emit("mov", rCt, rCcol);
    const fetching = nr === p.nr ? aheadTiles : 0, copying = nr === p.nr ? copyTiles : 0;
    const next = () => {
      addImmediate(a, "add", rArow, p.mr * aRow);
      addImmediate(a, "add", rCt, p.mr * s.ldc * 4);
    };
    if (copying) {
      if (!tile(p.mr, nr, -1, true)) finishTile(p.mr, nr);
      next();
    }
    const spreaders = nr === p.nr ? spreadTiles : 0;
    if (spreaders) {
      // The next strip's first row of this block (past B's last strip: rows after it, in the
      // process's memory or not; a prefetch does not fault). Transposed strips: its first
      // Bᵀ row, at this block's first k.
      a.emit("lea", rStream, ptr(rBcol, p.nr * (spreadStrips ? spec.ldb * 4 : 4)));
      spreading = true;
      countedLoop(a, rI, spreaders, () => {
        if (!tile(p.mr, nr)) finishTile(p.mr, nr);
        next();
        if (spreadStrips) {
          // On to the next tile's Bᵀ rows, back to the block's first k: the tile's loop
          // advanced 64 bytes an iteration of 16 steps (the steps past them took none).
          a.emit("mov", counter, rKc);
          a.emit("and", counter, -16);
          a.emit("shl", counter, 2);
          a.emit("sub", rStream, counter);
          addImmediate(a, "add", rStream, stripRows * spec.ldb * 4);
        }
      });
      spreading = false;
    }
    countedLoop(a, rI, rowTiles.full - copying - fetching - spreaders, () => {
      if (!tile(p.mr, nr)) finishTile(p.mr, nr);
      next();
    });
    for (let r = 0; r < fetching; r++) {
      if (!tile(p.mr, nr, r)) finishTile(p.mr, nr);
      next();
    }
    edgeRows(rCt, (rows) => {
      if (!tile(rows, nr)) finishTile(rows, nr);
    });
  };

  /** Bᵀ rows rBcol.. (kc of them from the block's k) → the strip buffer, kc rows of p.nr. */
  const transposeStrip = (cols: number) => {
    const regs = { src: rsi, dst: rdx, rem: rax, t: rbp, one: r11, start: r13 };
    a.emit("mov", regs.src, rBcol);
    a.emit("mov", regs.dst, qword(rsp, 0));
    emitTransposePanel16(
      v,
      regs,
      rKc,
      cols,
      Math.ceil(cols / 16) * 16,
      spec.ldb * 4,
      p.nr * 4,
      p.wholeTransposeBlocks,
    );
  };
  /** B's rows rBcol.. (kc of them from the block's k), `cols` wide → the strip buffer, rows of p.nr. */
  const copyStrip = (cols: number) => {
    a.emit("mov", rsi, rBcol);
    a.emit("mov", rdx, qword(rsp, 0));
    emitRowsCopy(v, rKc, cols, spec.ldb * 4, p.nr * 4, cols % isa.lanes ? tail! : undefined);
  };
  const nest = () => {
    if (nextBlock) {
      // The block after this one starts where it ends: kc rows on from its first.
      if (blocked) {
        a.emit("imul", rStream, rKc, srcRow);
        a.emit("add", rStream, rB0);
      } else {
        a.emit("mov", rStream, s.k * srcRow);
        a.emit("add", rStream, rB0);
      }
    }
    if (!p.rowsOuter) {
      a.emit("mov", rBcol, rB0);
      a.emit("mov", rCcol, rC0);
      countedLoop(a, rJ, Math.floor(s.n / p.nr), () => {
        if (strips) transposeStrip(p.nr);
        if (copies && !stripInTile) copyStrip(p.nr);
        column(p.nr);
        addImmediate(a, "add", rBcol, p.nr * srcCol);
        addImmediate(a, "add", rCcol, p.nr * 4);
      });
      if (nrEdge) {
        if (strips) transposeStrip(nrEdge);
        if (copies) copyStrip(nrEdge);
        column(nrEdge);
      }
      return;
    }
    if (buffered) throw new Error("buffered strips run column tiles outside");
    // Row tiles outside: level 0's naive order, and AVX2's over B in panels (panels.ts).
    a.emit("mov", rArow, rA0);
    a.emit("mov", rCcol, rC0);
    // rCcol back to the row's start by a subtraction, not a push: the tiles' epilogue reads
    // slots at fixed offsets from rsp.
    const fullColumns = Math.floor(s.n / p.nr);
    const row = (mr: number, aheadAt = -1, copyIn = false) => {
      a.emit("mov", rBcol, rB0);
      countedLoop(a, rJ, fullColumns, () => {
        a.emit("mov", rCt, rCcol);
        if (!tile(mr, p.nr, aheadAt, copyIn)) finishTile(mr, p.nr);
        addImmediate(a, "add", rBcol, p.nr * srcCol);
        addImmediate(a, "add", rCcol, p.nr * 4);
      });
      if (nrEdge) {
        a.emit("mov", rCt, rCcol);
        if (!tile(mr, nrEdge)) finishTile(mr, nrEdge);
      }
      if (fullColumns) addImmediate(a, "sub", rCcol, fullColumns * p.nr * 4);
    };
    const nextRow = () => {
      addImmediate(a, "add", rArow, p.mr * aRow);
      addImmediate(a, "add", rCcol, p.mr * s.ldc * 4);
    };
    if (copyTiles) {
      row(p.mr, -1, true);
      nextRow();
    }
    countedLoop(a, rI, rowTiles.full - copyTiles - aheadTiles, () => {
      row(p.mr);
      nextRow();
    });
    for (let r = 0; r < aheadTiles; r++) {
      row(p.mr, r);
      nextRow();
    }
    edgeRows(rCcol, row);
  };
  /**
   * A block's start: its copy made (or, copyInTiles, where its first row tile reads it: [rsp +
   * 16]); [rsp]: where the copy after this block reads (fetchAhead).
   */
  const startBlock = () => {
    if (blockStart) {
      if (copyInTiles) {
        copied!.take!(depth, rKc);
        a.emit("mov", qword(rsp, 16), rdx);
      } else {
        blockStart.emit(depth, rKc, rB0);
        if (tail) v.tail(tail.lanes, 1, isa.nregs - 1); // the code may have taken its mask
      }
    }
    if (fetchAhead) {
      copied!.next(depth);
      a.emit("mov", qword(rsp, 0), rdx);
    }
  };
  if (!blocked) {
    // One block: its k steps in rKc for the block's start (the tiles take k as a constant).
    if (blockStart) a.emit("mov", rKc, s.k);
    startBlock();
    nest();
  } else {
    // K blocks: kc = min(KC, remaining); beta only on the first block.
    // With strips in the workspace or the next block fetched, the remaining k
    // lives on the stack, and rcx carries the prefetch stream.
    const KC = p.kc!;
    const kRem = kRemOnStack ? qword(rsp, 8) : rKrem;
    a.emit("mov", kRem, s.k);
    a.emit("mov", rFirst, 1);
    const top = a.label("pc");
    a.bind(top);
    a.emit("mov", rKc, KC);
    a.emit("cmp", kRem, rKc);
    a.emit("cmovb", rKc, kRem);
    startBlock();
    nest();
    a.emit("mov", rFirst, 0);
    addImmediate(a, "add", rA0, KC * aCol);
    if (!blockStart?.inPlace) addImmediate(a, "add", rB0, KC * srcRow);
    a.emit("sub", kRem, KC);
    a.emit("jg", top);
  }
  if (frameSlots) a.emit("add", rsp, frameSlots);
  if (tileEpilogue) a.emit("add", rsp, 16);
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
}

/**
 * The row tiles of m rows: `full` of mr rows, then `edges` (their rows, in
 * order). At AVX2 and AVX-512 an edge under half a tile and the last full tile run as
 * two tiles of about half their rows each: an edge of 1-2 rows beside 6 has
 * 2-4 accumulator chains, each waiting on the FMA's latency (4 cycles, 2
 * FMAs a cycle: 8 chains keep both busy), so 6 + 2 rows took 6 + 4 cycles a
 * k step and 4 + 4 take 8. Every element of C sums the same products in the
 * same order (the plan's accumulator sets): the same bits. Zen 3, one
 * thread, `deno run -A bench/ab.ts --a 46ca379 --b fec7ba3 --gemm MxNxK
 * --panels --bias`: 128×768×768 ×0.977 of the time, 128×768×3072 ×0.988.
 * AVX-512 too (6 + 2 rows of 4 vectors: 24 + 8 chains → 16 + 16): Intel Xeon (SPR-class),
 * `--a e3fa54f --b ab/avx512-balanced-edge --gemm MxNxK --panels --bias`: 128×768×3072 ×0.992,
 * 128×3072×768 ×0.990, 128×768×768 ×0.989; `--model bert` ×0.988 (2 threads ×0.981).
 */
export function splitRowEdge(
  isa: VecIsa,
  m: number,
  mr: number,
): { full: number; edges: number[] } {
  const full = Math.floor(m / mr), edge = m % mr;
  if (edge === 0) return { full, edges: [] };
  if ((isa.level === "avx2" || isa.level === "avx512") && full >= 1 && 2 * edge < mr) {
    const first = Math.ceil((mr + edge) / 2);
    return { full: full - 1, edges: [first, mr + edge - first] };
  }
  return { full, edges: [edge] };
}

/** Bytes of workspace the strip buffer takes: kc rows of nr, and 16 rows of slack. */
export function stripBufferBytes(kc: number, nr: number): number {
  return (kc + 16) * nr * 4;
}

/**
 * Row stride, in floats, of B transposed into the workspace for n columns: whole vectors, and
 * a line more where the rows would lie a multiple of 512 bytes apart. There the rows of a
 * column strip fall on at most 8 of L1's 64 set offsets, so a strip that fits L1 does not stay
 * there between row tiles (as B's own rows, plan.ts `stripSharesSets`); a line more spreads
 * them over all 64. Speed only: the tiles and their sums are the same. Intel Xeon (SPR, 48 KiB
 * L1), one thread, `deno run -A bench/ab.ts --a 3c252e4 --b d4705e2 --gemm SHAPE --transB
 * --offset 16 --out-offset 16`: 3136×256×64 ×0.890 of the time, 1024×512×128 ×0.928,
 * 512×512×64 ×0.984, 512×512×256 ×0.989; 300×240×64 (no padding) ×1.010.
 */
export function transposedRowFloats(n: number): number {
  const floats = Math.ceil(n / 16) * 16;
  return (floats * 4) % 512 === 0 ? floats + 16 : floats;
}

/** Bytes of workspace the transposed copy of B takes (16 rows of slack). */
export function transposedBBytes(k: number, ldbT: number): number {
  return (k + 16) * ldbT * 4;
}

/**
 * Writes op(B) (k×n) into the workspace with row stride ldbT, from Bᵀ as
 * stored (n rows of k, stride ldb): 16 rows of Bᵀ at a time through the
 * 16×16 register transpose. Uses rsi, rdx, rax, rcx, r11, r13, r14, rbx,
 * rbp, r15 (all free before the tile loops).
 */
function emitTransposeB(v: Vec, s: GemmSpec, ldbT: number, rB: Reg, whole: boolean): void {
  const a = v.a;
  const regs = { src: rsi, dst: rdx, rem: rax, t: rcx, one: r11, start: r13 };
  a.emit("mov", r15, s.k);
  a.emit("mov", rbx, rB);
  loadPointer(a, rbp, ARG.WORK);
  const panel = (cols: number) => {
    a.emit("mov", rsi, rbx);
    a.emit("mov", rdx, rbp);
    emitTransposePanel16(v, regs, r15, cols, 16, s.ldb * 4, ldbT * 4, whole);
    addImmediate(a, "add", rbx, 16 * s.ldb * 4);
    a.emit("add", rbp, 64);
  };
  countedLoop(a, r14, Math.floor(s.n / 16), () => panel(16));
  if (s.n % 16) panel(s.n % 16);
}
