// The recurrent ops' step formulas (StepMath): TypeScript loops for small blocks and Jit
// calls for large ones give the same bits, at any size, on seeded random inputs (signs,
// magnitudes from 2^-30 to 2^30, and exact cancellations included).
import assert from "node:assert/strict";
import { Jit } from "../mod.ts";
import { StepMath } from "../src/graph/ops/recurrent.ts";
import { int, rng } from "./helpers/random.ts";

/** n floats of varied sign and magnitude, some equal to b's (h − h̃ = 0). */
function floats(next: () => number, n: number, like?: Float32Array): Float32Array {
  const v = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    if (like && next() < 0.1) v[j] = like[j];
    else v[j] = (next() - 0.5) * 2 ** Math.floor(next() * 61 - 30);
  }
  return v;
}

const bits = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);

Deno.test("StepMath: TypeScript loops and Jit calls give the same bits for every formula", () => {
  using jit = new Jit({ tuneBudget: 0 });
  const seed = 20261202;
  const next = rng(seed);
  for (let round = 0; round < 40; round++) {
    const batch = int(next, 1, 5), hidden = int(next, 1, 70), n = batch * hidden;
    const where = `seed ${seed}, round ${round}, batch ${batch}, hidden ${hidden}`;
    const a = floats(next, n), b = floats(next, n, a), c = floats(next, n, a);
    const row = floats(next, hidden);
    const loops = new StepMath(jit, batch, hidden, Infinity);
    const calls = new StepMath(jit, batch, hidden, 0);
    const run = (f: (m: StepMath, y: Float32Array, t: Float32Array, g: Float32Array) => void) => {
      const out = [loops, calls].map((m) => {
        const y = c.slice(), t = new Float32Array(n), g = b.slice();
        f(m, y, t, g);
        return [y, g];
      });
      return out;
    };
    const cases: [
      string,
      (m: StepMath, y: Float32Array, t: Float32Array, g: Float32Array) => void,
    ][] = [
      ["mul", (m, y) => m.mul(a, b, y)],
      ["oneMinus", (m, y) => m.oneMinus(a, y)],
      ["mulAdd", (m, y, t) => m.mulAdd(a, b, y, t)],
      ["rowMulAdd", (m, y, t) => m.rowMulAdd(row, b, y, t)],
      ["cell", (m, y, _t, g) => m.cell(a, y, c, g)],
      ["blend", (m, y, t) => m.blend(a, y, b, t)],
    ];
    for (const [name, f] of cases) {
      // The output only: cell's g is scratch (the calls overwrite it, the loop does not).
      const [[y0], [y1]] = run(f);
      assert.deepEqual(bits(y0), bits(y1), `${name}: ${where}`);
    }
    // The loops are not the identity: each formula changed its output.
    const [[y0]] = run((m, y, t) => m.blend(a, y, b, t));
    assert.notDeepEqual(bits(y0), bits(c), where);
  }
});
