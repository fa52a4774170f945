/**
 * The batchNorm kernel: per plane, a = γ·(1/√(var + ε)) and b = β − mean·a
 * in scalar f32 (ONNX Runtime's order), then y = x·a + b (one FMA) over the
 * plane's vectors, and its tail.
 *
 * @module
 */
import {
  Assembler,
  dword,
  type Mem,
  type Program,
  r10,
  r11,
  r12,
  r13,
  r8,
  r9,
  rax,
  rcx,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { rowShape, rowTail } from "../columns.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { BATCHNORM_ARG, type BatchNormSpec } from "./read.ts";

/** A batchNorm plan: the vector level. */
export interface BatchNormPlan extends KernelPlan {
  isa: VecLevel;
}

/** The plan at `level`. */
export function planBatchNorm(s: BatchNormSpec, level: VecLevel): BatchNormPlan {
  return {
    isa: level,
    workspaceBytes: 0,
    description: `${level} x·a + b per plane${
      s.activation ? `, ${UNARY_OPS[s.activation.op].name}` : ""
    }`,
  };
}

const USED: Reg[] = [r12, r13];
const A = 0, B = 1, T = 2, U = 4;

/** Emits `void kernel(args)`. */
export function generateBatchNorm(
  s: BatchNormSpec,
  p: BatchNormPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  saveRegisters(a, USED);
  loadPointer(a, rsi, BATCHNORM_ARG.X);
  loadPointer(a, rdx, BATCHNORM_ARG.Y);
  loadPointer(a, r8, BATCHNORM_ARG.SCALE);
  loadPointer(a, r9, BATCHNORM_ARG.BIAS);
  loadPointer(a, r10, BATCHNORM_ARG.MEAN);
  loadPointer(a, r11, BATCHNORM_ARG.VAR);
  const shape = rowShape(v, s.plane);
  const tail = rowTail(v, shape);
  const VB = shape.vectorBytes;
  /** Scalar lane 0: dst = dst op src. */
  const ss = (op: string, dst: number, src: number | Mem) => {
    const from = typeof src === "number" ? v.x(src) : src;
    if (v.isa.vex) a.emit(`v${op}`, v.x(dst), v.x(dst), from);
    else a.emit(op, v.x(dst), from);
  };
  const eps = dword(a.constant(new Float32Array([s.epsilon]), 4));
  // The activation's result and registers: everything past a, b and the value.
  const def = s.activation ? UNARY_OPS[s.activation.op] : null;
  // (Not the AVX2 tail's mask register: the shape keeps it out of its list.)
  const OUT = 3, pool = shape.registers.filter((r) => r > OUT);
  const one = dword(a.constant(new Float32Array([1]), 4));
  countedLoop(a, r12, s.n, () => {
    a.emit("xor", rcx, rcx); // parameter offset of the channel
    countedLoop(a, r13, s.c, () => {
      // a = γ · (1/√(var + ε)); b = β − mean·a, in f32 as ONNX Runtime computes them.
      v.loadScalarMem(T, dword(r11, 0, rcx, 1));
      ss("addss", T, eps);
      ss("sqrtss", T, T);
      v.loadScalarMem(A, one);
      ss("divss", A, T);
      ss("mulss", A, dword(r8, 0, rcx, 1));
      v.loadScalarMem(B, dword(r10, 0, rcx, 1));
      ss("mulss", B, A);
      v.loadScalarMem(T, dword(r9, 0, rcx, 1));
      ss("subss", T, B);
      v.storeScalarMem(dword(rsp, -4), A);
      v.storeScalarMem(dword(rsp, -8), T);
      v.broadcast(A, rsp, -4);
      v.broadcast(B, rsp, -8);
      const step = (disp: number, t?: Parameters<typeof v.load>[3], one = false) => {
        if (one) v.loadScalar(T, rsi, disp);
        else v.load(T, rsi, disp, t);
        v.fmadd(T, T, A, B);
        let r = T;
        if (def) {
          def.emit(new Lanes(v, pool, [2, 3, 4]), OUT, T, s.activation!.params);
          r = OUT;
        }
        if (one) v.storeScalar(rdx, disp, r);
        else v.store(rdx, disp, r, t);
      };
      const full = shape.full;
      countedLoop(a, rax, Math.floor(full / U), () => {
        for (let u = 0; u < U; u++) step(u * VB);
        a.emit("add", rsi, U * VB);
        a.emit("add", rdx, U * VB);
      });
      for (let u = 0; u < full % U; u++) step(u * VB);
      addImmediate(a, "add", rsi, (full % U) * VB);
      addImmediate(a, "add", rdx, (full % U) * VB);
      if (tail) step(0, tail);
      else for (let i = 0; i < shape.rest; i++) step(i * 4, undefined, true);
      if (tail || shape.rest) {
        addImmediate(a, "add", rsi, shape.rest * 4);
        addImmediate(a, "add", rdx, shape.rest * 4);
      }
      a.emit("add", rcx, 4);
    });
    addImmediate(a, "add", rsi, (s.channels - s.c) * s.plane * 4);
    addImmediate(a, "add", rdx, (s.channels - s.c) * s.plane * 4);
  });
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}
