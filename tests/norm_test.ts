import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { generateNorm, normReference, planNorm } from "../src/kernels/norm/mod.ts";
import { pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const EDGES = [1, 7, 15, 16, 17, 31, 33, 1000, 1023, 1025];
const EPS = 2 ** -24;

interface Case {
  kind: "layer" | "rms";
  rows: number;
  cols: number;
  x: Float32Array;
  residual?: Float32Array;
  scale?: Float32Array;
  bias?: Float32Array;
  epsilon?: number;
}

/**
 * Allowed error: a few ulp of each output, plus the rounding of the row's
 * sums (at most cols/lanes + lanes additions, relative 2^-24 each) carried
 * through the normalized magnitude of the row.
 */
function check(c: Case, y: Float32Array, where: string) {
  const ref = new Float32Array(y.length);
  const eps = Math.fround(c.epsilon ?? 1e-5);
  normReference(
    {
      kind: c.kind,
      rows: c.rows,
      cols: c.cols,
      scale: !!c.scale,
      bias: !!c.bias,
      residual: !!c.residual,
      epsilon: eps,
    },
    c.x,
    c.residual ?? c.x,
    c.scale ?? c.x,
    c.bias ?? c.x,
    ref,
  );
  for (let r = 0; r < c.rows; r++) {
    let big = 0;
    for (let j = 0; j < c.cols; j++) {
      const i = r * c.cols + j;
      big = Math.max(big, Math.abs(ref[i] - (c.bias ? c.bias[j] : 0)));
    }
    for (let j = 0; j < c.cols; j++) {
      const i = r * c.cols + j;
      const tol = 8 * EPS * Math.abs(ref[i]) + (16 + c.cols / 4) * EPS * big;
      if (!(Math.abs(y[i] - ref[i]) <= tol)) {
        assert.fail(`${where}: [${r}, ${j}] got ${y[i]}, reference ${ref[i]} (tolerance ${tol})`);
      }
    }
  }
}

function run(jit: Jit, c: Case, y: Float32Array) {
  const o = {
    rows: c.rows,
    cols: c.cols,
    scale: c.scale,
    residual: c.residual,
    epsilon: c.epsilon,
  };
  if (c.kind === "layer") jit.layerNorm(c.x, y, { ...o, bias: c.bias });
  else jit.rmsNorm(c.x, y, o);
}

for (const isa of LEVELS) {
  Deno.test(`norm ${isa}: layerNorm and rmsNorm on seeded shapes against the f64 reference`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 500 + LEVELS.indexOf(isa);
    const r = rng(seed);
    for (let t = 0; t < 60; t++) {
      const kind = pick(r, ["layer", "rms"] as const);
      const cols = pick(r, EDGES), rows = pick(r, [1, 2, 3, 5]);
      const offset = pick(r, [0, 0, 1e4, -300]); // rows like 1e4 + noise
      const vec = (n: number, lo: number, w: number) => new Float32Array(n).map(() => lo + r() * w);
      const c: Case = {
        kind,
        rows,
        cols,
        x: vec(rows * cols, offset - 1, 2),
        residual: r() < 0.4 ? vec(rows * cols, -1, 2) : undefined,
        scale: r() < 0.6 ? vec(cols, 0.5, 1) : undefined,
        bias: kind === "layer" && r() < 0.6 ? vec(cols, -1, 2) : undefined,
        epsilon: r() < 0.3 ? pick(r, [1e-6, 1e-3, 0.1]) : undefined,
      };
      const y = new Float32Array(rows * cols);
      run(jit, c, y);
      check(c, y, `${isa} seed ${seed} case ${t} ${kind} ${rows}×${cols} offset ${offset}`);
    }
    // Operands beyond L2: the plan prefetches rows ahead (a different kernel, same numerics).
    for (const kind of ["layer", "rms"] as const) {
      const rows = 300, cols = 1000;
      const c: Case = {
        kind,
        rows,
        cols,
        x: new Float32Array(rows * cols).map(() => r() * 4 - 2),
        scale: new Float32Array(cols).fill(1.25),
      };
      const y = new Float32Array(rows * cols);
      run(jit, c, y);
      check(c, y, `${isa} ${kind} ${rows}×${cols}`);
      assert.match(
        jit.stats().keys.find((k) => k.key.includes(`${rows}×${cols}`))!.plan!,
        /prefetched 1 ahead/, // rows of 512 or more: one ahead
      );
    }
    for (const k of jit.stats().keys) assert.equal(k.failure, null, `${k.key}: ${k.failure}`);
  });

  Deno.test(`norm ${isa}: 1e4 + noise keeps its variance; in place; rows independent of the batch`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(9);
    const cols = 768;
    const x = new Float32Array(4 * cols).map(() => 1e4 + r() * 0.01);
    const y = new Float32Array(x.length);
    jit.layerNorm(x, y, { rows: 4, cols });
    check({ kind: "layer", rows: 4, cols, x }, y, `${isa} 1e4 + noise`);
    let m = 0, v = 0;
    for (let j = 0; j < cols; j++) m += y[j] / cols;
    for (let j = 0; j < cols; j++) v += (y[j] - m) ** 2 / cols;
    // var(x) ≈ 8e-6 ≫ ε = 1e-5? No: same order, so var(y) = var/(var + ε).
    assert.ok(Math.abs(m) < 1e-5 && v > 0.3, `normalized row: mean ${m}, variance ${v}`);
    for (let row = 0; row < 4; row++) {
      const one = new Float32Array(cols);
      jit.layerNorm(x.subarray(row * cols, (row + 1) * cols), one, { rows: 1, cols });
      assert.deepEqual(one, y.subarray(row * cols, (row + 1) * cols));
    }
    const z = x.slice();
    jit.layerNorm(z, z, { rows: 4, cols });
    assert.deepEqual(z, y);
    jit.rmsNorm(new Float32Array(0), new Float32Array(0), { rows: 0, cols: 8 });
  });

  Deno.test(`norm ${isa}: every row gives its bits alone (residual, scale, bias; tails)`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(77);
    for (const cols of [1, 17, 33, 768, 1025]) {
      for (const kind of ["layer", "rms"] as const) {
        const rows = 5;
        const f = (n: number) => new Float32Array(n).map(() => r() * 4 - 2);
        const x = f(rows * cols), residual = f(rows * cols), scale = f(cols), bias = f(cols);
        const y = new Float32Array(x.length);
        const norm = (xs: Float32Array, ys: Float32Array, res: Float32Array, n: number) =>
          kind === "layer"
            ? jit.layerNorm(xs, ys, { rows: n, cols, residual: res, scale, bias })
            : jit.rmsNorm(xs, ys, { rows: n, cols, residual: res, scale });
        norm(x, y, residual, rows);
        for (let row = 0; row < rows; row++) {
          const part = (a: Float32Array) => a.slice(row * cols, (row + 1) * cols);
          const one = new Float32Array(cols);
          norm(part(x), one, part(residual), 1);
          assert.deepEqual(one, part(y), `${kind} cols ${cols} row ${row}`);
        }
      }
    }
  });
}

