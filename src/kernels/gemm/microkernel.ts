/**
 * The register-tiled GEMM microkernel, for every ISA level.
 *
 * It computes an mr×nr tile of C = alpha·A·B + beta·C with all accumulators
 * in registers: per k step it loads the tile's row of B (one register per
 * column group), broadcasts one element of A per row, and issues one FMA per
 * accumulator. A, B and C are reached through base registers with strides
 * known at generation time, so every address is `[base + constant]`: the same
 * code serves row-major, transposed and packed operands.
 *
 * Columns come in groups: full vectors, then a masked tail (AVX-512 opmask,
 * AVX2 vmaskmovps) or, at SSE2, single-float columns. With few accumulators
 * the k loop alternates between `kSplit` accumulator sets, so the FMA latency
 * does not bound small tiles.
 *
 * @module
 */
import type { TileFinish } from "./epilogue.ts";
import { byte, type Reg } from "../../../asm/mod.ts";
import type { Tail, Vec, VecIsa } from "../vec.ts";
import { addImmediate } from "../abi.ts";

/** A run of columns handled by one register per row. */
export interface ColumnGroup {
  /** First column of the group within the tile. */
  col: number;
  /** Columns: the level's lanes, a tail's lanes, or 1 (scalar column). */
  width: number;
  /** Set for a masked partial vector. */
  tail: Tail | null;
  /** A single column handled with scalar instructions (SSE2 tails, the scalar level). */
  scalar: boolean;
}

/** Splits `nr` columns into groups: full vectors, then a masked tail or scalar columns. */
export function columnGroups(isa: VecIsa, nr: number, tail: Tail | null): ColumnGroup[] {
  const groups: ColumnGroup[] = [];
  let col = 0;
  while (nr - col >= isa.lanes) {
    groups.push({ col, width: isa.lanes, tail: null, scalar: isa.lanes === 1 });
    col += isa.lanes;
  }
  const rest = nr - col;
  if (rest > 0) {
    if (tail && isa.lanes > 1) {
      if (tail.lanes !== rest) throw new Error(`tail of ${tail.lanes} lanes for ${rest} columns`);
      groups.push({ col, width: rest, tail, scalar: false });
    } else {for (let j = col; j < nr; j++) {
        groups.push({ col: j, width: 1, tail: null, scalar: true });
      }}
  }
  return groups;
}

/** An operand reached as `base + row·rowBytes + col·colBytes`. */
export interface Strided {
  base: Reg;
  rowBytes: number;
  colBytes: number;
}

/**
 * A prefetch stream beside the operands: each iteration of the unrolled
 * loop prefetches `base + offset` for every offset (spread over its k
 * steps), then advances `base` by `advance`. The remainder steps skip it.
 */
export interface PrefetchStream {
  base: Reg;
  offsets: number[];
  advance: number;
  /** Default `prefetcht0`. */
  hint?: "prefetcht0" | "prefetcht1" | "prefetcht2" | "prefetchnta" | "prefetchw";
}

