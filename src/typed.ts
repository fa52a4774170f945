/**
 * The boundary between user input and native code: typed arrays are read
 * through the intrinsic `%TypedArray%.prototype` getters, captured when this
 * module loads, so an own property or a subclass getter cannot lie about a
 * view's length, offset or buffer. A detached buffer reads as length 0; a
 * view that a shrunk resizable buffer leaves out of bounds reads as length 0
 * too. A view's buffer and byte offset never change, so its address can be
 * cached by identity; its length can (detach, resize) and is read on every
 * call.
 *
 * @module
 */

const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Uint8Array.prototype);

function intrinsicGetter(name: PropertyKey): (this: unknown) => unknown {
  const d = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, name);
  if (!d?.get) throw new Error(`neural-jit: %TypedArray%.prototype has no getter ${String(name)}`);
  return d.get;
}

const TAG = intrinsicGetter(Symbol.toStringTag) as (this: unknown) => string | undefined;
const LENGTH = intrinsicGetter("length") as (this: ArrayBufferView) => number;
const BYTE_OFFSET = intrinsicGetter("byteOffset") as (this: ArrayBufferView) => number;
const BUFFER = intrinsicGetter("buffer") as (this: ArrayBufferView) => ArrayBufferLike;

/** Whether `x` is a real Float32Array (a subclass counts); no user code runs. */
/**
 * The typed array kind of x by the intrinsic getter ("Float32Array", ...), or
 * undefined for anything else: a subclass or a proxy cannot change it.
 */
export function typedArrayTag(x: unknown): string | undefined {
  return TAG.call(x);
}

export function isFloat32Array(x: unknown): x is Float32Array {
  return TAG.call(x) === "Float32Array";
}

/** Elements of a real typed array, as the engine knows them (0 when detached or out of bounds). */
export function viewLength(x: ArrayBufferView): number {
  return LENGTH.call(x);
}

/**
 * Whether a real Float32Array holds at least `n` elements. An integer-indexed
 * read goes straight to the buffer (no own property, prototype or subclass
 * takes part) and gives undefined past the end, after a detach, or when a
 * shrunk resizable buffer cut the view off: as exact as the intrinsic length
 * getter, and several times cheaper on the hot path.
 */
export function holds(x: Float32Array, n: number): boolean {
  return n === 0 || x[n - 1] !== undefined;
}

/** Byte offset of a real typed array within its buffer. */
export function viewByteOffset(x: ArrayBufferView): number {
  return BYTE_OFFSET.call(x);
}

/** The buffer of a real typed array. */
export function viewBuffer(x: ArrayBufferView): ArrayBufferLike {
  return BUFFER.call(x);
}

const RESIZABLE = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")?.get;
const GROWABLE = typeof SharedArrayBuffer === "function"
  ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "growable")?.get
  : undefined;

/** Whether a buffer can change length (intrinsic getters: a subclass cannot hide it). */
export function isResizable(buffer: ArrayBufferLike): boolean {
  if (buffer instanceof ArrayBuffer) return RESIZABLE?.call(buffer) === true;
  return GROWABLE?.call(buffer) === true;
}

const DETACHED = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
const BYTE_LENGTH = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength")?.get;

/**
 * Whether a buffer was detached (transferred): its memory is no longer
 * its own. A SharedArrayBuffer never is.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof ArrayBuffer)) return false;
  if (DETACHED) return DETACHED.call(buffer) === true;
  return BYTE_LENGTH!.call(buffer) === 0;
}

/** A value as an error message shows it: its type and, for primitives, itself. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `a bigint (${v}n)`;
  if (typeof v === "symbol") return `a symbol`;
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return "an Array";
  if (typeof v === "object") {
    const tag = TAG.call(v);
    if (tag !== undefined) return `${/^[AEIOU]/.test(tag) ? "an" : "a"} ${tag}`;
    let name = "Object";
    try {
      name = Object.getPrototypeOf(v)?.constructor?.name ?? "Object";
    } catch { /* a hostile proxy: keep the generic name */ }
    return `an object (${name})`;
  }
  if (typeof v === "string") return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * A new zeroed Float32Array of `length` starting on a 64-byte line, from
 * V8's allocator (one line over-allocated); `address` finds an array's
 * address (0 where no native code runs: then any start will do).
 */
export function lineAligned(length: number, address: (v: Float32Array) => number): Float32Array {
  const whole = new Float32Array(length + 16);
  const skip = ((64 - (address(whole) % 64)) % 64) / 4;
  return whole.subarray(skip, skip + length);
}

/**
 * Whether every value of `x` is finite (no ±Inf, no NaN), from the high 16
 * bits of each float: exponent all ones is Inf or NaN. Integer reads only
 * (small integers, never boxed): a loop summing the floats allocated a heap
 * number per weight until V8 optimized it, and a create's packers run it
 * once per weight tensor, unoptimized: garbage for every weight, and a
 * collection every few creates. `deno run -A
 * bench/create_repeat.ts cnn 6` on the Intel Xeon (2026-12-03), three runs
 * each: creates 2-3 took 14-20 and 23-43 ms before, 11-16 after.
 */
export function allFinite(x: Float32Array): boolean {
  const n = viewLength(x);
  const high = new Uint16Array(viewBuffer(x), viewByteOffset(x), 2 * n);
  // Little-endian (x86-64): each float's sign and exponent are its second halfword.
  for (let i = 1; i < 2 * n; i += 2) if ((high[i] & 0x7f80) === 0x7f80) return false;
  return true;
}
