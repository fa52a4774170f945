// The chain family (jit.chain) and the graph's elementwise-chain fusion: a
// chain gives the bits of its ops called one by one, on every ISA, at any
// size, in place and split between threads; bad steps are named; a model's
// chains fuse and give the unfused graph's bits.
import assert from "node:assert/strict";
import {
  cpuFeatures,
  type IsaLevel,
  levelsUpTo,
  prefetchesStreamedRows,
  streamsOnOneThread,
} from "../src/cpu.ts";
import { ChainSteps, InferenceSession, Jit, type JitStats, Tensor } from "../mod.ts";
import type { ChainStep } from "../mod.ts";
import { GraphBuilder, seededFloats } from "../tools/onnx_writer.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { chainReference, type ChainSpec, readChain } from "../src/kernels/chain/mod.ts";
import { decodeChainKey } from "../src/kernels/chain/read.ts";
import { STREAM_STORES_FROM } from "../src/kernels/elementwise.ts";
import { assertPartsStream, listingsWith } from "./helpers/dump.ts";
import { assertAtOffsets } from "./helpers/offsets.ts";

const LEVELS: IsaLevel[] = levelsUpTo(cpuFeatures().isa).filter((l) => l !== "amx");
const UNARY = ["relu", "sigmoid", "tanh", "exp", "erf", "gelu", "softplus", "sqrt", "neg", "abs"];
const BINARY = ["add", "sub", "mul", "div", "max", "min", "pow"] as const;

/** The steps one by one, through jit.unary and jit.binary. */
function oneByOne(jit: Jit, x: Float32Array, steps: readonly ChainStep[]): Float32Array {
  const n = x.length;
  let cur = x.slice();
  for (const s of steps) {
    const out = new Float32Array(n);
    if (typeof s === "string") jit.unary(s, cur, out);
    else if (!("value" in s) && !("x" in s)) {
      const { op, ...params } = s as { op: string };
      jit.unary(op as never, cur, out, params);
    } else {
      const b = s as { op: (typeof BINARY)[number]; value?: number; x?: boolean; left?: boolean };
      const other = b.x ? x : new Float32Array([b.value!]);
      const od = b.x ? [n] : [1];
      if (b.left) jit.binary(b.op, other, od, cur, [n], out);
      else jit.binary(b.op, cur, [n], other, od, out);
    }
    cur = out;
  }
  return cur;
}

function randomSteps(r: () => number): ChainStep[] {
  const count = int(r, 1, 8);
  const steps: ChainStep[] = [];
  for (let i = 0; i < count; i++) {
    if (r() < 0.45) {
      const op = pick(r, UNARY);
      steps.push(op === "gelu" && r() < 0.5 ? { op: "leakyRelu", alpha: 0.2 } : op as never);
    } else {
      const op = pick(r, BINARY);
      const left = r() < 0.3;
      if (i > 0 && r() < 0.3 && op !== "pow") steps.push({ op, x: true, left });
      else {
        const value = op === "pow" ? pick(r, [2, 3, 0.5, -1, 1.7]) : (r() - 0.5) * 6;
        steps.push({ op, value, left: op === "pow" ? false : left });
      }
    }
  }
  return steps;
}

function inputs(r: () => number, n: number): Float32Array {
  const x = Float32Array.from({ length: n }, () => (r() - 0.5) * 8);
  // Specials where they fit: NaN, ±Inf, ±0.
  const specials = [NaN, Infinity, -Infinity, 0, -0];
  for (let i = 0; i < specials.length && i < n; i++) x[int(r, 0, n - 1)] = specials[i];
  return x;
}

for (const isa of LEVELS) {
  Deno.test(`chain: the bits of its ops one by one, 300 random chains (${isa})`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const sizes = [0, 1, 7, 15, 16, 17, 33, 1000, 1025];
    for (let c = 0; c < 300; c++) {
      const seed = 0xc4a1 + c, r = rng(seed);
      const steps = randomSteps(r), n = pick(r, sizes);
      const x = inputs(r, n), y = new Float32Array(n);
      jit.chain(x, y, steps);
      const want = oneByOne(jit, x, steps);
      const got = new Uint32Array(y.buffer), exp = new Uint32Array(want.buffer);
      for (let i = 0; i < n; i++) {
        // NaN payloads may differ between the paths; every other value bit for bit.
        if (got[i] !== exp[i] && !(Number.isNaN(y[i]) && Number.isNaN(want[i]))) {
          assert.fail(
            `seed ${seed} (${isa}) n=${n} ${JSON.stringify(steps)}: element ${i} of x=${x[i]}: ` +
              `${y[i]} vs ${want[i]}`,
          );
        }
      }
      // In place, and split between threads, the same.
      if (n > 0 && c % 10 === 0) {
        const z = x.slice();
        jit.chain(z, z, steps);
        assert.deepEqual(z, y, `seed ${seed}: in place`);
      }
    }
  });
}

