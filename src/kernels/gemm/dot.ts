/**
 * GEMM with Bᵀ (B stored n×k, as a Linear layer keeps its weights) for a few
 * rows of C: every C[i][j] = Σ_k A[i][k]·Bᵀ[j][k] is a dot product of two
 * contiguous rows, so nothing is transposed and no workspace is needed. A
 * tile of mr rows of A × nb rows of Bᵀ keeps mr·nb vector accumulators; k
 * runs along the vector lanes (the last partial vector masked), and each
 * accumulator's lanes are summed once, at the end, four results per xmm.
 *
 * ```
 * for j by nb:                 nb rows of Bᵀ: nb sequential streams
 *   for i by mr:               A's rows stay in L1/L2 across column blocks
 *     acc[i][j] += A[i][k..k+lanes] · Bᵀ[j][k..k+lanes]   for k by lanes
 *     C[i][j..j+4) = alpha·Σlanes(acc) + beta·C             four at a time
 * ```
 *
 * AVX-512, rows of whole vectors (k, lda and ldb multiples of 16), B off a
 * cache line (as Deno places large arrays): k runs along B's lines (the
 * first and last masked), so no load of the streamed B straddles two lines
 * (A's rows, read at the same elements, stay in L1); lane l then sums the
 * elements lane l − m did, in the same order. The lanes' sum needs no
 * rotating back: it adds lanes l and l + 8, then l and l + 4, then the four
 * results in pairs, and a rotation by m only reorders operands of those
 * additions (each sum's two operands swapped at most): the same bits (see
 * dotLines).
 *
 * @module
 */
