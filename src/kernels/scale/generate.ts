/**
 * The scaleRows kernel, its counts read from the factors' header: per
 * row, its f64 factor in every lane; the row's floats widened to f64 a
 * register's worth at a time (`doubleLanes`), times the factor, rounded
 * once to f32 and stored; the row's last length % lanes floats one at a
 * time. Every element is one exact widening, one f64 multiply and one
 * rounding: the bits of the TypeScript reference (`x[i] * f` stored into a
 * Float32Array) at every level.
 *
 * @module
 */
import {
  Assembler,
  dword,
  type Program,
  ptr,
  qword,
  r8,
  r8d,
  r9,
  r9d,
  rax,
  rcx,
  rdx,
  rsi,
} from "../../../asm/mod.ts";
import { loadPointer, runtimeLoopOf } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { SCALE_ARG, type ScaleRowsSpec } from "./read.ts";

/** A scaleRows plan: the vector level. */
export interface ScaleRowsPlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`. */
export function planScaleRows(_s: ScaleRowsSpec, level: VecLevel): ScaleRowsPlan {
  return {
    isa: level,
    workspaceBytes: 0,
    description: `${level} rows × f64 factors, rounded once`,
  };
}

const FACTOR = 0, T = 1;

/** Emits `void kernel(args)`. */
export function generateScaleRows(
  _s: ScaleRowsSpec,
  p: ScaleRowsPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  loadPointer(a, rsi, SCALE_ARG.X);
  loadPointer(a, rcx, SCALE_ARG.FACTORS);
  loadPointer(a, rdx, SCALE_ARG.Y);
  const D = v.doubleLanes, bytes = 4 * D;
  a.emit("mov", r8d, dword(rcx, 0)); // rows (≥ 1: the reader's check)
  a.emit("mov", r9d, dword(rcx, 4)); // floats per row (≥ 1)
  a.emit("add", rcx, 8);
  const scale = (one: boolean) => {
    v.loadWidened(T, ptr(rsi, 0), one);
    v.mulDoubles(T, T, FACTOR, one);
    v.storeNarrowed(ptr(rdx, 0), T, one);
    a.emit("add", rsi, one ? 4 : bytes);
    a.emit("add", rdx, one ? 4 : bytes);
  };
  const row = a.label();
  a.bind(row);
  v.broadcastDouble(FACTOR, qword(rcx, 0));
  runtimeLoopOf(a, rax, r9, Math.log2(D), 0, () => scale(false));
  if (D > 1) runtimeLoopOf(a, rax, r9, 0, D - 1, () => scale(true));
  a.emit("add", rcx, 8);
  a.emit("dec", r8);
  a.emit("jnz", row);
  v.leave();
  a.emit("ret");
  return a.finish();
}
