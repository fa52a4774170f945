/**
 * The tuning cache: tier 2's winners kept in a JSON file (NJIT_TUNE_CACHE or
 * the Jit's `tuneCache` option), so that a new process starts on the tuned
 * plans. One file holds sections per CPU description (vendor, brand,
 * family/model/stepping, the Jit's ISA level, cache sizes); a process reads
 * only its own section and keeps the others when it writes. An entry names
 * its candidate by identity, and a key takes it only if that identity is
 * among the candidates its family offers now: nothing in the file is ever
 * generated that the family would not have offered (a file edited by hand,
 * or written by another version, can make a key slower, never wrong).
 *
 * Format:
 * ```json
 * { "format": "njit-tune-cache", "version": 1,
 *   "cpus": [ { "cpu": { "vendor": "AuthenticAMD", "brand": "...", "family": 26,
 *                        "model": 2, "stepping": 1, "isa": "avx512",
 *                        "l1d": 49152, "l2": 1048576, "l3": 33554432 },
 *               "keys": { "2T gemm 64×768×3072 ...": { "id": "...", "plan": "...",
 *                         "parts": 8, "gain": 1.07, "us": 231.5 } } } ] }
 * ```
 *
 * @module
 */

/** The CPU a section of the file was tuned on. */
export interface CpuDescription {
  vendor: string;
  brand: string;
  family: number;
  model: number;
  stepping: number;
  /** The ISA level the Jit generated for. */
  isa: string;
  l1d: number;
  l2: number;
  l3: number;
}

/** One key's winner. */
export interface TunedEntry {
  /** The candidate's identity (its plan's JSON and parts). */
  id: string;
  /** Its plan, as text (for people reading the file). */
  plan: string;
  /** Parts its calls are split into. */
  parts: number;
  /** Tier 1's median time over its own, when measured. */
  gain: number;
  /** Its median µs per call. */
  us: number;
}

interface Section {
  cpu: CpuDescription;
  keys: Record<string, TunedEntry>;
}

const FORMAT = "njit-tune-cache";
const VERSION = 1;

/** A tuning cache file, read once and written after each key's tuning ends. */
export class TuneCache {
  readonly path: string;
  readonly #cpu: CpuDescription;
  readonly #mine: Map<string, TunedEntry> = new Map();
  /** Why the file could not be used, or null. */
  readonly problem: string | null = null;
  #writeWarned = false;

  /** Reads `path` (a missing file is an empty cache; a corrupt one is reported and ignored). */
  constructor(path: string, cpu: CpuDescription) {
    this.path = path;
    this.#cpu = cpu;
    const read = readSections(path);
    if (typeof read === "string") {
      this.problem = read;
      console.warn(`njit: tuning cache ${path}: ${read}; ignored (rewritten when a key is tuned)`);
      return;
    }
    const own = read.find((s) => sameCpu(s.cpu, cpu));
    for (const [k, v] of Object.entries(own?.keys ?? {})) this.#mine.set(k, v);
  }

  /** Entries for this CPU. */
  get size(): number {
    return this.#mine.size;
  }

  /** The winner kept for a key at a thread count, if any. */
  lookup(key: string, threads: number): TunedEntry | undefined {
    return this.#mine.get(entryKey(key, threads));
  }

  /** Keeps a key's winner and writes the file (other CPUs' sections kept). */
  store(key: string, threads: number, entry: TunedEntry): void {
    this.#mine.set(entryKey(key, threads), entry);
    const read = readSections(this.path);
    const others = typeof read === "string" ? [] : read.filter((s) => !sameCpu(s.cpu, this.#cpu));
    const keys: Record<string, TunedEntry> = {};
    for (const [k, v] of this.#mine) keys[k] = v;
    const text = JSON.stringify(
      { format: FORMAT, version: VERSION, cpus: [...others, { cpu: this.#cpu, keys }] },
      null,
      1,
    );
    const tmp = `${this.path}.${Deno.pid}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, text + "\n");
      Deno.renameSync(tmp, this.path);
    } catch (err) {
      if (!this.#writeWarned) {
        console.warn(`njit: cannot write the tuning cache ${this.path}: ${(err as Error).message}`);
      }
      this.#writeWarned = true;
    }
  }
}

function entryKey(key: string, threads: number): string {
  return `${threads}T ${key}`;
}

function sameCpu(a: CpuDescription, b: CpuDescription): boolean {
  return a.vendor === b.vendor && a.brand === b.brand && a.family === b.family &&
    a.model === b.model && a.stepping === b.stepping && a.isa === b.isa && a.l1d === b.l1d &&
    a.l2 === b.l2 && a.l3 === b.l3;
}

/** The file's sections, [] when it does not exist, or why it cannot be used. */
function readSections(path: string): Section[] | string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    return `cannot be read (${(err as Error).message})`;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  const o = data as { format?: unknown; version?: unknown; cpus?: unknown };
  if (o === null || typeof o !== "object" || o.format !== FORMAT) {
    return `not a tuning cache (no "format": "${FORMAT}")`;
  }
  if (o.version !== VERSION) return `version ${String(o.version)}, expected ${VERSION}`;
  if (!Array.isArray(o.cpus)) return `"cpus" is not an array`;
  for (const [i, s] of o.cpus.entries()) {
    const why = sectionProblem(s);
    if (why) return `cpus[${i}]: ${why}`;
  }
  return o.cpus as Section[];
}

function sectionProblem(s: unknown): string | null {
  if (s === null || typeof s !== "object") return "not an object";
  const { cpu, keys } = s as { cpu?: unknown; keys?: unknown };
  if (cpu === null || typeof cpu !== "object") return `"cpu" is not an object`;
  const c = cpu as Record<string, unknown>;
  for (const f of ["vendor", "brand", "isa"]) {
    if (typeof c[f] !== "string") return `cpu.${f} is not a string`;
  }
  for (const f of ["family", "model", "stepping", "l1d", "l2", "l3"]) {
    if (typeof c[f] !== "number") return `cpu.${f} is not a number`;
  }
  if (keys === null || typeof keys !== "object" || Array.isArray(keys)) {
    return `"keys" is not an object`;
  }
  for (const [k, v] of Object.entries(keys)) {
    const e = v as Partial<TunedEntry> | null;
    if (
      e === null || typeof e !== "object" || typeof e.id !== "string" ||
      typeof e.parts !== "number" || typeof e.gain !== "number" || typeof e.us !== "number" ||
      typeof e.plan !== "string"
    ) return `keys["${k}"] is not an entry (id, plan, parts, gain, us)`;
  }
  return null;
}
