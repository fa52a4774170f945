/**
 * Elementwise ops whose y is past the last-level cache (STREAM_STORES_FROM
 * and up), split between 2 or 3 threads so that each part writes y's whole
 * lines by non-temporal stores (AVX-512): unary ops, binary ops with the
 * second operand the same shape, a row, a scalar or a value a channel of
 * an N×C×cols tensor (either side; cols a multiple of 16 in half the
 * cases: runs whose shared lines carry to the next run, checked against
 * the f32 results too), and chains; x and y at
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

/**
 * Floats of the largest case (a channel case rounds its images up: up to
 * 64 channels of 2000 floats past the least that streams), and the room
 * around it for offsets.
 */
const MOST = STREAM_STORES_FROM / 4 + 4096 + 64 * 2000, ROOM = 2048;
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
  const shape = pick(r, ["same", "row", "scalar", "channel"] as const);
  const cols = shape === "channel" && r() < 0.5 ? 16 * int(r, 8, 125) : int(r, 128, 2000);
  // A value a channel: C channels of N images (rows = N·C runs of cols).
  const C = int(r, 2, 64),
    rows = shape === "channel" ? C * Math.ceil(n / cols / C) : Math.floor(n / cols);
  const swap = shape === "channel" && r() < 0.5;
  const op = kind === "unary" ? pick(r, UNARY) : kind === "binary" ? pick(r, BINARY) : "";
  const steps = pick(r, CHAINS);
  const m = kind === "binary" ? rows * cols : n;
  const label = `streamed seed ${seed} ${kind} ${op} ${
    kind === "binary"
      ? `${rows}×${cols} ${shape}${shape === "channel" ? ` C=${C}${swap ? " swapped" : ""}` : ""}`
      : n
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
      const o = op as typeof BINARY[number];
      if (shape === "channel") {
        const values = bx.subarray(MOST, MOST + C), dims = [rows / C, C, cols];
        if (swap) j.binary(o, values, [C, 1], x, dims, y);
        else j.binary(o, x, dims, values, [C, 1], y);
        return;
      }
      const bDims = shape === "same" ? [rows, cols] : shape === "row" ? [cols] : [1];
      // The row and the scalar lie after every case's x (never in y's bytes).
      j.binary(o, x, [rows, cols], b, bDims, y);
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
    if (kind === "binary" && shape === "channel") {
      // The f32 result of each element's one operation.
      const f = {
        add: (p: number, q: number) => p + q,
        sub: (p: number, q: number) => p - q,
        mul: (p: number, q: number) => p * q,
        max: (p: number, q: number) => Math.max(p, q),
      }[
        op as typeof BINARY[number]
      ];
      for (let i = 0; i < m; i++) {
        const value = bx[MOST + Math.floor(i / cols) % C], t = source[i];
        const want = Math.fround(swap ? f(value, t) : f(t, value));
        if (!Object.is(base[i], want)) {
          return `${label}: x at +${ox}: one thread y[${i}] = ${base[i]}, f32 ${want}`;
        }
      }
    }
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
