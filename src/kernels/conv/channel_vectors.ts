/**
 * The channel-vector kernel: output channels along the vector lanes,
 * output positions broadcast (AVX-512), for images too small for the
 * position-vector kernel. At 7×7 that kernel computes 63 pitched positions
 * in 64 lanes for 49 outputs (77% of its FMAs useful); here every lane of
 * every FMA is an output: a tile is up to 14 positions (whole output rows
 * while they fit, else pieces of a row) × 32 output channels (two
 * vectors), and per input channel and tap each broadcast input feeds two
 * FMAs, `acc[p][v] += w[ic][tap][16 channels of v] · x[ic][p + tap]`, with
 * x read in place (a tap in the padding broadcasts a zero).
 *
 * The weights come packed by `jit.packConvWeights` as [oc/16][ic][tap][16]
 * after the ONNX copy (see weights.ts); a tile's accumulators are
 * transposed in registers, 16×16 at a time (../transpose.ts), before the
 * store, so bias, residual and activation see the same vectors of
 * positions as the position-vector kernel's store, and y is written in
 * NCHW rows.
 *
 * Every output is Σ over (input channel, tap) in that order with one FMA
 * chain, as in generate.ts: the two kernels give the same bits.
 *
 * @module
 */
import {
  byte,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r8,
  r9,
  rax,
  rbp,
  rdx,
  rsi,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate, frameLoop } from "../abi.ts";
import { evenPieces } from "../partition.ts";
import { Lanes } from "../math/lanes.ts";
import { activationTemps } from "../unary/temps.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { type Tail, type Vec, type VecIsa, vecIsa, type VecLevel } from "../vec.ts";
import { CHANNEL_BLOCK, channelBlockCall } from "./channel_blocks.ts";
import { type ConvGeometry, convGeometry } from "./geometry.ts";
import { transpose16, transpose8 } from "../transpose.ts";
import type { ConvSpec } from "./spec.ts";

/** Lanes of the channel-vector layout at AVX-512. */
export const CV_LANES = 16;

/** Lanes of the channel-vector layout at `isa`: a vector of output channels (16, or 8 at AVX2). */
export function channelVectorLanes(isa: VecIsa): number {
  return isa.level === "avx512" ? CV_LANES : 8;
}

/** Lanes of the channel-vector copy `packConvWeights` writes for code of `level` (0: none, below AVX2). */
export function channelVectorCopyLanes(level: VecLevel): number {
  return level === "avx512" || level === "avx2" ? channelVectorLanes(vecIsa(level)) : 0;
}

/**
 * Bytes ahead of each weight stream to prefetch, per line read. The
 * streams are 14-28 FMAs per line apart and the hardware's prefetch does
 * not keep two of them in L1: measured on Zen 5 with the distance varied
 * (`bench/conv_layer.ts`), 1×1 2048→512 on 7² ran 172 → 225 GFLOPS with
 * 4 KB (2 KB: 209; 8 KB: 225), 3×3 layers 0-3% faster. Not at AVX2, whose
 * k steps are half as long: there the streams kept up without, and the
 * prefetches cost issue slots. Measured on Zen 3 (`deno run -A bench/ab.ts
 * --a 18e5449 --b . --conv 1,2048,7,7,512,1,1`, the commit with them
 * against the one without): 1466 → 1293 µs, ×0.88.
 */
const WEIGHTS_AHEAD = 4096;

/**
 * Blocks of at most this many tiles prefetch the next block's weights into
 * L2 as they run (see emitChannelVectorGroup). Measured on Zen 5, weights
 * cold as in a model: SqueezeNet's 1×1 512→1000 on 13² 997 → 899 µs
 * (`bench/conv_layer.ts`); ResNet-50 0.99-1.04× in three A/B runs, 1
 * thread. Tier 2 tries the other way (ChannelVectorTile.nextBlock).
 */
const NEXT_BLOCK_TILES = 32;

/**
 * Planes ahead of x the NCHW k loop fetches (see ChannelVectorTile.xAhead),
 * per level. AVX-512: 8 where a plane is small (see
 * AVX512_FAR_MOST_PLANE), far enough for x's lines from L3 (a batch's
 * images after the first, a plane set larger than L2). Measured on an
 * Intel Xeon (model 167, 2 MiB L2), one thread, 2 against 8 (`deno run -A
 * bench/ab.ts --a 813fbcd --b 36dde0e --conv 8,64,56,56,64,3,1,1,1`,
 * stop 117): 3×3 64→64 on 56² at batch 8 ×0.848 of the time (2 threads
 * ×0.917); `--model resnet50` ×0.981, MobileNetV2 ×0.990, the CNN ×1.000;
 * hot single layers 1×1 1024→256 on 14² ×0.974, 3×3 512→512 on 7² ×0.976,
 * 256→256 on 14² ×0.994, 128→128 on 28² ×1.005.
 *
 * AVX2: 4. Its k step is half as long (8 lanes): 2 planes were some 12
 * cycles ahead, about L2's latency. Zen 3, one thread, x in L2 (`deno
 * run -A bench/ab.ts --a f35f4ba --b . --conv …`, 2 → 4): 1×1 256→1024
 * on 14² ×0.969 and ×0.974, 1024→256 ×0.931 of the time; 3×3 256→256 on
 * 14², 128→128 on 28², 512→2048 and 2048→512 on 7² within ±0.5%; 8 planes
 * ×0.999 and ×0.947 on the two 14² layers. Whole models (`--model`):
 * ResNet-50 ×0.992, the ResNet-style CNN ×1.005, MobileNetV2 ×0.979.
 */
const X_AHEAD_PLANES = { avx2: 4, avx512: 8 } as const;

/**
 * AVX-512: the largest plane of x (bytes) fetched 8 planes ahead; larger
 * ones 2 ahead (`X_NEAR_PLANES`). 8 lost there, 2 against 8 (`deno run -A
 * bench/ab.ts --a 813fbcd --b 8b117c2 --conv …`, Intel Xeon model 167, one
 * thread, stop 117): 8→16 on 224² ×1.161 of the time, 32→64 on 112²
 * ×1.030, 16→32 on 160² ×1.046; on 64² (16 KB) 64→64 ×1.006 and 32→32
 * ×0.997, on 56² (12.5 KB) the gains above.
 */
const AVX512_FAR_MOST_PLANE = 16 << 10;

/** Planes ahead of a plane past AVX512_FAR_MOST_PLANE at AVX-512. */
const X_NEAR_PLANES = 2;

/**
 * AVX2: the largest plane of x (bytes) whose lines the k loop fetches
 * ahead. Larger planes (3×3 layers on 128²: 64 KB) ran faster without,
 * their rows' lines sequential enough for the hardware's prefetch: Zen 3,
 * one thread, `deno run -A bench/ab.ts --a 886e5ed --b eae7394 --conv
 * 1,64,128,128,32,3,1,1,1 --rotate 4` ×0.938 of the time (32→32 ×0.974),
 * `--model unet` ×0.979 (×0.977 at 2 threads); the CNN, ResNet-50 and
 * MobileNetV2 within ±0.6%. 16 KB planes (64²) too (stop 100: 32 KB
 * before): `deno run -A bench/tune_candidates.ts --conv 1,64,64,64,64,3,1
 * --packed` 85.6% of the peak with it, 92.2% without; 56² (12.5 KB) 95.8
 * and 96.5%, 32² 94.2 and 84.8%.
 */
const AVX2_X_AHEAD_MOST_PLANE = 14 << 10;

/** Kernels of at least this many taps (5×5 and up) loop over their rows (see emitTile). */
const ROWS_LOOP_TAPS = 25;

/**
 * A channel-vector tile: positions (output rows per tile, or one row's
 * pieces) × vectors of 16 output channels.
 */
