/**
 * The runtime's policy, in one place.
 *
 * Tiers. The numerics of a call are decided by its shape: a key's plan (tile,
 * K blocking, accumulator split, driver) fixes its summation order, and the
 * plan depends on the key and the CPU only. So every call of a key runs the
 * key's own machine code, from the first call on: no call runs on a
 * TypeScript tier whose sums would differ (the old tier 0 summed in f64 and
 * changed 51 of 64 results of a random 8×8×64 GEMM at tier-up). Measured
 * (`deno task profile`): compiling costs 50-200 µs once, where the old tier
 * 0 spent 1-2 µs per call on an 8×8×8 GEMM and milliseconds on anything
 * larger; a key called more than a few dozen times comes out ahead, and the
 * first call of a large shape is far faster than TypeScript was.
 *
 * Hot keys. After `threshold` calls a key is hot: stats mark it, and it is
 * what tuning (tier 2) will work on.
 *
 * Admission. A key whose kernel was evicted and recompiled `CHURN_RECOMPILES`
 * times is churning the cache (a working set one kernel larger than the
 * cache recompiles on every call under plain LRU). Its kernel is then pinned:
 * kept outside the LRU, never evicted, so it runs without recompiling. At
 * most `cacheCapacity` kernels (and `cacheBytes` of code) are pinned; past
 * that a churning key keeps recompiling, and stats say so.
 *
 * Threads. A call splits between threads when each part would get at least
 * `MIN_PART_NS` of work by the cost model below (its flops and bytes at one
 * core's rates); smaller calls stay on the calling thread. Only calls of
 * `WAKE_MIN_NS` or more wake sleeping workers; smaller split calls use the
 * workers awake, or run whole on the caller when none is. The split never
 * changes the numerics (see the family contract's `partition`), so this
 * cut-off, like the thread count, decides speed only.
 *
 * Spinning. After a job a worker spins `SPIN.workerUs` on the job word, then
 * sleeps on a futex; the caller, done with its own parts, spins
 * `SPIN.callerUs` for the others, then sleeps. A program idle for 10 ms
 * costs each worker one spin (0.5% of a core at 50 µs).
 *
 * @module
 */
import type { Cost } from "../kernels/family.ts";
import type { IsaLevel } from "../cpu.ts";
import type { SpinPolicy } from "../native/pool.ts";

/** Calls of a key before it counts as hot (the seed's choice). */
export const DEFAULT_THRESHOLD = 100;

/** Recompiles of a key (after evictions) that make it a churning key. */
export const CHURN_RECOMPILES = 2;

/** Kernels kept compiled by default. */
export const DEFAULT_CACHE_CAPACITY = 256;

/** Code bytes kept compiled by default. */
export const DEFAULT_CACHE_BYTES = 16 << 20;

/** Keys profiled at once by default. */
export const DEFAULT_KEY_CAPACITY = 4096;

/** How a key got its current kernel. */
export type TierReason = "first-call" | "recompile" | "pinned" | "fallback";

/** Why a key's kernel is being compiled now: its first compile, a recompile, or a pin. */
export function compileReason(compiles: number): TierReason {
  if (compiles === 0) return "first-call";
  return compiles >= CHURN_RECOMPILES ? "pinned" : "recompile";
}

/**
 * Least estimated work per part of a split call, ns. Measured on Zen 5 (2
 * vCPUs, `deno run -P bench/cutoff.ts`), a forced split breaks even at
 * about 1.5 µs of work on one thread and gains 1.5-1.9× from 5 µs, when the
 * workers are awake.
 */
export const MIN_PART_NS = 1_500;

/**
 * Least estimated work of a split call for which sleeping workers are woken
 * (waking one cost the caller 7-10 µs here, and the worker took 7-32 µs to
 * arrive). A smaller split call runs its parts on the threads awake; when
 * every worker sleeps it runs its whole-call kernel on the caller instead
 * (same bits), unless it follows the last call within `SPIN.streamUs`: a
 * dense stream of small calls wakes the workers once, and they stay awake.
 */
