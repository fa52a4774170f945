/**
 * Kernels never touch memory outside what validation accepted: every operand
 * is placed flush against an inaccessible (PROT_NONE) page — its last element
 * just before one, or its first element just after one — so a read or write
 * one element too far kills the process and fails this test.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { aExtent, bExtent, cExtent } from "../src/kernels/gemm/mod.ts";
import { STREAM_STORES_FROM } from "../src/kernels/elementwise.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { gemmConfigurations, PATH_CACHES } from "./helpers/configurations.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { convSizes, convSpecOf, randomConv } from "./helpers/conv.ts";
import { guarded } from "./helpers/guarded.ts";

Deno.test("bounds: kernels stay inside A, B and C, with guard pages on both sides", () => {
  const r = rng(4242);
  using jit = new Jit();
  // Every call split between 3 threads too: each part's operands against the same guards.
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (const { level, isa } of gemmConfigurations()) {
    for (let t = 0; t < 60; t++) {
      const m = pick(r, [1, 2, 3, 5, 7, 13, 17, 33, int(r, 1, 70)]);
      const n = pick(r, [1, 2, 3, 7, 9, 15, 17, 31, 33, int(r, 1, 90)]);
      const k = pick(r, [1, 2, 3, 5, 8, 17, int(r, 1, 80)]);
      const transA = r() < 0.4, transB = r() < 0.4;
      const lda = (transA ? m : k) + int(r, 0, 3),
        ldb = (transB ? k : n) + int(r, 0, 3),
        ldc = n + int(r, 0, 3);
      const alpha = pick(r, [1, -2]), beta = pick(r, [0, 1, 0.5]);
      // Exactly the extents validation requires (its own functions), nothing more.
      const spec = { m, n, k, transA, transB, lda, ldb, ldc, alpha, beta };
      const aLen = aExtent(spec), bLen = bExtent(spec), cLen = cExtent(spec);
      for (const side of ["end", "start"] as const) {
        const A = guarded(aLen, side), B = guarded(bLen, side), C = guarded(cLen, side);
        try {
          A.view.fill(1);
          B.view.fill(2);
          C.view.fill(3);
          const opts = { m, n, k, transA, transB, lda, ldb, ldc, alpha, beta };
          if (level === 3) {
            jit.gemm(A.view, B.view, C.view, opts); // the runtime's plan
            split.gemm(A.view, B.view, C.view, opts);
            // And its epilogue, with the bias against a guard page too.
            const BIAS = guarded(n, side);
            try {
              jit.gemm(A.view, B.view, C.view, { ...opts, bias: BIAS.view, activation: "gelu" });
              split.gemm(A.view, B.view, C.view, { ...opts, bias: BIAS.view, activation: "gelu" });
            } finally {
              BIAS.free();
            }
            C.view.fill(3);
          }
          const kernel = jit.compileGemm(opts, { level, isa });
          kernel.run(A.view, B.view, C.view);
          kernel.free();
          runs++;
          // Untouched padding of C keeps its value; the m×n window got alpha·(2k) + beta·old.
          for (let i = 0; i < m; i++) {
            for (let j = n; j < ldc && i * ldc + j < cLen; j++) {
              assert.equal(C.view[i * ldc + j], 3);
            }
          }
        } finally {
          A.free();
          B.free();
          C.free();
        }
      }
    }
  }
  assert.equal(runs, gemmConfigurations().length * 60 * 2);
});

Deno.test("bounds: the packed, skinny, strip and dot paths at sizes that select them, guarded", () => {
  using jit = new Jit({ caches: PATH_CACHES });
  using split = new Jit({ threads: 3, minPartUs: 0, caches: PATH_CACHES });
  const shapes: [number, number, number, boolean, boolean?][] = [
    [70, 600, 900, true],
    [130, 1030, 1100, false], // B's strips copied (AVX-512), else packed
    [300, 1100, 900, true, true], // packed (Aᵀ·Bᵀ, many rows)
    [3, 2053, 1031, false],
    [1, 4099, 600, false],
    [40, 1000, 900, true], // Bᵀ transposed strip by strip (AVX-512)
    [40, 300, 3000, false], // K blocks, next strip prefetched (AVX-512)
    [20, 1024, 600, false], // K blocks, B's rows 4 KiB apart: strips copied (AVX-512)
    [5, 3001, 700, true], // dot products
  ];
  for (const [m, n, k, transB, transA = false] of shapes) {
    for (const side of ["end", "start"] as const) {
      const A = guarded(m * k, side), B = guarded(k * n, side), C = guarded(m * n, side);
      try {
        A.view.fill(1);
        B.view.fill(1);
        jit.gemm(A.view, B.view, C.view, { m, n, k, transA, transB });
        assert.equal(C.view[0], k);
        assert.equal(C.view[m * n - 1], k);
        C.view.fill(0);
        split.gemm(A.view, B.view, C.view, { m, n, k, transA, transB });
        assert.equal(C.view[0], k);
        assert.equal(C.view[m * n - 1], k);
      } finally {
        A.free();
        B.free();
        C.free();
      }
    }
  }
  const plans = jit.stats().keys.map((s) => s.plan ?? "");
  if (jit.isa !== "scalar") assert.ok(plans.some((p) => p.includes("packed")), plans.join(" | "));
  if (jit.isa === "avx2" || jit.isa === "avx512" || jit.isa === "amx") {
    assert.ok(plans.some((p) => p.includes("skinny")), plans.join(" | "));
    assert.ok(plans.some((p) => p.includes("dot products")), plans.join(" | "));
  }
  if (jit.isa === "avx512" || jit.isa === "amx") {
    assert.ok(plans.some((p) => p.includes("B copied strip by strip")), plans.join(" | "));
    assert.ok(plans.some((p) => p.includes("strip by strip")), plans.join(" | "));
    assert.ok(plans.some((p) => p.includes("next B strip")), plans.join(" | "));
  }
});

Deno.test("bounds: B in panels, A and C against guard pages (every panel and the narrow last one)", () => {
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const [m, n, k] of [[1, 1030, 300], [5, 200, 77], [13, 70, 129], [1, 10, 1024]]) {
    const b = new Float32Array(k * n).fill(1);
    for (const side of ["end", "start"] as const) {
      const A = guarded(m * k, side), C = guarded(m * n, side);
      try {
        A.view.fill(1);
        for (const j of [jit, split]) {
          C.view.fill(0);
          j.gemm(A.view, j.packB(b, { k, n, layout: "panels" }), C.view, { m, n, k });
          assert.equal(C.view[0], k);
          assert.equal(C.view[m * n - 1], k);
        }
      } finally {
        A.free();
        C.free();
      }
    }
  }
  const plans = jit.stats().keys.map((s) => s.plan ?? "");
  assert.ok(plans.some((p) => p.includes("panels of 64")), plans.join(" | "));
});

Deno.test("bounds: every neural op stays inside its operands, guard pages on both sides", () => {
  const r = rng(777);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (let t = 0; t < 120; t++) {
    const rows = pick(r, [1, 2, 3, 5, 17, 34]),
      cols = pick(r, [1, 7, 15, 16, 17, 31, 33, 100, int(r, 1, 300)]);
    const n = rows * cols;
    for (const side of ["end", "start"] as const) {
      const X = guarded(n, side), Y = guarded(n, side), R = guarded(n, side);
      const G = guarded(cols, side), B = guarded(cols, side), S = guarded(rows, side);
      try {
        X.view.fill(0.5);
        R.view.fill(0.25);
        G.view.fill(1);
        B.view.fill(0);
        const op = pick(r, ["gelu", "tanh", "relu", "log", "softplus"] as const);
        const log = r() < 0.5, reduction = pick(r, ["sum", "max", "logSumExp"] as const);
        // Whole, and split into parts on 3 threads (every part against the same guards).
        for (const j of [jit, split]) {
          j.unary(op, X.view, Y.view);
          j.softmax(X.view, Y.view, { rows, cols, log });
          j.layerNorm(X.view, Y.view, {
            rows,
            cols,
            scale: G.view,
            bias: B.view,
            residual: R.view,
          });
          j.rmsNorm(X.view, Y.view, { rows, cols, scale: G.view });
          j.reduce(reduction, X.view, S.view, { rows, cols });
          j.binary("add", X.view, [rows, cols], G.view, [cols], Y.view);
          j.binary("pow", X.view, [rows, cols], S.view.subarray(0, 1), [1], Y.view);
        }
        runs++;
      } finally {
        for (const g of [X, Y, R, G, B, S]) g.free();
      }
    }
  }
  assert.equal(runs, 240);
});

Deno.test("bounds: unary and binary ops storing y past the last-level cache by non-temporal stores stay inside their operands, guard pages on both sides", () => {
  // y of STREAM_STORES_FROM bytes and more: a masked head up to y's first line, whole lines
  // by non-temporal stores, a masked rest. y flush against a guard page and a float in; on
  // 1 and 3 threads (each part's head and rest at the guards too).
  const n = STREAM_STORES_FROM / 4 + 5;
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  for (const side of ["end", "start"] as const) {
    const X = guarded(n, side), Y = guarded(n + 1, side);
    try {
      X.view.fill(-0.5).fill(2, 0, 9);
      for (const y of [Y.view.subarray(0, n), Y.view.subarray(1)]) {
        for (const j of [jit, split]) {
          j.unary("relu", X.view, y);
          assert.equal(y[0], 2, side);
          assert.equal(y[n - 1], 0, side);
          j.binary("add", X.view, [n], X.view, [n], y);
          assert.equal(y[0], 4, side);
          assert.equal(y[n - 1], -1, side);
        }
      }
    } finally {
      X.free();
      Y.free();
    }
  }
  // Runs of whole lines with a value a run (NCHW times a value a channel): each run's last
  // line carried to the next where y starts off a line; the call's first and last lines
  // masked at the guards.
  const c = 64, plane = 256, images = Math.ceil(STREAM_STORES_FROM / 4 / (c * plane));
  const m = images * c * plane, dims = [images, c, plane];
  const perChannel = new Float32Array(c).map((_, i) => i + 1);
  for (const side of ["end", "start"] as const) {
    const X = guarded(m, side), Y = guarded(m + 1, side);
    try {
      X.view.fill(2);
      for (const y of [Y.view.subarray(0, m), Y.view.subarray(1)]) {
        for (const j of [jit, split]) {
          j.binary("mul", X.view, dims, perChannel, [1, c, 1], y);
          assert.equal(y[0], 2, side);
          assert.equal(y[m - 1], 2 * c, side);
          j.binary("sub", perChannel, [c, 1], X.view, dims, y);
          assert.equal(y[plane], 0, side);
          assert.equal(y[m - 1], c - 2, side);
        }
      }
    } finally {
      X.free();
      Y.free();
    }
  }
  // A row for every run (a matrix and a row vector): the line two runs share made from the
  // row's last and first elements by masked loads; the row, x and y against their guards.
  const cols = 1024, rows = Math.ceil(STREAM_STORES_FROM / 4 / cols) + 1, k = rows * cols;
  for (const side of ["end", "start"] as const) {
    const X = guarded(k, side), Y = guarded(k + 1, side), R = guarded(cols, side);
    try {
      X.view.fill(2);
      R.view.forEach((_, i) => (R.view[i] = i));
      for (const y of [Y.view.subarray(0, k), Y.view.subarray(1)]) {
        for (const j of [jit, split]) {
          j.binary("add", X.view, [rows, cols], R.view, [cols], y);
          assert.equal(y[0], 2, side);
          assert.equal(y[k - 1], cols + 1, side);
          j.binary("sub", R.view, [cols], X.view, [rows, cols], y);
          assert.equal(y[cols], -2, side);
          assert.equal(y[k - 1], cols - 3, side);
        }
      }
    } finally {
      X.free();
      Y.free();
      R.free();
    }
  }
});

Deno.test("bounds: norms, reductions, softmax, GEMM (skinny, dot) and transposes read along x's lines stay inside every operand, guard pages on both sides", () => {
  // Rows of whole vectors beyond L1 (norms) or L2 (reductions; 64 KiB here) with x off a
  // line: AVX-512 reads every operand at x's lines, so the first and last lines of a row
  // reach before and after it (masked). x a float in from its guard page, the others flush.
  // x and y at different offsets into their lines: the norms store along y's lines, the
  // row's first line of y masked against the page before it (rows of 33 vectors: no line
  // left after the loop over them). A store past y's last lane stays in y's last line,
  // on y's page: the sentinels of norm_test.ts watch for that.
  using jit = new Jit({ caches: { l2: 64 << 10 } });
  for (const [rows, cols] of [[40, 512], [3, 4096], [7, 1001], [20, 528]]) {
    const n = rows * cols;
    for (const side of ["end", "start"] as const) {
      const X = guarded(n + 1, side), Y = guarded(n, side), R = guarded(n, side);
      const G = guarded(cols, side), B = guarded(cols, side);
      try {
        const x = side === "start" ? X.view.subarray(1) : X.view.subarray(0, n);
        x.fill(0.5).fill(2, 0, 7);
        R.view.fill(0.25);
        G.view.fill(1.5);
        B.view.fill(0.125);
        const o = { rows, cols, scale: G.view, residual: R.view };
        jit.layerNorm(x, Y.view, { ...o, bias: B.view });
        jit.rmsNorm(x, Y.view, o);
        jit.rmsNorm(x, Y.view, { rows, cols, scale: G.view });
        for (const op of ["sum", "max", "logSumExp"] as const) {
          jit.reduce(op, x, Y.view.subarray(0, rows), { rows, cols });
        }
        // A few rows of C against x as B (the skinny path, along x's lines), C flush.
        const c = Y.view.subarray(
          side === "start" ? 0 : n - 2 * cols,
          side === "start" ? 2 * cols : n,
        );
        jit.gemm(R.view.subarray(0, 2 * rows), x, c, { m: 2, n: cols, k: rows });
        // x transposed (its columns whole lines apart: bands from x's lines).
        jit.copy(x, Y.view, { dims: [cols, rows], xStrides: [1, cols] });
        // x as Bᵀ against rows of A (the dot path, k along x's lines).
        const a = side === "start" ? G.view.subarray(1) : G.view.subarray(0, cols - 1);
        const dots = Y.view.subarray(side === "start" ? 0 : n - 3, side === "start" ? 3 : n);
        jit.gemm(a, x.subarray(0, 3 * (cols - 16)), dots, {
          m: 1,
          n: 3,
          k: cols - 16,
          transB: true,
        });
        // Softmax's maximum along x's lines and pass 3 along y's (rows read from memory), y
        // flush and a float in from its guard page (its first or last line's masked lanes on
        // the page), and in place.
        jit.softmax(x, Y.view, { rows, cols });
        jit.softmax(x, Y.view, { rows, cols, log: true });
        const Y1 = guarded(n + 1, side);
        try {
          const y1 = side === "start" ? Y1.view.subarray(1) : Y1.view.subarray(0, n);
          for (const log of [false, true]) {
            jit.softmax(x, y1, { rows, cols, log });
            jit.softmax(y1, y1, { rows, cols, log });
          }
          assert.ok(y1.every((v) => !Number.isNaN(v)), `${rows}×${cols} ${side}: y a float in`);
        } finally {
          Y1.free();
        }
        jit.layerNorm(x, x, { rows, cols, scale: G.view, bias: B.view });
        assert.ok(
          Y.view.every(Number.isFinite) && x.every(Number.isFinite),
          `${rows}×${cols} ${side}`,
        );
      } finally {
        for (const g of [X, Y, R, G, B]) g.free();
      }
    }
  }
});

Deno.test("bounds: conv2d stays inside x, w, bias, residual and y, guard pages on both sides", () => {
  const r = rng(4343);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  // Random configurations, then depthwise ones at stride 2 (the AVX-512 kernel's pairs of
  // loads reach 32 columns from each output vector's first).
  const strided = [3, 5, 16, 17, 33, 40].map((w, i) => ({
    n: 1,
    c: 2,
    h: 5 + i,
    w,
    outChannels: 2,
    kernel: [3, i % 2 ? 5 : 3],
    strides: [2, 2],
    pads: [i % 3, 1, 1, i % 2 ? 2 : 0],
    group: 2,
  }));
  // Narrow planes, several output rows a vector: stride 1 loads reach a row above and below
  // the plane (masked off), stride 2 reads 16 columns from −pl.
  strided.push(
    ...[
      { h: 7, w: 7, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { h: 4, w: 4, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { h: 5, w: 5, kernel: [5, 5], pads: [2, 2, 2, 2] },
      { h: 14, w: 14, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { h: 9, w: 9, kernel: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2] },
      // A plane of 30 floats: most rows' 16 floats from −pl would leave it (masked).
      { h: 6, w: 5, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      // Planes of more tiles than are unrolled: AVX2 loops over the tiles, each input row's
      // address a row pointer (the zero row's where it lies in the padding), the loads at the
      // rows' ends masked by what the row pointers alone cannot tell.
      { h: 40, w: 33, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { h: 36, w: 21, kernel: [3, 3], pads: [1, 1, 1, 1] },
      { h: 30, w: 26, kernel: [5, 5], pads: [2, 2, 2, 2] },
      { h: 44, w: 40, kernel: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2] },
      { h: 31, w: 17, kernel: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0] },
    ].map((o) => ({ n: 1, c: 3, outChannels: 3, group: 3, strides: [1, 1], ...o })),
  );
  // NHWC depthwise on channels whole vectors or not (AVX-512: the last vector's lanes masked;
  // with x off a line, the first vector starts on x's line, its lanes before channel 0
  // masked. AVX2: the last vector is the last 8 channels).
  strided.push(
    ...[
      { c: 8, h: 4, w: 6, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
      { c: 9, h: 5, w: 5, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { c: 17, h: 5, w: 7, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
      { c: 32, h: 6, w: 20, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      { c: 48, h: 4, w: 18, kernel: [5, 5], strides: [1, 1], pads: [2, 2, 2, 2] },
      { c: 128, h: 3, w: 3, kernel: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0] },
    ].map((o) => ({ n: 1, outChannels: o.c, group: o.c, ...o })),
  );
  for (let t = 0; t < 40 + strided.length; t++) {
    const o = t < 40 ? randomConv(r) : strided[t - 40];
    const s = convSpecOf(o);
    const sizes = convSizes(s);
    for (const side of ["end", "start"] as const) {
      const X = guarded(sizes.x, side), W = guarded(sizes.w, side), Y = guarded(sizes.y, side);
      const B = guarded(s.oc, side), R = guarded(sizes.y, side);
      try {
        X.view.fill(0.5);
        W.view.fill(0.25);
        B.view.fill(1);
        R.view.fill(2);
        for (const j of [jit, split]) {
          j.conv2d(X.view, W.view, Y.view, o);
          j.conv2d(X.view, W.view, Y.view, {
            ...o,
            bias: B.view,
            residual: R.view,
            activation: "gelu",
          });
          // Packed weights: the channel-vector kernel where AVX-512 has it.
          const packed = j.packConvWeights(W.view, {
            outChannels: o.outChannels,
            c: o.c,
            kernel: o.kernel,
            group: o.group,
          });
          j.conv2d(X.view, packed, Y.view, { ...o, bias: B.view, residual: R.view });
          // NHWC: transposes into the Jit's scratch tensors and back; with packed weights the
          // channel-vector kernel computes it as it is (AVX-512, one group).
          j.conv2d(X.view, W.view, Y.view, { ...o, residual: R.view, layout: "nhwc" });
          j.conv2d(X.view, packed, Y.view, {
            ...o,
            bias: B.view,
            residual: R.view,
            layout: "nhwc",
          });
        }
        runs++;
      } finally {
        for (const g of [X, W, Y, B, R]) g.free();
      }
    }
  }
  assert.equal(runs, 2 * (40 + strided.length));
});

Deno.test("bounds: conv2d tiles started before an x 16, 32 or 48 bytes past a page touch nothing before it, on every level; the same bits at every offset", () => {
  // A large Float32Array starts 16 bytes past a page, smaller ones and subarrays elsewhere in
  // a line: the NCHW tile kernel reading x in place then starts its tiles that many positions
  // before x (alignedStart in conv/generate.ts; the key's xline), those lanes masked off. Here
  // x, y and the residual start 16, 32 and 48 bytes after a guard page, split calls too, and
  // every 4-byte offset of x and y in a line gives the bits of the aligned call.
  using jit = new Jit();
  const levels = levelsUpTo(isaLevel()).filter((l) => l === "avx2" || l === "avx512");
  // 64 input channels and more: the k loops the head serves (HEAD_MIN_STEPS); 5: one it does not.
  // 8×25: planes of 200 floats start alike only in 32-byte halves (AVX2's vectors: the key
  // keeps x's place in a half).
  const shapes = [
    { c: 64, h: 8, w: 24, oc: 13 },
    { c: 72, h: 12, w: 32, oc: 6 },
    { c: 64, h: 8, w: 25, oc: 5 },
    { c: 5, h: 16, w: 16, oc: 7 },
  ];
  let runs = 0;
  for (const { c, h, w, oc } of shapes) {
    const o = { n: 2, c, h, w, outChannels: oc, kernel: [1, 1] };
    const xs = 2 * c * h * w, ys = 2 * oc * h * w;
    const r = rng(4545 + c);
    const data = Float32Array.from({ length: xs }, () => int(r, -8, 8) / 4);
    const wts = Float32Array.from({ length: oc * c }, () => int(r, -4, 4) / 8);
    const bias = Float32Array.from({ length: oc }, () => int(r, -4, 4));
    const res = Float32Array.from({ length: ys }, () => int(r, -4, 4) / 2);
    const opts = { ...o, bias, residual: res, activation: "relu" as const };
    const want = new Float32Array(ys);
    jit.conv2d(data, wts, want, opts);
    for (const past of [16, 32, 48]) {
      // Against the guard page before them, `past` bytes past it.
      const at = (count: number) => {
        const pages = new GuardedPages(count * 4 + past);
        const buf = Deno.UnsafePointerView.getArrayBuffer(pages.pointer, pages.bytes);
        return { view: new Float32Array(buf, past, count), free: () => pages.free() };
      };
      const X = at(xs), Y = at(ys), R = at(ys);
      try {
        X.view.set(data);
        R.view.set(res);
        for (const level of levels) {
          using one = new Jit({ maxIsa: level });
          using three = new Jit({ maxIsa: level, threads: 3, minPartUs: 0 });
          for (const j of [one, three]) {
            Y.view.fill(NaN);
            j.conv2d(X.view, wts, Y.view, { ...opts, residual: R.view });
            assert.deepEqual(Y.view, want, `${c}→${oc} on ${h}×${w} at +${past}, ${level}`);
            const keys = j.stats().keys.map((k) => k.key);
            // (A k loop under HEAD_MIN_STEPS keys no xline: its tiles start at x whatever its
            // offset, so calls at any offset share one key.)
            const line = c < 64 ? 0 : (h * w) % 16 === 0 ? past / 4 : (past / 4) & 7;
            const named = (k: string) => k.startsWith(`conv2d 2×${c}×${h}×${w} `);
            assert.ok(
              keys.some((k) =>
                named(k) && (line ? k.endsWith(` xline=${line}`) : !k.includes("xline"))
              ),
              keys.join("; "),
            );
            runs++;
          }
        }
      } finally {
        for (const g of [X, Y, R]) g.free();
      }
    }
    // Every offset in a line, x and y apart.
    const bx = new Float32Array(xs + 32), by = new Float32Array(ys + 32);
    const lineOf = (f: Float32Array) =>
      Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(f))) % 64;
    for (let off = 0; off < 64; off += 4) {
      const ox = ((off - lineOf(bx) + 64) % 64) / 4, oy = ((off + 32 - lineOf(by) + 64) % 64) / 4;
      const x = bx.subarray(ox, ox + xs), y = by.subarray(oy, oy + ys);
      x.set(data);
      by.fill(-1);
      jit.conv2d(x, wts, y, opts);
      assert.deepEqual(y, want, `${c}→${oc} on ${h}×${w}: x at +${off}`);
      assert.ok(by.subarray(0, oy).every((v) => v === -1), "before y");
      assert.ok(by.subarray(oy + ys).every((v) => v === -1), "after y");
      runs++;
    }
  }
  assert.equal(runs, shapes.length * (3 * 2 * levels.length + 16));
});

Deno.test("bounds: a unary row walked along y's vectors, x and y at other offsets after a guard page, the same bits", () => {
  // AVX2 walks a row along y's 32-byte vectors (elementwise.ts emitAlongRow): its first
  // vector starts before y, and x is read at y's elements, so x's first vector starts before
  // x by as much: masked lanes, against the guard page when x starts on it.
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (const n of [64, 65, 100, 1000, 4099]) {
    const data = Float32Array.from({ length: n }, (_, i) => ((i * 37) % 200) / 25 - 4);
    for (const op of ["exp", "gelu", "relu"] as const) {
      const want = new Float32Array(n);
      jit.unary(op, data, want);
      for (const [ox, oy] of [[0, 4], [4, 0], [0, 28], [28, 12], [16, 16]]) {
        const at = (count: number, off: number) => {
          const pages = new GuardedPages(count * 4 + off);
          const buf = Deno.UnsafePointerView.getArrayBuffer(pages.pointer, pages.bytes);
          return { view: new Float32Array(buf, off, count), free: () => pages.free() };
        };
        const X = at(n, ox), Y = at(n, oy);
        try {
          X.view.set(data);
          for (const j of [jit, split]) {
            Y.view.fill(NaN);
            j.unary(op, X.view, Y.view);
            assert.deepEqual(Y.view, want, `${op} n=${n} x at +${ox}, y at +${oy}`);
            runs++;
          }
        } finally {
          X.free();
          Y.free();
        }
      }
    }
  }
  assert.equal(runs, 5 * 3 * 5 * 2);
});

Deno.test("bounds: pooling stays inside x and y, guard pages on both sides", () => {
  const r = rng(4444);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  // 3×3/2 max (read in place from column pairs) at every edge of a pair, as well as random.
  const paired = [1, 2, 7, 15, 16, 17, 31, 33];
  for (let t = 0; t < 60 + paired.length; t++) {
    const pair = t >= 60;
    const kh = pair ? 3 : int(r, 1, 4), kw = pair ? 3 : int(r, 1, 4);
    const sh = pair ? 2 : int(r, 1, 3), sw = pair ? 2 : int(r, 1, 3);
    const h = int(r, kh, 20);
    const w = pair
      ? Math.max(paired[t - 60], 3)
      : pick(r, [int(r, kw, 40), 17, 33].map((v) => Math.max(v, kw)));
    const c = int(r, 1, 4);
    const pads = [int(r, 0, kh - 1), int(r, 0, kw - 1), int(r, 0, kh - 1), int(r, 0, kw - 1)];
    const oh = Math.floor((h + pads[0] + pads[2] - kh) / sh) + 1;
    const ow = Math.floor((w + pads[1] + pads[3] - kw) / sw) + 1;
    const kind = pair ? "max" : pick(r, ["max", "average"] as const);
    for (const side of ["end", "start"] as const) {
      const X = guarded(c * h * w, side), Y = guarded(c * oh * ow, side);
      try {
        X.view.fill(0.5);
        const o = { n: 1, c, h, w, kernel: [kh, kw], strides: [sh, sw], pads };
        for (const j of [jit, split]) {
          j.pool(kind, X.view, Y.view, o);
          j.pool(kind, X.view, Y.view, { ...o, layout: "nhwc" });
        }
        runs++;
      } finally {
        X.free();
        Y.free();
      }
    }
  }
  assert.equal(runs, 2 * (60 + paired.length));
});

Deno.test("bounds: convTranspose2d and batchNorm stay inside their operands, guard pages on both sides", () => {
  const r = rng(4545);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  // Random layers, then 2×2/2, 4×4/2 pads-1, 3×3/2 pads-1 and 3×3/2 no-pads ones (the columns
  // tile by output phases: x's rows read doubled through masks, with margins at 4×4, and at 3×3
  // a round of one phase reading x one position right, y's rows 2w − 1, or reading the margin
  // past x's last, y's rows 2w + 1; 9-17 output channels in blocks and a rest).
  for (let t = 0; t < 64; t++) {
    const c = int(r, 1, 4), oc = t < 40 ? int(r, 1, 5) : int(r, 9, 17);
    const h = int(r, 1, 9), w = pick(r, [1, 5, 16, 17]), k = t < 46 ? 2 : t < 52 ? 4 : 3;
    const kh = t < 40 ? int(r, 1, 4) : k, kw = t < 40 ? int(r, 1, 4) : k;
    const sh = t < 40 ? int(r, 1, 3) : 2, sw = t < 40 ? int(r, 1, 3) : 2;
    const pads = t < 40
      ? [int(r, 0, kh - 1), int(r, 0, kw - 1), int(r, 0, kh - 1), int(r, 0, kw - 1)]
      : Array(4).fill(t < 58 ? Math.floor((k - 1) / 2) : 0);
    const oh = sh * (h - 1) + kh - pads[0] - pads[2], ow = sw * (w - 1) + kw - pads[1] - pads[3];
    if (oh < 1 || ow < 1) continue;
    for (const side of ["end", "start"] as const) {
      const X = guarded(c * h * w, side), W = guarded(c * oc * kh * kw, side);
      const Y = guarded(oc * oh * ow, side), P = guarded(c, side);
      try {
        X.view.fill(0.5);
        W.view.fill(0.25);
        P.view.fill(1);
        const o = { n: 1, c, h, w, outChannels: oc, kernel: [kh, kw], strides: [sh, sw], pads };
        const bn = { n: 1, c, h, w, scale: P.view, bias: P.view, mean: P.view, variance: P.view };
        for (const j of [jit, split]) {
          j.convTranspose2d(X.view, W.view, Y.view, o);
          j.batchNorm(X.view, X.view, bn);
          j.batchNorm(X.view, X.view, { ...bn, activation: "gelu" }); // its registers beside the tail's
        }
        runs++;
      } finally {
        for (const g of [X, W, Y, P]) g.free();
      }
    }
  }
  assert.ok(runs > 46, `${runs} runs`);
});

Deno.test("bounds: resize stays inside x and y, guard pages on both sides", () => {
  const r = rng(4646);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (let t = 0; t < 40; t++) {
    const o = {
      n: 1,
      c: int(r, 1, 3),
      h: int(r, 1, 9),
      w: pick(r, [1, 5, 16, 17]),
      outH: int(r, 1, 20),
      outW: pick(r, [1, 7, 16, 33]),
      mode: pick(r, ["nearest", "linear", "cubic"] as const),
    };
    for (const side of ["end", "start"] as const) {
      const X = guarded(o.c * o.h * o.w, side), Y = guarded(o.c * o.outH * o.outW, side);
      try {
        X.view.fill(0.5);
        for (const j of [jit, split]) j.resize(X.view, Y.view, o);
        runs++;
      } finally {
        X.free();
        Y.free();
      }
    }
  }
  assert.equal(runs, 80);
  // Nearest upscales by whole factors: each row straight to its copies (rows of a partial
  // vector, and wider than the registers hold at once).
  for (const [c, h, w, factor] of [[2, 5, 17, 2], [1, 4, 8, 3], [2, 3, 225, 2]]) {
    const o = { n: 1, c, h, w, outH: h * factor, outW: w * factor, mode: "nearest" as const };
    for (const side of ["end", "start"] as const) {
      const X = guarded(c * h * w, side), Y = guarded(c * o.outH * o.outW, side);
      try {
        X.view.fill(0.5);
        for (const j of [jit, split]) {
          j.resize(X.view, Y.view, o);
          assert.ok(Y.view.every((v) => v === 0.5), `${JSON.stringify(o)} ${side}`);
        }
      } finally {
        X.free();
        Y.free();
      }
    }
  }
  const straight = jit.stats().keys.filter((k) => /to its \d output rows/.test(k.plan ?? ""));
  if (isaLevel() === "avx512" || isaLevel() === "amx") assert.ok(straight.length >= 3);
});

Deno.test("bounds: copy stays inside x and y, guard pages on both sides", () => {
  const r = rng(4747);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (let t = 0; t < 40; t++) {
    const d = [int(r, 1, 5), pick(r, [1, 3, 16, 17]), pick(r, [1, 2, 15, 33])];
    const n = d[0] * d[1] * d[2];
    // Transposed (last axis strided) or row-contiguous, chosen at random.
    const o = r() < 0.5
      ? { dims: [d[2], d[0], d[1]], xStrides: [1, d[1] * d[2], d[2]] }
      : { dims: [d[1], d[0], d[2]], xStrides: [d[2], d[1] * d[2], 1] };
    for (const side of ["end", "start"] as const) {
      const X = guarded(n, side), Y = guarded(n, side);
      try {
        X.view.fill(0.5);
        for (const j of [jit, split]) j.copy(X.view, Y.view, o);
        runs++;
      } finally {
        X.free();
        Y.free();
      }
    }
  }
  assert.equal(runs, 80);
});

Deno.test("bounds: chain stays inside x and y, guard pages on both sides", () => {
  const r = rng(4848);
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  let runs = 0;
  for (let t = 0; t < 30; t++) {
    const n = pick(r, [1, 7, 15, 16, 17, 31, 33, 1000, 1025, 40001]);
    for (const side of ["end", "start"] as const) {
      const X = guarded(n, side), Y = guarded(n, side);
      try {
        X.view.fill(0.5);
        for (const j of [jit, split]) {
          j.chain(X.view, Y.view, ["sigmoid", { op: "mul", x: true }, { op: "pow", value: 3 }]);
        }
        runs++;
      } finally {
        X.free();
        Y.free();
      }
    }
  }
  assert.equal(runs, 60);
});
