/**
 * The 4-bit product's machine code. Per row of a, per group of tiles (up
 * to 4 at AVX-512, 2 halves at AVX2: as many as the registers hold), per
 * block: the tiles' zero points z in registers; per pair of rows (k, k + 1)
 * of W: per tile one 16-byte load zero-extended to 16 lanes (`vpmovzxbd`),
 * its low nibbles q[k] and high nibbles q[k + 1] converted to float,
 * d = q − z (exact for the integer zero points of MatMulNBits), and two FMA
 * chains per column with a[k] and a[k + 1] broadcast, one for even k and
 * one for odd k. At the block's end its sum (even + odd) times the block's
 * scale s joins the column's total by one FMA; y = total (+ bias). Scaling
 * once a block, not each weight, takes 2 of the inner loop's 11
 * instructions a pair of rows and a tile: measured on Zen 5, one thread,
 * `deno run -A bench/nbits.ts --rows 1,4,16` in turn with the previous
 * form, two rounds: 1×4096×4096 0.469-0.477 → 0.367-0.404 ms, 4 rows
 * 0.77 → 0.67-0.72, 16 rows 3.05-3.15 → 2.68-2.77.
 * The weights stream from memory once per row at 4 bits each: a row's
 * product (a decoder's step) is bound by reading them where the arithmetic
 * keeps up.
 *
 * Every vector level sums in that order; below AVX2 (no FMA) each product
 * is rounded before its add, one column at a time (SSE scalar), the same
 * block structure.
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
  /** Rows of a a pass takes together (each weight dequantized once for all of them). */
  rows: number;
  /** Tiles a pass group runs together (vector paths). */
  group: number;
}

/**
 * Units (vectors of columns) a pass holds at once for `rows` rows: its even and odd
 * block sums and its total per row, and its zero point, beside the nibble mask, two
 * pairs of conversion registers and (AVX2, no embedded broadcast) the two broadcasts of
 * a (0 when not even one fits).
 */
function unitsFor(isa: "avx512" | "avx2", rows: number): number {
  const free = isa === "avx512" ? 32 - 1 - 4 : 16 - 1 - 4 - 2;
  return Math.min(4, Math.floor(free / (3 * rows + 1)));
}

/** Most rows a pass of the level takes (one unit of their registers must fit). */
function mostRows(isa: "avx512" | "avx2"): number {
  let rows = 4;
  while (unitsFor(isa, rows) < 1) rows--;
  return rows;
}

/** The plan: vectors where the level has FMA (up to 4 rows a pass), else scalar. */
export function planNBits(s: NBitsSpec, isa: VecLevel): NBitsPlan {
  if (isa === "avx512") {
    const rows = Math.min(mostRows("avx512"), s.m);
    const group = unitsFor("avx512", rows);
    return {
      path: "avx512",
      rows,
      group,
      workspaceBytes: 0,
      description: `avx512 ${rows} row${rows > 1 ? "s" : ""} × ${group} tile${
        group > 1 ? "s" : ""
      } of 16`,
    };
  }
  if (isa === "avx2") {
    // Units of 8 columns: a tile's two halves in one pass, or one a pass.
    const rows = Math.min(mostRows("avx2"), s.m);
    const units = unitsFor("avx2", rows);
    return {
      path: "avx2",
      rows,
      group: 1,
      workspaceBytes: 0,
      description: `avx2 ${rows} row${rows > 1 ? "s" : ""} × ${
        units >= 2 ? "a tile" : "half a tile"
      }`,
    };
  }
  return {
    path: "scalar",
    rows: 1,
    group: 1,
    workspaceBytes: 0,
    description: "scalar, a column at a time",
  };
}