export interface ChannelVectorTile {
  /** Whole output rows per tile, or 1 with pieces of at most `width` columns. */
  rows: number;
  /** Most positions of one piece of a row (rows 1), else ow. */
  width: number;
  /**
   * Vectors of 16 channels (1 or 2). Two share each broadcast: one load
   * per two FMAs runs at the FMA peak where one per FMA ran at 85-88% of
   * it (Zen 5, `bench/cv_probe.ts`).
   */
  vectors: number;
  /** Whether each tile prefetches a share of the next block's weights into L2. */
  nextBlock: boolean;
  /**
   * Whether the k loop fetches the next tile's lines of y (for writing)
   * and, NCHW, of the residual into L1, a channel per k step (NHWC: a
   * position per k step, short k loops only: `fetchesNextTile`). Its store
   * and residual are a piece of a row in each of 32 channel planes: 32-64
   * lines the hardware's stream prefetch does not follow, each a miss
   * while the tile stores. Measured on a Sapphire Rapids-class Xeon, data
   * out of L2 between calls as in a model (`bench/tune_candidates.ts --conv
   * 1,64,56,56,64,3,1 --packed --residual --cold`, five runs): 2069-2460 µs
   * with it against 2398-2702 without. Not at AVX2, whose k steps are half
   * as long: on Zen 3, operands cold (`deno run -A bench/ab.ts --a 44f5eb7
   * --b 9963bc0 --conv … --rotate 4 --threads 2`), MobileNetV2's 1×1
   * 384→64 on 14² with its residual ran ×0.800 of the time without, 576→96
   * ×0.977, 160→960 on 7² ×0.990; at one thread within 2% either way; whole
   * models (`--model`, 2 threads) MobileNetV2 ×0.978 and ×0.995, ResNet-50
   * ×0.991. (Those 14² layers then split in bands of rows at 2 threads,
   * where a band's last tile fetched lines of the other core's band.) Tier
   * 2 tries the other way.
   */
  nextOut: boolean;
  /**
   * NCHW: input channels ahead whose lines of x the k loop fetches into L1,
   * each k step the lines its tile will read that many planes on (0: none).
   * A tile reads 3-7 lines of every one of its input channels' planes, one
   * plane per k step: lines scattered over 64+ pages, which the hardware's
   * prefetch does not follow. Measured on a Sapphire Rapids-class Xeon
   * (`bench/tune_candidates.ts --conv 1,64,56,56,64,3,1 --packed`, five
   * runs): none took 0.97-1.07× the time of 2 planes ahead, 1.05 and up in three.
   * Tier 2 tries it off.
   */
  xAhead: number;
  /**
   * NCHW: the k loop fetches into L2, a channel per k step, the lines of x
   * the next row of tiles reads that this tile does not (3×3 at stride 1:
   * the row below its window), a row of tiles ahead. Planes past L1 (no
   * `xAhead`) make x larger than L2 at 64 channels, and every block of
   * output channels sweeps it again: each row of tiles then waits on a
   * new input row in each of its channels' planes, 64 streams and more
   * the hardware's prefetch does not follow.
   */
  xNextRows?: boolean;
  /**
   * Each row of tiles runs through every block of output channels before
   * the next row (else each block runs over every row): x's rows are read
   * from memory once, not once a block, and every block's weights stay in
   * L2; in NHWC, y's rows are written whole. Not with flat tiles. NHWC at
   * AVX2 takes it where there are blocks to share a row and their weights
   * fit half of L2 (plan.ts nhwcTile). Zen 3, one thread (`deno run -A
   * bench/ab.ts --a af3d1b6 --b 603c4d5 --conv C --nhwc --activation
   * clip`): 24→144 on 56² ×0.962 of the time, 16→96 on 112² ×0.954, 64→256
   * on 56² (relu) ×0.988.
   */
  rowsOuter?: boolean;
  /**
   * NCHW, a row in pieces: input channels per chunk (0: all of them). Each
   * chunk runs over every piece of the row, its partial sums kept in the
   * frame between chunks (stored and reloaded exactly: the same FMA chain,
   * the same bits), so a chunk's weights (16 channels × 9 taps × 32 output
   * channels: 18 KiB) are read from L1 by every piece, where a whole tile's
   * (74 KiB at 64 inputs) come from L2 for each piece.
   */
  icChunk: number;
  /**
   * Whether each FMA takes its input as a broadcast memory operand (one
   * load per FMA) instead of a broadcast register the tile's vectors share:
   * the Target's `embedBroadcast` (same FMAs, same bits; tier 2 tries the other).
   */
  embed: boolean;
  /**
   * NCHW, a strided 1×1 convolution: x first subsampled into the
   * workspace (the one phase plane a channel the position-vector kernel
   * builds: geometry.ts), and the tiles run on it as on a stride-1 call's
   * x (`subsampledCall`). Read in place, a tile's k step broadcasts floats
   * `sw` apart from a plane's rows `sh` apart, and each channel tile reads
   * all of x again (see `SUBSAMPLED_POSITIONS`).
   */
  planes?: boolean;
  /**
   * AVX2, a 1×1 stride-1 convolution on a small image: x first repacked
   * into the workspace as blocks of 8 channels per position
   * (channel_blocks.ts), and the tiles run on them as that module's 1×8
   * call (see `BLOCKED`). With `planes`, the subsampled planes so repacked.
   */
  packedX?: boolean;
  /**
   * AVX2: the band's positions as one run cut in tiles of at most `width`
   * consecutive positions, across rows (each tile emitted, none looped),
   * where a row in pieces would leave short tiles: a 7-wide row in 4 + 3
   * gives 8 and 6 accumulators, under the 8 chains the FMA latency needs;
   * 49 positions in tiles of 5-6 give 10-12. Absent: rows or their pieces.
   */
  flat?: boolean;
  /**
   * A call in halves of its input channels (k_halves.ts), each tile summing
   * them in two k loops: the first's sums wait in the frame
   * (`channelVectorHalfBytes`) while the second's start from zero, then
   * are added to them before the store (unchunked tiles only).
   */
  halves?: boolean;
}

/**
 * Most positions of a tile of `vectors` vectors: AVX-512 28 or 16
 * accumulators; AVX2 12 or 8 (beside the weights' vectors and two
 * broadcasts; a tile's positions are one 8×8 transpose).
 */
export function channelVectorPositions(vectors: number, isa: VecIsa): number {
  if (isa.level === "avx2") return vectors === 2 ? 6 : 8;
  return vectors === 2 ? 14 : 16;
}

/** Bands of at most this many positions run AVX2's flat tiles (see ChannelVectorTile.flat). */
const FLAT_POSITIONS = 256;

/**
 * AVX2: a strided 1×1 convolution whose band has at most this many output
 * positions runs channel vectors on its subsampled x (ChannelVectorTile.planes)
 * in tier 1, not the position-vector kernel on the same planes; up to
 * FLAT_POSITIONS, tier 2 tries it. Measured on Zen 3 (`deno run -A
 * bench/ab.ts --a 0422e5e --b dd7f8f9 --conv …`, the commit before against
 * this kernel, 1 / 2 threads; the 28² layer with a build that took it in
 * tier 1 up to 256 positions): 1×1 1024→2048 /2 on 14² ×0.889 / ×0.875 of the
 * time, 512→1024 /2 on 28² (14² out) ×1.004 / ×1.022; ResNet-50
 * (`--model resnet50`) ×0.989 / ×0.999. Stride 1 on 28² (784 positions)
 * ran slower than the strided call (`bench/tune_candidates.ts --conv
 * 1,256,28,28,512,1,1 --packed` 2558 against 2260 µs for /2 on 56²).
 * Where channel blocks serve the subsampled call in tier 1 (see `BLOCKED`),
 * the planes are repacked as blocks in turn, at any of these sizes: 1×1
 * 1024→2048 /2 on 14² ×0.881 / ×0.852 of the planes' time, 512→1024 /2
 * on 28² ×0.989 / ×1.003, ResNet-50 ×0.987 / ×0.998 (`bench/ab.ts --a
 * 63ecfac --b acd9681`).
 */
const SUBSAMPLED_POSITIONS = 64;

/**
 * Whether `s` may run channel vectors on its subsampled x at AVX2 (see
 * `SUBSAMPLED_POSITIONS`): NCHW, 1×1, strided, unpadded, not upsampled,
 * its band within the flat tiles' positions (`tierOne`: within tier 1's).
 */
export function subsampledServes(
  s: ConvSpec,
  isa: VecIsa,
  g: ConvGeometry,
  tierOne = false,
): boolean {
  return avx2Pointwise(s, isa) && (s.sh > 1 || s.sw > 1) &&
    g.rows * g.ow <= (tierOne ? SUBSAMPLED_POSITIONS : FLAT_POSITIONS);
}

/**
 * What the workspace's x (subsampled planes, channel blocks) asks of a
 * call: AVX2 channel vectors (NCHW, one group), 1×1, unpadded, not upsampled.
 */
function avx2Pointwise(s: ConvSpec, isa: VecIsa): boolean {
  return isa.level === "avx2" && !s.nhwc && channelVectorsServe(s, isa) && s.kh === 1 &&
    s.kw === 1 &&
    s.pt === 0 && s.pl === 0 && s.pb === 0 && s.pr === 0 && s.uh === 1 && s.uw === 1;
}

