/**
 * The 8-bit convolution's machine code, per image: first the band's input
 * rows as pixel words in the workspace (see spec.ts; AVX-512 interleaves 16
 * columns of 4 channel planes with `vpmovzxbd` at stride 1 and `vpmovzxwd` at
 * stride 2, shifts and ors; other strides and levels one word at a time),
 * then the sums. With VNNI,
 * tiles of 6 output channels × 4 vectors of 16 positions of one output row,
 * 24 int32 accumulators: per group of 4 input channels and tap, the 4
 * vectors of pixel words loaded once and each channel's 4 weight bytes
 * broadcast, `vpdpbusd` adding the 4 products u8 × s8 to each lane (sums
 * wrap as int32). Then each channel's bias − za·Σw is added and the sums
 * stored as int32, or requantized: converted (nearest even), times the
 * multiplier, clamped to the output's range less its zero point, converted
 * back (nearest even), the zero point added and narrowed into NCHW bytes.
 * Without VNNI: a scalar loop over the same pixel words. Integer sums in any
 * order are the same and the requantizing is one float32 operation per
 * step: every plan gives the same bits.
 *
 * @module
 */
import {
  al,
  Assembler,
  byte,
  dword,
  eax,
  GP32,
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
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsp,
  XMM,
  ZMM,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  frameLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import { packedWeightBytes } from "./pack.ts";
import {
  channelGroups,
  outBytes,
  type PixelLayout,
  pixelLayout,
  QCONV_ARG,
  qconvOutHeight,
  qconvOutWidth,
  type QConvSpec,
  unsignedZero,
} from "./spec.ts";

/** How an 8-bit convolution is computed. */
export interface QConvPlan extends KernelPlan {
  /** "vnni": the vpdpbusd tiles; "scalar": one sum at a time. */
  path: "vnni" | "scalar";
  /** Output channels per tile. */
  mr: number;
  /** Vectors of 16 positions per tile. */
  nv: number;
}

/**
 * 6 channels × 4 vectors: 24 accumulators, 4 pixel vectors and 2 broadcasts
 * of weights in 30 registers (the 8-bit GEMM's tile, measured there).
 */
const MR = 6, NV = 4;

/** The plan: VNNI tiles where the level is AVX-512 and the CPU has VNNI, else the loop. */
export function planQConv(s: QConvSpec, avx512: boolean, vnni: boolean): QConvPlan {
  const workspaceBytes = pixelLayout(s).bytes;
  if (avx512 && vnni) {
    return {
      path: "vnni",
      mr: MR,
      nv: NV,
      workspaceBytes,
      description: `avx512 vnni pixel words, ${MR} channels × ${NV * 16} positions of vpdpbusd`,
    };
  }
  return { path: "scalar", mr: 1, nv: 0, workspaceBytes, description: "pixel words, scalar loop" };
}

const USED: Reg[] = [rbx, rbp, r12, r13, r14, r15];
/** Frame slots: x's and y's image, loop counters, y's row and chunk pointers. */
const XIMG = 0, YIMG = 8, IMG = 16, OY = 24, YROW = 32, CHUNK = 40, YCHUNK = 48, TILE = 56;
const OCH = 64, FRAME = 72;

/** Emits `void kernel(args)`. */
export function generateQConv(
  s: QConvSpec,
  plan: QConvPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const L = pixelLayout(s), vnni = plan.path === "vnni";
  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rax, QCONV_ARG.X);
  a.emit("mov", qword(rsp, XIMG), rax);
  loadPointer(a, rax, QCONV_ARG.Y);
  a.emit("mov", qword(rsp, YIMG), rax);
  loadPointer(a, rdx, QCONV_ARG.W);
  if (s.bias) loadPointer(a, rbp, QCONV_ARG.BIAS);
  loadPointer(a, r9, WORKSPACE_SLOT);
  // Last: rdi is the argument block until here.
  if (s.scale) loadPointer(a, rdi, QCONV_ARG.SCALE);
  if (L.rows > 0) {
    frameLoop(a, IMG, s.n, () => {
      emitPixelWords(a, s, L, vnni);
      if (vnni) emitVnni(a, s, L, plan);
      else emitScalar(a, s, L);
      addImmediate(a, "add", qword(rsp, XIMG), s.c * s.h * s.w);
      addImmediate(
        a,
        "add",
        qword(rsp, YIMG),
        s.ocTotal * qconvOutHeight(s) * qconvOutWidth(s) * outBytes(s),
      );
    });
  }
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  if (vnni) a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}

