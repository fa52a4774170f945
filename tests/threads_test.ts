import assert from "node:assert/strict";
import { isaLevel, Jit, packNBits } from "../mod.ts";
import {
  Assembler,
  dword,
  eax,
  ecx,
  type Program,
  qword,
  r8,
  rax,
  rcx,
  rdi,
  rdx,
  XMM,
} from "../asm/mod.ts";
import { countedLoop, loadPointer } from "../src/kernels/abi.ts";
import type { KernelPlan, OpFamily, Part } from "../src/kernels/family.ts";
import { partWorkspaces, Runtime } from "../src/runtime/runtime.ts";
import {
  CORE_RATES,
  estimatedNs,
  MIN_PART_NS,
  PART_WORKSPACE_GAP,
  partsFor,
} from "../src/runtime/policy.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { FAMILIES } from "../src/kernels/families.ts";
import { affinityCpus, sharedPool } from "../src/native/pool.ts";
import {
  JOB_PARTS,
  JOB_WAKE,
  PART_BYTES,
  POOL,
  POOL_BYTES,
  WORKER,
  WORKER_BYTES,
} from "../src/native/pool_code.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { lslCpu } from "../src/native/stubs.ts";
import { libc } from "../src/native/libc.ts";
import { runFixture } from "./helpers/fixture.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { convSizes, convSpecOf, randomConv } from "./helpers/conv.ts";

type Case = { name: string; outputs: number; run: (jit: Jit, out: Float32Array) => void };

/** The njit-* threads of this process. */
/**
 * njit tasks after a join, once the kernel has released them: a joined
 * thread's /proc entry can outlive pthread_join by a moment (the kernel
 * wakes the joiner on exit before it reaps the task), longer on a busy
 * machine, so this waits up to a second for the count to reach `want`.
 */
function njitTasksAfterJoin(want: number): number {
  const until = performance.now() + 1000;
  let n = njitTasks().length;
  while (n !== want && performance.now() < until) n = njitTasks().length;
  return n;
}

function njitTasks(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
      if (comm.startsWith("njit-")) names.push(comm);
    } catch { /* the task ended meanwhile */ }
  }
  return names;
}

/**
 * Random calls of every family, GEMM on every driver (direct, packed, skinny,
 * dot, Bᵀ transposed whole or strip by strip, epilogues, PackedB): shapes
 * with the edge sizes, inputs non-integer so any change of summation order
 * shows in the bits.
 */
