/**
 * Native resources shared by every Jit of this isolate: one code arena (so
 * kernels of many Jits share pages and mappings), one workspace (calls run
 * one at a time on this thread), the trampoline. Each Jit owns a
 * {@link KernelSet}: the blocks it installed. A Jit that is closed frees its
 * set; one dropped without `close()` has its set freed when it is collected
 * (FinalizationRegistry), so 10,000 dropped Jits leave no code behind.
 *
 * @module
 */
import { CodeArena, type CodeBlock } from "../native/arena.ts";
import { GuardedPages } from "../native/memory.ts";
import type { ThreadPool } from "../native/pool.ts";

/** Live code of all Jits at once, bytes (each Jit also bounds its own). */
const ARENA_BUDGET = 1 << 30;

let arena: CodeArena | null = null;
let workspace: GuardedPages | null = null;
let liveSets = 0;

/**
 * Address of the current workspace (0 before any): read on every call, as
 * another Jit may have grown it since.
 */
export let workspaceAddress = 0;

/** The isolate's code arena. */
export function sharedArena(): CodeArena {
  arena ??= new CodeArena({ budgetBytes: ARENA_BUDGET });
  return arena;
}

/**
 * Throws unless `bytes` is a byte count: a plan's size gone wrong (NaN from a field left unset)
 * would leave its kernel writing into the workspace's guard page.
 */
export function checkWorkspaceBytes(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new Error(`workspace of ${bytes} bytes: a plan's size is not a byte count`);
  }
}

/** Grows the workspace (page aligned, guard pages on both sides) to at least `bytes`. */
export function ensureWorkspace(bytes: number): void {
  checkWorkspaceBytes(bytes);
  if (bytes === 0 || (workspace !== null && workspace.bytes >= bytes)) return;
  workspace?.free();
  workspace = new GuardedPages(bytes);
  workspaceAddress = workspace.address;
}

/** Kernel sets not yet released (tests: a dropped Jit's was collected). */
export function liveKernelSets(): number {
  return liveSets;
}

/** The kernels one Jit installed; freed together. */
export class KernelSet {
  readonly #blocks = new Set<CodeBlock>();
  #released = false;
  #pool: ThreadPool | null = null;

  constructor() {
    liveSets++;
  }

  /** Installs code in the shared arena and counts it to this set. */
  install(code: Uint8Array): CodeBlock {
    const block = sharedArena().install(code);
    this.#blocks.add(block);
    return block;
  }

  /** Frees one block of this set. */
  free(block: CodeBlock): void {
    if (!this.#blocks.delete(block)) return;
    sharedArena().free(block);
  }

  /** The pool this set's kernels run on: let go with the set (and its hold, if held). */
  onRelease(pool: ThreadPool): void {
    this.#pool = pool;
    if (this.#held) pool.hold(true);
  }

  /**
   * Holds the pool's workers awake (ThreadPool.hold) while on, from when the
   * pool starts if it has not yet; a set released while holding lets go of
   * its hold, so a Jit dropped mid-hold leaves no held spin to the others.
   */
  hold(on: boolean): void {
    if (on === this.#held) return;
    this.#held = on;
    this.#pool?.hold(on);
  }
  #held = false;

  /** Blocks live in this set. */
  get size(): number {
    return this.#blocks.size;
  }

  /** Frees every block; the last set released also returns the workspace. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    // The workers first: no part of a job may run on code freed below.
    if (this.#held) this.#pool?.hold(false);
    this.#held = false;
    this.#pool?.release();
    this.#pool = null;
    for (const b of this.#blocks) sharedArena().free(b);
    this.#blocks.clear();
    if (--liveSets === 0) {
      workspace?.free();
      workspace = null;
      workspaceAddress = 0;
    }
  }
}

const collected = new FinalizationRegistry<KernelSet>((set) => set.release());

/** Frees `set` when `owner` is collected, unless {@link forget} ran first. */
export function releaseWhenCollected(owner: object, set: KernelSet): void {
  collected.register(owner, set, set);
}

/** Stops watching a set (its owner released it). */
export function forget(set: KernelSet): void {
  collected.unregister(set);
}
