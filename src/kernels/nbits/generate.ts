/**
 * The 4-bit product's machine code. Per row of a, per group of tiles (up
 * to 4 at AVX-512, 1 at AVX2: as many as the registers hold), per block:
 * the tiles' scales s and zero points z in registers; per pair of rows
 * (k, k + 1) of W: a[k] and a[k + 1] broadcast, and per tile one 16-byte
 * load zero-extended to 16 lanes (`vpmovzxbd`), its low nibbles q[k] and
 * high nibbles q[k + 1] converted to float, w = (q − z)·s — the float
 * ONNX Runtime's dequantization makes, bit for bit — and two FMA chains per
 * column, one for even k and one for odd k. y = even + odd (+ bias). The
 * weights stream from memory once per row at 4 bits each: the point, since
 * a row's product (a decoder's step) is bound by reading them.
 *
 * Every level sums in that order; below AVX2 (no FMA) each product is
 * rounded before its add, one column at a time (SSE scalar).
 *
 * @module
 */
import {
  Assembler,
  byte,
  dword,
  eax,
  KREG,
  type Program,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r8,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
  vreg,
  XMM,
} from "../../../asm/mod.ts";
import { addImmediate, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { vecIsa, type VecLevel } from "../vec.ts";
import { blocksOf, NBITS_ARG, type NBitsSpec, TILE, tileBytes, tileScaleFloats } from "./spec.ts";

/** How a 4-bit product kernel is built. */
export interface NBitsPlan extends KernelPlan {
  /** Vector path (AVX-512 or AVX2) or the scalar one. */
  path: "avx512" | "avx2" | "scalar";
  /** Tiles a group runs together (vector paths). */
  group: number;
}

/** The plan: vectors where the level has FMA, else scalar. */
export function planNBits(_s: NBitsSpec, isa: VecLevel): NBitsPlan {
  if (isa === "avx512") {
    return { path: "avx512", group: 4, workspaceBytes: 0, description: "avx512 4 tiles of 16" };
  }
  if (isa === "avx2") {
    return { path: "avx2", group: 1, workspaceBytes: 0, description: "avx2 a tile of 16 as 2×8" };
  }
  return { path: "scalar", group: 1, workspaceBytes: 0, description: "scalar, a column at a time" };
}

const USED = [rbx, rbp, r12];
// Frame slots: the current row of a and of y, rows left.
const A_ROW = 0, Y_ROW = 8, ROWS = 16, FRAME = 48;

/** Emits `void kernel(args)`. */
export function generateNBits(
  s: NBitsSpec,
  plan: NBitsPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rax, NBITS_ARG.A);
  a.emit("mov", qword(rsp, A_ROW), rax);
  loadPointer(a, rax, NBITS_ARG.Y);
  a.emit("mov", qword(rsp, Y_ROW), rax);
  loadPointer(a, r8, NBITS_ARG.W);
  loadPointer(a, r9, NBITS_ARG.SZ);
  if (s.bias) loadPointer(a, rcx, NBITS_ARG.BIAS);
  a.emit("mov", qword(rsp, ROWS), s.m);
  const top = a.label("row");
  a.bind(top);
  if (plan.path === "scalar") emitScalarRow(a, s);
  else emitVectorRow(a, s, plan);
  addImmediate(a, "add", qword(rsp, A_ROW), 4 * s.k);
  addImmediate(a, "add", qword(rsp, Y_ROW), 4 * s.n);
  a.emit("dec", qword(rsp, ROWS));
  a.emit("jnz", top);
  if (plan.path !== "scalar") a.emit("vzeroupper");
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}

/** Columns of the part's last tile that lie inside y. */
function lastTileColumns(s: NBitsSpec): number {
  return Math.min(TILE, s.n - (s.tileStart + s.tiles - 1) * TILE);
}

/**
 * One row of a against the part's tiles (vector paths). r8/r9 the part's
 * weights and scales, rcx its bias; the row's a and y in the frame.
 */
