/**
 * What a call costs beyond its kernel, family by family: each case a
 * call on the smallest operands its family takes (a kernel of a few
 * nanoseconds), its options built once as a model's steps hold them,
 * timed in a fresh process of its own (a process that called other
 * families first gives the same code other inline-cache states). Median
 * ns per call over windows of 20,000 calls, after 100,000 to warm up: the
 * boundary's checks, the key, the dispatch and the FFI call together.
 *
 *   deno run -A bench/call_overhead.ts [--cases unary,gpool,...]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { cases: { type: "string" }, child: { type: "string" } },
});

/** Each case: a call to time on a Jit (operands and options made once, outside it). */
function cases(jit: Jit): Record<string, () => void> {
  const f = (n: number) => new Float32Array(n).fill(0.5);
  const a = f(16), b = f(16), c = f(16), one = a.subarray(0, 1), four = c.subarray(0, 4);
  const row = b.subarray(0, 4);
  const plane = f(49), sum = f(1), img = f(16), out = f(16);
  const packed = jit.packConvWeights(f(1), { outChannels: 1, c: 1, kernel: [1, 1] });
  const o = {
    gemm: { m: 1, n: 16, k: 1 },
    rows: { rows: 1, cols: 16 },
    plane: { rows: 1, cols: 49 },
    global: { n: 1, c: 1, h: 7, w: 7 },
    max: { n: 1, c: 1, h: 4, w: 4, kernel: [2, 2], strides: [2, 2] },
    conv: { n: 1, c: 1, h: 4, w: 4, outChannels: 1, kernel: [1, 1] },
    d16: [16],
    d44: [4, 4],
    d4: [4],
  };
  return {
    unary: () => jit.unary("relu", a, c),
    binary: () => jit.binary("add", a, o.d16, b, o.d16, c),
    "binary broadcast": () => jit.binary("add", a, o.d44, row, o.d4, c),
    gemm: () => jit.gemm(one, b, c, o.gemm),
    softmax: () => jit.softmax(a, c, o.rows),
    layerNorm: () => jit.layerNorm(a, c, o.rows),
    reduce: () => jit.reduce("mean", plane, sum, o.plane),
    "pool globalAverage": () => jit.pool("globalAverage", plane, sum, o.global),
    "pool max": () => jit.pool("max", img, four, o.max),
    "conv2d packed": () => jit.conv2d(img, packed, out, o.conv),
  };
}

if (values.child) {
  using jit = new Jit({ threads: 1, tuneBudget: 0 });
  const call = cases(jit)[values.child];
  for (let i = 0; i < 100_000; i++) call();
  const t: number[] = [];
  for (let r = 0; r < 31; r++) {
    const s = performance.now();
    for (let i = 0; i < 20_000; i++) call();
    t.push((performance.now() - s) / 20_000);
  }
  t.sort((p, q) => p - q);
  console.log((t[15] * 1e6).toFixed(1));
} else {
  using jit = new Jit({ threads: 1, tuneBudget: 0 });
  const names = values.cases?.split(",") ?? Object.keys(cases(jit));
  console.log("call                 ns (median, own process)");
  for (const name of names) {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--child", name],
      stderr: "inherit",
    }).outputSync();
    console.log(`${name.padEnd(20)} ${new TextDecoder().decode(out.stdout).trim()}`);
  }
}
