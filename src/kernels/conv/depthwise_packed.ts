/**
 * Depthwise convolution of a narrow plane (an output row of at most 8
 * columns: MobileNet's and ShuffleNet's 7² layers) with several output
 * rows in one vector: rows r, r + 1, … of a channel are P·ow consecutive
 * floats of y in NCHW, so one vector of 16 lanes holds P = ⌊16/ow⌋ of them,
 * where one row per vector filled 7 of 16 lanes at 7².
 *
 * Rows of 9-16 columns (MobileNet's 14² layers) take one row a vector
 * (P = 1), the plane still unrolled whole: every output row of the plane
 * its own FMA chain at once (14 at 14²), where the row tiles of
 * depthwise.ts hold at most 6 (their input rows' pointers fill the general
 * registers). The taps go by input row, then tap column: each load serves
 * every output row it feeds (kh of them), 48 loads a channel at 3×3 on
 * 14² where taps in row-major order reloaded each row per output row
 * (126). On Zen 5, one thread (`bench/tune_candidates.ts --conv
 * 1,576,14,14,576,3,1,576 --packed`, tier 2's interleaved rounds) it took
 * 18.7 µs against the row tiles' 27.1 (×1.45; 384 channels ×1.44, 16²×96
 * ×1.36, 5×5 on 14²×240 ×1.35, 10²×64 ×1.33; 2 threads on 14²×576 13.7
 * against 19.7 µs), and took tier 1 from them. Before the loads were
 * shared it ran 0.88-1.03× the row tiles' time on a Sapphire Rapids-class
 * Xeon and 1.14× slower on Zen 5.
 *
 * Stride 1 with x as wide as y (pads of kw − 1 across): the P rows' inputs
 * for a tap are P·ow consecutive floats of x too, so each tap is one masked
 * load (lanes whose column or row lies in the padding masked off: zeros)
 * and one FMA. Stride 2 (P = 2): a vector's output rows r and r + 1 take
 * input rows 2r + i and 2r + 2 + i for kernel row i; each input row is
 * loaded once (16 columns from column −pl) and kept in a register while
 * the taps using it come (an odd row feeds two kernel rows), and so is
 * each copy from 2, 4, … columns on that serves the tap columns kj ≥ 2 (a
 * load, not a `valignd` of the first: on Intel that shuffle takes port 5
 * beside the taps' shuffles and half the FMAs; Xeon (SPR), one thread,
 * `deno run -A bench/ab.ts --a 011ec28 --b 4ea5998 --conv
 * 1,576,14,14,576,3,2,576,1 --activation clip`: ×0.938 of the time, the
 * same bits). Per tap, `vshufps` of the two rows (imm 0x88 their even
 * lanes, 0xdd their odd ones) gathers the tap's column 2c + kj of both
 * rows, in 128-bit blocks; the sums stay in that block order through every
 * tap and are put in y's order once, before the bias (`vpermps`). Lanes whose column lies
 * in the padding are zeroed by the shuffle's mask, so only the rows whose
 * 16 floats would leave the channel's plane (x may end at a guard page)
 * take a load mask. On Zen 5, 3×3/2 on 14² × 576 and × 2304, one thread,
 * this ran 1.12-1.18× and 1.38-1.43× the previous form (two masked loads
 * per kernel row and vector, a `vpermi2ps` per tap; both in one process):
 * those loads crossed cache lines, and the permutes shared the FMAs' two
 * pipes where `vshufps` issues 4 a cycle (`deno run -A
 * bench/shuffle_rates.ts`). `deno task compare --conv --layers "dw 3×3/2"`
 * rates it against oneDNN.
 *
 * The plane is unrolled whole (at most MAX_ROWS rows): every mask is known
 * here. Each output is the same FMA chain as the other depthwise kernels
 * (taps in row-major order from +0; a zero lane adds ±0 to a sum that
 * starts at +0, a tap whose lanes all lie in the padding is skipped when
 * every packed weight is finite, else multiplies zeros), so the bits are
 * theirs.
 *
 * @module
 */