/**
 * AVX2: a 1×1 stride-1 convolution (its channels in whole blocks of 8)
 * whose band has at most `small` positions, or at most `deep.positions`
 * with `deep.channels` inputs and outputs or more, repacks x as blocks of
 * 8 channels a position in tier 1 (ChannelVectorTile.packedX); up to
 * FLAT_POSITIONS, tier 2 tries it. In NCHW every k step of a tile reads a
 * line of x of its own: a 6-position tile over 1024 channels reads 64 KB
 * of lines, past L1, and the next tile reads them again from L2; on the
 * blocks, 3 lines serve 8 steps. The repack reads and writes x once, so
 * where x is large beside the work (few outputs) it costs more than it
 * saves. Measured on Zen 3, one thread (`deno run -A bench/ab.ts --a
 * 3599a58 --b d5be34b --conv …`; the 14² layers this rule leaves alone
 * with a scratch build that took blocks in tier 1 for every such layer):
 * on 7² 2048→512 ×0.891, 512→2048 with a residual ×0.885, 960→160 ×0.913,
 * 160→960 ×0.886, 320→1280 ×0.885; on 14² 1024→256 ×0.982, 256→1024 with a
 * residual ×0.966, but 576→96 ×1.011, 96→576 ×1.097, 384→64 ×1.096,
 * 64→384 ×1.180. Models (`--model`, 1 / 2 threads): ResNet-50 ×0.984 /
 * ×0.984, MobileNetV2 ×0.971 / ×0.970.
 */
const BLOCKED = { small: 64, deep: { positions: FLAT_POSITIONS, channels: 256 } } as const;

/**
 * Whether `s` may run channel vectors on its input repacked as channel
 * blocks (see `BLOCKED`): AVX2, NCHW, 1×1, stride 1, unpadded, not
 * upsampled, one group of whole blocks, its band within the flat tiles'
 * (`tierOne`: within tier 1's).
 */
export function packedXServes(
  s: ConvSpec,
  isa: VecIsa,
  g: ConvGeometry,
  tierOne = false,
): boolean {
  const positions = g.rows * g.ow, { small, deep } = BLOCKED;
  const size = !tierOne ? positions <= FLAT_POSITIONS : positions <= small ||
    positions <= deep.positions && g.cg >= deep.channels && g.ocg >= deep.channels;
  return avx2Pointwise(s, isa) && s.sh === 1 && s.sw === 1 && g.cg % CHANNEL_BLOCK === 0 &&
    size;
}

/**
 * The stride-1 call a strided 1×1 convolution's tiles run as on its
 * subsampled x (ChannelVectorTile.planes): an input of oh × ow, the same
 * band of rows, each channel `g.channelStride` floats apart (the planes'
 * stride) and holding the band's rows only (the caller points x at the
 * plane less `rowStart` rows).
 */
export function subsampledCall(s: ConvSpec, g: ConvGeometry): { s: ConvSpec; g: ConvGeometry } {
  const q: ConvSpec = { ...s, h: g.oh, w: g.ow, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0 };
  return { s: q, g: { ...convGeometry(q), channelStride: g.channelStride } };
}

/**
 * The call tile `t` runs as: on the subsampled planes or the channel
 * blocks (the workspace's; on blocks of the planes, both in turn), that
 * call; read in place, `s` itself.
 */
export function tileCall(
  s: ConvSpec,
  g: ConvGeometry,
  t: Pick<ChannelVectorTile, "planes" | "packedX">,
): { s: ConvSpec; g: ConvGeometry } {
  const q = t.planes ? subsampledCall(s, g) : { s, g };
  return t.packedX ? channelBlockCall(q.s, q.g) : q;
}

/**
 * The registers of a tile of `P` positions: accumulator (p, vi) of vector
 * vi, the weights' vector vi, the broadcast of position p (the top four
 * registers: two weight vectors, two broadcasts).
 */
function tileRegisters(isa: VecIsa, P: number): {
  acc: (p: number, vi: number) => number;
  weights: (vi: number) => number;
  broadcast: (p: number) => number;
} {
  const top = isa.nregs - 4; // AVX-512 28, AVX2 12: the accumulators below
  return {
    acc: (p, vi) => vi * P + p,
    weights: (vi) => top + vi,
    broadcast: (p) => top + 2 + (p % 2),
  };
}

/** Frame slots the kernel uses (generate.ts's frame). */
export interface ChannelVectorFrame {
  /** 14 vectors of scratch: the second vector's accumulators while the first is stored. */
  SPILL: number;
  /** x of the image and group. */
  XG: number;
  /** Where the next block's weights are being prefetched. */
  NEXTW: number;
  /** w's channel-vector copy (the call's). */
  WV: number;
  /** The block's weights, bias, y and residual. */
  WB: number;
  BB: number;
  YB: number;
  RB: number;
  BLK: number;
  RUN: number;
  RUNB: number;
  RUNY: number;
  RUNR: number;
  /** Chunks of input channels (see `icChunk`): counter, bytes into x and into w. */
  CHN: number;
  CHX: number;
  CHW: number;
  /** The pieces' partial sums between chunks (channelVectorPartialBytes). */
  PARTIAL: number;
  /** Rows outer (see `rowsOuter`): the first block's bias, and the row's y and residual. */
  ROWBB: number;
  ROWYB: number;
  ROWRB: number;
}

/**
 * One output vector of channel `channel` (lanes: positions) to y at r11 +
 * `at`: y's sums there (`partialIn`), the bias (at rbp) and the residual (at r10 + `at`) added, the
 * activation applied, `tail`'s lanes only. `regs.res` and `regs.out` are
 * scratch, `regs.free` the activation's (it may hold `regs.res`: dead by then).
 */
export function emitVectorStore(
  v: Vec,
  s: ConvSpec,
  x: number,
  channel: number,
  at: number,
  tail: Tail | undefined,
  regs: { res: number; out: number; free: number[] },
): void {
  if (s.partialIn) {
    // The other half's sums, where this store then writes (k_halves.ts).
    v.load(regs.res, r11, at, tail);
    v.add(x, x, regs.res);
  }
  if (s.bias) {
    v.broadcast(regs.res, rbp, channel * 4);
    v.add(x, x, regs.res);
  }
  if (s.residual) {
    v.load(regs.res, r10, at, tail);
    v.add(x, x, regs.res);
  }
  let r = x;
  if (s.activation) {
    const def = UNARY_OPS[s.activation.op];
    def.emit(new Lanes(v, regs.free, [2, 3, 4]), regs.out, x, s.activation.params);
    r = regs.out;
  }
  v.store(r11, at, r, tail);
}

/**
 * Whether the kernel serves `s` at `isa`: AVX-512 or AVX2, packed weights
 * in its layout, one group; at AVX2 NCHW (NHWC goes through NCHW there)
 * with an activation that leaves the store a register (see emitTile).
 */
export function channelVectorsServe(s: ConvSpec, isa: VecIsa): boolean {
  if (s.group !== 1 || s.flip) return false;
  if (isa.level === "avx512") return s.wLanes === CV_LANES;
  // NHWC stores the accumulators as they are, any activation (see storeRows).
  return isa.level === "avx2" && s.wLanes === 8 &&
    (s.nhwc || activationTemps(isa, s.activation) <= AVX2_STORE_TEMPS);
}

/**
 * Whether the kernel computes an NHWC call of `inputs` channels (one group, weights packed
 * with their channel-vector copy) and `taps` kernel taps at `level` as it is, where
 * jit.conv2d would otherwise transpose x to NCHW and y back: AVX-512 from 16 input channels (a
 * stem on 3 ran 1.4× slower there than transposed around the position kernel); AVX2 from a
 * vector's 8, and a window wider than 1×1 only where x's positions fall in 4 or more of L1's
 * 64 sets (inputs not a multiple of 512: positions inputs/16 lines apart). A tile's window
 * reads some 24 positions each k step; at 512 channels they are 2 KiB apart, two sets of Zen
 * 3's 8 ways. Zen 3, one thread, hot, against the NCHW call in the same process (`deno run -A
 * bench/layout_layer.ts LAYER`): 3×3 512→512 on 7² 1.45× its time on this kernel (this
 * function made to take it) where transposed it took 1.01-1.03×; 256→256 on 14² 1.02×
 * (transposed 1.02×); 1×1 layers 0.85-0.99× (transposed 1.05-1.42×).
 */
export function nhwcChannelVectorsLevel(level: string, inputs: number, taps: number): boolean {
  if (level === "avx512") return inputs >= CV_LANES;
  return level === "avx2" && inputs >= 8 && (taps === 1 || inputs % 512 !== 0);
}

