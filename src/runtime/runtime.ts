/**
 * The kernel cache, generic over op families: entries per (family, key),
 * their kernels, LRU by count and bytes with admission control, profiling,
 * stats, verbose lines and dumps. It knows no op: a family reads a call into
 * `key` and `extents`, the wrapper hands over the operands, and `run` does
 * the rest.
 *
 * @module
 */
import type { IsaLevel } from "../cpu.ts";
import { ARG_BLOCK_BYTES, WORKSPACE_SLOT } from "../kernels/abi.ts";
import { FAMILIES } from "../kernels/families.ts";
import {
  checkedFor,
  type KernelPlan,
  MAX_KEY_SLOTS,
  MAX_OPERANDS,
  type OpFamily,
  type Part,
  type Target,
} from "../kernels/family.ts";
import { hashKey, sameKey } from "../kernels/key.ts";
import type { CodeBlock } from "../native/arena.ts";
import { type Dispatch, dispatch } from "../native/dispatch.ts";
import { NativeBlock, viewAddress } from "../native/memory.ts";
import { JOB_PARTS, JOB_WAKE, JOB_WHOLE, PART_BYTES } from "../native/pool_code.ts";
import { sharedPool, type ThreadPool } from "../native/pool.ts";
import { tscRate } from "../native/stubs.ts";
import {
  describe,
  isDetached,
  isFloat32Array,
  isResizable,
  viewBuffer,
  viewByteOffset,
} from "../typed.ts";
import { CallLists, type KeptList, type RecordedCall } from "./call_lists.ts";
import { LruList, type LruNode } from "./lru.ts";
import {
  checkWorkspaceBytes,
  ensureWorkspace,
  forget,
  KernelSet,
  releaseWhenCollected,
  workspaceAddress,
} from "./native.ts";
import {
  compileReason,
  estimatedNs,
  PART_WORKSPACE_GAP,
  partsFor,
  SPIN,
  type TierReason,
  WAKE_MIN_NS,
} from "./policy.ts";
import { formatReport, type JitStats, type KeyStats, type TuneStats } from "./stats.ts";
import type { TuneCache } from "./tune_cache.ts";
import type { CodeCache } from "./code_cache.ts";
import { codeIdentity } from "./code_identity.ts";
import { candidateList, describeTuning, Tuner, type TuneState, tuneStatsOf } from "./tuner.ts";

/** What a runtime is made with (resolved options of a Jit). */
export interface RuntimeConfig {
  threshold: number;
  capacity: number;
  maxBytes: number;
  keyCapacity: number;
  profile: boolean;
  verbose: boolean;
  dump: string | undefined;
  jit: boolean;
  isa: IsaLevel;
  target: Target;
  /** Threads a call may use (1: never the pool). */
  threads: number;
  /** Least estimated ns of work per part of a split call. */
  minPartNs: number;
  /** Tier 2's budget, a fraction of a key's run time (0: no tuning). */
  tuneBudget: number;
  /** Where tuned plans are kept between processes, or null. */
  tuneCache: TuneCache | null;
  /** Where generated kernels are kept between processes, or null. */
  codeCache: CodeCache | null;
  /** The op families served (default: the registry; tests add synthetic ones). */
  families?: readonly OpFamily[];
}

/** A key's machine code: one kernel, or one per part of a call split between threads. */
interface Kernel {
  /** The whole call's kernel, or the first part's. */
  block: CodeBlock;
  plan: KernelPlan;
  /** Every block of the key (one, or the distinct kernels of its parts). */
  blocks: CodeBlock[];
  /** Bytes of all its code. */
  bytes: number;
  split: Split | null;
  /** Parts asked of the family's partition (1: whole). */
  asked: number;
  /** What it was generated from, kept for its identity until tier 2 is done with the key. */
  generated: Generated | null;
  /** Its code and parts as one string (code_identity.ts), once asked; tier 2 measures each once. */
  identity: string | null;
}

/** What generating a kernel produced, before it is installed. */
interface Generated {
  programs: ReturnType<OpFamily["generate"]>[];
  parts: Part[] | null;
  /** Whether the split call wakes sleeping workers (else it has a whole-call kernel, last). */
  wakes: boolean;
  asked: number;
}

/**
 * Where the parts of a split call keep their workspaces, each part's
 * `bytes` at most: part p's starts at `first + p·stride`, 64-byte aligned,
 * and ends on a page boundary, the next part's starting at least
 * PART_WORKSPACE_GAP later (policy.ts); the last ends at parts × stride,
 * where the workspace does (against its guard page).
 */
export function partWorkspaces(bytes: number): { stride: number; first: number } {
  if (bytes <= 0) return { stride: 0, first: 0 };
  const most = Math.ceil(bytes / 64) * 64;
  const stride = Math.ceil(most / 4096) * 4096 + PART_WORKSPACE_GAP;
  return { stride, first: stride - most };
}

/** A call split between threads: the pool's job block and where each part's operands start. */
interface Split {
  parts: number;
  /**
   * A small call's whole-call kernel (same bits as its parts), run on the
   * caller when every worker sleeps: it does not wake them (see policy.ts).
   * Null for a call that wakes them.
   */
  whole: CodeBlock | null;
  /** Job block (see pool_code.ts): part count, (kernel, argument block) per part, the blocks. */
  job: NativeBlock;
  /** f64 index in `job` of each part's argument block. */
  argsAt: Int32Array;
  /** Byte offsets: operand i of part p at [p * MAX_OPERANDS + i]. */
  offsets: Float64Array;
  /** Workspace bytes per part (each part has its own), gap included. */
  workspaceStride: number;
  /** Where part 0's workspace starts (part p's: p strides on); the parts' take parts × stride. */
  workspaceFirst: number;
  /** The runtime's argument epoch and workspace the part blocks were last written for. */
  epoch: number;
  workspace: number;
}

/** A kept recording ({@link Runtime.endKept}): its list, and how many calls each key made in it. */
export interface KeptCalls {
  readonly list: KeptList;
  /** The code generation it was recorded in. */
  readonly generation: number;
  readonly entries: readonly Entry[];
  readonly counts: readonly number[];
}

interface Entry extends LruNode {
  family: OpFamily;
  /** The key, exactly its family's length. */
  key: Int32Array;
  hash: number;
  spec: unknown;
  text: string;
  chain: Entry | null;
  calls: number;
  /** Calls on the TypeScript reference (no JIT here, or no kernel could be built). */
  referenceCalls: number;
  hits: number;
  misses: number;
  compiles: number;
  compileNs: number;
  /** Nanoseconds of the first call, compile included. */
  firstCallNs: number;
  /** The counters' cycles and timed calls after the first call (its cold run left out of the mean). */
  firstCycles: number;
  firstTimed: number;
  reason: TierReason | null;
  kernel: Kernel | null;
  /** The plan, made once: recompiles reuse it. */
  plan: KernelPlan | null;
  pinned: boolean;
  /** Why the key's own plan could not be built (it runs the fallback plan). */
  failure: string | null;
  /** Neither plan could be built: the key runs on the reference. */
  referenceOnly: boolean;
  /** u64 cycles, u64 calls: written by the timed trampoline. */
  counters: NativeBlock | null;
  lastUse: number;
  /** Parts its calls are split into (tier 2's or the cache's choice), -1: the policy's. */
  parts: number;
  /** The call count from which tier 2 is consulted (Infinity: never again). */
  tuneAt: number;
  /** Its calls when warm-up last began: a key not called since is not pending. */
  tuneFrom: number;
  /** Its tuning in progress, or null. */
  tuner: Tuner<Kernel> | null;
  /** Its tuning as stats (in progress, done, cached), or null if it never started. */
  tuneState: TuneState | null;
  tuneStats: TuneStats | null;
  /** Counters of its timed call in a recorded list not yet run, or null; and the candidate's index. */
  tunePending: NativeBlock | null;
  tunePendingIndex: number;
  /** The counters block its timed calls in recorded lists use (made once). */
  asyncCounters: NativeBlock | null;
  /** Calls recorded for jit.async (not profiled: its counters hold only its synchronous calls). */
  recordedCalls: number;
}

