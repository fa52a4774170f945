import assert from "node:assert/strict";
import { Assembler } from "../asm/mod.ts";
import { bits, f32, type Konst, Vec, vecIsa } from "../src/kernels/vec.ts";

/** The listing of `Vec.move(1, c)` (and of a register ≥ 16 at AVX-512) at one level. */
function moves(level: "sse2" | "avx2" | "avx512", c: Konst): string {
  const a = new Assembler({ listing: true });
  const v = new Vec(a, vecIsa(level));
  v.move(1, c);
  if (level === "avx512") v.move(17, c);
  a.emit("ret");
  return a.finish().listing();
}

Deno.test("Vec.move: +0 in every lane is the zeroing idiom (no load) at every level; −0 and other constants load", () => {
  for (const level of ["sse2", "avx2", "avx512"] as const) {
    for (const zero of [f32(0), bits(0)]) {
      const text = moves(level, zero);
      assert.match(text, /xorps|vpxord/, `${level}: ${text}`);
      assert.doesNotMatch(text, /rip/, `${level}: ${text}`);
    }
    for (const c of [f32(-0), f32(1), bits(1)]) {
      const text = moves(level, c);
      assert.doesNotMatch(text, /xorps|vpxord/, `${level}: ${text}`);
      assert.match(text, /rip/, `${level}: ${text}`);
    }
  }
});