function cases(seed: number): Case[] {
  const r = rng(seed);
  const vec = (n: number) => new Float32Array(n).map(() => (r() * 2 - 1) * 3);
  const edge = () => pick(r, [1, 7, 15, 16, 17, 31, 33, 100, 1000, 1023, 1025]);
  const out: Case[] = [];
  const gemm = (m: number, n: number, k: number, o: Record<string, unknown> = {}) => {
    const transA = o.transA === true, transB = o.transB === true;
    const a = vec(m * k), b = vec(k * n), bias = vec(n);
    const opts = { m, n, k, transA, transB, ...o };
    out.push({
      name: `gemm ${m}×${n}×${k} ${JSON.stringify(o)}`,
      outputs: m * n,
      run: (jit, c) => {
        c.fill(0.5);
        const layout = o.packB === "panels" ? "panels" : "rows";
        const packed = o.packB ? jit.packB(b, { k, n, transB, layout }) : b;
        jit.gemm(a, packed, c, o.bias ? { ...opts, bias } : opts);
      },
    });
  };
  gemm(edge(), edge(), int(r, 1, 300), { beta: 0.5, alpha: 1.5 });
  gemm(int(r, 20, 200), int(r, 20, 200), int(r, 1, 200), { transA: true });
  gemm(int(r, 17, 64), 1025, 300, { bias: true, activation: "gelu" }); // direct, kc blocks
  gemm(700, 500, 700); // packed
  gemm(400, 800, 700, { transB: true }); // packed, Bᵀ: split over N
  gemm(2000, 40, 600); // packed, one column tile: split over M
  gemm(int(r, 1, 2), 1024, 300, { bias: true, activation: "tanh" }); // skinny
  gemm(int(r, 1, 16), int(r, 17, 300), int(r, 1, 500), { transB: true }); // dot
  gemm(int(r, 20, 120), int(r, 17, 300), int(r, 1, 300), { transB: true }); // Bᵀ transposed
  gemm(96, 1024, 1024, { transB: true, bias: true }); // Bᵀ strip by strip
  gemm(int(r, 1, 100), int(r, 1, 300), int(r, 1, 300), { packB: true, activation: "relu" });
  gemm(int(r, 1, 8), int(r, 60, 700), int(r, 1, 500), { packB: "panels", bias: true });
  const n = edge() * int(r, 1, 40);
  const x = vec(n);
  for (const op of ["exp", "gelu", "tanh", "relu"] as const) {
    out.push({ name: `unary ${op} ${n}`, outputs: n, run: (jit, y) => jit.unary(op, x, y) });
  }
  const rows = int(r, 1, 300), cols = edge();
  const m = vec(rows * cols), res = vec(rows * cols), g = vec(cols), b = vec(cols);
  out.push({
    name: `softmax ${rows}×${cols}`,
    outputs: rows * cols,
    run: (jit, y) => jit.softmax(m, y, { rows, cols }),
  });
  out.push({
    name: `layerNorm ${rows}×${cols}`,
    outputs: rows * cols,
    run: (jit, y) => jit.layerNorm(m, y, { rows, cols, scale: g, bias: b, residual: res }),
  });
  out.push({
    name: `rmsNorm ${rows}×${cols}`,
    outputs: rows * cols,
    run: (jit, y) => jit.rmsNorm(m, y, { rows, cols, scale: g }),
  });
  out.push({
    name: `reduce ${rows}×${cols}`,
    outputs: rows,
    run: (jit, y) => jit.reduce("logSumExp", m, y, { rows, cols }),
  });
  const d0 = int(r, 1, 9), d1 = int(r, 1, 40), d2 = edge();
  const ba = vec(d0 * d1 * d2), bb = vec(d1 * d2), bc = vec(d0 * d1);
  out.push({
    name: `binary add [${d0},${d1},${d2}]+[${d1},${d2}]`,
    outputs: d0 * d1 * d2,
    run: (jit, y) => jit.binary("add", ba, [d0, d1, d2], bb, [d1, d2], y),
  });
  out.push({
    name: `binary mul [${d0},${d1},${d2}]×[${d0},${d1},1]`,
    outputs: d0 * d1 * d2,
    run: (jit, y) => jit.binary("mul", ba, [d0, d1, d2], bc, [d0, d1, 1], y),
  });
  out.push({
    name: `binary max flat ${ba.length}`,
    outputs: ba.length,
    run: (jit, y) => jit.binary("max", ba, [ba.length], ba.map((v) => -v), [ba.length], y),
  });
  // rotary: over items, and over one item's tokens (with positions, and each token its own row).
  for (
    const [batch, layout, positions] of [
      [3, "bshd", true],
      [1, "bhsd", false],
      [1, "bshd", true],
      [2, "bhsd", false],
    ] as const
  ) {
    const sequence = int(r, 2, 40), heads = int(r, 1, 4), headSize = 2 * int(r, 1, 40);
    const rows = positions ? 50 : batch * sequence, half = headSize / 2;
    const o = {
      batch,
      sequence,
      heads,
      headSize,
      layout,
      interleaved: r() < 0.5,
      cos: vec(rows * half),
      sin: vec(rows * half),
      ...(positions
        ? { positions: Int32Array.from({ length: batch * sequence }, () => int(r, 0, rows - 1)) }
        : {}),
    };
    const rx = vec(batch * sequence * heads * headSize);
    out.push({
      name: `rotary ${JSON.stringify({ ...o, cos: 0, sin: 0, positions: positions })}`,
      outputs: rx.length,
      run: (jit, y) => jit.rotary(rx, y, o),
    });
  }
  // treeLeaves: over rows (leaves written through y's bytes), a forest of 30 trees of depth 5.
  {
    const rows = pick(r, [17, 100, 1000, 1025]), features = 9, trees = 30, per = 63;
    const n = trees * per, inner = 31;
    const d = {
      test: pick(r, ["leq", "gt", "neq"] as const),
      feature: Int32Array.from({ length: n }, () => int(r, 0, features - 1)),
      threshold: vec(n),
      yes: Int32Array.from({ length: n }, (_, i) => i % per < inner ? i + (i % per) + 1 : -1),
      no: Int32Array.from({ length: n }, (_, i) => i % per < inner ? i + (i % per) + 2 : -1),
      roots: Int32Array.from({ length: trees }, (_, t) => t * per),
    };
    const tx = vec(rows * features);
    out.push({
      name: `treeLeaves ${rows} rows ${d.test}`,
      outputs: rows * trees,
      run: (jit, y) =>
        jit.treeLeaves(tx, jit.packTrees(d), new Int32Array(y.buffer, y.byteOffset, rows * trees), {
          rows,
          features,
        }),
    });
  }
  // select: over elements, b one value or a full operand.
  for (const bScalar of [true, false]) {
    const n = pick(r, [100, 4099, 70001]);
    const sm = Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)), sa = vec(n);
    const sb = vec(bScalar ? 1 : n);
    out.push({
      name: `select ${n} b ${bScalar ? "scalar" : "full"}`,
      outputs: n,
      run: (jit, y) => jit.select(sm, sa, sb, y),
    });
  }
  // squaredDistances: over rows of a.
  {
    const m = pick(r, [9, 100, 1001]), n = pick(r, [1, 13, 300]), k = pick(r, [1, 20, 33]);
    const da = vec(m * k), db = vec(k * n);
    out.push({
      name: `squaredDistances ${m}×${n} over ${k}`,
      outputs: m * n,
      run: (jit, y) => jit.squaredDistances(da, db, y, { m, n, k }),
    });
  }
  // conv2d: over row bands (one image) and over images.
  for (const n of [1, 3]) {
    const o = { ...randomConv(r), n, h: int(r, 6, 30) };
    const s = convSpecOf(o);
    const sizes = convSizes(s);
    if (sizes.y <= 0) continue; // the new h may leave no output (or a kernel past the input)
    const cx = vec(sizes.x), cw = vec(sizes.w), cb = vec(s.oc), cr = vec(sizes.y);
    out.push({
      name: `conv2d ${JSON.stringify(o)}`,
      outputs: sizes.y,
      run: (jit, y) => jit.conv2d(cx, cw, y, { ...o, bias: cb, residual: cr, activation: "gelu" }),
    });
  }
  {
    const o = {
      n: 1,
      c: 4,
      h: int(r, 4, 20),
      w: edge(),
      outChannels: 6,
      kernel: [3, 3],
      strides: [2, 2],
    };
    const oh = 2 * (o.h - 1) + 3, ow = 2 * (o.w - 1) + 3;
    const tx = vec(4 * o.h * o.w), tw = vec(4 * 6 * 9);
    out.push({
      name: `convTranspose2d ${JSON.stringify(o)}`,
      outputs: 6 * oh * ow,
      run: (jit, y) => jit.convTranspose2d(tx, tw, y, o),
    });
  }
  {
    const c = int(r, 2, 30), hw = edge(), bx = vec(2 * c * hw), bp = vec(4 * c).map(Math.abs);
    const o = {
      n: 2,
      c,
      h: 1,
      w: hw,
      scale: bp.subarray(0, c),
      bias: bp.subarray(c, 2 * c),
      mean: bp.subarray(2 * c, 3 * c),
      variance: bp.subarray(3 * c),
    };
    out.push({
      name: `batchNorm 2×${c}×${hw}`,
      outputs: 2 * c * hw,
      run: (jit, y) => jit.batchNorm(bx, y, o),
    });
  }
  {
    const o = {
      n: 3,
      c: int(r, 1, 5),
      h: int(r, 1, 20),
      w: edge(),
      outH: int(r, 1, 30),
      outW: edge(),
    };
    const rx = vec(3 * o.c * o.h * o.w);
    for (const mode of ["nearest", "linear", "cubic"] as const) {
      out.push({
        name: `resize ${mode} ${JSON.stringify(o)}`,
        outputs: 3 * o.c * o.outH * o.outW,
        run: (jit, y) => jit.resize(rx, y, { ...o, mode }),
      });
    }
  }
  const planes = int(r, 3, 20), ph = int(r, 3, 30), pw = edge() + 2;
  const px = vec(planes * ph * pw);
  for (const kind of ["max", "average"] as const) {
    const o = {
      n: 1,
      c: planes,
      h: ph,
      w: pw,
      kernel: [3, 3],
      strides: [2, 1],
      pads: [1, 1, 1, 1],
    };
    out.push({
      name: `pool ${kind} ${JSON.stringify(o)}`,
      outputs: planes * Math.floor((ph - 1) / 2 + 1) * pw,
      run: (jit, y) => jit.pool(kind, px, y, o),
    });
  }
  {
    // A transpose of a 3-D tensor with edge sizes, and a broadcast along one axis.
    const d = [int(r, 2, 9), edge(), int(r, 2, 7)];
    const cx = vec(d[0] * d[1] * d[2]);
    const dims = [d[2], d[0], d[1]], xStrides = [1, d[1] * d[2], d[2]];
    out.push({
      name: `copy transpose ${JSON.stringify(dims)}`,
      outputs: cx.length,
      run: (jit, y) => jit.copy(cx, y, { dims, xStrides }),
    });
    out.push({
      name: `copy broadcast ${JSON.stringify(d)}`,
      outputs: 3 * cx.length,
      run: (jit, y) => jit.copy(cx, y, { dims: [3, ...d], xStrides: [0, d[1] * d[2], d[2], 1] }),
    });
  }
  {
    // The 8-bit GEMM (int32 out, read through the output's bytes): an edge width, split over
    // column tiles or rows.
    const m = int(r, 1, 140), n = edge(), k = int(r, 1, 70), lda = Math.ceil(k / 4) * 4;
    const qa = Uint8Array.from({ length: m * lda }, () => int(r, 0, 255));
    const qb = Int8Array.from({ length: k * n }, () => int(r, -128, 127));
    out.push({
      name: `gemmInt8 ${m}×${n}×${k}`,
      outputs: m * n,
      run: (jit, y) =>
        jit.gemmInt8(
          qa,
          jit.packInt8B(qb, { k, n }),
          new Int32Array(y.buffer, y.byteOffset, m * n),
          {
            m,
            n,
            k,
          },
        ),
    });
  }
  {
    // Dynamic quantization of an edge length: y's bytes, then the scale and zero point.
    const n = 256 * int(r, 2, 40) + edge();
    const cx = vec(n), words = Math.ceil(n / 4);
    out.push({
      name: `quantizeDynamic n=${n}`,
      outputs: words + 2,
      run: (jit, y) =>
        jit.quantizeDynamic(
          cx,
          new Uint8Array(y.buffer, y.byteOffset, n),
          y.subarray(words, words + 1),
          new Uint8Array(y.buffer, y.byteOffset + 4 * (words + 1), 1),
        ),
    });
  }
  {
    // A 4-bit product: rows 1-4, tiles enough to split, a partial tile and a partial block.
    const m = int(r, 1, 4), k = 2 * int(r, 40, 200), n = 16 * int(r, 8, 20) + edge() % 16;
    const blocks = Math.ceil(k / 32);
    const w = packNBits({
      k,
      n,
      block: 32,
      q: Uint8Array.from({ length: n * blocks * 16 }, () => int(r, 0, 255)),
      scales: vec(n * blocks),
    });
    const ca = vec(m * k), bias = vec(n);
    out.push({
      name: `matmulNBits ${m}×${k}×${n}`,
      outputs: m * n,
      run: (jit, y) => jit.matmulNBits(ca, w, y, { m, bias }),
    });
  }
  {
    // An 8-bit convolution: bands of output rows, requantized bytes of an edge width.
    const c = int(r, 1, 9), oc = int(r, 1, 13), h = int(r, 6, 30), w = edge() + 2;
    const x = Uint8Array.from({ length: c * h * w }, () => int(r, 0, 255));
    const wq = Int8Array.from({ length: oc * c * 9 }, () => int(r, -128, 127));
    const scale = Float32Array.of(0.3 / (c * 9 * 128));
    out.push({
      name: `convInt8 ${c}→${oc} on ${h}×${w}`,
      outputs: Math.ceil(oc * h * w / 4),
      run: (jit, y) =>
        jit.convInt8(
          x,
          jit.packConvInt8(wq, { outChannels: oc, c, kernel: [3, 3] }),
          new Uint8Array(y.buffer, y.byteOffset, oc * h * w),
          {
            n: 1,
            c,
            h,
            w,
            outChannels: oc,
            kernel: [3, 3],
            pads: [1, 1, 1, 1],
            xZeroPoint: 7,
            scale,
            yZeroPoint: 100,
          },
        ),
    });
  }
  {
    // 8-bit elementwise: quantized, added to itself, dequantized (an edge length).
    const n = 256 * int(r, 2, 40) + edge(), cx = vec(n);
    out.push({
      name: `qlinear n=${n}`,
      outputs: n,
      run: (jit, y) => {
        const q = new Int8Array(n);
        jit.quantizeLinear(cx, q, { scale: 0.02, zeroPoint: 3 });
        jit.qlinearAdd(q, q, q, { aScale: 0.02, bScale: 0.03, yScale: 0.04, yZeroPoint: -1 });
        jit.dequantizeLinear(q, y, { scale: 0.04, zeroPoint: -1 });
      },
    });
  }
  // Attention split by key heads (across 2 items), by batch items (3 items, 2 key heads), or by
  // query rows (one of each; k and v bhsd): tails of keys and sizes, a bias over keys per item.
  for (const [batch, kvHeads] of [[2, 3], [3, 2], [1, pick(r, [1, 3])]]) {
    const heads = 2 * kvHeads, queries = int(r, 7, 40), keys = int(r, 3, 90);
    const D = pick(r, [8, 33, 64]), E = pick(r, [8, 20]);
    const q = vec(batch * queries * heads * D), k = vec(batch * keys * kvHeads * D);
    const v = vec(batch * keys * kvHeads * E), bias = vec(batch * keys);
    out.push({
      name: `attention ${batch}×${heads}/${kvHeads} q${queries} k${keys} d${D},${E}`,
      outputs: batch * queries * heads * E,
      run: (jit, y) =>
        jit.attention(q, k, v, y, {
          batch,
          heads,
          kvHeads,
          queries,
          keys,
          headSize: D,
          vHeadSize: E,
          // One item: k and v as a KV cache holds them, beside bshd queries.
          kvLayout: batch === 1 ? "bhsd" : "bshd",
          bias,
          biasShape: [batch, 1, 1],
        }),
    });
  }
  {
    // An elementwise chain of an edge length.
    const n = 16 * int(r, 40, 90) + edge();
    const cx = vec(n);
    out.push({
      name: `chain n=${n}`,
      outputs: n,
      run: (jit, y) =>
        jit.chain(cx, y, ["tanh", { op: "mul", x: true }, { op: "add", value: 0.25 }, "exp"]),
    });
  }
  return out;
}

