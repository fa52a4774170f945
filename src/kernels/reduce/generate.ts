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
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitExpInRange, EXP_LO } from "../math/exp.ts";
import { Lanes } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import { type ColumnKind, emitColumns, rowShape, rowTail } from "../columns.ts";
import { f32, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { REDUCE_ARG, REDUCE_OPS, type ReduceSpec } from "./spec.ts";

/** How a reduction kernel is built. */
export interface ReducePlan {
  /** Vector level. */
  isa: VecLevel;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** The plan: the ISA's vectors, 4 accumulators. */
export function planReduce(s: ReduceSpec, isa: VecLevel): ReducePlan {
  return { isa, workspaceBytes: 0, description: `${isa} ${REDUCE_OPS[s.op]}, 4 accumulators` };
}

const ACCS = 4;

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
  const temps = shape.registers.filter((r) => r >= 9);
  const m = new Lanes(v, temps);
  const kmask = isa.level === "avx512" ? m.mask() : { v: MK };
  if (s.rows === 0) {
    a.emit("ret");
    return a.finish();
  }
  loadPointer(a, rsi, REDUCE_ARG.X);
  loadPointer(a, rdx, REDUCE_ARG.Y);
  const tail = rowTail(v, shape);
  const at = (disp: number): Mem => ptr(rsi, disp, rax, 1);

  /** body(disp, acc, kind) over the row's vectors (4 per step), then the tail. */
  const columns = (body: (disp: number, acc: number, kind: ColumnKind) => void) =>
    emitColumns(a, shape, tail, ACCS, rax, rcx, body);
  const fold = (how: "add" | "max" | "min") => {
    for (let i = 1; i < ACCS; i++) v.op(how, 0, 0, i);
    v.reduceAll(how, 0, T1);
  };
  /** Pass over the row for max or min into register 0 (NaN tracked in NAN when asked). */
  const extremum = (how: "max" | "min", trackNaN: boolean) => {
    const fill = f32(how === "max" ? -Infinity : Infinity);
    for (let i = 0; i < ACCS; i++) v.move(i, fill);
    if (trackNaN) v.zero(NAN);
    columns((disp, acc, kind) => {
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
  /** Pass summing x (or x²) into register 0. */
  const additive = (square: boolean) => {
    for (let i = 0; i < ACCS; i++) v.zero(i);
    columns((disp, acc, kind) => {
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
    fold("add");
  };

  countedLoop(a, r8, s.rows, () => {
    if (op === "max" || op === "min") extremum(op, true);
    else if (op === "logSumExp") {
      extremum("max", false);
      // Subtract a finite max only: all −Inf gives ln 0 = −Inf, a +Inf gives +Inf.
      m.abs(T0, 0);
      v.compare(kmask, T0, "eq", f32(Infinity));
      v.move(MX, 0);
      m.select(MX, kmask, f32(0), MX);
      for (let i = 0; i < ACCS; i++) v.zero(i);
      columns((disp, acc, kind) => {
        if (kind === "scalar") v.loadScalarMem(T0, at(disp));
        else v.loadMem(T0, at(disp), kind === "tail" ? tail! : undefined);
        v.op("sub", T0, T0, MX);
        m.atLeast(T1, T0, EXP_LO);
        emitExpInRange(m, T0, T1);
        if (kind === "tail") v.zeroOutside(T0, tail!);
        if (kind === "scalar") v.scalarOp("add", acc, T0);
        else v.op("add", acc, acc, T0);
      });
      fold("add");
      emitLog(m, T0, 0);
      v.op("add", 0, T0, MX);
    } else {
      additive(op === "sumSquare" || op === "l2");
      if (op === "mean") v.op("div", 0, 0, f32(s.cols));
      if (op === "l2") v.sqrt(0, 0);
    }
    v.storeScalar(rdx, 0, 0);
    a.emit("add", rdx, 4);
    addImmediate(a, "add", rsi, s.cols * 4);
  });
  v.leave();
  a.emit("ret");
  return a.finish();
}
