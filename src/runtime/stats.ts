/**
 * What the runtime reports: per-key figures, the totals, and the hot-path
 * table of `jit.report()`.
 *
 * @module
 */
import type { IsaLevel } from "../cpu.ts";
import type { WorkerStats } from "../native/pool.ts";
import type { TierReason } from "./policy.ts";
import type { CodeCacheStats } from "./code_cache.ts";

/** Per-key figures of {@link JitStats}. */
export interface KeyStats {
  /** The key: op, shape, layout, scalars. */
  key: string;
  /** The op family. */
  family: string;
  /**
   * "compiled" (in the LRU cache), "pinned" (kept out of the LRU: it was
   * churning), "evicted", or "reference" (runs on TypeScript: no JIT here, or
   * no kernel could be built for it).
   */
  state: "compiled" | "pinned" | "evicted" | "reference";
  /** Called at least `threshold` times. */
  hot: boolean;
  /** Calls seen. */
  calls: number;
  /** Calls that ran machine code. */
  kernelCalls: number;
  /** Calls that ran on the TypeScript reference. */
  referenceCalls: number;
  /**
   * Mean microseconds per kernel call after the key's first (that one's in
   * `firstCallUs`), timed with RDTSC in native code (null without profiling).
   */
  kernelMeanUs: number | null;
  /** Total microseconds in this key's kernels. */
  totalUs: number;
  /** Time-stamp-counter cycles of its kernel calls. */
  kernelCycles: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls that had to compile. */
  misses: number;
  /** Kernels compiled. */
  compiles: number;
  /** Microseconds of the last compile. */
  compileUs: number;
  /** Microseconds of the key's first call, compile included (the cold-call latency). */
  firstCallUs: number | null;
  /** How it got its kernel. */
  reason: TierReason | null;
  /** The plan of its kernel, e.g. "L3 avx512 direct 6×64". */
  plan: string | null;
  /** Why its own plan could not be built (it runs a fallback plan), or null. */
  failure: string | null;
  /** Bytes of its machine code (0 when not compiled). */
  codeBytes: number;
  /** Threads each call uses (1: it runs on the calling thread). */
  threads: number;
  /** Parts each call is split into, claimed by the threads as they come free. */
  parts: number;
  /** 1: the key runs its tier-1 kernel; 2: a kernel tier 2 chose (measured, or from the tuning cache). */
  tier: 1 | 2;
  /** Its tuning (tier 2), or null if it never started. */
  tuning: TuneStats | null;
}

/** One candidate of a key's tuning. */
export interface TuneCandidateStats {
  /** Its plan. */
  plan: string;
  /** Parts its calls are split into (1: whole). */
  parts: number;
  /** Median µs of its timed calls (null: none yet). */
  medianUs: number | null;
  /** Timed calls. */
  samples: number;
  /** µs its compile took (0 for tier 1: compiled before tuning). */
  compileUs: number;
  /** Why it could not be built, or null. */
  failure: string | null;
  /**
   * The candidate whose machine code and parts it compiled to (so it was not
   * measured), or null.
   */
  sameAs: number | null;
}

/** A key's tier-2 tuning. */
export interface TuneStats {
  /**
   * "measuring", "waiting" (for budget: the key's run time has to grow),
   * "done", "cached" (the plan came from the tuning cache), "abandoned" (its
   * kernel was evicted, or the Jit closed, before it ended).
   */
  state: "measuring" | "waiting" | "done" | "cached" | "abandoned";
  /** Tier 1 first. */
  candidates: TuneCandidateStats[];
  /** Index of the kept candidate (0: tier 1 kept), null until done. */
  winner: number | null;
  /** Tier 1's median time over the winner's in their head-to-head, null until done. */
  gain: number | null;
  /**
   * The head-to-head of tier 1 and the rounds' best, on fresh calls, that
   * decides whether the best replaces tier 1 (null: none ran, tier 1 won the
   * rounds): its medians in µs and calls made.
   */
  duel: TuneDuel | null;
  /** µs spent tuning beyond running tier 1: compiles, and calls slower than tier 1's median. */
  spentUs: number;
  /**
   * µs the latest compile or candidate call added to `spentUs`: the budget is
   * checked before each, so `spentUs − lastSpendUs` is within `budgetUs`.
   */
  lastSpendUs: number;
  /** µs the budget allowed so far (null: a warm-up, no budget). */
  budgetUs: number | null;
}

