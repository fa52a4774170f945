/**
 * `Jit`: the profile-guided runtime. Every call is counted (and timed); a
 * key (op, shape, layout, alpha/beta, ISA) that turns hot gets a kernel
 * specialized for it, kept in an LRU code cache and dispatched to through
 * the trampoline from then on.
 *
 * @module
 */
import { capIsa, cpuFeatures, ISA_LEVELS, type IsaLevel, maxIsaFromEnv } from "../cpu.ts";
import { env, envInt } from "../env.ts";
import {
  gemmFlops,
  type GemmLevel,
  type GemmPlan,
  gemmReference,
  type GemmSpec,
  generateGemm,
  planGemm,
} from "../kernels/gemm/mod.ts";
import type { VecLevel } from "../kernels/vec.ts";
import { CodeArena, type CodeBlock } from "../native/arena.ts";
import { type Dispatch, dispatch } from "../native/dispatch.ts";
import { jitAvailable, JitUnavailableError, libc } from "../native/libc.ts";
import { GuardedPages, NativeBlock, viewAddress } from "../native/memory.ts";
import { rdtsc } from "../native/stubs.ts";
import {
  checkGemmArrays,
  emptySpec,
  type GemmOptions,
  hashSpec,
  readGemmArgs,
  readGemmShape,
  sameSpec,
  specKey,
} from "./gemm_args.ts";
import { LruList, type LruNode } from "./lru.ts";
import { formatReport, type JitStats, type KeyStats } from "./stats.ts";
import { DEFAULT_THRESHOLD, tierDecision, type TierReason } from "./policy.ts";

/** Options of a {@link Jit}. All optional. */
export interface JitOptions {
  /** Calls of a key before its kernel is compiled. Default 100, or NJIT_THRESHOLD. */
  threshold?: number;
  /** Most kernels kept compiled. Default 256, or NJIT_CACHE_CAPACITY. */
  cacheCapacity?: number;
  /** Most bytes of compiled code kept. Default 16 MiB. */
  cacheBytes?: number;
  /** Highest instruction set to generate for (also capped by NJIT_MAX_ISA and the CPU). */
  maxIsa?: IsaLevel;
  /** Count and time every call (RDTSC in native code). Default true. */
  profile?: boolean;
  /** One line per compile, eviction and tier change on stderr. Default: NJIT_VERBOSE. */
  verbose?: boolean;
  /** Directory for each compiled kernel's `.bin` and `.lst`. Default: NJIT_DUMP. */
  dump?: string;
  /**
   * Most keys profiled at once. Beyond it the least recently called keys
   * without a compiled kernel are forgotten. Default 4096.
   */
  keyCapacity?: number;
}

interface Kernel {
  block: CodeBlock;
  plan: GemmPlan;
  workspace: number;
}

interface GemmEntry extends LruNode {
  spec: GemmSpec;
  key: string;
  hash: number;
  flops: number;
  chain: GemmEntry | null;
  /** Calls seen. */
  calls: number;
  /** Calls on the TypeScript reference. */
  tier0Calls: number;
  tier0Ns: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls at or past the threshold that had to compile. */
  misses: number;
  /** Kernels compiled. */
  compiles: number;
  compileNs: number;
  /** Why it was compiled: the threshold, or one call costing more than compiling. */
  reason: TierReason | null;
  kernel: Kernel | null;
  lastPlan: GemmPlan | null;
  /** u64 cycles, u64 calls: written by the timed trampoline. */
  counters: NativeBlock | null;
  /** Tick of the last call (for forgetting cold keys). */
  lastUse: number;
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
  /** The installed code (its pointer is what the trampoline calls). */
  readonly code: CodeBlock | null;
  /** Runs it; the arrays are validated against the spec first. */
  run(a: Float32Array, b: Float32Array, c: Float32Array): void;
  /** Its listing: offset, bytes, Intel syntax. */
  listing(): string;
  /** Returns its code to the arena; run() throws afterwards. */
  free(): void;
}

const VEC_OF: Record<IsaLevel, VecLevel> = {
  scalar: "scalar",
  sse2: "sse2",
  avx2: "avx2",
  avx512: "avx512",
  amx: "avx512",
};