for (const isa of LEVELS) {
  Deno.test(`norm ${isa}: scale and bias at every 4-byte place in a line (copied to lines with several rows)`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(4242);
    const rows = 6;
    for (const cols of [17, 768, 1025]) {
      for (const kind of ["layer", "rms"] as const) {
        const x = new Float32Array(rows * cols).map(() => r() * 4 - 2);
        const scales = new Float32Array(cols + 16).map(() => 0.5 + r());
        const biases = new Float32Array(cols + 16).map(() => r() - 0.5);
        for (let at = 0; at < 16; at++) {
          // Every float offset of a line: the base's place plus 0..15 floats covers all 16.
          const scale = scales.subarray(at, at + cols);
          const bias = kind === "layer"
            ? biases.subarray((7 * at) % 16, (7 * at) % 16 + cols)
            : undefined;
          const c: Case = { kind, rows, cols, x, scale, bias };
          const y = new Float32Array(rows * cols);
          run(jit, c, y);
          const where = `${isa} ${kind} ${rows}×${cols}, scale at float ${at}`;
          check(c, y, where);
          for (let row = 0; row < rows; row++) {
            // One row alone: no copies (too few rows), the same bits.
            const one = new Float32Array(cols);
            run(jit, { ...c, rows: 1, x: x.subarray(row * cols, (row + 1) * cols) }, one);
            assert.deepEqual(one, y.subarray(row * cols, (row + 1) * cols), `${where} row ${row}`);
          }
        }
        const plan = jit.stats().keys.find((k) =>
          k.key.includes(`${rows}×${cols}`) && k.key.startsWith(kind)
        )!.plan!;
        if (isa === "avx2" || isa === "avx512") assert.match(plan, /copied to lines when off them/);
        else assert.doesNotMatch(plan, /copied/);
      }
    }
  });

  Deno.test(`norm ${isa}: x at every float offset of a line, y and residual elsewhere: the same bits`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(1616);
    // Rows of whole vectors beyond L1 (AVX-512 reads them along x's lines when
    // x is off one): with copies of scale and bias (4+ rows) and without (3).
    for (const [rows, cols] of [[40, 512], [3, 4096], [5, 768]]) {
      const n = rows * cols;
      const data = new Float32Array(n).map(() => r() * 4 - 2);
      // Row 1: its first vector far from the rest, so its variance takes the third pass.
      for (let j = 0; j < cols; j++) data[cols + j] = j < 16 ? 0 : 1000 + r();
      const res = new Float32Array(n).map(() => r() - 0.5);
      const scale = new Float32Array(cols).map(() => 0.5 + r());
      const bias = new Float32Array(cols).map(() => r() - 0.5);
      for (const kind of ["layer", "rms"] as const) {
        for (const withResidual of [false, true]) {
          let first: Float32Array | null = null;
          // The base's place plus 0..15 floats: every offset into a line, for each operand.
          for (let at = 0; at < 16; at++) {
            const place = (v: Float32Array, k: number) => {
              const buf = new Float32Array(n + 32);
              buf.set(v, k);
              return { buf, view: buf.subarray(k, k + n) };
            };
            const x = place(data, at), y = place(new Float32Array(n), (at * 7 + 3) % 16);
            y.buf.fill(777); // around y: not 0, which a lane past a row can hold
            y.view.fill(0);
            const residual = withResidual ? place(res, (at * 5) % 16).view : undefined;
            const c: Case = { kind, rows, cols, x: x.view, residual, scale, bias };
            if (kind === "rms") c.bias = undefined;
            run(jit, c, y.view);
            const where = `${isa} ${kind} ${rows}×${cols}${
              withResidual ? " +residual" : ""
            } x at ${at}`;
            if (first === null) {
              check(c, y.view, where);
              first = y.view.slice();
            } else assert.deepEqual(y.view, first, where);
            // Nothing written around y; in place, the same bits.
            assert.ok(
              y.buf.every((t, i) =>
                t === 777 || (i >= y.view.byteOffset / 4 && i < y.view.byteOffset / 4 + n)
              ),
              `${where}: y's neighbours`,
            );
            run(jit, { ...c }, x.view);
            assert.deepEqual(x.view, first, `${where}, in place`);
          }
        }
      }
      if (isa === "avx512") {
        // 30 KB of x and y stay in L1, where no line is waited on.
        const key = jit.stats().keys.find((k) => k.key.includes(`${rows}×${cols}`))!;
        if (n === 5 * 768) assert.doesNotMatch(key.plan!, /read along its lines/);
        else assert.match(key.plan!, /read along its lines/);
      }
    }
  });

  Deno.test(`norm ${isa}: x and y at every pair of float offsets in their lines: the same bits, nothing written around y`, () => {
    // A 4 KiB L1 (the smallest the option takes) puts these rows beyond it,
    // so AVX-512 reads them along x's lines and, where y starts at another
    // offset, stores along y's. Rows of 32, 33 and 35 vectors: the loop over
    // lines (4 a turn) leaves 3, 0 and 2 lines after it; with copies of
    // scale and bias (4 rows) and without.
    using jit = new Jit({ maxIsa: isa, caches: { l1d: 4096 } });
    const r = rng(3131);
    for (const [rows, cols] of [[4, 512], [3, 528], [2, 560]]) {
      const n = rows * cols;
      const data = new Float32Array(n).map(() => r() * 4 - 2);
      const res = new Float32Array(n).map(() => r() - 0.5);
      const scale = new Float32Array(cols).map(() => 0.5 + r());
      const bias = new Float32Array(cols).map(() => r() - 0.5);
      const cases: [string, Omit<Case, "x">][] = [
        ["layer", { kind: "layer", rows, cols, scale, bias }],
        ["rms", { kind: "rms", rows, cols, scale }],
        ["rms +residual", { kind: "rms", rows, cols, scale, residual: res }],
      ];
      for (const [name, c] of cases) {
        let first: Float32Array | null = null;
        const xs = new Float32Array(n + 16), ys = new Float32Array(n + 32);
        for (let ox = 0; ox < 16; ox++) {
          const x = xs.subarray(ox, ox + n);
          x.set(data);
          for (let oy = 0; oy < 16; oy++) {
            ys.fill(777); // not 0: a lane past the row can hold 0
            const y = ys.subarray(oy + 8, oy + 8 + n);
            run(jit, { ...c, x }, y);
            const where = `${isa} ${name} ${rows}×${cols}, x at float ${ox}, y at ${oy + 8}`;
            if (first === null) {
              check({ ...c, x }, y, where);
              first = y.slice();
            } else assert.deepEqual(y, first, where);
            const outside = ys.findIndex((t, i) => t !== 777 && (i < oy + 8 || i >= oy + 8 + n));
            assert.equal(outside, -1, `${where}: y's neighbour ${outside} written`);
          }
        }
      }
      if (isa === "avx512") {
        const plan = jit.stats().keys.find((k) => k.key.startsWith(`layerNorm ${rows}×${cols}`))!
          .plan!;
        assert.match(plan, /y off x's offset stored along its own lines/);
      }
    }
  });

  Deno.test(`norm ${isa}: rows of 256 read along lines far beyond L2 give the bits of rows read as they lie`, () => {
    // With a 64 KiB L2, 300×256 is far beyond it: AVX-512 reads rows of 256 along x's lines.
    using far = new Jit({ maxIsa: isa, caches: { l2: 64 << 10 } });
    using near = new Jit({ maxIsa: isa });
    const r = rng(2424);
    const rows = 300, cols = 256, n = rows * cols;
    const data = new Float32Array(n).map(() => r() * 4 - 2);
    const scale = new Float32Array(cols).map(() => 0.5 + r());
    const bias = new Float32Array(cols).map(() => r() - 0.5);
    for (const kind of ["layer", "rms"] as const) {
      const want = new Float32Array(n);
      run(
        near,
        { kind, rows, cols, x: data, scale, bias: kind === "layer" ? bias : undefined },
        want,
      );
      for (let at = 0; at < 16; at++) {
        const buf = new Float32Array(n + 32);
        buf.set(data, at);
        const x = buf.subarray(at, at + n), y = new Float32Array(n);
        run(far, { kind, rows, cols, x, scale, bias: kind === "layer" ? bias : undefined }, y);
        assert.deepEqual(y, want, `${isa} ${kind} ${rows}×${cols}, x at ${at}`);
      }
    }
    if (isa === "avx512") {
      for (const k of far.stats().keys) assert.match(k.plan!, /read along its lines/, k.key);
      for (const k of near.stats().keys) {
        assert.doesNotMatch(k.plan!, /read along its lines/, k.key);
      }
    }
  });

  Deno.test(`norm ${isa}: a shift that leaves cancellation takes the third pass; each row its bits alone`, () => {
    using jit = new Jit({ maxIsa: isa });
    const r = rng(31);
    // Rows 0 and 3: 64 zeros (the shift, whatever the vector width), then
    // 1000 + noise: mean(d)² is 1023/1024 of mean(d²), so mean(d²) − mean(d)²
    // would lose 10 bits (variance off by ~1e-3); rows 1 and 2 take 2 passes.
    const rows = 4, cols = 65536;
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const noise = r() * 2 - 1;
        x[i * cols + j] = i % 3 === 0 ? (j < 64 ? 0 : 1000 + noise) : 5 + noise;
      }
    }
    const y = new Float32Array(x.length);
    jit.layerNorm(x, y, { rows, cols });
    check({ kind: "layer", rows, cols, x }, y, `${isa} cancelling shift`);
    const eps = Math.fround(1e-5);
    // The sums run in 4 accumulators per lane, so their error falls with the
    // lanes: measured 2.7e-5 (scalar) to 5.5e-7 (AVX-512) with the third
    // pass, 7e-4 to 7e-5 at SSE2 to AVX-512 without it.
    const lanes = { scalar: 1, sse2: 4, avx2: 8, avx512: 16 }[isa as string] ?? 16;
    const bound = 8e-5 / lanes;
    for (let i = 0; i < rows; i++) {
      const row = (a: Float32Array) => a.subarray(i * cols, (i + 1) * cols);
      const moments = (a: Float32Array) => {
        let m = 0, v = 0;
        for (const t of a) m += t / cols;
        for (const t of a) v += (t - m) ** 2 / cols;
        return v;
      };
      const want = moments(row(x)) / (moments(row(x)) + eps), got = moments(row(y));
      assert.ok(
        Math.abs(got - want) < bound,
        `${isa} row ${i}: normalized variance ${got}, want ${want}`,
      );
      const one = new Float32Array(cols);
      jit.layerNorm(row(x), one, { rows: 1, cols });
      assert.deepEqual(one, row(y), `${isa} row ${i} alone`);
    }
  });
}

