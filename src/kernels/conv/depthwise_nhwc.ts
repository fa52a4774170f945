/**
 * Depthwise convolution on NHWC tensors at AVX-512 and AVX2, x read in
 * place. A position's channels are consecutive, so one vector is 16 (8)
 * channels of one output position and every tap of it is one load of x at
 * that position: no shuffles at any stride. A tile is R output rows × P positions of one
 * channel vector: each input vector it reads is loaded once and feeds
 * every output it is a tap of (input rows in order, then columns in order,
 * so each sum takes its taps in row-major order).
 *
 * Two orders (the plan's `channelsInner`): each tile takes every channel
 * vector in turn, so x and y stream along their rows; or each channel
 * vector sweeps a block of output rows (its input rows within half of L2)
 * with its weights in registers, its kernel's input rows staying in L1 as
 * it slides down while the block's other channels wait in L2.
 *
 * The channel vectors start where x's lines do: where a position is whole
 * lines (channels a multiple of 16), the first vector takes the channels
 * before x's first line boundary (lanes before channel 0 masked off), so
 * every other load of x is one line, not two (`deno run -A
 * bench/nhwc_offsets.ts`, Zen 5, one thread, x and y 16 bytes past a line
 * against on one: 1.16-1.48× without this, 1.06-1.12× with it). Which
 * channels share a vector is decided per call from x's address; a lane's
 * sum is the same whichever vector computes it.
 *
 * AVX2 has no opmasks: its last vector takes the position's last 8
 * channels (at least 8 of them, else the call goes through NCHW), so it
 * may cover some of the vector before it again, the same sums stored twice
 * (y overlaps no input), and no load or store leaves a position's row. On
 * 32 channels or more, where a position is whole vectors, the vectors
 * after the first start on x's 32-byte boundaries (the first, channels
 * 0-7, overlaps the next), so no load of x crosses a line. Its residual is
 * the adds' memory operand; its bias too, unless the tile's weight registers
 * are free for it (see the epilogue). 16 registers do not hold 9
 * weights beside a tile: a tile takes its taps a kernel row at a time,
 * that row's weights in registers, each output row's input row for it
 * loaded once (`tileByKernelRows`; each sum still takes its taps in
 * row-major order, so the bits are the same).
 *
 * The weights go tap-major, [taps][C], so a vector of any 16 consecutive
 * channels of a tap is one load: the packed copy's (weights.ts) where w was
 * packed, else transposed from ONNX's [C][taps] into the workspace at the
 * call's start (rows padded to whole vectors, by gemm/pack.ts's 16×16
 * register transpose).
 *
 * Which taps lie in the padding is known here for every output row and
 * column, so rows are unrolled in runs of the same valid kernel rows and
 * columns in tiles of the same valid kernel columns (the middle of a row in
 * a loop of whole tiles). A tap in the padding is skipped when every weight
 * is finite (its product ±0 adds nothing to a sum that starts at +0, see
 * spec.ts), else multiplied with a zero vector (±Inf·0 is NaN, as ONNX's
 * padding says). Each output is the FMA chain of the NCHW depthwise
 * kernels: taps in row-major order from +0, then bias, residual and
 * activation; so the bits are theirs.
 *
 * @module
 */
