/**
 * The select kernel: y[i] = mask[i] ≠ 0 ? a[i] : b[i], a conditional move
 * of 32-bit general registers an element (the bits as they are: a NaN's
 * payload too), four elements a step so their loads overlap, the last ones
 * one at a time. A select is three streams in and one out: memory, not the
 * move, bounds it.
 *
 * @module
 */
import {
  Assembler,
  ecx,
  edx,
  type Program,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rsi,
} from "../../../asm/mod.ts";
import { countedLoop, loadPointer } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import type { VecLevel } from "../vec.ts";
import { SELECT_ARG, type SelectSpec } from "./read.ts";

/** A select plan: the level (the code is the same at every one). */
export interface SelectPlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`. */
export function planSelect(_s: SelectSpec, level: VecLevel): SelectPlan {
  return { isa: level, workspaceBytes: 0, description: "cmov of 32-bit elements, 4 a step" };
}

/** Elements a step. */
const UNROLL = 4;

/** Emits `void kernel(args)`. */
export function generateSelect(
  s: SelectSpec,
  _p: SelectPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  loadPointer(a, rsi, SELECT_ARG.MASK);
  loadPointer(a, r8, SELECT_ARG.A);
  loadPointer(a, r9, SELECT_ARG.B);
  loadPointer(a, r10, SELECT_ARG.Y);
  if (s.maskShift) a.emit("add", rsi, s.maskShift);
  const as = s.aScalar ? 0 : 4, bs = s.bScalar ? 0 : 4;
  /** Element `k` of the step at the pointers. */
  const one = (k: number) => {
    a.emit("mov", ecx, ptr(r8, k * as).withSize(4)); // a
    a.emit("mov", edx, ptr(r9, k * bs).withSize(4)); // b
    a.emit("cmp", ptr(rsi, k).withSize(1), 0);
    a.emit("cmove", ecx, edx); // mask 0: b
    a.emit("mov", ptr(r10, k * 4).withSize(4), ecx);
  };
  const advance = (count: number) => {
    a.emit("add", rsi, count);
    if (as) a.emit("add", r8, count * as);
    if (bs) a.emit("add", r9, count * bs);
    a.emit("add", r10, count * 4);
  };
  countedLoop(a, r11, Math.floor(s.n / UNROLL), () => {
    for (let k = 0; k < UNROLL; k++) one(k);
    advance(UNROLL);
  });
  countedLoop(a, rax, s.n % UNROLL, () => {
    one(0);
    advance(1);
  });
  a.emit("ret");
  return a.finish();
}
