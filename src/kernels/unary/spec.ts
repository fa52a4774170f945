/**
 * What one elementwise unary call is: the op, the element count and the
 * op's parameters (f32).
 *
 * @module
 */
import { UNARY_OPS } from "./ops.ts";

/** A decoded unary key. */
export interface UnarySpec {
  /** Index into UNARY_OPS. */
  op: number;
  /** Elements of x and y. */
  n: number;
  /** The op's parameters, rounded to f32, in the order of its `params`. */
  params: number[];
}

/** The spec as text. */
export function describeUnary(s: UnarySpec): string {
  const def = UNARY_OPS[s.op];
  const p = def.params.map((name, i) => `${name}=${s.params[i]}`).join(" ");
  return `${def.name} n=${s.n}${p ? " " + p : ""}`;
}
