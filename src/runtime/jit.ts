/**
 * `Jit`: the public face of the runtime. Each op is a thin wrapper: the
 * operands go to the runtime (checked and addressed once per view), the
 * family reads the options into the key, the runtime runs the key's kernel.
 *
 * @module
 */
import {
  blocksShortRows,
  capIsa,
  claimsRowsAhead,
  cpuFeatures,
  embedsLoneBroadcast,
  ISA_LEVELS,
  type IsaLevel,
  lagsLongRows,
  leansToDeepChannelVectors,
  leansToKxkChannelVectors,
  maxIsaFromEnv,
  microcodesMaskedStores,
  prefersCopiedStrips,
  prefersEmbeddedBroadcast,
  prefetchesStreamedRows,
  prefetchesWithinL2,
  runsShortChannelTilesOutside,
  spreadsNextStrip,
  streamsOnOneThread,
  tilesNhwcDepthwise,
  transposesAliasedRowsWhole,
} from "../cpu.ts";
import { env, envInt, envNumber } from "../env.ts";
import { familyId } from "../kernels/families.ts";
import { MAX_KEY_SLOTS, MAX_OPERANDS, type Target } from "../kernels/family.ts";
import {
  GEMM,
  type GemmLevel,
  type GemmOptions,
  type GemmPlan,
  type GemmSpec,
  generateGemm,
  packB,
  type PackBOptions,
  PackedB,
  planAtLevel,
  readGemm,
  readGemmShape,
  type StridedCopy,
} from "../kernels/gemm/mod.ts";
import { emptySpec } from "../kernels/gemm/read.ts";
import {
  readUnary,
  UNARY,
  UNARY_OPS,
  type UnaryOp,
  type UnaryParams,
} from "../kernels/unary/mod.ts";
import { readSoftmax, SOFTMAX, type SoftmaxOptions } from "../kernels/softmax/mod.ts";
import { NORM, type NormOptions, readNorm } from "../kernels/norm/mod.ts";
import { readReduce, REDUCE, type ReduceOp, type ReduceOptions } from "../kernels/reduce/mod.ts";
import { BINARY, type BinaryOp, readBinary } from "../kernels/binary/mod.ts";
import {
  BATCHNORM,
  type BatchNormOptions,
  type FoldedConv,
  type FoldOptions,
  foldProduct,
  prepareFold,
  readBatchNorm,
} from "../kernels/batchnorm/mod.ts";
import { ALL_FINITE, readAllFinite } from "../kernels/finite/mod.ts";
import { readScaleRows, SCALE_ROWS, scaleRowsFactors } from "../kernels/scale/mod.ts";
import {
  channelVectorCopyLanes,
  CONV,
  type Conv2dOptions,
  CONV_ARG,
  CONV_NHWC_SLOT,
  CONV_TRANSPOSE,
  CONV_TRANSPOSE_W_LANES_SLOT,
  CONV_TRANSPOSE_X_LINE_SLOT,
  CONV_W_FINITE_SLOT,
  CONV_W_LANES_SLOT,
  CONV_X_LINE_SLOT,
  type ConvTranspose2dOptions,
  ConvWeights,
  type ConvWeightsOptions,
  depthwiseNhwcLevel,
  depthwiseNhwcWindowFits,
  nhwcChannelVectorsLevel,
  phasesServeRepacked,
  readConv,
  readConvTranspose,
  readLayout,
  RepackedWeights,
  transposedWeightShape,
  xLineMatters,
  xLineMattersTransposed,
  xLineOf,
} from "../kernels/conv/mod.ts";
import { POOL, type PoolKind, type PoolOptions, readPool } from "../kernels/pool/mod.ts";
import { readResize, RESIZE, type ResizeOptions } from "../kernels/resize/mod.ts";
import { readRotary, ROTARY, type RotaryOptions } from "../kernels/rotary/mod.ts";
import { ATTENTION, type AttentionOptions, readAttention } from "../kernels/attention/mod.ts";
import { COPY, type CopyOptions, readCopy } from "../kernels/copy/mod.ts";
import { CHAIN, type ChainStep, type ChainSteps, readChain } from "../kernels/chain/mod.ts";
import {
  type Int8GemmOptions,
  type PackedInt8B,
  packInt8B,
  QGEMM,
  readQGemm,
} from "../kernels/qgemm/mod.ts";
import { QUANTIZE, readQuantize } from "../kernels/quantize/mod.ts";
import {
  type DequantizeLinearOptions,
  QLINEAR,
  type QLinearAddOptions,
  type QuantizeLinearOptions,
  readDequantizeLinear,
  readQLinearBinary,
  readQuantizeLinear,
  readRequantize,
  type RequantizeOptions,
} from "../kernels/qlinear/mod.ts";
import {
  type ConvInt8Options,
  packConvInt8,
  type PackedConvInt8,
  QCONV,
  readQConv,
} from "../kernels/qconv/mod.ts";
import { NBITS, type PackedNBits, readNBits } from "../kernels/nbits/mod.ts";
import { readSelect, SELECT } from "../kernels/select/mod.ts";
import {
  DISTANCES,
  readSquaredDistances,
  type SquaredDistancesOptions,
} from "../kernels/distances/mod.ts";
import {
  PackedTrees,
  readTreeLeaves,
  recordsOf,
  type TreeLeavesOptions,
  TREES,
  type TreesDescription,
} from "../kernels/trees/mod.ts";
import type { VecLevel } from "../kernels/vec.ts";
import type { CodeBlock } from "../native/arena.ts";
import { jitAvailable, JitUnavailableError, libc } from "../native/libc.ts";
import { viewAddress } from "../native/memory.ts";
import type { LargeMemory } from "../native/large_memory.ts";
import { affinityCpus } from "../native/pool.ts";
import { MAX_WORKERS } from "../native/pool_code.ts";
import {
  describe,
  isFloat32Array,
  lineAligned,
  typedArrayTag,
  viewBuffer,
  viewByteOffset,
  viewLength,
} from "../typed.ts";
import {
  DEFAULT_CACHE_BYTES,
  DEFAULT_CACHE_CAPACITY,
  DEFAULT_KEY_CAPACITY,
  DEFAULT_THRESHOLD,
  MIN_PART_NS,
  TUNE,
} from "./policy.ts";
import { type KeptCalls, Runtime } from "./runtime.ts";
import type { JitStats } from "./stats.ts";
import { type CpuDescription, TuneCache } from "./tune_cache.ts";
import { codeCacheAt } from "./code_cache.ts";
import { defaultCodeCacheDir } from "./code_stamp.ts";

/** This CPU as the tuning cache keys it, at the Jit's ISA level. */
function cpuDescription(isa: IsaLevel, target: Target): CpuDescription {
  const f = cpuFeatures();
  return {
    vendor: f.vendor,
    brand: f.brand,
    family: f.family,
    model: f.model,
    stepping: f.stepping,
    isa,
    // The sizes plans block for (CPUID's unless the Jit was given others).
    l1d: target.l1d,
    l2: target.l2,
    l3: f.l3,
  };
}

/** Options of a {@link Jit}. All optional. */
export interface JitOptions {
  /** Calls after which a key counts as hot. Default 100, or NJIT_THRESHOLD. */
  threshold?: number;
  /** Most kernels kept in the LRU cache. Default 256, or NJIT_CACHE_CAPACITY. */
  cacheCapacity?: number;
  /** Most bytes of compiled code kept in the LRU cache. Default 16 MiB. */
  cacheBytes?: number;
  /** Highest instruction set to generate for (also capped by NJIT_MAX_ISA and the CPU). */
  maxIsa?: IsaLevel;
  /** Time every kernel call (RDTSC in native code). Default true. */
  profile?: boolean;
  /** One line per compile, eviction and pin on stderr. Default: NJIT_VERBOSE. */
  verbose?: boolean;
  /** Directory for each compiled kernel's `.bin` and `.lst`. Default: NJIT_DUMP. */
  dump?: string;
  /**
   * Most keys profiled at once. Beyond it the least recently called keys
   * without a kernel are forgotten. Default 4096.
   */
  keyCapacity?: number;
  /**
   * Threads a call may use: the calling thread and `threads − 1` workers of
   * the isolate's native pool (shared by every Jit), at most 113. Default:
   * the CPUs in the process's affinity mask (capped there), or
   * NJIT_NUM_THREADS. Results are the same bits for any count.
   */
  threads?: number;
  /**
   * Least estimated work per thread, in µs, for a call to be split between
   * threads (smaller calls run on the calling thread). Default 1.5; 0 splits
   * every call that can be split and always runs its parts, waking the
   * workers (tests do, to cover the split paths).
   */
  minPartUs?: number;
  /**
   * Tier 2's budget: the extra time tuning a hot key may spend (compiling
   * its candidate plans, and calls on candidates slower than its tier-1
   * kernel) as a fraction of the key's own run time so far. Default 0.1 (or
   * NJIT_TUNE_BUDGET); 0 turns tier 2 off. Tuning never changes results (same bits).
   */
  tuneBudget?: number;
  /**
   * A JSON file where tuned plans are kept per CPU, read at construction and
   * written as keys finish tuning, so a new process starts on them. Default:
   * NJIT_TUNE_CACHE (none when unset).
   */
  tuneCache?: string;
  /**
   * A directory where generated kernels are kept, so a new process installs
   * them instead of generating them again (its first calls compile in
   * microseconds, not milliseconds); false: none. Entries are keyed by op,
   * shape and plan under a stamp of this version's (or checkout's) code.
   * Default: NJIT_CODE_CACHE ("off": none), else `$XDG_CACHE_HOME/njit/kernels`
   * or `~/.cache/njit/kernels`; used only as far as read/write access to it
   * is granted (never prompts).
   */
  codeCache?: string | false;
  /**
   * Cache sizes the plans block for, in bytes per core. Default: what CPUID
   * reports. Plans (and so speed) follow them, results do not: tests pin
   * them so that a shape takes the same path on every machine, and a guest
   * whose virtual CPUID misreports its caches can set the real ones.
   */
  caches?: CacheOptions;
}

/** Cache sizes of {@link JitOptions.caches}; a size left out is CPUID's. */
export interface CacheOptions {
  /** L1 data cache bytes per core (4 KiB to 1 MiB). */
  l1d?: number;
  /** L2 cache bytes per core (64 KiB to 64 MiB). */
  l2?: number;
}

/** Options of {@link Jit.async}. */
export interface AsyncOptions {
  /**
   * Keep every operand's memory alive until the calls have run, even if its
   * buffer is transferred meanwhile (default true). With false the caller
   * promises that no operand buffer is transferred or resized until the
   * promise settles (an InferenceSession's own buffers): the calls then run
   * as one native call instead of one per 8 distinct buffers.
   */
  retain?: boolean;
}

/** A kernel compiled on request ({@link Jit.compileGemm}): fixed shape, level and ISA. */
export interface GemmKernel {
  /** The call it computes. */
  readonly spec: GemmSpec;
  /** How: level, ISA, path, tile. */
  readonly plan: GemmPlan;
  /** Machine code bytes. */
  readonly codeBytes: number;
  /** Microseconds to generate and install it. */
  readonly compileUs: number;
  /** The installed code (null where no JIT runs); `code.freed` once freed or closed. */
  readonly code: CodeBlock | null;
  /** Runs it; the arrays are validated against the spec first (bias when compiled with one). */
  run(a: Float32Array, b: Float32Array, c: Float32Array, bias?: Float32Array): void;
  /** Its listing: offset, bytes, Intel syntax. */
  listing(): string;
  /** Returns its code to the arena; run() throws afterwards. */
  free(): void;
}

/** Shapes of plain ConvTranspose weights a Jit keeps repacking rooms for (see #repackTransposed). */
const REPACKED_ROOMS = 4;

/** Zeroed floats on a cache line, in V8's memory (collected when dropped). */
const v8Floats = (length: number): Float32Array => lineAligned(length, viewAddress);

const VEC_OF: Record<IsaLevel, VecLevel> = {
  scalar: "scalar",
  sse2: "sse2",
  avx2: "avx2",
  avx512: "avx512",
  amx: "avx512",
};

const GEMM_ID = familyId(GEMM);
const UNARY_ID = familyId(UNARY);
const SOFTMAX_ID = familyId(SOFTMAX);
const NORM_ID = familyId(NORM);
const REDUCE_ID = familyId(REDUCE);
const BINARY_ID = familyId(BINARY);
const CONV_ID = familyId(CONV);
const POOL_ID = familyId(POOL);
const CONV_TRANSPOSE_ID = familyId(CONV_TRANSPOSE);
const BATCHNORM_ID = familyId(BATCHNORM);
const RESIZE_ID = familyId(RESIZE);
const ROTARY_ID = familyId(ROTARY);
const ATTENTION_ID = familyId(ATTENTION);
const SCALE_ROWS_ID = familyId(SCALE_ROWS);
const ALL_FINITE_ID = familyId(ALL_FINITE);
const COPY_ID = familyId(COPY);
const CHAIN_ID = familyId(CHAIN);
const QGEMM_ID = familyId(QGEMM);
const QUANTIZE_ID = familyId(QUANTIZE);
const NBITS_ID = familyId(NBITS);
const QCONV_ID = familyId(QCONV);
const QLINEAR_ID = familyId(QLINEAR);
const TREES_ID = familyId(TREES);
const DISTANCES_ID = familyId(DISTANCES);
const SELECT_ID = familyId(SELECT);

