import assert from "node:assert/strict";
import { type AttentionOptions, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

interface Case {
  o: AttentionOptions;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  y: number;
}

/** One random configuration: shapes with tails, both layouts, grouped heads, row strides, biases. */
function randomCase(r: () => number): Case {
  const batch = int(r, 1, 3), kvHeads = int(r, 1, 3), group = pick(r, [1, 1, 2, 3]);
  const heads = kvHeads * group;
  const queries = pick(r, [1, 2, 5, 6, 7, 13, 24]), keys = pick(r, [1, 3, 16, 17, 40, 64, 77]);
  const headSize = pick(r, [1, 4, 8, 15, 16, 33, 64]);
  const vHeadSize = r() < 0.6 ? headSize : pick(r, [1, 5, 16, 20, 64, 70]);
  const layout = pick(r, ["bshd", "bhsd"] as const);
  // k and v in the other layout sometimes (a KV cache beside bshd queries).
  const kvLayout = r() < 0.25 ? (layout === "bshd" ? "bhsd" : "bshd") : layout;
  const o: AttentionOptions = {
    batch,
    heads,
    kvHeads,
    queries,
    keys,
    headSize,
    vHeadSize,
    layout,
    kvLayout,
  };
  if (r() < 0.5) o.scale = r() * 0.5;
  // bshd: rows wider than the heads (a packed projection read in place), sometimes.
  const wide = (layout === "bshd" || kvLayout === "bshd") && r() < 0.4;
  const widen = (bshd: boolean) => (wide && bshd ? int(r, 0, 9) : 0);
  const rows = {
    q: heads * headSize + widen(layout === "bshd"),
    k: kvHeads * headSize + widen(kvLayout === "bshd"),
    v: kvHeads * vHeadSize + widen(kvLayout === "bshd"),
    y: heads * vHeadSize + widen(layout === "bshd"),
  };
  if (wide) {
    o.rowStrides = layout === "bshd" ? { q: rows.q, y: rows.y } : {};
    if (kvLayout === "bshd") Object.assign(o.rowStrides, { k: rows.k, v: rows.v });
  }
  const size = (bhsd: boolean, tokens: number, heads: number, size: number, row: number) =>
    bhsd ? batch * heads * tokens * size : (batch * tokens - 1) * row + heads * size;
  const vec = (n: number) => Float32Array.from({ length: n }, () => r() * 4 - 2);
  if (r() < 0.7) {
    const shape = [batch, heads, queries].map((d) => (r() < 0.5 ? 1 : d));
    o.biasShape = shape;
    o.bias = Float32Array.from(
      { length: shape[0] * shape[1] * shape[2] * keys },
      () => (r() < 0.15 ? -10000 : r() * 2 - 1),
    );
  }
  return {
    o,
    q: vec(size(layout === "bhsd", queries, heads, headSize, rows.q)),
    k: vec(size(kvLayout === "bhsd", keys, kvHeads, headSize, rows.k)),
    v: vec(size(kvLayout === "bhsd", keys, kvHeads, vHeadSize, rows.v)),
    y: size(layout === "bhsd", queries, heads, vHeadSize, rows.y),
  };
}

/** Where element (b, h, t, i) of an operand lies, by the call's layout and row strides. */
function at(o: AttentionOptions, which: "q" | "k" | "v" | "y", b: number, h: number, t: number) {
  const heads = which === "k" || which === "v" ? o.kvHeads ?? o.heads : o.heads;
  const tokens = which === "k" || which === "v" ? o.keys : o.queries;
  const size = which === "q" || which === "k" ? o.headSize : o.vHeadSize ?? o.headSize;
  const layout = which === "k" || which === "v" ? o.kvLayout ?? o.layout : o.layout;
  if (layout === "bhsd") return ((b * heads + h) * tokens + t) * size;
  const row = o.rowStrides?.[which] ?? heads * size;
  return (b * tokens + t) * row + h * size;
}

/** The f64 computation, written out from the definition; and each output's error bound. */
function expected(c: Case): { y: Float64Array; bound: Float64Array } {
  const { o, q, k, v } = c;
  const H = o.heads, G = o.kvHeads ?? H, D = o.headSize, E = o.vHeadSize ?? D, T = o.keys;
  const scale = Math.fround(o.scale ?? 1 / Math.sqrt(D));
  const y = new Float64Array(c.y).fill(NaN), bound = new Float64Array(c.y);
  const shape = o.biasShape ?? [o.batch, H, o.queries];
  const s = new Float64Array(T), mag = new Float64Array(T);
  for (let b = 0; b < o.batch; b++) {
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / (H / G));
      for (let i = 0; i < o.queries; i++) {
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let dot = 0, abs = 0;
          for (let d = 0; d < D; d++) {
            const x = q[at(o, "q", b, h, i) + d] * k[at(o, "k", b, kv, j) + d];
            dot += x;
            abs += Math.abs(x);
          }
          const bi = o.bias
            ? o.bias[
              (((shape[0] === 1 ? 0 : b) * shape[1] + (shape[1] === 1 ? 0 : h)) * shape[2] +
                  (shape[2] === 1 ? 0 : i)) * T + j
            ]
            : 0;
          s[j] = scale * dot + bi;
          mag[j] = Math.abs(scale) * abs + Math.abs(bi);
          mx = Math.max(mx, s[j]);
        }
        let sum = 0, magMax = 0;
        for (let j = 0; j < T; j++) {
          sum += s[j] = Math.exp(s[j] - mx);
          magMax = Math.max(magMax, mag[j]);
        }
        for (let e = 0; e < E; e++) {
          let acc = 0, vMax = 0;
          for (let j = 0; j < T; j++) {
            const x = v[at(o, "v", b, kv, j) + e];
            acc += s[j] * x;
            vMax = Math.max(vMax, Math.abs(x));
          }
          const idx = at(o, "y", b, h, i) + e;
          y[idx] = acc / sum;
          // f32 errors: the scores' (D products summed, scaled, biased) through e^x, the
          // exponential's own, and T products summed; relative to the largest |v|.
          bound[idx] = 2 ** -23 * vMax * (4 * (D + 4) * magMax + 8 + 2 * T);
        }
      }
    }
  }
  return { y, bound };
}

