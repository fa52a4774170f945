/**
 * Elementwise ops whose y is past the last-level cache (STREAM_STORES_FROM
 * and up), split between 2 or 3 threads so that each part writes y's whole
 * lines by non-temporal stores (AVX-512): unary ops, binary ops with the
 * second operand the same shape, a row or a scalar, and chains; x and y at
 * random offsets (0-31 floats) or in place. The same bits as the call on
 * one thread (ordinary stores), and nothing written around y. Skipped below
 * AVX-512, where nothing streams. Each case moves over 100 MB: one seed in
 * four runs one (the others pass), so that `all` stays minutes long.
 *
 * @module
 */
import { ChainSteps, isaLevel, type Jit } from "../../mod.ts";
import { STREAM_STORES_FROM } from "../../src/kernels/elementwise.ts";
import {
  type CaseResult,
  firstBitDifference,
  type FuzzOptions,
  int,
  type JitSet,
  pick,
  rng,
} from "./shared.ts";

/** Floats of the largest case, and the room around it for offsets. */
const MOST = STREAM_STORES_FROM / 4 + 4096, ROOM = 2048;
/** Buffers shared by the cases (32 MiB each: not allocated per case). */
let buffers: { x: Float32Array; y: Float32Array; base: Float32Array } | null = null;

const UNARY = ["relu", "gelu", "exp", "tanh", "sigmoid", "abs"] as const;
const BINARY = ["add", "sub", "mul", "max"] as const;
const CHAINS = [
  new ChainSteps(["sigmoid", { op: "mul", x: true }]),
  new ChainSteps([{ op: "add", value: 0.5 }, "tanh"]),
];

/** One seeded case (see the module). */
export function streamedCase(seed: number, jits: JitSet, options: FuzzOptions): CaseResult {
  const wide = (l: string | undefined) => l === "avx512" || l === "amx";
  if (!wide(isaLevel()) || (options.isa !== undefined && !wide(options.isa))) return null;
  if (seed % 4 !== 0) return null;
  const r = rng(seed);
  buffers ??= {
    x: new Float32Array(MOST + ROOM),
    y: new Float32Array(MOST + ROOM),
    base: new Float32Array(MOST),
  };
  const { x: bx, y: by, base: bb } = buffers;
  const n = STREAM_STORES_FROM / 4 + int(r, 0, 4096);
  const kind = pick(r, ["unary", "binary", "chain"] as const);
  const cols = int(r, 128, 2000), rows = Math.floor(n / cols);
  const shape = pick(r, ["same", "row", "scalar"] as const);
  const op = kind === "unary" ? pick(r, UNARY) : kind === "binary" ? pick(r, BINARY) : "";
  const steps = pick(r, CHAINS);
  const m = kind === "binary" ? rows * cols : n;
  const label = `streamed seed ${seed} ${kind} ${op} ${
    kind === "binary" ? `${rows}×${cols} ${shape}` : n
  }`;
  const ox = int(r, 0, 31), inPlace = r() < 0.2, oy = inPlace ? ox : int(r, 0, 31);
  const spread = pick(r, [1, 8, 100]);
  for (let i = 0; i < m + ROOM; i++) bx[i] = (r() * 2 - 1) * spread;
  for (let i = MOST; i < MOST + cols; i++) bx[i] = (r() * 2 - 1) * spread;
  const run = (j: Jit, x: Float32Array, y: Float32Array) => {
    if (kind === "unary") j.unary(op as typeof UNARY[number], x, y);
    else if (kind === "chain") j.chain(x, y, steps);
    else {
      const b = shape === "same"
        ? x
        : shape === "row"
        ? bx.subarray(MOST, MOST + cols)
        : bx.subarray(MOST, MOST + 1);
      const bDims = shape === "same" ? [rows, cols] : shape === "row" ? [cols] : [1];
      // The row and the scalar lie after every case's x (never in y's bytes).
      j.binary(op as typeof BINARY[number], x, [rows, cols], b, bDims, y);
    }
  };
  try {
    const base = bb.subarray(0, m);
    run(jits.get(1), bx.subarray(ox, ox + m), base);
    const threads = int(r, 2, 3);
    const source = bx.subarray(ox, ox + m).slice();
    by.fill(777);
    const y = by.subarray(oy, oy + m);
    if (inPlace) y.set(source);
    run(jits.get(threads), inPlace ? y : bx.subarray(ox, ox + m), y);
    const at = firstBitDifference(y, base);
    if (at >= 0) {
      return `${label}: threads ${threads}, x at +${ox}, y at +${oy}${
        inPlace ? " in place" : ""
      }: y[${at}] = ${y[at]}, one thread ${base[at]}`;
    }
    for (let i = 0; i < oy; i++) {
      if (by[i] !== 777) return `${label}: by[${i}] written before y at +${oy}`;
    }
    for (let i = oy + m; i < oy + m + 32 && i < by.length; i++) {
      if (by[i] !== 777) return `${label}: by[${i}] written after y (+${oy}, ${m} floats)`;
    }
    return null;
  } catch (err) {
    return `${label}: threw ${err}`;
  }
}
