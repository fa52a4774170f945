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
  eax,
  type Program,
  ptr,
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

/**
 * Bytes of y from which an AVX-512 elementwise kernel writes it by
 * non-temporal stores (see `streamStoresFor`). Past the last-level cache an
 * ordinary store reads each line in before writing it (a third transfer
 * per element beside x's read and y's write back); a non-temporal store
 * sends the line to memory whole. Below, y is better kept in cache for the
 * op after. A core's share of L3 here (Zen 4/5: 32 MiB a CCD; CPUID on this
 * guest reports the socket's 512 MiB), so y of 32 MiB and up.
 */
export const STREAM_STORES_FROM = 32 << 20;

/** Bytes of y from which tier 2 also tries the other way of storing it. */
export const STREAM_STORES_TRIED_FROM = 4 << 20;

/** Whether an elementwise kernel at `isa` writes `bytes` of y by non-temporal stores. */
export function streamStoresFor(isa: string, bytes: number): boolean {
  return isa === "avx512" && bytes >= STREAM_STORES_FROM;
}

/**
 * Tier 2's candidate storing y the other way (same instructions otherwise:
 * the same bits), for y of `STREAM_STORES_TRIED_FROM` and up at AVX-512.
 */
export function streamStoreCandidates<
  P extends { isa: string; streamStores: boolean; description: string },
>(p: P, bytes: number): P[] {
  if (p.isa !== "avx512" || bytes < STREAM_STORES_TRIED_FROM) return [];
  const streamStores = !p.streamStores;
  return [{ ...p, streamStores, description: describeStores(p.description, streamStores) }];
}

/** A plan's description with its stores said (non-temporal or not). */
export function describeStores(description: string, streamStores: boolean): string {
  const plain = description.replace(/, y by non-temporal stores$/, "");
  return streamStores ? `${plain}, y by non-temporal stores` : plain;
}

/** The most vectors of an op to interleave: cheap ops (≤ 4 FLOPs per element) none. */
export function streamsFor(flopsPerElement: number): number {
  return flopsPerElement <= 4 ? 1 : 3;
}

// Scratch general registers: inner counter, row counter, walking pointers.
const COUNTER = rcx, ROW_COUNTER = r8, PX = r9, PY = r10, PB = r11;

/** How one vector (or element) of a pass is computed and stored. */
type PassBody = (
  to: Assembler,
  stream: number,
  disp: number,
  how?: { tail?: Tail; scalar?: boolean; streamed?: boolean },
) => void;

/**
 * The pass's streams (x, y, a bias temporary and f's temporaries each; the
 * registers left hold f's constants) and its body: x (+ bias) at PX (PB)
 * + disp through f to PY + disp — a tail's lanes, one element, or by a
 * non-temporal store.
 */
function passBody(v: Vec, p: RowsPass, registers: number[]): { body: PassBody; count: number } {
  const f = p.f ?? ((_m: Lanes, y: number, x: number) => v.move(y, x));
  const most = p.streams <= 1 ? 1 : p.streams;
  const streams = allocateStreams(v, registers, 3, most, (m, [x, y]) => f(m, y, x));
  const body: PassBody = (to, i, disp, how = {}) => {
    const sv = v.retarget(to), st = streams.stream(i);
    const [x, y, b] = st.fixed;
    const m = new Lanes(sv, st.temps, st.masks);
    if (how.scalar) sv.loadScalar(x, PX, disp);
    else sv.load(x, PX, disp, how.tail);
    if (p.bias) {
      if (how.scalar) sv.loadScalar(b, PB, disp);
      else sv.load(b, PB, disp, how.tail);
      sv.op("add", x, x, b);
    }
    f(m, y, x);
    if (m.available !== st.temps.length) throw new Error("elementwise: f leaked registers");
    if (how.scalar) sv.storeScalar(PY, disp, y);
    else if (how.streamed) sv.storeStream(PY, disp, y);
    else sv.store(PY, disp, y, how.tail);
  };
  return { body, count: streams.count };
}

