/**
 * Softmax's exponential step, shared by its kernels (generate.ts,
 * pipelined.ts): x becomes x − max and e = e^(x − max).
 *
 * @module
 */
import { r10 } from "../../../asm/mod.ts";
import { emitExpUpTo, emitExpUpToKeeping } from "../math/exp.ts";
import type { Lanes } from "../math/lanes.ts";
import type { Tail } from "../vec.ts";

/**
 * x = x − max and e = e^(x − max) (e may be x itself: the exponential in
 * place), stored at `store.disp` from r10 when asked, added to `sum` (a
 * tail's other lanes zeroed first; sum = −1: not added).
 */
export function emitExpStep(
  m: Lanes,
  e: number,
  x: number,
  sum: number,
  mx: number,
  tail?: Tail,
  store?: { disp: number } | null,
): void {
  const v = m.v;
  v.op("sub", x, x, mx);
  // x − max ≤ 0, or NaN, or −Inf. x − max was rounded: the one-FMA reduction's error is
  // lost in that one's (math/exp.ts).
  const short = { shortReduction: true };
  if (e !== x) emitExpUpToKeeping(m, e, x, short);
  else {
    const t = m.take();
    v.move(t, x);
    emitExpUpTo(m, e, t, short);
    m.give(t);
  }
  if (store) v.store(r10, store.disp, e, tail);
  if (sum < 0) return;
  if (tail) v.zeroOutside(e, tail);
  v.op("add", sum, sum, e);
}
