/**
 * What going off the event loop costs one call: `jit.gemm` on the calling
 * thread against `await jit.async(() => jit.gemm(...))` (one nonblocking
 * call, the GEMM on Deno's blocking thread), and three GEMMs in one async
 * call, alternating in rounds; medians of 200 calls each.
 *
 *   deno run -A bench/async_hop.ts [--shapes 8x64x64,64x1024x1024] [--threads 1] [--rounds 3]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "8x64x64,64x256x256,64x1024x1024,256x1024x1024" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
  },
});
using jit = new Jit({ threads: Number(values.threads), tuneBudget: 0 });
const CALLS = 200;
for (const shape of values.shapes.split(",")) {
  const [m, n, k] = shape.split("x").map(Number);
  const a = new Float32Array(m * k).fill(1), c = new Float32Array(m * n);
  const b = jit.packB(new Float32Array(k * n).fill(1), { k, n, layout: "panels" });
  const o = { m, n, k };
  const one = () => jit.gemm(a, b, c, o);
  const three = () => {
    one();
    one();
    one();
  };
  for (let i = 0; i < 50; i++) {
    one();
    await jit.async(one);
  }
  const rows: string[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    let t0 = performance.now();
    for (let i = 0; i < CALLS; i++) one();
    const sync = ((performance.now() - t0) / CALLS) * 1000;
    t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await jit.async(one);
    const async1 = ((performance.now() - t0) / CALLS) * 1000;
    t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await jit.async(three);
    const async3 = ((performance.now() - t0) / CALLS) * 1000;
    rows.push(
      `on the loop ${sync.toFixed(0)} µs, async +${(async1 - sync).toFixed(0)}, ` +
        `three in one async +${(async3 - 3 * sync).toFixed(0)}`,
    );
  }
  console.log(`${shape.padEnd(14)} ${values.threads}T  ${rows.join(" | ")}`);
}
