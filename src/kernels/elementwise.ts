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
import type { Assembler, Reg } from "../../asm/mod.ts";
import { addImmediate, countedLoop } from "./abi.ts";
import { emitInterleaved } from "./interleave.ts";
import { Lanes } from "./math/lanes.ts";
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
  /** Most vectors interleaved per step (1: cheap f, several vectors in turn). */
  streams: number;
  /** Vectors per step when f is cheap (not interleaved). */
  unroll: number;
  /** Scratch general registers: inner counter, row counter, walking pointers. */
  counter: Reg;
  rowCounter: Reg;
  px: Reg;
  py: Reg;
  pb: Reg;
}

/** Emits the pass (vector registers and k1-k7 are clobbered). */
export function emitRowsPass(a: Assembler, isa: VecIsa, p: RowsPass): void {
  if (p.rows === 0 || p.cols === 0) return;
  const v = new Vec(a, isa);
  const L = isa.lanes, VB = L * 4;
  const rest = p.cols % L, full = (p.cols - rest) / L;
  const maskReg = isa.level === "avx2" && rest ? isa.nregs - 1 : -1;
  const all: number[] = [];
  for (let r = 0; r < isa.nregs; r++) if (r !== maskReg) all.push(r);
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
    if (scalar) sv.loadScalar(st.x, p.px, disp);
    else sv.load(st.x, p.px, disp, tail);
    if (p.bias) {
      if (scalar) sv.loadScalar(st.b, p.pb, disp);
      else sv.load(st.b, p.pb, disp, tail);
      sv.op("add", st.x, st.x, st.b);
    }
    f(m, st.y, st.x);
    if (m.available !== st.temps.length) throw new Error("elementwise: f leaked registers");
    if (scalar) sv.storeScalar(p.py, disp, st.y);
    else sv.store(p.py, disp, st.y, tail);
  };
  const tail = rest && (isa.level === "avx512" || isa.level === "avx2")
    ? v.tail(rest, 1, maskReg)
    : null;
  const group = cheap ? p.unroll : streams.count;
  const blocks = Math.floor(full / group);
  const advance = (bytes: number) => {
    addImmediate(a, "add", p.px, bytes);
    addImmediate(a, "add", p.py, bytes);
    if (p.bias) addImmediate(a, "add", p.pb, bytes);
  };
  const row = () => {
    a.emit("mov", p.px, p.x);
    a.emit("mov", p.py, p.y);
    if (p.bias) a.emit("mov", p.pb, p.bias);
    countedLoop(a, p.counter, blocks, () => {
      if (cheap) { for (let u = 0; u < group; u++) body(a, 0, u * VB); }
      else emitInterleaved(a, Array.from({ length: group }, (_, i) => (to) => body(to, i, i * VB)));
      advance(group * VB);
    });
    countedLoop(a, p.counter, full - blocks * group, () => {
      body(a, 0, 0);
      advance(VB);
    });
    if (tail) body(a, 0, 0, tail);
    else if (rest) {
      countedLoop(a, p.counter, rest, () => {
        body(a, 0, 0, undefined, true);
        advance(4);
      });
    }
  };
  if (p.rows === 1) return row();
  countedLoop(a, p.rowCounter, p.rows, () => {
    row();
    addImmediate(a, "add", p.x, p.xStride * 4);
    addImmediate(a, "add", p.y, p.yStride * 4);
  });
}
