/**
 * The 8-bit GEMM's machine code. With AVX-512 VNNI: tiles of 6 rows × 4
 * vectors of 16 columns, 24 int32 accumulators; per group of 4 k, the
 * tile's 4 vectors of packed B loaded once and each row's 4 bytes of A
 * broadcast, `vpdpbusd` adding the 4 products of u8 × s8 to each lane (no
 * saturation: sums wrap as int32). Column tiles outside (B's panel of 64
 * columns stays in L2 while every row tile passes), row tiles inside.
 * Without VNNI, from AVX2 up: word tiles of `vpmaddwd` (madd.ts); below
 * AVX2 a scalar triple loop (movzx, movsx, imul). Integer sums in any order
 * are the same: every plan gives the same bits.
 *
 * @module
 */
import {
  Assembler,
  byte,
  dword,
  eax,
  GP32,
  type Program,
  ptr,
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
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { Vec, vecIsa } from "../vec.ts";
import { kGroups, QGEMM_ARG, type QGemmSpec } from "./spec.ts";
import { accumulator, emitTileEpilogue } from "./epilogue.ts";
import { emitColumnTiles } from "./columns.ts";
import { AMX_COLUMNS, AMX_WORKSPACE, emitAmx } from "./amx.ts";
import { requestAmxPermission } from "../../cpu.ts";
import {
  BLOCK_CANDIDATES,
  columnCopyBytes,
  emitMadd,
  kBlocks,
  MADD_ROWS,
  maddPanelRows,
  MAX_BLOCK_GROUPS,
  widenedRowBytes,
} from "./madd.ts";
import type { VecLevel } from "../vec.ts";

/** How an 8-bit GEMM is computed. */
export interface QGemmPlan extends KernelPlan {
  /**
   * "amx": tdpbusd tiles (amx.ts); "vnni": the vpdpbusd tiles; "madd": AVX2's
   * vpmaddwd tiles on words (madd.ts); "scalar": the triple loop.
   */
  path: "amx" | "vnni" | "madd" | "scalar";
  /** Rows per tile. */
  mr: number;
  /** Vectors of 16 columns per tile (madd: 1, the grain parts split columns at). */
  nv: number;
  /** madd: rows of A widened to words at once (the workspace holds them). */
  panelRows?: number;
  /** madd: at most this many groups of 4 k per block (sums between blocks kept in C). */
  blockGroups?: number;
}

/**
 * 6 rows × 4 vectors: 24 accumulators, 4 B vectors and 2 broadcasts of A in 30 registers.
 * Measured on Zen 5 (128×3072×768, one thread, one Jit each): 6×4 634 GOPS, 8×3 628, 12×2
 * 565, 4×6 559, 3×8 484.
 */
const MR = 6, NV = 4;
/** Groups of 4 k per loop iteration (two Jits alternating: 1 805 µs, 2 772, 4 794). */
const UNROLL = 2;

/**
 * The plan: AMX tiles where the level allows them (and Linux grants the tile
 * state), else VNNI tiles where the level is AVX-512 and the CPU has VNNI,
 * else the AVX2 word tiles from AVX2 up, else the loop. Every plan gives the
 * same bits (exact int32 sums).
 */
export function planQGemm(
  s: QGemmSpec,
  level: VecLevel,
  vnni: boolean,
  amx = false,
  l2 = 0,
): QGemmPlan {
  const avx512 = level === "avx512";
  if (amx && avx512 && s.m >= AMX_MIN_ROWS && amxGranted()) {
    return {
      path: "amx",
      mr: 32,
      nv: AMX_COLUMNS / 16,
      workspaceBytes: AMX_WORKSPACE,
      description: "amx tiles of tdpbusd, blocks of 32 columns",
    };
  }
  if (avx512 && vnni) {
    return {
      path: "vnni",
      mr: MR,
      nv: NV,
      workspaceBytes: 0,
      description: `avx512 vnni ${MR}×${NV * 16} tiles of vpdpbusd`,
    };
  }
  if (level === "avx2" || avx512) return maddPlan(s, l2, MAX_BLOCK_GROUPS);
  return { path: "scalar", mr: 1, nv: 0, workspaceBytes: 0, description: "scalar loop" };
}

/** The AVX2 word tiles' plan with k blocks of at most `most` groups of 4. */
export function maddPlan(s: QGemmSpec, l2: number, most: number): QGemmPlan {
  const panelRows = maddPanelRows(s, l2, most), { blocks, groups } = kBlocks(s, most);
  return {
    path: "madd",
    mr: MADD_ROWS,
    nv: 1,
    panelRows,
    blockGroups: most,
    // Narrow B: A's bytes read as they are (no widened rows in the workspace).
    workspaceBytes: (s.narrowB ? 0 : panelRows * widenedRowBytes(s)) + columnCopyBytes(s, most),
    description:
      (s.narrowB
        ? `avx2 ${MADD_ROWS}×8 tiles of vpmaddubsw on bytes (B within ±64), ${panelRows} rows a panel`
        : `avx2 ${MADD_ROWS}×8 tiles of vpmaddwd on words, A widened ${panelRows} rows at a time`) +
      `, k in ${blocks} block${blocks > 1 ? "s" : ""} of ${4 * groups}`,
  };
}

/**
 * The tuner's other word-tile plans: k blocks of other lengths (each a
 * different plan only where it splits k differently).
 */
export function maddCandidates(s: QGemmSpec, p: QGemmPlan, l2: number): QGemmPlan[] {
  const seen = new Set([kBlocks(s, p.blockGroups!).groups]);
  const out: QGemmPlan[] = [];
  for (const most of BLOCK_CANDIDATES) {
    const g = kBlocks(s, most).groups;
    if (seen.has(g)) continue;
    seen.add(g);
    out.push(maddPlan(s, l2, most));
  }
  return out;
}

/**
 * Fewer rows leave the tiles mostly empty: a tile product costs the same for 1 row as for 16.
 * Measured on a Sapphire Rapids VM (`bench/quantized.ts`, AMX against VNNI in one process,
 * k = 768): 1 row ×0.28, 4 ×0.30, 16 ×0.90, 32 ×0.91, 64 ×0.87-1.17, 128 ×1.1-1.2, 256 ×1.2-1.4.
 */
const AMX_MIN_ROWS = 64;

let granted: boolean | undefined;
/** Whether this process may use the AMX tile state (asked of Linux once). */
function amxGranted(): boolean {
  granted ??= requestAmxPermission();
  return granted;
}

const USED: Reg[] = [rbx, rbp, r12, r13, r14, r15];
/**
 * Frame slots: the column tile loop's counter, za (int32), B's column sums, the float bias,
 * the workspace, the madd path's panel and k block loop counters and its block's offsets.
 */
const COLS = 0, ZA_SLOT = 8, SUMS_SLOT = 16, FBIAS_SLOT = 24, WORK_SLOT = 32, PANELS_SLOT = 40;
const BLOCKS_SLOT = 48, A_OFFSET_SLOT = 56, B_OFFSET_SLOT = 64, FRAME = 80;

/** Emits `void kernel(args)`. */
export function generateQGemm(
  s: QGemmSpec,
  plan: QGemmPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rsi, QGEMM_ARG.A);
  loadPointer(a, rdx, QGEMM_ARG.B);
  loadPointer(a, r8, QGEMM_ARG.C);
  if (s.bias) loadPointer(a, rbp, QGEMM_ARG.BIAS);
  if (s.aZero) {
    // za as an int32 (the byte read once, as the call runs) and B's column sums, in the frame.
    loadPointer(a, rcx, QGEMM_ARG.AZERO);
    a.emit("movzx", eax, byte(rcx, 0));
    a.emit("mov", dword(rsp, ZA_SLOT), eax);
    a.emit("lea", rcx, ptr(rdx, kGroups(s.k) * s.bStride * 4)); // after packed B's bytes
    a.emit("mov", qword(rsp, SUMS_SLOT), rcx);
  }
  if (s.floatBias) {
    loadPointer(a, rbx, QGEMM_ARG.FBIAS); // the VNNI path's; the scalar loop's in the frame
    a.emit("mov", qword(rsp, FBIAS_SLOT), rbx);
  }
  if (plan.path === "amx" || plan.path === "madd") {
    loadPointer(a, rax, WORKSPACE_SLOT);
    a.emit("mov", qword(rsp, WORK_SLOT), rax);
  }
  // Last: rdi is the argument block until here.
  if (s.scale) loadPointer(a, rdi, QGEMM_ARG.SCALE);
  if (s.m > 0 && s.n > 0) {
    if (plan.path === "amx") emitAmx(a, s, { za: ZA_SLOT, work: WORK_SLOT, cols: COLS });
    else if (plan.path === "vnni") emitVnni(a, s, plan);
    else if (plan.path === "madd") {
      emitMadd(a, s, plan.panelRows!, plan.blockGroups!, {
        za: ZA_SLOT,
        work: WORK_SLOT,
        panels: PANELS_SLOT,
        blocks: BLOCKS_SLOT,
        aOffset: A_OFFSET_SLOT,
        bOffset: B_OFFSET_SLOT,
      });
    } else emitScalar(a, s);
  }
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  // The scalar loop's code is SSE: no vzeroupper (an illegal instruction without AVX).
  if (plan.path !== "scalar") a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}

