/**
 * What one elementwise chain call is: n elements of x through a few steps
 * in registers (unary ops, and binary ops against a constant or against x
 * itself), stored once to y. Each step rounds to f32 as the separate op
 * would, so a chain gives the bits of its ops called one by one.
 *
 * @module
 */
import { BINARY_OPS, type BinaryOp } from "../binary/spec.ts";
import { UNARY_OPS } from "../unary/ops.ts";

/** Most steps of one chain. */
export const MAX_CHAIN_STEPS = 8;

/** One decoded step. */
export type ChainStepSpec =
  | { kind: "unary"; op: number; params: number[] }
  | { kind: "binary"; op: BinaryOp; operand: "value" | "x"; value: number; left: boolean };

/** A decoded chain key. */
export interface ChainSpec {
  /** Elements of x and y. */
  n: number;
  steps: ChainStepSpec[];
}

/** Key code of a binary step: 64 + op·4 + (against x: 2) + (left: 1). */
export function binaryCode(op: number, againstX: boolean, left: boolean): number {
  return 64 + op * 4 + (againstX ? 2 : 0) + (left ? 1 : 0);
}

/** A step as text: "sigmoid", "mul 0.5", "0.5 sub", "mul x", "x div". */
function describeStep(s: ChainStepSpec): string {
  if (s.kind === "unary") {
    const def = UNARY_OPS[s.op];
    const p = def.params.map((name, i) => `${name}=${s.params[i]}`).join(" ");
    return p ? `${def.name}(${p})` : def.name;
  }
  const other = s.operand === "x" ? "x" : String(s.value);
  return s.left ? `${other} ${s.op}` : `${s.op} ${other}`;
}

/** The spec as text. */
export function describeChain(s: ChainSpec): string {
  return `chain n=${s.n}: ${s.steps.map(describeStep).join(" → ")}`;
}

/** The binary op names a step may take. */
export const CHAIN_BINARY_OPS: readonly BinaryOp[] = BINARY_OPS;
