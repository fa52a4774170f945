/**
 * What a row-wise op pays for where its operands start in a cache line: the
 * same call with x and y on a line, both 16 bytes into one (where Deno puts
 * large arrays), and x 16 bytes in with y 32 (arrays from separate
 * allocations need not share their offset), taking turns in one process on
 * the same pages, median µs of each and their ratios to on a line. Rows of whole vectors read along x's lines
 * (AVX-512 norms and reductions, columns.ts) and binary runs started at
 * their first input's line should show ~1.00; ops that read rows as they
 * lie show what a line read in two pieces costs them (softmax reads only
 * its first pass, the maximum, along x's lines).
 *
 *   deno run -A bench/line_offsets.ts [--rounds 7]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cpuFeatures, Jit } from "../mod.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "7" } } });
const rounds = Number(values.rounds);
using jit = new Jit({ threads: 1 });

/** `n` floats of `buf` starting `bytes` past a line boundary (the buffer has 32 spare). */
function placed(buf: Float32Array, n: number, bytes: number): Float32Array {
  const address = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  const skip = ((64 - (address % 64)) % 64 + bytes) / 4;
  return buf.subarray(skip, skip + n);
}

type Case = [string, number, (x: Float32Array, y: Float32Array) => void];
const norm = (rows: number, cols: number, rms = false): Case => {
  const scale = new Float32Array(cols).fill(1.25), bias = new Float32Array(cols).fill(0.5);
  return [
    `${rms ? "rmsNorm" : "layerNorm"} ${rows}×${cols}`,
    rows * cols,
    rms
      ? (x, y) => jit.rmsNorm(x, y, { rows, cols, scale })
      : (x, y) => jit.layerNorm(x, y, { rows, cols, scale, bias }),
  ];
};
const reduce = (op: "sum" | "max" | "logSumExp", rows: number, cols: number): Case => [
  `reduce ${op} ${rows}×${cols}`,
  rows * cols,
  (x, y) => jit.reduce(op, x, y.subarray(0, rows), { rows, cols }),
];
const CASES: Case[] = [
  norm(128, 768),
  norm(512, 1024),
  norm(4096, 768),
  norm(4096, 768, true),
  reduce("sum", 4096, 768),
  reduce("max", 4096, 768),
  reduce("sum", 1, 1 << 24),
  reduce("max", 1, 1 << 24),
  reduce("logSumExp", 1, 1 << 24),
  // Binary runs start at a's line (a and b placed alike).
  [
    "add same shape 4 Mi",
    1 << 22,
    (x, y) => jit.binary("add", x, [1 << 22], x, [1 << 22], y),
  ],
  [
    "mul 4096×1024 by a row",
    1 << 22,
    (x, y) => jit.binary("mul", x, [4096, 1024], x.subarray(0, 1024), [1024], y),
  ],
  // A few rows of C against B streamed from memory: the columns run along B's lines.
  [
    "gemm 1×4096×4096",
    4096 * 4096,
    (x, y) => jit.gemm(y.subarray(0, 4096), x, y.subarray(4096, 8192), { m: 1, n: 4096, k: 4096 }),
  ],
  // And against Bᵀ (dot products of rows), k along B's lines.
  [
    "gemm 1×4096×4096 Bᵀ",
    4096 * 4096,
    (x, y) =>
      jit.gemm(y.subarray(0, 4096), x, y.subarray(4096, 8192), {
        m: 1,
        n: 4096,
        k: 4096,
        transB: true,
      }),
  ],
  // A transpose: 16×16 blocks, bands of x's contiguous dim from its lines.
  [
    "transpose 2048×2048",
    2048 * 2048,
    (x, y) => jit.copy(x, y, { dims: [2048, 2048], xStrides: [1, 2048] }),
  ],
  // Read as they lie (for comparison).
  ["softmax 1024×1024", 1 << 20, (x, y) => jit.softmax(x, y, { rows: 1024, cols: 1024 })],
  ["relu 1 Mi", 1 << 20, (x, y) => jit.unary("relu", x, y)],
  [
    "maxPool 64×256² 2×2/2",
    1 << 22,
    (x, y) =>
      jit.pool("max", x, y.subarray(0, 1 << 20), {
        n: 1,
        c: 64,
        h: 256,
        w: 256,
        kernel: [2, 2],
        strides: [2, 2],
      }),
  ],
];

/** Median of a block of calls, µs per call. */
function block(call: () => void, reps: number): number {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) call();
  return (performance.now() - t0) / reps * 1000;
}
const median = (v: number[]) => v.slice().sort((a, b) => a - b)[v.length >> 1];

console.log(
  "op                          on a line µs   16 B in µs   16 B in / on a line   x 16, y 32 B in µs" +
    "   / on a line",
);
for (const [name, n, run] of CASES) {
  const xs = new Float32Array(n + 32).map((_, i) => ((i * 2654435761) % 2000) / 200 - 5);
  const ys = new Float32Array(n + 32);
  const places = [[0, 0], [16, 16], [16, 32]].map(([bx, by]) => [
    placed(xs, n, bx),
    placed(ys, n, by),
  ]);
  const calls = places.map(([x, y]) => () => run(x, y));
  const reps = Math.max(1, Math.round(4e6 / n));
  for (const c of calls) block(c, reps); // warm-up: compile, fault the pages in
  const t: number[][] = calls.map(() => []);
  for (let r = 0; r < rounds; r++) calls.forEach((c, i) => t[i].push(block(c, reps)));
  const [a, b, d] = t.map(median);
  console.log(
    `${name.padEnd(26)} ${a.toFixed(1).padStart(12)} ${b.toFixed(1).padStart(12)} ${
      (b / a).toFixed(2).padStart(21)
    } ${d.toFixed(1).padStart(20)} ${(d / a).toFixed(2).padStart(13)}`,
  );
}
console.log(
  `\n${new Date().toISOString().slice(0, 10)} ${cpuFeatures().brand}, our ISA ${jit.isa}, 1 thread`,
);
