/**
 * Dynamic quantization's first pass at AVX-512 and AVX2: x's minimum and
 * maximum from 0 (4 vectors of each, x the first operand so a NaN in x
 * leaves the accumulator: NaNs are ignored; the tail's lanes past n load as
 * zeros, inside the range already), reduced into every lane of registers 0
 * (minimum) and 4 (maximum). Registers 8-12 are clobbered.
 *
 * @module
 */
import { countedLoop } from "../abi.ts";
import type { Tail, Vec } from "../vec.ts";
import { r10, rax, rsi } from "../../../asm/mod.ts";
import type { QuantizeSpec } from "./spec.ts";

/** Vectors of each extreme the loop keeps. */
const ACCS = 4;

/** The range of x (at rsi) over n: `tail` the last vector's lanes where n is not a multiple. */
export function emitRange(v: Vec, s: QuantizeSpec, tail: Tail | undefined): void {
  const a = v.a, L = v.isa.lanes, bytes = 4 * L;
  const MIN = (i: number) => i, MAX = (i: number) => 4 + i, X = (i: number) => 8 + i;
  for (let i = 0; i < ACCS; i++) {
    v.zero(MIN(i));
    v.zero(MAX(i));
  }
  const full = Math.floor(s.n / L);
  const range = (u: number, disp: number, last?: Tail) => {
    v.load(X(u), r10, disp, last);
    v.op("min", MIN(u), X(u), MIN(u));
    v.op("max", MAX(u), X(u), MAX(u));
  };
  a.emit("mov", r10, rsi);
  countedLoop(a, rax, Math.floor(full / ACCS), () => {
    for (let u = 0; u < ACCS; u++) range(u, bytes * u);
    a.emit("add", r10, bytes * ACCS);
  });
  for (let u = 0; u < full % ACCS; u++) range(u, bytes * u);
  if (tail) range(ACCS - 1, bytes * (full % ACCS), tail);
  for (let i = 1; i < ACCS; i++) {
    v.op("min", MIN(0), MIN(0), MIN(i));
    v.op("max", MAX(0), MAX(0), MAX(i));
  }
  v.reduceAll("min", MIN(0), 12);
  v.reduceAll("max", MAX(0), 12);
}
