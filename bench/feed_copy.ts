/**
 * A run's copy of a feed (or of an output into the caller's tensor) at
 * every distance of interest between source and destination modulo a
 * page: glibc's memmove (TypedArray.prototype.set) against the Jit's copy
 * kernel, and what the session does (graph/feed_copy.ts: memmove, or the
 * kernel where memmove would run 4K-aliased). Medians of 61 copies, the
 * arrays in cache (`--cold`: 16 MB written between copies).
 *
 *   deno run -A bench/feed_copy.ts [--floats 50176] [--cold]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { copyData } from "../src/graph/feed_copy.ts";
import { bufferAddress } from "../src/native/memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { floats: { type: "string", default: "50176" }, cold: { type: "boolean" } },
});
const n = Number(values.floats), cold = values.cold === true;
const jit = new Jit({ threads: 1, tuneBudget: 0 });
const junk = new Float32Array(4 << 20);
// One buffer holds both arrays: the source at a page, the destination `d` bytes past a page.
const span = Math.ceil((n * 4) / 4096) * 4096 + 4096;
const buffer = new ArrayBuffer(2 * span + 4096);
const set = Object.getPrototypeOf(Uint8Array.prototype).set;

function median(copy: () => void): number {
  const ts: number[] = [];
  for (let r = 0; r < 61; r++) {
    if (cold) junk.fill(r);
    const t0 = performance.now();
    copy();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[30] * 1000;
}

console.log(
  `${n} floats (${(n * 4 / 1024).toFixed(0)} KiB), ${cold ? "cold" : "in cache"}; µs per copy`,
);
console.log("dst − src (mod 4096)   memmove   copy kernel   session");
const base = (4096 - (bufferAddress(buffer) % 4096)) % 4096;
for (const d of [0, 4, 8, 16, 24, 28, 32, 64, 1024, 2048, 4032, 4080]) {
  const src = new Float32Array(buffer, base, n);
  const dst = new Float32Array(buffer, base + span + d, n);
  src.fill(1.5);
  const mem = median(() => set.call(dst, src));
  const kernel = median(() => jit.copy(src, dst, { dims: [n], xStrides: [1], yStrides: [1] }));
  const session = median(() => copyData(jit, dst, src));
  console.log(
    `${String(d).padStart(20)} ${mem.toFixed(1).padStart(9)} ${kernel.toFixed(1).padStart(13)} ${
      session.toFixed(1).padStart(9)
    }`,
  );
}
jit.close();
