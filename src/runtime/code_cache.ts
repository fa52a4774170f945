/**
 * The code cache: generated kernels kept on disk, so that a new process
 * installs the machine code an earlier one generated instead of running the
 * generators again. A fresh process runs them as cold TypeScript: the
 * ResNet-style CNN's first run spent 32-59 ms generating its 17 kernels
 * (38-66 KB for the convolutions), against the 9 ms a run takes.
 *
 * A family's `generate` is a function of its spec and plan alone, and our
 * code is position independent (constants RIP-relative after it, addresses
 * in argument blocks), so an entry is keyed by the family's name, the spec
 * and the plan written out exactly ({@link canonicalText}: a spec or plan it
 * cannot write exactly is not cached), under a directory per
 * {@link sourceStamp}. A file holds its whole key and a checksum of its code:
 * a file that was cut short, changed or written for another key is a miss,
 * never code that runs.
 *
 * File: `NJITCODE`, then u32 little-endian format, key bytes, code bytes,
 * bytes before the constant pool, instructions, checksum; the key (UTF-8),
 * the code.
 *
 * @module
 */
import { cpuFeatures } from "../cpu.ts";
import type { KernelPlan, OpFamily } from "../kernels/family.ts";
import { granted, hashText, sourceStamp } from "./code_stamp.ts";

/** What a family generates: machine code and its listing. */
type Program = ReturnType<OpFamily["generate"]>;
/** What an entry's file holds of a program. */
type Stored = Pick<
  Program,
  "code" | "codeBytes" | "instructions" | "evexInstructions" | "vexInstructions"
>;

const MAGIC = "NJITCODE";
// Format 2: the counts of EVEX and VEX instructions after the checksum.
const FORMAT = 2;
const HEADER = 40;
/** Entries a stamp's directory holds before it is emptied. */
const MAX_ENTRIES = 16384;
/**
 * Kernels one process writes at most: a model has tens to hundreds; a process
 * compiling thousands of shapes is churning through them, and writing each
 * would cost it more than any later process gains.
 */
const MAX_WRITES = 2048;
/** Stamp directories kept beside a new one (the most recently modified). */
const KEEP_STAMPS = 8;

/** Counts of one cache's use in this process. */
export interface CodeCacheStats {
  /** The stamp's directory. */
  dir: string;
  /** Kernels installed from the cache. */
  hits: number;
  /** Kernels generated because the cache had none (or an unusable file). */
  misses: number;
  /** Kernels written. */
  writes: number;
  /** Whether this process writes there (write access granted, no write failed). */
  writable: boolean;
}

/** One directory of cached kernels. */
export class CodeCache {
  readonly #base: string;
  readonly #stamp: () => string | null;
  readonly #maxEntries: number;
  readonly #machine: () => string;
  #dir: string | null | undefined = undefined;
  #writable = false;
  /** Entries in the directory (counted at the first write, -1 before). */
  #entries = -1;
  #hits = 0;
  #misses = 0;
  #writes = 0;

  /**
   * A cache under `base`, valid for the code `stamp()` names (asked at the
   * first lookup: a Jit that compiles nothing pays nothing), emptied when
   * a process finds `maxEntries` there.
   */
  constructor(
    base: string,
    stamp: () => string | null,
    maxEntries: number = MAX_ENTRIES,
    machine: () => string = () => "",
  ) {
    this.#base = base.replace(/\/+$/, "");
    this.#stamp = stamp;
    this.#maxEntries = maxEntries;
    this.#machine = machine;
  }