export const WAKE_MIN_NS = 40_000;

/**
 * Most parts per thread. Each thread runs its own range of a job's parts,
 * then takes parts from the back of the others' (pool_code.ts), so with
 * several per thread a worker that starts late (it was asleep, or its core
 * was busy) costs a fraction of its share instead of all of it. Measured
 * on Zen 5 (2 vCPUs), GEMM 256³ right after an idle pause, 2 parts ran at
 * 1.0× one thread; 1024³ (packed) is best split over N in 4-8 parts.
 */
export const PARTS_PER_THREAD = 4;

/**
 * One core's rates in the cost model: f32 flops per ns at AVX-512 (see
 * {@link flopsPerNs} for the other levels), and bytes per ns by where the
 * bytes live (measured on Zen 5 with elementwise ops: ~300 B/ns when they
 * fit L2, ~90 from L3, ~40 from DRAM; taken lower).
 */
export const CORE_RATES = {
  flopsPerNs: 200,
  l2: { bytes: 1 << 20, perNs: 200 },
  l3: { bytes: 32 << 20, perNs: 80 },
  dramPerNs: 40,
} as const;

/**
 * One core's f32 flops per ns at an ISA level: AVX-512's rate halved with
 * each halving of the vector (AVX2 8 lanes, SSE2 4, scalar 1). Estimated
 * at AVX-512's rate, an AVX2 call's work was half its time, so calls worth
 * two parts stayed whole: on the Zen 3, 2 threads, a depthwise 3×3/2 on
 * 14²×576 then ran in ×0.71 of the time (NHWC ×0.74; `deno run -A
 * bench/ab.ts --a 88ca7b1 --b fa696e5 --conv 1,576,14,14,576,3,2,576,1
 * --threads 2 [--nhwc]`, the same bits); `--model` MobileNetV2 ×0.98-0.99,
 * BERT, the CNN and the MLPs within ±1.5%.
 */
export function flopsPerNs(isa: IsaLevel): number {
  const lanes = isa === "avx512" || isa === "amx"
    ? 16
    : isa === "avx2"
    ? 8
    : isa === "sse2"
    ? 4
    : 1;
  return (CORE_RATES.flopsPerNs * lanes) / 16;
}

/** The cost model's time of a call on one core at `isa`, ns. */
export function estimatedNs(cost: Cost, isa: IsaLevel): number {
  const r = CORE_RATES, b = cost.bytes;
  const perNs = b <= r.l2.bytes ? r.l2.perNs : b <= r.l3.bytes ? r.l3.perNs : r.dramPerNs;
  return Math.max(cost.flops / flopsPerNs(isa), b / perNs);
}

/**
 * Spin budgets of the thread pool, and the gap under which a small call
 * that finds the workers asleep counts as part of a dense stream and wakes
 * them (see WAKE_MIN_NS): the workers' own spin, so calls this dense keep
 * the workers awake once woken, and sparser ones never pay a wake-up.
 */
export const SPIN: SpinPolicy = { workerUs: 50, callerUs: 50, streamUs: 50 };

/**
 * Parts a call of this cost is split into on `threads` threads (1: it runs
 * on the caller): one per `minPartNs` of work estimated at `isa`, at most
 * `PARTS_PER_THREAD` per thread (or the family's fewer, `OpFamily.partsPerThread`);
 * a call worth less than two parts stays whole.
 */
export function partsFor(
  cost: Cost,
  threads: number,
  isa: IsaLevel,
  minPartNs: number = MIN_PART_NS,
  perThread: number = PARTS_PER_THREAD,
): number {
  if (threads < 2) return 1;
  const most = Math.min(perThread, PARTS_PER_THREAD) * threads;
  if (minPartNs <= 0) return most;
  return Math.max(1, Math.min(most, Math.floor(estimatedNs(cost, isa) / minPartNs)));
}

