/**
 * LayerNormalization and RMSNormalization along rows, stable: LayerNorm
 * works on d = t − shift (t = x, or x + residual), shift the mean of the
 * row's first vector, so the sums are of values near the row's spread
 * (rows like 1e4 + noise keep their variance); pass 1 stores d into y and
 * sums d and d², and the variance is mean(d²) − mean(d)² unless that
 * cancels more than a bit, when pass 2 sums (d − mean)² instead. Pass 3
 * writes (d·inv − mean·inv)·scale + bias with inv = 1/√(var + ε), one
 * division per row (d·inv − mean·inv one FMA: its error that of mean's own
 * rounding, carried as (d − mean)·inv carried it). RMSNorm sums t² and
 * writes t·inv·scale.
 *
 * Sums run in 4 vector accumulators over a fixed assignment of vectors, then
 * fold in a fixed order: results depend on the shape only.
 *
 * @module
 */
import {
  al,
  Assembler,
  byte,
  cl,
  eax,
  KREG,
  type Mem,
  type Program,
  ptr,
  r10,
  r11,
  r11d,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer, WORKSPACE_SLOT } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import {
  canReadLines,
  type ColumnKind,
  emitColumns,
  emitShiftIndex,
  type LineKind,
  LineReads,
  type RowShape,
  rowShape,
  rowTail,
} from "../columns.ts";
import { bits, f32, type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { NORM_ARG, type NormSpec } from "./spec.ts";

/** How a normalization kernel is built. */
export interface NormPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Rows ahead whose lines are prefetched (0: none; the data fits L1). */
  prefetchRows: number;
  /** Where rows are prefetched: y's lines of those rows are claimed for writing too (prefetchw). */
  claimRows: boolean;
  /** Two rows per step, their instructions interleaved (AVX-512's 32 registers; not pipelined). */
  pairs: boolean;
  /** Each row's pass 3 runs in the loop of a later row's pass 1 (AVX-512: 17-23 registers; AVX2: 15 and a tail's mask). */
  pipelined: boolean;
  /** Pipelined: how many rows later (1 or 2, 2 at AVX-512 only) a row's pass 3 runs, in that row's loop. */
  lag: 1 | 2;
  /** LayerNorm's pass 1 stores d = t − shift into y for pass 3 to read; otherwise pass 3 forms d again from x (the same subtraction: the same bits). */
  storeCentred: boolean;
  /** Scale and bias copied to the workspace, on cache lines, when they are not (see planNorm). */
  copyScaleBias: boolean;
  /**
   * AVX-512, rows of whole vectors, not in pairs: when x starts off a cache
   * line, every pass reads and writes along x's lines and forms the row's
   * vectors for the sums by one permute each (see canReadLines).
   */
  lineReads: boolean;
  /** The copies' room: each at a line, or a line more at x's offset with line reads (0 without them). */
  workspaceBytes: number;
  /** One line for listings and stats. */
  description: string;
}

/** Tier 1 claims y's lines of the rows ahead where x and y pass this many L2s (see planNorm). */
const CLAIM_PAST_L2S = 16;
/** ... in rows of at most this many bytes. */
const CLAIM_ROW_BYTES = 4096;

/**
 * The plan: operands larger than L1 get rows prefetched two ahead (into L1;
 * y's lines not claimed for writing: see below). Measured on Zen 5, 4096×768: one row
 * ahead 180 → 169 ns per row, two 126, four 134; at 64×768 (in L2)
 * prefetching cost ~5%. On an Intel Xeon (Sapphire Rapids class) the rows
 * wait on L2 without them (`deno run -A bench/tune_candidates.ts --norm
 * 128x768`, two runs): 128×768 46.7-48.6 → 22.2-22.3 µs, 512×1024 450-461
 * → 219-223, so operands past L1 take the prefetches and tier 2 tries the
 * plan without them. Rows of 512 or more (2 KiB; read along x's lines)
 * are fetched one row ahead: Zen 5, the same command, two runs each, one
 * row against two ahead: 512×1024 65.0-67.7 against 78.9-82.1 µs,
 * 4096×768 503-615 against 525-661, 2048×1024 330-429 against 352-440,
 * 1024×2048 419-623 against 421-642 (256×512: even). On Zen 5 operands
 * within L2 take none (`withinL2` false: see src/cpu.ts's
 * prefetchesWithinL2); tier 2 tries them there.
 *
 * Tier 1 claims y's lines of the rows ahead (prefetchw; tier 2 tries the
 * other way) only where x and y pass 16 L2s in rows of at most 4 KiB
 * (`CLAIM_PAST_L2S`), else none: they cost Zen 5 more than the stores' own requests
 * (see src/cpu.ts's claimsRowsAhead), and since the rows are pipelined
 * and read along x's lines the Xeon too: `deno run -A bench/ab.ts --a
 * c9be034 --b ab/norm-no-claims --norm RxC --offset 16 --out-offset 16`
 * (with claims against without, one process), 128×768 ×0.940, with a
 * residual ×0.957, rmsNorm ×0.884, 512×1024 ×0.974, 4096×768 ×0.983,
 * 2048×1024 ×0.984; x and y on lines, 128×768 ×0.977. On an AVX2 Zen 3
 * (512 KiB L2; `deno run -A bench/tune_candidates.ts --norm RxC`, tier 1
 * against the claims, two runs, µs) large operands stall on y's lines
 * without them: 4096×768 1206 / 1285 against 872 / 989, 2048×1024 764 /
 * 661 against 625 / 606; within L3's share they cost: 512×1024 119 / 117
 * against 137 / 168; long rows gain nothing (a row ahead is 16 KiB of
 * claims): 1024×4096 1872 / 1666 against 1931 / 1702. With the rule, three
 * more runs at 4096×768: 1510 / 1326 / 1178 against 1747 / 1855 / 1493.
 *
 * At AVX-512 a row's pass 3 shares the loop of the next row's pass 1, and
 * pass 3 forms d again from x rather than reading it back (one subtraction
 * more, one store per vector less). Zen 5, the same command, two runs
 * (a noisy host; both plans timed in each run) against rows in pairs with d
 * stored, the plan before: 128×768 10.5-15.8 → 9.4-14.1 µs, 512×1024
 * 78.9-100 → 69.8-84.2, 4096×768 968-1085 → 795-858. Pipelined rows in
 * pairs gave nothing more while this was built (9.5 and 11.9 µs at 128×768
 * against 9.3 and 11.4 alone), so a pipelined row goes alone.
 *
 * AVX2 pipelines too (lag 1: 16 registers, see layoutOf). Zen 3, `deno
 * run -A bench/ab.ts --a 8ad693e --b d9e9679 --norm RxC --offset 16
 * --out-offset 16` (row by row against pipelined, one process,
 * alternating): 128×768 ×0.872, 512×1024 ×0.895, 4096×768 ×0.917;
 * 128×768 with a residual ×0.924 (no offsets), rmsNorm ×0.844. SSE2 stays
 * unpipelined: `deno run -A bench/tune_candidates.ts --norm RxC --isa sse2`
 * timed the pipelined plans within the noise of the others (128×768
 * 30.3-35.4 µs against 31.9-35.4, 512×1024 181-192 against 186-200,
 * 4096×768 1343-1490 against 1226-1589). A row's pass 3 goes
 * after the next row's pass 1 in each column, not before: its store of y's
 * row k − 1 and the load of x's row k right after it lie 4 KiB apart for
 * rows of 1024, and the load waited on the store (4K aliasing): `--a
 * tried/norm-pass3-first --b d9e9679`, the same command, 512×1024 ×0.909,
 * 128×768 ×0.971.
 */