const r11d = GP32[11], r15d = GP32[15];
/** za in every byte of a dword; the sign bits of a dword's 4 bytes. */
const repeat4 = (b: number) => Math.imul(b & 255, 0x01010101);
const SIGN_BITS = repeat4(0x80);

/**
 * The band's pixel words of the image at [rsp + XIMG] into the workspace
 * (r9), written in order: groups of 4 channels, their padded rows, each
 * row's stride phases. Uses rax, rcx, rbx, r10-r15.
 */
function emitPixelWords(a: Assembler, s: QConvSpec, L: PixelLayout, vector: boolean): void {
  const FILL = ZMM[31], FLIP = ZMM[30];
  const T = (q: number) => ZMM[26 + q];
  const fillWord = repeat4(unsignedZero(s));
  if (vector) {
    a.emit("mov", eax, fillWord);
    a.emit("vpbroadcastd", FILL, eax);
    if (s.xSigned) {
      a.emit("mov", eax, SIGN_BITS);
      a.emit("vpbroadcastd", FLIP, eax);
    }
  }
  /** Writes `bytes` (a multiple of 4) of za words at rbx and moves past them. */
  const fill = (bytes: number) => {
    if (bytes <= 0) return;
    if (vector) {
      countedLoop(a, rcx, Math.floor(bytes / 64), () => {
        a.emit("vmovdqu32", ptr(rbx, 0).withSize(64), FILL);
        a.emit("add", rbx, 64);
      });
      const rest = (bytes % 64) / 4;
      if (rest) {
        a.emit("mov", eax, (1 << rest) - 1);
        a.emit("kmovw", KREG[2], eax);
        a.emit("vmovdqu32", ptr(rbx, 0).withSize(64).k(KREG[2]), FILL);
        a.emit("add", rbx, rest * 4);
      }
    } else {
      a.emit("mov", eax, fillWord);
      countedLoop(a, rcx, bytes / 4, () => {
        a.emit("mov", dword(rbx, 0), eax);
        a.emit("add", rbx, 4);
      });
    }
  };
  const plane = s.h * s.w;
  /** `count` words from the planes' columns at r10 (stride sw), `planes` of them real. */
  const words = (words: number, planes: number) => {
    let count = words;
    if (count <= 0) return;
    if (vector && s.sw === 1) {
      const step = (masked: boolean) => {
        for (let q = 0; q < planes; q++) {
          const src = ptr(r10, q * plane).withSize(16);
          a.emit("vpmovzxbd", masked ? T(q).k(KREG[2]).z : T(q), src);
          if (q > 0) {
            a.emit("vpslld", T(q), T(q), 8 * q);
            a.emit("vpord", T(0), T(0), T(q));
          }
        }
        if (s.xSigned) a.emit("vpxord", T(0), T(0), FLIP);
        const to = ptr(rbx, 0).withSize(64);
        a.emit("vmovdqu32", masked ? to.k(KREG[2]) : to, T(0));
      };
      countedLoop(a, rcx, Math.floor(count / 16), () => {
        step(false);
        a.emit("add", r10, 16);
        a.emit("add", rbx, 64);
      });
      const rest = count % 16;
      if (rest) {
        a.emit("mov", eax, (1 << rest) - 1);
        a.emit("kmovw", KREG[2], eax);
        step(true);
        a.emit("add", rbx, rest * 4);
      }
      return;
    }
    if (vector && s.sw === 2 && count > 16) {
      // Stride 2: 16 words from 32 bytes of each plane — each byte pair zero-extended into a
      // dword (`vpmovzxwd`), the even column's byte kept (shifted to the top, then down to its
      // place). The last 1-16 words one at a time below: a vector there would read the byte
      // after the row's last column, past x's end on its last row.
      const steps = Math.floor((count - 1) / 16);
      countedLoop(a, rcx, steps, () => {
        for (let q = 0; q < planes; q++) {
          a.emit("vpmovzxwd", T(q), ptr(r10, q * plane).withSize(32));
          a.emit("vpslld", T(q), T(q), 24);
          if (q < 3) a.emit("vpsrld", T(q), T(q), 24 - 8 * q);
          if (q > 0) a.emit("vpord", T(0), T(0), T(q));
        }
        if (s.xSigned) a.emit("vpxord", T(0), T(0), FLIP);
        a.emit("vmovdqu32", ptr(rbx, 0).withSize(64), T(0));
        a.emit("add", r10, 32);
        a.emit("add", rbx, 64);
      });
      count -= 16 * steps;
    }
    countedLoop(a, rcx, count, () => {
      a.emit("movzx", eax, byte(r10, 0));
      for (let q = 1; q < planes; q++) {
        a.emit("movzx", r11d, byte(r10, q * plane));
        a.emit("shl", r11d, 8 * q);
        a.emit("or", eax, r11d);
      }
      if (s.xSigned) a.emit("xor", eax, SIGN_BITS);
      a.emit("mov", dword(rbx, 0), eax);
      a.emit("add", rbx, 4);
      a.emit("add", r10, s.sw);
    });
  };
  // Rows of the band: iy = top + r; those above 0 or from h on are padding.
  const top = s.rowStart * s.sh - s.pt;
  const above = Math.min(L.rows, Math.max(0, -top));
  const inside = Math.max(0, Math.min(L.rows, s.h - top) - above);
  const below = L.rows - above - inside;
  /** One row at r12 (its first column), `planes` planes real. */
  const row = (planes: number) => {
    for (let ph = 0; ph < s.sw; ph++) {
      // Word j of the phase is padded column j·sw + ph, input column j·sw + ph − pl.
      const P = L.phaseWords;
      const lo = Math.min(P, Math.max(0, Math.ceil((s.pl - ph) / s.sw)));
      const hi = Math.min(P, Math.max(lo, Math.floor((s.w + s.pl - ph - 1) / s.sw) + 1));
      fill(lo * 4);
      if (hi > lo) {
        a.emit("lea", r10, ptr(r12, lo * s.sw + ph - s.pl));
        words(hi - lo, planes);
      }
      fill((P - hi) * 4);
    }
  };
  /** One group of channels from the plane at r13. */
  const group = (planes: number) => {
    fill(above * L.rowBytes);
    if (inside > 0) {
      a.emit("lea", r12, ptr(r13, (top + above) * s.w));
      countedLoop(a, r15, inside, () => {
        row(planes);
        addImmediate(a, "add", r12, s.w);
      });
    }
    fill(below * L.rowBytes);
  };
  a.emit("mov", rbx, r9);
  a.emit("mov", r13, qword(rsp, XIMG));
  countedLoop(a, r14, Math.floor(s.c / 4), () => {
    group(4);
    addImmediate(a, "add", r13, 4 * plane);
  });
  if (s.c % 4) group(s.c % 4);
}

