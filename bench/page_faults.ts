/**
 * What first touching memory costs here: a fresh Float32Array from V8
 * written once (a store per 4 KiB page), against the same bytes from
 * `native/large_memory.ts` (2 MiB-aligned mappings advised to huge pages),
 * five times each in one process: the first such mapping is new memory,
 * later ones come back from the pool (each array is dropped and its
 * memory given back before the next).
 *
 *   deno run -A bench/page_faults.ts [--mb 16]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { LargeMemory } from "../src/native/large_memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { mb: { type: "string", default: "16" } },
});
const n = Number(values.mb) * (1 << 18);
const touch = (a: Float32Array) => {
  for (let j = 0; j < a.length; j += 1024) a[j] = 1;
};
const v8: number[] = [], huge: number[] = [];
for (let i = 0; i < 5; i++) {
  let t = performance.now();
  touch(new Float32Array(n));
  v8.push(performance.now() - t);
  const m = new LargeMemory(true);
  t = performance.now();
  touch(m.floats(n));
  huge.push(performance.now() - t);
  m.release();
}
const ms = (x: number[]) => x.map((t) => t.toFixed(2)).join(", ");
console.log(`${values.mb} MiB written once: V8 ${ms(v8)} ms; huge pages ${ms(huge)} ms`);
console.log(
  `per 4 KiB page from V8: ${(Math.min(...v8) * 1000 / (n / 1024)).toFixed(1)} µs at best`,
);
