import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { blocksShortRows, cpuFeatures, lagsLongRows, levelsUpTo } from "../src/cpu.ts";
import { tuneCheckingBits } from "./helpers/conv.ts";
import {
  generateSoftmax,
  planSoftmax,
  softmaxCandidates,
  softmaxReference,
} from "../src/kernels/softmax/mod.ts";
import { pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const EDGES = [1, 7, 15, 16, 17, 31, 33, 1000, 1023, 1025];
const EPS = 2 ** -24;

/**
 * The error the algorithm allows: a few ulp for e^x and the scaling, plus the
 * sum's rounding (at most cols additions, relative 2^-24 each) carried into
 * every element; logSoftmax absolutely, against the magnitude of its terms.
 */
function within(y: number, ref: number, d: number, lse: number, cols: number, log: boolean) {
  if (Number.isNaN(ref)) return Number.isNaN(y);
  if (y === ref) return true; // masked entries: 0 (or −Inf for logSoftmax), where d is −Inf
  if (log) {
    return Math.abs(y - ref) <= 4 * EPS * (Math.abs(d) + Math.abs(lse)) + (8 + cols / 4) * EPS;
  }
  // x − max is rounded too: its error |d|·2^-24 is a relative error of e^d.
  return Math.abs(y - ref) <= (8 + cols / 4 + Math.abs(d)) * EPS * Math.abs(ref) + 2 ** -148;
}

function check(
  x: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  log: boolean,
  where: string,
) {
  const ref = new Float32Array(x.length);
  softmaxReference({ rows, cols, log }, x, ref);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity, sum = 0;
    for (let j = 0; j < cols; j++) mx = Math.max(mx, x[r * cols + j]);
    for (let j = 0; j < cols; j++) sum += Math.exp(x[r * cols + j] - mx);
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      if (!within(y[i], ref[i], x[i] - mx, Math.log(sum), cols, log)) {
        assert.fail(`${where}: [${r}, ${j}] x=${x[i]} got ${y[i]}, reference ${ref[i]}`);
      }
    }
  }
}

