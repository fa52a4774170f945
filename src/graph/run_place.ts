/**
 * Where `session.run` computes a plan: on the calling thread or off the
 * event loop (policy.ts: a run shorter than `INLINE_RUN_MAX_MS` waits less
 * there than the hop would cost). The decision reads the lower of the
 * plan's last two runs on the calling thread, so one slow run does not
 * send a short plan off the loop for `REPROBE_RUNS` runs: on the noisy
 * 2-vCPU guest a 0.6 ms MLP (batch 64, 2 threads) met a 1.6 ms run every
 * few hundred, and each one cost the next 64 runs the hop (0.65-0.8 ms off
 * the loop against 0.58-0.66 inline; scratch log of each run's place and
 * time, three blocks of 300 ms: 99, 144 and 326 runs of about 400 inline).
 *
 * @module
 */
import { INLINE_RUN_MAX_MS, PROBE_RUN_MAX_MS, REPROBE_RUNS } from "../runtime/policy.ts";

/** A plan's record of where its runs went and how long they took. */
export interface RunPlace {
  /** The lower of its last two runs' ms on the calling thread (null: none measured). */
  inlineMs: number | null;
  /** ms of its last run on the calling thread (null: none yet). */
  lastInlineMs: number | null;
  /** Runs it made on the calling thread. */
  inlineRuns: number;
  /** ms of its last run off the event loop (null: none yet). */
  asyncMs: number | null;
  /** Runs off the event loop since it last ran on the calling thread. */
  offLoopRuns: number;
}

/** A plan's place record before its first run. */
export function newRunPlace(): RunPlace {
  return { inlineMs: null, lastInlineMs: null, inlineRuns: 0, asyncMs: null, offLoopRuns: 0 };
}

/**
 * Whether the next `run` computes on the calling thread: when short
 * there, or to measure it there (once short off the loop, twice before
 * its first decision, and again every `REPROBE_RUNS` runs off the loop: a
 * probe that met a recompile or a busy core must not keep a 60 µs plan
 * off the loop for good). Until it has run off the loop once, it runs
 * there.
 */
export function runsInline(p: RunPlace): boolean {
  if (p.inlineMs !== null && p.inlineMs < INLINE_RUN_MAX_MS) return true;
  if (p.asyncMs === null || p.asyncMs >= PROBE_RUN_MAX_MS) return false;
  return p.inlineRuns < 2 || p.offLoopRuns >= REPROBE_RUNS;
}

/** Notes a run on the calling thread that took `ms`. */
export function noteInlineRun(p: RunPlace, ms: number): void {
  p.inlineMs = p.lastInlineMs === null ? ms : Math.min(ms, p.lastInlineMs);
  p.lastInlineMs = ms;
  p.inlineRuns++;
  p.offLoopRuns = 0;
}

/** Notes a run off the event loop that took `ms`. */
export function noteOffLoopRun(p: RunPlace, ms: number): void {
  p.asyncMs = ms;
  p.offLoopRuns++;
}