/**
 * AVX2: registers the store leaves an activation: 8 after a transpose, less
 * the mask and the result (the bias's and residual's register is free by then).
 */
const AVX2_STORE_TEMPS = 6;

/**
 * Tier 2's tile `t`, chosen on the whole call, for the geometry `g` its
 * tiles run on: a part over a 1×1 call's positions as rows of 16
 * (family.ts linedBands) has rows of another width than the call's, and a
 * tile of whole rows made for the call's (7 wide: 2 rows, 14 positions)
 * read a 16-wide row as 7 and stored the rest of it wrong. Such a tile
 * takes `g`'s rows as tier 1 would for as many positions; its other fields
 * as chosen (the same FMA chains: the same bits). Pieces of a row and flat
 * runs hold for any width.
 */
export function fitChannelVectorTile(
  isa: VecIsa,
  g: ConvGeometry,
  t: ChannelVectorTile,
): ChannelVectorTile {
  if (t.flat || t.rows === 1 || t.width === g.ow) return t;
  const fitted = channelVectorTile(isa, g, t.embed, t.vectors, t.rows * t.width, false);
  return { ...t, rows: fitted.rows, width: fitted.width };
}

/**
 * The tile for an output `ow` wide: whole rows while `width` positions
 * hold them, else at AVX2 flat tiles where they serve (`flatServes` and
 * see ChannelVectorTile.flat), else pieces of a row; two vectors of
 * channels unless the group has a vector's or fewer.
 */
export function channelVectorTile(
  isa: VecIsa,
  g: ConvGeometry,
  embed: boolean,
  vectors = g.ocg > channelVectorLanes(isa) ? 2 : 1,
  width = channelVectorPositions(vectors, isa),
  flatServes = true,
): ChannelVectorTile {
  const ow = g.ow, whole = ow <= width;
  const flat = flatServes && isa.level === "avx2" && !whole && g.rows * ow <= FLAT_POSITIONS &&
    ow % width !== 0;
  const t: ChannelVectorTile = {
    rows: whole ? Math.max(1, Math.floor(width / ow)) : 1,
    width: whole ? ow : flat ? width : Math.ceil(ow / Math.ceil(ow / width)),
    vectors,
    nextBlock: false,
    nextOut: isa.level !== "avx2",
    xAhead: isa.level !== "avx2"
      ? g.channelStride * 4 > AVX512_FAR_MOST_PLANE ? X_NEAR_PLANES : X_AHEAD_PLANES.avx512
      : g.channelStride * 4 > AVX2_X_AHEAD_MOST_PLANE
      ? 0
      : X_AHEAD_PLANES.avx2,
    icChunk: 0,
    embed: embed && isa.level === "avx512",
    ...(flat ? { flat } : {}),
    ...(isa.level === "avx2" && g.channelStride * 4 > AVX2_X_AHEAD_MOST_PLANE
      ? { xNextRows: true }
      : {}),
  };
  // Few tiles per block (a small image): the first tile of each block would wait on its
  // weights from DRAM.
  t.nextBlock = tilesPerBlock(g, t) <= NEXT_BLOCK_TILES;
  return t;
}

/**
 * NHWC: the most k steps (input channels × taps) of a tile whose k loop claims the next tile's
 * lines of y. A short loop is mostly its store, and a block's 32 channels of each position are
 * 2 of the position's lines, a stride the hardware's prefetch follows badly. Intel Xeon (SPR),
 * `deno run -A bench/ab.ts --a f56ce2b --b ea56cec --conv 1,C,H,H,OC,1,1 --nhwc --activation
 * clip`: 16→96 on 112² ×0.916 of the time (2 threads ×0.704), 24→144 on 56² ×0.911; 64→256 on
 * 56² ×1.006, ×1.045 and with its residual ×1.067 (the residual's lines claimed too) / ×1.013,
 * 3×3 64→64 on 56² ×0.996, 1024→256 on 14² ×0.988: left as they were. With this limit (`--b
 * ed4cf26`): 16→96 on 112² ×0.914 (2 threads ×0.890), 32→192 on 28² ×0.963, 64→256 ×0.994.
 */
const NHWC_NEXT_Y_MOST_STEPS = 32;

/**
 * Whether the tile's k loop fetches the next tile's y (and NCHW's residual): NCHW see
 * `nextOut`; NHWC short k loops (`NHWC_NEXT_Y_MOST_STEPS`).
 */
export function fetchesNextTile(s: ConvSpec, t: ChannelVectorTile): boolean {
  return t.nextOut &&
    (!s.nhwc || (s.c / s.group) * s.kh * s.kw <= NHWC_NEXT_Y_MOST_STEPS);
}

/**
 * Chunks of input channels each row's pieces run in (1: the whole k loop
 * per tile): NCHW, rows in two or more pieces, chunks dividing the channels.
 */
export function channelVectorChunks(s: ConvSpec, g: ConvGeometry, t: ChannelVectorTile): number {
  const c = t.icChunk;
  return c > 0 && c < g.cg && g.cg % c === 0 && !s.nhwc && !t.halves &&
      chunkedPieces(g, t).length > 1
    ? g.cg / c
    : 1;
}

/** The tiles that run in chunks of input channels: a row's pieces, or flat tiles' band. */
function chunkedPieces(g: ConvGeometry, t: ChannelVectorTile): [number, number][] {
  if (t.flat) return evenPieces(g.rows * g.ow, t.width);
  return piecesPerRow(g, t) > 1 ? evenPieces(g.ow, t.width) : [[0, g.ow]];
}

/** Pieces an output row is cut in (1: tiles of whole rows). */
function piecesPerRow(g: ConvGeometry, t: ChannelVectorTile): number {
  return t.rows > 1 || t.width === g.ow || t.flat ? 1 : evenPieces(g.ow, t.width).length;
}

/**
 * Tier 1's chunk of input channels for a tile (0: none): rows of 8 pieces
 * or more (x's rows then outgrow L1 across a tile's channels), or of 4 and
 * more whose block of weights outgrows twice L1; the largest power of two
 * (8-64) dividing the channels whose chunk of weights takes at most 3/4 of
 * L1. Measured on a Sapphire Rapids-class Xeon
 * (`bench/tune_candidates.ts --conv … --packed`, 3×3, chunks of 32 against
 * none, one run each): 64→64 on 112² ×1.41, 128→128 on 56² ×1.17 (×1.20
 * with `--cold`), 256→256 on 56² ×1.31; 64→64 on 56² (4 pieces, 74 KiB of
 * weights) 0.90-0.98× (four runs) and 256→256 on 28² (2 pieces) 0.95-0.97×, so none there.
 */
export function channelVectorChunk(
  isa: VecIsa,
  s: ConvSpec,
  g: ConvGeometry,
  t: ChannelVectorTile,
  l1d: number,
): number {
  if (t.flat) return flatChunk(g, t, l1d);
  const pieces = piecesPerRow(g, t);
  // AVX2: a row's pieces gained nothing in chunks (Zen 3, `deno run -A
  // bench/tune_candidates.ts --conv … --packed --cold`, chunks of 32 against none, µs: 3×3
  // 64→64 on 56² 2403 against 2345, 128→128 on 28² 2315 against 2262; 1×1 256→128 on 56²,
  // chunks of 64, 3365 against 2647).
  if (s.nhwc || pieces === 1 || isa.level === "avx2") return 0;
  const perChannel = s.kh * s.kw * t.vectors * channelVectorLanes(isa) * 4;
  if (pieces < 4 || (pieces < 8 && g.cg * perChannel <= 2 * l1d)) return 0;
  for (let c = 64; c >= 8; c /= 2) {
    if (c < g.cg && g.cg % c === 0 && c * perChannel <= 0.75 * l1d) return c;
  }
  return 0;
}

/**
 * Flat tiles' chunk of input channels: where the band's x outgrows L1, the
 * largest power of two (32-256) dividing the channels whose planes of the
 * band take at most half of L1, so every tile of a chunk reads its lines
 * from L1 (none where that is under 32 channels). Measured on Zen 3
 * (`deno run -A bench/tune_candidates.ts --conv … --packed --cold`, tier 2's
 * candidates, % of the FMA peak, none / 16 / 32 / 64 channels a chunk):
 * 1×1 2048→512 on 7² 49 / 73 / 78 / 78, 512→2048 on 7² 64 / 77 / 82 / 83;
 * 1×1 1024→256 on 14² (32 channels: 25 KB) none 80, 16 61, 32 68.
 */
