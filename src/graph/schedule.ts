/**
 * Node order for `run`: a plan's native steps run off the event loop in
 * stretches, and a TypeScript step between two stretches (a Cast of an
 * int64 mask, shape arithmetic) costs a hop back to the loop and out again
 * (0.1-0.5 ms a hop at one thread on the 2-vCPU guest: policy.ts). Exporters
 * write the attention mask's few nodes where the attention needs them, after
 * the embeddings, so BERT's layer ran as two stretches around its mask Cast.
 *
 * Here the small values computed from the feeds alone go first: a node whose
 * inputs are feeds, constants or such values, and whose outputs are small
 * (`SMALL_BYTES` each), moves to the front, in order; the rest keep theirs.
 * The order is still topological, and it is decided before the arena is
 * planned, so liveness sees the order the steps run in. A small value held
 * from the start costs its bytes of arena; a large one (the first
 * convolution's image) is not moved. Then, once the steps are bound to
 * memory and known native or not, `hostStepsFirst` moves TypeScript steps
 * back over native stretches they share no memory with.
 *
 * @module
 */
import type { Node } from "./ir.ts";

/** Largest output (bytes) of a node moved to the front: a mask, ids, shapes. */
export const SMALL_BYTES = 64 << 10;

/**
 * `live` (in topological order) with the small feed-only nodes first, and
 * how many they are: `known(name)` says whether a value is a feed or a
 * constant, `bytes(name)` gives an output's size. The plan keeps their
 * values to the end of that group at least, so none shares bytes with
 * another and `hostStepsFirst` can reorder them.
 */
export function smallFirst(
  live: readonly Node[],
  known: (name: string) => boolean,
  bytes: (name: string) => number,
): { order: Node[]; early: number } {
  const early = new Set<string>();
  const first: Node[] = [], rest: Node[] = [];
  for (const n of live) {
    const ok = n.inputs.every((name) => name === "" || known(name) || early.has(name)) &&
      n.outputs.every((name) => name === "" || bytes(name) <= SMALL_BYTES);
    if (ok) {
      first.push(n);
      for (const name of n.outputs) if (name !== "") early.add(name);
    } else rest.push(n);
  }
  return { order: first.concat(rest), early: first.length };
}

/** Bytes of one operand: [from, to) of a buffer. */
export interface ByteRange {
  buffer: ArrayBufferLike;
  from: number;
  to: number;
}

/** What a step reads and writes. */
export interface StepAccess {
  reads: readonly ByteRange[];
  writes: readonly ByteRange[];
}

/** The byte range of a typed array (null when empty). */
export function rangeOf(data: ArrayBufferView): ByteRange | null {
  if (data.byteLength === 0) return null;
  return { buffer: data.buffer, from: data.byteOffset, to: data.byteOffset + data.byteLength };
}

function overlap(a: readonly ByteRange[], b: readonly ByteRange[]): boolean {
  for (const p of a) {
    for (const q of b) if (p.buffer === q.buffer && p.from < q.to && q.from < p.to) return true;
  }
  return false;
}

/** Whether `s` may run before `t`: neither writes memory the other reads or writes. */
function commutes(s: StepAccess, t: StepAccess): boolean {
  return !overlap(s.reads, t.writes) && !overlap(s.writes, t.reads) &&
    !overlap(s.writes, t.writes);
}

/**
 * The order to run bound steps in (indices): each
 * host step (not native) moved back over the stretch of native steps before
 * it, to just after the host step before it (or first), when it commutes
 * with every step of the stretch (byte ranges as bound in the arena); else
 * left where it is. Host steps keep their order among themselves, native
 * steps theirs. Among the small values put first, a mask's Cast that came
 * after a small model's projections goes before them.
 */
export function hostStepsFirst(
  steps: readonly { native: boolean }[],
  access: readonly StepAccess[],
): number[] {
  const order: number[] = [];
  for (let i = 0; i < steps.length; i++) {
    if (steps[i].native) {
      order.push(i);
      continue;
    }
    let at = order.length;
    while (at > 0 && steps[order[at - 1]].native && commutes(access[i], access[order[at - 1]])) {
      at--;
    }
    if (at > 0 && steps[order[at - 1]].native) at = order.length;
    order.splice(at, 0, i);
  }
  return order;
}
