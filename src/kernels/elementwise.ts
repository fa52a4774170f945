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
import { emitAlongLines, rowShape, rowTail } from "./columns.ts";
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
 * How an elementwise kernel stores y: ordinary stores ("cached"), whole
 * lines by non-temporal stores ("streamed": sent to memory without being
 * read for ownership first, and not kept in cache), or streamed only when
 * the call is split between threads ("streamedWhenSplit": its parts
 * stream, a call on one thread stores as usual). Either way every element
 * runs the same instructions: the same bits.
 */
export type YStores = "cached" | "streamed" | "streamedWhenSplit";

/**
 * Bytes of y from which tier 1 streams it when the call is split (AVX-512):
 * past the last-level cache, where nothing after the op finds y in cache
 * anyway. A core's share of L3 here (Zen 4/5: 32 MiB a CCD; CPUID on this
 * guest reports the socket's 512 MiB). Measured on Zen 5 (`deno run -A
 * bench/tune_candidates.ts --unary OP,N [--threads 2]`, tier 2's
 * candidates in one process): at 2 threads streaming won at every size
 * from 4 MiB (relu 64 Mi floats 9981 µs against 12891, 4 Mi 409 against
 * 733). Whether one thread streams too is the core's (`streamsOnOneThread`
 * in src/cpu.ts: every AVX-512 core measured since).
 */
export const STREAM_STORES_FROM = 32 << 20;

/**
 * Bytes ahead of a streamed walk's loads of x that it prefetches into L2
 * (prefetcht1, a line at a time), where the plan says so (`fetchAhead`).
 * Past the last-level cache the hardware's prefetchers left the loads
 * waiting on DRAM behind an op's arithmetic: on an Intel Xeon (SPR) the
 * time of exp, gelu and softplus over 64 Mi floats was that of relu plus
 * that of their arithmetic in L1, nothing overlapped. Measured there,
 * `deno run -A bench/ab.ts --a 9fd8bd7 --b 1c73e14 --unary OP --n 67108864
 * --blocks 12` (without, then with): exp ×0.711 of the time, gelu ×0.673,
 * relu ×0.850.
 */
export const FETCH_AHEAD = 8192;

/** Bytes of y from which tier 2 also tries storing it the other ways. */
export const STREAM_STORES_TRIED_FROM = 4 << 20;

/**
 * Tier 1's stores of `bytes` of y at `isa`; `along`: a row walked along y's
 * vectors (AVX2 unary and chain calls), whose y past the last-level cache
 * is streamed on one thread too: Zen 3, `deno run -A
 * bench/tune_candidates.ts --unary OP,67108864`, relu 29107 → 16130 µs,
 * exp 28936 → 24473 at one thread. `oneThread`: AVX-512 streams on one
 * thread too (the core's preference: `streamsOnOneThread` in src/cpu.ts).
 */
export function storesFor(
  isa: string,
  bytes: number,
  along = false,
  oneThread = false,
): YStores {
  if (bytes < STREAM_STORES_FROM) return "cached";
  if (isa === "avx512") return oneThread ? "streamed" : "streamedWhenSplit";
  return along && isa === "avx2" ? "streamed" : "cached";
}

/** A core's preferences for storing a large y (a family's target fields; speed only). */
export interface StoreHints {
  /** AVX-512 streams y on one thread too (see storesFor). */
  streamOnOneThread?: boolean;
  /** A row that streams y prefetches x ahead (FETCH_AHEAD). */
  fetchStreamedRows?: boolean;
}

/** Tier 1's stores of a row of `n` elements and, where y streams, how far ahead x is fetched. */
export function rowStores(
  isa: string,
  n: number,
  hints: StoreHints = {},
): { stores: YStores; fetchAhead: number } {
  const stores = storesFor(isa, 4 * n, walksAlong(isa, n), hints.streamOnOneThread ?? false);
  return { stores, fetchAhead: hints.fetchStreamedRows && stores !== "cached" ? FETCH_AHEAD : 0 };
}

/**
 * The other ways tier 2 tries (AVX-512, y of `STREAM_STORES_TRIED_FROM` and
 * up; `along`: at AVX2 too, for a row walked along y's vectors, whose whole
 * vectors are aligned as vmovntps asks).
 */