/** Everything one microkernel instance needs. */
export interface MicrokernelSpec {
  /** Rows of the tile. */
  mr: number;
  /** Column groups of the tile. */
  groups: ColumnGroup[];
  /** op(A): element (i, p). The base advances with p. */
  a: Strided;
  /** op(B): element (p, j) at base + p·rowBytes + j·colBytes (4 for vector columns). The base advances with p. */
  b: Strided;
  /** C: element (i, j) at base + offset + i·rowBytes + j·4. */
  c: { base: Reg; rowBytes: number; offset?: number };
  /** k steps: a constant, or a register holding it (≥ 1, preserved). */
  k: number | Reg;
  /** Scratch register for the loop counter. */
  counter: Reg;
  /** k steps per loop iteration (a power of two when k is a register). */
  unroll: number;
  /** Independent accumulator sets (1, 2 or 4): k step p goes to set p mod kSplit. */
  kSplit: number;
  alpha: number;
  beta: number;
  /** true: C = alpha·AB + beta·C; false: C += alpha·AB; a register: true when nonzero. */
  first: boolean | Reg;
  /**
   * B rows in runs (a convolution's kernel taps): step u of an unrolled
   * iteration reads B at base + bSteps[u] instead of base + u·rowBytes, and
   * each iteration advances B by rowBytes. unroll = bSteps.length, and a
   * constant k a multiple of it.
   */
  bSteps?: readonly number[];
  /**
   * A in runs too (a transposed convolution's flipped weights): step u of
   * an iteration reads row i at base + i·rowBytes + aSteps[u], and each
   * iteration advances A by aAdvance.
   */
  aSteps?: readonly number[];
  aAdvance?: number;
  /**
   * `bSteps` in periods (a K×K kernel's rows of taps: the next `period`
   * steps lie `advance` bytes further on, `count` times): each iteration
   * runs as an inner loop (on `counter`) over the first `period` steps,
   * A advancing `period` columns and B `advance` bytes a turn, then the
   * steps after the last whole period. The same steps in the same order
   * (the same bits) from a loop a `count`th the size (see conv/plan.ts
   * TAP_PERIODS); the `stream` prefetches and advances once a turn. Needs
   * `bSteps`, no `aSteps` and no B `prefetch`.
   */
  bPeriods?: { period: number; count: number; advance: number; counter: Reg };
  /** Vector registers the microkernel must not touch (an AVX2 tail mask). */
  reserved?: number[];
  /** Bytes ahead of each k step's row of B (its `bSteps` offset where given) to prefetch (0: none). */
  prefetch?: number;
  /** Bytes of B to prefetch each k step from `prefetch` on (default: the row, at most 128). */
  prefetchBytes?: number;
  /**
   * Each k step's row of B, as loaded, also stored at `base` + the step ·
   * `rowBytes` (its groups at their columns), `base` advancing with B: a
   * tile that reads B as stored writes the copy later tiles read. Whole
   * vector groups loaded into registers only, no `aSteps`; B in runs
   * (`bSteps`, `bPeriods`: a convolution's taps) gives a copy of plain rows,
   * one a k step in order (an im2col strip). `claimAhead`:
   * bytes ahead of each step's row whose lines are claimed for writing
   * (`prefetchw`), so the stores do not wait on their ownership (0: none).
   */
  copyB?: { base: Reg; rowBytes: number; claimAhead: number };
  /** A prefetch stream beside the operands (see PrefetchStream). */
  stream?: PrefetchStream;
  /**
   * More prefetch streams, each as `stream`, emitted after it: a later
   * tile's C claimed a few lines a turn (conv/generate.ts), not in a burst
   * before the loop.
   */
  streamsAlso?: PrefetchStream[];
  /** Prefetch the C tile before the k loop, so the update finds it in cache (C is read). */
  prefetchC?: boolean;
  /**
   * AVX-512: fold A's broadcast into the FMA (`vfmadd231ps acc, b, [a]{1to16}`)
   * instead of a separate vbroadcastss; pays off when each row has one group.
   */
  embedBroadcast?: boolean;
  /**
   * B's vectors as the FMAs' memory operands, not loaded into registers
   * first (with one row of A each is read once: the registers go to more
   * columns). Needs FMA; only where no group is scalar or has a tail.
   */
  bFromMemory?: boolean;
  /**
   * Replaces zeroing the accumulators (kSplit 1): fills the accumulator of
   * (row, group), with the vector registers not holding accumulators free.
   * A convolution split over input-channel blocks reloads its exact partial
   * sums this way, so the FMA chain goes on as if never stored.
   */
  init?: (acc: (i: number, g: number) => number, free: number[]) => void;
  /**
   * Replaces the C update: receives the accumulator of (row, group) and the
   * vector registers free after the k loop.
   */
  epilogue?: (acc: (i: number, g: number) => number, free: number[]) => void;
}

/**
 * Vector registers a tile needs: its accumulators, plus the larger of what
 * the k loop needs beside them (B row, broadcast, scratch without FMA) and
 * what the C update needs (alpha, beta, C, scratch without FMA).
 */
export function registersNeeded(
  isa: VecIsa,
  mr: number,
  groups: number,
  kSplit: number,
  bFromMemory = false,
): number {
  const scratch = isa.fma ? 0 : 1;
  const bRow = bFromMemory ? 0 : groups;
  return kSplit * mr * groups + Math.max(bRow + 1 + scratch, 3 + scratch);
}

/**
 * Whether a tile asked for `bFromMemory` reads B from memory: with FMA,
 * without AVX-512's embedded broadcast, where no group is scalar or has a
 * tail (those load into registers as without it). The planner's register
 * rule and the microkernel both ask this.
 */