Deno.test("chain: split between threads gives the same bits", () => {
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  const r = rng(77);
  for (let c = 0; c < 20; c++) {
    const steps = randomSteps(r), n = int(r, 100, 70000);
    const x = inputs(r, n), a = new Float32Array(n), b = new Float32Array(n);
    one.chain(x, a, steps);
    two.chain(x, b, steps);
    assert.deepEqual(b, a, JSON.stringify(steps));
  }
  assert.ok(two.stats().keys.some((k) => k.parts > 1), "no call was split");
});

Deno.test({
  name:
    "chain avx512: y past the last-level cache split between threads goes by non-temporal stores, the one-thread call's bits wherever x and y start",
  ignore: !LEVELS.includes("avx512"),
  fn() {
    const n = STREAM_STORES_FROM / 4 + 21;
    const r = rng(5150);
    const data = new Float32Array(n).map(() => (r() * 2 - 1) * 6);
    const steps = new ChainSteps(["sigmoid", { op: "mul", x: true }]);
    const dir = Deno.makeTempDirSync({ prefix: "njit-streamed-" });
    using one = new Jit({ maxIsa: "avx512", threads: 1, dump: `${dir}/one` });
    using split = new Jit({ maxIsa: "avx512", threads: 3, minPartUs: 0, dump: `${dir}/split` });
    const want = new Float32Array(n);
    one.chain(data, want, steps);
    assertAtOffsets(
      data,
      [[0, 0], [3, 11], [16, 1]],
      (x, y) => split.chain(x, y, steps),
      (i) => want[i],
      "chain",
    );
    const fetched = split.stats().keys.filter((k) => k.plan!.endsWith(", x to L2 8192 B ahead"));
    assert.equal(fetched.length > 0, prefetchesStreamedRows(cpuFeatures()));
    const plans = split.stats().keys.map((k) =>
      `${k.plan!.replace(", x to L2 8192 B ahead", "")} (${k.parts} parts)`
    );
    // Where the core streams on one thread too (Intel), the one-thread call streams as well.
    const oneThread = streamsOnOneThread(cpuFeatures());
    const says = `y by non-temporal stores${oneThread ? "" : " when split"} (12 parts)`;
    assert.ok(plans.some((p) => p.endsWith(says)), plans.join("; "));
    if (oneThread) {
      for (const d of ["one", "split"]) {
        const streamed = listingsWith(`${dir}/${d}`, "vmovntps");
        assert.ok(streamed.length >= 1, `${d}: ${streamed.join(" ")}`);
        assert.equal(listingsWith(`${dir}/${d}`, "sfence").length, streamed.length);
      }
    } // The parts' code stores by vmovntps (and fences); the one-thread kernel does not.
    else assertPartsStream(`${dir}/split`, `${dir}/one`, 1);
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test("chain: bad steps are named before any native code runs", () => {
  using jit = new Jit();
  const x = new Float32Array(8), y = new Float32Array(8);
  const bad: [unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    [undefined, /steps must be an array of 1 to 8 steps/, TypeError],
    [[], /steps must be an array of 1 to 8 steps/, TypeError],
    [Array(9).fill("relu"), /steps must be an array of 1 to 8 steps/, TypeError],
    [["relu", "nope"], /steps\[1\] must name a unary op/, TypeError],
    [[{ op: "mul" }], /steps\[0\] a binary step needs exactly one other operand/, TypeError],
    [[{ op: "mul", value: 2, x: true }], /exactly one other operand/, TypeError],
    [[{ op: "mul", value: "2" }], /steps\[0\] value must be a number/, TypeError],
    [[{ op: "mul", x: 1 }], /steps\[0\] x must be a boolean/, TypeError],
    [[{ op: "add", value: 1, left: "yes" }], /left must be a boolean/, TypeError],
    [[{ op: "leakyRelu", alpha: "a" }], /leakyRelu alpha must be a number/, TypeError],
    [[null], /steps\[0\] must name a unary op/, TypeError],
  ];
  for (const [steps, message, type] of bad) {
    assert.throws(() => jit.chain(x, y, steps as never), (e: Error) => {
      assert.ok(e instanceof type, `${JSON.stringify(steps)}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(() => jit.chain(x, new Float32Array(7), ["relu"]), RangeError);
  assert.throws(() => jit.chain(x, x.subarray(1), ["relu"]), RangeError);
  assert.equal(jit.stats().compiles, 0);
});

/** A model with the chains exporters write, and a node that must stay apart. */
function chainModel(): Uint8Array {
  const g = new GraphBuilder(17);
  g.input("x", "float32", ["batch", 3, 7]);
  const c = (name: string, v: number, dims: number[] = []) =>
    g.initializer(name, { type: "float32", dims, data: [v] });
  // SiLU written out: x · sigmoid(x).
  const s = g.op("Sigmoid", ["x"]);
  const silu = g.op("Mul", ["x", s]);
  // A scale, shift and squash: (silu · 0.5 + 1) → Tanh → 1 − t → Clip.
  const m = g.op("Mul", [silu, c("half", 0.5, [1])]);
  const a = g.op("Add", [m, c("one", 1)]);
  const t = g.op("Tanh", [a]);
  const u = g.op("Sub", [c("one2", 1, [1, 1, 1]), t]);
  const clipped = g.op("Clip", [u, c("lo", -0.5), c("hi", 0.75)]);
  // Read twice: the chain ends here, the two readers stay as they are.
  const p = g.op("Pow", [clipped, c("three", 3)]);
  const e = g.op("Exp", [clipped]);
  g.output(g.op("Add", [p, e], {}, "y"));
  return g.toBytes();
}

Deno.test("chain fusion: a model's elementwise runs fuse and give the unfused graph's bits", async () => {
  const bytes = chainModel();
  const fused = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const plain = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "basic",
  });
  try {
    assert.equal(fused.optimization.fusions["elementwise chain into one pass"], 1);
    // Sigmoid, Mul, Mul, Add, Tanh, Sub, Clip → one node; Pow, Exp, Add stay.
    assert.equal(fused.nodeCount, 4);
    for (const batch of [1, 5]) {
      const x = seededFloats(batch * 21, batch, 3);
      x[0] = NaN;
      x[1] = -Infinity;
      const feeds = { x: new Tensor("float32", x, [batch, 3, 7]) };
      const a = fused.runSync(feeds).y, b = plain.runSync(feeds).y;
      // The Sub's [1,1,1] constant keeps the output rank (3).
      assert.deepEqual(a.dims, [batch, 3, 7]);
      assert.deepEqual(a.data, b.data);
    }
    const chainKey = (s: JitStats) => s.keys.find((k) => k.family === "chain");
    assert.match(
      chainKey(fused.kernelStats())!.key,
      /sigmoid → x mul → mul 0.5 → add 1 → tanh → 1 sub → clip\(min=-0.5 max=0.75\)$/,
    );
    assert.equal(chainKey(plain.kernelStats()), undefined);
  } finally {
    await fused.release();
    await plain.release();
  }
});

Deno.test("chain: ChainSteps encodes once (the array's later changes do not reach it) and is brand-checked", () => {
  using jit = new Jit();
  const x = Float32Array.from({ length: 100 }, (_, i) => i / 10 - 5);
  const a = new Float32Array(100), b = new Float32Array(100);
  const list: ChainStep[] = ["sigmoid", { op: "mul", x: true }, { op: "add", value: 0.5 }];
  const encoded = new ChainSteps(list);
  assert.equal(encoded.length, 3);
  jit.chain(x, a, list);
  jit.chain(x, b, encoded);
  assert.deepEqual(b, a);
  (list[2] as { value: number }).value = 7;
  list.push("tanh");
  jit.chain(x, b, encoded);
  assert.deepEqual(b, a);
  // A lookalike is an array of nothing: refused by name.
  const fake = Object.create(ChainSteps.prototype);
  assert.throws(() => jit.chain(x, b, fake), /steps must be an array/);
  assert.throws(() => new ChainSteps([{ op: "mul" } as never]), /steps\[0\] a binary step/);
});

for (const isa of LEVELS) {
  Deno.test(`chain: exact steps equal the f64 reference rounded per step, bit for bit (${isa})`, () => {
    // +, −, ·, ÷, max, min, relu, abs, neg and clip are correctly rounded in f32, and so is
    // f64 rounded to f32 for each of them: the kernel must give the reference's bits.
    const exact = ["relu", "abs", "neg", { op: "clip", min: -2, max: 3 }] as const;
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    for (let c = 0; c < 100; c++) {
      const seed = 0xe4ac + c, r = rng(seed);
      const steps: ChainStep[] = [];
      for (let i = int(r, 1, 8); i > 0; i--) {
        if (r() < 0.3) steps.push(pick(r, exact) as ChainStep);
        else {
          const op = pick(r, ["add", "sub", "mul", "div", "max", "min"] as const);
          const left = r() < 0.3;
          steps.push(
            steps.length > 0 && r() < 0.3
              ? { op, x: true, left }
              : { op, value: (r() - 0.5) * 5, left },
          );
        }
      }
      const n = pick(r, [1, 15, 16, 17, 100, 1025]);
      const x = inputs(r, n), y = new Float32Array(n), want = new Float32Array(n);
      jit.chain(x, y, steps);
      chainReference(decodeSpec(n, steps), x, want);
      for (let i = 0; i < n; i++) {
        if (!Object.is(y[i], want[i]) && !(Number.isNaN(y[i]) && Number.isNaN(want[i]))) {
          assert.fail(
            `seed ${seed} (${isa}) ${JSON.stringify(steps)}: x=${x[i]}: ${y[i]} vs ${want[i]}`,
          );
        }
      }
    }
  });
}

/** The spec jit.chain reads from `steps` (through the family's own reader). */
function decodeSpec(n: number, steps: readonly ChainStep[]): ChainSpec {
  const key = new Int32Array(32), extents = new Float64Array(8);
  readChain(new Float32Array(n), new Float32Array(n), steps, key, extents);
  return decodeChainKey(key);
}

/** A QDQ model as a static quantizer writes it: activations through Q → DQ pairs. */
function qdqModel(): Uint8Array {
  const g = new GraphBuilder(17);
  g.input("x", "float32", [1, 4, 6, 6]);
  const scalar = (name: string, v: number) =>
    g.initializer(name, { type: "float32", dims: [], data: [v] });
  const zero = (name: string, type: "uint8" | "int8", v: number) =>
    g.initializer(name, { type, dims: [], data: [v] });
  const sx = scalar("sx", 0.031), zx = zero("zx", "uint8", 119);
  const qx = g.op("DequantizeLinear", [g.op("QuantizeLinear", ["x", sx, zx]), sx, zx]);
  const w = g.initializer("w", {
    type: "int8",
    dims: [5, 4, 3, 3],
    data: Array.from({ length: 180 }, (_, i) => ((i * 37) % 255) - 127),
  });
  const sw = scalar("sw", 0.004), zw = zero("zw", "int8", 0);
  const conv = g.op("Conv", [qx, g.op("DequantizeLinear", [w, sw, zw])], { pads: [1, 1, 1, 1] });
  const relu = g.op("Relu", [conv]);
  // int8 with a zero point, and zero points left out (uint8 0).
  const s1 = scalar("s1", 0.027), z1 = zero("z1", "int8", -9);
  const a1 = g.op("DequantizeLinear", [g.op("QuantizeLinear", [relu, s1, z1]), s1, z1]);
  const s2 = scalar("s2", 0.05);
  const a2 = g.op("DequantizeLinear", [g.op("QuantizeLinear", [a1, s2]), s2]);
  g.output(g.op("Identity", [a2], {}, "y"));
  // A pair whose scales differ stays two nodes.
  const s3 = scalar("s3", 0.02), s4 = scalar("s4", 0.04);
  g.output(g.op("DequantizeLinear", [g.op("QuantizeLinear", [conv, s3]), s4], {}, "apart"));
  return g.toBytes();
}

Deno.test("fake-quant fusion: QuantizeLinear → DequantizeLinear pairs become chains with the pair's bits", async () => {
  const bytes = qdqModel();
  const fused = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const plain = await InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: "basic",
  });
  try {
    assert.equal(fused.optimization.fusions["QuantizeLinear + DequantizeLinear into one pass"], 3);
    const x = seededFloats(144, 77, 5);
    x[3] = Infinity;
    x[4] = -Infinity;
    x[5] = 1e30;
    const feeds = { x: new Tensor("float32", x, [1, 4, 6, 6]) };
    const a = fused.runSync(feeds), b = plain.runSync(feeds);
    assert.deepEqual(a.y.data, b.y.data);
    assert.deepEqual(a.apart.data, b.apart.data);
    const keys = fused.kernelStats().keys.filter((k) => k.family === "chain").map((k) => k.key);
    assert.ok(
      keys.some((k) =>
        /div 0\.03.* → round → add 119 → clip\(min=0 max=255\) → sub 119 → mul 0\.03/.test(k)
      ),
      keys.join("\n"),
    );
    assert.ok(
      keys.some((k) => /round → add -9 → clip\(min=-128 max=127\) → sub -9 → mul/.test(k)),
      keys.join("\n"),
    );
  } finally {
    await fused.release();
    await plain.release();
  }
});