Deno.test("threads: every family gives the same bits on 1, 2 and 3 threads, every ISA", () => {
  const families = new Set<string>();
  for (const isa of levelsUpTo(isaLevel())) {
    for (const seed of [11, 12]) {
      const list = cases(seed * 100 + isa.length);
      const results: Float32Array[][] = [];
      for (const threads of [1, 2, 3]) {
        using jit = new Jit({ threads, minPartUs: 0, maxIsa: isa });
        results.push(list.map((c) => {
          const y = new Float32Array(c.outputs);
          c.run(jit, y);
          return y;
        }));
        if (threads > 1) {
          for (const k of jit.stats().keys) if (k.threads > 1) families.add(k.family);
        }
      }
      list.forEach((c, i) => {
        for (const t of [1, 2]) {
          assert.deepEqual(
            results[t][i],
            results[0][i],
            `${c.name} at ${t + 1} threads, ${isa}, seed ${seed}`,
          );
        }
      });
    }
  }
  // Every family with a partition was split somewhere above.
  const splitting = FAMILIES.filter((f) => f.partition).map((f) => f.name).sort();
  assert.deepEqual([...families].sort(), splitting);
  // Every other family says why it runs on one thread (and none both splits and says so).
  for (const f of FAMILIES) {
    assert.ok(
      (f.partition === undefined) === (typeof f.oneThread === "string" && f.oneThread !== ""),
      `${f.name}: a family without threads must say why (oneThread), and only such a family`,
    );
  }
  assert.deepEqual(
    FAMILIES.filter((f) => !f.partition).map((f) => f.name).sort(),
    ["allFinite", "scaleRows"],
    "a family without threads",
  );
});

Deno.test("threads: 10,000 mixed calls on 2 and 3 threads, no deadlock, results of 1 thread", () => {
  const list = cases(77);
  using one = new Jit({ threads: 1 });
  const expected = list.map((c) => {
    const y = new Float32Array(c.outputs);
    c.run(one, y);
    return y;
  });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const r = rng(5);
  const ys = list.map((c) => new Float32Array(c.outputs));
  const small = list.map((_, i) => i).filter((i) => list[i].outputs <= 50_000);
  for (let call = 0; call < 10_000; call++) {
    const i = pick(r, small), jit = r() < 0.5 ? two : three;
    list[i].run(jit, ys[i]);
    if (call % 997 === 0) assert.deepEqual(ys[i], expected[i], `${list[i].name}, call ${call}`);
  }
  for (const i of small) assert.deepEqual(ys[i], expected[i], list[i].name);
});

