/** Distances between f32 values in units in the last place. */

const F = new Float32Array(2);
const I = new Int32Array(F.buffer);

/** Position of an f32 on the ordered integer line (−0 and +0 both 0). */
function ordinal(bits: number): number {
  return bits < 0 ? -(bits & 0x7fffffff) : bits;
}

/** ULPs between two f32 values (0 when both are NaN; Infinity when only one is). */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  F[0] = a;
  F[1] = b;
  return Math.abs(ordinal(I[0]) - ordinal(I[1]));
}
