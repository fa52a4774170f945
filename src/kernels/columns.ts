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
