/**
 * The conv2d generator: `(spec, plan) → program`.
 *
 * Per image and group: the phase planes are built in the workspace (unless
 * x is read as is, see geometry.ts), then tiles of `mr` output channels ×
 * `ng` vectors of positions run the GEMM microkernel with the kernel's taps
 * as B's row offsets: each k-loop iteration is one input channel (or a few)
 * with every tap unrolled, A is w in ONNX layout (one row per output
 * channel, broadcast), so weights need no packing. Position tiles are the
 * outer loop, so one tile's window of the planes stays in L1 while every
 * channel tile streams its weights from L2. The tile's store adds the bias
 * and the residual and applies the activation in registers.
 *
 * Every output element is Σ over (input channel, tap) in that order with one
 * FMA chain, whatever tile or lane computes it: tiling, bands and threads
 * never change a bit.
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
  word,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  advanceSlot,
  ARG_BLOCK_BYTES,
  copyArgBlock,
  countedLoop,
  emitArrival,
  frameLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { type ColumnGroup, columnGroups, emitMicrokernel, tileFits } from "../gemm/microkernel.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { type Tail, Vec, type VecIsa, vecIsa } from "../vec.ts";
import { type ConvGeometry, convGeometry, outputBytes, planesBytes } from "./geometry.ts";
import { HEAD_MIN_STEPS } from "./read.ts";
import { emitDepthwiseGroup } from "./depthwise.ts";
import { emitDepthwiseNhwc } from "./depthwise_nhwc.ts";
import { emitChannelBlocks } from "./channel_blocks.ts";
import {
  channelVectorHalfBytes,
  channelVectorPartialBytes,
  emitChannelVectorGroup,
  tileCall,
} from "./channel_vectors.ts";
import { emitTransposePhases } from "./transpose_phases.ts";
import { emitPlanes } from "./planes.ts";
import { entryBytes, storeTable } from "./store_table.ts";
import { type ConvPlan, epilogueRegisters, X_TILES_AHEAD } from "./plan.ts";
import { CONV_ARG, type ConvSpec } from "./spec.ts";
import { emitCombine } from "./k_halves.ts";

const USED: Reg[] = [rbx, rbp, r12, r13, r14, r15];
/**
 * Bytes ahead of each row of weights to prefetch. In a model every layer's
 * weights come from DRAM: measured on Zen 5, ResNet-50 ran 3% faster
 * (`deno task model`, 1 thread, 40.4 → 39.4 ms) with 512.
 */
const WEIGHTS_AHEAD = 512;
// Stack frame slots (bytes from rsp).
const F = {
  X: 0, // x of the image
  W: 8,
  B: 16,
  R: 24, // residual of the image (band)
  Y: 32, // y of the image (band)
  WS: 40,
  IMG: 48, // counters
  GRP: 56,
  RUN: 64,
  TILE: 72,
  XG: 80, // the group's pointers
  WG: 88,
  BG: 96,
  RG: 104,
  YG: 112,
  RUNB: 120, // the run's first position: planes, y, residual
  RUNY: 128,
  RUNR: 136,
  PLANES: 192, // the group's planes (the workspace, or x)
  ROW0: 200, // depthwise: the first output row of the tile
  WB: 144, // the channel block's weights, bias, y and residual
  BB: 152,
  YB: 160,
  RB: 168,
  BLK: 176, // block counter
  ICW: 208, // input-channel blocks: bytes into the weights and the planes, counter
  ICB: 216,
  ICN: 224,
  NEXTW: 232, // the channel-vector kernel's prefetch pointer into the next block's weights
  SPILL: 240, // the channel-vector and phase kernels' 30 vectors (to 240 + 30·64 = 2160)
  CHN: 2160, // the channel-vector kernel's chunks of input channels: counter, bytes into x and w
  CHX: 2168,
  CHW: 2176,
  PASS: 2184, // ConvTranspose by phases: passes of output channels over the rows
  CV0: 2192, // NHWC depthwise: its first and last channel vectors' byte offsets
  CVEND: 2200,
  WV: 2208, // w's channel-vector copy (the operand wVectors)
  ROWBB: 2216, // the channel-vector kernel's rows outer: the first block's bias, the row's y, residual
  ROWYB: 2224,
  ROWRB: 2232,
  PARTIAL: 2240, // its partial sums between chunks (channelVectorPartialBytes)
} as const;
/** Frame bytes of a plan: the slots, and the channel-vector kernel's partial sums. */
function frameBytes(s: ConvSpec, g: ConvGeometry, p: ConvPlan): number {
  if (!p.cv) return F.PARTIAL;
  const q = tileCall(s, g, p.cv);
  return F.PARTIAL + channelVectorPartialBytes(q.s, q.g, p.cv) + channelVectorHalfBytes(p.cv);
}
/** AVX2: the register holding a tail tile's lane mask (kept out of the microkernel's pool). */
const AVX2_TAIL = 15;
/** Table mode, AVX-512: opmasks of a vector's row pieces. */
const SEGMENT_K = [5, 6, 7];
/** Table mode: registers of a vector's row-piece offsets. */
const SEGMENT_OFF: Reg[] = [r8, r9, rcx];

/** Emits the machine code of `plan` for `s`: `void kernel(args)`. */
export function generateConv(
  s: ConvSpec,
  p: ConvPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  if (p.halves) emitHalves(a, s, p);
  else emitConvFunction(a, s, p);
  return a.finish();
}

/**
 * A call in halves of its input channels (k_halves.ts): each half's kernel
 * as a subroutine, called in turn on the argument block with x, w and its
 * channel-vector copy advanced to the half's first input channel (part 1
 * of a split in halves: y its workspace's sums); a part then counts its
 * arrival (abi.ts emitArrival: in part 0's argument block), and the last
 * adds the halves.
 */