/**
 * Bytes left free between two parts' workspaces of a split call (each
 * part's starts on a page of its own). Back to back, one core's reads
 * running to the end of its workspace (its hardware prefetch runs on past
 * it) fetched the start of the next part's, which the other core was
 * writing, and the two traded those lines: ConvTranspose 2×2/2 64→64 on
 * 80² by output columns (its doubled rows of x at a workspace's start, its
 * weight pairs read to the end) on 2 threads split in bands of rows, Zen 5,
 * `deno run -A bench/tune_candidates.ts --conv 1,64,80,80,64,2,2 --packed
 * --transposed --threads 2`: at commit 5de675c 625-639 µs against the
 * positions tile's 538-553 head to head; with the gap 568 against 563.
 */
export const PART_WORKSPACE_GAP = 4096;

/**
 * Model runs. `session.run` takes its Jit calls off the event loop, which
 * costs a thread hop per run (measured on Zen 5, 2 vCPUs: ~60 µs round trip,
 * plus up to ~0.25 ms while the other core pulls a layer's operands into its
 * caches) and one more per stretch of native calls between TypeScript steps.
 * A plan whose run measured on the calling thread takes less than
 * `INLINE_RUN_MAX_MS` runs there instead: the event loop waits less than
 * the hop would cost (an MLP at batch 1: 75 µs inline, 130 µs off the loop).
 * Until a plan has been measured it runs off the loop; a plan whose
 * off-loop run took under `PROBE_RUN_MAX_MS` is then measured inline twice,
 * and the lower of its last two inline runs decides (graph/run_place.ts).
 */
export const INLINE_RUN_MAX_MS = 1;
/** See {@link INLINE_RUN_MAX_MS}. */
export const PROBE_RUN_MAX_MS = 3;
/** Runs off the loop after which a short plan is measured inline again. */
export const REPROBE_RUNS = 64;

/**
 * Copies of a run's feeds and of outputs into the caller's tensors go
 * through the Jit's copy kernel where glibc's memmove (`rep movsb` at
 * these sizes) would run 4K-aliased: the destination fewer than `window`
 * bytes past the source modulo a page. There every load's address matches
 * the low 12 bits of a store still in flight, and Zen 3's `rep movsb`
 * crawls. Measured on Zen 3 (`deno run -A bench/feed_copy.ts`): 196 KiB
 * in 67-71 µs at 4 to 28 bytes against 4.5-5.9 at the other distances;
 * the copy kernel 5.2-9.3 µs at any. The case is common, not rare: with
 * the malloc thresholds below, a feed and the plan's input of its size can
 * be neighbours on the heap, 16 bytes of chunk header apart, and a size of
 * whole pages puts them at 16. MLP 784-1024-1024-10 at batch 64 (a 196 KiB
 * input) hit it in `bench/run_vs_sync.ts --models mlp64 --only run`: the
 * calling thread busy 0.215 ms a run before, 0.131-0.135 after. Below
 * `minBytes` memmove does not take `rep movsb`.
 */
export const ALIASED_COPY = { window: 64, minBytes: 4096 } as const;

/**
 * glibc's malloc thresholds a session sets (native/malloc_policy.ts, once
 * per process, unless NJIT_MALLOC=system): blocks up to `mmapBytes` come
 * from the heap, and up to `trimBytes` freed at its top stay mapped. A run
 * returns its outputs in new ArrayBuffers, which V8 takes from malloc; by
 * glibc's default a block over 128 KB is a fresh mapping and freed memory
 * goes back to the kernel, so every run's output pages are faulted in anew,
 * and a page fault is dear on a guest. Measured on Zen 5: `NJIT_MALLOC=system
 * deno run -A --v8-flags=--expose-gc tests/fixtures/output_faults.ts`
 * 0.23-0.28 faults per output page, with these thresholds 0.03; a BERT
 * layer at 2 threads (`bench/run_vs_sync.ts`) took 0.29-0.39 ms of the
 * calling thread's CPU a run against 0.67-1.62 by glibc's default. These
 * are the values glibc's own adaptive policy reaches once a process has
 * freed a 32 MB block (its `DEFAULT_MMAP_THRESHOLD_MAX`, and twice that
 * for trimming): the cost is up to `trimBytes` of freed memory the process
 * keeps instead of returning.
 */
