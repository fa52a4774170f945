/**
 * C = beta·C: the whole program when there is nothing to multiply
 * (alpha = 0 or k = 0), and the first pass of kernels that accumulate into
 * C in place (skinny).
 *
 * @module
 */
import { type Assembler, r10, r8, r9, rax, rcx, type Reg } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { type Tail, Vec, type VecIsa } from "../vec.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** The registers {@link emitScaleRows} may overwrite. */
export interface ScaleRegisters {
  /** Vector temporary. */
  x: number;
  /** Vector register for beta. */
  beta: number;
  /** Row pointer, column pointer, row counter, column counter. */
  row: Reg;
  col: Reg;
  i: Reg;
  j: Reg;
}

/**
 * C = beta·C over the m×n matrix at `c` (left unchanged); beta = 0 writes
 * zeros without reading C. `tail` masks the last n % lanes columns; without
 * one they are done one scalar at a time.
 */
export function emitScaleRows(
  v: Vec,
  s: GemmSpec,
  c: Reg,
  r: ScaleRegisters,
  tail: Tail | null,
): void {
  if (s.beta === 1 || s.m === 0 || s.n === 0) return;
  const a = v.a, lanes = v.isa.lanes;
  if (s.beta !== 0) v.constant(r.beta, s.beta);
  else v.zero(r.x);
  const full = Math.floor(s.n / lanes), rest = s.n % lanes;
  const one = (disp: number, t?: Tail) => {
    if (s.beta !== 0) {
      v.load(r.x, r.col, disp, t);
      v.mul(r.x, r.x, r.beta);
    }
    v.store(r.col, disp, r.x, t);
  };
  const oneScalar = (disp: number) => {
    if (s.beta !== 0) {
      v.loadScalar(r.x, r.col, disp);
      v.scalarOp("mul", r.x, r.beta);
    }
    v.storeScalar(r.col, disp, r.x);
  };
  a.emit("mov", r.row, c);
  countedLoop(a, r.i, s.m, () => {
    a.emit("mov", r.col, r.row);
    countedLoop(a, r.j, full, () => {
      one(0);
      addImmediate(a, "add", r.col, lanes * 4);
    });
    if (tail) one(0, tail);
    else for (let j = 0; j < rest; j++) oneScalar(j * 4);
    addImmediate(a, "add", r.row, s.ldc * 4);
  });
}

/** The whole program C = beta·C. */
export function emitScaleC(a: Assembler, isa: VecIsa, s: GemmSpec): void {
  const v = new Vec(a, isa);
  const rC = r8;
  loadPointer(a, rC, ARG.C);
  const rest = s.n % isa.lanes;
  const vectorTail = rest && s.beta !== 1 && (isa.level === "avx512" || isa.level === "avx2");
  const tail = vectorTail ? v.tail(rest, 1, 2) : null;
  emitScaleRows(v, s, rC, { x: 0, beta: 1, row: r9, col: r10, i: rax, j: rcx }, tail);
  v.leave();
  a.emit("ret");
}