export function planNorm(
  s: NormSpec,
  isa: VecLevel,
  l1d = 48 << 10,
  l2 = 1 << 20,
  withinL2 = true,
  claimRows?: boolean,
): NormPlan {
  // Past L1, or past L2 where the core's own prefetchers serve L2 (src/cpu.ts, prefetchesWithinL2).
  const fetchFrom = withinL2 ? l1d : l2;
  const prefetchRows = canFetch(s) && 8 * s.rows * s.cols > fetchFrom ? (s.cols >= 512 ? 1 : 2) : 0;
  const pipelined = isa === "avx512" || isa === "avx2";
  const pairs = !pipelined && canPair(s, isa);
  // x's rows read along its lines when it starts off one (columns.ts): the
  // loads of x, the residual, scale and bias (copied to x's offset) and the
  // stores of y (when it shares x's offset, as arrays from one allocator and
  // in-place calls do) then never straddle two lines; the sums see the
  // row's own vectors, the same bits at every offset. Measured on Zen 5
  // (scratch, one process, offsets alternating), x and y on lines against
  // 16 bytes into one (where Deno puts large arrays): 128×768 9.4 → 7.0 µs,
  // 512×1024 59 → 53, 4096×768 645-672 → 475-547. Rows shorter than 512
  // read a 17th line in 16 or more, which costs more than it saves unless
  // the operands stream from far beyond L2 (`tune_candidates --norm`, tier
  // 1 against the flip, two runs at 2 MB or less: 1000×256 ×0.81-1.10,
  // 512×256 ×0.92-0.95; at 8-25 MB: 4096×256 ×1.12, 8192×256 ×1.06,
  // 16384×256 ×1.08, 16384×384 ×1.09; rows of 128 lose at any size:
  // 16384×128 ×0.96, 32768×128 ×0.95); operands in L1 never wait on a line.
  const bytes = 8 * s.rows * s.cols;
  const lineReads = !pairs && canReadLines(isa, s.cols) &&
    (s.cols >= 512 ? bytes > l1d : s.cols >= 256 && bytes > 8 * l2);
  const claims = claimRows ??
    (prefetchRows > 0 && bytes > CLAIM_PAST_L2S * l2 && 4 * s.cols <= CLAIM_ROW_BYTES);
  return describedNorm(s, {
    isa,
    prefetchRows,
    claimRows: claims,
    pairs,
    pipelined,
    lag: 1,
    storeCentred: s.kind === "layer" && !pipelined,
    ...scaleBiasCopies(s, canCopy(s, isa), lineReads),
    description: "",
  });
}

/**
 * Whether scale and bias go to the workspace when they are off a cache
 * line: every pass-3 vector loads both, and a vector across two lines costs
 * two loads. Deno's large arrays start 16 bytes into a line. Measured on
 * Zen 5, x and y 16 bytes into a line, the kernel with and without copies
 * alternating in one process (scratch): 4096×768 695 → 538 µs, 512×1024
 * 64.7 → 60.2, 128×768 0.97-1.15×, 8×768 1.07×. Copying costs a pass over
 * 2·cols floats per call, so only with several rows; wider than 16-byte
 * vectors only (SSE2 loads at 16 bytes into a line never split).
 */
function canCopy(s: NormSpec, isa: VecLevel): boolean {
  return (s.scale || s.bias) && s.rows >= 4 && (isa === "avx2" || isa === "avx512");
}

/** The plan's copy flag and the workspace it needs. */
function scaleBiasCopies(
  s: NormSpec,
  copy: boolean,
  lineReads: boolean,
): { copyScaleBias: boolean; lineReads: boolean; workspaceBytes: number } {
  const line = lineBytes(s.cols) + (lineReads ? 64 : 0);
  return { copyScaleBias: copy, lineReads, workspaceBytes: copy ? 2 * line : 0 };
}

/** Bytes of `cols` floats rounded up to whole cache lines. */
function lineBytes(cols: number): number {
  return Math.ceil(cols / 16) * 64;
}

/** Whether rows can be prefetched ahead: the displacement (two rows) must fit 32 bits. */
function canFetch(s: NormSpec): boolean {
  return s.rows > 2 && s.cols < 1 << 26;
}

/** Whether rows can go in pairs: a pair's second row is a displacement of up to two rows (four when prefetching). */
function canPair(s: NormSpec, isa: VecLevel): boolean {
  return isa === "avx512" && s.rows >= 2 && s.cols < 1 << 26;
}

/**
 * Tier 2's candidates, in the order the tuner takes them (it keeps the
 * first `TUNE.maxCandidates`): the plan with its copies of scale and bias,
 * or its line reads, or its claims of y's lines ahead, the other way;
 * prefetched 2, 1 or 0 rows ahead, at AVX-512 pipelined (pass 3 one or two
 * rows behind); at AVX-512 unpipelined, in pairs or alone (d stored,
 * prefetched 2 or 0 ahead); then
 * LayerNorm with d stored where tier 1 forms it twice (or the other way).
 * The same instructions per row: the same bits.
 */