function emitHalves(a: Assembler, s: ConvSpec, p: ConvPlan): void {
  const halves = p.halves!, subs = halves.map(() => a.label());
  const combine = a.label(), done = a.label();
  const g = convGeometry(s), half = s.c / 2;
  const FRAME = ARG_BLOCK_BYTES;
  // Entered with rsp ≡ 8 (mod 16): rbx pushed and the frame keep the calls 16-byte aligned.
  a.emit("push", rbx);
  a.emit("sub", rsp, FRAME);
  a.emit("mov", rbx, rdi);
  /** The argument block of the second half (x, w and its copy at its first input channel). */
  const secondHalf = () => {
    a.emit("mov", rdi, rbx);
    copyArgBlock(a);
    advanceSlot(a, rsp, CONV_ARG.X, half * g.channelStride * 4);
    advanceSlot(a, rsp, CONV_ARG.W, half * 4);
    if (s.wLanes) advanceSlot(a, rsp, CONV_ARG.WV, half * s.wLanes * 4);
    a.emit("mov", rdi, rsp);
  };
  if (s.kPart === 1) {
    secondHalf();
    // y: the workspace's sums, after the kernel's own.
    a.emit("mov", rax, qword(rsp, WORKSPACE_SLOT * 8));
    a.emit("mov", qword(rsp, CONV_ARG.Y * 8), rax);
    advanceSlot(a, rsp, CONV_ARG.Y, p.scratchAt!);
    a.emit("mov", rdi, rsp);
    a.emit("call", subs[0]);
  } else {
    a.emit("mov", rdi, rbx);
    a.emit("call", subs[0]);
    if (subs.length > 1) {
      secondHalf();
      a.emit("call", subs[1]);
    }
  }
  if (p.combine) {
    // The last part to arrive adds the halves (rdx: part 0's argument block).
    emitArrival(a, rbx, s.kPart ?? 0, 2, done);
    a.emit("lea", rsi, ptr(rdx, ARG_BLOCK_BYTES));
    a.emit("mov", rdi, rbx);
    a.emit("call", combine);
  }
  a.bind(done);
  a.emit("add", rsp, FRAME);
  a.emit("pop", rbx);
  a.emit("ret");
  halves.forEach((h, i) => {
    a.bind(subs[i]);
    emitConvFunction(a, h.spec, h.plan);
  });
  if (p.combine) {
    a.bind(combine);
    const v = new Vec(a, vecIsa(p.isa));
    emitCombine(v, s, rsi, p.scratchAt!);
    v.leave();
    a.emit("ret");
  }
}

/** One kernel, `void kernel(args)`, emitted where the assembler stands. */
function emitConvFunction(a: Assembler, s: ConvSpec, p: ConvPlan): void {
  const isa = vecIsa(p.isa);
  const v = new Vec(a, isa);
  const g = convGeometry(s);
  saveRegisters(a, USED);
  const frame = frameBytes(s, g, p);
  a.emit("sub", rsp, frame);
  const slots: [number, number][] = [
    [CONV_ARG.X, F.X],
    [CONV_ARG.W, F.W],
    [CONV_ARG.BIAS, F.B],
    [CONV_ARG.RESIDUAL, F.R],
    [CONV_ARG.WV, F.WV],
    [CONV_ARG.Y, F.Y],
    [WORKSPACE_SLOT, F.WS],
  ];
  for (const [slot, at] of slots) {
    loadPointer(a, rax, slot);
    a.emit("mov", qword(rsp, at), rax);
  }
  // A band starts rowStart rows into y and the residual; x read as is, as far into x.
  const yBand = s.rowStart * g.ow * 4 * (s.nhwc ? s.ocTotal : 1);
  if (yBand) {
    addImmediate(a, "add", qword(rsp, F.Y), yBand);
    addImmediate(a, "add", qword(rsp, F.R), yBand);
  }
  // (The depthwise and channel-vector kernels address x's rows themselves.)
  if (!g.copy && s.rowStart && !p.depthwise && !p.cv && !p.phases) {
    addImmediate(a, "add", qword(rsp, F.X), s.rowStart * s.w * 4);
  }
  if (p.depthwise && s.nhwc) {
    // Every image and channel in one (a vector is 16 channels of a position).
    emitDepthwiseNhwc(v, s, g, p.depthwise, F);
    return void finish(a, v, frame);
  }
  if (p.depthwise) {
    // Its zero row: the rows above and below x.
    a.emit("mov", rax, qword(rsp, F.WS));
    v.zero(0);
    countedLoop(a, rcx, p.workspaceBytes / (4 * v.isa.lanes), () => {
      v.store(rax, 0, 0);
      a.emit("add", rax, 4 * v.isa.lanes);
    });
  }
  const table = p.mode === "table" ? storeTable(isa, g, p.segments) : null;

  frameLoop(a, F.IMG, s.n, () => {
    for (const [from, to] of [[F.X, F.XG], [F.W, F.WG], [F.B, F.BG], [F.R, F.RG], [F.Y, F.YG]]) {
      a.emit("mov", rax, qword(rsp, from));
      a.emit("mov", qword(rsp, to), rax);
    }
    frameLoop(a, F.GRP, s.group, () => {
      emitGroup(v, s, p, g, table);
      const yGroup = g.ocg * g.oh * g.ow * 4;
      addImmediate(a, "add", qword(rsp, F.XG), g.cg * s.h * s.w * 4);
      addImmediate(a, "add", qword(rsp, F.WG), g.ocg * g.cg * s.kh * s.kw * 4);
      addImmediate(a, "add", qword(rsp, F.BG), g.ocg * 4);
      addImmediate(a, "add", qword(rsp, F.RG), yGroup);
      addImmediate(a, "add", qword(rsp, F.YG), yGroup);
    });
    addImmediate(a, "add", qword(rsp, F.X), s.cTotal * s.h * s.w * 4);
    addImmediate(a, "add", qword(rsp, F.R), s.ocTotal * g.oh * g.ow * 4);
    addImmediate(a, "add", qword(rsp, F.Y), s.ocTotal * g.oh * g.ow * 4);
  });
  finish(a, v, frame);
}