export function otherStores(
  isa: string,
  bytes: number,
  stores: YStores,
  along = false,
): YStores[] {
  const streams = isa === "avx512" || (along && isa === "avx2");
  if (!streams || bytes < STREAM_STORES_TRIED_FROM) return [];
  return (["cached", "streamed"] as const).filter((w) => w !== stores);
}

/** The stores of one part of a call split in `parts`. */
export function partStores(stores: YStores, parts: number): YStores {
  return stores === "streamedWhenSplit" ? (parts > 1 ? "streamed" : "cached") : stores;
}

/** The plan storing y that way (its description saying so). */
export function withStores<
  P extends { stores: YStores; description: string; fetchAhead?: number },
>(p: P, stores: YStores): P {
  return stores === p.stores
    ? p
    : { ...p, stores, description: describeStores(p.description, stores, p.fetchAhead) };
}

/**
 * Tier 2's candidate of a plan that streams y with x's prefetch the other way (on or off);
 * none below `STREAM_STORES_TRIED_FROM` bytes of y.
 */
export function fetchCandidates<
  P extends { stores: YStores; description: string; fetchAhead: number },
>(p: P, bytes: number): P[] {
  if (p.stores === "cached" || bytes < STREAM_STORES_TRIED_FROM) return [];
  const fetchAhead = p.fetchAhead ? 0 : FETCH_AHEAD;
  return [{ ...p, fetchAhead, description: describeStores(p.description, p.stores, fetchAhead) }];
}

/** Tier 2's candidates of an elementwise plan storing y the other ways (y of `bytes`). */
export function storeCandidates<P extends { isa: string; stores: YStores; description: string }>(
  p: P,
  bytes: number,
): P[] {
  return otherStores(p.isa, bytes, p.stores, walksAlong(p.isa, bytes / 4)).map((w) =>
    withStores(p, w)
  );
}

/** elementwiseParts with the parts' stores (streamed when split, if the plan says so). */
export function storedParts<
  S extends { n: number },
  P extends KernelPlan & { stores: YStores; description: string },
>(s: S, p: P, parts: number): Part<S, P>[] | null {
  return elementwiseParts(s, withStores(p, partStores(p.stores, parts)), parts);
}