export function normCandidates(s: NormSpec, p: NormPlan): NormPlan[] {
  const ahead = canFetch(s) ? [2, 1, 0] : [0];
  const all: NormPlan[] = [];
  const add = (
    q: Omit<
      NormPlan,
      "isa" | "workspaceBytes" | "description" | "copyScaleBias" | "lineReads" | "claimRows"
    >,
  ) =>
    all.push(
      describedNorm(s, {
        ...p,
        ...q,
        ...scaleBiasCopies(s, p.copyScaleBias, p.lineReads && !q.pairs),
      }),
    );
  if (canCopy(s, p.isa)) {
    all.push(describedNorm(s, { ...p, ...scaleBiasCopies(s, !p.copyScaleBias, p.lineReads) }));
  }
  if (!p.pairs && canReadLines(p.isa, s.cols)) {
    all.push(describedNorm(s, { ...p, ...scaleBiasCopies(s, p.copyScaleBias, !p.lineReads) }));
  }
  if (p.prefetchRows) all.push(describedNorm(s, { ...p, claimRows: !p.claimRows }));
  const wide = p.isa === "avx512";
  // Narrower levels: pipelined (lag 1: 16 registers hold no statistics
  // waiting) or not, the plan's choice first.
  const pipes = wide ? [true] : [p.pipelined, !p.pipelined];
  const grid = (storeCentred: boolean) => {
    for (const pipelined of pipes) {
      for (const prefetchRows of ahead) {
        for (const lag of wide ? [1, 2] as const : [1] as const) {
          add({ pipelined, lag, pairs: false, storeCentred, prefetchRows });
        }
      }
    }
  };
  grid(p.storeCentred);
  if (wide) {
    for (const pairs of canPair(s, p.isa) ? [true, false] : [false]) {
      for (const prefetchRows of ahead.filter((r) => r !== 1)) {
        add({ pipelined: false, lag: 1, pairs, storeCentred: s.kind === "layer", prefetchRows });
      }
    }
  }
  if (s.kind === "layer") grid(!p.storeCentred);
  return all.filter((q) => q.description !== p.description);
}

function describedNorm(s: NormSpec, p: NormPlan): NormPlan {
  const passes = s.kind === "layer" ? "2 passes (a 3rd on cancellation)" : "2 passes";
  const ahead = !p.prefetchRows
    ? ""
    : `, rows prefetched ${p.prefetchRows} ahead${p.claimRows ? "" : " (x only, y not claimed)"}`;
  const pairs = p.pairs ? ", rows in pairs" : "";
  const piped = !p.pipelined
    ? ""
    : p.lag === 2
    ? ", pass 3 in the pass 1 of the row after next"
    : ", pass 3 in the next row's pass 1";
  const d = s.kind === "layer" ? (p.storeCentred ? ", d stored" : ", d formed twice") : "";
  const which = s.scale && s.bias ? "scale and bias" : s.scale ? "scale" : "bias";
  const copies = p.copyScaleBias ? `, ${which} copied to lines when off them` : "";
  const lines = p.lineReads
    ? `, x off a line read along its lines${
      p.copyScaleBias ? ` (${which} copied to its offset)` : ""
    }${alignsY(s, p) ? ", y off x's offset stored along its own lines" : ""}`
    : "";
  return {
    ...p,
    description: `${p.isa} ${s.kind}Norm, ${passes}${pairs}${piped}${d}${ahead}${copies}${lines}`,
  };
}

const ACCS = 4;

/**
 * Whether y, when it starts at another offset into a line than x, is
 * stored along its own lines (see generateNorm's storeYLine): pipelined
 * rows read along x's lines, of four lines or more, whose pass 1 writes
 * nothing into y (LayerNorm forming d twice, RMSNorm without a residual).
 */
function alignsY(s: NormSpec, p: NormPlan): boolean {
  return p.lineReads && p.pipelined && !p.pairs && s.cols >= 64 &&
    (s.kind === "layer" ? !p.storeCentred : !s.residual);
}

/**
 * Storing along y's lines: pass 3's results of lines k − 1 and k in these
 * two registers (by k's parity), the permute's index (s, s + 1, ..., s + 15)
 * with s = (x's offset − y's) mod 16 floats, free in the pipelined layout.
 */
const Y_RESULTS = [26, 27], Y_INDEX = 28;
/**
 * Their opmasks, set per call: the store at x's first line, at its second
 * (reset to all lanes after each use; its value for a row's first use
 * kept in K_SECOND_FIRST), at its last, and the one after the last.
 */
const K_FIRST = 4, K_SECOND = 7, K_SECOND_FIRST = 1, K_LAST = 6, K_AFTER = 5;

/** One row's registers in a step, and its byte offset from the step's row. */
interface RowRegs {
  /** Σ d (LayerNorm) or Σ t² (RMSNorm), four partial sums. */
  accs: number[];
  /** Σ d² (LayerNorm only), four partial sums. */
  squares: number[];
  MEAN: number;
  INV: number;
  T0: number;
  T1: number;
  T2: number;
  SHIFT: number;
  /** Pass 3's temporary for the residual when it adds it again. */
  T3: number;
  off: number;
}

/** The registers of the rows in flight, and of scale and bias in pass 3. */
interface Layout {
  /** Row i of a step, its byte offset `off`: the registers its passes 1 and 2 and statistics use. */
  cur: (i: number, off: number) => RowRegs;
  /** The same row when pass 3 reads it (pipelined: while a later step's row is in pass 1). */
  prev: (i: number, off: number) => RowRegs;
  /** Pipelined with lag 2: where the statistics (mean, inverse, shift) of the rows one and two behind wait. */
  held: number[];
  SC: number;
  BI: number;
  /**
   * Scale and bias loaded in each row's pass 3 after its centring, not once
   * before the step's rows: their registers double as the centring's
   * temporaries (16 registers).
   */
  lateScaleBias: boolean;
}

