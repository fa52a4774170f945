/**
 * The tier-2 decision logic (src/runtime/tuner.ts) on made-up call times:
 * which candidate each call runs, and what is chosen.
 */
import assert from "node:assert/strict";
import { type Candidate, describeTuning, Tuner, tuneStatsOf } from "../src/runtime/tuner.ts";
import { TUNE } from "../src/runtime/policy.ts";
import { codeIdentity } from "../src/runtime/code_identity.ts";

/** n candidates, the first (tier 1) built, as the runtime hands them over. */
function candidates(n: number): Candidate<string>[] {
  return Array.from({ length: n }, (_, i) => ({
    plan: { description: `plan ${i}`, workspaceBytes: 0 },
    parts: 1,
    id: `plan ${i}`,
    kernel: i === 0 ? "tier 1" : null,
    failure: null,
    compileNs: 0,
    samples: [],
    dropped: false,
    sameAs: -1,
    lastNs: 0,
  }));
}

/**
 * Runs calls as the runtime does (build a candidate when asked, then its
 * call) until the tuning ends; `ns(i, call)` is a call's time on candidate
 * i. Returns the candidates the calls ran, in order.
 */
function drive(t: Tuner<string>, ns: (i: number, call: number) => number): number[] {
  const ran: number[] = [];
  for (let call = 0; call < 2000; call++) {
    const i = t.next(call, true);
    assert.ok(i >= 0, `call ${call}: an unlimited tuning never waits`);
    if (t.candidates[i].kernel === null) t.built(i, `kernel ${i}`, 1000);
    ran.push(i);
    if (t.record(i, ns(i, call))) return ran;
  }
  throw new Error("tuning did not end in 2000 calls");
}

Deno.test("tuner: a candidate built into an earlier one's code is never run, nor waited for", () => {
  const t = new Tuner(candidates(4), 1, 1000);
  const ran: number[] = [];
  let done = false;
  for (let call = 0; call < 2000 && !done; call++) {
    const i = t.next(call, true);
    // Candidate 2 compiles to tier 1's code: the runtime installs nothing, runs tier 1 untimed.
    if (i === 2 && t.candidates[2].kernel === null && t.candidates[2].sameAs < 0) {
      t.sameAs(2, 0, 5000);
      continue;
    }
    if (t.candidates[i].kernel === null) t.built(i, `kernel ${i}`, 1000);
    ran.push(i);
    done = t.record(i, (i === 3 ? 80_000 : 100_000) * (1 + 0.01 * jitter(call)));
  }
  assert.ok(done, "tuning did not end");
  assert.ok(!ran.includes(2), `candidate 2 ran: ${ran}`);
  assert.equal(t.winner, 3);
  const c = t.candidates[2];
  assert.ok(c.dropped && c.sameAs === 0 && c.samples.length === 0 && c.compileNs === 5000);
  const stats = tuneStatsOf(t, t.state, Infinity);
  assert.equal(stats.candidates[2].sameAs, 0);
  assert.equal(stats.candidates[1].sameAs, null);
  assert.match(describeTuning(t), /cand 2 plan 2 parts=1: the code of tier 1/);
});

Deno.test("tuner: a kernel's identity is its bytes, its parts' programs and offsets, its workspace", () => {
  const code = (...b: number[]) => Uint8Array.from(b);
  const whole = { parts: null, workspaceBytes: 0 };
  const split = (o1: number, w = 0) => ({
    parts: [{ program: 0, offsets: [0, 0, 0, 0] }, { program: 0, offsets: [0, o1, 0, o1] }],
    workspaceBytes: w,
  });
  const id = codeIdentity([code(0xc3, 0x90, 1)], whole);
  assert.equal(codeIdentity([code(0xc3, 0x90, 1)], whole), id);
  // One byte, one byte more, the parts, where a part starts, the workspace: another identity.
  const others = [
    codeIdentity([code(0xc3, 0x90, 2)], whole),
    codeIdentity([code(0xc3, 0x90, 1, 0)], whole),
    codeIdentity([code(0xc3, 0x90, 1)], split(256)),
    codeIdentity([code(0xc3, 0x90, 1)], split(512)),
    codeIdentity([code(0xc3, 0x90, 1)], split(256, 4096)),
    codeIdentity([code(0xc3, 0x90, 1)], { parts: null, workspaceBytes: 64 }),
    codeIdentity([code(0xc3), code(0x90, 1)], whole),
  ];
  assert.equal(new Set([id, ...others]).size, others.length + 1, others.join("\n"));
});

/** Deterministic jitter in [−1, 1) for call `call` (a fixed LCG: the same every run). */
function jitter(call: number): number {
  let x = (call * 2654435761 + 12345) >>> 0;
  x = (Math.imul(x ^ (x >>> 15), 2246822507) >>> 0) ^ (x >>> 13);
  return ((x >>> 0) / 2 ** 31) - 1;
}

Deno.test("tuner: a candidate truly faster wins the head-to-head, its gain from there", () => {
  const t = new Tuner(candidates(4), 1, 1000);
  drive(t, (i, call) => (i === 2 ? 80_000 : 100_000) * (1 + 0.01 * jitter(call)));
  assert.equal(t.state, "done");
  assert.equal(t.winner, 2);
  const d = t.duel();
  assert.ok(d !== null && d.rival === 2 && d.calls === 2 * TUNE.confirm, JSON.stringify(d));
  assert.ok(Math.abs(t.gain() - 1.25) < 0.03, `gain ${t.gain()}`);
});