Deno.test("threads: a call that throws in validation leaves the pool usable", () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const x = new Float32Array(4096).fill(1), y = new Float32Array(4096);
  jit.unary("exp", x, y);
  assert.throws(() => jit.unary("exp", x, new Float32Array(3)), RangeError);
  assert.throws(() => jit.softmax(x, y, { rows: 4097, cols: 1 }), RangeError);
  y.fill(0);
  jit.unary("exp", x, y);
  assert.ok(y.every((v) => v === Math.fround(Math.E)));
  assert.equal(jit.stats().keys.find((k) => k.family === "unary")!.threads, 2);
});

Deno.test("threads: close() joins every worker; several Jits share the pool", () => {
  const before = njitTasks().length;
  const x = new Float32Array(1 << 16).fill(1), y = new Float32Array(1 << 16);
  const a = new Jit({ threads: 3, minPartUs: 0 }), b = new Jit({ threads: 2, minPartUs: 0 });
  a.unary("relu", x, y);
  b.unary("relu", x, y);
  // One pool: 2 workers for the 3-thread Jit, none more for the other.
  assert.deepEqual(njitTasks().sort(), ["njit-worker-0", "njit-worker-1"]);
  assert.equal(sharedPool().workers, 2);
  a.close();
  assert.equal(njitTasks().length, 2, "b still uses the pool");
  b.unary("relu", x, y);
  b.close();
  assert.equal(njitTasksAfterJoin(before), before);
  // A new Jit starts workers again.
  using c = new Jit({ threads: 2, minPartUs: 0 });
  c.unary("relu", x, y);
  assert.equal(njitTasks().length, 1);
});

Deno.test("threads: a pool stopped before its new workers ran still joins them", () => {
  // A worker takes its first generation from its creator, not from when it
  // first runs (a shutdown published before then would be missed: a hang).
  const x = new Float32Array(4096).fill(1), y = new Float32Array(4096);
  for (let i = 0; i < 50; i++) {
    using jit = new Jit({ threads: 2 + (i % 2), minPartUs: 0 });
    jit.unary("exp", x, y);
  }
  assert.equal(njitTasksAfterJoin(0), 0);
});

Deno.test("threads: a process whose calls run on one thread assembles no worker code; the first split call does", async () => {
  const r = await runFixture("one_thread_pool.ts", ["-A"]);
  const one = r.oneThread as { installs: number; workers: number };
  const two = r.twoThreads as { installs: number; workers: number };
  assert.equal(r.relu, true);
  // The list runner and the timed entry only: no worker loop, forkJoin or shutdown code.
  assert.deepEqual(one, { installs: 2, workers: 0 });
  assert.ok((r.split as number) > 1, `the 2-thread call was not split (${r.split} parts)`);
  // Then forkJoin and the worker loop (shutdown waits for a stop).
  assert.deepEqual(two, { installs: 4, workers: 1 });
});

Deno.test("threads: a dropped Jit's workers end after collection", async () => {
  const r = await runFixture("dropped_pool.ts", ["-A", "--v8-flags=--expose-gc"]);
  assert.equal(r.during, 1);
  assert.equal(r.after, 0);
});

Deno.test("threads: a Jit dropped while holding the workers lets go of its hold when collected", async () => {
  const r = await runFixture("dropped_hold.ts", ["-A", "--v8-flags=--expose-gc"]);
  assert.equal(r.collected, true);
  // Over the 15 ms after a job: 50 µs of spin (0.3%) let go, the whole 15 ms held.
  const busy = r.busy as number;
  assert.ok(busy < 0.3, `the worker spun ${(100 * busy).toFixed(0)}% of 15 ms: the hold kept`);
});

Deno.test("threads: the async form completes while a timer keeps firing", async () => {
  using jit = new Jit({ threads: 2 });
  const n = 1024;
  const a = new Float32Array(n * n).map((_, i) => (i % 13) - 6);
  const c = new Float32Array(n * n), expected = new Float32Array(n * n);
  jit.gemm(a, a, expected, { m: n, n, k: n });
  jit.unary("tanh", expected, expected);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const done = jit.async(() => {
      for (let i = 0; i < 8; i++) jit.gemm(a, a, c, { m: n, n, k: n });
      jit.unary("tanh", c, c);
    });
    const ticksAtStart = ticks;
    await done;
    assert.ok(ticks > ticksAtStart, `the timer fired ${ticks - ticksAtStart} times meanwhile`);
  } finally {
    clearInterval(timer);
  }
  assert.deepEqual(c, expected);
  // Bad input rejects, runs nothing, and the next async call works.
  await assert.rejects(jit.async(() => jit.unary("exp", a, new Float32Array(1))), RangeError);
  await jit.gemmAsync(a, a, c, { m: n, n, k: n });
  // A split call whose kernels need no workspace, alone in its list.
  const x = new Float32Array(1 << 18).map((_, i) => Math.sin(i)), e1 = new Float32Array(x.length);
  jit.unary("exp", x, e1);
  const e2 = new Float32Array(x.length);
  await jit.async(() => jit.unary("exp", x, e2));
  assert.deepEqual(e2, e1);
  assert.ok(jit.stats().keys.find((k) => k.family === "unary")!.parts > 1);
});

Deno.test("threads: async lists reuse argument slabs and list blocks; each list still runs its own calls", async () => {
  using jit = new Jit({ threads: 1 });
  // Past one 16 KiB slab of 64-byte argument blocks: each list cuts two.
  const CALLS = 300, OPS = ["neg", "abs", "relu"] as const;
  const x = Array.from({ length: CALLS }, (_, i) => new Float32Array(8).fill(i - 150));
  const want = (op: string, v: number) =>
    op === "neg" ? -v : op === "abs" ? Math.abs(v) : Math.max(v, 0);
  for (let round = 0; round < 4; round++) {
    // Three lists in flight at once, then (next round) three more on the slabs they gave back.
    const ys = OPS.map(() => x.map(() => new Float32Array(8).fill(NaN)));
    const runs = OPS.map((op, l) =>
      jit.async(() => x.forEach((xi, i) => jit.unary(op, xi, ys[l][i])))
    );
    // A recording that throws gives its slabs back too, running none of its calls.
    const untouched = new Float32Array(8).fill(7);
    await assert.rejects(
      jit.async(() => {
        jit.unary("neg", x[0], untouched);
        throw new Error("stop");
      }),
      /stop/,
    );
    await Promise.all(runs);
    assert.deepEqual(untouched, new Float32Array(8).fill(7));
    OPS.forEach((op, l) =>
      ys[l].forEach((y, i) =>
        assert.deepEqual(y, new Float32Array(8).fill(want(op, i - 150)), `${op} ${i}`)
      )
    );
  }
});

Deno.test("threads: workers sleep when idle (under 1% of a core over 100 ms)", async () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const x = new Float32Array(1 << 16).fill(1), y = new Float32Array(1 << 16);
  for (let i = 0; i < 100; i++) jit.unary("exp", x, y);
  const cpuNs = () => sharedPool().workerCpuNs();
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now(), c0 = cpuNs();
  await new Promise((r) => setTimeout(r, 100));
  const busy = (cpuNs() - c0) / ((performance.now() - t0) * 1e6);
  assert.ok(busy < 0.01, `workers busy ${(100 * busy).toFixed(2)}% while idle`);
});

