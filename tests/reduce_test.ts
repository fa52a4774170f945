import assert from "node:assert/strict";
import { Assembler, rdi } from "../asm/mod.ts";
import { isaLevel, Jit, REDUCE_OPS, type ReduceOp } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { reduceReference } from "../src/kernels/reduce/mod.ts";
import { foldedLane, Vec, vecIsa } from "../src/kernels/vec.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const EDGES = [1, 7, 15, 16, 17, 31, 33, 1000, 1023, 1025];
const EPS = 2 ** -24;

/** Sums: (cols/4 + 8) roundings of the running magnitude; max/min exact; the rest a few ulp more. */
function tolerance(op: ReduceOp, x: Float32Array, ref: number, cols: number): number {
  if (op === "max" || op === "min") return 0;
  let mag = 0;
  for (const v of x) mag += op === "sumSquare" || op === "l2" ? v * v : Math.abs(v);
  if (op === "mean") mag /= cols;
  if (op === "l2") mag = Math.sqrt(mag);
  if (op === "logSumExp") mag = Math.abs(ref) + 1;
  return (cols / 4 + 8) * EPS * mag + 4 * EPS * Math.abs(ref);
}

for (const isa of LEVELS) {
  Deno.test(`reduce ${isa}: every op on seeded shapes against the f64 reference`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 700 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 50; t++) {
      const cols = pick(r, EDGES), rows = pick(r, [1, 2, 3, 6]);
      const scale = pick(r, [1, 30, 1e3]);
      const x = new Float32Array(rows * cols).map(() => (r() * 2 - 1) * scale);
      for (const op of REDUCE_OPS) {
        const y = new Float32Array(rows), ref = new Float32Array(rows);
        jit.reduce(op, x, y, { rows, cols });
        reduceReference({ op: REDUCE_OPS.indexOf(op), rows, cols }, x, ref);
        for (let i = 0; i < rows; i++) {
          const tol = tolerance(op, x.subarray(i * cols, (i + 1) * cols), ref[i], cols);
          assert.ok(
            Math.abs(y[i] - ref[i]) <= tol,
            `${isa} seed ${seed} case ${t} ${op} ${rows}×${cols} row ${i}: ${y[i]} vs ${
              ref[i]
            } (tolerance ${tol})`,
          );
        }
      }
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });

  Deno.test(`reduce ${isa}: NaN, ±Inf and empty rows`, () => {
    using jit = new Jit({ maxIsa: isa });
    for (const cols of [1, 5, 40]) {
      for (const at of [0, cols - 1]) {
        const x = new Float32Array(cols).fill(1);
        x[at] = NaN;
        const y = new Float32Array(1);
        for (const op of ["max", "min", "sum", "logSumExp"] as const) {
          jit.reduce(op, x, y, { rows: 1, cols });
          assert.ok(Number.isNaN(y[0]), `${isa} ${op} with NaN at ${at}/${cols}: ${y[0]}`);
        }
      }
      const y = new Float32Array(1);
      jit.reduce("logSumExp", new Float32Array(cols).fill(-Infinity), y, { rows: 1, cols });
      assert.equal(y[0], -Infinity);
      const inf = new Float32Array(cols).fill(2);
      inf[cols >> 1] = Infinity;
      jit.reduce("logSumExp", inf, y, { rows: 1, cols });
      assert.equal(y[0], Infinity);
      jit.reduce("max", new Float32Array(cols).fill(-Infinity), y, { rows: 1, cols });
      assert.equal(y[0], -Infinity);
    }
    const y = new Float32Array(2);
    const empty = new Float32Array(0);
    const expect: Record<ReduceOp, number> = {
      sum: 0,
      mean: NaN,
      max: -Infinity,
      min: Infinity,
      sumSquare: 0,
      l2: 0,
      logSumExp: -Infinity,
    };
    for (const op of REDUCE_OPS) {
      jit.reduce(op, empty, y, { rows: 2, cols: 0 });
      assert.ok(
        Object.is(y[0], expect[op]) && Object.is(y[1], expect[op]),
        `${isa} empty ${op}: ${y}`,
      );
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`reduce ${isa}: x at every float offset of a line gives the same bits`, () => {
    // A 64 KiB L2 puts these rows beyond it: AVX-512 reads them along x's lines when x is off one.
    using jit = new Jit({ maxIsa: isa, caches: { l2: 64 << 10 } });
    const r = rng(2323);
    for (const [rows, cols] of [[40, 512], [5, 4096], [1, 32768], [20, 1024]]) {
      const n = rows * cols;
      const data = new Float32Array(n).map(() => r() * 8 - 4);
      // Row 1: a NaN; row 2: its max a −0 beside +0s (which of the two a max keeps is order's).
      data[cols + 77] = NaN;
      if (rows > 2) data.fill(-50, 2 * cols, 3 * cols).fill(0, 2 * cols + 16, 2 * cols + 40);
      if (rows > 2) data[2 * cols + 20] = -0;
      for (const op of REDUCE_OPS) {
        let first: Float32Array | null = null;
        for (let at = 0; at < 16; at++) {
          const buf = new Float32Array(n + 32);
          buf.set(data, at);
          const x = buf.subarray(at, at + n), y = new Float32Array(rows);
          jit.reduce(op, x, y, { rows, cols });
          if (first === null) {
            const ref = new Float32Array(rows);
            reduceReference({ op: REDUCE_OPS.indexOf(op), rows, cols }, data, ref);
            for (let i = 0; i < rows; i++) {
              const tol = tolerance(op, data.subarray(i * cols, (i + 1) * cols), ref[i], cols);
              assert.ok(
                Object.is(y[i], ref[i]) || Math.abs(y[i] - ref[i]) <= tol,
                `${isa} ${op} ${rows}×${cols} row ${i}: ${y[i]} vs ${ref[i]}`,
              );
            }
            first = y;
          } else {
            const same = y.every((v, i) => Object.is(v, first![i]));
            assert.ok(same, `${isa} ${op} ${rows}×${cols} x at ${at}: ${y} vs ${first}`);
          }
        }
      }
      if (isa === "avx512") {
        const keys = jit.stats().keys.filter((k) => k.key.endsWith(`${rows}×${cols}`));
        for (const k of keys) assert.match(k.plan!, /read along its lines/, k.key);
      }
    }
  });
}

Deno.test("reduce: bad input names the argument, the value and the expectation", () => {
  using jit = new Jit();
  const x = new Float32Array(6), y = new Float32Array(2);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.reduce("prod" as ReduceOp, x, y, { rows: 2, cols: 3 }),
      /unknown op "prod"; expected one of sum, mean/,
      RangeError,
    ],
    [
      () => jit.reduce("sum", x, y, { rows: 3, cols: 3 }),
      /x has 6 elements but rows=3 × cols=3 needs exactly 9/,
      RangeError,
    ],
    [
      () => jit.reduce("sum", x, new Float32Array(3), { rows: 2, cols: 3 }),
      /y has 3 elements but needs exactly rows=2/,
      RangeError,
    ],
    [() => jit.reduce("sum", x, y, { rows: 2, cols: NaN }), /cols must be an integer/, RangeError],
    [() => jit.reduce("sum", x, y, null as never), /options must be an object/, TypeError],
    [
      () => jit.reduce("sum", x, x.subarray(0, 2), { rows: 2, cols: 3 }),
      /y overlaps x/,
      RangeError,
    ],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
});

