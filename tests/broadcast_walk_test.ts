/**
 * The graph layer's broadcast walk: its blocks (trailing dims merged where every operand walks
 * them as one axis) visit exactly the offsets the element-by-element walk visits, on random
 * numpy-broadcast shapes (dims of 1, missing leading dims, scalars, empty).
 */
import assert from "node:assert/strict";
import { BroadcastWalk } from "../src/graph/ops/binary.ts";
import { int, pick, rng } from "./helpers/random.ts";

Deno.test("BroadcastWalk: blocks visit the same offsets as the element walk", () => {
  const seed = 7900, r = rng(seed);
  for (let c = 0; c < 400; c++) {
    const rank = int(r, 0, 5);
    const out = Array.from({ length: rank }, () => pick(r, [1, 2, 3, 5]));
    if (c % 50 === 0 && rank > 0) out[int(r, 0, rank - 1)] = 0;
    const operands = Array.from({ length: int(r, 1, 3) }, () => {
      const keep = int(r, 0, rank); // right-aligned: a suffix of out, some dims 1
      return out.slice(rank - keep).map((d) => (r() < 0.4 ? 1 : d));
    });
    const element = new BroadcastWalk(out, operands), blocks = new BroadcastWalk(out, operands);
    const want: number[][] = [], got: number[][] = [];
    element.run((i) => want.push([i, ...element.off]));
    blocks.runBlocks((i, count) => {
      for (let k = 0; k < count; k++) {
        got.push([i + k, ...Array.from(blocks.off, (o, j) => o + k * blocks.step[j])]);
      }
    });
    assert.deepEqual(
      got,
      want,
      `seed ${seed} case ${c}: out [${out}], operands ${JSON.stringify(operands)}`,
    );
  }
});
