/**
 * Reductions along rows: one pass of 4 vector accumulators over a fixed
 * assignment of vectors, folded in a fixed order, then across lanes
 * (results depend on the shape only). max and min propagate NaN (any NaN in
 * the row gives NaN, as numpy does; x86 max alone would drop it).
 * logSumExp is max-subtracted (two passes; an all −Inf row gives −Inf, a
 * +Inf gives +Inf) with the shared exp and log emitters.
 *
 * @module
 */
import {
  Assembler,
  type Mem,
  type Program,
  ptr,
  r8,
  r9,
  rax,
  rcx,
  rdx,
  rsi,
  vreg,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitExpUpTo, EXP_HI } from "../math/exp.ts";
import { Lanes } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import {
  canReadLines,
  type ColumnKind,
  emitColumns,
  type LineKind,
  LineReads,
  rowShape,
  rowTail,
} from "../columns.ts";
import { f32, foldedLane, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { REDUCE_ARG, REDUCE_OPS, type ReduceSpec } from "./spec.ts";

/** How a reduction kernel is built. */
export interface ReducePlan {
  /** Vector level. */
  isa: VecLevel;
  /** No workspace. */
  workspaceBytes: 0;
  /** Sums of short rows: each row added into one register from memory, 4-16 rows an iteration. */
  shortRows: boolean;
  /**
   * Short rows: bytes ahead of each iteration's rows that it prefetches into
   * L1 (0: none). On an Intel Xeon (SPR) rows in L2 wait on it without:
   * global average pooling of 7²×2048 (2048 rows of 49), `deno task compare
   * --conv` at 1aab4c4 and at b21cb2b, 5.7 → 4.5 µs (0.92 → 1.02× oneDNN's
   * NHWC). Where the core wants it (`prefetchesWithinL2` in src/cpu.ts);
   * tier 2 tries the other way.
   */
  prefetchAhead: number;
  /** AVX-512 rows of whole vectors: read along x's cache lines when x starts off one (columns.ts). */
  lineReads: boolean;
  /** One line for listings and stats. */
  description: string;
}

/**
 * The plan: the ISA's vectors, 4 accumulators, or one per row for short
 * AVX-512 sums; rows of whole vectors read along x's lines when x starts
 * off one (columns.ts), for rows of LINE_READS_MIN_COLS or more beyond L2:
 * streamed from L3 or memory, a line read whole is what the sum waits on
 * (Zen 5, the commit before and after in one process, x 16 bytes into a
 * line: 1×16 Mi sum and max ×1.56-1.58, 4096×768 sum ×1.30), while in L2
 * the permute each vector takes costs more than the split load it saves
 * (128×784 sum ×0.78, max ×0.88).
 */
export function planReduce(
  s: ReduceSpec,
  isa: VecLevel,
  l2 = 1 << 20,
  prefetch = false,
): ReducePlan {
  const op = REDUCE_OPS[s.op];
  const shortRows = (op === "sum" || op === "mean") && isa === "avx512" && s.cols > 0 &&
    Math.ceil(s.cols / 16) <= SHORT_ROW_VECTORS;
  const lineReads = !shortRows && canReadLines(isa, s.cols) && s.cols >= LINE_READS_MIN_COLS &&
    4 * s.rows * s.cols > l2;
  const how = shortRows
    ? `a register per row, ${shortRowsPerIteration(Math.ceil(s.cols / 16))} rows an iteration`
    : "4 accumulators";
  const lines = lineReads ? ", x off a line read along its lines" : "";
  return withPrefetch({
    isa,
    workspaceBytes: 0,
    shortRows,
    lineReads,
    prefetchAhead: 0,
    description: `${isa} ${op}, ${how}${lines}`,
  }, shortRows && prefetch ? SHORT_ROWS_AHEAD : 0);
}

/** Bytes ahead that short rows are prefetched (ReducePlan.prefetchAhead). */
const SHORT_ROWS_AHEAD = 2048;

/** The plan with short rows prefetched `ahead` bytes on (0: not), its description saying so. */
function withPrefetch(p: ReducePlan, ahead: number): ReducePlan {
  const plain = p.description.replace(/, rows prefetched \d+ B ahead$/, "");
  return {
    ...p,
    prefetchAhead: ahead,
    description: ahead ? `${plain}, rows prefetched ${ahead} B ahead` : plain,
  };
}

/** Tier 2's candidates: short rows prefetched the other way (the same bits). */
export function reduceCandidates(p: ReducePlan): ReducePlan[] {
  return p.shortRows ? [withPrefetch(p, p.prefetchAhead ? 0 : SHORT_ROWS_AHEAD)] : [];
}

/** Rows shorter than this are not read along lines (see planReduce). */
const LINE_READS_MIN_COLS = 256;

const ACCS = 4;
/**
 * Rows of up to this many vectors (tail included) are summed without
 * accumulators or a column loop, a few rows an iteration, so that each load
 * advances less than 2 KiB an iteration: this Zen 5's L1 prefetcher follows
 * such a stride and no longer one (`bench/prefetch_stride.ts`: L2 streamed
 * at 1.0-1.35 cycles a line against 1.7-2.2).
 */
const SHORT_ROW_VECTORS = 8;

/**
 * Rows summed per iteration: an iteration under 2 KiB of x. Rows of 8
 * vectors stay 16 an iteration: 4 of them (1.8-2 KiB) measured slower than
 * 16 (2048×113 and 2048×128 sums, alternating in one process).
 */
function shortRowsPerIteration(vectors: number): 4 | 8 | 16 {
  return vectors === 1 || vectors === 8 ? 16 : vectors <= 3 ? 8 : 4;
}

/** Emits `void kernel(args)` for the spec. */
export function generateReduce(
  s: ReduceSpec,
  plan: ReducePlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const op = REDUCE_OPS[s.op];
  const shape = rowShape(v, s.cols);
  const [T0, T1, NAN, MX, MK] = [4, 5, 6, 7, 8];
  // Line reads take 9-11 and k2, k3 (sum16Rows clobbers 9-11: the index is set again after it).
  const lines = plan.lineReads && canReadLines(plan.isa, s.cols) && !plan.shortRows
    ? new LineReads(v, { lines: [9, 10], index: 11 })
    : null;
  const temps = shape.registers.filter((r) => r >= (lines ? 12 : 9));
  const m = new Lanes(v, temps, [4, 5, 6, 7]);
  const kmask = isa.level === "avx512" ? m.mask() : { v: MK };
  if (s.rows === 0) {
    a.emit("ret");
    return a.finish();
  }
  loadPointer(a, rsi, REDUCE_ARG.X);
  loadPointer(a, rdx, REDUCE_ARG.Y);
  const tail = rowTail(v, shape);
  const at = (disp: number): Mem => ptr(rsi, disp, rax, 1);

  /** Whether the code being emitted is the line-read copy of the rows' loop. */
  let alongLines = false;
  type Kind = ColumnKind | LineKind;
  /**
   * body(disp, acc, kind, k) over the row's vectors (4 per step), then the
   * tail; or over its lines (k the line) when they are read.
   */
  const columns = (
    body: (disp: number, acc: number, kind: Kind, k: number) => void,
    lined = alongLines,
  ) =>
    lined
      ? lines!.columns(shape, ACCS, rax, rcx, rsi, body)
      : emitColumns(a, shape, tail, ACCS, rax, rcx, (disp, u, kind) => body(disp, u, kind, 0));
  /** Line reads: line k loaded; the row's vector it completes, or −1 at the first line. */
  const rowVector = (disp: number, kind: Kind, k: number): number => {
    v.loadMem(lines!.line(k), at(disp), lines!.mask(kind));
    return lines!.rowVector(k, kind as LineKind);
  };
  const fold = (how: "add" | "max" | "min") => {
    for (let i = 1; i < ACCS; i++) v.op(how, 0, 0, i);
    v.reduceAll(how, 0, T1);
  };
  /** Pass over the row for max or min into register 0 (NaN tracked in NAN when asked). */
  const extremum = (how: "max" | "min", trackNaN: boolean) => {
    const fill = f32(how === "max" ? -Infinity : Infinity);
    for (let i = 0; i < ACCS; i++) v.move(i, fill);
    if (trackNaN) v.zero(NAN);
    columns((disp, acc, kind, k) => {
      if (alongLines) {
        const t = rowVector(disp, kind, k);
        if (t < 0) return;
        v.op(how, acc, acc, t);
        if (trackNaN) {
          v.compare(kmask, t, "unord", t);
          m.select(NAN, kmask, t, NAN);
        }
        return;
      }
      if (kind === "scalar") v.loadScalarMem(T0, at(disp));
      else if (kind === "tail") {
        a.emit("lea", r9, at(disp));
        v.loadFilled(T0, r9, 0, tail!, fill, T1);
      } else v.loadMem(T0, at(disp));
      if (kind === "scalar") v.scalarOp(how, acc, T0);
      else v.op(how, acc, acc, T0);
      if (trackNaN) {
        v.compare(kmask, T0, "unord", T0);
        m.select(NAN, kmask, T0, NAN);
      }
    });
    fold(how);
    if (trackNaN) {
      v.reduceAll("add", NAN, T1); // NaN if any lane saw one
      v.compare(kmask, NAN, "unord", NAN);
      m.select(0, kmask, NAN, 0);
    }
  };
  /** Pass summing x (or x²) into register 0 (its lanes summed too, unless `vectorOnly`). */
  const additive = (square: boolean, vectorOnly = false) => {
    for (let i = 0; i < ACCS; i++) v.zero(i);
    columns((disp, acc, kind, k) => {
      if (alongLines) {
        const t = rowVector(disp, kind, k);
        if (t < 0) return;
        if (square) return v.fmadd(acc, t, t, acc);
        return v.op("add", acc, acc, t);
      }
      if (kind === "scalar") {
        v.loadScalarMem(T0, at(disp));
        if (square) v.scalarOp("mul", T0, T0);
        return v.scalarOp("add", acc, T0);
      }
      v.loadMem(T0, at(disp), kind === "tail" ? tail! : undefined);
      if (square && isa.fma) return v.fmadd(acc, T0, T0, acc);
      if (square) v.op("mul", T0, T0, T0);
      v.op("add", acc, acc, T0);
    });
    if (!vectorOnly) return fold("add");
    for (let i = 1; i < ACCS; i++) v.op("add", 0, 0, i);
  };
  const additiveOp = op === "sum" || op === "mean" || op === "sumSquare" || op === "l2";
  // AVX-512 sums of short rows (global average pooling's 7² planes): each row
  // added into one register straight from memory, in order, no loop.
  const shortRows = plan.shortRows;
  /** Row `row` (from rsi) summed lane-wise into register `dst`: v0 + v1 + … + tail. */
  const shortRow = (dst: number, row: number) => {
    const base = row * s.cols * 4, VB = shape.vectorBytes;
    if (shape.full === 0) return v.loadMem(dst, ptr(rsi, base), tail!);
    v.loadMem(dst, ptr(rsi, base));
    for (let u = 1; u < shape.full; u++) {
      a.emit("vaddps", v.r(dst), v.r(dst), ptr(rsi, base + u * VB).withSize(64));
    }
    // Merge-masked: the lanes past the row keep their sums (and fault on nothing).
    if (tail) {
      a.emit(
        "vaddps",
        v.r(dst).k(tail.k!),
        v.r(dst),
        ptr(rsi, base + shape.full * VB).withSize(64),
      );
    }
  };
  /** mean and l2 from a sum in register `r`. */
  const finish = (r: number) => {
    if (op === "mean") v.op("div", r, r, f32(s.cols));
    if (op === "l2") v.sqrt(r, r);
  };
  // AVX-512 short sums: 4, 8 or 16 rows an iteration (under 2 KiB of x), their lanes summed
  // together (sumRows). 16 rows of 4 vectors an iteration (3136 B) read L2 at 2/3 the rate.
  const per = shortRowsPerIteration(shape.full + (tail ? 1 : 0));
  const batches = shortRows ? Math.floor(s.rows / per) : 0;
  const groups = additiveOp && isa.level === "avx512" && !shortRows ? Math.floor(s.rows / 16) : 0;
  const emitRows = () => {
    if (batches > 0 && per !== 16) v.permuteIndex(ROWS_INDEX, ROWS_LANES[per]);
    countedLoop(a, r8, batches, () => {
      // The lines prefetchAhead on from this iteration's rows into L1 (a prefetch never faults).
      for (let o = 0; plan.prefetchAhead && o < per * s.cols * 4; o += 64) {
        a.emit("prefetcht0", ptr(rsi, plan.prefetchAhead + o, null, 1, 1));
      }
      for (let r = 0; r < per; r++) shortRow(16 + r, r);
      addImmediate(a, "add", rsi, per * s.cols * 4);
      sumRows(v, per, 16, ROWS_INDEX, T0);
      // Only the lanes stored are divided: a narrower divide costs less.
      const sum = vreg(32 * per, 0);
      if (op === "mean") a.emit("vdivps", sum, sum, v.konst(f32(s.cols)));
      a.emit("vmovups", ptr(rdx, 0).withSize(4 * per), sum);
      a.emit("add", rdx, 4 * per);
    });
    // AVX-512, other sums: 16 rows at a time, their lanes summed together (see sum16Rows).
    countedLoop(a, r8, groups, () => {
      for (let r = 0; r < 16; r++) {
        additive(op === "sumSquare" || op === "l2", true);
        v.move(16 + r, 0);
        addImmediate(a, "add", rsi, s.cols * 4);
      }
      sum16Rows(v, 16, T0);
      if (alongLines) lines!.setIndex(rsi);
      finish(0);
      v.store(rdx, 0, 0);
      a.emit("add", rdx, 64);
    });

    countedLoop(a, r8, s.rows - 16 * groups - per * batches, () => {
      if (op === "max" || op === "min") extremum(op, true);
      else if (op === "logSumExp") {
        extremum("max", false);
        // Subtract a finite max only: all −Inf gives ln 0 = −Inf, a +Inf gives +Inf.
        m.abs(T0, 0);
        v.compare(kmask, T0, "eq", f32(Infinity));
        v.move(MX, 0);
        m.select(MX, kmask, f32(0), MX);
        for (let i = 0; i < ACCS; i++) v.zero(i);
        // The row is in cache now: its vectors read as they lie (with the
        // exponentials' permutes, the lines' own cost more: ×0.9 at 4096×768).
        columns((disp, acc, kind) => {
          if (kind === "scalar") v.loadScalarMem(T0, at(disp));
          else v.loadMem(T0, at(disp), kind === "tail" ? tail! : undefined);
          v.op("sub", T0, T0, MX);
          // Capped: a +Inf (its max taken as 0) gives e^89 = +Inf.
          m.atMost(T1, T0, EXP_HI);
          emitExpUpTo(m, T0, T1);
          if (kind === "tail") v.zeroOutside(T0, tail!);
          if (kind === "scalar") v.scalarOp("add", acc, T0);
          else v.op("add", acc, acc, T0);
        }, false);
        fold("add");
        emitLog(m, T0, 0);
        v.op("add", 0, T0, MX);
      } else if (shortRows) {
        shortRow(0, 0);
        v.reduceAll("add", 0, T1);
        finish(0);
      } else {
        additive(op === "sumSquare" || op === "l2");
        finish(0);
      }
      v.storeScalar(rdx, 0, 0);
      a.emit("add", rdx, 4);
      addImmediate(a, "add", rsi, s.cols * 4);
    });
  };
  const rowsOf = (along: boolean) => {
    alongLines = along;
    emitRows();
  };
  if (lines) lines.emitBothWays(rsi, rowsOf);
  else rowsOf(false);
  v.leave();
  a.emit("ret");
  return a.finish();
}

/**
 * The first two levels of the lanes' sums of 4 rows (registers `rows` ..
 * `rows` + 3): l + (l ^ 8) over two rows' 128-bit halves, then l + (l ^ 4),
 * into register `dst`, row r in 128-bit block r. Registers 8-9, the rows
 * (once read) and `tmp` are clobbered; `dst` may be one of the rows.
 */
function sumQuad(v: Vec, rows: number, dst: number, tmp: number): void {
  const a = v.a, r = (i: number) => v.r(i);
  // l + (l ^ 8): two rows per register, lanes 0-7 and 8-15.
  for (let i = 0; i < 2; i++) {
    a.emit("vshuff32x4", r(8 + i), r(rows + 2 * i), r(rows + 2 * i + 1), 0x44);
    a.emit("vshuff32x4", r(tmp), r(rows + 2 * i), r(rows + 2 * i + 1), 0xee);
    v.op("add", 8 + i, 8 + i, tmp);
  }
  // l + (l ^ 4): four rows per register, one per 128-bit block.
  a.emit("vshuff32x4", r(dst), r(8), r(9), 0x88);
  a.emit("vshuff32x4", r(tmp), r(8), r(9), 0xdd);
  v.op("add", dst, dst, tmp);
}

/**
 * The lanes of 16 rows' vectors (registers first .. first + 15, row r in
 * first + r) summed at once (Vec.foldAcross16: the pairs Vec.reduceAll adds
 * within one vector, added across registers, so every row gets the bits of
 * its own reduceAll in a quarter of the instructions), then each row to its
 * lane of register 0 for one store. Register 2 and the inputs are
 * clobbered; `tmp` is scratch.
 */
function sum16Rows(v: Vec, first: number, tmp: number): void {
  const rows = Array.from({ length: 16 }, (_, r) => first + r);
  const sums = v.foldAcross16("add", rows, tmp);
  v.permuteIndex(2, ROW_ORDER);
  v.a.emit("vpermps", v.r(0), v.r(2), v.r(sums));
}

/**
 * The lanes of `count` rows' vectors (registers first .. first + count − 1)
 * summed into lanes 0 .. count − 1 of register 0 with the pairs of
 * sum16Rows, in its order (so the bits of each row's reduceAll); for 4 or 8
 * rows `index` holds ROWS_LANES[count]. Registers 8-9, the inputs and `tmp`
 * are clobbered (sum16Rows: see there).
 */
function sumRows(v: Vec, count: 4 | 8 | 16, first: number, index: number, tmp: number): void {
  if (count === 16) return sum16Rows(v, first, tmp);
  const a = v.a, r = (i: number) => v.r(i);
  const Z = (j: number) => first + j;
  for (let j = 0; j < count / 4; j++) sumQuad(v, first + 4 * j, Z(j), tmp);
  // l + (l ^ 2): two rows' lanes (8 rows) or one row's twice (4), the lower lane first.
  a.emit("vshufps", r(first + 2), r(Z(0)), r(Z(count === 8 ? 1 : 0)), 0x44);
  a.emit("vshufps", r(tmp), r(Z(0)), r(Z(count === 8 ? 1 : 0)), 0xee);
  v.op("add", first + 2, first + 2, tmp);
  // l + (l ^ 1): block k's lane 0 holds row k, lane 1 row 4 + k (8 rows).
  a.emit("vshufps", r(first + 3), r(first + 2), r(first + 2), 0x88);
  a.emit("vshufps", r(tmp), r(first + 2), r(first + 2), 0xdd);
  v.op("add", first + 3, first + 3, tmp);
  a.emit("vpermps", r(0), r(index), r(first + 3));
}

/** vpermps indices gathering 4 or 8 rows' sums (sumRows) into the lowest lanes. */
const ROWS_LANES: Record<4 | 8, number[]> = {
  4: Array.from({ length: 16 }, (_, i) => 4 * (i % 4)),
  8: Array.from({ length: 16 }, (_, i) => (4 * (i % 4) + (i >> 2)) % 16),
};
/** The register holding ROWS_LANES' index vector through the loop (above 8 rows' registers). */
const ROWS_INDEX = 31;

/** vpermps indices: lane r takes row r's fold (Vec.foldAcross16's lane 4·(r mod 4) + ⌊r/4⌋). */
const ROW_ORDER: number[] = Array.from({ length: 16 }, (_, i) => foldedLane(i));
