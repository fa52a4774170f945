/**
 * LayerNormalization and RMSNormalization along rows, stable: LayerNorm
 * works on d = t − shift (t = x, or x + residual), shift the mean of the
 * row's first vector, so the sums are of values near the row's spread
 * (rows like 1e4 + noise keep their variance); pass 1 stores d into y and
 * sums d and d², and the variance is mean(d²) − mean(d)² unless that
 * cancels more than a bit, when pass 2 sums (d − mean)² instead. Pass 3
 * writes ((d − mean)·inv)·scale + bias with inv = 1/√(var + ε), one
 * division per row. RMSNorm sums t² and writes t·inv·scale.
 *
 * Sums run in 4 vector accumulators over a fixed assignment of vectors, then
 * fold in a fixed order: results depend on the shape only.
 *
 * @module
 */
import {
  Assembler,
  byte,
  type Mem,
  type Program,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rcx,
  rdx,
  type Reg,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { type ColumnKind, emitColumns, rowShape, rowTail } from "../columns.ts";
import { f32, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { NORM_ARG, type NormSpec } from "./spec.ts";

/** How a normalization kernel is built. */
export interface NormPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Rows ahead whose lines are prefetched (0: none; the data fits L1). */
  prefetchRows: number;
  /** Two rows per step, their instructions interleaved (AVX-512's 32 registers). */
  pairs: boolean;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/**
 * The plan: the ISA's vectors; operands larger than L1 get rows prefetched
 * two ahead (into L1, the y lines claimed for writing). Measured on Zen 5,
 * 4096×768: one row ahead 180 → 169 ns per row, two 126, four 134; the
 * prefetches spread over the passes rather than all in pass 3: 4096×768
 * 740 → 669 and 809 → 763 µs in two runs; at 64×768 (in L2) prefetching
 * cost ~5% there. On an Intel Xeon (Sapphire Rapids class) the rows of a
 * pair wait on L2 without them (`deno run -A bench/tune_candidates.ts
 * --norm 128x768`, two runs): 128×768 46.7-48.6 → 22.2-22.3 µs, 512×1024
 * 450-461 → 219-223, so operands past L1 take the prefetches and
 * tier 2 tries the plan without them. Rows in pairs at AVX-512 (two Jits
 * alternating in one process, Zen 5): 64×128 1.39 → 1.08 µs, 128×768
 * 11.4 → 10.5, 512×1024 73.6 → 64.2.
 */
export function planNorm(s: NormSpec, isa: VecLevel, l1d = 48 << 10): NormPlan {
  const prefetchRows = canFetch(s) && 8 * s.rows * s.cols > l1d ? 2 : 0;
  const pairs = canPair(s, isa);
  return describedNorm(s, { isa, prefetchRows, pairs, workspaceBytes: 0, description: "" });
}

/** Whether rows can be prefetched ahead: the displacement (two rows) must fit 32 bits. */
function canFetch(s: NormSpec): boolean {
  return s.rows > 2 && s.cols < 1 << 26;
}

/** Whether rows can go in pairs: a pair's second row is a displacement of up to two rows (four when prefetching). */
function canPair(s: NormSpec, isa: VecLevel): boolean {
  return isa === "avx512" && s.rows >= 2 && s.cols < 1 << 26;
}

/** Tier 2's candidates: rows in pairs or alone, prefetched 2, 1 or 0 rows ahead (the same instructions per row). */
export function normCandidates(s: NormSpec, p: NormPlan): NormPlan[] {
  const out: NormPlan[] = [];
  for (const pairs of canPair(s, p.isa) ? [true, false] : [false]) {
    for (const prefetchRows of canFetch(s) ? [2, 1, 0] : [0]) {
      if (pairs === p.pairs && prefetchRows === p.prefetchRows) continue;
      out.push(describedNorm(s, { ...p, pairs, prefetchRows }));
    }
  }
  return out;
}

function describedNorm(s: NormSpec, p: NormPlan): NormPlan {
  const passes = s.kind === "layer" ? "2 passes (a 3rd on cancellation)" : "2 passes";
  const ahead = p.prefetchRows ? `, rows prefetched ${p.prefetchRows} ahead` : "";
  const pairs = p.pairs ? ", rows in pairs" : "";
  return { ...p, description: `${p.isa} ${s.kind}Norm, ${passes}${pairs}${ahead}` };
}

const ACCS = 4;

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
  off: number;
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
  // Registers per row: the partial sums, mean, inv, temporaries, the row's
  // shift (14 for LayerNorm, 10 for RMSNorm). At AVX-512 two rows go
  // through each step (32 registers hold both sets): each row's chain of
  // folds, square root and division is latency that the other row's work
  // fills, and pass 3 loads scale and bias once for both. A row goes
  // through the same instructions either way: the same bits.
  const pairs = plan.pairs && s.rows >= 2;
  const width = layer ? 14 : 10;
  const regsOf = (base: number, off: number): RowRegs => {
    const at = (i: number) => base + i, sq = layer ? 4 : 0;
    return {
      accs: [at(0), at(1), at(2), at(3)],
      squares: layer ? [at(4), at(5), at(6), at(7)] : [],
      MEAN: at(sq + 4),
      INV: at(sq + 5),
      T0: at(sq + 6),
      T1: at(sq + 7),
      T2: at(sq + 8),
      SHIFT: at(sq + 9),
      off,
    };
  };
  const A = regsOf(0, 0), B = regsOf(width, rowBytes);
  const rX = rsi, rY = rdx, rR = r8, rS = r9, rB = r10, rows = r11;
  loadPointer(a, rX, NORM_ARG.X);
  loadPointer(a, rY, NORM_ARG.Y);
  if (s.residual) loadPointer(a, rR, NORM_ARG.R);
  if (s.scale) loadPointer(a, rS, NORM_ARG.SCALE);
  if (s.bias) loadPointer(a, rB, NORM_ARG.BIAS);
  const tail = rowTail(v, shape);
  const at = (base: Reg, disp: number): Mem => ptr(base, disp, rax, 1);
  // Where pass 3 reads the row: LayerNorm's pass 1 stores d = t − shift into
  // y, RMSNorm's stores t = x + residual there when there is a residual.
  const src = layer || s.residual ? rY : rX;

  const columns = (body: (disp: number, acc: number, kind: ColumnKind) => void) =>
    emitColumns(a, shape, tail, ACCS, rax, rcx, body);
  /** dst = the row's element(s) at disp. */
  const load = (dst: number, base: Reg, disp: number, kind: string) => {
    if (kind === "scalar") v.loadScalarMem(dst, at(base, disp));
    else v.loadMem(dst, at(base, disp), kind === "tail" ? tail! : undefined);
  };
  /** d = d op r: whole vectors, or lane 0 for single elements. */
  const elementOp = (o: "add" | "sub" | "mul", d: number, r: number, kind: string) =>
    kind === "scalar" ? v.scalarOp(o, d, r) : v.op(o, d, d, r);
  const store = (base: Reg, disp: number, x: number, kind: string) => {
    if (kind === "scalar") v.storeScalarMem(at(base, disp), x);
    else v.storeMem(at(base, disp), x, kind === "tail" ? tail! : undefined);
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
  /** dst = (Σ of the partial sums)/cols, in a fixed order (`tmp` clobbered). */
  const fold = (w: Vec, sums: number[], dst: number, tmp: number) => {
    const [a0] = sums;
    for (let i = 1; i < ACCS; i++) w.op("add", a0, a0, sums[i]);
    w.reduceAll("add", a0, tmp);
    w.op("div", dst, a0, f32(s.cols));
  };
  /** The sets' straight-line pieces, instruction by instruction in turn. */
  const together = (sets: RowRegs[], body: (w: Vec, R: RowRegs) => void) =>
    emitInterleaved(a, sets.map((R) => (to: Assembler) => body(v.retarget(to), R)));
  /** Prefetches of the rows ahead: x (and the residual) read, y claimed for writing. */
  const fetchAhead = (sets: RowRegs[], kind: string, disp: number, which: "x" | "y") => {
    if (kind !== "vector" || plan.prefetchRows === 0) return;
    for (const R of sets) {
      const ahead = plan.prefetchRows * rowBytes + R.off + disp;
      if (which === "x") {
        a.emit("prefetcht0", byte(rX, ahead, rax));
        if (s.residual) a.emit("prefetcht0", byte(rR, ahead, rax));
      } else a.emit("prefetchw", byte(rY, ahead, rax));
    }
  };
  /** t = x (+ residual) at disp into T0, for every row of the step. */
  const loadRow = (R: RowRegs, disp: number, kind: string) => {
    load(R.T0, rX, disp + R.off, kind);
    if (!s.residual) return;
    load(R.T1, rR, disp + R.off, kind);
    elementOp("add", R.T0, R.T1, kind);
  };

  /**
   * LayerNorm: pass 1 stores d = t − shift into y and sums d and d²; the
   * variance is mean(d²) − mean(d)², unless mean(d)² exceeds half of
   * mean(d²) (the subtraction would cancel more than one bit): then pass 2
   * sums (d − mean)² over the stored d. The shift is the mean of the row's
   * first vector (its first element in rows shorter than a vector), so
   * mean(d) is small against the spread and pass 2 rarely runs; for rows
   * like 1e4 + noise the d are exact and small, so the mean and variance
   * are those of the noise, never of values rounded at 1e4. Pass 3 writes
   * ((d − mean)·inv)·scale + bias, inv = 1/√(var + ε).
   */
  const layerStep = (sets: RowRegs[]) => {
    const firstVector = shape.full > 0 && isa.lanes > 1;
    together(sets, (w, R) => {
      for (const acc of [...R.accs, ...R.squares]) w.zero(acc);
      // t's first vector (or first element, in every lane).
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
    // Pass 1 also prefetches the rows ahead: their x, and their y lines claimed.
    columns((disp, acc, kind) => {
      fetchAhead(sets, kind, disp, "x");
      fetchAhead(sets, kind, disp, "y");
      for (const R of sets) {
        loadRow(R, disp, kind);
        elementOp("sub", R.T0, R.SHIFT, kind);
        store(rY, disp + R.off, R.T0, kind);
        if (kind === "tail") v.zeroOutside(R.T0, tail!);
        accumulate(R.accs[acc], R.T0, kind, false);
        accumulate(R.squares[acc], R.T0, kind, true);
      }
    });
    // MEAN = mean(d); INV = mean(d²) − MEAN², T0 = MEAN², T1 = mean(d²)/2.
    together(sets, (w, R) => {
      fold(w, R.accs, R.MEAN, R.T2);
      fold(w, R.squares, R.T1, R.T2);
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
    });
    columns((disp, acc, kind) => {
      for (const R of sets) {
        load(R.T2, rY, disp + R.off, kind);
        elementOp("sub", R.T2, R.MEAN, kind);
        if (kind === "tail") v.zeroOutside(R.T2, tail!);
        accumulate(R.accs[acc], R.T2, kind, true);
      }
    });
    // Each row takes the two-pass variance only if its own test failed:
    // its bits never depend on the row it shares the step with.
    together(sets, (w, R) => fold(w, R.accs, R.SHIFT, R.T2));
    for (const R of sets) {
      const keep = a.label();
      v.compareFirstLane(R.T0, R.T1);
      a.emit("jbe", keep);
      v.move(R.INV, R.SHIFT);
      a.bind(keep);
    }
    a.bind(done);
    invert(sets);
    pass3(sets, (R, kind) => elementOp("sub", R.T0, R.MEAN, kind));
  };

  /** RMSNorm: pass 1 sums t² (storing t = x + residual into y), pass 3 writes t·inv·scale. */
  const rmsStep = (sets: RowRegs[]) => {
    together(sets, (w, R) => {
      for (const acc of R.accs) w.zero(acc);
    });
    columns((disp, acc, kind) => {
      fetchAhead(sets, kind, disp, "x");
      for (const R of sets) {
        loadRow(R, disp, kind);
        if (s.residual) store(rY, disp + R.off, R.T0, kind);
        if (kind === "tail") v.zeroOutside(R.T0, tail!);
        accumulate(R.accs[acc], R.T0, kind, true);
      }
    });
    together(sets, (w, R) => fold(w, R.accs, R.INV, R.T2));
    invert(sets);
    pass3(sets, () => {}, (kind, disp) => fetchAhead(sets, kind, disp, "y"));
  };

  /** INV = 1/√(INV + ε), one division per row. */
  const invert = (sets: RowRegs[]) =>
    together(sets, (w, R) => {
      w.op("add", R.INV, R.INV, f32(s.epsilon));
      w.sqrt(R.INV, R.INV);
      w.move(R.T0, f32(1));
      w.op("div", R.T0, R.T0, R.INV);
      w.move(R.INV, R.T0);
    });

  /**
   * Pass 3: y = (centre(row)·inv)·scale + bias, scale and bias loaded once
   * for the step's rows.
   */
  const pass3 = (
    sets: RowRegs[],
    centre: (R: RowRegs, kind: string) => void,
    ahead: (kind: string, disp: number) => void = () => {},
  ) => {
    const SC = sets[0].T1, BI = sets[0].T2;
    columns((disp, _acc, kind) => {
      ahead(kind, disp);
      if (s.scale) load(SC, rS, disp, kind);
      if (s.bias) load(BI, rB, disp, kind);
      for (const R of sets) {
        const T0 = R.T0;
        load(T0, src, disp + R.off, kind);
        centre(R, kind);
        elementOp("mul", T0, R.INV, kind);
        if (s.scale && s.bias && isa.fma && kind !== "scalar") v.fmadd(T0, T0, SC, BI);
        else if (s.scale && s.bias && isa.fma) a.emit("vfmadd213ss", v.x(T0), v.x(SC), v.x(BI));
        else {
          if (s.scale) elementOp("mul", T0, SC, kind);
          if (s.bias) elementOp("add", T0, BI, kind);
        }
        store(rY, disp + R.off, T0, kind);
      }
    });
  };

  const step = (sets: RowRegs[]) => {
    if (layer) layerStep(sets);
    else rmsStep(sets);
    const advance = sets.length * rowBytes;
    addImmediate(a, "add", rX, advance);
    addImmediate(a, "add", rY, advance);
    if (s.residual) addImmediate(a, "add", rR, advance);
  };

  if (pairs) {
    countedLoop(a, rows, Math.floor(s.rows / 2), () => step([A, B]));
    if (s.rows % 2) step([A]);
  } else countedLoop(a, rows, s.rows, () => step([A]));
  v.leave();
  a.emit("ret");
  return a.finish();
}
