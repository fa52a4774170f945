/**
 * Softmax of short rows (up to 8 AVX-512 vectors), software-pipelined over
 * three rows at a time. Each row is three stages, each a chain of
 * latencies with little work beside it:
 *
 * - A: its maximum (loads, a max tree, the fold across lanes);
 * - B: e^(x − max) in place, their sum (a tree, then across lanes), and
 *   1/sum — or, for logSoftmax, x − max kept and ln(sum);
 * - C: e·(1/sum) or (x − max) − ln(sum), stored.
 *
 * Step j interleaves A of row j+2, B of row j+1 and C of row j, so every
 * stage's latency has the other rows' work beside it; two register sets
 * alternate between consecutive rows (the loop body is two steps). Tier 2
 * also tries the rows one at a time through the same stages (the same
 * bits). A row's own instructions do not depend on its neighbours or on
 * the row count: the same bits however rows are split.
 *
 * e^x is taken in place and the sum is a tree, so 4 exponentials are in
 * flight per row (the kernel before kept e apart from x and summed in row
 * order: 2 streams and a serial chain). Measured on an Intel Xeon, one
 * process, kernels alternating (a scratch A/B): 1536×128 139-157 →
 * 121-130 µs. Three rows in flight against one at a time, tier 2's two
 * candidates (`deno run -A bench/tune_candidates.ts --softmax 3072x64`,
 * two runs): 3072×64 201 → 166 and 147 → 126 µs, 256×128 21.7 → 20.3 and
 * 21.8 → 21.1, 1536×128 even (124 against 120-125: on that VM its 1.5 MB
 * of operands stream at DRAM speed).
 *
 * @module
 */
import { type Assembler, r8, rdx, rsi } from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { Lanes } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import { allocateStreams } from "../streams.ts";
import { emitExpStep } from "./exp_step.ts";
import { f32, type Tail, type Vec, type VecLevel } from "../vec.ts";
import type { SoftmaxSpec } from "./spec.ts";

/** Most vectors per row the pipeline holds (two rows' registers, and B's temporaries). */
export const PIPELINED_MAX_VECTORS = 8;

/** The register sets of the two row parities, and stage B's pool. */
interface Registers {
  /** The row's vectors, per parity. */
  row: [number[], number[]];
  /** The row's maximum, written by A, read by B. */
  max: [number, number];
  /** 1/sum or ln(sum), written by B, read by C. */
  scale: [number, number];
  /** A's second accumulator and its temporary. */
  a: [number, number];
  /** B's temporaries (exponential streams, the sum tree). */
  b: number[];
}

/** Whether rows of the spec go through the three stages here (AVX-512, up to 8 vectors). */
export function stagedRows(s: SoftmaxSpec, isa: VecLevel): boolean {
  return isa === "avx512" && Math.ceil(s.cols / 16) <= PIPELINED_MAX_VECTORS;
}

/**
 * Emits the rows from rsi to rdx (AVX-512, `s.cols` ≤ 8 vectors, k1 the
 * tail's mask if any), three rows in flight or (`pipelined` false) one row
 * after the other through the same stages; clobbers r8.
 */
