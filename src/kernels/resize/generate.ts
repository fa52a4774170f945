/**
 * The resize kernel: per plane, a horizontal pass (each input row through
 * the column table into a workspace of h × outW), then a vertical pass
 * (each output row = the weighted sum of the workspace rows the row table
 * names, in vectors). Tables are constants in the code; nearest copies, so
 * its values pass through untouched.
 *
 * The horizontal pass runs in vectors where each output vector's columns
 * read a window of input columns one permute reaches (two vectors at
 * AVX-512, one at AVX2: any upscale, mild downscales): the window is
 * loaded, each tap's columns permuted out of it, and the taps weighted in
 * the scalar pass's order (a multiply, then FMAs), so the bits are the
 * scalar pass's. The row's vectors are unrolled (their windows, masks and
 * tables are constants); other shapes take the scalar pass.
 *
 * @module
 */
import {
  Assembler,
  dword,
  eax,
  KREG,
  type Program,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r8,
  r9,
  rax,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { rowShape, rowTail } from "../columns.ts";
import type { KernelPlan } from "../family.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { RESIZE_ARG, type ResizeSpec } from "./spec.ts";
import {
  type AxisTable,
  axisTable,
  bandRows,
  bandTable,
  tableBytes,
  verticalFirst,
} from "./tables.ts";
import {
  COLUMN_VECTOR_BYTES,
  emitTransposedRows,
  paddedWidth,
  transposedBytes,
  transposedServes,
} from "./transposed.ts";

/** A resize plan. */
export interface ResizePlan extends KernelPlan {
  isa: VecLevel;
  /** The horizontal pass's output vectors, when it runs by permutes (else scalar). */
  permutes: PermuteVector[] | null;
  /** The horizontal pass over 8 rows at once through transposes (transposed.ts). */
  transposed: boolean;
  /** Nearest's rows written straight from the permutes to their copies (repeatedRows), or null. */
  repeated: { first: number; repeat: number } | null;
}

/** One output vector of the horizontal pass by permutes. */
export interface PermuteVector {
  /** The first input column of its window. */
  lo: number;
  /** Input columns its taps read, from `lo`. */
  window: number;
  /** Its output columns (the row's last vector may have fewer than a vector's lanes). */
  lanes: number;
}

/** Most output vectors per row unrolled in the permute pass (wider rows go scalar). */
export const MAX_PERMUTE_VECTORS = 128;

/**
 * The horizontal pass's vectors at `level` when every one's window fits one
 * permute (2 vectors of input columns at AVX-512, 1 at AVX2), else null.
 */
export function permuteVectors(s: ResizeSpec, level: VecLevel): PermuteVector[] | null {
  if (level !== "avx512" && level !== "avx2") return null;
  const L = level === "avx512" ? 16 : 8, reach = level === "avx512" ? 2 * L : L;
  const count = Math.ceil(s.ow / L);
  if (count > MAX_PERMUTE_VECTORS) return null;
  const cols = axisTable(s, "w"), out: PermuteVector[] = [];
  for (let u = 0; u < count; u++) {
    const lanes = Math.min(L, s.ow - u * L);
    let lo = Infinity, hi = -Infinity;
    for (let k = u * L * cols.taps; k < (u * L + lanes) * cols.taps; k++) {
      lo = Math.min(lo, cols.index[k]);
      hi = Math.max(hi, cols.index[k]);
    }
    if (hi - lo + 1 > reach) return null;
    out.push({ lo, window: hi - lo + 1, lanes });
  }
  return out;
}

/**
 * The plan at `level`: a workspace of one plane's horizontal pass, by
 * permutes where they reach (unless `permute` is false).
 */
export function planResize(s: ResizeSpec, level: VecLevel, vectors = true): ResizePlan {
  const permutes = vectors ? permuteVectors(s, level) : null;
  const first = verticalFirst(s);
  const repeated = first || !permutes ? null : repeatedRows(s, bandTable(s), bandRows(s));
  if (repeated) {
    return {
      isa: level,
      permutes,
      transposed: false,
      repeated,
      workspaceBytes: 0,
      description: `${level} nearest, each row by permutes to its ${repeated.repeat} output rows`,
    };
  }
  const transposed = vectors && transposedServes(s, level, first, permutes !== null);
  // The workspace holds the first pass's rows: oh of w (vertical first; w padded to vectors
  // for the transposed pass, its columns and results after them) or h of ow.
  const between = first ? s.oh * (transposed ? paddedWidth(s) : s.w) : s.h * s.ow;
  const rowsBytes = Math.ceil((between * 4) / 64) * 64;
  return {
    isa: level,
    permutes,
    transposed,
    repeated: null,
    workspaceBytes: rowsBytes + (transposed ? transposedBytes(s) : 0),
    description: `${level} ${s.mode} separable, ${
      first ? `${s.oh}×${s.w} vertical pass first, then` : `${s.h}×${s.ow}`
    } horizontal pass${permutes ? " by permutes" : transposed ? " by 8 rows transposed" : ""}`,
  };
}

/**
 * Per vector and tap: the lanes' window-relative column indices (i32),
 * then their weights (f32); lanes past the row's end read column 0 with
 * weight 0 (their results are not stored).
 */
function permuteTable(cols: AxisTable, vectors: PermuteVector[], L: number): Uint8Array {
  const out = new Uint8Array(vectors.length * cols.taps * 8 * L), view = new DataView(out.buffer);
  vectors.forEach((p, u) => {
    for (let t = 0; t < cols.taps; t++) {
      const at = (u * cols.taps + t) * 8 * L;
      for (let l = 0; l < p.lanes; l++) {
        const k = (u * L + l) * cols.taps + t;
        view.setInt32(at + 4 * l, cols.index[k] - p.lo, true);
        view.setFloat32(at + 4 * L + 4 * l, cols.weight[k], true);
      }
    }
  });
  return out;
}

/**
 * One input row (at rsi) through the permute vectors into the workspace row
 * (at rdi). Registers: 0-1 the window, 2 the sum, 3 a tap's columns, 4 an
 * AVX2 mask; opmask k2 at AVX-512.
 */
function emitPermuteRow(
  a: Assembler,
  v: Vec,
  s: ResizeSpec,
  cols: AxisTable,
  vectors: PermuteVector[],
  table: ReturnType<Assembler["constant"]>,
  copies = 1,
): void {
  const L = v.isa.lanes, VB = L * 4, wide = v.isa.level === "avx512";
  const nearest = s.mode === "nearest";
  const k2 = KREG[2];
  // A mask of the first `lanes` lanes: opmask k2, or vector register 4.
  const mask = (lanes: number) => {
    if (wide) {
      a.emit("mov", eax, (1 << lanes) - 1);
      a.emit("kmovw", k2, eax);
    } else {
      const m = new Int32Array(8);
      for (let i = 0; i < lanes; i++) m[i] = -1;
      a.emit("vmovups", v.r(4), ptr(a.constant(m, 32), 0, null, 1, 32));
    }
  };
  // Window part `i` (columns lo + i·L …), only the row's columns (the buffer may end there).
  const loadWindow = (reg: number, column: number) => {
    const lanes = Math.min(L, s.w - column), at = ptr(rsi, 4 * column, null, 1, VB);
    if (lanes >= L) return void a.emit("vmovups", v.r(reg), at);
    mask(lanes);
    if (wide) a.emit("vmovups", v.r(reg).k(k2).z, at);
    else a.emit("vmaskmovps", v.r(reg), v.r(4), at);
  };
  // Copies of a row (nearest repeating rows): the row's vectors kept in registers 5.., as many
  // as they hold at a time, and stored row after row, so each output row is runs of stores
  // (stores alternating between the rows ran 1.07-1.10× the time with y off its lines).
  const held = copies > 1;
  const group = v.isa.nregs - 5;
  const store = (u: number, lanes: number, reg: number, c: number) => {
    const to = ptr(rdi, u * VB + c * s.ow * 4, null, 1, VB);
    if (lanes >= L) a.emit("vmovups", to, v.r(reg));
    else if (wide) a.emit("vmovups", to.k(k2), v.r(reg));
    else a.emit("vmaskmovps", to, v.r(4), v.r(reg));
  };
  vectors.forEach((p, u) => {
    loadWindow(0, p.lo);
    if (p.window > L) loadWindow(1, p.lo + L);
    const tap = held ? 5 + (u % group) : 3;
    const sum = nearest ? tap : 2;
    for (let t = 0; t < cols.taps; t++) {
      const at = (u * cols.taps + t) * 8 * L;
      a.emit("vmovups", v.r(tap), ptr(table, at, null, 1, VB));
      if (p.window > L) a.emit("vpermi2ps", v.r(tap), v.r(0), v.r(1));
      else a.emit("vpermps", v.r(tap), v.r(tap), v.r(0));
      if (nearest) continue;
      const weights = ptr(table, at + VB, null, 1, VB);
      if (t === 0) a.emit("vmulps", v.r(2), v.r(tap), weights);
      else a.emit("vfmadd231ps", v.r(2), v.r(tap), weights);
    }
    if (held) {
      // A group's last vector (or the row's): the group to every copy.
      if (u % group !== group - 1 && u !== vectors.length - 1) return;
      const from = u - (u % group);
      if (p.lanes < L) mask(p.lanes);
      for (let c = 0; c < copies; c++) {
        for (let w = from; w <= u; w++) store(w, vectors[w].lanes, 5 + (w % group), c);
      }
      return;
    }
    if (p.lanes < L) mask(p.lanes);
    for (let c = 0; c < copies; c++) store(u, p.lanes, sum, c);
  });
}

/**
 * Nearest's rows when each input row from `first` on is the source of
 * `repeat` consecutive output rows and of no other (an upscale by a whole
 * factor, in any band that starts at a row's first copy), else null: the
 * horizontal pass then writes each row straight to its output rows, with
 * no workspace and no vertical pass.
 */
function repeatedRows(
  s: ResizeSpec,
  rows: AxisTable,
  outRows: number,
): { first: number; repeat: number } | null {
  if (s.mode !== "nearest" || rows.taps !== 1 || rows.outside?.includes(1) || outRows < 2) {
    return null;
  }
  const first = rows.index[0];
  let repeat = 1;
  while (repeat < outRows && rows.index[repeat] === first) repeat++;
  if (outRows % repeat !== 0 || repeat < 2) return null;
  for (let r = 0; r < outRows; r++) {
    if (rows.index[r] !== first + Math.floor(r / repeat)) return null;
  }
  return { first, repeat };
}

const USED: Reg[] = [r12, r13, r14];
/** Below rsp (a leaf: the red zone): the workspace pointer, and the plane of x (vertical first). */
const WS = -8, PLANE = -16;

/**
 * Where a vertical pass reads its rows (the pointer in the slot at rsp +
 * slot) and writes (to), and the bytes it skips after each row it writes.
 */
interface VerticalFrom {
  slot: number;
  to: Reg;
  pad: number;
}
const ROWS: Reg[] = [r9, r10, r11, r14];
/** Taps the vertical pass unrolls (cubic's 4, a row pointer each); more loop over the taps. */
const UNROLLED_TAPS = ROWS.length;
/**
 * Taps the scalar horizontal pass unrolls (3 instructions each, the loop's
 * own 3 saved); wider windows loop over the taps.
 */
const UNROLLED_COLUMN_TAPS = 32;

/**
 * The vertical pass over windows of many taps (r8 at the row table, the
 * source rows from the pointer at [rsp + from.slot], out to from.to): per
 * vector of an output row, the first tap's row times its weight, then each
 * next one's FMA, in the taps' order (as the unrolled pass: the same bits
 * for the same table).
 */
function emitManyRowTaps(
  a: Assembler,
  v: Vec,
  shape: ReturnType<typeof rowShape>,
  tail: Tail | null,
  taps: number,
  oh: number,
  from: VerticalFrom,
): void {
  const { slot, to } = from;
  const VB = shape.vectorBytes;
  // rax: the tap's source row at this step's first vector (r11 bytes into it).
  const row = () => {
    a.emit("movsxd", rax, dword(r9, 0));
    a.emit("add", rax, qword(rsp, slot));
    a.emit("add", rax, r11);
  };
  // `count` vectors (accumulators 0.., loads from count..) at disp, or one tail or scalar.
  const step = (count: number, disp: number, tl?: Tail, scalar = false) => {
    const load = (dst: number, u: number) =>
      scalar ? v.loadScalar(dst, rax, disp) : v.load(dst, rax, disp + u * VB, tl);
    a.emit("mov", r9, r8);
    row();
    v.broadcast(8, r9, 4);
    for (let u = 0; u < count; u++) {
      load(u, u);
      v.op("mul", u, u, 8);
    }
    countedLoop(a, r10, taps - 1, () => {
      a.emit("add", r9, 8);
      row();
      v.broadcast(8, r9, 4);
      for (let u = 0; u < count; u++) {
        load(count + u, u);
        if (v.isa.fma) v.fmadd(u, count + u, 8, u);
        else {
          v.op("mul", count + u, count + u, 8);
          v.op("add", u, u, count + u);
        }
      }
    });
    for (let u = 0; u < count; u++) {
      if (scalar) v.storeScalar(to, disp, u);
      else v.store(to, disp + u * VB, u, tl);
    }
  };
  // Four vectors a step (the tap's row pointer and weight read once for them), then one.
  const fours = Math.floor(shape.full / STEP_VECTORS), ones = shape.full % STEP_VECTORS;
  countedLoop(a, r12, oh, () => {
    a.emit("xor", r11, r11);
    countedLoop(a, rcx, fours, () => {
      step(STEP_VECTORS, 0);
      a.emit("add", r11, STEP_VECTORS * VB);
      a.emit("add", to, STEP_VECTORS * VB);
    });
    countedLoop(a, rcx, ones, () => {
      step(1, 0);
      a.emit("add", r11, VB);
      a.emit("add", to, VB);
    });
    if (tail) step(1, 0, tail);
    else for (let j = 0; j < shape.rest; j++) step(1, j * 4, undefined, true);
    addImmediate(a, "add", to, shape.rest * 4 + from.pad);
    a.emit("add", r8, 8 * taps);
  });
}

/** Vectors a step of the many-taps vertical pass sums at once. */
const STEP_VECTORS = 4;

/** Maximal runs [from, to) of the indices marked 1. */
function runsOf(marks: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < marks.length;) {
    if (!marks[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < marks.length && marks[j]) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

/**
 * The plane's outputs outside the input set to the extrapolation value (rdx
 * at the plane's end): rows outside whole, in the other rows the columns
 * outside. Vector 0 holds the value; rdi walks the run, rcx counts, r9 is
 * the row.
 */
function emitExtrapolation(
  a: Assembler,
  v: Vec,
  s: ResizeSpec,
  outRows: number,
  rowsOutside: Uint8Array,
  colsOutside: Uint8Array,
): void {
  const rowBytes = s.ow * 4;
  v.constant(0, s.extrapolation);
  // `count` floats from rdi on.
  const fill = (count: number) => {
    const shape = rowShape(v, count), VB = shape.vectorBytes;
    countedLoop(a, rcx, shape.full, () => {
      v.store(rdi, 0, 0);
      a.emit("add", rdi, VB);
    });
    const tail = rowTail(v, shape);
    if (tail) v.store(rdi, 0, 0, tail);
    else for (let j = 0; j < shape.rest; j++) v.storeScalar(rdi, j * 4, 0);
  };
  a.emit("mov", r9, rdx);
  addImmediate(a, "sub", r9, outRows * rowBytes);
  for (const [from, to] of runsOf(rowsOutside)) {
    a.emit("lea", rdi, ptr(r9, from * rowBytes, null, 1, 8));
    fill((to - from) * s.ow);
  }
  const columns = runsOf(colsOutside);
  if (columns.length === 0) return;
  const inside = rowsOutside.map((o) => 1 - o);
  for (const [from, to] of runsOf(inside)) {
    a.emit("lea", r10, ptr(r9, from * rowBytes, null, 1, 8));
    countedLoop(a, r12, to - from, () => {
      for (const [c0, c1] of columns) {
        a.emit("lea", rdi, ptr(r10, c0 * 4, null, 1, 8));
        fill(c1 - c0);
      }
      addImmediate(a, "add", r10, rowBytes);
    });
  }
}

/** Emits `void kernel(args)`. */
export function generateResize(
  s: ResizeSpec,
  p: ResizePlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const v = new Vec(a, vecIsa(p.isa));
  const cols = axisTable(s, "w"), rows = bandTable(s), outRows = bandRows(s);
  const nearest = s.mode === "nearest";
  const permutes = p.permutes;
  const first = verticalFirst(s);
  const repeated = p.repeated;
  const permuteConstants = permutes
    ? a.constant(permuteTable(cols, permutes, v.isa.lanes), 64)
    : null;
  const colTable = permutes || p.transposed ? null : a.constant(tableBytes(cols, 4), 64);
  // The transposed pass reads column vectors of 8 rows (32 bytes) where the scalar one reads floats.
  const columnVectors = p.transposed ? a.constant(tableBytes(cols, COLUMN_VECTOR_BYTES), 64) : null;
  // The vertical pass reads x's rows (vertical first) or the workspace's (ow wide).
  const rowTable = a.constant(tableBytes(rows, (first ? s.w : s.ow) * 4), 64);
  saveRegisters(a, USED);
  loadPointer(a, rsi, RESIZE_ARG.X);
  loadPointer(a, rdx, RESIZE_ARG.Y);
  loadPointer(a, rax, WORKSPACE_SLOT);
  a.emit("mov", qword(rsp, WS), rax);
  const fmaScalar = (acc: number, x: number, w: ReturnType<typeof dword>) => {
    if (v.isa.fma) return void a.emit("vfmadd231ss", v.x(acc), v.x(x), w);
    a.emit("mulss", v.x(x), w);
    a.emit("addss", v.x(acc), v.x(x));
  };
  // Horizontal: `count` rows of w from rsi through the column table, ow each to rdi.
  const horizontal = (count: number) => {
    if (permutes) {
      countedLoop(a, r12, count, () => {
        emitPermuteRow(a, v, s, cols, permutes, permuteConstants!);
        addImmediate(a, "add", rdi, s.ow * 4);
        addImmediate(a, "add", rsi, s.w * 4);
      });
      return;
    }
    countedLoop(a, r12, count, () => {
      a.emit("lea", r8, ptr(colTable!, 0, null, 1, 8));
      countedLoop(a, rcx, s.ow, () => {
        a.emit("movsxd", rax, dword(r8, 0));
        v.loadScalarMem(0, dword(rsi, 0, rax, 1));
        if (!nearest) {
          a.emit(
            v.isa.vex ? "vmulss" : "mulss",
            ...(v.isa.vex ? [v.x(0), v.x(0)] : [v.x(0)]),
            dword(r8, 4),
          );
          const tap = (entry: Reg, at: number) => {
            a.emit("movsxd", rax, dword(entry, at));
            v.loadScalarMem(1, dword(rsi, 0, rax, 1));
            fmaScalar(0, 1, dword(entry, at + 4));
          };
          // An antialiased window of many taps loops over them (the code stays small).
          if (cols.taps <= UNROLLED_COLUMN_TAPS) {
            for (let t = 1; t < cols.taps; t++) tap(r8, 8 * t);
          } else {
            a.emit("mov", r9, r8);
            countedLoop(a, r10, cols.taps - 1, () => {
              a.emit("add", r9, 8);
              tap(r9, 0);
            });
          }
        }
        v.storeScalarMem(dword(rdi, 0), 0);
        a.emit("add", r8, 8 * cols.taps);
        a.emit("add", rdi, 4);
      });
      addImmediate(a, "add", rsi, s.w * 4);
    });
  };
  // Vertical: out[i][j] = Σ_t wr[i][t]·src[row(i, t)][j] over `width` columns.
  const vertical = (width: number, from: VerticalFrom) => {
    const shape = rowShape(v, width), VB = shape.vectorBytes, to = from.to;
    a.emit("lea", r8, ptr(rowTable, 0, null, 1, 8));
    const tail = rowTail(v, shape);
    if (rows.taps > UNROLLED_TAPS) {
      return emitManyRowTaps(a, v, shape, tail, rows.taps, outRows, from);
    }
    countedLoop(a, r12, outRows, () => {
      for (let t = 0; t < rows.taps; t++) {
        a.emit("movsxd", ROWS[t], dword(r8, 8 * t));
        a.emit("add", ROWS[t], qword(rsp, from.slot));
        if (!nearest) v.broadcast(8 + t, r8, 8 * t + 4);
      }
      const step = (disp: number, tl?: Tail, scalar = false) => {
        const load = (dst: number, base: Reg) =>
          scalar ? v.loadScalar(dst, base, disp) : v.load(dst, base, disp, tl);
        load(0, ROWS[0]);
        if (!nearest) {
          v.op("mul", 0, 0, 8);
          for (let t = 1; t < rows.taps; t++) {
            load(1, ROWS[t]);
            if (v.isa.fma) v.fmadd(0, 1, 8 + t, 0);
            else {
              v.op("mul", 1, 1, 8 + t);
              v.op("add", 0, 0, 1);
            }
          }
        }
        if (scalar) v.storeScalar(to, disp, 0);
        else v.store(to, disp, 0, tl);
      };
      countedLoop(a, rcx, shape.full, () => {
        step(0);
        for (const r of ROWS.slice(0, rows.taps)) a.emit("add", r, VB);
        a.emit("add", to, VB);
      });
      if (tail) step(0, tail);
      else for (let j = 0; j < shape.rest; j++) step(j * 4, undefined, true);
      addImmediate(a, "add", to, shape.rest * 4 + from.pad);
      a.emit("add", r8, 8 * rows.taps);
    });
  };
  countedLoop(a, r13, s.planes, () => {
    if (first) {
      // x's rows to oh rows of w in the workspace, then each through the column table to y.
      a.emit("mov", qword(rsp, PLANE), rsi);
      a.emit("mov", rdi, qword(rsp, WS));
      const pad = p.transposed ? (paddedWidth(s) - s.w) * 4 : 0;
      vertical(s.w, { slot: PLANE, to: rdi, pad });
      a.emit("mov", rsi, qword(rsp, WS));
      a.emit("mov", rdi, rdx);
      if (p.transposed) {
        const columnsAt = Math.ceil((s.oh * paddedWidth(s) * 4) / 64) * 64;
        emitTransposedRows(a, v, s, cols, columnVectors!, outRows, WS, columnsAt);
      } else horizontal(outRows);
      a.emit("mov", rdx, rdi);
      a.emit("mov", rsi, qword(rsp, PLANE));
      addImmediate(a, "add", rsi, s.h * s.w * 4);
    } else if (repeated && permutes) {
      // Each source row through the column table straight to its `repeat` output rows.
      const { first: row0, repeat } = repeated;
      a.emit("mov", qword(rsp, PLANE), rsi);
      addImmediate(a, "add", rsi, row0 * s.w * 4);
      a.emit("mov", rdi, rdx);
      countedLoop(a, r12, outRows / repeat, () => {
        emitPermuteRow(a, v, s, cols, permutes, permuteConstants!, repeat);
        addImmediate(a, "add", rdi, repeat * s.ow * 4);
        addImmediate(a, "add", rsi, s.w * 4);
      });
      a.emit("mov", rdx, rdi);
      a.emit("mov", rsi, qword(rsp, PLANE));
      addImmediate(a, "add", rsi, s.h * s.w * 4);
    } else {
      // Each of x's rows through the column table to the workspace, then its rows to y.
      a.emit("mov", rdi, qword(rsp, WS));
      horizontal(s.h);
      vertical(s.ow, { slot: WS, to: rdx, pad: 0 });
    }
    // tf_crop_and_resize: outputs whose row or column falls outside x take the extrapolation value.
    if (rows.outside && (rows.outside.includes(1) || cols.outside!.includes(1))) {
      emitExtrapolation(a, v, s, outRows, rows.outside, cols.outside!);
    }
  });
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
  return a.finish();
}