export const MALLOC_KEEP = { mmapBytes: 32 << 20, trimBytes: 64 << 20 } as const;

/**
 * Plans a session keeps, one per set of input shapes (each holds its arena):
 * the least recently used is dropped beyond this (a model fed every sequence
 * length from 1 to 512 would otherwise hold 512 arenas).
 */
export const MAX_PLANS = 16;

/**
 * Tier 2: tuning on live calls (see tuner.ts). A key that turned hot (its
 * `threshold`-th call) on its tier-1 kernel gets its family's candidate plans
 * (and, for a split call, other part counts), each compiled and then run on
 * the key's real calls in turn, timed with RDTSC; the fastest is kept.
 *
 * - `budget`: the extra time tuning may spend (candidate compiles, plus the
 *   time calls on a candidate took beyond the tier-1 kernel's median) as a
 *   fraction of the key's own run time so far. Past it, tuning waits (its
 *   calls run tier 1, untimed) until the key's run time has grown enough: a
 *   cheap key tunes slowly, and a key that stops being called stops tuning.
 * - `baseline`: tier-1 calls timed before any candidate is compiled (the
 *   median that prices the budget).
 * - `rounds`: interleaved rounds (one timed call per live candidate each) of
 *   measurement: at least `min`, then every `min` rounds a candidate whose
 *   median is `drop` slower than the best stops being measured, and tuning
 *   ends when one is left or after `max` rounds; after the second round a
 *   candidate whose both calls were `dropEarly` slower than the best median
 *   is dropped already (measured: conv tiles at 0.4× tier 1 took 5 rounds of
 *   budget to go; one call is not enough at 2 threads, where a call can run
 *   at one thread's speed when the other vCPU is taken).
 *   Interleaving spreads the
 *   machine's noise (2 shared vCPUs here, ±10-30% between runs) over every
 *   candidate alike.
 * - `minGain`: a candidate replaces tier 1 only if its median is at least
 *   this much faster, and its fastest quarter of calls is faster than tier
 *   1's too (measured here: a key measured against itself differs by up to
 *   ±5% between runs, so a 2% edge in one median is not evidence; and at 2
 *   threads calls are bimodal, so a rule on the slow quarter kept tier 1
 *   against a candidate 1.22× faster by the median).
 * - `confirm`: rounds of a second, fresh head-to-head of tier 1 and the
 *   best candidate (one call each, in turns), whose medians alone decide
 *   (by `minGain` and the fastest quarter again) and give the gain: the
 *   best of up to 11 medians is the luckiest one, faster than its plan.
 *   Measured on the 2-vCPU guest, 128×768×768 in panels at 2 threads
 *   (`bench/tune_candidates.ts`, a scratch build whose 11 candidates were
 *   all tier 1's plan): without it a copy "won" 4 runs of 5 and 3 of 5 with
 *   the rounds' order rotated, each by ×1.04-1.06; at 1 thread none did.
 *   The rounds' order rotates by one candidate each round besides, so no
 *   candidate always follows the same one.
 * - `maxCandidates`: most candidates per key, tier 1 included.
 */
export const TUNE = {
  budget: 0.1,
  baseline: 3,
  rounds: { min: 5, max: 15 },
  drop: 0.1,
  dropEarly: 0.5,
  minGain: 0.03,
  confirm: 10,
  maxCandidates: 12,
} as const;

