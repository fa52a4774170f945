/**
 * Where a convolution's kernel reads its input: the "phase planes".
 *
 * The input of one image and group is rewritten (in the workspace) as
 * sh·sw planes per channel: plane (rp, cp) holds the zero-padded input's
 * rows rp, rp + sh, ... and columns cp, cp + sw, ... of the band's rows, as
 * a dense Hq × Wq matrix. In those planes every tap (i, j) of the kernel
 * reads output position (oh, ow) at one fixed plane and offset plus
 * oh·Wq + ow, so the output rows, flattened with a row pitch of Wq, are a
 * contiguous vector domain: a convolution is a GEMM whose B rows are
 * shifted windows of the planes (no im2col copy, any stride or dilation).
 * Positions with ow ≥ OW (the pitch's extra Wq − OW columns) are computed
 * and never stored.
 *
 * A stride-1 call without padding reads x itself as its single plane per
 * channel (Wq = w), so 1×1 convolutions copy nothing. Only the phases a
 * tap reads are built: a strided 1×1 kernel's is (0, 0) alone, its input
 * subsampled (a quarter of the planes at stride 2).
 *
 * @module
 */
import { type ConvSpec, outHeight, outWidth } from "./spec.ts";

/** The read geometry of one call (or one band of output rows). */
export interface ConvGeometry {
  /** Output height and width of the whole call. */
  oh: number;
  ow: number;
  /** Output rows of the band. */
  rows: number;
  /** Input channels and output channels per group. */
  cg: number;
  ocg: number;
  /** Rows and row pitch of each phase plane. */
  hq: number;
  wq: number;
  /** Row and column phases built (those up to the last a tap reads): planes rp·colPhases + cp. */
  rowPhases: number;
  colPhases: number;
  /**
   * Elements between consecutive channels of the planes: built ones start
   * on a cache line (16 floats), so a tile's k steps load x alike from
   * every channel. Zen 3, one thread, `deno run -A bench/ab.ts --a 5075e36
   * --b . --conv 1,1024,14,14,2048,1,2` (four phase planes a channel
   * before, unaligned): 3413 → 3059 µs; 512→1024 on 28² 2457 → 2359;
   * 256→512 on 56² 2561 → 2289; `--model resnet50` ×0.990. One plane
   * unaligned (86ad64b: 49 floats a channel at 7², most loads split across
   * lines) ran ×1.08-1.12 slower than four on 14² and 28² (`--a 5075e36
   * --b 86ad64b`).
   */
  channelStride: number;
  /** Whether the planes are built in the workspace (else x is read as is). */
  copy: boolean;
  /** Element offset of each tap (row-major over the kernel) within a channel's planes. */
  taps: number[];
  /** Positions of the band's flattened domain: (rows − 1)·Wq + OW. */
  positions: number;
}

/** Whether `s` reads x as it is (stride 1, no padding, not upsampled): no planes copied. */
export function readsInPlace(s: ConvSpec): boolean {
  return s.sh === 1 && s.sw === 1 && s.pt === 0 && s.pl === 0 && s.pb === 0 && s.pr === 0 &&
    s.uh === 1 && s.uw === 1;
}

/** The geometry of `s` (its band of rows). */
export function convGeometry(s: ConvSpec): ConvGeometry {
  const oh = outHeight(s), ow = outWidth(s);
  const rows = s.rowEnd - s.rowStart;
  const copy = !readsInPlace(s);
  const hq = copy ? rows + Math.floor(((s.kh - 1) * s.dh) / s.sh) : s.h;
  const wq = copy ? ow + Math.floor(((s.kw - 1) * s.dw) / s.sw) : s.w;
  let rowPhases = 1, colPhases = 1;
  for (let i = 0; i < s.kh; i++) rowPhases = Math.max(rowPhases, ((i * s.dh) % s.sh) + 1);
  for (let j = 0; j < s.kw; j++) colPhases = Math.max(colPhases, ((j * s.dw) % s.sw) + 1);
  const taps: number[] = [];
  for (let i = 0; i < s.kh; i++) {
    for (let j = 0; j < s.kw; j++) {
      const rp = (i * s.dh) % s.sh, ro = Math.floor((i * s.dh) / s.sh);
      const cp = (j * s.dw) % s.sw, co = Math.floor((j * s.dw) / s.sw);
      taps.push(((rp * colPhases + cp) * hq + ro) * wq + co);
    }
  }
  return {
    oh,
    ow,
    rows,
    cg: s.c / s.group,
    ocg: s.oc / s.group,
    hq,
    wq,
    rowPhases,
    colPhases,
    channelStride: copy ? Math.ceil((rowPhases * colPhases * hq * wq) / 16) * 16 : s.h * s.w,
    copy,
    taps,
    positions: (rows - 1) * wq + ow,
  };
}

