/**
 * The vector registers a fused activation takes, for the planners and
 * kernels that leave it room in their epilogues (convolutions, the GEMM's
 * epilogue on its accumulators).
 *
 * @module
 */
import { Assembler } from "../../../asm/mod.ts";
import { Lanes } from "../math/lanes.ts";
import { Vec, type VecIsa } from "../vec.ts";
import { UNARY_OPS } from "./ops.ts";

/** Vector registers an activation's emitter takes as temporaries (a dry run). */
export function activationTemps(
  isa: VecIsa,
  act: { op: number; params: number[] } | null | undefined,
): number {
  if (!act) return 0;
  const v = new Vec(new Assembler(), isa);
  const pool = Array.from({ length: isa.nregs }, (_, i) => i);
  const m = new Lanes(v, pool.slice(2), [2, 3, 4]);
  UNARY_OPS[act.op].emit(m, 0, 1, act.params);
  return pool.length - 2 - m.lowWater;
}
