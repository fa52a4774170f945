/**
 * Cache-blocked GEMM with packing (the Goto/BLIS structure), for shapes whose
 * operands do not fit the caches:
 *
 * ```
 * for jc in N by NC:              B block kc×nc packed into NR-wide panels (L2)
 *   for pc in K by KC:
 *     pack B[pc.., jc..]
 *     for ir in M by MR:          A micro-panel mr×kc packed (L1)
 *       pack A[ir.., pc..]
 *       for jr in nc by NR:       microkernel on (A panel, B panel) → C tile
 * ```
 *
 * Loops run on registers; the strides, transposes, alpha/beta and edge sizes
 * are generation-time constants. Untransposed A is packed as whole rows with a
 * padded stride (vector copies), transposed A as groups of MR floats per k. The microkernel is one subroutine: its k
 * loop runs kc steps, its C update applies beta on the first K block only,
 * and edge tiles (zero-padded in the packs) go through a scalar update of
 * just their valid mr×nr part.
 *
 * @module
 */
import {
  type Assembler,
  dword,
  GP32,
  GP8,
  qword,
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
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import { Vec, type VecIsa } from "../vec.ts";
import {
  columnGroups,
  emitMicrokernel,
  emitTileUpdate,
  type MicrokernelSpec,
} from "./microkernel.ts";
import {
  emitCopyRows,
  emitTransposeCopy,
  emitTransposePanel16,
  type PackRegs,
  type TransposeRegs,
} from "./pack.ts";
import { ARG, type GemmSpec } from "./spec.ts";

/** Blocking of a packed GEMM. */
export interface PackedPlan {
  /** Microkernel rows. */
  mr: number;
  /** Microkernel columns (a multiple of the vector lanes). */
  nr: number;
  /** K block (A micro-panel mr×kc stays in L1). */
  kc: number;
  /** N block, a multiple of nr (B block kc×nc stays in L2). */
  nc: number;
  /** k steps per microkernel loop iteration (a power of two). */
  unroll: number;
  /** Bytes ahead to prefetch in the B panel (0: none). */
  prefetchB?: number;
  /** Prefetch each C tile before its k loop. */
  prefetchC?: boolean;
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Row stride (floats) of a packed A panel of untransposed A: the block's kc
 * plus 16, so consecutive rows never share cache sets however A's own
 * leading dimension aliases.
 */
export function packedARowStride(p: PackedPlan): number {
  return Math.ceil(p.kc / 16) * 16 + 16;
}

/** Workspace layout of a packed GEMM: packed B block, packed A panel, edge tile. */
export function packedWorkspace(
  p: PackedPlan,
): { bp: number; ap: number; tile: number; bytes: number } {
  const bp = 0;
  // 16 rows of slack: the transposing pack writes whole blocks of 16 k steps.
  const ap = align64(p.kc * p.nc * 4 + 16 * p.nr * 4);
  const tile = ap + align64(Math.max(p.kc, packedARowStride(p)) * p.mr * 4);
  return { bp, ap, tile, bytes: tile + align64(p.mr * p.nr * 4) };
}

// Frame slots (bytes from rsp).
const S = {
  A0: 0,
  C0: 8,
  BJC: 16,
  CJC: 24,
  NCREM: 32,
  NC: 40,
  BPC: 48,
  APC: 56,
  KREM: 64,
  AIR: 72,
  CIR: 80,
  MREM: 88,
};
const FRAME = 96;
const USED = [rbx, rbp, r12, r13, r14, r15];

/** Emits `void gemm(args)` with blocking and packing. */
export function emitPackedGemm(a: Assembler, isa: VecIsa, s: GemmSpec, p: PackedPlan): void {
  if (isa.lanes === 1) throw new Error("the packed GEMM needs a vector level");
  if (p.nr % isa.lanes !== 0 || p.nc % p.nr !== 0) {
    throw new Error("nr must be whole vectors, nc whole panels");
  }
  const v = new Vec(a, isa);
  const ws = packedWorkspace(p);
  const { mr: MR, nr: NR, kc: KC, nc: NC } = p;
  const aRowB = s.transA ? 4 : s.lda * 4, aColB = s.transA ? s.lda * 4 : 4;
  const bRowB = s.transB ? 4 : s.ldb * 4, bColB = s.transB ? s.ldb * 4 : 4;
  const cRowB = s.ldc * 4;
  const aStride = packedARowStride(p);
  const mEdge = s.m % MR, nEdge = s.n % NR;
  const slot = (o: number) => qword(rsp, o);
  const rBp = r12, rAp = r13, rFirst = r14, rKc = r15, rPanel = rbx, rCt = rbp;
  const rMr = r8, rNr = r9, rNrem = r10, rEdge = r11, rPanelBytes = rdi;

  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rax, ARG.A);
  a.emit("mov", slot(S.A0), rax);
  loadPointer(a, rax, ARG.C);
  a.emit("mov", slot(S.C0), rax);
  a.emit("mov", slot(S.CJC), rax);
  loadPointer(a, rax, ARG.B);
  a.emit("mov", slot(S.BJC), rax);
  loadPointer(a, rBp, ARG.WORK);
  a.emit("lea", rAp, qword(rBp, ws.ap));
  a.emit("mov", slot(S.NCREM), s.n);
  const ukr = a.label("ukr");

  // ---- jc loop
  const jcTop = a.label("jc");
  a.bind(jcTop);
  minInto(a, rax, slot(S.NCREM), NC);
  a.emit("mov", slot(S.NC), rax);
  a.emit("mov", rax, slot(S.BJC));
  a.emit("mov", slot(S.BPC), rax);
  a.emit("mov", rax, slot(S.A0));
  a.emit("mov", slot(S.APC), rax);
  a.emit("mov", slot(S.KREM), s.k);
  a.emit("mov", rFirst, 1);

  // ---- pc loop
  const pcTop = a.label("pc");
  a.bind(pcTop);
  minInto(a, rKc, slot(S.KREM), KC);
  a.emit("mov", rPanelBytes, rKc);
  a.emit("imul", rPanelBytes, rPanelBytes, NR * 4);

  // Pack the B block: full panels while nc remains, then the edge panel.
  {
    const r: PackRegs = { src: rsi, dst: rdx, i: rax, j: rcx, t: rcx };
    const panelSrc = r9, remaining = r8;
    a.emit("mov", panelSrc, slot(S.BPC));
    a.emit("mov", r.dst, rBp);
    a.emit("mov", remaining, slot(S.NC));
    const full = a.label(), afterFull = a.label();
    a.emit("cmp", remaining, NR);
    a.emit("jb", afterFull);
    a.bind(full);
    a.emit("mov", r.src, panelSrc);
    packBPanel(v, r, s, rKc, NR, NR);
    addImmediate(a, "add", panelSrc, NR * bColB);
    a.emit("sub", remaining, NR);
    a.emit("cmp", remaining, NR);
    a.emit("jae", full);
    a.bind(afterFull);
    if (nEdge) {
      const done = a.label();
      a.emit("test", remaining, remaining);
      a.emit("jz", done);
      a.emit("mov", r.src, panelSrc);
      packBPanel(v, r, s, rKc, nEdge, NR);
      a.bind(done);
    }
  }

  // ---- ir loop
  a.emit("mov", rax, slot(S.APC));
  a.emit("mov", slot(S.AIR), rax);
  a.emit("mov", rax, slot(S.CJC));
  a.emit("mov", slot(S.CIR), rax);
  a.emit("mov", slot(S.MREM), s.m);
  const irTop = a.label("ir");
  a.bind(irTop);
  {
    const r: PackRegs = { src: rsi, dst: rdx, i: rax, j: rcx, t: rcx };
    a.emit("mov", r.src, slot(S.AIR));
    a.emit("mov", r.dst, rAp);
    a.emit("mov", rMr, MR);
    const packRows = (rows: number) => {
      if (s.transA) return emitCopyRows(v, r, rKc, rows, MR, s.lda * 4, MR * 4);
      // Untransposed A: copy rows whole (vectors); kc is KC or the last block's K % KC.
      const kLast = s.k % KC;
      if (kLast === 0 || s.k < KC) {
        return emitCopyRows(
          v,
          r,
          rows,
          Math.min(KC, s.k),
          Math.min(KC, s.k),
          s.lda * 4,
          aStride * 4,
        );
      }
      const last = a.label(), done = a.label();
      a.emit("cmp", rKc, KC);
      a.emit("jb", last);
      emitCopyRows(v, r, rows, KC, KC, s.lda * 4, aStride * 4);
      a.emit("jmp", done);
      a.bind(last);
      emitCopyRows(v, r, rows, kLast, kLast, s.lda * 4, aStride * 4);
      a.bind(done);
    };
    if (mEdge) {
      const edge = a.label(), packed = a.label();
      a.emit("cmp", slot(S.MREM), MR);
      a.emit("jb", edge);
      packRows(MR);
      a.emit("jmp", packed);
      a.bind(edge);
      a.emit("mov", rMr, mEdge);
      packRows(mEdge);
      a.bind(packed);
    } else packRows(MR);
  }
  // ---- jr loop over the packed panels
  a.emit("mov", rPanel, rBp);
  a.emit("mov", rCt, slot(S.CIR));
  a.emit("mov", rNrem, slot(S.NC));
  const jrTop = a.label("jr");
  a.bind(jrTop);
  a.emit("mov", rNr, NR);
  a.emit("cmp", rNrem, NR);
  a.emit("cmovb", rNr, rNrem);
  a.emit("xor", GP32[rEdge.id], GP32[rEdge.id]);
  a.emit("cmp", rMr, MR);
  a.emit("setne", GP8[rEdge.id]);
  a.emit("cmp", rNr, NR);
  a.emit("adc", rEdge, 0);
  a.emit("mov", rsi, rAp);
  a.emit("mov", rdx, rPanel);
  a.emit("call", ukr);
  a.emit("add", rPanel, rPanelBytes);
  addImmediate(a, "add", rCt, NR * 4);
  a.emit("sub", rNrem, NR);
  a.emit("jg", jrTop);
  // next row panel
  addImmediate(a, "add", slot(S.AIR), MR * aRowB);
  addImmediate(a, "add", slot(S.CIR), MR * cRowB);
  a.emit("sub", slot(S.MREM), MR);
  a.emit("jg", irTop);
  // next K block
  a.emit("mov", rFirst, 0);
  addImmediate(a, "add", slot(S.BPC), KC * bRowB);
  addImmediate(a, "add", slot(S.APC), KC * aColB);
  a.emit("sub", slot(S.KREM), KC);
  a.emit("jg", pcTop);
  // next N block
  addImmediate(a, "add", slot(S.BJC), NC * bColB);
  addImmediate(a, "add", slot(S.CJC), NC * 4);
  a.emit("sub", slot(S.NCREM), NC);
  a.emit("jg", jcTop);

  a.emit("add", rsp, FRAME);
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");

  // ---- the microkernel subroutine: rsi = A panel, rdx = B panel, rbp = C tile,
  // r15 = kc, r14 = first, r8/r9 = valid rows/columns, r11 = edge (nonzero).
  a.align(16);
  a.bind(ukr);
  const groups = columnGroups(isa, NR, null);
  const spec: MicrokernelSpec = {
    mr: MR,
    groups,
    a: s.transA
      ? { base: rsi, rowBytes: 4, colBytes: MR * 4 }
      : { base: rsi, rowBytes: aStride * 4, colBytes: 4 },
    b: { base: rdx, rowBytes: NR * 4, colBytes: 4 },
    c: { base: rCt, rowBytes: cRowB },
    k: rKc,
    counter: rax,
    unroll: p.unroll,
    kSplit: 1,
    alpha: s.alpha,
    beta: s.beta,
    first: rFirst,
    prefetch: p.prefetchB ?? 0,
    prefetchC: p.prefetchC ?? false,
  };
  spec.epilogue = (acc, free) => {
    const edge = a.label();
    a.emit("test", rEdge, rEdge);
    a.emit("jnz", edge);
    emitTileUpdate(v, spec, acc, free);
    a.emit("ret");
    a.bind(edge);
    emitEdgeUpdate(v, s, p, ws.tile, acc, free, rBp);
    a.emit("ret");
  };
  emitMicrokernel(v, spec);
}

/** dst = min(the value in memory, limit), unsigned; clobbers rcx. */
function minInto(a: Assembler, dst: Reg, value: ReturnType<typeof qword>, limit: number): void {
  a.emit("mov", dst, value);
  a.emit("mov", rcx, limit);
  a.emit("cmp", dst, rcx);
  a.emit("cmova", dst, rcx);
}

function packBPanel(v: Vec, r: PackRegs, s: GemmSpec, kc: Reg, width: number, pad: number): void {
  if (!s.transB) emitCopyRows(v, r, kc, width, pad, s.ldb * 4, pad * 4);
  else if (v.isa.level === "avx512") {
    // r10/r11 are free while B is packed (they serve the jr loop later).
    const t: TransposeRegs = { src: r.src, dst: r.dst, rem: r.i, t: r.t, one: r11, start: r10 };
    emitTransposePanel16(v, t, kc, width, pad, s.ldb * 4, pad * 4);
  } else emitTransposeCopy(v, r, kc, width, pad, s.ldb * 4, pad * 4);
}

/**
 * Edge tile: spill the accumulators to the workspace tile, then update the
 * valid r8 rows × r9 columns of C with scalar code.
 */
function emitEdgeUpdate(
  v: Vec,
  s: GemmSpec,
  p: PackedPlan,
  tileOffset: number,
  acc: (i: number, g: number) => number,
  free: number[],
  rW: Reg,
): void {
  const a = v.a;
  const groups = p.nr / v.isa.lanes;
  const rT = rsi, rC = rdx, rRows = rax, rJ = rcx;
  a.emit("lea", rT, qword(rW, tileOffset));
  for (let i = 0; i < p.mr; i++) {
    for (let g = 0; g < groups; g++) v.store(rT, (i * p.nr + g * v.isa.lanes) * 4, acc(i, g));
  }
  const [x, c, alpha, beta] = free;
  if (s.alpha !== 1) v.constant(alpha, s.alpha);
  if (s.beta !== 0 && s.beta !== 1) v.constant(beta, s.beta);
  const scalarLoop = (first: boolean) => {
    const effBeta = first ? s.beta : 1;
    a.emit("mov", rC, rbp);
    a.emit("mov", rRows, r8);
    const row = a.label(), col = a.label();
    a.bind(row);
    a.emit("xor", GP32[rJ.id], GP32[rJ.id]);
    a.bind(col);
    v.a.emit(v.isa.vex ? "vmovss" : "movss", v.x(x), dword(rT, 0, rJ, 4));
    if (s.alpha !== 1) v.scalarOp("mul", x, alpha);
    if (effBeta !== 0) {
      v.a.emit(v.isa.vex ? "vmovss" : "movss", v.x(c), dword(rC, 0, rJ, 4));
      if (effBeta !== 1) v.scalarOp("mul", c, beta);
      v.scalarOp("add", x, c);
    }
    v.a.emit(v.isa.vex ? "vmovss" : "movss", dword(rC, 0, rJ, 4), v.x(x));
    a.emit("inc", rJ);
    a.emit("cmp", rJ, r9);
    a.emit("jb", col);
    addImmediate(a, "add", rT, p.nr * 4);
    addImmediate(a, "add", rC, s.ldc * 4);
    a.emit("dec", rRows);
    a.emit("jnz", row);
  };
  const accumulate = a.label(), done = a.label();
  a.emit("test", r14, r14);
  a.emit("jz", accumulate);
  scalarLoop(true);
  a.emit("jmp", done);
  a.bind(accumulate);
  scalarLoop(false);
  a.bind(done);
}