function flatChunk(g: ConvGeometry, t: ChannelVectorTile, l1d: number): number {
  const plane = g.rows * g.ow * 4;
  if (g.cg * plane <= l1d || tilesPerBlock(g, t) === 1) return 0;
  for (let c = 256; c >= 32; c /= 2) {
    if (c < g.cg && g.cg % c === 0 && c * plane <= l1d / 2) return c;
  }
  return 0;
}

/** Frame bytes of the pieces' partial sums between chunks (0 unchunked). */
export function channelVectorPartialBytes(
  s: ConvSpec,
  g: ConvGeometry,
  t: ChannelVectorTile,
): number {
  if (channelVectorChunks(s, g, t) === 1) return 0;
  // Each piece's accumulators, as many as the widest piece's (the first: evenPieces).
  const pieces = chunkedPieces(g, t);
  return pieces.length * t.vectors * pieces[0][1] * 64;
}

/**
 * Frame bytes of a tile's first half's sums (`ChannelVectorTile.halves`;
 * else 0), after the partial sums: a vector for each accumulator, at most
 * the registers below tileRegisters' top four (AVX-512's 28).
 */
export function channelVectorHalfBytes(t: ChannelVectorTile): number {
  return t.halves ? (32 - 4) * 64 : 0;
}

/** Whether the blocks run inside each row of tiles (see ChannelVectorTile.rowsOuter). */
export function rowsOuterServes(t: ChannelVectorTile): boolean {
  return t.rowsOuter === true && !t.flat;
}

/** Whether the tile's k loop fetches x planes ahead (NCHW only: NHWC fetches rows). */
export function fetchesXAhead(s: ConvSpec, t: ChannelVectorTile): boolean {
  return t.xAhead > 0 && !s.nhwc;
}

/**
 * The first and last byte a tile reads in each input row of x (its taps' byte displacements
 * `offs`, null in the padding; rows `rowBytes` apart), by row.
 */
function rowSpans(offs: (number | null)[][], rowBytes: number): Map<number, [number, number]> {
  const spans = new Map<number, [number, number]>();
  for (const o of offs) {
    for (const d of o) {
      if (d === null) continue;
      const r = Math.floor(d / rowBytes), sp = spans.get(r);
      spans.set(r, sp ? [Math.min(sp[0], d), Math.max(sp[1], d + 3)] : [d, d + 3]);
    }
  }
  return spans;
}

/** A byte in every line from byte `lo` to byte `hi`: one each 64 from lo, and hi where missed. */
function spanLines(lo: number, hi: number): number[] {
  const out: number[] = [];
  let d = lo;
  for (; d <= hi; d += 64) out.push(d);
  if (d - 64 !== hi) out.push(hi); // the last line, if missed
  return out;
}

/** Tiles of positions per block of channels. */
function tilesPerBlock(g: ConvGeometry, t: ChannelVectorTile): number {
  return tilePositions(g, t).length;
}

/**
 * Estimated cycles of the kernel for `s` (its band): per tile and k step
 * the larger of its FMAs (two per cycle; a one-vector tile's loads hold it
 * to 85% of that unless the core takes its broadcasts in the FMAs, see
 * `prefersEmbeddedBroadcast`) and the FMA latency (4 cycles per chain),
 * plus about 150 cycles of transpose and store per vector, for every block
 * of channels: the last block, short of a whole tile's channels, in the
 * vectors it has (emitChannelVectorGroup's `rest`; 48 channels were priced
 * as 64, and tier 1 kept the position kernel for 3×3 24→48 on 112²).
 */
export function channelVectorCycles(
  isa: VecIsa,
  s: ConvSpec,
  g: ConvGeometry,
  t: ChannelVectorTile,
): number {
  const k = g.cg * s.kh * s.kw, inside = s.wFinite ? insideTaps(s, g) : 1;
  const L = channelVectorLanes(isa), store = L === CV_LANES ? 150 : STORE_CYCLES_AVX2;
  /** One block of `V` vectors over the band's tiles. */
  const block = (V: number) => {
    let cycles = 0;
    for (const p of tilePositions(g, t)) {
      cycles += k * Math.max((p * V * inside) / (V === 2 || t.embed ? 2 : 1.7), 4) + store * V;
    }
    return cycles;
  };
  const per = L * t.vectors, rest = g.ocg % per;
  return Math.floor(g.ocg / per) * block(t.vectors) + (rest ? block(Math.ceil(rest / L)) : 0);
}

/** AVX2: cycles of a vector's store (a spill, an 8×8 transpose, 8 rows stored). */
const STORE_CYCLES_AVX2 = 80;

/** The share of (position, tap) pairs that read x, not the padding (the FMAs made with wFinite). */
function insideTaps(s: ConvSpec, g: ConvGeometry): number {
  const valid = (
    outs: number,
    k: number,
    stride: number,
    dil: number,
    pad: number,
    size: number,
  ) => {
    let n = 0;
    for (let o = 0; o < outs; o++) {
      for (let j = 0; j < k; j++) {
        const at = o * stride + j * dil - pad;
        if (at >= 0 && at < size) n++;
      }
    }
    return n / (outs * k);
  };
  return valid(g.oh, s.kh, s.sh, s.dh, s.pt, s.h) * valid(g.ow, s.kw, s.sw, s.dw, s.pl, s.w);
}

/** The positions of each tile of the band, in order. */
function tilePositions(g: ConvGeometry, t: ChannelVectorTile): number[] {
  const out: number[] = [];
  if (t.flat) return evenPieces(g.rows * g.ow, t.width).map(([, w]) => w);
  if (t.rows > 1 || t.width === g.ow) {
    for (let r = 0; r < g.rows; r += t.rows) out.push(Math.min(t.rows, g.rows - r) * g.ow);
    return out;
  }
  for (let r = 0; r < g.rows; r++) for (const [, w] of evenPieces(g.ow, t.width)) out.push(w);
  return out;
}

/**
 * The channel blocks of one image and group, x read in place (x at
 * frame.XG, w's channel-vector copy at frame.WV, bias, y and residual at BB, YB,
 * RB): blocks of 32 (or 16) output channels, each over every tile of
 * positions. Each broadcast is one input element at a displacement known
 * here (any stride and dilation), or, where a tap falls in the padding,
 * a zero from the constant pool: the FMA is still made, so the chain is
 * the one the position-vector kernel computes through its zero-padded
 * planes. Tiles whose rows all read inside x run in a loop; the rows
 * that reach the top or bottom padding are emitted one by one.
 */
