/**
 * What bounds the NHWC depthwise 3×3/2's tile at AVX2 (depthwise_nhwc.ts,
 * tileByKernelRows: 3 output rows × 3 positions of one channel vector,
 * each kernel row's 3 weights in registers): the tile's own instructions,
 * emitted by our assembler, looped over the channel vectors with the
 * lines it reads kept in L1, then streamed from L2 (every channel of a
 * position, tiles walking along the rows as the kernel's do). Two
 * epilogues: the bias read by every output's add and relu's zero loaded
 * for every output (the kernel before stop 127), and the bias loaded once
 * into a register and the zero by the zeroing idiom (after). Prints cycles
 * an output vector at the clock the ymm FMA peak implies (src/peak.ts);
 * the tile's 81 FMAs take 4.5 of them.
 *
 *   deno run -A bench/dw_tile_lines.ts
 *
 * @module
 */
import {
  Assembler,
  ptr,
  qword,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r9,
  rbx,
  rdi,
  rdx,
  rsi,
  vreg,
} from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { cpuFeatures } from "../src/cpu.ts";
import { measureFma } from "../src/peak.ts";
import { bestCallSeconds } from "./timing.ts";

if (!cpuFeatures().avx2 || !cpuFeatures().fma) {
  console.log("dw_tile_lines: this CPU has no AVX2 and FMA; nothing to time");
  Deno.exit(0);
}
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 16 });
const y = (i: number) => vreg(256, i);
const x = (i: number) => vreg(128, i);
const ITERATIONS = 100_000;

/** One layer's geometry: channels, input width, output width. */
interface Layer {
  name: string;
  c: number;
  w: number;
  ow: number;
}

/**
 * The tile looped: r15 the channel vector's byte offset, back to 0 at
 * `wrap`; each time it wraps the tile moves 3 positions along the row,
 * back to the row's start after `tiles` moves. Args: [iterations, wrap,
 * tiles, w, x, b, y] as 64-bit words, a zero vector at byte 64.
 */
function tileCode(l: Layer, after: boolean) {
  const a = new Assembler();
  const xPos = 4 * l.c, xRow = l.w * xPos, yPos = 4 * l.c, yRow = l.ow * yPos;
  const W0 = 0, LOAD = 12, OUT = 13, acc = (r: number, p: number) => 3 + 3 * r + p;
  for (const r of [rbx, r12, r13, r14, r15]) a.emit("push", r);
  a.emit("mov", r14, qword(rdi, 0));
  a.emit("mov", rsi, qword(rdi, 24));
  a.emit("mov", r9, qword(rdi, 32));
  a.emit("mov", rdx, qword(rdi, 40));
  a.emit("mov", r10, qword(rdi, 48));
  a.emit("mov", r11, r9);
  a.emit("mov", r12, r10);
  a.emit("mov", r13, qword(rdi, 16));
  a.emit("xor", r15, r15);
  const top = a.label(), same = a.label(), row = a.label();
  a.align(64);
  a.bind(top);
  for (let r = 0; r < 3; r++) {
    for (let p = 0; p < 3; p++) a.emit("vxorps", x(acc(r, p)), x(acc(r, p)), x(acc(r, p)));
  }
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      a.emit("vmovups", y(W0 + j), ptr(rsi, (3 * i + j) * 4 * l.c, r15, 1, 32));
    }
    for (let r = 0; r < 3; r++) {
      const q = 2 * r + i;
      for (let c = 0; c < 7; c++) {
        a.emit("vmovups", y(LOAD), ptr(r11, q * xRow + c * xPos, r15, 1, 32));
        for (let p = 0; p < 3; p++) {
          const j = c - 2 * p;
          if (j >= 0 && j < 3) a.emit("vfmadd231ps", y(acc(r, p)), y(LOAD), y(W0 + j));
        }
      }
    }
  }
  if (after) a.emit("vmovups", y(W0), ptr(rdx, 0, r15, 1, 32));
  for (let r = 0; r < 3; r++) {
    for (let p = 0; p < 3; p++) {
      const s = acc(r, p);
      a.emit("vaddps", y(s), y(s), after ? y(W0) : ptr(rdx, 0, r15, 1, 32));
      if (after) a.emit("vxorps", x(OUT), x(OUT), x(OUT));
      else a.emit("vmovups", y(OUT), ptr(rdi, 64, null, 1, 32));
      a.emit("vmaxps", y(OUT), y(OUT), y(s));
      a.emit("vmovups", ptr(r12, r * yRow + p * yPos, r15, 1, 32), y(OUT));
    }
  }
  a.emit("add", r15, 32);
  a.emit("cmp", r15, qword(rdi, 8));
  a.emit("jne", same);
  a.emit("xor", r15, r15);
  a.emit("add", r11, 6 * xPos);
  a.emit("add", r12, 3 * yPos);
  a.emit("dec", r13);
  a.emit("jnz", same);
  a.bind(row);
  a.emit("mov", r11, r9);
  a.emit("mov", r12, r10);
  a.emit("mov", r13, qword(rdi, 16));
  a.bind(same);
  a.emit("dec", r14);
  a.emit("jnz", top);
  for (const r of [r15, r14, r13, r12, rbx]) a.emit("pop", r);
  a.emit("vzeroupper");
  a.emit("ret");
  return arena.install(a.finish().code);
}

const setWord = (b: NativeBlock, at: number, value: number) => {
  b.u32[at * 2] = value % 2 ** 32;
  b.u32[at * 2 + 1] = Math.floor(value / 2 ** 32);
};

const LAYERS: Layer[] = [
  { name: "3×3/2 576 on 14²", c: 576, w: 14, ow: 7 },
  { name: "3×3/2 96 on 112²", c: 96, w: 112, ow: 56 },
];
// The ymm FMA peak (src/peak.ts): 32 flops a cycle, two 8-lane FMAs.
const cycle = 32 / (measureFma(256) * 1e9);
console.log(
  `NHWC depthwise 3×3/2 tile (3 rows × 3 positions), AVX2, one thread; cycles an output vector at ${
    (1e-9 / cycle).toFixed(2)
  } GHz (FMA peak); its 81 FMAs take 4.5`,
);
console.log(
  "layer                 lines from   bias read by each add, zero loaded   bias in a register, zero idiom",
);
for (const l of LAYERS) {
  const xBytes = 7 * l.w * 4 * l.c, yBytes = 3 * l.ow * 4 * l.c;
  const w = new NativeBlock(9 * 4 * l.c), xb = new NativeBlock(xBytes + 64);
  const b = new NativeBlock(4 * l.c), yb = new NativeBlock(yBytes + 64);
  xb.f32.fill(1);
  w.f32.fill(0.5);
  const tilesInRow = Math.floor((l.ow - 1) / 3);
  for (const [where, wrap, tiles] of [["L1", 64, 1], ["L2", 4 * l.c, tilesInRow]] as const) {
    const args = new NativeBlock(128);
    setWord(args, 0, ITERATIONS);
    setWord(args, 1, wrap);
    setWord(args, 2, tiles);
    setWord(args, 3, w.address);
    setWord(args, 4, xb.address);
    setWord(args, 5, b.address);
    setWord(args, 6, yb.address);
    const cycles = [false, true].map((after) => {
      const code = tileCode(l, after);
      return bestCallSeconds(code.pointer, args.pointer, 7) / ITERATIONS / 9 / cycle;
    });
    console.log(
      `${l.name.padEnd(22)}${where.padEnd(13)}${cycles[0].toFixed(2).padStart(36)}${
        cycles[1].toFixed(2).padStart(33)
      }`,
    );
  }
}
