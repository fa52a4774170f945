/**
 * GEMM level 1: the cache-friendly loop order i-k-j, scalar.
 *
 * @module
 */
import { type Assembler, dword, r10, r11, r8, r9, rax, rcx, rdx, rsi } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { Vec } from "../vec.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/**
 * Level 1: for each row i of C, scale it by beta, then for each k add
 * alpha·A[i][k]·B[k][:] along the row: unit-stride on B and C, scalar.
 */
export function emitIkjGemm(a: Assembler, s: GemmSpec): void {
  const v = new Vec(a, { level: "scalar", lanes: 1, nregs: 16, fma: false, vex: false, bits: 128 });
  const rA = r8, rB0 = r9, rC = r10, rAp = r11, rB = rsi, rCj = rdx, rI = rax, rP = rcx;
  loadPointer(a, rA, ARG.A);
  loadPointer(a, rB0, ARG.B);
  loadPointer(a, rC, ARG.C);
  const aRow = s.transA ? 4 : s.lda * 4, aCol = s.transA ? s.lda * 4 : 4;
  const bRow = s.transB ? 4 : s.ldb * 4, bCol = s.transB ? s.ldb * 4 : 4;
  const X = 0, T = 1, ALPHA = 2, BETA = 3, C = 4;
  if (s.alpha !== 1) v.constant(ALPHA, s.alpha);
  if (s.beta !== 0 && s.beta !== 1) v.constant(BETA, s.beta);
  if (s.beta === 0) v.zero(C);
  countedLoop(a, rI, s.m, () => {
    // C row *= beta
    if (s.beta !== 1) {
      a.emit("mov", rCj, rC);
      countedLoop(a, rP, s.n, () => {
        if (s.beta !== 0) {
          a.emit("movss", v.x(C), dword(rCj, 0));
          a.emit("mulss", v.x(C), v.x(BETA));
        }
        a.emit("movss", dword(rCj, 0), v.x(C));
        a.emit("add", rCj, 4);
      });
    }
    a.emit("mov", rAp, rA);
    a.emit("mov", rB, rB0);
    a.emit("push", rI);
    countedLoop(a, rP, s.k, () => {
      a.emit("movss", v.x(X), dword(rAp, 0));
      if (s.alpha !== 1) a.emit("mulss", v.x(X), v.x(ALPHA));
      a.emit("mov", rCj, rC);
      a.emit("push", rB);
      countedLoop(a, rI, s.n, () => {
        a.emit("movss", v.x(T), dword(rB, 0));
        a.emit("mulss", v.x(T), v.x(X));
        a.emit("addss", v.x(T), dword(rCj, 0));
        a.emit("movss", dword(rCj, 0), v.x(T));
        a.emit("add", rB, bCol);
        a.emit("add", rCj, 4);
      });
      a.emit("pop", rB);
      a.emit("add", rAp, aCol);
      a.emit("add", rB, bRow);
    });
    a.emit("pop", rI);
    a.emit("add", rA, aRow);
    addImmediate(a, "add", rC, s.ldc * 4);
  });
  a.emit("ret");
}
