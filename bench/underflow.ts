/**
 * What inputs cost: ns per vector of each unary op over a buffer filled
 * with one value (16 Ki floats, in L1/L2), and softmax rows with masked
 * entries. Intel cores take a microcode assist of a few hundred cycles for
 * an arithmetic result (or input) that is subnormal, or that underflows to
 * 0; a row here that costs 10-100× its neighbours has hit one.
 *
 *   deno run -A bench/underflow.ts [--values=-1,-90,-110,-1e4,-Infinity,1e-40]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit, type UnaryOp } from "../mod.ts";
import { timeInBlocks } from "./timing.ts";

const { values } = parseArgs({
  options: { values: { type: "string", default: "-1,-20,-50,-90,-110,-1e4,-Infinity,1e-40,3" } },
});
const inputs = values.values!.split(",").map(Number);
const OPS: UnaryOp[] = [
  "exp",
  "sigmoid",
  "silu",
  "tanh",
  "gelu",
  "geluTanh",
  "elu",
  "selu",
  "softplus",
  "mish",
  "erf",
  "log",
];
using jit = new Jit({ threads: 1 });
const n = 16384, lanes = 16;

/** Median µs per call: one thread, so no idle pauses (timing.ts). */
const time = (call: () => void, reps: number) =>
  timeInBlocks([call], reps, { rounds: 1, windows: 9, pauseMs: 0 })[0] * 1e6;

console.log(`ns per ${lanes} floats, x filled with one value (${n} floats)`);
console.log("op".padEnd(10) + inputs.map((v) => String(v).padStart(9)).join(""));
for (const op of OPS) {
  const cells = inputs.map((v) => {
    const x = new Float32Array(n).fill(v), y = new Float32Array(n);
    return (time(() => jit.unary(op, x, y), 300) * 1000 / (n / lanes)).toFixed(1).padStart(9);
  });
  console.log(op.padEnd(10) + cells.join(""));
}

// Attention scores: a quarter of each row masked with −Inf or −1e4 (ONNX
// exports of BERT add −1e4 or the f32 minimum), against none masked.
const rows = 1536;
console.log(`\nsoftmax ${rows} rows, µs per call`);
for (const cols of [128, 100]) {
  const cells: string[] = [];
  for (const mask of [null, -Infinity, -1e4]) {
    const x = new Float32Array(rows * cols).map(() => Math.random() * 4 - 2);
    if (mask !== null) {
      for (let i = 0; i < x.length; i++) if (i % cols >= cols * 0.75) x[i] = mask;
    }
    const y = new Float32Array(x.length);
    cells.push(
      `${mask === null ? "none" : mask} masked: ${
        time(() => jit.softmax(x, y, { rows, cols }), 50).toFixed(1)
      }`,
    );
  }
  console.log(`${rows}×${cols}: ${cells.join(", ")}`);
}