/** Packed int8 B matrices made by `Jit.packInt8B` (the brand `gemmInt8` checks). */
const PACKED_INT8 = new WeakSet<PackedInt8B>();
/** Convolution weights made by `Jit.packConvInt8` (the brand `convInt8` checks). */
const PACKED_CONV_INT8 = new WeakSet<PackedConvInt8>();
/** Float32Array views of 8-bit and int32 operands' bytes (the runtime's operand kind), by array. */
const BYTE_VIEWS = new WeakMap<ArrayBufferView, Float32Array>();

/** A Float32Array over the first ⌊bytes/4⌋·4 bytes of `x` (kept for x's next calls). */
function bytesView(x: ArrayBufferView, name: string, op = "gemmInt8"): Float32Array {
  const buffer = viewBuffer(x), offset = viewByteOffset(x);
  const bytes = viewLength(x) * (typedArrayTag(x) === "Int32Array" ? 4 : 1);
  let v = BYTE_VIEWS.get(x);
  if (
    v !== undefined && v.buffer === buffer && v.byteOffset === offset && v.length === bytes >> 2
  ) {
    return v;
  }
  if (offset % 4 !== 0) {
    throw new RangeError(
      `${op}: ${name} must start at a multiple of 4 bytes, starts at ${offset}`,
    );
  }
  v = new Float32Array(buffer, offset, bytes >> 2);
  BYTE_VIEWS.set(x, v);
  return v;
}
/** An 8-bit operand's type (its intrinsic tag), or a TypeError naming it. */
function byteTag(op: string, name: string, v: unknown): "Uint8Array" | "Int8Array" {
  const tag = typedArrayTag(v);
  if (tag !== "Uint8Array" && tag !== "Int8Array") {
    throw new TypeError(`${op}: ${name} must be a Uint8Array or an Int8Array, got ${describe(v)}`);
  }
  return tag;
}

/** The error for an 8-bit operand whose type is not a's. */
function sameTypeError(who: string, name: string, tag: string, v: unknown): never {
  throw new TypeError(`${who}: ${name} must be a ${tag} as a is, got ${describe(v)}`);
}

/** quantizeDynamic's error for an operand that is not a Uint8Array. */
function notBytes(name: string, v: unknown): never {
  throw new TypeError(`quantizeDynamic: ${name} must be a Uint8Array, got ${describe(v)}`);
}

/** Most threads of a Jit: the caller and every worker a pool holds. */
const MAX_THREADS = MAX_WORKERS + 1;
/** Stands in for an absent optional operand (its extent is 0: never read). */
const ABSENT = new Float32Array(1);

function badOption(name: string, v: unknown, what: string): never {
  throw new RangeError(`Jit: ${name} must be ${what}, got ${describe(v)}`);
}

function cacheBytes(name: string, v: unknown, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    badOption(name, v, `an integer from ${min} to ${max}`);
  }
  return v;
}

function count(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    badOption(name, v, min ? "a positive integer" : "a non-negative integer");
  }
  return v;
}

/** Calls recorded by {@link Jit.record}, to run again with {@link Jit.replay}. */
export interface RecordedCalls {
  /** Their first run: settles when the calls have run. */
  readonly done: Promise<void>;
}

/** What the runtime kept of each replayable recording. */
const KEPT = new WeakMap<RecordedCalls, { kept: KeptCalls; scratch: Float32Array[] }>();

let setMemory: (jit: Jit, memory: LargeMemory) => void;
let awake: (jit: Jit) => boolean;

/**
 * Whether one of the pool workers `jit` uses is awake now (spinning or
 * running), so a small split call would not wait for a wake-up: a hint, read
 * without a lock. Not part of the public API.
 */
export function workerAwake(jit: Jit): boolean {
  return awake(jit);
}

/**
 * Makes `jit` pack large weights into `memory` (a session's, given back to
 * the pool when the session is released). Not part of the public API.
 */
export function useLargeMemory(jit: Jit, memory: LargeMemory): void {
  setMemory(jit, memory);
}

/**
 * The JIT. `jit.gemm(a, b, c, { m, n, k })` computes C = alpha·op(A)·op(B) +
 * beta·C with machine code generated for the call's shape on its first call,
 * kept in an LRU cache and dispatched to in nanoseconds afterwards.
 */
export class Jit {
  readonly #rt: Runtime;
  readonly #isa: IsaLevel;
  /** The vector level kernels are generated for (scalar without the JIT). */
  readonly #level: VecLevel;
  /**
   * Lanes of the channel-vector copy packed weights carry, which the
   * channel-vector kernel and ConvTranspose by output phases read (0: none
   * at this level).
   */
  readonly #copyLanes: number;
  readonly #target: Target;
  readonly #jit: boolean;

