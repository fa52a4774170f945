/**
 * Splitting a call's outer dimension between threads: the ranges, and the
 * parts of a family whose rows (or elements) are computed independently.
 *
 * @module
 */
import type { KernelPlan, Part } from "./family.ts";

/** A range [start, start + count) of an outer dimension. */
export interface Range {
  start: number;
  count: number;
}

/**
 * `total` split into at most `parts` contiguous ranges of whole `grain`s
 * (the last may end short), as equal as grains allow.
 */
export function splitRange(total: number, parts: number, grain = 1): Range[] {
  const units = Math.ceil(total / grain);
  const p = Math.max(1, Math.min(parts, units));
  const out: Range[] = [];
  for (let i = 0; i < p; i++) {
    const start = Math.floor((units * i) / p) * grain;
    const end = Math.min(total, Math.floor((units * (i + 1)) / p) * grain);
    out.push({ start, count: end - start });
  }
  return out;
}

/** The largest divisor of `parts` not past `most` (1 at least): equal shares per thread. */
export function divisorAtMost(parts: number, most: number): number {
  let count = parts;
  while (count > 1 && (count > most || parts % count !== 0)) count--;
  return count;
}

/**
 * `n` things (a row's columns, a tile's vectors) in the fewest pieces of at
 * most `most`, as even as can be, the longer ones first: [first, count].
 */
export function evenPieces(n: number, most: number): [number, number][] {
  const k = Math.ceil(n / most), out: [number, number][] = [];
  for (let i = 0, first = 0; i < k; i++) {
    const count = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push([first, count]);
    first += count;
  }
  return out;
}

/**
 * Parts over an outer dimension of `total`: each range becomes the spec
 * `sub(range)` under the whole call's plan, its operands advanced by
 * `offsets(range.start)` bytes. One range: no split (null).
 */
export function rangeParts<Spec, Plan extends KernelPlan>(
  plan: Plan,
  ranges: readonly Range[],
  sub: (r: Range) => Spec,
  offsets: (start: number) => number[],
): Part<Spec, Plan>[] | null {
  if (ranges.length < 2) return null;
  return ranges.map((r) => ({ spec: sub(r), plan, offsets: offsets(r.start) }));
}

/**
 * Parts of whole rows, for a family whose rows are computed independently:
 * each part is the spec with its rows, operands advanced by
 * `offsets(firstRow)` bytes.
 */
export function rowParts<Spec extends { rows: number }, Plan extends KernelPlan>(
  spec: Spec,
  plan: Plan,
  parts: number,
  offsets: (firstRow: number) => number[],
): Part<Spec, Plan>[] | null {
  return rangeParts(
    plan,
    splitRange(spec.rows, parts),
    (r) => ({ ...spec, rows: r.count }),
    offsets,
  );
}
