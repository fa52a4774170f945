/**
 * The elementwise loop over rows of a matrix, shared by the unary family
 * and the GEMM epilogue: y[i][j] = f(x[i][j] (+ bias[j])) for each row,
 * `streams` vectors per step with their instructions interleaved, then
 * single vectors, then the row's tail (a masked vector at AVX2/AVX-512,
 * single elements at SSE2). Every element goes through the same
 * instructions wherever it sits, so its result depends on its value only.
 *
 * Registers: a dry run of f finds the temporaries it needs; as many streams
 * as the register file holds (at most `streams`) get their own, and the
 * registers left over hold f's most used constants for the whole loop.
 *
 * @module
 */
import {
  Assembler,
  type Program,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdx,
  type Reg,
  rsi,
} from "../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "./abi.ts";
import { emitInterleaved } from "./interleave.ts";
import { rowShape, rowTail } from "./columns.ts";
import { Lanes } from "./math/lanes.ts";
import type { KernelPlan, Part } from "./family.ts";
import { rangeParts, splitRange } from "./partition.ts";
import { allocateStreams } from "./streams.ts";
import { type Tail, Vec, type VecIsa } from "./vec.ts";

/** What one elementwise pass does. */
export interface RowsPass {
  /** Rows and elements per row. */
  rows: number;
  cols: number;
  /** Row pointers (advanced by the pass; row strides in elements). */
  x: Reg;
  xStride: number;
  y: Reg;
  yStride: number;
  /** Per-column bias added before f (its pointer is not advanced). */
  bias?: Reg;
  /** y = f(x) on registers (y ≠ x, x kept); null: y = x (+ bias). */
  f: ((m: Lanes, y: number, x: number) => void) | null;
  /** Most vectors interleaved per step (1: cheap f, 4 vectors in turn). */
  streams: number;
}

/** Vectors per step of a cheap f (not interleaved). */
const UNROLL = 4;

/**
 * Tier 2's candidates of a pass's plan: the same plan with the other counts
 * of interleaved vectors of 1-4 (every element runs the same instructions in
 * any, so the bits are the same; only the overlap of their latencies differs).
 */
export function streamCandidates<P extends { streams: number; description: string }>(p: P): P[] {
  return [1, 2, 3, 4].filter((n) => n !== p.streams).map((streams) => ({
    ...p,
    streams,
    description: `${p.description}, ${streams} interleaved`,
  }));
}

/**
 * The parts of an n-element pass (x, y): chunks of whole cache lines; every
 * element runs the same instructions in any part.
 */
export function elementwiseParts<S extends { n: number }, P extends KernelPlan>(
  s: S,
  p: P,
  parts: number,
): Part<S, P>[] | null {
  return rangeParts(p, splitRange(s.n, parts, 16), (r) => ({ ...s, n: r.count }), (i) => [
    4 * i,
    4 * i,
  ]);
}

/** The most vectors of an op to interleave: cheap ops (≤ 4 FLOPs per element) none. */
export function streamsFor(flopsPerElement: number): number {
  return flopsPerElement <= 4 ? 1 : 3;
}

// Scratch general registers: inner counter, row counter, walking pointers.
const COUNTER = rcx, ROW_COUNTER = r8, PX = r9, PY = r10, PB = r11;

/** Emits the pass (vector registers, k1-k7, rcx and r8-r11 are clobbered). */
export function emitRowsPass(a: Assembler, isa: VecIsa, p: RowsPass): void {
  if (p.rows === 0 || p.cols === 0) return;
  const v = new Vec(a, isa);
  const shape = rowShape(v, p.cols);
  const { vectorBytes: VB, full, rest, registers: all } = shape;
  // Per stream: x, y, a bias temporary, then f's temporaries.
  const f = p.f ?? ((_m: Lanes, y: number, x: number) => v.move(y, x));
  const cheap = p.streams <= 1;
  const streams = allocateStreams(v, all, 3, cheap ? 1 : p.streams, (m, [x, y]) => f(m, y, x));
  const stream = (i: number) => {
    const st = streams.stream(i);
    return { x: st.fixed[0], y: st.fixed[1], b: st.fixed[2], temps: st.temps, masks: st.masks };
  };
  const body = (to: Assembler, i: number, disp: number, tail?: Tail, scalar = false) => {
    const sv = v.retarget(to), st = stream(i);
    const m = new Lanes(sv, st.temps, st.masks);
    if (scalar) sv.loadScalar(st.x, PX, disp);
    else sv.load(st.x, PX, disp, tail);
    if (p.bias) {
      if (scalar) sv.loadScalar(st.b, PB, disp);
      else sv.load(st.b, PB, disp, tail);
      sv.op("add", st.x, st.x, st.b);
    }
    f(m, st.y, st.x);
    if (m.available !== st.temps.length) throw new Error("elementwise: f leaked registers");
    if (scalar) sv.storeScalar(PY, disp, st.y);
    else sv.store(PY, disp, st.y, tail);
  };
  const tail = rowTail(v, shape);
  const group = cheap ? UNROLL : streams.count;
  const blocks = Math.floor(full / group);
  const advance = (bytes: number) => {
    addImmediate(a, "add", PX, bytes);
    addImmediate(a, "add", PY, bytes);
    if (p.bias) addImmediate(a, "add", PB, bytes);
  };
  const row = () => {
    a.emit("mov", PX, p.x);
    a.emit("mov", PY, p.y);
    if (p.bias) a.emit("mov", PB, p.bias);
    countedLoop(a, COUNTER, blocks, () => {
      if (cheap) { for (let u = 0; u < group; u++) body(a, 0, u * VB); }
      else emitInterleaved(a, Array.from({ length: group }, (_, i) => (to) => body(to, i, i * VB)));
      advance(group * VB);
    });
    countedLoop(a, COUNTER, full - blocks * group, () => {
      body(a, 0, 0);
      advance(VB);
    });
    if (tail) body(a, 0, 0, tail);
    else if (rest) {
      countedLoop(a, COUNTER, rest, () => {
        body(a, 0, 0, undefined, true);
        advance(4);
      });
    }
  };
  if (p.rows === 1) return row();
  countedLoop(a, ROW_COUNTER, p.rows, () => {
    row();
    addImmediate(a, "add", p.x, p.xStride * 4);
    addImmediate(a, "add", p.y, p.yStride * 4);
  });
}

/**
 * `void kernel(args)`: y[i] = f(x[i]) for i < n, x and y in argument slots
 * 0 and 1 (the unary and chain families' whole kernel).
 */
export function elementwiseKernel(
  isa: VecIsa,
  n: number,
  f: (m: Lanes, y: number, x: number) => void,
  streams: number,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  loadPointer(a, rsi, 0);
  loadPointer(a, rdx, 1);
  emitRowsPass(a, isa, { rows: 1, cols: n, x: rsi, xStride: 0, y: rdx, yStride: 0, f, streams });
  new Vec(a, isa).leave();
  a.emit("ret");
  return a.finish();
}
