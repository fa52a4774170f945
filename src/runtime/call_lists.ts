/**
 * The async form's call lists: calls recorded by `jit.async` (each with its
 * own copy of its argument block or split job), run in order off the event
 * loop by nonblocking FFI calls into the pool's `runAll`. What must outlive
 * the JavaScript side while they run is held here: the code of every
 * recorded kernel (an eviction defers its free until no list holds it) and
 * the operands' buffers (handed to the nonblocking call, which keeps their
 * backing stores alive even if they are transferred meanwhile).
 *
 * @module
 */
import type { CodeBlock } from "../native/arena.ts";
import type { Dispatch } from "../native/dispatch.ts";
import { GuardedPages, NativeBlock } from "../native/memory.ts";
import { libc, threadId } from "../native/libc.ts";
import {
  JOB_ISSUER,
  JOB_PARTS,
  JOB_PIN,
  JOB_TID,
  MASK_BYTES,
  PART_BYTES,
} from "../native/pool_code.ts";
import { LIST_PIN_HOLD_MS, PIN_LISTS, STEER_ISSUER } from "./policy.ts";

/** One call of a list: its code and its own argument block (or job block). */
export interface RecordedCall {
  /** Address of the code to enter with its argument block. */
  fn: number;
  /** The slab holding its argument block (or job block), at byte offset `at`. */
  args: NativeBlock;
  at: number;
  /** (f64 index in the block, byte offset in the list's workspace) of each workspace slot. */
  workspace: [number, number][];
  /** The buffers of its operands. */
  buffers: ArrayBufferLike[];
  /**
   * A call tier 2 times: the list enters `part` (the pool's `timedPart`) with
   * the block at `header` + `at` ([fn, argument block, counters] as doubles).
   */
  timed?: { part: number; header: NativeBlock; at: number };
}

interface Recording {
  calls: RecordedCall[];
  /** Keep the operands' buffers alive (jit.async's `retain`). */
  retain: boolean;
  /** Collect the operands' buffers (retained, or held by a kept list). */
  collect: boolean;
  /** The slab argument blocks are cut from now, and the next free byte in it. */
  slab: NativeBlock | null;
  slabUsed: number;
  /** Every slab the recording cut blocks from (back to the spares once its calls have run). */
  slabs: NativeBlock[];
  workspaceBytes: number;
  /** The code the calls run: not freed (by an eviction) until they have run. */
  blocks: CodeBlock[];
  blockSet: Set<CodeBlock>;
}

/**
 * Buffers handed to one nonblocking call besides its list (the trampoline
 * ignores them): Deno keeps each one's backing store alive until the call
 * returns (without them, a transferred and collected operand segfaulted).
 */
const KEPT_BUFFERS = 8;

type KeptBuffers = [
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
  ArrayBuffer,
];

/** No buffers kept (the caller owns them). */
const NO_BUFFERS = new Array(KEPT_BUFFERS).fill(null) as unknown as KeptBuffers;

/** MASK_BYTES as the affinity calls take it (made once: every run steers its issuer). */
const MASK_LENGTH = BigInt(MASK_BYTES);

/** Bytes of one slab of recorded argument blocks. */
const SLAB_BYTES = 16384;

/**
 * Slabs and list blocks kept for the next recordings: a fresh 16 KiB
 * ArrayBuffer per `jit.async` call faulted its four pages in anew (~12 µs
 * each on the 2-vCPU guest, `bench/page_faults.ts`), most of what going
 * off the loop cost a small call (`bench/async_hop.ts`: +145-156 → +25-51
 * µs for an 8×64×64 GEMM).
 */
const SPARE_BLOCKS = 4;

/**
 * A recording kept to run again ({@link CallLists.keep}): its calls and the
 * code they enter (held only while a run is in flight), and its list block,
 * built on the first run and patched when the workspace moves.
 */