/** The epilogue: the frame dropped, registers restored. */
function finish(a: Assembler, v: Vec, frame: number): void {
  a.emit("add", rsp, frame);
  v.leave();
  restoreRegisters(a, USED);
  a.emit("ret");
}

/** Bytes between the weights of consecutive output channels. */
function weightRowBytes(s: ConvSpec, g: ConvGeometry): number {
  return s.flip ? s.kh * s.kw * 4 : (s.wInputs ?? g.cg) * s.kh * s.kw * 4;
}

/** One image group: planes, then the runs of positions and their tiles. */
function emitGroup(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  g: ConvGeometry,
  table: Uint8Array | null,
): void {
  const a = v.a;
  if (p.depthwise) return emitDepthwiseGroup(v, s, g, p.depthwise, F);
  const blockPointers = () => {
    for (const [from, to] of [[F.WG, F.WB], [F.BG, F.BB], [F.YG, F.YB], [F.RG, F.RB]]) {
      a.emit("mov", rax, qword(rsp, from));
      a.emit("mov", qword(rsp, to), rax);
    }
  };
  if (p.cv?.planes || p.cv?.packedX) {
    // x subsampled (or repacked in channel blocks) into the workspace, then the tiles of the
    // call they make (tileCall): its x the workspace less the band's first rows (the tiles
    // address rows from the image's first).
    a.emit("mov", rsi, qword(rsp, F.XG));
    a.emit("mov", rdi, qword(rsp, F.WS));
    if (p.cv.planes) emitPlanes(v, s, g, rsi, rdi);
    // The blocks after the planes, from them where there are planes.
    const blocksAt = p.cv.planes ? planesBytes(g) : 0;
    if (p.cv.packedX) {
      a.emit("mov", rsi, qword(rsp, p.cv.planes ? F.WS : F.XG));
      a.emit("mov", rdi, qword(rsp, F.WS));
      addImmediate(a, "add", rdi, blocksAt);
      emitChannelBlocks(v, s, g, rsi, rdi, p.cv.planes === true);
    }
    const q = tileCall(s, g, p.cv);
    a.emit("mov", rax, qword(rsp, F.WS));
    addImmediate(a, "add", rax, (p.cv.packedX ? blocksAt : 0) - s.rowStart * q.s.w * 4);
    a.emit("mov", qword(rsp, F.PLANES), rax);
    blockPointers();
    return emitChannelVectorGroup(v, q.s, q.g, p.cv, { ...F, XG: F.PLANES });
  }
  if (p.cv) {
    blockPointers();
    return emitChannelVectorGroup(v, s, g, p.cv, F);
  }
  if (p.phases) {
    blockPointers();
    return emitTransposePhases(v, s, g, F, p.phases, p.ocBlock);
  }
  if (g.copy) {
    a.emit("mov", rsi, qword(rsp, F.XG));
    a.emit("mov", rdi, qword(rsp, F.WS));
    emitPlanes(v, s, g, rsi, rdi);
    a.emit("mov", rax, qword(rsp, F.WS));
  } else a.emit("mov", rax, qword(rsp, F.XG));
  a.emit("mov", qword(rsp, F.PLANES), rax);
  blockPointers();
  // Blocks of output channels whose weights stay in L2 while every position
  // tile passes (a layer with many channels on a small image), then the rest.
  const rowBytes = weightRowBytes(s, g), planeY = g.oh * g.ow * 4;
  const block = p.ocBlock, fullBlocks = Math.floor(g.ocg / block), last = g.ocg % block;
  const runBlock = (channels: number) => {
    emitRuns(v, s, p, g, table, channels);
    addImmediate(a, "add", qword(rsp, F.WB), channels * rowBytes);
    addImmediate(a, "add", qword(rsp, F.BB), channels * 4);
    addImmediate(a, "add", qword(rsp, F.YB), channels * planeY);
    addImmediate(a, "add", qword(rsp, F.RB), channels * planeY);
  };
  frameLoop(a, F.BLK, fullBlocks, () => runBlock(block));
  if (last) runBlock(last);
}

/**
 * Positions the tiles of a run start before it, x's start past a vector
 * boundary (the key's xLine, from the address of the call's x), else 0:
 * where x is read in place along one run of positions and every input
 * plane (and image) starts as the first does. A large `Float32Array`
 * starts 16 bytes past a page (malloc's header), so every other 32-byte
 * load of x straddled two lines (`deno run -A bench/ab.ts --conv
 * 1,64,56,56,256,1,1,1,0 --offset 16`); smaller ones start 0, 16, 32 or 48
 * bytes into a line, and a subarray anywhere. Where the key said 16 bytes
 * alone was served, x 32 or 48 bytes in took 1.09-1.17× our GEMM's time on
 * the same operands against 1.02-1.12× at 16 (`deno run -A
 * bench/conv_vs_gemm.ts` at 625199d and bcca750). Both paths are generated: a call
 * whose run starts elsewhere (a part's band) takes the plain one. A lane's
 * sum is the same FMA chain whichever vector computes it.
 */
