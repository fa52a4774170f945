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
 * Rare paths at the same step of every body (the same math in each) are
 * tested once: the masks or-ed into the last body's, one `vtestps` and
 * `jnz` to the first body's path, whose jump back goes on to the next
 * body's path, the last one's back in line. One branch for the group where
 * there were one per body: where rare lanes are common (inputs spread over
 * ±100 to e^x) each body's branch went either way at random, and its
 * mispredictions cost more than the paths (`deno run -A bench/ab.ts
 * --unary exp --span 100`); elsewhere one test instead of several. Every
 * body's path runs then, rare lanes or not, and none reads its mask (one
 * holds the group's): each finds its lanes again (Lanes.rarely).
 *
 * @module
 */
import type { Assembler, Label, Reg } from "../../asm/mod.ts";

type Step = (a: Assembler) => void;

/** A rare path's test: its mask, the path's label, and the label its path jumps back to. */
interface RarePath {
  mask: Reg;
  entry: Label;
  back?: Label;
}

/** A recorded step: its replay, and, for a rare path's test and jump, what fusing it needs. */
interface Recorded {
  run: Step;
  rare?: RarePath;
}

/** Emits `bodies` interleaved; each receives the assembler to write to. */
export function emitInterleaved(a: Assembler, bodies: ((a: Assembler) => void)[]): void {
  if (bodies.length === 1) return bodies[0](a);
  const lists = bodies.map((body) => {
    const steps: Recorded[] = [];
    let lastArgs: Parameters<Assembler["emit"]> | null = null;
    const recorder = {
      emit(...args: Parameters<Assembler["emit"]>) {
        const step: Step = (to) => to.emit(...args);
        const flagsFrom = steps.length > 0 && CONDITIONAL_JUMP.test(args[0])
          ? steps.pop()
          : undefined;
        if (!flagsFrom) steps.push({ run: step });
        else {
          const before = flagsFrom.run;
          const test = lastArgs;
          const rare = args[0] === "jnz" && RARE_ENTRIES.has(args[1] as Label) &&
              test?.[0] === "vtestps" && test[1] === test[2]
            ? { mask: test[1] as Reg, entry: args[1] as Label }
            : undefined;
          steps.push({ run: (to) => (before(to), step(to)), rare });
        }
        lastArgs = args;
        return recorder;
      },
      bind(label: Label) {
        const before = steps.pop();
        if (!before) steps.push({ run: (to) => to.bind(label) });
        else {
          const rare = before.rare && !before.rare.back
            ? { ...before.rare, back: label }
            : undefined;
          steps.push({ run: (to) => (before.run(to), to.bind(label)), rare });
        }
        lastArgs = null;
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
    const rares = lists.map((l) => l[i]?.rare);
    if (rares.every((r) => r?.back)) emitFusedRare(a, rares as RarePath[]);
    else for (const l of lists) if (i < l.length) l[i].run(a);
  }
}

/**
 * The entries of rare paths (Lanes.rarely's): a path that jumps back to
 * the label bound after its test, which the fusing chains. Only those
 * fuse; any other `vtestps` and `jnz` replays as it was recorded.
 */
const RARE_ENTRIES = new WeakSet<Label>();

/** Marks `entry` as a rare path's (see RARE_ENTRIES). */
export function markRarePath(entry: Label): void {
  RARE_ENTRIES.add(entry);
}

/** One test for every body's rare path (see the module's note). */
function emitFusedRare(a: Assembler, rares: RarePath[]): void {
  const last = rares[rares.length - 1].mask;
  for (let j = 0; j < rares.length - 1; j++) a.emit("vorps", last, last, rares[j].mask);
  a.emit("vtestps", last, last);
  a.emit("jnz", rares[0].entry);
  a.bind(rares[rares.length - 1].back!);
  a.outOfLine((to) => {
    for (let j = 0; j < rares.length - 1; j++) {
      to.bind(rares[j].back!);
      to.emit("jmp", rares[j + 1].entry);
    }
  });
}

/** jcc mnemonics (not jmp): they read the flags the instruction before set. */
const CONDITIONAL_JUMP = /^j(?!mp)[a-z]+$/;