import {
  type Assembler,
  edi,
  KREG,
  ptr,
  r10,
  r11,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  vreg,
  xmmword,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { LineReads } from "../columns.ts";
import { type Tail, Vec, type VecIsa } from "../vec.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** Rows of Bᵀ up to which the dot products take them all in one block (see dotTile). */
const FEW_BT_ROWS = 12;

/** The tile of the dot-product kernel: rows of A and rows of Bᵀ per tile. */
export interface DotTile {
  mr: number;
  nb: number;
}

/**
 * Rows of A and of Bᵀ per tile: mr·nb accumulators, mr rows of A, two B
 * registers (and an AVX2 tail mask) within the register file; row tiles of
 * balanced height; at most 8 Bᵀ streams at once. At AVX-512 a Bᵀ of
 * {@link FEW_BT_ROWS} rows or fewer (over 4) and at most 64 KiB (a
 * classifier's head of 10 classes) goes in one block, every row of A read
 * once, as many rows of A a tile as the accumulators leave: Intel Xeon
 * (SPR-class), `NJIT_DOTALL=1 deno run -A bench/ab.ts --a b51e928 --b
 * ab/dot-all-bt-rows --gemm MxNxK --transB --offset 16 --out-offset 16`
 * (× the time): 64×10×1024 ×0.937, 32×10×768 ×0.925, 16×10×1024 ×0.927,
 * 64×8×1024 ×0.988, 64×12×512 ×0.997; this rule (`--a b51e928 --b 8db8bcf`)
 * 64×10×1024 ×0.934, 32×10×768 ×0.936. Each output is one accumulator's
 * lanes summed in a fixed order whatever the tile: the same bits.
 */
export function dotTile(isa: VecIsa, m: number, n = Infinity, k = Infinity): DotTile {
  const free = isa.nregs - 2 - (isa.level === "avx2" ? 1 : 0);
  const most = isa.level === "avx512" ? 6 : 3;
  const all = isa.level === "avx512" && n > 4 && n <= FEW_BT_ROWS && n * k * 4 <= 64 << 10 ? n : 0;
  const rowsMost = all ? Math.max(1, Math.min(most, Math.floor(free / (all + 1)))) : most;
  const tiles = Math.ceil(Math.max(1, m) / rowsMost);
  const mr = Math.max(1, Math.ceil(m / tiles));
  const nb = all || Math.max(1, Math.min(8, Math.floor((free - mr) / mr)));
  return { mr, nb };
}

/**
 * Whether k may run along B's lines (when it starts off one): AVX-512, k,
 * lda and ldb multiples of 16. Measured on Zen 5 (scratch, one process, A,
 * B and C on lines or 16 bytes into one, in turns): 16 bytes in took
 * 1.16-1.17× at 1×4096×4096, 1.11-1.12× at 4×4096×4096, 1.16-1.21× at
 * 8×3072×768; along B's lines, against the kernel before, B 16 bytes in
 * and A on a line, 8 or 16 bytes in: 1×4096×4096 ×1.21-1.28, 4×4096×4096
 * ×1.02-1.11.
 */
export function dotLines(isa: VecIsa, s: GemmSpec): boolean {
  return isa.level === "avx512" && s.k % 16 === 0 && s.k >= 32 && s.lda % 16 === 0 &&
    s.ldb % 16 === 0;
}

/** Emits `void gemm(args)` for op(A) = A (rows along k) and op(B) = Bᵀ, at AVX2 or AVX-512. */
export function emitDotGemm(a: Assembler, isa: VecIsa, s: GemmSpec): void {
  if (!s.transB || s.transA || (isa.level !== "avx2" && isa.level !== "avx512")) {
    throw new Error("dot GEMM: A untransposed, B transposed, AVX2 or AVX-512");
  }
  const v = new Vec(a, isa);
  const { mr: MR, nb: NB } = dotTile(isa, s.m, s.n, s.k);
  const lanes = isa.lanes, vbytes = lanes * 4;
  const full = Math.floor(s.k / lanes), rest = s.k % lanes;
  const lda4 = s.lda * 4, ldb4 = s.ldb * 4, ldc4 = s.ldc * 4;
  const rA0 = r8, rB = r9, rC = r10, rArow = r11, rCt = rsi, rK = rcx, rJ = rdx, rI = rax;
  // The line loop's counter (rdi is free until a tile's sums).
  const rI2 = rdi;
  /** Set while the columns along B's lines are emitted. */
  let lines: LineReads | null = null;

  // The k tail's mask first: v.tail writes eax, free until the loops start.
  let tail: Tail | undefined;
  if (rest) tail = v.tail(rest, 1, isa.nregs - 1);
  loadPointer(a, rA0, ARG.A);
  loadPointer(a, rB, ARG.B);
  loadPointer(a, rC, ARG.C);

  const tile = (mr: number, nb: number) => {
    const acc = (i: number, j: number) => i * nb + j;
    const aReg = (i: number) => mr * nb + i;
    const bReg = (j: number) => mr * nb + mr + (j & 1);
    for (let x = 0; x < mr * nb; x++) v.zero(x);
    // One k vector at rK + disp (rK null: disp alone).
    const step = (k: Reg | null, disp: number, t?: Tail) => {
      for (let i = 0; i < mr; i++) v.loadMem(aReg(i), ptr(rArow, disp + i * lda4, k), t);
      for (let j = 0; j < nb; j++) {
        v.loadMem(bReg(j), ptr(rB, disp + j * ldb4, k), t);
        for (let i = 0; i < mr; i++) v.fma(acc(i, j), aReg(i), bReg(j), -1);
      }
    };
    if (lines) {
      // Along the lines: the first (masked), full − 1 whole, the last (masked).
      lines.startIndex(rK, rB);
      step(rK, 0, lines.first);
      countedLoop(a, rI2, full - 1, () => {
        addImmediate(a, "add", rK, vbytes);
        step(rK, 0);
      });
      step(rK, vbytes, lines.last);
    } else if (full === 1) step(null, 0);
    else if (full > 1) {
      a.emit("xor", rK, rK);
      const top = a.label();
      a.align(16);
      a.bind(top);
      step(rK, 0);
      addImmediate(a, "add", rK, vbytes);
      a.emit("cmp", rK, full * vbytes);
      a.emit("jb", top);
    }
    if (tail) step(null, full * vbytes, tail); // none along lines: k is whole vectors

    // Lanes → sums. Temporaries: the registers of A and B, free now.
    const t1 = aReg(0), t2 = bReg(0), t3 = bReg(1);
    const X = (r: number) => vreg(128, r), Y = (r: number) => vreg(256, r);
    const toXmm = (x: number) => {
      if (isa.level === "avx512") {
        a.emit("vextractf32x8", Y(t1), v.r(x), 1);
        a.emit("vaddps", Y(x), Y(x), Y(t1));
        a.emit("vextractf32x4", X(t1), Y(x), 1);
      } else a.emit("vextractf128", X(t1), Y(x), 1);
      a.emit("vaddps", X(x), X(x), X(t1));
    };
    // [Σw, Σx, Σy, Σz] into w; the EVEX-encodable shuffles, so any register works.
    const sum4 = (w: number, x: number, y: number, z: number) => {
      a.emit("vunpcklps", X(t1), X(w), X(x));
      a.emit("vunpckhps", X(t2), X(w), X(x));
      a.emit("vaddps", X(w), X(t1), X(t2));
      a.emit("vunpcklps", X(t1), X(y), X(z));
      a.emit("vunpckhps", X(t2), X(y), X(z));
      a.emit("vaddps", X(t3), X(t1), X(t2));
      a.emit("vshufps", X(t1), X(w), X(t3), 0x44);
      a.emit("vshufps", X(t2), X(w), X(t3), 0xee);
      a.emit("vaddps", X(w), X(t1), X(t2));
    };
    const vec4 = (value: number) => xmmword(a.constant(new Float32Array(4).fill(value), 16));
    for (let i = 0; i < mr; i++) {
      for (let j0 = 0; j0 < nb; j0 += 4) {
        const cols = Math.min(4, nb - j0);
        const r = (q: number) => acc(i, j0 + Math.min(q, cols - 1));
        for (let q = 0; q < cols; q++) toXmm(acc(i, j0 + q));
        sum4(r(0), r(1), r(2), r(3));
        const x = X(r(0));
        if (s.alpha !== 1) a.emit("vmulps", x, x, vec4(s.alpha));
        const c = xmmword(rCt, i * ldc4 + j0 * 4);
        let mask: Reg | null = null;
        if (cols < 4 && isa.level === "avx512") {
          a.emit("mov", edi, (1 << cols) - 1);
          a.emit("kmovw", KREG[2], edi);
          mask = KREG[2];
        } else if (cols < 4) {
          const bits = new Int32Array(4).map((_, q) => (q < cols ? -1 : 0));
          a.emit("vmovups", X(t3), xmmword(a.constant(bits, 16)));
        }
        const load = (dst: number) => {
          if (cols === 4) a.emit("vmovups", X(dst), c);
          else if (mask) a.emit("vmovups", X(dst).k(mask).z, c);
          else a.emit("vmaskmovps", X(dst), X(t3), c);
        };
        if (s.beta === 1) {
          load(t1);
          a.emit("vaddps", x, x, X(t1));
        } else if (s.beta !== 0) {
          load(t1);
          a.emit("vfmadd231ps", x, X(t1), vec4(s.beta));
        }
        if (cols === 4) a.emit("vmovups", c, x);
        else if (mask) a.emit("vmovups", c.k(mask), x);
        else a.emit("vmaskmovps", c, X(t3), x);
      }
    }
  };

  const column = (nb: number) => {
    a.emit("mov", rArow, rA0);
    a.emit("mov", rCt, rC);
    countedLoop(a, rI, Math.floor(s.m / MR), () => {
      tile(MR, nb);
      addImmediate(a, "add", rArow, MR * lda4);
      addImmediate(a, "add", rCt, MR * ldc4);
    });
    if (s.m % MR) tile(s.m % MR, nb);
  };
  const columns = () => {
    countedLoop(a, rJ, Math.floor(s.n / NB), () => {
      column(NB);
      addImmediate(a, "add", rB, NB * ldb4);
      addImmediate(a, "add", rC, NB * 4);
    });
    if (s.n % NB) column(s.n % NB);
  };
  if (dotLines(isa, s)) {
    // Along B's lines when it starts off one (masks k3, k4: the sums' stores take k2); every
    // row of A and of B as far into a line as the first (lda, ldb multiples of 16).
    const reads = new LineReads(v, null, [3, 4]);
    reads.emitBothWays(rB, (along) => {
      lines = along ? reads : null;
      columns();
    }, { masksOnly: true });
  } else columns();
  v.leave();
  a.emit("ret");
}
