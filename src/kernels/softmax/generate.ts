/**
 * Softmax and logSoftmax along rows: the maximum; e^(x − max) and its sum;
 * then y = e·(1/sum), or y = (x − max) − ln(sum) for logSoftmax. Long rows
 * take three passes over memory (e stored for softmax); rows of up to 12
 * vectors are held in registers (one load, one store per element).
 * Max-subtracted, so no input overflows; a row of −Inf gives NaN
 * (−Inf − −Inf), as ONNX Runtime does, and −Inf entries of a row give exact
 * zeros (masked attention).
 *
 * Sums run in per-stream vector accumulators over a fixed assignment of
 * vectors to streams, then fold in a fixed order: the result depends on the
 * shape only. e^x is the shared emitter (math/exp.ts), several vectors
 * interleaved as in the unary loop.
 *
 * @module
 */
import {
  Assembler,
  byte,
  type Program,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdi,
  rdx,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { type ColumnKind, emitAlongLines, rowShape, rowTail } from "../columns.ts";
import { Lanes } from "../math/lanes.ts";
import { allocateStreams } from "../streams.ts";
import { emitLog } from "../math/log.ts";
import { f32, type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { emitFinishColumn, emitMaxColumn } from "./columns.ts";
import { emitBlockedRows } from "./blocked.ts";
import { emitExpStep } from "./exp_step.ts";
import { emitOverlappedRows } from "./overlapped.ts";
import { emitStagedRows, stagedRows } from "./pipelined.ts";
import { SOFTMAX_ARG, type SoftmaxSpec } from "./spec.ts";

/** How a softmax kernel is built. */
export interface SoftmaxPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Most interleaved vectors in the exponential pass. */
  streams: number;
  /** Rows ahead whose x lines pass 2 prefetches (0: none). */
  prefetchRows: number;
  /** With prefetchRows: y's lines of those rows are claimed for writing too (prefetchw). */
  claimRows: boolean;
  /**
   * Long rows (over 16 KB): pass 2 fetches the next row's x into L2 while
   * it computes the exponentials, so that row's pass 1 reads L2, not DRAM
   * (the read overlaps compute instead of waiting alone). Measured on an
   * Intel Xeon, tier 2's two candidates interleaved (`deno run -A
   * bench/tune_candidates.ts --softmax 128x30522`, two runs): 4317 → 3449
   * and 4179 → 3713 µs. Since y's lines are claimed ahead in pass 2
   * (claimAhead) it loses there at AVX-512, and tier 1 leaves it off: see
   * planSoftmax. Tier 2 tries it (same instructions otherwise).
   */
  nextRow: boolean;
  /**
   * Long rows: bytes ahead of pass 2's stores of e whose lines of y it
   * claims for writing (prefetchw; 0: none). Those lines come from DRAM
   * (a row of 122 KB is y's first touch of them), and each store that
   * misses holds a store-buffer entry until its line arrives; claimed
   * ahead, the misses overlap the exponentials. Measured on Zen 5 (`deno
   * run -A bench/tune_candidates.ts --softmax 128x30522`, tier 1 against
   * the candidate without, three runs): 1119 / 1120 / 1137 µs against 1163
   * / 1369 / 1334; later runs on a busier host within the noise. 2, 4 and
   * 8 KB ahead ran alike (scratch candidates). Tier 2 tries it off.
   */
  claimAhead: number;
  /**
   * Long rows: a row's pass 3 (y·(1/sum), or logSoftmax's (x − max) −
   * ln(sum) from x) runs in the loop of the next row's pass 2, so its reads
   * and writes (in L2) overlap the exponentials instead of running alone;
   * the last row's after. The same instructions per element: the same
   * bits. logSoftmax, rows lagged with nextMax against neither (`deno run
   * -A bench/ab.ts --a 1107557 --b e08070a --softmax RxC --log --offset 16
   * --out-offset 16`): 128×30522 ×0.837, 16×65536 ×0.911, 32×16384 ×0.861,
   * 64×8192 ×0.941, 4×30522 ×0.832. Alone (without nextMax) softmax's
   * paid only for rows well beyond L1: on an Intel Xeon (SPR, 48 KiB L1),
   * `deno run -A bench/ab.ts --a e0a74d1 --b aa99162 --softmax RxC --offset
   * 16 --out-offset 16`, 16×65536 ×0.950, 128×30522 ×0.960, 32×24000
   * ×0.952, 8×30522 ×0.920, but 32×16384 ×0.992, 64×12000 ×1.003, 64×8192
   * ×1.055, 512×5000 ×1.079. Tier 1 lags rows over half of L1, with
   * nextMax (see there).
   */
  lagged: boolean;
  /**
   * Lagged rows: the next row's maximum (pass 1) taken in this row's pass
   * 2, its x read there as the row lies; only the first row's pass 1 runs
   * alone. A maximum is exact: the same bits. With it a row's three passes
   * read and write each of its lines beside the exponentials, where pass 1
   * ran alone on x's reads. Intel Xeon (SPR, 48 KiB L1), `deno run -A
   * bench/ab.ts --a e0a74d1 --b 4457a99 --softmax RxC --offset 16
   * --out-offset 16` (rows neither lagged nor taking the next maximum, against both
   * at rows over 1.5× L1): 128×30522 ×0.861, 16×65536 ×0.850, 32×24000
   * ×0.872, 8×30522 ×0.820; from 4457a99 (rows up to 1.5× L1 not
   * lagged) to lagging from half of L1: 32×16384 ×0.909, 48×14000 ×0.907,
   * 64×12500 ×0.924, 64×8192 ×0.980 (`--a 4457a99 --b a600dc9`); from a
   * quarter of L1 (`--a a600dc9 --b ab/softmax-lag-quarter-l1`) 512×5000
   * ×1.057, 256×6000 ×1.017: left unlagged.
   */
  nextMax: boolean;
  /** The whole row is held in registers: one load and one store per element. */
  inRegisters: boolean;
  /**
   * AVX-512 rows read from memory: pass 1 takes the maximum along x's lines
   * and pass 3 runs along y's (columns.ts emitAlongLines: the row's first
   * and last lines masked), so wherever a row starts none of their loads and
   * stores straddles two lines. Softmax's pass 3 scales y in place;
   * logSoftmax's reads x at the same elements, on lines too when x and y
   * share their offset in a line (arrays from one allocator, in-place
   * calls). A maximum is exact and pass 3 elementwise: the same bits. Pass
   * 2 stays as the rows lie (its sums' lanes follow the row's vectors).
   * Measured on Zen 5: `deno run -A bench/line_offsets.ts` (pass 1 alone,
   * rows of whole vectors then), the commit before and after in turn, two
   * rounds, softmax 1024×1024 16 B in: 188-189 → 177-182 µs; `deno run -A
   * bench/tune_candidates.ts --softmax RxC` (tier 2's candidates in one
   * process, x and y 16 bytes into a line as Deno puts them), pass 3 along
   * y's lines against as the rows lie: 1024×1024 175 / 198 µs against 209 /
   * 211, 128×30522 928 / 939 / 1095 against 997 / 974 / 1197; both passes
   * against neither, 1024×1024 171 / 166 against 180 / 181, 512×2000 199 /
   * 224 against 263 / 277.
   */
  alongLines: boolean;
  /**
   * Rows of up to 8 AVX-512 vectors (pipelined.ts): three in flight in a
   * software pipeline, or one after the other through the same stages.
   */
  pipelined: boolean;
  /**
   * Rows of up to 8 AVX-512 vectors in blocks of 16, their folds across
   * lanes done for the block at once (blocked.ts; `pipelined` unused), the
   * same bits as the pipelined stages, which tier 2 tries. Intel Xeon
   * (SPR), one thread, `deno run -A bench/ab.ts --a 563c33b --b a9eebb1
   * --softmax RxC` (operands on lines): 1536×128 ×0.826, ×0.913, ×0.868 of
   * the time in three runs, logSoftmax ×0.835 and ×0.788, 3072×64 ×0.836,
   * 256×128 ×0.844, 48×128 ×0.860, 512×100 ×0.968, 4096×16 ×0.610; with
   * `--offset 16 --out-offset 16` (as Deno places arrays) 1536×128 ×0.941,
   * ×0.952, ×0.964, 256×128 ×0.982. Less than the folds' count promised:
   * without its exponentials (x − max stored instead, branch
   * ab/softmax-noexp) the kernel ran ×0.931 of the time (`--a a9eebb1 --b
   * ab/softmax-noexp`): at 1.5 MB of operands the rows' traffic, not the
   * chains, bounds it. Two runs of `deno run -A bench/tune_candidates.ts
   * --softmax 1536x128` at a9eebb1 (x and y as Deno places them) timed the
   * pipelined stages 7.2% and 4.5% faster: tier 2 decides per key.
   */
  blocked: boolean;
  /**
   * Rows read from memory below AVX-512, of 16 KB or less (overlapped.ts):
   * each step's one loop runs pass 3 of the row before and pass 1 of the
   * row after, then pass 2 of its own row, so the folds' latencies have
   * work beside them. The same instructions per element: the same bits.
   */
  overlapped: boolean;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/**
 * The plan: the ISA's vectors, up to 3 interleaved; short rows of operands
 * beyond L2 prefetched two rows ahead, and within L2 too on cores whose rows
 * wait on L2 without it (`prefetchesWithinL2` in src/cpu.ts: Intel). Intel
 * Xeon (SPR), `deno run -A bench/ab.ts --a c174e8e --b 3379b6f --softmax
 * RxC`: 512×512 ×0.780 of the time, 256×1024 ×0.797, 384×384 ×0.923,
 * 128×512 ×0.945, 32×2048 ×0.966, 64×256 ×0.980. Measured on Zen 5: 1024×1024 202 →
 * 182 µs; rows of 122 KB (128×30522) lose 20% to it, so rows over 16 KB
 * are left to the hardware prefetcher. Those long rows at AVX-512 leave
 * the next row's fetch in pass 2 (plan.nextRow) to tier 2 too: with y's
 * lines claimed ahead it cost an Intel Xeon (SPR) 5-7% at 128×30522
 * (`deno run -A bench/ab.ts --a b53381a --b 48d3c57 --softmax 128x30522`).
 *
 * Tried on Zen 5 and dropped (scratch builds, both plans timed in one
 * process by `deno run -A bench/tune_candidates.ts --softmax RxC`): a row's
 * pass 3 in one loop with the next row's pass 1 gained 1-2% at 1024×1024
 * and lost 5-13% at 128×30522; the three passes of three rows in one loop
 * (pass 1 of row k, 2 of k − 1, 3 of k − 2, the same bits) lost at both:
 * 1024×1024 194-203 µs against 173-195, 128×30522 1767-1803 against
 * 1226-1327.
 *
 * Below AVX-512 rows of 16 KB or less are overlapped (overlapped.ts: a
 * step's loop holds pass 3 of the row before and pass 1 of the row after,
 * then pass 2 of its own, each maximum folded a whole pass 2 before it is
 * needed): on Zen 3 at AVX2 ×0.89 at 1536×128, 1024×1024 and 3072×64
 * (overlapped.ts has the figures and the command).
 */
export function planSoftmax(
  s: SoftmaxSpec,
  isa: VecLevel,
  l2 = 1 << 20,
  claimRows = true,
  withinL2 = false,
  l1d = 48 << 10,
  traits: SoftmaxTraits = {},
): SoftmaxPlan {
  const { lagLongRows = true, blockShortRows = true } = traits;
  const lanes = vecIsa(isa).lanes;
  const vectors = Math.ceil(s.cols / lanes);
  // Rows of up to 12 vectors (AVX-512) or 4 (AVX2) stay in registers: the
  // three passes become one load and one store per element.
  const inRegisters = (isa === "avx512" && vectors <= 12) || (isa === "avx2" && vectors <= 4);
  const pipelined = stagedRows(s, isa);
  // Where the core lags long rows (`lagsLongRows` in src/cpu.ts: Intel).
  const lagRows = lagLongRows && canLag(s, isa) && !inRegisters && s.cols * 4 > l1d / 2;
  const prefetchRows = !inRegisters && canFetch(s) && (withinL2 || 8 * s.rows * s.cols > l2)
    ? 2
    : 0;
  return describedSoftmax(s, {
    isa,
    streams: 3,
    prefetchRows,
    claimRows,
    nextRow: !inRegisters && longRows(s, isa) && isa !== "avx512",
    claimAhead: !inRegisters && longRows(s, isa) ? CLAIM_AHEAD : 0,
    lagged: lagRows,
    nextMax: lagRows,
    inRegisters,
    alongLines: !inRegisters && isa === "avx512",
    pipelined,
    // In blocks where the core asks (`blocksShortRows` in src/cpu.ts: Intel), and logSoftmax's
    // everywhere.
    blocked: pipelined && (blockShortRows || s.log),
    overlapped: !inRegisters && canOverlap(s, isa),
    workspaceBytes: 0,
    description: "",
  });
}

/** A core's preferences for planSoftmax (speed only: the same bits). Absent: Intel's. */
export interface SoftmaxTraits {
  /** Long rows lagged (`lagsLongRows` in src/cpu.ts). */
  lagLongRows?: boolean;
  /** Short rows in blocks (`blocksShortRows` in src/cpu.ts; logSoftmax's always). */
  blockShortRows?: boolean;
}

/**
 * Tier 2's candidates: short rows (pipelined.ts) three in flight or one at
 * a time; long rows with and without the next row fetched in pass 2, and
 * with y's lines claimed ahead or not; other rows read from memory with
 * and without the rows ahead prefetched, below AVX-512 overlapped or one
 * after the other; AVX-512 passes 1 and 3 along the
 * lines or as the rows lie (the same instructions per element, so the
 * same bits; the stream count fixes the sums' order and stays). On an Intel Xeon the
 * prefetch cost 1024×1024 4-12% in three runs of `deno run -A
 * bench/tune_candidates.ts --softmax 1024x1024` (tier 2 dropped it each
 * time), where it gained 10% on Zen 5.
 */
export function softmaxCandidates(s: SoftmaxSpec, p: SoftmaxPlan): SoftmaxPlan[] {
  // Short rows: in blocks, or three in flight or one at a time through the pipelined stages.
  if (stagedRows(s, p.isa)) {
    const staged = (pipelined: boolean) => describedSoftmax(s, { ...p, blocked: false, pipelined });
    return p.blocked
      ? [staged(true), staged(false)]
      : [describedSoftmax(s, { ...p, blocked: true }), staged(!p.pipelined)];
  }
  if (p.inRegisters) return [];
  // Passes 1 and 3 as the rows lie (the same instructions but for the lines' masks: the same
  // bits); rows overlapped or one after the other (the same instructions per element).
  const others = [
    ...(p.alongLines ? [describedSoftmax(s, { ...p, alongLines: false })] : []),
    ...(canOverlap(s, p.isa) ? [describedSoftmax(s, { ...p, overlapped: !p.overlapped })] : []),
  ];
  if (longRows(s, p.isa)) {
    return [
      // The two of the three forms tier 1 is not: lagged with the next row's maximum,
      // lagged without it, neither.
      ...(canLag(s, p.isa) ? LAG_FORMS : [])
        .filter(([lagged, nextMax]) => lagged !== p.lagged || nextMax !== (p.lagged && p.nextMax))
        .map(([lagged, nextMax]) => describedSoftmax(s, { ...p, lagged, nextMax })),
      describedSoftmax(s, { ...p, nextRow: !p.nextRow }),
      describedSoftmax(s, { ...p, claimAhead: p.claimAhead ? 0 : CLAIM_AHEAD }),
      ...others,
    ];
  }
  if (!canFetch(s)) return others;
  return [
    describedSoftmax(s, { ...p, prefetchRows: p.prefetchRows ? 0 : 2 }),
    ...(p.prefetchRows ? [describedSoftmax(s, { ...p, claimRows: !p.claimRows })] : []),
    ...others,
  ];
}

/** SoftmaxPlan's [lagged, nextMax] forms of long rows at AVX-512. */
const LAG_FORMS: readonly [boolean, boolean][] = [[true, true], [true, false], [false, false]];

/** Bytes ahead of pass 2's stores that long rows claim y's lines (SoftmaxPlan.claimAhead). */
const CLAIM_AHEAD = 4096;

/**
 * Rows over 16 KB, more than one, at a vector level: the next row's x is
 * fetched during pass 2 (plan.nextRow; scalar code would issue a fetch per
 * 3 elements). Below 1 GiB a row, so the fetch's displacement fits.
 */
function longRows(s: SoftmaxSpec, isa: VecLevel): boolean {
  return isa !== "scalar" && s.rows > 1 && s.cols * 4 > 16384 && s.cols * 4 < 2 ** 30;
}

/**
 * Whether a row's pass 3 may run in the next row's pass 2 (SoftmaxPlan.lagged): long rows at
 * AVX-512.
 */
function canLag(s: SoftmaxSpec, isa: VecLevel): boolean {
  return isa === "avx512" && longRows(s, isa);
}

/** Whether rows read from memory at the level may overlap (overlapped.ts): AVX2 and SSE2, rows of 16 KB or less. */
function canOverlap(s: SoftmaxSpec, isa: VecLevel): boolean {
  return (isa === "avx2" || isa === "sse2") && s.cols * 4 <= 16384;
}

/** Whether rows read from memory may be prefetched ahead (rows over 16 KB are the hardware's). */
function canFetch(s: SoftmaxSpec): boolean {
  return s.rows > 2 && s.cols * 4 <= 16384;
}

function describedSoftmax(s: SoftmaxSpec, p: SoftmaxPlan): SoftmaxPlan {
  const ahead = p.prefetchRows
    ? `, rows prefetched ${p.prefetchRows} ahead${p.claimRows ? "" : " (x only, y not claimed)"}`
    : p.nextRow
    ? ", the next row to L2 in pass 2"
    : "";
  const claim = p.claimAhead ? `, y claimed ${p.claimAhead} B ahead in pass 2` : "";
  const how = stagedRows(s, p.isa)
    ? p.blocked
      ? "rows in blocks of 16, folded across lanes together"
      : `rows in registers, ${p.pipelined ? "3 in flight" : "one at a time"}`
    : p.inRegisters
    ? "the row in registers"
    : p.overlapped
    ? "3 passes per row, passes 3 and 1 of the rows either side in one loop"
    : p.lagged && p.nextMax
    ? "3 passes per row, pass 3 and the next row's pass 1 in this row's pass 2"
    : p.lagged
    ? "3 passes per row, pass 3 in the next row's pass 2"
    : "3 passes per row";
  const lines = p.alongLines
    ? `, the maximum along x's lines, ${s.log ? "finished" : "scaled"} along y's lines`
    : "";
  return {
    ...p,
    description: `${p.isa} ${s.log ? "logSoftmax" : "softmax"}, ${how}${ahead}${claim}${lines}`,
  };
}

/** Emits `void kernel(args)` for the spec. */
export function generateSoftmax(
  s: SoftmaxSpec,
  plan: SoftmaxPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const shape = rowShape(v, s.cols);
  const { vectorBytes: VB, full, rest, registers: all } = shape;
  const MX = all[0], TOTAL = all[1];
  // Lagged rows: the row before's 1/sum (logSoftmax: ln(sum), and its maximum in MXP) and its
  // pass-3 temporary; with nextMax the next row's maximum's accumulator. Kept from the streams.
  const lagged = plan.lagged && canLag(s, plan.isa);
  const nextMax = lagged && plan.nextMax;
  const kept = lagged ? 2 + (nextMax ? 1 : 0) + (s.log ? 1 : 0) : 0;
  const pool = all.slice(2, all.length - kept);
  const [PREV, PT] = lagged ? all.slice(-2) : [-1, -1];
  const NACC = nextMax ? all[all.length - 3] : -1;
  const MXP = lagged && s.log ? all[all.length - kept] : -1;
  if (plan.inRegisters && s.rows > 0 && s.cols > 0) {
    loadPointer(a, rsi, SOFTMAX_ARG.X);
    loadPointer(a, rdx, SOFTMAX_ARG.Y);
    const tail = rowTail(v, shape);
    if (stagedRows(s, plan.isa) && plan.blocked) emitBlockedRows(a, v, s, tail);
    else if (stagedRows(s, plan.isa)) emitStagedRows(a, v, s, tail, plan.pipelined);
    else emitRowsInRegisters(a, v, s, tail);
    v.leave();
    a.emit("ret");
    return a.finish();
  }

  // Each stream: x, e, its sum, and the exponential's temporaries.
  const plan3 = allocateStreams(
    v,
    pool,
    3,
    plan.streams,
    (m, [x, e, sum]) => emitExpStep(m, e, x, sum, MX),
  );
  const streams = plan3.count;
  const stream = (i: number) => {
    const st = plan3.stream(i);
    return { x: st.fixed[0], e: st.fixed[1], sum: st.fixed[2], temps: st.temps, masks: st.masks };
  };

  if (s.rows === 0 || s.cols === 0) {
    a.emit("ret");
    return a.finish();
  }
  loadPointer(a, rsi, SOFTMAX_ARG.X);
  loadPointer(a, rdx, SOFTMAX_ARG.Y);
  const tail = rowTail(v, shape);
  const scalarTail = rest && !tail ? rest : 0;
  const tmp = plan3.unpinned[plan3.unpinned.length - 1];

  /** Pass 1: the row's maximum into MX, in up to 4 accumulators. */
  const pass1 = () => {
    const accs = pool.slice(0, Math.min(4, Math.max(1, full)));
    for (const r of accs) v.move(r, f32(-Infinity));
    if (plan.alongLines) {
      // Along x's lines (the maximum is exact: any order gives its bits; k2 and k3 are free
      // until pass 2's streams take them).
      emitAlongLines(v, rsi, s.cols * 4, (_to, disp, slot, t) => {
        if (t) v.loadFilled(TOTAL, r11, disp, t, f32(-Infinity));
        else v.load(TOTAL, r11, disp);
        v.op("max", accs[slot], accs[slot], TOTAL);
      });
    } else {
      a.emit("mov", r9, rsi);
      const groups = Math.floor(full / accs.length);
      const max = (acc: number, disp: number, kind: ColumnKind) =>
        emitMaxColumn(v, acc, TOTAL, r9, disp, kind, tail, MX);
      countedLoop(a, rcx, groups, () => {
        accs.forEach((r, i) => max(r, i * VB, "vector"));
        addImmediate(a, "add", r9, accs.length * VB);
      });
      const left = full - groups * accs.length;
      for (let j = 0; j < left; j++) max(accs[0], j * VB, "vector");
      const after = left * VB;
      if (tail) max(accs[0], after, "tail");
      for (let j = 0; j < scalarTail; j++) max(accs[0], after + j * 4, "scalar");
    }
    for (let i = 1; i < accs.length; i++) v.op("max", accs[0], accs[0], accs[i]);
    v.reduceAll("max", accs[0], TOTAL);
    v.move(MX, accs[0]);
  };

  /** A row's three passes, one after the other. */
  const rowByRow = () => {
    pass1();
    pass2(false);
    pass3ThenNextRow();
  };

  /**
   * Lagged rows (plan.lagged): a row's passes 1 and 2, with pass 3 of the
   * row before in pass 2's loop (not for the first row); its 1/sum (or
   * ln(sum), and its maximum in MXP) kept in PREV for the next; both a row
   * on.
   */
  const laggedRow = (first: boolean, last = false) => {
    if (!nextMax || first) pass1();
    pass2(!first, nextMax && !last);
    v.move(PREV, TOTAL);
    addImmediate(a, "add", rsi, s.cols * 4);
    addImmediate(a, "add", rdx, s.cols * 4);
  };

  /**
   * Pass 2 of the row at rsi/rdx, its maximum in MX: e = e^(x − max),
   * stored for softmax, summed per stream; then TOTAL = 1/sum, or ln(sum)
   * for logSoftmax. With `lag`, the row before's pass 3 at the same
   * columns (one row back, its 1/sum or ln(sum) in PREV, logSoftmax's
   * maximum in MXP), after each step's exponentials; with `next`, the next
   * row's maximum into MX at the end.
   */
  const pass2 = (lag: boolean, next = false) => {
    const rowBack = -s.cols * 4;
    const finishBefore = (disp: number, kind: ColumnKind = "vector") => {
      if (lag) emitFinishColumn(v, s.log, PT, r9, r10, rowBack + disp, kind, tail, MXP, PREV);
    };
    // The next row's maximum (nextMax): its x one row on, into NACC (a tail's other lanes
    // −Inf by MX, free once the row's exponentials are done).
    if (next) v.move(NACC, f32(-Infinity));
    const maxNext = (disp: number, kind: ColumnKind = "vector") => {
      if (next) emitMaxColumn(v, NACC, PT, r9, -rowBack + disp, kind, tail, MX);
    };
    for (let i = 0; i < streams; i++) v.zero(stream(i).sum);
    a.emit("mov", r9, rsi);
    a.emit("mov", r10, rdx);
    const step = (to: Assembler, i: number, disp: number, t?: Tail) => {
      const sv = v.retarget(to), st = stream(i);
      const m = new Lanes(sv, st.temps, st.masks);
      sv.load(st.x, r9, disp, t);
      emitExpStep(m, st.e, st.x, st.sum, MX, t, s.log ? null : { disp });
    };
    const groups = Math.floor(full / streams);
    /**
     * Prefetches for the lines of the rows ahead that `bytes` of pass 2
     * cover. Rows over 16 KB (plan.nextRow): the next row's x into L2 (a
     * prefetch does not fault: past x's end is harmless). Other rows
     * (plan.prefetchRows): x of the row that many ahead, and its y lines
     * claimed for writing where plan.claimRows says so. Here rather than in
     * pass 3: pass 2 is bound by its arithmetic, so the misses overlap it,
     * where pass 3's burst of them waited on the miss buffers (Zen 5, A/B in one process: 1024×1024
     * 152.8 → 141.7 and 161.2 → 145.1 µs, logSoftmax 174 → 163).
     */
    const fetchAhead = (bytes: number) => {
      for (let o = 0; o < bytes; o += 64) {
        if (plan.nextRow) a.emit("prefetcht1", byte(r9, s.cols * 4 + o));
        if (plan.claimAhead) a.emit("prefetchw", byte(r10, plan.claimAhead + o));
        if (plan.prefetchRows === 0) continue;
        a.emit("prefetcht0", byte(r9, plan.prefetchRows * s.cols * 4 + o));
        if (plan.claimRows) a.emit("prefetchw", byte(r10, plan.prefetchRows * s.cols * 4 + o));
      }
    };
    countedLoop(a, rcx, groups, () => {
      fetchAhead(streams * VB);
      emitInterleaved(a, Array.from({ length: streams }, (_, i) => (to) => step(to, i, i * VB)));
      for (let i = 0; i < streams; i++) finishBefore(i * VB);
      for (let i = 0; i < streams; i++) maxNext(i * VB);
      addImmediate(a, "add", r9, streams * VB);
      addImmediate(a, "add", r10, streams * VB);
    });
    const left = full - groups * streams;
    fetchAhead(left * VB);
    for (let j = 0; j < left; j++) step(a, 0, j * VB);
    if (tail) step(a, 0, left * VB, tail);
    for (let j = 0; j < left; j++) finishBefore(j * VB);
    if (tail) finishBefore(left * VB, "tail");
    for (let j = 0; j < scalarTail; j++) finishBefore(left * VB + j * 4, "scalar");
    for (let j = 0; j < scalarTail; j++) {
      const st = stream(0), m = new Lanes(v, st.temps, st.masks);
      v.loadScalar(st.x, r9, left * VB + j * 4);
      emitExpStep(m, st.e, st.x, -1, MX);
      if (!s.log) v.storeScalar(r10, left * VB + j * 4, st.e);
      v.scalarOp("add", st.sum, st.e);
    }
    // This row's maximum for its pass 3 in the next row's loop (logSoftmax), the row before's
    // pass 3 done with MXP; then the next row's last columns, after the row's last use of MX.
    if (MXP >= 0) v.move(MXP, MX);
    for (let j = 0; j < left; j++) maxNext(j * VB);
    if (tail) maxNext(left * VB, "tail");
    for (let j = 0; j < scalarTail; j++) maxNext(left * VB + j * 4, "scalar");
    v.move(TOTAL, stream(0).sum);
    for (let i = 1; i < streams; i++) v.op("add", TOTAL, TOTAL, stream(i).sum);
    v.reduceAll("add", TOTAL, tmp);
    if (next) {
      v.reduceAll("max", NACC, PT);
      v.move(MX, NACC);
    }

    // Pass 3: scale by 1/sum, or subtract max and ln(sum).
    const m0 = new Lanes(v, plan3.unpinned.slice(2));
    if (s.log) {
      const lse = pool[0];
      emitLog(m0, lse, TOTAL);
      v.move(TOTAL, lse);
    } else {
      v.move(tmp, f32(1));
      v.op("div", tmp, tmp, TOTAL);
      v.move(TOTAL, tmp);
    }
  };

  /** Pass 3 of the row at rsi/rdx, then both a row on. */
  const pass3ThenNextRow = () => {
    const finish = (dst: number, disp: number, kind: ColumnKind = "vector") =>
      emitFinishColumn(v, s.log, dst, rsi, rdx, disp, kind, tail, MX, TOTAL);
    a.emit("mov", r9, rsi);
    a.emit("mov", r10, rdx);
    /** Pass 3 as the row lies: it walks rsi/rdx themselves (put back from r9/r10 after). */
    const asTheyLie = () => {
      const p3 = Math.floor(full / 4);
      countedLoop(a, rcx, p3, () => {
        for (let u = 0; u < 4; u++) finish(pool[u], u * VB);
        addImmediate(a, "add", rsi, 4 * VB);
        addImmediate(a, "add", rdx, 4 * VB);
      });
      const left3 = full - p3 * 4;
      for (let j = 0; j < left3; j++) finish(pool[0], j * VB);
      if (tail) finish(pool[0], left3 * VB, "tail");
      for (let j = 0; j < scalarTail; j++) finish(pool[0], left3 * VB + j * 4, "scalar");
    };
    if (!plan.alongLines) asTheyLie();
    else if (!s.log) {
      // Along y's lines: y·(1/sum) in place.
      emitAlongLines(v, rdx, s.cols * 4, (_to, disp, slot, t) => {
        v.load(pool[slot], r11, disp, t);
        v.op("mul", pool[slot], pool[slot], TOTAL);
        v.store(r11, disp, pool[slot], t);
      });
    } else {
      // Along y's lines, x read at the same element (rdi = x − y): its loads on lines too when
      // x shares y's offset in a line, as arrays from one allocator and in-place calls do.
      a.emit("mov", rdi, rsi);
      a.emit("sub", rdi, rdx);
      emitAlongLines(v, rdx, s.cols * 4, (_to, disp, slot, t) => {
        v.loadMem(pool[slot], ptr(r11, disp, rdi, 1), t);
        v.op("sub", pool[slot], pool[slot], MX);
        v.op("sub", pool[slot], pool[slot], TOTAL);
        v.store(r11, disp, pool[slot], t);
      });
    }
    a.emit("mov", rsi, r9);
    a.emit("mov", rdx, r10);
    addImmediate(a, "add", rsi, s.cols * 4);
    addImmediate(a, "add", rdx, s.cols * 4);
  };
  if (plan.overlapped) {
    const free = plan3.unpinned.filter((r) => r !== TOTAL && r !== MX);
    emitOverlappedRows(a, v, s, shape, tail, { mx: MX, total: TOTAL, free }, () => pass2(false));
  } else if (lagged) {
    // With nextMax the last row reads no row after it (x ends there): its own step.
    laggedRow(true);
    countedLoop(a, r8, s.rows - (nextMax ? 2 : 1), () => laggedRow(false));
    if (nextMax) laggedRow(false, true);
    // The last row's pass 3, its 1/sum still in TOTAL.
    addImmediate(a, "sub", rsi, s.cols * 4);
    addImmediate(a, "sub", rdx, s.cols * 4);
    pass3ThenNextRow();
  } else countedLoop(a, r8, s.rows, rowByRow);
  v.leave();
  a.emit("ret");
  return a.finish();
}

/**
 * Rows short enough for the register file: load the row once (the tail
 * filled with −Inf, whose e^x is 0), take the maximum across the row's
 * registers, e^(x − max) in place with the sum in a fixed order, scale (or
 * subtract ln sum) and store once: AVX-512 rows of 9 to 12 vectors and
 * AVX2 rows of up to 4 (shorter AVX-512 rows are pipelined.ts's).
 */
function emitRowsInRegisters(a: Assembler, v: Vec, s: SoftmaxSpec, tail: Tail | null): void {
  const isa = v.isa;
  const L = isa.lanes, VB = L * 4;
  const k = Math.ceil(s.cols / L);
  const maskReg = tail && isa.level === "avx2" ? tail.m : -1;
  const all: number[] = [];
  for (let r = 0; r < isa.nregs; r++) if (r !== maskReg) all.push(r);
  const MX = all[0], TOTAL = all[1], row = all.slice(2, 2 + k), rest = all.slice(2 + k);
  // Streams for the exponentials: e and the temporaries each.
  const exps = allocateStreams(v, rest, 1, 3, (m, [e]) => emitExpStep(m, e, row[0], -1, MX));
  const last = k - 1;
  /** The whole computation of the row at byte offset `off`. */
  const rowBody = (to: Assembler, off: number) => {
    const w = v.retarget(to);
    for (let i = 0; i < k; i++) {
      if (i === last && tail) w.loadFilled(row[i], rsi, off + i * VB, tail, f32(-Infinity), TOTAL);
      else w.load(row[i], rsi, off + i * VB);
    }
    w.move(MX, row[0]);
    for (let i = 1; i < k; i++) w.op("max", MX, MX, row[i]);
    w.reduceAll("max", MX, TOTAL);
    w.zero(TOTAL);
    const streams = exps.count;
    for (let g = 0; g < k; g += streams) {
      const bodies = [];
      for (let i = g; i < Math.min(k, g + streams); i++) {
        const st = exps.stream(i - g);
        bodies.push((inner: Assembler) => {
          const sv = w.retarget(inner);
          const m = new Lanes(sv, st.temps, st.masks);
          emitExpStep(m, st.fixed[0], row[i], -1, MX); // row[i] becomes x − max
          if (!s.log) sv.move(row[i], st.fixed[0]);
        });
      }
      emitInterleaved(to, bodies);
      // The sum, in row order whatever the interleaving.
      for (let i = g; i < Math.min(k, g + streams); i++) {
        w.op("add", TOTAL, TOTAL, s.log ? exps.stream(i - g).fixed[0] : row[i]);
      }
    }
    const t = rest[0];
    w.reduceAll("add", TOTAL, t);
    if (s.log) {
      const m = new Lanes(w, exps.unpinned.slice(1));
      emitLog(m, t, TOTAL);
      for (let i = 0; i < k; i++) w.op("sub", row[i], row[i], t);
    } else {
      w.move(t, f32(1));
      w.op("div", t, t, TOTAL);
      for (let i = 0; i < k; i++) w.op("mul", row[i], row[i], t);
    }
    for (let i = 0; i < k; i++) {
      w.store(rdx, off + i * VB, row[i], i === last && tail ? tail : undefined);
    }
  };
  const rowBytes = s.cols * 4;
  countedLoop(a, r8, s.rows, () => {
    rowBody(a, 0);
    addImmediate(a, "add", rsi, rowBytes);
    addImmediate(a, "add", rdx, rowBytes);
  });
}