/** Time the host stole from this guest's CPUs so far, summed (ns; 0 where /proc/stat is unreadable). */
function stealNs(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/);
    return Number(fields[8] ?? 0) * 1e7; // USER_HZ ticks of 10 ms
  } catch {
    return 0;
  }
}

Deno.test("threads: holdWorkers keeps the workers awake between calls; released, they sleep again", async () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const x = new Float32Array(1 << 16).fill(1), y = new Float32Array(1 << 16);
  for (let i = 0; i < 20; i++) jit.unary("exp", x, y); // the pool started, its workers awake
  const sleeps = () => sharedPool().stats().reduce((t, w) => t + Number(w.sleeps), 0);
  const cpuNs = () => sharedPool().workerCpuNs();
  jit.holdWorkers(true);
  jit.unary("exp", x, y);
  const s0 = sleeps(), c0 = cpuNs(), t0 = performance.now(), steal0 = stealNs();
  await new Promise((r) => setTimeout(r, 10)); // 200 times the policy's spin, half the held one
  jit.unary("exp", x, y);
  // Held: no worker slept across the gap, and one spun through it: for at
  // least half of the time the guest had its CPUs (on a shared VM the host
  // steals time from a spinning vCPU, and a thread's CPU time omits it:
  // measured here, every failure of a plain wall-time bound came with
  // 410-470 ms of steal over the test; steal is per 10 ms tick, all CPUs).
  assert.equal(sleeps(), s0, "a held worker slept");
  const wallNs = (performance.now() - t0) * 1e6, stolen = stealNs() - steal0;
  assert.ok(
    cpuNs() - c0 > 0.5 * (wallNs - stolen),
    `no worker spun while held: ${((cpuNs() - c0) / 1e6).toFixed(1)} ms of CPU in ${
      (wallNs / 1e6).toFixed(1)
    } ms, ${(stolen / 1e6).toFixed(0)} ms stolen`,
  );
  jit.holdWorkers(false);
  jit.holdWorkers(false); // an extra release changes nothing
  await new Promise((r) => setTimeout(r, 10));
  const c1 = cpuNs(), t1 = performance.now();
  await new Promise((r) => setTimeout(r, 100));
  const busy = (cpuNs() - c1) / ((performance.now() - t1) * 1e6);
  assert.ok(busy < 0.01, `workers busy ${(100 * busy).toFixed(2)}% after the release`);
  assert.throws(() => jit.holdWorkers(1 as never), /holdWorkers/);
});

Deno.test("threads: a hold wakes the sleeping workers when the last hold's calls forked, not when they did not", async () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const x = new Float32Array(1 << 16).fill(1), y = new Float32Array(1 << 16);
  const cpuNs = () => sharedPool().workerCpuNs();
  const sleeping = () => !sharedPool().workerAwake;
  // Spinning (CPU time) for at least half of the guest's time over `ms`, as the test above measures it.
  const spunFor = async (ms: number) => {
    const c0 = cpuNs(), t0 = performance.now(), steal0 = stealNs();
    await new Promise((r) => setTimeout(r, ms));
    const wallNs = (performance.now() - t0) * 1e6, stolen = stealNs() - steal0;
    return (cpuNs() - c0) / Math.max(1, wallNs - stolen);
  };
  jit.holdWorkers(true);
  for (let i = 0; i < 20; i++) jit.unary("exp", x, y); // split calls: this hold forked
  jit.holdWorkers(false);
  await new Promise((r) => setTimeout(r, 20)); // 400 times the policy's spin: asleep
  assert.ok(sleeping(), "the workers still awake 20 ms after a release");
  jit.holdWorkers(true); // no call yet: the workers woken ahead of the run's first split call
  const woken = await spunFor(10);
  jit.holdWorkers(false); // no call in this hold: it did not fork
  assert.ok(woken > 0.5, `no worker spun after the hold began: ${(100 * woken).toFixed(0)}%`);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(sleeping(), "the workers still awake 20 ms after a release");
  jit.holdWorkers(true); // the last hold never forked: nobody woken
  const idle = await spunFor(10);
  jit.holdWorkers(false);
  assert.ok(
    idle < 0.05,
    `a worker spun ${(100 * idle).toFixed(0)}% after a hold that follows one that never forked`,
  );
});

Deno.test("threads: holdWorkers before a Jit's first call holds the workers its pool then starts", async () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  jit.holdWorkers(true); // no pool yet: the hold waits for it
  const x = new Float32Array(1 << 16).fill(1), y = new Float32Array(1 << 16);
  for (let i = 0; i < 20; i++) jit.unary("exp", x, y); // the pool started, its workers awake
  const sleeps = () => sharedPool().stats().reduce((t, w) => t + Number(w.sleeps), 0);
  const s0 = sleeps();
  await new Promise((r) => setTimeout(r, 10)); // 200 times the policy's spin, half the held one
  jit.unary("exp", x, y);
  assert.equal(sleeps(), s0, "a worker held from before the pool started slept");
  jit.holdWorkers(false);
});