/** rsi = A, rdx = packed B, r8 = C. */
function emitVnni(a: Assembler, s: QGemmSpec, p: QGemmPlan): void {
  const groups = kGroups(s.k), bRow = s.bStride * 4;
  const acc = accumulator; // the epilogue's registers (p.nv is its NV)
  const bv = (j: number) => ZMM[24 + j], A0 = ZMM[28], A1 = ZMM[29];
  /** One tile of `rows` × `nv` vectors: A at r12, B at r10, C at r11; `masked`: its last vector. */
  const tile = (rows: number, nv: number, masked: boolean) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < nv; j++) a.emit("vpxord", acc(i, j), acc(i, j), acc(i, j));
    }
    a.emit("mov", r13, r12);
    a.emit("mov", r14, r10);
    const unroll = UNROLL;
    const step = (u: number) => {
      for (let j = 0; j < nv; j++) {
        a.emit("vmovdqu32", bv(j), ptr(r14, u * bRow + j * 64).withSize(64));
      }
      for (let i = 0; i < rows; i++) {
        const t = i % 2 ? A1 : A0;
        a.emit("vpbroadcastd", t, dword(r13, i * s.lda + 4 * u));
        for (let j = 0; j < nv; j++) a.emit("vpdpbusd", acc(i, j), t, bv(j));
      }
    };
    const whole = Math.floor(groups / unroll), left = groups % unroll;
    countedLoop(a, rax, whole, () => {
      for (let u = 0; u < unroll; u++) step(u);
      a.emit("add", r13, 4 * unroll);
      addImmediate(a, "add", r14, bRow * unroll);
    });
    for (let u = 0; u < left; u++) step(u);
    emitTileEpilogue(a, s, rows, nv, masked, ZA_SLOT);
  };
  /** Every row tile of one column tile (A from rsi, C from r9, B at r10). */
  const rowsOf = (nv: number, masked: boolean) => {
    a.emit("mov", r12, rsi);
    a.emit("mov", r11, r9);
    const full = Math.floor(s.m / p.mr), rest = s.m % p.mr;
    countedLoop(a, r15, full, () => {
      tile(p.mr, nv, masked);
      addImmediate(a, "add", r12, p.mr * s.lda);
      addImmediate(a, "add", r11, p.mr * s.ldc * 4);
    });
    if (rest) tile(rest, nv, masked);
  };
  emitColumnTiles(a, s, p.nv, COLS, rowsOf);
}

