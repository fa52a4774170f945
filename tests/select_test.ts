/**
 * The select family (jit.select) against the selection written here, on the bits: every
 * level, counts around the step of four, a or b one element for all, NaN payloads kept;
 * 1, 2 and 3 threads; bad input refused before native code runs; operands against guard
 * pages. And ONNX Where through it: broadcast blocks (a causal mask over scores and a value,
 * a full mask with a scalar x, int32 data) against an element-by-element walk.
 */
import assert from "node:assert/strict";
import { InferenceSession, isaLevel, Jit, Tensor } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { BroadcastWalk } from "../src/graph/ops/binary.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { int, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** Random 32-bit patterns (NaNs with payloads among them). */
function words(r: () => number, n: number): Float32Array {
  return new Float32Array(Uint32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32)).buffer);
}

function expected(mask: Uint8Array, a: Float32Array, b: Float32Array, n: number): Uint32Array {
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return Uint32Array.from(
    { length: n },
    (_, i) => mask[i] ? ab[a.length === 1 ? 0 : i] : bb[b.length === 1 ? 0 : i],
  );
}

const bits = (y: Float32Array) => new Uint32Array(y.buffer, y.byteOffset, y.length);

for (const isa of LEVELS) {
  Deno.test(`select ${isa}: the bits of a or b as the mask says, scalars, counts around the step`, () => {
    using jit = new Jit({ maxIsa: isa, threads: 1 });
    const seed = 8000 + LEVELS.indexOf(isa), r = rng(seed);
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000, 4099]) {
      for (const [as, bs] of [[false, false], [true, false], [false, true], [true, true]]) {
        const mask = Uint8Array.from({ length: n }, () => (r() < 0.5 ? 0 : int(r, 1, 255)));
        const a = words(r, as ? 1 : n), b = words(r, bs ? 1 : n), y = new Float32Array(n);
        jit.select(mask, a, b, y);
        assert.deepEqual(bits(y), expected(mask, a, b, n), `seed ${seed} n ${n} ${as} ${bs}`);
      }
    }
    // In place: y is a.
    const mask = Uint8Array.from({ length: 100 }, (_, i) => i % 3), a = words(r, 100);
    const b = words(r, 1), want = expected(mask, a, b, 100);
    jit.select(mask, a, b, a);
    assert.deepEqual(bits(a), want);
  });
}

Deno.test("select: the same bits on 1, 2 and 3 threads; the documented example", () => {
  const r = rng(8100), n = 300_001;
  const mask = Uint8Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
  const a = words(r, n), b = words(r, 1), want = expected(mask, a, b, n);
  for (const threads of [1, 2, 3]) {
    using jit = new Jit({ threads, minPartUs: 0 });
    const y = new Float32Array(n);
    jit.select(mask, a, b, y);
    assert.deepEqual(bits(y), want, `${threads} threads`);
  }
  using jit = new Jit();
  const y = new Float32Array(3);
  jit.select(new Uint8Array([1, 0, 1]), new Float32Array([1, 2, 3]), new Float32Array([-1]), y);
  assert.deepEqual([...y], [1, -1, 3]);
});