/** Stand-in addresses where no native code runs: distinct per buffer, for the overlap check. */
const pseudoBases = new WeakMap<ArrayBufferLike, number>();
let nextPseudoBase = 2 ** 40;
function pseudoAddress(view: Float32Array): number {
  const buffer = viewBuffer(view);
  let base = pseudoBases.get(buffer);
  if (base === undefined) {
    base = nextPseudoBase;
    nextPseudoBase += 2 ** 33;
    pseudoBases.set(buffer, base);
  }
  return base + viewByteOffset(view);
}

/** A view no caller holds: the empty slot. */
const NO_VIEW = new Float32Array(0);

function closedError(): Error {
  return new Error("Jit: this Jit is closed");
}

/** One Jit's kernels, keys and counters. */
export class Runtime {
  /** The call's key: the family's `read` fills slots 1.., `run` slot 0. */
  readonly key: Int32Array = new Int32Array(MAX_KEY_SLOTS);
  /** Bytes each operand of the call touches, written by the family's `read`. */
  readonly extents: Float64Array = new Float64Array(MAX_OPERANDS);
  readonly #config: RuntimeConfig;
  /** The operands last taken per slot (NO_VIEW: none, so that null is checked like any value). */
  readonly #views: Float32Array[] = new Array(MAX_OPERANDS).fill(NO_VIEW);
  readonly #addrs = new Float64Array(MAX_OPERANDS);
  readonly #lineOffsets = new Int32Array(MAX_OPERANDS);
  #set: KernelSet | null = null;
  #d: Dispatch | null = null;
  #args: Float64Array | null = null;
  #argsPtr: Deno.PointerObject | null = null;
  readonly #lru = new LruList<Entry>();
  readonly #buckets = new Map<number, Entry>();
  #entries: Entry[] = [];
  #last: Entry | null = null;
  #tick = 0;
  #compiles = 0;
  #compileNs = 0;
  #compileMaxNs = 0;
  #evictions = 0;
  #replays = 0;
  #pinned = 0;
  #pinnedBytes = 0;
  #churnCompiles = 0;
  /** Programs taken from the code cache instead of generated. */
  #fromCodeCache = 0;
  #fallbacks = 0;
  #closed = false;
  #dumpWarned = false;
  #pool: ThreadPool | null = null;
  /** Starting worker threads failed: this runtime stays on one thread. */
  #poolFailed = false;
  /** The async form's call lists (recording, in flight) and what they hold. */
  readonly #lists = new CallLists((b) => this.#set?.free(b));
  /** close() ran while call lists were in flight: free the code when the last ends. */
  #releaseLater = false;
  /** Counts argument-block rewrites: a split's part blocks were written for one of them. */
  #argsEpoch = 0;
  /** A view or the entry changed since the argument block was written. */
  #dirty = true;
  readonly #profile: boolean;
  readonly #families: readonly OpFamily[];
  /** Warm-up: every key tunes on its next calls, unbounded by the budget. */
  #eager = false;
  /** Counters of one timed tuning call. */
  #tuneCounters: NativeBlock | null = null;
  /** Keys with a timed tuning call in the recording (settled when its list has run). */
  #recTimed: Entry[] = [];
  /** The key of every call in the recording, in order (for a kept list's counts). */
  #recEntries: Entry[] = [];
  /** A recorded call ran on this thread now (a reference call flushed the recording). */
  #recFlushed = false;
  /** Bumped whenever code is freed (evicted, replaced by tuning) and at close: kept lists older are stale. */
  #codeGeneration = 0;

  /** A runtime; nothing native is made until the first kernel. */
  constructor(config: RuntimeConfig, owner: object) {
    this.#config = config;
    this.#profile = config.profile;
    this.#families = config.families ?? FAMILIES;
    this.#owner = new WeakRef(owner);
  }

  readonly #owner: WeakRef<object>;

  /**
   * Where operand `slot` of the current call starts in a 64-byte line (its
   * address mod 64; 0 where unknown), for a family's read: a small integer,
   * so reading it on every call allocates nothing.
   */
  lineOffset(slot: number): number {
    return this.#lineOffsets[slot];
  }

  /** Threads a call may use. */
  get threads(): number {
    return this.#config.threads;
  }

  /** Whether close() ran. */
  /**
   * Whether calls are being recorded (inside jit.async) or a recorded list
   * is running: memory a call shares with later calls may be in use.
   */
  get listsActive(): boolean {
    return this.#lists.recording || this.#lists.inflight > 0;
  }