for (const isa of LEVELS) {
  Deno.test(`softmax ${isa}: seeded shapes against the f64 reference, softmax and logSoftmax`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 300 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 40; t++) {
      const cols = pick(r, EDGES), rows = pick(r, [1, 2, 3, 5, 8]);
      const scale = pick(r, [1, 10, 100, 1e30]);
      const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * scale);
      for (const log of [false, true]) {
        const y = new Float32Array(x.length);
        jit.softmax(x, y, { rows, cols, log });
        check(
          x,
          y,
          rows,
          cols,
          log,
          `${isa} seed ${seed} case ${t} ${rows}×${cols}${log ? " log" : ""}`,
        );
      }
    }
    // Operands beyond L2 with short rows: the plan prefetches rows ahead (same numerics).
    const [rows, cols] = [300, 1000];
    const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * 8);
    for (const log of [false, true]) {
      const y = new Float32Array(x.length);
      jit.softmax(x, y, { rows, cols, log });
      check(x, y, rows, cols, log, `${isa} ${rows}×${cols}${log ? " log" : ""}`);
    }
    assert.match(
      jit.stats().keys.find((k) => k.key.includes("300×1000"))!.plan!,
      /prefetched 2 ahead/,
    );
    // Rows over 16 KB: pass 2 fetches the next row (the last row's fetch runs past x's
    // end, harmless); each row gives the bits it gives alone (one row: no fetch).
    for (const [rows, cols] of [[3, 4097], [2, 5003], [2, 30001], [4, 30001]]) {
      const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * 30);
      for (const log of [false, true]) {
        const y = new Float32Array(x.length);
        jit.softmax(x, y, { rows, cols, log });
        check(x, y, rows, cols, log, `${isa} ${rows}×${cols}${log ? " log" : ""}`);
        const z = x.slice(); // in place: a row's pass 3 writes over x after the row is read
        jit.softmax(z, z, { rows, cols, log });
        assert.deepEqual(z, y, "in place");
        for (let row = 0; row < rows; row++) {
          const alone = new Float32Array(cols);
          jit.softmax(x.subarray(row * cols, (row + 1) * cols), alone, { rows: 1, cols, log });
          assert.deepEqual(alone, y.subarray(row * cols, (row + 1) * cols), `row ${row} alone`);
        }
      }
      const plan = jit.stats().keys.find((k) => k.key.includes(`${rows}×${cols}`))!.plan!;
      // Below AVX-512 the next row's x is fetched in pass 2; AVX-512 leaves that to tier 2.
      if (isa === "avx512") assert.match(plan, /y claimed 4096 B ahead in pass 2/);
      else if (isa !== "scalar") assert.match(plan, /the next row to L2 in pass 2/);
      if (isa === "avx512") assert.doesNotMatch(plan, /the next row to L2/);
      // AVX-512 rows beyond half of L1 (any L1 up to 234 KiB), where the core lags long rows
      // (Intel): a row's pass 3 and the next row's pass 1 in its pass 2 (planSoftmax's
      // threshold: its test below).
      const plans = jit.stats().keys.filter((k) => k.key.includes(`${rows}×${cols}`))
        .map((k) => k.plan!);
      const lagged = plans.filter((p) =>
        /pass 3 and the next row's pass 1 in this row's pass 2/.test(p)
      ).length;
      if (isa === "avx512" && cols > 30000) {
        assert.equal(lagged, lagsLongRows(cpuFeatures()) ? 2 : 0, plans.join("; "));
      }
      if (isa !== "avx512") assert.ok(!lagged, plans.join("; "));
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });

  Deno.test(`softmax ${isa}: -Inf rows and masks, in place, rows independent of their batch`, () => {
    using jit = new Jit({ maxIsa: isa });
    const cols = 37;
    const x = new Float32Array(3 * cols).map((_, i) => Math.sin(i) * 5);
    x.fill(-Infinity, 0, cols); // a row of −Inf: NaN, as ONNX Runtime
    for (let j = 0; j < cols; j += 3) x[cols + j] = -Infinity; // masked attention
    const y = new Float32Array(x.length);
    jit.softmax(x, y, { rows: 3, cols });
    for (let j = 0; j < cols; j++) assert.ok(Number.isNaN(y[j]), `all −Inf row [${j}] = ${y[j]}`);
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      if (j % 3 === 0) assert.ok(Object.is(y[cols + j], 0), `masked [${j}] = ${y[cols + j]}`);
      sum += y[cols + j];
    }
    assert.ok(Math.abs(sum - 1) < 1e-6, `masked row sums to ${sum}`);
    // Each row alone gives the bits it gave in the batch.
    for (let r = 0; r < 3; r++) {
      const one = new Float32Array(cols);
      jit.softmax(x.subarray(r * cols, (r + 1) * cols), one, { rows: 1, cols });
      for (let j = 0; j < cols; j++) {
        assert.ok(Object.is(one[j], y[r * cols + j]) || Number.isNaN(one[j]));
      }
    }
    const z = x.slice();
    jit.softmax(z, z, { rows: 3, cols, log: true }); // in place
    const w = new Float32Array(x.length);
    jit.softmax(x, w, { rows: 3, cols, log: true });
    assert.deepEqual(z, w);
    jit.softmax(new Float32Array(0), new Float32Array(0), { rows: 0, cols: 5 });
    jit.softmax(new Float32Array(0), new Float32Array(0), { rows: 4, cols: 0 });
  });
}

