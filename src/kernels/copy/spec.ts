/**
 * What one strided copy is: y[i] = x[Σ idx·xStride] over up to 5 dims, in
 * canonical form (no dims of size 1; dims contiguous in both x and y
 * merged), element strides non-negative. The innermost dim is the rows
 * pass's row when it is contiguous in both; otherwise every element is its
 * own row.
 *
 * @module
 */

/** Most dims of a canonical copy. */
export const MAX_COPY_DIMS = 5;

/** A decoded copy key. */
export interface CopySpec {
  /** Dims, outermost first (length 1-5). */
  dims: number[];
  /** Element strides of x and y per dim. */
  xStrides: number[];
  yStrides: number[];
}

/** Argument block slots. */
export const COPY_ARG = { X: 0, Y: 1 } as const;

/** Elements a strided view spans from its first element (0 when empty). */
export function spanOf(dims: readonly number[], strides: readonly number[]): number {
  let last = 0;
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 0) return 0;
    last += (dims[i] - 1) * strides[i];
  }
  return last + 1;
}

/** The spec as text. */
export function describeCopy(s: CopySpec): string {
  return `copy [${s.dims.join("×")}] x strides [${s.xStrides.join(", ")}] → y strides [${
    s.yStrides.join(", ")
  }]`;
}
