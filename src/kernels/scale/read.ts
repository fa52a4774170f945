/**
 * Reading a rows-scaled-in-f64 call: y[r][j] = f32(x[r][j] · f[r]), x and
 * y `rows` × `length` floats, f `rows` doubles. The counts travel in
 * memory, not in the key: the factors operand is a header (rows, length:
 * two int32) and the factors after it, as doubles; its Float32Array view
 * is the operand (operands are Float32Arrays). One kernel per vector
 * level serves every shape: a model's create folds each of its
 * convolutions' weights once, so a kernel per shape would cost its
 * generation (cold, a large part of a millisecond) for one call.
 *
 * @module
 */
import { viewBuffer, viewByteOffset, viewLength } from "../../typed.ts";
import { fail } from "../checks.ts";

/** What one call is: nothing the kernel is specialized for (the counts are in the header). */
export type ScaleRowsSpec = Record<string, never>;

/** Argument block slots. */
export const SCALE_ARG = { X: 0, FACTORS: 1, Y: 2 } as const;

/** Names of the key slots after the family slot: none. */
export const SCALE_KEY_FIELDS: readonly string[] = [];

const W = "scaleRows";

/** Most floats a call scales. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * The factors operand for `factors` over rows of `length`: the header
 * (rows, length) and the factors, as the Float32Array view the call takes.
 */
export function scaleRowsFactors(factors: Float64Array, length: number): Float32Array {
  const rows = factors.length;
  if (!Number.isInteger(length) || length < 1 || rows * length > MAX_ELEMENTS) {
    fail(W, `${rows} rows of ${length} floats is not a supported size`, "range");
  }
  const block = new Float64Array(rows + 1);
  const header = new Int32Array(block.buffer, 0, 2);
  header[0] = rows;
  header[1] = length;
  block.set(factors, 1);
  return new Float32Array(block.buffer);
}

/** Rows and length from a factors operand's header. */
export function scaleRowsCounts(factors: Float32Array): { rows: number; length: number } {
  const h = new Int32Array(viewBuffer(factors), viewByteOffset(factors), 2);
  return { rows: h[0], length: h[1] };
}

/**
 * Checks a call (x, y and factors known Float32Arrays, factors made by
 * {@link scaleRowsFactors}) against its header; writes the extents.
 */
export function readScaleRows(
  x: Float32Array,
  factors: Float32Array,
  y: Float32Array,
  extents: Float64Array,
): void {
  const lf = viewLength(factors);
  if (lf < 4 || viewByteOffset(factors) % 8 !== 0) {
    fail(W, `factors must hold the header and the factors (8-byte aligned)`, "range");
  }
  const { rows, length } = scaleRowsCounts(factors), total = rows * length;
  if (!(rows >= 1 && length >= 1 && total <= MAX_ELEMENTS) || lf !== 2 * (rows + 1)) {
    fail(W, `factors' header (${rows} rows of ${length}) does not fit its ${lf} floats`, "range");
  }
  if (viewLength(x) !== total) fail(W, `x has ${viewLength(x)} elements, not ${total}`, "range");
  if (viewLength(y) !== total) fail(W, `y has ${viewLength(y)} elements, not ${total}`, "range");
  extents[0] = extents[2] = 4 * total;
  extents[1] = 8 * (rows + 1);
}

/** The spec a key describes. */
export function decodeScaleRowsKey(_key: Int32Array): ScaleRowsSpec {
  return {};
}
