/**
 * The pooling generator: per plane, the phase planes of the padded input
 * (−∞ padding for max, 0 for average; read as is without padding or
 * stride), then vectors of output positions fold their window's taps with
 * max or add, exactly as a depthwise convolution's tiles reach its planes
 * (conv/geometry.ts) and store through the same runs or store table.
 * Average multiplies by the reciprocal of each position's count: one
 * constant, or a table when borders count fewer. Max propagates NaN.
 *
 * @module
 */
import {
  Assembler,
  dword,
  KREG,
  type Program,
  ptr,
  qword,
  r12,
  r13,
  r14,
  r15,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  type Reg,
  rsi,
  rsp,
  word,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  frameLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { convGeometry, PLANES_OVERRUN_BYTES } from "../conv/geometry.ts";
import { emitPlanes } from "../conv/planes.ts";
import { chooseStore, type ConvStoreMode, entryBytes, storeTable } from "../conv/store_table.ts";
import type { KernelPlan } from "../family.ts";
import { columnGroups } from "../gemm/microkernel.ts";
import { f32, type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { counted as countedTaps, POOL_ARG, poolShape, type PoolSpec, windowSpec } from "./spec.ts";
import { emitMaxInPlace, maxInPlaceServes, maxSharedServes } from "./max_in_place.ts";
import { emitMaxAligned, maxAlignedServes } from "./max_aligned.ts";
import { emitMaxPairs, maxPairsServes } from "./max_pairs.ts";
import { emitAverageInPlace } from "./average_in_place.ts";
import { emitHalving, halvingServes } from "./halving.ts";
import { bytePoolLevel, bytePoolRow, describeBytePool, generateBytePool } from "./max_bytes.ts";

/** A pool plan. */
export interface PoolPlan extends KernelPlan {
  isa: VecLevel;
  /** Vectors of positions per tile. */
  ng: number;
  mode: ConvStoreMode;
  segments: number;
  /** Average: the divisor is one constant (null: a table per position). */
  divisor: number | null;
  /**
   * Read in place: AVX-512 max or average with no planes (max_in_place.ts,
   * max_aligned.ts, average_in_place.ts); AVX2's 2×2/2 max and average
   * (halving.ts); AVX2's 3×3/2 max (max_pairs.ts), the rest of this plan the
   * plane kernel that makes a plane with a NaN.
   */
  inPlace: boolean;
  /** 8-bit max (max_bytes.ts): by vectors (AVX-512) or byte by byte. */
  bytes?: "vector" | "scalar";
}

const USED: Reg[] = [r12, r13, r14, r15];
const F = {
  X: 0,
  Y: 8,
  WS: 16,
  PLANE: 24,
  RUN: 32,
  TILE: 40,
  RUNB: 48,
  RUNY: 56,
  RUNT: 64,
  RUNR: 72,
};
const FRAME = 80;
const TAIL_MASK = 15;
const SEGMENT_K = [5, 6, 7];
const SEGMENT_OFF: Reg[] = [r8, r9, rcx];

/** The plan for `s` at `level`. */
export function planPool(s: PoolSpec, level: VecLevel): PoolPlan {
  if (s.type !== "float32") {
    const bytes = bytePoolLevel(level), vector = bytes !== null;
    return {
      isa: vector ? level : "scalar",
      ng: 0,
      mode: "runs",
      segments: 0,
      divisor: null,
      inPlace: false,
      bytes: vector ? "vector" : "scalar",
      workspaceBytes: bytePoolRow(s).bytes,
      description: describeBytePool(s, bytes),
    };
  }
  const isa = vecIsa(level);
  let divisor: number | null = null;
  if (s.kind === "average") {
    const k = s.kh * s.kw;
    // One divisor when every window counts all its taps.
    const every = (oh: number, ow: number) =>
      countedTaps(oh, s.h, s.kh, s.sh, s.dh, s.pt, s.pb, s.countIncludePad) *
          countedTaps(ow, s.w, s.kw, s.sw, s.dw, s.pl, s.pr, s.countIncludePad) === k;
    const { oh, ow } = poolShape(s);
    let uniform = true;
    for (let i = 0; i < oh && uniform; i++) uniform = every(i, 0) && every(i, ow - 1);
    for (let j = 0; j < ow && uniform; j++) uniform = every(0, j) && every(oh - 1, j);
    divisor = uniform ? k : null;
  }
  const divided = s.kind === "average" ? (divisor ? ` ÷${divisor}` : " ÷table") : "";
  /** A kernel that reads x in place: no planes, no workspace. */
  const inPlace = (description: string): PoolPlan => ({
    isa: level,
    ng: 1,
    mode: "runs",
    segments: 0,
    divisor,
    inPlace: true,
    workspaceBytes: 0,
    description,
  });
  if (halvingServes(s, level)) {
    return inPlace(
      `${level} ${s.kind} 2×2/2 in place, rows of ${
        Math.ceil(poolShape(s).ow / 8)
      } vectors from even/odd column pairs${divided}`,
    );
  }
  if (maxInPlaceServes(s, level)) {
    const max = s.kind === "max";
    return inPlace(
      `${level} ${s.kind} in place, rows of ${Math.ceil(poolShape(s).ow / 16)} vectors${
        s.sw === 2 ? ", even/odd lanes" : ""
      }${max && maxSharedServes(s) ? ", each row folded once, x prefetched 8 KiB ahead" : ""}${
        max && maxAlignedServes(s) ? ", aligned column pairs, NaN checked per plane" : ""
      }${divided}`,
    );
  }
  const ws = windowSpec(s), g = convGeometry(ws);
  const { mode, segments, run } = chooseStore(g, isa, s.kh * s.kw);
  const ng = Math.max(1, Math.min(4, Math.ceil(run / isa.lanes)));
  const planes = `${ng * isa.lanes} positions per tile ${mode}${segments ? `/${segments}` : ""}${
    g.copy ? ` planes ${g.hq}×${g.wq}` : ""
  }`;
  // In place at AVX2 (max_pairs.ts), the plane kernel (its plan here) making a plane with a NaN.
  const pairs = s.kind === "max" && maxPairsServes(s, level);
  return {
    isa: level,
    ng,
    mode,
    segments,
    divisor,
    inPlace: pairs,
    workspaceBytes: g.copy ? Math.ceil((g.channelStride * 4) / 64) * 64 + PLANES_OVERRUN_BYTES : 0,
    description: pairs
      ? `${level} max in place, rows of ${
        Math.ceil(poolShape(s).ow / 8)
      } vectors from even/odd column pairs, each row folded once; a plane with a NaN by ${planes}`
      : `${level} ${planes}${divided}`,
  };
}

/** The reciprocal of each position's count (junk columns 1), padded to whole vectors. */
function reciprocals(s: PoolSpec, lanes: number): Float32Array {
  const g = convGeometry(windowSpec(s));
  const out = new Float32Array(Math.ceil(g.positions / lanes) * lanes + lanes).fill(1);
  for (let q = 0; q < g.positions; q++) {
    const row = Math.floor(q / g.wq), col = q % g.wq;
    if (col >= g.ow) continue;
    const count = countedTaps(row, s.h, s.kh, s.sh, s.dh, s.pt, s.pb, s.countIncludePad) *
      countedTaps(col, s.w, s.kw, s.sw, s.dw, s.pl, s.pr, s.countIncludePad);
    out[q] = 1 / count;
  }
  return out;
}

/** Emits the machine code of `plan` for `s`: `void kernel(args)`. */
export function generatePool(
  s: PoolSpec,
  p: PoolPlan,
  options: { listing?: boolean } = {},
): Program {
  if (p.bytes) return generateBytePool(s, p.bytes === "vector" ? bytePoolLevel(p.isa) : null);
  const a = new Assembler({ listing: options.listing ?? false });
  const isa = vecIsa(p.isa), v = new Vec(a, isa), L = isa.lanes;
  const ws = windowSpec(s), g = convGeometry(ws);
  const max = s.kind === "max";
  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  for (const [slot, at] of [[POOL_ARG.X, F.X], [POOL_ARG.Y, F.Y], [WORKSPACE_SLOT, F.WS]]) {
    loadPointer(a, rax, slot);
    a.emit("mov", qword(rsp, at), rax);
  }
  const table = p.mode === "table" ? a.constant(storeTable(isa, g, p.segments), 64) : null;
  const recips = p.divisor === null && !max ? a.constant(reciprocals(s, L), 64) : null;
  const tableStep = p.segments * entryBytes(isa);
  const pitched = p.mode === "runs" && g.wq > g.ow;
  const runs = pitched ? g.rows : 1, run = pitched ? g.ow : g.positions, T = p.ng * L;

  // AVX2 reads a run's last vector from the planes whole (its lanes past the run are outputs
  // it does not keep), where the furthest it reads stays within the planes and the workspace
  // past them (conv/geometry.ts PLANES_OVERRUN_BYTES): a masked load each tap.
  const lastRead = ((runs - 1) * g.wq + run + L - 1 + Math.max(...g.taps)) * 4;
  const wholeLoads = isa.level === "avx2" && g.copy &&
    lastRead < g.channelStride * 4 + PLANES_OVERRUN_BYTES;
  // AVX2 stores a run's last vector whole (see tile) where its lanes past the run fit in the
  // next run (a row, the next plane), stored after it; the call's last run masked.
  const overrun = L - (run % L);
  const wholeTails = isa.level === "avx2" && !table && overrun <= (pitched ? g.ow : g.positions);

  /**
   * One tile: fold the taps of each group's vector, scale, store. `wholeTail`: AVX2 stores
   * a run's last vector whole, its lanes past the run landing on outputs stored after it (the
   * next row's, the next plane's), where a masked store is microcoded on AMD.
   */
  const tile = (groups: ReturnType<typeof columnGroups>, tail: Tail | null, wholeTail = false) => {
    const acc = (i: number) => i, tmp = groups.length, nan = (i: number) => groups.length + 1 + i;
    for (let i = 0; i < groups.length; i++) {
      const grp = groups[i];
      const scalar = grp.scalar && L > 1;
      const t = grp.tail ? tail! : undefined;
      const load = (dst: number, tap: number) => {
        const disp = (tap + grp.col) * 4;
        if (scalar) v.loadScalar(dst, r15, disp);
        else v.load(dst, r15, disp, wholeLoads ? undefined : t);
      };
      load(acc(i), g.taps[0]);
      const nanMask = isa.level === "avx512" ? { k: KREG[2 + i] } : { v: nan(i) };
      if (max) v.compare(nanMask, acc(i), "unord", acc(i));
      for (let k = 1; k < g.taps.length; k++) {
        load(tmp, g.taps[k]);
        if (!max) {
          v.op("add", acc(i), acc(i), tmp);
          continue;
        }
        v.op("max", acc(i), acc(i), tmp);
        if (isa.level === "avx512") {
          a.emit("vcmpps", KREG[1 + 5], v.r(tmp), v.r(tmp), 3);
          a.emit("korw", KREG[2 + i], KREG[2 + i], KREG[1 + 5]);
        } else {
          v.compare({ v: tmp }, tmp, "unord", tmp);
          v.op("or", nan(i), nan(i), tmp);
        }
      }
      if (max) {
        // A NaN anywhere in the window gives NaN (x86 max alone would drop it).
        // The one quiet NaN at every level (an all-ones lane is a NaN too, but another one).
        v.select(acc(i), nanMask, f32(NaN), acc(i), tmp);
      } else if (p.divisor !== null) v.op("mul", acc(i), acc(i), f32(1 / p.divisor));
      else {
        if (scalar) v.loadScalar(tmp, r12, grp.col * 4);
        else v.load(tmp, r12, grp.col * 4);
        v.op("mul", acc(i), acc(i), tmp);
      }
      if (!table) {
        if (scalar) v.storeScalar(r14, grp.col * 4, acc(i));
        else v.store(r14, grp.col * 4, acc(i), wholeTail ? undefined : t);
        continue;
      }
      const vec = grp.col / L;
      for (let seg = 0; seg < p.segments; seg++) {
        const at = (vec * p.segments + seg) * entryBytes(isa);
        a.emit("movsxd", SEGMENT_OFF[seg], dword(r13, at));
        const m = ptr(r14, 0, SEGMENT_OFF[seg], 1, isa.bits / 8);
        if (isa.level === "avx512") {
          a.emit("kmovw", KREG[SEGMENT_K[seg]], word(r13, at + 4));
          a.emit("vmovups", m.k(KREG[SEGMENT_K[seg]]), v.r(acc(i)));
        } else {
          a.emit("vmovups", v.r(tmp), ptr(r13, at + 4, null, 1, 32));
          a.emit("vmaskmovps", m, v.r(tmp), v.r(acc(i)));
        }
      }
    }
  };

  /**
   * One plane by the plane kernel: x at frame.X, y at frame.Y. Outside the call's `last`
   * plane, and in it but for its last run, every run's last vector is stored whole (see tile).
   */
  const planeKernel = (last: boolean) => {
    if (g.copy) {
      a.emit("mov", rsi, qword(rsp, F.X));
      a.emit("mov", rdi, qword(rsp, F.WS));
      emitPlanes(v, ws, g, rsi, rdi, max ? -Infinity : 0);
      a.emit("mov", rax, qword(rsp, F.WS));
    } else a.emit("mov", rax, qword(rsp, F.X));
    a.emit("mov", qword(rsp, F.RUNB), rax);
    a.emit("mov", rax, qword(rsp, F.Y));
    a.emit("mov", qword(rsp, F.RUNY), rax);
    if (recips) a.emit("lea", rax, ptr(recips, 0, null, 1, 8));
    a.emit("mov", qword(rsp, F.RUNR), rax);
    const runBody = (wholeTail: boolean) => {
      a.emit("mov", r15, qword(rsp, F.RUNB));
      a.emit("mov", r14, qword(rsp, F.RUNY));
      a.emit("mov", r12, qword(rsp, F.RUNR));
      if (table) a.emit("lea", r13, ptr(table, 0, null, 1, 8));
      const advance = (positions: number) => {
        addImmediate(a, "add", r15, positions * 4);
        if (recips) addImmediate(a, "add", r12, positions * 4);
        if (table) addImmediate(a, "add", r13, (positions / L) * tableStep);
        else addImmediate(a, "add", r14, positions * 4);
      };
      frameLoop(a, F.TILE, Math.floor(run / T), () => {
        tile(columnGroups(isa, T, null), null);
        advance(T);
      });
      const rem = run % T;
      if (rem) {
        const lanes = rem % L;
        const t = lanes && (isa.level === "avx2" || isa.level === "avx512")
          ? v.tail(lanes, 1, TAIL_MASK)
          : null;
        const all = columnGroups(isa, rem, t);
        // At most 4 groups per tile (registers: each has an accumulator and a NaN mask).
        for (let first = 0; first < all.length; first += 4) {
          const piece = all.slice(first, first + 4);
          const col0 = piece[0].col;
          if (first) advance(col0 - all[first - 4].col);
          tile(piece.map((c) => ({ ...c, col: c.col - col0 })), t, wholeTail);
        }
      }
      if (pitched) {
        addImmediate(a, "add", qword(rsp, F.RUNB), g.wq * 4);
        addImmediate(a, "add", qword(rsp, F.RUNY), g.ow * 4);
        if (recips) addImmediate(a, "add", qword(rsp, F.RUNR), g.wq * 4);
      }
    };
    if (!wholeTails) return frameLoop(a, F.RUN, runs, () => runBody(false));
    if (!last) return frameLoop(a, F.RUN, runs, () => runBody(true));
    frameLoop(a, F.RUN, runs - 1, () => runBody(true));
    runBody(false);
  };
  const halving = p.inPlace && halvingServes(s, p.isa);
  const planeLoop = (last: boolean) => {
    if (halving) emitHalving(v, s, F, last);
    else if (p.inPlace && isa.level === "avx2") {
      emitMaxPairs(v, s, F);
      const done = a.label();
      a.emit("jz", done); // no NaN in the plane
      planeKernel(last);
      a.bind(done);
    } else if (p.inPlace) {
      if (max && maxAlignedServes(s)) emitMaxAligned(v, s, F);
      else if (max) emitMaxInPlace(v, s, F);
      else {
        emitAverageInPlace(v, s, F, p.divisor, p.divisor === null ? reciprocals(s, L) : null, g.wq);
      }
    } else planeKernel(last);
    addImmediate(a, "add", qword(rsp, F.X), s.h * s.w * 4);
    addImmediate(a, "add", qword(rsp, F.Y), g.oh * g.ow * 4);
  };
  // The call's last plane apart (its last run masked); in place the plane kernel makes only
  // the planes holding a NaN, each then taken as a last one.
  if ((!wholeTails || p.inPlace) && !halving) {
    frameLoop(a, F.PLANE, s.planes, () => planeLoop(true));
  } else {
    frameLoop(a, F.PLANE, s.planes - 1, () => planeLoop(false));
    planeLoop(true);
  }
  a.emit("add", rsp, FRAME);
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}
