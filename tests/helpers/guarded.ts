/**
 * Floats flush against a guard page: a kernel that reads or writes one
 * element past them (or before them) faults.
 *
 * @module
 */
import { GuardedPages } from "../../src/native/memory.ts";

/** A view against a guard page, and what unmaps it. */
export interface Guarded {
  view: Float32Array;
  free(): void;
}

/** `count` floats flush against the guard page after them (end) or before them (start). */
export function guarded(count: number, side: "end" | "start"): Guarded {
  const pages = new GuardedPages(count * 4);
  const data = Deno.UnsafePointerView.getArrayBuffer(pages.pointer, pages.bytes);
  const view = new Float32Array(data, side === "end" ? pages.bytes - count * 4 : 0, count);
  return { view, free: () => pages.free() };
}