import {
  cl,
  dword,
  eax,
  ecx,
  edx,
  GP32,
  KREG,
  type Mem,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r8,
  r8d,
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
import { addImmediate, countedLoop, frameLoop } from "../abi.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { activationTemps } from "../unary/temps.ts";
import type { Vec } from "../vec.ts";
import { emitTransposePanel16 } from "../gemm/pack.ts";
import { transposedBBytes } from "../gemm/direct.ts";
import type { ConvGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";
import type { DepthwiseTile } from "./depthwise.ts";

/** Widest kernel row and most taps served: a tile unrolls every tap of every output it holds. */
const MOST_KW = 8;
const MOST_TAPS = 64;
/** Taps whose weights stay in registers (else each FMA reads its weights from memory). */
const TAPS_IN_REGISTERS = 12;
/**
 * AVX2: the fewest accumulators for which a tile holds a kernel row's
 * weights in registers (else each FMA reads its weight). 7×7 on 56² × 96,
 * bias, relu: 6 accumulators beside the row's 7 weights ran ×0.83 of the
 * time of 13 beside none (`deno run -A bench/ab.ts --conv
 * 1,96,56,56,96,7,1,96,3 --nhwc --offset 16`, Zen 3, one thread).
 */
const AVX2_ROW_ACCUMULATORS = 4;
/** AVX2's lanes: the channels a call needs (its last vector is the last 8 channels). */
const AVX2_LANES = 8;
/**
 * AVX2: the fewest channels whose vectors start on x's 32-byte boundaries
 * (where a position is whole vectors): then every load of x stays within
 * a line, for one vector more (the first, channels 0-7, overlaps the next).
 */
const AVX2_ALIGNED_CHANNELS = 32;
/** AVX2: the fewest channels whose tiles take every channel in turn at any stride (tier 1). */
const AVX2_INNER_CHANNELS = 32;

/** Whether the kernel takes a kernel window of kh × kw (jit.conv2d keys NHWC by it too). */
export function depthwiseNhwcWindowFits(kh: number, kw: number): boolean {
  return kw <= MOST_KW && kh * kw <= MOST_TAPS;
}

/** Whether the kernel serves a call of `channels` at `level` (AVX2: 8 channels or more). */
export function depthwiseNhwcLevel(level: string, channels: number): boolean {
  return level === "avx512" || (level === "avx2" && channels >= AVX2_LANES);
}

/** Whether the NHWC depthwise kernel serves `s` at `level`. */
export function depthwiseNhwcServes(s: ConvSpec, g: ConvGeometry, level: string): boolean {
  return depthwiseNhwcLevel(level, s.oc) && s.nhwc && g.cg === 1 && g.ocg === 1 && !s.flip &&
    s.uh === 1 && s.uw === 1 && depthwiseNhwcWindowFits(s.kh, s.kw);
}

/**
 * Vector registers holding weights: every tap's (AVX-512), a kernel row's
 * (AVX2), or none (the FMAs' memory operands).
 */
function weightRegisters(s: ConvSpec, level: string, activation: number): number {
  if (level === "avx2") return 16 - s.kw - 1 - activation >= AVX2_ROW_ACCUMULATORS ? s.kw : 0;
  const taps = s.kh * s.kw;
  return taps <= TAPS_IN_REGISTERS ? taps : 0;
}

/**
 * Accumulators a tile may have (output rows × positions): the registers
 * beside the weights, x's load, the bias (AVX-512) and the activation's.
 */
export function depthwiseNhwcMost(s: ConvSpec, activation: number, level: string): number {
  const weights = weightRegisters(s, level, activation);
  return level === "avx2" ? 16 - weights - 1 - activation : 32 - weights - 2 - activation;
}

/**
 * Tier 1's tile. Each channel vector sweeps blocks of rows (`channelsInner`
 * false) at stride 2 and on rows of at most 16 positions, 2 output rows ×
 * the positions the registers leave; elsewhere each tile takes every
 * channel vector in turn, 3 rows × the positions left. Zen 5, one thread
 * (3×3, relu; `deno run -A bench/tune_candidates.ts --conv
 * 1,576,14,14,576,3,1,576 --packed --nhwc` and the like): sweeps 21.3 µs
 * on 14² × 576 against tiles 27.6, 91.1 on 112² × 96 at stride 2 (115.9);
 * tiles 69.9 on 112² × 32 (sweeps 90.0), 91.5 on 56² × 144 (110.5), 35.8
 * on 56² × 64 (39.3), 51.4 on 28² × 384 (99.6). Tier 2 tries the other
 * order and other rows (the best of those within 8% of tier 1 there).
 *
 * AVX2 on 32 channels or more: every channel a tile at any stride, 2 rows
 * at stride 1 and 3 at stride 2. Zen 3, one thread (same command, 3×3,
 * bias, relu, x 16 bytes past a line): 2 × 5 ran 132.6 µs on 112² × 32
 * against 3 × 3's 141.5 and 36.9 on 14² × 576 against 39.6; at stride 2,
 * 3 × 3 ran 210.9 on 112² × 96 and 17.9 on 14² × 576 against sweeps'
 * 303.5 and 17.8 (the 4 × 2 tile 202.2 and 17.1, within the noise).
 */
export function depthwiseNhwcTile(
  s: ConvSpec,
  g: ConvGeometry,
  activation: number,
  l2: number,
  level: string,
  tilesPastL2 = false,
): DepthwiseTile {
  if (level === "avx2" && s.oc >= AVX2_INNER_CHANNELS) {
    return depthwiseNhwcShape(s, g, activation, l2, true, s.sh === 1 ? 2 : 3, level);
  }
  // A core that prefers tiles for an x past L2 (`tilesPastL2`: the Target's nhwcDepthwiseTiles,
  // src/cpu.ts tilesNhwcDepthwise) takes them at any stride there.
  const channelsInner = (tilesPastL2 && 4 * s.cTotal * s.h * s.w > l2) ||
    (s.sh === 1 && g.ow > 16);
  return depthwiseNhwcShape(s, g, activation, l2, channelsInner, channelsInner ? 3 : 2, level);
}

/** The tile of `rows` output rows in that order, with as many positions as the registers leave. */
export function depthwiseNhwcShape(
  s: ConvSpec,
  g: ConvGeometry,
  activation: number,
  l2: number,
  channelsInner: boolean,
  rows: number,
  level: string,
): DepthwiseTile {
  const most = Math.max(1, depthwiseNhwcMost(s, activation, level));
  const r = Math.max(1, Math.min(rows, g.rows, most));
  return {
    rows: r,
    vectors: Math.max(1, Math.min(g.ow, Math.floor(most / r))),
    blockRows: channelsInner ? g.rows : depthwiseNhwcBlockRows(s, g, l2),
    channelsInner,
  };
}

/**
 * Whether the channel vectors start on x's lines (see the module): where a
 * position is whole lines, and for tiles over every channel only with 8
 * vectors or more (on 2 vectors the extra one is 50% more FMAs: `deno run
 * -A bench/nhwc_offsets.ts`, Zen 5, 112² × 32 with x 16 bytes past a line,
 * two runs, 50.3-56.4 µs as it is against 67.8-74.8 shifted in a scratch
 * build); sweeps gain at any width.
 */
export function alignsChannels(s: ConvSpec, t: DepthwiseTile, level: string): boolean {
  if (level === "avx2") return s.cTotal % AVX2_LANES === 0 && s.oc >= AVX2_ALIGNED_CHANNELS;
  return (s.cTotal * 4) % 64 === 0 && (!t.channelsInner || Math.ceil(s.oc / 16) >= 8);
}

/**
 * Output rows a block may have: the block's input rows (all its channels)
 * within half of L2, so each channel vector's sweep finds them there.
 */
export function depthwiseNhwcBlockRows(s: ConvSpec, g: ConvGeometry, l2: number): number {
  const xRow = s.w * s.cTotal * 4;
  const rows = Math.floor((l2 / 2 / xRow - (s.kh - 1) * s.dh - 1) / s.sh) + 1;
  return Math.max(1, Math.min(g.rows, rows));
}

/** Whether `s` reads the packed copy of w (tap-major, weights.ts) rather than transposing w. */
function packedWeights(s: ConvSpec): boolean {
  return s.wLanes === s.oc;
}

/**
 * Bytes between a tap's weights and the next tap's: the packed copy's rows
 * of C, or the transposed copy's, at AVX-512 padded to whole vectors (the
 * 16×16 register transpose writes whole blocks).
 */
function tapBytes(s: ConvSpec, level: string): number {
  return packedWeights(s) || level === "avx2" ? s.oc * 4 : Math.ceil(s.oc / 16) * 64;
}

/**
 * Workspace: the transposed weights (unless packed; at AVX-512 16 rows of
 * slack) and a zero vector.
 */
export function depthwiseNhwcWorkspace(s: ConvSpec, level: string): number {
  const taps = s.kh * s.kw;
  if (packedWeights(s)) return 64;
  return (level === "avx2" ? taps * s.oc * 4 : transposedBBytes(taps, tapBytes(s, level) / 4)) + 64;
}

/** Frame slots the kernel uses (generate.ts's frame). */
export interface DepthwiseNhwcFrame {
  X: number;
  W: number;
  /** w's tap-major copy (packed weights). */
  WV: number;
  B: number;
  R: number;
  Y: number;
  WS: number;
  IMG: number;
  RUN: number;
  TILE: number;
  BLK: number;
  /** A block's first row of x, y and the residual. */
  RUNB: number;
  RUNY: number;
  RUNR: number;
  /**
   * The first channel vector's byte offset (≤ 0; AVX2: x's bytes past a
   * 32-byte boundary, see channelsAvx2) and the last's.
   */
  CV0: number;
  CVEND: number;
}

/** A tile of output positions ow0 … ow0 + count − 1, repeated `times` (a loop) along the row. */
interface ColumnTile {
  ow0: number;
  count: number;
  times: number;
}

/**
 * Emits the whole call (every image of the band): generate.ts has the
 * frame's pointers (y and the residual at the band's first row).
 */
export function emitDepthwiseNhwc(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  tile: DepthwiseTile,
  F: DepthwiseNhwcFrame,
): void {
  const a = v.a, level = v.isa.level, avx2 = level === "avx2", VB = 4 * v.isa.lanes;
  const taps = s.kh * s.kw;
  const xPos = s.cTotal * 4, yPos = s.ocTotal * 4, xRow = s.w * xPos, yRow = g.ow * yPos;
  const actRegs = s.activation ? 1 + activationTemps(v.isa, s.activation) : 0;
  const weightRegs = weightRegisters(s, level, actRegs);
  const packed = packedWeights(s), inRegs = weightRegs > 0;
  // AVX2: a kernel row's weights in registers, loaded as the tile reaches that row.
  const rowRegs = avx2 && inRegs;
  /** A vector at base + disp + index. */
  const vec = (base: Reg, disp: number, index: Reg | null) => ptr(base, disp, index, 1, VB);
  // General registers: x, y, residual of the image; the bias; the weights [taps][C]; a row's
  // x, y and residual; a tile's; the channel vector's byte offset; the zero vector.
  const X = rsi, Y = rbp, RES = rbx, BIAS = rdx, WT = rdi;
  const XR = r8, YR = r9, RR = r10, XT = r11, YT = r12, RT = r13, CV = r15;
  const ZERO = r14;
  // Vector registers: the weights, the accumulators, the bias, a residual load, then the
  // activation's.
  // (AVX2: no bias register of its own; the epilogue loads it into a weight register or the adds
  // read it.)
  const P = tile.vectors, TR = tile.rows, W0 = 0, ACC = weightRegs;
  const BV = avx2 ? -1 : ACC + TR * P, LOAD = ACC + TR * P + (avx2 ? 0 : 1), TMP = LOAD;
  const free = Array.from({ length: v.isa.nregs - (LOAD + 1) }, (_, i) => LOAD + 1 + i);
  const def = s.activation ? UNARY_OPS[s.activation.op] : null;
  const OUT = def ? free.shift()! : -1;
  /** Tap t's weights of the channel vector at CV. */
  const weightsOf = (t: number) => vec(WT, t * tapBytes(s, level), CV);

  a.emit("mov", WT, qword(rsp, F.WS));
  if (!packed) {
    if (avx2) transposeWeightsScalar(v, s, F);
    else transposeWeights(v, s, F);
  }
  a.emit("mov", ZERO, WT);
  if (packed) {
    a.emit("mov", WT, qword(rsp, F.WV));
  } else addImmediate(a, "add", ZERO, depthwiseNhwcWorkspace(s, level) - 64);
  v.zero(TMP);
  a.emit("vmovups", vec(ZERO, 0, null), v.r(TMP));
  if (avx2) {
    // CV0: x's bytes past a 32-byte boundary where the vectors follow x's (see channelsAvx2);
    // the last vector: the last 8 channels (see the module).
    if (alignsChannels(s, tile, level)) {
      a.emit("mov", rax, qword(rsp, F.X));
      a.emit("and", rax, 31);
      a.emit("mov", qword(rsp, F.CV0), rax);
    } else a.emit("mov", qword(rsp, F.CV0), 0);
    a.emit("mov", qword(rsp, F.CVEND), 4 * (s.oc - AVX2_LANES));
  } else channelVectors(v, s, alignsChannels(s, tile, level), F);

  // Runs of output rows of the band with the same kernel rows inside x.
  const rowMask = (oh: number) => {
    let m = 0;
    for (let i = 0; i < s.kh; i++) {
      const ih = oh * s.sh - s.pt + i * s.dh;
      if (ih >= 0 && ih < s.h) m |= 1 << i;
    }
    return m;
  };
  const runs: { first: number; count: number; mask: number }[] = [];
  for (let oh = s.rowStart; oh < s.rowEnd; oh++) {
    const m = rowMask(oh), last = runs[runs.length - 1];
    if (last && last.mask === m) last.count++;
    else runs.push({ first: oh, count: 1, mask: m });
  }
  // Which kernel columns of output column ow lie inside x.
  const colInside = (ow: number, j: number) => {
    const iw = ow * s.sw - s.pl + j * s.dw;
    return iw >= 0 && iw < s.w;
  };
  const allInside = (ow: number) => {
    for (let j = 0; j < s.kw; j++) if (!colInside(ow, j)) return false;
    return true;
  };
  // Column tiles: the row's middle (every kernel column inside) in a loop of whole tiles, the
  // edges before and after it in tiles of their own that take the loop's remainder in halves
  // (a tile of one or two positions is one FMA chain or two: latency, not throughput); a row
  // with no two whole tiles inside, in tiles unrolled.
  let m0 = 0;
  while (m0 < g.ow && !allInside(m0)) m0++;
  let m1 = m0;
  while (m1 < g.ow && allInside(m1)) m1++;
  const tiles: ColumnTile[] = [];
  const statics = (from: number, to: number) => {
    for (let c = from; c < to; c += P) tiles.push({ ow0: c, count: Math.min(P, to - c), times: 1 });
  };
  const loops = Math.floor((m1 - m0) / P);
  if (loops < 2) statics(0, g.ow);
  else {
    const rest = (m1 - m0) % P, before = m0 + Math.ceil(rest / 2);
    statics(0, before);
    tiles.push({ ow0: before, count: P, times: loops });
    statics(before + loops * P, g.ow);
  }

  /**
   * One tile's sums, `R` output rows × t.count positions, for the channel
   * vector at CV (masked: lanes in k1 only): its taps by input rows, or at
   * AVX2 by kernel rows, then the epilogue.
   */
  /** The accumulator of a tile's output row r, position p. */
  const accOf = (t: ColumnTile) => (r: number, p: number) => ACC + r * t.count + p;
  /**
   * The outputs of `count`, `stride` apart, whose taps (of k, `dil` apart)
   * read input `at`: [output, tap] pairs in increasing output.
   */
  const usersOf = (at: number, count: number, stride: number, dil: number, k: number) => {
    const users: [number, number][] = [];
    for (let o = 0; o < count; o++) {
      const d = at - o * stride;
      if (d >= 0 && d % dil === 0 && d / dil < k) users.push([o, d / dil]);
    }
    return users;
  };
  const tileBody = (t: ColumnTile, R: number, rows: number, masked: boolean) => {
    const acc = accOf(t);
    for (let r = 0; r < R; r++) for (let p = 0; p < t.count; p++) v.zero(acc(r, p));
    if (rowRegs) tileByKernelRows(t, R, rows);
    else tileByInputRows(t, R, rows, masked);
    epilogue(t, R, masked);
  };
  /**
   * AVX2: kernel row by kernel row, its weights in registers; each output
   * row's input row for it loaded once and fed to every output it is a tap
   * of (each sum still takes its taps in row-major order).
   */
  const tileByKernelRows = (t: ColumnTile, R: number, rows: number) => {
    const acc = accOf(t);
    const inCols = (t.count - 1) * s.sw + (s.kw - 1) * s.dw + 1;
    for (let i = 0; i < s.kh; i++) {
      const rowIn = (rows >> i & 1) === 1;
      if (!rowIn && s.wFinite) continue;
      for (let j = 0; j < s.kw; j++) a.emit("vmovups", v.r(W0 + j), weightsOf(i * s.kw + j));
      for (let r = 0; r < R; r++) {
        const q = r * s.sh + i * s.dh;
        for (let c = 0; c < inCols; c++) {
          const colUsers = usersOf(c, t.count, s.sw, s.dw, s.kw);
          if (colUsers.length === 0) continue;
          const inside = rowIn && colInside(t.ow0 + colUsers[0][0], colUsers[0][1]);
          if (!inside && s.wFinite) continue;
          if (inside) a.emit("vmovups", v.r(LOAD), vec(XT, q * xRow + c * xPos, CV));
          else v.zero(LOAD);
          for (const [p, j] of colUsers) {
            a.emit("vfmadd231ps", v.r(acc(r, p)), v.r(LOAD), v.r(W0 + j));
          }
        }
      }
    }
  };
  /**
   * Input row by input row: each input vector the tile reads is loaded once
   * and feeds every output it is a tap of: input rows in order, columns in
   * order, so each sum takes its taps in row-major order.
   */
  const tileByInputRows = (t: ColumnTile, R: number, rows: number, masked: boolean) => {
    const acc = accOf(t);
    const inRows = (R - 1) * s.sh + (s.kh - 1) * s.dh + 1;
    const inCols = (t.count - 1) * s.sw + (s.kw - 1) * s.dw + 1;
    for (let q = 0; q < inRows; q++) {
      const rowUsers = usersOf(q, R, s.sh, s.dh, s.kh);
      if (rowUsers.length === 0) continue;
      // The run's kernel rows inside x say whether input row q is (the same for every user).
      const rowIn = (rows >> rowUsers[0][1] & 1) === 1;
      for (let c = 0; c < inCols; c++) {
        const colUsers = usersOf(c, t.count, s.sw, s.dw, s.kw);
        if (colUsers.length === 0) continue;
        const inside = rowIn && colInside(t.ow0 + colUsers[0][0], colUsers[0][1]);
        if (!inside && s.wFinite) continue;
        if (inside) {
          const m = vec(XT, q * xRow + c * xPos, CV);
          if (masked) a.emit("vmovups", v.r(LOAD).k(KREG[1]).z, m);
          else a.emit("vmovups", v.r(LOAD), m);
        } else v.zero(LOAD);
        for (const [r, i] of rowUsers) {
          for (const [p, j] of colUsers) {
            const tap = i * s.kw + j;
            const dst = masked && !inRegs ? v.r(acc(r, p)).k(KREG[1]) : v.r(acc(r, p));
            if (inRegs) a.emit("vfmadd231ps", dst, v.r(LOAD), v.r(W0 + tap));
            else a.emit("vfmadd231ps", dst, v.r(LOAD), weightsOf(tap));
          }
        }
      }
    }
  };
  /** Bias, residual and activation on the tile's sums, and their stores. */
  const epilogue = (t: ColumnTile, R: number, masked: boolean) => {
    const acc = accOf(t);
    // AVX2 with a kernel row's weights in registers: those are free here, so the bias goes into
    // the first once for the tile's outputs instead of being read by each add (one load an
    // output vector fewer, in a tile whose loads and their lines bound it).
    const biasInRegister = s.bias && rowRegs && R * t.count > 1;
    if (biasInRegister) a.emit("vmovups", v.r(W0), vec(BIAS, 0, CV));
    for (let r = 0; r < R; r++) {
      for (let p = 0; p < t.count; p++) {
        const x = acc(r, p), at = r * yRow + p * yPos;
        if (s.bias && avx2) {
          a.emit("vaddps", v.r(x), v.r(x), biasInRegister ? v.r(W0) : vec(BIAS, 0, CV));
        } else if (s.bias) v.add(x, x, BV);
        if (s.residual && avx2) a.emit("vaddps", v.r(x), v.r(x), vec(RT, at, CV));
        else if (s.residual) {
          const m = vec(RT, at, CV);
          if (masked) a.emit("vmovups", v.r(LOAD).k(KREG[1]).z, m);
          else a.emit("vmovups", v.r(LOAD), m);
          v.add(x, x, LOAD);
        }
        let out = x;
        if (def) {
          def.emit(new Lanes(v, free, [3, 4, 5]), OUT, x, s.activation!.params);
          out = OUT;
        }
        const m = vec(YT, at, CV);
        if (masked) a.emit("vmovups", m.k(KREG[1]), v.r(out));
        else a.emit("vmovups", m, v.r(out));
      }
    }
  };
  /** `R` output rows of the channel vector at CV: their tiles along the row. */
  const rowBody = (R: number, rows: number, masked: boolean) => {
    for (const t of tiles) {
      a.emit("lea", XT, qword(XR, (t.ow0 * s.sw - s.pl) * xPos));
      a.emit("lea", YT, qword(YR, t.ow0 * yPos));
      a.emit("lea", RT, qword(RR, t.ow0 * yPos));
      frameLoop(a, F.TILE, t.times, () => {
        tileBody(t, R, rows, masked);
        if (t.times > 1) {
          addImmediate(a, "add", XT, t.count * s.sw * xPos);
          addImmediate(a, "add", YT, t.count * yPos);
          addImmediate(a, "add", RT, t.count * yPos);
        }
      });
    }
  };
  /** The block's rows for the channel vector at CV, from the block's first row. */
  const sweep = (count: number, rows: number, masked: boolean) => {
    loadWeights(masked);
    a.emit("mov", XR, qword(rsp, F.RUNB));
    a.emit("mov", YR, qword(rsp, F.RUNY));
    a.emit("mov", RR, qword(rsp, F.RUNR));
    const R = Math.min(TR, count);
    const step = (n: number) => {
      rowBody(n, rows, masked);
      addImmediate(a, "add", XR, n * s.sh * xRow);
      addImmediate(a, "add", YR, n * yRow);
      addImmediate(a, "add", RR, n * yRow);
    };
    frameLoop(a, F.RUN, Math.floor(count / R), () => step(R));
    if (count % R) step(count % R);
  };
  /**
   * A block of `count` rows from the block pointers: every channel vector
   * sweeps it, the first and last with their lanes' masks (k6, k7), the
   * others whole.
   */
  /** `body(masked)` for every channel vector: the first and last with their lanes (k6, k7). */
  const channels = (body: (masked: boolean) => void) => {
    if (avx2) return channelsAvx2(body);
    const middle = a.label(), last = a.label(), done = a.label();
    a.emit("mov", CV, qword(rsp, F.CV0));
    a.emit("kmovw", KREG[1], KREG[6]);
    body(true);
    a.emit("add", CV, 64);
    a.emit("cmp", CV, qword(rsp, F.CVEND));
    a.emit("jg", done);
    a.emit("jmp", last);
    a.bind(middle);
    body(false);
    a.emit("add", CV, 64);
    a.bind(last);
    a.emit("cmp", CV, qword(rsp, F.CVEND));
    a.emit("jl", middle);
    a.emit("kmovw", KREG[1], KREG[7]);
    body(true);
    a.bind(done);
  };
  /**
   * AVX2: `body` for the vector at channel 0, then those starting on x's
   * 32-byte boundaries (x's address + CV ≡ 0 mod 32, CV0 being x mod 32 or
   * 0), the last the last 8 channels (CVEND).
   */
  const channelsAvx2 = (body: (masked: boolean) => void) => {
    const top = a.label(), done = a.label();
    a.emit("xor", GP32[15], GP32[15]);
    a.bind(top);
    body(false);
    a.emit("cmp", CV, qword(rsp, F.CVEND));
    a.emit("je", done);
    // The next boundary: ((CV + CV0 + 32) & −32) − CV0.
    a.emit("add", CV, qword(rsp, F.CV0));
    a.emit("add", CV, VB);
    a.emit("and", CV, -VB);
    a.emit("sub", CV, qword(rsp, F.CV0));
    a.emit("cmp", CV, qword(rsp, F.CVEND));
    a.emit("cmovg", CV, qword(rsp, F.CVEND));
    a.emit("jmp", top);
    a.bind(done);
  };
  const loadWeights = (masked: boolean) => {
    const load = (reg: number, m: Mem) => {
      if (masked) a.emit("vmovups", v.r(reg).k(KREG[1]).z, m);
      else a.emit("vmovups", v.r(reg), m);
    };
    if (inRegs && !rowRegs) { for (let t = 0; t < taps; t++) load(W0 + t, weightsOf(t)); }
    if (s.bias && !avx2) load(BV, vec(BIAS, 0, CV));
  };
  const inner = tile.channelsInner ?? false;
  /** A block of `count` rows from the block pointers. */
  const block = (count: number, rows: number) => {
    if (!inner) channels((masked) => sweep(count, rows, masked));
    else {
      a.emit("mov", XR, qword(rsp, F.RUNB));
      a.emit("mov", YR, qword(rsp, F.RUNY));
      a.emit("mov", RR, qword(rsp, F.RUNR));
      const R = Math.min(TR, count);
      const step = (n: number) => {
        for (const t of tiles) {
          a.emit("lea", XT, qword(XR, (t.ow0 * s.sw - s.pl) * xPos));
          a.emit("lea", YT, qword(YR, t.ow0 * yPos));
          a.emit("lea", RT, qword(RR, t.ow0 * yPos));
          frameLoop(a, F.TILE, t.times, () => {
            channels((masked) => {
              loadWeights(masked);
              tileBody(t, n, rows, masked);
            });
            if (t.times > 1) {
              addImmediate(a, "add", XT, t.count * s.sw * xPos);
              addImmediate(a, "add", YT, t.count * yPos);
              addImmediate(a, "add", RT, t.count * yPos);
            }
          });
        }
        addImmediate(a, "add", XR, n * s.sh * xRow);
        addImmediate(a, "add", YR, n * yRow);
        addImmediate(a, "add", RR, n * yRow);
      };
      frameLoop(a, F.RUN, Math.floor(count / R), () => step(R));
      if (count % R) step(count % R);
    }
    addImmediate(a, "add", qword(rsp, F.RUNB), count * s.sh * xRow);
    addImmediate(a, "add", qword(rsp, F.RUNY), count * yRow);
    addImmediate(a, "add", qword(rsp, F.RUNR), count * yRow);
  };

  a.emit("mov", X, qword(rsp, F.X));
  a.emit("mov", Y, qword(rsp, F.Y));
  a.emit("mov", RES, qword(rsp, F.R));
  a.emit("mov", BIAS, qword(rsp, F.B));
  const R = Math.max(1, tile.blockRows ?? 1);
  frameLoop(a, F.IMG, s.n, () => {
    // The band's first row of x (above x for the top rows: their kernel rows there are not
    // read), y and the residual.
    a.emit("mov", rax, X);
    addSigned(v, rax, (s.rowStart * s.sh - s.pt) * xRow);
    a.emit("mov", qword(rsp, F.RUNB), rax);
    a.emit("mov", qword(rsp, F.RUNY), Y);
    a.emit("mov", qword(rsp, F.RUNR), RES);
    for (const run of runs) {
      frameLoop(a, F.BLK, Math.floor(run.count / R), () => block(R, run.mask));
      if (run.count % R) block(run.count % R, run.mask);
    }
    addImmediate(a, "add", X, s.h * xRow);
    addImmediate(a, "add", Y, g.oh * yRow);
    addImmediate(a, "add", RES, g.oh * yRow);
  });
}

/**
 * Which channels each vector holds, from x's address (rsi is free here):
 * the first vector's byte offset CV0 = −4·shift (shift: x's channels
 * past a line boundary, where a position is whole lines; else 0)
 * and the last's CVEND, the first's lanes in k6 (from the shift; with the
 * last's when it is the only one) and the last's in k7. Uses rax, rcx, rsi.
 */
function channelVectors(v: Vec, s: ConvSpec, aligned: boolean, F: DepthwiseNhwcFrame): void {
  const a = v.a, C = s.oc;
  if (aligned) {
    // shift = (x mod 64) / 4: the first vector starts at channel −shift, on the line x's
    // first position begins in (lanes before channel 0 masked off).
    a.emit("mov", rax, qword(rsp, F.X));
    a.emit("and", eax, 63);
    a.emit("shr", eax, 2);
  } else a.emit("xor", eax, eax);
  // ecx = shift; CV0 = −4·shift; edx = the first vector's lanes, 0xffff << shift.
  a.emit("mov", ecx, eax);
  a.emit("lea", rsi, qword(null, 0, rax, 4));
  a.emit("neg", rsi);
  a.emit("mov", qword(rsp, F.CV0), rsi);
  a.emit("mov", edx, 0xffff);
  a.emit("shl", edx, cl);
  // t = shift + C − 1: the last vector starts at CV0 + 64·⌊t / 16⌋ and has (t mod 16) + 1 lanes.
  a.emit("add", rax, C - 1);
  a.emit("mov", rcx, rax);
  a.emit("and", ecx, 15);
  a.emit("neg", ecx);
  a.emit("add", ecx, 15);
  a.emit("mov", r8d, 0xffff);
  a.emit("shr", r8d, cl);
  a.emit("kmovw", KREG[7], r8d);
  a.emit("shr", rax, 4);
  a.emit("shl", rax, 6);
  a.emit("add", rax, rsi);
  a.emit("mov", qword(rsp, F.CVEND), rax);
  // One vector in all: its lanes are both the first's and the last's.
  a.emit("and", r8d, edx);
  a.emit("cmp", rax, rsi);
  a.emit("cmove", edx, r8d);
  a.emit("kmovw", KREG[6], edx);
}

/**
 * AVX2: w's ONNX layout [C][taps] into the workspace (rdi) tap-major,
 * [taps][C], a float at a time (taps·C moves: the packed copy has it
 * ready). Uses rax, rcx, rdx, rsi, r8, r9.
 */
function transposeWeightsScalar(v: Vec, s: ConvSpec, F: DepthwiseNhwcFrame): void {
  const a = v.a, taps = s.kh * s.kw, C = s.oc;
  a.emit("mov", rsi, qword(rsp, F.W));
  a.emit("mov", r8, rdi);
  // Channel by channel: its taps (one row of w) to one column of the copy.
  countedLoop(a, r9, C, () => {
    a.emit("mov", rdx, r8);
    countedLoop(a, rcx, taps, () => {
      a.emit("mov", eax, dword(rsi, 0));
      a.emit("mov", dword(rdx, 0), eax);
      a.emit("add", rsi, 4);
      addImmediate(a, "add", rdx, 4 * C);
    });
    a.emit("add", r8, 4);
  });
}

/** dst += imm for an immediate of either sign. */
function addSigned(v: Vec, dst: Reg, imm: number): void {
  if (imm >= 0) addImmediate(v.a, "add", dst, imm);
  else addImmediate(v.a, "sub", dst, -imm);
}

/**
 * w's ONNX layout [C][taps] into the workspace tap-major, [taps][C] with
 * rows padded to whole vectors: 16 channels at a time through the 16×16
 * register transpose GEMM's Bᵀ takes (gemm/pack.ts). Uses rax, rcx, rdx,
 * rsi, r8, r9, r11, r13; the workspace at rdi.
 */
function transposeWeights(v: Vec, s: ConvSpec, F: DepthwiseNhwcFrame): void {
  const a = v.a, taps = s.kh * s.kw, C = s.oc;
  const regs = { src: rsi, dst: rdx, rem: rax, t: rcx, one: r11, start: r13 };
  a.emit("mov", r9, qword(rsp, F.W));
  a.emit("mov", r8, rdi);
  a.emit("mov", r10, taps);
  const panel = (channels: number) => {
    a.emit("mov", rsi, r9);
    a.emit("mov", rdx, r8);
    emitTransposePanel16(v, regs, r10, channels, 16, taps * 4, tapBytes(s, "avx512"));
    addImmediate(a, "add", r9, 16 * taps * 4);
    a.emit("add", r8, 64);
  };
  countedLoop(a, r12, Math.floor(C / 16), () => panel(16));
  if (C % 16) panel(C % 16);
}
