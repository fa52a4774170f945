/**
 * Independent straight-line bodies emitted instruction by instruction in
 * turn, so the core has several dependency chains to work on at once: the
 * long chains of a math function (a polynomial, a division) otherwise leave
 * its pipes idle even with out-of-order execution.
 *
 * Each body writes to a recording stand-in for the assembler (constants,
 * labels and out-of-line code go to the real one at once); the recordings
 * are then replayed round-robin. A body may bind labels and jump out of
 * line and back (a rare path, see Lanes.rarely), never loop: a conditional
 * jump is replayed together with the instruction before it, which sets its
 * flags, and a label with the instruction before it, so no other body's
 * instruction comes between them (a jump back to the label resumes the
 * other bodies where this one left them).
 *
 * @module
 */
import type { Assembler, Label } from "../../asm/mod.ts";

type Step = (a: Assembler) => void;

/** Emits `bodies` interleaved; each receives the assembler to write to. */
export function emitInterleaved(a: Assembler, bodies: ((a: Assembler) => void)[]): void {
  if (bodies.length === 1) return bodies[0](a);
  const lists = bodies.map((body) => {
    const steps: Step[] = [];
    const recorder = {
      emit(...args: Parameters<Assembler["emit"]>) {
        const step: Step = (to) => to.emit(...args);
        const flagsFrom = steps.length > 0 && CONDITIONAL_JUMP.test(args[0])
          ? steps.pop()
          : undefined;
        steps.push(flagsFrom ? (to) => (flagsFrom(to), step(to)) : step);
        return recorder;
      },
      bind(label: Label) {
        const before = steps.pop();
        steps.push(before ? (to) => (before(to), to.bind(label)) : (to) => to.bind(label));
        return recorder;
      },
      label: (...args: Parameters<Assembler["label"]>) => a.label(...args),
      constant: (...args: Parameters<Assembler["constant"]>) => a.constant(...args),
      outOfLine: (...args: Parameters<Assembler["outOfLine"]>) => (a.outOfLine(...args), recorder),
    };
    body(recorder as unknown as Assembler);
    return steps;
  });
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) {
    for (const l of lists) if (i < l.length) l[i](a);
  }
}

/** jcc mnemonics (not jmp): they read the flags the instruction before set. */
const CONDITIONAL_JUMP = /^j(?!mp)[a-z]+$/;