Deno.test("select: bad input throws naming the argument, before native code runs", () => {
  using jit = new Jit();
  const m = new Uint8Array(4), a = new Float32Array(4), b = new Float32Array(1);
  const y = new Float32Array(4);
  const bad: [() => void, RegExp, ErrorConstructor][] = [
    [() => jit.select(new Int8Array(4) as never, a, b, y), /mask must be a Uint8Array/, TypeError],
    [() => jit.select(m, [1] as never, b, y), /a must be a Float32Array/, TypeError],
    [() => jit.select(m, a, b, new Float32Array(0)), /y has 0 elements/, RangeError],
    [() => jit.select(new Uint8Array(3), a, b, y), /mask has 3 elements, y 4/, RangeError],
    [
      () => jit.select(m, new Float32Array(2), b, y),
      /a has 2 elements, not y's 4 or 1/,
      RangeError,
    ],
    [() => jit.select(m, a, new Float32Array(5), y), /b has 5 elements/, RangeError],
    [
      () => jit.select(m, a, b, a.subarray(1) as Float32Array),
      /mask has 4 elements, y 3/,
      RangeError,
    ],
  ];
  for (const [call, message, kind] of bad) {
    assert.throws(call, (e: Error) => {
      assert.ok(e instanceof kind, `${e.constructor.name} for ${message}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  const shared = new Float32Array(9);
  assert.throws(
    () => jit.select(new Uint8Array(8), shared.subarray(0, 8), b, shared.subarray(1, 9)),
    /overlaps/,
  );
  assert.equal(jit.stats().calls, 0);
});

Deno.test("select: stays inside the mask, a, b and y, guard pages on both sides", () => {
  const r = rng(8200);
  using jit = new Jit();
  let runs = 0;
  for (const n of [1, 5, 64, 333]) {
    for (const side of ["end", "start"] as const) {
      const mask = Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
      const a = words(r, n), b = words(r, n), want = expected(mask, a, b, n);
      const pages = [n, 4 * n, 4 * n, 4 * n].map((bytes) => new GuardedPages(bytes));
      try {
        const at = (p: GuardedPages, bytes: number) => (side === "end" ? p.bytes - bytes : 0);
        const buf = (p: GuardedPages) => Deno.UnsafePointerView.getArrayBuffer(p.pointer, p.bytes);
        const M = new Uint8Array(buf(pages[0]), at(pages[0], n), n);
        const [A, B, Y] = pages.slice(1).map((p) => new Float32Array(buf(p), at(p, 4 * n), n));
        M.set(mask);
        A.set(a);
        B.set(b);
        jit.select(M, A, B, Y);
        assert.deepEqual(bits(Y), want);
        runs++;
      } finally {
        for (const p of pages) p.free();
      }
    }
  }
  assert.equal(runs, 8);
});

/** Where of the shapes, run as a model, against an element-by-element walk. */
async function checkWhere(
  type: "float32" | "int32",
  cDims: number[],
  xDims: number[],
  yDims: number[],
  seed: number,
): Promise<void> {
  const r = rng(seed), size = (d: number[]) => d.reduce((p, v) => p * v, 1);
  const g = new GraphBuilder(17);
  g.input("C", "bool", cDims);
  g.input("X", type, xDims);
  g.input("Y", type, yDims);
  g.node("Where", ["C", "X", "Y"], ["Z"]);
  g.output("Z", type);
  const s = await InferenceSession.create(g.toBytes());
  const c = Uint8Array.from({ length: size(cDims) }, () => (r() < 0.5 ? 1 : 0));
  const make = (n: number) =>
    type === "int32"
      ? Int32Array.from({ length: n }, () => int(r, -1000, 1000))
      : Float32Array.from({ length: n }, () => r() * 10 - 5);
  const x = make(size(xDims)), y = make(size(yDims));
  const z = (await s.run({
    C: new Tensor("bool", c, cDims),
    X: new Tensor(type, x, xDims),
    Y: new Tensor(type, y, yDims),
  })).Z;
  const outDims = z.dims as number[], walk = new BroadcastWalk(outDims, [cDims, xDims, yDims]);
  const want: number[] = [];
  walk.run(() => want.push(c[walk.off[0]] ? x[walk.off[1]] : y[walk.off[2]]));
  assert.deepEqual(
    Array.from(z.data as ArrayLike<number>),
    want,
    `${type} ${cDims} ${xDims} ${yDims}`,
  );
  await s.release();
}

Deno.test("Where: broadcast blocks through the Jit's select, and the walk where they do not fit", async () => {
  // A causal mask over the heads' scores and one value; a full mask, x one value, y full.
  await checkWhere("float32", [1, 1, 64, 64], [2, 3, 64, 64], [], 8300);
  await checkWhere("float32", [4, 512], [], [4, 512], 8301);
  await checkWhere("int32", [3, 1, 700], [3, 2, 700], [1], 8302);
  // The mask one value along a block (its step 0): the TypeScript blocks.
  await checkWhere("float32", [5, 1], [5, 400], [5, 400], 8303);
  // Too small for the Jit: TypeScript.
  await checkWhere("float32", [2, 8], [2, 8], [8], 8304);
});
