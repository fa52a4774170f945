/**
 * Readers of ONNX-style attributes (integer lists, booleans) into key slots,
 * shared by the convolution, pooling and resize families: each value is
 * read once and checked, errors name the call, the attribute, the value and
 * what was expected.
 *
 * @module
 */
import { describe } from "../typed.ts";
import { fail } from "./checks.ts";

/** Whether v is an integer in [lo, hi]. */
export function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
}

/** The error for a value that is not an integer in [lo, hi]. */
export function badInt(who: string, name: string, v: unknown, lo: number, hi: number): never {
  fail(
    who,
    `${name} must be an integer in [${lo}, ${hi}], got ${describe(v)}`,
    typeof v === "number" ? "range" : "type",
  );
}

/** Reads an integer in [lo, hi]. */
export function readInt(who: string, name: string, v: unknown, lo: number, hi: number): number {
  if (!isInt(v, lo, hi)) badInt(who, name, v, lo, hi);
  return v;
}

/**
 * Reads an array of `count` integers in [lo, hi] into key[slot..] (every
 * slot `fallback` when absent).
 */
export function readInts(
  who: string,
  name: string,
  v: unknown,
  count: number,
  lo: number,
  hi: number,
  fallback: number,
  key: Int32Array,
  slot: number,
): void {
  if (v === undefined) {
    for (let i = 0; i < count; i++) key[slot + i] = fallback;
    return;
  }
  if (!Array.isArray(v)) {
    fail(who, `${name} must be an array of ${count} integers, got ${describe(v)}`, "type");
  }
  if (v.length !== count) {
    fail(who, `${name} must have ${count} elements, got ${v.length}`, "range");
  }
  for (let i = 0; i < count; i++) {
    const e = v[i];
    // The element's name is built only for the error: a template string per call would allocate.
    if (!isInt(e, lo, hi)) badInt(who, `${name}[${i}]`, e, lo, hi);
    key[slot + i] = e;
  }
}

/** Reads an optional boolean (false when absent). */
export function readBool(who: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (v !== true && v !== false) fail(who, `${name} must be a boolean, got ${describe(v)}`, "type");
  return v;
}

/** ONNX auto_pad. */
export type AutoPad = "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";

/**
 * Reads pads or auto_pad into key[slot..slot+3] ([top, left, bottom, right]):
 * SAME pads keep ceil(in/stride) outputs, the odd one at the end (UPPER) or
 * the start (LOWER). The kernel, strides and dilations are already in the
 * key as pairs at `window`, `window + 2` and `window + 4`.
 */
export function readPads(
  who: string,
  pads: unknown,
  autoPad: unknown,
  maxPad: number,
  key: Int32Array,
  slot: number,
  h: number,
  w: number,
  window: number,
): void {
  if (autoPad === undefined || autoPad === "NOTSET") {
    return readInts(who, "pads", pads, 4, 0, maxPad, 0, key, slot);
  }
  if (autoPad !== "SAME_UPPER" && autoPad !== "SAME_LOWER" && autoPad !== "VALID") {
    fail(
      who,
      `autoPad must be "NOTSET", "SAME_UPPER", "SAME_LOWER" or "VALID", got ${describe(autoPad)}`,
      typeof autoPad === "string" ? "range" : "type",
    );
  }
  if (pads !== undefined) fail(who, `pads cannot be given with autoPad "${autoPad}"`, "range");
  key[slot] =
    key[slot + 1] =
    key[slot + 2] =
    key[slot + 3] =
      0;
  if (autoPad === "VALID") return;
  const upper = autoPad === "SAME_UPPER";
  const same = (size: number, k: number, s: number, d: number, lead: number) => {
    const total = Math.max(0, (Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size);
    const small = Math.floor(total / 2);
    key[lead] = upper ? small : total - small;
    key[lead + 2] = total - key[lead];
    if (key[lead] > maxPad || key[lead + 2] > maxPad) {
      fail(who, `autoPad "${autoPad}" needs pads beyond ${maxPad}`, "range");
    }
  };
  same(h, key[window], key[window + 2], key[window + 4], slot);
  same(w, key[window + 1], key[window + 3], key[window + 5], slot + 1);
}