export function readsBFromMemory(
  isa: VecIsa,
  groups: ColumnGroup[],
  asked: boolean,
  embedBroadcast = false,
): boolean {
  return asked && isa.fma && !embedBroadcast && groups.every((g) => !g.scalar && !g.tail);
}

/**
 * Whether a tile of `mr` rows × `groups` column groups with `kSplit`
 * accumulator sets fits the register file beside `reserved` registers: the
 * one register rule, shared by the planner and the generators.
 */
export function tileFits(
  isa: VecIsa,
  mr: number,
  groups: number,
  kSplit: number,
  reserved: number,
  bFromMemory = false,
): boolean {
  return registersNeeded(isa, mr, groups, kSplit, bFromMemory) <= isa.nregs - reserved;
}

/** Emits the microkernel: zero, k loop, C update. Advances `a.base` and `b.base`. */
export function emitMicrokernel(v: Vec, s: MicrokernelSpec): void {
  const a = v.a;
  const { mr, groups } = s;
  const ng = groups.length;
  const reserved = new Set(s.reserved ?? []);
  const pool: number[] = [];
  for (let r = 0; r < v.isa.nregs; r++) if (!reserved.has(r)) pool.push(r);
  if (s.b.colBytes !== 4 && groups.some((g) => !g.scalar)) {
    throw new Error("vector columns of B must be contiguous (colBytes 4)");
  }
  const nacc = s.kSplit * mr * ng;
  const fromMemory = readsBFromMemory(v.isa, groups, s.bFromMemory ?? false, s.embedBroadcast);
  if (s.copyB && (fromMemory || s.aSteps || groups.some((g) => g.scalar || g.tail))) {
    throw new Error("microkernel: copyB needs B's whole vectors loaded, no aSteps");
  }
  const need = registersNeeded(v.isa, mr, ng, s.kSplit, fromMemory);
  if (need > pool.length) {
    throw new Error(
      `microkernel ${mr}×${ng} groups ×${s.kSplit} needs ${need} registers, has ${pool.length}`,
    );
  }
  const acc = (set: number, i: number, g: number) => pool[(set * mr + i) * ng + g];
  const bReg = (g: number) => pool[nacc + g];
  const spare = pool.slice(nacc + (fromMemory ? 0 : ng));
  const tmp = v.isa.fma ? -1 : spare.pop()!;
  const bcast = spare.length >= 2 ? [spare[0], spare[1]] : [spare[0]];

  if (s.init) {
    if (s.kSplit !== 1) throw new Error("microkernel: init needs kSplit 1");
    s.init((i, g) => acc(0, i, g), pool.slice(nacc));
  } else {
    for (let set = 0; set < s.kSplit; set++) {
      for (let i = 0; i < mr; i++) for (let g = 0; g < ng; g++) v.zero(acc(set, i, g));
    }
  }
  if (s.prefetchC) {
    const rowBytes = groups[ng - 1].col * 4 + groups[ng - 1].width * 4;
    const offset = s.c.offset ?? 0;
    for (let i = 0; i < mr; i++) {
      for (let off = 0; off < rowBytes; off += 64) {
        a.emit("prefetcht0", byte(s.c.base, offset + i * s.c.rowBytes + off));
      }
    }
  }

  let bc = 0;
  // The prefetch streams, `stream` first.
  const streams = [...(s.stream ? [s.stream] : []), ...(s.streamsAlso ?? [])];
  const embed = (s.embedBroadcast ?? false) && v.isa.level === "avx512" &&
    groups.every((g) => !g.scalar);
  /**
   * k step u of an iteration into accumulator set `set`; the stream's share
   * of a loop body of `body` steps when `streamed`; B's row at `bAt` when
   * given (a period's step or a step after the periods).
   */
  const step = (u: number, set: number, streamed = false, bAt?: number, body = s.unroll) => {
    for (const r of streamed ? streams : []) {
      const per = Math.ceil(r.offsets.length / body);
      for (const off of r.offsets.slice(u * per, (u + 1) * per)) {
        a.emit(r.hint ?? "prefetcht0", byte(r.base, off));
      }
    }
    const bDisp = (g: number) =>
      (bAt ?? (s.bSteps ? s.bSteps[u] : u * s.b.rowBytes)) + groups[g].col * s.b.colBytes;
    for (let g = 0; g < ng && !fromMemory; g++) {
      const grp = groups[g];
      if (grp.scalar) v.loadScalar(bReg(g), s.b.base, bDisp(g));
      else v.load(bReg(g), s.b.base, bDisp(g), grp.tail ?? undefined);
    }
    if (s.copyB) {
      const { base, rowBytes, claimAhead } = s.copyB;
      const width = groups[ng - 1].col * 4 + groups[ng - 1].width * 4;
      for (let off = 0; off < width && claimAhead > 0; off += 64) {
        a.emit("prefetchw", byte(base, u * rowBytes + claimAhead + off));
      }
      for (let g = 0; g < ng; g++) v.store(base, u * rowBytes + groups[g].col * 4, bReg(g));
    }
    if (s.prefetch) {
      const bytes = s.prefetchBytes ?? Math.min(s.b.rowBytes, 128);
      for (let off = 0; off < bytes; off += 64) {
        a.emit(
          "prefetcht0",
          byte(s.b.base, (s.bSteps ? s.bSteps[u] : u * s.b.rowBytes) + s.prefetch + off),
        );
      }
    }
    for (let i = 0; i < mr; i++) {
      const disp = i * s.a.rowBytes + (s.aSteps ? s.aSteps[u] : u * s.a.colBytes);
      if (embed) {
        for (let g = 0; g < ng; g++) {
          v.fmaBroadcast(acc(set, i, g), bReg(g), s.a.base, disp);
        }
        continue;
      }
      const t = bcast[bc++ % bcast.length];
      v.broadcast(t, s.a.base, disp);
      for (let g = 0; g < ng; g++) {
        if (fromMemory) v.fmaFrom(acc(set, i, g), t, s.b.base, bDisp(g));
        else if (groups[g].scalar && v.isa.lanes > 1) v.fmaScalar(acc(set, i, g), bReg(g), t, tmp);
        else v.fma(acc(set, i, g), bReg(g), t, tmp);
      }
    }
  };
  const advance = (steps: number) => {
    if (steps === 0) return;
    addImmediate(a, "add", s.a.base, s.aSteps ? s.aAdvance! : steps * s.a.colBytes);
    addImmediate(a, "add", s.b.base, s.bSteps ? s.b.rowBytes : steps * s.b.rowBytes);
    if (s.copyB) addImmediate(a, "add", s.copyB.base, steps * s.copyB.rowBytes);
  };
  const runs = s.aSteps ?? s.bSteps;
  if (runs && (runs.length !== s.unroll || typeof s.k !== "number" || s.k % s.unroll)) {
    throw new Error(
      "microkernel: bSteps needs unroll = bSteps.length and a constant k of whole runs",
    );
  }

  const U = s.unroll;
  // Step p of k goes to accumulator set p mod kSplit in every tile, full or
  // edge, whatever its unrolling: the sum's order (and so its bits) is then
  // the plan's, wherever a partition puts the tile edges.
  if (s.kSplit > 1 && (U % s.kSplit !== 0 || (s.kSplit & (s.kSplit - 1)) !== 0)) {
    throw new Error(`microkernel: kSplit ${s.kSplit} must be a power of two dividing unroll ${U}`);
  }
  const periods = s.bPeriods;
  if (periods) {
    const { period, count, advance: by } = periods;
    const steps = s.bSteps;
    if (!steps || s.aSteps || s.prefetch || count < 2 || period % s.kSplit !== 0) {
      throw new Error(
        "microkernel: bPeriods needs bSteps, no aSteps or B prefetch, two periods or more and kSplit dividing the period",
      );
    }
    for (let u = 0; u < period * count; u++) {
      const j = Math.floor(u / period), t = u % period;
      if (steps[u] !== steps[t] + j * by) {
        throw new Error(`microkernel: bSteps[${u}] is not bSteps[${t}] + ${j}·${by}`);
      }
    }
  }
  /** One iteration: the unrolled steps, or (bPeriods) a loop over a period and the rest. */
  const unrolled = () => {
    if (periods) {
      const { period, count, advance: by, counter } = periods;
      const steps = s.bSteps!;
      const top = a.label();
      a.emit("mov", counter, count);
      a.align(16);
      a.bind(top);
      for (let t = 0; t < period; t++) step(t, t % s.kSplit, true, steps[t], period);
      addImmediate(a, "add", s.a.base, period * s.a.colBytes);
      addImmediate(a, "add", s.b.base, by);
      // The copy's rows are the steps in order: a period's rows a turn.
      if (s.copyB) addImmediate(a, "add", s.copyB.base, period * s.copyB.rowBytes);
      for (const r of streams) addImmediate(a, "add", r.base, r.advance);
      a.emit("dec", counter);
      a.emit("jnz", top);
      const done = period * count;
      for (let u = done; u < U; u++) step(u - done, u % s.kSplit, false, steps[u] - count * by);
      addImmediate(a, "add", s.a.base, (U - done) * s.a.colBytes);
      addImmediate(a, "add", s.b.base, s.b.rowBytes - count * by);
      if (s.copyB && U > done) addImmediate(a, "add", s.copyB.base, (U - done) * s.copyB.rowBytes);
      return;
    }
    for (let u = 0; u < U; u++) step(u, u % s.kSplit, true);
    advance(U);
    for (const r of streams) addImmediate(a, "add", r.base, r.advance);
  };
  /** The unrolled body as a loop on the counter (already loaded, nonzero). */
  const loop = () => {
    const top = a.label();
    a.align(16);
    a.bind(top);
    unrolled();
    a.emit("dec", s.counter);
    a.emit("jnz", top);
  };
  if (typeof s.k === "number") {
    const full = Math.floor(s.k / U), rem = s.k % U;
    if (full > 1) {
      a.emit("mov", s.counter, full);
      loop();
    } else if (full === 1) unrolled();
    for (let u = 0; u < rem; u++) step(u, u % s.kSplit);
    if (rem) advance(rem);
  } else {
    if ((U & (U - 1)) !== 0) throw new Error("unroll must be a power of two for a runtime k");
    const remainder = a.label(), done = a.label();
    a.emit("mov", s.counter, s.k);
    // A shift by 0 leaves the flags alone, so unroll 1 tests instead.
    if (U > 1) a.emit("shr", s.counter, Math.log2(U));
    else a.emit("test", s.counter, s.counter);
    a.emit("jz", remainder);
    loop();
    a.bind(remainder);
    if (U > 1 && s.kSplit === 1) {
      a.emit("mov", s.counter, s.k);
      a.emit("and", s.counter, U - 1);
      a.emit("jz", done);
      const one = a.label();
      a.bind(one);
      step(0, 0);
      advance(1);
      a.emit("dec", s.counter);
      a.emit("jnz", one);
    } else if (U > 1) {
      // Step p still goes to set p mod kSplit: runs of kSplit steps, then
      // the last k mod kSplit steps one by one into sets 0, 1, ...
      const singles = a.label(), run = a.label();
      a.emit("mov", s.counter, s.k);
      a.emit("and", s.counter, U - 1);
      a.emit("shr", s.counter, Math.log2(s.kSplit));
      a.emit("jz", singles);
      a.bind(run);
      for (let u = 0; u < s.kSplit; u++) step(u, u);
      advance(s.kSplit);
      a.emit("dec", s.counter);
      a.emit("jnz", run);
      a.bind(singles);
      a.emit("mov", s.counter, s.k);
      a.emit("and", s.counter, s.kSplit - 1);
      a.emit("jz", done);
      for (let set = 0; set < s.kSplit - 1; set++) {
        step(0, set);
        advance(1);
        if (set < s.kSplit - 2) {
          a.emit("dec", s.counter);
          a.emit("jz", done);
        }
      }
    }
    a.bind(done);
  }
  if (s.kSplit > 1) {
    for (let set = 1; set < s.kSplit; set++) {
      for (let i = 0; i < mr; i++) {
        for (let g = 0; g < ng; g++) {
          if (groups[g].scalar && v.isa.lanes > 1) v.scalarOp("add", acc(0, i, g), acc(set, i, g));
          else v.add(acc(0, i, g), acc(0, i, g), acc(set, i, g));
        }
      }
    }
  }

  // Registers free for the C update: everything but the first accumulator set.
  const free = pool.slice(mr * ng);
  const tileAcc = (i: number, g: number) => acc(0, i, g);
  if (s.epilogue) s.epilogue(tileAcc, free);
  else emitTileUpdate(v, s, tileAcc, free);
}

