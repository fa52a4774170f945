/**
 * The squaredDistances kernel: tiles of R rows of a × V vectors of b's
 * columns, each output a register summing over t, in t's order, the
 * square of a[i][t] (broadcast) − b[t][j] (a vector of consecutive
 * columns): a subtraction, a multiplication and an addition a term, each
 * rounded (no FMA: the bits of a scalar loop, on every level). Four rows ×
 * two vectors keep eight sums in flight, more than an addition's latency
 * needs, and a term's two loads serve eight of them. Columns past the last
 * whole vector take the scalar lane, one at a time.
 *
 * @module
 */
import {
  Assembler,
  type Program,
  r10,
  r11,
  r8,
  r9,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
} from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer, restoreRegisters, saveRegisters } from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { DISTANCES_ARG, type DistancesSpec } from "./read.ts";

/** A squaredDistances plan. */
export interface DistancesPlan extends KernelPlan {
  isa: VecLevel;
}

/** Rows and vectors of a tile. */
export const TILE_ROWS = 4, TILE_VECTORS = 2;

/** The plan at `level`. */
export function planDistances(_s: DistancesSpec, level: VecLevel): DistancesPlan {
  return {
    isa: level,
    workspaceBytes: 0,
    description: `${level} ${TILE_ROWS}×${TILE_VECTORS}-vector tiles, terms in order`,
  };
}

/** Emits `void kernel(args)`. */
export function generateDistances(
  s: DistancesSpec,
  p: DistancesPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  const L = v.isa.lanes, VB = 4 * L, rowA = 4 * s.k, rowY = 4 * s.n;
  const acc = (r: number, j: number) => r * TILE_VECTORS + j;
  const B0 = 8, T = 10, D = 11;

  /** A tile of `rows` rows × `vecs` vectors (or, `scalar`, one column) from r10 (b), r11 (y). */
  const tile = (rows: number, vecs: number, scalar: boolean) => {
    for (let r = 0; r < rows; r++) for (let j = 0; j < vecs; j++) v.zero(acc(r, j));
    a.emit("mov", rax, rsi);
    a.emit("mov", rcx, r10);
    countedLoop(a, r8, s.k, () => {
      for (let j = 0; j < vecs; j++) {
        if (scalar) v.loadScalar(B0 + j, rcx, j * VB);
        else v.load(B0 + j, rcx, j * VB);
      }
      for (let r = 0; r < rows; r++) {
        if (scalar) v.loadScalar(T, rax, r * rowA);
        else v.broadcast(T, rax, r * rowA);
        for (let j = 0; j < vecs; j++) {
          if (scalar) {
            v.move(D, T);
            v.scalarOp("sub", D, B0 + j);
            v.scalarOp("mul", D, D);
            v.scalarOp("add", acc(r, j), D);
          } else {
            v.op("sub", D, T, B0 + j);
            v.op("mul", D, D, D);
            v.op("add", acc(r, j), acc(r, j), D);
          }
        }
      }
      a.emit("add", rax, 4);
      a.emit("add", rcx, rowY);
    });
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < vecs; j++) {
        if (scalar) v.storeScalar(r11, r * rowY + j * VB, acc(r, j));
        else v.store(r11, r * rowY + j * VB, acc(r, j));
      }
    }
    const bytes = scalar ? 4 : vecs * VB;
    a.emit("add", r10, bytes);
    a.emit("add", r11, bytes);
  };

  /** `rows` rows of a (from rsi) against every column; rsi and rdi past them after. */
  const rowBlock = (rows: number) => {
    a.emit("mov", r10, rdx);
    a.emit("mov", r11, rdi);
    const vectors = Math.floor(s.n / L);
    countedLoop(a, r9, Math.floor(vectors / TILE_VECTORS), () => tile(rows, TILE_VECTORS, false));
    if (vectors % TILE_VECTORS) tile(rows, vectors % TILE_VECTORS, false);
    countedLoop(a, r9, s.n % L, () => tile(rows, 1, true));
    addImmediate(a, "add", rsi, rows * rowA);
    addImmediate(a, "add", rdi, rows * rowY);
  };

  saveRegisters(a, [rbx]);
  loadPointer(a, rsi, DISTANCES_ARG.A);
  loadPointer(a, rdx, DISTANCES_ARG.B);
  loadPointer(a, rdi, DISTANCES_ARG.Y);
  countedLoop(a, rbx, Math.floor(s.m / TILE_ROWS), () => rowBlock(TILE_ROWS));
  if (s.m % TILE_ROWS) rowBlock(s.m % TILE_ROWS);
  restoreRegisters(a, [rbx]);
  v.leave();
  a.emit("ret");
  return a.finish();
}