Deno.test("threads: a split key dumps each distinct part's kernel, and its whole-call kernel", () => {
  const dir = Deno.makeTempDirSync({ prefix: "njit-dump-" });
  try {
    using forced = new Jit({ dump: `${dir}/forced`, threads: 3, minPartUs: 0 });
    // 100 rows in 12 parts of 8 or 9 rows: two distinct kernels.
    const x = new Float32Array(100 * 40).fill(1);
    forced.softmax(x, new Float32Array(x.length), { rows: 100, cols: 40 });
    const names = [...Deno.readDirSync(`${dir}/forced`)].map((e) => e.name).sort();
    assert.equal(names.length, 4, names.join(" "));
    assert.ok(names[0].includes("part0") && names[2].includes("part1"), names.join(" "));
    assert.equal(forced.stats().keys[0].threads, 3);
    assert.equal(forced.stats().keys[0].parts, 12);
    // Under the default cut-off a call too small to wake sleeping workers also gets the
    // whole-call kernel it runs when none is awake: 1000 rows in parts (as many as the cost
    // model gives it at this ISA: one distinct kernel where they divide 1000, else two).
    using small = new Jit({ dump: `${dir}/small`, threads: 3 });
    const z = new Float32Array(1000 * 100).fill(1);
    small.softmax(z, new Float32Array(z.length), { rows: 1000, cols: 100 });
    const more = [...Deno.readDirSync(`${dir}/small`)].map((e) => e.name).sort();
    const parts = small.stats().keys[0].parts, distinct = 1000 % parts === 0 ? 1 : 2;
    assert.ok(parts > 1, `${parts} parts`);
    assert.equal(more.length, 2 * (distinct + 1), more.join(" "));
    assert.ok(more[0].includes("part0"), more.join(" "));
    assert.ok(more.slice(-2).every((name) => name.includes("whole")), more.join(" "));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("threads: a Jit works inside a Deno Worker, same bits as here", async () => {
  const x = new Float32Array(64 * 300).map((_, i) => Math.sin(i) * 4);
  using jit = new Jit({ threads: 1 });
  const expected = new Float32Array(x.length);
  jit.softmax(x, expected, { rows: 64, cols: 300 });
  const worker = new Worker(new URL("./fixtures/worker_jit.ts", import.meta.url), {
    type: "module",
  });
  const reply = new Promise<{ y: Float32Array; parts: number }>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(e);
  });
  worker.postMessage({ x });
  const { y, parts } = await reply;
  assert.ok(parts > 1, `${parts} parts`);
  assert.deepEqual(y, expected);
});

Deno.test("threads: workers never delay process exit; NJIT_NUM_THREADS sets the default", async () => {
  for (const how of ["return", "exit"]) {
    // A worker that held the process up would make the child miss the 20 s timeout.
    const r = await runFixture("exit_with_workers.ts", ["-A"], {
      NJIT_NUM_THREADS: "3",
      NJIT_EXIT: how,
    }, 20_000);
    assert.deepEqual(r, { threads: 3, keyThreads: 3 }, how);
  }
});

Deno.test("threads: calls made while an async job holds the pool run on the caller, same bits", async () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  const n = 1024;
  const a = new Float32Array(n * n).map((_, i) => (i % 7) - 3), c = new Float32Array(n * n);
  const x = new Float32Array(64 * 100).map((_, i) => Math.cos(i)),
    expected = new Float32Array(x.length);
  jit.softmax(x, expected, { rows: 64, cols: 100 });
  const serialBefore = sharedPool().serialCalls;
  let done = false;
  const job = jit.async(() => {
    for (let i = 0; i < 8; i++) jit.gemm(a, a, c, { m: n, n, k: n });
  }).then(() => (done = true));
  const y = new Float32Array(x.length);
  let calls = 0;
  while (!done) {
    jit.softmax(x, y, { rows: 64, cols: 100 });
    assert.deepEqual(y, expected);
    calls++;
    await new Promise((r) => setTimeout(r, 0));
  }
  await job;
  assert.ok(calls > 0);
  assert.ok(sharedPool().serialCalls > serialBefore, `${calls} calls, none found the pool busy`);
});

Deno.test("threads: bad thread options and misuse of the async form throw, naming what is wrong", async () => {
  for (const threads of [0, -1, 1.5, "2", 1000]) {
    assert.throws(() => new Jit({ threads: threads as number }), RangeError, String(threads));
  }
  for (const minPartUs of [-1, NaN, "1"]) {
    assert.throws(() => new Jit({ minPartUs: minPartUs as number }), RangeError, String(minPartUs));
  }
  using jit = new Jit({ threads: 2 });
  const x = new Float32Array(16), y = new Float32Array(16);
  // Nested: the inner call throws inside the outer recording, which rejects and runs nothing.
  await assert.rejects(
    jit.async(() => {
      jit.unary("exp", x, y);
      void jit.async(() => jit.unary("exp", x, y));
    }),
    /do not nest/,
  );
  // Nothing was left recording: a plain call runs at once.
  x.fill(0);
  jit.unary("exp", x, y);
  assert.equal(y[0], 1);
  // A resizable buffer: fine synchronously, refused by the async form with its name.
  const rx = new Float32Array(new ArrayBuffer(64, { maxByteLength: 128 }));
  jit.unary("exp", rx, y);
  await assert.rejects(
    jit.async(() => jit.unary("exp", rx, y)),
    TypeError,
    "x is a view of a resizable",
  );
  jit.close();
  await assert.rejects(jit.async(() => {}), /closed/);
});

Deno.test("threads: operands detached and collected during an async call do not crash it", async () => {
  const r = await runFixture("async_detach.ts", ["-A", "--v8-flags=--expose-gc"]);
  assert.equal(r.done, 3);
});

Deno.test("threads: kernels evicted while an async list records or runs them stay until it ends", async () => {
  const r = await runFixture("async_evict.ts", ["-A"]);
  assert.ok((r.before as number) > 100 && (r.evictions as number) > (r.before as number));
  assert.equal(r.gemmState, "evicted", "the replayed kernel was evicted while in flight");
  assert.ok(
    (r.blocksInFlight as number) > (r.blocksAfter as number),
    `code blocks ${r.blocksInFlight} while the replay held the evicted kernel, ${r.blocksAfter} after`,
  );
});

Deno.test("threads: a small split call runs whole when the workers sleep, in parts in a stream, same bits", async () => {
  using one = new Jit({ threads: 1 });
  using jit = new Jit({ threads: 2 });
  const z = new Float32Array(1000 * 100).map((_, i) => Math.sin(i)),
    expected = new Float32Array(z.length);
  one.softmax(z, expected, { rows: 1000, cols: 100 });
  const y = new Float32Array(z.length);
  jit.softmax(z, y, { rows: 1000, cols: 100 }); // compiles; the pool starts
  assert.equal(jit.stats().keys[0].parts, 8);
  await new Promise((r) => setTimeout(r, 20)); // the workers sleep by now
  const jobs = () => sharedPool().stats().reduce((n, w) => n + w.jobs, 0);
  const before = jobs();
  y.fill(0);
  jit.softmax(z, y, { rows: 1000, cols: 100 }); // alone: the whole-call kernel, no wake-up
  assert.deepEqual(y, expected);
  assert.equal(jobs(), before, "a worker was woken for a small call");
  for (let i = 0; i < 200; i++) jit.softmax(z, y, { rows: 1000, cols: 100 }); // a dense stream
  assert.deepEqual(y, expected);
  assert.ok(jobs() > before, "a dense stream of small calls never woke the workers");
});

Deno.test("threads: a split key called on other arrays reads and writes those (part blocks follow the views)", () => {
  using jit = new Jit({ threads: 2, minPartUs: 0 });
  using one = new Jit({ threads: 1 });
  const xs = [1, 2, 3].map((s) => new Float32Array(64 * 100).map((_, i) => Math.sin(i * s)));
  const ys = xs.map(() => new Float32Array(64 * 100));
  const small = new Float32Array(8);
  for (let round = 0; round < 3; round++) {
    xs.forEach((x, i) => {
      ys[i].fill(0);
      jit.softmax(x, ys[i], { rows: 64, cols: 100 }); // back to back on new arrays
      if (round === 2) jit.unary("relu", small, small); // or with another key in between
    });
  }
  assert.equal(jit.stats().keys.find((k) => k.family === "softmax")!.compiles, 1);
  xs.forEach((x, i) => {
    const expected = new Float32Array(x.length);
    one.softmax(x, expected, { rows: 64, cols: 100 });
    assert.deepEqual(ys[i], expected, `array ${i}`);
  });
});