/**
 * Unpipelined, a row owns 14 registers and pass 3 uses the first row's T1
 * and T2 for scale and bias (its temporaries then dead). Pipelined, one row
 * is in pass 1 (its sums, SHIFT, T0, T1) while the previous one is in pass
 * 3 (its own shift P, MEAN, INV and a temporary U): 15 registers and scale
 * and bias. MEAN, INV and U are free when the loop ends, so the new row's
 * statistics land where the next loop's pass 3 reads them; only the shift
 * moves (P ← SHIFT). Pass 3 borrows T1 for the residual: the two passes'
 * columns are emitted one after the other, never interleaved.
 *
 * With pass 3 two rows behind (lag 2), a row's chain of folds, square root
 * and division has a whole row's loop to finish before its pass 3 needs it
 * (one row behind, pass 3 waits on it at the top of the loop): the
 * statistics of the rows one and two behind wait in 17-19 and 20-22 (mean,
 * inverse, shift), 23 registers in all. A tier-2 candidate: 4096×768 on
 * Zen 5 1.03-1.09× lag 1 (`deno run -A bench/tune_candidates.ts --norm
 * 4096x768`, two runs), 128×768 none.
 */
function layoutOf(pipelined: boolean, nregs: number): Layout {
  const rowAt = (base: number, off: number): RowRegs => {
    const at = (i: number) => base + i;
    return {
      accs: [at(0), at(1), at(2), at(3)],
      squares: [at(4), at(5), at(6), at(7)],
      SHIFT: at(8),
      T0: at(9),
      T1: at(10),
      MEAN: at(11),
      INV: at(12),
      T2: at(13),
      T3: at(5), // pass 3 only, when the squares are dead
      off,
    };
  };
  if (!pipelined) {
    const row = (i: number, off: number) => rowAt(14 * i, off);
    return { cur: row, prev: row, held: [], SC: 10, BI: 13, lateScaleBias: false };
  }
  const P = 14;
  const cur = (_i: number, off: number) => ({ ...rowAt(0, off), T3: 10 });
  const prev = (_i: number, off: number) => ({ ...rowAt(0, off), SHIFT: P, T0: 13, T3: 10 });
  if (nregs > 16) return { cur, prev, held: [17, 20], SC: 15, BI: 16, lateScaleBias: false };
  // 16 registers (the 16th an AVX2 row tail's mask): scale and bias in the
  // pass-1 row's T0 and T1, free while pass 3's columns are emitted; T1 is
  // pass 3's residual temporary too, so both load after the centring. Lag 1 only.
  return { cur, prev, held: [], SC: 9, BI: 10, lateScaleBias: true };
}

