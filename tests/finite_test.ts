/**
 * The allFinite kernel, through what reads it: packed convolution weights'
 * `finite` (kernels skip the padding's taps only when every weight is
 * finite). Every level, every loop of the kernel (four vectors a step,
 * single vectors, single floats), a non-finite value at each place.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { int, pick, rng } from "./helpers/random.ts";
import { readAllFinite } from "../src/kernels/finite/read.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");

/** Whether a 1×1 conv's weights of n = outChannels × c floats packed as finite. */
function packedFinite(jit: Jit, w: Float32Array, inPlace = false): boolean {
  return jit.packConvWeights(w, { outChannels: w.length, c: 1, kernel: [1, 1], inPlace }).finite;
}

for (const isa of LEVELS) {
  Deno.test(`allFinite ${isa}: packed conv weights know whether every weight is finite`, () => {
    using jit = new Jit({ maxIsa: isa });
    const seed = 4600 + LEVELS.indexOf(isa), r = rng(seed);
    const lengths = [...Array.from({ length: 80 }, (_, i) => i + 1), 255, 1000, 4099];
    for (const n of lengths) {
      const w = new Float32Array(n).map(() => (r() - 0.5) * 3e38);
      w[int(r, 0, n - 1)] = pick(r, [-0, 1e-45, 3.4e38, -3.4e38]);
      assert.equal(packedFinite(jit, w), true, `seed ${seed} n ${n}: all finite`);
      // The first, the last and a random place, each value that is not finite.
      for (const at of new Set([0, n - 1, int(r, 0, n - 1)])) {
        for (const bad of [Infinity, -Infinity, NaN]) {
          const v = w.slice();
          v[at] = bad;
          assert.equal(packedFinite(jit, v), false, `seed ${seed} n ${n}: ${bad} at ${at}`);
        }
      }
    }
  });
}

Deno.test("allFinite: weights against guard pages (in place: the kernel reads them where they lie)", () => {
  using jit = new Jit();
  for (const n of [1, 3, 16, 17, 64, 65, 1001]) {
    for (const side of ["end", "start"] as const) {
      const pages = new GuardedPages(n * 4);
      try {
        const data = Deno.UnsafePointerView.getArrayBuffer(pages.pointer, pages.bytes);
        const w = new Float32Array(data, side === "end" ? pages.bytes - n * 4 : 0, n).fill(1);
        assert.equal(packedFinite(jit, w, true), true);
        w[side === "end" ? n - 1 : 0] = NaN;
        assert.equal(packedFinite(jit, w, true), false);
      } finally {
        pages.free();
      }
    }
  }
});

Deno.test("allFinite's reader: an empty x, a flag not of two floats and a count past int32 are refused by name; a call writes the count and extents", () => {
  const extents = new Float64Array(2), flag = new Float32Array(2);
  assert.throws(() => readAllFinite(new Float32Array(0), flag, extents), {
    name: "RangeError",
    message: /allFinite.*x is empty/,
  });
  assert.throws(() => readAllFinite(new Float32Array(4), new Float32Array(3), extents), {
    name: "RangeError",
    message: /allFinite.*flag has 3 elements/,
  });
  readAllFinite(new Float32Array(1001), flag, extents);
  assert.equal(new Int32Array(flag.buffer)[1], 1001);
  assert.deepEqual([...extents], [4004, 8]);
  // 2^31 floats: address space only (never touched); where the host refuses it, nothing to check.
  let huge: Float32Array | null = null;
  try {
    huge = new Float32Array(2 ** 31);
  } catch {
    console.log("allFinite reader: a 2^31-float array could not be made here; limit not checked");
  }
  if (huge !== null) {
    assert.throws(() => readAllFinite(huge!, flag, extents), {
      name: "RangeError",
      message: /allFinite.*more than 2147483647/,
    });
  }
});
