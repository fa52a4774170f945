/**
 * LayerNormalization and RMSNormalization along rows, two-pass and stable:
 * pass 1 sums x − x₀ (or with the residual added, stored into y so later
 * passes read it once computed) for the mean, or x² for RMS; pass 2
 * (LayerNorm) sums (x − x₀ − mean)², so rows like 1e4 + noise keep their
 * variance (E[x²] − E[x]² would cancel it away); pass 3 writes
 * ((x − x₀ − mean)·inv)·scale + bias with inv = 1/√(var + ε), one division
 * per row. x₀, the row's first element, keeps the sums small and exact.
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
  /** Rows ahead whose lines are prefetched (0: none; the data fits L2). */
  prefetchRows: number;
  /** Two rows per step, their instructions interleaved (AVX-512's 32 registers). */
  pairs: boolean;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/**
 * The plan: the ISA's vectors; operands larger than L2 get rows prefetched
 * ahead. Measured on Zen 5, 4096×768: one row ahead 180 → 169 ns per row,
 * two 126, four 134; at 64×768 (in cache) prefetching costs ~5%. Rows in
 * pairs at AVX-512 (two Jits alternating in one process, Zen 5): 64×128
 * 1.39 → 1.08 µs, 128×768 11.4 → 10.5, 512×1024 73.6 → 64.2; the
 * prefetches spread over the passes (x in pass 1, y in pass 2) rather than
 * all in pass 3: 4096×768 740 → 669 and 809 → 763 µs in two runs.
 */
export function planNorm(s: NormSpec, isa: VecLevel, l2 = 1 << 20): NormPlan {
  const passes = s.kind === "layer" ? 3 : 2;
  // The prefetch displacement (two rows ahead) must fit a 32-bit displacement.
  const prefetchRows = s.rows > 2 && 8 * s.rows * s.cols > l2 && s.cols < 1 << 26 ? 2 : 0;
  const ahead = prefetchRows ? `, rows prefetched ${prefetchRows} ahead` : "";
  // A pair's second row is a displacement of up to two rows (four when prefetching).
  const pairs = isa === "avx512" && s.rows >= 2 && s.cols < 1 << 26;
  return {
    isa,
    prefetchRows,
    pairs,
    workspaceBytes: 0,
    description: `${isa} ${s.kind}Norm, ${passes} passes per row${
      pairs ? ", rows in pairs" : ""
    }${ahead}`,
  };
}

const ACCS = 4;

/** One row's registers in a step, and its byte offset from the step's row. */
interface RowRegs {
  accs: number[];
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
  // Registers per row: 4 accumulators, mean, inv, temporaries, the row's
  // shift. At AVX-512 two rows go through each step (32 registers hold both
  // sets): each row's chain of folds, square root and division is latency
  // that the other row's work fills, and pass 3 loads scale and bias once
  // for both. A row goes through the same instructions either way: the
  // same bits.
  const pairs = plan.pairs && s.rows >= 2;
  const regsOf = (base: number, off: number): RowRegs => ({
    accs: [base, base + 1, base + 2, base + 3],
    MEAN: base + 4,
    INV: base + 5,
    T0: base + 6,
    T1: base + 7,
    T2: base + 8,
    SHIFT: base + 9,
    off,
  });
  const A = regsOf(0, 0), B = regsOf(10, rowBytes);
  const rX = rsi, rY = rdx, rR = r8, rS = r9, rB = r10, rows = r11;
  loadPointer(a, rX, NORM_ARG.X);
  loadPointer(a, rY, NORM_ARG.Y);
  if (s.residual) loadPointer(a, rR, NORM_ARG.R);
  if (s.scale) loadPointer(a, rS, NORM_ARG.SCALE);
  if (s.bias) loadPointer(a, rB, NORM_ARG.BIAS);
  const tail = rowTail(v, shape);
  const at = (base: Reg, disp: number): Mem => ptr(base, disp, rax, 1);
  const src = s.residual ? rY : rX; // where pass 2 and 3 read the row

  const columns = (body: (disp: number, acc: number, kind: ColumnKind) => void) =>
    emitColumns(a, shape, tail, ACCS, rax, rcx, body);
  /** dst = the row's element(s) at disp: x, or x + residual (stored into y) in pass 1. */
  const load = (w: Vec, dst: number, base: Reg, disp: number, kind: string) => {
    if (kind === "scalar") w.loadScalarMem(dst, at(base, disp));
    else w.loadMem(dst, at(base, disp), kind === "tail" ? tail! : undefined);
  };
  const store = (base: Reg, disp: number, x: number, kind: string) => {
    if (kind === "scalar") v.storeScalarMem(at(base, disp), x);
    else v.storeMem(at(base, disp), x, kind === "tail" ? tail! : undefined);
  };
  /** acc += t (or t²): whole vectors, or lane 0 for single elements. */
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
  /** dst = (Σ of R's accumulators)/cols, in a fixed order. */
  const foldRow = (w: Vec, R: RowRegs, dst: number) => {
    const [a0] = R.accs;
    for (let i = 1; i < ACCS; i++) w.op("add", a0, a0, R.accs[i]);
    w.reduceAll("add", a0, R.T2);
    w.op("div", dst, a0, f32(s.cols));
  };
  const layer = s.kind === "layer";
  /** t − shift (LayerNorm works relative to the row's first element, see below). */
  const shifted = (R: RowRegs, t: number, kind: string) => {
    if (!layer) return;
    if (kind === "scalar") v.scalarOp("sub", t, R.SHIFT);
    else v.op("sub", t, t, R.SHIFT);
  };
  /** The sets' straight-line pieces, instruction by instruction in turn. */
  const together = (sets: RowRegs[], body: (w: Vec, R: RowRegs) => void) =>
    emitInterleaved(a, sets.map((R) => (to: Assembler) => body(v.retarget(to), R)));

