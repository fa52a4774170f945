import assert from "node:assert/strict";
import { BINARY_OPS, type BinaryOp, isaLevel, Jit } from "../mod.ts";
import { cpuFeatures, levelsUpTo, prefetchesStreamedRows, streamsOnOneThread } from "../src/cpu.ts";
import { binaryReference } from "../src/kernels/binary/ops.ts";
import { planBinary } from "../src/kernels/binary/generate.ts";
import { STREAM_STORES_FROM } from "../src/kernels/elementwise.ts";
import { assertPartsStream, listingsWith } from "./helpers/dump.ts";
import { assertAtOffsets } from "./helpers/offsets.ts";
import { pick, rng } from "./helpers/random.ts";
import { ulpDistance } from "./helpers/ulp.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const EDGES = [1, 7, 15, 16, 17, 31, 33, 1000, 1023, 1025];

/** Element (multi-index) of a broadcast operand. */
function at(x: Float32Array, dims: number[], outDims: number[], idx: number[]): number {
  let off = 0;
  const shift = outDims.length - dims.length;
  for (let k = 0; k < dims.length; k++) off = off * dims[k] + (dims[k] === 1 ? 0 : idx[k + shift]);
  return x[off];
}

function check(
  op: BinaryOp,
  a: Float32Array,
  ad: number[],
  b: Float32Array,
  bd: number[],
  y: Float32Array,
  where: string,
  constantExponent: boolean,
) {
  const rank = Math.max(ad.length, bd.length);
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const out = pad(ad).map((d, k) => Math.max(d, pad(bd)[k]));
  const idx = new Array(rank).fill(0);
  for (let i = 0; i < y.length; i++) {
    const x1 = at(a, ad, out, idx), x2 = at(b, bd, out, idx);
    const ref = Math.fround(binaryReference(op, x1, x2));
    const d = ulpDistance(y[i], ref);
    // Exact ops exact; pow: the exponential's error grows with |y·ln x|; square-and-multiply a few roundings.
    const growth = Math.abs(x2 * Math.log(Math.abs(x1)));
    const bound = op !== "pow"
      ? 0
      : constantExponent
      ? 8
      : 4 + (Number.isFinite(growth) ? 2 * growth : 0);
    if (!(d <= bound)) {
      assert.fail(`${where}: ${op}(${x1}, ${x2}) at ${i} = ${y[i]}, reference ${ref} (${d} ulp)`);
    }
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < out[k]) break;
      idx[k] = 0;
    }
  }
}

/** A random broadcast pair of shapes: same, scalar, per-row, per-channel, or mixed. */
function shapes(r: () => number): [number[], number[]] {
  const kind = pick(r, ["same", "scalar", "row", "channel", "mixed"]);
  const n = pick(r, EDGES);
  switch (kind) {
    case "same":
      return [[n], [n]];
    case "scalar":
      return r() < 0.5 ? [[3, n], [1]] : [[], [2, n]];
    case "row":
      return [[pick(r, [1, 3, 4]), n], [n]];
    case "channel": {
      const c = pick(r, [1, 3, 16]);
      return [[2, c, pick(r, [1, 7, 49])], [1, c, 1]];
    }
    default: {
      const rank = 1 + Math.floor(r() * 6);
      const a: number[] = [], b: number[] = [];
      for (let k = 0; k < rank; k++) {
        const d = pick(r, [1, 2, 3, 5]);
        const u = r();
        a.push(u < 0.33 ? 1 : d);
        b.push(u >= 0.33 && u < 0.66 ? 1 : d);
      }
      return [a, b.slice(Math.floor(r() * rank))];
    }
  }
}

