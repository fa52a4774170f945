/**
 * Large zeroed memory with its pages in place, for what a model keeps: its
 * weights (as read, and packed) and its arena of intermediates.
 *
 * Every fresh page costs a fault when first touched. What a fault costs is
 * the guest's: on this project's Firecracker guests the host takes back the
 * 2 MiB blocks the guest frees (virtio-balloon free page reporting, order
 * 9), so a transparent huge page is usually host memory touched for the
 * first time, while 4 KiB pages come from memory freed in pieces.
 * `deno run -A bench/page_faults.ts` (32 MiB written once, each in a fresh
 * process 3 s after the last; AMD guest, 2026-12-03): a V8 array faulted
 * page by page 17.9 ms, these mappings 18.8, huge pages (`MADV_HUGEPAGE`,
 * what this module used before) 114.3 (6.4 in one of three; 5.7 with no
 * pause). A BERT layer's create was 30-50 ms or 200-300 ms by which of
 * these it got. So mappings have small pages, and the range handed out
 * is populated in one madvise (`MADV_POPULATE_WRITE`): about what faulting
 * page by page costs, paid when allocated rather than inside a kernel.
 * Runs did not notice the page size (scratch, weights and arena on 4 KiB
 * or 2 MiB pages: the CNN and the BERT layer within ±1% either way,
 * alternated in one process). The madvise takes the guest's faults only:
 * the first write to a fresh page from here still costs the host's part,
 * ~5 µs a page on the AMD guest (stop 71, scratch: 9 MiB populated in 3 ms,
 * 2305 faults; then copied into in 12-16 ms with no fault; copied again in
 * 0.6-0.9 ms). Pages a session wrote before cost neither, so the pool's
 * choice of a mapping goes by the pages it has in place (takeMapping).
 *
 * A mapping's ArrayBuffer is Deno's view of memory we own
 * (`UnsafePointerView.getArrayBuffer`). It goes back to a pool of mappings
 * (reused, zeroed again, by the next allocation that fits) either when
 * that ArrayBuffer is collected (a FinalizationRegistry) or when its owner
 * gives it back ({@link LargeMemory.release}: a released session, none of
 * whose arrays is used again); the pool keeps at most `POOL_BYTES` and
 * unmaps the rest. Every typed array made here views the ArrayBuffer, and
 * whatever hands its address to native code holds such a view (a packed
 * handle, a session's plan, a recorded list's operand buffers) for as
 * long as the code may run.
 *
 * @module
 */