  /** Calls are being recorded now. */
  get recording(): boolean {
    return this.#lists.recording;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes operand `slot` of a call of `family`: checks it is a Float32Array
   * and finds its address, both once per view (a view's buffer and offset
   * never change; its length is the family's to check on every call).
   */
  operand(family: OpFamily, slot: number, x: unknown): void {
    if (x !== this.#views[slot]) this.#admit(family, slot, x);
  }

  #admit(family: OpFamily, slot: number, x: unknown): void {
    if (!isFloat32Array(x)) {
      throw new TypeError(
        `${family.name}: ${family.operands[slot]} must be a Float32Array, got ${describe(x)}`,
      );
    }
    const address = this.#config.jit ? viewAddress(x) : pseudoAddress(x);
    // No address (detached, or an empty buffer that may grow): not cached, so
    // the next call asks again; this call's read rejects any element of it.
    this.#views[slot] = address === 0 ? NO_VIEW : x;
    this.#addrs[slot] = address;
    this.#lineOffsets[slot] = this.#config.jit ? address % 64 : 0;
    this.#dirty = true;
  }

  /** Runs the call read into `key`, `extents` and the operands, for family number `id`. */
  run(id: number): void {
    if (this.#closed) throw closedError();
    const key = this.key;
    key[0] = id;
    // Slot 0 differs between families, so comparing the last entry's length of slots suffices.
    let e = this.#last;
    if (e === null || !sameKey(e.key, key, e.key.length)) {
      e = this.#entry(this.#families[id]);
      this.#last = e;
      this.#dirty = true;
    }
    // Extents follow from the key and addresses from the views: only a new
    // entry or a new view needs the overlap check and new argument slots.
    if (this.#dirty) this.#prepare(e.family);
    e.lastUse = ++this.#tick;
    e.calls++;
    const kernel = e.kernel;
    if (kernel !== null) {
      e.hits++;
      if (!e.pinned) this.#lru.touch(e);
      if (e.calls >= e.tuneAt) return this.#tier2(e, kernel);
      return this.#call(e, kernel);
    }
    this.#miss(e);
  }

  /** Enters a kernel through the trampoline (timed when profiling). */
  #call(e: Entry, kernel: Kernel): void {
    if (this.#lists.recording) return this.#record(e, kernel);
    const split = kernel.split;
    if (split !== null) return this.#callSplit(e, split);
    this.#args![WORKSPACE_SLOT] = workspaceAddress;
    if (this.#profile) this.#d!.callTimed(kernel.block.pointer, this.#argsPtr, e.counters!.pointer);
    else this.#d!.call(kernel.block.pointer, this.#argsPtr);
  }

  /** Writes every part's argument block and runs the job on the pool (fork/join in native code). */
  #callSplit(e: Entry, split: Split): void {
    // A small call's whole-call kernel may run instead of the parts (pool_code.ts decides).
    if (split.whole !== null) this.#args![WORKSPACE_SLOT] = workspaceAddress;
    // The parts' argument blocks change only with the operands or the workspace.
    if (split.epoch !== this.#argsEpoch || split.workspace !== workspaceAddress) {
      this.#writeParts(e, split);
    }
    const pool = this.#pool!.forkJoin;
    if (this.#profile) this.#d!.callTimed(pool, split.job.pointer, e.counters!.pointer);
    else this.#d!.call(pool, split.job.pointer);
  }

  /** Every part's operand addresses and workspace into the split's job block. */
  #writeParts(e: Entry, split: Split): void {
    const args = split.job.f64, at = split.argsAt, off = split.offsets, addrs = this.#addrs;
    const ops = e.family.operands.length, ws = workspaceAddress, stride = split.workspaceStride;
    for (let p = 0; p < split.parts; p++) {
      const base = at[p], o = p * MAX_OPERANDS;
      for (let i = 0; i < ops; i++) args[base + i] = addrs[i] + off[o + i];
      args[base + WORKSPACE_SLOT] = ws + split.workspaceFirst + p * stride;
    }
    split.epoch = this.#argsEpoch;
    split.workspace = ws;
  }

  /** Starts recording calls for {@link endAsync} instead of running them. */
  beginAsync(retain = true, collect = retain): void {
    if (this.#closed) throw closedError();
    this.#lists.begin(retain, collect);
    this.#recTimed = [];
    this.#recEntries = [];
    this.#recFlushed = false;
  }

  /** Drops the calls recorded (the recording function threw: none of them runs). */
  abortAsync(): void {
    this.#lists.abort();
    for (const e of this.#recTimed) e.tunePending = null;
    this.#recTimed = [];
    this.#recEntries = [];
  }

  /**
   * Ends a recording begun by `beginAsync(false)` (started at code
   * generation `generation`) and runs it like {@link endAsync}, keeping it
   * for {@link replay} when it can run again as it is: no tuning call and
   * no call run here meanwhile, and no code freed since the recording began.
   */
  endKept(generation: number): { done: Promise<void>; kept: KeptCalls | null } {
    const kept = this.#keep(generation);
    if (kept === null) return { done: this.endAsync(false), kept: null };
    return { done: this.#runKept(kept), kept };
  }

  /**
   * {@link endKept}'s synchronous form: the recording runs on this thread
   * (split calls still fork to the workers) before it returns; the kept
   * calls, or null when they cannot run again as they are.
   */
  endKeptSync(generation: number): KeptCalls | null {
    const kept = this.#keep(generation);
    if (kept === null) this.#endSync();
    else this.#lists.replayNow(kept.list, this.#d!, sharedPool().runAll);
    return kept;
  }

  /** The recording ended and kept, when it can run again as it is (else null, still recording). */
  #keep(generation: number): KeptCalls | null {
    const replayable = this.#d !== null && this.#recTimed.length === 0 && !this.#recFlushed &&
      generation === this.#codeGeneration;
    if (!replayable) return null;
    const counts = new Map<Entry, number>();
    for (const e of this.#recEntries) counts.set(e, (counts.get(e) ?? 0) + 1);
    this.#recEntries = [];
    return {
      list: this.#lists.keep(),
      generation,
      entries: [...counts.keys()],
      counts: [...counts.values()],
    };
  }

  /** Ends a recording by running its calls on this thread, then feeds the tuners their times. */
  #endSync(): void {
    if (this.#d === null) return this.#lists.abort();
    const timed = this.#recTimed;
    this.#recTimed = [];
    try {
      this.#lists.runNow(this.#d, sharedPool().runAll);
    } finally {
      this.#settleTimed(timed);
    }
  }

  /** The code generation now (a kept list recorded from here is stale once it moves). */
  get codeGeneration(): number {
    return this.#codeGeneration;
  }

  /**
   * Runs a kept list again, counting its calls as if made; null (nothing
   * runs) when it is stale — code freed since it was recorded, a key due to
   * tune on its next calls — or still running: record the calls anew.
   */
  replay(kept: KeptCalls): Promise<void> | null {
    return this.#claim(kept) ? this.#runKept(kept) : null;
  }

  /**
   * {@link replay}'s synchronous form: runs the kept list on this thread
   * (split calls still fork to the workers); false (nothing runs) when it
   * is stale or in flight.
   */
  replaySync(kept: KeptCalls): boolean {
    if (!this.#claim(kept)) return false;
    this.#lists.replayNow(kept.list, this.#d!, sharedPool().runAll);
    return true;
  }

  /** Whether a kept list can run again as recorded; if so, its calls counted as made. */
  #claim(kept: KeptCalls): boolean {
    if (this.#closed || kept.list.busy || kept.generation !== this.#codeGeneration) return false;
    // A buffer transferred since: its memory is not the operand's any more.
    for (const b of kept.list.buffers) if (isDetached(b)) return false;
    const { entries, counts } = kept;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.kernel === null || e.calls + counts[i] >= e.tuneAt) return false;
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i], n = counts[i];
      e.calls += n;
      e.hits += n;
      e.recordedCalls += n;
      e.lastUse = ++this.#tick;
      if (!e.pinned) this.#lru.touch(e);
    }
    this.#replays++;
    return true;
  }

  #runKept(kept: KeptCalls): Promise<void> {
    const owner = this.#owner.deref(); // held until the calls end: its code must stay
    return this.#lists.replay(kept.list, this.#d!, sharedPool().runAll, () => {
      void owner;
      if (this.#lists.inflight === 0 && this.#releaseLater) this.#releaseSet();
    });
  }

  /**
   * Runs the recorded calls, in order, on a thread of Deno's blocking pool
   * (split calls still fork to the workers): the promise settles when all
   * have run, and the event loop runs meanwhile.
   */
  endAsync(retain = true): Promise<void> {
    if (this.#d === null) {
      this.#lists.abort();
      return Promise.resolve();
    }
    const owner = this.#owner.deref(); // held until the calls end: its code must stay
    const timed = this.#recTimed;
    this.#recTimed = [];
    return this.#lists.run(this.#d, sharedPool().runAll, () => {
      void owner;
      this.#settleTimed(timed);
      if (this.#lists.inflight === 0 && this.#releaseLater) this.#releaseSet();
    }, retain);
  }

  /**
   * Records a call: a copy of its argument block (or its job's), run later by
   * endAsync; with `counters`, entered through the pool's `timedPart` (tier 2).
   */
  #record(e: Entry, kernel: Kernel, counters: NativeBlock | null = null): void {
    e.recordedCalls++;
    this.#recEntries.push(e);
    const buffers: ArrayBufferLike[] = [];
    // Neither retained nor kept for replays: the caller owns the buffers (nothing to check).
    for (let i = 0; this.#lists.collecting && i < e.family.operands.length; i++) {
      const b = viewBuffer(this.#views[i]);
      if (isResizable(b)) {
        // Deno keeps an operand's memory alive across a nonblocking call only for fixed buffers.
        throw new TypeError(
          `${e.family.name}: ${e.family.operands[i]} is a view of a resizable buffer; ` +
            "jit.async and jit.record need fixed-length buffers (the synchronous call accepts it)",
        );
      }
      if (!buffers.includes(b)) buffers.push(b);
    }
    const split = kernel.split;
    if (split === null) {
      const [args, at] = this.#lists.argBlock(ARG_BLOCK_BYTES);
      const src = this.#args!, dst = args.f64, f = at / 8;
      for (let i = 0; i < ARG_BLOCK_BYTES / 8; i++) dst[f + i] = src[i];
      const ws = kernel.plan.workspaceBytes;
      const call: RecordedCall = {
        fn: kernel.block.address,
        args,
        at,
        workspace: ws ? WORKSPACE_AT_0 : NO_WORKSPACE,
        buffers,
      };
      if (counters !== null) this.#timeRecorded(call, counters);
      this.#lists.add(call, kernel.blocks, ws);
      return;
    }
    this.#writeParts(e, split);
    const [job, at] = this.#lists.argBlock(split.job.buffer.byteLength);
    const f = at / 8;
    job.f64.set(split.job.f64, f);
    // Off the event loop: always the parts (the whole-call kernel's argument block is the
    // runtime's, which later calls rewrite), and the workers woken.
    job.u32[(at + JOB_WAKE) / 4] = 1;
    job.f64[f + JOB_WHOLE / 8] = job.f64[f + JOB_WHOLE / 8 + 1] = 0;
    const workspace: [number, number][] = [];
    for (let p = 0; p < split.parts; p++) {
      job.f64[f + (JOB_PARTS + p * PART_BYTES) / 8 + 1] = job.address + at + 8 * split.argsAt[p];
      workspace.push([
        split.argsAt[p] + WORKSPACE_SLOT,
        split.workspaceFirst + p * split.workspaceStride,
      ]);
    }
    const call: RecordedCall = {
      fn: pointerValue(this.#pool!.forkJoin),
      args: job,
      at,
      workspace,
      buffers,
    };
    if (counters !== null) this.#timeRecorded(call, counters);
    this.#lists.add(call, kernel.blocks, split.parts * split.workspaceStride);
  }

  /** Makes a recorded call a timed one: its list enters it through `timedPart`. */
  #timeRecorded(call: RecordedCall, counters: NativeBlock): void {
    const [header, at] = this.#lists.argBlock(24);
    const f = at / 8;
    header.f64[f] = call.fn;
    header.f64[f + 1] = call.args.address + call.at;
    header.f64[f + 2] = counters.address;
    call.timed = { part: sharedPool().timedPart, header, at };
  }

  /** Feeds the tuners the times of their calls in a list that has run. */
  #settleTimed(keys: Entry[]): void {
    for (const e of keys) {
      const c = e.tunePending, t = e.tuner;
      e.tunePending = null;
      if (c === null || t === null || this.#closed || c.u32[2] === 0) continue; // never ran
      const ns = (c.u32[0] + c.u32[1] * 2 ** 32) / tscRate();
      if (t.record(e.tunePendingIndex, ns)) this.#finishTuning(e, t);
    }
  }

  /** A call whose key has no kernel: compile it (the first call, or after an eviction). */
  #miss(e: Entry): void {
    const ops = e.family.operands.length;
    if (!this.#config.jit || e.referenceOnly) return this.#reference(e, ops);
    e.misses++;
    const t0 = e.calls === 1 ? performance.now() : 0;
    const kernel = this.#compile(e);
    if (kernel === null) return this.#reference(e, ops);
    this.#call(e, kernel);
    if (t0) {
      e.firstCallNs = (performance.now() - t0) * 1e6;
      if (e.counters) {
        const u = e.counters.u32;
        e.firstCycles = u[0] + u[1] * 2 ** 32;
        e.firstTimed = u[2] + u[3] * 2 ** 32;
      }
    }
  }

  /** Checks overlap and writes the operands' addresses into the argument block. */
  #prepare(f: OpFamily): void {
    const ops = f.operands.length;
    this.#checkOverlap(f, ops);
    this.#dirty = false;
    this.#argsEpoch++;
    if (!this.#config.jit) return;
    this.#ensureNative();
    const args = this.#args!, addrs = this.#addrs;
    for (let i = 0; i < ops; i++) args[i] = addrs[i];
  }

  /** Outputs may not overlap any other operand (bytes the call touches, by address). */
  #checkOverlap(f: OpFamily, ops: number): void {
    const addrs = this.#addrs, ext = this.extents;
    for (let o = ops - f.outputs; o < ops; o++) {
      const o0 = addrs[o], o1 = o0 + ext[o];
      if (o1 === o0) continue;
      for (let i = 0; i < ops; i++) {
        if (i === o) continue;
        const i0 = addrs[i], i1 = i0 + ext[i];
        if (i1 !== i0 && o0 < i1 && i0 < o1 && !(f.inPlace && o0 === i0 && o1 === i1)) {
          this.#overlapError(f, o, i);
        }
      }
    }
  }

  #overlapError(f: OpFamily, o: number, i: number): never {
    const out = f.operands[o], input = f.operands[i];
    const bytes = (s: number) => `[${this.#addrs[s]}, ${this.#addrs[s] + this.extents[s]})`;
    throw new RangeError(
      `${f.name}: ${out} overlaps ${input} (the bytes the call touches: ${out} ${bytes(o)}, ` +
        `${input} ${bytes(i)}); ${
          f.inPlace
            ? `${out} may be ${input} itself, not part of it`
            : `${f.name} does not compute in place, pass a separate ${out}`
        }`,
    );
  }

