// Tier 2 (tuning on live calls): every candidate of a key gives the tier-1
// kernel's bits, the budget holds, the tuning cache round-trips and refuses
// what is not its CPU's.
import assert from "node:assert/strict";
import { Assembler, dword, type Program, r8, r9, rax, rcx, XMM } from "../asm/mod.ts";
const xmm0 = XMM[0];
import { blocksShortRows, cpuFeatures, type IsaLevel, levelsUpTo } from "../src/cpu.ts";
import { countedLoop, loadPointer } from "../src/kernels/abi.ts";
import type { KernelPlan, OpFamily } from "../src/kernels/family.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { TUNE } from "../src/runtime/policy.ts";
import { ChainSteps, Jit, type JitStats } from "../mod.ts";
import { rng as seededRandom } from "./helpers/random.ts";

// These tests are of tier 2 itself: whatever budget the environment sets for others.
Deno.env.delete("NJIT_TUNE_BUDGET");
const JIT = cpuFeatures().jit;
/** GEMM keys have candidates (SIMD tiles): not under NJIT_MAX_ISA=scalar. */
const GEMM_TUNES = JIT && cpuFeatures().isa !== "scalar";
const LEVELS: IsaLevel[] = JIT
  ? levelsUpTo(cpuFeatures().isa).filter((l) => l !== "scalar" && l !== "amx")
  : [];

