/**
 * The strided copy's transpose pass (AVX-512 and AVX2): where the innermost
 * dim is contiguous in y but strided in x, and the dim outside it
 * contiguous in x (y[i][j] = x[i + j·ldx]: a packer's Bᵀ, weights turned
 * channel-last), 16×16 blocks (8×8 at AVX2) are vector loads down x, a
 * transpose in registers (../transpose.ts) and vector stores along y, edges
 * masked (AVX2: moved a float at a time), where the element-by-element pass
 * moves one float per instruction pair. Measured on Zen 5 at AVX2
 * (`NJIT_MAX_ISA=avx2 deno run -A bench/line_offsets.ts`), 2048×2048:
 * element by element 29.7 ms.
 *
 * When x's columns lie whole lines apart (ldx a multiple of 16) and x starts
 * off a line, the bands of i start at x's lines instead: a first band of
 * the 1-15 i up to the line, whole bands, a last band of what is left (their
 * counts known at run time), so no load straddles two lines. Measured on
 * Zen 5 (scratch, one process), 2048×2048: x 16 bytes into a line took
 * 2267-2293 µs, on a line 1367-1929; at AVX2 (`NJIT_MAX_ISA=avx2 deno run
 * -A bench/line_offsets.ts`) 1.40-1.47× the time on a line.
 *
 * @module
 */
