import assert from "node:assert/strict";
import {
  newRunPlace,
  noteInlineRun,
  noteOffLoopRun,
  type RunPlace,
  runsInline,
} from "../src/graph/run_place.ts";
import { INLINE_RUN_MAX_MS, PROBE_RUN_MAX_MS, REPROBE_RUNS } from "../src/runtime/policy.ts";

/** Runs `count` runs of a plan whose run takes `ms(i)` wherever it runs; the places taken. */
function places(p: RunPlace, count: number, ms: (i: number) => number): string {
  let out = "";
  for (let i = 0; i < count; i++) {
    if (runsInline(p)) {
      noteInlineRun(p, ms(i));
      out += "i";
    } else {
      noteOffLoopRun(p, ms(i));
      out += "o";
    }
  }
  return out;
}

const short = INLINE_RUN_MAX_MS / 2, long = INLINE_RUN_MAX_MS * 1.5;

Deno.test("run place: a short plan runs off the loop once, then on the calling thread", () => {
  assert.equal(places(newRunPlace(), 6, () => short), "oiiiii");
});

Deno.test("run place: one slow run does not send a short plan off the loop", () => {
  // Runs 3 and 9 slow (a busy core): every run after the first stays inline.
  const slow = new Set([3, 9]);
  assert.equal(places(newRunPlace(), 12, (i) => slow.has(i) ? long : short), "oiiiiiiiiiii");
});

Deno.test("run place: two slow runs in a row do, until the next probe", () => {
  const p = newRunPlace();
  const slow = new Set([3, 4]);
  const got = places(p, 6 + REPROBE_RUNS + 2, (i) => slow.has(i) ? long : short);
  assert.equal(got, "oiiii" + "o".repeat(REPROBE_RUNS) + "iii");
});

Deno.test("run place: a long plan is probed twice, then every REPROBE_RUNS runs once", () => {
  const got = places(newRunPlace(), 3 + 2 * (REPROBE_RUNS + 1), () => long);
  const cycle = "o".repeat(REPROBE_RUNS) + "i";
  assert.equal(got, "oii" + cycle + cycle);
});

Deno.test("run place: a first slow probe gets a second before the plan goes off the loop", () => {
  assert.equal(places(newRunPlace(), 5, (i) => i === 1 ? long : short), "oiiii");
});

Deno.test("run place: a plan long off the loop is never probed on the calling thread", () => {
  const got = places(newRunPlace(), REPROBE_RUNS + 5, () => PROBE_RUN_MAX_MS * 2);
  assert.equal(got, "o".repeat(REPROBE_RUNS + 5));
});