Deno.test("tuner: the rounds' lucky best loses the head-to-head and tier 1 stays", () => {
  // Every plan runs at the same speed; candidate 3 met a quiet machine in the rounds only.
  const t = new Tuner(candidates(5), 1, 1000);
  drive(t, (i, call) => {
    const lucky = i === 3 && t.duel() === null;
    return (lucky ? 90_000 : 100_000) * (1 + 0.01 * jitter(call));
  });
  assert.equal(t.winner, 0);
  assert.equal(t.gain(), 1);
  assert.equal(t.duel()?.rival, 3);
});

Deno.test("tuner: no head-to-head when tier 1 is best in the rounds", () => {
  const t = new Tuner(candidates(4), 1, 1000);
  drive(t, (i, call) => (i === 0 ? 90_000 : 100_000) * (1 + 0.01 * jitter(call)));
  assert.equal(t.winner, 0);
  assert.equal(t.duel(), null);
});

Deno.test("tuner: each round starts one candidate later; the head-to-head takes turns", () => {
  const n = 4;
  const t = new Tuner(candidates(n), 1, 1000);
  // Candidate 1 clearly fastest: the others leave the rounds at the fifth, then a head-to-head.
  const ran = drive(t, (i, call) => (i === 1 ? 70_000 : 100_000 + 100 * i) + jitter(call));
  // Past the baseline and the builds (each build's call is its warm-up): the rounds.
  const rounds = ran.slice(TUNE.baseline + (n - 1));
  // The first two rounds have all four candidates: 0 1 2 3, then 1 2 3 0.
  assert.deepEqual(rounds.slice(0, 2 * n), [0, 1, 2, 3, 1, 2, 3, 0]);
  // The head-to-head: its last 2·confirm calls, tier 1 and the rival in turns.
  const duel = ran.slice(-2 * TUNE.confirm);
  for (let p = 0; p < TUNE.confirm; p++) {
    const pair = duel.slice(2 * p, 2 * p + 2);
    assert.deepEqual(pair.toSorted(), [0, 1], `pair ${p}: ${pair}`);
    if (p > 0) assert.notEqual(pair[0], duel[2 * p - 2], `pair ${p} starts as pair ${p - 1}`);
  }
  assert.equal(t.winner, 1);
});

Deno.test("tuner: settle() mid head-to-head decides once each side has its least calls", () => {
  const t = new Tuner(candidates(3), 1, 1000);
  let call = 0;
  for (; call < 2000 && t.duel() === null; call++) {
    const i = t.next(call, true);
    if (t.candidates[i].kernel === null) t.built(i, `kernel ${i}`, 1000);
    t.record(i, i === 2 ? 50_000 : 100_000);
  }
  assert.ok(t.duel() !== null, "a head-to-head began");
  assert.equal(t.settle(), false, "no calls of the head-to-head yet: not settled");
  while (t.duel()!.calls < 2 * TUNE.rounds.min) {
    const i = t.next(call++, true);
    assert.ok(i === 0 || i === 2);
    t.record(i, i === 2 ? 50_000 : 100_000);
  }
  assert.equal(t.settle(), true);
  assert.equal(t.winner, 2);
  assert.ok(Math.abs(t.gain() - 2) < 1e-9);
});

Deno.test("tuner: a call split otherwise than the last one is not a sample; the next call, on the same candidate, is", () => {
  // Tier 1 and candidate 2 in 8 parts, candidate 1 whole and truly the fastest; a call after
  // one split otherwise pays 3× (its threads fetch the lines the other split wrote).
  const c = candidates(3);
  c[0].parts = 8;
  c[1].parts = 1;
  c[2].parts = 8;
  const t = new Tuner(c, 1, 1000);
  let last = -1;
  const ran = drive(t, (i, call) => {
    const moved = last >= 0 && c[i].parts !== c[last].parts;
    last = i;
    return (i === 1 ? 80_000 : 100_000) * (moved ? 3 : 1) * (1 + 0.01 * jitter(call));
  });
  assert.equal(t.winner, 1, `ran ${ran}`);
  // Every sample of every candidate is a call after one of its own parts.
  for (const [i, cand] of c.entries()) {
    assert.ok(cand.samples.every((ns) => ns < 150_000), `candidate ${i}: ${cand.samples}`);
  }
  // In the rounds, candidate 1 runs twice in a row each time it follows a split call.
  const rounds = ran.slice(TUNE.baseline + 2);
  const firstOne = rounds.indexOf(1);
  assert.deepEqual(rounds.slice(firstOne, firstOne + 2), [1, 1]);
});

Deno.test("tuner: the tier-1 calls the runtime makes untimed (after a candidate failed to build) count as the last split", () => {
  const c = candidates(3);
  c[0].parts = 8;
  c[1].parts = 1;
  c[2].parts = 1;
  const t = new Tuner(c, 1, 1000);
  for (let call = 0; call < TUNE.baseline; call++) t.record(t.next(call, true), 100_000);
  // Candidate 1 built and warmed (a 1-part call), candidate 2 fails: the runtime runs tier 1.
  assert.equal(t.next(10, true), 1);
  t.built(1, "kernel 1", 1000);
  t.record(1, 100_000);
  assert.equal(t.next(11, true), 2);
  t.failed(2, "no", 1000);
  // The rounds: tier 1 first, after tier-1 calls: a sample.
  assert.equal(t.next(12, true), 0);
  t.record(0, 100_000);
  assert.equal(c[0].samples.length, 1);
});
