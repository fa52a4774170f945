/**
 * Attention in one kernel: for each head and block of query rows, the
 * scores S = scale·q·kᵀ + bias, their softmax and the output S·v, with the
 * block's score rows kept in the workspace (L1 or L2) instead of a
 * heads × queries × keys array written out and read back twice.
 *
 * Per key head, its keys are first transposed into the workspace (d rows
 * of the keys, padded to whole vectors): a tile of R query rows × C vectors
 * of keys then takes, per d, C loads and R broadcasts for R·C FMAs, as the
 * direct GEMM's tile does. Each score row's maximum, e^(s − max) (the
 * shared exponential, math/exp.ts) and their sum follow; the output tile
 * (R rows × C vectors of v's columns) sums e·v over the keys in order and
 * is scaled by 1/sum once. Padding lanes of the last vector of keys score
 * −Inf (e = 0). Where a head's keys and values outgrow L2, several blocks
 * take each pass over them (plan.blocks), the output tiles over runs of
 * keys.
 *
 * Every element's sums run in a fixed order (q·k over d, e·v over the keys,
 * the row's sums by vector then lane) whatever the block or part it falls
 * in: the bits depend on the shape only.
 *
 * @module
 */
import {
  Assembler,
  type Program,
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
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  frameLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { Lanes } from "../math/lanes.ts";
import { emitExpStep } from "../softmax/exp_step.ts";
import { allocateStreams } from "../streams.ts";
import { transpose16, transpose8 } from "../transpose.ts";
import { f32, type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { ATTENTION_ARG, type AttentionSpec, BIAS } from "./spec.ts";

/** How an attention kernel is built. */
export interface AttentionPlan {
  /** Vector level (SSE2 computes at the scalar level where keys or vHeadSize leave a tail). */
  isa: VecLevel;
  /** Query rows per block (a tile's rows). */
  rows: number;
  /** Vectors of keys (or of v's columns) per tile. */
  vectors: number;
  /** The keys transposed by blocks in registers (AVX-512 16×16, AVX2 8×8), else element by element. */
  blockTranspose: boolean;
  /** Each key head's values copied into the workspace, rows of whole vectors (valuesCopied). */
  copyValues: boolean;
  /**
   * Blocks of query rows per pass over the keys and values (see
   * blocksPerPass): each chunk of transposed keys serves them all from L1,
   * each run of `keyRun` values them all from L2, the output tiles' sums
   * kept in the workspace between runs (stored and loaded exactly: the same
   * order of additions, the same bits).
   */
  blocks: number;
  /** Keys per run of the output tiles (all of them with one block). */
  keyRun: number;
  /**
   * Bytes of the workspace (attentionLayout): transposed keys, score rows,
   * the rows' 1/sum, the padding vector, the copied values, the sums kept
   * between runs of keys.
   */
  workspaceBytes: number;
  /** One line for listings and stats. */
  description: string;
}

/** The workspace's parts, in bytes from its start. */
export interface AttentionLayout {
  /** Keys per transposed row: `keys` rounded up to whole vectors. */
  padded: number;
  keysT: number;
  scores: number;
  inverse: number;
  pad: number;
  /** The key head's values, rows of whole vectors (0 bytes where v's rows are dense). */
  values: number;
  /** Bytes between those rows: vHeadSize rounded up to whole vectors. */
  valueRow: number;
  /** The output tiles' sums between runs of keys (none with one run). */
  sums: number;
  bytes: number;
}

/**
 * Whether tier 1 copies the values into the workspace, one key head at a
 * time: where v's rows lie wider apart than a head (bshd, several heads),
 * every block's output tile read them from L2 through the few L1 sets
 * their stride maps to (12 heads of 64: rows 3 KB apart, 16 of the 64
 * sets), while the transposed keys and the copy fit in half of L2. Measured
 * on Zen 5 (scratch, the output tiles alone, 12 heads of 128×64): 131 µs
 * from rows 3 KB apart, 119 from dense rows; a whole BERT layer at 2048
 * tokens (the keys and the copy 1 MB a head) 129 ms without, 147 with.
 */
function valuesCopied(s: AttentionSpec, lanes: number, l2: number): boolean {
  return s.v.row !== s.vHeadSize && s.keys > 1 && headBytes(s, lanes) <= l2 / 2;
}

/** Bytes of a key head's transposed keys and of its values in rows of whole vectors. */
function headBytes(s: AttentionSpec, lanes: number): number {
  const padded = Math.ceil(s.keys / lanes) * lanes;
  return s.headSize * padded * 4 + s.keys * Math.ceil(s.vHeadSize / lanes) * lanes * 4;
}

const line = (n: number) => Math.ceil(n / 64) * 64;

/** Where the workspace holds what, for a plan's lanes and rows. */
export function attentionLayout(
  s: AttentionSpec,
  lanes: number,
  p: Pick<AttentionPlan, "rows" | "vectors" | "copyValues" | "blocks" | "keyRun">,
): AttentionLayout {
  const padded = Math.ceil(s.keys / lanes) * lanes, rows = p.rows * p.blocks;
  const keysT = 0, scores = line(s.headSize * padded * 4);
  const inverse = scores + line(rows * padded * 4), pad = inverse + line(rows * 4);
  const values = pad + line(lanes * 4), valueRow = Math.ceil(s.vHeadSize / lanes) * lanes * 4;
  const sums = values + (p.copyValues ? line(s.keys * valueRow) : 0);
  const bytes = sums + (p.keyRun < s.keys ? line(rows * p.vectors * lanes * 4) : 0);
  return { padded, keysT, scores, inverse, pad, values, valueRow, sums, bytes };
}

/**
 * Tier 1's blocks per pass: one where the head's transposed keys and values
 * fit in half of L2 (every block then reads them from L2); else as many as
 * keep their score rows within a quarter of L2, up to 8, over runs of 256
 * keys (each run's values 64 KB at 64 a row, in L2 while every block reads
 * them). A BERT layer at 2048 tokens read each head's 512 KB of values from
 * L3 once per block of 6 rows: 67% of the 2-thread peak.
 */
function blocksPerPass(s: AttentionSpec, lanes: number, rows: number, l2: number) {
  const most = Math.ceil(s.queries / rows);
  if (headBytes(s, lanes) <= l2 / 2 || most < 2) return { blocks: 1, keyRun: s.keys };
  const fit = Math.floor(l2 / 4 / (rows * Math.ceil(s.keys / lanes) * lanes * 4));
  return { blocks: Math.max(2, Math.min(8, fit, most)), keyRun: Math.min(256, s.keys) };
}

/**
 * Tile rows × vectors by level: accumulators, a vector's loads, a
 * broadcast (the AVX2 tail mask in the last register). AVX2's 6×2 takes
 * 8 loads per 12 FMAs where 3×3 took 6 per 9 (and each key chunk of 24
 * left a tile one vector wide). With the 8×8 transposes, on Zen 3, one
 * thread, `deno run -A bench/attention_kernel.ts [--seq 512]` in checkouts
 * of 2f831d1 and 79c40c6 alternating: BERT's 12 heads of 128×64 859-910 →
 * 708-737 µs, at 512 tokens 14.0-14.3 → 11.6-11.9 ms.
 */
const TILES: Record<VecLevel, { rows: number; vectors: number }> = {
  avx512: { rows: 6, vectors: 4 },
  avx2: { rows: 6, vectors: 2 },
  sse2: { rows: 3, vectors: 3 },
  scalar: { rows: 3, vectors: 3 },
};

/**
 * AVX2's tile for fewer than 6 query rows (a decode step): wider, its rows
 * all there are. Zen 3, `--heads 32 --seq 257 --queries 2` (scratch tile
 * toggles, one process each): 2×4 209 µs, 6×2 263, 3×3 255. There the
 * keys' transposes are most of the call: 2f831d1 → 79c40c6 as above,
 * `--queries 1` 583-592 → 240-254 µs, `--queries 2` 551-555 → 213-215.
 */
const AVX2_FEW_ROWS = { rows: 2, vectors: 4 };

/** Largest displacement a tile's rows may span (a disp32). */
const MAX_DISP = 2 ** 31 - 1;

/**
 * Blocks a pass whose bias rows all lie within a displacement of the
 * chunk's bias pointer (a score tile reads row b·R + r at (b·R + r) rows
 * on); else one block a pass.
 */
function blocksWithin(
  s: AttentionSpec,
  rows: number,
  b: { blocks: number; keyRun: number },
): { blocks: number; keyRun: number } {
  return (b.blocks * rows - 1) * s.b.row * 4 > MAX_DISP ? { blocks: 1, keyRun: s.keys } : b;
}

/** The plan: the level's tile; one row per block where rows lie too far apart for a displacement. */
export function planAttention(s: AttentionSpec, isa: VecLevel, l2 = 1 << 20): AttentionPlan {
  const level = isa === "sse2" && (s.keys % 4 !== 0 || s.vHeadSize % 4 !== 0) ? "scalar" : isa;
  const lanes = vecIsa(level).lanes;
  const tile = level === "avx2" && s.queries < 6 ? AVX2_FEW_ROWS : TILES[level];
  const spread = Math.max(s.q.row, s.y.row, s.b.row) * 4 * (tile.rows - 1);
  const rows = spread > MAX_DISP ? 1 : tile.rows;
  const blockTranspose = (level === "avx512" || level === "avx2") &&
    s.k.row * 4 * (lanes - 1) <= MAX_DISP;
  return describedAttention(s, {
    isa: level,
    rows,
    vectors: tile.vectors,
    blockTranspose,
    copyValues: valuesCopied(s, lanes, l2),
    ...blocksWithin(s, rows, blocksPerPass(s, lanes, rows, l2)),
    workspaceBytes: 0,
    description: "",
  });
}

/**
 * Tier 2's candidates: the values copied or read in place, blocks per pass
 * (the same arithmetic in the same order: the same bits). `l2`: the
 * target's.
 */
export function attentionCandidates(
  s: AttentionSpec,
  p: AttentionPlan,
  l2 = 1 << 20,
): AttentionPlan[] {
  const out: AttentionPlan[] = [];
  // The copy tried where it fits in L2 (past that, the workspace would grow with v itself).
  const lanes = vecIsa(p.isa).lanes;
  if (p.copyValues || (s.v.row !== s.vHeadSize && s.keys > 1 && headBytes(s, lanes) <= l2)) {
    out.push(describedAttention(s, { ...p, copyValues: !p.copyValues }));
  }
  // One block a pass, or several over runs of keys (the same sums in the same order).
  if (p.blocks > 1) out.push(describedAttention(s, { ...p, blocks: 1, keyRun: s.keys }));
  else if (s.queries > p.rows && s.keys > 256) {
    const blocks = blocksWithin(s, p.rows, {
      blocks: Math.min(4, Math.ceil(s.queries / p.rows)),
      keyRun: 256,
    });
    if (blocks.blocks > 1) out.push(describedAttention(s, { ...p, ...blocks }));
  }
  return out;
}

/** The plan with its workspace and description. */
function describedAttention(s: AttentionSpec, p: AttentionPlan): AttentionPlan {
  const lanes = vecIsa(p.isa).lanes;
  return {
    ...p,
    workspaceBytes: attentionLayout(s, lanes, p).bytes,
    description: `${p.isa} attention, ${p.rows} query rows × ${p.vectors * lanes} keys a tile, ` +
      `keys transposed ${p.blockTranspose ? `by ${lanes}×${lanes} blocks` : "element by element"}${
        p.copyValues ? ", values copied" : ""
      }${p.blocks > 1 ? `, ${p.blocks} blocks a pass over runs of ${p.keyRun} keys` : ""}`,
  };
}

// Frame slots (bytes from rsp): the walking pointers of each loop level, the counters, the
// workspace.
const QB = 0, KB = 8, VB = 16, BB = 24, YB = 32;
const QH = 40, BH = 48, YH = 56, KH = 64, VH = 72;
const QR = 80, BR = 88, YR = 96;
const N_BATCH = 104, N_KV = 112, N_GROUP = 120, N_BLOCK = 128, N_RUN = 136;
const FRAME = 144;
const USED = [rbx, rbp, r12, r13, r14, r15];

/** Where an output tile's sums start and go: see outputTile. */
type Mode = "first" | "middle" | "last" | "only";

/** Emits `void kernel(args)` for the spec. */
export function generateAttention(
  s: AttentionSpec,
  plan: AttentionPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const L = isa.lanes, VBYTES = L * 4;
  const lay = attentionLayout(s, L, plan);
  const P4 = lay.padded * 4;
  const VT = lay.padded / L, VD = Math.ceil(s.vHeadSize / L);
  const keyTail = s.keys % L, colTail = s.vHeadSize % L;
  const R = plan.rows, C = plan.vectors;
  const bias = (s.bias & BIAS.PRESENT) !== 0;
  const perKv = s.heads / s.kvHeads;
  // Registers of the tiles: accumulators from 0, the vectors loaded, a broadcast, the FMA
  // temporary where there is no FMA, the AVX2 tail mask last. The scale and the bias's
  // temporary live past the k loop only, in the loaded vectors' and the broadcast's registers.
  const ACC = (r: number, j: number) => r * C + j;
  const LOADED = R * C, BC = LOADED + C, SCALE = LOADED, T2 = BC, FT = BC + 1;
  const MASK = isa.level === "avx2" ? isa.nregs - 1 : -1;
  const tailOf = (lanes: number): Tail => v.tail(lanes, 1, MASK);

  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  for (
    const [slot, arg] of [[QB, ATTENTION_ARG.Q], [KB, ATTENTION_ARG.K], [VB, ATTENTION_ARG.V], [
      BB,
      ATTENTION_ARG.BIAS,
    ], [YB, ATTENTION_ARG.Y]] as const
  ) {
    loadPointer(a, rax, arg);
    a.emit("mov", qword(rsp, slot), rax);
  }
  loadPointer(a, r12, WORKSPACE_SLOT);
  const copy = (to: number, from: number) => {
    a.emit("mov", rax, qword(rsp, from));
    a.emit("mov", qword(rsp, to), rax);
  };
  const advance = (slot: number, bytes: number) => {
    if (bytes !== 0) addImmediate(a, "add", qword(rsp, slot), bytes);
  };
  // The padding vector: 0 in the lanes of keys, −Inf past them (added to the last scores).
  if (keyTail !== 0) {
    v.zero(0);
    v.move(1, f32(-Infinity));
    for (let i = 0; i < L; i++) v.storeScalar(r12, lay.pad + 4 * i, i < keyTail ? 0 : 1);
  }

  frameLoop(a, N_BATCH, s.batch, () => {
    copy(QH, QB), copy(BH, BB), copy(YH, YB), copy(KH, KB), copy(VH, VB);
    frameLoop(a, N_KV, s.kvHeads, () => {
      if (plan.blockTranspose) transposeByBlocks();
      else transposeByElements();
      if (plan.copyValues) copyValues();
      frameLoop(a, N_GROUP, perKv, () => {
        copy(QR, QH), copy(BR, BH), copy(YR, YH);
        const G = plan.blocks, span = G * R;
        frameLoop(a, N_BLOCK, Math.floor(s.queries / span), () => {
          group(G, R);
          advance(QR, span * s.q.row * 4);
          advance(BR, span * s.b.row * 4);
          advance(YR, span * s.y.row * 4);
        });
        const rest = s.queries % span;
        if (rest) group(Math.ceil(rest / R), rest - (Math.ceil(rest / R) - 1) * R);
        advance(QH, s.q.head * 4), advance(BH, s.b.head * 4), advance(YH, s.y.head * 4);
      });
      advance(KH, s.k.head * 4), advance(VH, s.v.head * 4);
    });
    advance(QB, s.q.batch * 4), advance(BB, s.b.batch * 4), advance(YB, s.y.batch * 4);
    advance(KB, s.k.batch * 4), advance(VB, s.v.batch * 4);
  });
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  v.leave();
  a.emit("ret");
  return a.finish();

  /**
   * The key head's keys (at KH) into the workspace, transposed: blocks of
   * L×L in registers (16×16 at AVX-512, 8×8 at AVX2).
   */
  function transposeByBlocks(): void {
    const kRow4 = s.k.row * 4, D = s.headSize;
    const transpose = L === 16 ? transpose16 : transpose8;
    const tBlock = (rowsValid: number) => {
      a.emit("mov", r10, r8);
      a.emit("mov", r11, r9);
      const one = (lanes: number) => {
        // (AVX2: the mask register is set here, before the transpose's registers take it.)
        const tail = lanes < L ? tailOf(lanes) : undefined;
        for (let p = 0; p < L; p++) {
          if (p < rowsValid) v.load(p, r10, p * kRow4, tail);
          else v.zero(p);
        }
        const out = transpose(v);
        for (let j = 0; j < lanes; j++) v.store(r11, j * P4, out[j]);
      };
      countedLoop(a, rcx, Math.floor(D / L), () => {
        one(L);
        a.emit("add", r10, VBYTES);
        addImmediate(a, "add", r11, L * P4);
      });
      if (D % L) one(D % L);
    };
    a.emit("mov", r8, qword(rsp, KH));
    a.emit("lea", r9, ptr(r12, lay.keysT));
    countedLoop(a, r13, Math.floor(s.keys / L), () => {
      tBlock(L);
      addImmediate(a, "add", r8, L * kRow4);
      a.emit("add", r9, VBYTES);
    });
    if (s.keys % L) tBlock(s.keys % L);
  }

  /** The same, element by element (every level; the padding columns zeroed). */
  function transposeByElements(): void {
    a.emit("mov", r8, qword(rsp, KH));
    a.emit("lea", r9, ptr(r12, lay.keysT));
    countedLoop(a, r13, s.keys, () => {
      a.emit("mov", r10, r8);
      a.emit("mov", r11, r9);
      countedLoop(a, rcx, s.headSize, () => {
        v.loadScalar(0, r10, 0);
        v.storeScalar(r11, 0, 0);
        a.emit("add", r10, 4);
        addImmediate(a, "add", r11, P4);
      });
      addImmediate(a, "add", r8, s.k.row * 4);
      a.emit("add", r9, 4);
    });
    if (lay.padded === s.keys) return;
    v.zero(0);
    a.emit("lea", r9, ptr(r12, lay.keysT + s.keys * 4));
    countedLoop(a, rcx, s.headSize, () => {
      for (let t = s.keys; t < lay.padded; t++) v.storeScalar(r9, (t - s.keys) * 4, 0);
      addImmediate(a, "add", r9, P4);
    });
  }

  /** The key head's values (at VH) into the workspace, rows of whole vectors (a tail zeroed). */
  function copyValues(): void {
    a.emit("mov", r8, qword(rsp, VH));
    a.emit("lea", r9, ptr(r12, lay.values));
    const tail = colTail ? tailOf(colTail) : undefined;
    countedLoop(a, rcx, s.keys, () => {
      // A row's whole vectors but its last, in a loop; the last (its tail zeroed) after.
      a.emit("mov", r10, r8);
      a.emit("mov", r11, r9);
      countedLoop(a, rdx, VD - 1, () => {
        v.load(0, r10, 0);
        v.store(r11, 0, 0);
        a.emit("add", r10, VBYTES);
        a.emit("add", r11, VBYTES);
      });
      v.load(0, r10, 0, tail);
      v.store(r11, 0, 0);
      addImmediate(a, "add", r8, s.v.row * 4);
      addImmediate(a, "add", r9, lay.valueRow);
    });
  }

  /**
   * `nb` blocks of query rows (at QR) of the current head, R rows each but
   * the last's `lastRows`: their scores chunk by chunk of keys (each chunk
   * of transposed keys serving every block), their softmax, their output.
   */
  function group(nb: number, lastRows: number): void {
    const rowsOf = (b: number) => (b === nb - 1 ? lastRows : R);
    // Scores, chunk by chunk of C vectors of keys; the last chunk (the padding's) peeled.
    a.emit("lea", rsi, ptr(r12, lay.scores));
    a.emit("lea", rbx, ptr(r12, lay.keysT));
    if (bias) a.emit("mov", rdx, qword(rsp, BR));
    const chunks = Math.ceil(VT / C);
    countedLoop(a, r13, chunks - 1, () => {
      for (let b = 0; b < nb; b++) scoreTile(rowsOf(b), C, false, b);
      a.emit("add", rsi, C * VBYTES);
      a.emit("add", rbx, C * VBYTES);
      if (bias) a.emit("add", rdx, C * VBYTES);
    });
    for (let b = 0; b < nb; b++) scoreTile(rowsOf(b), VT - (chunks - 1) * C, true, b);
    softmaxRows((nb - 1) * R + lastRows);
    // The output, chunk by chunk of C vectors of v's columns; the last (its tail) peeled.
    if (plan.copyValues) a.emit("lea", r14, ptr(r12, lay.values));
    else a.emit("mov", r14, qword(rsp, VH));
    a.emit("mov", r15, qword(rsp, YR));
    const outChunks = Math.ceil(VD / C);
    countedLoop(a, r13, outChunks - 1, () => {
      outputRuns(nb, lastRows, C, 0);
      a.emit("add", r14, C * VBYTES);
      a.emit("add", r15, C * VBYTES);
    });
    outputRuns(nb, lastRows, VD - (outChunks - 1) * C, colTail);
  }

  /**
   * The output tiles of the group's blocks for c vectors of v's columns
   * (r14) into y's rows (r15), over runs of `keyRun` keys: each run's values
   * serve every block; a tile's sums go to the workspace between runs.
   */
  function outputRuns(nb: number, lastRows: number, c: number, tail: number): void {
    const runs = Math.ceil(s.keys / plan.keyRun), last = s.keys - (runs - 1) * plan.keyRun;
    // Set once: the tiles' loops keep k1 (or the AVX2 mask register) and rax.
    const t = tail ? tailOf(tail) : undefined;
    const vRow = plan.copyValues ? lay.valueRow : s.v.row * 4;
    a.emit("mov", r8, r14);
    a.emit("xor", rax, rax);
    const blocks = (mode: Mode, keys: number) => {
      a.emit("lea", rsi, ptr(r12, lay.scores, rax, 1));
      a.emit("lea", rdx, ptr(r12, lay.sums));
      a.emit("lea", rbp, ptr(r12, lay.inverse));
      a.emit("mov", rbx, r15);
      countedLoop(a, r9, nb - 1, () => {
        outputTile(R, c, t, mode, keys);
        a.emit("add", rsi, R * P4);
        a.emit("add", rdx, R * C * VBYTES);
        a.emit("add", rbp, R * 4);
        addImmediate(a, "add", rbx, R * s.y.row * 4);
      });
      outputTile(lastRows, c, t, mode, keys);
    };
    const next = () => {
      addImmediate(a, "add", r8, plan.keyRun * vRow);
      a.emit("add", rax, plan.keyRun * 4);
    };
    if (runs === 1) return blocks("only", s.keys);
    blocks("first", plan.keyRun);
    next();
    frameLoop(a, N_RUN, runs - 2, () => {
      blocks("middle", plan.keyRun);
      next();
    });
    blocks("last", last);
  }

  /**
   * rows × c vectors of scores of the group's block b: q (QR, b·R rows on)
   * · the transposed keys (rbx) → the score rows (rsi, b·R rows on).
   */
  function scoreTile(rows: number, c: number, last: boolean, b: number): void {
    const first = b * R;
    for (let r = 0; r < rows; r++) for (let j = 0; j < c; j++) v.zero(ACC(r, j));
    a.emit("mov", r8, qword(rsp, QR));
    if (first) addImmediate(a, "add", r8, first * s.q.row * 4);
    a.emit("mov", r9, rbx);
    countedLoop(a, rcx, s.headSize, () => {
      for (let j = 0; j < c; j++) v.load(LOADED + j, r9, j * VBYTES);
      for (let r = 0; r < rows; r++) {
        v.broadcast(BC, r8, r * s.q.row * 4);
        for (let j = 0; j < c; j++) v.fma(ACC(r, j), LOADED + j, BC, FT);
      }
      a.emit("add", r8, 4);
      addImmediate(a, "add", r9, P4);
    });
    const padded = last && keyTail !== 0;
    const tail = padded && bias ? tailOf(keyTail) : undefined;
    v.move(SCALE, f32(s.scale));
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < c; j++) {
        const acc = ACC(r, j), lastVector = padded && j === c - 1;
        if (bias) {
          v.load(T2, rdx, (first + r) * s.b.row * 4 + j * VBYTES, lastVector ? tail : undefined);
          v.fmadd(acc, acc, SCALE, T2);
        } else v.op("mul", acc, acc, SCALE);
        if (lastVector) {
          v.load(T2, r12, lay.pad);
          v.op("add", acc, acc, T2);
        }
        v.store(rsi, (first + r) * P4 + j * VBYTES, acc);
      }
    }
  }

  /**
   * Each score row: its maximum, e^(s − max) in place and their sum (the
   * shared exponential), and 1/sum into the workspace. Rows go in groups,
   * one stream of the exponential each, so their chains of maxima, sums and
   * latencies overlap (a row alone waits on each).
   */
  function softmaxRows(rows: number): void {
    // A vocabulary of its own: the streams pin constants in registers the tiles then reuse.
    const w = new Vec(a, isa);
    const all: number[] = [];
    for (let r = 0; r < isa.nregs; r++) if (r !== MASK) all.push(r);
    const most = Math.min(3, rows);
    const MX = all.slice(0, most), LD = all[most], pool = all.slice(most + 1);
    const streams = allocateStreams(
      w,
      pool,
      3,
      most,
      (m, [x, e, sum]) => emitExpStep(m, e, x, sum, MX[0]),
    );
    const G = streams.count;
    a.emit("lea", r11, ptr(r12, lay.scores));
    a.emit("lea", r14, ptr(r12, lay.inverse));
    countedLoop(a, r13, Math.floor(rows / G), () => rowGroup(G));
    if (rows % G) rowGroup(rows % G);

    /** `g` rows from r11 (their 1/sum at r14); both advanced past them. */
    function rowGroup(g: number): void {
      const rowsOf = Array.from({ length: g }, (_, r) => r);
      const sum = (r: number) => streams.stream(r).fixed[2];
      // The maxima (exact in any order), a row's chain each.
      for (const r of rowsOf) w.move(MX[r], f32(-Infinity));
      a.emit("mov", r9, r11);
      countedLoop(a, rcx, VT, () => {
        for (const r of rowsOf) {
          w.load(LD, r9, r * P4);
          w.op("max", MX[r], MX[r], LD);
        }
        a.emit("add", r9, VBYTES);
      });
      for (const r of rowsOf) w.reduceAll("max", MX[r], LD);
      // e = e^(s − max) in place, a row a stream, each summed in the row's order.
      for (const r of rowsOf) w.zero(sum(r));
      a.emit("mov", r10, r11);
      countedLoop(a, rcx, VT, () => {
        emitInterleaved(
          a,
          rowsOf.map((r) => (to: Assembler) => {
            const sv = w.retarget(to), st = streams.stream(r);
            const m = new Lanes(sv, st.temps, st.masks);
            sv.load(st.fixed[0], r10, r * P4);
            emitExpStep(m, st.fixed[1], st.fixed[0], sum(r), MX[r], undefined, { disp: r * P4 });
          }),
        );
        a.emit("add", r10, VBYTES);
      });
      for (const r of rowsOf) {
        const t = streams.stream(r).fixed[0];
        w.reduceAll("add", sum(r), t);
        w.move(t, f32(1));
        w.op("div", t, t, sum(r));
        w.storeScalar(r14, r * 4, t);
      }
      addImmediate(a, "add", r11, g * P4);
      a.emit("add", r14, 4 * g);
    }
  }

  /**
   * rows × c vectors of the output over `keys` keys: the score rows (e, at
   * rsi) · v's rows (r8); its sums started at 0 ("first", "only") or
   * loaded from the workspace (rdx), and stored there ("first", "middle")
   * or scaled by each row's 1/sum (rbp) into y's rows (rbx); `t` the last
   * vector's tail.
   */
  function outputTile(rows: number, c: number, t: Tail | undefined, mode: Mode, keys: number) {
    const lastOf = (j: number) => (j === c - 1 ? t : undefined);
    const sum = (r: number, j: number) => r * C * VBYTES + j * VBYTES;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < c; j++) {
        if (mode === "first" || mode === "only") v.zero(ACC(r, j));
        else v.load(ACC(r, j), rdx, sum(r, j));
      }
    }
    a.emit("mov", r10, rsi);
    a.emit("mov", r11, r8);
    countedLoop(a, rcx, keys, () => {
      for (let j = 0; j < c; j++) v.load(LOADED + j, r11, j * VBYTES, lastOf(j));
      for (let r = 0; r < rows; r++) {
        v.broadcast(BC, r10, r * P4);
        for (let j = 0; j < c; j++) v.fma(ACC(r, j), LOADED + j, BC, FT);
      }
      a.emit("add", r10, 4);
      addImmediate(a, "add", r11, plan.copyValues ? lay.valueRow : s.v.row * 4);
    });
    for (let r = 0; r < rows; r++) {
      if (mode === "first" || mode === "middle") {
        for (let j = 0; j < c; j++) v.store(rdx, sum(r, j), ACC(r, j));
        continue;
      }
      v.broadcast(BC, rbp, r * 4);
      for (let j = 0; j < c; j++) {
        v.op("mul", ACC(r, j), ACC(r, j), BC);
        v.store(rbx, r * s.y.row * 4 + j * VBYTES, ACC(r, j), lastOf(j));
      }
    }
  }
}