  /**
   * The program for this family, spec and plan: the one kept here, or
   * `make()`'s, then kept. Its `kept` is true when it came from the cache.
   */
  program(
    family: string,
    spec: unknown,
    plan: unknown,
    make: () => Program,
  ): { program: Program; kept: boolean } {
    const key = entryKey(family, spec, plan);
    if (key === null || this.#open() === null) return { program: make(), kept: false };
    const found = this.#read(key);
    if (found !== null) {
      this.#hits++;
      return { program: found, kept: true };
    }
    this.#misses++;
    const made = make();
    this.#write(key, made);
    return { program: made, kept: false };
  }

  /** The entry for `key` when its file is whole and for that key, else null. */
  #read(key: string): Program | null {
    try {
      return decode(Deno.readFileSync(`${this.#dir}/${hashText(key)}.bin`), key);
    } catch {
      return null;
    }
  }

  #write(key: string, program: Stored): void {
    const dir = this.#open();
    if (dir === null || !this.#writable || this.#writes >= MAX_WRITES) return;
    try {
      if (this.#entries < 0) {
        this.#entries = 0;
        for (const _ of Deno.readDirSync(dir)) this.#entries++;
      }
      if (this.#entries >= this.#maxEntries) {
        // A full directory starts again empty (what is in use is written again as it
        // compiles): bounded without an index to keep.
        Deno.removeSync(dir, { recursive: true });
        Deno.mkdirSync(dir, { recursive: true });
        this.#entries = 0;
      }
    } catch {
      this.#writable = false;
      return;
    }
    const path = `${dir}/${hashText(key)}.bin`;
    const tmp = `${path}.${Deno.pid}.tmp`;
    try {
      Deno.writeFileSync(tmp, encode(key, program));
      Deno.renameSync(tmp, path);
      this.#writes++;
      this.#entries++;
    } catch {
      this.#writable = false;
      try {
        Deno.removeSync(tmp);
      } catch { /* it was never written */ }
    }
  }

  /**
   * The plan for this family and spec on this target and machine: the one
   * kept here, or `make()`'s, then kept when JSON carries it exactly (else
   * it is searched again next time). Kept with the code so that a process
   * with kept kernels does not search plans either (the CNN stem's tile
   * search: 2.9 ms cold).
   */
  plan(family: string, spec: unknown, target: unknown, make: () => KernelPlan): KernelPlan {
    const key = this.#keptKey("plan", family, [spec, target]);
    return key === null
      ? make()
      : this.#kept(key, make, (v) => v !== null && typeof v === "object");
  }

  /**
   * A split call's parts for this family, spec, plan and count: the ones
   * kept here, or `make()`'s, then kept (as plans are). Each part's plan is
   * planned again from its spec, a tile search per part: the largest piece
   * of a MobileNetV2 first run with every kernel kept (2 threads, up to 8
   * parts a convolution; `bench/create_from_file.ts` times first runs).
   */
  parts<P>(
    family: string,
    spec: unknown,
    plan: unknown,
    n: number,
    make: () => P[] | null,
  ): P[] | null {
    const key = this.#keptKey("parts", family, [spec, plan, n]);
    return key === null ? make() : this.#kept(key, make, (v) => v === null || Array.isArray(v));
  }