  /** Makes a JIT. Nothing is compiled until the first call. */
  constructor(options: JitOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Jit: options must be an object, got ${describe(options)}`);
    }
    const threshold = count(
      "threshold",
      options.threshold,
      envInt("NJIT_THRESHOLD", DEFAULT_THRESHOLD),
      0,
    );
    const capacity = count(
      "cacheCapacity",
      options.cacheCapacity,
      envInt("NJIT_CACHE_CAPACITY", DEFAULT_CACHE_CAPACITY),
      1,
    );
    const maxBytes = count("cacheBytes", options.cacheBytes, DEFAULT_CACHE_BYTES, 1);
    const keyCapacity = count("keyCapacity", options.keyCapacity, DEFAULT_KEY_CAPACITY, 1);
    if (options.maxIsa !== undefined && !ISA_LEVELS.includes(options.maxIsa)) {
      badOption("maxIsa", options.maxIsa, `one of ${ISA_LEVELS.join(", ")}`);
    }
    const verbose = env("NJIT_VERBOSE");
    this.#jit = jitAvailable();
    const threads = count(
      "threads",
      options.threads,
      envInt("NJIT_NUM_THREADS", 0) || (this.#jit ? Math.min(affinityCpus(), MAX_THREADS) : 1),
      1,
    );
    if (threads > MAX_THREADS) badOption("threads", threads, `at most ${MAX_THREADS}`);
    const minPartUs = options.minPartUs ?? MIN_PART_NS / 1000;
    if (typeof minPartUs !== "number" || !(minPartUs >= 0)) {
      badOption("minPartUs", minPartUs, "a non-negative number");
    }
    const tuneBudget = options.tuneBudget ?? envNumber("NJIT_TUNE_BUDGET", TUNE.budget);
    if (typeof tuneBudget !== "number" || !(tuneBudget >= 0)) {
      badOption("tuneBudget", tuneBudget, "a non-negative number (0: no tuning)");
    }
    const tuneCachePath = options.tuneCache ?? env("NJIT_TUNE_CACHE");
    if (
      tuneCachePath !== undefined && (typeof tuneCachePath !== "string" || tuneCachePath === "")
    ) {
      badOption("tuneCache", tuneCachePath, "a file path");
    }
    const codeCacheDir = options.codeCache === undefined
      ? defaultCodeCacheDir()
      : options.codeCache;
    if (
      codeCacheDir !== null && codeCacheDir !== false &&
      (typeof codeCacheDir !== "string" || codeCacheDir === "")
    ) {
      badOption("codeCache", codeCacheDir, "a directory path or false");
    }
    let isa: IsaLevel = "scalar";
    const target: Target = { isa: "scalar", l1d: 32 << 10, l2: 1 << 20 };
    if (this.#jit) {
      const f = cpuFeatures();
      isa = capIsa(capIsa(f.bestIsa, maxIsaFromEnv()), options.maxIsa);
      if (f.l1d) target.l1d = f.l1d;
      if (f.l2) target.l2 = f.l2;
      target.isa = VEC_OF[isa];
      target.amx = isa === "amx";
      target.embedBroadcast = prefersEmbeddedBroadcast(f);
      target.embedLoneBroadcast = embedsLoneBroadcast(f);
      target.copyStrips = prefersCopiedStrips(f);
      target.spreadNextStrip = spreadsNextStrip(f);
      target.transposeAliasedWhole = transposesAliasedRowsWhole(f);
      target.prefetchWithinL2 = prefetchesWithinL2(f);
      target.streamOnOneThread = streamsOnOneThread(f);
      target.fetchStreamedRows = prefetchesStreamedRows(f);
      target.claimRowsAhead = claimsRowsAhead(f);
      target.lagLongRows = lagsLongRows(f);
      target.blockShortRows = blocksShortRows(f);
      target.deepChannelVectors = leansToDeepChannelVectors(f);
      target.kxkChannelVectors = leansToKxkChannelVectors(f);
      target.microcodedMaskedStores = microcodesMaskedStores(f);
      target.nhwcDepthwiseTiles = tilesNhwcDepthwise(f);
      target.shortChannelTilesOutside = runsShortChannelTilesOutside(f);
    }
    if (options.caches !== undefined) {
      const c = options.caches;
      if (c === null || typeof c !== "object") badOption("caches", c, "an object { l1d?, l2? }");
      target.l1d = cacheBytes("caches.l1d", c.l1d, target.l1d, 4 << 10, 1 << 20);
      target.l2 = cacheBytes("caches.l2", c.l2, target.l2, 64 << 10, 64 << 20);
    }
    if (!this.#jit) {
      try {
        libc();
      } catch (e) {
        if (e instanceof JitUnavailableError) {
          console.warn(`${e.message}; computing with TypeScript`);
        }
      }
    }
    this.#isa = isa;
    this.#level = this.#jit ? VEC_OF[isa] : "scalar";
    this.#copyLanes = channelVectorCopyLanes(this.#level);
    this.#target = target;
    const tuneCache = this.#jit && tuneBudget > 0 && tuneCachePath !== undefined
      ? new TuneCache(tuneCachePath, cpuDescription(isa, target))
      : null;
    this.#rt = new Runtime({
      threshold,
      capacity,
      maxBytes,
      keyCapacity,
      profile: options.profile ?? true,
      verbose: options.verbose ?? (verbose !== undefined && verbose !== "0"),
      dump: options.dump ?? env("NJIT_DUMP"),
      jit: this.#jit,
      isa,
      target,
      threads: this.#jit ? threads : 1,
      minPartNs: minPartUs * 1000,
      tuneBudget: this.#jit ? tuneBudget : 0,
      tuneCache,
      codeCache: this.#jit && typeof codeCacheDir === "string" ? codeCacheAt(codeCacheDir) : null,
    }, this);
  }

  /**
   * Warm-up: while on, every key tunes (tier 2) from its next call, not
   * waiting to turn hot and unbounded by the budget; run representative
   * calls, then turn it off. Off settles each tuning that has measured
   * enough; the others go on under the budget.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const a = new Float32Array(64 * 64), c = new Float32Array(64 * 64);
   * jit.warmup(true);
   * for (let i = 0; i < 100; i++) jit.gemm(a, a, c, { m: 64, n: 64, k: 64 });
   * jit.warmup(false);
   * console.log(jit.stats().keys[0].tuning?.state);
   * ```
   */
  warmup(on: boolean): void {
    if (typeof on !== "boolean") badOption("warmup", on, "a boolean");
    if (this.#jit) this.#rt.setEager(on);
  }

  /**
   * Keeps the thread pool's workers awake between calls while on: for a
   * sequence of calls (a model's layers), where the calls too small to
   * split would let them fall asleep and the next split call pay their
   * wake-up (7-32 µs each on a 2 vCPU machine). Off again: their spin
   * budget (policy.ts) is back at once. `InferenceSession` holds them for
   * each run.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit({ threads: 2 });
   * jit.holdWorkers(true);
   * // ... a sequence of calls ...
   * jit.holdWorkers(false);
   * ```
   */
  holdWorkers(on: boolean): void {
    if (typeof on !== "boolean") badOption("holdWorkers", on, "a boolean");
    if (this.#jit && !this.#rt.closed) this.#rt.holdWorkers(on);
  }

  /**
   * Keys with a kernel whose tuning has not ended: tuning now, waiting for
   * budget, or (hot soon, or in warm-up) about to start. 0: nothing left to tune.
   */
  get tuningPending(): number {
    return this.#jit ? this.#rt.tuningPending() : 0;
  }

  /** The ISA level kernels are generated for. */
  get isa(): IsaLevel {
    return this.#isa;
  }

  /** Threads a call may use (see {@link JitOptions.threads}). */
  get threads(): number {
    return this.#rt.threads;
  }

  /**
   * C = alpha·op(A)·op(B) + beta·C (BLAS sgemm, row-major). Views at any
   * element offset work; c may not overlap a or b. Throws TypeError or
   * RangeError on bad input before any native code runs.
   */
  gemm(a: Float32Array, b: Float32Array | PackedB, c: Float32Array, options: GemmOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    // The brand check costs ~17 ns on a non-PackedB: classify each b once (a
    // value never changes class).
    if (b !== this.#bSeen) {
      this.#bSeen = b;
      this.#bPacked = PackedB.is(b) ? b : null;
    }
    const packed = this.#bPacked;
    const bv = packed !== null ? packed.data : b as Float32Array;
    rt.operand(GEMM, 0, a);
    rt.operand(GEMM, 1, bv);
    rt.operand(GEMM, 3, c);
    const ops = this.#gemmOperands;
    readGemm(a, bv, c, options, rt.key, rt.extents, ops, packed, rt.lineOffset(1));
    rt.operand(GEMM, 2, ops[0] ?? ABSENT);
    ops[0] = undefined;
    rt.run(GEMM_ID);
  }

  /**
   * y = op(x) elementwise, with ONNX definitions and default parameters
   * (`{ alpha, beta, gamma, min, max }`, as the op takes them). y must have
   * as many elements as x, and may be x itself (in place). Transcendental
   * ops are within 4 ulp of the correctly rounded result for every f32.
   */
  unary(op: UnaryOp, x: Float32Array, y: Float32Array, params?: UnaryParams): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(UNARY, 0, x);
    rt.operand(UNARY, 1, y);
    readUnary(op, x, y, params, rt.key, rt.extents);
    rt.run(UNARY_ID);
  }

  /**
   * Several elementwise steps in one pass over x: y = step_k(…step_1(x)),
   * each step rounded to f32 as the op called alone would be (same bits as
   * the ops one by one, without the passes over memory between them). A
   * step is a unary op as `activation` takes it (`"sigmoid"`,
   * `{ op: "leakyRelu", alpha }`) or a binary op against a constant or
   * against x: `{ op: "mul", value: 0.5 }`, `{ op: "mul", x: true }`,
   * `{ op: "sub", value: 1, left: true }` (1 − y). At most 8 steps; y may be x.
   * In a loop, pass a {@link ChainSteps} (checked and encoded once).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array([-1, 0, 1, 2]), y = new Float32Array(4);
   * jit.chain(x, y, ["sigmoid", { op: "mul", x: true }]); // SiLU written as two ops
   * ```
   */
  chain(x: Float32Array, y: Float32Array, steps: readonly ChainStep[] | ChainSteps): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(CHAIN, 0, x);
    rt.operand(CHAIN, 1, y);
    readChain(x, y, steps, rt.key, rt.extents);
    rt.run(CHAIN_ID);
  }

  /**
   * Softmax (or logSoftmax with `log: true`) of each row of x (rows × cols,
   * row-major) into y: max-subtracted, so no input overflows. A row of −Inf
   * gives NaN (as ONNX Runtime); −Inf entries give exact zeros. y may be x.
   */
  softmax(x: Float32Array, y: Float32Array, options: SoftmaxOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(SOFTMAX, 0, x);
    rt.operand(SOFTMAX, 1, y);
    readSoftmax(x, y, options, rt.key, rt.extents);
    rt.run(SOFTMAX_ID);
  }

  /**
   * ONNX LayerNormalization over the last axis of x (rows × cols):
   * y = (t − mean)/√(var + ε)·scale + bias with t = x, or x + residual
   * (ONNX Runtime's SkipLayerNormalization). Two-pass, so rows with a large
   * mean keep their variance. ε defaults to 1e-5; y may be x.
   */
  layerNorm(x: Float32Array, y: Float32Array, options: NormOptions): void {
    this.#norm("layer", x, y, options);
  }

  /**
   * ONNX RMSNormalization (T5-style) over the last axis:
   * y = t/√(mean(t²) + ε)·scale with t = x, or x + residual. No bias.
   */
  rmsNorm(x: Float32Array, y: Float32Array, options: Omit<NormOptions, "bias">): void {
    this.#norm("rms", x, y, options);
  }

  /**
   * y[r] = op over row r of x (rows × cols): sum, mean, max, min, sumSquare,
   * l2, logSumExp (ONNX Reduce* over the last axis). max and min propagate
   * NaN; logSumExp is max-subtracted.
   */
  reduce(op: ReduceOp, x: Float32Array, y: Float32Array, options: ReduceOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(REDUCE, 0, x);
    rt.operand(REDUCE, 1, y);
    readReduce(op, x, y, options, rt.key, rt.extents);
    rt.run(REDUCE_ID);
  }

  /**
   * y = a op b elementwise with numpy (ONNX) broadcasting: add, sub, mul,
   * div, max, min, pow. aDims and bDims are the operands' shapes (at most 6
   * dims, right-aligned); y holds the broadcast shape and may be a or b when
   * it has that shape. max and min propagate NaN; pow is C's powf, with
   * exact code for a single constant exponent of 0, ±1, ½, 2, 3... (±16).
   */
  binary(
    op: BinaryOp,
    a: Float32Array,
    aDims: readonly number[],
    b: Float32Array,
    bDims: readonly number[],
    y: Float32Array,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(BINARY, 0, a);
    rt.operand(BINARY, 1, b);
    rt.operand(BINARY, 2, y);
    readBinary(op, a, aDims, b, bDims, y, rt.key, rt.extents);
    rt.run(BINARY_ID);
  }

  /**
   * ONNX Conv on NCHW tensors: y = act(conv(x, w) + bias + residual), w of
   * shape outChannels × c/group × kh × kw, with ONNX's strides, pads (or
   * autoPad), dilations and groups. The bias, the residual (y's shape, a
   * ResNet shortcut) and the activation are applied in registers before y
   * is stored. y may not overlap any input. With `layout: "nhwc"`, x, y and
   * the residual are NHWC: a depthwise call (AVX-512, or AVX2 on 8 channels
   * or more), and at AVX-512 a call of one group on packed weights, run
   * kernels that read and write NHWC as it is; other calls are transposed
   * to NCHW and back around the NCHW kernels (the same bits; the transposes
   * cost memory passes).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(3 * 32 * 32).fill(1), w = new Float32Array(8 * 3 * 3 * 3).fill(0.1);
   * const y = new Float32Array(8 * 32 * 32);
   * jit.conv2d(x, w, y, { n: 1, c: 3, h: 32, w: 32, outChannels: 8, kernel: [3, 3], pads: [1, 1, 1, 1], activation: "relu" });
   * ```
   */
  conv2d(
    x: Float32Array,
    w: Float32Array | ConvWeights,
    y: Float32Array,
    options: Conv2dOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const packed = this.#packed(w);
    const wv = packed !== null ? packed.data : w as Float32Array;
    rt.operand(CONV, CONV_ARG.X, x);
    rt.operand(CONV, CONV_ARG.W, wv);
    rt.operand(CONV, CONV_ARG.Y, y);
    const ops = this.#convOperands;
    readConv(x, wv, y, options, rt.key, rt.extents, ops);
    if (packed !== null) this.#checkPacked(packed, "conv2d", false);
    // A depthwise handle's tap-major copy is the NHWC depthwise kernel's alone (set below): NCHW
    // keys go without it, as before it existed.
    const lanes = packed !== null && packed.group === 1 ? packed.lanes : 0;
    rt.key[CONV_W_LANES_SLOT] = lanes;
    rt.key[CONV_W_FINITE_SLOT] = lanes && packed!.finite ? 1 : 0;
    this.#vectorsOperand(CONV, packed !== null ? packed.vectors : wv, lanes);
    if (readLayout("conv2d", options.layout)) {
      // The channel-vector kernel computes NHWC as it is (its packed weights, one group, the
      // input channels nhwcChannelVectorsLevel asks), and so does the NHWC depthwise kernel
      // (any weights, the windows it takes, AVX-512 or AVX2 on 8 channels or more:
      // depthwise_nhwc.ts); each on an image under 2 GB, as they address x's positions by
      // 32-bit displacements. Other calls go through NCHW.
      const level = this.#level, k = rt.key;
      // (The handle's copy in this level's lanes: one packed by a Jit of another level has the
      // NCHW kernels' plain rows only, which the channel-vector kernel does not read.)
      const channelVectors = packed !== null && packed.lanes === this.#copyLanes &&
        packed.lanes !== 0 && k[16] === 1 && nhwcChannelVectorsLevel(level, k[2], k[6] * k[7]);
      const depthwise = k[16] === k[2] && k[5] === k[2] && depthwiseNhwcLevel(level, k[2]) &&
        depthwiseNhwcWindowFits(k[6], k[7]);
      if (!(channelVectors || depthwise) || k[2] * k[3] * k[4] * 4 >= 2 ** 31) {
        return this.#conv2dNhwc(x, w, wv, y, options);
      }
      if (depthwise && packed !== null && packed.lanes) {
        k[CONV_W_LANES_SLOT] = packed.lanes;
        k[CONV_W_FINITE_SLOT] = packed.finite ? 1 : 0;
        this.#vectorsOperand(CONV, packed.vectors, packed.lanes);
      }
      rt.key[CONV_NHWC_SLOT] = 1;
    }
    // Where x starts in its line, for the tiles that read it in runs of a plane (NCHW only: the
    // NHWC kernels read it by positions), where it can matter (xLineMatters).
    rt.key[CONV_X_LINE_SLOT] = rt.key[CONV_NHWC_SLOT] || !xLineMatters(rt.key)
      ? 0
      : xLineOf(rt.key[3] * rt.key[4], rt.lineOffset(CONV_ARG.X));
    rt.operand(CONV, CONV_ARG.BIAS, ops[0] ?? ABSENT);
    rt.operand(CONV, CONV_ARG.RESIDUAL, ops[1] ?? ABSENT);
    ops[0] = ops[1] = undefined;
    rt.run(CONV_ID);
  }

  /**
   * ONNX MaxPool / AveragePool (with kernel, strides, pads or autoPad,
   * dilations, ceilMode, countIncludePad) and GlobalMaxPool /
   * GlobalAveragePool on NCHW tensors (or NHWC with `layout: "nhwc"`, as
   * {@link conv2d}); global kinds write n×c values. Max propagates NaN.
   * Max windows also pool uint8 or int8 x into y of the same type (NCHW; a
   * quantized model's MaxPool: exact, a window of padding alone gives the
   * type's least value).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(64 * 112 * 112), y = new Float32Array(64 * 56 * 56);
   * jit.pool("max", x, y, { n: 1, c: 64, h: 112, w: 112, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
   * ```
   */
  pool(
    kind: PoolKind,
    x: Float32Array | Uint8Array | Int8Array,
    y: Float32Array | Uint8Array | Int8Array,
    options: PoolOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (!isFloat32Array(x)) return this.#poolBytes(kind, x, y, options);
    rt.operand(POOL, 0, x);
    rt.operand(POOL, 1, y);
    const yf = y as Float32Array; // checked by operand
    const kernel = readPool(kind, x, yf, options, rt.key, rt.extents);
    if (readLayout("pool", options.layout)) return this.#poolNhwc(kind, x, yf, options);
    if (kernel) return rt.run(POOL_ID);
    // Global pooling: a reduction over each plane (the shape as validated, options read once).
    const rows = this.#globalRows;
    rows.rows = rt.key[2];
    rows.cols = rt.key[3] * rt.key[4];
    this.reduce(kind === "globalMax" || kind === "max" ? "max" : "mean", x, yf, rows);
  }

  readonly #globalRows: ReduceOptions = { rows: 0, cols: 0 };

  /** pool of 8-bit x and y (max windows, NCHW): the bytes' own kernel, exact. */
  #poolBytes(kind: PoolKind, x: ArrayBufferView, y: ArrayBufferView, options: PoolOptions): void {
    const rt = this.#rt, xTag = typedArrayTag(x);
    if (xTag !== "Uint8Array" && xTag !== "Int8Array") {
      throw new TypeError(
        `pool: x must be a Float32Array, a Uint8Array or an Int8Array, got ${describe(x)}`,
      );
    }
    if (typedArrayTag(y) !== xTag) {
      throw new TypeError(`pool: y must be a ${xTag} as x is, got ${describe(y)}`);
    }
    readPool(kind, x, y, options, rt.key, rt.extents, xTag === "Uint8Array" ? 1 : 2);
    if (readLayout("pool", options.layout)) {
      throw new RangeError(`pool: 8-bit x and y pool in layout "nchw" only, got "nhwc"`);
    }
    rt.operand(POOL, 0, bytesView(x, "x", "pool"));
    rt.operand(POOL, 1, bytesView(y, "y", "pool"));
    rt.run(POOL_ID);
  }

