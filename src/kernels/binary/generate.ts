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
  type Program,
  qword,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { Lanes } from "../math/lanes.ts";
import { allocateStreams } from "../streams.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { binaryReference, emitBinary, emitPowConstant } from "./ops.ts";
import { BINARY_ARG, BINARY_OPS, type BinarySpec, outputSize, strides } from "./spec.ts";

/** How a binary kernel is built. */
export interface BinaryPlan {
  /** Vector level. */
  isa: VecLevel;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** The plan: the ISA's vectors. */
export function planBinary(s: BinarySpec, isa: VecLevel): BinaryPlan {
  return {
    isa,
    workspaceBytes: 0,
    description: `${isa} ${BINARY_OPS[s.op]}, ${s.dims.length} loop(s)`,
  };
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
  const maskReg = isa.level === "avx2" && rest ? isa.nregs - 1 : -1;
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
  const streams = allocateStreams(
    v,
    all.slice(2),
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

  /** One vector (or tail, or single element) through stream i at byte offset disp. */
  const element = (to: Assembler, i: number, disp: number, kind: "vector" | "tail" | "scalar") => {
    const sv = v.retarget(to), st = stream(i);
    const m = new Lanes(sv, st.temps, st.masks);
    const t = kind === "tail" ? tail! : undefined;
    const load = (reg: number, base: typeof pA) =>
      kind === "scalar" ? sv.loadScalar(reg, base, disp) : sv.load(reg, base, disp, t);
    if (!aScalar) load(st.a, pA);
    if (!bScalar && s.exponent === null) load(st.b, pB);
    emitOp(m, st.d, st.a, st.b);
    if (kind === "scalar") sv.storeScalar(pY, disp, st.d);
    else sv.store(pY, disp, st.d, t);
  };

  const innerLoop = () => {
    if (aScalar) v.broadcast(SA, rA, 0);
    if (bScalar && s.exponent === null) v.broadcast(SB, rB, 0);
    a.emit("mov", pA, rA);
    a.emit("mov", pB, rB);
    a.emit("mov", pY, rY);
    const advance = (bytes: number) => {
      if (!aScalar) addImmediate(a, "add", pA, bytes);
      if (!bScalar) addImmediate(a, "add", pB, bytes);
      addImmediate(a, "add", pY, bytes);
    };
    const groups = Math.floor(full / streams.count);
    countedLoop(a, rcx, groups, () => {
      emitInterleaved(
        a,
        Array.from({ length: streams.count }, (_, i) => (to) => element(to, i, i * VB, "vector")),
      );
      advance(streams.count * VB);
    });
    for (let j = 0; j < full - groups * streams.count; j++) element(a, 0, j * VB, "vector");
    const at = (full - groups * streams.count) * VB;
    if (tail) element(a, 0, at, "tail");
    else for (let j = 0; j < rest; j++) element(a, 0, at + j * 4, "scalar");
  };

  /** Level k of the nest: its loop around level k + 1, pointers kept across it. */
  const level = (k: number, depth: number) => {
    if (k === rank - 1) return innerLoop();
    a.emit("push", rA);
    a.emit("push", rB);
    a.emit("push", rY);
    a.emit("sub", rsp, 8);
    a.emit("mov", qword(rsp, 0), s.dims[k]);
    const top = a.label();
    a.bind(top);
    level(k + 1, depth + 1);
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
  level(0, 0);
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