function emitVectorRow(a: Assembler, s: NBitsSpec, plan: NBitsPlan): void {
  const wide = plan.path === "avx512";
  const isa = vecIsa(plan.path as VecLevel), bits = isa.bits;
  const halves = wide ? 1 : 2; // vectors per tile
  const V = (i: number) => vreg(bits, i);
  const G = plan.group;
  // Registers: per (tile, half) an even and an odd accumulator, a scale and a zero point.
  const slots = G * halves;
  const EVEN = (t: number) => V(t), ODD = (t: number) => V(slots + t);
  const S = (t: number) => V(2 * slots + t), Z = (t: number) => V(3 * slots + t);
  const MASK = V(4 * slots), XE = V(4 * slots + 1), XO = V(4 * slots + 2);
  const T = (i: number) => V(4 * slots + 3 + 2 * (i % 2)),
    H = (i: number) => V(4 * slots + 4 + 2 * (i % 2));
  const tb = tileBytes(s.k), tsf = tileScaleFloats(s.k, s.block) * 4;
  const blocks = blocksOf(s.k, s.block), pairsPerBlock = s.block / 2;
  const lastPairs = (s.k - (blocks - 1) * s.block) / 2;
  const laneBytes = 4 * isa.lanes;
  a.emit("vpbroadcastd", MASK, dword(a.constant(new Int32Array([15]), 4)));
  a.emit("mov", r10, r8);
  a.emit("mov", r11, r9);
  a.emit("mov", rdx, qword(rsp, Y_ROW));
  if (s.bias) a.emit("mov", rbx, rcx);
  const groupCode = (tiles: number, lastColumns: number) => {
    const n = tiles * halves;
    for (let t = 0; t < n; t++) {
      a.emit("vxorps", EVEN(t), EVEN(t), EVEN(t));
      a.emit("vxorps", ODD(t), ODD(t), ODD(t));
    }
    a.emit("mov", rax, qword(rsp, A_ROW));
    const pairs = (count: number) => {
      const unroll = count % 4 === 0 ? 4 : count % 2 === 0 ? 2 : 1;
      const body = () => {
        for (let u = 0; u < unroll; u++) {
          a.emit("vbroadcastss", XE, dword(rax, 8 * u));
          a.emit("vbroadcastss", XO, dword(rax, 8 * u + 4));
          for (let t = 0; t < n; t++) {
            const tile = Math.floor(t / halves), half = t % halves;
            const at = tile * tb + 16 * u + (TILE / halves) * half;
            const src = wide ? ptr(r10, at).withSize(16) : ptr(r10, at).withSize(8);
            a.emit("vpmovzxbd", T(t), src);
            a.emit("vpsrld", H(t), T(t), 4);
            a.emit(wide ? "vpandd" : "vpand", T(t), T(t), MASK);
            a.emit("vcvtdq2ps", T(t), T(t));
            a.emit("vcvtdq2ps", H(t), H(t));
            a.emit("vsubps", T(t), T(t), Z(t));
            a.emit("vsubps", H(t), H(t), Z(t));
            a.emit("vmulps", T(t), T(t), S(t));
            a.emit("vmulps", H(t), H(t), S(t));
            a.emit("vfmadd231ps", EVEN(t), T(t), XE);
            a.emit("vfmadd231ps", ODD(t), H(t), XO);
          }
        }
        a.emit("add", rax, 8 * unroll);
        a.emit("add", r10, 16 * unroll);
      };
      const iterations = count / unroll;
      if (iterations === 1) body();
      else {
        a.emit("mov", r12, iterations);
        const loop = a.label();
        a.bind(loop);
        body();
        a.emit("dec", r12);
        a.emit("jnz", loop);
      }
    };
    const blockCode = (count: number) => {
      for (let t = 0; t < n; t++) {
        const tile = Math.floor(t / halves), half = t % halves;
        a.emit("vmovups", S(t), ptr(r11, tile * tsf + half * laneBytes).withSize(bits / 8));
        a.emit(
          "vmovups",
          Z(t),
          ptr(r11, tile * tsf + 4 * TILE + half * laneBytes).withSize(bits / 8),
        );
      }
      pairs(count);
      a.emit("add", r11, 8 * TILE);
    };
    const fullBlocks = lastPairs === pairsPerBlock ? blocks : blocks - 1;
    if (fullBlocks > 1) {
      a.emit("mov", rdi, fullBlocks);
      const loop = a.label();
      a.bind(loop);
      blockCode(pairsPerBlock);
      a.emit("dec", rdi);
      a.emit("jnz", loop);
    } else if (fullBlocks === 1) blockCode(pairsPerBlock);
    if (lastPairs !== pairsPerBlock) blockCode(lastPairs);
    // r10 and r11 advanced through the group's first tile: on to the next group.
    addImmediate(a, "add", r10, (tiles - 1) * tb);
    addImmediate(a, "add", r11, (tiles - 1) * tsf);
    for (let t = 0; t < n; t++) {
      const tile = Math.floor(t / halves), half = t % halves;
      const col = tile * TILE + half * isa.lanes;
      a.emit("vaddps", EVEN(t), EVEN(t), ODD(t));
      // The columns of this vector inside y (the group's last tile may be partial).
      const valid = tile === tiles - 1
        ? Math.min(isa.lanes, lastColumns - half * isa.lanes)
        : isa.lanes;
      if (valid <= 0) continue;
      if (valid < isa.lanes) {
        if (wide) {
          a.emit("mov", eax, (1 << valid) - 1);
          a.emit("kmovw", KREG[1], eax);
          if (s.bias) a.emit("vaddps", EVEN(t).k(KREG[1]), EVEN(t), ptr(rbx, 4 * col).withSize(64));
          a.emit("vmovups", ptr(rdx, 4 * col).withSize(64).k(KREG[1]), EVEN(t));
        } else {
          // AVX2: lane by lane (a masked add would read past the bias).
          a.emit("vmovups", ptr(rsp, -64).withSize(32), EVEN(t));
          for (let l = 0; l < valid; l++) {
            a.emit("vmovss", XMM[T(0).id], dword(rsp, -64 + 4 * l));
            if (s.bias) a.emit("vaddss", XMM[T(0).id], XMM[T(0).id], dword(rbx, 4 * (col + l)));
            a.emit("vmovss", dword(rdx, 4 * (col + l)), XMM[T(0).id]);
          }
        }
        continue;
      }
      if (s.bias) a.emit("vaddps", EVEN(t), EVEN(t), ptr(rbx, 4 * col).withSize(bits / 8));
      a.emit("vmovups", ptr(rdx, 4 * col).withSize(bits / 8), EVEN(t));
    }
    addImmediate(a, "add", rdx, 4 * TILE * tiles);
    if (s.bias) addImmediate(a, "add", rbx, 4 * TILE * tiles);
  };
  // Full groups of G tiles (the last tile may be partial only in the last group).
  const fullGroups = Math.floor(s.tiles / G), rest = s.tiles % G;
  const partial = lastTileColumns(s);
  const loopGroups = rest === 0 && partial < TILE ? fullGroups - 1 : fullGroups;
  if (loopGroups > 0) {
    const tail = a.label();
    a.emit("mov", qword(rsp, 24), loopGroups);
    const loop = a.label();
    a.bind(loop);
    groupCode(G, TILE);
    a.emit("dec", qword(rsp, 24));
    a.emit("jnz", loop);
    a.bind(tail);
  }
  if (loopGroups < fullGroups) groupCode(G, partial);
  if (rest > 0) groupCode(rest, partial);
}