for (const isa of LEVELS) {
  Deno.test(`binary ${isa}: every op and broadcast pattern against the f64 reference`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 900 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 80; t++) {
      const [ad, bd] = r() < 0.5 ? shapes(r) : shapes(r).reverse() as [number[], number[]];
      const na = ad.reduce((p, d) => p * d, 1), nb = bd.reduce((p, d) => p * d, 1);
      const rank = Math.max(ad.length, bd.length);
      const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
      const ny = pad(ad).map((d, k) => Math.max(d, pad(bd)[k])).reduce((p, d) => p * d, 1);
      const a = new Float32Array(na).map(() => (r() * 2 - 1) * 4);
      const b = new Float32Array(nb).map(() => (r() * 2 - 1) * 4);
      if (r() < 0.2) a[0] = NaN;
      for (const op of BINARY_OPS) {
        const bb = op === "pow" && nb === 1 && r() < 0.5
          ? new Float32Array([pick(r, [0, 1, 2, 3, 0.5, -1, -2, 5])])
          : b;
        const y = new Float32Array(ny);
        jit.binary(op, a, ad, bb, bd, y);
        check(
          op,
          a,
          ad,
          bb,
          bd,
          y,
          `${isa} seed ${seed} case ${t} [${ad}] ⊙ [${bd}]`,
          op === "pow" && nb === 1 && (Number.isInteger(bb[0]) || bb[0] === 0.5),
        );
      }
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });

  Deno.test(`binary ${isa}: pow special values as C's powf; max/min propagate NaN; in place`, () => {
    using jit = new Jit({ maxIsa: isa });
    const xs = [0, -0, 1, -1, 2, -2, 0.5, -0.5, Infinity, -Infinity, NaN, 3];
    const ys = [0, -0, 1, -1, 2, 3, -3, 0.5, -0.5, Infinity, -Infinity, NaN, 2.5, 1e9];
    const a = new Float32Array(xs.length * ys.length), b = new Float32Array(a.length);
    xs.forEach((x, i) =>
      ys.forEach((y, j) => [a[i * ys.length + j], b[i * ys.length + j]] = [x, y])
    );
    const y = new Float32Array(a.length);
    jit.binary("pow", a, [a.length], b, [b.length], y);
    for (let i = 0; i < a.length; i++) {
      const ref = Math.fround(binaryReference("pow", a[i], b[i]));
      assert.ok(
        Object.is(y[i], ref) || (Number.isNaN(ref) && Number.isNaN(y[i])) ||
          ulpDistance(y[i], ref) <= 4,
        `pow(${a[i]}, ${b[i]}) = ${y[i]}, expected ${ref}`,
      );
    }
    const m = new Float32Array([NaN, 1, 2, NaN]), n = new Float32Array([1, NaN, 1, NaN]);
    for (const op of ["max", "min"] as const) {
      const out = new Float32Array(4);
      jit.binary(op, m, [4], n, [4], out);
      assert.ok(
        Number.isNaN(out[0]) && Number.isNaN(out[1]) && out[2] === (op === "max" ? 2 : 1) &&
          Number.isNaN(out[3]),
        `${op}: ${out}`,
      );
    }
    const x = new Float32Array([1, 2, 3, 4, 5, 6]), bias = new Float32Array([10, 20, 30]);
    jit.binary("add", x, [2, 3], bias, [3], x); // in place, per-row bias
    assert.deepEqual(Array.from(x), [11, 22, 33, 14, 25, 36]);
  });
}

for (const isa of LEVELS) {
  Deno.test(`binary ${isa}: operands at every float offset of a line, the reference's results, nothing written around y`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(4545);
    // Runs of 128 or more: AVX-512 starts each from a's (or b's) line when it is off one.
    const cases: [number[], number[]][] = [
      [[1031], [1031]],
      [[128], [128]],
      [[5, 1024], [1024]],
      [[3, 300], [3, 1]],
      [[1], [999]],
      [[2, 4, 160], [2, 1, 160]],
    ];
    for (const [ad, bd] of cases) {
      const na = ad.reduce((p, d) => p * d, 1), nb = bd.reduce((p, d) => p * d, 1);
      const ny = Math.max(na, nb) === na && ad.length >= bd.length ? na : nb;
      const da = new Float32Array(na).map(() => r() * 4 + 0.125);
      const db = new Float32Array(nb).map(() => r() * 4 - 2);
      for (const op of ["add", "div", "pow", "max"] as const) {
        for (let at = 0; at < 16; at++) {
          // The base's place plus 0..15 floats: every offset into a line, a, b and y apart.
          const oa = at, ob = (at * 5 + 3) % 16, oy = (at * 3) % 16;
          const A = new Float32Array(na + 32), B = new Float32Array(nb + 32);
          const Y = new Float32Array(ny + 32).fill(7);
          A.set(da, oa);
          B.set(db, ob);
          const a = A.subarray(oa, oa + na),
            b = B.subarray(ob, ob + nb),
            y = Y.subarray(oy, oy + ny);
          jit.binary(op, a, ad, b, bd, y);
          const where = `${isa} [${ad}] ${op} [${bd}], a at ${oa}, b at ${ob}, y at ${oy}`;
          check(op, da, ad, db, bd, y, where, false);
          assert.ok(Y.every((v, i) => (i >= oy && i < oy + ny) || v === 7), `${where}: around y`);
        }
      }
    }
    if (isa === "avx512") {
      for (const k of jit.stats().keys) assert.match(k.plan!, /runs from the first input's lines/);
    }
  });
}