  /**
   * ONNX ConvTranspose on NCHW tensors: w of shape c × outChannels/group ×
   * kh × kw; strides, pads (or autoPad), outputPadding, dilations, groups;
   * bias, residual and activation fused as in {@link conv2d}.
   */
  convTranspose2d(
    x: Float32Array,
    w: Float32Array | ConvWeights,
    y: Float32Array,
    options: ConvTranspose2dOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const packed = this.#packed(w);
    const wv = packed !== null ? packed.data : w as Float32Array;
    rt.operand(CONV_TRANSPOSE, CONV_ARG.X, x);
    rt.operand(CONV_TRANSPOSE, CONV_ARG.W, wv);
    rt.operand(CONV_TRANSPOSE, CONV_ARG.Y, y);
    const ops = this.#convOperands;
    readConvTranspose(x, wv, y, options, rt.key, rt.extents, ops);
    if (packed !== null) this.#checkPacked(packed, "convTranspose2d", true);
    let lanes = packed !== null ? packed.lanes : 0;
    let vectors = packed !== null ? packed.vectors : wv;
    if (packed === null && this.#repacksTransposed()) {
      const r = this.#repackTransposed(wv);
      rt.operand(CONV_TRANSPOSE, CONV_ARG.X, x);
      rt.operand(CONV_TRANSPOSE, CONV_ARG.W, r.data);
      rt.operand(CONV_TRANSPOSE, CONV_ARG.Y, y);
      lanes = this.#copyLanes;
      vectors = r.vectors;
    }
    rt.key[CONV_TRANSPOSE_W_LANES_SLOT] = lanes;
    rt.key[CONV_TRANSPOSE_X_LINE_SLOT] = xLineMattersTransposed(rt.key)
      ? xLineOf(rt.key[3] * rt.key[4], rt.lineOffset(CONV_ARG.X))
      : 0;
    this.#vectorsOperand(CONV_TRANSPOSE, vectors, lanes);
    rt.operand(CONV_TRANSPOSE, CONV_ARG.BIAS, ops[0] ?? ABSENT);
    rt.operand(CONV_TRANSPOSE, CONV_ARG.RESIDUAL, ops[1] ?? ABSENT);
    ops[0] = ops[1] = undefined;
    rt.run(CONV_TRANSPOSE_ID);
  }

  /**
   * ONNX BatchNormalization (inference) on NCHW: y = (x − mean)/√(var + ε)·
   * scale + bias per channel, as ONNX Runtime computes it (per-channel
   * factors first, then one multiply-add per element). y may be x. Where a
   * convolution precedes it, fold it instead ({@link foldBatchNorm}).
   */
  batchNorm(x: Float32Array, y: Float32Array, options: BatchNormOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(BATCHNORM, 0, x);
    rt.operand(BATCHNORM, 5, y);
    const ops = this.#bnOperands;
    readBatchNorm(x, y, options, rt.key, rt.extents, ops);
    for (let i = 0; i < 4; i++) rt.operand(BATCHNORM, 1 + i, ops[i]);
    ops[0] =
      ops[1] =
      ops[2] =
      ops[3] =
        undefined;
    rt.run(BATCHNORM_ID);
  }

