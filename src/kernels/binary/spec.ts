/**
 * What one elementwise binary call is: the op and the broadcast, reduced to
 * its canonical loop nest: output dims with adjacent dims merged wherever
 * both operands broadcast the same way, and for each operand which of those
 * dims it broadcasts (stride 0). A pow whose exponent is one number carries
 * that number, so x², √x and x³ get their own exact code.
 *
 * @module
 */

/** The binary ops, by key id (ONNX Add, Sub, Mul, Div, Max, Min, Pow). */
export const BINARY_OPS = ["add", "sub", "mul", "div", "max", "min", "pow"] as const;

/** A binary op's name. */
export type BinaryOp = typeof BINARY_OPS[number];

/** Most dimensions of an operand (numpy broadcasting, right-aligned). */
export const MAX_RANK = 6;

/** A decoded binary key. */
export interface BinarySpec {
  /** Index into BINARY_OPS. */
  op: number;
  /** Output dims after merging (1 to MAX_RANK of them; [0] when empty). */
  dims: number[];
  /** Bit k set: a is broadcast (stride 0) along dims[k]. */
  aBroadcast: number;
  /** Bit k set: b is broadcast along dims[k]. */
  bBroadcast: number;
  /** pow with one exponent for every element: its value (f32); else null. */
  exponent: number | null;
}

/** Argument block slots. */
export const BINARY_ARG = { A: 0, B: 1, Y: 2 } as const;

/** Elements of the output. */
export function outputSize(s: BinarySpec): number {
  return s.dims.reduce((p, d) => p * d, 1);
}

/** Element strides of an operand along each dim (0 where it broadcasts). */
export function strides(s: BinarySpec, broadcast: number): number[] {
  const out = new Array<number>(s.dims.length).fill(0);
  let stride = 1;
  for (let k = s.dims.length - 1; k >= 0; k--) {
    if (broadcast & (1 << k)) continue;
    out[k] = stride;
    stride *= s.dims[k];
  }
  return out;
}

/** The spec as text. */
export function describeBinary(s: BinarySpec): string {
  const shape = (mask: number) => s.dims.map((d, k) => (mask & (1 << k) ? 1 : d)).join("×");
  const e = s.exponent !== null ? ` exponent ${s.exponent}` : "";
  return `${BINARY_OPS[s.op]} [${shape(s.aBroadcast)}] ⊙ [${shape(s.bBroadcast)}] → [${
    s.dims.join("×")
  }]${e}`;
}