/** A tuning's head-to-head (see {@link TuneStats.duel}). */
export interface TuneDuel {
  /** The candidate that met tier 1 (its index). */
  rival: number;
  /** Tier 1's median µs over its calls in the head-to-head. */
  tier1Us: number;
  /** The rival's median µs over its calls in the head-to-head. */
  rivalUs: number;
  /** Calls the head-to-head made, both sides. */
  calls: number;
}

/** What `Jit.stats()` returns: a plain object. */
export interface JitStats {
  /** Whether machine code can run here (false: everything runs on the TypeScript reference). */
  jit: boolean;
  /** The ISA level kernels are generated for. */
  isa: IsaLevel;
  /** Calls after which a key counts as hot. */
  threshold: number;
  /** Threads a call may use (the Jit's `threads`). */
  threads: number;
  /** Worker threads in the isolate's pool now (shared by every Jit), with their counters. */
  workers: WorkerStats[];
  /** Calls seen. */
  calls: number;
  /** Calls on the TypeScript reference. */
  referenceCalls: number;
  /** Calls on machine code. */
  kernelCalls: number;
  /** Kernels compiled. */
  compiles: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls that had to compile. */
  misses: number;
  /** Kernels evicted from the cache. */
  evictions: number;
  /** Recorded call lists run again by `jit.replay` (their calls count as calls and hits). */
  replays: number;
  /** hits ÷ (hits + misses), or 0 before any kernel call. */
  hitRate: number;
  /** Kernels live now (in the LRU and pinned). */
  kernels: number;
  /** Kernels pinned out of the LRU because their keys churned. */
  pinned: number;
  /** Compiles of keys that had been compiled before (evicted, then called again). */
  churnCompiles: number;
  /**
   * The code cache on disk (null: none): its directory, this process's
   * hits, misses and writes there, and the programs this Jit took from it.
   */
  codeCache: CodeCacheStats & { installed: number } | null;
  /** Keys whose own plan could not be built and run a fallback plan. */
  fallbacks: number;
  /** Bytes of machine code live. */
  codeBytes: number;
  /**
   * Blocks of machine code installed and not yet freed: the kernels', their
   * parts' and tuning candidates', and those an evicted kernel left to a
   * call list still running them (freed when it ends).
   */
  codeBlocks: number;
  /** Most kernels the LRU keeps. */
  cacheCapacity: number;
  /** Most code bytes the LRU keeps. */
  cacheBytes: number;
  /** Compile time in microseconds: total, mean, max. */
  compileUs: { total: number; mean: number; max: number };
  /** Keys seen, most expensive first. */
  keys: KeyStats[];
}

/** The hot-path report: the `limit` most expensive keys as a table, then the totals. */
export function formatReport(s: JitStats, limit: number): string {
  const fmt = (x: number | null, d = 1) => (x === null ? "-" : x.toFixed(d));
  const rows = s.keys.slice(0, limit).map((k) => [
    k.key,
    k.state + (k.hot ? ", hot" : ""),
    String(k.calls),
    fmt(k.kernelMeanUs, 2),
    fmt(k.compiles ? k.compileUs : null, 0),
    fmt(k.firstCallUs, 0),
    fmt(k.totalUs / 1000, 2),
    String(k.threads),
    tierText(k),
    k.plan ?? "-",
  ]);
  const head = [
    "key",
    "state",
    "calls",
    "µs/call",
    "compile µs",
    "1st call µs",
    "total ms",
    "threads",
    "tier",
    "plan",
  ];
  return table(head, rows) +
    `\ncalls ${s.calls} (reference: ${s.referenceCalls}), compiles ${s.compiles}, hits ${s.hits}, ` +
    `misses ${s.misses}, evictions ${s.evictions}, pinned ${s.pinned}, replays ${s.replays}, ` +
    `hit rate ${
      (100 * s.hitRate).toFixed(1)
    }%, ${s.kernels} kernels / ${s.codeBytes} bytes live, ` +
    `${s.threads} thread${s.threads > 1 ? "s" : ""} (${s.workers.length} pool workers)\n`;
}

/** The tier column: 1, 2 with its gain, or tuning's state. */
function tierText(k: KeyStats): string {
  const t = k.tuning;
  if (t === null) return String(k.tier);
  if (t.state === "done" || t.state === "cached") {
    return `${k.tier} (${t.gain === null ? "?" : t.gain.toFixed(2)}×${
      t.state === "cached" ? ", cache" : ""
    })`;
  }
  return `1 (${t.state})`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