/**
 * The C update of a tile, choosing first/accumulate at run time when
 * `s.first` is a register; `finish` (epilogue.ts) applied to each vector's
 * final value before it is stored.
 */
export function emitTileUpdate(
  v: Vec,
  s: MicrokernelSpec,
  acc: (i: number, g: number) => number,
  free: number[],
  finish?: TileFinish,
): void {
  const a = v.a;
  if (typeof s.first === "boolean") return emitUpdate(v, s, s.first, acc, free, finish);
  const accumulate = a.label(), end = a.label();
  a.emit("test", s.first, s.first);
  a.emit("jz", accumulate);
  emitUpdate(v, s, true, acc, free, finish);
  a.emit("jmp", end);
  a.bind(accumulate);
  emitUpdate(v, s, false, acc, free, finish);
  a.bind(end);
}

/** Registers `emitUpdate` keeps for itself out of the free ones (alpha, beta, C, scratch). */
export function updateRegisters(
  isa: VecIsa,
  s: { alpha: number; beta: number },
  first: boolean,
): number {
  const beta = first ? s.beta : 1;
  return (s.alpha !== 1 ? 1 : 0) + (beta !== 0 && beta !== 1 ? 1 : 0) + (beta !== 0 ? 1 : 0) +
    (isa.fma ? 0 : 1);
}