/** The float32 clamp bounds of a byte output: its range less the zero point. */
function bounds(s: QConvSpec): [number, number] {
  return s.out === 1 ? [0 - s.yZero, 255 - s.yZero] : [-128 - s.yZero, 127 - s.yZero];
}

/**
 * eax = channel (rcx/4 + i)'s term: its bias − za·Σw (`temp` clobbered);
 * false when there is none (no bias, za 0).
 */
function channelTerm(a: Assembler, s: QConvSpec, i: number, temp: Reg): boolean {
  const za = unsignedZero(s);
  if (!s.bias && za === 0) return false;
  if (s.bias) a.emit("mov", eax, dword(rbp, 4 * i, rcx, 1));
  else a.emit("xor", eax, eax);
  if (za !== 0) {
    // Σw after every channel's packed weights; rdx is at the part's first channel's.
    const whole = packedWeightBytes(s.ocTotal, s.c, s.kh, s.kw);
    const sums = whole + 4 * s.ocStart - packedWeightBytes(s.ocStart, s.c, s.kh, s.kw);
    a.emit("imul", temp, dword(rdx, sums + 4 * i, rcx, 1), za);
    a.emit("sub", eax, temp);
  }
  return true;
}

/** Displacement of tap t's pixel words from a position's (within a group). */
function tapOffset(s: QConvSpec, L: PixelLayout, t: number): number {
  const ky = Math.floor(t / s.kw), kx = t % s.kw, col = kx * s.dw;
  return ky * s.dh * L.rowBytes + (col % s.sw) * L.phaseWords * 4 + Math.floor(col / s.sw) * 4;
}

/**
 * `count` output positions of row `dy` (from the rows' first) from column
 * `col`, in lanes `lane`.. of a vector.
 */
interface Segment {
  dy: number;
  col: number;
  count: number;
  lane: number;
}

/**
 * A vector of positions: one segment of a row, or (rows narrower than 16)
 * whole consecutive rows side by side — consecutive in y either way.
 */
