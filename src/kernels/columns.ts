/**
 * The shape of a row of `cols` floats at one ISA level, and the loop over
 * it shared by the row-wise families (softmax, norm, reduce): whole
 * vectors, then the tail (a masked vector at AVX2/AVX-512, whose AVX2 mask
 * takes the last vector register; single elements at SSE2 and scalar).
 *
 * @module
 */
import type { Assembler, Reg } from "../../asm/mod.ts";
import { addImmediate, countedLoop } from "./abi.ts";
import type { Tail, Vec } from "./vec.ts";

/** A row's vectors and tail at a level. */
export interface RowShape {
  /** Bytes of one vector. */
  vectorBytes: number;
  /** Whole vectors. */
  full: number;
  /** Elements after them (0 to lanes − 1). */
  rest: number;
  /** The AVX2 tail's mask register, or −1. */
  maskReg: number;
  /** Vector registers other than the mask register. */
  registers: number[];
}

/** The shape of a row of `cols` at v's level. */
export function rowShape(v: Vec, cols: number): RowShape {
  const L = v.isa.lanes;
  const rest = cols % L;
  const maskReg = v.isa.level === "avx2" && rest ? v.isa.nregs - 1 : -1;
  const registers: number[] = [];
  for (let r = 0; r < v.isa.nregs; r++) if (r !== maskReg) registers.push(r);
  return { vectorBytes: L * 4, full: (cols - rest) / L, rest, maskReg, registers };
}

/** Prepares the row's tail mask (null at SSE2 and scalar, or without a tail). */
export function rowTail(v: Vec, shape: RowShape): Tail | null {
  const l = v.isa.level;
  return shape.rest && (l === "avx512" || l === "avx2")
    ? v.tail(shape.rest, 1, shape.maskReg)
    : null;
}

/** Where an element of the loop is. */
export type ColumnKind = "vector" | "tail" | "scalar";

/**
 * A loop over a row: `body(disp, u, kind)` for vector u of each step of
 * `step` vectors (`index` the byte offset of the step, counted by
 * `counter`), then the remaining vectors, then the tail.
 */
export function emitColumns(
  a: Assembler,
  shape: RowShape,
  tail: Tail | null,
  step: number,
  index: Reg,
  counter: Reg,
  body: (disp: number, u: number, kind: ColumnKind) => void,
): void {
  const VB = shape.vectorBytes;
  a.emit("xor", index, index);
  const steps = Math.floor(shape.full / step);
  countedLoop(a, counter, steps, () => {
    for (let u = 0; u < step; u++) body(u * VB, u, "vector");
    addImmediate(a, "add", index, step * VB);
  });
  const left = shape.full - steps * step;
  for (let u = 0; u < left; u++) body(u * VB, u, "vector");
  if (tail) body(left * VB, 0, "tail");
  else for (let j = 0; j < shape.rest; j++) body(left * VB + j * 4, 0, "scalar");
}

/** Where a vector of a row read along its cache lines is (see emitLineColumns). */
export type LineKind = "first" | "vector" | "last";

/**
 * A loop over a row of whole vectors (AVX-512: cols a multiple of 16) read
 * along the cache lines of `base` rather than from the row's start, for
 * rows that start m floats (1..15) into a line and whose stride is whole
 * lines: a vector across two lines costs two loads (or stores), and rows
 * read that way run ~1.1-1.4× slower beyond L1. Vector k = 0..full holds
 * the row's elements 16k − m … 16k − m + 15: the first only in its lanes m
 * and up, the last only below m. `index` starts each row at −(base mod 64),
 * so any operand of the row's layout is [operand + disp + index].
 * `body(disp, u, kind, k)` for each vector k: u = (k − 1) mod `step`, the
 * accumulator of the row's vector k − 1, which lies in lines k − 1 and k
 * (its column loop's `u`); `step` must be even, so k's parity is fixed
 * by u across the loop's iterations.
 */
export function emitLineColumns(
  a: Assembler,
  shape: RowShape,
  step: number,
  index: Reg,
  counter: Reg,
  base: Reg,
  body: (disp: number, u: number, kind: LineKind, k: number) => void,
): void {
  if (shape.full < 1 || shape.rest !== 0 || step % 2 !== 0) {
    throw new Error(
      `line columns: whole vectors and an even step, got ${shape.full}+${shape.rest}`,
    );
  }
  const VB = shape.vectorBytes;
  a.emit("mov", index, base);
  a.emit("and", index, 63);
  a.emit("neg", index);
  body(0, 0, "first", 0);
  const middle = shape.full - 1, steps = Math.floor(middle / step);
  countedLoop(a, counter, steps, () => {
    for (let u = 0; u < step; u++) body((1 + u) * VB, u, "vector", 1 + u);
    addImmediate(a, "add", index, step * VB);
  });
  const left = middle - steps * step;
  for (let u = 0; u < left; u++) body((1 + u) * VB, u, "vector", 1 + u);
  body((1 + left) * VB, left, "last", 1 + left);
}