function alignedStart(
  s: ConvSpec,
  p: ConvPlan,
  g: ConvGeometry,
  isa: VecIsa,
  run: number,
  T: number,
): number {
  const bytes = isa.bits / 8;
  const inPlace = p.mode === "runs" && !g.copy && !(g.wq > g.ow);
  const planes = (g.channelStride * 4) % bytes === 0;
  const steps = g.cg * s.kh * s.kw;
  return (isa.level === "avx2" || isa.level === "avx512") && inPlace && planes && run >= 4 * T &&
      steps >= HEAD_MIN_STEPS
    ? s.xLine % isa.lanes
    : 0;
}

/**
 * The prefetch streams over a later tile's rows of y (or of the residual)
 * that a tile of `rows` rows and `groups` issues over the `turns` turns of
 * its k loop: its offsets each turn (a line of every row, or more where
 * the turns are fewer than a row's lines) and the advance after it, so the
 * turns cover the whole later tile in order. Before the loop, all at once
 * (as the microkernel's `prefetchC` had fetched them), 24 claims from L3 took the fill buffers
 * the tile's loads of weights from L2 then waited on: Intel Xeon (SPR), one
 * thread, `deno run -A bench/ab.ts --a eec79fa --b 05337e4 --conv …` (B's
 * time over A's): 1×1 64→256 on 56² with relu ×0.895 (our GEMM on the same
 * operands was then faster: `deno run -A bench/conv_vs_gemm.ts`,
 * conv÷gemm 1.111 → 0.927), with its shortcut `--residual --rotate 4`
 * ×0.981, the 7×7/2 stem ×0.993; `--model resnet50` ×0.973.
 *
 * Where the turns outnumber a row's lines and the tile's rows exceed them,
 * the turns walk down the rows instead: each fetches the lines of the next
 * row (or rows) and advances a row. Before, every turn fetched a line of
 * every row, a few bytes on: a 6×16 tile with 16 turns issued 96 claims of
 * y and 96 fetches of the shortcut for 6 lines each, beside its 512 loads
 * (the same lines again and again, each taking a load slot). Zen 3, one
 * thread, `deno run -A bench/ab.ts --a cb5c354 --b <this> --conv … --rotate
 * 4`: 1×1 64→256 on 56² with its shortcut ×0.907, 128→512 on 28² with its
 * shortcut ×0.941, 256→64 on 56² ×0.955, the 7×7/2 stem ×0.955, 3×3 64→64
 * on 56² ×1.008 (noise: the host's spreads were ±5-10% that hour).
 */
function laterTileStreams(
  groups: readonly ColumnGroup[],
  rows: number,
  rowStride: number,
  turns: number,
): { offsets: number[]; advance: number } {
  const last = groups[groups.length - 1];
  const lines = Math.ceil((last.col + last.width) * 4 / 64);
  const perRow = Math.ceil(lines / turns);
  // Rows a turn when the turns walk down the rows (the turns past the tile's rows fetch the
  // rows below it: the next channel tiles', theirs to write after).
  const down = Math.ceil(rows / turns);
  const offsets: number[] = [];
  if (lines <= turns && lines * down < rows) {
    for (let i = 0; i < down; i++) {
      for (let j = 0; j < lines; j++) offsets.push(i * rowStride + j * 64);
    }
    return { offsets, advance: down * rowStride };
  }
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < perRow; j++) offsets.push(i * rowStride + j * 64);
  }
  // A line a turn or less: steps of at most a line, so none is skipped; more: whole lines.
  return { offsets, advance: perRow > 1 ? perRow * 64 : Math.ceil((lines * 64) / turns) };
}

/**
 * The prefetch stream a tile walks over the next channel tile's weights
 * (`bytes` from `base`, set to the tile's own rows' end): the lines of each turn's
 * share, a line apart, then on by them. In a model every layer's weights
 * come from DRAM once a run (ResNet-50 holds 100 MB of them), and a block's
 * are then read from L2 by every later position tile. Before, each turn
 * fetched a line ahead in each of the tile's rows (WEIGHTS_AHEAD, what a
 * copying tile still does: r9 is its copy's): its pointer moves 16 bytes a
 * turn through a row of 1×1 weights, so a line was fetched four times, 96
 * fetches a 6×16 tile for its 24 lines. Zen 3, one thread, `deno run -A
 * bench/ab.ts --a 08bc2b0 --b <this> --model light_X.onnx` (the onnx
 * wheel's zoo models): ResNet-50 ×0.974, Inception v1 ×0.978, VGG-19 ×1.008
 * (noise); no weights stream at all, ResNet-50 ×0.981.
 */
function nextWeightsStream(
  base: Reg,
  bytes: number,
  turns: number,
): { base: Reg; offsets: number[]; advance: number } {
  const per = Math.ceil(Math.ceil(bytes / 64) / turns);
  return { base, offsets: Array.from({ length: per }, (_, j) => j * 64), advance: per * 64 };
}

