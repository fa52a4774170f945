/**
 * CodeArena: executable memory under W^X.
 *
 * Address space is reserved in chunks mapped PROT_NONE. Installing code takes a
 * page-granular range from a chunk (first fit over a sorted free list), makes it
 * read-write, copies the bytes in, then makes it read-execute. No page is ever
 * writable and executable at once. Freeing returns the range to PROT_NONE at
 * once, coalesces it with its neighbours, and unmaps a chunk once it is empty
 * and another chunk exists; the freed pages themselves are dropped (madvise
 * DONTNEED) in batches of 256 KiB, so resident memory stays bounded without a
 * syscall per free. A byte budget bounds the live code.
 *
 * @module
 */
/** Freed bytes that accumulate before their pages are dropped with madvise. */
const PENDING_RELEASE_BYTES = 256 << 10;

import {
  libc,
  libcError,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  pageSize,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./libc.ts";

/** Options of a {@link CodeArena}. */
export interface CodeArenaOptions {
  /** Most bytes of live code (page-rounded) at once. Default 64 MiB. */
  budgetBytes?: number;
  /** Address space reserved per chunk. Default 1 MiB. */
  chunkBytes?: number;
}

/** Counters of a {@link CodeArena}. */
export interface CodeArenaStats {
  /** Blocks installed and not yet freed. */
  blocks: number;
  /** Page-rounded bytes held by live blocks. */
  liveBytes: number;
  /** Bytes of address space reserved in chunks. */
  reservedBytes: number;
  /** Chunks currently mapped. */
  chunks: number;
  /** Blocks installed since the arena was made. */
  installs: number;
  /** Blocks freed since the arena was made. */
  frees: number;
  /** The byte budget. */
  budgetBytes: number;
}

interface Chunk {
  base: Deno.PointerObject;
  pages: number;
  /** Free ranges as [firstPage, pageCount], sorted by firstPage, never adjacent. */
  free: [number, number][];
  livePages: number;
}

/** A piece of installed machine code. Valid until freed. */
export class CodeBlock {
  /** Start of the code, as a pointer object for FFI calls. */
  readonly pointer: Deno.PointerObject;
  /** Start of the code as a number (exact: user-space addresses are below 2^53). */
  readonly address: number;
  /** Bytes of code. */
  readonly size: number;
  /** Page-rounded bytes reserved for it. */
  readonly reservedBytes: number;
  /** @internal */
  readonly chunk: object;
  /** @internal first page within the chunk */
  readonly firstPage: number;
  #freed = false;
  #fn:
    | Deno.UnsafeFnPointer<{ readonly parameters: readonly ["pointer"]; readonly result: "void" }>
    | undefined;

  /** @internal */
  constructor(
    pointer: Deno.PointerObject,
    size: number,
    reservedBytes: number,
    chunk: object,
    firstPage: number,
  ) {
    this.pointer = pointer;
    this.address = Number(Deno.UnsafePointer.value(pointer));
    this.size = size;
    this.reservedBytes = reservedBytes;
    this.chunk = chunk;
    this.firstPage = firstPage;
  }

  /** True once the block was freed; calling it then is a use-after-free. */
  get freed(): boolean {
    return this.#freed;
  }

  /** @internal */
  markFreed(): void {
    this.#freed = true;
    this.#fn = undefined;
  }

  /**
   * The block as a `Deno.UnsafeFnPointer` taking one pointer (the argument
   * block). Convenient but slow: Deno calls it through its generic path
   * (hundreds of ns); the runtime dispatches through the trampoline instead.
   */
  get fnPointer(): Deno.UnsafeFnPointer<
    { readonly parameters: readonly ["pointer"]; readonly result: "void" }
  > {
    if (this.#freed) throw new Error("neural-jit: this code block was freed");
    const definition = { parameters: ["pointer"], result: "void" } as const;
    this.#fn ??= new Deno.UnsafeFnPointer(
      this.pointer as Deno.PointerObject<typeof definition>,
      definition,
    );
    return this.#fn;
  }
}

/** Executable memory, written while read-write and run only while read-execute. */
export class CodeArena {
  readonly #page: number;
  readonly #chunkPages: number;
  readonly #budget: number;
  #chunks: Chunk[] = [];
  #livePages = 0;
  #blocks = 0;
  #installs = 0;
  #frees = 0;
  #closed = false;
  #pending: [number, number][] = [];
  #pendingBytes = 0;

  /** Makes an arena; nothing is mapped until the first install. */
  constructor(options: CodeArenaOptions = {}) {
    this.#page = pageSize();
    const budget = options.budgetBytes ?? 64 << 20;
    const chunk = options.chunkBytes ?? 1 << 20;
    if (!Number.isInteger(budget) || budget < this.#page) {
      throw new RangeError(
        `CodeArena: budgetBytes must be an integer of at least one page (${this.#page}), got ${budget}`,
      );
    }
    if (!Number.isInteger(chunk) || chunk < this.#page) {
      throw new RangeError(
        `CodeArena: chunkBytes must be an integer of at least one page (${this.#page}), got ${chunk}`,
      );
    }
    this.#budget = budget;
    this.#chunkPages = Math.ceil(chunk / this.#page);
  }

  /** The page size the arena works in. */
  get pageSize(): number {
    return this.#page;
  }

  /**
   * Copies `code` into fresh pages and makes them read-execute.
   * Throws a RangeError when the budget would be exceeded.
   */
  install(code: Uint8Array): CodeBlock {
    if (this.#closed) throw new Error("neural-jit: the code arena is closed");
    if (code.length === 0) throw new RangeError("CodeArena.install: code is empty");
    const pages = Math.ceil(code.length / this.#page);
    if ((this.#livePages + pages) * this.#page > this.#budget) {
      throw new RangeError(
        `CodeArena.install: ${code.length} bytes of code would exceed the budget of ` +
          `${this.#budget} bytes (${this.#livePages * this.#page} live)`,
      );
    }
    const [chunk, first] = this.#take(pages);
    const bytes = pages * this.#page;
    const at = Deno.UnsafePointer.offset(chunk.base, first * this.#page) as Deno.PointerObject;
    // Pages about to hold code again must not be dropped later under it.
    this.#unpend(Number(Deno.UnsafePointer.value(at)), bytes);
    const c = libc();
    if (c.mprotect(at, BigInt(bytes), PROT_READ | PROT_WRITE) !== 0) {
      const err = libcError("mprotect(RW)");
      this.#give(chunk, first, pages);
      throw err;
    }
    c.memcpy(at, code, BigInt(code.length));
    if (c.mprotect(at, BigInt(bytes), PROT_READ | PROT_EXEC) !== 0) {
      const err = libcError("mprotect(RX)");
      this.#release(at, bytes);
      this.#give(chunk, first, pages);
      throw err;
    }
    this.#livePages += pages;
    this.#blocks++;
    this.#installs++;
    return new CodeBlock(at, code.length, bytes, chunk, first);
  }

  /** Returns a block's pages: no access, dropped, reusable. Freeing twice throws. */
  free(block: CodeBlock): void {
    if (block.freed) throw new Error("neural-jit: code block freed twice");
    const chunk = block.chunk as Chunk;
    if (!this.#chunks.includes(chunk)) {
      throw new Error("neural-jit: code block does not belong to this arena");
    }
    const pages = block.reservedBytes / this.#page;
    this.#release(block.pointer, block.reservedBytes);
    block.markFreed();
    this.#livePages -= pages;
    this.#blocks--;
    this.#frees++;
    this.#give(chunk, block.firstPage, pages);
  }

  /** Counters for tests and stats. */
  stats(): CodeArenaStats {
    return {
      blocks: this.#blocks,
      liveBytes: this.#livePages * this.#page,
      reservedBytes: this.#chunks.reduce((s, c) => s + c.pages * this.#page, 0),
      chunks: this.#chunks.length,
      installs: this.#installs,
      frees: this.#frees,
      budgetBytes: this.#budget,
    };
  }

  /** Unmaps everything. Blocks still held must not be called afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const chunk of this.#chunks) {
      libc().munmap(chunk.base, BigInt(chunk.pages * this.#page));
    }
    this.#chunks = [];
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#livePages = 0;
    this.#blocks = 0;
  }

  #release(at: Deno.PointerObject, bytes: number): void {
    const c = libc();
    if (c.mprotect(at, BigInt(bytes), PROT_NONE) !== 0) throw libcError("mprotect(NONE)");
    // Dropping the pages costs a syscall per free; batch it. Freed pages are
    // inaccessible at once; their memory goes back once enough are pending.
    this.#pending.push([Number(Deno.UnsafePointer.value(at)), bytes]);
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= PENDING_RELEASE_BYTES) this.#dropPending();
  }

  /** madvise(DONTNEED) every pending freed range. */
  #dropPending(): void {
    const c = libc();
    for (const [at, bytes] of this.#pending) {
      c.madvise(Deno.UnsafePointer.create(BigInt(at)), BigInt(bytes), MADV_DONTNEED);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Forgets pending releases inside [start, start+bytes): those pages are in use again. */
  #unpend(start: number, bytes: number): void {
    if (this.#pending.length === 0) return;
    const end = start + bytes;
    const kept: [number, number][] = [];
    for (const [s, n] of this.#pending) {
      const e = s + n;
      if (e <= start || s >= end) {
        kept.push([s, n]);
        continue;
      }
      if (s < start) kept.push([s, start - s]);
      if (e > end) kept.push([end, e - end]);
    }
    this.#pending = kept;
    this.#pendingBytes = kept.reduce((t, [, n]) => t + n, 0);
  }

  /** First fit over all chunks; maps a new chunk when none has room. */
  #take(pages: number): [Chunk, number] {
    for (const chunk of this.#chunks) {
      const free = chunk.free;
      for (let i = 0; i < free.length; i++) {
        const range = free[i];
        if (range[1] < pages) continue;
        const first = range[0];
        if (range[1] === pages) free.splice(i, 1);
        else {
          range[0] += pages;
          range[1] -= pages;
        }
        chunk.livePages += pages;
        return [chunk, first];
      }
    }
    const chunkPages = Math.max(this.#chunkPages, pages);
    const base = libc().mmap(
      null,
      BigInt(chunkPages * this.#page),
      PROT_NONE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
      -1,
      0n,
    );
    // MAP_FAILED is (void*)-1.
    if (base === null || Deno.UnsafePointer.value(base) === 0xffffffffffffffffn) {
      throw libcError("mmap");
    }
    const chunk: Chunk = { base, pages: chunkPages, free: [], livePages: pages };
    if (chunkPages > pages) chunk.free.push([pages, chunkPages - pages]);
    this.#chunks.push(chunk);
    return [chunk, 0];
  }

  /** Puts a range back, merging with free neighbours; drops empty spare chunks. */
  #give(chunk: Chunk, first: number, pages: number): void {
    chunk.livePages -= pages;
    const free = chunk.free;
    let i = 0;
    while (i < free.length && free[i][0] < first) i++;
    const prev = i > 0 ? free[i - 1] : undefined;
    const next = i < free.length ? free[i] : undefined;
    if (prev && prev[0] + prev[1] === first) {
      prev[1] += pages;
      if (next && prev[0] + prev[1] === next[0]) {
        prev[1] += next[1];
        free.splice(i, 1);
      }
    } else if (next && first + pages === next[0]) {
      next[0] = first;
      next[1] += pages;
    } else {
      free.splice(i, 0, [first, pages]);
    }
    if (chunk.livePages === 0 && this.#chunks.length > 1) {
      const base = Number(Deno.UnsafePointer.value(chunk.base));
      this.#unpend(base, chunk.pages * this.#page);
      libc().munmap(chunk.base, BigInt(chunk.pages * this.#page));
      this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
    }
  }
}