export interface KeptList {
  readonly calls: readonly RecordedCall[];
  readonly blocks: readonly CodeBlock[];
  /** Every operand's buffer, held while the list is (a replay checks none was detached). */
  readonly buffers: readonly ArrayBufferLike[];
  readonly workspaceBytes: number;
  list: NativeBlock | null;
  /** The workspace address the list's calls hold. */
  listBase: number;
  /** A run of it is in flight. */
  busy: boolean;
}

/** The call lists of one runtime: the one being recorded and those in flight. */
export class CallLists {
  #recording: Recording | null = null;
  #inflight = 0;
  /** Code blocks recorded or in-flight lists run, with how many lists hold each. */
  readonly #held = new Map<CodeBlock, number>();
  /**
   * Kept lists in flight: each holds its blocks as a whole (a replay adds
   * and drops one entry instead of counting every block; evictions, rare,
   * look through them).
   */
  readonly #busyKept = new Set<KeptList>();
  /** Blocks evicted while held: freed when their last list lets go. */
  readonly #deferred = new Set<CodeBlock>();
  readonly #free: (block: CodeBlock) => void;

  /** `free` releases a block's code (the runtime's kernel set). */
  constructor(free: (block: CodeBlock) => void) {
    this.#free = free;
  }

  /** Whether calls are being recorded now. */
  get recording(): boolean {
    return this.#recording !== null;
  }

  /** Lists running now. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Starts recording. Throws inside another recording. `collect`: gather
   * the operands' buffers even when not retaining them (a kept list holds
   * them).
   */
  begin(retain = true, collect = retain): void {
    if (this.#recording !== null) throw new Error("Jit: async calls do not nest");
    this.#recording = {
      calls: [],
      retain,
      collect,
      slab: null,
      slabUsed: 0,
      slabs: [],
      workspaceBytes: 0,
      blocks: [],
      blockSet: new Set(),
    };
  }

  /** Whether the recording keeps operand buffers (else the caller owns them). */
  get retaining(): boolean {
    return this.#recording?.retain ?? true;
  }

  /** Whether the recording gathers its calls' operand buffers. */
  get collecting(): boolean {
    return this.#recording?.collect ?? true;
  }

  /**
   * A block of `bytes` for a recorded call's arguments, cut from a slab the
   * recording shares (a NativeBlock per call cost ~3 µs: an ArrayBuffer, its
   * views and its address): [slab, byte offset], 64-byte aligned.
   */
  argBlock(bytes: number): [NativeBlock, number] {
    const r = this.#recording!;
    const size = Math.ceil(bytes / 64) * 64;
    if (size > SLAB_BYTES / 4) return [new NativeBlock(size), 0];
    if (r.slab === null || r.slabUsed + size > SLAB_BYTES) {
      r.slab = this.#spareSlabs.pop() ?? new NativeBlock(SLAB_BYTES);
      r.slabs.push(r.slab);
      r.slabUsed = 0;
    }
    const at = r.slabUsed;
    r.slabUsed += size;
    return [r.slab, at];
  }

  /** Drops the calls recorded (none of them runs). */
  abort(): void {
    if (this.#recording !== null) {
      this.#release(this.#recording);
      this.#recycle(this.#recording.slabs);
    }
    this.#recording = null;
  }