for (const isa of LEVELS) {
  Deno.test(`softmax ${isa}: short rows at any row count (blocks of 16, the pipelined kernel) give each row's bits as alone`, () => {
    // At AVX-512 rows of up to 128 columns run in blocks of 16 and a last
    // block of the rest (blocked.ts): every row count from 1 to 7, a whole
    // block, a block and 15, two and 1; tails of every kind, masked and −Inf
    // rows, split between 2 threads and in place. Below AVX-512 rows
    // read from memory run overlapped (a step's loop holds pass 3 of the row
    // before and pass 1 of the row after, with a first and a last step of
    // their own): the same row counts cover those.
    using one = new Jit({ threads: 1, maxIsa: isa });
    using two = new Jit({ threads: 2, minPartUs: 0, maxIsa: isa });
    const r = rng(330 + LEVELS.indexOf(isa));
    for (const cols of [1, 5, 16, 31, 100, 127, 128, 129]) {
      for (const rows of [1, 2, 3, 4, 5, 6, 7, 16, 31, 33]) {
        const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * pick(r, [1, 30]));
        for (let i = 0; i < x.length; i += 7) if (r() < 0.3) x[i] = -Infinity; // masked entries
        if (rows > 2) x.fill(-Infinity, cols, 2 * cols); // row 1: all −Inf, NaN out
        for (const log of [false, true]) {
          const where = `${rows}×${cols}${log ? " log" : ""}`;
          const y = new Float32Array(x.length);
          one.softmax(x, y, { rows, cols, log });
          check(x, y, rows, cols, log, where); // an all −Inf row's reference is NaN
          for (let row = 0; row < rows; row++) {
            const alone = new Float32Array(cols);
            one.softmax(x.subarray(row * cols, (row + 1) * cols), alone, { rows: 1, cols, log });
            const masked = x.subarray(row * cols, (row + 1) * cols).every((v) => v === -Infinity);
            for (let j = 0; j < cols; j++) {
              const got = y[row * cols + j];
              assert.ok(
                Object.is(alone[j], got) || (Number.isNaN(alone[j]) && Number.isNaN(got)),
                `${where}: row ${row} [${j}] alone ${alone[j]}, in the batch ${got}`,
              );
              if (masked) assert.ok(Number.isNaN(got), `${where}: −Inf row ${row} [${j}] = ${got}`);
              else if (x[row * cols + j] === -Infinity && !log) {
                assert.ok(Object.is(got, 0), `${where}: masked [${row}, ${j}] = ${got}`);
              }
            }
          }
          const split = new Float32Array(x.length);
          two.softmax(x, split, { rows, cols, log });
          const z = x.slice();
          one.softmax(z, z, { rows, cols, log });
          for (const [other, how] of [[split, "2 threads"], [z, "in place"]] as const) {
            for (let i = 0; i < y.length; i++) {
              assert.ok(
                Object.is(other[i], y[i]) || (Number.isNaN(other[i]) && Number.isNaN(y[i])),
                `${where} ${how} [${i}]: ${other[i]} against ${y[i]}`,
              );
            }
          }
        }
      }
    }
    const plan = one.stats().keys.find((k) => k.key.includes("softmax 7×128"))?.plan ?? "";
    // Tier 1 in blocks where the core asks (Intel), else three rows in flight.
    const blocks = blocksShortRows(cpuFeatures());
    if (isa === "avx512") {
      assert.match(plan, blocks ? /rows in blocks of 16/ : /rows in registers, 3 in flight/);
    }
    if (isa === "avx2" || isa === "sse2") assert.match(plan, /rows either side in one loop/);
    if (isa !== "avx512") return;
    // Tier 2 runs the other forms (blocks, three in flight, one at a time) on the same calls:
    // every call's bits those of the reference's run above, whichever form tier 1 is.
    for (const [rows, cols, log] of [[37, 100, false], [19, 128, true], [50, 16, false]] as const) {
      using tuned = new Jit({ threads: 1, maxIsa: isa, tuneBudget: 1 });
      const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * 20);
      x.fill(-Infinity, 0, cols >> 1);
      const want = new Float32Array(x.length);
      one.softmax(x, want, { rows, cols, log });
      const y = new Float32Array(x.length);
      const ran = tuneCheckingBits(
        tuned,
        () => tuned.softmax(x, y, { rows, cols, log }),
        y,
        want,
        `${rows}×${cols}${log ? " log" : ""}`,
      );
      for (const form of [/rows in blocks of 16/, /3 in flight/, /one at a time/]) {
        assert.ok(ran.some((p) => form.test(p)), `${form}: ${ran.join("; ")}`);
      }
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`softmax ${isa}: x and y at every float offset of a line give the same bits`, () => {
    // Rows read from memory (13 vectors and more): at AVX-512 the maximum is taken along x's
    // lines and pass 3 runs along y's lines (logSoftmax reading x at the same elements), the
    // row's first and last line masked; rows of 221 and 1001 floats start at every offset of a
    // line in turn. x and y at each offset of a line, y also 5 floats further on than x (x's
    // loads then off its lines), and in place. Rows whose maximum is their
    // first element, their last, a NaN, all −Inf, and random ones.
    using jit = new Jit({ threads: 1, maxIsa: isa });
    const r = rng(4040 + LEVELS.indexOf(isa));
    /** n floats of `buf` starting `at` floats past a line boundary. */
    const placed = (buf: Float32Array, n: number, at: number) => {
      const address = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
      const skip = ((64 - (address % 64)) % 64) / 4 + at;
      return buf.subarray(skip, skip + n);
    };
    for (const [rows, cols] of [[6, 208], [5, 1024], [3, 4096], [17, 221], [5, 1001]]) {
      const n = rows * cols, data = new Float32Array(n).map(() => r() * 16 - 8);
      data[0] = 30; // row 0: its first element the maximum
      data[2 * cols - 1] = 30; // row 1: its last
      data[2 * cols + 5] = NaN; // row 2: NaN throughout
      data.fill(-Infinity, 3 * cols, 4 * cols); // row 3: all −Inf, NaN out
      for (const log of [false, true]) {
        const where = `${rows}×${cols}${log ? " log" : ""}`;
        let first: Float32Array | null = null;
        for (let at = 0; at < 16; at++) {
          for (const apart of [0, 5, "in place"] as const) {
            // Around y: 777, which no lane past a row computes (0 can be).
            const bx = new Float32Array(n + 64), by = new Float32Array(n + 64).fill(777);
            const y = placed(by, n, (at + (apart === "in place" ? 0 : apart)) % 16);
            const x = apart === "in place" ? y : placed(bx, n, at);
            x.set(data);
            jit.softmax(x, y, { rows, cols, log });
            if (first === null) {
              check(data, y, rows, cols, log, where);
              first = y.slice();
            } else {
              for (let i = 0; i < n; i++) {
                assert.ok(
                  Object.is(y[i], first[i]) || (Number.isNaN(y[i]) && Number.isNaN(first[i])),
                  `${isa} ${where} x at ${at} floats, y ${apart}: [${i}] ${y[i]} against ${
                    first[i]
                  }`,
                );
              }
            }
            // Nothing written around y.
            const y0 = y.byteOffset / 4;
            assert.ok(by.subarray(0, y0).every((v) => v === 777), `${where}: before y at ${at}`);
            assert.ok(by.subarray(y0 + n).every((v) => v === 777), `${where}: after y at ${at}`);
          }
        }
      }
      if (isa === "avx512") {
        const plan = (log: boolean) =>
          jit.stats().keys.find((k) =>
            k.key === `${log ? "logSoftmax" : "softmax"} ${rows}×${cols}`
          )
            ?.plan ?? "";
        assert.match(
          plan(false),
          /maximum along x's lines.*scaled along y's lines/,
          `${rows}×${cols}`,
        );
        assert.match(
          plan(true),
          /maximum along x's lines.*finished along y's lines/,
          `${rows}×${cols}`,
        );
      }
    }
  });
}