  /**
   * A BatchNormalization folded into the Conv or ConvTranspose before it:
   * the bits of the exported {@link foldBatchNorm} (w'[oc] = w[oc]·a[oc] in
   * f64, rounded once), its weight products by native code at memory speed
   * (a model's create folds every weight of its convolutions: a TypeScript
   * loop ran at about 1 ns a weight warm and 17 cold), on the process's
   * packing Jit at this Jit's level, like the packers' copies: its one
   * kernel outlives any session. With `inPlace`, w is overwritten and
   * returned.
   */
  foldBatchNorm(w: Float32Array, bias: Float32Array | undefined, options: FoldOptions): FoldedConv {
    if (this.#rt.closed) throw new Error("Jit: this Jit is closed");
    const p = prepareFold(w, bias, options), y = p.out.w;
    if (!this.#jit) {
      foldProduct(w, p);
      return p.out;
    }
    const factors = scaleRowsFactors(p.factors, p.length);
    Jit.#packing(this.#isa, (jit) => {
      const rt = jit.#rt;
      rt.operand(SCALE_ROWS, 0, w);
      rt.operand(SCALE_ROWS, 1, factors);
      rt.operand(SCALE_ROWS, 2, y);
      readScaleRows(w, factors, y, rt.extents);
      rt.run(SCALE_ROWS_ID);
    });
    return p.out;
  }

  /**
   * ONNX Resize on the last two axes of NCHW: mode "nearest" (nearestMode
   * round_prefer_floor, round_prefer_ceil, floor, ceil, or "simple":
   * Resize-10's), "linear" or "cubic" (cubicCoeffA, excludeOutside), with
   * `antialias` the filters widened where an axis shrinks; coordinate
   * transforms half_pixel, asymmetric, align_corners, pytorch_half_pixel,
   * half_pixel_symmetric, tf_half_pixel_for_nn and tf_crop_and_resize
   * (`roi`, `extrapolationValue` outside x); edges repeat. An axis of scale
   * 1 maps to itself, as ONNX Runtime's does.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(4 * 4).map((_, i) => i), y = new Float32Array(2 * 2);
   * jit.resize(x, y, { n: 1, c: 1, h: 4, w: 4, outH: 2, outW: 2, mode: "linear", antialias: true });
   * ```
   */
  resize(x: Float32Array, y: Float32Array, options: ResizeOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(RESIZE, 0, x);
    rt.operand(RESIZE, 1, y);
    readResize(x, y, options, rt.key, rt.extents);
    rt.run(RESIZE_ID);
  }

  /**
   * Rotary position embedding (ONNX RotaryEmbedding; GroupQueryAttention's
   * rotation of Q and K): in each head of each token the pairs (x1, x2) —
   * halves (x[i], x[i + rotaryDim/2]) or, `interleaved`, neighbours — become
   * (cos·x1 − sin·x2, sin·x1 + cos·x2), each product and sum rounded to
   * float32 as ONNX's reference computes them; the head's elements past
   * `rotaryDim` are copied. cos and sin hold rows of rotaryDim/2: the row of
   * a token is its entry of `positions` (each checked against the rows
   * before any native code runs), or without positions the token's own
   * (batch·sequence rows). y may be x.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * // One token, one head of 4: rotated by 90° (cos 0, sin 1) at position 1.
   * const x = new Float32Array([1, 2, 3, 4]), y = new Float32Array(4);
   * const cos = new Float32Array([1, 1, 0, 0]), sin = new Float32Array([0, 0, 1, 1]);
   * jit.rotary(x, y, {
   *   batch: 1,
   *   sequence: 1,
   *   heads: 1,
   *   headSize: 4,
   *   cos,
   *   sin,
   *   positions: new Int32Array([1]),
   * }); // y = -3 -4 1 2
   * ```
   */
  rotary(x: Float32Array, y: Float32Array, options: RotaryOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(ROTARY, 0, x);
    rt.operand(ROTARY, 4, y);
    const tables = this.#rotaryTables;
    const positions = readRotary(x, y, options, rt.key, rt.extents, tables);
    rt.operand(ROTARY, 1, tables[0]);
    rt.operand(ROTARY, 2, tables[1]);
    tables[0] = tables[1] = undefined;
    rt.operand(ROTARY, 3, positions === null ? ABSENT : this.#positionsView(positions));
    rt.run(ROTARY_ID);
  }

  /**
   * Packs decision trees once for {@link treeLeaves}: every node checked
   * (children inside the forest, no cycle, features not negative) and
   * copied into private records the walk reads, with each tree's root and
   * depth. A leaf is a node whose `yes` and `no` are both -1.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * // One tree: x[1] <= 0.5 ? node 1 : node 2.
   * const forest = jit.packTrees({
   *   test: "leq",
   *   feature: new Int32Array([1, 0, 0]),
   *   threshold: new Float32Array([0.5, 0, 0]),
   *   yes: new Int32Array([1, -1, -1]),
   *   no: new Int32Array([2, -1, -1]),
   *   roots: new Int32Array([0]),
   * });
   * const leaves = new Int32Array(2);
   * jit.treeLeaves(new Float32Array([0, 0.25, 0, 0.75]), forest, leaves, {
   *   rows: 2,
   *   features: 2,
   * }); // leaves = 1 2
   * ```
   */
  packTrees(trees: TreesDescription): PackedTrees {
    if (this.#rt.closed) throw new Error("Jit: this Jit is closed");
    return new PackedTrees(trees);
  }

  /**
   * Walks each row of x (`rows` × `features` floats) down every tree of a
   * forest packed by {@link packTrees}: leaves[row·trees + tree] = the node
   * the row reaches. A NaN feature goes to `no` (to `yes` under "neq", and
   * where the node tracks missing values). Rows split between threads; a
   * leaf is the same whatever the split.
   */
  treeLeaves(
    x: Float32Array,
    forest: PackedTrees,
    leaves: Int32Array,
    options: TreeLeavesOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (!PackedTrees.is(forest)) {
      throw new TypeError(
        `treeLeaves: forest must be trees packed by jit.packTrees, got ${describe(forest)}`,
      );
    }
    if (typedArrayTag(leaves) !== "Int32Array") {
      throw new TypeError(`treeLeaves: leaves must be an Int32Array, got ${describe(leaves)}`);
    }
    const view = bytesView(leaves, "leaves", "treeLeaves");
    rt.operand(TREES, 0, x);
    rt.operand(TREES, 1, recordsOf(forest));
    rt.operand(TREES, 2, view);
    readTreeLeaves(x, forest, view, options, rt.key, rt.extents);
    rt.run(TREES_ID);
  }

  /**
   * Squared Euclidean distances: y[i·n + j] = Σₜ (a[i·k + t] − b[t·n + j])²
   * for the m rows of a (m × k) and the n points held as b's columns (k ×
   * n), each sum in float32 from +0 in the order of t with every
   * difference, square and sum rounded: the bits of a scalar loop, on
   * every level and thread count. ONNX-ML's RBF support vector kernels
   * (e^(−γ‖x − v‖²)) and nearest-neighbour search. y may not overlap a or b.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * // Two points of the plane against (0, 0) and (3, 4), held as columns.
   * const a = new Float32Array([0, 0, 3, 0]), b = new Float32Array([0, 3, 0, 4]);
   * const y = new Float32Array(4);
   * jit.squaredDistances(a, b, y, { m: 2, n: 2, k: 2 }); // y = 0 25 9 16
   * ```
   */
  squaredDistances(
    a: Float32Array,
    b: Float32Array,
    y: Float32Array,
    options: SquaredDistancesOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(DISTANCES, 0, a);
    rt.operand(DISTANCES, 1, b);
    rt.operand(DISTANCES, 2, y);
    readSquaredDistances(a, b, y, options, rt.key, rt.extents);
    rt.run(DISTANCES_ID);
  }

  /**
   * y[i] = mask[i] ≠ 0 ? a[i] : b[i] (ONNX Where), the elements moved as
   * bits (a Float32Array view of int32 or uint32 data selects those exactly);
   * a or b may hold one element for all. y may be a or b.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const y = new Float32Array(3);
   * jit.select(new Uint8Array([1, 0, 1]), new Float32Array([1, 2, 3]), new Float32Array([-1]), y);
   * // y = 1 -1 3
   * ```
   */
  select(mask: Uint8Array, a: Float32Array, b: Float32Array, y: Float32Array): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (typedArrayTag(mask) !== "Uint8Array") {
      throw new TypeError(`select: mask must be a Uint8Array, got ${describe(mask)}`);
    }
    rt.operand(SELECT, 1, a);
    rt.operand(SELECT, 2, b);
    rt.operand(SELECT, 3, y);
    const view = this.#maskView(mask);
    rt.operand(SELECT, 0, view);
    const shift = viewByteOffset(mask) - viewByteOffset(view);
    readSelect(
      shift,
      viewLength(mask),
      viewLength(a),
      viewLength(b),
      viewLength(y),
      rt.key,
      rt.extents,
    );
    rt.run(SELECT_ID);
  }

  /**
   * A float view of no elements at the 4-byte boundary at or before `mask`'s first byte: the
   * select kernel's operand (a Float32Array cannot start between boundaries), its address the
   * runtime's; the call's read bounds every byte the kernel touches by the mask's own length.
   * Kept for the mask's next calls.
   */
  #maskView(mask: Uint8Array): Float32Array {
    if (mask === this.#maskSeen) return this.#maskFloat;
    const offset = viewByteOffset(mask);
    this.#maskFloat = new Float32Array(viewBuffer(mask), offset - (offset % 4), 0);
    this.#maskSeen = mask;
    return this.#maskFloat;
  }
  #maskSeen: Uint8Array | null = null;
  #maskFloat: Float32Array = ABSENT;

  /**
   * Scaled dot-product attention, per head: y = softmax(scale·q·kᵀ + bias)·v
   * (softmax over the keys, max-subtracted), in one pass per block of query
   * rows: no heads × queries × keys array is written. Layout "bshd" (the
   * default: q [batch, queries, heads·headSize], k and v [batch, keys,
   * kvHeads·size], y [batch, queries, heads·vHeadSize]) or "bhsd"; kvHeads
   * below heads for grouped-query attention; `bias` rows of `keys` broadcast
   * as `biasShape` says. y may not overlap an input.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const q = new Float32Array(4 * 8), k = new Float32Array(6 * 8), v = new Float32Array(6 * 8);
   * const y = new Float32Array(4 * 8);
   * jit.attention(q, k, v, y, { batch: 1, heads: 1, queries: 4, keys: 6, headSize: 8 });
   * ```
   */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    y: Float32Array,
    options: AttentionOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(ATTENTION, 0, q);
    rt.operand(ATTENTION, 1, k);
    rt.operand(ATTENTION, 2, v);
    rt.operand(ATTENTION, 4, y);
    const bias = readAttention(q, k, v, y, options, rt.key, rt.extents);
    rt.operand(ATTENTION, 3, bias ?? ABSENT);
    rt.run(ATTENTION_ID);
  }

  /** The float32 view the runtime takes int32 positions as (the last one kept: no garbage a call). */
  #positionsView(p: Int32Array): Float32Array {
    if (p !== this.#positionsSeen) {
      this.#positionsFloat = new Float32Array(viewBuffer(p), viewByteOffset(p), viewLength(p));
      this.#positionsSeen = p;
    }
    return this.#positionsFloat;
  }

  /**
   * A strided copy: y[Σ idx·yStride] = x[Σ idx·xStride] over `dims`
   * (outermost first; yStrides default to y dense), x and y views at their
   * first element. Moves bits, so a Float32Array view of any 4-byte type
   * copies it exactly. A transpose, a concatenation's part, a slice: one
   * call. y may not overlap x.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(6).map((_, i) => i), y = new Float32Array(6);
   * jit.copy(x, y, { dims: [3, 2], xStrides: [1, 3] }); // the transpose of 2×3: y = 0 3 1 4 2 5
   * ```
   */
  copy(x: Float32Array, y: Float32Array, options: CopyOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(COPY, 0, x);
    rt.operand(COPY, 1, y);
    if (readCopy(x, y, options, rt.key, rt.extents)) rt.run(COPY_ID);
  }

  /**
   * conv2d on NHWC x, y and residual (validated as NCHW: the same sizes):
   * x and the residual transposed to NCHW scratch tensors, the NCHW call,
   * its y transposed back; every step an exact copy, so the bits are the
   * NCHW call's. y may not overlap an input here either.
   */
  #conv2dNhwc(
    x: Float32Array,
    w: Float32Array | ConvWeights,
    wv: Float32Array,
    y: Float32Array,
    o: Conv2dOptions,
  ): void {
    const k = this.#rt.key, ops = this.#convOperands;
    const bias = ops[0], residual = ops[1];
    ops[0] = ops[1] = undefined;
    const n = k[1], c = k[2], oc = k[5], plane = k[3] * k[4], ny = viewLength(y);
    const planeY = ny / (n * oc);
    disjoint("conv2d", y, "x", x);
    disjoint("conv2d", y, "w", wv);
    disjoint("conv2d", y, "bias", bias);
    disjoint("conv2d", y, "residual", residual);
    // The NCHW call's options from the validated key (autoPad resolved into pads).
    const q = this.#nchwConv;
    q.n = n, q.c = c, q.h = k[3], q.w = k[4], q.outChannels = oc, q.group = k[16];
    // Slots 6-15: kernel, strides, dilations, pads (q's arrays).
    const I = this.#nchwInts;
    I[0][0] = k[6],
      I[0][1] = k[7],
      I[1][0] = k[8],
      I[1][1] = k[9],
      I[2][0] = k[10],
      I[2][1] = k[11];
    for (let i = 0; i < 4; i++) I[3][i] = k[12 + i];
    q.bias = bias, q.activation = o.activation;
    const X = this.#scratchOf(0, n * c * plane), Y = this.#scratchOf(1, ny);
    this.#transpose(x, X, n, plane, c);
    if (residual) this.#transpose(residual, q.residual = this.#scratchOf(2, ny), n, planeY, oc);
    else q.residual = undefined;
    this.conv2d(X, w, Y, q);
    this.#transpose(Y, y, n, oc, planeY);
  }

  /** pool on NHWC x and y, as conv2d's: x transposed to NCHW, the NCHW call, y back. */
  #poolNhwc(kind: PoolKind, x: Float32Array, y: Float32Array, o: PoolOptions): void {
    const n = o.n, c = o.c, plane = viewLength(x) / (n * c), ny = viewLength(y);
    disjoint("pool", y, "x", x);
    // The NCHW call re-reads and re-validates these (a changed getter fails there).
    const q = this.#nchwPool;
    q.n = n, q.c = c, q.h = o.h, q.w = o.w, q.kernel = o.kernel, q.strides = o.strides;
    q.pads = o.pads, q.autoPad = o.autoPad, q.dilations = o.dilations, q.ceilMode = o.ceilMode;
    q.countIncludePad = o.countIncludePad;
    const X = this.#scratchOf(0, n * c * plane);
    this.#transpose(x, X, n, plane, c);
    // Global kinds write n×c values: the same order in both layouts.
    if (kind === "globalMax" || kind === "globalAverage") return this.pool(kind, X, y, q);
    const Y = this.#scratchOf(1, ny);
    this.pool(kind, X, Y, q);
    this.#transpose(Y, y, n, c, ny / (n * c));
  }

  /**
   * y[i][b][a] = x[i][a][b] for n images of rows × cols (NHWC → NCHW is
   * rows = positions, cols = channels; NCHW → NHWC the other way round).
   */
  #transpose(x: Float32Array, y: Float32Array, n: number, rows: number, cols: number): void {
    const t = this.#transposeOptions, image = rows * cols;
    t.dims[0] = n, t.dims[1] = cols, t.dims[2] = rows;
    t.xStrides[0] = image, t.xStrides[1] = 1, t.xStrides[2] = cols;
    t.yStrides[0] = image, t.yStrides[1] = rows, t.yStrides[2] = 1;
    this.copy(x, y, t);
  }

  /**
   * Scratch tensor `i` (NHWC calls' NCHW x, y, residual) of `count`
   * elements: grown when too short (the old one kept: a recorded call list
   * may still hold it), its view of that length reused while the length
   * stays the same. While calls are recorded or a recorded list runs, a
   * fresh one (the list holds it until it has run): lists run on other
   * threads, and a shared tensor would be written by two at once.
   */
  #scratchOf(i: number, count: number): Float32Array {
    if (this.#rt.listsActive) {
      const fresh = new Float32Array(count);
      // Recorded: held by the recording (its calls write it later), whatever it retains.
      if (this.#rt.recording) this.#recScratch.push(fresh);
      return fresh;
    }
    let buf = this.#scratch[i];
    if (buf.length < count) {
      if (buf.length > 0) this.#outgrown.push(buf);
      buf = this.#scratch[i] = new Float32Array(Math.max(count, 2 * buf.length));
      this.#scratchViews[i] = buf;
    }
    const view = this.#scratchViews[i];
    if (view.length === count && view.buffer === buf.buffer) return view;
    return this.#scratchViews[i] = buf.subarray(0, count);
  }

  readonly #scratch: Float32Array[] = [0, 0, 0].map(() => new Float32Array(0));
  readonly #scratchViews: Float32Array[] = [...this.#scratch];
  readonly #outgrown: Float32Array[] = [];
  /** Fresh scratch tensors of the calls being recorded. */
  #recScratch: Float32Array[] = [];
  /** The NCHW call's kernel, strides, dilations and pads (conv2d key slots 6-15). */
  readonly #nchwInts: number[][] = [[1, 1], [1, 1], [1, 1], [0, 0, 0, 0]];
  readonly #nchwConv: Conv2dOptions = {
    n: 1,
    c: 1,
    h: 1,
    w: 1,
    outChannels: 1,
    kernel: this.#nchwInts[0],
    strides: this.#nchwInts[1],
    dilations: this.#nchwInts[2],
    pads: this.#nchwInts[3],
  };

  readonly #nchwPool: PoolOptions = { n: 1, c: 1, h: 1, w: 1 };
  readonly #transposeOptions: { dims: number[]; xStrides: number[]; yStrides: number[] } = {
    dims: [0, 0, 0],
    xStrides: [0, 0, 0],
    yStrides: [0, 0, 0],
  };

  readonly #bnOperands: (Float32Array | undefined)[] = [undefined, undefined, undefined, undefined];
  readonly #rotaryTables: (Float32Array | undefined)[] = [undefined, undefined];
  #positionsSeen: Int32Array | null = null;
  #positionsFloat: Float32Array = ABSENT;
  readonly #convOperands: (Float32Array | undefined)[] = [undefined, undefined];
  #wSeen: unknown = undefined;
  #wPacked: ConvWeights | null = null;

  /** w as packed weights, or null (the brand check once per distinct w). */
  #packed(w: unknown): ConvWeights | null {
    if (w !== this.#wSeen) {
      this.#wSeen = w;
      this.#wPacked = ConvWeights.is(w) ? w : null;
    }
    return this.#wPacked;
  }

  /**
   * Whether a convTranspose2d call on plain weights (its key read) repacks
   * them: an AVX-512 Jit, stride 2 across, one group — the calls the kernel
   * by output phases serves, which reads the channel-vector layout of packed
   * weights (conv/transpose_phases.ts). Without it such a call ran the
   * upsampled convolution, its FMAs on the zeros between x's elements too:
   * 2×2/2 64→64 on 80² took 4.03× the packed call's time, and 1.01× with
   * its 64 KiB of weights copied twice a call (Zen 5, 1 thread, `deno run
   * -A bench/plain_weights.ts`, the commit before and this one).
   */
  #repacksTransposed(): boolean {
    return this.#copyLanes !== 0 && phasesServeRepacked(this.#rt.key, this.#level);
  }

  /**
   * Rooms of the last shapes repacked (a few: a model's ConvTranspose layers of computed
   * weights alternate), in V8's memory so a room outgrown is collected.
   */
  readonly #repacked: RepackedWeights[] = [];
  #repackedNext = 0;
  readonly #keyKept = new Int32Array(MAX_KEY_SLOTS);
  readonly #extentsKept = new Float64Array(MAX_OPERANDS);
  readonly #ownCopy: StridedCopy = (x, y, o) => this.copy(x, y, o);

  /**
   * Plain ConvTranspose weights (checked by the call's read) copied into the
   * layout of packed ones by this Jit's own strided copies (so a recorded
   * list repacks as it runs); the call's key and extents, which the copies'
   * calls overwrite, are kept around them. Returns the room: its ONNX copy
   * to pass as w, its channel-vector copy as wVectors.
   */
  #repackTransposed(w: Float32Array): RepackedWeights {
    const rt = this.#rt, key = rt.key;
    const { oc, c, taps } = transposedWeightShape(key);
    const rooms = this.#repacked;
    let r: RepackedWeights | undefined;
    if (this.#rt.listsActive) {
      // As #scratchOf: a list's calls run later, on another thread; each gets its own room.
      r = new RepackedWeights(oc, c, taps, this.#copyLanes, v8Floats);
      if (this.#rt.recording) this.#recScratch.push(r.data);
    } else {
      for (let i = 0; i < rooms.length && r === undefined; i++) {
        if (rooms[i].fits(oc, c, taps)) r = rooms[i];
      }
      if (r === undefined) {
        r = rooms[this.#repackedNext] = new RepackedWeights(
          oc,
          c,
          taps,
          this.#copyLanes,
          v8Floats,
        );
        this.#repackedNext = (this.#repackedNext + 1) % REPACKED_ROOMS;
      }
    }
    this.#keyKept.set(key);
    this.#extentsKept.set(rt.extents);
    r.pack(w, this.#ownCopy);
    key.set(this.#keyKept);
    rt.extents.set(this.#extentsKept);
    return r;
  }

  /**
   * The operand wVectors of a conv call: the channel-vector copy where the
   * key has lanes (its bytes the call's extent), else w again (not read).
   */
  #vectorsOperand(f: typeof CONV, vectors: Float32Array, lanes: number): void {
    const rt = this.#rt;
    rt.operand(f, CONV_ARG.WV, vectors);
    rt.extents[CONV_ARG.WV] = lanes ? 4 * viewLength(vectors) : 0;
  }

  /** Packed weights must have been packed for the call's shape (key slots already read). */
  #checkPacked(p: ConvWeights, who: string, transposed: boolean): void {
    const k = this.#rt.key;
    const group = k[transposed ? 18 : 16];
    const err = p.mismatch(who, k[5], k[2], group, k[6], k[7], transposed);
    if (err) throw err;
  }

  /**
   * Packs convolution weights once: a private, line-aligned copy checked
   * against its shape (with `inPlace`, w itself, which the caller then
   * never changes), and on AVX-512 a channel-vector copy, accepted by
   * {@link conv2d} (or, with `transposed`, {@link convTranspose2d}) in
   * place of w. A model holds its constant weights this way, in place.
   */
  packConvWeights(w: Float32Array, options: ConvWeightsOptions): ConvWeights {
    if (this.#rt.closed) throw new Error("Jit: this Jit is closed");
    // AVX-512 and AVX2 code may read them as channel vectors too (conv/channel_vectors.ts).
    const lanes = this.#copyLanes;
    return new ConvWeights(
      w,
      options,
      this.#jit ? viewAddress : () => 0,
      lanes,
      this.#packCopy,
      this.#floats,
      this.#finite,
    );
  }
  readonly #gemmOperands: (Float32Array | undefined)[] = [undefined];
  /**
   * A session's large memory (native/large_memory.ts), given by
   * {@link useLargeMemory}; null: V8's. Not for a Jit of its own: V8 does
   * not count our mappings, so handles packed in a loop and dropped were
   * collected late (`bench/memory_growth.ts`: RSS 2.1 GB against 290 MB on
   * V8's own buffers, which press its collector).
   */
  #memory: LargeMemory | null = null;

  static {
    setMemory = (jit, memory) => {
      jit.#memory = memory;
    };
    awake = (jit) => jit.#rt.workerAwake();
  }
  /** Packers' zeroed, line-aligned arrays: from a session's memory where one was given. */
  get #floats(): ((length: number) => Float32Array) | undefined {
    const memory = this.#memory;
    return this.#jit && memory !== null ? (length) => memory.floats(length) : undefined;
  }
  /**
   * Packers' transposes through a strided copy where native code runs (else their own
   * loops): the process's packing Jit's at this Jit's level, whose kernels outlive any one
   * Jit. A copy moves bits, so whichever Jit runs it gives the same weights; compiled once
   * per process, a model's packing copies cost its every later create nothing but the
   * copies (the CNN's creates compiled about 2 ms of them each).
   */
  get #packCopy(): StridedCopy | undefined {
    const isa = this.#isa;
    return this.#jit ? (x, y, o) => Jit.#packing(isa, (p) => p.copy(x, y, o)) : undefined;
  }

  /**
   * Whether every float of x is finite (a sum of x − x: kernels/finite), by
   * the process's packing Jit at this Jit's level where native code runs.
   */
  get #finite(): ((x: Float32Array) => boolean) | undefined {
    const isa = this.#isa;
    return this.#jit ? (x) => Jit.#packing(isa, (p) => p.#allFinite(x)) : undefined;
  }

  /** Whether every float of x is finite (x not empty), by this Jit's allFinite kernel. */
  #allFinite(x: Float32Array): boolean {
    const rt = this.#rt, flag = Jit.#finiteFlag;
    rt.operand(ALL_FINITE, 0, x);
    rt.operand(ALL_FINITE, 1, flag);
    readAllFinite(x, flag, rt.extents);
    rt.run(ALL_FINITE_ID);
    return flag[0] === 0;
  }
  static readonly #finiteFlag = new Float32Array(2);

  /**
   * `work` on the process's packing Jit of level `isa` (one thread, never
   * tuned, made on first use), which then forgets the operands it was given:
   * it lives as long as the process, and a source it kept (a view of a
   * model file's bytes) would keep that file alive after its session was
   * released.
   */
  static #packing<T>(isa: IsaLevel, work: (p: Jit) => T): T {
    let p = packers.get(isa);
    if (p === undefined) packers.set(isa, p = new Jit({ threads: 1, tuneBudget: 0, maxIsa: isa }));
    try {
      return work(p);
    } finally {
      p.#rt.forgetOperands();
    }
  }
  #bSeen: unknown = undefined;
  #bPacked: PackedB | null = null;

  /**
   * Packs GEMM weights once: op(B) as a line-aligned copy (transposed here
   * when `transB`), passed to {@link Jit.gemm} in place of b (without
   * transB or ldb), so no call transposes or re-checks them. `layout`
   * "panels" (default) stores column panels of 64 whole, which calls of few
   * rows stream at the read bound and threads split as one stream each (a
   * model's weights are held this way); "rows" is a dense k×n copy whose
   * products have the bits of the same call on a plain B.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const w = new Float32Array(1024 * 784).fill(0.01); // a Linear layer's weights, out × in
   * const packed = jit.packB(w, { k: 784, n: 1024, transB: true });
   * const x = new Float32Array(784).fill(1), y = new Float32Array(1024);
   * jit.gemm(x, packed, y, { m: 1, n: 1024, k: 784 });
   * ```
   */
  packB(b: Float32Array, options: PackBOptions): PackedB {
    if (this.#rt.closed) throw new Error("Jit: this Jit is closed");
    return packB(b, options, this.#jit ? viewAddress : () => 0, this.#packCopy, this.#floats);
  }

  /**
   * B (int8, k × n, row stride `ldb`, default n) packed for {@link gemmInt8}:
   * groups of 4 rows interleaved per column, padded with zeros, and its
   * column sums (for zero-point corrections).
   */
  packInt8B(b: Int8Array, options: { k: number; n: number; ldb?: number }): PackedInt8B {
    if (typedArrayTag(b) !== "Int8Array") {
      throw new TypeError(`packInt8B: b must be an Int8Array, got ${describe(b)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `packInt8B: options must be an object with k and n, got ${describe(options)}`,
      );
    }
    const { k, n } = options, ldb = options.ldb ?? n;
    for (const [name, v] of [["k", k], ["n", n], ["ldb", ldb]] as const) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1 << 24) {
        throw new RangeError(
          `packInt8B: ${name} must be an integer in [0, 2^24], got ${String(v)}`,
        );
      }
    }
    if (ldb < n) throw new RangeError(`packInt8B: ldb ${ldb} is less than n ${n}`);
    const need = k > 0 && n > 0 ? (k - 1) * ldb + n : 0;
    if (viewLength(b) < need) {
      throw new RangeError(
        `packInt8B: b has ${viewLength(b)} elements, k×n with ldb=${ldb} needs ${need}`,
      );
    }
    const packed = packInt8B(b, k, n, ldb);
    PACKED_INT8.add(packed);
    return packed;
  }

  /**
   * C (int32, m × n) = A (uint8, m × k) · B (int8, packed by
   * {@link packInt8B}) + an optional int32 per column (`bias`), exactly,
   * sums wrapping as int32 (ONNX MatMulInteger's product; B's column sums
   * come with it, per-column terms go in `bias`; A's zero point, when
   * `aZeroPoint` holds it, is read as the kernel runs, so a zero point
   * computed by an earlier call needs no trip through JavaScript). AVX-512 VNNI `vpdpbusd` tiles where the CPU has them, else
   * a scalar loop; A's rows `lda` bytes apart (a multiple of 4 of at least k
   * rounded up to 4: the bytes past k are read and multiplied by zeros).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const b = jit.packInt8B(new Int8Array(64 * 32).fill(-3), { k: 64, n: 32 });
   * const c = new Int32Array(8 * 32);
   * jit.gemmInt8(new Uint8Array(8 * 64).fill(200), b, c, { m: 8, n: 32, k: 64 });
   * ```
   */
  gemmInt8(
    a: Uint8Array,
    b: PackedInt8B,
    c: Int32Array | Float32Array,
    options: Int8GemmOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (typedArrayTag(a) !== "Uint8Array") {
      throw new TypeError(`gemmInt8: a must be a Uint8Array, got ${describe(a)}`);
    }
    const tag = typedArrayTag(c);
    if (tag !== "Int32Array" && tag !== "Float32Array") {
      throw new TypeError(
        `gemmInt8: c must be an Int32Array or a Float32Array, got ${describe(c)}`,
      );
    }
    if (!PACKED_INT8.has(b)) {
      throw new TypeError(`gemmInt8: b must be made by jit.packInt8B, got ${describe(b)}`);
    }
    const o = options !== null && typeof options === "object" ? options : null;
    const bias = o?.bias, scale = o?.scale, aZero = o?.aZeroPoint, floatBias = o?.floatBias;
    if (floatBias !== undefined && !isFloat32Array(floatBias)) {
      throw new TypeError(`gemmInt8: floatBias must be a Float32Array, got ${describe(floatBias)}`);
    }
    if (tag !== "Float32Array" && (floatBias !== undefined || o?.activation !== undefined)) {
      throw new TypeError("gemmInt8: floatBias and activation need a Float32Array c (and a scale)");
    }
    if (aZero !== undefined && (typedArrayTag(aZero) !== "Uint8Array" || viewLength(aZero) < 1)) {
      throw new TypeError(
        `gemmInt8: aZeroPoint must be a Uint8Array of at least 1 element, got ${describe(aZero)}`,
      );
    }
    if (bias !== undefined && typedArrayTag(bias) !== "Int32Array") {
      throw new TypeError(`gemmInt8: bias must be an Int32Array, got ${describe(bias)}`);
    }
    if ((tag === "Float32Array") !== (scale !== undefined)) {
      throw new TypeError(
        "gemmInt8: a Float32Array c takes a scale (a Float32Array), an Int32Array c none",
      );
    }
    if (scale !== undefined && !isFloat32Array(scale)) {
      throw new TypeError(`gemmInt8: scale must be a Float32Array, got ${describe(scale)}`);
    }
    const av = bytesView(a, "a"),
      cv = tag === "Float32Array" ? c as Float32Array : bytesView(c, "c");
    const bv = bias === undefined ? null : bytesView(bias, "bias");
    rt.operand(QGEMM, 0, av);
    rt.operand(QGEMM, 1, b.view);
    rt.operand(QGEMM, 2, bv ?? ABSENT);
    rt.operand(QGEMM, 3, scale ?? ABSENT);
    rt.operand(QGEMM, 4, aZero === undefined ? ABSENT : bytesView(aZero, "aZeroPoint"));
    rt.operand(QGEMM, 5, floatBias ?? ABSENT);
    rt.operand(QGEMM, 6, cv);
    readQGemm(
      viewLength(a),
      b,
      cv,
      bv,
      scale ?? null,
      aZero !== undefined,
      floatBias ?? null,
      options,
      rt.key,
      rt.extents,
    );
    rt.run(QGEMM_ID);
  }
  /**
   * Convolution weights (int8, ONNX's outChannels × c × kh × kw) packed for
   * {@link convInt8}: per output channel, group of 4 input channels and tap,
   * the 4 channels' bytes together, then each output channel's Σw (for x's
   * zero point).
   */
  packConvInt8(
    w: Int8Array,
    options: { outChannels: number; c: number; kernel: readonly number[] },
  ): PackedConvInt8 {
    if (typedArrayTag(w) !== "Int8Array") {
      throw new TypeError(`packConvInt8: w must be an Int8Array, got ${describe(w)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `packConvInt8: options must be an object with outChannels, c and kernel, got ${
          describe(options)
        }`,
      );
    }
    const { outChannels, c, kernel } = options;
    if (!Array.isArray(kernel) || kernel.length !== 2) {
      throw new TypeError(`packConvInt8: kernel must be [kh, kw], got ${describe(kernel)}`);
    }
    const [kh, kw] = kernel;
    for (
      const [name, v, max] of [
        ["outChannels", outChannels, 1 << 24],
        ["c", c, 1 << 24],
        ["kernel[0]", kh, 16],
        ["kernel[1]", kw, 16],
      ] as const
    ) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
        throw new RangeError(`packConvInt8: ${name} must be an integer in [1, ${max}], got ${v}`);
      }
    }
    const need = outChannels * c * kh * kw;
    if (need > 2 ** 30 || viewLength(w) !== need) {
      throw new RangeError(
        `packConvInt8: w has ${viewLength(w)} elements, outChannels×c×kh×kw needs ${need}`,
      );
    }
    const packed = packConvInt8(w, outChannels, c, kh, kw);
    PACKED_CONV_INT8.add(packed);
    return packed;
  }

  /**
   * An 8-bit convolution (ONNX ConvInteger, or QLinearConv with `scale`):
   * x (uint8 or int8, NCHW) with weights packed by {@link packConvInt8},
   * y = Σ (x − xZeroPoint)·w + bias exactly in int32 (an Int32Array y), or
   * requantized into a Uint8Array/Int8Array y as ONNX Runtime does it: each
   * sum as a float32 times `scale` (one, or per output channel), clamped to
   * y's range less `yZeroPoint`, rounded half to even, `yZeroPoint` added.
   * Group 1; strides, dilations, pads and auto_pad as `jit.conv2d` takes
   * them. AVX-512 VNNI `vpdpbusd` tiles where the CPU has them, else a
   * scalar loop; threads split the output rows.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const w = jit.packConvInt8(new Int8Array(8 * 4 * 9).fill(1), { outChannels: 8, c: 4, kernel: [3, 3] });
   * const x = new Uint8Array(4 * 6 * 6).fill(3), y = new Uint8Array(8 * 6 * 6);
   * jit.convInt8(x, w, y, {
   *   n: 1, c: 4, h: 6, w: 6, outChannels: 8, kernel: [3, 3], pads: [1, 1, 1, 1],
   *   xZeroPoint: 1, scale: Float32Array.of(0.5), yZeroPoint: 10,
   * });
   * // y's centre: 36 products of (3 − 1)·1 = 72, × 0.5 + 10 = 46
   * ```
   */
  convInt8(
    x: Uint8Array | Int8Array,
    w: PackedConvInt8,
    y: Int32Array | Uint8Array | Int8Array,
    options: ConvInt8Options,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const xTag = byteTag("convInt8", "x", x), yTag = typedArrayTag(y);
    if (yTag !== "Int32Array" && yTag !== "Uint8Array" && yTag !== "Int8Array") {
      throw new TypeError(
        `convInt8: y must be an Int32Array, a Uint8Array or an Int8Array, got ${describe(y)}`,
      );
    }
    if (!PACKED_CONV_INT8.has(w)) {
      throw new TypeError(`convInt8: w must be made by jit.packConvInt8, got ${describe(w)}`);
    }
    const o = options !== null && typeof options === "object" ? options : null;
    const bias = o?.bias, scale = o?.scale;
    if (bias !== undefined && typedArrayTag(bias) !== "Int32Array") {
      throw new TypeError(`convInt8: bias must be an Int32Array, got ${describe(bias)}`);
    }
    if (scale !== undefined && !isFloat32Array(scale)) {
      throw new TypeError(`convInt8: scale must be a Float32Array, got ${describe(scale)}`);
    }
    const out = yTag === "Int32Array" ? 0 : yTag === "Uint8Array" ? 1 : 2;
    const xv = bytesView(x, "x", "convInt8"), yv = bytesView(y, "y", "convInt8");
    const bv = bias === undefined ? null : bytesView(bias, "bias", "convInt8");
    readQConv(
      viewLength(x),
      xTag === "Int8Array",
      w,
      viewLength(y),
      out,
      bias ?? null,
      scale ?? null,
      options,
      rt.key,
      rt.extents,
    );
    rt.operand(QCONV, 0, xv);
    rt.operand(QCONV, 1, w.view);
    rt.operand(QCONV, 2, bv ?? ABSENT);
    rt.operand(QCONV, 3, scale ?? ABSENT);
    rt.operand(QCONV, 4, yv);
    rt.run(QCONV_ID);
  }

  /**
   * ONNX QuantizeLinear with one scale and zero point: each
   * y = saturate(round(x / scale) + zeroPoint), the division in float32,
   * rounding half to even, a NaN giving 0 — ONNX Runtime's bits.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const y = new Uint8Array(4);
   * jit.quantizeLinear(Float32Array.of(-1, 0, 0.25, 9), y, { scale: 0.1, zeroPoint: 10 });
   * // y = [0, 10, 12, 100]: −10 + 10, 0 + 10, 2.5 → 2 (half to even) + 10, 90 + 10
   * ```
   */
  quantizeLinear(x: Float32Array, y: Uint8Array | Int8Array, options: QuantizeLinearOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const tag = byteTag("quantizeLinear", "y", y);
    if (!isFloat32Array(x)) {
      throw new TypeError(`quantizeLinear: x must be a Float32Array, got ${describe(x)}`);
    }
    readQuantizeLinear(
      viewLength(x),
      viewLength(y),
      tag === "Int8Array",
      options,
      rt.key,
      rt.extents,
    );
    rt.operand(QLINEAR, 0, x);
    rt.operand(QLINEAR, 1, ABSENT);
    rt.operand(QLINEAR, 2, bytesView(y, "y", "quantizeLinear"));
    rt.run(QLINEAR_ID);
  }

  /**
   * ONNX DequantizeLinear with one scale and zero point: each
   * y = (x − zeroPoint)·scale in float32 (with scale 1 and zero point 0, the
   * bytes' values exactly).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const y = new Float32Array(3);
   * jit.dequantizeLinear(Uint8Array.of(0, 128, 255), y, { scale: 0.5, zeroPoint: 128 });
   * // y = [-64, 0, 63.5]
   * ```
   */
  dequantizeLinear(
    x: Uint8Array | Int8Array,
    y: Float32Array,
    options: DequantizeLinearOptions,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const tag = byteTag("dequantizeLinear", "x", x);
    if (!isFloat32Array(y)) {
      throw new TypeError(`dequantizeLinear: y must be a Float32Array, got ${describe(y)}`);
    }
    readDequantizeLinear(
      viewLength(x),
      viewLength(y),
      tag === "Int8Array",
      options,
      rt.key,
      rt.extents,
    );
    rt.operand(QLINEAR, 0, bytesView(x, "x", "dequantizeLinear"));
    rt.operand(QLINEAR, 1, ABSENT);
    rt.operand(QLINEAR, 2, y);
    rt.run(QLINEAR_ID);
  }

  /**
   * Rows of float32 sums (exact integers: a convolution of 8-bit values
   * computed in floats) requantized as QLinearConv's store does: row r's
   * multiplier `multipliers[r mod multipliers.length]` (an NCHW channel's),
   * each y = saturate(round(f32(x·m)) + zeroPoint), clamped first to y's
   * range less the zero point, half to even; a NaN gives 0.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const y = new Uint8Array(4);
   * jit.requantize(Float32Array.of(10, 300, 10, 300), y, {
   *   cols: 2,
   *   multipliers: Float32Array.of(0.5, 0.25),
   *   zeroPoint: 100,
   * });
   * // y = [105, 250, 102, 175]: row 0 × 0.5, row 1 × 0.25 (2.5 → 2, half to even), + 100
   * ```
   */
  requantize(x: Float32Array, y: Uint8Array | Int8Array, options: RequantizeOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const tag = byteTag("requantize", "y", y);
    if (!isFloat32Array(x)) {
      throw new TypeError(`requantize: x must be a Float32Array, got ${describe(x)}`);
    }
    const m = options !== null && typeof options === "object" ? options.multipliers : undefined;
    if (!isFloat32Array(m)) {
      throw new TypeError(`requantize: multipliers must be a Float32Array, got ${describe(m)}`);
    }
    readRequantize(
      viewLength(x),
      viewLength(y),
      tag === "Int8Array",
      viewLength(m),
      options,
      rt.key,
      rt.extents,
    );
    rt.operand(QLINEAR, 0, x);
    rt.operand(QLINEAR, 1, m);
    rt.operand(QLINEAR, 2, bytesView(y, "y", "requantize"));
    rt.run(QLINEAR_ID);
  }

  /**
   * com.microsoft QLinearMul of byte tensors, as ONNX Runtime computes it:
   * each y = saturate(round(f32(f32((a − aZeroPoint)·(b − bZeroPoint)·ratio)
   * + yZeroPoint))), ratio = aScale·bScale/yScale in float32; b of a's
   * shape, or broadcast (`broadcast`: "row" or "span", as
   * {@link qlinearAdd} takes it). a, b and y all Uint8Arrays or all
   * Int8Arrays; y may be a.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const a = Uint8Array.of(10, 20, 30, 40), y = new Uint8Array(4);
   * // Each row of 2 times its channel's value (an SE block's gate).
   * jit.qlinearMul(a, Uint8Array.of(2, 3), y, {
   *   aScale: 1, bScale: 1, yScale: 1, broadcast: "span", cols: 2,
   * });
   * // y = [20, 40, 90, 120]
   * ```
   */
  qlinearMul(
    a: Uint8Array | Int8Array,
    b: Uint8Array | Int8Array,
    y: Uint8Array | Int8Array,
    options: QLinearAddOptions,
  ): void {
    this.#qlinearBinary(true, a, b, y, options);
  }

  /**
   * com.microsoft QLinearAdd of byte tensors, as ONNX Runtime computes it:
   * the ratios r1 = aScale/yScale, r2 = bScale/yScale and fixed =
   * yZeroPoint − (r1·aZeroPoint + r2·bZeroPoint) in float32, each
   * y = saturate(round(fma(a, r1, fma(b, r2, fixed)))), half to even. b of
   * a's shape; or `broadcast: "row"` (a is rows of `cols`, b one row) or
   * `"span"` (row r takes b[r mod b.length]: then y = round(fma(a, r1,
   * f32(fixed + f32(b·r2)))), its kernel's scalar form). a, b and y all
   * Uint8Arrays or all Int8Arrays; y may be a.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const a = Uint8Array.of(10, 200), b = Uint8Array.of(20, 100), y = new Uint8Array(2);
   * jit.qlinearAdd(a, b, y, { aScale: 0.5, bScale: 0.5, yScale: 1 });
   * // y = [15, 150]
   * ```
   */
  qlinearAdd(
    a: Uint8Array | Int8Array,
    b: Uint8Array | Int8Array,
    y: Uint8Array | Int8Array,
    options: QLinearAddOptions,
  ): void {
    this.#qlinearBinary(false, a, b, y, options);
  }

  #qlinearBinary(
    mul: boolean,
    a: Uint8Array | Int8Array,
    b: Uint8Array | Int8Array,
    y: Uint8Array | Int8Array,
    options: QLinearAddOptions,
  ): void {
    const rt = this.#rt, W = mul ? "qlinearMul" : "qlinearAdd";
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const tag = byteTag(W, "a", a);
    // Checked one by one: a loop over [name, array] pairs would allocate on every call.
    if (typedArrayTag(b) !== tag) sameTypeError(W, "b", tag, b);
    if (typedArrayTag(y) !== tag) sameTypeError(W, "y", tag, y);
    readQLinearBinary(
      mul,
      viewLength(a),
      viewLength(b),
      viewLength(y),
      tag === "Int8Array",
      options,
      rt.key,
      rt.extents,
    );
    rt.operand(QLINEAR, 0, bytesView(a, "a", W));
    rt.operand(QLINEAR, 1, bytesView(b, "b", W));
    rt.operand(QLINEAR, 2, bytesView(y, "y", W));
    rt.run(QLINEAR_ID);
  }

  /**
   * ONNX DynamicQuantizeLinear, as ONNX Runtime computes it: the range of x
   * and 0 (NaNs ignored) gives scale = (max − min)/255 (1 for an empty
   * range) and zeroPoint = round(clamp(−min/scale, 0, 255)); each
   * y = clamp(round(x/scale) + zeroPoint, 0, 255), rounding half to even
   * (NaN → 0). One native call (two passes over x), so the scale and zero
   * point can feed a later call ({@link gemmInt8}'s `aZeroPoint`, a scale
   * product) without a trip through JavaScript. y and zeroPoint must start
   * at a multiple of 4 bytes.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const y = new Uint8Array(4), scale = new Float32Array(1), zp = new Uint8Array(4);
   * jit.quantizeDynamic(Float32Array.of(-1, 0, 0.5, 2), y, scale, zp);
   * // scale[0] = 3/255, zp[0] = 85, y = [0, 85, 127, 255] (0.5/scale = 42.49…)
   * ```
   */
  quantizeDynamic(
    x: Float32Array,
    y: Uint8Array,
    scale: Float32Array,
    zeroPoint: Uint8Array,
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (typedArrayTag(y) !== "Uint8Array") notBytes("y", y);
    if (typedArrayTag(zeroPoint) !== "Uint8Array") notBytes("zeroPoint", zeroPoint);
    rt.operand(QUANTIZE, 0, x);
    rt.operand(QUANTIZE, 1, bytesView(y, "y", "quantizeDynamic"));
    rt.operand(QUANTIZE, 2, scale);
    rt.operand(QUANTIZE, 3, bytesView(zeroPoint, "zeroPoint", "quantizeDynamic"));
    readQuantize(x, viewLength(y), scale, viewLength(zeroPoint), rt.key, rt.extents);
    rt.run(QUANTIZE_ID);
  }

  /**
   * y = a × W (+ bias) with W at 4 bits a weight, as ONNX Runtime's
   * MatMulNBits stores it (blocks of `block` along k, a float scale and an
   * integer zero point per block: w = (q − z)·s), repacked once by
   * {@link packNBits}. Every weight is read at 4 bits: a row of a (a
   * decoder's step) costs the weights' bytes over the memory bandwidth,
   * an eighth of the float weights'. y is m rows of the packing's n.
   *
   * @example
   * ```ts
   * import { Jit, packNBits } from "@njit/core";
   * using jit = new Jit();
   * // W 32×16, every q 9, scale 0.5, zero point 8: every weight 0.5.
   * const w = packNBits({
   *   k: 32, n: 16, block: 32,
   *   q: new Uint8Array(16 * 16).fill(0x99), scales: new Float32Array(16).fill(0.5),
   * });
   * const y = new Float32Array(16);
   * jit.matmulNBits(new Float32Array(32).fill(1), w, y, { m: 1 }); // y[j] = 16
   * ```
   */
  matmulNBits(
    a: Float32Array,
    w: PackedNBits,
    y: Float32Array,
    options: { m: number; bias?: Float32Array },
  ): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    if (w === null || typeof w !== "object" || typedArrayTag(w.weights) !== "Uint8Array") {
      throw new TypeError(`matmulNBits: w must be what packNBits returns, got ${describe(w)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `matmulNBits: options must be an object with m, got ${describe(options)}`,
      );
    }
    const bias = options.bias;
    rt.operand(NBITS, 0, a);
    rt.operand(NBITS, 1, bytesView(w.weights, "w.weights", "matmulNBits"));
    rt.operand(NBITS, 2, w.scales);
    rt.operand(NBITS, 3, bias ?? ABSENT);
    rt.operand(NBITS, 4, y);
    readNBits(
      a,
      bytesView(w.weights, "w.weights", "matmulNBits"),
      w.scales,
      bias ?? null,
      y,
      options.m,
      w.k,
      w.n,
      w.block,
      rt.key,
      rt.extents,
    );
    rt.run(NBITS_ID);
  }

  readonly #normOperands: (Float32Array | undefined)[] = [undefined, undefined, undefined];

  #norm(kind: "layer" | "rms", x: Float32Array, y: Float32Array, options: NormOptions): void {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    rt.operand(NORM, 0, x);
    rt.operand(NORM, 4, y);
    const ops = this.#normOperands;
    readNorm(kind, x, y, options, rt.key, rt.extents, ops);
    rt.operand(NORM, 1, ops[0] ?? ABSENT);
    rt.operand(NORM, 2, ops[1] ?? ABSENT);
    rt.operand(NORM, 3, ops[2] ?? ABSENT);
    ops[0] = ops[1] = ops[2] = undefined;
    rt.run(NORM_ID);
  }

  /**
   * Compiles a GEMM kernel for one call shape at a chosen level and ISA,
   * outside the cache (for demos, benches and inspection). Freed by close().
   */
  compileGemm(
    options: GemmOptions,
    choice: { level?: GemmLevel; isa?: IsaLevel } = {},
  ): GemmKernel {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const spec = emptySpec();
    readGemmShape(options, spec);
    const level = choice.level ?? 3;
    const isa = capIsa(choice.isa ?? this.#isa, this.#isa);
    const t0 = performance.now();
    const plan = planAtLevel(spec, VEC_OF[isa], level, this.#target);
    const program = generateGemm(spec, plan, { listing: false });
    const block = this.#jit ? rt.installExplicit(program.code, plan.workspaceBytes) : null;
    const compileUs = (performance.now() - t0) * 1000;
    let freed = false;
    const key = new Int32Array(rt.key.length), extents = new Float64Array(rt.extents.length);
    const act = spec.epilogue?.activation;
    const { epilogue: _, ...plain } = spec;
    const shape: GemmOptions = {
      ...plain,
      activation: act
        ? {
          op: UNARY_OPS[act.op].name as UnaryOp,
          ...Object.fromEntries(UNARY_OPS[act.op].params.map((p, i) => [p, act.params[i]])),
        }
        : undefined,
    };
    const withBias: GemmOptions = { ...shape };
    const biasSlot: (Float32Array | undefined)[] = [undefined];
    // The handle keeps its Jit alive (through `this` in the arrow function):
    // a collected Jit frees its code, and a kernel handle may outlive every
    // other reference to the Jit.
    const run = (a: Float32Array, b: Float32Array, c: Float32Array, bias?: Float32Array) => {
      if (this.#rt.closed) throw new Error("Jit: this Jit is closed");
      if (freed) throw new Error("GemmKernel: this kernel was freed");
      const wantBias = spec.epilogue?.bias ?? false;
      if (wantBias !== (bias !== undefined)) {
        throw new TypeError(
          `GemmKernel: compiled ${wantBias ? "with" : "without"} a bias; run(a, b, c${
            wantBias ? ", bias" : ""
          }) must match, got ${describe(bias)}`,
        );
      }
      rt.operand(GEMM, 0, a);
      rt.operand(GEMM, 1, b);
      rt.operand(GEMM, 3, c);
      withBias.bias = bias;
      readGemm(a, b, c, withBias, key, extents, biasSlot);
      rt.operand(GEMM, 2, bias ?? ABSENT);
      if (rt.closed) throw new Error("Jit: this Jit is closed");
      if (block === null) return GEMM.reference(spec, [a, b, bias ?? ABSENT, c]);
      rt.callExplicit(block, 4);
    };
    return {
      spec,
      plan,
      codeBytes: program.code.length,
      compileUs,
      code: block,
      run,
      // Generation is deterministic: regenerate with a listing when asked.
      listing: () => generateGemm(spec, plan, { listing: true }).listing(),
      free: () => {
        if (freed) return;
        freed = true;
        if (block) rt.freeExplicit(block);
      },
    };
  }

  /** Counters of the runtime and of every key, as a plain object. */
  stats(): JitStats {
    return this.#rt.stats();
  }

  /** The hot-path report: the keys that cost the most, as a table. */
  report(limit = 10): string {
    return this.#rt.report(limit);
  }

  /** Frees all code; using the Jit afterwards throws. */
  close(): void {
    this.#rt.close();
    // The last operands classified, which a closed Jit must not keep alive.
    this.#bSeen = this.#wSeen = undefined;
    this.#bPacked = null;
    this.#wPacked = null;
  }

  /**
   * Runs the calls `calls` makes on this Jit without blocking the event
   * loop: they are validated and compiled now (bad input throws here, and
   * nothing runs), then run in order on a thread of Deno's blocking pool
   * (split calls still use the Jit's workers); the promise resolves when the
   * last has run. Until then the outputs are not written: do not read them.
   * The operands' memory is kept alive until then, even if their buffers are
   * transferred meanwhile.
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const a = new Float32Array(2048 * 2048).fill(1), c = new Float32Array(2048 * 2048);
   * await jit.async(() => jit.gemm(a, a, c, { m: 2048, n: 2048, k: 2048 }));
   * ```
   */
  async(calls: () => void, options?: AsyncOptions): Promise<void> {
    const rt = this.#rt;
    if (rt.closed) return Promise.reject(new Error("Jit: this Jit is closed"));
    // Called inside another async's calls: throws there, so the outer one rejects.
    const retain = options?.retain !== false;
    const scratch = this.#capture(calls, retain, retain);
    if (!Array.isArray(scratch)) return Promise.reject(scratch.thrown);
    return rt.endAsync(retain).finally(() => void scratch);
  }

  /**
   * {@link async} with `retain: false`, and the calls are kept: `replay`
   * runs the same calls on the same memory again for the cost of one
   * native call, without validating, keying or recording them anew (a
   * model's run: tens of calls, ~3 µs each to record). The recording holds
   * the operands' buffers (they stay alive while it does), takes fixed-length
   * buffers only, and does not replay once one of them was transferred; do
   * not transfer one while a run is in flight (as with `retain: false`).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(1 << 20).fill(-1), y = new Float32Array(1 << 20);
   * const run = jit.record(() => jit.unary("relu", x, y));
   * await run.done;
   * await (jit.replay(run) ?? jit.record(() => jit.unary("relu", x, y)).done);
   * ```
   */
  record(calls: () => void): RecordedCalls {
    const rt = this.#rt;
    if (rt.closed) return { done: Promise.reject(new Error("Jit: this Jit is closed")) };
    const generation = rt.codeGeneration;
    // Not retained through the nonblocking call, but held by the recording (see replay).
    const scratch = this.#capture(calls, false, true);
    if (!Array.isArray(scratch)) return { done: Promise.reject(scratch.thrown) };
    const { done, kept } = rt.endKept(generation);
    const recorded: RecordedCalls = { done: done.finally(() => void scratch) };
    if (kept !== null) KEPT.set(recorded, { kept, scratch });
    return recorded;
  }

  /**
   * Records `calls` into a list (`retain` and `collect` as Runtime.beginAsync
   * takes them) and returns the scratch tensors they wrote, which the caller
   * holds until the list has run; the caller ends the list. If the calls
   * throw, the list is dropped (none of them has run) and what they threw is
   * returned. Beginning throws as it is (nested in another list's calls: the
   * outer one's calls throw).
   */
  #capture(
    calls: () => void,
    retain: boolean,
    collect: boolean,
  ): Float32Array[] | { thrown: unknown } {
    this.#rt.beginAsync(retain, collect);
    this.#recScratch = [];
    try {
      calls();
    } catch (thrown) {
      this.#rt.abortAsync();
      return { thrown };
    }
    return this.#recScratch;
  }

  /**
   * Runs recorded calls again (off the event loop, counted in the stats as
   * calls), or returns null and runs nothing when they cannot run as
   * recorded: code they enter was freed or retuned since, a key is due to
   * tune on its next calls, an operand's buffer was transferred, they met a
   * call that runs only on the caller's thread, or their last run has not
   * ended. Then record them anew (which validates every operand again).
   */
  replay(recorded: RecordedCalls): Promise<void> | null {
    const k = KEPT.get(recorded);
    if (k === undefined) return null;
    const scratch = k.scratch; // written by the calls: held until they have run
    return this.#rt.replay(k.kept)?.finally(() => void scratch) ?? null;
  }

  /**
   * {@link record}'s synchronous form: the calls are recorded, then run on
   * this thread (split calls still fork to the workers) before it returns,
   * and kept: `replaySync` (or `replay`) runs them again for the cost of one
   * native call. For a script's loop of the same calls on the same memory (a
   * model's `runSync`); the returned recording's `done` has settled. Throws
   * what the calls threw (then none of them has run).
   *
   * @example
   * ```ts
   * import { Jit } from "@njit/core";
   * using jit = new Jit();
   * const x = new Float32Array(1 << 20).fill(-1), y = new Float32Array(1 << 20);
   * const calls = () => jit.unary("relu", x, y);
   * let run = jit.recordSync(calls);
   * for (let i = 0; i < 10; i++) if (!jit.replaySync(run)) run = jit.recordSync(calls);
   * ```
   */
  recordSync(calls: () => void): RecordedCalls {
    const rt = this.#rt;
    if (rt.closed) throw new Error("Jit: this Jit is closed");
    const generation = rt.codeGeneration;
    const scratch = this.#capture(calls, false, true);
    if (!Array.isArray(scratch)) throw scratch.thrown;
    const kept = rt.endKeptSync(generation);
    const recorded: RecordedCalls = { done: Promise.resolve() };
    if (kept !== null) KEPT.set(recorded, { kept, scratch });
    return recorded;
  }

  /**
   * Runs recorded calls again on this thread (split calls still fork to the
   * workers) and returns true, or returns false and runs nothing when they
   * cannot run as recorded (as {@link replay} returns null): then record them
   * anew.
   */
  replaySync(recorded: RecordedCalls): boolean {
    const k = KEPT.get(recorded);
    return k !== undefined && this.#rt.replaySync(k.kept);
  }

  /** `jit.gemm` without blocking the event loop: `jit.async(() => jit.gemm(...))`. */
  gemmAsync(
    a: Float32Array,
    b: Float32Array | PackedB,
    c: Float32Array,
    options: GemmOptions,
  ): Promise<void> {
    return this.async(() => this.gemm(a, b, c, options));
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Throws a RangeError when y shares a byte with the input `x` (if given), as
 * the runtime's check does for a kernel's operands.
 */
function disjoint(who: string, y: Float32Array, name: string, x: Float32Array | undefined): void {
  if (x === undefined || viewBuffer(x) !== viewBuffer(y)) return;
  const from = viewByteOffset(y), to = from + 4 * viewLength(y);
  const a = viewByteOffset(x), b = a + 4 * viewLength(x);
  if (a < to && from < b) {
    throw new RangeError(
      `${who}: y overlaps ${name} (bytes [${from}, ${to}) and [${a}, ${b}) of one buffer); ${who} does not compute in place, pass a separate y`,
    );
  }
}

/** The process's packing Jits by level (one thread, never tuned), made on first use. */
const packers = new Map<IsaLevel, Jit>();