interface PositionVector {
  segments: Segment[];
  lanes: number;
}

/** Rows per vector where rows are narrower than 16 (at most 5: each needs its own load mask). */
function rowsPerVector(ow: number): number {
  return ow < 16 && ow >= 3 ? Math.floor(16 / ow) : 1;
}

/** The vectors covering `rows` output rows of `ow` positions. */
function rowVectors(ow: number, rows: number): PositionVector[] {
  const out: PositionVector[] = [], per = rowsPerVector(ow);
  if (per === 1) {
    for (let dy = 0; dy < rows; dy++) {
      for (let col = 0; col < ow; col += 16) {
        const count = Math.min(16, ow - col);
        out.push({ segments: [{ dy, col, count, lane: 0 }], lanes: count });
      }
    }
    return out;
  }
  for (let first = 0; first < rows; first += per) {
    const segments: Segment[] = [];
    for (let dy = first; dy < Math.min(rows, first + per); dy++) {
      segments.push({ dy, col: 0, count: ow, lane: (dy - first) * ow });
    }
    out.push({ segments, lanes: segments.length * ow });
  }
  return out;
}

/**
 * Output rows a group of tiles covers where rows are narrower than the
 * tile (so its vectors fill whole tiles): 4 vectors of packed narrow rows,
 * or whole rows of 1-3 vectors each until a multiple of 4 vectors.
 */
function groupRows(ow: number, nv: number): number {
  const per = rowsPerVector(ow);
  if (per > 1) return per * nv;
  const perRow = Math.ceil(ow / 16);
  let rows = 1;
  while ((rows * perRow) % nv !== 0 && rows < nv) rows++;
  return rows;
}