for (const level of ["avx512", "avx2"] as const) {
  // Where y streams: AVX-512 when the call is split; AVX2, in runs from y's 32-byte vectors
  // (aligned: vmovntps asks it), on one thread too.
  const whenSplit = level === "avx512" && !streamsOnOneThread(cpuFeatures());
  Deno.test({
    name: `binary ${level}: y past the last-level cache goes by non-temporal stores ${
      whenSplit ? "when split between threads" : "on one thread and split"
    }, the same bits as ordinary stores wherever the operands start, and in place`,
    ignore: !LEVELS.includes(level),
    fn() {
      // y of STREAM_STORES_FROM bytes and more: each run starts at y's line (vector) with a
      // masked head, whole ones by non-temporal stores, a masked rest; same shape, a row
      // broadcast down the rows, and a scalar. Sums and products of floats: f32 rounding of
      // the exact result.
      const cols = 1000, rows = Math.ceil(STREAM_STORES_FROM / 4 / cols) + 3, n = rows * cols;
      const r = rng(8086);
      const data = new Float32Array(n).map(() => (r() * 2 - 1) * 12);
      const row = new Float32Array(cols).map(() => r() * 4), scalar = new Float32Array([1.5]);
      const dir = Deno.makeTempDirSync({ prefix: `njit-streamed-${level}-` });
      using jit = new Jit({ maxIsa: level, threads: 1, dump: `${dir}/one` });
      using split = new Jit({ maxIsa: level, threads: 3, minPartUs: 0, dump: `${dir}/split` });
      const cases = [
        ["add", data, [rows, cols], (i: number) => Math.fround(data[i] + data[i])],
        ["mul", row, [cols], (i: number) => Math.fround(data[i] * row[i % cols])],
        ["sub", scalar, [1], (i: number) => Math.fround(data[i] - 1.5)],
      ] as const;
      for (const [op, b, bDims, want] of cases) {
        // One thread: the same values (streamed at AVX2 and where the core prefers it, else
        // ordinary stores).
        const whole = new Float32Array(n);
        jit.binary(op, data, [rows, cols], op === "add" ? data : b, bDims, whole);
        for (let i = 0; i < n; i++) if (!Object.is(whole[i], want(i))) assert.fail(`${op}: [${i}]`);
        // a at each offset (and as b too for "add"), then in place.
        for (const j of whenSplit ? [split] : [jit, split]) {
          assertAtOffsets(
            data,
            [[0, 0], [3, 11], [7, 1], [4, 4], [16, 16]],
            (a, y) => j.binary(op, a, [rows, cols], op === "add" ? a : b, bDims, y),
            want,
            op,
            true,
          );
        }
      }
      // The inputs prefetched ahead of streamed stores where the core asks (Intel), said last.
      const fetched = split.stats().keys.filter((k) => k.plan!.endsWith(", x to L2 8192 B ahead"));
      assert.equal(fetched.length, prefetchesStreamedRows(cpuFeatures()) ? 3 : 0);
      const plans = split.stats().keys.map((k) =>
        `${k.plan!.replace(", x to L2 8192 B ahead", "")} (${k.parts} parts)`
      );
      // (At AVX2 the row's runs of 1000 floats are whole vectors: a run's last line carried.)
      const says = whenSplit
        ? "y by non-temporal stores when split (12 parts)"
        : /runs from y's lines(, a run's last line carried to the next)?, y by non-temporal stores/;
      assert.equal(
        plans.filter((p) => typeof says === "string" ? p.endsWith(says) : says.test(p)).length,
        3,
        plans.join("; "),
      );
      if (whenSplit) {
        // The parts' code stores by vmovntps (and fences); the one-thread kernels do not.
        assertPartsStream(`${dir}/split`, `${dir}/one`, 3);
      } else {
        for (const d of ["one", "split"]) {
          const streamed = listingsWith(`${dir}/${d}`, "vmovntps");
          assert.ok(streamed.length >= 3, `${d}: ${streamed.join(" ")}`);
          assert.equal(listingsWith(`${dir}/${d}`, "sfence").length, streamed.length);
        }
      }
      Deno.removeSync(dir, { recursive: true });
    },
  });
}

