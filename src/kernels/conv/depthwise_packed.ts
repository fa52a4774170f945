/**
 * Depthwise convolution of a narrow plane (an output row of at most 8
 * columns: MobileNet's and ShuffleNet's 7² layers) with several output
 * rows in one vector: rows r, r + 1, … of a channel are P·ow consecutive
 * floats of y in NCHW, so one vector of 16 lanes holds P = ⌊16/ow⌋ of them,
 * where one row per vector filled 7 of 16 lanes at 7².
 *
 * Rows of 9-16 columns (MobileNet's 14² layers) may take one row a
 * vector (P = 1), the plane still unrolled whole: every output row of the
 * plane its own FMA chain at once (14 at 14²), where the row tiles of
 * depthwise.ts hold at most 6 (their input rows' pointers fill the general
 * registers). Tier 2 tries it: on a Sapphire Rapids-class Xeon, 3×3 on
 * 14²×576, one thread (`bench/tune_candidates.ts --conv
 * 1,576,14,14,576,3,1,576 --packed`, three runs) it took 0.88-1.03× the
 * row tiles' time, so the FMA latency is not what holds that layer.
 *
 * Stride 1 with x as wide as y (pads of kw − 1 across): the P rows' inputs
 * for a tap are P·ow consecutive floats of x too, so each tap is one masked
 * load (lanes whose column or row lies in the padding masked off: zeros)
 * and one FMA. Stride 2 (P = 2): for each kernel row, two loads of 16
 * columns from column −pl (input rows 2r + i and 2r + 2 + i) and per tap
 * column one permute (`vpermi2ps`) gathering lanes kj + 2c of the first
 * and of the second.
 *
 * The plane is unrolled whole (at most MAX_ROWS rows): every mask is known
 * here. Each output is the same FMA chain as the other depthwise kernels
 * (taps in row-major order from +0; a zero lane adds ±0 to a sum that
 * starts at +0, a tap whose lanes all lie in the padding is skipped), so
 * the bits are theirs.
 *
 * @module
 */
import { eax, KREG, rbp, rbx, rdx, type Reg, rsi, zmmword } from "../../../asm/mod.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import type { Vec } from "../vec.ts";
import type { ConvGeometry } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";

/** Most output rows of a part the plane may have (its vectors' accumulators stay in registers). */
const MAX_ROWS = 16;

/** Opmasks the loads rotate through (k1 is the store's; k3-k5 the activation's). */
const LOAD_MASKS = [2, 6, 7];

/**
 * Output rows per vector of the packed plane for `s` (0: it does not serve):
 * ⌊16/ow⌋ at stride 1 with x as wide as y (1 for rows of 9-16 columns,
 * any x), 2 at stride 2 where 16 columns
 * hold a pair's taps, when the accumulators, the weights (≤ 9 taps), the
 * loads, the permute indices and `activation`'s registers fit.
 */
export function depthwisePackedRows(s: ConvSpec, g: ConvGeometry, activation: number): number {
  const P = Math.floor(16 / g.ow);
  if (P < 1 || g.rows > MAX_ROWS) return 0;
  const taps = s.kh * s.kw;
  let rows = 0, indices = 0;
  // One row a vector reads each tap's row with one masked load whatever x's width.
  if (s.sh === 1 && s.sw === 1 && (s.w === g.ow || P === 1)) rows = P;
  else if (P < 2) return 0;
  else if (s.sh === 2 && s.sw === 2 && s.dw === 1 && 2 * (g.ow - 1) + s.kw <= 16) {
    rows = 2;
    indices = s.kw;
  }
  if (rows === 0) return 0;
  const vectors = Math.ceil(g.rows / rows);
  const registers = (taps <= 9 ? taps : 0) + vectors + 3 + indices + 1 + activation;
  return registers <= 32 ? rows : 0;
}

/**
 * Emits one channel's plane (x's channel at rsi, weights at rdx — in
 * registers 0.. when `inWeights` —, y and the residual at rbp and rbx at
 * the part's first row, the bias at `biasAt` when there is one), `P`
 * output rows per vector.
 */