  const step = (sets: RowRegs[]) => {
    // LayerNorm sums t − t₀ (t₀ the row's first element): for rows like
    // 1e4 + noise these differences are exact and small, so their mean is
    // exact to f32 precision, and an f32 mean of t itself (rounded at 1e4)
    // never enters (t − mean).
    together(sets, (w, R) => {
      for (const acc of R.accs) w.zero(acc);
      if (!layer) return;
      w.broadcastMem(R.SHIFT, ptr(rX, R.off, null, 1, 4));
      if (s.residual) {
        w.broadcastMem(R.T1, ptr(rR, R.off, null, 1, 4));
        w.op("add", R.SHIFT, R.SHIFT, R.T1);
      }
    });
    // Pass 1: Σ (t − t₀) (layer) or Σ t² (rms), t = x (+ residual, stored into y).
    // Meanwhile the x (and residual) of the rows ahead come in, and pass 2
    // claims their y lines: spread over the passes, the prefetches keep
    // memory busy through the whole step, so later rows do not wait on it.
    const fetchAhead = (kind: string, disp: number, which: "x" | "y") => {
      if (kind !== "vector" || plan.prefetchRows === 0) return;
      for (const R of sets) {
        const ahead = plan.prefetchRows * rowBytes + R.off + disp;
        if (which === "x") {
          a.emit("prefetcht0", byte(rX, ahead, rax));
          if (s.residual) a.emit("prefetcht0", byte(rR, ahead, rax));
        } else a.emit("prefetchw", byte(rY, ahead, rax));
      }
    };
    columns((disp, acc, kind) => {
      fetchAhead(kind, disp, "x");
      for (const R of sets) {
        load(v, R.T0, rX, disp + R.off, kind);
        if (s.residual) {
          load(v, R.T1, rR, disp + R.off, kind);
          if (kind === "scalar") v.scalarOp("add", R.T0, R.T1);
          else v.op("add", R.T0, R.T0, R.T1);
          store(rY, disp + R.off, R.T0, kind);
        }
        shifted(R, R.T0, kind);
        if (kind === "tail") v.zeroOutside(R.T0, tail!);
        accumulate(R.accs[acc], R.T0, kind, s.kind === "rms");
      }
    });
    // The mean of t − t₀ (layer) or of t² (rms).
    together(sets, (w, R) => foldRow(w, R, R.MEAN));
    if (layer) {
      // Pass 2: Σ ((t − t₀) − mean)².
      together(sets, (w, R) => {
        for (const acc of R.accs) w.zero(acc);
      });
      columns((disp, acc, kind) => {
        fetchAhead(kind, disp, "y");
        for (const R of sets) {
          load(v, R.T0, src, disp + R.off, kind);
          shifted(R, R.T0, kind);
          v.op("sub", R.T0, R.T0, R.MEAN);
          if (kind === "tail") v.zeroOutside(R.T0, tail!);
          accumulate(R.accs[acc], R.T0, kind, true);
        }
      });
    }
    together(sets, (w, R) => {
      if (layer) foldRow(w, R, R.INV);
      else w.move(R.INV, R.MEAN);
      w.op("add", R.INV, R.INV, f32(s.epsilon));
      w.sqrt(R.INV, R.INV);
      w.move(R.T0, f32(1));
      w.op("div", R.T0, R.T0, R.INV);
      w.move(R.INV, R.T0);
    });
    // Pass 3: y = ((t − mean)·inv)·scale + bias, scale and bias loaded once
    // for the step's rows (RMSNorm claims the y lines ahead here).
    const SC = sets[0].T1, BI = sets[0].T2;
    columns((disp, _acc, kind) => {
      const scalar = kind === "scalar";
      if (!layer) fetchAhead(kind, disp, "y");
      if (s.scale) load(v, SC, rS, disp, kind);
      if (s.bias) load(v, BI, rB, disp, kind);
      for (const R of sets) {
        const T0 = R.T0;
        load(v, T0, src, disp + R.off, kind);
        const op = (o: "sub" | "mul" | "add", d: number, r: number) =>
          scalar ? v.scalarOp(o, d, r) : v.op(o, d, d, r);
        shifted(R, T0, kind);
        if (layer) op("sub", T0, R.MEAN);
        op("mul", T0, R.INV);
        if (s.scale && s.bias && isa.fma && !scalar) v.fmadd(T0, T0, SC, BI);
        else if (s.scale && s.bias && isa.fma) a.emit("vfmadd213ss", v.x(T0), v.x(SC), v.x(BI));
        else {
          if (s.scale) op("mul", T0, SC);
          if (s.bias) op("add", T0, BI);
        }
        store(rY, disp + R.off, T0, kind);
      }
    });
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