  /** `make()`'s value kept under `key` as JSON when JSON carries it exactly; `valid` checks a read one. */
  #kept<T>(key: string, make: () => T, valid: (v: unknown) => boolean): T {
    if (this.#open() === null) return make();
    const found = this.#read(key);
    if (found !== null) {
      try {
        const value = JSON.parse(new TextDecoder().decode(found.code));
        if (valid(value)) return value as T;
      } catch { /* not JSON: made again and rewritten */ }
    }
    const value = make();
    let text: string, read: T;
    try {
      text = JSON.stringify(value);
      read = JSON.parse(text);
      // A property set to undefined reads as one left out (`{ ...s, epilogue: undefined }`
      // in a part's spec); anything else JSON changes is not kept.
      if (canonicalText(read) !== canonicalText(withoutUndefined(value))) return value;
    } catch {
      return value;
    }
    this.#write(key, {
      code: new TextEncoder().encode(text),
      codeBytes: 0,
      instructions: 0,
      evexInstructions: 0,
      vexInstructions: 0,
    });
    // What a later process reads back: the same objects in this one.
    return read;
  }

  /**
   * The key of a kept plan or split: what it is, the family, each of `values`
   * as canonical text, and the machine (some plans read the CPU's features
   * beyond the target: VNNI). Null when a value cannot be written exactly.
   */
  #keptKey(kind: string, family: string, values: unknown[]): string | null {
    const texts = values.map(canonicalText);
    if (texts.includes(null)) return null;
    return `${kind} ${family}\n${texts.join("\n")}\n${this.#machine()}`;
  }

  /** Counts so far (dir "" before the first lookup). */
  stats(): CodeCacheStats {
    return {
      dir: this.#dir ?? "",
      hits: this.#hits,
      misses: this.#misses,
      writes: this.#writes,
      writable: this.#writable,
    };
  }

  /** The stamp's directory (made when writable), or null when the cache cannot be used. */
  #open(): string | null {
    if (this.#dir !== undefined) return this.#dir;
    const stamp = this.#stamp();
    if (stamp === null || !granted("read", this.#base)) return (this.#dir = null);
    const dir = `${this.#base}/${stamp}`;
    this.#writable = granted("write", this.#base);
    if (this.#writable) {
      try {
        Deno.statSync(dir);
      } catch {
        try {
          Deno.mkdirSync(dir, { recursive: true });
          pruneStamps(this.#base, stamp);
        } catch {
          this.#writable = false;
        }
      }
    }
    return (this.#dir = dir);
  }
}

/** `v` with the properties of its plain objects whose value is undefined left out. */
function withoutUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutUndefined);
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return v;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = withoutUndefined(x);
  return out;
}

const OPEN = new Map<string, CodeCache>();
let stampOfProcess: string | null | undefined;
let machineOfProcess: string | undefined;

/**
 * The process's cache under `base` (one per directory, shared by every
 * Jit), valid for this checkout's or version's code.
 */
export function codeCacheAt(base: string): CodeCache {
  let cache = OPEN.get(base);
  if (cache === undefined) {
    cache = new CodeCache(
      base,
      () => (stampOfProcess ??= sourceStamp()),
      MAX_ENTRIES,
      () => (machineOfProcess ??= canonicalText(cpuFeatures()) ?? "?"),
    );
    OPEN.set(base, cache);
  }
  return cache;
}

/** The entry's key text, or null when the spec or plan cannot be written exactly. */
export function entryKey(family: string, spec: unknown, plan: unknown): string | null {
  const s = canonicalText(spec), p = canonicalText(plan);
  return s === null || p === null ? null : `${family}\n${s}\n${p}`;
}

/**
 * `value` written so that two values give the same text only if a generator
 * reading them reads the same: numbers exactly (NaN, ±Infinity and -0
 * apart, which JSON is not), strings quoted, arrays and typed arrays by
 * kind, plain objects by their keys in order; null for anything else (a
 * Map, a function, an instance of a class), which is then not cached.
 */
export function canonicalText(value: unknown): string | null {
  const out: string[] = [];
  return write(value, out, 0) ? out.join("") : null;
}

function write(v: unknown, out: string[], depth: number): boolean {
  if (depth > 32) return false;
  switch (typeof v) {
    case "number":
      out.push(Object.is(v, -0) ? "-0" : String(v));
      return true;
    case "string":
      out.push(JSON.stringify(v));
      return true;
    case "boolean":
      out.push(v ? "true" : "false");
      return true;
    case "undefined":
      out.push("undefined");
      return true;
    case "bigint":
      out.push(`${v}n`);
      return true;
    case "object":
      break;
    default:
      return false;
  }
  if (v === null) {
    out.push("null");
    return true;
  }
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(",");
      if (!(i in v)) out.push("hole");
      else if (!write(v[i], out, depth + 1)) return false;
    }
    out.push("]");
    return true;
  }
  if (ArrayBuffer.isView(v)) {
    const kind = Object.prototype.toString.call(v);
    if (v instanceof DataView || kind === "[object DataView]") return false;
    // Element by element through the number writer: join would write -0 as 0.
    const items = v as unknown as ArrayLike<number | bigint>;
    out.push(kind, "(");
    for (let i = 0; i < items.length; i++) {
      if (i > 0) out.push(",");
      write(items[i], out, depth + 1);
    }
    out.push(")");
    return true;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  out.push("{");
  let first = true;
  for (const k of Object.keys(v as object)) {
    if (!first) out.push(",");
    first = false;
    out.push(JSON.stringify(k), ":");
    if (!write((v as Record<string, unknown>)[k], out, depth + 1)) return false;
  }
  out.push("}");
  return true;
}