  /** Adds a call to the recording, holding its code from now on. */
  add(call: RecordedCall, blocks: readonly CodeBlock[], workspaceBytes: number): void {
    const r = this.#recording!;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      if (r.blockSet.has(b)) continue;
      r.blockSet.add(b);
      r.blocks.push(b);
      this.#held.set(b, (this.#held.get(b) ?? 0) + 1);
    }
    r.calls.push(call);
    r.workspaceBytes = Math.max(r.workspaceBytes, workspaceBytes);
  }

  /** Whether a list holds this block: its free must wait ({@link deferFree}). */
  holds(block: CodeBlock): boolean {
    if (this.#held.has(block)) return true;
    for (const k of this.#busyKept) if (k.blocks.includes(block)) return true;
    return false;
  }

  /** Frees the block when the last list holding it ends. */
  deferFree(block: CodeBlock): void {
    this.#deferred.add(block);
  }

  /**
   * Runs the recording in order through `runAll` off the event loop; `done`
   * runs after, when the list no longer holds anything.
   */
  run(d: Dispatch, runAll: Deno.PointerObject, done: () => void, retain = true): Promise<void> {
    const r = this.#recording;
    this.#recording = null;
    if (r === null || r.calls.length === 0) {
      if (r !== null) this.#release(r);
      return Promise.resolve();
    }
    this.#inflight++;
    return this.#segments(r, d, runAll, retain).finally(() => {
      this.#release(r);
      this.#recycle(r.slabs);
      this.#inflight--;
      done();
    });
  }

  /**
   * Ends the recording without running it and keeps it for {@link replay}:
   * the code it enters is let go until a run holds it again (the runtime
   * tells a kept list that met a free of its code from one that did not).
   */
  keep(): KeptList {
    const r = this.#recording!;
    this.#recording = null;
    const buffers = new Set<ArrayBufferLike>();
    for (const c of r.calls) for (const b of c.buffers) buffers.add(b);
    const kept: KeptList = {
      calls: r.calls,
      blocks: [...r.blocks],
      buffers: [...buffers],
      workspaceBytes: r.workspaceBytes,
      list: null,
      listBase: -1,
      busy: false,
    };
    this.#release(r);
    return kept;
  }

  /**
   * Runs a kept list off the event loop (one nonblocking call: the caller
   * owns every operand's buffer), holding its code until it ends; `done`
   * runs after.
   */
  replay(k: KeptList, d: Dispatch, runAll: Deno.PointerObject, done: () => void): Promise<void> {
    if (k.calls.length === 0) {
      done();
      return Promise.resolve();
    }
    this.#busyKept.add(k);
    k.busy = true;
    this.#inflight++;
    const workspace = this.#listFor(k);
    this.#pin(k.list!);
    this.#steer(k.list!);
    return d.callAsyncKeeping(runAll, k.list!.pointer, ...NO_BUFFERS).finally(() => {
      this.#unsteer(k.list!);
      this.#leftPinned(k.list!);
      if (workspace !== null) this.#returnWorkspace(workspace);
      this.#busyKept.delete(k);
      if (this.#deferred.size > 0) this.#freeDeferred();
      k.busy = false;
      this.#inflight--;
      done();
    });
  }

  /**
   * Runs a kept list now, on this thread (split calls still fork to the
   * workers): `runSync`'s replay. Its code needs no hold (nothing is freed
   * before this returns); the caller checked no run of it is in flight.
   */
  replayNow(k: KeptList, d: Dispatch, runAll: Deno.PointerObject): void {
    if (k.calls.length === 0) return;
    const workspace = this.#listFor(k);
    // Not pinned: the calling thread stays where the scheduler has it.
    k.list!.u32[JOB_PIN / 4] = 0;
    try {
      d.call(runAll, k.list!.pointer);
    } finally {
      if (workspace !== null) this.#returnWorkspace(workspace);
    }
  }

  /** A workspace for a kept list's run, its list block built or pointed at it. */
  #listFor(k: KeptList): GuardedPages | null {
    const workspace = k.workspaceBytes > 0 ? this.#workspace(k.workspaceBytes) : null;
    const base = workspace?.address ?? 0;
    if (k.list === null) k.list = listOf(k.calls, workspace);
    else if (k.listBase !== base) patchWorkspace(k.calls, base);
    k.listBase = base;
    return workspace;
  }

  /**
   * Ends the recording and runs it now, on this thread (split calls still
   * fork to the workers): a synchronous recording that is not kept.
   */
  runNow(d: Dispatch, runAll: Deno.PointerObject): void {
    if (this.#recording === null) return;
    try {
      this.flush(d, runAll);
    } finally {
      this.abort(); // nothing left in it: ends it, its slabs back to the spares
    }
  }

  /** Runs the calls recorded so far now, on this thread (before a call that must run here). */
  flush(d: Dispatch, runAll: Deno.PointerObject): void {
    const r = this.#recording!;
    if (r.calls.length === 0) return;
    const workspace = r.workspaceBytes > 0 ? this.#workspace(r.workspaceBytes) : null;
    const list = this.#listOf(r.calls, workspace); // not pinned: a fresh or cleared header
    try {
      d.call(runAll, list.pointer);
    } finally {
      this.#spareList(list);
      if (workspace !== null) this.#returnWorkspace(workspace);
    }
    this.#release(r);
    r.calls = [];
    r.workspaceBytes = 0;
  }

  /** Forgets every list (the runtime is closed: its code is freed whole). */
  clear(): void {
    this.#recording = null;
    this.#spare?.free();
    this.#spare = null;
    this.#held.clear();
    this.#busyKept.clear();
    this.#deferred.clear();
    this.#spareSlabs.length = this.#spareLists.length = 0;
  }

  /**
   * Segments of at most `KEPT_BUFFERS` buffers, one nonblocking call each, one
   * workspace. Without `retain` (the caller owns every operand's buffer and
   * neither transfers nor resizes one meanwhile) the whole list is one call.
   */
  async #segments(
    r: Recording,
    d: Dispatch,
    runAll: Deno.PointerObject,
    retain: boolean,
  ): Promise<void> {
    const workspace = r.workspaceBytes > 0 ? this.#workspace(r.workspaceBytes) : null;
    try {
      let start = 0;
      while (start < r.calls.length) {
        const kept = new Set<ArrayBufferLike>();
        let end = start;
        if (!retain) end = r.calls.length;
        for (; end < r.calls.length; end++) {
          const more = r.calls[end].buffers.filter((b) => !kept.has(b));
          if (kept.size + more.length > KEPT_BUFFERS && end > start) break;
          for (const b of more) kept.add(b);
        }
        const list = this.#listOf(r.calls.slice(start, end), workspace);
        this.#pin(list);
        this.#steer(list);
        const keep: (ArrayBufferLike | null)[] = [...kept];
        while (keep.length < KEPT_BUFFERS) keep.push(null);
        try {
          await d.callAsyncKeeping(runAll, list.pointer, ...(keep as KeptBuffers));
        } finally {
          this.#unsteer(list);
          this.#leftPinned(list);
          this.#spareList(list);
        }
        start = end;
      }
    } finally {
      if (workspace !== null) this.#returnWorkspace(workspace);
    }
  }

  /**
   * The CPU lists run on (policy.ts, `PIN_LISTS`): the issuing thread's at
   * the first list, kept (a waiting thread wakes on either CPU; the data of
   * the runs before is where they ran). −1: not chosen yet, or unknown.
   */
  #cpu = -1;

  #pin(list: NativeBlock): void {
    if (PIN_LISTS && this.#cpu < 0) this.#cpu = libc().sched_getcpu();
    list.u32[JOB_PIN / 4] = PIN_LISTS && this.#cpu >= 0 ? this.#cpu + 1 : 0;
    list.u32[JOB_TID / 4] = 0;
  }

  /** The issuing thread's tid, read at its first steered list (see `STEER_ISSUER`). */
  #issuerTid = 0;
  /** The issuing thread's own mask, read when the first of the steered lists in flight began. */
  readonly #issuerMask = new Uint8Array(MASK_BYTES);
  /** Lists in flight that steer the issuer's wake-up. */
  #steering = 0;

  /**
   * Asks a pinned list to pin the issuing thread to its CPU as it ends (see
   * `STEER_ISSUER`): onto a CPU the thread may use only, its own mask kept
   * to be given back.
   */
  #steer(list: NativeBlock): void {
    list.u32[JOB_ISSUER / 4] = 0;
    const pin = list.u32[JOB_PIN / 4];
    if (!STEER_ISSUER || pin === 0) return;
    const c = libc(), cpu = pin - 1, own = this.#issuerMask;
    if (this.#steering === 0) {
      if (c.sched_getaffinity(0, MASK_LENGTH, own) !== 0) return;
    }
    if (cpu >= MASK_BYTES * 8 || ((own[cpu >> 3] >> (cpu & 7)) & 1) === 0) return;
    if (this.#issuerTid === 0) this.#issuerTid = threadId();
    this.#steering++;
    list.u32[JOB_ISSUER / 4] = this.#issuerTid;
  }

  /** The list has ended and this thread is awake: its own mask back. */
  #unsteer(list: NativeBlock): void {
    if (list.u32[JOB_ISSUER / 4] === 0) return;
    list.u32[JOB_ISSUER / 4] = 0;
    libc().sched_setaffinity(0, MASK_LENGTH, this.#issuerMask);
    this.#steering--;
  }

  /** Threads lists left pinned (tids), given their masks back together (see `LIST_PIN_HOLD_MS`). */
  readonly #pinnedThreads = new Set<number>();
  /** When the last list that left a thread pinned ended (performance.now()). */
  #lastPinnedEnd = 0;
  #unpinArmed = false;

  /** After a list ran: the thread it left pinned, if any, is given its mask back later. */
  #leftPinned(list: NativeBlock): void {
    const tid = list.u32[JOB_TID / 4];
    if (tid === 0) return;
    list.u32[JOB_TID / 4] = 0;
    this.#pinnedThreads.add(tid);
    this.#lastPinnedEnd = performance.now();
    // One timer at a time (not one per list): it looks again when it fires.
    if (!this.#unpinArmed) this.#unpinAfter(LIST_PIN_HOLD_MS);
  }

  /** Gives the pinned threads their masks back in `ms`, or later if lists keep ending. */
  #unpinAfter(ms: number): void {
    this.#unpinArmed = true;
    afterQuietly(ms, () => {
      this.#unpinArmed = false;
      const quiet = performance.now() - this.#lastPinnedEnd;
      if (quiet < LIST_PIN_HOLD_MS || this.#inflight > 0) {
        return this.#unpinAfter(Math.max(1, LIST_PIN_HOLD_MS - quiet));
      }
      this.unpinThreads();
    });
  }

  /**
   * Gives the threads lists left pinned their masks back: this thread's own
   * (the issuing thread's, as Deno's threads inherit the process's). While a
   * list runs, later (it may run on one of them).
   */
  unpinThreads(): void {
    if (this.#pinnedThreads.size === 0) return;
    if (this.#inflight > 0) {
      if (!this.#unpinArmed) this.#unpinAfter(LIST_PIN_HOLD_MS);
      return;
    }
    const c = libc(), mask = new Uint8Array(MASK_BYTES);
    if (c.sched_getaffinity(0, MASK_LENGTH, mask) === 0) {
      for (const tid of this.#pinnedThreads) c.sched_setaffinity(tid, MASK_LENGTH, mask);
    }
    this.#pinnedThreads.clear();
  }

  /** Slabs of recordings whose calls have run (see `SPARE_BLOCKS`). */
  readonly #spareSlabs: NativeBlock[] = [];
  /** List blocks of lists that have run. */
  readonly #spareLists: NativeBlock[] = [];

  #recycle(slabs: NativeBlock[]): void {
    for (const s of slabs) if (this.#spareSlabs.length < SPARE_BLOCKS) this.#spareSlabs.push(s);
    slabs.length = 0;
  }

  /** A list block for `calls` (a spare one when it holds them), written by listOf. */
  #listOf(calls: readonly RecordedCall[], workspace: GuardedPages | null): NativeBlock {
    const need = JOB_PARTS + calls.length * PART_BYTES, spares = this.#spareLists;
    for (let i = 0; i < spares.length; i++) {
      if (spares[i].buffer.byteLength >= need) {
        const list = spares.splice(i, 1)[0];
        list.u32.fill(0, 0, JOB_PARTS / 4);
        return listOf(calls, workspace, list);
      }
    }
    return listOf(calls, workspace);
  }

  #spareList(list: NativeBlock): void {
    if (this.#spareLists.length < SPARE_BLOCKS) this.#spareLists.push(list);
  }

  /** A spare workspace: mapping fresh pages per list cost ~0.1 ms of faults per MiB. */
  #spare: GuardedPages | null = null;

  #workspace(bytes: number): GuardedPages {
    const s = this.#spare;
    if (s !== null && s.bytes >= bytes) {
      this.#spare = null;
      return s;
    }
    return new GuardedPages(bytes);
  }

  #returnWorkspace(w: GuardedPages): void {
    if (this.#spare === null || this.#spare.bytes < w.bytes) {
      this.#spare?.free();
      this.#spare = w;
    } else w.free();
  }

  /** Lets a recording's code go; blocks evicted meanwhile are freed when no list holds them. */
  #release(r: Recording): void {
    this.#unhold(r.blocks);
    r.blocks = [];
    r.blockSet.clear();
  }

  /** Frees the blocks evicted while held that no list holds any more. */
  #freeDeferred(): void {
    for (const b of this.#deferred) {
      if (this.holds(b)) continue;
      this.#deferred.delete(b);
      this.#free(b);
    }
  }

  #unhold(blocks: readonly CodeBlock[]): void {
    for (const b of blocks) {
      const left = (this.#held.get(b) ?? 1) - 1;
      if (left > 0) this.#held.set(b, left);
      else {
        this.#held.delete(b);
        // A kept list in flight may hold it still (then that list's end frees it).
        if (this.#deferred.has(b) && !this.holds(b)) {
          this.#deferred.delete(b);
          this.#free(b);
        }
      }
    }
  }
}