/** A plan's description with its stores (and where they stream, x's prefetch) said. */
export function describeStores(description: string, stores: YStores, fetchAhead = 0): string {
  const plain = description.replace(
    /, y by non-temporal stores( when split)?(, x to L2 \d+ B ahead)?$/,
    "",
  );
  if (stores === "cached") return plain;
  return `${plain}, y by non-temporal stores${stores === "streamedWhenSplit" ? " when split" : ""}${
    fetchAhead ? `, x to L2 ${fetchAhead} B ahead` : ""
  }`;
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
 * non-temporal store. `along`: x at r11 + PX + disp and y at r11 + disp
 * instead (emitStreamedRow's walk along y's lines, PX holding x − y).
 */
function passBody(
  v: Vec,
  p: RowsPass,
  registers: number[],
  along = false,
): { body: PassBody; count: number; idle: number } {
  const f = p.f ?? ((_m: Lanes, y: number, x: number) => v.move(y, x));
  const most = p.streams <= 1 ? 1 : p.streams;
  // The bias is read into the stream's first temporary: dead once added, it is f's to take.
  const streams = allocateStreams(v, registers, 2, most, (m, [x, y]) => f(m, y, x), p.bias ? 1 : 0);
  const yBase = along ? r11 : PY;
  const body: PassBody = (to, i, disp, how = {}) => {
    const sv = v.retarget(to), st = streams.stream(i);
    const [x, y] = st.fixed, b = st.temps[0];
    const m = new Lanes(sv, st.temps, st.masks);
    if (how.scalar) sv.loadScalar(x, PX, disp);
    else if (along) sv.loadMem(x, ptr(r11, disp, PX, 1), how.tail);
    else sv.load(x, PX, disp, how.tail);
    if (p.bias) {
      if (how.scalar) sv.loadScalar(b, PB, disp);
      else sv.load(b, PB, disp, how.tail);
      sv.op("add", x, x, b);
    }
    f(m, y, x);
    if (m.available !== st.temps.length) throw new Error("elementwise: f leaked registers");
    if (how.scalar) sv.storeScalar(yBase, disp, y);
    else if (how.streamed) sv.storeStream(yBase, disp, y);
    else sv.store(yBase, disp, y, how.tail);
  };
  // A register no body of stream 0 touches (stream 1's x), or −1 with one stream.
  const idle = streams.count > 1 ? streams.stream(1).fixed[0] : -1;
  return { body, count: streams.count, idle };
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
 * y[i] = f(x[i]) for i < n walked along y's units (columns.ts
 * `emitAlongLines`: AVX-512 lines, AVX2 32-byte vectors; the first and
 * last masked), x read at the same elements, so where x and y start alike
 * off a unit (a large `Float32Array` starts 16 bytes past a page) no load
 * or store straddles two lines. `streamed`: whole units by non-temporal
 * stores (aligned, as AVX2's vmovntps asks), an `sfence` at the end. Every element runs the same
 * instructions as in emitRowsPass: the same bits. k1-k3 (AVX-512) or the
 * last vector register (AVX2), rax, rcx, r9 and r11 are clobbered.
 */
function emitAlongRow(
  a: Assembler,
  v: Vec,
  p: RowsPass,
  streamed: boolean,
  fetchAhead = 0,
): void {
  if (p.bias || p.rows !== 1) throw new Error("elementwise: a walk along y is one row, no bias");
  const avx2 = v.isa.level === "avx2";
  const all = Array.from({ length: v.isa.nregs }, (_, r) => r);
  // AVX2's masks take a vector register for the first and last units, which stream 0 alone
  // runs: another stream's, where there are two (a register kept from the streams cost exp
  // a pinned constant: ×1.06 in L2), else the last.
  const one = avx2 && passBody(new Vec(new Assembler(), v.isa), p, all, true).count < 2;
  const { body, count, idle } = passBody(v, p, one ? all.slice(0, -1) : all, true);
  const maskReg = one ? all[all.length - 1] : idle;
  const interleave = p.streams > 1 && count > 1;
  a.emit("mov", PX, p.x);
  a.emit("sub", PX, p.y); // x − y
  emitAlongLines(
    v,
    p.y,
    4 * p.cols,
    (to, disp, slot, tail) => body(to, interleave ? slot : 0, disp, tail ? { tail } : { streamed }),
    {
      per: interleave ? count : UNROLL,
      interleave,
      masks: avx2 ? [maskReg, maskReg] : [1, 1],
      // x (at r11 + PX) into L2 ahead of the streamed walk (FETCH_AHEAD).
      fetch: streamed && fetchAhead
        ? (disp) => a.emit("prefetcht1", ptr(r11, disp + fetchAhead, PX, 1, 1))
        : undefined,
    },
  );
  if (streamed) a.emit("sfence");
}

/** Whether a row of `n` goes along y's units at AVX2 (see emitAlongRow): a few vectors at least. */
export function walksAlong(level: string, n: number): boolean {
  return level === "avx2" && n >= ALONG_FROM;
}

/** What a plan's description says of a row of `n` that walks along y's vectors (else ""). */
export function alongY(level: string, n: number): string {
  return walksAlong(level, n) ? ", along y's vectors" : "";
}
/** Elements from which AVX2's row walks along y's vectors. */
const ALONG_FROM = 64;

/**
 * `void kernel(args)`: y[i] = f(x[i]) for i < n, x and y in argument slots
 * 0 and 1 (the unary and chain families' whole kernel); `stores`
 * "streamed" (AVX-512, n over a line): y's lines by non-temporal stores.
 */
export function elementwiseKernel(
  isa: VecIsa,
  n: number,
  f: (m: Lanes, y: number, x: number) => void,
  streams: number,
  options: { listing: boolean; stores?: YStores; fetchAhead?: number },
): Program {
  const a = new Assembler({ listing: options.listing });
  loadPointer(a, rsi, 0);
  loadPointer(a, rdx, 1);
  const pass = { rows: 1, cols: n, x: rsi, xStride: 0, y: rdx, yStride: 0, f, streams };
  const streamed = options.stores === "streamed";
  const ahead = options.fetchAhead ?? 0;
  if (streamed && isa.level === "avx512" && n > 16) {
    emitAlongRow(a, new Vec(a, isa), pass, true, ahead);
  } else if (walksAlong(isa.level, n)) emitAlongRow(a, new Vec(a, isa), pass, streamed, ahead);
  else emitRowsPass(a, isa, pass);
  new Vec(a, isa).leave();
  a.emit("ret");
  return a.finish();
}