const USED = [rbx, rbp, r12];
// Frame slots: the current rows of a and y, rows left, the group counter (or the scalar
// path's bias pointer), the scalar tile counter, the group's weights and scales.
const A_ROW = 0, Y_ROW = 8, ROWS = 16, GROUPS = 24, W_AT = 32, SZ_AT = 40, FRAME = 48;

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
  // Rows in passes of plan.rows, then the rest in one pass.
  const passes = Math.floor(s.m / plan.rows), rest = s.m % plan.rows;
  const rowsPass = (rows: number) => {
    if (plan.path === "scalar") emitScalarRow(a, s);
    else emitVectorRows(a, s, plan, rows);
    addImmediate(a, "add", qword(rsp, A_ROW), 4 * s.k * rows);
    addImmediate(a, "add", qword(rsp, Y_ROW), 4 * s.n * rows);
  };
  if (passes > 1) {
    a.emit("mov", qword(rsp, ROWS), passes);
    const top = a.label("rows");
    a.bind(top);
    rowsPass(plan.rows);
    a.emit("dec", qword(rsp, ROWS));
    a.emit("jnz", top);
  } else if (passes === 1) rowsPass(plan.rows);
  if (rest > 0) rowsPass(rest);
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
 * `rows` rows of a against the part's tiles (vector paths): per group of tiles, passes
 * over k (AVX-512: the group's tiles in one; AVX2: a tile's halves together or one a pass),
 * each weight dequantized once for all the rows. r8/r9 the part's weights and scales, rcx
 * its bias; the first row's a and y in the frame, the others k and n floats apart.
 */
