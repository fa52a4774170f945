/**
 * Softmax of rows read from memory below AVX-512, the passes of three rows
 * overlapped: step j runs one loop over the columns with pass 3 of row
 * j − 1 (y = e·(1/sum), or (x − max) − ln(sum)) and pass 1 of row j + 1
 * (its maximum), then pass 2 of row j (the exponentials and their sum).
 * Row by row, each row's maximum waited on its fold across lanes before
 * pass 2 could start, and its pass 3 on the fold of the sum and a
 * division: chains of latency with nothing beside them (the out-of-order
 * window holds less than a row's pass 2). Here a maximum is folded a whole pass 2 before it
 * is needed (it waits on the stack: pass 2's streams take every register),
 * and the sum's chain has the next step's pass-1 loads beside it.
 *
 * Each element goes through the same instructions as row by row: the same
 * bits (the maximum takes the same accumulators in the same order).
 *
 * Measured on Zen 3 at AVX2, `deno run -A bench/ab.ts --a d9e9679 --b
 * 7b0ce56 --softmax RxC` (row by row against overlapped, one process,
 * alternating): 1536×128 106.4 → 94.3 µs (×0.887), the same with a padding
 * mask ×0.885, logSoftmax ×0.936, 1024×1024 462 → 412 (×0.891), 3072×64
 * 128 → 114 (×0.891); at SSE2 (`NJIT_MAX_ISA=sse2`) 1536×128 ×0.975. On
 * Zen 5 at AVX-512 a row's pass 3 in the next row's pass-1 loop, with pass
 * 2 right after it, gained 1-2% (generate.ts's planSoftmax): there the
 * maximum's fold still stood between the loop and pass 2.
 *
 * @module
 */
import {
  type Assembler,
  type Mem,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rcx,
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import type { ColumnKind, RowShape } from "../columns.ts";
import { f32, type Tail, type Vec } from "../vec.ts";
import { emitFinishColumn, emitMaxColumn } from "./columns.ts";
import type { SoftmaxSpec } from "./spec.ts";

/** The registers the overlapped steps use besides pass 2's. */
export interface OverlapRegisters {
  /** The maximum of the row in pass 2 (and of the row in pass 3, for logSoftmax, until pass 2). */
  mx: number;
  /** 1/sum or ln(sum) of the row in pass 3. */
  total: number;
  /** Registers free outside pass 2 (none of them pinned constants): at least 6. */
  free: number[];
}

/**
 * Emits the rows from rsi to rdx (each step advances them a row); `pass2`
 * emits pass 2 of the row at rsi/rdx with its maximum in `mx`, leaving
 * 1/sum (or ln(sum)) in `total`. Clobbers r8-r11, rcx and a vector of stack.
 */
export function emitOverlappedRows(
  a: Assembler,
  v: Vec,
  s: SoftmaxSpec,
  shape: RowShape,
  tail: Tail | null,
  regs: OverlapRegisters,
  pass2: () => void,
): void {
  const { vectorBytes: VB, full, rest } = shape;
  const scalarTail = rest && !tail ? rest : 0;
  const rowBytes = s.cols * 4;
  const { mx, total, free } = regs;
  const accs = free.slice(0, Math.min(4, Math.max(1, full)));
  const load1 = free[4], temps = free.slice(5, 9);
  if (temps.length === 0) throw new Error(`overlapped softmax: ${free.length} free registers`);
  // The next row's maximum waits here through this row's pass 2.
  const slot: Mem = ptr(rsp, 0, null, 1, VB);

  /**
   * One loop over the columns: pass 3 of the previous row (`late`), pass 1
   * of the next (`early`), its maximum folded and left in the slot after
   * this row's own is taken from it into mx (`then`: a pass 2 follows).
   */
  const around = (late: boolean, early: boolean, then = true) => {
    if (early) {
      for (const r of accs) v.move(r, f32(-Infinity));
      a.emit("lea", r9, ptr(rsi, rowBytes));
    }
    if (late) {
      a.emit("lea", r10, ptr(rdx, -rowBytes));
      if (s.log) a.emit("lea", r11, ptr(rsi, -rowBytes));
    }
    const column = (u: number, disp: number, kind: ColumnKind, acc: number) => {
      if (early) emitMaxColumn(v, acc, load1, r9, disp, kind, tail, temps[0]);
      const t = temps[u % temps.length];
      if (late) emitFinishColumn(v, s.log, t, r11, r10, disp, kind, tail, mx, total);
    };
    const groups = Math.floor(full / accs.length);
    countedLoop(a, rcx, groups, () => {
      accs.forEach((acc, u) => column(u, u * VB, "vector", acc));
      if (early) addImmediate(a, "add", r9, accs.length * VB);
      if (late) addImmediate(a, "add", r10, accs.length * VB);
      if (late && s.log) addImmediate(a, "add", r11, accs.length * VB);
    });
    const left = full - groups * accs.length;
    for (let j = 0; j < left; j++) column(j, j * VB, "vector", accs[0]);
    if (tail) column(0, left * VB, "tail", accs[0]);
    for (let j = 0; j < scalarTail; j++) column(0, left * VB + j * 4, "scalar", accs[0]);
    if (early) {
      for (let i = 1; i < accs.length; i++) v.op("max", accs[0], accs[0], accs[i]);
      v.reduceAll("max", accs[0], load1);
    }
    if (then) v.loadMem(mx, slot);
    if (early) v.storeMem(slot, accs[0]);
  };
  const step = (late: boolean, early: boolean) => {
    around(late, early);
    pass2();
    addImmediate(a, "add", rsi, rowBytes);
    addImmediate(a, "add", rdx, rowBytes);
  };

  a.emit("sub", rsp, VB);
  // Row 0's maximum to the slot: the loop of a step before row 0 with only its pass 1.
  addImmediate(a, "sub", rsi, rowBytes);
  around(false, true, false);
  addImmediate(a, "add", rsi, rowBytes);
  step(false, s.rows > 1);
  countedLoop(a, r8, s.rows - 2, () => step(true, true));
  if (s.rows > 1) step(true, false);
  around(true, false, false);
  a.emit("add", rsp, VB);
}
