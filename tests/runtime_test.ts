import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { capIsa } from "../src/cpu.ts";
import { runFixture, toolAvailable } from "./helpers/fixture.ts";
import { rng } from "./helpers/random.ts";
import { GEMM } from "../src/kernels/gemm/mod.ts";
import type { Activation } from "../src/kernels/unary/read.ts";
import { assemble, Assembler, vreg } from "../asm/mod.ts";
import { checkedFor } from "../src/kernels/family.ts";

/** Small-integer operands: every f32 sum is exact, so all tiers agree bit for bit. */
function operands(m: number, n: number, k: number, seed = 1) {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) % 7) - 3;
  return {
    a: new Float32Array(m * k).map(next),
    b: new Float32Array(k * n).map(next),
    c: new Float32Array(m * n),
  };
}

Deno.test("runtime: a key compiles once, on its first call; it is hot from the threshold on", () => {
  using jit = new Jit({ threshold: 10 });
  const { a, b, c } = operands(8, 8, 8);
  jit.gemm(a, b, c, { m: 8, n: 8, k: 8 });
  let s = jit.stats();
  assert.equal(s.compiles, 1);
  assert.equal(s.keys[0].reason, "first-call");
  assert.equal(s.keys[0].hot, false);
  assert.ok(s.keys[0].firstCallUs! >= s.keys[0].compileUs, "first call includes its compile");
  for (let i = 0; i < 109; i++) jit.gemm(a, b, c, { m: 8, n: 8, k: 8 });
  s = jit.stats();
  assert.equal(s.compiles, 1);
  assert.equal(s.calls, 110);
  assert.equal(s.referenceCalls, 0, "no call runs on TypeScript where the JIT runs");
  assert.equal(s.kernelCalls, 110);
  assert.equal(s.hits + s.misses, s.calls);
  assert.equal(s.misses, 1);
  assert.equal(s.keys[0].state, "compiled");
  assert.equal(s.keys[0].hot, true);
  assert.ok(s.keys[0].kernelMeanUs! > 0);
  assert.ok(s.keys[0].kernelCycles > 0, "RDTSC cycles of kernel calls are counted");
  assert.ok(s.compileUs.total > 0 && s.compileUs.max >= s.compileUs.mean);
});

Deno.test("runtime: a key's mean µs per call leaves its cold first call out", () => {
  using jit = new Jit({ threads: 1 });
  // 16 MiB never written: the first call faults every page of y in (milliseconds), the second
  // writes the same pages warm.
  const x = new Float32Array(4 << 20).fill(-1), y = new Float32Array(4 << 20);
  jit.unary("relu", x, y);
  let k = jit.stats().keys[0];
  assert.equal(k.kernelMeanUs, k.totalUs, "one call: its own time");
  const first = k.totalUs;
  jit.unary("relu", x, y);
  k = jit.stats().keys[0];
  // The second call's time alone, not the mean of both. (Asserting it under half of both
  // failed where the allocator handed y pages already faulted in: the first call was not
  // cold then, about one suite run in four.)
  const second = k.totalUs - first;
  assert.ok(
    Math.abs(k.kernelMeanUs! - second) <= 1e-9 * k.totalUs,
    `mean ${k.kernelMeanUs} µs is the second call's ${second} µs (both: ${k.totalUs} µs)`,
  );
  assert.notEqual(first, second, "two calls of the same time: the test could not tell");
});

/** Operands of random non-integer values: sums round differently in any other order. */
function randomOperands(m: number, n: number, k: number, seed: number) {
  const r = rng(seed);
  const fill = (len: number) => new Float32Array(len).map(() => (r() - 0.5) * 3.7);
  return { a: fill(m * k), b: fill(k * n), c0: fill(m * n) };
}