/** The VNNI tiles over the band (pixel words at r9, weights at rdx). */
function emitVnni(a: Assembler, s: QConvSpec, L: PixelLayout, p: QConvPlan): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), eb = outBytes(s);
  const taps = s.kh * s.kw, groups = channelGroups(s.c), chWeights = groups * taps * 4;
  const yPlane = oh * ow * eb;
  const acc = (i: number, j: number) => ZMM[i * p.nv + j];
  const X = (j: number) => ZMM[24 + j], B0 = ZMM[28], B1 = ZMM[29];
  const [lo, hi] = bounds(s);
  /** The mask register of each lane mask a set of vectors needs (k1-k7), set now. */
  const setMasks = (vecs: PositionVector[]): Map<number, Reg> => {
    const masks = new Map<number, Reg>();
    const need = (bits: number) => {
      if (bits === 0xffff || masks.has(bits)) return;
      if (masks.size === 7) throw new Error("convInt8: more than 7 lane masks");
      const k = KREG[masks.size + 1];
      masks.set(bits, k);
      a.emit("mov", eax, bits);
      a.emit("kmovw", k, eax);
    };
    for (const v of vecs) {
      need(2 ** v.lanes - 1);
      if (v.segments.length > 1) {
        for (const g of v.segments) need((2 ** g.count - 1) * 2 ** g.lane);
      }
    }
    return masks;
  };
  /** One tile: its rows' pixel words at r10, weights at rbx, y at r11 (the rows' first). */
  const tile = (mr: number, vecs: PositionVector[], masks: Map<number, Reg>) => {
    const nv = vecs.length;
    for (let i = 0; i < mr; i++) {
      for (let j = 0; j < nv; j++) a.emit("vpxord", acc(i, j), acc(i, j), acc(i, j));
    }
    a.emit("mov", r13, r10);
    a.emit("mov", r14, rbx);
    countedLoop(a, r15, groups, () => {
      for (let t = 0; t < taps; t++) {
        const at = tapOffset(s, L, t);
        vecs.forEach((v, j) => {
          v.segments.forEach((g, q) => {
            const m = ptr(r13, at + g.dy * s.sh * L.rowBytes + (g.col - g.lane) * 4)
              .withSize(64);
            // One segment: a plain load (the lanes past it read the workspace's next words
            // or its slack); rows side by side: each row's lanes loaded under its mask.
            if (v.segments.length === 1) a.emit("vmovdqu32", X(j), m);
            else {
              const k = masks.get((2 ** g.count - 1) * 2 ** g.lane)!;
              a.emit("vmovdqu32", q === 0 ? X(j).k(k).z : X(j).k(k), m);
            }
          });
        });
        for (let i = 0; i < mr; i++) {
          const b = i % 2 ? B1 : B0;
          a.emit("vpbroadcastd", b, dword(r14, i * chWeights + 4 * t));
          for (let j = 0; j < nv; j++) a.emit("vpdpbusd", acc(i, j), X(j), b);
        }
      }
      addImmediate(a, "add", r13, L.groupBytes);
      a.emit("add", r14, taps * 4);
    });
    // The pixel and weight registers are free: the requantizing constants go there.
    const ZP = ZMM[24], LO = ZMM[25], HI = ZMM[26], TERM = ZMM[27];
    if (s.out) {
      a.emit("mov", eax, s.yZero);
      a.emit("vpbroadcastd", ZP, eax);
      a.emit("mov", eax, lo);
      a.emit("vpbroadcastd", LO, eax);
      a.emit("vcvtdq2ps", LO, LO);
      a.emit("mov", eax, hi);
      a.emit("vpbroadcastd", HI, eax);
      a.emit("vcvtdq2ps", HI, HI);
    }
    for (let i = 0; i < mr; i++) {
      if (channelTerm(a, s, i, r15d)) {
        a.emit("vpbroadcastd", TERM, eax);
        for (let j = 0; j < nv; j++) a.emit("vpaddd", acc(i, j), acc(i, j), TERM);
      }
      vecs.forEach((vec, j) => {
        const v = acc(i, j), first = vec.segments[0];
        const k = vec.lanes < 16 ? masks.get(2 ** vec.lanes - 1)! : null;
        const at = i * yPlane + (first.dy * ow + first.col) * eb;
        if (s.out === 0) {
          const to = ptr(r11, at).withSize(64);
          a.emit("vmovdqu32", k ? to.k(k) : to, v);
          return;
        }
        a.emit("vcvtdq2ps", v, v);
        a.emit("vmulps", v, v, s.scale === 2 ? dword(rdi, 4 * i, rcx, 1).b : dword(rdi, 0).b);
        a.emit("vmaxps", v, v, LO);
        a.emit("vminps", v, v, HI);
        a.emit("vcvtps2dq", v, v);
        a.emit("vpaddd", v, v, ZP);
        const to = ptr(r11, at).withSize(16);
        a.emit(s.out === 1 ? "vpmovusdb" : "vpmovsdb", k ? to.k(k) : to, v);
      });
    }
  };
  /** Every channel tile of one set of vectors (pixel words at r10, y at [YCHUNK]). */
  const chunk = (vecs: PositionVector[]) => {
    const masks = setMasks(vecs);
    a.emit("xor", rcx, rcx);
    a.emit("mov", rbx, rdx);
    a.emit("mov", r11, qword(rsp, YCHUNK));
    frameLoop(a, TILE, Math.floor(s.oc / p.mr), () => {
      tile(p.mr, vecs, masks);
      a.emit("add", rcx, 4 * p.mr);
      addImmediate(a, "add", rbx, p.mr * chWeights);
      addImmediate(a, "add", r11, p.mr * yPlane);
    });
    if (s.oc % p.mr) tile(s.oc % p.mr, vecs, masks);
  };
  /** The vectors in tiles of at most nv. */
  const tiles = (vecs: PositionVector[]) => {
    const out: PositionVector[][] = [];
    for (let j = 0; j < vecs.length; j += p.nv) out.push(vecs.slice(j, j + p.nv));
    return out;
  };
  const band = s.rowEnd - s.rowStart, width = 16 * p.nv;
  a.emit("mov", r12, r9);
  a.emit("mov", rax, qword(rsp, YIMG));
  addImmediate(a, "add", rax, s.rowStart * ow * eb);
  a.emit("mov", qword(rsp, YROW), rax);
  if (ow >= width) {
    // Wide rows: each row in chunks of nv vectors (a loop), then the rest of it.
    const full = Math.floor(ow / width), rest = ow % width;
    const whole = tiles(rowVectors(width, 1))[0];
    const last = rest ? rowVectors(rest, 1) : [];
    frameLoop(a, OY, band, () => {
      a.emit("mov", r10, r12);
      a.emit("mov", rax, qword(rsp, YROW));
      a.emit("mov", qword(rsp, YCHUNK), rax);
      frameLoop(a, CHUNK, full, () => {
        chunk(whole);
        addImmediate(a, "add", r10, width * 4);
        addImmediate(a, "add", qword(rsp, YCHUNK), width * eb);
      });
      if (rest) chunk(last);
      addImmediate(a, "add", r12, s.sh * L.rowBytes);
      addImmediate(a, "add", qword(rsp, YROW), ow * eb);
    });
    return;
  }
  // Narrower rows: groups of rows whose vectors fill whole tiles, then the rows left.
  const rows = groupRows(ow, p.nv), full = Math.floor(band / rows), rest = band % rows;
  /** The tiles of `count` rows from r12's, y from [YROW]. */
  const rowGroup = (count: number) => {
    for (const vecs of tiles(rowVectors(ow, count))) {
      a.emit("mov", r10, r12);
      a.emit("mov", rax, qword(rsp, YROW));
      a.emit("mov", qword(rsp, YCHUNK), rax);
      chunk(vecs);
      // The next tile's vectors start at their own rows: r10 and y stay the group's.
    }
  };
  frameLoop(a, OY, full, () => {
    rowGroup(rows);
    addImmediate(a, "add", r12, rows * s.sh * L.rowBytes);
    addImmediate(a, "add", qword(rsp, YROW), rows * ow * eb);
  });
  if (rest) rowGroup(rest);
}