export function emitChannelVectorGroup(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  t: ChannelVectorTile,
  F: ChannelVectorFrame,
): void {
  const a = v.a;
  // (k: a block's weights per output channel, its stride: w's full rows where a half sums.)
  const L = channelVectorLanes(v.isa), k = (s.wInputs ?? g.cg) * s.kh * s.kw;
  const planeY = g.oh * g.ow * 4;
  const avx2 = v.isa.level === "avx2";
  const regs = (P: number) => tileRegisters(v.isa, P);
  // Elements between positions of x and of y, and bytes between input channels of x:
  // NCHW 1, 1, a plane; NHWC every channel of a position, then the next channel.
  const posX = s.nhwc ? s.cTotal : 1, posY = s.nhwc ? s.ocTotal : 1;
  // (On the subsampled planes or channel blocks, theirs: the band's only; in place, x's plane.)
  const channelX = s.nhwc ? 4 : (t.planes || t.packedX ? g.channelStride : s.h * s.w) * 4;
  const zero = a.constant(new Uint8Array(64), 64);
  const chunks = channelVectorChunks(s, g, t);
  /** Input channels of one k loop: a chunk's, or all. */
  const kSteps = chunks > 1 ? t.icChunk : g.cg;
  const widest = chunkedPieces(g, t)[0][1];
  /** Where piece `slot`'s partial sum of position `p`, vector `vi`, waits between chunks. */
  const partial = (slot: number, vi: number, p: number) =>
    F.PARTIAL + ((slot * t.vectors + vi) * widest + p) * 64;
  // One group: the block's weights start at the channel-vector copy's first.
  a.emit("mov", rax, qword(rsp, F.WV));
  a.emit("mov", qword(rsp, F.WB), rax);
  const whole = t.rows > 1 || t.width === g.ow;
  const step = whole ? t.rows : 1;
  /** Whether output row `oh` reads only rows of x (no tap in the top or bottom padding). */
  const inside = (oh: number) =>
    oh * s.sh - s.pt >= 0 && oh * s.sh - s.pt + (s.kh - 1) * s.dh < s.h;
  // The band's tiles of rows: [first row, rows, inside].
  const tiles: [number, number, boolean][] = [];
  for (let r = s.rowStart; r < s.rowEnd; r += step) {
    const n = Math.min(step, s.rowEnd - r);
    let ok = true;
    for (let q = r; q < r + n; q++) ok &&= inside(q);
    tiles.push([r, n, ok]);
  }
  const rowsOuter = rowsOuterServes(t);
  // Every tile of a block brings a share of the next block's weights into L2 (rows outer:
  // every block's weights stay there).
  const nextStep = t.nextBlock && !rowsOuter
    ? Math.max(1, Math.floor((t.vectors * s.kh * s.kw * L * 4) / tilesPerBlock(g, t)))
    : 0;
  /**
   * The band's rows of tiles, each by `row(r0, n, base)` with x's row `base` at RUNB (0:
   * x's start, a row reaching the padding), then `nextRows(n)`: inside rows of one height in
   * a loop, x's rows from a running pointer.
   */
  const walkRows = (
    row: (r0: number, n: number, base: number) => void,
    nextRows: (n: number) => void,
  ) => {
    for (let i = 0; i < tiles.length;) {
      const [r0, n, ok] = tiles[i];
      if (!ok) {
        // A row reaching the padding: displacements from x's image start, known here.
        a.emit("mov", rax, qword(rsp, F.XG));
        a.emit("mov", qword(rsp, F.RUNB), rax);
        row(r0, n, 0);
        nextRows(n);
        i++;
        continue;
      }
      let j = i;
      while (j < tiles.length && tiles[j][2] && tiles[j][1] === n) j++;
      a.emit("mov", rax, qword(rsp, F.XG));
      addImmediate(a, "add", rax, (r0 * s.sh - s.pt) * s.w * posX * 4);
      a.emit("mov", qword(rsp, F.RUNB), rax);
      frameLoop(a, F.RUN, j - i, () => {
        row(r0, n, r0 * s.sh - s.pt);
        addImmediate(a, "add", qword(rsp, F.RUNB), n * s.sh * s.w * posX * 4);
        nextRows(n);
      });
      i = j;
    }
  };
  /** Moves the block pointers on past `vectors` vectors of output channels. */
  const nextBlock = (vectors: number) => {
    addImmediate(a, "add", qword(rsp, F.WB), vectors * k * L * 4);
    addImmediate(a, "add", qword(rsp, F.BB), vectors * L * 4);
    addImmediate(a, "add", qword(rsp, F.YB), vectors * L * (s.nhwc ? 4 : planeY));
    addImmediate(a, "add", qword(rsp, F.RB), vectors * L * (s.nhwc ? 4 : planeY));
  };
  /** RUNY, RUNR = the block's y and residual (the row's, rows outer). */
  const runFromBlock = () => {
    for (const [from, to] of [[F.YB, F.RUNY], [F.RB, F.RUNR]]) {
      a.emit("mov", rax, qword(rsp, from));
      a.emit("mov", qword(rsp, to), rax);
    }
  };
  /** A block of `channels` output channels in `vectors` vectors, over the band. */
  const block = (vectors: number, channels: number) => {
    runFromBlock();
    if (nextStep) {
      a.emit("mov", rax, qword(rsp, F.WB));
      addImmediate(a, "add", rax, vectors * k * L * 4);
      a.emit("mov", qword(rsp, F.NEXTW), rax);
    }
    if (t.flat) flatTiles(vectors, channels);
    else {
      walkRows((r0, n, base) => rowTiles(r0, n, base, vectors, channels), (n) => {
        addImmediate(a, "add", qword(rsp, F.RUNY), n * g.ow * posY * 4);
        addImmediate(a, "add", qword(rsp, F.RUNR), n * g.ow * posY * 4);
      });
    }
    nextBlock(vectors);
  };
  const per = t.vectors * L, rest = g.ocg % per;
  if (!rowsOuter) {
    frameLoop(a, F.BLK, Math.floor(g.ocg / per), () => block(t.vectors, per));
    if (rest) block(Math.ceil(rest / L), rest);
  } else {
    // Each row of tiles through every block (see rowsOuter): the first block's bias, y and
    // residual wait in ROWBB, ROWYB, ROWRB (y's and the residual's moving on a row at a time).
    for (const [from, to] of [[F.BB, F.ROWBB], [F.YB, F.ROWYB], [F.RB, F.ROWRB]]) {
      a.emit("mov", rax, qword(rsp, from));
      a.emit("mov", qword(rsp, to), rax);
    }
    const blockRow = (vectors: number, channels: number, r0: number, n: number, base: number) => {
      runFromBlock();
      rowTiles(r0, n, base, vectors, channels);
      nextBlock(vectors);
    };
    walkRows((r0, n, base) => {
      for (const [from, to] of [[F.WV, F.WB], [F.ROWBB, F.BB], [F.ROWYB, F.YB], [F.ROWRB, F.RB]]) {
        a.emit("mov", rax, qword(rsp, from));
        a.emit("mov", qword(rsp, to), rax);
      }
      frameLoop(a, F.BLK, Math.floor(g.ocg / per), () => blockRow(t.vectors, per, r0, n, base));
      if (rest) blockRow(Math.ceil(rest / L), rest, r0, n, base);
    }, (n) => {
      addImmediate(a, "add", qword(rsp, F.ROWYB), n * g.ow * posY * 4);
      addImmediate(a, "add", qword(rsp, F.ROWRB), n * g.ow * posY * 4);
    });
  }

  /** The byte displacement of each tap for output (oh, ow) from x's row `base`, or null in the padding. */
  function at(oh: number, ow: number, base: number): (number | null)[] {
    return g.taps.map((_, tap) => {
      const i = Math.floor(tap / s.kw), j = tap % s.kw;
      const ih = oh * s.sh + i * s.dh - s.pt, iw = ow * s.sw + j * s.dw - s.pl;
      if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return null;
      return ((ih - base) * s.w + iw) * posX * 4;
    });
  }

  /**
   * Flat tiles (see ChannelVectorTile.flat): the band's positions in runs
   * of at most `width`, each tile emitted with displacements from x's
   * image start and y's offsets from the band's first position. A tile's
   * 8-lane store runs past its positions into the next tile's, which that
   * tile then overwrites (same block, later); the band's last tile masks.
   */
  function flatTiles(vectors: number, channels: number) {
    a.emit("mov", rax, qword(rsp, F.XG));
    a.emit("mov", qword(rsp, F.RUNB), rax);
    const count = g.rows * g.ow, first = s.rowStart * g.ow;
    const pieces = evenPieces(count, t.width);
    const emitPieces = (chunked: boolean) =>
      pieces.forEach(([q0, w], i) => {
        const offs = Array.from({ length: w }, (_, q) => {
          const f = first + q0 + q;
          return at(Math.floor(f / g.ow), f % g.ow, 0);
        });
        const [next, nextWidth] = i + 1 < pieces.length ? pieces[i + 1] : [count, pieces[0][1]];
        const slot = chunked ? i : -1;
        const over = q0 + L <= count && !s.partialIn;
        emitTile(offs, q0, vectors, channels, 0, next * 4, nextWidth, slot, over);
      });
    if (chunks === 1) return emitPieces(false);
    inChunks(() => emitPieces(true));
  }

  /** `tiles` over each chunk of input channels in turn (see `icChunk`). */
  function inChunks(tiles: () => void): void {
    a.emit("mov", qword(rsp, F.CHX), 0);
    a.emit("mov", qword(rsp, F.CHW), 0);
    frameLoop(a, F.CHN, chunks, () => {
      tiles();
      addImmediate(a, "add", qword(rsp, F.CHX), t.icChunk * channelX);
      addImmediate(a, "add", qword(rsp, F.CHW), t.icChunk * s.kh * s.kw * L * 4);
    });
  }

  /**
   * The tiles of `n` output rows from row `r0`, x's row `base` at RUNB
   * (0 with RUNB at x's start): whole rows in one tile, else its pieces.
   */
  function rowTiles(r0: number, n: number, base: number, vectors: number, channels: number) {
    if (whole) {
      const offs: (number | null)[][] = [];
      for (let q = 0; q < n * g.ow; q++) offs.push(at(r0 + Math.floor(q / g.ow), q % g.ow, base));
      emitTile(offs, 0, vectors, channels, n * s.sh * s.w * posX * 4, n * g.ow * 4, n * g.ow);
      return;
    }
    const pieces = evenPieces(g.ow, t.width);
    const emitPieces = (chunked: boolean) =>
      pieces.forEach(([c0, w], i) => {
        const offs = Array.from({ length: w }, (_, q) => at(r0, c0 + q, base));
        // The next piece of this row, or the first of the next row.
        const [nextCol, nextWidth] = i + 1 < pieces.length ? pieces[i + 1] : [g.ow, pieces[0][1]];
        const slot = chunked ? i : -1;
        // AVX2: a piece's 8-lane store may run into the next piece of its row (see flatTiles).
        // (Not where the store adds y's sums: the next piece's would be overwritten first.)
        const over = avx2 && c0 + L <= g.ow && !s.partialIn;
        emitTile(
          offs,
          c0,
          vectors,
          channels,
          w * s.sw * posX * 4,
          nextCol * 4,
          nextWidth,
          slot,
          over,
        );
      });
    if (chunks === 1) return emitPieces(false);
    // Every piece over a chunk of input channels, chunk by chunk (see `icChunk`).
    inChunks(() => emitPieces(true));
  }

  /**
   * A tile; `ahead`: bytes from its x to the next tile's (NHWC prefetches
   * that tile's input rows, a line per row and k step: its positions' 16
   * channels a line hold, which the k loop would otherwise miss on all at
   * once every 16 steps). `next`, `nextWidth`: the next tile's first byte
   * in y (and the residual) from this row's, and its positions (see
   * `nextOut`). `slot`: the piece's place among its row's partial sums
   * when the row runs in chunks of input channels (else -1). `over`: AVX2
   * stores whole vectors from `col` (positions past the tile's are written
   * again by a later tile), else a tile short of a vector masks.
   */
  function emitTile(
    offs: (number | null)[][],
    col: number,
    vectors: number,
    channels: number,
    ahead: number,
    next: number,
    nextWidth: number,
    slot = -1,
    over = false,
  ): void {
    const chunked = slot >= 0;
    const P = offs.length, taps = g.taps;
    const { acc, weights, broadcast } = regs(P);
    const fetchNext = fetchesNextTile(s, t);
    // The residual's lines too, NCHW only (NHWC's lost: see NHWC_NEXT_Y_MOST_STEPS).
    const fetchResidual = fetchNext && s.residual && !s.nhwc;
    // NHWC: the next tile's first position in y, each position's channels of this block a row.
    const nextAt = s.nhwc ? next * posY : next, positionY = posY * 4;
    if (fetchNext) {
      a.emit("mov", r13, qword(rsp, F.RUNY));
      addImmediate(a, "add", r13, nextAt);
      if (fetchResidual) {
        a.emit("mov", r12, qword(rsp, F.RUNR));
        addImmediate(a, "add", r12, nextAt);
      }
    }
    // The next tile's lines, `perStep` per k step over the first `steps` steps: NCHW a channel's
    // plane each (its first and last position), NHWC a position each (its block's lines).
    // (In halves, over the first half's loop.)
    const loopSteps = t.halves ? kSteps / 2 : kSteps;
    const items = s.nhwc ? nextWidth : channels;
    const perStep = Math.ceil(items / loopSteps), steps = Math.ceil(items / perStep);
    const emitNextPrefetch = () => {
      if (!fetchNext) return;
      const skip = loopSteps > steps ? a.label() : null;
      if (skip) {
        a.emit("cmp", rax, loopSteps - steps); // rax counts the k steps down from loopSteps
        a.emit("jbe", skip);
      }
      const last = nextWidth * 4 - 4, stride = s.nhwc ? positionY : planeY;
      const lines = s.nhwc
        ? Array.from({ length: Math.ceil(channels / L) }, (_, i) => i * 64)
        : last > 0
        ? [0, last]
        : [0];
      for (let j = 0; j < perStep; j++) {
        for (const d of lines) {
          a.emit("prefetchw", byte(r13, j * stride + d));
          if (fetchResidual) a.emit("prefetcht0", byte(r12, j * stride + d));
        }
      }
      addImmediate(a, "add", r13, perStep * stride);
      if (fetchResidual) addImmediate(a, "add", r12, perStep * stride);
      if (skip) a.bind(skip);
    };
    // NHWC: the first byte the tile reads in each input row (a row is w·c floats).
    const rowStarts: number[] = [];
    // Not past 256 channels: the next tile's rows would crowd the tile's own out of L1 (hot,
    // 1×1 1024→256 on 14² ran 1.21× slower with them).
    if (s.nhwc && s.cTotal <= 256) {
      const rowBytes = s.w * posX * 4, first = new Map<number, number>();
      for (const o of offs) {
        for (const d of o) {
          if (d === null) continue;
          const r = Math.floor(d / rowBytes);
          first.set(r, Math.min(first.get(r) ?? d, d));
        }
      }
      rowStarts.push(...first.values());
    }
    a.emit("lea", r8, ptr(zero, 0, null, 1, 64));
    a.emit("mov", rdx, qword(rsp, F.RUNB));
    a.emit("mov", rsi, qword(rsp, F.WB));
    if (chunked) {
      // This chunk's input channels; the sums so far, or zeros on the first chunk.
      a.emit("add", rdx, qword(rsp, F.CHX));
      a.emit("add", rsi, qword(rsp, F.CHW));
      const resume = a.label(), ready = a.label();
      a.emit("cmp", qword(rsp, F.CHX), 0);
      a.emit("jne", resume);
      for (let vi = 0; vi < vectors; vi++) for (let p = 0; p < P; p++) v.zero(acc(p, vi));
      a.emit("jmp", ready);
      a.bind(resume);
      for (let vi = 0; vi < vectors; vi++) {
        for (let p = 0; p < P; p++) v.load(acc(p, vi), rsp, partial(slot, vi, p));
      }
      a.bind(ready);
    } else {
      for (let vi = 0; vi < vectors; vi++) for (let p = 0; p < P; p++) v.zero(acc(p, vi));
    }
    if (nextStep) a.emit("mov", r9, qword(rsp, F.NEXTW));
    if (rowStarts.length) a.emit("lea", r10, ptr(rdx, ahead));
    // Kernel rows in a loop where every row's taps read x at one row's displacements
    // shifted by a whole input row (a tile inside x's rows), so the loop body is one row
    // of taps. Measured on Zen 5 (`bench/tune_candidates.ts --conv ... --packed`): with
    // 49 or 25 taps unrolled (~13 KB of code per tile at 7×7) the stem 3→64 7×7/2 ran at
    // 46-52% of the peak, 16→32 5×5 on 28² at 66-71%, 32→64 7×7 on 28² at 84%; by rows
    // 74-77%, 89-95%, 89%; 5×5 layers of 32-64 inputs the same either way.
    const rowStep = s.dh * s.w * posX * 4;
    // The next row of tiles' new lines (see xNextRows): its rows are this tile's `shift` rows
    // on; those this tile does not read, first to last byte of each.
    const nextRowLines: number[] = [];
    if (t.xNextRows && !s.nhwc && !t.flat) {
      const rowBytes = s.w * 4, spans = rowSpans(offs, rowBytes);
      const shift = (whole ? t.rows : 1) * s.sh;
      for (const [r, [lo, hi]] of spans) {
        if (spans.has(r + shift)) continue;
        for (const d of spanLines(lo, hi)) nextRowLines.push(d + shift * rowBytes);
      }
    }
    const byRows = s.kh > 1 && s.kw * s.kh >= ROWS_LOOP_TAPS &&
      offs.every((o) => {
        for (let ky = 0; ky < s.kh; ky++) {
          for (let kx = 0; kx < s.kw; kx++) {
            const d = o[ky * s.kw + kx], d0 = o[kx];
            if ((d === null) !== (d0 === null)) return false;
            if (d !== null && d - d0! !== ky * rowStep) return false;
          }
        }
        return true;
      });
    /** The first `count` taps from rsi's weights and rdx's x (a kernel row, or all). */
    const emitTaps = (count: number) => {
      for (let ti = 0; ti < count; ti++) {
        for (let vi = 0; vi < vectors && !avx2; vi++) {
          a.emit("prefetcht0", byte(rsi, (vi * k + ti) * L * 4 + WEIGHTS_AHEAD));
        }
        for (let vi = 0; vi < vectors; vi++) v.load(weights(vi), rsi, (vi * k + ti) * L * 4);
        for (let p = 0; p < P; p++) {
          const b = broadcast(p);
          const d = offs[p][ti];
          // A tap in the padding: finite weights times its zero add nothing (spec.ts, wFinite).
          if (d === null && s.wFinite) continue;
          const [base, disp] = d === null ? [r8, 0] : [rdx, d];
          if (t.embed) {
            for (let vi = 0; vi < vectors; vi++) {
              v.fmaBroadcast(acc(p, vi), weights(vi), base, disp);
            }
            continue;
          }
          v.broadcast(b, base, disp);
          for (let vi = 0; vi < vectors; vi++) v.fma(acc(p, vi), weights(vi), b, -1);
        }
      }
    };
    /** The k loop over `count` input channels (the next tile's lines fetched in the first's). */
    const kLoop = (count: number, first: boolean) => {
      a.emit("mov", rax, count);
      const top = a.label();
      a.align(16);
      a.bind(top);
      if (byRows) {
        a.emit("mov", r11, s.kh);
        const row = a.label();
        a.bind(row);
        emitTaps(s.kw);
        addImmediate(a, "add", rsi, s.kw * L * 4);
        addImmediate(a, "add", rdx, rowStep);
        a.emit("dec", r11);
        a.emit("jnz", row);
      } else emitTaps(taps.length);
      if (first) emitNextPrefetch();
      if (fetchesXAhead(s, t)) {
        // Every line of the tile's x, t.xAhead planes on: each input row's span, first to last byte.
        const spans = rowSpans(offs, s.w * posX * 4);
        // rdx has moved past a by-rows tile's kernel rows already.
        const from = t.xAhead * channelX - (byRows ? s.kh * rowStep : 0);
        for (const [lo, hi] of spans.values()) {
          for (const d of spanLines(lo, hi)) a.emit("prefetcht0", byte(rdx, from + d));
        }
      }
      for (const d of nextRowLines) {
        a.emit("prefetcht1", byte(rdx, d - (byRows ? s.kh * rowStep : 0)));
      }
      if (nextStep) {
        a.emit("prefetcht1", byte(r9, 0));
        addImmediate(a, "add", r9, nextStep);
      }
      if (rowStarts.length) {
        for (const d of rowStarts) a.emit("prefetcht0", byte(r10, d));
        a.emit("add", r10, 64);
      }
      if (!byRows) addImmediate(a, "add", rsi, taps.length * L * 4);
      addImmediate(a, "add", rdx, channelX - (byRows ? s.kh * rowStep : 0));
      a.emit("dec", rax);
      a.emit("jnz", top);
    };
    if (t.halves) {
      if (chunked) throw new Error("conv2d: a tile in halves runs unchunked");
      // The first half's sums wait in the frame; the second's start from zero and are added
      // to them (second + first: the adds a split's last part makes, k_halves.ts).
      const half = F.PARTIAL + channelVectorPartialBytes(s, g, t);
      const at = (p: number, vi: number) => half + (vi * P + p) * 64;
      kLoop(kSteps / 2, true);
      for (let vi = 0; vi < vectors; vi++) {
        for (let p = 0; p < P; p++) {
          v.store(rsp, at(p, vi), acc(p, vi));
          v.zero(acc(p, vi));
        }
      }
      kLoop(kSteps / 2, false);
      for (let vi = 0; vi < vectors; vi++) {
        for (let p = 0; p < P; p++) {
          v.load(weights(0), rsp, at(p, vi));
          v.add(acc(p, vi), acc(p, vi), weights(0));
        }
      }
    } else kLoop(kSteps, true);
    if (nextStep) a.emit("mov", qword(rsp, F.NEXTW), r9);
    if (s.nhwc) return storeRows(P, col, vectors, channels);
    const stored = a.label();
    if (chunked) {
      // Not the last chunk: the sums wait in the frame for the next.
      const last = a.label();
      a.emit("cmp", qword(rsp, F.CHN), 1);
      a.emit("je", last);
      for (let vi = 0; vi < vectors; vi++) {
        for (let p = 0; p < P; p++) v.store(rsp, partial(slot, vi, p), acc(p, vi));
      }
      a.emit("jmp", stored);
      a.bind(last);
    }
    // The second vector waits in the frame while the first is transposed and stored. Each
    // vector's transpose (16×16, or AVX2's 8×8: positions past P are whatever the registers
    // held, lanes masked off or, with `over`, stored over by a later tile) leaves the other
    // half of the registers to the store. AVX2's mask is a vector register the transpose
    // would clobber, so it is loaded after it; the activation there may take the bias's and
    // residual's register (added by then), 6 of the 8 left (see AVX2_STORE_TEMPS).
    if (vectors === 2) { for (let p = 0; p < P; p++) v.store(rsp, F.SPILL + p * 64, acc(p, 1)); }
    const wideTail = !avx2 && P < L ? v.tail(P, 1) : undefined;
    a.emit("mov", r11, qword(rsp, F.RUNY));
    a.emit("mov", r10, qword(rsp, F.RUNR));
    a.emit("mov", rbp, qword(rsp, F.BB));
    for (let vi = 0; vi < vectors; vi++) {
      if (vi === 1) { for (let p = 0; p < P; p++) v.load(p, rsp, F.SPILL + p * 64); }
      const out = avx2 ? transpose8(v) : transpose16(v);
      const first = vi * L, count = Math.min(L, channels - first);
      const free = Array.from({ length: L }, (_, i) => (avx2 ? 0 : L) + i);
      const tail = avx2 ? (P < L && !over ? v.tail(P, 1, free.shift()!) : undefined) : wideTail;
      const res = free.shift()!, outReg = free.shift()!;
      const temps = avx2 ? [res, ...free] : free;
      for (let j = 0; j < count; j++) {
        emitVectorStore(v, s, out[j], first + j, (first + j) * planeY + col * 4, tail, {
          res,
          out: outReg,
          free: temps,
        });
      }
    }
    a.bind(stored);
  }

  /**
   * NHWC: each accumulator is a vector of channels of one position, a piece
   * of y's row for that position: bias (a vector of channels), residual and
   * activation, then stored as it is (no transpose). The second vector's
   * accumulators wait in the frame, so the first's are stored with the
   * other registers free; at AVX2 (16 registers, one of them a tail's mask)
   * an activation that needs more than those leaves the first vector's in
   * the frame too, each loaded as it is stored.
   */
  function storeRows(P: number, col: number, vectors: number, channels: number): void {
    const acc = (p: number, vi: number) => vi * P + p;
    const temps = activationTemps(v.isa, s.activation);
    const partial = channels % L !== 0;
    // The bias's, residual's, result's and reloaded sums' registers, and AVX2's tail mask.
    const fixed = 4 + (avx2 && partial ? 1 : 0);
    const spillFirst = v.isa.nregs - P - fixed < temps;
    if (vectors === 2) { for (let p = 0; p < P; p++) v.store(rsp, F.SPILL + p * 64, acc(p, 1)); }
    if (spillFirst) {
      for (let p = 0; p < P; p++) v.store(rsp, F.SPILL + ((vectors - 1) * P + p) * 64, acc(p, 0));
    }
    a.emit("mov", r11, qword(rsp, F.RUNY));
    a.emit("mov", r10, qword(rsp, F.RUNR));
    a.emit("mov", rbp, qword(rsp, F.BB));
    const low = spillFirst ? 0 : P;
    const free = Array.from({ length: v.isa.nregs - low }, (_, i) => low + i);
    const BIAS = free.shift()!, RES = free.shift()!, OUT = free.shift()!, X = free.shift()!;
    // AVX2's tail is a mask register of its own (AVX-512's a k register).
    const MASK = avx2 && partial ? free.shift()! : -1;
    for (let vi = 0; vi < vectors; vi++) {
      const lanes = Math.min(L, channels - vi * L);
      const tail = lanes < L ? v.tail(lanes, 1, MASK) : undefined;
      if (s.bias) v.load(BIAS, rbp, vi * L * 4, tail);
      for (let p = 0; p < P; p++) {
        let x = acc(p, vi);
        if (vi === 1) {
          v.load(X, rsp, F.SPILL + p * 64);
          x = X;
        } else if (spillFirst) {
          v.load(X, rsp, F.SPILL + ((vectors - 1) * P + p) * 64);
          x = X;
        }
        const at = (col + p) * posY * 4 + vi * L * 4;
        if (s.bias) v.add(x, x, BIAS);
        if (s.residual) {
          v.load(RES, r10, at, tail);
          v.add(x, x, RES);
        }
        let r = x;
        if (s.activation) {
          const def = UNARY_OPS[s.activation.op];
          def.emit(new Lanes(v, free, [2, 3, 4]), OUT, x, s.activation.params);
          r = OUT;
        }
        v.store(r11, at, r, tail);
      }
    }
  }
}
