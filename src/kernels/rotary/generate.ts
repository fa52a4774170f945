/**
 * The rotary kernel: per token, its rows of the caches (at its position,
 * or its own row), then per head the pairs (x1, x2) — halves or neighbours
 * — become (cos·x1 − sin·x2, sin·x1 + cos·x2), each product and the sum
 * rounded to f32 as ONNX's reference computes them (no FMA); the head's
 * elements past the rotated ones are copied. Halves run in vectors (a
 * masked tail); neighbours in vectors of pairs (the last pairs short of a
 * vector one by one).
 *
 * @module
 */
import {
  Assembler,
  dword,
  eax,
  type Mem,
  type Program,
  ptr,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r8,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdx,
  type Reg,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { emitColumns, rowShape, rowTail } from "../columns.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { ROTARY_ARG, type RotarySpec } from "./read.ts";

/** A rotary plan: the vector level. */
export interface RotaryPlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`. */
export function planRotary(s: RotarySpec, level: VecLevel): RotaryPlan {
  return {
    isa: level,
    workspaceBytes: 0,
    description: `${level} rotary ${
      s.interleaved
        ? level === "scalar" ? "pairs one by one" : "pairs in vectors"
        : "halves in vectors"
    }${s.positionRows ? ", rows at positions" : ""}`,
  };
}

/** Element strides of x: [token within an item, head, item]. */
export function rotaryStrides(s: RotarySpec): { token: number; head: number; item: number } {
  const d = s.headSize, item = s.sequenceStride * s.heads * d;
  return s.headsFirst
    ? { token: d, head: s.sequenceStride * d, item }
    : { token: s.heads * d, head: d, item };
}

const USED: Reg[] = [rbx, rbp, r12, r13, r14, r15];

/** Emits `void kernel(args)`. */
export function generateRotary(
  s: RotarySpec,
  p: RotaryPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  saveRegisters(a, USED);
  // rsi, rdx: the token's x and y; r8, r9: cos and sin; r10: positions; r11, rbx: the token's
  // rows of cos and sin; rcx, r15: the head's x and y; rax: column index; rbp: column counter.
  loadPointer(a, rsi, ROTARY_ARG.X);
  loadPointer(a, rdx, ROTARY_ARG.Y);
  loadPointer(a, r8, ROTARY_ARG.COS);
  loadPointer(a, r9, ROTARY_ARG.SIN);
  loadPointer(a, r10, ROTARY_ARG.POSITIONS);
  const half = s.half, rowBytes = half * 4;
  const st = rotaryStrides(s);
  const shape = rowShape(v, half);
  const tail = s.interleaved ? null : rowTail(v, shape);
  if (!s.positionRows) {
    a.emit("mov", r11, r8);
    a.emit("mov", rbx, r9);
  }
  const at = (base: Reg, disp: number): Mem => ptr(base, disp, rax, 1);
  /** One pair's or vector of pairs' rotation: x1, x2 at m1, m2; cos, sin at mc, ms. */
  const rotate = (m1: Mem, m2: Mem, y1: Mem, y2: Mem, mc: Mem, ms: Mem, kind: string) => {
    const scalar = kind === "scalar";
    const t = kind === "tail" ? tail! : undefined;
    const load = (r: number, m: Mem) => scalar ? v.loadScalarMem(r, m) : v.loadMem(r, m, t);
    const store = (m: Mem, r: number) => scalar ? v.storeScalarMem(m, r) : v.storeMem(m, r, t);
    /** dst = x op y, a new register (lane 0 alone for single elements). */
    const op = (o: "mul" | "add" | "sub", dst: number, x: number, y: number) => {
      if (!scalar) return v.op(o, dst, x, y);
      v.move(dst, x);
      v.scalarOp(o, dst, y);
    };
    load(0, m1);
    load(1, m2);
    load(2, mc);
    load(3, ms);
    op("mul", 4, 2, 0); // cos·x1
    op("mul", 5, 3, 1); // sin·x2
    op("sub", 4, 4, 5);
    op("mul", 6, 3, 0); // sin·x1
    op("mul", 7, 2, 1); // cos·x2
    op("add", 6, 6, 7);
    store(y1, 4);
    store(y2, 6);
  };
  const rest = s.headSize - 2 * half;
  /** The head's elements past the rotated ones: whole vectors, then one by one. */
  const copyRest = () => {
    const L = v.isa.lanes, full = Math.floor(rest / L);
    for (let i = 0; i < full; i++) {
      v.load(0, rcx, 8 * half + i * L * 4);
      v.store(r15, 8 * half + i * L * 4, 0);
    }
    for (let i = full * L; i < rest; i++) {
      v.loadScalar(0, rcx, 8 * half + i * 4);
      v.storeScalar(r15, 8 * half + i * 4, 0);
    }
  };
  const L = v.isa.lanes, pairBlocks = L > 1 ? Math.floor(half / L) : 0;
  /** Lanes pairing each of cos's first (h = 0) or second half with a pair of x. */
  const spread = (h: number) => Array.from({ length: L }, (_, i) => h * (L / 2) + (i >> 1));
  const swap = Array.from({ length: L }, (_, i) => i ^ 1);
  /** −0 in the even lanes: their sin·x2 negated (exactly), so one add gives both outputs. */
  const evenNegative = { table: Array.from({ length: L }, (_, i) => (i % 2 ? 0 : -0)) };
  /**
   * L pairs of neighbours at rax (cos offset; x at 2·rax): each vector of x
   * (L/2 pairs) against cos and sin spread to both lanes of each pair, and
   * x with each pair swapped: C·x = (cos·x1, cos·x2), S·swap(x) = (sin·x2,
   * sin·x1), the first negated; their sum is (cos·x1 − sin·x2, cos·x2 +
   * sin·x1), each product and the sum rounded once, as one by one.
   */
  const rotatePairs = () => {
    v.loadMem(2, at(r11, 0));
    v.loadMem(3, at(rbx, 0));
    for (let h = 0; h < 2; h++) {
      v.loadMem(0, ptr(rcx, h * L * 4, rax, 2));
      v.permute(4, 2, spread(h), SPREAD[h]);
      v.permute(5, 3, spread(h), SPREAD[h]);
      v.permute(6, 0, swap, SWAP);
      v.mul(4, 4, 0);
      v.mul(5, 5, 6);
      v.op("xor", 5, 5, evenNegative);
      v.add(4, 4, 5);
      v.storeMem(ptr(r15, h * L * 4, rax, 2), 4);
    }
  };
  // The permutes' index vectors, loaded once (registers 8-10: the rotation uses 0-7).
  const SPREAD = [8, 9], SWAP = 10;
  if (s.interleaved && pairBlocks) {
    v.permuteIndex(SPREAD[0], spread(0));
    v.permuteIndex(SPREAD[1], spread(1));
    v.permuteIndex(SWAP, swap);
  }
  const head = () => {
    if (s.interleaved) {
      // rax: the pair's cos offset (4 bytes a pair); x's pair at 2·rax.
      a.emit("xor", rax, rax);
      if (pairBlocks) {
        countedLoop(a, rbp, pairBlocks, () => {
          rotatePairs();
          a.emit("add", rax, L * 4);
        });
      }
      if (half > pairBlocks * L) {
        countedLoop(a, rbp, half - pairBlocks * L, () => {
          rotate(
            ptr(rcx, 0, rax, 2),
            ptr(rcx, 4, rax, 2),
            ptr(r15, 0, rax, 2),
            ptr(r15, 4, rax, 2),
            at(r11, 0),
            at(rbx, 0),
            "scalar",
          );
          a.emit("add", rax, 4);
        });
      }
    } else {
      emitColumns(a, shape, tail, 1, rax, rbp, (disp, _u, kind) =>
        rotate(
          at(rcx, disp),
          at(rcx, disp + rowBytes),
          at(r15, disp),
          at(r15, disp + rowBytes),
          at(r11, disp),
          at(rbx, disp),
          kind,
        ));
    }
    if (rest) copyRest();
  };
  countedLoop(a, r12, s.batch, () => {
    countedLoop(a, r13, s.sequence, () => {
      const skip = a.label();
      if (s.positionRows) {
        // The token's row: validated by the caller; an out-of-range one leaves the token unwritten.
        a.emit("mov", eax, dword(r10, 0));
        a.emit("add", r10, 4);
        a.emit("cmp", eax, s.positionRows);
        a.emit("jae", skip);
        a.emit("imul", rax, rax, rowBytes);
        a.emit("lea", r11, ptr(r8, 0, rax, 1));
        a.emit("lea", rbx, ptr(r9, 0, rax, 1));
      }
      a.emit("mov", rcx, rsi);
      a.emit("mov", r15, rdx);
      countedLoop(a, r14, s.heads, () => {
        head();
        addImmediate(a, "add", rcx, st.head * 4);
        addImmediate(a, "add", r15, st.head * 4);
      });
      a.bind(skip);
      if (!s.positionRows) {
        addImmediate(a, "add", r11, rowBytes);
        addImmediate(a, "add", rbx, rowBytes);
      }
      addImmediate(a, "add", rsi, st.token * 4);
      addImmediate(a, "add", rdx, st.token * 4);
    });
    const back = st.item - s.sequence * st.token;
    if (back) {
      addImmediate(a, "add", rsi, back * 4);
      addImmediate(a, "add", rdx, back * 4);
    }
  });
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}
