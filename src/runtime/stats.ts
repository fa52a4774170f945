/**
 * What the runtime reports: per-key figures, the totals, and the hot-path
 * table of `jit.report()`.
 *
 * @module
 */
import type { IsaLevel } from "../cpu.ts";
import type { TierReason } from "./policy.ts";

/** Per-key figures of {@link JitStats}. */
export interface KeyStats {
  /** The key: op, shape, layout, alpha/beta. */
  key: string;
  /** "cold" (tier 0), "compiled" (in the cache) or "evicted". */
  state: "cold" | "compiled" | "evicted";
  /** Calls seen. */
  calls: number;
  /** Calls that ran on the TypeScript reference. */
  tier0Calls: number;
  /** Calls that ran compiled code. */
  tier1Calls: number;
  /** Mean microseconds per call on each tier (null before the first such call). */
  tier0MeanUs: number | null;
  /** Mean microseconds per compiled call (null before the first). */
  tier1MeanUs: number | null;
  /** Total microseconds spent on this key, both tiers. */
  totalUs: number;
  /** Time-stamp-counter cycles of its compiled calls, counted in native code around each call. */
  tier1Cycles: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls at or past the threshold that had to compile. */
  misses: number;
  /** Kernels compiled. */
  compiles: number;
  /** Microseconds of the last compile. */
  compileUs: number;
  /** Calls after which compiling paid for itself: compile time ÷ time saved per call. */
  breakEvenCalls: number | null;
  /** Why it was compiled. */
  reason: TierReason | null;
  /** The plan of its kernel, e.g. "L3 avx512 direct 6×64". */
  plan: string | null;
  /** Bytes of its machine code (0 when not compiled). */
  codeBytes: number;
}

/** What `Jit.stats()` returns: a plain object. */
export interface JitStats {
  /** Whether machine code can run here (false: everything runs on tier 0). */
  jit: boolean;
  /** The ISA level kernels are generated for. */
  isa: IsaLevel;
  /** Calls before a key compiles. */
  threshold: number;
  /** Calls seen. */
  calls: number;
  /** Calls on the TypeScript reference. */
  tier0Calls: number;
  /** Calls on compiled code. */
  tier1Calls: number;
  /** Kernels compiled. */
  compiles: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls at or past the threshold that had to compile. */
  misses: number;
  /** Kernels evicted from the cache. */
  evictions: number;
  /** hits ÷ (hits + misses), or 0 before any compiled call. */
  hitRate: number;
  /** Kernels in the cache now, and their code bytes. */
  kernels: number;
  /** Bytes of machine code live in the cache. */
  codeBytes: number;
  /** Most kernels the cache keeps. */
  cacheCapacity: number;
  /** Most code bytes the cache keeps. */
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
    k.state,
    String(k.calls),
    fmt(k.tier0MeanUs, 2),
    fmt(k.tier1MeanUs, 2),
    fmt(k.compiles ? k.compileUs : null, 0),
    fmt(k.breakEvenCalls, 1),
    fmt(k.totalUs / 1000, 2),
    k.plan ?? "-",
  ]);
  const head = [
    "key",
    "state",
    "calls",
    "tier0 µs",
    "tier1 µs",
    "compile µs",
    "break-even",
    "total ms",
    "plan",
  ];
  return table(head, rows) +
    `\ncalls ${s.calls} (tier 0: ${s.tier0Calls}), compiles ${s.compiles}, hits ${s.hits}, ` +
    `misses ${s.misses}, evictions ${s.evictions}, hit rate ${(100 * s.hitRate).toFixed(1)}%, ` +
    `${s.kernels} kernels / ${s.codeBytes} bytes live\n`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