Deno.test("norm plan: rows prefetched past L1, or past L2 where the core's prefetchers serve L2", () => {
  const spec = (rows: number, cols: number) => ({
    kind: "layer" as const,
    rows,
    cols,
    residual: false,
    scale: true,
    bias: true,
    epsilon: 1e-5,
  });
  const l1d = 48 << 10, l2 = 1 << 20;
  // 128×768: 786 KB of x and y, past L1, within L2 (rows of 512 or more: one ahead).
  assert.equal(planNorm(spec(128, 768), "avx512", l1d, l2, true).prefetchRows, 1);
  assert.equal(planNorm(spec(128, 768), "avx512", l1d, l2, false).prefetchRows, 0);
  assert.equal(planNorm(spec(256, 256), "avx512", l1d, l2, true).prefetchRows, 2);
  assert.equal(planNorm(spec(256, 256), "avx512", l1d, l2, false).prefetchRows, 0);
  // Within L1: none either way; past L2 (4 MB): rows of 1024 one ahead either way.
  for (const within of [true, false]) {
    assert.equal(planNorm(spec(4, 768), "avx512", l1d, l2, within).prefetchRows, 0);
    assert.equal(planNorm(spec(512, 1024), "avx512", l1d, l2, within).prefetchRows, 1);
  }
});