let tscPerNs = 0;
/** TSC ticks per nanosecond, measured once over a few milliseconds. */
function tscRate(): number {
  if (tscPerNs) return tscPerNs;
  const t0 = performance.now(), c0 = rdtsc();
  while (performance.now() - t0 < 5) { /* spin */ }
  tscPerNs = (rdtsc() - c0) / ((performance.now() - t0) * 1e6);
  return tscPerNs;
}

/**
 * The JIT. `jit.gemm(a, b, c, { m, n, k })` computes C = alpha·op(A)·op(B) +
 * beta·C; the first calls of a shape run on the TypeScript reference, hot
 * shapes on machine code generated for them.
 */
export class Jit {
  readonly #threshold: number;
  readonly #capacity: number;
  readonly #maxBytes: number;
  readonly #profile: boolean;
  readonly #verbose: boolean;
  readonly #dump: string | undefined;
  readonly #isa: IsaLevel;
  readonly #jit: boolean;
  readonly #caches = { l1d: 32 << 10, l2: 1 << 20 };
  #arena: CodeArena | null = null;
  #d: Dispatch | null = null;
  #args: NativeBlock | null = null;
  #argsPtr: Deno.PointerObject | null = null;
  #workspace: GuardedPages | null = null;
  #workspaceAddr = 0;
  readonly #lru = new LruList<GemmEntry>();
  readonly #buckets = new Map<number, GemmEntry>();
  #entries: GemmEntry[] = [];
  readonly #keyCapacity: number;
  #tick = 0;
  readonly #scratch: GemmSpec = emptySpec();
  #last: GemmEntry | null = null;
  #lastA: Float32Array | null = null;
  #lastB: Float32Array | null = null;
  #lastC: Float32Array | null = null;
  #addrA = 0;
  #addrB = 0;
  #addrC = 0;
  #compiles = 0;
  #compileNs = 0;
  #compileMaxNs = 0;
  #evictions = 0;
  #explicit: CodeBlock[] = [];
  #closed = false;
  #dumpWarned = false;

