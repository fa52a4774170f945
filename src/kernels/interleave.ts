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
 * body's path, the last one's back in line. A path taken where any lane
 * of a value is above a limit (Lanes.rarelyAbove: |x|'s bits against
 * e^x's normal range) compares once: the values' signed maximum into the
 * last body's, one `vpcmpgtd` (three bodies: 2 `vpmaxsd` + 1 compare
 * where 3 compares + 2 `vorps` were; the FMA pipes, which the integer ops
 * share on Zen 3, bound these kernels: `deno run -A bench/ab.ts --unary
 * exp`, see Lanes.rarelyAbove). One branch for the group where
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

/**
 * A rare path's test: its mask, the path's label, and the label its path jumps back to;
 * for a path above a limit (`compare`), the compare that made the mask from its value.
 */
interface RarePath {
  mask: Reg;
  entry: Label;
  back?: Label;
  compare?: Parameters<Assembler["emit"]>;
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
    let argsBefore: Parameters<Assembler["emit"]> | null = null;
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
          const kind = args[0] === "jnz" && test?.[0] === "vtestps" && test[1] === test[2]
            ? RARE_ENTRIES.get(args[1] as Label)
            : undefined;
          const compare = argsBefore;
          // A path above a limit: its compare (the step before the test) joins the step.
          const compared = kind === "above" && compare?.[0] === "vpcmpgtd" &&
              compare[1] === test![1] && compare[2] === test![1] && steps.length > 0
            ? steps.pop()!.run
            : undefined;
          const rare = kind === undefined || (kind === "above" && !compared) ? undefined : {
            mask: test![1] as Reg,
            entry: args[1] as Label,
            ...(compared ? { compare: compare! } : {}),
          };
          steps.push({
            run: compared
              ? (to) => (compared(to), before(to), step(to))
              : (to) => (before(to), step(to)),
            rare,
          });
        }
        argsBefore = lastArgs;
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
        argsBefore = lastArgs = null;
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
    const alike = rares.every((r) => r?.back && !r.compare === !rares[0]!.compare);
    if (alike) emitFusedRare(a, rares as RarePath[]);
    else for (const l of lists) if (i < l.length) l[i].run(a);
  }
}

/**
 * The entries of rare paths (Lanes.rarely's): a path that jumps back to
 * the label bound after its test, which the fusing chains. Only those
 * fuse; any other `vtestps` and `jnz` replays as it was recorded.
 */
const RARE_ENTRIES = new WeakMap<Label, "mask" | "above">();

/**
 * Marks `entry` as a rare path's (see RARE_ENTRIES): "above" where its test
 * is `vpcmpgtd m, m, limit` on a value of signed lanes, then `vtestps
 * m, m` and `jnz` (Lanes.rarelyAbove), else a mask's test.
 */
export function markRarePath(entry: Label, kind: "mask" | "above" = "mask"): void {
  RARE_ENTRIES.set(entry, kind);
}

/** One test for every body's rare path (see the module's note). */
function emitFusedRare(a: Assembler, rares: RarePath[]): void {
  const last = rares[rares.length - 1].mask;
  const compare = rares[rares.length - 1].compare;
  // Signed values (every body's, as the same math makes them): any lane above the limit where
  // their maximum is; else masks.
  const merge = compare ? "vpmaxsd" : "vorps";
  for (let j = 0; j < rares.length - 1; j++) a.emit(merge, last, last, rares[j].mask);
  if (compare) a.emit(...compare);
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