import { eax, KREG, rbp, rbx, rdx, type Reg, rsi, zmmword } from "../../../asm/mod.ts";
import { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import type { Vec } from "../vec.ts";
import type { ConvGeometry } from "./geometry.ts";
import { activationTemps } from "../unary/temps.ts";
import type { ConvSpec } from "./spec.ts";

/** Most output rows of a part the plane may have (its vectors' accumulators stay in registers). */
const MAX_ROWS = 16;

/** Input rows (with their shifted copies) stride 2 keeps in registers, at most. */
const HELD_ROWS = 12;

/**
 * vshufps of a pair of rows leaves 128-bit block k holding columns 2k,
 * 2k + 1 of the first row, then of the second: output (p, c), c < 8, in
 * lane 4(c >> 1) + 2p + (c & 1). vpermps with these indices puts it in lane
 * p·ow + c, y's order.
 */
function blockToPacked(ow: number): number[] {
  return Array.from({ length: 16 }, (_, n) => {
    if (n >= 2 * ow) return 0;
    const p = Math.floor(n / ow), c = n % ow;
    return 4 * (c >> 1) + 2 * p + (c & 1);
  });
}

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
  let rows = 0, stride2 = false;
  // One row a vector reads each tap's row with one masked load whatever x's width.
  if (s.sh === 1 && s.sw === 1 && (s.w === g.ow || P === 1)) rows = P;
  else if (P < 2) return 0;
  else if (s.sh === 2 && s.sw === 2 && s.dw === 1 && 2 * (g.ow - 1) + s.kw <= 16) {
    rows = 2;
    stride2 = true;
  }
  if (rows === 0) return 0;
  const vectors = Math.ceil(g.rows / rows);
  // Weights, accumulators, LO/HI/PERM, the bias, the activation's output and temporaries;
  // stride 2 adds the order's indices and two input rows beside LO (HI is its zero row).
  const registers = (taps <= 9 ? taps : 0) + vectors + 3 + 1 + (s.activation ? 1 : 0) +
    activation + (stride2 ? 3 : 0);
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
  // LO: stride 1's load (and the residual's); at stride 2 the first held row, HI its zero row.
  const LO = ACC0 + NV, HI = LO + 1, PERM = LO + 2, ORDER = LO + 3;
  const BIAS = ORDER + (stride2 ? 1 : 0);
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
    if (mask === 0) v.zero(reg);
    else if (mask === 0xffff) a.emit("vmovups", v.r(reg), m);
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
  for (let j = 0; j < NV; j++) v.zero(ACC0 + j);
  if (stride2) {
    emitStride2(v, s, g, { NV, ACC0, LO, HI, PERM, ORDER }, free, load, maskReg, fma, outRows);
  }
  // Stride 1: tap (ki, kj) of output (r + p, c) is x's element (r + p + ki·dh − pt)·w +
  // c + kj·dw − pl, lane p·ow + c of one load. Taps go by input row, then tap column, then
  // vector: a load serves every vector whose taps read the same floats (up to kh of them
  // at one row a vector), and each vector still sums its taps in row-major order.
  const taps1: { j: number; t: number; row: number; kj: number; at: number; mask: number }[] = [];
  for (let ki = 0; !stride2 && ki < s.kh; ki++) {
    for (let kj = 0; kj < s.kw; kj++) {
      for (let j = 0; j < NV; j++) {
        const [r0, n] = outRows(j);
        let mask = 0;
        for (let l = 0; l < n * ow; l++) {
          const ih = r0 + Math.floor(l / ow) + ki * s.dh - s.pt;
          const iw = (l % ow) + kj * s.dw - s.pl;
          if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) mask |= 1 << l;
        }
        if (mask === 0 && s.wFinite) continue;
        const row = r0 + ki * s.dh - s.pt;
        taps1.push({ j, t: ki * s.kw + kj, row, kj, at: row * s.w + kj * s.dw - s.pl, mask });
      }
    }
  }
  taps1.sort((p, q) => p.row - q.row || p.kj - q.kj || p.j - q.j);
  for (const [i, tap] of taps1.entries()) {
    const last = taps1[i - 1];
    if (!last || last.at !== tap.at || last.mask !== tap.mask) load(LO, tap.at, tap.mask);
    fma(ACC0 + tap.j, LO, tap.t);
  }
  // Store: bias, residual, activation; the vector's lanes of its rows.
  let storeMask = -1;
  for (let j = 0; j < NV; j++) {
    const [r0, n] = outRows(j);
    const lanes = n * ow, x = ACC0 + j;
    const disp = (r0 - s.rowStart) * ow * 4;
    const tail = lanes < 16;
    if (tail && storeMask !== lanes) {
      a.emit("mov", eax, (1 << lanes) - 1);
      a.emit("kmovw", KREG[1], eax);
      storeMask = lanes;
    }
    if (stride2) v.permute(x, x, blockToPacked(ow), ORDER);
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

/**
 * Stride 2's taps, vector by vector (see the module's note): input rows
 * held in registers from `free` beside LO (least recently used evicted),
 * rows outside x read HI (zero).
 */
function emitStride2(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  r: { NV: number; ACC0: number; LO: number; HI: number; PERM: number; ORDER: number },
  free: number[],
  load: (reg: number, at: number, mask: number) => void,
  maskReg: (mask: number) => number,
  fma: (acc: number, src: number, t: number) => void,
  outRows: (j: number) => [number, number],
): void {
  const a = v.a, ow = g.ow, ZERO = r.HI;
  const spare = free.length - activationTemps(v.isa, s.activation);
  const pool = [r.LO, ...free.splice(0, Math.min(HELD_ROWS - 1, spare))];
  if (pool.length < 3) throw new Error("depthwise plane: no room for its input rows");
  v.permuteIndex(r.ORDER, blockToPacked(ow));
  v.zero(ZERO);
  // Per tap column, the block-order lanes whose input column lies inside x (the rest zeroed).
  const keep = Array.from({ length: s.kw }, (_, kj) => {
    let m = 0xffff;
    for (let c = 0; c < ow; c++) {
      const col = 2 * c + kj - s.pl;
      if (col < 0 || col >= s.w) m &= ~(0b101 << (4 * (c >> 1) + (c & 1)));
    }
    return m;
  });
  // (row, shift) → register; a Map iterates oldest first.
  const rowOf = new Map<number, number>();
  const rowReg = (q: number, shift: number): number => {
    const id = q * 64 + shift;
    const at = rowOf.get(id);
    if (at !== undefined) {
      rowOf.delete(id);
      rowOf.set(id, at);
      return at;
    }
    let reg = pool.find((p) => ![...rowOf.values()].includes(p));
    if (reg === undefined) {
      const [oldest, p] = rowOf.entries().next().value!;
      rowOf.delete(oldest);
      reg = p;
    }
    // The row from column −pl + shift, loaded: a shifted copy of the row in a register would
    // take a shuffle on the port the tap's shuffles and half the FMAs use. Lanes past the
    // columns the vector's outputs read hold whatever follows in x; no output reads them.
    const from = q * s.w - s.pl + shift;
    let inX = 0xffff;
    if (from < 0 || from + 16 > s.h * s.w) {
      inX = 0;
      for (let l = 0; l < 16; l++) {
        const col = l - s.pl + shift;
        if (col >= 0 && col < s.w) inX |= 1 << l; // (row q lies in x)
      }
    }
    load(reg, from, inX);
    rowOf.set(id, reg);
    return reg;
  };
  for (let j = 0; j < r.NV; j++) {
    const [r0, n] = outRows(j);
    for (let ki = 0; ki < s.kh; ki++) {
      const ih = [0, 1].map((p) => 2 * (r0 + p) + ki * s.dh - s.pt);
      const inside = ih.map((q, p) => p < n && q >= 0 && q < s.h);
      if (!inside[0] && !inside[1] && s.wFinite) continue;
      for (let kj = 0; kj < s.kw; kj++) {
        const [A, B] = ih.map((q, p) => inside[p] ? rowReg(q, kj & ~1) : ZERO);
        const m = keep[kj];
        const dst = m === 0xffff ? v.r(r.PERM) : v.r(r.PERM).k(KREG[maskReg(m)]).z;
        a.emit("vshufps", dst, v.r(A), v.r(B), kj & 1 ? 0xdd : 0x88);
        fma(r.ACC0 + j, r.PERM, ki * s.kw + kj);
      }
    }
  }
}
