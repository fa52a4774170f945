/**
 * Keys: a call's identity as 32-bit integers, slot 0 the family. Every
 * field of every family is hashed and compared by the same two loops, so a
 * field a family adds can never be left out of the hash or the comparison.
 * Floating-point fields are stored by their f32 bits (NaN keys work; -0 and
 * +0 are different keys, which only costs a second kernel).
 *
 * @module
 */

/** Slot 0 of every key: the family's index in the registry. */
export const FAMILY_SLOT = 0;

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

/** The f32 bits of `x` (rounded to f32 first, as the kernels use it). */
export function f32Bits(x: number): number {
  F32[0] = x;
  return I32[0];
}

/** The f32 value of bits written by {@link f32Bits}. */
export function fromF32Bits(bits: number): number {
  I32[0] = bits;
  return F32[0];
}

/** A 32-bit hash of the first `length` slots. */
export function hashKey(key: Int32Array, length: number): number {
  let h = 0x5bd1e995 ^ length;
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ key[i], 0x9e3779b1);
    h ^= h >>> 15;
  }
  return Math.imul(h ^ (h >>> 13), 0x85ebca6b) ^ (h >>> 16);
}

/** Whether the first `length` slots of two keys are equal. */
export function sameKey(x: Int32Array, y: Int32Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (x[i] !== y[i]) return false;
  return true;
}
