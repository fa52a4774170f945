/**
 * Independent straight-line bodies emitted instruction by instruction in
 * turn, so the core has several dependency chains to work on at once: the
 * long chains of a math function (a polynomial, a division) otherwise leave
 * its pipes idle even with out-of-order execution.
 *
 * Each body writes to a recording stand-in for the assembler (constants go
 * to the real one at once); the recordings are then replayed round-robin.
 * Bodies must not bind labels or jump.
 *
 * @module
 */
import type { Assembler } from "../../asm/mod.ts";

/** Emits `bodies` interleaved; each receives the assembler to write to. */
export function emitInterleaved(a: Assembler, bodies: ((a: Assembler) => void)[]): void {
  if (bodies.length === 1) return bodies[0](a);
  const lists = bodies.map((body) => {
    const steps: Parameters<Assembler["emit"]>[] = [];
    const recorder = {
      emit(...args: Parameters<Assembler["emit"]>) {
        steps.push(args);
        return recorder;
      },
      constant: (...args: Parameters<Assembler["constant"]>) => a.constant(...args),
    };
    body(recorder as unknown as Assembler);
    return steps;
  });
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) {
    for (const l of lists) if (i < l.length) a.emit(...l[i]);
  }
}