export function emitDepthwisePackedPlane(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  P: number,
  inWeights: boolean,
  biasAt: Reg | null,
): void {
  const a = v.a;
  const taps = s.kh * s.kw, ow = g.ow, rows = g.rows, stride2 = s.sh === 2;
  const NV = Math.ceil(rows / P);
  const ACC0 = inWeights ? taps : 0;
  const LO = ACC0 + NV, HI = LO + 1, PERM = LO + 2, IDX0 = LO + 3;
  const BIAS = IDX0 + (stride2 ? s.kw : 0);
  const free = Array.from({ length: 32 - (BIAS + 1) }, (_, i) => BIAS + 1 + i);
  const def = s.activation ? UNARY_OPS[s.activation.op] : null;
  const OUT = def ? free.shift()! : -1;
  if (s.bias) v.broadcast(BIAS, biasAt!, 0);
  // Which mask each load register holds now (generation time), rotating through LOAD_MASKS.
  const held = new Map<number, number>();
  let turn = 0;
  const maskReg = (mask: number) => {
    for (const [k, m] of held) if (m === mask) return k;
    const k = LOAD_MASKS[turn++ % LOAD_MASKS.length];
    a.emit("mov", eax, mask);
    a.emit("kmovw", KREG[k], eax);
    held.set(k, mask);
    return k;
  };
  /** reg = 16 floats of x from element `at` of the channel, lanes outside `mask` zero. */
  const load = (reg: number, at: number, mask: number) => {
    const m = zmmword(rsi, at * 4);
    if (mask === 0xffff) a.emit("vmovups", v.r(reg), m);
    else a.emit("vmovups", v.r(reg).k(KREG[maskReg(mask)]).z, m);
  };
  const fma = (acc: number, src: number, t: number) => {
    if (inWeights) a.emit("vfmadd231ps", v.r(acc), v.r(src), v.r(t));
    else v.fmaBroadcast(acc, src, rdx, t * 4);
  };
  /** Output rows of vector j (from the part's first row): [first, count]. */
  const outRows = (j: number): [number, number] => [
    s.rowStart + j * P,
    Math.min(P, rows - j * P),
  ];
  if (stride2) {
    for (let kj = 0; kj < s.kw; kj++) {
      const lanes = Int32Array.from({ length: 16 }, (_, l) => {
        const c = l % ow, p = Math.floor(l / ow);
        return l < 2 * ow ? 16 * p + kj + 2 * c : 0;
      });
      a.emit("vmovups", v.r(IDX0 + kj), zmmword(a.constant(lanes, 64), 0));
    }
  }
  for (let j = 0; j < NV; j++) v.zero(ACC0 + j);
  for (let ki = 0; ki < s.kh; ki++) {
    if (!stride2) {
      // Stride 1: tap (ki, kj) of output (r + p, c) is x's element (r + p + ki·dh − pt)·w +
      // c + kj·dw − pl, lane p·ow + c of one load.
      for (let kj = 0; kj < s.kw; kj++) {
        for (let j = 0; j < NV; j++) {
          const [r0, n] = outRows(j);
          let mask = 0;
          for (let l = 0; l < n * ow; l++) {
            const ih = r0 + Math.floor(l / ow) + ki * s.dh - s.pt;
            const iw = (l % ow) + kj * s.dw - s.pl;
            if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) mask |= 1 << l;
          }
          if (mask === 0) continue;
          load(LO, (r0 + ki * s.dh - s.pt) * s.w + kj * s.dw - s.pl, mask);
          fma(ACC0 + j, LO, ki * s.kw + kj);
        }
      }
      continue;
    }
    // Stride 2: rows 2r + ki·dh − pt (lanes of the first output row) and 2 below (the second).
    for (let j = 0; j < NV; j++) {
      const [r0, n] = outRows(j);
      const ih = [0, 1].map((p) => 2 * (r0 + p) + ki * s.dh - s.pt);
      const inside = ih.map((r, p) => p < n && r >= 0 && r < s.h);
      if (!inside[0] && !inside[1]) continue;
      const columns = (() => {
        let m = 0;
        for (let l = 0; l < 16; l++) if (l - s.pl >= 0 && l - s.pl < s.w) m |= 1 << l;
        return m;
      })();
      for (const [p, reg] of [[0, LO], [1, HI]]) {
        if (inside[p]) load(reg, ih[p] * s.w - s.pl, columns);
        else v.zero(reg);
      }
      for (let kj = 0; kj < s.kw; kj++) {
        a.emit("vmovaps", v.r(PERM), v.r(IDX0 + kj));
        a.emit("vpermi2ps", v.r(PERM), v.r(LO), v.r(HI));
        fma(ACC0 + j, PERM, ki * s.kw + kj);
      }
    }
  }
  // Store: bias, residual, activation; the vector's lanes of its rows.
  for (let j = 0; j < NV; j++) {
    const [r0, n] = outRows(j);
    const lanes = n * ow, x = ACC0 + j;
    const disp = (r0 - s.rowStart) * ow * 4;
    const tail = lanes < 16;
    if (tail) {
      a.emit("mov", eax, (1 << lanes) - 1);
      a.emit("kmovw", KREG[1], eax);
    }
    if (s.bias) v.add(x, x, BIAS);
    if (s.residual) {
      if (tail) a.emit("vmovups", v.r(LO).k(KREG[1]).z, zmmword(rbx, disp));
      else a.emit("vmovups", v.r(LO), zmmword(rbx, disp));
      v.add(x, x, LO);
    }
    let out = x;
    if (def) {
      def.emit(new Lanes(v, free, [3, 4, 5]), OUT, x, s.activation!.params);
      out = OUT;
    }
    if (tail) a.emit("vmovups", zmmword(rbp, disp).k(KREG[1]), v.r(out));
    else a.emit("vmovups", zmmword(rbp, disp), v.r(out));
  }
}