/** One sum at a time over the band: output channel, row, position. */
function emitScalar(a: Assembler, s: QConvSpec, L: PixelLayout): void {
  const oh = qconvOutHeight(s), ow = qconvOutWidth(s), eb = outBytes(s);
  const taps = s.kh * s.kw, groups = channelGroups(s.c), chWeights = groups * taps * 4;
  // esi: the sum (x's image pointer lives in the frame); r8d: a product's second factor.
  const sum = GP32[6], factor = GP32[8];
  const [lo, hi] = bounds(s);
  if (s.out) {
    a.emit("mov", eax, lo);
    a.emit("cvtsi2ss", XMM[1], eax);
    a.emit("mov", eax, hi);
    a.emit("cvtsi2ss", XMM[2], eax);
  }
  // rcx: the channel's byte offset (4·o), rbx: its weights, r12: the band's row, r10: the
  // position's words, r11: its y.
  a.emit("xor", rcx, rcx);
  a.emit("mov", rbx, rdx);
  // [YROW]: y's channel o at its band's first row, YIMG + o·oh·ow·eb + rowStart·ow·eb.
  a.emit("mov", rax, qword(rsp, YIMG));
  addImmediate(a, "add", rax, s.rowStart * ow * eb);
  a.emit("mov", qword(rsp, YROW), rax);
  frameLoop(a, OCH, s.oc, () => {
    a.emit("mov", r11, qword(rsp, YROW));
    a.emit("mov", r12, r9);
    frameLoop(a, OY, s.rowEnd - s.rowStart, () => {
      a.emit("mov", r10, r12);
      frameLoop(a, CHUNK, ow, () => {
        a.emit("xor", sum, sum);
        a.emit("mov", r13, r10);
        a.emit("mov", r14, rbx);
        countedLoop(a, r15, groups, () => {
          for (let t = 0; t < taps; t++) {
            const at = tapOffset(s, L, t);
            for (let q = 0; q < 4; q++) {
              a.emit("movzx", eax, byte(r13, at + q));
              a.emit("movsx", factor, byte(r14, 4 * t + q));
              a.emit("imul", eax, factor);
              a.emit("add", sum, eax);
            }
          }
          addImmediate(a, "add", r13, L.groupBytes);
          a.emit("add", r14, taps * 4);
        });
        if (channelTerm(a, s, 0, r15d)) a.emit("add", sum, eax);
        if (s.out === 0) a.emit("mov", dword(r11, 0), sum);
        else {
          a.emit("cvtsi2ss", XMM[0], sum);
          a.emit("mulss", XMM[0], s.scale === 2 ? dword(rdi, 0, rcx, 1) : dword(rdi, 0));
          a.emit("maxss", XMM[0], XMM[1]);
          a.emit("minss", XMM[0], XMM[2]);
          a.emit("cvtss2si", eax, XMM[0]);
          a.emit("add", eax, s.yZero);
          a.emit("mov", byte(r11, 0), al);
        }
        a.emit("add", r10, 4);
        a.emit("add", r11, eb);
      });
      addImmediate(a, "add", r12, s.sh * L.rowBytes);
    });
    a.emit("add", rcx, 4);
    addImmediate(a, "add", rbx, chWeights);
    addImmediate(a, "add", qword(rsp, YROW), oh * ow * eb);
  });
}