/** The runs of positions of one channel block, and their tiles. */
function emitRuns(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  g: ConvGeometry,
  table: Uint8Array | null,
  channels: number,
): void {
  const a = v.a;
  for (const [from, to] of [[F.PLANES, F.RUNB], [F.YB, F.RUNY], [F.RB, F.RUNR]]) {
    a.emit("mov", rax, qword(rsp, from));
    a.emit("mov", qword(rsp, to), rax);
  }
  const pitched = p.mode === "runs" && g.wq > g.ow;
  const runs = pitched ? g.rows : 1;
  const run = pitched ? g.ow : g.positions;
  const L = v.isa.lanes, T = p.ng * L;
  const tableLabel = table ? a.constant(table, 64) : null;
  const tableStep = p.segments * entryBytes(v.isa);
  frameLoop(a, F.RUN, runs, () => {
    a.emit("mov", r15, qword(rsp, F.RUNB));
    a.emit("mov", r14, qword(rsp, F.RUNY));
    a.emit("mov", r13, qword(rsp, F.RUNR));
    if (tableLabel) a.emit("lea", r12, ptr(tableLabel, 0, null, 1, 8));
    const advance = (positions: number) => {
      addImmediate(a, "add", r15, positions * 4);
      if (tableLabel) addImmediate(a, "add", r12, (positions / L) * tableStep);
      else {
        addImmediate(a, "add", r14, positions * 4);
        addImmediate(a, "add", r13, positions * 4);
      }
    };
    /** Tiles over `count` positions from the pointers. */
    const tiles = (count: number) => {
      const full = Math.floor(count / T), rem = count % T;
      frameLoop(a, F.TILE, full, () => {
        emitIcBlocks(v, s, p, g, channels, columnGroups(v.isa, T, null), null);
        advance(T);
      });
      if (rem) {
        // The rest of the run: its column groups (full vectors, then a masked
        // tail or single columns) in as few tiles as the registers allow.
        const lanes = rem % L;
        const t = lanes && (v.isa.level === "avx2" || v.isa.level === "avx512")
          ? v.tail(lanes, 1, AVX2_TAIL)
          : null;
        const all = columnGroups(v.isa, rem, t);
        const mr = Math.min(p.mr, channels);
        const reserved = v.isa.level === "avx2" ? 1 : 0;
        // As many groups a tile as leave the store its registers (the planner's rule: single
        // columns at SSE2 are groups of their own, and a tile of them once left GELU's
        // emitter 4 of its 8, so the key fell back to a scalar plan).
        const extra = epilogueRegisters(s, v.isa, p.mode);
        const fits = (n: number) =>
          tileFits(v.isa, mr, n, 1, reserved) && mr * n + extra + reserved <= v.isa.nregs;
        let at = 0; // positions the pointers were advanced past the run's last full tile
        for (let first = 0; first < all.length;) {
          let count = 1;
          while (first + count < all.length && fits(count + 1)) count++;
          const piece = all.slice(first, first + count);
          const col0 = piece[0].col;
          advance(col0 - at);
          at = col0;
          emitIcBlocks(v, s, p, g, channels, piece.map((c) => ({ ...c, col: c.col - col0 })), t);
          first += count;
        }
      }
    };
    const head = alignedStart(s, p, g, v.isa, run, T);
    if (!head) tiles(run);
    else {
      // x `head` floats past a vector boundary (see alignedStart): the tiles start `head`
      // positions before the run, the first vector's first `head` lanes masked off.
      const plain = a.label(), done = a.label();
      a.emit("mov", rax, r15);
      a.emit("and", rax, v.isa.bits / 8 - 1);
      a.emit("cmp", rax, 4 * head);
      a.emit("jne", plain);
      advance(-head);
      const t = v.head(head, 1, AVX2_TAIL);
      const groups = columnGroups(v.isa, T, null);
      groups[0] = { ...groups[0], tail: t };
      emitIcBlocks(v, s, p, g, channels, groups, t);
      advance(T);
      tiles(run - (T - head));
      a.emit("jmp", done);
      a.bind(plain);
      tiles(run);
      a.bind(done);
    }
    if (pitched) {
      addImmediate(a, "add", qword(rsp, F.RUNB), g.wq * 4);
      addImmediate(a, "add", qword(rsp, F.RUNY), g.ow * 4);
      addImmediate(a, "add", qword(rsp, F.RUNR), g.ow * 4);
    }
  });
}

/** Which input channels a pass over the channel tiles sums, and how it starts and ends. */
interface IcBlock {
  /** Input channels of the pass. */
  count: number;
  /** The first pass: accumulators start at zero (else from y's partial sums). */
  first: boolean;
  /** The last pass: the full store (else the partial sums to y, as they are). */
  last: boolean;
  /** Whether the pass reads its offsets into w and the planes from the frame (ICW, ICB). */
  offset: boolean;
}

/**
 * The channel tiles over one position tile, in passes over blocks of input
 * channels when the planes' window of all of them would not stay in L1
 * (a 1×1 layer with 1,024 input channels reads 320 KB of x per tile): each
 * pass reloads the exact partial sums its predecessor stored in y, so every
 * output is still one FMA chain over (input channel, tap) in order.
 */
function emitIcBlocks(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  g: ConvGeometry,
  channels: number,
  groups: ColumnGroup[],
  tail: Tail | null,
): void {
  const a = v.a;
  const kc = p.icBlock;
  if (kc >= g.cg) {
    return emitChannelTiles(v, s, p, g, channels, groups, tail, {
      count: g.cg,
      first: true,
      last: true,
      offset: false,
    });
  }
  const blocks = Math.ceil(g.cg / kc), lastCount = g.cg - (blocks - 1) * kc;
  const taps = s.kh * s.kw;
  const wStep = (s.flip ? kc * g.ocg * taps : kc * taps) * 4, xStep = kc * g.channelStride * 4;
  const next = () => {
    addImmediate(a, "add", qword(rsp, F.ICW), wStep);
    addImmediate(a, "add", qword(rsp, F.ICB), xStep);
  };
  a.emit("mov", qword(rsp, F.ICW), 0);
  a.emit("mov", qword(rsp, F.ICB), 0);
  emitChannelTiles(v, s, p, g, channels, groups, tail, {
    count: kc,
    first: true,
    last: false,
    offset: true,
  });
  next();
  frameLoop(a, F.ICN, blocks - 2, () => {
    emitChannelTiles(v, s, p, g, channels, groups, tail, {
      count: kc,
      first: false,
      last: false,
      offset: true,
    });
    next();
  });
  emitChannelTiles(v, s, p, g, channels, groups, tail, {
    count: lastCount,
    first: false,
    last: true,
    offset: true,
  });
}

