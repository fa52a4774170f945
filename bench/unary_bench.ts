/**
 * Every unary op on 65,536 floats (256 KiB in and out: L2-resident), so the
 * time is the op's arithmetic, not memory: per element = time / 65,536.
 *
 *   deno bench -P bench/unary_bench.ts
 */
import { Jit, UNARY_OP_NAMES } from "../mod.ts";

const N = 1 << 16;
const jit = new Jit({ profile: false, threads: 1 }); // per-element figures: one core
const x = new Float32Array(N).map((_, i) => (i % 2000) / 200 - 5), y = new Float32Array(N);
for (const op of UNARY_OP_NAMES) {
  jit.unary(op, x, y);
  Deno.bench({
    name: `${op} (65,536 floats)`,
    group: "unary in L2",
    fn: () => jit.unary(op, x, y),
  });
}