  /** Makes a JIT. Nothing is compiled until a key turns hot. */
  constructor(options: JitOptions = {}) {
    const threshold = options.threshold ?? envInt("NJIT_THRESHOLD", DEFAULT_THRESHOLD);
    if (!Number.isInteger(threshold) || threshold < 0) {
      throw new RangeError(`Jit: threshold must be a non-negative integer, got ${threshold}`);
    }
    const capacity = options.cacheCapacity ?? envInt("NJIT_CACHE_CAPACITY", 256);
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Jit: cacheCapacity must be a positive integer, got ${capacity}`);
    }
    const bytes = options.cacheBytes ?? 16 << 20;
    if (!Number.isInteger(bytes) || bytes < 1) {
      throw new RangeError(`Jit: cacheBytes must be a positive integer, got ${bytes}`);
    }
    if (options.maxIsa !== undefined && !ISA_LEVELS.includes(options.maxIsa)) {
      throw new RangeError(
        `Jit: maxIsa must be one of ${ISA_LEVELS.join(", ")}, got ${options.maxIsa}`,
      );
    }
    const keyCapacity = options.keyCapacity ?? 4096;
    if (!Number.isInteger(keyCapacity) || keyCapacity < 1) {
      throw new RangeError(`Jit: keyCapacity must be a positive integer, got ${keyCapacity}`);
    }
    this.#keyCapacity = keyCapacity;
    this.#threshold = threshold;
    this.#capacity = capacity;
    this.#maxBytes = bytes;
    this.#profile = options.profile ?? true;
    const verbose = env("NJIT_VERBOSE");
    this.#verbose = options.verbose ?? (verbose !== undefined && verbose !== "0");
    this.#dump = options.dump ?? env("NJIT_DUMP");
    this.#jit = jitAvailable();
    if (this.#jit) {
      const f = cpuFeatures();
      this.#isa = capIsa(capIsa(f.bestIsa, maxIsaFromEnv()), options.maxIsa);
      if (f.l1d) this.#caches.l1d = f.l1d;
      if (f.l2) this.#caches.l2 = f.l2;
    } else {
      this.#isa = "scalar";
      try {
        libc();
      } catch (e) {
        if (e instanceof JitUnavailableError) {
          console.warn(`${e.message}; computing with TypeScript`);
        }
      }
    }
  }

  /** The ISA level kernels are generated for. */
  get isa(): IsaLevel {
    return this.#isa;
  }

  /**
   * C = alpha·op(A)·op(B) + beta·C (BLAS sgemm, row-major). Views at any
   * element offset work. Throws TypeError/RangeError on bad input before
   * any native code runs.
   */
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, options: GemmOptions): void {
    if (this.#closed) throw new Error("Jit: this Jit is closed");
    const s = this.#scratch;
    readGemmArgs(a, b, c, options, s);
    let e = this.#last;
    if (e === null || !sameSpec(e.spec, s)) e = this.#entry(s);
    this.#last = e;
    e.lastUse = ++this.#tick;
    const calls = ++e.calls;
    let kernel = e.kernel;
    if (kernel === null) {
      if (!this.#jit) return this.#tier0(e, a, b, c);
      const reason = tierDecision(calls, this.#threshold, e.flops);
      if (reason === "cold") return this.#tier0(e, a, b, c);
      e.misses++;
      kernel = this.#compile(e, reason);
    } else {
      e.hits++;
      this.#lru.touch(e);
    }
    if (a !== this.#lastA) {
      this.#lastA = a;
      this.#addrA = viewAddress(a);
    }
    if (b !== this.#lastB) {
      this.#lastB = b;
      this.#addrB = viewAddress(b);
    }
    if (c !== this.#lastC) {
      this.#lastC = c;
      this.#addrC = viewAddress(c);
    }
    const args = this.#args!.f64;
    args[0] = this.#addrA;
    args[1] = this.#addrB;
    args[2] = this.#addrC;
    args[3] = this.#workspaceAddr;
    if (this.#profile) this.#d!.callTimed(kernel.block.pointer, this.#argsPtr, e.counters!.pointer);
    else this.#d!.call(kernel.block.pointer, this.#argsPtr);
  }

  /**
   * Compiles a GEMM kernel for one call shape at a chosen level and ISA,
   * outside the cache (for demos, benches and inspection). Freed by close().
   */
  compileGemm(
    options: GemmOptions,
    choice: { level?: GemmLevel; isa?: IsaLevel } = {},
  ): GemmKernel {
    if (this.#closed) throw new Error("Jit: this Jit is closed");
    const spec = emptySpec();
    readGemmShape(options, spec);
    const level = choice.level ?? 3;
    const isa = capIsa(choice.isa ?? this.#isa, this.#isa);
    const t0 = performance.now();
    const plan = planGemm(spec, VEC_OF[isa], level, this.#caches);
    const program = generateGemm(spec, plan);
    let block: CodeBlock | null = null;
    if (this.#jit) {
      this.#ensureNative();
      block = this.#arena!.install(program.code);
      this.#explicit.push(block);
      this.#ensureWorkspace(plan.workspaceBytes);
    }
    const compileUs = (performance.now() - t0) * 1000;
    let freed = false;
    const run = (a: Float32Array, b: Float32Array, c: Float32Array) => {
      if (this.#closed) throw new Error("Jit: this Jit is closed");
      if (freed) throw new Error("GemmKernel: this kernel was freed");
      checkGemmArrays(a, b, c, spec);
      if (block === null) return gemmReference(a, b, c, spec);
      const args = this.#args!;
      args.f64[0] = viewAddress(a);
      args.f64[1] = viewAddress(b);
      args.f64[2] = viewAddress(c);
      args.f64[3] = this.#workspaceAddr;
      this.#d!.call(block.pointer, this.#argsPtr);
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
        if (freed || this.#closed) return;
        freed = true;
        if (block) {
          this.#arena!.free(block);
          this.#explicit.splice(this.#explicit.indexOf(block), 1);
        }
      },
    };
  }

  /** Counters of the runtime and of every key, as a plain object. */
  stats(): JitStats {
    const keys = this.#entries.map((e) => this.#keyStats(e));
    keys.sort((x, y) => y.totalUs - x.totalUs);
    let hits = 0, misses = 0, calls = 0, tier0 = 0;
    for (const e of this.#entries) {
      hits += e.hits;
      misses += e.misses;
      calls += e.calls;
      tier0 += e.tier0Calls;
    }
    return {
      jit: this.#jit,
      isa: this.#isa,
      threshold: this.#threshold,
      calls,
      tier0Calls: tier0,
      tier1Calls: calls - tier0,
      compiles: this.#compiles,
      hits,
      misses,
      evictions: this.#evictions,
      hitRate: hits + misses ? hits / (hits + misses) : 0,
      kernels: this.#lru.count,
      codeBytes: this.#lru.bytes,
      cacheCapacity: this.#capacity,
      cacheBytes: this.#maxBytes,
      compileUs: {
        total: this.#compileNs / 1000,
        mean: this.#compiles ? this.#compileNs / this.#compiles / 1000 : 0,
        max: this.#compileMaxNs / 1000,
      },
      keys,
    };
  }

  /** The hot-path report: the keys that cost the most, as a table. */
  report(limit = 10): string {
    return formatReport(this.stats(), limit);
  }

  /** Frees all code; using the Jit afterwards throws. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#arena?.close();
    this.#arena = null;
    for (const e of this.#entries) e.kernel = null;
    this.#lastA = this.#lastB = this.#lastC = null;
    this.#workspace?.free();
    this.#workspace = null;
    this.#explicit = [];
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #entry(s: GemmSpec): GemmEntry {
    const h = hashSpec(s);
    let e = this.#buckets.get(h) ?? null;
    while (e !== null && !sameSpec(e.spec, s)) e = e.chain;
    if (e !== null) return e;
    const spec = { ...s };
    e = {
      spec,
      key: specKey(spec),
      hash: h,
      flops: gemmFlops(spec),
      chain: this.#buckets.get(h) ?? null,
      calls: 0,
      tier0Calls: 0,
      tier0Ns: 0,
      hits: 0,
      misses: 0,
      compiles: 0,
      compileNs: 0,
      reason: null,
      kernel: null,
      lastPlan: null,
      counters: null,
      lastUse: ++this.#tick,
      lruPrev: null,
      lruNext: null,
      lruBytes: 0,
      lruLinked: false,
    };
    this.#buckets.set(h, e);
    this.#entries.push(e);
    if (this.#entries.length > this.#keyCapacity + (this.#keyCapacity >> 2)) this.#forgetColdKeys();
    return e;
  }

  /** Drops the least recently called keys that hold no kernel, down to keyCapacity. */
  #forgetColdKeys(): void {
    const cold = this.#entries.filter((e) => e.kernel === null).sort((x, y) =>
      x.lastUse - y.lastUse
    );
    const drop = new Set(cold.slice(0, this.#entries.length - this.#keyCapacity));
    this.#entries = this.#entries.filter((e) => !drop.has(e));
    for (const e of drop) {
      let head = this.#buckets.get(e.hash) ?? null;
      if (head === e) {
        if (e.chain) this.#buckets.set(e.hash, e.chain);
        else this.#buckets.delete(e.hash);
      } else {
        while (head && head.chain !== e) head = head.chain;
        if (head) head.chain = e.chain;
      }
      if (this.#last === e) this.#last = null;
    }
  }

  #tier0(e: GemmEntry, a: Float32Array, b: Float32Array, c: Float32Array): void {
    e.tier0Calls++;
    if (!this.#profile) return gemmReference(a, b, c, e.spec);
    const t0 = performance.now();
    gemmReference(a, b, c, e.spec);
    e.tier0Ns += (performance.now() - t0) * 1e6;
  }

  #ensureNative(): void {
    if (this.#arena) return;
    this.#arena = new CodeArena({ budgetBytes: Math.max(this.#maxBytes * 2, 1 << 20) });
    this.#d = dispatch();
    this.#args = new NativeBlock(64);
    this.#argsPtr = this.#args.pointer;
  }

  /** Grows the kernels' workspace (page aligned, guard page after) to at least `bytes`. */
  #ensureWorkspace(bytes: number): void {
    if (bytes === 0 || (this.#workspace && this.#workspace.bytes >= bytes)) return;
    this.#workspace?.free();
    this.#workspace = new GuardedPages(bytes);
    this.#workspaceAddr = this.#workspace.address;
  }

  #compile(e: GemmEntry, reason: TierReason): Kernel {
    this.#ensureNative();
    const t0 = performance.now();
    const plan = planGemm(e.spec, VEC_OF[this.#isa], 3, this.#caches);
    const listing = this.#dump !== undefined;
    const program = generateGemm(e.spec, plan, { listing });
    const size = program.code.length;
    // Make room by count and by bytes, least recently used first.
    while (
      this.#lru.count >= this.#capacity ||
      (this.#lru.count > 0 && this.#lru.bytes + size > this.#maxBytes)
    ) this.#evict(this.#lru.oldest()!);
    let block: CodeBlock;
    for (;;) {
      try {
        block = this.#arena!.install(program.code);
        break;
      } catch (err) {
        if (!(err instanceof RangeError) || this.#lru.count === 0) throw err;
        this.#evict(this.#lru.oldest()!);
      }
    }
    this.#ensureWorkspace(plan.workspaceBytes);
    const ns = (performance.now() - t0) * 1e6;
    const kernel: Kernel = { block, plan, workspace: plan.workspaceBytes };
    e.kernel = kernel;
    e.lastPlan = plan;
    e.reason = reason;
    e.compiles++;
    e.compileNs = ns;
    e.counters ??= new NativeBlock(16);
    e.lruBytes = size;
    this.#lru.insert(e);
    this.#compiles++;
    this.#compileNs += ns;
    this.#compileMaxNs = Math.max(this.#compileMaxNs, ns);
    if (this.#verbose) {
      console.error(
        `njit: compile ${e.key} isa=${this.#isa} plan="${plan.description}" code=${size}B ` +
          `${(ns / 1000).toFixed(1)}us tier 0->1 after ${e.calls - 1} calls (${reason})`,
      );
    }
    if (this.#dump !== undefined) this.#writeDump(e, program.code, program.listing());
    return kernel;
  }