/**
 * Every channel tile of the block over one position tile (planes at r15,
 * y at r14, residual at r13, table at r12): tiles of mr channels, then the
 * rest, over the input channels of `blk`.
 */
function emitChannelTiles(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  g: ConvGeometry,
  channels: number,
  groups: ColumnGroup[],
  tail: Tail | null,
  blk: IcBlock,
): void {
  const a = v.a;
  const mr = Math.min(p.mr, channels);
  const taps = s.kh * s.kw;
  const rowBytes = weightRowBytes(s, g);
  // ONNX ConvTranspose weights: [c][oc/group][kh][kw], taps read flipped.
  const aSteps: number[] = [];
  for (let u = 0; u < p.unrollIc; u++) {
    for (let t = 0; t < taps; t++) aSteps.push((u * g.ocg * taps + taps - 1 - t) * 4);
  }
  const aAdvance = p.unrollIc * g.ocg * taps * 4;
  // Bytes the microkernel advances A by: the block's part of a row of weights, or (flipped)
  // every channel's taps of the block's input channels.
  const walked = s.flip ? blk.count * g.ocg * taps * 4 : blk.count * taps * 4;
  const planeY = g.oh * g.ow * 4;
  const bigOutput = outputBytes(s, g) > p.l2 / 2;
  a.emit("mov", rsi, qword(rsp, F.WB));
  if (blk.offset) a.emit("add", rsi, qword(rsp, F.ICW));
  a.emit("mov", rbp, qword(rsp, F.BB));
  a.emit("mov", r11, r14);
  a.emit("mov", r10, r13);
  // A later position tile's x (p.nextX): line j of every input channel's piece fetched by
  // channel tile j, one per k step. Where there are fewer tiles than lines, the first lines
  // only: fetching them all in the first tiles was slower (Zen 5, 1 thread, alternating: 1×1
  // 48→9 on 96², 6×64 tiles, 1.15-1.31× x from DRAM, 1.04× from L3; a burst of loads).
  const ahead = p.nextX ? p.ng * v.isa.lanes * 4 : 0; // bytes of a position tile
  const lines = Math.ceil(ahead / 64);
  // x copied by the first channel tile (p.xInTile): whole vectors only (a run's edge tiles
  // read x in place), the copy in the workspace after the planes (if any), a row of the
  // tile's positions per k step of the pass (an input channel, or with taps a channel's tap:
  // an im2col strip).
  const width = groups[groups.length - 1].col + groups[groups.length - 1].width;
  const copying = (p.xInTile ?? false) && groups.every((c) => !c.scalar && !c.tail);
  const copyAt = planesBytes(g);
  /** Where a tile reads x: in place, in place while copying it, or the copy. */
  type Source = "x" | "copying" | "copy";
  const tile = (rows: number, fetch?: { at: number }, from: Source = "x") => {
    if (from === "copy") {
      a.emit("mov", rdx, qword(rsp, F.WS));
      if (copyAt) addImmediate(a, "add", rdx, copyAt);
    } else {
      a.emit("mov", rdx, r15);
      if (blk.offset) a.emit("add", rdx, qword(rsp, F.ICB));
    }
    if (from === "copying") {
      a.emit("mov", r9, qword(rsp, F.WS));
      if (copyAt) addImmediate(a, "add", r9, copyAt);
    }
    // A tile reading the copy fetches its line of the later position tile's x from x's planes.
    const xAhead = from === "copy" && fetch !== undefined;
    if (xAhead) {
      a.emit("mov", rcx, r15);
      if (blk.offset) a.emit("add", rcx, qword(rsp, F.ICB));
      addImmediate(a, "add", rcx, X_TILES_AHEAD * ahead + fetch.at);
    }
    const bSteps: number[] = [];
    for (let u = 0; u < p.unrollIc; u++) {
      for (const t of g.taps) bSteps.push((u * g.channelStride + t) * 4);
    }
    // The copy's rows are plain rows (a k step each), so no steps; so are x's at 1×1 (a step
    // is an input channel), where the copying tile reads them so too.
    const plainRows = from === "copy" || (from === "copying" && taps === 1);
    const bRow = from === "copy" ? width * 4 : g.channelStride * 4;
    // The copy's plain rows unrolled 8 steps as our GEMM's tier 1 is (its candidates on
    // 64×3136×256: 4 steps took ×1.026 the time of 8, `bench/tune_candidates.ts --gemm`); with
    // taps, 8 whatever the count (the steps past whole 8s unrolled after the loop).
    const unroll = plainRows && (blk.count % 8 === 0 || taps > 1) ? 8 : bSteps.length;
    // A tile reading the copy fetches a line of the later tile's x every other k step (its
    // line of the first half of the pass's channels; 1cbab89 did so by accident): `deno run
    // -A bench/ab.ts --a 313fff0 --b ab/copy-x-ahead-half --conv 1,256,56,56,128,1,1 --rotate
    // 4` ×0.975 of the time of every step, `--model resnet50` ×1.000; none at all ×1.034 and ×1.017 on 256→64 and 256→128
    // (`--a 1cbab89 --b ab/copy-no-x-ahead`), every step into L2 ×0.980 and ×0.991 there but
    // ×1.008 on the model (`--b ab/copy-x-ahead-t1`).
    const xPace = Math.max(1, unroll >> 1);
    const periods = p.tapPeriods;
    const turns = (blk.count / p.unrollIc) * (periods?.count ?? 1);
    // (Channel tiles outside, a block of one tile: its rows stream front to back, which the
    // hardware prefetches; see plan.ts channelTilesOutside.)
    const lateStreams = bigOutput && p.ocBlock > p.mr
      ? laterTileStreams(groups, rows, planeY, turns)
      : null;
    if (lateStreams) {
      const tileBytes = p.ng * v.isa.lanes * 4;
      a.emit("lea", rdi, ptr(r11, tileBytes));
      if (s.residual && blk.last) a.emit("lea", r8, ptr(r10, tileBytes));
    }
    // The next channel tile's weights walked line by line (r9: free unless the tile copies x,
    // or a table-mode tile reloads its partial sums before the loop through SEGMENT_OFF).
    const weightsWalk = !s.flip && from !== "copying" && (p.mode !== "table" || blk.first)
      ? nextWeightsStream(r9, rows * rowBytes, turns)
      : undefined;
    if (weightsWalk) a.emit("lea", weightsWalk.base, ptr(rsi, rows * rowBytes));
    emitMicrokernel(v, {
      // The lines of y the same channel tile writes after the next pass over the channels
      // (not its own: its k loop, 64 input channels long in a bottleneck's expanding 1×1, ends
      // before a claim from memory does), claimed where y is past half of L2 (in a model it
      // is cold, and its mr planes are more write streams than the hardware prefetches), and
      // its residual's lines, read by the store, as cold. A few lines a turn of the k loop
      // (laterTileStreams). Measured before as one burst: ResNet-50 on Zen 5, two sessions
      // alternating, 1×1 64→256 56² 538 → 495 µs with the claims, the 7×7/2 stem 1360 → 1310;
      // Zen 3, `--rotate 4` (x, y and the shortcut from memory) 1493 → 1361 µs. A smaller y is
      // in cache (SqueezeNet's 13² layers: 3-12% slower with them).
      streamsAlso: lateStreams || xAhead
        ? [
          ...(lateStreams ? [{ base: rdi, ...lateStreams, hint: "prefetchw" as const }] : []),
          ...(lateStreams && s.residual && blk.last
            ? [{ base: r8, ...lateStreams, hint: "prefetcht0" as const }]
            : []),
          ...(xAhead
            ? [{
              base: rcx,
              offsets: Array.from({ length: xPace }, (_, u) => u * g.channelStride * 4),
              advance: xPace * g.channelStride * 4,
            }]
            : []),
        ]
        : undefined,
      // Kernel rows in a loop (rcx is free until the store's table pieces); not over the
      // copy's plain rows.
      bPeriods: periods && !plainRows
        ? { ...periods, advance: periods.advance * 4, counter: rcx }
        : undefined,
      // The next tile's weights (nextWeightsStream); a copying tile, each row of weights a line
      // ahead of where it is read, spread over the iteration (see WEIGHTS_AHEAD).
      stream: s.flip ? undefined : weightsWalk ?? {
        base: rsi,
        offsets: Array.from({ length: rows }, (_, i) => i * rowBytes + WEIGHTS_AHEAD),
        advance: 0,
      },
      mr: rows,
      groups,
      prefetch: fetch && !xAhead ? X_TILES_AHEAD * ahead + fetch.at : 0,
      prefetchBytes: 64,
      a: { base: rsi, rowBytes, colBytes: 4 },
      aSteps: s.flip ? aSteps : undefined,
      aAdvance: s.flip ? aAdvance : undefined,
      b: plainRows
        ? { base: rdx, rowBytes: bRow, colBytes: 4 }
        : { base: rdx, rowBytes: p.unrollIc * g.channelStride * 4, colBytes: 4 },
      bSteps: plainRows ? undefined : bSteps,
      copyB: from === "copying" ? { base: r9, rowBytes: width * 4, claimAhead: 0 } : undefined,
      c: { base: r11, rowBytes: planeY },
      k: blk.count * taps,
      counter: rax,
      unroll,
      kSplit: 1,
      alpha: 1,
      beta: 0,
      first: true,
      reserved: tail && v.isa.level === "avx2" ? [AVX2_TAIL] : [],
      init: blk.first
        ? undefined
        : (acc, free) => emitPartial(v, s, p, rows, groups, tail, acc, free, "load"),
      epilogue: (acc, free) =>
        blk.last
          ? emitStore(v, s, p, rows, groups, tail, acc, free)
          : emitPartial(v, s, p, rows, groups, tail, acc, free, "store"),
    });
    // The microkernel advanced A by one row of weights: on to the next tile's rows.
    const next = rows * rowBytes - walked;
    if (next >= 0) addImmediate(a, "add", rsi, next);
    else addImmediate(a, "sub", rsi, -next);
    addImmediate(a, "add", rbp, rows * 4);
    addImmediate(a, "add", r11, rows * planeY);
    addImmediate(a, "add", r10, rows * planeY);
  };
  const full = Math.floor(channels / mr), last = channels % mr;
  if (copying && full >= 1 && full + (last ? 1 : 0) >= 2) {
    // Line j of the later position tile fetched by channel tile j, as below: the copying
    // tile from x as it reads it, the others from x's planes beside the copy they read.
    tile(mr, lines ? { at: 0 } : undefined, "copying");
    let fetched = 1;
    for (; fetched < Math.min(full, lines); fetched++) tile(mr, { at: 64 * fetched }, "copy");
    countedLoop(a, rbx, full - fetched, () => tile(mr, undefined, "copy"));
    if (last) tile(last, undefined, "copy");
    return;
  }
  let peeled = 0;
  for (; peeled < Math.min(full, lines); peeled++) tile(mr, { at: 64 * peeled });
  countedLoop(a, rbx, full - peeled, () => tile(mr));
  if (last) tile(last);
}

