/**
 * Depthwise convolution (one input and one output channel per group,
 * stride 1 or 2) at AVX-512 and AVX2, reading x in place: no phase planes. A tile is
 * R output rows × V vectors of one channel; each input row the tile needs
 * is loaded once per tap column and feeds every output row of the tile
 * that uses it (R rows share (R − 1)·stride + kh input rows). Rows above or
 * below x read a zero row in the workspace (row pointers chosen with cmov);
 * columns left or right of x are masked off in the load (fault-suppressing,
 * zero lanes). At stride 2 across, 16 outputs read 32 input columns: a pair
 * of loads, whose even lanes are one tap column and odd lanes the next,
 * taken in 128-bit blocks (`vshufps`, an in-lane shuffle: on Zen 5 it
 * issued 4 a cycle where `vpermi2ps` issued 2 on the FMAs' pipes, `deno
 * run -A bench/shuffle_rates.ts`); the sums
 * stay in that block order through every tap and are put back in order
 * once, before the bias (`vpermps`). Each output is the same FMA chain,
 * taps in row-major order from +0, as the general kernel computes it (a
 * tap whose lanes all lie outside x is skipped when every packed weight is
 * finite: its products are zeros, which leave a sum that starts at +0
 * unchanged; otherwise it multiplies zeros, NaN for ±Inf as ONNX's zero
 * padding gives), so the bits are the general kernel's. Planes
 * of at most 8 columns pack several output rows into each vector
 * (depthwise_packed.ts). AVX2: 8 lanes, the masks in a vector register
 * (`vmaskmovps`), each tap's weight broadcast once a channel into the
 * workspace and read as the FMAs' memory operand (16 registers leave no
 * room for all the weights beside a tile), no packed planes; registers the
 * tile and its activation leave idle hold a second mask and the first
 * taps' weights. Zen 3, one thread, `deno run -A bench/ab.ts --a 11b15b9
 * --b 6235363 --conv 1,C,H,H,C,3,S,C,1 --activation clip`: 7²×960 ×0.882
 * of the time, 14²×576 to 7² (stride 2) ×0.884, 14²×384 ×0.976, 14²×576
 * ×0.962, 28²×192 ×0.955, 56²×144 ×0.999; MobileNetV2 (`--model
 * mobilenet --blocks 300`) ×0.977-0.987 at 1 thread (three runs), ×0.985
 * at 2.
 *
 * @module
 */