import {
  jitAvailable,
  libc,
  MADV_POPULATE_WRITE,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "./libc.ts";
import { viewAddress } from "./memory.ts";
import { lineAligned } from "../typed.ts";

/** Bytes of a page (x86-64): mappings are whole pages. */
const PAGE = 4096;

/**
 * Allocations from this many bytes come from mappings of our own; smaller
 * ones from V8's allocator.
 */
export const LARGE_MIN_BYTES = 256 << 10;

/**
 * Bytes of a fresh chunk populated at least at a time: small arrays cut
 * from it one after another take one madvise per step, not one each.
 */
const POPULATE_STEP_BYTES = 256 << 10;

/** Bytes of a shared chunk: allocations up to half of it are cut from one. */
const CHUNK_BYTES = 8 << 20;

/** Most bytes of mappings kept for reuse; beyond, given-back mappings are unmapped. */
const POOL_BYTES = 256 << 20;

/**
 * Most bytes of mappings handed out and not yet given back; past it,
 * allocations come from V8. V8 does not count our mappings, so memory
 * only collection gives back (sessions dropped without `release`) grew
 * unchecked: 300 CNN sessions created and dropped in a loop held 1.2 GB,
 * 712 MB with this cap, 342 MB on V8's own buffers, which press its
 * collector (`bench/memory_growth.ts`).
 */
const LIVE_BYTES = 512 << 20;

/** One mapping: `len` bytes at `at`. */
interface Mapping {
  at: Deno.PointerObject;
  len: number;
  /** Bumped each time it is handed out: a stale ArrayBuffer's finalization is ignored. */
  issue: number;
  /** In the pool (or unmapped): not any ArrayBuffer's now. */
  idle: boolean;
  /**
   * Bytes from its start whose pages are in place (populated or written
   * when handed out): reusing those costs a memset, the rest a fault a page.
   */
  touched: number;
  /**
   * Pooled after an explicit release: the ArrayBuffer it was handed out
   * as, handed out again when the next allocation asks for its length (see
   * giveBack).
   */
  buffer: ArrayBuffer | null;
}

const pool: Mapping[] = [];
let pooled = 0;
/** Bytes of mappings handed out now. */
let live = 0;

/** An ArrayBuffer over a mapping, collected: the mapping goes back (if still its). */
const finalizer = new FinalizationRegistry<[Mapping, number]>(([m, issue]) => {
  if (m.issue === issue) giveBack(m, null);
});

/**
 * A mapping back to the pool (or unmapped beyond POOL_BYTES). An explicit
 * release passes the ArrayBuffer it was handed out as, and the pool keeps
 * it for the next allocation of its length: V8 counts every ArrayBuffer
 * over memory of ours as external memory, and a new one per session grew
 * that count by the session's mappings each create until V8 collected
 * for "external memory pressure" (a CNN's creates, one after another
 * released: a full mark-compact every four creates, 3-8 ms each, inside
 * a create that otherwise takes 3).
 */
function giveBack(m: Mapping, buffer: ArrayBuffer | null): void {
  if (m.idle) return;
  m.idle = true;
  m.issue++;
  live -= m.len;
  if (pooled + m.len <= POOL_BYTES) {
    m.buffer = buffer;
    pool.push(m);
    pooled += m.len;
  } else {
    m.buffer = null;
    libc().munmap(m.at, BigInt(m.len));
  }
}

/**
 * A pooled mapping of at least `len` bytes, or a new one; null when mmap
 * fails. The smallest that fits, and of those as small, the one with the
 * most pages in place: a chunk given back after a session used a little of
 * it is mostly pages never touched, and zeroing those for the next session
 * faulted them in one by one (a scratch timing on the guest: 8.4 MB of a
 * ResNet-style CNN's weights zeroed in 8.8 ms after the sessions of other
 * models, 0.4 ms on pages in place). `deno run -A bench/create_repeat.ts cnn 4
 * mlp1,mlp64,bert,bert-dec,bert-int8`, three runs each way (Zen 5): the
 * CNN's second create 12.4-15.0 → 3.5-6.8 ms. Not a larger mapping for
 * its pages: a chunk took a BERT layer's fully written 9.4 MB weight
 * mapping, whose next request then mapped fresh pages (`... bert 4
 * mlp1,mlp64`: creates 2-3 at 20-32 ms against 8).
 */
function takeMapping(len: number): Mapping | null {
  let best = -1;
  for (let i = 0; i < pool.length; i++) {
    const m = pool[i];
    if (m.len < len) continue;
    const b = best < 0 ? null : pool[best];
    if (b === null || m.len < b.len || (m.len === b.len && m.touched > b.touched)) best = i;
  }
  if (best >= 0) {
    const m = pool.splice(best, 1)[0];
    pooled -= m.len;
    return m;
  }
  const at = libc().mmap(
    null,
    BigInt(len),
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
    -1,
    0n,
  );
  if (at === null || Deno.UnsafePointer.value(at) === 0xffffffffffffffffn) return null;
  return { at, len, issue: 0, idle: true, buffer: null, touched: 0 };
}

/**
 * Faults `bytes` from `offset` of a fresh mapping in now (see the module
 * note); a kernel without the advice leaves them to fault as touched.
 */
function populate(m: Mapping, offset: number, bytes: number): void {
  const from = Math.floor(offset / PAGE) * PAGE;
  const to = Math.min(m.len, Math.ceil((offset + bytes) / PAGE) * PAGE);
  libc().madvise(Deno.UnsafePointer.offset(m.at, from), BigInt(to - from), MADV_POPULATE_WRITE);
}

/** The first `bytes` of a mapping are in place now. */
function touch(m: Mapping, bytes: number): void {
  m.touched = Math.max(m.touched, Math.min(m.len, Math.ceil(bytes / PAGE) * PAGE));
}

/**
 * An ArrayBuffer of `bytes` on a mapping of its own, the mapping, and
 * whether it may hold an earlier owner's data (a reused mapping, its pages
 * in place; a new one is zero, its pages not yet faulted in); null when
 * mmap fails.
 */
function mapLarge(bytes: number): [ArrayBuffer, Mapping, boolean] | null {
  const len = Math.ceil(bytes / PAGE) * PAGE;
  if (live + len > LIVE_BYTES) return null;
  const m = takeMapping(len);
  if (m === null) return null;
  m.idle = false;
  live += m.len;
  let buffer = m.buffer;
  m.buffer = null;
  if (buffer === null || buffer.byteLength !== bytes) {
    buffer = Deno.UnsafePointerView.getArrayBuffer(m.at, bytes);
  }
  // Registered under the mapping: a kept buffer's earlier registration (its old issue) goes.
  finalizer.unregister(m);
  finalizer.register(buffer, [m, m.issue], m);
  return [buffer, m, m.issue > 0];
}

/**
 * One owner's large allocations (a session's weights, as read and packed,
 * and its arenas; files' bytes): those up to half a chunk cut from shared
 * 8 MiB chunks, larger ones mapped alone; small ones from V8. Whatever is
 * handed out is zero and its pages are in place.
 */
export class LargeMemory {
  #chunk: ArrayBuffer | null = null;
  #chunkMapping: Mapping | null = null;
  #used = 0;
  /** The chunk was mapped before: each array cut from it is zeroed as it is cut. */
  #chunkDirty = false;
  /**
   * Every mapping handed out here with the ArrayBuffer it was handed out
   * as, when tracked (for {@link release}, which gives the pool both).
   */
  readonly #mappings: [Mapping, ArrayBuffer][] | null;

  /**
   * Bytes from which arrays are cut from chunks: the large only for an
   * owner whose memory goes back when collected; all of them for one that
   * gives its mappings back. From V8, a session's small arrays were freed
   * only when collected, after the session was released, so the next
   * session's were new heap pages, faulted in one by one (~10 µs each on
   * this project's guests): a scratch trace of a ResNet-style CNN's
   * creates, one after another each released, had half their faults on
   * the malloc heap, in copies of weights under 256 KiB into V8's buffers.
   * Cut from a chunk the session gives back, the next create's are pages
   * in place.
   */
  readonly #chunkMin: number;

  /** `release`: the owner gives its mappings back explicitly (else only collection does). */
  constructor(release = false) {
    this.#mappings = release ? [] : null;
    this.#chunkMin = release ? 0 : LARGE_MIN_BYTES;
  }

  /**
   * A Float32Array of `length` starting on a 64-byte line, zeroed; with
   * `zeroed` false the caller writes every element, and only the bytes
   * past them to the line's end are zeroed (a reused mapping's old data
   * is not cleared first: a create's weights as read were zeroed, then
   * copied over: one more pass over the BERT layer's 28 MB, ~0.4 ms of
   * memset on the guest in a scratch timing).
   */
  floats(length: number, zeroed = true): Float32Array {
    const bytes = Math.max(64, Math.ceil((length * 4) / 64) * 64);
    if (bytes >= this.#chunkMin) {
      if (bytes > CHUNK_BYTES / 2) {
        const own = this.#map(bytes, zeroed ? 0 : length * 4);
        if (own !== null) return new Float32Array(own, 0, length);
      } else {
        if (this.#chunk === null || this.#used + bytes > this.#chunk.byteLength) {
          const got = this.#mapRaw(CHUNK_BYTES);
          this.#chunk = got?.[0] ?? null;
          this.#chunkMapping = got?.[1] ?? null;
          this.#chunkDirty = got?.[2] ?? false;
          this.#used = 0;
        }
        if (this.#chunk !== null) {
          const m = this.#chunkMapping!, end = this.#used + bytes;
          const view = new Float32Array(this.#chunk, this.#used, length);
          // Only what is handed out: zeroing a reused 8 MiB chunk whole cost ~1 ms a create,
          // and faulting in a fresh one whole what the session may never use. A fresh one
          // populated a step ahead: one madvise per small array was a syscall each.
          if (!this.#chunkDirty) {
            if (end > m.touched) {
              const step = Math.max(end - m.touched, POPULATE_STEP_BYTES);
              populate(m, m.touched, step);
              touch(m, m.touched + step);
            }
          } else if (zeroed) view.fill(0);
          else new Uint8Array(this.#chunk, this.#used + length * 4, bytes - length * 4).fill(0);
          this.#used = end;
          touch(m, end);
          return view;
        }
      }
    }
    return lineAligned(length, viewAddress);
  }

  /**
   * An ArrayBuffer of `bytes`: its own mapping when large, else V8's;
   * zeroed unless `zeroed` is false (the caller writes every byte).
   */
  buffer(bytes: number, zeroed = true): ArrayBuffer {
    if (bytes < LARGE_MIN_BYTES) return new ArrayBuffer(bytes);
    if (zeroed) return this.#map(bytes) ?? new ArrayBuffer(bytes);
    const got = this.#mapRaw(bytes);
    if (got === null) return new ArrayBuffer(bytes);
    if (!got[2]) populate(got[1], 0, bytes);
    touch(got[1], bytes); // populated, or written whole by the caller
    return got[0];
  }

  /**
   * Gives every mapping handed out here back to the pool now. Only for an
   * owner none of whose arrays is read or written again, by JavaScript or
   * by native code (a released session, its last run ended).
   */
  release(): void {
    for (const [m, buffer] of this.#mappings?.splice(0) ?? []) giveBack(m, buffer);
    this.#chunk = null;
    this.#chunkMapping = null;
  }

  /**
   * A zeroed ArrayBuffer of its own mapping, its pages in place, or null;
   * a reused one zeroed from `written` (the bytes before it the caller's to write).
   */
  #map(bytes: number, written = 0): ArrayBuffer | null {
    const got = this.#mapRaw(bytes);
    if (got === null) return null;
    if (got[2]) new Uint8Array(got[0], written).fill(0);
    else populate(got[1], 0, bytes);
    touch(got[1], bytes);
    return got[0];
  }

  /** An ArrayBuffer of its own mapping, the mapping and whether it may hold old data, or null. */
  #mapRaw(bytes: number): [ArrayBuffer, Mapping, boolean] | null {
    if (!jitAvailable()) return null;
    const got = mapLarge(bytes);
    if (got === null) return null;
    this.#mappings?.push([got[1], got[0]]);
    return got;
  }
}

/** Files' bytes: given back only when collected. */
const fileMemory = new LargeMemory();

/** The buffers readFileLarge handed out in its own mappings, while alive (for tests). */
const fileBuffers: WeakRef<ArrayBuffer>[] = [];

/**
 * How many files' buffers read into mappings of their own are still alive
 * (not yet collected): a released session must not keep its file's.
 */
export function liveFileBuffers(): number {
  let live = 0;
  for (const r of fileBuffers) if (r.deref() !== undefined) live++;
  return live;
}

/**
 * A whole file's bytes, read into a mapping of its own when large (and
 * native code runs here): `Deno.readFileSync` grows its buffer as it reads
 * (`bench/create_from_file.ts` times both: a 27 MB model 85 ms that way,
 * 55 ms into a buffer of the file's size, on the guest).
 */
export function readFileLarge(path: string): Uint8Array {
  using file = Deno.openSync(path);
  const size = file.statSync().size;
  if (size < LARGE_MIN_BYTES || !jitAvailable()) return Deno.readFileSync(path);
  const bytes = new Uint8Array(fileMemory.buffer(size, false)); // the read writes every byte
  // Collected ones out first: the list holds only the live (and this one).
  for (let i = fileBuffers.length - 1; i >= 0; i--) {
    if (fileBuffers[i].deref() === undefined) fileBuffers.splice(i, 1);
  }
  fileBuffers.push(new WeakRef(bytes.buffer));
  for (let at = 0; at < size;) {
    const n = file.readSync(bytes.subarray(at));
    if (n === null || n === 0) throw new Error(`${path}: ended after ${at} of ${size} bytes`);
    at += n;
  }
  return bytes;
}