  #evict(e: GemmEntry): void {
    this.#lru.remove(e);
    if (e.kernel) this.#arena!.free(e.kernel.block);
    e.kernel = null;
    this.#evictions++;
    if (this.#last === e) this.#last = null;
    if (this.#verbose) {
      console.error(
        `njit: evict ${e.key} (cache full: ${this.#lru.count} kernels, ${this.#lru.bytes} bytes)`,
      );
    }
  }

  #writeDump(e: GemmEntry, code: Uint8Array, listing: string): void {
    const name = e.key.replace(/[^A-Za-z0-9.=-]+/g, "_") + `.${this.#isa}.${e.compiles}`;
    try {
      Deno.mkdirSync(this.#dump!, { recursive: true });
      Deno.writeFileSync(`${this.#dump}/${name}.bin`, code);
      Deno.writeTextFileSync(`${this.#dump}/${name}.lst`, listing);
    } catch (err) {
      if (!this.#dumpWarned) {
        console.warn(
          `njit: cannot write NJIT_DUMP files to ${this.#dump}: ${(err as Error).message}`,
        );
      }
      this.#dumpWarned = true;
    }
  }

  #keyStats(e: GemmEntry): KeyStats {
    let cycles = 0, tier1 = 0;
    if (e.counters) {
      const u = e.counters.u32;
      cycles = u[0] + u[1] * 2 ** 32;
      tier1 = u[2] + u[3] * 2 ** 32;
    }
    if (!this.#profile) tier1 = e.calls - e.tier0Calls;
    const tier1Ns = cycles && this.#jit ? cycles / tscRate() : 0;
    const t0Mean = e.tier0Calls && this.#profile ? e.tier0Ns / e.tier0Calls / 1000 : null;
    const t1Mean = tier1 && this.#profile ? tier1Ns / tier1 / 1000 : null;
    const compileUs = e.compileNs / 1000;
    const saved = t0Mean !== null && t1Mean !== null ? t0Mean - t1Mean : null;
    return {
      key: e.key,
      state: e.kernel ? "compiled" : e.compiles ? "evicted" : "cold",
      calls: e.calls,
      tier0Calls: e.tier0Calls,
      tier1Calls: e.calls - e.tier0Calls,
      tier0MeanUs: t0Mean,
      tier1MeanUs: t1Mean,
      totalUs: e.tier0Ns / 1000 + tier1Ns / 1000,
      tier1Cycles: cycles,
      hits: e.hits,
      misses: e.misses,
      compiles: e.compiles,
      compileUs,
      breakEvenCalls: saved !== null && saved > 0 && e.compiles ? compileUs / saved : null,
      reason: e.reason,
      plan: e.lastPlan?.description ?? null,
      codeBytes: e.kernel?.block.size ?? 0,
    };
  }
}
