/**
 * The registry of op families: a family's index here is slot 0 of its keys.
 * Adding a family is its folder plus one line below.
 *
 * @module
 */
import { MAX_OPERANDS, type OpFamily } from "./family.ts";
import { BATCHNORM } from "./batchnorm/family.ts";
import { BINARY } from "./binary/family.ts";
import { CONV, CONV_TRANSPOSE } from "./conv/family.ts";
import { CHAIN } from "./chain/family.ts";
import { COPY } from "./copy/family.ts";
import { GEMM } from "./gemm/family.ts";
import { NBITS } from "./nbits/family.ts";
import { NORM } from "./norm/family.ts";
import { POOL } from "./pool/family.ts";
import { QCONV } from "./qconv/family.ts";
import { QGEMM } from "./qgemm/family.ts";
import { QLINEAR } from "./qlinear/family.ts";
import { QUANTIZE } from "./quantize/family.ts";
import { REDUCE } from "./reduce/family.ts";
import { RESIZE } from "./resize/family.ts";
import { ROTARY } from "./rotary/family.ts";
import { SOFTMAX } from "./softmax/family.ts";
import { UNARY } from "./unary/family.ts";
import { SCALE_ROWS } from "./scale/family.ts";
import { ALL_FINITE } from "./finite/family.ts";
import { ATTENTION } from "./attention/family.ts";
import { TREES } from "./trees/family.ts";
import { DISTANCES } from "./distances/family.ts";
import { SELECT } from "./select/family.ts";

/** Every op family the runtime serves. */
export const FAMILIES: readonly OpFamily[] = [
  GEMM,
  UNARY,
  SOFTMAX,
  NORM,
  REDUCE,
  BINARY,
  CONV,
  POOL,
  CONV_TRANSPOSE,
  BATCHNORM,
  RESIZE,
  COPY,
  CHAIN,
  QGEMM,
  QUANTIZE,
  NBITS,
  QCONV,
  QLINEAR,
  ROTARY,
  SCALE_ROWS,
  ALL_FINITE,
  ATTENTION,
  TREES,
  DISTANCES,
  SELECT,
];

// An argument block holds MAX_OPERANDS operands before the workspace slot: a family with
// more would write its last operand over the workspace pointer.
for (const f of FAMILIES) {
  if (f.operands.length > MAX_OPERANDS) {
    throw new Error(
      `neural-jit: op family ${f.name} has ${f.operands.length} operands, at most ${MAX_OPERANDS}`,
    );
  }
}

/** The registry index of a family (slot 0 of its keys). */
export function familyId(f: OpFamily): number {
  const i = FAMILIES.indexOf(f);
  if (i < 0) throw new Error(`neural-jit: op family ${f.name} is not registered`);
  return i;
}
