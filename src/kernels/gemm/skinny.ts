/**
 * GEMM for a few rows of C (m = 1..8, as registers allow) against a large B: bandwidth-bound, so
 * the loop order serves the memory system. Every element of B is used m
 * times at most; B is read once, front to back, u rows at a time (u
 * sequential streams the hardware prefetchers follow), while C's rows stay
 * in L1 and take u FMAs per load and store.
 *
 * ```
 * C[0..m) = beta·C
 * for k by u:   a[i][t] = A[i][k+t] broadcast
 *   for j by vector:  c = C[i][j] + Σ_t a[i][t]·B[k+t][j]  (each B vector loaded once for all rows)
 * C[0..m) = alpha·C   (beta = 0 or alpha = 1 only: see the planner)
 * ```
 *
 * AVX-512, rows of B of whole vectors a whole number of lines apart: when
 * B starts off a cache line, the columns run along B's lines (the first and
 * last vector masked), so no load of B straddles two lines (`skinnyLines`).
 *
 * @module
 */
import {
  type Assembler,
  GP32,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rcx,
  rdx,
  type Reg,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { LineReads } from "../columns.ts";
import { type Tail, Vec, type VecIsa } from "../vec.ts";
import { emitScaleRows } from "./scale.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** The k steps per pass for a row count and level; 0 when even one does not fit. */
export function skinnyUnroll(isa: VecIsa, m: number): number {
  // Registers: m·u broadcasts of A, u rows of B, one C temporary per row, alpha, mask.
  for (const u of [4, 2, 1]) if (m * u + u + m + 2 <= isa.nregs) return u;
  return 0;
}

/**
 * Whether the columns may run along B's lines: AVX-512, n and ldb multiples
 * of 16. Each C element still sums over k in the same order (lanes are
 * independent), so the bits do not change. Measured on Zen 5 (scratch, one
 * process, A, B and C on lines or 16 bytes into one, in turns): 1×4096×4096
 * 2213 µs on lines, 2503 16 bytes in.
 */
export function skinnyLines(isa: VecIsa, s: GemmSpec): boolean {
  return isa.level === "avx512" && s.n % 16 === 0 && s.n >= 32 && s.ldb % 16 === 0;
}

/** Emits `void gemm(args)` for a few rows (see {@link skinnyUnroll}), B untransposed, at an AVX level. */
export function emitSkinnyGemm(a: Assembler, isa: VecIsa, s: GemmSpec): void {
  const u = skinnyUnroll(isa, s.m);
  if (s.transB || u === 0 || !isa.vex || (s.alpha !== 1 && s.beta !== 0)) {
    throw new Error("skinny GEMM: few rows, B untransposed, AVX levels, alpha = 1 or beta = 0");
  }
  const v = new Vec(a, isa);
  const lanes = isa.lanes, bytes = lanes * 4;
  const rA = r8, rB = r9, rC = r10, rJ = rcx, rK = r11;
  loadPointer(a, rA, ARG.A);
  loadPointer(a, rB, ARG.B);
  loadPointer(a, rC, ARG.C);
  const full = Math.floor(s.n / lanes), rest = s.n % lanes;
  const aCol = s.transA ? s.lda * 4 : 4, aRow = s.transA ? 4 : s.lda * 4;
  const M = s.m;
  // Register map: [A broadcasts m·u][B rows u][C temporaries m][alpha][beta/mask]
  const aReg = (i: number, t: number) => i * u + t;
  const bReg = (t: number) => M * u + t;
  const cReg = (i: number) => M * u + u + i;
  const ALPHA = M * u + u + M, AUX = ALPHA + 1;
  let tail: Tail | undefined;
  if (rest) tail = v.tail(rest, 1, AUX);

  // Columns: a vector loop over the full vectors, then the masked tail; or,
  // along B's lines, the first line (masked), the lines between, the last
  // (masked), rJ from −(B mod 64).
  const lines = skinnyLines(isa, s) ? new LineReads(v, null) : null;
  let alongLines = false;
  const columns = (body: (j: Reg | null, disp: number, t?: Tail) => void) => {
    if (alongLines) {
      lines!.startIndex(rJ, rB);
      body(rJ, 0, lines!.first);
      addImmediate(a, "add", rJ, bytes);
      countedLoop(a, rax, full - 1, () => {
        body(rJ, 0);
        addImmediate(a, "add", rJ, bytes);
      });
      return body(rJ, 0, lines!.last);
    }
    a.emit("xor", GP32[rJ.id], GP32[rJ.id]);
    countedLoop(a, rax, full, () => {
      body(rJ, 0);
      addImmediate(a, "add", rJ, bytes);
    });
    if (tail) body(null, full * bytes, tail);
  };
  const at = (base: Reg, j: Reg | null, disp: number) => ptr(base, disp, j, 1);

  // C = beta·C first; the passes below add into it. rK and rax are free until then.
  emitScaleRows(
    v,
    s,
    rC,
    { x: cReg(0), beta: ALPHA, row: rdx, col: rsi, i: rK, j: rax },
    tail ?? null,
  );

  // One pass over `steps` rows of B starting at rB.
  const pass = (steps: number) => {
    for (let i = 0; i < M; i++) {
      for (let t = 0; t < steps; t++) {
        v.broadcast(aReg(i, t), rA, i * aRow + t * aCol);
      }
    }
    columns((j, disp, t) => {
      for (let r = 0; r < steps; r++) v.loadMem(bReg(r), at(rB, j, disp + r * s.ldb * 4), t);
      for (let i = 0; i < M; i++) {
        const m = at(rC, j, disp + i * s.ldc * 4);
        v.loadMem(cReg(i), m, t);
        for (let r = 0; r < steps; r++) v.fma(cReg(i), aReg(i, r), bReg(r), -1);
        v.storeMem(m, cReg(i), t);
      }
    });
    addImmediate(a, "add", rA, steps * aCol);
    addImmediate(a, "add", rB, steps * s.ldb * 4);
  };
  const passes = () => {
    countedLoop(a, rK, Math.floor(s.k / u), () => pass(u));
    if (s.k % u) pass(s.k % u);
  };
  // B's rows all start as far into a line as B: its masks set once (rax, rcx clobbered).
  const passesOf = (along: boolean) => {
    alongLines = along;
    passes();
  };
  if (lines) lines.emitBothWays(rB, passesOf, { masksOnly: true });
  else passes();
  // C = alpha·(A·B), as BLAS defines it: scaling A first would overflow
  // where the product does not (A = 1e30, B = 1e-30, alpha = 1e10).
  if (s.alpha !== 1) {
    emitScaleRows(
      v,
      { ...s, beta: s.alpha },
      rC,
      { x: cReg(0), beta: ALPHA, row: rdx, col: rsi, i: rK, j: rax },
      tail ?? null,
    );
  }
  v.leave();
  a.emit("ret");
}