/**
 * How the tile's vectors reach y's layout (and the residual's, the same):
 * `begin(gi)` before the rows of column group gi (table mode loads its
 * pieces' offsets and masks), then `load`/`store` of row i, group gi at
 * `base` (y at r11, residual at r10). Table mode at AVX2 takes a mask
 * register from `regs`, and a piece register when it `loads`.
 */
function tileAccess(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  groups: ColumnGroup[],
  tail: Tail | null,
  regs: number[],
  loads: boolean,
): {
  begin(gi: number): void;
  load(dst: number, base: Reg, i: number, gi: number): void;
  store(base: Reg, i: number, gi: number, src: number): void;
} {
  const a = v.a;
  const g = convGeometry(s);
  const planeY = g.oh * g.ow * 4;
  if (p.mode !== "table") {
    const at = (i: number, gi: number) => i * planeY + groups[gi].col * 4;
    const masked = (
      gi: number,
    ) => (groups[gi].tail ? (groups[gi].tail ?? tail ?? undefined) : undefined);
    const scalar = (gi: number) => groups[gi].scalar && v.isa.lanes > 1;
    return {
      begin() {},
      load(dst, base, i, gi) {
        if (scalar(gi)) v.loadScalar(dst, base, at(i, gi));
        else v.load(dst, base, at(i, gi), masked(gi));
      },
      store(base, i, gi, src) {
        if (scalar(gi)) v.storeScalar(base, at(i, gi), src);
        else v.store(base, at(i, gi), src, masked(gi));
      },
    };
  }
  const avx2 = v.isa.level === "avx2";
  const piece = avx2 && loads ? regs.shift()! : -1;
  const maskReg = avx2 ? regs.shift()! : -1;
  const E = entryBytes(v.isa), S = p.segments;
  const entry = (gi: number, seg: number) => (gi * S + seg) * E;
  const at = (base: Reg, i: number, seg: number) =>
    ptr(base, i * planeY, SEGMENT_OFF[seg], 1, v.isa.bits / 8);
  const mask = (gi: number, seg: number) => ptr(r12, entry(gi, seg) + 4, null, 1, 32);
  return {
    begin(gi) {
      for (let seg = 0; seg < S; seg++) {
        a.emit("movsxd", SEGMENT_OFF[seg], dword(r12, entry(gi, seg)));
        if (!avx2) a.emit("kmovw", KREG[SEGMENT_K[seg]], word(r12, entry(gi, seg) + 4));
      }
    },
    load(dst, base, i, gi) {
      for (let seg = 0; seg < S; seg++) {
        if (!avx2) {
          const k = KREG[SEGMENT_K[seg]];
          a.emit("vmovups", seg === 0 ? v.r(dst).k(k).z : v.r(dst).k(k), at(base, i, seg));
          continue;
        }
        a.emit("vmovups", v.r(maskReg), mask(gi, seg));
        const into = seg === 0 ? dst : piece;
        a.emit("vmaskmovps", v.r(into), v.r(maskReg), at(base, i, seg));
        if (seg > 0) a.emit("vorps", v.r(dst), v.r(dst), v.r(piece));
      }
    },
    store(base, i, gi, src) {
      for (let seg = 0; seg < S; seg++) {
        if (!avx2) {
          a.emit("vmovups", at(base, i, seg).k(KREG[SEGMENT_K[seg]]), v.r(src));
          continue;
        }
        a.emit("vmovups", v.r(maskReg), mask(gi, seg));
        a.emit("vmaskmovps", at(base, i, seg), v.r(maskReg), v.r(src));
      }
    },
  };
}