import {
  type Assembler,
  eax,
  KREG,
  ptr,
  qword,
  r10,
  r11,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { transpose16, transpose8 } from "../transpose.ts";
import type { Vec } from "../vec.ts";
import type { CopySpec } from "./spec.ts";

/** Whether the innermost two dims of `s` are a transpose the pass serves at this level. */
export function transposeServes(s: CopySpec, level: string): boolean {
  const n = s.dims.length;
  return (level === "avx512" || level === "avx2") && n >= 2 && s.yStrides[n - 1] === 1 &&
    s.xStrides[n - 1] !== 1 && s.xStrides[n - 2] === 1 && s.yStrides[n - 2] !== 1;
}

/**
 * Whether the bands may start at x's lines (see the module): ldx a
 * multiple of 16, 32+ rows (AVX2: the first and last band a float at a
 * time).
 */
export function transposeLines(level: string, o: { rows: number; ldx: number }): boolean {
  return (level === "avx512" || level === "avx2") && o.ldx % 16 === 0 && o.rows >= 32 &&
    o.ldx * 4 * 16 < 2 ** 31;
}

/**
 * y[i·ldy + j] = x[i + j·ldx] for i < rows, j < cols, x at rsi and y at
 * rdx (both kept); r8-r11, rcx, rdi, rax and k1, k2 are clobbered.
 */
export function emitTransposePass(
  a: Assembler,
  v: Vec,
  o: { rows: number; cols: number; ldx: number; ldy: number },
): void {
  const { rows, cols, ldx, ldy } = o;
  // AVX2's bands are 16 i tall too (two 8×8 blocks a column block): each
  // line of x read whole while it is in L1.
  const L = v.isa.lanes, wide = L === 16, H = 16;
  const mask = (k: number, lanes: number) => {
    a.emit("mov", eax, (1 << lanes) - 1);
    a.emit("kmovw", KREG[k], eax);
  };
  /**
   * One block of `ni` i × `nj` j at x r10 + dx, y r11 + dy (bytes); ni
   * "run": as many as the qword at [rsp] says (1-15), k1 set to them.
   */
  const block = (ni: number | "run", nj: number, dx = 0, dy = 0) => {
    if (!wide && (ni !== L || nj !== L)) return edge(ni, nj, dx, dy);
    const masked = ni === "run" || ni < L;
    if (ni !== "run" && ni < L) mask(1, ni);
    for (let jj = 0; jj < nj; jj++) {
      const at = ptr(r10, dx + jj * ldx * 4);
      if (masked) a.emit("vmovups", v.r(jj).k(KREG[1]).z, at);
      else a.emit("vmovups", v.r(jj), at);
    }
    const out = wide ? transpose16(v) : transpose8(v);
    if (nj < L) mask(2, nj);
    rowsOf(ni, (ii) => {
      const at = ptr(r11, dy + ii * ldy * 4);
      if (nj < L) a.emit("vmovups", at.k(KREG[2]), v.r(out[ii]));
      else a.emit("vmovups", at, v.r(out[ii]));
    });
  };
  /**
   * body(ii) for each of a block's `ni` rows of y; ni "run": for ii below
   * the qword at [rsp] (1-15), each row past it skipped at run time.
   */
  const rowsOf = (ni: number | "run", body: (ii: number) => void) => {
    for (let ii = 0; ii < (ni === "run" ? H - 1 : ni); ii++) {
      const skip = a.label();
      if (ni === "run") {
        a.emit("cmp", qword(rsp, 0), ii);
        a.emit("jbe", skip);
      }
      body(ii);
      a.bind(skip);
    }
  };
  /**
   * AVX2: a block short of 8 i or 8 j, a float at a time; ni "run": the i
   * below the qword at [rsp] (1-15), each row of y skipped past it.
   */
  const edge = (ni: number | "run", nj: number, dx: number, dy: number) =>
    rowsOf(ni, (ii) => {
      for (let jj = 0; jj < nj; jj++) {
        a.emit("vmovss", v.x(0), ptr(r10, dx + (jj * ldx + ii) * 4).withSize(4));
        a.emit("vmovss", ptr(r11, dy + (ii * ldy + jj) * 4).withSize(4), v.x(0));
      }
    });
  /** A column block of a band of `ni` i (up to 16): its blocks of up to L i, top down. */
  const blocks = (ni: number | "run", nj: number) => {
    if (ni === "run") return block(ni, nj);
    for (let i0 = 0; i0 < ni; i0 += L) block(Math.min(L, ni - i0), nj, 4 * i0, i0 * ldy * 4);
  };
  /** Every block of a band of `ni` i (x at r8, y at r9). */
  const band = (ni: number | "run") => {
    if (ni === "run" && wide) {
      a.emit("mov", rcx, qword(rsp, 0));
      v.runTail(1, eax);
    }
    a.emit("mov", r10, r8);
    a.emit("mov", r11, r9);
    const full = Math.floor(cols / L), rest = cols % L;
    countedLoop(a, rcx, full, () => {
      blocks(ni, L);
      addImmediate(a, "add", r10, L * ldx * 4);
      addImmediate(a, "add", r11, L * 4);
    });
    if (rest) blocks(ni, rest);
  };
  const onLine = a.label(), done = a.label();
  a.emit("mov", r8, rsi);
  a.emit("mov", r9, rdx);
  if (transposeLines(v.isa.level, o)) {
    // h = the i up to x's next line (rdi = the bytes); then whole bands, then the rest.
    a.emit("mov", rdi, rsi);
    a.emit("neg", rdi);
    a.emit("and", rdi, 63);
    a.emit("jz", onLine);
    a.emit("shr", rdi, 2);
    a.emit("push", rdi);
    band("run");
    a.emit("mov", rax, qword(rsp, 0));
    a.emit("lea", r8, ptr(r8, 0, rax, 4));
    a.emit("imul", rax, rax, ldy * 4);
    a.emit("add", r9, rax);
    a.emit("mov", rdi, rows);
    a.emit("sub", rdi, qword(rsp, 0)); // i left
    const bands = a.label(), bandsDone = a.label();
    a.emit("sub", rdi, H);
    a.emit("jb", bandsDone);
    a.bind(bands);
    a.emit("mov", qword(rsp, 0), rdi);
    band(H);
    a.emit("mov", rdi, qword(rsp, 0));
    addImmediate(a, "add", r8, H * 4);
    addImmediate(a, "add", r9, H * ldy * 4);
    a.emit("sub", rdi, H);
    a.emit("jae", bands);
    a.bind(bandsDone);
    a.emit("add", rdi, H); // 0-15 left
    a.emit("mov", qword(rsp, 0), rdi);
    const none = a.label();
    a.emit("test", rdi, rdi);
    a.emit("jz", none);
    band("run");
    a.bind(none);
    a.emit("pop", rdi);
    a.emit("jmp", done);
  }
  a.bind(onLine);
  const full = Math.floor(rows / H), rest = rows % H;
  countedLoop(a, rdi, full, () => {
    band(H);
    addImmediate(a, "add", r8, H * 4);
    addImmediate(a, "add", r9, H * ldy * 4);
  });
  if (rest) band(rest);
  a.bind(done);
}
