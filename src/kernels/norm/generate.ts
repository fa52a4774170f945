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
import { type ColumnKind, emitColumns, rowShape, rowTail } from "../columns.ts";
import { f32, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { NORM_ARG, type NormSpec } from "./spec.ts";

/** How a normalization kernel is built. */
export interface NormPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Rows ahead whose lines pass 3 prefetches (0: none; the data fits L2). */
  prefetchRows: number;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/**
 * The plan: the ISA's vectors; operands larger than L2 get rows prefetched
 * ahead. Measured on Zen 5, 4096×768: one row ahead 180 → 169 ns per row,
 * two 126, four 134; at 64×768 (in cache) prefetching costs ~5%.
 */
export function planNorm(s: NormSpec, isa: VecLevel, l2 = 1 << 20): NormPlan {
  const passes = s.kind === "layer" ? 3 : 2;
  // The prefetch displacement (two rows ahead) must fit a 32-bit displacement.
  const prefetchRows = s.rows > 2 && 8 * s.rows * s.cols > l2 && s.cols < 1 << 26 ? 2 : 0;
  const ahead = prefetchRows ? `, rows prefetched ${prefetchRows} ahead` : "";
  return {
    isa,
    prefetchRows,
    workspaceBytes: 0,
    description: `${isa} ${s.kind}Norm, ${passes} passes per row${ahead}`,
  };
}

const ACCS = 4;

/** Emits `void kernel(args)` for the spec. */
export function generateNorm(s: NormSpec, plan: NormPlan, options: { listing: boolean }): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const shape = rowShape(v, s.cols);
  // Registers: 4 accumulators, mean, inv, temporaries, the row's shift.
  const [MEAN, INV, T0, T1, T2, SHIFT] = [4, 5, 6, 7, 8, 9];
  if (s.rows === 0 || s.cols === 0) {
    a.emit("ret");
    return a.finish();
  }
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
  const load = (dst: number, base: Reg, disp: number, kind: string) => {
    if (kind === "scalar") v.loadScalarMem(dst, at(base, disp));
    else v.loadMem(dst, at(base, disp), kind === "tail" ? tail! : undefined);
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
  const foldRow = (dst: number) => {
    for (let i = 1; i < ACCS; i++) v.op("add", 0, 0, i);
    v.reduceAll("add", 0, T2);
    v.op("div", dst, 0, f32(s.cols));
  };

  const layer = s.kind === "layer";
  /** T0 = t − shift (LayerNorm works relative to the row's first element, see below). */
  const shifted = (kind: string) => {
    if (!layer) return;
    if (kind === "scalar") v.scalarOp("sub", T0, SHIFT);
    else v.op("sub", T0, T0, SHIFT);
  };

  countedLoop(a, rows, s.rows, () => {
    // LayerNorm sums t − t₀ (t₀ the row's first element): for rows like
    // 1e4 + noise these differences are exact and small, so their mean is
    // exact to f32 precision, and an f32 mean of t itself (rounded at 1e4)
    // never enters (t − mean).
    if (layer) {
      v.broadcastMem(SHIFT, ptr(rX, 0, null, 1, 4));
      if (s.residual) {
        v.broadcastMem(T1, ptr(rR, 0, null, 1, 4));
        v.op("add", SHIFT, SHIFT, T1);
      }
    }
    // Pass 1: Σ (t − t₀) (layer) or Σ t² (rms), t = x (+ residual, stored into y).
    for (let i = 0; i < ACCS; i++) v.zero(i);
    columns((disp, acc, kind) => {
      load(T0, rX, disp, kind);
      if (s.residual) {
        load(T1, rR, disp, kind);
        if (kind === "scalar") v.scalarOp("add", T0, T1);
        else v.op("add", T0, T0, T1);
        store(rY, disp, T0, kind);
      }
      shifted(kind);
      if (kind === "tail") v.zeroOutside(T0, tail!);
      accumulate(acc, T0, kind, s.kind === "rms");
    });
    foldRow(MEAN); // the mean of t − t₀ (layer) or of t² (rms)
    if (layer) {
      // Pass 2: Σ ((t − t₀) − mean)².
      for (let i = 0; i < ACCS; i++) v.zero(i);
      columns((disp, acc, kind) => {
        load(T0, src, disp, kind);
        shifted(kind);
        v.op("sub", T0, T0, MEAN);
        if (kind === "tail") v.zeroOutside(T0, tail!);
        accumulate(acc, T0, kind, true);
      });
      foldRow(INV);
    } else v.move(INV, MEAN);
    v.op("add", INV, INV, f32(s.epsilon));
    v.sqrt(INV, INV);
    v.move(T0, f32(1));
    v.op("div", T0, T0, INV);
    v.move(INV, T0);
    // Pass 3: y = ((t − mean)·inv)·scale + bias; meanwhile the x (and
    // residual) of the row after next come in, and its y lines are claimed,
    // so later passes do not wait on memory.
    columns((disp, _acc, kind) => {
      const scalar = kind === "scalar";
      if (kind === "vector" && plan.prefetchRows > 0) {
        const AHEAD = plan.prefetchRows;
        a.emit("prefetcht0", byte(rX, AHEAD * s.cols * 4 + disp, rax));
        if (s.residual) a.emit("prefetcht0", byte(rR, AHEAD * s.cols * 4 + disp, rax));
        a.emit("prefetchw", byte(rY, AHEAD * s.cols * 4 + disp, rax));
      }
      load(T0, src, disp, kind);
      const op = (o: "sub" | "mul" | "add", d: number, r: number) =>
        scalar ? v.scalarOp(o, d, r) : v.op(o, d, d, r);
      shifted(kind);
      if (layer) op("sub", T0, MEAN);
      op("mul", T0, INV);
      if (s.scale) load(T1, rS, disp, kind);
      if (s.bias) load(T2, rB, disp, kind);
      if (s.scale && s.bias && isa.fma && !scalar) v.fmadd(T0, T0, T1, T2);
      else if (s.scale && s.bias && isa.fma) a.emit("vfmadd213ss", v.x(T0), v.x(T1), v.x(T2));
      else {
        if (s.scale) op("mul", T0, T1);
        if (s.bias) op("add", T0, T2);
      }
      store(rY, disp, T0, kind);
    });
    addImmediate(a, "add", rX, s.cols * 4);
    addImmediate(a, "add", rY, s.cols * 4);
    if (s.residual) addImmediate(a, "add", rR, s.cols * 4);
  });
  v.leave();
  a.emit("ret");
  return a.finish();
}