/**
 * Each case (its name, the call on x and y with a Jit, the element it must give) with y on a
 * line (16 bytes + 12 floats) and off one by 1-15 floats, in place too, on one thread and split;
 * then the streamed plans carry a run's last line to the next. Where the core streams on one
 * thread too (Intel, AVX2) the calls' own plans carry lines; where it streams only when split
 * (Zen 5) the split calls' parts take the shape's streamed plan.
 */
function assertCarried(
  data: Float32Array,
  cases: readonly (readonly [
    string,
    (x: Float32Array, y: Float32Array, j: Jit) => void,
    (i: number) => number,
  ])[],
  jit: Jit,
  split: Jit,
): void {
  for (const [op, call, want] of cases) {
    for (const j of [jit, split]) {
      assertAtOffsets(
        data,
        [[0, 0], [3, 11], [7, 1], [4, 12], [16, 16], [5, 15]],
        (x, y) => call(x, y, j),
        want,
        `${op} ${j === split ? "split" : "one thread"}`,
        true,
      );
    }
  }
  const keys = [...jit.stats().keys, ...split.stats().keys];
  const streamed = keys.filter((k) =>
    k.plan!.includes("non-temporal") && (!k.plan!.includes("when split") || k.parts > 1)
  );
  assert.ok(streamed.length >= 2, keys.map((k) => `${k.plan} (${k.parts})`).join("; "));
  for (const k of streamed) {
    if (!k.plan!.includes("when split")) {
      assert.match(k.plan!, /a run's last line carried to the next/);
    }
  }
}

for (const level of ["avx512", "avx2"] as const) {
  Deno.test({
    name:
      `binary ${level}: streamed runs of whole lines with a value a run (NCHW times a value a channel): a run's last line goes with the next, the same bits at every offset, in place and split`,
    ignore: !LEVELS.includes(level),
    fn() {
      // Planes of 256 floats (16 lines), 64 channels, enough images for y to stream.
      const c = 64, plane = 256, images = Math.ceil(STREAM_STORES_FROM / 4 / (c * plane)) + 1;
      const n = images * c * plane, dims = [images, c, plane];
      const r = rng(4096);
      const data = new Float32Array(n).map(() => (r() * 2 - 1) * 12);
      const perChannel = new Float32Array(c).map(() => r() * 4 - 2);
      const at = (i: number) => perChannel[Math.floor(i / plane) % c];
      using jit = new Jit({ maxIsa: level, threads: 1 });
      using split = new Jit({ maxIsa: level, threads: 3, minPartUs: 0 });
      // The value as b (mul) and as a (sub: a value a channel minus the tensor).
      const cases = [
        [
          "mul",
          (x: Float32Array, y: Float32Array, j: Jit) =>
            j.binary("mul", x, dims, perChannel, [1, c, 1], y),
          (i: number) => Math.fround(data[i] * at(i)),
        ],
        [
          "sub",
          (x: Float32Array, y: Float32Array, j: Jit) =>
            j.binary("sub", perChannel, [c, 1], x, dims, y),
          (i: number) => Math.fround(at(i) - data[i]),
        ],
      ] as const;
      assertCarried(data, cases, jit, split);
      // The plan the streamed calls or parts take (the shape merged: images, channels, a plane).
      for (const [op, aBroadcast, bBroadcast] of [[2, 0, 5], [1, 5, 0]]) {
        const s = { op, dims: [images, c, plane], aBroadcast, bBroadcast, exponent: null };
        assert.match(
          planBinary(s, level, "streamed").description,
          /runs from y's lines, a run's last line carried to the next, y by non-temporal stores$/,
        );
        assert.doesNotMatch(planBinary(s, level, "cached").description, /carried/);
      }
    },
  });
}

for (const level of ["avx512", "avx2"] as const) {
  Deno.test({
    name:
      `binary ${level}: streamed runs of whole lines with a row for every run (a matrix and a row vector): a run's last line goes with the next, the same bits at every offset, in place and split`,
    ignore: !LEVELS.includes(level),
    fn() {
      // Rows of 1024 floats (64 lines), enough of them for y to stream; the row as b (add) and
      // as a (sub: the row minus the matrix), and a 3-D matrix of rows (the row broadcast
      // along both outer dimensions).
      const cols = 1024, rows = 2 * Math.ceil(STREAM_STORES_FROM / 8 / cols) + 2;
      const n = rows * cols, r = rng(4097);
      const data = new Float32Array(n).map(() => (r() * 2 - 1) * 12);
      const row = new Float32Array(cols).map(() => r() * 4 - 2);
      using jit = new Jit({ maxIsa: level, threads: 1 });
      using split = new Jit({ maxIsa: level, threads: 3, minPartUs: 0 });
      const cases = [
        [
          "add",
          (x: Float32Array, y: Float32Array, j: Jit) =>
            j.binary("add", x, [rows, cols], row, [cols], y),
          (i: number) => Math.fround(data[i] + row[i % cols]),
        ],
        [
          "sub",
          (x: Float32Array, y: Float32Array, j: Jit) =>
            j.binary("sub", row, [1, 1, cols], x, [2, rows / 2, cols], y),
          (i: number) => Math.fround(row[i % cols] - data[i]),
        ],
      ] as const;
      assertCarried(data, cases, jit, split);
      // Not where the row is not the same for every run, nor without whole lines a run.
      const plan = (dims: number[], aBroadcast: number, bBroadcast: number) =>
        planBinary({ op: 0, dims, aBroadcast, bBroadcast, exponent: null }, level, "streamed")
          .description;
      assert.match(plan([rows, cols], 0, 1), /a run's last line carried to the next/);
      assert.match(plan([rows, cols], 1, 0), /a run's last line carried to the next/);
      assert.doesNotMatch(plan([4, rows, cols], 0, 2), /carried/);
      assert.doesNotMatch(plan([rows, 1004], 0, 1), /carried/);
    },
  });
}

Deno.test("binary: bad input names the argument, the value and the expectation", () => {
  using jit = new Jit();
  const a = new Float32Array(6), b = new Float32Array(3), y = new Float32Array(6);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.binary("mod" as BinaryOp, a, [6], b, [3], y),
      /unknown op "mod"; expected one of add, sub/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, [2, 3], b.subarray(0, 2), [2], y),
      /aDims \[2, 3\] and bDims \[2\] do not broadcast/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, [2, 4], b, [3], y),
      /a has 6 elements but aDims \[2, 4\] needs exactly 8/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, [2, 3], b, [3], new Float32Array(5)),
      /y has 5 elements but the broadcast output needs exactly 6/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, [1, 1, 1, 1, 1, 1, 6], b, [3], y),
      /aDims has rank 7; at most 6/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, [2, -3], b, [3], y),
      /aDims\[1\] must be an integer in \[0, 1073741824\], got number -3/,
      RangeError,
    ],
    [
      () => jit.binary("add", a, "2,3" as never, b, [3], y),
      /aDims must be an array of dimensions, got string/,
      TypeError,
    ],
    [() => jit.binary("add", a, [2, 3], b, [3], a.subarray(0, 6)), /./, RangeError],
  ];
  // The last is in place (y === a exactly): allowed, so it must not throw.
  for (const [f, re, type] of bad.slice(0, -1)) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
  bad.at(-1)![0]();
  const buf = new Float32Array(8);
  assert.throws(
    () =>
      jit.binary("add", buf.subarray(0, 6), [6], b.subarray(0, 1), [1, 1, 1], buf.subarray(1, 7)),
    /y overlaps a/,
  );
});