// A family whose text does not name its parts' ranges (describe is for people): its parts must
// still get kernels of their own — the runtime tells parts apart by their specs.
interface SliceSpec {
  n: number;
  from: number;
  count: number;
}
const SLICES: OpFamily<SliceSpec, KernelPlan> = {
  name: "slices",
  keyFields: ["n"],
  operands: ["x", "y"],
  outputs: 1,
  decode: (key) => ({ n: key[1], from: 0, count: key[1] }),
  describe: (s) => `slices n=${s.n}`,
  cost: (s) => ({ flops: 1e9, bytes: 8 * s.n }),
  plan: () => ({ workspaceBytes: 0, description: "one pass" }),
  fallbackPlan: () => ({ workspaceBytes: 0, description: "one pass" }),
  partition: (s, p, parts) =>
    Array.from({ length: parts }, (_, i): Part<SliceSpec, KernelPlan> => {
      const from = Math.floor((s.n * i) / parts), to = Math.floor((s.n * (i + 1)) / parts);
      return { spec: { ...s, from, count: to - from }, plan: p, offsets: [0, 0] };
    }),
  partsPerThread: () => 1,
  generate: (s, _p, o): Program => {
    const a = new Assembler({ listing: o.listing });
    loadPointer(a, rax, 0);
    loadPointer(a, rcx, 1);
    if (s.from) {
      a.emit("add", rax, 4 * s.from);
      a.emit("add", rcx, 4 * s.from);
    }
    countedLoop(a, r8, s.count, () => {
      a.emit("movss", XMM[0], dword(rax, 0));
      a.emit("addss", XMM[0], XMM[0]);
      a.emit("movss", dword(rcx, 0), XMM[0]);
      a.emit("add", rax, 4);
      a.emit("add", rcx, 4);
    });
    a.emit("ret");
    return a.finish();
  },
  reference: (s, [x, y]) => {
    for (let i = s.from; i < s.from + s.count; i++) y[i] = x[i] + x[i];
  },
};

Deno.test("threads: parts whose family text is the same still run kernels of their own", () => {
  const owner = {};
  const rt = new Runtime({
    threshold: 100,
    capacity: 16,
    maxBytes: 1 << 20,
    keyCapacity: 64,
    profile: false,
    verbose: false,
    dump: undefined,
    jit: true,
    isa: "sse2",
    target: { isa: "sse2", l1d: 32 << 10, l2: 1 << 20 },
    threads: 3,
    minPartNs: 0,
    tuneBudget: 0,
    tuneCache: null,
    codeCache: null,
    families: [SLICES],
  }, owner);
  try {
    const n = 3001,
      x = Float32Array.from({ length: n }, (_, i) => i + 0.5),
      y = new Float32Array(n);
    rt.operand(SLICES, 0, x);
    rt.operand(SLICES, 1, y);
    rt.key[1] = n;
    rt.extents[0] = rt.extents[1] = 4 * n;
    rt.run(0);
    for (let i = 0; i < n; i++) assert.equal(y[i], 2 * x[i], `y[${i}]`);
  } finally {
    rt.close();
  }
});

/**
 * A part kernel for raw jobs, its argument block [tid u32, order u32, ticks
 * u32, _, counter address u64]: spins for `ticks` TSC ticks, then takes its
 * place in the order of parts run (a `lock xadd` on the counter) and writes
 * it and its thread's id (gettid).
 */
function partRecorderCode(): Uint8Array {
  const a = new Assembler();
  const spin = a.label();
  a.emit("mov", ecx, dword(rdi, 8));
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("mov", r8, rax);
  a.bind(spin);
  a.emit("rdtsc");
  a.emit("shl", rdx, 32);
  a.emit("or", rax, rdx);
  a.emit("sub", rax, r8);
  a.emit("cmp", rax, rcx);
  a.emit("jb", spin);
  a.emit("mov", rcx, qword(rdi, 16));
  a.emit("mov", eax, 1);
  a.emit("lock");
  a.emit("xadd", dword(rcx, 0), eax);
  a.emit("mov", dword(rdi, 4), eax);
  a.emit("mov", eax, 186); // gettid
  a.emit("syscall");
  a.emit("mov", dword(rdi, 0), eax);
  a.emit("ret");
  return a.finish().code;
}