/** Bytes of y a call writes: its images' output planes (a band's call: as many as the whole's). */
export function outputBytes(s: ConvSpec, g: ConvGeometry): number {
  return 4 * s.n * s.oc * g.oh * g.ow;
}

/** Bytes of the workspace the planes take (none where x is read as is), to a whole line. */
export function planesBytes(g: ConvGeometry): number {
  return g.copy ? Math.ceil((g.cg * g.channelStride * 4) / 64) * 64 + PLANES_OVERRUN_BYTES : 0;
}

/**
 * Workspace past the planes that AVX2's plane copy may write (planes.ts: a run's last vector
 * stored whole; less than a vector past the last plane).
 */
export const PLANES_OVERRUN_BYTES = 64;

/**
 * Where the rows of phase plane (rp, cp) come from: plane row r is input
 * row `firstRow + r·sh` (a zero row outside [0, h)); plane column j is
 * input column `firstCol + j·sw` (zero outside [0, w)). Rows and columns
 * count in the input as read (see readHeight: upsampled for a transposed
 * convolution).
 */
export function planeSource(
  s: ConvSpec,
  rp: number,
  cp: number,
): { firstRow: number; firstCol: number } {
  return { firstRow: s.rowStart * s.sh + rp - s.pt, firstCol: cp - s.pl };
}

/** [first, end) of the indices i in [0, count) with 0 ≤ first0 + i·step < limit. */
export function validRange(
  first0: number,
  step: number,
  count: number,
  limit: number,
): [number, number] {
  let lo = first0 >= 0 ? 0 : Math.ceil(-first0 / step);
  let hi = first0 >= limit ? 0 : Math.floor((limit - 1 - first0) / step) + 1;
  lo = Math.min(lo, count);
  hi = Math.max(lo, Math.min(hi, count));
  return [lo, hi];
}

/**
 * A kernel's taps in periods: the first `period` taps (whole kernel rows)
 * recur `count` times in a row, each time `advance` elements of the planes
 * further on; the taps after them follow as they are. At stride 1 every
 * kernel row is a plane row below the last; at stride 2 a pair of rows (one
 * in each row phase) is. Lets the tile kernel loop over a period instead of
 * unrolling every tap (plan.ts, TAP_PERIODS).
 */
export interface TapPeriods {
  /** Taps in one period (whole kernel rows). */
  period: number;
  /** Periods in a row (2 or more). */
  count: number;
  /** Elements of the planes from one period to the next. */
  advance: number;
}

/**
 * The shortest periods of at least `least` taps that recur twice or more in
 * `g.taps` (kernel rows in order), or null: a kernel of one row, or rows
 * whose offsets do not recur (a dilation the stride does not divide may
 * still: the check is on the offsets themselves).
 */
export function tapPeriods(s: ConvSpec, g: ConvGeometry, least: number): TapPeriods | null {
  for (let rows = Math.max(1, Math.ceil(least / s.kw)); 2 * rows <= s.kh; rows++) {
    const period = rows * s.kw, count = Math.floor(s.kh / rows);
    const advance = g.taps[period] - g.taps[0];
    let recurs = advance > 0;
    for (let u = period; u < period * count && recurs; u++) {
      recurs = g.taps[u] === g.taps[u % period] + Math.floor(u / period) * advance;
    }
    if (recurs) return { period, count, advance };
  }
  return null;
}
