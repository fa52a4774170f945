/**
 * Building the phase planes of one image and group in the workspace (see
 * geometry.ts): per channel and phase, zero rows above and below the input,
 * and for each input row a zero margin, the row's columns of that phase,
 * and a zero margin. Every count is a generation-time constant.
 *
 * AVX2 stores no masked vector (`vmaskmovps` to memory is microcoded on AMD:
 * a 14²-plane 3×3 average pool, three such stores a row, took 160 µs on 576
 * channels where onnxruntime took 43). A run's last vector is stored whole,
 * its lanes past the run landing on what the planes write next (the row's
 * margin, the next row, the rows below, the next plane or channel), which
 * overwrite them: every run of stores starts where its row, margin or plane
 * starts and covers at least a vector, more than any run overran. Past the
 * last plane they land in geometry.ts PLANES_OVERRUN_BYTES of workspace.
 *
 * @module
 */
import { ptr, r10, r11, r8, r9, rbx, rcx, rdx, type Reg } from "../../../asm/mod.ts";
import { addImmediate, countedLoop } from "../abi.ts";
import { f32, type Tail, type Vec } from "../vec.ts";
import { type ConvGeometry, planeSource, validRange } from "./geometry.ts";
import type { ConvSpec } from "./spec.ts";

/** Vector registers and masks the plane copy uses (AVX2: register 1 holds the tail mask). */
const DATA = 0, TAIL_MASK = 1;

/**
 * Fills the planes at `dst` from the group's first input channel at `src`,
 * padding with `fill` (0 for a convolution, −∞ for max pooling)
 * (both advanced past the group's channels; rax, rbx, rcx, r8-r11 and k1
 * are clobbered).
 */
export function emitPlanes(
  v: Vec,
  s: ConvSpec,
  g: ConvGeometry,
  src: Reg,
  dst: Reg,
  fill = 0,
): void {
  const a = v.a;
  const whole = v.isa.level === "avx2";
  const zeroRun = (v: Vec, base: Reg, disp: number, count: number) =>
    fillRun(v, base, disp, count, fill, whole);
  if (s.uh > 1 || s.uw > 1) return emitUpsampledPlanes(v, s, g, src, dst);
  const planeBytes = g.hq * g.wq * 4;
  countedLoop(a, rbx, g.cg, () => {
    for (let rp = 0; rp < g.rowPhases; rp++) {
      for (let cp = 0; cp < g.colPhases; cp++) {
        const plane = (rp * g.colPhases + cp) * planeBytes;
        const { firstRow, firstCol } = planeSource(s, rp, cp);
        const [r0, r1] = validRange(firstRow, s.sh, g.hq, s.h);
        const [c0, c1] = validRange(firstCol, s.sw, g.wq, s.w);
        zeroRun(v, dst, plane, r0 * g.wq);
        if (r1 > r0) {
          const srcStart = ((firstRow + r0 * s.sh) * s.w + firstCol + c0 * s.sw) * 4;
          a.emit("lea", r9, qwordAddress(src, srcStart));
          a.emit("lea", r10, qwordAddress(dst, plane + r0 * g.wq * 4));
          countedLoop(a, r11, r1 - r0, () => {
            zeroRun(v, r10, 0, c0);
            copyRun(v, r9, r10, c0 * 4, c1 - c0, s.sw * 4, whole);
            zeroRun(v, r10, c1 * 4, g.wq - c1);
            addImmediate(a, "add", r9, s.sh * s.w * 4);
            addImmediate(a, "add", r10, g.wq * 4);
          });
        }
        zeroRun(v, dst, plane + r1 * g.wq * 4, (g.hq - r1) * g.wq);
      }
    }
    addImmediate(a, "add", src, s.h * s.w * 4);
    addImmediate(a, "add", dst, g.channelStride * 4);
  });
}

function qwordAddress(base: Reg, disp: number) {
  return ptr(base, disp, null, 1, 8);
}