Deno.test("threads: a job's parts are cut in one range per thread, each thread's own run first", async () => {
  const pool = sharedPool();
  const arena = new CodeArena({ budgetBytes: 1 << 16, chunkBytes: 1 << 16 });
  const code = arena.install(partRecorderCode());
  const counter = new NativeBlock(64);
  const page = new DataView(
    Deno.UnsafePointerView.getArrayBuffer(
      Deno.UnsafePointer.create(BigInt(pool.address))!,
      POOL_BYTES,
    ),
  );
  /** Runs a job of `n` parts of `ticks` each: each part's thread id and place in the order run. */
  const run = (n: number, ticks: number, wake: boolean) => {
    const blocks = Array.from({ length: n }, () => new NativeBlock(32));
    const job = new NativeBlock(JOB_PARTS + n * PART_BYTES);
    job.u32[0] = n;
    job.u32[JOB_WAKE / 4] = wake ? 1 : 0;
    counter.u32[0] = 0;
    blocks.forEach((b, i) => {
      b.u32[2] = ticks;
      b.u32[4] = counter.address % 2 ** 32;
      b.u32[5] = Math.floor(counter.address / 2 ** 32);
      job.f64[(JOB_PARTS + i * PART_BYTES) / 8] = code.address;
      job.f64[(JOB_PARTS + i * PART_BYTES) / 8 + 1] = b.address;
    });
    dispatch().call(pool.forkJoin, job.pointer);
    return { tids: blocks.map((b) => b.u32[0]), order: blocks.map((b) => b.u32[1]) };
  };
  const self = new NativeBlock(32);
  self.u32[4] = counter.address % 2 ** 32;
  self.u32[5] = Math.floor(counter.address / 2 ** 32);
  dispatch().call(code.pointer, self.pointer);
  const callerTid = self.u32[0];
  const before = pool.spin;
  const asleep = async () => {
    for (let i = 0; i < 200 && page.getUint32(POOL.SLEEPERS, true) < pool.workers; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(page.getUint32(POOL.SLEEPERS, true), pool.workers, "the workers never slept");
  };
  try {
    for (const workers of [1, 2]) {
      pool.acquire(workers);
      pool.setSpin({ workerUs: 0, callerUs: 0, streamUs: 0 });
      for (const n of [1, 2, 3, 8, 13]) {
        // Workers asleep and not woken: the caller runs every part, its own range's from the
        // front, then each other range's from the back, so the order shows the ranges:
        // ⌊t·n/R⌋ to ⌊(t+1)·n/R⌋ for R = min(threads, n).
        await asleep();
        const { tids, order } = run(n, 0, false);
        assert.ok(tids.every((t) => t === callerTid), `workers ${workers}, ${n} parts: ${tids}`);
        const count = Math.min(pool.workers + 1, n);
        const cut = (t: number) => Math.floor((t * n) / count);
        const expected: number[] = [];
        for (let i = cut(0); i < cut(1); i++) expected.push(i);
        for (let t = 1; t < count; t++) {
          for (let i = cut(t + 1) - 1; i >= cut(t); i--) expected.push(i);
        }
        const ran = order.map((_, i) => order.indexOf(i));
        assert.deepEqual(ran, expected, `workers ${workers}, ${n} parts`);
      }
      pool.release();
    }
    // Workers kept awake, 8 parts of equal length: each range runs on one thread, the
    // first on the caller (a part claimed from a shared counter went to whichever thread was
    // free: the threads' parts interleaved, and consecutive calls cut alike found their
    // operands in another core's cache). A late worker lets others take some of its range;
    // one clean job in 20 is asked. The pool may hold workers of earlier tests' Jits still.
    if (affinityCpus() < 2) {
      console.log("one CPU: no thread can run its range beside the caller's; not checked");
      return;
    }
    pool.acquire(1);
    pool.setSpin({ workerUs: 100_000, callerUs: 1000, streamUs: 0 });
    run(8, 1000, true); // wakes them
    const count = Math.min(pool.workers + 1, 8);
    const cut = (t: number) => Math.floor((t * 8) / count);
    let clean = 0;
    for (let trial = 0; trial < 20 && clean === 0; trial++) {
      const { tids } = run(8, 200_000, true);
      assert.ok(tids.every((t) => t > 0), `every part ran: ${tids}`);
      const owners = Array.from(
        { length: count },
        (_, t) => new Set(tids.slice(cut(t), cut(t + 1))),
      );
      const alone = owners.every((o) => o.size === 1);
      const distinct = new Set(owners.map((o) => [...o][0])).size === count;
      if (alone && distinct && owners[0].has(callerTid)) clean++;
    }
    assert.ok(clean > 0, "no job ran each range on one thread, the first on the caller");
    pool.release();
  } finally {
    pool.setSpin(before);
    arena.close();
  }
});

Deno.test("threads: a split call keeps the workers off the calling thread's CPU", () => {
  if (affinityCpus() < 2) return console.log("one CPU: nothing to keep off");
  const j = new Jit({ threads: 2, tuneBudget: 0 });
  const pool = sharedPool();
  const page = new DataView(
    Deno.UnsafePointerView.getArrayBuffer(
      Deno.UnsafePointer.create(BigInt(pool.address))!,
      POOL_BYTES,
    ),
  );
  const mode = page.getUint32(POOL.KEEP_OFF, true);
  try {
    const n = 256, a = new Float32Array(n * n).fill(1), c = new Float32Array(n * n);
    // Calls until every worker has started (a new one's thread runs when the scheduler lets
    // it; the job after its start keeps it off), then one more.
    const tids = () =>
      Array.from(
        { length: page.getUint32(POOL.WORKER_COUNT, true) },
        (_, i) => page.getUint32(POOL.WORKERS + i * WORKER_BYTES + WORKER.TID, true),
      );
    for (let i = 0; i < 2000 && (i < 3 || tids().length === 0 || tids().includes(0)); i++) {
      j.gemm(a, a, c, { m: n, n, k: n });
    }
    const cpus = (list: string) =>
      list.split(",").flatMap((r) => {
        const [lo, hi = lo] = r.split("-").map(Number);
        return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
      });
    assert.ok(mode > 0, "the pool keeps no worker off the caller");
    // The pool's own way of reading the caller's CPU (RDTSCP, or the per-CPU segment's limit),
    // then the getcpu syscall it falls back to: each read anew (no CPU recorded, none read).
    for (const how of [mode, 3]) {
      page.setUint32(POOL.KEEP_OFF, how, true);
      page.setInt32(POOL.LAST_CPU, -1, true);
      page.setBigUint64(POOL.CPU_READ_AT, 0n, true);
      j.gemm(a, a, c, { m: n, n, k: n });
      const last = page.getInt32(POOL.LAST_CPU, true);
      assert.ok(last >= 0, `way ${how}: no caller CPU recorded: ${last}`);
      // This pool's workers by the thread ids in their records (threads of other isolates'
      // pools, a Deno Worker's, are named alike).
      let workers = 0;
      for (const tid of tids()) {
        const status = Deno.readTextFileSync(`/proc/self/task/${tid}/status`);
        const allowed = cpus(/Cpus_allowed_list:\s*(.*)/.exec(status)![1].trim());
        assert.ok(!allowed.includes(last), `way ${how}: worker ${tid} may run on CPU ${last}`);
        workers++;
      }
      assert.ok(workers > 0, `no worker started: ${tids()}`);
    }
  } finally {
    page.setUint32(POOL.KEEP_OFF, mode, true);
    j.close();
  }
});

Deno.test("native: the per-CPU segment's limit reads the CPU sched_getcpu does", () => {
  const cpu = lslCpu();
  // Linux x86-64 has had the per-CPU segment (selector 0x7b) since 2.6: a −1 there is our bug.
  assert.ok(Deno.build.os !== "linux" || cpu >= 0, `lsl read no CPU: ${cpu}`);
  if (cpu < 0) return console.log("no readable per-CPU segment here (not Linux)");
  // The thread pinned to each CPU it may use in turn (then its own mask back): every CPU's
  // number read, not only the one the test happens to run on.
  const c = libc(), bytes = 128n, mask = new Uint8Array(128), one = new Uint8Array(128);
  assert.equal(c.sched_getaffinity(0, bytes, mask), 0);
  let checked = 0;
  try {
    for (let cpu = 0; cpu < 1024; cpu++) {
      if ((mask[cpu >> 3] & (1 << (cpu & 7))) === 0) continue;
      one.fill(0);
      one[cpu >> 3] = 1 << (cpu & 7);
      assert.equal(c.sched_setaffinity(0, bytes, one), 0);
      assert.equal(c.sched_getcpu(), cpu);
      assert.equal(lslCpu(), cpu, `CPU ${cpu}`);
      checked++;
    }
  } finally {
    c.sched_setaffinity(0, bytes, mask);
  }
  assert.ok(checked > 0);
});

Deno.test("threads: each part's workspace ends on a page of its own, a page or more before the next", () => {
  for (const bytes of [1, 63, 64, 100, 4095, 4096, 4097, 40960, 106496, 1 << 20]) {
    const { stride, first } = partWorkspaces(bytes);
    assert.equal(stride % 4096, 0, `${bytes}: stride ${stride}`);
    assert.equal(first % 64, 0, `${bytes}: first ${first}`);
    for (let p = 0; p < 4; p++) {
      const start = first + p * stride, end = start + bytes;
      assert.ok(end <= (p + 1) * stride, `${bytes}: part ${p} ends at ${end}`);
      assert.ok((p + 1) * stride - end < 64, `${bytes}: part ${p} ends within a line of its page`);
      if (p > 0) {
        const previousEnd = first + (p - 1) * stride + bytes;
        assert.ok(start - previousEnd >= PART_WORKSPACE_GAP, `${bytes}: gap before part ${p}`);
      }
    }
  }
  assert.deepEqual(partWorkspaces(0), { stride: 0, first: 0 });
});

Deno.test("policy: a call's flops take twice as long at AVX2 as at AVX-512, and split accordingly", () => {
  // 3 µs of flops at AVX-512's rate: two parts there, four (two a thread) at AVX2's.
  const cost = { flops: 2 * MIN_PART_NS * CORE_RATES.flopsPerNs, bytes: 0 };
  assert.equal(estimatedNs(cost, "avx2"), 2 * estimatedNs(cost, "avx512"));
  assert.equal(estimatedNs(cost, "amx"), estimatedNs(cost, "avx512"));
  assert.equal(partsFor(cost, 2, "avx512", MIN_PART_NS, 4), 2);
  assert.equal(partsFor(cost, 2, "avx2", MIN_PART_NS, 4), 4);
  // Bytes cost the same at every level.
  const bytes = { flops: 0, bytes: 64 << 10 };
  assert.equal(estimatedNs(bytes, "sse2"), estimatedNs(bytes, "avx512"));
});
