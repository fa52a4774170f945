/**
 * Calls that feed each other, as a model's layers do: y = |x| then x = |y|
 * on the same buffers, over and over, on a 1-thread and a 2-thread Jit in
 * one process (rounds alternating), median µs per call and the speedup of
 * 2 threads. From 1 to 8 MiB of operands each thread's share of them can
 * stay in its own core's L2 between calls only if every call gives each
 * thread the same parts (`src/native/pool_code.ts`, ranges).
 *
 *   deno run -A bench/chained_calls.ts [--sizes 1,2,3,8] (MiB in and out)
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "1,2,3,8" },
    rounds: { type: "string", default: "21" },
  },
});
const one = new Jit({ threads: 1, tuneBudget: 0 }), two = new Jit({ threads: 2, tuneBudget: 0 });
const rounds = Number(values.rounds);
const median = (t: number[]) => t.toSorted((a, b) => a - b)[t.length >> 1];
console.log("MiB in+out   1T µs/call   2T µs/call   ×1T");
for (const mib of values.sizes!.split(",").map(Number)) {
  const n = Math.round((mib * 2 ** 20) / 8);
  const x = new Float32Array(n).map((_, i) => (i % 7) - 3), y = new Float32Array(n);
  const chain = (j: Jit) => () => {
    j.unary("abs", x, y);
    j.unary("abs", y, x);
  };
  const runs: [() => void, number[]][] = [[chain(one), []], [chain(two), []]];
  const reps = Math.max(5, Math.round(200 / mib));
  for (const [f] of runs) for (let i = 0; i < reps; i++) f();
  for (let r = 0; r < rounds; r++) {
    for (const [f, t] of runs) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) f();
      t.push(((performance.now() - t0) * 1000) / (2 * reps));
    }
  }
  const [a, b] = runs.map(([, t]) => median(t));
  console.log(
    `${String(mib).padStart(10)} ${a.toFixed(1).padStart(12)} ${b.toFixed(1).padStart(12)} ${
      (a / b).toFixed(2).padStart(5)
    }`,
  );
}
one.close();
two.close();