  #reference(e: Entry, ops: number): void {
    // Calls recorded before this one run first: the order of calls is kept.
    if (this.#lists.recording) {
      this.#lists.flush(this.#d!, sharedPool().runAll);
      this.#settleTimed(this.#recTimed);
      this.#recTimed = [];
      this.#recFlushed = true;
    }
    e.referenceCalls++;
    e.family.reference(e.spec, this.#views.slice(0, ops) as Float32Array[]);
  }

  #entry(f: OpFamily): Entry {
    const len = f.keyFields.length + 1;
    const h = hashKey(this.key, len);
    let e = this.#buckets.get(h) ?? null;
    while (e !== null && !(e.key.length === len && sameKey(e.key, this.key, len))) e = e.chain;
    if (e !== null) return e;
    const key = this.key.slice(0, len);
    const spec = f.decode(key);
    e = {
      family: f,
      key,
      hash: h,
      spec,
      text: f.describe(spec),
      chain: this.#buckets.get(h) ?? null,
      calls: 0,
      referenceCalls: 0,
      hits: 0,
      misses: 0,
      compiles: 0,
      compileNs: 0,
      firstCallNs: 0,
      firstCycles: 0,
      firstTimed: 0,
      reason: null,
      kernel: null,
      plan: null,
      pinned: false,
      failure: null,
      referenceOnly: false,
      counters: null,
      lastUse: ++this.#tick,
      parts: -1,
      tuneAt: this.#tuneStart(),
      tuneFrom: 0,
      tuner: null,
      tuneState: null,
      tuneStats: null,
      tunePending: null,
      tunePendingIndex: -1,
      asyncCounters: null,
      recordedCalls: 0,
      lruPrev: null,
      lruNext: null,
      lruBytes: 0,
      lruLinked: false,
    };
    this.#buckets.set(h, e);
    this.#entries.push(e);
    const cap = this.#config.keyCapacity;
    if (this.#entries.length > cap + (cap >> 2)) this.#forgetColdKeys();
    return e;
  }