Deno.test("softmax: bad input names the argument, the value and the expectation", () => {
  using jit = new Jit();
  const x = new Float32Array(6), y = new Float32Array(6);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.softmax(x, y, { rows: 2, cols: 4 }),
      /x has 6 elements but rows=2 × cols=4 needs exactly 8/,
      RangeError,
    ],
    [
      () => jit.softmax(x, new Float32Array(5), { rows: 2, cols: 3 }),
      /y has 5 elements/,
      RangeError,
    ],
    [
      () => jit.softmax(x, y, { rows: -1, cols: 3 }),
      /rows must be an integer in \[0, 1073741824\], got -1/,
      RangeError,
    ],
    [
      () => jit.softmax(x, y, { rows: 2, cols: 1.5 }),
      /cols must be an integer .* got 1.5/,
      RangeError,
    ],
    [
      () => jit.softmax(x, y, { rows: 2n as unknown as number, cols: 3 }),
      /rows must be a non-negative integer, got a bigint \(2n\)/,
      TypeError,
    ],
    [
      () => jit.softmax(x, y, undefined as unknown as { rows: number; cols: number }),
      /options must be an object with rows and cols, got undefined/,
      TypeError,
    ],
    [
      () => jit.softmax(x, y, { rows: 2, cols: 3, log: 1 as unknown as boolean }),
      /log must be a boolean, got number 1/,
      TypeError,
    ],
    [
      () => jit.softmax(x.subarray(0, 3), x.subarray(2, 5), { rows: 1, cols: 3 }),
      /y overlaps x/,
      RangeError,
    ],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
});