/** Emits the pass (vector registers, k1-k7, rcx and r8-r11 are clobbered). */
export function emitRowsPass(a: Assembler, isa: VecIsa, p: RowsPass): void {
  if (p.rows === 0 || p.cols === 0) return;
  const v = new Vec(a, isa);
  const shape = rowShape(v, p.cols);
  const { vectorBytes: VB, full, rest, registers: all } = shape;
  const cheap = p.streams <= 1;
  const { body: pass, count } = passBody(v, p, all);
  const body = (to: Assembler, i: number, disp: number, tail?: Tail, scalar = false) =>
    pass(to, i, disp, { tail, scalar });
  const tail = rowTail(v, shape);
  const group = cheap ? UNROLL : count;
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
 * y[i] = f(x[i]) for i < n from PX to PY with y's whole lines written by
 * non-temporal stores (AVX-512): the elements before y's first line and
 * after its last whole one by masked ordinary stores, the lines between
 * `group` vectors a step then one at a time, counted at run time (where y
 * starts in a line is known only then); an `sfence` at the end. Every
 * element runs the same instructions as in emitRowsPass: the same bits.
 * k1, rax, rcx and r8 are clobbered.
 */
function emitStreamedRow(a: Assembler, v: Vec, p: RowsPass): void {
  const L = v.isa.lanes, VB = L * 4;
  const { body, count } = passBody(v, p, Array.from({ length: v.isa.nregs }, (_, r) => r));
  const group = p.streams <= 1 ? UNROLL : count;
  const advance = (bytes: number) => {
    addImmediate(a, "add", PX, bytes);
    addImmediate(a, "add", PY, bytes);
  };
  a.emit("mov", PX, p.x);
  a.emit("mov", PY, p.y);
  // The head: h = (−y mod 64) / 4 elements up to y's first line (none when y is on one).
  a.emit("mov", rcx, PY);
  a.emit("neg", rcx);
  a.emit("and", rcx, 63);
  a.emit("shr", rcx, 2);
  a.emit("mov", ROW_COUNTER, p.cols);
  a.emit("sub", ROW_COUNTER, rcx); // elements from y's first line on
  body(a, 0, 0, { tail: v.runTail(1, eax) });
  a.emit("lea", PX, ptr(PX, 0, rcx, 4));
  a.emit("lea", PY, ptr(PY, 0, rcx, 4));
  /** Steps of `vectors` whole vectors while that many are left. */
  const steps = (vectors: number, step: () => void) => {
    const top = a.label(), done = a.label();
    a.bind(top);
    a.emit("cmp", ROW_COUNTER, vectors * L);
    a.emit("jb", done);
    step();
    advance(vectors * VB);
    a.emit("sub", ROW_COUNTER, vectors * L);
    a.emit("jmp", top);
    a.bind(done);
  };
  steps(group, () => {
    if (group === UNROLL && p.streams <= 1) {
      for (let u = 0; u < group; u++) body(a, 0, u * VB, { streamed: true });
    } else {
      emitInterleaved(
        a,
        Array.from({ length: group }, (_, i) => (to) => body(to, i, i * VB, { streamed: true })),
      );
    }
  });
  steps(1, () => body(a, 0, 0, { streamed: true }));
  // The rest: fewer than a vector's elements, masked (none: an empty mask).
  a.emit("mov", rcx, ROW_COUNTER);
  body(a, 0, 0, { tail: v.runTail(1, eax) });
  a.emit("sfence");
}

/**
 * `void kernel(args)`: y[i] = f(x[i]) for i < n, x and y in argument slots
 * 0 and 1 (the unary and chain families' whole kernel); `streamStores`
 * (AVX-512, n at least a vector): y's lines by non-temporal stores.
 */
export function elementwiseKernel(
  isa: VecIsa,
  n: number,
  f: (m: Lanes, y: number, x: number) => void,
  streams: number,
  options: { listing: boolean; streamStores?: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  loadPointer(a, rsi, 0);
  loadPointer(a, rdx, 1);
  const pass = { rows: 1, cols: n, x: rsi, xStride: 0, y: rdx, yStride: 0, f, streams };
  if (options.streamStores && isa.level === "avx512" && n >= isa.lanes) {
    emitStreamedRow(a, new Vec(a, isa), pass);
  } else emitRowsPass(a, isa, pass);
  new Vec(a, isa).leave();
  a.emit("ret");
  return a.finish();
}