import {
  eax,
  KREG,
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
} from "../../../asm/mod.ts";
import { addImmediate, frameLoop } from "../abi.ts";
import { Lanes } from "../math/lanes.ts";
import { activationTemps } from "../unary/temps.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import type { Vec, VecIsa } from "../vec.ts";
import type { ConvGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";
import { depthwisePackedRows, emitDepthwisePackedPlane } from "./depthwise_packed.ts";

/** The tile of a depthwise plan. */
export interface DepthwiseTile {
  /** Output rows per tile. */
  rows: number;
  /** Vectors per column chunk of a row (NHWC: output positions, a vector of 16 channels each). */
  vectors: number;
  /** A narrow plane unrolled whole, this many output rows a vector (depthwise_packed.ts). */
  packed?: number;
  /** NHWC (depthwise_nhwc.ts): output rows of a block each channel vector sweeps in turn. */
  blockRows?: number;
  /** NHWC: each tile takes every channel vector in turn, instead of sweeps of blocks. */
  channelsInner?: boolean;
}

/** Lanes of a vector at `level` (the depthwise kernel's levels: AVX-512, AVX2). */
const lanesAt = (level: string) => (level === "avx2" ? 8 : 16);

/** Row pointers of a tile's input rows (at most 8). */
const ROW_REGS: Reg[] = [r8, r9, r10, r11, r12, r13, r14, r15];

/**
 * vshufps of a pair of L-lane loads (imm 0x88 its even lanes, 0xdd its odd
 * ones) leaves them in 128-bit blocks: block k holds outputs 2k, 2k + 1 of
 * the first load and L/2 + 2k, L/2 + 2k + 1 of the second. vpermps with
 * these indices puts output n back in lane n.
 */
function blockToNatural(L: number): number[] {
  return Array.from({ length: L }, (_, n) => {
    const m = n % (L / 2);
    return 4 * (m >> 1) + (m & 1) + (n >= L / 2 ? 2 : 0);
  });
}

/**
 * Most taps the kernel serves: 7×7 (ConvNeXt's), its weights broadcast
 * from memory beyond 9. Against the general kernel it took before (`deno
 * run -A bench/conv_layer.ts 1,384,14,14,384,7,1,384` and the like, Zen 5,
 * packed weights, limits 25 and 49 in turn): 7×7 on 14²×384 133 → 52 µs
 * hot, 181 → 88 with the caches flushed; 7²×768 96 → 40 and 134 → 70;
 * 28²×192 224 → 193 and 256 → 201; 56²×96 399 → 378 and 430 → 396.
 */
const DEPTHWISE_MOST_TAPS = 49;

/** Whether the depthwise kernel serves `s` at `level`. */
export function depthwiseServes(s: ConvSpec, g: ConvGeometry, level: string): boolean {
  return (level === "avx512" || level === "avx2") && !s.nhwc && g.cg === 1 && g.ocg === 1 &&
    (s.sh === 1 || s.sh === 2) &&
    (s.sw === 1 || (s.sw === 2 && s.dw === 1)) && !s.flip && s.uh === 1 && s.uw === 1 &&
    s.kh * s.kw <= DEPTHWISE_MOST_TAPS;
}

/** Output rows a tile may have: its input rows, (rows − 1)·sh + (kh − 1)·dh + 1, at most 8. */
export function depthwiseRowsMost(s: ConvSpec): number {
  return Math.max(0, Math.floor((8 - 1 - (s.kh - 1) * s.dh) / s.sh) + 1);
}

/**
 * Accumulators a tile may have beside the weights in registers (taps ≤ 9),
 * a load, a bias, the activation's registers, and at stride 2 across the
 * pair's second load, the shuffle's result and the un-blocking indices
 * (and one to spare: the tiles were measured with this budget). AVX2's 16
 * registers keep no weights (they are FMA memory operands, broadcast once
 * a channel into the workspace) and one holds the load mask.
 */
export function depthwiseBudget(s: ConvSpec, activation: number, level = "avx512"): number {
  const taps = s.kh * s.kw;
  if (level === "avx2") return Math.min(16, 16 - 3 - activation - (s.sw === 2 ? 3 : 0));
  return Math.min(16, 30 - (taps <= 9 ? taps : 0) - activation - (s.sw === 2 ? 4 : 0));
}

/**
 * Workspace: a zero row standing for the rows above and below x (and at
 * AVX2 after it each tap's weight broadcast, 32 bytes a tap, then the
 * bias's), with a
 * line of margin on each side. Loads read only the lanes of columns inside
 * the row (the others are masked), but a masked-off lane on an
 * inaccessible page still costs a fault-suppression assist of hundreds of
 * cycles (depthwise 3×3 on 14²×576, Zen 5: 190 µs with the zero row at the
 * start of its mapping, 17 µs with the margin), so the row's vectors stay
 * inside the mapping.
 */
export function depthwiseWorkspace(s: ConvSpec, level = "avx512"): number {
  const weights = level === "avx2" ? 64 * Math.ceil((32 * (s.kh * s.kw + 1)) / 64) : 0;
  return zeroRowBytes(s) + 2 * ZERO_MARGIN + weights;
}

/** Bytes of the zero row (its margins apart): x's row rounded up to lines. */
function zeroRowBytes(s: ConvSpec): number {
  return Math.ceil((s.w * 4) / 64) * 64;
}

/** Bytes before (and after) the zero row in the workspace. */
export const ZERO_MARGIN = 64;

/**
 * The tile for an output row of `ow`: the packed plane where it holds
 * several rows a vector, else as many vectors per chunk as fit 14
 * accumulators beside the weights, and rows to fill them (input rows ≤ 8).
 * Rows of 9-16 columns at stride 1 take the plane one row a vector (every
 * output row its own FMA chain, each input row's load serving the kh
 * output rows it feeds; see depthwise_packed.ts). At stride 2 a row of 3 or 4
 * vectors takes 2 rows, not 3: on Zen 5 (3×3/2, relu, one thread, tiles
 * alternating in one process) 3 rows ran 1.10-1.24× 2 rows' time at 3 and 4
 * vectors (32-96 channels on 80²-112²; the same at 2 threads), even at 2
 * vectors (56²), and 0.93-1.06× at 1 and 5 (28², 160²); why is not found.
 * At stride 1 a row of 5-7 vectors goes in chunks of 4 vectors, 4 rows a
 * tile (each input row then feeds 4 output rows, not 2-3): on Zen 5, 3×3
 * and 5×5 on 96²-112² (16-64 channels) ran 1.07-1.24× faster at 1 and 2
 * threads, 80² 0.99-1.06×; rows of 4 vectors keep 4 × 64 (56²), and of 14
 * (224²) whole chunks of 7 (0.96-0.99× in chunks of 4).
 */
export function depthwiseTile(
  s: ConvSpec,
  g: ConvGeometry,
  activation: number,
  level = "avx512",
): DepthwiseTile {
  // The packed plane is AVX-512's (16 lanes for several rows).
  const packed = level === "avx512" ? depthwisePackedRows(s, g, activation) : 0;
  if (packed >= 1) return { rows: packed, vectors: 1, packed };
  return depthwiseRowTile(s, g, activation, level);
}

/** Vectors of an output row from which AVX2's stride-1 tile is rows of one vector. */
const WIDE_ROW_VECTORS = 3;
/** Rows of that tile. */
const WIDE_ROW_TILE_ROWS = 4;
/** Rows of AVX2's stride-1 tile on rows of 1 or 2 vectors (up to 16 columns), at most. */
const TWO_VECTOR_ROWS = 5;

/** Vectors of an output row from which AVX2's stride-2 tile is 2 rows × 2 vectors. */
const STRIDED_ROW_VECTORS = 3;

/**
 * Rows a tile for `rows` output rows in tiles of at most
 * min(`most`, TWO_VECTOR_ROWS): as few tiles as that allows, their rows as
 * even as they go (14 rows: 5, 5, 4; 16: 4 × 4; 12: 4 × 3). The rule
 * before took the most accumulators (6 rows × 2 vectors beside relu's one
 * register, 12: 6, 6 and 2 rows at 14²); tier 2 found fewer rows faster
 * on every such layer (`deno run -A bench/tune_candidates.ts --conv
 * 1,C,H,H,C,3,1,C`, 14²×384: 6 rows 39.8 µs, 5 36.4, 4 36.5; 16²×256: 6
 * 26.3, 4 22.5). Zen 3, one thread, `deno run -A bench/ab.ts --a 35dda56
 * --b 8e37a7c --conv 1,C,H,H,C,3,1,C,1 --blocks 60` (relu; the same
 * bits): 14²×384 ×0.889, 14²×576 ×0.832, 16²×256 ×0.859, 12²×128 ×0.888;
 * with `--activation clip` (5 rows × 2 before where 5 fit) 16²×256
 * ×0.944, 12²×128 ×0.953, 14² the same tile. Rows of one vector too (6 × 1
 * before, 6 and 1 rows at 7²): `--a 8e37a7c --b 51869fc`, two runs, 7²×960
 * relu ×0.929 / ×0.943, clip ×0.918 / ×0.887; 8²×256 relu ×0.977 /
 * ×1.001, clip ×1.024 / ×0.921 (4 and 4 rows for 6 and 2); MobileNetV2
 * (`--model mobilenet --blocks 100`, against 35dda56) ×1.000.
 */
function balancedRows(rows: number, most: number): number {
  const tiles = Math.ceil(rows / Math.max(1, Math.min(most, TWO_VECTOR_ROWS)));
  return Math.ceil(rows / tiles);
}

/** The row tile (rows × vectors of a chunk) where the packed plane does not serve. */
export function depthwiseRowTile(
  s: ConvSpec,
  g: ConvGeometry,
  activation: number,
  level = "avx512",
): DepthwiseTile {
  const vectors = Math.ceil(g.ow / lanesAt(level));
  const budget = depthwiseBudget(s, activation, level);
  if (level === "avx2") {
    // Its weights are memory operands: an FMA's load besides the input row's, so output
    // rows share each input load; of the tiles with the most accumulators, the one with the
    // most rows (taking rows first, then vectors, had cut 3×3 on 14²×384 +bias clip(0,6) to 6
    // rows × 1 where 5 × 2 fit: 61.5 → 47 µs with 5 × 2, a scratch A/B on Zen 3), from at most
    // `top` rows: at stride 1 rows of 1 or 2 vectors take balancedRows' even tiles, rows of 3
    // or more 4 rows of one vector.
    const most = Math.max(1, Math.min(depthwiseRowsMost(s), g.rows, budget));
    // Stride 1 on rows of 3 vectors or more (17 columns and up): 4 rows of one vector. Zen 3,
    // one thread, `deno run -A bench/tune_candidates.ts --conv 1,C,H,H,C,3,1,C --packed`: 6
    // rows × 2 vectors (the loop's rule then) 173.5 µs at 56²×144, 84.1 at 28²×192, 184.6 at
    // 112²×32; 4 × 1 134.3, 69.8, 123.3 (the best or within 2% of it). Rows of 3 vectors since
    // stop 101 (tier 2 found 6 × 2 slowest of its tiles at 24²×128 and 20²×64): `deno run -A
    // bench/ab.ts --a 51869fc --b b4c80f5 --conv 1,C,H,H,C,3,1,C,1 --blocks 60`, relu 24²×128
    // ×0.867, 20²×64 ×0.853, clip ×0.838 and ×0.879 (an identical build before: ×0.817-0.882);
    // the same bits.
    if (s.sh === 1 && s.sw === 1 && vectors >= WIDE_ROW_VECTORS) {
      return { rows: Math.min(WIDE_ROW_TILE_ROWS, most), vectors: 1 };
    }
    // Stride 2 on rows of 3 vectors or more (56² out and up): 2 rows of 2 vectors. Zen 3, one
    // thread, `deno run -A bench/tune_candidates.ts --conv 1,C,H,H,C,3,2,C --packed`: 3 rows
    // × 3 vectors (the rule below) 233.7 µs on 112²×96, 130.1 on 56²×144, 78.4 on 112²×32;
    // 2 × 2 206.8, 117.8, 71.8 (the best or within 2% of it); 28²×192 (2 vectors) 29.6
    // against 29.8, left to the rule. Whole calls alternating (`deno run -A bench/ab.ts --a
    // 0937dec --b 819b186 --conv 1,96,112,112,96,3,2,96,1 --blocks 120`) ×0.961, the pairs'
    // middle half 0.88-1.05 on this host.
    if (s.sh === 2 && s.sw === 2 && vectors >= STRIDED_ROW_VECTORS && budget >= 4) {
      return { rows: Math.min(2, most), vectors: 2 };
    }
    let best = { rows: 1, vectors: 1 };
    const top = s.sh === 1 && s.sw === 1 && vectors <= 2 ? balancedRows(g.rows, most) : most;
    for (let rows = top; rows >= 1; rows--) {
      const v = Math.max(1, Math.min(vectors, 7, Math.floor(budget / rows)));
      if (rows * v > best.rows * best.vectors) best = { rows, vectors: v };
    }
    return best;
  }
  const chunk = s.sh === 1 && s.sw === 1 && vectors >= 5 && vectors <= 7 ? 4 : 7;
  const v = Math.max(1, Math.min(vectors, chunk, budget));
  // (Never more rows than their input rows' registers allow: at dilation 3 one.)
  const most = s.sh === 2 && s.sw === 2 && (v === 3 || v === 4)
    ? Math.min(2, depthwiseRowsMost(s))
    : depthwiseRowsMost(s);
  const rows = Math.max(1, Math.min(Math.floor(budget / v), g.rows, most));
  return { rows, vectors: v };
}

/** AVX2's registers with every tap's weight in one (depthwiseLeanRegisters). */
export interface DepthwiseLean {
  /** Each tap's weight register, in tap order. */
  weights: number[];
  /** The zero vector of an unrolled plane at stride 1 (-1: none). */
  zero: number;
  /** Free once a chunk's sums are in (its scratch, the registers left, borrowed weights). */
  epilogue: number[];
  /** Weights lent to the epilogue, broadcast again before each chunk's taps. */
  borrowed: number[];
}

/**
 * Vectors of an output row from which a tile goes lean. Narrower rows load
 * mostly through masks, which the lean tile sets before every such load
 * where the other keeps two in registers: 3×3/2 from 14²×576 to 7² ran
 * ×1.032 of the time lean, 7²×960 ×0.986, 28²×192 ×1.009 (4 vectors),
 * 56²×144 ×0.997; 3×3/2 on 56²×144 ×0.952, on 112²×96 ×0.965, 3×3 on
 * 112²×32 ×0.872 (Zen 3, one thread, clip(0, 6), `deno run -A bench/ab.ts
 * --a 930cd38~1 --b 930cd38 --conv 1,C,H,H,C,3,S,C,1 --activation clip`).
 */
const LEAN_ROW_VECTORS = 3;

/** Weights the epilogue may borrow (each one broadcast again a chunk). */
const LEAN_BORROWED_MOST = 2;

/**
 * AVX2 with every tap's weight in a register, where `accs` accumulators leave
 * room: beside them only the loads' scratch (at stride 2 the pair and the
 * shuffle's result, at stride 1 the load and a mask's register), the masks,
 * the bias and the un-blocking indices set in that scratch or read from
 * memory when needed, and the epilogue (the indices, a scratch for the
 * residual and the tail's mask, the activation's output and temporaries) on
 * the scratch, the registers left and at most two weights, broadcast again
 * before the next chunk. Otherwise null: weights past the registers the
 * tile leaves are the FMAs' memory operands. Each FMA then reads one load,
 * not two (figures at LEAN_ROW_VECTORS).
 */
export function depthwiseLeanRegisters(
  s: ConvSpec,
  accs: number,
  unrolled: boolean,
  activationTemps: number,
  nregs: number,
): DepthwiseLean | null {
  const taps = s.kh * s.kw, pairs = s.sw === 2;
  const scratch = pairs ? 3 : 2;
  const zero = unrolled && !pairs ? 1 : 0;
  const first = accs + scratch, after = first + taps + zero;
  if (after > nregs) return null;
  const weights = Array.from({ length: taps }, (_, t) => first + t);
  const zeroReg = zero ? first + taps : -1;
  const left = Array.from({ length: nregs - after }, (_, i) => after + i);
  const epilogue = [...Array.from({ length: scratch }, (_, i) => accs + i), ...left];
  const needs = (pairs ? 1 : 0) + 1 + (s.activation ? 1 + activationTemps : 0);
  const borrow = Math.max(0, needs - epilogue.length);
  if (borrow > LEAN_BORROWED_MOST) return null;
  const borrowed = weights.slice(taps - borrow);
  return { weights, zero: zeroReg, epilogue: [...epilogue, ...borrowed], borrowed };
}

/** The lean registers of `tile` at `isa` (AVX2, not a packed plane), else null. */
export function depthwiseLean(
  s: ConvSpec,
  g: ConvGeometry,
  tile: DepthwiseTile,
  isa: VecIsa,
): DepthwiseLean | null {
  if (isa.level !== "avx2" || tile.packed || Math.ceil(g.ow / isa.lanes) < LEAN_ROW_VECTORS) {
    return null;
  }
  const temps = activationTemps(isa, s.activation);
  const unrolled = unrolledPlane(g, tile.rows);
  return depthwiseLeanRegisters(s, tile.rows * tile.vectors, unrolled, temps, isa.nregs);
}

/** Whether a plane's tiles of `rows` output rows are unrolled (see UNROLLED_TILES). */
function unrolledPlane(g: ConvGeometry, rows: number): boolean {
  return Math.ceil(g.rows / rows) <= UNROLLED_TILES;
}

/** Whether the activation's registers leave a tile at all. */
export function depthwiseFits(s: ConvSpec, activation: number, level = "avx512"): boolean {
  return depthwiseBudget(s, activation, level) >= 1 && depthwiseRowsMost(s) >= 1;
}

/**
 * Emits the depthwise body: the caller has the frame of generate.ts with
 * the group's pointers (x channel at F.XG, weights at F.WG, bias at F.BG, y
 * at F.YG, residual at F.RG) and the workspace at F.WS.
 */
export function emitDepthwiseGroup(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  tile: DepthwiseTile,
  frame: {
    XG: number;
    WG: number;
    BG: number;
    YG: number;
    RG: number;
    WS: number;
    TILE: number;
    ROW0: number;
  },
): void {
  const a = v.a, L = v.isa.lanes, FULL = 2 ** L - 1, avx2 = v.isa.level === "avx2";
  const taps = s.kh * s.kw, inWeights = !avx2 && taps <= 9;
  /** L floats at base + disp. */
  const vec = (base: Reg, disp: number) => ptr(base, disp).withSize(4 * L);
  // AVX2: the load and store masks in a vector register (the last), each set from a constant.
  const MASK = avx2 ? v.isa.nregs - 1 : -1;
  // AVX2: each tap's weight broadcast into the workspace after the zero row, read by the FMAs.
  const weightsAt = zeroRowBytes(s) + ZERO_MARGIN;
  const R = tile.rows, V = tile.vectors, SH = s.sh, pairs = s.sw === 2;
  const W0 = 0; // weights in registers 0..taps-1
  const def = s.activation ? UNARY_OPS[s.activation.op] : null;
  const unrolled = avx2 && unrolledPlane(g, R);
  const lean = depthwiseLean(s, g, tile, v.isa);
  const ACC0 = inWeights ? taps : 0;
  const acc = (r: number, j: number) => ACC0 + r * V + j;
  // At stride 2 across: LOAD and HI the pair, PERM a tap column out of it (in 128-bit blocks),
  // UNBLOCK the indices that put a sum's lanes back in order. Lean (AVX2, every weight in a
  // register): LOAD, HI and PERM (at stride 1 LOAD and a mask's register) are the only
  // scratch; masks, the indices and the epilogue's registers are set in them when needed.
  const LOAD = ACC0 + R * V, HI = LOAD + 1, PERM = LOAD + 2;
  const UNBLOCK = lean ? lean.epilogue[0] : LOAD + 3;
  const BIAS = lean ? -1 : pairs ? LOAD + 4 : LOAD + 1;
  const free = lean ? lean.epilogue.slice(pairs ? 1 : 0) : Array.from(
    { length: v.isa.nregs - (BIAS + 1) - (avx2 ? 1 : 0) },
    (_, i) => BIAS + 1 + i,
  );
  // Lean: a register for the residual's load and the tail's store mask, apart from OUT.
  const SCRATCH = lean ? free.shift()! : -1;
  const OUT = def ? free.shift()! : -1;
  // AVX2: the registers the activation leaves (it takes its temporaries from the pool's end)
  // hold a second load mask, then tap weights, which the FMAs then read from registers, not
  // from the workspace: a narrow tile (3 rows × 1 vector at stride 2 beside clip) was bound
  // by its loads, a mask reloaded before each masked load and a weight with each FMA.
  const spare = avx2 && !lean
    ? free.splice(0, Math.max(0, free.length - activationTemps(v.isa, s.activation)))
    : [];
  // AVX2: a plane of a few tiles unrolls them (see the end; measured there only). Then, at
  // stride 1 across, a zero vector to blend into the lanes of a whole load that lie outside
  // x's row (see `load`).
  const ZERO = lean ? lean.zero : unrolled && !pairs && spare.length ? spare.shift()! : -1;
  const MASK2 = spare.length ? spare.shift()! : -1;
  const weightRegs = lean ? lean.weights : spare.slice(0, taps);
  // The masks MASK and MASK2 hold at this point of the code (-1: unknown), and which to set next.
  const held = [-1, -1];
  let nextMask = 0;
  /** reg = `mask` (lanes set where its bit is), from a constant. */
  const setMask = (reg: number, mask: number): number => {
    const lanes = Int32Array.from({ length: L }, (_, l) => ((mask >> l) & 1 ? -1 : 0));
    a.emit("vmovups", v.r(reg), ptr(a.constant(lanes, 4 * L), 0, null, 1, 4 * L));
    return reg;
  };
  /**
   * A register holding `mask`, set from a constant unless held; lean, set in `into` every time
   * (the scratch it lives in is overwritten between uses).
   */
  const maskIn = (mask: number, into = -1): number => {
    if (lean) return setMask(into, mask);
    if (held[0] === mask) return MASK;
    if (MASK2 >= 0 && held[1] === mask) return MASK2;
    const slot = MASK2 >= 0 ? nextMask : 0, reg = slot === 0 ? MASK : MASK2;
    nextMask = 1 - slot;
    held[slot] = mask;
    return setMask(reg, mask);
  };
  const zeroRow = rdi; // the workspace's zero row
  a.emit("mov", rsi, qword(rsp, frame.XG));
  a.emit("mov", rdx, qword(rsp, frame.WG));
  a.emit("mov", rbp, qword(rsp, frame.YG));
  a.emit("mov", rbx, qword(rsp, frame.RG));
  a.emit("mov", zeroRow, qword(rsp, frame.WS));
  a.emit("add", zeroRow, ZERO_MARGIN);
  if (inWeights) { for (let t = 0; t < taps; t++) v.broadcast(W0 + t, rdx, t * 4); }
  if (avx2) {
    for (let t = 0; t < taps; t++) {
      if (t < weightRegs.length) {
        v.broadcast(weightRegs[t], rdx, t * 4);
        continue;
      }
      v.broadcast(LOAD, rdx, t * 4);
      a.emit("vmovups", vec(zeroRow, weightsAt + 32 * t), v.r(LOAD));
    }
  }
  if (tile.packed) {
    if (s.bias) a.emit("mov", rax, qword(rsp, frame.BG));
    return emitDepthwisePackedPlane(v, s, g, tile.packed, inWeights, s.bias ? rax : null);
  }
  // Lean: the bias broadcast after the weights, added from there (the same sum: x + bias).
  const biasAt = weightsAt + 32 * taps;
  if (s.bias) {
    a.emit("mov", rax, qword(rsp, frame.BG));
    if (lean) {
      v.broadcast(LOAD, rax, 0);
      a.emit("vmovups", vec(zeroRow, biasAt), v.r(LOAD));
    } else v.broadcast(BIAS, rax, 0);
  }
  if (ZERO >= 0) v.zero(ZERO);
  const BLOCK_TO_NATURAL = blockToNatural(L);
  if (pairs && !lean) v.permuteIndex(UNBLOCK, BLOCK_TO_NATURAL);
  // Load masks: the edge vectors' lanes inside x's row, per load. They are the same for every
  // row and tile: the first three distinct ones live in k2, k6, k7 for the whole kernel (one
  // kmovw per load serialized the loads of a 14-wide image through one opmask).
  const maskOf = (ow0: number, kj: number) => {
    const col = ow0 + kj * s.dw - s.pl;
    let mask = 0;
    for (let l = 0; l < L; l++) {
      if (ow0 + l < g.ow && col + l >= 0 && col + l < s.w) mask |= 1 << l;
    }
    return mask;
  };
  /** Stride 2: the lanes inside x's row of the load at input column `col`. */
  const rowMask = (col: number) => {
    let mask = 0;
    for (let l = 0; l < L; l++) if (col + l >= 0 && col + l < s.w) mask |= 1 << l;
    return mask;
  };
  // Stride 2: tap kj of output vector ow0 reads columns 2·ow0 + (kj − pl) + 2l: lanes
  // (kj − pl) mod 2 of the pair from 2·ow0 + 2⌊(kj − pl)/2⌋ (pair ⌊(kj − pl)/2⌋). One pair
  // starts where the vectors of x's row do (aligned where the row is): 3×3 with pl = 1 reads
  // taps 0 from the pair 2 columns before, taps 1 and 2 from there (8 → 6 cache-line reads).
  const pairOf = (kj: number) => Math.floor((kj - s.pl) / 2);
  const pairIds: number[] = [];
  for (let kj = 0; kj < s.kw; kj++) if (!pairIds.includes(pairOf(kj))) pairIds.push(pairOf(kj));
  const pairStart = (ow0: number, p: number) => 2 * ow0 + 2 * p;
  const distinct = new Set<number>();
  for (let ow0 = 0; ow0 < g.ow && !avx2; ow0 += L) {
    const masks = pairs
      ? pairIds.map((p) => pairStart(ow0, p))
        .flatMap((col) => [rowMask(col), rowMask(col + L)])
      : Array.from({ length: s.kw }, (_, kj) => maskOf(ow0, kj));
    for (const m of masks) if (m !== 0 && m !== FULL) distinct.add(m);
  }
  // All in registers when three suffice; else two, and k7 set before each load of the others.
  const statics = new Map<number, number>();
  for (const m of distinct) {
    if (statics.size < (distinct.size <= 3 ? 3 : 2)) statics.set(m, [2, 6, 7][statics.size]);
  }
  for (const [m, k] of statics) {
    a.emit("mov", eax, m);
    a.emit("kmovw", KREG[k], eax);
  }
  const tailLanes = g.ow % L;
  if (tailLanes && !avx2) {
    a.emit("mov", eax, (1 << tailLanes) - 1);
    a.emit("kmovw", KREG[1], eax);
  }
  const inRows = (R - 1) * SH + (s.kh - 1) * s.dh + 1;
  /** Row pointers of input rows oh0·sh − pt + q for q < inRows; oh0 in rcx (rows of this tile). */
  const rowPointers = () => {
    for (let q = 0; q < inRows; q++) {
      // ih = oh0·sh − pt + q: valid when 0 ≤ ih < h (unsigned compare), else the zero row.
      if (SH === 1) a.emit("lea", rax, qword(rcx, q - s.pt));
      else a.emit("lea", rax, ptr(rcx, q - s.pt, rcx, SH - 1, 8));
      a.emit("imul", ROW_REGS[q], rax, s.w * 4);
      a.emit("add", ROW_REGS[q], rsi);
      a.emit("cmp", rax, s.h);
      a.emit("cmovae", ROW_REGS[q], zeroRow);
    }
  };
  const fullTiles = Math.floor(g.rows / R), lastRows = g.rows % R;
  /** Input row q of the tile: a row pointer, or (tiles unrolled) x's row or the zero row. */
  let rowAt = (q: number): { base: Reg; disp: number; pad: boolean } => ({
    base: ROW_REGS[q],
    disp: 0,
    pad: false,
  });
  /**
   * A tile of `rows` output rows; `oh0` its first, where the tiles are unrolled (else rcx);
   * `after` rows of the band follow it, which later tiles of this call store.
   */
  const tileBody = (rows: number, oh0: number | null, after: number) => {
    // The code may run again from here (a loop): what the masks hold is not known.
    held[0] = held[1] = -1;
    if (oh0 === null) rowPointers();
    else {
      rowAt = (q) => {
        const ih = oh0 * SH - s.pt + q;
        return ih >= 0 && ih < s.h
          ? { base: rsi, disp: ih * s.w * 4, pad: false }
          : { base: zeroRow, disp: 0, pad: true };
      };
    }
    for (let c0 = 0; c0 < g.ow; c0 += V * L) {
      const nv = Math.min(V, Math.ceil((g.ow - c0) / L));
      for (let r = 0; r < rows; r++) for (let j = 0; j < nv; j++) v.zero(acc(r, j));
      // Lean: the weights the last epilogue borrowed (the first chunk has them from the start).
      for (const reg of lean?.borrowed ?? []) v.broadcast(reg, rdx, 4 * lean!.weights.indexOf(reg));
      /**
       * reg = L floats of input row q from column `col`, lanes outside `mask` zero (or, in
       * `kept`, only those of the lanes it keeps: the others are outputs past the row's end).
       */
      const load = (reg: number, q: number, col: number, mask: number, kept = FULL) => {
        // No lane inside the row: no access (past the row's end it may leave the mapping).
        if (mask === 0) return void v.zero(reg);
        const row = rowAt(q), m = vec(row.base, row.disp + col * 4);
        if (mask === FULL) return void a.emit("vmovups", v.r(reg), m);
        // AVX2, the row known here: a whole load where it stays inside the channel's plane (or
        // the zeroed margins of the zero row), then zeros blended into the lanes that need
        // them, in place of vmaskmovps and its mask. A 7² plane took a masked load for every
        // tap of every row (x's rows are narrower than a vector).
        const from = row.disp + col * 4;
        const inside = row.pad
          ? from >= -ZERO_MARGIN && from + 4 * L <= zeroRowBytes(s) + ZERO_MARGIN
          : row.base === rsi && from >= 0 && from + 4 * L <= 4 * s.h * s.w;
        if (ZERO >= 0 && inside) {
          a.emit("vmovups", v.r(reg), m);
          const zeros = row.pad ? 0 : kept & ~mask;
          if (zeros) a.emit("vblendps", v.r(reg), v.r(reg), v.r(ZERO), zeros);
          return;
        }
        if (avx2) {
          // Lean: the mask in PERM (at stride 2, written only by the shuffle after both
          // loads) or in the stride-1 mask register HI.
          return void a.emit(
            "vmaskmovps",
            v.r(reg),
            v.r(maskIn(mask, lean ? (pairs ? PERM : HI) : -1)),
            m,
          );
        }
        let k = statics.get(mask);
        if (k === undefined) {
          k = 7;
          a.emit("mov", eax, mask);
          a.emit("kmovw", KREG[k], eax);
        }
        a.emit("vmovups", v.r(reg).k(KREG[k]).z, m);
      };
      // Taps in row-major order for each output row: users come in increasing r, and for
      // one r the loop visits kernel rows in order, columns in order.
      const fmas = (users: [number, number][], kj: number, j: number, src: number) => {
        for (const [r, i] of users) {
          const t = i * s.kw + kj;
          if (inWeights) a.emit("vfmadd231ps", v.r(acc(r, j)), v.r(src), v.r(W0 + t));
          else if (avx2 && t < weightRegs.length) {
            a.emit("vfmadd231ps", v.r(acc(r, j)), v.r(src), v.r(weightRegs[t]));
          } else if (avx2) {
            a.emit("vfmadd231ps", v.r(acc(r, j)), v.r(src), vec(zeroRow, weightsAt + 32 * t));
          } else v.fmaBroadcast(acc(r, j), src, rdx, t * 4);
        }
      };
      // Input row q feeds output row r through kernel row i = (q − r·sh)/dh.
      for (let q = 0; q < (rows - 1) * SH + (s.kh - 1) * s.dh + 1; q++) {
        const users: [number, number][] = [];
        for (let r = 0; r < rows; r++) {
          const d = q - r * SH;
          if (d >= 0 && d % s.dh === 0 && d / s.dh < s.kh) users.push([r, d / s.dh]);
        }
        if (users.length === 0) continue;
        // A row of the padding (known where the tiles are unrolled) adds nothing to a sum
        // of finite weights: its FMAs are left out, as a tap wholly in the padding is.
        if (rowAt(q).pad && s.wFinite) continue;
        if (pairs) {
          for (const m of pairIds) {
            for (let j = 0; j < nv; j++) {
              const col = pairStart(c0 + j * L, m);
              const lo = rowMask(col), hi = rowMask(col + L);
              if (lo === 0 && hi === 0 && s.wFinite) continue;
              load(LOAD, q, col, lo);
              load(HI, q, col + L, hi);
              for (let kj = 0; kj < s.kw; kj++) {
                if (pairOf(kj) !== m) continue;
                const odd = kj - s.pl - 2 * m === 1;
                a.emit("vshufps", v.r(PERM), v.r(LOAD), v.r(HI), odd ? 0xdd : 0x88);
                fmas(users, kj, j, PERM);
              }
            }
          }
          continue;
        }
        for (let kj = 0; kj < s.kw; kj++) {
          for (let j = 0; j < nv; j++) {
            const ow0 = c0 + j * L;
            const mask = maskOf(ow0, kj);
            if (mask === 0 && s.wFinite) continue;
            load(LOAD, q, ow0 + kj * s.dw - s.pl, mask, 2 ** Math.min(L, g.ow - ow0) - 1);
            fmas(users, kj, j, LOAD);
          }
        }
      }
      // Store: bias, residual, activation; the row's last vector masked.
      const tail = c0 + nv * L > g.ow;
      const TAIL = tail && avx2 && !lean ? maskIn(2 ** tailLanes - 1) : MASK;
      if (pairs && lean) v.permuteIndex(UNBLOCK, BLOCK_TO_NATURAL);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < nv; j++) {
          const ow0 = c0 + j * L, lanes = Math.min(L, g.ow - ow0);
          const x = acc(r, j);
          const disp = r * g.ow * 4 + ow0 * 4;
          const mem = (base: Reg) => vec(base, disp);
          if (pairs) v.permute(x, x, BLOCK_TO_NATURAL, UNBLOCK);
          if (s.bias && lean) a.emit("vaddps", v.r(x), v.r(x), vec(zeroRow, biasAt));
          else if (s.bias) v.add(x, x, BIAS);
          if (s.residual) {
            const RES = lean ? SCRATCH : LOAD;
            if (lanes < L && avx2) {
              a.emit(
                "vmaskmovps",
                v.r(RES),
                v.r(lean ? maskIn(2 ** tailLanes - 1, RES) : TAIL),
                mem(rbx),
              );
            } else if (lanes < L) a.emit("vmovups", v.r(RES).k(KREG[1]).z, mem(rbx));
            else a.emit("vmovups", v.r(RES), mem(rbx));
            v.add(x, x, RES);
          }
          let out = x;
          if (def) {
            def.emit(new Lanes(v, free, [3, 4, 5]), OUT, x, s.activation!.params);
            out = OUT;
          }
          // AVX2, where one pass covers the row: a row's last vector stored whole where its
          // lanes past the row land on the next rows of the tile or of the band's later
          // tiles, whose stores (next) write over them; the band's last rows masked (past
          // them lie another part's rows, or the next channel's). On AMD a vmaskmovps store
          // is microcoded: Zen 3, one thread, `deno run -A bench/tune_candidates.ts --conv
          // 1,C,H,H,C,3,1,C --packed` (tier 1) in checkouts of adcd1f6~1 and 8627b23
          // alternating: 7²×960 54.2-54.3 → 38.0-38.8 µs, 14²×576 86.2-86.4 → 63.5-63.6.
          const written = (rows + after) * g.ow * 4;
          if (lanes < L && avx2 && c0 === 0 && nv * L >= g.ow && disp + 4 * L <= written) {
            a.emit("vmovups", mem(rbp), v.r(out));
          } else if (lanes < L && avx2) {
            a.emit(
              "vmaskmovps",
              mem(rbp),
              v.r(lean ? maskIn(2 ** tailLanes - 1, SCRATCH) : TAIL),
              v.r(out),
            );
          } else if (lanes < L) a.emit("vmovups", mem(rbp).k(KREG[1]), v.r(out));
          else a.emit("vmovups", mem(rbp), v.r(out));
        }
      }
    }
  };
  // rcx = first output row of the tile (kept in the frame slot across the body).
  a.emit("mov", qword(rsp, frame.ROW0), s.rowStart);
  const advance = (rows: number) => {
    a.emit("mov", rcx, qword(rsp, frame.ROW0));
    a.emit("add", rcx, rows);
    a.emit("mov", qword(rsp, frame.ROW0), rcx);
    addImmediate(a, "add", rbp, rows * g.ow * 4);
    addImmediate(a, "add", rbx, rows * g.ow * 4);
  };
  // A plane of a few tiles unrolls them: each input row's address is then known here (x's
  // row at a displacement from rsi, or the zero row), with no row pointers to compute a tile.
  if (unrolled) {
    for (let t = 0; t < fullTiles; t++) {
      tileBody(R, s.rowStart + t * R, g.rows - (t + 1) * R);
      if (t < fullTiles - 1 || lastRows) advance(R);
    }
    if (lastRows) tileBody(lastRows, s.rowStart + fullTiles * R, 0);
    return;
  }
  // (The loop's body serves every full tile: the last one is followed by lastRows only.)
  frameLoop(a, frame.TILE, fullTiles, () => {
    a.emit("mov", rcx, qword(rsp, frame.ROW0));
    tileBody(R, null, lastRows);
    advance(R);
  });
  if (lastRows) {
    a.emit("mov", rcx, qword(rsp, frame.ROW0));
    tileBody(lastRows, null, 0);
  }
}

/**
 * Planes of at most this many tiles unroll them (see emitDepthwiseGroup's
 * end): a 7² plane's 7 rows took 55 instructions of row pointers beside
 * its 63 FMAs, and every load was masked (its rows narrower than a
 * vector). Unrolled, each row's address is a displacement, and at AVX2
 * stride 1 a load inside the channel's plane is whole, zeros blended into
 * the lanes outside its row. Zen 3, one thread, `deno run -A bench/ab.ts
 * --a 6235363 --b 29e3f54 --conv 1,C,H,H,C,3,S,C,1 --activation
 * clip` (relu): 7²×960 ×0.799 (×0.735), 14²×384 ×0.893 (×0.962), 14²×576
 * ×0.892, 14²×576 to 7² ×0.922; 28² and 56² (not unrolled) ×0.987-1.011;
 * MobileNetV2 ×0.986 at 1 thread, ×0.985 at 2.
 */
const UNROLLED_TILES = 4;