export function emitStagedRows(
  a: Assembler,
  v: Vec,
  s: SoftmaxSpec,
  tail: Tail | null,
  pipelined: boolean,
): void {
  const L = v.isa.lanes, VB = L * 4;
  const k = Math.ceil(s.cols / L);
  if (v.isa.level !== "avx512" || k > PIPELINED_MAX_VECTORS) {
    throw new Error(`pipelined softmax: ${s.cols} columns at ${v.isa.level}`);
  }
  const regs: Registers = {
    row: [range(0, k), range(k, k)],
    max: [2 * k, 2 * k + 1],
    scale: [2 * k + 2, 2 * k + 3],
    a: [2 * k + 4, 2 * k + 5],
    b: range(2 * k + 6, v.isa.nregs - 2 * k - 6),
  };
  const last = k - 1;
  const tailOf = (i: number) => (i === last && tail ? tail : undefined);
  // B's exponentials in streams over its pool (logSoftmax keeps x − max, so
  // e takes a register of its own); constants pinned in the rest.
  const x0 = regs.row[0][0];
  const exps = allocateStreams(v, regs.b, s.log ? 1 : 0, 4, (m, fixed) => {
    emitExpStep(m, s.log ? fixed[0] : x0, x0, -1, regs.max[0]);
  });

  /** A: the maximum of the row at `off` into max[p]. */
  const stageA = (to: Assembler, off: number, p: number) => {
    const w = v.retarget(to);
    const acc = [regs.max[p], regs.a[0]], t = regs.a[1];
    for (let i = 0; i < k; i++) {
      const dst = i < 2 ? acc[i] : t;
      const tl = tailOf(i);
      if (tl) w.loadFilled(dst, rsi, off + i * VB, tl, f32(-Infinity));
      else w.load(dst, rsi, off + i * VB);
      if (i >= 2) w.op("max", acc[i % 2], acc[i % 2], t);
    }
    if (k > 1) w.op("max", acc[0], acc[0], acc[1]);
    w.reduceAll("max", acc[0], t);
  };

  /** B: the row at `off` in row[p]; its sum's reciprocal (or log) into scale[p]. */
  const stageB = (to: Assembler, off: number, p: number) => {
    const w = v.retarget(to);
    const row = regs.row[p], mx = regs.max[p], sum = regs.scale[p];
    for (let i = 0; i < k; i++) {
      // The tail's other lanes are −Inf: their e^x is 0.
      const tl = tailOf(i);
      if (tl) w.loadFilled(row[i], rsi, off + i * VB, tl, f32(-Infinity));
      else w.load(row[i], rsi, off + i * VB);
    }
    if (s.log) w.zero(sum);
    for (let g = 0; g < k; g += exps.count) {
      const group = range(g, Math.min(k, g + exps.count) - g);
      emitInterleaved(
        to,
        group.map((i) => (inner: Assembler) => {
          const st = exps.stream(i - g), m = new Lanes(w.retarget(inner), st.temps, st.masks);
          emitExpStep(m, s.log ? st.fixed[0] : row[i], row[i], -1, mx);
        }),
      );
      // logSoftmax sums in row order as the exponentials come.
      if (s.log) { for (const i of group) w.op("add", sum, sum, exps.stream(i - g).fixed[0]); }
    }
    const free = exps.unpinned;
    if (!s.log) sumTree(w, sum, row, free);
    w.reduceAll("add", sum, free[0]);
    if (s.log) {
      const m = new Lanes(w, free.slice(1));
      emitLog(m, free[0], sum);
      w.move(sum, free[0]);
    } else {
      w.move(free[0], f32(1));
      w.op("div", sum, free[0], sum);
    }
  };

  /** C: the row at `off` scaled (or shifted) and stored. */
  const stageC = (to: Assembler, off: number, p: number) => {
    const w = v.retarget(to);
    const row = regs.row[p], scale = regs.scale[p];
    for (let i = 0; i < k; i++) {
      w.op(s.log ? "sub" : "mul", row[i], row[i], scale);
      w.store(rdx, off + i * VB, row[i], tailOf(i));
    }
  };

  const R = s.rows, rowBytes = s.cols * 4;
  if (!pipelined) {
    countedLoop(a, r8, R, () => {
      stageA(a, 0, 0);
      stageB(a, 0, 0);
      stageC(a, 0, 0);
      addImmediate(a, "add", rsi, rowBytes);
      addImmediate(a, "add", rdx, rowBytes);
    });
    return;
  }
  type Stage = (to: Assembler) => void;
  const step = (stages: Stage[]) => emitInterleaved(a, stages);
  // Prologue: rsi and rdx at row 0.
  stageA(a, 0, 0);
  if (R === 1) {
    stageB(a, 0, 0);
    stageC(a, 0, 0);
    return;
  }
  step([(to) => stageA(to, rowBytes, 1), (to) => stageB(to, 0, 0)]);
  // Step j (rsi, rdx at row j): C of row j, B of row j+1, A of row j+2.
  const middle = (p: number) => {
    step([
      (to) => stageC(to, 0, p),
      (to) => stageB(to, rowBytes, 1 - p),
      (to) => stageA(to, 2 * rowBytes, p),
    ]);
    addImmediate(a, "add", rsi, rowBytes);
    addImmediate(a, "add", rdx, rowBytes);
  };
  const steps = R - 2;
  countedLoop(a, r8, Math.floor(steps / 2), () => {
    middle(0);
    middle(1);
  });
  if (steps % 2) middle(0);
  // Epilogue: rows R−2 and R−1.
  const p = steps % 2;
  step([(to) => stageC(to, 0, p), (to) => stageB(to, rowBytes, 1 - p)]);
  stageC(a, rowBytes, 1 - p);
}

/**
 * dst = the sum of `vals` as a balanced tree, pairs of neighbours first
 * (a fixed order: the bits depend on the count only); `vals` are kept.
 */
export function sumTree(
  v: Vec,
  dst: number,
  vals: readonly number[],
  temps: readonly number[],
): void {
  let level = [...vals];
  const owned = new Set<number>();
  const spare = [dst, ...temps.filter((r) => r !== dst)];
  while (level.length > 1) {
    const next: number[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      // Write over a partial sum of ours, else take a fresh register.
      const out = owned.has(level[i]) ? level[i] : spare.shift()!;
      owned.add(out);
      v.op("add", out, level[i], level[i + 1]);
      next.push(out);
    }
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  if (level[0] !== dst) v.move(dst, level[0]);
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}
