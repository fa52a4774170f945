/**
 * Registers for a loop body run as several independent streams (see
 * interleave.ts): a dry run of the body on a throwaway assembler finds the
 * temporaries it takes; each stream gets `fixed` named registers and that
 * many temporaries, as many streams as the pool holds (at most `most`); the
 * registers left over hold the body's most used constants, pinned in `v` for
 * the whole loop; opmasks k2..k7 are split between the streams.
 *
 * @module
 */
import { Assembler } from "../../asm/mod.ts";
import { Lanes } from "./math/lanes.ts";
import { Vec } from "./vec.ts";

/** One stream's registers. */
export interface StreamRegisters {
  /** The body's named registers, in the order it asked for them. */
  fixed: number[];
  /** Its temporaries. */
  temps: number[];
  /** Its opmask registers (AVX-512). */
  masks: number[];
}

/** The streams a pool of registers holds. */
export interface Streams {
  /** How many. */
  count: number;
  /** The registers of stream i. */
  stream(i: number): StreamRegisters;
  /** The pool's registers that hold no pinned constant (every stream's, in order). */
  unpinned: number[];
}

/**
 * Sizes the streams of `body` over `pool` and pins constants in the
 * registers left. `body` receives a Lanes over its temporaries and its
 * fixed registers. `minTemps`: temporaries each stream has at least (a
 * register the caller uses before the body, as the body's first temporary).
 */
export function allocateStreams(
  v: Vec,
  pool: readonly number[],
  fixed: number,
  most: number,
  body: (m: Lanes, fixed: number[]) => void,
  minTemps = 0,
): Streams {
  const dryVec = new Vec(new Assembler(), v.isa);
  const probe = new Lanes(dryVec, pool.slice(fixed));
  body(probe, pool.slice(0, fixed));
  const per = fixed + Math.max(minTemps, pool.length - fixed - probe.lowWater);
  const count = Math.max(1, Math.min(most, Math.floor(pool.length / per)));
  const spare = pool.slice(count * per);
  dryVec.constantUses().slice(0, spare.length).forEach((c, i) => v.pin(c, spare[i]));
  const k = Math.floor(6 / count);
  return {
    count,
    unpinned: pool.slice(0, count * per),
    stream: (i) => {
      const r = pool.slice(i * per, (i + 1) * per);
      return {
        fixed: r.slice(0, fixed),
        temps: r.slice(fixed),
        masks: [2, 3, 4, 5, 6, 7].slice(i * k, (i + 1) * k),
      };
    },
  };
}
