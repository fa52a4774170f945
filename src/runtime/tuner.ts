/**
 * Tier 2: a hot key's candidate plans measured on its own live calls. This
 * is the decision logic only (which candidate the next call runs, what the
 * budget allows, when the fastest is clear); the runtime builds and calls
 * the kernels and feeds back each call's measured time. The policy's
 * figures are in policy.ts (`TUNE`).
 *
 * Candidate 0 is the key's tier-1 kernel. Every candidate computes the same
 * bits (the family promises it for its `candidates`; part counts never
 * change the numerics), so any call may run on any of them.
 *
 * @module
 */
import type { KernelPlan, OpFamily, Target } from "../kernels/family.ts";
import { PARTS_PER_THREAD, TUNE } from "./policy.ts";
import type { TuneDuel, TuneStats } from "./stats.ts";

/** One candidate: a plan and the parts its calls are split into. */
export interface Candidate<K> {
  plan: KernelPlan;
  /** Parts asked of the family's partition (1: the call runs whole). */
  parts: number;
  /** Identity (the plan's JSON and the parts): what the tuning cache stores. */
  id: string;
  /** Its kernel, once built. */
  kernel: K | null;
  /** Why it could not be built, or null. */
  failure: string | null;
  compileNs: number;
  /** Timed calls, ns (the first call after its compile is not one: cold code). */
  samples: number[];
  /** No longer measured: clearly slower than the best, failed, or another's code. */
  dropped: boolean;
  /** The earlier candidate whose machine code and parts it compiled to (-1: its own). */
  sameAs: number;
  /** Its last timed call, ns (0: none yet). */
  lastNs: number;
}

/** The state of a key's tuning, for stats. */
export type TuneState = "measuring" | "waiting" | "done" | "cached" | "abandoned";