/** The file for `key` and `program`. */
function encode(key: string, program: Stored): Uint8Array {
  const k = new TextEncoder().encode(key), code = program.code;
  const bytes = new Uint8Array(HEADER + k.length + code.length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < MAGIC.length; i++) bytes[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, FORMAT, true);
  view.setUint32(12, k.length, true);
  view.setUint32(16, code.length, true);
  view.setUint32(20, program.codeBytes, true);
  view.setUint32(24, program.instructions, true);
  view.setUint32(28, checksum(code), true);
  view.setUint32(32, program.evexInstructions, true);
  view.setUint32(36, program.vexInstructions, true);
  bytes.set(k, HEADER);
  bytes.set(code, HEADER + k.length);
  return bytes;
}

/** The program in `bytes` when it is a whole file of this format for `key`, else null. */
function decode(bytes: Uint8Array, key: string): Program | null {
  if (bytes.length < HEADER) return null;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8, true) !== FORMAT) return null;
  const keyLength = view.getUint32(12, true), codeLength = view.getUint32(16, true);
  const codeBytes = view.getUint32(20, true), instructions = view.getUint32(24, true);
  if (codeLength === 0 || HEADER + keyLength + codeLength !== bytes.length) return null;
  if (codeBytes > codeLength) return null;
  const stored = new TextDecoder().decode(bytes.subarray(HEADER, HEADER + keyLength));
  if (stored !== key) return null;
  const code = bytes.slice(HEADER + keyLength);
  if (checksum(code) !== view.getUint32(28, true)) return null;
  return {
    code,
    codeBytes,
    instructions,
    evexInstructions: view.getUint32(32, true),
    vexInstructions: view.getUint32(36, true),
    labels: new Map(),
    entries: [],
    listing: () => "(installed from the code cache: no listing)\n",
  };
}

/**
 * FNV-1a over 32-bit words, then the last bytes (a file changed by accident
 * fails it); by words, a quarter of the steps of cold TypeScript. `seed`:
 * the start (two seeds give code_identity.ts a 64-bit fingerprint).
 */
export function checksum(code: Uint8Array, seed = 0x811c9dc5): number {
  const words = code.length >> 2;
  const w = code.byteOffset % 4 === 0
    ? new Int32Array(code.buffer, code.byteOffset, words)
    : new Int32Array(code.slice(0, words * 4).buffer);
  let h = seed;
  for (let i = 0; i < words; i++) h = Math.imul(h ^ w[i], 0x01000193);
  for (let i = words * 4; i < code.length; i++) h = Math.imul(h ^ code[i], 0x01000193);
  return h >>> 0;
}

/** Removes stamp directories beyond the newest {@link KEEP_STAMPS} (not `current`). */
function pruneStamps(base: string, current: string): void {
  const dirs: { name: string; time: number }[] = [];
  for (const e of Deno.readDirSync(base)) {
    if (!e.isDirectory || e.name === current || !/^[0-9a-f]{16}$/.test(e.name)) continue;
    dirs.push({ name: e.name, time: Deno.statSync(`${base}/${e.name}`).mtime?.getTime() ?? 0 });
  }
  dirs.sort((a, b) => b.time - a.time);
  for (const d of dirs.slice(KEEP_STAMPS - 1)) {
    Deno.removeSync(`${base}/${d.name}`, { recursive: true });
  }
}