Deno.test("runtime: a call gives the same bits on its 1st, 2nd and 500th run, after eviction and pinning", () => {
  // Every GEMM driver: tiny, direct with k split, skinny, dot (Bᵀ), packed, scale.
  const shapes = [
    [8, 8, 64, {}],
    [3, 5, 200, { alpha: 0.37, beta: -1.25 }],
    [4, 4096, 300, {}],
    [5, 1000, 700, { transB: true }],
    [200, 190, 600, { transA: true, beta: 0.5 }],
    [7, 9, 0, { beta: 3 }],
  ] as const;
  for (const seed of [1, 2]) {
    // A 1-kernel cache: the shapes evict each other, churn, and get pinned along the way.
    using jit = new Jit({ cacheCapacity: 1, threshold: 3 });
    const runs = new Map<number, Float32Array[]>();
    const data = shapes.map(([m, n, k], i) => randomOperands(m, n, k, seed * 100 + i));
    for (let round = 0; round < 6; round++) {
      shapes.forEach(([m, n, k, o], i) => {
        const c = data[i].c0.slice();
        jit.gemm(data[i].a, data[i].b, c, { m, n, k, ...o });
        runs.set(i, [...(runs.get(i) ?? []), c]);
      });
    }
    shapes.forEach(([m, n, k], i) => {
      const [first, ...rest] = runs.get(i)!;
      for (const [r, c] of rest.entries()) {
        const differ = c.findIndex((x, j) => !Object.is(x, first[j]));
        assert.equal(differ, -1, `seed ${seed}: ${m}x${n}x${k} run ${r + 2} differs at ${differ}`);
      }
    });
    const s = jit.stats();
    assert.equal(s.referenceCalls, 0);
    assert.ok(s.pinned >= 1, "churning keys were pinned");
    assert.ok(s.evictions >= 1);
  }
});

Deno.test("runtime: two shapes alternating through a 1-kernel cache stop recompiling", () => {
  using jit = new Jit({ cacheCapacity: 1 });
  const x = operands(16, 16, 16), y = operands(24, 24, 24);
  for (let i = 0; i < 1000; i++) {
    jit.gemm(x.a, x.b, x.c, { m: 16, n: 16, k: 16 });
    jit.gemm(y.a, y.b, y.c, { m: 24, n: 24, k: 24 });
  }
  const s = jit.stats();
  assert.ok(s.compiles <= 6, `${s.compiles} compiles in 2,000 calls`);
  assert.equal(s.pinned, 1);
  assert.deepEqual(s.keys.map((k) => k.state).sort(), ["compiled", "pinned"]);
  assert.equal(s.keys.find((k) => k.state === "pinned")!.reason, "pinned");
});

Deno.test("runtime: LRU order and eviction by count are exact; evicted keys recompile", () => {
  using jit = new Jit({ cacheCapacity: 3 });
  const run = (n: number) => {
    const { a, b, c } = operands(n, n, n);
    jit.gemm(a, b, c, { m: n, n, k: n });
  };
  const state = (n: number) =>
    jit.stats().keys.find((k) => k.key.startsWith(`gemm ${n}x${n}x${n} `))!.state;
  run(1);
  run(2);
  run(3);
  run(1); // 1 becomes most recent: 2 is now the least recent
  run(4); // evicts 2
  assert.equal(state(2), "evicted");
  assert.deepEqual([1, 3, 4].map(state), ["compiled", "compiled", "compiled"]);
  run(5); // evicts 3
  assert.equal(state(3), "evicted");
  run(2); // recompiles 2, evicts 1
  assert.equal(state(2), "compiled");
  assert.equal(state(1), "evicted");
  const s = jit.stats();
  assert.equal(s.evictions, 3);
  assert.equal(s.compiles, 6);
  assert.equal(s.kernels, 3);
  assert.equal(s.hits + s.misses, s.calls - s.referenceCalls);
});

Deno.test("runtime: eviction by bytes keeps live code within cacheBytes", () => {
  // Measure two kernels' sizes, then allow exactly those two.
  const sizes: number[] = [];
  {
    using probe = new Jit();
    for (const n of [20, 21, 22]) {
      const { a, b, c } = operands(n, n, n);
      probe.gemm(a, b, c, { m: n, n, k: n });
      sizes.push(probe.stats().keys.find((k) => k.key.startsWith(`gemm ${n}x`))!.codeBytes);
    }
  }
  const budget = sizes[0] + sizes[1];
  using jit = new Jit({ cacheBytes: budget });
  for (const n of [20, 21]) {
    const { a, b, c } = operands(n, n, n);
    jit.gemm(a, b, c, { m: n, n, k: n });
  }
  assert.equal(jit.stats().evictions, 0);
  assert.equal(jit.stats().codeBytes, budget);
  const { a, b, c } = operands(22, 22, 22);
  jit.gemm(a, b, c, { m: 22, n: 22, k: 22 }); // does not fit beside both: the least recent goes
  const s = jit.stats();
  // Least recent first: 20 goes; 21 goes too if 21 and 22 together still exceed the budget.
  const both = sizes[1] + sizes[2] <= budget;
  assert.equal(s.evictions, both ? 1 : 2);
  assert.equal(s.keys.find((k) => k.key.startsWith("gemm 20x"))!.state, "evicted");
  assert.equal(
    s.keys.find((k) => k.key.startsWith("gemm 21x"))!.state,
    both ? "compiled" : "evicted",
  );
  assert.equal(s.keys.find((k) => k.key.startsWith("gemm 22x"))!.state, "compiled");
  assert.equal(s.codeBytes, both ? sizes[1] + sizes[2] : sizes[2]);
  assert.equal(s.codeBytes, s.keys.reduce((t, k) => t + k.codeBytes, 0));
});