Deno.test("softmax plan: y's lines of the rows ahead claimed (prefetchw) only where the target asks", () => {
  const spec = { rows: 1024, cols: 1024, log: false };
  const count = (listing: string, op: string) =>
    listing.split("\n").filter((l) => l.trim().startsWith(op + " ")).length;
  for (const claim of [true, false]) {
    const p = planSoftmax(spec, "avx512", 1 << 20, claim);
    assert.equal(p.prefetchRows, 2);
    const listing = generateSoftmax(spec, p, { listing: true }).listing();
    assert.ok(count(listing, "prefetcht0") > 0, "x's rows ahead are prefetched either way");
    assert.equal(count(listing, "prefetchw") > 0, claim, `claims ${claim}`);
    assert.equal(/y not claimed/.test(p.description), !claim, p.description);
  }
});

Deno.test("softmax plan: rows over half of L1 lagged at AVX-512, the next row's maximum in pass 2", () => {
  const l1d = 48 << 10;
  const lagged = (rows: number, cols: number, log = false, isa: "avx512" | "avx2" = "avx512") =>
    planSoftmax({ rows, cols, log }, isa, 2 << 20, true, true, l1d);
  for (
    const [rows, cols, log, isa, want] of [
      [8, l1d / 8 + 1, false, "avx512", true], // a float past half of L1
      [8, l1d / 8, false, "avx512", false],
      [2, 30522, false, "avx512", true],
      [1, 30522, false, "avx512", false], // one row: nothing to lag
      [8, 30522, true, "avx512", true], // logSoftmax: its pass 3 reads x of the row before
      [8, 30522, false, "avx2", false],
    ] as const
  ) {
    const p = lagged(rows, cols, log, isa);
    assert.equal(p.lagged && p.nextMax, want, `${rows}×${cols} ${log} ${isa}: ${p.description}`);
    assert.equal(/pass 3 and the next row's pass 1 in this row's pass 2/.test(p.description), want);
  }
  // Tier 2's first two candidates: the two forms tier 1 is not (lagged with the next maximum,
  // lagged alone, neither), the rest of the plan as tier 1's.
  const form = (d: string): string =>
    /pass 3 and the next row's pass 1/.test(d)
      ? "both"
      : /pass 3 in the next row's pass 2/.test(d)
      ? "lagged"
      : "neither";
  for (const cols of [30522, l1d / 8 + 1, l1d / 8]) {
    const p = lagged(8, cols);
    const first = softmaxCandidates({ rows: 8, cols, log: false }, p).slice(0, 2);
    const want = ["both", "lagged", "neither"].filter((f) => f !== form(p.description));
    assert.deepEqual(first.map((q) => form(q.description)).sort(), want, `${cols}`);
    for (const q of first) assert.equal(q.claimAhead, p.claimAhead);
  }
  // A core that does not lag long rows (Zen 5): none lagged at tier 1, both lagged forms tier 2's.
  for (const cols of [30522, l1d / 8 + 1]) {
    const p = planSoftmax({ rows: 8, cols, log: false }, "avx512", 2 << 20, true, true, l1d, {
      lagLongRows: false,
    });
    assert.equal(form(p.description), "neither", p.description);
    assert.ok(!p.lagged && !p.nextMax);
    const first = softmaxCandidates({ rows: 8, cols, log: false }, p).slice(0, 2);
    assert.deepEqual(first.map((q) => form(q.description)).sort(), ["both", "lagged"], `${cols}`);
  }
});
