/**
 * What a nonblocking FFI call costs over the same call on the calling
 * thread when the call moves more data: libc's memset of 0 to 64 MiB,
 * `nonblocking: true` against not, alternating; medians of `--calls` each.
 * Deno's own hop (our code is not involved) — the event loop's thread
 * resuming after the call: the more the call wrote, the more of that
 * thread's code and data it finds evicted from the caches.
 *
 *   deno run -A bench/hop_cold.ts [--mib 0,1,8,32,64] [--calls 200]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "0,1,8,32,64" },
    calls: { type: "string", default: "200" },
  },
});
const lib = Deno.dlopen("libc.so.6", {
  memset: { parameters: ["buffer", "i32", "usize"], result: "pointer" },
  memsetOff: {
    name: "memset",
    parameters: ["buffer", "i32", "usize"],
    result: "pointer",
    nonblocking: true,
  },
});
const calls = Number(values.calls);
console.log("MiB written   on the thread µs   nonblocking µs   the hop µs");
for (const mib of values.mib!.split(",").map(Number)) {
  const buf = new Uint8Array(Math.max(1, mib * (1 << 20)));
  const on: number[] = [], off: number[] = [];
  for (let i = 0; i < calls; i++) {
    let t = performance.now();
    lib.symbols.memset(buf, i & 255, BigInt(buf.length));
    on.push((performance.now() - t) * 1e3);
    t = performance.now();
    await lib.symbols.memsetOff(buf, i & 255, BigInt(buf.length));
    off.push((performance.now() - t) * 1e3);
  }
  const a = median(on), b = median(off);
  console.log(
    `${String(mib).padStart(9)}   ${a.toFixed(0).padStart(16)}   ${b.toFixed(0).padStart(14)}   ${
      (b - a).toFixed(0).padStart(10)
    }`,
  );
}
lib.close();
