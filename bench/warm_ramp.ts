/**
 * How a fresh process's calls speed up as it runs: one native kernel (a
 * GEMV over 4 MiB of B, memory-bound, no JavaScript between its loads) and
 * a small model's `runSync`, each timed in windows of `--calls` calls from
 * the process's start; the median µs of each window. The GEMV's code is
 * the same machine code from its first window to its last: where it speeds
 * up, the machine did (its memory's pages, the host under the guest), not
 * V8 nor our code. Run it twice: a second process may start fast or slow.
 *
 *   deno run -A bench/warm_ramp.ts [--windows 20] [--calls 200] [--model mlp1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    windows: { type: "string", default: "20" },
    calls: { type: "string", default: "200" },
    model: { type: "string", default: "mlp1" },
  },
});
const windows = Number(values.windows), calls = Number(values.calls);

/** The median µs of each window of `calls` calls of `f`. */
function ramp(f: () => void): number[] {
  const out: number[] = [];
  for (let w = 0; w < windows; w++) {
    const ts: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      f();
      ts.push((performance.now() - t) * 1000);
    }
    out.push(median(ts));
  }
  return out;
}

const show = (name: string, us: number[]) =>
  console.log(`${name.padEnd(28)} ${us.map((u) => u.toFixed(0)).join(" ")}`);

{
  using jit = new Jit({ threads: 1, tuneBudget: 0 });
  const n = 1024, k = 1024;
  const a = new Float32Array(k).fill(0.5), b = new Float32Array(k * n).fill(0.25);
  const c = new Float32Array(n);
  show("gemv 1×1024×1024, µs", ramp(() => jit.gemm(a, b, c, { m: 1, n, k })));
}
const m = ZOO[values.model]();
const s = await InferenceSession.create(m.bytes, { intraOpNumThreads: 1 });
const feeds: Record<string, Tensor> = {};
for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new Tensor(v.type, v.data, v.dims);
show(`${values.model} runSync, µs`, ramp(() => s.runSync(feeds)));
await s.release();
console.log(`medians of windows of ${calls} calls, in order from the process's start`);
