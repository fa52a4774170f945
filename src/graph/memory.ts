/**
 * The arena planner: offsets for intermediate tensors by liveness, best-fit
 * into freed holes (as ONNX Runtime's and XNNPACK's planners do), so a
 * model's intermediates share one buffer and a run allocates none.
 */

/** Offsets are multiples of a cache line. */
export const ARENA_ALIGN = 64;

export class ArenaPlanner {
  /** Free holes [offset, size], sorted by offset, merged. */
  readonly #free: [number, number][] = [];
  /** The arena's size so far. */
  size = 0;

  /** An offset for `bytes` bytes: the smallest hole that fits, else the end. */
  alloc(bytes: number): number {
    const need = Math.max(ARENA_ALIGN, Math.ceil(bytes / ARENA_ALIGN) * ARENA_ALIGN);
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const [, s] = this.#free[i];
      if (s >= need && (best < 0 || s < this.#free[best][1])) best = i;
    }
    if (best >= 0) {
      const hole = this.#free[best];
      const at = hole[0];
      if (hole[1] === need) this.#free.splice(best, 1);
      else {
        hole[0] += need;
        hole[1] -= need;
      }
      return at;
    }
    // Grow: a hole touching the end is extended instead of left behind.
    const last = this.#free[this.#free.length - 1];
    if (last && last[0] + last[1] === this.size) {
      this.#free.pop();
      this.size = last[0] + need;
      return last[0];
    }
    const at = this.size;
    this.size += need;
    return at;
  }

  /** Returns a block [offset, offset + bytes) to the free holes. */
  release(offset: number, bytes: number): void {
    const size = Math.max(ARENA_ALIGN, Math.ceil(bytes / ARENA_ALIGN) * ARENA_ALIGN);
    const f = this.#free;
    let i = 0;
    while (i < f.length && f[i][0] < offset) i++;
    f.splice(i, 0, [offset, size]);
    // Merge with the next, then the previous.
    if (i + 1 < f.length && f[i][0] + f[i][1] === f[i + 1][0]) {
      f[i][1] += f[i + 1][1];
      f.splice(i + 1, 1);
    }
    if (i > 0 && f[i - 1][0] + f[i - 1][1] === f[i][0]) {
      f[i - 1][1] += f[i][1];
      f.splice(i, 1);
    }
  }
}
