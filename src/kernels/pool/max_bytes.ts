/**
 * The 8-bit max pool (uint8 or int8 x and y: a quantized model's MaxPool):
 * per output row, the maximum of its window's input rows into a row buffer
 * (the workspace) whose padding columns hold the type's least value, then
 * each output's maximum over its taps along that buffer. The maximum of
 * bytes is exact, so this is the float pool's result on the same values; a
 * window of padding alone gives the least value (0 or −128), what ONNX
 * Runtime's −∞ becomes when quantized.
 *
 * AVX-512 (BW): the rows 64 columns a vector and a masked tail; across, at
 * stride 1 64 outputs a vector from unaligned loads of the buffer, at
 * stride 2 32 outputs from the even bytes of 64 (`vpmovwb`: the load's
 * start picks the parity), other strides byte by byte. AVX2: 32 columns or
 * outputs a vector (at stride 2 the maximum of the 64 bytes first, its even
 * bytes then kept by a word mask, `vpackuswb` and `vpermq`), the last
 * columns and outputs of a row (fewer than a vector: no byte masks) byte by
 * byte. Below AVX2 byte by byte throughout (the model layer pools floats
 * there instead).
 *
 * @module
 */
import {
  Assembler,
  byte,
  eax,
  ecx,
  GP8,
  KREG,
  type Program,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r8,
  r9,
  rax,
  rdi,
  rdx,
  rsi,
  XMM,
  YMM,
  ZMM,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  loadPointer,
  restoreRegisters,
  saveRegisters,
  WORKSPACE_SLOT,
} from "../abi.ts";
import { POOL_ARG, poolShape, type PoolSpec } from "./spec.ts";

/** The row buffer: the left padding, the row, then padding past every window's reach. */
export interface BytePoolRow {
  /** Bytes of padding before the row (the left pad). */
  left: number;
  /** Bytes of padding after it: the windows' reach past the row, then a vector's over-read. */
  right: number;
  /** Workspace bytes. */
  bytes: number;
}

/** The row buffer of `s`. */
export function bytePoolRow(s: PoolSpec): BytePoolRow {
  const { ow } = poolShape(s);
  const reach = (ow - 1) * s.sw + (s.kw - 1) * s.dw + 1; // buffer columns the windows read
  // A vector of outputs loads 64 bytes from its first output's tap: up to 63 past the reach.
  const right = Math.ceil((Math.max(0, reach - s.pl - s.w) + 64) / 64) * 64;
  const left = s.pl;
  return { left, right, bytes: Math.ceil((left + s.w + right) / 64) * 64 + 64 };
}

/** Whether the AVX-512 kernel takes `s` across (strides 1 and 2; others byte by byte). */
export function vectorAcross(s: PoolSpec): boolean {
  return s.sw === 1 || s.sw === 2;
}

/** The vector level of the byte pool (null: byte by byte). */
export type BytePoolLevel = "avx512" | "avx2" | null;

/** The plan's description. */
export function describeBytePool(s: PoolSpec, level: BytePoolLevel): string {
  if (!level) return `scalar ${s.type} max, row maxima then window maxima, byte by byte`;
  const L = level === "avx2" ? 32 : 64;
  const across = s.sw === 1
    ? `${L} outputs a vector`
    : s.sw === 2
    ? "32 outputs a vector from even bytes"
    : "byte by byte";
  return `${level} ${s.type} max, row maxima ${L} columns a vector, across ${across}`;
}