Deno.test("norm plan: y's lines of the rows ahead claimed (prefetchw) when asked, by default only past 16 L2s in rows of at most 4 KiB", () => {
  const norm = {
    kind: "layer" as const,
    rows: 512,
    cols: 1024,
    residual: false,
    scale: true,
    bias: true,
    epsilon: 1e-5,
  };
  const count = (listing: string, op: string) =>
    listing.split("\n").filter((l) => l.trim().startsWith(op + " ")).length;
  for (const claim of [true, false]) {
    const p = planNorm(norm, "avx512", 48 << 10, 1 << 20, false, claim);
    assert.equal(p.prefetchRows, 1);
    const listing = generateNorm(norm, p, { listing: true }).listing();
    assert.ok(count(listing, "prefetcht0") > 0, "x's rows ahead are prefetched either way");
    assert.equal(count(listing, "prefetchw") > 0, claim, `claims ${claim}`);
    assert.equal(/y not claimed/.test(p.description), !claim, p.description);
  }
  // Tier 1 (the default): none within 16 L2s (512×1024: 4 MiB of x and y against 16 MiB), nor
  // in rows past 4 KiB; 4096×768 (24 MiB) on a 512 KiB L2 claims.
  assert.equal(planNorm(norm, "avx512", 48 << 10, 1 << 20, false).claimRows, false);
  const big = { ...norm, rows: 4096, cols: 768 }, long = { ...norm, rows: 1024, cols: 4096 };
  assert.equal(planNorm(big, "avx2", 32 << 10, 512 << 10, true).claimRows, true);
  assert.equal(planNorm(big, "avx2", 32 << 10, 2 << 20, true).claimRows, false);
  assert.equal(planNorm(long, "avx2", 32 << 10, 512 << 10, true).claimRows, false);
});