/**
 * A pass over a block of input channels that is not the last: its partial
 * sums stored to y as they are ("store"), or the next pass's accumulators
 * loaded from them ("load").
 */
function emitPartial(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  rows: number,
  groups: ColumnGroup[],
  tail: Tail | null,
  acc: (i: number, g: number) => number,
  free: number[],
  what: "load" | "store",
): void {
  const io = tileAccess(v, s, p, groups, tail, [...free], what === "load");
  for (let gi = 0; gi < groups.length; gi++) {
    io.begin(gi);
    for (let i = 0; i < rows; i++) {
      if (what === "load") io.load(acc(i, gi), r11, i, gi);
      else io.store(r11, i, gi, acc(i, gi));
    }
  }
}

/**
 * The tile's store: bias, residual, activation, then y (y at r11, residual
 * at r10, bias at rbp; row i of the tile is output channel i).
 */
function emitStore(
  v: Vec,
  s: ConvSpec,
  p: ConvPlan,
  rows: number,
  groups: ColumnGroup[],
  tail: Tail | null,
  acc: (i: number, g: number) => number,
  free: number[],
): void {
  const regs = [...free];
  const out = regs.shift()!;
  const biasReg = s.bias ? regs.shift()! : -1;
  const resReg = s.residual || s.partialIn ? regs.shift()! : -1;
  const io = tileAccess(v, s, p, groups, tail, regs, s.residual || s.partialIn === true);
  const def = s.activation ? UNARY_OPS[s.activation.op] : null;
  for (let gi = 0; gi < groups.length; gi++) {
    io.begin(gi);
    const scalar = groups[gi].scalar && v.isa.lanes > 1;
    for (let i = 0; i < rows; i++) {
      if (s.bias) v.broadcast(biasReg, rbp, i * 4);
      const x = acc(i, gi);
      const add = (r: number) => (scalar ? v.scalarOp("add", x, r) : v.add(x, x, r));
      if (s.partialIn) {
        // The other half's sums, where this store then writes (k_halves.ts).
        io.load(resReg, r11, i, gi);
        add(resReg);
      }
      if (s.bias) add(biasReg);
      if (s.residual) {
        io.load(resReg, r10, i, gi);
        add(resReg);
      }
      let r = x;
      if (def) {
        const m = new Lanes(v, regs, [2, 3, 4]);
        def.emit(m, out, x, s.activation!.params);
        r = out;
      }
      io.store(r11, i, gi, r);
    }
  }
}
