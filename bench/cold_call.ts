/**
 * What a direct call costs when the caches are cold, against its kernel:
 * MobileNetV2's head (the global average pool of 1280×7×7, the 1×1000×1280
 * Gemm) called right after a `--mib` copy in JavaScript that evicts our code
 * and data, then at once the same call on a second Jit (the code now warm,
 * that Jit's own state as the copy left it). Each Jit profiles (RDTSC in
 * native code), so its mean is its kernels' time alone; wall time
 * (`performance.now()` around the call) less that mean is the call path:
 * boundary checks, key, dispatch, the FFI call — tens of nanoseconds in a
 * hot loop (`deno bench -P bench/runtime_bench.ts`), tens of microseconds
 * cold. A session's `enableProfiling` steps its nodes this way, one call
 * at a time after the node before, where `run` and `runSync` replay
 * recorded lists with no JavaScript between the kernels: its report and
 * trace give each node's kernel time beside the wall time.
 *
 *   deno run -A bench/cold_call.ts [--mib 32] [--calls 60]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "32" },
    calls: { type: "string", default: "60" },
  },
});
const floats = Number(values.mib) * (1 << 18), calls = Number(values.calls);
const evictFrom = new Float32Array(floats).fill(1), evictTo = new Float32Array(floats);
const x = new Float32Array(1280 * 49).map((_, i) => (i % 97) / 97);
const pooled = new Float32Array(1280), logits = new Float32Array(1000);
const w = new Float32Array(1280 * 1000).map((_, i) => ((i % 89) - 44) / 440);
const bias = new Float32Array(1000).fill(0.1);

using cold = new Jit({ threads: 1, profile: true });
using warm = new Jit({ threads: 1, profile: true });
/** Each case: its call, and the start of its kernel's key in the stats. */
const cases: Record<string, [(jit: Jit) => void, string]> = {
  "global average pool 1280×7×7": [
    (jit) => jit.pool("globalAverage", x, pooled, { n: 1, c: 1280, h: 49, w: 1 }),
    "reduce mean 1280×49",
  ],
  "gemm 1×1000×1280 +bias": [
    (jit) => jit.gemm(pooled, w, logits, { m: 1, n: 1000, k: 1280, bias }),
    "gemm 1x1000x1280",
  ],
};
console.log(`${values.mib} MiB copied before each cold call, ${calls} calls, medians`);
console.log(
  "case                            cold wall µs  kernel µs  path µs   2nd Jit wall µs  kernel µs",
);
for (const [name, [call, key]] of Object.entries(cases)) {
  for (let i = 0; i < 5; i++) call(cold), call(warm);
  const coldWall: number[] = [], warmWall: number[] = [];
  for (let i = 0; i < calls; i++) {
    evictTo.set(evictFrom);
    let t0 = performance.now();
    call(cold);
    coldWall.push((performance.now() - t0) * 1000);
    t0 = performance.now();
    call(warm);
    warmWall.push((performance.now() - t0) * 1000);
  }
  const kernel = (jit: Jit) =>
    jit.stats().keys.find((k) => k.key.startsWith(key))?.kernelMeanUs ?? NaN;
  const [cw, ck, ww, wk] = [median(coldWall), kernel(cold), median(warmWall), kernel(warm)];
  console.log(
    `${name.padEnd(31)} ${cw.toFixed(1).padStart(12)} ${ck.toFixed(1).padStart(10)} ${
      (cw - ck).toFixed(1).padStart(8)
    } ${ww.toFixed(1).padStart(17)} ${wk.toFixed(1).padStart(10)}`,
  );
}