/** Emits `void kernel(args)` for the spec. */
export function generateNorm(s: NormSpec, plan: NormPlan, options: { listing: boolean }): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const shape = rowShape(v, s.cols);
  if (s.rows === 0 || s.cols === 0) {
    a.emit("ret");
    return a.finish();
  }
  const rowBytes = s.cols * 4;
  const layer = s.kind === "layer";
  // At AVX-512 two rows go through each step (32 registers hold both sets):
  // each row's chain of folds, square root and division is latency that the
  // other row's work fills, and pass 3 loads scale and bias once for both.
  // A row goes through the same instructions either way: the same bits.
  const pairs = plan.pairs && !plan.pipelined && s.rows >= 2;
  const L = layoutOf(plan.pipelined, isa.nregs);
  if (plan.pipelined && plan.lag === 2 && L.held.length === 0) {
    throw new Error(`layerNorm: pass 3 two rows behind needs 32 registers (${plan.isa})`);
  }
  // LayerNorm's pass 3 reads d back from y, or forms it again from x.
  const recompute = layer && !plan.storeCentred;
  const rX = rsi, rY = rdx, rR = r8, rS = r9, rB = r10, rows = r11;
  loadPointer(a, rX, NORM_ARG.X);
  loadPointer(a, rY, NORM_ARG.Y);
  if (s.residual) loadPointer(a, rR, NORM_ARG.R);
  if (s.scale) loadPointer(a, rS, NORM_ARG.SCALE);
  if (s.bias) loadPointer(a, rB, NORM_ARG.BIAS);
  const tail = rowTail(v, shape);
  const at = (base: Reg, disp: number): Mem => ptr(base, disp, rax, 1);
  // Line reads (columns.ts): 23-25 and k2, k3 are free in every layout not in pairs.
  const lines = plan.lineReads && !pairs && canReadLines(plan.isa, s.cols)
    ? new LineReads(v, { lines: [23, 24], index: 25 })
    : null;
  /** Whether the code being emitted is the line-read copy of the rows' loop. */
  let alongLines = false;
  /** Whether it is the copy for y at another offset than x, storing along y's lines. */
  let yLines = false;
  const alignY = lines !== null && alignsY(s, plan);

  type Kind = ColumnKind | LineKind;
  const columns = (body: (disp: number, acc: number, kind: Kind, k: number) => void) =>
    alongLines
      ? lines!.columns(shape, ACCS, rax, rcx, rX, body)
      : emitColumns(a, shape, tail, ACCS, rax, rcx, (disp, u, kind) => body(disp, u, kind, 0));
  const maskOf = (kind: string): Tail | undefined =>
    kind === "tail" ? tail! : alongLines ? lines!.mask(kind) : undefined;
  /** dst = the row's element(s) at disp. */
  const load = (dst: number, base: Reg, disp: number, kind: string) => {
    if (kind === "scalar") v.loadScalarMem(dst, at(base, disp));
    else v.loadMem(dst, at(base, disp), maskOf(kind));
  };
  /** d = d op r: whole vectors, or lane 0 for single elements. */
  const elementOp = (o: "add" | "sub" | "mul", d: number, r: number, kind: string) =>
    kind === "scalar" ? v.scalarOp(o, d, r) : v.op(o, d, d, r);
  const store = (base: Reg, disp: number, x: number, kind: string) => {
    if (kind === "scalar") v.storeScalarMem(at(base, disp), x);
    else v.storeMem(at(base, disp), x, maskOf(kind));
  };
  /** acc += t (or t², which may clobber t): whole vectors, or lane 0 for single elements. */
  const accumulate = (acc: number, t: number, kind: string, square: boolean) => {
    if (kind === "scalar") {
      if (square) v.scalarOp("mul", t, t);
      return v.scalarOp("add", acc, t);
    }
    if (square) {
      if (isa.fma) return v.fmadd(acc, t, t, acc);
      v.op("mul", t, t, t);
    }
    v.op("add", acc, acc, t);
  };
  /**
   * AVX-512 works out a row's statistics in lane 0 (the folds leave the
   * sum in every lane) and broadcasts mean and inverse at the end: a scalar
   * division or square root is one µop of a few cycles' throughput where a
   * 512-bit one is three of about 16, and each row takes three divisions
   * and a root. The same IEEE operations: the same bits. 128 rows of 16
   * (nearly the statistics alone), Xeon, one thread: ×0.805 of the time
   * (`--a f1f83e2 --b e51c27f --norm 128x16`, below); with the line sums
   * (rowOrderSums) 128×768 ×0.90-0.92 of the time, 64×768
   * ×0.85, 128×768 with a residual ×0.89, rmsNorm ×1.006, 512×1024 and
   * 4096×768 even (`deno run -A bench/ab.ts --a f1f83e2 --b 3ad485d --norm
   * RxC [--offset 16 --out-offset 16]`). AVX2 (a 256-bit division one µop)
   * read ×1.008 with it and keeps the vector statistics.
   */
  const laneZero = isa.level === "avx512";
  /**
   * dst = (Σ of the partial sums)/cols, in a fixed order (`tmp` clobbered;
   * with laneZero in lane 0 only).
   */
  const fold = (w: Vec, sums: number[], dst: number, tmp: number) => {
    const [a0] = sums;
    for (let i = 1; i < ACCS; i++) w.op("add", a0, a0, sums[i]);
    w.reduceAll("add", a0, tmp);
    if (!laneZero) return w.op("div", dst, a0, f32(s.cols));
    w.move(tmp, f32(s.cols));
    w.a.emit("vdivss", w.x(dst), w.x(a0), w.x(tmp));
  };
  /** The sets' straight-line pieces, instruction by instruction in turn. */
  const together = (sets: RowRegs[], body: (w: Vec, R: RowRegs) => void) =>
    emitInterleaved(a, sets.map((R) => (to: Assembler) => body(v.retarget(to), R)));
  /**
   * Prefetches of the rows ahead: x (and the residual) read, y claimed for
   * writing where plan.claimRows says so (along y's lines rY is moved by
   * less than a line: the same lines but for one).
   */
  const fetchAhead = (sets: RowRegs[], kind: string, disp: number, which: "x" | "y") => {
    if (kind !== "vector" || plan.prefetchRows === 0) return;
    if (disp % 64 !== 0) return; // one a line
    for (const R of sets) {
      const ahead = plan.prefetchRows * rowBytes + R.off + disp;
      if (which === "x") {
        a.emit("prefetcht0", byte(rX, ahead, rax));
        if (s.residual) a.emit("prefetcht0", byte(rR, ahead, rax));
      } else if (plan.claimRows) a.emit("prefetchw", byte(rY, ahead, rax));
    }
  };
  /** dst = t = x (+ residual) at disp (`tmp` clobbered). */
  const loadRow = (R: RowRegs, dst: number, tmp: number, disp: number, kind: string) => {
    load(dst, rX, disp + R.off, kind);
    if (!s.residual) return;
    load(tmp, rR, disp + R.off, kind);
    elementOp("add", dst, tmp, kind);
  };
  /** dst = d = t − shift, read back from y or formed again from x (the same bits). */
  const loadCentred = (R: RowRegs, dst: number, tmp: number, disp: number, kind: string) => {
    if (!recompute) return load(dst, rY, disp + R.off, kind);
    loadRow(R, dst, tmp, disp, kind);
    elementOp("sub", dst, R.SHIFT, kind);
  };

  /**
   * Before pass 1: the sums zeroed; for LayerNorm the shift, the mean of
   * t's first vector (its first element in rows shorter than a vector), so
   * mean(d) is small against the spread and the third pass rarely runs;
   * for rows like 1e4 + noise the d are exact and small, so the mean and
   * variance are those of the noise, never of values rounded at 1e4.
   */
  const begin = (sets: RowRegs[]) => {
    const firstVector = shape.full > 0 && isa.lanes > 1;
    together(sets, (w, R) => {
      for (const acc of [...R.accs, ...(layer ? R.squares : [])]) w.zero(acc);
      if (!layer) return;
      const first = (dst: number, base: Reg) =>
        firstVector
          ? w.loadMem(dst, ptr(base, R.off))
          : w.broadcastMem(dst, ptr(base, R.off, null, 1, 4));
      first(R.SHIFT, rX);
      if (s.residual) {
        first(R.T1, rR);
        w.op("add", R.SHIFT, R.SHIFT, R.T1);
      }
      if (firstVector) {
        // Its mean, each lane scaled first (no overflow).
        w.op("mul", R.SHIFT, R.SHIFT, f32(1 / isa.lanes));
        w.reduceAll("add", R.SHIFT, R.T2);
      }
    });
  };

  /**
   * Pass 1, one column: LayerNorm sums d = t − shift and d² (storing d into
   * y unless pass 3 forms it again); RMSNorm sums t² (storing t into y when
   * there is a residual). It also prefetches the rows ahead.
   */
  const pass1 = (sets: RowRegs[], disp: number, acc: number, kind: Kind, k: number) => {
    fetchAhead(sets, kind, disp, "x");
    fetchAhead(sets, kind, disp, "y");
    for (const R of sets) {
      if (alongLines) {
        // Line k's sums go to accumulator k mod 4, its lanes outside the
        // row kept at +0 (a sum begun at +0 never holds −0, so adding +0
        // changes no bit): finish permutes the accumulators back to the
        // row's vectors once a row (rowOrderSums) instead of forming each
        // row vector from two lines here.
        const line = lines!.line(k);
        loadRow(R, line, R.T1, disp, kind);
        const edge = lines!.mask(kind);
        if (layer && edge) v.opWhere(edge as { k: Reg }, "sub", line, line, R.SHIFT);
        else if (layer) elementOp("sub", line, R.SHIFT, kind);
        if (layer ? !recompute : s.residual) store(rY, disp + R.off, line, kind);
        const b = k % ACCS;
        if (layer) accumulate(R.accs[b], line, "vector", false);
        accumulate((layer ? R.squares : R.accs)[b], line, "vector", true);
        continue;
      }
      loadRow(R, R.T0, R.T1, disp, kind);
      if (layer) elementOp("sub", R.T0, R.SHIFT, kind);
      if (layer ? !recompute : s.residual) store(rY, disp + R.off, R.T0, kind);
      if (kind === "tail") v.zeroOutside(R.T0, tail!);
      if (layer) accumulate(R.accs[acc], R.T0, kind, false);
      accumulate((layer ? R.squares : R.accs)[acc], R.T0, kind, true);
    }
  };

  /**
   * Pass 1's sums along lines back in the row's order, the same bits as
   * summing the row's own vectors: line k holds the row's vector k − 1 in
   * its lanes below m and vector k from lane m on, so lane j of the row's
   * accumulator b (its vectors b, b + 4, ..., in that order) is lane j + m
   * of line accumulator b, or lane j + m − 16 of line accumulator b + 1
   * (mod 4) — the permute that forms a row vector from two lines. Four
   * permutes a sum once a row, not one a vector in the loop (a µop of the
   * FMAs' port 5 on Intel a vector): 128×768 with x and y 16 bytes into a
   * line, Xeon, one thread, ×0.992 of the time alone and ×0.901 with the
   * statistics in lane 0 (see laneZero), which alone gave ×0.909-0.915
   * (`NJIT_CODE_CACHE=off NJIT_LN_PROBE=linesums|scalarfinish deno run -A
   * bench/ab.ts --a f1f83e2 --b tried/norm-probes --norm 128x768 --offset
   * 16 --out-offset 16`): about 1%, under the tool's noise, kept for the
   * µop it saves. Line register 0 (dead after the loop) holds line
   * accumulator 0 for the last permute.
   */
  const rowOrderSums = (sums: number[]) => {
    const first = lines!.line(0);
    v.move(first, sums[0]);
    for (let b = 0; b < ACCS; b++) {
      const next = b + 1 < ACCS ? sums[b + 1] : first;
      a.emit("vpermt2ps", v.r(sums[b]), v.r(lines!.index), v.r(next));
    }
  };
  /**
   * After pass 1: MEAN and INV = 1/√(var + ε). LayerNorm's variance is
   * mean(d²) − mean(d)², unless mean(d)² exceeds half of mean(d²) (the
   * subtraction would cancel more than one bit): then pass 2 sums
   * (d − mean)². Each row takes the two-pass variance only if its own test
   * failed: its bits never depend on the row it shares the step with.
   */
  const finish = (sets: RowRegs[]) => {
    if (alongLines) {
      for (const R of sets) {
        rowOrderSums(R.accs);
        if (layer) rowOrderSums(R.squares);
      }
    }
    if (!layer) {
      together(sets, (w, R) => fold(w, R.accs, R.INV, R.T2));
      return invert(sets);
    }
    // MEAN = mean(d); INV = mean(d²) − MEAN², T0 = MEAN², T1 = mean(d²)/2.
    together(sets, (w, R) => {
      fold(w, R.accs, R.MEAN, R.T2);
      fold(w, R.squares, R.T1, R.T2);
      if (laneZero) {
        const x = (r: number) => w.x(r);
        w.a.emit("vmulss", x(R.T0), x(R.MEAN), x(R.MEAN));
        w.a.emit("vsubss", x(R.INV), x(R.T1), x(R.T0));
        w.move(R.T2, f32(0.5));
        w.a.emit("vmulss", x(R.T1), x(R.T1), x(R.T2));
        return;
      }
      w.op("mul", R.T0, R.MEAN, R.MEAN);
      w.op("sub", R.INV, R.T1, R.T0);
      w.op("mul", R.T1, R.T1, f32(0.5));
    });
    // Cancellation (or NaN, which the subtraction already carries): pass 2.
    const twoPass = a.label(), done = a.label();
    for (const R of sets) {
      v.compareFirstLane(R.T0, R.T1);
      a.emit("ja", twoPass);
    }
    a.emit("jmp", done);
    a.bind(twoPass);
    together(sets, (w, R) => {
      for (const acc of R.accs) w.zero(acc);
      if (laneZero) w.a.emit("vbroadcastss", w.r(R.MEAN), w.x(R.MEAN));
    });
    columns((disp, acc, kind, k) => {
      for (const R of sets) {
        if (alongLines) {
          const line = lines!.line(k);
          loadCentred(R, line, R.squares[1], disp, kind);
          elementOp("sub", line, R.MEAN, kind);
          const t = lines!.rowVector(k, kind as LineKind);
          if (t >= 0) accumulate(R.accs[acc], t, "vector", true);
          continue;
        }
        loadCentred(R, R.T2, R.squares[1], disp, kind);
        elementOp("sub", R.T2, R.MEAN, kind);
        if (kind === "tail") v.zeroOutside(R.T2, tail!);
        accumulate(R.accs[acc], R.T2, kind, true);
      }
    });
    together(sets, (w, R) => fold(w, R.accs, R.squares[0], R.T2));
    for (const R of sets) {
      const keep = a.label();
      v.compareFirstLane(R.T0, R.T1);
      a.emit("jbe", keep);
      v.move(R.INV, R.squares[0]);
      a.bind(keep);
    }
    a.bind(done);
    invert(sets);
  };

  /**
   * INV = 1/√(INV + ε), one division per row; LayerNorm's MEAN becomes
   * −mean·INV, so pass 3 forms (d − mean)·INV as one FMA, d·INV + MEAN.
   */
  const invert = (sets: RowRegs[]) =>
    together(sets, (w, R) => {
      if (laneZero) {
        const x = (r: number) => w.x(r);
        w.move(R.T0, f32(s.epsilon));
        w.a.emit("vaddss", x(R.INV), x(R.INV), x(R.T0));
        w.a.emit("vsqrtss", x(R.INV), x(R.INV), x(R.INV));
        w.move(R.T0, f32(1));
        w.a.emit("vdivss", x(R.T0), x(R.T0), x(R.INV));
        w.a.emit("vbroadcastss", w.r(R.INV), x(R.T0));
        if (!layer) return;
        w.a.emit("vmulss", x(R.MEAN), x(R.MEAN), x(R.T0));
        w.a.emit("vbroadcastss", w.r(R.MEAN), x(R.MEAN));
        w.op("xor", R.MEAN, R.MEAN, bits(0x80000000));
        return;
      }
      w.op("add", R.INV, R.INV, f32(s.epsilon));
      w.sqrt(R.INV, R.INV);
      w.move(R.T0, f32(1));
      w.op("div", R.T0, R.T0, R.INV);
      w.move(R.INV, R.T0);
      if (!layer) return;
      w.op("mul", R.MEAN, R.MEAN, R.INV);
      w.op("xor", R.MEAN, R.MEAN, bits(0x80000000));
    });

  /**
   * Pass 3, one column: y = (centre(row)·inv)·scale + bias, scale and bias
   * loaded once for the step's rows.
   */
  const pass3 = (sets: RowRegs[], disp: number, kind: string, k: number) => {
    const SC = L.SC, BI = L.BI;
    const loadScaleBias = () => {
      if (s.scale) load(SC, rS, disp, kind);
      if (s.bias) load(BI, rB, disp, kind);
    };
    if (!L.lateScaleBias) loadScaleBias();
    for (const R of sets) {
      const T0 = yLines ? Y_RESULTS[k % 2] : R.T0;
      if (layer) loadCentred(R, T0, R.T3, disp, kind);
      else load(T0, s.residual ? rY : rX, disp + R.off, kind);
      if (L.lateScaleBias) loadScaleBias();
      // LayerNorm: d·inv − mean·inv in one rounding (MEAN holds −mean·inv: see invert).
      if (layer && isa.fma && kind !== "scalar") v.fmadd(T0, T0, R.INV, R.MEAN);
      else if (layer && isa.fma) a.emit("vfmadd213ss", v.x(T0), v.x(R.INV), v.x(R.MEAN));
      else {
        elementOp("mul", T0, R.INV, kind);
        if (layer) elementOp("add", T0, R.MEAN, kind);
      }
      if (s.scale && s.bias && isa.fma && kind !== "scalar") v.fmadd(T0, T0, SC, BI);
      else if (s.scale && s.bias && isa.fma) a.emit("vfmadd213ss", v.x(T0), v.x(SC), v.x(BI));
      else {
        if (s.scale) elementOp("mul", T0, SC, kind);
        if (s.bias) elementOp("add", T0, BI, kind);
      }
      if (yLines) storeYLine(R, disp, kind, k);
      else store(rY, disp + R.off, T0, kind);
    }
  };

  /**
   * Along y's lines: x's lines k − 1 and k hold the row's elements from
   * 16(k − 1) − mx on, y's line from 16k − mx − s on (rY moved by 4s − 64
   * bytes), so one permute of the two results is y's line, stored whole
   * but for the row's first and last lines of y. Which of x's lines those
   * fall at depends on whether y is further into its line than x: the
   * masks say (setupYLines). After x's last line, y may have one more.
   */
  const storeYLine = (R: RowRegs, disp: number, kind: string, k: number) => {
    const earlier = Y_RESULTS[(k + 1) % 2], later = Y_RESULTS[k % 2];
    const masked = (mask: number): Tail => ({ lanes: 0, k: KREG[mask], m: -1 });
    a.emit("vpermt2ps", v.r(earlier), v.r(Y_INDEX), v.r(later));
    // k is the line's place in the emitted code: the loop's first line is
    // k = 1 on every turn (its mask reset after use), and so is the last
    // line when no line is left after the loop.
    const second = kind === "vector" && k === 1;
    const mask = kind === "first" ? K_FIRST : kind === "last" ? K_LAST : second ? K_SECOND : -1;
    v.storeMem(at(rY, disp + R.off), earlier, mask < 0 ? undefined : masked(mask));
    if (second) a.emit("kxnorw", KREG[K_SECOND], KREG[K_SECOND], KREG[K_SECOND]);
    if (kind !== "last") return;
    a.emit("vpermt2ps", v.r(later), v.r(Y_INDEX), v.r(earlier));
    v.storeMem(at(rY, disp + 64 + R.off), later, masked(K_AFTER));
  };
  /** Before a row's pass 3 along y's lines: its second line's mask. */
  const startYLines = () => {
    if (yLines) a.emit("kmovw", KREG[K_SECOND], KREG[K_SECOND_FIRST]);
  };
  /**
   * With x's masks and index set (rcx = mx, x's offset in floats): y's
   * offset my, the masks of storeYLine (G: y further into its line than x),
   * the index and rY moved; rcx = mx again for the copies of scale and bias.
   */
  const setupYLines = () => {
    const k = (n: number) => KREG[n];
    a.emit("mov", rax, rY);
    a.emit("and", rax, 63);
    a.emit("shr", rax, 2); // my
    a.emit("mov", r11, rcx); // mx
    a.emit("mov", rcx, rax);
    a.emit("mov", eax, 1);
    a.emit("shl", eax, cl);
    a.emit("dec", eax);
    a.emit("kmovw", k(K_AFTER), eax); // lanes below my
    a.emit("knotw", k(K_FIRST), k(K_AFTER)); // lanes my and up
    a.emit("xor", eax, eax);
    a.emit("cmp", rcx, r11);
    a.emit("seta", al);
    a.emit("neg", eax);
    a.emit("kmovw", k(K_LAST), eax); // G
    a.emit("knotw", k(K_SECOND), k(K_LAST)); // not G
    a.emit("korw", k(K_SECOND_FIRST), k(K_FIRST), k(K_LAST)); // G ? all : my and up
    a.emit("kandw", k(K_FIRST), k(K_FIRST), k(K_LAST)); // G ? my and up : none
    a.emit("korw", k(K_LAST), k(K_AFTER), k(K_SECOND)); // G ? below my : all
    a.emit("kandw", k(K_AFTER), k(K_AFTER), k(K_SECOND)); // G ? none : below my
    a.emit("sub", r11, rcx);
    a.emit("and", r11, 15); // s
    emitShiftIndex(v, Y_INDEX, r11d);
    a.emit("lea", rY, ptr(rY, -64, r11, 4));
    a.emit("mov", rcx, rX);
    a.emit("and", rcx, 63);
    a.emit("shr", rcx, 2);
  };

  const advance = (n: number) => {
    addImmediate(a, "add", rX, n * rowBytes);
    addImmediate(a, "add", rY, n * rowBytes);
    if (s.residual) addImmediate(a, "add", rR, n * rowBytes);
  };
  const cur = (n: number) => Array.from({ length: n }, (_, i) => L.cur(i, i * rowBytes));
  const emitRows = () => plan.pipelined ? emitPipelinedRows() : emitSteps();
  const emitSteps = () => {
    const per = pairs ? 2 : 1;
    const step = (sets: RowRegs[]) => {
      begin(sets);
      columns((disp, acc, kind, k) => pass1(sets, disp, acc, kind, k));
      finish(sets);
      columns((disp, _acc, kind, k) => pass3(sets, disp, kind, k));
      advance(sets.length);
    };
    countedLoop(a, rows, Math.floor(s.rows / per), () => step(cur(per)));
    if (s.rows % per) step(cur(1));
  };
  const emitPipelinedRows = () => {
    // Row k's pass 1 and row k − lag's pass 3 share one loop over the
    // columns: the statistics' chain between a row's passes overlaps a
    // later row's pass 1 instead of stalling the core.
    const lag = plan.lag, row = L.cur(0, 0);
    /** Row k − back as pass 3 reads it, while row k is in pass 1. */
    const behind = (back: number): RowRegs => {
      const R = L.prev(0, -back * rowBytes);
      if (lag === 1) return R; // its MEAN and INV where finish left them
      const at = L.held[back - 1];
      return { ...R, MEAN: at, INV: at + 1, SHIFT: at + 2 };
    };
    /**
     * After a row's statistics: each held row one place further behind,
     * this row nearest. Pass 3 reads a row's MEAN and INV, and its SHIFT
     * when it forms d again (lag 1: only the shift moves).
     */
    const hold = () => {
      const steps: [RowRegs, RowRegs][] = lag === 1
        ? [[behind(1), row]]
        : [[behind(2), behind(1)], [behind(1), row]];
      for (const [to, from] of steps) {
        for (const f of ["MEAN", "INV", "SHIFT"] as const) {
          if (to[f] !== from[f] && (f !== "SHIFT" || recompute)) v.move(to[f], from[f]);
        }
      }
    };
    const step = (late: RowRegs | null) => {
      begin([row]);
      if (late) startYLines();
      columns((disp, acc, kind, k) => {
        pass1([row], disp, acc, kind, k);
        if (late) pass3([late], disp, kind, k);
      });
      finish([row]);
      hold();
      advance(1);
    };
    const lead = Math.min(s.rows, lag);
    for (let k = 0; k < lead; k++) step(null);
    countedLoop(a, rows, s.rows - lead, () => step(behind(lag)));
    for (let back = lead; back >= 1; back--) {
      startYLines();
      columns((disp, _acc, kind, k) => pass3([behind(back)], disp, kind, k));
    }
  };
  const copiesAndRows = (along: boolean) => {
    if (plan.copyScaleBias && along) emitShiftedCopies(a, v, s, shape);
    else if (plan.copyScaleBias) emitLineCopies(a, v, s, shape, tail);
    alongLines = along;
    emitRows();
  };
  if (lines && alignY) {
    // y at another offset into a line than x (separate allocations): along
    // x's lines, x on one too (m = 0), pass 3 storing along y's.
    const apart = a.label(), done = a.label();
    a.emit("mov", rax, rX);
    a.emit("xor", rax, rY);
    a.emit("test", rax, 63);
    a.emit("jnz", apart);
    lines.emitBothWays(rX, copiesAndRows);
    a.emit("jmp", done);
    a.bind(apart);
    lines.setup(rX, null);
    setupYLines();
    yLines = true;
    copiesAndRows(true);
    yLines = false;
    a.bind(done);
  } else if (lines) lines.emitBothWays(rX, copiesAndRows);
  else copiesAndRows(false);
  v.leave();
  a.emit("ret");
  return a.finish();
}