/**
 * Async call lists (`jit.async`, `jit.replay`, a session's `run`) run
 * pinned to one CPU: the issuing thread's at a Jit's first list, kept.
 * Deno's blocking pool hands each nonblocking call to whichever of its
 * threads is free, on either CPU. Measured on the 2-vCPU guest (a
 * MobileNet-style QDQ model, 1 thread, `deno task compare-models --models
 * mobile-qdq --threads 1`: blocks of runs after idle pauses, ORT's session
 * in the same process): 1.19-1.27 ms a run pinned, 2.02-2.14 not; back to
 * back after a warm-up (`bench/run_vs_sync.ts --only run`) pinned ran 3-5%
 * slower. The cost besides: JavaScript the issuing thread runs meanwhile
 * shares that CPU.
 */
export const PIN_LISTS = true;

/**
 * A list leaves its thread (one of Deno's blocking pool) pinned to the
 * list's CPU, and the runtime gives the thread its own mask back once no
 * list has ended for this long (and at close). Left pinned, the thread's
 * next wake-up lands on that CPU, busy with the issuing thread, rather
 * than on an idle vCPU the host must wake first. Measured on the 2-vCPU
 * guest (`deno run -A bench/async_wake.ts`, the mask put back after every
 * list against left, three alternating pairs of processes): an empty list
 * right after another 78-117 → 38-43 µs, after 5 ms idle 133-148 → 78-124;
 * a 64×1024×1024 GEMM's list above the same GEMM on the calling thread
 * +185-252 → +81-141 µs back to back, +133-149 → +80-158 after 5 ms idle.
 */
export const LIST_PIN_HOLD_MS = 20;

/**
 * A pinned list pins the thread that issued it (the event loop's) to its
 * CPU as it ends, and that thread gives itself its own mask back once
 * awake: the list's end wakes it, and Linux wakes a sleeping thread on an
 * idle CPU when its own is busy (the list's thread is still on it), here an
 * idle vCPU the host must wake first. While the list runs the issuer keeps
 * its mask (JavaScript it runs meanwhile may use the other CPU). Measured
 * on the 2-vCPU guest, `deno task compare-models --models mlp64,cnn
 * --threads 1`, the commit before and after in turn, two pairs: MLP
 * 784-1024-1024-10 at batch 64 `run` 1.306-1.307 → 1.176-1.183 ms (ORT
 * 1.33-1.40), the CNN unchanged. Pinning the issuer for the whole list
 * instead (a scratch build) gained less, and kept the issuer's JavaScript
 * off the other CPU meanwhile.
 *
 * What a long list's hop still costs (scratch TSC stamps at `runAll`'s start
 * and end, BERT's layer at 2 threads and the CNN at 1): a tenth of a
 * millisecond or so from `run()` to the list's first call (our JavaScript,
 * the feeds' copy, Deno's thread waking on the issuer's CPU), tens of µs
 * from its last call to the issuer awake, and as much again for our
 * JavaScript after it. Stop 72's scratch stamps (1 thread, medians of 30-60 runs)
 * found the list itself 1-2% longer on Deno's thread than on the caller,
 * a lone 1024³ GEMM too (10.85-11.10 against 10.68-10.86 ms), and the
 * issuer's wake-up after the list's last call growing with what the list
 * moved (an empty list 13 µs, the GEMM 170, ResNet-50 220: Deno's code and
 * ours come back cold); with ORT's runs taking turns (as `deno task
 * compare-models` has them) the CNN's `run` paid 0.4-0.9 ms over
 * `runSync`. Lists neither steering nor pinned were within the noise of
 * this policy there (blocks of runs alternating in one process). Deno's
 * own hop grows the same way without any of our code: a nonblocking call
 * of libc's memset costs 27 µs over the same call on the thread at 0-1
 * MiB written, 90-160 µs at 8-64 MiB (`deno run -A bench/hop_cold.ts`,
 * Zen 5, 2026-12-05, two runs): the event loop's thread resumes with its
 * code and data evicted by what the call moved.
 */
export const STEER_ISSUER = true;