/**
 * One row, one column at a time (SSE scalar): the even and odd sums as the
 * vector paths form them, each product rounded before its add. rbx and rbp
 * walk the tiles' weights and scales, r12 the columns of a tile; r10/r11
 * the column's bytes (16 apart) and scales (a block's 32 floats apart).
 */
function emitScalarRow(a: Assembler, s: NBitsSpec): void {
  const [EVEN, ODD, SC, ZP, X, W] = [0, 1, 2, 3, 4, 5].map((i) => XMM[i]);
  const tb = tileBytes(s.k), tsf = tileScaleFloats(s.k, s.block) * 4;
  const blocks = blocksOf(s.k, s.block), pairsPerBlock = s.block / 2;
  const BIAS_AT = 24;
  a.emit("mov", rdx, qword(rsp, Y_ROW));
  if (s.bias) a.emit("mov", qword(rsp, BIAS_AT), rcx);
  a.emit("mov", rbx, r8);
  a.emit("mov", rbp, r9);
  const blockCode = (pairs: number) => {
    a.emit("movss", SC, dword(r11, 0));
    a.emit("movss", ZP, dword(r11, 4 * TILE));
    a.emit("mov", rdi, pairs);
    const loop = a.label();
    a.bind(loop);
    for (const [acc, shift, off] of [[EVEN, false, 0], [ODD, true, 4]] as const) {
      a.emit("movzx", eax, byte(r10, 0));
      if (shift) a.emit("shr", eax, 4);
      else a.emit("and", eax, 15);
      a.emit("cvtsi2ss", W, eax);
      a.emit("subss", W, ZP);
      a.emit("mulss", W, SC);
      a.emit("movss", X, dword(rsi, off));
      a.emit("mulss", X, W);
      a.emit("addss", acc, X);
    }
    a.emit("add", rsi, 8);
    a.emit("add", r10, TILE);
    a.emit("dec", rdi);
    a.emit("jnz", loop);
    a.emit("add", r11, 8 * TILE);
  };
  // Blocks in order: the first, the middle ones in a loop, the last.
  const columnCode = () => {
    a.emit("xorps", EVEN, EVEN);
    a.emit("xorps", ODD, ODD);
    a.emit("mov", rsi, qword(rsp, A_ROW));
    const lastPairs = (s.k - (blocks - 1) * s.block) / 2;
    const full = lastPairs === pairsPerBlock ? blocks : blocks - 1;
    if (full > 0) {
      a.emit("mov", r12, full);
      const loop = a.label();
      a.bind(loop);
      blockCode(pairsPerBlock);
      a.emit("dec", r12);
      a.emit("jnz", loop);
    }
    if (full < blocks) blockCode(lastPairs);
    a.emit("addss", EVEN, ODD);
    if (s.bias) {
      a.emit("mov", rax, qword(rsp, BIAS_AT));
      a.emit("addss", EVEN, dword(rax, 0));
      a.emit("add", qword(rsp, BIAS_AT), 4);
    }
    a.emit("movss", dword(rdx, 0), EVEN);
    a.emit("add", rdx, 4);
  };
  // Per tile: its columns (16, or the part's last tile's), r10/r11 from rbx/rbp.
  const tileCode = (lanes: number) => {
    for (let lane = 0; lane < lanes; lane++) {
      a.emit("lea", r10, qword(rbx, lane));
      a.emit("lea", r11, qword(rbp, 4 * lane));
      columnCode();
    }
    addImmediate(a, "add", rbx, tb);
    addImmediate(a, "add", rbp, tsf);
  };
  const last = lastTileColumns(s);
  const loopTiles = last === TILE ? s.tiles : s.tiles - 1;
  if (loopTiles > 0) {
    a.emit("mov", qword(rsp, 32), loopTiles);
    const loop = a.label();
    a.bind(loop);
    tileCode(TILE);
    a.emit("dec", qword(rsp, 32));
    a.emit("jnz", loop);
  }
  if (last < TILE) tileCode(last);
}