Deno.test("runtime: 100,000 compile/evict cycles of distinct shapes keep mappings and memory flat", async () => {
  const r = await runFixture("churn.ts", ["-A", "--v8-flags=--expose-gc"]) as Record<
    string,
    number
  >;
  assert.ok(r.compiles >= 150_000, `${r.compiles} compiles`);
  assert.equal(r.kernels, 4);
  assert.ok(r.keys <= 64 + 16, `${r.keys} keys kept`);
  assert.ok(
    r.maxMaps <= r.mapsBefore + 16,
    `code mappings grew from ${r.mapsBefore} to ${r.maxMaps}`,
  );
  assert.ok(r.heapGrowth < 2 << 20, `live heap grew by ${(r.heapGrowth / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(
    r.rssGrowth < 16 << 20,
    `resident memory grew by ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`,
  );
});

Deno.test("runtime: close() releases everything and later use throws", () => {
  const jit = new Jit();
  const { a, b, c } = operands(4, 4, 4);
  jit.gemm(a, b, c, { m: 4, n: 4, k: 4 });
  const k = jit.compileGemm({ m: 4, n: 4, k: 4 });
  jit.close();
  assert.throws(() => jit.gemm(a, b, c, { m: 4, n: 4, k: 4 }), /closed/);
  assert.throws(() => k.run(a, b, c), /closed/);
  jit.close(); // idempotent
});

Deno.test("runtime: options and environment knobs are validated", () => {
  assert.throws(() => new Jit({ threshold: -1 }), RangeError);
  assert.throws(() => new Jit({ cacheCapacity: 0 }), RangeError);
  assert.throws(() => new Jit({ cacheBytes: 0 }), RangeError);
  assert.throws(() => new Jit({ maxIsa: "avx9" as never }), RangeError);
  using capped = new Jit({ maxIsa: "sse2" });
  const expected = capIsa(isaLevel(), "sse2"); // NJIT_MAX_ISA may cap lower still
  assert.equal(capped.isa, expected);
  const { a, b, c } = operands(16, 16, 16);
  const k = capped.compileGemm({ m: 16, n: 16, k: 16 });
  assert.match(k.plan.description, new RegExp(expected === "sse2" ? "sse2" : "scalar"));
  k.run(a, b, c);
  assert.throws(
    () => new Jit({ caches: { l2: 1000 } }),
    /caches\.l2 must be an integer from 65536/,
  );
  assert.throws(() => new Jit({ caches: { l1d: 0.5 } }), /caches\.l1d must be/);
  assert.throws(() => new Jit({ caches: 3 as never }), /caches must be an object/);
});

Deno.test("runtime: the caches option steers plans, never results", () => {
  // The plan between a 1 and a 4 MiB L2, k whole both ways (K blocks sized by L2 would add
  // each block's sums to C: other bits). AVX-512: 100×1000×500, B (2 MB) with its next strip
  // prefetched, or read as a small operand (in place or copied). AVX2: 1100×300×400 (rows
  // past those that copy B into panels, 2.2 MB of operands), packed or direct. SSE2:
  // 300×2000×1030, the packed kernel's N block.
  const level = isaLevel();
  const [m, n, k] = level === "avx2"
    ? [1100, 300, 400]
    : level === "avx512" || level === "amx"
    ? [100, 1000, 500]
    : [300, 2000, 1030];
  const r = rng(77);
  const a = new Float32Array(m * k).map(() => r() - 0.5);
  const b = new Float32Array(k * n).map(() => r() - 0.5);
  const plans: string[] = [], outs: Float32Array[] = [];
  for (const l2 of [1 << 20, 4 << 20]) {
    using jit = new Jit({ caches: { l2 } });
    const c = new Float32Array(m * n);
    jit.gemm(a, b, c, { m, n, k });
    plans.push(jit.stats().keys[0].plan ?? "");
    outs.push(c);
  }
  if (isaLevel() !== "scalar") assert.notEqual(plans[0], plans[1]);
  // The first element that differs, not a diff of every one (deepEqual's message of 200,000
  // unequal floats took the process's whole memory).
  const at = outs[0].findIndex((v, i) => !Object.is(v, outs[1][i]));
  assert.equal(at, -1, `${plans.join(" vs ")}: c[${at}] ${outs[0][at]} against ${outs[1][at]}`);
});

Deno.test({
  name:
    "runtime: NJIT_DUMP writes .bin and .lst that objdump disassembles to the listing's instructions",
  ignore: !toolAvailable("objdump"),
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "njit-dump-" });
    try {
      // One thread: one kernel per key (a split key dumps each part, see threads_test.ts).
      using jit = new Jit({ dump: dir, threads: 1 });
      for (
        const [m, n, k, o] of [[37, 45, 19, {}], [300, 300, 300, {
          transB: true,
          alpha: 2,
          beta: 1,
        }]] as const
      ) {
        const { a, b, c } = operands(m, n, k);
        jit.gemm(a, b, c, { m, n, k, ...o });
      }
      const bins = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".bin"));
      assert.equal(bins.length, 2);
      const canonical: Record<string, string> = {
        jnz: "jne",
        jz: "je",
        jnae: "jb",
        jc: "jb",
        jnb: "jae",
        jnc: "jae",
        setnz: "setne",
        setz: "sete",
        cmovnz: "cmovne",
        cmovz: "cmove",
      };
      for (const bin of bins) {
        const path = `${dir}/${bin.name}`;
        const listing = Deno.readTextFileSync(path.replace(/\.bin$/, ".lst"));
        const code = Deno.readFileSync(path);
        // The listing reassembles to the dumped bytes.
        assert.deepEqual(assemble(listing), code);
        const out = new Deno.Command("objdump", {
          args: ["-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", path],
          stdout: "piped",
        }).outputSync();
        const theirs = new Map<number, string>();
        for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
          const m = /^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*([a-z0-9]+)/.exec(line);
          if (m) theirs.set(parseInt(m[1], 16), m[2]);
        }
        let compared = 0;
        for (const line of listing.split("\n")) {
          const m = /^\s+([a-z][a-z0-9]*)\b.*# ([0-9a-f]+):/.exec(line);
          if (!m) continue;
          const ours = canonical[m[1]] ?? m[1];
          const at = parseInt(m[2], 16);
          assert.equal(
            theirs.get(at),
            ours === "mov" && theirs.get(at) === "movabs" ? "movabs" : ours,
            `${bin.name} at 0x${m[2]}: ${line.trim()}`,
          );
          compared++;
        }
        assert.ok(compared > 50, `only ${compared} instructions compared`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("runtime: steady-state calls of every family allocate nothing (1,000,000 GEMM hits, 200,000 of each op, the 8-bit ones too)", async () => {
  const r = await runFixture("steady_alloc.ts", [
    "-A",
    "--v8-flags=--expose-gc,--min-semi-space-size=128,--max-semi-space-size=128",
  ]) as { steady: Record<string, number>; control: number };
  // One byte per call would be 200 KB-1 MB; the control loop (a small object per call) must show up.
  assert.ok(
    r.control > 8 << 20,
    `the control loop grew only ${r.control} bytes: the detector is blind`,
  );
  for (const [name, grew] of Object.entries(r.steady)) {
    assert.ok(grew < 64 << 10, `${name}: heap grew by ${grew} bytes in steady state`);
  }
  assert.equal(Object.keys(r.steady).length, 33);
});

Deno.test("runtime: changing any single field of a call selects a different kernel", () => {
  const base = {
    m: 6,
    n: 7,
    k: 5,
    transA: false,
    transB: false,
    lda: 5,
    ldb: 7,
    ldc: 7,
    alpha: 1,
    beta: 0,
    activation: { op: "clip", min: 0, max: 6 } as Activation,
    bias: undefined as Float32Array | undefined,
  };
  // One mutation per key field; a field added to the key without one here fails the test.
  type Batch = { batch?: number; strideA?: number; strideB?: number; strideC?: number };
  const mutations: Record<string, Partial<typeof base> & Batch> = {
    m: { m: 5 },
    n: { n: 6, ldb: 7, ldc: 7 },
    k: { k: 4, lda: 5 },
    transA: { transA: true, lda: 6 },
    transB: { transB: true, ldb: 5 },
    lda: { lda: 6 },
    ldb: { ldb: 8 },
    ldc: { ldc: 8 },
    alpha: { alpha: 2 },
    beta: { beta: 1 },
    bias: { bias: new Float32Array(7) },
    // The same two parameter values under another op: only the op slot changes.
    activation: { activation: { op: "hardSigmoid", alpha: 0, beta: 6 } },
    activationP0: { activation: { op: "clip", min: -1, max: 6 } },
    activationP1: { activation: { op: "clip", min: 0, max: 5 } },
    // Not an option: where B starts in a cache line (checked apart, below).
    bPeel: {},
    batch: { batch: 2, strideC: 42 },
    strideA: { batch: 2, strideA: 30, strideC: 42 },
    strideB: { batch: 2, strideB: 35, strideC: 42 },
    strideC: { batch: 2, strideC: 43 },
    // Not an option: B packed in panels (checked apart, below).
    bPanel: {},
  };
  assert.deepEqual(Object.keys(mutations), [...GEMM.keyFields]);
  using jit = new Jit();
  const a = new Float32Array(128), b = new Float32Array(128), c = new Float32Array(128);
  jit.gemm(a, b, c, base);
  jit.gemm(a, b, c, base);
  assert.equal(jit.stats().compiles, 1);
  for (const [field, change] of Object.entries(mutations)) {
    if (field === "bPeel" || field === "bPanel") continue;
    const before = jit.stats();
    jit.gemm(a, b, c, { ...base, ...change });
    const after = jit.stats();
    assert.equal(after.keys.length, before.keys.length + 1, `changing ${field} found an old key`);
    assert.equal(after.compiles, before.compiles + 1, `changing ${field} compiled nothing`);
    jit.gemm(a, b, c, base); // the base key is still its own
    assert.equal(jit.stats().compiles, after.compiles, `the base call recompiled after ${field}`);
  }
  // bPeel: the same call with B one float further into its cache line (rows of 32 floats).
  const wide = { m: 4, n: 32, k: 4 };
  const bb = new Float32Array(4 * 32 + 16), cc = new Float32Array(4 * 32);
  jit.gemm(a, bb.subarray(0, 128), cc, wide);
  const before = jit.stats();
  jit.gemm(a, bb.subarray(1, 129), cc, wide);
  assert.equal(jit.stats().compiles, before.compiles + 1, "changing bPeel compiled nothing");
  // bPanel: the same B packed as rows, then as panels (both op(B), the same product).
  const rows = jit.packB(b, { k: 5, n: 7, layout: "rows" }),
    panels = jit.packB(b, { k: 5, n: 7 });
  const plain = { m: 6, n: 7, k: 5 };
  jit.gemm(a, rows, c, plain);
  const beforePanels = jit.stats();
  jit.gemm(a, panels, c, plain);
  const afterPanels = jit.stats();
  assert.equal(afterPanels.compiles, beforePanels.compiles + 1, "changing bPanel compiled nothing");
  assert.ok(afterPanels.keys.some((k) => k.key.endsWith("bpanels=64")), "no key names its panels");
});

Deno.test("a GemmKernel keeps its Jit's code alive after every other reference is collected", async () => {
  // Before: the collected Jit's FinalizationRegistry freed the kernel under its live handle.
  const r = await runFixture("kernel_outlives.ts", [
    "--allow-ffi",
    "--allow-env",
    "--allow-read",
    "--v8-flags=--expose-gc",
  ]);
  assert.equal(r.c0, 8);
});

Deno.test("runtime: code below AVX-512 holds no EVEX instruction, below AVX2 no VEX one (else refused)", () => {
  const program = (evex: boolean) => {
    const a = new Assembler();
    if (evex) a.emit("vaddps", vreg(256, 16), vreg(256, 1), vreg(256, 2)); // ymm16: EVEX only
    a.emit("vaddps", vreg(256, 0), vreg(256, 1), vreg(256, 2));
    a.emit("ret");
    return a.finish();
  };
  const target = (isa: "avx2" | "avx512") => ({ isa, l1d: 49152, l2: 1 << 21 });
  assert.equal(program(true).evexInstructions, 1);
  assert.equal(program(false).evexInstructions, 0);
  assert.throws(
    () => checkedFor(program(true), target("avx2"), "probe"),
    /probe: 1 EVEX instruction\(s\) in code for avx2/,
  );
  assert.equal(checkedFor(program(false), target("avx2"), "probe").evexInstructions, 0);
  assert.equal(checkedFor(program(true), target("avx512"), "probe").evexInstructions, 1);
  // Below AVX2 no VEX either (vaddps ymm is VEX).
  assert.equal(program(false).vexInstructions, 1);
  assert.throws(
    () => checkedFor(program(false), { ...target("avx2"), isa: "sse2" }, "probe"),
    /probe: 1 VEX instruction\(s\) in code for sse2/,
  );
});
