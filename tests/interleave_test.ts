import assert from "node:assert/strict";
import { Assembler } from "../asm/mod.ts";
import { emitInterleaved } from "../src/kernels/interleave.ts";
import { Lanes } from "../src/kernels/math/lanes.ts";
import { f32, Vec, vecIsa } from "../src/kernels/vec.ts";

/** Bodies of one rare path each (a mask from a compare, a fix that writes y), in registers of their own. */
function bodies(a: Assembler, count: number, rareIn: (i: number) => boolean) {
  const v = new Vec(a, vecIsa("avx2"));
  return Array.from({ length: count }, (_, i) => (to: Assembler) => {
    const w = v.retarget(to), base = 4 * i;
    const m = new Lanes(w, [base + 2, base + 3]);
    const x = base, y = base + 1;
    w.op("add", y, x, f32(1));
    if (!rareIn(i)) return;
    const mask = m.take();
    w.compare({ v: mask }, x, "lt", f32(-1));
    m.rarely({ v: mask }, (f) => {
      const t = f.take();
      f.v.move(t, f32(-7 - i)); // each body's fix leaves its mark
      f.v.op("mul", y, y, t);
      f.give(t);
    });
    m.give(mask);
    w.op("mul", y, y, x);
  });
}

const count = (text: string, what: RegExp) => (text.match(what) ?? []).length;

Deno.test("interleaved bodies' rare paths at the same step: one test, every fix chained once", () => {
  const a = new Assembler({ listing: true });
  emitInterleaved(a, bodies(a, 3, () => true));
  a.emit("ret");
  const text = a.finish().listing();
  assert.equal(count(text, /vtestps/g), 1, text);
  assert.equal(count(text, /vorps ymm\d+, ymm\d+, ymm\d+/g), 2, text);
  assert.equal(count(text, /\bjnz\b/g), 1, text);
  // Each fix once, out of line (3 products in line, 3 in the fixes), and the chain: every fix
  // jumps back, two of them to a jump on to the next fix.
  assert.equal(count(text, /vmulps/g), 3 + 3, text);
  assert.equal(count(text, /\bjmp\b/g), 3 + 2, text);
});

Deno.test("interleaved bodies with rare paths at different steps keep a test each", () => {
  const a = new Assembler({ listing: true });
  emitInterleaved(a, bodies(a, 3, (i) => i !== 1));
  a.emit("ret");
  const text = a.finish().listing();
  assert.equal(count(text, /vtestps/g), 2, text);
  assert.equal(count(text, /vorps/g), 0, text);
});

Deno.test("interleaved bodies' tests and jumps that are no rare path (Lanes.rarely) replay as recorded", () => {
  const a = new Assembler({ listing: true });
  const v = new Vec(a, vecIsa("avx2"));
  emitInterleaved(
    a,
    Array.from({ length: 3 }, (_, i) => (to: Assembler) => {
      const w = v.retarget(to), back = to.label(), out = to.label();
      w.compare({ v: 4 * i + 1 }, 4 * i, "lt", f32(-1));
      w.jumpIfAny({ v: 4 * i + 1 }, out); // the same shape as a rare path's test
      to.bind(back);
      to.outOfLine((o) => o.bind(out).emit("jmp", back));
    }),
  );
  a.emit("ret");
  const text = a.finish().listing();
  assert.equal(count(text, /vtestps/g), 3, text);
  assert.equal(count(text, /vorps/g), 0, text);
});

Deno.test("interleaved bodies' paths above a limit: one compare of the values' maximum, no or", () => {
  const a = new Assembler({ listing: true });
  const v = new Vec(a, vecIsa("avx2"));
  emitInterleaved(
    a,
    Array.from({ length: 3 }, (_, i) => (to: Assembler) => {
      const w = v.retarget(to), base = 4 * i;
      const m = new Lanes(w, [base + 2, base + 3]);
      const x = base, y = base + 1;
      w.op("add", y, x, f32(1));
      const value = m.take();
      w.op("and", value, x, { bits: 0x7fffffff });
      m.rarelyAbove(value, { bits: 0x42adcccd }, (f) => f.v.op("mul", y, y, x));
      m.give(value);
    }),
  );
  a.emit("ret");
  const text = a.finish().listing();
  assert.equal(count(text, /vpmaxsd/g), 2, text);
  assert.equal(count(text, /vpcmpgtd/g), 1, text);
  assert.equal(count(text, /vtestps/g), 1, text);
  assert.equal(count(text, /vorps/g), 0, text);
  assert.equal(count(text, /\bjnz\b/g), 1, text);
  assert.equal(count(text, /vmulps/g), 3, text); // every body's fix, chained
});

Deno.test("a path above a limit alone compares its own value", () => {
  const a = new Assembler({ listing: true });
  emitInterleaved(a, [(to: Assembler) => {
    const w = new Vec(to, vecIsa("avx2"));
    const m = new Lanes(w, [2, 3]);
    m.rarelyAbove(2, { bits: 5 }, (f) => f.v.op("mul", 1, 1, 0));
  }]);
  a.emit("ret");
  const text = a.finish().listing();
  assert.equal(count(text, /vpmaxsd/g), 0, text);
  assert.equal(count(text, /vpcmpgtd ymm2, ymm2/g), 1, text);
  assert.equal(count(text, /vtestps ymm2, ymm2/g), 1, text);
});