/** rsi = A, rdx = packed B, r8 = C: for each row and column, Σ over 4-byte groups. */
function emitScalar(a: Assembler, s: QGemmSpec): void {
  const groups = kGroups(s.k);
  // r9: A row, r10: C row, r11: column index·4 (B's column offset), r12d: the sum; eax and
  // r8d the products' factors (r8 is free once C's row is in r10).
  const sum = GP32[12], t = GP32[8];
  a.emit("mov", r9, rsi);
  a.emit("mov", r10, r8);
  countedLoop(a, r15, s.m, () => {
    a.emit("xor", r11, r11);
    countedLoop(a, r14, s.n, () => {
      if (s.bias) a.emit("mov", sum, dword(rbp, 0, r11, 1));
      else a.emit("xor", r12, r12);
      a.emit("mov", r13, r9);
      a.emit("lea", rbx, ptr(rdx, 0, r11, 1));
      countedLoop(a, rcx, groups, () => {
        for (let q = 0; q < 4; q++) {
          a.emit("movzx", eax, byte(r13, q));
          a.emit("movsx", t, byte(rbx, q));
          a.emit("imul", eax, t);
          a.emit("add", sum, eax);
        }
        a.emit("add", r13, 4);
        addImmediate(a, "add", rbx, s.bStride * 4);
      });
      if (s.aZero) {
        a.emit("mov", rax, qword(rsp, SUMS_SLOT));
        a.emit("mov", eax, dword(rax, 0, r11, 1));
        a.emit("imul", eax, dword(rsp, ZA_SLOT));
        a.emit("sub", sum, eax);
      }
      if (s.scale) {
        a.emit("cvtsi2ss", XMM[0], sum);
        a.emit("mulss", XMM[0], s.scale === 2 ? dword(rdi, 0, r11, 1) : dword(rdi, 0));
        if (s.floatBias) {
          a.emit("mov", rax, qword(rsp, FBIAS_SLOT));
          a.emit("addss", XMM[0], dword(rax, 0, r11, 1));
        }
        if (s.activation) {
          const act = s.activation, v = new Vec(a, vecIsa("scalar"));
          const temps = Array.from({ length: 14 }, (_, t) => t + 2);
          UNARY_OPS[act.op].emit(new Lanes(v, temps), 1, 0, act.params);
          a.emit("movss", XMM[0], XMM[1]);
        }
        a.emit("movss", dword(r10, 0, r11, 1), XMM[0]);
      } else a.emit("mov", dword(r10, 0, r11, 1), sum);
      a.emit("add", r11, 4);
    });
    addImmediate(a, "add", r9, s.lda);
    addImmediate(a, "add", r10, s.ldc * 4);
  });
}