function tailOf(v: Vec, lanes: number): Tail | null {
  if (lanes === 0 || v.isa.lanes === 1 || v.isa.level === "sse2") return null;
  return v.tail(lanes, 1, TAIL_MASK);
}

/**
 * count floats of `fill` at [base + disp] (rcx and r8 clobbered); `whole`: the last vector
 * stored whole, past the run (see the module's note).
 */
function fillRun(
  v: Vec,
  base: Reg,
  disp: number,
  count: number,
  fill: number,
  whole = false,
): void {
  if (count <= 0) return;
  const a = v.a, L = v.isa.lanes, VB = L * 4;
  if (fill === 0) v.zero(DATA);
  else v.move(DATA, f32(fill));
  const full = Math.floor(count / L), rest = count % L;
  if (full <= 4) {
    for (let i = 0; i < full; i++) v.store(base, disp + i * VB, DATA);
  } else {
    a.emit("lea", r8, qwordAddress(base, disp));
    countedLoop(a, rcx, full, () => {
      v.store(r8, 0, DATA);
      a.emit("add", r8, VB);
    });
  }
  const at = disp + full * VB;
  if (whole && rest) return void v.store(base, at, DATA);
  const tail = tailOf(v, rest);
  if (tail) v.store(base, at, DATA, tail);
  else for (let i = 0; i < rest; i++) v.storeScalar(base, at + i * 4, DATA);
}

/**
 * count floats from [src] (element stride `strideBytes`) to [dst + disp],
 * contiguous; src is left as it was (rcx, rdx, r8 clobbered). `whole`: the
 * last vector, loaded masked (nothing read past the run), stored whole.
 */
function copyRun(
  v: Vec,
  src: Reg,
  dst: Reg,
  disp: number,
  count: number,
  strideBytes: number,
  whole = false,
): void {
  if (count <= 0) return;
  const a = v.a, L = v.isa.lanes, VB = L * 4;
  // rdx walks the source: a tail's setup writes eax.
  const rax = rdx;
  a.emit("mov", rax, src);
  a.emit("lea", r8, qwordAddress(dst, disp));
  if (strideBytes === 4 && L > 1) {
    const full = Math.floor(count / L), rest = count % L;
    countedLoop(a, rcx, full, () => {
      v.load(DATA, rax, 0);
      v.store(r8, 0, DATA);
      a.emit("add", rax, VB);
      a.emit("add", r8, VB);
    });
    const tail = tailOf(v, rest);
    if (tail) {
      v.load(DATA, rax, 0, tail);
      if (whole) v.store(r8, 0, DATA);
      else v.store(r8, 0, DATA, tail);
    } else {
      for (let i = 0; i < rest; i++) {
        v.loadScalar(DATA, rax, i * 4);
        v.storeScalar(r8, i * 4, DATA);
      }
    }
    return;
  }
  if (strideBytes === 8 && v.isa.level === "avx512") return copyEvens(v, rax, count);
  // Strided (a phase of a strided convolution): element by element, four per step.
  const U = 4, full = Math.floor(count / U), rest = count % U;
  countedLoop(a, rcx, full, () => {
    for (let u = 0; u < U; u++) {
      v.loadScalar(DATA + u, rax, u * strideBytes);
      v.storeScalar(r8, u * 4, DATA + u);
    }
    addImmediate(a, "add", rax, U * strideBytes);
    a.emit("add", r8, U * 4);
  });
  for (let u = 0; u < rest; u++) {
    v.loadScalar(DATA + u, rax, u * strideBytes);
    v.storeScalar(r8, u * 4, DATA + u);
  }
}

/**
 * AVX-512, stride 2: 16 outputs from two vectors of the source by one
 * vpermt2ps (the even lanes). A block is read whole only while its 32nd
 * source element lies within the 2·count − 1 the run needs; the rest goes
 * through masked loads, so nothing past the run's last element is read.
 */