  /** Drops the least recently called keys that hold no kernel, down to keyCapacity. */
  #forgetColdKeys(): void {
    const cold = this.#entries.filter((e) => e.kernel === null).sort((x, y) =>
      x.lastUse - y.lastUse
    );
    const drop = new Set(cold.slice(0, this.#entries.length - this.#config.keyCapacity));
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

  #ensureNative(): void {
    if (this.#set || !this.#config.jit) return;
    this.#set = new KernelSet();
    if (this.#held) this.#set.hold(true);
    const owner = this.#owner.deref();
    if (owner) releaseWhenCollected(owner, this.#set);
    this.#d = dispatch();
    const args = new NativeBlock(64);
    this.#args = args.f64;
    this.#argsPtr = args.pointer;
  }

  /** Plans (once), generates and installs the key's kernel; null when no plan can be built. */
  #compile(e: Entry): Kernel | null {
    this.#ensureNative();
    const c = this.#config, f = e.family;
    const t0 = performance.now();
    const listing = c.dump !== undefined;
    let reason = compileReason(e.compiles);
    const cachedBefore = this.#fromCodeCache;
    let gen: Generated;
    try {
      if (e.plan === null) {
        e.plan = this.#planOf(f, e.spec);
        this.#fromTuneCache(e);
      }
      gen = this.#generate(e, e.plan, e.parts);
    } catch (err) {
      // A plan that cannot be built stays unbuilt: the key keeps the fallback plan.
      e.failure = (err as Error)?.message ?? String(err);
      e.tuneAt = Infinity;
      this.#fallbacks++;
      try {
        e.plan = f.fallbackPlan(e.spec, c.target);
        gen = {
          programs: [checkedFor(f.generate(e.spec, e.plan, { listing }), c.target, e.text)],
          parts: null,
          wakes: false,
          asked: 1,
        };
        reason = "fallback";
      } catch (err2) {
        e.failure += `; fallback: ${(err2 as Error)?.message ?? String(err2)}`;
        e.referenceOnly = true;
        if (c.verbose) console.error(`njit: ${e.text}: no kernel (${e.failure}); reference`);
        return null;
      }
      if (c.verbose) console.error(`njit: ${e.text}: ${e.failure}; fallback plan`);
    }
    const plan = e.plan;
    let size = 0;
    for (const p of gen.programs) size += p.code.length;
    if (e.compiles > 0) this.#churnCompiles++;
    const pin = reason === "pinned" && this.#pinned < c.capacity &&
      this.#pinnedBytes + size <= c.maxBytes;
    if (!pin) {
      while (
        this.#lru.count >= c.capacity ||
        (this.#lru.count > 0 && this.#lru.bytes + size > c.maxBytes)
      ) this.#evict(this.#lru.oldest()!);
    }
    const kernel = this.#install(plan, gen);
    const split = kernel.split;
    const ns = (performance.now() - t0) * 1e6;
    e.kernel = kernel;
    e.reason = reason === "pinned" && !pin ? "recompile" : reason;
    e.compiles++;
    e.compileNs = ns;
    e.counters ??= new NativeBlock(16);
    e.lruBytes = size;
    if (pin) {
      e.pinned = true;
      this.#pinned++;
      this.#pinnedBytes += size;
    } else this.#lru.insert(e);
    // A tuning an eviction cut short starts again once the key is hot again (a
    // churning key is pinned at its third compile: its kernel then stays).
    if (e.tuneState === "abandoned" && e.failure === null && c.tuneBudget > 0) {
      e.tuneState = null;
      e.tuneStats = null;
      e.tuneAt = this.#eager ? 0 : e.calls + c.threshold;
    }
    this.#compiles++;
    this.#compileNs += ns;
    this.#compileMaxNs = Math.max(this.#compileMaxNs, ns);
    if (c.verbose) {
      const threads = split ? ` threads=${split.parts}` : "";
      const tier = e.tuneState === "cached" ? ", tier 2 from the tuning cache" : "";
      const kept = this.#fromCodeCache - cachedBefore;
      const code = kept === 0
        ? ""
        : kept === gen.programs.length
        ? ", code from the code cache"
        : `, ${kept} of ${gen.programs.length} programs from the code cache`;
      console.error(
        `njit: compile ${e.text} isa=${c.isa} plan="${plan.description}"${threads} code=${size}B ` +
          `${(ns / 1000).toFixed(1)}us (${e.reason}${
            pin ? ": kept out of the LRU" : ""
          }${tier}${code})`,
      );
    }
    if (c.dump !== undefined) this.#dumpKernel(e, gen, split);
    return kernel;
  }

  #dumpKernel(e: Entry, gen: Generated, split: Split | null): void {
    const partKernels = gen.programs.length - (split?.whole ? 1 : 0);
    gen.programs.forEach((p, i) =>
      this.#writeDump(
        e,
        p.code,
        p.listing(),
        split === null ? "" : i < partKernels ? `.part${i}` : ".whole",
      )
    );
  }

  /**
   * The machine code of a plan for the key: its parts' kernels when the
   * call splits (`asked` parts, -1: as many as the policy gives it), else
   * the whole call's. Throws when the plan cannot be built.
   */
  #generate(e: Entry, plan: KernelPlan, asked: number): Generated {
    const c = this.#config, f = e.family, listing = c.dump !== undefined;
    // minPartUs 0 (tests, benches): every split call runs its parts, waking the workers.
    const wakes = c.minPartNs <= 0 || estimatedNs(f.cost(e.spec), c.isa) >= WAKE_MIN_NS;
    const n = asked >= 0 ? asked : this.#partsWanted(e);
    let programs: Generated["programs"] | undefined, parts: Part[] | null = null;
    try {
      parts = this.#partition(e, plan, n);
      if (parts !== null) {
        programs = distinctParts(parts).map((p) => this.#program(f, p.spec, p.plan, listing));
        // A call that does not wake the workers also gets its whole-call kernel, last.
        if (!wakes) programs.push(this.#program(f, e.spec, plan, listing));
      }
    } catch (err) {
      // The parts could not be built: the whole call on one thread, same plan, same bits.
      parts = null;
      programs = undefined;
      if (c.verbose) console.error(`njit: ${e.text}: no split (${(err as Error)?.message})`);
    }
    programs ??= [this.#program(f, e.spec, plan, listing)];
    return { programs, parts, wakes, asked: n };
  }

  /** The family's plan for a spec on this target (kept in the code cache when there is one). */
  #planOf(f: OpFamily, spec: unknown): KernelPlan {
    const c = this.#config, make = () => f.plan(spec, c.target);
    return c.codeCache === null ? make() : c.codeCache.plan(f.name, spec, c.target, make);
  }

  /**
   * The family's program for a spec and plan: from the code cache when it
   * has it (not when a listing is wanted: the cache keeps bytes only), else
   * generated and kept there.
   */
  #program(
    f: OpFamily,
    spec: unknown,
    plan: KernelPlan,
    listing: boolean,
  ): ReturnType<OpFamily["generate"]> {
    const c = this.#config, cache = c.codeCache;
    // A plan whose workspace is no byte count fails here, before any of its code is made or
    // installed (a candidate then fails to build; tier 1 takes the fallback plan).
    checkWorkspaceBytes(plan.workspaceBytes);
    const make = () => checkedFor(f.generate(spec, plan, { listing }), c.target, f.name);
    if (cache === null || listing) return make();
    const got = cache.program(f.name, spec, plan, make);
    if (got.kept) this.#fromCodeCache++;
    return got.program;
  }

  /** Installs generated code as a kernel (and its split's job block), with its workspace. */
  #install(plan: KernelPlan, gen: Generated): Kernel {
    const blocks = gen.programs.map((p) => this.#set!.install(p.code));
    let size = 0;
    for (const p of gen.programs) size += p.code.length;
    let split: Split | null = null;
    if (gen.parts === null) ensureWorkspace(plan.workspaceBytes);
    else {
      split = this.#split(gen.parts, blocks, gen.wakes);
      if (!gen.wakes) {
        ensureWorkspace(Math.max(plan.workspaceBytes, split.parts * split.workspaceStride));
      }
    }
    return {
      block: blocks[0],
      plan,
      blocks,
      bytes: size,
      split,
      asked: gen.asked,
      // Kept for tier 2's comparisons only (a Jit's tuneBudget is fixed: 0, never asked).
      generated: this.#config.tuneBudget > 0 ? gen : null,
      identity: null,
    };
  }

  /** Parts the policy gives a call of the key (1: it runs whole). */
  #partsWanted(e: Entry): number {
    if (e.family.partition === undefined) return 1;
    const f = e.family;
    const perThread = f.partsPerThread?.(e.spec);
    const c = this.#config;
    return partsFor(f.cost(e.spec), c.threads, c.isa, c.minPartNs, perThread);
  }

  /** The key's call in `n` parts (null: it runs whole). */
  #partition(e: Entry, plan: KernelPlan, n: number): Part[] | null {
    const f = e.family;
    if (f.partition === undefined) return null;
    if (n < 2 || !this.#startPool()) return null;
    const cache = this.#config.codeCache, make = () => f.partition!(e.spec, plan, n);
    const parts = cache === null ? make() : cache.parts(f.name, e.spec, plan, n, make);
    return parts !== null && parts.length > 1 ? parts : null;
  }

  /**
   * The pool's workers, started on first use; false (the call stays on one
   * thread, and so do later ones) when no thread could be started.
   */
  #startPool(): boolean {
    if (this.#pool !== null) return true;
    if (this.#poolFailed) return false;
    const pool = sharedPool();
    try {
      pool.acquire(this.#config.threads - 1);
    } catch (err) {
      pool.release();
      this.#poolFailed = true;
      if (this.#config.verbose) {
        console.error(`njit: no worker threads (${(err as Error).message}): one thread`);
      }
      return false;
    }
    pool.setSpin(SPIN);
    this.#set!.onRelease(pool);
    this.#pool = pool;
    return true;
  }

  /** The job block of a split call. */
  #split(parts: Part[], blocks: CodeBlock[], wake: boolean): Split {
    const n = parts.length;
    const table = Math.ceil((JOB_PARTS + n * PART_BYTES) / 64) * 64;
    const job = new NativeBlock(table + n * ARG_BLOCK_BYTES);
    job.u32[0] = n;
    job.u32[JOB_WAKE / 4] = wake ? 1 : 0;
    if (!wake) {
      // The whole-call kernel (installed last) on the runtime's own argument block.
      job.f64[JOB_WHOLE / 8] = pointerValue(blocks[blocks.length - 1].pointer);
      job.f64[JOB_WHOLE / 8 + 1] = pointerValue(this.#argsPtr!);
    }
    const argsAt = new Int32Array(n), offsets = new Float64Array(n * MAX_OPERANDS);
    const which = partBlocks(parts);
    let most = 0;
    for (const p of parts) most = Math.max(most, p.plan.workspaceBytes);
    const { stride, first } = partWorkspaces(most);
    for (let p = 0; p < n; p++) {
      const argBytes = table + p * ARG_BLOCK_BYTES;
      argsAt[p] = argBytes / 8;
      job.f64[(JOB_PARTS + p * PART_BYTES) / 8] = Number(
        pointerValue(blocks[which[p]].pointer),
      );
      job.f64[(JOB_PARTS + p * PART_BYTES) / 8 + 1] = job.address + argBytes;
      parts[p].offsets.forEach((o, i) => (offsets[p * MAX_OPERANDS + i] = o));
    }
    ensureWorkspace(stride * n);
    return {
      parts: n,
      whole: wake ? null : blocks[blocks.length - 1],
      job,
      argsAt,
      offsets,
      workspaceStride: stride,
      workspaceFirst: first,
      epoch: -1,
      workspace: -1,
    };
  }

  /** The call count from which a new key is tuned (Infinity: tier 2 is off). */
  #tuneStart(): number {
    if (this.#config.tuneBudget <= 0 || !this.#config.jit) return Infinity;
    return this.#eager ? 0 : this.#config.threshold;
  }

  /** A call of a key that tier 2 works on: the candidate the tuner picks, timed. */
  #tier2(e: Entry, kernel: Kernel): void {
    // One timed call of a key at a time: one in a recorded list waits for the list to run.
    if (e.tunePending !== null) return this.#call(e, kernel);
    let t = e.tuner;
    if (t === null) {
      t = this.#startTuning(e, kernel);
      if (t === null) {
        e.tuneAt = Infinity;
        return this.#call(e, kernel);
      }
    }
    const i = t.next(e.calls, this.#eager, this.#measuredNs(e));
    if (i < 0) {
      e.tuneAt = t.resumeAt; // stats() reads the tuner's state when asked
      return this.#call(e, kernel);
    }
    const cand = t.candidates[i];
    if (cand.kernel === null) {
      const t0 = performance.now();
      try {
        const gen = this.#generate(e, cand.plan, cand.parts);
        // The code of a candidate built before (tier 1's included): not installed, not measured.
        const id = generatedIdentity(cand.plan, gen);
        const same = t.candidates.findIndex((c) =>
          c.kernel !== null && identityOf(c.kernel) === id
        );
        if (same >= 0) {
          t.sameAs(i, same, (performance.now() - t0) * 1e6);
          return this.#call(e, kernel);
        }
        const built = this.#install(cand.plan, gen);
        built.identity = id;
        t.built(i, built, (performance.now() - t0) * 1e6);
      } catch (err) {
        t.failed(i, (err as Error)?.message ?? String(err), (performance.now() - t0) * 1e6);
        return this.#call(e, kernel);
      }
    }
    if (this.#lists.recording) {
      // Recorded: timed where it runs (off the event loop), fed back when its list has run.
      // One block per key, zeroed for each timed call (one is pending at a time).
      const counters = e.asyncCounters ??= new NativeBlock(16);
      counters.u32.fill(0);
      e.tunePending = counters;
      e.tunePendingIndex = i;
      this.#recTimed.push(e);
      return this.#record(e, cand.kernel!, counters);
    }
    if (t.record(i, this.#timedCall(e, cand.kernel!))) this.#finishTuning(e, t);
  }

  /**
   * The key's tuning: its tier-1 kernel, the family's other plans and, for a
   * split call, other part counts; null when there is nothing to choose.
   */
  #startTuning(e: Entry, kernel: Kernel): Tuner<Kernel> | null {
    if (e.failure !== null || e.plan === null) return null;
    const list = candidateList<Kernel>(
      e.family,
      e.spec,
      e.plan,
      kernel.asked,
      this.#config.threads,
      this.#config.target,
    );
    if (list.length < 2) return null;
    list[0].kernel = kernel;
    // A process's first compiles also warm V8 up on the generators (7 ms, then 0.1-0.4):
    // the key's own compile or the mean of all, whichever is less.
    const estimate = Math.min(e.compileNs, this.#compileNs / Math.max(1, this.#compiles));
    const t = new Tuner<Kernel>(list, this.#config.tuneBudget, estimate);
    e.tuner = t;
    e.tuneState = "measuring";
    this.#tuneCounters ??= new NativeBlock(16);
    if (this.#config.verbose) {
      console.error(`njit: tune ${e.text}: ${list.length} candidates (tier 1 first)`);
    }
    return t;
  }

  /** The key's kernel time so far, ns, when the runtime profiles (else -1). */
  #measuredNs(e: Entry): number {
    // Recorded calls are not profiled: their key's counters miss them.
    if (!this.#profile || e.counters === null || e.recordedCalls > 0) return -1;
    const u = e.counters.u32;
    return (u[0] + u[1] * 2 ** 32) / tscRate();
  }

  /** Runs the call on a kernel, timed in native code: its ns. */
  #timedCall(e: Entry, kernel: Kernel): number {
    const k = this.#tuneCounters!, u = k.u32;
    u[0] =
      u[1] =
      u[2] =
      u[3] =
        0;
    const split = kernel.split;
    if (split === null) {
      this.#args![WORKSPACE_SLOT] = workspaceAddress;
      this.#d!.callTimed(kernel.block.pointer, this.#argsPtr, k.pointer);
    } else {
      if (split.whole !== null) this.#args![WORKSPACE_SLOT] = workspaceAddress;
      if (split.epoch !== this.#argsEpoch || split.workspace !== workspaceAddress) {
        this.#writeParts(e, split);
      }
      this.#d!.callTimed(this.#pool!.forkJoin, split.job.pointer, k.pointer);
    }
    const cycles = u[0] + u[1] * 2 ** 32;
    if (this.#profile && e.counters !== null) {
      // The key's own counters (stats) include its tuning calls.
      const c = e.counters.u32;
      const total = c[0] + c[1] * 2 ** 32 + cycles, calls = c[2] + c[3] * 2 ** 32 + 1;
      c[0] = total % 2 ** 32;
      c[1] = Math.floor(total / 2 ** 32);
      c[2] = calls % 2 ** 32;
      c[3] = Math.floor(calls / 2 ** 32);
    }
    return cycles / tscRate();
  }

  /** The tuner chose: the key keeps the winner, the other candidates' code is freed. */
  #finishTuning(e: Entry, t: Tuner<Kernel>): void {
    const w = t.winner, win = t.candidates[w];
    // What the kept kernel was generated from can go, its identity kept (a later tuning of the
    // key compares its candidates with it).
    if (win.kernel !== null) {
      identityOf(win.kernel);
      win.kernel.generated = null;
    }
    t.candidates.forEach((c, i) => {
      if (i !== 0 && i !== w && c.kernel !== null) this.#freeKernel(c.kernel);
    });
    if (w > 0 && win.kernel !== null && e.kernel !== null) {
      const old = e.kernel;
      this.#freeKernel(old);
      e.kernel = win.kernel;
      e.plan = win.plan;
      e.parts = win.parts;
      if (e.pinned) this.#pinnedBytes += win.kernel.bytes - old.bytes;
      else {
        this.#lru.remove(e);
        e.lruBytes = win.kernel.bytes;
        this.#lru.insert(e);
      }
    }
    e.tuneAt = Infinity;
    e.tuneState = "done";
    this.#syncTuneStats(e);
    e.tuner = null;
    const gain = t.gain();
    const c = this.#config;
    if (c.tuneCache !== null) {
      c.tuneCache.store(e.text, c.threads, {
        id: win.id,
        plan: win.plan.description,
        parts: win.parts,
        gain,
        us: t.median(w) / 1000,
      });
    }
    if (c.verbose) console.error(`njit: tuned ${e.text}: ${describeTuning(t)}`);
  }

  /** The key's tuning stats from its tuner. */
  #syncTuneStats(e: Entry): void {
    const t = e.tuner;
    if (t === null) return;
    if (t.state !== "done") e.tuneState = t.state;
    const budget = t.available(e.calls, this.#eager, this.#measuredNs(e));
    e.tuneStats = tuneStatsOf(t, e.tuneState ?? t.state, budget);
  }

  /** A plan the tuning cache holds for the key, if it is one of the key's candidates. */
  #fromTuneCache(e: Entry): void {
    const c = this.#config;
    if (c.tuneCache === null || e.tuneAt === Infinity) return;
    const hit = c.tuneCache.lookup(e.text, c.threads);
    if (hit === undefined) return;
    const cand = candidateList(
      e.family,
      e.spec,
      e.plan!,
      this.#partsWanted(e),
      c.threads,
      c.target,
    ).find((x) => x.id === hit.id);
    if (cand === undefined) {
      if (c.verbose) {
        console.error(`njit: ${e.text}: the tuning cache's plan is not a candidate; ignored`);
      }
      return;
    }
    e.plan = cand.plan;
    e.parts = cand.parts;
    e.tuneAt = Infinity;
    e.tuneState = "cached";
    e.tuneStats = {
      state: "cached",
      candidates: [],
      winner: null,
      gain: hit.gain,
      duel: null,
      spentUs: 0,
      lastSpendUs: 0,
      budgetUs: null,
    };
  }

  /** Frees a kernel's code (later, if an async call list still runs it). */
  #freeKernel(k: Kernel): void {
    this.#codeGeneration++;
    for (const b of k.blocks) {
      if (this.#lists.holds(b)) this.#lists.deferFree(b);
      else this.#set!.free(b);
    }
  }

  /** Drops a key's tuning in progress (its kernel was evicted, or the Jit closes). */
  #abandonTuning(e: Entry): void {
    const t = e.tuner;
    if (t === null) return;
    this.#syncTuneStats(e);
    t.candidates.forEach((c, i) => {
      if (i !== 0 && c.kernel !== null && !this.#closed) this.#freeKernel(c.kernel);
    });
    e.tuner = null;
    e.tuneAt = Infinity;
    e.tuneState = "abandoned";
    if (e.tuneStats) e.tuneStats.state = "abandoned";
  }

  /**
   * Warm-up mode: while on, every key tunes from its next call, unbounded by
   * the budget. Turning it off settles each tuning that has measured its
   * least rounds; the rest go on under the budget.
   */
  setEager(on: boolean): void {
    if (this.#closed) throw closedError();
    this.#eager = on;
    for (const e of this.#entries) {
      if (on) e.tuneFrom = e.calls;
      if (e.tuneState === null && e.tuner === null && e.tuneAt !== Infinity) {
        e.tuneAt = this.#tuneStart();
      }
      const t = e.tuner;
      if (on || t === null) continue;
      if (t.settle()) this.#finishTuning(e, t);
      else e.tuneAt = Math.min(e.tuneAt, e.calls);
    }
  }

  /**
   * Keys with a kernel whose tuning has not ended (or not started, but
   * will), among those called since warm-up last began: a key called once
   * before it (a packer's copy at create) never comes back to tune.
   */
  tuningPending(): number {
    let n = 0;
    for (const e of this.#entries) {
      if (
        e.tuner !== null ||
        (e.kernel !== null && e.tuneState === null && e.tuneAt !== Infinity &&
          e.calls > e.tuneFrom)
      ) n++;
    }
    return n;
  }

  #evict(e: Entry): void {
    this.#lru.remove(e);
    this.#abandonTuning(e);
    // An async list still running its code frees it when the list ends.
    if (e.kernel) this.#freeKernel(e.kernel);
    e.kernel = null;
    this.#evictions++;
    if (this.#last === e) this.#last = null;
    if (this.#config.verbose) {
      console.error(
        `njit: evict ${e.text} (cache full: ${this.#lru.count} kernels, ${this.#lru.bytes} bytes)`,
      );
    }
  }

  #writeDump(e: Entry, code: Uint8Array, listing: string, part: string): void {
    const dir = this.#config.dump!;
    const name = e.text.replace(/[^A-Za-z0-9.=-]+/g, "_") + `.${this.#config.isa}.${e.compiles}` +
      part;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeFileSync(`${dir}/${name}.bin`, code);
      Deno.writeTextFileSync(`${dir}/${name}.lst`, listing);
    } catch (err) {
      if (!this.#dumpWarned) {
        console.warn(`njit: cannot write NJIT_DUMP files to ${dir}: ${(err as Error).message}`);
      }
      this.#dumpWarned = true;
    }
  }

  /** Installs code outside the cache (explicitly compiled kernels); freed by close(). */
  installExplicit(code: Uint8Array, workspaceBytes: number): CodeBlock {
    if (this.#closed) throw closedError();
    this.#ensureNative();
    const block = this.#set!.install(code);
    ensureWorkspace(workspaceBytes);
    return block;
  }

  /** Frees a block of {@link installExplicit}. */
  freeExplicit(block: CodeBlock): void {
    if (!this.#closed && !block.freed) this.#set!.free(block);
  }

  /** Calls an explicitly installed block on the operands taken by {@link operand}. */
  callExplicit(block: CodeBlock, ops: number): void {
    if (this.#closed) throw closedError();
    if (block.freed) throw new Error("neural-jit: this kernel was freed");
    const args = this.#args!, addrs = this.#addrs;
    for (let i = 0; i < ops; i++) args[i] = addrs[i];
    args[WORKSPACE_SLOT] = workspaceAddress;
    this.#d!.call(block.pointer, this.#argsPtr);
    // Its operands may belong to another family's slots: the next run rewrites the block.
    this.#dirty = true;
  }

  /** Whether a pool worker is awake now (false before the pool starts): a hint. */
  workerAwake(): boolean {
    return this.#pool !== null && this.#pool.workerAwake;
  }

  /**
   * Keeps the pool's workers spinning between calls while on (see
   * ThreadPool.hold): for a sequence of calls, like a model run. Asked
   * before the kernel set or the pool exists, the hold is kept for them
   * (#ensureNative, KernelSet.onRelease); the set lets go of it with itself.
   */
  holdWorkers(on: boolean): void {
    if (on === this.#held) return;
    this.#held = on;
    this.#set?.hold(on);
  }
  #held = false;

  /**
   * Drops the operands it keeps from the last call (the next call admits its
   * own anew): a long-lived Jit that must not keep a caller's arrays alive.
   */
  forgetOperands(): void {
    this.#views.fill(NO_VIEW);
  }

  /** Frees every kernel (once no async call list runs on them); later calls throw. */
  close(): void {
    if (this.#closed) return;
    this.holdWorkers(false);
    this.#closed = true;
    this.#codeGeneration++;
    this.#lists.abort();
    this.#lists.unpinThreads();
    if (this.#lists.inflight > 0) this.#releaseLater = true;
    else this.#releaseSet();
    for (const e of this.#entries) {
      this.#abandonTuning(e);
      e.kernel = null;
      e.pinned = false;
    }
    this.#lru.clear();
    this.#pinned = this.#pinnedBytes = 0;
    this.#views.fill(NO_VIEW);
    this.#last = null;
    this.#dirty = true;
  }

  #releaseSet(): void {
    if (this.#set) {
      forget(this.#set);
      this.#set.release();
    }
  }

  /** Counters of the runtime and of every key, as a plain object. */
  stats(): JitStats {
    const c = this.#config;
    const keys = this.#entries.map((e) => this.#keyStats(e));
    keys.sort((x, y) => y.totalUs - x.totalUs);
    let hits = 0, misses = 0, calls = 0, reference = 0;
    for (const e of this.#entries) {
      hits += e.hits;
      misses += e.misses;
      calls += e.calls;
      reference += e.referenceCalls;
    }
    return {
      jit: c.jit,
      isa: c.isa,
      threshold: c.threshold,
      threads: c.threads,
      workers: this.#pool?.stats() ?? [],
      calls,
      referenceCalls: reference,
      kernelCalls: calls - reference,
      compiles: this.#compiles,
      hits,
      misses,
      evictions: this.#evictions,
      replays: this.#replays,
      hitRate: hits + misses ? hits / (hits + misses) : 0,
      kernels: this.#lru.count + this.#pinned,
      pinned: this.#pinned,
      churnCompiles: this.#churnCompiles,
      codeCache: c.codeCache === null
        ? null
        : { ...c.codeCache.stats(), installed: this.#fromCodeCache },
      fallbacks: this.#fallbacks,
      codeBytes: this.#lru.bytes + this.#pinnedBytes,
      codeBlocks: this.#set?.size ?? 0,
      cacheCapacity: c.capacity,
      cacheBytes: c.maxBytes,
      compileUs: {
        total: this.#compileNs / 1000,
        mean: this.#compiles ? this.#compileNs / this.#compiles / 1000 : 0,
        max: this.#compileMaxNs / 1000,
      },
      keys,
    };
  }

  /** The hot-path report. */
  report(limit: number): string {
    return formatReport(this.stats(), limit);
  }

  #keyStats(e: Entry): KeyStats {
    this.#syncTuneStats(e);
    let cycles = 0, timed = 0;
    if (e.counters) {
      const u = e.counters.u32;
      cycles = u[0] + u[1] * 2 ** 32;
      timed = u[2] + u[3] * 2 ** 32;
    }
    const kernelNs = cycles && this.#config.jit ? cycles / tscRate() : 0;
    const state = e.kernel
      ? (e.pinned ? "pinned" : "compiled")
      : e.referenceOnly || !this.#config.jit
      ? "reference"
      : "evicted";
    return {
      key: e.text,
      family: e.family.name,
      state,
      hot: e.calls >= this.#config.threshold,
      calls: e.calls,
      kernelCalls: e.calls - e.referenceCalls,
      referenceCalls: e.referenceCalls,
      kernelMeanUs: timed && this.#config.profile ? steadyMeanUs(e, cycles, timed, kernelNs) : null,
      totalUs: kernelNs / 1000,
      kernelCycles: cycles,
      hits: e.hits,
      misses: e.misses,
      compiles: e.compiles,
      compileUs: e.compileNs / 1000,
      firstCallUs: e.firstCallNs ? e.firstCallNs / 1000 : null,
      reason: e.reason,
      plan: e.plan?.description ?? null,
      failure: e.failure,
      codeBytes: e.kernel?.bytes ?? 0,
      threads: Math.min(e.kernel?.split?.parts ?? 1, this.#config.threads),
      parts: e.kernel?.split?.parts ?? 1,
      tier: e.tuneState === "cached" || (e.tuneState === "done" && (e.tuneStats?.winner ?? 0) > 0)
        ? 2
        : 1,
      tuning: e.tuneStats === null
        ? null
        : { ...e.tuneStats, candidates: [...e.tuneStats.candidates] },
    };
  }
}

/**
 * Part `p` runs block `partBlocks(parts)[p]`: equal (spec, plan) pairs share
 * one kernel. Keyed by the spec itself, not its text: a family's `describe`
 * is for people and need not name every field its code depends on.
 */
function partBlocks(parts: Part[]): number[] {
  const seen = new Map<string, number>();
  return parts.map((p) => {
    const id = JSON.stringify(p.spec) + JSON.stringify(p.plan);
    let i = seen.get(id);
    if (i === undefined) seen.set(id, i = seen.size);
    return i;
  });
}

/**
 * A kernel's identity (code_identity.ts), computed on first use (only tier 2 compares them):
 * from what it was generated from, which a kernel keeps until its identity is known.
 */
function identityOf(k: Kernel): string {
  return k.identity ??= generatedIdentity(k.plan, k.generated!);
}

/** The identity of generated programs (code_identity.ts): their bytes, parts and workspace. */
function generatedIdentity(plan: KernelPlan, gen: Generated): string {
  const codes = gen.programs.map((p) => p.code);
  if (gen.parts === null) {
    return codeIdentity(codes, { parts: null, workspaceBytes: plan.workspaceBytes });
  }
  const which = partBlocks(gen.parts);
  let workspaceBytes = plan.workspaceBytes;
  for (const p of gen.parts) workspaceBytes = Math.max(workspaceBytes, p.plan.workspaceBytes);
  const parts = gen.parts.map((p, i) => ({ program: which[i], offsets: p.offsets }));
  return codeIdentity(codes, { parts, workspaceBytes });
}

/** The parts whose kernels differ, in the order `partBlocks` numbers them. */
function distinctParts(parts: Part[]): Part[] {
  const which = partBlocks(parts), out: Part[] = [];
  which.forEach((b, p) => (out[b] ??= parts[p]));
  return out;
}

/** A recorded call's workspace slots: one at offset 0, or none (shared, never written). */
const WORKSPACE_AT_0: [number, number][] = [[WORKSPACE_SLOT, 0]];
const NO_WORKSPACE: [number, number][] = [];

function pointerValue(p: Deno.PointerObject): number {
  return Number(Deno.UnsafePointer.value(p));
}

/**
 * Mean µs of a key's timed calls after its first (the first runs cold: its
 * operands' first touches, and the weights it packs from memory never read
 * before, cost a session's first run milliseconds that a mean over a few
 * dozen calls would spread over all of them); every call's when the first
 * is all there is.
 */
function steadyMeanUs(e: Entry, cycles: number, timed: number, kernelNs: number): number {
  if (timed <= e.firstTimed || e.firstTimed === 0) return kernelNs / timed / 1000;
  return (kernelNs * (cycles - e.firstCycles)) / cycles / (timed - e.firstTimed) / 1000;
}