/** The cell {@link afterQuietly} waits on: never written, so every wait times out. */
const NEVER = typeof Atomics.waitAsync === "function"
  ? new Int32Array(new SharedArrayBuffer(4))
  : null;

/**
 * Runs `fn` in `ms` without keeping the process alive (at exit the pinned
 * threads go with it): the timeout of an `Atomics.waitAsync` on a cell
 * nothing writes, which V8 runs as a delayed task while the event loop
 * waits on anything else (a list's nonblocking call included). Not a
 * `setTimeout`: the first one a Deno 2.9 process makes loads the timer
 * modules (`deno run -A bench/first_timer.ts`: 12.6-14.4 ms, the first
 * waitAsync 0.16-0.31), which a script's single `session.run()` paid for
 * this timer alone. Where there is no waitAsync, an unref'd setTimeout.
 */
function afterQuietly(ms: number, fn: () => void): void {
  if (NEVER !== null) {
    const wait = Atomics.waitAsync(NEVER, 0, 0, ms);
    if (wait.async) {
      wait.value.then(fn);
      return;
    }
  }
  Deno.unrefTimer(setTimeout(fn, ms));
}

/** The job block listing calls (run in order by `runAll`), on the workspace they share. */
function listOf(
  calls: readonly RecordedCall[],
  workspace: GuardedPages | null,
  list: NativeBlock = new NativeBlock(JOB_PARTS + calls.length * PART_BYTES),
): NativeBlock {
  list.u32[0] = calls.length;
  calls.forEach((c, i) => {
    const t = c.timed;
    list.f64[(JOB_PARTS + i * PART_BYTES) / 8] = t ? t.part : c.fn;
    list.f64[(JOB_PARTS + i * PART_BYTES) / 8 + 1] = t
      ? t.header.address + t.at
      : c.args.address + c.at;
  });
  // No workspace (no kernel of the list needs one): the slots are never read.
  patchWorkspace(calls, workspace?.address ?? 0);
  return list;
}

/** Every call's workspace slots pointed into the workspace at `base`. */
function patchWorkspace(calls: readonly RecordedCall[], base: number): void {
  for (const c of calls) {
    for (const [slot, offset] of c.workspace) c.args.f64[c.at / 8 + slot] = base + offset;
  }
}
