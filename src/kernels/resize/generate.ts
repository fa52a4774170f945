/**
 * The resize kernel: per plane, a horizontal pass (each input row through
 * the column table into a workspace of h × outW: scalar, as each output
 * column reads its own input columns), then a vertical pass (each output
 * row = the weighted sum of the workspace rows the row table names, in
 * vectors). Tables are constants in the code; nearest copies, so its
 * values pass through untouched.
 *
 * @module
 */
import {
  Assembler,
  dword,
  type Program,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
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
import {
  addImmediate,
  countedLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { rowShape, rowTail } from "../columns.ts";
import type { KernelPlan } from "../family.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { type AxisTable, axisTable, RESIZE_ARG, type ResizeSpec } from "./spec.ts";

/** A resize plan. */
export interface ResizePlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`: a workspace of one plane's horizontal pass. */
export function planResize(s: ResizeSpec, level: VecLevel): ResizePlan {
  return {
    isa: level,
    workspaceBytes: Math.ceil((s.h * s.ow * 4) / 64) * 64,
    description: `${level} ${s.mode} separable, ${s.h}×${s.ow} horizontal pass`,
  };
}

const USED: Reg[] = [r12, r13, r14];
const ROWS: Reg[] = [r9, r10, r11, r14];

/** The table as bytes: per output index, `taps` × (byte offset i32 = index·stride, weight f32). */
function tableBytes(t: AxisTable, stride: number): Uint8Array {
  const out = new Uint8Array(t.index.length * 8), view = new DataView(out.buffer);
  for (let i = 0; i < t.index.length; i++) {
    view.setInt32(8 * i, t.index[i] * stride, true);
    view.setFloat32(8 * i + 4, t.weight[i], true);
  }
  return out;
}

/** Emits `void kernel(args)`. */
export function generateResize(
  s: ResizeSpec,
  p: ResizePlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  const cols = axisTable(s, "w"), rows = axisTable(s, "h");
  const nearest = s.mode === "nearest";
  const colTable = a.constant(tableBytes(cols, 4), 64);
  const rowTable = a.constant(tableBytes(rows, s.ow * 4), 64);
  saveRegisters(a, USED);
  loadPointer(a, rsi, RESIZE_ARG.X);
  loadPointer(a, rdx, RESIZE_ARG.Y);
  loadPointer(a, rax, WORKSPACE_SLOT);
  a.emit("mov", qword(rsp, -8), rax);
  const fmaScalar = (acc: number, x: number, w: ReturnType<typeof dword>) => {
    if (v.isa.fma) return void a.emit("vfmadd231ss", v.x(acc), v.x(x), w);
    a.emit("mulss", v.x(x), w);
    a.emit("addss", v.x(acc), v.x(x));
  };
  const shape = rowShape(v, s.ow);
  const VB = shape.vectorBytes;
  countedLoop(a, r13, s.planes, () => {
    // Horizontal: tmp[row][j] = Σ_t wc[j][t]·x[row][col(j, t)].
    a.emit("mov", rdi, qword(rsp, -8));
    countedLoop(a, r12, s.h, () => {
      a.emit("lea", r8, ptr(colTable, 0, null, 1, 8));
      countedLoop(a, rcx, s.ow, () => {
        if (nearest) {
          a.emit("movsxd", rax, dword(r8, 0));
          v.loadScalarMem(0, dword(rsi, 0, rax, 1));
        } else {
          for (let t = 0; t < cols.taps; t++) {
            a.emit("movsxd", rax, dword(r8, 8 * t));
            if (t === 0) {
              v.loadScalarMem(0, dword(rsi, 0, rax, 1));
              a.emit(
                v.isa.vex ? "vmulss" : "mulss",
                ...(v.isa.vex ? [v.x(0), v.x(0)] : [v.x(0)]),
                dword(r8, 4),
              );
            } else {
              v.loadScalarMem(1, dword(rsi, 0, rax, 1));
              fmaScalar(0, 1, dword(r8, 8 * t + 4));
            }
          }
        }
        v.storeScalarMem(dword(rdi, 0), 0);
        a.emit("add", r8, 8 * cols.taps);
        a.emit("add", rdi, 4);
      });
      addImmediate(a, "add", rsi, s.w * 4);
    });
    // Vertical: y[i][j] = Σ_t wr[i][t]·tmp[row(i, t)][j].
    a.emit("lea", r8, ptr(rowTable, 0, null, 1, 8));
    const tail = rowTail(v, shape);
    countedLoop(a, r12, s.oh, () => {
      for (let t = 0; t < rows.taps; t++) {
        a.emit("movsxd", ROWS[t], dword(r8, 8 * t));
        a.emit("add", ROWS[t], qword(rsp, -8));
        if (!nearest) v.broadcast(8 + t, r8, 8 * t + 4);
      }
      const step = (disp: number, tl?: Tail, scalar = false) => {
        const load = (dst: number, base: Reg) =>
          scalar ? v.loadScalar(dst, base, disp) : v.load(dst, base, disp, tl);
        load(0, ROWS[0]);
        if (!nearest) {
          v.op("mul", 0, 0, 8);
          for (let t = 1; t < rows.taps; t++) {
            load(1, ROWS[t]);
            if (v.isa.fma) v.fmadd(0, 1, 8 + t, 0);
            else {
              v.op("mul", 1, 1, 8 + t);
              v.op("add", 0, 0, 1);
            }
          }
        }
        if (scalar) v.storeScalar(rdx, disp, 0);
        else v.store(rdx, disp, 0, tl);
      };
      const full = shape.full;
      countedLoop(a, rcx, full, () => {
        step(0);
        for (const r of ROWS.slice(0, rows.taps)) a.emit("add", r, VB);
        a.emit("add", rdx, VB);
      });
      if (tail) step(0, tail);
      else for (let j = 0; j < shape.rest; j++) step(j * 4, undefined, true);
      addImmediate(a, "add", rdx, shape.rest * 4);
      a.emit("add", r8, 8 * rows.taps);
    });
  });
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}
