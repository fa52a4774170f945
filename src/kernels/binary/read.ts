/**
 * Reading a `jit.binary` call: dims as arrays of non-negative integers (at
 * most MAX_RANK), each matching its array's length, broadcast by numpy
 * rules (right-aligned, each pair equal or one of them 1), y holding the
 * output exactly. The broadcast is reduced to canonical merged dims in
 * scratch memory: no allocation.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { badOpName, dimension, fail, MAX_ROW_DIMENSION } from "../checks.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { BINARY_OPS, type BinarySpec, MAX_RANK } from "./spec.ts";

/** Names of the binary key slots after the family slot. */
export const BINARY_KEY_FIELDS = [
  "op",
  "rank",
  "d0",
  "d1",
  "d2",
  "d3",
  "d4",
  "d5",
  "aBroadcast",
  "bBroadcast",
  "hasExponent",
  "exponent",
] as const;

const IDS: ReadonlyMap<string, number> = new Map(BINARY_OPS.map((o, i) => [o, i]));
const POW = BINARY_OPS.indexOf("pow");

// Scratch for the right-aligned dims of a, b and the output.
const A = new Float64Array(MAX_RANK), B = new Float64Array(MAX_RANK);

/** Reads dims into `out` right-aligned (leading 1s), checking them; returns the product. */
function readDims(name: string, dims: unknown, out: Float64Array): number {
  if (!Array.isArray(dims)) {
    fail("binary", `${name} must be an array of dimensions, got ${describe(dims)}`, "type");
  }
  const rank = dims.length;
  if (rank > MAX_RANK) {
    fail(
      "binary",
      `${name} has rank ${rank}; at most ${MAX_RANK} dimensions are supported`,
      "range",
    );
  }
  out.fill(1);
  let size = 1;
  for (let i = 0; i < rank; i++) {
    const d = dims[i];
    if (!dimension(d)) {
      fail(
        "binary",
        `${name}[${i}] must be an integer in [0, ${MAX_ROW_DIMENSION}], got ${describe(d)}`,
        typeof d === "number" ? "range" : "type",
      );
    }
    out[MAX_RANK - rank + i] = d;
    size *= d;
  }
  return size;
}

function badBroadcast(aDims: number[], bDims: number[]): never {
  fail(
    "binary",
    `aDims [${aDims.join(", ")}] and bDims [${bDims.join(", ")}] do not broadcast ` +
      "(right-aligned, each pair of dims must be equal or one of them 1)",
    "range",
  );
}

/**
 * Checks a binary call (a, b, y known Float32Arrays) and writes its key
 * (slots 1..12) and extents.
 */
export function readBinary(
  op: string,
  a: Float32Array,
  aDims: readonly number[],
  b: Float32Array,
  bDims: readonly number[],
  y: Float32Array,
  key: Int32Array,
  extents: Float64Array,
): void {
  const id = IDS.get(op);
  if (id === undefined) badOpName("binary", op, BINARY_OPS);
  const na = readDims("aDims", aDims, A), nb = readDims("bDims", bDims, B);
  const la = viewLength(a), lb = viewLength(b);
  if (la !== na) {
    fail(
      "binary",
      `a has ${la} elements but aDims [${aDims.join(", ")}] needs exactly ${na}`,
      "range",
    );
  }
  if (lb !== nb) {
    fail(
      "binary",
      `b has ${lb} elements but bDims [${bDims.join(", ")}] needs exactly ${nb}`,
      "range",
    );
  }
  // Merge adjacent dims that broadcast the same way; drop dims of size 1.
  let rank = 0, ny = 1, aMask = 0, bMask = 0, prevA = -1, prevB = -1;
  for (let i = 0; i < MAX_RANK; i++) {
    const da = A[i], db = B[i];
    if (da !== db && da !== 1 && db !== 1) badBroadcast(aDims as number[], bDims as number[]);
    const d = da === 1 ? db : da;
    ny *= d;
    if (d === 1) continue;
    const ba = da === 1 ? 1 : 0, bb = db === 1 ? 1 : 0;
    if (rank > 0 && ba === prevA && bb === prevB) {
      key[3 + rank - 1] *= d;
      continue;
    }
    key[3 + rank] = d;
    aMask |= ba << rank;
    bMask |= bb << rank;
    prevA = ba;
    prevB = bb;
    rank++;
  }
  if (ny === 0 || rank === 0) {
    // An empty output, or a single element: one dim, nothing broadcast.
    rank = 1;
    key[3] = ny;
    aMask = bMask = 0;
  }
  if (ny > 2 ** 31 - 1) {
    fail("binary", `the output has ${ny} elements; at most 2^31 − 1 per call`, "range");
  }
  const ly = viewLength(y);
  if (ly !== ny) {
    fail("binary", `y has ${ly} elements but the broadcast output needs exactly ${ny}`, "range");
  }
  for (let k = rank; k < MAX_RANK; k++) key[3 + k] = 0;
  key[1] = id;
  key[2] = rank;
  key[9] = aMask;
  key[10] = bMask;
  // A pow whose exponent is one number: the number is part of the key.
  const scalarExponent = id === POW && nb === 1 && ny > 0;
  key[11] = scalarExponent ? 1 : 0;
  key[12] = scalarExponent ? f32Bits(b[0]) : 0;
  extents[0] = 4 * na;
  extents[1] = 4 * nb;
  extents[2] = 4 * ny;
}

/** The spec a key describes. */
export function decodeBinaryKey(key: Int32Array): BinarySpec {
  const dims: number[] = [];
  for (let k = 0; k < key[2]; k++) dims.push(key[3 + k]);
  return {
    op: key[1],
    dims,
    aBroadcast: key[9],
    bBroadcast: key[10],
    exponent: key[11] === 1 ? fromF32Bits(key[12]) : null,
  };
}