Deno.test("reduce: a row gives the same bits alone and among others (AVX-512 sums 4-16 rows' lanes at once)", () => {
  const r = rng(9100);
  using jit = new Jit();
  for (const op of ["sum", "mean", "sumSquare", "l2"] as const) {
    for (const rows of [16, 17, 35, 64]) {
      for (const cols of [1, 15, 16, 17, 33, 49, 100, 120, 200]) {
        // Zeros of both signs, NaN and ±Inf among ordinary values.
        const x = new Float32Array(rows * cols).map(() =>
          r() < 0.05 ? pick(r, [NaN, Infinity, -Infinity, -0, 0]) : r() * 8 - 4
        );
        const all = new Float32Array(rows), one = new Float32Array(1);
        jit.reduce(op, x, all, { rows, cols });
        for (let i = 0; i < rows; i++) {
          jit.reduce(op, x.subarray(i * cols, (i + 1) * cols), one, { rows: 1, cols });
          assert.ok(
            Object.is(all[i], one[0]) ||
              new Uint32Array(all.buffer)[i] === new Uint32Array(one.buffer)[0],
            `${op} ${rows}×${cols} row ${i}: ${all[i]} among rows, ${one[0]} alone`,
          );
        }
      }
    }
  }
});

Deno.test("vec: foldAcross16 leaves vector i's reduceAll (add, max) in lane foldedLane(i)", () => {
  // The blocked softmax and the reduce family's 16-row sums rely on this: the fold pairs each
  // vector's lanes as reduceAll does, so each lane holds reduceAll's bits. Sums of mixed
  // magnitudes (where the pairing shows in the bits), maxima with −0 and +0 side by side.
  if (!levelsUpTo(isaLevel()).includes("avx512")) return; // AVX-512 only; no such core here
  const arena = new CodeArena();
  try {
    const r = rng(1616);
    for (const op of ["add", "max"] as const) {
      const a = new Assembler();
      const v = new Vec(a, vecIsa("avx512"));
      // [rdi]: 16 vectors in; 1024: the fold; 1088 + 64i: vector i's reduceAll, lane 0.
      const regs = Array.from({ length: 16 }, (_, i) => i);
      for (const i of regs) v.load(i, rdi, 64 * i);
      v.store(rdi, 1024, v.foldAcross16(op, regs, 16));
      for (const i of regs) {
        v.load(17, rdi, 64 * i);
        v.reduceAll(op, 17, 18);
        v.store(rdi, 1088 + 64 * i, 17);
      }
      v.leave();
      a.emit("ret");
      const f = arena.install(a.finish().code);
      const block = new NativeBlock(1088 + 64 * 16);
      for (let round = 0; round < 20; round++) {
        for (let j = 0; j < 256; j++) {
          block.f32[j] = op === "max"
            ? pick(r, [0, -0, 1, -1, r() * 8 - 4])
            : (r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 20);
        }
        dispatch().callI32(f.pointer, block.pointer);
        for (let i = 0; i < 16; i++) {
          const got = block.f32[256 + foldedLane(i)], want = block.f32[272 + 16 * i];
          assert.ok(
            Object.is(got, want),
            `${op} round ${round}, vector ${i}: ${got} against ${want}`,
          );
        }
      }
    }
  } finally {
    arena.close();
  }
});