/** Seeded floats in [-1, 1) (not small integers: a changed summation order changes bits). */
function floats(n: number, rand: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

/** The key called most: the one under test (a packB before it compiled a copy key). */
function calledMost(jit: Jit): JitStats["keys"][number] {
  return jit.stats().keys.reduce((a, b) => (b.calls > a.calls ? b : a));
}

/**
 * Calls `call` in warm-up mode until the key is tuned, each call's output
 * against the first's, bit for bit; returns the key's stats.
 */
function tuneAndCompare(
  jit: Jit,
  what: string,
  reset: () => void,
  call: () => void,
  out: Float32Array,
  mayFail = false,
  mayHaveNone = false,
): JitStats["keys"][number] {
  reset();
  call();
  const first = new Uint32Array(out.slice().buffer);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  jit.warmup(true);
  for (let i = 0; i < 400; i++) {
    reset();
    call();
    for (let j = 0; j < bits.length; j++) {
      if (bits[j] !== first[j]) {
        const k = calledMost(jit);
        assert.fail(
          `${what}: call ${i} (tuning ${k.tuning?.state}, candidates ${
            k.tuning?.candidates.map((c) => `${c.plan} parts=${c.parts}`).join("; ")
          }) changed element ${j}: ${first[j].toString(16)} → ${bits[j].toString(16)}`,
        );
      }
    }
    if (calledMost(jit).tuning?.state === "done") break;
  }
  jit.warmup(false);
  const k = calledMost(jit);
  // A key whose family offered no other plan (its tier 1 the only one): nothing to compare.
  if (mayHaveNone && k.tuning === null) return k;
  assert.equal(k.tuning?.state, "done", `${what}: tuning did not end`);
  let built = 0;
  for (const c of k.tuning!.candidates) {
    // A conv candidate may find the registers short for its epilogue at build
    // time (the planner's estimate is the same for tier 1): dropped, never run.
    if (mayFail && c.failure !== null) {
      assert.equal(c.samples, 0);
      continue;
    }
    // Compiled to an earlier candidate's code and parts: those calls were measured there.
    if (c.sameAs !== null) {
      assert.ok(c.sameAs >= 0 && c.sameAs < k.tuning!.candidates.indexOf(c), `${what}: ${c.plan}`);
      assert.equal(c.samples, 0);
      assert.equal(c.failure, null);
      continue;
    }
    assert.equal(c.failure, null, `${what}: candidate ${c.plan} could not be built`);
    assert.ok(c.samples > 0, `${what}: candidate ${c.plan} parts=${c.parts} never ran`);
    built++;
  }
  assert.ok(built >= Math.min(2, k.tuning!.candidates.length), `${what}: only tier 1 was built`);
  return k;
}

const GEMM_SHAPES: {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  bias?: boolean;
  activation?: "relu" | "gelu";
  panels?: boolean;
  /** Streams B row by row: its one candidate is its split, so none on one thread. */
  skinny?: boolean;
}[] = [
  { m: 64, n: 96, k: 80 },
  { m: 37, n: 53, k: 71, beta: 1 },
  { m: 33, n: 70, k: 45, alpha: 0.5, beta: 0.25 },
  { m: 50, n: 45, k: 64, transB: true, bias: true, activation: "relu" },
  { m: 24, n: 200, k: 300, transA: true, bias: true, activation: "gelu" },
  { m: 96, n: 520, k: 700 }, // K blocked (medium M, B past L2)
  { m: 200, n: 300, k: 700, transB: true }, // Bᵀ past L2
  { m: 300, n: 280, k: 600, beta: 1 }, // packed
  { m: 1, n: 200, k: 300, bias: true, activation: "relu", panels: true }, // B in panels
  { m: 13, n: 130, k: 70, transB: true, alpha: 0.5, beta: 0.25, panels: true },
  { m: 20, n: 70, k: 2100, beta: 1, panels: true }, // long panels: K blocks
  { m: 1, n: 1030, k: 700, skinny: true }, // B past L2, split only by tier 2
  { m: 256, n: 256, k: 64, beta: 1 }, // strip rows sharing L1's sets: copied where the core copies
  { m: 40, n: 520, k: 48, bias: true }, // 8 strips: peeled where B lies off a line (Intel)
  { m: 100, n: 256, k: 64, transB: true }, // Bᵀ transposed with a padded stride
  // Bᵀ in L1 (row tiles outside): its transposed-strips candidate takes column tiles outside.
  { m: 2, n: 384, k: 2, transA: true, transB: true, alpha: -1, beta: 2 },
  { m: 2, n: 1030, k: 700, beta: 1, skinny: true },
];

for (const isa of LEVELS) {
  for (const threads of [1, 2]) {
    Deno.test(`tune: every GEMM candidate gives tier 1's bits (${isa}, ${threads} thread${threads > 1 ? "s" : ""})`, () => {
      for (const [i, sh] of GEMM_SHAPES.entries()) {
        const seed = 0x7e57 + i;
        const rand = seededRandom(seed);
        using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
        const ta = sh.transA ?? false, tb = sh.transB ?? false;
        const a = floats(sh.m * sh.k, rand), b = floats(sh.k * sh.n, rand);
        const c0 = floats(sh.m * sh.n, rand), c = c0.slice();
        const bias = sh.bias ? floats(sh.n, rand) : undefined;
        const packed = sh.panels
          ? jit.packB(b, { k: sh.k, n: sh.n, transB: tb, layout: "panels" })
          : null;
        const o = {
          m: sh.m,
          n: sh.n,
          k: sh.k,
          transA: ta,
          transB: tb,
          alpha: sh.alpha ?? 1,
          beta: sh.beta ?? 0,
          bias,
          activation: sh.activation,
        };
        const k = tuneAndCompare(
          jit,
          `gemm ${JSON.stringify({ ...sh, isa, threads, seed })}`,
          () => c.set(c0),
          () => jit.gemm(a, packed ?? b, c, packed ? { ...o, transB: false } : o),
          c,
          false,
          sh.skinny && threads === 1,
        );
        const skinny = k.plan?.includes("skinny") ?? false;
        if (sh.skinny && isa !== "sse2") assert.ok(skinny, `${k.key}: ${k.plan}`);
        if (threads === 1 && !skinny) {
          assert.ok(k.tuning!.candidates.length > 1, `${k.key}: no candidates at ${isa}`);
        }
        if (threads > 1 && skinny) {
          const split = k.tuning!.candidates.filter((c) => c.plan.includes("parts along N"));
          assert.ok(split.length > 0 && split.every((c) => c.samples > 0), `${k.key}: no split`);
        }
        // A split direct or packed call: tier 2 also cuts it along the other dimension
        // (listed before the tiles, so the candidate cap never leaves it out).
        // A split call of many row and column tiles: tier 2 also cuts it along the dimension
        // tier 1 does not (listed before the tiles, so the candidate cap never leaves it out).
        const other = k.tuning?.candidates.filter((c) => c.plan.includes("parts along")) ?? [];
        if (threads > 1 && !skinny && !sh.panels && sh.m >= 64 && sh.n >= 96) {
          assert.equal(other.length, 1, `${k.key}: ${k.tuning!.candidates.map((c) => c.plan)}`);
        }
        // Run, or compiled to the code and parts of one that ran (a split along N in 2 parts).
        const ran = (c: (typeof other)[number]) =>
          c.samples > 0 || (c.sameAs !== null && k.tuning!.candidates[c.sameAs].samples > 0);
        assert.ok(other.every(ran), `${k.key}: a split candidate never ran`);
      }
    });
  }
}

const CONV_SHAPES = [
  { n: 1, c: 16, h: 14, w: 14, outChannels: 24, kernel: [3, 3], pads: [1, 1, 1, 1] },
  { n: 1, c: 32, h: 9, w: 11, outChannels: 40, kernel: [1, 1] },
  {
    n: 2,
    c: 8,
    h: 15,
    w: 15,
    outChannels: 16,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  { n: 1, c: 64, h: 7, w: 7, outChannels: 300, kernel: [1, 1] }, // channel blocks
  { n: 1, c: 16, h: 10, w: 10, outChannels: 16, kernel: [3, 3], pads: [1, 1, 1, 1], group: 4 },
  // Depthwise (its own kernel at AVX-512): tiles of rows × vectors.
  { n: 1, c: 24, h: 19, w: 70, outChannels: 24, kernel: [3, 3], pads: [1, 1, 1, 1], group: 24 },
  {
    n: 1,
    c: 24,
    h: 21,
    w: 71,
    outChannels: 24,
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    group: 24,
  },
  // Input-channel passes (a deep 1×1), then packed weights: the channel-vector kernel at
  // AVX-512 (whole rows; pieces of rows) against the position-vector kernel's tiles.
  { n: 1, c: 260, h: 6, w: 9, outChannels: 24, kernel: [1, 1] },
  { n: 1, c: 24, h: 7, w: 7, outChannels: 40, kernel: [3, 3], pads: [1, 1, 1, 1], packed: true },
  { n: 1, c: 20, h: 9, w: 30, outChannels: 36, kernel: [3, 3], pads: [1, 1, 1, 1], packed: true },
  // NHWC: on the channel-vector kernel at AVX-512 (its tiles and splits), transposed elsewhere.
  {
    n: 1,
    c: 20,
    h: 9,
    w: 30,
    outChannels: 36,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    packed: true,
    layout: "nhwc" as const,
  },
];

for (const isa of LEVELS) {
  for (const threads of [1, 2]) {
    Deno.test(`tune: every conv candidate gives tier 1's bits (${isa}, ${threads} thread${threads > 1 ? "s" : ""})`, () => {
      for (const [i, sh] of CONV_SHAPES.entries()) {
        const seed = 0xc0 + i;
        const rand = seededRandom(seed);
        using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
        const g = sh.group ?? 1, s = sh.strides?.[0] ?? 1, p = sh.pads?.[0] ?? 0;
        const oh = Math.floor((sh.h + 2 * p - sh.kernel[0]) / s) + 1;
        const ow = Math.floor((sh.w + 2 * p - sh.kernel[1]) / s) + 1;
        const x = floats(sh.n * sh.c * sh.h * sh.w, rand);
        const plain = floats(sh.outChannels * (sh.c / g) * sh.kernel[0] * sh.kernel[1], rand);
        const w = sh.packed
          ? jit.packConvWeights(plain, { outChannels: sh.outChannels, c: sh.c, kernel: sh.kernel })
          : plain;
        const bias = floats(sh.outChannels, rand);
        const residual = floats(sh.n * sh.outChannels * oh * ow, rand);
        const y = new Float32Array(residual.length);
        const o = {
          ...sh,
          packed: undefined,
          bias,
          residual,
          activation: i % 2 ? "relu" as const : "sigmoid" as const,
        };
        tuneAndCompare(
          jit,
          `conv2d ${JSON.stringify({ ...sh, isa, threads, seed })}`,
          () => {},
          () => jit.conv2d(x, w, y, o),
          y,
          true,
        );
      }
    });
  }
}

// --- A synthetic family: y = x + x, by a plan whose `reps` repeats the
// whole pass (same bits every time); one candidate repeats it 200 times.
interface SynthPlan extends KernelPlan {
  reps: number;
}
interface SynthSpec {
  n: number;
}
const SYNTH: OpFamily<SynthSpec, SynthPlan> = {
  name: "synth",
  keyFields: ["n"],
  operands: ["x", "y"],
  outputs: 1,
  decode: (key) => ({ n: key[1] }),
  describe: (s) => `synth n=${s.n}`,
  cost: (s) => ({ flops: s.n, bytes: 8 * s.n }),
  plan: () => ({ reps: 1, workspaceBytes: 0, description: "once" }),
  fallbackPlan: () => ({ reps: 1, workspaceBytes: 0, description: "once" }),
  candidates: () => [
    { reps: 200, workspaceBytes: 0, description: "200 times (slow)" },
    { reps: 2, workspaceBytes: 0, description: "twice" },
  ],
  generate: (s, p, o): Program => {
    const a = new Assembler({ listing: o.listing });
    countedLoop(a, r9, p.reps, () => {
      loadPointer(a, rax, 0);
      loadPointer(a, rcx, 1);
      countedLoop(a, r8, s.n, () => {
        a.emit("movss", xmm0, dword(rax, 0));
        a.emit("addss", xmm0, xmm0);
        a.emit("movss", dword(rcx, 0), xmm0);
        a.emit("add", rax, 4);
        a.emit("add", rcx, 4);
      });
    });
    a.emit("ret");
    return a.finish();
  },
  reference: (s, [x, y]) => {
    for (let i = 0; i < s.n; i++) y[i] = x[i] + x[i];
  },
};

function synthRuntime(threshold: number, owner: object): Runtime {
  return new Runtime({
    threshold,
    capacity: 16,
    maxBytes: 1 << 20,
    keyCapacity: 64,
    profile: true,
    verbose: false,
    dump: undefined,
    jit: true,
    isa: "sse2",
    target: { isa: "sse2", l1d: 32 << 10, l2: 1 << 20 },
    threads: 1,
    minPartNs: 1500,
    tuneBudget: TUNE.budget,
    tuneCache: null,
    codeCache: null,
    families: [SYNTH],
  }, owner);
}

function synthCall(rt: Runtime, x: Float32Array, y: Float32Array): void {
  rt.operand(SYNTH, 0, x);
  rt.operand(SYNTH, 1, y);
  rt.key[1] = x.length;
  rt.extents[0] = rt.extents[1] = 4 * x.length;
  rt.run(0);
}

Deno.test({
  name: "tune: the budget holds on a family with a deliberately slow candidate",
  ignore: !JIT,
  fn() {
    const owner = {};
    const rt = synthRuntime(50, owner);
    const n = 2048;
    const x = floats(n, seededRandom(5)), y = new Float32Array(n), want = new Float32Array(n);
    SYNTH.reference({ n }, [x, want]);
    let calls = 0, waited = false;
    const budgetOk = () => {
      const k = rt.stats().keys[0];
      const t = k.tuning;
      if (t === null) return;
      if (t.state === "waiting") waited = true;
      // Spent within the budget of the key's measured run time before its
      // latest action (the budget is checked before each compile or call; the
      // action's own cost is known only once it ran).
      const allowed = TUNE.budget * k.totalUs;
      assert.ok(
        t.spentUs - t.lastSpendUs <= allowed,
        `after ${calls} calls: spent ${t.spentUs.toFixed(1)} µs (the latest action ${
          t.lastSpendUs.toFixed(1)
        }) > ${allowed.toFixed(1)} µs`,
      );
      // And the budget a live tuning reports is that same fraction (a finished one's stats
      // are those of its last call).
      if (t.state !== "done") {
        assert.ok(Math.abs((t.budgetUs ?? 0) - allowed) <= 0.01 * allowed + 1);
      }
    };
    // A compile slowed by a loaded machine raises the next one's estimate: allow many calls.
    while (calls < 2_000_000) {
      synthCall(rt, x, y);
      calls++;
      if (calls % 97 === 0) {
        assert.deepEqual(y, want);
        budgetOk();
        if (rt.stats().keys[0].tuning?.state === "done") break;
      }
    }
    const k = rt.stats().keys[0];
    assert.equal(
      k.tuning?.state,
      "done",
      `not tuned after ${calls} calls: ${JSON.stringify(k.tuning)}, ${k.totalUs} µs run`,
    );
    assert.ok(waited, "the budget never held tuning back: the test does not test it");
    const slow = k.tuning!.candidates.findIndex((c) => c.plan.startsWith("200"));
    assert.notEqual(k.tuning!.winner, slow);
    assert.equal(k.plan, k.tuning!.candidates[k.tuning!.winner!].plan);
    // The slow candidate stopped being measured after the least rounds.
    assert.ok(k.tuning!.candidates[slow].samples <= TUNE.rounds.min);
    budgetOk();
    for (let i = 0; i < 100; i++) synthCall(rt, x, y);
    assert.deepEqual(y, want);
    rt.close();
  },
});

Deno.test({
  name: "tune: a key that never turns hot is never tuned; tuneBudget 0 never tunes",
  ignore: !JIT,
  fn() {
    const owner = {};
    const rt = synthRuntime(1000, owner);
    const x = floats(64, seededRandom(6)), y = new Float32Array(64);
    for (let i = 0; i < 999; i++) synthCall(rt, x, y);
    assert.equal(rt.stats().keys[0].tuning, null);
    rt.close();
    using jit = new Jit({ tuneBudget: 0 });
    const a = new Float32Array(64 * 64);
    jit.warmup(true);
    for (let i = 0; i < 300; i++) jit.gemm(a, a, a.slice(), { m: 64, n: 64, k: 64 });
    assert.equal(jit.stats().keys[0].tuning, null);
    assert.throws(() => new Jit({ tuneBudget: -1 }), RangeError);
    assert.throws(() => new Jit({ tuneCache: "" }), RangeError);
  },
});

function tuneOnce(path: string): { stats: JitStats["keys"][number]; out: Float32Array } {
  using jit = new Jit({ tuneCache: path, threads: 1 });
  const rand = seededRandom(9);
  const a = floats(96 * 200, rand), b = floats(200 * 130, rand), c = new Float32Array(96 * 130);
  jit.warmup(true);
  const settled = () => ["done", "cached"].includes(jit.stats().keys[0]?.tuning?.state ?? "");
  for (let i = 0; i < 400 && !settled(); i++) {
    jit.gemm(a, b, c, { m: 96, n: 130, k: 200 });
  }
  jit.warmup(false);
  jit.gemm(a, b, c, { m: 96, n: 130, k: 200 });
  return { stats: jit.stats().keys[0], out: c };
}

Deno.test({
  name: "tune: the tuning cache round-trips; another CPU's section is ignored and kept",
  ignore: !GEMM_TUNES,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const path = `${dir}/tune.json`;
      const first = tuneOnce(path);
      assert.equal(first.stats.tuning?.state, "done");
      const file = JSON.parse(Deno.readTextFileSync(path));
      assert.equal(file.format, "njit-tune-cache");
      assert.equal(file.cpus.length, 1);
      const entry = Object.values(file.cpus[0].keys)[0] as { plan: string; parts: number };
      assert.equal(entry.plan, first.stats.plan);
      // A new process (a new Jit) starts on the tuned plan, with the same bits.
      const second = tuneOnce(path);
      assert.equal(second.stats.tuning?.state, "cached");
      assert.equal(second.stats.plan, first.stats.plan);
      assert.equal(second.stats.calls, 2); // cached from its first call
      assert.deepEqual(second.out, first.out);
      // The same entries under another CPU: not used, and kept when this CPU's are written.
      file.cpus[0].cpu.brand = "Some Other CPU";
      file.cpus[0].keys[Object.keys(file.cpus[0].keys)[0]].id = "1|{}";
      Deno.writeTextFileSync(path, JSON.stringify(file));
      const third = tuneOnce(path);
      assert.equal(third.stats.tuning?.state, "done");
      const after = JSON.parse(Deno.readTextFileSync(path));
      assert.deepEqual(after.cpus.map((c: { cpu: { brand: string } }) => c.cpu.brand), [
        "Some Other CPU",
        cpuFeatures().brand,
      ]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "tune: a corrupt tuning cache is reported and ignored; an entry that is no candidate is ignored",
  ignore: !GEMM_TUNES,
  fn() {
    const dir = Deno.makeTempDirSync();
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      const path = `${dir}/tune.json`;
      for (
        const bad of [
          "{ not json",
          JSON.stringify({ format: "other" }),
          JSON.stringify({ format: "njit-tune-cache", version: 99, cpus: [] }),
          JSON.stringify({ format: "njit-tune-cache", version: 1, cpus: [{ cpu: {}, keys: {} }] }),
        ]
      ) {
        Deno.writeTextFileSync(path, bad);
        warnings.length = 0;
        const r = tuneOnce(path);
        assert.equal(warnings.length, 1, `${bad}: ${warnings.join("; ")}`);
        assert.match(warnings[0], /tuning cache .* ignored/);
        assert.equal(r.stats.tuning?.state, "done");
      }
      // A well-formed entry naming a plan the family does not offer: tuned afresh.
      const file = JSON.parse(Deno.readTextFileSync(path));
      const key = Object.keys(file.cpus[0].keys)[0];
      file.cpus[0].keys[key].id = `1|${
        JSON.stringify({ level: 3, path: "direct", direct: { mr: 99 } })
      }`;
      Deno.writeTextFileSync(path, JSON.stringify(file));
      const r = tuneOnce(path);
      assert.equal(r.stats.tuning?.state, "done");
    } finally {
      console.warn = warn;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "tune: eviction, close and jit.async during tuning keep results and never crash",
  ignore: !GEMM_TUNES,
  async fn() {
    const rand = seededRandom(11);
    const shapes = [[40, 70, 90], [33, 66, 99], [50, 64, 80]];
    const ops = shapes.map(([m, n, k]) => ({
      a: floats(m * k, rand),
      b: floats(k * n, rand),
      c: new Float32Array(m * n),
      want: new Float32Array(m * n),
      o: { m, n, k },
    }));
    {
      // Reference bits from a Jit that never tunes.
      using ref = new Jit({ tuneBudget: 0 });
      for (const x of ops) ref.gemm(x.a, x.b, x.want, x.o);
    }
    // Three keys through a 2-kernel cache: tuning keys are evicted mid-way, again and again.
    using jit = new Jit({ cacheCapacity: 2, threads: 1 });
    jit.warmup(true);
    for (let i = 0; i < 600; i++) {
      const x = ops[(i * 7 + (i >> 3)) % 3];
      jit.gemm(x.a, x.b, x.c, x.o);
      assert.deepEqual(x.c, x.want, `call ${i}`);
      if (i % 50 === 0) {
        // Recorded calls are not timed: they run the key's current kernel.
        await jit.async(() => {
          for (const y of ops) jit.gemm(y.a, y.b, y.c, y.o);
        });
        for (const y of ops) assert.deepEqual(y.c, y.want);
      }
    }
    // Then as many more calls as the tunings restarted after the evictions need (each
    // key's third compile pins it; a tuning takes up to ~200 calls in warm-up).
    const settled = () => jit.stats().keys.every((k) => k.tuning?.state === "done");
    for (let i = 0; i < 3000 && !settled(); i++) {
      const x = ops[i % 3];
      jit.gemm(x.a, x.b, x.c, x.o);
      assert.deepEqual(x.c, x.want, `call ${600 + i}`);
    }
    jit.warmup(false);
    // Every key was evicted mid-tuning (they tune from their 2nd call), then pinned as a
    // churning key, then tuned again out of the LRU.
    const st = jit.stats();
    assert.ok(st.evictions > 0 && st.pinned > 0, "no eviction cut a tuning short: untested");
    for (const k of st.keys) assert.equal(k.tuning?.state, "done", k.key);
    // Closing in the middle of a tuning frees everything; later calls throw.
    using other = new Jit({ threads: 1 });
    other.warmup(true);
    for (let i = 0; i < 10; i++) other.gemm(ops[0].a, ops[0].b, ops[0].c, ops[0].o);
    assert.equal(other.stats().keys[0].tuning?.state, "measuring");
    other.close();
    assert.throws(() => other.gemm(ops[0].a, ops[0].b, ops[0].c, ops[0].o), /closed/);
    assert.throws(() => other.warmup(false), /closed/);
  },
});

Deno.test({
  name: "tune: a candidate compiled to an earlier one's code and parts is not measured",
  ignore: !GEMM_TUNES || cpuFeatures().isa === "sse2",
  fn() {
    // 48×96×128 on 2 threads: tier 1 splits along M; in 2 parts the call splits along N (n >
    // m), as the candidate "parts along N" in 8 does: two column tiles give 2 parts either way.
    const rand = seededRandom(21);
    const [m, n, k] = [48, 96, 128];
    const a = floats(m * k, rand), b = floats(k * n, rand), c = new Float32Array(m * n);
    using jit = new Jit({ threads: 2, minPartUs: 0 });
    const t = tuneAndCompare(jit, "48×96×128", () => {}, () => jit.gemm(a, b, c, { m, n, k }), c)
      .tuning!;
    const same = t.candidates.filter((x) => x.sameAs !== null);
    assert.ok(same.length > 0, t.candidates.map((x) => `${x.plan} parts=${x.parts}`).join("; "));
    for (const x of same) {
      const of = t.candidates[x.sameAs!];
      assert.equal(x.samples, 0);
      assert.ok(x.compileUs > 0 && of.samples > 0, `${x.plan}: ${JSON.stringify(of)}`);
    }
  },
});

Deno.test({
  name: "tune: calls made through jit.async are timed where they run and tune the key, same bits",
  ignore: !GEMM_TUNES,
  async fn() {
    const rand = seededRandom(12);
    const [m, n, k] = [48, 96, 128];
    const a = floats(m * k, rand), b = floats(k * n, rand), c = new Float32Array(m * n);
    for (const threads of [1, 2]) {
      using jit = new Jit({ threads, minPartUs: threads > 1 ? 0 : undefined });
      const o = { m, n, k };
      await jit.async(() => jit.gemm(a, b, c, o));
      const first = c.slice();
      jit.warmup(true);
      let lists = 0;
      for (; lists < 400 && jit.stats().keys[0].tuning?.state !== "done"; lists++) {
        c.fill(NaN);
        // Several calls of the key per list: one of them is timed, the others run its kernel.
        await jit.async(() => {
          jit.gemm(a, b, c, o);
          jit.gemm(a, b, c, o);
        });
        assert.deepEqual(c, first, `threads ${threads}, list ${lists}`);
      }
      jit.warmup(false);
      const t = jit.stats().keys[0].tuning!;
      assert.equal(t.state, "done", `threads ${threads}: not tuned after ${lists} lists`);
      for (const cand of t.candidates) {
        // One that compiled to an earlier one's code and parts is timed as that one.
        const timed = cand.sameAs === null ? cand : t.candidates[cand.sameAs];
        assert.ok(timed.samples > 0 && timed.medianUs! > 0, `${cand.plan}: never timed`);
      }
      // An aborted recording leaves no timed call pending.
      await assert.rejects(jit.async(() => {
        jit.gemm(a, b, c, o);
        throw new Error("stop");
      }));
      await jit.async(() => jit.gemm(a, b, c, o));
      assert.deepEqual(c, first);
    }
  },
});

for (const isa of LEVELS) {
  Deno.test(`tune: every unary and chain candidate (interleaving) gives tier 1's bits (${isa})`, () => {
    const rand = seededRandom(0x0e1e);
    const x = floats(4099, rand).map((v) => v * 6);
    x[7] = NaN;
    x[8] = -Infinity;
    for (const op of ["tanh", "log", "gelu", "softplus"] as const) {
      using jit = new Jit({ maxIsa: isa, threads: 1 });
      const y = new Float32Array(x.length);
      const k = tuneAndCompare(jit, `unary ${op} (${isa})`, () => {}, () => jit.unary(op, x, y), y);
      assert.ok(k.tuning!.candidates.length >= 3, `${op}: no candidates`);
    }
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const y = new Float32Array(x.length);
    const steps = new ChainSteps([{ op: "mul", value: 0.3 }, "sigmoid", { op: "mul", x: true }]);
    tuneAndCompare(jit, `chain (${isa})`, () => {}, () => jit.chain(x, y, steps), y);
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: reduce candidates (short rows prefetched or not) give tier 1's bits (${isa})`, () => {
    const rand = seededRandom(0x4ed0);
    // Global average pooling's rows (7² planes): AVX-512 sums them a register per row (the
    // candidate; other levels have none).
    const rows = 4096, x = floats(rows * 49, rand).map((v) => v * 100);
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const y = new Float32Array(rows);
    const k = tuneAndCompare(
      jit,
      `reduce mean (${isa})`,
      () => {},
      () => jit.reduce("mean", x, y, { rows, cols: 49 }),
      y,
      false,
      isa !== "avx512",
    );
    if (isa === "avx512") assert.equal(k.tuning!.candidates.length, 2, `${k.plan}`); // tier 1 and the flip
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: every layerNorm and rmsNorm candidate (pairs, prefetching) gives tier 1's bits (${isa})`, () => {
    const rand = seededRandom(0x1a7e);
    // Two rows at AVX-512: pass 3 two rows behind with no loop between the lead rows and the last passes.
    // Rows of whole vectors, x at two offsets (one of them off a line): AVX-512
    // reads them along x's lines or not.
    const shapes = [
      ...(isa === "avx512" ? [[2, 300, 0]] : []),
      [37, 300, 0],
      [64, 1000, 0],
      [40, 512, 0],
      [40, 512, 5],
    ];
    for (const [rows, cols, at] of shapes) {
      const x = floats(rows * cols + at, rand).subarray(at), r = floats(rows * cols, rand);
      const scale = floats(cols, rand), bias = floats(cols, rand);
      // Row 5 of x + r: its first vector far from the rest, so its variance takes the third pass.
      for (let j = 0; j < 16; j++) x[5 * cols + j] = 50;
      // RMSNorm without a residual too: with x off y's offset (the last shape) AVX-512 stores
      // along y's lines in every pipelined candidate, as LayerNorm does with one.
      for (const kind of ["layer", "rms", "rms alone"] as const) {
        using jit = new Jit({ maxIsa: isa, threads: 1 });
        const y = new Float32Array(x.length);
        const o = { rows, cols, residual: kind === "rms alone" ? undefined : r, scale };
        const k = tuneAndCompare(
          jit,
          `${kind}Norm ${rows}×${cols} (${isa})`,
          () => {},
          () => kind === "layer" ? jit.layerNorm(x, y, { ...o, bias }) : jit.rmsNorm(x, y, o),
          y,
        );
        assert.ok(
          k.tuning!.candidates.length >= (isa === "avx512" ? 4 : 2),
          `${k.key}: candidates`,
        );
      }
    }
  });

  Deno.test(`tune: softmax candidates (rows prefetched or not; scaled along lines or not; short rows pipelined or not) give tier 1's bits (${isa})`, () => {
    const rand = seededRandom(0x50f7);
    // Long rows: prefetched or not. Short rows at AVX-512: in blocks of 16
    // (41: two and a last of 9; 23: one and 7), or through the pipelined
    // stages three in flight or one at a time (odd counts: the pipeline's
    // prologue and epilogue);
    // below AVX-512 they are read from memory, prefetched or not, and
    // overlapped (passes 3 and 1 of the rows either side in one loop) or not.
    for (const [rows, cols] of [[40, 1000], [41, 128], [23, 100]]) {
      const x = floats(rows * cols, rand).map((v) => v * 20);
      x[3 * cols + 7] = -Infinity; // a masked entry: an exact zero either way
      for (const log of [false, true]) {
        using jit = new Jit({ maxIsa: isa, threads: 1 });
        const y = new Float32Array(x.length);
        const where = `softmax log=${log} ${rows}×${cols} (${isa})`;
        const call = () => jit.softmax(x, y, { rows, cols, log });
        const k = tuneAndCompare(jit, where, () => {}, call, y);
        const short512 = isa === "avx512" && cols <= 128;
        if (short512) {
          // Tier 1 in blocks where the core asks (Intel) and for logSoftmax, else three in
          // flight; the other forms its candidates.
          const plans = k.tuning!.candidates.map((c) => c.plan);
          if (blocksShortRows(cpuFeatures()) || log) {
            assert.match(plans[0], /rows in blocks of 16/, where);
            assert.match(plans.slice(1).join(" | "), /3 in flight \| .*one at a time/, where);
          } else {
            assert.match(plans[0], /rows in registers, 3 in flight/, where);
            assert.match(plans.slice(1).join(" | "), /blocks of 16.*\| .*one at a time/, where);
          }
        }
        // AVX-512 rows read from memory: along the lines or as the rows lie too.
        const alongLines = isa === "avx512" && cols > 192;
        const overlaps = isa === "avx2" || isa === "sse2";
        // Tier 1's rows prefetched (past L2, or within it where the core asks): y's lines
        // claimed or not besides.
        const claims = k.tuning!.candidates[0].plan.includes("rows prefetched") ? 1 : 0;
        assert.equal(
          k.tuning!.candidates.length,
          (alongLines || overlaps || short512 ? 3 : 2) + claims,
          `${k.key}: candidates`,
        );
        if (overlaps) {
          const plans = k.tuning!.candidates.map((c) => c.plan);
          assert.equal(plans.filter((p) => !p.includes("either side")).length, 1, where);
        }
        if (alongLines) {
          const plans = k.tuning!.candidates.map((c) => c.plan);
          // Tier 1 and the prefetch flip (and the claim flip, where tier 1 prefetches) along them;
          // one candidate not.
          assert.equal(
            plans.filter((p) => p.includes("along y's lines")).length,
            2 + claims,
            where,
          );
        }
      }
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: attention candidates (values copied or not; blocks a pass over runs of keys) give tier 1's bits (${isa})`, () => {
    const rand = seededRandom(0xa77e);
    // bshd, several heads: v's rows wider than a head (the copy a candidate); 600 keys: a
    // second plan of 4 blocks over runs of 256 keys (the last run 88), 31 rows: a short block.
    for (const [queries, keys, layout] of [[31, 600, "bshd"], [13, 300, "bhsd"]] as const) {
      const heads = 2, D = 24, E = 20;
      const q = floats(queries * heads * D, rand), k = floats(keys * heads * D, rand);
      const v = floats(keys * heads * E, rand), bias = floats(keys, rand);
      using jit = new Jit({ maxIsa: isa, threads: 1 });
      const y = new Float32Array(queries * heads * E);
      const o = {
        batch: 1,
        heads,
        queries,
        keys,
        headSize: D,
        vHeadSize: E,
        layout,
        bias,
        biasShape: [1, 1, 1],
      };
      const where = `attention ${layout} q${queries} k${keys} (${isa})`;
      const key = tuneAndCompare(jit, where, () => {}, () => jit.attention(q, k, v, y, o), y);
      const plans = key.tuning!.candidates.map((c) => c.plan);
      assert.ok(plans.some((p) => /[2-4] blocks a pass over runs of 256 keys/.test(p)), where);
      if (layout === "bshd") assert.ok(plans.some((p) => p.includes("values copied")), where);
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: resize by permutes gives the scalar horizontal pass's bits (${isa})`, () => {
    const rand = seededRandom(0x2e5);
    const shapes = [
      { h: 13, w: 21, outH: 26, outW: 42, mode: "linear" as const, avx2: true },
      { h: 9, w: 40, outH: 17, outW: 57, mode: "cubic" as const, avx2: false },
      { h: 7, w: 35, outH: 14, outW: 70, mode: "nearest" as const, avx2: true },
      { h: 12, w: 37, outH: 9, outW: 23, mode: "linear" as const, avx2: false }, // downscale: wider windows
      {
        h: 5,
        w: 6,
        outH: 5,
        outW: 131,
        mode: "linear" as const,
        coordinateTransformationMode: "align_corners" as const,
        avx2: true,
      },
    ];
    for (const shape of shapes) {
      using jit = new Jit({ maxIsa: isa, threads: 1 });
      const { avx2: _, ...sizes } = shape;
      const o = { n: 1, c: 3, ...sizes };
      const x = floats(3 * o.h * o.w, rand), y = new Float32Array(3 * o.outH * o.outW);
      const k = tuneAndCompare(
        jit,
        `resize ${JSON.stringify(shape)} (${isa})`,
        () => {},
        () => jit.resize(x, y, o),
        y,
        false,
        true,
      );
      // Windows fit one permute: two vectors at AVX-512, one at AVX2 (not the downscale's or
      // cubic's 4 taps at 1.4×).
      const permutes = isa === "avx512" || (isa === "avx2" && shape.avx2);
      const plans = k.tuning?.candidates.map((c) => c.plan) ?? [k.plan ?? ""];
      assert.equal(/by permutes/.test(plans[0]), permutes, `${JSON.stringify(shape)}: ${plans[0]}`);
      if (permutes) assert.ok(plans.some((p) => !/by permutes/.test(p)), "no scalar candidate");
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: resize's horizontal pass by 8 rows transposed gives the scalar pass's bits (${isa})`, () => {
    const rand = seededRandom(0x2e6);
    const shapes = [
      // Antialiased windows of 5-11 taps; rows not a multiple of 8, columns not of 8.
      { h: 40, w: 37, outH: 17, outW: 15, mode: "cubic" as const, antialias: true },
      { h: 64, w: 64, outH: 24, outW: 16, mode: "linear" as const, antialias: true },
      // Windows of 77 taps (the pass's loop over taps), one output row group of 3.
      { h: 40, w: 300, outH: 3, outW: 8, mode: "linear" as const, antialias: true },
      // A plain downscale: 2 taps.
      { h: 30, w: 45, outH: 12, outW: 20, mode: "linear" as const, antialias: false },
    ];
    for (const shape of shapes) {
      for (const threads of [1, 2]) {
        using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
        const o = { n: 1, c: 3, ...shape };
        const x = floats(3 * o.h * o.w, rand), y = new Float32Array(3 * o.outH * o.outW);
        const what = `resize ${JSON.stringify(shape)} (${isa}, ${threads} threads)`;
        const k = tuneAndCompare(jit, what, () => {}, () => jit.resize(x, y, o), y, false, true);
        const plans = k.tuning?.candidates.map((c) => c.plan) ?? [k.plan ?? ""];
        assert.equal(/transposed/.test(plans[0]), isa === "avx2", `${what}: ${plans[0]}`);
        if (isa === "avx2") {
          assert.ok(plans.some((p) => !/transposed/.test(p)), `${what}: no scalar candidate`);
        }
      }
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`tune: every convTranspose2d candidate gives tier 1's bits (${isa}, 1 and 2 threads)`, () => {
    const rand = seededRandom(0x7a);
    for (const threads of [1, 2]) {
      using jit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
      const o = {
        n: 1,
        c: 24,
        h: 9,
        w: 11,
        outChannels: 20,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        outputPadding: [1, 1],
      };
      const oh = 2 * 8 - 2 + 3 + 1, ow = 2 * 10 - 2 + 3 + 1;
      const x = floats(24 * 9 * 11, rand), w = floats(24 * 20 * 9, rand);
      const bias = floats(20, rand), y = new Float32Array(20 * oh * ow);
      // At AVX2 this layer goes by output phases, whose columns tile is the level's only one:
      // no candidates. A stride of 3 there still runs the upsampled kernel's tiles.
      const avx2 = isa === "avx2";
      const k = tuneAndCompare(
        jit,
        `convTranspose2d (${isa}, ${threads} threads)`,
        () => {},
        () => jit.convTranspose2d(x, w, y, { ...o, bias, activation: "relu" }),
        y,
        true,
        avx2,
      );
      if (avx2) assert.ok(k.plan!.includes("output phases"), k.plan!);
      if (avx2) {
        using jit3 = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
        const o3 = { ...o, strides: [3, 3], outputPadding: [2, 2] };
        const y3 = new Float32Array(20 * (3 * 8 - 2 + 3 + 2) * (3 * 10 - 2 + 3 + 2));
        const k3 = tuneAndCompare(
          jit3,
          `convTranspose2d stride 3 (${isa}, ${threads} threads)`,
          () => {},
          () => jit3.convTranspose2d(x, w, y3, { ...o3, bias, activation: "relu" }),
          y3,
          true,
        );
        assert.ok(!k3.plan!.includes("output phases"), k3.plan!);
      }
      // Packed weights: by output phases (AVX-512: its tiles against each other; AVX2: the
      // columns tile alone).
      using packedJit = new Jit({ maxIsa: isa, threads, minPartUs: threads > 1 ? 0 : undefined });
      const pw = packedJit.packConvWeights(w, {
        outChannels: 20,
        c: 24,
        kernel: [3, 3],
        transposed: true,
      });
      const kp = tuneAndCompare(
        packedJit,
        `convTranspose2d packed (${isa}, ${threads} threads)`,
        () => {},
        () => packedJit.convTranspose2d(x, pw, y, { ...o, bias, activation: "relu" }),
        y,
        true,
        avx2,
      );
      if (avx2) assert.ok(kp.plan!.includes("output phases"), kp.plan!);
    }
  });
}

Deno.test({
  name:
    "tune: every gemmInt8 k block length (AVX2's word tiles) gives tier 1's bits, on 1 and 2 threads",
  ignore: !JIT || !["avx2", "avx512", "amx"].includes(cpuFeatures().isa),
  fn: () => {
    const rand = seededRandom(0x1a9);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    // k of 1 to 6 blocks of 64-512 groups of 4; float C scaled, biased, a GELU.
    for (const threads of [1, 2]) {
      for (const [m, n, k] of [[20, 40, 1100], [7, 33, 600], [64, 24, 2500]]) {
        using jit = new Jit({ threads, maxIsa: "avx2", minPartUs: threads > 1 ? 0 : undefined });
        const a = Uint8Array.from({ length: m * k }, () => int(0, 255));
        const b = Int8Array.from({ length: k * n }, () => int(-128, 127));
        const pb = jit.packInt8B(b, { k, n });
        const c = new Float32Array(m * n);
        const o = {
          m,
          n,
          k,
          aZeroPoint: Uint8Array.of(int(0, 255)),
          scale: Float32Array.from({ length: n }, () => rand() * 1e-4),
          floatBias: Float32Array.from({ length: n }, () => rand() - 0.5),
          activation: "gelu" as const,
        };
        const key = tuneAndCompare(
          jit,
          `gemmInt8 ${m}×${n}×${k} on ${threads} thread(s)`,
          () => c.fill(0),
          () => jit.gemmInt8(a, pb, c, o),
          c,
        );
        assert.ok(key.tuning!.candidates.length > 1, `${key.key}: no candidates`);
      }
    }
  },
});

Deno.test({
  name: "tune: every convInt8 tile (VNNI) gives tier 1's bits, on 1 and 2 threads",
  ignore: !JIT || !cpuFeatures().avx512vnni || !["avx512", "amx"].includes(cpuFeatures().isa),
  fn: () => {
    const rand = seededRandom(0x1a8);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const shapes = [
      { c: 16, oc: 40, size: 28, k: 3, s: 1 }, // wide rows: chunks of 64
      { c: 12, oc: 13, size: 14, k: 3, s: 1 }, // rows of 14, several to a tile
      { c: 8, oc: 30, size: 13, k: 3, s: 2 }, // rows of 7 side by side
    ];
    for (const threads of [1, 2]) {
      for (const sh of shapes) {
        using jit = new Jit({ threads, minPartUs: threads > 1 ? 0 : undefined });
        const pad = (sh.k - 1) >> 1, o = Math.floor((sh.size + 2 * pad - sh.k) / sh.s) + 1;
        const x = Uint8Array.from({ length: sh.c * sh.size * sh.size }, () => int(0, 255));
        const w = Int8Array.from({ length: sh.oc * sh.c * sh.k * sh.k }, () => int(-127, 127));
        const packed = jit.packConvInt8(w, { outChannels: sh.oc, c: sh.c, kernel: [sh.k, sh.k] });
        const bias = Int32Array.from({ length: sh.oc }, () => int(-3000, 3000));
        const scale = Float32Array.from(
          { length: sh.oc },
          () => 0.3 / (sh.c * 9 * (60 + rand() * 40)),
        );
        // y's bytes seen as floats for the bit comparison (its length a multiple of 4).
        const count = Math.ceil((sh.oc * o * o) / 4) * 4, y = new Uint8Array(count);
        const opts = {
          n: 1,
          c: sh.c,
          h: sh.size,
          w: sh.size,
          outChannels: sh.oc,
          kernel: [sh.k, sh.k],
          strides: [sh.s, sh.s],
          pads: [pad, pad, pad, pad],
          xZeroPoint: 9,
          bias,
          scale,
          yZeroPoint: 120,
        };
        const k = tuneAndCompare(
          jit,
          `convInt8 ${JSON.stringify(sh)} on ${threads} thread(s)`,
          () => y.fill(0),
          () => jit.convInt8(x, packed, y.subarray(0, sh.oc * o * o), opts),
          new Float32Array(y.buffer),
        );
        assert.ok(k.tuning!.candidates.length > 1, `${k.key}: no candidates`);
      }
    }
  },
});
