/**
 * Native addresses of JavaScript memory.
 *
 * `Deno.UnsafePointer.of` costs hundreds of ns, so addresses are taken once
 * per ArrayBuffer and cached. That is sound because an ArrayBuffer's backing
 * store does not move: `new ArrayBuffer(n)` is always allocated off the V8
 * heap, and reading `.buffer` of a small on-heap typed array moves its data
 * off-heap for good before we take the address. A detached buffer reports
 * length 0, which validation rejects before any cached address is used.
 *
 * @module
 */
import {
  libc,
  libcError,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  pageSize,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./libc.ts";
import { viewBuffer, viewByteOffset } from "../typed.ts";

const addresses = new WeakMap<ArrayBufferLike, number>();

/**
 * Address of the first byte of `buffer` (stable for the buffer's lifetime),
 * or 0 when it has none now (detached, or empty): 0 is never cached.
 */
export function bufferAddress(buffer: ArrayBufferLike): number {
  let a = addresses.get(buffer);
  if (a === undefined) {
    let p: Deno.PointerValue = null;
    try {
      p = Deno.UnsafePointer.of(buffer as ArrayBuffer);
    } catch { /* detached */ }
    a = p === null ? 0 : Number(Deno.UnsafePointer.value(p));
    if (a !== 0) addresses.set(buffer, a);
  }
  return a;
}

/**
 * Address of element 0 of a typed array (its buffer's address plus the
 * view's offset), both read through the intrinsic getters.
 */
export function viewAddress(view: ArrayBufferView): number {
  // The buffer first: reading it externalizes an on-heap array before the address is taken.
  const base = bufferAddress(viewBuffer(view));
  return base === 0 ? 0 : base + viewByteOffset(view);
}

/**
 * A fixed block of native memory owned by JavaScript: an argument block for
 * kernels, or scratch. The pointer object is made once, so passing it to
 * FFI calls costs nothing.
 */
export class NativeBlock {
  /** The bytes. */
  readonly buffer: ArrayBuffer;
  /** Views over the same bytes. */
  readonly f64: Float64Array;
  /** 32-bit float view. */
  readonly f32: Float32Array;
  /** 32-bit signed view. */
  readonly i32: Int32Array;
  /** 32-bit unsigned view. */
  readonly u32: Uint32Array;
  /** Address as a pointer object for FFI calls. */
  readonly pointer: Deno.PointerObject;
  /** Address as a number. */
  readonly address: number;

  /** Allocates `bytes` (rounded up to 64) off the V8 heap. */
  constructor(bytes: number) {
    this.buffer = new ArrayBuffer(Math.max(64, Math.ceil(bytes / 64) * 64));
    this.f64 = new Float64Array(this.buffer);
    this.f32 = new Float32Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.pointer = Deno.UnsafePointer.of(this.buffer) as Deno.PointerObject;
    this.address = Number(Deno.UnsafePointer.value(this.pointer));
  }
}

/**
 * Native scratch memory for kernels (packing buffers): read-write pages from
 * mmap between two inaccessible guard pages, so a kernel that ran past either
 * end of its workspace would fault at once instead of corrupting anything.
 */
export class GuardedPages {
  /** The first usable byte (page aligned). */
  readonly pointer: Deno.PointerObject;
  /** Its address as a number. */
  readonly address: number;
  /** Usable bytes. */
  readonly bytes: number;
  readonly #base: Deno.PointerObject;
  readonly #total: number;
  #freed = false;

  /** Maps at least `bytes` (rounded up to pages) with a guard page before and after. */
  constructor(bytes: number) {
    const page = pageSize();
    const usable = Math.max(page, Math.ceil(bytes / page) * page);
    this.#total = usable + 2 * page;
    const c = libc();
    const base = c.mmap(null, BigInt(this.#total), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
    if (base === null || Deno.UnsafePointer.value(base) === 0xffffffffffffffffn) {
      throw libcError("mmap");
    }
    const pointer = Deno.UnsafePointer.offset(base, page) as Deno.PointerObject;
    if (c.mprotect(pointer, BigInt(usable), PROT_READ | PROT_WRITE) !== 0) {
      const err = libcError("mprotect(RW)");
      c.munmap(base, BigInt(this.#total));
      throw err;
    }
    this.#base = base;
    this.pointer = pointer;
    this.address = Number(Deno.UnsafePointer.value(pointer));
    this.bytes = usable;
  }

  /** Unmaps the pages (idempotent). */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    libc().munmap(this.#base, BigInt(this.#total));
  }
}
