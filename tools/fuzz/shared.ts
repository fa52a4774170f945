/**
 * What the fuzz campaigns share: seeded draws (the tests' generator), small
 * integers, operands at random offsets inside larger buffers, and a Jit per
 * thread count.
 *
 * @module
 */
import { type IsaLevel, Jit } from "../../mod.ts";
import { int } from "../../tests/helpers/random.ts";

export { int, pick, rng } from "../../tests/helpers/random.ts";

/** Options every campaign takes. */
export interface FuzzOptions {
  /** Highest ISA level the Jits generate for (default: the CPU's). */
  isa?: IsaLevel;
}

/** One case's outcome: null when it passed, else what failed (with its seed). */
export type CaseResult = string | null;

/**
 * The Jit options that plan a seed's case for a 64 KiB L2, one seed in four (else none): the
 * plans past L2 on the campaigns' small shapes. From the seed, not drawn, so every seed's case
 * stays the one it was.
 */
export function smallL2(seed: number): { caches: { l2: number } } | null {
  return seed % 4 === 0 ? { caches: { l2: 64 << 10 } } : null;
}

/** n small integers in [lo, hi] (every sum of their products exact in f32). */
export function ints(r: () => number, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => int(r, lo, hi));
}

/** A copy of `a` inside a larger buffer at a random float offset (0-17), random slack after. */
export function place(r: () => number, a: Float32Array): Float32Array {
  const off = int(r, 0, 17);
  const buf = new Float32Array(a.length + off + int(r, 0, 5));
  buf.set(a, off);
  return buf.subarray(off, off + a.length);
}

/** The index where two arrays first differ bit for bit (NaN equal to NaN), or −1. */
export function firstBitDifference(got: ArrayLike<number>, want: ArrayLike<number>): number {
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) return i;
  }
  return -1;
}

/** Jits of 1, 2 and 3 threads (untuned), made on first use and closed by `close`. */
export class JitSet {
  readonly #jits = new Map<number, Jit>();
  readonly #isa: IsaLevel | undefined;
  constructor(isa?: IsaLevel) {
    this.#isa = isa;
  }
  /** The Jit of `threads` threads; `minPartUs: 0` splits every call that can be split. */
  get(threads: number): Jit {
    let j = this.#jits.get(threads);
    if (j === undefined) {
      j = new Jit({ threads, tuneBudget: 0, maxIsa: this.#isa, minPartUs: 0 });
      this.#jits.set(threads, j);
    }
    return j;
  }
  /** Keys any Jit failed to compile (a plan that threw: a bug even if a fallback ran). */
  failures(): string[] {
    const out: string[] = [];
    for (const j of this.#jits.values()) {
      for (const k of j.stats().keys) if (k.failure) out.push(`${k.key}: ${k.failure}`);
    }
    return out;
  }
  close(): void {
    for (const j of this.#jits.values()) j.close();
    this.#jits.clear();
  }
}
