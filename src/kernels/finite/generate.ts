/**
 * The allFinite kernel: Σ (x − x) over x in four vector accumulators, the
 * count read from the flag operand (read.ts). x − x is +0 for every finite
 * x and NaN for ±Inf and NaN, and a NaN stays NaN through every later sum,
 * so the lanes summed at the end are +0 exactly when every x is finite (no
 * sum can overflow: each term is zero).
 *
 * @module
 */
import { Assembler, ecx, type Program, ptr, rax, rcx, rdx, rsi } from "../../../asm/mod.ts";
import { loadPointer, runtimeLoopOf } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { type AllFiniteSpec, FINITE_ARG } from "./read.ts";

/** An allFinite plan: the vector level. */
export interface AllFinitePlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`. */
export function planAllFinite(_s: AllFiniteSpec, level: VecLevel): AllFinitePlan {
  return { isa: level, workspaceBytes: 0, description: `${level} Σ (x − x)` };
}

/** Accumulators (and loads in flight). */
const ACCS = 4;

/** Emits `void kernel(args)`. */
export function generateAllFinite(
  _s: AllFiniteSpec,
  p: AllFinitePlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  loadPointer(a, rsi, FINITE_ARG.X);
  loadPointer(a, rdx, FINITE_ARG.FLAG);
  a.emit("mov", ecx, ptr(rdx, 4).withSize(4)); // x's count (≥ 1)
  // Single floats sum apart, in S: a VEX scalar add zeroes its register's upper lanes.
  const L = v.isa.lanes, VB = 4 * L, T = ACCS, S = 2 * ACCS;
  for (let u = 0; u < ACCS; u++) v.zero(u);
  v.zero(S);
  /** `body` (rcx >> shift) & mask times, counted in rax. */
  const loop = (shift: number, mask: number, body: () => void) =>
    runtimeLoopOf(a, rax, rcx, shift, mask, body);
  const vector = (acc: number, disp: number) => {
    v.load(T + acc, rsi, disp);
    v.op("sub", T + acc, T + acc, T + acc);
    v.op("add", acc, acc, T + acc);
  };
  const log2L = Math.log2(L);
  // ACCS vectors a step, then single vectors, then single floats.
  loop(log2L + Math.log2(ACCS), 0, () => {
    for (let u = 0; u < ACCS; u++) vector(u, u * VB);
    a.emit("add", rsi, ACCS * VB);
  });
  loop(log2L, ACCS - 1, () => {
    vector(0, 0);
    a.emit("add", rsi, VB);
  });
  if (L > 1) {
    loop(0, L - 1, () => {
      v.loadScalar(T, rsi, 0);
      v.scalarOp("sub", T, T);
      v.scalarOp("add", S, T);
      a.emit("add", rsi, 4);
    });
  }
  v.op("add", 0, 0, S);
  v.op("add", 0, 0, 1);
  v.op("add", 2, 2, 3);
  v.op("add", 0, 0, 2);
  v.reduceAll("add", 0, 1);
  v.storeScalar(rdx, 0, 0);
  v.leave();
  a.emit("ret");
  return a.finish();
}