function emitVectorRows(a: Assembler, s: NBitsSpec, plan: NBitsPlan, rows: number): void {
  const wide = plan.path === "avx512";
  const isa = vecIsa(plan.path as VecLevel), bits = isa.bits, lanes = isa.lanes;
  const V = (i: number) => vreg(bits, i);
  const G = wide ? unitsFor("avx512", rows) : 1; // tiles a group
  // A pass: its units (tile in the group, half of the tile).
  const passes: [number, number][][] = wide
    ? [Array.from({ length: G }, (_, t) => [t, 0] as [number, number])]
    : unitsFor("avx2", rows) >= 2
    ? [[[0, 0], [0, 1]]]
    : [[[0, 0]], [[0, 1]]];
  const U = Math.max(...passes.map((p) => p.length));
  // Per row and unit: the block's even and odd sums and the column's total.
  const EVEN = (r: number, u: number) => V(3 * (r * U + u));
  const ODD = (r: number, u: number) => V(3 * (r * U + u) + 1);
  const TOTAL = (r: number, u: number) => V(3 * (r * U + u) + 2);
  const base = 3 * rows * U;
  const Z = (u: number) => V(base + u);
  const MASK = V(base + U);
  const T = (i: number) => V(base + U + 1 + 2 * (i % 2));
  const H = (i: number) => V(base + U + 2 + 2 * (i % 2));
  const used = base + U + (wide ? 5 : 7);
  if (used > isa.nregs) throw new Error(`matmulNBits: ${rows} rows × ${U} units do not fit`);
  const XE = wide ? T(0) : V(base + U + 5), XO = wide ? T(0) : V(base + U + 6); // AVX2 only
  const tb = tileBytes(s.k), tsf = tileScaleFloats(s.k, s.block) * 4;
  const blocks = blocksOf(s.k, s.block), pairsPerBlock = s.block / 2;
  const lastPairs = (s.k - (blocks - 1) * s.block) / 2;
  const rowA = 4 * s.k, rowY = 4 * s.n;
  a.emit("vpbroadcastd", MASK, dword(a.constant(new Int32Array([15]), 4)));
  a.emit("mov", qword(rsp, W_AT), r8);
  a.emit("mov", qword(rsp, SZ_AT), r9);
  a.emit("mov", rdx, qword(rsp, Y_ROW));
  if (s.bias) a.emit("mov", rbx, rcx);
  const passCode = (units: [number, number][], tiles: number, lastColumns: number) => {
    for (let r = 0; r < rows; r++) {
      for (let u = 0; u < units.length; u++) {
        a.emit("vxorps", TOTAL(r, u), TOTAL(r, u), TOTAL(r, u));
      }
    }
    a.emit("mov", rax, qword(rsp, A_ROW));
    a.emit("mov", r10, qword(rsp, W_AT));
    a.emit("mov", r11, qword(rsp, SZ_AT));
    const pairs = (count: number) => {
      const unroll = count % 4 === 0 ? 4 : count % 2 === 0 ? 2 : 1;
      const body = () => {
        for (let p = 0; p < unroll; p++) {
          units.forEach(([tile, half], u) => {
            // A tile's 16 bytes a pair; an AVX2 half its 8.
            const src = ptr(r10, tile * tb + 16 * p + 8 * half).withSize(wide ? 16 : 8);
            a.emit("vpmovzxbd", T(u), src);
            a.emit("vpsrld", H(u), T(u), 4);
            a.emit(wide ? "vpandd" : "vpand", T(u), T(u), MASK);
            a.emit("vcvtdq2ps", T(u), T(u));
            a.emit("vcvtdq2ps", H(u), H(u));
            a.emit("vsubps", T(u), T(u), Z(u));
            a.emit("vsubps", H(u), H(u), Z(u));
            for (let r = 0; r < rows; r++) {
              const x = rowA * r + 8 * p;
              if (wide) {
                a.emit("vfmadd231ps", EVEN(r, u), T(u), dword(rax, x).b);
                a.emit("vfmadd231ps", ODD(r, u), H(u), dword(rax, x + 4).b);
              } else {
                a.emit("vbroadcastss", XE, dword(rax, x));
                a.emit("vbroadcastss", XO, dword(rax, x + 4));
                a.emit("vfmadd231ps", EVEN(r, u), T(u), XE);
                a.emit("vfmadd231ps", ODD(r, u), H(u), XO);
              }
            }
          });
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
      units.forEach(([tile, half], u) => {
        const at = tile * tsf + half * 4 * lanes;
        a.emit("vmovups", Z(u), ptr(r11, at + 4 * TILE).withSize(bits / 8));
        for (let r = 0; r < rows; r++) {
          a.emit("vxorps", EVEN(r, u), EVEN(r, u), EVEN(r, u));
          a.emit("vxorps", ODD(r, u), ODD(r, u), ODD(r, u));
        }
      });
      pairs(count);
      // The block's sum, scaled, into the total: total += (even + odd)·s.
      units.forEach(([tile, half], u) => {
        const at = tile * tsf + half * 4 * lanes;
        for (let r = 0; r < rows; r++) {
          a.emit("vaddps", EVEN(r, u), EVEN(r, u), ODD(r, u));
          a.emit(
            "vfmadd231ps",
            TOTAL(r, u),
            EVEN(r, u),
            ptr(r11, at).withSize(bits / 8),
          );
        }
      });
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
    units.forEach(([tile, half], u) => {
      const col = tile * TILE + half * lanes;
      // The columns of this vector inside y (the group's last tile may be partial).
      const valid = tile === tiles - 1 ? Math.min(lanes, lastColumns - half * lanes) : lanes;
      for (let r = 0; r < rows; r++) {
        const acc = TOTAL(r, u), yAt = rowY * r + 4 * col;
        if (valid <= 0) continue;
        if (valid < lanes) {
          if (wide) {
            a.emit("mov", eax, (1 << valid) - 1);
            a.emit("kmovw", KREG[1], eax);
            if (s.bias) a.emit("vaddps", acc.k(KREG[1]), acc, ptr(rbx, 4 * col).withSize(64));
            a.emit("vmovups", ptr(rdx, yAt).withSize(64).k(KREG[1]), acc);
          } else {
            // AVX2: lane by lane through the red zone (a masked add would read past the bias).
            a.emit("vmovups", ptr(rsp, -64).withSize(32), acc);
            const x = XMM[T(0).id];
            for (let l = 0; l < valid; l++) {
              a.emit("vmovss", x, dword(rsp, -64 + 4 * l));
              if (s.bias) a.emit("vaddss", x, x, dword(rbx, 4 * (col + l)));
              a.emit("vmovss", dword(rdx, yAt + 4 * l), x);
            }
          }
          continue;
        }
        if (s.bias) a.emit("vaddps", acc, acc, ptr(rbx, 4 * col).withSize(bits / 8));
        a.emit("vmovups", ptr(rdx, yAt).withSize(bits / 8), acc);
      }
    });
  };
  const groupCode = (tiles: number, lastColumns: number) => {
    for (const units of passes) {
      const inside = units.filter(([tile]) => tile < tiles);
      if (inside.length > 0) passCode(inside, tiles, lastColumns);
    }
    addImmediate(a, "add", qword(rsp, W_AT), tiles * tb);
    addImmediate(a, "add", qword(rsp, SZ_AT), tiles * tsf);
    addImmediate(a, "add", rdx, 4 * TILE * tiles);
    if (s.bias) addImmediate(a, "add", rbx, 4 * TILE * tiles);
  };
  // Full groups of G tiles (the last tile may be partial only in the last group).
  const fullGroups = Math.floor(s.tiles / G), rest = s.tiles % G;
  const partial = lastTileColumns(s);
  const loopGroups = rest === 0 && partial < TILE ? fullGroups - 1 : fullGroups;
  if (loopGroups > 1) {
    a.emit("mov", qword(rsp, GROUPS), loopGroups);
    const loop = a.label();
    a.bind(loop);
    groupCode(G, TILE);
    a.emit("dec", qword(rsp, GROUPS));
    a.emit("jnz", loop);
  } else if (loopGroups === 1) groupCode(G, TILE);
  if (loopGroups < fullGroups) groupCode(G, partial);
  if (rest > 0) groupCode(rest, partial);
}

/**
 * One row, one column at a time (SSE scalar): the even and odd block sums
 * and the scaled total as the vector paths form them, each product rounded
 * before its add. rbx and rbp
 * walk the tiles' weights and scales, r12 the columns of a tile; r10/r11
 * the column's bytes (16 apart) and scales (a block's 32 floats apart).
 */
function emitScalarRow(a: Assembler, s: NBitsSpec): void {
  const [EVEN, ODD, SC, ZP, X, W, TOTAL] = [0, 1, 2, 3, 4, 5, 6].map((i) => XMM[i]);
  const tb = tileBytes(s.k), tsf = tileScaleFloats(s.k, s.block) * 4;
  const blocks = blocksOf(s.k, s.block), pairsPerBlock = s.block / 2;
  const BIAS_AT = GROUPS;
  a.emit("mov", rdx, qword(rsp, Y_ROW));
  if (s.bias) a.emit("mov", qword(rsp, BIAS_AT), rcx);
  a.emit("mov", rbx, r8);
  a.emit("mov", rbp, r9);
  const blockCode = (pairs: number) => {
    a.emit("movss", SC, dword(r11, 0));
    a.emit("movss", ZP, dword(r11, 4 * TILE));
    a.emit("xorps", EVEN, EVEN);
    a.emit("xorps", ODD, ODD);
    a.emit("mov", rdi, pairs);
    const loop = a.label();
    a.bind(loop);
    for (const [acc, shift, off] of [[EVEN, false, 0], [ODD, true, 4]] as const) {
      a.emit("movzx", eax, byte(r10, 0));
      if (shift) a.emit("shr", eax, 4);
      else a.emit("and", eax, 15);
      a.emit("cvtsi2ss", W, eax);
      a.emit("subss", W, ZP);
      a.emit("movss", X, dword(rsi, off));
      a.emit("mulss", X, W);
      a.emit("addss", acc, X);
    }
    a.emit("add", rsi, 8);
    a.emit("add", r10, TILE);
    a.emit("dec", rdi);
    a.emit("jnz", loop);
    a.emit("addss", EVEN, ODD);
    a.emit("mulss", EVEN, SC);
    a.emit("addss", TOTAL, EVEN);
    a.emit("add", r11, 8 * TILE);
  };
  // Blocks in order: the first, the middle ones in a loop, the last.
  const columnCode = () => {
    a.emit("xorps", TOTAL, TOTAL);
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
    if (s.bias) {
      a.emit("mov", rax, qword(rsp, BIAS_AT));
      a.emit("addss", TOTAL, dword(rax, 0));
      a.emit("add", qword(rsp, BIAS_AT), 4);
    }
    a.emit("movss", dword(rdx, 0), TOTAL);
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
    a.emit("mov", qword(rsp, W_AT), loopTiles);
    const loop = a.label();
    a.bind(loop);
    tileCode(TILE);
    a.emit("dec", qword(rsp, W_AT));
    a.emit("jnz", loop);
  }
  if (last < TILE) tileCode(last);
}