function check(c: Case, got: Float32Array, what: string): void {
  const { y, bound } = expected(c);
  for (let i = 0; i < y.length; i++) {
    if (Number.isNaN(y[i])) continue; // between rows of strided y: not written
    const err = Math.abs(got[i] - y[i]);
    if (!(err <= bound[i])) {
      assert.fail(`${what}: y[${i}] = ${got[i]}, want ${y[i]} (±${bound[i]}): ${describe(c.o)}`);
    }
  }
}

const describe = (o: AttentionOptions) => JSON.stringify({ ...o, bias: o.bias?.length });

for (const isa of LEVELS) {
  Deno.test(`attention ${isa}: the f64 definition within f32 bounds (layouts, grouped heads, row strides, biases, tails)`, () => {
    const seed = 6100 + LEVELS.indexOf(isa);
    const r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    for (let t = 0; t < 50; t++) {
      const c = randomCase(r);
      const y = new Float32Array(c.y);
      jit.attention(c.q, c.k, c.v, y, c.o);
      check(c, y, `seed ${seed} case ${t}`);
    }
  });
}

Deno.test("attention: equal scores average v exactly; a −Inf bias leaves a key out", () => {
  for (const isa of LEVELS) {
    using jit = new Jit({ maxIsa: isa });
    // q = 0: every score is its bias; with none, e = 1 each and y = Σv · (1/4), exact.
    const q = new Float32Array(2 * 8), k = new Float32Array(4 * 8).fill(3);
    const v = Float32Array.from({ length: 4 * 3 }, (_, i) => i - 5);
    const y = new Float32Array(2 * 3);
    const o = { batch: 1, heads: 1, queries: 2, keys: 4, headSize: 8, vHeadSize: 3 };
    jit.attention(q, k, v, y, o);
    const mean = [0, 1, 2].map((e) => (v[e] + v[3 + e] + v[6 + e] + v[9 + e]) / 4);
    assert.deepEqual([...y], [...mean, ...mean], isa);
    // Key 1 masked for query 0, keys 0 and 2 for query 1: the rest averaged (thirds and halves).
    const bias = new Float32Array([0, -Infinity, 0, 0, -Infinity, 0, -Infinity, 0]);
    jit.attention(q, k, v, y, { ...o, bias, biasShape: [1, 1, 2] });
    for (let e = 0; e < 3; e++) {
      assert.ok(Math.abs(y[e] - (v[e] + v[6 + e] + v[9 + e]) / 3) < 1e-6, `${isa} row 0`);
      assert.equal(y[3 + e], (v[3 + e] + v[9 + e]) / 2, `${isa} row 1`);
    }
  }
});