Deno.test("norm: bad input names the argument, the value and the expectation", () => {
  using jit = new Jit();
  const x = new Float32Array(6), y = new Float32Array(6), buf = new Float32Array(8);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 4 }),
      /layerNorm: x has 6 elements but rows=2 × cols=4 needs exactly 8/,
      RangeError,
    ],
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 3, scale: new Float32Array(2) }),
      /scale has 2 elements but cols is 3/,
      RangeError,
    ],
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 3, bias: [1, 2, 3] as unknown as Float32Array }),
      /bias must be a Float32Array, got/,
      TypeError,
    ],
    [
      () => jit.rmsNorm(x, y, { rows: 2, cols: 3, bias: new Float32Array(3) } as never),
      /rmsNorm: takes no bias/,
      TypeError,
    ],
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 3, residual: new Float32Array(5) }),
      /residual has 5 elements but rows × cols is 6/,
      RangeError,
    ],
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 3, epsilon: 0 }),
      /epsilon must be a positive finite number, got number 0/,
      RangeError,
    ],
    [
      () => jit.layerNorm(x, y, { rows: 2, cols: 3, epsilon: "1" as unknown as number }),
      /epsilon must be a positive finite number, got string/,
      TypeError,
    ],
    [
      () => jit.layerNorm(x, y, null as never),
      /options must be an object with rows and cols, got null/,
      TypeError,
    ],
    [
      () =>
        jit.layerNorm(x, buf.subarray(0, 6), { rows: 2, cols: 3, residual: buf.subarray(1, 7) }),
      /y overlaps residual/,
      RangeError,
    ],
  ];
  for (const [f, re, type] of bad) {
    assert.throws(f, (e: Error) => e instanceof type && re.test(e.message), String(re));
  }
  // A getter cannot hand validation one array and the kernel another: each option is read once.
  let reads = 0;
  const o = {
    rows: 2,
    cols: 3,
    get scale() {
      reads++;
      return reads === 1 ? new Float32Array(3) : new Float32Array(1);
    },
  };
  jit.layerNorm(x, y, o);
  assert.equal(reads, 1);
});