/**
 * C update of the tile. first: C = alpha·acc + beta·C (beta = 0 never reads C);
 * otherwise C += alpha·acc. `finish`: on each final value before its store,
 * with the registers left over (see `updateRegisters`).
 */
export function emitUpdate(
  v: Vec,
  s: MicrokernelSpec,
  first: boolean,
  acc: (i: number, g: number) => number,
  free: number[],
  finish?: TileFinish,
): void {
  const alpha = s.alpha;
  const beta = first ? s.beta : 1;
  const regs = [...free];
  const alphaReg = alpha !== 1 ? regs.shift()! : -1;
  const betaReg = beta !== 0 && beta !== 1 ? regs.shift()! : -1;
  // C's value where it is read (beta ≠ 0); a scratch for multiply-adds without FMA.
  const cTmp = beta !== 0 ? regs.shift()! : -1;
  const sTmp = v.isa.fma ? -1 : regs.shift() ?? -1;
  if (alphaReg >= 0) v.constant(alphaReg, alpha);
  if (betaReg >= 0) v.constant(betaReg, beta);
  const done = (r: number, grp: ColumnGroup) => finish ? finish.apply(r, grp, regs) : r;
  for (let i = 0; i < s.mr; i++) {
    for (let g = 0; g < s.groups.length; g++) {
      const grp = s.groups[g];
      const scalar = grp.scalar && v.isa.lanes > 1;
      const disp = (s.c.offset ?? 0) + i * s.c.rowBytes + grp.col * 4;
      const x = acc(i, g);
      const load = (dst: number) =>
        scalar
          ? v.loadScalar(dst, s.c.base, disp)
          : v.load(dst, s.c.base, disp, grp.tail ?? undefined);
      const mul = (dst: number, r: number) =>
        scalar ? v.scalarOp("mul", dst, r) : v.mul(dst, dst, r);
      const add = (dst: number, r: number) =>
        scalar ? v.scalarOp("add", dst, r) : v.add(dst, dst, r);
      const fma = (dst: number, x1: number, y1: number) => {
        if (scalar) v.fmaScalar(dst, x1, y1, sTmp);
        else v.fma(dst, x1, y1, sTmp);
      };
      if (beta === 0) {
        if (alphaReg >= 0) mul(x, alphaReg);
      } else if (beta === 1) {
        load(cTmp);
        if (alphaReg >= 0) fma(cTmp, x, alphaReg);
        else add(cTmp, x);
        store(v, s.c.base, disp, done(cTmp, grp), grp, scalar);
        finish?.spare(x);
        continue;
      } else {
        if (alphaReg >= 0) mul(x, alphaReg);
        load(cTmp);
        fma(x, cTmp, betaReg);
      }
      store(v, s.c.base, disp, done(x, grp), grp, scalar);
      finish?.spare(x);
    }
  }
  finish?.end();
}

function store(
  v: Vec,
  base: Reg,
  disp: number,
  src: number,
  grp: ColumnGroup,
  scalar: boolean,
): void {
  if (scalar) v.storeScalar(base, disp, src);
  else v.store(base, disp, src, grp.tail ?? undefined);
}
