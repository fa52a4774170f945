/**
 * One 3×3 convolution (pads 1, bias, ReLU, weights packed once) with its x
 * and y on 4 KiB pages and on 2 MiB pages (`MADV_HUGEPAGE`), taking turns in
 * one process: what the TLB costs a layer whose planes span more pages than
 * it holds (a session's arena has 4 KiB pages: src/native/large_memory.ts).
 * Prints the median µs per call of each, its GFLOPS, the kernel's pages of
 * 2 MiB the process got, and whether both gave the same bits.
 *
 *   deno run -A bench/conv_pages.ts [--shape 64,224,64] [--rounds 20]
 *
 * A shape is `c,h,oc` (a square image). Huge pages need the kernel's
 * transparent huge pages in `madvise` or `always` mode.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { libc, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../src/native/libc.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "64,224,64" },
    rounds: { type: "string", default: "20" },
  },
});
/** madvise advice: back the range with transparent huge pages. */
const MADV_HUGEPAGE = 14;
const HUGE = 2 << 20;
const [c, h, oc] = values.shape!.split(",").map(Number);
const P = h * h;
const jit = new Jit({ tuneBudget: 0, threads: 1 });

/** x, y and the bias in one anonymous mapping, 2 MiB aligned, advised huge or not. */
function operands(huge: boolean) {
  const bytes = 4 * (c * P + oc * P + oc) + 3 * 4096;
  const size = Math.ceil(bytes / HUGE) * HUGE;
  const p = libc().mmap(
    null,
    BigInt(size + HUGE),
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0n,
  )!;
  const start = (BigInt(Deno.UnsafePointer.value(p)) + BigInt(HUGE - 1)) & ~BigInt(HUGE - 1);
  const at = Deno.UnsafePointer.create(start)!;
  if (huge && libc().madvise(at, BigInt(size), MADV_HUGEPAGE) !== 0) {
    throw new Error("conv_pages: madvise(MADV_HUGEPAGE) failed");
  }
  const buffer = Deno.UnsafePointerView.getArrayBuffer(at, size);
  let offset = 0;
  const take = (n: number) => {
    const a = new Float32Array(buffer, offset, n);
    offset += Math.ceil((n * 4) / 4096) * 4096;
    return a;
  };
  const x = take(c * P), y = take(oc * P), bias = take(oc);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i) * 0.5;
  y.fill(0);
  for (let i = 0; i < oc; i++) bias[i] = i * 0.01;
  return { x, y, bias };
}

const weights = Float32Array.from({ length: oc * c * 9 }, (_, i) => Math.cos(i) * 0.1);
const packed = jit.packConvWeights(weights, { outChannels: oc, c, kernel: [3, 3] });
const sides = [operands(false), operands(true)];
const hugeKb = Deno.readTextFileSync("/proc/self/smaps_rollup").match(/AnonHugePages:\s+(\d+)/);
const options = (bias: Float32Array) => ({
  n: 1,
  c,
  h,
  w: h,
  outChannels: oc,
  kernel: [3, 3],
  pads: [1, 1, 1, 1],
  bias,
  activation: "relu" as const,
});
const times: number[][] = [[], []];
for (let round = 0; round < Number(values.rounds); round++) {
  sides.forEach((side, i) => {
    const o = options(side.bias);
    jit.conv2d(side.x, packed, side.y, o);
    const t0 = performance.now();
    for (let j = 0; j < 4; j++) jit.conv2d(side.x, packed, side.y, o);
    times[i].push(((performance.now() - t0) / 4) * 1000);
  });
}
const flops = 2 * c * oc * P * 9;
console.log(
  `3×3 ${c}→${oc} on ${h}², one thread, ${values.rounds} rounds; AnonHugePages ${
    hugeKb?.[1] ?? "?"
  } kB`,
);
["4 KiB pages", "2 MiB pages"].forEach((name, i) => {
  const us = median(times[i]);
  console.log(`${name}: ${us.toFixed(1)} µs, ${(flops / us / 1e3).toFixed(1)} GFLOPS`);
});
const [a, b] = sides.map((s) => s.y);
console.log(`same bits: ${a.every((v, i) => Object.is(v, b[i]))}`);
