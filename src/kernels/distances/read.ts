/**
 * Reading a `jit.squaredDistances` call: y[i][j] = Σₜ (a[i][t] − b[t][j])²
 * for the m rows of a (m × k) and the n columns of b (k × n: the points as
 * columns, so a vector of them is a row's consecutive floats), each sum in
 * float32 from +0 in the order of t, every difference, square and sum
 * rounded (no fused multiply-add): the sum a scalar loop over t computes,
 * on every level. The key is the shape, written without allocating.
 *
 * @module
 */
import { readInt } from "../attributes.ts";
import { badOptions, fail } from "../checks.ts";
import { viewLength } from "../../typed.ts";

/** Options of `jit.squaredDistances`. */
export interface SquaredDistancesOptions {
  /** Rows of a (and of y). */
  m: number;
  /** Columns of b (and of y): the points a's rows are measured against. */
  n: number;
  /** Coordinates of a point: a's columns, b's rows. */
  k: number;
}

/** What one call is. */
export interface DistancesSpec {
  m: number;
  n: number;
  k: number;
}

/** Argument block slots. */
export const DISTANCES_ARG = { A: 0, B: 1, Y: 2 } as const;

/** Names of the key slots after the family slot. */
export const DISTANCES_KEY_FIELDS = ["m", "n", "k"] as const;

const W = "squaredDistances";
/** Most elements of an operand (byte offsets below 2^31). */
const MAX_ELEMENTS = 2 ** 29;
/** Largest n and k: a tile's rows lie up to three of them apart in displacements (signed 32 bits). */
const MAX_SIDE = 2 ** 26;

/** Checks a call (a, b, y known Float32Arrays) and writes key slots 1..3 and the extents. */
export function readSquaredDistances(
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
  o: SquaredDistancesOptions,
  key: Int32Array,
  extents: Float64Array,
): void {
  if (o === null || typeof o !== "object") badOptions(W, o, "m, n and k");
  const m = readInt(W, "m", o.m, 1, MAX_ELEMENTS);
  const n = readInt(W, "n", o.n, 1, MAX_SIDE);
  const k = readInt(W, "k", o.k, 1, MAX_SIDE);
  if (m * k > MAX_ELEMENTS || n * k > MAX_ELEMENTS || m * n > MAX_ELEMENTS) {
    fail(W, `m=${m}, n=${n}, k=${k} is beyond the supported size`, "range");
  }
  const la = viewLength(a), lb = viewLength(b), ly = viewLength(y);
  if (la !== m * k) fail(W, `a has ${la} elements but m × k = ${m * k}`, "range");
  if (lb !== k * n) fail(W, `b has ${lb} elements but k × n = ${k * n}`, "range");
  if (ly !== m * n) fail(W, `y has ${ly} elements but m × n = ${m * n}`, "range");
  key[1] = m;
  key[2] = n;
  key[3] = k;
  extents[0] = 4 * m * k;
  extents[1] = 4 * k * n;
  extents[2] = 4 * m * n;
}

/** The spec a key describes. */
export function decodeDistancesKey(key: Int32Array): DistancesSpec {
  return { m: key[1], n: key[2], k: key[3] };
}