function copyEvens(v: Vec, src: Reg, count: number): void {
  const a = v.a, IDX = 2, HI = 3;
  const idx = new Int32Array(16).map((_, i) => 2 * i);
  a.emit("vmovups", v.r(IDX), ptr(a.constant(idx, 64), 0, null, 1, 64));
  const full = count >= 17 ? Math.floor((count - 17) / 16) + 1 : 0;
  countedLoop(a, rcx, full, () => {
    v.load(DATA, src, 0);
    a.emit("vpermt2ps", v.r(DATA), v.r(IDX), ptr(src, 64, null, 1, 64));
    v.store(r8, 0, DATA);
    a.emit("add", src, 128);
    a.emit("add", r8, 64);
  });
  const rest = count - 16 * full;
  if (rest === 0) return;
  const need = 2 * rest - 1;
  if (need >= 16) v.load(DATA, src, 0);
  else v.load(DATA, src, 0, v.tail(need, 1));
  if (need > 16) {
    const hi = v.tail(need - 16, 2);
    v.load(HI, src, 64, hi);
    a.emit("vpermt2ps", v.r(DATA), v.r(IDX), v.r(HI));
  } else a.emit("vpermt2ps", v.r(DATA), v.r(IDX), v.r(DATA));
  if (rest === 16) v.store(r8, 0, DATA);
  else v.store(r8, 0, DATA, v.tail(rest, 3));
}

/**
 * The plane of a transposed convolution's input (stride 1, one phase): all
 * zeros, then x's rows scattered uh rows apart and their elements uw
 * columns apart.
 */
function emitUpsampledPlanes(v: Vec, s: ConvSpec, g: ConvGeometry, src: Reg, dst: Reg): void {
  const a = v.a;
  const { firstRow, firstCol } = planeSource(s, 0, 0);
  // x row ih lands on plane row ih·uh − firstRow, x column iw on plane column iw·uw − firstCol.
  const [r0, r1] = landing(firstRow, s.uh, g.hq, s.h);
  const [c0, c1] = landing(firstCol, s.uw, g.wq, s.w);
  countedLoop(a, rbx, g.cg, () => {
    fillRun(v, dst, 0, g.hq * g.wq, 0);
    if (r1 > r0 && c1 > c0) {
      a.emit("lea", r9, ptr(src, (r0 * s.w + c0) * 4, null, 1, 8));
      a.emit(
        "lea",
        r10,
        ptr(dst, ((r0 * s.uh - firstRow) * g.wq + c0 * s.uw - firstCol) * 4, null, 1, 8),
      );
      countedLoop(a, r11, r1 - r0, () => {
        a.emit("mov", rdx, r9);
        a.emit("mov", r8, r10);
        const U = 4, count = c1 - c0, full = Math.floor(count / U);
        countedLoop(a, rcx, full, () => {
          for (let u = 0; u < U; u++) {
            v.loadScalar(DATA + u, rdx, u * 4);
            v.storeScalar(r8, u * s.uw * 4, DATA + u);
          }
          a.emit("add", rdx, U * 4);
          addImmediate(a, "add", r8, U * s.uw * 4);
        });
        for (let u = 0; u < count % U; u++) {
          v.loadScalar(DATA + u, rdx, u * 4);
          v.storeScalar(r8, u * s.uw * 4, DATA + u);
        }
        addImmediate(a, "add", r9, s.w * 4);
        addImmediate(a, "add", r10, s.uh * g.wq * 4);
      });
    }
    addImmediate(a, "add", src, s.h * s.w * 4);
    addImmediate(a, "add", dst, g.channelStride * 4);
  });
}

/** [first, end) of the x indices i in [0, size) with 0 ≤ i·up − first < count. */
function landing(first: number, up: number, count: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil(first / up));
  const hi = Math.min(size, Math.floor((count - 1 + first) / up) + 1);
  return [lo, Math.max(lo, hi)];
}
