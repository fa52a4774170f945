import assert from "node:assert/strict";
import { Jit, packNBits } from "../mod.ts";
import { FAMILIES } from "../src/kernels/families.ts";
import { rng } from "./helpers/random.ts";

/**
 * Every family, on random (non-integer) inputs: the 1st call and calls after
 * its kernel was evicted and recompiled many times give the same bits, and
 * no call ran on the TypeScript reference. A family added to the registry
 * without a case here fails the test.
 */
Deno.test("every op family: bit-identical across first call, eviction and recompilation", () => {
  const r = rng(4242);
  const vec = (n: number) => new Float32Array(n).map(() => (r() * 2 - 1) * 3);
  const [x, y, w] = [vec(333), vec(333), vec(37)];
  // The 8-bit GEMM's operands: its int32 output is read through the Float32Array's bytes.
  const qa = Uint8Array.from({ length: 9 * 40 }, () => Math.floor(r() * 256));
  const qb = Int8Array.from({ length: 37 * 30 }, () => Math.floor(r() * 256) - 128);
  const qbias = Int32Array.from({ length: 30 }, () => Math.floor(r() * 2000) - 1000);
  const qscale = Float32Array.from({ length: 5 }, () => r() / 1000);
  // 4-bit weights: k 32 (two blocks of 16), n 37 (a partial tile), byte zero points.
  const nbits = packNBits({
    k: 32,
    n: 37,
    block: 16,
    q: Uint8Array.from({ length: 37 * 16 }, () => Math.floor(r() * 256)),
    scales: vec(74),
    zeroPoints: Uint8Array.from({ length: 37 }, () => Math.floor(r() * 256)),
  });
  // Two trees over x's rows of 37: a full one of depth 2 and a leaf.
  const trees = {
    test: "lt" as const,
    feature: new Int32Array([3, 30, 11, 0, 0, 0, 0, 0]),
    threshold: Float32Array.from({ length: 8 }, () => r() * 2 - 1),
    yes: new Int32Array([1, 3, 5, -1, -1, -1, -1, -1]),
    no: new Int32Array([2, 4, 6, -1, -1, -1, -1, -1]),
    roots: new Int32Array([0, 7]),
  };
  const cases: Record<string, (jit: Jit, out: Float32Array) => void> = {
    gemm: (jit, out) =>
      jit.gemm(x, w, out, { m: 9, n: 1, k: 37, bias: w.subarray(0, 1), activation: "gelu" }),
    unary: (jit, out) => jit.unary("tanh", x, out),
    softmax: (jit, out) => jit.softmax(x, out, { rows: 9, cols: 37 }),
    norm: (jit, out) => jit.layerNorm(x, out, { rows: 9, cols: 37, scale: w, residual: y }),
    reduce: (jit, out) => jit.reduce("logSumExp", x, out.subarray(0, 9), { rows: 9, cols: 37 }),
    binary: (jit, out) => jit.binary("pow", x.map(Math.abs), [9, 37], w, [37], out),
    conv2d: (jit, out) =>
      jit.conv2d(x.subarray(0, 300), w.subarray(0, 36), out.subarray(0, 270), {
        n: 1,
        c: 3,
        h: 10,
        w: 10,
        outChannels: 6,
        kernel: [3, 2],
        strides: [1, 2],
        pads: [1, 0, 0, 1],
        group: 3,
        bias: w.subarray(0, 6),
        activation: "silu",
      }),
    convTranspose2d: (jit, out) =>
      jit.convTranspose2d(x.subarray(0, 48), w.subarray(0, 36), out.subarray(0, 192), {
        n: 1,
        c: 3,
        h: 4,
        w: 4,
        outChannels: 3,
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0, 0, 1, 1],
        outputPadding: [1, 1],
        bias: w.subarray(0, 3),
      }),
    rotary: (jit, out) =>
      jit.rotary(x.subarray(0, 333), out.subarray(0, 333), {
        batch: 3,
        sequence: 1,
        heads: 3,
        headSize: 37,
        rotaryDim: 30,
        cos: w.subarray(0, 15),
        sin: w.subarray(15, 30),
        positions: new Int32Array([0, 0, 0]),
      }),
    attention: (jit, out) =>
      // Two items of 2 query heads on 1 key head, rows 18 apart, a bias per item.
      jit.attention(
        x.subarray(0, 180),
        y.subarray(0, 74),
        y.subarray(74, 148),
        out.subarray(0, 180),
        {
          batch: 2,
          heads: 2,
          kvHeads: 1,
          queries: 5,
          keys: 37,
          headSize: 1,
          vHeadSize: 1,
          rowStrides: { q: 18, y: 18 },
          bias: y.subarray(148, 222),
          biasShape: [2, 1, 1],
        },
      ),
    batchNorm: (jit, out) =>
      jit.batchNorm(x.subarray(0, 333), out, {
        n: 1,
        c: 9,
        h: 37,
        w: 1,
        scale: w.subarray(0, 9),
        bias: w.subarray(9, 18),
        mean: w.subarray(18, 27),
        variance: w.subarray(27, 36).map(Math.abs),
      }),
    resize: (jit, out) =>
      jit.resize(x.subarray(0, 90), out.subarray(0, 168), {
        n: 1,
        c: 2,
        h: 5,
        w: 9,
        outH: 7,
        outW: 12,
        mode: "cubic",
      }),
    chain: (jit, out) =>
      jit.chain(x.subarray(0, 333), out.subarray(0, 333), [
        { op: "mul", value: 0.5 },
        "sigmoid",
        { op: "mul", x: true },
        { op: "sub", value: 1, left: true },
      ]),
    copy: (jit, out) =>
      jit.copy(x.subarray(0, 120), out.subarray(0, 120), { dims: [4, 5, 6], xStrides: [1, 24, 4] }),
    gemmInt8: (jit, out) =>
      jit.gemmInt8(qa, jit.packInt8B(qb, { k: 37, n: 30 }), new Int32Array(out.buffer, 0, 270), {
        m: 9,
        n: 30,
        k: 37,
        lda: 40,
        bias: qbias,
      }),
    convInt8: (jit, out) => {
      // 7 → 5 channels, 3×3 stride 2 on 5×10 padded: requantized bytes into out's first elements.
      const w8 = jit.packConvInt8(qb.subarray(0, 5 * 7 * 9), {
        outChannels: 5,
        c: 7,
        kernel: [3, 3],
      });
      jit.convInt8(qa.subarray(0, 7 * 5 * 10), w8, new Uint8Array(out.buffer, 0, 5 * 3 * 5), {
        n: 1,
        c: 7,
        h: 5,
        w: 10,
        outChannels: 5,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 0],
        xZeroPoint: 17,
        bias: qbias.subarray(0, 5),
        scale: qscale,
        yZeroPoint: 120,
      });
    },
    qlinear: (jit, out) => {
      // x quantized to int8 bytes, then added to itself: out's first 84 elements.
      const q = new Int8Array(out.buffer, 0, 333);
      jit.quantizeLinear(x, q, { scale: 0.03, zeroPoint: -5 });
      jit.qlinearAdd(q, q, q, { aScale: 0.03, bScale: 0.02, yScale: 0.05, yZeroPoint: 3 });
    },
    quantizeDynamic: (jit, out) => {
      // y's bytes, the scale and the zero point written into out's first elements.
      const y = new Uint8Array(out.buffer, 0, 333);
      jit.quantizeDynamic(x, y, out.subarray(90, 91), new Uint8Array(out.buffer, 4 * 91, 1));
    },
    matmulNBits: (jit, out) =>
      jit.matmulNBits(x.subarray(0, 96), nbits, out.subarray(0, 111), { m: 3, bias: y }),
    pool: (jit, out) =>
      jit.pool("average", x.subarray(0, 300), out.subarray(0, 108), {
        n: 1,
        c: 3,
        h: 10,
        w: 10,
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        ceilMode: true,
      }),
    // Weight preparation (a model's create) runs on the process's packing Jit at jit's level:
    // these two check the same bits on every call, not jit's eviction.
    scaleRows: (jit, out) =>
      out.set(
        jit.foldBatchNorm(x, undefined, {
          outChannels: 9,
          scale: w.subarray(0, 9),
          bias: w.subarray(9, 18),
          mean: w.subarray(18, 27),
          variance: w.subarray(27, 36).map(Math.abs),
        }).w,
      ),
    treeLeaves: (jit, out) =>
      jit.treeLeaves(x, jit.packTrees(trees), new Int32Array(out.buffer, 0, 18), {
        rows: 9,
        features: 37,
      }),
    select: (jit, out) =>
      jit.select(
        Uint8Array.from({ length: 333 }, (_, i) => (i * 5) % 3),
        x,
        w.subarray(0, 1),
        out,
      ),
    squaredDistances: (jit, out) =>
      jit.squaredDistances(x, w.subarray(0, 37), out.subarray(0, 9), { m: 9, n: 1, k: 37 }),
    allFinite: (jit, out) => {
      const bad = x.slice();
      bad[331] = Infinity;
      const pack = (v: Float32Array) =>
        jit.packConvWeights(v, { outChannels: 9, c: 37, kernel: [1, 1] }).finite ? 1 : 0;
      out[0] = pack(x);
      out[1] = pack(bad);
      assert.deepEqual([out[0], out[1]], [1, 0]);
    },
  };
  assert.deepEqual(Object.keys(cases).sort(), FAMILIES.map((f) => f.name).sort());
  using jit = new Jit({ cacheCapacity: 1 });
  const first: Record<string, Float32Array> = {};
  for (const [name, run] of Object.entries(cases)) {
    first[name] = new Float32Array(333);
    run(jit, first[name]);
  }
  for (let round = 0; round < 5; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const again = new Float32Array(333);
      run(jit, again); // each call evicts the previous family's kernel
      assert.deepEqual(again, first[name], `${name}, round ${round}`);
    }
  }
  const s = jit.stats();
  assert.equal(
    s.keys.reduce((n, k) => n + k.referenceCalls, 0),
    0,
    "a call ran on the TypeScript reference",
  );
  assert.ok(s.compiles >= 11, `${s.compiles} compiles`);
});