/** The kernel: `void kernel(args)` over the spec's planes. */
export function generateBytePool(s: PoolSpec, level: BytePoolLevel): Program {
  const vector = level === "avx512", avx2 = level === "avx2";
  const a = new Assembler();
  const { oh, ow } = poolShape(s), row = bytePoolRow(s);
  const signed = s.type === "int8", least = signed ? 0x80 : 0;
  const H = s.h, W = s.w;
  const max = signed ? "vpmaxsb" : "vpmaxub", cmov = signed ? "cmovg" : "cmova";
  const load8 = signed ? "movsx" : "movzx";
  const [acc, tmp, pad, half] = [ZMM[0], ZMM[1], ZMM[2], YMM[3]];
  const colTail = KREG[1], outTail = KREG[2], al = GP8[0];
  saveRegisters(a, [r12]);
  // rsi: x's plane, rdi: y's next row, rdx: the row buffer (its data at + left).
  loadPointer(a, rsi, POOL_ARG.X);
  loadPointer(a, rax, POOL_ARG.Y);
  loadPointer(a, rdx, WORKSPACE_SLOT);
  a.emit("mov", rdi, rax);

  const outsPerVector = s.sw === 1 ? 64 : 32;
  const across = vector && vectorAcross(s);
  // AVX2: 32 bytes a vector; ymm2 the padding, ymm3 the even bytes' word mask (stride 2).
  const PAD8 = YMM[2], EVEN = YMM[3], A0 = YMM[0], A1 = YMM[1];
  const outs2 = 32, across2 = avx2 && vectorAcross(s);
  if (avx2) {
    a.emit("mov", eax, signed ? 0x80808080 | 0 : 0);
    a.emit("vmovd", XMM[2], eax);
    a.emit("vpbroadcastd", PAD8, XMM[2]);
    if (s.sw === 2) {
      a.emit("mov", eax, 0x00ff00ff);
      a.emit("vmovd", XMM[3], eax);
      a.emit("vpbroadcastd", EVEN, XMM[3]);
    }
  }
  const mask = (k: typeof colTail, lanes: number) => {
    const m = new Uint8Array(8);
    for (let i = 0; i < lanes; i++) m[i >> 3] |= 1 << (i & 7);
    a.emit("kmovq", k, qword(a.constant(m, 8)));
  };
  if (vector) {
    if (signed) {
      a.emit("mov", eax, 0x80808080 | 0);
      a.emit("vpbroadcastd", pad, eax);
    } else a.emit("vpxord", pad, pad, pad);
    if (W % 64) mask(colTail, W % 64);
    if (across && ow % outsPerVector) mask(outTail, ow % outsPerVector);
  }

  // The padding, once: the row maxima only ever write the row's own columns.
  const fill = (from: number, count: number) => {
    if (count <= 0) return;
    if (vector) {
      for (let at = from; at < from + count; at += 64) {
        a.emit("vmovdqu8", ptr(rdx, at, null, 1, 64), pad);
      }
      return;
    }
    if (avx2) {
      // Whole vectors, the last one's bytes past `count` inside the buffer (64-byte multiples).
      for (let at = from; at < from + count; at += 32) {
        a.emit("vmovdqu", ptr(rdx, at, null, 1, 32), PAD8);
      }
      return;
    }
    a.emit("xor", r11, r11);
    countedLoop(a, r12, count, () => {
      a.emit("mov", byte(rdx, from, r11), least);
      a.emit("inc", r11);
    });
  };
  fill(0, row.left);
  fill(row.left + W, row.right);

  /** The maximum over the rows at `offsets` from r8 (bytes), into the buffer's row. */
  const rowMaxima = (offsets: number[]) => {
    a.emit("xor", r11, r11);
    if (avx2) {
      countedLoop(a, r12, Math.floor(W / 32), () => {
        const to = ptr(rdx, row.left, r11, 1, 32), at = (o: number) => ptr(r8, o, r11, 1, 32);
        if (offsets.length === 0) a.emit("vmovdqu", to, PAD8);
        else {
          a.emit("vmovdqu", A0, at(offsets[0]));
          for (const o of offsets.slice(1)) a.emit(max, A0, A0, at(o));
          a.emit("vmovdqu", to, A0);
        }
        a.emit("add", r11, 32);
      });
    }
    if (!vector) {
      // Every column (below AVX2), or the last W mod 32 (AVX2, r11 past the vectors).
      countedLoop(a, r12, avx2 ? W % 32 : W, () => {
        if (offsets.length === 0) a.emit("mov", byte(rdx, row.left, r11), least);
        else {
          a.emit(load8, eax, byte(r8, offsets[0], r11));
          for (const o of offsets.slice(1)) {
            a.emit(load8, ecx, byte(r8, o, r11));
            a.emit("cmp", ecx, eax);
            a.emit(cmov, eax, ecx);
          }
          a.emit("mov", byte(rdx, row.left, r11), al);
        }
        a.emit("inc", r11);
      });
      return;
    }
    const chunk = (tail: boolean) => {
      const to = ptr(rdx, row.left, r11, 1, 64);
      if (offsets.length === 0) {
        a.emit("vmovdqu8", tail ? to.k(colTail) : to, pad);
        return;
      }
      const at = (o: number) => ptr(r8, o, r11, 1, 64);
      a.emit("vmovdqu8", tail ? acc.k(colTail).z : acc, at(offsets[0]));
      for (const o of offsets.slice(1)) {
        // The tail's loads masked too: the last row of x may end at a guard page.
        if (tail) {
          a.emit("vmovdqu8", tmp.k(colTail).z, at(o));
          a.emit(max, acc, acc, tmp);
        } else a.emit(max, acc, acc, at(o));
      }
      a.emit("vmovdqu8", tail ? to.k(colTail) : to, acc);
    };
    countedLoop(a, r12, Math.floor(W / 64), () => {
      chunk(false);
      a.emit("add", r11, 64);
    });
    if (W % 64) chunk(true);
  };

  /** Each output of the row: the maximum of its taps in the buffer; rdi past the row. */
  const windowMaxima = () => {
    const taps = Array.from({ length: s.kw }, (_, kx) => kx * s.dw);
    a.emit("xor", r11, r11);
    if (across2) {
      // Whole vectors of outputs (rdi advancing), then the rest byte by byte below.
      countedLoop(a, r12, Math.floor(ow / outs2), () => {
        const at = (t: number, half: number) => ptr(rdx, t + 32 * half, r11, 1, 32);
        a.emit("vmovdqu", A0, at(taps[0], 0));
        for (const t of taps.slice(1)) a.emit(max, A0, A0, at(t, 0));
        if (s.sw === 2) {
          // The maximum of all 64 bytes, then its even bytes (those are the outputs' taps).
          a.emit("vmovdqu", A1, at(taps[0], 1));
          for (const t of taps.slice(1)) a.emit(max, A1, A1, at(t, 1));
          a.emit("vpand", A0, A0, EVEN);
          a.emit("vpand", A1, A1, EVEN);
          a.emit("vpackuswb", A0, A0, A1);
          a.emit("vpermq", A0, A0, 0xd8);
        }
        a.emit("vmovdqu", ptr(rdi, 0, null, 1, 32), A0);
        a.emit("add", r11, 32 * s.sw);
        a.emit("add", rdi, outs2);
      });
    }
    if (!across) {
      countedLoop(a, r12, across2 ? ow % outs2 : ow, () => {
        a.emit(load8, eax, byte(rdx, taps[0], r11));
        for (const t of taps.slice(1)) {
          a.emit(load8, ecx, byte(rdx, t, r11));
          a.emit("cmp", ecx, eax);
          a.emit(cmov, eax, ecx);
        }
        a.emit("mov", byte(rdi, 0), al);
        a.emit("inc", rdi);
        a.emit("add", r11, s.sw);
      });
      return;
    }
    a.emit("xor", eax, eax); // y's offset (r11: the buffer's, sw times it)
    const chunk = (tail: boolean) => {
      if (s.sw === 1) {
        a.emit("vmovdqu8", acc, ptr(rdx, taps[0], r11, 1, 64));
        for (const t of taps.slice(1)) a.emit(max, acc, acc, ptr(rdx, t, r11, 1, 64));
        const to = ptr(rdi, 0, rax, 1, 64);
        a.emit("vmovdqu8", tail ? to.k(outTail) : to, acc);
        return;
      }
      const y0 = YMM[0];
      taps.forEach((t, i) => {
        a.emit("vmovdqu8", tmp, ptr(rdx, t, r11, 1, 64));
        a.emit("vpmovwb", i === 0 ? y0 : half, tmp);
        if (i > 0) a.emit(max, y0, y0, half);
      });
      const to = ptr(rdi, 0, rax, 1, 32);
      a.emit("vmovdqu8", tail ? to.k(outTail) : to, y0);
    };
    countedLoop(a, r12, Math.floor(ow / outsPerVector), () => {
      chunk(false);
      a.emit("add", r11, 64);
      a.emit("add", rax, outsPerVector);
    });
    if (ow % outsPerVector) chunk(true);
    addImmediate(a, "add", rdi, ow);
  };

  // Output rows in runs whose windows keep the same input rows (the middle run: all of them).
  const rowsOf = (oy: number) => {
    const out: number[] = [];
    for (let ky = 0; ky < s.kh; ky++) {
      const iy = oy * s.sh - s.pt + ky * s.dh;
      if (iy >= 0 && iy < H) out.push(ky);
    }
    return out.join(",");
  };
  const runs: { first: number; count: number; kys: number[] }[] = [];
  for (let oy = 0; oy < oh; oy++) {
    const set = rowsOf(oy), last = runs[runs.length - 1];
    if (last && rowsOf(last.first) === set) last.count++;
    else runs.push({ first: oy, count: 1, kys: set === "" ? [] : set.split(",").map(Number) });
  }
  countedLoop(a, r10, s.planes, () => {
    for (const run of runs) {
      // r8: where the run's first window's top row would be (read only at its rows in x).
      a.emit("lea", r8, ptr(rsi, (run.first * s.sh - s.pt) * W, null, 1, 8));
      countedLoop(a, r9, run.count, () => {
        rowMaxima(run.kys.map((ky) => ky * s.dh * W));
        windowMaxima();
        addImmediate(a, "add", r8, s.sh * W);
      });
    }
    addImmediate(a, "add", rsi, H * W);
  });
  if (vector || avx2) a.emit("vzeroupper");
  restoreRegisters(a, [r12]);
  a.emit("ret");
  return a.finish();
}

/** The byte pool's vector level at the Jit's `level`. */
export function bytePoolLevel(level: string): BytePoolLevel {
  return level === "avx512" ? "avx512" : level === "avx2" ? "avx2" : null;
}