/**
 * Line reads: scale (in r9) and bias (in r10) copied to the workspace at
 * x's offset into a line (rcx floats, 1 to 15), each in a line more than it
 * fills, so pass 3 reads them along the lines it reads x by; the registers
 * then point at the copies. Uses rdi, rax, r11 and vector 0.
 */
function emitShiftedCopies(a: Assembler, v: Vec, s: NormSpec, shape: RowShape): void {
  loadPointer(a, rdi, WORKSPACE_SLOT);
  a.emit("lea", rdi, ptr(rdi, 0, rcx, 4));
  const copy = (from: Reg, at: number) => {
    emitColumns(a, shape, null, ACCS, rax, r11, (disp) => {
      v.loadMem(0, ptr(from, disp, rax, 1));
      v.storeMem(ptr(rdi, at + disp, rax, 1), 0);
    });
    a.emit("lea", from, ptr(rdi, at));
  };
  if (s.scale) copy(r9, 0);
  if (s.bias) copy(r10, lineBytes(s.cols) + 64);
}

/**
 * Scale (in r9) and bias (in r10) each copied to its line of the workspace
 * when it does not start on one, and its register pointed at the copy.
 * Uses rdi (the argument block is read by then), rax, rcx and vector 0.
 */
function emitLineCopies(
  a: Assembler,
  v: Vec,
  s: NormSpec,
  shape: RowShape,
  tail: Tail | null,
): void {
  loadPointer(a, rdi, WORKSPACE_SLOT);
  const copy = (from: Reg, at: number) => {
    const inPlace = a.label();
    a.emit("test", from, 63);
    a.emit("jz", inPlace);
    emitColumns(a, shape, tail, ACCS, rax, rcx, (disp, _u, kind) => {
      const mask = kind === "tail" ? tail! : undefined;
      v.loadMem(0, ptr(from, disp, rax, 1), mask);
      v.storeMem(ptr(rdi, at + disp, rax, 1), 0, mask);
    });
    a.emit("lea", from, ptr(rdi, at));
    a.bind(inPlace);
  };
  if (s.scale) copy(r9, 0);
  if (s.bias) copy(r10, lineBytes(s.cols));
}
