/**
 * The broadcast loop nest: one loop per merged output dim, the innermost
 * over vectors. An operand that broadcasts along the innermost dim is one
 * value, broadcast to a register once per inner run; one that broadcasts
 * along an outer dim simply does not advance there. Pointers of the outer
 * levels are pushed and popped around their loops, counts live on the stack.
 *
 * @module
 */
import {
  Assembler,
  eax,
  edi,
  KREG,
  type Label,
  type Program,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import {
  describeStores,
  FETCH_AHEAD,
  fetchCandidates,
  otherStores,
  storesFor,
  type YStores,
} from "../elementwise.ts";
import { Lanes } from "../math/lanes.ts";
import { allocateStreams } from "../streams.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { binaryReference, emitBinary, emitPowConstant } from "./ops.ts";
import { BINARY_ARG, BINARY_OPS, type BinarySpec, outputSize, strides } from "./spec.ts";

/** How a binary kernel is built. */
export interface BinaryPlan {
  /** Vector level. */
  isa: VecLevel;
  /**
   * AVX-512 runs of 128 or more: each inner run whose first input (a, or b
   * when a is broadcast along it) starts off a cache line does its first
   * elements as one masked vector, so every other load of it reads one
   * line (see planBinary).
   */
  lineRuns: boolean;
  /**
   * How y is stored (see elementwise.ts): "streamed" only for AVX-512 runs
   * of 128 or more, which then start at y's lines instead and send its
   * whole lines by non-temporal stores (an `sfence` at the end).
   */
  stores: YStores;
  /**
   * Where y streams, bytes ahead that the runs prefetch their inputs into
   * L2 (0: none; see FETCH_AHEAD in elementwise.ts).
   */
  fetchAhead: number;
  /**
   * Streamed runs of whole lines' length (a multiple of 16 floats; AVX2 of 8, a vector) with
   * one input a value a run: when y starts off a line, the line each run
   * shares with the next goes with the next run, its lanes of the run
   * before under the value before (a blend), so that every line but the
   * call's first and last is one whole non-temporal store (see carries).
   */
  carriedLines: boolean;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** Tier 1's stores of y (`oneThread`: the core streams on one thread too; see storesFor). */
export function binaryStores(s: BinarySpec, isa: VecLevel, oneThread = false): YStores {
  return storesFor(isa, 4 * outputSize(s), streamsAlong(s, isa), oneThread);
}

/**
 * The plan: the ISA's vectors; AVX-512 runs of 128 or more from the first
 * input's line. Two inputs whose vectors each straddle two lines (Deno's
 * large arrays start 16 bytes into one) read 1.2-1.4× slower beyond L2
 * than with one of them on lines, and stores across lines cost little
 * (Zen 5, 4 Mi floats, operands placed on lines or 16 bytes in: add same
 * shape 1014 µs both off, 876-901 one off; a row's vector times a matrix
 * 786-806 both off, 600-667 one off, 559-579 neither or only y).
 */
export function planBinary(
  s: BinarySpec,
  isa: VecLevel,
  stores: YStores = binaryStores(s, isa),
  fetch = false,
): BinaryPlan {
  // AVX2: runs from y's vectors where y streams (vmovntps takes them aligned), not otherwise.
  const runs = (isa === "avx512" || (streamsAlong(s, isa) && stores === "streamed")) &&
    s.dims[s.dims.length - 1] >= RUN_FROM;
  const how = runs ? stores : "cached";
  const streamed = how === "streamed";
  const lineRuns = runs && (streamed || anchorOf(s) !== null);
  const lines = streamed
    ? ", runs from y's lines"
    : lineRuns
    ? ", runs from the first input's lines"
    : "";
  const fetchAhead = fetch && how !== "cached" ? FETCH_AHEAD : 0;
  const carriedLines = streamed && carriedKind(s, vecIsa(isa).lanes) !== null;
  const carried = carriedLines ? ", a run's last line carried to the next" : "";
  return {
    isa,
    lineRuns,
    stores: how,
    fetchAhead,
    carriedLines,
    workspaceBytes: 0,
    description: describeStores(
      `${isa} ${BINARY_OPS[s.op]}, ${s.dims.length} loop(s)${lines}${carried}`,
      how,
      fetchAhead,
    ),
  };
}

/**
 * Whether a streamed kernel carries each run's last line to the next run
 * (BinaryPlan.carriedLines), and how: runs of whole lines' length (so y's
 * offset into a line is the same at every run's start), one input laid out
 * as y (its elements before a run's are the run before's) and the other
 * either one value along each run ("value": NCHW times a value a channel)
 * or one row, the same for every run ("row": a matrix plus a row vector).
 * Otherwise the line two runs share takes two masked ordinary stores among
 * the streamed ones: `deno task compare --ops --sizes 67108864` (Xeon, one
 * thread, y 16 bytes into a line), NCHW 4096×64×256 times a value a
 * channel 20172 µs, 84% of the copy bound, at e51c27f (the same floats
 * times one value 19219); 16596 µs, 110%, at faeab73.
 */
export function carriedKind(s: BinarySpec, lanes: number): "value" | "row" | null {
  const rank = s.dims.length, inner = s.dims[rank - 1], bit = 1 << (rank - 1);
  if (rank < 2 || inner % lanes !== 0 || s.exponent !== null || BINARY_OPS[s.op] === "pow") {
    return null;
  }
  // The runs' count is an immediate of a compare (a signed 32-bit one).
  if (outputSize(s) / inner >= 2 ** 31) return null;
  const aValue = (s.aBroadcast & bit) !== 0, bValue = (s.bBroadcast & bit) !== 0;
  if (aValue !== bValue) return (aValue ? s.bBroadcast : s.aBroadcast) === 0 ? "value" : null;
  // One row for every run: broadcast along every dimension but the last.
  const outer = bit - 1;
  if (aValue || (s.aBroadcast !== outer && s.bBroadcast !== outer)) return null;
  return s.aBroadcast === 0 || s.bBroadcast === 0 ? "row" : null;
}

/** Elements of a row from which it goes in runs along lines (AVX-512) or streams (AVX2). */
const RUN_FROM = 128;

/** Whether AVX2 may stream y, in runs from y's vectors: rows of RUN_FROM or more. */
function streamsAlong(s: BinarySpec, isa: string): boolean {
  return isa === "avx2" && s.dims[s.dims.length - 1] >= RUN_FROM;
}

/**
 * Tier 2's candidates: y stored the other ways, from 4 MiB, and where it streams the inputs'
 * prefetch the other way (the same bits).
 */
export function binaryCandidates(s: BinarySpec, p: BinaryPlan): BinaryPlan[] {
  const bytes = 4 * outputSize(s);
  const stores = otherStores(p.isa, bytes, p.stores, streamsAlong(s, p.isa))
    .map((w) => planBinary(s, p.isa, w, p.fetchAhead > 0))
    .filter((q) => q.stores !== p.stores);
  return [...stores, ...fetchCandidates(p, bytes)];
}

/** The input a run aligns to: a, or b when a is one value along the run; null when both are. */
function anchorOf(s: BinarySpec): "a" | "b" | null {
  const inner = 1 << (s.dims.length - 1);
  if (!(s.aBroadcast & inner)) return "a";
  return s.bBroadcast & inner || s.exponent !== null ? null : "b";
}

/** Emits `void kernel(args)` for the spec. */
export function generateBinary(
  s: BinarySpec,
  plan: BinaryPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const op = BINARY_OPS[s.op];
  if (outputSize(s) === 0) {
    a.emit("ret");
    return a.finish();
  }
  const L = isa.lanes, VB = L * 4;
  const rank = s.dims.length, inner = s.dims[rank - 1];
  const rest = inner % L, full = (inner - rest) / L;
  // AVX2: the tail's mask, and a run's first and last (set at run time), in the last register.
  const maskReg = isa.level === "avx2" && (rest || plan.lineRuns) ? isa.nregs - 1 : -1;
  const sa = strides(s, s.aBroadcast), sb = strides(s, s.bBroadcast), sy = strides(s, 0);
  const aScalar = sa[rank - 1] === 0, bScalar = sb[rank - 1] === 0;
  const all: number[] = [];
  for (let r = 0; r < isa.nregs; r++) if (r !== maskReg) all.push(r);
  // Per stream: a, b, result, then temporaries; a broadcast operand's register is shared.
  const emitOp = (m: Lanes, d: number, x: number, y: number) => {
    if (s.exponent !== null && emitPowConstant(m, d, x, s.exponent)) return;
    emitBinary(m, op, d, x, y);
  };
  const heavy = op === "pow" && s.exponent === null;
  const SA = all[0], SB = all[1]; // broadcast scalars
  // Carried lines: the value of the run before, and the blend of both for a run's first line
  // (a row: the line two runs share, and a mask while it is made). `otherIsA`: a is the input
  // not laid out as y (the value or the row).
  const PREV = all[2], BLEND = all[3];
  const rowKind = plan.carriedLines && carriedKind(s, L) === "row";
  const otherIsA = rowKind ? s.aBroadcast !== 0 : aScalar;
  const streams = allocateStreams(
    v,
    all.slice(plan.carriedLines ? 4 : 2),
    3,
    heavy ? 3 : 4,
    (m, [x, y, d]) => emitOp(m, d, x, y),
  );
  const stream = (i: number) => {
    const st = streams.stream(i);
    return {
      a: aScalar ? SA : st.fixed[0],
      b: bScalar || s.exponent !== null ? SB : st.fixed[1],
      d: st.fixed[2],
      temps: st.temps,
      masks: st.masks,
    };
  };
  const rA = rsi, rB = rdx, rY = r8;
  loadPointer(a, rA, BINARY_ARG.A);
  loadPointer(a, rB, BINARY_ARG.B);
  loadPointer(a, rY, BINARY_ARG.Y);
  if (s.exponent !== null) v.move(SB, { f32: s.exponent });
  const tail: Tail | null = rest && (isa.level === "avx512" || isa.level === "avx2")
    ? v.tail(rest, 1, maskReg)
    : null;
  const pA = r9, pB = r10, pY = r11; // walking pointers of the inner loop

  // Line runs: a run's first and last elements as vectors masked by k1 (AVX2: maskReg) set at
  // run time (v.runTail, v.runTailVector; the compile-time tail's mask is set again after).
  const RUN_MASK: Tail = isa.level === "avx2"
    ? { lanes: 0, k: null, m: maskReg }
    : { lanes: 0, k: KREG[1], m: -1 };
  const runTail = () => (isa.level === "avx2" ? v.runTailVector(maskReg, rdi) : v.runTail(1, edi));
  /** One vector (or tail, or single element) through stream i at byte offset disp. */
  const element = (
    to: Assembler,
    i: number,
    disp: number,
    kind: "vector" | "tail" | "scalar" | "masked",
  ) => {
    const sv = v.retarget(to), st = stream(i);
    const m = new Lanes(sv, st.temps, st.masks);
    const t = kind === "tail" ? tail! : kind === "masked" ? RUN_MASK : undefined;
    const load = (reg: number, base: typeof pA) =>
      kind === "scalar" ? sv.loadScalar(reg, base, disp) : sv.load(reg, base, disp, t);
    if (kind === "vector" && plan.stores === "streamed" && plan.fetchAhead && disp % 64 === 0) {
      // The inputs' lines FETCH_AHEAD on into L2 (a whole vector's line, once a line).
      if (!aScalar) to.emit("prefetcht1", ptr(pA, disp + plan.fetchAhead, null, 1, 1));
      if (!bScalar && s.exponent === null) {
        to.emit("prefetcht1", ptr(pB, disp + plan.fetchAhead, null, 1, 1));
      }
    }
    if (!aScalar) load(st.a, pA);
    if (!bScalar && s.exponent === null) load(st.b, pB);
    emitOp(m, st.d, st.a, st.b);
    if (kind === "scalar") sv.storeScalar(pY, disp, st.d);
    // Whole vectors are on y's lines when it streams (runs from y's lines).
    else if (kind === "vector" && plan.stores === "streamed") sv.storeStream(pY, disp, st.d);
    else sv.store(pY, disp, st.d, t);
  };

  /** The walking pointers of the operands that move along the run, `bytes` on. */
  const advance = (bytes: number | Reg) => {
    for (const [p, moves] of [[pA, !aScalar], [pB, !bScalar], [pY, true]] as const) {
      if (!moves) continue;
      if (typeof bytes === "number") addImmediate(a, "add", p, bytes);
      else a.emit("add", p, bytes);
    }
  };
  /**
   * `count` whole vectors: groups of the streams in a loop (the pointers advancing), then the
   * rest one at a time at their displacements; returns the bytes those last ones span.
   */
  const wholeVectors = (count: number): number => {
    const groups = Math.floor(count / streams.count);
    countedLoop(a, rcx, groups, () => {
      emitInterleaved(
        a,
        Array.from({ length: streams.count }, (_, i) => (to) => element(to, i, i * VB, "vector")),
      );
      advance(streams.count * VB);
    });
    const rest = count - groups * streams.count;
    for (let j = 0; j < rest; j++) element(a, 0, j * VB, "vector");
    return rest * VB;
  };

  const innerLoop = () => {
    if (aScalar) v.broadcast(SA, rA, 0);
    if (bScalar && s.exponent === null) v.broadcast(SB, rB, 0);
    a.emit("mov", pA, rA);
    a.emit("mov", pB, rB);
    a.emit("mov", pY, rY);
    // (Runs under 2^27 floats, 512 MiB: the claim's displacement, runs + 1 runs on, stays a
    // disp32.)
    if (plan.stores === "streamed" && plan.fetchAhead && rank > 1 && inner < 1 << 27) {
      // The line a run's last elements share with the next run's first (y's runs follow each
      // other), fetchAhead on, claimed for writing now: its masked stores, ordinary ones among
      // the streamed, then find it in cache instead of holding the stores behind them for a
      // read from DRAM. Only where that run ends off a line: a whole line claimed and then
      // streamed costs more than it saves (runs on lines, ×1.19 the time).
      const runBytes = 4 * inner, runs = Math.max(1, Math.ceil(plan.fetchAhead / runBytes));
      const onLine = a.label();
      a.emit("lea", rax, ptr(pY, (runs + 1) * runBytes));
      a.emit("test", eax, 63);
      a.emit("jz", onLine);
      a.emit("prefetchw", ptr(rax, -4, null, 1, 1));
      a.bind(onLine);
    }
    const done = a.label();
    if (plan.lineRuns) lineRun(done);
    const at = wholeVectors(full);
    if (tail) element(a, 0, at, "tail");
    else for (let j = 0; j < rest; j++) element(a, 0, at + j * 4, "scalar");
    a.bind(done);
  };

  /**
   * The run when its first input starts off a line: its elements up to the
   * next line as one masked vector, then whole vectors from that line
   * (groups of the streams, then single ones, counted at run time), then
   * the rest masked; on to `done`. A run on a line falls through to the
   * plain loop. rax, rcx, rdi and k1 are clobbered (k1 then set again to
   * the tail's mask).
   */
  const lineRun = (done: Label) => {
    const plain = a.label(), groupsDone = a.label(), group = a.label();
    const singlesDone = a.label(), single = a.label(), noRest = a.label();
    a.emit("mov", rax, plan.stores === "streamed" ? pY : anchorOf(s) === "a" ? pA : pB);
    a.emit("neg", rax);
    a.emit("and", rax, VB - 1); // bytes to its next line (AVX2: vector)
    a.emit("jz", plain);
    a.emit("mov", rcx, rax);
    a.emit("shr", rcx, 2);
    runTail();
    element(a, 0, 0, "masked");
    advance(rax);
    a.emit("neg", rcx);
    a.emit("add", rcx, inner); // elements left
    const G = streams.count * L;
    a.emit("sub", rcx, G);
    a.emit("jb", groupsDone);
    a.bind(group);
    emitInterleaved(
      a,
      Array.from({ length: streams.count }, (_, i) => (to) => element(to, i, i * VB, "vector")),
    );
    advance(G * 4);
    a.emit("sub", rcx, G);
    a.emit("jae", group);
    a.bind(groupsDone);
    a.emit("add", rcx, G - L); // elements left − L: negative when under a vector
    a.emit("js", singlesDone);
    a.bind(single);
    element(a, 0, 0, "vector");
    advance(VB);
    a.emit("sub", rcx, L);
    a.emit("jae", single);
    a.bind(singlesDone);
    a.emit("add", rcx, L);
    a.emit("jz", noRest);
    runTail();
    element(a, 0, 0, "masked");
    a.bind(noRest);
    if (tail) v.tail(rest, 1, maskReg);
    a.emit("jmp", done);
    a.bind(plain);
  };

  /**
   * Carried lines (plan.carriedLines), y m floats into a line (AVX2: a
   * vector, which its non-temporal stores take aligned; r13 = 4m, k1 or
   * AVX2's mask register = lanes m and up, r12 = runs left): a run goes from the line before
   * its start, whose lanes below m are the run before's last elements (the
   * blend takes their value there), to the last line it fills whole; the
   * call's first line stores lanes m and up only, its last lanes below m.
   * Every element takes the same operation on the same operands: the same
   * bits as the runs from y's lines.
   */
  const carriedLoop = (runs: number) => {
    const value = otherIsA ? SA : SB, pFull = otherIsA ? pB : pA;
    /** A run's first or the call's last line, at pY (`mask`: the lanes stored; else streamed). */
    const line = (other: number, mask: Tail | undefined) => {
      const st = stream(0), m = new Lanes(v, st.temps, st.masks);
      const full = otherIsA ? st.b : st.a;
      v.load(full, pFull, 0, mask);
      emitOp(m, st.d, otherIsA ? other : full, otherIsA ? full : other);
      if (mask) v.store(pY, 0, st.d, mask);
      else v.storeStream(pY, 0, st.d);
    };
    if (!rowKind) v.broadcast(value, otherIsA ? rA : rB, 0);
    else {
      // The row's walking pointer from its element at the run's first line.
      a.emit("mov", otherIsA ? pA : pB, otherIsA ? rA : rB);
      a.emit("sub", otherIsA ? pA : pB, r13);
    }
    a.emit("mov", pFull, otherIsA ? rB : rA);
    a.emit("sub", pFull, r13);
    a.emit("mov", pY, rY);
    a.emit("sub", pY, r13);
    // (A row: BLEND holds the line two runs share, made once.)
    if (!rowKind) {
      v.select(BLEND, isa.level === "avx2" ? { v: maskReg } : { k: KREG[1] }, value, PREV);
    }
    const later = a.label(), first = a.label();
    a.emit("cmp", r12, runs);
    a.emit("jne", later);
    line(BLEND, RUN_MASK);
    a.emit("jmp", first);
    a.bind(later);
    line(BLEND, undefined);
    a.bind(first);
    advance(VB);
    advance(wholeVectors(full - 1));
    const more = a.label();
    a.emit("cmp", r12, 1);
    a.emit("jne", more);
    // Lanes below m: the last run's last elements.
    if (isa.level === "avx2") {
      a.emit("mov", rcx, r13);
      a.emit("shr", rcx, 2);
      v.runTailVector(maskReg, rdi);
    } else a.emit("knotw", KREG[1], KREG[1]);
    line(rowKind ? BLEND : value, RUN_MASK);
    a.bind(more);
    if (!rowKind) v.move(PREV, value);
    a.emit("dec", r12);
  };

  /** Level k of the nest: its loop around level k + 1, pointers kept across it. */
  const level = (k: number, depth: number, innermost: () => void = innerLoop) => {
    if (k === rank - 1) return innermost();
    a.emit("push", rA);
    a.emit("push", rB);
    a.emit("push", rY);
    a.emit("sub", rsp, 8);
    a.emit("mov", qword(rsp, 0), s.dims[k]);
    const top = a.label();
    a.bind(top);
    level(k + 1, depth + 1, innermost);
    addImmediate(a, "add", rA, sa[k] * 4);
    addImmediate(a, "add", rB, sb[k] * 4);
    addImmediate(a, "add", rY, sy[k] * 4);
    a.emit("dec", qword(rsp, 0));
    a.emit("jnz", top);
    a.emit("add", rsp, 8);
    a.emit("pop", rY);
    a.emit("pop", rB);
    a.emit("pop", rA);
  };
  if (plan.carriedLines) {
    const onLine = a.label(), done = a.label();
    a.emit("mov", rax, rY);
    a.emit("and", rax, VB - 1); // bytes into y's line (AVX2: vector)
    a.emit("jz", onLine);
    a.emit("push", r12);
    a.emit("push", r13);
    a.emit("mov", r13, rax);
    a.emit("mov", rcx, rax);
    // Lanes m and up.
    if (isa.level === "avx2") v.runHeadVector(maskReg, rdi);
    else {
      a.emit("shr", rcx, 2);
      v.runTail(1, edi);
      a.emit("knotw", KREG[1], KREG[1]);
    }
    if (rowKind) {
      // The line two runs share: lanes below m the row's last m elements, lanes m and up
      // its first 8 − m (AVX2; 16 − m at AVX-512), each by a masked load (none reaches past
      // the row), blended; the same for every run.
      const row = otherIsA ? rA : rB;
      const below: Tail = isa.level === "avx2"
        ? { lanes: 0, k: null, m: PREV }
        : { lanes: 0, k: KREG[2], m: -1 };
      if (isa.level === "avx2") {
        a.emit("vpcmpeqd", v.r(PREV), v.r(PREV), v.r(PREV));
        a.emit("vxorps", v.r(PREV), v.r(PREV), v.r(maskReg)); // lanes below m
      } else a.emit("knotw", KREG[2], KREG[1]);
      a.emit("lea", rax, ptr(row, 4 * inner));
      a.emit("sub", rax, r13);
      v.loadMem(BLEND, ptr(rax, 0), below);
      a.emit("mov", rax, row);
      a.emit("sub", rax, r13);
      const st = stream(0);
      v.loadMem(st.a, ptr(rax, 0), RUN_MASK);
      v.select(BLEND, isa.level === "avx2" ? { v: maskReg } : { k: KREG[1] }, st.a, BLEND);
    }
    const runs = outputSize(s) / inner;
    a.emit("mov", r12, runs);
    level(0, 0, () => carriedLoop(runs));
    a.emit("pop", r13);
    a.emit("pop", r12);
    a.emit("jmp", done);
    a.bind(onLine);
    level(0, 0);
    a.bind(done);
  } else level(0, 0);
  if (plan.stores === "streamed") a.emit("sfence");
  v.leave();
  a.emit("ret");
  return a.finish();
}

/** y = a op b with numpy broadcasting, in f64 rounded to f32. */
export function binaryReferenceLoop(
  s: BinarySpec,
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
): void {
  const op = BINARY_OPS[s.op];
  const sa = strides(s, s.aBroadcast), sb = strides(s, s.bBroadcast);
  const n = outputSize(s), rank = s.dims.length;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let k = 0; k < rank; k++) {
      ia += idx[k] * sa[k];
      ib += idx[k] * sb[k];
    }
    y[i] = binaryReference(op, a[ia], b[ib]);
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < s.dims[k]) break;
      idx[k] = 0;
    }
  }
}