/** A key's tuning: candidates, measurements, budget. */
export class Tuner<K> {
  readonly candidates: Candidate<K>[];
  /** Extra ns spent: candidate compiles and calls beyond the tier-1 median. */
  spentNs = 0;
  /**
   * What the latest action (a compile or a call) added to `spentNs`. The
   * budget is checked before each action; its own cost is known only after.
   */
  lastSpendNs = 0;
  /** Calls of the key timed here, and their ns. */
  #timedCalls = 0;
  #timedNs = 0;
  #rounds = 0;
  /** Index in the round of the next candidate to measure. */
  #cursor = 0;
  #order: number[] = [];
  /** The next call is a fresh candidate's first (warm-up) call. */
  #warm = -1;
  /** Parts of the last call's candidate (-1: none yet): see `record`. */
  #lastParts = -1;
  /** The key's next calls run tier 1 untimed (a wait, a candidate not built or not new). */
  #tierOneRuns(): void {
    this.#lastParts = this.candidates[0].parts;
  }
  /** Tier 1's calls timed before the rounds, ns. */
  readonly #baseline: number[] = [];
  /** The best candidate of the rounds while it meets tier 1 head to head (-1: not yet). */
  #rival = -1;
  /** The head-to-head's fresh samples, ns: tier 1's, the rival's. */
  readonly #duel: [number[], number[]] = [[], []];

  /** Tier 1's time per call: its median in the rounds, or of its baseline before them. */
  #base(): number {
    return this.candidates[0].samples.length ? this.median(0) : medianOf(this.#baseline);
  }

  /** The key's measured run time at the last `next` (-1: not profiled). */
  #measuredNs = -1;
  /** When waiting on the budget: the call count at which to look again. */
  resumeAt = 0;
  state: TuneState = "measuring";
  /** The chosen candidate once done. */
  winner = -1;
  readonly #budget: number;
  /** What the next compile is expected to cost: the last one's time. */
  #compileEstimateNs: number;

  /**
   * `budget` as a fraction of the key's run time; `compileEstimateNs` what
   * one candidate's compile is expected to cost (tier 1's compile).
   */
  constructor(candidates: Candidate<K>[], budget: number, compileEstimateNs: number) {
    this.candidates = candidates;
    this.#budget = budget;
    this.#compileEstimateNs = compileEstimateNs;
  }

  /** Median of a candidate's samples in the rounds (Infinity without any). */
  median(i: number): number {
    return medianOf(this.candidates[i].samples);
  }

  /**
   * Budget ns left after `calls` calls of the key (Infinity when unlimited):
   * of its measured run time when the runtime profiles (`measuredNs` ≥ 0),
   * else of its calls priced at tier 1's median.
   */
  available(calls: number, unlimited: boolean, measuredNs = -1): number {
    if (unlimited) return Infinity;
    const base = this.#base();
    const runNs = measuredNs >= 0
      ? measuredNs
      : (calls - this.#timedCalls) * (Number.isFinite(base) ? base : 0) + this.#timedNs;
    return this.#budget * runNs - this.spentNs;
  }

  /**
   * The candidate the call numbered `calls` runs, timed; -1: it runs tier 1
   * untimed (waiting for budget, see `resumeAt`). A candidate without a
   * kernel is to be built first (then `built` or `failed`).
   */
  next(calls: number, unlimited: boolean, measuredNs = -1): number {
    const c = this.candidates;
    if (this.#baseline.length < TUNE.baseline) return 0;
    this.#measuredNs = measuredNs;
    // Build every candidate first (as the budget allows), one per call.
    for (let i = 1; i < c.length; i++) {
      if (c[i].kernel !== null || c[i].dropped) continue;
      // Compile times vary (±50% here): the last one's, with a margin.
      return this.#afford(calls, unlimited, 1.5 * this.#compileEstimateNs) ? i : -1;
    }
    if (this.#order.length === 0) this.#startRound();
    const i = this.#order[this.#cursor];
    // A call on tier 1 costs nothing extra; another is expected to cost what its last did beyond it.
    if (i === 0) return 0;
    const extra = Math.max(0, c[i].lastNs - this.#base());
    return this.#afford(calls, unlimited, extra) ? i : -1;
  }

  #afford(calls: number, unlimited: boolean, ns: number): boolean {
    const left = this.available(calls, unlimited, this.#measuredNs);
    if (left >= ns) return true;
    this.#tierOneRuns();
    // Wait until the key's run time pays for it (its calls at the tier-1 median).
    const perCall = this.#budget * this.#base();
    const wait = perCall > 0 ? Math.ceil((ns - left) / perCall) : Infinity;
    this.resumeAt = calls + Math.max(1, Math.min(wait, 1e9));
    this.state = "waiting";
    return false;
  }

  /** Candidate `i` was built in `ns`. Its first call warms it up (not a sample). */
  built(i: number, kernel: K, ns: number): void {
    const c = this.candidates[i];
    c.kernel = kernel;
    c.compileNs = ns;
    this.spentNs += ns;
    this.lastSpendNs = ns;
    this.#compileEstimateNs = ns;
    this.#warm = i;
    this.state = "measuring";
  }

  /**
   * Candidate `i` compiled (in `ns`) to candidate `j`'s code and parts: the
   * same calls, so not measured (its kernel is not kept).
   */
  sameAs(i: number, j: number, ns: number): void {
    const c = this.candidates[i];
    c.sameAs = j;
    c.dropped = true;
    this.#tierOneRuns();
    c.compileNs = ns;
    this.spentNs += ns;
    this.lastSpendNs = ns;
    this.#compileEstimateNs = ns;
  }

  /** Candidate `i` could not be built (after `ns`). */
  failed(i: number, message: string, ns: number): void {
    this.#tierOneRuns();
    const c = this.candidates[i];
    c.failure = message;
    c.dropped = true;
    this.spentNs += ns;
    this.lastSpendNs = ns;
  }

  /**
   * A call on candidate `i` took `ns`. Returns true when tuning is done. A
   * call split into other parts than the last one's is not a sample: the
   * next call runs the same candidate, and that one is. Its threads found
   * the operands where the other split's had left them — the lines of y
   * the other core's parts wrote, which a store must first fetch from that
   * core's cache — a cost a candidate does not pay called after itself, as
   * it is once chosen. Measured on Zen 5, 2 vCPUs (`deno run -A
   * bench/tune_candidates.ts --gemm 128x768x768 --panels --threads 2`, the
   * commit before and after): the whole-call candidate's median 1097 µs
   * among the split ones, 699 with this (one thread alone: ~750).
   */
  record(i: number, ns: number): boolean {
    const parts = this.candidates[i].parts,
      moved = this.#lastParts >= 0 && parts !== this.#lastParts;
    this.#lastParts = parts;
    this.candidates[i].lastNs = ns;
    this.#timedCalls++;
    this.#timedNs += ns;
    const base = this.#base();
    const extra = i !== 0 && Number.isFinite(base) ? Math.max(0, ns - base) : 0;
    this.spentNs += extra;
    // A build and its first call are one action (the call follows at once, unchecked).
    if (this.#warm === i) this.lastSpendNs += extra;
    else if (i !== 0) this.lastSpendNs = extra;
    this.state = "measuring";
    if (this.#warm === i) {
      this.#warm = -1;
      return false;
    }
    // Before the rounds: tier 1's baseline, which prices the budget only (the
    // first calls after a compile run colder than the rounds' interleaved ones).
    if (this.#order.length === 0) {
      if (i === 0) this.#baseline.push(ns);
      return false;
    }
    if (moved) return false;
    if (this.#rival > 0) {
      this.#duel[i === 0 ? 0 : 1].push(ns);
      if (++this.#cursor < this.#order.length) return false;
      if (this.#duel[1].length >= TUNE.confirm) return this.#decide();
      // Turns: each side goes first as often.
      this.#order.reverse();
      this.#cursor = 0;
      return false;
    }
    this.candidates[i].samples.push(ns);
    if (++this.#cursor < this.#order.length) return false;
    this.#rounds++;
    if (this.#rounds % TUNE.rounds.min === 0) this.#prune(TUNE.drop, 0.5);
    // Far slower on every call so far (2 of them): no need for 5 rounds.
    else if (this.#rounds === 2) this.#prune(TUNE.dropEarly, 0);
    const live = this.#live();
    if (live.length === 1 || this.#rounds >= TUNE.rounds.max) return this.#finish();
    this.#startRound();
    return false;
  }

  /** Ends tuning with what was measured, if every live candidate has its least rounds. */
  settle(): boolean {
    if (this.state === "done") return true;
    if (this.#rival > 0) {
      return this.#duel[1].length >= TUNE.rounds.min && this.#duel[0].length >= TUNE.rounds.min &&
        this.#decide();
    }
    const live = this.#live();
    if (live.some((i) => this.candidates[i].samples.length < TUNE.rounds.min)) return false;
    return this.#finish();
  }

  #live(): number[] {
    const out: number[] = [];
    this.candidates.forEach((c, i) => {
      if (!c.dropped && c.kernel !== null) out.push(i);
    });
    return out;
  }

  /** The live candidates, rotated by one each round: none always follows the same one. */
  #startRound(): void {
    const live = this.#live(), r = this.#rounds % live.length;
    this.#order = [...live.slice(r), ...live.slice(0, r)];
    this.#cursor = 0;
  }

  /**
   * Stops measuring candidates whose `q`-quantile (0.5: the median, 0: the
   * fastest call) is slower than the best median by more than `margin`
   * (never tier 1).
   */
  #prune(margin: number, q: number): void {
    const live = this.#live();
    const best = Math.min(...live.map((i) => this.median(i)));
    for (const i of live) {
      const at = quantileOf(this.candidates[i].samples, q);
      if (i !== 0 && at > best * (1 + margin)) this.candidates[i].dropped = true;
    }
  }

  /**
   * The rounds' best, if it beats tier 1 there, goes on to meet it head to
   * head (false: not done yet); else tier 1 is kept.
   */
  #finish(): boolean {
    let best = 0;
    for (const i of this.#live()) {
      if (
        this.candidates[i].samples.length >= TUNE.rounds.min && this.median(i) < this.median(best)
      ) {
        best = i;
      }
    }
    if (best === 0 || !beats(this.candidates[best].samples, this.candidates[0].samples)) {
      this.winner = 0;
      this.state = "done";
      return true;
    }
    this.#rival = best;
    this.#order = [0, best];
    this.#cursor = 0;
    return false;
  }

  /** The head-to-head decides: the rival wins on its fresh samples, or tier 1 stays. */
  #decide(): boolean {
    this.winner = beats(this.#duel[1], this.#duel[0]) ? this.#rival : 0;
    this.state = "done";
    return true;
  }

  /**
   * Tier 1's median over the winner's, in the head-to-head that chose it (1
   * when tier 1 won or nothing was measured).
   */
  gain(): number {
    if (this.winner <= 0) return 1;
    return medianOf(this.#duel[0]) / medianOf(this.#duel[1]);
  }

  /** The head-to-head's medians, µs (null: none was run). */
  duel(): TuneDuel | null {
    if (this.#rival < 0) return null;
    return {
      tier1Us: medianOf(this.#duel[0]) / 1000,
      rivalUs: medianOf(this.#duel[1]) / 1000,
      rival: this.#rival,
      calls: this.#duel[0].length + this.#duel[1].length,
    };
  }
}

/**
 * A key's candidates: its tier-1 plan in `asked` parts first, then, for a
 * split call, other part counts (the split never changes the bits), then the
 * family's other plans; distinct, at most `TUNE.maxCandidates`.
 */
export function candidateList<K>(
  f: OpFamily,
  spec: unknown,
  plan: KernelPlan,
  asked: number,
  threads: number,
  target: Target,
): Candidate<K>[] {
  const make = (p: KernelPlan, parts: number): Candidate<K> => ({
    plan: p,
    parts,
    id: candidateId(p, parts),
    kernel: null,
    failure: null,
    compileNs: 0,
    samples: [],
    dropped: false,
    sameAs: -1,
    lastNs: 0,
  });
  const out = [make(plan, asked)];
  const seen = new Set([out[0].id]);
  const add = (p: KernelPlan, parts: number) => {
    const cand = make(p, parts);
    if (out.length < TUNE.maxCandidates && !seen.has(cand.id)) {
      seen.add(cand.id);
      out.push(cand);
    }
  };
  if (f.partition !== undefined && asked >= 2) {
    for (const n of [1, threads, 2 * threads, PARTS_PER_THREAD * threads]) add(plan, n);
  }
  for (const p of f.candidates?.(spec, plan, target, asked) ?? []) add(p, asked);
  return out;
}

/** A tuning as stats (`budgetNs`: what is left, Infinity in a warm-up). */
export function tuneStatsOf<K>(t: Tuner<K>, state: TuneState, budgetNs: number): TuneStats {
  return {
    state,
    candidates: t.candidates.map((c, i) => ({
      plan: c.plan.description,
      parts: c.parts,
      medianUs: c.samples.length ? t.median(i) / 1000 : null,
      samples: c.samples.length,
      compileUs: c.compileNs / 1000,
      failure: c.failure,
      sameAs: c.sameAs >= 0 ? c.sameAs : null,
    })),
    winner: t.winner >= 0 ? t.winner : null,
    gain: t.winner >= 0 ? t.gain() : null,
    duel: t.duel(),
    spentUs: t.spentNs / 1000,
    lastSpendUs: t.lastSpendNs / 1000,
    budgetUs: Number.isFinite(budgetNs) ? (budgetNs + t.spentNs) / 1000 : null,
  };
}

/** A finished tuning for verbose output: the winner, the gain, the time, every candidate. */
export function describeTuning<K>(t: Tuner<K>): string {
  const w = t.winner;
  const lines = t.candidates.map((c, i) =>
    `  ${i === w ? "*" : " "} ${i === 0 ? "tier 1 " : `cand ${i} `}${c.plan.description}` +
    ` parts=${c.parts}: ${
      c.failure ??
        (c.sameAs >= 0 ? `the code of ${c.sameAs ? `cand ${c.sameAs}` : "tier 1"}` : null) ??
        (c.samples.length
          ? `median ${(t.median(i) / 1000).toFixed(2)}us of ${c.samples.length}`
          : "not measured")
    }`
  );
  const d = t.duel();
  const duel = d === null ? "" : `, head to head with cand ${d.rival} (${d.calls} calls): ` +
    `tier 1 ${d.tier1Us.toFixed(2)}us, cand ${d.rivalUs.toFixed(2)}us`;
  return `${w === 0 ? "tier 1 kept" : `candidate ${w}`}, ${t.gain().toFixed(3)}× tier 1${duel}, ` +
    `tuning spent ${(t.spentNs / 1000).toFixed(1)}us\n${lines.join("\n")}`;
}

/** A candidate's identity: its plan and part count. */
export function candidateId(plan: KernelPlan, parts: number): string {
  return `${parts}|${JSON.stringify(plan)}`;
}

/**
 * Whether samples `a` beat tier 1's `b`: faster by `TUNE.minGain` at the
 * median, and in the fast quarter of calls too (at 2 threads calls are
 * bimodal: some run at one thread's speed when the other vCPU is taken).
 */
function beats(a: readonly number[], b: readonly number[]): boolean {
  return quantileOf(a, 0.25) < quantileOf(b, 0.25) &&
    medianOf(a) < medianOf(b) * (1 - TUNE.minGain);
}

function medianOf(s: readonly number[]): number {
  return quantileOf(s, 0.5);
}

/** The q-quantile of samples (linear between order statistics; Infinity without any). */
function quantileOf(s: readonly number[], q: number): number {
  if (s.length === 0) return Infinity;
  const sorted = [...s].sort((x, y) => x - y);
  const at = q * (sorted.length - 1), lo = Math.floor(at);
  return lo + 1 < sorted.length
    ? sorted[lo] + (at - lo) * (sorted[lo + 1] - sorted[lo])
    : sorted[lo];
}
