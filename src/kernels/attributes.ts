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

/** ONNX auto_pad as read: NOTSET, VALID, or SAME with the odd pad at the end (UPPER) or start. */
export type PadMode = "explicit" | "valid" | "upper" | "lower";

/** Checks auto_pad (and that pads are not given with it). */
export function readAutoPad(who: string, autoPad: unknown, pads: unknown): PadMode {
  if (autoPad === undefined || autoPad === "NOTSET") return "explicit";
  if (autoPad !== "SAME_UPPER" && autoPad !== "SAME_LOWER" && autoPad !== "VALID") {
    fail(
      who,
      `autoPad must be "NOTSET", "SAME_UPPER", "SAME_LOWER" or "VALID", got ${describe(autoPad)}`,
      typeof autoPad === "string" ? "range" : "type",
    );
  }
  if (pads !== undefined) fail(who, `pads cannot be given with autoPad "${autoPad}"`, "range");
  return autoPad === "VALID" ? "valid" : autoPad === "SAME_UPPER" ? "upper" : "lower";
}

/** Splits a SAME axis's total padding into key[lead] and key[lead + 2] (≤ maxPad). */
export function splitSame(
  who: string,
  total: number,
  mode: PadMode,
  maxPad: number,
  key: Int32Array,
  lead: number,
): void {
  const small = Math.floor(total / 2);
  key[lead] = mode === "upper" ? small : total - small;
  key[lead + 2] = total - key[lead];
  if (key[lead] > maxPad || key[lead + 2] > maxPad) {
    fail(who, `autoPad needs pads beyond ${maxPad}, got a total of ${total}`, "range");
  }
}

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
  const mode = readAutoPad(who, autoPad, pads);
  if (mode === "explicit") return readInts(who, "pads", pads, 4, 0, maxPad, 0, key, slot);
  key[slot] =
    key[slot + 1] =
    key[slot + 2] =
    key[slot + 3] =
      0;
  if (mode === "valid") return;
  for (let i = 0; i < 2; i++) {
    const size = i === 0 ? h : w, k = key[window + i], s = key[window + 2 + i];
    const d = key[window + 4 + i];
    const total = Math.max(0, (Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size);
    splitSame(who, total, mode, maxPad, key, slot + i);
  }
}