Deno.test("attention: bad input throws naming the argument, before native code runs", () => {
  using jit = new Jit();
  const q = new Float32Array(2 * 8), k = new Float32Array(3 * 8), v = new Float32Array(3 * 8);
  const y = new Float32Array(2 * 8);
  const base: AttentionOptions = { batch: 1, heads: 2, queries: 2, keys: 3, headSize: 4 };
  const bad: [unknown, RegExp, ErrorConstructor][] = [
    [null, /options must be an object/, TypeError],
    [{ ...base, heads: 0 }, /heads/, RangeError],
    [{ ...base, heads: 1.5 }, /heads/, RangeError],
    [{ ...base, kvHeads: 3 }, /kvHeads/, RangeError],
    [{ ...base, queries: "2" }, /queries/, TypeError],
    [{ ...base, layout: "nchw" }, /layout must be/, RangeError],
    [{ ...base, scale: "1" }, /scale must be a number/, TypeError],
    [{ ...base, scale: NaN }, /scale must be finite/, RangeError],
    [{ ...base, rowStrides: 8 }, /rowStrides must be an object/, TypeError],
    [{ ...base, rowStrides: { q: 7 } }, /rowStrides\.q/, RangeError],
    [{ ...base, layout: "bhsd", rowStrides: {} }, /rowStrides are for the bshd layout/, RangeError],
    [{ ...base, kvLayout: "nchw" }, /kvLayout must be/, RangeError],
    [{ ...base, kvLayout: "bhsd", rowStrides: { k: 9 } }, /rowStrides\.k: k is bhsd/, RangeError],
    [{ ...base, bias: [0, 0, 0] }, /bias must be a Float32Array/, TypeError],
    [{ ...base, bias: new Float32Array(5) }, /bias has 5 elements/, RangeError],
    [{ ...base, bias: new Float32Array(3), biasShape: [1, 1] }, /biasShape must be/, TypeError],
    [{ ...base, bias: new Float32Array(3), biasShape: [1, 3, 1] }, /biasShape\[1\]/, RangeError],
    [{ ...base, biasShape: [1, 1, 1] }, /biasShape is given without a bias/, RangeError],
    [{ ...base, keys: 1 << 20, headSize: 1 << 12 }, /beyond the supported size/, RangeError],
  ];
  for (const [o, message, kind] of bad) {
    assert.throws(() => jit.attention(q, k, v, y, o as AttentionOptions), (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(() => jit.attention(q, k, v, new Float32Array(15), base), /y has 15 elements/);
  assert.throws(() => jit.attention(q.subarray(1), k, v, y, base), /q has 15 elements/);
  assert.throws(
    () => jit.attention(q, k, [] as unknown as Float32Array, y, base),
    /v must be a Float32Array/,
  );
  // Wider rows: at least the last row's heads.
  const wide = { ...base, rowStrides: { q: 9 } };
  assert.throws(
    () => jit.attention(q, k, v, y, wide),
    /q has 16 elements; the call needs at least 17/,
  );
  const shared = new Float32Array(32);
  assert.throws(
    () => jit.attention(shared.subarray(0, 16), k, v, shared.subarray(8, 24), base),
    /overlaps/,
  );
  assert.equal(jit.stats().calls, 0);
});

Deno.test("attention: the bias is read once, so the array checked is the array used", () => {
  using jit = new Jit();
  const r = rng(6200);
  const vec = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
  const q = vec(16),
    k = vec(24),
    v = vec(24),
    want = new Float32Array(16),
    got = new Float32Array(16);
  const bias = vec(3);
  const base = { batch: 1, heads: 1, queries: 2, keys: 3, headSize: 8, biasShape: [1, 1, 1] };
  jit.attention(q, k, v, want, { ...base, bias });
  let reads = 0;
  const o = { ...base } as AttentionOptions;
  Object.defineProperty(o, "bias", { get: () => reads++ === 0 ? bias : new Float32Array(1) });
  jit.attention(q, k, v, got, o);
  assert.equal(reads, 1);
  assert.deepEqual(got, want);
});

Deno.test("attention: stays inside q, k, v, the bias and y, guard pages on both sides", () => {
  const r = rng(6300);
  using jit = new Jit();
  let runs = 0;
  // The last case: wide heads over many keys (blocks a pass over runs of keys), wider rows.
  const long = (): Case => {
    const vec = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
    const o: AttentionOptions = {
      batch: 1,
      heads: 2,
      queries: 15,
      keys: 601,
      headSize: 256,
      vHeadSize: 33,
      rowStrides: { q: 515, k: 513, v: 70, y: 67 },
      bias: vec(2 * 601),
      biasShape: [1, 2, 1],
    };
    return {
      o,
      q: vec(14 * 515 + 512),
      k: vec(600 * 513 + 512),
      v: vec(600 * 70 + 66),
      y: 14 * 67 + 66,
    };
  };
  for (let t = 0; t < 25; t++) {
    const c = t < 24 ? randomCase(r) : long();
    for (const side of ["end", "start"] as const) {
      const pages: GuardedPages[] = [];
      const place = (src: Float32Array): Float32Array => {
        const p = new GuardedPages(Math.max(1, src.length) * 4);
        pages.push(p);
        const data = Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
        const view = new Float32Array(
          data,
          side === "end" ? p.bytes - src.length * 4 : 0,
          src.length,
        );
        view.set(src);
        return view;
      };
      try {
        const o = { ...c.o };
        if (o.bias) o.bias = place(o.bias);
        const Y = place(new Float32Array(c.y));
        jit.attention(place(c.q), place(c.k), place(c.v), Y, o);
        check(c, Y, `guarded (${side}) case ${t}`);
        runs++;
      } finally {
        for (const p of pages) p.free();
      }
    }
  }
  assert.equal(runs, 50);
});

Deno.test("attention: long keys and wide heads take blocks a pass over runs of keys (tier 1), within the f64 bounds", () => {
  const r = rng(6400);
  for (const isa of LEVELS) {
    // L2 pinned at 1 MiB (an Intel server core's 2 MiB would hold these heads whole).
    using jit = new Jit({ maxIsa: isa, caches: { l2: 1 << 20 } });
    // 256-wide heads × 600 keys: the transposed keys and values past half of L2.
    for (
      const [layout, queries, headSize, vHeadSize] of [["bshd", 20, 256, 130], [
        "bhsd",
        7,
        300,
        64,
      ]] as const
    ) {
      const o: AttentionOptions = {
        batch: 1,
        heads: 2,
        kvHeads: 1,
        queries,
        keys: 600,
        headSize,
        vHeadSize,
        layout,
        scale: 0.05,
      };
      const vec = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
      const c: Case = {
        o,
        q: vec(2 * queries * headSize),
        k: vec(600 * headSize),
        v: vec(600 * vHeadSize),
        y: 2 * queries * vHeadSize,
      };
      const y = new Float32Array(c.y);
      jit.attention(c.q, c.k, c.v, y, o);
      check(c, y, `${isa} ${layout}`);
    }
    const keys = jit.stats().keys.filter((k) => k.family === "attention");
    assert.equal(keys.length, 2);
    for (const k of keys) {
      assert.match(k.plan ?? "", /blocks a pass over runs of 256 keys/, `${isa}: ${k.plan}`);
    }
  }
});
