/**
 * Where a call's operands were last written decides what a split call
 * pays for them: the 12 heads of an Attention's scores GEMM (q·kᵀ, 128 ×
 * 128 × 64 each, batched) on 1 and 2 threads, timed after q and k were
 * written (a) by nothing since the last call, (b) by the calling thread
 * alone (what a session's copy of its feeds did), (c) by `jit.copy` on the
 * Jit's threads (each thread writes the share its parts will read: what a
 * session on 2 threads does since stop 65). Medians of 300 calls each,
 * the three interleaved; the workers held awake throughout.
 *
 *   deno run -A bench/feed_placement.ts
 *
 * @module
 */
import { Jit } from "../mod.ts";
import { median } from "./timing.ts";

const H = 12, S = 128, D = 64;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const q0 = rand(H * S * D), k0 = rand(H * S * D);
const q = new Float32Array(H * S * D), k = new Float32Array(H * S * D);
const scores = new Float32Array(H * S * S);
const options = {
  m: S,
  n: S,
  k: D,
  transB: true,
  alpha: 1 / 8,
  batch: H,
  strideA: S * D,
  strideB: S * D,
  strideC: S * S,
};
const whole = { dims: [q.length], xStrides: [1], yStrides: [1] };
for (const threads of [1, 2]) {
  using jit = new Jit({ threads, tuneBudget: 0 });
  jit.holdWorkers(true);
  const before: [string, () => void][] = [
    ["untouched", () => {}],
    ["written by the caller", () => {
      q.set(q0);
      k.set(k0);
    }],
    ["copied by every thread", () => {
      jit.copy(q0, q, whole);
      jit.copy(k0, k, whole);
    }],
  ];
  const us: number[][] = before.map(() => []);
  for (let round = 0; round < 300; round++) {
    before.forEach(([, write], i) => {
      write();
      const t = performance.now();
      jit.gemm(q, k, scores, options);
      us[i].push((performance.now() - t) * 1000);
    });
  }
  jit.holdWorkers(false);
  console.log(
    `${threads} thread${threads > 1 ? "s" : ""}: scores GEMM ${
      before.map(([name], i) => `${name} ${median(us[i]).toFixed(1)} µs`).join(", ")
    }`,
  );
}
